//! Aggregated journeys: unique paths of touchpoints with conversion, value and null
//! counts — the common input of every attribution model — and the ChannelAttribution-style
//! paths CSV reader.

use std::path::Path;

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use super::AttributionError;

/// A touchpoint kind: a channel, optionally with a campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Touchpoint {
    /// Index into [`PathTable::channels`].
    pub channel: u32,
    /// Index into [`PathTable::campaigns`].
    pub campaign: Option<u32>,
}

/// One unique path with its outcomes.
#[derive(Debug, Clone, PartialEq)]
pub struct PathRow {
    /// Range of the path's touchpoint ids in [`PathTable::tokens`].
    pub start: u32,
    /// Number of touches.
    pub len: u32,
    /// Conversions at the end of this path.
    pub conversions: f64,
    /// Conversion value.
    pub value: f64,
    /// Journeys on this path that did not convert.
    pub nulls: f64,
}

/// Unique paths with interned names, plus per-touchpoint side data.
#[derive(Debug, Clone, Default)]
pub struct PathTable {
    /// Channel names.
    pub channels: Vec<String>,
    /// Campaign names.
    pub campaigns: Vec<String>,
    /// Touchpoint kinds; tokens index this.
    pub touchpoints: Vec<Touchpoint>,
    /// Flat token storage.
    pub tokens: Vec<u32>,
    /// Unique paths.
    pub paths: Vec<PathRow>,
    /// Journeys (distinct ids for events input; conversions + nulls for paths input).
    pub journeys: f64,
    /// Time-decay credit (conversions, value) per touchpoint, when built from timed events.
    pub time_decay: Option<Vec<(f64, f64)>>,
    /// Cost per touchpoint, when the events carry costs.
    pub costs: Option<Vec<f64>>,
    /// Conversions with no touch inside the lookback window (credited to no channel).
    pub unattributed_conversions: f64,
    /// Value of those conversions.
    pub unattributed_value: f64,
    /// Input rows skipped with `--skip-bad-rows`.
    pub skipped_rows: usize,
}

impl PathTable {
    /// Touchpoint ids of a path.
    pub fn path(&self, r: &PathRow) -> &[u32] {
        &self.tokens[r.start as usize..(r.start + r.len) as usize]
    }

    /// Channel of a touchpoint id.
    #[inline]
    pub fn channel_of(&self, tok: u32) -> u32 {
        self.touchpoints[tok as usize].channel
    }

    /// Total conversions on paths (attributable).
    pub fn conversions(&self) -> f64 {
        self.paths.iter().map(|p| p.conversions).sum()
    }

    /// Total value on paths.
    pub fn value(&self) -> f64 {
        self.paths.iter().map(|p| p.value).sum()
    }
}

/// Builds a [`PathTable`], interning names and merging identical paths.
#[derive(Debug, Default)]
pub struct TableBuilder {
    channel_ids: FxHashMap<String, u32>,
    campaign_ids: FxHashMap<String, u32>,
    tp_ids: FxHashMap<Touchpoint, u32>,
    path_ids: FxHashMap<Vec<u32>, u32>,
    /// The table under construction.
    pub table: PathTable,
}

/// Index of `name` in `names`, appending it if new.
fn intern(names: &mut Vec<String>, ids: &mut FxHashMap<String, u32>, name: &str) -> u32 {
    if let Some(&i) = ids.get(name) {
        return i;
    }
    let i = names.len() as u32;
    names.push(name.to_string());
    ids.insert(name.to_string(), i);
    i
}

impl TableBuilder {
    /// Intern a channel name.
    pub fn channel(&mut self, name: &str) -> u32 {
        intern(&mut self.table.channels, &mut self.channel_ids, name)
    }

    /// Intern a campaign name.
    pub fn campaign(&mut self, name: &str) -> u32 {
        intern(&mut self.table.campaigns, &mut self.campaign_ids, name)
    }

    /// Intern a touchpoint.
    pub fn touchpoint(&mut self, tp: Touchpoint) -> u32 {
        if let Some(&i) = self.tp_ids.get(&tp) {
            return i;
        }
        let i = self.table.touchpoints.len() as u32;
        self.table.touchpoints.push(tp);
        self.tp_ids.insert(tp, i);
        i
    }

    /// Touchpoint of a channel without campaign.
    pub fn channel_touchpoint(&mut self, name: &str) -> u32 {
        let channel = self.channel(name);
        self.touchpoint(Touchpoint {
            channel,
            campaign: None,
        })
    }

    /// Add a path given by channel names (merged with an identical earlier path).
    pub fn add_named_path(&mut self, channels: &[&str], conversions: f64, value: f64, nulls: f64) {
        let toks: Vec<u32> = channels
            .iter()
            .map(|n| self.channel_touchpoint(n))
            .collect();
        self.add_path(&toks, conversions, value, nulls);
    }

    /// Add outcomes to a path (merged with an identical earlier path).
    pub fn add_path(&mut self, tokens: &[u32], conversions: f64, value: f64, nulls: f64) {
        if tokens.is_empty() {
            return;
        }
        if let Some(&i) = self.path_ids.get(tokens) {
            let r = &mut self.table.paths[i as usize];
            r.conversions += conversions;
            r.value += value;
            r.nulls += nulls;
            return;
        }
        self.path_ids
            .insert(tokens.to_vec(), self.table.paths.len() as u32);
        self.push_path(tokens, conversions, value, nulls);
    }

    /// Append a path row without merging it with an identical one (for inputs whose rows
    /// are already aggregated; every model sums over rows, so duplicates are harmless).
    pub fn push_path(&mut self, tokens: &[u32], conversions: f64, value: f64, nulls: f64) {
        if tokens.is_empty() {
            return;
        }
        let start = self.table.tokens.len() as u32;
        self.table.tokens.extend_from_slice(tokens);
        self.table.paths.push(PathRow {
            start,
            len: tokens.len() as u32,
            conversions,
            value,
            nulls,
        });
    }

    /// Finish.
    pub fn finish(self) -> PathTable {
        self.table
    }
}

/// Options for reading inputs.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadOptions {
    /// Count and skip bad rows instead of failing on the first.
    pub skip_bad_rows: bool,
}

/// Trimmed text of field `i` of a record (empty when absent or not UTF-8).
pub(crate) fn field<'a>(rec: &[&'a [u8]], i: Option<usize>) -> &'a str {
    std::str::from_utf8(bytes_field(rec, i)).unwrap_or("")
}

/// Field `i` of a record with ASCII whitespace trimmed (empty when absent).
pub(crate) fn bytes_field<'a>(rec: &[&'a [u8]], i: Option<usize>) -> &'a [u8] {
    i.and_then(|i| rec.get(i))
        .map(|b| b.trim_ascii())
        .unwrap_or(b"")
}

/// Parse a non-negative number, with a fast path for plain integers.
fn parse_count(s: &str) -> Result<f64, std::num::ParseFloatError> {
    let b = s.as_bytes();
    if !b.is_empty() && b.len() < 16 && b.iter().all(|c| c.is_ascii_digit()) {
        return Ok(b.iter().fold(0u64, |a, c| a * 10 + (c - b'0') as u64) as f64);
    }
    s.parse::<f64>()
}

/// A row-level failure: (column, value, reason).
pub(crate) type RowError = (String, String, String);

/// Fields of a quoted line, via the csv crate.
fn quoted_fields(line: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(line);
    let mut rec = csv::ByteRecord::new();
    rdr.read_byte_record(&mut rec)
        .map(|_| rec.iter().map(|f| f.to_vec()).collect())
        .map_err(|e| format!("malformed CSV: {e}"))
}

/// Outcome of one chunk: items, local state, rows skipped, lines seen, first error as
/// (line index within the chunk, error).
type ChunkOut<T, L> = (Vec<T>, L, usize, u64, Option<(u64, RowError)>);

/// Parse a CSV file in parallel: the body is cut into 16 MiB byte ranges, each read with
/// positioned reads and parsed on its own thread (a line belongs to the range it starts
/// in), so reading and parsing both use every core and memory stays bounded by the
/// ranges in flight. Lines without quotes are split directly; quoted lines go through the
/// csv crate (a quoted field may not span lines). Returns the column indices of `need` then `optional` (None where an optional
/// column is absent) and, per range in file order, the parsed items, the range's local
/// state and the rows it skipped. Errors name the 1-based line (header = 1).
#[allow(clippy::type_complexity)]
pub(crate) fn parse_stream<T: Send, L: Default + Send>(
    path: &Path,
    need: &[&str],
    optional: &[&str],
    opts: ReadOptions,
    f: impl Fn(&[&[u8]], &[Option<usize>], &mut L) -> Result<Option<T>, RowError> + Sync,
) -> Result<(Vec<Option<usize>>, Vec<(Vec<T>, L, usize)>), AttributionError> {
    use std::io::BufRead;
    use std::os::unix::fs::FileExt;
    const RANGE: u64 = 16 << 20;
    let io = |source| AttributionError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let size = file.metadata().map_err(io)?.len();
    let mut head = Vec::new();
    std::io::BufReader::new(&file)
        .read_until(b'\n', &mut head)
        .map_err(io)?;
    let names: Vec<String> = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(head.as_slice())
        .records()
        .next()
        .and_then(|r| r.ok())
        .map(|r| {
            r.iter()
                .map(|s| s.trim_start_matches('\u{feff}').trim().to_string())
                .collect()
        })
        .ok_or_else(|| AttributionError::Empty {
            path: path.to_path_buf(),
        })?;
    let mut idx = Vec::new();
    for n in need {
        idx.push(Some(names.iter().position(|h| h == n).ok_or_else(
            || AttributionError::MissingColumn {
                path: path.to_path_buf(),
                column: n.to_string(),
                available: names.join(", "),
            },
        )?));
    }
    for n in optional {
        idx.push(names.iter().position(|h| h == n));
    }
    let body = head.len() as u64;
    let n_ranges = (size.saturating_sub(body)).div_ceil(RANGE).max(1);
    let results: Vec<Result<ChunkOut<T, L>, std::io::Error>> = (0..n_ranges)
        .into_par_iter()
        .map_init(Vec::new, |buf: &mut Vec<u8>, k| {
            let start = body + k * RANGE;
            let end = (start + RANGE).min(size);
            // Read the range plus one byte before it (to know whether a line starts at
            // `start`), then extend until the last line that starts inside it is complete.
            let from = if k == 0 { start } else { start - 1 };
            // Each worker reuses its buffer: no fresh pages to fault in per range.
            buf.truncate((end - from) as usize);
            buf.resize((end - from) as usize, 0);
            file.read_exact_at(buf, from)?;
            let mut pos = end;
            while pos < size && buf.last() != Some(&b'\n') {
                let mut more = vec![0u8; (64u64 << 10).min(size - pos) as usize];
                file.read_exact_at(&mut more, pos)?;
                pos += more.len() as u64;
                match memchr::memchr(b'\n', &more) {
                    Some(i) => {
                        buf.extend_from_slice(&more[..=i]);
                        break;
                    }
                    None => buf.extend_from_slice(&more),
                }
            }
            let mut off = if k == 0 {
                0
            } else {
                match memchr::memchr(b'\n', buf) {
                    Some(i) => i + 1,
                    None => buf.len(),
                }
            };
            let limit = (end - from) as usize;
            let mut items = Vec::new();
            let mut local = L::default();
            let (mut skipped, mut lines) = (0usize, 0u64);
            let mut first_err = None;
            let mut fields: Vec<&[u8]> = Vec::with_capacity(16);
            while off < buf.len() && off < limit {
                let stop = memchr::memchr(b'\n', &buf[off..])
                    .map(|i| off + i)
                    .unwrap_or(buf.len());
                let mut line = &buf[off..stop];
                if line.last() == Some(&b'\r') {
                    line = &line[..line.len() - 1];
                }
                off = stop + 1;
                lines += 1;
                if line.trim_ascii().is_empty() {
                    continue;
                }
                let res = if memchr::memchr(b'"', line).is_none() {
                    fields.clear();
                    fields.extend(line.split(|b| *b == b','));
                    f(&fields, &idx, &mut local)
                } else {
                    match quoted_fields(line) {
                        Ok(owned) => {
                            let tmp: Vec<&[u8]> = owned.iter().map(|v| v.as_slice()).collect();
                            f(&tmp, &idx, &mut local)
                        }
                        Err(reason) => Err((String::new(), String::new(), reason)),
                    }
                };
                match res {
                    Ok(Some(v)) => items.push(v),
                    Ok(None) => {}
                    Err(_) if opts.skip_bad_rows => skipped += 1,
                    Err(e) => {
                        if first_err.is_none() {
                            first_err = Some((lines, e));
                        }
                        break;
                    }
                }
            }
            Ok((items, local, skipped, lines, first_err))
        })
        .collect();
    let mut out = Vec::with_capacity(results.len());
    let mut line_base = 1u64;
    for r in results {
        let (items, local, skipped, lines, err) = r.map_err(io)?;
        if let Some((i, (column, value, reason))) = err {
            return Err(AttributionError::BadRow {
                path: path.to_path_buf(),
                row: line_base + i,
                column,
                value,
                reason,
            });
        }
        line_base += lines;
        out.push((items, local, skipped));
    }
    Ok((idx, out))
}

/// Length and first 8 bytes of a name, packed: equal names have equal keys, and names of
/// at most 8 bytes are equal exactly when their keys are.
fn short_key(name: &[u8]) -> (usize, u64) {
    let mut b = [0u8; 8];
    let n = name.len().min(8);
    b[..n].copy_from_slice(&name[..n]);
    (name.len(), u64::from_le_bytes(b))
}

#[derive(Default)]
struct LocalPaths {
    names: Vec<String>,
    keys: Vec<(usize, u64)>,
    ids: FxHashMap<Vec<u8>, u32>,
    tokens: Vec<u32>,
    rows: Vec<(u32, f64, f64, f64)>,
}

/// Read a ChannelAttribution-style paths CSV: `path,total_conversions,total_conversion_value,total_null`
/// (`path` like `search > social > email`; value and null columns optional).
pub fn read_paths_csv(path: &Path, opts: ReadOptions) -> Result<PathTable, AttributionError> {
    let (_, locals) = parse_stream(
        path,
        &["path", "total_conversions"],
        &["total_conversion_value", "total_null"],
        opts,
        |rec, ix, local: &mut LocalPaths| {
            let bad = |c: &str, v: &str, r: &str| (c.to_string(), v.to_string(), r.to_string());
            let num = |c: Option<usize>, name: &str| -> Result<f64, RowError> {
                if c.is_none() {
                    return Ok(0.0);
                }
                let raw = field(rec, c);
                match parse_count(raw) {
                    Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
                    Ok(_) => Err(bad(name, raw, "must be a finite number ≥ 0")),
                    Err(_) => Err(bad(name, raw, "not a number")),
                }
            };
            let conv = num(ix[1], "total_conversions")?;
            let value = num(ix[2], "total_conversion_value")?;
            let nulls = num(ix[3], "total_null")?;
            let raw = bytes_field(rec, ix[0]);
            let mark = local.tokens.len();
            for part in raw.split(|b| *b == b'>') {
                let name = part.trim_ascii();
                if name.is_empty() {
                    local.tokens.truncate(mark);
                    return Err(bad(
                        "path",
                        &String::from_utf8_lossy(raw),
                        "empty channel name in path",
                    ));
                }
                // Few distinct channels: a linear scan over (length, first 8 bytes) keys
                // beats hashing, and a full compare is needed only for longer names.
                let key = short_key(name);
                let found = if local.names.len() <= 24 {
                    local
                        .keys
                        .iter()
                        .position(|k| *k == key)
                        .filter(|&i| name.len() <= 8 || local.names[i].as_bytes() == name)
                        .or_else(|| {
                            (name.len() > 8)
                                .then(|| local.names.iter().position(|n| n.as_bytes() == name))
                                .flatten()
                        })
                        .map(|i| i as u32)
                } else {
                    local.ids.get(name).copied()
                };
                let id = match found {
                    Some(i) => i,
                    None => {
                        let i = local.names.len() as u32;
                        local.names.push(String::from_utf8_lossy(name).into_owned());
                        local.keys.push(key);
                        local.ids.insert(name.to_vec(), i);
                        i
                    }
                };
                local.tokens.push(id);
            }
            local
                .rows
                .push(((local.tokens.len() - mark) as u32, conv, value, nulls));
            Ok(None::<()>)
        },
    )?;
    let mut b = TableBuilder::default();
    let mut buf = Vec::new();
    for (_, local, skipped) in locals {
        let map: Vec<u32> = local
            .names
            .iter()
            .map(|n| b.channel_touchpoint(n))
            .collect();
        b.table.skipped_rows += skipped;
        let mut at = 0usize;
        for (len, conv, value, nulls) in local.rows {
            buf.clear();
            buf.extend(
                local.tokens[at..at + len as usize]
                    .iter()
                    .map(|t| map[*t as usize]),
            );
            at += len as usize;
            b.push_path(&buf, conv, value, nulls);
        }
    }
    let mut t = b.finish();
    if t.paths.is_empty() {
        return Err(AttributionError::Empty {
            path: path.to_path_buf(),
        });
    }
    t.journeys = t.paths.iter().map(|p| p.conversions + p.nulls).sum();
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_sharing_length_and_prefix_stay_distinct() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("paths.csv");
        std::fs::write(
            &p,
            "path,total_conversions\n\
             display_retargeting > display_prospecting,1\n\
             display_prospecting,2\ntv > display_retargeting,3\n",
        )
        .unwrap();
        let t = read_paths_csv(&p, ReadOptions::default()).unwrap();
        let names: Vec<&str> = t.channels.iter().map(String::as_str).collect();
        assert_eq!(names.len(), 3, "{names:?}");
        let path = |i: usize| -> Vec<&str> {
            let r = &t.paths[i];
            t.tokens[r.start as usize..(r.start + r.len) as usize]
                .iter()
                .map(|&tp| names[t.touchpoints[tp as usize].channel as usize])
                .collect()
        };
        assert_eq!(path(0), ["display_retargeting", "display_prospecting"]);
        assert_eq!(path(1), ["display_prospecting"]);
        assert_eq!(path(2), ["tv", "display_retargeting"]);
    }
}
