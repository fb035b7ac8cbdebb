//! Journey simulator with known incremental effects. Each journey touches each channel
//! independently (with its own reach), one to three times; display-like channels come
//! first and the sticky `direct` channel last, other touches in random order. A journey
//! that touched set `T` converts with probability `p(T)` under one of four forms
//! ([`TrueConversion`]): additive `baseline + Σ effect_c`, noisy-OR, logistic, or additive
//! with a synergy between the two strongest channels. Each journey's true incremental
//! conversions are the Shapley values of its game `v(S) = p(S) − p(∅)`, `S ⊆ T` (for the
//! additive form simply `effect_c` per touched channel); display and direct have zero
//! effect under every form. Writes `events.csv`, `conversions.csv`, `paths.csv`
//! (ChannelAttribution format) and `truth.json`.

use std::io::Write;
use std::path::Path;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

/// A simulated channel.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JourneyChannel {
    /// Name.
    pub name: String,
    /// Probability a journey touches it.
    pub reach: f64,
    /// Additive conversion-probability lift when touched.
    pub effect: f64,
    /// Cost per touch.
    pub cost: f64,
    /// Position rule: `first`, `any` or `last`.
    pub position: String,
    /// Retargeting-like targeting: the chance of a touch scales with the journey's own
    /// organic conversion propensity (`reach × b_j / baseline`), so the channel lands on
    /// people who would convert anyway and attribution over-credits it.
    #[serde(default)]
    pub targeted: bool,
    /// Effect multipliers of its campaigns `a` (60% of touched journeys) and `b` (40%),
    /// additive form only; `[1, 1]` when absent. Campaign `b` costs 1.5× per touch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign_effects: Option<[f64; 2]>,
    /// Tracking rate: the chance that a journey's touches of this channel are recorded
    /// (cookie loss, cross-device, view-throughs); 1 when absent. Lost touches still act.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracked: Option<f64>,
}

/// Share of a channel's touched journeys that campaign `a` reaches (the rest: `b`).
pub const CAMPAIGN_A_SHARE: f64 = 0.6;
/// Cost per touch of campaign `b` relative to `a`.
pub const CAMPAIGN_B_COST: f64 = 1.5;

/// How the true conversion probability depends on the touched set `T` (`b` = baseline,
/// `e_c` = a channel's effect, its lift when touched alone under every form).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrueConversion {
    /// `b + Σ_{c∈T} e_c`.
    #[default]
    Additive,
    /// `1 − (1 − b) Π_{c∈T} (1 − e_c/(1 − b))`.
    NoisyOr,
    /// `σ(logit b + Σ_{c∈T} [logit(b + e_c) − logit b])`.
    Logistic,
    /// Additive plus a synergy `SYNERGY` when the two strongest channels are both in `T`.
    Interacting,
}

/// Extra conversion probability when the two strongest channels meet (interacting form).
pub const SYNERGY: f64 = 0.03;

impl TrueConversion {
    /// `p(T)` for a touched set (channel indices).
    pub fn p(self, cfg: &JourneyConfig, t: &[u32]) -> f64 {
        let b = cfg.baseline;
        let e = |c: &u32| cfg.channels[*c as usize].effect;
        let logit = |p: f64| (p / (1.0 - p)).ln();
        let p = match self {
            TrueConversion::Additive => b + t.iter().map(e).sum::<f64>(),
            TrueConversion::NoisyOr => {
                1.0 - (1.0 - b) * t.iter().map(|c| 1.0 - e(c) / (1.0 - b)).product::<f64>()
            }
            TrueConversion::Logistic => {
                let z = logit(b) + t.iter().map(|c| logit(b + e(c)) - logit(b)).sum::<f64>();
                1.0 / (1.0 + (-z).exp())
            }
            TrueConversion::Interacting => {
                let (s1, s2) = cfg.strongest_pair();
                let both = t.contains(&s1) && t.contains(&s2);
                b + t.iter().map(e).sum::<f64>() + if both { SYNERGY } else { 0.0 }
            }
        };
        p.clamp(0.0, 1.0)
    }
}

/// Simulation settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JourneyConfig {
    /// Number of journeys.
    pub journeys: usize,
    /// Conversion probability with no effective touch.
    pub baseline: f64,
    /// Seed.
    pub seed: u64,
    /// Channels.
    pub channels: Vec<JourneyChannel>,
    /// How conversion depends on the touched set.
    #[serde(default)]
    pub conversion: TrueConversion,
    /// Heterogeneous organic propensity: journey `j`'s baseline is
    /// `b_j = baseline · exp(σ ξ_j − σ²/2)`, `ξ_j ~ N(0, 1)`, added to the form's `p(T)` as
    /// `b_j − baseline` (0: every journey shares the baseline).
    #[serde(default)]
    pub propensity_spread: f64,
}

impl JourneyConfig {
    /// This setup with baseline `baseline` and every effect multiplied by `scale`;
    /// an error names the flag when the rates leave [0, 1).
    pub fn with_effects(mut self, baseline: f64, scale: f64) -> Result<Self, String> {
        if !(baseline.is_finite() && (0.0..0.5).contains(&baseline)) {
            return Err(format!("--baseline must be in [0, 0.5), got {baseline}"));
        }
        let total: f64 = self.channels.iter().map(|c| c.effect).sum::<f64>() * scale;
        if !(scale.is_finite() && scale >= 0.0 && baseline + total + SYNERGY < 1.0) {
            return Err(format!(
                "--effect-scale {scale} makes conversion probabilities reach 1 (effects sum to {total:.3} over baseline {baseline})"
            ));
        }
        self.baseline = baseline;
        self.channels.iter_mut().for_each(|c| c.effect *= scale);
        Ok(self)
    }

    /// The two channels with the largest effects (ties by order), as indices.
    pub fn strongest_pair(&self) -> (u32, u32) {
        let mut idx: Vec<u32> = (0..self.channels.len() as u32).collect();
        idx.sort_by(|a, b| {
            self.channels[*b as usize]
                .effect
                .total_cmp(&self.channels[*a as usize].effect)
                .then(a.cmp(b))
        });
        (idx[0], idx.get(1).copied().unwrap_or(idx[0]))
    }

    /// The default seven-channel setup.
    pub fn standard(journeys: usize, seed: u64) -> Self {
        let ch = |name: &str, reach, effect, cost, position: &str| JourneyChannel {
            name: name.into(),
            reach,
            effect,
            cost,
            position: position.into(),
            targeted: false,
            campaign_effects: None,
            tracked: None,
        };
        JourneyConfig {
            journeys,
            baseline: 0.02,
            seed,
            conversion: TrueConversion::Additive,
            propensity_spread: 0.0,
            channels: vec![
                ch("display", 0.55, 0.0, 0.05, "first"),
                ch("video", 0.25, 0.012, 0.3, "any"),
                ch("social", 0.4, 0.018, 0.2, "any"),
                ch("search", 0.45, 0.035, 0.9, "any"),
                ch("email", 0.3, 0.022, 0.02, "any"),
                ch("affiliate", 0.15, 0.015, 1.5, "any"),
                ch("direct", 0.35, 0.0, 0.0, "last"),
            ],
        }
    }
}

/// Ground truth.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JourneyTruth {
    /// Settings.
    pub config: JourneyConfig,
    /// Conversions.
    pub conversions: f64,
    /// Touches written.
    pub touches: usize,
    /// True incremental conversions per channel (expected, given who was touched).
    pub incremental: Vec<f64>,
    /// `incremental / Σ incremental`.
    pub shares: Vec<f64>,
    /// Per channel and campaign: true incremental conversions and journey cost.
    #[serde(default)]
    pub campaigns: Vec<CampaignTruth>,
}

/// A campaign's truth in the journeys.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CampaignTruth {
    /// Channel.
    pub channel: String,
    /// Campaign (`<channel>_a` or `<channel>_b`).
    pub campaign: String,
    /// True incremental conversions.
    pub incremental: f64,
    /// Cost of its touches.
    pub cost: f64,
}

struct Chunk {
    events: Vec<u8>,
    conversions: Vec<u8>,
    paths: FxHashMap<Vec<u8>, (f64, f64, f64)>,
    incremental: Vec<f64>,
    /// Per channel, campaigns a and b: (incremental, cost).
    campaigns: Vec<[(f64, f64); 2]>,
    conv: f64,
    touches: usize,
}

/// Generate and write a simulation into `dir`.
pub fn simulate_journeys(cfg: &JourneyConfig, dir: &Path) -> std::io::Result<JourneyTruth> {
    std::fs::create_dir_all(dir)?;
    let nch = cfg.channels.len();
    let per = 50_000usize;
    let nchunks = cfg.journeys.div_ceil(per);
    let t0: i64 = 1_704_067_200; // 2024-01-01
    let make = |k: usize| {
        let mut rng =
            StdRng::seed_from_u64(cfg.seed.wrapping_mul(0x9E37_79B9).wrapping_add(k as u64));
        let mut c = Chunk {
            events: Vec::with_capacity(per * 120),
            conversions: Vec::new(),
            paths: FxHashMap::default(),
            incremental: vec![0.0; nch],
            campaigns: vec![[(0.0, 0.0); 2]; nch],
            conv: 0.0,
            touches: 0,
        };
        let mut touches: Vec<usize> = Vec::new();
        // Per touched set: its conversion probability and each channel's Shapley value.
        let mut truth_of: FxHashMap<Vec<u32>, (f64, Vec<f64>)> = FxHashMap::default();
        let mut game_rng = StdRng::seed_from_u64(cfg.seed ^ 0x0005_4A9E);
        for j in k * per..((k + 1) * per).min(cfg.journeys) {
            let offset = if cfg.propensity_spread > 0.0 {
                let sd = cfg.propensity_spread;
                let xi: f64 = rng.sample(rand_distr::StandardNormal);
                cfg.baseline * ((sd * xi - sd * sd / 2.0).exp() - 1.0)
            } else {
                0.0
            };
            let own_baseline = cfg.baseline + offset;
            // Every journey has at least one touch: redraw an empty touch set.
            let (mut first, mut last) = (Vec::new(), Vec::new());
            let mut touched = vec![false; nch];
            while first.is_empty() && touches.is_empty() && last.is_empty() {
                for (ci, ch) in cfg.channels.iter().enumerate() {
                    let reach = if ch.targeted && cfg.baseline > 0.0 {
                        ch.reach * own_baseline / cfg.baseline
                    } else {
                        ch.reach
                    };
                    touched[ci] = rng.random::<f64>() < reach;
                    if touched[ci] {
                        let n = 1 + (rng.random::<f64>() * 1.8) as usize;
                        let target = match ch.position.as_str() {
                            "first" => &mut first,
                            "last" => &mut last,
                            _ => &mut touches,
                        };
                        target.extend(std::iter::repeat_n(ci, n));
                    }
                }
            }
            let set: Vec<u32> = (0..nch as u32).filter(|&i| touched[i as usize]).collect();
            // The campaign each touched channel ran in this journey (0 = a, 1 = b).
            let campaign: Vec<usize> = (0..nch)
                .map(|_| usize::from(rng.random::<f64>() >= CAMPAIGN_A_SHARE))
                .collect();
            let (p, phi) = truth_of.entry(set.clone()).or_insert_with_key(|set| {
                let p0 = cfg.conversion.p(cfg, &[]);
                let worth = |s: &[u32]| cfg.conversion.p(cfg, s) - p0;
                let mut phi = vec![0.0; nch];
                crate::attribution::shapley::values_for_set(&worth, set, &mut game_rng, &mut phi);
                (cfg.conversion.p(cfg, set), phi)
            });
            let mut p = *p + offset;
            let mut phi = phi.clone();
            if cfg.conversion == TrueConversion::Additive {
                // Campaign multipliers act on each touched channel's additive effect.
                for &ci in &set {
                    let ch = &cfg.channels[ci as usize];
                    let m = ch.campaign_effects.unwrap_or([1.0, 1.0])[campaign[ci as usize]];
                    p += ch.effect * (m - 1.0);
                    phi[ci as usize] = ch.effect * m;
                }
            }
            let p = p.clamp(0.0, 1.0);
            for (ci, (a, v)) in c.incremental.iter_mut().zip(phi.iter()).enumerate() {
                *a += v;
                c.campaigns[ci][campaign[ci]].0 += v;
            }
            touches.shuffle(&mut rng);
            let seq: Vec<usize> = first
                .iter()
                .chain(touches.iter())
                .chain(last.iter())
                .copied()
                .collect();
            let mut ts = t0 + rng.random_range(0..60 * 86400);
            let mut path = Vec::new();
            let seen: Vec<bool> = cfg
                .channels
                .iter()
                .map(|ch| ch.tracked.is_none_or(|r| rng.random::<f64>() < r))
                .collect();
            for &ci in &seq {
                let ch = &cfg.channels[ci];
                let (camp, cost) = match campaign[ci] {
                    0 => ('a', ch.cost),
                    _ => ('b', ch.cost * CAMPAIGN_B_COST),
                };
                c.campaigns[ci][campaign[ci]].1 += cost;
                if seen[ci] {
                    let _ = writeln!(
                        c.events,
                        "u{j},{ts},{},{}_{camp},{cost:.3}",
                        ch.name, ch.name
                    );
                    if !path.is_empty() {
                        path.extend_from_slice(b" > ");
                    }
                    path.extend_from_slice(ch.name.as_bytes());
                }
                ts += rng.random_range(600..3 * 86400);
            }
            c.touches += seq.len();
            touches.clear();
            let e = c.paths.entry(path).or_insert((0.0, 0.0, 0.0));
            if rng.random::<f64>() < p {
                let value = 40.0 + 80.0 * rng.random::<f64>();
                let _ = writeln!(c.conversions, "u{j},{},{value:.2}", ts);
                c.conv += 1.0;
                e.0 += 1.0;
                e.1 += value;
            } else {
                e.2 += 1.0;
            }
        }
        c
    };
    let mut ev =
        std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(dir.join("events.csv"))?);
    let mut cv = std::io::BufWriter::new(std::fs::File::create(dir.join("conversions.csv"))?);
    ev.write_all(b"journey_id,timestamp,channel,campaign,cost\n")?;
    cv.write_all(b"journey_id,timestamp,value\n")?;
    let mut paths: FxHashMap<Vec<u8>, (f64, f64, f64)> = FxHashMap::default();
    let mut incremental = vec![0.0; nch];
    let mut campaigns = vec![[(0.0, 0.0); 2]; nch];
    let (mut conv, mut touches) = (0.0, 0usize);
    // Generate in parallel batches and write each batch in order (bounded memory).
    let batch = rayon::current_num_threads() * 4;
    for first in (0..nchunks).step_by(batch) {
        let chunks: Vec<Chunk> = (first..(first + batch).min(nchunks))
            .into_par_iter()
            .map(make)
            .collect();
        for c in chunks {
            ev.write_all(&c.events)?;
            cv.write_all(&c.conversions)?;
            for (k, v) in c.paths {
                let e = paths.entry(k).or_insert((0.0, 0.0, 0.0));
                e.0 += v.0;
                e.1 += v.1;
                e.2 += v.2;
            }
            for (a, b) in incremental.iter_mut().zip(&c.incremental) {
                *a += b;
            }
            for (a, b) in campaigns.iter_mut().zip(&c.campaigns) {
                for k in 0..2 {
                    a[k].0 += b[k].0;
                    a[k].1 += b[k].1;
                }
            }
            conv += c.conv;
            touches += c.touches;
        }
    }
    ev.flush()?;
    cv.flush()?;
    let mut pw = std::io::BufWriter::new(std::fs::File::create(dir.join("paths.csv"))?);
    pw.write_all(b"path,total_conversions,total_conversion_value,total_null\n")?;
    let mut keys: Vec<&Vec<u8>> = paths.keys().collect();
    keys.sort();
    for k in keys {
        let v = paths[k];
        pw.write_all(k)?;
        writeln!(pw, ",{},{:.2},{}", v.0, v.1, v.2)?;
    }
    pw.flush()?;
    let total: f64 = incremental.iter().sum();
    let truth = JourneyTruth {
        config: cfg.clone(),
        conversions: conv,
        touches,
        shares: incremental.iter().map(|x| x / total).collect(),
        incremental,
        campaigns: cfg
            .channels
            .iter()
            .zip(&campaigns)
            .flat_map(|(ch, k)| {
                ['a', 'b']
                    .into_iter()
                    .zip(k)
                    .map(|(name, &(inc, cost))| CampaignTruth {
                        channel: ch.name.clone(),
                        campaign: format!("{}_{name}", ch.name),
                        incremental: inc,
                        cost,
                    })
            })
            .collect(),
    };
    crate::io::write_json(&dir.join("truth.json"), &truth)?;
    Ok(truth)
}

/// Write an aggregated paths CSV with `n` distinct random paths over 12 channels (lengths
/// 1–30, geometric-like), for benchmarks at ChannelAttribution's scale.
pub fn write_random_paths(path: &Path, n: usize, seed: u64) -> std::io::Result<()> {
    const CH: [&str; 12] = [
        "search",
        "social",
        "email",
        "display",
        "video",
        "affiliate",
        "direct",
        "tv",
        "radio",
        "print",
        "podcast",
        "ooh",
    ];
    const W: [f64; 12] = [
        0.2, 0.15, 0.12, 0.12, 0.08, 0.06, 0.08, 0.05, 0.04, 0.04, 0.03, 0.03,
    ];
    let mut rng = StdRng::seed_from_u64(seed);
    let mut seen: rustc_hash::FxHashSet<Vec<u8>> = rustc_hash::FxHashSet::default();
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    out.write_all(b"path,total_conversions,total_conversion_value,total_null\n")?;
    let pick = |r: f64| {
        let mut acc = 0.0;
        for (i, w) in W.iter().enumerate() {
            acc += w;
            if r < acc {
                return i;
            }
        }
        CH.len() - 1
    };
    while seen.len() < n {
        let len = (1 + (-(rng.random::<f64>().max(1e-12)).ln() * 4.5) as usize).min(30);
        let mut p = Vec::new();
        for i in 0..len {
            if i > 0 {
                p.extend_from_slice(b" > ");
            }
            p.extend_from_slice(CH[pick(rng.random::<f64>())].as_bytes());
        }
        if !seen.insert(p.clone()) {
            continue;
        }
        let conv = if rng.random::<f64>() < 0.4 {
            rng.random_range(0..4u32)
        } else {
            0
        };
        let nulls = rng.random_range(0..30u32) + u32::from(conv == 0);
        out.write_all(&p)?;
        writeln!(
            out,
            ",{conv},{:.2},{nulls}",
            conv as f64 * (20.0 + 180.0 * rng.random::<f64>())
        )?;
    }
    out.flush()
}

/// Fraud patterns added to a simulated journey set by [`inject_fraud`]; every share is
/// of the existing journeys or conversions.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FraudConfig {
    /// Seed.
    pub seed: u64,
    /// Cookie stuffing: channel `partner` gets a touch 3–40 s before this share of
    /// conversions (and nowhere else). It has no effect.
    pub stuffing: f64,
    /// Click bursts: channel `burst` gets 3–8 touches 1–20 s apart in this share of
    /// journeys, at a random time inside them. No effect.
    pub bursts: f64,
    /// Click farm: campaign `display_farm` of channel `display` touches this many fake
    /// journeys (as a share of the real ones), 1–3 touches each, none converting.
    pub farm: f64,
    /// An honest zero-effect channel `noise` touches this share of journeys at a random
    /// time inside them (must not be flagged).
    pub noise: f64,
}

impl FraudConfig {
    /// The patterns of the journey-intelligence issue: 15% stuffing, 3% bursts, a farm
    /// of 5% fake journeys, 10% honest noise.
    pub fn standard(seed: u64) -> Self {
        FraudConfig {
            seed,
            stuffing: 0.15,
            bursts: 0.03,
            farm: 0.05,
            noise: 0.10,
        }
    }
}

/// What [`inject_fraud`] added: `(channel, campaign, pattern)` of each fraudulent unit,
/// and the honest zero-effect channels.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FraudTruth {
    /// Settings.
    pub config: FraudConfig,
    /// Fraudulent units: channel, campaign (null: the whole channel), pattern.
    pub fraudulent: Vec<(String, Option<String>, String)>,
    /// Honest channels with no effect.
    pub honest_zero_effect: Vec<String>,
    /// Touches added.
    pub touches_added: usize,
}

/// Append fraud patterns to `dir/events.csv` (written by [`simulate_journeys`]) and
/// write `dir/fraud_truth.json`. Conversions are unchanged: no injected touch has an
/// effect.
pub fn inject_fraud(dir: &Path, cfg: &FraudConfig) -> std::io::Result<FraudTruth> {
    use std::io::BufRead;
    let mut rng = StdRng::seed_from_u64(cfg.seed ^ 0xF4A0_D000);
    let mut add: Vec<u8> = Vec::new();
    let mut added = 0usize;
    let conv = std::io::BufReader::new(std::fs::File::open(dir.join("conversions.csv"))?);
    for line in conv.lines().skip(1) {
        let line = line?;
        let mut f = line.split(',');
        let (Some(j), Some(ts)) = (f.next(), f.next().and_then(|t| t.parse::<i64>().ok())) else {
            continue;
        };
        if rng.random::<f64>() < cfg.stuffing {
            let _ = writeln!(
                add,
                "{j},{},partner,partner_a,0.500",
                ts - rng.random_range(3..=40)
            );
            added += 1;
        }
    }
    // Journeys are written contiguously: track each one's first and last touch.
    let events = std::io::BufReader::new(std::fs::File::open(dir.join("events.csv"))?);
    let mut cur: Option<(String, i64, i64)> = None;
    let mut journeys = 0usize;
    let flush = |j: &(String, i64, i64), rng: &mut StdRng, add: &mut Vec<u8>, added: &mut usize| {
        let (id, first, last) = j;
        let at = |rng: &mut StdRng| first + rng.random_range(0..=(last - first).max(1));
        if rng.random::<f64>() < cfg.noise {
            let _ = writeln!(add, "{id},{},noise,noise_a,0.100", at(rng));
            *added += 1;
        }
        if rng.random::<f64>() < cfg.bursts {
            let mut ts = at(rng);
            for _ in 0..rng.random_range(3..=8) {
                let _ = writeln!(add, "{id},{ts},burst,burst_a,0.050");
                *added += 1;
                ts += rng.random_range(1..=20);
            }
        }
    };
    for line in events.lines().skip(1) {
        let line = line?;
        let mut f = line.split(',');
        let (Some(j), Some(ts)) = (f.next(), f.next().and_then(|t| t.parse::<i64>().ok())) else {
            continue;
        };
        match &mut cur {
            Some((id, _, last)) if id == j => *last = ts,
            _ => {
                if let Some(prev) = cur.take() {
                    flush(&prev, &mut rng, &mut add, &mut added);
                }
                journeys += 1;
                cur = Some((j.to_string(), ts, ts));
            }
        }
    }
    if let Some(prev) = cur.take() {
        flush(&prev, &mut rng, &mut add, &mut added);
    }
    let t0: i64 = 1_704_067_200;
    let fakes = (cfg.farm * journeys as f64).round() as usize;
    for k in 0..fakes {
        let mut ts = t0 + rng.random_range(0..60 * 86400);
        for _ in 0..rng.random_range(1..=3) {
            let _ = writeln!(add, "farm{k},{ts},display,display_farm,0.050");
            added += 1;
            ts += rng.random_range(600..86400);
        }
    }
    let mut out = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join("events.csv"))?;
    out.write_all(&add)?;
    out.flush()?;
    let mut fraudulent = Vec::new();
    if cfg.stuffing > 0.0 {
        fraudulent.push(("partner".into(), None, "stuffing".into()));
    }
    if cfg.bursts > 0.0 {
        fraudulent.push(("burst".into(), None, "bursts".into()));
    }
    if cfg.farm > 0.0 {
        fraudulent.push((
            "display".into(),
            Some("display_farm".into()),
            "click_farm".into(),
        ));
    }
    let truth = FraudTruth {
        config: cfg.clone(),
        fraudulent,
        honest_zero_effect: if cfg.noise > 0.0 {
            vec!["noise".into()]
        } else {
            Vec::new()
        },
        touches_added: added,
    };
    crate::io::write_json(&dir.join("fraud_truth.json"), &truth)?;
    Ok(truth)
}
