//! Charts as inline SVG, drawn here rather than by a JavaScript library: the report must
//! open from `file://` with no network, and a few bar charts, histograms and line plots
//! do not justify inlining a charting library's hundreds of kilobytes into every report.
//! Every piece of text is escaped; the output is safe to place in HTML as it is.

use std::fmt::Write as _;

use crate::dataset::recording::Recording;

/// Escaped for XML/HTML text and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn short(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}

/// One bar: its label, its length (0–`max`), and the text printed after it.
pub struct Bar {
    pub label: String,
    pub value: f64,
    pub text: String,
}

const WIDTH: f64 = 520.0;
const LABEL_W: f64 = 170.0;
const ROW_H: f64 = 20.0;

/// Horizontal bars, one per row, longest first as given; `max` is the full length
/// (1.0 for rates, the largest count for counts).
pub fn bars(class: &str, title: &str, bars: &[Bar], max: f64) -> String {
    let h = ROW_H * bars.len().max(1) as f64 + 8.0;
    let mut o = String::new();
    let _ = write!(
        o,
        r#"<svg class="chart {}" role="img" viewBox="0 0 {WIDTH} {h}" width="{WIDTH}" height="{h}"><title>{}</title>"#,
        esc(class),
        esc(title)
    );
    let span = WIDTH - LABEL_W - 90.0;
    for (i, b) in bars.iter().enumerate() {
        let y = 4.0 + ROW_H * i as f64;
        let w = if max > 0.0 { (b.value / max).clamp(0.0, 1.0) * span } else { 0.0 };
        let _ = write!(
            o,
            r#"<g class="bar"><title>{label}: {text}</title><text x="{lx}" y="{ty}" text-anchor="end">{shown}</text><rect x="{LABEL_W}" y="{ry}" width="{w:.1}" height="{bh}"/><text class="value" x="{vx:.1}" y="{ty}">{text}</text></g>"#,
            label = esc(&b.label),
            shown = esc(&short(&b.label, 24)),
            text = esc(&b.text),
            lx = LABEL_W - 6.0,
            ty = y + 13.0,
            ry = y + 2.0,
            bh = ROW_H - 5.0,
            vx = LABEL_W + w + 5.0,
        );
    }
    o.push_str("</svg>");
    o
}

/// Vertical columns over ordered buckets (a histogram), labelled under each column.
pub fn columns(class: &str, title: &str, buckets: &[(String, usize)]) -> String {
    let (w, h, base) = (WIDTH, 180.0, 150.0);
    let max = buckets.iter().map(|b| b.1).max().unwrap_or(0).max(1) as f64;
    let n = buckets.len().max(1) as f64;
    // Few buckets do not stretch into slabs across the whole chart.
    let step = ((w - 20.0) / n).min(48.0);
    let mut o = String::new();
    let _ = write!(
        o,
        r#"<svg class="chart {}" role="img" viewBox="0 0 {w} {h}" width="{w}" height="{h}"><title>{}</title><line class="axis" x1="10" y1="{base}" x2="{x2}" y2="{base}"/>"#,
        esc(class),
        esc(title),
        x2 = w - 10.0
    );
    let every = buckets.len().div_ceil(8).max(1);
    for (i, (label, count)) in buckets.iter().enumerate() {
        let x = 10.0 + step * i as f64;
        let bh = (*count as f64 / max) * (base - 20.0);
        let _ = write!(
            o,
            r#"<g class="bar"><title>{l}: {count}</title><rect x="{x:.1}" y="{y:.1}" width="{bw:.1}" height="{bh:.1}"/>"#,
            l = esc(label),
            y = base - bh,
            bw = (step - 2.0).max(1.0),
        );
        if *count > 0 && buckets.len() <= 24 {
            let _ = write!(o, r#"<text class="value" x="{cx:.1}" y="{ty:.1}" text-anchor="middle">{count}</text>"#, cx = x + step / 2.0, ty = base - bh - 3.0);
        }
        if i % every == 0 {
            let _ = write!(
                o,
                r#"<text x="{cx:.1}" y="{ly}" text-anchor="middle">{}</text>"#,
                esc(&short(label, 10)),
                cx = x + step / 2.0,
                ly = base + 15.0
            );
        }
        o.push_str("</g>");
    }
    o.push_str("</svg>");
    o
}

/// Most channels drawn in one recording plot; the rest are named under it.
pub const PLOT_CHANNELS: usize = 6;
/// Points per channel: each is the minimum or maximum of its bucket, so spikes survive.
const PLOT_BUCKETS: usize = 150;
const PALETTE: [&str; PLOT_CHANNELS] = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2"];

/// A line plot of a recording (the channels and time range a tool call looked at).
pub fn recording(rec: &Recording) -> String {
    let (w, h, left, top, plot_h) = (480.0, 150.0, 8.0, 8.0, 110.0);
    let plot_w = w - 2.0 * left;
    let t0 = rec.timestamps.first().copied().unwrap_or(0.0);
    let t1 = rec.timestamps.last().copied().unwrap_or(0.0);
    let drawn = &rec.channels[..rec.channels.len().min(PLOT_CHANNELS)];
    let (lo, hi) = drawn
        .iter()
        .flat_map(|(_, v)| v.iter().copied().filter(|x| x.is_finite()))
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| (a.min(x), b.max(x)));
    let (lo, hi) = if lo.is_finite() && hi > lo { (lo, hi) } else if lo.is_finite() { (lo - 1.0, lo + 1.0) } else { (0.0, 1.0) };
    let mut o = String::new();
    let names: Vec<&str> = rec.channels.iter().map(|(n, _)| n.as_str()).collect();
    let _ = write!(
        o,
        r#"<svg class="plot" role="img" viewBox="0 0 {w} {h}" width="{w}" height="{h}"><title>{} · {t0:.2}–{t1:.2} s · {} samples</title><rect class="frame" x="{left}" y="{top}" width="{plot_w}" height="{plot_h}"/>"#,
        esc(&names.join(", ")),
        rec.len()
    );
    let n = rec.len();
    for (c, (name, values)) in drawn.iter().enumerate() {
        let mut points = String::new();
        let buckets = PLOT_BUCKETS.min(n.max(1));
        for b in 0..buckets {
            let (from, to) = (b * n / buckets, ((b + 1) * n / buckets).max(b * n / buckets + 1).min(n));
            let slice = &values[from.min(values.len())..to.min(values.len())];
            let (mut imin, mut imax) = (from, from);
            for (k, v) in slice.iter().enumerate() {
                if v.is_finite() && (!values[imin].is_finite() || *v < values[imin]) {
                    imin = from + k;
                }
                if v.is_finite() && (!values[imax].is_finite() || *v > values[imax]) {
                    imax = from + k;
                }
            }
            let mut pair = [imin, imax];
            pair.sort_unstable();
            for i in pair.into_iter().take(if imin == imax { 1 } else { 2 }) {
                let Some(v) = values.get(i).copied().filter(|v| v.is_finite()) else { continue };
                let x = left + if n > 1 { plot_w * i as f64 / (n - 1) as f64 } else { 0.0 };
                let y = top + plot_h * (1.0 - (v - lo) / (hi - lo));
                let _ = write!(points, "{x:.1},{y:.1} ");
            }
        }
        let _ = write!(
            o,
            r#"<polyline class="ch" data-channel="{}" stroke="{}" points="{}"/>"#,
            esc(name),
            PALETTE[c],
            points.trim_end()
        );
    }
    let _ = write!(
        o,
        r#"<text x="{left}" y="{ty}">{t0:.2} s</text><text x="{rx}" y="{ty}" text-anchor="end">{t1:.2} s</text>"#,
        ty = top + plot_h + 14.0,
        rx = w - left
    );
    let mut x = left;
    for (c, (name, _)) in drawn.iter().enumerate() {
        let label = short(name, 18);
        let _ = write!(o, r#"<text x="{x:.1}" y="{ly}" style="fill:{}">■ {}</text>"#, PALETTE[c], esc(&label), ly = top + plot_h + 30.0);
        x += 22.0 + 6.2 * label.chars().count() as f64;
    }
    if rec.channels.len() > PLOT_CHANNELS {
        let _ = write!(o, r#"<text x="{x:.1}" y="{ly}">+{} more</text>"#, rec.channels.len() - PLOT_CHANNELS, ly = top + plot_h + 30.0);
    }
    o.push_str("</svg>");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped() {
        let svg = bars("x", "t", &[Bar { label: "<script>\"&'".into(), value: 1.0, text: "1".into() }], 1.0);
        assert!(!svg.contains("<script>"));
        assert!(svg.contains("&lt;script&gt;&quot;&amp;&#39;"));
    }

    #[test]
    fn a_plot_keeps_spikes_and_bounds_its_points() {
        let n = 10_000;
        let mut v: Vec<f64> = (0..n).map(|i| (i as f64 / 50.0).sin()).collect();
        v[5_003] = 40.0;
        v[7_000] = f64::NAN;
        let rec = Recording { timestamps: (0..n).map(|i| i as f64 / 100.0).collect(), channels: vec![("acc_x".into(), v)] };
        let svg = recording(&rec);
        let points = svg.split("points=\"").nth(1).unwrap().split('"').next().unwrap();
        let count = points.split(' ').count();
        assert!(count <= 2 * PLOT_BUCKETS, "{count} points");
        // The spike is the top of the plot (y = 8.0).
        assert!(points.split(' ').any(|p| p.ends_with(",8.0")), "{points}");
        assert!(svg.contains("0.00 s") && svg.contains("99.99 s"));
    }

    #[test]
    fn empty_and_flat_recordings_draw() {
        let flat = Recording { timestamps: vec![0.0, 1.0], channels: vec![("a".into(), vec![3.0, 3.0])] };
        assert!(recording(&flat).contains("polyline"));
        let empty = Recording { timestamps: vec![], channels: vec![("a".into(), vec![])] };
        assert!(recording(&empty).starts_with("<svg"));
        assert!(columns("c", "t", &[]).ends_with("</svg>"));
    }
}
