//! Cells that come from elsewhere: a layer's input (the previous layer's output), the δ at
//! its output (the next layer's δ_input, or ∂L/∂y), and its parameters before and after the
//! update.

use super::{
    Builder, CellRef, Combine, Context, Explanation, N, cell_value, get, new_explanation,
    node_kind, node_name, ravel, short, symbol, tensor_shape, unravel,
};
use crate::timeline::Node;

pub(super) fn explain_input(ctx: &Context<'_>, l: usize, cell: &CellRef) -> Explanation {
    let here = Node::Layer(l);
    if l == 0 {
        let mut e = new_explanation(
            ctx,
            cell,
            "the network input",
            "x = the scenario's input".into(),
        );
        e.notes
            .push("given by the scenario; it does not change during training".into());
        return e;
    }
    let (prev_name, prev) = &ctx.trace.layers[l - 1];
    let out = prev.output_name();
    let prev_shape = prev
        .tensor(out)
        .map(|t| t.shape().to_vec())
        .unwrap_or_default();
    let this_shape = ctx.trace.layers[l]
        .1
        .tensor(N::Input)
        .map(|t| t.shape().to_vec())
        .unwrap_or_default();
    let flat = ravel(&this_shape, &cell.index);
    let source = CellRef::new(Node::Layer(l - 1), out, &unravel(&prev_shape, flat));
    let mut e = new_explanation(
        ctx,
        cell,
        &format!("the output of {prev_name}"),
        format!(
            "x = {prev_name}.{}{}",
            symbol(prev.type_name(), out),
            if prev_shape.len() != this_shape.len() {
                ", flattened in channel, row, column order"
            } else {
                ""
            }
        ),
    );
    let value = cell_value(ctx, &source).unwrap_or(f64::NAN);
    let mut b = Builder {
        model: ctx.model,
        here,
        terms: Vec::new(),
    };
    b.product(&[(Some(source), "", value)], value, true, None);
    e.terms = b.terms;
    e
}

pub(super) fn explain_delta_out(ctx: &Context<'_>, l: usize, cell: &CellRef) -> Explanation {
    let here = Node::Layer(l);
    let this_shape = tensor_shape(ctx, here, cell.tensor).unwrap_or_default();
    let flat = ravel(&this_shape, &cell.index);
    let last = l + 1 == ctx.trace.layers.len();
    let (source, from) = if last {
        (
            CellRef::new(Node::Loss, N::LossGrad, &[flat]),
            "the loss gradient ∂L/∂y".to_string(),
        )
    } else {
        let next_shape = tensor_shape(ctx, Node::Layer(l + 1), N::Input).unwrap_or_default();
        (
            CellRef::new(
                Node::Layer(l + 1),
                N::DeltaInput,
                &unravel(&next_shape, flat),
            ),
            format!("the δ that {} sends back", ctx.model.layers[l + 1].name),
        )
    };
    let formula = format!(
        "{} = {}.{} at the same cell{}",
        symbol(node_kind(ctx.model, here), cell.tensor),
        node_name(ctx.model, source.node),
        symbol(node_kind(ctx.model, source.node), source.tensor),
        if source.index.len() != cell.index.len() {
            " (flat index)"
        } else {
            ""
        }
    );
    let mut e = new_explanation(ctx, cell, &format!("δ at the output: {from}"), formula);
    let value = cell_value(ctx, &source).unwrap_or(f64::NAN);
    let mut b = Builder {
        model: ctx.model,
        here,
        terms: Vec::new(),
    };
    b.product(&[(Some(source), "", value)], value, true, None);
    e.terms = b.terms;
    e
}

pub(super) fn explain_parameter(
    ctx: &Context<'_>,
    l: usize,
    cell: &CellRef,
) -> Option<Explanation> {
    let here = Node::Layer(l);
    let (base, grad) = match cell.tensor {
        N::Weights | N::WeightsNext => (N::Weights, N::GradWeights),
        _ => (N::Bias, N::GradBias),
    };
    let (_, t) = &ctx.trace.layers[l];
    let w = get(&t.tensor(base)?, &cell.index)?;
    let g = get(&t.tensor(grad)?, &cell.index)?;
    let lr = ctx.model.learning_rate;
    let kind = node_kind(ctx.model, here);
    let (ws, gs) = (symbol(kind, base), symbol(kind, grad));
    if matches!(cell.tensor, N::WeightsNext | N::BiasNext) {
        let mut e = new_explanation(
            ctx,
            cell,
            "the parameter after this step's update",
            format!("{ws}′ = {ws} − η·{gs}   (plain SGD, η = {})", short(lr)),
        );
        e.combine = Combine::Sum;
        let mut b = Builder {
            model: ctx.model,
            here,
            terms: Vec::new(),
        };
        b.product(
            &[(Some(CellRef::new(here, base, &cell.index)), "", w)],
            w,
            true,
            None,
        );
        b.product(
            &[
                (None, "-η", -lr),
                (Some(CellRef::new(here, grad, &cell.index)), "", g),
            ],
            -lr * g,
            true,
            None,
        );
        e.terms = b.terms;
        return Some(e);
    }
    let mut e = new_explanation(
        ctx,
        cell,
        "a parameter",
        format!("{ws} is a parameter; the update sets {ws} ← {ws} − η·{gs}"),
    );
    if l >= ctx.backward_from {
        e.notes.push(format!(
            "after the backward pass: {gs} = {}, so {ws} becomes {} − {}·{} = {}",
            short(g),
            short(w),
            short(lr),
            short(g),
            short(w - lr * g)
        ));
    } else {
        e.notes.push(format!(
            "{gs} is known once the backward pass reaches this layer"
        ));
    }
    Some(e)
}
