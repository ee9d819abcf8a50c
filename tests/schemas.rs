//! The dataset schemas accept the real manifests and labels of public HAR datasets,
//! and reject what breaks the layout; `threadkit schema` prints exactly the shipped files.

mod common;
use common::*;

#[test]
fn all_17_real_manifests_pass_the_manifest_schema() {
    let mut n = 0;
    for e in std::fs::read_dir(fixtures().join("manifests")).unwrap() {
        let path = e.unwrap().path();
        let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let errors: Vec<String> = threadkit::schema::manifest().iter_errors(&doc).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{}: {errors:?}", path.display());
        n += 1;
    }
    assert_eq!(n, 17);
}

#[test]
fn real_labels_pass_the_labels_schema() {
    for dataset in ["uci_har", "mhealth"] {
        let text = std::fs::read_to_string(fixtures().join("data").join(dataset).join("labels.json")).unwrap();
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert!(threadkit::schema::labels().is_valid(&doc), "{dataset}");
    }
}

#[test]
fn broken_datasets_are_rejected() {
    use serde_json::json;
    let manifest = threadkit::schema::manifest();
    assert!(!manifest.is_valid(&json!({"dataset_name": "x", "description": "d"})), "channels are required");
    assert!(!manifest.is_valid(
        &json!({"dataset_name": "x", "description": "d", "channels": [{"name": "a", "sampling_rate_hz": 0}]})
    ));
    assert!(!manifest.is_valid(&json!({"dataset_name": "x", "description": "d", "channels": [{"name": "timestamp_sec", "sampling_rate_hz": 50}]})));
    let labels = threadkit::schema::labels();
    assert!(!labels.is_valid(&json!({"s1": "walking"})), "labels are lists");
    assert!(!labels.is_valid(&json!({"s1": []})), "at least one label");
    assert!(!labels.is_valid(&json!({"../etc": ["x"]})), "session ids are single path components");
}

#[test]
fn schema_command_prints_the_shipped_files() {
    for s in threadkit::schema::SCHEMAS {
        let out = threadkit(&["schema", s.name]);
        assert_eq!(out.status.code(), Some(0));
        let on_disk = std::fs::read(root().join("schemas").join(s.file)).unwrap();
        assert_eq!(out.stdout, on_disk, "{}", s.name);
    }
}
