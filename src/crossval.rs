//! Rolling-origin time-series cross-validation: refit on an expanding window and score
//! the forecast of the next `horizon` periods with their actual spend and controls, so a
//! refresh job can compare specs on out-of-sample accuracy rather than in-sample fit.
//!
//! With `n` periods, `K` folds and horizon `h`, fold `k = 1..=K` fits periods
//! `[window_start, n − (K − k + 1)·h)` and scores `[n − (K − k + 1)·h, n − (K − k)·h)`;
//! the last fold scores the final `h` periods. Folds are point fits (no uncertainty
//! draws): accuracy, not intervals, is what is compared.

use serde::{Deserialize, Serialize};

use crate::data::Dataset;
use crate::fit::{fit_observed, mape, FitError, FitOptions};
use crate::observe::{Event, Observer, Silent};
use crate::spec::ValidSpec;

/// Schema version of [`CrossValidation`].
pub const CROSSVAL_SCHEMA_VERSION: u32 = 1;
/// Fewest periods a fold may fit on.
pub const MIN_TRAIN_PERIODS: usize = 52;
/// Most folds.
pub const MAX_FOLDS: usize = 52;

/// What to cross-validate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CrossValConfig {
    /// Number of folds (origins), at least 1.
    pub folds: usize,
    /// Periods forecast and scored per fold.
    pub horizon: usize,
    /// Seed of each fold's restarts.
    pub seed: u64,
}

impl Default for CrossValConfig {
    fn default() -> Self {
        CrossValConfig {
            folds: 4,
            horizon: 13,
            seed: 0,
        }
    }
}

/// One fold's result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Fold {
    /// Fold number, 1-based, oldest origin first.
    pub fold: usize,
    /// First and last date fitted.
    pub train: [String; 2],
    /// First and last date scored.
    pub test: [String; 2],
    /// Mean absolute percentage error on the scored periods (all geos).
    pub mape: f64,
    /// Mean signed percentage error (forecast − actual) / actual: > 0 over-forecasts.
    pub bias: f64,
    /// In-sample MAPE of the fold's fit.
    pub fit_mape: f64,
    /// Media share of the fold's fit.
    pub media_share: f64,
    /// ROI per paid channel of the fold's fit, by channel name.
    pub roi: crate::json::Named,
}

/// The `validate` document.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CrossValidation {
    /// Schema version.
    pub schema_version: u32,
    /// Spec name.
    pub name: String,
    /// Settings.
    pub config: CrossValConfig,
    /// Per fold.
    pub folds: Vec<Fold>,
    /// Mean of the folds' MAPE.
    pub mean_mape: f64,
    /// Largest fold MAPE.
    pub max_mape: f64,
    /// Mean of the folds' bias.
    pub mean_bias: f64,
    /// Per paid channel, the spread of its ROI over folds: (max − min) / mean.
    pub roi_spread: crate::json::Named,
}

/// Cross-validate `spec` on `ds`.
pub fn cross_validate(
    spec: &ValidSpec,
    ds: &Dataset,
    cfg: &CrossValConfig,
    obs: &dyn Observer,
) -> Result<CrossValidation, FitError> {
    let (k, h) = (cfg.folds, cfg.horizon);
    if !(1..=MAX_FOLDS).contains(&k) {
        return Err(FitError::BadInput(format!(
            "--folds must be in 1..={MAX_FOLDS}, got {k}"
        )));
    }
    if h == 0 {
        return Err(FitError::BadInput("--horizon must be at least 1".into()));
    }
    let n = ds.n_periods();
    let t0 = ds.window_start;
    let first_train = (n - t0).saturating_sub(k.saturating_mul(h));
    if first_train < MIN_TRAIN_PERIODS {
        return Err(FitError::BadInput(format!(
            "{k} folds of {h} periods leave {first_train} periods for the first fit; at least {MIN_TRAIN_PERIODS} are needed (fewer folds or a shorter --horizon)"
        )));
    }
    obs.event(Event::Stage(&format!(
        "cross-validating {}: {k} folds, {h}-period horizon",
        spec.spec().name
    )));
    let mut folds = Vec::with_capacity(k);
    for i in 1..=k {
        let end = n - (k - i + 1) * h;
        let opts = FitOptions {
            holdout: n - end,
            seed: cfg.seed,
            draws: Some(0),
            ..Default::default()
        };
        let model = fit_observed(spec, ds.clone(), &opts, &Silent)?;
        let fitted = model.predict(&model.point, &model.dataset);
        let test = end..end + h;
        let (mut actual, mut forecast) = (Vec::new(), Vec::new());
        for g in 0..ds.n_geos() {
            actual.extend_from_slice(&ds.kpi.series(g)[test.clone()]);
            forecast.extend_from_slice(&fitted.series(g)[test.clone()]);
        }
        let signed: Vec<f64> = actual
            .iter()
            .zip(&forecast)
            .filter(|(a, _)| a.abs() > 1e-12)
            .map(|(a, f)| (f - a) / a)
            .collect();
        let summary = crate::analysis::summarize(&model);
        let paid: Vec<_> = summary.channels.iter().filter(|c| c.paid).collect();
        let names: Vec<String> = paid.iter().map(|c| c.name.clone()).collect();
        let rois: Vec<f64> = paid.iter().map(|c| c.roi.unwrap_or(f64::NAN)).collect();
        folds.push(Fold {
            fold: i,
            train: [ds.dates[t0].to_string(), ds.dates[end - 1].to_string()],
            test: [ds.dates[end].to_string(), ds.dates[end + h - 1].to_string()],
            mape: mape(&actual, &forecast),
            bias: if signed.is_empty() {
                0.0
            } else {
                signed.iter().sum::<f64>() / signed.len() as f64
            },
            fit_mape: model.diagnostics.fit.mape,
            media_share: summary.media_share,
            roi: crate::json::Named::new(&names, &rois),
        });
        obs.event(Event::Progress {
            task: "folds",
            done: i,
            total: k,
        });
    }
    let mean = |f: &dyn Fn(&Fold) -> f64| folds.iter().map(f).sum::<f64>() / k as f64;
    let roi_spread = crate::json::Named(
        folds[0]
            .roi
            .0
            .iter()
            .enumerate()
            .map(|(j, (name, _))| {
                let v: Vec<f64> = folds.iter().map(|f| f.roi.0[j].1).collect();
                (name.clone(), relative_range(&v))
            })
            .collect(),
    );
    Ok(CrossValidation {
        schema_version: CROSSVAL_SCHEMA_VERSION,
        name: spec.spec().name.clone(),
        config: *cfg,
        mean_mape: mean(&|f| f.mape),
        max_mape: folds.iter().map(|f| f.mape).fold(0.0, f64::max),
        mean_bias: mean(&|f| f.bias),
        roi_spread,
        folds,
    })
}

/// `(max − min) / mean` of a sample (0 when the mean is not positive).
fn relative_range(v: &[f64]) -> f64 {
    let m = v.iter().sum::<f64>() / v.len().max(1) as f64;
    let (lo, hi) = v
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), x| {
            (l.min(*x), h.max(*x))
        });
    if m > 0.0 && hi >= lo {
        (hi - lo) / m
    } else {
        0.0
    }
}
