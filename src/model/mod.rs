//! The fitted model artifact: spec, data, transforms and coefficients (point estimate and
//! uncertainty draws), diagnostics. Serialises to `model.json`; loads back and predicts
//! identically.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::data::{Dataset, Panel};
use crate::design::Baseline;
use crate::spec::{KpiKind, Spec};
use crate::transform::{adstock::convolve, Adstock, Saturation};

mod validate;
pub use validate::{MAX_CELLS, MAX_FOURIER, MAX_LAG};

/// Artifact schema version; bump on incompatible changes.
pub const MODEL_SCHEMA_VERSION: u32 = 1;

/// Errors loading a model artifact.
#[derive(Debug, Error)]
pub enum ModelError {
    /// The file could not be read.
    #[error("cannot read model {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not a valid model artifact.
    #[error("invalid model {path}: field `{field}`: {message}")]
    Invalid {
        path: PathBuf,
        field: String,
        message: String,
    },
}

/// One channel's transforms and coefficient.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelParams {
    /// Carryover.
    pub adstock: Adstock,
    /// Diminishing returns (on input relative to the channel's scale).
    pub saturation: Saturation,
    /// Coefficient in units of the geo's mean KPI per unit of saturated input.
    pub coef: f64,
    /// Geo panels with partial pooling: each geo's effect relative to the national one
    /// (`[n_geos]`, geo g's coefficient is `coef · geo_effect[g]`); empty means 1.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub geo_effect: Vec<f64>,
}

impl ChannelParams {
    /// The coefficient in geo `g`: `coef · geo_effect[g]`.
    pub fn coef_in(&self, g: usize) -> f64 {
        self.coef * self.geo_effect.get(g).copied().unwrap_or(1.0)
    }
}

/// A full parameter set: the point estimate or one uncertainty draw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Params {
    /// Media channels in spec order.
    pub channels: Vec<ChannelParams>,
    /// Baseline coefficients in [`Baseline::columns`] order.
    pub baseline: Vec<f64>,
}

/// Fixed facts about a channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelInfo {
    /// Channel name.
    pub name: String,
    /// Whether it has spend (paid) or not (organic).
    pub paid: bool,
    /// Per geo input scale (mean non-zero input in the fit window).
    pub input_scale: Vec<f64>,
    /// The ROI prior the channel was fitted under (None: no ROI prior, e.g. organic or
    /// `media_share_prior = 0`). Absent in artifacts from before it was recorded.
    #[serde(default)]
    pub roi_prior: Option<RoiPrior>,
}

/// Where a channel's ROI prior came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PriorSource {
    /// The channel's own `roi_prior` in the spec.
    Own,
    /// The pooled prior whose level (the implied media share) was fitted with the model.
    Pooled,
    /// The fixed prior implied by `media_share_prior` (`roi_pooling = false`).
    Fixed,
}

/// A channel's ROI prior, Normal(mean, sd²) on ROI (KPI per unit of spend); for a pooled
/// prior the level at the point estimate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RoiPrior {
    /// Where it came from.
    pub source: PriorSource,
    /// Prior mean of the ROI.
    pub mean: f64,
    /// Prior standard deviation of the ROI.
    pub sd: f64,
}

/// Identifies the data a model was fitted on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// Data file path as given by the spec (resolved).
    pub path: String,
    /// FNV-1a hash of the file bytes, hex.
    pub hash: String,
    /// Periods × geos loaded.
    pub periods: usize,
    /// Geo count.
    pub geos: usize,
    /// First and last date loaded.
    pub first_date: String,
    /// Last date loaded.
    pub last_date: String,
}

/// In-sample fit quality.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitStats {
    /// Coefficient of determination.
    pub r2: f64,
    /// Mean absolute percentage error.
    pub mape: f64,
    /// RMSE / (max − min) of the KPI (Robyn's NRMSE).
    pub nrmse: f64,
    /// Durbin–Watson statistic of the residuals (2 = no autocorrelation).
    pub durbin_watson: f64,
}

/// Out-of-sample fit on held-out periods.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HoldoutStats {
    /// Number of held-out periods.
    pub periods: usize,
    /// Mean absolute percentage error on them.
    pub mape: f64,
    /// RMSE / (max − min) on them.
    pub nrmse: f64,
}

/// How the optimiser ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diagnostics {
    /// In-sample fit.
    pub fit: FitStats,
    /// Holdout fit, if any periods were held out.
    pub holdout: Option<HoldoutStats>,
    /// Final objective value.
    pub objective: f64,
    /// Restarts run and how many reached within 0.1% of the best objective.
    pub restarts: usize,
    /// Restarts that agreed with the best.
    pub restarts_agreeing: usize,
    /// Residual standard deviation, in KPI units (geo-averaged scale).
    pub sigma: f64,
    /// Bootstrap draws that failed and were dropped.
    pub failed_draws: usize,
    /// Seconds spent fitting (point + intervals).
    pub seconds: f64,
}

/// A fitted model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Model {
    /// Artifact schema version.
    pub schema_version: u32,
    /// mixcast version that wrote it.
    pub mixcast_version: String,
    /// The spec, as fitted.
    pub spec: Spec,
    /// Fingerprint of the data.
    pub data_fingerprint: Fingerprint,
    /// The data (history, fit window and holdout), so the model is self-contained.
    pub dataset: Dataset,
    /// First period of the fit window.
    pub fit_start: usize,
    /// One past the last period of the fit window (holdout follows).
    pub fit_end: usize,
    /// Per geo KPI scale: the unit the baseline is fitted in. National data and single
    /// geos: the mean KPI in the fit window; geo panels: each geo's fitted baseline level
    /// (mean KPI without media), so trend, seasonality and controls scale with the geo's
    /// baseline. Media use `effect_scale`.
    pub kpi_scale: Vec<f64>,
    /// Per channel geo spread of partial pooling (sd of the geo factors, `[channels]`);
    /// empty for national data or without pooling.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub geo_spread: Vec<f64>,
    /// Per geo KPI per unit of media coefficient, when it differs from `kpi_scale`: with
    /// a population column `κ · pop_g` (κ = KPI per capita), so one coefficient is one
    /// effect per capita in every geo. Empty means `kpi_scale`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub effect_scale: Vec<f64>,
    /// Baseline recipe.
    pub baseline: Baseline,
    /// Channel facts.
    pub channels: Vec<ChannelInfo>,
    /// Point estimate.
    pub point: Params,
    /// Uncertainty draws (bootstrap refits; posterior draws fit the same type).
    pub draws: Vec<Params>,
    /// How the draws were made (`bootstrap`).
    pub draws_method: String,
    /// Interval mass for reported intervals.
    pub interval: f64,
    /// Seed used.
    pub seed: u64,
    /// Diagnostics.
    pub diagnostics: Diagnostics,
    /// Lift tests the fit was calibrated with (see [`crate::calibration`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub experiments: Vec<crate::calibration::Experiment>,
    /// NUTS convergence (`fit --method bayes`); absent for the fast path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampler: Option<SamplerDiagnostics>,
    /// Content hash ([`Model::content_id`]); recomputed whenever a model is loaded, so an
    /// edited artifact gets its own id.
    #[serde(default)]
    pub model_id: String,
}

/// Convergence of a NUTS fit: per-parameter rank-normalised split R̂ and bulk ESS (see
/// [`crate::mcmc`]) over all chains after warm-up, and the sampler's divergences.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SamplerDiagnostics {
    /// Chains run.
    pub chains: usize,
    /// Draws per chain after warm-up (including extensions).
    pub draws_per_chain: usize,
    /// Times every chain was extended by the requested draws because R̂ or ESS missed
    /// its target (`[fit] extend_draws` at most).
    #[serde(default)]
    pub extensions: usize,
    /// Warm-up (adaptation) iterations per chain.
    pub warmup: usize,
    /// Draws kept in the artifact (all chains, evenly thinned to at most
    /// [`MAX_STORED_DRAWS`]).
    pub stored_draws: usize,
    /// Divergent transitions after warm-up (should be 0).
    pub divergences: usize,
    /// Target acceptance of the step-size adaptation of the run reported: the default, or
    /// higher when the first run had divergences and the chains were sampled again.
    #[serde(default = "default_target_accept")]
    pub target_accept: f64,
    /// Largest R̂ over parameters (should be < 1.01); null if it could not be computed.
    pub rhat_max: Option<f64>,
    /// Smallest bulk ESS over parameters (should be ≥ 100 per chain); null likewise.
    pub ess_bulk_min: Option<f64>,
    /// Adapted step size per chain.
    pub step_size: Vec<f64>,
    /// Gradient evaluations over all chains (with a second, careful run: both runs).
    pub gradient_evals: u64,
    /// Per sampled parameter (unconstrained scale; R̂ and ESS are rank-based, so they hold
    /// on any monotone scale).
    pub parameters: Vec<ParamConvergence>,
}

/// Target acceptance of artifacts written before it was recorded.
fn default_target_accept() -> f64 {
    0.95
}

/// Posterior draws stored in a model artifact at most (scenarios, curves and the
/// optimizer evaluate every stored draw; more adds time, not accuracy).
pub const MAX_STORED_DRAWS: usize = 1000;

/// Convergence of one parameter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParamConvergence {
    /// `channel.param`, a baseline column, `channel.coef`, `media_share_level` or `sigma`.
    pub name: String,
    /// Rank-normalised split R̂.
    pub rhat: Option<f64>,
    /// Bulk effective sample size.
    pub ess_bulk: Option<f64>,
}

/// Which model produced an output: every JSON document about a model carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lineage {
    /// Content hash of the model (FNV-1a 64 of its compact JSON), hex.
    pub model_id: String,
    /// Hash of the data file it was fitted on, hex.
    pub data_hash: String,
    /// mixcast version that wrote the model.
    pub mixcast_version: String,
}

impl Model {
    /// KPI per unit of media coefficient in geo `g` (see `effect_scale`).
    pub fn effect_scale(&self, g: usize) -> f64 {
        self.effect_scale
            .get(g)
            .copied()
            .unwrap_or(self.kpi_scale[g])
    }

    /// The content hash of the model: FNV-1a 64 of its compact JSON without `model_id`
    /// itself and without the fit's wall-clock time, so two fits with the same inputs and
    /// seed get the same id, and a model loaded back keeps it.
    pub fn content_id(&self) -> String {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            o.remove("model_id");
        }
        if let Some(d) = v.get_mut("diagnostics").and_then(|d| d.as_object_mut()) {
            d.remove("seconds");
        }
        let bytes = serde_json::to_vec(&v).unwrap_or_default();
        format!("{:016x}", crate::io::fnv1a(&bytes))
    }

    /// The model's lineage (its id is set when it is fitted or loaded; see
    /// [`Model::content_id`]).
    pub fn lineage(&self) -> Lineage {
        Lineage {
            model_id: self.model_id.clone(),
            data_hash: self.data_fingerprint.hash.clone(),
            mixcast_version: self.mixcast_version.clone(),
        }
    }

    /// Load a model artifact.
    pub fn load(path: &Path) -> Result<Model, ModelError> {
        let text = std::fs::read_to_string(path).map_err(|source| ModelError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let m: Model = serde_json::from_str(&text).map_err(|e| ModelError::Invalid {
            path: path.to_path_buf(),
            field: format!("line {}, column {}", e.line(), e.column()),
            message: e.to_string(),
        })?;
        let mut m = m;
        validate::check(&m).map_err(|(field, message)| ModelError::Invalid {
            path: path.to_path_buf(),
            field,
            message,
        })?;
        m.model_id = m.content_id();
        Ok(m)
    }

    /// Names of the paid channels, in model order.
    pub fn paid_channel_names(&self) -> Vec<&str> {
        self.channels
            .iter()
            .filter(|c| c.paid)
            .map(|c| c.name.as_str())
            .collect()
    }

    /// KPI kind of the spec.
    pub fn kpi_kind(&self) -> KpiKind {
        self.spec.data.kpi_kind
    }

    /// Channel `c`'s contribution in KPI units for every geo and period, given its input
    /// series (`[geo][period]`, same periods as the dataset).
    pub fn channel_contribution(&self, p: &ChannelParams, c: usize, input: &Panel) -> Panel {
        let mut out = Panel::zeros(input.n_geos, input.n_periods);
        let w = p.adstock.weights();
        for g in 0..input.n_geos {
            let o = out.series_mut(g);
            convolve(input.series(g), &w, o);
            let inv = 1.0 / self.channels[c].input_scale[g];
            let k = p.coef_in(g) * self.effect_scale(g);
            p.saturation.apply_scaled(o, inv, k);
        }
        out
    }

    /// Baseline components by decomposition group, each `[geo][period]`, in KPI units.
    pub fn baseline_components(&self, p: &Params, ds: &Dataset) -> Vec<(String, Panel)> {
        let mut groups: Vec<String> = Vec::new();
        for c in &self.baseline.columns {
            if !groups.contains(&c.group) {
                groups.push(c.group.clone());
            }
        }
        let gi: Vec<usize> = self
            .baseline
            .columns
            .iter()
            .map(|c| groups.iter().position(|g| *g == c.group).unwrap_or(0))
            .collect();
        let mut out: Vec<(String, Panel)> = groups
            .iter()
            .map(|g| (g.clone(), Panel::zeros(ds.n_geos(), ds.n_periods())))
            .collect();
        let mut row = vec![0.0; self.baseline.n_columns()];
        for g in 0..ds.n_geos() {
            for t in 0..ds.n_periods() {
                self.baseline.row(ds, g, t, &mut row);
                for (j, x) in row.iter().enumerate() {
                    let v = p.baseline[j] * x * self.kpi_scale[g];
                    out[gi[j]].1.values[g * ds.n_periods() + t] += v;
                }
            }
        }
        out
    }

    /// Fitted KPI for every geo and period of `ds` under `p`.
    pub fn predict(&self, p: &Params, ds: &Dataset) -> Panel {
        let mut total = Panel::zeros(ds.n_geos(), ds.n_periods());
        for (_, comp) in self.baseline_components(p, ds) {
            total
                .values
                .iter_mut()
                .zip(&comp.values)
                .for_each(|(a, b)| *a += b);
        }
        for (c, cp) in p.channels.iter().enumerate() {
            let contrib = self.channel_contribution(cp, c, &ds.channels[c].input);
            total
                .values
                .iter_mut()
                .zip(&contrib.values)
                .for_each(|(a, b)| *a += b);
        }
        total
    }
}
