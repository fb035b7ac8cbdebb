//! Rule-based (path-position) models. Each path's conversions and value are split over
//! its touches by position weights that sum to one.

use super::{Model, ModelSettings, PathTable, TouchCredit};

/// Position weights of a path of `n` touches under a rule model; `is_direct(i)` tells
/// whether touch `i` is the direct channel, `age(i)` its age for time decay.
pub fn weights(
    model: &Model,
    n: usize,
    is_direct: &dyn Fn(usize) -> bool,
    age: &dyn Fn(usize) -> f64,
) -> Vec<f64> {
    let mut w = vec![0.0; n];
    if n == 0 {
        return w;
    }
    match *model {
        Model::First => w[0] = 1.0,
        Model::Last => w[n - 1] = 1.0,
        Model::LastNonDirect => {
            let i = (0..n).rev().find(|&i| !is_direct(i)).unwrap_or(n - 1);
            w[i] = 1.0;
        }
        Model::Linear | Model::Markov { .. } | Model::Shapley => {
            w.iter_mut().for_each(|x| *x = 1.0 / n as f64)
        }
        Model::Position { first, last } => match n {
            1 => w[0] = 1.0,
            2 => {
                let s = first + last;
                w[0] = if s > 0.0 { first / s } else { 0.5 };
                w[1] = 1.0 - w[0];
            }
            _ => {
                w[0] = first;
                w[n - 1] = last;
                let rest = (1.0 - first - last) / (n - 2) as f64;
                w[1..n - 1].iter_mut().for_each(|x| *x = rest);
            }
        },
        Model::WShaped {
            first,
            middle,
            last,
        } => {
            let mid = n / 2;
            match n {
                1 => w[0] = 1.0,
                2 => return weights(&Model::Position { first, last }, n, is_direct, age),
                3 => {
                    let s = first + middle + last;
                    w = vec![first / s, middle / s, last / s];
                }
                _ => {
                    let rest = (1.0 - first - middle - last) / (n - 3) as f64;
                    w.iter_mut().for_each(|x| *x = rest);
                    w[0] = first;
                    w[mid] = middle;
                    w[n - 1] = last;
                }
            }
        }
        Model::TimeDecay { half_life } => {
            for (i, x) in w.iter_mut().enumerate() {
                *x = (-(age(i) / half_life) * std::f64::consts::LN_2).exp();
            }
            let s: f64 = w.iter().sum();
            w.iter_mut().for_each(|x| *x /= s);
        }
    }
    w
}

/// Credit per touchpoint (conversions, value) under a rule model. For paths input, time
/// decay counts age in touches before the last one.
pub fn rule_credit(t: &PathTable, model: &Model, settings: &ModelSettings) -> TouchCredit {
    let direct: Option<u32> = t
        .channels
        .iter()
        .position(|c| c.eq_ignore_ascii_case(&settings.direct_channel))
        .map(|i| i as u32);
    let mut credit = vec![(0.0, 0.0); t.touchpoints.len()];
    for row in &t.paths {
        if row.conversions == 0.0 && row.value == 0.0 {
            continue;
        }
        let p = t.path(row);
        let n = p.len();
        let is_direct = |i: usize| Some(t.channel_of(p[i])) == direct;
        let age = |i: usize| (n - 1 - i) as f64;
        for (i, w) in weights(model, n, &is_direct, &age).iter().enumerate() {
            let c = &mut credit[p[i] as usize];
            c.0 += w * row.conversions;
            c.1 += w * row.value;
        }
    }
    credit
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attribution::{attribute, TableBuilder};

    /// search > social > email (2 conv, 100 value); email (1 conv, 30); social > direct (1, 10).
    fn table() -> PathTable {
        let mut b = TableBuilder::default();
        b.add_named_path(&["search", "social", "email"], 2.0, 100.0, 3.0);
        b.add_named_path(&["email"], 1.0, 30.0, 0.0);
        b.add_named_path(&["social", "direct"], 1.0, 10.0, 5.0);
        // Channel order of first appearance: search, social, email, direct.
        b.channel("direct");
        b.finish()
    }

    fn credit(model: &str) -> Vec<(f64, f64)> {
        let t = table();
        let s = ModelSettings::default();
        let r = attribute(&t, &[Model::parse(model, &s).unwrap()], &s).unwrap();
        r.models[0]
            .channels
            .iter()
            .map(|c| (c.conversions, c.value))
            .collect()
    }

    fn close(a: &[(f64, f64)], b: &[(f64, f64)]) {
        for (x, y) in a.iter().zip(b) {
            assert!(
                (x.0 - y.0).abs() < 1e-12 && (x.1 - y.1).abs() < 1e-12,
                "{a:?} vs {b:?}"
            );
        }
    }

    #[test]
    fn first_last_linear_by_hand() {
        // channels: search, social, email, direct
        close(
            &credit("first"),
            &[(2.0, 100.0), (1.0, 10.0), (1.0, 30.0), (0.0, 0.0)],
        );
        close(
            &credit("last"),
            &[(0.0, 0.0), (0.0, 0.0), (3.0, 130.0), (1.0, 10.0)],
        );
        close(
            &credit("last_non_direct"),
            &[(0.0, 0.0), (1.0, 10.0), (3.0, 130.0), (0.0, 0.0)],
        );
        let t = 2.0 / 3.0;
        close(
            &credit("linear"),
            &[
                (t, 100.0 / 3.0),
                (t + 0.5, 100.0 / 3.0 + 5.0),
                (t + 1.0, 100.0 / 3.0 + 30.0),
                (0.5, 5.0),
            ],
        );
    }

    #[test]
    fn position_and_w_shaped_by_hand() {
        // U: 3 touches → 0.4/0.2/0.4; 2 touches → 0.5/0.5.
        close(
            &credit("position"),
            &[
                (0.8, 40.0),
                (0.4 + 0.5, 20.0 + 5.0),
                (0.8 + 1.0, 40.0 + 30.0),
                (0.5, 5.0),
            ],
        );
        // W with 3 touches: 1/3 each (weights 0.3/0.3/0.3 renormalised) = linear here.
        let t = 2.0 / 3.0;
        close(
            &credit("w_shaped"),
            &[
                (t, 100.0 / 3.0),
                (t + 0.5, 100.0 / 3.0 + 5.0),
                (t + 1.0, 100.0 / 3.0 + 30.0),
                (0.5, 5.0),
            ],
        );
        let w = weights(
            &Model::WShaped {
                first: 0.3,
                middle: 0.3,
                last: 0.3,
            },
            5,
            &|_| false,
            &|_| 0.0,
        );
        close(
            &w.iter().map(|x| (*x, 0.0)).collect::<Vec<_>>(),
            &[(0.3, 0.0), (0.05, 0.0), (0.3, 0.0), (0.05, 0.0), (0.3, 0.0)],
        );
    }

    #[test]
    fn time_decay_by_hand() {
        // half-life 1 touch: weights ∝ 1/4, 1/2, 1 → 1/7, 2/7, 4/7.
        let w = weights(&Model::TimeDecay { half_life: 1.0 }, 3, &|_| false, &|i| {
            (2 - i) as f64
        });
        close(
            &w.iter().map(|x| (*x, 0.0)).collect::<Vec<_>>(),
            &[(1.0 / 7.0, 0.0), (2.0 / 7.0, 0.0), (4.0 / 7.0, 0.0)],
        );
    }

    #[test]
    fn every_model_hands_out_all_credit() {
        for m in crate::attribution::MODEL_NAMES {
            let c = credit(m);
            let conv: f64 = c.iter().map(|x| x.0).sum();
            let value: f64 = c.iter().map(|x| x.1).sum();
            assert!((conv - 4.0).abs() < 1e-9, "{m}: conversions {conv}");
            assert!((value - 140.0).abs() < 1e-9, "{m}: value {value}");
        }
    }
}
