//! Moving-block residual bootstrap: `y* = ŷ + r*`, where `r*` strings together blocks of
//! consecutive residuals (the same time blocks for every geo, keeping cross-geo and serial
//! correlation), and each `y*` is refitted from the point estimate. Each refit also draws
//! its prior centres from the priors (randomize-then-optimize), so the draws carry the
//! prior's uncertainty as well as the data's: for a linear-Gaussian model, optimising with
//! perturbed data and perturbed prior means yields exact posterior samples.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;

use super::whiten::Whitening;
use super::{minimize_tol, to_params, Setup, REFIT};
use crate::model::Params;
use crate::observe::{Event, Observer};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Run `draws` refits; returns the parameter draws and how many failed.
#[allow(clippy::too_many_arguments)]
pub(crate) fn run(
    setup: &Setup,
    y: &[f64],
    fitted: &[f64],
    u_hat: &[f64],
    sigma2: f64,
    pooling: super::geo::Pooling,
    draws: usize,
    block: usize,
    seed: u64,
    obs: &dyn Observer,
) -> (Vec<Params>, usize) {
    let tf = setup.t1 - setup.t0;
    let ng = setup.n_geos;
    let resid: Vec<f64> = y.iter().zip(fitted).map(|(a, f)| a - f).collect();
    // Centre residuals per geo and undo the shrinkage of fitted residuals
    // (E‖r‖² = σ²(n − p)), so resampled noise has the estimated σ².
    let p_eff = setup.base.len() + setup.channels.len() + u_hat.len();
    let inflate = (y.len() as f64 / (y.len().saturating_sub(p_eff)).max(1) as f64).sqrt();
    let mut centred = resid.clone();
    for g in 0..ng {
        let s = &mut centred[g * tf..(g + 1) * tf];
        let m = s.iter().sum::<f64>() / tf as f64;
        s.iter_mut().for_each(|v| *v = (*v - m) * inflate);
    }
    let block = block.clamp(1, tf);
    obs.event(Event::Stage(&format!(
        "intervals: {draws} bootstrap refits"
    )));
    // Refits start at the point estimate and minimise in coordinates whitened by the
    // Hessian there: each draw is then a few well-conditioned steps away.
    let point = setup.problem(y.to_vec(), sigma2);
    let objective = |u: &[f64]| point.eval(u, true).map(|e| (e.f, e.grad));
    let white = Whitening::at(u_hat.to_vec(), &objective);
    let done = AtomicUsize::new(0);
    let out: Vec<Option<Params>> = (0..draws)
        .into_par_iter()
        .map(|d| {
            let mut rng =
                StdRng::seed_from_u64(seed.wrapping_mul(1_000_003).wrapping_add(d as u64 + 1));
            let mut idx = Vec::with_capacity(tf);
            while idx.len() < tf {
                let s = rng.random_range(0..=(tf - block));
                idx.extend(s..s + block);
            }
            idx.truncate(tf);
            let mut ys = Vec::with_capacity(y.len());
            for g in 0..ng {
                for (t, &src) in idx.iter().enumerate() {
                    ys.push(fitted[g * tf + t] + centred[g * tf + src]);
                }
            }
            let mut p = setup.problem(ys, sigma2);
            let usd = setup.prior_sd();
            for (c, sd) in p.u_center.iter_mut().zip(&usd) {
                let z: f64 = StandardNormal.sample(&mut rng);
                *c += sd * z;
            }
            for z in p.roi_shift.iter_mut().chain(p.lift_shift.iter_mut()) {
                *z = StandardNormal.sample(&mut rng);
            }
            let found = match &white {
                Some(w) => w.minimize(
                    &|u: &[f64]| p.eval(u, true).map(|e| (e.f, e.grad)),
                    150,
                    REFIT,
                ),
                None => minimize_tol(&p, u_hat.to_vec(), 150, REFIT).map(|r| r.0),
            };
            let r = found.and_then(|u| {
                let e = p.eval(&u, false)?;
                let mut params = to_params(setup, &u, &e.beta);
                super::geo::draw(pooling, &p.y, &u, &e.beta, sigma2, &mut params, &mut rng);
                Some(params)
            });
            let k = done.fetch_add(1, Ordering::Relaxed) + 1;
            obs.event(Event::Progress {
                task: "refits",
                done: k,
                total: draws,
            });
            r
        })
        .collect();
    let failed = out.iter().filter(|o| o.is_none()).count();
    (out.into_iter().flatten().collect(), failed)
}
