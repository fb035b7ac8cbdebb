//! The separable allocation problem and its global solver.
//!
//! Maximise `Σ_c F_c(x_c) − θ · Σ_c x_c` subject to `x_c ∈ S_c` and a budget
//! (`Σ x_c = B` or `Σ x_c ≤ B`), where each `F_c` is a channel's response (non-decreasing,
//! possibly S-shaped, so the problem is not concave) and each feasible set is
//! `S_c = {0 if the channel may be off} ∪ [lo_c, hi_c]`.
//!
//! 1. Dynamic programming over a budget grid of `steps` units finds the global optimum
//!    on the grid (every channel's option is evaluated exactly; no convexity assumed).
//! 2. A continuous polish around the grid optimum equalises marginal returns: for a
//!    budget multiplier `μ`, each channel maximises `F_c(x) − (θ + μ) x` in a small box
//!    around its grid choice, and `μ` is bisected until the budget is met.
//! 3. A Lagrangian dual bound `min_μ Σ_c max_{x∈S_c} [F_c(x) − (θ+μ) x] + μ B` gives an
//!    upper bound on the optimum, so the reported gap certifies how far from optimal the
//!    answer can be (zero up to rounding when the curves are concave).

use super::curve::Curve;

/// A channel's feasible spend: `{0 if off_allowed} ∪ [lo, hi]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Feasible {
    /// Lowest spend when on.
    pub lo: f64,
    /// Highest spend.
    pub hi: f64,
    /// Whether zero spend is allowed even though `lo > 0` (minimum buys).
    pub off_allowed: bool,
}

impl Feasible {
    /// Whether spend `x` is allowed (with tolerance `tol`).
    pub fn contains(&self, x: f64, tol: f64) -> bool {
        (self.off_allowed && x.abs() <= tol) || (x >= self.lo - tol && x <= self.hi + tol)
    }

    fn fixed(&self) -> bool {
        !self.off_allowed && self.hi - self.lo <= 0.0
    }

    /// Smallest allowed spend.
    pub fn min(&self) -> f64 {
        if self.off_allowed {
            0.0
        } else {
            self.lo
        }
    }
}

/// Budget constraint.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Budget {
    /// Spend exactly this much.
    Exactly(f64),
    /// Spend at most this much.
    AtMost(f64),
}

impl Budget {
    fn amount(self) -> f64 {
        match self {
            Budget::Exactly(b) | Budget::AtMost(b) => b,
        }
    }
}

/// Why a problem has no solution.
#[derive(Debug, Clone, PartialEq)]
pub struct Infeasible(pub String);

/// A solution with its certificate.
#[derive(Debug, Clone, PartialEq)]
pub struct Solution {
    /// Spend per channel.
    pub x: Vec<f64>,
    /// `Σ F_c(x_c) − θ Σ x_c`.
    pub objective: f64,
    /// Upper bound on the optimum (Lagrangian dual).
    pub dual_bound: f64,
    /// Marginal objective per extra unit of budget (0 when the budget does not bind).
    pub budget_shadow_price: f64,
}

/// Best values before a channel, and its options `(units, spend, value)`.
type Stage = (Vec<f64>, Vec<(usize, f64, f64)>);

/// The grid dynamic programme: `value[b]` is the best objective spending exactly `b`
/// grid units; the stage values rebuild the choices.
pub struct Frontier {
    /// Budget per grid unit.
    pub delta: f64,
    /// Best objective per number of units used (`-inf` if unreachable).
    pub value: Vec<f64>,
    /// Spend outside the grid: locked channels and the floors of channels that must be on.
    pub offset: f64,
    /// Final values without the fixed channels.
    end: Vec<f64>,
    /// Per channel: the best values before it, and its options `(units, spend, value)`.
    stages: Vec<Stage>,
    fixed: Vec<Option<f64>>,
}

impl Frontier {
    /// Run the programme for budgets up to `budget` in `steps` units.
    pub fn new(curves: &[Curve], feas: &[Feasible], budget: f64, theta: f64, steps: usize) -> Self {
        let fixed: Vec<Option<f64>> = feas.iter().map(|f| f.fixed().then_some(f.lo)).collect();
        let fixed_spend: f64 = fixed.iter().flatten().sum();
        // Lower bounds of channels that must be on are paid up front, so they hold exactly;
        // the grid covers what is left.
        let floors: f64 = feas
            .iter()
            .zip(&fixed)
            .filter(|(f, x)| x.is_none() && !f.off_allowed)
            .map(|(f, _)| f.lo)
            .sum();
        let free = budget - fixed_spend - floors;
        // Nothing left to allocate: a single grid point (everyone at their floor).
        let k_max = if free > 0.0 { steps.max(1) } else { 0 };
        let delta = if free > 0.0 { free / k_max as f64 } else { 1.0 };
        let mut value = vec![f64::NEG_INFINITY; k_max + 1];
        value[0] = if free >= -1e-12 * budget.abs().max(1.0) {
            0.0
        } else {
            f64::NEG_INFINITY
        };
        let mut stages = Vec::with_capacity(curves.len());
        for (c, f) in feas.iter().enumerate() {
            if fixed[c].is_some() {
                stages.push((Vec::new(), Vec::new()));
                continue;
            }
            // Options: units k and the spend they stand for, so that every grid allocation
            // spends exactly its units. A channel that must be on spends `lo + kΔ`; a
            // minimum buy is off, or spends `kΔ ≥ lo` (patterns whose slack is below a
            // step are checked in `solve`).
            let steps_in = |w: f64| ((w / delta) + 1e-9).floor().max(0.0) as usize;
            let mut opts: Vec<(usize, f64)> = Vec::new();
            let width = (f.hi - f.lo).max(0.0);
            if f.off_allowed && f.lo > 0.0 {
                opts.push((0, 0.0));
                let c0 = ((f.lo / delta) - 1e-9).ceil().max(1.0) as usize;
                let c1 = steps_in(f.hi).min(k_max);
                opts.extend((c0..=c1).map(|k| (k, k as f64 * delta)));
            } else {
                opts.extend(
                    (0..=steps_in(width).min(k_max))
                        .map(|k| (k, (f.lo + k as f64 * delta).min(f.hi))),
                );
            }
            let opts: Vec<(usize, f64, f64)> = opts
                .iter()
                .map(|&(k, x)| (k, x, curves[c].value(x) - theta * x))
                .collect();
            let mut next = vec![f64::NEG_INFINITY; k_max + 1];
            for &(k, _, v) in &opts {
                // Branch-free so the compiler vectorises it.
                for (d, p) in next[k..].iter_mut().zip(&value[..=k_max - k]) {
                    let cand = p + v;
                    *d = if cand > *d { cand } else { *d };
                }
            }
            stages.push((std::mem::replace(&mut value, next), opts));
        }
        let fixed_value: f64 = fixed
            .iter()
            .enumerate()
            .filter_map(|(c, x)| x.map(|x| curves[c].value(x) - theta * x))
            .sum();
        let end = value.clone();
        value.iter_mut().for_each(|v| *v += fixed_value);
        Frontier {
            end,
            delta,
            value,
            offset: fixed_spend + floors,
            stages,
            fixed,
        }
    }

    /// Total spend of the grid allocations that use `b` units.
    pub fn budget_of(&self, b: usize) -> f64 {
        self.offset + b as f64 * self.delta
    }

    /// Spend per channel of the grid optimum that uses exactly `b` units.
    pub fn allocation(&self, b: usize) -> Vec<f64> {
        let mut x = vec![0.0; self.fixed.len()];
        let mut rest = b;
        let mut after = &self.end;
        for c in (0..self.fixed.len()).rev() {
            if let Some(v) = self.fixed[c] {
                x[c] = v;
                continue;
            }
            let (before, opts) = &self.stages[c];
            // The option that produced the best value (recomputed bit for bit).
            if let Some(&(k, xv, _)) = opts
                .iter()
                .find(|&&(k, _, v)| k <= rest && before[rest - k] + v == after[rest])
            {
                x[c] = xv;
                rest -= k;
            }
            after = before;
        }
        x
    }
}

/// Objective `Σ F_c(x_c) − θ Σ x_c`.
pub fn objective(curves: &[Curve], x: &[f64], theta: f64) -> f64 {
    curves
        .iter()
        .zip(x)
        .map(|(c, &x)| c.value(x) - theta * x)
        .sum()
}

/// Solve globally: grid programme, continuous polish, dual bound.
pub fn solve(
    curves: &[Curve],
    feas: &[Feasible],
    budget: Budget,
    theta: f64,
    steps: usize,
) -> Result<Solution, Infeasible> {
    check(feas, budget)?;
    let b = budget.amount();
    let fr = Frontier::new(curves, feas, b, theta, steps);
    let k = match budget {
        Budget::Exactly(_) => fr.value.len() - 1,
        Budget::AtMost(_) => (0..fr.value.len())
            .max_by(|&i, &j| fr.value[i].total_cmp(&fr.value[j]))
            .unwrap_or(0),
    };
    let mut best: Option<(f64, Vec<f64>)> = None;
    let consider = |best: &mut Option<(f64, Vec<f64>)>, x: Vec<f64>| {
        let obj = objective(curves, &x, theta);
        if best.as_ref().is_none_or(|(o, _)| obj > *o) {
            *best = Some((obj, x));
        }
    };
    if fr.value[k].is_finite() {
        if let Ok(x) = refine(curves, feas, budget, theta, fr.allocation(k), fr.delta) {
            consider(&mut best, x);
        }
    }
    // Minimum buys are charged whole grid units, so on/off patterns with less slack than
    // that can be invisible to the grid. Check each such pattern from a proportional fill
    // of its ranges (feasible by construction), polished.
    let optional: Vec<usize> = (0..feas.len())
        .filter(|&c| feas[c].off_allowed && feas[c].lo > 0.0)
        .collect();
    // When the grid found nothing (ranges narrower than a step at their upper ends too),
    // every pattern that brackets the budget is checked.
    let grid_found = best.is_some();
    if optional.len() <= 12 {
        let exact = matches!(budget, Budget::Exactly(_));
        for mask in 0..1u32 << optional.len() {
            let mut pattern = feas.to_vec();
            for (bit, &c) in optional.iter().enumerate() {
                pattern[c] = if mask & (1 << bit) != 0 {
                    Feasible {
                        off_allowed: false,
                        ..feas[c]
                    }
                } else {
                    Feasible {
                        lo: 0.0,
                        hi: 0.0,
                        off_allowed: false,
                    }
                };
            }
            let lo: f64 = pattern.iter().map(|f| f.lo).sum();
            let hi: f64 = pattern.iter().map(|f| f.hi).sum();
            let slack = b - lo;
            let on = mask.count_ones() as f64;
            if slack < 0.0 || (exact && hi < b) || (grid_found && slack > (on + 1.0) * fr.delta) {
                continue;
            }
            let share = if exact && hi > lo {
                slack / (hi - lo)
            } else {
                0.0
            };
            let x0: Vec<f64> = pattern
                .iter()
                .map(|f| f.lo + share * (f.hi - f.lo))
                .collect();
            if let Ok(x) = refine(curves, &pattern, budget, theta, x0, fr.delta) {
                consider(&mut best, x);
            }
        }
    }
    match best {
        Some((_, x)) => {
            let x = flip_bounds(curves, feas, budget, theta, x, fr.delta);
            finish(curves, feas, budget, theta, x, fr.delta)
        }
        None => Err(Infeasible(
            "no combination of channels on and off can spend the budget within the channel \
             bounds"
                .into(),
        )),
    }
}

/// The grid can misjudge which of two nearly equal basins is better by up to a step's
/// worth of return (a bound that is not on the grid). Each channel sitting on a bound is
/// tried on its other bounds (the difference taken from or given to the others in
/// proportion to their room) and polished; the best allocation is kept.
fn flip_bounds(
    curves: &[Curve],
    feas: &[Feasible],
    budget: Budget,
    theta: f64,
    mut x: Vec<f64>,
    delta: f64,
) -> Vec<f64> {
    let tol = 1e-9 * budget.amount().max(1.0);
    let mut best = objective(curves, &x, theta);
    for c in 0..x.len() {
        let f = feas[c];
        if f.fixed() || (x[c] - f.lo).abs() > tol && (x[c] - f.hi).abs() > tol && x[c] > tol {
            continue;
        }
        // Only bounds the grid cannot land on: a cap between grid points (channels that
        // must be on sit on the grid from their floor) and a minimum buy's threshold.
        let off_grid = |v: f64, from: f64| {
            let u = (v - from) / delta;
            (u - u.round()).abs() > 1e-6
        };
        let mut targets = Vec::new();
        if f.hi < budget.amount() && off_grid(f.hi, if f.off_allowed { 0.0 } else { f.lo }) {
            targets.push(f.hi);
        }
        if f.off_allowed && f.lo > 0.0 && off_grid(f.lo, 0.0) {
            targets.push(f.lo);
        }
        for t in targets {
            if (t - x[c]).abs() <= tol || !t.is_finite() {
                continue;
            }
            let mut x0 = x.clone();
            x0[c] = t;
            // What the others must give (d < 0) or take (d > 0) to meet the budget: all of
            // it for an exact budget, only the excess for an upper limit.
            let gap = budget.amount() - x0.iter().sum::<f64>();
            let d = match budget {
                Budget::Exactly(_) => gap,
                Budget::AtMost(_) => gap.min(0.0),
            };
            let off = |i: usize| feas[i].off_allowed && feas[i].lo > 0.0 && x[i] <= tol;
            let room = |i: usize| {
                if i == c || off(i) {
                    0.0
                } else if d > 0.0 {
                    feas[i].hi - x[i]
                } else if x[i] > tol {
                    x[i] - feas[i].lo
                } else {
                    0.0
                }
            };
            let total: f64 = (0..x.len()).map(room).sum();
            if total < d.abs() - tol {
                continue;
            }
            if d != 0.0 {
                for (i, v) in x0.iter_mut().enumerate() {
                    *v += d * room(i) / total.max(f64::MIN_POSITIVE);
                }
            }
            let mut pinned = feas.to_vec();
            pinned[c] = Feasible {
                lo: t,
                hi: t,
                off_allowed: false,
            };
            let Ok(y) = refine(curves, &pinned, budget, theta, x0, delta) else {
                continue;
            };
            let Ok(y) = refine(curves, feas, budget, theta, y, delta) else {
                continue;
            };
            let obj = objective(curves, &y, theta);
            if obj > best + 1e-12 * best.abs().max(1.0) {
                best = obj;
                x = y;
            }
        }
    }
    x
}

/// Polish a grid allocation and attach the certificate.
pub fn finish(
    curves: &[Curve],
    feas: &[Feasible],
    budget: Budget,
    theta: f64,
    x0: Vec<f64>,
    delta: f64,
) -> Result<Solution, Infeasible> {
    let x = refine(curves, feas, budget, theta, x0, delta)?;
    let obj = objective(curves, &x, theta);
    let shadow = shadow_price(curves, feas, budget, theta, &x);
    Ok(Solution {
        dual_bound: dual_bound(curves, feas, budget, theta).max(obj),
        budget_shadow_price: shadow,
        objective: obj,
        x,
    })
}

/// The continuous polish of a grid allocation (the better of the two when the grid
/// allocation already meets the budget), without the certificate.
pub fn refine(
    curves: &[Curve],
    feas: &[Feasible],
    budget: Budget,
    theta: f64,
    x0: Vec<f64>,
    delta: f64,
) -> Result<Vec<f64>, Infeasible> {
    let b = budget.amount();
    let tol = 1e-9 * b.max(1.0);
    let x_dp_ok = match budget {
        Budget::Exactly(_) => (x0.iter().sum::<f64>() - b).abs() <= tol,
        Budget::AtMost(_) => x0.iter().sum::<f64>() <= b + tol,
    };
    match polish(curves, feas, budget, theta, &x0, delta) {
        Some(x1)
            if !x_dp_ok
                || objective(curves, &x1, theta) >= objective(curves, &x0, theta) - 1e-12 =>
        {
            Ok(x1)
        }
        None if !x_dp_ok => Err(Infeasible(
            "the channel bounds cannot spend the budget exactly".into(),
        )),
        _ => Ok(x0),
    }
}

pub(crate) fn check(feas: &[Feasible], budget: Budget) -> Result<(), Infeasible> {
    let b = budget.amount();
    if !(b.is_finite() && b >= 0.0) {
        return Err(Infeasible(format!(
            "budget must be a finite number ≥ 0 (got {b})"
        )));
    }
    let min: f64 = feas.iter().map(Feasible::min).sum();
    let max: f64 = feas.iter().map(|f| f.hi).sum();
    if min > b * (1.0 + 1e-12) + 1e-9 {
        return Err(Infeasible(format!(
            "channel minimums add up to {min:.2}, more than the budget {b:.2}"
        )));
    }
    if let Budget::Exactly(_) = budget {
        if max < b * (1.0 - 1e-12) - 1e-9 {
            return Err(Infeasible(format!(
                "channel maximums add up to {max:.2}, less than the budget {b:.2}"
            )));
        }
    }
    Ok(())
}

/// Best `x` in `[a, b]` for `F(x) − p x`: a coarse scan, then golden section around
/// the best sample.
fn argmax_in(curve: &Curve, a: f64, b: f64, p: f64) -> f64 {
    if b <= a {
        return a;
    }
    const N: usize = 8;
    let g = |x: f64| curve.value(x) - p * x;
    let step = (b - a) / N as f64;
    let (mut best, mut best_v) = (a, g(a));
    for i in 1..=N {
        let x = if i == N { b } else { a + step * i as f64 };
        let v = g(x);
        if v > best_v {
            best = x;
            best_v = v;
        }
    }
    let (m, _) = golden_max((best - step).max(a), (best + step).min(b), 30, g);
    [m, best]
        .into_iter()
        .max_by(|u, v| g(*u).total_cmp(&g(*v)))
        .unwrap_or(best)
}

/// Golden-section search for the maximum of a unimodal `f` on `[lo, hi]`: the midpoint
/// of the final bracket and the best value seen.
fn golden_max(mut lo: f64, mut hi: f64, iters: usize, f: impl Fn(f64) -> f64) -> (f64, f64) {
    let r = 0.5 * (5f64.sqrt() - 1.0);
    let (mut c, mut d) = (hi - r * (hi - lo), lo + r * (hi - lo));
    let (mut fc, mut fd) = (f(c), f(d));
    for _ in 0..iters {
        if fc >= fd {
            hi = d;
            d = c;
            fd = fc;
            c = hi - r * (hi - lo);
            fc = f(c);
        } else {
            lo = c;
            c = d;
            fc = fd;
            d = lo + r * (hi - lo);
            fd = f(d);
        }
    }
    (0.5 * (lo + hi), fc.max(fd))
}

/// Continuous polish in boxes around `x0` (channels that are off stay off).
fn polish(
    curves: &[Curve],
    feas: &[Feasible],
    budget: Budget,
    theta: f64,
    x0: &[f64],
    delta: f64,
) -> Option<Vec<f64>> {
    let b = budget.amount();
    let tol = 1e-12 * b.max(1.0);
    let off: Vec<bool> = feas
        .iter()
        .zip(x0)
        .map(|(f, &x)| f.off_allowed && f.lo > 0.0 && x <= 0.0)
        .collect();
    let mut x = x0.to_vec();
    let mut radius = 4.0 * delta;
    let mut met = false;
    for _round in 0..12 {
        let boxes: Vec<(f64, f64)> = (0..x.len())
            .map(|c| {
                if off[c] {
                    (0.0, 0.0)
                } else {
                    let f = &feas[c];
                    ((x[c] - radius).max(f.lo), (x[c] + radius).min(f.hi))
                }
            })
            .collect();
        let lo_sum: f64 = boxes.iter().map(|b| b.0).sum();
        let hi_sum: f64 = boxes.iter().map(|b| b.1).sum();
        let need_exact = matches!(budget, Budget::Exactly(_));
        if lo_sum > b + tol || (need_exact && hi_sum < b - tol) {
            radius *= 4.0;
            continue;
        }
        met = true;
        let at = |mu: f64| -> Vec<f64> {
            (0..x.len())
                .map(|c| argmax_in(&curves[c], boxes[c].0, boxes[c].1, theta + mu))
                .collect()
        };
        let sum = |v: &[f64]| v.iter().sum::<f64>();
        let slope_cap =
            curves.iter().map(|c| c.max_slope()).fold(0.0f64, f64::max) + theta.abs() + 1.0;
        let (mut mu_lo, mut mu_hi) = match budget {
            Budget::Exactly(_) => (-theta - 1.0, slope_cap),
            Budget::AtMost(_) => (0.0, slope_cap),
        };
        let mut x_lo = at(mu_lo);
        if matches!(budget, Budget::AtMost(_)) && sum(&x_lo) <= b + tol {
            x = x_lo;
        } else {
            let mut x_hi = at(mu_hi);
            for _ in 0..200 {
                if mu_hi - mu_lo <= 1e-15 * (1.0 + mu_hi.abs()) {
                    break;
                }
                let mid = 0.5 * (mu_lo + mu_hi);
                let xm = at(mid);
                if sum(&xm) > b {
                    mu_lo = mid;
                    x_lo = xm;
                } else {
                    mu_hi = mid;
                    x_hi = xm;
                }
            }
            let (s_lo, s_hi) = (sum(&x_lo), sum(&x_hi));
            let a = if s_lo - s_hi > 0.0 {
                ((b - s_hi) / (s_lo - s_hi)).clamp(0.0, 1.0)
            } else {
                0.0
            };
            // Where a channel's best response jumps (a convex stretch), mixing the two
            // sides is not optimal: also try the under-spending side as is (budget "at
            // most") and the rest of the budget on any single channel.
            let mix: Vec<f64> = x_hi
                .iter()
                .zip(&x_lo)
                .map(|(h, l)| h + a * (l - h))
                .collect();
            let rest = b - s_hi;
            let mut candidates = vec![mix];
            if !need_exact {
                candidates.push(x_hi.clone());
            }
            for i in 0..x_hi.len() {
                if x_hi[i] + rest <= boxes[i].1 + tol {
                    let mut y = x_hi.clone();
                    y[i] += rest;
                    candidates.push(y);
                }
            }
            x = candidates
                .into_iter()
                .max_by(|u, v| objective(curves, u, theta).total_cmp(&objective(curves, v, theta)))
                .unwrap_or(x_lo);
        }
        if need_exact {
            settle_residual(&mut x, &boxes, b);
        }
        let at_edge = (0..x.len()).any(|c| {
            let f = &feas[c];
            let (l, h) = boxes[c];
            !off[c]
                && ((x[c] - l).abs() <= tol && l > f.lo + tol
                    || (h - x[c]).abs() <= tol && h < f.hi - tol)
        });
        if !at_edge {
            break;
        }
        radius *= 2.0;
    }
    met.then_some(x)
}

/// Put a rounding residual on the channel with the most room in its box.
fn settle_residual(x: &mut [f64], boxes: &[(f64, f64)], b: f64) {
    let r = b - x.iter().sum::<f64>();
    if r == 0.0 {
        return;
    }
    let room = |c: usize| {
        if r > 0.0 {
            boxes[c].1 - x[c]
        } else {
            x[c] - boxes[c].0
        }
    };
    if let Some(c) = (0..x.len()).max_by(|&i, &j| room(i).total_cmp(&room(j))) {
        x[c] = (x[c] + r).clamp(boxes[c].0, boxes[c].1);
    }
}

/// Marginal objective per unit of budget at `x`: the common marginal return of channels
/// strictly inside their bounds, else a one-sided difference of re-solved optima.
fn shadow_price(curves: &[Curve], feas: &[Feasible], budget: Budget, theta: f64, x: &[f64]) -> f64 {
    let b = budget.amount();
    let tol = 1e-7 * b.max(1.0);
    if let Budget::AtMost(_) = budget {
        if x.iter().sum::<f64>() < b - tol {
            return 0.0;
        }
    }
    let interior: Vec<f64> = (0..x.len())
        .filter(|&c| x[c] > feas[c].lo + tol && x[c] < feas[c].hi - tol)
        .map(|c| curves[c].slope(x[c]) - theta)
        .collect();
    if !interior.is_empty() {
        return (interior.iter().sum::<f64>() / interior.len() as f64).max(0.0);
    }
    // Every channel sits on a bound: the budget can only move a channel off its bound,
    // so the best use of one more unit is the best marginal return among channels that
    // may still grow (or 0 if none can).
    (0..x.len())
        .filter(|&c| x[c] < feas[c].hi - tol && !(feas[c].off_allowed && x[c] <= 0.0))
        .map(|c| curves[c].slope(x[c]) - theta)
        .fold(0.0f64, f64::max)
}

/// Best `F(x) − p x` over a channel's feasible set.
fn best_in_set(curve: &Curve, f: &Feasible, p: f64) -> f64 {
    let inner = if f.hi >= f.lo {
        let x = argmax_dense(curve, f.lo, f.hi, p);
        curve.value(x) - p * x
    } else {
        f64::NEG_INFINITY
    };
    if f.off_allowed || f.lo <= 0.0 {
        inner.max(curve.value(0.0))
    } else {
        inner
    }
}

/// Global argmax of `F(x) − p x` on `[a, b]` by a dense scan of the curve's nodes.
fn argmax_dense(curve: &Curve, a: f64, b: f64, p: f64) -> f64 {
    let g = |x: f64| curve.value(x) - p * x;
    let mut cand: Vec<f64> = curve
        .nodes()
        .iter()
        .copied()
        .filter(|&v| v > a && v < b)
        .collect();
    cand.push(a);
    cand.push(b);
    let best = cand
        .iter()
        .copied()
        .max_by(|u, v| g(*u).total_cmp(&g(*v)))
        .unwrap_or(a);
    let span = curve.node_spacing_near(best);
    argmax_in(curve, (best - span).max(a), (best + span).min(b), p)
}

/// Lagrangian dual bound `min_μ Σ_c max_{S_c} [F_c − (θ+μ) x] + μ B` (μ ≥ 0 for `≤`).
fn dual_bound(curves: &[Curve], feas: &[Feasible], budget: Budget, theta: f64) -> f64 {
    let b = budget.amount();
    let u = |mu: f64| -> f64 {
        curves
            .iter()
            .zip(feas)
            .map(|(c, f)| best_in_set(c, f, theta + mu))
            .sum::<f64>()
            + mu * b
    };
    let cap = curves.iter().map(|c| c.max_slope()).fold(0.0f64, f64::max) + theta.abs() + 1.0;
    let (lo, hi) = match budget {
        Budget::Exactly(_) => (-theta - 1.0, cap),
        Budget::AtMost(_) => (0.0, cap),
    };
    let (_, neg) = golden_max(lo, hi, 50, |mu| -u(mu));
    let ends = match budget {
        Budget::Exactly(_) => f64::INFINITY,
        Budget::AtMost(_) => u(0.0),
    };
    (-neg).min(ends)
}
