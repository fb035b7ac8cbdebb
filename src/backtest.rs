//! Backtest: score a fitted model on periods it never saw, forecasting them with their
//! actual spend and controls, and say which channels the forecast errors point at.
//!
//! The new data is read with the model's own spec (its data path replaced, its window
//! opened), then its periods after the model's last date are appended to the model's
//! dataset ([`extend`]), so carryover, trend and seasonality continue exactly where the
//! fit left them. Scored periods are those after the fit window: the model's own holdout
//! and every new period.
//!
//! **Channel shifts.** On the scored periods `t ∈ S` (national totals), the forecast
//! residual `r_t = y_t − ŷ_t` is regressed on an intercept (a baseline shift), on the
//! channels already selected and on channel `c`'s forecast contribution `x_{c,t}`:
//! `r_t = a + Σ_k δ_k x_{k,t} + δ_c x_{c,t} + ε_t`. `δ_c` is the relative change of the
//! channel's effect in the new periods (`δ = 1`: it doubled). Its standard error adds
//! the regression's (noise) and the spread of `δ_c` over the model's draws (half its
//! central 68% range: the old estimate's own uncertainty) in quadrature, so a channel the old model knew poorly
//! needs a larger shift to stand out.

use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::data::{ControlData, Dataset, Panel};
use crate::model::{Lineage, Model, Params};
use crate::spec::ValidSpec;

/// Schema version of [`Backtest`].
pub const BACKTEST_SCHEMA_VERSION: u32 = 1;
/// Most parameter sets (point estimate + draws) a backtest evaluates; more draws are
/// thinned evenly.
const MAX_SETS: usize = 400;

/// Why a backtest cannot run.
#[derive(Debug, thiserror::Error)]
pub enum BacktestError {
    /// The new data cannot be read with the model's spec.
    #[error(transparent)]
    Load(#[from] Box<crate::Error>),
    /// The new data does not line up with the model's.
    #[error("{path}: {message}")]
    Mismatch {
        /// Data file.
        path: PathBuf,
        /// What does not match.
        message: String,
    },
}

/// One scored period (all geos).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScoredPeriod {
    /// Period start date.
    pub date: String,
    /// Actual KPI.
    pub actual: f64,
    /// Forecast with the period's actual spend and controls.
    pub forecast: f64,
    /// Predictive interval (parameter draws and residual noise).
    pub forecast_interval: [f64; 2],
}

/// What the forecast errors say about one channel.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChannelShift {
    /// Channel name.
    pub name: String,
    /// Paid (has spend) or organic.
    pub paid: bool,
    /// Actual spend over the scored periods (paid channels).
    pub spend: Option<f64>,
    /// The model's forecast contribution over the scored periods, with their actual spend.
    pub contribution: f64,
    /// Relative change of the channel's effect that the residuals point at
    /// (`(new − old) / old`; 1 means it doubled), given an intercept shift.
    pub shift: f64,
    /// Standard error of `shift` (noise and the old model's uncertainty).
    pub shift_se: f64,
    /// `shift / shift_se`.
    pub z: f64,
}

/// The `backtest --json` document.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Backtest {
    /// Schema version.
    pub schema_version: u32,
    /// The model scored.
    pub model: Lineage,
    /// The data file read.
    pub data: String,
    /// First and last scored date.
    pub first: String,
    /// Last scored date.
    pub last: String,
    /// Periods scored (after the fit window).
    pub periods: usize,
    /// Of those, periods after the model's own data.
    pub new_periods: usize,
    /// Periods present in both the model's data and the file whose KPI or spend differ
    /// (restated history).
    pub restated_periods: usize,
    /// Mean absolute percentage error of the national forecast.
    pub mape: f64,
    /// Mean signed percentage error (forecast − actual) / actual: > 0 over-forecasts.
    pub bias: f64,
    /// Share of scored periods whose actual KPI lies inside the predictive interval.
    pub coverage: f64,
    /// Interval mass.
    pub interval: f64,
    /// In-sample MAPE of the model, for comparison.
    pub fit_mape: f64,
    /// Total actual KPI over the scored periods.
    pub total_actual: f64,
    /// Total forecast.
    pub total_forecast: f64,
    /// Interval of the total forecast.
    pub total_forecast_interval: [f64; 2],
    /// Intercept of the residual regression as a share of the mean actual KPI: a shift
    /// of the baseline.
    pub baseline_shift: f64,
    /// Per scored period.
    pub series: Vec<ScoredPeriod>,
    /// Per channel, what the residuals say (each given only the intercept).
    pub channels: Vec<ChannelShift>,
    /// Notes about the data.
    pub warnings: Vec<String>,
}

/// Everything a backtest evaluates once: the extended data, the scored range and each
/// parameter set's national forecast and channel contributions on it.
pub struct Scoring {
    /// The model's data with the new periods appended.
    pub data: Dataset,
    /// Scored periods (indices into `data`).
    pub scored: Range<usize>,
    /// Periods after the model's own data.
    pub new_periods: usize,
    /// Overlapping periods whose values differ.
    pub restated_periods: usize,
    /// Actual national KPI per scored period.
    pub actual: Vec<f64>,
    /// `[set][t]` national forecast per scored period (set 0 = point estimate).
    pub forecast: Vec<Vec<f64>>,
    /// `[set][channel][t]` national contribution per scored period.
    pub contrib: Vec<Vec<Vec<f64>>>,
    /// Notes.
    pub warnings: Vec<String>,
}

/// Read `path` with the model's spec (window opened up to `end`, relative paths resolved
/// next to `base`), and extend the model's data with it.
pub fn score_file(
    model: &Model,
    path: &Path,
    base: &Path,
    end: Option<chrono::NaiveDate>,
) -> Result<Scoring, BacktestError> {
    let mut spec = model.spec.clone();
    spec.data.path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    spec.data.start = None;
    spec.data.end = end;
    let load = |e: crate::Error| BacktestError::Load(Box::new(e));
    let vs = ValidSpec::from_spec(spec, base).map_err(|e| load(e.into()))?;
    let new = crate::load_dataset(&vs).map_err(|e| load(e.into()))?;
    score(model, &new, path)
}

/// Extend the model's data with `new` ([`extend`]) and evaluate every parameter set on
/// the periods after the fit window.
pub fn score(model: &Model, new: &Dataset, path: &Path) -> Result<Scoring, BacktestError> {
    let (data, new_periods, restated_periods, warnings) = extend(model, new, path)?;
    let scored = model.fit_end..data.n_periods();
    if scored.is_empty() {
        return Err(BacktestError::Mismatch {
            path: path.to_path_buf(),
            message: format!(
                "no periods after the model's fit window (its last fitted date is {}); a backtest needs later periods",
                model.dataset.dates[model.fit_end.saturating_sub(1)]
            ),
        });
    }
    let ng = data.n_geos();
    let national = |p: &Panel| -> Vec<f64> {
        scored
            .clone()
            .map(|t| (0..ng).map(|g| p.at(g, t)).sum())
            .collect()
    };
    let actual = national(&data.kpi);
    let sets = parameter_sets(model);
    use rayon::prelude::*;
    let evaluated: Vec<(Vec<f64>, Vec<Vec<f64>>)> = sets
        .par_iter()
        .map(|p| {
            let mut total = vec![0.0; scored.len()];
            for (_, comp) in model.baseline_components(p, &data) {
                total
                    .iter_mut()
                    .zip(national(&comp))
                    .for_each(|(a, b)| *a += b);
            }
            let contrib: Vec<Vec<f64>> = p
                .channels
                .iter()
                .enumerate()
                .map(|(c, cp)| {
                    national(&model.channel_contribution(cp, c, &data.channels[c].input))
                })
                .collect();
            for x in &contrib {
                total.iter_mut().zip(x).for_each(|(a, b)| *a += b);
            }
            (total, contrib)
        })
        .collect();
    let (forecast, contrib) = evaluated.into_iter().unzip();
    Ok(Scoring {
        data,
        scored,
        new_periods,
        restated_periods,
        actual,
        forecast,
        contrib,
        warnings,
    })
}

/// The point estimate then at most `MAX_SETS − 1` draws, thinned evenly.
fn parameter_sets(model: &Model) -> Vec<&Params> {
    let n = model.draws.len();
    let keep = n.min(MAX_SETS - 1);
    std::iter::once(&model.point)
        .chain((0..keep).map(|i| &model.draws[i * n / keep.max(1)]))
        .collect()
}

/// The model's dataset with the periods of `new` after its last date appended. `new`
/// must have the same geos and channels, and continue the model's dates without a gap.
/// Returns the extended data, how many periods were appended, how many overlapping
/// periods differ from the model's copy, and warnings.
pub fn extend(
    model: &Model,
    new: &Dataset,
    path: &Path,
) -> Result<(Dataset, usize, usize, Vec<String>), BacktestError> {
    let bad = |message: String| BacktestError::Mismatch {
        path: path.to_path_buf(),
        message,
    };
    let old = &model.dataset;
    let (n, ng) = (old.n_periods(), old.n_geos());
    // Geo g of the model is geo gmap[g] of the new data.
    let gmap: Vec<usize> = old
        .geos
        .iter()
        .map(|g| {
            new.geos.iter().position(|x| x == g).ok_or_else(|| {
                bad(format!(
                    "geo `{g}` of the model is missing (the file has {})",
                    new.geos.join(", ")
                ))
            })
        })
        .collect::<Result<_, _>>()?;
    if let Some(g) = new.geos.iter().find(|g| !old.geos.contains(g)) {
        return Err(bad(format!(
            "geo `{g}` is not a geo of the model ({})",
            old.geos.join(", ")
        )));
    }
    if new.channels.len() != old.channels.len()
        || new.controls.len() != old.controls.len()
        || new.holidays.len() != old.holidays.len()
    {
        return Err(bad(
            "the file's channels, controls or holidays differ from the model's spec".into(),
        ));
    }
    let last = old.dates[n - 1];
    let step = chrono::Duration::days(old.spacing_days());
    let first_new = new.dates.iter().position(|d| *d > last);
    let appended: Range<usize> = match first_new {
        None => new.n_periods()..new.n_periods(),
        Some(i) => {
            if new.dates[i] != last + step {
                return Err(bad(format!(
                    "the first period after the model's data is {}, but the model's last period is {last}; expected {} (no gap)",
                    new.dates[i],
                    last + step
                )));
            }
            if new.n_periods() > i + 1 && new.spacing_days() != old.spacing_days() {
                return Err(bad(format!(
                    "periods are {} days apart; the model's are {}",
                    new.spacing_days(),
                    old.spacing_days()
                )));
            }
            i..new.n_periods()
        }
    };
    let k = appended.len();
    let mut warnings = Vec::new();

    // Restated history: overlapping periods whose KPI or spend changed.
    let mut restated = 0;
    for (tn, d) in new.dates.iter().enumerate().take(appended.start) {
        let Some(to) = old.dates.iter().position(|x| x == d) else {
            continue;
        };
        let differs = |a: f64, b: f64| (a - b).abs() > 1e-6 * (1.0 + a.abs().max(b.abs()));
        let changed = (0..ng).any(|g| {
            let gn = gmap[g];
            differs(old.kpi.at(g, to), new.kpi.at(gn, tn))
                || old
                    .channels
                    .iter()
                    .zip(&new.channels)
                    .any(|(a, b)| differs(a.input.at(g, to), b.input.at(gn, tn)))
        });
        restated += changed as usize;
    }
    if restated > 0 {
        warnings.push(format!(
            "{restated} period(s) present in both the model's data and the file have different KPI or media values (restated history); the model keeps its own copy"
        ));
    }

    let append = |p: &Panel, q: &Panel| -> Panel {
        let mut out = Panel::zeros(ng, n + k);
        for (g, &gn) in gmap.iter().enumerate() {
            out.series_mut(g)[..n].copy_from_slice(p.series(g));
            out.series_mut(g)[n..].copy_from_slice(&q.series(gn)[appended.clone()]);
        }
        out
    };
    let mut e = old.clone();
    e.dates.extend_from_slice(&new.dates[appended.clone()]);
    e.kpi = append(&old.kpi, &new.kpi);
    for (c, ch) in e.channels.iter_mut().enumerate() {
        let nc = &new.channels[c];
        if nc.name != ch.name {
            return Err(bad(format!(
                "channel {} is `{}` in the file's spec but `{}` in the model",
                c + 1,
                nc.name,
                ch.name
            )));
        }
        ch.input = append(&old.channels[c].input, &nc.input);
        ch.spend = match (&old.channels[c].spend, &nc.spend) {
            (Some(a), Some(b)) => Some(append(a, b)),
            (None, None) => None,
            _ => {
                return Err(bad(format!(
                    "channel `{}` changed between paid and organic",
                    ch.name
                )))
            }
        };
    }
    for (i, (name, data)) in e.controls.iter_mut().enumerate() {
        let (nname, ndata) = &new.controls[i];
        if nname != name {
            return Err(bad(format!(
                "control {} is `{nname}`, the model's is `{name}`",
                i + 1
            )));
        }
        match (data, ndata) {
            (ControlData::Numeric { values }, ControlData::Numeric { values: nv }) => {
                *values = append(values, nv);
            }
            (
                ControlData::Categorical { levels, codes },
                ControlData::Categorical {
                    levels: nl,
                    codes: nc,
                },
            ) => {
                let mut out = Vec::with_capacity(ng * (n + k));
                for g in 0..ng {
                    out.extend_from_slice(&codes[g * n..(g + 1) * n]);
                    for t in appended.clone() {
                        let level = &nl[nc[gmap[g] * new.n_periods() + t] as usize];
                        let code = match levels.iter().position(|l| l == level) {
                            Some(p) => p,
                            None => {
                                warnings.push(format!(
                                    "control `{name}`: level `{level}` was not in the model's data; it is forecast as the reference level `{}`",
                                    levels[0]
                                ));
                                levels.push(level.clone());
                                levels.len() - 1
                            }
                        };
                        out.push(code as u32);
                    }
                }
                *codes = out;
            }
            _ => return Err(bad(format!("control `{name}` changed kind"))),
        }
    }
    for (i, (name, v)) in e.holidays.iter_mut().enumerate() {
        let (nname, nv) = &new.holidays[i];
        if nname != name {
            return Err(bad(format!(
                "holiday `{nname}` is not the model's `{name}`"
            )));
        }
        v.extend_from_slice(&nv[appended.clone()]);
    }
    e.revenue_per_kpi = match (&old.revenue_per_kpi, &new.revenue_per_kpi) {
        (Some(a), Some(b)) => Some(append(a, b)),
        (a, _) => a.clone().map(|a| {
            let mut out = Panel::zeros(ng, n + k);
            for g in 0..ng {
                out.series_mut(g)[..n].copy_from_slice(a.series(g));
            }
            out
        }),
    };
    Ok((e, k, restated, warnings))
}

/// Residual regression of [`ChannelShift`]: `δ_c` and its standard error for channel
/// `c`, given an intercept and the channels in `given`. `None` when the regression is
/// singular (e.g. a channel with constant or no contribution over the scored periods).
pub fn channel_shift(s: &Scoring, c: usize, given: &[usize]) -> Option<(f64, f64)> {
    let one = vec![1.0; s.actual.len()];
    let fit = |set: usize| -> Option<(f64, f64)> {
        let r: Vec<f64> = s
            .actual
            .iter()
            .zip(&s.forecast[set])
            .map(|(a, f)| a - f)
            .collect();
        let mut cols: Vec<&[f64]> = vec![&one];
        cols.extend(given.iter().map(|&k| s.contrib[set][k].as_slice()));
        cols.push(&s.contrib[set][c]);
        let f = crate::linalg::ols(&cols, &r)?;
        Some((*f.beta.last()?, *f.se.last()?))
    };
    let (delta, se_noise) = fit(0)?;
    let by_draw: Vec<f64> = (1..s.forecast.len())
        .filter_map(|d| fit(d).map(|x| x.0))
        .filter(|x| x.is_finite())
        .collect();
    // Half the central 68% range: a draw whose contribution over the scored periods is
    // near zero gives a huge δ, so the sd would be ruled by a few such draws.
    let sd_param = if by_draw.len() >= 2 {
        let q = crate::analysis::quantiles(&by_draw, &[0.16, 0.84]);
        (q[1] - q[0]) / 2.0
    } else {
        0.0
    };
    let se = (se_noise.powi(2) + sd_param.powi(2)).sqrt();
    (delta.is_finite() && se.is_finite() && se > 0.0).then_some((delta, se))
}

/// Intercept of the residual regression on an intercept alone (the mean residual), as a
/// share of the mean actual KPI.
fn baseline_shift(s: &Scoring) -> f64 {
    let n = s.actual.len() as f64;
    let r: f64 = s
        .actual
        .iter()
        .zip(&s.forecast[0])
        .map(|(a, f)| a - f)
        .sum::<f64>()
        / n;
    let mean = s.actual.iter().sum::<f64>() / n;
    if mean.abs() > 0.0 {
        r / mean
    } else {
        0.0
    }
}

/// Score `model` on the periods of `path` it never saw (see the module documentation).
pub fn backtest(model: &Model, path: &Path, base: &Path) -> Result<Backtest, BacktestError> {
    let s = score_file(model, path, base, None)?;
    Ok(document(model, &s, path))
}

/// The [`Backtest`] document of a [`Scoring`].
pub fn document(model: &Model, s: &Scoring, path: &Path) -> Backtest {
    let spread = model.spread();
    let ng = s.data.n_geos() as f64;
    let z = crate::mcmc::normal_quantile(0.5 + spread.mass / 2.0);
    let noise = model.diagnostics.sigma * ng.sqrt();
    let draws_at = |t: usize| -> Vec<f64> { s.forecast[1..].iter().map(|f| f[t]).collect() };
    let predictive = |point: f64, draws: &[f64], noise: f64| -> [f64; 2] {
        let [lo, hi] = crate::analysis::interval(draws, spread, point);
        [
            point - ((point - lo).powi(2) + (z * noise).powi(2)).sqrt(),
            point + ((hi - point).powi(2) + (z * noise).powi(2)).sqrt(),
        ]
    };
    let series: Vec<ScoredPeriod> = s
        .scored
        .clone()
        .enumerate()
        .map(|(i, t)| ScoredPeriod {
            date: s.data.dates[t].to_string(),
            actual: s.actual[i],
            forecast: s.forecast[0][i],
            forecast_interval: predictive(s.forecast[0][i], &draws_at(i), noise),
        })
        .collect();
    let nt = series.len();
    let covered = series
        .iter()
        .filter(|p| p.forecast_interval[0] <= p.actual && p.actual <= p.forecast_interval[1])
        .count();
    let signed: Vec<f64> = series
        .iter()
        .filter(|p| p.actual.abs() > 1e-12)
        .map(|p| (p.forecast - p.actual) / p.actual)
        .collect();
    let totals: Vec<f64> = s.forecast.iter().map(|f| f.iter().sum()).collect();
    let channels = model
        .channels
        .iter()
        .enumerate()
        .map(|(c, info)| {
            let (shift, shift_se) = channel_shift(s, c, &[]).unwrap_or((0.0, f64::INFINITY));
            ChannelShift {
                name: info.name.clone(),
                paid: info.paid,
                spend: s.data.channels[c]
                    .spend
                    .as_ref()
                    .filter(|_| info.paid)
                    .map(|p| p.sum_over(s.scored.clone())),
                contribution: s.contrib[0][c].iter().sum(),
                shift,
                shift_se,
                z: if shift_se.is_finite() {
                    shift / shift_se
                } else {
                    0.0
                },
            }
        })
        .collect();
    Backtest {
        schema_version: BACKTEST_SCHEMA_VERSION,
        model: model.lineage(),
        data: path.display().to_string(),
        first: series.first().map(|p| p.date.clone()).unwrap_or_default(),
        last: series.last().map(|p| p.date.clone()).unwrap_or_default(),
        periods: nt,
        new_periods: s.new_periods,
        restated_periods: s.restated_periods,
        mape: crate::fit::mape(&s.actual, &s.forecast[0]),
        bias: if signed.is_empty() {
            0.0
        } else {
            signed.iter().sum::<f64>() / signed.len() as f64
        },
        coverage: covered as f64 / nt.max(1) as f64,
        interval: spread.mass,
        fit_mape: model.diagnostics.fit.mape,
        total_actual: s.actual.iter().sum(),
        total_forecast: totals[0],
        total_forecast_interval: predictive(totals[0], &totals[1..], noise * (nt as f64).sqrt()),
        baseline_shift: baseline_shift(s),
        series,
        channels,
        warnings: s.warnings.clone(),
    }
}
