//! Media transforms: carryover (adstock) and diminishing returns (saturation).
//!
//! Kernels are plain functions over slices; the closed sets of forms are enums that
//! serialise with a `kind` tag so a fitted model records exactly what it applied.

pub mod adstock;
pub mod saturation;

pub use adstock::{Adstock, AdstockKind};
pub use saturation::{Saturation, SaturationKind};

/// A parameter of a transform with the box it is searched in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParamBox {
    /// Lowest allowed value.
    pub lo: f64,
    /// Highest allowed value.
    pub hi: f64,
    /// Centre of the default prior (inside `lo..hi`).
    pub center: f64,
    /// Prior standard deviation on the unconstrained (logit) scale.
    pub sd: f64,
}

impl ParamBox {
    /// Map an unconstrained value to the box: `lo + (hi - lo) · sigmoid(u)`.
    pub fn from_unconstrained(&self, u: f64) -> f64 {
        self.lo + (self.hi - self.lo) / (1.0 + (-u).exp())
    }

    /// Inverse of [`ParamBox::from_unconstrained`], clamped away from the edges.
    pub fn to_unconstrained(&self, v: f64) -> f64 {
        let w = self.hi - self.lo;
        if w <= 0.0 {
            return 0.0;
        }
        let p = ((v - self.lo) / w).clamp(1e-6, 1.0 - 1e-6);
        (p / (1.0 - p)).ln()
    }
}
