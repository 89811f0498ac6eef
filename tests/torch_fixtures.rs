//! The engine against PyTorch float64: every tensor of every step of every fixture, on the
//! path every command takes and on every kernel path this CPU has.
//! Fixtures: tests/fixtures/scenarios/NAME.json, traced by tools/torch_reference.py into
//! tests/fixtures/torch/NAME.json (see tools/README.md). Python is not needed here.

use std::fs;
use std::path::{Path, PathBuf};

use deltascope::engine::conv::BackwardRoute;
use deltascope::engine::kernels::{self, FAST_MIN_MACS, KernelPath, PathChoice};
use deltascope::engine::{LayerKind, LayerTrace, Model};
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
            "{path}: cell {i}: ours {:?} vs torch {:?}, error {err:e} > {allowed:e} (scale {scale:e})",
            a.iter().nth(i).unwrap(),
            b.iter().nth(i).unwrap()
        )
    })
}

/// Every layer of every fixture that reaches FAST_MIN_MACS, so that every command runs it on
/// `KernelPath::fastest()`, and how its backward pass must run on the AVX-512 path. The test
/// fails when a fixture's layer crosses the threshold without being listed here, or a listed
/// one falls below it: a fixture cannot stop covering a path in silence.
const FAST_LAYERS: &[(&str, &str, BackwardRoute)] = &[
    ("fast_conv_s1_padded", "conv1", BackwardRoute::Products),
    ("fast_conv_s1_unpadded", "conv1", BackwardRoute::Products),
    ("fast_conv_stride2", "conv1", BackwardRoute::Products),
    ("sparse_backward_tiles", "conv1", BackwardRoute::SparseTiles),
    (
        "sparse_backward_scalar",
        "conv1",
        BackwardRoute::SparseScalar,
    ),
    ("fast_dense", "dense1", BackwardRoute::Products),
];

fn fast_layer(fixture: &str, layer: &str) -> Option<BackwardRoute> {
    FAST_LAYERS
        .iter()
        .find(|(f, l, _)| *f == fixture && *l == layer)
        .map(|(_, _, b)| *b)
}

/// The path and route each conv and dense layer took in the step just computed into `ws`,
/// against what `choice` and FAST_LAYERS say they must be.
fn check_runs(
    fixture: &str,
    step: usize,
    model: &Model,
    ws: &deltascope::engine::network::Workspace,
    choice: PathChoice,
) -> Vec<String> {
    let mut problems = Vec::new();
    let runs = ws.runs();
    assert_eq!(runs.len(), model.layers.len());
    for ((layer, (_, trace)), run) in model.layers.iter().zip(&ws.trace.layers).zip(runs) {
        let at = format!("{fixture} step {step} {}", layer.name);
        let macs = match (&layer.kind, trace) {
            (LayerKind::Conv(conv), LayerTrace::Conv(t)) => conv.macs(t.input.dim()),
            (LayerKind::Dense(dense), _) => dense.weights.len(),
            _ => {
                assert!(run.is_none(), "{at}: a pool has no kernel path");
                continue;
            }
        };
        let Some(run) = run else {
            problems.push(format!("{at}: no kernel path reported"));
            continue;
        };
        let listed = fast_layer(fixture, &layer.name);
        if (macs >= FAST_MIN_MACS) != listed.is_some() {
            problems.push(format!(
                "{at}: {macs} multiply-adds, FAST_MIN_MACS is {FAST_MIN_MACS}, and the layer \
                 is {}listed in FAST_LAYERS",
                if listed.is_some() { "" } else { "not " }
            ));
        }
        let expected_path = match choice {
            PathChoice::Force(path) => path,
            PathChoice::BySize if macs >= FAST_MIN_MACS => KernelPath::fastest(),
            PathChoice::BySize => KernelPath::Portable,
        };
        if run.path != expected_path {
            problems.push(format!(
                "{at}: ran on the {} path, expected {}",
                run.path.name(),
                expected_path.name()
            ));
        }
        // The sparse route is the AVX-512 path's: the portable path always multiplies.
        let expected = match run.path {
            KernelPath::Avx512 => listed.unwrap_or(BackwardRoute::Products),
            KernelPath::Portable => BackwardRoute::Products,
        };
        if run.backward != expected {
            problems.push(format!(
                "{at}: on the {} path the backward pass ran as {:?}, expected {expected:?}",
                run.path.name(),
                run.backward
            ));
        }
    }
    problems
}

/// Every step of a fixture with every conv and dense layer's path picked by `choice`:
/// each tensor against PyTorch's, and each layer's path and backward route.
fn check_fixture(scenario_path: &Path, torch_path: &Path, choice: PathChoice) -> Vec<String> {
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
    let mut ws = model.workspace_on(choice);
    let mut problems = Vec::new();
    for (step, theirs) in torch_steps.iter().enumerate() {
        model.train_step_into(step, &mut ws);
        problems.extend(check_runs(&s.name, step, &model, &ws, choice));
        let ours = step_to_json(&ws.trace);
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

/// Every fixture: (scenario, torch trace).
fn fixtures() -> Vec<(PathBuf, PathBuf)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut names: Vec<_> = fs::read_dir(dir.join("scenarios"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    names.sort();
    assert!(
        names.len() >= 39,
        "expected at least 39 fixtures, found {}",
        names.len()
    );
    for (fixture, layer, _) in FAST_LAYERS {
        assert!(
            names.iter().any(|p| p.file_stem().unwrap() == *fixture),
            "FAST_LAYERS names {fixture}.{layer}, which is not a fixture"
        );
    }
    names
        .into_iter()
        .map(|scenario_path| {
            let torch_path = dir.join("torch").join(scenario_path.file_name().unwrap());
            assert!(
                torch_path.exists(),
                "no torch trace for {}",
                scenario_path.display()
            );
            (scenario_path, torch_path)
        })
        .collect()
}

fn assert_no_problems(problems: Vec<String>) {
    assert!(
        problems.is_empty(),
        "{} mismatches:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// What every command runs: each layer on the path its size gives it (the large fixtures'
/// layers on `KernelPath::fastest()`, with the sparse backward pass where they name it).
#[test]
fn engine_matches_pytorch_float64_on_every_fixture() {
    // The path of the large layers: AVX-512 wherever the CPU has it, unless the portable
    // one is asked for.
    let portable_asked =
        std::env::var_os("DELTASCOPE_PORTABLE").is_some_and(|v| !v.is_empty() && v != "0");
    if KernelPath::Avx512.supported() && !portable_asked {
        assert_eq!(KernelPath::fastest(), KernelPath::Avx512);
    }
    let mut problems = Vec::new();
    for (scenario_path, torch_path) in fixtures() {
        problems.extend(check_fixture(
            &scenario_path,
            &torch_path,
            PathChoice::BySize,
        ));
    }
    assert_no_problems(problems);
}

/// Every fixture with every layer forced onto each path this CPU has; a path it lacks is
/// reported on stderr (and fails under DELTASCOPE_REQUIRE_PATHS).
#[test]
fn engine_matches_pytorch_float64_on_every_path() {
    let paths = kernels::paths_under_test("engine_matches_pytorch_float64_on_every_path");
    assert!(paths.contains(&KernelPath::Portable));
    let mut problems = Vec::new();
    for path in paths {
        for (scenario_path, torch_path) in fixtures() {
            problems.extend(
                check_fixture(&scenario_path, &torch_path, PathChoice::Force(path))
                    .into_iter()
                    .map(|p| format!("[{} path] {p}", path.name())),
            );
        }
    }
    assert_no_problems(problems);
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
