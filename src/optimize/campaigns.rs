//! Campaign budgets inside a channel's recommendation.
//!
//! Assumption (documented in the README): a campaign's response is its channel's curve
//! scaled by its shares. With `G(X) = R(X) − R(0)` the channel's incremental response to
//! total spend `X` over the horizon (carryover from history stays with the channel),
//! campaign `k` with contribution share `s_k` and spend share `σ_k` (today's mix) responds
//! `g_k(x) = s_k · G(x / σ_k)`: at today's mix, `x_k = σ_k X`, the campaigns reproduce the
//! channel (`Σ g_k = G(X)`), and a campaign's return per unit is `s_k / σ_k` times the
//! channel's. Given the channel's recommended `X`, the campaigns' split maximises
//! `Σ_k g_k(x_k)` subject to `Σ_k x_k = X`, `x_k ≥ 0`: greedy steps of `X / 2000` toward
//! the largest gain (exact for concave curves up to the step), or today's mix if that is
//! better, then polished by pairwise transfers with shrinking steps down to `X / 20000`
//! (a local optimum: equal marginal returns among funded campaigns).

use serde::{Deserialize, Serialize};

use super::{risk_curve, Planner, Recommendation, ValidRequest};

/// Steps of the greedy split.
const STEPS: usize = 2000;

/// A campaign's shares of its channel (from `combine`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CampaignShare {
    /// Channel (as in the model).
    pub channel: String,
    /// Campaign.
    pub campaign: String,
    /// Share of the channel's incremental contribution `s_k`.
    pub contribution_share: f64,
    /// Share of the channel's spend today `σ_k`.
    pub spend_share: f64,
}

/// A campaign's part of a recommendation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CampaignRecommendation {
    /// Channel.
    pub channel: String,
    /// Campaign.
    pub campaign: String,
    /// Its spend share today.
    pub current_spend_share: f64,
    /// Recommended spend over the horizon.
    pub recommended_spend: f64,
    /// `recommended_spend / channel recommended spend`.
    pub recommended_spend_share: f64,
    /// Expected incremental contribution (carryover from history excluded).
    pub expected_contribution: f64,
    /// Marginal return at the recommendation.
    pub mroi: f64,
}

impl Planner<'_> {
    /// Split each channel's recommended spend across its campaigns (module docs).
    /// Campaigns of channels the recommendation does not have, or with non-positive
    /// shares, are skipped.
    pub fn split_campaigns(
        &self,
        rec: &Recommendation,
        req: &ValidRequest,
        shares: &[CampaignShare],
    ) -> Vec<CampaignRecommendation> {
        let ds = &self.model.dataset;
        let names = self.horizon.channel_names();
        let mut out = Vec::new();
        for ch in &rec.channels {
            let rows: Vec<&CampaignShare> = shares
                .iter()
                .filter(|k| {
                    k.channel == ch.name && k.contribution_share >= 0.0 && k.spend_share > 0.0
                })
                .collect();
            let Some(c) = names.iter().position(|n| *n == ch.name) else {
                continue;
            };
            if rows.is_empty() {
                continue;
            }
            let x_total = ch.recommended_spend;
            let sigma_min = rows.iter().map(|k| k.spend_share).fold(1.0, f64::min);
            let shape = req.flighting.shape(ds, c, self.horizon.horizon());
            let Some(resp) = self.horizon.response(c, &shape) else {
                continue;
            };
            let x_max = (x_total / sigma_min).max(1e-9);
            let curve = risk_curve(&resp, req.risk, x_max);
            let g0 = curve.value(0.0);
            let g = |k: &CampaignShare, x: f64| {
                k.contribution_share * (curve.value(x / k.spend_share) - g0)
            };
            let total = |xs: &[f64]| rows.iter().zip(xs).map(|(k, &x)| g(k, x)).sum::<f64>();
            let today: Vec<f64> = rows.iter().map(|k| k.spend_share * x_total).collect();
            let mut xs = vec![0.0; rows.len()];
            if x_total > 0.0 {
                let dx = x_total / STEPS as f64;
                let gain = |i: usize, x: f64| g(rows[i], x + dx) - g(rows[i], x);
                // Only the funded campaign's next-step gain changes between steps.
                let mut gains: Vec<f64> = (0..rows.len()).map(|i| gain(i, xs[i])).collect();
                for _ in 0..STEPS {
                    let best = (0..rows.len())
                        .max_by(|&a, &b| gains[a].total_cmp(&gains[b]))
                        .unwrap_or(0);
                    xs[best] += dx;
                    gains[best] = gain(best, xs[best]);
                }
            }
            if total(&xs) < total(&today) {
                xs = today;
            }
            // Polish by pairwise transfers with shrinking steps (S-shaped curves can trap
            // the greedy path).
            let mut step = x_total / 10.0;
            while x_total > 0.0 && step > x_total / (10.0 * STEPS as f64) {
                let mut improved = true;
                let mut rounds = 0;
                while improved && rounds < 10 * STEPS {
                    improved = false;
                    rounds += 1;
                    for i in 0..rows.len() {
                        for j in 0..rows.len() {
                            if i == j || xs[j] < step {
                                continue;
                            }
                            let before = g(rows[i], xs[i]) + g(rows[j], xs[j]);
                            let after = g(rows[i], xs[i] + step) + g(rows[j], xs[j] - step);
                            if after > before * (1.0 + 1e-12) + 1e-300 {
                                xs[i] += step;
                                xs[j] -= step;
                                improved = true;
                            }
                        }
                    }
                }
                step /= 4.0;
            }
            for (k, &x) in rows.iter().zip(&xs) {
                out.push(CampaignRecommendation {
                    channel: ch.name.clone(),
                    campaign: k.campaign.clone(),
                    current_spend_share: k.spend_share,
                    recommended_spend: x,
                    recommended_spend_share: if x_total > 0.0 { x / x_total } else { 0.0 },
                    expected_contribution: g(k, x),
                    mroi: k.contribution_share / k.spend_share * curve.slope(x / k.spend_share),
                });
            }
        }
        out
    }
}
