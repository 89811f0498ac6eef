//! 2-D convolution layer (cross-correlation, as PyTorch's conv2d), forward and backward.
//!
//! Shapes: input [C][H][W], weights [K][C][kh][kw], bias [K], z and a [K][Ho][Wo].
//! Forward:   z[k,i,j] = b[k] + Σ_c Σ_u Σ_v w[k,c,u,v] · x_pad[c, i·sh+u, j·sw+v]
//! Backward:  δz = δa ⊙ f′(z)
//!            ∂L/∂w[k,c,u,v] = Σ_i Σ_j δz[k,i,j] · x_pad[c, i·sh+u, j·sw+v]   (correlation of x with δz)
//!            ∂L/∂b[k]       = Σ_i Σ_j δz[k,i,j]
//!            δx[c] = Σ_k  full_conv(dilate(δz[k], s), rot180(w[k,c]))  cropped by the padding

use ndarray::linalg::general_mat_mul;
use ndarray::{Array1, Array3, Array4, ArrayView2, ArrayView3, ArrayViewMut2, CowArray, Ix2};

use super::activation::Activation;
use super::geometry::Window;
use super::kernels::{self, Chunk, KernelPath, PathChoice};

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

    /// Where the kernel lies on the input: its size, stride and padding.
    pub fn window(&self) -> Window {
        Window {
            size: self.kernel_size(),
            stride: self.stride,
            padding: self.padding,
        }
    }

    /// [K, Ho, Wo] for an input of [C, H, W], or None when the kernel does not fit.
    pub fn output_shape(&self, input: [usize; 3]) -> Option<[usize; 3]> {
        let [ho, wo] = self.window().output_hw([input[1], input[2]])?;
        Some([self.kernels(), ho, wo])
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
    /// x_pad[c, i·sh+u, j·sw+v], so the whole layer becomes one matrix product. Writes only the
    /// cells inside the input: `cols` must hold zeros in the others (they never change).
    fn im2col_into(
        &self,
        x: &[f64],
        dim: (usize, usize, usize),
        out_hw: [usize; 2],
        cols: &mut [f64],
    ) {
        let (_, h, w) = dim;
        let [kh, kw] = self.kernel_size();
        let [ho, wo] = out_hw;
        let [sh, sw] = self.stride;
        let ph = self.padding[0];
        for (r, row) in cols.chunks_exact_mut(ho * wo).enumerate() {
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
    }

    /// The inverse of im2col: add every column entry back onto the input cell it came from.
    fn col2im_into(
        &self,
        cols: &[f64],
        input_dim: (usize, usize, usize),
        out_hw: [usize; 2],
        dx: &mut [f64],
    ) {
        let (_, h, w) = input_dim;
        let [kh, kw] = self.kernel_size();
        let [ho, wo] = out_hw;
        let [sh, sw] = self.stride;
        let ph = self.padding[0];
        dx.fill(0.0);
        for (r, row) in cols.chunks_exact(ho * wo).enumerate() {
            let (c, u, v) = (r / (kh * kw), (r / kw) % kh, r % kw);
            let (js, x0) = self.valid_columns(v, w, wo);
            for i in 0..ho {
                let Some(y) = (i * sh + u).checked_sub(ph).filter(|&y| y < h) else {
                    continue;
                };
                let dst = &mut dx[(c * h + y) * w + x0..(c * h + y + 1) * w];
                let src = &row[i * wo + js.start..i * wo + js.end];
                if sw == 1 {
                    for (d, s) in dst.iter_mut().zip(src) {
                        *d += *s;
                    }
                } else {
                    for (d, s) in dst.iter_mut().step_by(sw).zip(src) {
                        *d += *s;
                    }
                }
            }
        }
    }

    /// [K, C·kh·kw]: each kernel as a row (copied only if the weights are not row-major).
    fn weight_matrix(&self) -> CowArray<'_, f64, Ix2> {
        let (k, c, kh, kw) = self.weights.dim();
        self.weights
            .as_standard_layout()
            .into_shape_with_order((k, c * kh * kw))
            .expect("standard layout")
    }

    /// Multiply-adds of one forward product (K·C·kh·kw·Ho·Wo) on inputs of shape `input_dim`.
    pub fn macs(&self, input_dim: (usize, usize, usize)) -> usize {
        let (c, h, w) = input_dim;
        self.output_shape([c, h, w]).map_or(0, |[k, ho, wo]| {
            k * ho * wo * c * self.weights.dim().2 * self.weights.dim().3
        })
    }

    /// Buffers for running this layer on inputs of shape `input_dim`, on the path `choice`
    /// gives a layer of its size.
    pub fn scratch(&self, input_dim: (usize, usize, usize), choice: PathChoice) -> ConvScratch {
        ConvScratch::new(self, input_dim, choice.path_for(self.macs(input_dim)))
    }

    pub fn forward(&self, input: &Array3<f64>) -> ConvForward {
        let mut scratch = self.scratch(input.dim(), PathChoice::BySize);
        let [k, ho, wo] = scratch.output_shape(self);
        let mut out = ConvForward {
            z: Array3::zeros((k, ho, wo)),
            a: Array3::zeros((k, ho, wo)),
        };
        let input = input.as_standard_layout();
        self.forward_into(&input.view(), &mut scratch, &mut out.z, &mut out.a);
        out
    }

    /// The forward pass into `z` and `a`, keeping what the backward pass reuses in `scratch`.
    pub fn forward_into(
        &self,
        input: &ArrayView3<'_, f64>,
        scratch: &mut ConvScratch,
        z: &mut Array3<f64>,
        a: &mut Array3<f64>,
    ) {
        let x = input.as_slice().expect("layer inputs are standard layout");
        scratch.prepare(self, x);
        let s = &*scratch;
        let (k_out, p) = (self.kernels(), s.cells());
        let zs = z.as_slice_mut().expect("standard layout");
        let bias = self.bias.as_standard_layout();
        if s.path == KernelPath::Avx512 {
            kernels::gather_gemm(
                k_out,
                &s.weights_t,
                k_out,
                s.source(x),
                &s.taps,
                &s.chunks,
                Some(bias.as_slice().expect("standard layout")),
                zs,
                p,
            );
        } else {
            // z = W·cols + b, one row per kernel.
            for (row, &b) in zs.chunks_exact_mut(p).zip(self.bias.iter()) {
                row.fill(b);
            }
            let cols = ArrayView2::from_shape((s.cols.len() / p, p), &s.cols).expect("[R, P]");
            let mut zm = ArrayViewMut2::from_shape((k_out, p), zs).expect("[K, P]");
            general_mat_mul(1.0, &self.weight_matrix(), &cols, 1.0, &mut zm);
        }
        let zs = z.as_slice().expect("standard layout");
        self.activation
            .apply_all(zs, a.as_slice_mut().expect("standard layout"));
    }

    pub fn backward(
        &self,
        input: &Array3<f64>,
        fwd: &ConvForward,
        delta_a: &Array3<f64>,
    ) -> ConvBackward {
        let mut scratch = self.scratch(input.dim(), PathChoice::BySize);
        let input = input.as_standard_layout();
        scratch.prepare(self, input.as_slice().expect("standard layout"));
        let (k, c, kh, kw) = self.weights.dim();
        let mut out = ConvBackward {
            delta_z: Array3::zeros(fwd.z.raw_dim()),
            grad_weights: Array4::zeros((k, c, kh, kw)),
            grad_bias: Array1::zeros(k),
            delta_input: Array3::zeros(input.raw_dim()),
        };
        let (z, a, da) = (
            fwd.z.as_standard_layout(),
            fwd.a.as_standard_layout(),
            delta_a.as_standard_layout(),
        );
        self.backward_into(
            &input.view(),
            &z.view(),
            &a.view(),
            &da.view(),
            &mut scratch,
            &mut out.delta_z,
            &mut out.grad_weights,
            &mut out.grad_bias,
            &mut out.delta_input,
        );
        out
    }

    /// The backward pass from a given δz rather than from δa: ∂L/∂w, ∂L/∂b and δ_input as
    /// [`Conv::backward`] computes them from that δz. For checking a user's tensors one
    /// computation at a time.
    pub fn backward_from_delta_z(
        &self,
        input: &Array3<f64>,
        delta_z: &Array3<f64>,
    ) -> ConvBackward {
        // With the identity activation, δz = δa · 1 = δa.
        let layer = Conv {
            activation: Activation::Identity,
            ..self.clone()
        };
        let unused = Array3::zeros(delta_z.raw_dim());
        let fwd = ConvForward {
            z: unused.clone(),
            a: unused,
        };
        layer.backward(input, &fwd, delta_z)
    }

    /// The backward pass of the step whose forward pass ran with `scratch`, into the last
    /// four arrays.
    #[allow(clippy::too_many_arguments)]
    pub fn backward_into(
        &self,
        input: &ArrayView3<'_, f64>,
        z: &ArrayView3<'_, f64>,
        a: &ArrayView3<'_, f64>,
        delta_a: &ArrayView3<'_, f64>,
        scratch: &mut ConvScratch,
        delta_z: &mut Array3<f64>,
        grad_weights: &mut Array4<f64>,
        grad_bias: &mut Array1<f64>,
        delta_input: &mut Array3<f64>,
    ) {
        let x = input.as_slice().expect("standard layout");
        let (k_out, p) = (self.kernels(), scratch.cells());
        let r = scratch.taps.len();
        let dz = delta_z.as_slice_mut().expect("standard layout");
        self.activation.backward_all(
            z.as_slice().expect("standard layout"),
            a.as_slice().expect("standard layout"),
            delta_a.as_slice().expect("standard layout"),
            dz,
        );
        let dz = delta_z.as_slice().expect("standard layout");
        for (g, row) in grad_bias.iter_mut().zip(dz.chunks_exact(p)) {
            // ndarray's sum, in eight partial sums: the order the numbers always had.
            *g = ndarray::ArrayView1::from(row).sum();
        }
        let gw = grad_weights.as_slice_mut().expect("standard layout");
        let w = self.weights.as_standard_layout();
        let w = w.as_slice().expect("standard layout");
        let s = &mut *scratch;
        let dx = delta_input.as_slice_mut().expect("standard layout");
        s.last_backward = BackwardRoute::Products;
        if s.sparse_pays(dz) && s.prepare_channels_last(self, x, w) {
            s.last_backward = s.sparse_backward(self, dz, gw, dx);
            return;
        }
        if s.path == KernelPath::Avx512 {
            // ∂L/∂w = δz · colsᵀ: each weight meets every input cell its tap saw.
            kernels::dot_gemm(k_out, dz, p, s.source(x), &s.taps, &s.chunks, gw, r);
            // δ columns = Wᵀ·δz: per tap, what each output sends back.
            kernels::gather_gemm(
                r,
                w,
                r,
                dz,
                &s.k_taps,
                &s.flat_chunks,
                None,
                &mut s.delta_cols,
                p,
            );
        } else {
            let dzm = ArrayView2::from_shape((k_out, p), dz).expect("[K, P]");
            let cols = ArrayView2::from_shape((r, p), &s.cols).expect("[R, P]");
            let mut gwm = ArrayViewMut2::from_shape((k_out, r), gw).expect("[K, R]");
            general_mat_mul(1.0, &dzm, &cols.t(), 0.0, &mut gwm);
            let mut dcols = ArrayViewMut2::from_shape((r, p), &mut s.delta_cols).expect("[R, P]");
            general_mat_mul(1.0, &self.weight_matrix().t(), &dzm, 0.0, &mut dcols);
        }
        // col2im adds each δ column entry onto the cell under its tap. Summed over kernels and
        // taps this is the full convolution of the stride-dilated δz with the 180°-rotated
        // kernel (see `explain` for the term list).
        self.col2im_into(&s.delta_cols, s.input_dim, s.out_hw, dx);
    }
}

/// The sparse backward pass reads rows of at least this many numbers (kw·C).
const SPARSE_MIN_ROW: usize = 16;
/// ... and runs when at most this fraction of δz is non-zero (max pooling leaves one cell in
/// four at most; dense products win above about a third).
const SPARSE_MAX_DENSITY: f64 = 0.3;

/// How a conv layer's backward pass ran (see [`ConvScratch::last_backward`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackwardRoute {
    /// ∂L/∂w and δx as dense products over every cell of δz.
    Products,
    /// Only the non-zero cells of δz, in AVX-512 tiles (rows of kw·C numbers that are whole
    /// 512-bit vectors).
    SparseTiles,
    /// Only the non-zero cells of δz, in the scalar body (other rows).
    SparseScalar,
}

struct SparseGeometry {
    kernels: usize,
    out_hw: [usize; 2],
    stride: [usize; 2],
    kernel: [usize; 2],
    channels: usize,
    padded_width: usize,
}

#[inline(always)]
fn sparse_backward_body(
    g: &SparseGeometry,
    dz: &[f64],
    input: &[f64],
    weights: &[f64],
    grad: &mut [f64],
    delta: &mut [f64],
) {
    let [ho, wo] = g.out_hw;
    let [kh, kw] = g.kernel;
    let row = kw * g.channels;
    let per_kernel = kh * row;
    for k in 0..g.kernels {
        let grad_k = &mut grad[k * per_kernel..(k + 1) * per_kernel];
        let weights_k = &weights[k * per_kernel..(k + 1) * per_kernel];
        for i in 0..ho {
            for j in 0..wo {
                let d = dz[(k * ho + i) * wo + j];
                if d == 0.0 {
                    continue;
                }
                for u in 0..kh {
                    let at =
                        ((i * g.stride[0] + u) * g.padded_width + j * g.stride[1]) * g.channels;
                    let field = &input[at..at + row];
                    for (gv, &x) in grad_k[u * row..(u + 1) * row].iter_mut().zip(field) {
                        *gv += d * x;
                    }
                    let kernel_row = &weights_k[u * row..(u + 1) * row];
                    for (dv, &w) in delta[at..at + row].iter_mut().zip(kernel_row) {
                        *dv += d * w;
                    }
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn sparse_backward_avx512(
    g: &SparseGeometry,
    dz: &[f64],
    input: &[f64],
    weights: &[f64],
    grad: &mut [f64],
    delta: &mut [f64],
    cells: &mut Vec<(usize, f64)>,
) -> BackwardRoute {
    let [ho, wo] = g.out_hw;
    let [kh, kw] = g.kernel;
    let row = kw * g.channels;
    let vectors = kh * row / 8;
    if !row.is_multiple_of(8) || !(1..=sparse_avx512::MAX_VECTORS).contains(&vectors) {
        sparse_backward_body(g, dz, input, weights, grad, delta);
        return BackwardRoute::SparseScalar;
    }
    // Offsets of the receptive field's vectors from its first cell.
    let mut offsets = [0usize; sparse_avx512::MAX_VECTORS];
    for (t, o) in offsets.iter_mut().take(vectors).enumerate() {
        let (u, q) = (t / (row / 8), t % (row / 8));
        *o = u * g.padded_width * g.channels + 8 * q;
    }
    let per_kernel = kh * row;
    let need = input.len().min(delta.len());
    for k in 0..g.kernels {
        // The non-zero cells of δz[k], as (offset of the receptive field, δ), without a
        // branch per cell.
        cells.clear();
        let plane = &dz[k * ho * wo..(k + 1) * ho * wo];
        for i in 0..ho {
            for j in 0..wo {
                let d = plane[i * wo + j];
                let at = ((i * g.stride[0]) * g.padded_width + j * g.stride[1]) * g.channels;
                cells.push((at, d));
                if d == 0.0 {
                    cells.pop();
                }
            }
        }
        let last = cells.last().map_or(0, |c| c.0);
        assert!(last + offsets[vectors - 1] + 8 <= need);
        let grad_k = &mut grad[k * per_kernel..(k + 1) * per_kernel];
        let weights_k = &weights[k * per_kernel..(k + 1) * per_kernel];
        // SAFETY: every receptive field lies inside input and delta (checked for the last,
        // largest offset above); grad_k and weights_k hold `vectors` vectors.
        unsafe { sparse_avx512::kernel(vectors, cells, &offsets, input, weights_k, grad_k, delta) };
    }
    BackwardRoute::SparseTiles
}

#[cfg(target_arch = "x86_64")]
mod sparse_avx512 {
    use std::arch::x86_64::*;

    pub const MAX_VECTORS: usize = 28;

    #[target_feature(enable = "avx512f")]
    unsafe fn tile<const V: usize>(
        cells: &[(usize, f64)],
        offsets: &[usize; MAX_VECTORS],
        input: *const f64,
        weights: *const f64,
        grad: *mut f64,
        delta: *mut f64,
    ) {
        let mut acc = [_mm512_setzero_pd(); V];
        for &(at, d) in cells {
            let dv = _mm512_set1_pd(d);
            for t in 0..V {
                // SAFETY: the caller checked at + offsets[t] + 8 fits input and delta.
                unsafe {
                    let p = at + offsets[t];
                    acc[t] = _mm512_fmadd_pd(dv, _mm512_loadu_pd(input.add(p)), acc[t]);
                    let w = _mm512_loadu_pd(weights.add(8 * t));
                    let old = _mm512_loadu_pd(delta.add(p));
                    _mm512_storeu_pd(delta.add(p), _mm512_fmadd_pd(dv, w, old));
                }
            }
        }
        for (t, v) in acc.iter().enumerate() {
            // SAFETY: grad holds V vectors.
            unsafe { _mm512_storeu_pd(grad.add(8 * t), *v) };
        }
    }

    macro_rules! dispatch {
        ($v:expr, $($args:expr),*) => {
            match $v {
                1 => tile::<1>($($args),*), 2 => tile::<2>($($args),*),
                3 => tile::<3>($($args),*), 4 => tile::<4>($($args),*),
                5 => tile::<5>($($args),*), 6 => tile::<6>($($args),*),
                7 => tile::<7>($($args),*), 8 => tile::<8>($($args),*),
                9 => tile::<9>($($args),*), 10 => tile::<10>($($args),*),
                11 => tile::<11>($($args),*), 12 => tile::<12>($($args),*),
                13 => tile::<13>($($args),*), 14 => tile::<14>($($args),*),
                15 => tile::<15>($($args),*), 16 => tile::<16>($($args),*),
                17 => tile::<17>($($args),*), 18 => tile::<18>($($args),*),
                19 => tile::<19>($($args),*), 20 => tile::<20>($($args),*),
                21 => tile::<21>($($args),*), 22 => tile::<22>($($args),*),
                23 => tile::<23>($($args),*), 24 => tile::<24>($($args),*),
                25 => tile::<25>($($args),*), 26 => tile::<26>($($args),*),
                27 => tile::<27>($($args),*), 28 => tile::<28>($($args),*),
                _ => unreachable!("at most MAX_VECTORS"),
            }
        };
    }

    /// ∂L/∂w[k] (written, as `vectors` vectors) and δx (added to) for the cells of kernel k.
    ///
    /// # Safety
    /// AVX-512F must be present; every `at + offsets[t] + 8` must fit `input` and `delta`,
    /// and `weights` and `grad` must hold `vectors` vectors.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn kernel(
        vectors: usize,
        cells: &[(usize, f64)],
        offsets: &[usize; MAX_VECTORS],
        input: &[f64],
        weights: &[f64],
        grad: &mut [f64],
        delta: &mut [f64],
    ) {
        assert!(weights.len() >= 8 * vectors && grad.len() >= 8 * vectors);
        let (i, w, g, d) = (
            input.as_ptr(),
            weights.as_ptr(),
            grad.as_mut_ptr(),
            delta.as_mut_ptr(),
        );
        // SAFETY: forwarded from the caller.
        unsafe { dispatch!(vectors, cells, offsets, i, w, g, d) }
    }
}

/// The buffers and index tables of one conv layer for one input shape, allocated once and
/// reused by every step, so that a step allocates nothing.
///
/// With AVX-512 and stride 1 the layer reads its taps straight from the (zero-padded) input
/// ("direct"); otherwise it copies them into im2col columns first.
#[derive(Clone, Debug)]
pub struct ConvScratch {
    input_dim: (usize, usize, usize),
    out_hw: [usize; 2],
    path: KernelPath,
    direct: bool,
    /// How the last backward pass ran.
    last_backward: BackwardRoute,
    /// Direct path with padding: the zero-padded input [C][H+2ph][W+2pw].
    padded: Vec<f64>,
    /// Not direct: im2col columns [C·kh·kw][Ho·Wo] (cells in the padding stay 0).
    cols: Vec<f64>,
    /// Fast path: the weights as [C·kh·kw][K].
    weights_t: Vec<f64>,
    /// δ columns [C·kh·kw][Ho·Wo].
    delta_cols: Vec<f64>,
    /// Per tap (c, u, v): its offset in the source (padded input or columns).
    taps: Vec<usize>,
    /// The output cells, as offsets into the source and into z.
    chunks: Vec<Chunk>,
    /// Per kernel: k·Ho·Wo, the start of its row of δz.
    k_taps: Vec<usize>,
    /// All Ho·Wo cells in order, for reading δz.
    flat_chunks: Vec<Chunk>,
    /// Sparse backward pass (channels last): the zero-padded input [H+2ph][W+2pw][C], the
    /// weights and their gradient as [K][kh][kw][C], and δ of the padded input. Empty when
    /// the layer's rows are too short for it to pay.
    input_hwc: Vec<f64>,
    weights_hwc: Vec<f64>,
    grad_hwc: Vec<f64>,
    delta_hwc: Vec<f64>,
    /// The non-zero cells of one kernel's δz (sparse pass).
    cells: Vec<(usize, f64)>,
}

impl ConvScratch {
    fn new(conv: &Conv, input_dim: (usize, usize, usize), path: KernelPath) -> Self {
        let (c, h, w) = input_dim;
        let [_, ho, wo] = conv
            .output_shape([c, h, w])
            .expect("geometry is validated when the scenario is loaded");
        let [kh, kw] = conv.kernel_size();
        let [ph, pw] = conv.padding;
        let (k, p, r) = (conv.kernels(), ho * wo, c * kh * kw);
        let fast = path == KernelPath::Avx512;
        let direct = fast && conv.stride == [1, 1];
        let (hp, wp) = (h + 2 * ph, w + 2 * pw);
        let (taps, chunks) = if direct {
            let taps = (0..r)
                .map(|t| {
                    let (ci, u, v) = (t / (kh * kw), (t / kw) % kh, t % kw);
                    (ci * hp + u) * wp + v
                })
                .collect();
            (taps, kernels::row_chunks(ho, wo, wp, wo))
        } else {
            (
                (0..r).map(|t| t * p).collect(),
                kernels::row_chunks(1, p, 0, 0),
            )
        };
        let padded_len = if direct && (ph > 0 || pw > 0) {
            c * hp * wp
        } else {
            0
        };
        let sparse = fast && kw * c >= SPARSE_MIN_ROW;
        let hwc = |n: usize| if sparse { vec![0.0; n] } else { Vec::new() };
        ConvScratch {
            input_hwc: hwc(hp * wp * c),
            weights_hwc: hwc(k * r),
            grad_hwc: hwc(k * r),
            delta_hwc: hwc(hp * wp * c),
            cells: Vec::with_capacity(if sparse { ho * wo } else { 0 }),
            input_dim,
            out_hw: [ho, wo],
            path,
            direct,
            last_backward: BackwardRoute::Products,
            padded: vec![0.0; padded_len],
            cols: if direct { Vec::new() } else { vec![0.0; r * p] },
            weights_t: if fast { vec![0.0; r * k] } else { Vec::new() },
            delta_cols: vec![0.0; r * p],
            taps,
            chunks,
            k_taps: (0..k).map(|ki| ki * p).collect(),
            flat_chunks: kernels::row_chunks(1, p, 0, 0),
        }
    }

    fn cells(&self) -> usize {
        self.out_hw[0] * self.out_hw[1]
    }

    /// The path this layer's products take.
    pub fn path(&self) -> KernelPath {
        self.path
    }

    /// How the last backward pass ran: the dense products, or (on the AVX-512 path, when
    /// max pooling leaves δz sparse) only the non-zero cells of δz.
    pub fn last_backward(&self) -> BackwardRoute {
        self.last_backward
    }

    fn output_shape(&self, conv: &Conv) -> [usize; 3] {
        [conv.kernels(), self.out_hw[0], self.out_hw[1]]
    }

    /// What the taps index: the input itself, its padded copy or the im2col columns.
    fn source<'a>(&'a self, input: &'a [f64]) -> &'a [f64] {
        if !self.direct {
            &self.cols
        } else if self.padded.is_empty() {
            input
        } else {
            &self.padded
        }
    }

    /// Whether the sparse backward pass applies and pays for δz: counts its non-zero cells.
    fn sparse_pays(&self, dz: &[f64]) -> bool {
        if self.input_hwc.is_empty() {
            return false;
        }
        let nonzero = dz.iter().filter(|&&d| d != 0.0).count();
        (nonzero as f64) <= SPARSE_MAX_DENSITY * dz.len() as f64
    }

    /// Copy the input and weights channels last for the sparse pass. False (use the dense
    /// pass) when any of them is not finite: 0·∞ must still give NaN, as in the dense products.
    fn prepare_channels_last(&mut self, conv: &Conv, x: &[f64], w: &[f64]) -> bool {
        let (c, h, wd) = self.input_dim;
        let [ph, pw] = conv.padding;
        let wp = wd + 2 * pw;
        let mut finite = true;
        for (ci, plane) in x.chunks_exact(h * wd).enumerate() {
            for (y, row) in plane.chunks_exact(wd).enumerate() {
                let at = ((y + ph) * wp + pw) * c + ci;
                for (xi, &v) in row.iter().enumerate() {
                    self.input_hwc[at + xi * c] = v;
                    finite &= v.is_finite();
                }
            }
        }
        let [kh, kw] = conv.kernel_size();
        let taps = kh * kw;
        for (kc, plane) in w.chunks_exact(taps).enumerate() {
            let (k, ci) = (kc / c, kc % c);
            for (t, &v) in plane.iter().enumerate() {
                self.weights_hwc[(k * taps + t) * c + ci] = v;
                finite &= v.is_finite();
            }
        }
        finite
    }

    /// ∂L/∂w and δ of the input, visiting only the non-zero cells of δz. Each cell (k, i, j)
    /// adds δ·(its receptive field) to kernel k's gradient and δ·(kernel k) onto its receptive
    /// field in δx: the same sums as the dense products, without the terms that are 0·x.
    fn sparse_backward(
        &mut self,
        conv: &Conv,
        dz: &[f64],
        gw: &mut [f64],
        dx: &mut [f64],
    ) -> BackwardRoute {
        let (c, h, wd) = self.input_dim;
        let [ph, pw] = conv.padding;
        let [kh, kw] = conv.kernel_size();
        let geometry = SparseGeometry {
            kernels: conv.kernels(),
            out_hw: self.out_hw,
            stride: conv.stride,
            kernel: [kh, kw],
            channels: c,
            padded_width: wd + 2 * pw,
        };
        self.grad_hwc.fill(0.0);
        self.delta_hwc.fill(0.0);
        let route = match self.path {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: AVX-512F is present (the path is only chosen where it is supported).
            KernelPath::Avx512 => unsafe {
                sparse_backward_avx512(
                    &geometry,
                    dz,
                    &self.input_hwc,
                    &self.weights_hwc,
                    &mut self.grad_hwc,
                    &mut self.delta_hwc,
                    &mut self.cells,
                )
            },
            _ => {
                sparse_backward_body(
                    &geometry,
                    dz,
                    &self.input_hwc,
                    &self.weights_hwc,
                    &mut self.grad_hwc,
                    &mut self.delta_hwc,
                );
                BackwardRoute::SparseScalar
            }
        };
        let taps = kh * kw;
        for (kc, plane) in gw.chunks_exact_mut(taps).enumerate() {
            let (k, ci) = (kc / c, kc % c);
            for (t, g) in plane.iter_mut().enumerate() {
                *g = self.grad_hwc[(k * taps + t) * c + ci];
            }
        }
        let wp = wd + 2 * pw;
        for (ci, plane) in dx.chunks_exact_mut(h * wd).enumerate() {
            for (y, row) in plane.chunks_exact_mut(wd).enumerate() {
                let at = ((y + ph) * wp + pw) * c + ci;
                for (xi, d) in row.iter_mut().enumerate() {
                    *d = self.delta_hwc[at + xi * c];
                }
            }
        }
        route
    }

    /// Copy what this step reads: the transposed weights and the padded input or columns.
    fn prepare(&mut self, conv: &Conv, x: &[f64]) {
        let (c, h, w) = self.input_dim;
        assert_eq!(
            x.len(),
            c * h * w,
            "input of the shape the scratch was made for"
        );
        if self.path == KernelPath::Avx512 {
            let k = conv.kernels();
            let wm = conv.weights.as_standard_layout();
            let wm = wm.as_slice().expect("standard layout");
            let r = wm.len() / k;
            for (ki, row) in wm.chunks_exact(r).enumerate() {
                for (ri, &v) in row.iter().enumerate() {
                    self.weights_t[ri * k + ki] = v;
                }
            }
        }
        if self.direct {
            if !self.padded.is_empty() {
                let [ph, pw] = conv.padding;
                let (hp, wp) = (h + 2 * ph, w + 2 * pw);
                for (ci, plane) in x.chunks_exact(h * w).enumerate() {
                    for (y, row) in plane.chunks_exact(w).enumerate() {
                        let at = (ci * hp + y + ph) * wp + pw;
                        self.padded[at..at + w].copy_from_slice(row);
                    }
                }
            }
        } else {
            let mut cols = std::mem::take(&mut self.cols);
            conv.im2col_into(x, self.input_dim, self.out_hw, &mut cols);
            self.cols = cols;
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

    /// The layer on `path` whatever its size; the backward pass also says whether it took
    /// the sparse route.
    impl Conv {
        fn forward_on(&self, input: &Array3<f64>, path: KernelPath) -> ConvForward {
            let mut scratch = self.scratch(input.dim(), PathChoice::Force(path));
            let [k, ho, wo] = scratch.output_shape(self);
            let (mut z, mut a) = (Array3::zeros((k, ho, wo)), Array3::zeros((k, ho, wo)));
            self.forward_into(&input.view(), &mut scratch, &mut z, &mut a);
            ConvForward { z, a }
        }

        fn backward_on(
            &self,
            input: &Array3<f64>,
            fwd: &ConvForward,
            delta_a: &Array3<f64>,
            path: KernelPath,
        ) -> (ConvBackward, BackwardRoute) {
            let mut scratch = self.scratch(input.dim(), PathChoice::Force(path));
            scratch.prepare(self, input.as_slice().unwrap());
            let (k, c, kh, kw) = self.weights.dim();
            let mut out = ConvBackward {
                delta_z: Array3::zeros(fwd.z.raw_dim()),
                grad_weights: Array4::zeros((k, c, kh, kw)),
                grad_bias: Array1::zeros(k),
                delta_input: Array3::zeros(input.raw_dim()),
            };
            self.backward_into(
                &input.view(),
                &fwd.z.view(),
                &fwd.a.view(),
                &delta_a.view(),
                &mut scratch,
                &mut out.delta_z,
                &mut out.grad_weights,
                &mut out.grad_bias,
                &mut out.delta_input,
            );
            (out, scratch.last_backward())
        }
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
                                    let cell = self.window().input_cell([h, w], [i, j], [u, v]);
                                    if let Some([y, x]) = cell {
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
                                    let cell = self.window().input_cell([h, w], [i, j], [u, v]);
                                    if let Some([y, x]) = cell {
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

    /// Layers wide enough for the sparse backward pass (kw·C ≥ SPARSE_MIN_ROW), with δ as
    /// sparse as max pooling leaves it: the sparse pass must give the direct loops' numbers,
    /// and must give way to the dense products when an input is not finite. Rows kw·C that
    /// are multiples of 8 run the vector tiles, the others the scalar body.
    #[test]
    fn sparse_backward_equals_the_direct_loops() {
        if !kernels::paths_under_test("sparse_backward_equals_the_direct_loops")
            .contains(&KernelPath::Avx512)
        {
            return;
        }
        let mut next = 11u64;
        let mut rand = move || kernels::test_random(&mut next);
        use BackwardRoute::{SparseScalar, SparseTiles};
        for (c, k, kh, kw, stride, padding, h, w, route) in [
            (8, 4, 3, 3, [1, 1], [1, 1], 9, 7, SparseTiles),
            (16, 3, 3, 3, [1, 1], [0, 0], 8, 8, SparseTiles),
            (8, 5, 5, 5, [1, 1], [0, 0], 12, 12, SparseTiles),
            (8, 2, 2, 3, [2, 2], [1, 1], 9, 10, SparseTiles),
            (8, 3, 3, 2, [1, 2], [0, 1], 9, 10, SparseTiles),
            (8, 3, 2, 2, [3, 1], [1, 0], 11, 6, SparseTiles),
            (6, 2, 3, 3, [1, 1], [1, 1], 5, 6, SparseScalar),
            // Strides per axis on the scalar body (3·6 = 18 values a row: no whole vectors).
            (6, 2, 3, 3, [2, 3], [1, 0], 9, 11, SparseScalar),
            (6, 3, 2, 3, [3, 2], [0, 1], 10, 9, SparseScalar),
            // 5·5·16 / 8 = 50 vectors per receptive field: more than the tiles hold.
            (16, 2, 5, 5, [1, 1], [2, 2], 7, 7, SparseScalar),
            (16, 2, 5, 5, [2, 1], [1, 2], 9, 7, SparseScalar),
        ] {
            for poison in [false, true] {
                let layer = Conv {
                    weights: Array4::from_shape_simple_fn((k, c, kh, kw), &mut rand),
                    bias: Array1::from_shape_simple_fn(k, &mut rand),
                    stride,
                    padding,
                    activation: Activation::Relu,
                };
                let mut input = Array3::from_shape_simple_fn((c, h, w), &mut rand);
                if poison {
                    input[[1, 2, 3]] = f64::INFINITY;
                }
                let [_, ho, wo] = layer.output_shape([c, h, w]).unwrap();
                let mut delta_a = Array3::from_shape_simple_fn((k, ho, wo), &mut rand);
                delta_a.iter_mut().enumerate().for_each(|(i, d)| {
                    if i % 4 != 1 {
                        *d = 0.0
                    }
                });
                let fwd = layer.forward_on(&input, KernelPath::Avx512);
                let (fast, ran) = layer.backward_on(&input, &fwd, &delta_a, KernelPath::Avx512);
                // The sparse route runs exactly when all is finite (0·inf must stay NaN).
                let expected = if poison {
                    BackwardRoute::Products
                } else {
                    route
                };
                assert_eq!(ran, expected, "C={c} {kh}x{kw} poison={poison}");
                let direct = layer.backward_direct(&input, &layer.forward_direct(&input), &delta_a);
                let same = |a: &ndarray::ArrayViewD<f64>, b: &ndarray::ArrayViewD<f64>| {
                    a.shape() == b.shape()
                        && a.iter().zip(b.iter()).all(|(x, y)| {
                            (x.is_nan() && y.is_nan()) || x == y || (x - y).abs() <= 1e-12
                        })
                };
                let label =
                    format!("C={c} K={k} {kh}x{kw} s={stride:?} p={padding:?} poison={poison}");
                assert!(
                    same(
                        &fast.grad_weights.view().into_dyn(),
                        &direct.grad_weights.view().into_dyn()
                    ),
                    "{label}"
                );
                assert!(
                    same(
                        &fast.delta_input.view().into_dyn(),
                        &direct.delta_input.view().into_dyn()
                    ),
                    "{label}"
                );
                assert!(
                    same(
                        &fast.grad_bias.view().into_dyn(),
                        &direct.grad_bias.view().into_dyn()
                    ),
                    "{label}"
                );
            }
        }
    }

    /// A random layer (tanh, so every δ is non-zero), input and δa of the given geometry,
    /// or None when the kernel does not fit.
    #[allow(clippy::too_many_arguments)]
    fn random_case(
        c: usize,
        k: usize,
        h: usize,
        w: usize,
        kh: usize,
        kw: usize,
        stride: [usize; 2],
        padding: [usize; 2],
        seed: u64,
    ) -> Option<(Conv, Array3<f64>, Array3<f64>)> {
        let mut next = seed;
        let mut rand = move || kernels::test_random(&mut next);
        let layer = Conv {
            weights: Array4::from_shape_simple_fn((k, c, kh, kw), &mut rand),
            bias: Array1::from_shape_simple_fn(k, &mut rand),
            stride,
            padding,
            activation: Activation::Tanh,
        };
        let [_, ho, wo] = layer.output_shape([c, h, w])?;
        let input = Array3::from_shape_simple_fn((c, h, w), &mut rand);
        let delta_a = Array3::from_shape_simple_fn((k, ho, wo), &mut rand);
        Some((layer, input, delta_a))
    }

    /// Every tensor of a fast path's forward and backward equals the direct loops' to 1e-12.
    fn equals_direct(
        layer: &Conv,
        input: &Array3<f64>,
        delta_a: &Array3<f64>,
        fast: &ConvForward,
        fast_back: &ConvBackward,
    ) -> Result<(), proptest::test_runner::TestCaseError> {
        let close = |a: &ndarray::ArrayViewD<f64>, b: &ndarray::ArrayViewD<f64>| {
            a.shape() == b.shape() && a.iter().zip(b.iter()).all(|(x, y)| (x - y).abs() <= 1e-12)
        };
        let direct = layer.forward_direct(input);
        proptest::prop_assert!(close(
            &fast.z.view().into_dyn(),
            &direct.z.view().into_dyn()
        ));
        let db = layer.backward_direct(input, &direct, delta_a);
        proptest::prop_assert!(close(
            &fast_back.delta_z.view().into_dyn(),
            &db.delta_z.view().into_dyn()
        ));
        proptest::prop_assert!(close(
            &fast_back.grad_weights.view().into_dyn(),
            &db.grad_weights.view().into_dyn()
        ));
        proptest::prop_assert!(close(
            &fast_back.grad_bias.view().into_dyn(),
            &db.grad_bias.view().into_dyn()
        ));
        proptest::prop_assert!(close(
            &fast_back.delta_input.view().into_dyn(),
            &db.delta_input.view().into_dyn()
        ));
        Ok(())
    }

    use proptest::strategy::Strategy;

    /// Random geometries: channels, kernels, input size, kernel size, strides, paddings.
    fn geometry() -> impl Strategy<
        Value = (
            usize,
            usize,
            usize,
            usize,
            usize,
            usize,
            [usize; 2],
            [usize; 2],
            u64,
        ),
    > {
        (
            (1usize..4, 1usize..4, 1usize..9, 1usize..9),
            (
                1usize..4,
                1usize..4,
                [1usize..3, 1usize..3],
                [0usize..2, 0usize..2],
            ),
            0u64..1000,
        )
            .prop_map(|((c, k, h, w), (kh, kw, stride, padding), seed)| {
                (c, k, h, w, kh, kw, stride, padding, seed)
            })
    }

    /// Every path this CPU has, on random small geometries, against the direct loops. The
    /// layers are below FAST_MIN_MACS, so only a forced path reaches the kernels.
    #[test]
    fn every_path_equals_the_direct_loops() {
        use proptest::test_runner::TestRunner;
        for path in kernels::paths_under_test("every_path_equals_the_direct_loops") {
            TestRunner::default()
                .run(
                    &geometry(),
                    |(c, k, h, w, kh, kw, stride, padding, seed)| {
                        let Some((layer, input, delta_a)) =
                            random_case(c, k, h, w, kh, kw, stride, padding, seed)
                        else {
                            return Ok(());
                        };
                        let scratch = layer.scratch(input.dim(), PathChoice::Force(path));
                        proptest::prop_assert_eq!(scratch.path(), path);
                        let fwd = layer.forward_on(&input, path);
                        let (back, _) = layer.backward_on(&input, &fwd, &delta_a, path);
                        equals_direct(&layer, &input, &delta_a, &fwd, &back)
                    },
                )
                .unwrap_or_else(|e| panic!("the {} path: {e}", path.name()));
        }
    }

    /// What every command does: layers below FAST_MIN_MACS take the portable path, larger
    /// ones the fastest this process has.
    #[test]
    fn the_path_is_chosen_by_size() {
        let small = random_case(2, 2, 8, 8, 3, 3, [1, 1], [0, 0], 1).unwrap().0;
        assert!(small.macs((2, 8, 8)) < kernels::FAST_MIN_MACS);
        assert_eq!(
            small.scratch((2, 8, 8), PathChoice::BySize).path(),
            KernelPath::Portable
        );
        let large = random_case(8, 8, 16, 16, 3, 3, [1, 1], [1, 1], 1)
            .unwrap()
            .0;
        assert!(large.macs((8, 16, 16)) >= kernels::FAST_MIN_MACS);
        assert_eq!(
            large.scratch((8, 16, 16), PathChoice::BySize).path(),
            KernelPath::fastest()
        );
    }
}
