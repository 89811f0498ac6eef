//! Known backprop mistakes, each recomputed with the engine's own pieces so that a
//! diagnosis is proven (the user's tensor equals the wrong computation), not guessed.

use ndarray::{Array3, ArrayD, Axis, s};

use crate::engine::conv::ConvForward;
use crate::engine::{Conv, LayerKind, LayerTrace, Loss, Pool, PoolKind, TensorName as N};

use super::cell_mismatch;

/// Whether every cell of `yours` agrees with `candidate` within the tolerance.
fn matches(yours: &ArrayD<f64>, candidate: &ArrayD<f64>, tolerance: f64) -> bool {
    yours.shape() == candidate.shape()
        && yours
            .iter()
            .zip(candidate)
            .all(|(&y, &c)| !cell_mismatch(y, c, tolerance))
}

/// A diagnosis for a tensor that differs from the reference, when one of the known
/// mistakes reproduces the user's numbers exactly.
pub fn diagnose(
    layer: Option<(&LayerKind, &LayerTrace)>,
    tensor: N,
    loss: &Loss,
    yours: &ArrayD<f64>,
    reference: &ArrayD<f64>,
    tolerance: f64,
) -> Option<String> {
    let candidates = wrong_computations(layer, tensor);
    for (candidate, explanation) in candidates {
        if !matches(reference, &candidate, tolerance) && matches(yours, &candidate, tolerance) {
            return Some(explanation);
        }
    }
    // A fact, not a guess: said only where the reference is not all zeros too (it differs).
    if yours.iter().all(|&y| y == 0.0) {
        return Some("yours is all zeros".into());
    }
    scale_factor(yours, reference, tolerance)
        .map(|c| explain_scale(c, layer, tensor, loss, reference.len()))
}

/// The c with yours = c · reference, when there is one (and it is not 1 or 0). It takes two
/// non-zero reference cells to show a ratio: any one number is a multiple of any other.
fn scale_factor(yours: &ArrayD<f64>, reference: &ArrayD<f64>, tolerance: f64) -> Option<f64> {
    if reference.iter().filter(|&&r| r != 0.0).count() < 2 {
        return None;
    }
    let rr: f64 = reference.iter().map(|r| r * r).sum();
    if !rr.is_finite() {
        return None;
    }
    let c = yours.iter().zip(reference).map(|(y, r)| y * r).sum::<f64>() / rr;
    let scaled = reference.mapv(|r| c * r);
    ((c - 1.0).abs() > tolerance && c != 0.0 && c.is_finite() && matches(yours, &scaled, tolerance))
        .then_some(c)
}

/// A factor as the simple number it is within rounding ("4", "1/4", "-1"), with the exact
/// value beside it when the two differ; other factors as they are.
fn factor_text(c: f64) -> String {
    let (simple, value) = if near(c, c.round()) {
        (format!("{}", c.round()), c.round())
    } else if near(1.0 / c, (1.0 / c).round()) {
        let q = (1.0 / c).round();
        let sign = if q.is_sign_negative() { "-" } else { "" };
        (format!("{sign}1/{}", q.abs()), 1.0 / q)
    } else {
        return format!("{c}");
    };
    if value == c {
        simple
    } else {
        format!("{simple} ({c})")
    }
}

fn near(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

fn explain_scale(
    c: f64,
    layer: Option<(&LayerKind, &LayerTrace)>,
    tensor: N,
    loss: &Loss,
    n: usize,
) -> String {
    let mut text = format!("yours = {} × the reference everywhere", factor_text(c));
    if let Some((LayerKind::Pool(pool), _)) = layer
        && pool.kind == PoolKind::Mean
        && tensor == N::DeltaInput
    {
        let m = pool.window_area() as f64;
        if near(c, m) {
            text +=
                &format!(": mean-pool δ not divided by the window area m = {m} (δ_in = δ_out / m)");
        } else if near(c, 1.0 / m) {
            text += &format!(": mean-pool δ divided by the window area m = {m} twice");
        }
        return text;
    }
    if let Some((LayerKind::Conv(_), LayerTrace::Conv(t))) = layer
        && tensor == N::GradBias
    {
        let (_, h, w) = t.z.dim();
        if near(c, 1.0 / (h * w) as f64) {
            text += &format!(
                ": the bias gradient averaged over the map instead of summed; ∂L/∂b[k] = Σ δz[k] over its {h}×{w} cells"
            );
        }
        return text;
    }
    if tensor.is_backward() {
        match loss {
            Loss::Mse { .. } if near(c, n as f64) || near(c, 0.5 * n as f64) => {
                text += ": a loss-reduction mix-up; mse is the mean over all outputs, so ∂L/∂y = 2(y − t)/n";
            }
            Loss::Mse { .. } | Loss::HalfSse { .. } if near(c, 2.0) || near(c, 0.5) => {
                text += ": a factor 2 in the loss; half_sse = ½Σ(y − t)² has ∂L/∂y = y − t, mse = mean (y − t)² has 2(y − t)/n";
            }
            // No cause this factor is known to come from: the factor alone, no guesses.
            _ => {}
        }
    }
    text
}

fn rot180(conv: &Conv) -> Conv {
    let mut flipped = conv.clone();
    flipped.weights = conv.weights.slice(s![.., .., ..;-1, ..;-1]).to_owned();
    flipped
}

/// The known wrong versions of one tensor, each with what it means.
fn wrong_computations(
    layer: Option<(&LayerKind, &LayerTrace)>,
    tensor: N,
) -> Vec<(ArrayD<f64>, String)> {
    let mut out = Vec::new();
    match layer {
        Some((LayerKind::Conv(conv), LayerTrace::Conv(t))) => {
            let fwd = ConvForward {
                z: t.z.clone(),
                a: t.a.clone(),
            };
            if tensor == N::DeltaInput {
                let wrong = rot180(conv)
                    .backward(&t.input, &fwd, &t.delta_a)
                    .delta_input;
                out.push((
                    wrong.into_dyn(),
                    "the kernel was not rotated by 180°: δ_input is the full convolution of δz with rot180(w) (a correlation with w itself gives these numbers)".into(),
                ));
                out.extend(padding_shifts(conv, t));
            }
            if tensor == N::GradWeights {
                let rotated = t.grad_weights.slice(s![.., .., ..;-1, ..;-1]).to_owned();
                out.push((
                    rotated.into_dyn(),
                    "the kernel gradient is rotated by 180°: ∂L/∂w is the correlation of the layer input with δz, without rotation".into(),
                ));
            }
        }
        Some((LayerKind::Pool(pool), LayerTrace::Pool(t))) => {
            let last_max = "max-pool ties are routed to the last maximum; PyTorch (and this reference) send δ to the first maximum in row-major order";
            match tensor {
                N::DeltaInput => {
                    // Only windows that share cells can overwrite each other's δ. (Where
                    // none do, the `=` backward writes each cell once and is the reference
                    // bit for bit, which diagnose() skips: so `<=` here would say the same.)
                    if pool.stride[0] < pool.size[0] || pool.stride[1] < pool.size[1] {
                        out.push((
                            pool_backward_without_accumulation(pool, t).into_dyn(),
                            "overlapping windows overwrite instead of accumulate: a cell in several windows must get the sum of their δ (+=, not =)".into(),
                        ));
                    }
                    if pool.kind == PoolKind::Max {
                        let (_, delta_input) = max_pool_last_max_wins(pool, t);
                        out.push((delta_input.into_dyn(), last_max.into()));
                    }
                }
                // Only max pooling has argmax: the trace reader refuses it for the others.
                N::Argmax => {
                    let (argmax, _) = max_pool_last_max_wins(pool, t);
                    out.push((argmax.mapv(|i| i as f64).into_dyn(), last_max.into()));
                }
                _ => {}
            }
        }
        _ => {}
    }
    out
}

/// δ of the padded input cropped at every offset but the right one (the padding itself).
fn padding_shifts(conv: &Conv, t: &crate::engine::trace::ConvTrace) -> Vec<(ArrayD<f64>, String)> {
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
    let fwd = ConvForward {
        z: t.z.clone(),
        a: t.a.clone(),
    };
    let delta_padded = unpadded
        .backward(&padded_input, &fwd, &t.delta_a)
        .delta_input;
    let mut out = Vec::new();
    for oy in 0..=2 * ph {
        for ox in 0..=2 * pw {
            if (oy, ox) == (ph, pw) {
                continue;
            }
            let cropped = delta_padded
                .slice(s![.., oy..oy + h, ox..ox + w])
                .to_owned();
            out.push((
                cropped.into_dyn(),
                format!(
                    "δ of the padded input cropped at offset ({oy}, {ox}) instead of ({ph}, {pw}): remove exactly the padding on every side"
                ),
            ));
        }
    }
    out
}

/// The pool backward with `=` in place of `+=`: later windows overwrite earlier ones.
fn pool_backward_without_accumulation(
    pool: &Pool,
    t: &crate::engine::trace::PoolTrace,
) -> Array3<f64> {
    let mut delta_input = Array3::zeros(t.input.raw_dim());
    for ((c, i, j), &d) in t.delta_output.indexed_iter() {
        for cell in pool.window(i, j) {
            let weight = pool.routing_weight(t, c, i, j, cell);
            if pool.kind != PoolKind::Max || weight != 0.0 {
                delta_input[[c, cell[0], cell[1]]] = d * weight;
            }
        }
    }
    delta_input
}

/// Max pooling where a later equal value takes the switch (`>=` instead of `>`).
fn max_pool_last_max_wins(
    pool: &Pool,
    t: &crate::engine::trace::PoolTrace,
) -> (Array3<usize>, Array3<f64>) {
    let w = t.input.len_of(Axis(2));
    let mut argmax = Array3::zeros(t.output.raw_dim());
    let mut delta_input = Array3::zeros(t.input.raw_dim());
    for ((c, i, j), &d) in t.delta_output.indexed_iter() {
        let mut best = f64::NEG_INFINITY;
        let mut best_at = [0, 0];
        for cell in pool.window(i, j) {
            let v = t.input[[c, cell[0], cell[1]]];
            if v >= best {
                best = v;
                best_at = cell;
            }
        }
        argmax[[c, i, j]] = best_at[0] * w + best_at[1];
        delta_input[[c, best_at[0], best_at[1]]] += d;
    }
    (argmax, delta_input)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(values: &[f64]) -> ArrayD<f64> {
        ndarray::arr1(values).into_dyn()
    }

    #[test]
    fn near_is_equality_up_to_rounding_relative_to_the_larger() {
        assert!(near(4.0, 4.0));
        assert!(near(4.0 * (1.0 + 5e-10), 4.0));
        assert!(near(1e6, 1e6 + 1e-4), "1e-10 of the larger");
        assert!(!near(4.0 * (1.0 + 2e-9), 4.0));
        assert!(!near(0.25, 4.0));
        assert!(!near(2.0, 4.0));
    }

    #[test]
    fn a_factor_is_written_as_the_simple_number_it_is_with_the_exact_value_beside() {
        assert_eq!(factor_text(4.0), "4");
        assert_eq!(factor_text(3.9999999999999996), "4 (3.9999999999999996)");
        assert_eq!(factor_text(0.25), "1/4");
        assert_eq!(
            factor_text(0.25000000000000006),
            "1/4 (0.25000000000000006)"
        );
        assert_eq!(factor_text(1.0 / 16.0), "1/16");
        assert_eq!(factor_text(0.5), "1/2");
        assert_eq!(factor_text(-1.0), "-1");
        assert_eq!(factor_text(-0.5), "-1/2");
        assert_eq!(factor_text(0.2667), "0.2667");
        assert_eq!(factor_text(2.5), "2.5");
        // Within rounding means relative to the factor's size.
        assert_eq!(factor_text(1000.0000001), "1000 (1000.0000001)");
        assert_eq!(factor_text(1.0000001), "1.0000001");
    }

    #[test]
    fn no_factor_from_one_cell_or_from_zeros() {
        // Any single number is a multiple of any other: one non-zero reference cell shows
        // no ratio, whatever the other cells are.
        assert_eq!(scale_factor(&t(&[0.8]), &t(&[3.0]), 1e-6), None);
        assert_eq!(scale_factor(&t(&[0.8, 0.0]), &t(&[3.0, 0.0]), 1e-6), None);
        let c = scale_factor(&t(&[0.8, 1.6]), &t(&[3.0, 6.0]), 1e-6).unwrap();
        assert!(near(c, 0.8 / 3.0), "{c}");
        // A tensor of zeros is no multiple: diagnose() calls it what it is.
        assert_eq!(scale_factor(&t(&[0.0, -0.0]), &t(&[3.0, 6.0]), 1e-6), None);
        let yours = t(&[0.0, -0.0]);
        let said = diagnose(
            None,
            N::LossGrad,
            &Loss::HalfSse {
                target: t(&[0.0, 0.0]),
            },
            &yours,
            &t(&[3.0, 6.0]),
            1e-6,
        );
        assert_eq!(said.as_deref(), Some("yours is all zeros"));
    }

    #[test]
    fn a_factor_reproduces_every_cell() {
        let reference = t(&[1.0, -2.0, 0.5]);
        assert_eq!(
            scale_factor(&t(&[4.0, -8.0, 2.0]), &reference, 1e-6),
            Some(4.0)
        );
        assert_eq!(
            scale_factor(&t(&[-1.0, 2.0, -0.5]), &reference, 1e-6),
            Some(-1.0)
        );
        // One cell off: no factor, whatever the least-squares c comes to.
        assert_eq!(scale_factor(&t(&[4.0, -8.0, 2.5]), &reference, 1e-6), None);
    }

    #[test]
    fn a_factor_within_the_tolerance_of_1_is_no_factor() {
        // Off by noise, not by a factor: c = 1.07, within a tolerance of 0.1 of 1.
        let ones = t(&[1.0, 1.0]);
        assert_eq!(scale_factor(&t(&[1.14, 1.0]), &ones, 0.1), None);
        // c = 1.5: exactly at a tolerance of 0.5 still none, beyond it a factor.
        assert_eq!(scale_factor(&t(&[1.75, 1.25]), &ones, 0.5), None);
        assert_eq!(scale_factor(&t(&[1.75, 1.25]), &ones, 0.4999), Some(1.5));
    }

    #[test]
    fn no_factor_from_nan_or_a_reference_without_a_finite_nonzero_norm() {
        // Yours all NaN (an implementation that diverged): c is NaN, which is no factor.
        let reference = t(&[1.0, -2.0]);
        let nan = t(&[f64::NAN, f64::NAN]);
        assert_eq!(scale_factor(&nan, &reference, 1e-6), None);
        // A reference of zeros, or one whose Σr² overflows (c would come out as 0/inf = 0).
        assert_eq!(scale_factor(&t(&[1.0, 1.0]), &t(&[0.0, 0.0]), 1e-6), None);
        assert_eq!(
            scale_factor(&t(&[0.0, 0.0]), &t(&[1e200, -1e200]), 1e-6),
            None
        );
    }
}
