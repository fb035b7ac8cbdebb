//! One function per command: resolve the flags into a library request, call the library,
//! render the result.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use mixcast::attribution::{self as at, events::JourneyOptions, ReadOptions};
use mixcast::io::{write_atomic, write_set};
use mixcast::optimize::{Amount, Planner, Request, Risk};
use mixcast::scenario::{FutureControls, Plan, ScenarioRequest};
use mixcast::{analysis, registry, report, Error, FitOptions, Model, SimConfig};

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

/// Write a fit's artifacts (and `extra` files) as one set; returns the summary.
fn write_outputs(
    model: &Model,
    out: &Path,
    extra: &[(&'static str, Vec<u8>)],
) -> anyhow::Result<analysis::Summary> {
    let (summary, mut files) = registry::artifacts(model).map_err(Error::from)?;
    files.extend(extra.iter().cloned());
    write_set(out, &files).map_err(write_err(out))?;
    Ok(summary)
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
    let summary = write_outputs(&model, out, &[])?;
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
    let opts = a.fit.options();
    let m = fit_and_report(&a.spec, &a.out, &opts, a.json, a.quiet)?;
    log_result(serde_json::json!({
        "command": "fit",
        "out": a.out.display().to_string(),
        "model_id": m.model_id,
        "seconds": m.diagnostics.seconds,
    }));
    Ok(())
}

/// A `result` line under `--log-format json`.
fn log_result(fields: serde_json::Value) {
    if super::progress::json_logs() {
        super::progress::log_json("info", "result", fields);
    }
}

pub fn backtest(a: BacktestArgs) -> anyhow::Result<()> {
    let m = load(&a.model)?;
    let base = std::path::absolute(&a.data).unwrap_or_else(|_| a.data.clone());
    let b = mixcast::backtest::backtest(&m, &a.data, &base).map_err(Error::from)?;
    log_result(serde_json::json!({
        "command": "backtest", "model_id": m.model_id, "periods": b.periods, "mape": b.mape,
        "coverage": b.coverage,
    }));
    if a.json {
        return print_json(&b);
    }
    print(&report::backtest_table(&b))
}

/// `refresh`: exit 0 (pass) or 3 (drift).
pub fn refresh(a: RefreshArgs) -> anyhow::Result<u8> {
    use mixcast::refresh::{self as rf, Status};
    let spec = mixcast::ValidSpec::load(&a.spec).map_err(Error::from)?;
    let previous = load(&a.previous)?;
    let mut t = spec.spec().refresh.unwrap_or_default();
    t.warm_start |= a.warm_start;
    t.freedom = a.freedom.unwrap_or(t.freedom);
    t.roi_change = a.roi_change.unwrap_or(t.roi_change);
    t.effect_change = a.effect_change.unwrap_or(t.effect_change);
    t.effect_z = a.effect_z.unwrap_or(t.effect_z);
    t.forecast_mape_ratio = a.forecast_mape_ratio.unwrap_or(t.forecast_mape_ratio);
    t.allocation_shift = a.allocation_shift.or(t.allocation_shift);
    t.horizon = a.horizon.unwrap_or(t.horizon);
    t.check().map_err(|(k, m)| {
        UsageError(format!(
            "--{}: {m}",
            k.trim_start_matches("refresh.").replace('_', "-")
        ))
    })?;
    let name = a.name.clone().unwrap_or_else(|| spec.spec().name.clone());
    if a.registry.is_some() {
        registry::check_name(&name).map_err(Error::from)?;
    }
    let progress = Progress::new(a.quiet);
    let r = rf::refresh(&spec, &previous, &a.fit.options(), &t, &progress)?;
    write_outputs(
        &r.model,
        &a.out,
        &[("drift.json", registry::pretty(&r.drift))],
    )?;
    let mut promoted = false;
    if let Some(reg) = &a.registry {
        let v = registry::add(
            reg,
            &name,
            &r.model,
            registry::Source::Refresh,
            Some(&r.drift),
        )
        .map_err(Error::from)?;
        if r.drift.status == Status::Pass {
            registry::promote(reg, &name, &v.model_id).map_err(Error::from)?;
            promoted = true;
        }
    }
    log_result(serde_json::json!({
        "command": "refresh",
        "status": r.drift.status,
        "flagged_channels": r.drift.flagged_channels,
        "checks": r.drift.reasons.iter().map(|x| x.check).collect::<Vec<_>>(),
        "model_id": r.model.model_id,
        "out": a.out.display().to_string(),
        "promoted": promoted,
    }));
    if a.json {
        print_json(&r.drift)?;
    } else {
        print(&report::drift_table(&r.drift))?;
    }
    if r.drift.status == Status::Drift {
        if !a.quiet && !super::progress::json_logs() {
            let named = if r.drift.flagged_channels.is_empty() {
                String::new()
            } else {
                format!(" in {}", r.drift.flagged_channels.join(", "))
            };
            eprintln!(
                "drift{named}: the new model was written to {} but not promoted",
                a.out.display()
            );
        }
        return Ok(3);
    }
    Ok(0)
}

pub fn models(c: ModelsCmd) -> anyhow::Result<()> {
    match c {
        ModelsCmd::List(r) => {
            let l = registry::list(&r.registry).map_err(Error::from)?;
            if r.json {
                return print_json(&l);
            }
            let mut o = String::new();
            for m in &l.models {
                o.push_str(&format!("{}\n", m.name));
                for v in &m.versions {
                    o.push_str(&format!(
                        "  {} {}  {}  fit {} .. {}  {:?}{}\n",
                        if v.promoted { "*" } else { " " },
                        v.model_id,
                        v.created,
                        v.fit_window[0],
                        v.fit_window[1],
                        v.source,
                        v.gate.map(|g| format!(", gate {g:?}")).unwrap_or_default()
                    ));
                }
            }
            if l.models.is_empty() {
                o.push_str("no models\n");
            }
            print(&o)
        }
        ModelsCmd::Show(a) => {
            let v = registry::show(&a.registry.registry, &a.name, a.id.as_deref())
                .map_err(Error::from)?;
            if a.registry.json {
                return print_json(&v);
            }
            let path = a
                .registry
                .registry
                .join(&a.name)
                .join("versions")
                .join(&v.model_id);
            let m = load(&path.join("model.json"))?;
            print(&format!(
                "{} {}{} — added {}, {:?}{}\n",
                v.name,
                v.model_id,
                if v.promoted { " (promoted)" } else { "" },
                v.created,
                v.source,
                v.gate.map(|g| format!(", gate {g:?}")).unwrap_or_default()
            ))?;
            print(&report::summary_table(&analysis::summarize(&m)))
        }
        ModelsCmd::Add(a) => {
            let path = if a.model.is_dir() {
                a.model.join("model.json")
            } else {
                a.model.clone()
            };
            let m = load(&path)?;
            let name = a.name.unwrap_or_else(|| m.spec.name.clone());
            let reg = &a.registry.registry;
            let mut v =
                registry::add(reg, &name, &m, registry::Source::Fit, None).map_err(Error::from)?;
            if a.promote {
                v = registry::promote(reg, &name, &v.model_id).map_err(Error::from)?;
            }
            if a.registry.json {
                return print_json(&v);
            }
            print(&format!(
                "added {} {}{}\n",
                name,
                v.model_id,
                if v.promoted { " (promoted)" } else { "" }
            ))
        }
        ModelsCmd::Promote(a) => {
            let v = registry::promote(&a.registry.registry, &a.name, &a.id).map_err(Error::from)?;
            log_result(
                serde_json::json!({"command": "promote", "name": a.name, "model_id": v.model_id}),
            );
            if a.registry.json {
                return print_json(&v);
            }
            print(&format!("promoted {} {}\n", a.name, v.model_id))
        }
    }
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

/// A `combine --json` document, when a flag names one.
fn optional_combination(
    path: Option<&Path>,
) -> Result<Option<mixcast::combine::Combination>, Error> {
    Ok(path.map(mixcast::combine::load_combination).transpose()?)
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
    let combination = optional_combination(a.combine.as_deref())?;
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
    // With --exclude-suspicious, attribute a copy of the events without flagged touches.
    let cleaned = match (&a.events, &a.conversions, a.exclude_suspicious) {
        (Some(e), Some(c), true) => {
            let opts = JourneyOptions {
                lookback_days: a.lookback_days,
                half_life_days: settings.half_life,
                read,
            };
            let fr = at::fraud::detect(e, c, opts, false).map_err(Error::from)?;
            let tmp = tempfile_path(e);
            let dropped = at::fraud::write_clean_events(e, &fr, &tmp).map_err(Error::from)?;
            let names: Vec<String> = fr
                .flags
                .iter()
                .map(|f| match &f.campaign {
                    Some(c) => format!("{}/{c}", f.channel),
                    None => f.channel.clone(),
                })
                .collect();
            eprintln!(
                "excluding {dropped} touches of suspicious units: {}",
                if names.is_empty() {
                    "none".into()
                } else {
                    names.join(", ")
                }
            );
            Some(TempFile(tmp))
        }
        _ => None,
    };
    let events = cleaned.as_ref().map(|t| &t.0).or(a.events.as_ref());
    let table = match (events, &a.conversions, &a.paths) {
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
    if a.fraud {
        at::simulate::inject_fraud(&a.out, &at::simulate::FraudConfig::standard(a.seed))
            .map_err(write_err(&a.out))?;
    }
    eprintln!(
        "wrote {}/events.csv, conversions.csv, paths.csv, truth.json{}",
        a.out.display(),
        if a.fraud { ", fraud_truth.json" } else { "" }
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
    if a.refresh {
        use mixcast::refresh::study::{run_refresh_study, RefreshStudyConfig};
        let cfg = RefreshStudyConfig {
            configs: a.seeds as usize,
            noise: a.noise,
            new_weeks: a.new_weeks,
            factor: a.factor,
            draws,
            thresholds: mixcast::refresh::RefreshSpec {
                freedom: a
                    .freedom
                    .unwrap_or(mixcast::refresh::RefreshSpec::default().freedom),
                ..Default::default()
            },
            pick: if a.random_channel {
                mixcast::refresh::study::Pick::Random
            } else {
                mixcast::refresh::study::Pick::Largest
            },
            ..Default::default()
        };
        return print_json(&run_refresh_study(&cfg)?);
    }
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

/// A scratch file removed on drop.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A scratch path beside `near` (same file system, so large files need no extra space
/// elsewhere).
fn tempfile_path(near: &Path) -> PathBuf {
    let dir = near
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    dir.join(format!(".mixcast-clean-{}.csv", std::process::id()))
}

pub fn fraud(a: FraudArgs) -> anyhow::Result<()> {
    let opts = JourneyOptions {
        lookback_days: a.lookback_days,
        read: ReadOptions {
            skip_bad_rows: a.skip_bad_rows,
        },
        ..Default::default()
    };
    let r = at::fraud::detect(&a.events, &a.conversions, opts, a.all).map_err(Error::from)?;
    if let Some(out) = &a.clean_events {
        let n = at::fraud::write_clean_events(&a.events, &r, out).map_err(Error::from)?;
        eprintln!("wrote {} without {n} flagged touches", out.display());
    }
    log_result(serde_json::json!({
        "command": "fraud",
        "flagged": r.flags.iter().map(|f| (&f.channel, &f.campaign)).collect::<Vec<_>>(),
    }));
    if a.json {
        return print_json(&r);
    }
    print(&report::fraud_table(&r))
}

pub fn credit(a: CreditArgs) -> anyhow::Result<()> {
    use mixcast::credit::{self as cr, Metric};
    let report = mixcast::combine::load_attribution(&a.attribution).map_err(Error::from)?;
    let teams = cr::Teams::read(&a.teams).map_err(Error::from)?;
    let targets = match &a.targets {
        Some(p) => cr::read_targets(p).map_err(Error::from)?,
        None => Default::default(),
    };
    let combination = optional_combination(a.combine.as_deref())?;
    let metric = match a.metric {
        MetricArg::Conversions => Metric::Conversions,
        MetricArg::Value => Metric::Value,
    };
    let r = cr::team_credit(
        &report,
        a.model.as_deref(),
        metric,
        &teams,
        &targets,
        combination.as_ref(),
    )
    .map_err(Error::from)?;
    if a.json {
        return print_json(&r);
    }
    print(&report::credit_table(&r))
}

pub fn journeys(a: JourneysArgs) -> anyhow::Result<()> {
    let opts = JourneyOptions {
        read: ReadOptions {
            skip_bad_rows: a.skip_bad_rows,
        },
        ..Default::default()
    };
    let r = at::journeys::analyse(&a.events, &a.conversions, a.by.as_deref(), opts)
        .map_err(Error::from)?;
    if a.json {
        return print_json(&r);
    }
    print(&report::journeys_table(&r))
}

pub fn audiences(a: AudiencesArgs) -> anyhow::Result<()> {
    let req = at::audiences::AudienceRequest {
        touched: a.touched,
        stages: a.stage,
        top_share: a.top_share,
        target: a.target,
        seed: a.seed,
    };
    let built = at::audiences::build(&a.events, &a.conversions, JourneyOptions::default(), &req)
        .map_err(Error::from)?;
    let mut files: Vec<(String, Vec<u8>)> = built
        .report
        .audiences
        .iter()
        .zip(&built.members)
        .map(|(au, ids)| {
            let mut csv = String::from("journey_id\n");
            for id in ids {
                csv.push_str(id);
                csv.push('\n');
            }
            (format!("{}.csv", au.name), csv.into_bytes())
        })
        .collect();
    files.push(("audiences.json".into(), registry::pretty(&built.report)));
    let set: Vec<(&str, Vec<u8>)> = files.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    write_set(&a.out, &set).map_err(write_err(&a.out))?;
    if a.json {
        return print_json(&built.report);
    }
    print(&report::audiences_table(&built.report))
}
