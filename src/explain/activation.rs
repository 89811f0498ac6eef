//! a = f(z) and δz = δa · f′(z), for conv and dense layers alike.

use super::{Builder, CellRef, Combine, Context, Explanation, N, idx, new_explanation, short};

/// a = f(z), for conv and dense layers alike.
pub(super) fn explain_activation(
    ctx: &Context<'_>,
    cell: &CellRef,
    b: &mut Builder<'_>,
    act: crate::engine::Activation,
    z: f64,
    a: f64,
) -> Explanation {
    let ix = &cell.index;
    let e = new_explanation(
        ctx,
        cell,
        "the activation",
        format!("a = {}(z)", act.name()),
    );
    b.custom(
        format!("{}(z{})", act.name(), idx(ix)),
        format!("{}({})", act.name(), short(z)),
        a,
        vec![CellRef::new(cell.node, N::Z, ix)],
        None,
    );
    e
}

/// δz = δa · f′(z), for conv and dense layers alike.
pub(super) fn explain_delta_z(
    ctx: &Context<'_>,
    cell: &CellRef,
    b: &mut Builder<'_>,
    act: crate::engine::Activation,
    z: f64,
    a: f64,
    da: f64,
) -> Explanation {
    let ix = &cell.index;
    let d = act.derivative(z, a);
    let mut e = new_explanation(
        ctx,
        cell,
        "δ through the activation",
        format!("δz = δa · f′(z),   {}", act.derivative_formula()),
    );
    b.product(
        &[
            (Some(CellRef::new(cell.node, N::DeltaA, ix)), "", da),
            (Some(CellRef::new(cell.node, N::Z, ix)), "f′(z)", d),
        ],
        act.delta_z(z, a, da),
        true,
        Some(format!("z = {}", short(z))),
    );
    fix_derivative_label(b, ix);
    e.combine = Combine::Sum;
    e
}

/// The derivative factor reads z but is not z: label it f′(z[..]).
fn fix_derivative_label(b: &mut Builder<'_>, ix: &[usize]) {
    if let Some(t) = b.terms.last_mut() {
        t.symbolic = format!("δa{} · f′(z{})", idx(ix), idx(ix));
    }
}
