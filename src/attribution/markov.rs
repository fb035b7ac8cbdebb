//! Markov-chain attribution with removal effects, solved exactly.
//!
//! Conventions (as ChannelAttribution): consecutive repeats of a channel are collapsed; a
//! path `c1 > … > cn` walks `(start) → s1 → … → sn → (conversion)` for each conversion and
//! `→ (null)` for each non-converting journey; for order `k` the state `s_i` is the tuple of
//! the last `min(i, k)` channels. Transition probabilities are the normalised counts.
//! Removing channel `X` sends every transition into a state that contains `X` to
//! `(null)`. With `P` the probability of reaching `(conversion)` from `(start)`, the removal
//! effect is `RE_X = 1 − P_{−X} / P` and `X` is credited `RE_X / Σ RE` of all conversions.
//! Value uses the same chain with each state's exit reward set to the average value of the
//! conversions leaving it (expected value instead of probability). Unlike
//! ChannelAttribution's Monte-Carlo estimate, absorption probabilities are computed exactly
//! (dense LU for small chains, Gauss–Seidel to machine precision for large ones).

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use super::PathTable;

/// Result of the Markov model.
#[derive(Debug, Clone)]
pub struct MarkovResult {
    /// Removal effect per channel.
    pub removal_effects: Vec<f64>,
    /// Conversion credit shares per channel (sum 1).
    pub conversion_shares: Vec<f64>,
    /// Value credit shares per channel (sum 1).
    pub value_shares: Vec<f64>,
    /// Conversion probability of the full chain.
    pub conversion_probability: f64,
}

/// Pack a state (up to 3 channel ids, each < 2^20) into a key.
fn key(tuple: &[u32]) -> u64 {
    let mut k = tuple.len() as u64;
    for c in tuple {
        k = (k << 20) | (*c as u64 + 1);
    }
    k
}

/// The chain: states (as channel tuples) with sparse outgoing transitions.
struct Chain {
    states: Vec<Vec<u32>>,
    /// Outgoing transitions per state: (target, weight); `start` is state 0 (no tuple).
    out: Vec<Vec<(usize, f64)>>,
    to_conv: Vec<f64>,
    conv_value: Vec<f64>,
}

const START: usize = 0;

type Counts = (
    FxHashMap<u64, usize>,
    Vec<Vec<u32>>,
    FxHashMap<(usize, usize), f64>,
    Vec<[f64; 3]>,
);

/// Paths per parallel chunk: fixed by the table, not by the thread count, and the chunks'
/// counts are merged in chunk order, so sums are the same on any number of threads.
fn chunk_len(t: &PathTable) -> usize {
    (t.paths.len() / 64).max(1024)
}

/// Order 1: states are channels, counted in dense per-chunk matrices (no hashing).
fn build_chain_order1(t: &PathTable) -> Chain {
    let n = t.channels.len() + 1;
    let chunk = chunk_len(t);
    let (trans, exits) = t
        .paths
        .par_chunks(chunk)
        .map(|rows| {
            let mut trans = vec![0.0; n * n];
            let mut exits = vec![[0.0; 3]; n];
            for row in rows {
                let w = row.conversions + row.nulls;
                if w <= 0.0 {
                    continue;
                }
                let mut prev = START;
                for &tok in t.path(row) {
                    let s = t.channel_of(tok) as usize + 1;
                    if s != prev {
                        trans[prev * n + s] += w;
                        prev = s;
                    }
                }
                exits[prev][0] += row.conversions;
                exits[prev][1] += row.value;
                exits[prev][2] += row.nulls;
            }
            (trans, exits)
        })
        .collect::<Vec<_>>()
        .into_iter()
        .fold(
            (vec![0.0; n * n], vec![[0.0; 3]; n]),
            |(mut ta, mut ea), (tb, eb)| {
                ta.iter_mut().zip(&tb).for_each(|(a, b)| *a += b);
                for (a, b) in ea.iter_mut().zip(&eb) {
                    for j in 0..3 {
                        a[j] += b[j];
                    }
                }
                (ta, ea)
            },
        );
    let states: Vec<Vec<u32>> = std::iter::once(Vec::new())
        .chain((0..t.channels.len() as u32).map(|c| vec![c]))
        .collect();
    let mut map = FxHashMap::default();
    for i in 0..n {
        for j in 0..n {
            if trans[i * n + j] > 0.0 {
                map.insert((i, j), trans[i * n + j]);
            }
        }
    }
    finish_chain(states, &map, &exits)
}

fn build_chain(t: &PathTable, order: usize) -> Chain {
    if order <= 1 {
        return build_chain_order1(t);
    }
    let order = order.clamp(1, 3);
    let chunk = chunk_len(t);
    let locals: Vec<Counts> = t
        .paths
        .par_chunks(chunk)
        .map(|rows| {
            let mut ids: FxHashMap<u64, usize> = FxHashMap::default();
            let mut states: Vec<Vec<u32>> = vec![Vec::new()];
            ids.insert(0, START);
            let mut trans: FxHashMap<(usize, usize), f64> = FxHashMap::default();
            let mut exits: Vec<[f64; 3]> = vec![[0.0; 3]];
            let mut seq: Vec<u32> = Vec::new();
            for row in rows {
                let w = row.conversions + row.nulls;
                if w <= 0.0 {
                    continue;
                }
                seq.clear();
                for &tok in t.path(row) {
                    let c = t.channel_of(tok);
                    if seq.last() != Some(&c) {
                        seq.push(c);
                    }
                }
                let mut prev = START;
                for i in 0..seq.len() {
                    let tuple = &seq[(i + 1).saturating_sub(order)..=i];
                    let k = key(tuple);
                    let s = *ids.entry(k).or_insert_with(|| {
                        states.push(tuple.to_vec());
                        exits.push([0.0; 3]);
                        states.len() - 1
                    });
                    *trans.entry((prev, s)).or_insert(0.0) += w;
                    prev = s;
                }
                exits[prev][0] += row.conversions;
                exits[prev][1] += row.value;
                exits[prev][2] += row.nulls;
            }
            (ids, states, trans, exits)
        })
        .collect();
    // Merge into global numbering.
    let mut ids: FxHashMap<u64, usize> = FxHashMap::default();
    let mut states: Vec<Vec<u32>> = vec![Vec::new()];
    ids.insert(0, START);
    let mut trans: FxHashMap<(usize, usize), f64> = FxHashMap::default();
    let mut exits: Vec<[f64; 3]> = vec![[0.0; 3]];
    for (lids, lstates, ltrans, lexits) in locals {
        let map: Vec<usize> = lstates
            .iter()
            .map(|s| {
                let k = key(s);
                *ids.entry(k).or_insert_with(|| {
                    states.push(s.clone());
                    exits.push([0.0; 3]);
                    states.len() - 1
                })
            })
            .collect();
        drop(lids);
        for ((a, b), w) in ltrans {
            *trans.entry((map[a], map[b])).or_insert(0.0) += w;
        }
        for (i, e) in lexits.iter().enumerate() {
            for j in 0..3 {
                exits[map[i]][j] += e[j];
            }
        }
    }
    finish_chain(states, &trans, &exits)
}

/// Normalise counts into transition and exit probabilities.
fn finish_chain(
    states: Vec<Vec<u32>>,
    trans: &FxHashMap<(usize, usize), f64>,
    exits: &[[f64; 3]],
) -> Chain {
    let n = states.len();
    let mut out: Vec<Vec<(usize, f64)>> = vec![Vec::new(); n];
    let mut total = vec![0.0; n];
    for ((a, b), w) in trans {
        out[*a].push((*b, *w));
        total[*a] += w;
    }
    for (i, e) in exits.iter().enumerate() {
        total[i] += e[0] + e[2];
    }
    for (i, o) in out.iter_mut().enumerate() {
        o.sort_by_key(|x| x.0);
        for x in o.iter_mut() {
            x.1 /= total[i];
        }
    }
    let to_conv: Vec<f64> = (0..n)
        .map(|i| {
            if total[i] > 0.0 {
                exits[i][0] / total[i]
            } else {
                0.0
            }
        })
        .collect();
    let conv_value: Vec<f64> = (0..n)
        .map(|i| {
            if exits[i][0] > 0.0 {
                exits[i][1] / exits[i][0]
            } else {
                0.0
            }
        })
        .collect();
    Chain {
        states,
        out,
        to_conv,
        conv_value,
    }
}

/// Solve `x = Q x + r` (absorbing-chain values) with `removed` states forced to 0: dense
/// for small chains, iterative for large ones.
fn absorb(chain: &Chain, reward: &[f64], removed: &[bool]) -> Vec<f64> {
    if chain.states.len() <= 400 {
        absorb_dense(chain, reward, removed)
    } else {
        absorb_iterative(chain, reward, removed)
    }
}

/// Dense `(I − Q) x = r` by Gaussian elimination with partial pivoting.
fn absorb_dense(chain: &Chain, reward: &[f64], removed: &[bool]) -> Vec<f64> {
    let n = chain.states.len();
    {
        let mut a = vec![0.0; n * n];
        let mut b = vec![0.0; n];
        for i in 0..n {
            a[i * n + i] = 1.0;
            if removed[i] {
                continue;
            }
            b[i] = reward[i];
            for &(j, p) in &chain.out[i] {
                if !removed[j] {
                    a[i * n + j] -= p;
                }
            }
        }
        for col in 0..n {
            let piv = (col..n)
                .max_by(|&x, &y| a[x * n + col].abs().total_cmp(&a[y * n + col].abs()))
                .unwrap_or(col);
            if piv != col {
                for k in 0..n {
                    a.swap(col * n + k, piv * n + k);
                }
                b.swap(col, piv);
            }
            let d = a[col * n + col];
            if d.abs() < 1e-300 {
                continue;
            }
            for r in col + 1..n {
                let f = a[r * n + col] / d;
                if f != 0.0 {
                    for k in col..n {
                        a[r * n + k] -= f * a[col * n + k];
                    }
                    b[r] -= f * b[col];
                }
            }
        }
        let mut x = vec![0.0; n];
        for i in (0..n).rev() {
            let mut s = b[i];
            for k in i + 1..n {
                s -= a[i * n + k] * x[k];
            }
            let d = a[i * n + i];
            x[i] = if d.abs() < 1e-300 { 0.0 } else { s / d };
        }
        x
    }
}

/// Gauss–Seidel sweeps until the start value is stable to machine precision.
fn absorb_iterative(chain: &Chain, reward: &[f64], removed: &[bool]) -> Vec<f64> {
    let n = chain.states.len();
    let mut x = vec![0.0; n];
    for _ in 0..100_000 {
        let mut delta: f64 = 0.0;
        for i in (0..n).rev() {
            if removed[i] {
                continue;
            }
            let mut v = reward[i];
            for &(j, p) in &chain.out[i] {
                if !removed[j] {
                    v += p * x[j];
                }
            }
            delta = delta.max((v - x[i]).abs());
            x[i] = v;
        }
        if delta <= 1e-16 * x[START].abs().max(1e-300) {
            break;
        }
    }
    x
}

/// Removal effects and credit shares for a Markov chain of the given order (1–3).
pub fn removal_effects(t: &PathTable, order: usize) -> MarkovResult {
    let chain = build_chain(t, order);
    let nch = t.channels.len();
    let value_reward: Vec<f64> = chain
        .to_conv
        .iter()
        .zip(&chain.conv_value)
        .map(|(p, v)| p * v)
        .collect();
    let none = vec![false; chain.states.len()];
    let p = absorb(&chain, &chain.to_conv, &none)[START];
    let v = absorb(&chain, &value_reward, &none)[START];
    let effects: Vec<(f64, f64)> = (0..nch)
        .into_par_iter()
        .map(|c| {
            let removed: Vec<bool> = chain
                .states
                .iter()
                .map(|s| s.contains(&(c as u32)))
                .collect();
            if !removed.iter().any(|r| *r) {
                return (0.0, 0.0);
            }
            let pc = absorb(&chain, &chain.to_conv, &removed)[START];
            let vc = absorb(&chain, &value_reward, &removed)[START];
            (
                if p > 0.0 { 1.0 - pc / p } else { 0.0 },
                if v > 0.0 { 1.0 - vc / v } else { 0.0 },
            )
        })
        .collect();
    let norm = |xs: Vec<f64>| {
        let s: f64 = xs.iter().sum();
        xs.iter()
            .map(|x| if s > 0.0 { x / s } else { 0.0 })
            .collect::<Vec<f64>>()
    };
    MarkovResult {
        removal_effects: effects.iter().map(|e| e.0).collect(),
        conversion_shares: norm(effects.iter().map(|e| e.0).collect()),
        value_shares: norm(effects.iter().map(|e| e.1).collect()),
        conversion_probability: p,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attribution::TableBuilder;

    fn table(paths: &[(&[&str], f64, f64)]) -> PathTable {
        let mut b = TableBuilder::default();
        for (p, conv, nulls) in paths {
            b.add_named_path(p, *conv, *conv * 10.0, *nulls);
        }
        b.finish()
    }

    /// The classic three-path example: C1>C2>C3 converts, C1 null, C2>C3 null.
    /// start→C1 2/3, start→C2 1/3; C1→C2 1/2, C1→null 1/2; C2→C3 1; C3→conv 1/2, C3→null 1/2.
    /// P = 2/3·1/2·1/2 + 1/3·1/2 = 1/3. Removing C1: 1/3·1/2 = 1/6 → RE 0.5. Removing C2 or
    /// C3: 0 → RE 1. Shares 0.2, 0.4, 0.4.
    #[test]
    fn hand_example() {
        let t = table(&[
            (&["c1", "c2", "c3"], 1.0, 0.0),
            (&["c1"], 0.0, 1.0),
            (&["c2", "c3"], 0.0, 1.0),
        ]);
        let r = removal_effects(&t, 1);
        assert!((r.conversion_probability - 1.0 / 3.0).abs() < 1e-15);
        let want = [0.5, 1.0, 1.0];
        for (a, b) in r.removal_effects.iter().zip(want) {
            assert!((a - b).abs() < 1e-12, "{:?}", r.removal_effects);
        }
        let shares = [0.2, 0.4, 0.4];
        for (a, b) in r.conversion_shares.iter().zip(shares) {
            assert!((a - b).abs() < 1e-12);
        }
    }

    #[test]
    fn repeats_collapse() {
        let a = table(&[(&["a", "a", "b"], 3.0, 1.0), (&["b", "a"], 1.0, 2.0)]);
        let b = table(&[(&["a", "b"], 3.0, 1.0), (&["b", "a"], 1.0, 2.0)]);
        assert_eq!(
            removal_effects(&a, 1).removal_effects,
            removal_effects(&b, 1).removal_effects
        );
    }

    /// The large-chain iterative solver agrees with the dense one.
    #[test]
    fn iterative_matches_dense() {
        let names: Vec<String> = (0..9).map(|i| format!("c{i}")).collect();
        let mut paths = Vec::new();
        for i in 0..9usize {
            for j in 0..9usize {
                for k in 0..9usize {
                    paths.push((
                        vec![
                            names[i].as_str(),
                            names[j].as_str(),
                            names[k].as_str(),
                            names[(i + k) % 9].as_str(),
                        ],
                        ((i * 7 + j * 3 + k) % 5) as f64,
                        ((i + j * 2 + k * 5) % 4) as f64 + 1.0,
                    ));
                }
            }
        }
        let refs: Vec<(&[&str], f64, f64)> = paths
            .iter()
            .map(|(p, c, n)| (p.as_slice(), *c, *n))
            .collect();
        let t = table(&refs);
        let chain = build_chain(&t, 3);
        assert!(chain.states.len() > 400, "exercise the iterative path");
        let none = vec![false; chain.states.len()];
        let it = absorb_iterative(&chain, &chain.to_conv, &none)[START];
        let x = absorb_dense(&chain, &chain.to_conv, &none);
        assert!((it - x[START]).abs() < 1e-12, "{it} vs {}", x[START]);
    }
}
