//! The engine against PyTorch float64: every tensor of every step of every fixture.
//! Fixtures: tests/fixtures/scenarios/NAME.json, traced by tools/torch_reference.py into
//! tests/fixtures/torch/NAME.json (see tools/README.md). Python is not needed here.

use std::fs;
use std::path::Path;

use deltascope::export::step_to_json;
use deltascope::scenario;
use deltascope::tensor_json::{NonFinite, parse_tensor};
use serde_json::Value;

/// Relative to the scale (max |value|) of the reference tensor.
const TOLERANCE: f64 = 1e-9;

fn tensor(v: &Value, path: &str) -> ndarray::ArrayD<f64> {
    parse_tensor(v, path, NonFinite::AsStrings).unwrap_or_else(|e| panic!("{e}"))
}

/// Compare one tensor; returns a description of the worst cell when it is out of tolerance.
fn compare(ours: &Value, theirs: &Value, path: &str) -> Option<String> {
    let (a, b) = (tensor(ours, path), tensor(theirs, path));
    if a.shape() != b.shape() {
        return Some(format!(
            "{path}: shape {:?} vs torch {:?}",
            a.shape(),
            b.shape()
        ));
    }
    // The scale is taken over the finite cells only: an inf in the reference would otherwise
    // make the allowed error infinite and let every other cell of the tensor pass.
    let scale = b
        .iter()
        .filter(|v| v.is_finite())
        .fold(0.0f64, |m, v| m.max(v.abs()));
    let allowed = TOLERANCE * scale.max(1e-6);
    let mut worst: Option<(f64, usize)> = None;
    for (i, (x, y)) in a.iter().zip(b.iter()).enumerate() {
        if x.is_nan() && y.is_nan() || x == y {
            continue;
        }
        // A non-finite value on either side must be met by the same value on the other
        // (handled above); anything else is a mismatch, whatever the tolerance.
        let err = if x.is_finite() && y.is_finite() {
            (x - y).abs()
        } else {
            f64::INFINITY
        };
        if err > allowed && worst.is_none_or(|(w, _)| err > w) {
            worst = Some((err, i));
        }
    }
    worst.map(|(err, i)| {
        format!(
            "{path}: cell {i}: ours {} vs torch {}, error {err:e} > {allowed:e} (scale {scale:e})",
            a.iter().nth(i).unwrap(),
            b.iter().nth(i).unwrap()
        )
    })
}

fn check_fixture(scenario_path: &Path, torch_path: &Path) -> Vec<String> {
    let s = scenario::load(scenario_path)
        .unwrap_or_else(|e| panic!("{}: {e}", scenario_path.display()));
    let torch: Value = serde_json::from_str(&fs::read_to_string(torch_path).unwrap()).unwrap();
    let torch_steps = torch["steps"].as_array().expect("steps");
    assert_eq!(
        torch_steps.len(),
        s.steps,
        "{}: number of steps",
        torch_path.display()
    );
    let mut model = s.model.clone();
    let mut problems = Vec::new();
    for (step, theirs) in torch_steps.iter().enumerate() {
        let ours = step_to_json(&model.train_step(step));
        let at = |what: &str| format!("{} step {step} {what}", s.name);
        for key in ["loss", "loss_grad"] {
            problems.extend(compare(&ours[key], &theirs[key], &at(key)));
        }
        let (our_layers, their_layers) = (
            ours["layers"].as_array().unwrap(),
            theirs["layers"].as_array().unwrap(),
        );
        assert_eq!(our_layers.len(), their_layers.len());
        for (o, t) in our_layers.iter().zip(their_layers) {
            assert_eq!(o["name"], t["name"]);
            assert_eq!(o["type"], t["type"]);
            let tensors = t
                .as_object()
                .unwrap()
                .keys()
                .filter(|k| !["type", "name", "kind", "argmax"].contains(&k.as_str()));
            let mut compared = 0;
            for key in tensors {
                problems.extend(compare(
                    &o[key],
                    &t[key],
                    &at(&format!("{}.{key}", t["name"].as_str().unwrap())),
                ));
                compared += 1;
            }
            assert!(
                compared >= 4,
                "{}: torch trace lacks tensors",
                at(t["name"].as_str().unwrap())
            );
            if t.get("argmax").is_some() && o["argmax"] != t["argmax"] {
                problems.push(format!(
                    "{}: argmax differs",
                    at(t["name"].as_str().unwrap())
                ));
            }
        }
    }
    problems
}

#[test]
fn engine_matches_pytorch_float64_on_every_fixture() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut names: Vec<_> = fs::read_dir(dir.join("scenarios"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    names.sort();
    assert!(
        names.len() >= 15,
        "expected at least 15 fixtures, found {}",
        names.len()
    );
    let mut problems = Vec::new();
    for scenario_path in &names {
        let torch_path = dir.join("torch").join(scenario_path.file_name().unwrap());
        assert!(
            torch_path.exists(),
            "no torch trace for {}",
            scenario_path.display()
        );
        problems.extend(check_fixture(scenario_path, &torch_path));
    }
    assert!(
        problems.is_empty(),
        "{} mismatches:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// The comparator itself: a non-finite value must be met by the same value, and an inf in
/// the reference must not widen the tolerance of the tensor's finite cells.
#[test]
fn the_comparator_needs_non_finite_values_to_match_exactly() {
    use serde_json::json;
    let same = |ours: Value, torch: Value| compare(&ours, &torch, "t").is_none();
    assert!(same(
        json!([1.0, "NaN", "inf", "-inf"]),
        json!([1.0, "NaN", "inf", "-inf"])
    ));
    assert!(same(json!([1.0 + 1e-12, "inf"]), json!([1.0, "inf"])));
    assert!(!same(json!([1.0, "inf"]), json!([1.0, 5.0])));
    assert!(!same(json!([1.0, 5.0]), json!([1.0, "inf"])));
    assert!(!same(json!(["-inf"]), json!(["inf"])));
    assert!(!same(json!(["NaN"]), json!([0.0])));
    assert!(!same(json!([0.0]), json!(["NaN"])));
    // A finite cell off by 1 beside an inf: the scale is the finite cells' (1), not inf.
    assert!(!same(json!([2.0, "inf"]), json!([1.0, "inf"])));
}
