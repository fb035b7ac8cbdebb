//! Scenario forecasts: appending the last 13 actual weeks as a plan to a model that never
//! saw them reproduces the model's own prediction for those weeks (carryover included),
//! and the CLI reads plans and rejects bad ones with exit 2.

mod common;

use std::process::Command;

use mixcast::scenario::{forecast, FutureControls, Horizon, Plan};
use mixcast::{fit, load_dataset, simulate, FitOptions, SimConfig, ValidSpec};

/// Simulate (3% noise), edit the spec text, fit with a 13-week holdout.
fn fit_sim(
    seed: u64,
    draws: usize,
    edit: impl Fn(String) -> String,
) -> (mixcast::Model, mixcast::Dataset) {
    let sim = simulate(&SimConfig {
        noise: 0.03,
        seed,
        ..Default::default()
    });
    let dir = tempfile::tempdir().unwrap();
    sim.write(dir.path()).unwrap();
    let path = dir.path().join("spec.toml");
    std::fs::write(&path, edit(std::fs::read_to_string(&path).unwrap())).unwrap();
    let spec = ValidSpec::load(&path).unwrap();
    let ds = load_dataset(&spec).unwrap();
    let opts = FitOptions {
        holdout: 13,
        seed: 1,
        draws: Some(draws),
        ..Default::default()
    };
    (fit(&spec, ds.clone(), &opts).unwrap(), ds)
}

/// The model as if its data ended `h` periods earlier (single geo).
fn without_last(model: &mixcast::Model, h: usize) -> mixcast::Model {
    let n = model.dataset.n_periods();
    let trunc = |p: &mixcast::Panel| mixcast::Panel {
        n_geos: 1,
        n_periods: n - h,
        values: p.values[..n - h].to_vec(),
    };
    let mut cut = model.clone();
    cut.dataset.dates.truncate(n - h);
    cut.dataset.kpi = trunc(&cut.dataset.kpi);
    for ch in cut.dataset.channels.iter_mut() {
        ch.input = trunc(&ch.input);
        ch.spend = ch.spend.as_ref().map(trunc);
    }
    for (_, c) in cut.dataset.controls.iter_mut() {
        match c {
            mixcast::data::ControlData::Numeric { values } => *values = trunc(values),
            mixcast::data::ControlData::Categorical { codes, .. } => codes.truncate(n - h),
        }
    }
    cut
}

#[test]
fn plan_of_actual_spend_reproduces_prediction() {
    // No controls: future controls are held at recent values, which would differ from
    // the actual ones.
    let (model, ds) = fit_sim(2, 20, |text| {
        text.split("[[controls]]").next().unwrap().to_string()
            + "[seasonality]\ntrend = \"linear\"\n"
    });
    let full = model.predict(&model.point, &model.dataset);
    let n = ds.n_periods();
    let cut = without_last(&model, 13);
    let plan = Plan {
        spend: ds
            .channels
            .iter()
            .map(|c| c.spend.as_ref().unwrap().values[n - 13..].to_vec())
            .collect(),
    };
    let f = forecast(&cut, &plan);
    assert_eq!(f.kpi.len(), 13);
    assert_eq!(f.dates[0], ds.dates[n - 13].to_string());
    for (t, v) in f.kpi.iter().enumerate() {
        assert!(
            (v - full.values[n - 13 + t]).abs() < 1e-6 * v.abs(),
            "period {t}: {v} vs {}",
            full.values[n - 13 + t]
        );
        let [lo, hi] = f.kpi_interval[t];
        assert!(lo <= *v && *v <= hi);
    }
    for c in &f.channels {
        let roi = c.roi.unwrap();
        assert!(
            roi.is_finite() && roi >= 0.0 && c.mroi.unwrap() >= 0.0,
            "{c:?}"
        );
    }
}

#[test]
fn cli_scenario_reads_plans_and_rejects_bad_ones() {
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_mixcast");
    let ok = Command::new(bin)
        .args(["simulate", "--weeks", "80", "--channels", "2", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(ok.status.success());
    let fit = Command::new(bin)
        .arg("fit")
        .arg(dir.path().join("spec.toml"))
        .arg("--out")
        .arg(dir.path().join("fit"))
        .args(["--draws", "10", "-q"])
        .output()
        .unwrap();
    common::ok(&fit);
    let model = dir.path().join("fit/model.json");
    std::fs::write(
        dir.path().join("plan.csv"),
        "period,tv,search\n1,1000,500\n2,1000,500\n3,0,500\n",
    )
    .unwrap();
    let out = Command::new(bin)
        .arg("scenario")
        .arg(&model)
        .arg("--plan")
        .arg(dir.path().join("plan.csv"))
        .arg("--json")
        .output()
        .unwrap();
    let v = common::ok_json(&out);
    assert_eq!(v["kpi"].as_array().unwrap().len(), 3);
    std::fs::write(dir.path().join("bad.csv"), "period,tv,radio\n1,1000,5\n").unwrap();
    let out = Command::new(bin)
        .arg("scenario")
        .arg(&model)
        .arg("--plan")
        .arg(dir.path().join("bad.csv"))
        .output()
        .unwrap();
    common::user_error(&out, &["`radio`"]);
    std::fs::write(dir.path().join("neg.csv"), "period,tv\n1,-4\n").unwrap();
    let out = Command::new(bin)
        .arg("scenario")
        .arg(&model)
        .arg("--plan")
        .arg(dir.path().join("neg.csv"))
        .output()
        .unwrap();
    common::user_error(&out, &["row 2"]);
}

#[test]
fn future_controls_reproduce_prediction() {
    // With controls in the model, giving their actual future values reproduces the
    // model's own prediction for the held-out weeks.
    let (model, ds) = fit_sim(5, 5, |text| text);
    let dir = tempfile::tempdir().unwrap();
    let full = model.predict(&model.point, &model.dataset);
    let n = ds.n_periods();
    let h = 13;
    let cut = without_last(&model, h);
    let mut csv = String::from("period");
    for (name, _) in &ds.controls {
        csv.push(',');
        csv.push_str(name);
    }
    csv.push('\n');
    for t in n - h..n {
        csv.push_str(&ds.dates[t].to_string());
        for (_, c) in &ds.controls {
            if let mixcast::data::ControlData::Numeric { values } = c {
                csv.push_str(&format!(",{}", values.values[t]));
            }
        }
        csv.push('\n');
    }
    let path = dir.path().join("controls.csv");
    std::fs::write(&path, csv).unwrap();
    let future = FutureControls::read(&path, &cut).unwrap();
    let plan = Plan {
        spend: ds
            .channels
            .iter()
            .map(|c| c.spend.as_ref().unwrap().values[n - h..].to_vec())
            .collect(),
    };
    let f = Horizon::with_controls(&cut, h, 0, Some(&future)).forecast(&plan);
    for (t, v) in f.kpi.iter().enumerate() {
        let want = full.values[n - h + t];
        assert!(
            (v - want).abs() < 1e-6 * want.abs(),
            "period {t}: {v} vs {want}"
        );
    }
    // Held at the last value instead, the forecast differs (price and promo move).
    let held = Horizon::new(&cut, h, 0).forecast(&plan);
    assert!(held
        .kpi
        .iter()
        .zip(&f.kpi)
        .any(|(a, b)| (a - b).abs() > 1e-3 * b.abs()));
    // A level or column the model does not know is an error naming it.
    std::fs::write(&path, "period,weather\n1,3\n").unwrap();
    let err = FutureControls::read(&path, &cut).unwrap_err().to_string();
    assert!(err.contains("`weather`"), "{err}");
    std::fs::write(&path, "period,price\n1,abc\n").unwrap();
    let err = FutureControls::read(&path, &cut).unwrap_err().to_string();
    assert!(err.contains("row 2") && err.contains("`price`"), "{err}");
}

/// Plans whose spend differs negligibly get no incremental ROI (a ratio of two tiny
/// numbers); a real difference gets Δ KPI / Δ spend. Organic channels are flagged.
#[test]
fn incremental_roi_needs_a_real_spend_difference() {
    let (m, _) = fit_sim(3, 20, |s| s);
    let totals: Vec<f64> = m.channels.iter().map(|_| 100_000.0).collect();
    let base = Plan::from_totals(&m, &totals, 13, Default::default());
    let mut tiny = base.clone();
    tiny.spend[0][0] += 0.06;
    let mut real = base.clone();
    real.spend[0][0] += 50_000.0;
    let hz = Horizon::new(&m, 13, 0);
    let c = hz.compare(
        ("base", &base),
        &[("tiny".to_string(), tiny), ("real".to_string(), real)],
    );
    assert!(c.plans[0].incremental_roi.is_none(), "{:?}", c.plans[0]);
    let r = &c.plans[1];
    let roi = r.incremental_roi.expect("a real difference has a ratio");
    assert!((roi - r.delta_kpi / r.delta_spend).abs() < 1e-12);
    assert!(hz.forecast(&base).channels.iter().all(|c| c.paid));
}
