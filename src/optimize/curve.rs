//! A channel's objective as a function of its total spend, tabulated once (values and
//! exact slopes) and interpolated by cubic Hermite splines, so the solver can evaluate
//! it millions of times at the cost of a table lookup.

/// Cubic Hermite interpolant on `[0, x_max]` with nodes `x_j = x_max (j/J)²` (dense near
/// zero, where S-curves and carry-free channels bend most). Beyond `x_max` it extends
/// linearly.
#[derive(Debug, Clone, PartialEq)]
pub struct Curve {
    x_max: f64,
    x: Vec<f64>,
    f: Vec<f64>,
    d: Vec<f64>,
    max_slope: f64,
    /// The first interval is a straight line (the curve starts vertically).
    linear_head: bool,
}

impl Curve {
    /// Tabulate `eval(x) = (F(x), F'(x))` at `intervals + 1` nodes on `[0, x_max]`.
    pub fn tabulate(x_max: f64, intervals: usize, eval: impl Fn(f64) -> (f64, f64)) -> Curve {
        let j = intervals.max(2);
        let x_max = if x_max > 0.0 && x_max.is_finite() {
            x_max
        } else {
            1.0
        };
        let x: Vec<f64> = (0..=j)
            .map(|i| x_max * (i as f64 / j as f64).powi(2))
            .collect();
        let (f, d): (Vec<f64>, Vec<f64>) = x.iter().map(|&v| eval(v)).unzip();
        Curve::from_nodes(x_max, x, f, d)
    }

    /// Build from node values and slopes (nodes as [`Curve::tabulate`] places them).
    pub fn from_nodes(x_max: f64, x: Vec<f64>, f: Vec<f64>, mut d: Vec<f64>) -> Curve {
        // An infinite or huge slope at zero (Hill with slope < 1 and no carryover) cannot
        // be followed by a cubic: the first interval becomes the secant line.
        let mut linear_head = false;
        if x.len() > 1 {
            let secant = (f[1] - f[0]) / (x[1] - x[0]);
            if !d[0].is_finite() || d[0] > 3.0 * secant {
                d[0] = secant;
                linear_head = true;
            }
        }
        d.iter_mut().for_each(|v| {
            if !v.is_finite() {
                *v = 0.0;
            }
        });
        let max_slope = d.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        Curve {
            x_max,
            x,
            f,
            d,
            max_slope,
            linear_head,
        }
    }

    fn locate(&self, x: f64) -> usize {
        let j = self.x.len() - 1;
        let i = ((x / self.x_max).max(0.0).sqrt() * j as f64) as usize;
        let mut i = i.min(j - 1);
        while i > 0 && self.x[i] > x {
            i -= 1;
        }
        while i + 1 < j && self.x[i + 1] < x {
            i += 1;
        }
        i
    }

    /// Interpolated value.
    #[inline]
    pub fn value(&self, x: f64) -> f64 {
        let j = self.x.len() - 1;
        if x <= 0.0 {
            return self.f[0];
        }
        if x >= self.x_max {
            return self.f[j] + self.d[j] * (x - self.x_max);
        }
        let i = self.locate(x);
        let h = self.x[i + 1] - self.x[i];
        if i == 0 && self.linear_head {
            return self.f[0] + self.d[0] * x;
        }
        let t = (x - self.x[i]) / h;
        let (t2, t3) = (t * t, t * t * t);
        (2.0 * t3 - 3.0 * t2 + 1.0) * self.f[i]
            + (t3 - 2.0 * t2 + t) * h * self.d[i]
            + (-2.0 * t3 + 3.0 * t2) * self.f[i + 1]
            + (t3 - t2) * h * self.d[i + 1]
    }

    /// Interpolated slope.
    #[inline]
    pub fn slope(&self, x: f64) -> f64 {
        let j = self.x.len() - 1;
        if x >= self.x_max {
            return self.d[j];
        }
        let x = x.max(0.0);
        let i = self.locate(x);
        if i == 0 && self.linear_head {
            return self.d[0];
        }
        let h = self.x[i + 1] - self.x[i];
        let t = (x - self.x[i]) / h;
        let t2 = t * t;
        ((6.0 * t2 - 6.0 * t) * self.f[i]
            + (3.0 * t2 - 4.0 * t + 1.0) * h * self.d[i]
            + (-6.0 * t2 + 6.0 * t) * self.f[i + 1]
            + (3.0 * t2 - 2.0 * t) * h * self.d[i + 1])
            / h
    }

    /// Largest tabulated slope.
    pub fn max_slope(&self) -> f64 {
        self.max_slope
    }

    /// The nodes.
    pub fn nodes(&self) -> &[f64] {
        &self.x
    }

    /// Node spacing around `x`.
    pub fn node_spacing_near(&self, x: f64) -> f64 {
        let i = self.locate(x.clamp(0.0, self.x_max));
        self.x[i + 1] - self.x[i]
    }

    /// Upper end of the table.
    pub fn x_max(&self) -> f64 {
        self.x_max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolates_a_hill_curve_closely() {
        let hill = |x: f64| {
            let q = (2.0f64 / x).powf(2.5);
            let f = 1.0 / (1.0 + q);
            (f, f * f * 2.5 * q / x)
        };
        let c = Curve::tabulate(10.0, 64, |x| if x <= 0.0 { (0.0, 0.0) } else { hill(x) });
        for i in 1..1000 {
            let x = i as f64 * 0.01;
            let (f, d) = hill(x);
            assert!(
                (c.value(x) - f).abs() < 2e-6,
                "x {x}: {} vs {f}",
                c.value(x)
            );
            assert!(
                (c.slope(x) - d).abs() < 2e-4,
                "x {x}: {} vs {d}",
                c.slope(x)
            );
        }
        assert!((c.value(12.0) - (hill(10.0).0 + 2.0 * hill(10.0).1)).abs() < 1e-12);
    }
}
