//! The UEA/UCR time-series archive format (`.ts`, as written by sktime and the archive).
//!
//! ```text
//! # comment lines
//! @problemName BasicMotions
//! @timeStamps false
//! @missing false
//! @univariate false
//! @dimensions 6
//! @equalLength true
//! @seriesLength 100
//! @classLabel true Standing Running Walking Badminton
//! @data
//! 0.1,0.2,…:0.3,0.4,…:…:Standing      one case per line: dimensions split by ':', label last
//! ```
//! Missing values are `?` (or `NaN`). Series with explicit time stamps (`@timeStamps true`)
//! are refused with a clear error rather than misread.

use super::recording::MAX_CHANNELS;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Header {
    pub problem_name: Option<String>,
    pub univariate: Option<bool>,
    pub dimensions: Option<usize>,
    pub equal_length: Option<bool>,
    pub series_length: Option<usize>,
    pub missing: Option<bool>,
    /// `Some(labels)` when `@classLabel true …`; the declared vocabulary, in file order.
    pub class_labels: Option<Vec<String>>,
    /// The comment lines at the top of the file, joined: the archive's description.
    pub description: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// One series per dimension, all of the same length.
    pub dims: Vec<Vec<f64>>,
    pub label: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TsError {
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for TsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

fn err(line: usize, message: impl Into<String>) -> TsError {
    TsError { line, message: message.into() }
}

fn parse_bool(line: usize, key: &str, value: &str) -> Result<bool, TsError> {
    match value.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(err(line, format!("@{key} takes true or false, not {value:?}"))),
    }
}

fn parse_usize(line: usize, key: &str, value: &str) -> Result<usize, TsError> {
    value.parse().map_err(|_| err(line, format!("@{key} takes a whole number, not {value:?}")))
}

pub fn parse(text: &str) -> Result<(Header, Vec<Case>), TsError> {
    if text.starts_with('\u{feff}') {
        // sktime's and aeon's readers keep it as a character and then fail on the first line.
        return Err(err(
            1,
            "the file starts with a UTF-8 byte-order mark (BOM), which the .ts readers (sktime, aeon) do not accept; save it as UTF-8 without BOM",
        ));
    }
    let mut header = Header::default();
    let mut in_data = false;
    let mut cases = Vec::new();
    let mut comments = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line_no = n + 1;
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            if !in_data {
                comments.push(comment.trim());
            }
            continue;
        }
        if !in_data {
            let Some(directive) = line.strip_prefix('@') else {
                return Err(err(
                    line_no,
                    format!("expected a header line starting with '@' before @data, found {:?}", crate::text::abbreviate(line, 40)),
                ));
            };
            let (key, value) =
                directive.split_once(char::is_whitespace).map_or((directive, ""), |(k, v)| (k, v.trim()));
            match key.to_ascii_lowercase().as_str() {
                "problemname" => header.problem_name = Some(value.to_string()),
                "timestamps" => {
                    if parse_bool(line_no, key, value)? {
                        return Err(err(line_no, "series with explicit time stamps (@timeStamps true) are not supported; export them without time stamps"));
                    }
                }
                "missing" => header.missing = Some(parse_bool(line_no, key, value)?),
                "univariate" => header.univariate = Some(parse_bool(line_no, key, value)?),
                "dimensions" => {
                    let d = parse_usize(line_no, key, value)?;
                    if d > MAX_CHANNELS {
                        return Err(err(line_no, too_many_dimensions(d)));
                    }
                    header.dimensions = Some(d);
                }
                "equallength" => header.equal_length = Some(parse_bool(line_no, key, value)?),
                "serieslength" => header.series_length = Some(parse_usize(line_no, key, value)?),
                "classlabel" => {
                    let mut words = value.split_whitespace();
                    let flag = words.next().unwrap_or("");
                    if parse_bool(line_no, key, flag)? {
                        let labels: Vec<String> = words.map(str::to_string).collect();
                        if labels.is_empty() {
                            return Err(err(line_no, "@classLabel true must list the class labels"));
                        }
                        header.class_labels = Some(labels);
                    }
                }
                "targetlabel" => {
                    if parse_bool(line_no, key, value)? {
                        return Err(err(
                            line_no,
                            "regression problems (@targetLabel true) are not supported: a session needs a class label",
                        ));
                    }
                }
                "data" => in_data = true,
                other => return Err(err(line_no, format!("unknown header directive @{other}"))),
            }
            continue;
        }
        cases.push(parse_case(line, line_no, &header)?);
    }
    if !in_data {
        return Err(err(text.lines().count().max(1), "no @data line: this is not a .ts file, or it is truncated"));
    }
    if let (Some(true), Some(d)) = (header.univariate, header.dimensions) {
        if d != 1 {
            return Err(err(1, format!("@univariate true contradicts @dimensions {d}")));
        }
    }
    header.description = comments.join(" ");
    Ok((header, cases))
}

fn too_many_dimensions(d: usize) -> String {
    format!("{d} dimensions is more than the {MAX_CHANNELS} channels a session may have")
}

fn parse_case(line: &str, line_no: usize, header: &Header) -> Result<Case, TsError> {
    let mut fields: Vec<&str> = line.splitn(MAX_CHANNELS + 3, ':').collect();
    // A label is one field more than the dimensions.
    if fields.len() > MAX_CHANNELS + 1 {
        return Err(err(line_no, too_many_dimensions(line.split(':').count() - usize::from(header.class_labels.is_some()))));
    }
    let label = match &header.class_labels {
        Some(labels) => {
            let label = fields.pop().unwrap_or("").trim();
            if !labels.iter().any(|l| l == label) {
                return Err(err(
                    line_no,
                    format!(
                        "class label {label:?} is not one of the labels declared by @classLabel ({})",
                        labels.join(", ")
                    ),
                ));
            }
            Some(label.to_string())
        }
        None => None,
    };
    let expected = header.dimensions.or(if header.univariate == Some(true) { Some(1) } else { None });
    if let Some(d) = expected {
        if fields.len() != d {
            return Err(err(line_no, format!("the case has {} dimensions, the header declares {d}", fields.len())));
        }
    }
    let mut dims = Vec::with_capacity(fields.len());
    for (d, field) in fields.iter().enumerate() {
        let mut series = Vec::new();
        for value in field.split(',') {
            let v = value.trim();
            let parsed = match v {
                "?" | "NaN" | "nan" => f64::NAN,
                _ => v.parse::<f64>().map_err(|_| {
                    err(
                        line_no,
                        format!("dimension {d}: {:?} is not a number (missing values are written '?')", crate::text::abbreviate(v, 40)),
                    )
                })?,
            };
            if parsed.is_infinite() {
                return Err(err(line_no, format!("dimension {d}: {v:?} is not a finite number")));
            }
            series.push(parsed);
        }
        dims.push(series);
    }
    let len = dims.first().map_or(0, Vec::len);
    if len == 0 || dims.iter().any(|s| s.len() != len) {
        let lengths: Vec<usize> = dims.iter().map(Vec::len).collect();
        return Err(err(
            line_no,
            format!("the dimensions of one case must have equal, non-zero lengths; found {lengths:?}"),
        ));
    }
    if header.equal_length == Some(true) {
        if let Some(expected) = header.series_length {
            if len != expected {
                return Err(err(line_no, format!("the series has {len} values, @seriesLength declares {expected}")));
            }
        }
    }
    Ok(Case { dims, label })
}


#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = "# a test problem\n# two lines\n@problemName Tiny\n@timeStamps false\n@missing true\n@univariate false\n@dimensions 2\n@equalLength false\n@classLabel true up down\n@data\n1,2,3:4,5,6:up\n1,?,NaN:0.5,1e-3,-2:down\n7,8:9,10:up\n";

    #[test]
    fn multivariate_unequal_length_with_missing_values() {
        let (h, cases) = parse(SMALL).unwrap();
        assert_eq!(h.problem_name.as_deref(), Some("Tiny"));
        assert_eq!(h.description, "a test problem two lines");
        assert_eq!(h.class_labels, Some(vec!["up".to_string(), "down".to_string()]));
        assert_eq!(cases.len(), 3);
        assert_eq!(cases[0].dims, vec![vec![1.0, 2.0, 3.0], vec![4.0, 5.0, 6.0]]);
        assert!(cases[1].dims[0][1].is_nan() && cases[1].dims[0][2].is_nan());
        assert_eq!(cases[1].label.as_deref(), Some("down"));
        assert_eq!(cases[2].dims[0].len(), 2);
    }

    #[test]
    fn univariate_without_labels() {
        let (h, cases) = parse("@problemName U\n@univariate true\n@classLabel false\n@data\n1,2\n3,4\n").unwrap();
        assert_eq!(h.class_labels, None);
        assert_eq!(cases[1].dims, vec![vec![3.0, 4.0]]);
        assert_eq!(cases[1].label, None);
    }

    #[test]
    fn broken_files_name_the_line_and_the_problem() {
        let cases = [
            ("@problemName X\n@dimensions 2\n@classLabel true a\n@data\n1,2:3,4:b\n", 5, "not one of the labels"),
            ("@problemName X\n@dimensions 3\n@classLabel true a\n@data\n1,2:3,4:a\n", 5, "declares 3"),
            ("@problemName X\n@bogus 1\n@data\n", 2, "unknown header directive"),
            ("@problemName X\n@timeStamps true\n@data\n", 2, "time stamps"),
            ("@problemName X\n@classLabel true a\n", 2, "no @data"),
            ("@problemName X\n@classLabel true a\n@data\n1,x:a\n", 4, "not a number"),
            ("@problemName X\n@classLabel true a\n@data\n1,2:3:a\n", 4, "equal, non-zero lengths"),
            ("hello\n", 1, "header line"),
            (
                "@problemName X\n@equalLength true\n@seriesLength 3\n@classLabel true a\n@data\n1,2:a\n",
                6,
                "@seriesLength",
            ),
            ("@problemName X\n@univariate true\n@dimensions 2\n@data\n", 1, "contradicts"),
            ("@problemName X\n@classLabel true a\n@data\n1,inf:a\n", 4, "finite"),
        ];
        for (text, line, needle) in cases {
            let e = parse(text).unwrap_err();
            assert_eq!(e.line, line, "{text:?}: {e}");
            assert!(e.message.contains(needle), "{text:?}: {e}");
        }
    }
}

#[cfg(test)]
mod wide_tests {
    /// Issue 28 row 10: a million dimensions is refused while reading, not after building a
    /// 600 MB manifest.
    #[test]
    fn issue28_row10_too_many_dimensions_are_refused_while_reading() {
        let declared = "@problemName W\n@dimensions 1000000\n@classLabel true a\n@data\n";
        assert!(super::parse(declared).unwrap_err().message.contains("more than the 4096 channels"));
        let wide = format!("@problemName W\n@classLabel true a\n@data\n{}:a\n", vec!["1"; 1_000_000].join(":"));
        let e = super::parse(&wide).unwrap_err();
        assert!(e.message.contains("1000000 dimensions"), "{e}");
    }
}
