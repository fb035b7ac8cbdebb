//! Recovery study: estimator vs oracle on simulated data.
//! `cargo run --release --example recovery -- NOISE SEEDS [DRAWS]`

use mixcast::analysis::summarize;
use mixcast::{fit, load_dataset, simulate, FitOptions, LoadedSpec, SimConfig};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let noise: f64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(0.05);
    let seeds: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5);
    let draws: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(100);
    let (mut e_est, mut e_or, mut cover, mut n, mut width) = (0.0, 0.0, 0, 0, 0.0);
    let (mut e_med, mut e_mean) = (0.0, 0.0);
    let (mut sh_est, mut sh_or, mut ho) = (0.0, 0.0, 0.0);
    for seed in 1..=seeds {
        let sim = simulate(&SimConfig {
            noise,
            seed,
            ..Default::default()
        });
        let dir = std::env::temp_dir().join(format!("mixcast-recovery-{seed}-{noise}"));
        sim.write(&dir).unwrap();
        let mut spec = LoadedSpec::load(&dir.join("spec.toml")).unwrap();
        let mode = std::env::var("MODE").unwrap_or_default();
        if let Ok(r) = std::env::var("RATIO") {
            spec.spec.fit.roi_prior_sd_ratio = r.parse().unwrap();
        }
        if let Ok(r) = std::env::var("SHARE") {
            spec.spec.fit.media_share_prior = r.parse().unwrap();
        }
        if let Ok(r) = std::env::var("RESTARTS") {
            spec.spec.fit.restarts = r.parse().unwrap();
        }
        for (c, t) in spec.spec.channels.iter_mut().zip(&sim.truth.channels) {
            if mode == "decay" {
                c.decay = Some([t.decay, t.decay]);
            }
            if mode == "sat" {
                c.half_saturation = Some([t.half_saturation, t.half_saturation]);
                c.slope = Some([t.slope, t.slope]);
            }
            if mode == "k" {
                c.half_saturation = Some([t.half_saturation, t.half_saturation]);
            }
            if mode == "s" {
                c.slope = Some([t.slope, t.slope]);
            }
        }
        let ds = load_dataset(&spec).unwrap();
        let t = std::time::Instant::now();
        let m = fit(
            &spec,
            ds.clone(),
            &FitOptions {
                holdout: 13,
                seed,
                draws: Some(draws),
                progress: false,
            },
        )
        .unwrap();
        let secs = t.elapsed().as_secs_f64();
        let s = summarize(&m);
        let mut oracle = LoadedSpec {
            spec: sim.truth.oracle_spec(&spec.spec),
            path: spec.path.clone(),
        };
        if std::env::var("ORACLE_PRIOR").is_err() {
            oracle.spec.fit.media_share_prior = 0.0;
        }
        let mo = fit(
            &oracle,
            ds,
            &FitOptions {
                holdout: 13,
                seed,
                draws: Some(0),
                progress: false,
            },
        )
        .unwrap();
        let so = summarize(&mo);
        let mut line = String::new();
        let dm: Vec<Vec<f64>> = m
            .draws
            .iter()
            .map(|d| {
                mixcast::channel_metrics(&m, d)
                    .iter()
                    .map(|x| x.roi().unwrap())
                    .collect()
            })
            .collect();
        for (c, tr) in sim.truth.channels.iter().enumerate() {
            if dm.is_empty() {
                break;
            }
            let v: Vec<f64> = dm.iter().map(|d| d[c]).collect();
            let med = mixcast::analysis::quantile(&v, 0.5);
            let mean = v.iter().sum::<f64>() / v.len() as f64;
            e_med += (med - tr.roi).abs() / tr.roi;
            e_mean += (mean - tr.roi).abs() / tr.roi;
        }
        for ((c, o), tr) in s.channels.iter().zip(&so.channels).zip(&sim.truth.channels) {
            let r = c.roi.unwrap();
            let iv = c.roi_interval.unwrap();
            e_est += (r - tr.roi).abs() / tr.roi;
            e_or += (o.roi.unwrap() - tr.roi).abs() / tr.roi;
            if iv[0] <= tr.roi && tr.roi <= iv[1] {
                cover += 1;
            }
            width += (iv[1] - iv[0]) / tr.roi;
            n += 1;
            line += &format!(
                " {}:{:.2}/{:.2}/{:.2}[{:.2},{:.2}]",
                c.name,
                tr.roi,
                r,
                o.roi.unwrap(),
                iv[0],
                iv[1]
            );
        }
        sh_est += (s.media_share - sim.truth.media_share).abs();
        sh_or += (so.media_share - sim.truth.media_share).abs();
        ho += s.holdout.as_ref().unwrap().mape;
        println!(
            "seed {seed} ({secs:.2}s) share {:.3}/{:.3}/{:.3}{line}",
            sim.truth.media_share, s.media_share, so.media_share
        );
    }
    let nf = n as f64;
    println!(
        "bagged: median {:.1}% mean {:.1}%",
        100.0 * e_med / n as f64,
        100.0 * e_mean / n as f64
    );
    println!(
        "noise {noise}: ROI MAPE est {:.1}% oracle {:.1}% | coverage {:.0}% width {:.2} | share err est {:.2}pp oracle {:.2}pp | holdout MAPE {:.2}%",
        100.0 * e_est / nf, 100.0 * e_or / nf, 100.0 * cover as f64 / nf, width / nf,
        100.0 * sh_est / seeds as f64, 100.0 * sh_or / seeds as f64, 100.0 * ho / seeds as f64
    );
}
