//! `deltascope diff` says where a mistake is made: each tensor that differs is recomputed
//! from the user's own inputs. The wrong traces are built here by hand from the reference
//! export, as a learner's code would produce them (a wrong step and everything it feeds).

use deltascope::tensor_json::tensor_to_json;
use ndarray::ArrayD;
use serde_json::{Value, json};

mod common;
use common::traces::{self, bundled, tensor};

/// The reference traces of the first `n` steps of a bundled scenario, as exported.
fn reference(name: &str, n: usize) -> Vec<Value> {
    traces::reference_steps(&bundled(name), n)
}

fn layer_mut<'a>(step: &'a mut Value, name: &str) -> &'a mut Value {
    step["layers"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|l| l["name"] == name)
        .unwrap()
}

/// Multiplies a tensor of the trace in place.
fn scale(step: &mut Value, layer: &str, name: &str, by: f64) {
    let t = &mut layer_mut(step, layer)[name];
    *t = tensor_to_json(&tensor(t).mapv(|x| x * by).view());
}

fn run_diff(scenario: &str, theirs: &Value) -> (i32, String) {
    traces::run_diff(&bundled(scenario), theirs)
}

/// The backward tensors of mean_pool_classic that pool2's δ_input feeds, in order.
const AFTER_POOL2: [(&str, &str); 12] = [
    ("conv2", "delta_a"),
    ("conv2", "delta_z"),
    ("conv2", "grad_weights"),
    ("conv2", "grad_bias"),
    ("conv2", "delta_input"),
    ("pool1", "delta_output"),
    ("pool1", "delta_input"),
    ("conv1", "delta_a"),
    ("conv1", "delta_z"),
    ("conv1", "grad_weights"),
    ("conv1", "grad_bias"),
    ("conv1", "delta_input"),
];

/// A learner's step 0 of mean_pool_classic whose pool2 backward forgets to divide by the
/// window area: the backward pass is linear in δ, so everything it feeds is 4× too.
fn pool2_not_divided() -> Value {
    let mut step = reference("mean_pool_classic", 1).remove(0);
    scale(&mut step, "pool2", "delta_input", 4.0);
    for (layer, name) in AFTER_POOL2 {
        scale(&mut step, layer, name, 4.0);
    }
    step
}

#[test]
fn a_mistake_is_located_where_it_is_made_and_what_follows_from_it_is_said_once() {
    let reference = reference("mean_pool_classic", 1).remove(0);
    let right = tensor(&layer_mut(&mut reference.clone(), "pool2")["delta_input"]);
    let (status, out) = run_diff(
        "mean_pool_classic",
        &json!({"steps": [pool2_not_divided()]}),
    );
    assert_eq!(status, 1, "{out}");
    let first = right.iter().next().unwrap();
    assert!(
        out.contains(&format!(
            "\nmistake: step 0, pool2's backward pass. Computed correctly from your pool2.delta_output, pool2.delta_input[0, 0, 0] is {first} (yours {}): the mistake is made here, not before\n",
            4.0 * first
        )),
        "{out}"
    );
    assert!(
        out.contains("\ndiagnosis: yours = 4 × the reference everywhere: mean-pool δ not divided by the window area m = 4"),
        "{out}"
    );
    // Each of the 12 tensors downstream is what its (wrong) inputs give: no second mistake.
    assert!(
        out.contains("\n12 later tensors differ only because their inputs do: each is what a correct computation gives from your own inputs (conv2.delta_a, conv2.delta_z, conv2.grad_weights, conv2.grad_bias, and 8 more)\n"),
        "{out}"
    );
    assert!(!out.contains("another mistake"), "{out}");
}

#[test]
fn a_second_mistake_downstream_is_named_with_its_own_diagnosis() {
    // pool1 forgets the division too: its δ_input is 4× what its (already 4×) δ_output gives.
    let mut step = pool2_not_divided();
    for (layer, name) in &AFTER_POOL2[6..] {
        scale(&mut step, layer, name, 4.0);
    }
    let (status, out) = run_diff("mean_pool_classic", &json!({"steps": [step]}));
    assert_eq!(status, 1, "{out}");
    assert!(
        out.contains("\nmistake: step 0, pool2's backward pass."),
        "{out}"
    );
    assert!(
        out.contains("\n\nanother mistake: step 0, pool1's backward pass. Computed correctly from your pool1.delta_output, pool1.delta_input[0, 0, 0] is "),
        "{out}"
    );
    assert!(
        out.contains("\n11 later tensors differ only because their inputs do"),
        "{out}"
    );
    // One step, two places: nothing is made "again".
    assert!(!out.contains("the same mistake again"), "{out}");
    assert!(!out.contains("the same again"), "{out}");
}

#[test]
fn the_same_mistake_at_every_step_is_said_once_with_the_steps() {
    // Three steps whose pool2 forgets the division at each: the parameters drift apart after
    // step 0, so later steps differ everywhere, but pool2's backward is the place each time.
    let mut steps = reference("mean_pool_classic", 3);
    // Only pool2's δ_input and what it is computed from, at every step: consistent with
    // the user's own δ_output whatever their parameters did.
    let theirs: Vec<Value> = steps
        .iter_mut()
        .map(|s| {
            scale(s, "pool2", "delta_input", 4.0);
            let step = s["step"].clone();
            let pool2 = layer_mut(s, "pool2");
            json!({"step": step, "layers": [{"name": "pool2",
                "delta_output": pool2["delta_output"], "delta_input": pool2["delta_input"]}]})
        })
        .collect();
    let (status, out) = run_diff("mean_pool_classic", &json!({"steps": theirs}));
    assert_eq!(status, 1, "{out}");
    assert!(
        out.contains("\nmistake: step 0, pool2's backward pass."),
        "{out}"
    );
    assert!(
        out.contains("\nthe same mistake again in steps 1 and 2\n"),
        "{out}"
    );
}

#[test]
fn without_its_inputs_a_difference_is_not_located_and_the_report_says_what_to_add() {
    let mut step = reference("mean_pool_classic", 1).remove(0);
    scale(&mut step, "conv1", "delta_input", 1.5);
    let conv1 = layer_mut(&mut step, "conv1");
    let theirs = json!({"steps": [{"step": 0, "layers": [
        {"name": "conv1", "delta_input": conv1["delta_input"]}]}]});
    let (status, out) = run_diff("mean_pool_classic", &theirs);
    assert_eq!(status, 1, "{out}");
    assert!(
        out.contains("\nmistake: not located. conv1.delta_input is computed from conv1.delta_z and the scenario's conv1.weights; your file does not hold conv1.delta_z, so the mistake may be in conv1's backward pass or before it: add conv1.delta_z to your file to tell\n"),
        "{out}"
    );
    // Given its δz (the reference's), the same δ_input is located in conv1's backward pass.
    let theirs = json!({"steps": [{"step": 0, "layers": [
        {"name": "conv1", "delta_z": conv1["delta_z"], "delta_input": conv1["delta_input"]}]}]});
    let (_, out) = run_diff("mean_pool_classic", &theirs);
    assert!(
        out.contains("\nmistake: step 0, conv1's backward pass. Computed correctly from your conv1.delta_z and the scenario's conv1.weights, conv1.delta_input[0, 0, 0] is "),
        "{out}"
    );
}

#[test]
fn an_input_passed_on_from_the_layer_before_counts_as_given() {
    // conv2's δz and its input are not in the file, but what they are passed on from is:
    // conv2.delta_a is pool2.delta_input, conv2.input is pool1.output.
    let mut step = reference("mean_pool_classic", 1).remove(0);
    scale(&mut step, "conv2", "grad_weights", -1.0);
    let (pool1, pool2, conv2) = (
        layer_mut(&mut step, "pool1").clone(),
        layer_mut(&mut step, "pool2").clone(),
        layer_mut(&mut step, "conv2").clone(),
    );
    let theirs = json!({"steps": [{"step": 0, "layers": [
        {"name": "pool1", "output": pool1["output"]},
        {"name": "conv2", "z": conv2["z"], "grad_weights": conv2["grad_weights"]},
        {"name": "pool2", "delta_input": pool2["delta_input"]}]}]});
    let (status, out) = run_diff("mean_pool_classic", &theirs);
    assert_eq!(status, 1, "{out}");
    // δz is computed (from δa and z), not passed on: it must be given itself.
    assert!(
        out.contains("your file does not hold conv2.delta_z, so the mistake may be in conv2's backward pass or before it"),
        "{out}"
    );
    let theirs = json!({"steps": [{"step": 0, "layers": [
        {"name": "pool1", "output": pool1["output"]},
        {"name": "conv2", "delta_z": conv2["delta_z"], "grad_weights": conv2["grad_weights"]}]}]});
    let (_, out) = run_diff("mean_pool_classic", &theirs);
    assert!(
        out.contains("\nmistake: step 0, conv2's backward pass. Computed correctly from your pool1.output and conv2.delta_z, conv2.grad_weights[0, 0, 0, 0] is "),
        "{out}"
    );
    assert!(
        out.contains("\ndiagnosis: yours = -1 × the reference everywhere\n"),
        "{out}"
    );
}

#[test]
fn a_mistake_between_layers_is_located_between_them() {
    // ∂L/∂y right, but pool2 receives half of it.
    let mut step = reference("mean_pool_classic", 1).remove(0);
    scale(&mut step, "pool2", "delta_output", 0.5);
    let pool2 = layer_mut(&mut step, "pool2").clone();
    let theirs = json!({"steps": [{"step": 0, "loss_grad": step["loss_grad"], "layers": [
        {"name": "pool2", "delta_output": pool2["delta_output"]}]}]});
    let (status, out) = run_diff("mean_pool_classic", &theirs);
    assert_eq!(status, 1, "{out}");
    assert!(
        out.contains("\nmistake: step 0, passing ∂L/∂y to pool2. Computed correctly from your loss_grad, pool2.delta_output[0, 0, 0] is "),
        "{out}"
    );
}

#[test]
fn the_update_and_the_initial_parameters_are_places_too() {
    let mut steps = reference("mean_pool_classic", 2);
    let lr = 0.1; // the scenario's learning rate
    let conv1 = layer_mut(&mut steps[0], "conv1").clone();
    let (w, g) = (tensor(&conv1["weights"]), tensor(&conv1["grad_weights"]));
    // w + η·∂w: the sign of the step flipped.
    let w1 = &w + &g.mapv(|g| lr * g);
    let theirs = json!({"steps": [
        {"step": 0, "layers": [{"name": "conv1", "weights": conv1["weights"], "grad_weights": conv1["grad_weights"]}]},
        {"step": 1, "layers": [{"name": "conv1", "weights": tensor_to_json(&w1.view())}]}]});
    let (status, out) = run_diff("mean_pool_classic", &theirs);
    assert_eq!(status, 1, "{out}");
    assert!(
        out.contains("\nmistake: step 1, conv1's update after step 0. Computed correctly from your conv1.weights of step 0 and conv1.grad_weights of step 0, conv1.weights[0, 0, 0, 0] is "),
        "{out}"
    );
    // The network input not the scenario's.
    let input = tensor(&conv1["input"]).mapv(|x| x + 1.0);
    let theirs = json!({"steps": [{"step": 0, "layers": [{"name": "conv1", "input": tensor_to_json(&input.view())}]}]});
    let (_, out) = run_diff("mean_pool_classic", &theirs);
    assert!(
        out.contains("\nmistake: step 0, the network input: your conv1.input[0, 0, 0] is "),
        "{out}"
    );
    // Step 0's weights not the scenario's: said as such, with both numbers.
    let mut w0 = w.clone();
    w0[[0, 0, 0, 1]] += 0.5;
    let theirs = json!({"steps": [{"step": 0, "layers": [{"name": "conv1", "weights": tensor_to_json(&w0.view())}]}]});
    let (_, out) = run_diff("mean_pool_classic", &theirs);
    assert!(
        out.contains(&format!(
            "\nmistake: step 0, conv1's initial parameters: your conv1.weights[0, 0, 0, 1] is {}, the scenario's is {} (deltascope export writes it)\n",
            w0[[0, 0, 0, 1]],
            w[[0, 0, 0, 1]]
        )),
        "{out}"
    );
}

#[test]
fn a_max_pool_is_checked_from_its_input_when_the_switches_are_not_given() {
    // δ sent to every cell of each window: wrong given pool1's δ_output and its input.
    let mut step = reference("max_pool_switches", 1).remove(0);
    let pool1 = layer_mut(&mut step, "pool1").clone();
    let delta_output = tensor(&pool1["delta_output"]);
    let mut everywhere = tensor(&pool1["delta_input"]).mapv(|_| 0.0);
    for ((c, y, x), v) in everywhere
        .view_mut()
        .into_dimensionality::<ndarray::Ix3>()
        .unwrap()
        .indexed_iter_mut()
    {
        if let Some(&d) = delta_output.get([c, y / 2, x / 2].as_slice()) {
            *v = d;
        }
    }
    let theirs = json!({"steps": [{"step": 0, "layers": [{"name": "pool1",
        "input": pool1["input"], "delta_output": pool1["delta_output"],
        "delta_input": tensor_to_json(&everywhere.view())}]}]});
    let (status, out) = run_diff("max_pool_switches", &theirs);
    assert_eq!(status, 1, "{out}");
    assert!(
        out.contains("\nmistake: step 0, pool1's backward pass. Computed correctly from your pool1.delta_output and pool1.input, pool1.delta_input"),
        "{out}"
    );
    // Switches that point outside the input plane are no switches: not used, no panic.
    let theirs = json!({"steps": [{"step": 0, "layers": [{"name": "pool1",
        "argmax": tensor_to_json(&ArrayD::from_elem(tensor(&pool1["output"]).shape(), 999.0).view()),
        "delta_output": pool1["delta_output"],
        "delta_input": tensor_to_json(&everywhere.view())}]}]});
    let (status, out) = run_diff("max_pool_switches", &theirs);
    assert_eq!(status, 1, "{out}");
    assert!(
        out.contains(
            "\nfirst difference: step 0, forward pass, pool1.argmax[0, 0, 0]: yours 999, reference "
        ),
        "{out}"
    );
    // Its δ_input can't be checked from them, nor from the input the file does not hold.
    assert!(
        out.contains("\n1 later tensor differs too; its inputs are not all in your file, so diff can't tell whether it only follows from the first (pool1.delta_input)\n"),
        "{out}"
    );
}

#[test]
fn a_factor_made_in_a_layer_is_not_blamed_on_the_loss() {
    // conv1's ∂L/∂w doubled. Alone, the factor 2 may come from upstream, and the loss's
    // ½ would give it: "perhaps". With the δz it is computed from (right), it is made here.
    let mut step = reference("mean_pool_classic", 1).remove(0);
    scale(&mut step, "conv1", "grad_weights", 2.0);
    let conv1 = layer_mut(&mut step, "conv1").clone();
    let alone = json!({"steps": [{"step": 0, "layers": [
        {"name": "conv1", "grad_weights": conv1["grad_weights"]}]}]});
    let (_, out) = run_diff("mean_pool_classic", &alone);
    assert!(
        out.contains("\ndiagnosis: yours = 2 × the reference everywhere: perhaps a "),
        "{out}"
    );
    assert!(
        !out.contains("most likely"),
        "a factor does not locate: {out}"
    );
    let located = json!({"steps": [{"step": 0, "layers": [
        {"name": "conv1", "delta_z": conv1["delta_z"], "grad_weights": conv1["grad_weights"]}]}]});
    let (_, out) = run_diff("mean_pool_classic", &located);
    assert!(
        out.contains("\nmistake: step 0, conv1's backward pass. Computed correctly from your conv1.delta_z and the scenario's input, conv1.grad_weights"),
        "{out}"
    );
    assert!(
        out.contains("\ndiagnosis: yours = 2 × the reference everywhere\n"),
        "{out}"
    );
}

#[test]
fn a_second_mistakes_factor_is_relative_to_what_its_inputs_give() {
    // pool2 and pool1 both forget the division: pool1's δ_input is 16 × the reference but
    // 4 × what its own (already 4×) δ_output gives.
    let mut step = pool2_not_divided();
    for (layer, name) in &AFTER_POOL2[6..] {
        scale(&mut step, layer, name, 4.0);
    }
    let (_, out) = run_diff("mean_pool_classic", &json!({"steps": [step]}));
    assert!(
        out.contains("\n  diagnosis: yours = 4 × what your inputs give everywhere: mean-pool δ not divided by the window area m = 4"),
        "{out}"
    );
}

#[test]
fn each_mistake_is_said_once_with_the_steps_it_is_made_again_in() {
    // Two steps, each with pool2 and pool1 both forgetting the division: pool2's δ_input 4×,
    // pool1's δ_output (conv2's δ_input, linear in it) 4×, pool1's δ_input 16×.
    let theirs: Vec<Value> = reference("mean_pool_classic", 2)
        .into_iter()
        .map(|mut s| {
            scale(&mut s, "pool2", "delta_input", 4.0);
            scale(&mut s, "pool1", "delta_output", 4.0);
            scale(&mut s, "pool1", "delta_input", 16.0);
            let step = s["step"].clone();
            let (pool1, pool2) = (
                layer_mut(&mut s, "pool1").clone(),
                layer_mut(&mut s, "pool2").clone(),
            );
            json!({"step": step, "layers": [
                {"name": "pool1", "delta_output": pool1["delta_output"], "delta_input": pool1["delta_input"]},
                {"name": "pool2", "delta_output": pool2["delta_output"], "delta_input": pool2["delta_input"]}]})
        })
        .collect();
    let (status, out) = run_diff("mean_pool_classic", &json!({"steps": theirs}));
    assert_eq!(status, 1, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    let at = |prefix: &str| {
        lines
            .iter()
            .position(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} in:\n{out}"))
    };
    let first = at("mistake: step 0, pool2's backward pass.");
    assert_eq!(
        lines[first + 2],
        "the same mistake again in step 1",
        "{out}"
    );
    let second = at("another mistake: step 0, pool1's backward pass.");
    assert_eq!(lines[second + 2], "  the same again in step 1", "{out}");
    // Each place once, and pool1.delta_output, passed on from a right conv2, follows.
    assert_eq!(out.matches("mistake again").count(), 1, "{out}");
    assert_eq!(out.matches("another mistake").count(), 1, "{out}");
    assert_eq!(out.matches("the same again").count(), 1, "{out}");
}

#[test]
fn after_a_first_difference_that_is_not_located_the_first_located_mistake_is_said_so() {
    // pool2's δ_input alone (its δ_output is not in the file), and pool1's wrong given its
    // own δ_output; then a third place, conv1's ∂b averaged, is "another".
    let mut step = reference("mean_pool_classic", 1).remove(0);
    scale(&mut step, "pool2", "delta_input", 4.0);
    scale(&mut step, "pool1", "delta_input", 4.0);
    scale(&mut step, "conv1", "grad_bias", 0.5);
    let (pool1, pool2, conv1) = (
        layer_mut(&mut step, "pool1").clone(),
        layer_mut(&mut step, "pool2").clone(),
        layer_mut(&mut step, "conv1").clone(),
    );
    let theirs = json!({"steps": [{"step": 0, "layers": [
        {"name": "conv1", "delta_z": conv1["delta_z"], "grad_bias": conv1["grad_bias"]},
        {"name": "pool1", "delta_output": pool1["delta_output"], "delta_input": pool1["delta_input"]},
        {"name": "pool2", "delta_input": pool2["delta_input"]}]}]});
    let (status, out) = run_diff("mean_pool_classic", &theirs);
    assert_eq!(status, 1, "{out}");
    assert!(
        out.contains("\nmistake: not located. pool2.delta_input"),
        "{out}"
    );
    assert!(
        out.contains("\n\nthe first located mistake: step 0, pool1's backward pass."),
        "{out}"
    );
    assert!(
        out.contains("\n\nanother mistake: step 0, conv1's backward pass."),
        "{out}"
    );
}

#[test]
fn what_the_file_gives_for_a_tensor_wins_over_what_is_passed_on_to_it() {
    // pool1's δ_input 4× (its δ_output not given), but conv1's own δa right: conv1's δz,
    // written as δa itself (the ReLU's derivative left out), is checked against the δa the
    // file gives for conv1, not the one pool1 passes on.
    let mut step = reference("mean_pool_classic", 1).remove(0);
    scale(&mut step, "pool1", "delta_input", 4.0);
    let (pool1, conv1) = (
        layer_mut(&mut step, "pool1").clone(),
        layer_mut(&mut step, "conv1").clone(),
    );
    assert_ne!(conv1["delta_a"], conv1["delta_z"], "conv1 has dead ReLUs");
    let theirs = json!({"steps": [{"step": 0, "layers": [
        {"name": "conv1", "z": conv1["z"], "delta_a": conv1["delta_a"], "delta_z": conv1["delta_a"]},
        {"name": "pool1", "delta_input": pool1["delta_input"]}]}]});
    let (status, out) = run_diff("mean_pool_classic", &theirs);
    assert_eq!(status, 1, "{out}");
    assert!(
        out.contains("\n\nthe first located mistake: step 0, conv1's backward pass. Computed correctly from your conv1.delta_a and conv1.z, conv1.delta_z"),
        "{out}"
    );
    assert!(
        out.contains("\n  diagnosis: the activation's derivative was left out: yours is δa itself"),
        "{out}"
    );
}

#[test]
fn switches_the_file_gives_are_the_ones_its_delta_input_is_checked_with() {
    // digit_classifier's pool1 has tied windows. The learner's switches take the last
    // maximum (`>=`), and their δ_input follows their own switches: the mistake is in the
    // forward pass, and the δ_input only follows from it.
    let mut step = reference("digit_classifier", 1).remove(0);
    let pool1 = layer_mut(&mut step, "pool1").clone();
    let input = tensor(&pool1["input"])
        .into_dimensionality::<ndarray::Ix3>()
        .unwrap();
    let delta_output = tensor(&pool1["delta_output"]);
    let (_, h, w) = input.dim();
    let switches = ndarray::Array3::from_shape_fn((input.dim().0, h / 2, w / 2), |(c, i, j)| {
        let mut best = (f64::NEG_INFINITY, 0);
        for u in 0..2 {
            for v in 0..2 {
                let (y, x) = (2 * i + u, 2 * j + v);
                if input[[c, y, x]] >= best.0 {
                    best = (input[[c, y, x]], y * w + x);
                }
            }
        }
        best.1 as f64
    });
    assert_ne!(
        tensor_to_json(&switches.view().into_dyn()),
        pool1["argmax"],
        "a tie somewhere"
    );
    let mut delta_input = ndarray::Array3::<f64>::zeros(input.raw_dim());
    for ((c, i, j), &s) in switches.indexed_iter() {
        let s = s as usize;
        delta_input[[c, s / w, s % w]] += delta_output[[c, i, j].as_slice()];
    }
    let theirs = json!({"steps": [{"step": 0, "layers": [{"name": "pool1",
        "input": pool1["input"], "argmax": tensor_to_json(&switches.view().into_dyn()),
        "delta_output": pool1["delta_output"],
        "delta_input": tensor_to_json(&delta_input.view().into_dyn())}]}]});
    let (status, out) = run_diff("digit_classifier", &theirs);
    assert_eq!(status, 1, "{out}");
    assert!(
        out.contains("\nmistake: step 0, pool1's forward pass. Computed correctly from your pool1.input, pool1.argmax"),
        "{out}"
    );
    assert!(
        out.contains("\n1 later tensor differs only because its inputs do: it is what a correct computation gives from your own inputs (pool1.delta_input)\n"),
        "{out}"
    );
    assert!(!out.contains("another mistake"), "{out}");
}

#[test]
fn a_forward_pass_is_checked_with_the_files_own_parameters() {
    // Biases not the scenario's, and z computed with them: the mistake is the parameters,
    // and each z only follows from them.
    let mut step = reference("digit_classifier", 1).remove(0);
    let (conv1, dense1) = (
        layer_mut(&mut step, "conv1").clone(),
        layer_mut(&mut step, "dense1").clone(),
    );
    let shift = |v: &Value, by: f64| tensor_to_json(&tensor(v).mapv(|x| x + by).view());
    let theirs = json!({"steps": [{"step": 0, "layers": [
        {"name": "conv1", "bias": shift(&conv1["bias"], 0.25), "z": shift(&conv1["z"], 0.25)},
        {"name": "dense1", "input": dense1["input"],
         "bias": shift(&dense1["bias"], 0.5), "z": shift(&dense1["z"], 0.5)}]}]});
    let (status, out) = run_diff("digit_classifier", &theirs);
    assert_eq!(status, 1, "{out}");
    assert!(
        out.contains("\nmistake: step 0, conv1's initial parameters: your conv1.bias[0] is "),
        "{out}"
    );
    assert!(
        out.contains(
            "\n\nanother mistake: step 0, dense1's initial parameters: your dense1.bias[0] is "
        ),
        "{out}"
    );
    assert_eq!(out.matches("another mistake").count(), 1, "{out}");
    assert!(
        out.contains("\n2 later tensors differ only because their inputs do: each is what a correct computation gives from your own inputs (conv1.z, dense1.z)\n"),
        "{out}"
    );
}
