//! Refresh jobs: backtest, the drift gate (pass on the same truth, exit 3 naming a
//! channel whose effect doubled), registry errors, and hostile inputs.

mod common;

use common::{mixcast, ok_json, previous_quarter, user_error, valid};
use mixcast::refresh::study::{run_refresh_study, Pick, RefreshStudyConfig};
use mixcast::refresh::Status;

/// The backtest forecasts the new weeks exactly as the model's parameters predict the
/// full file (carryover, trend and seasonality continue), and scores them.
#[test]
fn backtest_continues_the_model_on_new_weeks() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    previous_quarter(d);
    let model = mixcast::Model::load(&d.join("prev/model.json")).unwrap();
    let data = d.join("sim/data.csv");
    let b = mixcast::backtest::backtest(&model, &data, &data).unwrap();
    assert_eq!((b.periods, b.new_periods, b.restated_periods), (26, 26, 0));
    assert_eq!(b.first, "2024-01-01");
    // The same parameters on the whole file, loaded as a user would.
    let spec = mixcast::ValidSpec::load(&d.join("sim/spec.toml")).unwrap();
    let full = mixcast::load_dataset(&spec).unwrap();
    let fitted = model.predict(&model.point, &full);
    for (i, p) in b.series.iter().enumerate() {
        let t = 156 + i;
        assert_eq!(p.date, full.dates[t].to_string());
        assert!((p.forecast - fitted.at(0, t)).abs() < 1e-6 * fitted.at(0, t).abs());
        assert!((p.actual - full.kpi.at(0, t)).abs() < 1e-9);
        assert!(p.forecast_interval[0] < p.forecast && p.forecast < p.forecast_interval[1]);
    }
    // Same truth, 5% noise: accurate, and the 90% predictive interval covers most weeks.
    assert!(b.mape < 0.08, "MAPE {}", b.mape);
    assert!(b.coverage >= 0.7, "coverage {}", b.coverage);

    let doc = ok_json(&mixcast(&[
        "backtest",
        d.join("prev/model.json").to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--json",
    ]));
    valid("backtest", &doc);
    assert_eq!(doc["periods"], 26);
}

/// Hostile and mismatched backtest inputs exit 2 naming the file or column.
#[test]
fn backtest_rejects_data_that_does_not_line_up() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    previous_quarter(d);
    let model = d.join("prev/model.json");
    let model = model.to_str().unwrap();
    let text = std::fs::read_to_string(d.join("sim/data.csv")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let write = |name: &str, rows: Vec<&str>| {
        let p = d.join(name);
        std::fs::write(&p, rows.join("\n") + "\n").unwrap();
        p.to_str().unwrap().to_string()
    };
    // Only the weeks the model already has.
    let old = write("old.csv", lines[..157].to_vec());
    user_error(
        &mixcast(&["backtest", model, "--data", &old]),
        &["old.csv", "no periods after"],
    );
    // New weeks that start after a gap.
    let mut gap = lines[..1].to_vec();
    gap.extend_from_slice(&lines[160..]);
    let gap = write("gap.csv", gap);
    user_error(
        &mixcast(&["backtest", model, "--data", &gap]),
        &["gap.csv", "no gap"],
    );
    // A column the model needs is gone.
    let renamed = text.replacen("tv_spend", "tv_cost", 1);
    let p = d.join("renamed.csv");
    std::fs::write(&p, renamed).unwrap();
    user_error(
        &mixcast(&["backtest", model, "--data", p.to_str().unwrap()]),
        &["renamed.csv", "tv_spend"],
    );
    // A missing file, and an edited model.
    user_error(
        &mixcast(&["backtest", model, "--data", "/nonexistent/x.csv"]),
        &["/nonexistent/x.csv"],
    );
    let bad = d.join("bad.json");
    std::fs::write(&bad, "{\"schema_version\": 1}").unwrap();
    user_error(
        &mixcast(&["backtest", bad.to_str().unwrap(), "--data", &old]),
        &["bad.json"],
    );
}

/// Refresh on 26 more weeks of the same truth passes (exit 0); the document validates.
/// Bad thresholds and a bad registry name are usage errors that write nothing.
#[test]
fn refresh_passes_on_the_same_truth_and_checks_its_settings() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    previous_quarter(d);
    let p = |s: &str| d.join(s).to_str().unwrap().to_string();
    let out = mixcast(&[
        "refresh",
        &p("sim/spec.toml"),
        "--previous",
        &p("prev/model.json"),
        "--out",
        &p("new"),
        "--draws",
        "30",
        "--json",
        "-q",
    ]);
    let doc = ok_json(&out);
    valid("drift", &doc);
    assert_eq!(doc["status"], "pass", "{doc}");
    for f in [
        "model.json",
        "summary.json",
        "decomposition.csv",
        "curves.json",
        "drift.json",
    ] {
        assert!(d.join("new").join(f).is_file(), "{f}");
    }
    // Every channel of both models, with ROI then and now.
    assert_eq!(doc["channels"].as_array().unwrap().len(), 5);
    assert!(doc["channels"][0]["previous"]["roi"].is_number());
    assert!(doc["decomposition"]["stability"].as_f64().unwrap() > 0.8);

    // Restated history: every revenue cell of the shared weeks scaled by 1.2.
    let text = std::fs::read_to_string(d.join("sim/data.csv")).unwrap();
    let restated: Vec<String> = text
        .lines()
        .enumerate()
        .map(|(i, l)| {
            let mut f: Vec<String> = l.split(',').map(str::to_string).collect();
            if i > 0 && i <= 156 {
                f[1] = format!("{:.2}", f[1].parse::<f64>().unwrap() * 1.2);
            }
            f.join(",")
        })
        .collect();
    std::fs::write(d.join("sim/restated.csv"), restated.join("\n") + "\n").unwrap();
    let out = mixcast(&[
        "refresh",
        &p("sim/spec.toml"),
        "--previous",
        &p("prev/model.json"),
        "--out",
        &p("restated"),
        "--data",
        &p("sim/restated.csv"),
        "--draws",
        "30",
        "--json",
        "-q",
    ]);
    assert_eq!(out.status.code(), Some(3));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["status"], "drift");
    assert!(doc["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["check"] == "data"));

    let bad = mixcast(&[
        "refresh",
        &p("sim/spec.toml"),
        "--previous",
        &p("prev/model.json"),
        "--out",
        &p("bad"),
        "--roi-change=-1",
    ]);
    user_error(&bad, &["--roi-change"]);
    assert!(!d.join("bad").exists());
    let bad = mixcast(&[
        "refresh",
        &p("sim/spec.toml"),
        "--previous",
        &p("prev/model.json"),
        "--out",
        &p("bad"),
        "--registry",
        &p("reg"),
        "--name",
        "../escape",
    ]);
    user_error(&bad, &["../escape"]);
    let spec = std::fs::read_to_string(d.join("sim/spec.toml")).unwrap();
    std::fs::write(
        d.join("sim/strict.toml"),
        spec + "\n[refresh]\neffect_z = 0\n",
    )
    .unwrap();
    let bad = mixcast(&[
        "refresh",
        &p("sim/strict.toml"),
        "--previous",
        &p("prev/model.json"),
        "--out",
        &p("bad"),
    ]);
    user_error(&bad, &["refresh.effect_z"]);
    let out = mixcast(&[
        "models",
        "promote",
        "brand",
        "abc",
        "--registry",
        &p("nope"),
    ]);
    user_error(&out, &["nope"]);
    // A registry path that is a file, and a version file that is not JSON.
    let out = mixcast(&["models", "list", "--registry", &p("sim/data.csv")]);
    user_error(&out, &["data.csv"]);
    std::fs::create_dir_all(d.join("reg/brand/versions/abc")).unwrap();
    std::fs::write(d.join("reg/brand/versions/abc/version.json"), "{bad").unwrap();
    let out = mixcast(&["models", "list", "--registry", &p("reg")]);
    user_error(&out, &["version.json"]);
}

/// The gate on the simulator, one broad configuration whose largest channel doubles
/// in the new weeks: the same-truth refresh passes, the changed one flags that channel
/// and no other, cold and warm-started.
#[test]
fn refresh_flags_the_channel_whose_effect_doubled() {
    let cfg = RefreshStudyConfig {
        configs: 1,
        seed: 3,
        draws: 60,
        pick: Pick::Largest,
        ..Default::default()
    };
    let r = run_refresh_study(&cfg).unwrap();
    let c = &r.cases[0];
    for o in [&c.same, &c.same_warm] {
        assert_eq!(o.status, Status::Pass, "{:?}", o.flagged);
    }
    for o in [&c.changed_run, &c.changed_warm] {
        assert_eq!(o.status, Status::Drift);
        assert_eq!(o.flagged, vec![c.changed.clone()], "{:?}", o.checks);
    }
}
