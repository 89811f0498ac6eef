//! 2-D convolution layer (cross-correlation, as PyTorch's conv2d), forward and backward.
//!
//! Shapes: input [C][H][W], weights [K][C][kh][kw], bias [K], z and a [K][Ho][Wo].
//! Forward:   z[k,i,j] = b[k] + Σ_c Σ_u Σ_v w[k,c,u,v] · x_pad[c, i·sh+u, j·sw+v]
//! Backward:  δz = δa ⊙ f′(z)
//!            ∂L/∂w[k,c,u,v] = Σ_i Σ_j δz[k,i,j] · x_pad[c, i·sh+u, j·sw+v]   (correlation of x with δz)
//!            ∂L/∂b[k]       = Σ_i Σ_j δz[k,i,j]
//!            δx[c] = Σ_k  full_conv(dilate(δz[k], s), rot180(w[k,c]))  cropped by the padding

use ndarray::{Array1, Array3, Array4};

use super::activation::Activation;

/// Output length of a sliding window along one axis, or None when no window fits.
pub fn window_count(input: usize, padding: usize, window: usize, stride: usize) -> Option<usize> {
    let padded = input + 2 * padding;
    if window == 0 || stride == 0 || padded < window {
        None
    } else {
        Some((padded - window) / stride + 1)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Conv {
    /// [K][C][kh][kw]
    pub weights: Array4<f64>,
    /// [K]
    pub bias: Array1<f64>,
    /// [sh, sw]
    pub stride: [usize; 2],
    /// [ph, pw], zero padding
    pub padding: [usize; 2],
    pub activation: Activation,
}

/// Everything the forward pass computes, kept for the backward pass and the trace.
#[derive(Clone, Debug, PartialEq)]
pub struct ConvForward {
    pub z: Array3<f64>,
    pub a: Array3<f64>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ConvBackward {
    pub delta_z: Array3<f64>,
    pub grad_weights: Array4<f64>,
    pub grad_bias: Array1<f64>,
    pub delta_input: Array3<f64>,
}

impl Conv {
    pub fn kernels(&self) -> usize {
        self.weights.dim().0
    }
    pub fn channels(&self) -> usize {
        self.weights.dim().1
    }
    pub fn kernel_size(&self) -> [usize; 2] {
        let (_, _, kh, kw) = self.weights.dim();
        [kh, kw]
    }

    /// [K, Ho, Wo] for an input of [C, H, W], or None when the kernel does not fit.
    pub fn output_shape(&self, input: [usize; 3]) -> Option<[usize; 3]> {
        let [kh, kw] = self.kernel_size();
        let ho = window_count(input[1], self.padding[0], kh, self.stride[0])?;
        let wo = window_count(input[2], self.padding[1], kw, self.stride[1])?;
        Some([self.kernels(), ho, wo])
    }

    /// The input cell under kernel tap (u, v) of output (i, j), or None where it falls in the padding.
    pub fn input_cell(
        &self,
        input_hw: [usize; 2],
        i: usize,
        j: usize,
        u: usize,
        v: usize,
    ) -> Option<[usize; 2]> {
        let y = (i * self.stride[0] + u).checked_sub(self.padding[0])?;
        let x = (j * self.stride[1] + v).checked_sub(self.padding[1])?;
        (y < input_hw[0] && x < input_hw[1]).then_some([y, x])
    }

    pub fn forward(&self, input: &Array3<f64>) -> ConvForward {
        let (c_in, h, w) = input.dim();
        let [k_out, ho, wo] = self
            .output_shape([c_in, h, w])
            .expect("geometry is validated when the scenario is loaded");
        let [kh, kw] = self.kernel_size();
        let mut z = Array3::zeros((k_out, ho, wo));
        for k in 0..k_out {
            for i in 0..ho {
                for j in 0..wo {
                    let mut sum = self.bias[k];
                    for c in 0..c_in {
                        for u in 0..kh {
                            for v in 0..kw {
                                if let Some([y, x]) = self.input_cell([h, w], i, j, u, v) {
                                    sum += self.weights[[k, c, u, v]] * input[[c, y, x]];
                                }
                            }
                        }
                    }
                    z[[k, i, j]] = sum;
                }
            }
        }
        let a = z.mapv(|v| self.activation.apply(v));
        ConvForward { z, a }
    }

    pub fn backward(
        &self,
        input: &Array3<f64>,
        fwd: &ConvForward,
        delta_a: &Array3<f64>,
    ) -> ConvBackward {
        let (c_in, h, w) = input.dim();
        let (k_out, ho, wo) = fwd.z.dim();
        let [kh, kw] = self.kernel_size();
        let [sh, sw] = self.stride;
        let [ph, pw] = self.padding;

        let mut delta_z = Array3::zeros((k_out, ho, wo));
        for ((d, &z), (&a, &da)) in delta_z
            .iter_mut()
            .zip(fwd.z.iter())
            .zip(fwd.a.iter().zip(delta_a.iter()))
        {
            *d = da * self.activation.derivative(z, a);
        }

        let mut grad_weights = Array4::zeros((k_out, c_in, kh, kw));
        let mut grad_bias = Array1::zeros(k_out);
        for k in 0..k_out {
            grad_bias[k] = delta_z.index_axis(ndarray::Axis(0), k).sum();
            for c in 0..c_in {
                for u in 0..kh {
                    for v in 0..kw {
                        let mut sum = 0.0;
                        for i in 0..ho {
                            for j in 0..wo {
                                if let Some([y, x]) = self.input_cell([h, w], i, j, u, v) {
                                    sum += delta_z[[k, i, j]] * input[[c, y, x]];
                                }
                            }
                        }
                        grad_weights[[k, c, u, v]] = sum;
                    }
                }
            }
        }

        // δx[c, y, x]: every output (i, j) whose window covers padded cell (y+ph, x+pw) through
        // tap (u, v) contributes w[k,c,u,v]·δz[k,i,j]. Read with u' = kh−1−u this is the full
        // convolution of the stride-dilated δz with the 180°-rotated kernel, summed over kernels.
        let mut delta_input = Array3::zeros((c_in, h, w));
        for c in 0..c_in {
            for y in 0..h {
                for x in 0..w {
                    let (py, px) = (y + ph, x + pw);
                    let mut sum = 0.0;
                    for k in 0..k_out {
                        for u in 0..kh.min(py + 1) {
                            let t = py - u;
                            if t % sh != 0 || t / sh >= ho {
                                continue;
                            }
                            let i = t / sh;
                            for v in 0..kw.min(px + 1) {
                                let s = px - v;
                                if s % sw != 0 || s / sw >= wo {
                                    continue;
                                }
                                sum += self.weights[[k, c, u, v]] * delta_z[[k, i, s / sw]];
                            }
                        }
                    }
                    delta_input[[c, y, x]] = sum;
                }
            }
        }

        ConvBackward {
            delta_z,
            grad_weights,
            grad_bias,
            delta_input,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array, array};

    fn conv(weights: Array4<f64>, stride: usize, padding: usize) -> Conv {
        let k = weights.dim().0;
        Conv {
            weights,
            bias: Array1::zeros(k),
            stride: [stride, stride],
            padding: [padding, padding],
            activation: Activation::Identity,
        }
    }

    #[test]
    fn forward_is_cross_correlation() {
        let input = Array::from_shape_vec((1, 3, 3), (1..=9).map(f64::from).collect()).unwrap();
        let layer = conv(array![[[[1.0, 0.0], [0.0, -1.0]]]], 1, 0);
        let out = layer.forward(&input);
        // z[0,0] = x[0,0] - x[1,1] = 1 - 5
        assert_eq!(out.z, array![[[-4.0, -4.0], [-4.0, -4.0]]]);
    }

    #[test]
    fn delta_input_is_full_convolution_with_rotated_kernel() {
        // Stride 1, no padding: δx = full_conv(δz, rot180(w)), written out independently.
        let w = array![[[[1.0, 2.0], [3.0, 4.0]]]];
        let layer = conv(w.clone(), 1, 0);
        let input = Array3::from_elem((1, 3, 3), 0.5);
        let fwd = layer.forward(&input);
        let delta_a = array![[[1.0, -1.0], [2.0, 0.5]]];
        let back = layer.backward(&input, &fwd, &delta_a);
        let rot = [[4.0, 3.0], [2.0, 1.0]];
        let mut expected = Array3::<f64>::zeros((1, 3, 3));
        // pad δz by kh-1 = 1 on each side, then correlate with rot180(w).
        let mut padded = Array3::<f64>::zeros((1, 4, 4));
        padded
            .slice_mut(ndarray::s![0, 1..3, 1..3])
            .assign(&delta_a.index_axis(ndarray::Axis(0), 0));
        for y in 0..3 {
            for x in 0..3 {
                let mut s = 0.0;
                for (u, row) in rot.iter().enumerate() {
                    for (v, r) in row.iter().enumerate() {
                        s += r * padded[[0, y + u, x + v]];
                    }
                }
                expected[[0, y, x]] = s;
            }
        }
        assert_eq!(back.delta_input, expected);
    }

    #[test]
    fn window_count_is_floor_mode() {
        assert_eq!(window_count(7, 0, 2, 2), Some(3));
        assert_eq!(window_count(5, 1, 3, 2), Some(3));
        assert_eq!(window_count(2, 0, 3, 1), None);
    }
}
