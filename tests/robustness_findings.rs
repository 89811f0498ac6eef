//! Findings in code owned elsewhere, kept as failing regression tests until fixed. Each is
//! `#[ignore]`d with the finding; `cargo test -- --ignored` runs them.

use std::time::{Duration, Instant};

use assert_cmd::Command;

fn deltascope() -> Command {
    Command::cargo_bin("deltascope").unwrap()
}

/// `diff` (and `--compare`) compute the reference up to the last step the user's trace
/// names and keep every step's model and trace until the end: a trace naming step 99 999
/// of a 20-step scenario runs 100 000 steps (digit_classifier: 3.6 GB, 10 s in release; a
/// larger network runs out of memory). Minimal input: any scenario, and
/// `{"steps": [{"step": 99999, "loss": 1}]}`.
#[test]
#[ignore = "finding: src/diff keeps every reference step up to the step the user's trace names, \
            unbounded by the scenario's steps"]
fn a_trace_naming_a_step_past_the_scenario_is_refused_without_running_it() {
    let dir = tempfile::tempdir().unwrap();
    let mine = dir.path().join("mine.json");
    std::fs::write(&mine, r#"{"steps": [{"step": 99999, "loss": 1}]}"#).unwrap();
    let scenario = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/digit_classifier.json"
    );
    let start = Instant::now();
    let out = deltascope()
        .args(["diff", scenario])
        .arg(&mine)
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("steps[0].step"), "{stderr}");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}
