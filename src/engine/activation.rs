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
            Activation::Relu => {
                if z > 0.0 {
                    z
                } else {
                    0.0
                }
            }
            Activation::LeakyRelu => {
                if z > 0.0 {
                    z
                } else {
                    LEAKY_RELU_SLOPE * z
                }
            }
            Activation::Sigmoid => 1.0 / (1.0 + (-z).exp()),
            Activation::Tanh => z.tanh(),
            Activation::Identity => z,
        }
    }

    /// f′(z), given both z and a = f(z). Sigmoid and tanh use a, as PyTorch does
    /// (σ′ = a(1−a), tanh′ = 1−a²). ReLU′(0) = 0 and leaky ReLU′(0) = slope, as in PyTorch.
    pub fn derivative(self, z: f64, a: f64) -> f64 {
        match self {
            Activation::Relu => {
                if z > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Activation::LeakyRelu => {
                if z > 0.0 {
                    1.0
                } else {
                    LEAKY_RELU_SLOPE
                }
            }
            Activation::Sigmoid => a * (1.0 - a),
            Activation::Tanh => 1.0 - a * a,
            Activation::Identity => 1.0,
        }
    }

    /// Whether f is not differentiable at z (the ReLU family at exactly 0).
    pub fn is_kink(self, z: f64) -> bool {
        matches!(self, Activation::Relu | Activation::LeakyRelu) && z == 0.0
    }

    /// Which linear piece z lies on, for activations that have pieces; used by the
    /// gradient check to tell when a finite difference straddles a kink.
    pub fn piece(self, z: f64) -> i8 {
        match self {
            Activation::Relu | Activation::LeakyRelu => {
                if z > 0.0 {
                    1
                } else if z < 0.0 {
                    -1
                } else {
                    0
                }
            }
            _ => 0,
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relu_derivative_at_zero_is_zero_like_pytorch() {
        assert_eq!(Activation::Relu.derivative(0.0, 0.0), 0.0);
        assert_eq!(Activation::LeakyRelu.derivative(0.0, 0.0), LEAKY_RELU_SLOPE);
        assert!(Activation::Relu.is_kink(0.0));
        assert!(!Activation::Tanh.is_kink(0.0));
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
