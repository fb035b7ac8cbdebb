//! Touch-level events and conversions → journeys → a [`PathTable`].
//!
//! Events: `journey_id,timestamp,channel[,campaign][,cost]`; conversions:
//! `journey_id,timestamp,value`. Timestamps are ISO dates or date-times
//! (`2024-03-01`, `2024-03-01T12:30:00`, `2024-03-01 12:30:00Z`) or Unix seconds.
//! Journeys: a journey's touches are ordered by time; each conversion closes a path made
//! of the touches since the previous conversion that are at most `lookback_days` older than
//! it (touches after a conversion start a new path); touches after the last conversion
//! form a non-converting path (those within `lookback_days` of its last touch). A
//! conversion with no touch in its window is counted as unattributed.
//!
//! Files are parsed in parallel chunks, events are sorted by (journey, time) in parallel
//! and paths are aggregated per thread, then merged.

use std::path::Path;

use rayon::prelude::*;

use super::rows::{compact_time, journey_key, part_of, Conv, Ev, LocalEvents, PARTS};
pub use super::rows::{parse_timestamp, parse_timestamp_bytes};
use super::table::{bytes_field, field, parse_stream, ReadOptions, TableBuilder, Touchpoint};
use super::{AttributionError, Model, PathTable};

/// Journey-building options.
#[derive(Debug, Clone, Copy)]
pub struct JourneyOptions {
    /// Touches older than this before a conversion are not part of its path.
    pub lookback_days: f64,
    /// Half-life (days) for the time-decay model, computed while paths are built.
    pub half_life_days: f64,
    /// Input handling.
    pub read: ReadOptions,
}

impl Default for JourneyOptions {
    fn default() -> Self {
        JourneyOptions {
            lookback_days: 30.0,
            half_life_days: 7.0,
            read: ReadOptions::default(),
        }
    }
}

/// Per-range conversions by partition.
struct LocalConversions {
    parts: Vec<Vec<Conv>>,
}

impl Default for LocalConversions {
    fn default() -> Self {
        LocalConversions {
            parts: vec![Vec::new(); PARTS],
        }
    }
}

/// Paths and side totals built by one worker.
struct Walked {
    b: TableBuilder,
    decay: Vec<(f64, f64)>,
    unattributed: (f64, f64),
    journeys: f64,
}

/// Touches and conversions read from their files, partitioned by journey: what
/// [`read_events`] walks into paths and what the fraud signals are computed from.
pub(crate) struct Touches {
    /// Channel, campaign and touchpoint names (no paths yet).
    pub(crate) b: TableBuilder,
    /// Whether the events had a cost column.
    pub(crate) has_cost: bool,
    /// Cost per touchpoint.
    pub(crate) costs: Vec<f64>,
    /// Events by partition (pieces per parse range; touchpoints are global ids).
    pub(crate) ev_parts: Vec<Vec<Vec<Ev>>>,
    /// Conversions `(journey key, time, value)` by partition.
    pub(crate) conv_parts: Vec<Vec<Vec<Conv>>>,
    /// Rows skipped under `--skip-bad-rows`.
    pub(crate) skipped: usize,
}

/// Read events and conversions (CSV, or Parquet events) into [`Touches`].
pub(crate) fn read_touches(
    events: &Path,
    conversions: &Path,
    opts: JourneyOptions,
) -> Result<Touches, AttributionError> {
    read_touches_by(events, conversions, opts, "campaign")
}

/// [`read_touches`] with `campaign_column` read into the campaign slot (`journeys --by`
/// reads a segment column there; CSV events only for any other column).
pub(crate) fn read_touches_by(
    events: &Path,
    conversions: &Path,
    opts: JourneyOptions,
    campaign_column: &str,
) -> Result<Touches, AttributionError> {
    let is_parquet = events
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet"));
    if is_parquet && campaign_column != "campaign" {
        return Err(AttributionError::Config(format!(
            "segmenting by `{campaign_column}` needs CSV events"
        )));
    }
    let (has_cost, mut parsed) = if is_parquet {
        super::parquet::read_events_parquet(events, opts.read)?
    } else {
        let (ci, parsed) = parse_stream(
            events,
            &["journey_id", "timestamp", "channel"],
            &[campaign_column, "cost"],
            opts.read,
            |rec, ci, local: &mut LocalEvents| {
                let bad = |c: &str, v: &[u8], r: &str| {
                    (
                        c.to_string(),
                        String::from_utf8_lossy(v).into_owned(),
                        r.to_string(),
                    )
                };
                let jid = bytes_field(rec, ci[0]);
                if jid.is_empty() {
                    return Err(bad("journey_id", b"", "empty journey id"));
                }
                let tsr = bytes_field(rec, ci[1]);
                let ts = parse_timestamp_bytes(tsr).ok_or_else(|| {
                    bad(
                        "timestamp",
                        tsr,
                        "not a timestamp (ISO date/time or Unix seconds)",
                    )
                })?;
                let ts = compact_time(ts).ok_or_else(|| {
                    bad("timestamp", tsr, "outside the supported years 1932–2068")
                })?;
                let ch = bytes_field(rec, ci[2]);
                if ch.is_empty() {
                    return Err(bad("channel", b"", "empty channel"));
                }
                let camp = bytes_field(rec, ci[3]);
                let raw = bytes_field(rec, ci[4]);
                let cost = if raw.is_empty() {
                    0.0
                } else {
                    match std::str::from_utf8(raw)
                        .ok()
                        .and_then(|r| r.parse::<f64>().ok())
                    {
                        Some(v) if v.is_finite() && v >= 0.0 => v,
                        _ => return Err(bad("cost", raw, "cost must be a number ≥ 0")),
                    }
                };
                local.push(jid, ts, ch, camp, cost);
                Ok(None::<()>)
            },
        )?;
        if campaign_column != "campaign" && ci[3].is_none() {
            return Err(AttributionError::MissingColumn {
                path: events.to_path_buf(),
                column: campaign_column.to_string(),
                available: "journey_id, timestamp, channel and the file's other columns".into(),
            });
        }
        (ci[4].is_some(), parsed)
    };
    let mut b = TableBuilder::default();
    let mut skipped = 0;
    let mut costs: Vec<f64> = Vec::new();
    let mut maps: Vec<Vec<u32>> = Vec::with_capacity(parsed.len());
    for (_, local, sk) in &parsed {
        skipped += sk;
        let map: Vec<u32> = local
            .names
            .iter()
            .map(|(ch, camp)| {
                let channel = b.channel(ch);
                let campaign = camp.as_ref().map(|c| b.campaign(c));
                b.touchpoint(Touchpoint { channel, campaign })
            })
            .collect();
        costs.resize(b.table.touchpoints.len(), 0.0);
        for (l, g) in map.iter().enumerate() {
            costs[*g as usize] += local.costs[l];
        }
        maps.push(map);
    }
    parsed
        .par_iter_mut()
        .zip(&maps)
        .for_each(|((_, local, _), map)| {
            for part in local.parts.iter_mut() {
                part.iter_mut().for_each(|e| e.tp = map[e.tp as usize]);
            }
        });
    let mut ev_parts: Vec<Vec<Vec<Ev>>> = (0..PARTS).map(|_| Vec::new()).collect();
    let mut n_events = 0usize;
    for (_, local, _) in parsed {
        for (p, v) in local.parts.into_iter().enumerate() {
            n_events += v.len();
            ev_parts[p].push(v);
        }
    }
    if n_events == 0 {
        return Err(AttributionError::Empty {
            path: events.to_path_buf(),
        });
    }

    let (_, conv_parsed) = parse_stream(
        conversions,
        &["journey_id", "timestamp", "value"],
        &[],
        opts.read,
        |rec, cc, local: &mut LocalConversions| {
            let bad = |c: &str, v: &str, r: &str| (c.to_string(), v.to_string(), r.to_string());
            let jid = bytes_field(rec, cc[0]);
            if jid.is_empty() {
                return Err(bad("journey_id", "", "empty journey id"));
            }
            let tsr = field(rec, cc[1]);
            let ts = parse_timestamp(tsr).ok_or_else(|| {
                bad(
                    "timestamp",
                    tsr,
                    "not a timestamp (ISO date/time or Unix seconds)",
                )
            })?;
            let ts = compact_time(ts)
                .ok_or_else(|| bad("timestamp", tsr, "outside the supported years 1932–2068"))?;
            let vr = field(rec, cc[2]);
            let value = match vr.parse::<f64>() {
                Ok(v) if v.is_finite() => v,
                _ => return Err(bad("value", vr, "not a finite number")),
            };
            let jid = journey_key(jid);
            local.parts[part_of(jid)].push((jid, ts, value));
            Ok(None::<()>)
        },
    )?;
    let mut conv_parts: Vec<Vec<Vec<Conv>>> = (0..PARTS).map(|_| Vec::new()).collect();
    for (_, local, sk) in conv_parsed {
        skipped += sk;
        for (p, v) in local.parts.into_iter().enumerate() {
            conv_parts[p].push(v);
        }
    }

    Ok(Touches {
        b,
        has_cost,
        costs,
        ev_parts,
        conv_parts,
        skipped,
    })
}

/// One partition's events sorted by (journey, time, touchpoint) and its conversions by
/// (journey, time, value).
pub(crate) fn sorted_partition(
    pieces: Vec<Vec<Ev>>,
    conv_pieces: Vec<Vec<Conv>>,
) -> (Vec<Ev>, Vec<Conv>) {
    let mut evs: Vec<Ev> = Vec::with_capacity(pieces.iter().map(|v| v.len()).sum());
    for v in pieces {
        evs.extend_from_slice(&v);
    }
    evs.sort_unstable_by_key(|e| (e.jid, e.ts, e.tp));
    let mut convs: Vec<Conv> = conv_pieces.concat();
    convs.sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)).then(a.2.total_cmp(&b.2)));
    (evs, convs)
}

/// Journeys of one sorted partition ([`sorted_partition`]): `(journey key, events,
/// conversions)` per journey, including journeys with conversions but no touch.
pub(crate) fn journey_slices<'a>(
    evs: &'a [Ev],
    convs: &'a [Conv],
) -> impl Iterator<Item = (u64, &'a [Ev], &'a [Conv])> + 'a {
    let (mut i, mut ci) = (0usize, 0usize);
    std::iter::from_fn(move || {
        let j = match (evs.get(i), convs.get(ci)) {
            (Some(e), Some(c)) => e.jid.min(c.0),
            (Some(e), None) => e.jid,
            (None, Some(c)) => c.0,
            (None, None) => return None,
        };
        let (s, cs) = (i, ci);
        while i < evs.len() && evs[i].jid == j {
            i += 1;
        }
        while ci < convs.len() && convs[ci].0 == j {
            ci += 1;
        }
        Some((j, &evs[s..i], &convs[cs..ci]))
    })
}

/// Build journeys from events and conversions files.
pub fn read_events(
    events: &Path,
    conversions: &Path,
    opts: JourneyOptions,
) -> Result<PathTable, AttributionError> {
    let Touches {
        mut b,
        has_cost,
        costs,
        ev_parts,
        conv_parts,
        skipped,
    } = read_touches(events, conversions, opts)?;
    let lookback = (opts.lookback_days * 86400.0) as i64;
    let ntp = b.table.touchpoints.len();
    let hl = opts.half_life_days * 86400.0;
    // One walk per partition (a fixed number, whatever the thread count), merged in
    // partition order: the table and its sums are the same on any number of threads.
    let walked: Vec<Walked> = ev_parts
        .into_par_iter()
        .zip(conv_parts)
        .map(|(pieces, conv_pieces)| {
            let mut l = Walked {
                b: TableBuilder::default(),
                decay: vec![(0.0, 0.0); ntp],
                unattributed: (0.0, 0.0),
                journeys: 0.0,
            };
            let (evs, convs) = sorted_partition(pieces, conv_pieces);
            walk(&evs, &convs, lookback, hl, &mut l);
            l
        })
        .collect();
    let mut decay = vec![(0.0, 0.0); ntp];
    let (mut unatt, mut journeys) = ((0.0, 0.0), 0.0);
    for l in &walked {
        for (d, x) in decay.iter_mut().zip(&l.decay) {
            d.0 += x.0;
            d.1 += x.1;
        }
        unatt.0 += l.unattributed.0;
        unatt.1 += l.unattributed.1;
        journeys += l.journeys;
    }
    // Merge the workers' paths into the table (touchpoint ids are already global).
    for l in walked {
        let lt = l.b.table;
        for row in &lt.paths {
            b.add_path(lt.path(row), row.conversions, row.value, row.nulls);
        }
    }
    let mut t = b.finish();
    t.journeys = journeys;
    t.time_decay = Some(decay);
    t.costs = has_cost.then_some(costs);
    t.unattributed_conversions = unatt.0;
    t.unattributed_value = unatt.1;
    t.skipped_rows = skipped;
    Ok(t)
}

/// Walk journeys sorted by (journey, time) against their sorted conversions.
fn walk(evs: &[Ev], convs: &[Conv], lookback: i64, half_life: f64, l: &mut Walked) {
    let (mut i, mut ci) = (0usize, 0usize);
    let mut toks: Vec<u32> = Vec::new();
    let mut ages: Vec<f64> = Vec::new();
    while i < evs.len() || ci < convs.len() {
        let j = match (evs.get(i), convs.get(ci)) {
            (Some(e), Some(c)) => e.jid.min(c.0),
            (Some(e), None) => e.jid,
            (None, Some(c)) => c.0,
            (None, None) => break,
        };
        let mut end = i;
        while end < evs.len() && evs[end].jid == j {
            end += 1;
        }
        l.journeys += 1.0;
        let mut seg = i;
        while ci < convs.len() && convs[ci].0 == j {
            let (_, cts, val) = convs[ci];
            let mut k = seg;
            while k < end && evs[k].ts <= cts {
                k += 1;
            }
            toks.clear();
            ages.clear();
            for e in &evs[seg..k] {
                let age = cts as i64 - e.ts as i64;
                if age <= lookback {
                    toks.push(e.tp);
                    ages.push(age as f64);
                }
            }
            if toks.is_empty() {
                l.unattributed.0 += 1.0;
                l.unattributed.1 += val;
            } else {
                l.b.add_path(&toks, 1.0, val, 0.0);
                let decay = Model::TimeDecay { half_life };
                let w = super::rules::weights(&decay, toks.len(), &|_| false, &|i| ages[i]);
                for (t, w) in toks.iter().zip(&w) {
                    l.decay[*t as usize].0 += w;
                    l.decay[*t as usize].1 += w * val;
                }
            }
            seg = k;
            ci += 1;
        }
        if seg < end {
            let last = evs[end - 1].ts;
            toks.clear();
            toks.extend(
                evs[seg..end]
                    .iter()
                    .filter(|e| last as i64 - e.ts as i64 <= lookback)
                    .map(|e| e.tp),
            );
            l.b.add_path(&toks, 0.0, 0.0, 1.0);
        }
        i = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(parse_timestamp("1970-01-02"), Some(86400));
        assert_eq!(parse_timestamp("2024-03-01T00:00:00Z"), Some(1709251200));
        assert_eq!(
            parse_timestamp("2024-03-01 01:00:00+01:00"),
            Some(1709251200)
        );
        assert_eq!(parse_timestamp("2024-03-01T00:00:30.250"), Some(1709251230));
        assert_eq!(parse_timestamp("1709251200"), Some(1709251200));
        assert_eq!(parse_timestamp("2024-13-01"), None);
        assert_eq!(parse_timestamp("yesterday"), None);
    }

    #[test]
    fn journeys_split_at_conversions_with_lookback() {
        let dir = tempfile::tempdir().unwrap();
        let ev = dir.path().join("e.csv");
        let cv = dir.path().join("c.csv");
        std::fs::write(
            &ev,
            "journey_id,timestamp,channel,campaign,cost\n\
             u1,2024-01-01,display,d1,1\n\
             u1,2024-01-20,search,s1,2\n\
             u1,2024-01-25,email,,0\n\
             u1,2024-02-10,social,so1,3\n\
             u2,2024-01-05,search,s1,2\n\
             u3,2024-01-01,display,d1,1\n",
        )
        .unwrap();
        // u1 converts on 01-26 (display is > 30 days? no: 25 days → kept) and on 02-11;
        // u3 converts 03-15: its only touch is 74 days old → unattributed; u4 has no touch.
        std::fs::write(
            &cv,
            "journey_id,timestamp,value\nu1,2024-01-26,50\nu1,2024-02-11,20\nu3,2024-03-15,7\nu4,2024-01-01,9\n",
        )
        .unwrap();
        let t = read_events(&ev, &cv, JourneyOptions::default()).unwrap();
        let paths: Vec<(Vec<String>, f64, f64, f64)> = t
            .paths
            .iter()
            .map(|r| {
                (
                    t.path(r)
                        .iter()
                        .map(|&k| t.channels[t.channel_of(k) as usize].clone())
                        .collect(),
                    r.conversions,
                    r.value,
                    r.nulls,
                )
            })
            .collect();
        let find = |p: &[&str]| paths.iter().find(|x| x.0 == p).cloned();
        assert_eq!(
            find(&["display", "search", "email"]).map(|x| (x.1, x.2, x.3)),
            Some((1.0, 50.0, 0.0))
        );
        assert_eq!(find(&["social"]).map(|x| (x.1, x.2)), Some((1.0, 20.0)));
        assert_eq!(find(&["search"]).map(|x| x.3), Some(1.0));
        assert_eq!(t.unattributed_conversions, 2.0);
        assert_eq!(t.unattributed_value, 16.0);
        assert_eq!(t.journeys, 4.0);
        let costs = t.costs.as_ref().unwrap();
        assert_eq!(costs.iter().sum::<f64>(), 9.0);
        assert_eq!(t.campaigns.len(), 3);
    }
}
