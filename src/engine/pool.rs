//! 2-D pooling (max, mean, L2), no padding, floor mode, forward and backward.
//!
//! Windows that would cross the border are not formed, so cells in no window get δ = 0.
//! Windows may overlap (stride < size); the backward pass then accumulates (`+=`).
//!   max:  y = x[argmax]            δx[argmax] += δy           (first maximum in row-major order wins)
//!   mean: y = Σx / m               δx[cell]   += δy / m       (m = window area)
//!   l2:   y = sqrt(Σx²)            δx[cell]   += δy · x/‖x‖  (0 when ‖x‖ = 0)

use ndarray::Array3;
use serde::{Deserialize, Serialize};

use super::conv::window_count;

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

    /// [C, Ho, Wo] for an input of [C, H, W], or None when the window does not fit.
    pub fn output_shape(&self, input: [usize; 3]) -> Option<[usize; 3]> {
        let ho = window_count(input[1], 0, self.size[0], self.stride[0])?;
        let wo = window_count(input[2], 0, self.size[1], self.stride[1])?;
        Some([input[0], ho, wo])
    }

    /// The input cells of window (i, j), in row-major order.
    pub fn window(&self, i: usize, j: usize) -> impl Iterator<Item = [usize; 2]> + use<> {
        let (y0, x0) = (i * self.stride[0], j * self.stride[1]);
        let [h, w] = self.size;
        (0..h).flat_map(move |u| (0..w).map(move |v| [y0 + u, x0 + v]))
    }

    pub fn forward(&self, input: &Array3<f64>) -> PoolForward {
        let (ch, h, w) = input.dim();
        let [_, ho, wo] = self
            .output_shape([ch, h, w])
            .expect("geometry is validated when the scenario is loaded");
        let mut output = Array3::zeros((ch, ho, wo));
        let mut argmax = (self.kind == PoolKind::Max).then(|| Array3::zeros((ch, ho, wo)));
        for c in 0..ch {
            for i in 0..ho {
                for j in 0..wo {
                    output[[c, i, j]] = match self.kind {
                        PoolKind::Max => {
                            let mut best = f64::NEG_INFINITY;
                            let mut best_at = None;
                            for [y, x] in self.window(i, j) {
                                let v = input[[c, y, x]];
                                // PyTorch: a later cell wins only if strictly greater, or NaN.
                                if best_at.is_none() || v > best || v.is_nan() {
                                    best = v;
                                    best_at = Some(y * w + x);
                                }
                            }
                            if let Some(switches) = argmax.as_mut() {
                                switches[[c, i, j]] = best_at.expect("windows are non-empty");
                            }
                            best
                        }
                        PoolKind::Mean => {
                            self.window(i, j)
                                .map(|[y, x]| input[[c, y, x]])
                                .sum::<f64>()
                                / self.window_area() as f64
                        }
                        PoolKind::L2 => self
                            .window(i, j)
                            .map(|[y, x]| input[[c, y, x]].powi(2))
                            .sum::<f64>()
                            .sqrt(),
                    };
                }
            }
        }
        PoolForward { output, argmax }
    }

    /// The weight with which δ of window (i, j) reaches input cell (y, x) of channel c:
    /// 1 or 0 for max (the switch), 1/m for mean, x/‖x‖ for L2 (0 for a zero window).
    pub fn routing_weight(
        &self,
        input: &Array3<f64>,
        fwd: &PoolForward,
        c: usize,
        i: usize,
        j: usize,
        cell: [usize; 2],
    ) -> f64 {
        let w = input.dim().2;
        match self.kind {
            PoolKind::Max => {
                let switch =
                    fwd.argmax.as_ref().expect("max pooling keeps its switches")[[c, i, j]];
                if switch == cell[0] * w + cell[1] {
                    1.0
                } else {
                    0.0
                }
            }
            PoolKind::Mean => 1.0 / self.window_area() as f64,
            PoolKind::L2 => {
                let norm = fwd.output[[c, i, j]];
                if norm == 0.0 {
                    0.0
                } else {
                    input[[c, cell[0], cell[1]]] / norm
                }
            }
        }
    }

    pub fn backward(
        &self,
        input: &Array3<f64>,
        fwd: &PoolForward,
        delta_output: &Array3<f64>,
    ) -> Array3<f64> {
        let (ch, _, w) = input.dim();
        let (_, ho, wo) = fwd.output.dim();
        let mut delta_input = Array3::zeros(input.raw_dim());
        for c in 0..ch {
            for i in 0..ho {
                for j in 0..wo {
                    let d = delta_output[[c, i, j]];
                    match self.kind {
                        PoolKind::Max => {
                            let switch =
                                fwd.argmax.as_ref().expect("max pooling keeps its switches")
                                    [[c, i, j]];
                            delta_input[[c, switch / w, switch % w]] += d;
                        }
                        PoolKind::Mean | PoolKind::L2 => {
                            for cell in self.window(i, j) {
                                delta_input[[c, cell[0], cell[1]]] +=
                                    d * self.routing_weight(input, fwd, c, i, j, cell);
                            }
                        }
                    }
                }
            }
        }
        delta_input
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

    #[test]
    fn l2_pool_gradient_is_x_over_norm_and_zero_for_a_zero_window() {
        let p = pool(PoolKind::L2, 2, 2);
        let x = array![[[3.0, 0.0, 0.0, 0.0], [4.0, 0.0, 0.0, 0.0]]];
        let f = p.forward(&x);
        assert_eq!(f.output, array![[[5.0, 0.0]]]);
        let d = p.backward(&x, &f, &array![[[10.0, 7.0]]]);
        assert_eq!(d, array![[[6.0, 0.0, 0.0, 0.0], [8.0, 0.0, 0.0, 0.0]]]);
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
