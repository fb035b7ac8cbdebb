//! Affine whitening `θ = θ̂ + L⁻ᵀ z`, with `θ̂` a mode and `H = L Lᵀ` the Hessian of the
//! negative log density there (central differences of the analytic gradient,
//! symmetrised, with the smallest diagonal ridge that makes it positive definite).
//!
//! In `z` the density is near-standard: the linear correlations a diagonal metric cannot
//! express (an always-on channel against the intercept, a coefficient against its
//! curve's half-saturation) are gone. NUTS samples `z` (so adaptation starts from a
//! well-conditioned target), and bootstrap refits minimise in `z` (so L-BFGS needs a few
//! steps instead of a hundred on large geo panels). The map is linear: its Jacobian is
//! constant and `∇_z = L⁻¹ ∇_θ`.

use super::Objective;
use crate::linalg::{Cholesky, SymMat};

/// `θ = θ̂ + L⁻ᵀ z` (`d` = dimension of θ).
pub(crate) struct Whitening {
    center: Vec<f64>,
    chol: Cholesky,
}

impl Whitening {
    /// At `center`, for the objective `neg` (value and gradient of `−ln p`); `None` if
    /// its gradient is not finite near `center`. A Hessian that no ridge makes positive
    /// definite gives the identity (θ's own scale).
    pub fn at(center: Vec<f64>, neg: Objective) -> Option<Whitening> {
        let d = center.len();
        let mut h = SymMat::zeros(d);
        let mut t = center.clone();
        let mut cols = Vec::with_capacity(d);
        for i in 0..d {
            let step = 1e-5 * (1.0 + center[i].abs());
            t[i] = center[i] + step;
            let gp = neg(&t)?.1;
            t[i] = center[i] - step;
            let gm = neg(&t)?.1;
            t[i] = center[i];
            cols.push(
                gp.iter()
                    .zip(&gm)
                    .map(|(a, b)| (a - b) / (2.0 * step))
                    .collect::<Vec<f64>>(),
            );
        }
        for (i, ci) in cols.iter().enumerate() {
            for (j, cj) in cols.iter().enumerate().take(i + 1) {
                h.set_sym(i, j, 0.5 * (ci[j] + cj[i]));
            }
        }
        let scale = (0..d)
            .map(|i| h.get(i, i).abs())
            .fold(0.0, f64::max)
            .max(1e-12);
        let mut ridge = 0.0;
        for _ in 0..20 {
            let mut hr = h.clone();
            (0..d).for_each(|i| hr.add_diag(i, ridge));
            if let Some(chol) = Cholesky::factor(&hr) {
                return Some(Whitening { center, chol });
            }
            ridge = if ridge == 0.0 {
                1e-8 * scale
            } else {
                ridge * 10.0
            };
        }
        let mut id = SymMat::zeros(d);
        (0..d).for_each(|i| id.add_diag(i, 1.0));
        Some(Whitening {
            center,
            chol: Cholesky::factor(&id)?,
        })
    }

    /// `θ = θ̂ + L⁻ᵀ z`.
    pub fn theta(&self, z: &[f64]) -> Vec<f64> {
        self.chol
            .solve_upper(z)
            .iter()
            .zip(&self.center)
            .map(|(a, c)| a + c)
            .collect()
    }

    /// `∇_z = L⁻¹ ∇_θ`.
    pub fn grad_z(&self, grad_theta: &[f64]) -> Vec<f64> {
        self.chol.solve_lower(grad_theta)
    }

    /// Minimise `neg` (in θ) over `z` from `z = 0` (θ = θ̂); returns θ at the optimum.
    pub fn minimize(
        &self,
        neg: Objective,
        max_iters: u64,
        tol: super::Tolerance,
    ) -> Option<Vec<f64>> {
        let fz = |z: &[f64]| {
            let (f, g) = neg(&self.theta(z))?;
            Some((f, self.grad_z(&g)))
        };
        let z0 = vec![0.0; self.center.len()];
        super::minimize_fn_tol(&fz, z0, max_iters, tol).map(|(z, _)| self.theta(&z))
    }
}
