//! Mistakes in a pool layer: its switches and its backward pass.

use ndarray::{Array3, Axis};

use super::Mistake;
use crate::engine::trace::PoolTrace;
use crate::engine::{Pool, PoolKind, TensorName as N};

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
                    backward_without_accumulation(pool, t).into_dyn(),
                    "overlapping windows overwrite instead of accumulate: a cell in several windows must get the sum of their δ (+=, not =)",
                ));
            }
            if pool.kind == PoolKind::Max {
                let (_, delta_input) = last_max_wins(pool, t);
                out.push(Mistake::new(delta_input.into_dyn(), last_max));
            }
        }
        // Only max pooling has argmax: the trace reader refuses it for the others.
        N::Argmax => {
            let (argmax, _) = last_max_wins(pool, t);
            out.push(Mistake::new(argmax.mapv(|i| i as f64).into_dyn(), last_max));
        }
        _ => {}
    }
    out
}

/// The pool backward with `=` in place of `+=`: later windows overwrite earlier ones.
fn backward_without_accumulation(pool: &Pool, t: &PoolTrace) -> Array3<f64> {
    let mut delta_input = Array3::zeros(t.input.raw_dim());
    for ((c, i, j), &d) in t.delta_output.indexed_iter() {
        for cell in pool.window(i, j) {
            let weight = pool.routing_weight(t, c, i, j, cell);
            if pool.kind != PoolKind::Max || weight != 0.0 {
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
