//! Planning benchmarks on the shape: 10 channels, 13-week horizon, fixed budget
//! (the last 13 weeks' spend). The optimizer runs end to end (horizon preparation,
//! curve tabulation, grid programme, polish, dual bound, exact evaluation) on the point
//! estimate and on the mean over 1000 draws; scenarios forecast a plan on a prepared
//! horizon (and the preparation itself is timed separately).

use criterion::{criterion_group, criterion_main, Criterion};
use mixcast::optimize::{optimize, Planner, Request, RiskName};
use mixcast::scenario::{Flighting, Horizon, Plan};
use mixcast::{fit, simulate, FitOptions, Model, SimConfig};

fn model(draws: usize) -> Model {
    let sim = simulate(&SimConfig {
        channels: 10,
        noise: 0.03,
        holdout: 0,
        seed: 1,
        ..Default::default()
    });
    let dir = tempfile::tempdir().expect("temp dir");
    let (spec, ds) = sim.load_from(dir.path()).expect("simulation");
    let opts = FitOptions {
        holdout: 0,
        seed: 1,
        draws: Some(draws),
        ..Default::default()
    };
    fit(&spec, ds, &opts).expect("fit")
}

fn bench_plan(c: &mut Criterion) {
    let m1000 = model(1000);
    let mut point = m1000.clone();
    point.draws.clear();
    let h = 13;
    let budget: f64 = Planner::new(&point, h, false)
        .reference_spend()
        .iter()
        .sum();
    let mut g = c.benchmark_group("optimize_10ch_13w");
    g.sample_size(20);
    g.bench_function("point_estimate", |b| {
        let req = Request {
            risk: RiskName::Point,
            ..Request::fixed_budget(budget, h)
        };
        b.iter(|| optimize(&point, &req).expect("optimize"))
    });
    g.bench_function("mean_over_1000_draws", |b| {
        let req = Request::fixed_budget(budget, h);
        b.iter(|| optimize(&m1000, &req).expect("optimize"))
    });
    g.finish();

    let mut g = c.benchmark_group("scenario_10ch_13w");
    let m200 = {
        let mut m = m1000.clone();
        m.draws.truncate(200);
        m
    };
    let totals = Planner::new(&point, h, false).reference_spend();
    let plan = Plan::from_totals(&point, &totals, h, Flighting::Historical);
    let hp = Horizon::new(&point, h, 0);
    g.bench_function("forecast_point", |b| b.iter(|| hp.forecast(&plan)));
    let h200 = Horizon::new(&m200, h, 0);
    g.bench_function("forecast_200_draws", |b| b.iter(|| h200.forecast(&plan)));
    g.bench_function("prepare_horizon_200_draws", |b| {
        b.iter(|| Horizon::new(&m200, h, 0))
    });
    g.finish();
}

criterion_group!(benches, bench_plan);
criterion_main!(benches);
