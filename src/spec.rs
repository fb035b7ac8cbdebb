//! Model spec (TOML): what data to read and how to model it. The format is a stable
//! contract (see the README); unknown keys are errors.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::transform::{AdstockKind, SaturationKind};

/// Errors reading or checking a spec.
#[derive(Debug, Error)]
pub enum SpecError {
    /// The spec file could not be read.
    #[error("cannot read spec {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The TOML did not parse or has unknown/mistyped keys.
    #[error("invalid spec {path}: {message}")]
    Parse { path: PathBuf, message: String },
    /// A value is out of range or inconsistent.
    #[error("invalid spec {path}: key `{key}`: {message}")]
    Value {
        path: PathBuf,
        key: String,
        message: String,
    },
}

/// What the KPI measures; decides whether efficiency is reported as ROI or CPA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum KpiKind {
    /// Currency: ROI is KPI currency per currency of spend.
    #[default]
    Revenue,
    /// Counts: efficiency is cost per acquisition (spend / contribution).
    Conversions,
}

/// Top-level spec.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Model name.
    pub name: String,
    /// Where the data is and which columns mean what.
    pub data: DataSpec,
    /// Paid media (with `spend`) and organic media (with only `exposure`).
    #[serde(default)]
    pub channels: Vec<ChannelSpec>,
    /// Non-media regressors.
    #[serde(default)]
    pub controls: Vec<ControlSpec>,
    /// Trend, yearly seasonality and holidays.
    #[serde(default)]
    pub seasonality: SeasonalitySpec,
    /// Estimation settings.
    #[serde(default)]
    pub fit: FitSpec,
    /// Lift tests to calibrate with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<CalibrationSpec>,
    /// Drift thresholds and warm start of `mixcast refresh`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh: Option<RefreshSpec>,
}

/// `[refresh]` table: when a refit counts as drift, and how a warm start binds it to the
/// previous model. See [`crate::refresh`] for what each check computes.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RefreshSpec {
    /// A paid channel drifts when its new and previous ROI intervals do not overlap and
    /// its ROI changed by at least this factor either way
    /// (`|ln(new / old)| ≥ ln(1 + roi_change)`; 0.5: ×1.5 or ÷1.5).
    pub roi_change: f64,
    /// A channel drifts when the previous model's forecast errors on the new periods
    /// point at a change of its effect of at least this factor either way
    /// (`|ln(1 + δ)| ≥ ln(1 + effect_change)`) ...
    pub effect_change: f64,
    /// ... with at least this much evidence (`|δ| / se`).
    pub effect_z: f64,
    /// The forecast drifts when the previous model's MAPE on the new periods exceeds this
    /// multiple of its in-sample MAPE, and the actual KPI leaves its predictive interval
    /// in more than half of them (0 turns the check off).
    pub forecast_mape_ratio: f64,
    /// The recommendation drifts when this share of the budget moves between channels
    /// (half the sum of absolute share changes); unset: reported, not gated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allocation_shift: Option<f64>,
    /// Fit the new model with each paid channel's ROI prior centred on the previous ROI.
    pub warm_start: bool,
    /// Warm-start prior sd as a multiple of the previous posterior sd (the need Robyn's
    /// `bounds_freedom` meets). 1 (default) takes the previous posterior as the prior,
    /// which counts the overlapping periods twice and so leans towards stability; √2
    /// undoes that double counting under a Gaussian approximation; 0.5 binds harder.
    pub freedom: f64,
    /// Periods of the budget compared in the recommendation check.
    pub horizon: usize,
}

impl Default for RefreshSpec {
    fn default() -> Self {
        RefreshSpec {
            roi_change: 0.5,
            effect_change: 0.5,
            effect_z: 3.0,
            forecast_mape_ratio: 2.0,
            allocation_shift: None,
            warm_start: false,
            freedom: 1.0,
            horizon: 13,
        }
    }
}

impl RefreshSpec {
    /// Check the values; errors name the key (`refresh.<key>`).
    pub fn check(&self) -> Result<(), (String, String)> {
        let positive = [
            ("roi_change", self.roi_change),
            ("effect_change", self.effect_change),
            ("effect_z", self.effect_z),
            ("freedom", self.freedom),
        ];
        for (k, v) in positive {
            if !(v.is_finite() && v > 0.0) {
                return Err((format!("refresh.{k}"), format!("must be > 0, got {v}")));
            }
        }
        if !(self.forecast_mape_ratio.is_finite() && self.forecast_mape_ratio >= 0.0) {
            return Err((
                "refresh.forecast_mape_ratio".into(),
                format!("must be ≥ 0, got {}", self.forecast_mape_ratio),
            ));
        }
        if let Some(a) = self.allocation_shift {
            if !(a > 0.0 && a <= 1.0) {
                return Err((
                    "refresh.allocation_shift".into(),
                    format!("must be in (0, 1], got {a}"),
                ));
            }
        }
        crate::scenario::check_horizon(self.horizon).map_err(|m| ("refresh.horizon".to_string(), m))
    }
}

/// `[calibration]` table.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CalibrationSpec {
    /// Experiments CSV (`channel,start,end,lift,se[,scope][,geo]`), relative to the spec
    /// file; see [`crate::calibration`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiments: Option<PathBuf>,
    /// An `attribute --json` document whose attributed ROAS, × `attribution_discount`,
    /// becomes a soft ROI prior on the channels it names (see
    /// [`crate::combine::attribution_priors`]); relative to the spec file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribution: Option<PathBuf>,
    /// Attribution model to read (default: `shapley` when present, else the first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribution_model: Option<String>,
    /// Multiplier on the attributed ROAS for the prior mean.
    #[serde(default = "default_attribution_discount")]
    pub attribution_discount: f64,
    /// Prior sd as a multiple of its mean (wide: weaker than a lift test).
    #[serde(default = "default_attribution_sd_ratio")]
    pub attribution_sd_ratio: f64,
}

fn default_attribution_discount() -> f64 {
    1.0
}

fn default_attribution_sd_ratio() -> f64 {
    1.0
}

/// `[data]` table.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSpec {
    /// CSV path, relative to the spec file.
    pub path: PathBuf,
    /// Date column (ISO `YYYY-MM-DD`).
    #[serde(default = "default_date_column")]
    pub date_column: String,
    /// KPI column.
    pub kpi: String,
    /// Revenue or conversions.
    #[serde(default)]
    pub kpi_kind: KpiKind,
    /// Optional geo column for panel data.
    #[serde(default)]
    pub geo_column: Option<String>,
    /// Optional column with revenue per KPI unit (conversions KPIs): adds revenue ROI.
    #[serde(default)]
    pub revenue_per_kpi: Option<String>,
    /// Optional population column (geo panels, Meridian's convention): media saturate on
    /// spend per capita with one national curve, and media effects scale with population.
    /// A geo's population is the column's mean over the modelling window; values must be
    /// positive.
    #[serde(default)]
    pub population_column: Option<String>,
    /// First date of the modelling window; earlier rows only feed carryover.
    #[serde(default, deserialize_with = "date_opt")]
    pub start: Option<NaiveDate>,
    /// Last date of the modelling window; later rows are ignored.
    #[serde(default, deserialize_with = "date_opt")]
    pub end: Option<NaiveDate>,
}

/// A date given as a TOML date (`2016-01-04`) or a string (`"2016-01-04"`).
fn date_opt<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<NaiveDate>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Repr {
        Text(String),
        Toml(toml::value::Datetime),
    }
    let text = match Option::<Repr>::deserialize(d)? {
        None => return Ok(None),
        Some(Repr::Text(s)) => s,
        Some(Repr::Toml(t)) => t.to_string(),
    };
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map(Some)
        .map_err(|_| serde::de::Error::custom(format!("`{text}` is not a date (YYYY-MM-DD)")))
}

fn default_date_column() -> String {
    "date".to_string()
}

fn default_max_lag() -> usize {
    8
}

fn default_true() -> bool {
    true
}

/// A Gaussian prior `{ mean, sd }`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Prior {
    /// Prior mean.
    pub mean: f64,
    /// Prior standard deviation (> 0).
    pub sd: f64,
}

/// `[[channels]]` entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelSpec {
    /// Channel name (unique).
    pub name: String,
    /// Spend column (currency). Absent for organic channels.
    #[serde(default)]
    pub spend: Option<String>,
    /// Media metric modelled instead of spend (impressions, clicks, GRPs).
    #[serde(default)]
    pub exposure: Option<String>,
    /// Adstock form.
    #[serde(default = "default_adstock")]
    pub adstock: AdstockKind,
    /// Number of lags of carryover (including the current period).
    #[serde(default = "default_max_lag")]
    pub max_lag: usize,
    /// Normalise adstock weights to sum to one.
    #[serde(default = "default_true")]
    pub normalize: bool,
    /// Saturation form.
    #[serde(default = "default_saturation")]
    pub saturation: SaturationKind,
    /// Bounds for the decay rate (geometric, delayed).
    #[serde(default)]
    pub decay: Option<[f64; 2]>,
    /// Bounds for the Weibull shape.
    #[serde(default)]
    pub shape: Option<[f64; 2]>,
    /// Bounds for the Weibull scale (relative to max_lag).
    #[serde(default)]
    pub scale: Option<[f64; 2]>,
    /// Bounds for the delayed-adstock peak lag.
    #[serde(default)]
    pub peak: Option<[f64; 2]>,
    /// Bounds for the Hill half-saturation, relative to the channel's mean non-zero input.
    #[serde(default)]
    pub half_saturation: Option<[f64; 2]>,
    /// Bounds for the Hill slope.
    #[serde(default)]
    pub slope: Option<[f64; 2]>,
    /// Bounds for the logistic λ.
    #[serde(default)]
    pub lambda: Option<[f64; 2]>,
    /// Prior on the channel's ROI over the fit window (KPI per unit of spend).
    #[serde(default)]
    pub roi_prior: Option<Prior>,
}

fn default_adstock() -> AdstockKind {
    AdstockKind::Geometric
}

fn default_saturation() -> SaturationKind {
    SaturationKind::Hill
}

impl ChannelSpec {
    /// Whether the channel has spend (paid) or only exposure (organic).
    pub fn is_paid(&self) -> bool {
        self.spend.is_some()
    }

    /// The column the model transforms: exposure if given, else spend.
    pub fn input_column(&self) -> &str {
        self.exposure
            .as_deref()
            .or(self.spend.as_deref())
            .unwrap_or_default()
    }

    /// Bounds override for a named parameter.
    pub fn bounds_for(&self, param: &str) -> Option<[f64; 2]> {
        match param {
            "decay" => self.decay,
            "shape" => self.shape,
            "scale" => self.scale,
            "peak" => self.peak,
            "half_saturation" => self.half_saturation,
            "slope" => self.slope,
            "lambda" => self.lambda,
            _ => None,
        }
    }
}

/// How a control enters the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ControlKind {
    /// A numeric regressor (standardised).
    #[default]
    Numeric,
    /// Text levels, dummy-coded against the most frequent level.
    Categorical,
}

/// `[[controls]]` entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlSpec {
    /// Name used in outputs.
    pub name: String,
    /// Column in the data.
    pub column: String,
    /// Numeric or categorical.
    #[serde(default)]
    pub kind: ControlKind,
}

/// Trend form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TrendKind {
    /// No trend.
    None,
    /// Straight line in time.
    #[default]
    Linear,
    /// Linear with ridge-penalised slope changes at evenly spaced changepoints.
    Piecewise,
}

/// `[seasonality]` table.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeasonalitySpec {
    /// Trend form.
    #[serde(default)]
    pub trend: TrendKind,
    /// Number of changepoints for the piecewise trend (default: one per 26 periods).
    #[serde(default)]
    pub changepoints: Option<usize>,
    /// Fourier pairs of yearly seasonality.
    #[serde(default = "default_fourier")]
    pub yearly_fourier_terms: usize,
    /// Optional CSV (`date,holiday`) of event dates, one dummy per holiday name.
    #[serde(default)]
    pub holidays: Option<PathBuf>,
}

fn default_fourier() -> usize {
    2
}

impl Default for SeasonalitySpec {
    fn default() -> Self {
        SeasonalitySpec {
            trend: TrendKind::Linear,
            changepoints: None,
            yearly_fourier_terms: 2,
            holidays: None,
        }
    }
}

/// `[fit]` table: estimation settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FitSpec {
    /// Bootstrap refits for intervals (0 disables intervals).
    #[serde(default = "default_draws")]
    pub bootstrap_draws: usize,
    /// Central interval mass, e.g. 0.9.
    #[serde(default = "default_interval")]
    pub interval: f64,
    /// Multi-start count for the nonlinear search.
    #[serde(default = "default_restarts")]
    pub restarts: usize,
    /// Bootstrap block length in periods (residuals are resampled in blocks).
    #[serde(default = "default_block")]
    pub block_length: usize,
    /// Default ROI prior for paid channels without `roi_prior`: its mean is the ROI every
    /// channel would have if media drove this share of the KPI (0 disables the default).
    #[serde(default = "default_share_prior")]
    pub media_share_prior: f64,
    /// Default ROI prior sd as a multiple of its mean.
    #[serde(default = "default_prior_ratio")]
    pub roi_prior_sd_ratio: f64,
    /// Pool the default ROI prior across channels: its level (the media share it
    /// implies) is estimated from the data, with `media_share_prior` as the centre of a
    /// weak hyperprior; the spread stays `roi_prior_sd_ratio`. Off: the level is fixed at
    /// `media_share_prior`.
    #[serde(default = "default_true")]
    pub roi_pooling: bool,
    /// Integrate the linear coefficients out (Laplace approximation): the nonlinear
    /// parameters and the pooled level are fitted by their marginal posterior.
    #[serde(default = "default_true")]
    pub marginal: bool,
    /// Estimation method: `fast` (posterior mode + randomize-then-optimize bootstrap) or
    /// `bayes` (NUTS over the joint posterior).
    #[serde(default)]
    pub method: FitMethod,
    /// Geo panels: partial pooling of media effects (each geo's effect drawn around the
    /// national one with an estimated spread). `false` shares one effect across geos.
    #[serde(default = "default_true")]
    pub geo_pooling: bool,
    /// NUTS chains (`method = "bayes"`).
    #[serde(default = "default_chains")]
    pub chains: usize,
    /// NUTS warm-up iterations per chain.
    #[serde(default = "default_nuts_iters")]
    pub warmup: usize,
    /// NUTS draws per chain after warm-up.
    #[serde(default = "default_nuts_iters")]
    pub draws_per_chain: usize,
    /// NUTS: while R̂ > 1.01 or bulk ESS < 400 after the draws, every chain continues
    /// for another `draws_per_chain` draws, at most this many times (0: never).
    #[serde(default = "default_extend_draws")]
    pub extend_draws: usize,
}

/// How a fit gets its estimates and intervals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FitMethod {
    /// Marginal posterior mode, intervals from randomize-then-optimize bootstrap refits.
    #[default]
    Fast,
    /// NUTS over the joint posterior of every parameter.
    Bayes,
}

impl FitSpec {
    /// Range checks of the NUTS settings: `Err((key, message))`.
    pub fn check_sampler(&self) -> Result<(), (&'static str, String)> {
        if !(1..=MAX_CHAINS).contains(&self.chains) {
            return Err((
                "fit.chains",
                format!("must be in 1..={MAX_CHAINS}, got {}", self.chains),
            ));
        }
        if !(MIN_NUTS_DRAWS..=MAX_NUTS_ITERS).contains(&self.draws_per_chain) {
            return Err((
                "fit.draws_per_chain",
                format!(
                    "must be in {MIN_NUTS_DRAWS}..={MAX_NUTS_ITERS}, got {}",
                    self.draws_per_chain
                ),
            ));
        }
        if self.extend_draws > MAX_EXTENSIONS {
            return Err((
                "fit.extend_draws",
                format!(
                    "must be at most {MAX_EXTENSIONS}, got {}",
                    self.extend_draws
                ),
            ));
        }
        if self.warmup > MAX_NUTS_ITERS {
            return Err((
                "fit.warmup",
                format!("must be at most {MAX_NUTS_ITERS}, got {}", self.warmup),
            ));
        }
        Ok(())
    }
}

fn default_chains() -> usize {
    4
}
fn default_extend_draws() -> usize {
    3
}
fn default_nuts_iters() -> usize {
    1000
}

/// Most NUTS chains a fit may ask for.
pub const MAX_CHAINS: usize = 64;
/// Fewest NUTS draws per chain (R̂ and ESS need a few dozen).
pub const MIN_NUTS_DRAWS: usize = 20;
/// Most times NUTS chains are extended for convergence.
pub const MAX_EXTENSIONS: usize = 20;
/// Most NUTS iterations (warm-up or draws) per chain.
pub const MAX_NUTS_ITERS: usize = 100_000;

fn default_share_prior() -> f64 {
    0.15
}
fn default_prior_ratio() -> f64 {
    1.5
}

fn default_draws() -> usize {
    200
}
fn default_interval() -> f64 {
    0.9
}
fn default_restarts() -> usize {
    8
}
fn default_block() -> usize {
    4
}

impl Default for FitSpec {
    fn default() -> Self {
        FitSpec {
            bootstrap_draws: default_draws(),
            interval: default_interval(),
            restarts: default_restarts(),
            block_length: default_block(),
            media_share_prior: default_share_prior(),
            roi_prior_sd_ratio: default_prior_ratio(),
            roi_pooling: true,
            marginal: true,
            method: FitMethod::Fast,
            geo_pooling: true,
            chains: default_chains(),
            warmup: default_nuts_iters(),
            draws_per_chain: default_nuts_iters(),
            extend_draws: default_extend_draws(),
        }
    }
}

/// Most multi-start restarts a spec may ask for.
pub const MAX_RESTARTS: usize = 256;
/// Most uncertainty draws a fit may ask for.
pub const MAX_DRAWS: usize = 100_000;

/// A checked spec plus the file its relative paths are resolved against. Made only by
/// [`ValidSpec::load`], [`ValidSpec::from_str`] or [`ValidSpec::with_spec`], all of which
/// run [`Spec::check`]; estimators take only this type.
#[derive(Debug, Clone)]
pub struct ValidSpec {
    spec: Spec,
    path: PathBuf,
}

impl ValidSpec {
    /// Read, parse and check a spec file.
    pub fn load(path: &Path) -> Result<Self, SpecError> {
        let text = std::fs::read_to_string(path).map_err(|source| SpecError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_str(&text, path)
    }

    /// Parse and check spec text that came from `path`.
    pub fn from_str(text: &str, path: &Path) -> Result<Self, SpecError> {
        let spec: Spec = toml::from_str(text).map_err(|e| SpecError::Parse {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
        spec.check(path)?;
        Ok(ValidSpec {
            spec,
            path: path.to_path_buf(),
        })
    }

    /// Check a spec built in code, as if it had been read from `path` (relative paths in
    /// it resolve next to `path`).
    pub fn from_spec(spec: Spec, path: &Path) -> Result<Self, SpecError> {
        spec.check(path)?;
        Ok(ValidSpec {
            spec,
            path: path.to_path_buf(),
        })
    }

    /// The checked spec.
    pub fn spec(&self) -> &Spec {
        &self.spec
    }

    /// The spec file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Another spec resolved against the same file, checked.
    pub fn with_spec(&self, spec: Spec) -> Result<ValidSpec, SpecError> {
        spec.check(&self.path)?;
        Ok(ValidSpec {
            spec,
            path: self.path.clone(),
        })
    }

    /// Resolve a path from the spec relative to the spec file's folder.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.path.parent().unwrap_or(Path::new(".")).join(p)
        }
    }

    /// The data CSV's resolved path.
    pub fn data_path(&self) -> PathBuf {
        self.resolve(&self.spec.data.path)
    }
}

impl Spec {
    /// Check values that serde cannot: ranges, uniqueness, consistency.
    pub fn check(&self, path: &Path) -> Result<(), SpecError> {
        let err = |key: String, message: String| SpecError::Value {
            path: path.to_path_buf(),
            key,
            message,
        };
        if self.channels.is_empty() {
            return Err(err(
                "channels".into(),
                "at least one [[channels]] entry is required".into(),
            ));
        }
        let mut names = std::collections::HashSet::new();
        for (i, c) in self.channels.iter().enumerate() {
            let key = |k: &str| format!("channels[{i}].{k} ({})", c.name);
            if c.name.trim().is_empty() {
                return Err(err(key("name"), "must not be empty".into()));
            }
            if !names.insert(c.name.clone()) {
                return Err(err(key("name"), format!("duplicate name `{}`", c.name)));
            }
            if c.spend.is_none() && c.exposure.is_none() {
                return Err(err(
                    key("spend"),
                    "a channel needs `spend` (paid) or `exposure` (organic)".into(),
                ));
            }
            if c.max_lag == 0 || c.max_lag > 104 {
                return Err(err(
                    key("max_lag"),
                    format!("must be in 1..=104, got {}", c.max_lag),
                ));
            }
            for p in [
                "decay",
                "shape",
                "scale",
                "peak",
                "half_saturation",
                "slope",
                "lambda",
            ] {
                if let Some([lo, hi]) = c.bounds_for(p) {
                    let ok = lo.is_finite() && hi.is_finite() && lo <= hi && lo >= 0.0;
                    let ok = ok && (p != "decay" || hi < 1.0);
                    let ok = ok
                        && (!matches!(
                            p,
                            "shape" | "scale" | "half_saturation" | "slope" | "lambda"
                        ) || lo > 0.0);
                    if !ok {
                        return Err(err(
                            key(p),
                            format!("bounds must be [lo, hi] with 0 ≤ lo ≤ hi (positive for {p}; decay < 1), got [{lo}, {hi}]"),
                        ));
                    }
                }
            }
            if let Some(pr) = c.roi_prior {
                if !(pr.mean.is_finite() && pr.sd.is_finite() && pr.sd > 0.0) {
                    return Err(err(
                        key("roi_prior"),
                        "needs a finite mean and sd > 0".into(),
                    ));
                }
            }
        }
        for (i, c) in self.controls.iter().enumerate() {
            if !names.insert(c.name.clone()) {
                return Err(err(
                    format!("controls[{i}].name"),
                    format!("duplicate name `{}`", c.name),
                ));
            }
        }
        if let Some(r) = &self.refresh {
            r.check().map_err(|(k, m)| err(k, m))?;
        }
        if self.seasonality.yearly_fourier_terms > 10 {
            return Err(err(
                "seasonality.yearly_fourier_terms".into(),
                format!(
                    "must be at most 10, got {}",
                    self.seasonality.yearly_fourier_terms
                ),
            ));
        }
        if !(self.fit.interval > 0.0 && self.fit.interval < 1.0) {
            return Err(err(
                "fit.interval".into(),
                format!("must be in (0, 1), got {}", self.fit.interval),
            ));
        }
        if !(1..=MAX_RESTARTS).contains(&self.fit.restarts) {
            return Err(err(
                "fit.restarts".into(),
                format!("must be in 1..={MAX_RESTARTS}, got {}", self.fit.restarts),
            ));
        }
        if self.fit.bootstrap_draws > MAX_DRAWS {
            return Err(err(
                "fit.bootstrap_draws".into(),
                format!(
                    "must be at most {MAX_DRAWS}, got {}",
                    self.fit.bootstrap_draws
                ),
            ));
        }
        self.fit
            .check_sampler()
            .map_err(|(key, msg)| err(key.into(), msg))?;
        if self.fit.block_length == 0 {
            return Err(err("fit.block_length".into(), "must be at least 1".into()));
        }
        let share = self.fit.media_share_prior;
        if !(share.is_finite() && (0.0..1.0).contains(&share)) {
            return Err(err(
                "fit.media_share_prior".into(),
                format!("must be in [0, 1) (0 disables the default ROI prior), got {share}"),
            ));
        }
        let ratio = self.fit.roi_prior_sd_ratio;
        if !(ratio.is_finite() && ratio > 0.0) {
            return Err(err(
                "fit.roi_prior_sd_ratio".into(),
                format!("must be a finite number > 0, got {ratio}"),
            ));
        }
        if let (Some(s), Some(e)) = (self.data.start, self.data.end) {
            if s > e {
                return Err(err(
                    "data.start".into(),
                    format!("start {s} is after end {e}"),
                ));
            }
        }
        Ok(())
    }
}
