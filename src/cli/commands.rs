//! One function per command: resolve the flags into a library request, call the library,
//! render the result.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use mixcast::attribution::{self as at, events::JourneyOptions, ReadOptions};
use mixcast::io::{write_atomic, write_set};
use mixcast::optimize::{Amount, Planner, Request, Risk};
use mixcast::scenario::{FutureControls, Plan, ScenarioRequest};
use mixcast::{analysis, report, Error, FitOptions, Model, SimConfig};

use super::output::{print, print_json, UsageError};
use super::progress::Progress;
use super::*;

fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

fn load(path: &Path) -> Result<Model, Error> {
    Ok(Model::load(path)?)
}

/// Future controls from `--controls`, if given.
fn future_controls(path: Option<&Path>, m: &Model) -> Result<Option<FutureControls>, Error> {
    Ok(path.map(|p| FutureControls::read(p, m)).transpose()?)
}

fn write_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Write {
        path: path.to_path_buf(),
        source,
    }
}

/// Write a fit's artifacts as one set; returns the summary.
fn write_outputs(model: &Model, out: &Path) -> anyhow::Result<analysis::Summary> {
    let summary = analysis::summarize(model);
    let curves = analysis::curves_document(model, 20).map_err(UsageError)?;
    let json = |v: &dyn erased::Json| v.pretty();
    let files = [
        ("model.json", json(model)),
        ("summary.json", json(&summary)),
        (
            "decomposition.csv",
            analysis::decompose(model).to_csv().into_bytes(),
        ),
        ("curves.json", json(&curves)),
    ];
    write_set(out, &files).map_err(write_err(out))?;
    Ok(summary)
}

mod erased {
    /// Pretty JSON with a final newline, for any serialisable artifact.
    pub trait Json {
        fn pretty(&self) -> Vec<u8>;
    }
    impl<T: serde::Serialize> Json for T {
        fn pretty(&self) -> Vec<u8> {
            let mut v = serde_json::to_vec_pretty(self).unwrap_or_default();
            v.push(b'\n');
            v
        }
    }
}

fn fit_and_report(
    spec: &Path,
    out: &Path,
    opts: &FitOptions,
    json: bool,
    quiet: bool,
) -> anyhow::Result<Model> {
    let progress = Progress::new(quiet);
    let model = mixcast::fit_spec_file(spec, opts, &progress)?;
    let summary = write_outputs(&model, out)?;
    if json {
        print_json(&summary)?;
    } else {
        print(&report::summary_table(&summary))?;
        if !quiet {
            eprintln!(
                "fitted in {:.2}s; wrote {}",
                model.diagnostics.seconds,
                out.display()
            );
        }
    }
    Ok(model)
}

pub fn fit(a: FitArgs) -> anyhow::Result<()> {
    let opts = FitOptions {
        holdout: a.holdout_weeks,
        seed: a.seed,
        draws: a.draws,
        experiments: a.experiments,
        attribution_prior: a.attribution_prior,
        data: a.data.map(|d| std::path::absolute(&d).unwrap_or(d)),
        method: a.method.map(Into::into),
        chains: a.chains,
        warmup: a.warmup,
    };
    fit_and_report(&a.spec, &a.out, &opts, a.json, a.quiet).map(|_| ())
}

pub fn decompose(a: DecomposeArgs) -> anyhow::Result<()> {
    let m = load(&a.model)?;
    let d = analysis::decompose(&m);
    let text = match (a.json, a.format) {
        (true, _) | (_, Format::Json) => serde_json::to_string_pretty(&d)? + "\n",
        _ => d.to_csv(),
    };
    match a.out {
        Some(p) => write_atomic(&p, text.as_bytes()).map_err(write_err(&p))?,
        None => print(&text)?,
    }
    Ok(())
}

pub fn scenario(a: ScenarioArgs) -> anyhow::Result<()> {
    let m = load(&a.model)?;
    let controls = future_controls(a.controls.as_deref(), &m)?;
    let base = match (&a.plan, &a.totals) {
        (Some(path), _) => (stem(path), Plan::read(path, &m).map_err(Error::from)?),
        (None, Some(path)) => {
            let t = Plan::read_totals(path, &m).map_err(Error::from)?;
            let h = a.horizon.unwrap_or(0);
            let plan = Plan::spread_totals(&m, &t, h, a.flighting).map_err(Error::from)?;
            (stem(path), plan)
        }
        (None, None) => return Err(UsageError("give --plan or --totals".into()).into()),
    };
    let others = a
        .compare
        .iter()
        .map(|p| Ok((stem(p), Plan::read(p, &m)?)))
        .collect::<Result<Vec<_>, Error>>()?;
    let req = ScenarioRequest {
        base,
        others,
        tail: a.tail,
        controls,
    };
    let r = req.run(&m).map_err(Error::from)?;
    if a.json {
        return print_json(&r);
    }
    print(&report::forecast_table(&r.forecast, m.kpi_kind()))?;
    if let Some(c) = &r.comparison {
        print(&report::comparison_table(c))?;
    }
    Ok(())
}

/// `CH=AMOUNT` items of one flag as a map; a channel named twice is an error.
fn channel_amounts(flag: &str, items: &[String]) -> anyhow::Result<BTreeMap<String, Amount>> {
    let mut out = BTreeMap::new();
    for it in items {
        let (name, amount) = it
            .split_once('=')
            .ok_or_else(|| UsageError(format!("--{flag} {it}: expected CH=AMOUNT")))?;
        let amount: Amount = amount
            .parse()
            .map_err(|e| UsageError(format!("--{flag} {it}: {e}")))?;
        if out.insert(name.trim().to_string(), amount).is_some() {
            return Err(
                UsageError(format!("--{flag}: channel `{}` given twice", name.trim())).into(),
            );
        }
    }
    Ok(out)
}

/// The optimize flags as the library's request (the same fields, the same names).
fn optimize_request(a: &OptimizeArgs) -> anyhow::Result<Request> {
    let mut lock = BTreeMap::new();
    for it in &a.lock {
        let (name, amount) = match it.split_once('=') {
            Some((n, v)) => (
                n,
                Some(
                    v.parse::<Amount>()
                        .map_err(|e| UsageError(format!("--lock {it}: {e}")))?,
                ),
            ),
            None => (it.as_str(), None),
        };
        lock.insert(name.trim().to_string(), amount);
    }
    Ok(Request {
        budget: a.budget,
        horizon: a.horizon,
        target_kpi: a.target_kpi,
        target_mroi: a.target_mroi,
        target_cpa: a.target_cpa,
        objective: a.objective.into(),
        margin: a.margin,
        risk: a.risk.into(),
        quantile: a.quantile,
        flighting: a.flighting,
        count_tail: a.count_tail,
        within: a.within,
        min: channel_amounts("min", &a.min)?,
        max: channel_amounts("max", &a.max)?,
        min_buy: channel_amounts("min-buy", &a.min_buy)?,
        lock,
        on: a.on.clone(),
        off: a.off.clone(),
        grid_steps: a.grid_steps,
    })
}

pub fn optimize(a: OptimizeArgs) -> anyhow::Result<()> {
    let req = optimize_request(&a)?.validate().map_err(Error::from)?;
    let m = load(&a.model)?;
    let controls = future_controls(a.controls.as_deref(), &m)?;
    let planner = Planner::with_controls(&m, req.horizon(), req.count_tail(), controls.as_ref());
    let mut rec = planner.optimize(&req).map_err(Error::from)?;
    if let Some(path) = &a.campaigns {
        let combination = mixcast::combine::load_combination(path).map_err(Error::from)?;
        if combination.model.model_id != m.model_id {
            eprintln!(
                "warning: {} was combined with model {}, not {}; its campaign shares are used as they are",
                path.display(),
                combination.model.model_id,
                m.model_id
            );
        }
        rec.campaigns = planner.split_campaigns(&rec, &req, &combination.campaign_shares());
        if rec.campaigns.is_empty() {
            eprintln!(
                "warning: {} has no campaigns of this model's channels",
                path.display()
            );
        }
    }
    if let Some(path) = &a.plan_out {
        write_atomic(path, rec.plan_csv().as_bytes()).map_err(write_err(path))?;
    }
    if a.json {
        print_json(&rec)
    } else {
        print(&report::recommendation_table(&rec))
    }
}

pub fn serve(a: ServeArgs) -> anyhow::Result<()> {
    use mixcast::serve;
    let store = serve::Store::new(&a.models).map_err(|e| UsageError(format!("--models: {e}")))?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&a.addr)
            .await
            .map_err(|e| UsageError(format!("--addr {}: {e}", a.addr)))?;
        let local = listener.local_addr().context("listening address")?;
        eprintln!(
            "{}",
            serde_json::json!({"event": "listening", "addr": local.to_string(), "models": a.models.display().to_string()})
        );
        let log: serve::Logger = std::sync::Arc::new(|r: &serve::RequestLog| {
            if let Ok(line) = serde_json::to_string(&serde_json::json!({"event": "request", "method": r.method, "path": r.path, "status": r.status, "latency_ms": (r.latency_ms * 1000.0).round() / 1000.0})) {
                eprintln!("{line}");
            }
        });
        serve::serve(listener, std::sync::Arc::new(store), log)
            .await
            .context("serving")?;
        Ok(())
    })
}

pub fn report(a: ReportArgs) -> anyhow::Result<()> {
    let m = load(&a.model)?;
    let recommendation = match a.budget {
        Some(budget) => {
            let req = Request::fixed_budget(budget, a.horizon)
                .validate()
                .map_err(Error::from)?;
            Some(
                Planner::new(&m, req.horizon(), req.count_tail())
                    .optimize(&req)
                    .map_err(Error::from)?,
            )
        }
        None => None,
    };
    let attribution = a
        .attribution
        .as_deref()
        .map(mixcast::combine::load_attribution)
        .transpose()
        .map_err(Error::from)?;
    let combination = a
        .combine
        .as_deref()
        .map(mixcast::combine::load_combination)
        .transpose()
        .map_err(Error::from)?;
    let html = report::html::render(
        &m,
        &report::html::ReportInputs {
            recommendation,
            attribution,
            combination,
        },
    );
    write_atomic(&a.out, html.as_bytes()).map_err(write_err(&a.out))?;
    eprintln!("wrote {} ({} kB)", a.out.display(), html.len() / 1024);
    Ok(())
}

pub fn curves(a: CurvesArgs) -> anyhow::Result<()> {
    let m = load(&a.model)?;
    let doc = analysis::curves_document(&m, a.steps).map_err(UsageError)?;
    print_json(&doc)
}

pub fn simulate(a: SimulateArgs) -> anyhow::Result<()> {
    let cfg = if a.broad {
        SimConfig::broad(a.seed, a.noise, a.geos)
    } else {
        SimConfig {
            weeks: a.weeks,
            channels: a.channels,
            noise: a.noise,
            geos: a.geos,
            holdout: a.holdout_weeks,
            seed: a.seed,
            truth: Default::default(),
        }
    };
    cfg.check().map_err(UsageError)?;
    let sim = mixcast::simulate(&cfg);
    sim.write(&a.out)
        .map_err(write_err(&a.out))
        .context("writing the simulation")?;
    eprintln!("wrote {}/data.csv, spec.toml, truth.json", a.out.display());
    Ok(())
}

pub fn attribute(a: AttributeArgs) -> anyhow::Result<()> {
    let read = ReadOptions {
        skip_bad_rows: a.skip_bad_rows,
    };
    let mut settings = at::ModelSettings::from_flags(
        &a.position_weights,
        &a.w_weights,
        a.half_life,
        a.paths.is_some(),
        a.direct_channel.clone(),
        a.seed,
    )
    .map_err(Error::from)?;
    settings.control = match a.control.as_deref() {
        None => None,
        Some(&[n, c]) => Some([n, c]),
        Some(_) => {
            return Err(UsageError("--control takes JOURNEYS,CONVERSIONS".into()).into());
        }
    };
    settings.organic_share = a.organic_share;
    settings.check().map_err(Error::from)?;
    let models = at::Model::parse_list(&a.model, &settings).map_err(Error::from)?;
    let started = std::time::Instant::now();
    let table = match (&a.events, &a.conversions, &a.paths) {
        (Some(e), Some(c), None) => at::events::read_events(
            e,
            c,
            JourneyOptions {
                lookback_days: a.lookback_days,
                half_life_days: settings.half_life,
                read,
            },
        ),
        (None, None, Some(p)) => at::read_paths_csv(p, read),
        _ => return Err(UsageError("give --events and --conversions, or --paths".into()).into()),
    }
    .map_err(Error::from)?;
    let mut report = at::attribute(&table, &models, &settings).map_err(Error::from)?;
    if let Some(path) = &a.calibration {
        let combination = mixcast::combine::load_combination(path).map_err(Error::from)?;
        for w in mixcast::combine::calibrate(&mut report, &combination) {
            eprintln!("warning: {w}");
        }
    }
    if let Some(p) = &a.csv {
        write_atomic(p, report.to_csv().as_bytes()).map_err(write_err(p))?;
    }
    if a.json {
        return print_json(&report);
    }
    print(&report.table())?;
    eprintln!("attributed in {:.2}s", started.elapsed().as_secs_f64());
    Ok(())
}

pub fn combine(a: CombineArgs) -> anyhow::Result<()> {
    use mixcast::combine as cb;
    let model = load(&a.model)?;
    let attribution = cb::load_attribution(&a.attribution).map_err(Error::from)?;
    let names: Vec<String> = model.channels.iter().map(|c| c.name.clone()).collect();
    let map = a
        .channel_map
        .as_deref()
        .map(|p| cb::ChannelMap::read(p, &names))
        .transpose()
        .map_err(Error::from)?;
    let experiments = match &a.experiments {
        Some(p) => {
            let read = mixcast::calibration::read_experiments(
                p,
                &model.dataset,
                &names,
                model.fit_start,
                model.fit_end,
            )
            .map_err(|e| Error::from(cb::CombineError::from(e)))?;
            if !read.held_out_rows.is_empty() {
                eprintln!(
                    "warning: {}: rows {:?} reach past the fit window and are not pooled",
                    p.display(),
                    read.held_out_rows
                );
            }
            read.kept
        }
        None => Vec::new(),
    };
    let req = cb::CombineRequest {
        map,
        experiments,
        reference: a.reference.clone(),
    };
    let doc = cb::combine(&model, &attribution, &req).map_err(Error::from)?;
    if let Some(dir) = &a.csv {
        let files = [
            ("channels.csv", doc.channels_csv().into_bytes()),
            ("campaigns.csv", doc.campaigns_csv().into_bytes()),
        ];
        write_set(dir, &files).map_err(write_err(dir))?;
    }
    if a.json {
        return print_json(&doc);
    }
    print(&doc.table())
}

pub fn simulate_joint(a: SimulateJointArgs) -> anyhow::Result<()> {
    if !(a.noise.is_finite() && (0.0..=1.0).contains(&a.noise)) {
        return Err(UsageError(format!("--noise must be in [0, 1], got {}", a.noise)).into());
    }
    if a.journeys == 0 {
        return Err(UsageError("--journeys must be at least 1".into()).into());
    }
    let cfg = mixcast::joint::JointConfig {
        seed: a.seed,
        noise: a.noise,
        journeys: a.journeys,
    };
    mixcast::joint::simulate_joint(&cfg, &a.out).map_err(write_err(&a.out))?;
    eprintln!(
        "wrote {0}/data.csv, spec.toml, truth.json, joint_truth.json and {0}/journeys/events.csv, conversions.csv",
        a.out.display()
    );
    Ok(())
}

pub fn simulate_journeys(a: SimulateJourneysArgs) -> anyhow::Result<()> {
    use at::simulate::TrueConversion as T;
    let cfg = at::simulate::JourneyConfig {
        conversion: match a.conversion {
            ConversionArg::Additive => T::Additive,
            ConversionArg::NoisyOr => T::NoisyOr,
            ConversionArg::Logistic => T::Logistic,
            ConversionArg::Interacting => T::Interacting,
        },
        ..at::simulate::JourneyConfig::standard(a.journeys, a.seed)
    }
    .with_effects(a.baseline, a.effect_scale)
    .map_err(UsageError)?;
    at::simulate::simulate_journeys(&cfg, &a.out).map_err(write_err(&a.out))?;
    eprintln!(
        "wrote {}/events.csv, conversions.csv, paths.csv, truth.json",
        a.out.display()
    );
    Ok(())
}

pub fn validate(a: ValidateArgs) -> anyhow::Result<()> {
    let progress = Progress::new(a.quiet);
    let spec = mixcast::ValidSpec::load(&a.spec).map_err(Error::from)?;
    let ds = mixcast::load_dataset_observed(&spec, &progress).map_err(Error::from)?;
    let cfg = mixcast::crossval::CrossValConfig {
        folds: a.folds,
        horizon: a.horizon,
        seed: a.seed,
    };
    let cv = mixcast::crossval::cross_validate(&spec, &ds, &cfg, &progress).map_err(Error::from)?;
    if a.json {
        print_json(&cv)
    } else {
        print(&report::crossval_table(&cv))
    }
}

pub fn recovery(a: RecoveryArgs) -> anyhow::Result<()> {
    let mut fit: Option<mixcast::spec::FitSpec> = a
        .fit
        .as_deref()
        .map(toml::from_str)
        .transpose()
        .map_err(|e| UsageError(format!("--fit: {e}")))?;
    if let Some(m) = a.method {
        fit.get_or_insert_with(Default::default).method = m.into();
    }
    let bayes = fit
        .as_ref()
        .is_some_and(|f| f.method == mixcast::spec::FitMethod::Bayes);
    let draws = a.draws.unwrap_or(if bayes { 1000 } else { 200 });
    if a.combination {
        let cfg = mixcast::recovery::CombinationStudyConfig {
            noise: a.noise,
            seeds: a.seeds,
            draws,
            journeys: a.journeys,
            ..Default::default()
        };
        return print_json(&mixcast::recovery::run_combination_study(&cfg)?);
    }
    if a.calibration {
        let cfg = mixcast::recovery::CalibrationStudyConfig {
            noise: a.noise,
            seeds: a.seeds,
            draws,
            ..Default::default()
        };
        return print_json(&mixcast::recovery::run_calibration_study(&cfg)?);
    }
    if a.allocation {
        let risk = match a.risk {
            RiskArg::Mean => Risk::Mean,
            RiskArg::Point => Risk::Point,
            RiskArg::Quantile => Risk::Quantile { q: a.quantile },
        };
        let cfg = mixcast::recovery::AllocationConfig {
            noise: a.noise,
            seeds: a.seeds,
            draws,
            channels: a.channels,
            risk,
            broad: a.broad,
            ..Default::default()
        };
        return print_json(&mixcast::recovery::run_allocation_study(&cfg)?);
    }
    let cfg = mixcast::recovery::StudyConfig {
        noise: a.noise,
        seeds: a.seeds,
        draws,
        broad: a.broad,
        geos: a.geos,
        fit,
        ..Default::default()
    };
    print_json(&mixcast::recovery::run_study(&cfg)?)
}

/// The shipped demo spec: `models/demo.toml` here, else beside the sources.
fn demo_spec() -> PathBuf {
    let local = Path::new("models/demo.toml");
    if local.exists() {
        local.to_path_buf()
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("models/demo.toml")
    }
}

pub fn demo(a: DemoArgs) -> anyhow::Result<()> {
    let opts = FitOptions {
        holdout: 13,
        seed: 0,
        ..Default::default()
    };
    let m = fit_and_report(&demo_spec(), &a.out, &opts, a.json, false)?;
    if a.json {
        return Ok(());
    }
    // What the fitted model recommends for the last quarter's budget.
    let planner = Planner::new(&m, 13, false);
    let budget: f64 = planner.reference_spend().iter().sum();
    let req = Request::fixed_budget(budget, 13)
        .validate()
        .map_err(Error::from)?;
    let rec = planner.optimize(&req).map_err(Error::from)?;
    print("\nreallocating the last 13 weeks' budget over the next 13 weeks:\n")?;
    print(&report::recommendation_table(&rec))
}
