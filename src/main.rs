//! mixcast command line: parse, call the library, print, map errors to exit codes
//! (0 success, 2 bad input, 1 other failure).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};

use mixcast::io::{write_atomic, write_json};
use mixcast::optimize::{Amount, ChannelRule, Goal, Objective, Request, Risk};
use mixcast::scenario::{Flighting, FutureControls, Horizon, Plan};
use mixcast::{analysis, report, Error, FitOptions, Model, SimConfig};

#[derive(Parser)]
#[command(
    name = "mixcast",
    version,
    about = "Marketing-mix modeling and forecasting"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Csv,
    Json,
}

#[derive(Subcommand)]
enum Cmd {
    /// Fit a model spec; writes model.json, summary.json, decomposition.csv and curves.json.
    Fit {
        /// Model spec (TOML).
        spec: PathBuf,
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
        /// Hold out the last N periods and report out-of-sample error on them.
        #[arg(long, default_value_t = 0)]
        holdout_weeks: usize,
        /// Seed for restarts and bootstrap.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Bootstrap draws (overrides the spec; 0 = no intervals).
        #[arg(long)]
        draws: Option<usize>,
        /// Print the summary as JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// No progress output.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Per-period decomposition of a fitted model (baseline groups and channels).
    Decompose {
        /// model.json from `mixcast fit`.
        model: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value = "csv")]
        format: Format,
        /// Shorthand for `--format json`.
        #[arg(long)]
        json: bool,
        /// Write to a file instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Forecast the KPI for a future spend plan with intervals; compare plans.
    Scenario {
        /// model.json from `mixcast fit`.
        model: PathBuf,
        /// Plan CSV: a `period` column and one spend column per paid channel.
        #[arg(long, required_unless_present = "totals", conflicts_with = "totals")]
        plan: Option<PathBuf>,
        /// Per channel totals CSV (`channel,spend`), spread by --flighting over --horizon.
        #[arg(long, requires = "horizon")]
        totals: Option<PathBuf>,
        /// Periods for --totals.
        #[arg(long)]
        horizon: Option<usize>,
        /// How --totals are spread: even, or historical (pattern of the last N periods).
        #[arg(long, default_value = "even")]
        flighting: Flighting,
        /// Other plans (same format and horizon) to compare with the base plan.
        #[arg(long, num_args = 1..)]
        compare: Vec<PathBuf>,
        /// Also count the KPI the plan creates after the horizon (carryover tail).
        #[arg(long)]
        tail: bool,
        /// Future control values (CSV: period,<control>…); default: held at last value.
        #[arg(long)]
        controls: Option<PathBuf>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Recommend how to spend a budget (or reach a KPI or efficiency target) over the
    /// next N periods, with a certificate of optimality.
    Optimize {
        /// model.json from `mixcast fit`.
        model: PathBuf,
        /// Total budget over the horizon (a cap in target and profit modes).
        #[arg(long, required_unless_present_any = ["target_kpi", "target_mroi", "target_cpa"])]
        budget: Option<f64>,
        /// Periods to plan.
        #[arg(long, default_value_t = 13)]
        horizon: usize,
        /// Least spend that reaches this window KPI (baseline included).
        #[arg(long, conflicts_with_all = ["target_mroi", "target_cpa"])]
        target_kpi: Option<f64>,
        /// Spend while marginal ROI stays at or above this.
        #[arg(long, conflicts_with = "target_cpa")]
        target_mroi: Option<f64>,
        /// Spend while marginal cost per KPI unit stays at or below this.
        #[arg(long)]
        target_cpa: Option<f64>,
        /// Objective for a fixed budget: kpi, or profit (= margin × KPI − spend; the
        /// budget becomes a cap).
        #[arg(long, default_value = "kpi")]
        objective: String,
        /// Profit per KPI unit (with --objective profit).
        #[arg(long)]
        margin: Option<f64>,
        /// Optimise the mean over draws (mean), the point estimate (point), or a lower
        /// quantile of each channel's contribution (quantile, see --quantile).
        #[arg(long, default_value = "mean")]
        risk: String,
        /// Quantile for --risk quantile.
        #[arg(long, default_value_t = 0.1)]
        quantile: f64,
        /// How each channel's total is spread: even, or historical.
        #[arg(long, default_value = "even")]
        flighting: Flighting,
        /// Count the KPI created after the horizon (carryover tail) in the objective.
        #[arg(long)]
        count_tail: bool,
        /// Future control values (CSV: period,<control>…); default: held at last value.
        #[arg(long)]
        controls: Option<PathBuf>,
        /// Keep every channel within ± this percent of its reference spend.
        #[arg(long)]
        within: Option<f64>,
        /// Channel minimum, CH=AMOUNT (currency, or percent of reference like 70%).
        #[arg(long = "min", value_name = "CH=AMOUNT")]
        mins: Vec<String>,
        /// Channel maximum, CH=AMOUNT.
        #[arg(long = "max", value_name = "CH=AMOUNT")]
        maxs: Vec<String>,
        /// Minimum buy: the channel is off or spends at least AMOUNT, CH=AMOUNT.
        #[arg(long = "min-buy", value_name = "CH=AMOUNT")]
        min_buys: Vec<String>,
        /// Lock a channel at AMOUNT (default: its reference spend), CH[=AMOUNT].
        #[arg(long = "lock", value_name = "CH[=AMOUNT]")]
        locks: Vec<String>,
        /// Channels that must spend something.
        #[arg(long = "on", value_name = "CH")]
        ons: Vec<String>,
        /// Channels that must spend nothing.
        #[arg(long = "off", value_name = "CH")]
        offs: Vec<String>,
        /// Budget grid steps of the dynamic programme.
        #[arg(long, default_value_t = mixcast::optimize::DEFAULT_GRID_STEPS)]
        grid_steps: usize,
        /// Write the per period plan CSV (readable by `mixcast scenario --plan`).
        #[arg(long)]
        plan_out: Option<PathBuf>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Response curves (contribution vs spend multiple) with intervals.
    Curves {
        /// model.json from `mixcast fit`.
        model: PathBuf,
        /// Points per curve.
        #[arg(long, default_value_t = 20)]
        steps: usize,
        /// JSON output (the default; kept for symmetry).
        #[arg(long)]
        json: bool,
    },
    /// Generate a dataset with known truth: data.csv, spec.toml, truth.json.
    Simulate {
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
        /// Seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Weeks of data.
        #[arg(long, default_value_t = 156)]
        weeks: usize,
        /// Media channels.
        #[arg(long, default_value_t = 5)]
        channels: usize,
        /// Noise sd as a fraction of mean KPI.
        #[arg(long, default_value_t = 0.05)]
        noise: f64,
        /// Geos (1 = national).
        #[arg(long, default_value_t = 1)]
        geos: usize,
        /// Weeks excluded from the truth window (match the fit's --holdout-weeks).
        #[arg(long, default_value_t = 13)]
        holdout_weeks: usize,
    },
    /// Multi-touch attribution over journeys (events + conversions, or aggregated paths).
    Attribute {
        /// Touch events: journey_id,timestamp,channel[,campaign][,cost] as CSV, or Parquet (.parquet).
        #[arg(long, requires = "conversions", conflicts_with = "paths")]
        events: Option<PathBuf>,
        /// Conversions CSV: journey_id,timestamp,value.
        #[arg(long, requires = "events")]
        conversions: Option<PathBuf>,
        /// Aggregated paths CSV: path,total_conversions,total_conversion_value,total_null.
        #[arg(long)]
        paths: Option<PathBuf>,
        /// Models, comma-separated: first, last, last_non_direct, linear, position,
        /// w_shaped, time_decay, markov1, markov2, markov3, shapley.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "last,linear,position,markov1,shapley"
        )]
        model: Vec<String>,
        /// Print the JSON report.
        #[arg(long)]
        json: bool,
        /// Also write the credit table as CSV.
        #[arg(long)]
        csv: Option<PathBuf>,
        /// Lookback window before a conversion, days.
        #[arg(long, default_value_t = 30.0)]
        lookback_days: f64,
        /// Time-decay half-life: days for events input (default 7), touches for paths (default 2).
        #[arg(long)]
        half_life: Option<f64>,
        /// U-shaped weights first,last.
        #[arg(long, value_delimiter = ',', default_values_t = [0.4, 0.4])]
        position_weights: Vec<f64>,
        /// W-shaped weights first,middle,last.
        #[arg(long, value_delimiter = ',', default_values_t = [0.3, 0.3, 0.3])]
        w_weights: Vec<f64>,
        /// Channel treated as direct by last_non_direct.
        #[arg(long, default_value = "direct")]
        direct_channel: String,
        /// Count and skip malformed rows instead of failing.
        #[arg(long)]
        skip_bad_rows: bool,
        /// Seed (Shapley sampling beyond 15 channels in one journey).
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Simulate journeys with known incremental channel effects.
    SimulateJourneys {
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
        /// Journeys.
        #[arg(long, default_value_t = 100_000)]
        journeys: usize,
        /// Seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Recovery study on the simulator: estimator vs truth vs oracle (JSON report).
    Recovery {
        /// Noise level.
        #[arg(long, default_value_t = 0.05)]
        noise: f64,
        /// Seeds 1..=N.
        #[arg(long, default_value_t = 5)]
        seeds: u64,
        /// Bootstrap draws per fit.
        #[arg(long, default_value_t = 200)]
        draws: usize,
        /// Run the budget-allocation regret study instead.
        #[arg(long)]
        allocation: bool,
        /// Channels per simulation (allocation study).
        #[arg(long, default_value_t = 5)]
        channels: usize,
        /// Risk view for the allocation study: mean, point, or a quantile like q0.25.
        #[arg(long, default_value = "mean")]
        risk: String,
    },
    /// Fit the shipped sample model and print its summary.
    Demo {
        /// Output folder for the artifacts.
        #[arg(long, default_value = "mixcast-demo")]
        out: PathBuf,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let user = e.downcast_ref::<Error>().is_some_and(|e| e.is_user_error())
                || e.downcast_ref::<UsageError>().is_some();
            eprintln!("error: {e:#}");
            if user {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct UsageError(String);

fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

fn write_outputs(model: &Model, out: &Path) -> anyhow::Result<analysis::Summary> {
    let summary = analysis::summarize(model);
    let w = |name: &str| out.join(name);
    write_json(&w("model.json"), model).map_err(|source| Error::Write {
        path: w("model.json"),
        source,
    })?;
    write_json(&w("summary.json"), &summary).map_err(|source| Error::Write {
        path: w("summary.json"),
        source,
    })?;
    write_atomic(
        &w("decomposition.csv"),
        analysis::decompose(model).to_csv().as_bytes(),
    )
    .map_err(|source| Error::Write {
        path: w("decomposition.csv"),
        source,
    })?;
    write_json(&w("curves.json"), &analysis::response_curves(model, 20)).map_err(|source| {
        Error::Write {
            path: w("curves.json"),
            source,
        }
    })?;
    Ok(summary)
}

fn fit_and_report(spec: &Path, out: &Path, opts: &FitOptions, json: bool) -> anyhow::Result<()> {
    let model = mixcast::fit_spec_file(spec, opts)?;
    let summary = write_outputs(&model, out)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print!("{}", report::summary_table(&summary));
        if opts.progress {
            eprintln!(
                "fitted in {:.2}s; wrote {}",
                model.diagnostics.seconds,
                out.display()
            );
        }
    }
    Ok(())
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.cmd {
        Cmd::Fit {
            spec,
            out,
            holdout_weeks,
            seed,
            draws,
            json,
            quiet,
        } => {
            let opts = FitOptions {
                holdout: holdout_weeks,
                seed,
                draws,
                progress: !quiet,
            };
            fit_and_report(&spec, &out, &opts, json)
        }
        Cmd::Decompose {
            model,
            format,
            json,
            out,
        } => {
            let m = Model::load(&model).map_err(Error::from)?;
            let d = analysis::decompose(&m);
            let text = match (json, format) {
                (true, _) | (_, Format::Json) => serde_json::to_string_pretty(&d)? + "\n",
                _ => d.to_csv(),
            };
            match out {
                Some(p) => write_atomic(&p, text.as_bytes())
                    .map_err(|source| Error::Write { path: p, source })?,
                None => print!("{text}"),
            }
            Ok(())
        }
        Cmd::Scenario {
            model,
            plan,
            totals,
            horizon,
            flighting,
            compare,
            tail,
            controls,
            json,
        } => {
            let m = Model::load(&model).map_err(Error::from)?;
            let future = controls
                .as_deref()
                .map(|p| FutureControls::read(p, &m))
                .transpose()
                .map_err(Error::from)?;
            let (base_name, p) = match (&plan, &totals) {
                (Some(path), _) => (stem(path), Plan::read(path, &m).map_err(Error::from)?),
                (None, Some(path)) => {
                    let t = Plan::read_totals(path, &m).map_err(Error::from)?;
                    let h = horizon.unwrap_or(0);
                    let max = mixcast::optimize::MAX_HORIZON;
                    if h == 0 || h > max {
                        return Err(UsageError(format!("--horizon must be 1..={max}")).into());
                    }
                    (stem(path), Plan::from_totals(&m, &t, h, flighting))
                }
                (None, None) => return Err(UsageError("give --plan or --totals".into()).into()),
            };
            let mut others = Vec::new();
            for path in &compare {
                let o = Plan::read(path, &m).map_err(Error::from)?;
                if o.horizon() != p.horizon() {
                    return Err(UsageError(format!(
                        "{}: {} periods, but the base plan has {}",
                        path.display(),
                        o.horizon(),
                        p.horizon()
                    ))
                    .into());
                }
                others.push((stem(path), o));
            }
            let tail = if tail {
                Horizon::carryover_periods(&m)
            } else {
                0
            };
            let hz = Horizon::with_controls(&m, p.horizon(), tail, future.as_ref());
            let f = hz.forecast(&p);
            let cmp = (!others.is_empty()).then(|| hz.compare((&base_name, &p), &others));
            if json {
                let v = match &cmp {
                    Some(c) => serde_json::json!({ "forecast": f, "comparison": c }),
                    None => serde_json::to_value(&f)?,
                };
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                print!("{}", report::forecast_table(&f));
                if let Some(c) = &cmp {
                    print!("{}", report::comparison_table(c));
                }
            }
            Ok(())
        }
        Cmd::Optimize {
            model,
            budget,
            horizon,
            target_kpi,
            target_mroi,
            target_cpa,
            objective,
            margin,
            risk,
            quantile,
            flighting,
            count_tail,
            controls,
            within,
            mins,
            maxs,
            min_buys,
            locks,
            ons,
            offs,
            grid_steps,
            plan_out,
            json,
        } => {
            let m = Model::load(&model).map_err(Error::from)?;
            let goal = match (target_kpi, target_mroi, target_cpa) {
                (Some(target), _, _) => Goal::TargetKpi { target },
                (_, Some(threshold), _) => Goal::TargetEfficiency { threshold },
                (_, _, Some(cpa)) if cpa > 0.0 => Goal::TargetEfficiency {
                    threshold: 1.0 / cpa,
                },
                (_, _, Some(cpa)) => {
                    return Err(UsageError(format!("--target-cpa must be > 0 (got {cpa})")).into())
                }
                _ => Goal::FixedBudget {
                    budget: budget.unwrap_or(0.0),
                },
            };
            let objective = match (objective.as_str(), margin) {
                ("kpi", _) => Objective::Kpi,
                ("profit", Some(margin)) => Objective::Profit { margin },
                ("profit", None) => {
                    return Err(UsageError("--objective profit needs --margin".into()).into())
                }
                (o, _) => {
                    return Err(
                        UsageError(format!("unknown --objective `{o}` (kpi, profit)")).into(),
                    )
                }
            };
            let risk = match risk.as_str() {
                "mean" => Risk::Mean,
                "point" => Risk::Point,
                "quantile" => Risk::Quantile { q: quantile },
                r => {
                    return Err(
                        UsageError(format!("unknown --risk `{r}` (mean, point, quantile)")).into(),
                    )
                }
            };
            let mut rules: Vec<(String, ChannelRule)> = Vec::new();
            let mut add = |flag: &str,
                           items: &[String],
                           set: &dyn Fn(&mut ChannelRule, Option<Amount>)|
             -> anyhow::Result<()> {
                for it in items {
                    let (name, amount) = match it.split_once('=') {
                        Some((n, a)) => (
                            n.trim().to_string(),
                            Some(
                                a.parse::<Amount>()
                                    .map_err(|e| UsageError(format!("--{flag} {it}: {e}")))?,
                            ),
                        ),
                        None => (it.trim().to_string(), None),
                    };
                    let mut r = ChannelRule::default();
                    set(&mut r, amount);
                    rules.push((name, r));
                }
                Ok(())
            };
            for (flag, items) in [("min", &mins), ("max", &maxs), ("min-buy", &min_buys)] {
                if let Some(it) = items.iter().find(|i| !i.contains('=')) {
                    return Err(UsageError(format!("--{flag} {it}: expected CH=AMOUNT")).into());
                }
            }
            add("min", &mins, &|r, a| r.min = a)?;
            add("max", &maxs, &|r, a| r.max = a)?;
            add("min-buy", &min_buys, &|r, a| r.min_buy = a)?;
            add("lock", &locks, &|r, a| {
                r.lock = Some(a.unwrap_or(Amount::PercentOfReference(100.0)))
            })?;
            add("on", &ons, &|r, _| r.on = true)?;
            add("off", &offs, &|r, _| r.off = true)?;
            let req = Request {
                horizon,
                goal,
                budget_cap: match goal {
                    Goal::FixedBudget { .. } => None,
                    _ => budget,
                },
                objective,
                risk,
                flighting,
                count_tail,
                within: within.map(|w| w / 100.0),
                rules,
                grid_steps,
            };
            let future = controls
                .as_deref()
                .map(|p| FutureControls::read(p, &m))
                .transpose()
                .map_err(Error::from)?;
            mixcast::optimize::validate(&req).map_err(Error::from)?;
            let rec =
                mixcast::optimize::Planner::with_controls(&m, horizon, count_tail, future.as_ref())
                    .optimize(&req)
                    .map_err(Error::from)?;
            if let Some(path) = &plan_out {
                write_atomic(path, rec.plan_csv().as_bytes()).map_err(|source| Error::Write {
                    path: path.clone(),
                    source,
                })?;
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&rec)?);
            } else {
                print!("{}", report::recommendation_table(&rec));
            }
            Ok(())
        }
        Cmd::Curves { model, steps, .. } => {
            let m = Model::load(&model).map_err(Error::from)?;
            println!(
                "{}",
                serde_json::to_string_pretty(&analysis::response_curves(&m, steps))?
            );
            Ok(())
        }
        Cmd::Simulate {
            out,
            seed,
            weeks,
            channels,
            noise,
            geos,
            holdout_weeks,
        } => {
            if !(0.0..=1.0).contains(&noise)
                || weeks < 20
                || channels == 0
                || geos == 0
                || holdout_weeks + 10 > weeks
            {
                return Err(UsageError(
                    "simulate needs 0 ≤ noise ≤ 1, weeks ≥ 20, channels ≥ 1, geos ≥ 1 and holdout-weeks ≤ weeks − 10".into(),
                )
                .into());
            }
            let sim = mixcast::simulate(&SimConfig {
                weeks,
                channels,
                noise,
                geos,
                holdout: holdout_weeks,
                seed,
            });
            sim.write(&out)
                .map_err(|source| Error::Write {
                    path: out.clone(),
                    source,
                })
                .context("writing the simulation")?;
            eprintln!("wrote {}/data.csv, spec.toml, truth.json", out.display());
            Ok(())
        }
        Cmd::Attribute {
            events,
            conversions,
            paths,
            model,
            json,
            csv,
            lookback_days,
            half_life,
            position_weights,
            w_weights,
            direct_channel,
            skip_bad_rows,
            seed,
        } => {
            use mixcast::attribution::{self as at, events::JourneyOptions, ReadOptions};
            let read = ReadOptions { skip_bad_rows };
            if position_weights.len() != 2 || w_weights.len() != 3 {
                return Err(UsageError(
                    "--position-weights takes first,last and --w-weights takes first,middle,last"
                        .into(),
                )
                .into());
            }
            let default_half_life = if paths.is_some() { 2.0 } else { 7.0 };
            let settings = at::ModelSettings {
                position: [position_weights[0], position_weights[1]],
                w_shaped: [w_weights[0], w_weights[1], w_weights[2]],
                half_life: half_life.unwrap_or(default_half_life),
                direct_channel,
                seed,
            };
            settings.check().map_err(Error::from)?;
            let models = model
                .iter()
                .map(|m| at::Model::parse(m, &settings))
                .collect::<Result<Vec<_>, _>>()
                .map_err(Error::from)?;
            let started = std::time::Instant::now();
            let table = match (&events, &conversions, &paths) {
                (Some(e), Some(c), None) => at::events::read_events(
                    e,
                    c,
                    JourneyOptions {
                        lookback_days,
                        half_life_days: settings.half_life,
                        read,
                    },
                ),
                (None, None, Some(p)) => at::read_paths_csv(p, read),
                _ => {
                    return Err(
                        UsageError("give --events and --conversions, or --paths".into()).into(),
                    )
                }
            }
            .map_err(Error::from)?;
            let report = at::attribute(&table, &models, &settings).map_err(Error::from)?;
            if let Some(p) = csv {
                write_atomic(&p, report.to_csv().as_bytes())
                    .map_err(|source| Error::Write { path: p, source })?;
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", report.table());
                eprintln!("attributed in {:.2}s", started.elapsed().as_secs_f64());
            }
            Ok(())
        }
        Cmd::SimulateJourneys {
            out,
            journeys,
            seed,
        } => {
            let cfg = mixcast::attribution::simulate::JourneyConfig::standard(journeys, seed);
            mixcast::attribution::simulate::simulate_journeys(&cfg, &out).map_err(|source| {
                Error::Write {
                    path: out.clone(),
                    source,
                }
            })?;
            eprintln!(
                "wrote {}/events.csv, conversions.csv, paths.csv, truth.json",
                out.display()
            );
            Ok(())
        }
        Cmd::Recovery {
            noise,
            seeds,
            draws,
            allocation: true,
            channels,
            risk,
        } => {
            let cfg = mixcast::recovery::AllocationConfig {
                noise,
                seeds,
                draws,
                channels,
                risk: match risk.as_str() {
                    "point" => Risk::Point,
                    "mean" => Risk::Mean,
                    q => match q.strip_prefix('q').and_then(|v| v.parse::<f64>().ok()) {
                        Some(v) if v > 0.0 && v < 1.0 => Risk::Quantile { q: v },
                        _ => {
                            return Err(UsageError(format!(
                                "--risk `{risk}`: mean, point or qN (e.g. q0.25)"
                            ))
                            .into())
                        }
                    },
                },
                ..Default::default()
            };
            let r = mixcast::recovery::run_allocation_study(&cfg)?;
            println!("{}", serde_json::to_string_pretty(&r)?);
            Ok(())
        }
        Cmd::Recovery {
            noise,
            seeds,
            draws,
            ..
        } => {
            let cfg = mixcast::recovery::StudyConfig {
                noise,
                seeds,
                draws,
                ..Default::default()
            };
            let r = mixcast::recovery::run_study(&cfg)?;
            println!("{}", serde_json::to_string_pretty(&r)?);
            Ok(())
        }
        Cmd::Demo { out, json } => {
            let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/demo.toml");
            let local = Path::new("models/demo.toml");
            let spec = if local.exists() {
                local.to_path_buf()
            } else {
                spec
            };
            let opts = FitOptions {
                holdout: 13,
                seed: 0,
                draws: None,
                progress: true,
            };
            fit_and_report(&spec, &out, &opts, json)?;
            if !json {
                // What the fitted model recommends for the last quarter's budget.
                let m = Model::load(&out.join("model.json")).map_err(Error::from)?;
                let planner = mixcast::optimize::Planner::new(&m, 13, false);
                let budget: f64 = planner.reference_spend().iter().sum();
                let rec = planner
                    .optimize(&Request::fixed_budget(budget, 13))
                    .map_err(Error::from)?;
                println!("\nreallocating the last 13 weeks' budget over the next 13 weeks:");
                print!("{}", report::recommendation_table(&rec));
            }
            Ok(())
        }
    }
}
