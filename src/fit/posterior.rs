//! The joint posterior of every parameter, which NUTS samples (`fit --method bayes`).
//!
//! Layout of the unconstrained vector θ (length `n_u + p_b + n_c + 1`):
//! `[u (channel shapes, then the pool's share logit) | β_base (p_b) | w (n_c) | ln σ]`.
//! A paid channel's `w_c` maps to its ROI, `ROI_c = a_c · softplus(w_c)` (`a_c` the ROI
//! prior's centre, 1 without a prior) and `β_c = ROI_c / k_c(u)` with
//! `k_c = Σ_t kpi_scale · m_c(u)_t / spend_c`; an organic channel's is `ln β_c`.
//! Sampling the ROI rather than the coefficient removes the banana between a
//! coefficient and its curve's shape (the contribution's level no longer moves with the
//! shape), and softplus keeps the ROI near-linear in `w` away from 0, so an always-on
//! channel's ROI trades off linearly against the intercept, as the data say.
//!
//! On the model scale:
//!
//! ```text
//! −ln p(u, β, σ | y) = ‖y − Bβ_b − Σ_c β_c m_c(u)‖²/(2σ²) + n ln σ     likelihood
//!             + Σ_i λ_i β_i²/(2σ²) + #{λ_i > 0} ln σ                  ridge: β_i ~ N(0, σ²/λ_i)
//!             + Σ_c [(β_c k_c(u) − μ_c)²/(2 s_c²) + ln s_c − ln k_c]   ROI priors (a density in β_c)
//!             + Σ_e (β_c L_e(u) − lift_e)²/(2 se_e²)                  lift tests
//!             + ½ Σ ((u − u₀)/τ)²                                     shape priors, pool hyperprior
//!             + σ²/(2 S²)                                             σ ~ HalfNormal(S), S = 1
//! ```
//!
//! On geo panels with [`Setup::geo_dev`] the geo deviations `γ_gc ~ N(0, s_c²)` are
//! integrated out analytically: the likelihood becomes, per geo, `r_g ~ Normal(0, σ²I +
//! Z_g diag(s²) Z_gᵀ)` ([`Deviations::collapse`]), so NUTS samples the same model whose
//! mode the fast path's joint solve finds, without 5 × geos more dimensions.
//!
//! On θ the Jacobians add `−ln σ`, and per channel `−ln ∂β_c/∂w_c`:
//! `−ln sigmoid(w_c) + ln k_c` (paid, up to a constant) or `−w_c` (organic); for a paid
//! channel with an ROI prior the `± ln k_c` cancel.
//!
//! These are the terms of the fast path's objective ([`super::Problem::eval`]), which at a
//! fixed σ profiles β out (or, with the Laplace term, integrates it out); both are built
//! from the same pieces of [`Setup`] (columns, ROI priors, lift terms, shape prior), so the
//! two methods fit one model. `y` is the KPI divided by each geo's mean, so `S = 1` is
//! weak (noise as large as the KPI itself).

use super::deviations::Deviations;
use super::problem::dot;
use super::Setup;

/// `a_c` as a fraction of the point ROI (see [`Posterior::with_roi_hint`]): ROÎ maps to
/// `w = softplus⁻¹(5) ≈ 5`, and softplus is within 1% of linear above ROÎ / 2.
const ROI_SCALE_FRACTION: f64 = 0.2;

/// Scale of the half-normal prior on σ (scaled-KPI units).
const SIGMA_PRIOR_SCALE: f64 = 1.0;

/// The joint density over the fit window of one setup and response.
#[derive(Debug, Clone)]
pub(crate) struct Posterior<'a> {
    pub setup: &'a Setup,
    pub y: &'a [f64],
    u0: Vec<f64>,
    /// Per channel ROI scale `a_c` (paid: the ROI prior's centre, or 1 without a prior).
    roi_scale: Vec<f64>,
}

/// `ln(1 + e^w)`, stable for any `w`.
fn softplus(w: f64) -> f64 {
    w.max(0.0) + (-w.abs()).exp().ln_1p()
}

/// `1/(1 + e^{−w})`.
fn sigmoid(w: f64) -> f64 {
    1.0 / (1.0 + (-w).exp())
}

/// Inverse of [`softplus`] for `x > 0`: `ln(e^x − 1) = x + ln(1 − e^{−x})`.
fn softplus_inv(x: f64) -> f64 {
    x + (-(-x).exp_m1()).ln()
}

/// A point of the joint posterior on the model's scale.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct JointPoint {
    /// Unconstrained shape parameters (and the pool's share logit).
    pub u: Vec<f64>,
    /// Baseline then media coefficients, `[p_b + n_c]`.
    pub beta: Vec<f64>,
    /// Noise sd in scaled-KPI units.
    pub sigma: f64,
}

impl<'a> Posterior<'a> {
    /// The posterior with each paid channel's ROI scale `a_c` at its ROI prior's centre
    /// (1 without a prior).
    pub fn new(setup: &'a Setup, y: &'a [f64]) -> Self {
        let u0 = setup.prior_center();
        let pool = setup.pool_at(&u0);
        let roi_scale = (0..setup.channels.len())
            .map(|c| {
                setup
                    .roi_prior_for(c, pool)
                    .map_or(1.0, |p| p.mean.max(1e-9))
            })
            .collect();
        Posterior {
            setup,
            y,
            u0,
            roi_scale,
        }
    }

    /// The same posterior with `a_c` set from a point estimate of each channel's ROI,
    /// `a_c = ROÎ_c / ROI_SCALE_FRACTION` where `ROÎ_c > 0` (else as in [`Self::new`]), so
    /// the bulk of every channel's ROI posterior sits where softplus is near-linear.
    /// With `a_c` at the prior centre a channel whose ROI is far below the pooled level
    /// lives in softplus's exponential part, where its linear trade-off with the
    /// intercepts becomes a curved ridge the whitening cannot remove (50-geo panel, an
    /// always-on channel at 1% of the KPI: bulk ESS 59 from 4 × 1000 draws).
    /// The density of the model parameters is unchanged (`a_c` only reparameterises).
    pub fn with_roi_hint(setup: &'a Setup, y: &'a [f64], roi: &[f64]) -> Self {
        let mut post = Posterior::new(setup, y);
        for ((a, r), ch) in post.roi_scale.iter_mut().zip(roi).zip(&setup.channels) {
            if ch.spend > 0.0 && *r > 0.0 && r.is_finite() {
                *a = r * ROI_SCALE_FRACTION;
            }
        }
        post
    }

    /// ROI per unit coefficient at `u`, per channel (0 for organic channels).
    pub fn roi_per_coef_at(&self, u: &[f64]) -> Vec<f64> {
        self.roi_per_coef(&self.setup.columns(u, false).0)
    }

    fn n_u(&self) -> usize {
        self.u0.len()
    }

    /// Length of θ.
    pub fn dim(&self) -> usize {
        self.n_u() + self.setup.base.len() + self.setup.channels.len() + 1
    }

    /// `k_c(u)` per channel (0 for organic channels): ROI per unit coefficient.
    fn roi_per_coef(&self, cols: &[Vec<f64>]) -> Vec<f64> {
        self.setup
            .channels
            .iter()
            .zip(cols)
            .map(|(ch, col)| {
                if ch.spend > 0.0 {
                    self.setup.kpi_total(col) / ch.spend
                } else {
                    0.0
                }
            })
            .collect()
    }

    /// θ from a point; media coefficients are floored at `floor` (the fast path's NNLS
    /// can return exact zeros, which the maps to `w` cannot reach).
    pub fn pack(&self, p: &JointPoint, floor: f64) -> Vec<f64> {
        let pb = self.setup.base.len();
        let k = self.roi_per_coef(&self.setup.columns(&p.u, false).0);
        let mut t = p.u.clone();
        t.extend_from_slice(&p.beta[..pb]);
        t.extend(
            p.beta[pb..]
                .iter()
                .zip(&k)
                .zip(&self.roi_scale)
                .map(|((b, k), a)| {
                    let b = b.max(floor);
                    if *k > 0.0 {
                        softplus_inv(b * k / a)
                    } else {
                        b.ln()
                    }
                }),
        );
        t.push(p.sigma.ln());
        t
    }

    /// Coefficients `[p_b + n_c]` at θ given `k_c(u)`; `None` if a paid channel's
    /// column is zero (its ROI cannot map to a coefficient).
    fn coefficients(&self, theta: &[f64], k: &[f64]) -> Option<Vec<f64>> {
        let (nu, pb) = (self.n_u(), self.setup.base.len());
        let mut beta = theta[nu..nu + pb].to_vec();
        for (c, ch) in self.setup.channels.iter().enumerate() {
            let w = theta[nu + pb + c];
            if ch.spend > 0.0 {
                if k[c].is_nan() || k[c] <= 0.0 {
                    return None;
                }
                beta.push(self.roi_scale[c] * softplus(w) / k[c]);
            } else {
                beta.push(w.exp());
            }
        }
        Some(beta)
    }

    /// The point θ stands for (`None` where [`Posterior::logp`] is not finite either).
    pub fn unpack(&self, theta: &[f64]) -> Option<JointPoint> {
        let nu = self.n_u();
        let u = theta[..nu].to_vec();
        let k = self.roi_per_coef(&self.setup.columns(&u, false).0);
        Some(JointPoint {
            beta: self.coefficients(theta, &k)?,
            u,
            sigma: theta[self.dim() - 1].exp(),
        })
    }

    /// `ln p(θ | y)` up to a constant, with its gradient written into `grad` (`[dim]`).
    /// `None` where the density is not finite.
    pub fn logp(&self, theta: &[f64], grad: &mut [f64]) -> Option<f64> {
        if !theta.iter().all(|v| v.is_finite()) {
            return None;
        }
        let s = self.setup;
        let (nu, pb, nc) = (self.n_u(), s.base.len(), s.channels.len());
        let n = s.n_obs() as f64;
        let u = &theta[..nu];
        let ls = theta[nu + pb + nc];
        let s2 = (2.0 * ls).exp();
        let (cols, jacs) = s.columns(u, true);
        let k = self.roi_per_coef(&cols);
        let beta = self.coefficients(theta, &k)?;
        let r = s.residual(self.y, &cols, &beta);
        let sse: f64 = r.iter().map(|v| v * v).sum();
        let pen: f64 = s.ridge.iter().zip(&beta).map(|(l, b)| l * b * b).sum();
        let n_ridge = s.ridge.iter().filter(|l| **l > 0.0).count() as f64;
        grad.iter_mut().for_each(|g| *g = 0.0);
        let off = s.offsets();
        // Geo deviations integrated out (Gaussian given everything else): their term,
        // their posterior means γ̂, and the residual net of them, which the likelihood's
        // gradient then takes in place of r.
        let dev = if s.deviating().is_empty() {
            None
        } else {
            Some(Deviations::build_with(s, &cols, &r, s2, false)?)
        };
        let collapsed = dev.as_ref().map(|d| d.collapse(s, s2));
        let mut er = r.clone();
        if let (Some(d), Some((_, gm, _))) = (&dev, &collapsed) {
            d.subtract(gm, &cols, &mut er);
        }
        // ∂E/∂β at fixed u (likelihood, ridge, lift tests), chained to θ below; the
        // u-gradients first collect the partials at fixed β.
        let mut dbeta: Vec<f64> = (0..pb)
            .map(|i| s.base_dot(i, &er))
            .chain(cols.iter().map(|col| dot(col, &er)))
            .zip(beta.iter().zip(&s.ridge))
            .map(|(xr, (b, l))| (l * b - xr) / s2)
            .collect();
        for c in 0..nc {
            // With deviations, geo g's coefficient is β_c + γ̂_gc, and ½ Σ ln det D_g moves
            // with the column too.
            let extra = dev.as_ref().zip(collapsed.as_ref()).and_then(|(d, cl)| {
                let a = d.slot(c)?;
                Some((d, a, &cl.1, d.logdet_direction(a, &cols, s.n_obs())))
            });
            for (j, d) in jacs[c].iter().enumerate() {
                match &extra {
                    Some((dv, a, gm, dir)) => {
                        let env = dv.envelope(*a, beta[pb + c], gm, d, &er);
                        grad[off[c] + j] += -env / s2 + dot(dir, d);
                    }
                    None => grad[off[c] + j] -= beta[pb + c] * dot(d, &er) / s2,
                }
            }
        }
        let mut e = (sse + pen) / (2.0 * s2) + (n + n_ridge) * ls;
        if let Some((term, _, _)) = &collapsed {
            e += term;
        }
        let shift = vec![0.0; s.experiments.len()];
        for t in s.lift_terms(u, &cols, &jacs, &shift) {
            let c = t.channel;
            let v = t.se * t.se;
            let err = beta[pb + c] * t.l - t.lift;
            e += err * err / (2.0 * v);
            dbeta[pb + c] += err * t.l / v;
            for (j, dl) in t.dl.iter().enumerate() {
                grad[off[c] + j] += err * beta[pb + c] * dl / v;
            }
        }
        // ROI priors (on a·softplus(w) directly), Jacobians, and the chain rule through
        // β(u, w).
        let pool = s.pool_at(u);
        let mut d_m = 0.0;
        for (c, ch) in s.channels.iter().enumerate() {
            let w = theta[nu + pb + c];
            let bc = beta[pb + c];
            let gw = nu + pb + c;
            if ch.spend <= 0.0 {
                e -= w;
                grad[gw] = dbeta[pb + c] * bc - 1.0;
                continue;
            }
            // ROI = a·sp(w): ∂ln ROI/∂w = σ(w)/sp(w); Jacobian −ln σ(w) (− ln a, constant).
            let (a, sp, sg) = (self.roi_scale[c], softplus(w), sigmoid(w));
            e += softplus(-w);
            grad[gw] = dbeta[pb + c] * bc * sg / sp - (1.0 - sg);
            let prior = s.roi_prior_for(c, pool);
            if prior.is_none() {
                e += k[c].ln();
            }
            for (j, d) in jacs[c].iter().enumerate() {
                let dk_k = s.kpi_total(d) / ch.spend / k[c];
                grad[off[c] + j] += -dbeta[pb + c] * bc * dk_k;
                if prior.is_none() {
                    grad[off[c] + j] += dk_k;
                }
            }
            if let Some(pr) = prior {
                let v = pr.sd * pr.sd;
                let err = a * sp - pr.mean;
                e += err * err / (2.0 * v) + pr.sd.ln();
                grad[gw] += err * a * sg / v;
                if let (true, Some((m, _, _))) = (ch.pooled, pool) {
                    d_m += -err / v - err * err / (v * m) + 1.0 / m;
                }
            }
        }
        e += s.u_prior(u, &self.u0, Some(&mut grad[..nu]));
        if let Some((_, _, dm_du)) = pool {
            grad[off[nc]] += d_m * dm_du;
        }
        let sp2 = SIGMA_PRIOR_SCALE * SIGMA_PRIOR_SCALE;
        e += s2 / (2.0 * sp2) - ls;
        grad[nu..nu + pb].copy_from_slice(&dbeta[..pb]);
        grad[nu + pb + nc] = -(sse + pen) / s2 + n + n_ridge + s2 / sp2 - 1.0
            + collapsed.as_ref().map_or(0.0, |c| c.2);
        if !e.is_finite() || !grad.iter().all(|g| g.is_finite()) {
            return None;
        }
        grad.iter_mut().for_each(|g| *g = -*g);
        Some(-e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Analytic gradient of the joint density against central differences (relative 1e-5)
    /// at random points, for every adstock and saturation kind, with a lift test and the
    /// pooled ROI prior in play.
    #[test]
    fn joint_gradient_matches_finite_differences() {
        use crate::transform::{AdstockKind as A, SaturationKind as S};
        use rand::SeedableRng;
        let (setup, y) = crate::fit::fixture::setup(
            70,
            &[
                (A::Geometric, S::Hill),
                (A::WeibullCdf, S::Logistic),
                (A::WeibullPdf, S::Hill),
                (A::Delayed, S::None),
                (A::None, S::Hill),
            ],
            &[(0, 10, 20000.0, 3000.0, "total")],
        );
        assert!(setup.pool.is_some());
        let post = Posterior::new(&setup, &y);
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..3 {
            let theta = random_theta(&post, &mut rng, -2.0);
            assert_logp_gradient(&post, &theta);
        }
    }

    /// A point with every coordinate uniform in (−1, 1) except `ln σ = ls`.
    fn random_theta(post: &Posterior, rng: &mut rand::rngs::StdRng, ls: f64) -> Vec<f64> {
        use rand::Rng;
        let mut theta: Vec<f64> = (0..post.dim())
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        let last = theta.len() - 1;
        theta[last] = ls;
        theta
    }

    /// `logp`'s gradient at `theta` equals central differences (relative 1e-5).
    fn assert_logp_gradient(post: &Posterior, theta: &[f64]) {
        let mut g = vec![0.0; theta.len()];
        let f = post.logp(theta, &mut g).unwrap();
        assert!(f.is_finite());
        let mut scratch = vec![0.0; theta.len()];
        for i in 0..theta.len() {
            let h = 1e-6 * (1.0 + theta[i].abs());
            let mut tp = theta.to_vec();
            tp[i] += h;
            let fp = post.logp(&tp, &mut scratch).unwrap();
            tp[i] -= 2.0 * h;
            let fm = post.logp(&tp, &mut scratch).unwrap();
            let fd = (fp - fm) / (2.0 * h);
            assert!(
                (g[i] - fd).abs() <= 1e-5 * (1.0 + fd.abs().max(g[i].abs())),
                "param {i}: analytic {} vs fd {fd}",
                g[i]
            );
        }
    }

    /// With geo deviations integrated out, the density changes by exactly the Gaussian
    /// marginal `r_g ~ Normal(0, σ²I + Z_g diag(s²) Z_gᵀ)` per geo (written out densely
    /// here), and its gradient still matches finite differences.
    #[test]
    fn collapsed_geo_deviations_match_the_dense_marginal() {
        use crate::linalg::{Cholesky, SymMat};
        use rand::SeedableRng;
        let (plain, y) = crate::fit::fixture::geo_setup(4, 60, 3);
        let sd = [0.4, 0.25, 0.0];
        let setup = Setup {
            geo_dev: sd.to_vec(),
            ..plain.clone()
        };
        let (post, post0) = (Posterior::new(&setup, &y), Posterior::new(&plain, &y));
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        for _ in 0..2 {
            let theta = random_theta(&post, &mut rng, -2.5);
            assert_logp_gradient(&post, &theta);
            let mut g = vec![0.0; theta.len()];
            let diff = post0.logp(&theta, &mut g).unwrap() - post.logp(&theta, &mut g).unwrap();
            let jp = post.unpack(&theta).unwrap();
            let cols = setup.columns(&jp.u, false).0;
            let r = setup.residual(&y, &cols, &jp.beta);
            let s2 = jp.sigma * jp.sigma;
            let tf = setup.t1 - setup.t0;
            let mut want = 0.0;
            for g in 0..setup.n_geos {
                let rows = g * tf..(g + 1) * tf;
                let mut cov = SymMat::zeros(tf);
                for i in 0..tf {
                    for j in 0..=i {
                        let zz: f64 = (0..2)
                            .map(|c| {
                                sd[c] * sd[c] * cols[c][rows.start + i] * cols[c][rows.start + j]
                            })
                            .sum();
                        cov.set_sym(i, j, zz + if i == j { s2 } else { 0.0 });
                    }
                }
                let chol = Cholesky::factor(&cov).unwrap();
                let rg = &r[rows];
                let quad: f64 = rg.iter().zip(chol.solve(rg)).map(|(a, b)| a * b).sum();
                let plain_part =
                    rg.iter().map(|v| v * v).sum::<f64>() / (2.0 * s2) + tf as f64 * s2.sqrt().ln();
                let consts: f64 = (0..2).map(|c| (sd[c] * sd[c]).ln()).sum();
                want += 0.5 * quad + 0.5 * chol.logdet() - 0.5 * consts - plain_part;
            }
            assert!(
                (diff - want).abs() < 1e-7 * (1.0 + want.abs()),
                "{diff} vs {want}"
            );
        }
    }

    /// `pack` and `unpack` are inverse (away from the floor).
    #[test]
    fn pack_round_trips() {
        use crate::transform::{AdstockKind as A, SaturationKind as S};
        let (setup, y) = crate::fit::fixture::setup(60, &[(A::Geometric, S::Hill); 3], &[]);
        let post = Posterior::new(&setup, &y);
        let theta: Vec<f64> = (0..post.dim()).map(|i| 0.1 * i as f64 - 0.7).collect();
        let back = post.pack(&post.unpack(&theta).unwrap(), 1e-12);
        for (a, b) in theta.iter().zip(&back) {
            assert!((a - b).abs() < 1e-12);
        }
    }

    /// With an ROI hint, a point whose ROIs equal the hint sits at `w = softplus⁻¹(5)`,
    /// and the reparameterisation changes no model parameter: unpacking the hinted θ
    /// gives back the point, and the two densities differ by a constant (their
    /// Jacobians), so their differences between two points agree.
    #[test]
    fn roi_hint_reparameterises_only() {
        use crate::transform::{AdstockKind as A, SaturationKind as S};
        let (setup, y) = crate::fit::fixture::setup(60, &[(A::Geometric, S::Hill); 3], &[]);
        let plain = Posterior::new(&setup, &y);
        let theta: Vec<f64> = (0..plain.dim()).map(|i| 0.05 * i as f64 - 0.4).collect();
        let point = plain.unpack(&theta).unwrap();
        let pb = setup.base.len();
        let roi: Vec<f64> = plain
            .roi_per_coef_at(&point.u)
            .iter()
            .zip(&point.beta[pb..])
            .map(|(k, b)| k * b)
            .collect();
        let hinted = Posterior::with_roi_hint(&setup, &y, &roi);
        let t2 = hinted.pack(&point, 1e-12);
        for c in 0..3 {
            let w = t2[plain.n_u() + pb + c];
            assert!(
                (w - softplus_inv(1.0 / ROI_SCALE_FRACTION)).abs() < 1e-9,
                "{w}"
            );
        }
        let back = hinted.unpack(&t2).unwrap();
        for (a, b) in point.beta.iter().zip(&back.beta) {
            assert!((a - b).abs() <= 1e-9 * a.abs().max(1e-12));
        }
        // A second point: the same model parameters moved a little.
        let mut other = point.clone();
        other.beta.iter_mut().for_each(|b| *b *= 1.1);
        other.sigma *= 0.9;
        let mut g = vec![0.0; plain.dim()];
        let lp = |post: &Posterior, p: &JointPoint, g: &mut Vec<f64>| {
            post.logp(&post.pack(p, 1e-12), g).unwrap()
        };
        let d_plain = lp(&plain, &other, &mut g) - lp(&plain, &point, &mut g);
        let d_hinted = lp(&hinted, &other, &mut g) - lp(&hinted, &point, &mut g);
        // Jacobian terms −ln sigmoid(w) differ between the two maps; compare the rest.
        let jac = |post: &Posterior, p: &JointPoint| -> f64 {
            let t = post.pack(p, 1e-12);
            (0..3).map(|c| sigmoid(t[post.n_u() + pb + c]).ln()).sum()
        };
        let j_plain = jac(&plain, &other) - jac(&plain, &point);
        let j_hinted = jac(&hinted, &other) - jac(&hinted, &point);
        assert!(
            ((d_plain - j_plain) - (d_hinted - j_hinted)).abs() < 1e-8 * d_plain.abs().max(1.0),
            "{d_plain} {j_plain} {d_hinted} {j_hinted}"
        );
    }
}
