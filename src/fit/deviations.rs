//! Per-geo media deviations profiled inside the objective: the joint solve of geo
//! pooling (a linear mixed model at every evaluation).
//!
//! Geo g's coefficient of channel c is `β_c + γ_gc`, `γ_gc ~ Normal(0, s_c²)` with
//! `s_c = τ_c β̂_c` fixed within a problem ([`super::Setup::geo_dev`]; `τ_c` is the
//! empirical-Bayes spread of [`super::geo`]). Given the shapes `u` the model is linear in
//! `θ = [β (p) | γ_1 (k) | … | γ_G (k)]` (`k` channels with `s_c > 0`), and its normal
//! equations are block-arrowhead:
//!
//! ```text
//! [ A     C_1 … C_G ] [ β   ]   [ b   ]
//! [ C_gᵀ  D_g       ] [ γ_g ] = [ b_g ]     D_g = Z_gᵀ Z_g + diag(σ²/s²)   (k × k)
//! ```
//!
//! `Z_g` holds the deviating channels' columns restricted to geo g's rows (`[tf × k]`),
//! `C_g = Xᵀ Z_g` (`[p × k]`, `X` the baseline and media columns) and `b_g = Z_gᵀ y`.
//! Eliminating every `γ_g` (a Schur complement per geo) leaves a system in β alone,
//! `S = A − Σ_g C_g D_g⁻¹ C_gᵀ`, `b_S = b − Σ_g C_g D_g⁻¹ b_g`, solved with the media
//! coefficients non-negative exactly as without deviations (γ is unconstrained, so
//! profiling it is exact); then `γ_g = D_g⁻¹ (b_g − C_gᵀ β)`. For the Laplace term,
//! `ln det(full) = ln det S + Σ_g ln det D_g`, and columns of `(full)⁻¹` come from the
//! same blocks ([`Deviations::inverse_media_column`], [`Deviations::inverse_geo_column`]).
//!
//! Unlike alternating between geo factors and shapes (backfitting), the shapes are then
//! estimated with every geo's deviations adapting to them: one objective, one optimum.

use super::problem::{dot, Setup};
use crate::linalg::{Cholesky, SymMat};

/// One geo's block: the factor of `D_g`, `C_g` as `k` columns of length `p`, and `b_g`.
struct Block {
    chol: Cholesky,
    cross: Vec<Vec<f64>>,
    rhs: Vec<f64>,
}

impl Block {
    /// Column `a` of `D_g⁻¹` (`k` = the block's size).
    fn inverse_column(&self, a: usize, k: usize) -> Vec<f64> {
        let mut e = vec![0.0; k];
        e[a] = 1.0;
        self.chol.solve(&e)
    }
}

/// The per-geo blocks of one evaluation (columns at the current shapes).
pub(crate) struct Deviations {
    /// Channels with a deviation (`s_c > 0`), in order; position `a` is `γ_g[a]`.
    pub active: Vec<usize>,
    tf: usize,
    blocks: Vec<Block>,
}

impl Deviations {
    /// The blocks for channel columns `cols` (`[n_channels][n]`) and response `y` at noise
    /// variance `sigma2`; `None` when a block is not positive definite (non-finite
    /// columns). Call only when [`Setup::deviating`] is non-empty.
    pub fn build(s: &Setup, cols: &[Vec<f64>], y: &[f64], sigma2: f64) -> Option<Deviations> {
        Self::build_with(s, cols, y, sigma2, true)
    }

    /// [`Deviations::build`], with `C_g` only when `cross` (without it, `C_g` is left zero:
    /// enough for `D_g` and `b_g`, as when `y` is already a residual, see
    /// [`Deviations::collapse`]).
    pub fn build_with(
        s: &Setup,
        cols: &[Vec<f64>],
        y: &[f64],
        sigma2: f64,
        cross: bool,
    ) -> Option<Deviations> {
        let active = s.deviating();
        let tf = s.t1 - s.t0;
        let pb = s.base.len();
        let nc = s.channels.len();
        let k = active.len();
        let blocks = (0..s.n_geos)
            .map(|g| {
                let rows = g * tf..(g + 1) * tf;
                let mut d = SymMat::zeros(k);
                let mut cross_g = vec![vec![0.0; pb + nc]; k];
                let mut rhs = vec![0.0; k];
                for (a, &c) in active.iter().enumerate() {
                    let z = &cols[c][rows.clone()];
                    rhs[a] = dot(z, &y[rows.clone()]);
                    if cross {
                        for (i, x) in cross_g[a][..pb].iter_mut().enumerate() {
                            *x = s.base_dot_within(i, z, rows.clone());
                        }
                        for (x, col) in cross_g[a][pb..].iter_mut().zip(cols) {
                            *x = dot(&col[rows.clone()], z);
                        }
                    }
                    for (b, &c2) in active.iter().enumerate().take(a + 1) {
                        let v = if cross {
                            cross_g[a][pb + c2]
                        } else {
                            dot(&cols[c2][rows.clone()], z)
                        };
                        d.set_sym(a, b, v);
                    }
                    d.add_diag(a, sigma2 / (s.geo_dev[c] * s.geo_dev[c]));
                }
                Some(Block {
                    chol: Cholesky::factor(&d)?,
                    cross: cross_g,
                    rhs,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Deviations { active, tf, blocks })
    }

    /// Eliminate every γ: `a ← a − Σ_g C_g D_g⁻¹ C_gᵀ`, `b ← b − Σ_g C_g D_g⁻¹ b_g`
    /// (with `V = L_g⁻¹ C_gᵀ`, the update is `VᵀV`).
    pub fn reduce(&self, a: &mut SymMat, b: &mut [f64]) {
        let p = a.n;
        for bl in &self.blocks {
            let v: Vec<Vec<f64>> = (0..p)
                .map(|j| {
                    let col: Vec<f64> = bl.cross.iter().map(|c| c[j]).collect();
                    bl.chol.solve_lower(&col)
                })
                .collect();
            let vb = bl.chol.solve_lower(&bl.rhs);
            for i in 0..p {
                if v[i].iter().all(|x| *x == 0.0) {
                    continue;
                }
                for j in 0..=i {
                    let x = dot(&v[i], &v[j]);
                    a.a[i * p + j] -= x;
                    if i != j {
                        a.a[j * p + i] -= x;
                    }
                }
                b[i] -= dot(&v[i], &vb);
            }
        }
    }

    /// The deviations integrated out of a Gaussian likelihood whose residual at the national
    /// coefficients is `r` (the blocks built with `y = r`): per geo
    /// `r_g ~ Normal(0, σ² I + Z_g diag(s²) Z_gᵀ)`, whose negative log density beyond the
    /// deviation-free `‖r‖²/(2σ²) + n ln σ` is
    /// `−b_gᵀ D_g⁻¹ b_g/(2σ²) + ½ ln det D_g − k ln σ` (+ const; Woodbury and the matrix
    /// determinant lemma, `D_g = Z_gᵀZ_g + σ² diag(1/s²)`).
    ///
    /// Returns that term summed over geos and, per geo, `γ̂_g = D_g⁻¹ b_g` (the posterior
    /// mean of the deviations, `[n_geos][k]`), with `∂/∂ln σ` of the term. Its gradient in
    /// `r` is `−Σ_g Z_g γ̂_g / σ²` (so the likelihood's gradient takes the residual
    /// `e = r − Σ_g Z_g γ̂_g`), and in the columns see [`Deviations::logdet_direction`].
    pub fn collapse(&self, s: &Setup, sigma2: f64) -> (f64, Vec<Vec<f64>>, f64) {
        let k = self.active.len() as f64;
        let mut term = 0.0;
        let mut d_ls = 0.0;
        let gammas = self
            .blocks
            .iter()
            .map(|bl| {
                let gm = bl.chol.solve(&bl.rhs);
                let q = dot(&gm, &bl.rhs);
                term += -q / (2.0 * sigma2) + 0.5 * bl.chol.logdet() - k * 0.5 * sigma2.ln();
                d_ls += q / sigma2 - k;
                for (a, &c) in self.active.iter().enumerate() {
                    let v = s.geo_dev[c] * s.geo_dev[c];
                    let dinv = bl.inverse_column(a, self.active.len())[a];
                    d_ls += gm[a] * gm[a] / v + sigma2 * dinv / v;
                }
                gm
            })
            .collect();
        (term, gammas, d_ls)
    }

    /// Per geo, `Z_g D_g⁻¹ e_a` written into geo g's rows of a vector `[n]`: the direction
    /// whose product with channel `active[a]`'s column derivative is that derivative of
    /// `½ Σ_g ln det D_g` (`½ tr(D⁻¹ ∂D) = tr(D⁻¹ Z_gᵀ ∂Z_g)`).
    pub fn logdet_direction(&self, a: usize, cols: &[Vec<f64>], n: usize) -> Vec<f64> {
        let k = self.active.len();
        let mut v = vec![0.0; n];
        for (g, bl) in self.blocks.iter().enumerate() {
            self.add_geo(g, &bl.inverse_column(a, k), cols, &mut v);
        }
        v
    }

    /// `Σ_g ln det D_g`.
    pub fn logdet(&self) -> f64 {
        self.blocks.iter().map(|b| b.chol.logdet()).sum()
    }

    /// The deviations given β: `γ_g = D_g⁻¹ (b_g − C_gᵀ β)`, `[n_geos][k]`.
    pub fn gammas(&self, beta: &[f64]) -> Vec<Vec<f64>> {
        self.blocks
            .iter()
            .map(|bl| {
                let r: Vec<f64> = bl
                    .rhs
                    .iter()
                    .zip(&bl.cross)
                    .map(|(b, c)| b - dot(c, beta))
                    .collect();
                bl.chol.solve(&r)
            })
            .collect()
    }

    /// Channel `c`'s position among the deviating channels (`None`: it has no deviation).
    pub fn slot(&self, c: usize) -> Option<usize> {
        self.active.iter().position(|&x| x == c)
    }

    /// `r −= Σ_g Z_g γ_g` (`gammas` = `[n_geos][k]`): a residual net of the deviations.
    pub fn subtract(&self, gammas: &[Vec<f64>], cols: &[Vec<f64>], r: &mut [f64]) {
        for (g, gg) in gammas.iter().enumerate() {
            let neg: Vec<f64> = gg.iter().map(|v| -v).collect();
            self.add_geo(g, &neg, cols, r);
        }
    }

    /// `Σ_g (β_c + γ_g[a]) · d_gᵀ e_g`: the envelope term of a derivative `d` (`[n]`) of
    /// the column of the channel at slot `a`, against the residual `e` net of the
    /// deviations (each geo's coefficient is its own).
    pub fn envelope(
        &self,
        a: usize,
        beta_c: f64,
        gammas: &[Vec<f64>],
        d: &[f64],
        e: &[f64],
    ) -> f64 {
        let tf = self.tf;
        gammas
            .iter()
            .enumerate()
            .map(|(g, gg)| {
                let rows = g * tf..(g + 1) * tf;
                (beta_c + gg[a]) * dot(&e[rows.clone()], &d[rows])
            })
            .sum()
    }

    /// `v[rows of g] += Σ_a w[a] · cols[active[a]][rows of g]` (`w` = `[k]`).
    pub fn add_geo(&self, g: usize, w: &[f64], cols: &[Vec<f64>], v: &mut [f64]) {
        let rows = g * self.tf..(g + 1) * self.tf;
        for (&c, wa) in self.active.iter().zip(w) {
            if *wa != 0.0 {
                v[rows.clone()]
                    .iter_mut()
                    .zip(&cols[c][rows.clone()])
                    .for_each(|(o, x)| *o += wa * x);
            }
        }
    }

    /// The γ part of a column of `(full)⁻¹` whose β part is `x1` and whose right-hand side
    /// has no γ part: `x2_g = −D_g⁻¹ C_gᵀ x1` per geo (`[n_geos][k]`).
    pub fn inverse_media_column(&self, x1: &[f64]) -> Vec<Vec<f64>> {
        self.blocks
            .iter()
            .map(|bl| {
                let t: Vec<f64> = bl.cross.iter().map(|c| -dot(c, x1)).collect();
                bl.chol.solve(&t)
            })
            .collect()
    }

    /// Column `(g, a)` of `(full)⁻¹` (the unit vector on `γ_g[a]`): its β part
    /// `w1 = −S⁻¹ C_g D_g⁻¹ e_a` and its geo-g part `w2 = D_g⁻¹ (e_a − C_gᵀ w1)` (the
    /// other geos' parts are not needed: their columns are zero in geo g's rows).
    pub fn inverse_geo_column(&self, g: usize, a: usize, schur: &Cholesky) -> (Vec<f64>, Vec<f64>) {
        let bl = &self.blocks[g];
        let h = bl.inverse_column(a, self.active.len());
        let p = bl.cross.first().map_or(0, |c| c.len());
        let t: Vec<f64> = (0..p)
            .map(|j| -bl.cross.iter().zip(&h).map(|(c, x)| c[j] * x).sum::<f64>())
            .collect();
        let w1 = schur.solve(&t);
        let r: Vec<f64> = bl
            .cross
            .iter()
            .enumerate()
            .map(|(b, c)| {
                let e_ab = if b == a { 1.0 } else { 0.0 };
                e_ab - dot(c, &w1)
            })
            .collect();
        (w1, bl.chol.solve(&r))
    }
}

#[cfg(test)]
mod tests {
    use crate::fit::fixture;
    use crate::linalg::{Cholesky, SymMat};

    /// A 4-geo setup with deviations on every channel but the last, at a shifted point.
    fn geo_problem() -> (crate::fit::Setup, Vec<f64>, Vec<f64>) {
        let (mut setup, y) = fixture::geo_setup(4, 60, 3);
        setup.geo_dev = vec![0.4, 0.25, 0.0];
        let u = fixture::shifted_center(&setup);
        (setup, y, u)
    }

    /// The envelope and Laplace gradients with deviations equal central differences.
    #[test]
    fn gradient_with_deviations_matches_finite_differences() {
        let (setup, y, u) = geo_problem();
        for laplace in [false, true] {
            let setup = crate::fit::Setup {
                laplace,
                ..setup.clone()
            };
            let p = setup.problem(y.clone(), 0.01);
            let e = p.eval(&u, false).unwrap();
            assert!(e.deviation[0].iter().any(|g| g.abs() > 1e-6));
            assert!(e.deviation[2].iter().all(|g| *g == 0.0));
            fixture::assert_gradient(&p, &u, &format!("laplace {laplace}"));
        }
    }

    /// Eliminating the deviations per geo gives the solution, penalised fit and log
    /// determinant of the full system written out with one column per (geo, channel).
    #[test]
    fn schur_elimination_matches_the_full_system() {
        let (mut setup, y, u) = geo_problem();
        for ch in setup.channels.iter_mut() {
            ch.roi_prior = None;
            ch.pooled = false;
        }
        setup.pool = None;
        setup.laplace = true;
        let sigma2 = 0.01;
        let p = setup.problem(y.clone(), sigma2);
        let e = p.eval(&u, false).unwrap();
        // The full design: baseline, national media, then each geo's deviating columns.
        let (cols, _) = setup.columns(&u, false);
        let n = setup.n_obs();
        let tf = setup.t1 - setup.t0;
        let mut x: Vec<Vec<f64>> = setup.base.clone();
        x.extend(cols.iter().cloned());
        let mut ridge = setup.ridge.clone();
        for g in 0..setup.n_geos {
            for c in [0, 1] {
                let mut z = vec![0.0; n];
                z[g * tf..(g + 1) * tf].copy_from_slice(&cols[c][g * tf..(g + 1) * tf]);
                x.push(z);
                ridge.push(sigma2 / (setup.geo_dev[c] * setup.geo_dev[c]));
            }
        }
        let m = x.len();
        let mut a = SymMat::zeros(m);
        let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
        for i in 0..m {
            for j in 0..=i {
                a.set_sym(i, j, dot(&x[i], &x[j]));
            }
            a.add_diag(i, ridge[i]);
        }
        let b: Vec<f64> = x.iter().map(|c| dot(c, &y)).collect();
        let chol = Cholesky::factor(&a).unwrap();
        let theta = chol.solve(&b);
        let pb = setup.base.len();
        assert!(theta[pb..pb + 3].iter().all(|v| *v > 0.0), "{theta:?}");
        let scale = theta.iter().map(|v| v.abs()).fold(0.0, f64::max);
        for (i, v) in e.beta.iter().enumerate() {
            assert!(
                (v - theta[i]).abs() < 1e-8 * scale,
                "beta {i}: {v} vs {}",
                theta[i]
            );
        }
        for g in 0..setup.n_geos {
            for c in [0, 1] {
                let full = theta[pb + 3 + 2 * g + c];
                let got = e.deviation[c][g];
                assert!(
                    (got - full).abs() < 1e-8 * scale,
                    "γ[{g}][{c}]: {got} vs {full}"
                );
            }
        }
        let mut r = y.clone();
        for (col, t) in x.iter().zip(&theta) {
            r.iter_mut().zip(col).for_each(|(rv, xv)| *rv -= t * xv);
        }
        let sse = dot(&r, &r);
        let pen: f64 = ridge.iter().zip(&theta).map(|(l, t)| l * t * t).sum();
        let prior = setup.u_prior(&u, &setup.prior_center(), None);
        let f = (sse + pen) / (2.0 * sigma2) + prior + 0.5 * chol.logdet();
        assert!(
            (e.f - f).abs() < 1e-7 * f.abs().max(1.0),
            "f {} vs {f}",
            e.f
        );
        assert!((e.sse - sse).abs() < 1e-9 * sse.max(1e-12));
    }
}
