//! Mistakes in a dense layer: transposed weights, and an input flattened channels-last.

use ndarray::{Array1, Array2, Array3};

use super::{Mistake, activation};
use crate::engine::dense::{DenseBackward, DenseForward};
use crate::engine::trace::DenseTrace;
use crate::engine::{Activation, Dense, LayerTrace, StepTrace, TensorName as N};

pub(super) fn mistakes(
    tensor: N,
    dense: &Dense,
    t: &DenseTrace,
    before: Option<&Array3<f64>>,
) -> Vec<Mistake> {
    let mut out = Vec::new();
    if tensor == N::DeltaZ {
        let (z, a, delta_a) = (t.z.view(), t.a.view(), t.delta_a.view());
        return activation::mistakes(
            dense.activation,
            z.into_dyn(),
            a.into_dyn(),
            delta_a.into_dyn(),
        );
    }
    let transposed = "deltascope's dense weights are [outputs][inputs]: z = W·x + b";
    if t.weights.is_square() {
        let wt = t.weights.t().to_owned();
        match tensor {
            N::Z => out.push(Mistake::new(
                forward(dense, &wt, &t.bias, &t.input).z.into_dyn(),
                format!("z was computed with the weights transposed, Wᵀ·x + b; {transposed}"),
            )),
            N::DeltaInput => out.push(Mistake::new(
                backward_from_delta_z(&wt, &t.input, &t.delta_z)
                    .delta_input
                    .into_dyn(),
                format!("δ_input was computed as W·δz; {transposed}, so δ_input = Wᵀ·δz"),
            )),
            N::GradWeights => out.push(Mistake::new(
                backward_from_delta_z(&t.weights, &t.input, &t.delta_z)
                    .grad_weights
                    .reversed_axes()
                    .as_standard_layout()
                    .into_owned()
                    .into_dyn(),
                format!(
                    "∂L/∂W is transposed, x ⊗ δz; {transposed}, so ∂L/∂W[o, i] = δz[o]·x[i] (δz ⊗ x)"
                ),
            )),
            _ => {}
        }
    }
    if let Some(maps) = before {
        let (c, h, w) = maps.dim();
        let chw = format!(
            "deltascope flattens the previous layer's [C, H, W] = [{c}, {h}, {w}] output channel by channel, x[c·H·W + h·W + w]"
        );
        let hwc = channels_last(maps);
        match tensor {
            N::Input => out.push(Mistake::new(
                hwc.into_dyn(),
                format!(
                    "the input was flattened channels-last, in (H, W, C) order (a reshape of an (H, W, C) array); {chw}"
                ),
            )),
            N::Z => out.push(Mistake::new(
                forward(dense, &t.weights, &t.bias, &hwc).z.into_dyn(),
                format!(
                    "z was computed from the input flattened channels-last, in (H, W, C) order, while the weights' columns follow the scenario's order: {chw}"
                ),
            )),
            N::GradWeights => out.push(Mistake::new(
                backward_from_delta_z(&t.weights, &hwc, &t.delta_z)
                    .grad_weights
                    .into_dyn(),
                format!(
                    "∂L/∂W's columns follow the input flattened channels-last, in (H, W, C) order: ∂L/∂W[o, i] = δz[o]·x[i], and {chw}"
                ),
            )),
            N::DeltaInput => {
                let right = backward_from_delta_z(&t.weights, &t.input, &t.delta_z).delta_input;
                let maps = right
                    .into_shape_with_order((c, h, w))
                    .expect("a dense layer's inputs are the previous layer's cells");
                out.push(Mistake::new(
                    channels_last(&maps).into_dyn(),
                    format!(
                        "δ_input is in (H, W, C) order, channels last: your δ_input[h·W·C + w·C + c] is the reference's δ_input[c·H·W + h·W + w]; {chw}, and δ_input follows it"
                    ),
                ));
            }
            _ => {}
        }
    }
    out
}

/// The maps before a dense layer (the output of the layer before it, as the user's view of
/// the step has it, or the network input for a first layer), when they have maps at all.
pub(super) fn maps_before<'a>(
    step: &'a StepTrace,
    input: &'a Array3<f64>,
    l: usize,
) -> Option<&'a Array3<f64>> {
    let Some(before) = l.checked_sub(1) else {
        return Some(input);
    };
    match &step.layers[before].1 {
        LayerTrace::Conv(t) => Some(&t.a),
        LayerTrace::Pool(t) => Some(&t.output),
        LayerTrace::Dense(_) => None,
    }
}

/// [C, H, W] maps flattened in (H, W, C) order: x[(h·W + w)·C + c].
fn channels_last(maps: &Array3<f64>) -> Array1<f64> {
    maps.view()
        .permuted_axes([1, 2, 0])
        .iter()
        .copied()
        .collect()
}

/// z = W·x + b with these weights, by the engine.
fn forward(
    dense: &Dense,
    weights: &Array2<f64>,
    bias: &Array1<f64>,
    x: &Array1<f64>,
) -> DenseForward {
    Dense {
        weights: weights.clone(),
        bias: bias.clone(),
        activation: dense.activation,
    }
    .forward(x)
}

/// The engine's backward pass of a dense layer with these weights, fed δz (rather than δa).
fn backward_from_delta_z(
    weights: &Array2<f64>,
    input: &Array1<f64>,
    delta_z: &Array1<f64>,
) -> DenseBackward {
    // The bias and activation play no part in it.
    let layer = Dense {
        weights: weights.clone(),
        bias: Array1::zeros(weights.nrows()),
        activation: Activation::Identity,
    };
    layer.backward_from_delta_z(input, delta_z)
}
