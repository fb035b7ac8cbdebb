//! Saturation (diminishing returns) applied to adstocked media expressed relative to the
//! channel's typical level (`x = adstock / scale`, scale = mean non-zero input in the fit
//! window), so parameters are comparable across channels.

use serde::{Deserialize, Serialize};

use super::ParamBox;

/// Which saturation form a channel uses (spec value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SaturationKind {
    /// Hill: `x^s / (x^s + k^s)`.
    Hill,
    /// Logistic: `(1 − e^{−λx}) / (1 + e^{−λx})`.
    Logistic,
    /// Linear response: `x`.
    None,
}

/// A fully parameterised saturation curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Saturation {
    /// Hill curve with half-saturation `k` and slope (shape) `s`: `x^s / (x^s + k^s)`.
    Hill { k: f64, s: f64 },
    /// Logistic curve `(1 − e^{−λx}) / (1 + e^{−λx})`.
    Logistic { lambda: f64 },
    /// Identity.
    None,
}

impl SaturationKind {
    /// Names of the free parameters, in the order [`SaturationKind::build`] takes them.
    pub fn param_names(self) -> &'static [&'static str] {
        match self {
            SaturationKind::Hill => &["half_saturation", "slope"],
            SaturationKind::Logistic => &["lambda"],
            SaturationKind::None => &[],
        }
    }

    /// Default search boxes (and prior centres) for the free parameters.
    pub fn default_boxes(self) -> Vec<ParamBox> {
        let b = |lo, hi, center, sd| ParamBox { lo, hi, center, sd };
        match self {
            SaturationKind::Hill => vec![b(0.2, 3.0, 1.0, 1.5), b(0.5, 3.0, 1.5, 1.5)],
            SaturationKind::Logistic => vec![b(0.05, 5.0, 1.0, 1.5)],
            SaturationKind::None => vec![],
        }
    }

    /// Build the curve from parameter values in [`SaturationKind::param_names`] order.
    pub fn build(self, params: &[f64]) -> Saturation {
        match self {
            SaturationKind::Hill => Saturation::Hill {
                k: params[0],
                s: params[1],
            },
            SaturationKind::Logistic => Saturation::Logistic { lambda: params[0] },
            SaturationKind::None => Saturation::None,
        }
    }
}

/// Hill's `q = (k/x)^s = e^{s ln(k r)}` at `r = 1/x > 0`, and `ln(k r)` (which also
/// gives `∂q/∂s = q ln(k r)`): `f = x^s / (x^s + k^s) = 1 / (1 + q)`, stable for large
/// `x`. One logarithm and one exponential, cheaper than `powf`, and every Hill evaluation
/// (value, slope, parameter derivatives) goes through it, so they agree to the bit.
#[inline]
fn hill_q(k: f64, s: f64, r: f64) -> (f64, f64) {
    let lr = (k * r).ln();
    ((s * lr).exp(), lr)
}

impl Saturation {
    /// The form of this curve.
    pub fn kind(&self) -> SaturationKind {
        match self {
            Saturation::Hill { .. } => SaturationKind::Hill,
            Saturation::Logistic { .. } => SaturationKind::Logistic,
            Saturation::None => SaturationKind::None,
        }
    }

    /// Free parameter values in [`SaturationKind::param_names`] order.
    pub fn params(&self) -> Vec<f64> {
        match *self {
            Saturation::Hill { k, s } => vec![k, s],
            Saturation::Logistic { lambda } => vec![lambda],
            Saturation::None => vec![],
        }
    }

    /// Evaluate at one non-negative point.
    #[inline]
    pub fn eval(&self, x: f64) -> f64 {
        match *self {
            Saturation::Hill { k, s } => {
                if x <= 0.0 {
                    0.0
                } else {
                    1.0 / (1.0 + hill_q(k, s, 1.0 / x).0)
                }
            }
            Saturation::Logistic { lambda } => {
                let e = (-lambda * x.max(0.0)).exp();
                (1.0 - e) / (1.0 + e)
            }
            Saturation::None => x.max(0.0),
        }
    }

    /// Value and derivative in `x` (Hill: `f' = f² · s · (k/x)^s / x`).
    #[inline]
    pub fn value_and_slope(&self, x: f64) -> (f64, f64) {
        match *self {
            Saturation::Hill { k, s } => {
                if x <= 0.0 {
                    let slope = if s < 1.0 {
                        f64::INFINITY
                    } else if s == 1.0 {
                        1.0 / k
                    } else {
                        0.0
                    };
                    return (0.0, slope);
                }
                let r = 1.0 / x;
                let q = hill_q(k, s, r).0;
                let f = 1.0 / (1.0 + q);
                (f, f * f * s * q * r)
            }
            Saturation::Logistic { lambda } => {
                let e = (-lambda * x.max(0.0)).exp();
                let f = (1.0 - e) / (1.0 + e);
                (f, 2.0 * lambda * e / ((1.0 + e) * (1.0 + e)))
            }
            Saturation::None => (x.max(0.0), 1.0),
        }
    }

    /// Value, derivative in `x`, and derivatives in the free parameters (written to
    /// `dparams`, in [`SaturationKind::param_names`] order).
    #[inline]
    pub fn eval_grad(&self, x: f64, dparams: &mut [f64]) -> (f64, f64) {
        match *self {
            Saturation::Hill { k, s } => {
                if x <= 0.0 {
                    dparams.iter_mut().for_each(|d| *d = 0.0);
                    return (0.0, 0.0);
                }
                // Two divisions per point (1/x, 1/(1 + q)); 1/k is the same at every
                // point, so it is hoisted out of loops over a series.
                let r = 1.0 / x;
                let (q, lr) = hill_q(k, s, r);
                let f = 1.0 / (1.0 + q);
                let dfdq = -f * f;
                let sq = s * q;
                dparams[0] = dfdq * sq * (1.0 / k);
                dparams[1] = dfdq * q * lr;
                (f, -dfdq * sq * r)
            }
            Saturation::Logistic { lambda } => {
                let x = x.max(0.0);
                let e = (-lambda * x).exp();
                let f = (1.0 - e) / (1.0 + e);
                let dfde = -2.0 / ((1.0 + e) * (1.0 + e));
                dparams[0] = dfde * (-x * e);
                (f, dfde * (-lambda * e))
            }
            Saturation::None => (x.max(0.0), if x > 0.0 { 1.0 } else { 0.0 }),
        }
    }

    /// [`Saturation::eval_grad`] over a series `x` (`[n]`): values into `f`, slopes into
    /// `slope` (both `[n]`), and the derivative in free parameter `j` into
    /// `dparams[j][at..at + n]`. Bit-identical to the per-point form; Hill's is done in
    /// passes so its two divisions per point run as vector instructions, only the
    /// logarithm and the exponential stay per point (a 50-geo fit evaluates ~40 000
    /// points per gradient).
    pub fn eval_grad_series(
        &self,
        x: &[f64],
        f: &mut [f64],
        slope: &mut [f64],
        dparams: &mut [Vec<f64>],
        at: usize,
    ) {
        let n = x.len();
        match (*self, dparams) {
            (Saturation::Hill { k, s }, [dk, ds]) => {
                let (dk, ds) = (&mut dk[at..at + n], &mut ds[at..at + n]);
                // Points with x ≤ 0 have value and derivatives 0; every other point (NaN
                // and +∞ included) takes the per-point formula, as in `eval_grad`.
                let off = |xv: f64| xv <= 0.0;
                for (r, &xv) in slope.iter_mut().zip(x) {
                    *r = if off(xv) { 0.0 } else { 1.0 / xv };
                }
                // q and ln(k r) into f and ds for now.
                for (((fv, lr), &r), &xv) in f.iter_mut().zip(ds.iter_mut()).zip(&*slope).zip(x) {
                    (*fv, *lr) = if off(xv) { (0.0, 0.0) } else { hill_q(k, s, r) };
                }
                let ik = 1.0 / k;
                for t in 0..n {
                    let (r, q, lr) = (slope[t], f[t], ds[t]);
                    let v = 1.0 / (1.0 + q);
                    let dfdq = -v * v;
                    let sq = s * q;
                    let on = !off(x[t]);
                    f[t] = if on { v } else { 0.0 };
                    dk[t] = if on { dfdq * sq * ik } else { 0.0 };
                    ds[t] = if on { dfdq * q * lr } else { 0.0 };
                    slope[t] = if on { -dfdq * sq * r } else { 0.0 };
                }
            }
            (_, dparams) => {
                let mut d = [0.0; 2];
                let d = &mut d[..dparams.len()];
                for t in 0..n {
                    (f[t], slope[t]) = self.eval_grad(x[t], d);
                    for (col, v) in dparams.iter_mut().zip(d.iter()) {
                        col[at + t] = *v;
                    }
                }
            }
        }
    }

    /// Apply in place to a series.
    pub fn apply_in_place(&self, x: &mut [f64]) {
        self.apply_scaled(x, 1.0, 1.0);
    }

    /// `v ← out · f(v · inp)` over a series, bit-identical to [`Saturation::eval`] per
    /// point; Hill's divisions run in vector passes around the per-point logarithm and
    /// exponential (as in [`Saturation::eval_grad_series`]).
    pub fn apply_scaled(&self, x: &mut [f64], inp: f64, out: f64) {
        match *self {
            Saturation::Hill { k, s } => {
                // −∞ marks x ≤ 0 (value 0) through both passes: neither 1/x of a point
                // that is not ≤ 0 (NaN and +∞ included) nor q can be −∞.
                const OFF: f64 = f64::NEG_INFINITY;
                for v in x.iter_mut() {
                    let xv = *v * inp;
                    *v = if xv <= 0.0 { OFF } else { 1.0 / xv };
                }
                for v in x.iter_mut() {
                    if *v != OFF {
                        *v = hill_q(k, s, *v).0;
                    }
                }
                for v in x.iter_mut() {
                    *v = if *v == OFF {
                        out * 0.0
                    } else {
                        out * (1.0 / (1.0 + *v))
                    };
                }
            }
            _ => x.iter_mut().for_each(|v| *v = out * self.eval(*v * inp)),
        }
    }
}
