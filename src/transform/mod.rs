//! Media transforms: carryover (adstock) and diminishing returns (saturation).
//!
//! Kernels are plain functions over slices; the closed sets of forms are enums that
//! serialise with a `kind` tag so a fitted model records exactly what it applied.

pub mod adstock;
pub mod saturation;

pub use adstock::{Adstock, AdstockKind};
pub use saturation::{Saturation, SaturationKind};

/// A parameter of a transform with the box it is searched in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParamBox {
    /// Lowest allowed value.
    pub lo: f64,
    /// Highest allowed value.
    pub hi: f64,
    /// Centre of the default prior (inside `lo..hi`).
    pub center: f64,
    /// Prior standard deviation on the unconstrained (logit) scale.
    pub sd: f64,
}

impl ParamBox {
    /// Map an unconstrained value to the box: `lo + (hi - lo) · sigmoid(u)`.
    pub fn from_unconstrained(&self, u: f64) -> f64 {
        self.lo + (self.hi - self.lo) / (1.0 + (-u).exp())
    }

    /// Inverse of [`ParamBox::from_unconstrained`], clamped away from the edges.
    pub fn to_unconstrained(&self, v: f64) -> f64 {
        let w = self.hi - self.lo;
        if w <= 0.0 {
            return 0.0;
        }
        let p = ((v - self.lo) / w).clamp(1e-6, 1.0 - 1e-6);
        (p / (1.0 - p)).ln()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Every adstock variant, once each.
    fn all_adstocks() -> Vec<Adstock> {
        vec![
            Adstock::Geometric {
                decay: 0.6,
                max_lag: 10,
                normalize: true,
            },
            Adstock::Geometric {
                decay: 0.3,
                max_lag: 6,
                normalize: false,
            },
            Adstock::WeibullCdf {
                shape: 1.5,
                scale: 0.3,
                max_lag: 10,
                normalize: true,
            },
            Adstock::WeibullPdf {
                shape: 2.0,
                scale: 0.3,
                max_lag: 10,
                normalize: true,
            },
            Adstock::Delayed {
                decay: 0.5,
                peak: 2.0,
                max_lag: 10,
                normalize: true,
            },
            Adstock::None,
        ]
    }

    /// Every saturation variant, once each.
    fn all_saturations() -> Vec<Saturation> {
        vec![
            Saturation::Hill { k: 0.8, s: 2.0 },
            Saturation::Hill { k: 1.5, s: 0.7 },
            Saturation::Logistic { lambda: 1.3 },
            Saturation::None,
        ]
    }

    /// Analytic weight derivatives equal the weights' central differences (relative 1e-5),
    /// for every kind, normalised or not, at several parameter values.
    #[test]
    fn weight_gradients_match_finite_differences() {
        for a in all_adstocks() {
            for normalize in [true, false] {
                for scale in [0.6, 1.0, 1.7] {
                    let kind = a.kind();
                    let p: Vec<f64> = a
                        .params()
                        .iter()
                        .enumerate()
                        .map(|(i, v)| {
                            if i == 0 {
                                (v * scale).min(0.89)
                            } else {
                                v * scale
                            }
                        })
                        .collect();
                    let ad = kind.build(&p, a.max_lag(), normalize);
                    let (w, dw) = ad.weights_and_grad();
                    for (a, b) in w.iter().zip(ad.weights()) {
                        assert!((a - b).abs() <= 1e-12 * (1.0 + b.abs()), "{ad:?}");
                    }
                    assert_eq!(dw.len(), p.len());
                    for (k, d) in dw.iter().enumerate() {
                        let h = 1e-6 * (1.0 + p[k].abs());
                        let mut pp = p.clone();
                        pp[k] += h;
                        let wp = kind.build(&pp, a.max_lag(), normalize).weights();
                        pp[k] -= 2.0 * h;
                        let wm = kind.build(&pp, a.max_lag(), normalize).weights();
                        for l in 0..w.len() {
                            let fd = (wp[l] - wm[l]) / (2.0 * h);
                            assert!(
                                (d[l] - fd).abs() <= 1e-5 * (1.0 + fd.abs()),
                                "{ad:?} param {k} lag {l}: analytic {} vs fd {fd}",
                                d[l]
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn geometric_hand_case() {
        // w = [1, 0.5, 0.25]; x = [4, 0, 0, 2] → [4, 2, 1, 2]
        let a = Adstock::Geometric {
            decay: 0.5,
            max_lag: 3,
            normalize: false,
        };
        let mut out = vec![0.0; 4];
        a.apply(&[4.0, 0.0, 0.0, 2.0], &mut out);
        assert_eq!(out, vec![4.0, 2.0, 1.0, 2.0]);
        let n = Adstock::Geometric {
            decay: 0.5,
            max_lag: 3,
            normalize: true,
        };
        let w = n.weights();
        assert!((w[0] - 4.0 / 7.0).abs() < 1e-12 && (w[2] - 1.0 / 7.0).abs() < 1e-12);
    }

    #[test]
    fn delayed_peaks_at_peak_lag() {
        let w = Adstock::Delayed {
            decay: 0.5,
            peak: 3.0,
            max_lag: 8,
            normalize: true,
        }
        .weights();
        let imax = (0..w.len()).max_by(|&i, &j| w[i].total_cmp(&w[j])).unwrap();
        assert_eq!(imax, 3);
    }

    #[test]
    fn hill_hand_case() {
        let h = Saturation::Hill { k: 2.0, s: 3.0 };
        assert!((h.eval(2.0) - 0.5).abs() < 1e-12);
        assert!((h.eval(4.0) - 64.0 / 72.0).abs() < 1e-12);
        assert_eq!(h.eval(0.0), 0.0);
    }

    /// The series forms equal the per-point forms bit for bit, including at and below 0
    /// (value, slope and derivatives 0 for Hill), at +∞ and NaN (which stay what the
    /// per-point form makes of them), written at an offset, and scaled.
    #[test]
    fn series_derivatives_match_per_point() {
        let x = [
            -1.0,
            0.0,
            1e-300,
            1e-3,
            0.4,
            0.8,
            1.0,
            2.5,
            40.0,
            1e9,
            f64::INFINITY,
            f64::NAN,
        ];
        let same = |a: f64, b: f64| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan());
        for sat in all_saturations() {
            let np = sat.params().len();
            let (mut f, mut slope) = (vec![9.0; x.len()], vec![9.0; x.len()]);
            let mut dp = vec![vec![9.0; x.len() + 3]; np];
            sat.eval_grad_series(&x, &mut f, &mut slope, &mut dp, 3);
            for (t, &xv) in x.iter().enumerate() {
                let mut d = vec![0.0; np];
                let (fv, sv) = sat.eval_grad(xv, &mut d);
                assert!(
                    same(f[t], fv) && same(slope[t], sv),
                    "{sat:?} at {xv}: ({}, {}) vs ({fv}, {sv})",
                    f[t],
                    slope[t]
                );
                for j in 0..np {
                    assert!(same(dp[j][3 + t], d[j]), "{sat:?} at {xv}");
                }
                assert!(same(fv, sat.eval(xv)), "{sat:?} at {xv}");
            }
            let mut y: Vec<f64> = x.iter().map(|v| v * 4.0).collect();
            sat.apply_scaled(&mut y, 0.25, 3.0);
            for (yv, &xv) in y.iter().zip(&x) {
                assert!(same(*yv, 3.0 * sat.eval(xv)), "{sat:?} at {xv}");
            }
        }
    }

    #[test]
    fn serde_round_trip_every_variant() {
        for a in all_adstocks() {
            let s = serde_json::to_string(&a).unwrap();
            assert_eq!(serde_json::from_str::<Adstock>(&s).unwrap(), a);
            assert_eq!(
                a.kind().build(&a.params(), a.max_lag(), true).kind(),
                a.kind()
            );
        }
        for v in all_saturations() {
            let s = serde_json::to_string(&v).unwrap();
            assert_eq!(serde_json::from_str::<Saturation>(&s).unwrap(), v);
            assert_eq!(v.kind().build(&v.params()), v);
        }
    }

    #[test]
    fn saturation_gradients_match_finite_differences() {
        for sat in all_saturations() {
            for &x in &[0.3, 1.0, 2.7] {
                let np = sat.params().len();
                let mut d = vec![0.0; np];
                let (f, dx) = sat.eval_grad(x, &mut d);
                assert!((f - sat.eval(x)).abs() < 1e-14);
                let h = 1e-6;
                let fd = (sat.eval(x + h) - sat.eval(x - h)) / (2.0 * h);
                assert!((dx - fd).abs() < 1e-6, "{sat:?} d/dx at {x}");
                for k in 0..np {
                    let mut p = sat.params();
                    p[k] += h;
                    let up = sat.kind().build(&p).eval(x);
                    p[k] -= 2.0 * h;
                    let dn = sat.kind().build(&p).eval(x);
                    assert!(
                        (d[k] - (up - dn) / (2.0 * h)).abs() < 1e-6,
                        "{sat:?} d/dp{k}"
                    );
                }
            }
        }
    }

    proptest! {
        #[test]
        fn adstock_is_nonnegative_and_keeps_mass(x in prop::collection::vec(0.0f64..1e4, 1..60)) {
            for a in all_adstocks() {
                let mut padded = x.clone();
                padded.extend(std::iter::repeat_n(0.0, a.max_lag()));
                let mut out = vec![0.0; padded.len()];
                a.apply(&padded, &mut out);
                prop_assert!(out.iter().all(|v| *v >= 0.0));
                let w: f64 = a.weights().iter().sum();
                let total_in: f64 = x.iter().sum();
                let total_out: f64 = out.iter().sum();
                // All carryover lands inside the padded series: output mass = input × Σw.
                prop_assert!((total_out - total_in * w).abs() <= 1e-9 * (1.0 + total_in * w));
            }
        }

        #[test]
        fn adstock_is_monotone_in_input(x in prop::collection::vec(0.0f64..1e3, 2..40), bump in 0.0f64..100.0, at in 0usize..40) {
            for a in all_adstocks() {
                let mut y = x.clone();
                let i = at % y.len();
                y[i] += bump;
                let (mut ox, mut oy) = (vec![0.0; x.len()], vec![0.0; x.len()]);
                a.apply(&x, &mut ox);
                a.apply(&y, &mut oy);
                prop_assert!(ox.iter().zip(&oy).all(|(p, q)| *q >= *p - 1e-12));
            }
        }

        #[test]
        fn saturation_is_monotone_and_bounded(x in 0.0f64..50.0, dx in 0.0f64..5.0) {
            for s in all_saturations() {
                let (a, b) = (s.eval(x), s.eval(x + dx));
                prop_assert!(b >= a - 1e-15);
                prop_assert!(a >= 0.0);
                if s.kind() != SaturationKind::None {
                    prop_assert!(b <= 1.0);
                }
            }
        }

        #[test]
        fn param_box_round_trips(v in 0.01f64..0.89) {
            let b = ParamBox { lo: 0.0, hi: 0.9, center: 0.3, sd: 1.5 };
            prop_assert!((b.from_unconstrained(b.to_unconstrained(v)) - v).abs() < 1e-9);
        }
    }
}
