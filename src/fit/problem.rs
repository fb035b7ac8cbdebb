//! The profiled objective of the fit (variable projection): for nonlinear media parameters
//! `u` (unconstrained), the linear coefficients are solved exactly by non-negative ridge
//! least squares, and the objective is
//!
//! `f(u) = [‖y − Xβ̂‖² + Σ ridge_i (β̂_i − μ_i)²] / (2σ²) + Σ_c ROI-prior_c + ½ Σ ((u − u₀)/τ)²`.
//!
//! By the envelope theorem `∂f/∂u = −(β̂_c/σ²) rᵀ ∂m_c/∂u + …`, so the gradient needs only
//! the derivative of channel `c`'s own column (analytic).
//!
//! On geo panels with [`Setup::geo_dev`], every geo's deviations `γ_gc` from the national
//! coefficients are linear parameters too (ridge `σ²/s_c²`), profiled with β by a Schur
//! complement per geo ([`super::deviations`]); geo g's coefficient in the envelope term is
//! then `β̂_c + γ̂_gc`.

use super::deviations::Deviations;
use crate::linalg::{nnls_gram, Cholesky, SymMat};
use crate::spec::Prior;
use crate::transform::{Adstock, AdstockKind, ParamBox, Saturation, SaturationKind};

/// Everything about one media channel the objective needs.
#[derive(Debug, Clone)]
pub(crate) struct ChannelSetup {
    pub adstock: AdstockKind,
    pub max_lag: usize,
    pub normalize: bool,
    pub saturation: SaturationKind,
    /// Boxes: adstock parameters, then saturation parameters.
    pub boxes: Vec<ParamBox>,
    /// Per geo, input over periods `0..t1`.
    pub inputs: Vec<Vec<f64>>,
    /// Per geo, the input scale (mean non-zero input in the fit window).
    pub scales: Vec<f64>,
    /// Per geo, the media effect per unit coefficient relative to the KPI scale
    /// (`effect_scale / kpi_scale`; 1 without a population column).
    pub geo_weight: Vec<f64>,
    /// Spend in the fit window (0 for organic).
    pub spend: f64,
    /// The channel's own ROI prior, or the fixed default one.
    pub roi_prior: Option<Prior>,
    /// The channel takes the pooled ROI prior of [`Setup::pool`].
    pub pooled: bool,
}

/// A lift test prepared for the objective: the implied lift is `β_c · L(u)` with
/// `L = Σ_{(i, w) ∈ cells} w · (column_i − zeroed_column_i)` (`w` = the geo's KPI scale).
#[derive(Debug, Clone)]
pub(crate) struct ExperimentSetup {
    /// Channel index.
    pub channel: usize,
    /// The channel's inputs with the test window set to zero in the tested geos.
    pub zeroed: Vec<Vec<f64>>,
    /// Counted cells in the fit-window layout (`g · tf + t − t0`) with their weight.
    pub cells: Vec<(usize, f64)>,
    /// Measured lift (KPI units).
    pub lift: f64,
    /// Its standard error.
    pub se: f64,
}

/// The pooled ROI prior: every pooled channel's ROI ~ Normal(m, (r·m)²) whose level
/// `m = share · ΣKPI/Σspend` is estimated with the rest, as one more unconstrained
/// parameter after the channels' (`logit` of `share` in its box, with the box prior as a
/// weak hyperprior); the relative spread `r` is fixed. With the Laplace term the
/// objective is the marginal posterior of the level (the coefficients integrated out),
/// so the level neither collapses onto the channels nor drifts to the largest ROI.
#[derive(Debug, Clone)]
pub(crate) struct Pool {
    /// Σ KPI / Σ spend over the fit window: the ROI every channel would have at share 1.
    pub kpi_per_spend: f64,
    /// Box and hyperprior of the implied media share.
    pub share: ParamBox,
    /// Relative spread: sd = ratio · m.
    pub ratio: f64,
}

impl ChannelSetup {
    pub fn n_params(&self) -> usize {
        self.boxes.len()
    }

    /// Transforms for values `v` (box scale).
    pub fn build(&self, v: &[f64]) -> (Adstock, Saturation) {
        let na = self.adstock.param_names().len();
        (
            self.adstock.build(&v[..na], self.max_lag, self.normalize),
            self.saturation.build(&v[na..]),
        )
    }

    /// Values on the box scale from unconstrained `u`.
    pub fn values(&self, u: &[f64]) -> Vec<f64> {
        self.boxes
            .iter()
            .zip(u)
            .map(|(b, &x)| b.from_unconstrained(x))
            .collect()
    }

    /// Media column over the fit window for all geos, `[n_geos * (t1 - t0)]`, and, when
    /// `jac` is non-empty, its derivative in each unconstrained parameter (`jac[k]`, same
    /// layout). Both saturation and adstock-weight derivatives are analytic
    /// ([`Adstock::weights_and_grad`]), the latter pushed through the convolution.
    pub fn column(&self, u: &[f64], t0: usize, out: &mut [f64], jac: &mut [Vec<f64>]) {
        self.column_for(&self.inputs, u, t0, out, jac)
    }

    /// [`ChannelSetup::column`] for other inputs (per geo, periods `0..t1`), e.g. with a
    /// lift test's window set to zero.
    pub fn column_for(
        &self,
        inputs: &[Vec<f64>],
        u: &[f64],
        t0: usize,
        out: &mut [f64],
        jac: &mut [Vec<f64>],
    ) {
        let v = self.values(u);
        let (ad, sat) = self.build(&v);
        let na = self.adstock.param_names().len();
        let want = !jac.is_empty();
        let (w, dw) = if want {
            ad.weights_and_grad()
        } else {
            (ad.weights(), Vec::new())
        };
        let dvdu: Vec<f64> = self
            .boxes
            .iter()
            .zip(u)
            .map(|(b, &x)| {
                let sg = 1.0 / (1.0 + (-x).exp());
                (b.hi - b.lo) * sg * (1.0 - sg)
            })
            .collect();
        let tf = out.len() / inputs.len();
        let mut a = Vec::new();
        let mut da: Vec<Vec<f64>> = vec![Vec::new(); na];
        let (mut xs, mut slope) = (vec![0.0; tf], vec![0.0; tf]);
        for (g, x) in inputs.iter().enumerate() {
            a.resize(x.len(), 0.0);
            crate::transform::adstock::convolve(x, &w, &mut a);
            if want {
                for k in 0..na {
                    da[k].resize(x.len(), 0.0);
                    crate::transform::adstock::convolve(x, &dw[k], &mut da[k]);
                }
            }
            let inv = 1.0 / self.scales[g];
            let gw = self.geo_weight[g];
            let rows = g * tf..(g + 1) * tf;
            if !want {
                out[rows.clone()].copy_from_slice(&a[t0..t0 + tf]);
                sat.apply_scaled(&mut out[rows], inv, gw);
                continue;
            }
            xs.iter_mut()
                .zip(&a[t0..t0 + tf])
                .for_each(|(v, av)| *v = av * inv);
            let (jad, jsat) = jac.split_at_mut(na);
            sat.eval_grad_series(&xs, &mut out[rows.clone()], &mut slope, jsat, rows.start);
            out[rows.clone()].iter_mut().for_each(|o| *o *= gw);
            for (j, col) in jsat.iter_mut().enumerate() {
                let m = gw * dvdu[na + j];
                col[rows.clone()].iter_mut().for_each(|d| *d *= m);
            }
            for (k, col) in jad.iter_mut().enumerate() {
                let m = gw * inv * dvdu[k];
                col[rows.clone()]
                    .iter_mut()
                    .zip(&slope)
                    .zip(&da[k][t0..t0 + tf])
                    .for_each(|((d, sl), dav)| *d = m * sl * dav);
            }
        }
    }
}

/// The fixed part of the problem, shared by the point fit and every bootstrap refit.
#[derive(Debug, Clone)]
pub(crate) struct Setup {
    pub channels: Vec<ChannelSetup>,
    pub n_geos: usize,
    pub t0: usize,
    pub t1: usize,
    /// Baseline columns, each `[n]` (n = n_geos · (t1 − t0)).
    pub base: Vec<Vec<f64>>,
    /// Per baseline column, the index range outside which it is zero (a geo's intercept
    /// lives in its own rows), so products with it cost its support, not `n`.
    pub support: Vec<std::ops::Range<usize>>,
    pub btb: SymMat,
    /// Ridge weights for baseline then media coefficients (already × n).
    pub ridge: Vec<f64>,
    /// KPI scale per geo (mean KPI in the fit window).
    pub kpi_scale: Vec<f64>,
    /// Media effect scale per geo with a population column (`κ · pop_g`), else empty.
    pub effect_scale: Vec<f64>,
    /// The pooled ROI prior, if any channel takes it.
    pub pool: Option<Pool>,
    /// Integrate the linear coefficients out (Laplace): the objective is the marginal
    /// posterior of the nonlinear parameters, not the joint mode.
    pub laplace: bool,
    /// Lift tests in the likelihood.
    pub experiments: Vec<ExperimentSetup>,
    /// Per channel, the prior sd `s_c` of a geo's deviation from the national coefficient
    /// (scaled units), profiled inside the objective ([`super::deviations`]); empty or 0:
    /// no deviation.
    pub geo_dev: Vec<f64>,
}

/// Result of one evaluation.
#[derive(Debug, Clone)]
pub(crate) struct Eval {
    pub f: f64,
    pub grad: Vec<f64>,
    pub beta: Vec<f64>,
    pub sse: f64,
    /// Per channel and geo, the deviation `γ_gc` of the geo's coefficient from `β_c`
    /// (`[n_channels][n_geos]`); empty without deviations.
    pub deviation: Vec<Vec<f64>>,
}

/// The setup with a response vector (scaled KPI) and a noise level.
#[derive(Debug, Clone)]
pub(crate) struct Problem<'a> {
    pub setup: &'a Setup,
    pub y: Vec<f64>,
    pub bty: Vec<f64>,
    pub sigma2: f64,
    /// Prior centres on the unconstrained scale (perturbed in randomize-then-optimize draws).
    pub u_center: Vec<f64>,
    /// Per channel shift of the ROI prior mean, in prior sds (0 for the point fit).
    pub roi_shift: Vec<f64>,
    /// Per experiment shift of the measured lift, in standard errors (0 for the point
    /// fit; randomize-then-optimize draws perturb it).
    pub lift_shift: Vec<f64>,
}

/// The index range holding every non-zero of `col` (empty at 0 when it is all zero).
pub(crate) fn support_of(col: &[f64]) -> std::ops::Range<usize> {
    match col.iter().position(|v| *v != 0.0) {
        Some(a) => a..col.len() - col.iter().rev().position(|v| *v != 0.0).unwrap_or(0),
        None => 0..0,
    }
}

impl Setup {
    /// `base[i] · v`, over the column's support.
    pub(crate) fn base_dot(&self, i: usize, v: &[f64]) -> f64 {
        let r = self.support[i].clone();
        dot(&self.base[i][r.clone()], &v[r])
    }

    /// The part of baseline column `i`'s support inside `rows` (empty when they miss).
    fn support_within(&self, i: usize, rows: &std::ops::Range<usize>) -> std::ops::Range<usize> {
        let sp = &self.support[i];
        sp.start.max(rows.start)..sp.end.min(rows.end)
    }

    /// `base[i][rows] · z` (`z` = `[rows.len()]`), over the column's support within `rows`.
    pub(crate) fn base_dot_within(&self, i: usize, z: &[f64], rows: std::ops::Range<usize>) -> f64 {
        let within = self.support_within(i, &rows);
        if within.is_empty() {
            return 0.0;
        }
        dot(
            &self.base[i][within.clone()],
            &z[within.start - rows.start..within.end - rows.start],
        )
    }

    /// Channels whose geo coefficients deviate ([`Setup::geo_dev`] > 0; none for national
    /// data).
    pub(crate) fn deviating(&self) -> Vec<usize> {
        if self.n_geos < 2 {
            return Vec::new();
        }
        (0..self.channels.len())
            .filter(|&c| self.geo_dev.get(c).is_some_and(|s| *s > 0.0))
            .collect()
    }

    /// `v[rows] += X[rows] w` for `w` over baseline then media coefficients
    /// (`[p_b + n_channels]`), with `cols` the channels' columns.
    pub(crate) fn add_design(
        &self,
        w: &[f64],
        cols: &[Vec<f64>],
        rows: std::ops::Range<usize>,
        v: &mut [f64],
    ) {
        let pb = self.base.len();
        for (i, a) in w[..pb].iter().enumerate() {
            let within = self.support_within(i, &rows);
            if *a != 0.0 && !within.is_empty() {
                v[within.clone()]
                    .iter_mut()
                    .zip(&self.base[i][within])
                    .for_each(|(o, x)| *o += a * x);
            }
        }
        for (x, a) in cols.iter().zip(&w[pb..]) {
            v[rows.clone()]
                .iter_mut()
                .zip(&x[rows.clone()])
                .for_each(|(o, b)| *o += a * b);
        }
    }

    /// `r −= b · base[i]`, over the column's support.
    pub(crate) fn sub_base(&self, i: usize, b: f64, r: &mut [f64]) {
        let rg = self.support[i].clone();
        r[rg.clone()]
            .iter_mut()
            .zip(&self.base[i][rg])
            .for_each(|(rv, x)| *rv -= b * x);
    }

    /// `y − Σ_i base_i β_i − Σ_c cols_c β_{p_b + c}` (`beta` = baseline then media).
    pub(crate) fn residual(&self, y: &[f64], cols: &[Vec<f64>], beta: &[f64]) -> Vec<f64> {
        let pb = self.base.len();
        let mut r = y.to_vec();
        for (i, b) in beta[..pb].iter().enumerate() {
            if *b != 0.0 {
                self.sub_base(i, *b, &mut r);
            }
        }
        for (col, b) in cols.iter().zip(&beta[pb..]) {
            if *b != 0.0 {
                r.iter_mut().zip(col).for_each(|(rv, x)| *rv -= b * x);
            }
        }
        r
    }

    pub fn n_obs(&self) -> usize {
        self.n_geos * (self.t1 - self.t0)
    }

    /// Offsets of each channel's parameters in the flat vector.
    pub fn offsets(&self) -> Vec<usize> {
        let mut o = Vec::with_capacity(self.channels.len() + 1);
        let mut acc = 0;
        o.push(0);
        for c in &self.channels {
            acc += c.n_params();
            o.push(acc);
        }
        o
    }

    /// Prior sds on the unconstrained scale (channels, then the pool's two).
    pub fn prior_sd(&self) -> Vec<f64> {
        let mut v: Vec<f64> = self
            .channels
            .iter()
            .flat_map(|c| c.boxes.iter().map(|b| b.sd))
            .collect();
        if let Some(p) = &self.pool {
            v.push(p.share.sd);
        }
        v
    }

    /// Unconstrained prior centres (channels, then the pool's two).
    pub fn prior_center(&self) -> Vec<f64> {
        let mut v: Vec<f64> = self
            .channels
            .iter()
            .flat_map(|c| c.boxes.iter().map(|b| b.to_unconstrained(b.center)))
            .collect();
        if let Some(p) = &self.pool {
            v.push(p.share.to_unconstrained(p.share.center));
        }
        v
    }

    /// The pool's level `m`, spread `r` and `dm/du_share` at unconstrained `u`.
    pub fn pool_at(&self, u: &[f64]) -> Option<(f64, f64, f64)> {
        let p = self.pool.as_ref()?;
        let us = u[self.offsets()[self.channels.len()]];
        let sg = 1.0 / (1.0 + (-us).exp());
        let share = p.share.from_unconstrained(us);
        let dshare = (p.share.hi - p.share.lo) * sg * (1.0 - sg);
        Some((share * p.kpi_per_spend, p.ratio, dshare * p.kpi_per_spend))
    }

    /// Sum of `kpi_scale[g] · column[g, t]` (the unscaled column total).
    pub fn kpi_total(&self, col: &[f64]) -> f64 {
        let tf = self.t1 - self.t0;
        (0..self.n_geos)
            .map(|g| self.kpi_scale[g] * col[g * tf..(g + 1) * tf].iter().sum::<f64>())
            .sum()
    }

    /// The ROI prior channel `c` is fitted under, given the pool's `(m, r, ·)` at the
    /// current point: the pooled `Normal(m, (r m)²)`, else its own or the fixed default;
    /// `None` for organic channels.
    pub fn roi_prior_for(&self, c: usize, pool: Option<(f64, f64, f64)>) -> Option<Prior> {
        let ch = &self.channels[c];
        if ch.spend <= 0.0 {
            return None;
        }
        match (ch.pooled, pool) {
            (true, Some((m, r, _))) => Some(Prior { mean: m, sd: r * m }),
            _ => ch.roi_prior,
        }
    }

    /// Every lift test at `u`, given the channel columns (and, when `jacs` are non-empty,
    /// their derivatives) over the fit window; `shift` moves each measured lift by that
    /// many standard errors.
    pub(crate) fn lift_terms(
        &self,
        u: &[f64],
        cols: &[Vec<f64>],
        jacs: &[Vec<Vec<f64>>],
        shift: &[f64],
    ) -> Vec<LiftTerm> {
        let n = self.n_obs();
        let off = self.offsets();
        self.experiments
            .iter()
            .zip(shift)
            .map(|(e, z)| {
                let c = e.channel;
                let ch = &self.channels[c];
                let want = !jacs[c].is_empty();
                let mut zc = vec![0.0; n];
                let mut zj = if want {
                    vec![vec![0.0; n]; ch.n_params()]
                } else {
                    Vec::new()
                };
                ch.column_for(&e.zeroed, &u[off[c]..off[c + 1]], self.t0, &mut zc, &mut zj);
                let l: f64 = e.cells.iter().map(|&(i, w)| w * (cols[c][i] - zc[i])).sum();
                let dl: Vec<f64> = zj
                    .iter()
                    .zip(&jacs[c])
                    .map(|(dz, d)| e.cells.iter().map(|&(i, w)| w * (d[i] - dz[i])).sum())
                    .collect();
                LiftTerm {
                    channel: c,
                    l,
                    dl,
                    lift: e.lift + e.se * z,
                    se: e.se,
                }
            })
            .collect()
    }

    /// Channel columns over the fit window, `[n_channels][n]`, and with `want_grad` their
    /// derivatives in each channel's own unconstrained parameters, `[n_channels][k][n]`.
    pub(crate) fn columns(
        &self,
        u: &[f64],
        want_grad: bool,
    ) -> (Vec<Vec<f64>>, Vec<Vec<Vec<f64>>>) {
        let n = self.n_obs();
        let off = self.offsets();
        self.channels
            .iter()
            .enumerate()
            .map(|(c, ch)| {
                let mut col = vec![0.0; n];
                let mut jac = if want_grad {
                    vec![vec![0.0; n]; ch.n_params()]
                } else {
                    Vec::new()
                };
                ch.column(&u[off[c]..off[c + 1]], self.t0, &mut col, &mut jac);
                (col, jac)
            })
            .unzip()
    }

    /// Gaussian prior on the unconstrained parameters: `½ Σ ((u − u₀)/sd)²` and its
    /// gradient added into `grad` (same layout as `u`).
    pub(crate) fn u_prior(&self, u: &[f64], u0: &[f64], grad: Option<&mut [f64]>) -> f64 {
        let usd = self.prior_sd();
        if let Some(g) = grad {
            for i in 0..u.len() {
                g[i] += (u[i] - u0[i]) / (usd[i] * usd[i]);
            }
        }
        u.iter()
            .zip(u0)
            .zip(&usd)
            .map(|((x, c), sd)| 0.5 * ((x - c) / sd).powi(2))
            .sum()
    }

    pub fn problem(&self, y: Vec<f64>, sigma2: f64) -> Problem<'_> {
        let bty = (0..self.base.len()).map(|i| self.base_dot(i, &y)).collect();
        Problem {
            setup: self,
            y,
            bty,
            sigma2,
            u_center: self.prior_center(),
            roi_shift: vec![0.0; self.channels.len()],
            lift_shift: vec![0.0; self.experiments.len()],
        }
    }
}

/// One lift test evaluated at `u`: `L`, `∂L/∂u` (the channel's parameters) and the
/// (possibly perturbed) measured lift.
pub(crate) struct LiftTerm {
    pub channel: usize,
    pub l: f64,
    pub dl: Vec<f64>,
    pub lift: f64,
    pub se: f64,
}

pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

impl Problem<'_> {
    /// Evaluate the objective (and gradient if asked) at unconstrained `u`.
    pub fn eval(&self, u: &[f64], want_grad: bool) -> Option<Eval> {
        let s = self.setup;
        let pb = s.base.len();
        let nc = s.channels.len();
        let off = s.offsets();
        let (cols, jacs) = s.columns(u, want_grad);
        let p = pb + nc;
        let mut a = SymMat::zeros(p);
        for i in 0..pb {
            for j in 0..pb {
                a.a[i * p + j] = s.btb.get(i, j);
            }
        }
        let mut b = vec![0.0; p];
        b[..pb].copy_from_slice(&self.bty);
        for c in 0..nc {
            for i in 0..pb {
                a.set_sym(i, pb + c, s.base_dot(i, &cols[c]));
            }
            for d in 0..=c {
                a.set_sym(pb + d, pb + c, dot(&cols[d], &cols[c]));
            }
            b[pb + c] = dot(&cols[c], &self.y);
        }
        for (i, r) in s.ridge.iter().enumerate() {
            a.add_diag(i, *r);
        }
        // ROI priors: (β S/spend − m)² / (2 sd²) in objective units → ridge in SSE units.
        let pool = s.pool_at(u);
        let mut roi_terms = vec![None; nc];
        for (c, ch) in s.channels.iter().enumerate() {
            if let Some(mut pr) = s.roi_prior_for(c, pool) {
                pr.mean += pr.sd * self.roi_shift[c];
                let k = s.kpi_total(&cols[c]) / ch.spend;
                if k > 0.0 {
                    let lam = self.sigma2 * k * k / (pr.sd * pr.sd);
                    a.add_diag(pb + c, lam);
                    b[pb + c] += lam * pr.mean / k;
                    roi_terms[c] = Some((k, pr));
                }
            }
        }
        // Lift tests: (β_c L − lift)² / (2 se²), the same quadratic form as an ROI prior.
        let exp_terms = s.lift_terms(u, &cols, &jacs, &self.lift_shift);
        for t in &exp_terms {
            let lam = self.sigma2 * t.l * t.l / (t.se * t.se);
            a.add_diag(pb + t.channel, lam);
            b[pb + t.channel] += self.sigma2 * t.l * t.lift / (t.se * t.se);
        }
        // Per-geo deviations are eliminated here, so the system below is in β alone.
        let dev = if s.deviating().is_empty() {
            None
        } else {
            let d = Deviations::build(s, &cols, &self.y, self.sigma2)?;
            d.reduce(&mut a, &mut b);
            Some(d)
        };
        let nonneg: Vec<bool> = (0..p).map(|i| i >= pb).collect();
        let beta = nnls_gram(&a, &b, &nonneg)?;
        let gammas = dev.as_ref().map(|d| d.gammas(&beta));
        // Laplace term: β is integrated out, adding ½ ln det A (A/σ² is β's posterior
        // precision; σ² is fixed within a problem) and each ROI prior's normaliser
        // ln(sd_c / k_c). `ainv[c]` is row `pb + c` of A⁻¹ (with deviations, A is the
        // Schur complement: its inverse is the β block of the full inverse).
        let (logdet, ainv, schur) = if s.laplace {
            let chol = Cholesky::factor(&a)?;
            let rows: Vec<Vec<f64>> = (0..nc)
                .map(|c| {
                    let mut e = vec![0.0; p];
                    e[pb + c] = 1.0;
                    chol.solve(&e)
                })
                .collect();
            let ld = chol.logdet() + dev.as_ref().map_or(0.0, Deviations::logdet);
            (ld, rows, Some(chol))
        } else {
            (0.0, Vec::new(), None)
        };
        let mut r = s.residual(&self.y, &cols, &beta);
        let mut pen: f64 = s.ridge.iter().zip(&beta).map(|(l, b)| l * b * b).sum();
        if let (Some(d), Some(gm)) = (&dev, &gammas) {
            d.subtract(gm, &cols, &mut r);
            for gg in gm {
                for (&c, v) in d.active.iter().zip(gg) {
                    pen += self.sigma2 * v * v / (s.geo_dev[c] * s.geo_dev[c]);
                }
            }
        }
        let sse: f64 = r.iter().map(|v| v * v).sum();
        let mut roi_pen = 0.0;
        // Pooled channels: ∂/∂m of (R − m(1 + r z))²/(2r²m²), and with the Laplace term
        // of ln(r m) + ½ ln det A (through λ_c = σ²k²/(r m)², ∂λ/∂m = −2λ/m).
        let mut d_m = 0.0;
        let lap = if s.laplace { 1.0 } else { 0.0 };
        for (c, t) in roi_terms.iter().enumerate() {
            if let Some((k, pr)) = t {
                let e = beta[pb + c] * k - pr.mean;
                roi_pen += e * e / (2.0 * pr.sd * pr.sd);
                roi_pen += lap * (pr.sd / k).ln();
                if let (true, Some((m, r, _))) = (s.channels[c].pooled, pool) {
                    let z = self.roi_shift[c];
                    let v = r * r * m * m;
                    let lam = self.sigma2 * k * k / v;
                    let h = if s.laplace {
                        ainv[c][pb + c] * lam
                    } else {
                        0.0
                    };
                    d_m += -e * (1.0 + r * z) / v - e * e / (v * m) + lap / m - h / m;
                }
            }
        }
        pen /= 2.0 * self.sigma2;
        let lift_pen: f64 = exp_terms
            .iter()
            .map(|t| (beta[pb + t.channel] * t.l - t.lift).powi(2) / (2.0 * t.se * t.se))
            .sum();
        let mut grad = vec![0.0; u.len()];
        let prior = s.u_prior(u, &self.u_center, want_grad.then_some(grad.as_mut_slice()));
        let f = sse / (2.0 * self.sigma2) + pen + roi_pen + lift_pen + prior + 0.5 * logdet;
        if !f.is_finite() {
            return None;
        }
        if want_grad {
            let n = s.n_obs();
            for (c, ch) in s.channels.iter().enumerate() {
                let bc = beta[pb + c];
                // Row pb + c of A⁻¹ applied to the design: Σ_j A⁻¹[c, j] x_j, so each
                // parameter's trace term is one product with it.
                // With deviations, the full inverse's columns for β_c and for every γ_gc
                // (the latter only in geo g's rows, where γ_gc's column lives).
                let ax: Vec<f64> = if s.laplace {
                    let row = &ainv[c];
                    let mut v = vec![0.0; n];
                    s.add_design(row, &cols, 0..n, &mut v);
                    if let (Some(d), Some(sch)) = (&dev, &schur) {
                        for (g, x2) in d.inverse_media_column(row).iter().enumerate() {
                            d.add_geo(g, x2, &cols, &mut v);
                        }
                        if let Some(at) = d.slot(c) {
                            let tf = s.t1 - s.t0;
                            for g in 0..s.n_geos {
                                let (w1, w2) = d.inverse_geo_column(g, at, sch);
                                s.add_design(&w1, &cols, g * tf..(g + 1) * tf, &mut v);
                                d.add_geo(g, &w2, &cols, &mut v);
                            }
                        }
                    }
                    v
                } else {
                    Vec::new()
                };
                // A deviating channel's envelope term takes each geo's own coefficient.
                let deviating = dev.as_ref().zip(gammas.as_ref()).and_then(|(d, gm)| {
                    let at = d.slot(c)?;
                    Some((d, at, gm))
                });
                for (k, d) in jacs[c].iter().enumerate() {
                    let gi = off[c] + k;
                    // ∂k_c/∂u of the ROI prior's `k_c` (one pass over the column's cells).
                    let roi_dk = roi_terms[c].map(|(kk, pr)| (kk, pr, s.kpi_total(d) / ch.spend));
                    if s.laplace {
                        // ½ tr(A⁻¹ ∂A): ∂A has x_j·d in row and column pb + c, and
                        // 2 x_c·d + ∂λ_c on the diagonal.
                        let row = &ainv[c];
                        let mut t = dot(&ax, d);
                        if let Some((kk, pr, dk)) = roi_dk {
                            let dlam = 2.0 * self.sigma2 * kk * dk / (pr.sd * pr.sd);
                            t += 0.5 * row[pb + c] * dlam;
                            // −ln k_c of the prior's normaliser.
                            grad[gi] -= dk / kk;
                        }
                        grad[gi] += t;
                    }
                    let env = match deviating {
                        Some((dv, at, gm)) => Some(dv.envelope(at, bc, gm, d, &r)),
                        None => (bc != 0.0).then(|| bc * dot(&r, d)),
                    };
                    if let Some(env) = env {
                        grad[gi] -= env / self.sigma2;
                    }
                    if bc == 0.0 {
                        continue;
                    }
                    if let Some((kk, pr, dk)) = roi_dk {
                        grad[gi] += (bc * kk - pr.mean) / (pr.sd * pr.sd) * bc * dk;
                    }
                }
            }
            for t in &exp_terms {
                let c = t.channel;
                let bc = beta[pb + c];
                let ss = t.se * t.se;
                for (k, dl) in t.dl.iter().enumerate() {
                    let gi = off[c] + k;
                    // Envelope: ∂/∂u of the misfit at fixed β; Laplace: ½ A⁻¹ ∂λ.
                    grad[gi] += (bc * t.l - t.lift) / ss * bc * dl;
                    if s.laplace {
                        grad[gi] += ainv[c][pb + c] * self.sigma2 * t.l * dl / ss;
                    }
                }
            }
            if let Some((_, _, dm_du)) = pool {
                let at = off[nc];
                grad[at] += d_m * dm_du;
            }
        }
        let deviation = match (&dev, gammas) {
            (Some(d), Some(gm)) => (0..nc)
                .map(|c| match d.slot(c) {
                    Some(at) => gm.iter().map(|gg| gg[at]).collect(),
                    None => vec![0.0; s.n_geos],
                })
                .collect(),
            _ => Vec::new(),
        };
        Some(Eval {
            f,
            grad,
            beta,
            sse,
            deviation,
        })
    }
}

#[cfg(test)]
mod tests {
    /// The envelope-theorem gradient equals central differences of the objective, with
    /// two lift tests: an immediate one on a Weibull-PDF channel and a total one on a
    /// logistic channel.
    #[test]
    fn gradient_matches_finite_differences() {
        use crate::transform::{AdstockKind as A, SaturationKind as S};
        let (setup, y) = crate::fit::fixture::setup(
            80,
            &[
                (A::Geometric, S::Hill),
                (A::WeibullPdf, S::Hill),
                (A::Geometric, S::Logistic),
            ],
            &[
                (1, 10, 20000.0, 3000.0, "immediate"),
                (2, 30, 15000.0, 2000.0, "total"),
            ],
        );
        for laplace in [false, true] {
            let setup = super::Setup {
                laplace,
                ..setup.clone()
            };
            let p = setup.problem(y.clone(), 0.01);
            let u = crate::fit::fixture::shifted_center(&setup);
            crate::fit::fixture::assert_gradient(&p, &u, &format!("laplace {laplace}"));
        }
    }
}
