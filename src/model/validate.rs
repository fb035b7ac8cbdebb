//! Validation of a loaded model artifact. A model.json may have been edited by hand or
//! written by another tool, so every shape, range and cross-reference the library
//! indexes by is checked once here, and an error names the field.

use super::{Model, Params, MODEL_SCHEMA_VERSION};
use crate::data::{ControlData, Dataset, Panel};
use crate::design::ControlRecipe;
use crate::transform::{Adstock, Saturation};

/// Largest panel a model may carry (periods × geos), so a forged size cannot exhaust
/// memory before the shapes are compared.
pub const MAX_CELLS: usize = 50_000_000;
/// Longest adstock kernel (the spec allows `max_lag` up to 104).
pub const MAX_LAG: usize = 104;
/// Most yearly Fourier pairs (as the spec).
pub const MAX_FOURIER: usize = 10;

/// A field and what is wrong with it.
pub(crate) type Invalid = (String, String);

fn bad<T>(field: impl Into<String>, message: impl Into<String>) -> Result<T, Invalid> {
    Err((field.into(), message.into()))
}

/// Check the whole artifact.
pub(crate) fn check(m: &Model) -> Result<(), Invalid> {
    if m.schema_version != MODEL_SCHEMA_VERSION {
        return bad(
            "schema_version",
            format!(
                "{} is not supported (this mixcast reads {MODEL_SCHEMA_VERSION})",
                m.schema_version
            ),
        );
    }
    m.spec
        .check(std::path::Path::new("model.json"))
        .map_err(|e| ("spec".to_string(), e.to_string()))?;
    check_dataset(&m.dataset)?;
    let (ng, np, nc) = (m.dataset.n_geos(), m.dataset.n_periods(), m.channels.len());
    if m.spec.channels.len() != nc || m.dataset.channels.len() != nc {
        return bad(
            "channels",
            format!(
                "{nc} channels, but the spec has {} and the data {}",
                m.spec.channels.len(),
                m.dataset.channels.len()
            ),
        );
    }
    if !(m.fit_start < m.fit_end && m.fit_end <= np) {
        return bad(
            "fit_end",
            format!(
                "fit window {}..{} is not inside the {np} periods of the data",
                m.fit_start, m.fit_end
            ),
        );
    }
    if m.dataset.window_start > m.fit_start {
        return bad("dataset.window_start", "is after fit_start");
    }
    positive_finite("kpi_scale", &m.kpi_scale, ng)?;
    if !m.effect_scale.is_empty() {
        positive_finite("effect_scale", &m.effect_scale, ng)?;
    }
    for (c, info) in m.channels.iter().enumerate() {
        positive_finite(&format!("channels[{c}].input_scale"), &info.input_scale, ng)?;
        if info.paid != m.dataset.channels[c].spend.is_some() {
            return bad(
                format!("channels[{c}].paid"),
                "disagrees with whether the data has spend for the channel",
            );
        }
        if let Some(p) = &info.roi_prior {
            let f = format!("channels[{c}].roi_prior");
            if !info.paid {
                return bad(f, "an organic channel has no ROI prior");
            }
            if !(p.mean.is_finite() && p.sd.is_finite() && p.sd > 0.0) {
                return bad(
                    f,
                    format!(
                        "mean must be finite and sd finite and > 0, got mean {} sd {}",
                        p.mean, p.sd
                    ),
                );
            }
        }
    }
    check_baseline(m)?;
    check_params("point", &m.point, m)?;
    for (d, p) in m.draws.iter().enumerate() {
        check_params(&format!("draws[{d}]"), p, m)?;
    }
    for (i, e) in m.experiments.iter().enumerate() {
        let f = format!("experiments[{i}]");
        if e.channel >= nc || m.channels[e.channel].name != e.channel_name {
            return bad(
                f,
                format!("channel `{}` is not a channel of the model", e.channel_name),
            );
        }
        if !m.channels[e.channel].paid {
            return bad(f, "lift tests calibrate paid channels");
        }
        match e.window(&m.dataset) {
            Some((a, b)) if m.fit_start <= a && a <= b && b < m.fit_end => {}
            _ => return bad(f, "the test window is not inside the fit window"),
        }
        if e.geo.as_ref().is_some_and(|g| !m.dataset.geos.contains(g)) {
            return bad(f, "unknown geo");
        }
        if !(e.lift.is_finite() && e.se.is_finite() && e.se > 0.0) {
            return bad(f, "lift must be finite and se finite and > 0");
        }
    }
    if !(m.interval > 0.0 && m.interval < 1.0) {
        return bad("interval", format!("must be in (0, 1), got {}", m.interval));
    }
    Ok(())
}

fn positive_finite(field: &str, v: &[f64], n: usize) -> Result<(), Invalid> {
    if v.len() != n {
        return bad(field, format!("has {} values, expected {n}", v.len()));
    }
    if let Some(i) = v.iter().position(|x| !(x.is_finite() && *x > 0.0)) {
        return bad(
            format!("{field}[{i}]"),
            format!("must be finite and > 0, got {}", v[i]),
        );
    }
    Ok(())
}

fn check_panel(field: &str, p: &Panel, ng: usize, np: usize) -> Result<(), Invalid> {
    if p.n_geos != ng || p.n_periods != np || p.values.len() != ng * np {
        return bad(
            field,
            format!(
                "shape {}×{} with {} values, expected {ng} geos × {np} periods",
                p.n_geos,
                p.n_periods,
                p.values.len()
            ),
        );
    }
    if let Some(i) = p.values.iter().position(|x| !x.is_finite()) {
        return bad(format!("{field}.values[{i}]"), "is not a finite number");
    }
    Ok(())
}

fn check_dataset(ds: &Dataset) -> Result<(), Invalid> {
    let (ng, np) = (ds.n_geos(), ds.n_periods());
    if ng == 0 || np < 2 || ng.saturating_mul(np) > MAX_CELLS {
        return bad(
            "dataset",
            format!("{ng} geos × {np} periods is not a usable panel (2..={MAX_CELLS} cells)"),
        );
    }
    let step = ds.spacing_days();
    if step <= 0
        || ds
            .dates
            .windows(2)
            .any(|w| (w[1] - w[0]).num_days() != step)
    {
        return bad("dataset.dates", "are not sorted and evenly spaced");
    }
    if ds.window_start >= np {
        return bad("dataset.window_start", "is past the last period");
    }
    check_panel("dataset.kpi", &ds.kpi, ng, np)?;
    for (c, ch) in ds.channels.iter().enumerate() {
        check_panel(&format!("dataset.channels[{c}].input"), &ch.input, ng, np)?;
        if let Some(s) = &ch.spend {
            check_panel(&format!("dataset.channels[{c}].spend"), s, ng, np)?;
        }
        let neg = |p: &Panel| p.values.iter().any(|v| *v < 0.0);
        if neg(&ch.input) || ch.spend.as_ref().is_some_and(neg) {
            return bad(
                format!("dataset.channels[{c}]"),
                "has negative media values",
            );
        }
    }
    for (i, (name, c)) in ds.controls.iter().enumerate() {
        let field = format!("dataset.controls[{i}] ({name})");
        match c {
            ControlData::Numeric { values } => check_panel(&field, values, ng, np)?,
            ControlData::Categorical { levels, codes } => {
                if codes.len() != ng * np {
                    return bad(
                        field,
                        format!("has {} codes, expected {}", codes.len(), ng * np),
                    );
                }
                if codes.iter().any(|k| *k as usize >= levels.len()) {
                    return bad(field, "has a code past its levels");
                }
            }
        }
    }
    for (i, (name, v)) in ds.holidays.iter().enumerate() {
        if v.len() != np || v.iter().any(|x| !x.is_finite()) {
            return bad(
                format!("dataset.holidays[{i}] ({name})"),
                format!("needs {np} finite values"),
            );
        }
    }
    if let Some(r) = &ds.revenue_per_kpi {
        check_panel("dataset.revenue_per_kpi", r, ng, np)?;
    }
    if let Some(p) = &ds.population {
        positive_finite("dataset.population", p, ng)?;
    }
    Ok(())
}

fn check_baseline(m: &Model) -> Result<(), Invalid> {
    let b = &m.baseline;
    let ds = &m.dataset;
    if b.n_geos != ds.n_geos() {
        return bad(
            "baseline.n_geos",
            format!("is {}, but the data has {} geos", b.n_geos, ds.n_geos()),
        );
    }
    if b.fourier_terms > MAX_FOURIER {
        return bad(
            "baseline.fourier_terms",
            format!("must be at most {MAX_FOURIER}, got {}", b.fourier_terms),
        );
    }
    if !(b.t_span.is_finite() && b.t_span > 0.0) || b.changepoints.iter().any(|c| !c.is_finite()) {
        return bad(
            "baseline.t_span",
            "trend scale and changepoints must be finite",
        );
    }
    if b.controls.len() != ds.controls.len() {
        return bad(
            "baseline.controls",
            format!(
                "{} recipes for {} controls in the data",
                b.controls.len(),
                ds.controls.len()
            ),
        );
    }
    for (i, (r, (_, d))) in b.controls.iter().zip(&ds.controls).enumerate() {
        let ok = match (r, d) {
            (ControlRecipe::Numeric { mean, sd, .. }, ControlData::Numeric { .. }) => {
                mean.is_finite() && sd.is_finite() && *sd > 0.0
            }
            (ControlRecipe::Categorical { .. }, ControlData::Categorical { .. }) => true,
            _ => false,
        };
        if !ok {
            return bad(
                format!("baseline.controls[{i}]"),
                "does not match the data's control (kind, or a non-finite or zero scale)",
            );
        }
    }
    if b.holidays.len() != ds.holidays.len() {
        return bad("baseline.holidays", "does not match the data's holidays");
    }
    let expected = b.column_info();
    if b.columns.len() != expected.len()
        || b.columns
            .iter()
            .zip(&expected)
            .any(|(a, e)| a.name != e.name || a.group != e.group)
    {
        return bad(
            "baseline.columns",
            format!(
                "{} columns do not match the recipe's {}",
                b.columns.len(),
                expected.len()
            ),
        );
    }
    Ok(())
}

fn check_params(field: &str, p: &Params, m: &Model) -> Result<(), Invalid> {
    if p.channels.len() != m.channels.len() {
        return bad(
            format!("{field}.channels"),
            format!(
                "has {} channels, expected {}",
                p.channels.len(),
                m.channels.len()
            ),
        );
    }
    if p.baseline.len() != m.baseline.n_columns() {
        return bad(
            format!("{field}.baseline"),
            format!(
                "has {} coefficients, expected {}",
                p.baseline.len(),
                m.baseline.n_columns()
            ),
        );
    }
    if let Some(i) = p.baseline.iter().position(|x| !x.is_finite()) {
        return bad(format!("{field}.baseline[{i}]"), "is not a finite number");
    }
    for (c, cp) in p.channels.iter().enumerate() {
        let f = format!("{field}.channels[{c}]");
        if !cp.coef.is_finite() {
            return bad(format!("{f}.coef"), "is not a finite number");
        }
        let ng = m.dataset.n_geos();
        if !cp.geo_effect.is_empty() && cp.geo_effect.len() != ng {
            return bad(
                format!("{f}.geo_effect"),
                format!("has {} values, expected {ng}", cp.geo_effect.len()),
            );
        }
        if let Some(i) = cp
            .geo_effect
            .iter()
            .position(|x| !(x.is_finite() && *x >= 0.0))
        {
            return bad(
                format!("{f}.geo_effect[{i}]"),
                format!("must be finite and ≥ 0, got {}", cp.geo_effect[i]),
            );
        }
        check_adstock(&format!("{f}.adstock"), &cp.adstock)?;
        check_saturation(&format!("{f}.saturation"), &cp.saturation)?;
    }
    Ok(())
}

fn check_adstock(field: &str, a: &Adstock) -> Result<(), Invalid> {
    let lag_ok = |l: usize| (1..=MAX_LAG).contains(&l);
    let pos = |v: f64| v.is_finite() && v > 0.0;
    let ok = match *a {
        Adstock::Geometric { decay, max_lag, .. } => (0.0..1.0).contains(&decay) && lag_ok(max_lag),
        Adstock::WeibullCdf {
            shape,
            scale,
            max_lag,
            ..
        }
        | Adstock::WeibullPdf {
            shape,
            scale,
            max_lag,
            ..
        } => pos(shape) && pos(scale) && lag_ok(max_lag),
        Adstock::Delayed {
            decay,
            peak,
            max_lag,
            ..
        } => (0.0..1.0).contains(&decay) && peak.is_finite() && peak >= 0.0 && lag_ok(max_lag),
        Adstock::None => true,
    };
    if !ok {
        return bad(
            field,
            format!("{a:?} is out of range (decay in [0, 1), positive shape and scale, max_lag 1..={MAX_LAG})"),
        );
    }
    if a.weights().iter().any(|w| !w.is_finite()) {
        return bad(field, "gives non-finite carryover weights");
    }
    Ok(())
}

fn check_saturation(field: &str, s: &Saturation) -> Result<(), Invalid> {
    let pos = |v: f64| v.is_finite() && v > 0.0;
    let ok = match *s {
        Saturation::Hill { k, s } => pos(k) && pos(s) && s <= 20.0,
        Saturation::Logistic { lambda } => pos(lambda),
        Saturation::None => true,
    };
    if ok {
        Ok(())
    } else {
        bad(
            field,
            format!("{s:?} is out of range (positive, finite parameters)"),
        )
    }
}
