//! Paths and friction on a hand-made file: paths, lengths, time to conversion,
//! transitions, drop-off, segments.

mod common;

use common::{mixcast, ok_json, user_error, valid};

#[test]
fn journeys_match_hand_computation() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // j1 search (converts after 2 days, geo A); j2 social > search (converts after 1 day,
    // geo B); j3 display > display (no conversion, A); j4 search (no conversion, B).
    std::fs::write(
        d.join("e.csv"),
        "journey_id,timestamp,channel,geo\nj1,2024-01-01,search,A\nj2,2024-01-01,social,B\nj2,2024-01-01T12:00:00,search,B\nj3,2024-01-01,display,A\nj3,2024-01-02,display,A\nj4,2024-01-05,search,B\n",
    )
    .unwrap();
    std::fs::write(
        d.join("c.csv"),
        "journey_id,timestamp,value\nj1,2024-01-03,10\nj2,2024-01-02,20\n",
    )
    .unwrap();
    let e = d.join("e.csv");
    let c = d.join("c.csv");
    let doc = ok_json(&mixcast(&[
        "journeys",
        "--events",
        e.to_str().unwrap(),
        "--conversions",
        c.to_str().unwrap(),
        "--by",
        "geo",
        "--json",
    ]));
    valid("journeys", &doc);
    let all = &doc["segments"][0];
    assert!(all["segment"].is_null());
    assert_eq!(
        (all["journeys"].as_u64(), all["converting"].as_u64()),
        (Some(4), Some(2))
    );
    let paths = |k: &str| -> Vec<(String, u64)> {
        all[k]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["path"].as_str().unwrap().to_string(),
                    p["journeys"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(
        paths("top_converting_paths"),
        vec![("search".into(), 1), ("social > search".into(), 1)]
    );
    assert_eq!(
        paths("top_non_converting_paths"),
        vec![("search".into(), 1), ("display > display".into(), 1)]
    );
    // Lengths: two one-touch journeys (one converting), two two-touch (one converting).
    assert_eq!(all["lengths"][0]["converting"], 1);
    assert_eq!(all["lengths"][0]["non_converting"], 1);
    assert_eq!(all["lengths"][1]["converting"], 1);
    // Time to conversion: 1 and 2 days.
    let q = all["time_to_conversion"]["quantiles_days"]
        .as_array()
        .unwrap();
    assert_eq!(q[0], 1.0);
    assert_eq!(q[4], 2.0);
    // Transitions out of (start): search 2, social 1, display 1.
    let tr = all["transitions"].as_array().unwrap();
    let p = |f: &str, t: &str| {
        tr.iter().find(|x| x["from"] == f && x["to"] == t).map(|x| {
            (
                x["count"].as_u64().unwrap(),
                x["probability"].as_f64().unwrap(),
            )
        })
    };
    assert_eq!(p("(start)", "search"), Some((2, 0.5)));
    assert_eq!(p("display", "display"), Some((1, 0.5)));
    assert_eq!(p("display", "(null)"), Some((1, 0.5)));
    assert_eq!(p("search", "(conversion)"), Some((2, 2.0 / 3.0)));
    // Drop-off: display and search, one each.
    let drop = all["drop_off"].as_array().unwrap();
    assert_eq!(drop.len(), 2);
    assert_eq!(drop[0]["share"], 0.5);
    // Segments A and B: two journeys each, one converting.
    let segs: Vec<(String, u64, u64)> = doc["segments"].as_array().unwrap()[1..]
        .iter()
        .map(|s| {
            (
                s["segment"].as_str().unwrap().to_string(),
                s["journeys"].as_u64().unwrap(),
                s["converting"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(segs.len(), 2);
    assert!(segs.contains(&("A".into(), 2, 1)) && segs.contains(&("B".into(), 2, 1)));
    // A segment column that is not there is an error naming it.
    user_error(
        &mixcast(&[
            "journeys",
            "--events",
            e.to_str().unwrap(),
            "--conversions",
            c.to_str().unwrap(),
            "--by",
            "device",
        ]),
        &["e.csv", "device"],
    );
}
