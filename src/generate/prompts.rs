//! Prompt templates: `prompts/*.md` embedded in the binary, overridable with
//! `--prompts DIR`. A template has a `## system` and a `## user` section and
//! `{{placeholders}}`; an unknown placeholder is an error when the templates load, not a
//! silently empty string in a thousand requests.

use std::path::Path;

use serde_json::{json, Value};

pub const PLACEHOLDERS: &[&str] =
    &["manifest", "labels", "query", "history", "tools", "artifacts", "actions", "finish_rule", "reply_format"];

const QUERY: &str = include_str!("../../prompts/query.md");
const STEP: &str = include_str!("../../prompts/step.md");
const FINAL_ANSWER: &str = include_str!("../../prompts/final_answer.md");

#[derive(Debug, Clone)]
pub struct Template {
    system: String,
    user: String,
}

#[derive(Debug, Clone)]
pub struct Prompts {
    pub query: Template,
    pub step: Template,
    pub final_answer: Template,
}

impl Prompts {
    pub fn embedded() -> Prompts {
        let t = |text| Template::parse(text).expect("embedded templates parse (tested)");
        Prompts { query: t(QUERY), step: t(STEP), final_answer: t(FINAL_ANSWER) }
    }

    /// The embedded templates, with any of `query.md`, `step.md`, `final_answer.md` found in `dir` replacing them.
    /// Every problem is reported at once: each unknown file (a misspelled template would
    /// otherwise be ignored in silence) and each unknown placeholder.
    pub fn load(dir: Option<&Path>) -> Result<Prompts, String> {
        let mut prompts = Prompts::embedded();
        let Some(dir) = dir else { return Ok(prompts) };
        if !dir.is_dir() {
            return Err(format!("--prompts {}: not a directory", dir.display()));
        }
        let mut problems = Vec::new();
        let known: Vec<String> = NAMES.iter().map(|n| format!("{n}.md")).collect();
        let mut entries: Vec<String> = std::fs::read_dir(dir)
            .map_err(|e| format!("--prompts {}: {e}", dir.display()))?
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| !n.starts_with('.'))
            .collect();
        entries.sort();
        for name in entries.iter().filter(|n| !known.contains(n)) {
            problems.push(format!("{}: not a template (the templates are {})", dir.join(name).display(), known.join(", ")));
        }
        for (name, slot) in
            [("query", &mut prompts.query), ("step", &mut prompts.step), ("final_answer", &mut prompts.final_answer)]
        {
            let path = dir.join(format!("{name}.md"));
            match crate::open::read_to_string(&path, crate::open::MAX_SIDE_FILE) {
                Ok(text) => match Template::parse(&text) {
                    Ok(t) => *slot = t,
                    Err(e) => problems.extend(e.lines().map(|l| format!("{}: {l}", path.display()))),
                },
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => problems.push(format!("{}: {e}", path.display())),
            }
        }
        if problems.is_empty() {
            Ok(prompts)
        } else {
            Err(problems.join("\n"))
        }
    }

    /// Write the embedded templates into `dir`, to start a `--prompts` folder from. Never
    /// over an existing file.
    pub fn dump(dir: &Path) -> Result<Vec<std::path::PathBuf>, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut written = Vec::new();
        for (name, text) in NAMES.iter().zip([QUERY, STEP, FINAL_ANSWER]) {
            let path = dir.join(format!("{name}.md"));
            crate::write::atomic_create(&path, text.as_bytes()).map_err(|e| {
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    format!("{} exists already; nothing was replaced", path.display())
                } else {
                    format!("{}: {e}", path.display())
                }
            })?;
            written.push(path);
        }
        Ok(written)
    }
}

/// The templates, by file stem.
pub const NAMES: [&str; 3] = ["query", "step", "final_answer"];

impl Template {
    pub fn parse(text: &str) -> Result<Template, String> {
        let (system, user) = match (text.find("## system\n"), text.find("## user\n")) {
            (Some(s), Some(u)) if s < u => (&text[s + 10..u], &text[u + 8..]),
            _ => return Err("a template needs a `## system` section followed by a `## user` section".into()),
        };
        let mut unknown = Vec::new();
        for part in [system, user] {
            let mut rest = part;
            while let Some(at) = rest.find("{{") {
                let end = rest[at..].find("}}").ok_or("a `{{` without `}}`")?;
                let key = &rest[at + 2..at + end];
                if !PLACEHOLDERS.contains(&key) && !unknown.contains(&key) {
                    unknown.push(key);
                }
                rest = &rest[at + end + 2..];
            }
        }
        if !unknown.is_empty() {
            return Err(unknown
                .iter()
                .map(|k| format!("unknown placeholder {{{{{k}}}}}; the placeholders are {}", PLACEHOLDERS.join(", ")))
                .collect::<Vec<_>>()
                .join("\n"));
        }
        Ok(Template { system: system.trim().to_string(), user: user.trim().to_string() })
    }

    /// The chat messages of a request, placeholders filled from `values` (missing ones empty).
    pub fn render(&self, values: &[(&str, &str)]) -> Vec<Value> {
        let fill = |s: &str| {
            let mut out = String::with_capacity(s.len() * 2);
            let mut rest = s;
            while let Some(at) = rest.find("{{") {
                out.push_str(&rest[..at]);
                let end = rest[at..].find("}}").map_or(rest.len(), |e| at + e);
                let key = &rest[at + 2..end];
                out.push_str(values.iter().find(|(k, _)| *k == key).map_or("", |(_, v)| v));
                rest = &rest[(end + 2).min(rest.len())..];
            }
            out.push_str(rest);
            out
        };
        vec![
            json!({"role": "system", "content": fill(&self.system)}),
            json!({"role": "user", "content": fill(&self.user)}),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_templates_parse_and_fill() {
        let p = Prompts::embedded();
        let m = p.step.render(&[("query", "What is happening?"), ("labels", "Walking, Running")]);
        let user = m[1]["content"].as_str().unwrap();
        assert!(user.contains("Question: What is happening?"));
        assert!(!user.contains("{{"));
    }

    #[test]
    fn unknown_placeholders_and_missing_sections_are_errors() {
        assert!(Template::parse("## system\nhi {{ground_truth}}\n## user\nq").unwrap_err().contains("ground_truth"));
        assert!(Template::parse("no sections").is_err());
    }

    #[test]
    fn every_unknown_file_and_placeholder_is_reported_and_dump_starts_a_folder() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("querry.md"), "x").unwrap();
        std::fs::write(dir.path().join("step.md"), "## system\n{{a}} {{b}}\n## user\n{{a}}").unwrap();
        let e = Prompts::load(Some(dir.path())).unwrap_err();
        assert!(e.contains("querry.md: not a template") && e.contains("{{a}}") && e.contains("{{b}}"), "{e}");
        assert_eq!(e.lines().count(), 3, "{e}");
        let fresh = dir.path().join("fresh");
        assert_eq!(Prompts::dump(&fresh).unwrap().len(), 3);
        assert!(Prompts::load(Some(&fresh)).is_ok());
        assert!(Prompts::dump(&fresh).unwrap_err().contains("exists already"));
    }

    #[test]
    fn a_prompts_folder_overrides_one_template() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("query.md"), "## system\nS\n## user\nAsk about {{manifest}}").unwrap();
        let p = Prompts::load(Some(dir.path())).unwrap();
        assert_eq!(p.query.render(&[("manifest", "M")])[1]["content"], "Ask about M");
        assert!(p.step.render(&[])[0]["content"].as_str().unwrap().contains("careful analyst"));
    }
}
