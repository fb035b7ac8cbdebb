//! mixcast command line: parse, call the library, print, map errors to exit codes
//! (0 success, 2 bad input, 1 other failure). Each command's flags map onto the library's
//! request types; the library decides what they mean.

mod commands;
mod output;
mod progress;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use mixcast::optimize::{ObjectiveName, RiskName};
use mixcast::scenario::Flighting;

pub use output::UsageError;

#[derive(Parser)]
#[command(
    name = "mixcast",
    version,
    about = "Marketing-mix modeling and forecasting"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
    /// Progress, warning and result lines on stderr as text or as JSON lines (for jobs).
    #[arg(long, global = true, value_enum, default_value = "text")]
    log_format: LogFormat,
}

/// Output format of `decompose`.
#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Csv,
    Json,
}

#[derive(Subcommand)]
enum Cmd {
    /// Fit a model spec; writes model.json, summary.json, decomposition.csv and curves.json.
    Fit(FitArgs),
    /// Per-period decomposition of a fitted model (baseline groups and channels).
    Decompose(DecomposeArgs),
    /// Forecast the KPI for a future spend plan with intervals; compare plans.
    Scenario(ScenarioArgs),
    /// Recommend how to spend a budget (or reach a KPI or efficiency target) over the
    /// next N periods, with a certificate of optimality.
    Optimize(OptimizeArgs),
    /// Write a self-contained HTML report with charts (fit, decomposition, ROI or CPA,
    /// response curves, adstock, and optionally a recommendation, attribution and the
    /// reconciliation).
    Report(ReportArgs),
    /// Serve the HTTP API and the planner page over a folder of models.
    Serve(ServeArgs),
    /// Response curves (contribution vs spend multiple) with intervals.
    Curves(CurvesArgs),
    /// Generate a dataset with known truth: data.csv, spec.toml, truth.json.
    Simulate(SimulateArgs),
    /// Multi-touch attribution over journeys (events + conversions, or aggregated paths).
    Attribute(AttributeArgs),
    /// Paths and friction: top converting and non-converting paths, path lengths, time to
    /// conversion, the channel transition matrix and drop-off points, by segment.
    Journeys(JourneysArgs),
    /// Exportable audiences (journey id lists) by behaviour, with size and expected
    /// incremental value if targeted.
    Audiences(AudiencesArgs),
    /// Split attributed (and incremental) credit between teams, with attainment against
    /// their targets.
    Credit(CreditArgs),
    /// Flag suspicious channels and campaigns (cookie stuffing, click bursts, click farms,
    /// recycled journeys) from touches and conversions.
    Fraud(FraudArgs),
    /// Reconcile a fitted model with attribution and lift tests: incrementality factors,
    /// agreement, a combined ROI per channel and campaign-level incremental credit.
    Combine(CombineArgs),
    /// Simulate weekly MMM data and user journeys from one truth (offline channels,
    /// tracked digital channels, retargeting, campaigns): the joint simulator.
    SimulateJoint(SimulateJointArgs),
    /// Simulate journeys with known incremental channel effects.
    SimulateJourneys(SimulateJourneysArgs),
    /// Score a model on periods it never saw, with their actual spend and controls, and
    /// say which channels the forecast errors point at.
    Backtest(BacktestArgs),
    /// Refit a spec on new data, compare with the previous model (ROI, effect shifts on
    /// the new periods, forecast accuracy, decomposition, recommendation) and gate:
    /// exit 0 within the thresholds, 3 on drift.
    Refresh(RefreshArgs),
    /// The model registry: content-hashed versions, one promoted per model.
    #[command(subcommand)]
    Models(ModelsCmd),
    /// Rolling-origin cross-validation of a spec: refit on expanding windows and score
    /// each next-horizon forecast (compare specs on out-of-sample accuracy).
    Validate(ValidateArgs),
    /// Recovery study on the simulator: estimator vs truth vs oracle (JSON report).
    Recovery(RecoveryArgs),
    /// Fit the shipped sample model and print its summary.
    Demo(DemoArgs),
}

#[derive(Args)]
pub struct FitArgs {
    /// Model spec (TOML).
    pub spec: PathBuf,
    /// Output folder.
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub fit: FitFlags,
    /// Print the summary as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// No progress output.
    #[arg(long, short)]
    pub quiet: bool,
}

/// How to fit: the flags `fit` and `refresh` share.
#[derive(Args)]
pub struct FitFlags {
    /// Hold out the last N periods and report out-of-sample error on them.
    #[arg(long, default_value_t = 0)]
    pub holdout_weeks: usize,
    /// Seed for restarts and bootstrap.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Estimation method (overrides the spec's `[fit] method`): fast (posterior mode and
    /// bootstrap refits) or bayes (NUTS over the joint posterior).
    #[arg(long, value_enum)]
    pub method: Option<MethodArg>,
    /// NUTS chains, run in parallel (bayes; default 4).
    #[arg(long)]
    pub chains: Option<usize>,
    /// Draws: bootstrap refits for fast (0 = no intervals; default 200), draws per chain
    /// after warm-up for bayes (default 1000).
    #[arg(long)]
    pub draws: Option<usize>,
    /// NUTS warm-up iterations per chain (bayes; default 1000).
    #[arg(long)]
    pub warmup: Option<usize>,
    /// Lift tests CSV (`channel,start,end,lift,se[,scope][,geo]`), entered into the
    /// likelihood; overrides the spec's `[calibration] experiments`.
    #[arg(long)]
    pub experiments: Option<PathBuf>,
    /// Attribution report (`attribute --json`) whose attributed ROAS becomes a soft ROI
    /// prior on the channels it names; overrides the spec's `[calibration] attribution`.
    #[arg(long)]
    pub attribution_prior: Option<PathBuf>,
    /// Data CSV overriding the spec's `[data] path` (same columns), e.g. a refreshed
    /// window.
    #[arg(long)]
    pub data: Option<PathBuf>,
}

impl FitFlags {
    /// The library's fit options (paths made absolute, as the spec's folder is not the
    /// working directory).
    pub fn options(self) -> mixcast::FitOptions {
        let abs = |p: PathBuf| std::path::absolute(&p).unwrap_or(p);
        mixcast::FitOptions {
            holdout: self.holdout_weeks,
            seed: self.seed,
            draws: self.draws,
            experiments: self.experiments,
            attribution_prior: self.attribution_prior,
            data: self.data.map(abs),
            method: self.method.map(Into::into),
            chains: self.chains,
            warmup: self.warmup,
        }
    }
}

#[derive(Args)]
pub struct BacktestArgs {
    /// Fitted model (model.json).
    pub model: PathBuf,
    /// Data CSV with the model's columns, holding periods after the model's data.
    #[arg(long)]
    pub data: PathBuf,
    /// Print the backtest document as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct RefreshArgs {
    /// Model spec (TOML) to refit.
    pub spec: PathBuf,
    /// The previous model (model.json) to compare with.
    #[arg(long)]
    pub previous: PathBuf,
    /// Output folder: the new model's artifacts and drift.json.
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub fit: FitFlags,
    /// Centre each paid channel's ROI prior on the previous model's ROI (see --freedom).
    #[arg(long)]
    pub warm_start: bool,
    /// Warm-start prior sd as a multiple of the previous posterior sd (default 1).
    #[arg(long)]
    pub freedom: Option<f64>,
    /// ROI drift threshold: |ln(new/old)| ≥ ln(1 + X), intervals disjoint (default 0.5).
    #[arg(long)]
    pub roi_change: Option<f64>,
    /// Effect-shift threshold on the new periods: |ln(1 + δ)| ≥ ln(1 + X) (default 0.5).
    #[arg(long)]
    pub effect_change: Option<f64>,
    /// Evidence needed for an effect shift, |δ| / se (default 3).
    #[arg(long)]
    pub effect_z: Option<f64>,
    /// Forecast drift: backtest MAPE above this multiple of the in-sample MAPE (default
    /// 2; 0 = off).
    #[arg(long)]
    pub forecast_mape_ratio: Option<f64>,
    /// Gate on the recommendation: share of the budget moving between channels (0..1;
    /// default: reported only).
    #[arg(long)]
    pub allocation_shift: Option<f64>,
    /// Periods of budget the recommendation check allocates (default 13).
    #[arg(long)]
    pub horizon: Option<usize>,
    /// Registry folder: add the new version, and promote it when the gate passes.
    #[arg(long)]
    pub registry: Option<PathBuf>,
    /// Model name in the registry (default: the spec's name).
    #[arg(long)]
    pub name: Option<String>,
    /// Print drift.json instead of a table.
    #[arg(long)]
    pub json: bool,
    /// No progress output.
    #[arg(long, short)]
    pub quiet: bool,
}

/// `mixcast models …`: the registry.
#[derive(Subcommand)]
pub enum ModelsCmd {
    /// Every model and version, the promoted one marked.
    List(RegistryArgs),
    /// One version (default: the promoted one) with its summary.
    Show(ModelsShowArgs),
    /// Add a fit's output folder (model.json and artifacts) as a version.
    Add(ModelsAddArgs),
    /// Promote a version: `serve --models REGISTRY` serves it from then on.
    Promote(ModelsPromoteArgs),
}

#[derive(Args)]
pub struct RegistryArgs {
    /// Registry folder.
    #[arg(long)]
    pub registry: PathBuf,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct ModelsShowArgs {
    /// Model name.
    pub name: String,
    /// Version id or a unique prefix (default: the promoted version).
    pub id: Option<String>,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

#[derive(Args)]
pub struct ModelsAddArgs {
    /// A model.json, or a folder holding one (e.g. `fit --out` output).
    pub model: PathBuf,
    /// Model name (default: the spec's name).
    #[arg(long)]
    pub name: Option<String>,
    /// Promote it right away.
    #[arg(long)]
    pub promote: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

#[derive(Args)]
pub struct ModelsPromoteArgs {
    /// Model name.
    pub name: String,
    /// Version id or a unique prefix.
    pub id: String,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// `--log-format`.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human lines (and a bar on a terminal).
    Text,
    /// One JSON object per line on stderr: progress, warnings, results, errors.
    Json,
}

/// `fit --method`.
#[derive(Clone, Copy, ValueEnum)]
pub enum MethodArg {
    Fast,
    Bayes,
}

impl From<MethodArg> for mixcast::spec::FitMethod {
    fn from(m: MethodArg) -> Self {
        match m {
            MethodArg::Fast => mixcast::spec::FitMethod::Fast,
            MethodArg::Bayes => mixcast::spec::FitMethod::Bayes,
        }
    }
}

#[derive(Args)]
pub struct DecomposeArgs {
    /// model.json from `mixcast fit`.
    pub model: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value = "csv")]
    pub format: Format,
    /// Shorthand for `--format json`.
    #[arg(long)]
    pub json: bool,
    /// Write to a file instead of stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Args)]
pub struct ScenarioArgs {
    /// model.json from `mixcast fit`.
    pub model: PathBuf,
    /// Plan CSV: a `period` column and one spend column per paid channel.
    #[arg(long, required_unless_present = "totals", conflicts_with = "totals")]
    pub plan: Option<PathBuf>,
    /// Per channel totals CSV (`channel,spend`), spread by --flighting over --horizon.
    #[arg(long, requires = "horizon")]
    pub totals: Option<PathBuf>,
    /// Periods for --totals.
    #[arg(long)]
    pub horizon: Option<usize>,
    /// How --totals are spread: even, or historical (pattern of the last N periods).
    #[arg(long, default_value = "even")]
    pub flighting: Flighting,
    /// Other plans (same format and horizon) to compare with the base plan.
    #[arg(long, num_args = 1..)]
    pub compare: Vec<PathBuf>,
    /// Also count the KPI the plan creates after the horizon (carryover tail).
    #[arg(long)]
    pub tail: bool,
    /// Future control values (CSV: period,<control>…); default: held at last value.
    #[arg(long)]
    pub controls: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct OptimizeArgs {
    /// model.json from `mixcast fit`.
    pub model: PathBuf,
    /// Total budget over the horizon (a cap in target and profit modes).
    #[arg(long, required_unless_present_any = ["target_kpi", "target_mroi", "target_cpa"])]
    pub budget: Option<f64>,
    /// Periods to plan.
    #[arg(long, default_value_t = 13)]
    pub horizon: usize,
    /// Least spend that reaches this window KPI (baseline included).
    #[arg(long, conflicts_with_all = ["target_mroi", "target_cpa"])]
    pub target_kpi: Option<f64>,
    /// Spend while marginal ROI stays at or above this.
    #[arg(long, conflicts_with = "target_cpa")]
    pub target_mroi: Option<f64>,
    /// Spend while marginal cost per KPI unit stays at or below this.
    #[arg(long)]
    pub target_cpa: Option<f64>,
    /// Objective for a fixed budget: kpi, or profit (= margin × KPI − spend; the
    /// budget becomes a cap).
    #[arg(long, value_enum, default_value = "kpi")]
    pub objective: ObjectiveArg,
    /// Profit per KPI unit (with --objective profit).
    #[arg(long)]
    pub margin: Option<f64>,
    /// Optimise the mean over draws (mean), the point estimate (point), or a lower
    /// quantile of each channel's contribution (quantile, see --quantile).
    #[arg(long, value_enum, default_value = "mean")]
    pub risk: RiskArg,
    /// Quantile for --risk quantile.
    #[arg(long, default_value_t = 0.1)]
    pub quantile: f64,
    /// How each channel's total is spread: even, or historical.
    #[arg(long, default_value = "even")]
    pub flighting: Flighting,
    /// Count the KPI created after the horizon (carryover tail) in the objective.
    #[arg(long)]
    pub count_tail: bool,
    /// Future control values (CSV: period,<control>…); default: held at last value.
    #[arg(long)]
    pub controls: Option<PathBuf>,
    /// Keep every channel within ± this percent of its reference spend.
    #[arg(long)]
    pub within: Option<f64>,
    /// Channel minimum, CH=AMOUNT (currency, or percent of reference like 70%).
    #[arg(long = "min", value_name = "CH=AMOUNT")]
    pub min: Vec<String>,
    /// Channel maximum, CH=AMOUNT.
    #[arg(long = "max", value_name = "CH=AMOUNT")]
    pub max: Vec<String>,
    /// Minimum buy: the channel is off or spends at least AMOUNT, CH=AMOUNT.
    #[arg(long = "min-buy", value_name = "CH=AMOUNT")]
    pub min_buy: Vec<String>,
    /// Lock a channel at AMOUNT (default: its reference spend), CH[=AMOUNT].
    #[arg(long = "lock", value_name = "CH[=AMOUNT]")]
    pub lock: Vec<String>,
    /// Channels that must spend something.
    #[arg(long = "on", value_name = "CH")]
    pub on: Vec<String>,
    /// Channels that must spend nothing.
    #[arg(long = "off", value_name = "CH")]
    pub off: Vec<String>,
    /// Budget grid steps of the dynamic programme.
    #[arg(long, default_value_t = mixcast::optimize::DEFAULT_GRID_STEPS)]
    pub grid_steps: usize,
    /// Also split each channel's budget across its campaigns, using the campaign shares
    /// of a `combine --json` document (a campaign's curve = its channel's, scaled by its
    /// shares; see README).
    #[arg(long)]
    pub campaigns: Option<PathBuf>,
    /// Write the per period plan CSV (readable by `mixcast scenario --plan`).
    #[arg(long)]
    pub plan_out: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `--objective` values.
#[derive(Clone, Copy, ValueEnum)]
pub enum ObjectiveArg {
    Kpi,
    Profit,
}

impl From<ObjectiveArg> for ObjectiveName {
    fn from(o: ObjectiveArg) -> Self {
        match o {
            ObjectiveArg::Kpi => ObjectiveName::Kpi,
            ObjectiveArg::Profit => ObjectiveName::Profit,
        }
    }
}

/// `--risk` values.
#[derive(Clone, Copy, ValueEnum)]
pub enum RiskArg {
    Mean,
    Point,
    Quantile,
}

impl From<RiskArg> for RiskName {
    fn from(r: RiskArg) -> Self {
        match r {
            RiskArg::Mean => RiskName::Mean,
            RiskArg::Point => RiskName::Point,
            RiskArg::Quantile => RiskName::Quantile,
        }
    }
}

#[derive(Args)]
pub struct CurvesArgs {
    /// model.json from `mixcast fit`.
    pub model: PathBuf,
    /// Points per curve (2..=1000).
    #[arg(long, default_value_t = 20)]
    pub steps: usize,
    /// JSON output (the default; kept for symmetry).
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct SimulateArgs {
    /// Output folder.
    #[arg(long)]
    pub out: PathBuf,
    /// Seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Weeks of data.
    #[arg(long, default_value_t = 156)]
    pub weeks: usize,
    /// Media channels.
    #[arg(long, default_value_t = 5)]
    pub channels: usize,
    /// Noise sd as a fraction of mean KPI.
    #[arg(long, default_value_t = 0.05)]
    pub noise: f64,
    /// Geos (1 = national).
    #[arg(long, default_value_t = 1)]
    pub geos: usize,
    /// Weeks excluded from the truth window (match the fit's --holdout-weeks).
    #[arg(long, default_value_t = 13)]
    pub holdout_weeks: usize,
    /// Draw the truth from the broad ranges real data span (3–10 channels, media share
    /// 5–60%, ROI 0.3–5, decay 0.05–0.8, slope 0.8–3, correlated and seasonal spend);
    /// --weeks, --channels and --holdout-weeks are then 156, drawn and 13.
    #[arg(long)]
    pub broad: bool,
}

#[derive(Args)]
pub struct AttributeArgs {
    /// Touch events: journey_id,timestamp,channel[,campaign][,cost] as CSV, or Parquet (.parquet).
    #[arg(long, requires = "conversions", conflicts_with = "paths")]
    pub events: Option<PathBuf>,
    /// Conversions CSV: journey_id,timestamp,value.
    #[arg(long, requires = "events")]
    pub conversions: Option<PathBuf>,
    /// Aggregated paths CSV: path,total_conversions,total_conversion_value,total_null.
    #[arg(long)]
    pub paths: Option<PathBuf>,
    /// Models, comma-separated: first, last, last_non_direct, linear, position,
    /// w_shaped, time_decay, markov1, markov2, markov3, shapley.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "last,linear,position,markov1,shapley"
    )]
    pub model: Vec<String>,
    /// Print the JSON report.
    #[arg(long)]
    pub json: bool,
    /// Also write the credit table as CSV.
    #[arg(long)]
    pub csv: Option<PathBuf>,
    /// Lookback window before a conversion, days.
    #[arg(long, default_value_t = 30.0)]
    pub lookback_days: f64,
    /// Time-decay half-life: days for events input (default 7), touches for paths (default 2).
    #[arg(long)]
    pub half_life: Option<f64>,
    /// U-shaped weights first,last.
    #[arg(long, value_delimiter = ',', default_values_t = [0.4, 0.4])]
    pub position_weights: Vec<f64>,
    /// W-shaped weights first,middle,last.
    #[arg(long, value_delimiter = ',', default_values_t = [0.3, 0.3, 0.3])]
    pub w_weights: Vec<f64>,
    /// Channel treated as direct by last_non_direct.
    #[arg(long, default_value = "direct")]
    pub direct_channel: String,
    /// Count and skip malformed rows instead of failing.
    #[arg(long)]
    pub skip_bad_rows: bool,
    /// Shapley: a control group held out from every paid touch, as JOURNEYS,CONVERSIONS;
    /// its conversion rate replaces the model's extrapolation of the no-touch rate.
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    pub control: Option<Vec<f64>>,
    /// Shapley: the share of conversions that would happen without any tracked touch,
    /// from other evidence (`combine` reports the MMM's as `organic_share`).
    #[arg(long, conflicts_with = "control", allow_hyphen_values = true)]
    pub organic_share: Option<f64>,
    /// Calibrated attribution: a `combine --json` document whose incrementality factors
    /// scale each model's credit (adds `<model>_calibrated` results; see README).
    #[arg(long)]
    pub calibration: Option<PathBuf>,
    /// Seed (Shapley sampling beyond 15 channels in one journey).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Run `fraud` first and attribute without the touches of the flagged channels and
    /// campaigns (events input only).
    #[arg(long, requires = "events")]
    pub exclude_suspicious: bool,
}

#[derive(Args)]
pub struct JourneysArgs {
    /// Touch events (`journey_id,timestamp,channel[,…]`, CSV or Parquet).
    #[arg(long)]
    pub events: PathBuf,
    /// Conversions CSV (`journey_id,timestamp,value`).
    #[arg(long)]
    pub conversions: PathBuf,
    /// Segment by this events column (geo, product, device…): a journey takes its value
    /// at its first touch (CSV events).
    #[arg(long)]
    pub by: Option<String>,
    /// Count and skip malformed rows instead of failing.
    #[arg(long)]
    pub skip_bad_rows: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct AudiencesArgs {
    /// Touch events (`journey_id,timestamp,channel[,campaign][,cost]`).
    #[arg(long)]
    pub events: PathBuf,
    /// Conversions CSV (`journey_id,timestamp,value`).
    #[arg(long)]
    pub conversions: PathBuf,
    /// Output folder: one `<audience>.csv` of journey ids each, and audiences.json.
    #[arg(long)]
    pub out: PathBuf,
    /// Channels X for "touched X but did not convert" (default: every channel).
    #[arg(long, value_delimiter = ',')]
    pub touched: Vec<String>,
    /// Stages Y (a channel or event name) for "reached Y and did not convert after it".
    #[arg(long, value_delimiter = ',')]
    pub stage: Vec<String>,
    /// Share of non-converting journeys in the high-propensity audience (0 = none).
    #[arg(long, default_value_t = 0.1)]
    pub top_share: f64,
    /// Channel whose extra touch the incremental figures assume (default: the largest
    /// single-touch lift under the conversion model).
    #[arg(long)]
    pub target: Option<String>,
    /// Seed of the conversion model's cross-validation folds.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print audiences.json on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct CreditArgs {
    /// Attribution report (`attribute --json`).
    #[arg(long)]
    pub attribution: PathBuf,
    /// Teams CSV `team,channel[,campaign]`.
    #[arg(long)]
    pub teams: PathBuf,
    /// Targets CSV `team,target` for the period.
    #[arg(long)]
    pub targets: Option<PathBuf>,
    /// A `combine --json` document: adds incremental (MMM-calibrated) credit per team.
    #[arg(long)]
    pub combine: Option<PathBuf>,
    /// Attribution model (default: shapley when present, else the first).
    #[arg(long)]
    pub model: Option<String>,
    /// Credit in conversions or value.
    #[arg(long, value_enum, default_value = "conversions")]
    pub metric: MetricArg,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `credit --metric`.
#[derive(Clone, Copy, ValueEnum)]
pub enum MetricArg {
    Conversions,
    Value,
}

#[derive(Args)]
pub struct FraudArgs {
    /// Touch events CSV (`journey_id,timestamp,channel[,campaign][,cost]`) or Parquet.
    #[arg(long)]
    pub events: PathBuf,
    /// Conversions CSV (`journey_id,timestamp,value`).
    #[arg(long)]
    pub conversions: PathBuf,
    /// A touch counts as converting when a conversion follows within this many days.
    #[arg(long, default_value_t = 30.0)]
    pub lookback_days: f64,
    /// List every channel and campaign with its signals, flagged or not.
    #[arg(long)]
    pub all: bool,
    /// Also write the events without the flagged touches to this CSV.
    #[arg(long)]
    pub clean_events: Option<PathBuf>,
    /// Count and skip malformed rows instead of failing.
    #[arg(long)]
    pub skip_bad_rows: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct ServeArgs {
    /// Folder whose subfolders each hold a model.json (the model is named by the folder).
    #[arg(long)]
    pub models: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: String,
}

#[derive(Args)]
pub struct ReportArgs {
    /// Fitted model (model.json).
    pub model: PathBuf,
    /// Output HTML file.
    #[arg(long)]
    pub out: PathBuf,
    /// Add a recommendation for this budget over --horizon periods (as `optimize`).
    #[arg(long)]
    pub budget: Option<f64>,
    /// Periods to plan with --budget.
    #[arg(long, default_value_t = 13, requires = "budget")]
    pub horizon: usize,
    /// Add an attribution section (`attribute --json` output).
    #[arg(long)]
    pub attribution: Option<PathBuf>,
    /// Add the reconciliation section (`combine --json` output).
    #[arg(long)]
    pub combine: Option<PathBuf>,
}

#[derive(Args)]
pub struct CombineArgs {
    /// Fitted model (model.json).
    pub model: PathBuf,
    /// Attribution report (`attribute --json` output).
    #[arg(long)]
    pub attribution: PathBuf,
    /// Lift tests CSV (channel,start,end,lift,se[,scope][,geo]) to check and pool.
    #[arg(long)]
    pub experiments: Option<PathBuf>,
    /// CSV mmm_channel,attribution_channel (many attribution channels to one MMM channel);
    /// without it names match exactly.
    #[arg(long)]
    pub channel_map: Option<PathBuf>,
    /// Attribution model behind agreement, combined ROI and campaign splits (default:
    /// shapley when present, else the first).
    #[arg(long = "model")]
    pub reference: Option<String>,
    /// Print the JSON document.
    #[arg(long)]
    pub json: bool,
    /// Also write channels.csv and campaigns.csv into this folder.
    #[arg(long)]
    pub csv: Option<PathBuf>,
}

#[derive(Args)]
pub struct SimulateJointArgs {
    /// Output folder.
    #[arg(long)]
    pub out: PathBuf,
    /// Journeys.
    #[arg(long, default_value_t = 1_000_000)]
    pub journeys: usize,
    /// KPI noise sd as a fraction of mean KPI.
    #[arg(long, default_value_t = 0.05)]
    pub noise: f64,
    /// Seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

#[derive(Args)]
pub struct SimulateJourneysArgs {
    /// Output folder.
    #[arg(long)]
    pub out: PathBuf,
    /// Journeys.
    #[arg(long, default_value_t = 100_000)]
    pub journeys: usize,
    /// Seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// How conversion depends on the touched channels.
    #[arg(long, value_enum, default_value_t = ConversionArg::Additive)]
    pub conversion: ConversionArg,
    /// Conversion probability without an effective touch.
    #[arg(long, default_value_t = 0.02)]
    pub baseline: f64,
    /// Multiply every channel's effect (stronger effects make the forms differ more).
    #[arg(long, default_value_t = 1.0)]
    pub effect_scale: f64,
    /// Add fraud patterns: a stuffing channel `partner` (15% of conversions), a click-burst
    /// channel `burst` (3% of journeys), a click-farm campaign `display_farm` (5% fake
    /// journeys) and an honest zero-effect channel `noise` (10%); writes fraud_truth.json.
    #[arg(long)]
    pub fraud: bool,
}

/// `simulate-journeys --conversion`.
#[derive(Clone, Copy, ValueEnum)]
pub enum ConversionArg {
    Additive,
    NoisyOr,
    Logistic,
    Interacting,
}

#[derive(Args)]
pub struct ValidateArgs {
    /// Model spec (TOML).
    pub spec: PathBuf,
    /// Folds (forecast origins), the last one scoring the final periods.
    #[arg(long, default_value_t = 4)]
    pub folds: usize,
    /// Periods forecast and scored per fold.
    #[arg(long, default_value_t = 13)]
    pub horizon: usize,
    /// Seed for each fold's restarts.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// No progress output.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Args)]
pub struct RecoveryArgs {
    /// Noise level.
    #[arg(long, default_value_t = 0.05)]
    pub noise: f64,
    /// Seeds 1..=N.
    #[arg(long, default_value_t = 5)]
    pub seeds: u64,
    /// Draws per fit: bootstrap refits (default 200), or with `--method bayes` NUTS draws
    /// per chain (default 1000).
    #[arg(long)]
    pub draws: Option<usize>,
    /// Estimation method of every fit (overrides `method` in --fit).
    #[arg(long, value_enum)]
    pub method: Option<MethodArg>,
    /// Run the budget-allocation regret study instead.
    #[arg(long)]
    pub allocation: bool,
    /// Run the lift-test calibration study instead: on each broad configuration the
    /// worst-estimated channel gets one 8-week test (true lift, se 10%) and is refitted.
    #[arg(long, conflicts_with = "allocation")]
    pub calibration: bool,
    /// Run the combination study instead: per seed a joint simulation (MMM data and
    /// journeys from one truth); MMM alone, attribution alone and `combine` (without and
    /// with two lift tests) scored on the digital channels' ROI.
    #[arg(long, conflicts_with_all = ["allocation", "calibration"])]
    pub combination: bool,
    /// Run the refresh-gate study instead: per broad configuration, a model of 156
    /// weeks refreshed on `--new-weeks` more from the same truth, and with one channel's
    /// effect ×`--factor` in them; cold and warm-started (seeds 0..N).
    #[arg(long, conflicts_with_all = ["allocation", "calibration", "combination"])]
    pub refresh: bool,
    /// Weeks added by each refresh (refresh study).
    #[arg(long, default_value_t = 26)]
    pub new_weeks: usize,
    /// Effect multiplier of the changed channel (refresh study).
    #[arg(long, default_value_t = 2.0)]
    pub factor: f64,
    /// Change a random channel instead of the largest (refresh study).
    #[arg(long)]
    pub random_channel: bool,
    /// Warm-start freedom (refresh study; default: the `[refresh]` default).
    #[arg(long)]
    pub freedom: Option<f64>,
    /// Journeys per seed (combination study).
    #[arg(long, default_value_t = 1_000_000)]
    pub journeys: usize,
    /// One random broad configuration per seed (see `simulate --broad`).
    #[arg(long)]
    pub broad: bool,
    /// Geos per simulation (with --broad).
    #[arg(long, default_value_t = 1)]
    pub geos: usize,
    /// Estimation settings for every fit, as the body of a spec's `[fit]` table, e.g.
    /// `--fit 'media_share_prior = 0.3'` (default: the spec defaults).
    #[arg(long)]
    pub fit: Option<String>,
    /// Channels per simulation (allocation study).
    #[arg(long, default_value_t = 5)]
    pub channels: usize,
    /// Risk view for the allocation study (as `optimize --risk`).
    #[arg(long, value_enum, default_value = "mean")]
    pub risk: RiskArg,
    /// Quantile for --risk quantile.
    #[arg(long, default_value_t = 0.1)]
    pub quantile: f64,
    /// Print JSON (the default; kept for symmetry).
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct DemoArgs {
    /// Output folder for the artifacts.
    #[arg(long, default_value = "mixcast-demo")]
    pub out: PathBuf,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Parse, run, and map the outcome to an exit code.
pub fn main() -> ExitCode {
    let json = std::env::args().any(|a| a == "--json");
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = e.exit_code();
            if json && e.use_stderr() {
                let err = anyhow::Error::new(UsageError(e.kind().to_string()));
                let _ = e.print();
                output::report_json_only(&err);
                return ExitCode::from(2);
            }
            let _ = e.print();
            return ExitCode::from(code as u8);
        }
    };
    progress::set_json_logs(cli.log_format == LogFormat::Json);
    let done = |r: anyhow::Result<()>| r.map(|()| 0u8);
    let result = match cli.cmd {
        Cmd::Refresh(a) => commands::refresh(a),
        Cmd::Backtest(a) => done(commands::backtest(a)),
        Cmd::Models(c) => done(commands::models(c)),
        Cmd::Fit(a) => done(commands::fit(a)),
        Cmd::Decompose(a) => done(commands::decompose(a)),
        Cmd::Scenario(a) => done(commands::scenario(a)),
        Cmd::Optimize(a) => done(commands::optimize(a)),
        Cmd::Curves(a) => done(commands::curves(a)),
        Cmd::Report(a) => done(commands::report(a)),
        Cmd::Serve(a) => done(commands::serve(a)),
        Cmd::Simulate(a) => done(commands::simulate(a)),
        Cmd::Attribute(a) => done(commands::attribute(a)),
        Cmd::Combine(a) => done(commands::combine(a)),
        Cmd::Fraud(a) => done(commands::fraud(a)),
        Cmd::Credit(a) => done(commands::credit(a)),
        Cmd::Audiences(a) => done(commands::audiences(a)),
        Cmd::Journeys(a) => done(commands::journeys(a)),
        Cmd::SimulateJoint(a) => done(commands::simulate_joint(a)),
        Cmd::SimulateJourneys(a) => done(commands::simulate_journeys(a)),
        Cmd::Validate(a) => done(commands::validate(a)),
        Cmd::Recovery(a) => done(commands::recovery(a)),
        Cmd::Demo(a) => done(commands::demo(a)),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => ExitCode::from(output::report(&e, json)),
    }
}
