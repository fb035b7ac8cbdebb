//! Recovery study: the estimator against the truth of the simulator and against an
//! oracle — the same regression with the true adstock and saturation parameters pinned,
//! only the linear coefficients fitted by (non-negative) least squares, no ROI prior.

use serde::{Deserialize, Serialize};

use crate::analysis::summarize;
use crate::optimize::{optimize, Planner, Request, Risk, RiskName};
use crate::scenario::Flighting;
use crate::{fit, simulate, Error, FitOptions, SimConfig};

/// Settings of a study.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StudyConfig {
    /// Noise level (fraction of mean KPI).
    pub noise: f64,
    /// Seeds `1..=seeds`.
    pub seeds: u64,
    /// Bootstrap draws per fit.
    pub draws: usize,
    /// Weeks, channels and holdout weeks of each simulation.
    pub weeks: usize,
    /// Channels.
    pub channels: usize,
    /// Holdout weeks.
    pub holdout: usize,
    /// One random configuration per seed from the broad ranges
    /// ([`SimConfig::broad`]) instead of the fixed one.
    #[serde(default)]
    pub broad: bool,
    /// Geos per simulation (broad configurations).
    #[serde(default = "one")]
    pub geos: usize,
    /// Estimation settings to use instead of the spec's `[fit]` defaults.
    #[serde(default)]
    pub fit: Option<crate::spec::FitSpec>,
}

fn one() -> usize {
    1
}

impl Default for StudyConfig {
    fn default() -> Self {
        StudyConfig {
            noise: 0.05,
            seeds: 5,
            draws: 200,
            weeks: 156,
            channels: 5,
            holdout: 13,
            broad: false,
            geos: 1,
            fit: None,
        }
    }
}

impl StudyConfig {
    /// The simulation of one seed.
    pub fn sim_config(&self, seed: u64) -> SimConfig {
        if self.broad {
            SimConfig::broad(seed, self.noise, self.geos)
        } else {
            SimConfig {
                weeks: self.weeks,
                channels: self.channels,
                noise: self.noise,
                geos: 1,
                holdout: self.holdout,
                seed,
                truth: Default::default(),
            }
        }
    }
}

/// One channel of one simulated dataset: truth, estimate and oracle.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChannelRecovery {
    /// Simulation seed.
    pub seed: u64,
    /// Channel name.
    pub channel: String,
    /// True ROI.
    pub true_roi: f64,
    /// Estimated ROI.
    pub roi: f64,
    /// Its interval.
    pub roi_interval: [f64; 2],
    /// The oracle's ROI.
    pub oracle_roi: f64,
}

/// One simulated dataset: media share truth, estimate and oracle.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConfigRecovery {
    /// Simulation seed.
    pub seed: u64,
    /// Channels.
    pub channels: usize,
    /// True media share.
    pub true_media_share: f64,
    /// Estimated media share.
    pub media_share: f64,
    /// Its interval.
    pub media_share_interval: [f64; 2],
    /// The oracle's media share.
    pub oracle_media_share: f64,
    /// Holdout MAPE of the estimate.
    pub holdout_mape: f64,
    /// NUTS convergence of the estimate (`--method bayes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub convergence: Option<crate::analysis::Convergence>,
}

/// Aggregated results.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StudyReport {
    /// Schema version.
    pub schema_version: u32,
    /// Settings.
    pub config: StudyConfig,
    /// Mean absolute percentage error of channel ROI, estimator.
    pub roi_mape: f64,
    /// Same for the oracle.
    pub oracle_roi_mape: f64,
    /// Fraction of channel×seed cases whose interval covers the true ROI.
    pub coverage: f64,
    /// Mean interval width relative to the true ROI.
    pub mean_relative_width: f64,
    /// Mean interval width in ROI units.
    pub mean_width: f64,
    /// Largest R̂ over every NUTS fit (`--method bayes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rhat_max: Option<f64>,
    /// NUTS fits with at least one divergent transition.
    #[serde(default)]
    pub divergent_fits: usize,
    /// Mean absolute media-share error (fraction), estimator.
    pub share_error: f64,
    /// Same for the oracle.
    pub oracle_share_error: f64,
    /// Mean holdout MAPE.
    pub holdout_mape: f64,
    /// Mean absolute error of the geometric decay.
    pub decay_error: f64,
    /// Mean absolute percentage error of mROI.
    pub mroi_mape: f64,
    /// Mean seconds per fit (including intervals).
    pub seconds_per_fit: f64,
    /// Mean of log(estimated ROI / true ROI): systematic bias (0 = none).
    pub roi_log_bias: f64,
    /// Fraction of configurations whose media-share interval covers the truth.
    pub media_share_coverage: f64,
    /// Per configuration.
    pub configs: Vec<ConfigRecovery>,
    /// Per channel and configuration.
    pub channels: Vec<ChannelRecovery>,
}

/// The spec and dataset of a simulation (written to a scratch folder and read back, so
/// the study goes through the same loader as users).
fn load_sim(
    sim: &crate::Simulation,
    seed: u64,
) -> Result<(crate::ValidSpec, crate::Dataset), Error> {
    let dir = std::env::temp_dir().join(format!(
        "mixcast-study-{}-{seed}-{}",
        std::process::id(),
        sim.truth.config.noise
    ));
    let loaded = sim.load_from(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    loaded
}

/// A simulation fitted twice: by the estimator and by the oracle (true transforms, least
/// squares on the linear part, no prior). Returns (model, oracle, seconds of the fit).
fn fit_with_oracle(
    sim: &crate::Simulation,
    holdout: usize,
    seed: u64,
    draws: usize,
    fit_settings: Option<&crate::spec::FitSpec>,
) -> Result<(crate::Model, crate::Model, f64), Error> {
    let (spec, ds) = load_sim(sim, seed)?;
    let spec = match fit_settings {
        Some(f) => {
            let mut edited = spec.spec().clone();
            edited.fit = f.clone();
            spec.with_spec(edited)?
        }
        None => spec,
    };
    let opts = FitOptions {
        holdout,
        seed,
        draws: Some(draws),
        ..Default::default()
    };
    let t = std::time::Instant::now();
    let model = fit(&spec, ds.clone(), &opts)?;
    let secs = t.elapsed().as_secs_f64();
    let mut oracle_spec = sim.truth.oracle_spec(spec.spec());
    oracle_spec.fit.media_share_prior = 0.0;
    let oracle = spec.with_spec(oracle_spec)?;
    let om = fit(
        &oracle,
        ds,
        &FitOptions {
            draws: Some(0),
            method: Some(crate::spec::FitMethod::Fast),
            ..opts
        },
    )?;
    Ok((model, om, secs))
}

/// Run the study in a scratch folder under the system temp dir.
pub fn run_study(cfg: &StudyConfig) -> Result<StudyReport, Error> {
    let mut acc = [0.0f64; 12];
    let mut cases = 0usize;
    let mut secs = 0.0;
    let mut configs = Vec::new();
    let mut channels = Vec::new();
    for seed in 1..=cfg.seeds {
        let sim = simulate(&cfg.sim_config(seed));
        let (model, om, t) = fit_with_oracle(&sim, cfg.holdout, seed, cfg.draws, cfg.fit.as_ref())?;
        secs += t;
        let (s, so) = (summarize(&model), summarize(&om));
        for ((c, o), (tr, p)) in s
            .channels
            .iter()
            .zip(&so.channels)
            .zip(sim.truth.channels.iter().zip(&model.point.channels))
        {
            let roi = c.roi.unwrap_or(0.0);
            let [lo, hi] = c.roi_interval.unwrap_or([roi, roi]);
            acc[0] += (roi - tr.roi).abs() / tr.roi;
            acc[1] += (o.roi.unwrap_or(0.0) - tr.roi).abs() / tr.roi;
            acc[2] += f64::from(lo <= tr.roi && tr.roi <= hi);
            acc[3] += (hi - lo) / tr.roi;
            acc[4] += hi - lo;
            acc[8] += (c.mroi.unwrap_or(0.0) - tr.mroi).abs() / tr.mroi;
            if let crate::transform::Adstock::Geometric { decay, .. } = p.adstock {
                acc[9] += (decay - tr.decay).abs();
            }
            acc[10] += (roi.max(1e-3 * tr.roi) / tr.roi).ln();
            channels.push(ChannelRecovery {
                seed,
                channel: c.name.clone(),
                true_roi: tr.roi,
                roi,
                roi_interval: [lo, hi],
                oracle_roi: o.roi.unwrap_or(0.0),
            });
            cases += 1;
        }
        let [slo, shi] = s.media_share_interval;
        let truth = sim.truth.media_share;
        acc[5] += (s.media_share - truth).abs();
        acc[6] += (so.media_share - truth).abs();
        let holdout = s.holdout.as_ref().map(|h| h.mape).unwrap_or(0.0);
        acc[7] += holdout;
        acc[11] += f64::from(slo <= truth && truth <= shi);
        configs.push(ConfigRecovery {
            seed,
            channels: s.channels.len(),
            true_media_share: truth,
            media_share: s.media_share,
            media_share_interval: s.media_share_interval,
            oracle_media_share: so.media_share,
            holdout_mape: holdout,
            convergence: s.diagnostics.clone(),
        });
    }
    let n = cases.max(1) as f64;
    let k = cfg.seeds.max(1) as f64;
    Ok(StudyReport {
        schema_version: 1,
        config: cfg.clone(),
        roi_mape: acc[0] / n,
        oracle_roi_mape: acc[1] / n,
        coverage: acc[2] / n,
        mean_relative_width: acc[3] / n,
        mean_width: acc[4] / n,
        share_error: acc[5] / k,
        oracle_share_error: acc[6] / k,
        holdout_mape: acc[7] / k,
        mroi_mape: acc[8] / n,
        decay_error: acc[9] / n,
        seconds_per_fit: secs / k,
        roi_log_bias: acc[10] / n,
        media_share_coverage: acc[11] / k,
        rhat_max: configs
            .iter()
            .filter_map(|c| c.convergence.as_ref()?.rhat_max)
            .reduce(f64::max),
        divergent_fits: configs
            .iter()
            .filter(|c| c.convergence.as_ref().is_some_and(|d| d.divergences > 0))
            .count(),
        configs,
        channels,
    })
}

/// Settings of an allocation study.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AllocationConfig {
    /// Noise level (fraction of mean KPI).
    pub noise: f64,
    /// Seeds `1..=seeds`.
    pub seeds: u64,
    /// Bootstrap draws per fit.
    pub draws: usize,
    /// Channels.
    pub channels: usize,
    /// Planned periods (the budget is the spend of the last this many weeks).
    pub horizon: usize,
    /// Which view of the draws the optimizer uses.
    pub risk: Risk,
    /// Draw each seed's truth from the broad ranges ([`SimConfig::broad`]; `channels` is
    /// then drawn too).
    #[serde(default)]
    pub broad: bool,
}

impl Default for AllocationConfig {
    fn default() -> Self {
        AllocationConfig {
            noise: 0.02,
            seeds: 5,
            draws: 200,
            channels: 5,
            horizon: 13,
            risk: Risk::Mean,
            broad: false,
        }
    }
}

/// Regret of allocations under the true response functions, averaged over seeds:
/// `(KPI(true optimum) − KPI(x)) / (KPI(true optimum) − KPI(no new spend))`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AllocationReport {
    /// Schema version.
    pub schema_version: u32,
    /// Settings.
    pub config: AllocationConfig,
    /// The optimizer on the fitted model.
    pub regret: f64,
    /// The optimizer on the oracle model (true curve shapes, least-squares coefficients).
    pub oracle_regret: f64,
    /// Keeping each channel's spend of the last `horizon` weeks.
    pub last_quarter_regret: f64,
    /// An even split across channels.
    pub even_regret: f64,
    /// Per seed.
    pub per_seed: Vec<SeedRegret>,
}

/// Regrets on one simulated dataset.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeedRegret {
    /// Simulation seed.
    pub seed: u64,
    /// The optimizer on the fitted model.
    pub regret: f64,
    /// The optimizer on the oracle model.
    pub oracle: f64,
    /// Last quarter's split.
    pub last_quarter: f64,
    /// An even split.
    pub even: f64,
}

/// Run the allocation study: simulate, fit on all weeks, optimise the last `horizon`
/// weeks' budget over the next `horizon` weeks, score under the truth.
pub fn run_allocation_study(cfg: &AllocationConfig) -> Result<AllocationReport, Error> {
    let mut per_seed = Vec::new();
    for seed in 1..=cfg.seeds {
        let sim = simulate(&if cfg.broad {
            SimConfig {
                holdout: 0,
                ..SimConfig::broad(seed, cfg.noise, 1)
            }
        } else {
            SimConfig {
                channels: cfg.channels,
                noise: cfg.noise,
                holdout: 0,
                seed,
                truth: Default::default(),
                ..Default::default()
            }
        });
        let (model, om, _) = fit_with_oracle(&sim, 0, seed, cfg.draws, None)?;
        let truth = sim.truth.true_model(&model);
        let h = cfg.horizon;
        let tp = Planner::new(&truth, h, false);
        let reference = tp.reference_spend();
        let budget: f64 = reference.iter().sum();
        let shapes: Vec<Vec<f64>> = (0..truth.channels.len())
            .map(|c| Flighting::Even.shape(&truth.dataset, c, h))
            .collect();
        let true_kpi = |x: &[f64]| -> f64 {
            (0..x.len())
                .filter_map(|c| tp.horizon().response(c, &shapes[c]))
                .zip(x)
                .map(|(r, &v)| r.sets[0].value_and_slope(v).0)
                .sum()
        };
        let req = Request {
            risk: RiskName::Point,
            ..Request::fixed_budget(budget, h)
        };
        let spend = |r: &crate::optimize::Recommendation| -> Vec<f64> {
            r.channels.iter().map(|c| c.recommended_spend).collect()
        };
        let best = spend(&tp.optimize(&req.validate()?)?);
        let opt_req = Request::fixed_budget(budget, h).with_risk(cfg.risk);
        let rec = spend(&optimize(&model, &opt_req)?);
        let orc = spend(&optimize(&om, &req)?);
        let (k_best, k_zero) = (true_kpi(&best), true_kpi(&vec![0.0; best.len()]));
        let regret = |x: &[f64]| (k_best - true_kpi(x)) / (k_best - k_zero);
        let even = vec![budget / best.len() as f64; best.len()];
        per_seed.push(SeedRegret {
            seed,
            regret: regret(&rec),
            oracle: regret(&orc),
            last_quarter: regret(&reference),
            even: regret(&even),
        });
    }
    let mean = |f: fn(&SeedRegret) -> f64| {
        per_seed.iter().map(f).sum::<f64>() / per_seed.len().max(1) as f64
    };
    Ok(AllocationReport {
        schema_version: 1,
        config: cfg.clone(),
        regret: mean(|r| r.regret),
        oracle_regret: mean(|r| r.oracle),
        last_quarter_regret: mean(|r| r.last_quarter),
        even_regret: mean(|r| r.even),
        per_seed,
    })
}

/// Settings of the calibration study.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CalibrationStudyConfig {
    /// Noise level.
    pub noise: f64,
    /// Broad configurations `1..=seeds`.
    pub seeds: u64,
    /// Bootstrap draws per fit.
    pub draws: usize,
    /// Length of the lift test in periods.
    pub test_weeks: usize,
    /// Standard error of the test as a fraction of the true lift.
    pub se_ratio: f64,
    /// A channel counts as badly estimated above this relative ROI error.
    pub bad_error: f64,
}

impl Default for CalibrationStudyConfig {
    fn default() -> Self {
        CalibrationStudyConfig {
            noise: 0.05,
            seeds: 20,
            draws: 100,
            test_weeks: 8,
            se_ratio: 0.1,
            bad_error: 0.3,
        }
    }
}

/// One configuration of the calibration study.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CalibrationCase {
    /// Seed.
    pub seed: u64,
    /// The worst-estimated channel, which gets the test.
    pub channel: String,
    /// Its true ROI.
    pub true_roi: f64,
    /// Its ROI without and with the test.
    pub roi: [f64; 2],
    /// Its relative ROI error without and with the test.
    pub error: [f64; 2],
    /// Whether the true ROI is inside its interval without and with the test.
    pub covered: [bool; 2],
    /// Mean relative ROI error of the other channels without and with the test.
    pub others_error: [f64; 2],
    /// First and last date of the test window.
    pub window: [String; 2],
    /// True lift (the test's measurement) and its standard error.
    pub lift: f64,
}

/// The calibration study: for each broad configuration, the channel whose ROI is worst
/// estimated gets one lift test (its true lift over the `test_weeks` periods of its
/// highest spend, `se = se_ratio × lift`), and the model is refitted with it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CalibrationReport {
    /// Schema version.
    pub schema_version: u32,
    /// Settings.
    pub config: CalibrationStudyConfig,
    /// Cases whose worst channel was badly estimated (error above `bad_error`).
    pub bad_cases: usize,
    /// Of those, how many had the channel's error at least halved by the test.
    pub halved: usize,
    /// Median over bad cases of error with test / error without.
    pub median_error_ratio: f64,
    /// Mean relative ROI error of the other channels without and with the tests (bad
    /// cases).
    pub others_error: [f64; 2],
    /// Tested channels' interval coverage without and with the test (bad cases).
    pub coverage: [f64; 2],
    /// Every configuration.
    pub cases: Vec<CalibrationCase>,
}

/// Run the calibration study.
pub fn run_calibration_study(cfg: &CalibrationStudyConfig) -> Result<CalibrationReport, Error> {
    let mut cases = Vec::new();
    for seed in 1..=cfg.seeds {
        let sim = simulate(&SimConfig::broad(seed, cfg.noise, 1));
        let (spec, ds) = load_sim(&sim, seed)?;
        let opts = FitOptions {
            holdout: sim.truth.config.holdout,
            seed,
            draws: Some(cfg.draws),
            ..Default::default()
        };
        let before = fit(&spec, ds.clone(), &opts)?;
        let truth = sim.truth.true_model(&before);
        let rel = |m: &crate::Model| -> Vec<(f64, bool)> {
            summarize(m)
                .channels
                .iter()
                .zip(&sim.truth.channels)
                .map(|(c, t)| {
                    let roi = c.roi.unwrap_or(0.0);
                    let [lo, hi] = c.roi_interval.unwrap_or([roi, roi]);
                    ((roi - t.roi).abs() / t.roi, lo <= t.roi && t.roi <= hi)
                })
                .collect()
        };
        let eb = rel(&before);
        let worst = (0..eb.len())
            .max_by(|&a, &b| eb[a].0.total_cmp(&eb[b].0))
            .unwrap_or(0);
        let test = true_lift_test(&ds, &before, &truth, worst, cfg.test_weeks, cfg.se_ratio);
        let after = crate::fit::fit_calibrated(
            &spec,
            ds,
            &opts,
            vec![test.clone()],
            &crate::observe::Silent,
        )?;
        let ea = rel(&after);
        let others = |e: &[(f64, bool)]| {
            let v: Vec<f64> = e
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != worst)
                .map(|(_, x)| x.0)
                .collect();
            v.iter().sum::<f64>() / v.len().max(1) as f64
        };
        let roi_of = |m: &crate::Model| summarize(m).channels[worst].roi.unwrap_or(0.0);
        cases.push(CalibrationCase {
            seed,
            channel: test.channel_name.clone(),
            true_roi: sim.truth.channels[worst].roi,
            roi: [roi_of(&before), roi_of(&after)],
            error: [eb[worst].0, ea[worst].0],
            covered: [eb[worst].1, ea[worst].1],
            others_error: [others(&eb), others(&ea)],
            window: [test.start.to_string(), test.end.to_string()],
            lift: test.lift,
        });
    }
    let bad: Vec<&CalibrationCase> = cases
        .iter()
        .filter(|c| c.error[0] > cfg.bad_error)
        .collect();
    let nb = bad.len().max(1) as f64;
    let mut ratios: Vec<f64> = bad.iter().map(|c| c.error[1] / c.error[0]).collect();
    ratios.sort_by(f64::total_cmp);
    let mean2 = |f: &dyn Fn(&CalibrationCase) -> [f64; 2]| -> [f64; 2] {
        let s = bad.iter().fold([0.0, 0.0], |a, c| {
            let v = f(c);
            [a[0] + v[0], a[1] + v[1]]
        });
        [s[0] / nb, s[1] / nb]
    };
    Ok(CalibrationReport {
        schema_version: 1,
        config: cfg.clone(),
        bad_cases: bad.len(),
        halved: bad
            .iter()
            .filter(|c| c.error[1] <= 0.5 * c.error[0])
            .count(),
        median_error_ratio: crate::analysis::quantile(&ratios, 0.5),
        others_error: mean2(&|c| c.others_error),
        coverage: mean2(&|c| c.covered.map(f64::from)),
        cases,
    })
}

/// A lift test of `channel` over the `weeks` periods of its highest spend in the model's
/// fit window: the lift the true model implies, with `se = se_ratio × lift` (the test's
/// measured lift is exact; add noise for a noisy test).
fn true_lift_test(
    ds: &crate::Dataset,
    model: &crate::Model,
    truth: &crate::Model,
    channel: usize,
    weeks: usize,
    se_ratio: f64,
) -> crate::calibration::Experiment {
    let (t0, t1) = (model.fit_start, model.fit_end);
    let w = weeks.clamp(1, t1 - t0);
    let spend = |x: usize| -> f64 {
        ds.channels[channel]
            .spend
            .as_ref()
            .map(|s| s.series(0)[x..x + w].iter().sum())
            .unwrap_or(0.0)
    };
    let start = (t0..=t1 - w)
        .max_by(|&a, &b| spend(a).total_cmp(&spend(b)))
        .unwrap_or(t0);
    let mut test = crate::calibration::Experiment {
        row: 2,
        channel,
        channel_name: model.channels[channel].name.clone(),
        start: ds.dates[start],
        end: ds.dates[start + w - 1],
        lift: 0.0,
        se: 1.0,
        scope: crate::calibration::Scope::Immediate,
        geo: None,
    };
    test.lift = test.implied_lift(truth, &truth.point);
    test.se = (se_ratio * test.lift).max(1e-9);
    test
}

/// Settings of the combination study on the joint simulator.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CombinationStudyConfig {
    /// Seeds `1..=seeds`.
    pub seeds: u64,
    /// KPI noise.
    pub noise: f64,
    /// Journeys per seed.
    pub journeys: usize,
    /// Bootstrap draws per fit.
    pub draws: usize,
    /// Lift-test length in periods.
    pub test_weeks: usize,
    /// Lift-test standard error as a fraction of the true lift (the measured lift is the
    /// true lift plus noise of that sd).
    pub se_ratio: f64,
}

impl Default for CombinationStudyConfig {
    fn default() -> Self {
        CombinationStudyConfig {
            seeds: 5,
            noise: 0.05,
            journeys: 1_000_000,
            draws: 200,
            test_weeks: 8,
            se_ratio: 0.15,
        }
    }
}

/// One digital channel in one seed of the combination study.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CombinationCase {
    /// Seed.
    pub seed: u64,
    /// Channel.
    pub channel: String,
    /// Targeted at likely converters (retargeting).
    pub targeted: bool,
    /// True ROI.
    pub true_roi: f64,
    /// MMM alone.
    pub mmm_roi: f64,
    /// MMM fitted with attribution-informed ROI priors (`fit --attribution-prior`).
    pub informed_roi: f64,
    /// Attribution alone: attributed value scaled by KPI ÷ tracked value, over spend.
    pub attribution_roi: f64,
    /// `combine` without lift tests.
    pub combined_roi: f64,
    /// `combine` with the lift tests.
    pub combined_with_tests_roi: f64,
    /// Whether the channel had a lift test.
    pub tested: bool,
    /// Combined interval covers the truth (without, with tests).
    pub covered: [bool; 2],
}

/// The combination study's report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CombinationReport {
    /// Schema version.
    pub schema_version: u32,
    /// Settings.
    pub config: CombinationStudyConfig,
    /// Mean relative ROI error over digital channels: MMM alone.
    pub mmm_error: f64,
    /// MMM with attribution-informed priors.
    pub informed_error: f64,
    /// Attribution alone.
    pub attribution_error: f64,
    /// Combined.
    pub combined_error: f64,
    /// Combined with lift tests.
    pub combined_with_tests_error: f64,
    /// Interval coverage of the combined ROI (without, with tests).
    pub coverage: [f64; 2],
    /// Mean relative ROI error over campaigns of `combine`'s campaign split.
    pub campaign_error: f64,
    /// Largest relative gap between a channel's campaign sum and its contribution.
    pub max_campaign_sum_gap: f64,
    /// Every digital channel of every seed.
    pub cases: Vec<CombinationCase>,
}

/// The combination study: per seed a joint simulation; the MMM (default fit) and Shapley
/// attribution are combined without and with lift tests on two digital channels (the
/// true lift over their 8 highest-spend weeks plus noise, `se = se_ratio × lift`), and
/// each method's ROI for the digital channels is scored against the truth.
pub fn run_combination_study(cfg: &CombinationStudyConfig) -> Result<CombinationReport, Error> {
    use crate::attribution as at;
    use crate::combine::{combine, CombineRequest};
    use rand::{Rng, SeedableRng};
    let mut cases = Vec::new();
    let (mut camp_err, mut camp_n, mut gap) = (0.0, 0usize, 0.0f64);
    for seed in 1..=cfg.seeds {
        let dir = std::env::temp_dir().join(format!(
            "mixcast-joint-{}-{seed}-{}",
            std::process::id(),
            cfg.noise
        ));
        let write = |source| Error::Write {
            path: dir.clone(),
            source,
        };
        let joint = crate::joint::simulate_joint(
            &crate::joint::JointConfig {
                seed,
                noise: cfg.noise,
                journeys: cfg.journeys,
            },
            &dir,
        )
        .map_err(write)?;
        let spec = crate::ValidSpec::load(&dir.join("spec.toml"))?;
        let ds = crate::load_dataset(&spec)?;
        let table = at::events::read_events(
            &dir.join("journeys/events.csv"),
            &dir.join("journeys/conversions.csv"),
            at::events::JourneyOptions {
                lookback_days: 90.0,
                ..Default::default()
            },
        )?;
        let settings = at::ModelSettings::from_flags(
            &[0.4, 0.4],
            &[0.3, 0.3, 0.3],
            None,
            false,
            "direct".into(),
            seed,
        )?;
        let attribution = at::attribute(&table, &[at::Model::Shapley], &settings)?;
        let opts = FitOptions {
            holdout: 13,
            seed,
            draws: Some(cfg.draws),
            ..Default::default()
        };
        let model = fit(&spec, ds.clone(), &opts)?;
        let attr_path = dir.join("attribution.json");
        crate::io::write_json(&attr_path, &attribution).map_err(write)?;
        let informed = fit(
            &spec,
            ds.clone(),
            &FitOptions {
                attribution_prior: Some(attr_path),
                ..opts.clone()
            },
        )?;
        let _ = std::fs::remove_dir_all(&dir);
        let informed_summary = summarize(&informed);
        let truth_model = joint.mmm.truth.true_model(&model);
        let summary = summarize(&model);
        let req = CombineRequest {
            map: None,
            experiments: Vec::new(),
            reference: None,
        };
        let plain = combine(&model, &attribution, &req)?;
        // Lift tests on two random digital channels.
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ 0x7E57);
        let digital: Vec<usize> = (0..model.channels.len())
            .filter(|&c| joint.truth.channels[c].tracked)
            .collect();
        let mut tested = Vec::new();
        while tested.len() < 2.min(digital.len()) {
            let c = digital[rng.random_range(0..digital.len())];
            if !tested.contains(&c) {
                tested.push(c);
            }
        }
        let tests: Vec<_> = tested
            .iter()
            .map(|&c| {
                let mut t =
                    true_lift_test(&ds, &model, &truth_model, c, cfg.test_weeks, cfg.se_ratio);
                let z: f64 = rng.sample(rand_distr::StandardNormal);
                t.lift += t.se * z;
                t
            })
            .collect();
        let with_tests = combine(
            &model,
            &attribution,
            &CombineRequest {
                experiments: tests,
                ..req
            },
        )?;
        let tracked_value = attribution.value;
        let kpi_total: f64 = (model.fit_start..model.fit_end)
            .map(|t| ds.kpi.at(0, t))
            .sum();
        let shapley = &attribution.models[0];
        for &c in &digital {
            let tr = &joint.truth.channels[c];
            let s = &summary.channels[c];
            // Shapley's incremental conversions at the mean conversion value.
            let attributed = shapley
                .channels
                .iter()
                .find(|k| k.name == tr.name)
                .and_then(|k| k.incremental_conversions)
                .unwrap_or(0.0)
                * attribution.value
                / attribution.conversions.max(1.0);
            let est = |doc: &crate::combine::Combination| {
                doc.channels
                    .iter()
                    .find(|k| k.name == tr.name)
                    .and_then(|k| k.combined.as_ref())
                    .map(|e| (e.roi, e.roi_interval))
                    .unwrap_or((0.0, [0.0, 0.0]))
            };
            let (a, b) = (est(&plain), est(&with_tests));
            let covers = |iv: [f64; 2]| iv[0] <= tr.roi && tr.roi <= iv[1];
            cases.push(CombinationCase {
                seed,
                channel: tr.name.clone(),
                targeted: tr.targeted,
                true_roi: tr.roi,
                mmm_roi: s.roi.unwrap_or(0.0),
                informed_roi: informed_summary.channels[c].roi.unwrap_or(0.0),
                attribution_roi: attributed * kpi_total / tracked_value / s.spend,
                combined_roi: a.0,
                combined_with_tests_roi: b.0,
                tested: tested.contains(&c),
                covered: [covers(a.1), covers(b.1)],
            });
        }
        for ch in &summary.channels {
            let rows: Vec<_> = plain
                .campaigns
                .iter()
                .filter(|k| k.channel == ch.name)
                .collect();
            if rows.is_empty() {
                continue;
            }
            let sum: f64 = rows.iter().map(|k| k.incremental_contribution).sum();
            gap = gap.max((sum - ch.contribution).abs() / ch.contribution.abs().max(1e-300));
            for k in rows {
                if let (Some(roi), Some(t)) = (
                    k.incremental_roi,
                    joint
                        .truth
                        .campaigns
                        .iter()
                        .find(|t| t.campaign == k.campaign),
                ) {
                    camp_err += (roi - t.roi).abs() / t.roi;
                    camp_n += 1;
                }
            }
        }
    }
    let n = cases.len().max(1) as f64;
    let mean = |f: &dyn Fn(&CombinationCase) -> f64| cases.iter().map(f).sum::<f64>() / n;
    let err = |x: f64, t: f64| (x - t).abs() / t;
    Ok(CombinationReport {
        schema_version: 1,
        config: cfg.clone(),
        mmm_error: mean(&|c| err(c.mmm_roi, c.true_roi)),
        informed_error: mean(&|c| err(c.informed_roi, c.true_roi)),
        attribution_error: mean(&|c| err(c.attribution_roi, c.true_roi)),
        combined_error: mean(&|c| err(c.combined_roi, c.true_roi)),
        combined_with_tests_error: mean(&|c| err(c.combined_with_tests_roi, c.true_roi)),
        coverage: [
            mean(&|c| f64::from(c.covered[0])),
            mean(&|c| f64::from(c.covered[1])),
        ],
        campaign_error: camp_err / camp_n.max(1) as f64,
        max_campaign_sum_gap: gap,
        cases,
    })
}
