//! Team credit: a hand-computed small case (last-touch and linear), exact sums on
//! simulated journeys, and bad teams or targets files.

mod common;

use common::{mixcast, ok_json, user_error, valid};

/// Five journeys, every conversion on 2024-01-03:
/// j1 search/s1 (10); j2 social/so1 (20); j3 search/s2 (30); j4 email, no campaign (40);
/// j5 display/d1 then search/s1 (50). Teams: online = search/s1; content = the rest of
/// search and social; events = email; display is nobody's.
fn setup(d: &std::path::Path) -> String {
    std::fs::write(
        d.join("e.csv"),
        "journey_id,timestamp,channel,campaign\nj1,2024-01-01,search,s1\nj2,2024-01-01,social,so1\nj3,2024-01-01,search,s2\nj4,2024-01-01,email,\nj5,2024-01-01,display,d1\nj5,2024-01-02,search,s1\n",
    )
    .unwrap();
    std::fs::write(
        d.join("c.csv"),
        "journey_id,timestamp,value\nj1,2024-01-03,10\nj2,2024-01-03,20\nj3,2024-01-03,30\nj4,2024-01-03,40\nj5,2024-01-03,50\n",
    )
    .unwrap();
    std::fs::write(
        d.join("teams.csv"),
        "team,channel,campaign\nonline,search,s1\ncontent,search,\ncontent,social,\nevents,email,\n",
    )
    .unwrap();
    std::fs::write(
        d.join("targets.csv"),
        "team,target\nonline,4\ncontent,2\nevents,1\n",
    )
    .unwrap();
    let a = d.join("a.json");
    let out = mixcast(&[
        "attribute",
        "--events",
        d.join("e.csv").to_str().unwrap(),
        "--conversions",
        d.join("c.csv").to_str().unwrap(),
        "--model",
        "last,linear",
        "--json",
    ]);
    std::fs::write(&a, ok_json(&out).to_string()).unwrap();
    a.to_str().unwrap().to_string()
}

fn credit(d: &std::path::Path, a: &str, extra: &[&str]) -> serde_json::Value {
    let teams = d.join("teams.csv");
    let targets = d.join("targets.csv");
    let mut args = vec![
        "credit",
        "--attribution",
        a,
        "--teams",
        teams.to_str().unwrap(),
        "--targets",
        targets.to_str().unwrap(),
        "--json",
    ];
    args.extend_from_slice(extra);
    let doc = ok_json(&mixcast(&args));
    valid("credit", &doc);
    doc
}

fn team(doc: &serde_json::Value, name: &str) -> (f64, Option<f64>) {
    let t = doc["teams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["team"] == name)
        .unwrap_or_else(|| panic!("no team {name}: {doc}"));
    (t["credit"].as_f64().unwrap(), t["attainment"].as_f64())
}

#[test]
fn team_credit_matches_hand_computation() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let a = setup(d);
    // Last touch: s1 gets j1 and j5 (2), s2 j3 (1), so1 j2 (1), email j4 (1), d1 0.
    let last = credit(d, &a, &["--model", "last"]);
    assert_eq!(team(&last, "online"), (2.0, Some(0.5)));
    assert_eq!(team(&last, "content"), (2.0, Some(1.0)));
    assert_eq!(team(&last, "events"), (1.0, Some(1.0)));
    assert_eq!(team(&last, "unassigned"), (0.0, None));
    assert_eq!(last["total"], 5.0);
    // Linear: j5 splits 0.5 to d1 and 0.5 to s1.
    let lin = credit(d, &a, &["--model", "linear"]);
    assert_eq!(team(&lin, "online"), (1.5, Some(0.375)));
    assert_eq!(team(&lin, "content").0, 2.0);
    assert_eq!(team(&lin, "unassigned"), (0.5, None));
    // Value: online = 10 + 25.
    let val = credit(d, &a, &["--model", "linear", "--metric", "value"]);
    assert_eq!(team(&val, "online").0, 35.0);
    assert_eq!(val["total"], 150.0);
}

/// On simulated journeys with campaigns the teams add up to the total exactly, and the
/// total is the attribution's.
#[test]
fn team_credit_sums_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    common::ok(&mixcast(&[
        "simulate-journeys",
        "--out",
        d.to_str().unwrap(),
        "--journeys",
        "50000",
    ]));
    let out = mixcast(&[
        "attribute",
        "--events",
        d.join("events.csv").to_str().unwrap(),
        "--conversions",
        d.join("conversions.csv").to_str().unwrap(),
        "--model",
        "shapley",
        "--json",
    ]);
    let attr = ok_json(&out);
    std::fs::write(d.join("a.json"), attr.to_string()).unwrap();
    std::fs::write(
        d.join("teams.csv"),
        "team,channel,campaign\nonline,search,search_a\nonline,social,\ncontent,email,\ncontent,search,search_b\nevents,video,\n",
    )
    .unwrap();
    std::fs::write(d.join("targets.csv"), "team,target\nonline,1000\n").unwrap();
    let doc = credit(d, d.join("a.json").to_str().unwrap(), &[]);
    let teams = doc["teams"].as_array().unwrap();
    let sum: f64 = teams.iter().map(|t| t["credit"].as_f64().unwrap()).sum();
    assert_eq!(sum, doc["total"].as_f64().unwrap());
    let channels: f64 = attr["models"][0]["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["conversions"].as_f64().unwrap())
        .sum();
    assert!((sum - channels).abs() < 1e-9 * channels);
    let shares: f64 = teams.iter().map(|t| t["share"].as_f64().unwrap()).sum();
    assert!((shares - 1.0).abs() < 1e-12);
}

#[test]
fn bad_teams_and_targets_name_the_row() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let a = setup(d);
    let run = |teams: &str, targets: &str| {
        std::fs::write(d.join("t.csv"), teams).unwrap();
        std::fs::write(d.join("g.csv"), targets).unwrap();
        mixcast(&[
            "credit",
            "--attribution",
            &a,
            "--teams",
            d.join("t.csv").to_str().unwrap(),
            "--targets",
            d.join("g.csv").to_str().unwrap(),
        ])
    };
    user_error(
        &run("team,channel\na,search\nb,search\n", "team,target\na,1\n"),
        &["t.csv", "row 3", "already given to team `a`"],
    );
    user_error(
        &run("team,chan\na,search\n", "team,target\na,1\n"),
        &["t.csv", "channel"],
    );
    user_error(
        &run("team,channel\na,search\n", "team,target\na,-1\n"),
        &["g.csv", "row 2", "target"],
    );
    user_error(
        &run("team,channel\na,search\n", "team,target\nzz,3\n"),
        &["zz"],
    );
}
