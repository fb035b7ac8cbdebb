//! CSV loading and validation.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use thiserror::Error;

use super::{ChannelData, ControlData, Dataset, Panel};
use crate::observe::{Event, Observer, Silent};
use crate::spec::{ControlKind, Spec, ValidSpec};

/// Errors loading or validating data. Each names the file and, where it applies, the row
/// (1-based line number in the file, header = line 1) and column.
#[derive(Debug, Error)]
pub enum DataError {
    /// The file could not be opened or read.
    #[error("cannot read data file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file has no header or no data rows.
    #[error("data file {path} is empty: {what}")]
    Empty { path: PathBuf, what: String },
    /// A column the spec names is not in the header.
    #[error("data file {path}: missing column `{column}` (named by spec key `{key}`); columns present: {available}")]
    MissingColumn {
        path: PathBuf,
        column: String,
        key: String,
        available: String,
    },
    /// A cell could not be used.
    #[error("data file {path}, row {row}, column `{column}`: {reason} (value `{value}`)")]
    BadCell {
        path: PathBuf,
        row: u64,
        column: String,
        value: String,
        reason: String,
    },
    /// The CSV itself is malformed (ragged row, bad quoting, bad UTF-8).
    #[error("data file {path}, row {row}: malformed CSV: {message}")]
    Csv {
        path: PathBuf,
        row: u64,
        message: String,
    },
    /// The same date appears twice for a geo.
    #[error(
        "data file {path}, row {row}: duplicate date {date}{geo} (first seen at row {first_row})"
    )]
    DuplicateDate {
        path: PathBuf,
        row: u64,
        first_row: u64,
        date: NaiveDate,
        geo: String,
    },
    /// Dates are not evenly spaced.
    #[error("data file {path}, row {row}: {message}")]
    Spacing {
        path: PathBuf,
        row: u64,
        message: String,
    },
    /// Geos do not share the same periods.
    #[error("data file {path}: geo `{geo}`: {message}")]
    Unbalanced {
        path: PathBuf,
        geo: String,
        message: String,
    },
    /// A column the spec names appears more than once in the header.
    #[error("data file {path}: column `{column}` (named by spec key `{key}`) appears twice, as columns {first} and {second}")]
    DuplicateColumn {
        path: PathBuf,
        column: String,
        key: String,
        first: usize,
        second: usize,
    },
    /// `data.start` or `data.end` lies outside the data's dates.
    #[error("data file {path}: spec key `{key}` = {date} is outside the data ({first} .. {last})")]
    OutsideData {
        path: PathBuf,
        key: String,
        date: NaiveDate,
        first: NaiveDate,
        last: NaiveDate,
    },
    /// The KPI does not vary in the modelling window.
    #[error("data file {path}: KPI column `{column}` is constant ({value}) in the modelling window; there is nothing to explain")]
    ConstantKpi {
        path: PathBuf,
        column: String,
        value: f64,
    },
    /// A channel has no non-zero input in the modelling window.
    #[error("data file {path}: channel `{channel}` (column `{column}`) has no non-zero input in the modelling window; drop it from the spec")]
    DeadChannel {
        path: PathBuf,
        channel: String,
        column: String,
    },
    /// Not enough periods to fit.
    #[error("data file {path}: {message}")]
    TooShort { path: PathBuf, message: String },
}

struct Row {
    line: u64,
    date: NaiveDate,
    geo: String,
    nums: Vec<f64>,
    cats: Vec<String>,
}

/// Role of a numeric column, for validation messages and rules.
#[derive(Clone, Copy, PartialEq)]
enum Role {
    Kpi,
    Media,
    Population,
    Other,
}

fn parse_date(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    let head = s.get(..10).unwrap_or(s);
    NaiveDate::parse_from_str(head, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(s, "%Y/%m/%d"))
        .ok()
}

/// Largest magnitude accepted in a numeric cell: sums of squares must stay finite.
const MAX_ABS_VALUE: f64 = 1e100;

fn parse_number(s: &str) -> Result<f64, &'static str> {
    let t = s.trim();
    if t.is_empty() {
        return Err("empty cell");
    }
    match t.parse::<f64>() {
        Ok(v) if v.is_finite() && v.abs() <= MAX_ABS_VALUE => Ok(v),
        Ok(v) if v.is_finite() => Err("too large (magnitude above 1e100)"),
        Ok(_) => Err("not a finite number (NaN or infinity)"),
        Err(_) => Err("not a number"),
    }
}

/// Load the data a spec names and validate it, silently.
pub fn load_dataset(spec: &ValidSpec) -> Result<Dataset, DataError> {
    load_dataset_observed(spec, &Silent)
}

/// Load the data a spec names and validate it, reporting warnings to `obs`. One step per
/// concern: the header's columns, each row's cells, the periods of every geo, the
/// modelling window, then the KPI and channels over that window.
pub fn load_dataset_observed(spec: &ValidSpec, obs: &dyn Observer) -> Result<Dataset, DataError> {
    let path = spec.data_path();
    let s = spec.spec();
    let file = std::fs::File::open(&path).map_err(|source| DataError::Io {
        path: path.clone(),
        source,
    })?;
    let mut rdr = csv::ReaderBuilder::new().flexible(false).from_reader(file);
    let headers = validate_header(&path, &mut rdr)?;
    let cols = Columns::from_spec(&path, &headers, s)?;
    let rows = read_rows(&path, &mut rdr, &cols, s)?;
    let panel = validate_periods(&path, rows, s.data.geo_column.is_some(), obs)?;
    let (start_idx, n_periods) = validate_window(&path, &panel.dates, s.data.start, s.data.end)?;
    let dates: Vec<NaiveDate> = panel.dates[..n_periods].to_vec();
    let n_geos = panel.geos.len();

    let mut panels: Vec<Panel> = (0..cols.numeric.len())
        .map(|_| Panel::zeros(n_geos, n_periods))
        .collect();
    let mut cat_raw: Vec<Vec<String>> =
        vec![Vec::with_capacity(n_geos * n_periods); cols.categorical.len()];
    for (g, geo) in panel.geos.iter().enumerate() {
        for (t, r) in panel.rows[geo].iter().take(n_periods).enumerate() {
            for (k, v) in r.nums.iter().enumerate() {
                panels[k].values[g * n_periods + t] = *v;
            }
            for (k, c) in r.cats.iter().enumerate() {
                cat_raw[k].push(c.clone());
            }
        }
    }

    let window = start_idx..n_periods;
    validate_kpi(&path, &s.data.kpi, &panels[0], window.clone())?;
    let channels = s
        .channels
        .iter()
        .enumerate()
        .map(|(i, c)| ChannelData {
            name: c.name.clone(),
            input: panels[1 + i].clone(),
            spend: cols.spend_slot[i].map(|k| panels[k].clone()),
        })
        .collect::<Vec<_>>();
    validate_channels(&path, &channels, s, window.clone())?;
    let controls = s
        .controls
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let data = match c.kind {
                ControlKind::Numeric => ControlData::Numeric {
                    values: panels[cols.control_slot[i]].clone(),
                },
                ControlKind::Categorical => categorical(&cat_raw[cols.control_slot[i]]),
            };
            (c.name.clone(), data)
        })
        .collect();
    let holidays = match &s.seasonality.holidays {
        Some(h) => load_holidays(&spec.resolve(h), &dates)?,
        None => Vec::new(),
    };
    Ok(Dataset {
        dates,
        geos: panel.geos,
        kpi: panels[0].clone(),
        channels,
        controls,
        holidays,
        revenue_per_kpi: cols.rpk_slot.map(|k| panels[k].clone()),
        population: cols.pop_slot.map(|k| {
            (0..n_geos)
                .map(|g| {
                    let w = &panels[k].series(g)[window.clone()];
                    w.iter().sum::<f64>() / w.len().max(1) as f64
                })
                .collect()
        }),
        window_start: start_idx,
    })
}

/// The header's column names (BOM and spaces trimmed); an empty header is an error.
fn validate_header(
    path: &Path,
    rdr: &mut csv::Reader<std::fs::File>,
) -> Result<Vec<String>, DataError> {
    let headers = rdr
        .headers()
        .map_err(|e| csv_err(path, &e))?
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').trim().to_string())
        .collect::<Vec<_>>();
    if headers.is_empty() || headers.iter().all(|h| h.is_empty()) {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
            what: "no header row".into(),
        });
    }
    Ok(headers)
}

/// Where each column the spec names sits in the file.
struct Columns {
    date: usize,
    geo: Option<usize>,
    /// Numeric columns in a fixed order: kpi, channel inputs, extra spend columns of
    /// channels with exposure, numeric controls, revenue_per_kpi.
    numeric: Vec<(usize, String, Role)>,
    /// Per channel, the `numeric` slot of its spend (None for organic channels).
    spend_slot: Vec<Option<usize>>,
    /// Per control, its slot in `numeric` (numeric) or in `categorical`.
    control_slot: Vec<usize>,
    categorical: Vec<usize>,
    rpk_slot: Option<usize>,
    pop_slot: Option<usize>,
}

impl Columns {
    fn from_spec(path: &Path, headers: &[String], s: &Spec) -> Result<Columns, DataError> {
        let col = |name: &str, key: &str| validate_column(path, headers, name, key);
        let date = col(&s.data.date_column, "data.date_column")?;
        let geo = match &s.data.geo_column {
            Some(g) => Some(col(g, "data.geo_column")?),
            None => None,
        };
        let mut numeric: Vec<(usize, String, Role)> =
            vec![(col(&s.data.kpi, "data.kpi")?, s.data.kpi.clone(), Role::Kpi)];
        for (i, c) in s.channels.iter().enumerate() {
            let key = if c.exposure.is_some() {
                "exposure"
            } else {
                "spend"
            };
            let name = c.input_column();
            let idx = col(name, &format!("channels[{i}].{key}"))?;
            numeric.push((idx, name.to_string(), Role::Media));
        }
        let mut spend_slot = Vec::new();
        for (i, c) in s.channels.iter().enumerate() {
            match (&c.spend, &c.exposure) {
                (Some(sp), Some(_)) => {
                    spend_slot.push(Some(numeric.len()));
                    let idx = col(sp, &format!("channels[{i}].spend"))?;
                    numeric.push((idx, sp.clone(), Role::Media));
                }
                (Some(_), None) => spend_slot.push(Some(1 + i)),
                _ => spend_slot.push(None),
            }
        }
        let mut control_slot = Vec::new();
        let mut categorical = Vec::new();
        for (i, c) in s.controls.iter().enumerate() {
            let idx = col(&c.column, &format!("controls[{i}].column"))?;
            match c.kind {
                ControlKind::Numeric => {
                    control_slot.push(numeric.len());
                    numeric.push((idx, c.column.clone(), Role::Other));
                }
                ControlKind::Categorical => {
                    control_slot.push(categorical.len());
                    categorical.push(idx);
                }
            }
        }
        let rpk_slot = match &s.data.revenue_per_kpi {
            Some(r) => {
                numeric.push((col(r, "data.revenue_per_kpi")?, r.clone(), Role::Other));
                Some(numeric.len() - 1)
            }
            None => None,
        };
        let pop_slot = match &s.data.population_column {
            Some(p) => {
                let idx = col(p, "data.population_column")?;
                numeric.push((idx, p.clone(), Role::Population));
                Some(numeric.len() - 1)
            }
            None => None,
        };
        Ok(Columns {
            date,
            geo,
            numeric,
            spend_slot,
            control_slot,
            categorical,
            rpk_slot,
            pop_slot,
        })
    }
}

/// Every data row with its cells checked: an ISO date, a non-empty geo, finite numbers
/// of sane magnitude, non-negative media. Blank lines are skipped.
fn read_rows(
    path: &Path,
    rdr: &mut csv::Reader<std::fs::File>,
    cols: &Columns,
    s: &Spec,
) -> Result<Vec<Row>, DataError> {
    let mut rows: Vec<Row> = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        match rdr.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(csv_err(path, &e)),
        }
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        if record.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        let bad = |column: &str, value: &str, reason: &str| DataError::BadCell {
            path: path.to_path_buf(),
            row: line,
            column: column.to_string(),
            value: value.to_string(),
            reason: reason.to_string(),
        };
        let draw = record.get(cols.date).unwrap_or("");
        let date = parse_date(draw)
            .ok_or_else(|| bad(&s.data.date_column, draw, "not an ISO date (YYYY-MM-DD)"))?;
        let geo = match cols.geo {
            Some(g) => {
                let v = record.get(g).unwrap_or("").trim();
                if v.is_empty() {
                    let name = s.data.geo_column.as_deref().unwrap_or("");
                    return Err(bad(name, v, "empty geo"));
                }
                v.to_string()
            }
            None => "national".to_string(),
        };
        let mut nums = Vec::with_capacity(cols.numeric.len());
        for (idx, name, role) in &cols.numeric {
            let raw = record.get(*idx).unwrap_or("");
            let v = parse_number(raw).map_err(|r| bad(name, raw, r))?;
            if *role == Role::Media && v < 0.0 {
                let reason = "negative media value (spend/exposure must be ≥ 0)";
                return Err(bad(name, raw, reason));
            }
            if *role == Role::Population && v <= 0.0 {
                return Err(bad(name, raw, "population must be positive"));
            }
            nums.push(v);
        }
        let cats = cols
            .categorical
            .iter()
            .map(|&i| record.get(i).unwrap_or("").trim().to_string())
            .collect();
        rows.push(Row {
            line,
            date,
            geo,
            nums,
            cats,
        });
    }
    if rows.is_empty() {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
            what: "no data rows after the header".into(),
        });
    }
    Ok(rows)
}

/// Rows grouped by geo (in order of first appearance) and sorted by date.
struct GeoRows {
    geos: Vec<String>,
    rows: BTreeMap<String, Vec<Row>>,
    /// The shared period dates.
    dates: Vec<NaiveDate>,
}

/// Group rows by geo and check the periods: no date twice for a geo, evenly spaced
/// dates, and the same dates in every geo. Unsorted rows are sorted (with a warning).
fn validate_periods(
    path: &Path,
    rows: Vec<Row>,
    has_geo: bool,
    obs: &dyn Observer,
) -> Result<GeoRows, DataError> {
    let mut by_geo: BTreeMap<String, Vec<Row>> = BTreeMap::new();
    let mut geos: Vec<String> = Vec::new();
    let mut unsorted = false;
    for r in rows {
        let v = by_geo.entry(r.geo.clone()).or_insert_with(|| {
            geos.push(r.geo.clone());
            Vec::new()
        });
        if v.last().is_some_and(|p: &Row| p.date > r.date) {
            unsorted = true;
        }
        v.push(r);
    }
    if unsorted {
        obs.event(Event::Warning(&format!(
            "{}: rows are not in date order; sorting them",
            path.display()
        )));
    }
    for (geo, v) in by_geo.iter_mut() {
        v.sort_by_key(|r| r.date);
        if let Some(w) = v.windows(2).find(|w| w[0].date == w[1].date) {
            let (first, second) = if w[0].line < w[1].line {
                (&w[0], &w[1])
            } else {
                (&w[1], &w[0])
            };
            return Err(DataError::DuplicateDate {
                path: path.to_path_buf(),
                row: second.line,
                first_row: first.line,
                date: w[1].date,
                geo: if has_geo {
                    format!(" for geo `{geo}`")
                } else {
                    String::new()
                },
            });
        }
    }
    let first_geo = &geos[0];
    let dates: Vec<NaiveDate> = by_geo[first_geo].iter().map(|r| r.date).collect();
    if dates.len() >= 2 {
        let step = (dates[1] - dates[0]).num_days();
        let rows0 = &by_geo[first_geo];
        for (i, w) in dates.windows(2).enumerate() {
            let d = (w[1] - w[0]).num_days();
            if d != step {
                return Err(DataError::Spacing {
                    path: path.to_path_buf(),
                    row: rows0[i + 1].line,
                    message: format!(
                        "dates are not evenly spaced: {} follows {} ({} days; expected {} as between the first two dates) — a gap or an irregular period",
                        w[1], w[0], d, step
                    ),
                });
            }
        }
        if step != 7 {
            obs.event(Event::Warning(&format!(
                "{}: periods are {step} days apart (mixcast is tuned for weekly data)",
                path.display()
            )));
        }
    }
    for g in &geos {
        let gd: Vec<NaiveDate> = by_geo[g].iter().map(|r| r.date).collect();
        if gd != dates {
            return Err(DataError::Unbalanced {
                path: path.to_path_buf(),
                geo: g.clone(),
                message: format!(
                    "has {} periods ({}..{}) but geo `{}` has {} ({}..{}); every geo needs the same dates",
                    gd.len(),
                    gd[0],
                    gd[gd.len() - 1],
                    first_geo,
                    dates.len(),
                    dates[0],
                    dates[dates.len() - 1]
                ),
            });
        }
    }
    Ok(GeoRows {
        geos,
        rows: by_geo,
        dates,
    })
}

/// Every channel needs some non-zero input in the modelling window.
fn validate_channels(
    path: &Path,
    channels: &[ChannelData],
    s: &Spec,
    window: std::ops::Range<usize>,
) -> Result<(), DataError> {
    for (i, ch) in channels.iter().enumerate() {
        if ch.input.sum_over(window.clone()) <= 0.0 {
            return Err(DataError::DeadChannel {
                path: path.to_path_buf(),
                channel: ch.name.clone(),
                column: s.channels[i].input_column().to_string(),
            });
        }
    }
    Ok(())
}

/// The index of the column a spec key names: present exactly once in the header.
fn validate_column(
    path: &Path,
    headers: &[String],
    name: &str,
    key: &str,
) -> Result<usize, DataError> {
    let mut hits = headers.iter().enumerate().filter(|(_, h)| *h == name);
    match (hits.next(), hits.next()) {
        (Some((i, _)), None) => Ok(i),
        (Some((i, _)), Some((j, _))) => Err(DataError::DuplicateColumn {
            path: path.to_path_buf(),
            column: name.to_string(),
            key: key.to_string(),
            first: i + 1,
            second: j + 1,
        }),
        (None, _) => Err(DataError::MissingColumn {
            path: path.to_path_buf(),
            column: name.to_string(),
            key: key.to_string(),
            available: headers.join(", "),
        }),
    }
}

/// The modelling window `start_idx..end_idx` from `data.start` / `data.end`: each must lie
/// within the data's dates, and the window must hold at least 8 periods.
fn validate_window(
    path: &Path,
    dates: &[NaiveDate],
    start: Option<NaiveDate>,
    end: Option<NaiveDate>,
) -> Result<(usize, usize), DataError> {
    let (first, last) = (dates[0], dates[dates.len() - 1]);
    for (key, d) in [("data.start", start), ("data.end", end)] {
        if let Some(d) = d {
            if d < first || d > last {
                return Err(DataError::OutsideData {
                    path: path.to_path_buf(),
                    key: key.into(),
                    date: d,
                    first,
                    last,
                });
            }
        }
    }
    let end_idx = match end {
        Some(e) => dates
            .iter()
            .rposition(|d| *d <= e)
            .map(|i| i + 1)
            .unwrap_or(0),
        None => dates.len(),
    };
    let start_idx = match start {
        Some(st) => dates.iter().position(|d| *d >= st).unwrap_or(dates.len()),
        None => 0,
    };
    if end_idx <= start_idx || end_idx - start_idx < 8 {
        return Err(DataError::TooShort {
            path: path.to_path_buf(),
            message: format!(
                "the modelling window has {} periods; at least 8 are needed",
                end_idx.saturating_sub(start_idx)
            ),
        });
    }
    Ok((start_idx, end_idx))
}

/// The KPI must vary in the modelling window: a constant (e.g. all-zero) KPI has nothing
/// to explain.
fn validate_kpi(
    path: &Path,
    column: &str,
    kpi: &Panel,
    window: std::ops::Range<usize>,
) -> Result<(), DataError> {
    let first = kpi.series(0)[window.start];
    let constant =
        (0..kpi.n_geos).all(|g| kpi.series(g)[window.clone()].iter().all(|v| *v == first));
    if constant {
        return Err(DataError::ConstantKpi {
            path: path.to_path_buf(),
            column: column.to_string(),
            value: first,
        });
    }
    Ok(())
}

fn categorical(raw: &[String]) -> ControlData {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for v in raw {
        *counts.entry(v.as_str()).or_default() += 1;
    }
    let mut levels: Vec<(&str, usize)> = counts.into_iter().collect();
    levels.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let levels: Vec<String> = levels.into_iter().map(|(l, _)| l.to_string()).collect();
    let pos: HashMap<&str, u32> = levels
        .iter()
        .enumerate()
        .map(|(i, l)| (l.as_str(), i as u32))
        .collect();
    let codes = raw.iter().map(|v| pos[v.as_str()]).collect();
    ControlData::Categorical { levels, codes }
}

/// Holiday CSV: columns `date,holiday`; a period gets the dummy if the date falls inside it.
fn load_holidays(path: &Path, dates: &[NaiveDate]) -> Result<Vec<(String, Vec<f64>)>, DataError> {
    let file = std::fs::File::open(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut rdr = csv::Reader::from_reader(file);
    let headers: Vec<String> = rdr
        .headers()
        .map_err(|e| csv_err(path, &e))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let find = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| DataError::MissingColumn {
                path: path.to_path_buf(),
                column: name.to_string(),
                key: "seasonality.holidays".into(),
                available: headers.join(", "),
            })
    };
    let (dc, hc) = (find("date")?, find("holiday")?);
    let step = if dates.len() >= 2 {
        (dates[1] - dates[0]).num_days()
    } else {
        7
    };
    let mut out: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| csv_err(path, &e))?;
        let line = rec.position().map(|p| p.line()).unwrap_or(0);
        let raw = rec.get(dc).unwrap_or("");
        let d = parse_date(raw).ok_or_else(|| DataError::BadCell {
            path: path.to_path_buf(),
            row: line,
            column: "date".into(),
            value: raw.into(),
            reason: "not an ISO date (YYYY-MM-DD)".into(),
        })?;
        let name = rec.get(hc).unwrap_or("").trim().to_string();
        let v = out.entry(name).or_insert_with(|| vec![0.0; dates.len()]);
        if let Some(t) = dates
            .iter()
            .position(|p| d >= *p && (d - *p).num_days() < step)
        {
            v[t] = 1.0;
        }
    }
    Ok(out
        .into_iter()
        .filter(|(_, v)| v.iter().any(|x| *x > 0.0))
        .collect())
}

fn csv_err(path: &Path, e: &csv::Error) -> DataError {
    DataError::Csv {
        path: path.to_path_buf(),
        row: e.position().map(|p| p.line()).unwrap_or(0),
        message: e.to_string(),
    }
}
