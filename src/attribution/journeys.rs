//! Paths and friction: where journeys go, how long they take, and where the ones that do
//! not convert stop.
//!
//! A journey is all touches of one journey id in time order; it *converts* when it has at
//! least one conversion, and its time to conversion runs from its first touch to its
//! first conversion. Per segment (all journeys, then each value of `--by`, a journey
//! taking the value at its first touch):
//! - the most frequent converting and non-converting channel paths (paths longer than
//!   [`MAX_PATH`] touches are cut there and end in `…`);
//! - the distribution of path lengths, converting and not;
//! - time-to-conversion quantiles and buckets;
//! - the channel transition matrix with `(start)`, `(conversion)` and `(null)` states:
//!   counts and the probability of each next state given the current one;
//! - drop-off: the last channel of non-converting journeys.

use std::path::Path;

use rayon::prelude::*;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use super::events::{journey_slices, read_touches_by, sorted_partition, JourneyOptions, Touches};
use super::rows::Conv;
use super::AttributionError;

/// Schema version of [`JourneysReport`].
pub const JOURNEYS_SCHEMA_VERSION: u32 = 1;
/// Longest path shown; longer ones are cut and marked `…`.
pub const MAX_PATH: usize = 12;
/// Paths listed per kind.
const TOP: usize = 10;
/// Length buckets: 1..=10 touches, then 11–20, then more.
const LENGTHS: [&str; 12] = [
    "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11-20", ">20",
];
/// Time-to-conversion buckets (upper bounds in seconds).
const TIME_BUCKETS: [(&str, i64); 5] = [
    ("<1h", 3600),
    ("1h-1d", 86_400),
    ("1-7d", 7 * 86_400),
    ("7-30d", 30 * 86_400),
    (">30d", i64::MAX),
];

/// A path and how many journeys took it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PathCount {
    /// Channels joined by ` > `.
    pub path: String,
    /// Journeys.
    pub journeys: u64,
}

/// Journeys of one length.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LengthCount {
    /// Touches (`1`…`10`, `11-20`, `>20`).
    pub touches: String,
    /// Converting journeys.
    pub converting: u64,
    /// Non-converting journeys.
    pub non_converting: u64,
}

/// Time from first touch to first conversion.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TimeToConversion {
    /// Quantiles in days: p10, p25, p50, p75, p90 (null without conversions).
    pub quantiles_days: Option<[f64; 5]>,
    /// Journeys per bucket.
    pub buckets: Vec<(String, u64)>,
}

/// One transition.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Transition {
    /// From state (a channel or `(start)`).
    pub from: String,
    /// To state (a channel, `(conversion)` or `(null)`).
    pub to: String,
    /// Count.
    pub count: u64,
    /// Share of the transitions out of `from`.
    pub probability: f64,
}

/// Non-converting journeys ending on a channel.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DropOff {
    /// Last channel touched.
    pub channel: String,
    /// Non-converting journeys that ended there.
    pub journeys: u64,
    /// Share of the non-converting journeys.
    pub share: f64,
    /// Of the journeys whose touches include the channel, the share ending on it without
    /// converting.
    pub rate: f64,
}

/// One segment's analysis.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Segment {
    /// Segment value (null: every journey).
    pub segment: Option<String>,
    /// Journeys.
    pub journeys: u64,
    /// Converting journeys.
    pub converting: u64,
    /// `converting / journeys`.
    pub conversion_rate: f64,
    /// Most frequent converting paths.
    pub top_converting_paths: Vec<PathCount>,
    /// Most frequent non-converting paths.
    pub top_non_converting_paths: Vec<PathCount>,
    /// Path lengths.
    pub lengths: Vec<LengthCount>,
    /// Time to conversion.
    pub time_to_conversion: TimeToConversion,
    /// Transition matrix (non-zero entries).
    pub transitions: Vec<Transition>,
    /// Where non-converting journeys stop, most frequent first.
    pub drop_off: Vec<DropOff>,
}

/// The `journeys --json` document.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JourneysReport {
    /// Schema version.
    pub schema_version: u32,
    /// Segment column (null: none).
    pub by: Option<String>,
    /// All journeys first, then one entry per segment value.
    pub segments: Vec<Segment>,
}

/// Per segment accumulators. States: channels `0..nch`, start `nch`, conversion `nch`
/// and null `nch + 1` as targets.
#[derive(Default, Clone)]
struct Acc {
    journeys: u64,
    converting: u64,
    paths: FxHashMap<Vec<u32>, (u64, u64)>,
    lengths: [[u64; 2]; 12],
    times: Vec<f32>,
    transitions: FxHashMap<(u32, u32), u64>,
    drop: FxHashMap<u32, u64>,
    touched: FxHashMap<u32, u64>,
}

impl Acc {
    fn merge(&mut self, o: Acc) {
        self.journeys += o.journeys;
        self.converting += o.converting;
        for (k, v) in o.paths {
            let e = self.paths.entry(k).or_default();
            e.0 += v.0;
            e.1 += v.1;
        }
        for (a, b) in self.lengths.iter_mut().zip(o.lengths) {
            a[0] += b[0];
            a[1] += b[1];
        }
        self.times.extend(o.times);
        for (k, v) in o.transitions {
            *self.transitions.entry(k).or_default() += v;
        }
        for (k, v) in o.drop {
            *self.drop.entry(k).or_default() += v;
        }
        for (k, v) in o.touched {
            *self.touched.entry(k).or_default() += v;
        }
    }

    fn journey(&mut self, chans: &[u32], convs: &[Conv], first_ts: i32, nch: u32) {
        let conv = !convs.is_empty();
        self.journeys += 1;
        self.converting += conv as u64;
        let mut key = [0u32; MAX_PATH + 1];
        let n = chans.len().min(MAX_PATH);
        key[..n].copy_from_slice(&chans[..n]);
        let key = if chans.len() > MAX_PATH {
            key[n] = u32::MAX;
            &key[..=n]
        } else {
            &key[..n]
        };
        // Look up by slice; allocate the key only for a new path.
        let e = match self.paths.get_mut(key) {
            Some(e) => e,
            None => self.paths.entry(key.to_vec()).or_default(),
        };
        if conv {
            e.0 += 1;
        } else {
            e.1 += 1;
        }
        let li = match chans.len() {
            0 => 0,
            n @ 1..=10 => n - 1,
            11..=20 => 10,
            _ => 11,
        };
        self.lengths[li][usize::from(!conv)] += 1;
        if let Some(c) = convs.first() {
            self.times
                .push((c.1 as i64 - first_ts as i64).max(0) as f32);
        }
        let mut prev = nch; // (start)
        for &c in chans {
            *self.transitions.entry((prev, c)).or_default() += 1;
            prev = c;
        }
        let end = if conv { nch } else { nch + 1 };
        *self.transitions.entry((prev, end)).or_default() += 1;
        if !conv {
            if let Some(&last) = chans.last() {
                *self.drop.entry(last).or_default() += 1;
            }
        }
        if chans.len() <= 64 {
            for (i, &c) in chans.iter().enumerate() {
                if !chans[..i].contains(&c) {
                    *self.touched.entry(c).or_default() += 1;
                }
            }
        } else {
            // Long (possibly hostile) journeys: sort instead of a quadratic scan.
            let mut seen = chans.to_vec();
            seen.sort_unstable();
            seen.dedup();
            for c in seen {
                *self.touched.entry(c).or_default() += 1;
            }
        }
    }
}

/// Analyse the journeys of `events` and `conversions`, segmented by the events column
/// `by` when given.
pub fn analyse(
    events: &Path,
    conversions: &Path,
    by: Option<&str>,
    opts: JourneyOptions,
) -> Result<JourneysReport, AttributionError> {
    let Touches {
        b,
        ev_parts,
        conv_parts,
        ..
    } = read_touches_by(events, conversions, opts, by.unwrap_or("campaign"))?;
    let t = &b.table;
    let nch = t.channels.len() as u32;
    let chan_of: Vec<u32> = t.touchpoints.iter().map(|p| p.channel).collect();
    // Segment index per touchpoint: its campaign slot holds the `by` value.
    let seg_of: Vec<Option<u32>> = t.touchpoints.iter().map(|p| p.campaign).collect();
    let nseg = if by.is_some() { t.campaigns.len() } else { 0 };
    let accs: Vec<Acc> = ev_parts
        .into_par_iter()
        .zip(conv_parts)
        .map(|(p, c)| {
            let (evs, convs) = sorted_partition(p, c);
            let mut acc = vec![Acc::default(); 1 + nseg];
            let mut chans: Vec<u32> = Vec::new();
            for (_, e, cs) in journey_slices(&evs, &convs) {
                if e.is_empty() {
                    continue; // conversions without any touch
                }
                // Conversions before the first touch are not this journey's doing.
                let mine: Vec<Conv> = cs.iter().copied().filter(|c| c.1 >= e[0].ts).collect();
                chans.clear();
                chans.extend(e.iter().map(|x| chan_of[x.tp as usize]));
                acc[0].journey(&chans, &mine, e[0].ts, nch);
                if let Some(s) = seg_of[e[0].tp as usize].filter(|_| nseg > 0) {
                    acc[1 + s as usize].journey(&chans, &mine, e[0].ts, nch);
                }
            }
            acc
        })
        .reduce(
            || vec![Acc::default(); 1 + nseg],
            |mut a, b| {
                for (x, y) in a.iter_mut().zip(b) {
                    x.merge(y);
                }
                a
            },
        );
    let name = |c: u32| -> String {
        if c == u32::MAX {
            "…".into()
        } else {
            t.channels[c as usize].clone()
        }
    };
    let state = |c: u32, from: bool| -> String {
        match (c.cmp(&nch), from) {
            (std::cmp::Ordering::Less, _) => t.channels[c as usize].clone(),
            (std::cmp::Ordering::Equal, true) => "(start)".into(),
            (std::cmp::Ordering::Equal, false) => "(conversion)".into(),
            _ => "(null)".into(),
        }
    };
    let segments = accs
        .into_iter()
        .enumerate()
        .filter(|(i, a)| *i == 0 || a.journeys > 0)
        .map(|(i, mut a)| {
            let top = |conv: bool| -> Vec<PathCount> {
                let mut v: Vec<(&Vec<u32>, u64)> = a
                    .paths
                    .iter()
                    .map(|(k, n)| (k, if conv { n.0 } else { n.1 }))
                    .filter(|x| x.1 > 0)
                    .collect();
                v.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(y.0)));
                v.into_iter()
                    .take(TOP)
                    .map(|(k, n)| PathCount {
                        path: k.iter().map(|&c| name(c)).collect::<Vec<_>>().join(" > "),
                        journeys: n,
                    })
                    .collect()
            };
            a.times.sort_unstable_by(|x, y| x.total_cmp(y));
            let q = |p: f64| {
                let n = a.times.len();
                a.times[((p * (n - 1) as f64).round() as usize).min(n - 1)] as f64 / 86_400.0
            };
            let quantiles_days =
                (!a.times.is_empty()).then(|| [q(0.1), q(0.25), q(0.5), q(0.75), q(0.9)]);
            let mut buckets: Vec<(String, u64)> = TIME_BUCKETS
                .iter()
                .map(|(n, _)| (n.to_string(), 0))
                .collect();
            for &s in &a.times {
                let k = TIME_BUCKETS
                    .iter()
                    .position(|(_, hi)| (s as i64) < *hi)
                    .unwrap_or(TIME_BUCKETS.len() - 1);
                buckets[k].1 += 1;
            }
            let mut out_of: FxHashMap<u32, u64> = FxHashMap::default();
            for (&(f, _), &n) in &a.transitions {
                *out_of.entry(f).or_default() += n;
            }
            let mut transitions: Vec<Transition> = a
                .transitions
                .iter()
                .map(|(&(f, to), &n)| Transition {
                    from: state(f, true),
                    to: state(to, false),
                    count: n,
                    probability: n as f64 / out_of[&f] as f64,
                })
                .collect();
            transitions.sort_by(|x, y| {
                x.from
                    .cmp(&y.from)
                    .then(y.count.cmp(&x.count))
                    .then(x.to.cmp(&y.to))
            });
            let non_conv = a.journeys - a.converting;
            let mut drop_off: Vec<DropOff> = a
                .drop
                .iter()
                .map(|(&c, &n)| DropOff {
                    channel: name(c),
                    journeys: n,
                    share: n as f64 / non_conv.max(1) as f64,
                    rate: n as f64 / a.touched.get(&c).copied().unwrap_or(1).max(1) as f64,
                })
                .collect();
            drop_off.sort_by(|x, y| y.journeys.cmp(&x.journeys).then(x.channel.cmp(&y.channel)));
            Segment {
                segment: (i > 0).then(|| t.campaigns[i - 1].clone()),
                journeys: a.journeys,
                converting: a.converting,
                conversion_rate: a.converting as f64 / a.journeys.max(1) as f64,
                top_converting_paths: top(true),
                top_non_converting_paths: top(false),
                lengths: LENGTHS
                    .iter()
                    .zip(a.lengths)
                    .map(|(l, [c, n])| LengthCount {
                        touches: l.to_string(),
                        converting: c,
                        non_converting: n,
                    })
                    .collect(),
                time_to_conversion: TimeToConversion {
                    quantiles_days,
                    buckets,
                },
                transitions,
                drop_off,
            }
        })
        .collect();
    Ok(JourneysReport {
        schema_version: JOURNEYS_SCHEMA_VERSION,
        by: by.map(str::to_string),
        segments,
    })
}
