//! 2-D convolution layer (cross-correlation, as PyTorch's conv2d), forward and backward.
//!
//! Shapes: input [C][H][W], weights [K][C][kh][kw], bias [K], z and a [K][Ho][Wo].
//! Forward:   z[k,i,j] = b[k] + Σ_c Σ_u Σ_v w[k,c,u,v] · x_pad[c, i·sh+u, j·sw+v]
//! Backward:  δz = δa ⊙ f′(z)
//!            ∂L/∂w[k,c,u,v] = Σ_i Σ_j δz[k,i,j] · x_pad[c, i·sh+u, j·sw+v]   (correlation of x with δz)
//!            ∂L/∂b[k]       = Σ_i Σ_j δz[k,i,j]
//!            δx[c] = Σ_k  full_conv(dilate(δz[k], s), rot180(w[k,c]))  cropped by the padding

use ndarray::linalg::general_mat_mul;
use ndarray::{Array1, Array2, Array3, Array4, Axis, CowArray, Ix2};

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

    /// For kernel column v: the output columns j whose tap lands inside the input
    /// (0 ≤ j·sw + v − pw < w), and the input column of the first of them.
    fn valid_columns(&self, v: usize, w: usize, wo: usize) -> (std::ops::Range<usize>, usize) {
        let (sw, pw) = (self.stride[1], self.padding[1]);
        let first = if v >= pw { 0 } else { (pw - v).div_ceil(sw) };
        // last valid j: j·sw + v − pw ≤ w − 1
        let end = if w - 1 + pw >= v {
            ((w - 1 + pw - v) / sw + 1).min(wo)
        } else {
            0
        };
        let end = end.max(first);
        (first..end, (first * sw + v).saturating_sub(pw))
    }

    /// The receptive fields as columns (im2col): row (c, u, v), column (i, j) holds
    /// x_pad[c, i·sh+u, j·sw+v], so the whole layer becomes one matrix product.
    fn im2col(&self, input: &Array3<f64>, out_hw: [usize; 2]) -> Array2<f64> {
        let input = input.as_standard_layout();
        let (c_in, h, w) = input.dim();
        let [kh, kw] = self.kernel_size();
        let [ho, wo] = out_hw;
        let [sh, sw] = self.stride;
        let ph = self.padding[0];
        let x = input.as_slice().expect("layer inputs are standard layout");
        let mut cols = Array2::zeros((c_in * kh * kw, ho * wo));
        let cols_slice = cols
            .as_slice_mut()
            .expect("fresh arrays are standard layout");
        for (r, row) in cols_slice.chunks_exact_mut(ho * wo).enumerate() {
            let (c, u, v) = (r / (kh * kw), (r / kw) % kh, r % kw);
            let (js, x0) = self.valid_columns(v, w, wo);
            for i in 0..ho {
                let Some(y) = (i * sh + u).checked_sub(ph).filter(|&y| y < h) else {
                    continue;
                };
                let src = &x[(c * h + y) * w..(c * h + y + 1) * w];
                let dst = &mut row[i * wo + js.start..i * wo + js.end];
                if sw == 1 {
                    dst.copy_from_slice(&src[x0..x0 + dst.len()]);
                } else {
                    for (d, s) in dst.iter_mut().zip(src[x0..].iter().step_by(sw)) {
                        *d = *s;
                    }
                }
            }
        }
        cols
    }

    /// The inverse of im2col: add every column entry back onto the input cell it came from.
    fn col2im(
        &self,
        cols: &Array2<f64>,
        input_dim: (usize, usize, usize),
        out_hw: [usize; 2],
    ) -> Array3<f64> {
        let (_, h, w) = input_dim;
        let [kh, kw] = self.kernel_size();
        let [ho, wo] = out_hw;
        let [sh, sw] = self.stride;
        let ph = self.padding[0];
        let mut delta_input = Array3::zeros(input_dim);
        let dx = delta_input
            .as_slice_mut()
            .expect("fresh arrays are standard layout");
        let cols_slice = cols.as_slice().expect("products are standard layout");
        for (r, row) in cols_slice.chunks_exact(ho * wo).enumerate() {
            let (c, u, v) = (r / (kh * kw), (r / kw) % kh, r % kw);
            let (js, x0) = self.valid_columns(v, w, wo);
            for i in 0..ho {
                let Some(y) = (i * sh + u).checked_sub(ph).filter(|&y| y < h) else {
                    continue;
                };
                let dst = &mut dx[(c * h + y) * w + x0..(c * h + y + 1) * w];
                let src = &row[i * wo + js.start..i * wo + js.end];
                for (d, s) in dst.iter_mut().step_by(sw).zip(src) {
                    *d += *s;
                }
            }
        }
        delta_input
    }

    /// [K, C·kh·kw]: each kernel as a row (copied only if the weights are not row-major).
    fn weight_matrix(&self) -> CowArray<'_, f64, Ix2> {
        let (k, c, kh, kw) = self.weights.dim();
        self.weights
            .as_standard_layout()
            .into_shape_with_order((k, c * kh * kw))
            .expect("standard layout")
    }

    pub fn forward(&self, input: &Array3<f64>) -> ConvForward {
        let (c_in, h, w) = input.dim();
        let [k_out, ho, wo] = self
            .output_shape([c_in, h, w])
            .expect("geometry is validated when the scenario is loaded");
        let cols = self.im2col(input, [ho, wo]);
        // z = W·cols + b, one row per kernel.
        let mut z = Array2::zeros((k_out, ho * wo));
        for (mut row, &b) in z.rows_mut().into_iter().zip(self.bias.iter()) {
            row.fill(b);
        }
        general_mat_mul(1.0, &self.weight_matrix(), &cols, 1.0, &mut z);
        let z = z
            .into_shape_with_order((k_out, ho, wo))
            .expect("standard layout");
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

        let mut delta_z = Array3::zeros((k_out, ho, wo));
        ndarray::Zip::from(&mut delta_z)
            .and(&fwd.z)
            .and(&fwd.a)
            .and(delta_a)
            .for_each(|d, &z, &a, &da| *d = da * self.activation.derivative(z, a));
        let delta_z_matrix = delta_z
            .view()
            .into_shape_with_order((k_out, ho * wo))
            .expect("standard layout");

        // ∂L/∂w = δz · colsᵀ: each weight meets every input cell its tap saw.
        let cols = self.im2col(input, [ho, wo]);
        let mut grad_weights = Array2::zeros((k_out, c_in * kh * kw));
        general_mat_mul(1.0, &delta_z_matrix, &cols.t(), 0.0, &mut grad_weights);
        let grad_weights = grad_weights
            .into_shape_with_order((k_out, c_in, kh, kw))
            .expect("standard layout");
        let grad_bias = delta_z_matrix.sum_axis(Axis(1));

        // δx: Wᵀ·δz gives, per tap, what each output sends back; col2im adds it onto the cell
        // under that tap. Summed over kernels and taps this is the full convolution of the
        // stride-dilated δz with the 180°-rotated kernel (see `explain` for the term list).
        let mut delta_cols = Array2::zeros((c_in * kh * kw, ho * wo));
        general_mat_mul(
            1.0,
            &self.weight_matrix().t(),
            &delta_z_matrix,
            0.0,
            &mut delta_cols,
        );
        let delta_input = self.col2im(&delta_cols, (c_in, h, w), [ho, wo]);

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

    /// The direct loops, written as the maths reads: the specification that the im2col
    /// path is tested against.
    impl Conv {
        fn forward_direct(&self, input: &Array3<f64>) -> ConvForward {
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

        fn backward_direct(
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

    proptest::proptest! {
        #[test]
        fn im2col_path_equals_the_direct_loops(
            c in 1usize..4, k in 1usize..4, h in 1usize..9, w in 1usize..9,
            kh in 1usize..4, kw in 1usize..4, sh in 1usize..3, sw in 1usize..3,
            ph in 0usize..2, pw in 0usize..2, seed in 0u64..1000,
        ) {
            let mut next = seed;
            let mut rand = move || { next = next.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407); ((next >> 11) as f64 / (1u64 << 53) as f64) - 0.5 };
            let layer = Conv {
                weights: Array4::from_shape_simple_fn((k, c, kh, kw), &mut rand),
                bias: Array1::from_shape_simple_fn(k, &mut rand),
                stride: [sh, sw],
                padding: [ph, pw],
                activation: Activation::Tanh,
            };
            let Some([_, ho, wo]) = layer.output_shape([c, h, w]) else { return Ok(()) };
            let input = Array3::from_shape_simple_fn((c, h, w), &mut rand);
            let delta_a = Array3::from_shape_simple_fn((k, ho, wo), &mut rand);
            let (fast, direct) = (layer.forward(&input), layer.forward_direct(&input));
            let close = |a: &ndarray::ArrayViewD<f64>, b: &ndarray::ArrayViewD<f64>| a.shape() == b.shape() && a.iter().zip(b.iter()).all(|(x, y)| (x - y).abs() <= 1e-12);
            proptest::prop_assert!(close(&fast.z.view().into_dyn(), &direct.z.view().into_dyn()));
            let (fb, db) = (layer.backward(&input, &fast, &delta_a), layer.backward_direct(&input, &direct, &delta_a));
            proptest::prop_assert!(close(&fb.delta_z.view().into_dyn(), &db.delta_z.view().into_dyn()));
            proptest::prop_assert!(close(&fb.grad_weights.view().into_dyn(), &db.grad_weights.view().into_dyn()));
            proptest::prop_assert!(close(&fb.grad_bias.view().into_dyn(), &db.grad_bias.view().into_dyn()));
            proptest::prop_assert!(close(&fb.delta_input.view().into_dyn(), &db.delta_input.view().into_dyn()));
        }
    }
}
