//! Mistakes in a conv layer's backward pass.

use ndarray::{Array3, Array4, s};

use super::Mistake;
use crate::engine::conv::{ConvBackward, ConvForward};
use crate::engine::trace::ConvTrace;
use crate::engine::{Activation, Conv, TensorName as N};

pub(super) fn mistakes(tensor: N, conv: &Conv, t: &ConvTrace) -> Vec<Mistake> {
    let mut out = Vec::new();
    match tensor {
        N::DeltaInput => {
            let rotated = t.weights.slice(s![.., .., ..;-1, ..;-1]).to_owned();
            out.push(Mistake::new(
                backward_from_delta_z(conv, &rotated, &t.input, &t.delta_z)
                    .delta_input
                    .into_dyn(),
                "the kernel was not rotated by 180°: δ_input is the full convolution of δz with rot180(w) (a correlation with w itself gives these numbers)",
            ));
            out.extend(padding_shifts(conv, t));
        }
        N::GradWeights => {
            let correct = backward_from_delta_z(conv, &t.weights, &t.input, &t.delta_z);
            let rotated = correct
                .grad_weights
                .slice(s![.., .., ..;-1, ..;-1])
                .to_owned();
            out.push(Mistake::new(
                rotated.into_dyn(),
                "the kernel gradient is rotated by 180°: ∂L/∂w is the correlation of the layer input with δz, without rotation",
            ));
        }
        _ => {}
    }
    out
}

/// The backward pass of `conv` with these weights from a given δz (rather than from δa):
/// ∂L/∂w, ∂L/∂b and δ_input as the engine computes them from that δz.
pub(super) fn backward_from_delta_z(
    conv: &Conv,
    weights: &Array4<f64>,
    input: &Array3<f64>,
    delta_z: &Array3<f64>,
) -> ConvBackward {
    // With the identity activation δz = δa: the engine's own backward, fed δz.
    let layer = Conv {
        weights: weights.clone(),
        activation: Activation::Identity,
        ..conv.clone()
    };
    let fwd = ConvForward {
        z: Array3::zeros(delta_z.raw_dim()),
        a: Array3::zeros(delta_z.raw_dim()),
    };
    layer.backward(input, &fwd, delta_z)
}

/// δ of the padded input cropped at every offset but the right one (the padding itself).
fn padding_shifts(conv: &Conv, t: &ConvTrace) -> Vec<Mistake> {
    let [ph, pw] = conv.padding;
    if ph == 0 && pw == 0 {
        return Vec::new();
    }
    let (c, h, w) = t.input.dim();
    let mut padded_input = Array3::zeros((c, h + 2 * ph, w + 2 * pw));
    padded_input
        .slice_mut(s![.., ph..ph + h, pw..pw + w])
        .assign(&t.input);
    let unpadded = Conv {
        padding: [0, 0],
        ..conv.clone()
    };
    let delta_padded =
        backward_from_delta_z(&unpadded, &t.weights, &padded_input, &t.delta_z).delta_input;
    let mut out = Vec::new();
    for oy in 0..=2 * ph {
        for ox in 0..=2 * pw {
            if (oy, ox) == (ph, pw) {
                continue;
            }
            let cropped = delta_padded
                .slice(s![.., oy..oy + h, ox..ox + w])
                .to_owned();
            out.push(Mistake::new(
                cropped.into_dyn(),
                format!(
                    "δ of the padded input cropped at offset ({oy}, {ox}) instead of ({ph}, {pw}): remove exactly the padding on every side"
                ),
            ));
        }
    }
    out
}
