//! Every way a scenario can be refused, with the message the user sees.

use super::*;
use serde_json::{Value, json};

fn base() -> Value {
    json!({
        "name": "t",
        "input": [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12], [13, 14, 15, 16]],
        "layers": [
            {"type": "conv", "kernels": 2, "kernel_size": 3},
            {"type": "pool", "kind": "max", "size": 2}
        ],
        "loss": {"kind": "half_sse", "target": [[[0]], [[1]]]}
    })
}

fn error_of(v: &Value) -> String {
    parse(&v.to_string())
        .expect_err("should be refused")
        .to_string()
}

fn error_with(edit: impl FnOnce(&mut Value)) -> String {
    let mut v = base();
    edit(&mut v);
    error_of(&v)
}

#[test]
fn the_base_scenario_is_valid_and_gets_default_names_and_values() {
    let s = parse(&base().to_string()).unwrap();
    let names: Vec<_> = s.model.layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["conv1", "pool1"]);
    assert_eq!((s.steps, s.seed, s.model.learning_rate), (1, 0, 0.1));
    let LayerKind::Conv(conv) = &s.model.layers[0].kind else {
        panic!()
    };
    assert_eq!(conv.activation, Activation::Relu);
    assert_eq!(conv.weights.dim(), (2, 1, 3, 3));
    assert!(
        conv.weights.iter().any(|&w| w != 0.0),
        "He init draws non-zero weights"
    );
    assert_eq!(
        s,
        parse(&base().to_string()).unwrap(),
        "the seeded init is reproducible"
    );
}

#[test]
fn a_two_d_input_is_one_channel() {
    let s = parse(&base().to_string()).unwrap();
    assert_eq!(s.model.input.dim(), (1, 4, 4));
}

#[test]
fn unknown_fields_are_refused_with_their_path_and_position() {
    let e = error_with(|v| v["layers"][0]["kernal_size"] = json!(3));
    assert!(
        e.starts_with("layers[0].kernal_size: unknown field `kernal_size`"),
        "{e}"
    );
    assert!(e.contains("line 1 column"), "{e}");
    let e = error_with(|v| v["learning_rte"] = json!(0.1));
    assert!(
        e.starts_with("learning_rte: unknown field `learning_rte`"),
        "{e}"
    );
    let e = error_with(|v| v["loss"]["targte"] = json!(1));
    assert!(e.contains("unknown field `targte`"), "{e}");
}

#[test]
fn fields_of_another_layer_type_are_refused() {
    let e = error_with(|v| v["layers"][1]["kernels"] = json!(3));
    assert_eq!(
        e,
        "layers[1].kernels: not a field of a pool layer (its fields: name, kind, size, stride)"
    );
}

#[test]
fn trailing_characters_after_the_scenario_are_refused() {
    let e = parse(&format!("{} x", base())).unwrap_err().to_string();
    assert!(e.starts_with("trailing characters at line 1"), "{e}");
}

#[test]
fn dense_weights_of_the_wrong_rank_are_named() {
    let e = error_with(|v| {
        v["layers"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "dense", "weights": [1, 2, 3]}))
    });
    assert_eq!(
        e,
        "layers[2].weights: expected an [outputs][inputs] array, got shape [3]"
    );
}

#[test]
fn malformed_json_gives_line_and_column() {
    let e = parse("{\"name\": \"t\",\n  \"input\": [1, 2,\n}")
        .unwrap_err()
        .to_string();
    assert!(e.contains("line 3 column 1"), "{e}");
}

#[test]
fn weight_and_bias_shapes_are_checked() {
    let e = error_with(|v| {
        v["layers"][0]["weights"] = json!([
            [[[1, 2, 3], [1, 2, 3], [1, 2, 3]]],
            [[[1, 2, 3], [1, 2, 3]]]
        ])
    });
    assert_eq!(
        e,
        "layers[0].weights[1][0]: ragged array: expected 3 entries (like its first sibling), got 2 at line 1 column 179"
    );
    let e = error_with(|v| v["layers"][0]["weights"] = json!([[[1, 2, 3]]]));
    assert_eq!(
        e,
        "layers[0].weights: expected a [kernels][channels][kh][kw] array, got shape [1, 1, 3]"
    );
    let e =
        error_with(|v| v["layers"][0]["weights"] = json!([[[[1, 2], [3, 4]]], [[[1, 2], [3, 4]]]]));
    assert_eq!(
        e,
        "layers[0].weights: expected shape [2, 1, 3, 3], got [2, 1, 2, 2]"
    );
    let e = error_with(|v| v["layers"][0]["bias"] = json!([1, 2, 3]));
    assert_eq!(e, "layers[0].bias: expected shape [2], got [3]");
}

#[test]
fn kernels_and_kernel_size_come_from_given_weights() {
    let mut v = base();
    v["layers"][0] = json!({"type": "conv", "weights": [[[[1, 0], [0, 1]]]]});
    v["loss"]["target"] = json!([[[0]]]);
    let s = parse(&v.to_string()).unwrap();
    let LayerKind::Conv(conv) = &s.model.layers[0].kind else {
        panic!()
    };
    assert_eq!(conv.weights.dim(), (1, 1, 2, 2));
    assert_eq!(conv.bias.to_vec(), vec![0.0]);
}

#[test]
fn geometry_that_leaves_an_empty_map_gives_the_sizes() {
    let e = error_with(|v| v["layers"][0]["kernel_size"] = json!(5));
    assert_eq!(
        e,
        "layers[0]: kernel 5x5 does not fit its padded input 4x4 (input 4x4, padding [0, 0]): the output map would be empty"
    );
    let e = error_with(|v| v["layers"][1]["size"] = json!(3));
    assert_eq!(
        e,
        "layers[1]: pool window 3x3 is larger than its input 2x2: the output map would be empty"
    );
}

#[test]
fn zero_sizes_and_counts_are_refused() {
    assert_eq!(
        error_with(|v| v["layers"][0]["kernels"] = json!(0)),
        "layers[0].kernels: must be at least 1"
    );
    assert_eq!(
        error_with(|v| v["layers"][0]["stride"] = json!([1, 0])),
        "layers[0].stride: must be at least 1, got [1, 0]"
    );
    assert_eq!(
        error_with(|v| v["layers"][1]["size"] = json!(0)),
        "layers[1].size: must be at least 1, got [0, 0]"
    );
    let e = error_with(|v| v["layers"][0]["stride"] = json!(-1));
    assert!(
        e.starts_with("layers[0].stride: invalid type: integer `-1`"),
        "{e}"
    );
    assert_eq!(
        error_with(|v| v["steps"] = json!(0)),
        "steps: must be at least 1"
    );
    assert_eq!(
        error_with(|v| v["layers"] = json!([])),
        "layers: must hold at least one layer"
    );
    assert_eq!(
        error_with(|v| v["input"] = json!([])),
        "input: must not be empty, got shape [0]"
    );
    assert_eq!(
        error_with(|v| v["input"] = json!([1, 2])),
        "input: expected a [channels][height][width] or [height][width] array of numbers, got rank 1"
    );
    assert_eq!(
        error_with(|v| v["input"] = json!([[[]]])),
        "input: must not be empty, got shape [1, 1, 0]"
    );
    assert!(
        error_with(|v| v["layers"][1]
            .as_object_mut()
            .unwrap()
            .remove("kind")
            .map(|_| ())
            .unwrap())
        .starts_with("layers[1].kind: is required")
    );
}

#[test]
fn a_two_d_target_is_one_channel() {
    let mut v = base();
    v["layers"][0]["kernels"] = json!(1);
    v["loss"]["target"] = json!([[0.5]]);
    let s = parse(&v.to_string()).unwrap();
    let Loss::HalfSse { target } = &s.model.loss else {
        panic!()
    };
    assert_eq!(target.shape(), &[1, 1, 1]);
}

#[test]
fn loss_fields_are_checked() {
    assert_eq!(
        error_with(|v| v["loss"]["target"] = json!([0, 1])),
        "loss.target: expected shape [2, 1, 1], got [2]"
    );
    let e = error_with(|v| v["loss"] = json!({"kind": "cross_entropy", "class": 2}));
    assert_eq!(
        e,
        "loss.class: 2 is out of range: the final output has 2 values (classes 0 to 1)"
    );
    let e = error_with(|v| v["loss"] = json!({"kind": "hinge"}));
    assert!(e.starts_with("loss.kind: unknown variant `hinge`"), "{e}");
    assert_eq!(
        error_with(|v| v["learning_rate"] = json!(-0.5)),
        "learning_rate: must be zero or positive, got -0.5"
    );
}

#[test]
fn non_numbers_in_tensors_are_refused_with_their_cell() {
    // Tensors are checked while the file is read, so the line and column come too.
    assert_eq!(
        error_with(|v| v["input"][2][1] = json!("x")),
        "input[2][1]: expected a number, got the string \"x\" at line 1 column 47"
    );
    assert_eq!(
        error_with(|v| v["input"][2][1] = json!(null)),
        "input[2][1]: expected a number, got null at line 1 column 48"
    );
    // Only trace files write non-finite values, as strings; a scenario holds numbers.
    assert_eq!(
        error_with(|v| v["input"][2][1] = json!("NaN")),
        "input[2][1]: expected a number, got the string \"NaN\" at line 1 column 49"
    );
}

#[test]
fn conv_and_pool_cannot_follow_a_dense_layer() {
    let e = error_with(|v| {
        v["layers"] =
            json!([{"type": "dense", "outputs": 3}, {"type": "pool", "kind": "max", "size": 1}]);
    });
    assert_eq!(
        e,
        "layers[1]: a pool layer needs [channels][height][width] maps, but the layer before it is dense with 3 flat outputs"
    );
}

#[test]
fn layer_names_must_be_unique() {
    let e = error_with(|v| v["layers"][1]["name"] = json!("conv1"));
    assert_eq!(
        e,
        "layers[1].name: \"conv1\" is already the name of layers[0]; layer names must be unique"
    );
}

#[test]
fn sizes_over_the_limits_are_refused_before_allocation() {
    let e = error_with(|v| {
        v["layers"][0]["kernels"] = json!(100_000);
        v["layers"][0]["kernel_size"] = json!(2_000);
    });
    assert!(
        e.contains("would exceed the limit of 10000000 numbers per tensor"),
        "{e}"
    );
    let e = error_with(|v| v["steps"] = json!(MAX_STEPS + 1));
    assert_eq!(
        e,
        format!(
            "steps: {} exceeds the limit of {MAX_STEPS} steps",
            MAX_STEPS + 1
        )
    );
    // Many kernels of a modest size: each tensor fits, the whole step does not.
    let e = error_with(|v| {
        v["input"] = json!(vec![vec![0.5; 1000]; 1000]);
        v["layers"][0]["kernels"] = json!(9);
        v["layers"][0]["kernel_size"] = json!(1);
    });
    assert!(e.contains("more than the limit of 50000000 numbers"), "{e}");
    let e = error_with(|v| {
        v["layers"] = json!(vec![
            json!({"type": "pool", "kind": "max", "size": 1});
            MAX_LAYERS + 1
        ])
    });
    assert!(
        e.starts_with(&format!(
            "layers: more than the limit of {MAX_LAYERS} layers at line 1 column"
        )),
        "{e}"
    );
}

#[test]
fn the_default_scenario_is_valid() {
    let s = default_scenario();
    assert_eq!(s.name, DEFAULT_SCENARIO_NAME);
}

#[test]
fn tensors_are_checked_while_reading_even_inside_the_loss() {
    // The loss used to be read as an enum tagged by `kind`, which serde buffers in a generic
    // tree first: a huge target was held whole before any limit. Now its errors come from
    // the reader itself, with the position in the file.
    let e = error_with(|v| v["loss"]["target"] = json!([[[0]], [[1, 2]]]));
    assert!(
        e.starts_with(
            "loss.target[1][0]: ragged array: expected 1 entries (like its first sibling), got 2 at line 1 column"
        ),
        "{e}"
    );
    // And an array where an object is expected is refused, not read field by field.
    let e = error_with(|v| v["loss"] = json!(["half_sse", [[[0]]]]));
    assert!(
        e.starts_with("loss: invalid type: sequence, expected a loss: a JSON object with a `kind`"),
        "{e}"
    );
}

#[test]
fn a_layer_s_step_numbers_are_charged_before_its_weights_are_drawn() {
    // Two 2000×2000 kernels (8 million weights) on a 1×1 input padded to 4235×4235: every
    // tensor within its limit (the output is 2×2236×2236, just under 10 million), but the
    // step over its: refused before 8 million weights are drawn (seconds, unoptimised).
    let e = error_with(|v| {
        v["input"] = json!([[1]]);
        v["layers"] = json!([{"type": "conv", "kernels": 2, "kernel_size": 2000, "padding": 2117}]);
        v["loss"] = json!({"kind": "cross_entropy", "class": 0});
    });
    assert_eq!(
        e,
        "layers[0]: the trace of one step would hold more than the limit of 50000000 numbers"
    );
}
