//! Small dense linear algebra for the regression inside the fit (a few dozen columns at
//! most), written out here: a Cholesky solve and an active-set non-negative least squares
//! over the Gram matrix. No system BLAS/LAPACK is needed and the sizes make a library's
//! blocking pointless.

/// A dense symmetric matrix stored row-major, `n × n`.
#[derive(Debug, Clone, PartialEq)]
pub struct SymMat {
    /// Dimension.
    pub n: usize,
    /// Row-major values, `[n * n]`.
    pub a: Vec<f64>,
}

impl SymMat {
    /// An `n × n` zero matrix.
    pub fn zeros(n: usize) -> Self {
        SymMat {
            n,
            a: vec![0.0; n * n],
        }
    }

    /// Element `(i, j)`.
    #[inline]
    pub fn get(&self, i: usize, j: usize) -> f64 {
        self.a[i * self.n + j]
    }

    /// Set `(i, j)` and `(j, i)`.
    #[inline]
    pub fn set_sym(&mut self, i: usize, j: usize, v: f64) {
        self.a[i * self.n + j] = v;
        self.a[j * self.n + i] = v;
    }

    /// Add `v` to the diagonal element `(i, i)`.
    #[inline]
    pub fn add_diag(&mut self, i: usize, v: f64) {
        self.a[i * self.n + i] += v;
    }
}

/// Solve `A x = b` for symmetric positive definite `A` restricted to the index set `idx`
/// (other entries of the result are zero). Returns `None` if `A[idx, idx]` is not
/// numerically positive definite.
pub fn cholesky_solve_subset(a: &SymMat, b: &[f64], idx: &[usize]) -> Option<Vec<f64>> {
    let m = idx.len();
    let mut sub = SymMat::zeros(m);
    for (i, &ii) in idx.iter().enumerate() {
        for (j, &jj) in idx.iter().enumerate() {
            sub.a[i * m + j] = a.get(ii, jj);
        }
    }
    let rhs: Vec<f64> = idx.iter().map(|&i| b[i]).collect();
    let x = Cholesky::factor(&sub)?.solve(&rhs);
    let mut out = vec![0.0; a.n];
    for (k, &i) in idx.iter().enumerate() {
        out[i] = x[k];
    }
    Some(out)
}

/// Minimise `½ xᵀAx − bᵀx` subject to `x_i ≥ 0` where `nonneg[i]` (Lawson–Hanson active
/// set on the normal equations). `A` must be positive definite on every subset (add a
/// small ridge). Returns `None` only if a sub-solve fails.
pub fn nnls_gram(a: &SymMat, b: &[f64], nonneg: &[bool]) -> Option<Vec<f64>> {
    let n = a.n;
    let all: Vec<usize> = (0..n).collect();
    let x = cholesky_solve_subset(a, b, &all)?;
    if (0..n).all(|i| !nonneg[i] || x[i] >= 0.0) {
        return Some(x);
    }
    let mut passive: Vec<bool> = (0..n).map(|i| !nonneg[i]).collect();
    let mut x = {
        let idx: Vec<usize> = (0..n).filter(|&i| passive[i]).collect();
        if idx.is_empty() {
            vec![0.0; n]
        } else {
            cholesky_solve_subset(a, b, &idx)?
        }
    };
    for _outer in 0..(3 * n + 10) {
        let grad: Vec<f64> = (0..n)
            .map(|i| b[i] - (0..n).map(|j| a.get(i, j) * x[j]).sum::<f64>())
            .collect();
        let scale = b.iter().map(|v| v.abs()).fold(1e-12, f64::max);
        let cand = (0..n)
            .filter(|&i| !passive[i])
            .max_by(|&i, &j| grad[i].total_cmp(&grad[j]));
        match cand {
            Some(i) if grad[i] > 1e-10 * scale => passive[i] = true,
            _ => return Some(x),
        }
        for _inner in 0..(3 * n + 10) {
            let idx: Vec<usize> = (0..n).filter(|&i| passive[i]).collect();
            let z = cholesky_solve_subset(a, b, &idx)?;
            let bad: Vec<usize> = idx
                .iter()
                .copied()
                .filter(|&i| nonneg[i] && z[i] <= 0.0)
                .collect();
            if bad.is_empty() {
                x = z;
                break;
            }
            let mut alpha = 1.0f64;
            for &i in &bad {
                let d = x[i] - z[i];
                if d > 0.0 {
                    alpha = alpha.min(x[i] / d);
                }
            }
            for i in 0..n {
                x[i] += alpha * (z[i] - x[i]);
            }
            for i in 0..n {
                if nonneg[i] && passive[i] && x[i] <= 1e-14 {
                    passive[i] = false;
                    x[i] = 0.0;
                }
            }
        }
    }
    Some(x)
}

/// A Cholesky factor `A = L Lᵀ` of a symmetric positive definite matrix, for repeated
/// solves and the log determinant.
pub struct Cholesky {
    n: usize,
    /// Row-major lower triangle, `[n * n]`.
    l: Vec<f64>,
}

impl Cholesky {
    /// Factor `a`; `None` if it is not (numerically) positive definite.
    pub fn factor(a: &SymMat) -> Option<Cholesky> {
        let n = a.n;
        let mut l = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..=i {
                let mut s = a.get(i, j);
                for k in 0..j {
                    s -= l[i * n + k] * l[j * n + k];
                }
                if i == j {
                    if s <= 1e-300 || !s.is_finite() {
                        return None;
                    }
                    l[i * n + i] = s.sqrt();
                } else {
                    l[i * n + j] = s / l[j * n + j];
                }
            }
        }
        Some(Cholesky { n, l })
    }

    /// `ln det A`.
    pub fn logdet(&self) -> f64 {
        2.0 * (0..self.n)
            .map(|i| self.l[i * self.n + i].ln())
            .sum::<f64>()
    }

    /// Solve `A x = b`.
    pub fn solve(&self, b: &[f64]) -> Vec<f64> {
        self.solve_upper(&self.solve_lower(b))
    }

    /// `L⁻¹ b` (forward substitution).
    pub fn solve_lower(&self, b: &[f64]) -> Vec<f64> {
        let n = self.n;
        let l = &self.l;
        let mut z = vec![0.0; n];
        for i in 0..n {
            let s: f64 = (0..i).map(|k| l[i * n + k] * z[k]).sum();
            z[i] = (b[i] - s) / l[i * n + i];
        }
        z
    }

    /// `L⁻ᵀ b` (back substitution).
    pub fn solve_upper(&self, b: &[f64]) -> Vec<f64> {
        let n = self.n;
        let l = &self.l;
        let mut z = b.to_vec();
        for i in (0..n).rev() {
            let s: f64 = (i + 1..n).map(|k| l[k * n + i] * z[k]).sum();
            z[i] = (z[i] - s) / l[i * n + i];
        }
        z
    }
}

/// Ordinary least squares `y ≈ X β` with `X` given by its columns (`[p][n]`): the
/// coefficients, their standard errors `√(σ̂² (XᵀX)⁻¹ⱼⱼ)` with `σ̂² = RSS / (n − p)`, and
/// σ̂. `None` when `n ≤ p` or `XᵀX` is singular.
pub fn ols(columns: &[&[f64]], y: &[f64]) -> Option<Ols> {
    let (p, n) = (columns.len(), y.len());
    if n <= p || columns.iter().any(|c| c.len() != n) {
        return None;
    }
    let mut g = SymMat::zeros(p);
    let mut b = vec![0.0; p];
    for i in 0..p {
        for j in 0..=i {
            let v: f64 = columns[i].iter().zip(columns[j]).map(|(a, c)| a * c).sum();
            g.set_sym(i, j, v);
        }
        b[i] = columns[i].iter().zip(y).map(|(a, c)| a * c).sum();
    }
    let ch = Cholesky::factor(&g)?;
    let beta = ch.solve(&b);
    let rss: f64 = (0..n)
        .map(|t| {
            let f: f64 = (0..p).map(|j| beta[j] * columns[j][t]).sum();
            (y[t] - f).powi(2)
        })
        .sum();
    let s2 = rss / (n - p) as f64;
    let se = (0..p)
        .map(|j| {
            let mut e = vec![0.0; p];
            e[j] = 1.0;
            (s2 * ch.solve(&e)[j]).max(0.0).sqrt()
        })
        .collect();
    Some(Ols {
        beta,
        se,
        sigma: s2.sqrt(),
    })
}

/// An [`ols`] fit.
#[derive(Debug, Clone, PartialEq)]
pub struct Ols {
    /// Coefficients, `[p]`.
    pub beta: Vec<f64>,
    /// Standard errors, `[p]`.
    pub se: Vec<f64>,
    /// Residual standard deviation.
    pub sigma: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mat(n: usize, v: &[f64]) -> SymMat {
        SymMat { n, a: v.to_vec() }
    }

    #[test]
    fn cholesky_solves_hand_case() {
        // [[4,2],[2,3]] x = [2, 1]  →  x = [0.5, 0]
        let a = mat(2, &[4.0, 2.0, 2.0, 3.0]);
        let x = cholesky_solve_subset(&a, &[2.0, 1.0], &[0, 1]).unwrap();
        assert!((x[0] - 0.5).abs() < 1e-12 && x[1].abs() < 1e-12);
    }

    #[test]
    fn nnls_clamps_negative_and_keeps_free() {
        // Unconstrained optimum of ½xᵀAx − bᵀx with A = I is x = b = [1, −2, −3];
        // with x1 ≥ 0 only, the answer is [1, 0, −3].
        let a = mat(3, &[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]);
        let x = nnls_gram(&a, &[1.0, -2.0, -3.0], &[false, true, false]).unwrap();
        assert_eq!(x, vec![1.0, 0.0, -3.0]);
    }

    #[test]
    fn nnls_correlated_case_matches_kkt() {
        // A = [[2,1],[1,2]], b = [1, -1]: unconstrained x = [1, -1]; with x ≥ 0 the optimum
        // is x = [0.5, 0] (gradient on x2: b2 − A21·x1 = −1.5 ≤ 0).
        let a = mat(2, &[2.0, 1.0, 1.0, 2.0]);
        let x = nnls_gram(&a, &[1.0, -1.0], &[true, true]).unwrap();
        assert!((x[0] - 0.5).abs() < 1e-12 && x[1] == 0.0);
    }

    #[test]
    fn ols_hand_case() {
        // y = 1 + 2x exactly except one point: x = 0,1,2,3; y = 1,3,5,8.
        let one = [1.0; 4];
        let x = [0.0, 1.0, 2.0, 3.0];
        let y = [1.0, 3.0, 5.0, 8.0];
        let f = ols(&[&one, &x], &y).unwrap();
        // Normal equations: [4 6; 6 14] β = [17; 37] → β = (0.8, 2.3).
        assert!((f.beta[0] - 0.8).abs() < 1e-12 && (f.beta[1] - 2.3).abs() < 1e-12);
        // Residuals 0.2, −0.1, −0.4, 0.3: RSS 0.3, σ̂² 0.15; (XᵀX)⁻¹₁₁ = 4/20.
        assert!((f.se[1] - (0.15f64 * 0.2).sqrt()).abs() < 1e-12);
        assert!(ols(&[&one, &one], &y).is_none());
    }
}
