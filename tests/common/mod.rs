//! Helpers shared by the CLI tests: run the binary, expect success with JSON, or expect
//! a user error (exit 2) naming the culprit.
#![allow(dead_code)]

use std::process::Output;

/// Assert the command succeeded (showing its stderr if not).
pub fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Assert success and parse stdout as JSON.
pub fn ok_json(out: &Output) -> serde_json::Value {
    ok(out);
    serde_json::from_slice(&out.stdout).expect("stdout is JSON")
}

/// Assert exit code 2 (no panic) and that stderr names every needle.
pub fn user_error(out: &Output, needles: &[&str]) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    for n in needles {
        assert!(err.contains(n), "stderr lacks `{n}`: {err}");
    }
}

/// Run the mixcast binary with `args`.
pub fn mixcast(args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_mixcast"))
        .args(args)
        .output()
        .unwrap()
}

/// Simulate into `dir` (extra `simulate` flags in `sim_args`) and fit with `draws`
/// uncertainty draws into `dir/fit`; returns the model.json path.
pub fn simulate_and_fit(dir: &std::path::Path, sim_args: &[&str], draws: &str) -> String {
    let d = dir.to_str().unwrap();
    let mut args = vec!["simulate", "--out", d];
    args.extend_from_slice(sim_args);
    ok(&mixcast(&args));
    let spec = format!("{d}/spec.toml");
    let out = format!("{d}/fit");
    ok(&mixcast(&[
        "fit", &spec, "--out", &out, "--draws", draws, "-q",
    ]));
    format!("{out}/model.json")
}

/// The shipped JSON Schema `schemas/<name>.schema.json`.
pub fn schema(name: &str) -> jsonschema::Validator {
    let path = format!("{}/schemas/{name}.schema.json", env!("CARGO_MANIFEST_DIR"));
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    jsonschema::validator_for(&s).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Assert `doc` validates against `schemas/<name>.schema.json`.
pub fn valid(name: &str, doc: &serde_json::Value) {
    let v = schema(name);
    let errors: Vec<String> = v.iter_errors(doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{name}: {errors:?}");
}

/// Simulate 182 weeks (seed 3) into `d/sim` and fit the first 156 (`d/sim/old.toml`, the
/// same file with its window ending 2023-12-25) into `d/prev`.
pub fn previous_quarter(d: &std::path::Path) {
    let p = |s: &str| d.join(s).to_str().unwrap().to_string();
    ok(&mixcast(&[
        "simulate",
        "--out",
        &p("sim"),
        "--weeks",
        "182",
        "--holdout-weeks",
        "26",
        "--seed",
        "3",
    ]));
    let spec = std::fs::read_to_string(d.join("sim/spec.toml")).unwrap();
    let old = spec.replace(
        "kpi_kind = \"revenue\"\n",
        "kpi_kind = \"revenue\"\nend = 2023-12-25\n",
    );
    std::fs::write(d.join("sim/old.toml"), old).unwrap();
    ok(&mixcast(&[
        "fit",
        &p("sim/old.toml"),
        "--out",
        &p("prev"),
        "--draws",
        "30",
        "-q",
    ]));
}
