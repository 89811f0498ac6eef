//! The first non-finite value (NaN, inf or −inf) of a run, in the order the computation
//! produces it: per training step, the forward pass layer by layer (input, weights, bias,
//! z, a; a pool's input, output), then the loss and ∂L/∂y, then the backward pass in
//! reverse layer order (delta_a, delta_z, grad_weights, grad_bias, delta_input; a pool's
//! delta_output, delta_input). Within a tensor, cells are taken in row-major order.
//!
//! A diverging run is carried on, not refused; this names where it first went wrong.

use std::fmt;

use ndarray::{ArrayViewD, Dimension};

use crate::engine::Pass;
use crate::engine::{StepTrace, TensorName};

/// Where a run first produced a value that is not a finite number.
#[derive(Clone, Debug, PartialEq)]
pub struct Anomaly {
    pub step: usize,
    pub pass: Pass,
    /// The layer's name; `None` for the step's `loss` and `loss_grad`.
    pub layer: Option<String>,
    /// The tensor: `z`, `delta_input`, `loss`, …
    pub tensor: TensorName,
    /// The cell's index within the tensor (empty for the loss, a single number).
    pub index: Vec<usize>,
    pub value: f64,
}

impl Anomaly {
    /// `dense1.a[1]`, `loss`, `loss_grad[0]`.
    pub fn cell(&self) -> String {
        let mut out = match &self.layer {
            Some(layer) => format!("{layer}.{}", self.tensor),
            None => self.tensor.to_string(),
        };
        if !self.index.is_empty() {
            let parts: Vec<String> = self.index.iter().map(usize::to_string).collect();
            out.push_str(&format!("[{}]", parts.join(", ")));
        }
        out
    }
}

impl fmt::Display for Anomaly {
    /// `step 8, forward pass: dense1.a[1] = inf`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pass = match self.pass {
            Pass::Forward => "forward pass",
            Pass::Loss => "loss",
            Pass::Backward => "backward pass",
        };
        write!(
            f,
            "step {}, {pass}: {} = {}",
            self.step,
            self.cell(),
            value_text(self.value)
        )
    }
}

/// NaN, inf and -inf as the trace format writes them; other numbers as Rust prints them.
fn value_text(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "inf".into()
    } else if v == f64::NEG_INFINITY {
        "-inf".into()
    } else {
        v.to_string()
    }
}

/// The first non-finite cell of a tensor, in row-major order.
fn first_non_finite(t: &ArrayViewD<'_, f64>) -> Option<(Vec<usize>, f64)> {
    let Some(values) = t.as_slice() else {
        return t
            .indexed_iter()
            .find(|(_, v)| !v.is_finite())
            .map(|(index, v)| (index.slice().to_vec(), *v));
    };
    // Every step of a run is scanned: blocks are tested with arithmetic the compiler
    // vectorises, and only a block that holds a non-finite value is searched cell by cell.
    const BLOCK: usize = 1024;
    let (block, block_values) = values
        .chunks(BLOCK)
        .enumerate()
        .find(|(_, b)| !all_finite_slice(b))?;
    let (i, &value) = block_values
        .iter()
        .enumerate()
        .find(|(_, v)| !v.is_finite())?;
    let mut offset = block * BLOCK + i;
    let mut index = vec![0; t.ndim()];
    for (slot, &n) in index.iter_mut().zip(t.shape()).rev() {
        *slot = offset % n;
        offset /= n;
    }
    Some((index, value))
}

/// Whether every value of a tensor is finite.
pub fn all_finite(t: &ArrayViewD<'_, f64>) -> bool {
    match t.as_slice_memory_order() {
        Some(values) => all_finite_slice(values),
        None => t.iter().all(|v| v.is_finite()),
    }
}

/// Whether every value is finite: v·0 is ±0 for a finite v and NaN for ±inf and NaN, and a
/// NaN survives any order of addition.
fn all_finite_slice(values: &[f64]) -> bool {
    let mut lanes = [0.0f64; 8];
    let chunks = values.chunks_exact(8);
    let rest = chunks.remainder();
    for chunk in chunks {
        for (lane, v) in lanes.iter_mut().zip(chunk) {
            *lane += v * 0.0;
        }
    }
    let tail: f64 = rest.iter().map(|v| v * 0.0).sum();
    !(lanes.iter().sum::<f64>() + tail).is_nan()
}

/// The first non-finite value of one step, in computation order.
pub fn first_anomaly_in_step(trace: &StepTrace) -> Option<Anomaly> {
    let found = |pass, layer: Option<&str>, tensor, (index, value)| Anomaly {
        step: trace.step,
        pass,
        layer: layer.map(str::to_string),
        tensor,
        index,
        value,
    };
    let layer_pass = |pass: Pass, (name, layer): &(String, crate::engine::LayerTrace)| {
        layer
            .tensors()
            .into_iter()
            .filter(|(tensor, _)| Pass::of_layer_tensor(*tensor) == pass)
            .find_map(|(tensor, values)| {
                first_non_finite(&values).map(|cell| found(pass, Some(name), tensor, cell))
            })
    };
    if let Some(a) = trace
        .layers
        .iter()
        .find_map(|l| layer_pass(Pass::Forward, l))
    {
        return Some(a);
    }
    if !trace.loss.is_finite() {
        return Some(found(
            Pass::Loss,
            None,
            TensorName::Loss,
            (Vec::new(), trace.loss),
        ));
    }
    if let Some(cell) = first_non_finite(&trace.loss_grad.view()) {
        return Some(found(Pass::Loss, None, TensorName::LossGrad, cell));
    }
    trace
        .layers
        .iter()
        .rev()
        .find_map(|l| layer_pass(Pass::Backward, l))
}

/// The first non-finite value of a run: the earliest step that has one, and within it the
/// first in computation order. Steps are read in the order given, which should be step order.
pub fn first_anomaly<'a>(steps: impl IntoIterator<Item = &'a StepTrace>) -> Option<Anomaly> {
    steps.into_iter().find_map(first_anomaly_in_step)
}

/// The one line `deltascope export --first-anomaly` prints.
pub fn report_line(name: &str, anomaly: Option<&Anomaly>, steps: usize) -> String {
    match anomaly {
        Some(a) => format!("{name}: first non-finite value at {a}"),
        None => format!(
            "{name}: no non-finite value in {steps} step{}",
            if steps == 1 { "" } else { "s" }
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario;

    fn traces(json: &str) -> Vec<StepTrace> {
        let s = scenario::parse(json).unwrap();
        let mut model = s.model.clone();
        (0..s.steps).map(|k| model.train_step(k)).collect()
    }

    const DIVERGING: &str = include_str!("../scenarios/diverging.json");

    #[test]
    fn the_first_non_finite_cell_is_the_first_in_row_major_order() {
        let by_cell = |t: &ArrayViewD<'_, f64>| {
            t.indexed_iter()
                .find(|(_, v)| !v.is_finite())
                .map(|(index, v)| (index.slice().to_vec(), *v))
        };
        let shape = [3, 7, 131];
        let n: usize = shape.iter().product();
        for (at, bad) in [
            (None, 0.0),
            (Some(0), f64::NAN),
            (Some(1023), f64::INFINITY),
            (Some(1024), f64::NEG_INFINITY),
            (Some(n - 1), f64::NAN),
            (Some(2000), f64::INFINITY),
        ] {
            let mut values: Vec<f64> = (0..n).map(|i| (i as f64).sin() * 1e300).collect();
            if let Some(at) = at {
                values[at] = bad;
                values[n - 1] = f64::NAN;
            }
            let a = ndarray::ArrayD::from_shape_vec(shape.to_vec(), values).unwrap();
            let found = first_non_finite(&a.view()).map(|(i, v)| (i, v.to_bits()));
            let expected = by_cell(&a.view()).map(|(i, v)| (i, v.to_bits()));
            assert_eq!(found, expected, "{at:?}");
            // A view that is not in row-major memory order takes the cell-by-cell path.
            let t = a.view().reversed_axes();
            let found = first_non_finite(&t).map(|(i, v)| (i, v.to_bits()));
            let expected = by_cell(&t).map(|(i, v)| (i, v.to_bits()));
            assert_eq!(found, expected, "transposed, {at:?}");
        }
    }

    #[test]
    fn a_finite_run_has_no_anomaly() {
        let t = traces(scenario::DEFAULT_SCENARIO_JSON);
        assert_eq!(first_anomaly(&t), None);
        assert_eq!(
            report_line("m", None, t.len()),
            format!("m: no non-finite value in {} steps", t.len())
        );
        assert_eq!(
            report_line("m", None, 1),
            "m: no non-finite value in 1 step"
        );
    }

    #[test]
    fn the_diverging_scenario_first_overflows_in_the_loss_of_step_7() {
        // Its description: at step 7 the loss is inf while dense1.a and loss_grad are finite.
        let t = traces(DIVERGING);
        let a = first_anomaly(&t).unwrap();
        assert_eq!(
            (
                a.step,
                a.pass,
                a.layer.as_deref(),
                a.tensor,
                a.index.as_slice()
            ),
            (7, Pass::Loss, None, TensorName::Loss, &[][..])
        );
        assert_eq!(a.value, f64::INFINITY);
        assert_eq!(a.to_string(), "step 7, loss: loss = inf");
        // The steps before are finite, so starting the scan there changes nothing.
        assert_eq!(first_anomaly(&t[7..]), Some(a));
        // Step 8: dense1.z (and so a) overflows in the forward pass, before the loss.
        let b = first_anomaly_in_step(&t[8]).unwrap();
        assert_eq!(
            (b.pass, b.layer.as_deref(), b.tensor),
            (Pass::Forward, Some("dense1"), TensorName::Z)
        );
        assert!(b.value.is_infinite(), "{b}");
        assert!(
            b.to_string().starts_with("step 8, forward pass: dense1.z["),
            "{b}"
        );
    }

    /// One dense layer, identity, weights given: y = w·x + b.
    fn dense(input: &str, weights: &str, bias: &str, loss: &str) -> Vec<StepTrace> {
        traces(&format!(
            r#"{{"name": "t", "input": {input}, "layers": [{{"type": "dense", "weights": {weights}, "bias": {bias}}}],
                "loss": {loss}, "learning_rate": 0}}"#
        ))
    }

    #[test]
    fn the_forward_pass_comes_before_the_loss_and_cells_in_row_major_order() {
        // z[0] = 1e300·1e300 = inf; z[1] = −inf; a copies z.
        let t = dense(
            "[[1e300, 1]]",
            "[[1e300, 0], [-1e300, 0]]",
            "[0, 0]",
            r#"{"kind": "half_sse", "target": [0, 0]}"#,
        );
        let a = first_anomaly(&t).unwrap();
        assert_eq!(a.to_string(), "step 0, forward pass: dense1.z[0] = inf");
        assert_eq!(a.cell(), "dense1.z[0]");
    }

    #[test]
    fn the_loss_comes_before_its_gradient_and_both_before_the_backward_pass() {
        let mut t = traces(scenario::DEFAULT_SCENARIO_JSON);
        let step = &mut t[0];
        step.loss_grad[[0, 0, 0]] = f64::NAN;
        let a = first_anomaly_in_step(step).unwrap();
        assert_eq!(a.to_string(), "step 0, loss: loss_grad[0, 0, 0] = NaN");
        step.loss = f64::NEG_INFINITY;
        assert_eq!(
            first_anomaly_in_step(step).unwrap().to_string(),
            "step 0, loss: loss = -inf"
        );
    }

    #[test]
    fn the_backward_pass_runs_in_reverse_layer_order() {
        // Two dense layers; only the first layer's input-side δ overflows: w1 is huge, so
        // δ_input of dense1 = w1ᵀ·δz1 is infinite while every forward value is finite
        // (the input is 0, so dense1's output is just its bias).
        let t = traces(
            r#"{"name": "t", "input": [[0]], "layers": [
                {"type": "dense", "weights": [[1e308]], "bias": [1]},
                {"type": "dense", "weights": [[1e308]], "bias": [0]}],
              "loss": {"kind": "half_sse", "target": [1e308]}, "learning_rate": 0}"#,
        );
        // y = 1e308, t = 1e308: L = 0, δ = 0 everywhere: no anomaly.
        assert_eq!(first_anomaly(&t), None);
        let t = traces(
            r#"{"name": "t", "input": [[0]], "layers": [
                {"type": "dense", "weights": [[1e308]], "bias": [1]},
                {"type": "dense", "weights": [[10]], "bias": [0]}],
              "loss": {"kind": "half_sse", "target": [0]}, "learning_rate": 0}"#,
        );
        // y = 10, δ_y = 10; dense2: δz = 10, grad_w = 10·1, δ_input = 10·10 = 100;
        // dense1: δz = 100, grad_w = 100·0 = 0, δ_input = 1e308·100 = inf.
        let a = first_anomaly(&t).unwrap();
        assert_eq!(
            a.to_string(),
            "step 0, backward pass: dense1.delta_input[0] = inf"
        );
        assert_eq!(a.pass, Pass::Backward);
    }

    #[test]
    fn report_lines_name_the_scenario_step_pass_layer_tensor_and_cell() {
        let t = traces(DIVERGING);
        let a = first_anomaly(&t);
        assert_eq!(
            report_line("diverging", a.as_ref(), t.len()),
            "diverging: first non-finite value at step 7, loss: loss = inf"
        );
    }
}
