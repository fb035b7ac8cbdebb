//! Audiences: exportable lists of journey ids defined by behaviour, each with its size
//! and the incremental value expected if it is targeted.
//!
//! Segments (journeys as in [`super::journeys`]):
//! - `touched_<X>_not_converted`: journeys that touched channel X and never converted;
//! - `stage_<Y>`: journeys that reached stage Y (a touch of channel or event Y) and did
//!   not convert after their last Y;
//! - `high_propensity`: the non-converting journeys in the top `top_share` of predicted
//!   conversion probability `p(T)` under the fitted conversion model (the one Shapley
//!   chooses by held-out likelihood, [`ConversionModel`]), `T` the journey's channel set.
//!
//! **Expected incremental value if targeted**: each journey of the segment gets one more
//! touch of the target channel `Z`; under the conversion model that adds
//! `p(T ∪ {Z}) − p(T)` conversions (0 when `Z ∈ T`), times the average conversion value.
//! `Z` is given, or the channel with the largest lift on a journey with no other touch,
//! `p({Z}) − p(∅)`. The model is fitted on observed journeys, so this is a planning figure
//! with the attribution's assumptions, not a measured lift.

use std::path::Path;

use rayon::prelude::*;
use rustc_hash::FxHashSet;
use serde::{Deserialize, Serialize};

use super::events::{
    journey_slices, read_events, read_touches, sorted_partition, JourneyOptions, Touches,
};
use super::shapley::ConversionModel;
use super::AttributionError;

/// Schema version of [`AudiencesReport`].
pub const AUDIENCES_SCHEMA_VERSION: u32 = 1;

/// Which audiences to build.
#[derive(Debug, Clone, Default)]
pub struct AudienceRequest {
    /// Channels X for `touched_<X>_not_converted` (empty: every channel).
    pub touched: Vec<String>,
    /// Stages Y for `stage_<Y>`.
    pub stages: Vec<String>,
    /// Share of non-converting journeys in `high_propensity` (0 turns it off).
    pub top_share: f64,
    /// Target channel (default: the largest single-touch lift).
    pub target: Option<String>,
    /// Seed of the conversion model's folds.
    pub seed: u64,
}

/// One audience.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Audience {
    /// Segment name (also its file name, `.csv`).
    pub name: String,
    /// What it is.
    pub definition: String,
    /// Journeys.
    pub size: u64,
    /// Mean predicted conversion probability of its journeys.
    pub mean_probability: f64,
    /// Expected incremental conversions if each journey gets one touch of the target.
    pub expected_incremental_conversions: f64,
    /// Times the average conversion value.
    pub expected_incremental_value: f64,
}

/// The `audiences` document (also `DIR/audiences.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AudiencesReport {
    /// Schema version.
    pub schema_version: u32,
    /// The conversion model's form.
    pub conversion_model: String,
    /// Target channel of the incremental figures.
    pub target_channel: String,
    /// Average value per conversion.
    pub average_value: f64,
    /// Audiences.
    pub audiences: Vec<Audience>,
}

/// Audiences with their members' journey keys.
pub struct Built {
    /// The report.
    pub report: AudiencesReport,
    /// Per audience, its journey ids (report order).
    pub members: Vec<Vec<String>>,
}

/// A file-safe segment name.
fn safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Build the requested audiences.
pub fn build(
    events: &Path,
    conversions: &Path,
    opts: JourneyOptions,
    req: &AudienceRequest,
) -> Result<Built, AttributionError> {
    let table = read_events(events, conversions, opts)?;
    let model = ConversionModel::fit(&table, req.seed);
    let names = &table.channels;
    let id_of = |n: &str| -> Result<u32, AttributionError> {
        names
            .iter()
            .position(|c| c == n)
            .map(|i| i as u32)
            .ok_or_else(|| {
                AttributionError::Config(format!(
                    "channel `{n}` is not in the events (channels: {})",
                    names.join(", ")
                ))
            })
    };
    let target = match &req.target {
        Some(t) => id_of(t)?,
        None => (0..names.len() as u32)
            .max_by(|&a, &b| model.p(&[a]).total_cmp(&model.p(&[b])).then(b.cmp(&a)))
            .unwrap_or(0),
    };
    let touched: Vec<u32> = if req.touched.is_empty() {
        (0..names.len() as u32).collect()
    } else {
        req.touched
            .iter()
            .map(|n| id_of(n))
            .collect::<Result<_, _>>()?
    };
    let stages: Vec<u32> = req
        .stages
        .iter()
        .map(|n| id_of(n))
        .collect::<Result<_, _>>()?;
    if !(0.0..=1.0).contains(&req.top_share) {
        return Err(AttributionError::Config(format!(
            "--top-share must be in [0, 1], got {}",
            req.top_share
        )));
    }
    let conv_total = table.conversions();
    let average_value = if conv_total > 0.0 {
        table.value() / conv_total
    } else {
        0.0
    };
    let Touches {
        b,
        ev_parts,
        conv_parts,
        ..
    } = read_touches(events, conversions, opts)?;
    // Channel ids of this read, in the table's numbering.
    let map: Vec<u32> = b
        .table
        .touchpoints
        .iter()
        .map(|t| {
            let n = &b.table.channels[t.channel as usize];
            names.iter().position(|c| c == n).unwrap_or(0) as u32
        })
        .collect();
    let nseg = touched.len() + stages.len();
    // Per journey: (key, p, lift, segment memberships) for non-converting ones.
    type Row = (u64, f64, f64, Vec<usize>, bool);
    let rows: Vec<Row> = ev_parts
        .into_par_iter()
        .zip(conv_parts)
        .flat_map_iter(|(p, c)| {
            let (evs, convs) = sorted_partition(p, c);
            let mut out: Vec<Row> = Vec::new();
            let mut set: Vec<u32> = Vec::new();
            for (j, e, cs) in journey_slices(&evs, &convs) {
                if e.is_empty() {
                    continue;
                }
                let last_conv = cs.iter().map(|c| c.1).max();
                set.clear();
                set.extend(e.iter().map(|x| map[x.tp as usize]));
                set.sort_unstable();
                set.dedup();
                let p = model.p(&set);
                let lift = if set.binary_search(&target).is_ok() {
                    0.0
                } else {
                    let mut with = set.clone();
                    let at = with.binary_search(&target).unwrap_or_else(|k| k);
                    with.insert(at, target);
                    (model.p(&with) - p).max(0.0)
                };
                let mut member = Vec::new();
                for (k, &x) in touched.iter().enumerate() {
                    if last_conv.is_none() && set.binary_search(&x).is_ok() {
                        member.push(k);
                    }
                }
                for (k, &y) in stages.iter().enumerate() {
                    let last_y = e
                        .iter()
                        .filter(|x| map[x.tp as usize] == y)
                        .map(|x| x.ts)
                        .max();
                    if let Some(ty) = last_y {
                        if last_conv.is_none_or(|c| c < ty) {
                            member.push(touched.len() + k);
                        }
                    }
                }
                if last_conv.is_none() || !member.is_empty() {
                    out.push((j, p, lift, member, last_conv.is_none()));
                }
            }
            out
        })
        .collect();
    let mut audiences = Vec::new();
    let mut keys: Vec<Vec<u64>> = Vec::new();
    // `+ 0.0` turns the empty sum's −0 into 0.
    let summary = |name: String, definition: String, sel: &[&Row]| {
        let lift = sel.iter().map(|r| r.2).sum::<f64>() + 0.0;
        Audience {
            name,
            definition,
            size: sel.len() as u64,
            mean_probability: (sel.iter().map(|r| r.1).sum::<f64>() + 0.0)
                / sel.len().max(1) as f64,
            expected_incremental_conversions: lift,
            expected_incremental_value: lift * average_value,
        }
    };
    for k in 0..nseg {
        let sel: Vec<&Row> = rows.iter().filter(|r| r.3.contains(&k)).collect();
        let (name, def) = if k < touched.len() {
            let x = &names[touched[k] as usize];
            (
                format!("touched_{}_not_converted", safe(x)),
                format!("journeys that touched {x} and did not convert"),
            )
        } else {
            let y = &names[stages[k - touched.len()] as usize];
            (
                format!("stage_{}", safe(y)),
                format!("journeys that reached {y} and did not convert after it"),
            )
        };
        audiences.push(summary(name, def, &sel));
        keys.push(sel.iter().map(|r| r.0).collect());
    }
    if req.top_share > 0.0 {
        let mut open: Vec<&Row> = rows.iter().filter(|r| r.4).collect();
        open.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let n = (req.top_share * open.len() as f64).round() as usize;
        let sel = &open[..n.min(open.len())];
        audiences.push(summary(
            "high_propensity".into(),
            format!(
                "the {:.0}% of non-converting journeys with the highest predicted conversion probability",
                100.0 * req.top_share
            ),
            sel,
        ));
        keys.push(sel.iter().map(|r| r.0).collect());
    }
    let wanted: FxHashSet<u64> = keys.iter().flatten().copied().collect();
    let ids = super::fraud::journey_names(events, &wanted, opts)?;
    let members = keys
        .iter()
        .map(|k| {
            let mut v: Vec<String> = k.iter().filter_map(|j| ids.get(j).cloned()).collect();
            v.sort();
            v
        })
        .collect();
    Ok(Built {
        report: AudiencesReport {
            schema_version: AUDIENCES_SCHEMA_VERSION,
            conversion_model: serde_json::to_value(model.form)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            target_channel: names[target as usize].clone(),
            average_value,
            audiences,
        },
        members,
    })
}
