//! Mistakes in a conv layer's backward pass.

use ndarray::{Array3, Array4, s};

use super::{Mistake, activation};
use crate::engine::conv::ConvBackward;
use crate::engine::trace::ConvTrace;
use crate::engine::{Conv, TensorName as N};

pub(super) fn mistakes(tensor: N, conv: &Conv, t: &ConvTrace) -> Vec<Mistake> {
    let mut out = Vec::new();
    match tensor {
        N::DeltaZ => {
            let (z, a, delta_a) = (t.z.view(), t.a.view(), t.delta_a.view());
            out = activation::mistakes(
                conv.activation,
                z.into_dyn(),
                a.into_dyn(),
                delta_a.into_dyn(),
            );
        }
        N::DeltaInput => {
            let rotated = t.weights.slice(s![.., .., ..;-1, ..;-1]).to_owned();
            out.push(Mistake::new(
                backward_from_delta_z(conv, &rotated, &t.input, &t.delta_z)
                    .delta_input
                    .into_dyn(),
                "the kernel was not rotated by 180°: δ_input is the full convolution of δz with rot180(w) (a correlation with w itself gives these numbers)",
            ));
            out.extend(padding_shifts(conv, t));
            out.push(last_kernel_only(conv, t));
            out.push(scattered_with_assignment(conv, t));
            out.extend(not_dilated(conv, t));
        }
        N::GradWeights => {
            let correct = backward_from_delta_z(conv, &t.weights, &t.input, &t.delta_z);
            let rotated = correct
                .grad_weights
                .slice(s![.., .., ..;-1, ..;-1])
                .to_owned();
            // scipy's correlate2d(δz, x, 'valid') swaps its arguments when the second is the
            // larger (x is), and the swap reverses the result: the same numbers.
            out.push(Mistake::new(
                rotated.into_dyn(),
                "the kernel gradient is rotated by 180°: ∂L/∂w[k, c] is the correlation of the layer input x[c] with δz[k], without rotation (a convolution gives these numbers, and so does scipy's correlate2d(δz, x, 'valid'): with the input and δz swapped it returns the rotated result)",
            ));
            // With as many kernels as channels, the two axes can be swapped unnoticed.
            let (k, c, _, _) = t.weights.dim();
            if k == c {
                let swapped = correct.grad_weights.permuted_axes([1, 0, 2, 3]);
                out.push(Mistake::new(
                    swapped.as_standard_layout().into_owned().into_dyn(),
                    "the kernel gradient has its kernel and channel axes swapped: ∂L/∂w[k, c] (shape [K, C, kh, kw]) is the correlation of input channel c with δz[k]; yours holds it at [c, k]",
                ));
            }
        }
        _ => {}
    }
    if matches!(tensor, N::GradWeights | N::GradBias | N::DeltaInput) {
        // δa where δz is due: the derivative left out on the way to the gradients (in code
        // that keeps no δz of its own, it shows here first).
        let from_delta_a = backward_from_delta_z(conv, &t.weights, &t.input, &t.delta_a);
        let values = match tensor {
            N::GradWeights => from_delta_a.grad_weights.into_dyn(),
            N::GradBias => from_delta_a.grad_bias.into_dyn(),
            _ => from_delta_a.delta_input.into_dyn(),
        };
        out.push(Mistake::new(
            values,
            format!(
                "computed from δa instead of δz: the activation's derivative was left out on the way back; δz = δa ⊙ {}′(z) comes first, and {tensor} is computed from δz",
                conv.activation.name()
            ),
        ));
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
    let layer = Conv {
        weights: weights.clone(),
        ..conv.clone()
    };
    layer.backward_from_delta_z(input, delta_z)
}

/// δ_input scattered window by window with `=` (`dx[:, y:y+kh, x:x+kw] = δz[k,i,j]·w[k]`
/// in loops over k, i, j): each window's share replaces what the windows before it left in
/// the cells they share, instead of adding to it.
fn scattered_with_assignment(conv: &Conv, t: &ConvTrace) -> Mistake {
    let (c, h, w) = t.input.dim();
    let (kn, _, kh, kw) = t.weights.dim();
    let (_, ho, wo) = t.delta_z.dim();
    let ([sh, sw], [ph, pw]) = (conv.stride, conv.padding);
    let mut padded = Array3::<f64>::zeros((c, h + 2 * ph, w + 2 * pw));
    for k in 0..kn {
        for i in 0..ho {
            for j in 0..wo {
                let share = &t.weights.slice(s![k, .., .., ..]) * t.delta_z[[k, i, j]];
                padded
                    .slice_mut(s![.., i * sh..i * sh + kh, j * sw..j * sw + kw])
                    .assign(&share);
            }
        }
    }
    Mistake::new(
        padded
            .slice(s![.., ph..ph + h, pw..pw + w])
            .to_owned()
            .into_dyn(),
        "δ_input scattered with = instead of +=: each window's δz[k, i, j]·w[k] replaced what the earlier windows (and kernels) left in the cells they share; every cell gets the sum over all windows and kernels that cover it",
    )
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

/// δ_input computed kernel by kernel with `=`: only the last kernel's share remains. (With
/// one kernel that is the right result, which diagnose() skips.)
fn last_kernel_only(conv: &Conv, t: &ConvTrace) -> Mistake {
    let k = t.weights.len_of(ndarray::Axis(0));
    // The bias plays no part in the backward pass: the layer's own is left in place.
    let weights = t.weights.slice(s![k - 1.., .., .., ..]).to_owned();
    let delta_z = t.delta_z.slice(s![k - 1.., .., ..]).to_owned();
    let values = backward_from_delta_z(conv, &weights, &t.input, &delta_z).delta_input;
    Mistake::new(
        values.into_dyn(),
        format!(
            "δ_input was overwritten kernel by kernel instead of summed over the kernels: yours is the last kernel's share alone (k = {}); δ_input[c] = Σ_k full_conv(δz[k], rot180(w[k, c])), so add each kernel's share (+=)",
            k - 1
        ),
    )
}

/// With a stride above 1, δz spread as if the stride were 1 (each δz[k, i, j] at
/// (i + u, j + v) instead of (i·s + u, j·s + v)), then cropped by the padding as usual.
fn not_dilated(conv: &Conv, t: &ConvTrace) -> Option<Mistake> {
    if conv.stride == [1, 1] {
        return None;
    }
    let (c, h, w) = t.input.dim();
    let (_, _, kh, kw) = t.weights.dim();
    let (_, ho, wo) = t.delta_z.dim();
    // The backward pass of the same kernels at stride 1 and no padding, over an input just
    // large enough for δz: its δ_input is δz spread undilated.
    let undilated = Conv {
        stride: [1, 1],
        padding: [0, 0],
        ..conv.clone()
    };
    let (sh, sw) = (ho + kh - 1, wo + kw - 1);
    let spread = backward_from_delta_z(
        &undilated,
        &t.weights,
        &Array3::zeros((c, sh, sw)),
        &t.delta_z,
    )
    .delta_input;
    // Cropped by the padding: input cell (y, x) is padded cell (y + ph, x + pw), and the
    // padded cells beyond the spread got nothing.
    let [ph, pw] = conv.padding;
    let values = Array3::from_shape_fn((c, h, w), |(c, y, x)| {
        spread.get((c, y + ph, x + pw)).copied().unwrap_or(0.0)
    });
    Some(Mistake::new(
        values.into_dyn(),
        format!(
            "δz was not dilated by the stride {:?}: each δz[k, i, j] was spread at (i + u, j + v) instead of (i·s + u, j·s + v); put s − 1 zeros between neighbouring cells of δz before the full convolution with rot180(w), so that each lands where its window starts",
            conv.stride
        ),
    ))
}
