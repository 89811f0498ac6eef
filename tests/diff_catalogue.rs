//! The catalogue of known mistakes, one test per entry, through the binary. Each wrong
//! tensor is built here by hand, as a learner's buggy NumPy would compute it, from a
//! bundled scenario's reference export (or a scenario of the test's own derived from one),
//! and given together with the tensors it is computed from. Every case goes through
//! [`check`]: the exit status, the first differing cell, the exact diagnosis; that the
//! correct tensor agrees; and that the same tensor off in one more cell is not given the
//! diagnosis.

use std::fs;
use std::path::{Path, PathBuf};

use deltascope::scenario;
use deltascope::tensor_json::tensor_to_json;
use ndarray::{Array1, Array2, Array3, Array4, ArrayD, Dimension, Ix1, Ix2, Ix3, Ix4, IxDyn};
use serde_json::{Map, Value, json};

mod common;
use common::traces::{bundled, layer, reference_steps, run_diff, tensor};

/// A scenario of the test's own, written into `dir`.
fn scenario_file(dir: &Path, scenario: &Value) -> PathBuf {
    let file = dir.join(format!("{}.json", scenario["name"].as_str().unwrap()));
    fs::write(&file, scenario.to_string()).unwrap();
    file
}

/// The reference export of step 0.
fn reference(path: &Path) -> Value {
    reference_steps(path, 1).remove(0)
}

fn vector(v: &Value) -> Array1<f64> {
    tensor(v).into_dimensionality::<Ix1>().unwrap()
}
fn matrix(v: &Value) -> Array2<f64> {
    tensor(v).into_dimensionality::<Ix2>().unwrap()
}
fn maps(v: &Value) -> Array3<f64> {
    tensor(v).into_dimensionality::<Ix3>().unwrap()
}
fn kernels(v: &Value) -> Array4<f64> {
    tensor(v).into_dimensionality::<Ix4>().unwrap()
}

/// One tensor of a trace: at a step, in a layer (None: the loss node), by name.
#[derive(Clone)]
struct Given {
    step: usize,
    layer: Option<&'static str>,
    tensor: &'static str,
    values: ArrayD<f64>,
}

/// A tensor of the reference export `steps[step]`, as given.
fn from(steps: &[Value], step: usize, layer_name: &'static str, name: &'static str) -> Given {
    Given {
        step,
        layer: Some(layer_name),
        tensor: name,
        values: tensor(&layer(&steps[step], layer_name)[name]),
    }
}

/// A trace file's JSON holding these tensors.
fn trace(given: &[Given]) -> Value {
    let mut steps: Vec<Map<String, Value>> = Vec::new();
    for g in given {
        if steps.len() <= g.step {
            steps.resize_with(g.step + 1, Map::new);
        }
        let step = &mut steps[g.step];
        step.insert("step".into(), json!(g.step));
        let values = tensor_to_json(&g.values.view());
        let Some(name) = g.layer else {
            step.insert(g.tensor.into(), values);
            continue;
        };
        let layers = step.entry("layers").or_insert_with(|| json!([]));
        let layers = layers.as_array_mut().unwrap();
        match layers.iter_mut().find(|l| l["name"] == name) {
            Some(l) => {
                l[g.tensor] = values;
            }
            None => layers.push(json!({"name": name, g.tensor: values})),
        }
    }
    // Steps the case does not use are left out.
    let steps: Vec<Value> = steps
        .into_iter()
        .filter(|s| !s.is_empty())
        .map(Value::Object)
        .collect();
    json!({ "steps": steps })
}

/// The diagnosis line of a report.
fn diagnosis(out: &str) -> &str {
    out.lines()
        .find_map(|l| l.strip_prefix("diagnosis: "))
        .unwrap_or_else(|| panic!("no diagnosis in:\n{out}"))
}

/// The first cell (row-major) where two tensors differ by more than 1e-6 × max(1, |r|).
fn first_difference(yours: &ArrayD<f64>, reference: &ArrayD<f64>) -> Vec<usize> {
    let (index, _) = yours
        .indexed_iter()
        .find(|(i, y)| {
            (**y - reference[i.clone()]).abs() > 1e-6 * reference[i.clone()].abs().max(1.0)
        })
        .expect("the wrong tensor differs somewhere");
    index.slice().to_vec()
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

/// One catalogue entry: a wrong tensor with the tensors it is computed from.
struct Case {
    scenario: PathBuf,
    /// The wrong tensor, and the reference's in its place.
    wrong: Given,
    right: ArrayD<f64>,
    /// The tensors it is computed from, as the reference export has them.
    inputs: Vec<Given>,
    diagnosis: String,
}

/// A case of a layer's tensor at step 0: `wrong` in place of the reference's `tensor`, with
/// the layer's `inputs` as the reference export has them.
fn layer_case(
    file: PathBuf,
    steps: &[Value],
    layer_name: &'static str,
    tensor_name: &'static str,
    wrong: ArrayD<f64>,
    inputs: &[&'static str],
    says: &str,
) -> Case {
    Case {
        wrong: Given {
            values: wrong,
            ..from(steps, 0, layer_name, tensor_name)
        },
        right: tensor(&layer(&steps[0], layer_name)[tensor_name]),
        inputs: inputs
            .iter()
            .map(|name| from(steps, 0, layer_name, name))
            .collect(),
        diagnosis: says.into(),
        scenario: file,
    }
}

/// The name of the layer before `layer` in a scenario file.
fn previous_layer(scenario: &Path, layer: &str) -> String {
    let s = scenario::load(scenario).unwrap();
    let at = s.model.layers.iter().position(|l| l.name == layer).unwrap();
    s.model.layers[at - 1].name.clone()
}

/// The pass that computes a tensor, as the report names it.
fn pass(g: &Given) -> &'static str {
    match (g.layer, g.tensor) {
        (None, _) => "loss",
        (_, t) if t.starts_with("delta_") || t.starts_with("grad_") => "backward",
        _ => "forward",
    }
}

/// Every catalogue entry goes through here: the wrong tensor with its inputs is reported
/// at its first differing cell with exactly the diagnosis; the correct tensor with the
/// same inputs agrees; and the wrong tensor with one more cell off is not given it.
fn check(case: &Case) {
    let Case {
        scenario,
        wrong,
        right,
        inputs,
        diagnosis: expected,
    } = case;
    let with = |values: &ArrayD<f64>| {
        let mut all = inputs.clone();
        all.push(Given {
            values: values.clone(),
            ..wrong.clone()
        });
        run_diff(scenario, &trace(&all))
    };
    let (status, out) = with(&wrong.values);
    assert_eq!(status, 1, "{out}");
    let label = match wrong.layer {
        Some(l) => format!("{l}.{}", wrong.tensor),
        None => wrong.tensor.to_string(),
    };
    let cell = first_difference(&wrong.values, right);
    let first = format!(
        "first difference: step {}, {} pass, {label}{cell:?}: yours ",
        wrong.step,
        pass(wrong)
    );
    assert!(out.contains(&first), "expected {first:?} in:\n{out}");
    // Its inputs are in the file and right: the mistake is located where it is made.
    let place = match (&wrong.layer, wrong.tensor) {
        (None, _) => "the loss".to_string(),
        (Some(l), "weights" | "bias") => format!("{l}'s update after step {}", wrong.step - 1),
        (Some(l), "input") => format!("passing {}'s output to {l}", previous_layer(scenario, l)),
        (Some(l), _) => format!("{l}'s {} pass", pass(wrong)),
    };
    let made = format!(
        "\nmistake: step {}, {place}. Computed correctly from your ",
        wrong.step
    );
    assert!(out.contains(&made), "expected {made:?} in:\n{out}");
    assert!(
        out.contains(": the mistake is made here, not before\n"),
        "{out}"
    );
    assert_eq!(diagnosis(&out), expected, "{out}");

    // The correct tensor, with the same inputs: nothing differs.
    let (status, out) = with(right);
    assert_eq!(status, 0, "the correct tensor: {out}");

    // Differently wrong: the same mistake with its last cell off too.
    let mut other = wrong.values.clone();
    *other.iter_mut().last().unwrap() += 0.25;
    let (status, out) = with(&other);
    assert_eq!(status, 1, "{out}");
    assert_ne!(diagnosis(&out), expected, "one more cell off: {out}");
}

// ---------------------------------------------------------------- conv δ_input and ∂w

/// δ of a conv layer's padded input, each δz[k, i, j] spread over its window through the
/// kernel at (i·s + u, j·s + v), for the kernels in `ks`: with `overwrite`, each kernel's
/// share replaces the one before (`dx = ...` inside `for k`).
fn spread_delta(
    w: &Array4<f64>,
    dz: &Array3<f64>,
    stride: usize,
    padded: (usize, usize),
    overwrite: bool,
) -> Array3<f64> {
    let (kn, c_in, kh, kw) = w.dim();
    let (_, ho, wo) = dz.dim();
    let mut dx = Array3::<f64>::zeros((c_in, padded.0, padded.1));
    for k in 0..kn {
        let mut share = Array3::<f64>::zeros(dx.raw_dim());
        for c in 0..c_in {
            for i in 0..ho {
                for j in 0..wo {
                    for u in 0..kh {
                        for v in 0..kw {
                            share[[c, i * stride + u, j * stride + v]] +=
                                w[[k, c, u, v]] * dz[[k, i, j]];
                        }
                    }
                }
            }
        }
        if overwrite {
            dx = share;
        } else {
            dx += &share;
        }
    }
    dx
}

#[test]
fn conv_delta_input_overwritten_per_kernel_keeps_the_last_kernel_only() {
    // conv2 of mean_pool_classic (2 kernels) and of digit_classifier (8 kernels).
    for (scenario, kernels_n) in [("mean_pool_classic", 2), ("digit_classifier", 8)] {
        let file = bundled(scenario);
        let steps = reference_steps(&file, 1);
        let conv2 = layer(&steps[0], "conv2");
        let (w, dz) = (kernels(&conv2["weights"]), maps(&conv2["delta_z"]));
        assert_eq!(w.dim().0, kernels_n);
        let (_, h, wd) = maps(&conv2["input"]).dim();
        let right = tensor(&conv2["delta_input"]);
        let summed = spread_delta(&w, &dz, 1, (h, wd), false).into_dyn();
        assert_same_numbers(&summed, &right, "summed over the kernels");
        let wrong = spread_delta(&w, &dz, 1, (h, wd), true).into_dyn();
        check(&Case {
            scenario: file,
            wrong: Given {
                values: wrong,
                ..from(&steps, 0, "conv2", "delta_input")
            },
            right,
            inputs: vec![
                from(&steps, 0, "conv2", "delta_z"),
                from(&steps, 0, "conv2", "weights"),
            ],
            diagnosis: format!(
                "δ_input was overwritten kernel by kernel instead of summed over the kernels: yours is the last kernel's share alone (k = {}); δ_input[c] = Σ_k full_conv(δz[k], rot180(w[k, c])), so add each kernel's share (+=)",
                kernels_n - 1
            ),
        });
    }
}

#[test]
fn conv_delta_z_not_dilated_by_the_stride() {
    // Stride 2, padding 1: each δz[k, i, j] spread at (i + u, j + v) of the padded input.
    let file = bundled("strided_padded_conv");
    let steps = reference_steps(&file, 1);
    let conv1 = layer(&steps[0], "conv1");
    let (w, dz) = (kernels(&conv1["weights"]), maps(&conv1["delta_z"]));
    let (_, h, wd) = maps(&conv1["input"]).dim();
    let crop = |dx: Array3<f64>| {
        dx.slice(ndarray::s![.., 1..1 + h, 1..1 + wd])
            .to_owned()
            .into_dyn()
    };
    let right = tensor(&conv1["delta_input"]);
    let dilated = crop(spread_delta(&w, &dz, 2, (h + 2, wd + 2), false));
    assert_same_numbers(&dilated, &right, "dilated");
    let wrong = crop(spread_delta(&w, &dz, 1, (h + 2, wd + 2), false));
    check(&Case {
        scenario: file,
        wrong: Given { values: wrong, ..from(&steps, 0, "conv1", "delta_input") },
        right,
        inputs: vec![from(&steps, 0, "conv1", "delta_z"), from(&steps, 0, "conv1", "weights")],
        diagnosis: "δz was not dilated by the stride [2, 2]: each δz[k, i, j] was spread at (i + u, j + v) instead of (i·s + u, j·s + v); put s − 1 zeros between neighbouring cells of δz before the full convolution with rot180(w), so that each lands where its window starts".into(),
    });
}

/// scipy.signal.correlate2d(a, b, 'valid'): when b is the larger, scipy correlates b with
/// a and returns the result reversed on both axes.
fn scipy_correlate2d_valid(a: &Array2<f64>, b: &Array2<f64>) -> Array2<f64> {
    let (small, big, swapped) = if b.dim().0 > a.dim().0 {
        (a, b, true)
    } else {
        (b, a, false)
    };
    let (oh, ow) = (
        big.dim().0 - small.dim().0 + 1,
        big.dim().1 - small.dim().1 + 1,
    );
    let mut out = Array2::<f64>::zeros((oh, ow));
    for ((m, n), o) in out.indexed_iter_mut() {
        for ((i, j), s) in small.indexed_iter() {
            *o += big[[m + i, n + j]] * s;
        }
    }
    if swapped {
        out.slice(ndarray::s![..;-1, ..;-1]).to_owned()
    } else {
        out
    }
}

#[test]
fn conv_kernel_gradient_with_input_and_delta_z_swapped_is_the_rotated_one() {
    // dw[k, c] = correlate2d(dz[k], x[c], 'valid') where correlate2d(x[c], dz[k]) is right.
    let file = bundled("mean_pool_classic");
    let steps = reference_steps(&file, 1);
    let conv1 = layer(&steps[0], "conv1");
    let (x, dz) = (maps(&conv1["input"]), maps(&conv1["delta_z"]));
    let right = kernels(&conv1["grad_weights"]);
    let mut wrong = Array4::<f64>::zeros(right.raw_dim());
    for ((k, c, _, _), _) in right.indexed_iter() {
        let xc = x.index_axis(ndarray::Axis(0), c).to_owned();
        let dzk = dz.index_axis(ndarray::Axis(0), k).to_owned();
        let right_kc = scipy_correlate2d_valid(&xc, &dzk);
        let reference = right.slice(ndarray::s![k, c, .., ..]).to_owned().into_dyn();
        assert_same_numbers(
            &right_kc.into_dyn(),
            &reference,
            "x[c] correlated with δz[k]",
        );
        wrong
            .slice_mut(ndarray::s![k, c, .., ..])
            .assign(&scipy_correlate2d_valid(&dzk, &xc));
    }
    check(&Case {
        scenario: file,
        wrong: Given { values: wrong.into_dyn(), ..from(&steps, 0, "conv1", "grad_weights") },
        right: right.into_dyn(),
        inputs: vec![from(&steps, 0, "conv1", "input"), from(&steps, 0, "conv1", "delta_z")],
        diagnosis: "the kernel gradient is rotated by 180°: ∂L/∂w[k, c] is the correlation of the layer input x[c] with δz[k], without rotation (a convolution gives these numbers, and so does scipy's correlate2d(δz, x, 'valid'): with the input and δz swapped it returns the rotated result)".into(),
    });
}

#[test]
fn conv_kernel_gradient_with_kernel_and_channel_axes_swapped() {
    // conv2 of mean_pool_classic: 2 kernels over 2 channels; dw[c, k] written for dw[k, c].
    let file = bundled("mean_pool_classic");
    let steps = reference_steps(&file, 1);
    let conv2 = layer(&steps[0], "conv2");
    let (x, dz) = (maps(&conv2["input"]), maps(&conv2["delta_z"]));
    let right = kernels(&conv2["grad_weights"]);
    let (kn, c_in, kh, kw) = right.dim();
    assert_eq!(kn, c_in);
    let (_, ho, wo) = dz.dim();
    let mut wrong = Array4::<f64>::zeros(right.raw_dim());
    for k in 0..kn {
        for c in 0..c_in {
            for u in 0..kh {
                for v in 0..kw {
                    for i in 0..ho {
                        for j in 0..wo {
                            wrong[[c, k, u, v]] += x[[c, i + u, j + v]] * dz[[k, i, j]];
                        }
                    }
                }
            }
        }
    }
    check(&Case {
        scenario: file,
        wrong: Given { values: wrong.into_dyn(), ..from(&steps, 0, "conv2", "grad_weights") },
        right: right.into_dyn(),
        inputs: vec![from(&steps, 0, "conv2", "input"), from(&steps, 0, "conv2", "delta_z")],
        diagnosis: "the kernel gradient has its kernel and channel axes swapped: ∂L/∂w[k, c] (shape [K, C, kh, kw]) is the correlation of input channel c with δz[k]; yours holds it at [c, k]".into(),
    });
}

// ---------------------------------------------------------------- activations

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// δz of `layer_name` computed from its δa, z and a by `rule(δa, z, a)`, with those three
/// given.
fn activation_case(
    file: PathBuf,
    layer_name: &'static str,
    rule: impl Fn(f64, f64, f64) -> f64,
    says: &str,
) -> Case {
    let steps = reference_steps(&file, 1);
    let l = layer(&steps[0], layer_name);
    let (da, z, a) = (tensor(&l["delta_a"]), tensor(&l["z"]), tensor(&l["a"]));
    let wrong = ndarray::Zip::from(&da)
        .and(&z)
        .and(&a)
        .map_collect(|&d, &z, &a| rule(d, z, a));
    Case {
        wrong: Given {
            values: wrong,
            ..from(&steps, 0, layer_name, "delta_z")
        },
        right: tensor(&l["delta_z"]),
        inputs: vec![
            from(&steps, 0, layer_name, "delta_a"),
            from(&steps, 0, layer_name, "z"),
            from(&steps, 0, layer_name, "a"),
        ],
        diagnosis: says.into(),
        scenario: file,
    }
}

#[test]
fn delta_z_without_the_activation_derivative() {
    // `dz = da`: tanh in conv2, the sigmoid in dense1.
    let file = bundled("leaky_tanh_sigmoid");
    check(&activation_case(
        file.clone(),
        "conv2",
        |d, _, _| d,
        "the activation's derivative was left out: yours is δa itself; δz = δa ⊙ f′(z), with tanh′(z) = 1 − a²",
    ));
    check(&activation_case(
        file,
        "dense1",
        |d, _, _| d,
        "the activation's derivative was left out: yours is δa itself; δz = δa ⊙ f′(z), with σ′(z) = a·(1 − a)",
    ));
}

#[test]
fn activation_derivative_taken_at_a_instead_of_z() {
    // `dz = da * sigmoid_prime(a)` with sigmoid_prime(x) = sigmoid(x) * (1 - sigmoid(x)).
    let file = bundled("leaky_tanh_sigmoid");
    check(&activation_case(
        file.clone(),
        "dense1",
        |d, _, a| d * sigmoid(a) * (1.0 - sigmoid(a)),
        "the derivative was taken at a instead of z: yours is δa · σ′(a) = σ(a)·(1 − σ(a)); δz = δa ⊙ f′(z), with σ′(z) = a·(1 − a) where a = f(z)",
    ));
    check(&activation_case(
        file,
        "conv2",
        |d, _, a| d * (1.0 - a.tanh().powi(2)),
        "the derivative was taken at a instead of z: yours is δa · tanh′(a) = 1 − tanh²(a); δz = δa ⊙ f′(z), with tanh′(z) = 1 − a² where a = f(z)",
    ));
}

#[test]
fn activation_derivative_in_terms_of_a_applied_to_z() {
    // `dz = da * z * (1 - z)`, `dz = da * (1 - z**2)`.
    let file = bundled("leaky_tanh_sigmoid");
    check(&activation_case(
        file.clone(),
        "dense1",
        |d, z, _| d * z * (1.0 - z),
        "the derivative's formula in terms of a was applied to z: yours is δa · z·(1 − z); σ′(z) = a·(1 − a) takes a = f(z), not z",
    ));
    check(&activation_case(
        file,
        "conv2",
        |d, z, _| d * (1.0 - z * z),
        "the derivative's formula in terms of a was applied to z: yours is δa · (1 − z²); tanh′(z) = 1 − a² takes a = f(z), not z",
    ));
}

#[test]
fn relu_derivative_at_zero_taken_as_one() {
    // `dz = da * (z >= 0)`. A corner of zeros and a zero bias make z exactly 0 there.
    let dir = tempfile::tempdir().unwrap();
    let file = scenario_file(
        dir.path(),
        &json!({
            "name": "relu_at_zero",
            "seed": 3,
            "input": [[0.0, 0.0, 0.0, 0.4], [0.0, 0.0, 0.0, -0.6], [0.0, 0.0, 0.7, 0.2], [0.5, -0.3, 0.1, 0.9]],
            "layers": [
                {"type": "conv", "kernels": 2, "kernel_size": 2, "activation": "relu", "bias": [0.0, 0.0]},
                {"type": "dense", "outputs": 2}
            ],
            "loss": {"kind": "half_sse", "target": [1.0, -1.0]},
        }),
    );
    let z = tensor(&layer(&reference(&file), "conv1")["z"]);
    assert!(z.iter().filter(|&&z| z == 0.0).count() >= 4, "{z}");
    check(&activation_case(
        file,
        "conv1",
        |d, z, _| if z >= 0.0 { d } else { 0.0 },
        "ReLU′(0) taken as 1: δ passed where z = 0 exactly; ReLU′(0) = 0 (PyTorch's choice, and this reference's), so δz = δa only where z > 0",
    ));
}

// ---------------------------------------------------------------- pools

/// (size, stride) of a pool layer of a scenario file.
fn pool_geometry(file: &Path, layer_name: &str) -> (usize, usize) {
    let s: Value = serde_json::from_str(&fs::read_to_string(file).unwrap()).unwrap();
    let l = s["layers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == layer_name)
        .unwrap();
    let size = l["size"].as_u64().unwrap() as usize;
    let stride = l.get("stride").and_then(Value::as_u64);
    (size, stride.map_or(size, |s| s as usize))
}

/// A pool backward written by hand: each window's δ_output added to the cells of its window
/// that `gets(window, u, v)` picks, times `weight(window, u, v)`.
fn pool_backward(
    input: &Array3<f64>,
    d_out: &Array3<f64>,
    (size, stride): (usize, usize),
    share: impl Fn(&Array2<f64>, usize, usize) -> f64,
) -> ArrayD<f64> {
    let mut d_in = Array3::<f64>::zeros(input.raw_dim());
    for ((c, i, j), &d) in d_out.indexed_iter() {
        let (y0, x0) = (i * stride, j * stride);
        let window = input
            .slice(ndarray::s![c, y0..y0 + size, x0..x0 + size])
            .to_owned();
        for u in 0..size {
            for v in 0..size {
                d_in[[c, y0 + u, x0 + v]] += d * share(&window, u, v);
            }
        }
    }
    d_in.into_dyn()
}

/// A pool's δ_input case, given with its δ_output and input (and switches, for max).
fn pool_delta_case(
    file: PathBuf,
    layer_name: &'static str,
    share: impl Fn(&Array2<f64>, usize, usize) -> f64,
    says: &str,
) -> Case {
    let steps = reference_steps(&file, 1);
    let pool = layer(&steps[0], layer_name);
    let (input, d_out) = (maps(&pool["input"]), maps(&pool["delta_output"]));
    let wrong = pool_backward(&input, &d_out, pool_geometry(&file, layer_name), share);
    let mut inputs = vec![
        from(&steps, 0, layer_name, "delta_output"),
        from(&steps, 0, layer_name, "input"),
        from(&steps, 0, layer_name, "output"),
    ];
    if pool.get("argmax").is_some() {
        inputs.push(from(&steps, 0, layer_name, "argmax"));
    }
    Case {
        wrong: Given {
            values: wrong,
            ..from(&steps, 0, layer_name, "delta_input")
        },
        right: tensor(&pool["delta_input"]),
        inputs,
        diagnosis: says.into(),
        scenario: file,
    }
}

fn window_max(window: &Array2<f64>) -> f64 {
    window.iter().copied().fold(f64::NEG_INFINITY, f64::max)
}

#[test]
fn max_pool_delta_sent_to_every_cell_of_the_window() {
    check(&pool_delta_case(
        bundled("max_pool_switches"),
        "pool1",
        |_, _, _| 1.0,
        "max-pool δ sent to every cell of the window: only the window's maximum (its switch, kept from the forward pass) gets δ, the other cells get 0",
    ));
}

#[test]
fn max_pool_delta_sent_to_every_tied_maximum() {
    // `mask = (window == window.max())`: digit_classifier's pool1 has a tie whose δ is not 0.
    let file = bundled("digit_classifier");
    let case = pool_delta_case(
        file,
        "pool1",
        |w, u, v| f64::from(u8::from(w[[u, v]] == window_max(w))),
        "max-pool δ sent to every cell equal to the window's maximum (a `window == max` mask): where the maximum is tied, only the first in row-major order gets δ (PyTorch's choice, and this reference's)",
    );
    check(&case);
}

#[test]
fn l2_pool_delta_not_divided_by_the_norm() {
    // `d_in[window] += d * x` where d * x / y is right.
    check(&pool_delta_case(
        bundled("l2_pool"),
        "pool1",
        |w, u, v| w[[u, v]],
        "L2-pool δ not divided by the window's norm: each cell gets δ·x/‖x‖ (‖x‖ is the pool's output y), not δ·x",
    ));
}

#[test]
fn argmax_numbered_inside_the_window() {
    // `np.argmax(window)`: 0..m−1 inside the window, where the reference has h·W + w.
    let file = bundled("max_pool_switches");
    let steps = reference_steps(&file, 1);
    let pool = layer(&steps[0], "pool1");
    let (size, stride) = pool_geometry(&file, "pool1");
    let input = maps(&pool["input"]);
    let w = input.dim().2;
    let right = tensor(&pool["argmax"]);
    let mut wrong = right.clone();
    for ((c, i, j), at) in right
        .clone()
        .into_dimensionality::<Ix3>()
        .unwrap()
        .indexed_iter()
    {
        let window = input.slice(ndarray::s![
            c,
            i * stride..i * stride + size,
            j * stride..j * stride + size
        ]);
        let max = window.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let first = window.iter().position(|&x| x == max).unwrap();
        assert_eq!(
            ((i * stride + first / size) * w + j * stride + first % size) as f64,
            *at
        );
        wrong[[c, i, j]] = first as f64;
    }
    let cell = first_difference(&wrong, &right);
    let (c, i, j) = (cell[0], cell[1], cell[2]);
    let (inside, plane) = (wrong[[c, i, j]] as usize, right[[c, i, j]] as usize);
    let (y0, x0) = (i * stride, j * stride);
    check(&Case {
        scenario: file.clone(),
        wrong: Given {
            values: wrong,
            ..from(&steps, 0, "pool1", "argmax")
        },
        right,
        inputs: vec![
            from(&steps, 0, "pool1", "input"),
            from(&steps, 0, "pool1", "output"),
        ],
        diagnosis: format!(
            "the switches are numbered inside the window, as np.argmax(window) gives: your argmax[{c}, {i}, {j}] = {inside} is position {inside} inside the {size}×{size} window at rows {y0}–{}, columns {x0}–{}, i.e. input cell ({}, {}); the reference numbers switches in the input plane: h·W + w = {}·{w} + {} = {plane}",
            y0 + size - 1,
            x0 + size - 1,
            plane / w,
            plane % w,
            plane / w,
            plane % w,
        ),
    });
}

// ---------------------------------------------------------------- losses

/// conv (tanh) → dense with 5 outputs: n = 5, so that every reduction gives its own numbers.
fn five_outputs(dir: &Path, loss: &str) -> (PathBuf, ArrayD<f64>) {
    let target = [0.5, -0.5, 1.0, 0.0, 0.25];
    let file = scenario_file(
        dir,
        &json!({
            "name": format!("five_outputs_{loss}"),
            "seed": 5,
            "input": [[0.1, 0.5, -0.3, 0.8], [0.4, -0.2, 0.9, 0.0],
                      [0.7, 0.3, -0.6, 0.2], [-0.1, 0.6, 0.5, -0.4]],
            "layers": [
                {"type": "conv", "kernels": 2, "kernel_size": 3, "activation": "tanh"},
                {"type": "dense", "outputs": 5, "bias": [0.01, 0.02, 0.03, 0.04, 0.05]}
            ],
            "loss": {"kind": loss, "target": target},
        }),
    );
    (file, ndarray::arr1(&target).into_dyn())
}

/// The loss node's L or ∂L/∂y computed by hand, given with y (dense1.a).
fn loss_case(file: &Path, name: &'static str, wrong: ArrayD<f64>, says: String) -> Case {
    let steps = reference_steps(file, 1);
    let right = tensor(&steps[0][name]);
    Case {
        scenario: file.to_path_buf(),
        wrong: Given {
            step: 0,
            layer: None,
            tensor: name,
            values: wrong,
        },
        right,
        inputs: vec![from(&steps, 0, "dense1", "a")],
        diagnosis: says,
    }
}

fn scalar(v: f64) -> ArrayD<f64> {
    ArrayD::from_elem(IxDyn(&[]), v)
}

/// Each reduction a learner writes: (L as a function of Σ(y − t)², ∂L/∂y as a multiple of
/// y − t, the diagnosis's name for them).
const N: f64 = 5.0;
const REDUCTIONS: [(f64, f64, &str, &str); 4] = [
    (1.0 / N, 2.0 / N, "the mean Σ(y − t)²/n", "2(y − t)/n"),
    (1.0, 2.0, "the sum Σ(y − t)²", "2(y − t)"),
    (0.5, 1.0, "half the sum ½Σ(y − t)²", "y − t"),
    (0.5 / N, 1.0 / N, "half the mean ½Σ(y − t)²/n", "(y − t)/n"),
];

/// L and ∂L/∂y of a squared-error loss under every reduction but the scenario's.
fn check_reductions(loss: &str, right: usize, the_right_one: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (file, t) = five_outputs(dir.path(), loss);
    let y = tensor(&layer(&reference(&file), "dense1")["a"]);
    let d = &y - &t;
    let sum: f64 = d.iter().map(|d| d * d).sum();
    for (i, (value, grad, name, gradient)) in REDUCTIONS.into_iter().enumerate() {
        if i == right {
            continue;
        }
        // `loss = np.sum((y - t)**2)`, `dy = 2 * (y - t)`, ...
        check(&loss_case(
            &file,
            "loss",
            scalar(value * sum),
            format!("yours is {name}; {the_right_one}"),
        ));
        check(&loss_case(
            &file,
            "loss_grad",
            d.mapv(|d| grad * d),
            format!("yours is {gradient}, the gradient of {name}; {the_right_one}"),
        ));
    }
}

#[test]
fn mse_loss_and_its_gradient_under_another_reduction() {
    check_reductions(
        "mse",
        0,
        "mse is the mean Σ(y − t)²/n over the n = 5 outputs, so ∂L/∂y = 2(y − t)/n",
    );
}

#[test]
fn half_sse_loss_and_its_gradient_under_another_reduction() {
    check_reductions(
        "half_sse",
        2,
        "half_sse is half the sum ½Σ(y − t)² over the n = 5 outputs, so ∂L/∂y = y − t",
    );
}

#[test]
fn a_loss_reductions_factor_in_a_later_gradient_is_named_from_the_same_table() {
    // Every δ before the loss scales with ∂L/∂y: conv1's kernel gradient, 5 × (the sum's
    // 2(y − t) against mse's 2(y − t)/n) and 1/5 (half_sse's mean). Given alone, without
    // the δz it is computed from, the factor may come from upstream: "perhaps".
    let dir = tempfile::tempdir().unwrap();
    for (loss, c, text, says) in [
        (
            "mse",
            5.0,
            "5",
            "as if ∂L/∂y were 2(y − t), the gradient of the sum Σ(y − t)²; mse is the mean Σ(y − t)²/n over the n = 5 outputs, so ∂L/∂y = 2(y − t)/n",
        ),
        (
            "half_sse",
            0.2,
            "1/5",
            "as if ∂L/∂y were (y − t)/n, the gradient of half the mean ½Σ(y − t)²/n; half_sse is half the sum ½Σ(y − t)² over the n = 5 outputs, so ∂L/∂y = y − t",
        ),
    ] {
        let (file, _) = five_outputs(dir.path(), loss);
        let steps = reference_steps(&file, 1);
        let right = tensor(&layer(&steps[0], "conv1")["grad_weights"]);
        let (status, out) = run_diff(
            &file,
            &trace(&[Given {
                values: right.mapv(|g| g * c),
                ..from(&steps, 0, "conv1", "grad_weights")
            }]),
        );
        assert_eq!(status, 1, "{out}");
        let d = diagnosis(&out);
        assert!(d.starts_with(&format!("yours = {text} ")), "{out}");
        assert!(
            d.ends_with(&format!(
                " × the reference everywhere: perhaps a loss-reduction mix-up, {says}"
            )) || d.ends_with(&format!(
                ") × the reference everywhere: perhaps a loss-reduction mix-up, {says}"
            )),
            "{out}"
        );
    }
    // A factor no reduction gives is named only as a factor: 3(y − t).
    let (file, t) = five_outputs(dir.path(), "half_sse");
    let y = tensor(&layer(&reference(&file), "dense1")["a"]);
    let (status, out) = run_diff(
        &file,
        &trace(&[Given {
            step: 0,
            layer: None,
            tensor: "loss_grad",
            values: (&y - &t).mapv(|d| 3.0 * d),
        }]),
    );
    assert_eq!(status, 1, "{out}");
    assert!(
        diagnosis(&out).starts_with("yours = 3 ")
            && diagnosis(&out).ends_with(" × the reference everywhere"),
        "{out}"
    );
}

#[test]
fn no_diagnosis_is_claimed_from_one_number_by_ratio() {
    // The loss alone, 0.2667 × the reference: any number is a multiple of any other.
    let dir = tempfile::tempdir().unwrap();
    let (file, _) = five_outputs(dir.path(), "mse");
    let loss = reference(&file)["loss"].as_f64().unwrap();
    for c in [0.2667, 3.0] {
        let (status, out) = run_diff(
            &file,
            &trace(&[Given {
                step: 0,
                layer: None,
                tensor: "loss",
                values: scalar(loss * c),
            }]),
        );
        assert_eq!(status, 1, "{out}");
        assert_eq!(
            diagnosis(&out),
            "none of the known mistakes reproduces your numbers",
            "{c}: {out}"
        );
    }
    // A one-cell bias one update off by some other rate: one number fits any learning rate.
    let file = bundled("strided_padded_conv");
    let steps = reference_steps(&file, 2);
    let b0 = tensor(&layer(&steps[0], "conv2")["bias"]);
    let g0 = tensor(&layer(&steps[0], "conv2")["grad_bias"]);
    assert_eq!(b0.len(), 1);
    assert_ne!(g0[[0]], 0.0);
    let wrong = &b0 - &(0.0123 * &g0);
    let (status, out) = run_diff(
        &file,
        &trace(&[
            from(&steps, 0, "conv2", "bias"),
            from(&steps, 0, "conv2", "grad_bias"),
            Given {
                values: wrong,
                ..from(&steps, 1, "conv2", "bias")
            },
        ]),
    );
    assert_eq!(status, 1, "{out}");
    assert_eq!(
        diagnosis(&out),
        "none of the known mistakes reproduces your numbers",
        "{out}"
    );
}

fn softmax(y: &ArrayD<f64>) -> ArrayD<f64> {
    let max = y.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e = y.mapv(|v| (v - max).exp());
    let sum = e.sum();
    e / sum
}

/// digit_classifier: cross_entropy towards class 3 over dense1's 10 logits.
#[test]
fn cross_entropy_gradient_written_as_dl_dp() {
    // `dp = np.zeros(10); dp[3] = -1 / p[3]`
    let file = bundled("digit_classifier");
    let y = tensor(&layer(&reference(&file), "dense1")["a"]);
    let p = softmax(&y);
    let mut wrong = ArrayD::zeros(y.raw_dim());
    wrong[[3]] = -1.0 / p[[3]];
    check(&loss_case(&file, "loss_grad", wrong, "yours is ∂L/∂p, −1/p at the class and 0 elsewhere: the gradient with respect to the probabilities p = softmax(y); the loss takes the logits y, and through the softmax ∂L/∂y = softmax(y) − onehot(class)".into()));
}

#[test]
fn cross_entropy_gradient_without_the_softmax() {
    // `dy = y - onehot`
    let file = bundled("digit_classifier");
    let y = tensor(&layer(&reference(&file), "dense1")["a"]);
    let mut wrong = y.clone();
    wrong[[3]] -= 1.0;
    check(&loss_case(&file, "loss_grad", wrong, "the softmax was left out: yours is y − onehot(class); ∂L/∂y = softmax(y) − onehot(class), the probabilities minus the one-hot target".into()));
}

// ---------------------------------------------------------------- dense

/// conv (2 kernels, tanh) → dense 8 × 8: square weights, where a transpose keeps the shape.
fn square_dense(dir: &Path) -> PathBuf {
    scenario_file(
        dir,
        &json!({
            "name": "square_dense",
            "seed": 8,
            "input": [[0.1, 0.5, -0.3, 0.8], [0.4, -0.2, 0.9, 0.0],
                      [0.7, 0.3, -0.6, 0.2], [-0.1, 0.6, 0.5, -0.4]],
            "layers": [
                {"type": "conv", "kernels": 2, "kernel_size": 3, "activation": "tanh"},
                {"type": "dense", "outputs": 8, "activation": "tanh"}
            ],
            "loss": {"kind": "half_sse", "target": [0.5, -0.5, 1.0, 0.0, 0.25, -0.25, 0.75, -1.0]},
        }),
    )
}

/// A dense layer's tensor computed by hand from the step's other tensors, given with them.
fn dense_case(
    file: &Path,
    name: &'static str,
    wrong: ArrayD<f64>,
    inputs: &[(&'static str, &'static str)],
    says: &str,
) -> Case {
    let steps = reference_steps(file, 1);
    Case {
        scenario: file.to_path_buf(),
        right: tensor(&layer(&steps[0], "dense1")[name]),
        wrong: Given {
            values: wrong,
            ..from(&steps, 0, "dense1", name)
        },
        inputs: inputs.iter().map(|(l, t)| from(&steps, 0, l, t)).collect(),
        diagnosis: says.into(),
    }
}

#[test]
fn dense_z_from_transposed_weights() {
    // `z = W.T @ x + b`
    let dir = tempfile::tempdir().unwrap();
    let file = square_dense(dir.path());
    let dense = layer(&reference(&file), "dense1").clone();
    let (w, b, x) = (
        matrix(&dense["weights"]),
        vector(&dense["bias"]),
        vector(&dense["input"]),
    );
    let wrong = (w.t().dot(&x) + &b).into_dyn();
    check(&dense_case(
        &file,
        "z",
        wrong,
        &[
            ("dense1", "input"),
            ("dense1", "weights"),
            ("dense1", "bias"),
        ],
        "z was computed with the weights transposed, Wᵀ·x + b; deltascope's dense weights are [outputs][inputs]: z = W·x + b",
    ));
}

#[test]
fn dense_delta_input_through_untransposed_weights() {
    // `dx = W @ dz`
    let dir = tempfile::tempdir().unwrap();
    let file = square_dense(dir.path());
    let dense = layer(&reference(&file), "dense1").clone();
    let (w, dz) = (matrix(&dense["weights"]), vector(&dense["delta_z"]));
    check(&dense_case(
        &file,
        "delta_input",
        w.dot(&dz).into_dyn(),
        &[("dense1", "weights"), ("dense1", "delta_z")],
        "δ_input was computed as W·δz; deltascope's dense weights are [outputs][inputs]: z = W·x + b, so δ_input = Wᵀ·δz",
    ));
}

#[test]
fn dense_weight_gradient_transposed() {
    // `dW = np.outer(x, dz)`
    let dir = tempfile::tempdir().unwrap();
    let file = square_dense(dir.path());
    let dense = layer(&reference(&file), "dense1").clone();
    let (x, dz) = (vector(&dense["input"]), vector(&dense["delta_z"]));
    let wrong = Array2::from_shape_fn((x.len(), dz.len()), |(i, o)| x[i] * dz[o]);
    check(&dense_case(
        &file,
        "grad_weights",
        wrong.into_dyn(),
        &[("dense1", "input"), ("dense1", "delta_z")],
        "∂L/∂W is transposed, x ⊗ δz; deltascope's dense weights are [outputs][inputs]: z = W·x + b, so ∂L/∂W[o, i] = δz[o]·x[i] (δz ⊗ x)",
    ));
}

#[test]
fn dense_weights_of_the_transposed_shape_get_a_hint() {
    // digit_classifier's dense1 is [10][8]; [8][10] is refused with the convention.
    let file = bundled("digit_classifier");
    let steps = reference_steps(&file, 1);
    for name in ["weights", "grad_weights"] {
        let transposed = matrix(&layer(&steps[0], "dense1")[name])
            .reversed_axes()
            .into_dyn();
        let (status, out) = run_diff(
            &file,
            &trace(&[Given {
                values: transposed,
                ..from(&steps, 0, "dense1", name)
            }]),
        );
        assert_eq!(status, 2, "{out}");
        assert!(out.contains(&format!("steps[0].layers[0].{name}: expected shape [10, 8], got [8, 10] (deltascope's dense weights are [outputs][inputs] = [10][8]: yours has them transposed)")), "{out}");
    }
    // Not for another wrong shape, nor for a conv's weights.
    let (status, out) = run_diff(
        &file,
        &trace(&[Given {
            values: ArrayD::zeros(IxDyn(&[8, 9])),
            ..from(&steps, 0, "dense1", "weights")
        }]),
    );
    assert_eq!(status, 2, "{out}");
    assert!(
        out.lines()
            .any(|l| l.ends_with("expected shape [10, 8], got [8, 9]")),
        "{out}"
    );
    let (status, out) = run_diff(
        &file,
        &trace(&[Given {
            values: ArrayD::zeros(IxDyn(&[9, 1, 3, 3])),
            ..from(&steps, 0, "conv1", "weights")
        }]),
    );
    assert_eq!(status, 2, "{out}");
    assert!(
        out.lines()
            .any(|l| l.ends_with("expected shape [4, 1, 3, 3], got [9, 1, 3, 3]")),
        "{out}"
    );
}

/// multichannel_rgb: pool1's [2, 2, 2] maps flattened into dense1's 8 inputs.
fn channels_last(maps: &Array3<f64>) -> Array1<f64> {
    // `x = maps.transpose(1, 2, 0).reshape(-1)`, as an (H, W, C) layout flattens.
    let (c, h, w) = maps.dim();
    Array1::from_shape_fn(c * h * w, |n| maps[[n % c, n / (w * c), (n / c) % w]])
}

const CHW: &str = "deltascope flattens the previous layer's [C, H, W] = [2, 2, 2] output channel by channel, x[c·H·W + h·W + w]";

#[test]
fn dense_input_flattened_channels_last() {
    let file = bundled("multichannel_rgb");
    let step = reference(&file);
    let x = channels_last(&maps(&layer(&step, "pool1")["output"]));
    check(&dense_case(
        &file,
        "input",
        x.into_dyn(),
        &[("pool1", "output")],
        &format!(
            "the input was flattened channels-last, in (H, W, C) order (a reshape of an (H, W, C) array); {CHW}"
        ),
    ));
}

#[test]
fn dense_z_from_a_channels_last_flatten() {
    let file = bundled("multichannel_rgb");
    let step = reference(&file);
    let dense = layer(&step, "dense1");
    let x = channels_last(&maps(&layer(&step, "pool1")["output"]));
    let wrong = matrix(&dense["weights"]).dot(&x) + vector(&dense["bias"]);
    check(&dense_case(
        &file,
        "z",
        wrong.into_dyn(),
        &[
            ("pool1", "output"),
            ("dense1", "weights"),
            ("dense1", "bias"),
        ],
        &format!(
            "z was computed from the input flattened channels-last, in (H, W, C) order, while the weights' columns follow the scenario's order: {CHW}"
        ),
    ));
}

#[test]
fn dense_weight_gradient_with_columns_in_channels_last_order() {
    let file = bundled("multichannel_rgb");
    let step = reference(&file);
    let x = channels_last(&maps(&layer(&step, "pool1")["output"]));
    let dz = vector(&layer(&step, "dense1")["delta_z"]);
    let wrong = Array2::from_shape_fn((dz.len(), x.len()), |(o, i)| dz[o] * x[i]);
    check(&dense_case(
        &file,
        "grad_weights",
        wrong.into_dyn(),
        &[("pool1", "output"), ("dense1", "delta_z")],
        &format!(
            "∂L/∂W's columns follow the input flattened channels-last, in (H, W, C) order: ∂L/∂W[o, i] = δz[o]·x[i], and {CHW}"
        ),
    ));
}

#[test]
fn dense_delta_input_in_channels_last_order() {
    let file = bundled("multichannel_rgb");
    let step = reference(&file);
    let dense = layer(&step, "dense1");
    let dx = matrix(&dense["weights"])
        .t()
        .dot(&vector(&dense["delta_z"]));
    let wrong = channels_last(&dx.into_shape_with_order((2, 2, 2)).unwrap());
    check(&dense_case(
        &file,
        "delta_input",
        wrong.into_dyn(),
        &[("dense1", "weights"), ("dense1", "delta_z")],
        &format!(
            "δ_input is in (H, W, C) order, channels last: your δ_input[h·W·C + w·C + c] is the reference's δ_input[c·H·W + h·W + w]; {CHW}, and δ_input follows it"
        ),
    ));
}

// ---------------------------------------------------------------- the update

/// conv1's weights (or bias) at step 1 from step 0's and its gradient at rate `rate`
/// (`w -= rate * dw`), given with those two.
fn update_case(name: &'static str, gradient: &'static str, rate: f64, says: &str) -> Case {
    let file = bundled("mean_pool_classic");
    let steps = reference_steps(&file, 2);
    let (w0, g0) = (
        tensor(&layer(&steps[0], "conv1")[name]),
        tensor(&layer(&steps[0], "conv1")[gradient]),
    );
    Case {
        right: tensor(&layer(&steps[1], "conv1")[name]),
        wrong: Given {
            values: &w0 - &(rate * &g0),
            ..from(&steps, 1, "conv1", name)
        },
        inputs: vec![
            from(&steps, 0, "conv1", name),
            from(&steps, 0, "conv1", gradient),
        ],
        diagnosis: says.into(),
        scenario: file,
    }
}

#[test]
fn update_up_the_gradient() {
    // `w += lr * dw`; mean_pool_classic's learning rate is 0.1.
    check(&update_case(
        "weights",
        "grad_weights",
        -0.1,
        "the update went up the gradient, w ← w + η·∂L/∂w: SGD steps against it, w ← w − η·∂L/∂w (η = 0.1)",
    ));
    check(&update_case(
        "bias",
        "grad_bias",
        -0.1,
        "the update went up the gradient, b ← b + η·∂L/∂b: SGD steps against it, b ← b − η·∂L/∂b (η = 0.1)",
    ));
}

#[test]
fn update_with_another_learning_rate() {
    check(&update_case(
        "weights",
        "grad_weights",
        0.05,
        "the update used a learning rate of 0.05 where the scenario has 0.1: w ← w − η·∂L/∂w with η = 0.1",
    ));
    check(&update_case(
        "bias",
        "grad_bias",
        0.3,
        "the update used a learning rate of 0.3 where the scenario has 0.1: b ← b − η·∂L/∂b with η = 0.1",
    ));
    // No update at all: the weights of step 0 again.
    check(&update_case(
        "weights",
        "grad_weights",
        0.0,
        "yours are step 0's, not updated: w ← w − η·∂L/∂w (η = 0.1)",
    ));
}

// ---------------------------------------------------------------- found with public NumPy CNNs

#[test]
fn max_pool_whole_window_assigned_over_an_earlier_windows_delta() {
    // `d_in[c, y0:y0+k, x0:x0+k] = d * (window == window.max())`: assignment of the whole
    // window, so a later window's zeros erase an earlier window's δ in the cells they share.
    let file = bundled("overlapping_max_pool");
    let steps = reference_steps(&file, 1);
    let pool = layer(&steps[0], "pool1");
    let (input, d_out) = (maps(&pool["input"]), maps(&pool["delta_output"]));
    let (size, stride) = pool_geometry(&file, "pool1");
    assert!(stride < size, "windows overlap");
    let mut wrong = Array3::<f64>::zeros(input.raw_dim());
    for ((c, i, j), &d) in d_out.indexed_iter() {
        let (y0, x0) = (i * stride, j * stride);
        let window = input
            .slice(ndarray::s![c, y0..y0 + size, x0..x0 + size])
            .to_owned();
        // The first maximum, as np.argmax finds it.
        let at = window
            .indexed_iter()
            .fold(
                None,
                |best: Option<((usize, usize), f64)>, (at, &v)| match best {
                    Some((_, b)) if v <= b => best,
                    _ => Some((at, v)),
                },
            )
            .unwrap()
            .0;
        for u in 0..size {
            for v in 0..size {
                wrong[[c, y0 + u, x0 + v]] = if (u, v) == at { d } else { 0.0 };
            }
        }
    }
    check(&layer_case(
        file,
        &steps,
        "pool1",
        "delta_input",
        wrong.into_dyn(),
        &["delta_output", "argmax"],
        "overlapping windows overwrite instead of accumulate, a whole window at a time (`dx[window] = mask · δ`): the zeros of a later window's mask erase the δ an earlier window gave a shared cell; add each window's share (+=)",
    ));
}

#[test]
fn conv_delta_input_scattered_with_assignment() {
    // `dx[:, i:i+kh, j:j+kw] = dz[k, i, j] * w[k]` in loops over k, i, j: `=` for `+=`.
    let file = bundled("mean_pool_classic");
    let steps = reference_steps(&file, 1);
    let conv2 = layer(&steps[0], "conv2");
    let (w, dz) = (kernels(&conv2["weights"]), maps(&conv2["delta_z"]));
    let x = maps(&conv2["input"]);
    let (kn, _, kh, kw) = w.dim();
    let (_, ho, wo) = dz.dim();
    let mut wrong = Array3::<f64>::zeros(x.raw_dim());
    for k in 0..kn {
        for i in 0..ho {
            for j in 0..wo {
                for c in 0..x.dim().0 {
                    for u in 0..kh {
                        for v in 0..kw {
                            wrong[[c, i + u, j + v]] = dz[[k, i, j]] * w[[k, c, u, v]];
                        }
                    }
                }
            }
        }
    }
    check(&layer_case(
        file,
        &steps,
        "conv2",
        "delta_input",
        wrong.into_dyn(),
        &["delta_z", "weights"],
        "δ_input scattered with = instead of +=: each window's δz[k, i, j]·w[k] replaced what the earlier windows (and kernels) left in the cells they share; every cell gets the sum over all windows and kernels that cover it",
    ));
}

#[test]
fn loss_gradient_with_its_sign_turned() {
    // `dy = t - y` and `dy = onehot - p`: recomputations, so they need no second cell.
    let dir = tempfile::tempdir().unwrap();
    let (file, t) = five_outputs(dir.path(), "half_sse");
    let y = tensor(&layer(&reference(&file), "dense1")["a"]);
    check(&loss_case(
        &file,
        "loss_grad",
        &t - &y,
        "the gradient's sign is turned: yours is in the direction of t − y; ∂L/∂y points from the target to y, y − t".into(),
    ));
    let file = bundled("digit_classifier");
    let y = tensor(&layer(&reference(&file), "dense1")["a"]);
    let mut wrong = softmax(&y).mapv(|p| -p);
    wrong[[3]] += 1.0;
    check(&loss_case(
        &file,
        "loss_grad",
        wrong,
        "the gradient's sign is turned: yours is onehot(class) − softmax(y); ∂L/∂y = softmax(y) − onehot(class)".into(),
    ));
}

#[test]
fn cross_entropy_averaged_over_the_classes() {
    // `loss = np.mean(-onehot * np.log(p))` and its gradient, (p − onehot) / 10.
    let file = bundled("digit_classifier");
    let step = reference(&file);
    let y = tensor(&layer(&step, "dense1")["a"]);
    let n = y.len() as f64;
    let p = softmax(&y);
    let says = "the cross-entropy averaged over the 10 classes: L = −log softmax(y)[class] is one term (only the class's probability enters), not a mean over the outputs";
    check(&loss_case(
        &file,
        "loss",
        scalar(-p[[3]].ln() / n),
        says.into(),
    ));
    let mut grad = p.clone();
    grad[[3]] -= 1.0;
    check(&loss_case(
        &file,
        "loss_grad",
        grad.mapv(|g| g / n),
        says.into(),
    ));
}

#[test]
fn a_softmax_that_overflows_is_named() {
    // A logit of 800: exp(800) is inf in float64, and the softmax written straight from
    // exp(y) / Σ exp(y) gives NaN, so the loss −Σ onehot · log p is NaN.
    let dir = tempfile::tempdir().unwrap();
    let file = scenario_file(
        dir.path(),
        &json!({
            "name": "large_logit",
            "seed": 5,
            "input": [[0.1, 0.5, -0.3, 0.8], [0.4, -0.2, 0.9, 0.0],
                      [0.7, 0.3, -0.6, 0.2], [-0.1, 0.6, 0.5, -0.4]],
            "layers": [
                {"type": "conv", "kernels": 2, "kernel_size": 3, "activation": "tanh"},
                {"type": "dense", "outputs": 3, "bias": [800.0, 0.0, 0.0]}
            ],
            "loss": {"kind": "cross_entropy", "class": 1},
        }),
    );
    let step = reference(&file);
    let y = tensor(&layer(&step, "dense1")["a"]);
    assert!(y[[0]].exp().is_infinite(), "the logit overflows exp");
    let right = step["loss"].as_f64().unwrap();
    assert!(right.is_finite() && right > 700.0, "{right}");
    let run = |loss: f64| {
        run_diff(
            &file,
            &trace(&[
                from(std::slice::from_ref(&step), 0, "dense1", "a"),
                Given {
                    step: 0,
                    layer: None,
                    tensor: "loss",
                    values: scalar(loss),
                },
            ]),
        )
    };
    let (status, out) = run(f64::NAN);
    assert_eq!(status, 1, "{out}");
    assert!(
        out.contains(
            "\nmistake: step 0, the loss. Computed correctly from your dense1.a, loss[] is "
        ),
        "{out}"
    );
    assert_eq!(
        diagnosis(&out),
        "the softmax overflowed: exp(y) of a large logit is inf, and inf/inf is NaN; subtract the largest logit before exp (softmax(y) = softmax(y − max y)), or compute L as log Σ exp(y − max y) + max y − y[class]",
        "{out}"
    );
    let (status, out) = run(right);
    assert_eq!(status, 0, "{out}");
    // Its gradient, p − onehot with the same p: NaN for the large logit (inf/inf), 0 for
    // the others (finite/inf), so −1 at the class.
    let grad = ndarray::arr1(&[f64::NAN, -1.0, 0.0]).into_dyn();
    let (status, out) = run_diff(
        &file,
        &trace(&[
            from(std::slice::from_ref(&step), 0, "dense1", "a"),
            Given {
                step: 0,
                layer: None,
                tensor: "loss_grad",
                values: grad,
            },
        ]),
    );
    assert_eq!(status, 1, "{out}");
    assert!(
        diagnosis(&out).starts_with("the softmax overflowed: "),
        "{out}"
    );
    // A NaN loss where exp does not overflow is not put down to it.
    let file = bundled("digit_classifier");
    let step = reference(&file);
    let (status, out) = run_diff(
        &file,
        &trace(&[
            from(std::slice::from_ref(&step), 0, "dense1", "a"),
            Given {
                step: 0,
                layer: None,
                tensor: "loss",
                values: scalar(f64::NAN),
            },
        ]),
    );
    assert_eq!(status, 1, "{out}");
    assert!(!out.contains("overflowed"), "{out}");
}

#[test]
fn conv_kernel_gradient_from_delta_a() {
    // numpy-ml style: the layer keeps no δz, and `dW += dLdy[k, i, j] * window` uses δa: the
    // ReLU's derivative left out shows first in ∂w. conv1 of mean_pool_classic has dead
    // ReLUs, so δa and δz differ.
    let file = bundled("mean_pool_classic");
    let steps = reference_steps(&file, 1);
    let conv1 = layer(&steps[0], "conv1");
    let (x, da) = (maps(&conv1["input"]), maps(&conv1["delta_a"]));
    let (kn, c_in, kh, kw) = kernels(&conv1["weights"]).dim();
    let (_, ho, wo) = da.dim();
    let wrong = Array4::from_shape_fn((kn, c_in, kh, kw), |(k, c, u, v)| {
        let mut sum = 0.0;
        for i in 0..ho {
            for j in 0..wo {
                sum += da[[k, i, j]] * x[[c, i + u, j + v]];
            }
        }
        sum
    });
    let says = |tensor: &str| {
        format!(
            "computed from δa instead of δz: the activation's derivative was left out on the way back; δz = δa ⊙ relu′(z) comes first, and {tensor} is computed from δz"
        )
    };
    check(&layer_case(
        file.clone(),
        &steps,
        "conv1",
        "grad_weights",
        wrong.into_dyn(),
        &["delta_a", "delta_z"],
        &says("grad_weights"),
    ));
    // `db[k] = da[k].sum()`: the same mistake in the bias gradient.
    let summed = da.sum_axis(ndarray::Axis(2)).sum_axis(ndarray::Axis(1));
    check(&layer_case(
        file,
        &steps,
        "conv1",
        "grad_bias",
        summed.into_dyn(),
        &["delta_a", "delta_z"],
        &says("grad_bias"),
    ));
}
