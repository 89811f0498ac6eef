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
    // The sign turned: t − y for y − t, onehot − p for p − onehot. A recomputation, so one
    // output is enough to prove it.
    if tensor == N::LossGrad {
        let (_, grad) = loss.value_and_grad(y);
        out.push(Mistake::new(
            grad.mapv(|g| -g),
            match loss {
                Loss::CrossEntropy { .. } => {
                    "the gradient's sign is turned: yours is onehot(class) − softmax(y); ∂L/∂y = softmax(y) − onehot(class)"
                }
                _ => "the gradient's sign is turned: yours is in the direction of t − y; ∂L/∂y points from the target to y, y − t",
            },
        ));
    }
    if let Loss::CrossEntropy { class } = loss {
        out.extend(cross_entropy_mistakes(tensor, *class, y));
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

/// Cross-entropy on one example written as a mean over the classes (`np.mean` where the
/// loss is one term), and the softmax computed without subtracting the largest logit, so
/// that exp overflows.
fn cross_entropy_mistakes(tensor: N, class: usize, y: &ArrayD<f64>) -> Vec<Mistake> {
    let n = y.len() as f64;
    let right = Loss::CrossEntropy { class };
    let (loss, grad) = right.value_and_grad(y);
    let averaged = format!(
        "the cross-entropy averaged over the {n} classes: L = −log softmax(y)[class] is one term (only the class's probability enters), not a mean over the outputs"
    );
    // exp(y) / Σ exp(y) straight from the logits, as first written.
    let e = y.mapv(f64::exp);
    let total: f64 = e.sum();
    let naive = e.mapv(|e| e / total);
    let overflow = "the softmax overflowed: exp(y) of a large logit is inf, and inf/inf is NaN; subtract the largest logit before exp (softmax(y) = softmax(y − max y)), or compute L as log Σ exp(y − max y) + max y − y[class]";
    match tensor {
        N::Loss => vec![
            Mistake::new(ArrayD::from_elem(IxDyn(&[]), loss / n), averaged),
            // −Σ onehot · log p, as usually written: 0 · log(NaN) is NaN too.
            Mistake::new(
                ArrayD::from_elem(
                    IxDyn(&[]),
                    -naive
                        .iter()
                        .enumerate()
                        .map(|(i, p)| if i == class { 1.0 } else { 0.0 } * p.ln())
                        .sum::<f64>(),
                ),
                overflow,
            ),
        ],
        N::LossGrad => {
            let mut naive_grad = naive;
            if let Some(g) = naive_grad.iter_mut().nth(class) {
                *g -= 1.0;
            }
            vec![
                Mistake::new(grad.mapv(|g| g / n), averaged),
                Mistake::new(naive_grad, overflow),
            ]
        }
        _ => Vec::new(),
    }
}
