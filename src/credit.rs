//! Team credit: attributed (and, once a combination exists, incremental) credit split
//! between marketing teams, with attainment against each team's target.
//!
//! Teams file `team,channel[,campaign]`: a row with a campaign gives that campaign of that
//! channel to the team; a row without one gives the rest of the channel. Credit of units
//! no row covers goes to team `unassigned`. Credit is read per campaign (each campaign
//! row of the attribution report names its channel), and a channel's credit outside its
//! campaigns (touches without one) counts as the channel's own unit. A team's credit is the sum of its units' credit and the total is the sum of
//! the teams' credit, so the teams add up to the total exactly; the report's own total is
//! checked against it.
//!
//! Targets file `team,target`: the team's goal for the period in the chosen metric
//! (`conversions` or `value`); attainment is credit ÷ target.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::attribution::{ModelResult, Report};
use crate::combine::Combination;

/// Schema version of [`CreditReport`].
pub const CREDIT_SCHEMA_VERSION: u32 = 1;
/// The team that receives credit no row of the teams file covers.
pub const UNASSIGNED: &str = "unassigned";

/// Bad teams or targets file.
#[derive(Debug, thiserror::Error)]
pub enum CreditError {
    /// Unreadable file.
    #[error("cannot read {path}: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// A bad row or header.
    #[error("{path}, row {row}, column `{column}`: {message}")]
    Row {
        /// File.
        path: PathBuf,
        /// 1-based line (header = 1).
        row: u64,
        /// Column.
        column: String,
        /// What is wrong.
        message: String,
    },
    /// A request the inputs cannot answer.
    #[error("{0}")]
    Request(String),
}

/// Which credited figure teams are measured in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Credited conversions.
    Conversions,
    /// Credited conversion value.
    Value,
}

/// One team's credit.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TeamCredit {
    /// Team.
    pub team: String,
    /// Attributed credit in the metric.
    pub credit: f64,
    /// Share of the total attributed credit.
    pub share: f64,
    /// Incremental credit (MMM-calibrated, from `combine`), when given.
    pub incremental: Option<f64>,
    /// Target for the period.
    pub target: Option<f64>,
    /// `credit / target`.
    pub attainment: Option<f64>,
    /// `incremental / target`.
    pub incremental_attainment: Option<f64>,
    /// Units (`channel` or `channel/campaign`) credited to the team.
    pub units: Vec<String>,
}

/// The `credit --json` document.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreditReport {
    /// Schema version.
    pub schema_version: u32,
    /// Attribution model read.
    pub model: String,
    /// Metric.
    pub metric: Metric,
    /// Total attributed credit (the teams' sum).
    pub total: f64,
    /// Total incremental credit, when a combination is given.
    pub total_incremental: Option<f64>,
    /// Per team (teams file order, `unassigned` last when it has credit).
    pub teams: Vec<TeamCredit>,
}

/// Teams file rows: `(team, channel, campaign)`.
pub struct Teams {
    rows: Vec<(String, String, Option<String>)>,
}

/// Column indices of `need`, the rows with their line numbers, and the optional
/// `campaign` column.
type Rows = (Vec<usize>, Vec<(u64, csv::StringRecord)>, Option<usize>);

fn csv_rows(path: &Path, need: &[&str]) -> Result<Rows, CreditError> {
    let mut rdr = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|e| CreditError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::other(e),
        })?;
    let headers = rdr
        .headers()
        .map_err(|e| CreditError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::other(e),
        })?
        .clone();
    let mut idx = Vec::new();
    for n in need {
        idx.push(
            headers
                .iter()
                .position(|h| h == *n)
                .ok_or_else(|| CreditError::Row {
                    path: path.to_path_buf(),
                    row: 1,
                    column: n.to_string(),
                    message: format!(
                        "missing column (columns: {})",
                        headers.iter().collect::<Vec<_>>().join(", ")
                    ),
                })?,
        );
    }
    let campaign = headers.iter().position(|h| h == "campaign");
    let mut rows = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| CreditError::Row {
            path: path.to_path_buf(),
            row: e.position().map_or(0, |p| p.line()),
            column: String::new(),
            message: e.to_string(),
        })?;
        rows.push((rec.position().map_or(0, |p| p.line()), rec));
    }
    Ok((idx, rows, campaign))
}

impl Teams {
    /// Read and check a teams file: no unit mapped twice, no empty names.
    pub fn read(path: &Path) -> Result<Teams, CreditError> {
        let (idx, recs, camp) = csv_rows(path, &["team", "channel"])?;
        let mut rows: Vec<(String, String, Option<String>)> = Vec::new();
        for (line, rec) in recs {
            let get = |i: usize| rec.get(i).unwrap_or("").to_string();
            let (team, channel) = (get(idx[0]), get(idx[1]));
            let campaign = camp.map(get).filter(|c| !c.is_empty());
            for (col, v) in [("team", &team), ("channel", &channel)] {
                if v.is_empty() {
                    return Err(CreditError::Row {
                        path: path.to_path_buf(),
                        row: line,
                        column: col.into(),
                        message: "empty".into(),
                    });
                }
            }
            if let Some((t, ..)) = rows.iter().find(|r| r.1 == channel && r.2 == campaign) {
                return Err(CreditError::Row {
                    path: path.to_path_buf(),
                    row: line,
                    column: if campaign.is_some() {
                        "campaign"
                    } else {
                        "channel"
                    }
                    .into(),
                    message: format!(
                        "`{channel}{}` is already given to team `{t}`",
                        campaign
                            .as_deref()
                            .map(|c| format!("/{c}"))
                            .unwrap_or_default()
                    ),
                });
            }
            rows.push((team, channel, campaign));
        }
        Ok(Teams { rows })
    }

    /// The team of a unit: its campaign row, else its channel row, else `unassigned`.
    fn team_of(&self, channel: &str, campaign: Option<&str>) -> &str {
        let exact = campaign.and_then(|k| {
            self.rows
                .iter()
                .find(|r| r.1 == channel && r.2.as_deref() == Some(k))
        });
        exact
            .or_else(|| self.rows.iter().find(|r| r.1 == channel && r.2.is_none()))
            .map_or(UNASSIGNED, |r| r.0.as_str())
    }

    /// Teams in file order.
    fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = Vec::new();
        for r in &self.rows {
            if !v.contains(&r.0) {
                v.push(r.0.clone());
            }
        }
        v
    }
}

/// Read a targets file `team,target` (targets > 0, each team once).
pub fn read_targets(path: &Path) -> Result<BTreeMap<String, f64>, CreditError> {
    let (idx, recs, _) = csv_rows(path, &["team", "target"])?;
    let mut out = BTreeMap::new();
    for (line, rec) in recs {
        let team = rec.get(idx[0]).unwrap_or("").to_string();
        let raw = rec.get(idx[1]).unwrap_or("");
        let bad = |column: &str, message: String| CreditError::Row {
            path: path.to_path_buf(),
            row: line,
            column: column.into(),
            message,
        };
        let v: f64 = raw
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite() && *v > 0.0)
            .ok_or_else(|| bad("target", format!("`{raw}` is not a number > 0")))?;
        if team.is_empty() {
            return Err(bad("team", "empty".into()));
        }
        if out.insert(team.clone(), v).is_some() {
            return Err(bad("team", format!("team `{team}` appears twice")));
        }
    }
    Ok(out)
}

/// The model's result: `model` by name, else Shapley when present, else the first.
fn pick<'a>(report: &'a Report, model: Option<&str>) -> Result<&'a ModelResult, CreditError> {
    let names = || {
        report
            .models
            .iter()
            .map(|m| m.model.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match model {
        Some(m) => report.models.iter().find(|r| r.model == m).ok_or_else(|| {
            CreditError::Request(format!(
                "model `{m}` is not in the attribution report ({})",
                names()
            ))
        }),
        None => report
            .models
            .iter()
            .find(|r| r.model == "shapley")
            .or(report.models.first())
            .ok_or_else(|| CreditError::Request("the attribution report has no model".into())),
    }
}

/// Split the credit of `report` (model `model`) between `teams`.
pub fn team_credit(
    report: &Report,
    model: Option<&str>,
    metric: Metric,
    teams: &Teams,
    targets: &BTreeMap<String, f64>,
    combination: Option<&Combination>,
) -> Result<CreditReport, CreditError> {
    let m = pick(report, model)?;
    let figure = |c: &crate::attribution::Credit| match metric {
        Metric::Conversions => c.conversions,
        Metric::Value => c.value,
    };
    // (channel, campaign, credit) per unit: campaign rows, then each channel's credit
    // outside its campaigns (touches without a campaign) as a channel-level unit.
    let mut units: Vec<(String, Option<String>, f64)> = m
        .campaigns
        .iter()
        .map(|c| {
            (
                c.channel.clone().unwrap_or_default(),
                Some(c.name.clone()),
                figure(c),
            )
        })
        .collect();
    for c in &m.channels {
        let in_campaigns: f64 = units
            .iter()
            .filter(|u| u.0 == c.name && u.1.is_some())
            .map(|u| u.2)
            .sum();
        let rest = figure(c) - in_campaigns;
        if rest.abs() > 1e-12 * figure(c).abs().max(1.0) {
            units.push((c.name.clone(), None, rest));
        }
    }
    let mut names = teams.names();
    let mut credit: BTreeMap<String, (f64, Vec<String>)> = BTreeMap::new();
    for (ch, camp, v) in &units {
        let team = teams.team_of(ch, camp.as_deref()).to_string();
        let e = credit.entry(team).or_default();
        e.0 += v;
        e.1.push(match camp {
            Some(k) => format!("{ch}/{k}"),
            None => ch.clone(),
        });
    }
    if credit.contains_key(UNASSIGNED) && !names.iter().any(|n| n == UNASSIGNED) {
        names.push(UNASSIGNED.into());
    }
    let incremental: Option<BTreeMap<String, f64>> = combination.map(|c| {
        let mut out: BTreeMap<String, f64> = BTreeMap::new();
        if c.campaigns.is_empty() {
            for ch in &c.channels {
                let v = ch.combined.as_ref().map_or(0.0, |x| x.contribution);
                *out.entry(teams.team_of(&ch.name, None).to_string())
                    .or_default() += v;
            }
        } else {
            for k in &c.campaigns {
                *out.entry(
                    teams
                        .team_of(&k.attribution_channel, Some(&k.campaign))
                        .to_string(),
                )
                .or_default() += k.incremental_contribution;
            }
        }
        out
    });
    // `+ 0.0` turns an empty sum's −0 into 0.
    let total: f64 = names
        .iter()
        .map(|n| credit.get(n).map_or(0.0, |c| c.0))
        .sum::<f64>()
        + 0.0;
    let reported: f64 = m.channels.iter().map(figure).sum();
    if (total - reported).abs() > 1e-9 * reported.abs().max(1.0) {
        return Err(CreditError::Request(format!(
            "team credit {total} does not add up to the report's {reported}"
        )));
    }
    let total_incremental = incremental.as_ref().map(|inc| {
        names
            .iter()
            .map(|n| inc.get(n).copied().unwrap_or(0.0))
            .sum()
    });
    let teams_out = names
        .iter()
        .map(|n| {
            let (c, u) = credit.get(n).cloned().unwrap_or_default();
            let inc = incremental
                .as_ref()
                .map(|i| i.get(n).copied().unwrap_or(0.0));
            let target = targets.get(n).copied();
            TeamCredit {
                team: n.clone(),
                credit: c,
                share: if total > 0.0 { c / total } else { 0.0 },
                incremental: inc,
                target,
                attainment: target.map(|t| c / t),
                incremental_attainment: target.and_then(|t| inc.map(|i| i / t)),
                units: u,
            }
        })
        .collect();
    if let Some(t) = targets.keys().find(|t| !names.contains(t)) {
        return Err(CreditError::Request(format!(
            "the targets name team `{t}`, which the teams file does not ({})",
            names.join(", ")
        )));
    }
    Ok(CreditReport {
        schema_version: CREDIT_SCHEMA_VERSION,
        model: m.model.clone(),
        metric,
        total,
        total_incremental,
        teams: teams_out,
    })
}
