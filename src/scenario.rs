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
}

/// A spend plan: `[channel][period]` spend per paid channel over the horizon (organic
/// channels are ignored), summed over geos and split across geos by recent spend shares.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
        let invalid = |message: String| ScenarioError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        let file = std::fs::File::open(path).map_err(|source| ScenarioError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut rdr = csv::Reader::from_reader(file);
        let headers: Vec<String> = rdr
            .headers()
            .map_err(|e| invalid(e.to_string()))?
            .iter()
            .map(|h| h.trim().to_string())
            .collect();
        for h in headers.iter().filter(|h| *h != "period") {
            if !model.channels.iter().any(|c| c.paid && &c.name == h) {
                let paid: Vec<&str> = model
                    .channels
                    .iter()
                    .filter(|c| c.paid)
                    .map(|c| c.name.as_str())
                    .collect();
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
        if spend.first().is_none_or(|s| s.is_empty()) {
            return Err(invalid("no periods".into()));
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
    /// Per channel.
    pub channels: Vec<ChannelForecast>,
}

/// A channel under a plan.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChannelForecast {
    /// Name.
    pub name: String,
    /// Planned spend over the horizon.
    pub spend: f64,
    /// Contribution inside the horizon (carryover from history included).
    pub contribution: f64,
    /// Interval.
    pub contribution_interval: [f64; 2],
    /// Contribution of the planned spend itself (contribution minus what history alone
    /// would carry into the horizon) per unit of planned spend.
    pub roi: Option<f64>,
    /// Extra horizon KPI per extra unit of spend for +1% planned spend in every period.
    pub mroi: Option<f64>,
}

/// The model's data extended by the plan's horizon.
pub fn extend(model: &Model, plan: &Plan) -> Dataset {
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
    let recent_sum = |p: &Panel, g: usize| p.series(g)[recent.clone()].iter().sum::<f64>();
    for (c, ch) in e.channels.iter_mut().enumerate() {
        let input = &ds.channels[c].input;
        match (&ds.channels[c].spend, model.channels[c].paid) {
            (Some(spend), true) => {
                // Per geo: share of recent spend and recent exposure per unit of spend.
                let total = spend.sum_over(recent.clone());
                let share: Vec<f64> = (0..ng)
                    .map(|g| {
                        if total > 0.0 {
                            recent_sum(spend, g) / total
                        } else {
                            1.0 / ng as f64
                        }
                    })
                    .collect();
                let ratio: Vec<f64> = (0..ng)
                    .map(|g| {
                        let s = recent_sum(spend, g);
                        if s > 0.0 {
                            recent_sum(input, g) / s
                        } else {
                            1.0
                        }
                    })
                    .collect();
                ch.input = ext(input, &|g, t| plan.spend[c][t] * share[g] * ratio[g]);
                ch.spend = Some(ext(spend, &|g, t| plan.spend[c][t] * share[g]));
            }
            _ => {
                let mean: Vec<f64> = (0..ng)
                    .map(|g| recent_sum(input, g) / recent.len().max(1) as f64)
                    .collect();
                ch.input = ext(input, &|g, _| mean[g]);
                ch.spend = ch.spend.as_ref().map(|s| ext(s, &|_, _| 0.0));
            }
        }
    }
    for (_, c) in e.controls.iter_mut() {
        match c {
            ControlData::Numeric { values } => {
                let last = values.clone();
                *values = ext(&last, &|g, _| last.at(g, n - 1));
            }
            ControlData::Categorical { codes, .. } => {
                let old = codes.clone();
                *codes = (0..ng)
                    .flat_map(|g| {
                        let s = &old[g * n..(g + 1) * n];
                        s.iter()
                            .copied()
                            .chain(std::iter::repeat_n(s[n - 1], h))
                            .collect::<Vec<_>>()
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

fn horizon_total(p: &Panel, from: usize) -> Vec<f64> {
    (from..p.n_periods)
        .map(|t| (0..p.n_geos).map(|g| p.at(g, t)).sum())
        .collect()
}

/// Forecast a plan with the point estimate and every draw.
pub fn forecast(model: &Model, plan: &Plan) -> Forecast {
    let n = model.dataset.n_periods();
    let e = extend(model, plan);
    let run = |p: &Params| horizon_total(&model.predict(p, &e), n);
    let point = run(&model.point);
    let draws: Vec<Vec<f64>> = model.draws.iter().map(run).collect();
    let mass = model.interval;
    let kpi_interval = (0..point.len())
        .map(|t| {
            interval(
                &draws.iter().map(|d| d[t]).collect::<Vec<_>>(),
                mass,
                point[t],
            )
        })
        .collect();
    let total = point.iter().sum::<f64>();
    let total_draws: Vec<f64> = draws.iter().map(|d| d.iter().sum()).collect();
    let no_plan = Plan {
        spend: plan.spend.iter().map(|s| vec![0.0; s.len()]).collect(),
    };
    let e0 = extend(model, &no_plan);
    let up = Plan {
        spend: plan
            .spend
            .iter()
            .map(|s| s.iter().map(|v| v * 1.01).collect())
            .collect(),
    };
    let e1 = extend(model, &up);
    let contrib = |p: &Params, c: usize, ds: &Dataset| -> f64 {
        horizon_total(
            &model.channel_contribution(&p.channels[c], c, &ds.channels[c].input),
            n,
        )
        .iter()
        .sum()
    };
    let channels = model
        .channels
        .iter()
        .enumerate()
        .map(|(c, info)| {
            let spend: f64 = plan.spend[c].iter().sum();
            let point_c = contrib(&model.point, c, &e);
            let d: Vec<f64> = model.draws.iter().map(|p| contrib(p, c, &e)).collect();
            let paid = info.paid && spend > 0.0;
            ChannelForecast {
                name: info.name.clone(),
                spend,
                contribution: point_c,
                contribution_interval: interval(&d, mass, point_c),
                roi: paid.then(|| (point_c - contrib(&model.point, c, &e0)) / spend),
                mroi: paid.then(|| (contrib(&model.point, c, &e1) - point_c) / (0.01 * spend)),
            }
        })
        .collect();
    Forecast {
        schema_version: 1,
        dates: e.dates[n..].iter().map(|d| d.to_string()).collect(),
        kpi_interval,
        total_kpi: total,
        total_kpi_interval: interval(&total_draws, mass, total),
        kpi: point,
        channels,
    }
}
