//! One answer from three methods: the MMM, touch attribution and lift tests, reconciled per
//! channel and split down to campaigns.
//!
//! Every channel of either side gets an entry:
//! - the MMM's incremental contribution and ROI with their intervals;
//! - each attribution model's credit, in the KPI's units (`value` for a revenue KPI,
//!   `conversions` for a conversions KPI);
//! - the **incrementality factor** `contribution / attributed` per attribution model, the
//!   practitioner's multiplier from attributed to incremental credit, with the interval
//!   `contribution_interval / attributed`;
//! - the latest lift test of the channel checked against the model;
//! - `agreement`: `agree` when the reference model's attributed figure lies inside the MMM
//!   contribution interval, `disagree` when outside, `mmm_only` / `attribution_only`.
//!
//! **Combined ROI.** Per paid channel, `θ = ln ROI` has up to three measurements:
//! - the MMM: a two-piece normal with its mode at `ln ROI` and each side's sd from that
//!   side of the interval (`(ln hi − ln ROI) / z`, `(ln ROI − ln lo) / z`), so an interval
//!   reaching zero stays informative above;
//! - a lift test the fit did not use: `ln(ROI_mmm · lift / implied)` with sd `se / lift`
//!   (the model's shape, the test's level). Tests the fit was calibrated with are already
//!   in the MMM and are not counted twice;
//! - attribution, `a = ln(attributed / spend)`, through a bias model
//!   `a − θ ~ Cauchy(b, τ)`: `b` is the attribution's common scale against the truth
//!   (journeys cover a sample of customers, another period), `τ` its channel-to-channel
//!   spread (tracking loss, retargeting shown to people who would convert anyway), with
//!   heavy tails because some channels' attribution is far off. `(b, τ)` live on a grid
//!   (flat prior on `b`, lognormal prior on `τ` with median 1); each channel's posterior
//!   weighs the grid by the other channels' marginal likelihoods (leave-one-out), so a
//!   channel cannot vouch for its own attribution. Needs ≥ 3 channels on both sides.
//!
//! The posterior of `θ` is evaluated on a grid; the combined ROI is its median and the
//! interval its central quantiles.
//!
//! **Campaigns.** Each MMM channel's point contribution is split across the campaigns its
//! attribution channels carried, in proportion to the reference model's campaign credit;
//! the campaigns of a channel sum to its contribution. A campaign's cost is the channel's
//! MMM spend times the campaign's share of the channel's journey cost, so its ROI (or CPA)
//! is in the MMM window's terms.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::analysis::{self, ChannelSummary, ExperimentCheck, Summary};
use crate::attribution::{Credit, Report as AttributionReport};
use crate::calibration::{Experiment, ExperimentError};
use crate::mcmc::normal_quantile;
use crate::spec::KpiKind;
use crate::Model;

/// Errors reading the combination's inputs.
#[derive(Debug, Error)]
pub enum CombineError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The attribution document is not a valid `attribute --json` document.
    #[error("{path}: {field}: {message}")]
    Attribution {
        path: PathBuf,
        field: String,
        message: String,
    },
    /// A bad channel-map row.
    #[error("{path}, row {row}{}: {message}", if column.is_empty() { String::new() } else { format!(", column `{column}`") })]
    Map {
        path: PathBuf,
        row: u64,
        column: String,
        message: String,
    },
    /// Bad lift tests.
    #[error(transparent)]
    Experiments(#[from] ExperimentError),
    /// A bad request (unknown reference model).
    #[error("{0}")]
    Request(String),
}

/// The `--channel-map` file: attribution channel → MMM channel (many to one).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChannelMap {
    /// `(mmm_channel, attribution_channel)` pairs in file order, without repeats.
    pub pairs: Vec<(String, String)>,
}

impl ChannelMap {
    /// Read a CSV `mmm_channel,attribution_channel`. Every MMM channel must be one of
    /// `mmm_channels`; an attribution channel may map to one MMM channel only.
    pub fn read(path: &Path, mmm_channels: &[String]) -> Result<ChannelMap, CombineError> {
        let text = std::fs::read_to_string(path).map_err(|source| CombineError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        ChannelMap::parse(&text, path, mmm_channels)
    }

    /// [`ChannelMap::read`] on CSV text (`path` only names the source in errors).
    pub fn parse(
        text: &str,
        path: &Path,
        mmm_channels: &[String],
    ) -> Result<ChannelMap, CombineError> {
        let bad = |row: u64, column: &str, message: String| CombineError::Map {
            path: path.to_path_buf(),
            row,
            column: column.to_string(),
            message,
        };
        let mut rdr = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        let header: Vec<String> = rdr
            .headers()
            .map_err(|e| bad(1, "", format!("malformed CSV: {e}")))?
            .iter()
            .map(str::to_string)
            .collect();
        let col = |name: &str| {
            header.iter().position(|h| h == name).ok_or_else(|| {
                bad(
                    1,
                    name,
                    format!(
                        "missing column; expected mmm_channel,attribution_channel, got {}",
                        header.join(",")
                    ),
                )
            })
        };
        let (mi, ai) = (col("mmm_channel")?, col("attribution_channel")?);
        let mut pairs: Vec<(String, String)> = Vec::new();
        let mut owner: BTreeMap<String, (String, u64)> = BTreeMap::new();
        for (i, rec) in rdr.records().enumerate() {
            let row = i as u64 + 2;
            let rec = rec.map_err(|e| bad(row, "", format!("malformed CSV: {e}")))?;
            let cell = |j: usize, name: &str| -> Result<String, CombineError> {
                let v = rec.get(j).unwrap_or("").to_string();
                if v.is_empty() {
                    return Err(bad(row, name, "empty name".into()));
                }
                Ok(v)
            };
            let (m, a) = (cell(mi, "mmm_channel")?, cell(ai, "attribution_channel")?);
            if !mmm_channels.contains(&m) {
                return Err(bad(
                    row,
                    "mmm_channel",
                    format!(
                        "`{m}` is not a channel of the model (channels: {})",
                        mmm_channels.join(", ")
                    ),
                ));
            }
            match owner.get(&a) {
                Some((prev, _)) if *prev == m => continue,
                Some((prev, prow)) => {
                    return Err(bad(
                        row,
                        "attribution_channel",
                        format!("`{a}` is already mapped to `{prev}` on row {prow}; an attribution channel maps to one MMM channel"),
                    ))
                }
                None => {
                    owner.insert(a.clone(), (m.clone(), row));
                    pairs.push((m, a));
                }
            }
        }
        if pairs.is_empty() {
            return Err(bad(1, "", "no mapping rows".into()));
        }
        Ok(ChannelMap { pairs })
    }

    /// The MMM channel an attribution channel maps to.
    fn target<'a>(&'a self, attribution_channel: &str) -> Option<&'a str> {
        self.pairs
            .iter()
            .find(|(_, a)| a == attribution_channel)
            .map(|(m, _)| m.as_str())
    }
}

/// Load an `attribute --json` document, checked: schema version 1, at least one model,
/// finite non-negative credit and shares in [0, 1]. Errors name the field.
pub fn load_attribution(path: &Path) -> Result<AttributionReport, CombineError> {
    let text = std::fs::read_to_string(path).map_err(|source| CombineError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_attribution(&text, path)
}

/// [`load_attribution`] on JSON text.
pub fn parse_attribution(text: &str, path: &Path) -> Result<AttributionReport, CombineError> {
    let bad = |field: String, message: String| CombineError::Attribution {
        path: path.to_path_buf(),
        field,
        message,
    };
    let r: AttributionReport = serde_json::from_str(text).map_err(|e| {
        bad(
            format!("line {}, column {}", e.line(), e.column()),
            format!("not an `attribute --json` document: {e}"),
        )
    })?;
    if r.schema_version != 1 {
        return Err(bad(
            "schema_version".into(),
            format!("is {}, this mixcast reads version 1", r.schema_version),
        ));
    }
    if r.models.is_empty() {
        return Err(bad("models".into(), "no attribution model in it".into()));
    }
    let check = |field: String, c: &Credit| -> Result<(), CombineError> {
        let nonneg = |name: &str, v: f64| {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(bad(
                    format!("{field}.{name}"),
                    format!("must be a finite number ≥ 0, got {v}"),
                ))
            }
        };
        nonneg("conversions", c.conversions)?;
        nonneg("value", c.value)?;
        if let Some(cost) = c.cost {
            nonneg("cost", cost)?;
        }
        if !(c.share.is_finite() && (0.0..=1.0 + 1e-9).contains(&c.share)) {
            return Err(bad(
                format!("{field}.share"),
                format!("must lie in [0, 1], got {}", c.share),
            ));
        }
        if c.name.is_empty() {
            return Err(bad(format!("{field}.name"), "empty name".into()));
        }
        Ok(())
    };
    let mut seen_models = Vec::new();
    for (i, m) in r.models.iter().enumerate() {
        if seen_models.contains(&&m.model) {
            return Err(bad(
                format!("models[{i}].model"),
                format!("`{}` appears twice", m.model),
            ));
        }
        seen_models.push(&m.model);
        let mut names = Vec::new();
        for (j, c) in m.channels.iter().enumerate() {
            check(format!("models[{i}].channels[{j}]"), c)?;
            if names.contains(&&c.name) {
                return Err(bad(
                    format!("models[{i}].channels[{j}].name"),
                    format!("`{}` appears twice", c.name),
                ));
            }
            names.push(&c.name);
        }
        for (j, c) in m.campaigns.iter().enumerate() {
            check(format!("models[{i}].campaigns[{j}]"), c)?;
        }
    }
    Ok(r)
}

/// How an attribution report becomes ROI priors.
#[derive(Debug, Clone, PartialEq)]
pub struct PriorSettings {
    /// Attribution model (default: `shapley` when present, else the first).
    pub model: Option<String>,
    /// Multiplier on the attributed ROAS.
    pub discount: f64,
    /// Prior sd as a multiple of the prior mean.
    pub sd_ratio: f64,
}

/// The attribution model read when none is named: `shapley` when present, else the
/// first (a checked report has at least one).
fn default_reference(report: &AttributionReport) -> &crate::attribution::ModelResult {
    report
        .models
        .iter()
        .find(|m| m.model == "shapley")
        .unwrap_or(&report.models[0])
}

/// ROI priors by channel name.
pub type NamedPriors = Vec<(String, crate::spec::Prior)>;

/// Attribution-informed ROI priors: per paid channel the attribution names (exact names),
/// `Normal(mean = ROAS × discount, sd = mean × sd_ratio)`, where ROAS is the model's
/// attributed KPI per unit of the channel's journey cost: Shapley's incremental
/// conversions (at the mean conversion value for a revenue KPI), other models' credited
/// conversions or value. Channels without journey costs or credit get none (warned).
/// `spend` names the model's channels with their spend; unpaid ones are skipped.
pub fn attribution_priors(
    report: &AttributionReport,
    path: &Path,
    kind: KpiKind,
    spend: &[(String, f64)],
    settings: &PriorSettings,
) -> Result<(NamedPriors, Vec<String>), CombineError> {
    let bad = |field: &str, message: String| CombineError::Attribution {
        path: path.to_path_buf(),
        field: field.to_string(),
        message,
    };
    if !(settings.discount.is_finite() && settings.discount > 0.0) {
        return Err(bad(
            "calibration.attribution_discount",
            format!("must be a number > 0, got {}", settings.discount),
        ));
    }
    if !(settings.sd_ratio.is_finite() && settings.sd_ratio > 0.0) {
        return Err(bad(
            "calibration.attribution_sd_ratio",
            format!("must be a number > 0, got {}", settings.sd_ratio),
        ));
    }
    let model = match &settings.model {
        Some(name) => report
            .models
            .iter()
            .find(|m| &m.model == name)
            .ok_or_else(|| bad("models", format!("has no `{name}` model")))?,
        None => default_reference(report),
    };
    let value_per_conversion = if report.conversions > 0.0 {
        report.value / report.conversions
    } else {
        0.0
    };
    let mut priors = Vec::new();
    let mut skipped = Vec::new();
    for (name, s) in spend {
        if *s <= 0.0 {
            continue;
        }
        let Some(c) = model.channels.iter().find(|c| &c.name == name) else {
            continue;
        };
        let attributed = match c.incremental_conversions {
            Some(inc) => match kind {
                KpiKind::Revenue => inc * value_per_conversion,
                KpiKind::Conversions => inc,
            },
            None => in_kpi_units(kind, c.conversions, c.value),
        };
        match c.cost {
            Some(cost) if cost > 0.0 && attributed > 0.0 => {
                let mean = attributed / cost * settings.discount;
                priors.push((
                    name.clone(),
                    crate::spec::Prior {
                        mean,
                        sd: mean * settings.sd_ratio,
                    },
                ));
            }
            _ => skipped.push(name.clone()),
        }
    }
    let mut warnings = Vec::new();
    if !skipped.is_empty() {
        warnings.push(format!(
            "{}: no attribution prior for {} (no journey cost or no positive credit under `{}`)",
            path.display(),
            skipped.join(", "),
            model.model
        ));
    }
    if priors.is_empty() {
        warnings.push(format!(
            "{}: no channel of the model has an attribution prior",
            path.display()
        ));
    }
    Ok((priors, warnings))
}

/// What `combine` is asked to do.
#[derive(Debug, Clone)]
pub struct CombineRequest {
    /// Attribution channel → MMM channel; `None`: names match exactly.
    pub map: Option<ChannelMap>,
    /// Lift tests to check the model against (beyond those it was fitted with).
    pub experiments: Vec<Experiment>,
    /// The attribution model behind agreement, the combined ROI and the campaign split;
    /// `None`: `shapley` when present, else the first model.
    pub reference: Option<String>,
}

/// The MMM's figures for a channel.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MmmFigures {
    /// Spend in the fit window.
    pub spend: f64,
    /// Incremental contribution in the fit window.
    pub contribution: f64,
    /// Its interval.
    pub contribution_interval: [f64; 2],
    /// Contribution / spend (null for organic channels).
    pub roi: Option<f64>,
    /// Its interval.
    pub roi_interval: Option<[f64; 2]>,
}

/// One attribution model's credit for a channel (summed over the attribution channels
/// mapped to it).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AttributedFigures {
    /// Credited conversions.
    pub conversions: f64,
    /// Credited value.
    pub value: f64,
    /// Share of the model's credit.
    pub share: f64,
}

/// Incremental ÷ attributed, with the MMM interval carried through.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Factor {
    /// `contribution / attributed`.
    pub value: f64,
    /// `contribution_interval / attributed`.
    pub interval: [f64; 2],
}

/// How the MMM and the reference attribution model compare for a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Agreement {
    /// The attributed figure lies inside the MMM contribution interval.
    Agree,
    /// It lies outside.
    Disagree,
    /// Only the MMM has the channel.
    MmmOnly,
    /// Only the attribution has the channel.
    AttributionOnly,
}

/// Weights of the measurements in a combined estimate (sum to 1).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Weights {
    /// The MMM.
    pub mmm: f64,
    /// Attribution, rescaled.
    pub attribution: f64,
    /// A lift test the fit did not use.
    pub experiment: f64,
}

/// The pooled estimate of a paid channel's ROI.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CombinedEstimate {
    /// Combined ROI (KPI per unit of spend).
    pub roi: f64,
    /// Its interval.
    pub roi_interval: [f64; 2],
    /// `roi × spend`.
    pub contribution: f64,
    /// Its interval.
    pub contribution_interval: [f64; 2],
    /// How much each measurement counted.
    pub weights: Weights,
}

/// One channel of either side.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CombinedChannel {
    /// MMM channel name, or the attribution channel's for attribution-only channels.
    pub name: String,
    /// Attribution channels counted for it.
    pub attribution_channels: Vec<String>,
    /// MMM figures.
    pub mmm: Option<MmmFigures>,
    /// Per attribution model.
    pub attribution: Option<BTreeMap<String, AttributedFigures>>,
    /// Latest lift test of the channel, against the model.
    pub experiment: Option<ExperimentCheck>,
    /// Per attribution model: incremental ÷ attributed.
    pub incrementality_factor: BTreeMap<String, Factor>,
    /// MMM vs the reference attribution model.
    pub agreement: Agreement,
    /// Pooled ROI of MMM, attribution and lift test (paid channels on the MMM side).
    pub combined: Option<CombinedEstimate>,
}

/// A campaign's share of its channel's incremental contribution.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CampaignCredit {
    /// MMM channel.
    pub channel: String,
    /// Campaign.
    pub campaign: String,
    /// The attribution channel its touches came through.
    pub attribution_channel: String,
    /// `channel contribution × share`.
    pub incremental_contribution: f64,
    /// Revenue KPI: contribution / cost (null without journey costs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incremental_roi: Option<f64>,
    /// Conversions KPI: cost / contribution (null without costs or contribution).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incremental_cpa: Option<f64>,
    /// Share of the channel's attribution credit.
    pub share: f64,
    /// The channel's MMM spend × the campaign's share of the channel's journey cost.
    pub cost: Option<f64>,
}

/// The `combine --json` document.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Combination {
    /// Schema version.
    pub schema_version: u32,
    /// The model combined.
    pub model: crate::model::Lineage,
    /// Revenue or conversions: which attributed figure is in KPI units.
    pub kpi_kind: KpiKind,
    /// The attribution model behind agreement, combined ROI and campaign splits.
    pub reference_model: String,
    /// Interval mass.
    pub interval: f64,
    /// The attribution's common scale against the MMM, `exp(b)`: attributed ÷
    /// incremental for a typical channel (null with fewer than 3 channels on both sides).
    pub attribution_scale: Option<f64>,
    /// The robust spread `τ` of channels' log attribution-to-MMM ratios beyond the MMM's
    /// noise: how far attribution departs from incrementality channel by channel.
    pub attribution_spread: Option<f64>,
    /// The share of the KPI in the fit window that the MMM gives to neither of the
    /// channels the attribution tracks (baseline, offline and untracked channels): the
    /// organic share to give `attribute --organic-share` for journeys from the same
    /// customers.
    pub organic_share: Option<f64>,
    /// Every channel of either side.
    pub channels: Vec<CombinedChannel>,
    /// Campaign splits of each channel's incremental contribution.
    pub campaigns: Vec<CampaignCredit>,
    /// What the reader should know: unmatched channels, tests outside the window.
    pub warnings: Vec<String>,
}

/// The attributed figure in KPI units.
fn in_kpi_units(kind: KpiKind, conversions: f64, value: f64) -> f64 {
    match kind {
        KpiKind::Revenue => value,
        KpiKind::Conversions => conversions,
    }
}

/// Combine a fitted model with an attribution report (see the module docs).
pub fn combine(
    model: &Model,
    attribution: &AttributionReport,
    req: &CombineRequest,
) -> Result<Combination, CombineError> {
    let summary = analysis::summarize(model);
    let kind = model.kpi_kind();
    let reference = match &req.reference {
        Some(r) => {
            if !attribution.models.iter().any(|m| &m.model == r) {
                return Err(CombineError::Request(format!(
                    "attribution model `{r}` is not in the attribution report (it has: {})",
                    attribution
                        .models
                        .iter()
                        .map(|m| m.model.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            r.clone()
        }
        None => default_reference(attribution).model.clone(),
    };
    let mut warnings = Vec::new();
    // Attribution channels in order of first appearance over the models.
    let mut attr_names: Vec<String> = Vec::new();
    for m in &attribution.models {
        for c in &m.channels {
            if !attr_names.contains(&c.name) {
                attr_names.push(c.name.clone());
            }
        }
    }
    let target = |a: &str| -> Option<String> {
        match &req.map {
            Some(map) => map.target(a).map(str::to_string),
            None => summary
                .channels
                .iter()
                .any(|c| c.name == a)
                .then(|| a.to_string()),
        }
    };
    if let Some(map) = &req.map {
        for (_, a) in &map.pairs {
            if !attr_names.contains(a) {
                warnings.push(format!(
                    "channel map: attribution channel `{a}` has no credit in the attribution report"
                ));
            }
        }
    }
    let checks = experiment_checks(model, &req.experiments);
    let mut channels: Vec<CombinedChannel> = summary
        .channels
        .iter()
        .map(|c| {
            let sources: Vec<String> = attr_names
                .iter()
                .filter(|a| target(a).as_deref() == Some(c.name.as_str()))
                .cloned()
                .collect();
            let mmm = MmmFigures {
                spend: c.spend,
                contribution: c.contribution,
                contribution_interval: c.contribution_interval,
                roi: c.roi,
                roi_interval: c.roi_interval,
            };
            entry(
                c.name.clone(),
                Some(mmm),
                sources,
                attribution,
                kind,
                &reference,
            )
        })
        .collect();
    for a in &attr_names {
        if target(a).is_none() {
            channels.push(entry(
                a.clone(),
                None,
                vec![a.clone()],
                attribution,
                kind,
                &reference,
            ));
        }
    }
    for ch in channels.iter_mut() {
        ch.experiment = checks
            .iter()
            .filter(|(e, _)| e.channel == ch.name)
            .max_by_key(|(e, _)| e.end.clone())
            .map(|(e, _)| e.clone());
    }
    let labels = |a: Agreement| {
        channels
            .iter()
            .filter(|c| c.agreement == a)
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
    };
    let (mmm_only, attr_only) = (
        labels(Agreement::MmmOnly),
        labels(Agreement::AttributionOnly),
    );
    if !attr_only.is_empty() {
        warnings.push(format!(
            "attribution channels with no MMM channel (give --channel-map to match them): {}",
            attr_only.join(", ")
        ));
    }
    if !mmm_only.is_empty() {
        warnings.push(format!(
            "MMM channels without attribution credit (offline or untracked): {}",
            mmm_only.join(", ")
        ));
    }
    let z = normal_quantile(0.5 + model.interval / 2.0);
    let own_tests: Vec<&ExperimentCheck> = checks
        .iter()
        .filter(|(_, in_fit)| *in_fit)
        .map(|(e, _)| e)
        .collect();
    let measured: Vec<Measured> = channels
        .iter()
        .enumerate()
        .filter_map(|(i, c)| Measured::of(i, c, &reference, kind, &own_tests, z))
        .collect();
    let with_attribution = measured.iter().filter(|m| m.a.is_some()).count();
    let bias = if with_attribution >= 3 {
        Some(BiasPosterior::estimate(&measured))
    } else {
        warnings.push(
            "fewer than 3 paid channels have both MMM and attribution figures: the attribution's scale cannot be calibrated, so the combined ROI uses the MMM and lift tests only".into(),
        );
        None
    };
    for m in &measured {
        channels[m.idx].combined = Some(m.combined(
            bias.as_ref(),
            channels[m.idx].mmm.as_ref().map_or(0.0, |f| f.spend),
            model.interval,
        ));
    }
    let campaigns = campaign_split(&summary, attribution, &reference, kind, &target);
    let kpi_total = model.dataset.kpi.sum_over(model.fit_start..model.fit_end);
    let tracked: f64 = channels
        .iter()
        .filter(|c| c.attribution.is_some())
        .filter_map(|c| c.mmm.as_ref().map(|m| m.contribution))
        .sum();
    let organic_share =
        (kpi_total > 0.0 && tracked > 0.0).then(|| (1.0 - tracked / kpi_total).clamp(0.0, 1.0));
    Ok(Combination {
        schema_version: 1,
        model: model.lineage(),
        kpi_kind: kind,
        reference_model: reference,
        interval: model.interval,
        attribution_scale: bias.as_ref().map(|p| p.b_hat.exp()),
        attribution_spread: bias.as_ref().map(|p| p.tau_hat),
        organic_share,
        channels,
        campaigns,
        warnings,
    })
}

/// The model's own lift tests and the extra ones, each checked against the model, with
/// whether the fit used it.
fn experiment_checks(model: &Model, extra: &[Experiment]) -> Vec<(ExperimentCheck, bool)> {
    let own = analysis::experiment_checks(model, &model.experiments);
    let more = analysis::experiment_checks(model, extra);
    own.into_iter()
        .map(|e| (e, true))
        .chain(more.into_iter().map(|e| (e, false)))
        .collect()
}

/// A channel's entry before the combined estimate.
fn entry(
    name: String,
    mmm: Option<MmmFigures>,
    sources: Vec<String>,
    attribution: &AttributionReport,
    kind: KpiKind,
    reference: &str,
) -> CombinedChannel {
    let mut per_model = BTreeMap::new();
    for m in &attribution.models {
        let credits: Vec<&Credit> = m
            .channels
            .iter()
            .filter(|c| sources.contains(&c.name))
            .collect();
        if credits.is_empty() {
            continue;
        }
        per_model.insert(
            m.model.clone(),
            AttributedFigures {
                conversions: credits.iter().map(|c| c.conversions).sum(),
                value: credits.iter().map(|c| c.value).sum(),
                share: credits.iter().map(|c| c.share).sum(),
            },
        );
    }
    let mut factors = BTreeMap::new();
    if let Some(mm) = &mmm {
        for (model, a) in &per_model {
            let attributed = in_kpi_units(kind, a.conversions, a.value);
            if attributed > 0.0 {
                factors.insert(
                    model.clone(),
                    Factor {
                        value: mm.contribution / attributed,
                        interval: [
                            mm.contribution_interval[0] / attributed,
                            mm.contribution_interval[1] / attributed,
                        ],
                    },
                );
            }
        }
    }
    let agreement = match (&mmm, per_model.get(reference)) {
        (Some(_), None) => Agreement::MmmOnly,
        (None, _) => Agreement::AttributionOnly,
        (Some(mm), Some(a)) => {
            let x = in_kpi_units(kind, a.conversions, a.value);
            let [lo, hi] = mm.contribution_interval;
            if x >= lo && x <= hi {
                Agreement::Agree
            } else {
                Agreement::Disagree
            }
        }
    };
    CombinedChannel {
        name,
        attribution_channels: if per_model.is_empty() {
            Vec::new()
        } else {
            sources
        },
        mmm,
        attribution: (!per_model.is_empty()).then_some(per_model),
        experiment: None,
        incrementality_factor: factors,
        agreement,
        combined: None,
    }
}

/// The MMM's measurement of `θ = ln ROI`: a two-piece normal with its mode at the point
/// estimate and each side's sd from that side of the interval, `(ln hi − ln roi) / z` and
/// `(ln roi − ln lo) / z` (lower end floored at roi / 100). An interval reaching zero is
/// vague below and still informative above; a symmetric normal would lose the upper
/// bound. `None` unless ROI > 0.
fn mmm_log_roi(m: &MmmFigures, z: f64) -> Option<TwoPiece> {
    let roi = m.roi.filter(|r| *r > 0.0 && m.spend > 0.0)?;
    let [lo, hi] = m.roi_interval.unwrap_or([roi, roi]);
    let lo = lo.clamp(roi / 100.0, roi);
    let hi = hi.max(roi);
    Some(TwoPiece {
        mode: roi.ln(),
        lower: ((roi.ln() - lo.ln()) / z).max(1e-3),
        upper: ((hi.ln() - roi.ln()) / z).max(1e-3),
    })
}

/// A two-piece normal log density (up to a constant).
#[derive(Debug, Clone, Copy)]
struct TwoPiece {
    mode: f64,
    lower: f64,
    upper: f64,
}

impl TwoPiece {
    fn log_density(&self, x: f64) -> f64 {
        let sd = if x < self.mode {
            self.lower
        } else {
            self.upper
        };
        -0.5 * ((x - self.mode) / sd).powi(2)
    }

    /// The geometric mean of the two sds.
    fn sd(&self) -> f64 {
        (self.lower * self.upper).sqrt()
    }
}

/// `ln(attributed / spend)` under the reference model, in KPI units.
fn attributed_log_roi(c: &CombinedChannel, reference: &str, kind: KpiKind) -> Option<f64> {
    let m = c.mmm.as_ref()?;
    let a = c.attribution.as_ref()?.get(reference)?;
    let x = in_kpi_units(kind, a.conversions, a.value);
    (x > 0.0 && m.spend > 0.0).then(|| (x / m.spend).ln())
}

/// Degrees of freedom of the attribution-bias distribution: heavy tails, because some
/// channels' attribution is far off (retargeting, branded search) while most are near.
const BIAS_DF: f64 = 1.0;

/// Prior on the attribution's channel-to-channel bias spread `τ` (log scale): median 1.0
/// (attributed ÷ incremental typically within ×0.3–×3 across channels), log-sd 0.3.
const TAU_PRIOR: [f64; 2] = [1.0, 0.3];

/// Points of the `θ` grid.
const THETA_POINTS: usize = 240;

/// One paid channel's measurements of `θ = ln ROI`.
struct Measured {
    /// Index into the channel list.
    idx: usize,
    /// The MMM.
    mmm: TwoPiece,
    /// A lift test the fit did not use: `ln(ROI · lift / implied)` and its sd.
    test: Option<(f64, f64)>,
    /// `ln(attributed / spend)`.
    a: Option<f64>,
    /// The `θ` grid covering the MMM and test measurements (and the attribution's reach).
    grid: Vec<f64>,
}

impl Measured {
    fn of(
        idx: usize,
        c: &CombinedChannel,
        reference: &str,
        kind: KpiKind,
        used_in_fit: &[&ExperimentCheck],
        z: f64,
    ) -> Option<Measured> {
        let mmm = mmm_log_roi(c.mmm.as_ref()?, z)?;
        let test = c
            .experiment
            .as_ref()
            .filter(|e| {
                let own = used_in_fit
                    .iter()
                    .any(|u| u.start == e.start && u.end == e.end && u.channel == e.channel);
                !own && e.lift > 0.0 && e.implied > 0.0
            })
            .map(|e| (mmm.mode + (e.lift / e.implied).ln(), e.se / e.lift));
        let a = attributed_log_roi(c, reference, kind);
        let mut lo = mmm.mode - 6.0 * mmm.lower;
        let mut hi = mmm.mode + 6.0 * mmm.upper;
        if let Some((t, st)) = test {
            lo = lo.min(t - 6.0 * st);
            hi = hi.max(t + 6.0 * st);
        }
        if let Some(a) = a {
            lo = lo.min(a - 6.0);
            hi = hi.max(a + 6.0);
        }
        let grid = (0..THETA_POINTS)
            .map(|j| lo + (hi - lo) * j as f64 / (THETA_POINTS - 1) as f64)
            .collect();
        Some(Measured {
            idx,
            mmm,
            test,
            a,
            grid,
        })
    }

    /// Log density of the MMM and test measurements at `θ`.
    fn log_direct(&self, theta: f64) -> f64 {
        self.mmm.log_density(theta)
            + self
                .test
                .map_or(0.0, |(t, st)| -0.5 * ((theta - t) / st).powi(2))
    }

    /// The posterior of `θ` on the grid: the direct measurements times, with attribution,
    /// `Σ_{b,τ} w₋(b, τ) t(a − θ; b, τ)` (the other channels' evidence on the bias).
    fn combined(&self, bias: Option<&BiasPosterior>, spend: f64, mass: f64) -> CombinedEstimate {
        let w = bias.map(|bp| bp.weights_without(self.idx));
        let logp: Vec<f64> = self
            .grid
            .iter()
            .map(|&th| {
                let att = match (bias, self.a, &w) {
                    (Some(bp), Some(a), Some(w)) => log_sum_exp(
                        bp.cells
                            .iter()
                            .zip(w)
                            .map(|(&(b, tau), &lw)| lw + log_t(a - th - b, tau)),
                    ),
                    _ => 0.0,
                };
                self.log_direct(th) + att
            })
            .collect();
        let p = normalised(&logp);
        let alpha = (1.0 - mass) / 2.0;
        let quant = |target: f64| {
            let mut acc = 0.0;
            for (g, w) in self.grid.iter().zip(&p) {
                acc += w;
                if acc >= target {
                    return *g;
                }
            }
            self.grid[self.grid.len() - 1]
        };
        let (med, q) = (quant(0.5), [quant(alpha), quant(1.0 - alpha)]);
        let mean: f64 = self.grid.iter().zip(&p).map(|(g, w)| g * w).sum();
        let var: f64 = self
            .grid
            .iter()
            .zip(&p)
            .map(|(g, w)| (g - mean).powi(2) * w)
            .sum();
        let prec_post = 1.0 / var.max(1e-12);
        let p_mmm = 1.0 / self.mmm.sd().powi(2);
        let p_test = self.test.map_or(0.0, |(_, s)| 1.0 / (s * s));
        let p_att = (prec_post - p_mmm - p_test).max(0.0);
        let total = p_mmm + p_test + p_att;
        let roi = med.exp();
        let roi_interval = [q[0].exp(), q[1].exp()];
        CombinedEstimate {
            roi,
            roi_interval,
            contribution: roi * spend,
            contribution_interval: [roi_interval[0] * spend, roi_interval[1] * spend],
            weights: Weights {
                mmm: p_mmm / total,
                attribution: p_att / total,
                experiment: p_test / total,
            },
        }
    }
}

/// Probabilities from log weights (sum to 1).
fn normalised(logp: &[f64]) -> Vec<f64> {
    let mx = logp.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let p: Vec<f64> = logp.iter().map(|l| (l - mx).exp()).collect();
    let tot: f64 = p.iter().sum();
    p.into_iter().map(|x| x / tot).collect()
}

/// `ln Σ exp(x)` without overflow.
fn log_sum_exp(xs: impl Iterator<Item = f64>) -> f64 {
    let v: Vec<f64> = xs.collect();
    let mx = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !mx.is_finite() {
        return mx;
    }
    mx + v.iter().map(|x| (x - mx).exp()).sum::<f64>().ln()
}

/// Log density of Student's t with [`BIAS_DF`] degrees of freedom, location 0, scale `tau`
/// (up to a constant in `x`, exact in `tau`).
fn log_t(x: f64, tau: f64) -> f64 {
    let nu = BIAS_DF;
    -tau.ln() - 0.5 * (nu + 1.0) * (1.0 + (x / tau).powi(2) / nu).ln()
}

/// The attribution's bias against the truth, `a_c − θ_c ~ t(b, τ)`, on a grid of `(b, τ)`
/// with a flat prior on `b` and a lognormal prior on `τ`: per channel, the log marginal
/// likelihood `ln ∫ p(direct measurements | θ) t(a_c − θ; b, τ) dθ`.
struct BiasPosterior {
    /// Grid cells `(b, τ)`.
    cells: Vec<(f64, f64)>,
    /// Per measured channel (index into the channel list; `usize::MAX` = the prior) its
    /// log marginal per cell.
    marginal: Vec<(usize, Vec<f64>)>,
    /// Posterior mode of `b` and `τ` over all channels.
    b_hat: f64,
    tau_hat: f64,
}

impl BiasPosterior {
    fn estimate(measured: &[Measured]) -> BiasPosterior {
        let d: Vec<f64> = measured
            .iter()
            .filter_map(|m| Some(m.a? - m.mmm.mode))
            .collect();
        let centre = median(&d);
        let mut cells = Vec::new();
        for i in 0..=40 {
            let b = centre - 4.0 + 0.2 * i as f64;
            for k in 0..20 {
                let tau = (0.05f64.ln() + (3.0f64.ln() - 0.05f64.ln()) * k as f64 / 19.0).exp();
                cells.push((b, tau));
            }
        }
        let prior: Vec<f64> = cells
            .iter()
            .map(|&(_, tau)| -0.5 * ((tau / TAU_PRIOR[0]).ln() / TAU_PRIOR[1]).powi(2))
            .collect();
        let mut marginal = vec![(usize::MAX, prior)];
        for m in measured {
            let Some(a) = m.a else { continue };
            let direct = normalised(&m.grid.iter().map(|&t| m.log_direct(t)).collect::<Vec<_>>());
            let row = cells
                .iter()
                .map(|&(b, tau)| {
                    let v: f64 = m
                        .grid
                        .iter()
                        .zip(&direct)
                        .map(|(&th, &w)| w * log_t(a - th - b, tau).exp())
                        .sum();
                    v.max(1e-300).ln()
                })
                .collect();
            marginal.push((m.idx, row));
        }
        let total: Vec<f64> = (0..cells.len())
            .map(|j| marginal.iter().map(|(_, r)| r[j]).sum())
            .collect();
        let best = (0..cells.len())
            .max_by(|&x, &y| total[x].total_cmp(&total[y]))
            .unwrap_or(0);
        BiasPosterior {
            b_hat: cells[best].0,
            tau_hat: cells[best].1,
            cells,
            marginal,
        }
    }

    /// Log weights of the cells given every other channel (and the prior).
    fn weights_without(&self, idx: usize) -> Vec<f64> {
        (0..self.cells.len())
            .map(|j| {
                self.marginal
                    .iter()
                    .filter(|(i, _)| *i != idx)
                    .map(|(_, r)| r[j])
                    .sum()
            })
            .collect()
    }
}

fn median(v: &[f64]) -> f64 {
    analysis::quantile(v, 0.5)
}

/// Split each MMM channel's contribution across the reference model's campaigns.
fn campaign_split(
    summary: &Summary,
    attribution: &AttributionReport,
    reference: &str,
    kind: KpiKind,
    target: &dyn Fn(&str) -> Option<String>,
) -> Vec<CampaignCredit> {
    let Some(rm) = attribution.models.iter().find(|m| m.model == reference) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for ch in &summary.channels {
        let rows: Vec<&Credit> = rm
            .campaigns
            .iter()
            .filter(|k| {
                k.channel
                    .as_deref()
                    .and_then(target)
                    .is_some_and(|t| t == ch.name)
            })
            .collect();
        if rows.is_empty() {
            continue;
        }
        out.extend(split_channel(ch, &rows, kind));
    }
    out
}

/// One channel's campaigns: shares of attribution credit (equal when none has credit),
/// costs scaled to the MMM spend.
fn split_channel(ch: &ChannelSummary, rows: &[&Credit], kind: KpiKind) -> Vec<CampaignCredit> {
    let credit: Vec<f64> = rows
        .iter()
        .map(|k| in_kpi_units(kind, k.conversions, k.value).max(0.0))
        .collect();
    let total: f64 = credit.iter().sum();
    let n = rows.len() as f64;
    let shares: Vec<f64> = if total > 0.0 {
        credit.iter().map(|x| x / total).collect()
    } else {
        vec![1.0 / n; rows.len()]
    };
    let cost_total: f64 = rows.iter().filter_map(|k| k.cost).sum();
    let has_costs = rows.iter().all(|k| k.cost.is_some()) && cost_total > 0.0;
    rows.iter()
        .zip(&shares)
        .map(|(k, &s)| {
            let contribution = ch.contribution * s;
            let cost = has_costs.then(|| ch.spend * k.cost.unwrap_or(0.0) / cost_total);
            let (roi, cpa) = match (kind, cost) {
                (KpiKind::Revenue, Some(c)) if c > 0.0 => (Some(contribution / c), None),
                (KpiKind::Conversions, Some(c)) if contribution > 0.0 => {
                    (None, Some(c / contribution))
                }
                _ => (None, None),
            };
            CampaignCredit {
                channel: ch.name.clone(),
                campaign: k.name.clone(),
                attribution_channel: k.channel.clone().unwrap_or_default(),
                incremental_contribution: contribution,
                incremental_roi: roi,
                incremental_cpa: cpa,
                share: s,
                cost,
            }
        })
        .collect()
}

impl Combination {
    /// A channel's credit under the reference attribution model, in KPI units.
    pub fn attributed(&self, c: &CombinedChannel) -> Option<f64> {
        c.attribution
            .as_ref()
            .and_then(|a| a.get(&self.reference_model))
            .map(|a| in_kpi_units(self.kpi_kind, a.conversions, a.value))
    }

    /// Each campaign's shares of its channel, for the optimizer's campaign split:
    /// contribution share = its share of the channel's attribution credit, spend share =
    /// its share of the channel's cost (its contribution share when costs are unknown).
    pub fn campaign_shares(&self) -> Vec<crate::optimize::campaigns::CampaignShare> {
        let mut cost_totals: BTreeMap<&str, f64> = BTreeMap::new();
        for k in &self.campaigns {
            *cost_totals.entry(&k.channel).or_insert(0.0) += k.cost.unwrap_or(0.0);
        }
        self.campaigns
            .iter()
            .map(|k| {
                let cost_total = cost_totals[k.channel.as_str()];
                let spend_share = match k.cost {
                    Some(c) if cost_total > 0.0 => c / cost_total,
                    _ => k.share,
                };
                crate::optimize::campaigns::CampaignShare {
                    channel: k.channel.clone(),
                    campaign: k.campaign.clone(),
                    contribution_share: k.share,
                    spend_share,
                }
            })
            .collect()
    }

    /// The human-readable table.
    pub fn table(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let eff = match self.kpi_kind {
            KpiKind::Revenue => "ROI",
            KpiKind::Conversions => "KPI/spend",
        };
        let _ = writeln!(
            s,
            "Combination of the MMM and `{}` attribution ({}% intervals)",
            self.reference_model,
            (self.interval * 100.0).round()
        );
        if let (Some(b), Some(t)) = (self.attribution_scale, self.attribution_spread) {
            let _ = writeln!(
                s,
                "attribution scale (attributed ÷ incremental, typical channel) {b:.3}; channel spread ×{:.2}",
                t.exp()
            );
        }
        if let Some(x) = self.organic_share {
            let _ = writeln!(
                s,
                "organic share of the KPI outside the tracked channels: {:.1}% (attribute --organic-share {x:.4})",
                100.0 * x
            );
        }
        let _ = writeln!(
            s,
            "\n{:<16} {:>12} {:>23} {:>12} {:>8} {:>22} {:>17}  agreement",
            "channel",
            "MMM contrib",
            "interval",
            "attributed",
            "factor",
            format!("combined {eff}"),
            "weights mmm/att/exp",
        );
        for c in &self.channels {
            let attributed = self.attributed(c);
            let factor = c.incrementality_factor.get(&self.reference_model);
            let (contrib, interval) = match &c.mmm {
                Some(m) => (
                    crate::report::money(m.contribution),
                    format!(
                        "[{}, {}]",
                        crate::report::money(m.contribution_interval[0]),
                        crate::report::money(m.contribution_interval[1])
                    ),
                ),
                None => ("-".into(), String::new()),
            };
            let (combined, weights) = match &c.combined {
                Some(e) => (
                    format!(
                        "{:.3} [{:.3}, {:.3}]",
                        e.roi, e.roi_interval[0], e.roi_interval[1]
                    ),
                    format!(
                        "{:.2}/{:.2}/{:.2}",
                        e.weights.mmm, e.weights.attribution, e.weights.experiment
                    ),
                ),
                None => ("-".into(), "-".into()),
            };
            let _ = writeln!(
                s,
                "{:<16} {:>12} {:>23} {:>12} {:>8} {:>22} {:>17}  {}",
                c.name,
                contrib,
                interval,
                attributed
                    .map(crate::report::money)
                    .unwrap_or_else(|| "-".into()),
                factor
                    .map(|f| format!("{:.2}", f.value))
                    .unwrap_or_else(|| "-".into()),
                combined,
                weights,
                c.agreement.as_str()
            );
        }
        if !self.campaigns.is_empty() {
            let eff = match self.kpi_kind {
                KpiKind::Revenue => "incr. ROI",
                KpiKind::Conversions => "incr. CPA",
            };
            let _ = writeln!(
                s,
                "\n{:<16} {:<20} {:>14} {:>8} {:>10}",
                "channel", "campaign", "incremental", "share", eff
            );
            for k in &self.campaigns {
                let e = k.incremental_roi.or(k.incremental_cpa);
                let _ = writeln!(
                    s,
                    "{:<16} {:<20} {:>14} {:>7.1}% {:>10}",
                    k.channel,
                    k.campaign,
                    crate::report::money(k.incremental_contribution),
                    k.share * 100.0,
                    e.map(|x| format!("{x:.2}")).unwrap_or_else(|| "-".into())
                );
            }
        }
        for w in &self.warnings {
            let _ = writeln!(s, "\nwarning: {w}");
        }
        s
    }

    /// Channel rows as CSV.
    pub fn channels_csv(&self) -> String {
        let opt = |v: Option<f64>| v.map(|x| x.to_string()).unwrap_or_default();
        let rows = self.channels.iter().map(|c| {
            let attributed = self.attributed(c);
            let m = c.mmm.as_ref();
            let e = c.combined.as_ref();
            vec![
                c.name.clone(),
                c.agreement.as_str().to_string(),
                opt(m.map(|m| m.contribution)),
                opt(m.map(|m| m.contribution_interval[0])),
                opt(m.map(|m| m.contribution_interval[1])),
                opt(m.and_then(|m| m.roi)),
                opt(attributed),
                opt(c
                    .incrementality_factor
                    .get(&self.reference_model)
                    .map(|f| f.value)),
                opt(e.map(|e| e.roi)),
                opt(e.map(|e| e.roi_interval[0])),
                opt(e.map(|e| e.roi_interval[1])),
            ]
        });
        to_csv(
            &[
                "channel",
                "agreement",
                "mmm_contribution",
                "mmm_contribution_low",
                "mmm_contribution_high",
                "mmm_roi",
                "attributed",
                "incrementality_factor",
                "combined_roi",
                "combined_roi_low",
                "combined_roi_high",
            ],
            rows,
        )
    }

    /// Campaign rows as CSV.
    pub fn campaigns_csv(&self) -> String {
        let opt = |v: Option<f64>| v.map(|x| x.to_string()).unwrap_or_default();
        let rows = self.campaigns.iter().map(|k| {
            vec![
                k.channel.clone(),
                k.campaign.clone(),
                k.attribution_channel.clone(),
                k.incremental_contribution.to_string(),
                k.share.to_string(),
                opt(k.cost),
                opt(k.incremental_roi),
                opt(k.incremental_cpa),
            ]
        });
        to_csv(
            &[
                "channel",
                "campaign",
                "attribution_channel",
                "incremental_contribution",
                "share",
                "cost",
                "incremental_roi",
                "incremental_cpa",
            ],
            rows,
        )
    }
}

/// CSV text from a header and rows.
fn to_csv(header: &[&str], rows: impl Iterator<Item = Vec<String>>) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record(header);
    for r in rows {
        let _ = w.write_record(&r);
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

impl Agreement {
    /// The label, as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Agreement::Agree => "agree",
            Agreement::Disagree => "disagree",
            Agreement::MmmOnly => "mmm_only",
            Agreement::AttributionOnly => "attribution_only",
        }
    }
}

/// Load a `combine --json` document, checked: schema version 1 and finite, non-negative
/// incrementality factors. Errors name the field.
pub fn load_combination(path: &Path) -> Result<Combination, CombineError> {
    let bad = |field: String, message: String| CombineError::Attribution {
        path: path.to_path_buf(),
        field,
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|source| CombineError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let c: Combination = serde_json::from_str(&text).map_err(|e| {
        bad(
            format!("line {}, column {}", e.line(), e.column()),
            format!("not a `combine --json` document: {e}"),
        )
    })?;
    if c.schema_version != 1 {
        return Err(bad(
            "schema_version".into(),
            format!("is {}, this mixcast reads version 1", c.schema_version),
        ));
    }
    for (i, ch) in c.channels.iter().enumerate() {
        for (m, f) in &ch.incrementality_factor {
            if !(f.value.is_finite() && f.value >= 0.0) {
                return Err(bad(
                    format!("channels[{i}].incrementality_factor.{m}.value"),
                    format!("must be a finite number ≥ 0, got {}", f.value),
                ));
            }
        }
    }
    Ok(c)
}

/// Calibrated attribution for daily use between MMM refreshes: every model of `report`
/// that the combination has factors for gains a `<model>_calibrated` result whose channel
/// and campaign credit is the attributed credit × the channel's incrementality factor
/// (shares recomputed). Assumes the factors measured over the MMM window still hold for
/// the new journeys: same tracking coverage, channel mix and targeting. Channels without a
/// factor keep their credit unscaled and are named in the returned warnings.
pub fn calibrate(report: &mut AttributionReport, combination: &Combination) -> Vec<String> {
    let factor_of = |model: &str, channel: &str| -> Option<f64> {
        combination
            .channels
            .iter()
            .find(|c| c.attribution_channels.iter().any(|a| a == channel) || c.name == channel)
            .and_then(|c| c.incrementality_factor.get(model))
            .map(|f| f.value)
    };
    let mut warnings = Vec::new();
    let mut added = Vec::new();
    for m in &report.models {
        if !combination
            .channels
            .iter()
            .any(|c| c.incrementality_factor.contains_key(&m.model))
        {
            continue;
        }
        let mut unscaled = Vec::new();
        let mut scale = |rows: &[Credit], by_channel: bool| -> Vec<Credit> {
            let mut out: Vec<Credit> = rows
                .iter()
                .map(|c| {
                    let key = if by_channel {
                        c.channel.as_deref().unwrap_or(&c.name)
                    } else {
                        &c.name
                    };
                    let f = factor_of(&m.model, key).unwrap_or_else(|| {
                        if !unscaled.contains(&key.to_string()) {
                            unscaled.push(key.to_string());
                        }
                        1.0
                    });
                    let mut k = c.clone();
                    k.conversions *= f;
                    k.value *= f;
                    k.cpa = k
                        .cost
                        .filter(|_| k.conversions > 0.0)
                        .map(|x| x / k.conversions);
                    k.roas = k.cost.filter(|x| *x > 0.0).map(|x| k.value / x);
                    k
                })
                .collect();
            let total: f64 = out.iter().map(|k| k.conversions).sum();
            for k in &mut out {
                k.share = if total > 0.0 {
                    k.conversions / total
                } else {
                    0.0
                };
            }
            out
        };
        let channels = scale(&m.channels, false);
        let campaigns = scale(&m.campaigns, true);
        if !unscaled.is_empty() {
            warnings.push(format!(
                "{}: no incrementality factor for {}; their credit is not scaled",
                m.model,
                unscaled.join(", ")
            ));
        }
        added.push(crate::attribution::ModelResult {
            model: format!("{}_calibrated", m.model),
            channels,
            campaigns,
            conversion_model: None,
        });
    }
    if added.is_empty() {
        warnings
            .push("the combination has no incrementality factors for the models run here".into());
    }
    report.models.extend(added);
    warnings
}
