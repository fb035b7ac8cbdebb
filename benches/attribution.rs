//! Attribution benchmarks: an aggregated paths CSV with 940k unique paths through
//! Markov order 1 (parsing included), and 1M simulated journeys from events CSV to
//! Markov order 1 and to Shapley; `combine` of a 10-channel model with that attribution.
//! The 10M-journey run is `benches/attribution_scale.rs`.

use criterion::{criterion_group, criterion_main, Criterion};
use mixcast::attribution::events::{read_events, JourneyOptions};
use mixcast::attribution::simulate::{simulate_journeys, write_random_paths, JourneyConfig};
use mixcast::attribution::{attribute, markov, read_paths_csv, Model, ModelSettings, ReadOptions};

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let paths = dir.path().join("random_paths.csv");
    write_random_paths(&paths, 940_000, 5).expect("paths");
    simulate_journeys(&JourneyConfig::standard(1_000_000, 1), dir.path()).expect("journeys");
    let (ev, cv) = (
        dir.path().join("events.csv"),
        dir.path().join("conversions.csv"),
    );

    let mut g = c.benchmark_group("attribution");
    g.sample_size(10);
    g.bench_function("paths_940k_unique_markov1_incl_parse", |b| {
        b.iter(|| {
            let t = read_paths_csv(&paths, ReadOptions::default()).expect("read");
            markov::removal_effects(&t, 1)
        })
    });
    g.bench_function("events_1m_journeys_markov1_incl_parse", |b| {
        b.iter(|| {
            let t = read_events(&ev, &cv, JourneyOptions::default()).expect("read");
            markov::removal_effects(&t, 1)
        })
    });
    let t = read_events(&ev, &cv, JourneyOptions::default()).expect("read");
    let s = ModelSettings::default();
    g.bench_function("shapley_1m_journeys_table", |b| {
        b.iter(|| attribute(&t, &[Model::Shapley], &s).expect("shapley"))
    });
    g.bench_function("all_rule_models_1m_journeys_table", |b| {
        let models: Vec<Model> = mixcast::attribution::MODEL_NAMES[..7]
            .iter()
            .map(|m| Model::parse(m, &s).expect("model"))
            .collect();
        b.iter(|| attribute(&t, &models, &s).expect("rules"))
    });
    // `combine` on a 10-channel model with this 1M-journey attribution report.
    let report = attribute(&t, &[Model::Shapley, Model::Last], &s).expect("report");
    let sim = mixcast::simulate(&mixcast::SimConfig {
        channels: 10,
        ..Default::default()
    });
    let (spec, ds) = sim.load_from(&dir.path().join("sim10")).expect("sim");
    let model = mixcast::fit(
        &spec,
        ds,
        &mixcast::FitOptions {
            holdout: 13,
            draws: Some(200),
            ..Default::default()
        },
    )
    .expect("fit");
    let req = mixcast::combine::CombineRequest {
        map: None,
        experiments: Vec::new(),
        reference: None,
    };
    g.bench_function("combine_10ch_model_1m_journeys", |b| {
        b.iter(|| mixcast::combine::combine(&model, &report, &req).expect("combine"))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
