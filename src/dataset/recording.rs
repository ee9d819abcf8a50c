//! One session's samples in memory, and its `data.parquet` file on disk:
//! `timestamp_sec` (seconds from the session start, first) then one float column per channel.

use std::path::Path;
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, Float32Array, Float64Array, Int32Array, Int64Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

pub const TIME_COLUMN: &str = "timestamp_sec";

/// The largest session file read (the auditor, the tools and the importer use the same bound).
pub const MAX_SESSION_BYTES: u64 = 256 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq)]
pub struct Recording {
    pub timestamps: Vec<f64>,
    pub channels: Vec<(String, Vec<f64>)>,
}

/// Most values (rows × columns) one session may decode to: 256 MiB of `f64`, days of
/// recording at 100 Hz over a dozen channels.
pub const MAX_SESSION_VALUES: u64 = 32 << 20;

impl Recording {
    pub fn len(&self) -> usize {
        self.timestamps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.timestamps.is_empty()
    }

    pub fn duration_sec(&self) -> f64 {
        match (self.timestamps.first(), self.timestamps.last()) {
            (Some(a), Some(b)) => b - a,
            _ => 0.0,
        }
    }

    pub fn channel(&self, name: &str) -> Option<&[f64]> {
        self.channels.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_slice())
    }

    /// The parquet bytes of this recording. Deterministic: the same samples give the same bytes.
    pub fn to_parquet(&self) -> Result<Vec<u8>, String> {
        let mut fields = vec![Field::new(TIME_COLUMN, DataType::Float64, false)];
        let mut columns: Vec<ArrayRef> = vec![Arc::new(Float64Array::from(self.timestamps.clone()))];
        for (name, values) in &self.channels {
            if values.len() != self.timestamps.len() {
                return Err(format!(
                    "channel {name} has {} samples, the time column {}",
                    values.len(),
                    self.timestamps.len()
                ));
            }
            fields.push(Field::new(name, DataType::Float64, true));
            columns.push(Arc::new(Float64Array::from(values.clone())));
        }
        let schema = Arc::new(Schema::new(fields));
        let batch = RecordBatch::try_new(schema.clone(), columns).map_err(|e| e.to_string())?;
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_created_by(concat!("threadkit ", env!("CARGO_PKG_VERSION")).to_string())
            .build();
        let mut out = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut out, schema, Some(props)).map_err(|e| e.to_string())?;
        writer.write(&batch).map_err(|e| e.to_string())?;
        writer.close().map_err(|e| e.to_string())?;
        Ok(out)
    }

    /// Read a session file. Any numeric column type is accepted and widened to `f64`;
    /// a corrupt or non-numeric file is an error naming the problem.
    pub fn from_parquet(path: &Path, max_bytes: u64) -> Result<Recording, String> {
        Self::from_parquet_bounded(path, max_bytes, MAX_SESSION_VALUES)
    }

    fn from_parquet_bounded(path: &Path, max_bytes: u64, max_values: u64) -> Result<Recording, String> {
        let file = crate::open::open(path).map_err(|e| format!("cannot open: {e}"))?;
        let size = file.metadata().map_err(|e| e.to_string())?.len();
        if size > max_bytes {
            return Err(format!("{size} bytes is larger than the {max_bytes}-byte limit for one session"));
        }
        let builder =
            ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| format!("not a readable parquet file: {e}"))?;
        let schema = builder.schema().clone();
        let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
        // A few kilobytes of run-length encoded parquet can claim billions of rows: the
        // decoded size is bounded before anything is allocated, and again while decoding.
        let too_many = |rows: u64| {
            format!(
                "{rows} rows × {} columns is more than the {max_values} decoded values one session may hold",
                names.len()
            )
        };
        let claimed = u64::try_from(builder.metadata().file_metadata().num_rows()).unwrap_or(u64::MAX);
        if claimed.saturating_mul(names.len() as u64) > max_values {
            return Err(too_many(claimed));
        }
        let mut columns: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
        let reader = builder.build().map_err(|e| format!("not a readable parquet file: {e}"))?;
        let mut decoded = 0u64;
        for batch in reader {
            let batch = batch.map_err(|e| format!("corrupt parquet data: {e}"))?;
            decoded += batch.num_rows() as u64;
            if decoded.saturating_mul(names.len() as u64) > max_values {
                return Err(too_many(decoded));
            }
            for (i, column) in batch.columns().iter().enumerate() {
                append_numbers(column.as_ref(), &mut columns[i])
                    .map_err(|t| format!("column {} has type {t}, not a number", names[i]))?;
            }
        }
        let Some(time_at) = names.iter().position(|n| n == TIME_COLUMN) else {
            return Err(format!("no {TIME_COLUMN} column (columns: {})", names.join(", ")));
        };
        let timestamps = std::mem::take(&mut columns[time_at]);
        let channels =
            names.into_iter().zip(columns).enumerate().filter(|(i, _)| *i != time_at).map(|(_, c)| c).collect();
        Ok(Recording { timestamps, channels })
    }
}

fn append_numbers(column: &dyn Array, out: &mut Vec<f64>) -> Result<(), String> {
    let any = column.as_any();
    macro_rules! widen {
        ($t:ty) => {
            if let Some(a) = any.downcast_ref::<$t>() {
                out.extend((0..a.len()).map(|i| if a.is_null(i) { f64::NAN } else { a.value(i) as f64 }));
                return Ok(());
            }
        };
    }
    widen!(Float64Array);
    widen!(Float32Array);
    widen!(Int64Array);
    widen!(Int32Array);
    Err(column.data_type().to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn decoded_size_is_bounded_before_decoding() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/datasets/basic_motions/sessions");
        let session = std::fs::read_dir(&dir).unwrap().next().unwrap().unwrap().path().join("data.parquet");
        let e = Recording::from_parquet_bounded(&session, 1 << 30, 100).unwrap_err();
        assert!(e.contains("100 rows × 7 columns") && e.contains("100 decoded values"), "{e}");
        assert!(Recording::from_parquet(&session, 1 << 30).is_ok());
    }

    use super::*;

    #[test]
    fn round_trip_is_exact_and_deterministic() {
        let rec = Recording {
            timestamps: vec![0.0, 0.1, 0.2],
            channels: vec![("acc_x".into(), vec![1.5, f64::NAN, -2.25]), ("acc_y".into(), vec![0.0, 1e-9, 3.0])],
        };
        let bytes = rec.to_parquet().unwrap();
        assert_eq!(bytes, rec.to_parquet().unwrap());
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("data.parquet");
        std::fs::write(&p, &bytes).unwrap();
        let back = Recording::from_parquet(&p, 1 << 20).unwrap();
        assert_eq!(back.timestamps, rec.timestamps);
        assert_eq!(back.channels[0].0, "acc_x");
        assert!(back.channels[0].1[1].is_nan());
        assert_eq!(back.channels[1].1, rec.channels[1].1);
    }

    #[test]
    fn corrupt_and_oversized_files_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("data.parquet");
        std::fs::write(&p, b"PAR1 this is not parquet PAR1").unwrap();
        assert!(Recording::from_parquet(&p, 1 << 20).unwrap_err().contains("not a readable parquet file"));
        let rec = Recording { timestamps: vec![0.0; 1000], channels: vec![] };
        std::fs::write(&p, rec.to_parquet().unwrap()).unwrap();
        assert!(Recording::from_parquet(&p, 100).unwrap_err().contains("larger than"));
        // Truncated: the footer is gone.
        let bytes = rec.to_parquet().unwrap();
        std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
        assert!(Recording::from_parquet(&p, 1 << 20).is_err());
    }
}
