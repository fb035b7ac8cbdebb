//! Joint simulator: weekly spend and KPI for the MMM and user journeys for attribution,
//! from one truth.
//!
//! - The MMM side is [`crate::simulate()`] with seven channels (tv, search, social,
//!   display, radio, print, video), 156 weeks with a 13-week holdout, broad truth ranges
//!   and a media share of 20–50%. The KPI is revenue.
//! - **Offline** channels (tv, radio, print) never appear in journeys: their effect
//!   reaches journeys only as organic conversions.
//! - **Digital** channels (search, social, display, video) are tracked. A digital
//!   channel's additive effect per touched journey is set so that its true incremental
//!   conversions in the journeys are proportional to its true MMM contribution: the
//!   journeys are a tracked sample of the same customers.
//! - **display acts as retargeting**: its touches come last in the path and land on
//!   journeys in proportion to their own organic propensity (lognormal across journeys),
//!   so it is shown to people who would have converted anyway and attribution
//!   over-credits it.
//! - **Tracking loss**: each digital channel's touches in a journey are recorded with a
//!   channel-specific rate drawn from 50–100% (cookie loss, cross-device), so attribution
//!   is biased channel by channel even where its conversion model is right.
//! - **Campaigns**: every digital channel runs campaigns `a` (60% of its journeys) and `b`
//!   (40%, 1.5× the cost per touch) with different effect multipliers (mean 1). A campaign's
//!   true contribution is its channel's contribution times its share of the channel's
//!   true incremental conversions in the journeys; its spend is the channel's spend times
//!   its share of the channel's journey cost.

use std::path::Path;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::attribution::simulate::{
    simulate_journeys, JourneyChannel, JourneyConfig, TrueConversion, CAMPAIGN_A_SHARE,
    CAMPAIGN_B_COST,
};
use crate::simulate::{simulate, SimConfig, Simulation, TruthRanges};

/// Channels of the MMM that journeys never see.
pub const OFFLINE: [&str; 3] = ["tv", "radio", "print"];
/// The tracked channel placed on people who would convert anyway.
pub const RETARGETING: &str = "display";
/// Organic conversion rate of a journey (mean over journeys).
const BASELINE: f64 = 0.04;
/// Spread of the organic propensity across journeys (log-sd).
const PROPENSITY_SPREAD: f64 = 0.8;
/// Mean conversion value in the journeys (the journey simulator draws 40–120).
const MEAN_VALUE: f64 = 80.0;
/// Mean touches per touched channel in a journey (1 + ⌊1.8 u⌋).
const TOUCHES_PER_CHANNEL: f64 = 1.44;

/// Settings of a joint simulation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JointConfig {
    /// Seed.
    pub seed: u64,
    /// KPI noise sd as a fraction of mean KPI.
    pub noise: f64,
    /// Journeys.
    pub journeys: usize,
}

/// One channel's truth over the MMM's fit window.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JointChannel {
    /// Name.
    pub name: String,
    /// Appears in journeys.
    pub tracked: bool,
    /// Targeted at likely converters (retargeting).
    pub targeted: bool,
    /// Spend in the fit window.
    pub spend: f64,
    /// True contribution in the fit window.
    pub contribution: f64,
    /// True ROI.
    pub roi: f64,
}

/// One campaign's truth, on the MMM's scale.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JointCampaign {
    /// Channel.
    pub channel: String,
    /// Campaign.
    pub campaign: String,
    /// True contribution in the fit window.
    pub contribution: f64,
    /// Spend in the fit window.
    pub spend: f64,
    /// True ROI.
    pub roi: f64,
}

/// Ground truth of a joint simulation (`joint_truth.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JointTruth {
    /// Settings.
    pub config: JointConfig,
    /// Per MMM channel.
    pub channels: Vec<JointChannel>,
    /// Per digital campaign.
    pub campaigns: Vec<JointCampaign>,
}

/// A written joint simulation: the MMM simulation and the truth.
pub struct Joint {
    /// The MMM side.
    pub mmm: Simulation,
    /// The joint truth.
    pub truth: JointTruth,
}

/// Generate and write a joint simulation into `dir`: `data.csv`, `spec.toml`,
/// `truth.json` (MMM), `journeys/{events,conversions,paths}.csv` with their own
/// `journeys/truth.json`, and `joint_truth.json`.
pub fn simulate_joint(cfg: &JointConfig, dir: &Path) -> std::io::Result<Joint> {
    let mut rng = StdRng::seed_from_u64(cfg.seed ^ 0x101A_7000_0000_0000);
    let sim_cfg = SimConfig {
        weeks: 156,
        channels: 7,
        noise: cfg.noise,
        geos: 1,
        holdout: 13,
        seed: cfg.seed,
        truth: TruthRanges {
            media_share: [0.2, 0.5],
            ..TruthRanges::broad(&mut rng)
        },
    };
    let mmm = simulate(&sim_cfg);
    mmm.write(dir)?;
    let digital: Vec<&crate::simulate::ChannelTruth> = mmm
        .truth
        .channels
        .iter()
        .filter(|c| !OFFLINE.contains(&c.name.as_str()))
        .collect();
    let reach = |name: &str| match name {
        "search" => 0.45,
        "social" => 0.4,
        "display" => 0.35,
        _ => 0.25,
    };
    let total: f64 = digital.iter().map(|c| c.contribution).sum();
    let media: f64 = mmm.truth.channels.iter().map(|c| c.contribution).sum();
    let kpi = media / mmm.truth.media_share;
    // Effects per touched journey ∝ contribution / reach, scaled so that digital's share
    // of the journeys' conversions is its share of the KPI (a representative sample).
    let lambda = BASELINE / (kpi - total);
    let n = cfg.journeys as f64;
    let tracked_value_per_contribution = lambda * n * MEAN_VALUE;
    let channels: Vec<JourneyChannel> = digital
        .iter()
        .map(|c| {
            let r = reach(&c.name);
            let m_a = rng.random_range(0.5..1.5);
            let m_b = (1.0 - CAMPAIGN_A_SHARE * m_a) / (1.0 - CAMPAIGN_A_SHARE);
            let cost_per_touch_a = c.spend * tracked_value_per_contribution
                / (n * r * TOUCHES_PER_CHANNEL)
                / (CAMPAIGN_A_SHARE + (1.0 - CAMPAIGN_A_SHARE) * CAMPAIGN_B_COST);
            let targeted = c.name == RETARGETING;
            JourneyChannel {
                name: c.name.clone(),
                reach: r,
                effect: lambda * c.contribution / r,
                cost: cost_per_touch_a,
                position: if targeted { "last" } else { "any" }.into(),
                targeted,
                campaign_effects: Some([m_a, m_b]),
                tracked: Some(rng.random_range(0.5..1.0)),
            }
        })
        .collect();
    let jcfg = JourneyConfig {
        journeys: cfg.journeys,
        baseline: BASELINE,
        seed: cfg.seed,
        channels,
        conversion: TrueConversion::Additive,
        propensity_spread: PROPENSITY_SPREAD,
    };
    let jt = simulate_journeys(&jcfg, &dir.join("journeys"))?;
    let channels: Vec<JointChannel> = mmm
        .truth
        .channels
        .iter()
        .map(|c| JointChannel {
            name: c.name.clone(),
            tracked: !OFFLINE.contains(&c.name.as_str()),
            targeted: c.name == RETARGETING,
            spend: c.spend,
            contribution: c.contribution,
            roi: c.roi,
        })
        .collect();
    let campaigns = digital
        .iter()
        .flat_map(|c| {
            let rows: Vec<_> = jt
                .campaigns
                .iter()
                .filter(|k| k.channel == c.name)
                .collect();
            let inc: f64 = rows.iter().map(|k| k.incremental).sum();
            let cost: f64 = rows.iter().map(|k| k.cost).sum();
            rows.into_iter()
                .map(|k| {
                    let contribution = c.contribution * k.incremental / inc;
                    let spend = c.spend * k.cost / cost;
                    JointCampaign {
                        channel: c.name.clone(),
                        campaign: k.campaign.clone(),
                        contribution,
                        spend,
                        roi: contribution / spend,
                    }
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let truth = JointTruth {
        config: cfg.clone(),
        channels,
        campaigns,
    };
    crate::io::write_json(&dir.join("joint_truth.json"), &truth)?;
    Ok(Joint { mmm, truth })
}
