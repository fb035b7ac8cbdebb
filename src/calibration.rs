//! Lift-test calibration: experiments that measured the KPI a channel's spend caused over a
//! window, entered into the likelihood so that a test can pin down a channel the
//! observational data cannot identify.
//!
//! CSV columns `channel,start,end,lift,se[,scope][,geo]`:
//! - `lift`: KPI caused by the channel's spend in `[start, end]` (inclusive period dates)
//!   against no spend in that window;
//! - `se`: its standard error (> 0);
//! - `scope`: `immediate` (default; KPI counted inside the window) or `total` (carryover
//!   after the window counted too, up to the channel's `max_lag` periods, clipped at the
//!   end of the fit window);
//! - `geo`: the geo tested; empty or absent for a national test.
//!
//! Each experiment adds `(β_c · L_e(θ) − lift)² / (2 se²)` to the negative log density,
//! where `β_c · L_e(θ)` is the model's implied lift: the KPI (summed over the tested geos
//! and counted periods) with the channel's actual input minus with its input set to zero
//! in the window. `L_e` is linear in the coefficient, so the term joins the linear solve
//! exactly like an ROI prior.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::data::Dataset;

/// Most experiments in one file.
pub const MAX_EXPERIMENTS: usize = 10_000;

/// Errors reading or resolving experiments; each names the file and row.
#[derive(Debug, Error)]
pub enum ExperimentError {
    /// The file could not be read.
    #[error("cannot read experiments file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A row (1-based line, header = 1) or column is wrong.
    #[error("experiments file {path}, row {row}, column `{column}`: {message}")]
    Invalid {
        path: PathBuf,
        row: u64,
        column: String,
        message: String,
    },
}

/// Which KPI an experiment counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// KPI inside the test window only.
    #[default]
    Immediate,
    /// KPI inside the window and the carryover after it.
    Total,
}

/// One lift test, resolved against a dataset (period indices, channel and geo indices).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Experiment {
    /// Row in the source file (1-based, header = 1), for messages.
    pub row: u64,
    /// Channel index (spec order).
    pub channel: usize,
    /// Channel name.
    pub channel_name: String,
    /// First and last period date of the test window.
    pub start: NaiveDate,
    /// Last period date of the test window (inclusive).
    pub end: NaiveDate,
    /// Measured lift (KPI units).
    pub lift: f64,
    /// Standard error of the lift.
    pub se: f64,
    /// Immediate or total.
    pub scope: Scope,
    /// Tested geo, or None for national.
    pub geo: Option<String>,
}

impl Experiment {
    /// Period indices `[first, last]` of the window in `ds`.
    pub fn window(&self, ds: &Dataset) -> Option<(usize, usize)> {
        let a = ds.dates.iter().position(|d| *d == self.start)?;
        let b = ds.dates.iter().position(|d| *d == self.end)?;
        Some((a, b))
    }

    /// The test window `[a, b]` and the last counted period: `b`, or with `total` scope
    /// `b + max_lag` clipped to the fit window's last period `t1 − 1`.
    pub fn counted(&self, ds: &Dataset, max_lag: usize, t1: usize) -> (usize, usize, usize) {
        let (a, b) = self.window(ds).unwrap_or((0, 0));
        let last = match self.scope {
            Scope::Immediate => b,
            Scope::Total => (b + max_lag).min(t1.saturating_sub(1)).max(b),
        };
        (a, b, last)
    }

    /// The lift a parameter set implies: KPI over the counted periods and tested geos
    /// with the channel's actual input minus with its input zeroed in the window.
    pub fn implied_lift(&self, model: &crate::Model, p: &crate::Params) -> f64 {
        let ds = &model.dataset;
        let c = self.channel;
        let (a, b, last) = self.counted(ds, model.spec.channels[c].max_lag, model.fit_end);
        let input = &ds.channels[c].input;
        let mut zeroed = input.clone();
        let geos = self.geos(ds);
        for &g in &geos {
            zeroed.series_mut(g)[a..=b]
                .iter_mut()
                .for_each(|v| *v = 0.0);
        }
        let with = model.channel_contribution(&p.channels[c], c, input);
        let without = model.channel_contribution(&p.channels[c], c, &zeroed);
        geos.iter()
            .map(|&g| {
                (a..=last)
                    .map(|t| with.at(g, t) - without.at(g, t))
                    .sum::<f64>()
            })
            .sum()
    }

    /// Geo indices tested in `ds`.
    pub fn geos(&self, ds: &Dataset) -> Vec<usize> {
        match &self.geo {
            None => (0..ds.n_geos()).collect(),
            Some(g) => ds.geos.iter().position(|x| x == g).into_iter().collect(),
        }
    }
}

/// Experiments read from a file: those inside the fit window, and the rows of those that
/// fall in held-out periods (a fit cannot use a test of periods it does not see).
#[derive(Debug, Clone, Default)]
pub struct ReadExperiments {
    /// Usable experiments.
    pub kept: Vec<Experiment>,
    /// Rows whose window ends after the fit window (held out).
    pub held_out_rows: Vec<u64>,
}

/// Read and resolve an experiments CSV against the dataset and the fit window
/// `[t0, t1)`: channel names must be paid channels, dates must be period dates from the
/// fit window's start on, the channel must have spent in the window, lift finite and
/// se > 0. Tests reaching past the fit window (into held-out periods) are set aside.
pub fn read_experiments(
    path: &Path,
    ds: &Dataset,
    channel_names: &[String],
    t0: usize,
    t1: usize,
) -> Result<ReadExperiments, ExperimentError> {
    let text = std::fs::read_to_string(path).map_err(|source| ExperimentError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_experiments(&text, path, ds, channel_names, t0, t1)
}

/// [`read_experiments`] on CSV text (`path` only names the source in errors).
pub fn parse_experiments(
    text: &str,
    path: &Path,
    ds: &Dataset,
    channel_names: &[String],
    t0: usize,
    t1: usize,
) -> Result<ReadExperiments, ExperimentError> {
    let bad = |row: u64, column: &str, message: String| ExperimentError::Invalid {
        path: path.to_path_buf(),
        row,
        column: column.to_string(),
        message,
    };
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(false)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header: Vec<String> = rdr
        .headers()
        .map_err(|e| bad(1, "", format!("malformed CSV: {e}")))?
        .iter()
        .map(str::to_string)
        .collect();
    let col = |name: &str| header.iter().position(|h| h == name);
    let need = |name: &str| {
        col(name).ok_or_else(|| {
            bad(
                1,
                name,
                format!(
                    "missing column; expected channel,start,end,lift,se[,scope][,geo], got {}",
                    header.join(",")
                ),
            )
        })
    };
    let (ic, is, ie, il, ise) = (
        need("channel")?,
        need("start")?,
        need("end")?,
        need("lift")?,
        need("se")?,
    );
    let (iscope, igeo) = (col("scope"), col("geo"));
    let mut out = Vec::new();
    let mut held_out_rows = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let row = i as u64 + 2;
        let rec = rec.map_err(|e| bad(row, "", format!("malformed CSV: {e}")))?;
        if out.len() >= MAX_EXPERIMENTS {
            return Err(bad(
                row,
                "",
                format!("more than {MAX_EXPERIMENTS} experiments"),
            ));
        }
        let get = |j: usize| rec.get(j).unwrap_or("");
        let name = get(ic);
        let channel = channel_names
            .iter()
            .position(|n| n == name)
            .ok_or_else(|| {
                bad(
                    row,
                    "channel",
                    format!(
                        "unknown channel `{name}`; channels: {}",
                        channel_names.join(", ")
                    ),
                )
            })?;
        if ds.channels[channel].spend.is_none() {
            return Err(bad(
                row,
                "channel",
                format!("`{name}` is organic; lift tests calibrate paid channels"),
            ));
        }
        let date = |j: usize, column: &str| -> Result<(NaiveDate, usize), ExperimentError> {
            let v = get(j);
            let d = NaiveDate::parse_from_str(v, "%Y-%m-%d")
                .map_err(|e| bad(row, column, format!("`{v}` is not a YYYY-MM-DD date: {e}")))?;
            let t =
                ds.dates.iter().position(|x| *x == d).ok_or_else(|| {
                    bad(row, column, format!("{d} is not a period date of the data"))
                })?;
            if t < t0 {
                return Err(bad(
                    row,
                    column,
                    format!(
                        "{d} is before the fit window, which starts {}",
                        ds.dates[t0]
                    ),
                ));
            }
            Ok((d, t))
        };
        let (start, ts) = date(is, "start")?;
        let (end, te) = date(ie, "end")?;
        if te < ts {
            return Err(bad(row, "end", format!("{end} is before start {start}")));
        }
        let num = |j: usize, column: &str| -> Result<f64, ExperimentError> {
            let v = get(j);
            v.parse::<f64>()
                .ok()
                .filter(|x| x.is_finite() && x.abs() <= 1e100)
                .ok_or_else(|| bad(row, column, format!("`{v}` is not a finite number")))
        };
        let lift = num(il, "lift")?;
        let se = num(ise, "se")?;
        if se <= 0.0 {
            return Err(bad(row, "se", format!("must be > 0, got {se}")));
        }
        let scope = match iscope.map(get).unwrap_or("") {
            "" | "immediate" => Scope::Immediate,
            "total" => Scope::Total,
            v => {
                return Err(bad(
                    row,
                    "scope",
                    format!("`{v}` is not `immediate` or `total`"),
                ))
            }
        };
        let geo = match igeo.map(get).unwrap_or("") {
            "" => None,
            g if ds.geos.iter().any(|x| x == g) => Some(g.to_string()),
            g => {
                return Err(bad(
                    row,
                    "geo",
                    format!("unknown geo `{g}`; geos: {}", ds.geos.join(", ")),
                ))
            }
        };
        let e = Experiment {
            row,
            channel,
            channel_name: name.to_string(),
            start,
            end,
            lift,
            se,
            scope,
            geo,
        };
        let spend = ds.channels[channel].spend.as_ref().expect("paid");
        let spent: f64 = e
            .geos(ds)
            .iter()
            .map(|&g| spend.series(g)[ts..=te].iter().sum::<f64>())
            .sum();
        if te >= t1 {
            held_out_rows.push(row);
            continue;
        }
        if spent <= 0.0 {
            return Err(bad(
                row,
                "channel",
                format!(
                    "`{name}` spent nothing in {start} .. {end}, so it cannot have caused a lift"
                ),
            ));
        }
        out.push(e);
    }
    Ok(ReadExperiments {
        kept: out,
        held_out_rows,
    })
}
