//! Results do not depend on the thread count: fit (fast and NUTS), optimize, scenario and attribute (every
//! model, 200k journeys) give bit-identical output with RAYON_NUM_THREADS=1 and 2.

mod common;

use std::path::Path;
use std::process::Command;

fn run(threads: &str, args: &[&str]) -> Vec<u8> {
    let out = Command::new(env!("CARGO_BIN_EXE_mixcast"))
        .env("RAYON_NUM_THREADS", threads)
        .args(args)
        .output()
        .unwrap();
    common::ok(&out);
    out.stdout
}

/// model.json without the fit's wall-clock time.
fn model_without_time(path: &Path) -> serde_json::Value {
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v["diagnostics"]["seconds"] = 0.into();
    v
}

#[test]
fn one_and_two_threads_agree_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    run(
        "1",
        &["simulate", "--out", d, "--weeks", "104", "--channels", "4"],
    );
    let spec = format!("{d}/spec.toml");
    let mut fits = Vec::new();
    for t in ["1", "2"] {
        let out = format!("{d}/fit{t}");
        let summary = run(
            t,
            &["fit", &spec, "--out", &out, "--draws", "40", "-q", "--json"],
        );
        fits.push((
            summary,
            model_without_time(&Path::new(&out).join("model.json")),
        ));
    }
    assert!(fits[0] == fits[1], "fit differs across thread counts");
    let bayes: Vec<_> = ["1", "2"]
        .iter()
        .map(|t| {
            let out = format!("{d}/bayes{t}");
            let args = [
                "fit", &spec, "--out", &out, "--method", "bayes", "--chains", "2", "--draws", "60",
                "--warmup", "60", "-q", "--json",
            ];
            let summary = run(t, &args);
            (
                summary,
                model_without_time(&Path::new(&out).join("model.json")),
            )
        })
        .collect();
    assert!(
        bayes[0] == bayes[1],
        "NUTS fit differs across thread counts"
    );

    let model = format!("{d}/fit1/model.json");
    let plan = format!("{d}/plan.csv");
    let opt = |t: &str| {
        run(
            t,
            &[
                "optimize",
                &model,
                "--budget",
                "500000",
                "--json",
                "--plan-out",
                &plan,
            ],
        )
    };
    assert_eq!(opt("1"), opt("2"), "optimize differs across thread counts");
    let sc = |t: &str| {
        run(
            t,
            &["scenario", &model, "--plan", &plan, "--tail", "--json"],
        )
    };
    assert_eq!(sc("1"), sc("2"), "scenario differs across thread counts");

    run(
        "2",
        &[
            "simulate-journeys",
            "--out",
            &format!("{d}/j"),
            "--journeys",
            "200000",
        ],
    );
    let all = mixcast::attribution::MODEL_NAMES.join(",");
    for input in [
        vec![
            "--events".to_string(),
            format!("{d}/j/events.csv"),
            "--conversions".into(),
            format!("{d}/j/conversions.csv"),
        ],
        vec!["--paths".to_string(), format!("{d}/j/paths.csv")],
    ] {
        let at = |t: &str| {
            let mut args = vec!["attribute", "--model", &all, "--json"];
            args.extend(input.iter().map(|s| s.as_str()));
            run(t, &args)
        };
        assert_eq!(at("1"), at("2"), "attribute {input:?} differs");
    }
}
