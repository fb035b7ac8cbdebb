//! Model registry: content-addressed versions of each model, one of them promoted.
//!
//! Layout of a registry folder `REG` (plain files, so a job, a reviewer and
//! `mixcast serve --models REG` all read it without mixcast):
//!
//! ```text
//! REG/<name>/model.json, summary.json, decomposition.csv, curves.json, promoted.json
//!                                  the promoted version: what `serve` reads
//! REG/<name>/versions/<model_id>/  every version added: its artifacts, version.json
//!                                  and, for a refresh, drift.json
//! REG/<name>/history.jsonl         one line per promotion
//! ```
//!
//! `model_id` is the model's content hash ([`Model::content_id`]), so adding the same fit
//! twice is a no-op. Each version folder is written as a set ([`crate::io::write_set`])
//! and promotion copies a version's artifacts over the served ones as a set, so a
//! reader never sees a half-written version or a `model.json` from one version beside a
//! `summary.json` from another.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::analysis::{self, Summary};
use crate::model::Model;

/// Schema version of [`Version`] and [`Listing`].
pub const REGISTRY_SCHEMA_VERSION: u32 = 1;

/// Registry failures.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// Reading or writing the registry failed.
    #[error("registry {path}: {source}")]
    Io {
        /// File or folder.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// A model name that cannot be a folder name.
    #[error("model name `{0}`: use letters, digits, `_`, `-` and `.` (not first), at most 100 characters")]
    BadName(String),
    /// No such model in the registry.
    #[error("registry {registry}: no model `{name}` (models: {known})")]
    UnknownModel {
        /// Registry folder.
        registry: PathBuf,
        /// Name asked for.
        name: String,
        /// Names present.
        known: String,
    },
    /// No such version (or an ambiguous prefix).
    #[error("model `{name}`: {message}")]
    UnknownVersion {
        /// Model name.
        name: String,
        /// What went wrong, with the versions present.
        message: String,
    },
    /// A registry file that is not what mixcast wrote.
    #[error("registry file {path}: {message}")]
    Invalid {
        /// File.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A version's artifacts could not be produced.
    #[error("cannot render the model's artifacts: {0}")]
    Artifacts(String),
}

/// How a version came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// `mixcast models add` of a fit's output.
    Fit,
    /// `mixcast refresh --registry`.
    Refresh,
}

/// `version.json`: what a version is.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Version {
    /// Schema version.
    pub schema_version: u32,
    /// Content hash of the model.
    pub model_id: String,
    /// Model name (registry folder).
    pub name: String,
    /// When it was added (UTC, RFC 3339).
    pub created: String,
    /// Hash of its data file.
    pub data_hash: String,
    /// First and last date of its fit window.
    pub fit_window: [String; 2],
    /// mixcast version that fitted it.
    pub mixcast_version: String,
    /// How it came to be.
    pub source: Source,
    /// Gate verdict of the refresh that produced it (`pass` or `drift`).
    pub gate: Option<crate::refresh::Status>,
    /// Channels the gate flagged.
    #[serde(default)]
    pub flagged_channels: Vec<String>,
    /// The model it was refreshed from.
    pub previous: Option<String>,
    /// Whether it is the promoted version (filled in by [`list`] and [`show`]).
    #[serde(default)]
    pub promoted: bool,
}

/// `promoted.json` and one `history.jsonl` line.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Promotion {
    /// Promoted version.
    pub model_id: String,
    /// When (UTC, RFC 3339).
    pub promoted_at: String,
}

/// One model of a registry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    /// Model name.
    pub name: String,
    /// Promoted version.
    pub promoted: Option<String>,
    /// Versions, oldest first.
    pub versions: Vec<Version>,
}

/// The `models list --json` document.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Listing {
    /// Schema version.
    pub schema_version: u32,
    /// Registry folder.
    pub registry: String,
    /// Models by name.
    pub models: Vec<Entry>,
}

/// Files of a set by name, with their bytes.
pub type Files = Vec<(&'static str, Vec<u8>)>;

/// A fit's artifacts as a file set, and its summary: `model.json`, `summary.json`,
/// `decomposition.csv`, `curves.json` (what `mixcast fit --out` writes).
pub fn artifacts(model: &Model) -> Result<(Summary, Files), RegistryError> {
    let summary = analysis::summarize(model);
    let curves = analysis::curves_document(model, 20).map_err(RegistryError::Artifacts)?;
    let files = vec![
        ("model.json", pretty(model)),
        ("summary.json", pretty(&summary)),
        (
            "decomposition.csv",
            analysis::decompose(model).to_csv().into_bytes(),
        ),
        ("curves.json", pretty(&curves)),
    ];
    Ok((summary, files))
}

/// Pretty JSON with a final newline.
pub fn pretty<T: Serialize + ?Sized>(v: &T) -> Vec<u8> {
    let mut b = serde_json::to_vec_pretty(v).unwrap_or_default();
    b.push(b'\n');
    b
}

/// Check a model name.
pub fn check_name(name: &str) -> Result<(), RegistryError> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(RegistryError::BadName(name.to_string()))
    }
}

/// Now as RFC 3339 UTC.
fn now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RegistryError + '_ {
    move |source| RegistryError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Add `model` to the registry under `name` (no-op when that version exists); `extra`
/// files (e.g. `drift.json`) are kept with it. Returns the version record.
pub fn add(
    registry: &Path,
    name: &str,
    model: &Model,
    source: Source,
    drift: Option<&crate::refresh::Drift>,
) -> Result<Version, RegistryError> {
    check_name(name)?;
    let id = model.content_id();
    let dir = registry.join(name).join("versions").join(&id);
    if dir.join("version.json").is_file() {
        return read_version(&dir.join("version.json"));
    }
    let ds = &model.dataset;
    let version = Version {
        schema_version: REGISTRY_SCHEMA_VERSION,
        model_id: id,
        name: name.to_string(),
        created: now(),
        data_hash: model.data_fingerprint.hash.clone(),
        fit_window: [
            ds.dates[model.fit_start].to_string(),
            ds.dates[model.fit_end - 1].to_string(),
        ],
        mixcast_version: model.mixcast_version.clone(),
        source,
        gate: drift.map(|d| d.status),
        flagged_channels: drift
            .map(|d| d.flagged_channels.clone())
            .unwrap_or_default(),
        previous: drift.map(|d| d.previous.model_id.clone()),
        promoted: false,
    };
    let (_, mut files) = artifacts(model)?;
    if let Some(d) = drift {
        files.push(("drift.json", pretty(d)));
    }
    files.push(("version.json", pretty(&version)));
    crate::io::write_set(&dir, &files).map_err(io(&dir))?;
    Ok(version)
}

fn read_version(path: &Path) -> Result<Version, RegistryError> {
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    serde_json::from_str(&text).map_err(|e| RegistryError::Invalid {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// The promoted version of `name`, if any.
fn promoted(registry: &Path, name: &str) -> Result<Option<Promotion>, RegistryError> {
    let path = registry.join(name).join("promoted.json");
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| RegistryError::Invalid {
                path,
                message: e.to_string(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(&path)(e)),
    }
}

/// Model names in the registry (folders with a `versions` folder), sorted.
fn names(registry: &Path) -> Result<Vec<String>, RegistryError> {
    let rd = std::fs::read_dir(registry).map_err(io(registry))?;
    let mut v: Vec<String> = rd
        .filter_map(Result::ok)
        .filter(|e| e.path().join("versions").is_dir())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .collect();
    v.sort();
    Ok(v)
}

/// Every model and version of the registry.
pub fn list(registry: &Path) -> Result<Listing, RegistryError> {
    let models = names(registry)?
        .into_iter()
        .map(|n| entry(registry, &n))
        .collect::<Result<_, _>>()?;
    Ok(Listing {
        schema_version: REGISTRY_SCHEMA_VERSION,
        registry: registry.display().to_string(),
        models,
    })
}

fn entry(registry: &Path, name: &str) -> Result<Entry, RegistryError> {
    check_name(name)?;
    let vdir = registry.join(name).join("versions");
    if !vdir.is_dir() {
        return Err(RegistryError::UnknownModel {
            registry: registry.to_path_buf(),
            name: name.to_string(),
            known: names(registry)?.join(", "),
        });
    }
    let promoted = promoted(registry, name)?.map(|p| p.model_id);
    let mut versions: Vec<Version> = std::fs::read_dir(&vdir)
        .map_err(io(&vdir))?
        .filter_map(Result::ok)
        .filter(|e| e.path().join("version.json").is_file())
        .map(|e| read_version(&e.path().join("version.json")))
        .collect::<Result<_, _>>()?;
    for v in versions.iter_mut() {
        v.promoted = promoted.as_deref() == Some(v.model_id.as_str());
    }
    versions.sort_by(|a, b| (&a.created, &a.model_id).cmp(&(&b.created, &b.model_id)));
    Ok(Entry {
        name: name.to_string(),
        promoted,
        versions,
    })
}

/// The version of `name` whose id starts with `id` (unique prefix), or the promoted one
/// when `id` is `None`.
pub fn show(registry: &Path, name: &str, id: Option<&str>) -> Result<Version, RegistryError> {
    let e = entry(registry, name)?;
    let unknown = |message: String| RegistryError::UnknownVersion {
        name: name.to_string(),
        message,
    };
    let known = || {
        e.versions
            .iter()
            .map(|v| v.model_id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let want = match id {
        Some(i) => i.to_string(),
        None => e
            .promoted
            .clone()
            .ok_or_else(|| unknown(format!("no promoted version (versions: {})", known())))?,
    };
    let hits: Vec<&Version> = e
        .versions
        .iter()
        .filter(|v| !want.is_empty() && v.model_id.starts_with(&want))
        .collect();
    match hits.as_slice() {
        [v] => Ok((*v).clone()),
        [] => Err(unknown(format!(
            "no version `{want}` (versions: {})",
            known()
        ))),
        _ => Err(unknown(format!(
            "`{want}` matches several versions (versions: {})",
            known()
        ))),
    }
}

/// Promote version `id` (a unique prefix) of `name`: its artifacts replace the served
/// ones as a set, and the promotion is appended to `history.jsonl`.
pub fn promote(registry: &Path, name: &str, id: &str) -> Result<Version, RegistryError> {
    let mut v = show(registry, name, Some(id))?;
    let vdir = registry.join(name).join("versions").join(&v.model_id);
    let promotion = Promotion {
        model_id: v.model_id.clone(),
        promoted_at: now(),
    };
    let mut files = Vec::new();
    for f in [
        "model.json",
        "summary.json",
        "decomposition.csv",
        "curves.json",
    ] {
        let p = vdir.join(f);
        files.push((f, std::fs::read(&p).map_err(io(&p))?));
    }
    files.push(("promoted.json", pretty(&promotion)));
    let dir = registry.join(name);
    crate::io::write_set(&dir, &files).map_err(io(&dir))?;
    let hist = dir.join("history.jsonl");
    let mut line = serde_json::to_string(&promotion).unwrap_or_default();
    line.push('\n');
    use std::io::Write;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&hist)
        .and_then(|mut f| f.write_all(line.as_bytes()))
        .map_err(io(&hist))?;
    v.promoted = true;
    Ok(v)
}

/// The promoted model of `name`, loaded and validated.
pub fn load_promoted(registry: &Path, name: &str) -> Result<Model, crate::Error> {
    let v = show(registry, name, None)?;
    Ok(Model::load(
        &registry
            .join(name)
            .join("versions")
            .join(v.model_id)
            .join("model.json"),
    )?)
}
