//! What-if scenarios: forecast the KPI over a future horizon for a per-channel spend plan,
//! with intervals from the model's uncertainty draws. Carryover from historical spend is
//! included (the plan is appended to the full history, holdout included).
//!
//! Future values the plan does not give are held at recent levels: numeric controls at
//! their last observed value, categorical controls at their last level, holidays off,
//! organic channels at their mean over the last 13 periods. Paid channels modelled on an
//! exposure metric convert planned spend to exposure at their exposure-per-spend ratio
//! over the last 13 periods.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::analysis::interval;
use crate::data::{ControlData, Dataset, Panel};
use crate::model::{Model, Params};
use crate::transform::{adstock::convolve, Saturation};

/// Longest horizon or plan accepted (ten years of weeks).
pub const MAX_HORIZON: usize = 520;

/// A planning horizon must be 1..=[`MAX_HORIZON`] periods.
pub fn check_horizon(horizon: usize) -> Result<(), String> {
    if horizon == 0 || horizon > MAX_HORIZON {
        return Err(format!(
            "horizon must be 1..={MAX_HORIZON} periods (got {horizon})"
        ));
    }
    Ok(())
}

/// Periods used for "recent" levels.
const RECENT: usize = 13;

/// Errors reading a plan.
#[derive(Debug, Error)]
pub enum ScenarioError {
    /// The plan file could not be read.
    #[error("cannot read plan {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The plan is malformed.
    #[error("plan {path}: {message}")]
    Invalid { path: PathBuf, message: String },
    /// The request around the plans is inconsistent (horizon, plans to compare).
    #[error("{0}")]
    Request(String),
}

fn invalid_input(path: &Path, message: String) -> ScenarioError {
    ScenarioError::Invalid {
        path: path.to_path_buf(),
        message,
    }
}

/// Open a small input CSV: the reader and its trimmed headers.
fn open_csv(path: &Path) -> Result<(csv::Reader<std::fs::File>, Vec<String>), ScenarioError> {
    let file = std::fs::File::open(path).map_err(|source| ScenarioError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut rdr = csv::Reader::from_reader(file);
    let headers = rdr
        .headers()
        .map_err(|e| invalid_input(path, e.to_string()))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    Ok((rdr, headers))
}

/// A spend plan: `[channel][period]` spend per paid channel over the horizon (organic
/// channels are ignored), summed over geos and split across geos by recent spend shares.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Spend per channel (model channel order) per future period.
    pub spend: Vec<Vec<f64>>,
}

impl Plan {
    /// Horizon length.
    pub fn horizon(&self) -> usize {
        self.spend.first().map(|s| s.len()).unwrap_or(0)
    }

    /// Read a plan CSV: a `period` column (any label) and one column per paid channel
    /// (by channel name). Channels without a column get zero spend.
    pub fn read(path: &Path, model: &Model) -> Result<Plan, ScenarioError> {
        let invalid = |message: String| invalid_input(path, message);
        let (mut rdr, headers) = open_csv(path)?;
        for h in headers.iter().filter(|h| *h != "period") {
            if !model.channels.iter().any(|c| c.paid && &c.name == h) {
                let paid = model.paid_channel_names();
                return Err(invalid(format!(
                    "column `{h}` is not a paid channel of the model ({})",
                    paid.join(", ")
                )));
            }
        }
        let cols: Vec<Option<usize>> = model
            .channels
            .iter()
            .map(|c| headers.iter().position(|h| *h == c.name))
            .collect();
        let mut spend = vec![Vec::new(); model.channels.len()];
        for rec in rdr.records() {
            let rec = rec.map_err(|e| invalid(e.to_string()))?;
            let line = rec.position().map(|p| p.line()).unwrap_or(0);
            for (c, col) in cols.iter().enumerate() {
                let v = match col {
                    Some(i) => {
                        let raw = rec.get(*i).unwrap_or("").trim();
                        match raw.parse::<f64>() {
                            Ok(v) if v.is_finite() && v >= 0.0 => v,
                            _ => {
                                return Err(invalid(format!(
                                    "row {line}, column `{}`: spend must be a number ≥ 0 (value `{raw}`)",
                                    headers[*i]
                                )))
                            }
                        }
                    }
                    None => 0.0,
                };
                spend[c].push(v);
            }
        }
        let periods = spend.first().map_or(0, |s| s.len());
        if periods == 0 {
            return Err(invalid("no periods".into()));
        }
        let max = MAX_HORIZON;
        if periods > max {
            return Err(invalid(format!(
                "{periods} periods; plans cover at most {max}"
            )));
        }
        Ok(Plan { spend })
    }
}

/// Forecast of one plan.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Forecast {
    /// Schema version.
    pub schema_version: u32,
    /// Period start dates.
    pub dates: Vec<String>,
    /// KPI per period (all geos).
    pub kpi: Vec<f64>,
    /// Interval per period.
    pub kpi_interval: Vec<[f64; 2]>,
    /// KPI over the horizon.
    pub total_kpi: f64,
    /// Interval of the total.
    pub total_kpi_interval: [f64; 2],
    /// Planned spend over the horizon.
    pub total_spend: f64,
    /// Periods after the horizon counted in ROI and mROI (carryover tail; 0 = none).
    pub tail_periods: usize,
    /// Per channel.
    pub channels: Vec<ChannelForecast>,
}

/// A channel under a plan.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChannelForecast {
    /// Name.
    pub name: String,
    /// Paid (has spend in the data) or organic.
    #[serde(default = "default_true")]
    pub paid: bool,
    /// Planned spend over the horizon.
    pub spend: f64,
    /// Contribution inside the horizon (carryover from history included).
    pub contribution: f64,
    /// Interval.
    pub contribution_interval: [f64; 2],
    /// Contribution of the planned spend itself (contribution minus what history alone
    /// would carry into the horizon) per unit of planned spend.
    pub roi: Option<f64>,
    /// Step mROI of the plan: extra KPI per extra unit of spend for +1% planned spend in
    /// every period (see [`crate::marginal`]).
    pub mroi: Option<f64>,
    /// KPI the plan adds after the horizon (when a tail is counted).
    pub carryover_after_horizon: Option<f64>,
}

/// Future values of controls over the horizon, read from a CSV with a `period` column
/// and one column per control to set (numeric value, or a level seen in the data for
/// categorical controls). The same value applies to every geo. Controls without a column
/// are held at their last value; periods past the file's last row (the carryover tail)
/// keep its values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FutureControls {
    /// `(control index, per period value)`; categorical values are level codes.
    values: Vec<(usize, Vec<f64>)>,
}

impl FutureControls {
    /// Read and check against the model's controls.
    pub fn read(path: &Path, model: &Model) -> Result<FutureControls, ScenarioError> {
        let invalid = |message: String| invalid_input(path, message);
        let (mut rdr, headers) = open_csv(path)?;
        let controls = &model.dataset.controls;
        let mut cols = Vec::new();
        for (i, h) in headers.iter().enumerate().filter(|(_, h)| *h != "period") {
            let c = controls.iter().position(|(n, _)| n == h).ok_or_else(|| {
                let known: Vec<&str> = controls.iter().map(|(n, _)| n.as_str()).collect();
                invalid(format!(
                    "column `{h}` is not a control of the model ({})",
                    known.join(", ")
                ))
            })?;
            cols.push((i, c));
        }
        let mut values: Vec<(usize, Vec<f64>)> =
            cols.iter().map(|&(_, c)| (c, Vec::new())).collect();
        for rec in rdr.records() {
            let rec = rec.map_err(|e| invalid(e.to_string()))?;
            let line = rec.position().map(|p| p.line()).unwrap_or(0);
            for (k, &(i, c)) in cols.iter().enumerate() {
                let raw = rec.get(i).unwrap_or("").trim();
                let v = match &controls[c].1 {
                    ControlData::Numeric { .. } => {
                        raw.parse::<f64>().ok().filter(|v| v.is_finite())
                    }
                    ControlData::Categorical { levels, .. } => {
                        levels.iter().position(|l| l == raw).map(|p| p as f64)
                    }
                };
                let v = v.ok_or_else(|| {
                    invalid(format!(
                        "row {line}, column `{}`: `{raw}` is not a valid value of this control",
                        headers[i]
                    ))
                })?;
                values[k].1.push(v);
            }
        }
        if values.first().is_some_and(|(_, v)| v.is_empty()) {
            return Err(invalid("no periods".into()));
        }
        Ok(FutureControls { values })
    }

    fn get(&self, control: usize, t: usize) -> Option<f64> {
        self.values
            .iter()
            .find(|(c, _)| *c == control)
            .and_then(|(_, v)| v.get(t).or(v.last()).copied())
    }
}

/// Per geo split of a paid channel's planned spend: the geo's share of the channel's
/// recent spend, and its recent input (exposure) per unit of spend.
fn geo_split(ds: &Dataset, c: usize) -> Vec<(f64, f64)> {
    let n = ds.n_periods();
    let ng = ds.n_geos();
    let ch = &ds.channels[c];
    let Some(spend) = &ch.spend else {
        return vec![(1.0 / ng as f64, 1.0); ng];
    };
    // The last 13 periods, or the whole history if the channel was dark in them.
    let recent = n.saturating_sub(RECENT)..n;
    let window = if spend.sum_over(recent.clone()) > 0.0 {
        recent
    } else {
        0..n
    };
    let sum = |p: &Panel, g: usize| p.series(g)[window.clone()].iter().sum::<f64>();
    let total = spend.sum_over(window.clone());
    let (spent, shown): (f64, f64) = (0..ng)
        .map(|g| (sum(spend, g), sum(&ch.input, g)))
        .fold((0.0, 0.0), |(a, b), (s, i)| (a + s, b + i));
    let national_ratio = if spent > 0.0 { shown / spent } else { 1.0 };
    (0..ng)
        .map(|g| {
            let s = sum(spend, g);
            let share = if total > 0.0 {
                s / total
            } else {
                1.0 / ng as f64
            };
            let ratio = if s > 0.0 {
                sum(&ch.input, g) / s
            } else {
                national_ratio
            };
            (share, ratio)
        })
        .collect()
}

/// The model's data extended by the plan's horizon, with future control values where
/// given (others held as the module documentation says).
pub fn extend_with(model: &Model, plan: &Plan, future: Option<&FutureControls>) -> Dataset {
    let ds = &model.dataset;
    let (n, h, ng) = (ds.n_periods(), plan.horizon(), ds.n_geos());
    let step = chrono::Duration::days(ds.spacing_days());
    let recent = n.saturating_sub(RECENT)..n;
    let ext = |p: &Panel, fill: &dyn Fn(usize, usize) -> f64| {
        let mut out = Panel::zeros(ng, n + h);
        for g in 0..ng {
            out.series_mut(g)[..n].copy_from_slice(p.series(g));
            for t in 0..h {
                out.values[g * (n + h) + n + t] = fill(g, t);
            }
        }
        out
    };
    let mut e = ds.clone();
    e.dates
        .extend((1..=h).map(|k| ds.dates[n - 1] + step * k as i32));
    e.kpi = ext(&ds.kpi, &|_, _| 0.0);
    for (c, ch) in e.channels.iter_mut().enumerate() {
        let input = &ds.channels[c].input;
        match (&ds.channels[c].spend, model.channels[c].paid) {
            (Some(spend), true) => {
                let split = geo_split(ds, c);
                ch.input = ext(input, &|g, t| plan.spend[c][t] * split[g].0 * split[g].1);
                ch.spend = Some(ext(spend, &|g, t| plan.spend[c][t] * split[g].0));
            }
            _ => {
                let mean: Vec<f64> = (0..ng)
                    .map(|g| {
                        input.series(g)[recent.clone()].iter().sum::<f64>()
                            / recent.len().max(1) as f64
                    })
                    .collect();
                ch.input = ext(input, &|g, _| mean[g]);
                ch.spend = ch.spend.as_ref().map(|s| ext(s, &|_, _| 0.0));
            }
        }
    }
    let given = |i: usize, t: usize| future.and_then(|f| f.get(i, t));
    for (i, (_, c)) in e.controls.iter_mut().enumerate() {
        match c {
            ControlData::Numeric { values } => {
                let last = values.clone();
                *values = ext(&last, &|g, t| given(i, t).unwrap_or(last.at(g, n - 1)));
            }
            ControlData::Categorical { codes, .. } => {
                let old = codes.clone();
                *codes = (0..ng)
                    .flat_map(|g| {
                        let s = &old[g * n..(g + 1) * n];
                        let tail =
                            (0..h).map(|t| given(i, t).map(|v| v as u32).unwrap_or(s[n - 1]));
                        s.iter().copied().chain(tail).collect::<Vec<_>>()
                    })
                    .collect();
            }
        }
    }
    for (_, v) in e.holidays.iter_mut() {
        v.extend(std::iter::repeat_n(0.0, h));
    }
    if let Some(r) = &ds.revenue_per_kpi {
        e.revenue_per_kpi = Some(ext(r, &|g, _| r.at(g, n - 1)));
    }
    e
}

/// How a channel's planned total is spread over the horizon's periods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flighting {
    /// The same spend every period.
    #[default]
    Even,
    /// The channel's own pattern over the last `horizon` periods of the data (even if it
    /// spent nothing then).
    Historical,
}

impl std::str::FromStr for Flighting {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "even" => Ok(Flighting::Even),
            "historical" => Ok(Flighting::Historical),
            _ => Err(format!("unknown flighting `{s}` (even, historical)")),
        }
    }
}

impl Flighting {
    /// Per period weights over `h` periods, summing to 1, for channel `c` (national
    /// spend). The historical pattern repeats if the data has fewer than `h` periods.
    pub fn shape(self, ds: &Dataset, c: usize, h: usize) -> Vec<f64> {
        let even = vec![1.0 / h.max(1) as f64; h];
        let (Flighting::Historical, Some(spend)) = (self, &ds.channels[c].spend) else {
            return even;
        };
        let n = ds.n_periods();
        let start = n.saturating_sub(h);
        let hist: Vec<f64> = (0..h)
            .map(|t| {
                let i = start + t % (n - start);
                (0..ds.n_geos()).map(|g| spend.at(g, i)).sum()
            })
            .collect();
        let total: f64 = hist.iter().sum();
        if total > 0.0 {
            hist.iter().map(|v| v / total).collect()
        } else {
            even
        }
    }
}

impl Plan {
    /// Spread per channel totals (model channel order) over `h` periods.
    /// Spread checked per channel totals over a requested horizon (1..=[`MAX_HORIZON`]).
    pub fn spread_totals(
        model: &Model,
        totals: &[f64],
        horizon: usize,
        flighting: Flighting,
    ) -> Result<Plan, ScenarioError> {
        check_horizon(horizon).map_err(ScenarioError::Request)?;
        Ok(Plan::from_totals(model, totals, horizon, flighting))
    }

    /// Spread per channel totals over `h` periods by the flighting's shape.
    pub fn from_totals(model: &Model, totals: &[f64], h: usize, flighting: Flighting) -> Plan {
        Plan {
            spend: totals
                .iter()
                .enumerate()
                .map(|(c, &x)| {
                    flighting
                        .shape(&model.dataset, c, h)
                        .iter()
                        .map(|w| w * x)
                        .collect()
                })
                .collect(),
        }
    }

    /// Read per channel totals: a CSV with columns `channel,spend` (paid channels by
    /// name; channels not listed get 0).
    pub fn read_totals(path: &Path, model: &Model) -> Result<Vec<f64>, ScenarioError> {
        let invalid = |message: String| invalid_input(path, message);
        let (mut rdr, headers) = open_csv(path)?;
        let col = |name: &str| {
            headers
                .iter()
                .position(|h| h == name)
                .ok_or_else(|| invalid(format!("missing column `{name}` (need channel,spend)")))
        };
        let (ci, si) = (col("channel")?, col("spend")?);
        let mut totals = vec![0.0; model.channels.len()];
        let mut seen = vec![false; model.channels.len()];
        for rec in rdr.records() {
            let rec = rec.map_err(|e| invalid(e.to_string()))?;
            let line = rec.position().map(|p| p.line()).unwrap_or(0);
            let name = rec.get(ci).unwrap_or("").trim();
            let c = model
                .channels
                .iter()
                .position(|c| c.paid && c.name == name)
                .ok_or_else(|| {
                    invalid(format!(
                        "row {line}, column `channel`: `{name}` is not a paid channel of the model"
                    ))
                })?;
            if seen[c] {
                return Err(invalid(format!(
                    "row {line}, column `channel`: `{name}` is listed twice"
                )));
            }
            seen[c] = true;
            let raw = rec.get(si).unwrap_or("").trim();
            totals[c] = match raw.parse::<f64>() {
                Ok(v) if v.is_finite() && v >= 0.0 => v,
                _ => {
                    return Err(invalid(format!(
                        "row {line}, column `spend`: must be a number ≥ 0 (value `{raw}`)"
                    )))
                }
            };
        }
        Ok(totals)
    }

    /// Total spend per channel.
    pub fn totals(&self) -> Vec<f64> {
        self.spend.iter().map(|s| s.iter().sum()).collect()
    }

    fn scaled(&self, f: f64) -> Plan {
        Plan {
            spend: self
                .spend
                .iter()
                .map(|s| s.iter().map(|v| v * f).collect())
                .collect(),
        }
    }
}

/// One parameter set's view of a paid channel over the window.
#[derive(Debug, Clone)]
struct ChannelState {
    weights: Vec<f64>,
    saturation: Saturation,
    /// Per geo `coef · effect_scale`.
    amp: Vec<f64>,
    /// Per geo, per window period: adstocked history carried in, in saturation units.
    carry: Vec<Vec<f64>>,
}

#[derive(Debug, Clone)]
struct SetState {
    /// Per window period: baseline plus organic contributions, all geos.
    fixed: Vec<f64>,
    /// Per model channel (None for organic).
    channels: Vec<Option<ChannelState>>,
}

/// A model prepared for fast forecasts over the `horizon` periods after its data (plus
/// `tail` periods with no new spend, to count carryover beyond the horizon). Everything
/// that does not depend on the plan (baseline, organic channels, carryover from history)
/// is computed once here, for the point estimate and every draw; a plan then costs one
/// short convolution and saturation per channel, geo and period.
#[derive(Debug, Clone)]
pub struct Horizon {
    h: usize,
    tail: usize,
    dates: Vec<String>,
    names: Vec<String>,
    paid: Vec<bool>,
    /// `[channel][geo]` saturation input per unit of national planned spend.
    gain: Vec<Vec<f64>>,
    /// Set 0 is the point estimate, then the draws.
    sets: Vec<SetState>,
    spread: crate::analysis::Spread,
}

/// Per parameter set results of one plan.
struct Evaluation {
    /// `[set][period]` KPI over the window.
    kpi: Vec<Vec<f64>>,
    /// `[set][channel][period]` contribution over the window.
    contrib: Vec<Vec<Vec<f64>>>,
}

impl Horizon {
    /// Prepare forecasts of `h` periods after the data, counting `tail` more periods;
    /// controls held at recent values.
    pub fn new(model: &Model, h: usize, tail: usize) -> Horizon {
        Horizon::with_controls(model, h, tail, None)
    }

    /// [`Horizon::new`] with future control values where given.
    pub fn with_controls(
        model: &Model,
        h: usize,
        tail: usize,
        future: Option<&FutureControls>,
    ) -> Horizon {
        use rayon::prelude::*;
        let ds = &model.dataset;
        let (n, ng, w) = (ds.n_periods(), ds.n_geos(), h + tail);
        let zero = Plan {
            spend: vec![vec![0.0; w]; model.channels.len()],
        };
        let e = extend_with(model, &zero, future);
        let gain: Vec<Vec<f64>> = (0..model.channels.len())
            .map(|c| {
                if !model.channels[c].paid || ds.channels[c].spend.is_none() {
                    return Vec::new();
                }
                geo_split(ds, c)
                    .iter()
                    .enumerate()
                    .map(|(g, (share, ratio))| share * ratio / model.channels[c].input_scale[g])
                    .collect()
            })
            .collect();
        let all: Vec<&Params> = std::iter::once(&model.point)
            .chain(model.draws.iter())
            .collect();
        let sets = all
            .par_iter()
            .map(|p| {
                let mut fixed = vec![0.0; w];
                let mut row = vec![0.0; model.baseline.n_columns()];
                for g in 0..ng {
                    for (t, f) in fixed.iter_mut().enumerate() {
                        model.baseline.row(&e, g, n + t, &mut row);
                        let b: f64 = row.iter().zip(&p.baseline).map(|(x, b)| x * b).sum();
                        *f += b * model.kpi_scale[g];
                    }
                }
                let channels = (0..model.channels.len())
                    .map(|c| {
                        let cp = &p.channels[c];
                        if gain[c].is_empty() {
                            let contrib = model.channel_contribution(cp, c, &e.channels[c].input);
                            for g in 0..ng {
                                for (t, f) in fixed.iter_mut().enumerate() {
                                    *f += contrib.at(g, n + t);
                                }
                            }
                            return None;
                        }
                        let weights = cp.adstock.weights();
                        let carry = (0..ng)
                            .map(|g| {
                                let hist = ds.channels[c].input.series(g);
                                let inv = 1.0 / model.channels[c].input_scale[g];
                                (0..w)
                                    .map(|t| {
                                        (t + 1..weights.len())
                                            .filter(|l| *l <= n + t)
                                            .map(|l| weights[l] * hist[n + t - l])
                                            .sum::<f64>()
                                            * inv
                                    })
                                    .collect()
                            })
                            .collect();
                        Some(ChannelState {
                            weights,
                            saturation: cp.saturation,
                            amp: (0..ng)
                                .map(|g| cp.coef_in(g) * model.effect_scale(g))
                                .collect(),
                            carry,
                        })
                    })
                    .collect();
                SetState { fixed, channels }
            })
            .collect();
        let step = chrono::Duration::days(ds.spacing_days());
        Horizon {
            h,
            tail,
            dates: (1..=h)
                .map(|k| (ds.dates[n - 1] + step * k as i32).to_string())
                .collect(),
            names: model.channels.iter().map(|c| c.name.clone()).collect(),
            paid: gain.iter().map(|g| !g.is_empty()).collect(),
            gain,
            sets,
            spread: model.spread(),
        }
    }

    /// Periods a plan needs after the horizon for its carryover to run out: the longest
    /// adstock kernel over the point estimate and draws, minus one.
    pub fn carryover_periods(model: &Model) -> usize {
        std::iter::once(&model.point)
            .chain(model.draws.iter())
            .flat_map(|p| p.channels.iter().map(|c| c.adstock.max_lag()))
            .max()
            .unwrap_or(1)
            .saturating_sub(1)
    }

    /// Planned periods.
    pub fn horizon(&self) -> usize {
        self.h
    }

    /// Periods counted after the horizon.
    pub fn tail(&self) -> usize {
        self.tail
    }

    /// Channel names in model order.
    pub fn channel_names(&self) -> &[String] {
        &self.names
    }

    /// Whether channel `c` has spend to plan.
    pub fn is_paid(&self, c: usize) -> bool {
        self.paid[c]
    }

    /// Number of draws (parameter sets besides the point estimate).
    pub fn n_draws(&self) -> usize {
        self.sets.len() - 1
    }

    /// How the model's draws become intervals.
    pub fn spread(&self) -> crate::analysis::Spread {
        self.spread
    }

    /// Period start dates of the horizon.
    pub fn dates(&self) -> &[String] {
        &self.dates
    }

    /// KPI per window period not moved by the plan (baseline, organic channels), set `s`.
    pub fn fixed_kpi(&self, s: usize) -> &[f64] {
        &self.sets[s].fixed
    }

    /// Channel `c`'s contribution per window period under set `s` for planned national
    /// spend `u` (horizon periods), summed over geos.
    fn channel_series(&self, s: usize, c: usize, u: &[f64], conv: &mut [f64], out: &mut [f64]) {
        out.iter_mut().for_each(|v| *v = 0.0);
        let Some(st) = &self.sets[s].channels[c] else {
            return;
        };
        convolve(u, &st.weights, conv);
        for (g, gain) in self.gain[c].iter().enumerate() {
            let (amp, carry) = (st.amp[g], &st.carry[g]);
            for ((o, a), v) in out.iter_mut().zip(carry).zip(conv.iter()) {
                *o += amp * st.saturation.eval(a + gain * v);
            }
        }
    }

    /// `v` padded with zeros (or cut) to the window length.
    fn padded(&self, v: &[f64]) -> Vec<f64> {
        let w = self.h + self.tail;
        let mut out = vec![0.0; w];
        let n = v.len().min(w);
        out[..n].copy_from_slice(&v[..n]);
        out
    }

    /// The kernel of channel `c`'s window contribution as a function of its total
    /// spend `x` spread by `shape` (weights over the horizon): for set `s`,
    /// `F(x) = Σ_i amp_i · S(a_i + x · b_i)` over geos and window periods.
    pub fn response(&self, c: usize, shape: &[f64]) -> Option<Response> {
        if !self.paid[c] {
            return None;
        }
        let w = self.h + self.tail;
        let shape = self.padded(shape);
        let mut conv = vec![0.0; w];
        let sets = self
            .sets
            .iter()
            .map(|set| {
                let st = set.channels[c].as_ref().expect("paid channel state");
                convolve(&shape, &st.weights, &mut conv);
                let mut terms = Vec::new();
                for (g, gain) in self.gain[c].iter().enumerate() {
                    if st.amp[g] != 0.0 {
                        terms.extend(
                            st.carry[g]
                                .iter()
                                .zip(&conv)
                                .map(|(a, v)| [st.amp[g], *a, gain * v]),
                        );
                    }
                }
                ResponseSet {
                    saturation: st.saturation,
                    terms,
                }
            })
            .collect();
        Some(Response { sets })
    }

    /// Evaluate a plan on the first `sets` parameter sets (all when `None`).
    fn evaluate_on(&self, plan: &Plan, sets: Option<usize>) -> Evaluation {
        use rayon::prelude::*;
        let w = self.h + self.tail;
        let n = sets.unwrap_or(self.sets.len()).min(self.sets.len());
        let plans: Vec<Vec<f64>> = plan.spend.iter().map(|u| self.padded(u)).collect();
        let (kpi, contrib) = (0..n)
            .into_par_iter()
            .map(|s| {
                let mut kpi = self.sets[s].fixed.clone();
                let mut conv = vec![0.0; w];
                let contrib: Vec<Vec<f64>> = (0..self.names.len())
                    .map(|c| {
                        let mut out = vec![0.0; w];
                        if self.paid[c] {
                            self.channel_series(s, c, &plans[c], &mut conv, &mut out);
                            kpi.iter_mut().zip(&out).for_each(|(k, v)| *k += v);
                        }
                        out
                    })
                    .collect();
                (kpi, contrib)
            })
            .unzip();
        Evaluation { kpi, contrib }
    }

    fn evaluate(&self, plan: &Plan) -> Evaluation {
        self.evaluate_on(plan, None)
    }

    /// Forecast a plan (its horizon must match).
    pub fn forecast(&self, plan: &Plan) -> Forecast {
        let h = self.h;
        let ev = self.evaluate(plan);
        let zero = self.evaluate_on(&plan.scaled(0.0), Some(1));
        let up = self.evaluate_on(&plan.scaled(1.0 + crate::marginal::STEP), Some(1));
        let mass = self.spread;
        let draws = 1..self.sets.len();
        let iv = |f: &dyn Fn(usize) -> f64| {
            let d: Vec<f64> = draws.clone().map(f).collect();
            interval(&d, mass, f(0))
        };
        let kpi: Vec<f64> = ev.kpi[0][..h].to_vec();
        let kpi_interval = (0..h).map(|t| iv(&|s| ev.kpi[s][t])).collect();
        let total = |s: usize| ev.kpi[s][..h].iter().sum::<f64>();
        let after = |e: &Evaluation, c: usize| e.contrib[0][c][h..].iter().sum::<f64>();
        let channels = (0..self.names.len())
            .map(|c| {
                let spend: f64 = plan.spend[c].iter().sum();
                let inside = |e: &Evaluation, s: usize| e.contrib[s][c][..h].iter().sum::<f64>();
                let window = |e: &Evaluation| e.contrib[0][c].iter().sum::<f64>();
                let paid = self.paid[c] && spend > 0.0;
                ChannelForecast {
                    name: self.names[c].clone(),
                    paid: self.paid[c],
                    spend,
                    contribution: inside(&ev, 0),
                    contribution_interval: iv(&|s| inside(&ev, s)),
                    roi: paid.then(|| (window(&ev) - window(&zero)) / spend),
                    mroi: paid
                        .then(|| crate::marginal::step_mroi(window(&up) - window(&ev), spend))
                        .flatten(),
                    carryover_after_horizon: (self.tail > 0 && self.paid[c])
                        .then(|| after(&ev, c) - after(&zero, c)),
                }
            })
            .collect();
        Forecast {
            schema_version: 1,
            dates: self.dates.clone(),
            kpi,
            kpi_interval,
            total_kpi: total(0),
            total_kpi_interval: iv(&total),
            total_spend: plan.spend.iter().flatten().sum(),
            tail_periods: self.tail,
            channels,
        }
    }

    /// Compare plans against a base plan: Δ KPI (with paired intervals over the draws),
    /// Δ spend and incremental ROI. KPI counts the tail when the horizon has one.
    pub fn compare(&self, base: (&str, &Plan), others: &[(String, Plan)]) -> Comparison {
        let window_total = |e: &Evaluation, s: usize| e.kpi[s].iter().sum::<f64>();
        let b = self.evaluate(base.1);
        let b_spend: f64 = base.1.spend.iter().flatten().sum();
        let plans = others
            .iter()
            .map(|(name, plan)| {
                let e = self.evaluate(plan);
                let spend: f64 = plan.spend.iter().flatten().sum();
                let delta = |s: usize| window_total(&e, s) - window_total(&b, s);
                let d: Vec<f64> = (1..self.sets.len()).map(delta).collect();
                let dk = delta(0);
                let ds = spend - b_spend;
                PlanDelta {
                    name: name.clone(),
                    total_spend: spend,
                    total_kpi: window_total(&e, 0),
                    delta_spend: ds,
                    delta_kpi: dk,
                    delta_kpi_interval: interval(&d, self.spread, dk),
                    incremental_roi: (ds.abs() > NEGLIGIBLE_SPEND_CHANGE * b_spend.max(1.0))
                        .then(|| dk / ds),
                }
            })
            .collect();
        Comparison {
            schema_version: 1,
            base: base.0.to_string(),
            base_total_spend: b_spend,
            base_total_kpi: window_total(&b, 0),
            tail_periods: self.tail,
            plans,
        }
    }
}

/// `[amp, a, b]` terms of a response set.
type Terms = Vec<[f64; 3]>;

/// One parameter set of a [`Response`].
#[derive(Debug, Clone)]
pub struct ResponseSet {
    saturation: Saturation,
    /// `[amp, a, b]`: contributes `amp · S(a + x · b)`.
    terms: Terms,
}

impl ResponseSet {
    /// Window contribution and its derivative at total spend `x`.
    #[inline]
    pub fn value_and_slope(&self, x: f64) -> (f64, f64) {
        let (mut f, mut d) = (0.0, 0.0);
        for [amp, a, b] in &self.terms {
            let (v, s) = self.saturation.value_and_slope(a + x * b);
            f += amp * v;
            if *b != 0.0 {
                d += amp * b * s;
            }
        }
        (f, d)
    }
}

/// A channel's window contribution as a function of its total planned spend, for the
/// point estimate (set 0) and every draw.
#[derive(Debug, Clone)]
pub struct Response {
    /// Set 0 is the point estimate, then the draws.
    pub sets: Vec<ResponseSet>,
}

/// The `scenario --json` document: the base plan's forecast at the top level, the
/// comparison with other plans under `comparison` (null when there are none), and the
/// model's lineage. Its top-level shape is the same with or without comparisons.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioReport {
    /// The base plan's forecast.
    #[serde(flatten)]
    pub forecast: Forecast,
    /// Other plans against the base, if any.
    pub comparison: Option<Comparison>,
    /// Which model forecast it.
    pub model: crate::model::Lineage,
}

/// A checked scenario: a base plan, other plans of the same horizon to compare with it,
/// whether to count the carryover tail, and future controls.
pub struct ScenarioRequest {
    /// The base plan with its name.
    pub base: (String, Plan),
    /// Other plans with their names.
    pub others: Vec<(String, Plan)>,
    /// Count the KPI the plans create after the horizon.
    pub tail: bool,
    /// Future control values (held at their last value if absent).
    pub controls: Option<FutureControls>,
}

impl ScenarioRequest {
    /// Forecast the base plan and compare the others with it. Every plan must have the
    /// base plan's horizon.
    pub fn run(&self, model: &Model) -> Result<ScenarioReport, ScenarioError> {
        let base = &self.base.1;
        if let Some((name, o)) = self
            .others
            .iter()
            .find(|(_, o)| o.horizon() != base.horizon())
        {
            return Err(ScenarioError::Request(format!(
                "plan `{name}` has {} periods, but the base plan has {}",
                o.horizon(),
                base.horizon()
            )));
        }
        let hz = Horizon::with_controls(
            model,
            base.horizon(),
            self.tail_periods(model),
            self.controls.as_ref(),
        );
        self.run_on(model, &hz)
    }

    /// Periods counted after the horizon: the model's carryover with `tail`, else 0.
    pub fn tail_periods(&self, model: &Model) -> usize {
        if self.tail {
            Horizon::carryover_periods(model)
        } else {
            0
        }
    }

    /// [`ScenarioRequest::run`] on a prepared horizon (the server caches them per model,
    /// horizon and tail): `hz` must be the model's, for the base plan's horizon and
    /// [`ScenarioRequest::tail_periods`], with these controls.
    pub fn run_on(&self, model: &Model, hz: &Horizon) -> Result<ScenarioReport, ScenarioError> {
        let (base_name, base) = (&self.base.0, &self.base.1);
        if hz.horizon() != base.horizon() {
            return Err(ScenarioError::Request(format!(
                "prepared horizon {} differs from the plan's {}",
                hz.horizon(),
                base.horizon()
            )));
        }
        let forecast = hz.forecast(base);
        let comparison =
            (!self.others.is_empty()).then(|| hz.compare((base_name, base), &self.others));
        Ok(ScenarioReport {
            forecast,
            comparison,
            model: model.lineage(),
        })
    }
}

/// Forecast a plan with the point estimate and every draw (no tail).
pub fn forecast(model: &Model, plan: &Plan) -> Forecast {
    Horizon::new(model, plan.horizon(), 0).forecast(plan)
}

fn default_true() -> bool {
    true
}

/// Spend differences below this share of the base plan's spend get no incremental ROI.
pub const NEGLIGIBLE_SPEND_CHANGE: f64 = 1e-3;

/// A plan compared with the base plan.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlanDelta {
    /// Plan name (file stem).
    pub name: String,
    /// Total spend.
    pub total_spend: f64,
    /// KPI over the horizon (and tail, if counted).
    pub total_kpi: f64,
    /// Spend minus the base plan's.
    pub delta_spend: f64,
    /// KPI minus the base plan's.
    pub delta_kpi: f64,
    /// Interval of the KPI difference (paired over draws).
    pub delta_kpi_interval: [f64; 2],
    /// Δ KPI / Δ spend; None when the spend difference is below
    /// [`NEGLIGIBLE_SPEND_CHANGE`] of the base plan's spend (a ratio of two tiny numbers
    /// says nothing).
    pub incremental_roi: Option<f64>,
}

/// Plans compared with a base plan.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Comparison {
    /// Schema version.
    pub schema_version: u32,
    /// Base plan name.
    pub base: String,
    /// Base plan spend.
    pub base_total_spend: f64,
    /// Base plan KPI.
    pub base_total_kpi: f64,
    /// Periods after the horizon counted in KPI.
    pub tail_periods: usize,
    /// The other plans.
    pub plans: Vec<PlanDelta>,
}

/// A scenario as the HTTP API receives it: `{"plan": {"<channel>": [spend per period…]}}`,
/// or `{"totals": {"<channel>": x}, "horizon": N, "flighting": "even"}`, with an optional
/// `"tail": true` to count the KPI created after the horizon. Checked by
/// [`PlanRequest::resolve`], whose errors name the field.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanRequest {
    /// Spend per period per paid channel.
    #[serde(default)]
    pub plan: Option<std::collections::BTreeMap<String, Vec<f64>>>,
    /// Total spend per paid channel over `horizon`.
    #[serde(default)]
    pub totals: Option<std::collections::BTreeMap<String, f64>>,
    /// Periods (with `totals`).
    #[serde(default)]
    pub horizon: Option<usize>,
    /// How totals are spread (with `totals`; default even).
    #[serde(default)]
    pub flighting: Option<Flighting>,
    /// Count the KPI the plan creates after the horizon.
    #[serde(default)]
    pub tail: bool,
}

impl PlanRequest {
    /// The checked scenario: exactly one of `plan` and `totals`; channel names must be
    /// paid channels of the model; spends finite and ≥ 0; every plan series of one length
    /// within 1..=[`MAX_HORIZON`] (channels left out spend nothing).
    pub fn resolve(&self, model: &Model) -> Result<ScenarioRequest, ScenarioError> {
        let bad = |m: String| ScenarioError::Request(m);
        let paid = model.paid_channel_names();
        let index = |field: &str, name: &str| {
            model
                .channels
                .iter()
                .position(|c| c.paid && c.name == name)
                .ok_or_else(|| {
                    bad(format!(
                        "{field}.{name}: not a paid channel of the model ({})",
                        paid.join(", ")
                    ))
                })
        };
        let check = |field: String, v: f64| {
            if v.is_finite() && v >= 0.0 {
                Ok(v)
            } else {
                Err(bad(format!("{field}: spend must be a number ≥ 0, got {v}")))
            }
        };
        let plan = match (&self.plan, &self.totals) {
            (Some(_), Some(_)) => return Err(bad("give `plan` or `totals`, not both".into())),
            (None, None) => return Err(bad("give `plan` or `totals`".into())),
            (Some(p), None) => {
                if self.horizon.is_some() || self.flighting.is_some() {
                    return Err(bad(
                        "`horizon` and `flighting` go with `totals`; a `plan` sets its own horizon"
                            .into(),
                    ));
                }
                let h = p.values().map(Vec::len).max().unwrap_or(0);
                check_horizon(h).map_err(|m| bad(format!("plan: {m}")))?;
                let mut spend = vec![vec![0.0; h]; model.channels.len()];
                for (name, series) in p {
                    let c = index("plan", name)?;
                    if series.len() != h {
                        return Err(bad(format!(
                            "plan.{name}: {} periods, other channels have {h}",
                            series.len()
                        )));
                    }
                    for (t, v) in series.iter().enumerate() {
                        spend[c][t] = check(format!("plan.{name}[{t}]"), *v)?;
                    }
                }
                Plan { spend }
            }
            (None, Some(totals)) => {
                let h = self
                    .horizon
                    .ok_or_else(|| bad("horizon: required with `totals`".into()))?;
                let mut t = vec![0.0; model.channels.len()];
                for (name, v) in totals {
                    t[index("totals", name)?] = check(format!("totals.{name}"), *v)?;
                }
                Plan::spread_totals(model, &t, h, self.flighting.unwrap_or_default())
                    .map_err(|e| bad(format!("horizon: {e}")))?
            }
        };
        Ok(ScenarioRequest {
            base: ("plan".into(), plan),
            others: Vec::new(),
            tail: self.tail,
            controls: None,
        })
    }
}
