//! `deltascope diff` finds the first wrong cell of a user's trace and names the mistake.
//! Each wrong trace is built here, independently of the engine, the way a student's buggy
//! code would compute it, from a bundled scenario.

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use deltascope::export::step_to_json;
use deltascope::scenario;
use deltascope::tensor_json::tensor_to_json;
use ndarray::{Array3, Array4, ArrayD, Dimension, Ix3, Ix4};
use serde_json::{Value, json};

mod common;
use common::traces::{self, bundled, tensor};

/// The reference trace of step 0 of a bundled scenario, as exported.
fn reference(name: &str) -> Value {
    reference_at(&bundled(name))
}

/// The reference trace of step 0 of any scenario file, as exported.
fn reference_at(path: &Path) -> Value {
    let s = scenario::load(path).unwrap();
    step_to_json(&s.model.trace(0))
}

/// A scenario of the test's own, written into `dir`.
fn scenario_file(dir: &Path, scenario: &Value) -> PathBuf {
    let file = dir.join(format!("{}.json", scenario["name"].as_str().unwrap()));
    fs::write(&file, scenario.to_string()).unwrap();
    file
}

fn layer<'a>(step: &'a Value, name: &str) -> &'a Value {
    step["layers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == name)
        .unwrap()
}

fn maps(v: &Value) -> Array3<f64> {
    tensor(v).into_dimensionality::<Ix3>().unwrap()
}

fn kernels(v: &Value) -> Array4<f64> {
    tensor(v).into_dimensionality::<Ix4>().unwrap()
}

/// Run `deltascope diff` on a trace holding one tensor of one layer; returns (status, stdout).
fn diff_one(
    scenario: &str,
    layer_name: &str,
    tensor_name: &str,
    values: &ArrayD<f64>,
) -> (i32, String) {
    diff_one_at(&bundled(scenario), layer_name, tensor_name, values)
}

/// `deltascope diff` on a trace holding these tensors of one layer of a bundled scenario.
fn diff_layer(scenario: &str, layer_name: &str, tensors: &[(&str, &ArrayD<f64>)]) -> (i32, String) {
    let mut entry = json!({"name": layer_name});
    for (name, values) in tensors {
        entry[*name] = tensor_to_json(&values.view());
    }
    run_diff(
        scenario,
        &json!({"steps": [{"step": 0, "layers": [entry]}]}),
    )
}

/// [`diff_one`] for any scenario file.
fn diff_one_at(
    scenario: &Path,
    layer_name: &str,
    tensor_name: &str,
    values: &ArrayD<f64>,
) -> (i32, String) {
    let theirs = json!({"steps": [{"step": 0, "layers": [{"name": layer_name, tensor_name: tensor_to_json(&values.view())}]}]});
    run_diff_at(scenario, &theirs)
}

/// The diagnosis line of a report.
fn diagnosis(out: &str) -> &str {
    out.lines()
        .find_map(|l| l.strip_prefix("diagnosis: "))
        .unwrap_or_else(|| panic!("no diagnosis in:\n{out}"))
}

/// The c of a diagnosis "yours = c × the reference everywhere…", where c is written "4",
/// "1/4", "-1/2" or "2.5", followed by the exact value in brackets when that differs.
fn factor(out: &str) -> f64 {
    let d = diagnosis(out);
    let c = d
        .strip_prefix("yours = ")
        .and_then(|d| d.split_once(" × the reference everywhere"))
        .unwrap_or_else(|| panic!("no factor in:\n{out}"))
        .0;
    let (simple, exact) = match c.split_once(" (") {
        Some((simple, exact)) => (
            simple,
            exact.strip_suffix(')').map(|e| e.parse::<f64>().unwrap()),
        ),
        None => (c, None),
    };
    let simple: f64 = match simple.split_once('/') {
        Some((num, den)) => num.parse::<f64>().unwrap() / den.parse::<f64>().unwrap(),
        None => simple.parse().unwrap(),
    };
    match exact {
        // The exact value, when it is not the simple one, is within rounding of it.
        Some(exact) => {
            assert!((exact - simple).abs() <= 1e-9 * simple.abs(), "{out}");
            exact
        }
        None => simple,
    }
}

fn run_diff(scenario: &str, theirs: &Value) -> (i32, String) {
    run_diff_at(&bundled(scenario), theirs)
}

/// `deltascope diff` of any scenario file with a trace; returns (status, stdout + stderr).
fn run_diff_at(scenario: &Path, theirs: &Value) -> (i32, String) {
    traces::run_diff(scenario, theirs)
}

/// That a hand-written computation gives the reference, up to the order of its sums.
fn assert_same_numbers(mine: &ArrayD<f64>, reference: &ArrayD<f64>, what: &str) {
    assert_eq!(mine.shape(), reference.shape(), "{what}");
    for (m, r) in mine.iter().zip(reference) {
        assert!(
            (m - r).abs() <= 1e-12 * r.abs().max(1.0),
            "{what}: {m} against {r}"
        );
    }
}

/// The first cell (row-major) where two tensors differ by more than 1e-6 × max(1, |r|).
fn first_difference(yours: &ArrayD<f64>, reference: &ArrayD<f64>) -> String {
    let (index, _) = yours
        .indexed_iter()
        .find(|(i, y)| {
            (**y - reference[i.clone()]).abs() > 1e-6 * reference[i.clone()].abs().max(1.0)
        })
        .expect("the wrong tensor differs somewhere");
    format!("{:?}", index.slice())
}

#[test]
fn mean_pool_delta_not_divided_by_the_window_area() {
    let step = reference("mean_pool_classic");
    let right = tensor(&layer(&step, "pool1")["delta_input"]);
    let wrong = right.mapv(|v| v * 4.0);
    let (status, out) = diff_one("mean_pool_classic", "pool1", "delta_input", &wrong);
    assert_eq!(status, 1, "{out}");
    let cell = first_difference(&wrong, &right);
    assert!(
        out.contains(&format!(
            "first difference: step 0, backward pass, pool1.delta_input{cell}"
        )),
        "{out}"
    );
    // Alone, the factor could come from upstream, unchanged through every linear step: a
    // "perhaps". With the δ_output it is computed from, it is made here.
    assert!(out.contains("diagnosis: yours = 4 × the reference everywhere: perhaps mean-pool δ not divided by the window area m = 4"), "{out}");
    assert!(!out.contains("most likely"), "{out}");
    let d_out = tensor(&layer(&step, "pool1")["delta_output"]);
    let (status, out) = diff_layer(
        "mean_pool_classic",
        "pool1",
        &[("delta_output", &d_out), ("delta_input", &wrong)],
    );
    assert_eq!(status, 1, "{out}");
    assert!(out.contains("\nmistake: step 0, pool1's backward pass. Computed correctly from your pool1.delta_output, "), "{out}");
    assert!(out.contains("diagnosis: yours = 4 × the reference everywhere: mean-pool δ not divided by the window area m = 4"), "{out}");
}

#[test]
fn kernel_not_rotated_in_the_conv_delta_input() {
    let step = reference("mean_pool_classic");
    let conv2 = layer(&step, "conv2");
    let (w, dz) = (kernels(&conv2["weights"]), maps(&conv2["delta_z"]));
    let (kn, c_in, kh, kw) = w.dim();
    let (_, ho, wo) = dz.dim();
    let (h, wd) = (ho + kh - 1, wo + kw - 1);
    // Full correlation of δz with w itself (stride 1, no padding): the rotation forgotten.
    let mut wrong = Array3::<f64>::zeros((c_in, h, wd));
    for c in 0..c_in {
        for y in 0..h {
            for x in 0..wd {
                for k in 0..kn {
                    for u in 0..kh {
                        for v in 0..kw {
                            let (i, j) = (
                                (y + u) as isize - (kh - 1) as isize,
                                (x + v) as isize - (kw - 1) as isize,
                            );
                            if i >= 0 && j >= 0 && (i as usize) < ho && (j as usize) < wo {
                                wrong[[c, y, x]] +=
                                    w[[k, c, u, v]] * dz[[k, i as usize, j as usize]];
                            }
                        }
                    }
                }
            }
        }
    }
    let wrong = wrong.into_dyn();
    let (status, out) = diff_one("mean_pool_classic", "conv2", "delta_input", &wrong);
    assert_eq!(status, 1, "{out}");
    let cell = first_difference(&wrong, &tensor(&conv2["delta_input"]));
    assert!(out.contains(&format!("conv2.delta_input{cell}")), "{out}");
    assert!(
        out.contains("diagnosis: the kernel was not rotated by 180°"),
        "{out}"
    );
}

/// δ of the zero-padded input of a conv layer, before the padding is cropped away: each
/// δz[k, i, j] spread over its window through the kernel.
fn delta_of_the_padded_input(
    w: &Array4<f64>,
    dz: &Array3<f64>,
    stride: [usize; 2],
    pad: [usize; 2],
    (h, wd): (usize, usize),
) -> Array3<f64> {
    let (kn, c_in, kh, kw) = w.dim();
    let (_, ho, wo) = dz.dim();
    let mut padded = Array3::<f64>::zeros((c_in, h + 2 * pad[0], wd + 2 * pad[1]));
    for k in 0..kn {
        for c in 0..c_in {
            for i in 0..ho {
                for j in 0..wo {
                    for u in 0..kh {
                        for v in 0..kw {
                            padded[[c, i * stride[0] + u, j * stride[1] + v]] +=
                                w[[k, c, u, v]] * dz[[k, i, j]];
                        }
                    }
                }
            }
        }
    }
    padded
}

#[test]
fn padding_cropped_at_the_wrong_offset() {
    let step = reference("strided_padded_conv");
    let conv = layer(&step, "conv1");
    let (w, dz, input) = (
        kernels(&conv["weights"]),
        maps(&conv["delta_z"]),
        maps(&conv["input"]),
    );
    let s: Value =
        serde_json::from_str(&fs::read_to_string(bundled("strided_padded_conv")).unwrap()).unwrap();
    let first = &s["layers"][0];
    let stride = first["stride"].as_u64().unwrap() as usize;
    let pad = first["padding"].as_u64().unwrap() as usize;
    let (_, h, wd) = input.dim();
    // δ of the padded input, then cropped from (0, 0) instead of (pad, pad).
    let padded = delta_of_the_padded_input(&w, &dz, [stride, stride], [pad, pad], (h, wd));
    let wrong = padded
        .slice(ndarray::s![.., 0..h, 0..wd])
        .to_owned()
        .into_dyn();
    let (status, out) = diff_one("strided_padded_conv", "conv1", "delta_input", &wrong);
    assert_eq!(status, 1, "{out}");
    let cell = first_difference(&wrong, &tensor(&conv["delta_input"]));
    assert!(out.contains(&format!("conv1.delta_input{cell}")), "{out}");
    assert!(
        out.contains(&format!(
            "cropped at offset (0, 0) instead of ({pad}, {pad})"
        )),
        "{out}"
    );
}

/// Max-pool backward written by hand: `accumulate` false is the `=` bug, `last_max` the `>=` one.
fn max_pool_backward(
    input: &Array3<f64>,
    d_out: &Array3<f64>,
    size: usize,
    stride: usize,
    accumulate: bool,
    last_max: bool,
) -> ArrayD<f64> {
    let mut d_in = Array3::<f64>::zeros(input.raw_dim());
    for ((c, i, j), &d) in d_out.indexed_iter() {
        let mut best = (f64::NEG_INFINITY, 0, 0);
        for u in 0..size {
            for v in 0..size {
                let (y, x) = (i * stride + u, j * stride + v);
                let value = input[[c, y, x]];
                if value > best.0 || (last_max && value == best.0) {
                    best = (value, y, x);
                }
            }
        }
        if accumulate {
            d_in[[c, best.1, best.2]] += d;
        } else {
            d_in[[c, best.1, best.2]] = d;
        }
    }
    d_in.into_dyn()
}

fn pool_geometry(scenario: &str, layer_name: &str) -> (usize, usize) {
    let s: Value = serde_json::from_str(&fs::read_to_string(bundled(scenario)).unwrap()).unwrap();
    let l = s["layers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == layer_name)
        .unwrap();
    let size = l["size"].as_u64().unwrap() as usize;
    (
        size,
        l.get("stride")
            .and_then(Value::as_u64)
            .map_or(size, |s| s as usize),
    )
}

#[test]
fn overlapping_max_pool_without_accumulation() {
    let step = reference("overlapping_max_pool");
    let pool = layer(&step, "pool1");
    let (size, stride) = pool_geometry("overlapping_max_pool", "pool1");
    assert!(stride < size, "the scenario's windows overlap");
    let (input, d_out) = (maps(&pool["input"]), maps(&pool["delta_output"]));
    let right = max_pool_backward(&input, &d_out, size, stride, true, false);
    assert_eq!(
        right,
        tensor(&pool["delta_input"]),
        "the hand-written backward is right when it accumulates"
    );
    let wrong = max_pool_backward(&input, &d_out, size, stride, false, false);
    let (status, out) = diff_one("overlapping_max_pool", "pool1", "delta_input", &wrong);
    assert_eq!(status, 1, "{out}");
    assert!(
        out.contains(&format!(
            "pool1.delta_input{}",
            first_difference(&wrong, &right)
        )),
        "{out}"
    );
    assert!(
        out.contains("diagnosis: overlapping windows overwrite instead of accumulate"),
        "{out}"
    );
    // The first wrong cell comes with its derivation: the two windows it wins.
    assert!(out.contains("the reference value comes from:"), "{out}");
    assert_eq!(out.matches(": switch  δy[").count(), 2, "{out}");
}

#[test]
fn max_pool_ties_routed_to_the_last_maximum() {
    let step = reference("digit_classifier");
    let pool = layer(&step, "pool1");
    let (size, stride) = pool_geometry("digit_classifier", "pool1");
    let (input, d_out) = (maps(&pool["input"]), maps(&pool["delta_output"]));
    let right = tensor(&pool["delta_input"]);
    let wrong = max_pool_backward(&input, &d_out, size, stride, true, true);
    assert_ne!(
        wrong, right,
        "the scenario has a tie in a window whose δ is not zero"
    );
    let (status, out) = diff_one("digit_classifier", "pool1", "delta_input", &wrong);
    assert_eq!(status, 1, "{out}");
    assert!(
        out.contains(&format!(
            "pool1.delta_input{}",
            first_difference(&wrong, &right)
        )),
        "{out}"
    );
    assert!(
        out.contains("diagnosis: max-pool ties are routed to the last maximum"),
        "{out}"
    );
}

#[test]
fn kernel_gradient_rotated_by_180_degrees() {
    // The 180° rotation belongs to δ_input; applied to ∂L/∂w as well, by writing each
    // product at the rotated tap (u, v) → (kh−1−u, kw−1−v).
    let step = reference("mean_pool_classic");
    let conv1 = layer(&step, "conv1");
    let (x, dz) = (maps(&conv1["input"]), maps(&conv1["delta_z"]));
    let right = kernels(&conv1["grad_weights"]);
    let (kn, c_in, kh, kw) = right.dim();
    let (_, ho, wo) = dz.dim();
    let mut wrong = Array4::<f64>::zeros(right.raw_dim());
    for k in 0..kn {
        for c in 0..c_in {
            for u in 0..kh {
                for v in 0..kw {
                    for i in 0..ho {
                        for j in 0..wo {
                            wrong[[k, c, kh - 1 - u, kw - 1 - v]] +=
                                x[[c, i + u, j + v]] * dz[[k, i, j]];
                        }
                    }
                }
            }
        }
    }
    let (wrong, right) = (wrong.into_dyn(), right.into_dyn());
    let (status, out) = diff_one("mean_pool_classic", "conv1", "grad_weights", &wrong);
    assert_eq!(status, 1, "{out}");
    assert!(
        out.contains(&format!(
            "first difference: step 0, backward pass, conv1.grad_weights{}",
            first_difference(&wrong, &right)
        )),
        "{out}"
    );
    assert_eq!(
        diagnosis(&out),
        "the kernel gradient is rotated by 180°: ∂L/∂w[k, c] is the correlation of the layer input x[c] with δz[k], without rotation (a convolution gives these numbers, and so does scipy's correlate2d(δz, x, 'valid'): with the input and δz swapped it returns the rotated result)"
    );
}

/// Mean-pool backward written by hand: each cell of window (i, j) gets δ_out / m, added
/// (`accumulate`) or assigned.
fn mean_pool_backward(
    d_out: &Array3<f64>,
    input_shape: (usize, usize, usize),
    size: [usize; 2],
    stride: [usize; 2],
    accumulate: bool,
) -> Array3<f64> {
    let m = (size[0] * size[1]) as f64;
    let mut d_in = Array3::<f64>::zeros(input_shape);
    for ((c, i, j), &d) in d_out.indexed_iter() {
        for u in 0..size[0] {
            for v in 0..size[1] {
                let cell = &mut d_in[[c, i * stride[0] + u, j * stride[1] + v]];
                if accumulate {
                    *cell += d / m;
                } else {
                    *cell = d / m;
                }
            }
        }
    }
    d_in
}

#[test]
fn mean_pool_delta_divided_by_the_window_area_twice() {
    let step = reference("mean_pool_classic");
    let pool = layer(&step, "pool1");
    let (size, stride) = pool_geometry("mean_pool_classic", "pool1");
    let (input, d_out) = (maps(&pool["input"]), maps(&pool["delta_output"]));
    let right = mean_pool_backward(&d_out, input.dim(), [size; 2], [stride; 2], true);
    assert_same_numbers(
        &right.clone().into_dyn(),
        &tensor(&pool["delta_input"]),
        "the hand-written backward",
    );
    // Divided by m in the loop, and once more afterwards.
    let m = (size * size) as f64;
    let wrong = (right / m).into_dyn();
    let (status, out) = diff_layer(
        "mean_pool_classic",
        "pool1",
        &[("delta_output", &d_out.into_dyn()), ("delta_input", &wrong)],
    );
    assert_eq!(status, 1, "{out}");
    assert_eq!(
        diagnosis(&out),
        "yours = 1/4 × the reference everywhere: mean-pool δ divided by the window area m = 4 twice"
    );
}

#[test]
fn overlapping_windows_on_one_axis_only_are_named_too() {
    // Mean pooling 3×3 on the 7×7 maps of a conv, with stride 2 along one axis (windows
    // share a row, or a column) and 3 along the other (they do not).
    let dir = tempfile::tempdir().unwrap();
    for (axis, stride) in [("rows", [2, 3]), ("columns", [3, 2])] {
        let file = scenario_file(
            dir.path(),
            &json!({
                "name": format!("overlapping_{axis}"),
                "seed": 2,
                "input": [[0.1, 0.5, -0.3, 0.8, 0.2, -0.1, 0.4, 0.6],
                          [0.4, -0.2, 0.9, 0.0, 0.3, 0.7, -0.5, 0.1],
                          [0.7, 0.3, -0.6, 0.2, 0.8, -0.4, 0.5, 0.0],
                          [-0.1, 0.6, 0.5, -0.4, 0.1, 0.9, 0.2, -0.3],
                          [0.3, -0.5, 0.2, 0.7, -0.2, 0.4, 0.8, 0.1],
                          [0.6, 0.1, -0.7, 0.3, 0.5, 0.0, -0.1, 0.9],
                          [0.2, 0.8, 0.4, -0.6, 0.7, 0.3, 0.1, -0.2],
                          [-0.3, 0.0, 0.6, 0.1, -0.8, 0.5, 0.9, 0.4]],
                "layers": [
                    {"type": "conv", "kernels": 2, "kernel_size": 2, "activation": "tanh"},
                    {"type": "pool", "kind": "mean", "size": 3, "stride": stride},
                    {"type": "dense", "outputs": 2}
                ],
                "loss": {"kind": "half_sse", "target": [1.0, -1.0]},
            }),
        );
        let step = reference_at(&file);
        let pool = layer(&step, "pool1");
        let (input, d_out) = (maps(&pool["input"]), maps(&pool["delta_output"]));
        let right = mean_pool_backward(&d_out, input.dim(), [3, 3], stride, true).into_dyn();
        assert_same_numbers(&right, &tensor(&pool["delta_input"]), axis);
        let wrong = mean_pool_backward(&d_out, input.dim(), [3, 3], stride, false).into_dyn();
        let (status, out) = diff_one_at(&file, "pool1", "delta_input", &wrong);
        assert_eq!(status, 1, "{axis}: {out}");
        assert!(
            out.contains(&format!(
                "pool1.delta_input{}",
                first_difference(&wrong, &right)
            )),
            "{axis}: {out}"
        );
        assert!(
            diagnosis(&out).starts_with("overlapping windows overwrite instead of accumulate"),
            "{axis}: {out}"
        );
    }
}

#[test]
fn argmax_ties_routed_to_the_last_maximum_are_named_for_argmax_too() {
    let step = reference("digit_classifier");
    let pool = layer(&step, "pool1");
    let (size, stride) = pool_geometry("digit_classifier", "pool1");
    let input = maps(&pool["input"]);
    let right = tensor(&pool["argmax"]);
    let (ch, _, w) = input.dim();
    let (_, ho, wo) = maps(&pool["output"]).dim();
    // The switch as the flat index h·W + w in the channel's plane, kept with `>=`.
    let mut wrong = Array3::<f64>::zeros((ch, ho, wo));
    for ((c, i, j), switch) in wrong.indexed_iter_mut() {
        let mut best = f64::NEG_INFINITY;
        for u in 0..size {
            for v in 0..size {
                let (y, x) = (i * stride + u, j * stride + v);
                if input[[c, y, x]] >= best {
                    best = input[[c, y, x]];
                    *switch = (y * w + x) as f64;
                }
            }
        }
    }
    let wrong = wrong.into_dyn();
    assert_ne!(wrong, right, "the scenario has a tie");
    let (status, out) = diff_one("digit_classifier", "pool1", "argmax", &wrong);
    assert_eq!(status, 1, "{out}");
    assert!(
        out.contains(&format!(
            "first difference: step 0, forward pass, pool1.argmax{}",
            first_difference(&wrong, &right)
        )),
        "{out}"
    );
    assert!(
        diagnosis(&out).starts_with("max-pool ties are routed to the last maximum"),
        "{out}"
    );
}

#[test]
fn the_padding_crop_diagnosis_names_the_offset_on_each_axis() {
    // Padding 3 on one axis only; δ of the padded input cropped to its last H rows and W
    // columns (`dx_padded[:, -H:, -W:]`), at offset (2·ph, 2·pw) instead of (ph, pw).
    let dir = tempfile::tempdir().unwrap();
    for pad in [[3, 0], [0, 3]] {
        let file = scenario_file(
            dir.path(),
            &json!({
                "name": format!("padded_{}_{}", pad[0], pad[1]),
                "seed": 4,
                "input": [[0.1, 0.5, -0.3, 0.8], [0.4, -0.2, 0.9, 0.0],
                          [0.7, 0.3, -0.6, 0.2], [-0.1, 0.6, 0.5, -0.4]],
                "layers": [
                    {"type": "conv", "kernels": 2, "kernel_size": 3, "padding": pad,
                     "activation": "tanh", "bias": [0.1, -0.2]},
                    {"type": "dense", "outputs": 1}
                ],
                "loss": {"kind": "half_sse", "target": [0.5]},
            }),
        );
        let step = reference_at(&file);
        let conv = layer(&step, "conv1");
        let (w, dz) = (kernels(&conv["weights"]), maps(&conv["delta_z"]));
        let (_, h, wd) = maps(&conv["input"]).dim();
        let padded = delta_of_the_padded_input(&w, &dz, [1, 1], pad, (h, wd));
        let right = padded
            .slice(ndarray::s![.., pad[0]..pad[0] + h, pad[1]..pad[1] + wd])
            .to_owned()
            .into_dyn();
        assert_same_numbers(&right, &tensor(&conv["delta_input"]), &format!("{pad:?}"));
        let (oy, ox) = (2 * pad[0], 2 * pad[1]);
        let wrong = padded
            .slice(ndarray::s![.., oy..oy + h, ox..ox + wd])
            .to_owned()
            .into_dyn();
        let (status, out) = diff_one_at(&file, "conv1", "delta_input", &wrong);
        assert_eq!(status, 1, "{pad:?}: {out}");
        assert_eq!(
            diagnosis(&out),
            format!(
                "δ of the padded input cropped at offset ({oy}, {ox}) instead of ({}, {}): remove exactly the padding on every side",
                pad[0], pad[1]
            ),
            "{out}"
        );
    }
}

#[test]
fn the_padding_hint_comes_only_with_a_padded_convs_delta_input_of_the_wrong_shape() {
    let wrong_shape = |scenario: &str, layer_name: &str, tensor_name: &str, shape: &[usize]| {
        let (status, out) = diff_one(
            scenario,
            layer_name,
            tensor_name,
            &ArrayD::zeros(ndarray::IxDyn(shape)),
        );
        assert_eq!(status, 2, "{out}");
        out
    };
    let ends = |out: &str, end: &str| {
        assert!(
            out.lines().any(|l| l.ends_with(end)),
            "expected a line ending in {end:?} in:\n{out}"
        )
    };
    // conv1 of strided_padded_conv pads its 7×7 input by 1: δ of the padded input is 9×9.
    let out = wrong_shape("strided_padded_conv", "conv1", "delta_input", &[1, 9, 9]);
    ends(
        &out,
        "steps[0].layers[0].delta_input: expected shape [1, 7, 7], got [1, 9, 9] (with padding [1, 1] δ_input has the shape of the unpadded input: crop the padding away)",
    );
    // Not for a δ_input without its channel axis, another tensor, or a conv without padding.
    let out = wrong_shape("strided_padded_conv", "conv1", "delta_input", &[9, 9]);
    ends(&out, "expected shape [1, 7, 7], got [9, 9]");
    let out = wrong_shape("strided_padded_conv", "conv1", "z", &[2, 5, 5]);
    ends(&out, "expected shape [2, 4, 4], got [2, 5, 5]");
    let out = wrong_shape("mean_pool_classic", "conv1", "delta_input", &[1, 10, 10]);
    ends(&out, "expected shape [1, 8, 8], got [1, 10, 10]");
}

#[test]
fn a_partial_trace_that_agrees_exits_0() {
    let step = reference("mean_pool_classic");
    let conv1 = layer(&step, "conv1");
    // No names: layers matched by position; one tensor of one layer.
    let theirs = json!({"steps": [{"layers": [{"delta_input": conv1["delta_input"]}]}]});
    let (status, out) = run_diff("mean_pool_classic", &theirs);
    assert_eq!(status, 0, "{out}");
    assert!(
        out.contains("the 1 tensor agrees within 1.0e-6 (1 step, 64 cells)"),
        "{out}"
    );
}

#[test]
fn a_trace_that_compares_nothing_is_refused() {
    for theirs in [
        json!({"steps": []}),
        json!({"steps": [{"step": 0}, {"layers": [{"name": "conv1"}]}]}),
    ] {
        let (status, out) = run_diff("mean_pool_classic", &theirs);
        assert_eq!(status, 2, "{out}");
        assert!(
            out.contains(": the trace holds no tensor: there is nothing to compare"),
            "{out}"
        );
    }
}

/// Run `deltascope diff` with extra arguments on a file; returns (status, stdout + stderr).
fn run_diff_file(scenario: &str, file: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::cargo_bin("deltascope")
        .unwrap()
        .arg("diff")
        .arg(bundled(scenario))
        .arg(file)
        .args(args)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap() + &String::from_utf8(out.stderr).unwrap();
    (out.status.code().unwrap(), text)
}

#[test]
fn a_full_export_with_one_wrong_cell_lists_only_what_differs() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("reference.json");
    Command::cargo_bin("deltascope")
        .unwrap()
        .arg("export")
        .arg(bundled("digit_classifier"))
        .arg("-o")
        .arg(&export)
        .assert()
        .success();
    // The export as it is (every top-level key it writes accepted): a line of counts.
    let (status, out) = run_diff_file("digit_classifier", &export, &[]);
    assert_eq!(status, 0, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[1].starts_with("all 840 tensors agree within 1.0e-6 (20 steps, "),
        "{out}"
    );
    // --all lists them as well.
    let (status, out) = run_diff_file("digit_classifier", &export, &["--all"]);
    assert_eq!(status, 0, "{out}");
    assert_eq!(out.matches(" ok\n").count(), 840, "{out}");

    // One cell of one tensor of step 3 edited.
    let mut trace: Value = serde_json::from_str(&fs::read_to_string(&export).unwrap()).unwrap();
    let layers = trace["steps"][3]["layers"].as_array_mut().unwrap();
    let dense1 = layers.iter_mut().find(|l| l["name"] == "dense1").unwrap();
    let cell = &mut dense1["delta_z"][1];
    *cell = json!(cell.as_f64().unwrap() + 0.01);
    let mine = dir.path().join("mine.json");
    fs::write(&mine, trace.to_string()).unwrap();
    let (status, out) = run_diff_file("digit_classifier", &mine, &[]);
    assert_eq!(status, 1, "{out}");
    assert!(!out.contains(" ok\n"), "{out}");
    let rows: Vec<&str> = out.lines().filter(|l| l.contains(" 1/10")).collect();
    assert_eq!(rows.len(), 1, "{out}");
    // The one wrong tensor is where the mistake is made: its own inputs agree.
    assert!(rows[0].contains("   3  backward  dense1.delta_z "), "{out}");
    assert!(rows[0].ends_with("1/10  ← mistake"), "{out}");
    assert!(
        out.contains("\n839 other tensors agree within 1.0e-6 (--all lists every tensor)\n"),
        "{out}"
    );
    assert!(
        out.contains("first difference: step 3, backward pass, dense1.delta_z[1]"),
        "{out}"
    );
    assert!(out.contains("the reference value comes from:"), "{out}");
    // One cell off is no factor of the whole tensor, nor any other known mistake.
    assert_eq!(
        diagnosis(&out),
        "none of the known mistakes reproduces your numbers"
    );
    let (status, out) = run_diff_file("digit_classifier", &mine, &["--all"]);
    assert_eq!(status, 1, "{out}");
    assert_eq!(out.matches(" ok\n").count(), 839, "{out}");
}

#[test]
fn the_steps_after_the_first_difference_are_folded_to_a_line_each() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("reference.json");
    Command::cargo_bin("deltascope")
        .unwrap()
        .args(["export"])
        .arg(bundled("digit_classifier"))
        .arg("-o")
        .arg(&export)
        .assert()
        .success();
    // One wrong tensor in step 2, one in step 5 and two in step 9, each one cell off.
    let mut trace: Value = serde_json::from_str(&fs::read_to_string(&export).unwrap()).unwrap();
    for (step, tensor) in [(2, "z"), (5, "z"), (9, "z"), (9, "delta_z")] {
        let layers = trace["steps"][step]["layers"].as_array_mut().unwrap();
        let dense1 = layers.iter_mut().find(|l| l["name"] == "dense1").unwrap();
        let cell = &mut dense1[tensor][0];
        *cell = json!(cell.as_f64().unwrap() + 0.5);
    }
    let mine = dir.path().join("mine.json");
    fs::write(&mine, trace.to_string()).unwrap();
    let (status, out) = run_diff_file("digit_classifier", &mine, &[]);
    assert_eq!(status, 1, "{out}");
    let rows: Vec<&str> = out.lines().filter(|l| l.contains(" 1/10")).collect();
    assert_eq!(rows.len(), 1, "only the first step's rows: {out}");
    assert!(rows[0].starts_with("   2  forward   dense1.z "), "{out}");
    assert!(
        out.contains(
            "\n   5  1 tensor differs, after the first difference in step 2 (--all lists them)\n"
        ),
        "{out}"
    );
    assert!(
        out.contains(
            "\n   9  2 tensors differ, after the first difference in step 2 (--all lists them)\n"
        ),
        "{out}"
    );
    assert!(
        out.contains("first difference: step 2, forward pass, dense1.z[0]"),
        "{out}"
    );
    // --all: every row, none folded, and the same exit status.
    let (status, out) = run_diff_file("digit_classifier", &mine, &["--all"]);
    assert_eq!(status, 1, "{out}");
    assert_eq!(
        out.lines().filter(|l| l.contains(" 1/10")).count(),
        4,
        "{out}"
    );
    assert!(!out.contains("after the first difference"), "{out}");
}

#[test]
fn the_first_difference_follows_the_order_of_the_computation() {
    // Both pool2.delta_input and conv1.delta_input are wrong; pool2's comes first in the
    // backward pass, though conv1 comes first in the file.
    let step = reference("mean_pool_classic");
    let bump = |v: &Value| tensor_to_json(&tensor(v).mapv(|x| x + 1.0).view());
    let theirs = json!({"steps": [{"step": 0, "layers": [
        {"name": "conv1", "delta_input": bump(&layer(&step, "conv1")["delta_input"])},
        {"name": "pool2", "delta_input": bump(&layer(&step, "pool2")["delta_input"])}
    ]}]});
    let (status, out) = run_diff("mean_pool_classic", &theirs);
    assert_eq!(status, 1, "{out}");
    assert!(
        out.contains("first difference: step 0, backward pass, pool2.delta_input[0, 0, 0]"),
        "{out}"
    );
    // conv1.delta_input's own inputs are not in the file: it may only follow from the first.
    assert!(
        out.contains("\n1 later tensor differs too; its inputs are not all in your file, so diff can't tell whether it only follows from the first (conv1.delta_input)"),
        "{out}"
    );
    // Both are listed, and nothing else.
    assert_eq!(out.matches("  backward  ").count(), 2, "{out}");
    assert!(!out.contains("agree"), "{out}");
}

#[test]
fn within_a_step_the_loss_comes_before_its_gradient_and_a_layer_computes_in_its_order() {
    let step = reference("mean_pool_classic");
    let bump = |v: &Value| tensor_to_json(&tensor(v).mapv(|x| x + 1.0).view());
    // loss_grad first in the file, then the loss: the loss is computed first.
    let theirs = json!({"steps": [{"step": 0,
        "loss_grad": bump(&step["loss_grad"]),
        "loss": bump(&step["loss"])}]});
    let (status, out) = run_diff("mean_pool_classic", &theirs);
    assert_eq!(status, 1, "{out}");
    assert!(
        out.contains("first difference: step 0, loss pass, loss[]: "),
        "{out}"
    );
    // conv2's δ_input first in the file, then its δz: δz is computed first.
    let conv2 = layer(&step, "conv2");
    let theirs = json!({"steps": [{"step": 0, "layers": [{"name": "conv2",
        "delta_input": bump(&conv2["delta_input"]),
        "delta_z": bump(&conv2["delta_z"])}]}]});
    let (status, out) = run_diff("mean_pool_classic", &theirs);
    assert_eq!(status, 1, "{out}");
    assert!(
        out.contains("first difference: step 0, backward pass, conv2.delta_z[0, 0, 0]"),
        "{out}"
    );
    let rows: Vec<&str> = out.lines().filter(|l| l.contains("  backward  ")).collect();
    assert!(rows[0].contains("conv2.delta_z "), "{out}");
    assert!(rows[1].contains("conv2.delta_input "), "{out}");
}

#[test]
fn a_wrong_cell_of_a_shaped_loss_gradient_is_derived_at_that_cell() {
    // strided_padded_conv ends with a conv of one 2×2 map: ∂L/∂y is [1, 2, 2]. One cell
    // wrong, [0, 1, 0]: its derivation is that of y[2] − t[2], the cell's flat index.
    let step = reference("strided_padded_conv");
    let mut loss_grad = tensor(&step["loss_grad"]);
    assert_eq!(loss_grad.shape(), [1, 2, 2]);
    loss_grad[[0, 1, 0]] += 0.5;
    let theirs = json!({"steps": [{"step": 0, "loss_grad": tensor_to_json(&loss_grad.view())}]});
    let (status, out) = run_diff("strided_padded_conv", &theirs);
    assert_eq!(status, 1, "{out}");
    assert!(
        out.contains("first difference: step 0, loss pass, loss_grad[0, 1, 0]: "),
        "{out}"
    );
    let derivation: Vec<&str> = out
        .lines()
        .skip_while(|l| *l != "the reference value comes from:")
        .collect();
    assert!(
        derivation.iter().any(|l| l.starts_with("    y[2] = ")),
        "{out}"
    );
    assert!(derivation.iter().any(|l| l.contains("· t[2] = ")), "{out}");
}

#[test]
fn malformed_traces_exit_2_with_the_json_path() {
    let step = reference("mean_pool_classic");
    let short = tensor(&layer(&step, "conv1")["delta_input"]).slice_move(ndarray::s![.., .., 0..7]);
    let cases = [
        (
            json!({"steps": [{"step": 0, "layers": [{"name": "conv1", "delta_input": tensor_to_json(&short.view().into_dyn())}]}]}),
            "steps[0].layers[0].delta_input: expected shape [1, 8, 8], got [1, 8, 7]",
        ),
        (
            json!({"steps": [{"layers": [{"name": "conv9"}]}]}),
            "steps[0].layers[0].name: no layer named \"conv9\"",
        ),
        (
            json!({"steps": [{"layers": [{"name": "conv1", "delta_inptu": [1]}]}]}),
            "steps[0].layers[0].delta_inptu: unknown tensor for a conv layer",
        ),
        (
            json!({"steps": [{"layers": [{"name": "pool1", "type": "conv"}]}]}),
            "steps[0].layers[0].type: layer pool1 is a pool layer, not \"conv\"",
        ),
        (
            json!({"steps": [{"layers": [{}, {"type": "conv"}]}]}),
            "steps[0].layers[1].type (no name: taken as pool1, the second layer): layer pool1 is a pool layer, not \"conv\"",
        ),
        (
            json!({"steps": [{"layers": [{"delta_input": [[[1.0]]]}]}]}),
            "steps[0].layers[0].delta_input (no name: taken as conv1, the first layer): expected shape [1, 8, 8], got [1, 1, 1]",
        ),
        (
            json!({"steps": [{"layers": [{"name": "conv1", "bias": [1, "x"]}]}]}),
            "steps[0].layers[0].bias[1]: expected a number, \"NaN\", \"inf\" or \"-inf\", got \"x\"",
        ),
        (
            json!({"steps": [{"step": 0}, {"step": 0}]}),
            "steps[1].step: step 0 appears twice",
        ),
        (
            json!({"stpes": []}),
            "stpes: unknown field (a trace has: steps;",
        ),
        (json!({}), "steps: is required"),
    ];
    for (theirs, expected) in cases {
        let (status, out) = run_diff("mean_pool_classic", &theirs);
        assert_eq!(status, 2, "{out}");
        assert!(out.contains(expected), "expected {expected:?} in:\n{out}");
        assert!(!out.contains("panicked"), "{out}");
    }
}

/// What Python's json.dump writes for float('nan') and float('inf') by default.
#[test]
fn bare_nan_and_infinity_get_the_strings_to_write() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("theirs.json");
    for (token, path) in [
        ("NaN", "steps[0].layers[0].bias[0]"),
        ("Infinity", "steps[0].layers[0].bias[0]"),
        ("-Infinity", "steps[0].layers[0].bias[0]"),
    ] {
        let text = format!(
            r#"{{"steps": [{{"step": 0, "layers": [{{"name": "conv1", "bias": [{token}]}}]}}]}}"#
        );
        fs::write(&file, &text).unwrap();
        let (status, out) = run_diff_file("mean_pool_classic", &file, &[]);
        assert_eq!(status, 2, "{out}");
        let column = text.find(token).unwrap() + 1;
        assert!(
            out.contains(&format!(
                "{path}: {token} is not JSON (though Python's json.dump writes it): write a value that is not finite as the string \"NaN\", \"inf\" or \"-inf\" at line 1 column {column}"
            )),
            "{out}"
        );
    }
}

/// The peak resident memory of a finished child process, in bytes, and its exit status.
#[cfg(unix)]
fn peak_memory(command: &mut std::process::Command) -> (i32, u64) {
    use std::process::Stdio;
    #[expect(
        clippy::zombie_processes,
        reason = "waited for with wait4(2) below, which also gives its resource usage"
    )]
    let child = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: a zeroed rusage is valid; wait4(2) fills it in for this one child, which
    // is not waited for anywhere else.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::wait4(pid, &mut status, 0, &mut usage) }, pid);
    assert!(libc::WIFEXITED(status), "the child was killed: {status}");
    // Kilobytes on Linux, bytes on macOS.
    let unit = if cfg!(target_os = "macos") { 1 } else { 1024 };
    (libc::WEXITSTATUS(status), usage.ru_maxrss as u64 * unit)
}

/// `diff` reads your trace straight into f64s (the scenario reader, src/scenario/tensor.rs):
/// at its peak it holds the file's text, 8 bytes per number and what the reference takes.
/// It used to parse the whole file into a generic JSON tree first, some 60 bytes per
/// number: this 12 MB trace took 95 MB (20 MB for the reference alone), a 40 MB one of
/// zeros 1.4 GB.
#[cfg(unix)]
#[test]
fn a_large_trace_is_read_in_memory_proportional_to_its_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/bench/large.json");
    let trace = dir.path().join("trace.json");
    Command::cargo_bin("deltascope")
        .unwrap()
        .arg("export")
        .arg(&scenario)
        .arg("-o")
        .arg(&trace)
        .assert()
        .success();
    let text = fs::read(&trace).unwrap();
    // Every number follows `[`, `,` or `:` (a few are step numbers and the version).
    let numbers = text
        .split(|&b| matches!(b, b'[' | b',' | b':'))
        .filter(|t| {
            t.trim_ascii_start()
                .first()
                .is_some_and(|&c| c.is_ascii_digit() || c == b'-')
        })
        .count() as u64;
    assert!(numbers > 500_000, "{numbers}");

    // The same run with a trace of one number: the program and the reference of step 0.
    let tiny = dir.path().join("tiny.json");
    fs::write(&tiny, r#"{"steps": [{"step": 0, "loss": 0}]}"#).unwrap();
    let diff = |theirs: &Path| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_deltascope"));
        command.arg("diff").arg(&scenario).arg(theirs);
        peak_memory(&mut command)
    };
    let (status, base) = diff(&tiny);
    assert_eq!(status, 1);
    let (status, peak) = diff(&trace);
    assert_eq!(status, 0, "the export agrees with the reference");

    // The text, plus the numbers twice over (f64s and their copy in the comparison, say).
    let bound = base + text.len() as u64 + 16 * numbers;
    let mb = |b: u64| b as f64 / 1e6;
    assert!(
        peak <= bound,
        "peak {:.1} MB for a {:.1} MB trace of {numbers} numbers; the bound is {:.1} MB ({:.1} MB without the trace)",
        mb(peak),
        mb(text.len() as u64),
        mb(bound),
        mb(base)
    );
}

#[test]
fn a_bias_gradient_averaged_over_the_map_is_named_as_such() {
    let step = reference("mean_pool_classic");
    let conv = layer(&step, "conv1");
    let delta_z = maps(&conv["delta_z"]);
    let (k, h, w) = delta_z.dim();
    assert!(k >= 2, "a factor needs two kernels");
    // np.mean(delta_z, axis=(1, 2)) where the gradient is the sum.
    let averaged = delta_z
        .sum_axis(ndarray::Axis(2))
        .sum_axis(ndarray::Axis(1))
        / (h * w) as f64;
    let (status, out) = diff_layer(
        "mean_pool_classic",
        "conv1",
        &[
            ("delta_z", &delta_z.clone().into_dyn()),
            ("grad_bias", &averaged.into_dyn()),
        ],
    );
    assert_eq!(status, 1, "{out}");
    assert!((factor(&out) - 1.0 / (h * w) as f64).abs() < 1e-12, "{out}");
    assert!(
        diagnosis(&out).ends_with(&format!(
            " × the reference everywhere: the bias gradient averaged over the map instead of summed; ∂L/∂b[k] = Σ δz[k] over its {h}×{w} cells"
        )),
        "{out}"
    );
}

#[test]
fn a_zero_tensor_is_called_that_and_one_number_is_no_factor() {
    let step = reference("mean_pool_classic");
    let conv = layer(&step, "conv1");
    let grad_bias = tensor(&conv["grad_bias"]);
    // Zeros, also negative ones: not "-0 × the reference".
    let zeros = grad_bias.mapv(|_| -0.0);
    let (status, out) = diff_one("mean_pool_classic", "conv1", "grad_bias", &zeros);
    assert_eq!(status, 1, "{out}");
    assert_eq!(diagnosis(&out), "yours is all zeros");
    // The loss alone: any number is a multiple of any other, so no factor is claimed.
    let loss = step["loss"].as_f64().unwrap();
    let theirs = json!({"steps": [{"step": 0, "loss": loss * 0.2667}]});
    let (status, out) = run_diff("mean_pool_classic", &theirs);
    assert_eq!(status, 1, "{out}");
    assert!(!out.contains("× the reference"), "{out}");
}
