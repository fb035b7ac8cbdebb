//! `mixcast report`: one self-contained HTML file with charts, and it renders in headless
//! Chromium (required under CI, where `.ci/run` installs Chromium and sets
//! `MIXCAST_REQUIRE_BROWSER=1`; skipped with a notice elsewhere when no browser exists).

mod common;

use common::{mixcast, ok, simulate_and_fit, user_error};

/// A fitted simulated model (with `geos`) and its report with a recommendation.
fn report(dir: &std::path::Path, geos: &str) -> String {
    let model = simulate_and_fit(dir, &["--geos", geos, "--weeks", "104"], "30");
    let out = dir.join("report.html");
    ok(&mixcast(&[
        "report",
        &model,
        "--out",
        out.to_str().unwrap(),
        "--budget",
        "1000000",
    ]));
    std::fs::read_to_string(out).unwrap()
}

#[test]
fn report_is_self_contained_with_charts() {
    let dir = tempfile::tempdir().unwrap();
    let html = report(dir.path(), "1");
    assert!(html.len() < 5 * 1024 * 1024, "{} bytes", html.len());
    let charts = html.matches("<svg").count();
    assert!(charts >= 6, "{charts} charts");
    for remote in [
        "<script",
        "src=\"http",
        "href=\"http",
        "@import",
        "url(http",
    ] {
        assert!(!html.contains(remote), "remote asset or script: {remote}");
    }
    for section in [
        "Headline findings",
        "Actual vs fitted",
        "Decomposition over time",
        "Contribution waterfall",
        "ROI by channel",
        "Spend share vs effect share",
        "Response curves",
        "Adstock shapes",
        "Recommendation vs the current plan",
        "better in",
    ] {
        assert!(html.contains(section), "missing {section}");
    }
    // The numbers in the channel table are the summary's.
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("fit/summary.json")).unwrap())
            .unwrap();
    for c in summary["channels"].as_array().unwrap() {
        assert!(html.contains(&format!("<td>{}</td>", c["name"].as_str().unwrap())));
    }
}

#[test]
fn geo_models_get_a_section_per_geo() {
    let dir = tempfile::tempdir().unwrap();
    let html = report(dir.path(), "3");
    assert!(html.contains("By geo"));
    let per_geo = html.matches(": actual vs fitted").count();
    assert_eq!(per_geo, 3);
}

#[test]
fn bad_report_inputs_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let bad = d.join("model.json");
    std::fs::write(&bad, "{\"schema_version\": 1}").unwrap();
    user_error(
        &mixcast(&[
            "report",
            bad.to_str().unwrap(),
            "--out",
            d.join("r.html").to_str().unwrap(),
        ]),
        &["model.json"],
    );
    assert!(!d.join("r.html").exists());
}

/// The first Chromium-family browser on PATH.
fn browser() -> Option<String> {
    [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ]
    .into_iter()
    .find(|b| {
        std::process::Command::new(b)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })
    .map(str::to_string)
}

#[test]
fn report_renders_in_chromium() {
    let Some(browser) = browser() else {
        assert!(
            std::env::var_os("MIXCAST_REQUIRE_BROWSER").is_none(),
            "MIXCAST_REQUIRE_BROWSER is set but no Chromium is installed"
        );
        eprintln!("notice: no Chromium on PATH; the browser test is skipped");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    report(dir.path(), "1");
    let page = format!("file://{}", dir.path().join("report.html").display());
    let shots = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let shot = shots.join("report.png");
    let _ = std::fs::remove_file(&shot);
    let profile = dir.path().join("profile");
    let common = [
        "--headless".to_string(),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        format!("--user-data-dir={}", profile.display()),
    ];
    let out = std::process::Command::new(&browser)
        .args(&common)
        .args([
            format!("--screenshot={}", shot.display()),
            "--window-size=1100,4000".into(),
            page.clone(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let size = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
    assert!(
        size > 50_000,
        "screenshot {} is {size} bytes",
        shot.display()
    );
    // The browser parsed the page: its DOM holds the charts.
    let dom = std::process::Command::new(&browser)
        .args(&common)
        .args(["--dump-dom".to_string(), page])
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(dom.matches("<svg").count() >= 6, "DOM lacks the charts");
    eprintln!("screenshot: {}", shot.display());
}
