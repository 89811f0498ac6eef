//! Fully connected layer, forward and backward. Its input is the previous output
//! flattened in channel, row, column order.
//!
//! Forward:  z = W·x + b,  a = f(z)
//! Backward: δz = δa ⊙ f′(z),  ∂L/∂W = δz ⊗ x,  ∂L/∂b = δz,  δx = Wᵀ·δz

use ndarray::linalg::general_mat_vec_mul;
use ndarray::{Array1, Array2, ArrayView1, ArrayViewMut1};

use super::activation::Activation;
use super::kernels::{self, KernelPath, PathChoice};

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
        let n = self.outputs();
        let mut out = DenseForward {
            z: Array1::zeros(n),
            a: Array1::zeros(n),
        };
        let input = input.as_standard_layout();
        self.forward_into(
            input.as_slice().expect("standard layout"),
            out.z.as_slice_mut().expect("standard layout"),
            out.a.as_slice_mut().expect("standard layout"),
            self.path(PathChoice::BySize),
        );
        out
    }

    /// The path `choice` gives this layer (its multiply-adds are outputs·inputs).
    pub fn path(&self, choice: PathChoice) -> KernelPath {
        choice.path_for(self.weights.len())
    }

    /// z = W·x + b and a = f(z) on slices.
    pub fn forward_into(&self, input: &[f64], z: &mut [f64], a: &mut [f64], path: KernelPath) {
        let w = self.weights.as_standard_layout();
        if path == KernelPath::Avx512 {
            let w = w.as_slice().expect("standard layout");
            let inputs = self.inputs();
            for ((z, row), &b) in z.iter_mut().zip(w.chunks_exact(inputs)).zip(&self.bias) {
                *z = kernels::dot(row, input) + b;
            }
        } else {
            let mut zv = ArrayViewMut1::from(&mut *z);
            general_mat_vec_mul(1.0, &w, &ArrayView1::from(input), 0.0, &mut zv);
            for (z, &b) in z.iter_mut().zip(&self.bias) {
                *z += b;
            }
        }
        self.activation.apply_all(z, a);
    }

    pub fn backward(
        &self,
        input: &Array1<f64>,
        fwd: &DenseForward,
        delta_a: &Array1<f64>,
    ) -> DenseBackward {
        let mut out = DenseBackward {
            delta_z: Array1::zeros(self.outputs()),
            grad_weights: Array2::zeros(self.weights.raw_dim()),
            grad_bias: Array1::zeros(self.outputs()),
            delta_input: Array1::zeros(self.inputs()),
        };
        let slice = |x: &Array1<f64>| x.as_standard_layout().to_vec();
        self.backward_into(
            &slice(input),
            &slice(&fwd.z),
            &slice(&fwd.a),
            &slice(delta_a),
            out.delta_z.as_slice_mut().expect("standard layout"),
            out.grad_weights.as_slice_mut().expect("standard layout"),
            out.grad_bias.as_slice_mut().expect("standard layout"),
            out.delta_input.as_slice_mut().expect("standard layout"),
        );
        out
    }

    /// The backward pass from a given δz rather than from δa: ∂L/∂W, ∂L/∂b and δ_input as
    /// [`Dense::backward`] computes them from that δz.
    pub fn backward_from_delta_z(
        &self,
        input: &Array1<f64>,
        delta_z: &Array1<f64>,
    ) -> DenseBackward {
        // With the identity activation, δz = δa · 1 = δa.
        let layer = Dense {
            activation: Activation::Identity,
            ..self.clone()
        };
        let unused = Array1::zeros(delta_z.raw_dim());
        let fwd = DenseForward {
            z: unused.clone(),
            a: unused,
        };
        layer.backward(input, &fwd, delta_z)
    }

    /// δz = δa ⊙ f′(z), ∂L/∂W = δz ⊗ x, ∂L/∂b = δz, δx = Wᵀ·δz, on slices. One code for
    /// every path: δx is Σₖ δzₖ·Wₖ added row after row, the order in which ndarray's
    /// matrix-vector product would add it too, so a second path could only repeat it.
    #[allow(clippy::too_many_arguments)]
    pub fn backward_into(
        &self,
        input: &[f64],
        z: &[f64],
        a: &[f64],
        delta_a: &[f64],
        delta_z: &mut [f64],
        grad_weights: &mut [f64],
        grad_bias: &mut [f64],
        delta_input: &mut [f64],
    ) {
        self.activation.backward_all(z, a, delta_a, delta_z);
        let inputs = self.inputs();
        for (row, &d) in grad_weights.chunks_exact_mut(inputs).zip(delta_z.iter()) {
            for (g, &x) in row.iter_mut().zip(input) {
                *g = d * x;
            }
        }
        grad_bias.copy_from_slice(delta_z);
        let w = self.weights.as_standard_layout();
        let w = w.as_slice().expect("standard layout");
        delta_input.fill(0.0);
        for (row, &d) in w.chunks_exact(inputs).zip(delta_z.iter()) {
            kernels::axpy(delta_input, d, row);
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

    /// A forced path runs that path's own arithmetic: the two paths add z = W·x in different
    /// orders (eight fused lanes, or ndarray's unrolled dot product), so their results differ
    /// in the last bits, and each must equal its own order exactly.
    #[test]
    fn each_path_computes_z_with_its_own_kernels() {
        let (outputs, inputs) = (11, 37);
        let mut next = 7u64;
        let mut rand = move || kernels::test_random(&mut next);
        let layer = Dense {
            weights: Array2::from_shape_simple_fn((outputs, inputs), &mut rand),
            bias: Array1::from_shape_simple_fn(outputs, &mut rand),
            activation: Activation::Identity,
        };
        let x: Vec<f64> = (0..inputs).map(|_| rand()).collect();
        let by_kernels = |path: KernelPath| -> Vec<f64> {
            match path {
                KernelPath::Avx512 => layer
                    .weights
                    .rows()
                    .into_iter()
                    .zip(&layer.bias)
                    .map(|(row, &b)| kernels::dot(row.as_slice().unwrap(), &x) + b)
                    .collect(),
                KernelPath::Portable => {
                    let mut z = Array1::zeros(outputs);
                    general_mat_vec_mul(1.0, &layer.weights, &ArrayView1::from(&x), 0.0, &mut z);
                    z.iter().zip(&layer.bias).map(|(z, b)| z + b).collect()
                }
            }
        };
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        if KernelPath::Avx512.supported() {
            assert_ne!(
                bits(&by_kernels(KernelPath::Avx512)),
                bits(&by_kernels(KernelPath::Portable)),
                "the data must tell the two orders of addition apart"
            );
        }
        for path in kernels::paths_under_test("each_path_computes_z_with_its_own_kernels") {
            let (mut z, mut a) = (vec![0.0; outputs], vec![0.0; outputs]);
            layer.forward_into(&x, &mut z, &mut a, path);
            assert_eq!(
                bits(&z),
                bits(&by_kernels(path)),
                "the {} path",
                path.name()
            );
        }
    }
}
