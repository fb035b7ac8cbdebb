//! End-to-end tests of the binary: bad input exits 2 with a message naming the culprit;
//! fit writes the contract files; a saved model reloads and predicts identically.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mixcast"))
}

const SPEC: &str = r#"name = "t"

[data]
path = "data.csv"
kpi = "revenue"

[[channels]]
name = "tv"
spend = "tv_spend"

[[channels]]
name = "search"
spend = "search_spend"
"#;

fn csv_rows(n: usize) -> String {
    let mut s = String::from("date,revenue,tv_spend,search_spend\n");
    let start = chrono::NaiveDate::from_ymd_opt(2022, 1, 3).unwrap();
    for i in 0..n {
        let d = start + chrono::Duration::weeks(i as i64);
        let tv = if i % 5 < 2 {
            1000.0 + 37.0 * (i % 7) as f64
        } else {
            0.0
        };
        let se = 500.0 + 20.0 * ((i * 7) % 11) as f64;
        let y = 10000.0 + 0.8 * tv + 1.5 * se + 100.0 * ((i as f64) / 8.0).sin();
        s.push_str(&format!("{d},{y:.2},{tv:.2},{se:.2}\n"));
    }
    s
}

fn setup(spec: &str, data: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("spec.toml"), spec).unwrap();
    std::fs::write(dir.path().join("data.csv"), data).unwrap();
    let p = dir.path().join("spec.toml");
    (dir, p)
}

fn fit_fails(spec: &str, data: &str, expect: &[&str]) {
    let (dir, p) = setup(spec, data);
    let out = bin()
        .args(["fit", p.to_str().unwrap(), "--out"])
        .arg(dir.path().join("out"))
        .args(["--draws", "0", "-q"])
        .output()
        .unwrap();
    common::user_error(&out, expect);
    assert!(!dir.path().join("out/model.json").exists());
}

fn replace_line(data: &str, line: usize, new: &str) -> String {
    data.lines()
        .enumerate()
        .map(|(i, l)| {
            if i + 1 == line {
                new.to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// Replace data line `line` of a good file with `row`; the fit must fail naming `expect`.
fn bad_row(line: usize, row: &str, expect: &[&str]) {
    fit_fails(SPEC, &replace_line(&csv_rows(60), line, row), expect);
}

#[test]
fn missing_data_file() {
    let (dir, p) = setup(SPEC, "");
    std::fs::remove_file(dir.path().join("data.csv")).unwrap();
    let out = bin()
        .args(["fit", p.to_str().unwrap(), "--out", "/tmp/none", "-q"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(err.contains("data.csv"), "{err}");
}

#[test]
fn missing_spec_file() {
    let out = bin()
        .args(["fit", "/nonexistent/spec.toml", "--out", "/tmp/none"])
        .output()
        .unwrap();
    common::user_error(&out, &["/nonexistent/spec.toml"]);
}

#[test]
fn missing_column() {
    let spec = SPEC.replace("search_spend", "serch_spend");
    fit_fails(
        &spec,
        &csv_rows(60),
        &["data.csv", "serch_spend", "channels[1].spend"],
    );
}

#[test]
fn non_numeric_cell() {
    let d = csv_rows(60);
    let bad = replace_line(&d, 6, "2022-02-07,abc,1000,500");
    fit_fails(
        SPEC,
        &bad,
        &["data.csv", "row 6", "`revenue`", "not a number"],
    );
}

#[test]
fn negative_spend() {
    bad_row(
        9,
        "2022-02-28,10000,-5,500",
        &["row 9", "`tv_spend`", "negative"],
    );
}

#[test]
fn nan_cell() {
    bad_row(
        12,
        "2022-03-21,10000,0,NaN",
        &["row 12", "`search_spend`", "NaN"],
    );
}

#[test]
fn empty_cell() {
    bad_row(4, "2022-01-17,,0,500", &["row 4", "`revenue`", "empty"]);
}

#[test]
fn empty_file() {
    fit_fails(SPEC, "", &["data.csv", "empty"]);
    fit_fails(
        SPEC,
        "date,revenue,tv_spend,search_spend\n",
        &["data.csv", "no data rows"],
    );
}

#[test]
fn duplicate_dates() {
    bad_row(
        5,
        "2022-01-17,10000,0,500",
        &["row 5", "duplicate date 2022-01-17", "row 4"],
    );
}

#[test]
fn date_gap() {
    let d = csv_rows(60);
    let bad: String = d
        .lines()
        .enumerate()
        .filter(|(i, _)| *i != 10)
        .map(|(_, l)| format!("{l}\n"))
        .collect();
    fit_fails(SPEC, &bad, &["row 11", "not evenly spaced", "14 days"]);
}

#[test]
fn bad_date() {
    bad_row(
        3,
        "01/10/2022,10000,0,500",
        &["row 3", "`date`", "ISO date"],
    );
}

#[test]
fn ragged_row() {
    bad_row(7, "2022-02-14,10000,0", &["row 7", "malformed CSV"]);
}

#[test]
fn unknown_spec_key() {
    let spec = SPEC.replace(
        "kpi = \"revenue\"",
        "kpi = \"revenue\"\nkpi_knd = \"revenue\"",
    );
    fit_fails(&spec, &csv_rows(60), &["spec.toml", "kpi_knd"]);
}

#[test]
fn bad_spec_value() {
    let spec = SPEC.replace(
        "spend = \"tv_spend\"",
        "spend = \"tv_spend\"\nadstock = \"exponential\"",
    );
    fit_fails(&spec, &csv_rows(60), &["spec.toml", "exponential"]);
    let spec = SPEC.replace(
        "spend = \"tv_spend\"",
        "spend = \"tv_spend\"\ndecay = [0.5, 1.2]",
    );
    fit_fails(&spec, &csv_rows(60), &["spec.toml", "channels[0].decay"]);
}

#[test]
fn too_much_holdout() {
    let (dir, p) = setup(SPEC, &csv_rows(30));
    let out = bin()
        .args(["fit", p.to_str().unwrap(), "--holdout-weeks", "40", "--out"])
        .arg(dir.path().join("o"))
        .output()
        .unwrap();
    common::user_error(&out, &["holdout"]);
}

#[test]
fn bad_model_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("model.json");
    std::fs::write(&p, "{\"not\": \"a model\"}").unwrap();
    let out = bin().args(["decompose"]).arg(&p).output().unwrap();
    common::user_error(&out, &["model.json"]);
}

fn simulate(dir: &Path, seed: &str) {
    let out = bin()
        .args(["simulate", "--out"])
        .arg(dir)
        .args([
            "--seed",
            seed,
            "--weeks",
            "104",
            "--channels",
            "3",
            "--noise",
            "0.03",
        ])
        .output()
        .unwrap();
    common::ok(&out);
}

#[test]
fn fit_writes_contract_and_model_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    simulate(dir.path(), "3");
    let out_dir = dir.path().join("fit");
    let out = bin()
        .arg("fit")
        .arg(dir.path().join("spec.toml"))
        .arg("--out")
        .arg(&out_dir)
        .args([
            "--holdout-weeks",
            "13",
            "--seed",
            "4",
            "--draws",
            "30",
            "--json",
            "-q",
        ])
        .output()
        .unwrap();
    let printed = common::ok_json(&out);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(printed, summary);
    assert_eq!(summary["kpi"], "revenue");
    assert_eq!(summary["fit_periods"], 104 - 13);
    assert_eq!(summary["holdout"]["periods"], 13);
    for key in ["r2", "mape", "nrmse"] {
        assert!(summary["fit"][key].is_f64(), "fit.{key}");
    }
    let share = summary["media_share"].as_f64().unwrap();
    assert!(share > 0.0 && share < 1.0);
    for c in summary["channels"].as_array().unwrap() {
        let roi = c["roi"].as_f64().unwrap();
        let iv = c["roi_interval"].as_array().unwrap();
        let (lo, hi) = (iv[0].as_f64().unwrap(), iv[1].as_f64().unwrap());
        assert!(lo <= roi + 1e-9 && roi <= hi + 1e-9, "{c}");
        let spend = c["spend"].as_f64().unwrap();
        let contrib = c["contribution"].as_f64().unwrap();
        assert!((contrib / spend - roi).abs() < 1e-9);
        assert!(c["mroi"].is_f64());
    }

    // The saved model reloads and predicts exactly what the fit reported.
    let model = mixcast::Model::load(&out_dir.join("model.json")).unwrap();
    let again = mixcast::summarize(&model);
    assert_eq!(serde_json::to_value(&again).unwrap(), summary);

    // Decomposition: components sum to fitted; CSV and JSON agree in size.
    let out = bin()
        .arg("decompose")
        .arg(out_dir.join("model.json"))
        .arg("--json")
        .output()
        .unwrap();
    assert!(out.status.success());
    let d: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = d["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 104);
    for r in rows {
        let sum: f64 = r["components"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_f64().unwrap())
            .sum();
        assert!((sum - r["fitted"].as_f64().unwrap()).abs() < 1e-6 * sum.abs().max(1.0));
    }
    let csv = bin()
        .arg("decompose")
        .arg(out_dir.join("model.json"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&csv.stdout).lines().count(), 105);
}

#[test]
fn same_seed_same_answer() {
    let dir = tempfile::tempdir().unwrap();
    simulate(dir.path(), "5");
    let run = |sub: &str| {
        let o = dir.path().join(sub);
        let out = bin()
            .arg("fit")
            .arg(dir.path().join("spec.toml"))
            .arg("--out")
            .arg(&o)
            .args(["--seed", "9", "--draws", "20", "-q", "--json"])
            .output()
            .unwrap();
        assert!(out.status.success());
        out.stdout
    };
    assert_eq!(run("a"), run("b"));
}

/// A conversion KPI under `media_share_prior = 0` (no ROI prior): every paid channel
/// keeps a CPA interval (never labelled organic), the CPA interval is spend over the
/// contribution interval reversed (unbounded exactly when that interval reaches 0), and
/// the marginal CPA is 1 / mROI.
#[test]
fn conversion_kpi_reports_consistent_cpa_and_never_calls_paid_organic() {
    let dir = tempfile::tempdir().unwrap();
    simulate(dir.path(), "4");
    let spec_path = dir.path().join("spec.toml");
    let spec = std::fs::read_to_string(&spec_path)
        .unwrap()
        .replace("kpi_kind = \"revenue\"", "kpi_kind = \"conversions\"")
        + "\n[fit]\nmedia_share_prior = 0\n";
    std::fs::write(&spec_path, spec).unwrap();
    let out = dir.path().join("fit");
    let run = bin()
        .args(["fit", spec_path.to_str().unwrap(), "--out"])
        .arg(&out)
        .args(["--draws", "60"])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let table = String::from_utf8_lossy(&run.stdout);
    assert!(table.contains("CPA") && table.contains("mCPA"), "{table}");
    assert!(!table.contains("(organic)"), "{table}");
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    for c in s["channels"].as_array().unwrap() {
        assert!(c.get("prior").is_none(), "no ROI prior was used: {c}");
        let spend = c["spend"].as_f64().unwrap();
        let [lo, hi] = [0, 1].map(|i| c["contribution_interval"][i].as_f64().unwrap());
        let cpa = &c["cpa_interval"];
        assert!(cpa.is_array(), "paid channel without CPA interval: {c}");
        assert!((cpa[0].as_f64().unwrap() - spend / hi).abs() <= 1e-9 * spend / hi);
        if lo > 0.0 {
            assert!((cpa[1].as_f64().unwrap() - spend / lo).abs() <= 1e-9 * spend / lo);
        } else {
            assert!(cpa[1].is_null(), "{c}");
        }
        if let Some(m) = c["mroi"].as_f64().filter(|m| *m > 0.0) {
            assert!((c["marginal_cpa"].as_f64().unwrap() * m - 1.0).abs() < 1e-9);
        }
    }
}

/// Rolling-origin cross-validation: folds tile the last `folds × horizon` periods in
/// order, each scored out of sample near the simulator's noise; too many folds for the
/// data is a user error naming the flag.
#[test]
fn validate_scores_rolling_origins() {
    let dir = tempfile::tempdir().unwrap();
    simulate(dir.path(), "5");
    let spec = dir.path().join("spec.toml");
    let out = bin()
        .args(["validate", spec.to_str().unwrap(), "--folds", "3"])
        .args(["--horizon", "8", "--json", "-q"])
        .output()
        .unwrap();
    let cv = common::ok_json(&out);
    let folds = cv["folds"].as_array().unwrap();
    assert_eq!(folds.len(), 3);
    for w in folds.windows(2) {
        assert!(w[0]["test"][1].as_str() < w[1]["test"][0].as_str());
        assert!(w[0]["train"][1].as_str() < w[1]["train"][1].as_str());
    }
    // 104 weeks: the last fold scores the final 8 (2021-01-04 + 96 weeks onwards).
    let last_test = folds[2]["test"][1].as_str().unwrap().to_string();
    let data = std::fs::read_to_string(dir.path().join("data.csv")).unwrap();
    let last_date = data.lines().last().unwrap().split(',').next().unwrap();
    assert_eq!(last_test, last_date);
    // Noise is 3% of the mean KPI: out-of-sample MAPE should sit near it.
    let mean = cv["mean_mape"].as_f64().unwrap();
    assert!(mean > 0.005 && mean < 0.08, "mean MAPE {mean}");
    let err = bin()
        .args(["validate", spec.to_str().unwrap(), "--folds", "10"])
        .output()
        .unwrap();
    common::user_error(&err, &["10 folds", "at least 52"]);
}

/// `fit --method bayes`: NUTS fills the artifact's draws, reports convergence in
/// summary.json (and per parameter in model.json), and the model serves scenarios and
/// the optimizer like a fast-path one.
#[test]
fn bayes_fit_reports_convergence_and_fills_draws() {
    let dir = tempfile::tempdir().unwrap();
    simulate(dir.path(), "5");
    let out_dir = dir.path().join("bayes");
    let d = out_dir.to_str().unwrap();
    let spec = dir.path().join("spec.toml");
    let summary = common::ok_json(&common::mixcast(&[
        "fit",
        spec.to_str().unwrap(),
        "--out",
        d,
        "--method",
        "bayes",
        "--chains",
        "2",
        "--draws",
        "200",
        "--warmup",
        "300",
        "--holdout-weeks",
        "13",
        "--json",
        "-q",
    ]));
    let diag = &summary["diagnostics"];
    let rhat = diag["rhat_max"].as_f64().unwrap();
    assert!(rhat > 0.99 && rhat < 1.1, "{diag}");
    assert!(diag["ess_bulk_min"].as_f64().unwrap() > 30.0, "{diag}");
    assert!(diag["divergences"].is_u64());
    assert_eq!(diag["chains"], 2);
    for c in summary["channels"].as_array().unwrap() {
        let roi = c["roi"].as_f64().unwrap();
        let iv = c["roi_interval"].as_array().unwrap();
        let (lo, hi) = (iv[0].as_f64().unwrap(), iv[1].as_f64().unwrap());
        assert!(lo <= roi && roi <= hi && lo < hi, "{c}");
    }
    let model: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("model.json")).unwrap())
            .unwrap();
    assert_eq!(model["draws_method"], "nuts");
    // Short of R̂ ≤ 1.01 and ESS ≥ 400, every chain continues by another 200 draws, at
    // most 3 times (`extend_draws`); stored draws are thinned evenly to at most 1000.
    let ext = model["sampler"]["extensions"].as_u64().unwrap() as usize;
    assert!(ext <= 3);
    let per_chain = 200 * (1 + ext);
    assert_eq!(diag["draws_per_chain"], per_chain);
    let step = (2 * per_chain).div_ceil(1000);
    assert_eq!(
        model["draws"].as_array().unwrap().len(),
        2 * per_chain.div_ceil(step)
    );
    let names: Vec<&str> = model["sampler"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for n in ["tv.decay", "tv.coef", "sigma", "media_share_level"] {
        assert!(names.contains(&n), "{names:?}");
    }
    let model_path = format!("{d}/model.json");
    let rec = common::ok_json(&common::mixcast(&[
        "optimize",
        &model_path,
        "--budget",
        "400000",
        "--json",
    ]));
    assert!(
        rec["versus_reference"]["probability_better"].is_f64(),
        "{rec}"
    );
}

/// Sampler settings are range-checked, from flags and from the spec, naming the culprit.
#[test]
fn bayes_settings_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    simulate(dir.path(), "6");
    let spec = dir.path().join("spec.toml");
    let s = spec.to_str().unwrap();
    let out = dir.path().join("f");
    let o = out.to_str().unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec!["fit", s, "--out", o, "-q"];
        args.extend_from_slice(extra);
        common::mixcast(&args)
    };
    common::user_error(
        &run(&["--method", "bayes", "--chains", "0"]),
        &["--chains", "1..=64"],
    );
    common::user_error(
        &run(&["--method", "bayes", "--draws", "5"]),
        &["--draws", "20..="],
    );
    common::user_error(
        &run(&["--method", "bayes", "--warmup", "1000000"]),
        &["--warmup"],
    );
    let text = std::fs::read_to_string(&spec).unwrap();
    let edited = if text.contains("[fit]") {
        text.replace("[fit]", "[fit]\nchains = 0")
    } else {
        format!("{text}\n[fit]\nchains = 0\n")
    };
    std::fs::write(&spec, edited).unwrap();
    common::user_error(&run(&[]), &["fit.chains", "1..=64"]);
    assert!(!out.join("model.json").exists());
}

/// `fit --data FILE` fits another data file with the same spec (a refreshed window); a
/// missing one is an error naming it.
#[test]
fn fit_data_overrides_the_spec_path() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    common::ok(&common::mixcast(&[
        "simulate",
        "--out",
        d.to_str().unwrap(),
        "--weeks",
        "80",
    ]));
    let other = d.join("elsewhere");
    std::fs::create_dir_all(&other).unwrap();
    let text = std::fs::read_to_string(d.join("data.csv")).unwrap();
    // The first 70 weeks only.
    let cut: String = text.lines().take(71).map(|l| format!("{l}\n")).collect();
    std::fs::write(other.join("refresh.csv"), cut).unwrap();
    let spec = d.join("spec.toml");
    let out = d.join("fit");
    common::ok(&common::mixcast(&[
        "fit",
        spec.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--draws",
        "0",
        "--data",
        other.join("refresh.csv").to_str().unwrap(),
        "-q",
    ]));
    let model: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("model.json")).unwrap()).unwrap();
    assert!(model["data_fingerprint"]["path"]
        .as_str()
        .unwrap()
        .ends_with("refresh.csv"));
    assert_eq!(model["data_fingerprint"]["periods"], 70);
    common::user_error(
        &common::mixcast(&[
            "fit",
            spec.to_str().unwrap(),
            "--out",
            d.join("fit2").to_str().unwrap(),
            "--data",
            "no_such.csv",
        ]),
        &["no_such.csv"],
    );
}
