//! Budget allocation: recommend per channel spend over the next `horizon` periods.
//!
//! Each paid channel's total spend is spread over the horizon by a flighting shape, and
//! its window contribution (carryover from history included, and optionally the tail
//! after the horizon) becomes a one-dimensional response `F_c(x)` per parameter set.
//! Because channels add up, the problem is separable; [`solve`] finds the global
//! optimum over S-shaped curves and certifies it (marginal returns, binding bounds,
//! shadow prices, a dual bound on the optimum).
//!
//! Goals:
//! - fixed budget: maximise KPI with `Σ x = B` (or profit `m · KPI − spend` with
//!   `Σ x ≤ B`);
//! - target KPI: the least spend whose expected KPI reaches a target;
//! - target efficiency: spend while marginal KPI per unit of spend stays ≥ a threshold
//!   (`Σ F_c(x_c) − θ Σ x_c` is maximal exactly where every interior channel's marginal
//!   return equals `θ`).

pub mod campaigns;
pub mod curve;
pub mod solve;

use rayon::prelude::*;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::analysis::{interval, quantile, quantiles};
use crate::model::Model;
pub use crate::scenario::MAX_HORIZON;
use crate::scenario::{Flighting, FutureControls, Horizon, Plan, Response};
use crate::spec::KpiKind;
pub use curve::Curve;
pub use solve::{Budget, Feasible};

/// Schema version of [`Recommendation`].
pub const RECOMMENDATION_SCHEMA_VERSION: u32 = 1;

/// Errors from the optimizer: all of them are about the request.
#[derive(Debug, Error)]
pub enum OptimizeError {
    /// A constraint names a channel the model does not plan.
    #[error("unknown channel `{name}` in {context} (paid channels: {known})")]
    UnknownChannel {
        /// The name given.
        name: String,
        /// Where it was given.
        context: String,
        /// The channels that exist.
        known: String,
    },
    /// A bad value in the request.
    #[error("{0}")]
    Invalid(String),
    /// The constraints cannot all hold.
    #[error("infeasible: {0}")]
    Infeasible(String),
}

impl From<solve::Infeasible> for OptimizeError {
    fn from(e: solve::Infeasible) -> Self {
        OptimizeError::Infeasible(e.0)
    }
}

/// An amount of spend: currency, or a percentage of the channel's reference spend.
/// In JSON and on the command line: a number (currency), or a string — `"250000"` or
/// `"130%"`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Amount {
    /// Currency over the horizon.
    Currency(f64),
    /// Percent of the reference spend (spend over the last `horizon` periods).
    PercentOfReference(f64),
}

impl std::str::FromStr for Amount {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let (num, pct) = match s.strip_suffix('%') {
            Some(n) => (n.trim(), true),
            None => (s, false),
        };
        match num.parse::<f64>() {
            Ok(v) if v.is_finite() && v >= 0.0 => Ok(if pct {
                Amount::PercentOfReference(v)
            } else {
                Amount::Currency(v)
            }),
            _ => Err(format!(
                "`{s}` is not an amount ≥ 0 (currency, or percent of reference like `130%`)"
            )),
        }
    }
}

impl std::fmt::Display for Amount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Amount::Currency(v) => write!(f, "{v}"),
            Amount::PercentOfReference(p) => write!(f, "{p}%"),
        }
    }
}

impl Serialize for Amount {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Amount::Currency(v) => s.serialize_f64(*v),
            Amount::PercentOfReference(_) => s.serialize_str(&self.to_string()),
        }
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Number(f64),
            Text(String),
        }
        match Repr::deserialize(d)? {
            Repr::Number(v) if v.is_finite() && v >= 0.0 => Ok(Amount::Currency(v)),
            Repr::Number(v) => Err(serde::de::Error::custom(format!(
                "`{v}` is not an amount ≥ 0"
            ))),
            Repr::Text(t) => t.parse().map_err(serde::de::Error::custom),
        }
    }
}

impl Amount {
    /// In currency, given the reference spend.
    pub fn resolve(self, reference: f64) -> f64 {
        match self {
            Amount::Currency(v) => v,
            Amount::PercentOfReference(p) => reference * p / 100.0,
        }
    }
}

/// Constraints on one channel.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelRule {
    /// Lowest total spend.
    pub min: Option<Amount>,
    /// Highest total spend.
    pub max: Option<Amount>,
    /// Minimum buy: either off or at least this much.
    pub min_buy: Option<Amount>,
    /// Spend exactly this much.
    pub lock: Option<Amount>,
    /// Must spend something.
    #[serde(default)]
    pub on: bool,
    /// Must spend nothing.
    #[serde(default)]
    pub off: bool,
}

/// What to achieve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Goal {
    /// Spend the budget (exactly for the KPI objective, at most for profit).
    FixedBudget {
        /// Total budget over the horizon.
        budget: f64,
    },
    /// Least spend whose expected window KPI (baseline included) reaches the target.
    TargetKpi {
        /// KPI target over the window.
        target: f64,
    },
    /// Spend while the marginal KPI per unit of spend stays at or above `threshold`
    /// (marginal ROI for revenue KPIs; 1 / marginal CPA for conversions).
    TargetEfficiency {
        /// Marginal KPI per unit of spend.
        threshold: f64,
    },
}

/// What the fixed budget maximises.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Objective {
    /// KPI.
    #[default]
    Kpi,
    /// `margin · KPI − spend`.
    Profit {
        /// Profit per KPI unit.
        margin: f64,
    },
}

impl Objective {
    /// Profit per KPI unit and whether the objective is profit (1 and false for KPI).
    fn margin(self) -> (f64, bool) {
        match self {
            Objective::Kpi => (1.0, false),
            Objective::Profit { margin } => (margin, true),
        }
    }
}

/// Which summary of the uncertainty draws to optimise.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Risk {
    /// The point estimate.
    Point,
    /// The mean over draws (the point estimate when the model has none).
    #[default]
    Mean,
    /// A lower quantile of each channel's contribution over draws (a cautious plan:
    /// channels whose effect is uncertain are discounted).
    Quantile {
        /// In (0, 1), e.g. 0.1.
        q: f64,
    },
}

/// What the fixed budget maximises, as named in a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectiveName {
    /// The KPI.
    #[default]
    Kpi,
    /// `margin · KPI − spend` (needs `margin`).
    Profit,
}

/// Which view of the draws to optimise, as named in a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskName {
    /// The mean over draws.
    #[default]
    Mean,
    /// The point estimate.
    Point,
    /// A lower quantile of each channel's contribution (see `quantile`).
    Quantile,
}

/// An optimisation request as a user writes it: one field per `mixcast optimize` flag,
/// with the same names (`--target-cpa` ↔ `target_cpa`), so the CLI and the HTTP API
/// deserialise the same type. [`Request::validate`] turns it into a [`ValidRequest`], the
/// only form the planner accepts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Request {
    /// Total budget over the horizon (a cap in target and profit modes).
    pub budget: Option<f64>,
    /// Periods to plan (1..=[`MAX_HORIZON`]).
    pub horizon: usize,
    /// Least spend that reaches this window KPI (baseline included).
    #[serde(alias = "target-kpi")]
    pub target_kpi: Option<f64>,
    /// Spend while the marginal ROI stays at or above this.
    #[serde(alias = "target-mroi")]
    pub target_mroi: Option<f64>,
    /// Spend while the marginal cost per KPI unit stays at or below this.
    #[serde(alias = "target-cpa")]
    pub target_cpa: Option<f64>,
    /// What a fixed budget maximises.
    pub objective: ObjectiveName,
    /// Profit per KPI unit (`objective = profit`).
    pub margin: Option<f64>,
    /// Which view of the draws to optimise.
    pub risk: RiskName,
    /// Quantile for `risk = quantile`, in (0, 1).
    pub quantile: f64,
    /// How each channel's total is spread over the horizon.
    pub flighting: Flighting,
    /// Count the KPI created after the horizon (carryover tail) in the objective.
    #[serde(alias = "count-tail")]
    pub count_tail: bool,
    /// Keep every channel within ± this percent of its reference spend.
    pub within: Option<f64>,
    /// Channel minimum by channel name.
    pub min: BTreeMap<String, Amount>,
    /// Channel maximum by channel name.
    pub max: BTreeMap<String, Amount>,
    /// Minimum buys: the channel is off or spends at least this much.
    #[serde(alias = "min-buy")]
    pub min_buy: BTreeMap<String, Amount>,
    /// Locked channels: exactly this much (null: the reference spend).
    pub lock: BTreeMap<String, Option<Amount>>,
    /// Channels that must spend something.
    pub on: Vec<String>,
    /// Channels that must spend nothing.
    pub off: Vec<String>,
    /// Budget grid steps of the dynamic programme.
    #[serde(alias = "grid-steps")]
    pub grid_steps: usize,
}

impl Default for Request {
    fn default() -> Self {
        Request {
            budget: None,
            horizon: 13,
            target_kpi: None,
            target_mroi: None,
            target_cpa: None,
            objective: ObjectiveName::Kpi,
            margin: None,
            risk: RiskName::Mean,
            quantile: 0.1,
            flighting: Flighting::Even,
            count_tail: false,
            within: None,
            min: BTreeMap::new(),
            max: BTreeMap::new(),
            min_buy: BTreeMap::new(),
            lock: BTreeMap::new(),
            on: Vec::new(),
            off: Vec::new(),
            grid_steps: DEFAULT_GRID_STEPS,
        }
    }
}

impl Request {
    /// Spend `budget` over `horizon` periods for the most KPI, other fields at defaults.
    pub fn fixed_budget(budget: f64, horizon: usize) -> Request {
        Request {
            budget: Some(budget),
            horizon,
            ..Request::default()
        }
    }

    /// The same request optimising another view of the draws.
    pub fn with_risk(self, risk: Risk) -> Request {
        let (risk, quantile) = match risk {
            Risk::Mean => (RiskName::Mean, self.quantile),
            Risk::Point => (RiskName::Point, self.quantile),
            Risk::Quantile { q } => (RiskName::Quantile, q),
        };
        Request {
            risk,
            quantile,
            ..self
        }
    }

    /// Check every value and resolve the goal; the only way to a [`ValidRequest`].
    /// Errors name the field as the command line and the HTTP API spell it.
    pub fn validate(&self) -> Result<ValidRequest, OptimizeError> {
        let bad = |m: String| Err(OptimizeError::Invalid(m));
        let targets = [
            ("target_kpi", self.target_kpi),
            ("target_mroi", self.target_mroi),
            ("target_cpa", self.target_cpa),
        ];
        let given: Vec<&str> = targets
            .iter()
            .filter(|(_, v)| v.is_some())
            .map(|(n, _)| *n)
            .collect();
        if given.len() > 1 {
            return bad(format!("give at most one of {}", given.join(", ")));
        }
        let goal = match (self.target_kpi, self.target_mroi, self.target_cpa) {
            (Some(target), _, _) => Goal::TargetKpi { target },
            (_, Some(threshold), _) => Goal::TargetEfficiency { threshold },
            (_, _, Some(cpa)) if cpa > 0.0 && cpa.is_finite() => Goal::TargetEfficiency {
                threshold: 1.0 / cpa,
            },
            (_, _, Some(cpa)) => {
                return bad(format!("target_cpa must be a number > 0 (got {cpa})"))
            }
            _ => match self.budget {
                Some(budget) => Goal::FixedBudget { budget },
                None => {
                    return bad(
                        "budget is required (or one of target_kpi, target_mroi, target_cpa)".into(),
                    )
                }
            },
        };
        let objective = match (self.objective, self.margin) {
            (ObjectiveName::Kpi, _) => Objective::Kpi,
            (ObjectiveName::Profit, Some(margin)) => Objective::Profit { margin },
            (ObjectiveName::Profit, None) => {
                return bad("objective `profit` needs margin (--margin)".into())
            }
        };
        let risk = match self.risk {
            RiskName::Mean => Risk::Mean,
            RiskName::Point => Risk::Point,
            RiskName::Quantile => Risk::Quantile { q: self.quantile },
        };
        let mut rules: Vec<(String, ChannelRule)> = Vec::new();
        let mut add = |name: &String, set: &dyn Fn(&mut ChannelRule)| {
            let mut r = ChannelRule::default();
            set(&mut r);
            rules.push((name.clone(), r));
        };
        for (n, a) in &self.min {
            add(n, &|r| r.min = Some(*a));
        }
        for (n, a) in &self.max {
            add(n, &|r| r.max = Some(*a));
        }
        for (n, a) in &self.min_buy {
            add(n, &|r| r.min_buy = Some(*a));
        }
        for (n, a) in &self.lock {
            add(n, &|r| {
                r.lock = Some(a.unwrap_or(Amount::PercentOfReference(100.0)))
            });
        }
        for n in &self.on {
            add(n, &|r| r.on = true);
        }
        for n in &self.off {
            add(n, &|r| r.off = true);
        }
        let req = ValidRequest {
            horizon: self.horizon,
            goal,
            budget_cap: match goal {
                Goal::FixedBudget { .. } => None,
                _ => self.budget,
            },
            objective,
            risk,
            flighting: self.flighting,
            count_tail: self.count_tail,
            within: self.within.map(|w| w / 100.0),
            rules,
            grid_steps: self.grid_steps,
        };
        check(&req)?;
        Ok(req)
    }
}

/// A checked optimisation request: goal resolved, every value in range. Made only by
/// [`Request::validate`]; read its fields, change it through a new [`Request`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ValidRequest {
    /// Periods to plan.
    pub(crate) horizon: usize,
    /// Goal.
    pub(crate) goal: Goal,
    /// Spend cap for target goals (and the budget for profit); none = channel caps only.
    pub(crate) budget_cap: Option<f64>,
    /// Objective for the fixed budget.
    pub(crate) objective: Objective,
    /// Which view of the draws to optimise.
    pub(crate) risk: Risk,
    /// How each channel's total is spread over the horizon.
    pub(crate) flighting: Flighting,
    /// Count the KPI that horizon spend creates after the horizon (carryover tail).
    pub(crate) count_tail: bool,
    /// Keep every channel within ± this fraction of its reference spend.
    pub(crate) within: Option<f64>,
    /// Per channel constraints by name.
    pub(crate) rules: Vec<(String, ChannelRule)>,
    /// Budget grid steps of the dynamic programme.
    pub(crate) grid_steps: usize,
}

impl ValidRequest {
    /// Periods to plan.
    pub fn horizon(&self) -> usize {
        self.horizon
    }
    /// The resolved goal.
    pub fn goal(&self) -> Goal {
        self.goal
    }
    /// Whether the objective counts the carryover tail.
    pub fn count_tail(&self) -> bool {
        self.count_tail
    }
}

/// Default budget grid of the dynamic programme.
pub const DEFAULT_GRID_STEPS: usize = 1000;
/// Interpolation intervals per channel curve.
const CURVE_INTERVALS: usize = 64;
/// Cap per channel in target modes when none is given: this multiple of the reference.
pub const DEFAULT_TARGET_CAP: f64 = 3.0;

/// One channel of a recommendation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChannelRecommendation {
    /// Channel name.
    pub name: String,
    /// Spend over the last `horizon` periods of the data.
    pub reference_spend: f64,
    /// Recommended spend over the horizon.
    pub recommended_spend: f64,
    /// Recommended minus reference.
    pub change: f64,
    /// Contribution in the window (carryover from history included).
    pub expected_contribution: f64,
    /// Interval of the contribution.
    pub expected_contribution_interval: [f64; 2],
    /// Slope mROI: marginal KPI per extra unit of spend at the recommendation (see
    /// [`crate::marginal`]).
    pub mroi: f64,
    /// Marginal cost per extra KPI unit (conversion KPIs).
    pub marginal_cpa: Option<f64>,
    /// Binding bound: `"min"`, `"max"` or null.
    pub bound: Option<String>,
    /// `interior`, `at_min`, `at_max`, `off` or `locked`.
    pub status: String,
    /// Objective gained per unit of relaxing the binding bound (budget moved from the
    /// other channels at the budget's shadow price).
    pub shadow_price: Option<f64>,
    /// Per period spend above the most the channel ever spent in one period: the
    /// response there is extrapolated.
    pub beyond_history: bool,
    /// Share of uncertainty draws in which this channel's move pays (see
    /// [`move_support`]); null for an unmoved channel or without draws.
    pub move_support: Option<f64>,
    /// The posterior cannot back the move: `move_support` below [`MOVE_SUPPORT`] for a
    /// move of more than [`MOVE_MIN_CHANGE`] of the reference.
    pub unsupported_move: bool,
}

/// A channel's move counts as backed when it pays in at least this share of draws.
pub const MOVE_SUPPORT: f64 = 0.8;
/// Moves smaller than this share of the reference spend are not judged.
pub const MOVE_MIN_CHANGE: f64 = 0.05;

/// How often each channel's move pays, paired over the uncertainty draws.
///
/// `delta_spend[i]` is channel i's recommended minus reference spend; `delta_kpi[i][s]`
/// its contribution change in parameter set `s` (set 0 is the point estimate, skipped).
/// In draw `s`, a cut is backed when the KPI it loses per unit of spend is below the
/// return per unit of the money the plan adds elsewhere,
/// `Σ_{j up} Δkpi_js / Σ_{j up} Δspend_j`; a rise is backed when its return per unit beats
/// the loss rate of the money taken from the cut channels. Without a counterpart (the
/// total changes) the comparison rate is `theta`, the objective's break-even return.
/// Result per channel: the share of draws backing it (None for unmoved channels or
/// without draws).
pub fn move_support(delta_spend: &[f64], delta_kpi: &[Vec<f64>], theta: f64) -> Vec<Option<f64>> {
    let n_sets = delta_kpi.first().map_or(0, Vec::len);
    // KPI per unit of spend moved by the channels going `up` (gain per unit added) or
    // down (loss per unit removed: both sums are negative) in set `s`.
    let rate = |s: usize, up: bool| -> f64 {
        let (k, x) = delta_spend
            .iter()
            .zip(delta_kpi)
            .filter(|(d, _)| if up { **d > 0.0 } else { **d < 0.0 })
            .fold((0.0, 0.0), |(k, x), (d, v)| (k + v[s], x + d));
        if x != 0.0 {
            k / x
        } else {
            theta
        }
    };
    delta_spend
        .iter()
        .zip(delta_kpi)
        .map(|(&d, v)| {
            if d == 0.0 || n_sets < 2 {
                return None;
            }
            let backed = (1..n_sets)
                .filter(|&s| {
                    let own = v[s] / d;
                    if d < 0.0 {
                        own < rate(s, true)
                    } else {
                        own > rate(s, false)
                    }
                })
                .count();
            Some(backed as f64 / (n_sets - 1) as f64)
        })
        .collect()
}

/// Summary of the KPI over the draws.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KpiDistribution {
    /// Mean over draws (point estimate if none).
    pub mean: f64,
    /// Standard deviation over draws.
    pub sd: f64,
    /// The 5, 10, 25, 50, 75, 90 and 95 % quantiles.
    pub quantiles: Vec<Quantile>,
}

/// A plan against the reference split (each channel at its reference spend), paired over
/// the uncertainty draws: the same draw scores both plans.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Versus {
    /// Expected KPI gain over the reference (same view as `expected_kpi`).
    pub expected_gain: f64,
    /// Interval of the gain over draws.
    pub gain_interval: [f64; 2],
    /// Share of draws in which the plan's KPI beats the reference's (ties count half);
    /// null without draws.
    pub probability_better: Option<f64>,
}

/// One quantile of a distribution.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Quantile {
    /// Probability level in (0, 1).
    pub q: f64,
    /// The value at that level.
    pub value: f64,
}

/// Why the answer is optimal.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Certificate {
    /// How it was solved.
    pub method: String,
    /// Budget grid steps.
    pub grid_steps: usize,
    /// Objective per extra unit of budget (0 when the budget does not bind).
    pub budget_shadow_price: f64,
    /// Objective value reached (`kpi` or `profit` units, window media contribution).
    pub objective: f64,
    /// Upper bound on any feasible allocation's objective (Lagrangian dual).
    pub dual_bound: f64,
    /// `dual_bound − objective`: the optimum is at most this much better.
    pub optimality_gap: f64,
}

/// The optimizer's answer (schema of `mixcast optimize --json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Recommendation {
    /// Schema version.
    pub schema_version: u32,
    /// `fixed_budget`, `target_kpi` or `target_efficiency`.
    pub mode: String,
    /// `optimal`, or `unreachable` (target KPI beyond what the constraints allow).
    pub status: String,
    /// Explanation for non-optimal statuses.
    pub message: Option<String>,
    /// Planned periods.
    pub horizon: usize,
    /// Periods after the horizon counted in the KPI.
    pub tail_periods: usize,
    /// First planned period.
    pub start: String,
    /// `kpi` or `profit`.
    pub objective: String,
    /// Risk view optimised.
    pub risk: Risk,
    /// Flighting.
    pub flighting: Flighting,
    /// The budget given (fixed budget), else the recommended total.
    pub total_budget: f64,
    /// Recommended total spend.
    pub total_spend: f64,
    /// Expected KPI over the window (baseline included).
    pub expected_kpi: f64,
    /// Interval.
    pub expected_kpi_interval: [f64; 2],
    /// KPI over the draws.
    pub kpi_distribution: KpiDistribution,
    /// Expected KPI keeping every channel at its reference spend.
    pub reference_kpi: f64,
    /// The recommendation against the reference split, paired over draws.
    pub versus_reference: Versus,
    /// Target (target KPI mode) or threshold (target efficiency).
    pub target: Option<f64>,
    /// Per channel.
    pub channels: Vec<ChannelRecommendation>,
    /// Optimality certificate.
    pub certificate: Certificate,
    /// Per period spend, `[period][channel]` in `channels` order.
    #[serde(skip)]
    pub plan: Plan,
    /// Period dates of the plan.
    #[serde(skip)]
    pub dates: Vec<String>,
    /// Which model recommended it.
    pub model: crate::model::Lineage,
    /// Campaign budgets inside each channel (`optimize --campaigns`; see [`campaigns`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub campaigns: Vec<campaigns::CampaignRecommendation>,
}

impl Recommendation {
    /// The per period plan as CSV (`period,<channel>…`), readable by `mixcast scenario`.
    pub fn plan_csv(&self) -> String {
        let mut out = String::from("period");
        for c in &self.channels {
            out.push(',');
            out.push_str(&c.name);
        }
        out.push('\n');
        for (t, d) in self.dates.iter().enumerate() {
            out.push_str(d);
            for s in &self.plan.spend {
                out.push_str(&format!(",{:.2}", s[t]));
            }
            out.push('\n');
        }
        out
    }
}

/// Aggregate per-set values by the risk view (set 0 = point estimate).
fn aggregate(risk: Risk, v: &[f64]) -> f64 {
    let draws = &v[1..];
    match risk {
        _ if draws.is_empty() => v[0],
        Risk::Point => v[0],
        Risk::Mean => draws.iter().sum::<f64>() / draws.len() as f64,
        Risk::Quantile { q } => quantile(draws, q),
    }
}

/// The view of "expected" figures: the point estimate for `Risk::Point`, else the mean.
fn expected_view(risk: Risk) -> Risk {
    match risk {
        Risk::Point => Risk::Point,
        _ => Risk::Mean,
    }
}

/// Tabulate a channel's objective curve under a risk view.
fn risk_curve(resp: &Response, risk: Risk, x_max: f64) -> Curve {
    let sets: &[_] = match risk {
        Risk::Point => &resp.sets[..1],
        _ if resp.sets.len() == 1 => &resp.sets[..1],
        _ => &resp.sets[1..],
    };
    Curve::tabulate(x_max, CURVE_INTERVALS, |x| {
        let vs: Vec<(f64, f64)> = sets.iter().map(|s| s.value_and_slope(x)).collect();
        match risk {
            Risk::Quantile { q } if vs.len() > 1 => {
                let mut sorted = vs.clone();
                sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
                let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
                let (i, fr) = (pos.floor() as usize, pos.fract());
                let j = (i + 1).min(sorted.len() - 1);
                (
                    sorted[i].0 + fr * (sorted[j].0 - sorted[i].0),
                    sorted[i].1 + fr * (sorted[j].1 - sorted[i].1),
                )
            }
            _ => {
                let n = vs.len() as f64;
                let (f, d) = vs.iter().fold((0.0, 0.0), |(f, d), (a, b)| (f + a, d + b));
                (f / n, d / n)
            }
        }
    })
}

/// Prepared state for repeated optimisations on one model and horizon.
pub struct Planner<'a> {
    model: &'a Model,
    horizon: Horizon,
}

impl<'a> Planner<'a> {
    /// Prepare (baseline, carryover, draws) for `h` periods, counting the carryover
    /// tail when `count_tail`.
    pub fn new(model: &'a Model, h: usize, count_tail: bool) -> Planner<'a> {
        Planner::with_controls(model, h, count_tail, None)
    }

    /// [`Planner::new`] with future control values where given.
    pub fn with_controls(
        model: &'a Model,
        h: usize,
        count_tail: bool,
        future: Option<&FutureControls>,
    ) -> Planner<'a> {
        let tail = if count_tail {
            Horizon::carryover_periods(model)
        } else {
            0
        };
        Planner {
            model,
            horizon: Horizon::with_controls(model, h, tail, future),
        }
    }

    /// The prepared horizon.
    pub fn horizon(&self) -> &Horizon {
        &self.horizon
    }

    /// Per channel spend over the last `h` periods of the data (0 for organic).
    pub fn reference_spend(&self) -> Vec<f64> {
        let ds = &self.model.dataset;
        let n = ds.n_periods();
        let h = self.horizon.horizon();
        ds.channels
            .iter()
            .map(|c| {
                c.spend
                    .as_ref()
                    .map(|s| s.sum_over(n.saturating_sub(h)..n))
                    .unwrap_or(0.0)
            })
            .collect()
    }

    /// Solve a request.
    pub fn optimize(&self, req: &ValidRequest) -> Result<Recommendation, OptimizeError> {
        optimize_with(self, req)
    }
}

/// Optimise a request on a model.
pub fn optimize(model: &Model, req: &Request) -> Result<Recommendation, OptimizeError> {
    let req = req.validate()?;
    Planner::new(model, req.horizon, req.count_tail).optimize(&req)
}

/// Check a resolved request's values (before any work).
fn check(req: &ValidRequest) -> Result<(), OptimizeError> {
    let bad = |m: String| Err(OptimizeError::Invalid(m));
    crate::scenario::check_horizon(req.horizon).map_err(OptimizeError::Invalid)?;
    let pos = |v: f64| v.is_finite() && v >= 0.0;
    match req.goal {
        Goal::FixedBudget { budget } if !pos(budget) => {
            return bad(format!("budget must be a number ≥ 0 (got {budget})"))
        }
        Goal::TargetKpi { target } if !target.is_finite() => {
            return bad(format!("target KPI must be a number (got {target})"))
        }
        Goal::TargetEfficiency { threshold } if !(pos(threshold) && threshold > 0.0) => {
            return bad(format!(
                "efficiency threshold must be a number > 0 (got {threshold})"
            ))
        }
        _ => {}
    }
    if let Some(cap) = req.budget_cap {
        if !pos(cap) {
            return bad(format!("budget must be a number ≥ 0 (got {cap})"));
        }
    }
    if let Objective::Profit { margin } = req.objective {
        if !(pos(margin) && margin > 0.0) {
            return bad(format!("margin must be a number > 0 (got {margin})"));
        }
    }
    if let Risk::Quantile { q } = req.risk {
        if !(q > 0.0 && q < 1.0) {
            return bad(format!("risk quantile must be in (0, 1) (got {q})"));
        }
    }
    if let Some(w) = req.within {
        if !pos(w) {
            return bad(format!("within must be a percent ≥ 0 (got {})", w * 100.0));
        }
    }
    if req.grid_steps < 10 || req.grid_steps > 20_000 {
        return bad(format!(
            "grid steps must be in 10..=20000 (got {})",
            req.grid_steps
        ));
    }
    Ok(())
}

/// Channel feasible sets, which are locked, and which have a maximum below the budget
/// (a cap whose shadow price means something).
struct Limits {
    feas: Vec<Feasible>,
    locked: Vec<bool>,
    capped: Vec<bool>,
}

/// Build the channels' limits from the request.
fn feasible_sets(
    p: &Planner,
    req: &ValidRequest,
    paid: &[usize],
    reference: &[f64],
) -> Result<Limits, OptimizeError> {
    let names = p.horizon.channel_names();
    let known = || {
        paid.iter()
            .map(|&c| names[c].as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    for (name, _) in &req.rules {
        if !paid.iter().any(|&c| &names[c] == name) {
            return Err(OptimizeError::UnknownChannel {
                name: name.clone(),
                context: "channel constraints".into(),
                known: known(),
            });
        }
    }
    let ds = &p.model.dataset;
    let h = p.horizon.horizon();
    let target_mode = !matches!(req.goal, Goal::FixedBudget { .. });
    let budget = match req.goal {
        Goal::FixedBudget { budget } => Some(budget),
        _ => req.budget_cap,
    };
    let mut feas = Vec::new();
    let mut locked = Vec::new();
    let mut capped = Vec::new();
    for (i, &c) in paid.iter().enumerate() {
        let r0 = reference[i];
        let mut f = Feasible {
            lo: 0.0,
            hi: f64::INFINITY,
            off_allowed: false,
        };
        if let Some(w) = req.within {
            f.lo = r0 * (1.0 - w).max(0.0);
            f.hi = r0 * (1.0 + w);
        }
        if target_mode && f.hi.is_infinite() {
            // Typical spend over `h` periods, for channels that were dark recently.
            let n = ds.n_periods();
            let typical = ds.channels[c]
                .spend
                .as_ref()
                .map(|s| s.sum_over(0..n) * h as f64 / n as f64)
                .unwrap_or(0.0);
            f.hi = DEFAULT_TARGET_CAP * r0.max(typical);
        }
        let rule = req
            .rules
            .iter()
            .filter(|(n, _)| *n == names[c])
            .map(|(_, r)| r.clone())
            .fold(ChannelRule::default(), |a, b| ChannelRule {
                min: b.min.or(a.min),
                max: b.max.or(a.max),
                min_buy: b.min_buy.or(a.min_buy),
                lock: b.lock.or(a.lock),
                on: a.on || b.on,
                off: a.off || b.off,
            });
        let name = &names[c];
        if let Some(m) = rule.min {
            f.lo = m.resolve(r0);
        }
        if let Some(m) = rule.max {
            f.hi = m.resolve(r0);
        }
        if let Some(m) = rule.min_buy {
            f.lo = f.lo.max(m.resolve(r0));
            f.off_allowed = !rule.on && rule.min.is_none();
        }
        if rule.on && f.lo <= 0.0 {
            let scale = budget.unwrap_or(0.0).max(r0);
            f.lo = 1e-3 * scale.max(1.0);
        }
        let mut is_locked = false;
        if let Some(v) = rule.lock {
            let v = v.resolve(r0);
            f = Feasible {
                lo: v,
                hi: v,
                off_allowed: false,
            };
            is_locked = true;
        }
        if rule.off {
            if rule.on
                || rule.lock.is_some_and(|v| v.resolve(r0) > 0.0)
                || rule.min.is_some_and(|v| v.resolve(r0) > 0.0)
            {
                return Err(OptimizeError::Infeasible(format!(
                    "channel `{name}` is both off and required to spend"
                )));
            }
            f = Feasible {
                lo: 0.0,
                hi: 0.0,
                off_allowed: false,
            };
            is_locked = true;
        }
        capped.push(f.hi.is_finite() && budget.is_none_or(|b| f.hi < b));
        if let Some(b) = budget {
            f.hi = f.hi.min(b);
        }
        if f.off_allowed && f.lo > f.hi + 1e-9 * f.hi.abs().max(1.0) {
            // A minimum buy above what the channel may spend: the channel is off.
            f = Feasible {
                lo: 0.0,
                hi: 0.0,
                off_allowed: false,
            };
        }
        if f.lo > f.hi + 1e-9 * f.hi.abs().max(1.0) {
            return Err(OptimizeError::Infeasible(format!(
                "channel `{name}`: minimum {:.2} is above its maximum {:.2}",
                f.lo, f.hi
            )));
        }
        f.lo = f.lo.min(f.hi);
        feas.push(f);
        locked.push(is_locked);
    }
    Ok(Limits {
        feas,
        locked,
        capped,
    })
}

fn optimize_with(p: &Planner, req: &ValidRequest) -> Result<Recommendation, OptimizeError> {
    let hz = &p.horizon;
    if req.horizon != hz.horizon() {
        return Err(OptimizeError::Invalid(format!(
            "request horizon {} differs from the prepared horizon {}",
            req.horizon,
            hz.horizon()
        )));
    }
    let model = p.model;
    let ds = &model.dataset;
    let h = hz.horizon();
    let names = hz.channel_names();
    let paid: Vec<usize> = (0..names.len()).filter(|&c| hz.is_paid(c)).collect();
    if paid.is_empty() {
        return Err(OptimizeError::Invalid(
            "the model has no paid channels to allocate".into(),
        ));
    }
    let all_ref = p.reference_spend();
    let reference: Vec<f64> = paid.iter().map(|&c| all_ref[c]).collect();
    let Limits {
        feas,
        locked,
        capped,
    } = feasible_sets(p, req, &paid, &reference)?;
    let shapes: Vec<Vec<f64>> = paid
        .iter()
        .map(|&c| req.flighting.shape(ds, c, h))
        .collect();
    let responses: Vec<Response> = paid
        .iter()
        .zip(&shapes)
        .map(|(&c, s)| hz.response(c, s).expect("paid channel"))
        .collect();
    // The largest total any channel might get.
    let span = match req.goal {
        Goal::FixedBudget { budget } => budget,
        _ => feas
            .iter()
            .map(|f| f.hi)
            .sum::<f64>()
            .min(req.budget_cap.unwrap_or(f64::INFINITY)),
    };
    let curves: Vec<Curve> = responses
        .par_iter()
        .zip(&feas)
        .map(|(r, f)| risk_curve(r, req.risk, f.hi.min(span).max(1e-9 * span.max(1.0))))
        .collect();
    let n_sets = hz.n_draws() + 1;
    let fixed_sets: Vec<f64> = (0..n_sets).map(|s| hz.fixed_kpi(s).iter().sum()).collect();
    let fixed = aggregate(req.risk, &fixed_sets);
    let (margin, profit) = req.objective.margin();
    let steps = req.grid_steps;
    // Spend below 0.1% of the budget is indistinguishable from none to the model (and a
    // planner cannot buy it): such channels are set to zero and the rest re-optimised.
    let mut solved = solve_goal(req, &curves, &feas, span, fixed)?;
    let floor = 1e-3 * span;
    let crumbs: Vec<usize> = (0..feas.len())
        .filter(|&i| {
            let x = solved.sol.x[i];
            x > 0.0 && x < floor && (feas[i].lo <= 0.0 || feas[i].off_allowed)
        })
        .collect();
    if !crumbs.is_empty() {
        let mut trimmed = feas.clone();
        for &i in &crumbs {
            trimmed[i] = Feasible {
                lo: 0.0,
                hi: 0.0,
                off_allowed: false,
            };
        }
        if let Ok(s) = solve_goal(req, &curves, &trimmed, span, fixed) {
            solved = s;
        }
    }
    let Solved {
        mode,
        sol,
        target,
        status,
        message,
    } = solved;

    // Exact evaluation of the recommendation on every set.
    // Marginal returns are derivatives, except where a curve starts vertically (Hill
    // slope < 1 with no carryover at zero spend): there, the secant over one grid step.
    let step = if span > 0.0 { span / steps as f64 } else { 1.0 };
    let contrib: Vec<Vec<(f64, f64)>> = responses
        .par_iter()
        .zip(&sol.x)
        .map(|(r, &x)| {
            r.sets
                .iter()
                .map(|s| {
                    let (f, d) = s.value_and_slope(x);
                    if d.is_finite() {
                        (f, d)
                    } else {
                        (f, (s.value_and_slope(x + step).0 - f) / step)
                    }
                })
                .collect()
        })
        .collect();
    let ev = expected_view(req.risk);
    let mass = hz.spread();
    let total_sets: Vec<f64> = (0..n_sets)
        .map(|s| fixed_sets[s] + contrib.iter().map(|c| c[s].0).sum::<f64>())
        .collect();
    let expected_kpi = aggregate(ev, &total_sets);
    let reference_sets: Vec<f64> = {
        (0..n_sets)
            .map(|s| {
                fixed_sets[s]
                    + responses
                        .iter()
                        .zip(&reference)
                        .map(|(r, &x)| r.sets[s].value_and_slope(x).0)
                        .sum::<f64>()
            })
            .collect()
    };
    let reference_kpi = aggregate(ev, &reference_sets);
    let versus_reference = {
        let gains: Vec<f64> = total_sets
            .iter()
            .zip(&reference_sets)
            .map(|(a, b)| a - b)
            .collect();
        let expected = aggregate(ev, &gains);
        let d = &gains[1..];
        let tie = 1e-9 * reference_kpi.abs().max(1.0);
        Versus {
            expected_gain: expected,
            gain_interval: interval(d, mass, expected),
            probability_better: (!d.is_empty()).then(|| {
                let wins: f64 = d
                    .iter()
                    .map(|g| {
                        if g.abs() <= tie {
                            0.5
                        } else {
                            f64::from(*g > 0.0)
                        }
                    })
                    .sum();
                wins / d.len() as f64
            }),
        }
    };
    let draws_of = |v: &[f64]| v[1..].to_vec();
    let tol = 1e-7 * span.max(1.0);
    let theta = match req.goal {
        Goal::TargetEfficiency { threshold } => threshold,
        _ if profit => 1.0 / margin,
        _ => 0.0,
    };
    let lambda = sol.budget_shadow_price;
    let max_period: Vec<f64> = paid
        .iter()
        .map(|&c| {
            let s = ds.channels[c].spend.as_ref().expect("paid channel spend");
            (0..ds.n_periods())
                .map(|t| (0..ds.n_geos()).map(|g| s.at(g, t)).sum::<f64>())
                .fold(0.0, f64::max)
        })
        .collect();
    let kpi_kind = model.kpi_kind();
    let delta_spend: Vec<f64> = sol.x.iter().zip(&reference).map(|(x, r)| x - r).collect();
    let delta_kpi: Vec<Vec<f64>> = responses
        .iter()
        .zip(&reference)
        .zip(&contrib)
        .map(|((r, &x0), c)| {
            r.sets
                .iter()
                .zip(c)
                .map(|(s, v)| v.0 - s.value_and_slope(x0).0)
                .collect()
        })
        .collect();
    let support = move_support(&delta_spend, &delta_kpi, theta);
    let channels: Vec<ChannelRecommendation> = paid
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            let x = sol.x[i];
            let f = &feas[i];
            let vals: Vec<f64> = contrib[i].iter().map(|v| v.0).collect();
            let slopes: Vec<f64> = contrib[i].iter().map(|v| v.1).collect();
            let e = aggregate(ev, &vals);
            let slope_mroi = aggregate(ev, &slopes);
            let slope = curves[i].slope(x) - theta;
            let (status, bound, shadow) = if locked[i] {
                let s = slope - lambda;
                let b = if s >= 0.0 { "max" } else { "min" };
                ("locked", Some(b), Some(s.abs()))
            } else if x <= tol && f.off_allowed && f.lo > 0.0 {
                ("off", Some("min"), None)
            } else if x <= f.lo + tol {
                let shadow = (f.lo > 0.0).then(|| (lambda - slope).max(0.0));
                ("at_min", Some("min"), shadow)
            } else if x >= f.hi - tol {
                let shadow = capped[i].then(|| (slope - lambda).max(0.0));
                ("at_max", Some("max"), shadow)
            } else {
                ("interior", None, None)
            };
            let scale = if profit { margin } else { 1.0 };
            ChannelRecommendation {
                name: names[c].clone(),
                reference_spend: reference[i],
                recommended_spend: x,
                change: x - reference[i],
                expected_contribution: e,
                expected_contribution_interval: interval(&draws_of(&vals), mass, e),
                mroi: slope_mroi,
                marginal_cpa: (kpi_kind == KpiKind::Conversions && slope_mroi > 0.0)
                    .then(|| 1.0 / slope_mroi),
                bound: bound.map(str::to_string),
                status: status.to_string(),
                shadow_price: shadow.map(|s| s * scale),
                beyond_history: shapes[i]
                    .iter()
                    .any(|w| w * x > max_period[i] * (1.0 + 1e-9)),
                move_support: support[i],
                unsupported_move: support[i].is_some_and(|p| p < MOVE_SUPPORT)
                    && (x - reference[i]).abs() > MOVE_MIN_CHANGE * reference[i].max(tol),
            }
        })
        .collect();
    let draws = draws_of(&total_sets);
    let dist = if draws.is_empty() {
        KpiDistribution {
            mean: total_sets[0],
            sd: 0.0,
            quantiles: Vec::new(),
        }
    } else {
        let m = draws.iter().sum::<f64>() / draws.len() as f64;
        let var = draws.iter().map(|v| (v - m).powi(2)).sum::<f64>() / draws.len() as f64;
        KpiDistribution {
            mean: m,
            sd: var.sqrt(),
            quantiles: {
                let qs = [0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95];
                qs.iter()
                    .zip(quantiles(&draws, &qs))
                    .map(|(&q, value)| Quantile { q, value })
                    .collect()
            },
        }
    };
    let total_spend: f64 = sol.x.iter().sum();
    let mut totals = vec![0.0; names.len()];
    for (i, &c) in paid.iter().enumerate() {
        totals[c] = sol.x[i];
    }
    let full_plan = Plan::from_totals(model, &totals, h, req.flighting);
    let plan = Plan {
        spend: paid.iter().map(|&c| full_plan.spend[c].clone()).collect(),
    };
    let scale = if profit { margin } else { 1.0 };
    let certificate = Certificate {
        method: format!(
            "dynamic programme over a {steps}-step budget grid (global on the grid), \
             continuous polish equalising marginal returns, Lagrangian dual bound"
        ),
        grid_steps: steps,
        budget_shadow_price: lambda * scale,
        objective: sol.objective * scale,
        dual_bound: sol.dual_bound * scale,
        optimality_gap: (sol.dual_bound - sol.objective).max(0.0) * scale,
    };
    Ok(Recommendation {
        schema_version: RECOMMENDATION_SCHEMA_VERSION,
        mode: mode.into(),
        status,
        message,
        horizon: h,
        tail_periods: hz.tail(),
        start: hz.dates().first().cloned().unwrap_or_default(),
        objective: if profit { "profit" } else { "kpi" }.into(),
        risk: req.risk,
        flighting: req.flighting,
        total_budget: match req.goal {
            Goal::FixedBudget { budget } => budget,
            _ => total_spend,
        },
        total_spend,
        expected_kpi,
        expected_kpi_interval: interval(&draws, mass, expected_kpi),
        kpi_distribution: dist,
        reference_kpi,
        versus_reference,
        target,
        channels,
        certificate,
        plan,
        dates: hz.dates().to_vec(),
        model: model.lineage(),
        campaigns: Vec::new(),
    })
}

/// The solver's answer for a goal.
struct Solved {
    mode: &'static str,
    sol: solve::Solution,
    target: Option<f64>,
    status: String,
    message: Option<String>,
}

/// Run the goal's solver on the tabulated curves.
fn solve_goal(
    req: &ValidRequest,
    curves: &[Curve],
    feas: &[Feasible],
    span: f64,
    fixed: f64,
) -> Result<Solved, OptimizeError> {
    let steps = req.grid_steps;
    let (margin, profit) = req.objective.margin();
    let mut status = "optimal".to_string();
    let mut message = None;
    let (mode, sol, target) = match req.goal {
        Goal::FixedBudget { budget } => {
            let (b, theta) = if profit {
                (Budget::AtMost(budget), 1.0 / margin)
            } else {
                (Budget::Exactly(budget), 0.0)
            };
            let sol = solve::solve(curves, feas, b, theta, steps)?;
            ("fixed_budget", sol, None)
        }
        Goal::TargetEfficiency { threshold } => {
            let cap = span;
            let sol = solve::solve(curves, feas, Budget::AtMost(cap), threshold, steps)?;
            ("target_efficiency", sol, Some(threshold))
        }
        Goal::TargetKpi { target } => {
            let need = target - fixed;
            solve::check(feas, Budget::AtMost(span))?;
            let fr = solve::Frontier::new(curves, feas, span, 0.0, steps);
            let reach = fr.value.iter().position(|v| *v >= need);
            let sol = match reach {
                None => {
                    let best = (0..fr.value.len())
                        .max_by(|&i, &j| fr.value[i].total_cmp(&fr.value[j]))
                        .unwrap_or(0);
                    if !fr.value[best].is_finite() {
                        return Err(OptimizeError::Infeasible(
                            "no allocation meets the channel constraints".into(),
                        ));
                    }
                    status = "unreachable".into();
                    message = Some(format!(
                        "the target {target:.2} is out of reach: the most the constraints allow is {:.2}",
                        fr.value[best] + fixed
                    ));
                    let b = fr.budget_of(best);
                    solve::finish(
                        curves,
                        feas,
                        Budget::Exactly(b),
                        0.0,
                        fr.allocation(best),
                        fr.delta,
                    )?
                }
                Some(k) => {
                    // Bisect the budget between the last grid step short of the target
                    // and the first that reaches it, polishing the grid answer's basin.
                    let x0 = fr.allocation(k);
                    let reach = |b: f64| {
                        solve::refine(curves, feas, Budget::Exactly(b), 0.0, x0.clone(), fr.delta)
                            .ok()
                            .filter(|x| solve::objective(curves, x, 0.0) >= need)
                    };
                    let (mut lo, mut hi) = (fr.budget_of(k.saturating_sub(1)), fr.budget_of(k));
                    let mut best = x0.clone();
                    for _ in 0..40 {
                        let mid = 0.5 * (lo + hi);
                        match reach(mid) {
                            Some(x) => {
                                hi = mid;
                                best = x;
                            }
                            None => lo = mid,
                        }
                    }
                    solve::finish(curves, feas, Budget::Exactly(hi), 0.0, best, fr.delta)?
                }
            };
            ("target_kpi", sol, Some(target))
        }
    };
    Ok(Solved {
        mode,
        sol,
        target,
        status,
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::move_support;

    /// Two channels swap 10 units. Set 0 is the point (skipped). Draw 1: the cut channel
    /// loses 5 (0.5 per unit) and the raised one gains 8 (0.8): both backed. Draw 2: loses
    /// 9 (0.9), gains 6 (0.6): neither. Draw 3: loses 7, gains 7: a tie backs neither.
    #[test]
    fn move_support_hand_computed() {
        let ds = [-10.0, 10.0];
        let dk = vec![vec![-6.0, -5.0, -9.0, -7.0], vec![7.0, 8.0, 6.0, 7.0]];
        let s = move_support(&ds, &dk, 0.0);
        assert_eq!(s, vec![Some(1.0 / 3.0), Some(1.0 / 3.0)]);
        // An unmoved channel is not judged; a lone rise is compared with theta.
        let s = move_support(&[0.0, 10.0], &[vec![0.0; 3], vec![1.0, 5.0, 20.0]], 1.0);
        assert_eq!(s, vec![None, Some(0.5)]);
        // Without draws there is nothing to judge.
        assert_eq!(move_support(&[-1.0], &[vec![-1.0]], 0.0), vec![None]);
    }
}
