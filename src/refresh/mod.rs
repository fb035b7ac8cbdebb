//! Refresh: refit a spec on new data, compare the new model with the previous one, and
//! gate the result on drift.
//!
//! Four checks, each reported per channel in [`Drift`]; thresholds come from the spec's
//! `[refresh]` table ([`RefreshSpec`]) or the command line:
//!
//! 1. **ROI** (paid channels): the new and the previous ROI intervals do not overlap
//!    *and* `|ln(roi_new / roi_old)| ≥ ln(1 + roi_change)`. (Requiring only the new
//!    point outside the old interval flagged channels whose estimate moved because a
//!    *correlated* channel changed, in the simulator study.) When check 2 names a
//!    channel, ROI moves of other channels whose own effect shift has `|z| < 2` are
//!    reported as warnings ("most likely because X changed"), not flagged.
//! 2. **Effect shift**: the previous model forecasts the new periods with their actual
//!    spend and controls ([`crate::backtest`]); its residuals are regressed on an
//!    intercept and the channels' forecast contributions, adding channels one at a time
//!    (largest `|z|` first) while the next one has `|z| ≥ effect_z` and
//!    `|ln(1 + δ)| ≥ ln(1 + effect_change)`. This is the check that sees a channel whose
//!    effect changed in the new weeks, even when the refit over all weeks averages the
//!    change away, and it does not depend on the warm start.
//! 3. **Forecast**: the previous model's MAPE on the new periods exceeds
//!    `forecast_mape_ratio ×` its in-sample MAPE and fewer than half of the new periods
//!    fall inside its predictive interval. It names no channel.
//! 4. **Recommendation** (gated only when `allocation_shift` is set): both models
//!    allocate the same budget (the new data's last `horizon` periods of spend); the
//!    shift is half the sum of the absolute changes of the channels' budget shares.
//!
//! 5. **Data**: more than 10% of the previous model's periods have different KPI or
//!    media values in the new data (restated history; names no channel).
//!
//! The decomposition of the periods both fit windows share is compared too (reported,
//! not gated): each component's share of the fitted KPI, and a stability index
//! `1 − ½ Σ_k |share_new,k − share_old,k|` over the channels and the baseline.
//!
//! **Warm start** (`warm_start = true`): each paid channel of the new spec gets the ROI
//! prior `Normal(roi_old, (freedom · sd_old)²)`, with `sd_old` the previous posterior sd
//! (from its interval). It replaces the pooled and the spec's own ROI priors, since the
//! previous posterior already holds them.

pub mod study;

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::analysis::{summarize, ChannelSummary, Summary};
use crate::backtest::{self, Backtest, Scoring};
use crate::fit::{fit_observed, FitOptions};
use crate::model::{Lineage, Model};
use crate::observe::{Event, Observer};
pub use crate::spec::RefreshSpec;
use crate::spec::{Prior, ValidSpec};

/// `|z|` of a channel's own effect shift above which its ROI move counts even when
/// another channel's effect changed (see [`compare`]).
const NOTABLE_Z: f64 = 2.0;

/// Share of the previous model's periods that may be restated in the new data before the
/// gate fails on it.
const RESTATED_SHARE: f64 = 0.1;

/// Schema version of [`Drift`].
pub const DRIFT_SCHEMA_VERSION: u32 = 1;

/// Gate outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Every gated check is within its threshold.
    Pass,
    /// At least one gated check exceeds its threshold.
    Drift,
}

/// Which check fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// ROI moved beyond the previous interval and `roi_change`.
    Roi,
    /// The new periods' forecast errors point at a changed channel effect.
    Effect,
    /// The previous model forecasts the new periods badly.
    Forecast,
    /// The recommended allocation moved.
    Recommendation,
    /// The new data restate much of the history both models share.
    Data,
}

/// One reason for a drift verdict.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reason {
    /// The check.
    pub check: Check,
    /// The channel, when the check names one.
    pub channel: Option<String>,
    /// Human explanation with the numbers.
    pub message: String,
}

/// A model's view of one channel.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Side {
    /// ROI (paid channels).
    pub roi: Option<f64>,
    /// ROI interval.
    pub roi_interval: Option<[f64; 2]>,
    /// Contribution over the model's fit window.
    pub contribution: f64,
    /// Contribution over the periods both fit windows share.
    pub overlap_contribution: f64,
    /// Share of the budget in the model's recommendation.
    pub recommended_share: Option<f64>,
}

/// The effect-shift estimate of a channel (see the module documentation).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EffectShift {
    /// Relative change `δ` of the effect in the new periods (1 = doubled).
    pub shift: f64,
    /// Standard error.
    pub se: f64,
    /// `δ / se`.
    pub z: f64,
    /// Given the channels selected before it (stepwise).
    pub given: Vec<String>,
}

/// One channel's drift.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChannelDrift {
    /// Channel name.
    pub name: String,
    /// Paid or organic.
    pub paid: bool,
    /// The previous model (null: the channel is new).
    pub previous: Option<Side>,
    /// The new model (null: the channel was dropped).
    pub new: Option<Side>,
    /// `roi_new / roi_old − 1`.
    pub roi_change: Option<f64>,
    /// The new ROI lies outside the previous interval.
    pub outside_previous_interval: Option<bool>,
    /// Effect shift on the new periods.
    pub effect_shift: Option<EffectShift>,
    /// Checks that fired for this channel.
    pub flags: Vec<Check>,
}

/// Decomposition stability on the shared periods.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Stability {
    /// First shared date.
    pub first: String,
    /// Last shared date.
    pub last: String,
    /// Shared periods.
    pub periods: usize,
    /// Media share of the fitted KPI, previous model.
    pub previous_media_share: f64,
    /// Media share of the fitted KPI, new model.
    pub new_media_share: f64,
    /// `1 − ½ Σ_k |share_new,k − share_old,k|` over channels and baseline (1 = identical).
    pub stability: f64,
}

/// The recommendation check.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecommendationDrift {
    /// Budget both models allocated.
    pub budget: f64,
    /// Periods.
    pub horizon: usize,
    /// Half the sum of the absolute changes of the budget shares.
    pub allocation_shift: f64,
    /// Expected KPI of the previous model's plan (its own view).
    pub previous_kpi: f64,
    /// Expected KPI of the new model's plan (its own view).
    pub new_kpi: f64,
}

/// Warm-start prior given to one channel.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WarmPrior {
    /// Channel.
    pub channel: String,
    /// Prior mean (previous ROI).
    pub mean: f64,
    /// Prior sd (`freedom ×` previous posterior sd).
    pub sd: f64,
}

/// The `drift.json` document.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Drift {
    /// Schema version.
    pub schema_version: u32,
    /// Gate outcome.
    pub status: Status,
    /// Channels named by a fired check.
    pub flagged_channels: Vec<String>,
    /// Why.
    pub reasons: Vec<Reason>,
    /// The previous model.
    pub previous: Lineage,
    /// The new model.
    pub new: Lineage,
    /// Thresholds applied.
    pub thresholds: RefreshSpec,
    /// Warm-start priors (empty without warm start).
    pub warm_start: Vec<WarmPrior>,
    /// Per channel (union of both models, new model's order first).
    pub channels: Vec<ChannelDrift>,
    /// The previous model scored on the new periods (null without new periods).
    pub backtest: Option<Backtest>,
    /// Decomposition on the shared periods (null when the windows do not overlap).
    pub decomposition: Option<Stability>,
    /// Recommendation change (null when a model cannot plan).
    pub recommendation: Option<RecommendationDrift>,
    /// Notes.
    pub warnings: Vec<String>,
}

/// A refresh's result: the new model and the drift document.
pub struct Refresh {
    /// The refitted model.
    pub model: Model,
    /// The drift document.
    pub drift: Drift,
}

/// The spec with `data` replacing its data path (relative paths resolve next to the spec).
pub fn with_data(spec: &ValidSpec, data: Option<&Path>) -> Result<ValidSpec, crate::Error> {
    match data {
        Some(d) => {
            let mut edited = spec.spec().clone();
            edited.data.path = d.to_path_buf();
            Ok(spec.with_spec(edited)?)
        }
        None => Ok(spec.clone()),
    }
}

/// The warm-start priors from the previous model's summary: `Normal(roi, (freedom·sd)²)`
/// per paid channel the spec also has, `sd` from the interval (or a quarter of the ROI
/// when the model has no draws).
pub fn warm_priors(
    previous: &Summary,
    spec: &ValidSpec,
    freedom: f64,
    mass: f64,
) -> Vec<WarmPrior> {
    let z = crate::mcmc::normal_quantile(0.5 + mass / 2.0);
    previous
        .channels
        .iter()
        .filter(|c| c.paid)
        .filter(|c| {
            spec.spec()
                .channels
                .iter()
                .any(|s| s.name == c.name && s.is_paid())
        })
        .filter_map(|c| {
            let roi = c.roi.filter(|r| r.is_finite() && *r > 0.0)?;
            let sd = c
                .roi_interval
                .map(|[lo, hi]| (hi - lo) / (2.0 * z))
                .filter(|s| s.is_finite() && *s > 1e-9 * roi)
                .unwrap_or(0.25 * roi);
            Some(WarmPrior {
                channel: c.name.clone(),
                mean: roi,
                sd: freedom * sd,
            })
        })
        .collect()
}

/// Refit `spec` (with `opts`, whose `data` replaces the spec's data path) and compare
/// the result with `previous` under `settings`.
pub fn refresh(
    spec: &ValidSpec,
    previous: &Model,
    opts: &FitOptions,
    settings: &RefreshSpec,
    obs: &dyn Observer,
) -> Result<Refresh, crate::Error> {
    settings.check().map_err(|(k, m)| crate::SpecError::Value {
        path: spec.path().to_path_buf(),
        key: k,
        message: m,
    })?;
    let spec = with_data(spec, opts.data.as_deref())?;
    let prev_summary = summarize(previous);
    let warm = if settings.warm_start {
        warm_priors(&prev_summary, &spec, settings.freedom, previous.interval)
    } else {
        Vec::new()
    };
    let fit_spec = if warm.is_empty() {
        spec.clone()
    } else {
        let mut s = spec.spec().clone();
        for w in &warm {
            if let Some(c) = s.channels.iter_mut().find(|c| c.name == w.channel) {
                c.roi_prior = Some(Prior {
                    mean: w.mean,
                    sd: w.sd,
                });
            }
        }
        spec.with_spec(s)?
    };
    let ds = crate::load_dataset_observed(&fit_spec, obs)?;
    obs.event(Event::Stage("refitting on the new data"));
    let model = fit_observed(&fit_spec, ds, opts, obs)?;
    obs.event(Event::Stage("comparing with the previous model"));
    let drift = compare(
        previous,
        &prev_summary,
        &model,
        &spec.data_path(),
        spec.path(),
        settings,
        warm,
    )?;
    Ok(Refresh { model, drift })
}

/// The drift document of `new` against `previous`; `data` is the new data file (read
/// again with the previous model's spec for the backtest), `base` the folder relative
/// paths of that spec resolve in.
#[allow(clippy::too_many_arguments)]
pub fn compare(
    previous: &Model,
    prev_summary: &Summary,
    new: &Model,
    data: &Path,
    base: &Path,
    settings: &RefreshSpec,
    warm_start: Vec<WarmPrior>,
) -> Result<Drift, crate::Error> {
    let mut warnings = Vec::new();
    let new_summary = summarize(new);
    // The new periods end where the new model's data ends.
    let end = new.dataset.dates.last().copied();
    let scoring = match backtest::score_file(previous, data, base, end) {
        Ok(s) if s.new_periods > 0 => Some(s),
        Ok(_) => {
            warnings.push(
                "the new data has no periods after the previous model's data: no backtest, no effect-shift or forecast check".into(),
            );
            None
        }
        Err(backtest::BacktestError::Mismatch { message, .. }) => {
            warnings.push(format!("no backtest of the previous model: {message}"));
            None
        }
        Err(backtest::BacktestError::Load(e)) if e.is_user_error() => {
            warnings.push(format!("no backtest of the previous model: {e}"));
            None
        }
        Err(e) => return Err(e.into()),
    };
    let backtest = scoring
        .as_ref()
        .map(|s| backtest::document(previous, s, data));
    let recommendation = recommendation_drift(previous, new, settings.horizon, &mut warnings);
    let overlap = overlap(previous, new);
    let decomposition = overlap.as_ref().and_then(stability);

    // Per channel, union of both models (the new model's order, then dropped channels).
    let mut names: Vec<(String, bool)> = new
        .channels
        .iter()
        .map(|c| (c.name.clone(), c.paid))
        .collect();
    for c in &previous.channels {
        if !names.iter().any(|(n, _)| *n == c.name) {
            names.push((c.name.clone(), c.paid));
        }
    }
    let no_overlap = Contributions::new();
    let (prev_overlap, new_overlap) = match &overlap {
        Some(o) => (&o.previous.0, &o.new.0),
        None => (&no_overlap, &no_overlap),
    };
    let side =
        |s: &Summary, name: &str, ov: &[(String, f64)], shares: Option<&Vec<(String, f64)>>| {
            let c: &ChannelSummary = s.channels.iter().find(|c| c.name == name)?;
            Some(Side {
                roi: c.roi,
                roi_interval: c.roi_interval,
                contribution: c.contribution,
                overlap_contribution: ov.iter().find(|(n, _)| n == name).map_or(0.0, |x| x.1),
                recommended_share: shares
                    .and_then(|v| v.iter().find(|(n, _)| n == name).map(|x| x.1)),
            })
        };
    let (prev_shares, new_shares) = match &recommendation {
        Some((_, p, n)) => (Some(p), Some(n)),
        None => (None, None),
    };
    let mut channels: Vec<ChannelDrift> = names
        .iter()
        .map(|(name, paid)| {
            let p = side(prev_summary, name, prev_overlap, prev_shares);
            let n = side(&new_summary, name, new_overlap, new_shares);
            let (roi_change, outside) = match (&p, &n) {
                (
                    Some(Side {
                        roi: Some(a),
                        roi_interval: Some([lo, hi]),
                        ..
                    }),
                    Some(Side { roi: Some(b), .. }),
                ) if *a > 0.0 => (Some(b / a - 1.0), Some(*b < *lo || *b > *hi)),
                _ => (None, None),
            };
            ChannelDrift {
                name: name.clone(),
                paid: *paid,
                previous: p,
                new: n,
                roi_change,
                outside_previous_interval: outside,
                effect_shift: None,
                flags: Vec::new(),
            }
        })
        .collect();

    let mut reasons = Vec::new();
    if let Some(s) = &scoring {
        effect_shifts(previous, s, settings, &mut channels, &mut reasons);
    }
    let changed: Vec<String> = reasons.iter().filter_map(|r| r.channel.clone()).collect();
    let big =
        |ratio: f64, t: f64| ratio > 0.0 && ratio.ln().abs() >= (1.0 + t).ln() || ratio <= 0.0;
    for c in channels.iter_mut() {
        let disjoint = match (&c.previous, &c.new) {
            (
                Some(Side {
                    roi_interval: Some([plo, phi]),
                    ..
                }),
                Some(Side {
                    roi_interval: Some([nlo, nhi]),
                    ..
                }),
            ) => nlo > phi || nhi < plo,
            _ => false,
        };
        let Some(r) = c
            .roi_change
            .filter(|r| disjoint && big(1.0 + r, settings.roi_change))
        else {
            continue;
        };
        let (a, b) = (
            c.previous.as_ref().and_then(|s| s.roi).unwrap_or(0.0),
            c.new.as_ref().and_then(|s| s.roi).unwrap_or(0.0),
        );
        let message = format!(
            "{}: ROI {a:.3} → {b:.3} ({:+.0}%); the intervals do not overlap",
            c.name,
            100.0 * r
        );
        // A refit that averages another channel's changed effect over all weeks moves
        // the ROI of channels correlated with it; those moves are reported, not flagged,
        // unless the channel's own forecast errors point at it too.
        let own_evidence = c
            .effect_shift
            .as_ref()
            .is_some_and(|e| e.z.abs() >= NOTABLE_Z);
        if !changed.is_empty() && !changed.contains(&c.name) && !own_evidence {
            warnings.push(format!(
                "{message}, most likely because {} changed (its own forecast errors do not point at it); not flagged",
                changed.join(", ")
            ));
            continue;
        }
        c.flags.push(Check::Roi);
        reasons.push(Reason {
            check: Check::Roi,
            channel: Some(c.name.clone()),
            message,
        });
    }
    if let Some(b) = &backtest {
        let ratio = settings.forecast_mape_ratio;
        if ratio > 0.0 && b.mape > ratio * previous.diagnostics.fit.mape && b.coverage < 0.5 {
            reasons.push(Reason {
                check: Check::Forecast,
                channel: None,
                message: format!(
                    "the previous model's forecast of the {} new periods has MAPE {:.1}% (in-sample {:.1}%) and covers {:.0}% of them",
                    b.periods,
                    100.0 * b.mape,
                    100.0 * previous.diagnostics.fit.mape,
                    100.0 * b.coverage
                ),
            });
        }
    }
    if let Some(b) = &backtest {
        let shared = previous.dataset.n_periods();
        if b.restated_periods as f64 > RESTATED_SHARE * shared as f64 {
            reasons.push(Reason {
                check: Check::Data,
                channel: None,
                message: format!(
                    "{} of the previous model's {shared} periods have different KPI or media values in the new data: history was restated, so the models are not comparable",
                    b.restated_periods
                ),
            });
        }
    }
    if let (Some((r, _, _)), Some(t)) = (&recommendation, settings.allocation_shift) {
        if r.allocation_shift > t {
            reasons.push(Reason {
                check: Check::Recommendation,
                channel: None,
                message: format!(
                    "the recommendation moves {:.0}% of the budget between channels (threshold {:.0}%)",
                    100.0 * r.allocation_shift,
                    100.0 * t
                ),
            });
        }
    }
    let mut flagged: Vec<String> = Vec::new();
    for r in &reasons {
        if let Some(c) = &r.channel {
            if !flagged.contains(c) {
                flagged.push(c.clone());
            }
        }
    }
    if let Some(s) = &scoring {
        warnings.extend(s.warnings.iter().cloned());
    }
    Ok(Drift {
        schema_version: DRIFT_SCHEMA_VERSION,
        status: if reasons.is_empty() {
            Status::Pass
        } else {
            Status::Drift
        },
        flagged_channels: flagged,
        reasons,
        previous: previous.lineage(),
        new: new.lineage(),
        thresholds: *settings,
        warm_start,
        channels,
        backtest,
        decomposition,
        recommendation: recommendation.map(|r| r.0),
        warnings,
    })
}

/// Stepwise effect-shift check (module documentation, check 2): fills each channel's
/// `effect_shift` and flags the selected ones.
fn effect_shifts(
    previous: &Model,
    s: &Scoring,
    settings: &RefreshSpec,
    channels: &mut [ChannelDrift],
    reasons: &mut Vec<Reason>,
) {
    let nc = previous.channels.len();
    let mut selected: Vec<usize> = Vec::new();
    let big = |d: f64| d <= -1.0 || (1.0 + d).ln().abs() >= (1.0 + settings.effect_change).ln();
    let mut last: Vec<Option<(f64, f64)>> = vec![None; nc];
    loop {
        let est: Vec<Option<(f64, f64)>> = (0..nc)
            .map(|c| {
                if selected.contains(&c) {
                    None
                } else {
                    backtest::channel_shift(s, c, &selected)
                }
            })
            .collect();
        for (c, e) in est.iter().enumerate() {
            if e.is_some() {
                last[c] = *e;
            }
        }
        let best = est
            .iter()
            .enumerate()
            .filter_map(|(c, e)| e.map(|(d, se)| (c, d, se, (d / se).abs())))
            .filter(|&(_, d, _, z)| z >= settings.effect_z && big(d))
            .max_by(|a, b| a.3.total_cmp(&b.3));
        let Some((c, d, se, _)) = best else { break };
        let name = &previous.channels[c].name;
        reasons.push(Reason {
            check: Check::Effect,
            channel: Some(name.clone()),
            message: format!(
                "{name}: the new periods' forecast errors point at its effect changing by {:+.0}% (z = {:.1})",
                100.0 * d,
                d / se
            ),
        });
        // The estimate given the channels selected before it.
        let given: Vec<String> = selected
            .iter()
            .map(|&k| previous.channels[k].name.clone())
            .collect();
        if let Some(ch) = channels.iter_mut().find(|x| x.name == *name) {
            ch.flags.push(Check::Effect);
            ch.effect_shift = Some(EffectShift {
                shift: d,
                se,
                z: d / se,
                given,
            });
        }
        selected.push(c);
    }
    let given: Vec<String> = selected
        .iter()
        .map(|&k| previous.channels[k].name.clone())
        .collect();
    for (c, e) in last.iter().enumerate() {
        if selected.contains(&c) {
            continue;
        }
        let Some((d, se)) = e else { continue };
        let name = &previous.channels[c].name;
        if let Some(ch) = channels.iter_mut().find(|x| x.name == *name) {
            ch.effect_shift = Some(EffectShift {
                shift: *d,
                se: *se,
                z: d / se,
                given: given.clone(),
            });
        }
    }
}

/// A value per channel name (contributions, budget shares).
type Contributions = Vec<(String, f64)>;

fn shared_dates(previous: &Model, new: &Model) -> Vec<(usize, usize)> {
    let pd = &previous.dataset.dates;
    let nd = &new.dataset.dates;
    (previous.fit_start..previous.fit_end)
        .filter_map(|t| {
            let j = nd.binary_search(&pd[t]).ok()?;
            (new.fit_start..new.fit_end).contains(&j).then_some((t, j))
        })
        .collect()
}

fn window_contributions(m: &Model, idx: &[usize]) -> (Contributions, f64) {
    let fitted = m.predict(&m.point, &m.dataset);
    let ng = m.dataset.n_geos();
    let sum = |p: &crate::Panel| -> f64 {
        idx.iter()
            .map(|&t| (0..ng).map(|g| p.at(g, t)).sum::<f64>())
            .sum()
    };
    let contrib = m
        .point
        .channels
        .iter()
        .enumerate()
        .map(|(c, cp)| {
            let p = m.channel_contribution(cp, c, &m.dataset.channels[c].input);
            (m.channels[c].name.clone(), sum(&p))
        })
        .collect();
    (contrib, sum(&fitted))
}

/// The periods both fit windows share, and each model's contributions over them.
struct Overlap {
    /// First and last shared date.
    first: String,
    last: String,
    /// Shared periods.
    periods: usize,
    /// Previous model: contribution per channel, and fitted KPI.
    previous: (Contributions, f64),
    /// New model: the same.
    new: (Contributions, f64),
}

/// [`Overlap`] of two models (null when their fit windows share no period).
fn overlap(previous: &Model, new: &Model) -> Option<Overlap> {
    let shared = shared_dates(previous, new);
    let (a, b): (Vec<usize>, Vec<usize>) = shared.into_iter().unzip();
    let pd = &previous.dataset.dates;
    Some(Overlap {
        first: pd[*a.first()?].to_string(),
        last: pd[*a.last()?].to_string(),
        periods: a.len(),
        previous: window_contributions(previous, &a),
        new: window_contributions(new, &b),
    })
}

/// Half the sum of the absolute differences of two named shares over the union of
/// their names: 0 for the same split, 1 for disjoint ones.
fn share_shift(a: &[(String, f64)], b: &[(String, f64)]) -> f64 {
    let get = |v: &[(String, f64)], k: &str| v.iter().find(|x| x.0 == k).map_or(0.0, |x| x.1);
    let mut keys: Vec<&String> = a.iter().map(|x| &x.0).collect();
    keys.extend(
        b.iter()
            .map(|x| &x.0)
            .filter(|k| !a.iter().any(|p| &p.0 == *k)),
    );
    keys.iter()
        .map(|k| (get(b, k) - get(a, k)).abs())
        .sum::<f64>()
        / 2.0
}

/// Decomposition stability on the shared periods (null when the fitted KPI is 0).
fn stability(o: &Overlap) -> Option<Stability> {
    let ((pc, pt), (nc, nt)) = (&o.previous, &o.new);
    if pt.abs() < 1e-300 || nt.abs() < 1e-300 {
        return None;
    }
    let media = |c: &Contributions| c.iter().map(|x| x.1).sum::<f64>();
    let shares = |c: &Contributions, t: f64| -> Contributions {
        let mut v: Contributions = c.iter().map(|(n, x)| (n.clone(), x / t)).collect();
        v.push(("baseline".into(), (t - media(c)) / t));
        v
    };
    Some(Stability {
        first: o.first.clone(),
        last: o.last.clone(),
        periods: o.periods,
        previous_media_share: media(pc) / pt,
        new_media_share: media(nc) / nt,
        stability: 1.0 - share_shift(&shares(pc, *pt), &shares(nc, *nt)),
    })
}

/// Both models allocate the new data's recent budget; returns the check and each
/// model's budget shares by channel name.
fn recommendation_drift(
    previous: &Model,
    new: &Model,
    horizon: usize,
    warnings: &mut Vec<String>,
) -> Option<(RecommendationDrift, Contributions, Contributions)> {
    use crate::optimize::{Planner, Request};
    let budget: f64 = Planner::new(new, horizon, false)
        .reference_spend()
        .iter()
        .sum();
    if !(budget.is_finite() && budget > 0.0) {
        warnings.push("no recent spend in the new data: the recommendation is not compared".into());
        return None;
    }
    let plan = |m: &Model| -> Result<(f64, Vec<(String, f64)>), String> {
        let req = Request::fixed_budget(budget, horizon)
            .validate()
            .map_err(|e| e.to_string())?;
        let rec = Planner::new(m, horizon, false)
            .optimize(&req)
            .map_err(|e| e.to_string())?;
        let total: f64 = rec.channels.iter().map(|c| c.recommended_spend).sum();
        let shares = rec
            .channels
            .iter()
            .map(|c| (c.name.clone(), c.recommended_spend / total.max(1e-300)))
            .collect();
        Ok((rec.expected_kpi, shares))
    };
    let (p, n) = match (plan(previous), plan(new)) {
        (Ok(p), Ok(n)) => (p, n),
        (Err(e), _) | (_, Err(e)) => {
            warnings.push(format!("the recommendation is not compared: {e}"));
            return None;
        }
    };
    let shift = share_shift(&p.1, &n.1);
    Some((
        RecommendationDrift {
            budget,
            horizon,
            allocation_shift: shift,
            previous_kpi: p.0,
            new_kpi: n.0,
        },
        p.1,
        n.1,
    ))
}
