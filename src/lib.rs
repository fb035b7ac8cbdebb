//! mixcast: marketing-mix modeling and forecasting.
//!
//! Pipeline: spec ([`LoadedSpec`]) → data ([`load_dataset`]) → [`fit()`] → [`Model`] →
//! analysis ([`summarize`], [`decompose`], [`response_curves`]).

pub mod analysis;
pub mod attribution;
pub mod data;
pub mod design;
pub mod fit;
pub mod io;
pub mod linalg;
pub mod model;
pub mod optimize;
pub mod recovery;
pub mod report;
pub mod scenario;
pub mod simulate;
pub mod spec;
pub mod transform;

pub use analysis::{
    channel_metrics, decompose, response_curves, summarize, Decomposition, Summary,
};
pub use data::{load_dataset, DataError, Dataset, Panel};
pub use fit::{fit, FitError, FitOptions};
pub use model::{Model, ModelError, Params};
pub use simulate::{simulate, SimConfig, Simulation, Truth};
pub use spec::{LoadedSpec, Spec, SpecError};

use thiserror::Error;

/// Any library error, with a flag for whether the user's input caused it.
#[derive(Debug, Error)]
pub enum Error {
    /// Bad spec.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// Bad data.
    #[error(transparent)]
    Data(#[from] DataError),
    /// Fit failure.
    #[error(transparent)]
    Fit(#[from] FitError),
    /// Bad model artifact.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// Bad scenario plan.
    #[error(transparent)]
    Scenario(#[from] scenario::ScenarioError),
    /// Bad optimisation request.
    #[error(transparent)]
    Optimize(#[from] optimize::OptimizeError),
    /// Bad journeys input or attribution settings.
    #[error(transparent)]
    Attribution(#[from] attribution::AttributionError),
    /// Writing output failed.
    #[error("cannot write {path}: {source}")]
    Write {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

impl Error {
    /// Whether the error is the user's input (exit code 2) rather than a failure (1).
    pub fn is_user_error(&self) -> bool {
        match self {
            Error::Spec(_)
            | Error::Data(_)
            | Error::Model(_)
            | Error::Attribution(_)
            | Error::Scenario(_)
            | Error::Optimize(_) => true,
            Error::Fit(FitError::Data(_)) | Error::Fit(FitError::BadInput(_)) => true,
            Error::Fit(FitError::Numerical(_)) | Error::Write { .. } => false,
        }
    }
}

/// Load a spec and its data, then fit.
pub fn fit_spec_file(path: &std::path::Path, opts: &FitOptions) -> Result<Model, Error> {
    let spec = LoadedSpec::load(path)?;
    let ds = load_dataset(&spec)?;
    Ok(fit(&spec, ds, opts)?)
}
