//! Mistakes in δz = δa ⊙ f′(z), the step through a conv or dense layer's activation.

use ndarray::{ArrayD, ArrayViewD, Zip};

use super::Mistake;
use crate::engine::Activation;

/// The known wrong versions of δz, from the layer's z, a and δa. A mistake that gives the
/// right numbers for this activation (f′ at a for ReLU, the identity's left-out f′) is
/// skipped by diagnose().
pub(super) fn mistakes(
    f: Activation,
    z: ArrayViewD<f64>,
    a: ArrayViewD<f64>,
    delta_a: ArrayViewD<f64>,
) -> Vec<Mistake> {
    let rule = f.derivative_formula();
    let each = |x: &ArrayViewD<f64>, g: &dyn Fn(f64, f64) -> f64| -> ArrayD<f64> {
        Zip::from(x).and(&delta_a).map_collect(|&x, &d| g(x, d))
    };
    let mut out = vec![Mistake::new(
        delta_a.to_owned(),
        format!(
            "the activation's derivative was left out: yours is δa itself; δz = δa ⊙ f′(z), with {rule}"
        ),
    )];
    if let Some((at_a, on_z)) = named_forms(f) {
        out.push(Mistake::new(
            each(&a, &|a, d| d * f.derivative(a, f.apply(a))),
            format!(
                "the derivative was taken at a instead of z: yours is δa · {at_a}; δz = δa ⊙ f′(z), with {rule} where a = f(z)"
            ),
        ));
        // The a-form of f′ fed z where it wants a: derivative(z, a) with a := z.
        out.push(Mistake::new(
            each(&z, &|z, d| d * f.derivative(z, z)),
            format!(
                "the derivative's formula in terms of a was applied to z: yours is δa · {on_z}; {rule} takes a = f(z), not z"
            ),
        ));
    }
    if f == Activation::Relu {
        out.push(Mistake::new(
            Zip::from(&z)
                .and(&delta_a)
                .map_collect(|&z, &d| if z == 0.0 { d } else { f.delta_z(z, 0.0, d) }),
            "ReLU′(0) taken as 1: δ passed where z = 0 exactly; ReLU′(0) = 0 (PyTorch's choice, and this reference's), so δz = δa only where z > 0",
        ));
    }
    out
}

/// For the activations whose f′ is written in terms of a: f′ taken at a, and the a-form
/// of f′ applied to z, as formulas.
fn named_forms(f: Activation) -> Option<(&'static str, &'static str)> {
    match f {
        Activation::Sigmoid => Some(("σ′(a) = σ(a)·(1 − σ(a))", "z·(1 − z)")),
        Activation::Tanh => Some(("tanh′(a) = 1 − tanh²(a)", "(1 − z²)")),
        _ => None,
    }
}
