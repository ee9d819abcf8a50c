//! Sensor datasets in the layout of FORMATS.md §4:
//! `manifest.json`, `labels.json`, `sessions/<id>/data.parquet`.

pub mod check;
pub mod error;
pub mod import;
pub mod info;
pub mod layout;
pub mod recording;
pub mod uea_ts;
