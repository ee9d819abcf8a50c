//! Signal features of a recording, computed exactly (no sampling), with units in every key.
//!
//! Values of a channel are in the channel's own units, written `su` ("sensor units":
//! g or m/s² for accelerometers, rad/s or deg/s for gyroscopes — whatever the dataset
//! recorded). Frequencies are in Hz, derived from the time column.

use rustfft::{num_complex::Complex, FftPlanner};
use serde_json::{json, Map, Value};

use crate::dataset::recording::Recording;

/// Samples per second, from the time column.
pub fn sampling_rate(rec: &Recording) -> f64 {
    let n = rec.len();
    if n < 2 {
        return 0.0;
    }
    (n - 1) as f64 / (rec.timestamps[n - 1] - rec.timestamps[0])
}

/// Finite values of a channel (NaN dropped, as pandas does by default).
fn finite(values: &[f64]) -> Vec<f64> {
    values.iter().copied().filter(|v| v.is_finite()).collect()
}

/// Six decimals, as the original tools printed; a value too large for six decimals to matter
/// (|v| ≥ 1e9) is left as it is — multiplying it by 1e6 first would overflow to infinity, which
/// JSON writes as `null`.
fn round(v: f64) -> Value {
    if !v.is_finite() {
        Value::Null
    } else if v.abs() >= 1e9 {
        json!(v)
    } else {
        json!((v * 1e6).round() / 1e6)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChannelFeatures {
    pub mean: f64,
    pub std: f64,
    pub min: f64,
    pub max: f64,
    pub rms: f64,
    pub energy: f64,
    pub zero_crossing_rate_hz: f64,
    pub dominant_frequency_hz: f64,
    pub dominant_power_share: f64,
    pub cadence_hz: f64,
    pub missing: usize,
}

impl ChannelFeatures {
    pub fn to_json(&self) -> Value {
        json!({
            "mean_su": round(self.mean), "std_su": round(self.std), "min_su": round(self.min), "max_su": round(self.max),
            "rms_su": round(self.rms), "energy_su2_per_sample": round(self.energy),
            "zero_crossing_rate_hz": round(self.zero_crossing_rate_hz),
            "dominant_frequency_hz": round(self.dominant_frequency_hz), "dominant_power_share_ratio": round(self.dominant_power_share),
            "cadence_hz": round(self.cadence_hz), "missing_samples_count": self.missing,
        })
    }

    /// The numbers the classifier compares, in a fixed order.
    pub fn vector(&self) -> [f64; 9] {
        [
            self.mean,
            self.std,
            self.min,
            self.max,
            self.rms,
            self.zero_crossing_rate_hz,
            self.dominant_frequency_hz,
            self.dominant_power_share,
            self.cadence_hz,
        ]
    }
}

pub fn channel_features(values: &[f64], rate: f64) -> ChannelFeatures {
    let x = finite(values);
    let n = x.len();
    let missing = values.len() - n;
    if n == 0 {
        let nan = f64::NAN;
        return ChannelFeatures {
            mean: nan,
            std: nan,
            min: nan,
            max: nan,
            rms: nan,
            energy: nan,
            zero_crossing_rate_hz: nan,
            dominant_frequency_hz: nan,
            dominant_power_share: nan,
            cadence_hz: nan,
            missing,
        };
    }
    let min = x.iter().copied().fold(f64::INFINITY, f64::min);
    let max = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    // Sums run on values scaled into [-1, 1]: finite inputs near f64's limit (≥ ~1e154 squared,
    // ≥ ~1e304 summed) would otherwise overflow to infinity, which JSON writes as `null`.
    // Only huge values are scaled, so that every ordinary recording's features stay bit for bit
    // what they were (recorded threads are replayed against them).
    let largest = min.abs().max(max.abs());
    let scale = if largest >= 1e100 { largest } else { 1.0 };
    let y: Vec<f64> = x.iter().map(|v| v / scale).collect();
    let mean_y = y.iter().sum::<f64>() / n as f64;
    let mean = mean_y * scale;
    // Population standard deviation (numpy's default, ddof = 0).
    let var_y = y.iter().map(|v| (v - mean_y).powi(2)).sum::<f64>() / n as f64;
    let mean_square_y = y.iter().map(|v| v * v).sum::<f64>() / n as f64;
    let rms = mean_square_y.sqrt() * scale;
    let duration = if rate > 0.0 { n as f64 / rate } else { f64::NAN };
    // Crossings of the mean: raw zero crossings say little for channels that include gravity.
    // Scaled too: crossings, the dominant frequency's share and the cadence do not depend on scale.
    let centred: Vec<f64> = y.iter().map(|v| v - mean_y).collect();
    let crossings = centred.windows(2).filter(|w| (w[0] < 0.0) != (w[1] < 0.0)).count();
    let (dominant, share) = dominant_frequency(&centred, rate);
    ChannelFeatures {
        mean,
        std: var_y.sqrt() * scale,
        min,
        max,
        rms,
        // The mean square itself can exceed f64 (rms ≥ ~1.3e154): then, and only then, it is null.
        energy: mean_square_y * scale * scale,
        zero_crossing_rate_hz: crossings as f64 / duration,
        dominant_frequency_hz: dominant,
        dominant_power_share: share,
        cadence_hz: cadence(&centred, rate),
        missing,
    }
}

/// The frequency with the most power (DC excluded) and its share of the total power.
fn dominant_frequency(centred: &[f64], rate: f64) -> (f64, f64) {
    let n = centred.len();
    if n < 4 || rate <= 0.0 {
        return (0.0, 0.0);
    }
    let mut buf: Vec<Complex<f64>> = centred.iter().map(|&v| Complex { re: v, im: 0.0 }).collect();
    FftPlanner::new().plan_fft_forward(n).process(&mut buf);
    let power: Vec<f64> = buf[1..=n / 2].iter().map(|c| c.norm_sqr()).collect();
    let total: f64 = power.iter().sum();
    if total <= 0.0 {
        return (0.0, 0.0);
    }
    let (k, p) = power.iter().enumerate().fold((0, 0.0), |best, (k, &p)| if p > best.1 { (k, p) } else { best });
    ((k + 1) as f64 * rate / n as f64, p / total)
}

/// Periodicity from the autocorrelation: the first peak after the first zero crossing,
/// as a frequency (steps per second for a walking signal). 0 when there is no clear period.
fn cadence(centred: &[f64], rate: f64) -> f64 {
    let n = centred.len();
    if n < 8 || rate <= 0.0 {
        return 0.0;
    }
    let r0: f64 = centred.iter().map(|v| v * v).sum();
    if r0 <= 0.0 {
        return 0.0;
    }
    let ac: Vec<f64> = (0..n / 2)
        .map(|lag| centred[..n - lag].iter().zip(&centred[lag..]).map(|(a, b)| a * b).sum::<f64>() / r0)
        .collect();
    let Some(zero) = ac.iter().position(|&r| r < 0.0) else { return 0.0 };
    let peak = (zero + 1..ac.len().saturating_sub(1))
        .filter(|&l| ac[l] > ac[l - 1] && ac[l] >= ac[l + 1])
        .max_by(|&a, &b| ac[a].total_cmp(&ac[b]));
    match peak {
        Some(lag) if ac[lag] > 0.2 => rate / lag as f64,
        _ => 0.0,
    }
}

/// Accelerometer triads: `<prefix>_x/_y/_z` channels whose prefix names an accelerometer.
pub fn acc_triads(rec: &Recording) -> Vec<(String, [usize; 3])> {
    let names: Vec<&str> = rec.channels.iter().map(|(n, _)| n.as_str()).collect();
    let mut out = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let Some(prefix) = name.strip_suffix("_x") else { continue };
        if !prefix.contains("acc") {
            continue;
        }
        let find = |axis: &str| names.iter().position(|n| *n == format!("{prefix}_{axis}"));
        if let (Some(y), Some(z)) = (find("y"), find("z")) {
            out.push((prefix.to_string(), [i, y, z]));
        }
    }
    out
}

/// All features of a recording, as the `compute_features` tool returns them.
pub fn features(rec: &Recording) -> Value {
    let rate = sampling_rate(rec);
    let mut channels = Map::new();
    for (name, values) in &rec.channels {
        channels.insert(name.clone(), channel_features(values, rate).to_json());
    }
    let mut triads = Map::new();
    for (prefix, [x, y, z]) in acc_triads(rec) {
        let (vx, vy, vz) = (&rec.channels[x].1, &rec.channels[y].1, &rec.channels[z].1);
        let rows: Vec<(f64, f64, f64)> = (0..rec.len())
            .map(|i| (vx[i], vy[i], vz[i]))
            .filter(|(a, b, c)| a.is_finite() && b.is_finite() && c.is_finite())
            .collect();
        if rows.is_empty() {
            continue;
        }
        let n = rows.len() as f64;
        let sma = rows.iter().map(|(a, b, c)| a.abs() + b.abs() + c.abs()).sum::<f64>() / n;
        let mut t = json!({"signal_magnitude_area_su": round(sma)});
        // Body acceleration has gravity removed; only total acceleration tells the orientation.
        if !prefix.contains("body") {
            let m = (
                rows.iter().map(|r| r.0).sum::<f64>() / n,
                rows.iter().map(|r| r.1).sum::<f64>() / n,
                rows.iter().map(|r| r.2).sum::<f64>() / n,
            );
            let norm = (m.0 * m.0 + m.1 * m.1 + m.2 * m.2).sqrt();
            if norm > 0.0 {
                t["gravity_direction_unit_vector"] =
                    json!({"x": round(m.0 / norm), "y": round(m.1 / norm), "z": round(m.2 / norm)});
                t["mean_magnitude_su"] = round(norm);
            }
        }
        triads.insert(prefix, t);
    }
    json!({"sampling_rate_hz": round(rate), "samples": rec.len(), "duration_sec": round(rec.duration_sec()), "channels": channels, "accelerometer_triads": triads})
}

/// SAX (symbolic aggregate approximation): z-normalise, average into `word_length`
/// equal segments (PAA), and map each mean to a letter by the Gaussian breakpoints that
/// cut N(0,1) into `alphabet_size` equally likely regions.
pub fn sax(values: &[f64], word_length: usize, alphabet_size: usize) -> String {
    let x = finite(values);
    if x.is_empty() || word_length == 0 {
        return String::new();
    }
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let std = (x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
    let z: Vec<f64> = x.iter().map(|v| if std > 1e-12 { (v - mean) / std } else { 0.0 }).collect();
    let cuts = breakpoints(alphabet_size);
    (0..word_length)
        .map(|s| {
            let a = s * z.len() / word_length;
            let b = ((s + 1) * z.len() / word_length).max(a + 1).min(z.len());
            let m = z[a..b].iter().sum::<f64>() / (b - a) as f64;
            let k = cuts.iter().take_while(|&&c| m >= c).count();
            (b'a' + k as u8) as char
        })
        .collect()
}

/// Standard normal quantiles at i/alphabet_size, i = 1 … alphabet_size − 1.
pub fn breakpoints(alphabet_size: usize) -> Vec<f64> {
    (1..alphabet_size).map(|i| normal_quantile(i as f64 / alphabet_size as f64)).collect()
}

/// Acklam's rational approximation of the standard normal quantile (relative error < 1.2e-9).
fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.38357751867269e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] =
        [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
    let low = 0.02425;
    if p < low {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - low {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        -normal_quantile(1.0 - p)
    }
}

#[cfg(test)]
mod tests {
    /// Issue 28 row 14: finite values near f64's limit give finite features, never `null`.
    #[test]
    fn huge_finite_values_give_finite_features() {
        let values: Vec<f64> = (0..64).map(|i| if i % 2 == 0 { 1.5e305 } else { -1.7e305 }).collect();
        let f = super::channel_features(&values, 10.0);
        let v = f.to_json();
        for key in ["mean_su", "std_su", "min_su", "max_su", "rms_su"] {
            assert!(v[key].is_number(), "{key} is {} in {v}", v[key]);
        }
        assert_eq!(v["max_su"].as_f64(), Some(1.5e305));
        assert!(f.zero_crossing_rate_hz > 0.0);
    }

    use super::*;

    fn sine(freq: f64, rate: f64, n: usize) -> Recording {
        let t: Vec<f64> = (0..n).map(|i| i as f64 / rate).collect();
        let v = t.iter().map(|t| (2.0 * std::f64::consts::PI * freq * t).sin() + 1.0).collect();
        Recording { timestamps: t, channels: vec![("acc_x".into(), v)] }
    }

    #[test]
    fn a_2hz_sine_has_2hz_everywhere() {
        let rec = sine(2.0, 50.0, 500);
        let f = channel_features(&rec.channels[0].1, sampling_rate(&rec));
        assert!((f.mean - 1.0).abs() < 1e-9);
        assert!((f.std - 0.5f64.sqrt()).abs() < 1e-3);
        assert!((f.dominant_frequency_hz - 2.0).abs() < 0.11, "{}", f.dominant_frequency_hz);
        assert!(f.dominant_power_share > 0.9);
        assert!((f.cadence_hz - 2.0).abs() < 0.1, "{}", f.cadence_hz);
        assert!((f.zero_crossing_rate_hz - 4.0).abs() < 0.3, "{}", f.zero_crossing_rate_hz);
    }

    #[test]
    fn constant_and_empty_channels_do_not_divide_by_zero() {
        let f = channel_features(&[1.0; 64], 10.0);
        assert_eq!((f.std, f.dominant_frequency_hz, f.cadence_hz), (0.0, 0.0, 0.0));
        let f = channel_features(&[f64::NAN; 4], 10.0);
        assert!(f.mean.is_nan() && f.missing == 4);
        assert_eq!(sax(&[3.0; 10], 4, 4), "cccc");
    }

    #[test]
    fn breakpoints_match_the_sax_table() {
        let b = breakpoints(4);
        assert!((b[0] + 0.6745).abs() < 1e-4 && b[1].abs() < 1e-12 && (b[2] - 0.6745).abs() < 1e-4);
        let b = breakpoints(3);
        assert!((b[0] + 0.4307).abs() < 1e-4 && (b[1] - 0.4307).abs() < 1e-4);
    }

    #[test]
    fn sax_of_a_ramp_climbs_the_alphabet() {
        let ramp: Vec<f64> = (0..100).map(f64::from).collect();
        assert_eq!(sax(&ramp, 4, 4), "abcd");
    }
}
