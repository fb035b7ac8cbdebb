//! Audiences: sizes and members match a direct count over the files, incremental
//! figures follow the conversion model's definition, and bad requests are errors.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{mixcast, ok_json, user_error, valid};

#[test]
fn audiences_match_a_direct_count() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let p = |s: &str| d.join(s).to_str().unwrap().to_string();
    common::ok(&mixcast(&[
        "simulate-journeys",
        "--out",
        &p("j"),
        "--journeys",
        "20000",
        "--seed",
        "4",
    ]));
    let doc = ok_json(&mixcast(&[
        "audiences",
        "--events",
        &p("j/events.csv"),
        "--conversions",
        &p("j/conversions.csv"),
        "--out",
        &p("aud"),
        "--touched",
        "display,search",
        "--stage",
        "direct",
        "--target",
        "search",
        "--top-share",
        "0.2",
        "--json",
    ]));
    valid("audiences", &doc);
    // Direct count: journeys by channel set and conversion.
    let mut chans: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in std::fs::read_to_string(d.join("j/events.csv"))
        .unwrap()
        .lines()
        .skip(1)
    {
        let f: Vec<&str> = line.split(',').collect();
        chans.entry(f[0].into()).or_default().insert(f[2].into());
    }
    let converted: BTreeSet<String> = std::fs::read_to_string(d.join("j/conversions.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().to_string())
        .collect();
    let members = |name: &str| -> BTreeSet<String> {
        std::fs::read_to_string(d.join("aud").join(format!("{name}.csv")))
            .unwrap()
            .lines()
            .skip(1)
            .map(str::to_string)
            .collect()
    };
    let expect = |ch: &str| -> BTreeSet<String> {
        chans
            .iter()
            .filter(|(j, s)| s.contains(ch) && !converted.contains(*j))
            .map(|(j, _)| j.clone())
            .collect()
    };
    let audiences = doc["audiences"].as_array().unwrap();
    let get = |n: &str| audiences.iter().find(|a| a["name"] == n).unwrap();
    for ch in ["display", "search"] {
        let name = format!("touched_{ch}_not_converted");
        assert_eq!(members(&name), expect(ch), "{name}");
        assert_eq!(
            get(&name)["size"].as_u64().unwrap() as usize,
            expect(ch).len()
        );
    }
    // `direct` is always last in the simulator, so reaching it without converting after
    // it is the same as touching it without converting.
    assert_eq!(members("stage_direct"), expect("direct"));
    // One more search touch adds nothing to journeys that already had search.
    assert_eq!(
        get("touched_search_not_converted")["expected_incremental_conversions"],
        0.0
    );
    let disp = get("touched_display_not_converted");
    assert!(disp["expected_incremental_conversions"].as_f64().unwrap() > 0.0);
    let open = chans.keys().filter(|j| !converted.contains(*j)).count();
    let high = get("high_propensity")["size"].as_u64().unwrap() as f64;
    assert!((high - 0.2 * open as f64).abs() <= 1.0, "{high} of {open}");
    assert!(
        get("high_propensity")["mean_probability"].as_f64().unwrap()
            >= disp["mean_probability"].as_f64().unwrap()
    );

    user_error(
        &mixcast(&[
            "audiences",
            "--events",
            &p("j/events.csv"),
            "--conversions",
            &p("j/conversions.csv"),
            "--out",
            &p("bad"),
            "--touched",
            "billboard",
        ]),
        &["billboard"],
    );
    assert!(!d.join("bad").exists());
}
