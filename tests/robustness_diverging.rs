//! scenarios/diverging.json, whose loss goes to inf and then NaN, explored end to end:
//! `export`, `export --first-anomaly`, `check`, `replay` and the debugger's every frame of
//! every step all run to the end. And a run whose only non-finite value sits inside the
//! network while the loss stays finite, which only the first-anomaly scan can point at.

#[path = "../fuzz/src/harness.rs"]
mod harness;

use std::path::Path;

use assert_cmd::Command;
use deltascope::anomaly::{first_anomaly, first_anomaly_in_step};
use deltascope::app::{Config, State};
use deltascope::engine::Pass;
use serde_json::Value;

const DIVERGING: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/diverging.json");
/// A PyTorch fixture: conv1.z[0, 2, 3] is -inf at step 1, relu makes it 0, the loss is finite.
const INNER_INF: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/scenarios/inner_inf_finite_loss.json"
);
const INNER_INF_TORCH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/torch/inner_inf_finite_loss.json"
);

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

/// The non-finite strings of a trace, with their JSON paths.
fn non_finite_cells(v: &Value, path: String, out: &mut Vec<(String, String)>) {
    match v {
        Value::String(s) if ["NaN", "inf", "-inf"].contains(&s.as_str()) => {
            out.push((path, s.clone()))
        }
        Value::Array(a) => {
            for (i, e) in a.iter().enumerate() {
                non_finite_cells(e, format!("{path}[{i}]"), out);
            }
        }
        Value::Object(o) => {
            for (k, e) in o {
                non_finite_cells(e, format!("{path}.{k}"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn first_anomaly_finds_an_inner_inf_that_the_loss_never_shows() {
    // The premise, from PyTorch's trace: one non-finite value in the whole run, and every
    // loss finite.
    let torch: Value =
        serde_json::from_str(&std::fs::read_to_string(INNER_INF_TORCH).unwrap()).unwrap();
    let mut cells = Vec::new();
    non_finite_cells(&torch, String::new(), &mut cells);
    assert_eq!(
        cells,
        [(
            ".steps[1].layers[0].z[0][2][3]".to_string(),
            "-inf".to_string()
        )]
    );
    assert_eq!(torch["steps"][1]["layers"][0]["name"], "conv1");

    let s = deltascope::scenario::load(Path::new(INNER_INF)).unwrap();
    let mut model = s.model.clone();
    let steps: Vec<_> = (0..s.steps).map(|k| model.train_step(k)).collect();
    assert_eq!(steps.len(), 2);
    assert!(
        steps.iter().all(|t| t.loss.is_finite()),
        "the loss stays finite"
    );
    assert_eq!(first_anomaly_in_step(&steps[0]), None);
    let a = first_anomaly(&steps).expect("an anomaly at step 1");
    assert_eq!(
        (
            a.step,
            a.pass,
            a.layer.as_deref(),
            a.tensor,
            a.index.as_slice()
        ),
        (
            1,
            Pass::Forward,
            Some("conv1"),
            deltascope::engine::TensorName::Z,
            &[0, 2, 3][..]
        )
    );
    assert_eq!(a.value, f64::NEG_INFINITY);
    assert_eq!(
        stdout_of(&["export", INNER_INF, "--first-anomaly"]),
        "inner_inf_finite_loss: first non-finite value at step 1, forward pass: \
         conv1.z[0, 2, 3] = -inf\n"
    );
}
