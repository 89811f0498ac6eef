//! scenarios/diverging.json, whose loss goes to inf and then NaN, explored end to end:
//! `export`, `export --first-anomaly`, `check`, `replay` and the debugger's every frame of
//! every step all run to the end.

#[path = "../fuzz/src/harness.rs"]
mod harness;

use std::path::Path;

use assert_cmd::Command;
use deltascope::app::{Config, State};
use serde_json::Value;

const DIVERGING: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/diverging.json");

fn deltascope() -> Command {
    Command::cargo_bin("deltascope").unwrap()
}

fn stdout_of(args: &[&str]) -> String {
    let out = deltascope()
        .args(args)
        .assert()
        .success()
        .get_output()
        .clone();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn export_runs_every_step_and_writes_non_finite_values_as_strings() {
    let trace: Value = serde_json::from_str(&stdout_of(&["export", DIVERGING])).unwrap();
    let steps = trace["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 15);
    assert_eq!(steps[7]["loss"], "inf");
    assert_eq!(steps[9]["loss"], "NaN");
    assert_eq!(
        steps[14]["layers"][2]["a"],
        serde_json::json!(["NaN", "NaN"])
    );
}

#[test]
fn export_first_anomaly_names_step_pass_layer_tensor_and_cell() {
    assert_eq!(
        stdout_of(&["export", DIVERGING, "--first-anomaly"]),
        "diverging: first non-finite value at step 7, loss: loss = inf\n"
    );
}

#[test]
fn the_gradient_check_of_step_0_passes() {
    let text = stdout_of(&["check", DIVERGING]);
    assert!(text.contains("PASSED"), "{text}");
}

#[test]
fn replay_walks_to_the_end_and_past_it() {
    // Every event of every planned step, then five more steps, at two sizes.
    let script = "n*200\nsnap end\n+*5\nG\nTab\nm\nEnter\nl\nj\nsnap more\nresize 60x16\n[\nsnap small\nresize 1x1\nsnap tiny\n";
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("walk.keys");
    std::fs::write(&keys, script).unwrap();
    let text = stdout_of(&[
        "replay",
        DIVERGING,
        "--script",
        keys.to_str().unwrap(),
        "--size",
        "100x30",
        "--only-snaps",
    ]);
    assert_eq!(text.matches("──── frame").count(), 4, "{text}");
    assert!(text.contains("NaN"), "the frames show NaN: {text}");
}

#[test]
fn every_frame_of_every_step_of_the_debugger_renders() {
    let scenario = deltascope::scenario::load(Path::new(DIVERGING)).unwrap();
    let state = State::new(scenario, Config::default());
    let per_step = state.timeline.events_per_step();
    let planned = state.timeline.planned_steps();
    assert_eq!(planned, 15);
    // Through every event; at each, to the next layer and the next map, so that every
    // layer's maps are drawn with NaN and inf in them.
    let mut walk = Vec::new();
    for _ in 0..planned * per_step {
        walk.extend_from_slice(b"n\tm");
    }
    walk.extend_from_slice(b"+\rjlx\x1b?\x1b");
    harness::drive_tui(state, (80, 24), &harness::text_keys(&walk));
}
