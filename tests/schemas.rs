//! Every `--json` output validates against its shipped JSON Schema (`schemas/`), and so do
//! the files `fit` writes and the error document.

mod common;

use std::process::{Command, Output};

use serde_json::Value;

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mixcast"))
        .args(args)
        .output()
        .unwrap()
}

use common::{schema, valid};

fn json_of(out: &Output) -> Value {
    common::ok_json(out)
}

/// The schemas are strict enough to fail: missing fields, wrong types, positional rows.
#[test]
fn schemas_reject_malformed_documents() {
    let bad = [
        ("summary", serde_json::json!({"schema_version": 1})),
        (
            "attribution",
            serde_json::json!({"schema_version": 1, "journeys": 2.5, "conversions": 1, "value": 1, "models": []}),
        ),
        (
            "decomposition",
            serde_json::json!({"schema_version": 1, "model": {"model_id": "a", "data_hash": "b", "mixcast_version": "c"}, "components": ["tv"], "rows": [{"date": "2024-01-01", "geo": "g", "split": "fit", "actual": 1, "fitted": 1, "components": [1.0]}]}),
        ),
        (
            "error",
            serde_json::json!({"error": {"kind": "nope", "message": "m", "culprit": null}}),
        ),
    ];
    for (name, doc) in bad {
        assert!(!schema(name).is_valid(&doc), "{name} accepted {doc}");
    }
}

#[test]
fn every_json_output_matches_its_schema() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    common::ok(&run(&[
        "simulate",
        "--out",
        d,
        "--weeks",
        "80",
        "--channels",
        "3",
    ]));
    let spec = format!("{d}/spec.toml");
    let fit_dir = format!("{d}/fit");
    let summary = json_of(&run(&[
        "fit",
        &spec,
        "--out",
        &fit_dir,
        "--draws",
        "10",
        "-q",
        "--json",
        "--holdout-weeks",
        "8",
    ]));
    valid("summary", &summary);
    let file = |f: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(format!("{fit_dir}/{f}")).unwrap()).unwrap()
    };
    valid("summary", &file("summary.json"));
    valid("curves", &file("curves.json"));
    let cv = json_of(&run(&[
        "validate",
        &spec,
        "--folds",
        "2",
        "--horizon",
        "8",
        "-q",
        "--json",
    ]));
    valid("crossval", &cv);
    let model = format!("{fit_dir}/model.json");
    valid(
        "decomposition",
        &json_of(&run(&["decompose", &model, "--json"])),
    );
    valid(
        "curves",
        &json_of(&run(&["curves", &model, "--steps", "5"])),
    );
    let plan = format!("{d}/plan.csv");
    let rec = json_of(&run(&[
        "optimize",
        &model,
        "--budget",
        "200000",
        "--json",
        "--plan-out",
        &plan,
    ]));
    valid("recommendation", &rec);
    for mode in [["--target-mroi", "1.5"], ["--target-kpi", "1e7"]] {
        let args = [
            "optimize", &model, "--budget", "1e6", "--json", mode[0], mode[1],
        ];
        valid("recommendation", &json_of(&run(&args)));
    }
    let sc = json_of(&run(&["scenario", &model, "--plan", &plan, "--json"]));
    assert!(sc["comparison"].is_null());
    valid("scenario", &sc);
    let cmp = json_of(&run(&[
        "scenario",
        &model,
        "--plan",
        &plan,
        "--compare",
        &plan,
        "--tail",
        "--json",
    ]));
    assert!(!cmp["comparison"].is_null());
    valid("scenario", &cmp);

    let j = format!("{d}/j");
    common::ok(&run(&[
        "simulate-journeys",
        "--out",
        &j,
        "--journeys",
        "3000",
    ]));
    let all = mixcast::attribution::MODEL_NAMES.join(",");
    let ev = json_of(&run(&[
        "attribute",
        "--events",
        &format!("{j}/events.csv"),
        "--conversions",
        &format!("{j}/conversions.csv"),
        "--model",
        &all,
        "--json",
    ]));
    assert!(ev["journeys"].is_u64());
    valid("attribution", &ev);
    valid(
        "attribution",
        &json_of(&run(&[
            "attribute",
            "--paths",
            &format!("{j}/paths.csv"),
            "--json",
        ])),
    );

    valid(
        "recovery",
        &json_of(&run(&[
            "recovery", "--seeds", "1", "--draws", "5", "--noise", "0.05",
        ])),
    );
    valid(
        "allocation",
        &json_of(&run(&[
            "recovery",
            "--allocation",
            "--seeds",
            "1",
            "--draws",
            "5",
        ])),
    );

    // Failures under --json: a bad model, a bad request, a usage error.
    for args in [
        vec!["decompose", "/nonexistent.json", "--json"],
        vec!["optimize", model.as_str(), "--budget=-1", "--json"],
        vec!["optimize", model.as_str(), "--json"],
    ] {
        let out = run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        valid("error", &doc);
    }
}
