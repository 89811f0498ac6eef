//! Mistakes in the SGD update: the weights and bias of step s, from those of step s − 1 and
//! their gradients. The engine updates w + (−η)·∂L/∂w, cell by cell.

use ndarray::{ArrayD, ArrayViewD, Zip};

use super::Mistake;
use crate::engine::{StepTrace, TensorName as N};

pub(super) fn mistakes(
    tensor: N,
    l: usize,
    previous: &StepTrace,
    learning_rate: f64,
    yours: &ArrayD<f64>,
) -> Vec<Mistake> {
    let (parameter, gradient) = match tensor {
        N::Weights => (N::Weights, N::GradWeights),
        N::Bias => (N::Bias, N::GradBias),
        _ => return Vec::new(),
    };
    let t = &previous.layers[l].1;
    // Pool layers have neither.
    let (Some(w), Some(g)) = (t.tensor(parameter), t.tensor(gradient)) else {
        return Vec::new();
    };
    let name = if tensor == N::Weights { "w" } else { "b" };
    let sgd = format!("{name} ← {name} − η·∂L/∂{name}");
    let mut out = vec![Mistake::new(
        updated(&w, &g, -learning_rate),
        format!(
            "the update went up the gradient, {name} ← {name} + η·∂L/∂{name}: SGD steps against it, {sgd} (η = {learning_rate})"
        ),
    )];
    if let Some(rate) = fitted_rate(&w, &g, yours) {
        let says = if rate == 0.0 {
            format!(
                "yours are step {}'s, not updated: {sgd} (η = {learning_rate})",
                previous.step
            )
        } else {
            format!(
                "the update used a learning rate of {rate} where the scenario has {learning_rate}: {sgd} with η = {learning_rate}"
            )
        };
        out.push(Mistake::new(updated(&w, &g, rate), says));
    }
    out
}

/// w + (−η)·g, as the engine computes it: the SGD step, for the recomputation of a
/// parameter and for its mistakes alike.
pub(crate) fn updated(w: &ArrayViewD<f64>, g: &ArrayViewD<f64>, rate: f64) -> ArrayD<f64> {
    Zip::from(w).and(g).map_collect(|&w, &g| w + -rate * g)
}

/// The η′ for which yours = w − η′·g fits best (least squares, rounded to 6 significant
/// digits), when at least two cells have a gradient: one cell fits any η′. Whether it
/// reproduces every cell is for diagnose() to see.
fn fitted_rate(w: &ArrayViewD<f64>, g: &ArrayViewD<f64>, yours: &ArrayD<f64>) -> Option<f64> {
    if g.iter().filter(|&&g| g != 0.0).count() < 2 {
        return None;
    }
    let gg: f64 = g.iter().map(|g| g * g).sum();
    let fit: f64 = Zip::from(w)
        .and(g)
        .and(yours)
        .fold(0.0, |acc, &w, &g, &y| acc + (w - y) * g)
        / gg;
    let rate: f64 = format!("{fit:.5e}").parse().ok()?;
    rate.is_finite().then_some(rate)
}
