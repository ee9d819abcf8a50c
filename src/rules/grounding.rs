//! Numbers in a model's text, and whether the thread gave it each one (`number-not-grounded`).
//!
//! A claim is a number written as a quantity: `0.83`, `83 %`, `9.9 s`, `-1.2`. Not claims: step
//! numbers and list markers (`Step 3:`, `2.`), ordinals (`2nd`), numbers inside names (`acc_x1`,
//! `UCI-HAR-2`, `3D`, `3-axis`) and bare small counts (`3 channels`: integers up to 10 without a unit).
//! A claim is grounded when some number the model was shown (tool results, user messages, its own
//! call arguments) rounds or truncates to it, also after the conversion its unit names: a share
//! as a percentage (`%`), seconds as `ms`, Hz as `per minute`. No conversion is tried silently:
//! each one makes a random number more likely to match something by chance.

/// A number written in text: where it is (bytes, in the text) and how it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    pub start: usize,
    pub len: usize,
    pub value: f64,
    /// Digits after the decimal point (less the exponent, `1.5e-3` has 4): the precision the
    /// writer rounded to.
    pub decimals: i32,
    pub percent: bool,
    /// A unit followed it (`Hz`, `s`, `g`…): a measurement even when it is a small integer.
    pub unit: bool,
    /// The conversion its unit implies from a tool's number: `%` ×100 (a share), `ms` ×1000
    /// (seconds), `per minute` ×60 (Hz), `min` ÷60 (seconds); 1 for anything else.
    pub scale: f64,
}

const UNITS: &[&str] = &[
    "hz", "khz", "s", "sec", "secs", "second", "seconds", "ms", "min", "mins", "minute", "minutes", "g", "gs", "m",
    "mm", "cm", "km", "kg", "bpm", "spm", "x", "su", "su2", "deg", "dps", "rad", "samples", "sample",
];
/// Words after which a number counts things in the conversation, not the data.
const ORDINAL_WORDS: &[&str] =
    &["step", "steps", "turn", "round", "stage", "phase", "part", "call", "attempt", "option", "no", "number", "item"];

/// Every number in `text` that reads as a claim about the data.
pub fn claims(text: &str) -> Vec<Claim> {
    let mut out = Vec::new();
    scan(text, true, |c, marker| {
        if marker {
            return;
        }
        if !c.unit && !c.percent && c.decimals == 0 && c.value.abs() <= 10.0 {
            return;
        }
        out.push(c);
    });
    out
}

/// Every number in `text`, claims or not, as a source a claim may come from.
pub fn numbers(text: &str, into: &mut Vec<f64>) {
    scan(text, false, |c, _| into.push(c.value));
}

/// `markers`: tell step numbers and list markers apart (claims need it; sources do not, and
/// asking costs a look back to the line's start per number: quadratic on one-line JSON).
fn scan(text: &str, markers: bool, mut each: impl FnMut(Claim, bool)) {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        // Part of a word (`acc_x1`, `v4`, `ts_3f9a1c`): skip the whole word.
        if start > 0 && is_word_byte(b[start - 1]) {
            i = skip_word(b, i);
            continue;
        }
        let mut end = i;
        while end < b.len() && b[end].is_ascii_digit() {
            end += 1;
        }
        // Thousands separators: 1,000 and 12,345,678 (a comma and exactly three digits).
        while end + 3 < b.len()
            && b[end] == b','
            && b[end + 1..end + 4].iter().all(u8::is_ascii_digit)
            && !(end + 4 < b.len() && b[end + 4].is_ascii_digit())
        {
            end += 4;
        }
        let mut decimals = 0;
        if end + 1 < b.len() && b[end] == b'.' && b[end + 1].is_ascii_digit() {
            end += 1;
            let d0 = end;
            while end < b.len() && b[end].is_ascii_digit() {
                end += 1;
            }
            decimals = (end - d0) as i32;
        }
        // An exponent (`1e-05`, as JSON writers print small floats): part of the number.
        if end + 1 < b.len() && matches!(b[end], b'e' | b'E') {
            let mut k = end + 1;
            if matches!(b.get(k), Some(b'-' | b'+')) {
                k += 1;
            }
            let e0 = k;
            while k < b.len() && b[k].is_ascii_digit() {
                k += 1;
            }
            if k > e0 && !(k < b.len() && is_word_byte(b[k])) {
                let exponent: i32 = text[end + 1..k].parse().unwrap_or(0);
                decimals -= exponent;
                end = k;
            }
        }
        // `1.2.3`, an IP or a version: not a quantity.
        if end + 1 < b.len() && b[end] == b'.' && b[end + 1].is_ascii_digit() {
            i = skip_word(b, end);
            continue;
        }
        let digits: String = text[start..end].chars().filter(|&c| c != ',').collect();
        let Ok(mut value) = digits.parse::<f64>() else {
            i = end;
            continue;
        };
        if !value.is_finite() {
            i = end;
            continue;
        }
        let mut claim_start = start;
        // A minus sign, unless it joins two words (`UCI-HAR-2`, `x-2`).
        if start > 0 && b[start - 1] == b'-' && !(start > 1 && is_word_byte(b[start - 2])) {
            value = -value;
            claim_start -= 1;
        } else if start >= 3 && &b[start - 3..start] == "\u{2212}".as_bytes() {
            value = -value;
            claim_start -= 3;
        }
        let after = suffix(b, end);
        if after.name {
            i = skip_word(b, end);
            continue;
        }
        let marker = markers && is_marker(text, start, end);
        let len = after.end.max(end) - claim_start;
        each(
            Claim {
                start: claim_start,
                len,
                value,
                decimals,
                percent: after.percent,
                unit: after.unit,
                scale: after.scale,
            },
            marker,
        );
        i = end.max(start + 1);
    }
}

fn is_word_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

fn skip_word(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && (is_word_byte(b[i]) || b[i] == b'.' && i + 1 < b.len() && is_word_byte(b[i + 1])) {
        i += 1;
    }
    i
}

/// What follows a number.
struct Suffix {
    end: usize,
    unit: bool,
    percent: bool,
    /// Part of a name (`3D`, `2nd`, `3-axis`): no number at all.
    name: bool,
    scale: f64,
}

/// The conversion a unit word implies from a tool's number (which is in s, Hz, or a share).
fn unit_scale(word: &str, after: &[u8]) -> f64 {
    match word {
        "ms" => 1000.0,
        "min" | "mins" | "minute" | "minutes" => 1.0 / 60.0,
        "bpm" | "spm" | "rpm" => 60.0,
        _ if after.starts_with(b" per minute") || after.starts_with(b"/min") || after.starts_with(b" per min") => 60.0,
        _ => 1.0,
    }
}

fn suffix(b: &[u8], end: usize) -> Suffix {
    let plain = Suffix { end, unit: false, percent: false, name: false, scale: 1.0 };
    // Glued letters: a unit (`50Hz`, `9.9s`, `120ms`) or a name (`3D`, `2nd`, `3f9a`).
    if end < b.len() && (b[end].is_ascii_alphabetic() || b[end] == b'_') {
        let w = skip_word(b, end);
        let word = String::from_utf8_lossy(&b[end..w]).to_ascii_lowercase();
        return if UNITS.contains(&word.as_str()) {
            Suffix { end: w, unit: true, scale: unit_scale(&word, &b[w..]), ..plain }
        } else {
            Suffix { name: true, ..plain }
        };
    }
    // `3-axis`, `10-second`: a compound adjective, read as a name.
    if end + 1 < b.len() && b[end] == b'-' && b[end + 1].is_ascii_alphabetic() {
        return Suffix { name: true, ..plain };
    }
    let mut j = end;
    while j < b.len() && b[j] == b' ' {
        j += 1;
    }
    if j < b.len() && b[j] == b'%' {
        return Suffix { end: j + 1, percent: true, scale: 100.0, ..plain };
    }
    let w = skip_word(b, j);
    let word = String::from_utf8_lossy(&b[j..w]).to_ascii_lowercase();
    match word.as_str() {
        "percent" | "pct" | "percentage" => Suffix { end: w, percent: true, scale: 100.0, ..plain },
        "per" if b[w..].starts_with(b" cent") => Suffix { end: w + 5, percent: true, scale: 100.0, ..plain },
        "per" if b[w..].starts_with(b" minute") || b[w..].starts_with(b" min") => Suffix { scale: 60.0, ..plain },
        _ if j > end && UNITS.contains(&word.as_str()) && word != "x" => {
            Suffix { end: w, unit: true, scale: unit_scale(&word, &b[w..]), ..plain }
        }
        // `108 steps per minute`, `108 crossings/min`: the rate is per minute whatever is counted.
        _ if j > end && unit_scale("", &b[w..]) != 1.0 => Suffix { scale: 60.0, ..plain },
        _ => plain,
    }
}

/// Step numbers, list markers and counters of the conversation itself.
fn is_marker(text: &str, start: usize, end: usize) -> bool {
    let before = &text[..start];
    let line_start = before.rfind('\n').map_or(0, |p| p + 1);
    let rest = &text[end..];
    // `1.` / `2)` / `(3)` opening a line or a list item.
    if before[line_start..].trim_matches(|c: char| c.is_whitespace() || c == '(' || c == '-' || c == '*').is_empty()
        && (rest.starts_with(". ") || rest.starts_with(")") || rest.starts_with(".\n") || rest.starts_with(':'))
    {
        return true;
    }
    if before.ends_with('#') {
        return true;
    }
    let word = before.trim_end_matches([' ', '.']).rsplit(|c: char| !c.is_alphanumeric()).next().unwrap_or("");
    ORDINAL_WORDS.iter().any(|w| word.eq_ignore_ascii_case(w))
}

/// The numbers a claim may be drawn from: the magnitudes of every number the thread showed.
#[derive(Debug, Default)]
pub struct Sources {
    values: Vec<f64>,
    sorted: bool,
}

impl Sources {
    pub fn add(&mut self, v: f64) {
        if v.is_finite() {
            self.values.push(v.abs());
            self.sorted = false;
        }
    }

    pub fn add_all(&mut self, vs: &[f64]) {
        vs.iter().for_each(|&v| self.add(v));
    }

    /// Whether some source, converted as the claim's unit says and rounded or truncated to the
    /// claim's precision, is the claim. Besides the unit's own conversion, a percentage may have
    /// come as a percentage and a share may have come as a percentage (÷100); a minus sign may be
    /// dropped (an amplitude).
    pub fn grounds(&mut self, c: &Claim) -> bool {
        if !self.sorted {
            self.values.sort_by(f64::total_cmp);
            self.values.dedup();
            self.sorted = true;
        }
        let unit = 10f64.powi(-c.decimals);
        let a = c.value.abs();
        let mut scales = vec![1.0, c.scale];
        if !c.percent && c.scale == 1.0 {
            scales.push(0.01);
        }
        // The claim is source × scale: look for the source, with the tolerance scaled alike.
        scales.iter().any(|&s| self.near(a / s, unit / s))
    }

    fn near(&self, a: f64, unit: f64) -> bool {
        let eps = 1e-9 * a.max(1.0);
        let lo = a - unit / 2.0 - eps;
        let hi = a + unit + eps;
        let from = self.values.partition_point(|&v| v < lo);
        self.values[from..].iter().take_while(|&&v| v <= hi).any(|&v| {
            // Rounded to the claim's precision, or truncated (cut after the last digit written).
            (v - a).abs() <= unit / 2.0 + eps || (v >= a - eps && v < a + unit - eps)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(text: &str) -> Vec<f64> {
        claims(text).into_iter().map(|c| c.value).collect()
    }

    #[test]
    fn quantities_are_claims_names_and_markers_are_not() {
        assert_eq!(values("The mean is 0.83 and the std 5.76."), [0.83, 5.76]);
        assert_eq!(values("Step 3: acc_x1 in UCI-HAR-2 with 3D data on a 3-axis sensor"), Vec::<f64>::new());
        assert_eq!(values("1. first\n2) second\n(3) third"), Vec::<f64>::new());
        assert_eq!(values("the 2nd and 3rd windows, 3 channels, 10 neighbours"), Vec::<f64>::new());
        assert_eq!(values("a drop to -7.2 and 12 peaks at 2 Hz over 1,000 samples"), [-7.2, 12.0, 2.0, 1000.0]);
        assert_eq!(values("artifact ts_3f9a1c and tok_12ab at v2"), Vec::<f64>::new());
        assert_eq!(values("Step 12 of 14 and turn 11"), [14.0]);
        assert_eq!(values("a share of 1.5e-3 and 2E+2"), [0.0015, 200.0]);
    }

    #[test]
    fn claims_know_their_span_unit_and_percent() {
        let text = "about 83 % of the power, 9.9 s, 50Hz and 12 percent";
        let cs = claims(text);
        let shown: Vec<&str> = cs.iter().map(|c| &text[c.start..c.start + c.len]).collect();
        assert_eq!(shown, ["83 %", "9.9 s", "50Hz", "12 percent"]);
        assert!(cs[0].percent && cs[1].unit && cs[2].unit && cs[3].percent);
    }

    /// The number reader is a parser of free text: on any text it returns spans inside the text,
    /// on character boundaries, that read back as the number they claim.
    #[test]
    fn any_text_gives_spans_that_read_back() {
        let pieces = ["1e999", "1", "0.5", "-", "−", "e", "E-3", "%", " percent", "Hz", "ms", "_", "a", "é", ",000", ".", "\n1. ", "Step ", " per minute", "3D", "x2", "1.2.3", "9", " "];
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20_000 {
            let mut text = String::new();
            for _ in 0..(rng % 12) {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                text.push_str(pieces[(rng % pieces.len() as u64) as usize]);
            }
            for c in claims(&text) {
                let shown = text.get(c.start..c.start + c.len).unwrap_or_else(|| panic!("{text:?}: span {c:?}"));
                assert!(c.value.is_finite(), "{text:?}");
                assert!(shown.contains(|ch: char| ch.is_ascii_digit()), "{text:?}: {shown:?}");
            }
            let mut all = Vec::new();
            numbers(&text, &mut all);
        }
    }

    #[test]
    fn roundings_percentages_and_conversions_ground_a_claim() {
        let mut s = Sources::default();
        s.add_all(&[0.8312, 9.92, -7.244453, 0.152689, 2.0, 1.8]);
        for text in [
            "0.83",
            "83 %",
            "83.1 percent",
            "9.9 s",
            "7.2",
            "-7.24",
            "15%",
            "2 Hz",
            "108 per minute",
            "108 steps per minute",
            "108 bpm",
            "9920 ms",
            "0.8",
            "0.0992",
        ] {
            let c = &claims(text)[0];
            assert!(s.grounds(c), "{text} should be grounded");
        }
        // 49.9 would be 0.8312 per minute, 15.3 would be 0.152689 as a percentage: without the
        // unit that says so, no silent conversion grounds them.
        for text in ["0.85", "84 %", "9.7 s", "7.3", "16%", "47.5", "11.2", "49.9", "15.3", "9920"] {
            let c = &claims(text)[0];
            assert!(!s.grounds(c), "{text} should not be grounded");
        }
    }
}
