//! The profiled objective of the fit (variable projection): for nonlinear media parameters
//! `u` (unconstrained), the linear coefficients are solved exactly by non-negative ridge
//! least squares, and the objective is
//!
//! `f(u) = [‖y − Xβ̂‖² + Σ ridge_i (β̂_i − μ_i)²] / (2σ²) + Σ_c ROI-prior_c + ½ Σ ((u − u₀)/τ)²`.
//!
//! By the envelope theorem `∂f/∂u = −(β̂_c/σ²) rᵀ ∂m_c/∂u + …`, so the gradient needs only
//! the derivative of channel `c`'s own column, taken by central differences.

use crate::linalg::{nnls_gram, SymMat};
use crate::spec::Prior;
use crate::transform::{Adstock, AdstockKind, ParamBox, Saturation, SaturationKind};

/// Prior width on the unconstrained (logit) scale of every nonlinear parameter.
pub(crate) const PRIOR_SD_U: f64 = 1.5;

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
    /// Spend in the fit window (0 for organic).
    pub spend: f64,
    pub roi_prior: Option<Prior>,
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

    /// Media column over the fit window for all geos, `[n_geos * (t1 - t0)]`.
    pub fn column(&self, u: &[f64], t0: usize, out: &mut [f64], buf: &mut Vec<f64>) {
        let (ad, sat) = self.build(&self.values(u));
        let w = ad.weights();
        let tf = out.len() / self.inputs.len();
        for (g, x) in self.inputs.iter().enumerate() {
            buf.resize(x.len(), 0.0);
            crate::transform::adstock::convolve(x, &w, buf);
            let inv = 1.0 / self.scales[g];
            for (o, a) in out[g * tf..(g + 1) * tf].iter_mut().zip(&buf[t0..]) {
                *o = sat.eval(a * inv);
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
    pub btb: SymMat,
    /// Ridge weights for baseline then media coefficients (already × n).
    pub ridge: Vec<f64>,
    /// KPI scale per geo (mean KPI in the fit window).
    pub kpi_scale: Vec<f64>,
}

/// Result of one evaluation.
#[derive(Debug, Clone)]
pub(crate) struct Eval {
    pub f: f64,
    pub grad: Vec<f64>,
    pub beta: Vec<f64>,
    pub sse: f64,
}

/// The setup with a response vector (scaled KPI) and a noise level.
#[derive(Debug, Clone)]
pub(crate) struct Problem<'a> {
    pub setup: &'a Setup,
    pub y: Vec<f64>,
    pub bty: Vec<f64>,
    pub sigma2: f64,
}

impl Setup {
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

    /// Unconstrained prior centres.
    pub fn prior_center(&self) -> Vec<f64> {
        self.channels
            .iter()
            .flat_map(|c| c.boxes.iter().map(|b| b.to_unconstrained(b.center)))
            .collect()
    }

    /// Sum of `kpi_scale[g] · column[g, t]` (the unscaled column total).
    pub fn kpi_total(&self, col: &[f64]) -> f64 {
        let tf = self.t1 - self.t0;
        (0..self.n_geos)
            .map(|g| self.kpi_scale[g] * col[g * tf..(g + 1) * tf].iter().sum::<f64>())
            .sum()
    }

    pub fn problem(&self, y: Vec<f64>, sigma2: f64) -> Problem<'_> {
        let bty = self.base.iter().map(|c| dot(c, &y)).collect();
        Problem {
            setup: self,
            y,
            bty,
            sigma2,
        }
    }
}

pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

impl Problem<'_> {
    /// Evaluate the objective (and gradient if asked) at unconstrained `u`.
    pub fn eval(&self, u: &[f64], want_grad: bool) -> Option<Eval> {
        let s = self.setup;
        let n = s.n_obs();
        let pb = s.base.len();
        let nc = s.channels.len();
        let off = s.offsets();
        let mut buf = Vec::new();
        let mut cols: Vec<Vec<f64>> = Vec::with_capacity(nc);
        for (c, ch) in s.channels.iter().enumerate() {
            let mut col = vec![0.0; n];
            ch.column(&u[off[c]..off[c + 1]], s.t0, &mut col, &mut buf);
            cols.push(col);
        }
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
                a.set_sym(i, pb + c, dot(&s.base[i], &cols[c]));
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
        let mut roi_terms = vec![None; nc];
        for (c, ch) in s.channels.iter().enumerate() {
            if let (Some(pr), true) = (ch.roi_prior, ch.spend > 0.0) {
                let k = s.kpi_total(&cols[c]) / ch.spend;
                if k > 0.0 {
                    let lam = self.sigma2 * k * k / (pr.sd * pr.sd);
                    a.add_diag(pb + c, lam);
                    b[pb + c] += lam * pr.mean / k;
                    roi_terms[c] = Some((k, pr));
                }
            }
        }
        let nonneg: Vec<bool> = (0..p).map(|i| i >= pb).collect();
        let beta = nnls_gram(&a, &b, &nonneg)?;
        let mut r = self.y.clone();
        for (i, col) in s.base.iter().enumerate() {
            let bi = beta[i];
            if bi != 0.0 {
                r.iter_mut().zip(col).for_each(|(rv, x)| *rv -= bi * x);
            }
        }
        for (c, col) in cols.iter().enumerate() {
            let bc = beta[pb + c];
            if bc != 0.0 {
                r.iter_mut().zip(col).for_each(|(rv, x)| *rv -= bc * x);
            }
        }
        let sse: f64 = r.iter().map(|v| v * v).sum();
        let mut pen: f64 = s.ridge.iter().zip(&beta).map(|(l, b)| l * b * b).sum();
        let mut roi_pen = 0.0;
        for (c, t) in roi_terms.iter().enumerate() {
            if let Some((k, pr)) = t {
                roi_pen += (beta[pb + c] * k - pr.mean).powi(2) / (2.0 * pr.sd * pr.sd);
            }
        }
        pen /= 2.0 * self.sigma2;
        let u0 = s.prior_center();
        let prior: f64 = u
            .iter()
            .zip(&u0)
            .map(|(x, c)| 0.5 * ((x - c) / PRIOR_SD_U).powi(2))
            .sum();
        let f = sse / (2.0 * self.sigma2) + pen + roi_pen + prior;
        if !f.is_finite() {
            return None;
        }
        let mut grad = vec![0.0; u.len()];
        if want_grad {
            let h = 1e-5;
            let mut cp = vec![0.0; n];
            let mut cm = vec![0.0; n];
            for (c, ch) in s.channels.iter().enumerate() {
                let bc = beta[pb + c];
                let uc = &u[off[c]..off[c + 1]];
                for k in 0..ch.n_params() {
                    let gi = off[c] + k;
                    grad[gi] = (u[gi] - u0[gi]) / (PRIOR_SD_U * PRIOR_SD_U);
                    if bc == 0.0 {
                        continue;
                    }
                    let mut up = uc.to_vec();
                    up[k] += h;
                    ch.column(&up, s.t0, &mut cp, &mut buf);
                    up[k] -= 2.0 * h;
                    ch.column(&up, s.t0, &mut cm, &mut buf);
                    let mut rd = 0.0;
                    for i in 0..n {
                        let d = (cp[i] - cm[i]) / (2.0 * h);
                        rd += r[i] * d;
                        cp[i] = d;
                    }
                    grad[gi] += -bc * rd / self.sigma2;
                    if let Some((kk, pr)) = roi_terms[c] {
                        let dk = s.kpi_total(&cp) / ch.spend;
                        grad[gi] += (bc * kk - pr.mean) / (pr.sd * pr.sd) * bc * dk;
                    }
                }
            }
        }
        Some(Eval { f, grad, beta, sse })
    }
}
