//! Losses on the final output y, with their gradient ∂L/∂y.

use ndarray::ArrayD;

#[derive(Clone, Debug, PartialEq)]
pub enum Loss {
    /// mean((y − t)²), PyTorch's MSELoss with reduction "mean": ∂L/∂y = 2(y − t)/n
    Mse { target: ArrayD<f64> },
    /// ½·Σ(y − t)², the textbook form: ∂L/∂y = y − t
    HalfSse { target: ArrayD<f64> },
    /// −log softmax(y)[class] over the flattened output: ∂L/∂y = softmax(y) − onehot(class)
    CrossEntropy { class: usize },
}

impl Loss {
    pub fn name(&self) -> &'static str {
        match self {
            Loss::Mse { .. } => "mse",
            Loss::HalfSse { .. } => "half_sse",
            Loss::CrossEntropy { .. } => "cross_entropy",
        }
    }

    /// (L, ∂L/∂y); the gradient has the shape of y.
    pub fn value_and_grad(&self, y: &ArrayD<f64>) -> (f64, ArrayD<f64>) {
        let mut grad = ArrayD::zeros(y.raw_dim());
        let value = self.value_and_grad_into(y, &mut grad);
        (value, grad)
    }

    /// L, with ∂L/∂y written into `grad` (of the shape of y).
    pub fn value_and_grad_into(&self, y: &ArrayD<f64>, grad: &mut ArrayD<f64>) -> f64 {
        assert_eq!(y.shape(), grad.shape());
        match self {
            // Σd² is ndarray's sum (eight partial sums), the order these numbers always had;
            // `grad` holds d² on the way.
            Loss::Mse { target } => {
                let n = y.len() as f64;
                squared_differences(y, target, grad);
                let sum = grad.sum();
                for ((g, &y), &t) in grad.iter_mut().zip(y.iter()).zip(target.iter()) {
                    *g = (y - t) * (2.0 / n);
                }
                sum / n
            }
            Loss::HalfSse { target } => {
                squared_differences(y, target, grad);
                let sum = grad.sum();
                // As PyTorch's autograd of 0.5·Σ(y−t)² computes it: 0.5·(2·(y−t)). The same as
                // y − t for every finite 2·(y−t), and inf where 2·(y−t) overflows.
                for ((g, &y), &t) in grad.iter_mut().zip(y.iter()).zip(target.iter()) {
                    *g = 0.5 * (2.0 * (y - t));
                }
                0.5 * sum
            }
            Loss::CrossEntropy { class } => {
                let log_sum_exp = log_sum_exp(y);
                for (g, &v) in grad.iter_mut().zip(y.iter()) {
                    *g = (v - log_sum_exp).exp();
                }
                let logit = y.iter().nth(*class).copied().expect("class is validated");
                if let Some(g) = grad.iter_mut().nth(*class) {
                    *g -= 1.0;
                }
                log_sum_exp - logit
            }
        }
    }
}

fn squared_differences(y: &ArrayD<f64>, target: &ArrayD<f64>, out: &mut ArrayD<f64>) {
    for ((o, &y), &t) in out.iter_mut().zip(y.iter()).zip(target.iter()) {
        let d = y - t;
        *o = d * d;
    }
}

/// log Σ exp(y), shifted by max(y) so that large logits do not overflow. An infinite max
/// is not set apart: inf − inf = NaN makes the result NaN, as in PyTorch's log_softmax.
pub fn log_sum_exp(y: &ArrayD<f64>) -> f64 {
    let max = y.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    max + y.iter().map(|v| (v - max).exp()).sum::<f64>().ln()
}

pub fn softmax(y: &ArrayD<f64>) -> ArrayD<f64> {
    let lse = log_sum_exp(y);
    y.mapv(|v| (v - lse).exp())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{IxDyn, array};

    #[test]
    fn mse_is_the_mean_and_half_sse_the_half_sum() {
        let y = array![1.0, 3.0].into_dyn();
        let t = array![0.0, 0.0].into_dyn();
        let (l, g) = Loss::Mse { target: t.clone() }.value_and_grad(&y);
        assert_eq!(l, 5.0);
        assert_eq!(g, array![1.0, 3.0].into_dyn());
        let (l, g) = Loss::HalfSse { target: t }.value_and_grad(&y);
        assert_eq!(l, 5.0);
        assert_eq!(g, array![1.0, 3.0].into_dyn());
    }

    /// PyTorch float64: 0.5·torch.sum((y − t)**2) and its autograd.
    #[test]
    fn half_sse_gradient_overflows_where_pytorch_does() {
        let y = array![1.5e308, 3.0, -1e308, 7e307].into_dyn();
        let t = array![0.0, 1.0, 0.0, -3e307].into_dyn();
        let (l, g) = Loss::HalfSse { target: t }.value_and_grad(&y);
        assert_eq!(l, f64::INFINITY);
        assert_eq!(
            g,
            array![f64::INFINITY, 2.0, f64::NEG_INFINITY, f64::INFINITY].into_dyn()
        );
    }

    /// PyTorch float64: F.cross_entropy on one row of logits, and its autograd.
    #[test]
    fn cross_entropy_with_infinite_logits_is_what_pytorch_gives() {
        let ce = |logits: Vec<f64>, class| {
            let y = ArrayD::from_shape_vec(IxDyn(&[logits.len()]), logits).unwrap();
            Loss::CrossEntropy { class }.value_and_grad(&y)
        };
        let inf = f64::INFINITY;
        // A +inf logit: log_softmax subtracts the max, inf − inf = NaN, and all is NaN.
        for (logits, class) in [
            (vec![inf, 0.0], 1),
            (vec![inf, 0.0], 0),
            (vec![inf, -inf, inf], 1),
            (vec![-inf, -inf], 0),
            (vec![f64::NAN, 0.0], 1),
        ] {
            let (l, g) = ce(logits.clone(), class);
            assert!(l.is_nan(), "{logits:?}: loss {l}");
            assert!(g.iter().all(|v| v.is_nan()), "{logits:?}: {g}");
        }
        // A −inf logit is harmless: its probability is 0.
        let (l, g) = ce(vec![-inf, 0.0, 1.0], 2);
        assert!((l - 0.31326168751822286).abs() < 1e-15);
        let torch = [0.0, 0.2689414213699951, -0.2689414213699951];
        assert!(g.iter().zip(torch).all(|(a, b)| (a - b).abs() < 1e-15));
        assert_eq!(g[0], 0.0);
        // Huge finite logits: the loss overflows, the gradient does not.
        let (l, g) = ce(vec![1e308, -1e308], 1);
        assert_eq!(l, inf);
        assert_eq!(g, array![1.0, -1.0].into_dyn());
    }

    #[test]
    fn cross_entropy_is_stable_for_large_logits() {
        let y = ArrayD::from_shape_vec(IxDyn(&[3]), vec![1000.0, 1000.0, 0.0]).unwrap();
        let (l, g) = Loss::CrossEntropy { class: 0 }.value_and_grad(&y);
        assert!((l - 2f64.ln()).abs() < 1e-12);
        assert!((g[0] + 0.5).abs() < 1e-12 && (g[1] - 0.5).abs() < 1e-12);
    }
}
