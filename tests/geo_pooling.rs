//! Geo panels: the population column (per-capita media, Meridian's convention), partial
//! pooling of geo effects, per-geo summaries, and bad population data.

mod common;

use common::{mixcast, user_error};
use mixcast::{fit, load_dataset, simulate, Dataset, FitOptions, SimConfig, Simulation, ValidSpec};

/// Two geos of equal population with different spend per capita: the scales follow the
/// per-capita convention by hand — the KPI effect scale is `κ · pop_g` with
/// κ = Σ_g mean KPI_g / Σ_g pop_g, and the input scale is `s · pop_g` with `s` the mean
/// non-zero spend per capita over both geos.
#[test]
fn population_sets_per_capita_scales() {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("date,geo,kpi,tv,pop\n");
    let start = chrono::NaiveDate::from_ymd_opt(2022, 1, 3).unwrap();
    let (mut kpi_a, mut kpi_b) = (0.0, 0.0);
    let (mut base_a, mut base_b) = (0.0, 0.0);
    let (mut pc, mut n_pc) = (0.0, 0);
    for t in 0..60 {
        let d = start + chrono::Duration::weeks(t);
        let on = t % 3 != 0;
        let (sa, sb) = if on { (10.0, 30.0) } else { (0.0, 0.0) };
        let a = 1000.0 + 5.0 * (t as f64).sin() + 0.5 * sa;
        let b = 3000.0 + 5.0 * (t as f64).cos() + 0.5 * sb;
        kpi_a += a;
        kpi_b += b;
        base_a += 1000.0 + 5.0 * (t as f64).sin();
        base_b += 3000.0 + 5.0 * (t as f64).cos();
        if on {
            pc += sa / 100.0 + sb / 100.0;
            n_pc += 2;
        }
        csv.push_str(&format!("{d},A,{a},{sa},100\n{d},B,{b},{sb},100\n"));
    }
    std::fs::write(dir.path().join("d.csv"), csv).unwrap();
    std::fs::write(
        dir.path().join("s.toml"),
        "name = \"pc\"\n[data]\npath = \"d.csv\"\nkpi = \"kpi\"\ngeo_column = \"geo\"\npopulation_column = \"pop\"\n\n[[channels]]\nname = \"tv\"\nspend = \"tv\"\n",
    )
    .unwrap();
    let spec = ValidSpec::load(&dir.path().join("s.toml")).unwrap();
    let ds = load_dataset(&spec).unwrap();
    assert_eq!(ds.population, Some(vec![100.0, 100.0]));
    let m = fit(
        &spec,
        ds,
        &FitOptions {
            draws: Some(0),
            ..Default::default()
        },
    )
    .unwrap();
    let kappa = (kpi_a / 60.0 + kpi_b / 60.0) / 200.0;
    for g in 0..2 {
        assert!((m.effect_scale[g] - 100.0 * kappa).abs() < 1e-9 * kappa);
        let s = pc / n_pc as f64;
        assert!((m.channels[0].input_scale[g] - 100.0 * s).abs() < 1e-12);
    }
    // The baseline is measured in units of each geo's own baseline level (its KPI
    // without media: 1000 and 3000 plus the wiggle), not its KPI mean.
    for (g, base) in [base_a, base_b].iter().enumerate() {
        let level = base / 60.0;
        let err = (m.kpi_scale[g] / level - 1.0).abs();
        assert!(
            err < 2e-3,
            "geo {g}: scale {} vs level {level}",
            m.kpi_scale[g]
        );
    }
    assert!(m.kpi_scale[0] < kpi_a / 60.0 - 2.0);
}

/// On a per-capita panel with heterogeneous geo effects (log sd 0.3), partial pooling
/// recovers each geo's factor for the largest channel, its spread, and the per-geo
/// summaries add up to the national figures.
#[test]
fn geo_effects_track_the_truth() {
    let mut cfg = SimConfig::broad(5, 0.02, 12);
    cfg.truth.geo_effect_sd = 0.3;
    let sim = simulate(&cfg);
    let dir = tempfile::tempdir().unwrap();
    let (spec, ds) = sim.load_from(dir.path()).unwrap();
    assert!(ds.population.is_some());
    let m = fit(
        &spec,
        ds,
        &FitOptions {
            holdout: 13,
            seed: 2,
            draws: Some(30),
            ..Default::default()
        },
    )
    .unwrap();
    let c = (0..sim.truth.channels.len())
        .max_by(|a, b| {
            let ca = sim.truth.channels[*a].contribution;
            ca.total_cmp(&sim.truth.channels[*b].contribution)
        })
        .unwrap();
    let est = &m.point.channels[c].geo_effect;
    let tru = &sim.truth.channels[c].geo_effect;
    assert_eq!(est.len(), 12);
    let corr = correlation(est, tru);
    assert!(
        corr > 0.7,
        "geo factors of the largest channel: correlation {corr}"
    );
    let tau = m.geo_spread[c];
    assert!(
        (0.15..0.6).contains(&tau),
        "estimated spread {tau} for a true 0.3"
    );
    let s = mixcast::summarize(&m);
    assert_eq!(s.by_geo.len(), 12);
    for (k, ch) in s.channels.iter().enumerate() {
        let total: f64 = s.by_geo.iter().map(|g| g.channels[k].contribution).sum();
        assert!((total - ch.contribution).abs() <= 1e-6 * ch.contribution.abs().max(1.0));
    }
    // Each geo's ROI relative to the national one: the pooling's own job, apart from
    // the national level (which the broad recovery study judges).
    let nat = s.channels[c].roi.unwrap();
    let true_nat = sim.truth.channels[c].roi;
    let err: f64 = s
        .by_geo
        .iter()
        .zip(&sim.truth.channels[c].geo_roi)
        .map(|(g, t)| {
            ((g.channels[c].roi.unwrap() / nat) / (t / true_nat))
                .ln()
                .abs()
        })
        .sum::<f64>()
        / 12.0;
    assert!(
        err < 0.1,
        "mean |log| error of geo ROI relative to national: {err}"
    );
}

fn correlation(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}

/// A non-positive population names its row and column; a missing population column names
/// the spec key.
#[test]
fn bad_population_is_a_named_error() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = mixcast(&[
        "simulate",
        "--geos",
        "3",
        "--broad",
        "--weeks",
        "60",
        "--out",
        d.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let data = std::fs::read_to_string(d.join("data.csv")).unwrap();
    let mut lines: Vec<String> = data.lines().map(String::from).collect();
    let row = lines[5].rsplit_once(',').unwrap().0.to_string();
    lines[5] = format!("{row},0");
    std::fs::write(d.join("data.csv"), lines.join("\n") + "\n").unwrap();
    let spec = d.join("spec.toml");
    let out = mixcast(&[
        "fit",
        spec.to_str().unwrap(),
        "--out",
        d.join("m").to_str().unwrap(),
    ]);
    user_error(
        &out,
        &["row 6", "population", "population must be positive"],
    );
    let text = std::fs::read_to_string(&spec).unwrap().replace(
        "population_column = \"population\"",
        "population_column = \"people\"",
    );
    std::fs::write(&spec, text).unwrap();
    let out = mixcast(&[
        "fit",
        spec.to_str().unwrap(),
        "--out",
        d.join("m").to_str().unwrap(),
    ]);
    user_error(&out, &["data.population_column", "people"]);
}

/// Each channel's relative ROI error `|ROI / true ROI − 1|` of a point fit of `spec` on a
/// broad simulation (13 holdout weeks, as the truth's window; no draws).
fn roi_errors(sim: &Simulation, spec: &ValidSpec, ds: Dataset, seed: u64) -> Vec<f64> {
    let m = fit(
        spec,
        ds,
        &FitOptions {
            holdout: 13,
            seed,
            draws: Some(0),
            ..Default::default()
        },
    )
    .unwrap();
    mixcast::summarize(&m)
        .channels
        .iter()
        .zip(&sim.truth.channels)
        .map(|(est, t)| (est.roi.unwrap() / t.roi - 1.0).abs())
        .collect()
}

/// With the true curve shapes and no noise, the geo model must reproduce the simulator's
/// channel ROIs (oracle ROI MAPE under 1%; 2% for additive baselines): a heterogeneous per-capita panel (geo effects, spend per
/// capita and baseline per capita all differ by geo, the baseline multiplicative or
/// additive per capita) is inside the model's family. Before the
/// baseline levels and the centred geo stage, this oracle missed by 8% MAPE at zero
/// noise: the misfit was the model's, not the data's.
#[test]
fn the_oracle_is_exact_on_noiseless_geo_panels() {
    // Multiplicative baselines (swings follow each geo's level) and additive per-capita
    // ones (swings follow population, Meridian's form).
    for (seed, additive) in [(2, false), (4, false), (2, true), (5, true)] {
        let mut cfg = SimConfig::broad(seed, 0.0, 20);
        cfg.truth.additive_baseline = additive;
        let sim = simulate(&cfg);
        let dir = tempfile::tempdir().unwrap();
        let (spec, ds) = sim.load_from(dir.path()).unwrap();
        let mut oracle = sim.truth.oracle_spec(spec.spec());
        oracle.fit.media_share_prior = 0.0;
        let oracle = spec.with_spec(oracle).unwrap();
        let errs = roi_errors(&sim, &oracle, ds, FitOptions::default().seed);
        let mape = errs.iter().sum::<f64>() / errs.len() as f64;
        // The additive form is reached through a damped, shrunk swing estimate (see
        // `geo::baseline_scales`), so it is close rather than exact.
        let limit = if additive { 0.02 } else { 0.01 };
        assert!(
            mape < limit,
            "seed {seed} additive {additive}: oracle ROI MAPE {mape} ({errs:?})"
        );
    }
}

/// The estimator itself (free curve shapes, default priors) on two 20-geo panels where
/// the search used to fail: seed 16 at 2% noise, where every multi-start L-BFGS run
/// stopped after one step and the fit kept a start 775 nats above the optimum (display
/// ROI 2.29 against 0.93, search 0.07 against 0.33), and seed 7 without noise (radio 0.68
/// against 0.46). Both now recover every channel's ROI closely.
#[test]
fn the_estimator_finds_the_optimum_on_geo_panels() {
    for (seed, noise, limit) in [(16, 0.02, 0.1), (7, 0.0, 0.05)] {
        let sim = simulate(&SimConfig::broad(seed, noise, 20));
        let dir = tempfile::tempdir().unwrap();
        let (spec, ds) = sim.load_from(dir.path()).unwrap();
        let errs = roi_errors(&sim, &spec, ds, seed);
        let mape = errs.iter().sum::<f64>() / errs.len() as f64;
        let worst = errs.iter().copied().fold(0.0, f64::max);
        assert!(
            mape < limit && worst < 3.0 * limit,
            "seed {seed} noise {noise}: ROI MAPE {mape}, worst {worst} ({errs:?})"
        );
    }
}
