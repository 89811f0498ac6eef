//! `--compare`: the user's numbers beside the reference in the debugger, through replay.

use std::fs;
use std::path::Path;

use assert_cmd::Command;
use deltascope::export::step_to_json;
use deltascope::scenario;
use serde_json::{Value, json};

fn scenario_path() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/mean_pool_classic.json")
}

/// A student's trace: conv2's δ_input right, pool1's δ_input not divided by the window area.
fn mine(dir: &Path) -> std::path::PathBuf {
    let s = scenario::load(&scenario_path()).unwrap();
    let step = step_to_json(&s.model.trace(0));
    let layer = |name: &str| {
        step["layers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["name"] == name)
            .unwrap()
            .clone()
    };
    fn times_four(v: &Value) -> Value {
        match v {
            Value::Array(items) => Value::Array(items.iter().map(times_four).collect()),
            Value::Number(n) => json!(n.as_f64().unwrap() * 4.0),
            other => other.clone(),
        }
    }
    let theirs = json!({"steps": [{"step": 0, "layers": [
        {"name": "conv2", "delta_input": layer("conv2")["delta_input"]},
        {"name": "pool1", "delta_input": times_four(&layer("pool1")["delta_input"])}
    ]}]});
    let file = dir.join("mine.json");
    fs::write(&file, theirs.to_string()).unwrap();
    file
}

fn replay(mine: &Path, script: &str) -> String {
    let out = Command::cargo_bin("deltascope")
        .unwrap()
        .arg("replay")
        .arg(scenario_path())
        .arg("--compare")
        .arg(mine)
        .args(["--script", "-", "--color", "mono", "--only-snaps"])
        .write_stdin(script)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    String::from_utf8(out).unwrap()
}

#[test]
fn differing_cells_layers_and_the_diagnosis_are_shown_once_computed() {
    let dir = tempfile::tempdir().unwrap();
    let mine = mine(dir.path());
    // Before the backward pass reaches conv2 and pool1, nothing is said about the user's numbers.
    let early = replay(&mine, "n*4\nsnap\n");
    assert!(!early.contains("yours"), "{early}");
    assert!(early.contains("vs mine.json"), "{early}");
    // At the backward event of pool1 (event 8): conv2 agrees, pool1 differs everywhere.
    let frame = replay(&mine, "n*7\nEnter\nsnap\n");
    assert!(frame.contains("conv2 2×2×2 ✓ yours"), "{frame}");
    assert!(frame.contains("pool1 2×3×3 ✗ yours 1/1"), "{frame}");
    assert!(frame.contains('≠'), "differing cells are marked: {frame}");
    assert!(frame.contains("✗ differs from the reference by"), "{frame}");
    assert!(
        frame.contains(
            "diagnosis: yours = 4 × the reference everywhere: mean-pool δ not divided by"
        ),
        "{frame}"
    );
}

#[test]
fn a_malformed_comparison_file_is_refused_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    fs::write(
        &bad,
        r#"{"steps": [{"layers": [{"name": "pool1", "delta_input": [1, 2]}]}]}"#,
    )
    .unwrap();
    let out = Command::cargo_bin("deltascope")
        .unwrap()
        .arg("replay")
        .arg(scenario_path())
        .arg("--compare")
        .arg(&bad)
        .args(["--script", "-"])
        .write_stdin("n\n")
        .assert()
        .code(2)
        .get_output()
        .stderr
        .clone();
    let stderr = String::from_utf8(out).unwrap();
    assert!(
        stderr.contains(
            "bad.json: steps[0].layers[0].delta_input: expected shape [2, 6, 6], got [2]"
        ),
        "{stderr}"
    );
    // The interactive form reads the same file before it needs a terminal.
    let out = Command::cargo_bin("deltascope")
        .unwrap()
        .arg(scenario_path())
        .arg("--compare")
        .arg(&bad)
        .assert()
        .code(2)
        .get_output()
        .stderr
        .clone();
    assert!(
        String::from_utf8(out)
            .unwrap()
            .contains("expected shape [2, 6, 6], got [2]")
    );
}
