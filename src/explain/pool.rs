//! A pool's cells: the output as the max, mean or L2 norm of its window, and δ routed back
//! through the window (the switch, 1/m, or x/‖x‖), summed where windows overlap.

use super::{Builder, CellRef, Combine, Context, Explanation, N, idx, new_explanation, short};
use crate::engine::trace::PoolTrace;
use crate::engine::{Pool, PoolKind};
use crate::timeline::Node;

pub(super) fn explain_pool(
    ctx: &Context<'_>,
    l: usize,
    pool: &Pool,
    t: &PoolTrace,
    cell: &CellRef,
) -> Option<Explanation> {
    let here = Node::Layer(l);
    let (_, _, w) = t.input.dim();
    let (_, ho, wo) = t.output.dim();
    let m = pool.window_area();
    let mut b = Builder {
        model: ctx.model,
        here,
        terms: Vec::new(),
    };
    let at = |name: N, i: &[usize]| CellRef::new(here, name, i);
    let ix = &cell.index;
    let kind = pool.kind;
    let mut e = match cell.tensor {
        N::Output => {
            let (c, i, j) = (ix[0], ix[1], ix[2]);
            let (what, formula) = match kind {
                PoolKind::Max => (
                    "maximum of the window",
                    "y[c,i,j] = max over the window of x (first maximum in row-major order wins ties)",
                ),
                PoolKind::Mean => ("mean of the window", "y[c,i,j] = Σ_window x · 1/m"),
                PoolKind::L2 => ("L2 norm of the window", "y[c,i,j] = √(Σ_window x²)"),
            };
            let mut e = new_explanation(ctx, cell, what, formula.into());
            let switch = t.argmax.as_ref().map(|a| a[[c, i, j]]);
            for [y, x] in pool.window(i, j) {
                let xv = t.input[[c, y, x]];
                match kind {
                    PoolKind::Max => {
                        let won = switch == Some(y * w + x);
                        b.product(
                            &[(Some(at(N::Input, &[c, y, x])), "", xv)],
                            xv,
                            won,
                            won.then(|| "wins".to_string()),
                        );
                    }
                    PoolKind::Mean => b.product(
                        &[
                            (Some(at(N::Input, &[c, y, x])), "", xv),
                            (None, "1/m", 1.0 / m as f64),
                        ],
                        xv / m as f64,
                        true,
                        None,
                    ),
                    PoolKind::L2 => b.custom(
                        format!("x{}²", idx(&[c, y, x])),
                        format!("{}²", short(xv)),
                        xv * xv,
                        vec![at(N::Input, &[c, y, x])],
                        None,
                    ),
                }
            }
            e.combine = match kind {
                PoolKind::Max => Combine::Max,
                PoolKind::Mean => Combine::Sum,
                PoolKind::L2 => Combine::SqrtOfSum,
            };
            if let (PoolKind::Max, Some(s)) = (kind, switch) {
                e.notes.push(format!(
                    "switch: input cell [{c},{},{}] (flat index {s})",
                    s / w,
                    s % w
                ));
            }
            e.notes.push(format!(
                "window {}×{}, stride {}×{}, m = {m} cells",
                pool.size[0], pool.size[1], pool.stride[0], pool.stride[1]
            ));
            e
        }
        N::Mask | N::DeltaInput => {
            let (c, y, x) = (ix[0], ix[1], ix[2]);
            let is_delta = cell.tensor == N::DeltaInput;
            let window = format!("{}×{} window", pool.size[0], pool.size[1]);
            let mut e = match (is_delta, kind) {
                (true, PoolKind::Max) => new_explanation(
                    ctx,
                    cell,
                    "δ routed back through the pool: only to each window's switch",
                    "δx[c,y,x] = Σ over windows (i,j) containing the cell of δy[c,i,j] · switch,   \
                     switch = 1 if the cell is the window's maximum (kept from the forward pass), else 0"
                        .into(),
                ),
                (true, PoolKind::Mean) => new_explanation(
                    ctx,
                    cell,
                    "δ routed back through the pool: shared equally by the window",
                    format!(
                        "δx[c,y,x] = Σ over windows (i,j) containing the cell of δy[c,i,j] · 1/m,   \
                         1/m = 1/{m} ({window})"
                    ),
                ),
                (true, PoolKind::L2) => new_explanation(
                    ctx,
                    cell,
                    "δ routed back through the pool: in proportion to x/‖x‖",
                    "δx[c,y,x] = Σ over windows (i,j) containing the cell of δy[c,i,j] · x[c,y,x]/y[c,i,j]   \
                     (x/‖x‖, since y = ‖x‖; 0 for an all-zero window)"
                        .into(),
                ),
                (false, PoolKind::Max) => new_explanation(
                    ctx,
                    cell,
                    "switch mask: how many windows this cell is the maximum of",
                    "switch[c,y,x] = the number of windows (i,j) whose maximum is this cell (first maximum wins ties)"
                        .into(),
                ),
                (false, PoolKind::Mean) => new_explanation(
                    ctx,
                    cell,
                    "the weight δ gets on its way back: 1/m per window",
                    format!(
                        "1/m[c,y,x] = Σ over windows containing the cell of 1/m,   1/m = 1/{m} ({window})"
                    ),
                ),
                (false, PoolKind::L2) => new_explanation(
                    ctx,
                    cell,
                    "the weight δ gets on its way back: x/‖x‖ per window",
                    "x/‖x‖[c,y,x] = Σ over windows (i,j) containing the cell of x[c,y,x]/y[c,i,j]   \
                     (0 for an all-zero window)"
                        .into(),
                ),
            };
            let windows = pool.geometry().windows_containing([y, x], [ho, wo]);
            for &[i, j] in &windows {
                let r = pool.routing_weight(t, c, i, j, [y, x]);
                let d = t.delta_output[[c, i, j]];
                let win = format!("window ({i},{j})");
                match kind {
                    PoolKind::Max => {
                        let won = r == 1.0;
                        let winner = t
                            .argmax
                            .as_ref()
                            .map(|a| a[[c, i, j]])
                            .map_or(String::new(), |s| {
                                format!("{win}: its switch is x{}", idx(&[c, s / w, s % w]))
                            });
                        if is_delta {
                            b.product(
                                &[
                                    (Some(at(N::DeltaOutput, &[c, i, j])), "", d),
                                    (None, if won { "1" } else { "0" }, r),
                                ],
                                pool.routed_delta(t, c, i, j, [y, x]),
                                won,
                                Some(if won {
                                    format!("{win}: switch")
                                } else {
                                    winner
                                }),
                            );
                        } else {
                            b.product(
                                &[(None, if won { "1" } else { "0" }, r)],
                                r,
                                true,
                                Some(if won {
                                    format!("{win}: switch")
                                } else {
                                    winner
                                }),
                            );
                        }
                    }
                    PoolKind::Mean => {
                        if is_delta {
                            b.product(
                                &[
                                    (Some(at(N::DeltaOutput, &[c, i, j])), "", d),
                                    (None, "1/m", r),
                                ],
                                pool.routed_delta(t, c, i, j, [y, x]),
                                true,
                                Some(win),
                            );
                        } else {
                            b.product(&[(None, "1/m", r)], r, true, Some(win));
                        }
                    }
                    PoolKind::L2 => {
                        let xv = t.input[[c, y, x]];
                        let norm = t.output[[c, i, j]];
                        let (sym, num) = if norm == 0.0 {
                            ("0 (zero window)".to_string(), "0".to_string())
                        } else {
                            (
                                format!("x{}/y{}", idx(&[c, y, x]), idx(&[c, i, j])),
                                format!("{}/{}", short(xv), short(norm)),
                            )
                        };
                        let mut sources = vec![at(N::Input, &[c, y, x]), at(N::Output, &[c, i, j])];
                        if is_delta {
                            sources.insert(0, at(N::DeltaOutput, &[c, i, j]));
                            b.custom(
                                format!("δy{} · {sym}", idx(&[c, i, j])),
                                format!("{} × {num}", short(d)),
                                pool.routed_delta(t, c, i, j, [y, x]),
                                sources,
                                Some(win),
                            );
                        } else {
                            b.custom(sym, num, r, sources, Some(win));
                        }
                    }
                }
            }
            e.combine = Combine::Sum;
            if windows.is_empty() {
                e.no_terms = Some(format!(
                    "this cell lies in no window (floor mode): {} = 0",
                    if is_delta { "δ" } else { "its weight" }
                ));
            } else if windows.len() > 1 {
                e.notes.push(format!(
                    "{} windows overlap here: their contributions add up (+=)",
                    windows.len()
                ));
            }
            if kind == PoolKind::Max
                && is_delta
                && !windows.is_empty()
                && !b.terms.iter().any(|t| t.contributes)
            {
                e.no_terms = Some("this cell is not the switch of any window: δ = 0".into());
            }
            e
        }
        _ => return None,
    };
    e.terms = b.terms;
    Some(e)
}
