//! Validated input data: a balanced panel of periods × geos with the KPI, media inputs,
//! spend and controls named by a spec.

mod load;

pub use load::{load_dataset, load_dataset_observed, DataError};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// Values over geos × periods, row-major by geo: `values[g * n_periods + t]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Panel {
    /// Number of geos.
    pub n_geos: usize,
    /// Number of periods.
    pub n_periods: usize,
    /// `[n_geos * n_periods]`.
    pub values: Vec<f64>,
}

impl Panel {
    /// A zero panel.
    pub fn zeros(n_geos: usize, n_periods: usize) -> Self {
        Panel {
            n_geos,
            n_periods,
            values: vec![0.0; n_geos * n_periods],
        }
    }

    /// One geo's series, `[n_periods]`.
    pub fn series(&self, g: usize) -> &[f64] {
        &self.values[g * self.n_periods..(g + 1) * self.n_periods]
    }

    /// One geo's series, mutable.
    pub fn series_mut(&mut self, g: usize) -> &mut [f64] {
        &mut self.values[g * self.n_periods..(g + 1) * self.n_periods]
    }

    /// Value at geo `g`, period `t`.
    pub fn at(&self, g: usize, t: usize) -> f64 {
        self.values[g * self.n_periods + t]
    }

    /// Sum over geos and the periods in `range`.
    pub fn sum_over(&self, range: std::ops::Range<usize>) -> f64 {
        (0..self.n_geos)
            .map(|g| self.series(g)[range.clone()].iter().sum::<f64>())
            .sum()
    }
}

/// A control's values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ControlData {
    /// Numeric values.
    Numeric {
        /// `[geo][period]` values.
        values: Panel,
    },
    /// Text levels; `codes` index `levels` (`[n_geos * n_periods]`).
    Categorical {
        /// Distinct levels, most frequent first (the reference level).
        levels: Vec<String>,
        /// Level index per cell.
        codes: Vec<u32>,
    },
}

/// One channel's data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelData {
    /// Channel name.
    pub name: String,
    /// The modelled input (exposure if given, else spend).
    pub input: Panel,
    /// Spend (None for organic channels).
    pub spend: Option<Panel>,
}

/// A validated dataset. Periods are sorted and evenly spaced; every geo has every period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dataset {
    /// Period start dates, `[n_periods]`.
    pub dates: Vec<NaiveDate>,
    /// Geo names (`["national"]` without a geo column).
    pub geos: Vec<String>,
    /// KPI, `[geo][period]`.
    pub kpi: Panel,
    /// Channels in spec order.
    pub channels: Vec<ChannelData>,
    /// Controls in spec order, with names.
    pub controls: Vec<(String, ControlData)>,
    /// Holiday dummies by name, `[n_periods]` each.
    pub holidays: Vec<(String, Vec<f64>)>,
    /// Revenue per KPI unit, when the spec names such a column.
    pub revenue_per_kpi: Option<Panel>,
    /// First period of the modelling window (earlier periods only feed carryover).
    pub window_start: usize,
    /// Population per geo, `[n_geos]`, when the spec names a population column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub population: Option<Vec<f64>>,
}

impl Dataset {
    /// Number of periods (history + window).
    pub fn n_periods(&self) -> usize {
        self.dates.len()
    }

    /// Number of geos.
    pub fn n_geos(&self) -> usize {
        self.geos.len()
    }

    /// Spacing between periods in days.
    pub fn spacing_days(&self) -> i64 {
        if self.dates.len() < 2 {
            7
        } else {
            (self.dates[1] - self.dates[0]).num_days()
        }
    }
}
