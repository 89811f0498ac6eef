//! Central-difference gradient check of every weight, bias and input cell, for one step.
//!
//! For each cell θ: numeric = (L(θ + h) − L(θ − h)) / 2h, compared with the analytic
//! gradient from the backward pass. A cell agrees when |analytic − numeric| ≤ tol or
//! |analytic − numeric| / max(|analytic|, |numeric|) ≤ tol. A cell whose perturbation moves
//! some ReLU across 0, changes a max-pool switch or touches an L2 window of norm 0 sits on a
//! kink, where the loss is not differentiable: it is reported by name, not judged.
//!
//! Sampling: a tensor of at most [`SAMPLE_ALL_UP_TO`] cells is checked in every cell. A larger
//! one is checked in [`DEFAULT_SAMPLE`] cells (by default; `--all` checks every cell): the
//! [`SAMPLE_LARGEST`] cells with the largest analytic gradient, where an error shows most,
//! and the rest drawn uniformly without replacement by ChaCha8 seeded with [`SAMPLE_SEED`]
//! plus the tensor's index, so the same scenario always checks the same cells.
//!
//! Each probe reruns the forward pass only from the layer whose tensor it perturbs.

use ndarray::{ArrayD, ArrayViewMutD};
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

use crate::engine::{Activation, LayerKind, LayerTrace, Model, PoolKind};

pub const DEFAULT_TOLERANCE: f64 = 1e-6;
pub const DEFAULT_STEP: f64 = 1e-6;
/// Tensors with at most this many cells are checked in every cell.
pub const SAMPLE_ALL_UP_TO: usize = 512;
/// How many cells of a larger tensor are checked by default.
pub const DEFAULT_SAMPLE: usize = 256;
/// Of those, how many are the cells with the largest |analytic gradient|.
pub const SAMPLE_LARGEST: usize = 32;
pub const SAMPLE_SEED: u64 = 0x5eed;
/// The max relative error column covers gradients at least this large; for smaller ones
/// the relative error is rounding noise of the difference quotient (such cells are still
/// judged, by their absolute error).
pub const REL_ERROR_FLOOR: f64 = 1e-7;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CheckOptions {
    pub tolerance: f64,
    /// The finite-difference step h.
    pub step: f64,
    /// Cells checked in a tensor of more than [`SAMPLE_ALL_UP_TO`] cells; None checks all.
    pub sample: Option<usize>,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            tolerance: DEFAULT_TOLERANCE,
            step: DEFAULT_STEP,
            sample: Some(DEFAULT_SAMPLE),
        }
    }
}

/// Which tensor of the model a check is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Input,
    Weights(usize),
    Bias(usize),
}

#[derive(Clone, Debug, PartialEq)]
pub struct CellCheck {
    pub index: Vec<usize>,
    pub analytic: f64,
    pub numeric: f64,
}

impl CellCheck {
    pub fn abs_error(&self) -> f64 {
        (self.analytic - self.numeric).abs()
    }
    /// |a − n| / max(|a|, |n|), or 0 when both are 0.
    pub fn rel_error(&self) -> f64 {
        let scale = self.analytic.abs().max(self.numeric.abs());
        if scale == 0.0 {
            0.0
        } else {
            self.abs_error() / scale
        }
    }
    pub fn agrees(&self, tolerance: f64) -> bool {
        self.abs_error() <= tolerance || self.rel_error() <= tolerance
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Kink {
    pub cell: CellCheck,
    /// What changes between θ − h, θ and θ + h, e.g. "conv1.z[0, 2, 3] crosses 0 (relu kink)".
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TensorCheck {
    /// "input", or "conv1.weights", "dense1.bias", …
    pub label: String,
    pub target: Target,
    /// Index of the layer the tensor belongs to (the first layer for the input).
    pub layer: usize,
    /// Cells checked.
    pub cells: usize,
    /// Cells in the tensor (more than `cells` when sampled).
    pub total: usize,
    pub max_abs_error: f64,
    pub max_rel_error: f64,
    /// Cells that disagree beyond the tolerance, worst first.
    pub failures: Vec<CellCheck>,
    pub kinks: Vec<Kink>,
}

impl TensorCheck {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct CheckReport {
    pub options: CheckOptions,
    pub loss: f64,
    pub tensors: Vec<TensorCheck>,
}

impl CheckReport {
    pub fn passed(&self) -> bool {
        self.tensors.iter().all(TensorCheck::passed)
    }
}

/// The first discrete choice, from layer `first` on, that differs between the base forward
/// pass and a perturbed one: the linear piece of a piecewise activation, a max-pool switch,
/// or whether an L2 window has norm 0. While these stay the same, the loss is smooth in
/// every parameter. Returns (layer, reason).
fn kink_reason(
    model: &Model,
    base: &[(String, LayerTrace)],
    probe: &[(String, LayerTrace)],
    first: usize,
) -> Option<(usize, String)> {
    for index in first..model.layers.len() {
        let layer = &model.layers[index];
        let name = &layer.name;
        let reason = match (&layer.kind, &base[index].1, &probe[index].1) {
            (LayerKind::Conv(c), LayerTrace::Conv(a), LayerTrace::Conv(b))
                if piecewise(c.activation) =>
            {
                first_piece_diff(
                    a.z.as_slice().expect("standard layout"),
                    b.z.as_slice().expect("standard layout"),
                )
                .map(|i| (a.z.shape().to_vec(), i, Reason::Piece))
            }
            (LayerKind::Dense(d), LayerTrace::Dense(a), LayerTrace::Dense(b))
                if piecewise(d.activation) =>
            {
                first_piece_diff(
                    a.z.as_slice().expect("standard layout"),
                    b.z.as_slice().expect("standard layout"),
                )
                .map(|i| (a.z.shape().to_vec(), i, Reason::Piece))
            }
            (LayerKind::Pool(p), LayerTrace::Pool(a), LayerTrace::Pool(b)) => match p.kind {
                PoolKind::Max => match (&a.argmax, &b.argmax) {
                    (Some(x), Some(y)) if x != y => {
                        first_diff(x.iter().zip(y.iter()).map(|(u, v)| u != v))
                            .map(|i| (x.shape().to_vec(), i, Reason::Switch))
                    }
                    _ => None,
                },
                PoolKind::L2 => first_diff(
                    a.output
                        .iter()
                        .zip(b.output.iter())
                        .map(|(x, y)| (*x == 0.0) != (*y == 0.0)),
                )
                .map(|i| (a.output.shape().to_vec(), i, Reason::ZeroWindow)),
                PoolKind::Mean => None,
            },
            _ => None,
        };
        if let Some((shape, i, why)) = reason {
            let cell = cell_label(&shape, i);
            return Some((
                index,
                match why {
                    Reason::Piece => format!("{name}.z{cell} crosses 0 (the ReLU kink)"),
                    Reason::Switch => {
                        format!("the switch of {name} window {cell} moves (a max-pool tie)")
                    }
                    Reason::ZeroWindow => {
                        format!("{name} window {cell} has norm 0, where √ is not differentiable")
                    }
                },
            ));
        }
    }
    None
}

fn first_diff(mut differs: impl Iterator<Item = bool>) -> Option<usize> {
    differs.position(|d| d)
}

/// The first cell whose linear piece (sign: +, − or 0) differs between `a` and `b`. Scans in
/// blocks without early exits inside a block, so that the comparison runs in vector registers.
fn first_piece_diff(a: &[f64], b: &[f64]) -> Option<usize> {
    let differs = |x: f64, y: f64| ((x > 0.0) != (y > 0.0)) | ((x < 0.0) != (y < 0.0));
    for (block, (xa, xb)) in a.chunks(64).zip(b.chunks(64)).enumerate() {
        let any = xa
            .iter()
            .zip(xb)
            .fold(false, |acc, (&x, &y)| acc | differs(x, y));
        if any {
            let i = xa.iter().zip(xb).position(|(&x, &y)| differs(x, y));
            return i.map(|i| block * 64 + i);
        }
    }
    None
}

enum Reason {
    Piece,
    Switch,
    ZeroWindow,
}

fn piecewise(activation: Activation) -> bool {
    matches!(activation, Activation::Relu | Activation::LeakyRelu)
}

/// "[0, 2, 3]" for flat index `i` of a tensor of `shape`.
pub fn cell_label(shape: &[usize], i: usize) -> String {
    format!("{:?}", unravel(shape, i))
}

pub fn unravel(shape: &[usize], mut i: usize) -> Vec<usize> {
    let mut index = vec![0; shape.len()];
    for (d, &len) in shape.iter().enumerate().rev() {
        if len > 0 {
            index[d] = i % len;
            i /= len;
        }
    }
    index
}

fn tensor_mut<'a>(model: &'a mut Model, target: &Target) -> ArrayViewMutD<'a, f64> {
    match target {
        Target::Input => model.input.view_mut().into_dyn(),
        Target::Weights(l) => match &mut model.layers[*l].kind {
            LayerKind::Conv(c) => c.weights.view_mut().into_dyn(),
            LayerKind::Dense(d) => d.weights.view_mut().into_dyn(),
            LayerKind::Pool(_) => unreachable!("pools have no parameters"),
        },
        Target::Bias(l) => match &mut model.layers[*l].kind {
            LayerKind::Conv(c) => c.bias.view_mut().into_dyn(),
            LayerKind::Dense(d) => d.bias.view_mut().into_dyn(),
            LayerKind::Pool(_) => unreachable!("pools have no parameters"),
        },
    }
}

fn analytic_gradient(trace: &[(String, LayerTrace)], target: &Target) -> ArrayD<f64> {
    let tensor = match target {
        Target::Input => trace[0].1.tensor("delta_input"),
        Target::Weights(l) => trace[*l].1.tensor("grad_weights"),
        Target::Bias(l) => trace[*l].1.tensor("grad_bias"),
    };
    tensor
        .expect("conv and dense layers have gradients")
        .to_owned()
}

/// Every tensor the check covers, with its label and layer.
pub fn targets(model: &Model) -> Vec<(String, Target, usize)> {
    let mut out = vec![("input".to_string(), Target::Input, 0)];
    for (i, layer) in model.layers.iter().enumerate() {
        if matches!(layer.kind, LayerKind::Conv(_) | LayerKind::Dense(_)) {
            out.push((format!("{}.weights", layer.name), Target::Weights(i), i));
            out.push((format!("{}.bias", layer.name), Target::Bias(i), i));
        }
    }
    out
}

/// The cells of a tensor that the check probes, in increasing order (see the module doc).
pub fn sampled_cells(analytic: &[f64], sample: Option<usize>, tensor_index: usize) -> Vec<usize> {
    let n = analytic.len();
    let take = match sample {
        Some(k) if n > SAMPLE_ALL_UP_TO && k < n => k,
        _ => return (0..n).collect(),
    };
    let mut by_size: Vec<usize> = (0..n).collect();
    by_size.sort_by(|&a, &b| {
        analytic[b]
            .abs()
            .total_cmp(&analytic[a].abs())
            .then(a.cmp(&b))
    });
    let largest = SAMPLE_LARGEST.min(take);
    let mut chosen: Vec<usize> = by_size[..largest].to_vec();
    let mut rest: Vec<usize> = by_size[largest..].to_vec();
    rest.sort_unstable();
    let mut rng = ChaCha8Rng::seed_from_u64(SAMPLE_SEED + tensor_index as u64);
    for i in 0..(take - largest) {
        let j = i + (rng.next_u64() % (rest.len() - i) as u64) as usize;
        rest.swap(i, j);
        chosen.push(rest[i]);
    }
    chosen.sort_unstable();
    chosen
}

pub fn gradient_check(model: &Model, options: CheckOptions) -> CheckReport {
    let trace = model.trace(0);
    let mut base = model.workspace();
    model.forward_into(&mut base);
    let mut probe_ws = base.clone();
    let mut work = model.clone();
    let h = options.step;
    let mut tensors = Vec::new();
    for (tensor_index, (label, target, layer)) in targets(model).into_iter().enumerate() {
        let analytic = analytic_gradient(&trace.layers, &target);
        let shape = analytic.shape().to_vec();
        let flat: Vec<f64> = analytic.iter().copied().collect();
        let cells = sampled_cells(&flat, options.sample, tensor_index);
        let mut check = TensorCheck {
            label,
            target: target.clone(),
            layer,
            cells: cells.len(),
            total: flat.len(),
            max_abs_error: 0.0,
            max_rel_error: 0.0,
            failures: Vec::new(),
            kinks: Vec::new(),
        };
        // The first layer whose forward pass the perturbation changes.
        let first = match target {
            Target::Input => 0,
            Target::Weights(l) | Target::Bias(l) => l,
        };
        for i in cells {
            let a = flat[i];
            let original = tensor_mut(&mut work, &target)
                .as_slice_mut()
                .expect("standard layout")[i];
            let mut probe = |value: f64| {
                tensor_mut(&mut work, &target)
                    .as_slice_mut()
                    .expect("standard layout")[i] = value;
                if first == 0 {
                    work.forward_into(&mut probe_ws);
                } else {
                    let (dst, src) = (
                        &mut probe_ws.trace.layers[first].1,
                        &base.trace.layers[first].1,
                    );
                    copy_input(src, dst);
                    work.forward_from(first, &mut probe_ws);
                }
                let loss = work
                    .loss
                    .value_and_grad_into(&probe_ws.trace.output, &mut probe_ws.trace.loss_grad);
                let kink = kink_reason(model, &base.trace.layers, &probe_ws.trace.layers, first);
                (loss, kink)
            };
            let (plus, plus_kink) = probe(original + h);
            let (minus, minus_kink) = probe(original - h);
            tensor_mut(&mut work, &target)
                .as_slice_mut()
                .expect("standard layout")[i] = original;
            let cell = CellCheck {
                index: unravel(&shape, i),
                analytic: a,
                numeric: (plus - minus) / (2.0 * h),
            };
            // The earliest layer where either side changes a choice; θ + h first on a tie.
            let kink = match (plus_kink, minus_kink) {
                (Some(p), Some(m)) => Some(if m.0 < p.0 { m } else { p }),
                (p, m) => p.or(m),
            };
            if let Some((_, reason)) = kink {
                check.kinks.push(Kink { cell, reason });
                continue;
            }
            check.max_abs_error = check.max_abs_error.max(cell.abs_error());
            if cell.analytic.abs().max(cell.numeric.abs()) >= REL_ERROR_FLOOR {
                check.max_rel_error = check.max_rel_error.max(cell.rel_error());
            }
            if !cell.agrees(options.tolerance) {
                check.failures.push(cell);
            }
        }
        check
            .failures
            .sort_by(|a, b| b.abs_error().total_cmp(&a.abs_error()));
        tensors.push(check);
    }
    CheckReport {
        options,
        loss: trace.loss,
        tensors,
    }
}

fn copy_input(src: &LayerTrace, dst: &mut LayerTrace) {
    match (src, dst) {
        (LayerTrace::Conv(s), LayerTrace::Conv(d)) => d.input.assign(&s.input),
        (LayerTrace::Pool(s), LayerTrace::Pool(d)) => d.input.assign(&s.input),
        (LayerTrace::Dense(s), LayerTrace::Dense(d)) => d.input.assign(&s.input),
        _ => unreachable!("the same network"),
    }
}

/// Shortest readable form of an error figure ("0", "3.1e-11"), for the reports of check
/// and diff.
pub fn sci(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else {
        format!("{v:.1e}")
    }
}

impl CheckReport {
    /// The table printed by `deltascope check`.
    pub fn to_text(&self, scenario: &str) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let o = &self.options;
        let _ = writeln!(
            out,
            "gradient check of {scenario}, step 0 (loss {}): central differences, h = {}, tolerance {}",
            self.loss,
            sci(o.step),
            sci(o.tolerance)
        );
        let _ = writeln!(
            out,
            "a cell passes when its absolute or relative error is within the tolerance; rel err is shown for gradients ≥ {}",
            sci(REL_ERROR_FLOOR)
        );
        let _ = writeln!(
            out,
            "{:<22} {:>7} {:>12} {:>12} {:>6}  result",
            "tensor", "cells", "max abs err", "max rel err", "kinks"
        );
        for t in &self.tensors {
            let _ = writeln!(
                out,
                "{:<22} {:>7} {:>12} {:>12} {:>6}  {}",
                t.label,
                t.cells,
                sci(t.max_abs_error),
                sci(t.max_rel_error),
                t.kinks.len(),
                if t.passed() {
                    "ok".to_string()
                } else {
                    format!("FAIL ({} cells)", t.failures.len())
                }
            );
        }
        for t in self.tensors.iter().filter(|t| !t.passed()) {
            let _ = writeln!(out, "\n{}: cells over tolerance (worst first)", t.label);
            for c in t.failures.iter().take(10) {
                let _ = writeln!(
                    out,
                    "  {}{:?}: analytic {:e}, numeric {:e}, abs err {}, rel err {}",
                    t.label,
                    c.index,
                    c.analytic,
                    c.numeric,
                    sci(c.abs_error()),
                    sci(c.rel_error())
                );
            }
            if t.failures.len() > 10 {
                let _ = writeln!(out, "  … and {} more", t.failures.len() - 10);
            }
        }
        let kinks: Vec<(&TensorCheck, &Kink)> = self
            .tensors
            .iter()
            .flat_map(|t| t.kinks.iter().map(move |k| (t, k)))
            .collect();
        if !kinks.is_empty() {
            let _ = writeln!(
                out,
                "\n{} cells sit on a kink, where the loss has no derivative; they are not judged:",
                kinks.len()
            );
            for (t, k) in kinks.iter().take(20) {
                let _ = writeln!(
                    out,
                    "  {}{:?}: {} (analytic {:e}, numeric {:e})",
                    t.label, k.cell.index, k.reason, k.cell.analytic, k.cell.numeric
                );
            }
            if kinks.len() > 20 {
                let _ = writeln!(out, "  … and {} more", kinks.len() - 20);
            }
        }
        let cells: usize = self.tensors.iter().map(|t| t.cells).sum();
        let failed: usize = self.tensors.iter().map(|t| t.failures.len()).sum();
        let _ = writeln!(
            out,
            "\n{}: {} of {cells} cells agree, {failed} over tolerance, {} on kinks",
            if self.passed() { "PASSED" } else { "FAILED" },
            cells - failed - kinks.len(),
            kinks.len()
        );
        out
    }
}
