//! Recovery on the project's simulator (156 weeks, 5 channels, 13-week holdout, seeds
//! 1..=5), judged against the truth and against the oracle (true transforms pinned, linear
//! part by least squares). Targets from issue #3.

use mixcast::recovery::{run_study, StudyConfig};

fn check(noise: f64) {
    let r = run_study(&StudyConfig {
        noise,
        seeds: 5,
        draws: 200,
        ..Default::default()
    })
    .expect("study runs");
    eprintln!("{}", serde_json::to_string_pretty(&r).unwrap());
    assert!(
        r.roi_mape <= 1.2 * r.oracle_roi_mape,
        "ROI MAPE {:.3} > 1.2 × oracle {:.3}",
        r.roi_mape,
        r.oracle_roi_mape
    );
    assert!(
        r.coverage >= 0.8,
        "90% ROI interval coverage {:.2} < 0.8",
        r.coverage
    );
    assert!(
        r.mean_relative_width < 2.0,
        "intervals are uselessly wide: mean width {:.2} × true ROI",
        r.mean_relative_width
    );
    assert!(
        r.share_error <= r.oracle_share_error + 0.01,
        "media share error {:.4} > oracle {:.4} + 1pp",
        r.share_error,
        r.oracle_share_error
    );
    assert!(
        r.holdout_mape <= 1.5 * noise,
        "holdout MAPE {:.4} > 1.5 × noise {noise}",
        r.holdout_mape
    );
}

#[test]
fn recovery_at_2_percent_noise() {
    check(0.02);
}

#[test]
fn recovery_at_5_percent_noise() {
    check(0.05);
}
