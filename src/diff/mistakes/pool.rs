//! Mistakes in a pool layer: its switches and its backward pass.

use ndarray::{Array3, ArrayD, Axis};

use super::Mistake;
use crate::engine::trace::PoolTrace;
use crate::engine::{Pool, PoolKind, TensorName as N};

const EVERY_CELL: &str = "max-pool δ sent to every cell of the window: only the window's maximum (its switch, kept from the forward pass) gets δ, the other cells get 0";
const TIED_MAXIMA: &str = "max-pool δ sent to every cell equal to the window's maximum (a `window == max` mask): where the maximum is tied, only the first in row-major order gets δ (PyTorch's choice, and this reference's)";

pub(super) fn mistakes(tensor: N, pool: &Pool, t: &PoolTrace) -> Vec<Mistake> {
    let last_max = "max-pool ties are routed to the last maximum; PyTorch (and this reference) send δ to the first maximum in row-major order";
    let mut out = Vec::new();
    match tensor {
        N::DeltaInput => {
            // Only windows that share cells can overwrite each other's δ. (Where none do,
            // the `=` backward writes each cell once and is the correct result bit for bit,
            // which diagnose() skips: so `<=` here would say the same.)
            if pool.stride[0] < pool.size[0] || pool.stride[1] < pool.size[1] {
                out.push(Mistake::new(
                    backward_without_accumulation(pool, t, false).into_dyn(),
                    "overlapping windows overwrite instead of accumulate: a cell in several windows must get the sum of their δ (+=, not =)",
                ));
                if pool.kind == PoolKind::Max {
                    out.push(Mistake::new(
                        backward_without_accumulation(pool, t, true).into_dyn(),
                        "overlapping windows overwrite instead of accumulate, a whole window at a time (`dx[window] = mask · δ`): the zeros of a later window's mask erase the δ an earlier window gave a shared cell; add each window's share (+=)",
                    ));
                }
            }
            match pool.kind {
                PoolKind::Max => {
                    let (_, delta_input) = last_max_wins(pool, t);
                    out.push(Mistake::new(delta_input.into_dyn(), last_max));
                    out.push(Mistake::new(spread(pool, t, |_, _| true), EVERY_CELL));
                    out.push(Mistake::new(spread(pool, t, is_the_max), TIED_MAXIMA));
                }
                PoolKind::L2 => out.push(Mistake::new(
                    l2_not_divided(pool, t).into_dyn(),
                    "L2-pool δ not divided by the window's norm: each cell gets δ·x/‖x‖ (‖x‖ is the pool's output y), not δ·x",
                )),
                PoolKind::Mean => {}
            }
        }
        // Only max pooling has argmax: the trace reader refuses it for the others.
        N::Argmax => {
            let (argmax, _) = last_max_wins(pool, t);
            out.push(Mistake::new(argmax.mapv(|i| i as f64).into_dyn(), last_max));
            out.push(numbered_in_the_window(pool, t));
        }
        _ => {}
    }
    out
}

/// The pool backward with `=` in place of `+=`: later windows overwrite earlier ones. A max
/// pool writes its switch's cell only, or with `whole_window` every cell of the window (its
/// mask times δ, zeros included).
fn backward_without_accumulation(pool: &Pool, t: &PoolTrace, whole_window: bool) -> Array3<f64> {
    let mut delta_input = Array3::zeros(t.input.raw_dim());
    for ((c, i, j), &d) in t.delta_output.indexed_iter() {
        for cell in pool.window(i, j) {
            let weight = pool.routing_weight(t, c, i, j, cell);
            if pool.kind != PoolKind::Max || whole_window || weight != 0.0 {
                delta_input[[c, cell[0], cell[1]]] = d * weight;
            }
        }
    }
    delta_input
}

/// Max pooling where a later equal value takes the switch (`>=` instead of `>`).
fn last_max_wins(pool: &Pool, t: &PoolTrace) -> (Array3<usize>, Array3<f64>) {
    let w = t.input.len_of(Axis(2));
    let mut argmax = Array3::zeros(t.output.raw_dim());
    let mut delta_input = Array3::zeros(t.input.raw_dim());
    for ((c, i, j), &d) in t.delta_output.indexed_iter() {
        let mut best = f64::NEG_INFINITY;
        let mut best_at = [0, 0];
        for cell in pool.window(i, j) {
            let v = t.input[[c, cell[0], cell[1]]];
            if v >= best {
                best = v;
                best_at = cell;
            }
        }
        argmax[[c, i, j]] = best_at[0] * w + best_at[1];
        delta_input[[c, best_at[0], best_at[1]]] += d;
    }
    (argmax, delta_input)
}

/// Each window's δ_output added to every cell of it that `gets(window values, cell value)`.
fn spread(pool: &Pool, t: &PoolTrace, gets: impl Fn(&[f64], f64) -> bool) -> ArrayD<f64> {
    let mut delta_input = Array3::zeros(t.input.raw_dim());
    for ((c, i, j), &d) in t.delta_output.indexed_iter() {
        let cells: Vec<[usize; 2]> = pool.window(i, j).collect();
        let values: Vec<f64> = cells.iter().map(|&[y, x]| t.input[[c, y, x]]).collect();
        for (&[y, x], &value) in cells.iter().zip(&values) {
            if gets(&values, value) {
                delta_input[[c, y, x]] += d;
            }
        }
    }
    delta_input.into_dyn()
}

/// Whether x is its window's maximum (a `window == window.max()` mask).
fn is_the_max(window: &[f64], x: f64) -> bool {
    x == window.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v))
}

/// The L2 backward without its division: δ·x to every cell.
fn l2_not_divided(pool: &Pool, t: &PoolTrace) -> Array3<f64> {
    let mut delta_input = Array3::zeros(t.input.raw_dim());
    for ((c, i, j), &d) in t.delta_output.indexed_iter() {
        for [y, x] in pool.window(i, j) {
            delta_input[[c, y, x]] += d * t.input[[c, y, x]];
        }
    }
    delta_input
}

/// Switches numbered inside their window, u·kw + v (what `np.argmax(window)` gives), instead
/// of h·W + w in the input plane. The message decodes both numberings at the first switch
/// where they differ.
fn numbered_in_the_window(pool: &Pool, t: &PoolTrace) -> Mistake {
    // The switches as the engine keeps them, from this layer's input.
    let plane = pool
        .forward(&t.input)
        .argmax
        .expect("max pooling keeps its switches");
    let w = t.input.len_of(Axis(2));
    let [kh, kw] = pool.size;
    let mut local = Array3::zeros(plane.raw_dim());
    let mut says = String::new();
    for ((c, i, j), &at) in plane.indexed_iter() {
        let (y0, x0) = (i * pool.stride[0], j * pool.stride[1]);
        let (y, x) = (at / w, at % w);
        let inside = (y - y0) * kw + (x - x0);
        local[[c, i, j]] = inside as f64;
        if says.is_empty() && inside != at {
            says = format!(
                "the switches are numbered inside the window, as np.argmax(window) gives: your argmax[{c}, {i}, {j}] = {inside} is position {inside} inside the {kh}×{kw} window at rows {y0}–{}, columns {x0}–{}, i.e. input cell ({y}, {x}); the reference numbers switches in the input plane: h·W + w = {y}·{w} + {x} = {at}",
                y0 + kh - 1,
                x0 + kw - 1
            );
        }
    }
    Mistake::new(local.into_dyn(), says)
}
