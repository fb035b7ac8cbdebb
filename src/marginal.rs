//! Marginal returns. mixcast reports three, each answering a different question, so each
//! has its own name here (JSON keeps the field name `mroi`, documented per document):
//!
//! - **Step mROI over the fit window** ([`step_mroi`] on [`crate::analysis::Metrics`];
//!   `summary.json` `mroi`): extra KPI in the fit window, carryover included, when the
//!   channel's input rises by [`STEP`] (1%) in every fit period, per unit of that extra
//!   spend. What the last period's spending would have earned at the margin.
//! - **Step mROI of a plan** ([`step_mroi`] in [`crate::scenario`]; `scenario` `mroi`):
//!   the same +1% step applied to a future plan, KPI counted over the horizon (and tail).
//! - **Slope mROI** (`optimize` `mroi`): the exact derivative of the channel's window
//!   KPI with respect to its total spend at the recommended spend — the quantity the
//!   optimizer equalises across interior channels.

/// Relative spend step of the step mROI.
pub const STEP: f64 = 0.01;

/// Step mROI: `extra_kpi / (STEP · spend)` for the extra KPI caused by raising `spend`
/// by [`STEP`]; None without spend (organic channels, dark plans).
pub fn step_mroi(extra_kpi: f64, spend: f64) -> Option<f64> {
    (spend > 0.0).then(|| extra_kpi / (STEP * spend))
}
