//! The refresh gate on the simulator: for each broad configuration, a previous model is
//! fitted on 156 weeks, then the spec is refreshed on `new_weeks` more weeks drawn
//! (a) from the same truth and (b) with one channel's effect multiplied by `factor` in
//! the new weeks, each without and with warm start. The gate should pass (a) and flag
//! exactly the changed channel in (b).

use serde::{Deserialize, Serialize};

use super::{refresh, Check, RefreshSpec, Status};
use crate::fit::{fit_observed, FitOptions};
use crate::observe::Silent;
use crate::simulate::{simulate_changed, EffectChange, SimConfig};
use crate::Error;

/// Study settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefreshStudyConfig {
    /// Broad configurations (seeds `seed..seed + configs`).
    pub configs: usize,
    /// Noise sd as a fraction of mean KPI.
    pub noise: f64,
    /// Weeks added by the refresh.
    pub new_weeks: usize,
    /// Multiplier of the changed channel's effect in the new weeks.
    pub factor: f64,
    /// First seed.
    pub seed: u64,
    /// Bootstrap draws per fit.
    pub draws: usize,
    /// Gate thresholds (warm start is toggled by the study).
    pub thresholds: RefreshSpec,
    /// Which channel changes.
    pub pick: Pick,
}

/// Which channel's effect the study changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pick {
    /// The channel with the largest true contribution.
    Largest,
    /// A channel drawn at random (detection then depends on its share; see
    /// `changed_share`).
    Random,
}

impl Default for RefreshStudyConfig {
    fn default() -> Self {
        RefreshStudyConfig {
            configs: 10,
            noise: 0.05,
            new_weeks: 26,
            factor: 2.0,
            seed: 0,
            draws: 200,
            thresholds: RefreshSpec::default(),
            pick: Pick::Largest,
        }
    }
}

/// One channel's ROI across a refresh.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoiShift {
    /// Channel.
    pub name: String,
    /// True ROI over the first 156 weeks.
    pub truth: f64,
    /// Previous model's ROI.
    pub previous: f64,
    /// Its interval.
    pub previous_interval: [f64; 2],
    /// New model's ROI.
    pub new: f64,
    /// `(new − previous)` in half-widths of the previous interval (on its side).
    pub in_half_widths: f64,
}

/// One refresh run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outcome {
    /// Gate verdict.
    pub status: Status,
    /// Channels flagged.
    pub flagged: Vec<String>,
    /// Checks that fired.
    pub checks: Vec<Check>,
    /// Per paid channel.
    pub roi: Vec<RoiShift>,
    /// Per channel: effect shift and its z (backtest of the previous model).
    pub effect: Vec<(String, f64, f64)>,
}

/// One configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefreshCase {
    /// Seed.
    pub seed: u64,
    /// Channels.
    pub channels: usize,
    /// The channel whose effect changes in (b).
    pub changed: String,
    /// Its true share of the KPI before the change.
    pub changed_share: f64,
    /// (a) same truth, cold refit.
    pub same: Outcome,
    /// (a) with warm start.
    pub same_warm: Outcome,
    /// (b) changed channel, cold.
    pub changed_run: Outcome,
    /// (b) with warm start.
    pub changed_warm: Outcome,
}

/// Rates over the study, per variant.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Rates {
    /// Share of (a) runs that pass.
    pub pass_rate_same: f64,
    /// Share of (b) runs that flag the changed channel.
    pub detection_rate: f64,
    /// Share of (b) runs whose gate fails (exit 3), naming a channel or not.
    pub drift_rate: f64,
    /// Share of unchanged channels flagged in (a) and (b) runs.
    pub false_alarm_rate: f64,
    /// Mean |ln(new / previous ROI)| in (a).
    pub mean_abs_log_roi_shift_same: f64,
    /// Mean |new − previous| in previous half-widths in (a).
    pub mean_shift_in_half_widths_same: f64,
    /// Mean |ln(new ROI / true ROI)| in (a): how far refits are from the truth.
    pub mean_abs_log_error_same: f64,
}

/// The study report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefreshStudyReport {
    /// Settings.
    pub config: RefreshStudyConfig,
    /// Cold refits.
    pub cold: Rates,
    /// Warm-started refits.
    pub warm: Rates,
    /// Per configuration.
    pub cases: Vec<RefreshCase>,
}

fn outcome(d: &super::Drift, truth: &crate::Truth) -> Outcome {
    let roi = d
        .channels
        .iter()
        .filter_map(|c| {
            let p = c.previous.as_ref()?;
            let n = c.new.as_ref()?;
            let (pr, [lo, hi], nr) = (p.roi?, p.roi_interval?, n.roi?);
            let t = truth.channels.iter().find(|t| t.name == c.name)?;
            let half = if nr >= pr { hi - pr } else { pr - lo };
            Some(RoiShift {
                name: c.name.clone(),
                truth: t.roi,
                previous: pr,
                previous_interval: [lo, hi],
                new: nr,
                in_half_widths: if half > 0.0 { (nr - pr) / half } else { 0.0 },
            })
        })
        .collect();
    Outcome {
        status: d.status,
        flagged: d.flagged_channels.clone(),
        checks: d.reasons.iter().map(|r| r.check).collect(),
        roi,
        effect: d
            .channels
            .iter()
            .filter_map(|c| {
                let e = c.effect_shift.as_ref()?;
                Some((c.name.clone(), e.shift, e.z))
            })
            .collect(),
    }
}

/// Fit the first `old` weeks of `sim`, refresh on all of them (cold and warm).
fn run(
    sim: &crate::Simulation,
    old: usize,
    cfg: &RefreshStudyConfig,
    tag: &str,
) -> Result<(Outcome, Outcome), Error> {
    let dir = std::env::temp_dir().join(format!(
        "mixcast-refresh-study-{}-{}-{tag}",
        std::process::id(),
        sim.truth.config.seed
    ));
    let result = (|| {
        let (spec, _) = sim.load_from(&dir)?;
        let first = chrono::NaiveDate::from_ymd_opt(2021, 1, 4).expect("valid date");
        let mut s = spec.spec().clone();
        s.data.end = Some(first + chrono::Duration::weeks(old as i64 - 1));
        let old_spec = spec.with_spec(s)?;
        let opts = FitOptions {
            seed: sim.truth.config.seed,
            draws: Some(cfg.draws),
            ..Default::default()
        };
        let ds = crate::load_dataset(&old_spec)?;
        let previous = fit_observed(&old_spec, ds, &opts, &Silent)?;
        let mut out = Vec::new();
        for warm in [false, true] {
            let t = RefreshSpec {
                warm_start: warm,
                ..cfg.thresholds
            };
            let r = refresh(&spec, &previous, &opts, &t, &Silent)?;
            out.push(outcome(&r.drift, &sim.truth));
        }
        let warm = out.pop().expect("two runs");
        let cold = out.pop().expect("two runs");
        Ok((cold, warm))
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn rates(cases: &[RefreshCase], warm: bool) -> Rates {
    fn pick(c: &RefreshCase, warm: bool) -> (&Outcome, &Outcome) {
        if warm {
            (&c.same_warm, &c.changed_warm)
        } else {
            (&c.same, &c.changed_run)
        }
    }
    let pick = |c| pick(c, warm);
    let n = cases.len().max(1) as f64;
    let pass = cases
        .iter()
        .filter(|c| pick(c).0.status == Status::Pass)
        .count() as f64
        / n;
    let detected = cases
        .iter()
        .filter(|c| pick(c).1.flagged.contains(&c.changed))
        .count() as f64
        / n;
    let drift = cases
        .iter()
        .filter(|c| pick(c).1.status == Status::Drift)
        .count() as f64
        / n;
    let (mut alarms, mut chances) = (0usize, 0usize);
    for c in cases {
        let (a, b) = pick(c);
        alarms += a.flagged.len();
        alarms += b.flagged.iter().filter(|f| **f != c.changed).count();
        chances += 2 * c.channels - 1;
    }
    let same: Vec<&RoiShift> = cases.iter().flat_map(|c| &pick(c).0.roi).collect();
    let m = same.len().max(1) as f64;
    Rates {
        pass_rate_same: pass,
        detection_rate: detected,
        drift_rate: drift,
        false_alarm_rate: alarms as f64 / chances.max(1) as f64,
        mean_abs_log_roi_shift_same: same
            .iter()
            .map(|r| (r.new / r.previous).ln().abs())
            .filter(|v| v.is_finite())
            .sum::<f64>()
            / m,
        mean_shift_in_half_widths_same: same.iter().map(|r| r.in_half_widths.abs()).sum::<f64>()
            / m,
        mean_abs_log_error_same: same
            .iter()
            .map(|r| (r.new / r.truth).ln().abs())
            .filter(|v| v.is_finite())
            .sum::<f64>()
            / m,
    }
}

/// Run the study.
pub fn run_refresh_study(cfg: &RefreshStudyConfig) -> Result<RefreshStudyReport, Error> {
    use rand::{Rng, SeedableRng};
    let mut cases = Vec::new();
    for seed in cfg.seed..cfg.seed + cfg.configs as u64 {
        let mut sc = SimConfig::broad(seed, cfg.noise, 1);
        let old = sc.weeks;
        sc.weeks = old + cfg.new_weeks;
        sc.holdout = cfg.new_weeks;
        let same = simulate_changed(&sc, None);
        let k = match cfg.pick {
            Pick::Largest => (0..sc.channels)
                .max_by(|&a, &b| {
                    let c = |i: usize| same.truth.channels[i].contribution;
                    c(a).total_cmp(&c(b))
                })
                .unwrap_or(0),
            Pick::Random => {
                rand::rngs::StdRng::seed_from_u64(seed ^ 0x00C4_A46E).random_range(0..sc.channels)
            }
        };
        let changed = simulate_changed(
            &sc,
            Some(EffectChange {
                channel: k,
                from: old,
                factor: cfg.factor,
            }),
        );
        let kpi: f64 = same
            .truth
            .channels
            .iter()
            .map(|c| c.contribution)
            .sum::<f64>()
            / same.truth.media_share;
        let (a, aw) = run(&same, old, cfg, "same")?;
        let (b, bw) = run(&changed, old, cfg, "changed")?;
        cases.push(RefreshCase {
            seed,
            channels: sc.channels,
            changed: same.truth.channels[k].name.clone(),
            changed_share: same.truth.channels[k].contribution / kpi,
            same: a,
            same_warm: aw,
            changed_run: b,
            changed_warm: bw,
        });
    }
    Ok(RefreshStudyReport {
        config: cfg.clone(),
        cold: rates(&cases, false),
        warm: rates(&cases, true),
        cases,
    })
}
