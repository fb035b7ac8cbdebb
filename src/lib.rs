//! mixcast: marketing-mix modeling and forecasting.
//!
//! Pipeline: spec ([`ValidSpec`]) → data ([`load_dataset`]) → [`fit()`] → [`Model`] →
//! analysis ([`summarize`], [`decompose`], [`response_curves`]).

pub mod analysis;
pub mod attribution;
pub mod backtest;
pub mod calibration;
pub mod combine;
pub mod credit;
pub mod crossval;
pub mod data;
pub mod design;
pub mod fit;
pub mod io;
pub mod joint;
pub mod json;
pub mod linalg;
pub mod marginal;
pub mod mcmc;
pub mod model;
pub mod observe;
pub mod optimize;
pub mod recovery;
pub mod refresh;
pub mod registry;
pub mod report;
pub mod scenario;
#[cfg(feature = "serve")]
pub mod serve;
pub mod simulate;
pub mod spec;
pub mod transform;

pub use analysis::{
    channel_metrics, decompose, response_curves, summarize, Decomposition, Summary,
};
pub use data::{load_dataset, load_dataset_observed, DataError, Dataset, Panel};
pub use fit::{fit, fit_calibrated, fit_observed, FitError, FitOptions};
pub use model::{Model, ModelError, Params};
pub use simulate::{simulate, SimConfig, Simulation, Truth};
pub use spec::{Spec, SpecError, ValidSpec};

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
    /// Bad combination inputs (attribution document, channel map, lift tests).
    #[error(transparent)]
    Combine(#[from] combine::CombineError),
    /// New data that does not line up with a model (backtest, refresh).
    #[error(transparent)]
    Backtest(#[from] backtest::BacktestError),
    /// Model registry failure.
    #[error(transparent)]
    Registry(#[from] registry::RegistryError),
    /// Bad teams or targets file.
    #[error(transparent)]
    Credit(#[from] credit::CreditError),
    /// Writing output failed.
    #[error("cannot write {path}: {source}")]
    Write {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

impl Error {
    /// A stable machine name for the error's class (the `kind` of a JSON error document).
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Spec(_) => "spec",
            Error::Data(_) | Error::Fit(FitError::Data(_)) => "data",
            Error::Fit(FitError::BadInput(_)) => "request",
            Error::Fit(FitError::Numerical(_)) => "numerical",
            Error::Fit(FitError::Experiments(_)) => "data",
            Error::Fit(FitError::Priors(_)) => "attribution",
            Error::Model(_) => "model",
            Error::Scenario(_) => "plan",
            Error::Optimize(_) => "request",
            Error::Attribution(_) => "journeys",
            Error::Combine(combine::CombineError::Map { .. }) => "channel_map",
            Error::Combine(combine::CombineError::Experiments(_)) => "data",
            Error::Combine(_) => "attribution",
            Error::Backtest(backtest::BacktestError::Load(e)) => e.kind(),
            Error::Backtest(_) => "data",
            Error::Registry(_) => "registry",
            Error::Credit(credit::CreditError::Request(_)) => "request",
            Error::Credit(_) => "data",
            Error::Write { .. } => "output",
        }
    }

    /// What the error is about, as precisely as known: a file with its row and column, a
    /// spec key, a model field, a channel.
    pub fn culprit(&self) -> Option<String> {
        use attribution::AttributionError as A;
        use data::DataError as D;
        let file = |p: &std::path::Path| p.display().to_string();
        Some(match self {
            Error::Spec(SpecError::Value { path, key, .. }) => format!("{}: {key}", file(path)),
            Error::Spec(SpecError::Io { path, .. } | SpecError::Parse { path, .. }) => file(path),
            Error::Data(d) | Error::Fit(FitError::Data(d)) => match d {
                D::BadCell {
                    path, row, column, ..
                } => format!("{}: row {row}, column {column}", file(path)),
                D::MissingColumn { path, column, .. }
                | D::DuplicateColumn { path, column, .. }
                | D::ConstantKpi { path, column, .. }
                | D::DeadChannel { path, column, .. } => format!("{}: column {column}", file(path)),
                D::Csv { path, row, .. }
                | D::DuplicateDate { path, row, .. }
                | D::Spacing { path, row, .. } => format!("{}: row {row}", file(path)),
                D::OutsideData { path, key, .. } => format!("{}: {key}", file(path)),
                D::Unbalanced { path, geo, .. } => format!("{}: geo {geo}", file(path)),
                D::Io { path, .. } | D::Empty { path, .. } | D::TooShort { path, .. } => file(path),
            },
            Error::Model(ModelError::Invalid { path, field, .. }) => {
                format!("{}: {field}", file(path))
            }
            Error::Model(ModelError::Io { path, .. }) => file(path),
            Error::Fit(FitError::Experiments(e))
            | Error::Combine(combine::CombineError::Experiments(e)) => match e {
                calibration::ExperimentError::Io { path, .. } => file(path),
                calibration::ExperimentError::Invalid {
                    path, row, column, ..
                } => format!("{}: row {row}, column {column}", file(path)),
            },
            Error::Combine(c) | Error::Fit(FitError::Priors(c)) => match c {
                combine::CombineError::Io { path, .. } => file(path),
                combine::CombineError::Attribution { path, field, .. } => {
                    format!("{}: {field}", file(path))
                }
                combine::CombineError::Map {
                    path, row, column, ..
                } if !column.is_empty() => format!("{}: row {row}, column {column}", file(path)),
                combine::CombineError::Map { path, row, .. } => {
                    format!("{}: row {row}", file(path))
                }
                combine::CombineError::Request(_) | combine::CombineError::Experiments(_) => {
                    return None
                }
            },
            Error::Scenario(
                scenario::ScenarioError::Io { path, .. }
                | scenario::ScenarioError::Invalid { path, .. },
            ) => file(path),
            Error::Optimize(optimize::OptimizeError::UnknownChannel { name, .. }) => name.clone(),
            Error::Attribution(a) => match a {
                A::BadRow {
                    path, row, column, ..
                } if !column.is_empty() => format!("{}: row {row}, column {column}", file(path)),
                A::BadRow { path, row, .. } => format!("{}: row {row}", file(path)),
                A::MissingColumn { path, column, .. } => format!("{}: column {column}", file(path)),
                A::Io { path, .. } | A::Empty { path } => file(path),
                A::Config(_) => return None,
            },
            Error::Write { path, .. } => file(path),
            Error::Backtest(backtest::BacktestError::Load(e)) => return e.culprit(),
            Error::Backtest(backtest::BacktestError::Mismatch { path, .. }) => file(path),
            Error::Credit(credit::CreditError::Io { path, .. }) => file(path),
            Error::Credit(credit::CreditError::Row {
                path, row, column, ..
            }) => format!("{}: row {row}, column {column}", file(path)),
            Error::Credit(credit::CreditError::Request(_)) => return None,
            Error::Registry(r) => match r {
                registry::RegistryError::Io { path, .. }
                | registry::RegistryError::Invalid { path, .. } => file(path),
                registry::RegistryError::BadName(n) => n.clone(),
                registry::RegistryError::UnknownModel { name, .. }
                | registry::RegistryError::UnknownVersion { name, .. } => name.clone(),
                registry::RegistryError::Artifacts(_) => return None,
            },
            Error::Fit(_) | Error::Optimize(_) | Error::Scenario(_) => return None,
        })
    }

    /// Whether the error is the user's input (exit code 2) rather than a failure (1).
    pub fn is_user_error(&self) -> bool {
        match self {
            Error::Spec(_)
            | Error::Data(_)
            | Error::Model(_)
            | Error::Attribution(_)
            | Error::Combine(_)
            | Error::Scenario(_)
            | Error::Optimize(_) => true,
            Error::Fit(FitError::Data(_))
            | Error::Fit(FitError::BadInput(_))
            | Error::Fit(FitError::Experiments(_))
            | Error::Fit(FitError::Priors(_)) => true,
            Error::Backtest(backtest::BacktestError::Load(e)) => e.is_user_error(),
            Error::Backtest(_) => true,
            Error::Registry(registry::RegistryError::Io { source, .. }) => matches!(
                source.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
            ),
            Error::Registry(registry::RegistryError::Artifacts(_)) => false,
            Error::Registry(_) => true,
            Error::Credit(_) => true,
            Error::Fit(FitError::Numerical(_)) | Error::Write { .. } => false,
        }
    }
}

/// Load a spec and its data, then fit, reporting progress and warnings to `obs`.
pub fn fit_spec_file(
    path: &std::path::Path,
    opts: &FitOptions,
    obs: &dyn observe::Observer,
) -> Result<Model, Error> {
    let spec = refresh::with_data(&ValidSpec::load(path)?, opts.data.as_deref())?;
    let ds = load_dataset_observed(&spec, obs)?;
    Ok(fit_observed(&spec, ds, opts, obs)?)
}
