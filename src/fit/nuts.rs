//! `fit --method bayes`: the No-U-Turn sampler of nuts-rs (pinned 0.19.1, the sampler
//! behind nutpie) over the joint posterior [`Posterior`], with a diagonal mass matrix and
//! step size adapted during warm-up.
//!
//! Chains run in parallel (rayon), each with its own seeded generator and its own start
//! (the fast path's optimum, jittered), so the draws are bit-identical for any number of
//! threads. Convergence is summarised per parameter by rank-normalised split R̂ and bulk
//! ESS ([`crate::mcmc`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NutsSettings {
    pub chains: usize,
    /// Kept draws per chain after warm-up.
    pub draws: usize,
    pub warmup: usize,
    pub seed: u64,
}

/// What the chains produced: `draws[chain][draw]` of θ, plus sampler statistics.
#[derive(Debug, Clone)]
pub(crate) struct NutsOutput {
    pub draws: Vec<Vec<Vec<f64>>>,
    pub divergences: usize,
    pub step_sizes: Vec<f64>,
    pub gradient_evals: u64,
}

/// One chain's kept draws (θ) and statistics.
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
const TARGET_ACCEPT: f64 = 0.95;

/// Jitter of each chain's start around the mode (whitened units: posterior sds).
const START_JITTER: f64 = 0.5;

/// Run the chains from `init` (θ at the fast path's optimum). Errors are the sampler's
/// own (no finite start found), as text.
pub(crate) fn sample(
    post: &Posterior,
    init: &[f64],
    s: NutsSettings,
    obs: &dyn Observer,
) -> Result<NutsOutput, String> {
    let white = post_whitening(post, init)
        .ok_or("the posterior density is not finite at the fast path's optimum")?;
    let dim = init.len();
    let total = s.chains * (s.warmup + s.draws);
    let done = AtomicUsize::new(0);
    let chains: Vec<Result<ChainRun, String>> = (0..s.chains)
        .into_par_iter()
        .map(|c| {
            let chain_seed = s
                .seed
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                .wrapping_add(c as u64 + 1);
            let mut jitter = StdRng::seed_from_u64(chain_seed);
            let mut scratch = vec![0.0; dim];
            // A jittered start whose density is finite (else the mode itself).
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
                num_draws: s.draws as u64,
                num_chains: s.chains,
                seed: chain_seed,
                ..Default::default()
            };
            settings.adapt_options.step_size_settings.target_accept = TARGET_ACCEPT;
            let mut rng =
                <nuts_rs::rand::rngs::ChaCha8Rng as nuts_rs::rand::SeedableRng>::seed_from_u64(
                    chain_seed,
                );
            let math = CpuMath::new(Density {
                post,
                white: &white,
                grad: vec![0.0; dim],
            });
            let mut chain = settings
                .new_chain(c as u64, math, &mut rng)
                .map_err(|e| e.to_string())?;
            chain
                .set_position(&start)
                .map_err(|e| format!("chain {c}: no finite start: {e}"))?;
            let mut kept = Vec::with_capacity(s.draws);
            let (mut div, mut grads, mut step) = (0, 0u64, 0.0);
            for i in 0..s.warmup + s.draws {
                let (draw, info) = chain.draw().map_err(|e| format!("chain {c}: {e}"))?;
                grads += info.num_gradients;
                if i >= s.warmup {
                    div += usize::from(info.diverging);
                    step = info.step_size;
                    kept.push(white.theta(&draw));
                }
                let k = done.fetch_add(1, Ordering::Relaxed) + 1;
                if k.is_multiple_of(50) || k == total {
                    obs.event(Event::Progress {
                        task: "NUTS draws",
                        done: k,
                        total,
                    });
                }
            }
            Ok(ChainRun {
                draws: kept,
                divergences: div,
                step_size: step,
                gradient_evals: grads,
            })
        })
        .collect();
    let mut out = NutsOutput {
        draws: Vec::new(),
        divergences: 0,
        step_sizes: Vec::new(),
        gradient_evals: 0,
    };
    for r in chains {
        let r = r?;
        out.draws.push(r.draws);
        out.divergences += r.divergences;
        out.step_sizes.push(r.step_size);
        out.gradient_evals += r.gradient_evals;
    }
    Ok(out)
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
    let post = Posterior::new(setup, y);
    let pb = setup.base.len();
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
    let out = sample(&post, &init, s, obs)?;
    let parameters: Vec<ParamConvergence> = (0..post.dim())
        .map(|i| {
            let per_chain: Vec<Vec<f64>> = out
                .draws
                .iter()
                .map(|c| c.iter().map(|d| d[i]).collect())
                .collect();
            let finite = |v: f64| v.is_finite().then_some(v);
            ParamConvergence {
                name: names
                    .get(i)
                    .cloned()
                    .unwrap_or_else(|| format!("theta[{i}]")),
                rhat: finite(crate::mcmc::rhat(&per_chain)),
                ess_bulk: finite(crate::mcmc::ess_bulk(&per_chain)),
            }
        })
        .collect();
    let total = s.chains * s.draws;
    let step = total.div_ceil(MAX_STORED_DRAWS).max(1);
    let params: Vec<Params> = out
        .draws
        .iter()
        .flat_map(|c| c.iter().step_by(step))
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
        draws_per_chain: s.draws,
        warmup: s.warmup,
        stored_draws: params.len(),
        divergences: out.divergences,
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
