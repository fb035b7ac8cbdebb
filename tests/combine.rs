//! `combine` end to end: the joint simulator, channel names that only partly overlap,
//! campaign splits that sum to their channel, the combination study, and hostile inputs.

mod common;

use common::{mixcast, ok, ok_json, user_error};

/// Assert `doc` validates against `schemas/<name>.schema.json`.
fn valid(name: &str, doc: &serde_json::Value) {
    let path = format!("{}/schemas/{name}.schema.json", env!("CARGO_MANIFEST_DIR"));
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let v = jsonschema::validator_for(&s).unwrap();
    let errors: Vec<String> = v.iter_errors(doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{name}: {errors:?}");
}

/// A joint simulation (small), its fit and its Shapley attribution; returns
/// (model.json, attr.json) paths.
fn joint(dir: &std::path::Path) -> (String, String) {
    let d = dir.to_str().unwrap();
    ok(&mixcast(&[
        "simulate-joint",
        "--out",
        d,
        "--journeys",
        "60000",
        "--seed",
        "3",
    ]));
    let truth: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("joint_truth.json")).unwrap()).unwrap();
    let events = std::fs::read_to_string(dir.join("journeys/events.csv")).unwrap();
    for c in truth["channels"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        let tracked = c["tracked"].as_bool().unwrap();
        assert_eq!(
            events.contains(&format!(",{name},")),
            tracked,
            "offline channels are absent from journeys, digital ones present: {name}"
        );
    }
    // Campaign truths sum to their channel's contribution.
    for c in truth["channels"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        let sum: f64 = truth["campaigns"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|k| k["channel"] == name)
            .map(|k| k["contribution"].as_f64().unwrap())
            .sum();
        if c["tracked"].as_bool().unwrap() {
            let total = c["contribution"].as_f64().unwrap();
            assert!(
                (sum - total).abs() <= 1e-9 * total,
                "{name}: {sum} vs {total}"
            );
        }
    }
    ok(&mixcast(&[
        "fit",
        &format!("{d}/spec.toml"),
        "--out",
        &format!("{d}/fit"),
        "--draws",
        "30",
        "-q",
    ]));
    let attr = mixcast(&[
        "attribute",
        "--events",
        &format!("{d}/journeys/events.csv"),
        "--conversions",
        &format!("{d}/journeys/conversions.csv"),
        "--model",
        "last,shapley",
        "--json",
    ]);
    ok(&attr);
    let attr_path = format!("{d}/attr.json");
    std::fs::write(&attr_path, &attr.stdout).unwrap();
    (format!("{d}/fit/model.json"), attr_path)
}

/// [`joint`], then `combine --json` written to `combine.json`; returns (model.json,
/// combine.json, the combination document).
fn joint_combined(dir: &std::path::Path) -> (String, String, serde_json::Value) {
    let (model, attr) = joint(dir);
    let comb = mixcast(&["combine", &model, "--attribution", &attr, "--json"]);
    ok(&comb);
    let comb_path = dir.join("combine.json").to_str().unwrap().to_string();
    std::fs::write(&comb_path, &comb.stdout).unwrap();
    let doc = serde_json::from_slice(&comb.stdout).unwrap();
    (model, comb_path, doc)
}

#[test]
fn combine_labels_every_channel_and_splits_campaigns_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let (model, attr) = joint(dir.path());
    // Rename one attribution channel so names only partly overlap.
    let text = std::fs::read_to_string(&attr)
        .unwrap()
        .replace("\"video\"", "\"youtube\"");
    std::fs::write(&attr, text).unwrap();
    let doc = ok_json(&mixcast(&[
        "combine",
        &model,
        "--attribution",
        &attr,
        "--json",
    ]));
    assert_eq!(doc["schema_version"], 1);
    valid("combine", &doc);
    assert_eq!(doc["reference_model"], "shapley");
    let label = |name: &str| -> String {
        doc["channels"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no entry for {name}"))["agreement"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(label("tv"), "mmm_only");
    assert_eq!(label("video"), "mmm_only");
    assert_eq!(label("youtube"), "attribution_only");
    assert!(["agree", "disagree"].contains(&label("search").as_str()));
    // Incrementality factor = MMM contribution / attributed value (revenue KPI).
    let search = doc["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "search")
        .unwrap();
    let contribution = search["mmm"]["contribution"].as_f64().unwrap();
    let attributed = search["attribution"]["shapley"]["value"].as_f64().unwrap();
    let factor = search["incrementality_factor"]["shapley"]["value"]
        .as_f64()
        .unwrap();
    assert!((factor - contribution / attributed).abs() <= 1e-12 * factor.abs());
    // Campaigns sum to their channel's MMM contribution.
    let campaigns = doc["campaigns"].as_array().unwrap();
    assert!(!campaigns.is_empty());
    for c in doc["channels"].as_array().unwrap() {
        let Some(mmm) = c["mmm"].as_object() else {
            continue;
        };
        let rows: Vec<_> = campaigns
            .iter()
            .filter(|k| k["channel"] == c["name"])
            .collect();
        if rows.is_empty() {
            continue;
        }
        let sum: f64 = rows
            .iter()
            .map(|k| k["incremental_contribution"].as_f64().unwrap())
            .sum();
        let total = mmm["contribution"].as_f64().unwrap();
        assert!(
            (sum - total).abs() <= 1e-9 * total.abs(),
            "{sum} vs {total}"
        );
        let shares: f64 = rows.iter().map(|k| k["share"].as_f64().unwrap()).sum();
        assert!((shares - 1.0).abs() < 1e-12);
    }
    // With a channel map the renamed channel joins video; many-to-one is allowed.
    let map = dir.path().join("map.csv");
    std::fs::write(
        &map,
        "mmm_channel,attribution_channel\nvideo,youtube\nsearch,search\nsocial,social\ndisplay,display\n",
    )
    .unwrap();
    let mapped = ok_json(&mixcast(&[
        "combine",
        &model,
        "--attribution",
        &attr,
        "--channel-map",
        map.to_str().unwrap(),
        "--json",
        "--model",
        "last",
    ]));
    assert_eq!(mapped["reference_model"], "last");
    let video = mapped["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "video")
        .unwrap();
    assert_eq!(video["attribution_channels"][0], "youtube");
    assert!(mapped["channels"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["name"] != "youtube"));
    // The table and CSV files.
    let csv_dir = dir.path().join("csv");
    let table = mixcast(&[
        "combine",
        &model,
        "--attribution",
        &attr,
        "--csv",
        csv_dir.to_str().unwrap(),
    ]);
    ok(&table);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("attribution_only") && text.contains("campaign"));
    assert!(csv_dir.join("channels.csv").exists() && csv_dir.join("campaigns.csv").exists());
}

#[test]
fn hostile_combine_inputs_exit_2_naming_the_culprit() {
    let dir = tempfile::tempdir().unwrap();
    let (model, attr) = joint(dir.path());
    let d = dir.path();
    let write = |name: &str, text: &str| {
        let p = d.join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let good = std::fs::read_to_string(&attr).unwrap();
    let cases: Vec<(Vec<String>, Vec<&str>)> = vec![
        (
            vec![
                "--channel-map".into(),
                write(
                    "m1.csv",
                    "mmm_channel,attribution_channel\nsearch,search\nsocial,search\n",
                ),
            ],
            vec!["m1.csv", "row 3", "attribution_channel", "already mapped"],
        ),
        (
            vec![
                "--channel-map".into(),
                write("m2.csv", "mmm_channel,attribution_channel\nsaerch,search\n"),
            ],
            vec!["m2.csv", "row 2", "mmm_channel", "saerch"],
        ),
        (
            vec![
                "--channel-map".into(),
                write("m3.csv", "mmm,attr\nsearch,search\n"),
            ],
            vec!["m3.csv", "mmm_channel"],
        ),
        (
            vec![
                "--attribution".into(),
                write("a1.json", "{\"schema_version\": 1"),
            ],
            vec!["a1.json", "line"],
        ),
        (
            vec![
                "--attribution".into(),
                write(
                    "a2.json",
                    &good.replacen("\"schema_version\": 1", "\"schema_version\": 7", 1),
                ),
            ],
            vec!["a2.json", "schema_version"],
        ),
        (
            vec![
                "--attribution".into(),
                write("a3.json", &good.replacen("\"share\": ", "\"share\": -", 1)),
            ],
            vec!["a3.json", "models[0].channels[0].share"],
        ),
        (
            vec![
                "--experiments".into(),
                write(
                    "e.csv",
                    "channel,start,end,lift,se\nsearch,2020-01-01,2020-02-01,10,-1\n",
                ),
            ],
            vec!["e.csv", "row 2"],
        ),
        (vec!["--model".into(), "markov9".into()], vec!["markov9"]),
    ];
    for (extra, needles) in cases {
        let mut args: Vec<String> = vec!["combine".into(), model.clone()];
        if !extra.contains(&"--attribution".to_string()) {
            args.extend(["--attribution".into(), attr.clone()]);
        }
        args.extend(extra);
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        user_error(&mixcast(&argv), &needles);
        // Under --json the failure is a JSON document.
        let mut json_args = argv.clone();
        json_args.push("--json");
        let out = mixcast(&json_args);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON error");
        valid("error", &v);
    }
}

/// On the joint simulator, lift tests make the combined ROI better than the MMM alone
/// and campaign splits sum to their channel (the full study is `recovery --combination`).
#[test]
fn combination_study_runs_and_tests_help() {
    let cfg = mixcast::recovery::CombinationStudyConfig {
        seeds: 3,
        journeys: 100_000,
        draws: 50,
        ..Default::default()
    };
    let r = mixcast::recovery::run_combination_study(&cfg).unwrap();
    assert_eq!(r.cases.len(), 12);
    assert!(r.max_campaign_sum_gap < 1e-9);
    assert!(
        r.combined_with_tests_error < r.mmm_error,
        "with tests {} vs MMM {}",
        r.combined_with_tests_error,
        r.mmm_error
    );
    assert!(r.coverage[1] >= 0.6, "{:?}", r.coverage);
}

/// `attribute --calibration COMBINE.json` scales each channel's credit by its
/// incrementality factor; a bad combination document is an error naming the field.
#[test]
fn calibrated_attribution_applies_the_factors() {
    let dir = tempfile::tempdir().unwrap();
    let (_, comb_path, doc) = joint_combined(dir.path());
    let d = dir.path().to_str().unwrap();
    let args = [
        "attribute",
        "--events",
        &format!("{d}/journeys/events.csv"),
        "--conversions",
        &format!("{d}/journeys/conversions.csv"),
        "--model",
        "shapley",
        "--json",
    ];
    let mut with = args.to_vec();
    with.extend(["--calibration", &comb_path]);
    let r = ok_json(&mixcast(&with));
    valid("attribution", &r);
    let models = r["models"].as_array().unwrap();
    assert_eq!(models[1]["model"], "shapley_calibrated");
    let find = |m: &serde_json::Value, name: &str| -> f64 {
        m["channels"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap()["value"]
            .as_f64()
            .unwrap()
    };
    let with_factor = doc["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["incrementality_factor"]["shapley"].is_object())
        .expect("a channel with a Shapley factor");
    let name = with_factor["name"].as_str().unwrap();
    let factor = with_factor["incrementality_factor"]["shapley"]["value"]
        .as_f64()
        .unwrap();
    let (raw, cal) = (find(&models[0], name), find(&models[1], name));
    assert!((cal - raw * factor).abs() <= 1e-9 * cal.abs().max(1.0));
    let shares: f64 = models[1]["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["share"].as_f64().unwrap())
        .sum();
    assert!((shares - 1.0).abs() < 1e-9);
    let bad = format!("{d}/bad.json");
    std::fs::write(&bad, "{\"schema_version\": 2}").unwrap();
    let mut hostile = args.to_vec();
    hostile.extend(["--calibration", &bad]);
    user_error(&mixcast(&hostile), &["bad.json"]);
}

/// `optimize --campaigns COMBINE.json` splits each channel's recommended spend across its
/// campaigns: the split sums to the channel, interior campaigns end with equal marginal
/// returns, and the split is never worse than today's mix.
#[test]
fn optimizer_splits_channel_budgets_across_campaigns() {
    let dir = tempfile::tempdir().unwrap();
    let (model, comb_path, _) = joint_combined(dir.path());
    let rec = ok_json(&mixcast(&[
        "optimize",
        &model,
        "--budget",
        "2000000",
        "--horizon",
        "13",
        "--campaigns",
        &comb_path,
        "--json",
    ]));
    valid("recommendation", &rec);
    let campaigns = rec["campaigns"].as_array().unwrap();
    assert!(!campaigns.is_empty());
    for ch in rec["channels"].as_array().unwrap() {
        let rows: Vec<_> = campaigns
            .iter()
            .filter(|k| k["channel"] == ch["name"])
            .collect();
        if rows.is_empty() {
            continue;
        }
        let x = ch["recommended_spend"].as_f64().unwrap();
        let sum: f64 = rows
            .iter()
            .map(|k| k["recommended_spend"].as_f64().unwrap())
            .sum();
        assert!((sum - x).abs() <= 1e-9 * x.max(1.0), "{sum} vs {x}");
        let interior: Vec<f64> = rows
            .iter()
            .filter(|k| k["recommended_spend"].as_f64().unwrap() > 0.01 * x)
            .map(|k| k["mroi"].as_f64().unwrap())
            .collect();
        if x > 0.0 && interior.len() > 1 {
            let (lo, hi) = interior
                .iter()
                .fold((f64::MAX, f64::MIN), |(a, b), &v| (a.min(v), b.max(v)));
            assert!(hi - lo <= 0.02 * hi.abs().max(1e-9), "mROIs {interior:?}");
        }
    }
    let table = mixcast(&[
        "optimize",
        &model,
        "--budget",
        "2000000",
        "--campaigns",
        &comb_path,
    ]);
    ok(&table);
    assert!(String::from_utf8_lossy(&table.stdout).contains("campaigns ("));
}

/// `fit --attribution-prior ATTR.json` (or `[calibration] attribution`) puts a soft ROI
/// prior of attributed ROAS × discount on the channels the attribution names; the spec's
/// own `roi_prior` wins; a bad document is an error naming it.
#[test]
fn attribution_informed_priors_reach_the_fit() {
    let dir = tempfile::tempdir().unwrap();
    let (_, attr) = joint(dir.path());
    let d = dir.path().to_str().unwrap();
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&attr).unwrap()).unwrap();
    let shapley = report["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["model"] == "shapley")
        .unwrap();
    let per_conversion =
        report["value"].as_f64().unwrap() / report["conversions"].as_f64().unwrap();
    // The channel with the most incremental conversions.
    let social = shapley["channels"]
        .as_array()
        .unwrap()
        .iter()
        .max_by(|a, b| {
            let f = |c: &serde_json::Value| c["incremental_conversions"].as_f64().unwrap();
            f(a).total_cmp(&f(b))
        })
        .unwrap();
    let name = social["name"].as_str().unwrap();
    let expected = social["incremental_conversions"].as_f64().unwrap() * per_conversion
        / social["cost"].as_f64().unwrap()
        * 0.5;
    // Through the spec, with a discount.
    let spec = std::fs::read_to_string(dir.path().join("spec.toml")).unwrap();
    let spec =
        format!("{spec}\n[calibration]\nattribution = \"attr.json\"\nattribution_discount = 0.5\n");
    std::fs::write(dir.path().join("spec_prior.toml"), spec).unwrap();
    let out = format!("{d}/fit_prior");
    ok(&mixcast(&[
        "fit",
        &format!("{d}/spec_prior.toml"),
        "--out",
        &out,
        "--draws",
        "20",
        "-q",
    ]));
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(format!("{out}/summary.json")).unwrap()).unwrap();
    let prior = &summary["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap()["prior"];
    let mean = prior["prior_mean"].as_f64().unwrap();
    assert!(
        (mean - expected).abs() <= 1e-9 * expected,
        "{mean} vs {expected}"
    );
    assert!((prior["prior_sd"].as_f64().unwrap() - mean).abs() <= 1e-9 * mean);
    // Offline channels keep the pooled prior.
    let tv = &summary["channels"].as_array().unwrap()[0];
    assert_eq!(tv["name"], "tv");
    assert_eq!(tv["prior"]["source"], "pooled");
    // A bad attribution document through the flag.
    let bad = format!("{d}/bad_attr.json");
    std::fs::write(&bad, "{\"schema_version\": 1, \"models\": []}").unwrap();
    user_error(
        &mixcast(&[
            "fit",
            &format!("{d}/spec.toml"),
            "--out",
            &format!("{d}/fit_bad"),
            "--attribution-prior",
            &bad,
        ]),
        &["bad_attr.json"],
    );
    assert!(!dir.path().join("fit_bad").exists());
}
