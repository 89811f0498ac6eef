//! 2-D pooling (max, mean, L2), no padding, floor mode, forward and backward.
//!
//! Windows that would cross the border are not formed, so cells in no window get δ = 0.
//! Windows may overlap (stride < size); the backward pass then accumulates (`+=`).
//!   max:  y = x[argmax]            δx[argmax] += δy           (first maximum in row-major order wins)
//!   mean: y = Σx / m               δx[cell]   += δy / m       (m = window area)
//!   l2:   y = sqrt(Σx²)            δx[cell]   += δy · x/‖x‖  (0 when ‖x‖ = 0)

use ndarray::Array3;
use serde::{Deserialize, Serialize};

use super::geometry::Window;
use super::trace::PoolTrace;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PoolKind {
    Max,
    Mean,
    L2,
}

impl PoolKind {
    pub fn name(self) -> &'static str {
        match self {
            PoolKind::Max => "max",
            PoolKind::Mean => "mean",
            PoolKind::L2 => "l2",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Pool {
    pub kind: PoolKind,
    /// [h, w]
    pub size: [usize; 2],
    /// [sh, sw]
    pub stride: [usize; 2],
}

#[derive(Clone, Debug, PartialEq)]
pub struct PoolForward {
    pub output: Array3<f64>,
    /// Max pooling only: the switch of each window, as the flat index h·W + w into its
    /// channel's input plane (PyTorch's return_indices convention).
    pub argmax: Option<Array3<usize>>,
}

impl Pool {
    pub fn window_area(&self) -> usize {
        self.size[0] * self.size[1]
    }

    /// Where the windows lie: size and stride, no padding.
    pub fn geometry(&self) -> Window {
        Window {
            size: self.size,
            stride: self.stride,
            padding: [0, 0],
        }
    }

    /// [C, Ho, Wo] for an input of [C, H, W], or None when the window does not fit.
    pub fn output_shape(&self, input: [usize; 3]) -> Option<[usize; 3]> {
        let [ho, wo] = self.geometry().output_hw([input[1], input[2]])?;
        Some([input[0], ho, wo])
    }

    /// The input cells of window (i, j), in row-major order.
    pub fn window(&self, i: usize, j: usize) -> impl Iterator<Item = [usize; 2]> + use<> {
        self.geometry().cells([i, j])
    }

    /// The share of a window's δ that mean pooling sends to each of its cells: 1/m.
    pub fn mean_share(&self) -> f64 {
        1.0 / self.window_area() as f64
    }

    pub fn forward(&self, input: &Array3<f64>) -> PoolForward {
        let (ch, h, w) = input.dim();
        let [_, ho, wo] = self
            .output_shape([ch, h, w])
            .expect("geometry is validated when the scenario is loaded");
        let mut output = Array3::zeros((ch, ho, wo));
        let mut argmax = (self.kind == PoolKind::Max).then(|| Array3::zeros((ch, ho, wo)));
        let input = input.as_standard_layout();
        self.forward_into(
            input.as_slice().expect("standard layout"),
            (ch, h, w),
            output.as_slice_mut().expect("standard layout"),
            argmax
                .as_mut()
                .map(|a| a.as_slice_mut().expect("standard layout")),
        );
        PoolForward { output, argmax }
    }

    /// The forward pass on row-major slices: `input` of shape `dim`, `output` of the output
    /// shape, and for max pooling the switches.
    pub fn forward_into(
        &self,
        input: &[f64],
        dim: (usize, usize, usize),
        output: &mut [f64],
        mut argmax: Option<&mut [usize]>,
    ) {
        let (ch, h, w) = dim;
        let [_, ho, wo] = self
            .output_shape([ch, h, w])
            .expect("geometry is validated when the scenario is loaded");
        let [sh, sw] = self.stride;
        let [kh, kw] = self.size;
        assert_eq!(input.len(), ch * h * w);
        assert_eq!(output.len(), ch * ho * wo);
        let area = self.window_area() as f64;
        for c in 0..ch {
            let plane = &input[c * h * w..(c + 1) * h * w];
            for i in 0..ho {
                let out_row = &mut output[(c * ho + i) * wo..(c * ho + i + 1) * wo];
                let y0 = i * sh;
                match self.kind {
                    PoolKind::Max => {
                        let switches = argmax.as_mut().expect("max pooling keeps its switches");
                        let sw_row = &mut switches[(c * ho + i) * wo..(c * ho + i + 1) * wo];
                        if [kh, kw, sh, sw] == [2, 2, 2, 2] {
                            max_pool_2x2_row(plane, w, y0, out_row, sw_row);
                            continue;
                        }
                        for (j, (out, at)) in out_row.iter_mut().zip(sw_row.iter_mut()).enumerate()
                        {
                            let x0 = j * sw;
                            let mut best_at = y0 * w + x0;
                            let mut best = plane[best_at];
                            for u in 0..kh {
                                let first = (y0 + u) * w + x0;
                                for (v, &value) in plane[first..first + kw].iter().enumerate() {
                                    // Written as selects, not branches: which cell wins is data.
                                    let wins = takes_the_switch(value, best);
                                    best = if wins { value } else { best };
                                    best_at = if wins { first + v } else { best_at };
                                }
                            }
                            *out = best;
                            *at = best_at;
                        }
                    }
                    PoolKind::Mean | PoolKind::L2 => {
                        for (j, out) in out_row.iter_mut().enumerate() {
                            let x0 = j * sw;
                            // From +0.0, as PyTorch: a window of −0.0s averages to +0.0.
                            let mut sum = 0.0;
                            for u in 0..kh {
                                let row = &plane[(y0 + u) * w + x0..(y0 + u) * w + x0 + kw];
                                for &value in row {
                                    sum += if self.kind == PoolKind::Mean {
                                        value
                                    } else {
                                        value.powi(2)
                                    };
                                }
                            }
                            *out = if self.kind == PoolKind::Mean {
                                sum / area
                            } else {
                                sum.sqrt()
                            };
                        }
                    }
                }
            }
        }
    }

    /// The weight with which δ of window (i, j) reaches input cell `cell` of channel c:
    /// 1 or 0 for max (the switch), 1/m for mean, x/‖x‖ for L2 (0 for a zero window). The
    /// rule of [`Pool::backward_into`], one cell at a time, for explanations and diagnoses.
    pub fn routing_weight(
        &self,
        t: &PoolTrace,
        c: usize,
        i: usize,
        j: usize,
        cell: [usize; 2],
    ) -> f64 {
        let w = t.input.dim().2;
        match self.kind {
            PoolKind::Max => {
                let switch = t.argmax.as_ref().expect("max pooling keeps its switches")[[c, i, j]];
                if switch == cell[0] * w + cell[1] {
                    1.0
                } else {
                    0.0
                }
            }
            PoolKind::Mean => self.mean_share(),
            PoolKind::L2 => l2_routed(1.0, t.input[[c, cell[0], cell[1]]], t.output[[c, i, j]]),
        }
    }

    /// The δ that window (i, j) of channel c sends to input cell `cell` in the backward pass
    /// (before the windows that contain the cell are summed): δy·switch, δy/m, or δy·x/‖x‖.
    pub fn routed_delta(
        &self,
        t: &PoolTrace,
        c: usize,
        i: usize,
        j: usize,
        cell: [usize; 2],
    ) -> f64 {
        let d = t.delta_output[[c, i, j]];
        match self.kind {
            PoolKind::Max => {
                if self.routing_weight(t, c, i, j, cell) == 1.0 {
                    d
                } else {
                    0.0
                }
            }
            PoolKind::Mean => d * self.mean_share(),
            PoolKind::L2 => l2_routed(d, t.input[[c, cell[0], cell[1]]], t.output[[c, i, j]]),
        }
    }

    /// The routing weights summed over the windows that contain each input cell (max: how
    /// many windows the cell wins; mean: count/m; L2: Σ x/‖x‖), and whether the cell lies in
    /// any window at all (floor mode leaves border cells out).
    pub fn routing_mask(&self, t: &PoolTrace) -> (Array3<f64>, Array3<bool>) {
        let (ch, _, _) = t.input.dim();
        let (_, ho, wo) = t.output.dim();
        let mut mask = Array3::zeros(t.input.raw_dim());
        let mut covered = Array3::from_elem(t.input.raw_dim(), false);
        for c in 0..ch {
            for i in 0..ho {
                for j in 0..wo {
                    for cell in self.window(i, j) {
                        covered[[c, cell[0], cell[1]]] = true;
                        mask[[c, cell[0], cell[1]]] += self.routing_weight(t, c, i, j, cell);
                    }
                }
            }
        }
        (mask, covered)
    }

    pub fn backward(
        &self,
        input: &Array3<f64>,
        fwd: &PoolForward,
        delta_output: &Array3<f64>,
    ) -> Array3<f64> {
        let mut delta_input = Array3::zeros(input.raw_dim());
        let input = input.as_standard_layout();
        let output = fwd.output.as_standard_layout();
        let argmax = fwd.argmax.as_ref().map(|a| a.as_standard_layout());
        let delta_output = delta_output.as_standard_layout();
        self.backward_into(
            input.as_slice().expect("standard layout"),
            input.dim(),
            output.as_slice().expect("standard layout"),
            argmax
                .as_ref()
                .map(|a| a.as_slice().expect("standard layout")),
            delta_output.as_slice().expect("standard layout"),
            delta_input.as_slice_mut().expect("standard layout"),
        );
        delta_input
    }

    /// The backward pass on row-major slices (see [`Pool::forward_into`]).
    pub fn backward_into(
        &self,
        input: &[f64],
        dim: (usize, usize, usize),
        output: &[f64],
        argmax: Option<&[usize]>,
        delta_output: &[f64],
        delta_input: &mut [f64],
    ) {
        let (ch, h, w) = dim;
        let [_, ho, wo] = self
            .output_shape([ch, h, w])
            .expect("geometry is validated when the scenario is loaded");
        let [sh, sw] = self.stride;
        let [kh, kw] = self.size;
        assert_eq!(delta_input.len(), ch * h * w);
        assert_eq!(delta_output.len(), ch * ho * wo);
        delta_input.fill(0.0);
        let share = self.mean_share();
        for c in 0..ch {
            let plane = c * h * w;
            for i in 0..ho {
                for j in 0..wo {
                    let o = (c * ho + i) * wo + j;
                    let d = delta_output[o];
                    match self.kind {
                        PoolKind::Max => {
                            let switch = argmax.expect("max pooling keeps its switches")[o];
                            delta_input[plane + switch] += d;
                        }
                        PoolKind::Mean => {
                            for u in 0..kh {
                                let at = plane + (i * sh + u) * w + j * sw;
                                for cell in &mut delta_input[at..at + kw] {
                                    *cell += d * share;
                                }
                            }
                        }
                        PoolKind::L2 => {
                            let norm = output[o];
                            for u in 0..kh {
                                let at = plane + (i * sh + u) * w + j * sw;
                                for (cell, &x) in
                                    delta_input[at..at + kw].iter_mut().zip(&input[at..at + kw])
                                {
                                    *cell += l2_routed(d, x, norm);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Whether a cell of a max window, scanned in row-major order, takes the switch from the
/// best so far: only if strictly greater, or NaN (PyTorch's rule: the first maximum wins
/// ties, and NaN wins over any number).
#[inline(always)]
fn takes_the_switch(value: f64, best: f64) -> bool {
    value > best || value.is_nan()
}

/// The δ an L2 window of norm ‖x‖ sends to its cell x: δ·(x/‖x‖), and exactly 0 for an
/// all-zero window whatever δ is (no gradient: 0·inf would be NaN).
#[inline(always)]
fn l2_routed(d: f64, x: f64, norm: f64) -> f64 {
    if norm == 0.0 { 0.0 } else { d * (x / norm) }
}

/// One output row of 2×2 max pooling with stride 2, the common case, without branches on the
/// data: rows y0 and y0 + 1 of `plane` (width `w`) into `out` and `switches`.
fn max_pool_2x2_row(plane: &[f64], w: usize, y0: usize, out: &mut [f64], switches: &mut [usize]) {
    let top = &plane[y0 * w..(y0 + 1) * w];
    let bottom = &plane[(y0 + 1) * w..(y0 + 2) * w];
    for (j, ((out, at), (t, b))) in out
        .iter_mut()
        .zip(switches.iter_mut())
        .zip(top.chunks_exact(2).zip(bottom.chunks_exact(2)))
        .enumerate()
    {
        // Row-major order: top left, top right, bottom left, bottom right.
        let mut best = t[0];
        let mut which = 0;
        for (k, &value) in [t[1], b[0], b[1]].iter().enumerate() {
            let wins = takes_the_switch(value, best);
            best = if wins { value } else { best };
            which = if wins { k + 1 } else { which };
        }
        *out = best;
        *at = (y0 + which / 2) * w + 2 * j + which % 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn pool(kind: PoolKind, size: usize, stride: usize) -> Pool {
        Pool {
            kind,
            size: [size, size],
            stride: [stride, stride],
        }
    }

    #[test]
    fn mean_pool_routes_delta_divided_by_window_area() {
        let p = pool(PoolKind::Mean, 2, 2);
        let x = array![[[1.0, 2.0], [3.0, 4.0]]];
        let f = p.forward(&x);
        assert_eq!(f.output, array![[[2.5]]]);
        assert_eq!(
            p.backward(&x, &f, &array![[[1.0]]]),
            array![[[0.25, 0.25], [0.25, 0.25]]]
        );
    }

    /// PyTorch float64: avg_pool2d and lp_pool2d(2) of a window of −0.0s print 0., not −0.
    #[test]
    fn a_window_of_negative_zeros_pools_to_positive_zero_as_in_pytorch() {
        let x = Array3::from_elem((1, 2, 2), -0.0);
        for kind in [PoolKind::Mean, PoolKind::L2] {
            let out = pool(kind, 2, 2).forward(&x).output[[0, 0, 0]];
            assert!(out == 0.0 && out.is_sign_positive(), "{kind:?}: {out:?}");
        }
    }

    #[test]
    fn max_pool_ties_go_to_the_first_cell_and_overlaps_accumulate() {
        let p = pool(PoolKind::Max, 2, 1);
        let x = array![[[5.0, 5.0, 1.0], [0.0, 5.0, 1.0]]];
        let f = p.forward(&x);
        assert_eq!(f.argmax.clone().unwrap(), array![[[0, 1]]]);
        let d = p.backward(&x, &f, &array![[[1.0, 2.0]]]);
        assert_eq!(d, array![[[1.0, 2.0, 0.0], [0.0, 0.0, 0.0]]]);
        // Same window twice: both windows pick cell 1 and δ accumulates there.
        let x = array![[[0.0, 9.0, 0.0], [0.0, 0.0, 0.0]]];
        let f = p.forward(&x);
        assert_eq!(
            p.backward(&x, &f, &array![[[1.0, 2.0]]]),
            array![[[0.0, 3.0, 0.0], [0.0, 0.0, 0.0]]]
        );
    }

    /// PyTorch's rule in both max-pool loops (the 2×2 stride-2 one and the general one): a
    /// later cell takes the switch only if strictly greater or NaN, so the first of equal
    /// maxima wins, and NaN (the last one, if several) wins over any number.
    #[test]
    fn max_pool_switches_follow_pytorch_for_ties_and_nan() {
        let nan = f64::NAN;
        // Each row: a 2×2 window in row-major order, and the switch PyTorch picks.
        let cases: [([f64; 4], usize); 6] = [
            ([1.0, 3.0, 3.0, 2.0], 1),
            ([5.0, 5.0, 5.0, 5.0], 0),
            ([1.0, nan, 9.0, 2.0], 1),
            ([nan, 9.0, 1.0, 2.0], 0),
            ([1.0, nan, nan, 2.0], 2),
            ([f64::NEG_INFINITY, -1e308, 0.0, f64::INFINITY], 3),
        ];
        for (values, switch) in cases {
            let x = Array3::from_shape_vec((1, 2, 2), values.to_vec()).unwrap();
            let big = Array3::from_shape_fn((1, 3, 3), |(_, y, xx)| {
                if y < 2 && xx < 2 {
                    values[y * 2 + xx]
                } else {
                    -1e300
                }
            });
            for (pool, input, width) in [
                (pool(PoolKind::Max, 2, 2), &x, 2),
                // 2×2 with stride 1 takes the general loop; window (0, 0) is the same cells.
                (pool(PoolKind::Max, 2, 1), &big, 3),
            ] {
                let f = pool.forward(input);
                let at = f.argmax.as_ref().unwrap()[[0, 0, 0]];
                let expected = (switch / 2) * width + switch % 2;
                assert_eq!(at, expected, "{values:?} with stride {:?}", pool.stride);
                let y = f.output[[0, 0, 0]];
                let v = values[switch];
                assert!(y == v || (y.is_nan() && v.is_nan()), "{values:?}: max {y}");
            }
        }
    }

    #[test]
    fn l2_pool_gradient_is_x_over_norm_and_zero_for_a_zero_window() {
        let p = pool(PoolKind::L2, 2, 2);
        let x = array![[[3.0, 0.0, 0.0, 0.0], [4.0, 0.0, 0.0, 0.0]]];
        let f = p.forward(&x);
        assert_eq!(f.output, array![[[5.0, 0.0]]]);
        let d = p.backward(&x, &f, &array![[[10.0, 7.0]]]);
        assert_eq!(d, array![[[6.0, 0.0, 0.0, 0.0], [8.0, 0.0, 0.0, 0.0]]]);
    }

    /// The reference (tools/torch_reference.py) passes exactly 0 to a zero window's cells,
    /// also when its δ is inf or NaN; a window of norm inf passes δ·x/inf = 0 to finite
    /// cells and NaN to an infinite one.
    #[test]
    fn a_zero_l2_window_passes_zero_even_for_a_non_finite_delta() {
        let p = pool(PoolKind::L2, 2, 2);
        let x = array![[
            [0.0, 0.0, 0.0, 0.0, 3.0, f64::INFINITY],
            [0.0, 0.0, 0.0, 0.0, 4.0, 1.0]
        ]];
        let f = p.forward(&x);
        assert_eq!(f.output, array![[[0.0, 0.0, f64::INFINITY]]]);
        let d = p.backward(&x, &f, &array![[[f64::INFINITY, f64::NAN, 2.0]]]);
        let expected = [
            [0.0, 0.0, 0.0, 0.0, 0.0, f64::NAN],
            [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        ];
        for (got, want) in d.iter().zip(expected.iter().flatten()) {
            assert!(got == want || got.is_nan() && want.is_nan(), "{d}");
        }
    }

    #[test]
    fn floor_mode_leaves_border_cells_without_gradient() {
        let p = pool(PoolKind::Mean, 2, 2);
        let x = Array3::from_elem((1, 3, 3), 1.0);
        let f = p.forward(&x);
        assert_eq!(f.output.dim(), (1, 1, 1));
        let d = p.backward(&x, &f, &array![[[4.0]]]);
        assert_eq!(
            d,
            array![[[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 0.0]]]
        );
    }
}
