//! Suspicious channels and campaigns from the history of touches and conversions.
//!
//! Every channel, and every campaign of a channel with more than one, is a *unit*. Per
//! unit, five statistics are compared with the same statistic pooled over the other
//! units of its level (channels against channels, campaigns against campaigns):
//!
//! | signal | value | what it catches |
//! |---|---|---|
//! | `seconds_before_conversion` | share of its touches ≤ 60 s before a conversion | cookie stuffing, injected last clicks |
//! | `converting_share` | share of its touches followed by a conversion (≤ 30 days) | touches that exist only in converting journeys |
//! | `burst_share` | share of its touches in runs of ≥ 3 of its touches ≤ 60 s apart in one journey | click bursts from one source |
//! | `conversion_rate` | share of the journeys it touches that convert | click farms (fake users never convert) |
//! | `duplicate_share` | share of the journeys it touches (≥ 3 touches) whose exact touch sequence and timing another journey repeats | recycled or replayed journeys |
//!
//! Pattern strengths in [0, 1] (`v` value, `b` baseline, `clip` to [0, 1]):
//! - stuffing `= min(clip((v_sec − b_sec) / 0.5), clip((v_conv − b_conv) / (1 − b_conv)))`:
//!   touches right before conversions *and* almost only in converting journeys (a channel
//!   that merely converts well, or that users click just before buying now and then, is
//!   not enough);
//! - bursts `= clip((v_burst − b_burst) / 0.5)`;
//! - click farm `= clip((0.2 − v_rate / b_rate) / 0.2)` when the baseline predicts at
//!   least 30 conversions among its journeys (a conversion rate under 10% of its peers'
//!   scores 0.5);
//! - recycled journeys `= clip((v_dup − b_dup) / 0.5)`.
//!
//! The score is the largest strength; a unit with at least 50 touches and a score ≥ 0.5 is
//! flagged. A campaign is listed only when its channel is not. Each flag carries up to five
//! journey ids that show the pattern (smallest journey keys, so the choice is
//! deterministic), found by a second pass over the events file.

use std::path::Path;

use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};
use serde::{Deserialize, Serialize};

use super::events::{
    journey_slices as journeys, read_touches, sorted_partition, JourneyOptions, Touches,
};
use super::rows::{journey_key, Conv, Ev};
use super::table::{bytes_field, parse_stream};
use super::AttributionError;

/// Schema version of [`FraudReport`].
pub const FRAUD_SCHEMA_VERSION: u32 = 1;
/// A touch this close before a conversion (seconds) is "right before" it.
pub const QUICK_SECONDS: i32 = 60;
/// Touches of one unit this close together (seconds) in one journey form a burst…
pub const BURST_GAP_SECONDS: i32 = 60;
/// … of at least this many touches.
pub const BURST_MIN: usize = 3;
/// Fewest touches a unit needs to be judged.
pub const MIN_TOUCHES: f64 = 50.0;
/// Score at or above which a unit is flagged.
pub const FLAG_SCORE: f64 = 0.5;
/// Journey ids kept per flag.
const EXAMPLES: usize = 5;

/// One signal of a unit against its peers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Signal {
    /// Signal name (see the module table).
    pub name: String,
    /// The unit's value.
    pub value: f64,
    /// The same statistic pooled over the other units of its level.
    pub baseline: f64,
}

/// A judged channel or campaign.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Flag {
    /// Channel.
    pub channel: String,
    /// Campaign (null: the whole channel).
    pub campaign: Option<String>,
    /// Suspicion in [0, 1]: the strongest pattern.
    pub score: f64,
    /// The pattern behind the score: `stuffing`, `bursts`, `click_farm`, `recycled`, or
    /// `none`.
    pub pattern: String,
    /// Touches.
    pub touches: f64,
    /// The five signals.
    pub signals: Vec<Signal>,
    /// Journey ids showing the pattern.
    pub examples: Vec<String>,
}

/// The `fraud --json` document.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FraudReport {
    /// Schema version.
    pub schema_version: u32,
    /// Journeys read.
    pub journeys: f64,
    /// Touches read.
    pub touches: f64,
    /// Conversions read.
    pub conversions: f64,
    /// Units judged suspicious, highest score first.
    pub flags: Vec<Flag>,
    /// Every unit (with `--all`), flagged or not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub all: Option<Vec<Flag>>,
}

impl FraudReport {
    /// Whether a touch of `channel` / `campaign` belongs to a flagged unit.
    pub fn is_flagged(&self, channel: &str, campaign: Option<&str>) -> bool {
        self.flags.iter().any(|f| {
            f.channel == channel
                && match &f.campaign {
                    None => true,
                    Some(c) => campaign == Some(c.as_str()),
                }
        })
    }
}

/// Per unit counts.
#[derive(Debug, Clone, Default)]
struct Counts {
    touches: f64,
    quick: f64,
    converting: f64,
    burst: f64,
    journeys: f64,
    conv_journeys: f64,
    long_journeys: f64,
    dup_journeys: f64,
    /// Smallest journey keys per pattern: quick, burst, non-converting, duplicate.
    examples: [Vec<u64>; 4],
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.touches += o.touches;
        self.quick += o.quick;
        self.converting += o.converting;
        self.burst += o.burst;
        self.journeys += o.journeys;
        self.conv_journeys += o.conv_journeys;
        self.long_journeys += o.long_journeys;
        self.dup_journeys += o.dup_journeys;
        for (a, b) in self.examples.iter_mut().zip(&o.examples) {
            for &k in b {
                keep_smallest(a, k);
            }
        }
    }
}

fn keep_smallest(v: &mut Vec<u64>, k: u64) {
    if v.contains(&k) {
        return;
    }
    if v.len() < EXAMPLES {
        v.push(k);
        v.sort_unstable();
    } else if k < v[EXAMPLES - 1] {
        v[EXAMPLES - 1] = k;
        v.sort_unstable();
    }
}

/// A journey's exact touch sequence and timing (≥ 3 touches): touchpoints, gaps from
/// the first touch, and conversion offsets.
fn signature(evs: &[Ev], convs: &[Conv]) -> u64 {
    use std::hash::Hasher;
    let mut h = rustc_hash::FxHasher::default();
    let t0 = evs[0].ts;
    for e in evs {
        h.write_u32(e.tp);
        h.write_i32(e.ts - t0);
    }
    for c in convs {
        h.write_i32(c.1 - t0);
    }
    h.finish()
}

/// One partition's sorted events and conversions.
type Partition = (Vec<Ev>, Vec<Conv>);

/// Detect suspicious units in the events and conversions files.
pub fn detect(
    events: &Path,
    conversions: &Path,
    opts: JourneyOptions,
    all: bool,
) -> Result<FraudReport, AttributionError> {
    let Touches {
        b,
        ev_parts,
        conv_parts,
        ..
    } = read_touches(events, conversions, opts)?;
    let table = &b.table;
    let ntp = table.touchpoints.len();
    let nch = table.channels.len();
    // Unit u < ntp is touchpoint u; ntp + c is channel c.
    let unit_of_channel: Vec<usize> = table
        .touchpoints
        .iter()
        .map(|t| ntp + t.channel as usize)
        .collect();
    let lookback = (opts.lookback_days * 86400.0) as i32;
    let parts: Vec<Partition> = ev_parts
        .into_par_iter()
        .zip(conv_parts)
        .map(|(p, c)| sorted_partition(p, c))
        .collect();
    // Signatures repeated anywhere (pass 1), then counts (pass 2).
    let sig_counts: FxHashMap<u64, u32> = parts
        .par_iter()
        .map(|(evs, convs)| {
            let mut m: FxHashMap<u64, u32> = FxHashMap::default();
            for (_, e, c) in journeys(evs, convs) {
                if e.len() >= 3 {
                    *m.entry(signature(e, c)).or_default() += 1;
                }
            }
            m
        })
        .reduce(FxHashMap::default, |mut a, b| {
            for (k, v) in b {
                *a.entry(k).or_default() += v;
            }
            a
        });
    let per_part: Vec<(Vec<Counts>, f64, f64, f64)> = parts
        .par_iter()
        .map(|(evs, convs)| {
            let mut counts = vec![Counts::default(); ntp + nch];
            let (mut nj, mut nt, mut nc) = (0.0, 0.0, 0.0);
            let mut units: Vec<usize> = Vec::new();
            let mut in_burst: Vec<bool> = Vec::new();
            for (j, e, c) in journeys(evs, convs) {
                nj += 1.0;
                nt += e.len() as f64;
                nc += c.len() as f64;
                let dup = e.len() >= 3 && sig_counts.get(&signature(e, c)).is_some_and(|n| *n >= 2);
                // Bursts: runs of one touchpoint's touches ≤ BURST_GAP apart.
                in_burst.clear();
                in_burst.resize(e.len(), false);
                let mut by_tp: FxHashMap<u32, Vec<usize>> = FxHashMap::default();
                for (k, ev) in e.iter().enumerate() {
                    by_tp.entry(ev.tp).or_default().push(k);
                }
                for idx in by_tp.values() {
                    let mut start = 0;
                    for w in 1..=idx.len() {
                        let split =
                            w == idx.len() || e[idx[w]].ts - e[idx[w - 1]].ts > BURST_GAP_SECONDS;
                        if split {
                            if w - start >= BURST_MIN {
                                idx[start..w].iter().for_each(|&k| in_burst[k] = true);
                            }
                            start = w;
                        }
                    }
                }
                let mut ci = 0;
                units.clear();
                for (k, ev) in e.iter().enumerate() {
                    while ci < c.len() && c[ci].1 < ev.ts {
                        ci += 1;
                    }
                    let next = c.get(ci).map(|x| x.1 - ev.ts);
                    let quick = next.is_some_and(|d| d <= QUICK_SECONDS);
                    let converting = next.is_some_and(|d| d <= lookback);
                    for u in [ev.tp as usize, unit_of_channel[ev.tp as usize]] {
                        let x = &mut counts[u];
                        x.touches += 1.0;
                        if quick {
                            x.quick += 1.0;
                            keep_smallest(&mut x.examples[0], j);
                        }
                        if converting {
                            x.converting += 1.0;
                        }
                        if in_burst[k] {
                            x.burst += 1.0;
                            keep_smallest(&mut x.examples[1], j);
                        }
                        if !units.contains(&u) {
                            units.push(u);
                        }
                    }
                }
                for &u in &units {
                    let x = &mut counts[u];
                    x.journeys += 1.0;
                    if c.is_empty() {
                        keep_smallest(&mut x.examples[2], j);
                    } else {
                        x.conv_journeys += 1.0;
                    }
                    if e.len() >= 3 {
                        x.long_journeys += 1.0;
                        if dup {
                            x.dup_journeys += 1.0;
                            keep_smallest(&mut x.examples[3], j);
                        }
                    }
                }
            }
            (counts, nj, nt, nc)
        })
        .collect();
    let mut counts = vec![Counts::default(); ntp + nch];
    let (mut nj, mut nt, mut nc) = (0.0, 0.0, 0.0);
    for (c, j, t, v) in &per_part {
        for (a, b) in counts.iter_mut().zip(c) {
            a.add(b);
        }
        nj += j;
        nt += t;
        nc += v;
    }
    // Channels with a single campaign are judged as channels only.
    let campaigns_of = |ch: usize| {
        table
            .touchpoints
            .iter()
            .filter(|t| t.channel as usize == ch && t.campaign.is_some())
            .count()
    };
    let judged: Vec<usize> = (0..ntp)
        .filter(|&u| {
            let t = &table.touchpoints[u];
            t.campaign.is_some() && campaigns_of(t.channel as usize) > 1
        })
        .chain(ntp..ntp + nch)
        .collect();
    let level_total = |campaign_level: bool| {
        let mut t = Counts::default();
        for &u in &judged {
            if (u < ntp) == campaign_level {
                t.add(&Counts {
                    examples: Default::default(),
                    ..counts[u].clone()
                });
            }
        }
        t
    };
    let totals = [level_total(false), level_total(true)];
    let mut units: Vec<(usize, Flag, [Vec<u64>; 4], usize)> = judged
        .iter()
        .map(|&u| {
            let x = &counts[u];
            let tot = &totals[(u < ntp) as usize];
            let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
            let base = |f: &dyn Fn(&Counts) -> (f64, f64)| {
                let (a, b) = f(tot);
                let (c, d) = f(x);
                ratio(a - c, b - d)
            };
            let sig = |name: &str, f: &dyn Fn(&Counts) -> (f64, f64)| {
                let (a, b) = f(x);
                Signal {
                    name: name.into(),
                    value: ratio(a, b),
                    baseline: base(f),
                }
            };
            let signals = vec![
                sig("seconds_before_conversion", &|c| (c.quick, c.touches)),
                sig("converting_share", &|c| (c.converting, c.touches)),
                sig("burst_share", &|c| (c.burst, c.touches)),
                sig("conversion_rate", &|c| (c.conv_journeys, c.journeys)),
                sig("duplicate_share", &|c| (c.dup_journeys, c.long_journeys)),
            ];
            let clip = |v: f64| {
                if v.is_finite() {
                    v.clamp(0.0, 1.0)
                } else {
                    0.0
                }
            };
            let [q, cv, bu, rate, dup] = [0, 1, 2, 3, 4].map(|i| &signals[i]);
            let stuffing = clip((q.value - q.baseline) / 0.5).min(clip(
                (cv.value - cv.baseline) / (1.0 - cv.baseline).max(1e-9),
            ));
            let bursts = clip((bu.value - bu.baseline) / 0.5);
            let farm = if x.journeys * rate.baseline >= 30.0 && rate.baseline > 0.0 {
                clip((0.2 - rate.value / rate.baseline) / 0.2)
            } else {
                0.0
            };
            let recycled = clip((dup.value - dup.baseline) / 0.5);
            let (pattern, score, ex) = [
                ("stuffing", stuffing, 0),
                ("bursts", bursts, 1),
                ("click_farm", farm, 2),
                ("recycled", recycled, 3),
            ]
            .into_iter()
            .fold(
                ("none", 0.0, 0),
                |best, c| if c.1 > best.1 { c } else { best },
            );
            let (channel, campaign) = if u < ntp {
                let t = &table.touchpoints[u];
                (
                    table.channels[t.channel as usize].clone(),
                    t.campaign.map(|k| table.campaigns[k as usize].clone()),
                )
            } else {
                (table.channels[u - ntp].clone(), None)
            };
            let flag = Flag {
                channel,
                campaign,
                score,
                pattern: pattern.into(),
                touches: x.touches,
                signals,
                examples: Vec::new(),
            };
            (u, flag, x.examples.clone(), ex)
        })
        .collect();
    let flagged_channel: FxHashSet<String> = units
        .iter()
        .filter(|(u, f, ..)| *u >= ntp && f.score >= FLAG_SCORE && f.touches >= MIN_TOUCHES)
        .map(|(_, f, ..)| f.channel.clone())
        .collect();
    let is_flag = |u: usize, f: &Flag| {
        f.score >= FLAG_SCORE
            && f.touches >= MIN_TOUCHES
            && (u >= ntp || !flagged_channel.contains(&f.channel))
    };
    // Journey ids for the flags' examples (second pass over the events file).
    let wanted: FxHashSet<u64> = units
        .iter()
        .filter(|(u, f, ..)| is_flag(*u, f))
        .flat_map(|(_, _, ex, k)| ex[*k].iter().copied())
        .collect();
    let names = journey_names(events, &wanted, opts)?;
    for (_, f, ex, k) in units.iter_mut() {
        f.examples = ex[*k]
            .iter()
            .filter_map(|j| names.get(j).cloned())
            .collect();
    }
    units.sort_by(|a, b| b.1.score.total_cmp(&a.1.score).then(a.0.cmp(&b.0)));
    let flags = units
        .iter()
        .filter(|(u, f, ..)| is_flag(*u, f))
        .map(|(_, f, ..)| f.clone())
        .collect();
    Ok(FraudReport {
        schema_version: FRAUD_SCHEMA_VERSION,
        journeys: nj,
        touches: nt,
        conversions: nc,
        flags,
        all: all.then(|| units.into_iter().map(|(_, f, ..)| f).collect()),
    })
}

/// Original journey ids of the wanted keys (Parquet events: the keys in hex).
pub(crate) fn journey_names(
    events: &Path,
    wanted: &FxHashSet<u64>,
    opts: JourneyOptions,
) -> Result<FxHashMap<u64, String>, AttributionError> {
    if wanted.is_empty() {
        return Ok(FxHashMap::default());
    }
    if events
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet"))
    {
        return Ok(wanted.iter().map(|k| (*k, format!("{k:016x}"))).collect());
    }
    let (_, parsed) = parse_stream(
        events,
        &["journey_id"],
        &[],
        opts.read,
        |rec, ci, _: &mut ()| {
            let id = bytes_field(rec, ci[0]);
            let k = journey_key(id);
            Ok(wanted
                .contains(&k)
                .then(|| (k, String::from_utf8_lossy(id).into_owned())))
        },
    )?;
    Ok(parsed.into_iter().flat_map(|(v, ..)| v).collect())
}

/// Copy the events CSV without the touches of flagged units (the header and every other
/// row unchanged), for re-attribution.
pub fn write_clean_events(
    events: &Path,
    report: &FraudReport,
    out: &Path,
) -> Result<usize, AttributionError> {
    let read_err = |source: csv::Error| AttributionError::Io {
        path: events.to_path_buf(),
        source: std::io::Error::other(source),
    };
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(events)
        .map_err(read_err)?;
    let headers = rdr.byte_headers().map_err(read_err)?.clone();
    let col = |n: &str| headers.iter().position(|h| h.trim_ascii() == n.as_bytes());
    let (ch, camp) = (col("channel"), col("campaign"));
    let Some(ch) = ch else {
        return Err(AttributionError::MissingColumn {
            path: events.to_path_buf(),
            column: "channel".into(),
            available: headers
                .iter()
                .map(|h| String::from_utf8_lossy(h).into_owned())
                .collect::<Vec<_>>()
                .join(", "),
        });
    };
    // Rows stream from the reader to the output file; a read failure stops the write
    // (its temporary file is removed) and is reported against the events file.
    let mut failed: Option<AttributionError> = None;
    let mut dropped = 0usize;
    let written = crate::io::write_atomic_with(out, |w| {
        let mut w = csv::Writer::from_writer(w);
        w.write_byte_record(&headers)?;
        for rec in rdr.byte_records() {
            let rec = match rec {
                Ok(r) => r,
                Err(e) => {
                    failed = Some(read_err(e));
                    return Err(std::io::Error::other("events file unreadable"));
                }
            };
            let text = |i: Option<usize>| {
                i.and_then(|i| rec.get(i))
                    .map(|b| String::from_utf8_lossy(b.trim_ascii()).into_owned())
                    .filter(|s| !s.is_empty())
            };
            let c = text(Some(ch)).unwrap_or_default();
            if report.is_flagged(&c, text(camp).as_deref()) {
                dropped += 1;
                continue;
            }
            w.write_byte_record(&rec)?;
        }
        w.flush()
    });
    if let Some(e) = failed {
        return Err(e);
    }
    written.map_err(|source| AttributionError::Io {
        path: out.to_path_buf(),
        source,
    })?;
    Ok(dropped)
}
