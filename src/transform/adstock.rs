//! Adstock (carryover): `a_t = Σ_{l=0}^{L-1} w_l · x_{t-l}` with lag weights `w` from a closed
//! set of forms. With `normalize`, weights sum to one so the adstocked series keeps the
//! units and the total mass of spend (only its timing changes).

use serde::{Deserialize, Serialize};

use super::ParamBox;

/// Which adstock form a channel uses (spec value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdstockKind {
    /// `w_l = α^l`.
    Geometric,
    /// Robyn's Weibull CDF form: `w_0 = 1`, `w_l = Π_{i=1..l} (1 − F(i; shape, scale·L))`.
    WeibullCdf,
    /// Robyn's Weibull PDF form: `w_l = f(l + 1; shape, scale·L)`, rescaled to a maximum of one.
    WeibullPdf,
    /// Delayed (peak-lag) form: `w_l = α^((l − θ)²)` with peak lag `θ`.
    Delayed,
    /// No carryover: `w = [1]`.
    None,
}

/// A fully parameterised adstock.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Adstock {
    /// Geometric decay with retention rate `decay` in `[0, 1)`.
    Geometric {
        decay: f64,
        max_lag: usize,
        normalize: bool,
    },
    /// Weibull CDF survival weights; `scale` is relative to `max_lag`.
    WeibullCdf {
        shape: f64,
        scale: f64,
        max_lag: usize,
        normalize: bool,
    },
    /// Weibull PDF weights (allows a delayed peak); `scale` is relative to `max_lag`.
    WeibullPdf {
        shape: f64,
        scale: f64,
        max_lag: usize,
        normalize: bool,
    },
    /// Delayed adstock `α^((l − θ)²)`.
    Delayed {
        decay: f64,
        peak: f64,
        max_lag: usize,
        normalize: bool,
    },
    /// Identity.
    None,
}

fn weibull_cdf(x: f64, shape: f64, scale: f64) -> f64 {
    1.0 - (-(x / scale).powf(shape)).exp()
}

/// The Weibull scale in lags, `s = max(scale·L, 1e-6)`, and `ds/dscale`.
fn weibull_scale(scale: f64, l: usize) -> (f64, f64) {
    let s = scale * l as f64;
    if s > 1e-6 {
        (s, l as f64)
    } else {
        (1e-6, 0.0)
    }
}

fn weibull_pdf(x: f64, shape: f64, scale: f64) -> f64 {
    let z = x / scale;
    (shape / scale) * z.powf(shape - 1.0) * (-z.powf(shape)).exp()
}

impl AdstockKind {
    /// Names of the free parameters, in the order [`AdstockKind::build`] takes them.
    pub fn param_names(self) -> &'static [&'static str] {
        match self {
            AdstockKind::Geometric => &["decay"],
            AdstockKind::WeibullCdf | AdstockKind::WeibullPdf => &["shape", "scale"],
            AdstockKind::Delayed => &["decay", "peak"],
            AdstockKind::None => &[],
        }
    }

    /// Default search boxes (and prior centres) for the free parameters.
    pub fn default_boxes(self, max_lag: usize) -> Vec<ParamBox> {
        let b = |lo, hi, center| ParamBox {
            lo,
            hi,
            center,
            sd: 1.5,
        };
        match self {
            AdstockKind::Geometric => vec![b(0.0, 0.9, 0.3)],
            AdstockKind::WeibullCdf => vec![b(0.1, 10.0, 1.0), b(0.01, 1.0, 0.2)],
            AdstockKind::WeibullPdf => vec![b(0.1, 10.0, 2.0), b(0.01, 1.0, 0.2)],
            AdstockKind::Delayed => {
                vec![b(0.0, 0.9, 0.4), b(0.0, (max_lag.max(1) - 1) as f64, 1.0)]
            }
            AdstockKind::None => vec![],
        }
    }

    /// Build the adstock from parameter values in [`AdstockKind::param_names`] order.
    pub fn build(self, params: &[f64], max_lag: usize, normalize: bool) -> Adstock {
        match self {
            AdstockKind::Geometric => Adstock::Geometric {
                decay: params[0],
                max_lag,
                normalize,
            },
            AdstockKind::WeibullCdf => Adstock::WeibullCdf {
                shape: params[0],
                scale: params[1],
                max_lag,
                normalize,
            },
            AdstockKind::WeibullPdf => Adstock::WeibullPdf {
                shape: params[0],
                scale: params[1],
                max_lag,
                normalize,
            },
            AdstockKind::Delayed => Adstock::Delayed {
                decay: params[0],
                peak: params[1],
                max_lag,
                normalize,
            },
            AdstockKind::None => Adstock::None,
        }
    }
}

impl Adstock {
    /// The form of this adstock.
    pub fn kind(&self) -> AdstockKind {
        match self {
            Adstock::Geometric { .. } => AdstockKind::Geometric,
            Adstock::WeibullCdf { .. } => AdstockKind::WeibullCdf,
            Adstock::WeibullPdf { .. } => AdstockKind::WeibullPdf,
            Adstock::Delayed { .. } => AdstockKind::Delayed,
            Adstock::None => AdstockKind::None,
        }
    }

    /// Free parameter values in [`AdstockKind::param_names`] order.
    pub fn params(&self) -> Vec<f64> {
        match *self {
            Adstock::Geometric { decay, .. } => vec![decay],
            Adstock::WeibullCdf { shape, scale, .. } | Adstock::WeibullPdf { shape, scale, .. } => {
                vec![shape, scale]
            }
            Adstock::Delayed { decay, peak, .. } => vec![decay, peak],
            Adstock::None => vec![],
        }
    }

    /// Number of lags the weights span (1 for no carryover).
    pub fn max_lag(&self) -> usize {
        match *self {
            Adstock::Geometric { max_lag, .. }
            | Adstock::WeibullCdf { max_lag, .. }
            | Adstock::WeibullPdf { max_lag, .. }
            | Adstock::Delayed { max_lag, .. } => max_lag.max(1),
            Adstock::None => 1,
        }
    }

    /// Lag weights `w_0..w_{L-1}`.
    pub fn weights(&self) -> Vec<f64> {
        let l = self.max_lag();
        let (mut w, normalize): (Vec<f64>, bool) = match *self {
            Adstock::Geometric {
                decay, normalize, ..
            } => ((0..l).map(|i| decay.powi(i as i32)).collect(), normalize),
            Adstock::WeibullCdf {
                shape,
                scale,
                normalize,
                ..
            } => {
                let s = weibull_scale(scale, l).0;
                let mut acc = 1.0;
                let mut w = Vec::with_capacity(l);
                w.push(1.0);
                for i in 1..l {
                    acc *= 1.0 - weibull_cdf(i as f64, shape, s);
                    w.push(acc);
                }
                (w, normalize)
            }
            Adstock::WeibullPdf {
                shape,
                scale,
                normalize,
                ..
            } => {
                let s = weibull_scale(scale, l).0;
                let w: Vec<f64> = (0..l)
                    .map(|i| weibull_pdf((i + 1) as f64, shape, s))
                    .collect();
                let m = w.iter().cloned().fold(0.0, f64::max);
                let w = if m > 0.0 && m.is_finite() {
                    w.iter().map(|v| v / m).collect()
                } else {
                    let mut z = vec![0.0; l];
                    z[0] = 1.0;
                    z
                };
                (w, normalize)
            }
            Adstock::Delayed {
                decay,
                peak,
                normalize,
                ..
            } => (
                (0..l)
                    .map(|i| decay.powf((i as f64 - peak).powi(2)))
                    .collect(),
                normalize,
            ),
            Adstock::None => (vec![1.0], false),
        };
        if normalize {
            let s: f64 = w.iter().sum();
            if s > 0.0 && s.is_finite() {
                w.iter_mut().for_each(|v| *v /= s);
            }
        }
        w
    }

    /// Lag weights and their analytic derivatives in each free parameter
    /// ([`AdstockKind::param_names`] order): `(w, dw)` with `w: [L]`, `dw: [n_params][L]`,
    /// `dw[k][l] = ∂w_l/∂p_k`. Values equal [`Adstock::weights`].
    ///
    /// - geometric `α^l`: `l α^(l−1)`;
    /// - delayed `α^((l−θ)²)`: `w (l−θ)²/α` and `−2 w (l−θ) ln α`;
    /// - Weibull CDF `exp(−Σ_{i≤l} (i/s)^k)`, `s = scale·L`: `−w Σ (i/s)^k ln(i/s)` and
    ///   `w L Σ k (i/s)^k / s`;
    /// - Weibull PDF `p_l / p_m` (`m` the peak lag, `p_l = f(l+1)`): `w (∂ln p_l − ∂ln p_m)`
    ///   with `∂ln p/∂k = 1/k + ln z − z^k ln z`, `∂ln p/∂s = k (z^k − 1)/s`, `z = (l+1)/s`;
    /// - normalising: `∂(w_l/S) = ∂w_l/S − w_l ΣdW/S²`.
    pub fn weights_and_grad(&self) -> (Vec<f64>, Vec<Vec<f64>>) {
        let l = self.max_lag();
        let (w, dw, normalize): (Vec<f64>, Vec<Vec<f64>>, bool) = match *self {
            Adstock::Geometric {
                decay, normalize, ..
            } => {
                let w = (0..l).map(|i| decay.powi(i as i32)).collect();
                let d = (0..l)
                    .map(|i| {
                        if i == 0 {
                            0.0
                        } else {
                            i as f64 * decay.powi(i as i32 - 1)
                        }
                    })
                    .collect();
                (w, vec![d], normalize)
            }
            Adstock::Delayed {
                decay,
                peak,
                normalize,
                ..
            } => {
                let w: Vec<f64> = (0..l)
                    .map(|i| decay.powf((i as f64 - peak).powi(2)))
                    .collect();
                let (mut da, mut dp) = (vec![0.0; l], vec![0.0; l]);
                if decay > 0.0 {
                    for i in 0..l {
                        let e = i as f64 - peak;
                        da[i] = w[i] * e * e / decay;
                        dp[i] = -2.0 * w[i] * e * decay.ln();
                    }
                }
                (w, vec![da, dp], normalize)
            }
            Adstock::WeibullCdf {
                shape,
                scale,
                normalize,
                ..
            } => {
                let (s, ds) = weibull_scale(scale, l);
                let (mut w, mut dk, mut dsc) = (vec![1.0; l], vec![0.0; l], vec![0.0; l]);
                let (mut acc, mut ak, mut asc) = (0.0, 0.0, 0.0);
                for i in 1..l {
                    let z = i as f64 / s;
                    let zk = z.powf(shape);
                    acc += zk;
                    ak += zk * z.ln();
                    asc += shape * zk / s;
                    w[i] = (-acc).exp();
                    dk[i] = -w[i] * ak;
                    dsc[i] = w[i] * asc * ds;
                }
                (w, vec![dk, dsc], normalize)
            }
            Adstock::WeibullPdf {
                shape,
                scale,
                normalize,
                ..
            } => {
                let (s, ds) = weibull_scale(scale, l);
                let p: Vec<f64> = (0..l)
                    .map(|i| weibull_pdf((i + 1) as f64, shape, s))
                    .collect();
                let dlog = |i: usize| {
                    let z = (i + 1) as f64 / s;
                    let zk = z.powf(shape);
                    (
                        1.0 / shape + z.ln() - zk * z.ln(),
                        shape * (zk - 1.0) / s * ds,
                    )
                };
                let (m_idx, m) =
                    p.iter().enumerate().fold(
                        (0, 0.0),
                        |acc, (i, &v)| if v > acc.1 { (i, v) } else { acc },
                    );
                if m > 0.0 && m.is_finite() {
                    let (km, sm) = dlog(m_idx);
                    let w: Vec<f64> = p.iter().map(|v| v / m).collect();
                    let (mut dk, mut dsc) = (vec![0.0; l], vec![0.0; l]);
                    for i in 0..l {
                        if w[i] > 0.0 {
                            let (ki, si) = dlog(i);
                            dk[i] = w[i] * (ki - km);
                            dsc[i] = w[i] * (si - sm);
                        }
                    }
                    (w, vec![dk, dsc], normalize)
                } else {
                    let mut z = vec![0.0; l];
                    z[0] = 1.0;
                    (z, vec![vec![0.0; l]; 2], normalize)
                }
            }
            Adstock::None => (vec![1.0], Vec::new(), false),
        };
        let total: f64 = w.iter().sum();
        if normalize && total > 0.0 && total.is_finite() {
            let dw = dw
                .iter()
                .map(|d| {
                    let ds: f64 = d.iter().sum();
                    d.iter()
                        .zip(&w)
                        .map(|(dv, wv)| dv / total - wv * ds / (total * total))
                        .collect()
                })
                .collect();
            (w.iter().map(|v| v / total).collect(), dw)
        } else {
            (w, dw)
        }
    }

    /// Apply to a series: `out[t] = Σ_l w_l · x[t − l]` (values before the start count as 0).
    pub fn apply(&self, x: &[f64], out: &mut [f64]) {
        convolve(x, &self.weights(), out);
    }
}

/// Causal convolution kernel: `out[t] = Σ_{l < w.len(), l ≤ t} w[l] · x[t − l]`.
pub fn convolve(x: &[f64], w: &[f64], out: &mut [f64]) {
    debug_assert_eq!(x.len(), out.len());
    // Lag by lag (`out[l..] += w_l · x[..n−l]`): each pass is an independent
    // multiply-add per period that the compiler vectorises, where summing lags per period
    // is one serial chain of additions. Every period still adds its lags in order
    // l = 0, 1, …, so the result is bit-identical to the per-period sum.
    let n = x.len().min(out.len());
    out.iter_mut().for_each(|o| *o = 0.0);
    for (l, &wl) in w.iter().enumerate().take(n) {
        out[l..n]
            .iter_mut()
            .zip(&x[..n - l])
            .for_each(|(o, xv)| *o += wl * xv);
    }
}
