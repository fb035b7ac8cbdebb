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
//! fitted conversion model with a prior weight of 20 journeys; sets never observed use the
//! model, and so does `p(∅)` (journeys without touches are never observed, unless the data
//! hold some, e.g. a control group: then they are used like any other set). The model's
//! form is not assumed: four forms are fitted by maximum likelihood on the set counts,
//! - additive `p(S) = e^{α₀} + Σ_{c∈S} e^{α_c}` (capped below 1),
//! - noisy-OR `1 − p(S) = exp(−e^{α₀} − Σ_{c∈S} e^{α_c})` (independent causes),
//! - logistic `logit p(S) = a + Σ_{c∈S} b_c`,
//! - logistic with pairwise interactions `… + Σ_{c<d ∈ S} γ_cd` (ridge sd 1 on γ),
//!
//! and the one with the best 5-fold held-out log-likelihood (journeys split at random
//! across folds, seeded) is used. The extrapolation to `p(∅)` is where the forms differ
//! most, and a wrong one hands zero-effect channels credit; the report gives every form's
//! held-out fit, baseline and shares, and the largest share shift among them.
//!
//! Exact enumeration for journeys with up to 15 distinct channels; longer ones use 256
//! seeded random permutations. Any number of channels.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use super::PathTable;

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
    /// Which conversion model was used, and what the others would say.
    pub conversion_model: ConversionModelCheck,
}

/// A functional form of the conversion rate over touched channel sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConversionForm {
    /// Additive probabilities: `p = p₀ + Σ q_c` (non-negative effects).
    Additive,
    /// Independent causes: `1 − p = Π (1 − q_c)`.
    NoisyOr,
    /// Additive on the log-odds scale.
    Logistic,
    /// Log-odds with pairwise interaction terms.
    LogisticPairwise,
}

impl ConversionForm {
    /// Every form, in the order they are tried.
    pub const ALL: [ConversionForm; 4] = [
        ConversionForm::Additive,
        ConversionForm::NoisyOr,
        ConversionForm::Logistic,
        ConversionForm::LogisticPairwise,
    ];
}

/// One candidate form: its held-out fit and the answer it gives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FormCheck {
    /// The form.
    pub form: ConversionForm,
    /// Mean held-out log-likelihood per journey (5-fold; higher is better).
    pub held_out_log_lik: f64,
    /// Its `p(∅)`.
    pub baseline_rate: f64,
    /// Conversion credit share per channel under this form.
    pub shares: std::collections::BTreeMap<String, f64>,
}

/// The conversion-model choice behind a Shapley result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversionModelCheck {
    /// The form used (best held-out log-likelihood).
    pub chosen: ConversionForm,
    /// Every form tried.
    pub candidates: Vec<FormCheck>,
    /// Largest change of any channel's share between the chosen form and another.
    pub max_share_shift: f64,
    /// Where `p(∅)` comes from: `control_group` (observed, shrunk towards the model) or
    /// `model` (the chosen form's extrapolation).
    pub baseline_source: BaselineSource,
}

/// Where the conversion rate without touches comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BaselineSource {
    /// Extrapolated by the fitted conversion model.
    Model,
    /// Observed in a control group.
    ControlGroup,
    /// Set from an organic share of conversions given by other evidence (the MMM).
    OrganicShare,
}

/// Evidence on the conversion rate without marketing, `p(∅)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BaselineEvidence {
    /// A control group's `[journeys, conversions]`, held out from every paid touch.
    ControlGroup([f64; 2]),
    /// The share of the journeys' conversions that happen without any tracked touch (for
    /// instance `1 −` the tracked channels' share of the KPI in the MMM): enters as an
    /// observed empty set as large as the data, `p(∅) = share × conversions / journeys`.
    OrganicShare(f64),
}

const PRIOR_JOURNEYS: f64 = 20.0;
const MAX_EXACT: usize = 15;
const FOLDS: usize = 5;
/// The additive form's rate stays at most `1 − ADDITIVE_CAP`.
const ADDITIVE_CAP: f64 = 1e-9;
/// Ridge on the pairwise log-odds terms (prior sd 1).
const PAIR_RIDGE: f64 = 1.0;
/// Ridge on main effects (prior sd 10: only keeps unobserved directions finite).
const MAIN_RIDGE: f64 = 0.01;

/// A touched channel set: channel indices in increasing order (any number of channels).
type Set = Box<[u32]>;

/// Journeys and conversions of one set.
type Counts = (f64, f64);

/// A fitted conversion model.
#[derive(Debug, Clone)]
struct FormFit {
    form: ConversionForm,
    /// Intercept, then one main effect per channel, then one term per pair in `pairs`.
    theta: Vec<f64>,
    pairs: FxHashMap<(u32, u32), usize>,
}

/// `ln(1 + e^x)` without overflow.
fn softplus(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

impl FormFit {
    /// Linear predictor of set `s` (additive: the rate; noisy-OR: the cumulative hazard).
    fn eta(&self, s: &[u32]) -> f64 {
        let t = &self.theta;
        match self.form {
            ConversionForm::Additive | ConversionForm::NoisyOr => {
                t[0].exp() + s.iter().map(|&c| t[1 + c as usize].exp()).sum::<f64>()
            }
            _ => {
                let mut z = t[0] + s.iter().map(|&c| t[1 + c as usize]).sum::<f64>();
                if self.form == ConversionForm::LogisticPairwise {
                    for (i, &c) in s.iter().enumerate() {
                        for &d in &s[i + 1..] {
                            if let Some(&k) = self.pairs.get(&(c, d)) {
                                z += t[k];
                            }
                        }
                    }
                }
                z
            }
        }
    }

    /// `(ln p, ln(1 − p))` of set `s`.
    fn log_rates(&self, s: &[u32]) -> (f64, f64) {
        let e = self.eta(s);
        match self.form {
            ConversionForm::Additive => {
                let p = e.min(1.0 - ADDITIVE_CAP);
                (p.max(1e-300).ln(), (1.0 - p).ln())
            }
            ConversionForm::NoisyOr => ((-(-e).exp_m1()).max(1e-300).ln(), -e),
            _ => (-softplus(-e), -softplus(e)),
        }
    }

    fn p(&self, s: &[u32]) -> f64 {
        self.log_rates(s).0.exp()
    }

    /// Negative log-likelihood of `data` plus ridge, and its gradient in θ.
    fn loss(&self, data: &[(&Set, Counts)], nch: usize) -> (f64, Vec<f64>) {
        let t = &self.theta;
        let mut g = vec![0.0; t.len()];
        let mut f = 0.0;
        for (s, (n, c)) in data {
            let (lp, lq) = self.log_rates(s);
            f -= c * lp + (n - c) * lq;
            // dℓ/dη, then η's derivatives.
            let dl = match self.form {
                ConversionForm::Additive => {
                    let e = self.eta(s);
                    if e >= 1.0 - ADDITIVE_CAP {
                        0.0
                    } else {
                        -(c / e - (n - c) / (1.0 - e))
                    }
                }
                ConversionForm::NoisyOr => -(c * (lq - lp).exp() - (n - c)),
                _ => -(c - n * lp.exp()),
            };
            match self.form {
                ConversionForm::Additive | ConversionForm::NoisyOr => {
                    g[0] += dl * t[0].exp();
                    for &ch in s.iter() {
                        g[1 + ch as usize] += dl * t[1 + ch as usize].exp();
                    }
                }
                _ => {
                    g[0] += dl;
                    for (i, &ch) in s.iter().enumerate() {
                        g[1 + ch as usize] += dl;
                        if self.form == ConversionForm::LogisticPairwise {
                            for &d in &s[i + 1..] {
                                if let Some(&k) = self.pairs.get(&(ch, d)) {
                                    g[k] += dl;
                                }
                            }
                        }
                    }
                }
            }
        }
        for (k, v) in t.iter().enumerate().skip(1) {
            let lam = if k <= nch { MAIN_RIDGE } else { PAIR_RIDGE };
            // Additive and noisy-OR effects are logs of rates: no ridge towards 0 there.
            if matches!(
                self.form,
                ConversionForm::Additive | ConversionForm::NoisyOr
            ) {
                continue;
            }
            f += 0.5 * lam * v * v;
            g[k] += lam * v;
        }
        (f, g)
    }

    /// Maximum-likelihood fit of `form` to `data` (set → counts).
    fn fit(form: ConversionForm, data: &[(&Set, Counts)], nch: usize) -> FormFit {
        let mut pairs = FxHashMap::default();
        if form == ConversionForm::LogisticPairwise {
            for (s, _) in data {
                for (i, &c) in s.iter().enumerate() {
                    for &d in &s[i + 1..] {
                        let k = 1 + nch + pairs.len();
                        pairs.entry((c, d)).or_insert(k);
                    }
                }
            }
        }
        let (n, c) = data
            .iter()
            .fold((0.0, 0.0), |a, (_, (n, c))| (a.0 + n, a.1 + c));
        let rate = ((c + 0.5) / (n + 1.0)).clamp(1e-6, 1.0 - 1e-6);
        let mut theta = vec![0.0; 1 + nch + pairs.len()];
        match form {
            ConversionForm::Additive => {
                theta[0] = (rate * 0.5).ln();
                for v in &mut theta[1..=nch] {
                    *v = (rate * 0.1).ln();
                }
            }
            ConversionForm::NoisyOr => {
                theta[0] = (-(1.0 - rate).ln() * 0.5).ln();
                for v in &mut theta[1..=nch] {
                    *v = (-(1.0 - rate).ln() * 0.1).ln();
                }
            }
            _ => theta[0] = (rate / (1.0 - rate)).ln(),
        }
        let scale = n.max(1.0);
        let objective = |th: &[f64]| {
            let f = FormFit {
                form,
                theta: th.to_vec(),
                pairs: pairs.clone(),
            };
            let (v, g) = f.loss(data, nch);
            (v.is_finite() && g.iter().all(|x| x.is_finite()))
                .then(|| (v / scale, g.iter().map(|x| x / scale).collect()))
        };
        if let Some((th, _)) = crate::fit::minimize_fn(&objective, theta.clone(), 500) {
            theta = th;
        }
        FormFit { form, theta, pairs }
    }
}

/// Conversion rates of channel sets: observed rates shrunk towards a fitted model.
struct Rates {
    sets: FxHashMap<Set, Counts>,
    model: FormFit,
}

impl Rates {
    fn p(&self, s: &[u32]) -> f64 {
        let q = self.model.p(s);
        match self.sets.get(s) {
            Some(&(n, c)) => (c + PRIOR_JOURNEYS * q) / (n + PRIOR_JOURNEYS),
            None => q,
        }
    }
}

/// Split every set's journeys at random across `FOLDS` folds: `[fold][set] → counts`.
fn folds(data: &[(&Set, Counts)], seed: u64) -> Vec<Vec<Counts>> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5EED_F01D);
    let mut out = vec![vec![(0.0, 0.0); data.len()]; FOLDS];
    for (i, (_, (n, c))) in data.iter().enumerate() {
        let whole = n.round();
        if !(1.0..=1e7).contains(&whole) {
            // Too many to deal one by one (or fractional): even thinning.
            for f in out.iter_mut() {
                f[i] = (n / FOLDS as f64, c / FOLDS as f64);
            }
            continue;
        }
        let conv = c.round().min(whole) as u64;
        for j in 0..whole as u64 {
            let f = rng.random_range(0..FOLDS);
            out[f][i].0 += 1.0;
            out[f][i].1 += f64::from(u8::from(j < conv));
        }
    }
    out
}

/// Held-out log-likelihood per journey of `form` (5-fold).
fn held_out(
    form: ConversionForm,
    data: &[(&Set, Counts)],
    split: &[Vec<Counts>],
    nch: usize,
) -> f64 {
    let mut ll = 0.0;
    let mut total = 0.0;
    for fold in split {
        let train: Vec<(&Set, Counts)> = data
            .iter()
            .enumerate()
            .map(|(i, (s, (n, c)))| (*s, (n - fold[i].0, c - fold[i].1)))
            .filter(|(_, (n, _))| *n > 0.0)
            .collect();
        let fit = FormFit::fit(form, &train, nch);
        for (i, (s, _)) in data.iter().enumerate() {
            let (n, c) = fold[i];
            if n > 0.0 {
                let (lp, lq) = fit.log_rates(s);
                ll += c * lp + (n - c) * lq;
                total += n;
            }
        }
    }
    ll / total.max(1.0)
}

/// Shapley values of the game `worth` (with `worth(∅) = 0`) over the players `members`
/// (increasing channel indices), exact or sampled; adds each member's value to `out[c]`.
pub(crate) fn values_for_set(
    worth: &dyn Fn(&[u32]) -> f64,
    members: &[u32],
    rng: &mut StdRng,
    out: &mut [f64],
) {
    let n = members.len();
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
            *v = worth(&sub_set);
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
                let v = worth(&sub_set);
                out[c as usize] += (v - prev) / samples as f64;
                prev = v;
            }
        }
    }
}

/// Per-channel incremental conversions and value under `rates`, over the observed sets.
fn credit(
    rates: &Rates,
    values: &FxHashMap<Set, f64>,
    aov: f64,
    nch: usize,
    seed: u64,
) -> (Vec<f64>, Vec<f64>) {
    let mut keys: Vec<&Set> = rates.sets.keys().collect();
    keys.sort_unstable();
    let p0 = rates.p(&[]);
    let worth = |s: &[u32]| rates.p(s) - p0;
    let mut inc = vec![0.0; nch];
    let mut inc_value = vec![0.0; nch];
    let mut rng = StdRng::seed_from_u64(seed);
    let mut phi = vec![0.0; nch];
    for s in keys {
        if s.is_empty() {
            continue;
        }
        let (n, c) = rates.sets[s];
        for &m in s.iter() {
            phi[m as usize] = 0.0;
        }
        values_for_set(&worth, s, &mut rng, &mut phi);
        let set_aov = if c > 0.0 { values[s] / c } else { aov };
        for &m in s.iter() {
            inc[m as usize] += n * phi[m as usize];
            inc_value[m as usize] += n * phi[m as usize] * set_aov;
        }
    }
    (inc, inc_value)
}

fn normalise(v: &[f64]) -> Vec<f64> {
    let s: f64 = v.iter().map(|x| x.max(0.0)).sum();
    v.iter()
        .map(|x| if s > 0.0 { x.max(0.0) / s } else { 0.0 })
        .collect()
}

/// Journeys, conversions and value of each channel set (sorted channel ids) of a table.
fn set_counts(t: &PathTable) -> (FxHashMap<Set, Counts>, FxHashMap<Set, f64>) {
    let mut sets: FxHashMap<Set, Counts> = FxHashMap::default();
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
    (sets, values)
}

/// Index of the best held-out log-likelihood (the earlier form on ties).
fn best_index(scores: &[f64]) -> usize {
    (0..scores.len())
        .max_by(|&a, &b| scores[a].total_cmp(&scores[b]).then(b.cmp(&a)))
        .unwrap_or(0)
}

/// The conversion model Shapley chooses for a table: the form with the best 5-fold
/// held-out log-likelihood, as rates of channel sets (each set's observed rate shrunk
/// towards the fitted form, the form's prediction for unseen sets).
pub struct ConversionModel {
    /// The chosen form.
    pub form: ConversionForm,
    rates: Rates,
}

impl ConversionModel {
    /// Fit on a table (no control-group evidence).
    pub fn fit(t: &PathTable, seed: u64) -> ConversionModel {
        let nch = t.channels.len();
        let (sets, _) = set_counts(t);
        let mut keys: Vec<&Set> = sets.keys().collect();
        keys.sort_unstable();
        let data: Vec<(&Set, Counts)> = keys.iter().map(|s| (*s, sets[*s])).collect();
        let split = folds(&data, seed);
        let scores: Vec<f64> = ConversionForm::ALL
            .iter()
            .map(|&f| held_out(f, &data, &split, nch))
            .collect();
        let form = ConversionForm::ALL[best_index(&scores)];
        let model = FormFit::fit(form, &data, nch);
        ConversionModel {
            form,
            rates: Rates { sets, model },
        }
    }

    /// Conversion probability of a journey that touched the channel set `set` (sorted
    /// channel ids of the table).
    pub fn p(&self, set: &[u32]) -> f64 {
        self.rates.p(set)
    }
}

/// Shapley attribution for a path table (any number of channels). `evidence` on `p(∅)`
/// (a control group, or an organic share of conversions) enters as the observed empty
/// set, so the baseline comes from evidence instead of from the conversion model's
/// extrapolation.
pub fn shapley(t: &PathTable, seed: u64, evidence: Option<BaselineEvidence>) -> ShapleyResult {
    let nch = t.channels.len();
    let (mut sets, mut values) = set_counts(t);
    let control = evidence.map(|e| match e {
        BaselineEvidence::ControlGroup(nc) => nc,
        BaselineEvidence::OrganicShare(x) => {
            let journeys: f64 = t.paths.iter().map(|r| r.conversions + r.nulls).sum();
            [journeys, x * t.conversions()]
        }
    });
    if let Some([n, c]) = control {
        let e = sets.entry(Set::from(&[][..])).or_insert((0.0, 0.0));
        e.0 += n;
        e.1 += c;
        values.entry(Set::from(&[][..])).or_insert(0.0);
    }
    // Sorted, so fits and folds do not depend on hash order.
    let mut keys: Vec<&Set> = sets.keys().collect();
    keys.sort_unstable();
    let data: Vec<(&Set, Counts)> = keys.iter().map(|s| (*s, sets[*s])).collect();
    let total_conv: f64 = data.iter().map(|d| d.1 .1).sum();
    let aov = if total_conv > 0.0 {
        t.value() / total_conv
    } else {
        0.0
    };
    let split = folds(&data, seed);
    let mut runs: Vec<(FormCheck, Vec<f64>, Vec<f64>)> = ConversionForm::ALL
        .iter()
        .map(|&form| {
            let score = held_out(form, &data, &split, nch);
            let rates = Rates {
                sets: sets.clone(),
                model: FormFit::fit(form, &data, nch),
            };
            let (inc, inc_value) = credit(&rates, &values, aov, nch, seed);
            let check = FormCheck {
                form,
                held_out_log_lik: score,
                baseline_rate: rates.p(&[]),
                shares: t.channels.iter().cloned().zip(normalise(&inc)).collect(),
            };
            (check, inc, inc_value)
        })
        .collect();
    let scores: Vec<f64> = runs.iter().map(|r| r.0.held_out_log_lik).collect();
    let best = best_index(&scores);
    let max_share_shift = runs
        .iter()
        .flat_map(|r| {
            r.0.shares
                .values()
                .zip(runs[best].0.shares.values())
                .map(|(a, b)| (a - b).abs())
        })
        .fold(0.0, f64::max);
    let candidates: Vec<FormCheck> = runs.iter().map(|r| r.0.clone()).collect();
    let (chosen, inc, inc_value) = runs.swap_remove(best);
    ShapleyResult {
        conversion_shares: normalise(&inc),
        value_shares: normalise(&inc_value),
        incremental: inc,
        baseline_rate: chosen.baseline_rate,
        conversion_model: ConversionModelCheck {
            chosen: chosen.form,
            candidates,
            max_share_shift,
            baseline_source: match evidence {
                None => BaselineSource::Model,
                Some(BaselineEvidence::ControlGroup(_)) => BaselineSource::ControlGroup,
                Some(BaselineEvidence::OrganicShare(_)) => BaselineSource::OrganicShare,
            },
        },
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
    /// total is Σ_T N_T (p̂(T) − p̂(∅)) under the chosen conversion model.
    #[test]
    fn efficiency() {
        let t = table(&[
            (&["a"], 100.0, 900.0),
            (&["b"], 50.0, 950.0),
            (&["a", "b"], 160.0, 840.0),
            (&["b", "c", "a"], 30.0, 170.0),
        ]);
        let r = shapley(&t, 1, None);
        let mut sets = FxHashMap::default();
        for (m, n, c) in [
            (&[0u32][..], 1000.0, 100.0),
            (&[1], 1000.0, 50.0),
            (&[0, 1], 1000.0, 160.0),
            (&[0, 1, 2], 200.0, 30.0),
        ] {
            sets.insert(Set::from(m), (n, c));
        }
        let mut keys: Vec<&Set> = sets.keys().collect();
        keys.sort_unstable();
        let data: Vec<(&Set, Counts)> = keys.iter().map(|s| (*s, sets[*s])).collect();
        let rates = Rates {
            sets: sets.clone(),
            model: FormFit::fit(r.conversion_model.chosen, &data, 3),
        };
        let want: f64 = sets
            .iter()
            .map(|(m, (n, _))| n * (rates.p(m) - rates.p(&[])))
            .sum();
        let got: f64 = r.incremental.iter().sum();
        assert!((got - want).abs() < 1e-9 * want.abs(), "{got} vs {want}");
        assert!((r.conversion_shares.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert_eq!(r.conversion_model.candidates.len(), 4);
    }

    /// Two-player game by hand: v(a) = 0.1, v(b) = 0.05, v(ab) = 0.2:
    /// φ_a = ½(0.1) + ½(0.2 − 0.05) = 0.125, φ_b = 0.075.
    #[test]
    fn two_player_by_hand() {
        let worth = |s: &[u32]| match s {
            [0] => 0.1,
            [1] => 0.05,
            [0, 1] => 0.2,
            _ => 0.0,
        };
        let mut out = vec![0.0; 2];
        values_for_set(&worth, &[0, 1], &mut StdRng::seed_from_u64(0), &mut out);
        assert!(
            (out[0] - 0.125).abs() < 1e-9 && (out[1] - 0.075).abs() < 1e-9,
            "{out:?}"
        );
    }

    /// Exact counts from a logistic truth (every set of 4 channels observed, large n):
    /// the logistic forms win the held-out comparison over noisy-OR and extrapolate
    /// `p(∅)` to the truth; exact noisy-OR counts pick noisy-OR.
    #[test]
    fn the_form_that_generated_the_data_wins() {
        let b = [0.6, 0.3, 0.0, 0.9];
        let q = [0.02, 0.01, 0.0, 0.03];
        for truth in [ConversionForm::Logistic, ConversionForm::NoisyOr] {
            let mut sets = FxHashMap::default();
            for mask in 1u32..16 {
                let s: Vec<u32> = (0..4).filter(|c| mask >> c & 1 == 1).collect();
                let p = match truth {
                    ConversionForm::NoisyOr => {
                        1.0 - 0.97 * s.iter().map(|&c| 1.0 - q[c as usize]).product::<f64>()
                    }
                    _ => {
                        let z =
                            (0.03f64 / 0.97).ln() + s.iter().map(|&c| b[c as usize]).sum::<f64>();
                        1.0 / (1.0 + (-z).exp())
                    }
                };
                let n = 200_000.0;
                sets.insert(Set::from(s), (n, (n * p).round()));
            }
            let mut keys: Vec<&Set> = sets.keys().collect();
            keys.sort_unstable();
            let data: Vec<(&Set, Counts)> = keys.iter().map(|s| (*s, sets[*s])).collect();
            let split = folds(&data, 3);
            let score = |f| held_out(f, &data, &split, 4);
            let (no, lo) = (
                score(ConversionForm::NoisyOr),
                score(ConversionForm::Logistic),
            );
            match truth {
                ConversionForm::NoisyOr => assert!(no > lo, "{no} vs {lo}"),
                _ => {
                    assert!(lo > no, "{lo} vs {no}");
                    let p0 = FormFit::fit(ConversionForm::Logistic, &data, 4).p(&[]);
                    assert!((p0 - 0.03).abs() < 0.002, "p(∅) {p0}");
                }
            }
        }
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
        let r = shapley(&t, 1, None);
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
