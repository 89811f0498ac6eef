//! A conv layer's cells: z as the weighted sum over the receptive field, the kernel and bias
//! gradients, and δ to the input as the full convolution of δz with the rotated kernels.

use super::activation::{explain_activation, explain_delta_z};
use super::{Builder, CellRef, Combine, Context, Explanation, N, index_expr, new_explanation};
use crate::engine::Conv;
use crate::engine::trace::ConvTrace;
use crate::timeline::Node;

pub(super) fn explain_conv(
    ctx: &Context<'_>,
    l: usize,
    conv: &Conv,
    t: &ConvTrace,
    cell: &CellRef,
) -> Option<Explanation> {
    let here = Node::Layer(l);
    let (c_in, h, w) = t.input.dim();
    let (k_out, ho, wo) = t.z.dim();
    let [kh, kw] = conv.kernel_size();
    let [sh, sw] = conv.stride;
    let [ph, pw] = conv.padding;
    let mut b = Builder {
        model: ctx.model,
        here,
        terms: Vec::new(),
    };
    let x = |c: usize, y: usize, xx: usize| CellRef::new(here, N::Input, &[c, y, xx]);
    let at = |name: N, i: &[usize]| CellRef::new(here, name, i);
    let ix = &cell.index;
    let act = conv.activation;
    let e = match cell.tensor {
        N::Z => {
            let (k, i, j) = (ix[0], ix[1], ix[2]);
            let mut e = new_explanation(
                ctx,
                cell,
                "weighted sum over the receptive field",
                format!(
                    "z[k,i,j] = b[k] + Σ_c Σ_u Σ_v w[k,c,u,v] · x[c, {}, {}]",
                    index_expr("i", sh, "u", ph),
                    index_expr("j", sw, "v", pw)
                ),
            );
            b.product(
                &[(Some(at(N::Bias, &[k])), "", t.bias[k])],
                t.bias[k],
                true,
                None,
            );
            for c in 0..c_in {
                for u in 0..kh {
                    for v in 0..kw {
                        let wv = t.weights[[k, c, u, v]];
                        match conv.window().input_cell([h, w], [i, j], [u, v]) {
                            Some([y, xx]) => {
                                let xv = t.input[[c, y, xx]];
                                b.product(
                                    &[
                                        (Some(at(N::Weights, &[k, c, u, v])), "", wv),
                                        (Some(x(c, y, xx)), "", xv),
                                    ],
                                    wv * xv,
                                    true,
                                    None,
                                );
                            }
                            None => b.product(
                                &[
                                    (Some(at(N::Weights, &[k, c, u, v])), "", wv),
                                    (None, "0", 0.0),
                                ],
                                0.0,
                                false,
                                Some("over the zero padding".into()),
                            ),
                        }
                    }
                }
            }
            e.combine = Combine::Sum;
            e.notes.push(format!(
                "receptive field: rows {}..{}, columns {}..{} of the {}padded input",
                (i * sh) as isize - ph as isize,
                (i * sh + kh) as isize - ph as isize - 1,
                (j * sw) as isize - pw as isize,
                (j * sw + kw) as isize - pw as isize - 1,
                if ph + pw > 0 { "" } else { "un" }
            ));
            e
        }
        N::A => {
            let c = [ix[0], ix[1], ix[2]];
            explain_activation(ctx, cell, &mut b, act, t.z[c], t.a[c])
        }
        N::DeltaZ => {
            let c = [ix[0], ix[1], ix[2]];
            explain_delta_z(ctx, cell, &mut b, act, t.z[c], t.a[c], t.delta_a[c])
        }
        N::GradWeights => {
            let (k, c, u, v) = (ix[0], ix[1], ix[2], ix[3]);
            let mut e = new_explanation(
                ctx,
                cell,
                "kernel gradient: correlation of the layer input with δz",
                format!(
                    "∂w[k,c,u,v] = Σ_i Σ_j δz[k,i,j] · x[c, {}, {}]",
                    index_expr("i", sh, "u", ph),
                    index_expr("j", sw, "v", pw)
                ),
            );
            for i in 0..ho {
                for j in 0..wo {
                    let dz = t.delta_z[[k, i, j]];
                    match conv.window().input_cell([h, w], [i, j], [u, v]) {
                        Some([y, xx]) => {
                            let xv = t.input[[c, y, xx]];
                            b.product(
                                &[
                                    (Some(at(N::DeltaZ, &[k, i, j])), "", dz),
                                    (Some(x(c, y, xx)), "", xv),
                                ],
                                dz * xv,
                                true,
                                None,
                            );
                        }
                        None => b.product(
                            &[(Some(at(N::DeltaZ, &[k, i, j])), "", dz), (None, "0", 0.0)],
                            0.0,
                            false,
                            Some("over the zero padding".into()),
                        ),
                    }
                }
            }
            e.combine = Combine::Sum;
            e
        }
        N::GradBias => {
            let k = ix[0];
            let mut e = new_explanation(
                ctx,
                cell,
                "bias gradient",
                "∂b[k] = Σ_i Σ_j δz[k,i,j]".into(),
            );
            for i in 0..ho {
                for j in 0..wo {
                    let dz = t.delta_z[[k, i, j]];
                    b.product(&[(Some(at(N::DeltaZ, &[k, i, j])), "", dz)], dz, true, None);
                }
            }
            e.combine = Combine::Sum;
            e
        }
        N::DeltaInput => {
            let (c, y, xx) = (ix[0], ix[1], ix[2]);
            let mut e = new_explanation(
                ctx,
                cell,
                "δ to the input: full convolution of δz with the 180°-rotated kernels",
                "δx[c,y,x] = Σ_k Σ_u′ Σ_v′ rot180(w[k,c])[u′,v′] · δẑ[k, y+u′, x+v′]".into(),
            );
            e.notes.push(format!(
                "rot180(w)[u′,v′] = w[{}−u′, {}−v′]",
                kh - 1,
                kw - 1
            ));
            let mut listed = 0;
            for k in 0..k_out {
                for ([i, j], [u, v]) in conv.window().taps_reaching([y, xx], [ho, wo]) {
                    let wv = t.weights[[k, c, u, v]];
                    let dz = t.delta_z[[k, i, j]];
                    b.product(
                        &[
                            (Some(at(N::Weights, &[k, c, u, v])), "", wv),
                            (Some(at(N::DeltaZ, &[k, i, j])), "", dz),
                        ],
                        wv * dz,
                        true,
                        Some(format!("k={k} rot180[{},{}]", kh - 1 - u, kw - 1 - v)),
                    );
                    listed += 1;
                }
            }
            e.combine = Combine::Sum;
            e.notes.push(format!(
                "δẑ is δz{} padded by ({}, {}); of the {} kernel taps, {} land on δz and are listed, the rest read zeros",
                if sh > 1 || sw > 1 { format!(" dilated by the stride ({sh}, {sw}) and") } else { String::new() },
                kh - 1 - ph.min(kh - 1),
                kw - 1 - pw.min(kw - 1),
                k_out * kh * kw,
                listed
            ));
            e
        }
        _ => return None,
    };
    let mut e = e;
    e.terms = b.terms;
    Some(e)
}
