//! One session's samples in memory, and its `data.parquet` file on disk:
//! `timestamp_sec` (seconds from the session start, first) then one float column per channel.

//!
//! Read and written with parquet's own column readers and writers (no Arrow: the few
//! numeric column types a recording has do not need its stack, which was a third of a
//! cold build).

use std::path::Path;
use std::sync::Arc;

use parquet::basic::{Compression, Repetition, Type as PhysicalType};
use parquet::column::reader::{ColumnReader, ColumnReaderImpl};
use parquet::data_type::{DataType, DoubleType};
use parquet::file::properties::WriterProperties;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::Type;

pub use super::error::{ColumnProblem, RecordingError};
use super::layout::TIME_COLUMN;

/// The largest session file read (the auditor, the tools and the importer use the same bound).
pub const MAX_SESSION_BYTES: u64 = 256 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq)]
pub struct Recording {
    pub timestamps: Vec<f64>,
    pub channels: Vec<(String, Vec<f64>)>,
}

/// Most channels one session may have. The widest recordings in the UEA archive have 1,345
/// dimensions (DuckDuckGeese), HAR datasets a few hundred; a million columns makes a 600 MB
/// manifest and parquet footer that nothing reads back.
pub const MAX_CHANNELS: usize = 4096;

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
        let column = |name: &str, repetition| {
            Type::primitive_type_builder(name, PhysicalType::DOUBLE).with_repetition(repetition).build().map(Arc::new)
        };
        let mut fields = vec![column(TIME_COLUMN, Repetition::REQUIRED).map_err(|e| e.to_string())?];
        for (name, values) in &self.channels {
            if values.len() != self.timestamps.len() {
                return Err(format!(
                    "channel {name} has {} samples, the time column {}",
                    values.len(),
                    self.timestamps.len()
                ));
            }
            fields.push(column(name, Repetition::OPTIONAL).map_err(|e| e.to_string())?);
        }
        let schema = Type::group_type_builder("schema").with_fields(fields).build().map_err(|e| e.to_string())?;
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_created_by(concat!("threadkit ", env!("CARGO_PKG_VERSION")).to_string())
            .build();
        let mut out = Vec::new();
        let mut writer =
            SerializedFileWriter::new(&mut out, Arc::new(schema), Arc::new(props)).map_err(|e| e.to_string())?;
        let mut group = writer.next_row_group().map_err(|e| e.to_string())?;
        // Channels are OPTIONAL (as pandas and Arrow write float columns) with every value present.
        let present = vec![1i16; self.timestamps.len()];
        let values = std::iter::once((&self.timestamps, None)).chain(self.channels.iter().map(|(_, v)| (v, Some(&present[..]))));
        for (values, levels) in values {
            let mut col = group.next_column().map_err(|e| e.to_string())?.ok_or("the schema has fewer columns")?;
            col.typed::<DoubleType>().write_batch(values, levels, None).map_err(|e| e.to_string())?;
            col.close().map_err(|e| e.to_string())?;
        }
        group.close().map_err(|e| e.to_string())?;
        writer.close().map_err(|e| e.to_string())?;
        Ok(out)
    }

    /// Read a session file. Any numeric column type is accepted and widened to `f64`;
    /// a corrupt or non-numeric file is an error naming the problem.
    pub fn from_parquet(path: &Path, max_bytes: u64) -> Result<Recording, RecordingError> {
        Self::from_parquet_bounded(path, max_bytes, MAX_SESSION_VALUES)
    }

    /// The number of samples a session file says it holds (its footer only).
    pub fn row_count(path: &Path) -> Result<u64, RecordingError> {
        let file = crate::open::open(path).map_err(|e| RecordingError::Open(e.to_string()))?;
        let reader = SerializedFileReader::new(file).map_err(|e| RecordingError::NotParquet(e.to_string()))?;
        Ok(u64::try_from(reader.metadata().file_metadata().num_rows()).unwrap_or(0))
    }

    fn from_parquet_bounded(path: &Path, max_bytes: u64, max_values: u64) -> Result<Recording, RecordingError> {
        let file = crate::open::open(path).map_err(|e| RecordingError::Open(e.to_string()))?;
        let size = file.metadata().map_err(|e| RecordingError::Open(e.to_string()))?.len();
        if size > max_bytes {
            return Err(RecordingError::TooLarge { bytes: size, limit: max_bytes });
        }
        let reader = SerializedFileReader::new(file).map_err(|e| RecordingError::NotParquet(e.to_string()))?;
        let schema = reader.metadata().file_metadata().schema_descr_ptr();
        if schema.num_columns() > MAX_CHANNELS + 1 {
            return Err(RecordingError::TooManyColumns { columns: schema.num_columns(), limit: MAX_CHANNELS });
        }
        let names: Vec<String> = schema.columns().iter().map(|c| c.name().to_string()).collect();
        // A few kilobytes of run-length encoded parquet can claim billions of rows: the
        // decoded size is bounded before anything is allocated, and again while decoding.
        let too_many = |rows: u64| RecordingError::TooManyValues { rows, columns: names.len(), limit: max_values };
        let claimed = u64::try_from(reader.metadata().file_metadata().num_rows()).unwrap_or(u64::MAX);
        if claimed.saturating_mul(names.len() as u64) > max_values {
            return Err(too_many(claimed));
        }
        let mut columns: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
        for g in 0..reader.num_row_groups() {
            let group = reader.get_row_group(g).map_err(|e| RecordingError::Corrupt(e.to_string()))?;
            let rows = usize::try_from(group.metadata().num_rows()).unwrap_or(usize::MAX);
            let decoded = columns.first().map_or(0, Vec::len) as u64 + rows as u64;
            if decoded.saturating_mul(names.len() as u64) > max_values {
                return Err(too_many(decoded));
            }
            for (i, out) in columns.iter_mut().enumerate() {
                let column = group.get_column_reader(i).map_err(|e| RecordingError::Corrupt(e.to_string()))?;
                let before = out.len();
                let max_def = schema.column(i).max_def_level();
                read_numbers(column, rows, max_def, out)
                    .map_err(|problem| RecordingError::Column { name: names[i].clone(), problem })?;
                if out.len() - before != rows {
                    return Err(RecordingError::ShortColumn { name: names[i].clone(), got: out.len() - before, rows });
                }
            }
        }
        let Some(time_at) = names.iter().position(|n| n == TIME_COLUMN) else {
            return Err(RecordingError::NoTimeColumn { time: TIME_COLUMN, columns: names });
        };
        let timestamps = std::mem::take(&mut columns[time_at]);
        let channels =
            names.into_iter().zip(columns).enumerate().filter(|(i, _)| *i != time_at).map(|(_, c)| c).collect();
        Ok(Recording { timestamps, channels })
    }
}

/// One column chunk widened to `f64`; nulls (definition level below the maximum) are NaN.
fn read_numbers(column: ColumnReader, rows: usize, max_def: i16, out: &mut Vec<f64>) -> Result<(), ColumnProblem> {
    fn read<T: DataType>(
        mut reader: ColumnReaderImpl<T>,
        rows: usize,
        max_def: i16,
        out: &mut Vec<f64>,
        widen: impl Fn(&T::T) -> f64,
    ) -> Result<(), ColumnProblem> {
        let mut values = Vec::new();
        let mut levels = Vec::new();
        let mut read = 0;
        while read < rows {
            values.clear();
            levels.clear();
            let def = (max_def > 0).then_some(&mut levels);
            let (records, _, _) = reader
                .read_records(rows - read, def, None, &mut values)
                .map_err(|e| ColumnProblem::Corrupt(e.to_string()))?;
            if records == 0 {
                break;
            }
            if max_def > 0 {
                let mut next = values.iter();
                for &l in &levels {
                    out.push(if l == max_def { next.next().map_or(f64::NAN, &widen) } else { f64::NAN });
                }
            } else {
                out.extend(values.iter().map(&widen));
            }
            read += records;
        }
        Ok(())
    }
    match column {
        ColumnReader::DoubleColumnReader(r) => read(r, rows, max_def, out, |v| *v),
        ColumnReader::FloatColumnReader(r) => read(r, rows, max_def, out, |v| f64::from(*v)),
        ColumnReader::Int64ColumnReader(r) => read(r, rows, max_def, out, |v| *v as f64),
        ColumnReader::Int32ColumnReader(r) => read(r, rows, max_def, out, |v| f64::from(*v)),
        ColumnReader::BoolColumnReader(_) => Err(ColumnProblem::NotNumbers("boolean")),
        ColumnReader::Int96ColumnReader(_) => Err(ColumnProblem::NotNumbers("int96 (a timestamp)")),
        ColumnReader::ByteArrayColumnReader(_) | ColumnReader::FixedLenByteArrayColumnReader(_) => {
            Err(ColumnProblem::NotNumbers("bytes or text"))
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn decoded_size_is_bounded_before_decoding() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/datasets/basic_motions/sessions");
        let session = std::fs::read_dir(&dir).unwrap().next().unwrap().unwrap().path().join("data.parquet");
        let e = Recording::from_parquet_bounded(&session, 1 << 30, 100).unwrap_err();
        assert_eq!(e, RecordingError::TooManyValues { rows: 100, columns: 7, limit: 100 });
        assert_eq!(e.to_string(), "100 rows × 7 columns is more than the 100 decoded values one session may hold");
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
    fn files_written_by_pyarrow_are_read_with_nulls_and_widened_types() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/parquet");
        let rec = Recording::from_parquet(&dir.join("pyarrow_types.parquet"), 1 << 20).unwrap();
        assert_eq!(rec.timestamps, [0.0, 0.1, 0.2, 0.3, 0.4]);
        let f32s = rec.channel("f32").unwrap();
        assert_eq!((f32s[0], f32s[2], f32s[3]), (1.5, 2.5, 3.5));
        assert!(f32s[1].is_nan() && f32s[4].is_nan());
        let i64s = rec.channel("i64").unwrap();
        assert_eq!((i64s[0], i64s[1], i64s[3], i64s[4]), (1.0, 2.0, 4.0, 5.0));
        assert!(i64s[2].is_nan());
        assert_eq!(rec.channel("i32").unwrap(), [10.0, 20.0, 30.0, 40.0, 50.0]);
        assert_eq!(Recording::row_count(&dir.join("pyarrow_types.parquet")).unwrap(), 5);
        let e = Recording::from_parquet(&dir.join("pyarrow_text_column.parquet"), 1 << 20).unwrap_err();
        assert_eq!(e, RecordingError::Column { name: "label".into(), problem: ColumnProblem::NotNumbers("bytes or text") });
        assert_eq!(e.to_string(), "column label: has type bytes or text, not a number");
    }

    #[test]
    fn corrupt_and_oversized_files_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("data.parquet");
        std::fs::write(&p, b"PAR1 this is not parquet PAR1").unwrap();
        let e = Recording::from_parquet(&p, 1 << 20).unwrap_err();
        assert!(matches!(e, RecordingError::NotParquet(_)) && e.to_string().starts_with("not a readable parquet file: "));
        let rec = Recording { timestamps: vec![0.0; 1000], channels: vec![] };
        std::fs::write(&p, rec.to_parquet().unwrap()).unwrap();
        let e = Recording::from_parquet(&p, 100).unwrap_err();
        assert!(matches!(e, RecordingError::TooLarge { limit: 100, .. }), "{e}");
        assert!(e.to_string().ends_with("bytes is larger than the 100-byte limit for one session"));
        // Truncated: the footer is gone.
        let bytes = rec.to_parquet().unwrap();
        std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
        assert!(Recording::from_parquet(&p, 1 << 20).is_err());
    }
}
