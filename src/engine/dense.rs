//! Fully connected layer, forward and backward. Its input is the previous output
//! flattened in channel, row, column order.
//!
//! Forward:  z = W·x + b,  a = f(z)
//! Backward: δz = δa ⊙ f′(z),  ∂L/∂W = δz ⊗ x,  ∂L/∂b = δz,  δx = Wᵀ·δz

use ndarray::{Array1, Array2};

use super::activation::Activation;

#[derive(Clone, Debug, PartialEq)]
pub struct Dense {
    /// [outputs][inputs]
    pub weights: Array2<f64>,
    /// [outputs]
    pub bias: Array1<f64>,
    pub activation: Activation,
}

#[derive(Clone, Debug, PartialEq)]
pub struct DenseForward {
    pub z: Array1<f64>,
    pub a: Array1<f64>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct DenseBackward {
    pub delta_z: Array1<f64>,
    pub grad_weights: Array2<f64>,
    pub grad_bias: Array1<f64>,
    pub delta_input: Array1<f64>,
}

impl Dense {
    pub fn outputs(&self) -> usize {
        self.weights.dim().0
    }
    pub fn inputs(&self) -> usize {
        self.weights.dim().1
    }

    pub fn forward(&self, input: &Array1<f64>) -> DenseForward {
        let z = self.weights.dot(input) + &self.bias;
        let a = z.mapv(|v| self.activation.apply(v));
        DenseForward { z, a }
    }

    pub fn backward(
        &self,
        input: &Array1<f64>,
        fwd: &DenseForward,
        delta_a: &Array1<f64>,
    ) -> DenseBackward {
        let delta_z: Array1<f64> = ndarray::Zip::from(delta_a)
            .and(&fwd.z)
            .and(&fwd.a)
            .map_collect(|&da, &z, &a| da * self.activation.derivative(z, a));
        let grad_weights =
            Array2::from_shape_fn(self.weights.raw_dim(), |(o, i)| delta_z[o] * input[i]);
        let delta_input = self.weights.t().dot(&delta_z);
        DenseBackward {
            grad_bias: delta_z.clone(),
            delta_z,
            grad_weights,
            delta_input,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn dense_backward_is_outer_product_and_transpose() {
        let layer = Dense {
            weights: array![[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]],
            bias: array![0.5, 0.0, -0.5],
            activation: Activation::Identity,
        };
        let x = array![1.0, -1.0];
        let f = layer.forward(&x);
        assert_eq!(f.z, array![-0.5, -1.0, -1.5]);
        let b = layer.backward(&x, &f, &array![1.0, 0.0, 2.0]);
        assert_eq!(b.grad_weights, array![[1.0, -1.0], [0.0, 0.0], [2.0, -2.0]]);
        assert_eq!(b.delta_input, array![11.0, 14.0]);
    }
}
