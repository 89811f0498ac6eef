//! Sliding windows: where a conv kernel or a pool window lies on its input, and which
//! windows read a given input cell. The index arithmetic of conv and pool layers, written
//! once for the layers, the explanations and the diagnoses.
//!
//! Window (i, j) covers padded rows i·sh … i·sh + kh − 1 and columns j·sw … j·sw + kw − 1;
//! tap (u, v) of it reads input cell (i·sh + u − ph, j·sw + v − pw), or the zero padding.
//! Floor mode: only windows that fit entirely are formed.

/// Output length of a sliding window along one axis, or None when no window fits.
pub fn window_count(input: usize, padding: usize, window: usize, stride: usize) -> Option<usize> {
    let padded = input + 2 * padding;
    if window == 0 || stride == 0 || padded < window {
        None
    } else {
        Some((padded - window) / stride + 1)
    }
}

/// A window sliding over a plane: its size, stride and zero padding, each as [rows, columns].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub size: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
}

impl Window {
    /// [Ho, Wo] of an input plane of `input_hw`, or None when no window fits.
    pub fn output_hw(&self, input_hw: [usize; 2]) -> Option<[usize; 2]> {
        Some([
            window_count(input_hw[0], self.padding[0], self.size[0], self.stride[0])?,
            window_count(input_hw[1], self.padding[1], self.size[1], self.stride[1])?,
        ])
    }

    /// The input cell under tap `tap` of window `out`, or None where it falls in the padding.
    pub fn input_cell(
        &self,
        input_hw: [usize; 2],
        out: [usize; 2],
        tap: [usize; 2],
    ) -> Option<[usize; 2]> {
        let y = (out[0] * self.stride[0] + tap[0]).checked_sub(self.padding[0])?;
        let x = (out[1] * self.stride[1] + tap[1]).checked_sub(self.padding[1])?;
        (y < input_hw[0] && x < input_hw[1]).then_some([y, x])
    }

    /// The cells of window `out` in row-major order, for windows without padding (pools).
    pub fn cells(&self, out: [usize; 2]) -> impl Iterator<Item = [usize; 2]> + use<> {
        let (y0, x0) = (out[0] * self.stride[0], out[1] * self.stride[1]);
        let [h, w] = self.size;
        (0..h).flat_map(move |u| (0..w).map(move |v| [y0 + u, x0 + v]))
    }

    /// Every (window, tap) that reads input cell `cell`, for an output of `out_hw`: tap rows
    /// ascending, then tap columns ascending (so windows come bottom-right first). With a
    /// stride, taps that fall between windows read nothing and are skipped: this is the
    /// stride-dilated full convolution read cell by cell.
    pub fn taps_reaching(
        &self,
        cell: [usize; 2],
        out_hw: [usize; 2],
    ) -> impl Iterator<Item = ([usize; 2], [usize; 2])> + use<> {
        let rows = axis_taps(
            cell[0] + self.padding[0],
            self.size[0],
            self.stride[0],
            out_hw[0],
        );
        let cols = axis_taps(
            cell[1] + self.padding[1],
            self.size[1],
            self.stride[1],
            out_hw[1],
        );
        rows.flat_map(move |(u, i)| cols.clone().map(move |(v, j)| ([i, j], [u, v])))
    }

    /// The windows that contain input cell `cell`, in row-major order of the windows.
    pub fn windows_containing(&self, cell: [usize; 2], out_hw: [usize; 2]) -> Vec<[usize; 2]> {
        let mut windows: Vec<[usize; 2]> = self
            .taps_reaching(cell, out_hw)
            .map(|(window, _)| window)
            .collect();
        windows.reverse();
        windows
    }
}

/// Along one axis: each tap t (ascending) with the window i that reads padded position `p`
/// through it (p = i·stride + t), for windows i < `outputs`.
fn axis_taps(
    p: usize,
    size: usize,
    stride: usize,
    outputs: usize,
) -> impl Iterator<Item = (usize, usize)> + Clone + use<> {
    (0..size.min(p + 1)).filter_map(move |t| {
        let start = p - t;
        (start.is_multiple_of(stride) && start / stride < outputs).then_some((t, start / stride))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_count_is_floor_mode() {
        assert_eq!(window_count(7, 0, 2, 2), Some(3));
        assert_eq!(window_count(5, 1, 3, 2), Some(3));
        assert_eq!(window_count(2, 0, 3, 1), None);
        assert_eq!(window_count(4, 0, 0, 1), None);
        assert_eq!(window_count(4, 0, 2, 0), None);
    }

    /// taps_reaching and windows_containing against a scan of every window and tap.
    #[test]
    fn taps_reaching_a_cell_are_exactly_the_taps_that_read_it() {
        for size in [[1, 1], [2, 3], [3, 2], [3, 3]] {
            for stride in [[1, 1], [2, 1], [1, 3], [2, 2]] {
                for padding in [[0, 0], [1, 0], [0, 2], [1, 1]] {
                    let window = Window {
                        size,
                        stride,
                        padding,
                    };
                    let input = [5, 6];
                    let Some(out) = window.output_hw(input) else {
                        continue;
                    };
                    for y in 0..input[0] {
                        for x in 0..input[1] {
                            let mut scan = Vec::new();
                            for u in 0..size[0] {
                                for v in 0..size[1] {
                                    for i in (0..out[0]).rev() {
                                        for j in (0..out[1]).rev() {
                                            if window.input_cell(input, [i, j], [u, v])
                                                == Some([y, x])
                                            {
                                                scan.push(([i, j], [u, v]));
                                            }
                                        }
                                    }
                                }
                            }
                            let got: Vec<_> = window.taps_reaching([y, x], out).collect();
                            assert_eq!(got, scan, "{window:?} cell {y},{x}");
                            let mut windows: Vec<_> = scan.iter().map(|(w, _)| *w).collect();
                            windows.sort();
                            assert_eq!(window.windows_containing([y, x], out), windows);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn a_window_without_padding_lists_its_cells_row_by_row() {
        let pool = Window {
            size: [2, 3],
            stride: [2, 1],
            padding: [0, 0],
        };
        let cells: Vec<_> = pool.cells([1, 2]).collect();
        assert_eq!(cells, vec![[2, 2], [2, 3], [2, 4], [3, 2], [3, 3], [3, 4]]);
    }
}
