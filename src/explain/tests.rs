//! Every explanation's terms combine to the traced value; formulas and notes say what they
//! promise.

use super::*;
use crate::engine::{Activation, Layer};
use crate::engine::{Conv, Dense, Pool};
use crate::scenario::default_scenario;
use ndarray::Array3;
use ndarray::{Array1, Array2, Array4, array};

/// The inspector's view of step 0, before any update.
fn context<'a>(model: &'a Model, trace: &'a StepTrace) -> Context<'a> {
    Context {
        model,
        trace,
        updated: None,
        backward_from: 0,
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12
}

/// Every cell of every tensor named: its terms combine to its traced value.
fn check_all(model: &Model, layer: usize, tensor: N) -> usize {
    let trace = model.trace(0);
    let ctx = context(model, &trace);
    let node = Node::Layer(layer);
    let shape = tensor_shape(&ctx, node, tensor).expect("tensor exists");
    let n: usize = shape.iter().product();
    for flat in 0..n {
        let cell = CellRef::new(node, tensor, &unravel(&shape, flat));
        let e = explain(&ctx, &cell).unwrap_or_else(|| panic!("no explanation for {cell:?}"));
        assert!(
            close(e.total(), e.value),
            "{}: terms give {}, traced {}",
            e.title,
            e.total(),
            e.value
        );
        assert!(!e.value.is_nan(), "{}", e.title);
    }
    n
}

fn conv(
    weights: Array4<f64>,
    bias: Array1<f64>,
    stride: usize,
    padding: usize,
    activation: Activation,
) -> Layer {
    Layer {
        name: "conv".into(),
        kind: LayerKind::Conv(Conv {
            weights,
            bias,
            stride: [stride, stride],
            padding: [padding, padding],
            activation,
        }),
    }
}

fn pool(kind: PoolKind, size: usize, stride: usize) -> Layer {
    Layer {
        name: format!("pool_{}", kind.name()),
        kind: LayerKind::Pool(Pool {
            kind,
            size: [size, size],
            stride: [stride, stride],
        }),
    }
}

fn ramp(shape: (usize, usize, usize, usize), scale: f64) -> Array4<f64> {
    Array4::from_shape_fn(shape, |(a, b, c, d)| {
        ((a * 7 + b * 5 + c * 3 + d) as f64 * 0.37).sin() * scale
    })
}

/// conv (stride 2, padding 1) → max pool 3/2 (overlapping) → conv → l2 pool → mean pool → dense.
fn rich_model() -> Model {
    let input = Array3::from_shape_fn((2, 9, 9), |(c, y, x)| {
        ((c * 81 + y * 9 + x) as f64 * 0.61).cos()
    });
    let layers = vec![
        conv(
            ramp((3, 2, 3, 3), 0.8),
            array![0.1, -0.2, 0.05],
            2,
            1,
            Activation::LeakyRelu,
        ),
        pool(PoolKind::Max, 3, 2),
        conv(
            ramp((2, 3, 2, 2), 0.9),
            array![0.3, -0.1],
            1,
            1,
            Activation::Tanh,
        ),
        pool(PoolKind::L2, 2, 1),
        pool(PoolKind::Mean, 2, 1),
        Layer {
            name: "dense".into(),
            kind: LayerKind::Dense(Dense {
                weights: Array2::from_shape_fn((3, 2), |(o, i)| (o as f64 - i as f64) * 0.4 + 0.1),
                bias: array![0.1, 0.0, -0.1],
                activation: Activation::Sigmoid,
            }),
        },
    ];
    let mut model = Model {
        input,
        layers,
        loss: Loss::CrossEntropy { class: 1 },
        learning_rate: 0.1,
    };
    // Check the shapes line up: the dense layer sees the flattened last pool output.
    let fwd = model.forward();
    let flat = fwd.layers[4].output().len();
    if let LayerKind::Dense(d) = &mut model.layers[5].kind {
        d.weights =
            Array2::from_shape_fn((3, flat), |(o, i)| ((o * 3 + i) as f64 * 0.9).sin() * 0.5);
    }
    model
}

#[test]
fn conv_z_terms_sum_to_the_traced_value() {
    let model = rich_model();
    assert!(check_all(&model, 0, N::Z) > 0);
    check_all(&model, 2, N::Z);
    check_all(&default_scenario().model, 0, N::Z);
}

#[test]
fn conv_delta_input_rotated_kernel_terms_sum_to_the_traced_value() {
    let model = rich_model();
    check_all(&model, 0, N::DeltaInput);
    check_all(&model, 2, N::DeltaInput);
    check_all(&default_scenario().model, 0, N::DeltaInput);
    check_all(&default_scenario().model, 2, N::DeltaInput);
}

#[test]
fn conv_delta_input_lists_rot180_index_and_delta_z_cell() {
    let model = default_scenario().model;
    let trace = model.trace(0);
    let ctx = context(&model, &trace);
    // An interior cell of conv2's input: every tap of both 2×2 kernels lands on δz.
    let cell = CellRef::new(Node::Layer(2), N::DeltaInput, &[0, 1, 1]);
    let e = explain(&ctx, &cell).unwrap();
    assert_eq!(e.terms.len(), 2 * 4);
    let first = &e.terms[0];
    // k=0, u=0, v=0: δz[0,1,1] times w[0,0,0,0], which is rot180 index [1,1].
    assert_eq!(first.note.as_deref(), Some("k=0 rot180[1,1]"));
    assert_eq!(first.symbolic, "w[0,0,0,0] · δz[0,1,1]");
    assert!(
        first
            .sources
            .contains(&CellRef::new(Node::Layer(2), N::DeltaZ, &[0, 1, 1]))
    );
    assert!(close(e.total(), e.value));
}

#[test]
fn kernel_and_bias_gradients_sum_to_the_traced_value() {
    let model = rich_model();
    check_all(&model, 0, N::GradWeights);
    check_all(&model, 2, N::GradWeights);
    check_all(&model, 0, N::GradBias);
    check_all(&default_scenario().model, 2, N::GradWeights);
}

#[test]
fn activation_terms_match() {
    let model = rich_model();
    for l in [0, 2, 5] {
        check_all(&model, l, N::A);
        check_all(&model, l, N::DeltaZ);
    }
}

#[test]
fn pool_output_and_delta_input_for_max_mean_and_l2() {
    let model = rich_model();
    for l in [1, 3, 4] {
        check_all(&model, l, N::Output);
        check_all(&model, l, N::DeltaInput);
        check_all(&model, l, N::Mask);
    }
    check_all(&default_scenario().model, 1, N::DeltaInput);
}

#[test]
fn max_pool_output_names_the_winner() {
    let model = rich_model();
    let trace = model.trace(0);
    let ctx = context(&model, &trace);
    let e = explain(&ctx, &CellRef::new(Node::Layer(1), N::Output, &[0, 0, 0])).unwrap();
    assert_eq!(e.combine, Combine::Max);
    assert_eq!(e.terms.len(), 9);
    assert_eq!(e.terms.iter().filter(|t| t.contributes).count(), 1);
    let winner = e.terms.iter().find(|t| t.contributes).unwrap();
    assert!(e.terms.iter().all(|t| t.value <= winner.value));
}

#[test]
fn dense_terms_sum_to_the_traced_value() {
    let model = rich_model();
    for t in [
        N::Z,
        N::GradWeights,
        N::GradBias,
        N::DeltaInput,
        N::Input,
        N::DeltaA,
    ] {
        check_all(&model, 5, t);
    }
}

#[test]
fn inputs_and_output_deltas_point_at_their_neighbours() {
    let model = rich_model();
    for l in 1..6 {
        check_all(&model, l, N::Input);
    }
    for l in 0..6 {
        let name = if matches!(model.layers[l].kind, LayerKind::Pool(_)) {
            N::DeltaOutput
        } else {
            N::DeltaA
        };
        check_all(&model, l, name);
    }
}

#[test]
fn loss_cells_are_explained() {
    for model in [rich_model(), default_scenario().model] {
        let trace = model.trace(0);
        let ctx = context(&model, &trace);
        for i in 0..trace.output.len() {
            for t in [N::Output, N::LossGrad] {
                let e = explain(&ctx, &CellRef::new(Node::Loss, t, &[i])).unwrap();
                assert!(close(e.total(), e.value), "{}", e.title);
            }
        }
        let e = explain(&ctx, &CellRef::new(Node::Loss, N::Loss, &[0])).unwrap();
        assert!(close(e.total(), e.value), "{}", e.title);
    }
}

#[test]
fn updated_parameters_are_w_minus_lr_grad() {
    let model = default_scenario().model;
    let mut next = model.clone();
    let trace = next.train_step(0);
    let ctx = Context {
        model: &model,
        trace: &trace,
        updated: Some(&next),
        backward_from: 0,
    };
    let e = explain(
        &ctx,
        &CellRef::new(Node::Layer(0), N::WeightsNext, &[1, 0, 2, 2]),
    )
    .unwrap();
    assert!(close(e.total(), e.value));
    assert_eq!(e.terms.len(), 2);
}

#[test]
fn out_of_range_cells_have_no_explanation() {
    let model = default_scenario().model;
    let trace = model.trace(0);
    let ctx = context(&model, &trace);
    assert!(explain(&ctx, &CellRef::new(Node::Layer(0), N::Z, &[9, 0, 0])).is_none());
    assert!(explain(&ctx, &CellRef::new(Node::Layer(0), N::Argmax, &[0])).is_none());
    assert!(explain(&ctx, &CellRef::new(Node::Layer(1), N::Z, &[0, 0, 0])).is_none());
}

#[test]
fn short_numbers_are_short() {
    assert_eq!(short(0.0), "0");
    assert_eq!(short(-0.43), "-0.43");
    assert_eq!(short(0.123456), "0.1235");
    assert_eq!(short(12.5), "12.5");
    assert_eq!(short(1e-5), "1e-5");
    assert_eq!(short(-0.000012345), "-1.234e-5");
    // Neighbouring terms read alike: no switch to scientific just below 1e-3.
    assert_eq!(short(-9.457e-4), "-0.0009457");
    assert_eq!(short(0.004724), "0.004724");
    assert_eq!(short(-4.3745e40), "-4.374e40");
}

#[test]
fn exact_values_are_whole_and_compact() {
    assert_eq!(exact(0.053696773255078115), "0.053696773255078115");
    assert_eq!(exact(-4.374503082907222e40), "-4.374503082907222e40");
    assert_eq!(exact(2e-7), "2e-7");
    assert_eq!(exact(f64::INFINITY), "inf");
}

#[test]
fn index_expressions_drop_a_stride_of_1_and_a_padding_of_0() {
    assert_eq!(index_expr("i", 1, "u", 0), "i+u");
    assert_eq!(index_expr("i", 2, "u", 1), "i·2+u−1");
    let model = default_scenario().model;
    let trace = model.trace(0);
    let ctx = context(&model, &trace);
    let e = explain(&ctx, &CellRef::new(Node::Layer(0), N::Z, &[0, 0, 0])).unwrap();
    assert!(e.formula.contains("x[c, i+u, j+v]"), "{}", e.formula);
}

#[test]
fn a_max_pool_cell_that_is_no_switch_says_so_plainly() {
    let model = crate::scenario::load(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/max_pool_switches.json"
    )))
    .unwrap()
    .model;
    let trace = model.trace(0);
    let ctx = context(&model, &trace);
    let e = explain(
        &ctx,
        &CellRef::new(Node::Layer(3), N::DeltaInput, &[0, 0, 0]),
    )
    .unwrap();
    assert!(e.terms.iter().all(|t| !t.contributes));
    assert_eq!(
        e.no_terms.as_deref(),
        Some("this cell is not the switch of any window: δ = 0")
    );
    assert!(e.title.starts_with("pool2.δx[0,0,0]"));
    let mask = explain(&ctx, &CellRef::new(Node::Layer(3), N::Mask, &[0, 0, 0])).unwrap();
    assert!(
        mask.title.starts_with("pool2.switch[0,0,0]"),
        "{}",
        mask.title
    );
}

#[test]
fn mean_pool_formulas_say_what_m_is() {
    let model = default_scenario().model;
    let trace = model.trace(0);
    let ctx = context(&model, &trace);
    let e = explain(
        &ctx,
        &CellRef::new(Node::Layer(1), N::DeltaInput, &[0, 0, 0]),
    )
    .unwrap();
    assert!(
        e.formula.contains("1/m = 1/4 (2×2 window)"),
        "{}",
        e.formula
    );
}

/// Where NaN and inf flow (the overflow fixtures compared with PyTorch), the δ terms the
/// inspector lists still combine to the traced value: δz through ReLU's select, δ routed
/// by every pool kind (an all-zero L2 window passes exactly 0, whatever δ is).
#[test]
fn delta_terms_match_the_traced_value_where_values_are_not_finite() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/scenarios/");
    let same = |a: f64, b: f64| a == b || (a.is_nan() && b.is_nan()) || close(a, b);
    let mut non_finite = 0;
    for name in [
        "nonfinite_relu",
        "nonfinite_leaky_relu",
        "nonfinite_identity",
        "nonfinite_sigmoid",
        "nonfinite_tanh",
        "nonfinite_l2_pool",
    ] {
        let path = format!("{dir}{name}.json");
        let model = crate::scenario::load(std::path::Path::new(&path))
            .unwrap_or_else(|e| panic!("{path}: {e}"))
            .model;
        let trace = model.trace(0);
        let ctx = context(&model, &trace);
        for (l, layer) in model.layers.iter().enumerate() {
            let tensor = match layer.kind {
                LayerKind::Pool(_) => N::DeltaInput,
                _ => N::DeltaZ,
            };
            let node = Node::Layer(l);
            let shape = tensor_shape(&ctx, node, tensor).unwrap();
            for flat in 0..shape.iter().product() {
                let cell = CellRef::new(node, tensor, &unravel(&shape, flat));
                let e = explain(&ctx, &cell).unwrap();
                non_finite += usize::from(!e.value.is_finite());
                assert!(
                    same(e.total(), e.value),
                    "{name}: {}: terms give {}, traced {}",
                    e.title,
                    e.total(),
                    e.value
                );
            }
        }
    }
    assert!(non_finite > 0, "the fixtures hold non-finite δ");
}

/// The inspector writes f and f′ of the layer's own activation, for conv and dense layers.
#[test]
fn activation_formulas_name_the_layers_function_and_its_derivative() {
    for (activation, f, derivative) in [
        (
            Activation::Relu,
            "a = relu(z)",
            "relu′(z) = 1 if z > 0 else 0",
        ),
        (
            Activation::LeakyRelu,
            "a = leaky_relu(z)",
            "leaky_relu′(z) = 1 if z > 0 else 0.01",
        ),
        (Activation::Sigmoid, "a = sigmoid(z)", "σ′(z) = a·(1 − a)"),
        (Activation::Tanh, "a = tanh(z)", "tanh′(z) = 1 − a²"),
        (Activation::Identity, "a = identity(z)", "identity′(z) = 1"),
    ] {
        let mut model = rich_model();
        for l in [0, 5] {
            match &mut model.layers[l].kind {
                LayerKind::Conv(c) => c.activation = activation,
                LayerKind::Dense(d) => d.activation = activation,
                LayerKind::Pool(_) => unreachable!(),
            }
        }
        let trace = model.trace(0);
        let ctx = context(&model, &trace);
        for (l, index) in [(0, vec![1, 2, 3]), (5, vec![2])] {
            let formula = |tensor| {
                explain(&ctx, &CellRef::new(Node::Layer(l), tensor, &index))
                    .unwrap()
                    .formula
            };
            assert_eq!(formula(N::A), f, "layer {l}");
            assert_eq!(
                formula(N::DeltaZ),
                format!("δz = δa · f′(z),   {derivative}"),
                "layer {l}"
            );
        }
    }
}
