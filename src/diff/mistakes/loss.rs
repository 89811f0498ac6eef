//! Mistakes in the loss node: L and ∂L/∂y, recomputed from the network's output y and the
//! target.

use ndarray::{ArrayD, IxDyn};

use super::{Mistake, near};
use crate::engine::loss::softmax;
use crate::engine::{Loss, StepTrace, TensorName as N};

/// One way to reduce the squared errors: L = value · Σ(y − t)², ∂L/∂y = grad · (y − t).
/// `mse` is the mean, `half_sse` half the sum; learners write any of the four.
struct Reduction {
    /// "the sum Σ(y − t)²"
    name: &'static str,
    /// "2(y − t)"
    gradient: &'static str,
    value: f64,
    grad: f64,
}

fn reductions(n: f64) -> [Reduction; 4] {
    [
        Reduction {
            name: "the mean Σ(y − t)²/n",
            gradient: "2(y − t)/n",
            value: 1.0 / n,
            grad: 2.0 / n,
        },
        Reduction {
            name: "the sum Σ(y − t)²",
            gradient: "2(y − t)",
            value: 1.0,
            grad: 2.0,
        },
        Reduction {
            name: "half the sum ½Σ(y − t)²",
            gradient: "y − t",
            value: 0.5,
            grad: 1.0,
        },
        Reduction {
            name: "half the mean ½Σ(y − t)²/n",
            gradient: "(y − t)/n",
            value: 0.5 / n,
            grad: 1.0 / n,
        },
    ]
}

/// The scenario's reduction (the first of [`reductions`] for mse, the third for half_sse)
/// and its target, or None for cross-entropy.
fn squared_error(loss: &Loss) -> Option<(usize, &ArrayD<f64>)> {
    match loss {
        Loss::Mse { target } => Some((0, target)),
        Loss::HalfSse { target } => Some((2, target)),
        Loss::CrossEntropy { .. } => None,
    }
}

/// What the scenario's loss is, and its gradient: "mse is the mean Σ(y − t)²/n over the
/// n = 5 outputs, so ∂L/∂y = 2(y − t)/n".
fn the_right_one(loss: &Loss, right: usize, n: usize) -> String {
    let r = &reductions(n as f64)[right];
    format!(
        "{} is {} over the n = {n} outputs, so ∂L/∂y = {}",
        loss.name(),
        r.name,
        r.gradient
    )
}

pub(super) fn mistakes(tensor: N, loss: &Loss, step: &StepTrace) -> Vec<Mistake> {
    let y = &step.output;
    let mut out = Vec::new();
    if let Some((right, target)) = squared_error(loss) {
        let n = y.len();
        let d = y - target;
        let sum: f64 = d.iter().map(|d| d * d).sum();
        for (i, r) in reductions(n as f64).iter().enumerate() {
            if i == right {
                continue;
            }
            let right = the_right_one(loss, right, n);
            match tensor {
                N::Loss => out.push(Mistake::new(
                    ArrayD::from_elem(IxDyn(&[]), r.value * sum),
                    format!("yours is {}; {right}", r.name),
                )),
                N::LossGrad => out.push(Mistake::new(
                    d.mapv(|d| r.grad * d),
                    format!(
                        "yours is {}, the gradient of {}; {right}",
                        r.gradient, r.name
                    ),
                )),
                _ => {}
            }
        }
    }
    if let (Loss::CrossEntropy { class }, N::LossGrad) = (loss, tensor) {
        let p = softmax(y);
        let onehot = |i: usize| if i == *class { 1.0 } else { 0.0 };
        let mut by_p = ArrayD::zeros(y.raw_dim());
        if let Some((g, p)) = by_p.iter_mut().zip(&p).nth(*class) {
            *g = -1.0 / p;
        }
        out.push(Mistake::new(
            by_p,
            "yours is ∂L/∂p, −1/p at the class and 0 elsewhere: the gradient with respect to the probabilities p = softmax(y); the loss takes the logits y, and through the softmax ∂L/∂y = softmax(y) − onehot(class)",
        ));
        let mut without_softmax = y.clone();
        for (i, v) in without_softmax.iter_mut().enumerate() {
            *v -= onehot(i);
        }
        out.push(Mistake::new(
            without_softmax,
            "the softmax was left out: yours is y − onehot(class); ∂L/∂y = softmax(y) − onehot(class), the probabilities minus the one-hot target",
        ));
    }
    out
}

/// The loss reduction whose gradient is c × the scenario's, said as the cause of a factor c
/// in a later gradient (its δs all scale with ∂L/∂y).
pub(super) fn scaled_reduction(loss: &Loss, n: usize, c: f64) -> Option<String> {
    let (right, _) = squared_error(loss)?;
    let all = reductions(n as f64);
    let wrong = all.iter().find(|r| near(c, r.grad / all[right].grad))?;
    Some(format!(
        "a loss-reduction mix-up, as if ∂L/∂y were {}, the gradient of {}; {}",
        wrong.gradient,
        wrong.name,
        the_right_one(loss, right, n)
    ))
}
