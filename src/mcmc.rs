//! Convergence diagnostics for Markov chains: rank-normalised split R̂ and bulk effective
//! sample size, as defined by Vehtari, Gelman, Simpson, Carpenter & Bürkner (2021), the
//! definitions Stan, ArviZ, PyMC-Marketing and Meridian report.
//!
//! Input everywhere: `chains: [M][N]`, the draws of one scalar quantity per chain (equal
//! lengths, after warm-up).

/// Standard normal quantile `Φ⁻¹(p)` for `p ∈ (0, 1)` (Acklam's rational approximation,
/// relative error < 1.2e-9 after one Newton step on `erfc`-free Φ).
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    let tail = |q: f64| {
        let q = (-2.0 * q.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail(p)
    } else if p > 1.0 - 0.02425 {
        -tail(1.0 - p)
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// Split each chain in half (dropping a middle draw when N is odd): `[2M][⌊N/2⌋]`.
fn split(chains: &[Vec<f64>]) -> Vec<Vec<f64>> {
    chains
        .iter()
        .flat_map(|c| {
            let h = c.len() / 2;
            [c[..h].to_vec(), c[c.len() - h..].to_vec()]
        })
        .collect()
}

/// Replace every draw by the normal score of its rank over all chains,
/// `Φ⁻¹((r − 3/8)/(S + 1/4))`, average ranks for ties.
fn rank_normalise(chains: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let mut all: Vec<(f64, usize, usize)> = chains
        .iter()
        .enumerate()
        .flat_map(|(m, c)| c.iter().enumerate().map(move |(i, v)| (*v, m, i)))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let s = all.len() as f64;
    let mut out: Vec<Vec<f64>> = chains.iter().map(|c| vec![0.0; c.len()]).collect();
    let mut i = 0;
    while i < all.len() {
        let mut j = i;
        while j + 1 < all.len() && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        let z = normal_quantile((rank - 0.375) / (s + 0.25));
        for &(_, m, k) in &all[i..=j] {
            out[m][k] = z;
        }
        i = j + 1;
    }
    out
}

fn mean(x: &[f64]) -> f64 {
    x.iter().sum::<f64>() / x.len() as f64
}

/// Classic R̂ of equal-length chains: `sqrt(((N−1)/N · W + B/N) / W)`.
fn basic_rhat(chains: &[Vec<f64>]) -> f64 {
    let m = chains.len() as f64;
    let n = chains[0].len() as f64;
    let means: Vec<f64> = chains.iter().map(|c| mean(c)).collect();
    let grand = mean(&means);
    let b = n / (m - 1.0) * means.iter().map(|x| (x - grand).powi(2)).sum::<f64>();
    let w = chains
        .iter()
        .zip(&means)
        .map(|(c, mu)| c.iter().map(|x| (x - mu).powi(2)).sum::<f64>() / (n - 1.0))
        .sum::<f64>()
        / m;
    if w <= 0.0 {
        return if b <= 0.0 { 1.0 } else { f64::INFINITY };
    }
    (((n - 1.0) / n * w + b / n) / w).sqrt()
}

/// Rank-normalised split R̂: the larger of the bulk R̂ (rank-normalised draws) and the tail
/// R̂ (rank-normalised folded draws `|x − median|`). NaN with fewer than 4 draws per chain.
pub fn rhat(chains: &[Vec<f64>]) -> f64 {
    if chains.is_empty() || chains.iter().any(|c| c.len() < 4) {
        return f64::NAN;
    }
    let sp = split(chains);
    let bulk = basic_rhat(&rank_normalise(&sp));
    let mut all: Vec<f64> = sp.iter().flatten().copied().collect();
    all.sort_by(f64::total_cmp);
    let med = all[all.len() / 2];
    let folded: Vec<Vec<f64>> = sp
        .iter()
        .map(|c| c.iter().map(|x| (x - med).abs()).collect())
        .collect();
    let tail = basic_rhat(&rank_normalise(&folded));
    bulk.max(tail)
}

/// Effective sample size of equal-length chains with Geyer's initial monotone sequence
/// over the multi-chain autocorrelation `ρ_t = 1 − (W − mean_m γ_{m,t}) / var⁺`.
fn ess(chains: &[Vec<f64>]) -> f64 {
    let m = chains.len() as f64;
    let n = chains[0].len();
    let means: Vec<f64> = chains.iter().map(|c| mean(c)).collect();
    let grand = mean(&means);
    let nf = n as f64;
    let b = nf / (m - 1.0).max(1.0) * means.iter().map(|x| (x - grand).powi(2)).sum::<f64>();
    let acov = |t: usize| -> f64 {
        chains
            .iter()
            .zip(&means)
            .map(|(c, mu)| {
                (0..n - t)
                    .map(|i| (c[i] - mu) * (c[i + t] - mu))
                    .sum::<f64>()
                    / nf
            })
            .sum::<f64>()
            / m
    };
    let g0 = acov(0);
    let w = g0 * nf / (nf - 1.0);
    let var_plus = (nf - 1.0) / nf * w + if m > 1.0 { b / nf } else { 0.0 };
    if var_plus <= 0.0 {
        return f64::NAN;
    }
    let rho = |t: usize| 1.0 - (w - acov(t)) / var_plus;
    // Pairs P_k = ρ_{2k} + ρ_{2k+1}, summed while positive and made monotone.
    let mut sum = 0.0;
    let mut prev = f64::INFINITY;
    let mut t = 0;
    while t + 1 < n {
        let mut p = if t == 0 { 1.0 } else { rho(t) } + rho(t + 1);
        if p < 0.0 {
            break;
        }
        p = p.min(prev);
        prev = p;
        sum += p;
        t += 2;
    }
    let tau = (-1.0 + 2.0 * sum).max(1.0 / (m * nf).log10().max(1.0));
    m * nf / tau
}

/// Bulk ESS: ESS of the rank-normalised split chains. NaN with fewer than 4 draws per chain.
pub fn ess_bulk(chains: &[Vec<f64>]) -> f64 {
    if chains.is_empty() || chains.iter().any(|c| c.len() < 4) {
        return f64::NAN;
    }
    ess(&rank_normalise(&split(chains)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, SeedableRng};
    use rand_distr::{Distribution, StandardNormal};

    fn ar1(rho: f64, n: usize, shift: f64, seed: u64) -> Vec<f64> {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut x = 0.0;
        (0..n)
            .map(|_| {
                let z: f64 = StandardNormal.sample(&mut rng);
                x = rho * x + (1.0 - rho * rho).sqrt() * z;
                x + shift
            })
            .collect()
    }

    #[test]
    fn normal_quantile_hand_values() {
        assert!(normal_quantile(0.5).abs() < 1e-9);
        assert!((normal_quantile(0.975) - 1.959_963_985).abs() < 1e-6);
        assert!((normal_quantile(0.05) + 1.644_853_627).abs() < 1e-6);
        assert!((normal_quantile(1e-4) + 3.719_016_485).abs() < 1e-5);
    }

    #[test]
    fn independent_chains_have_rhat_near_one_and_ess_near_n() {
        let chains: Vec<Vec<f64>> = (0..4).map(|s| ar1(0.0, 1000, 0.0, s)).collect();
        let r = rhat(&chains);
        assert!(r < 1.01, "rhat {r}");
        let e = ess_bulk(&chains);
        assert!((3200.0..4800.0).contains(&e), "ess {e}");
    }

    /// AR(1) with ρ has ESS ≈ N(1 − ρ)/(1 + ρ): for ρ = 0.8, 4000 draws → ≈ 444.
    #[test]
    fn autocorrelated_chains_have_the_ar1_ess() {
        let chains: Vec<Vec<f64>> = (0..4).map(|s| ar1(0.8, 1000, 0.0, 10 + s)).collect();
        let e = ess_bulk(&chains);
        assert!((300.0..620.0).contains(&e), "ess {e}");
    }

    #[test]
    fn a_stuck_chain_raises_rhat() {
        let mut chains: Vec<Vec<f64>> = (0..3).map(|s| ar1(0.3, 500, 0.0, s)).collect();
        chains.push(ar1(0.3, 500, 2.0, 99));
        assert!(rhat(&chains) > 1.1);
        // A chain whose spread differs (same centre) is caught by the tail R̂.
        let mut wide: Vec<Vec<f64>> = (0..3).map(|s| ar1(0.0, 500, 0.0, s)).collect();
        wide.push(ar1(0.0, 500, 0.0, 50).iter().map(|v| v * 4.0).collect());
        assert!(rhat(&wide) > 1.05, "{}", rhat(&wide));
    }

    #[test]
    fn constant_and_short_chains_do_not_panic() {
        assert_eq!(rhat(&[vec![1.0; 10], vec![1.0; 10]]), 1.0);
        assert!(rhat(&[vec![1.0, 2.0]]).is_nan());
        assert!(ess_bulk(&[]).is_nan());
    }
}
