//! Row-level parsing shared by the CSV and Parquet event readers: calendar-checked
//! timestamps, journey keys, and the per-worker event accumulator. Sits below both
//! readers so neither imports the other.

use std::hash::Hasher;

use rustc_hash::FxHashMap;

/// One touch: 16 bytes (times are seconds since 2000-01-01 UTC in an `i32`, which spans
/// 1932–2068).
#[derive(Clone, Copy)]
pub(crate) struct Ev {
    pub(crate) jid: u64,
    pub(crate) ts: i32,
    pub(crate) tp: u32,
}

/// A conversion: journey key, time (as [`Ev::ts`]) and value.
pub(crate) type Conv = (u64, i32, f64);

/// Seconds from the Unix epoch to 2000-01-01 UTC.
const EPOCH_2000: i64 = 946_684_800;

pub(crate) fn compact_time(unix: i64) -> Option<i32> {
    i32::try_from(unix.checked_sub(EPOCH_2000)?).ok()
}

/// Journeys are hash-partitioned so each partition is sorted and walked on its own.
pub(crate) const PARTS: usize = 64;

#[inline]
pub(crate) fn part_of(jid: u64) -> usize {
    (jid.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58) as usize
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// A run of ASCII digits as a number; `None` if empty, not all digits, or over `i64`.
fn digits(b: &[u8]) -> Option<i64> {
    if b.is_empty() {
        return None;
    }
    let mut v = 0i64;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((c - b'0') as i64)?;
    }
    Some(v)
}

/// Days in month `m` of year `y` (proleptic Gregorian).
fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Parse a timestamp to Unix seconds.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    parse_timestamp_bytes(s.trim().as_bytes())
}

/// [`parse_timestamp`] on bytes.
pub fn parse_timestamp_bytes(b: &[u8]) -> Option<i64> {
    if let Some(v) = digits(b) {
        return Some(v);
    }
    if let Some(v) = std::str::from_utf8(b)
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
    {
        // Beyond ±2^53 seconds a float is no timestamp (and `as` would saturate).
        return (v.is_finite() && v.abs() < 9.0e15).then_some(v as i64);
    }
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, m, d) = (digits(&b[0..4])?, digits(&b[5..7])?, digits(&b[8..10])?);
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return None;
    }
    let mut secs = days_from_civil(y, m, d) * 86400;
    let rest = &b[10..];
    if rest.is_empty() {
        return Some(secs);
    }
    if rest[0] != b'T' && rest[0] != b' ' || rest.len() < 6 || rest[3] != b':' {
        return None;
    }
    let (hh, mm) = (digits(&rest[1..3])?, digits(&rest[4..6])?);
    if hh > 23 || mm > 59 {
        return None;
    }
    secs += hh * 3600 + mm * 60;
    let mut tail = &rest[6..];
    if tail.len() >= 3 && tail[0] == b':' {
        let ss = digits(&tail[1..3])?;
        if ss > 60 {
            return None;
        }
        secs += ss;
        tail = &tail[3..];
        if tail.first() == Some(&b'.') {
            let n = tail[1..].iter().take_while(|c| c.is_ascii_digit()).count();
            tail = &tail[1 + n..];
        }
    }
    match tail {
        [] | [b'Z'] => Some(secs),
        [sign @ (b'+' | b'-'), h1, h2, rest @ ..] => {
            let oh = digits(&[*h1, *h2])?;
            let om = match rest {
                [] => 0,
                [b':', m1, m2] | [m1, m2] => digits(&[*m1, *m2])?,
                _ => return None,
            };
            if oh > 23 || om > 59 {
                return None;
            }
            let off = oh * 3600 + om * 60;
            Some(if *sign == b'+' {
                secs - off
            } else {
                secs + off
            })
        }
        _ => None,
    }
}

/// Journey key: the id itself when it is a number below 2^63, else a 64-bit hash of the
/// text with the top bit set (ids are compared by key; a collision between two distinct
/// text ids among 10M has probability ≈ 3·10⁻⁶).
pub(crate) fn journey_key(id: &[u8]) -> u64 {
    match digits(id) {
        Some(v) if id.len() < 19 => v as u64,
        _ => {
            let mut h = rustc_hash::FxHasher::default();
            h.write(id);
            h.finish() | 1 << 63
        }
    }
}

/// Per-range parse state: interner of (channel, campaign) pairs keyed by
/// `channel \x1f campaign`, cost per local touchpoint, events by partition.
pub(crate) struct LocalEvents {
    pub(crate) names: Vec<(String, Option<String>)>,
    ids: FxHashMap<Vec<u8>, u32>,
    key: Vec<u8>,
    pub(crate) costs: Vec<f64>,
    pub(crate) parts: Vec<Vec<Ev>>,
}

impl Default for LocalEvents {
    fn default() -> Self {
        LocalEvents {
            names: Vec::new(),
            ids: FxHashMap::default(),
            key: Vec::new(),
            costs: Vec::new(),
            parts: vec![Vec::new(); PARTS],
        }
    }
}

impl LocalEvents {
    /// Add one touch (`ts` in compact seconds, see [`Ev`]).
    pub(crate) fn push(&mut self, jid: &[u8], ts: i32, ch: &[u8], camp: &[u8], cost: f64) {
        self.key.clear();
        self.key.extend_from_slice(ch);
        self.key.push(0x1f);
        self.key.extend_from_slice(camp);
        let tp = match self.ids.get(self.key.as_slice()) {
            Some(&i) => i,
            None => {
                let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
                let i = self.names.len() as u32;
                self.names
                    .push((text(ch), (!camp.is_empty()).then(|| text(camp))));
                self.ids.insert(self.key.clone(), i);
                self.costs.push(0.0);
                i
            }
        };
        self.costs[tp as usize] += cost;
        let jid = journey_key(jid);
        let part = &mut self.parts[part_of(jid)];
        if part.capacity() == 0 {
            // About 16 MiB / 40 bytes per line / PARTS events land in each partition.
            part.reserve(8 << 10);
        }
        part.push(Ev { jid, ts, tp });
    }
}
