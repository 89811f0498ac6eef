//! Element-wise activations f(z) and their derivatives f′(z), as PyTorch defines them.

use serde::{Deserialize, Serialize};

/// Slope of leaky ReLU for negative inputs (PyTorch's default).
pub const LEAKY_RELU_SLOPE: f64 = 0.01;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    Relu,
    LeakyRelu,
    Sigmoid,
    Tanh,
    Identity,
}

impl Activation {
    pub fn name(self) -> &'static str {
        match self {
            Activation::Relu => "relu",
            Activation::LeakyRelu => "leaky_relu",
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
            Activation::Identity => "identity",
        }
    }

    /// a = f(z)
    pub fn apply(self, z: f64) -> f64 {
        match self {
            Activation::Relu => relu(z),
            Activation::LeakyRelu => leaky_relu(z),
            Activation::Sigmoid => sigmoid(z),
            Activation::Tanh => z.tanh(),
            Activation::Identity => z,
        }
    }

    /// f′(z), given both z and a = f(z). Sigmoid and tanh use a, as PyTorch does
    /// (σ′ = a(1−a), tanh′ = 1−a²). ReLU′(0) = 0 and leaky ReLU′(0) = slope, as in PyTorch.
    pub fn derivative(self, z: f64, a: f64) -> f64 {
        match self {
            Activation::Relu => relu_derivative(z),
            Activation::LeakyRelu => leaky_relu_derivative(z),
            Activation::Sigmoid => a * (1.0 - a),
            Activation::Tanh => 1.0 - a * a,
            Activation::Identity => 1.0,
        }
    }

    /// a = f(z), cell by cell: one loop per function, so each is compiled for its own f.
    pub fn apply_all(self, z: &[f64], a: &mut [f64]) {
        fn each(z: &[f64], a: &mut [f64], f: impl Fn(f64) -> f64) {
            assert_eq!(z.len(), a.len());
            for (a, &z) in a.iter_mut().zip(z) {
                *a = f(z);
            }
        }
        match self {
            Activation::Relu => each(z, a, relu),
            Activation::LeakyRelu => each(z, a, leaky_relu),
            Activation::Sigmoid => each(z, a, sigmoid),
            Activation::Tanh => each(z, a, f64::tanh),
            Activation::Identity => a.copy_from_slice(z),
        }
    }

    /// δz = δa · f′(z) for one cell, as PyTorch computes it: a product, except for ReLU,
    /// whose backward is a select (δa where z > 0 or NaN, exactly 0 elsewhere, also when δa
    /// is NaN or infinite, where the product would give NaN).
    pub fn delta_z(self, z: f64, a: f64, delta_a: f64) -> f64 {
        match self {
            Activation::Relu => relu_delta(z, delta_a),
            f => delta_a * f.derivative(z, a),
        }
    }

    /// δz = δa ⊙ f′(z), cell by cell ([`Activation::delta_z`]).
    pub fn backward_all(self, z: &[f64], a: &[f64], delta_a: &[f64], delta_z: &mut [f64]) {
        fn each(
            z: &[f64],
            a: &[f64],
            delta_a: &[f64],
            delta_z: &mut [f64],
            rule: impl Fn(f64, f64, f64) -> f64,
        ) {
            assert!(z.len() == a.len() && a.len() == delta_a.len() && a.len() == delta_z.len());
            for (((d, &z), &a), &da) in delta_z.iter_mut().zip(z).zip(a).zip(delta_a) {
                *d = rule(z, a, da);
            }
        }
        match self {
            Activation::Relu => each(z, a, delta_a, delta_z, |z, _, da| relu_delta(z, da)),
            f => each(z, a, delta_a, delta_z, |z, a, da| da * f.derivative(z, a)),
        }
    }

    /// Whether f is piecewise linear, with a kink at 0 where it has no derivative (the ReLU
    /// family).
    pub fn has_kink(self) -> bool {
        matches!(self, Activation::Relu | Activation::LeakyRelu)
    }

    /// Which side of the kink z lies on (1 above, −1 below, 0 at it or NaN), for activations
    /// that have one; the gradient check compares it before and after a probe to tell when a
    /// finite difference straddles the kink. Branch-free, so that scans over a layer vectorise.
    pub fn piece(z: f64) -> i8 {
        (z > 0.0) as i8 - (z < 0.0) as i8
    }

    /// The derivative written out for the inspector, e.g. "1 (z > 0)".
    pub fn derivative_formula(self) -> &'static str {
        match self {
            Activation::Relu => "relu′(z) = 1 if z > 0 else 0",
            Activation::LeakyRelu => "leaky_relu′(z) = 1 if z > 0 else 0.01",
            Activation::Sigmoid => "σ′(z) = a·(1 − a)",
            Activation::Tanh => "tanh′(z) = 1 − a²",
            Activation::Identity => "identity′(z) = 1",
        }
    }
}

// Each function once, for `apply`, `apply_all` and their derivatives. Comparisons are
// written so that NaN goes where PyTorch sends it: relu(NaN) = NaN and relu′(NaN) = 1
// (PyTorch's backward passes δ unless the output is ≤ 0); leaky_relu′(NaN) = slope.

fn relu(z: f64) -> f64 {
    if z <= 0.0 { 0.0 } else { z }
}

fn relu_derivative(z: f64) -> f64 {
    if z <= 0.0 { 0.0 } else { 1.0 }
}

fn relu_delta(z: f64, delta_a: f64) -> f64 {
    if z <= 0.0 { 0.0 } else { delta_a }
}

fn leaky_relu(z: f64) -> f64 {
    if z > 0.0 { z } else { LEAKY_RELU_SLOPE * z }
}

fn leaky_relu_derivative(z: f64) -> f64 {
    if z > 0.0 { 1.0 } else { LEAKY_RELU_SLOPE }
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relu_derivative_at_zero_is_zero_like_pytorch() {
        assert_eq!(Activation::Relu.derivative(0.0, 0.0), 0.0);
        assert_eq!(Activation::LeakyRelu.derivative(0.0, 0.0), LEAKY_RELU_SLOPE);
        assert!(Activation::Relu.has_kink() && Activation::LeakyRelu.has_kink());
        assert!(!Activation::Tanh.has_kink() && !Activation::Sigmoid.has_kink());
        assert!(!Activation::Identity.has_kink());
        let pieces = [
            -1e-300,
            -0.0,
            0.0,
            1e-300,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ];
        assert_eq!(pieces.map(Activation::piece), [-1, 0, 0, 1, 0, 1, -1]);
    }

    /// PyTorch float64, printed by torch.relu, F.leaky_relu, torch.sigmoid and torch.tanh
    /// (and their autograd) on [NaN, 0, −1, 2, inf, −inf].
    #[test]
    fn non_finite_values_go_where_pytorch_sends_them() {
        let z = [f64::NAN, 0.0, -1.0, 2.0, f64::INFINITY, f64::NEG_INFINITY];
        let nan = f64::NAN;
        let cases: [(Activation, [f64; 6], [f64; 6]); 4] = [
            (
                Activation::Relu,
                [nan, 0.0, 0.0, 2.0, f64::INFINITY, 0.0],
                [1.0, 0.0, 0.0, 1.0, 1.0, 0.0],
            ),
            (
                Activation::LeakyRelu,
                [nan, 0.0, -0.01, 2.0, f64::INFINITY, f64::NEG_INFINITY],
                [0.01, 0.01, 0.01, 1.0, 1.0, 0.01],
            ),
            (
                Activation::Sigmoid,
                [nan, 0.5, 0.2689414213699951, 0.8807970779778823, 1.0, 0.0],
                [
                    nan,
                    0.25,
                    0.19661193324148185,
                    0.10499358540350662,
                    0.0,
                    0.0,
                ],
            ),
            (
                Activation::Tanh,
                [nan, 0.0, -0.7615941559557649, 0.9640275800758169, 1.0, -1.0],
                [nan, 1.0, 0.41997434161402614, 0.07065082485316443, 0.0, 0.0],
            ),
        ];
        let same = |x: f64, y: f64| (x.is_nan() && y.is_nan()) || (x - y).abs() <= 1e-15 || x == y;
        for (f, a, da) in cases {
            let mut all = [0.0; 6];
            f.apply_all(&z, &mut all);
            let mut back = [0.0; 6];
            f.backward_all(&z, &all, &[1.0; 6], &mut back);
            for i in 0..6 {
                assert!(same(f.apply(z[i]), a[i]), "{f:?}({})", z[i]);
                assert!(same(all[i], a[i]), "{f:?} apply_all at {}", z[i]);
                assert!(same(f.derivative(z[i], all[i]), da[i]), "{f:?}′({})", z[i]);
                assert!(same(back[i], da[i]), "{f:?} backward_all at {}", z[i]);
            }
        }
    }

    /// PyTorch float64: torch.relu and F.leaky_relu backward of δa = [NaN, inf, NaN, 2,
    /// −inf, NaN] at z = [−1, 0, NaN, 3, inf, −inf]. ReLU selects (0 where z ≤ 0, whatever
    /// δa is); leaky ReLU multiplies by the slope, so NaN and inf go through.
    #[test]
    fn a_non_finite_delta_stops_where_relu_is_flat_as_in_pytorch() {
        let nan = f64::NAN;
        let z = [-1.0, 0.0, nan, 3.0, f64::INFINITY, f64::NEG_INFINITY];
        let delta_a = [nan, f64::INFINITY, nan, 2.0, f64::NEG_INFINITY, nan];
        let cases = [
            (
                Activation::Relu,
                [0.0, 0.0, nan, 2.0, f64::NEG_INFINITY, 0.0],
            ),
            (
                Activation::LeakyRelu,
                [nan, f64::INFINITY, nan, 2.0, f64::NEG_INFINITY, nan],
            ),
        ];
        for (f, expected) in cases {
            let mut a = [0.0; 6];
            f.apply_all(&z, &mut a);
            let mut delta_z = [0.0; 6];
            f.backward_all(&z, &a, &delta_a, &mut delta_z);
            for i in 0..6 {
                let (got, want) = (delta_z[i], expected[i]);
                assert!(
                    got.is_nan() && want.is_nan() || got == want,
                    "{f:?}: z = {}, δa = {}: δz = {got}, PyTorch {want}",
                    z[i],
                    delta_a[i]
                );
            }
        }
    }

    #[test]
    fn derivatives_match_central_differences() {
        let all = [
            Activation::Relu,
            Activation::LeakyRelu,
            Activation::Sigmoid,
            Activation::Tanh,
            Activation::Identity,
        ];
        for f in all {
            for &z in &[-2.3, -0.4, 0.7, 1.9] {
                let h = 1e-6;
                let numeric = (f.apply(z + h) - f.apply(z - h)) / (2.0 * h);
                let analytic = f.derivative(z, f.apply(z));
                assert!((numeric - analytic).abs() < 1e-8, "{f:?} at {z}");
            }
        }
    }
}
