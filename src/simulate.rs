//! Simulator with known truth: weekly spend with realistic flighting → geometric adstock →
//! Hill saturation → additive KPI with trend, yearly seasonality, price and promo
//! controls and Gaussian noise. It writes `data.csv`, `spec.toml` and `truth.json`; the
//! truth uses the same definitions as [`crate::analysis`] (ROI, mROI, media share over the
//! fit window = all but the last `holdout` weeks).

use std::path::Path;

use chrono::NaiveDate;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

use crate::transform::{Adstock, Saturation};

/// Simulation settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SimConfig {
    /// Weeks of data.
    pub weeks: usize,
    /// Media channels.
    pub channels: usize,
    /// Noise sd as a fraction of mean KPI.
    pub noise: f64,
    /// Geos (1 = national data, no geo column).
    pub geos: usize,
    /// Weeks at the end excluded from the truth window (the fit's holdout).
    pub holdout: usize,
    /// Seed.
    pub seed: u64,
    /// Ranges the truth is drawn from, and how spend moves.
    #[serde(default)]
    pub truth: TruthRanges,
}

/// Ranges of the random truth: each channel's ROI, decay, half-saturation and slope, the
/// dataset's media share, and how spend moves (correlated across channels, following the
/// season, random flighting patterns).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TruthRanges {
    /// Media contribution / KPI in the window.
    pub media_share: [f64; 2],
    /// Channel ROI over the window.
    pub roi: [f64; 2],
    /// Draw ROI log-uniformly (else uniformly).
    pub roi_log_uniform: bool,
    /// Geometric retention rate.
    pub decay: [f64; 2],
    /// Hill half-saturation relative to the mean non-zero spend.
    pub half_saturation: [f64; 2],
    /// Hill slope.
    pub slope: [f64; 2],
    /// Loading of every channel's spend on one common factor (log scale): spends that
    /// move together.
    pub spend_correlation: f64,
    /// Amplitude of a yearly cycle in every channel's spend (log scale), each with its
    /// own phase near the KPI's seasonal peak: spend that follows the season.
    pub spend_seasonality: f64,
    /// Draw each channel's flighting pattern at random (else cycle through them).
    pub random_patterns: bool,
    /// Geo panels in Meridian's convention: each geo has a population (a `population`
    /// column), its own spend intensity per channel (spend per capita differs across
    /// geos by a log-normal factor, sd 0.4), its own baseline per capita (sd 0.15), and
    /// media respond on spend per capita with one national curve, scaled by population.
    /// Else every geo responds to its spend relative to its own mean level.
    pub per_capita: bool,
    /// Geo panels: each geo's baseline per capita is its own level plus one national
    /// swing (`level_g + shape_t − 1`, Meridian's additive form: seasonal swings follow
    /// population), instead of its level times the swing (swings follow the level).
    pub additive_baseline: bool,
    /// Log sd of each geo's media effect around the national one (geo heterogeneity:
    /// geo g's amplitude is `A · pop_g · exp(sd·z − sd²/2)`); with `per_capita` only.
    pub geo_effect_sd: f64,
}

impl Default for TruthRanges {
    fn default() -> Self {
        TruthRanges {
            media_share: [0.2, 0.35],
            roi: [0.5, 3.0],
            roi_log_uniform: false,
            decay: [0.1, 0.7],
            half_saturation: [0.5, 1.5],
            slope: [0.8, 2.5],
            spend_correlation: 0.0,
            spend_seasonality: 0.0,
            random_patterns: false,
            per_capita: false,
            additive_baseline: false,
            geo_effect_sd: 0.15,
        }
    }
}

impl TruthRanges {
    /// The broad ranges that real data span: media share 5–60%, ROI 0.3–5
    /// (log-uniform), decay 0.05–0.8, half-saturation 0.4–2× the mean spend, slope
    /// 0.8–3, with correlation and seasonality of spend drawn per dataset.
    pub fn broad(rng: &mut StdRng) -> TruthRanges {
        TruthRanges {
            media_share: [0.05, 0.6],
            roi: [0.3, 5.0],
            roi_log_uniform: true,
            decay: [0.05, 0.8],
            half_saturation: [0.4, 2.0],
            slope: [0.8, 3.0],
            spend_correlation: 0.6 * rng.random::<f64>(),
            spend_seasonality: 0.5 * rng.random::<f64>(),
            random_patterns: true,
            per_capita: true,
            additive_baseline: false,
            geo_effect_sd: 0.15,
        }
    }
}

fn lerp(r: [f64; 2], u: f64) -> f64 {
    r[0] + (r[1] - r[0]) * u
}

impl SimConfig {
    /// A configuration drawn from the broad ranges (see [`TruthRanges::broad`]): 3–10
    /// channels, 156 weeks with a 13-week holdout, national or (`geos` > 1) a geo panel.
    pub fn broad(seed: u64, noise: f64, geos: usize) -> SimConfig {
        let mut rng = StdRng::seed_from_u64(seed ^ 0xB40A_D5EE_D000_0000);
        // Drawn in this order so the configurations stay those of earlier sessions.
        let channels = rng.random_range(3..=10);
        let mut truth = TruthRanges::broad(&mut rng);
        truth.additive_baseline = geos > 1 && seed.is_multiple_of(2);
        SimConfig {
            weeks: 156,
            channels,
            noise,
            geos,
            holdout: 13,
            seed,
            truth,
        }
    }

    /// Check the settings: 0 ≤ noise ≤ 1, weeks ≥ 20, channels ≥ 1, geos ≥ 1, and at
    /// least 10 weeks left after the holdout; bounded so a simulation fits in memory.
    pub fn check(&self) -> Result<(), String> {
        let ok = (0.0..=1.0).contains(&self.noise)
            && (20..=5200).contains(&self.weeks)
            && (1..=100).contains(&self.channels)
            && (1..=1000).contains(&self.geos)
            && self.holdout + 10 <= self.weeks;
        if ok {
            Ok(())
        } else {
            Err("simulate needs 0 ≤ noise ≤ 1, 20 ≤ weeks ≤ 5200, 1 ≤ channels ≤ 100, 1 ≤ geos ≤ 1000 and holdout-weeks ≤ weeks − 10".into())
        }
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            weeks: 156,
            channels: 5,
            noise: 0.05,
            geos: 1,
            holdout: 13,
            seed: 1,
            truth: TruthRanges::default(),
        }
    }
}

/// True parameters and metrics of one channel over the truth window.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChannelTruth {
    /// Channel name.
    pub name: String,
    /// Spend pattern: `flighted`, `always_on` or `pulsed`.
    pub pattern: String,
    /// Spend in the window (all geos).
    pub spend: f64,
    /// KPI contribution in the window.
    pub contribution: f64,
    /// contribution / spend.
    pub roi: f64,
    /// Marginal ROI (+1% spend in every window week).
    pub mroi: f64,
    /// Geometric retention rate.
    pub decay: f64,
    /// Adstock lags.
    pub max_lag: usize,
    /// Hill half-saturation relative to the mean non-zero spend in the window.
    pub half_saturation: f64,
    /// Hill slope.
    pub slope: f64,
    /// Response amplitude for a national series: contribution per period is
    /// `amplitude · hill(adstock(spend) / scale)` (geos get their size share of it).
    #[serde(default)]
    pub amplitude: f64,
    /// Per geo: the geo's effect relative to the national one (per-capita panels with
    /// geo heterogeneity), and its ROI over the window.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub geo_effect: Vec<f64>,
    /// Per geo ROI over the window (geo panels).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub geo_roi: Vec<f64>,
}

/// Ground truth of a simulation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Truth {
    /// Settings used.
    pub config: SimConfig,
    /// Periods in the truth window.
    pub fit_periods: usize,
    /// Σ media contribution / Σ KPI in the window.
    pub media_share: f64,
    /// Per channel.
    pub channels: Vec<ChannelTruth>,
}

/// A generated dataset with its spec and truth.
#[derive(Debug, Clone)]
pub struct Simulation {
    /// CSV text of the data.
    pub csv: String,
    /// TOML text of a spec for it (data path `data.csv`).
    pub spec: String,
    /// Truth.
    pub truth: Truth,
}

const NAMES: [&str; 10] = [
    "tv",
    "search",
    "social",
    "display",
    "radio",
    "print",
    "video",
    "ooh",
    "affiliate",
    "podcast",
];

fn channel_name(i: usize) -> String {
    NAMES
        .get(i)
        .map(|s| s.to_string())
        .unwrap_or_else(|| format!("channel{}", i + 1))
}

/// Contribution series of one channel for one geo: `amp · hill(adstock(x) / scale)`.
fn response(x: &[f64], ad: &Adstock, sat: &Saturation, scale: f64, amp: f64) -> Vec<f64> {
    let mut a = vec![0.0; x.len()];
    ad.apply(x, &mut a);
    a.iter().map(|v| amp * sat.eval(v / scale)).collect()
}

/// Run the simulator.
pub fn simulate(cfg: &SimConfig) -> Simulation {
    simulate_changed(cfg, None)
}

/// A change of one channel's true effect from a period on: its contribution is
/// multiplied by `factor` in periods `from..` (refresh studies: the truth before `from`
/// is what [`Truth`] describes).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EffectChange {
    /// Channel index.
    pub channel: usize,
    /// First changed period.
    pub from: usize,
    /// Multiplier of the contribution.
    pub factor: f64,
}

/// [`simulate`] with an optional [`EffectChange`]; the same draws, so the data before
/// the change are those of the unchanged simulation.
pub fn simulate_changed(cfg: &SimConfig, change: Option<EffectChange>) -> Simulation {
    let mut rng = StdRng::seed_from_u64(cfg.seed);
    let w = cfg.weeks.max(20);
    let fit_w = w.saturating_sub(cfg.holdout).max(10);
    let ng = cfg.geos.max(1);
    let nc = cfg.channels.max(1);
    let std_normal = Normal::new(0.0, 1.0).expect("valid normal");
    let start = NaiveDate::from_ymd_opt(2021, 1, 4).expect("valid date");
    let dates: Vec<NaiveDate> = (0..w)
        .map(|t| start + chrono::Duration::weeks(t as i64))
        .collect();
    let phase: Vec<f64> = dates
        .iter()
        .map(|d| {
            use chrono::Datelike;
            (d.num_days_from_ce() as f64 / 365.25).fract()
        })
        .collect();
    let tau = 2.0 * std::f64::consts::PI;

    // How spend moves across channels and with the season comes from its own stream, so
    // the default ranges reproduce the same data as before they existed.
    let tr = &cfg.truth;
    let mut rng2 = StdRng::seed_from_u64(cfg.seed ^ 0x5EED_C0FF_EE00_0001);
    let common: Vec<f64> = {
        let mut z = 0.0;
        (0..w)
            .map(|_| {
                z = 0.8 * z + 0.6 * std_normal.sample(&mut rng2);
                z
            })
            .collect()
    };

    // National spend patterns.
    let mut spend_nat: Vec<Vec<f64>> = Vec::new();
    let mut patterns = Vec::new();
    for c in 0..nc {
        let level = 20_000.0 * (0.3 + 1.2 * rng.random::<f64>());
        let kind = if tr.random_patterns {
            rng2.random_range(0..5)
        } else {
            c % 5
        };
        let mut s = vec![0.0; w];
        match kind {
            0 | 4 => {
                patterns.push("flighted");
                let (on_lo, on_hi, off_lo, off_hi) = if kind == 0 {
                    (3, 8, 2, 6)
                } else {
                    (2, 5, 1, 4)
                };
                let mut t = rng.random_range(0..3);
                while t < w {
                    let on = rng.random_range(on_lo..=on_hi);
                    let burst = level * 1.6 * (0.6 + 0.8 * rng.random::<f64>());
                    for v in s.iter_mut().skip(t).take(on) {
                        *v = burst * (0.85 + 0.3 * rng.random::<f64>());
                    }
                    t += on + rng.random_range(off_lo..=off_hi);
                }
            }
            1 => {
                patterns.push("always_on");
                for (t, v) in s.iter_mut().enumerate() {
                    let seas = 0.25 * (tau * phase[t]).sin();
                    *v = level * (1.0 + seas + 0.15 * std_normal.sample(&mut rng)).max(0.2);
                }
            }
            2 => {
                patterns.push("always_on");
                let mut walk = 0.0;
                for v in s.iter_mut() {
                    walk = 0.85 * walk + 0.12 * std_normal.sample(&mut rng);
                    *v = level * (1.0 + walk).max(0.2);
                }
            }
            _ => {
                patterns.push("pulsed");
                for v in s.iter_mut() {
                    *v = if rng.random::<f64>() < 0.25 {
                        level * (2.0 + 2.0 * rng.random::<f64>())
                    } else {
                        level * 0.2 * rng.random::<f64>()
                    };
                }
            }
        }
        if tr.spend_correlation > 0.0 || tr.spend_seasonality > 0.0 {
            let phi = 0.6 * std_normal.sample(&mut rng2);
            for (t, v) in s.iter_mut().enumerate() {
                let seas = tr.spend_seasonality * (tau * phase[t] + phi).sin();
                *v *= (tr.spend_correlation * common[t] + seas).exp();
            }
        }
        spend_nat.push(s);
    }
    // Geo split.
    let sizes: Vec<f64> = if ng == 1 {
        vec![1.0]
    } else {
        let raw: Vec<f64> = (0..ng)
            .map(|_| (0.8 * std_normal.sample(&mut rng)).exp())
            .collect();
        let t: f64 = raw.iter().sum();
        raw.iter().map(|v| v / t).collect()
    };
    // Per-capita geo panels draw their own geo traits from a separate stream, so the
    // other simulations keep their data.
    let per_capita = tr.per_capita && ng > 1;
    let mut rng3 = StdRng::seed_from_u64(cfg.seed ^ 0x9E0_CA91_7A00_0002);
    let mut geo_trait = |sd: f64| -> Vec<f64> {
        (0..ng)
            .map(|_| {
                if per_capita {
                    (sd * std_normal.sample(&mut rng3) - 0.5 * sd * sd).exp()
                } else {
                    1.0
                }
            })
            .collect()
    };
    let intensity: Vec<Vec<f64>> = (0..nc).map(|_| geo_trait(0.4)).collect();
    let geo_effect: Vec<Vec<f64>> = (0..nc).map(|_| geo_trait(tr.geo_effect_sd)).collect();
    let base_level = {
        let raw = geo_trait(0.15);
        let mean: f64 = raw.iter().zip(&sizes).map(|(b, s)| b * s).sum();
        raw.iter().map(|b| b / mean).collect::<Vec<f64>>()
    };
    let population: Vec<f64> = sizes.iter().map(|v| (v * 5.0e7).round().max(1.0)).collect();
    let spend: Vec<Vec<Vec<f64>>> = spend_nat
        .iter()
        .enumerate()
        .map(|(c, s)| {
            (0..ng)
                .map(|g| {
                    s.iter()
                        .map(|v| {
                            if ng == 1 {
                                *v
                            } else {
                                v * sizes[g] * intensity[c][g] * (0.7 + 0.6 * rng.random::<f64>())
                            }
                        })
                        .collect()
                })
                .collect()
        })
        .collect();

    // True transforms and amplitudes.
    let max_lag = 8;
    let mut truths = Vec::new();
    let mut contrib: Vec<Vec<Vec<f64>>> = Vec::new();
    for c in 0..nc {
        let decay = lerp(tr.decay, rng.random::<f64>());
        let k = lerp(tr.half_saturation, rng.random::<f64>());
        let s_ = lerp(tr.slope, rng.random::<f64>());
        let u_roi = rng.random::<f64>();
        let roi = if tr.roi_log_uniform {
            tr.roi[0] * (tr.roi[1] / tr.roi[0]).powf(u_roi)
        } else {
            lerp(tr.roi, u_roi)
        };
        let ad = Adstock::Geometric {
            decay,
            max_lag,
            normalize: true,
        };
        let sat = Saturation::Hill { k, s: s_ };
        let scales: Vec<f64> = if per_capita {
            let pop = &population;
            let nz: Vec<f64> = (0..ng)
                .flat_map(|g| spend[c][g][..fit_w].iter().map(move |v| v / pop[g]))
                .filter(|v| *v > 0.0)
                .collect();
            let s = nz.iter().sum::<f64>() / nz.len().max(1) as f64;
            population.iter().map(|p| s * p).collect()
        } else {
            (0..ng)
                .map(|g| {
                    let nz: Vec<f64> = spend[c][g][..fit_w]
                        .iter()
                        .copied()
                        .filter(|v| *v > 0.0)
                        .collect();
                    nz.iter().sum::<f64>() / nz.len().max(1) as f64
                })
                .collect()
        };
        // Each geo's share of the response: its size, times its own effect.
        let weight: Vec<f64> = (0..ng).map(|g| sizes[g] * geo_effect[c][g]).collect();
        let total_spend: f64 = (0..ng)
            .map(|g| spend[c][g][..fit_w].iter().sum::<f64>())
            .sum();
        // amp_g = A · size_g, with A set so the window ROI hits its target.
        let unit: f64 = (0..ng)
            .map(|g| {
                weight[g]
                    * response(&spend[c][g], &ad, &sat, scales[g], 1.0)[..fit_w]
                        .iter()
                        .sum::<f64>()
            })
            .sum();
        let amp = roi * total_spend / unit;
        let series: Vec<Vec<f64>> = (0..ng)
            .map(|g| response(&spend[c][g], &ad, &sat, scales[g], amp * weight[g]))
            .collect();
        let contribution: f64 = series.iter().map(|s| s[..fit_w].iter().sum::<f64>()).sum();
        let up: f64 = (0..ng)
            .map(|g| {
                let mut x = spend[c][g].clone();
                x[..fit_w].iter_mut().for_each(|v| *v *= 1.01);
                response(&x, &ad, &sat, scales[g], amp * weight[g])[..fit_w]
                    .iter()
                    .sum::<f64>()
            })
            .sum();
        truths.push(ChannelTruth {
            name: channel_name(c),
            pattern: patterns[c].to_string(),
            spend: total_spend,
            contribution,
            roi: contribution / total_spend,
            mroi: (up - contribution) / (0.01 * total_spend),
            decay,
            max_lag,
            half_saturation: k,
            slope: s_,
            amplitude: amp,
            geo_effect: if ng > 1 {
                geo_effect[c].clone()
            } else {
                Vec::new()
            },
            geo_roi: if ng > 1 {
                (0..ng)
                    .map(|g| {
                        let sp: f64 = spend[c][g][..fit_w].iter().sum();
                        series[g][..fit_w].iter().sum::<f64>() / sp.max(1e-12)
                    })
                    .collect()
            } else {
                Vec::new()
            },
        });
        contrib.push(series);
    }

    // Baseline sized for a target media share.
    let share_target = lerp(tr.media_share, rng.random::<f64>());
    let media_total: f64 = truths.iter().map(|t| t.contribution).sum();
    let trend = -0.1 + 0.3 * rng.random::<f64>();
    let (a1, p1) = (0.05 + 0.07 * rng.random::<f64>(), tau * rng.random::<f64>());
    let (a2, p2) = (0.04 * rng.random::<f64>(), tau * rng.random::<f64>());
    let mut price = vec![1.0; w];
    let mut z: f64 = 0.0;
    for p in price.iter_mut() {
        z = 0.8 * z + 0.6 * 0.03 * std_normal.sample(&mut rng);
        *p = 1.0 + z;
    }
    let promo: Vec<f64> = (0..w)
        .map(|_| if rng.random::<f64>() < 0.12 { 1.0 } else { 0.0 })
        .collect();
    let shape: Vec<f64> = (0..w)
        .map(|t| {
            1.0 + trend * t as f64 / w as f64
                + a1 * (tau * phase[t] + p1).sin()
                + a2 * (2.0 * tau * phase[t] + p2).sin()
                - 1.0 * (price[t] - 1.0)
                + 0.05 * promo[t]
        })
        .collect();
    let base_needed = media_total * (1.0 - share_target) / share_target;
    let b0 = base_needed / shape[..fit_w].iter().sum::<f64>();
    let mut kpi = vec![vec![0.0; w]; ng];
    for g in 0..ng {
        for t in 0..w {
            let factor = |c: usize| match change {
                Some(ch) if ch.channel == c && t >= ch.from => ch.factor,
                _ => 1.0,
            };
            let base = if tr.additive_baseline {
                base_level[g] + shape[t] - 1.0
            } else {
                base_level[g] * shape[t]
            };
            kpi[g][t] =
                b0 * sizes[g] * base + (0..nc).map(|c| factor(c) * contrib[c][g][t]).sum::<f64>();
        }
    }
    for series in kpi.iter_mut() {
        let mean = series.iter().sum::<f64>() / w as f64;
        let noise = Normal::new(0.0, cfg.noise.max(0.0) * mean).expect("valid sd");
        for v in series.iter_mut() {
            *v += noise.sample(&mut rng);
        }
    }
    let kpi_window: f64 = kpi.iter().map(|k| k[..fit_w].iter().sum::<f64>()).sum();

    // CSV.
    let mut out = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["date".to_string()];
    if ng > 1 {
        header.push("geo".into());
    }
    header.push("revenue".into());
    header.extend(truths.iter().map(|t| format!("{}_spend", t.name)));
    header.extend(["price".to_string(), "promo".to_string()]);
    if per_capita {
        header.push("population".into());
    }
    out.write_record(&header).expect("in-memory write");
    for g in 0..ng {
        for t in 0..w {
            let mut rec = vec![dates[t].to_string()];
            if ng > 1 {
                rec.push(format!("geo{:02}", g + 1));
            }
            rec.push(format!("{:.2}", kpi[g][t]));
            rec.extend((0..nc).map(|c| format!("{:.2}", spend[c][g][t])));
            rec.push(format!("{:.4}", price[t]));
            rec.push(format!("{}", promo[t]));
            if per_capita {
                rec.push(format!("{}", population[g]));
            }
            out.write_record(&rec).expect("in-memory write");
        }
    }
    let csv = String::from_utf8(out.into_inner().expect("in-memory")).expect("utf-8");

    let mut spec = format!(
        "name = \"simulated_seed{}\"\n\n[data]\npath = \"data.csv\"\ndate_column = \"date\"\nkpi = \"revenue\"\nkpi_kind = \"revenue\"\n",
        cfg.seed
    );
    if ng > 1 {
        spec.push_str("geo_column = \"geo\"\n");
        if per_capita {
            spec.push_str("population_column = \"population\"\n");
        }
    }
    for t in &truths {
        spec.push_str(&format!(
            "\n[[channels]]\nname = \"{0}\"\nspend = \"{0}_spend\"\nadstock = \"geometric\"\nmax_lag = {1}\nsaturation = \"hill\"\n",
            t.name, max_lag
        ));
    }
    spec.push_str("\n[[controls]]\nname = \"price\"\ncolumn = \"price\"\n\n[[controls]]\nname = \"promo\"\ncolumn = \"promo\"\n\n[seasonality]\ntrend = \"linear\"\nyearly_fourier_terms = 2\n");

    // Recompute media share on the noisy KPI, as the analysis defines it.
    let media_share = media_total / kpi_window;
    Simulation {
        csv,
        spec,
        truth: Truth {
            config: cfg.clone(),
            fit_periods: fit_w,
            media_share,
            channels: truths,
        },
    }
}

impl Simulation {
    /// Write `data.csv`, `spec.toml` and `truth.json` into `dir` (atomically each).
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        crate::io::write_atomic(&dir.join("data.csv"), self.csv.as_bytes())?;
        crate::io::write_atomic(&dir.join("spec.toml"), self.spec.as_bytes())?;
        crate::io::write_json(&dir.join("truth.json"), &self.truth)
    }

    /// Write the simulation into `dir`, then load its spec and data as a user's would be.
    pub fn load_from(
        &self,
        dir: &Path,
    ) -> Result<(crate::ValidSpec, crate::Dataset), crate::Error> {
        self.write(dir).map_err(|source| crate::Error::Write {
            path: dir.to_path_buf(),
            source,
        })?;
        let spec = crate::ValidSpec::load(&dir.join("spec.toml"))?;
        let ds = crate::load_dataset(&spec)?;
        Ok((spec, ds))
    }
}

impl Truth {
    /// A model whose media parameters are the truth (national simulations fitted on the
    /// truth window): `fitted` with its channel transforms and coefficients replaced and
    /// no draws. Its baseline stays the fitted one.
    pub fn true_model(&self, fitted: &crate::Model) -> crate::Model {
        let mut m = fitted.clone();
        for (c, t) in m.point.channels.iter_mut().zip(&self.channels) {
            c.adstock = Adstock::Geometric {
                decay: t.decay,
                max_lag: t.max_lag,
                normalize: true,
            };
            c.saturation = Saturation::Hill {
                k: t.half_saturation,
                s: t.slope,
            };
            c.coef = t.amplitude / m.kpi_scale[0];
        }
        m.draws.clear();
        m
    }

    /// The oracle variant of a spec: every channel's adstock and saturation parameters
    /// pinned to the truth (bounds `[v, v]`), so only linear coefficients are estimated.
    pub fn oracle_spec(&self, spec: &crate::spec::Spec) -> crate::spec::Spec {
        let mut s = spec.clone();
        for (c, t) in s.channels.iter_mut().zip(&self.channels) {
            c.decay = Some([t.decay, t.decay]);
            c.half_saturation = Some([t.half_saturation, t.half_saturation]);
            c.slope = Some([t.slope, t.slope]);
            c.max_lag = t.max_lag;
        }
        s
    }
}
