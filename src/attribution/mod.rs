//! Touch-based multi-touch attribution over customer journeys.
//!
//! Inputs become a [`PathTable`] (unique paths of touchpoints with conversions, value and
//! non-converting counts); every model reads that table and hands out credit per channel
//! and per campaign. Rule-based models ([`rules`]) follow positions in the path;
//! data-driven models are the Markov-chain removal effect ([`markov`]) and Shapley values
//! of the conversion-rate game over touched channel sets ([`shapley`]).
//!
//! Path-position models are correlational: a channel that always comes last (direct) or
//! first (display) gets credit for where it stands, not for what it causes. The Shapley
//! model compares conversion rates of journeys with and without each channel, which is
//! what the MMM combination needs as a calibration input.

pub mod audiences;
pub mod events;
pub mod fraud;
pub mod journeys;
pub mod markov;
pub mod parquet;
pub(crate) mod rows;
pub mod rules;
pub mod shapley;
pub mod simulate;
pub mod table;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use table::{read_paths_csv, PathRow, PathTable, ReadOptions, TableBuilder, Touchpoint};

/// Errors reading journeys or configuring models.
#[derive(Debug, Error)]
pub enum AttributionError {
    /// File could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// No rows.
    #[error("{path}: no data rows")]
    Empty { path: PathBuf },
    /// A required column is missing.
    #[error("{path}: missing column `{column}`; columns present: {available}")]
    MissingColumn {
        path: PathBuf,
        column: String,
        available: String,
    },
    /// A bad row.
    #[error("{path}, row {row}{}: {reason}{}", if column.is_empty() { String::new() } else { format!(", column `{column}`") }, if value.is_empty() { String::new() } else { format!(" (value `{value}`)") })]
    BadRow {
        path: PathBuf,
        row: u64,
        column: String,
        value: String,
        reason: String,
    },
    /// Bad model name or setting.
    #[error("{0}")]
    Config(String),
}

/// Every model name `--model` accepts, in documentation order.
pub const MODEL_NAMES: [&str; 11] = [
    "first",
    "last",
    "last_non_direct",
    "linear",
    "position",
    "w_shaped",
    "time_decay",
    "markov1",
    "markov2",
    "markov3",
    "shapley",
];

/// An attribution model and its settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "snake_case")]
pub enum Model {
    /// All credit to the first touch.
    First,
    /// All credit to the last touch.
    Last,
    /// All credit to the last touch that is not the direct channel (falls back to last).
    LastNonDirect,
    /// Equal credit to every touch.
    Linear,
    /// U-shaped: `first` to the first touch, `last` to the last, the rest shared by the middle.
    Position { first: f64, last: f64 },
    /// W-shaped: first, middle (lead) and last touches, the rest shared by the others.
    WShaped { first: f64, middle: f64, last: f64 },
    /// Credit ∝ 2^(−age / half_life), age in days (events) or touches (paths input).
    TimeDecay { half_life: f64 },
    /// Markov chain of this order; credit ∝ removal effect.
    Markov { order: usize },
    /// Shapley values of the conversion-rate game over touched channel sets.
    Shapley,
}

impl Model {
    /// Parse a list of model names (see [`Model::parse`]).
    pub fn parse_list(
        names: &[String],
        settings: &ModelSettings,
    ) -> Result<Vec<Model>, AttributionError> {
        names.iter().map(|n| Model::parse(n, settings)).collect()
    }

    /// Parse a CLI model name (`first`, `last`, `last_non_direct`, `linear`, `position`,
    /// `w_shaped`, `time_decay`, `markov1..3`, `shapley`) with default settings.
    pub fn parse(name: &str, settings: &ModelSettings) -> Result<Model, AttributionError> {
        Ok(match name.trim() {
            "first" => Model::First,
            "last" => Model::Last,
            "last_non_direct" => Model::LastNonDirect,
            "linear" => Model::Linear,
            "position" | "u_shaped" => Model::Position {
                first: settings.position[0],
                last: settings.position[1],
            },
            "w_shaped" => Model::WShaped {
                first: settings.w_shaped[0],
                middle: settings.w_shaped[1],
                last: settings.w_shaped[2],
            },
            "time_decay" => Model::TimeDecay {
                half_life: settings.half_life,
            },
            "markov" | "markov1" => Model::Markov { order: 1 },
            "markov2" => Model::Markov { order: 2 },
            "markov3" => Model::Markov { order: 3 },
            "shapley" => Model::Shapley,
            other => {
                return Err(AttributionError::Config(format!(
                    "unknown model `{other}`; use {}",
                    MODEL_NAMES.join(", ")
                )))
            }
        })
    }

    /// The model's CLI name.
    pub fn name(&self) -> String {
        match self {
            Model::First => "first".into(),
            Model::Last => "last".into(),
            Model::LastNonDirect => "last_non_direct".into(),
            Model::Linear => "linear".into(),
            Model::Position { .. } => "position".into(),
            Model::WShaped { .. } => "w_shaped".into(),
            Model::TimeDecay { .. } => "time_decay".into(),
            Model::Markov { order } => format!("markov{order}"),
            Model::Shapley => "shapley".into(),
        }
    }
}

/// Settings shared by the models.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelSettings {
    /// U-shaped weights: first, last (the middle shares the rest).
    pub position: [f64; 2],
    /// W-shaped weights: first, middle, last (the others share the rest).
    pub w_shaped: [f64; 3],
    /// Time-decay half-life: days for events input, touches for paths input.
    pub half_life: f64,
    /// Name of the direct channel (for `last_non_direct`).
    pub direct_channel: String,
    /// Seed for the Shapley approximation beyond 15 channels.
    pub seed: u64,
    /// Shapley: a control group's `[journeys, conversions]` (no paid touches), the
    /// evidence for the conversion rate without marketing.
    #[serde(default)]
    pub control: Option<[f64; 2]>,
    /// Shapley: the share of the journeys' conversions that would happen without any
    /// tracked touch, from other evidence (the MMM: `combine` reports it as
    /// `organic_share`).
    #[serde(default)]
    pub organic_share: Option<f64>,
}

impl ModelSettings {
    /// Settings from the command line's flags: U weights `first,last`, W weights
    /// `first,middle,last`, the half-life (default 2 touches for paths input, 7 days for
    /// events), the direct channel and the seed; checked.
    pub fn from_flags(
        position: &[f64],
        w_shaped: &[f64],
        half_life: Option<f64>,
        paths_input: bool,
        direct_channel: String,
        seed: u64,
    ) -> Result<ModelSettings, AttributionError> {
        let (&[pf, pl], &[wf, wm, wl]) = (position, w_shaped) else {
            return Err(AttributionError::Config(
                "position weights take first,last and W weights take first,middle,last".into(),
            ));
        };
        let s = ModelSettings {
            position: [pf, pl],
            w_shaped: [wf, wm, wl],
            half_life: half_life.unwrap_or(if paths_input { 2.0 } else { 7.0 }),
            direct_channel,
            seed,
            control: None,
            organic_share: None,
        };
        s.check()?;
        Ok(s)
    }
}

impl Default for ModelSettings {
    fn default() -> Self {
        ModelSettings {
            position: [0.4, 0.4],
            w_shaped: [0.3, 0.3, 0.3],
            half_life: 7.0,
            direct_channel: "direct".into(),
            seed: 0,
            control: None,
            organic_share: None,
        }
    }
}

impl ModelSettings {
    /// Check weights and half-life.
    pub fn check(&self) -> Result<(), AttributionError> {
        let ok = |v: &[f64]| {
            v.iter().all(|x| x.is_finite() && *x >= 0.0) && v.iter().sum::<f64>() <= 1.0 + 1e-9
        };
        if !ok(&self.position) {
            return Err(AttributionError::Config(format!(
                "position weights {:?} must be ≥ 0 and sum to at most 1",
                self.position
            )));
        }
        if !ok(&self.w_shaped) {
            return Err(AttributionError::Config(format!(
                "w_shaped weights {:?} must be ≥ 0 and sum to at most 1",
                self.w_shaped
            )));
        }
        if let Some([n, c]) = self.control {
            if !(n.is_finite() && c.is_finite() && n > 0.0 && (0.0..=n).contains(&c)) {
                return Err(AttributionError::Config(format!(
                    "--control takes JOURNEYS,CONVERSIONS with 0 ≤ conversions ≤ journeys and journeys > 0, got {n},{c}"
                )));
            }
        }
        if let Some(x) = self.organic_share {
            if !(x.is_finite() && (0.0..1.0).contains(&x)) {
                return Err(AttributionError::Config(format!(
                    "--organic-share must be in [0, 1), got {x}"
                )));
            }
            if self.control.is_some() {
                return Err(AttributionError::Config(
                    "give --control or --organic-share, not both".into(),
                ));
            }
        }
        if !(self.half_life.is_finite() && self.half_life > 0.0) {
            return Err(AttributionError::Config(format!(
                "half-life must be > 0, got {}",
                self.half_life
            )));
        }
        Ok(())
    }
}

/// Credit handed to one channel or campaign.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Credit {
    /// Channel or campaign name.
    pub name: String,
    /// Credited conversions.
    pub conversions: f64,
    /// Credited value.
    pub value: f64,
    /// Fraction of all credited conversions (sums to 1 over channels).
    pub share: f64,
    /// Spend, when costs are known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost: Option<f64>,
    /// Cost share (of total cost), when costs are known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_share: Option<f64>,
    /// Cost per credited conversion.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpa: Option<f64>,
    /// Credited value per unit of cost.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roas: Option<f64>,
    /// Markov models: the channel's removal effect (relative drop in conversions when
    /// the channel is removed from every path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removal_effect: Option<f64>,
    /// Shapley: the channel's incremental conversions (Shapley values summed over
    /// journeys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incremental_conversions: Option<f64>,
    /// Campaign rows: the channel the campaign's touches came through (a campaign run
    /// through two channels has a row for each).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
}

/// A model's own per-channel figure, reported beside the credit.
enum ModelFigure {
    RemovalEffects(Vec<f64>),
    Incremental(Vec<f64>),
}

/// One model's result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelResult {
    /// Model name.
    pub model: String,
    /// Per channel, in channel order of first appearance.
    pub channels: Vec<Credit>,
    /// Per campaign (when the input has campaigns).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub campaigns: Vec<Credit>,
    /// Shapley: the conversion model its rates follow (chosen by held-out likelihood),
    /// the alternatives' answers and the largest share shift among them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversion_model: Option<shapley::ConversionModelCheck>,
}

/// The attribution report (the `mixcast attribute --json` document).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// Schema version.
    pub schema_version: u32,
    /// Journeys.
    pub journeys: u64,
    /// Unique paths.
    pub paths: usize,
    /// Total conversions (including unattributed ones).
    pub conversions: f64,
    /// Total conversion value.
    pub value: f64,
    /// Conversions with no touch in the lookback window (not credited).
    pub unattributed_conversions: f64,
    /// Rows skipped with `--skip-bad-rows`.
    pub skipped_rows: usize,
    /// One entry per requested model.
    pub models: Vec<ModelResult>,
}

/// Raw credit: per touchpoint (conversions, value).
pub(crate) type TouchCredit = Vec<(f64, f64)>;

/// Run the models on a table.
pub fn attribute(
    t: &PathTable,
    models: &[Model],
    settings: &ModelSettings,
) -> Result<Report, AttributionError> {
    settings.check()?;
    let results = models
        .iter()
        .map(|m| {
            let mut check = None;
            let (credit, raw) = match *m {
                Model::Markov { order } => {
                    let r = markov::removal_effects(t, order);
                    (
                        spread_channel_credit(t, &r.conversion_shares, &r.value_shares),
                        Some(ModelFigure::RemovalEffects(r.removal_effects)),
                    )
                }
                Model::Shapley => {
                    let evidence = settings
                        .control
                        .map(shapley::BaselineEvidence::ControlGroup)
                        .or(settings
                            .organic_share
                            .map(shapley::BaselineEvidence::OrganicShare));
                    let r = shapley::shapley(t, settings.seed, evidence);
                    check = Some(r.conversion_model);
                    (
                        spread_channel_credit(t, &r.conversion_shares, &r.value_shares),
                        Some(ModelFigure::Incremental(r.incremental)),
                    )
                }
                Model::TimeDecay { .. } if t.time_decay.is_some() => {
                    (t.time_decay.clone().unwrap_or_default(), None)
                }
                _ => (rules::rule_credit(t, m, settings), None),
            };
            let mut result = summarize(t, m.name(), &credit, raw);
            result.conversion_model = check;
            Ok(result)
        })
        .collect::<Result<Vec<_>, AttributionError>>()?;
    Ok(Report {
        schema_version: 1,
        journeys: t.journeys.round() as u64,
        paths: t.paths.len(),
        conversions: t.conversions() + t.unattributed_conversions,
        value: t.value() + t.unattributed_value,
        unattributed_conversions: t.unattributed_conversions,
        skipped_rows: t.skipped_rows,
        models: results,
    })
}

/// Split channel-level credit to touchpoints (campaigns) in proportion to each
/// touchpoint's linear-touch credit within its channel.
fn spread_channel_credit(t: &PathTable, conv_share: &[f64], value_share: &[f64]) -> TouchCredit {
    let lin = rules::rule_credit(t, &Model::Linear, &ModelSettings::default());
    let mut per_channel = vec![(0.0, 0.0); t.channels.len()];
    for (tp, c) in t.touchpoints.iter().zip(&lin) {
        per_channel[tp.channel as usize].0 += c.0;
        per_channel[tp.channel as usize].1 += c.1;
    }
    let (conv, value) = (t.conversions(), t.value());
    let mut touchpoints_per_channel = vec![0.0; t.channels.len()];
    for tp in &t.touchpoints {
        touchpoints_per_channel[tp.channel as usize] += 1.0;
    }
    t.touchpoints
        .iter()
        .zip(&lin)
        .map(|(tp, c)| {
            let ch = tp.channel as usize;
            let n = touchpoints_per_channel[ch];
            let fc = if per_channel[ch].0 > 0.0 {
                c.0 / per_channel[ch].0
            } else {
                1.0 / n
            };
            let fv = if per_channel[ch].1 > 0.0 {
                c.1 / per_channel[ch].1
            } else {
                1.0 / n
            };
            (conv * conv_share[ch] * fc, value * value_share[ch] * fv)
        })
        .collect()
}

fn credit_row(
    name: String,
    conv: f64,
    value: f64,
    total_conv: f64,
    cost: Option<(f64, f64)>,
) -> Credit {
    Credit {
        name,
        conversions: conv,
        value,
        share: if total_conv > 0.0 {
            conv / total_conv
        } else {
            0.0
        },
        cost: cost.map(|c| c.0),
        cost_share: cost.map(|(c, total)| if total > 0.0 { c / total } else { 0.0 }),
        cpa: cost.and_then(|(c, _)| (conv > 0.0).then(|| c / conv)),
        roas: cost.and_then(|(c, _)| (c > 0.0).then(|| value / c)),
        removal_effect: None,
        incremental_conversions: None,
        channel: None,
    }
}

fn summarize(
    t: &PathTable,
    model: String,
    credit: &TouchCredit,
    figure: Option<ModelFigure>,
) -> ModelResult {
    let nch = t.channels.len();
    let mut ch = vec![(0.0, 0.0, 0.0); nch];
    // Campaign rows per (campaign, channel), in order of first appearance.
    let mut camp_rows: Vec<(u32, u32)> = Vec::new();
    let mut camp_index: rustc_hash::FxHashMap<(u32, u32), usize> = Default::default();
    let mut camp: Vec<(f64, f64, f64)> = Vec::new();
    for (i, tp) in t.touchpoints.iter().enumerate() {
        let cost = t.costs.as_ref().map(|c| c[i]).unwrap_or(0.0);
        let c = &mut ch[tp.channel as usize];
        c.0 += credit[i].0;
        c.1 += credit[i].1;
        c.2 += cost;
        if let Some(k) = tp.campaign {
            let row = *camp_index.entry((k, tp.channel)).or_insert_with(|| {
                camp_rows.push((k, tp.channel));
                camp.push((0.0, 0.0, 0.0));
                camp.len() - 1
            });
            let c = &mut camp[row];
            c.0 += credit[i].0;
            c.1 += credit[i].1;
            c.2 += cost;
        }
    }
    let total: f64 = ch.iter().map(|c| c.0).sum();
    let total_cost: f64 = ch.iter().map(|c| c.2).sum();
    let has_cost = t.costs.is_some();
    let channels = ch
        .iter()
        .enumerate()
        .map(|(i, c)| {
            credit_row(
                t.channels[i].clone(),
                c.0,
                c.1,
                total,
                has_cost.then_some((c.2, total_cost)),
            )
        })
        .collect();
    let campaigns = camp
        .iter()
        .zip(&camp_rows)
        .map(|(c, &(k, channel))| Credit {
            channel: Some(t.channels[channel as usize].clone()),
            ..credit_row(
                t.campaigns[k as usize].clone(),
                c.0,
                c.1,
                total,
                has_cost.then_some((c.2, total_cost)),
            )
        })
        .collect();
    let mut channels: Vec<Credit> = channels;
    for (i, c) in channels.iter_mut().enumerate() {
        match &figure {
            Some(ModelFigure::RemovalEffects(v)) => c.removal_effect = v.get(i).copied(),
            Some(ModelFigure::Incremental(v)) => c.incremental_conversions = v.get(i).copied(),
            None => {}
        }
    }
    ModelResult {
        model,
        channels,
        campaigns,
        conversion_model: None,
    }
}

impl Report {
    /// Long-format CSV: `model,level,name,conversions,value,share,cost,cpa,roas`.
    pub fn to_csv(&self) -> String {
        let mut w = csv::Writer::from_writer(Vec::new());
        let _ = w.write_record([
            "model",
            "level",
            "name",
            "conversions",
            "value",
            "share",
            "cost",
            "cpa",
            "roas",
        ]);
        let opt = |v: Option<f64>| v.map(|x| format!("{x:.6}")).unwrap_or_default();
        for m in &self.models {
            for (level, rows) in [("channel", &m.channels), ("campaign", &m.campaigns)] {
                for c in rows {
                    let _ = w.write_record([
                        m.model.clone(),
                        level.to_string(),
                        c.name.clone(),
                        format!("{:.6}", c.conversions),
                        format!("{:.6}", c.value),
                        format!("{:.6}", c.share),
                        opt(c.cost),
                        opt(c.cpa),
                        opt(c.roas),
                    ]);
                }
            }
        }
        String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
    }

    /// Side-by-side table of conversion shares per channel and model.
    pub fn table(&self) -> String {
        use std::fmt::Write;
        let mut o = String::new();
        let _ = writeln!(
            o,
            "{} journeys, {} unique paths, {:.0} conversions (value {:.2}), {:.0} unattributed",
            self.journeys, self.paths, self.conversions, self.value, self.unattributed_conversions
        );
        let _ = write!(o, "{:<18}", "channel (share)");
        for m in &self.models {
            let _ = write!(o, " {:>15}", m.model);
        }
        let _ = writeln!(o);
        if let Some(first) = self.models.first() {
            for (i, c) in first.channels.iter().enumerate() {
                let _ = write!(o, "{:<18}", c.name);
                for m in &self.models {
                    let _ = write!(o, " {:>14.1}%", 100.0 * m.channels[i].share);
                }
                let _ = writeln!(o);
            }
        }
        for check in self
            .models
            .iter()
            .filter_map(|m| m.conversion_model.as_ref())
        {
            let name = |f: shapley::ConversionForm| {
                serde_json::to_value(f)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default()
            };
            let _ = writeln!(
                o,
                "shapley: conversion rates follow the {} model (best held-out likelihood of {}); shares move by up to {:.1} pp under the others",
                name(check.chosen),
                check
                    .candidates
                    .iter()
                    .map(|c| name(c.form))
                    .collect::<Vec<_>>()
                    .join(", "),
                100.0 * check.max_share_shift
            );
        }
        o
    }
}
