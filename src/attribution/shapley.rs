//! Shapley attribution over touched channel sets.
//!
//! The game: for a journey that touched channel set `T`, the worth of a coalition `S ⊆ T`
//! is `p(S) − p(∅)`, the conversion rate of journeys exposed to exactly `S` above the rate
//! with no marketing touch. Each channel's Shapley value is its average marginal
//! contribution over all orders; summed over journeys it is the channel's incremental
//! conversions. Credit shares are those values (negatives floored at 0) normalised; the
//! report scales them to all conversions.
//!
//! `p(S)` is the observed conversion rate of journeys with channel set `S`, shrunk towards a
//! noisy-OR fit `1 − p(S) = exp(a + Σ_{c∈S} b_c)` (weighted least squares on the
//! log non-conversion rates) with a prior weight of 20 journeys; sets never observed use
//! the fit, and `p(∅) = 1 − e^a` (journeys without touches are never observed). Exact
//! enumeration for journeys with up to 15 distinct channels; longer ones use 256 seeded
//! random permutations. Any number of channels.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rustc_hash::FxHashMap;

use super::PathTable;
use crate::linalg::{cholesky_solve_subset, SymMat};

/// Result of the Shapley model.
#[derive(Debug, Clone)]
pub struct ShapleyResult {
    /// Incremental conversions per channel (Shapley values summed over journeys).
    pub incremental: Vec<f64>,
    /// Conversion credit shares (sum 1).
    pub conversion_shares: Vec<f64>,
    /// Value credit shares (sum 1).
    pub value_shares: Vec<f64>,
    /// Estimated conversion rate without marketing touches.
    pub baseline_rate: f64,
}

const PRIOR_JOURNEYS: f64 = 20.0;
const MAX_EXACT: usize = 15;

/// A touched channel set: channel indices in increasing order (any number of channels).
type Set = Box<[u32]>;

struct Rates {
    sets: FxHashMap<Set, (f64, f64)>,
    a: f64,
    b: Vec<f64>,
}

impl Rates {
    fn fitted(&self, s: &[u32]) -> f64 {
        let z = self.a + s.iter().map(|&c| self.b[c as usize]).sum::<f64>();
        (1.0 - z.min(0.0).exp()).clamp(0.0, 1.0)
    }

    fn p(&self, s: &[u32]) -> f64 {
        let q = self.fitted(s);
        if s.is_empty() {
            return q;
        }
        match self.sets.get(s) {
            Some(&(n, c)) => (c + PRIOR_JOURNEYS * q) / (n + PRIOR_JOURNEYS),
            None => q,
        }
    }
}

fn noisy_or_fit(sets: &FxHashMap<Set, (f64, f64)>, nch: usize) -> (f64, Vec<f64>) {
    let p = nch + 1;
    let mut a = SymMat::zeros(p);
    let mut rhs = vec![0.0; p];
    // Sorted, so the sums (and the fit) do not depend on hash order.
    let mut keys: Vec<&Set> = sets.keys().collect();
    keys.sort_unstable();
    let mut idx = Vec::new();
    for s in keys {
        let (n, c) = sets[s];
        let r = (c + 0.5) / (n + 1.0);
        let z = (1.0 - r).ln();
        let w = n * (1.0 - r) / r;
        idx.clear();
        idx.push(0usize);
        idx.extend(s.iter().map(|&c| 1 + c as usize));
        for &i in &idx {
            rhs[i] += w * z;
            for &j in &idx {
                a.a[i * p + j] += w;
            }
        }
    }
    let scale = (0..p).map(|i| a.get(i, i)).fold(0.0, f64::max).max(1.0);
    for i in 1..p {
        a.add_diag(i, 1e-9 * scale);
    }
    a.add_diag(0, 1e-12 * scale);
    let all: Vec<usize> = (0..p).collect();
    let beta = cholesky_solve_subset(&a, &rhs, &all).unwrap_or_else(|| vec![0.0; p]);
    (beta[0], beta[1..].to_vec())
}

/// Shapley values of one journey's channel set `members` (increasing channel indices),
/// exact or sampled; adds each member's value to `out[c]`.
fn values_for_set(rates: &Rates, members: &[u32], rng: &mut StdRng, out: &mut [f64]) {
    let n = members.len();
    let p0 = rates.p(&[]);
    let mut sub_set: Vec<u32> = Vec::with_capacity(n);
    if n <= MAX_EXACT {
        let full = 1usize << n;
        let mut pv = vec![0.0; full];
        for (sub, v) in pv.iter_mut().enumerate() {
            sub_set.clear();
            sub_set.extend(
                members
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| sub >> i & 1 == 1)
                    .map(|(_, &c)| c),
            );
            *v = rates.p(&sub_set) - p0;
        }
        let mut fact = vec![1.0f64; n + 1];
        for i in 1..=n {
            fact[i] = fact[i - 1] * i as f64;
        }
        for sub in 0..full {
            let s = (sub as u32).count_ones() as usize;
            if s == n {
                continue;
            }
            let w = fact[s] * fact[n - s - 1] / fact[n];
            for (i, &c) in members.iter().enumerate() {
                if sub >> i & 1 == 0 {
                    out[c as usize] += w * (pv[sub | 1 << i] - pv[sub]);
                }
            }
        }
    } else {
        let samples = 256;
        let mut order: Vec<u32> = members.to_vec();
        for _ in 0..samples {
            order.shuffle(rng);
            sub_set.clear();
            let mut prev = 0.0;
            for &c in &order {
                let at = sub_set.partition_point(|&x| x < c);
                sub_set.insert(at, c);
                let v = rates.p(&sub_set) - p0;
                out[c as usize] += (v - prev) / samples as f64;
                prev = v;
            }
        }
    }
}

/// Shapley attribution for a path table (any number of channels).
pub fn shapley(t: &PathTable, seed: u64) -> ShapleyResult {
    let nch = t.channels.len();
    let mut sets: FxHashMap<Set, (f64, f64)> = FxHashMap::default();
    let mut values: FxHashMap<Set, f64> = FxHashMap::default();
    let mut m: Vec<u32> = Vec::new();
    for row in &t.paths {
        m.clear();
        m.extend(t.path(row).iter().map(|&tok| t.channel_of(tok)));
        m.sort_unstable();
        m.dedup();
        let e = sets.entry(m.as_slice().into()).or_insert((0.0, 0.0));
        e.0 += row.conversions + row.nulls;
        e.1 += row.conversions;
        *values.entry(m.as_slice().into()).or_insert(0.0) += row.value;
    }
    let (a, b) = noisy_or_fit(&sets, nch);
    let rates = Rates { sets, a, b };
    let mut keys: Vec<&Set> = rates.sets.keys().collect();
    keys.sort_unstable();
    let total_conv: f64 = keys.iter().map(|s| rates.sets[*s].1).sum();
    let aov = if total_conv > 0.0 {
        t.value() / total_conv
    } else {
        0.0
    };
    let mut inc = vec![0.0; nch];
    let mut inc_value = vec![0.0; nch];
    let mut rng = StdRng::seed_from_u64(seed);
    let mut phi = vec![0.0; nch];
    for s in keys {
        let (n, c) = rates.sets[s];
        for &m in s.iter() {
            phi[m as usize] = 0.0;
        }
        values_for_set(&rates, s, &mut rng, &mut phi);
        let set_aov = if c > 0.0 { values[s] / c } else { aov };
        for &m in s.iter() {
            inc[m as usize] += n * phi[m as usize];
            inc_value[m as usize] += n * phi[m as usize] * set_aov;
        }
    }
    let norm = |v: &[f64]| {
        let s: f64 = v.iter().map(|x| x.max(0.0)).sum();
        v.iter()
            .map(|x| if s > 0.0 { x.max(0.0) / s } else { 0.0 })
            .collect::<Vec<_>>()
    };
    ShapleyResult {
        conversion_shares: norm(&inc),
        value_shares: norm(&inc_value),
        incremental: inc,
        baseline_rate: rates.p(&[]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attribution::TableBuilder;

    fn table(rows: &[(&[&str], f64, f64)]) -> PathTable {
        let mut b = TableBuilder::default();
        for (p, conv, nulls) in rows {
            b.add_named_path(p, *conv, *conv, *nulls);
        }
        b.finish()
    }

    /// Efficiency: each journey's Shapley values sum to `p(T) − p(∅)`, so the incremental
    /// total is Σ_T N_T (p̂(T) − p̂(∅)).
    #[test]
    fn efficiency() {
        let t = table(&[
            (&["a"], 100.0, 900.0),
            (&["b"], 50.0, 950.0),
            (&["a", "b"], 160.0, 840.0),
            (&["b", "c", "a"], 30.0, 170.0),
        ]);
        let r = shapley(&t, 1);
        let mut sets = FxHashMap::default();
        for (m, n, c) in [
            (&[0u32][..], 1000.0, 100.0),
            (&[1], 1000.0, 50.0),
            (&[0, 1], 1000.0, 160.0),
            (&[0, 1, 2], 200.0, 30.0),
        ] {
            sets.insert(Set::from(m), (n, c));
        }
        let (a, b) = noisy_or_fit(&sets, 3);
        let rates = Rates {
            sets: sets.clone(),
            a,
            b,
        };
        let want: f64 = sets
            .iter()
            .map(|(m, (n, _))| n * (rates.p(m) - rates.p(&[])))
            .sum();
        let got: f64 = r.incremental.iter().sum();
        assert!((got - want).abs() < 1e-9 * want.abs(), "{got} vs {want}");
        assert!((r.conversion_shares.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }

    /// Two-player game by hand: v(a) = 0.1, v(b) = 0.05, v(ab) = 0.2 (baseline 0):
    /// φ_a = ½(0.1) + ½(0.2 − 0.05) = 0.125, φ_b = 0.075.
    #[test]
    fn two_player_by_hand() {
        let mut sets = FxHashMap::default();
        sets.insert(Set::from(&[0u32][..]), (1e12, 1e11));
        sets.insert(Set::from(&[1u32][..]), (1e12, 5e10));
        sets.insert(Set::from(&[0u32, 1][..]), (1e12, 2e11));
        let rates = Rates {
            sets,
            a: 0.0,
            b: vec![0.0, 0.0],
        };
        let mut out = vec![0.0; 2];
        values_for_set(&rates, &[0, 1], &mut StdRng::seed_from_u64(0), &mut out);
        assert!(
            (out[0] - 0.125).abs() < 1e-9 && (out[1] - 0.075).abs() < 1e-9,
            "{:?}",
            &out[..2]
        );
    }

    /// A path with 70 channels first in the table does not push the real channels out:
    /// channels past the 64th keep their credit.
    #[test]
    fn more_than_64_channels() {
        let many: Vec<String> = (0..70).map(|i| format!("x{i}")).collect();
        let many: Vec<&str> = many.iter().map(|s| s.as_str()).collect();
        let t = table(&[
            (&many, 1.0, 0.0),
            (&["a"], 100.0, 900.0),
            (&["b"], 50.0, 950.0),
            (&["a", "b"], 160.0, 840.0),
        ]);
        let r = shapley(&t, 1);
        let share = |name: &str| {
            let i = t.channels.iter().position(|c| c == name).unwrap();
            r.conversion_shares[i]
        };
        assert!(
            share("a") > 0.3 && share("b") > 0.1,
            "{:?}",
            r.conversion_shares
        );
        assert!((r.conversion_shares.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }
}
