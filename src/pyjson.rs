//! JSON text the way the Python generator wrote it.
//!
//! Tool arguments and results inside threads are strings produced by Python's
//! `json.dumps` (separators `", "` and `": "`, non-ASCII escaped, floats in
//! `repr` form). Text we write must match byte for byte, or fixed and migrated
//! threads would differ in tokens from generated ones for the same content.

use std::io;

use serde_json::ser::Formatter;
use serde_json::Value;

/// How JSON text is laid out. The default is Python's `json.dumps` with no arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    /// `Some(n)`: one item per line, indented by n spaces (Python's `indent=n`).
    pub indent: Option<usize>,
    /// Escape every non-ASCII character as `\uXXXX` (Python's default `ensure_ascii=True`).
    pub ensure_ascii: bool,
    /// `,` and `:` without spaces (serde_json's and `separators=(",", ":")`).
    pub tight: bool,
}

impl Default for Style {
    fn default() -> Self {
        Style { indent: None, ensure_ascii: true, tight: false }
    }
}

impl Style {
    /// Guess how an existing file was written, so that a fix rewrites only what it changes.
    pub fn detect(src: &str) -> Style {
        let indent = src.split('\n').skip(1).map(|l| l.len() - l.trim_start_matches(' ').len()).find(|&n| n > 0);
        let ensure_ascii = src.is_ascii() && src.contains("\\u");
        let tight = indent.is_none() && !src.contains("\": ") && src.contains("\":");
        Style { indent, ensure_ascii, tight }
    }
}

/// `json.dumps(value)` with Python's defaults.
pub fn dumps(value: &Value) -> String {
    to_string(value, Style::default())
}

/// `json.dumps(value, indent=2)` (what the generator used for the manifest in the first message).
pub fn dumps_pretty(value: &Value) -> String {
    to_string(value, Style { indent: Some(2), ..Style::default() })
}

pub fn to_string(value: &Value, style: Style) -> String {
    let mut out = Vec::with_capacity(128);
    let formatter = PyFormatter { style, level: 0, has_value: false };
    let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
    serde::Serialize::serialize(value, &mut ser).expect("serializing a Value into memory cannot fail");
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

struct PyFormatter {
    style: Style,
    level: usize,
    has_value: bool,
}

impl PyFormatter {
    fn newline<W: ?Sized + io::Write>(&self, w: &mut W) -> io::Result<()> {
        if let Some(n) = self.style.indent {
            w.write_all(b"\n")?;
            for _ in 0..n * self.level {
                w.write_all(b" ")?;
            }
        }
        Ok(())
    }
    fn separator<W: ?Sized + io::Write>(&self, w: &mut W, first: bool) -> io::Result<()> {
        if !first {
            w.write_all(if self.style.indent.is_some() || self.style.tight { b"," } else { b", " })?;
        }
        self.newline(w)
    }
}

impl Formatter for PyFormatter {
    fn write_f64<W: ?Sized + io::Write>(&mut self, w: &mut W, value: f64) -> io::Result<()> {
        w.write_all(python_float_repr(value).as_bytes())
    }
    fn write_f32<W: ?Sized + io::Write>(&mut self, w: &mut W, value: f32) -> io::Result<()> {
        self.write_f64(w, f64::from(value))
    }
    fn write_string_fragment<W: ?Sized + io::Write>(&mut self, w: &mut W, fragment: &str) -> io::Result<()> {
        if !self.style.ensure_ascii {
            return w.write_all(fragment.as_bytes());
        }
        let mut start = 0;
        for (i, ch) in fragment.char_indices() {
            if ch.is_ascii() {
                continue;
            }
            w.write_all(&fragment.as_bytes()[start..i])?;
            let mut units = [0u16; 2];
            for unit in ch.encode_utf16(&mut units) {
                write!(w, "\\u{unit:04x}")?;
            }
            start = i + ch.len_utf8();
        }
        w.write_all(&fragment.as_bytes()[start..])
    }
    fn begin_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.level += 1;
        self.has_value = false;
        w.write_all(b"[")
    }
    fn end_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.level -= 1;
        if self.has_value {
            self.newline(w)?;
        }
        self.has_value = true;
        w.write_all(b"]")
    }
    fn begin_array_value<W: ?Sized + io::Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.separator(w, first)
    }
    fn end_array_value<W: ?Sized + io::Write>(&mut self, _w: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
    fn begin_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.level += 1;
        self.has_value = false;
        w.write_all(b"{")
    }
    fn end_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.level -= 1;
        if self.has_value {
            self.newline(w)?;
        }
        self.has_value = true;
        w.write_all(b"}")
    }
    fn begin_object_key<W: ?Sized + io::Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.separator(w, first)
    }
    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(if self.style.tight { b":" } else { b": " })
    }
    fn end_object_value<W: ?Sized + io::Write>(&mut self, _w: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

/// Python's `repr(float)`: shortest round-trip digits, positional for exponents
/// -4..16, otherwise `1e-05` / `1.5e+16`; `NaN`/`Infinity` as `json.dumps` writes them.
pub fn python_float_repr(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "Infinity".into() } else { "-Infinity".into() };
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0.0".into() } else { "0.0".into() };
    }
    // Rust's `{:e}` gives the shortest round-trip digits, e.g. "1.2345e-5".
    let sci = format!("{v:e}");
    let (mantissa, exp) = sci.split_once('e').expect("{:e} always has an exponent");
    let exp: i32 = exp.parse().expect("exponent is an integer");
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let sign = if negative { "-" } else { "" };
    if (-4..16).contains(&exp) {
        let point = exp + 1; // digits before the decimal point
        let body = if point <= 0 {
            format!("0.{}{}", "0".repeat((-point) as usize), digits)
        } else if point as usize >= digits.len() {
            format!("{}{}.0", digits, "0".repeat(point as usize - digits.len()))
        } else {
            format!("{}.{}", &digits[..point as usize], &digits[point as usize..])
        };
        format!("{sign}{body}")
    } else {
        let frac = &digits[1..];
        let m = if frac.is_empty() { digits[..1].to_string() } else { format!("{}.{}", &digits[..1], frac) };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{m}e{esign}{:02}", exp.abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn floats_match_python_repr() {
        for (v, s) in [
            (1.0, "1.0"),
            (50.0, "50.0"),
            (0.1, "0.1"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (1.5e16, "1.5e+16"),
            (1e15, "1000000000000000.0"),
            (-2.5, "-2.5"),
            (123.456, "123.456"),
            (9.81, "9.81"),
            (-0.0, "-0.0"),
        ] {
            assert_eq!(python_float_repr(v), s, "{v}");
        }
    }

    #[test]
    fn dumps_matches_python_defaults() {
        let v = json!({"a": [1, 2.5, "é"], "b": {}, "c": [], "d": null, "e": "x\"y"});
        assert_eq!(dumps(&v), r#"{"a": [1, 2.5, "\u00e9"], "b": {}, "c": [], "d": null, "e": "x\"y"}"#);
        assert_eq!(dumps(&json!("😀")), r#""\ud83d\ude00""#);
    }

    #[test]
    fn style_is_detected_from_the_source() {
        let pretty = "{\n    \"a\": \"\\u00e9\"\n}";
        assert_eq!(Style::detect(pretty), Style { indent: Some(4), ensure_ascii: true, tight: false });
        assert_eq!(Style::detect("{\"a\":\"é\"}"), Style { indent: None, ensure_ascii: false, tight: true });
        let v: Value = serde_json::from_str(pretty).unwrap();
        assert_eq!(to_string(&v, Style::detect(pretty)), pretty);
    }

    #[test]
    fn pretty_matches_python_indent_2() {
        let v = json!({"a": [1, {"b": 2}], "c": {}});
        assert_eq!(dumps_pretty(&v), "{\n  \"a\": [\n    1,\n    {\n      \"b\": 2\n    }\n  ],\n  \"c\": {}\n}");
    }
}
