//! Human-readable text output.

use std::fmt::Write;

use crate::analysis::Summary;
use crate::spec::KpiKind;

fn money(v: f64) -> String {
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
    let eff = if conv { "CPA" } else { "ROI" };
    let _ = writeln!(
        o,
        "{:<16} {:>10} {:>12} {:>8} {:>21} {:>8}",
        "channel",
        "spend",
        "contribution",
        eff,
        format!("{pct:.0}% interval"),
        "mROI"
    );
    for c in &s.channels {
        let (e, iv) = if conv {
            (c.cpa, c.cpa_interval)
        } else {
            (c.roi, c.roi_interval)
        };
        let e = e.map(|v| format!("{v:.2}")).unwrap_or_else(|| "—".into());
        let iv = iv
            .map(|[a, b]| format!("[{a:.2}, {b:.2}]"))
            .unwrap_or_else(|| "(organic)".into());
        let m = c
            .mroi
            .map(|v| format!("{v:.2}"))
            .unwrap_or_else(|| "—".into());
        let _ = writeln!(
            o,
            "{:<16} {:>10} {:>12} {:>8} {:>21} {:>8}",
            c.name,
            money(c.spend),
            money(c.contribution),
            e,
            iv,
            m
        );
    }
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
    if let Some(h) = &s.holdout {
        let _ = writeln!(
            o,
            "holdout: {} periods, MAPE {:.2}%",
            h.periods,
            100.0 * h.mape
        );
    }
    o
}

/// A scenario forecast as a table.
pub fn forecast_table(f: &crate::scenario::Forecast) -> String {
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
    let _ = writeln!(
        o,
        "{:<16} {:>10} {:>12} {:>8} {:>8}",
        "channel", "spend", "contribution", "ROI", "mROI"
    );
    for c in &f.channels {
        let fmt = |v: Option<f64>| v.map(|x| format!("{x:.2}")).unwrap_or_else(|| "—".into());
        let _ = writeln!(
            o,
            "{:<16} {:>10} {:>12} {:>8} {:>8}",
            c.name,
            money(c.spend),
            money(c.contribution),
            fmt(c.roi),
            fmt(c.mroi)
        );
    }
    o
}
