//! Helpers shared by the CLI tests: run the binary, expect success with JSON, or expect
//! a user error (exit 2) naming the culprit.
#![allow(dead_code)]

use std::process::Output;

/// Assert the command succeeded (showing its stderr if not).
pub fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Assert success and parse stdout as JSON.
pub fn ok_json(out: &Output) -> serde_json::Value {
    ok(out);
    serde_json::from_slice(&out.stdout).expect("stdout is JSON")
}

/// Assert exit code 2 (no panic) and that stderr names every needle.
pub fn user_error(out: &Output, needles: &[&str]) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    for n in needles {
        assert!(err.contains(n), "stderr lacks `{n}`: {err}");
    }
}
