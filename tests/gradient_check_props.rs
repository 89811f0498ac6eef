//! On random architectures, the backward pass agrees with central differences, and the
//! forward pass and every δz = δa ⊙ f′(z) agree with a naive recomputation written here.
//!
//! The generator draws non-square kernels and pool windows, separate strides and paddings
//! per axis, every activation on conv and dense layers, every pool kind with overlapping
//! windows (stride < size), gaps (stride > size) and floor leftovers, and inputs with a blank
//! border (exact zeros, where z = 0 sits on the ReLU kink). Window sizes are fitted to the map
//! each layer receives, so every case is a valid scenario and is checked: none is skipped.
//! `the_generator_covers_every_feature` keeps it that way.
//!
//! The gradient check alone cannot see a mistake made the same way in the forward and the
//! backward pass (a mean-pool divisor of kh² in both, say), nor the choice of f′ at a kink
//! (ReLU′(0) = 0 in PyTorch), since cells on a kink are set aside: the recomputations cover
//! those.
//!
//! Last, the sample the check takes of a large tensor: the largest gradients and cells
//! spread over the whole tensor, the same every run.

use deltascope::check::{
    CheckOptions, CheckReport, DEFAULT_SAMPLE, REL_ERROR_FLOOR, SAMPLE_ALL_UP_TO, SAMPLE_LARGEST,
    Target, gradient_check, sampled_cells,
};
use deltascope::engine::{LayerTrace, StepTrace, TensorName};
use deltascope::scenario::{self, Scenario};
use ndarray::{Array1, Array3, ArrayD, Axis, Dimension};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{TestRunner, contextualize_config};
use serde_json::{Value, json};

const ACTIVATIONS: [&str; 5] = ["relu", "leaky_relu", "sigmoid", "tanh", "identity"];
const POOLS: [&str; 3] = ["max", "mean", "l2"];

/// The choices for one conv layer; sizes are fitted to its input map when the case is built.
#[derive(Clone, Debug)]
struct ConvChoice {
    kernels: usize,
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
    activation: usize,
    bias: bool,
}

#[derive(Clone, Debug)]
struct PoolChoice {
    kind: usize,
    size: [usize; 2],
    stride: [usize; 2],
}

#[derive(Clone, Debug)]
struct DenseChoice {
    outputs: usize,
    activation: usize,
    bias: bool,
}

/// One layer as built: what the scenario says, with the map sizes it sees and makes.
#[derive(Clone, Debug, PartialEq)]
enum Geom {
    Conv {
        kernels: usize,
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
        activation: &'static str,
        input: [usize; 3],
        output: [usize; 3],
    },
    Pool {
        kind: &'static str,
        size: [usize; 2],
        stride: [usize; 2],
        input: [usize; 3],
        output: [usize; 3],
    },
    Dense {
        outputs: usize,
        activation: &'static str,
    },
}

/// A generated case: the scenario (with its loss) and the layers as the test built them.
#[derive(Clone, Debug)]
struct Case {
    json: Value,
    layers: Vec<Geom>,
    /// Width of the blank (all-zero) border of the input.
    blank: usize,
}

fn pair(range: std::ops::RangeInclusive<usize>) -> impl Strategy<Value = [usize; 2]> {
    (range.clone(), range).prop_map(|(a, b)| [a, b])
}

fn conv_choice() -> impl Strategy<Value = ConvChoice> {
    (
        1usize..=3,
        pair(1..=3),
        pair(1..=2),
        pair(0..=1),
        0..ACTIVATIONS.len(),
        any::<bool>(),
    )
        .prop_map(
            |(kernels, kernel, stride, padding, activation, bias)| ConvChoice {
                kernels,
                kernel,
                stride,
                padding,
                activation,
                bias,
            },
        )
}

fn pool_choice() -> impl Strategy<Value = PoolChoice> {
    (0..POOLS.len(), pair(1..=3), pair(1..=3)).prop_map(|(kind, size, stride)| PoolChoice {
        kind,
        size,
        stride,
    })
}

fn dense_choice() -> impl Strategy<Value = DenseChoice> {
    (1usize..=4, 0..ACTIVATIONS.len(), any::<bool>()).prop_map(|(outputs, activation, bias)| {
        DenseChoice {
            outputs,
            activation,
            bias,
        }
    })
}

/// Output length along one axis (floor mode).
fn windows(input: usize, padding: usize, window: usize, stride: usize) -> usize {
    (input + 2 * padding - window) / stride + 1
}

/// The kernel of `choice` fitted to its padded input.
fn conv_kernel(choice: &ConvChoice, [_, h, w]: [usize; 3]) -> [usize; 2] {
    let [ph, pw] = choice.padding;
    [
        choice.kernel[0].min(h + 2 * ph),
        choice.kernel[1].min(w + 2 * pw),
    ]
}

fn conv_output(choice: &ConvChoice, input: [usize; 3]) -> [usize; 3] {
    let [kh, kw] = conv_kernel(choice, input);
    let ([ph, pw], [sh, sw]) = (choice.padding, choice.stride);
    [
        choice.kernels,
        windows(input[1], ph, kh, sh),
        windows(input[2], pw, kw, sw),
    ]
}

fn conv_layer(choice: &ConvChoice, input: [usize; 3]) -> (Value, Geom) {
    let kernel = conv_kernel(choice, input);
    let activation = ACTIVATIONS[choice.activation];
    let mut layer = json!({
        "type": "conv", "kernels": choice.kernels, "kernel_size": kernel,
        "stride": choice.stride, "padding": choice.padding, "activation": activation,
        "init": "xavier"
    });
    if choice.bias {
        layer["bias"] = json!(
            (0..choice.kernels)
                .map(|k| 0.1 * k as f64 - 0.05)
                .collect::<Vec<_>>()
        );
    }
    let geom = Geom::Conv {
        kernels: choice.kernels,
        kernel,
        stride: choice.stride,
        padding: choice.padding,
        activation,
        input,
        output: conv_output(choice, input),
    };
    (layer, geom)
}

/// The window of `choice` fitted to its input.
fn pool_size(choice: &PoolChoice, [_, h, w]: [usize; 3]) -> [usize; 2] {
    [choice.size[0].min(h), choice.size[1].min(w)]
}

fn pool_output(choice: &PoolChoice, input: [usize; 3]) -> [usize; 3] {
    let [kh, kw] = pool_size(choice, input);
    let [sh, sw] = choice.stride;
    [
        input[0],
        windows(input[1], 0, kh, sh),
        windows(input[2], 0, kw, sw),
    ]
}

fn pool_layer(choice: &PoolChoice, input: [usize; 3]) -> (Value, Geom) {
    let size = pool_size(choice, input);
    let kind = POOLS[choice.kind];
    let layer = json!({"type": "pool", "kind": kind, "size": size, "stride": choice.stride});
    let geom = Geom::Pool {
        kind,
        size,
        stride: choice.stride,
        input,
        output: pool_output(choice, input),
    };
    (layer, geom)
}

/// conv → pool → (conv → pool)? → dense? with a random loss; inputs of 1–3 channels, 5–10
/// cells a side, a quarter of them with a blank border one or two cells wide.
fn case() -> impl Strategy<Value = Case> {
    (
        (
            1usize..=3,
            5usize..=10,
            5usize..=10,
            prop_oneof![3 => Just(0usize), 1 => 1usize..=2],
        ),
        (conv_choice(), pool_choice()),
        prop::option::of((conv_choice(), pool_choice())),
        prop::option::of(dense_choice()),
        (0usize..3, any::<usize>(), any::<u64>()),
    )
        .prop_flat_map(|(dims, block1, block2, dense, loss)| {
            let (c, h, w, _) = dims;
            (
                prop::collection::vec(-1.0f64..1.0, c * h * w),
                Just((dims, block1, block2, dense, loss)),
            )
        })
        .prop_map(|(values, (dims, block1, block2, dense, loss))| {
            let blocks: Vec<_> = std::iter::once(block1).chain(block2).collect();
            build(&values, dims, &blocks, dense, loss)
        })
}

/// The scenario of one draw: `values` fill the input ([c][h][w]) but for a blank border
/// `blank` cells wide; `loss` is (kind, class, seed).
fn build(
    values: &[f64],
    (c, h, w, blank): (usize, usize, usize, usize),
    blocks: &[(ConvChoice, PoolChoice)],
    dense: Option<DenseChoice>,
    (loss, class, seed): (usize, usize, u64),
) -> Case {
    let border = |y: usize, x: usize| y < blank || x < blank || y + blank >= h || x + blank >= w;
    let input: Vec<Vec<Vec<f64>>> = (0..c)
        .map(|ch| {
            (0..h)
                .map(|y| {
                    (0..w)
                        .map(|x| {
                            if border(y, x) {
                                0.0
                            } else {
                                values[(ch * h + y) * w + x]
                            }
                        })
                        .collect()
                })
                .collect()
        })
        .collect();
    let mut shape = [c, h, w];
    let mut layers = Vec::new();
    let mut geoms = Vec::new();
    for (conv, pool) in blocks {
        let (layer, geom) = conv_layer(conv, shape);
        layers.push(layer);
        geoms.push(geom);
        shape = conv_output(conv, shape);
        let (layer, geom) = pool_layer(pool, shape);
        layers.push(layer);
        geoms.push(geom);
        shape = pool_output(pool, shape);
    }
    let mut output_shape = shape.to_vec();
    if let Some(d) = dense {
        let activation = ACTIVATIONS[d.activation];
        let mut layer = json!({"type": "dense", "outputs": d.outputs, "activation": activation});
        if d.bias {
            layer["bias"] = json!(
                (0..d.outputs)
                    .map(|k| 0.05 - 0.1 * k as f64)
                    .collect::<Vec<_>>()
            );
        }
        layers.push(layer);
        geoms.push(Geom::Dense {
            outputs: d.outputs,
            activation,
        });
        output_shape = vec![d.outputs];
    }
    let outputs: usize = output_shape.iter().product();
    let target: Vec<f64> = (0..outputs).map(|i| (i % 3) as f64 * 0.5 - 0.25).collect();
    let target = ArrayD::from_shape_vec(output_shape, target).unwrap();
    let target = deltascope::tensor_json::tensor_to_json(&target.view());
    // Cross-entropy over one output is constant: every gradient would be 0.
    let loss = match loss {
        2 if outputs > 1 => json!({"kind": "cross_entropy", "class": class % outputs}),
        1 => json!({"kind": "half_sse", "target": target}),
        _ => json!({"kind": "mse", "target": target}),
    };
    let json =
        json!({"name": "random", "seed": seed, "input": input, "layers": layers, "loss": loss});
    Case {
        json,
        layers: geoms,
        blank,
    }
}

fn load(case: &Case) -> Scenario {
    scenario::parse(&case.json.to_string())
        .unwrap_or_else(|e| panic!("a generated case is a valid scenario: {e}\n{}", case.json))
}

// ---------------------------------------------------------------------------------------
// The recomputations: naive loops over the formulas of docs/scenario-format.md.

fn f(activation: &str, z: f64) -> f64 {
    match activation {
        "relu" => z.max(0.0),
        "leaky_relu" => {
            if z > 0.0 {
                z
            } else {
                0.01 * z
            }
        }
        "sigmoid" => 1.0 / (1.0 + (-z).exp()),
        "tanh" => z.tanh(),
        "identity" => z,
        other => unreachable!("{other}"),
    }
}

/// f′ as PyTorch takes it: at z = 0 the ReLU's is 0 and the leaky ReLU's the slope.
fn f_prime(activation: &str, z: f64) -> f64 {
    match activation {
        "relu" => {
            if z > 0.0 {
                1.0
            } else {
                0.0
            }
        }
        "leaky_relu" => {
            if z > 0.0 {
                1.0
            } else {
                0.01
            }
        }
        "sigmoid" => {
            let s = f("sigmoid", z);
            s * (1.0 - s)
        }
        "tanh" => 1.0 - z.tanh().powi(2),
        "identity" => 1.0,
        other => unreachable!("{other}"),
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * (1.0 + a.abs().max(b.abs()))
}

fn assert_close(what: &str, got: &ArrayD<f64>, want: &ArrayD<f64>) -> Result<(), String> {
    if got.shape() != want.shape() {
        return Err(format!(
            "{what}: shape {:?}, recomputed {:?}",
            got.shape(),
            want.shape()
        ));
    }
    for ((i, g), w) in got.indexed_iter().zip(want.iter()) {
        if !close(*g, *w) {
            return Err(format!(
                "{what}{:?}: engine {g:e}, recomputed {w:e}",
                i.slice()
            ));
        }
    }
    Ok(())
}

/// The forward pass recomputed layer by layer from the model's input and parameters (as the
/// trace shows them), compared with the trace; and δz = δa ⊙ f′(z) in every conv and dense
/// layer, from the trace's δa.
fn recompute(case: &Case, trace: &StepTrace, input: &Array3<f64>) -> Result<(), String> {
    let mut x = input.clone().into_dyn();
    for (geom, (name, layer)) in case.layers.iter().zip(&trace.layers) {
        match (geom, layer) {
            (
                Geom::Conv {
                    kernels,
                    kernel: [kh, kw],
                    stride: [sh, sw],
                    padding: [ph, pw],
                    activation,
                    input: [c, h, w],
                    output: [_, ho, wo],
                },
                LayerTrace::Conv(t),
            ) => {
                assert_close(&format!("{name}.input"), &t.input.clone().into_dyn(), &x)?;
                let mut z = ArrayD::zeros(vec![*kernels, *ho, *wo]);
                for k in 0..*kernels {
                    for i in 0..*ho {
                        for j in 0..*wo {
                            let mut sum = t.bias[k];
                            for ch in 0..*c {
                                for u in 0..*kh {
                                    for v in 0..*kw {
                                        let (y, xx) = (i * sh + u, j * sw + v);
                                        if y < *ph || xx < *pw || y - ph >= *h || xx - pw >= *w {
                                            continue; // the zero padding
                                        }
                                        sum += t.weights[[k, ch, u, v]] * x[[ch, y - ph, xx - pw]];
                                    }
                                }
                            }
                            z[[k, i, j]] = sum;
                        }
                    }
                }
                assert_close(&format!("{name}.z"), &t.z.clone().into_dyn(), &z)?;
                let a = z.mapv(|z| f(activation, z));
                assert_close(&format!("{name}.a"), &t.a.clone().into_dyn(), &a)?;
                let delta_z = ndarray::Zip::from(&t.z)
                    .and(&t.delta_a)
                    .map_collect(|&z, &d| d * f_prime(activation, z));
                assert_close(
                    &format!("{name}.delta_z"),
                    &t.delta_z.clone().into_dyn(),
                    &delta_z.into_dyn(),
                )?;
                x = a;
            }
            (
                Geom::Pool {
                    kind,
                    size: [kh, kw],
                    stride: [sh, sw],
                    input: [c, _, _],
                    output: [_, ho, wo],
                },
                LayerTrace::Pool(t),
            ) => {
                assert_close(&format!("{name}.input"), &t.input.clone().into_dyn(), &x)?;
                let mut out = ArrayD::zeros(vec![*c, *ho, *wo]);
                for ch in 0..*c {
                    for i in 0..*ho {
                        for j in 0..*wo {
                            let cells = (0..*kh)
                                .flat_map(|u| (0..*kw).map(move |v| (i * sh + u, j * sw + v)));
                            let window: Vec<f64> = cells.map(|(y, xx)| x[[ch, y, xx]]).collect();
                            out[[ch, i, j]] = match *kind {
                                "max" => window.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                                "mean" => window.iter().sum::<f64>() / (kh * kw) as f64,
                                "l2" => window.iter().map(|v| v * v).sum::<f64>().sqrt(),
                                other => unreachable!("{other}"),
                            };
                        }
                    }
                }
                assert_close(
                    &format!("{name}.output"),
                    &t.output.clone().into_dyn(),
                    &out,
                )?;
                x = out;
            }
            (
                Geom::Dense {
                    outputs,
                    activation,
                },
                LayerTrace::Dense(t),
            ) => {
                let flat: Array1<f64> = x.iter().copied().collect();
                assert_close(
                    &format!("{name}.input"),
                    &t.input.clone().into_dyn(),
                    &flat.clone().into_dyn(),
                )?;
                let z: Array1<f64> = (0..*outputs)
                    .map(|o| t.bias[o] + t.weights.index_axis(Axis(0), o).dot(&flat))
                    .collect();
                assert_close(
                    &format!("{name}.z"),
                    &t.z.clone().into_dyn(),
                    &z.clone().into_dyn(),
                )?;
                let a = z.mapv(|z| f(activation, z));
                assert_close(
                    &format!("{name}.a"),
                    &t.a.clone().into_dyn(),
                    &a.clone().into_dyn(),
                )?;
                let delta_z = ndarray::Zip::from(&t.z)
                    .and(&t.delta_a)
                    .map_collect(|&z, &d| d * f_prime(activation, z));
                assert_close(
                    &format!("{name}.delta_z"),
                    &t.delta_z.clone().into_dyn(),
                    &delta_z.into_dyn(),
                )?;
                x = a.into_dyn();
            }
            (geom, _) => return Err(format!("{name}: the engine built {geom:?} otherwise")),
        }
    }
    assert_close("output", &trace.output, &x)
}

/// Cells the check judged (not set aside on a kink), and of those, how many have a gradient
/// of at least [`REL_ERROR_FLOOR`]: the cells where a wrong backward pass shows.
fn judged(report: &CheckReport, trace: &StepTrace) -> (usize, usize) {
    let mut judged = 0;
    let mut live = 0;
    for (index, t) in report.tensors.iter().enumerate() {
        let gradient = match t.target {
            Target::Input => trace.layers[0].1.tensor(TensorName::DeltaInput),
            Target::Weights(l) => trace.layers[l].1.tensor(TensorName::GradWeights),
            Target::Bias(l) => trace.layers[l].1.tensor(TensorName::GradBias),
        }
        .expect("conv and dense layers have gradients");
        let gradient: Vec<f64> = gradient.iter().copied().collect();
        // A large dense layer is checked in a sample of its cells: count those.
        let cells = sampled_cells(&gradient, report.options.sample, index);
        assert_eq!(cells.len(), t.cells);
        let large = |g: f64| g.abs() >= REL_ERROR_FLOOR;
        judged += t.cells - t.kinks.len();
        live += cells.iter().filter(|&&i| large(gradient[i])).count()
            - t.kinks.iter().filter(|k| large(k.cell.analytic)).count();
    }
    (judged, live)
}

/// Each case is checked in full; across the run, the cases must carry signal: most of them
/// with gradients large enough for a mistake to show (a network whose ReLUs are all dead
/// checks only that zeros are zeros), and most cells judged rather than set aside on kinks.
#[test]
fn backward_pass_matches_central_differences() {
    // 96 cases in `cargo test`; PROPTEST_CASES=N explores further.
    let mut config = contextualize_config(ProptestConfig {
        cases: 96,
        ..ProptestConfig::default()
    });
    config.source_file = Some(file!());
    config.test_name = Some(concat!(
        module_path!(),
        "::backward_pass_matches_central_differences"
    ));
    let mut runner = TestRunner::new(config);
    // (cases, cases with live gradients, cells probed, cells judged)
    let tally = std::cell::Cell::new((0usize, 0usize, 0usize, 0usize));
    let result = runner.run(&case(), |case| {
        let s = load(&case);
        let trace = s.model.trace(0);
        if let Err(e) = recompute(&case, &trace, &s.model.input) {
            prop_assert!(false, "{e}\n{}", case.json);
        }
        let report = gradient_check(&s.model, CheckOptions::default());
        prop_assert!(
            report.passed(),
            "{}\n{}",
            report.to_text(&s.name),
            case.json
        );
        let (judged, live) = judged(&report, &trace);
        prop_assert!(
            judged > 0,
            "every cell on a kink:\n{}",
            report.to_text(&s.name)
        );
        let probed: usize = report.tensors.iter().map(|t| t.cells).sum();
        let (n, l, p, j) = tally.get();
        tally.set((n + 1, l + usize::from(live > 0), p + probed, j + judged));
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}\n{runner}");
    }
    let (cases, live, probed, judged) = tally.get();
    eprintln!(
        "{cases} cases checked, {live} with live gradients; {judged} of {probed} cells judged"
    );
    assert!(
        cases >= runner.config().cases as usize,
        "every case is checked"
    );
    assert!(
        4 * live >= 3 * cases,
        "{live} of {cases} cases have live gradients"
    );
    assert!(
        10 * judged >= 9 * probed,
        "{judged} of {probed} cells judged"
    );
}

/// The generator, not the engine: drawn with a fixed seed, the cases are valid scenarios
/// (none needs skipping) and each feature the property is meant to exercise turns up often.
#[test]
fn the_generator_covers_every_feature() {
    const N: usize = 400;
    let mut runner = TestRunner::deterministic();
    let strategy = case();
    let mut seen: std::collections::BTreeMap<String, usize> = Default::default();
    let mut count = |feature: String| *seen.entry(feature).or_default() += 1;
    for _ in 0..N {
        let case = strategy.new_tree(&mut runner).unwrap().current();
        let s = load(&case);
        let trace = s.model.trace(0);
        let mut features = std::collections::BTreeSet::new();
        if case.blank > 0 {
            features.insert("blank border".to_string());
        }
        for (geom, (_, layer)) in case.layers.iter().zip(&trace.layers) {
            match geom {
                Geom::Conv {
                    kernel,
                    stride,
                    padding,
                    activation,
                    ..
                } => {
                    features.insert(format!("conv {activation}"));
                    if kernel[0] != kernel[1] {
                        features.insert("conv kernel kh ≠ kw".into());
                    }
                    if stride[0] != stride[1] {
                        features.insert("conv stride sh ≠ sw".into());
                    }
                    if padding[0] != padding[1] {
                        features.insert("conv padding ph ≠ pw".into());
                    }
                    let z = layer.tensor(TensorName::Z).unwrap();
                    if matches!(*activation, "relu" | "leaky_relu") && z.iter().any(|&z| z == 0.0) {
                        features.insert("conv z = 0 on a ReLU kink".into());
                    }
                }
                Geom::Pool {
                    kind,
                    size,
                    stride,
                    input,
                    output,
                } => {
                    features.insert(format!("pool {kind}"));
                    if size[0] != size[1] {
                        features.insert(format!("pool {kind} window h ≠ w"));
                    }
                    if (0..2).any(|a| stride[a] < size[a] && output[a + 1] > 1) {
                        features.insert(format!("pool {kind} overlapping windows"));
                    }
                    if (0..2).any(|a| (input[a + 1] - size[a]) % stride[a] != 0) {
                        features.insert("pool floor leftovers".into());
                    }
                    if (0..2).any(|a| stride[a] > size[a] && output[a + 1] > 1) {
                        features.insert("pool gaps between windows".into());
                    }
                }
                Geom::Dense { activation, .. } => {
                    features.insert(format!("dense {activation}"));
                }
            }
        }
        // Every weight tensor has a gradient large enough for a mistake to show.
        let live = trace.layers.iter().all(|(_, layer)| {
            layer
                .tensor(TensorName::GradWeights)
                .is_none_or(|g| g.iter().any(|g| g.abs() >= REL_ERROR_FLOOR))
        });
        if live {
            features.insert("every weight tensor has live gradients".into());
        }
        for feature in features {
            count(feature);
        }
    }
    for (feature, n) in &seen {
        eprintln!("{n:>4} of {N}  {feature}");
    }
    let mut wanted: Vec<String> = vec![
        "blank border".into(),
        "conv kernel kh ≠ kw".into(),
        "conv stride sh ≠ sw".into(),
        "conv padding ph ≠ pw".into(),
        "conv z = 0 on a ReLU kink".into(),
        "pool floor leftovers".into(),
        "pool gaps between windows".into(),
    ];
    for a in ACTIVATIONS {
        wanted.extend([format!("conv {a}"), format!("dense {a}")]);
    }
    for kind in POOLS {
        wanted.extend([
            format!("pool {kind} window h ≠ w"),
            format!("pool {kind} overlapping windows"),
        ]);
    }
    for feature in wanted {
        let n = seen.get(&feature).copied().unwrap_or(0);
        assert!(n >= N / 20, "{feature}: in {n} of {N} cases");
    }
    let live = seen["every weight tensor has live gradients"];
    assert!(4 * live >= 3 * N, "live gradients in {live} of {N} cases");
}

/// Set in a child process that prints its sample (see the test below).
const PRINT_SAMPLE: &str = "DELTASCOPE_TEST_PRINT_SAMPLE";

/// A tensor of more than SAMPLE_ALL_UP_TO cells is checked in DEFAULT_SAMPLE of them: the
/// SAMPLE_LARGEST of largest |gradient| wherever they are, and the rest drawn at random from
/// the whole tensor (not its first cells), the same in every run.
#[test]
fn a_large_tensor_is_sampled_over_all_its_cells_the_same_every_run() {
    let n = 4096;
    // Small gradients everywhere; the largest, half of them negative, spread from the end.
    let mut g: Vec<f64> = (0..n).map(|i| ((i * 7919) % 1000) as f64 * 1e-6).collect();
    let largest: Vec<usize> = (0..SAMPLE_LARGEST).map(|m| n - 1 - 127 * m).collect();
    for (m, &i) in largest.iter().enumerate() {
        let size = 1.0 + m as f64;
        g[i] = if m % 2 == 0 { size } else { -size };
    }
    let sample = sampled_cells(&g, Some(DEFAULT_SAMPLE), 3);
    if std::env::var_os(PRINT_SAMPLE).is_some() {
        println!("sample {sample:?}");
        return;
    }
    assert_eq!(sample.len(), DEFAULT_SAMPLE);
    assert!(
        sample.windows(2).all(|w| w[0] < w[1]),
        "increasing, no repeats"
    );
    assert!(sample.iter().all(|&i| i < n));
    for i in &largest {
        assert!(
            sample.contains(i),
            "cell {i} (gradient {}) is left out",
            g[*i]
        );
    }
    // The others fall in every eighth of the tensor (28 expected in each).
    let mut eighths = [0usize; 8];
    for i in sample.iter().filter(|i| !largest.contains(i)) {
        eighths[i * 8 / n] += 1;
    }
    assert!(eighths.iter().all(|&c| c >= 10), "{eighths:?}");
    // The same every run: again here, and in another process.
    assert_eq!(sampled_cells(&g, Some(DEFAULT_SAMPLE), 3), sample);
    let child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_large_tensor_is_sampled_over_all_its_cells_the_same_every_run",
            "--nocapture",
        ])
        .env(PRINT_SAMPLE, "1")
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&child.stdout);
    assert!(
        printed.contains(&format!("sample {sample:?}")),
        "another process drew another sample:\n{printed}"
    );
    // Each tensor has its own draw; a small tensor is checked in every cell.
    assert_ne!(sampled_cells(&g, Some(DEFAULT_SAMPLE), 4), sample);
    assert_eq!(
        sampled_cells(&g[..SAMPLE_ALL_UP_TO], Some(DEFAULT_SAMPLE), 3),
        (0..SAMPLE_ALL_UP_TO).collect::<Vec<_>>()
    );
}
