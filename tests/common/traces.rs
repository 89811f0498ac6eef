//! For the tests of `deltascope diff`: bundled scenarios, reference exports, tensors read
//! from them, and the binary run on a trace.

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use deltascope::export::step_to_json;
use deltascope::scenario;
use deltascope::tensor_json::{NonFinite, parse_tensor};
use ndarray::ArrayD;
use serde_json::Value;

/// `scenarios/NAME.json`.
pub fn bundled(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(format!("{name}.json"))
}

/// The reference export of the first `n` training steps of a scenario file.
pub fn reference_steps(path: &Path, n: usize) -> Vec<Value> {
    let mut model = scenario::load(path).unwrap().model;
    (0..n).map(|s| step_to_json(&model.train_step(s))).collect()
}

/// A layer's entry in an exported step.
pub fn layer<'a>(step: &'a Value, name: &str) -> &'a Value {
    step["layers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == name)
        .unwrap_or_else(|| panic!("no layer {name}"))
}

/// A tensor of a trace, non-finite values as the strings the format writes.
pub fn tensor(v: &Value) -> ArrayD<f64> {
    parse_tensor(v, "t", NonFinite::AsStrings).unwrap()
}

/// `deltascope diff` of a scenario file with a trace; returns (status, stdout + stderr).
pub fn run_diff(scenario: &Path, theirs: &Value) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("theirs.json");
    fs::write(&file, theirs.to_string()).unwrap();
    let out = Command::cargo_bin("deltascope")
        .unwrap()
        .arg("diff")
        .arg(scenario)
        .arg(&file)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap() + &String::from_utf8(out.stderr).unwrap();
    (out.status.code().unwrap(), text)
}
