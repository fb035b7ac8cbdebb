//! Geo panels, piecewise trend and holidays: the panel fit recovers ROI within its
//! intervals' reach and every baseline feature shows up in the decomposition.

use mixcast::{fit, load_dataset, simulate, FitOptions, SimConfig, ValidSpec};

#[test]
fn geo_panel_with_piecewise_trend_and_holidays() {
    let sim = simulate(&SimConfig {
        geos: 6,
        seed: 3,
        noise: 0.05,
        ..Default::default()
    });
    let dir = tempfile::tempdir().unwrap();
    sim.write(dir.path()).unwrap();
    std::fs::write(
        dir.path().join("hol.csv"),
        "date,holiday\n2021-12-25,christmas\n2022-12-25,christmas\n2021-11-26,black_friday\n",
    )
    .unwrap();
    let spec_path = dir.path().join("spec.toml");
    let text = std::fs::read_to_string(&spec_path).unwrap().replace(
        "trend = \"linear\"",
        "trend = \"piecewise\"\nchangepoints = 3\nholidays = \"hol.csv\"",
    );
    std::fs::write(&spec_path, text).unwrap();
    let spec = ValidSpec::load(&spec_path).unwrap();
    let ds = load_dataset(&spec).unwrap();
    assert_eq!(ds.n_geos(), 6);
    assert_eq!(ds.holidays.len(), 2);
    let m = fit(
        &spec,
        ds,
        &FitOptions {
            holdout: 13,
            seed: 1,
            draws: Some(40),
            ..Default::default()
        },
    )
    .unwrap();
    let names: Vec<&str> = m.baseline.columns.iter().map(|c| c.name.as_str()).collect();
    assert!(names.contains(&"changepoint3") && names.contains(&"holiday:christmas"));
    let s = mixcast::summarize(&m);
    assert_eq!(s.geos, 6);
    let mape: f64 = s
        .channels
        .iter()
        .zip(&sim.truth.channels)
        .map(|(c, t)| (c.roi.unwrap() - t.roi).abs() / t.roi)
        .sum::<f64>()
        / 5.0;
    // One configuration: a loose accuracy bound plus intervals that mostly cover; the
    // broad geo study (`recovery --broad --geos 6`) judges the estimator.
    assert!(mape < 0.4, "geo panel ROI MAPE {mape}");
    let covered = s
        .channels
        .iter()
        .zip(&sim.truth.channels)
        .filter(|(c, t)| {
            let [lo, hi] = c.roi_interval.unwrap();
            lo <= t.roi && t.roi <= hi
        })
        .count();
    assert!(
        covered >= 3,
        "only {covered} of 5 ROI intervals cover the truth"
    );
    assert!((s.media_share - sim.truth.media_share).abs() < 0.05);
    let d = mixcast::decompose(&m);
    assert!(d.components.iter().any(|c| c == "holidays"));
    assert_eq!(d.rows.len(), 6 * 156);
}
