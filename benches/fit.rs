//! Fit benchmarks on the reference shape: 156 weeks, 5 channels, 13-week holdout,
//! 5% noise. `with_intervals_200_draws` is the fast job (8 restarts + 200 bootstrap refits),
//! `nuts_4_chains_1000_draws` the bayes job (the same optimum, then 4 chains × (1000 warm-up
//! + 1000 draws) of NUTS).

use criterion::{criterion_group, criterion_main, Criterion};
use mixcast::{fit, simulate, FitOptions, SimConfig, ValidSpec};

fn setup() -> (ValidSpec, mixcast::Dataset, tempfile::TempDir) {
    let sim = simulate(&SimConfig {
        noise: 0.05,
        seed: 1,
        ..Default::default()
    });
    let dir = tempfile::tempdir().expect("temp dir");
    let (spec, ds) = sim.load_from(dir.path()).expect("simulation");
    (spec, ds, dir)
}

fn bench_fit(c: &mut Criterion) {
    let (spec, ds, _dir) = setup();
    let mut g = c.benchmark_group("fit_156w_5ch");
    g.sample_size(10);
    g.bench_function("point_estimate", |b| {
        b.iter(|| {
            let opts = FitOptions {
                holdout: 13,
                seed: 1,
                draws: Some(0),
                ..Default::default()
            };
            fit(&spec, ds.clone(), &opts).expect("fit")
        })
    });
    g.bench_function("with_intervals_200_draws", |b| {
        b.iter(|| {
            let opts = FitOptions {
                holdout: 13,
                seed: 1,
                draws: Some(200),
                ..Default::default()
            };
            fit(&spec, ds.clone(), &opts).expect("fit")
        })
    });
    g.bench_function("nuts_4_chains_1000_draws", |b| {
        b.iter(|| {
            let opts = FitOptions {
                holdout: 13,
                seed: 1,
                method: Some(mixcast::spec::FitMethod::Bayes),
                ..Default::default()
            };
            fit(&spec, ds.clone(), &opts).expect("fit")
        })
    });
    g.finish();
}

/// Geo panels (per-capita broad simulator, 5 channels, 156 weeks, 5% noise): the fast job
/// on 20 geos, and — with `MIXCAST_BENCH_GEO50=1`, since ten samples take about twenty
/// minutes — NUTS at defaults on 50 geos (the issue's < 2 min target).
fn bench_geo(c: &mut Criterion) {
    let panel = |geos: usize| {
        let mut cfg = SimConfig::broad(3, 0.05, geos);
        cfg.channels = 5;
        let dir = tempfile::tempdir().expect("temp dir");
        let (spec, ds) = simulate(&cfg).load_from(dir.path()).expect("simulation");
        (spec, ds, dir)
    };
    let mut g = c.benchmark_group("fit_geo_156w_5ch");
    g.sample_size(10);
    let (spec, ds, _d20) = panel(20);
    g.bench_function("geo20_with_intervals_200_draws", |b| {
        b.iter(|| {
            let opts = FitOptions {
                holdout: 13,
                seed: 1,
                ..Default::default()
            };
            fit(&spec, ds.clone(), &opts).expect("fit")
        })
    });
    if std::env::var("MIXCAST_BENCH_GEO50").is_ok_and(|v| v == "1") {
        let (spec, ds, _d50) = panel(50);
        g.bench_function("geo50_nuts_4_chains_1000_draws", |b| {
            b.iter(|| {
                let opts = FitOptions {
                    holdout: 0,
                    seed: 1,
                    method: Some(mixcast::spec::FitMethod::Bayes),
                    ..Default::default()
                };
                fit(&spec, ds.clone(), &opts).expect("fit")
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench_fit, bench_geo);
criterion_main!(benches);
