//! Server benchmarks: one scenario and one optimize request over a keep-alive loopback
//! connection to the in-process API (5-channel simulated model, 200 draws, 13 periods).
//! The 10k-request load test is `tests/serve.rs::load_10k_scenarios_32_connections`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};

fn post(s: &mut BufReader<TcpStream>, path: &str, body: &str) -> u16 {
    let msg = format!(
        "POST {path} HTTP/1.1\r\nhost: bench\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    s.get_mut().write_all(msg.as_bytes()).expect("write");
    let (mut status, mut len) = (0, 0usize);
    let mut line = String::new();
    loop {
        line.clear();
        s.read_line(&mut line).expect("read");
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some(code) = l.strip_prefix("HTTP/1.1 ") {
            status = code[..3].parse().unwrap_or(0);
        } else if let Some((k, v)) = l.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut buf = vec![0; len];
    s.read_exact(&mut buf).expect("body");
    status
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("dir");
    let sim = mixcast::simulate(&mixcast::SimConfig::default());
    let (spec, ds) = sim.load_from(&dir.path().join("sim")).expect("sim");
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
    let models = dir.path().join("models");
    std::fs::create_dir_all(models.join("sim")).expect("mkdir");
    mixcast::io::write_json(&models.join("sim/model.json"), &model).expect("model");
    let store = Arc::new(mixcast::serve::Store::new(&models).expect("store"));
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let log: mixcast::serve::Logger = Arc::new(|_| {});
    rt.spawn(mixcast::serve::serve(listener, store, log));
    let conn = TcpStream::connect(addr).expect("connect");
    conn.set_nodelay(true).expect("nodelay");
    let mut s = BufReader::new(conn);
    let mut g = c.benchmark_group("server");
    g.bench_function("scenario_request_13_periods_200_draws", |b| {
        b.iter(|| {
            let st = post(
                &mut s,
                "/api/v1/models/sim/scenario",
                r#"{"totals": {"tv": 100000, "search": 50000}, "horizon": 13}"#,
            );
            assert_eq!(st, 200);
        })
    });
    g.sample_size(20);
    g.bench_function("optimize_request_13_periods_200_draws", |b| {
        b.iter(|| {
            let st = post(
                &mut s,
                "/api/v1/models/sim/optimize",
                r#"{"budget": 1000000, "horizon": 13}"#,
            );
            assert_eq!(st, 200);
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
