//! Parquet input for touch events (same columns as the CSV: `journey_id`, `timestamp`,
//! `channel`, optional `campaign` and `cost`). Row groups are decoded in parallel with the
//! arrow reader. Accepted types: ids as text or integers; timestamps as text (ISO or Unix
//! seconds), integer Unix seconds, arrow timestamps of any unit, or dates; channel and
//! campaign as text; cost as any number. Errors name the 1-based record number.

use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Float32Type, Float64Type, Int32Type, Int64Type, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType,
};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use rayon::prelude::*;

use super::rows::{compact_time, parse_timestamp_bytes, LocalEvents};
use super::table::{ReadOptions, RowError};
use super::AttributionError;

/// Text of cell `i` (integers printed in decimal), or None when null.
fn text(col: &ArrayRef, i: usize, buf: &mut Vec<u8>) -> Result<Option<Vec<u8>>, String> {
    if col.is_null(i) {
        return Ok(None);
    }
    buf.clear();
    Ok(Some(match col.data_type() {
        DataType::Utf8 => col.as_string::<i32>().value(i).as_bytes().to_vec(),
        DataType::LargeUtf8 => col.as_string::<i64>().value(i).as_bytes().to_vec(),
        DataType::Utf8View => col.as_string_view().value(i).as_bytes().to_vec(),
        DataType::Int64 => col
            .as_primitive::<Int64Type>()
            .value(i)
            .to_string()
            .into_bytes(),
        DataType::Int32 => col
            .as_primitive::<Int32Type>()
            .value(i)
            .to_string()
            .into_bytes(),
        other => return Err(format!("unsupported column type {other}")),
    }))
}

/// Unix seconds of cell `i`.
fn seconds(col: &ArrayRef, i: usize, buf: &mut Vec<u8>) -> Result<Option<i64>, String> {
    if col.is_null(i) {
        return Ok(None);
    }
    Ok(Some(match col.data_type() {
        DataType::Timestamp(unit, _) => {
            use arrow_schema::TimeUnit::*;
            match unit {
                Second => col.as_primitive::<TimestampSecondType>().value(i),
                Millisecond => col
                    .as_primitive::<TimestampMillisecondType>()
                    .value(i)
                    .div_euclid(1_000),
                Microsecond => col
                    .as_primitive::<TimestampMicrosecondType>()
                    .value(i)
                    .div_euclid(1_000_000),
                Nanosecond => col
                    .as_primitive::<TimestampNanosecondType>()
                    .value(i)
                    .div_euclid(1_000_000_000),
            }
        }
        DataType::Date32 => col.as_primitive::<Date32Type>().value(i) as i64 * 86_400,
        DataType::Int64
        | DataType::Int32
        | DataType::Utf8
        | DataType::LargeUtf8
        | DataType::Utf8View => {
            let t = text(col, i, buf)?.unwrap_or_default();
            return parse_timestamp_bytes(t.trim_ascii())
                .map(Some)
                .ok_or_else(|| format!("not a timestamp: `{}`", String::from_utf8_lossy(&t)));
        }
        other => return Err(format!("unsupported column type {other}")),
    }))
}

fn number(col: &ArrayRef, i: usize, buf: &mut Vec<u8>) -> Result<f64, String> {
    if col.is_null(i) {
        return Ok(0.0);
    }
    match col.data_type() {
        DataType::Float64 => Ok(col.as_primitive::<Float64Type>().value(i)),
        DataType::Float32 => Ok(col.as_primitive::<Float32Type>().value(i) as f64),
        DataType::Int64 => Ok(col.as_primitive::<Int64Type>().value(i) as f64),
        DataType::Int32 => Ok(col.as_primitive::<Int32Type>().value(i) as f64),
        _ => {
            let t = text(col, i, buf)?.unwrap_or_default();
            std::str::from_utf8(t.trim_ascii())
                .ok()
                .and_then(|s| s.parse::<f64>().ok())
                .ok_or_else(|| format!("not a number: `{}`", String::from_utf8_lossy(&t)))
        }
    }
}

fn row(
    batch: &RecordBatch,
    cols: &[Option<usize>],
    i: usize,
    local: &mut LocalEvents,
    buf: &mut Vec<u8>,
) -> Result<(), RowError> {
    let get = |k: usize| cols[k].map(|c| batch.column(c));
    let err = |c: &str, r: String| (c.to_string(), String::new(), r);
    let jid = match get(0) {
        Some(c) => text(c, i, buf)
            .map_err(|r| err("journey_id", r))?
            .unwrap_or_default(),
        None => Vec::new(),
    };
    if jid.trim_ascii().is_empty() {
        return Err(err("journey_id", "empty journey id".into()));
    }
    let ts = get(1)
        .map(|c| seconds(c, i, buf))
        .transpose()
        .map_err(|r| err("timestamp", r))?
        .flatten()
        .ok_or_else(|| err("timestamp", "missing timestamp".into()))?;
    let ts = compact_time(ts)
        .ok_or_else(|| err("timestamp", "outside the supported years 1932–2068".into()))?;
    let ch = match get(2) {
        Some(c) => text(c, i, buf)
            .map_err(|r| err("channel", r))?
            .unwrap_or_default(),
        None => Vec::new(),
    };
    if ch.trim_ascii().is_empty() {
        return Err(err("channel", "empty channel".into()));
    }
    let camp = match get(3) {
        Some(c) => text(c, i, buf)
            .map_err(|r| err("campaign", r))?
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let cost = match get(4) {
        Some(c) => number(c, i, buf).map_err(|r| err("cost", r))?,
        None => 0.0,
    };
    if !(cost.is_finite() && cost >= 0.0) {
        return Err(err(
            "cost",
            format!("cost must be a number ≥ 0, got {cost}"),
        ));
    }
    local.push(
        jid.trim_ascii(),
        ts,
        ch.trim_ascii(),
        camp.trim_ascii(),
        cost,
    );
    Ok(())
}

/// Read events from a Parquet file into per-row-group local state (as the CSV reader
/// does per byte range). Returns whether a cost column exists.
#[allow(clippy::type_complexity)]
pub(crate) fn read_events_parquet(
    path: &Path,
    opts: ReadOptions,
) -> Result<(bool, Vec<(Vec<()>, LocalEvents, usize)>), AttributionError> {
    let io = |e: std::io::Error| AttributionError::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let bad_file = |e: parquet::errors::ParquetError| AttributionError::BadRow {
        path: path.to_path_buf(),
        row: 0,
        column: String::new(),
        value: String::new(),
        reason: format!("not a readable Parquet file: {e}"),
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(bad_file)?;
    let schema = builder.schema().clone();
    let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    let find = |n: &str| names.iter().position(|h| h == n);
    let mut cols = Vec::new();
    for n in ["journey_id", "timestamp", "channel"] {
        cols.push(Some(find(n).ok_or_else(|| {
            AttributionError::MissingColumn {
                path: path.to_path_buf(),
                column: n.into(),
                available: names.join(", "),
            }
        })?));
    }
    cols.push(find("campaign"));
    cols.push(find("cost"));
    let groups: Vec<i64> = builder
        .metadata()
        .row_groups()
        .iter()
        .map(|g| g.num_rows())
        .collect();
    if groups.iter().sum::<i64>() == 0 {
        return Err(AttributionError::Empty {
            path: path.to_path_buf(),
        });
    }
    let starts: Vec<i64> = groups
        .iter()
        .scan(0i64, |acc, n| {
            let s = *acc;
            *acc += n;
            Some(s)
        })
        .collect();
    let out: Vec<Result<(Vec<()>, LocalEvents, usize), AttributionError>> = (0..groups.len())
        .into_par_iter()
        .map(|g| {
            let file = std::fs::File::open(path).map_err(io)?;
            let reader = ParquetRecordBatchReaderBuilder::try_new(file)
                .map_err(bad_file)?
                .with_row_groups(vec![g])
                .with_batch_size(64 << 10)
                .build()
                .map_err(bad_file)?;
            let mut local = LocalEvents::default();
            let (mut skipped, mut at) = (0usize, starts[g]);
            let mut buf = Vec::new();
            for batch in reader {
                let batch = batch.map_err(|e| bad_file(e.into()))?;
                for i in 0..batch.num_rows() {
                    if let Err((column, value, reason)) =
                        row(&batch, &cols, i, &mut local, &mut buf)
                    {
                        if opts.skip_bad_rows {
                            skipped += 1;
                        } else {
                            return Err(AttributionError::BadRow {
                                path: path.to_path_buf(),
                                row: (at + i as i64 + 1) as u64,
                                column,
                                value,
                                reason,
                            });
                        }
                    }
                }
                at += batch.num_rows() as i64;
            }
            Ok((Vec::new(), local, skipped))
        })
        .collect();
    let parsed = out.into_iter().collect::<Result<Vec<_>, _>>()?;
    Ok((cols[4].is_some(), parsed))
}

/// Write events as Parquet (for tests and for converting CSV inputs): columns
/// `journey_id` (text), `timestamp` (Unix seconds), `channel`, `campaign` (text, nullable),
/// `cost` (float).
pub fn write_events_parquet(
    path: &Path,
    rows: &[(String, i64, String, Option<String>, f64)],
) -> Result<(), AttributionError> {
    use arrow_array::{Float64Array, Int64Array, StringArray};
    use std::sync::Arc;
    let fail = |reason: String| {
        AttributionError::Config(format!("cannot write {}: {reason}", path.display()))
    };
    let batch = RecordBatch::try_from_iter(vec![
        (
            "journey_id",
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| r.0.as_str()),
            )) as ArrayRef,
        ),
        (
            "timestamp",
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.1))) as ArrayRef,
        ),
        (
            "channel",
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| r.2.as_str()),
            )) as ArrayRef,
        ),
        (
            "campaign",
            Arc::new(StringArray::from_iter(rows.iter().map(|r| r.3.as_deref()))) as ArrayRef,
        ),
        (
            "cost",
            Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.4))) as ArrayRef,
        ),
    ])
    .map_err(|e| fail(e.to_string()))?;
    let file = std::fs::File::create(path).map_err(|e| fail(e.to_string()))?;
    let mut w = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None)
        .map_err(|e| fail(e.to_string()))?;
    w.write(&batch).map_err(|e| fail(e.to_string()))?;
    w.close().map_err(|e| fail(e.to_string()))?;
    Ok(())
}
