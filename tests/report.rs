//! `threadkit report`: the page's numbers are `stats`' numbers, every thread is in it, its
//! data survives hostile text, the recordings are plotted with replay status, and a failed
//! write never leaves half a page. The browser half of the proof (console, DOM, filtering,
//! screenshot) is `tests/browser/report.test.mjs`, run by `.ci/run` in headless Chromium.

mod common;

use std::collections::BTreeSet;

use common::threadkit;
use serde_json::Value;

/// The JSON block `<script type="application/json" id="ID">…</script>` of a page.
fn block(html: &str, id: &str) -> Value {
    let open = format!("<script type=\"application/json\" id=\"{id}\">");
    let start = html.find(&open).unwrap_or_else(|| panic!("no block {id}")) + open.len();
    let end = start + html[start..].find("</script>").expect("closed");
    serde_json::from_str(&html[start..end]).unwrap_or_else(|e| panic!("block {id} is not JSON: {e}"))
}

/// The number in `<b data-total="KEY">N</b>`.
fn total(html: &str, key: &str) -> f64 {
    let open = format!("data-total=\"{key}\">");
    let start = html.find(&open).unwrap_or_else(|| panic!("no total {key}")) + open.len();
    html[start..start + html[start..].find('<').unwrap()].parse().unwrap()
}

fn report(args: &[&str]) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report.html");
    let mut all = vec!["report", "--out", out.to_str().unwrap(), "-q"];
    all.extend_from_slice(args);
    let run = threadkit(&all);
    assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stderr));
    (std::fs::read_to_string(&out).unwrap(), String::from_utf8(run.stdout).unwrap())
}

/// The text of the page between two markers, tags dropped.
fn section_text(html: &str, from: &str, to: &str) -> String {
    let start = html.find(from).unwrap_or_else(|| panic!("no {from}"));
    let end = start + html[start..].find(to).unwrap_or_else(|| panic!("no {to} after {from}"));
    let mut text = String::new();
    let mut in_tag = false;
    for c in html[start..end].chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                text.push(' ');
            }
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    let text = text.replace("&#x2f;", "/").replace("&#x27;", "'").replace("&quot;", "\"").replace("&lt;", "<").replace("&gt;", ">");
    text.replace("&amp;", "&").split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn the_quality_section_counts_what_quality_finds_and_lists_the_worst_threads() {
    let (html, _) = report(&["fixtures/quality/train", "--against", "fixtures/quality/eval"]);
    let quality = threadkit(&["quality", "--format", "json", "fixtures/quality/train", "--against", "fixtures/quality/eval"]);
    let quality: Value = serde_json::from_slice(&quality.stdout).unwrap();
    // Threads flagged per rule, by `threadkit quality` itself.
    let mut threads_per_rule = std::collections::BTreeMap::<String, usize>::new();
    let mut per_thread = std::collections::BTreeMap::<String, (usize, usize)>::new();
    for file in quality["files"].as_array().unwrap() {
        let codes: BTreeSet<&str> = file["diagnostics"].as_array().unwrap().iter().map(|d| d["code"].as_str().unwrap()).filter(|c| c.starts_with("TKQ")).collect();
        for c in &codes {
            *threads_per_rule.entry(c.to_string()).or_default() += 1;
        }
        let sev = |s: &str| file["diagnostics"].as_array().unwrap().iter().filter(|d| d["code"].as_str().unwrap().starts_with("TKQ") && d["severity"] == s).count();
        per_thread.insert(file["path"].as_str().unwrap().to_string(), (sev("error"), sev("warning")));
    }
    assert!(threads_per_rule.get("TKQ08").is_some_and(|&n| n > 0) && threads_per_rule.get("TKQ09").is_some_and(|&n| n > 0), "the fixture has corpus findings: {threads_per_rule:?}");
    let section = section_text(&html, "<section id=\"quality\">", "<h3>Worst threads");
    for (code, n) in &threads_per_rule {
        // A row: code, name, severity, threads, findings.
        let at = section.find(&format!("{code} ")).unwrap_or_else(|| panic!("{code} has a row: {section}"));
        let threads: usize = section[at..].split(' ').nth(3).unwrap().parse().unwrap();
        assert_eq!(threads, *n, "threads flagged by {code}");
    }
    // The worst threads come first: no thread `quality` reports has more errors than the first listed.
    let worst = section_text(&html, "<ol id=\"worst\">", "</ol>");
    let first = worst.split(' ').next().unwrap();
    let most = per_thread.values().map(|(e, _)| *e).max().unwrap();
    assert_eq!(per_thread[first].0, most, "{first} heads the list: {worst}");
    assert!(worst.contains(&format!("{most} error")), "{worst}");
    // Corpus findings are marked as found across threads, so the viewer lists them on top.
    let findings = block(&html, "findings-data");
    for f in findings.as_array().unwrap() {
        let corpus = f["code"] == "TKQ08" || f["code"] == "TKQ09";
        if corpus {
            assert_eq!(f["across"], true, "{f}");
            assert!(f["thread"].is_u64(), "{f}");
        }
    }
}

#[test]
fn totals_are_the_numbers_of_stats() {
    let (html, said) = report(&["fixtures/threads", "fixtures/report/threads"]);
    let stats = threadkit(&["stats", "--format", "json", "fixtures/threads", "fixtures/report/threads"]);
    let stats: Value = serde_json::from_slice(&stats.stdout).unwrap();
    assert_eq!(block(&html, "stats"), stats, "the page carries stats' JSON unchanged");
    for key in ["files", "threads", "unreadable", "judged", "correct", "tool_calls", "tool_errors"] {
        assert_eq!(total(&html, key), stats[key].as_f64().unwrap(), "{key}");
    }
    assert_eq!(total(&html, "tokens_mean"), stats["tokens"]["mean"].as_f64().unwrap());
    let rows = block(&html, "rows");
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len() as u64, stats["threads"].as_u64().unwrap());
    assert_eq!(total(&html, "valid") + total(&html, "invalid"), rows.len() as f64);
    assert!(said.contains(&format!("{} threads", rows.len())), "{said}");
    // One transcript per row, each a JSON block of its own.
    for (n, row) in rows.iter().enumerate() {
        assert_eq!(row["n"], n);
        let t = block(&html, &format!("t{n}"));
        assert_eq!(t["id"].as_str().unwrap_or(""), row["id"].as_str().unwrap());
    }
}

#[test]
fn every_thread_file_is_a_row() {
    let (html, _) = report(&["fixtures/threads/valid", "fixtures/threads/legacy_python", "fixtures/report/threads"]);
    let ids: BTreeSet<String> =
        block(&html, "rows").as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_string()).collect();
    for dir in ["fixtures/threads/valid", "fixtures/threads/legacy_python", "fixtures/report/threads"] {
        for f in std::fs::read_dir(common::root().join(dir)).unwrap() {
            let path = f.unwrap().path();
            if path.extension().is_some_and(|e| e == "json") {
                // Legacy files written by Python carry `NaN`, which no strict JSON parser reads:
                // the id is read off the text.
                let text = std::fs::read_to_string(&path).unwrap();
                let at = text.find("\"id\"").or(text.find("\"thread_id\"")).unwrap();
                let id = text[at..].split('"').nth(3).unwrap();
                assert!(ids.contains(id), "{id} of {} is not in the table", path.display());
            }
        }
    }
}

#[test]
fn findings_link_to_their_thread_and_message() {
    let (html, _) = report(&["fixtures/threads/rules"]);
    let findings = block(&html, "findings-data");
    let rows = block(&html, "rows");
    let findings = findings.as_array().unwrap();
    assert!(!findings.is_empty());
    let validate = threadkit(&["validate", "--format", "json", "fixtures/threads/rules"]);
    let validate: Value = serde_json::from_slice(&validate.stdout).unwrap();
    // The quality rules' findings are listed beside validate's (eval overlap needs `--against`).
    let is_per_thread_quality = |code: &str| code.starts_with("TKQ") && code != "TKQ09";
    let count = |report: &Value, quality_only: bool| -> usize {
        report["files"].as_array().unwrap().iter().flat_map(|f| f["diagnostics"].as_array().unwrap()).filter(|d| !quality_only || is_per_thread_quality(d["code"].as_str().unwrap())).count()
    };

    let quality = threadkit(&["quality", "--format", "json", "fixtures/threads/rules"]);
    let quality: Value = serde_json::from_slice(&quality.stdout).unwrap();
    let expected = count(&validate, false) + count(&quality, true);
    assert_eq!(findings.len(), expected, "the report lists what validate and quality find");
    let mut linked_to_message = 0;
    for f in findings {
        assert!(html.contains(&format!("data-code=\"{}\"", f["code"].as_str().unwrap())), "a group per rule");
        if let Some(n) = f["thread"].as_u64() {
            let row = &rows[n as usize];
            assert!(f["place"].as_str().unwrap().starts_with(row["place"].as_str().unwrap()), "{f} → {row}");
            if let Some(m) = f["message_index"].as_u64() {
                let t = block(&html, &format!("t{n}"));
                let steps = t["steps"].as_array().unwrap();
                let top = t["findings"].as_array().unwrap();
                assert!(
                    steps.iter().any(|s| s["message"] == m) || !top.is_empty(),
                    "message {m} of thread {n} has a step to scroll to"
                );
                linked_to_message += 1;
            }
        }
    }
    assert!(linked_to_message > 0, "some findings point into messages");
}

#[test]
fn with_a_data_root_every_call_has_its_replay_and_plots() {
    let (html, said) = report(&["fixtures/report/threads", "--data-root", "fixtures/datasets"]);
    assert!(said.contains("with recordings"), "{said}");
    let rows = block(&html, "rows");
    let mut statuses = BTreeSet::new();
    let mut plotted = BTreeSet::new();
    for (n, row) in rows.as_array().unwrap().iter().enumerate() {
        let t = block(&html, &format!("t{n}"));
        for s in t["steps"].as_array().unwrap().iter().filter(|s| s["kind"] == "call") {
            let status = s["replay"]["status"].as_str().unwrap_or_else(|| panic!("call without replay status: {s}"));
            statuses.insert(status.to_string());
            if let Some(plot) = s["plot"].as_str() {
                assert!(plot.starts_with("<svg class=\"plot\"") && plot.contains("<polyline"), "{plot}");
                plotted.insert((s["name"].as_str().unwrap().to_string(), plot.matches("<polyline").count()));
            }
        }
        if row["id"] == "basic_motions_test_0028_v4_9002" {
            assert_eq!(row["replay_problems"], 1, "the tampered result is found");
        }
    }
    assert_eq!(statuses, BTreeSet::from(["reproduced".to_string(), "differs".to_string()]));
    // The chain select_channels → filter_by_time → compute_features plots 3 channels each
    // time; dataset-level tools plot nothing; compute_features on the session plots all 6.
    assert!(plotted.contains(&("select_channels".into(), 3)), "{plotted:?}");
    assert!(plotted.contains(&("filter_by_time".into(), 3)), "{plotted:?}");
    assert!(plotted.contains(&("compute_features".into(), 6)), "{plotted:?}");
    assert!(!plotted.iter().any(|(name, _)| name == "show_channel_stats"));
    assert!(html.contains("data-map=\"replay\""));
}

#[test]
fn thread_text_cannot_escape_its_block() {
    let (html, _) = report(&["fixtures/report/threads"]);
    // A reasoning text of the fixture carries `</script><script>alert('x')</script>`.
    assert!(!html.contains("</script><script>alert"));
    assert!(!html.contains("<b>bold?</b>"));
    let rows = block(&html, "rows");
    let n = rows.as_array().unwrap().iter().position(|r| r["id"] == "basic_motions_test_0028_v4_9002").unwrap();
    let t = block(&html, &format!("t{n}"));
    assert!(t["steps"].as_array().unwrap().iter().any(|s| s["text"].as_str().unwrap_or("").contains("</script><script>alert('x')</script> <b>bold?</b> & done")));
}

/// A page of an empty folder would say "No findings" of a corpus that is elsewhere (a wrong
/// path): refused as `validate` refuses it, and no page is written.
#[test]
fn an_empty_folder_makes_no_page() {
    let empty = tempfile::tempdir().unwrap();
    let out = empty.path().join("report.html");
    let run = threadkit(&["report", "--out", out.to_str().unwrap(), "-q", empty.path().to_str().unwrap()]);
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("nothing was checked: no thread files"));
    assert!(!out.exists());
}

#[test]
fn bad_outputs_are_refused_and_the_old_report_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let run = threadkit(&["report", "fixtures/threads/valid", "--out", dir.path().to_str().unwrap()]);
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("is a directory"));
    let missing = dir.path().join("no/such/folder/r.html");
    let run = threadkit(&["report", "fixtures/threads/valid", "--out", missing.to_str().unwrap(), "-q"]);
    assert_eq!(run.status.code(), Some(2));
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(err.contains("cannot write the report") && err.contains("r.html"), "{err}");
    // A data root that is not there: nothing written, the previous report untouched.
    let out = dir.path().join("r.html");
    std::fs::write(&out, "previous").unwrap();
    let run = threadkit(&["report", "fixtures/threads/valid", "--out", out.to_str().unwrap(), "--data-root", "nope"]);
    assert_eq!(run.status.code(), Some(2));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "previous");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers.len(), 1, "{leftovers:?}");
}
