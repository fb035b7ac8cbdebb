//! Scale run (not criterion: one pass is ~10 s): 10M simulated journeys (with the fraud
//! patterns of `simulate-journeys --fraud`) from the events CSV to a Markov-order-1
//! result, through `fraud` and through `journeys`, each reporting wall time and peak
//! memory (VmHWM of a child process that does only the measured step).
//! `cargo bench --bench attribution_scale [-- JOURNEYS]`

use std::time::Instant;

use mixcast::attribution::events::{read_events, JourneyOptions};
use mixcast::attribution::markov;
use mixcast::attribution::simulate::{inject_fraud, simulate_journeys, FraudConfig, JourneyConfig};

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<f64>().ok())
            })
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

fn measure(dir: &std::path::Path, step: &str) {
    let (ev, cv) = (dir.join("events.csv"), dir.join("conversions.csv"));
    let t = Instant::now();
    match step {
        "fraud" => {
            let r = mixcast::attribution::fraud::detect(&ev, &cv, JourneyOptions::default(), false)
                .expect("fraud");
            let flagged: Vec<String> = r
                .flags
                .iter()
                .map(|f| {
                    format!(
                        "{}{}",
                        f.channel,
                        f.campaign
                            .as_deref()
                            .map(|c| format!("/{c}"))
                            .unwrap_or_default()
                    )
                })
                .collect();
            println!(
                "fraud on {} journeys, {} touches: {:.2}s; peak RSS {:.0} MB; flagged {}",
                r.journeys,
                r.touches,
                t.elapsed().as_secs_f64(),
                peak_rss_mb(),
                flagged.join(", ")
            );
            return;
        }
        "journeys" => {
            let r =
                mixcast::attribution::journeys::analyse(&ev, &cv, None, JourneyOptions::default())
                    .expect("journeys");
            println!(
                "journeys on {} journeys: {:.2}s; peak RSS {:.0} MB",
                r.segments[0].journeys,
                t.elapsed().as_secs_f64(),
                peak_rss_mb()
            );
            return;
        }
        _ => {}
    }
    let table = read_events(
        &dir.join("events.csv"),
        &dir.join("conversions.csv"),
        JourneyOptions::default(),
    )
    .expect("read");
    let read = t.elapsed().as_secs_f64();
    let r = markov::removal_effects(&table, 1);
    let total = t.elapsed().as_secs_f64();
    println!(
        "events CSV → journeys ({} unique paths): {read:.2}s; → Markov order 1: {total:.2}s total; peak RSS {:.0} MB",
        table.paths.len(),
        peak_rss_mb()
    );
    println!("conversion probability {:.5}", r.conversion_probability);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--measure") {
        measure(std::path::Path::new(&args[i + 1]), &args[i + 2]);
        return;
    }
    let journeys: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(10_000_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let t = Instant::now();
    let truth =
        simulate_journeys(&JourneyConfig::standard(journeys, 2), dir.path()).expect("simulate");
    println!(
        "simulated {journeys} journeys, {} touches in {:.1}s",
        truth.touches,
        t.elapsed().as_secs_f64()
    );
    inject_fraud(dir.path(), &FraudConfig::standard(2)).expect("fraud patterns");
    for step in ["markov", "fraud", "journeys"] {
        let status = std::process::Command::new(std::env::current_exe().expect("exe"))
            .arg("--measure")
            .arg(dir.path())
            .arg(step)
            .status()
            .expect("child");
        assert!(status.success());
    }
}
