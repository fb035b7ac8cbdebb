//! Human-readable outputs: text tables for the terminal ([`summary_table`] and friends)
//! and the self-contained HTML report ([`html`]).

mod charts;
pub mod html;

use std::fmt::Write;

use crate::analysis::Summary;
use crate::spec::KpiKind;

pub(crate) fn money(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{:.2}B", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if a >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.2}")
    }
}

/// An amount with its sign (`+1.2M`, `−3.4k`).
pub(crate) fn signed_money(v: f64) -> String {
    format!("{}{}", if v >= 0.0 { "+" } else { "−" }, money(v.abs()))
}

/// `<lead>better in N% of <draws>` for a probability of beating the current plan; empty
/// without draws.
pub(crate) fn better_in(p: Option<f64>, lead: &str, draws: &str) -> String {
    p.map(|p| format!("{lead}better in {:.0}% of {draws}", 100.0 * p))
        .unwrap_or_default()
}

/// A number to 3 significant digits (at least 2 decimals below 100), so small CPAs and
/// ROIs stay distinguishable.
fn sig(v: f64) -> String {
    let a = v.abs();
    if !v.is_finite() {
        return "—".into();
    }
    if a >= 100.0 || a == 0.0 {
        return format!("{v:.0}");
    }
    let decimals = (2 - a.log10().floor() as i32).max(2) as usize;
    format!("{v:.decimals$}")
}

/// [`sig`] or a dash for a missing value.
fn opt(v: Option<f64>) -> String {
    v.map(sig).unwrap_or_else(|| "—".into())
}

/// The summary as a table: channel, spend, contribution, ROI (or CPA) with interval, mROI.
pub fn summary_table(s: &Summary) -> String {
    let mut o = String::new();
    let conv = s.kpi_kind == KpiKind::Conversions;
    let pct = (s.interval * 100.0).round();
    let _ = writeln!(
        o,
        "{} — KPI `{}`, {} periods × {} geo(s), window {} .. {}",
        s.name, s.kpi, s.fit_periods, s.geos, s.fit_window[0], s.fit_window[1]
    );
    let (eff, marg) = if conv {
        ("CPA", "mCPA")
    } else {
        ("ROI", "mROI")
    };
    let revenue = s.channels.iter().any(|c| c.revenue_roi.is_some());
    let _ = writeln!(
        o,
        "{:<16} {:>10} {:>12} {:>8} {:>21} {:>8}{}",
        "channel",
        "spend",
        "contribution",
        eff,
        format!("{pct:.0}% interval"),
        marg,
        if revenue { "  revenue ROI" } else { "" }
    );
    for c in &s.channels {
        let (e, iv, m) = if conv {
            (c.cpa, c.cpa_interval, c.marginal_cpa)
        } else {
            (
                c.roi,
                c.roi_interval.map(|[a, b]| [Some(a), Some(b)]),
                c.mroi,
            )
        };
        let iv = match (c.paid, iv) {
            (false, _) => "(organic)".into(),
            (true, Some([a, b])) => format!(
                "[{}, {}{}",
                a.map(sig).unwrap_or_else(|| "∞".into()),
                b.map(sig).unwrap_or_else(|| "∞".into()),
                if b.is_some() { "]" } else { ")" }
            ),
            (true, None) => "—".into(),
        };
        let _ = writeln!(
            o,
            "{:<16} {:>10} {:>12} {:>8} {:>21} {:>8}{}",
            c.name,
            money(c.spend),
            money(c.contribution),
            opt(e),
            iv,
            opt(m),
            if revenue {
                format!(" {:>12}", opt(c.revenue_roi))
            } else {
                String::new()
            }
        );
    }
    let _ = writeln!(
        o,
        "figures cover the fit window; {eff} = {}; {marg} = {} for +1% spend in every fit period",
        if conv {
            "spend ÷ contribution"
        } else {
            "contribution ÷ spend"
        },
        if conv {
            "extra spend per extra KPI unit"
        } else {
            "extra KPI per extra unit of spend"
        }
    );
    let _ = writeln!(
        o,
        "media share {:.1}% [{:.1}%, {:.1}%]   fit: R² {:.3}, MAPE {:.2}%, NRMSE {:.3}",
        100.0 * s.media_share,
        100.0 * s.media_share_interval[0],
        100.0 * s.media_share_interval[1],
        s.fit.r2,
        100.0 * s.fit.mape,
        s.fit.nrmse
    );
    if let Some(d) = &s.diagnostics {
        let num = |v: Option<f64>, p: usize| v.map_or("n/a".to_string(), |v| format!("{v:.p$}"));
        let _ = writeln!(
            o,
            "NUTS: {} chains × {} draws   R̂ max {}, bulk ESS min {}, {} divergences",
            d.chains,
            d.draws_per_chain,
            num(d.rhat_max, 3),
            num(d.ess_bulk_min, 0),
            d.divergences
        );
    }
    if let Some(h) = &s.holdout {
        let _ = writeln!(
            o,
            "holdout: {} periods, MAPE {:.2}%",
            h.periods,
            100.0 * h.mape
        );
    }
    if !s.experiments.is_empty() {
        let _ = writeln!(o, "lift tests (measured vs implied by the model):");
        for e in &s.experiments {
            let _ = writeln!(
                o,
                "  {:<14} {} .. {}{}: {} ± {} vs {} [{}, {}] ({:+.1} se)",
                e.channel,
                e.start,
                e.end,
                e.geo
                    .as_deref()
                    .map(|g| format!(" in {g}"))
                    .unwrap_or_default(),
                money(e.lift),
                money(e.se),
                money(e.implied),
                money(e.implied_interval[0]),
                money(e.implied_interval[1]),
                e.z
            );
        }
    }
    for w in &s.warnings {
        let _ = writeln!(o, "warning: {w}");
    }
    o
}

/// A scenario forecast as a table.
pub fn forecast_table(f: &crate::scenario::Forecast, kind: KpiKind) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "horizon {} periods ({} .. {}): KPI {} [{}, {}]",
        f.kpi.len(),
        f.dates.first().map(String::as_str).unwrap_or(""),
        f.dates.last().map(String::as_str).unwrap_or(""),
        money(f.total_kpi),
        money(f.total_kpi_interval[0]),
        money(f.total_kpi_interval[1])
    );
    let conv = kind == KpiKind::Conversions;
    let (eff, marg) = if conv {
        ("CPA", "mCPA")
    } else {
        ("ROI", "mROI")
    };
    let window = if f.tail_periods > 0 {
        format!("the horizon + {} tail periods", f.tail_periods)
    } else {
        "the horizon".to_string()
    };
    let _ = writeln!(
        o,
        "{:<16} {:>10} {:>14} {:>12} {:>8} {:>8}",
        "channel", "spend", "contribution", "from plan", eff, marg
    );
    for c in &f.channels {
        let Some(roi) = c.roi else {
            let _ = writeln!(
                o,
                "{:<16} {:>10} {:>14} {:>12} {:>8} {:>8}",
                c.name,
                if c.paid { "0" } else { "organic" },
                money(c.contribution),
                "—",
                "—",
                "—"
            );
            continue;
        };
        let from_plan = roi * c.spend;
        let (e, m) = if conv {
            (
                (from_plan > 0.0).then(|| c.spend / from_plan),
                c.mroi.filter(|v| *v > 0.0).map(|v| 1.0 / v),
            )
        } else {
            (Some(roi), c.mroi)
        };
        let _ = writeln!(
            o,
            "{:<16} {:>10} {:>14} {:>12} {:>8} {:>8}",
            c.name,
            money(c.spend),
            money(c.contribution),
            money(from_plan),
            opt(e),
            opt(m)
        );
    }
    let _ = writeln!(
        o,
        "contribution: the channel's KPI within {window}, carryover from past spend included; from plan: the part the planned spend itself creates; {eff} = {}; {marg}: {} for +1% planned spend",
        if conv {
            "spend ÷ from plan"
        } else {
            "from plan ÷ spend"
        },
        if conv {
            "extra spend per extra KPI unit"
        } else {
            "extra KPI per extra unit of spend"
        }
    );
    o
}

/// Plans compared with a base plan.
pub fn comparison_table(c: &crate::scenario::Comparison) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "\ncompared with `{}` (spend {}, KPI {}{}):",
        c.base,
        money(c.base_total_spend),
        money(c.base_total_kpi),
        if c.tail_periods > 0 {
            format!(", incl. {} tail periods", c.tail_periods)
        } else {
            String::new()
        }
    );
    let _ = writeln!(
        o,
        "{:<20} {:>10} {:>10} {:>12} {:>24} {:>9}",
        "plan", "spend", "Δ spend", "Δ KPI", "interval", "incr. ROI"
    );
    for p in &c.plans {
        let _ = writeln!(
            o,
            "{:<20} {:>10} {:>10} {:>12} {:>24} {:>9}",
            p.name,
            money(p.total_spend),
            money(p.delta_spend),
            money(p.delta_kpi),
            format!(
                "[{}, {}]",
                money(p.delta_kpi_interval[0]),
                money(p.delta_kpi_interval[1])
            ),
            p.incremental_roi
                .map(|v| format!("{v:.2}"))
                .unwrap_or_else(|| "—".into())
        );
    }
    o
}

/// An optimizer recommendation as a table.
pub fn recommendation_table(r: &crate::optimize::Recommendation) -> String {
    let mut o = String::new();
    let conv = r.channels.iter().any(|c| c.marginal_cpa.is_some());
    let _ = writeln!(
        o,
        "{} ({}), {} periods from {}: spend {} → expected KPI {} [{}, {}] (current plan, each channel at its spend of the last {} periods: KPI {})",
        r.mode,
        r.status,
        r.horizon,
        r.start,
        money(r.total_spend),
        money(r.expected_kpi),
        money(r.expected_kpi_interval[0]),
        money(r.expected_kpi_interval[1]),
        r.horizon,
        money(r.reference_kpi)
    );
    if let Some(m) = &r.message {
        let _ = writeln!(o, "note: {m}");
    }
    let v = &r.versus_reference;
    let _ = writeln!(
        o,
        "against the current plan: {} [{}, {}]{}",
        signed_money(v.expected_gain),
        money(v.gain_interval[0]),
        money(v.gain_interval[1]),
        better_in(v.probability_better, ", ", "draws")
    );
    let _ = writeln!(
        o,
        "{:<16} {:>10} {:>12} {:>10} {:>12} {:>7} {:>9} {:>8}",
        "channel",
        "current",
        "recommended",
        "change",
        "contribution",
        if conv { "mCPA" } else { "mROI" },
        "status",
        "shadow"
    );
    for c in &r.channels {
        let mut notes = Vec::new();
        if c.beyond_history {
            notes.push("beyond observed spend".to_string());
        }
        if let (true, Some(p)) = (c.unsupported_move, c.move_support) {
            notes.push(format!("move pays in only {:.0}% of draws", 100.0 * p));
        }
        let _ = writeln!(
            o,
            "{:<16} {:>10} {:>12} {:>10} {:>12} {:>7} {:>9} {:>8}{}",
            c.name,
            money(c.reference_spend),
            money(c.recommended_spend),
            money(c.change),
            money(c.expected_contribution),
            if conv {
                opt(c.marginal_cpa)
            } else {
                sig(c.mroi)
            },
            c.status,
            c.shadow_price
                .map(|v| format!("{v:.3}"))
                .unwrap_or_else(|| "—".into()),
            if notes.is_empty() {
                String::new()
            } else {
                format!("  ({})", notes.join("; "))
            }
        );
    }
    if r.channels.iter().any(|c| c.unsupported_move) {
        let _ = writeln!(
            o,
            "warning: the posterior cannot back every move (a move counts as backed when it pays in {:.0}% of draws); bound those channels with --within, --min or --max",
            100.0 * crate::optimize::MOVE_SUPPORT
        );
    }
    if !r.campaigns.is_empty() {
        let _ = writeln!(
            o,
            "\ncampaigns (a campaign's curve = its channel's, scaled by its shares):\n{:<16} {:<20} {:>9} {:>12} {:>9} {:>12} {:>7}",
            "channel", "campaign", "share now", "recommended", "share", "incremental", "mROI"
        );
        for k in &r.campaigns {
            let _ = writeln!(
                o,
                "{:<16} {:<20} {:>8.1}% {:>12} {:>8.1}% {:>12} {:>7.2}",
                k.channel,
                k.campaign,
                100.0 * k.current_spend_share,
                money(k.recommended_spend),
                100.0 * k.recommended_spend_share,
                money(k.expected_contribution),
                k.mroi
            );
        }
    }
    let cert = &r.certificate;
    let _ = writeln!(
        o,
        "certificate: budget shadow price {:.3} per unit; objective {} ≤ dual bound {} (gap {})",
        cert.budget_shadow_price,
        money(cert.objective),
        money(cert.dual_bound),
        money(cert.optimality_gap)
    );
    o
}

/// Cross-validation folds as a table.
pub fn crossval_table(cv: &crate::crossval::CrossValidation) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{} — {} folds, {}-period horizon (rolling origin, expanding window)",
        cv.name, cv.config.folds, cv.config.horizon
    );
    let _ = writeln!(
        o,
        "{:>4}  {:<23}  {:<23} {:>9} {:>8} {:>9} {:>7}",
        "fold", "fitted", "scored", "MAPE", "bias", "fit MAPE", "media"
    );
    for f in &cv.folds {
        let _ = writeln!(
            o,
            "{:>4}  {:<23}  {:<23} {:>8.2}% {:>+7.2}% {:>8.2}% {:>6.1}%",
            f.fold,
            format!("{} .. {}", f.train[0], f.train[1]),
            format!("{} .. {}", f.test[0], f.test[1]),
            100.0 * f.mape,
            100.0 * f.bias,
            100.0 * f.fit_mape,
            100.0 * f.media_share
        );
    }
    let _ = writeln!(
        o,
        "mean out-of-sample MAPE {:.2}% (worst fold {:.2}%), mean bias {:+.2}%",
        100.0 * cv.mean_mape,
        100.0 * cv.max_mape,
        100.0 * cv.mean_bias
    );
    let spread: Vec<String> = cv
        .roi_spread
        .0
        .iter()
        .map(|(n, v)| format!("{n} {:.0}%", 100.0 * v))
        .collect();
    if !spread.is_empty() {
        let _ = writeln!(
            o,
            "ROI range across folds, relative to its mean: {}",
            spread.join(", ")
        );
    }
    o
}

/// A backtest as text: accuracy, then what the residuals say per channel.
pub fn backtest_table(b: &crate::backtest::Backtest) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "backtest of {} on {} .. {} ({} periods, {} after its data)",
        b.model.model_id, b.first, b.last, b.periods, b.new_periods
    );
    let _ = writeln!(
        o,
        "MAPE {:.2}% (in-sample {:.2}%), bias {:+.2}%, {:.0}% of periods inside the {:.0}% predictive interval",
        100.0 * b.mape,
        100.0 * b.fit_mape,
        100.0 * b.bias,
        100.0 * b.coverage,
        100.0 * b.interval
    );
    let _ = writeln!(
        o,
        "total KPI {} actual, {} forecast [{}, {}]; baseline shift {:+.1}%",
        money(b.total_actual),
        money(b.total_forecast),
        money(b.total_forecast_interval[0]),
        money(b.total_forecast_interval[1]),
        100.0 * b.baseline_shift
    );
    let _ = writeln!(
        o,
        "{:<20} {:>10} {:>12} {:>14} {:>6}",
        "channel", "spend", "forecast", "effect shift", "z"
    );
    for c in &b.channels {
        let _ = writeln!(
            o,
            "{:<20} {:>10} {:>12} {:>13.0}% {:>6.1}",
            c.name,
            c.spend.map(money).unwrap_or_else(|| "—".into()),
            money(c.contribution),
            100.0 * c.shift,
            c.z
        );
    }
    for w in &b.warnings {
        let _ = writeln!(o, "warning: {w}");
    }
    o
}

/// A refresh's drift document as text: per channel ROI then and now, effect shift and
/// flags, then the backtest, decomposition and recommendation checks and the verdict.
pub fn drift_table(d: &crate::refresh::Drift) -> String {
    use crate::refresh::Status;
    let mut o = String::new();
    let _ = writeln!(o, "refresh {} → {}", d.previous.model_id, d.new.model_id);
    let _ = writeln!(
        o,
        "{:<20} {:>22} {:>22} {:>8} {:>14} {:>6}  flags",
        "channel", "previous ROI", "new ROI", "change", "effect shift", "z"
    );
    let roi = |s: &Option<crate::refresh::Side>| match s {
        Some(crate::refresh::Side {
            roi: Some(r),
            roi_interval: Some([lo, hi]),
            ..
        }) => format!("{} [{}, {}]", sig(*r), sig(*lo), sig(*hi)),
        Some(_) => "organic".into(),
        None => "absent".into(),
    };
    for c in &d.channels {
        let flags: Vec<&str> = c
            .flags
            .iter()
            .map(|f| match f {
                crate::refresh::Check::Roi => "roi",
                crate::refresh::Check::Effect => "effect",
                crate::refresh::Check::Forecast => "forecast",
                crate::refresh::Check::Recommendation => "recommendation",
                crate::refresh::Check::Data => "data",
            })
            .collect();
        let _ = writeln!(
            o,
            "{:<20} {:>22} {:>22} {:>8} {:>14} {:>6}  {}",
            c.name,
            roi(&c.previous),
            roi(&c.new),
            c.roi_change
                .map(|r| format!("{:+.0}%", 100.0 * r))
                .unwrap_or_else(|| "—".into()),
            c.effect_shift
                .as_ref()
                .map(|e| format!("{:+.0}%", 100.0 * e.shift))
                .unwrap_or_else(|| "—".into()),
            c.effect_shift
                .as_ref()
                .map(|e| format!("{:.1}", e.z))
                .unwrap_or_else(|| "—".into()),
            flags.join(",")
        );
    }
    if let Some(b) = &d.backtest {
        let _ = writeln!(
            o,
            "previous model on the {} new periods: MAPE {:.2}% (in-sample {:.2}%), bias {:+.2}%, coverage {:.0}%",
            b.new_periods,
            100.0 * b.mape,
            100.0 * b.fit_mape,
            100.0 * b.bias,
            100.0 * b.coverage
        );
    }
    if let Some(s) = &d.decomposition {
        let _ = writeln!(
            o,
            "shared periods {} .. {}: media share {:.1}% → {:.1}%, decomposition stability {:.0}%",
            s.first,
            s.last,
            100.0 * s.previous_media_share,
            100.0 * s.new_media_share,
            100.0 * s.stability
        );
    }
    if let Some(r) = &d.recommendation {
        let _ = writeln!(
            o,
            "recommendation for {} over {} periods: {:.0}% of the budget moves between channels",
            money(r.budget),
            r.horizon,
            100.0 * r.allocation_shift
        );
    }
    for w in &d.warnings {
        let _ = writeln!(o, "warning: {w}");
    }
    match d.status {
        Status::Pass => {
            let _ = writeln!(o, "gate: pass");
        }
        Status::Drift => {
            let _ = writeln!(o, "gate: DRIFT");
            for r in &d.reasons {
                let _ = writeln!(o, "  - {}", r.message);
            }
        }
    }
    o
}

/// Suspicious channels and campaigns as text (every unit with `--all`).
pub fn fraud_table(r: &crate::attribution::fraud::FraudReport) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{} journeys, {} touches, {} conversions",
        r.journeys, r.touches, r.conversions
    );
    let rows = r.all.as_ref().unwrap_or(&r.flags);
    if rows.is_empty() {
        let _ = writeln!(o, "no channel or campaign looks suspicious");
        return o;
    }
    let _ = writeln!(
        o,
        "{:<28} {:>6} {:<11} {:>9} {:>9} {:>8} {:>8} {:>8}  examples",
        "channel / campaign", "score", "pattern", "≤60s", "conv.", "burst", "cr", "dup"
    );
    for f in rows {
        let name = match &f.campaign {
            Some(c) => format!("{} / {c}", f.channel),
            None => f.channel.clone(),
        };
        let v = |i: usize| {
            f.signals
                .get(i)
                .map(|s| format!("{:.1}%", 100.0 * s.value))
                .unwrap_or_default()
        };
        let _ = writeln!(
            o,
            "{:<28} {:>6.2} {:<11} {:>9} {:>9} {:>8} {:>8} {:>8}  {}",
            name,
            f.score,
            f.pattern,
            v(0),
            v(1),
            v(2),
            v(3),
            v(4),
            f.examples.join(" ")
        );
    }
    o
}

/// Team credit as text.
pub fn credit_table(r: &crate::credit::CreditReport) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{} credit ({:?}) by team, total {}",
        r.model,
        r.metric,
        sig(r.total)
    );
    let _ = writeln!(
        o,
        "{:<20} {:>12} {:>7} {:>12} {:>10} {:>11}",
        "team", "credit", "share", "incremental", "target", "attainment"
    );
    for t in &r.teams {
        let _ = writeln!(
            o,
            "{:<20} {:>12} {:>6.1}% {:>12} {:>10} {:>11}",
            t.team,
            sig(t.credit),
            100.0 * t.share,
            opt(t.incremental),
            opt(t.target),
            t.attainment
                .map(|a| format!("{:.0}%", 100.0 * a))
                .unwrap_or_else(|| "—".into())
        );
    }
    o
}

/// Paths and friction as text: per segment, conversion rate, top paths, time to
/// conversion and drop-off.
pub fn journeys_table(r: &crate::attribution::journeys::JourneysReport) -> String {
    let mut o = String::new();
    for s in &r.segments {
        let label = match (&r.by, &s.segment) {
            (Some(by), Some(v)) => format!("{by} = {v}"),
            _ => "all journeys".into(),
        };
        let _ = writeln!(
            o,
            "{label}: {} journeys, {} converting ({:.2}%)",
            s.journeys,
            s.converting,
            100.0 * s.conversion_rate
        );
        if let Some(q) = s.time_to_conversion.quantiles_days {
            let _ = writeln!(
                o,
                "  time to conversion (days): p10 {:.2}, p25 {:.2}, median {:.2}, p75 {:.2}, p90 {:.2}",
                q[0], q[1], q[2], q[3], q[4]
            );
        }
        let _ = writeln!(o, "  top converting paths:");
        for p in s.top_converting_paths.iter().take(5) {
            let _ = writeln!(o, "    {:>9}  {}", p.journeys, p.path);
        }
        let _ = writeln!(o, "  top non-converting paths:");
        for p in s.top_non_converting_paths.iter().take(5) {
            let _ = writeln!(o, "    {:>9}  {}", p.journeys, p.path);
        }
        let _ = writeln!(o, "  non-converting journeys stop at:");
        for d in s.drop_off.iter().take(5) {
            let _ = writeln!(
                o,
                "    {:<20} {:>9} ({:.1}% of drop-offs; {:.1}% of journeys touching it)",
                d.channel,
                d.journeys,
                100.0 * d.share,
                100.0 * d.rate
            );
        }
    }
    o
}

/// Audiences as text.
pub fn audiences_table(r: &crate::attribution::audiences::AudiencesReport) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "conversion model {}; incremental figures for one more {} touch",
        r.conversion_model, r.target_channel
    );
    let _ = writeln!(
        o,
        "{:<36} {:>10} {:>8} {:>14} {:>12}",
        "audience", "journeys", "p(conv)", "incr. conv.", "incr. value"
    );
    for a in &r.audiences {
        let _ = writeln!(
            o,
            "{:<36} {:>10} {:>7.2}% {:>14.1} {:>12}",
            a.name,
            a.size,
            100.0 * a.mean_probability,
            a.expected_incremental_conversions,
            money(a.expected_incremental_value)
        );
    }
    o
}
