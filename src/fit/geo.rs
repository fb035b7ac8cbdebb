//! Partial pooling of media effects across geos.
//!
//! Geo `g`'s effect of channel `c` is the national one scaled by its own factor,
//! `β_gc = β_c · (1 + δ_gc)`, with `δ_gc ~ Normal(0, τ_c²)`: geos whose data say little
//! stay at the national effect, geos with strong evidence move away from it. Given the
//! shared parameters (curve shapes, national coefficients, baseline), the `δ` are a
//! linear-Gaussian model per geo:
//!
//! `r_g = M_g δ_g + ε`, `M_g = [β_c · m_gc]_c` (`[periods × channels]`, the channels'
//! scaled media columns in geo g), `r_g` the geo's residual of the shared fit, so
//! `δ_g | · ~ Normal(P⁻¹ M_gᵀ r_g / σ², P⁻¹)` with `P = M_gᵀ M_g / σ² + diag(1/τ²)`.
//!
//! `τ_c` is estimated at the point fit (again in every round of it), by the method of
//! moments over geos (empirical Bayes): `τ_c² = max(0, mean_g δ̂_gc² − mean_g v_gc)`,
//! with `δ̂` the per-geo least-squares deviations and `v` their sampling variances. The
//! point estimate comes from the joint solve ([`super::deviations`]: the deviations
//! `γ_gc = β_c δ_gc` with prior sd `τ_c β_c` profiled inside the objective, so the shared
//! parameters are fitted with them); the conditional posterior mean here only starts the
//! rounds of the fit. Every bootstrap refit and every NUTS draw samples `δ` from its
//! conditional posterior given that draw's shared parameters, so the draws carry
//! the geo spread into national and per-geo intervals (a refit's posterior mean alone
//! varies less than the posterior: per-geo intervals covered 5 of 12 true geo ROIs).

use rand::rngs::StdRng;
use rand_distr::{Distribution, StandardNormal};

use super::problem::Setup;
use crate::linalg::{Cholesky, SymMat};
use crate::model::Params;

/// Largest geo spread considered (τ ≤ 1: a geo's effect within about ×0.4–×2.7 at 1 sd).
const TAU_MAX: f64 = 1.0;

/// The shared fit's pieces stage two needs: scaled media columns `[channels][n]` and the
/// residual `y − fitted` (`[n]`, geo-major).
struct Stage<'a> {
    setup: &'a Setup,
    cols: Vec<Vec<f64>>,
    resid: Vec<f64>,
}

impl<'a> Stage<'a> {
    fn new(setup: &'a Setup, y: &[f64], u: &[f64], beta: &[f64]) -> Stage<'a> {
        let cols = setup.columns(u, false).0;
        let resid = setup.residual(y, &cols, beta);
        Stage { setup, cols, resid }
    }

    /// Geo g's Gram `M_gᵀ M_g` and `M_gᵀ r_g` over the channels in `active`, with the
    /// geo's own intercept profiled out (columns and residual centred within the geo):
    /// a channel that is always on is otherwise confounded with the geo's level.
    fn normal_equations(
        &self,
        g: usize,
        beta_media: &[f64],
        active: &[usize],
    ) -> (SymMat, Vec<f64>) {
        let tf = self.setup.t1 - self.setup.t0;
        let rows = g * tf..(g + 1) * tf;
        let k = active.len();
        let n = tf as f64;
        let mean = |v: &[f64]| v.iter().sum::<f64>() / n;
        let r = &self.resid[rows.clone()];
        let r_mean = mean(r);
        let col_mean: Vec<f64> = active
            .iter()
            .map(|&c| mean(&self.cols[c][rows.clone()]))
            .collect();
        let mut gram = SymMat::zeros(k);
        let mut rhs = vec![0.0; k];
        for (a, &c) in active.iter().enumerate() {
            let xc = &self.cols[c][rows.clone()];
            rhs[a] = beta_media[c] * (super::problem::dot(xc, r) - n * col_mean[a] * r_mean);
            for (b, &d) in active.iter().enumerate().take(a + 1) {
                let xd = &self.cols[d][rows.clone()];
                let centred = super::problem::dot(xc, xd) - n * col_mean[a] * col_mean[b];
                gram.set_sym(a, b, beta_media[c] * beta_media[d] * centred);
            }
        }
        (gram, rhs)
    }
}

/// Channels with a positive national effect (the only ones a geo factor can scale).
fn active(beta_media: &[f64]) -> Vec<usize> {
    (0..beta_media.len())
        .filter(|&c| beta_media[c] > 0.0)
        .collect()
}

impl Stage<'_> {
    /// The geo spreads `τ_c` (`[channels]`) by the method of moments over geos.
    fn spreads(&self, beta_media: &[f64], sigma2: f64) -> Vec<f64> {
        let act = active(beta_media);
        let nc = self.setup.channels.len();
        let mut sq = vec![0.0; nc];
        let mut var = vec![0.0; nc];
        let mut used = 0usize;
        for g in 0..self.setup.n_geos {
            let (mut gram, rhs) = self.normal_equations(g, beta_media, &act);
            let scale = (0..act.len()).map(|i| gram.get(i, i)).fold(0.0, f64::max);
            (0..act.len()).for_each(|i| gram.add_diag(i, 1e-9 * scale.max(1e-300)));
            let Some(chol) = Cholesky::factor(&gram) else {
                continue;
            };
            let d = chol.solve(&rhs);
            used += 1;
            for (a, &c) in act.iter().enumerate() {
                let mut e = vec![0.0; act.len()];
                e[a] = 1.0;
                sq[c] += d[a] * d[a];
                var[c] += sigma2 * chol.solve(&e)[a];
            }
        }
        if used < 2 {
            return vec![0.0; nc];
        }
        (0..nc)
            .map(|c| {
                let t2 = (sq[c] - var[c]) / used as f64;
                t2.max(0.0).sqrt().min(TAU_MAX)
            })
            .collect()
    }

    /// Geo factors `1 + δ_gc` (clamped at 0) into `params`: the conditional posterior
    /// mean, or with `rng` a draw from it. With `G = M_gᵀM_g` and `D = diag(1/τ²)`,
    /// `P = G/σ² + D = (G + σ²D)/σ²`, so one factor `L Lᵀ = G + σ²D` gives the mean
    /// `(G + σ²D)⁻¹ M_gᵀ r_g` and a draw `mean + σ L⁻ᵀ z` (covariance `σ²(L Lᵀ)⁻¹ = P⁻¹`).
    fn attach(
        &self,
        beta_media: &[f64],
        sigma2: f64,
        tau: &[f64],
        params: &mut Params,
        mut rng: Option<&mut StdRng>,
    ) {
        let act: Vec<usize> = active(beta_media)
            .into_iter()
            .filter(|&c| tau[c] > 0.0)
            .collect();
        if act.is_empty() {
            return;
        }
        let sigma = sigma2.sqrt();
        // Per geo, δ over the active channels (None: a singular geo keeps the national
        // effect).
        let deltas: Vec<Option<Vec<f64>>> = (0..self.setup.n_geos)
            .map(|g| {
                let (mut prec, rhs) = self.normal_equations(g, beta_media, &act);
                for (a, &c) in act.iter().enumerate() {
                    prec.add_diag(a, sigma2 / (tau[c] * tau[c]));
                }
                let chol = Cholesky::factor(&prec)?;
                let mut d = chol.solve(&rhs);
                if let Some(r) = rng.as_deref_mut() {
                    let z: Vec<f64> = (0..act.len()).map(|_| StandardNormal.sample(r)).collect();
                    d.iter_mut()
                        .zip(chol.solve_upper(&z))
                        .for_each(|(a, b)| *a += sigma * b);
                }
                Some(d)
            })
            .collect();
        for (a, &c) in act.iter().enumerate() {
            params.channels[c].geo_effect = deltas
                .iter()
                .map(|d| d.as_ref().map_or(1.0, |d| (1.0 + d[a]).max(0.0)))
                .collect();
        }
    }
}

/// At the point fit (`u`, `beta`): estimate the geo spreads `τ_c` (`[channels]`) and give
/// `params` the conditional posterior mean of its geo factors, from one pass over the
/// residual. Empty for national data.
pub(crate) fn pool_point(
    setup: &Setup,
    y: &[f64],
    u: &[f64],
    beta: &[f64],
    sigma2: f64,
    params: &mut Params,
) -> Vec<f64> {
    if setup.n_geos < 2 {
        return Vec::new();
    }
    let stage = Stage::new(setup, y, u, beta);
    let bm = &beta[setup.base.len()..];
    let tau = stage.spreads(bm, sigma2);
    stage.attach(bm, sigma2, &tau, params, None);
    tau
}

/// The geo spreads `τ_c` (`[channels]`) at a shared fit (`u`, national `beta`), by the
/// method of moments over geos; empty for national data.
pub(crate) fn spreads_at(
    setup: &Setup,
    y: &[f64],
    u: &[f64],
    beta: &[f64],
    sigma2: f64,
) -> Vec<f64> {
    if setup.n_geos < 2 {
        return Vec::new();
    }
    Stage::new(setup, y, u, beta).spreads(&beta[setup.base.len()..], sigma2)
}

/// The prior sds of the geo deviations profiled in the joint solve: `s_c = τ_c β_c`
/// (`β_c` the national coefficient; a geo's coefficient is `β_c (1 + δ_gc)`,
/// `δ_gc ~ Normal(0, τ_c²)`).
pub(crate) fn deviation_sds(spread: &[f64], beta_media: &[f64]) -> Vec<f64> {
    spread
        .iter()
        .zip(beta_media)
        .map(|(t, b)| (t * b).max(0.0))
        .collect()
}

/// Geo factors from the joint solve's deviations into `params`: `1 + γ_gc / β_c`
/// (clamped at 0), for channels with a positive national effect and a deviation.
pub(crate) fn attach_deviations(params: &mut Params, deviation: &[Vec<f64>]) {
    for (p, dev) in params.channels.iter_mut().zip(deviation) {
        if p.coef > 0.0 && dev.iter().any(|d| *d != 0.0) {
            p.geo_effect = dev.iter().map(|d| (1.0 + d / p.coef).max(0.0)).collect();
        }
    }
}

/// What every uncertainty draw needs to draw its geo factors: the setup without geo
/// factors (the geo stage regresses its residual on the national columns) and the
/// spreads `τ_c` of the point fit's last round ([`spreads_at`]).
#[derive(Clone, Copy)]
pub(crate) struct Pooling<'a> {
    pub base: &'a Setup,
    pub spread: &'a [f64],
}

/// `setup` with each channel's geo weights multiplied by the geo factors of `params`
/// (its columns are then the fitted media of every geo, as [`baseline_scales`] needs).
pub(crate) fn factored(setup: &Setup, params: &Params) -> Setup {
    let mut s = setup.clone();
    for (ch, p) in s.channels.iter_mut().zip(&params.channels) {
        for (w, f) in ch.geo_weight.iter_mut().zip(&p.geo_effect) {
            *w *= f;
        }
    }
    s
}

/// Per geo, the factor by which the geo's KPI scale should change so the shared
/// baseline shape (trend, seasonality, controls) fits the geo's own swing; clamped to
/// [0.05, 2].
///
/// Two estimates per geo (rows of geo g, `b` the fitted baseline `Bβ` in the setup's
/// units, `r = y − media` the KPI without the fitted media):
/// - its level `ℓ_g = mean(b)`: the swing proportional to the geo's baseline level
///   (a multiplicative baseline);
/// - its swing `s_g = k ⟨r̃, b̃⟩ / ⟨b̃, b̃⟩` (`~` centred within the geo; sampling
///   variance `v_g = k² σ_g² / ⟨b̃, b̃⟩` with the geo's own residual variance `σ_g²`;
///   `k` puts the swings' mean on the levels'): the geo's own amplitude of the shared
///   shape, which also covers baselines whose swing follows population rather than
///   level (Meridian's additive per-capita form).
///
/// The swing is shrunk towards the level by empirical Bayes over geos:
/// `τ² = max(0, mean_g (s_g − ℓ_g)² − mean_g v_g)`, and the factor is
/// `ℓ_g + (s_g − ℓ_g) τ² / (τ² + v_g)`, at most ×1.25 or ÷1.25 away from `ℓ_g` per
/// backfitting round — the level when the geos' swings agree with their levels, each
/// geo's own swing when they clearly do not.
pub(crate) fn baseline_scales(
    setup: &Setup,
    y: &[f64],
    u: &[f64],
    beta: &[f64],
    params: &Params,
) -> Vec<f64> {
    let tf = setup.t1 - setup.t0;
    let n = tf as f64;
    let mut base = vec![0.0; setup.n_obs()];
    for (j, b) in beta[..setup.base.len()].iter().enumerate() {
        setup.sub_base(j, -b, &mut base);
    }
    let cols = factored(setup, params).columns(u, false).0;
    let resid = setup.residual(y, &cols, beta);
    // (level, swing and its sampling variance) per geo; a geo whose fitted baseline is
    // flat has no swing to measure.
    let geos: Vec<(f64, Option<(f64, f64)>)> = base
        .chunks(tf)
        .zip(resid.chunks(tf))
        .map(|(b, e)| {
            let level = b.iter().sum::<f64>() / n;
            let e_mean = e.iter().sum::<f64>() / n;
            let (mut bb, mut rb, mut ee) = (0.0, 0.0, 0.0);
            for (bv, ev) in b.iter().zip(e) {
                let bc = bv - level;
                let ec = ev - e_mean;
                bb += bc * bc;
                rb += bc * (bc + ec);
                ee += ec * ec;
            }
            let sigma2 = ee / (n - 1.0).max(1.0);
            let swing = (bb > 1e-12 * n).then(|| (rb / bb, sigma2 / bb));
            (level, swing)
        })
        .collect();
    // Only the pattern across geos matters (the shared shape absorbs a common factor),
    // so the swings are put on the levels' mean before they are compared.
    let raw: Vec<(f64, f64, f64)> = geos
        .iter()
        .filter_map(|(l, s)| s.map(|(s, v)| (*l, s, v)))
        .collect();
    let mean = |f: &dyn Fn(&(f64, f64, f64)) -> f64| {
        raw.iter().map(f).sum::<f64>() / raw.len().max(1) as f64
    };
    let k = mean(&|r| r.0) / mean(&|r| r.1);
    let k = if k.is_finite() && k > 0.0 { k } else { 1.0 };
    let tau2 = if raw.len() < 2 {
        0.0
    } else {
        let spread = mean(&|(l, s, _)| (s * k - l).powi(2));
        let noise = mean(&|(_, _, v)| v * k * k);
        (spread - noise).max(0.0)
    };
    geos.iter()
        .map(|(l, s)| {
            let f = match s {
                Some((s, v)) if tau2 > 0.0 => {
                    let (s, v) = (s * k, v * k * k);
                    (l + (s - l) * tau2 / (tau2 + v)).clamp(l / 1.25, l * 1.25)
                }
                _ => *l,
            };
            f.clamp(0.05, 2.0)
        })
        .collect()
}

/// Largest change of any geo factor between two parameter sets (0 when either has none).
pub(crate) fn factor_change(a: &Params, b: &Params) -> f64 {
    a.channels
        .iter()
        .zip(&b.channels)
        .flat_map(|(x, y)| x.geo_effect.iter().zip(&y.geo_effect))
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

/// Draw the geo factors of `params` (one uncertainty draw fitted at `u`, `beta`) from
/// their conditional posterior given that draw.
pub(crate) fn draw(
    pooling: Pooling,
    y: &[f64],
    u: &[f64],
    beta: &[f64],
    sigma2: f64,
    params: &mut Params,
    rng: &mut StdRng,
) {
    let setup = pooling.base;
    if setup.n_geos < 2 || pooling.spread.iter().all(|t| *t <= 0.0) {
        return;
    }
    let stage = Stage::new(setup, y, u, beta);
    stage.attach(
        &beta[setup.base.len()..],
        sigma2,
        pooling.spread,
        params,
        Some(rng),
    );
}
