//! The loss node's cells: the network's output y, the target, ∂L/∂y and L.

use super::{
    Builder, CellRef, Combine, Context, Explanation, N, loss_target, new_explanation, short,
    symbol, unravel,
};
use crate::engine::Loss;
use crate::timeline::Node;

pub(super) fn explain_loss(ctx: &Context<'_>, cell: &CellRef) -> Option<Explanation> {
    let here = Node::Loss;
    let mut b = Builder {
        model: ctx.model,
        here,
        terms: Vec::new(),
    };
    let y: Vec<f64> = ctx.trace.output.iter().copied().collect();
    let n = y.len();
    let at = |name: N, i: usize| CellRef::new(here, name, &[i]);
    let last = ctx.trace.layers.len() - 1;
    let (_, last_trace) = &ctx.trace.layers[last];
    let out = last_trace.output_name();
    let out_shape = last_trace
        .tensor(out)
        .map(|t| t.shape().to_vec())
        .unwrap_or_default();
    let target = loss_target(ctx.model);
    let mut e = match cell.tensor {
        N::Output => {
            let i = cell.index[0];
            let source = CellRef::new(Node::Layer(last), out, &unravel(&out_shape, i));
            let e = new_explanation(
                ctx,
                cell,
                "the network's output",
                format!(
                    "y = {}.{}, flattened",
                    ctx.model.layers[last].name,
                    symbol(last_trace.type_name(), out)
                ),
            );
            b.product(&[(Some(source), "", y[i])], y[i], true, None);
            e
        }
        N::Target => {
            let mut e =
                new_explanation(ctx, cell, "the target", "t is given by the scenario".into());
            if let Loss::CrossEntropy { class } = ctx.model.loss {
                e.value = if cell.index[0] == class { 1.0 } else { 0.0 };
                e.formula = format!("t = one-hot of class {class}");
            }
            e
        }
        N::LossGrad => {
            let i = cell.index[0];
            match &ctx.model.loss {
                Loss::HalfSse { .. } => {
                    let t = target.as_ref()?.iter().nth(i).copied()?;
                    let mut e = new_explanation(
                        ctx,
                        cell,
                        "gradient of ½Σ(y − t)²",
                        "∂L/∂y = y − t".into(),
                    );
                    b.product(&[(Some(at(N::Output, i)), "", y[i])], y[i], true, None);
                    b.product(
                        &[(None, "-1", -1.0), (Some(at(N::Target, i)), "", t)],
                        -t,
                        true,
                        None,
                    );
                    e.combine = Combine::Sum;
                    e
                }
                Loss::Mse { .. } => {
                    let t = target.as_ref()?.iter().nth(i).copied()?;
                    let mut e = new_explanation(
                        ctx,
                        cell,
                        "gradient of mean((y − t)²)",
                        format!("∂L/∂y = 2·(y − t)/n,  n = {n}"),
                    );
                    b.custom(
                        format!("2·(y[{i}] − t[{i}])/{n}"),
                        format!("2·({} − {})/{n}", short(y[i]), short(t)),
                        (y[i] - t) * (2.0 / n as f64),
                        vec![at(N::Output, i), at(N::Target, i)],
                        None,
                    );
                    e.combine = Combine::Sum;
                    e
                }
                Loss::CrossEntropy { class } => {
                    let p = crate::engine::loss::softmax(&ctx.trace.output);
                    let pi = p.iter().nth(i).copied()?;
                    let mut e = new_explanation(
                        ctx,
                        cell,
                        "gradient of cross-entropy",
                        "∂L/∂y = softmax(y) − onehot(class)".into(),
                    );
                    b.custom(
                        format!("softmax(y)[{i}]"),
                        short(pi),
                        pi,
                        vec![at(N::Output, i)],
                        None,
                    );
                    if i == *class {
                        b.product(
                            &[(None, "-1", -1.0)],
                            -1.0,
                            true,
                            Some("the target class".into()),
                        );
                    }
                    e.combine = Combine::Sum;
                    e
                }
            }
        }
        N::Loss => match &ctx.model.loss {
            Loss::HalfSse { .. } | Loss::Mse { .. } => {
                let t = target.as_ref()?;
                let half = matches!(ctx.model.loss, Loss::HalfSse { .. });
                let mut e = new_explanation(
                    ctx,
                    cell,
                    "the loss",
                    if half {
                        "L = ½·Σ(y − t)²".into()
                    } else {
                        format!("L = Σ(y − t)²/n,  n = {n}")
                    },
                );
                for (i, (&yv, &tv)) in y.iter().zip(t.iter()).enumerate() {
                    let d = yv - tv;
                    let (sym, num, v) = if half {
                        (
                            format!("½(y[{i}] − t[{i}])²"),
                            format!("½({} − {})²", short(yv), short(tv)),
                            0.5 * d * d,
                        )
                    } else {
                        (
                            format!("(y[{i}] − t[{i}])²/{n}"),
                            format!("({} − {})²/{n}", short(yv), short(tv)),
                            d * d / n as f64,
                        )
                    };
                    b.custom(sym, num, v, vec![at(N::Output, i), at(N::Target, i)], None);
                }
                e.combine = Combine::Sum;
                e
            }
            Loss::CrossEntropy { class } => {
                let lse = crate::engine::loss::log_sum_exp(&ctx.trace.output);
                let mut e = new_explanation(
                    ctx,
                    cell,
                    "the loss",
                    format!("L = log Σ exp(y) − y[{class}]"),
                );
                b.custom(
                    "log Σ exp(y)".into(),
                    short(lse),
                    lse,
                    (0..n).map(|i| at(N::Output, i)).collect(),
                    None,
                );
                b.product(
                    &[
                        (None, "-1", -1.0),
                        (Some(at(N::Output, *class)), "", y[*class]),
                    ],
                    -y[*class],
                    true,
                    None,
                );
                e.combine = Combine::Sum;
                e
            }
        },
        _ => return None,
    };
    e.terms = b.terms;
    Some(e)
}
