//! A dense layer's cells: z = W·x + b, the outer-product weight gradient, δx = Wᵀ·δz.

use super::activation::{explain_activation, explain_delta_z};
use super::{Builder, CellRef, Combine, Context, Explanation, N, new_explanation};
use crate::engine::Dense;
use crate::engine::trace::DenseTrace;
use crate::timeline::Node;

pub(super) fn explain_dense(
    ctx: &Context<'_>,
    l: usize,
    dense: &Dense,
    t: &DenseTrace,
    cell: &CellRef,
) -> Option<Explanation> {
    let here = Node::Layer(l);
    let mut b = Builder {
        model: ctx.model,
        here,
        terms: Vec::new(),
    };
    let at = |name: N, i: &[usize]| CellRef::new(here, name, i);
    let ix = &cell.index;
    let act = dense.activation;
    let mut e = match cell.tensor {
        N::Z => {
            let o = ix[0];
            let mut e = new_explanation(
                ctx,
                cell,
                "weighted sum",
                "z[o] = Σ_i W[o,i] · x[i] + b[o]".into(),
            );
            for i in 0..t.input.len() {
                let (wv, xv) = (t.weights[[o, i]], t.input[i]);
                b.product(
                    &[
                        (Some(at(N::Weights, &[o, i])), "", wv),
                        (Some(at(N::Input, &[i])), "", xv),
                    ],
                    wv * xv,
                    true,
                    None,
                );
            }
            b.product(
                &[(Some(at(N::Bias, &[o])), "", t.bias[o])],
                t.bias[o],
                true,
                None,
            );
            e.combine = Combine::Sum;
            e
        }
        N::A => explain_activation(ctx, cell, &mut b, act, t.z[ix[0]], t.a[ix[0]]),
        N::DeltaZ => {
            let o = ix[0];
            explain_delta_z(ctx, cell, &mut b, act, t.z[o], t.a[o], t.delta_a[o])
        }
        N::GradWeights => {
            let (o, i) = (ix[0], ix[1]);
            let mut e = new_explanation(
                ctx,
                cell,
                "weight gradient: outer product δz ⊗ x",
                "∂W[o,i] = δz[o] · x[i]".into(),
            );
            b.product(
                &[
                    (Some(at(N::DeltaZ, &[o])), "", t.delta_z[o]),
                    (Some(at(N::Input, &[i])), "", t.input[i]),
                ],
                t.delta_z[o] * t.input[i],
                true,
                None,
            );
            e.combine = Combine::Sum;
            e
        }
        N::GradBias => {
            let o = ix[0];
            let mut e = new_explanation(ctx, cell, "bias gradient", "∂b[o] = δz[o]".into());
            b.product(
                &[(Some(at(N::DeltaZ, &[o])), "", t.delta_z[o])],
                t.delta_z[o],
                true,
                None,
            );
            e.combine = Combine::Sum;
            e
        }
        N::DeltaInput => {
            let i = ix[0];
            let mut e = new_explanation(
                ctx,
                cell,
                "δ to the input: Wᵀ·δz",
                "δx[i] = Σ_o W[o,i] · δz[o]".into(),
            );
            for o in 0..t.z.len() {
                let (wv, dz) = (t.weights[[o, i]], t.delta_z[o]);
                b.product(
                    &[
                        (Some(at(N::Weights, &[o, i])), "", wv),
                        (Some(at(N::DeltaZ, &[o])), "", dz),
                    ],
                    wv * dz,
                    true,
                    None,
                );
            }
            e.combine = Combine::Sum;
            e
        }
        _ => return None,
    };
    e.terms = b.terms;
    Some(e)
}
