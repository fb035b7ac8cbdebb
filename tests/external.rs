//! Datasets shaped by other tools (Meta Robyn's and Google Meridian's demo data, shipped in
//! ../shared/data/external): the shipped specs load and fit, give plausible results, and
//! two seeds agree (same point estimate; intervals overlap).

use std::path::{Path, PathBuf};

use mixcast::{fit_spec_file, summarize, FitOptions, Summary};

fn spec(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("models")
        .join(name)
}

fn data_present(spec: &Path) -> bool {
    let s = mixcast::ValidSpec::load(spec).expect("shipped spec parses");
    let ok = s.data_path().exists();
    if !ok {
        eprintln!(
            "skipping: {} not found (shared/ is not beside the repo)",
            s.data_path().display()
        );
    }
    ok
}

fn run(name: &str, seed: u64, draws: usize) -> Summary {
    let m = fit_spec_file(
        &spec(name),
        &FitOptions {
            seed,
            draws: Some(draws),
            ..Default::default()
        },
        &mixcast::observe::Silent,
    )
    .unwrap_or_else(|e| panic!("{name}: {e}"));
    summarize(&m)
}

fn plausible_and_stable(name: &str, draws: usize, min_r2: f64) {
    if !data_present(&spec(name)) {
        return;
    }
    let a = run(name, 1, draws);
    let b = run(name, 2, draws);
    assert!(a.fit.r2 > min_r2, "{name}: R² {}", a.fit.r2);
    assert!(
        a.media_share > 0.01 && a.media_share < 0.9,
        "{name}: media share {}",
        a.media_share
    );
    for (x, y) in a.channels.iter().zip(&b.channels) {
        assert!(x.contribution >= 0.0 && x.contribution.is_finite());
        let rel = (x.contribution - y.contribution).abs() / x.contribution.abs().max(1.0);
        assert!(
            rel < 1e-4,
            "{name}/{}: point estimate depends on the seed (beyond optimiser tolerance)",
            x.name
        );
        let (ia, ib) = (x.contribution_interval, y.contribution_interval);
        assert!(
            ia[0] <= ib[1] && ib[0] <= ia[1],
            "{name}/{}: intervals disagree",
            x.name
        );
        if x.paid {
            assert!(x.roi.is_some() && x.mroi.is_some());
        } else {
            assert!(x.roi.is_none(), "organic channel has no ROI");
        }
    }
}

#[test]
fn robyn_demo_fits() {
    plausible_and_stable("robyn.toml", 50, 0.8);
    if data_present(&spec("robyn.toml")) {
        let s = run("robyn.toml", 1, 0);
        assert_eq!(s.fit_periods, 157, "Robyn's window 2016-01-04..2018-12-31");
        assert!(s.channels.iter().any(|c| c.name == "newsletter" && !c.paid));
    }
}

#[test]
fn meridian_national_fits() {
    plausible_and_stable("meridian_national.toml", 50, 0.2);
    if data_present(&spec("meridian_national.toml")) {
        let s = run("meridian_national.toml", 1, 0);
        assert!(s
            .channels
            .iter()
            .filter(|c| c.paid)
            .all(|c| c.cpa.is_some() && c.revenue_roi.is_some()));
    }
}

#[test]
fn meridian_geo_fits() {
    plausible_and_stable("meridian_geo.toml", 10, 0.5);
}
