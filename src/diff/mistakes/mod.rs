//! Known backprop mistakes, each recomputed with the engine's own pieces so that a
//! diagnosis is proven (the user's tensor equals the wrong computation), not guessed.

mod activation;
mod conv;
mod dense;
mod loss;
mod pool;
mod update;

pub(crate) use update::updated;

use ndarray::ArrayD;

use crate::engine::{LayerKind, LayerTrace, Model, PoolKind, StepTrace, TensorName as N};

use super::cell_mismatch;

/// What a diagnosis looks at: one tensor of one step, with everything it is computed from
/// as the user's file has it.
pub struct Subject<'a> {
    /// The network at this step: layer kinds and geometry, the loss, the learning rate.
    /// (Its weights are the reference's: the step's own are in `step`.)
    pub model: &'a Model,
    /// The step as the user's file gives it: their tensors where the file holds them, the
    /// reference's elsewhere. A wrong computation reads its inputs from here (a conv's
    /// δ_input from `delta_z` and `weights` of its layer trace), so that it is proven on
    /// the user's own inputs wherever they gave them.
    pub step: &'a StepTrace,
    /// The step before, likewise (None at step 0): what the update reads.
    pub previous: Option<&'a StepTrace>,
    /// The layer, or None for the loss node (loss and loss_grad).
    pub layer: Option<usize>,
    pub tensor: N,
    /// What the user's file says about the tensor's inputs.
    pub inputs: Inputs,
}

/// What the user's file says about the inputs of the tensor being diagnosed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Inputs {
    /// All in the file (or fixed by the scenario), and they agree with the reference: the
    /// correct result is the reference.
    Right,
    /// All in the file, some of them wrong: the correct result is what they give.
    Wrong,
    /// Not all in the file: the reference's stand in for the missing ones, and a difference
    /// may come from upstream.
    Missing,
}

/// A diagnosis, and whether it names a mistake of this very computation (a recomputed
/// mistake, a pool's divisor) rather than a fact about the numbers (a factor, zeros) or a
/// cause upstream (a loss reduction seen in a later δ).
#[derive(Clone, Debug, PartialEq)]
pub struct Diagnosis {
    pub says: String,
    pub made_here: bool,
}

impl<'a> Subject<'a> {
    /// The layer's kind and its trace in the user's view of the step.
    fn layer(&self) -> Option<(&'a LayerKind, &'a LayerTrace)> {
        let l = self.layer?;
        Some((&self.model.layers[l].kind, &self.step.layers[l].1))
    }
}

/// One known mistake: the numbers it gives, and what it means.
pub struct Mistake {
    pub values: ArrayD<f64>,
    pub says: String,
}

impl Mistake {
    fn new(values: ArrayD<f64>, says: impl Into<String>) -> Self {
        Mistake {
            values,
            says: says.into(),
        }
    }
}

/// Whether every cell of `yours` agrees with `candidate` within the tolerance.
fn matches(yours: &ArrayD<f64>, candidate: &ArrayD<f64>, tolerance: f64) -> bool {
    yours.shape() == candidate.shape()
        && yours
            .iter()
            .zip(candidate)
            .all(|(&y, &c)| !cell_mismatch(y, c, tolerance))
}

/// A diagnosis for a tensor that differs from what a correct computation gives from the
/// same inputs (`correct`), when one of the known mistakes reproduces the user's numbers
/// exactly. A mistake that gives the correct numbers on these inputs proves nothing and
/// is skipped.
pub fn diagnose(
    subject: &Subject,
    yours: &ArrayD<f64>,
    correct: &ArrayD<f64>,
    tolerance: f64,
) -> Option<Diagnosis> {
    for mistake in wrong_computations(subject, yours) {
        if !matches(correct, &mistake.values, tolerance)
            && matches(yours, &mistake.values, tolerance)
        {
            return Some(Diagnosis {
                says: mistake.says,
                made_here: true,
            });
        }
    }
    // A fact, not a guess: said only where the correct numbers are not all zeros too.
    if yours.iter().all(|&y| y == 0.0) {
        return Some(Diagnosis {
            says: "yours is all zeros".into(),
            made_here: false,
        });
    }
    scale_factor(yours, correct, tolerance).map(|c| explain_scale(c, subject))
}

/// The known wrong versions of the subject's tensor, grouped by layer kind. (`yours` only
/// to fit a learning rate, which diagnose() then checks on every cell like the others.)
fn wrong_computations(subject: &Subject, yours: &ArrayD<f64>) -> Vec<Mistake> {
    let (tensor, model) = (subject.tensor, subject.model);
    let Some(l) = subject.layer else {
        return loss::mistakes(tensor, &model.loss, subject.step);
    };
    let mut out = match subject.layer() {
        Some((LayerKind::Conv(conv), LayerTrace::Conv(t))) => conv::mistakes(tensor, conv, t),
        Some((LayerKind::Pool(pool), LayerTrace::Pool(t))) => pool::mistakes(tensor, pool, t),
        Some((LayerKind::Dense(dense), LayerTrace::Dense(t))) => {
            let before = dense::maps_before(subject.step, &model.input, l);
            dense::mistakes(tensor, dense, t, before)
        }
        _ => Vec::new(),
    };
    if let Some(previous) = subject.previous {
        out.extend(update::mistakes(
            tensor,
            l,
            previous,
            model.learning_rate,
            yours,
        ));
    }
    out
}

/// The c with yours = c · reference, when there is one (and it is not 1 or 0). It takes two
/// non-zero reference cells to show a ratio: any one number is a multiple of any other.
fn scale_factor(yours: &ArrayD<f64>, reference: &ArrayD<f64>, tolerance: f64) -> Option<f64> {
    if reference.iter().filter(|&&r| r != 0.0).count() < 2 {
        return None;
    }
    let rr: f64 = reference.iter().map(|r| r * r).sum();
    if !rr.is_finite() {
        return None;
    }
    let c = yours.iter().zip(reference).map(|(y, r)| y * r).sum::<f64>() / rr;
    let scaled = reference.mapv(|r| c * r);
    ((c - 1.0).abs() > tolerance && c != 0.0 && c.is_finite() && matches(yours, &scaled, tolerance))
        .then_some(c)
}

/// A factor as the simple number it is within rounding ("4", "1/4", "-1", "3/2"), with the
/// exact value beside it when the two differ; other factors as they are.
fn factor_text(c: f64) -> String {
    // The simplest fraction p/q (q up to 64, the largest window or map a learner averages
    // over in these networks) that c is within rounding.
    let Some((p, q)) = (1..=64u32)
        .map(|q| ((c * f64::from(q)).round(), f64::from(q)))
        .find(|&(p, q)| p != 0.0 && near(c, p / q))
        .or_else(|| {
            // 1/n for larger n: an average over a larger map.
            let n = (1.0 / c).round();
            (n.abs() > 64.0 && near(c, 1.0 / n)).then_some((n.signum(), n.abs()))
        })
    else {
        return format!("{c}");
    };
    let decimal = {
        // q = 2^a·5^b: p/q is a short decimal (2.5, 0.75), the way such a factor is read.
        let mut r = q;
        for f in [2.0, 5.0] {
            while r % f == 0.0 {
                r /= f;
            }
        }
        r == 1.0
    };
    let simple = if q == 1.0 {
        format!("{p}")
    } else if p.abs() == 1.0 || !decimal {
        format!("{p}/{q}")
    } else {
        format!("{}", p / q)
    };
    if p / q == c {
        simple
    } else {
        format!("{simple} ({c})")
    }
}

fn near(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

fn explain_scale(c: f64, subject: &Subject) -> Diagnosis {
    let (layer, tensor) = (subject.layer(), subject.tensor);
    let basis = match subject.inputs {
        Inputs::Wrong => "what your inputs give",
        Inputs::Right | Inputs::Missing => "the reference",
    };
    let mut text = format!("yours = {} × {basis} everywhere", factor_text(c));
    // A factor passes unchanged through every linear step after it: where the tensor's own
    // inputs are not in the file, one made upstream gives the same numbers, so its cause
    // here is a "perhaps", and it locates nothing.
    let (cause, made_here) = match subject.inputs {
        Inputs::Missing => (": perhaps ", false),
        Inputs::Right | Inputs::Wrong => (": ", true),
    };
    let here = |says: String| Diagnosis { says, made_here };
    if let Some((LayerKind::Pool(pool), _)) = layer
        && pool.kind == PoolKind::Mean
        && tensor == N::DeltaInput
    {
        let m = pool.window_area() as f64;
        if near(c, m) {
            text += &format!(
                "{cause}mean-pool δ not divided by the window area m = {m} (δ_in = δ_out / m)"
            );
            return here(text);
        } else if near(c, 1.0 / m) {
            text += &format!("{cause}mean-pool δ divided by the window area m = {m} twice");
            return here(text);
        }
    }
    if let Some((LayerKind::Conv(_), LayerTrace::Conv(t))) = layer
        && tensor == N::GradBias
    {
        let (_, h, w) = t.z.dim();
        if near(c, 1.0 / (h * w) as f64) {
            text += &format!(
                "{cause}the bias gradient averaged over the map instead of summed; ∂L/∂b[k] = Σ δz[k] over its {h}×{w} cells"
            );
            return here(text);
        }
    }
    // Every δ before the loss scales with ∂L/∂y: a loss reduction's factor shows in each,
    // but only where this tensor's own inputs are not in the file (with them, the factor is
    // made here). (∂L/∂y itself is recomputed under each reduction, before any factor is
    // looked for.) Otherwise no cause this factor is known to come from: the factor alone.
    if tensor.is_backward()
        && subject.inputs == Inputs::Missing
        && let Some(cause) =
            loss::scaled_reduction(&subject.model.loss, subject.step.output.len(), c)
    {
        text += ": perhaps ";
        text += &cause;
    }
    Diagnosis {
        says: text,
        made_here: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(values: &[f64]) -> ArrayD<f64> {
        ndarray::arr1(values).into_dyn()
    }

    #[test]
    fn near_is_equality_up_to_rounding_relative_to_the_larger() {
        assert!(near(4.0, 4.0));
        assert!(near(4.0 * (1.0 + 5e-10), 4.0));
        assert!(near(1e6, 1e6 + 1e-4), "1e-10 of the larger");
        assert!(!near(4.0 * (1.0 + 2e-9), 4.0));
        assert!(!near(0.25, 4.0));
        assert!(!near(2.0, 4.0));
    }

    #[test]
    fn a_factor_is_written_as_the_simple_number_it_is_with_the_exact_value_beside() {
        assert_eq!(factor_text(4.0), "4");
        assert_eq!(factor_text(3.9999999999999996), "4 (3.9999999999999996)");
        assert_eq!(factor_text(0.25), "1/4");
        assert_eq!(
            factor_text(0.25000000000000006),
            "1/4 (0.25000000000000006)"
        );
        assert_eq!(factor_text(1.0 / 16.0), "1/16");
        assert_eq!(factor_text(0.5), "1/2");
        assert_eq!(factor_text(-1.0), "-1");
        assert_eq!(factor_text(-0.5), "-1/2");
        assert_eq!(factor_text(0.2667), "0.2667");
        assert_eq!(factor_text(2.5), "2.5");
        assert_eq!(factor_text(1.4999999999999996), "1.5 (1.4999999999999996)");
        assert_eq!(factor_text(0.75), "0.75");
        assert_eq!(factor_text(2.0 / 3.0), "2/3");
        assert_eq!(factor_text(0.6666666666666667), "2/3 (0.6666666666666667)");
        assert_eq!(factor_text(-1.0 / 3.0), "-1/3");
        assert_eq!(factor_text(1.0 / 36.0), "1/36");
        assert_eq!(
            factor_text(0.010000000000000002),
            "1/100 (0.010000000000000002)"
        );
        assert_eq!(factor_text(1.0 / 1024.0), "1/1024");
        // Near 1/81 but not within rounding of it: no fraction.
        assert_eq!(factor_text(0.0123456), "0.0123456");
        // Within rounding means relative to the factor's size.
        assert_eq!(factor_text(1000.0000001), "1000 (1000.0000001)");
        assert_eq!(factor_text(1.0000001), "1.0000001");
    }

    #[test]
    fn no_factor_from_one_cell_or_from_zeros() {
        // Any single number is a multiple of any other: one non-zero reference cell shows
        // no ratio, whatever the other cells are.
        assert_eq!(scale_factor(&t(&[0.8]), &t(&[3.0]), 1e-6), None);
        assert_eq!(scale_factor(&t(&[0.8, 0.0]), &t(&[3.0, 0.0]), 1e-6), None);
        let c = scale_factor(&t(&[0.8, 1.6]), &t(&[3.0, 6.0]), 1e-6).unwrap();
        assert!(near(c, 0.8 / 3.0), "{c}");
        // A tensor of zeros is no multiple: diagnose() calls it what it is.
        assert_eq!(scale_factor(&t(&[0.0, -0.0]), &t(&[3.0, 6.0]), 1e-6), None);
        let s = crate::scenario::default_scenario();
        let trace = s.model.trace(0);
        let subject = Subject {
            model: &s.model,
            step: &trace,
            previous: None,
            layer: None,
            tensor: N::LossGrad,
            inputs: Inputs::Right,
        };
        let yours = trace.loss_grad.mapv(|_| -0.0);
        let said = diagnose(&subject, &yours, &trace.loss_grad, 1e-6).unwrap();
        assert_eq!(said.says, "yours is all zeros");
        assert!(!said.made_here, "a fact, not a place");
    }

    #[test]
    fn a_factor_reproduces_every_cell() {
        let reference = t(&[1.0, -2.0, 0.5]);
        assert_eq!(
            scale_factor(&t(&[4.0, -8.0, 2.0]), &reference, 1e-6),
            Some(4.0)
        );
        assert_eq!(
            scale_factor(&t(&[-1.0, 2.0, -0.5]), &reference, 1e-6),
            Some(-1.0)
        );
        // One cell off: no factor, whatever the least-squares c comes to.
        assert_eq!(scale_factor(&t(&[4.0, -8.0, 2.5]), &reference, 1e-6), None);
    }

    #[test]
    fn a_factor_within_the_tolerance_of_1_is_no_factor() {
        // Off by noise, not by a factor: c = 1.07, within a tolerance of 0.1 of 1.
        let ones = t(&[1.0, 1.0]);
        assert_eq!(scale_factor(&t(&[1.14, 1.0]), &ones, 0.1), None);
        // c = 1.5: exactly at a tolerance of 0.5 still none, beyond it a factor.
        assert_eq!(scale_factor(&t(&[1.75, 1.25]), &ones, 0.5), None);
        assert_eq!(scale_factor(&t(&[1.75, 1.25]), &ones, 0.4999), Some(1.5));
    }

    #[test]
    fn no_factor_from_nan_or_a_reference_without_a_finite_nonzero_norm() {
        // Yours all NaN (an implementation that diverged): c is NaN, which is no factor.
        let reference = t(&[1.0, -2.0]);
        let nan = t(&[f64::NAN, f64::NAN]);
        assert_eq!(scale_factor(&nan, &reference, 1e-6), None);
        // A reference of zeros, or one whose Σr² overflows (c would come out as 0/inf = 0).
        assert_eq!(scale_factor(&t(&[1.0, 1.0]), &t(&[0.0, 0.0]), 1e-6), None);
        assert_eq!(
            scale_factor(&t(&[0.0, 0.0]), &t(&[1e200, -1e200]), 1e-6),
            None
        );
    }
}
