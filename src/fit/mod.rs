//! Estimation: variable projection over the nonlinear media parameters (multi-start
//! L-BFGS via argmin, in parallel), non-negative ridge least squares for the linear part,
//! and a moving-block residual bootstrap for uncertainty.

mod bootstrap;
mod deviations;
mod geo;
mod nuts;
mod posterior;
mod problem;
mod whiten;

use std::time::Instant;

use argmin::core::{CostFunction, Executor, Gradient, State};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;
use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;
use thiserror::Error;

use crate::data::{DataError, Dataset, Panel};
use crate::design::Baseline;
use crate::linalg::SymMat;
use crate::model::{
    ChannelInfo, ChannelParams, Diagnostics, Fingerprint, FitStats, HoldoutStats, Model, Params,
    PriorSource, RoiPrior, MODEL_SCHEMA_VERSION,
};
use crate::observe::{Event, Observer, Silent};
use crate::spec::{FitMethod, ValidSpec};
use crate::transform::ParamBox;

use crate::calibration::Experiment;
pub(crate) use problem::{ChannelSetup, ExperimentSetup, Pool, Problem, Setup};

/// Hyperprior sd of the pooled media share on the logit scale (weak: ±1.5 moves a 15%
/// share to 4–44%).
const POOL_SHARE_SD: f64 = 1.5;

/// Errors from fitting.
#[derive(Debug, Error)]
pub enum FitError {
    /// Loading or validating the data failed.
    #[error(transparent)]
    Data(#[from] DataError),
    /// The settings do not fit the data.
    #[error("{0}")]
    BadInput(String),
    /// The numerical fit failed.
    #[error("fit failed: {0}")]
    Numerical(String),
    /// The lift tests could not be read or do not match the data.
    #[error(transparent)]
    Experiments(#[from] crate::calibration::ExperimentError),
    /// The attribution behind attribution-informed priors could not be read.
    #[error(transparent)]
    Priors(#[from] crate::combine::CombineError),
}

/// Options for one fit run (the spec carries the model; these carry the run).
#[derive(Debug, Clone, Default)]
pub struct FitOptions {
    /// Periods at the end held out from the fit.
    pub holdout: usize,
    /// RNG seed for restarts and bootstrap.
    pub seed: u64,
    /// Override the spec's bootstrap draw count.
    pub draws: Option<usize>,
    /// Lift tests CSV, overriding the spec's `[calibration] experiments`.
    pub experiments: Option<std::path::PathBuf>,
    /// Attribution report for attribution-informed priors, overriding the spec's
    /// `[calibration] attribution`.
    pub attribution_prior: Option<std::path::PathBuf>,
    /// Data file overriding the spec's `[data] path` (relative paths are taken from the
    /// spec's folder; the CLI passes absolute ones). Used by [`crate::fit_spec_file`].
    pub data: Option<std::path::PathBuf>,
    /// Override the spec's `[fit] method`.
    pub method: Option<FitMethod>,
    /// Override the spec's NUTS chains.
    pub chains: Option<usize>,
    /// Override the spec's NUTS warm-up per chain.
    pub warmup: Option<usize>,
}

impl FitOptions {
    /// The spec's `[fit]` settings with these options applied and checked; `draws` means
    /// bootstrap refits for `fast` and draws per chain for `bayes`.
    fn settings(&self, spec: &ValidSpec) -> Result<crate::spec::FitSpec, FitError> {
        let mut f = spec.spec().fit.clone();
        if let Some(m) = self.method {
            f.method = m;
        }
        f.chains = self.chains.unwrap_or(f.chains);
        f.warmup = self.warmup.unwrap_or(f.warmup);
        if let Some(d) = self.draws {
            match f.method {
                FitMethod::Fast => f.bootstrap_draws = d,
                FitMethod::Bayes => f.draws_per_chain = d,
            }
        }
        if f.bootstrap_draws > crate::spec::MAX_DRAWS {
            return Err(FitError::BadInput(format!(
                "--draws {} is more than {} uncertainty draws",
                f.bootstrap_draws,
                crate::spec::MAX_DRAWS
            )));
        }
        f.check_sampler().map_err(|(key, msg)| {
            let flag = match key {
                "fit.chains" => "--chains",
                "fit.warmup" => "--warmup",
                _ => "--draws",
            };
            FitError::BadInput(format!("{flag} (or `{key}` in the spec) {msg}"))
        })?;
        Ok(f)
    }
}

/// Last evaluated point with its value and gradient.
type EvalCache = std::sync::Mutex<Option<(Vec<f64>, f64, Vec<f64>)>>;

/// A smooth objective: value and gradient at a point, `None` where it is not finite.
pub(crate) type Objective<'a> = &'a (dyn Fn(&[f64]) -> Option<(f64, Vec<f64>)> + Sync);

/// argmin adapter. Value and gradient come from one evaluation, cached because the
/// line search asks for both at the same point. Both are divided by `scale` (see
/// [`minimize_fn_tol`]).
struct Cost<'a> {
    f: Objective<'a>,
    scale: f64,
    cache: EvalCache,
}

impl Cost<'_> {
    fn eval(&self, u: &[f64]) -> Result<(f64, Vec<f64>), argmin::core::Error> {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((cu, f, g)) = cache.as_ref() {
            if cu.as_slice() == u {
                return Ok((*f, g.clone()));
            }
        }
        let (f, mut g) =
            (self.f)(u).ok_or_else(|| argmin::core::Error::msg("non-finite objective"))?;
        let f = f / self.scale;
        g.iter_mut().for_each(|v| *v /= self.scale);
        *cache = Some((u.to_vec(), f, g.clone()));
        Ok((f, g))
    }
}

impl CostFunction for Cost<'_> {
    type Param = Vec<f64>;
    type Output = f64;
    fn cost(&self, u: &Self::Param) -> Result<f64, argmin::core::Error> {
        self.eval(u).map(|r| r.0)
    }
}

impl Gradient for Cost<'_> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;
    fn gradient(&self, u: &Self::Param) -> Result<Vec<f64>, argmin::core::Error> {
        self.eval(u).map(|r| r.1)
    }
}

/// Minimise the fit objective from `u0` with L-BFGS; returns the best point and value.
pub(crate) fn minimize(p: &Problem, u0: Vec<f64>, max_iters: u64) -> Option<(Vec<f64>, f64)> {
    minimize_tol(p, u0, max_iters, TIGHT)
}

/// Stopping rule of an L-BFGS run: gradient norm and change of the objective (both in
/// log-density units).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tolerance {
    pub grad: f64,
    pub cost: f64,
}

/// Tight: point estimates.
pub(crate) const TIGHT: Tolerance = Tolerance {
    grad: 1e-6,
    cost: 1e-9,
};

/// For bootstrap refits started at the point estimate: a draw moves the parameters by
/// about one posterior sd, so stopping once the objective changes by less than 1e-6
/// log-density units (and the gradient is below 1e-3) costs nothing in the draw while
/// large panels no longer spend most refits polishing digits.
pub(crate) const REFIT: Tolerance = Tolerance {
    grad: 1e-3,
    cost: 1e-6,
};

/// [`minimize`] with a stopping rule.
pub(crate) fn minimize_tol(
    p: &Problem,
    u0: Vec<f64>,
    max_iters: u64,
    tol: Tolerance,
) -> Option<(Vec<f64>, f64)> {
    minimize_fn_tol(
        &|u: &[f64]| p.eval(u, true).map(|e| (e.f, e.grad)),
        u0,
        max_iters,
        tol,
    )
}

/// Minimise any smooth objective from `u0` with L-BFGS (More–Thuente line search).
pub(crate) fn minimize_fn(f: Objective, u0: Vec<f64>, max_iters: u64) -> Option<(Vec<f64>, f64)> {
    minimize_fn_tol(f, u0, max_iters, TIGHT)
}

/// Most L-BFGS runs [`minimize_fn_tol`] chains after line-search failures.
const MAX_RUNS: usize = 6;

/// [`minimize_fn`] with a stopping rule.
///
/// L-BFGS's first step is the raw negative gradient at step length 1. On large panels
/// (the objective is in log-density units over thousands of cells) the gradient at a
/// random start can be ~10⁴, so that step leaves every box and the More–Thuente search
/// gives up ("NaN or Inf encountered") after one iteration, returning the start: a 20-geo
/// fit then kept whichever restart happened to start best, 350–800 nats above the optimum.
/// When a run ends that way, the next one continues from its best point on the objective
/// divided by `s = max(1, ‖∇f‖∞)` there (first step at most one unit per coordinate;
/// tolerances divided by `s` too), at most [`MAX_RUNS`] runs within `max_iters`.
/// Runs that converge are untouched, so such fits are unchanged.
pub(crate) fn minimize_fn_tol(
    f: Objective,
    u0: Vec<f64>,
    max_iters: u64,
    tol: Tolerance,
) -> Option<(Vec<f64>, f64)> {
    if u0.is_empty() {
        let v = f(&u0)?.0;
        return Some((u0, v));
    }
    let mut start = u0;
    let mut scale = 1.0;
    let mut left = max_iters;
    let mut best: Option<(Vec<f64>, f64)> = None;
    for _ in 0..MAX_RUNS {
        let (point, value, iters, stalled) = lbfgs_run(f, start.clone(), left, tol, scale)?;
        let improved = best.as_ref().is_none_or(|b| value < b.1);
        if improved {
            best = Some((point.clone(), value));
        }
        left = left.saturating_sub(iters.max(1));
        if !stalled || !improved || left == 0 {
            break;
        }
        let Some((_, grad)) = f(&point) else {
            break;
        };
        scale = grad.iter().fold(1.0_f64, |m, v| m.max(v.abs()));
        start = point;
    }
    best
}

/// One argmin L-BFGS run on `f / scale`: best point, its (unscaled) value, iterations, and
/// whether the line search failed (rather than converging or running out of iterations).
fn lbfgs_run(
    f: Objective,
    u0: Vec<f64>,
    max_iters: u64,
    tol: Tolerance,
    scale: f64,
) -> Option<(Vec<f64>, f64, u64, bool)> {
    let solver = LBFGS::new(MoreThuenteLineSearch::new(), 7)
        .with_tolerance_grad(tol.grad / scale)
        .ok()?
        .with_tolerance_cost(tol.cost / scale)
        .ok()?;
    let cost = Cost {
        f,
        scale,
        cache: std::sync::Mutex::new(None),
    };
    let res = Executor::new(cost, solver)
        .configure(|s| s.param(u0.clone()).max_iters(max_iters))
        .run();
    match res {
        Ok(r) => {
            let st = r.state();
            let best = st.get_best_param()?.clone();
            let v = st.get_best_cost() * scale;
            let stalled = matches!(
                st.get_termination_status(),
                argmin::core::TerminationStatus::Terminated(
                    argmin::core::TerminationReason::SolverExit(_)
                )
            );
            v.is_finite().then_some((best, v, st.get_iter(), stalled))
        }
        Err(_) => {
            let v = f(&u0)?.0;
            Some((u0, v, max_iters, false))
        }
    }
}

/// Build the fixed part of the problem on the fit window `t0..t1`.
pub(crate) fn build_setup(
    spec: &ValidSpec,
    ds: &Dataset,
    baseline: &Baseline,
    window: std::ops::Range<usize>,
    experiments: &[Experiment],
    baseline_level: Option<&[f64]>,
    obs: &dyn Observer,
) -> Result<(Setup, Vec<f64>), FitError> {
    let (t0, t1) = (window.start, window.end);
    let ng = ds.n_geos();
    let tf = t1 - t0;
    let n = ng * tf;
    let kpi_mean: Vec<f64> = (0..ng)
        .map(|g| {
            let s = &ds.kpi.series(g)[t0..t1];
            let m = s.iter().sum::<f64>() / tf as f64;
            if m.abs() > 1e-12 {
                m.abs()
            } else {
                let a = s.iter().map(|v| v.abs()).sum::<f64>() / tf as f64;
                if a > 0.0 {
                    a
                } else {
                    1.0
                }
            }
        })
        .collect();
    // Per-capita media (Meridian's convention): with a population column media enter as
    // `κ · pop_g · β_c · sat(adstock(x)/(s_c · pop_g))` (κ = national KPI per capita,
    // s_c = mean non-zero per-capita input), so one coefficient is one effect per capita
    // and one saturation curve holds on spend per capita in every geo. The baseline
    // stays relative to each geo's own KPI level (its seasonal swings scale with it).
    //
    // With `baseline_level` (per geo, relative to the KPI mean) the KPI of geo g is
    // measured in units of its baseline level instead of its mean, so the baseline's
    // shape (trend, seasonality, controls) scales with the geo's baseline rather than
    // with its KPI, which also holds its media; media keep their own scale.
    let population = ds.population.as_ref().filter(|p| p.len() == ng);
    let effect_scale: Vec<f64> = match population {
        Some(p) => {
            let kappa = kpi_mean.iter().sum::<f64>() / p.iter().sum::<f64>();
            p.iter().map(|v| kappa * v).collect()
        }
        None if baseline_level.is_some() => kpi_mean.clone(),
        None => Vec::new(),
    };
    let kpi_scale: Vec<f64> = match baseline_level {
        Some(l) => kpi_mean.iter().zip(l).map(|(m, l)| m * l).collect(),
        None => kpi_mean,
    };
    let geo_weight: Vec<f64> = (0..ng)
        .map(|g| effect_scale.get(g).map_or(1.0, |e| e / kpi_scale[g]))
        .collect();
    let mut y = Vec::with_capacity(n);
    for (g, s) in kpi_scale.iter().enumerate() {
        y.extend(ds.kpi.series(g)[t0..t1].iter().map(|v| v / s));
    }
    let pb = baseline.n_columns();
    let mut base = vec![vec![0.0; n]; pb];
    let mut row = vec![0.0; pb];
    for g in 0..ng {
        for t in t0..t1 {
            baseline.row(ds, g, t, &mut row);
            for (j, x) in row.iter().enumerate() {
                base[j][g * tf + (t - t0)] = *x;
            }
        }
    }
    for (j, col) in base.iter().enumerate() {
        if col.iter().all(|v| *v == 0.0) && !baseline.columns[j].group.eq("intercept") {
            obs.event(Event::Warning(&format!(
                "baseline column `{}` is zero throughout the fit window",
                baseline.columns[j].name
            )));
        }
    }
    let mut btb = SymMat::zeros(pb);
    for i in 0..pb {
        for j in 0..=i {
            btb.set_sym(i, j, problem::dot(&base[i], &base[j]));
        }
    }
    let total_spend: f64 = ds
        .channels
        .iter()
        .filter_map(|c| c.spend.as_ref().map(|s| s.sum_over(t0..t1)))
        .sum();
    let kpi_total = ds.kpi.sum_over(t0..t1);
    let fs = &spec.spec().fit;
    let default_prior =
        (total_spend > 0.0 && kpi_total > 0.0 && fs.media_share_prior > 0.0).then(|| {
            let m = fs.media_share_prior * kpi_total / total_spend;
            crate::spec::Prior {
                mean: m,
                sd: m * fs.roi_prior_sd_ratio,
            }
        });
    let pooling = default_prior.is_some() && fs.roi_pooling;
    let mut channels = Vec::new();
    for (c, cs) in spec.spec().channels.iter().enumerate() {
        let cd = &ds.channels[c];
        let all_window: Vec<f64> = (0..ng)
            .flat_map(|g| cd.input.series(g)[t0..t1].to_vec())
            .filter(|v| *v > 0.0)
            .collect();
        let overall = if all_window.is_empty() {
            1.0
        } else {
            all_window.iter().sum::<f64>() / all_window.len() as f64
        };
        let scales: Vec<f64> = match population {
            Some(p) => {
                let per_capita: Vec<f64> = (0..ng)
                    .flat_map(|g| cd.input.series(g)[t0..t1].iter().map(move |v| v / p[g]))
                    .filter(|v| *v > 0.0)
                    .collect();
                let s = if per_capita.is_empty() {
                    overall / (p.iter().sum::<f64>() / ng as f64)
                } else {
                    per_capita.iter().sum::<f64>() / per_capita.len() as f64
                };
                p.iter().map(|v| s * v).collect()
            }
            None => (0..ng)
                .map(|g| {
                    let nz: Vec<f64> = cd.input.series(g)[t0..t1]
                        .iter()
                        .copied()
                        .filter(|v| *v > 0.0)
                        .collect();
                    if nz.is_empty() {
                        overall
                    } else {
                        nz.iter().sum::<f64>() / nz.len() as f64
                    }
                })
                .collect(),
        };
        let mut boxes = cs.adstock.default_boxes(cs.max_lag);
        boxes.extend(cs.saturation.default_boxes());
        let names: Vec<&str> = cs
            .adstock
            .param_names()
            .iter()
            .chain(cs.saturation.param_names())
            .copied()
            .collect();
        for (b, name) in boxes.iter_mut().zip(&names) {
            if let Some([lo, hi]) = cs.bounds_for(name) {
                *b = ParamBox {
                    lo,
                    hi,
                    center: b.center.clamp(lo, hi),
                    sd: b.sd,
                };
                if (b.center - lo).abs() < 1e-12 || (b.center - hi).abs() < 1e-12 {
                    b.center = 0.5 * (lo + hi);
                }
            }
        }
        let spend = cd.spend.as_ref().map(|s| s.sum_over(t0..t1)).unwrap_or(0.0);
        channels.push(ChannelSetup {
            adstock: cs.adstock,
            max_lag: cs.max_lag,
            normalize: cs.normalize,
            saturation: cs.saturation,
            boxes,
            inputs: (0..ng).map(|g| cd.input.series(g)[..t1].to_vec()).collect(),
            scales,
            geo_weight: geo_weight.clone(),
            spend,
            roi_prior: cs
                .roi_prior
                .or(if spend > 0.0 { default_prior } else { None }),
            pooled: pooling && spend > 0.0 && cs.roi_prior.is_none(),
        });
    }
    let pool = channels.iter().any(|c| c.pooled).then(|| Pool {
        kpi_per_spend: kpi_total / total_spend,
        share: ParamBox {
            lo: 0.005,
            hi: 0.95,
            center: fs.media_share_prior.clamp(0.01, 0.9),
            sd: POOL_SHARE_SD,
        },
        ratio: fs.roi_prior_sd_ratio,
    });
    let lift_tests = experiments
        .iter()
        .map(|e| experiment_setup(e, ds, &channels[e.channel], t0, t1, &kpi_scale))
        .collect();
    let mut ridge: Vec<f64> = baseline
        .columns
        .iter()
        .map(|c| c.ridge * n as f64)
        .collect();
    ridge.extend(std::iter::repeat_n(1e-6 * n as f64, channels.len()));
    Ok((
        Setup {
            support: base.iter().map(|c| problem::support_of(c)).collect(),
            channels,
            n_geos: ng,
            t0,
            t1,
            base,
            btb,
            ridge,
            kpi_scale,
            effect_scale,
            pool,
            laplace: fs.marginal,
            experiments: lift_tests,
            geo_dev: Vec::new(),
        },
        y,
    ))
}

/// Prepare a lift test: the channel's inputs with the window zeroed in the tested geos,
/// and the counted cells (the window, or with `total` scope up to `max_lag` periods after
/// it, clipped to the fit window) weighted by each geo's KPI scale.
fn experiment_setup(
    e: &Experiment,
    ds: &Dataset,
    ch: &ChannelSetup,
    t0: usize,
    t1: usize,
    kpi_scale: &[f64],
) -> ExperimentSetup {
    let (a, b, last) = e.counted(ds, ch.max_lag, t1);
    let geos = e.geos(ds);
    let tf = t1 - t0;
    let mut zeroed = ch.inputs.clone();
    let mut cells = Vec::new();
    for &g in &geos {
        zeroed[g][a..=b].iter_mut().for_each(|v| *v = 0.0);
        cells.extend((a..=last).map(|t| (g * tf + t - t0, kpi_scale[g])));
    }
    ExperimentSetup {
        channel: e.channel,
        zeroed,
        cells,
        lift: e.lift,
        se: e.se,
    }
}

/// The ROI prior channel `ch` was fitted under, with a pooled level evaluated at `u`.
fn roi_prior_at(setup: &Setup, c: usize, u: &[f64], own: bool) -> Option<RoiPrior> {
    let p = setup.roi_prior_for(c, setup.pool_at(u))?;
    let source = if setup.channels[c].pooled && setup.pool.is_some() {
        PriorSource::Pooled
    } else if own {
        PriorSource::Own
    } else {
        PriorSource::Fixed
    };
    Some(RoiPrior {
        source,
        mean: p.mean,
        sd: p.sd,
    })
}

/// Turn an unconstrained optimum into model parameters.
pub(crate) fn to_params(setup: &Setup, u: &[f64], beta: &[f64]) -> Params {
    let off = setup.offsets();
    let pb = setup.base.len();
    Params {
        channels: setup
            .channels
            .iter()
            .enumerate()
            .map(|(c, ch)| {
                let (adstock, saturation) = ch.build(&ch.values(&u[off[c]..off[c + 1]]));
                ChannelParams {
                    adstock,
                    saturation,
                    coef: beta[pb + c],
                    geo_effect: Vec::new(),
                }
            })
            .collect(),
        baseline: beta[..pb].to_vec(),
    }
}

/// Multi-start search: the prior centre plus `restarts − 1` draws from the prior, and
/// `also` (e.g. the optimum under an earlier noise scale) when given.
pub(crate) fn multistart(
    p: &Problem,
    restarts: usize,
    seed: u64,
    also: Option<&[f64]>,
) -> Option<(Vec<f64>, f64, usize)> {
    let u0 = p.setup.prior_center();
    let usd = p.setup.prior_sd();
    let mut starts: Vec<Vec<f64>> = (0..restarts)
        .map(|r| {
            if r == 0 {
                return u0.clone();
            }
            let mut rng =
                StdRng::seed_from_u64(seed ^ (0x9E37_79B9_7F4A_7C15u64.wrapping_mul(r as u64 + 1)));
            u0.iter()
                .zip(&usd)
                .map(|(c, sd)| {
                    let z: f64 = StandardNormal.sample(&mut rng);
                    c + sd * z
                })
                .collect()
        })
        .collect();
    starts.extend(also.map(<[f64]>::to_vec));
    let results: Vec<(Vec<f64>, f64)> = starts
        .into_par_iter()
        .filter_map(|s| minimize(p, s, 300))
        .collect();
    let best = results.iter().min_by(|a, b| a.1.total_cmp(&b.1))?.clone();
    let agree = results
        .iter()
        .filter(|r| r.1 <= best.1 + 1e-3 * best.1.abs().max(1.0))
        .count();
    Some((best.0, best.1, agree))
}

fn fit_stats(actual: &[f64], fitted: &[f64]) -> FitStats {
    let n = actual.len() as f64;
    let mean = actual.iter().sum::<f64>() / n;
    let sst: f64 = actual.iter().map(|y| (y - mean).powi(2)).sum();
    let res: Vec<f64> = actual.iter().zip(fitted).map(|(a, f)| a - f).collect();
    let sse: f64 = res.iter().map(|r| r * r).sum();
    let dw_num: f64 = res.windows(2).map(|w| (w[1] - w[0]).powi(2)).sum();
    FitStats {
        r2: if sst > 0.0 { 1.0 - sse / sst } else { 0.0 },
        mape: mape(actual, fitted),
        nrmse: nrmse(actual, fitted),
        durbin_watson: if sse > 0.0 { dw_num / sse } else { 2.0 },
    }
}

/// Mean absolute percentage error over cells with a non-zero actual.
pub fn mape(actual: &[f64], fitted: &[f64]) -> f64 {
    let v: Vec<f64> = actual
        .iter()
        .zip(fitted)
        .filter(|(a, _)| a.abs() > 1e-12)
        .map(|(a, f)| ((a - f) / a).abs())
        .collect();
    if v.is_empty() {
        0.0
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

fn nrmse(actual: &[f64], fitted: &[f64]) -> f64 {
    let n = actual.len().max(1) as f64;
    let rmse = (actual
        .iter()
        .zip(fitted)
        .map(|(a, f)| (a - f).powi(2))
        .sum::<f64>()
        / n)
        .sqrt();
    let (lo, hi) = actual
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
            (l.min(*v), h.max(*v))
        });
    if hi > lo {
        rmse / (hi - lo)
    } else {
        0.0
    }
}

fn cells(p: &Panel, range: std::ops::Range<usize>) -> Vec<f64> {
    (0..p.n_geos)
        .flat_map(|g| p.series(g)[range.clone()].to_vec())
        .collect()
}

fn fingerprint(spec: &ValidSpec, ds: &Dataset) -> Fingerprint {
    let path = spec.data_path();
    let hash = std::fs::read(&path)
        .map(|b| crate::io::fnv1a(&b))
        .unwrap_or(0);
    Fingerprint {
        path: path.display().to_string(),
        hash: format!("{hash:016x}"),
        periods: ds.n_periods(),
        geos: ds.n_geos(),
        first_date: ds.dates.first().map(|d| d.to_string()).unwrap_or_default(),
        last_date: ds.dates.last().map(|d| d.to_string()).unwrap_or_default(),
    }
}

/// The spec with attribution-informed ROI priors on the paid channels the attribution
/// names and the spec gives no `roi_prior` of their own (`fit --attribution-prior` or
/// `[calibration] attribution`); `None` without an attribution document.
fn attribution_prior_spec(
    spec: &ValidSpec,
    ds: &Dataset,
    opts: &FitOptions,
    t0: usize,
    t1: usize,
    obs: &dyn Observer,
) -> Result<Option<ValidSpec>, FitError> {
    let cal = spec.spec().calibration.clone();
    let Some(path) = opts.attribution_prior.clone().or_else(|| {
        cal.as_ref()
            .and_then(|c| c.attribution.as_ref())
            .map(|p| spec.resolve(p))
    }) else {
        return Ok(None);
    };
    let settings = crate::combine::PriorSettings {
        model: cal.as_ref().and_then(|c| c.attribution_model.clone()),
        discount: cal.as_ref().map_or(1.0, |c| c.attribution_discount),
        sd_ratio: cal.as_ref().map_or(1.0, |c| c.attribution_sd_ratio),
    };
    let report = crate::combine::load_attribution(&path)?;
    let spend: Vec<(String, f64)> = spec
        .spec()
        .channels
        .iter()
        .zip(&ds.channels)
        .map(|(c, d)| {
            let s = d.spend.as_ref().map_or(0.0, |s| s.sum_over(t0..t1.max(t0)));
            (c.name.clone(), s)
        })
        .collect();
    let (priors, warnings) = crate::combine::attribution_priors(
        &report,
        &path,
        spec.spec().data.kpi_kind,
        &spend,
        &settings,
    )?;
    for w in &warnings {
        obs.event(Event::Warning(w));
    }
    let mut edited = spec.spec().clone();
    for c in edited.channels.iter_mut() {
        if c.roi_prior.is_some() {
            continue;
        }
        if let Some((_, p)) = priors.iter().find(|(n, _)| *n == c.name) {
            c.roi_prior = Some(*p);
        }
    }
    Ok(Some(spec.with_spec(edited).map_err(|e| {
        FitError::BadInput(format!("attribution priors: {e}"))
    })?))
}

/// Fit the model a spec describes to a loaded dataset, silently.
pub fn fit(spec: &ValidSpec, ds: Dataset, opts: &FitOptions) -> Result<Model, FitError> {
    fit_observed(spec, ds, opts, &Silent)
}

/// Fit the model a spec describes to a loaded dataset, reporting stages, progress and
/// warnings to `obs`.
pub fn fit_observed(
    spec: &ValidSpec,
    ds: Dataset,
    opts: &FitOptions,
    obs: &dyn Observer,
) -> Result<Model, FitError> {
    let t1 = ds.n_periods().saturating_sub(opts.holdout);
    let t0 = ds.window_start;
    let path = opts.experiments.clone().or_else(|| {
        spec.spec()
            .calibration
            .as_ref()
            .and_then(|c| c.experiments.as_ref())
            .map(|p| spec.resolve(p))
    });
    let with_priors;
    let spec = match attribution_prior_spec(spec, &ds, opts, t0, t1, obs)? {
        Some(s) => {
            with_priors = s;
            &with_priors
        }
        None => spec,
    };
    // A holdout that leaves nothing to fit is reported by `fit_calibrated`.
    let experiments = match path.filter(|_| t1 > t0) {
        Some(path) => {
            let names: Vec<String> = spec
                .spec()
                .channels
                .iter()
                .map(|c| c.name.clone())
                .collect();
            let read = crate::calibration::read_experiments(&path, &ds, &names, t0, t1)?;
            if !read.held_out_rows.is_empty() {
                obs.event(Event::Warning(&format!(
                    "{}: lift tests on rows {:?} reach into held-out periods and are not used in this fit",
                    path.display(),
                    read.held_out_rows
                )));
            }
            read.kept
        }
        None => Vec::new(),
    };
    fit_calibrated(spec, ds, opts, experiments, obs)
}

/// [`fit_observed`] with lift tests given directly (already resolved against `ds`; see
/// [`crate::calibration::parse_experiments`]) instead of read from a file.
pub fn fit_calibrated(
    spec: &ValidSpec,
    ds: Dataset,
    opts: &FitOptions,
    experiments: Vec<Experiment>,
    obs: &dyn Observer,
) -> Result<Model, FitError> {
    let start = Instant::now();
    let t0 = ds.window_start;
    let n_periods = ds.n_periods();
    if opts.holdout >= n_periods.saturating_sub(t0) {
        return Err(FitError::BadInput(format!(
            "--holdout-weeks {} leaves no periods to fit (the window has {})",
            opts.holdout,
            n_periods - t0
        )));
    }
    let settings = opts.settings(spec)?;
    let t1 = n_periods - opts.holdout;
    let baseline = Baseline::new(&ds, &spec.spec().seasonality, t0, t1);
    let p_lin = baseline.n_columns() + spec.spec().channels.len();
    let tf = t1 - t0;
    let needed = p_lin + 8;
    if tf * ds.n_geos() < needed {
        return Err(FitError::BadInput(format!(
            "the fit window has {} periods but the model has {} linear terms; at least {} are needed (fewer controls/Fourier terms or more data)",
            tf, p_lin, needed
        )));
    }
    let (mut setup, mut y) = build_setup(spec, &ds, &baseline, t0..t1, &experiments, None, obs)?;
    let n = setup.n_obs();
    let restarts = spec.spec().fit.restarts;
    obs.event(Event::Stage(&format!(
        "fitting {}: {} periods × {} geo(s), {} channels, {} restarts",
        spec.spec().name,
        tf,
        ds.n_geos(),
        setup.channels.len(),
        restarts
    )));
    // Noise scale from a fit at the prior centre, then refined at the optimum.
    let u0 = setup.prior_center();
    let pre = setup.problem(y.clone(), 1.0);
    let e0 = pre.eval(&u0, false).ok_or_else(|| {
        FitError::Numerical("the regression at the starting point is singular".into())
    })?;
    let p_eff = p_lin + setup.prior_center().len();
    let dof = (n.saturating_sub(p_eff)).max(1) as f64;
    let mut sigma2 = (e0.sse / dof).max(1e-12);
    let mut prob = setup.problem(y.clone(), sigma2);
    let (mut u, mut f, mut agree) = multistart(&prob, restarts, opts.seed, None)
        .ok_or_else(|| FitError::Numerical("every restart of the optimiser failed".into()))?;
    // The first search ran at the starting point's noise scale. When the fit is much
    // tighter than that (low-noise data), the prior weighed far more in that search than it
    // does now, and the basin it chose may no longer hold the optimum: search again from
    // every start (and the current optimum), else refine locally.
    for _ in 0..2 {
        let e = prob
            .eval(&u, false)
            .ok_or_else(|| FitError::Numerical("objective not finite at the optimum".into()))?;
        let s2 = (e.sse / dof).max(1e-12);
        if (s2 / sigma2 - 1.0).abs() < 0.05 {
            break;
        }
        let tighter = s2 < SIGMA_RESEARCH * sigma2;
        sigma2 = s2;
        prob = setup.problem(y.clone(), sigma2);
        let next = if tighter {
            multistart(&prob, restarts, opts.seed, Some(&u)).map(|(u2, f2, a)| {
                agree = a;
                (u2, f2)
            })
        } else {
            minimize(&prob, u.clone(), 300)
        };
        if let Some((u2, f2)) = next {
            u = u2;
            f = f2;
        }
    }
    let mut e = prob
        .eval(&u, false)
        .ok_or_else(|| FitError::Numerical("objective not finite at the optimum".into()))?;
    let mut point = to_params(&setup, &u, &e.beta);
    // Geo panels are refined in rounds, until nothing moves:
    // - partial pooling: the geo spreads τ_c (empirical Bayes, at the current shared fit),
    //   then the joint solve with every geo's deviation from the national coefficients
    //   profiled inside the objective ([`deviations`]), so the shapes are estimated with
    //   the geo effects adapting to them;
    // - baseline levels: each geo's KPI re-expressed in units of its fitted baseline
    //   level, so the shared trend, seasonality and controls scale with each geo's
    //   baseline rather than with its KPI (which also holds its media).
    // Bootstrap draws refit on the final joint problem; NUTS samples its shared
    // parameters with the deviations integrated out.
    let pooling_on = spec.spec().fit.geo_pooling && setup.n_geos > 1;
    let mut geo_spread = Vec::new();
    let mut joint_setup: Option<Setup> = None;
    if pooling_on {
        geo_spread = geo::pool_point(&setup, &y, &u, &e.beta, sigma2, &mut point);
    }
    if setup.n_geos > 1 {
        let pb = setup.base.len();
        let mut level = vec![1.0; setup.n_geos];
        for _ in 0..GEO_BACKFIT_ROUNDS {
            let rel = geo::baseline_scales(&setup, &y, &u, &e.beta, &point);
            let level_change = rel.iter().map(|r| (r - 1.0).abs()).fold(0.0, f64::max);
            // New levels take effect only with a successful refit, so the setup, the
            // response and the point always belong together.
            let rebuilt = if level_change > GEO_BACKFIT_TOL {
                let next: Vec<f64> = level.iter().zip(&rel).map(|(l, r)| l * r).collect();
                let built =
                    build_setup(spec, &ds, &baseline, t0..t1, &experiments, Some(&next), obs)?;
                Some((next, built))
            } else {
                None
            };
            let refit = {
                let (cur_setup, cur_y) =
                    rebuilt.as_ref().map_or((&setup, &y), |(_, (s, y))| (s, y));
                let spread = if pooling_on {
                    geo::spreads_at(cur_setup, cur_y, &u, &e.beta, sigma2)
                } else {
                    Vec::new()
                };
                let joint = Setup {
                    geo_dev: geo::deviation_sds(&spread, &e.beta[pb..]),
                    ..cur_setup.clone()
                };
                let found = {
                    let p = joint.problem(cur_y.clone(), sigma2);
                    minimize(&p, u.clone(), 300).and_then(|(u2, f2)| {
                        let e2 = p.eval(&u2, false)?;
                        let s2 = (e2.sse / dof).max(1e-12);
                        let mut next = to_params(&joint, &u2, &e2.beta);
                        geo::attach_deviations(&mut next, &e2.deviation);
                        Some((u2, f2, e2, next, s2))
                    })
                };
                found.map(|(u2, f2, e2, next, s2)| (u2, f2, e2, next, s2, spread, joint))
            };
            let Some((u2, f2, e2, next, s2, spread, joint)) = refit else {
                break;
            };
            let change = geo::factor_change(&point, &next).max(level_change);
            if let Some((next_level, built)) = rebuilt {
                level = next_level;
                (setup, y) = built;
            }
            if pooling_on {
                geo_spread = spread;
            }
            (u, f, e, point, sigma2) = (u2, f2, e2, next, s2);
            joint_setup = Some(joint);
            if change < GEO_BACKFIT_TOL {
                break;
            }
        }
    }
    let draw_setup = joint_setup.as_ref().unwrap_or(&setup);
    let pooling = geo::Pooling {
        base: &setup,
        spread: &geo_spread,
    };

    let mut model = Model {
        schema_version: MODEL_SCHEMA_VERSION,
        mixcast_version: env!("CARGO_PKG_VERSION").to_string(),
        spec: spec.spec().clone(),
        data_fingerprint: fingerprint(spec, &ds),
        fit_start: t0,
        fit_end: t1,
        kpi_scale: setup.kpi_scale.clone(),
        effect_scale: setup.effect_scale.clone(),
        geo_spread: geo_spread.clone(),
        baseline,
        channels: spec
            .spec()
            .channels
            .iter()
            .zip(&setup.channels)
            .enumerate()
            .map(|(c, (cs, ch))| ChannelInfo {
                name: cs.name.clone(),
                paid: cs.is_paid(),
                input_scale: ch.scales.clone(),
                roi_prior: roi_prior_at(draw_setup, c, &u, cs.roi_prior.is_some()),
            })
            .collect(),
        point,
        draws: Vec::new(),
        draws_method: "bootstrap".into(),
        interval: spec.spec().fit.interval,
        seed: opts.seed,
        diagnostics: Diagnostics {
            fit: FitStats {
                r2: 0.0,
                mape: 0.0,
                nrmse: 0.0,
                durbin_watson: 0.0,
            },
            holdout: None,
            objective: f,
            restarts,
            restarts_agreeing: agree,
            sigma: 0.0,
            failed_draws: 0,
            seconds: 0.0,
        },
        dataset: ds,
        experiments,
        sampler: None,
        model_id: String::new(),
    };
    let fitted = model.predict(&model.point, &model.dataset);
    let actual_fit = cells(&model.dataset.kpi, t0..t1);
    let fitted_fit = cells(&fitted, t0..t1);
    model.diagnostics.fit = fit_stats(&actual_fit, &fitted_fit);
    let mean_scale = setup.kpi_scale.iter().sum::<f64>() / setup.kpi_scale.len() as f64;
    model.diagnostics.sigma = sigma2.sqrt() * mean_scale;
    if t1 < n_periods {
        let a = cells(&model.dataset.kpi, t1..n_periods);
        let h = cells(&fitted, t1..n_periods);
        model.diagnostics.holdout = Some(HoldoutStats {
            periods: n_periods - t1,
            mape: mape(&a, &h),
            nrmse: nrmse(&a, &h),
        });
    }

    let draws = settings.bootstrap_draws;
    if settings.method == FitMethod::Bayes {
        let channel_names: Vec<String> = model.channels.iter().map(|c| c.name.clone()).collect();
        let base_names: Vec<String> = model
            .baseline
            .columns
            .iter()
            .map(|c| c.name.clone())
            .collect();
        let names = nuts::parameter_names(&setup, &channel_names, &base_names);
        let nuts_settings = nuts::NutsSettings {
            chains: settings.chains,
            draws: settings.draws_per_chain,
            warmup: settings.warmup,
            seed: opts.seed,
            extend: settings.extend_draws,
            target_accept: nuts::TARGET_ACCEPT,
        };
        // With geo deviations, NUTS samples the shared parameters with the deviations
        // integrated out (the joint problem's prior sds), as the fast path profiles them.
        let (d, report) = nuts::posterior_draws(
            draw_setup,
            &y,
            &u,
            &e.beta,
            sigma2,
            pooling,
            nuts_settings,
            names,
            obs,
        )
        .map_err(|m| FitError::Numerical(format!("NUTS: {m}")))?;
        model.draws = d;
        model.draws_method = "nuts".into();
        model.sampler = Some(report);
    } else if draws > 0 {
        let fitted_scaled: Vec<f64> = (0..setup.n_geos)
            .flat_map(|g| {
                let s = setup.kpi_scale[g];
                fitted.series(g)[t0..t1]
                    .iter()
                    .map(move |v| v / s)
                    .collect::<Vec<_>>()
            })
            .collect();
        let (d, failed) = bootstrap::run(
            draw_setup,
            &y,
            &fitted_scaled,
            &u,
            sigma2,
            pooling,
            draws,
            spec.spec().fit.block_length,
            opts.seed,
            obs,
        );
        model.draws = d;
        model.diagnostics.failed_draws = failed;
    }
    model.diagnostics.seconds = start.elapsed().as_secs_f64();
    model.model_id = model.content_id();
    Ok(model)
}

/// A noise variance below this fraction of the one the multi-start search ran at starts
/// the search again.
const SIGMA_RESEARCH: f64 = 0.5;

/// Most backfitting rounds of geo pooling (each refits the shared parameters).
const GEO_BACKFIT_ROUNDS: usize = 8;

/// Backfitting stops once no geo factor moves by more than this.
const GEO_BACKFIT_TOL: f64 = 2e-3;

/// Test fixture shared by the objective's and the posterior's gradient tests.
#[cfg(test)]
pub(crate) mod fixture {
    use crate::simulate::{simulate, SimConfig};
    use crate::spec::ValidSpec;
    use crate::transform::{AdstockKind, SaturationKind};

    /// The spec of a simulated dataset (3% noise, no holdout) and the directory holding
    /// its data (the data are read from it, so it must outlive the loading).
    fn simulated(weeks: usize, channels: usize, geos: usize) -> (ValidSpec, tempfile::TempDir) {
        let sim = simulate(&SimConfig {
            weeks,
            channels,
            geos,
            noise: 0.03,
            holdout: 0,
            ..Default::default()
        });
        let dir = tempfile::tempdir().unwrap();
        sim.write(dir.path()).unwrap();
        (ValidSpec::load(&dir.path().join("spec.toml")).unwrap(), dir)
    }

    /// The prior centre moved by −0.3, 0 or +0.3 per parameter in turn (a point away from
    /// every symmetry of the prior, for gradient checks).
    pub fn shifted_center(setup: &super::Setup) -> Vec<f64> {
        setup
            .prior_center()
            .iter()
            .enumerate()
            .map(|(i, c)| c + 0.3 * ((i % 3) as f64 - 1.0))
            .collect()
    }

    /// Assert that the objective's analytic gradient at `u` equals central differences
    /// (step 1e-5, tolerance 1e-4 relative); `what` names the case in failures.
    pub fn assert_gradient(p: &super::Problem, u: &[f64], what: &str) {
        let e = p.eval(u, true).unwrap();
        for i in 0..u.len() {
            let h = 1e-5;
            let mut up = u.to_vec();
            up[i] += h;
            let fp = p.eval(&up, false).unwrap().f;
            up[i] -= 2.0 * h;
            let fm = p.eval(&up, false).unwrap().f;
            let fd = (fp - fm) / (2.0 * h);
            assert!(
                (e.grad[i] - fd).abs() <= 1e-4 * (1.0 + fd.abs()),
                "{what}, param {i}: analytic {} vs fd {}",
                e.grad[i],
                fd
            );
        }
    }

    /// A simulated panel of `geos` geos × `weeks` weeks × `channels` channels (3% noise,
    /// no holdout, no lift tests): the fit's setup and response.
    pub fn geo_setup(geos: usize, weeks: usize, channels: usize) -> (super::Setup, Vec<f64>) {
        let (spec, _dir) = simulated(weeks, channels, geos);
        let ds = crate::load_dataset(&spec).unwrap();
        let t1 = ds.n_periods();
        let base = crate::design::Baseline::new(&ds, &spec.spec().seasonality, 0, t1);
        super::build_setup(&spec, &ds, &base, 0..t1, &[], None, &crate::observe::Silent).unwrap()
    }

    /// A simulated national dataset (`weeks` × one channel per entry of `kinds`, 3%
    /// noise, no holdout) with the given transform kinds, and one 8-week lift test per
    /// `(channel, first week searched, lift, se, scope)` over weeks where the channel
    /// spent; returns the fit's setup and response.
    pub fn setup(
        weeks: usize,
        kinds: &[(AdstockKind, SaturationKind)],
        tests: &[(usize, usize, f64, f64, &str)],
    ) -> (super::Setup, Vec<f64>) {
        let (loaded, _dir) = simulated(weeks, kinds.len(), 1);
        let mut edited = loaded.spec().clone();
        for (ch, (a, sat)) in edited.channels.iter_mut().zip(kinds) {
            ch.adstock = *a;
            ch.saturation = *sat;
        }
        let spec = loaded.with_spec(edited).unwrap();
        let ds = crate::load_dataset(&spec).unwrap();
        let t1 = ds.n_periods();
        let names: Vec<String> = spec
            .spec()
            .channels
            .iter()
            .map(|c| c.name.clone())
            .collect();
        let mut csv = String::from("channel,start,end,lift,se,scope\n");
        for &(c, from, lift, se, scope) in tests {
            let sp = ds.channels[c].spend.as_ref().unwrap().series(0);
            let a = (from..t1 - 8)
                .find(|&t| sp[t..t + 8].iter().sum::<f64>() > 0.0)
                .unwrap();
            csv += &format!(
                "{},{},{},{lift},{se},{scope}\n",
                names[c],
                ds.dates[a],
                ds.dates[a + 7]
            );
        }
        let kept = crate::calibration::parse_experiments(
            &csv,
            std::path::Path::new("tests.csv"),
            &ds,
            &names,
            0,
            t1,
        )
        .unwrap()
        .kept;
        assert_eq!(kept.len(), tests.len());
        let base = crate::design::Baseline::new(&ds, &spec.spec().seasonality, 0, t1);
        super::build_setup(
            &spec,
            &ds,
            &base,
            0..t1,
            &kept,
            None,
            &crate::observe::Silent,
        )
        .unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `f(u) = s Σ (u_i − 1)²`, undefined beyond |u_i| > 50 (like a column leaving its
    /// box). At u = 0 the gradient is −2s, so L-BFGS's first unit step lands at 2s and the
    /// line search gives up; the rescaled continuation must still reach u = 1.
    #[test]
    fn steep_starts_still_converge() {
        for s in [1.0, 1e3, 1e6] {
            let f = move |u: &[f64]| {
                if u.iter().any(|v| v.abs() > 50.0) {
                    return None;
                }
                let val = s * u.iter().map(|v| (v - 1.0).powi(2)).sum::<f64>();
                Some((val, u.iter().map(|v| 2.0 * s * (v - 1.0)).collect()))
            };
            let (u, v) = minimize_fn(&f, vec![0.0, -3.0, 2.0], 300).unwrap();
            assert!(u.iter().all(|x| (x - 1.0).abs() < 1e-4), "s = {s}: {u:?}");
            assert!(v < 1e-6 * s.max(1.0), "s = {s}: f = {v}");
        }
        // A single run (no continuation) stops at the start for steep objectives.
        let steep = |u: &[f64]| {
            if u.iter().any(|v| v.abs() > 50.0) {
                return None;
            }
            Some((
                1e6 * u.iter().map(|v| (v - 1.0).powi(2)).sum::<f64>(),
                u.iter().map(|v| 2e6 * (v - 1.0)).collect(),
            ))
        };
        let (u, _, _, stalled) = lbfgs_run(&steep, vec![0.0, -3.0, 2.0], 300, TIGHT, 1.0).unwrap();
        assert!(stalled);
        assert_eq!(u, vec![0.0, -3.0, 2.0]);
    }
}
