//! Baseline design: intercepts, trend, yearly Fourier seasonality, controls and holidays.
//! A [`Baseline`] is a recipe fixed at fit time (time origin, control standardisation,
//! category levels) so the same columns can be rebuilt for any period, in or past the
//! fit window.

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::data::{ControlData, Dataset};
use crate::spec::{SeasonalitySpec, TrendKind};

/// How one control is encoded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ControlRecipe {
    /// `(x − mean) / sd` over the fit window.
    Numeric { name: String, mean: f64, sd: f64 },
    /// One dummy per non-reference level (`levels[1..]`; `levels[0]` is the reference).
    Categorical { name: String, levels: Vec<String> },
}

/// A group of baseline columns, for the decomposition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnInfo {
    /// Column label, e.g. `trend`, `sin1`, `price`, `events=event1`.
    pub name: String,
    /// Decomposition group: `intercept`, `trend`, `seasonality`, `holidays`, or a control name.
    pub group: String,
    /// Ridge penalty weight (per observation) on this coefficient.
    pub ridge: f64,
}

/// The baseline recipe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// Geo count: one intercept each.
    pub n_geos: usize,
    /// Trend form.
    pub trend: TrendKind,
    /// Period index where scaled time is 0.
    pub t_origin: usize,
    /// Periods per unit of scaled time (the fit window length).
    pub t_span: f64,
    /// Changepoints in scaled time (piecewise trend).
    pub changepoints: Vec<f64>,
    /// Yearly Fourier pairs.
    pub fourier_terms: usize,
    /// Control encodings.
    pub controls: Vec<ControlRecipe>,
    /// Holiday names (dataset order).
    pub holidays: Vec<String>,
    /// Column labels, groups and penalties, in matrix order.
    pub columns: Vec<ColumnInfo>,
}

const YEAR_DAYS: f64 = 365.25;

impl Baseline {
    /// Fix the recipe on the fit window `t0..t1` of a dataset.
    pub fn new(ds: &Dataset, seas: &SeasonalitySpec, t0: usize, t1: usize) -> Self {
        let span = (t1 - t0).max(1) as f64;
        let changepoints = match seas.trend {
            TrendKind::Piecewise => {
                let n = seas.changepoints.unwrap_or(((t1 - t0) / 26).max(1));
                (1..=n).map(|i| i as f64 / (n + 1) as f64).collect()
            }
            _ => Vec::new(),
        };
        let mut controls = Vec::new();
        for (name, c) in &ds.controls {
            match c {
                ControlData::Numeric { values } => {
                    let vals: Vec<f64> = (0..values.n_geos)
                        .flat_map(|g| values.series(g)[t0..t1].to_vec())
                        .collect();
                    let mean = vals.iter().sum::<f64>() / vals.len() as f64;
                    let var =
                        vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / vals.len() as f64;
                    let sd = if var.sqrt() > 1e-12 * (1.0 + mean.abs()) {
                        var.sqrt()
                    } else {
                        1.0
                    };
                    controls.push(ControlRecipe::Numeric {
                        name: name.clone(),
                        mean,
                        sd,
                    });
                }
                ControlData::Categorical { levels, .. } => {
                    controls.push(ControlRecipe::Categorical {
                        name: name.clone(),
                        levels: levels.clone(),
                    })
                }
            }
        }
        let mut b = Baseline {
            n_geos: ds.n_geos(),
            trend: seas.trend,
            t_origin: t0,
            t_span: span,
            changepoints,
            fourier_terms: seas.yearly_fourier_terms,
            controls,
            holidays: ds.holidays.iter().map(|(n, _)| n.clone()).collect(),
            columns: Vec::new(),
        };
        b.columns = b.column_info();
        b
    }

    pub(crate) fn column_info(&self) -> Vec<ColumnInfo> {
        let col = |name: String, group: &str, ridge: f64| ColumnInfo {
            name,
            group: group.to_string(),
            ridge,
        };
        let mut v = Vec::new();
        for g in 0..self.n_geos {
            v.push(col(format!("intercept[{g}]"), "intercept", 0.0));
        }
        if self.trend != TrendKind::None {
            v.push(col("trend".into(), "trend", 1e-6));
        }
        for (i, _) in self.changepoints.iter().enumerate() {
            v.push(col(format!("changepoint{}", i + 1), "trend", 0.05));
        }
        for k in 1..=self.fourier_terms {
            v.push(col(format!("sin{k}"), "seasonality", 1e-4));
            v.push(col(format!("cos{k}"), "seasonality", 1e-4));
        }
        for c in &self.controls {
            match c {
                ControlRecipe::Numeric { name, .. } => v.push(col(name.clone(), name, 1e-4)),
                ControlRecipe::Categorical { name, levels } => {
                    for l in levels.iter().skip(1) {
                        v.push(col(format!("{name}={l}"), name, 1e-4));
                    }
                }
            }
        }
        for h in &self.holidays {
            v.push(col(format!("holiday:{h}"), "holidays", 1e-3));
        }
        v
    }

    /// Number of baseline columns.
    pub fn n_columns(&self) -> usize {
        self.columns.len()
    }

    /// Fill `row` (length [`Baseline::n_columns`]) with the columns for geo `g` at period
    /// `t` of `ds` (dates outside the data are not needed: `t` indexes `ds`).
    pub fn row(&self, ds: &Dataset, g: usize, t: usize, row: &mut [f64]) {
        row.iter_mut().for_each(|v| *v = 0.0);
        let mut i = self.n_geos;
        row[g] = 1.0;
        let s = (t as f64 - self.t_origin as f64) / self.t_span;
        if self.trend != TrendKind::None {
            row[i] = s;
            i += 1;
        }
        for c in &self.changepoints {
            row[i] = (s - c).max(0.0);
            i += 1;
        }
        let phase = year_phase(ds.dates[t]);
        for k in 1..=self.fourier_terms {
            let a = 2.0 * std::f64::consts::PI * k as f64 * phase;
            row[i] = a.sin();
            row[i + 1] = a.cos();
            i += 2;
        }
        for (c, (_, data)) in self.controls.iter().zip(&ds.controls) {
            match (c, data) {
                (ControlRecipe::Numeric { mean, sd, .. }, ControlData::Numeric { values }) => {
                    row[i] = (values.at(g, t) - mean) / sd;
                    i += 1;
                }
                (
                    ControlRecipe::Categorical { levels, .. },
                    ControlData::Categorical { levels: dl, codes },
                ) => {
                    let level = &dl[codes[g * ds.n_periods() + t] as usize];
                    for l in levels.iter().skip(1) {
                        row[i] = if l == level { 1.0 } else { 0.0 };
                        i += 1;
                    }
                }
                (ControlRecipe::Numeric { .. }, _) | (ControlRecipe::Categorical { .. }, _) => {
                    let n = match c {
                        ControlRecipe::Numeric { .. } => 1,
                        ControlRecipe::Categorical { levels, .. } => levels.len().saturating_sub(1),
                    };
                    i += n;
                }
            }
        }
        for (h, _) in self.holidays.iter().enumerate() {
            row[i] = ds.holidays.get(h).map(|(_, v)| v[t]).unwrap_or(0.0);
            i += 1;
        }
    }
}

/// Fraction of the year elapsed at a date, in `[0, 1)`.
fn year_phase(d: NaiveDate) -> f64 {
    let days = d.num_days_from_ce() as f64;
    (days / YEAR_DAYS).fract()
}
