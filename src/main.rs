//! mixcast command line: parse, call the library, print, map errors to exit codes
//! (0 success, 2 bad input, 1 other failure).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};

use mixcast::io::{write_atomic, write_json};
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
    /// Forecast the KPI for a future spend plan (CSV: period,<channel>…) with intervals.
    Scenario {
        /// model.json from `mixcast fit`.
        model: PathBuf,
        /// Plan CSV: a `period` column and one spend column per paid channel.
        #[arg(long)]
        plan: PathBuf,
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
        Cmd::Scenario { model, plan, json } => {
            let m = Model::load(&model).map_err(Error::from)?;
            let p = mixcast::scenario::Plan::read(&plan, &m).map_err(Error::from)?;
            let f = mixcast::scenario::forecast(&m, &p);
            if json {
                println!("{}", serde_json::to_string_pretty(&f)?);
            } else {
                print!("{}", report::forecast_table(&f));
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
            fit_and_report(&spec, &out, &opts, json)
        }
    }
}
