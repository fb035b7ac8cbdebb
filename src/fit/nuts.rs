//! `fit --method bayes`: the No-U-Turn sampler of nuts-rs (pinned 0.19.1, the sampler
//! behind nutpie) over the joint posterior [`Posterior`], with a diagonal mass matrix and
//! step size adapted during warm-up.
//!
//! Chains run in parallel (a thread each), each with its own seeded generator and its own start
//! (the fast path's optimum, jittered), so the draws are bit-identical for any number of
//! threads. Convergence is summarised per parameter by rank-normalised split R̂ and bulk
//! ESS ([`crate::mcmc`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use nuts_rs::{Chain, CpuLogpFunc, CpuMath, CpuMathError, DiagNutsSettings, HasDims, Settings};
use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;

use super::posterior::{JointPoint, Posterior};
use super::whiten::Whitening;
use super::Setup;
use crate::model::{ParamConvergence, Params, SamplerDiagnostics, MAX_STORED_DRAWS};
use crate::observe::{Event, Observer};

/// Sampler settings (per chain).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct NutsSettings {
    pub chains: usize,
    /// Kept draws per chain after warm-up.
    pub draws: usize,
    pub warmup: usize,
    pub seed: u64,
    /// Most extensions by `draws` while R̂ or ESS miss their targets.
    pub extend: usize,
    /// Target acceptance of the step-size adaptation.
    pub target_accept: f64,
}

/// What the chains produced: `draws[chain][draw]` of θ, plus sampler statistics.
#[derive(Debug, Clone)]
pub(crate) struct NutsOutput {
    pub draws: Vec<Vec<Vec<f64>>>,
    pub divergences: usize,
    pub step_sizes: Vec<f64>,
    pub gradient_evals: u64,
    /// How many times the chains were extended for convergence.
    pub extensions: usize,
}

/// One chain's kept draws (θ) and statistics.
#[derive(Default)]
struct ChainRun {
    draws: Vec<Vec<f64>>,
    divergences: usize,
    step_size: f64,
    gradient_evals: u64,
}

/// The density error nuts-rs sees: recoverable (the trajectory is treated as divergent).
#[derive(Debug, thiserror::Error)]
#[error("the posterior density is not finite at this point")]
pub(crate) struct NotFinite;

impl ChainRun {
    /// Append a later block of the same chain.
    fn append(&mut self, b: ChainRun) {
        self.draws.extend(b.draws);
        self.divergences += b.divergences;
        self.gradient_evals += b.gradient_evals;
        if b.step_size > 0.0 {
            self.step_size = b.step_size;
        }
    }
}

impl nuts_rs::LogpError for NotFinite {
    fn is_recoverable(&self) -> bool {
        true
    }
}

/// The whitening at the joint mode reached by L-BFGS from `init` (the fast path's
/// optimum); `None` if the density is not finite there.
fn post_whitening(post: &Posterior, init: &[f64]) -> Option<Whitening> {
    let d = init.len();
    let neg = |t: &[f64]| {
        let mut g = vec![0.0; d];
        let lp = post.logp(t, &mut g)?;
        Some((-lp, g.iter().map(|v| -v).collect::<Vec<f64>>()))
    };
    let center = super::minimize_fn(&neg, init.to_vec(), 500)
        .map(|r| r.0)
        .unwrap_or_else(|| init.to_vec());
    Whitening::at(center, &neg)
}

/// Adapter from [`Posterior`] (in whitened coordinates) to nuts-rs.
struct Density<'a> {
    post: &'a Posterior<'a>,
    white: &'a Whitening,
    grad: Vec<f64>,
}

impl HasDims for Density<'_> {
    fn dim_sizes(&self) -> HashMap<String, u64> {
        HashMap::from([(
            "unconstrained_parameter".to_string(),
            self.post.dim() as u64,
        )])
    }
}

impl CpuLogpFunc for Density<'_> {
    type LogpError = NotFinite;
    type FlowParameters = ();
    type ExpandedVector = Vec<f64>;

    fn dim(&self) -> usize {
        self.post.dim()
    }

    fn logp(&mut self, position: &[f64], grad: &mut [f64]) -> Result<f64, NotFinite> {
        let theta = self.white.theta(position);
        let lp = self.post.logp(&theta, &mut self.grad).ok_or(NotFinite)?;
        grad.copy_from_slice(&self.white.grad_z(&self.grad));
        Ok(lp)
    }

    fn expand_vector<R: nuts_rs::rand::Rng + ?Sized>(
        &mut self,
        _rng: &mut R,
        array: &[f64],
    ) -> Result<Vec<f64>, CpuMathError> {
        Ok(array.to_vec())
    }
}

/// Target acceptance of the step-size adaptation (Stan's default is 0.8; higher means
/// smaller steps and fewer divergences in the curved corners of the posterior).
pub(crate) const TARGET_ACCEPT: f64 = 0.95;

/// Target acceptance of the second run when the first had divergent transitions (Stan's
/// remedy, raising `adapt_delta`, applied automatically): the smaller steps follow the
/// curvature a divergence reveals, at the cost of longer trajectories in that fit only.
const CAREFUL_TARGET_ACCEPT: f64 = 0.99;

/// Jitter of each chain's start around the mode (whitened units: posterior sds).
const START_JITTER: f64 = 0.5;

/// R̂ above which (or bulk ESS below which) the chains are extended.
const RHAT_TARGET: f64 = 1.01;
const ESS_TARGET: f64 = 400.0;

/// Per θ entry, rank-normalised split R̂ and bulk ESS over `draws[chain][draw]`
/// (`None` where not finite, e.g. a constant parameter).
fn convergence(draws: &[&[Vec<f64>]], dim: usize) -> Vec<(Option<f64>, Option<f64>)> {
    let finite = |v: f64| v.is_finite().then_some(v);
    (0..dim)
        .map(|i| {
            let per_chain: Vec<Vec<f64>> = draws
                .iter()
                .map(|c| c.iter().map(|d| d[i]).collect())
                .collect();
            (
                finite(crate::mcmc::rhat(&per_chain)),
                finite(crate::mcmc::ess_bulk(&per_chain)),
            )
        })
        .collect()
}

/// Whether every parameter meets the R̂ and ESS targets.
fn converged(conv: &[(Option<f64>, Option<f64>)]) -> bool {
    conv.iter()
        .all(|(r, e)| r.is_none_or(|r| r <= RHAT_TARGET) && e.is_none_or(|e| e >= ESS_TARGET))
}

/// One block of a chain: its kept draws (θ) and statistics.
type Block = Result<ChainRun, String>;

/// Run the chains from `init` (θ at the fast path's optimum). Each chain lives on its
/// own thread for the whole run; after `warmup + draws` iterations, and after each
/// extension of another `draws`, the coordinator checks R̂ and ESS over all chains and
/// tells every chain to continue (at most `extend` times) or stop. The decision depends
/// only on the draws, so the output is bit-identical for any thread count. Errors are
/// the sampler's own (no finite start found), as text.
pub(crate) fn sample(
    post: &Posterior,
    white: &Whitening,
    s: NutsSettings,
    obs: &dyn Observer,
) -> Result<NutsOutput, String> {
    let dim = post.dim();
    let total = AtomicUsize::new(s.chains * (s.warmup + s.draws));
    let done = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let (to_main, from_chains) = mpsc::channel::<(usize, Block)>();
        let mut go = Vec::with_capacity(s.chains);
        for c in 0..s.chains {
            let (go_tx, go_rx) = mpsc::channel::<bool>();
            go.push(go_tx);
            let to_main = to_main.clone();
            let (total, done) = (&total, &done);
            scope.spawn(move || {
                let mut run = match ChainRunner::new(post, white, s, c) {
                    Ok(r) => r,
                    Err(e) => {
                        let _ = to_main.send((c, Err(e)));
                        return;
                    }
                };
                let mut iters = s.warmup + s.draws;
                loop {
                    let block = run.block(iters, || {
                        let k = done.fetch_add(1, Ordering::Relaxed) + 1;
                        let t = total.load(Ordering::Relaxed);
                        if k.is_multiple_of(50) || k == t {
                            obs.event(Event::Progress {
                                task: "NUTS draws",
                                done: k,
                                total: t,
                            });
                        }
                    });
                    let failed = block.is_err();
                    if to_main.send((c, block)).is_err() || failed {
                        return;
                    }
                    match go_rx.recv() {
                        Ok(true) => iters = s.draws,
                        _ => return,
                    }
                }
            });
        }
        drop(to_main);
        let mut runs: Vec<ChainRun> = (0..s.chains).map(|_| ChainRun::default()).collect();
        let mut extensions = 0;
        loop {
            for _ in 0..s.chains {
                let (c, block) = from_chains
                    .recv()
                    .map_err(|_| "a chain stopped without reporting".to_string())?;
                match block {
                    Ok(b) => runs[c].append(b),
                    Err(e) => {
                        go.iter().for_each(|g| {
                            let _ = g.send(false);
                        });
                        return Err(e);
                    }
                }
            }
            let more = extensions < s.extend && {
                let chains: Vec<&[Vec<f64>]> = runs.iter().map(|r| r.draws.as_slice()).collect();
                !converged(&convergence(&chains, dim))
            };
            if more {
                extensions += 1;
                total.fetch_add(s.chains * s.draws, Ordering::Relaxed);
                obs.event(Event::Stage(&format!(
                    "NUTS: R̂ or ESS short of target; extending every chain by {} draws ({extensions} of at most {})",
                    s.draws, s.extend
                )));
            }
            go.iter().for_each(|g| {
                let _ = g.send(more);
            });
            if !more {
                break;
            }
        }
        let mut out = NutsOutput {
            draws: Vec::new(),
            divergences: 0,
            step_sizes: Vec::new(),
            gradient_evals: 0,
            extensions,
        };
        for r in runs {
            out.draws.push(r.draws);
            out.divergences += r.divergences;
            out.step_sizes.push(r.step_size);
            out.gradient_evals += r.gradient_evals;
        }
        Ok(out)
    })
}

/// A chain's next iteration: the position (whitened) and the sampler's statistics.
type NextDraw<'a> = dyn FnMut() -> Result<(Box<[f64]>, nuts_rs::Progress), String> + 'a;

/// One chain: its nuts-rs sampler and how many iterations it has done.
struct ChainRunner<'a> {
    chain: Box<NextDraw<'a>>,
    white: &'a Whitening,
    warmup: usize,
    iter: usize,
}

impl<'a> ChainRunner<'a> {
    /// Chain `c`: seeded from the settings' seed and the chain index, started at a
    /// jittered point whose density is finite (else the mode itself).
    fn new(
        post: &'a Posterior<'a>,
        white: &'a Whitening,
        s: NutsSettings,
        c: usize,
    ) -> Result<ChainRunner<'a>, String> {
        let dim = post.dim();
        let chain_seed = s
            .seed
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(c as u64 + 1);
        let mut jitter = StdRng::seed_from_u64(chain_seed);
        let mut scratch = vec![0.0; dim];
        let start = (0..20)
            .map(|_| {
                (0..dim)
                    .map(|_| {
                        let z: f64 = StandardNormal.sample(&mut jitter);
                        START_JITTER * z
                    })
                    .collect::<Vec<f64>>()
            })
            .find(|z| post.logp(&white.theta(z), &mut scratch).is_some())
            .unwrap_or_else(|| vec![0.0; dim]);
        let mut settings = DiagNutsSettings {
            num_tune: s.warmup as u64,
            num_draws: (s.draws * (1 + s.extend)) as u64,
            num_chains: s.chains,
            seed: chain_seed,
            ..Default::default()
        };
        settings.adapt_options.step_size_settings.target_accept = s.target_accept;
        let mut rng =
            <nuts_rs::rand::rngs::ChaCha8Rng as nuts_rs::rand::SeedableRng>::seed_from_u64(
                chain_seed,
            );
        let math = CpuMath::new(Density {
            post,
            white,
            grad: vec![0.0; dim],
        });
        let mut chain = settings
            .new_chain(c as u64, math, &mut rng)
            .map_err(|e| e.to_string())?;
        chain
            .set_position(&start)
            .map_err(|e| format!("chain {c}: no finite start: {e}"))?;
        Ok(ChainRunner {
            chain: Box::new(move || chain.draw().map_err(|e| format!("chain {c}: {e}"))),
            white,
            warmup: s.warmup,
            iter: 0,
        })
    }

    /// The next `iters` iterations; draws after warm-up are kept. `tick()` after each.
    fn block(&mut self, iters: usize, tick: impl Fn()) -> Block {
        let mut run = ChainRun::default();
        for _ in 0..iters {
            let (draw, info) = (self.chain)()?;
            run.gradient_evals += info.num_gradients;
            if self.iter >= self.warmup {
                run.divergences += usize::from(info.diverging);
                run.step_size = info.step_size;
                run.draws.push(self.white.theta(&draw));
            }
            self.iter += 1;
            tick();
        }
        Ok(run)
    }
}

/// Sample the posterior of `setup` from the fast path's optimum (`u`, `beta`, `sigma2`)
/// and turn the draws into model parameters (evenly thinned to at most
/// [`MAX_STORED_DRAWS`]), with per-parameter convergence. `names` label θ's entries.
#[allow(clippy::too_many_arguments)]
pub(crate) fn posterior_draws(
    setup: &Setup,
    y: &[f64],
    u: &[f64],
    beta: &[f64],
    sigma2: f64,
    pooling: super::geo::Pooling,
    s: NutsSettings,
    names: Vec<String>,
    obs: &dyn Observer,
) -> Result<(Vec<Params>, SamplerDiagnostics), String> {
    let pb = setup.base.len();
    let roi_hat: Vec<f64> = Posterior::new(setup, y)
        .roi_per_coef_at(u)
        .iter()
        .zip(&beta[pb..])
        .map(|(k, b)| k * b)
        .collect();
    let post = Posterior::with_roi_hint(setup, y, &roi_hat);
    // Coefficients the NNLS put at exactly 0 start at a small positive value.
    let scale = beta[pb..].iter().cloned().fold(0.0, f64::max).max(1e-3);
    let init = post.pack(
        &JointPoint {
            u: u.to_vec(),
            beta: beta.to_vec(),
            sigma: sigma2.sqrt(),
        },
        1e-3 * scale,
    );
    obs.event(Event::Stage(&format!(
        "NUTS: {} chains × ({} warm-up + {} draws), {} parameters",
        s.chains,
        s.warmup,
        s.draws,
        post.dim()
    )));
    let white = post_whitening(&post, &init)
        .ok_or("the posterior density is not finite at the fast path's optimum")?;
    let mut out = sample(&post, &white, s, obs)?;
    let mut target_accept = s.target_accept;
    if out.divergences > 0 && s.target_accept < CAREFUL_TARGET_ACCEPT {
        obs.event(Event::Stage(&format!(
            "NUTS: {} divergent transition(s); sampling again with target acceptance {CAREFUL_TARGET_ACCEPT} (smaller steps)",
            out.divergences
        )));
        let careful = NutsSettings {
            target_accept: CAREFUL_TARGET_ACCEPT,
            ..s
        };
        // A second run that fails (a chain error) leaves the first one, divergences and
        // all: the fit still stands, with its warning.
        match sample(&post, &white, careful, obs) {
            Ok(mut second) => {
                second.gradient_evals += out.gradient_evals;
                out = second;
                target_accept = CAREFUL_TARGET_ACCEPT;
            }
            Err(e) => obs.event(Event::Stage(&format!(
                "NUTS: the second run failed ({e}); keeping the first"
            ))),
        }
    }
    let chains: Vec<&[Vec<f64>]> = out.draws.iter().map(Vec::as_slice).collect();
    let parameters: Vec<ParamConvergence> = convergence(&chains, post.dim())
        .into_iter()
        .enumerate()
        .map(|(i, (rhat, ess_bulk))| ParamConvergence {
            name: names
                .get(i)
                .cloned()
                .unwrap_or_else(|| format!("theta[{i}]")),
            rhat,
            ess_bulk,
        })
        .collect();
    let per_chain = out.draws.first().map_or(0, Vec::len);
    let total = s.chains * per_chain;
    let step = total.div_ceil(MAX_STORED_DRAWS).max(1);
    // In parallel (each draw's geo factors have their own seeded generator, so the
    // result does not depend on the number of threads); a 50-geo panel spends seconds here.
    let kept: Vec<&Vec<f64>> = out
        .draws
        .iter()
        .flat_map(|c| c.iter().step_by(step))
        .collect();
    let params: Vec<Params> = kept
        .into_par_iter()
        .enumerate()
        .filter_map(|(i, theta)| {
            let p = post.unpack(theta)?;
            let mut params = super::to_params(setup, &p.u, &p.beta);
            // Geo factors drawn from their conditional posterior given this draw.
            let mut rng = StdRng::seed_from_u64(s.seed ^ (0x6E0_0000 + i as u64));
            super::geo::draw(
                pooling,
                y,
                &p.u,
                &p.beta,
                p.sigma * p.sigma,
                &mut params,
                &mut rng,
            );
            Some(params)
        })
        .collect();
    let rhat_max = parameters
        .iter()
        .filter_map(|p| p.rhat)
        .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
    let ess_bulk_min = parameters
        .iter()
        .filter_map(|p| p.ess_bulk)
        .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.min(v))));
    let diag = SamplerDiagnostics {
        chains: s.chains,
        draws_per_chain: per_chain,
        extensions: out.extensions,
        warmup: s.warmup,
        stored_draws: params.len(),
        divergences: out.divergences,
        target_accept,
        rhat_max,
        ess_bulk_min,
        step_size: out.step_sizes,
        gradient_evals: out.gradient_evals,
        parameters,
    };
    Ok((params, diag))
}

/// Names of θ's entries, in [`Posterior`]'s layout.
pub(crate) fn parameter_names(
    setup: &Setup,
    channels: &[String],
    baseline: &[String],
) -> Vec<String> {
    let mut v = Vec::new();
    for (ch, name) in setup.channels.iter().zip(channels) {
        for p in ch
            .adstock
            .param_names()
            .iter()
            .chain(ch.saturation.param_names())
        {
            v.push(format!("{name}.{p}"));
        }
    }
    if setup.pool.is_some() {
        v.push("media_share_level".into());
    }
    v.extend(baseline.iter().cloned());
    v.extend(channels.iter().map(|c| format!("{c}.coef")));
    v.push("sigma".into());
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::{AdstockKind as A, SaturationKind as S};

    /// 4 chains × 20 draws can never reach ESS 400, so the chains are extended exactly
    /// `extend` times; an extension continues each chain (its first draws are those of
    /// the unextended run), it does not restart it.
    #[test]
    fn short_chains_are_extended_and_continued() {
        let (setup, y) = crate::fit::fixture::setup(60, &[(A::Geometric, S::Hill)], &[]);
        let post = Posterior::new(&setup, &y);
        let init = vec![0.0; post.dim()];
        let white = post_whitening(&post, &init).unwrap();
        let run = |s| sample(&post, &white, s, &crate::observe::Silent).unwrap();
        let base = NutsSettings {
            chains: 4,
            draws: 20,
            warmup: 50,
            seed: 3,
            extend: 0,
            target_accept: TARGET_ACCEPT,
        };
        let short = run(base);
        let long = run(NutsSettings { extend: 2, ..base });
        assert_eq!((short.extensions, long.extensions), (0, 2));
        for (a, b) in short.draws.iter().zip(&long.draws) {
            assert_eq!(a.len(), 20);
            assert_eq!(b.len(), 60);
            assert_eq!(a[..], b[..20]);
        }
        assert!(converged(&[(Some(1.005), Some(500.0)), (None, None)]));
        assert!(!converged(&[(Some(1.02), Some(500.0))]));
        assert!(!converged(&[(Some(1.0), Some(100.0))]));
        // The target acceptance reaches the adaptation: the careful target of the
        // rerun after divergences adapts smaller steps in every chain.
        let steps = |target_accept| {
            run(NutsSettings {
                chains: 2,
                warmup: 100,
                target_accept,
                ..base
            })
            .step_sizes
        };
        let (usual, careful) = (steps(TARGET_ACCEPT), steps(CAREFUL_TARGET_ACCEPT));
        assert!(
            usual.iter().zip(&careful).all(|(u, c)| c < u),
            "{usual:?} vs {careful:?}"
        );
    }
}
