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
//! Where the loss curves sharply on the scale of h (an L2 window whose norm is a few
//! hundred h, say), the central difference D(h) is off by its h² term, f‴·h²/6, however
//! right the backward pass is. A cell that disagrees at h is therefore measured again at
//! h/2, h/4, … (at most [`MAX_HALVINGS`] times) and judged by the Richardson extrapolation
//! (4·D(h/2^k) − D(h/2^(k−1)))/3, which cancels that term, as soon as it agrees or two
//! successive extrapolations agree within a tenth of the tolerance: a wrong gradient still
//! fails, since every quotient tends to the true derivative. A cell whose extrapolations
//! never settle is named with the kinks (the loss is not smooth on the scale of h), not
//! judged.
//!
//! Each probe reruns the forward pass only from the layer whose tensor it perturbs.

use ndarray::{ArrayD, ArrayViewMutD};
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

use crate::engine::{Activation, LayerKind, LayerTrace, Model, PoolKind, TensorName};

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
/// How many times h is halved, at most, for a cell that disagrees (see the module's notes).
pub const MAX_HALVINGS: u32 = 4;

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
    /// |a − n| / max(|a|, |n|), or 0 when both are 0; NaN when either is NaN (`f64::max`
    /// would take the other one, and a NaN gradient against a flat loss would agree).
    pub fn rel_error(&self) -> f64 {
        if self.analytic == 0.0 && self.numeric == 0.0 {
            0.0
        } else {
            self.abs_error() / self.analytic.abs().max(self.numeric.abs())
        }
    }
    /// Never, when either value is NaN.
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
    /// Cells that disagreed at h and were measured again with smaller steps.
    pub refined: usize,
}

impl TensorCheck {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }

    /// "100", or "256/12288" when a sample of the tensor's cells was checked.
    pub fn cells_label(&self) -> String {
        if self.cells < self.total {
            format!("{}/{}", self.cells, self.total)
        } else {
            self.cells.to_string()
        }
    }

    /// "ok", "FAIL (1 cell)", "FAIL (3 cells)".
    pub fn result_label(&self) -> String {
        match self.failures.len() {
            0 => "ok".into(),
            1 => "FAIL (1 cell)".into(),
            n => format!("FAIL ({n} cells)"),
        }
    }
}

impl CheckReport {
    /// How the cells were chosen, when some tensor was sampled.
    pub fn sampling_note(&self) -> Option<String> {
        let sample = self.options.sample?;
        self.tensors.iter().any(|t| t.cells < t.total).then(|| {
            format!(
                "n/N cells: a tensor of more than {SAMPLE_ALL_UP_TO} cells is checked in {sample} of them (the {SAMPLE_LARGEST} largest gradients and the rest drawn at random, the same every run); `deltascope check --all` checks every cell"
            )
        })
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
                if c.activation.has_kink() =>
            {
                first_piece_diff(
                    a.z.as_slice().expect("standard layout"),
                    b.z.as_slice().expect("standard layout"),
                )
                .map(|i| (a.z.shape().to_vec(), i, Reason::Piece))
            }
            (LayerKind::Dense(d), LayerTrace::Dense(a), LayerTrace::Dense(b))
                if d.activation.has_kink() =>
            {
                first_piece_diff(
                    a.z.as_slice().expect("standard layout"),
                    b.z.as_slice().expect("standard layout"),
                )
                .map(|i| (a.z.shape().to_vec(), i, Reason::Piece))
            }
            (LayerKind::Pool(p), LayerTrace::Pool(a), LayerTrace::Pool(b)) => match p.kind {
                PoolKind::Max => match (&a.argmax, &b.argmax) {
                    (Some(x), Some(y)) => first_diff(x.iter().zip(y.iter()).map(|(u, v)| u != v))
                        .map(|i| (x.shape().to_vec(), i, Reason::Switch)),
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
    let differs = |x: f64, y: f64| Activation::piece(x) != Activation::piece(y);
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

/// "[0, 2, 3]" for flat index `i` of a tensor of `shape`.
pub fn cell_label(shape: &[usize], i: usize) -> String {
    format!("{:?}", unravel(shape, i))
}

/// The index of flat cell `i` of a tensor of `shape` (row-major). `i` is a cell of the
/// tensor, so no dimension is 0.
pub fn unravel(shape: &[usize], mut i: usize) -> Vec<usize> {
    let mut index = vec![0; shape.len()];
    for (d, &len) in shape.iter().enumerate().rev() {
        index[d] = i % len;
        i /= len;
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
        Target::Input => trace[0].1.tensor(TensorName::DeltaInput),
        Target::Weights(l) => trace[*l].1.tensor(TensorName::GradWeights),
        Target::Bias(l) => trace[*l].1.tensor(TensorName::GradBias),
    };
    tensor
        .expect("conv and dense layers have gradients")
        .to_owned()
}

/// Every tensor the check covers, with its label and layer.
pub fn targets(model: &Model) -> Vec<(String, Target, usize)> {
    let mut out = vec![(TensorName::Input.to_string(), Target::Input, 0)];
    for (i, layer) in model.layers.iter().enumerate() {
        if matches!(layer.kind, LayerKind::Conv(_) | LayerKind::Dense(_)) {
            let label = |t: TensorName| format!("{}.{t}", layer.name);
            out.push((label(TensorName::Weights), Target::Weights(i), i));
            out.push((label(TensorName::Bias), Target::Bias(i), i));
        }
    }
    out
}

/// How many cells a check with `options` probes (each costs two forward passes, or up to
/// 2 + 2·[`MAX_HALVINGS`] when it disagrees at h).
pub fn cells_probed(model: &Model, options: &CheckOptions) -> usize {
    targets(model)
        .iter()
        .map(|(_, target, _)| {
            let n = match target {
                Target::Input => model.input.len(),
                Target::Weights(l) => match &model.layers[*l].kind {
                    LayerKind::Conv(c) => c.weights.len(),
                    LayerKind::Dense(d) => d.weights.len(),
                    LayerKind::Pool(_) => unreachable!("pools have no parameters"),
                },
                Target::Bias(l) => match &model.layers[*l].kind {
                    LayerKind::Conv(c) => c.bias.len(),
                    LayerKind::Dense(d) => d.bias.len(),
                    LayerKind::Pool(_) => unreachable!("pools have no parameters"),
                },
            };
            match options.sample {
                Some(sample) if n > SAMPLE_ALL_UP_TO => sample.min(n),
                _ => n,
            }
        })
        .sum()
}

/// The cells of a tensor that the check probes, in increasing order (see the module doc).
pub fn sampled_cells(analytic: &[f64], sample: Option<usize>, tensor_index: usize) -> Vec<usize> {
    let n = analytic.len();
    let take = match sample {
        Some(k) if n > SAMPLE_ALL_UP_TO => k.min(n),
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
            refined: 0,
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
            let mut cell = CellCheck {
                index: unravel(&shape, i),
                analytic: a,
                numeric: (plus - minus) / (2.0 * h),
            };
            // The earliest layer where either side changes a choice; θ + h first on a tie.
            let kink = match (plus_kink, minus_kink) {
                (Some(p), Some(m)) => Some(if m.0 < p.0 { m } else { p }),
                (p, m) => p.or(m),
            };
            let mut kink = kink.map(|(_, reason)| reason);
            // No choice changes within h, so none closer: the loss is smooth there. (A NaN
            // or an infinity is judged as it is: extrapolation is about truncation error.)
            let finite = cell.numeric.is_finite() && cell.analytic.is_finite();
            if kink.is_none() && finite && !cell.agrees(options.tolerance) {
                check.refined += 1;
                let settled;
                (cell.numeric, settled) = refine(
                    |theta| probe(theta).0,
                    original,
                    &cell,
                    &options,
                    trace.loss,
                );
                if !settled {
                    kink = Some(format!(
                        "the difference quotient does not settle as h shrinks to h/{}: the loss is not smooth on the scale of h (e.g. an L2 window of norm near h)",
                        1u32 << MAX_HALVINGS
                    ));
                }
            }
            tensor_mut(&mut work, &target)
                .as_slice_mut()
                .expect("standard layout")[i] = original;
            if let Some(reason) = kink {
                check.kinks.push(Kink { cell, reason });
                continue;
            }
            check.max_abs_error = max_or_nan(check.max_abs_error, cell.abs_error());
            if cell.analytic.abs().max(cell.numeric.abs()) >= REL_ERROR_FLOOR {
                check.max_rel_error = max_or_nan(check.max_rel_error, cell.rel_error());
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

/// The larger of two error figures, or NaN when either is: a column of maxima shows a NaN
/// error rather than the largest finite one.
pub(crate) fn max_or_nan(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

/// A better numeric gradient for `cell`, which disagrees at h: the central differences
/// D(h/2^k) extrapolated as (4·D(h/2^k) − D(h/2^(k−1)))/3 until the value agrees with the
/// analytic gradient or the values settle: two successive quotients, or two successive
/// extrapolations, agree within a tenth of the tolerance or within what rounding of the
/// loss (`loss`) makes of a quotient (64 ulps over the step: generous, so that no cell is
/// called unsmooth for its rounding). When the quotients themselves have settled, h was
/// not too large and the value found so far (D(h) at first) is kept: smaller steps would
/// only add rounding. Returns the value and whether it can be judged: it agrees, or the
/// values settled.
fn refine(
    mut loss_at: impl FnMut(f64) -> f64,
    original: f64,
    cell: &CellCheck,
    options: &CheckOptions,
    loss: f64,
) -> (f64, bool) {
    let settled = |a: f64, b: f64, step: f64| {
        let within = options.tolerance / 10.0;
        let rounding = 64.0 * f64::EPSILON * loss.abs() / step;
        let d = (a - b).abs();
        d <= within || d <= within * a.abs().max(b.abs()) || d <= rounding
    };
    let agrees = |numeric: f64| {
        CellCheck {
            numeric,
            ..cell.clone()
        }
        .agrees(options.tolerance)
    };
    let (mut quotient, mut value, mut previous) = (cell.numeric, cell.numeric, None);
    for k in 1..=MAX_HALVINGS {
        let step = options.step / f64::from(1u32 << k);
        let next = (loss_at(original + step) - loss_at(original - step)) / (2.0 * step);
        if !next.is_finite() {
            return (value, true);
        }
        // Quotients that no longer move but by rounding: h was not too large, and smaller
        // steps would only add rounding. The value so far is judged as it is.
        if settled(quotient, next, step) {
            return (value, true);
        }
        value = (4.0 * next - quotient) / 3.0;
        if agrees(value) || previous.is_some_and(|p| settled(p, value, step)) {
            return (value, true);
        }
        (quotient, previous) = (next, Some(value));
    }
    (value, false)
}

/// The input of the layer that holds the perturbed parameter, copied from the base pass so
/// that the probe's forward pass can start at that layer.
fn copy_input(src: &LayerTrace, dst: &mut LayerTrace) {
    match (src, dst) {
        (LayerTrace::Conv(s), LayerTrace::Conv(d)) => d.input.assign(&s.input),
        (LayerTrace::Dense(s), LayerTrace::Dense(d)) => d.input.assign(&s.input),
        _ => unreachable!("parameters belong to conv and dense layers of the same network"),
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
        if let Some(note) = self.sampling_note() {
            let _ = writeln!(out, "{note}");
        }
        let _ = writeln!(
            out,
            "{:<22} {:>9} {:>12} {:>12} {:>6}  result",
            "tensor", "cells", "max abs err", "max rel err", "kinks"
        );
        for t in &self.tensors {
            let _ = writeln!(
                out,
                "{:<22} {:>9} {:>12} {:>12} {:>6}  {}",
                t.label,
                t.cells_label(),
                sci(t.max_abs_error),
                sci(t.max_rel_error),
                t.kinks.len(),
                t.result_label()
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
        let refined: usize = self.tensors.iter().map(|t| t.refined).sum();
        if refined > 0 {
            let _ = writeln!(
                out,
                "\n{refined} cell{} disagreed at h and {} measured again at h/2, h/4, …: the Richardson extrapolation (4·D(h/2) − D(h))/3 cancels the h² error of the central difference; D(h) is kept where smaller steps change it only by rounding (numeric shows the value judged)",
                if refined == 1 { "" } else { "s" },
                if refined == 1 { "was" } else { "were" }
            );
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by tests/gradient_check_props.rs: a 1×1 ReLU conv feeds an L2 pool with
    /// activations near 1e-4, so the loss curves on the scale of 100·h and the central
    /// difference of conv1.bias is off by 1.6e-6 (f‴·h²/6) although the backward pass is
    /// right. Judged by the extrapolation from h and h/2, it agrees to 1e-9.
    const SMALL_L2_NORMS: &str = r#"{"name": "l2_small_norms", "seed": 3557697650011550734, "input": [[[-0.40584721464811535, 0.9711142948904857, 0.8555768321414134, 0.9540159618996462, -0.7467022589077086], [-0.9606952703003057, -0.0069386566782898345, -0.10751394271496, -0.9223763895260906, -0.6914980660324253], [-0.3863242098024394, 0.5688120712149441, -0.5867049584029261, -0.24589470461099466, 0.22860065243285307], [-0.6100209723423476, -0.5162897660042903, -0.7331144925514148, -0.784898706595355, 0.36960679998100754], [-0.5857448961681574, -0.20336402230149847, 0.7414755194748742, 0.12367480585226594, 0.2053191136558376]]], "layers": [{"type": "conv", "kernels": 1, "kernel_size": [1, 1], "stride": 1, "padding": 0, "activation": "relu", "init": "xavier"}, {"type": "pool", "kind": "l2", "size": 2, "stride": 1}], "loss": {"kind": "mse", "target": [[[-0.25, 0.25, 0.75, -0.25], [0.25, 0.75, -0.25, 0.25], [0.75, -0.25, 0.25, 0.75], [-0.25, 0.25, 0.75, -0.25]]]}}"#;

    /// `refine` on a function of one variable, from θ, with `analytic` as the gradient.
    fn refined(f: impl Fn(f64) -> f64, theta: f64, analytic: f64) -> (CellCheck, bool) {
        let options = CheckOptions::default();
        let h = options.step;
        let cell = CellCheck {
            index: vec![0],
            analytic,
            numeric: (f(theta + h) - f(theta - h)) / (2.0 * h),
        };
        let (numeric, judged) = refine(&f, theta, &cell, &options, f(theta));
        (CellCheck { numeric, ..cell }, judged)
    }

    fn cell(analytic: f64, numeric: f64) -> CellCheck {
        CellCheck {
            index: vec![0],
            analytic,
            numeric,
        }
    }

    #[test]
    fn a_relative_error_is_the_difference_over_the_larger_magnitude() {
        assert_eq!(cell(2.0, 1.5).rel_error(), 0.25);
        assert_eq!(cell(-1.0, 3.0).rel_error(), 4.0 / 3.0);
        assert_eq!(cell(0.0, 0.0).rel_error(), 0.0);
        assert_eq!(cell(0.0, -0.5).rel_error(), 1.0);
        // 1e-3 off on 1: within 1e-2 relatively, not within 1e-4 in either sense.
        assert!(cell(1.0, 1.001).agrees(1e-2));
        assert!(!cell(1.0, 1.001).agrees(1e-4));
    }

    #[test]
    fn a_nan_never_agrees_not_even_with_a_zero() {
        for (a, n) in [
            (f64::NAN, 0.0),
            (0.0, f64::NAN),
            (f64::NAN, 1.0),
            (f64::NAN, f64::NAN),
        ] {
            let c = cell(a, n);
            assert!(c.rel_error().is_nan(), "{c:?}");
            assert!(!c.agrees(f64::INFINITY), "{c:?}");
        }
    }

    #[test]
    fn the_debugger_counts_the_cells_the_check_probes() {
        // A 30×30 input (900 cells) and a dense layer of 2×196 weights are sampled.
        let s = crate::scenario::parse(SAMPLED).unwrap();
        let options = CheckOptions::default();
        let report = gradient_check(&s.model, options);
        let probed: usize = report.tensors.iter().map(|t| t.cells).sum();
        assert_eq!(cells_probed(&s.model, &options), probed);
        assert_eq!(report.tensors[0].cells_label(), "256/900");
        let all = CheckOptions {
            sample: None,
            ..options
        };
        assert_eq!(cells_probed(&s.model, &all), 900 + 9 + 1 + 392 + 2);
        assert!(report.sampling_note().is_some());
    }

    const SAMPLED: &str = r#"{"name": "sampled", "seed": 3, "input": [[[0.0, 0.964, 0.516, -0.688, -0.883, 0.215, 0.999, 0.319, -0.828, -0.762, 0.42, 0.987, 0.108, -0.929, -0.605, 0.606, 0.929, -0.109, -0.987, -0.419, 0.763, 0.827, -0.32, -0.998, -0.214, 0.884, 0.687, -0.516, -0.963, 0.001], [0.644, 0.909, -0.158, -0.994, -0.374, 0.794, 0.798, -0.366, -0.995, -0.166, 0.906, 0.65, -0.558, -0.949, 0.05, 0.976, 0.472, -0.723, -0.859, 0.264, 1.0, 0.271, -0.855, -0.728, 0.465, 0.977, 0.057, -0.947, -0.564, 0.645], [0.985, 0.427, -0.757, -0.832, 0.312, 0.999, 0.223, -0.88, -0.694, 0.509, 0.966, 0.008, -0.961, -0.522, 0.682, 0.887, -0.207, -0.998, -0.327, 0.823, 0.767, -0.413, -0.988, -0.116, 0.926, 0.611, -0.599, -0.932, 0.101, 0.986], [0.863, -0.256, -1.0, -0.279, 0.85, 0.734, -0.458, -0.979, -0.066, 0.944, 0.571, -0.638, -0.913, 0.15, 0.993, 0.381, -0.789, -0.803, 0.359, 0.995, 0.173, -0.903, -0.656, 0.551, 0.951, -0.042, -0.974, -0.479, 0.718, 0.863], [0.335, -0.818, -0.773, 0.405, 0.989, 0.124, -0.923, -0.618, 0.592, 0.935, -0.092, -0.984, -0.435, 0.752, 0.837, -0.304, -0.999, -0.231, 0.876, 0.699, -0.502, -0.968, -0.016, 0.959, 0.529, -0.676, -0.891, 0.2, 0.998, 0.334], [-0.351, -0.996, -0.182, 0.899, 0.663, -0.544, -0.954, 0.034, 0.972, 0.486, -0.712, -0.867, 0.248, 1.0, 0.287, -0.846, -0.74, 0.45, 0.981, 0.074, -0.941, -0.578, 0.632, 0.916, -0.142, -0.992, -0.389, 0.784, 0.808, -0.352], [-0.872, -0.706, 0.494, 0.97, 0.025, -0.957, -0.537, 0.67, 0.895, -0.191, -0.997, -0.342, 0.814, 0.778, -0.398, -0.99, -0.132, 0.92, 0.624, -0.586, -0.938, 0.084, 0.983, 0.442, -0.746, -0.841, 0.296, 1.0, 0.238, -0.872], [-0.982, -0.083, 0.938, 0.585, -0.625, -0.919, 0.133, 0.991, 0.397, -0.778, -0.813, 0.343, 0.997, 0.19, -0.895, -0.669, 0.537, 0.956, -0.026, -0.97, -0.493, 0.706, 0.871, -0.24, -1.0, -0.295, 0.842, 0.745, -0.443, -0.982], [-0.631, 0.578, 0.941, -0.075, -0.981, -0.45, 0.74, 0.846, -0.288, -1.0, -0.247, 0.868, 0.711, -0.487, -0.972, -0.033, 0.954, 0.543, -0.664, -0.898, 0.183, 0.996, 0.35, -0.809, -0.783, 0.39, 0.992, 0.14, -0.917, -0.631], [0.017, 0.968, 0.501, -0.7, -0.875, 0.232, 0.999, 0.303, -0.837, -0.751, 0.435, 0.984, 0.091, -0.935, -0.591, 0.619, 0.922, -0.125, -0.989, -0.404, 0.773, 0.818, -0.336, -0.997, -0.198, 0.892, 0.675, -0.531, -0.959, 0.018], [0.657, 0.902, -0.174, -0.995, -0.358, 0.804, 0.788, -0.382, -0.993, -0.149, 0.913, 0.637, -0.572, -0.943, 0.067, 0.979, 0.457, -0.735, -0.85, 0.28, 1.0, 0.255, -0.864, -0.717, 0.48, 0.974, 0.041, -0.952, -0.55, 0.658], [0.988, 0.412, -0.768, -0.823, 0.327, 0.998, 0.206, -0.888, -0.681, 0.523, 0.961, -0.009, -0.966, -0.508, 0.694, 0.879, -0.224, -0.999, -0.311, 0.833, 0.756, -0.428, -0.985, -0.099, 0.932, 0.598, -0.613, -0.925, 0.117, 0.988], [0.855, -0.272, -1.0, -0.263, 0.859, 0.723, -0.472, -0.976, -0.05, 0.949, 0.557, -0.651, -0.906, 0.166, 0.995, 0.366, -0.799, -0.793, 0.375, 0.994, 0.157, -0.91, -0.644, 0.565, 0.946, -0.059, -0.978, -0.464, 0.73, 0.854], [0.319, -0.828, -0.762, 0.42, 0.987, 0.108, -0.929, -0.605, 0.606, 0.929, -0.109, -0.987, -0.419, 0.763, 0.827, -0.32, -0.998, -0.214, 0.884, 0.687, -0.516, -0.963, 0.001, 0.964, 0.515, -0.688, -0.883, 0.216, 0.999, 0.318], [-0.366, -0.995, -0.166, 0.906, 0.65, -0.558, -0.949, 0.05, 0.976, 0.472, -0.723, -0.859, 0.264, 1.0, 0.271, -0.855, -0.728, 0.465, 0.977, 0.057, -0.947, -0.564, 0.645, 0.909, -0.159, -0.994, -0.373, 0.794, 0.798, -0.367], [-0.88, -0.694, 0.509, 0.966, 0.008, -0.961, -0.522, 0.682, 0.887, -0.207, -0.998, -0.327, 0.823, 0.767, -0.413, -0.988, -0.116, 0.926, 0.611, -0.599, -0.932, 0.101, 0.986, 0.427, -0.757, -0.832, 0.312, 0.999, 0.222, -0.88], [-0.979, -0.066, 0.944, 0.571, -0.638, -0.913, 0.15, 0.993, 0.381, -0.789, -0.803, 0.359, 0.995, 0.173, -0.903, -0.656, 0.551, 0.951, -0.042, -0.974, -0.479, 0.718, 0.863, -0.256, -1.0, -0.279, 0.851, 0.734, -0.458, -0.979], [-0.618, 0.592, 0.935, -0.092, -0.984, -0.435, 0.752, 0.837, -0.304, -0.999, -0.231, 0.876, 0.699, -0.502, -0.968, -0.016, 0.959, 0.529, -0.676, -0.891, 0.2, 0.998, 0.334, -0.819, -0.772, 0.406, 0.989, 0.124, -0.923, -0.617], [0.034, 0.972, 0.486, -0.712, -0.867, 0.248, 1.0, 0.287, -0.846, -0.74, 0.45, 0.981, 0.074, -0.941, -0.578, 0.632, 0.916, -0.142, -0.992, -0.389, 0.784, 0.808, -0.352, -0.996, -0.181, 0.899, 0.662, -0.545, -0.954, 0.035], [0.67, 0.895, -0.191, -0.997, -0.342, 0.814, 0.778, -0.398, -0.99, -0.132, 0.92, 0.624, -0.586, -0.938, 0.084, 0.983, 0.442, -0.746, -0.841, 0.296, 1.0, 0.238, -0.872, -0.705, 0.495, 0.97, 0.024, -0.957, -0.536, 0.67], [0.991, 0.397, -0.778, -0.813, 0.343, 0.997, 0.19, -0.895, -0.669, 0.537, 0.956, -0.026, -0.97, -0.493, 0.706, 0.871, -0.24, -1.0, -0.295, 0.842, 0.745, -0.443, -0.982, -0.082, 0.938, 0.584, -0.626, -0.919, 0.134, 0.991], [0.846, -0.288, -1.0, -0.247, 0.868, 0.711, -0.487, -0.972, -0.033, 0.954, 0.543, -0.664, -0.898, 0.183, 0.996, 0.35, -0.809, -0.783, 0.39, 0.992, 0.14, -0.917, -0.631, 0.579, 0.94, -0.076, -0.981, -0.449, 0.741, 0.845], [0.303, -0.837, -0.751, 0.435, 0.984, 0.091, -0.935, -0.591, 0.619, 0.922, -0.125, -0.989, -0.404, 0.773, 0.818, -0.336, -0.997, -0.198, 0.892, 0.675, -0.531, -0.959, 0.018, 0.968, 0.5, -0.701, -0.875, 0.232, 0.999, 0.302], [-0.382, -0.993, -0.149, 0.913, 0.637, -0.572, -0.943, 0.067, 0.979, 0.457, -0.735, -0.85, 0.28, 1.0, 0.255, -0.864, -0.717, 0.48, 0.974, 0.041, -0.952, -0.55, 0.658, 0.902, -0.175, -0.996, -0.357, 0.804, 0.788, -0.383], [-0.888, -0.681, 0.523, 0.961, -0.009, -0.966, -0.508, 0.694, 0.879, -0.224, -0.999, -0.311, 0.833, 0.756, -0.428, -0.985, -0.099, 0.932, 0.598, -0.613, -0.925, 0.117, 0.988, 0.411, -0.768, -0.822, 0.328, 0.998, 0.206, -0.888], [-0.976, -0.05, 0.949, 0.557, -0.651, -0.906, 0.166, 0.995, 0.366, -0.799, -0.793, 0.375, 0.994, 0.157, -0.91, -0.644, 0.565, 0.946, -0.059, -0.978, -0.464, 0.73, 0.854, -0.273, -1.0, -0.262, 0.86, 0.722, -0.473, -0.975], [-0.605, 0.606, 0.929, -0.109, -0.987, -0.419, 0.763, 0.827, -0.32, -0.998, -0.214, 0.884, 0.687, -0.516, -0.963, 0.001, 0.964, 0.515, -0.688, -0.883, 0.216, 0.999, 0.318, -0.828, -0.761, 0.421, 0.987, 0.107, -0.929, -0.604], [0.05, 0.976, 0.472, -0.723, -0.859, 0.264, 1.0, 0.271, -0.855, -0.728, 0.465, 0.977, 0.057, -0.947, -0.564, 0.645, 0.909, -0.159, -0.994, -0.373, 0.794, 0.798, -0.367, -0.994, -0.165, 0.906, 0.65, -0.559, -0.949, 0.051], [0.682, 0.887, -0.207, -0.998, -0.327, 0.823, 0.767, -0.413, -0.988, -0.116, 0.926, 0.611, -0.599, -0.932, 0.101, 0.986, 0.427, -0.757, -0.832, 0.312, 0.999, 0.222, -0.88, -0.693, 0.509, 0.965, 0.007, -0.962, -0.522, 0.683], [0.993, 0.381, -0.789, -0.803, 0.359, 0.995, 0.173, -0.903, -0.656, 0.551, 0.951, -0.042, -0.974, -0.479, 0.718, 0.863, -0.256, -1.0, -0.279, 0.851, 0.734, -0.458, -0.979, -0.065, 0.944, 0.57, -0.639, -0.912, 0.151, 0.993]]], "layers": [{"type": "conv", "kernels": 1, "kernel_size": 3}, {"type": "pool", "kind": "mean", "size": 2}, {"type": "dense", "outputs": 2}], "loss": {"kind": "cross_entropy", "class": 0}}"#;

    /// `refine` from θ = 0 on a loss whose central difference at step h/2^k is exactly
    /// `quotients[k]` (f(±h/2^k) = ±(h/2^k)·quotients[k]), with `loss` as the loss at θ:
    /// (the value judged, whether it is judged, how many times h was halved).
    fn scripted(quotients: [f64; 5], analytic: f64, loss: f64) -> (f64, bool, u32) {
        let probes = std::cell::Cell::new(0);
        let f = |t: f64| {
            probes.set(probes.get() + 1);
            let k = (DEFAULT_STEP / t.abs()).log2().round() as usize;
            t * quotients[k]
        };
        let at_h = cell(analytic, quotients[0]);
        let (value, judged) = refine(f, 0.0, &at_h, &CheckOptions::default(), loss);
        (value, judged, probes.get() / 2)
    }

    /// Values within 1e-12 of each other (the quotients are exact to a few ulps).
    fn near(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn quotients_that_move_by_a_tenth_of_the_tolerance_have_settled() {
        // The tolerance is 1e-6. Gradient 0.5 + 1e-5, D(h) = 0.5: it disagrees at h.
        let a = 0.5 + 1e-5;
        // D(h/2) within 1e-7 of D(h) (absolutely; relatively to 0.5 it is 1.6e-7): h was
        // small enough, D(h) is kept.
        let q = 0.5 + 0.8e-7;
        assert_eq!(scripted([0.5, q, q, q, q], a, 0.0), (0.5, true, 1));
        // 5e-7 apart: not settled, extrapolated to (4·D(h/2) − D(h))/3, which settles with
        // D(h/4) = D(h/2).
        let q = 0.5 + 5e-7;
        let (value, judged, halvings) = scripted([0.5, q, q, q, q], a, 0.0);
        assert!(
            near(value, (4.0 * q - 0.5) / 3.0) && judged && halvings == 2,
            "{value}"
        );
    }

    #[test]
    fn large_quotients_settle_within_a_tenth_of_the_tolerance_relatively() {
        // Around 1000: 5e-5 apart is 5e-8 of them. Gradient 1000.1 disagrees at h.
        let q = 1000.0 + 5e-5;
        assert_eq!(
            scripted([1000.0, q, q, q, q], 1000.1, 0.0),
            (1000.0, true, 1)
        );
        // 5e-4 apart (5e-7 of them) is not settled.
        let q = 1000.0 + 5e-4;
        let (value, judged, halvings) = scripted([1000.0, q, q, q, q], 1000.1, 0.0);
        assert!(
            near(value, (4.0 * q - 1000.0) / 3.0) && judged && halvings == 2,
            "{value}"
        );
    }

    #[test]
    fn quotients_that_differ_by_the_rounding_of_the_loss_have_settled() {
        // A loss of 1e6 is rounded to 64 ulps = 64·2.2e-16·1e6 = 1.4e-8, so quotients over
        // the step h/2 = 5e-7 are only known to 0.028: 0.5 and 0.52 are the same quotient.
        let a = 0.6;
        assert_eq!(
            scripted([0.5, 0.52, 0.52, 0.52, 0.52], a, 1e6),
            (0.5, true, 1)
        );
        // With a loss of 1 they are far apart.
        let (value, _, halvings) = scripted([0.5, 0.52, 0.52, 0.52, 0.52], a, 1.0);
        assert!(
            near(value, (4.0 * 0.52 - 0.5) / 3.0) && halvings == 2,
            "{value}"
        );
    }

    #[test]
    fn an_extrapolation_that_agrees_is_judged_at_once() {
        // D(h) = 1 + 3e-6 disagrees with 1; the extrapolation from D(h/2) = 1 + 0.75e-6 is
        // 1 (the h² error cancelled). Smaller steps, which would never settle, are not taken.
        let wild = [
            1.0 + 3e-6,
            1.0 + 0.75e-6,
            1.0 + 5e-6,
            1.0 - 5e-6,
            1.0 + 5e-6,
        ];
        let (value, judged, halvings) = scripted(wild, 1.0, 1.0);
        assert!(near(value, 1.0) && judged && halvings == 1, "{value}");
        // Against a gradient of 1.001, the same quotients never settle: not judged.
        let (_, judged, halvings) = scripted(wild, 1.001, 1.0);
        assert!(!judged && halvings == MAX_HALVINGS, "{halvings}");
    }

    #[test]
    fn a_wrong_gradient_still_fails_once_refined() {
        // Smooth, and off by 1e-3 (or by 3e-6, three times the tolerance): the
        // extrapolations settle on cos θ and the cell is judged, and fails.
        for off in [1e-3, 3e-6] {
            let (cell, judged) = refined(f64::sin, 0.3, 0.3f64.cos() + off);
            assert!(judged);
            assert!(!cell.agrees(DEFAULT_TOLERANCE), "{cell:?}");
            assert!((cell.numeric - 0.3f64.cos()).abs() < 1e-9, "{cell:?}");
        }
    }

    #[test]
    fn non_finite_quotients_are_judged_not_refined_away() {
        // A finite loss whose smaller steps are NaN: judged on D(h). (A NaN or infinite
        // D(h) or gradient is not refined at all: see `gradient_check`.)
        let (cell, judged) = refined(|t| if t.abs() < 6e-7 { f64::NAN } else { t }, 0.0, 2.0);
        assert!(judged && !cell.agrees(DEFAULT_TOLERANCE), "{cell:?}");
    }

    #[test]
    fn a_curved_function_is_measured_closer_and_a_singular_one_is_not_judged() {
        // √(θ² + c²) has its singularities at ±ic: the central difference at h is off by
        // about h²/c², and so is the right gradient θ/√(θ² + c²) judged at h.
        let f = |c: f64| move |t: f64| (t * t + c * c).sqrt();
        let exact = |t: f64, c: f64| t / (t * t + c * c).sqrt();
        let h = DEFAULT_STEP;
        let at_h = (f(3e-4)(1e-4 + h) - f(3e-4)(1e-4 - h)) / (2.0 * h);
        assert!(
            (at_h - exact(1e-4, 3e-4)).abs() > DEFAULT_TOLERANCE,
            "{at_h}"
        );
        let (cell, judged) = refined(f(3e-4), 1e-4, exact(1e-4, 3e-4));
        assert!(judged && cell.agrees(DEFAULT_TOLERANCE), "{cell:?}");
        // With c a few h, no step down to h/16 measures the derivative: the cell is not
        // judged, and certainly not failed.
        for c in [2e-6, 3e-6, 5e-6] {
            let (cell, judged) = refined(f(c), 1e-6, exact(1e-6, c));
            assert!(!judged || cell.agrees(DEFAULT_TOLERANCE), "{c}: {cell:?}");
        }
    }

    /// The same network on another input (also found by the property test): an L2 window
    /// of norm 9e-6, a few h, off by 1.5e-6 at h and still after one extrapolation.
    const L2_NORMS_NEAR_H: &str = r#"{"name": "l2_norms_near_h", "seed": 3557697650011550734, "input": [[[0.7382374317068038, -0.6098445838713419, 0.4566048575877112, 0.3862319648237629, 0.5691301169137585], [0.31109886561848404, -0.8339017446092764, 0.5673403382648329, -0.995049763554647, 0.32203577779642306], [0.6614930760009409, 0.5636048324909699, 0.0839042217403466, -0.5910472295327259, 0.9341648817845003], [-0.979793074350509, -0.9563057430851809, 0.054003332995519585, -0.8262400631946815, -0.6719631800085322], [0.1318890743528271, -0.17577960475624996, 0.01961598222766462, 0.041161855814913155, 0.3529572324118799]]], "layers": [{"type": "conv", "kernels": 1, "kernel_size": [1, 1], "stride": 1, "padding": 0, "activation": "relu", "init": "xavier"}, {"type": "pool", "kind": "l2", "size": 2, "stride": 1}], "loss": {"kind": "mse", "target": [[[-0.25, 0.25, 0.75, -0.25], [0.25, 0.75, -0.25, 0.25], [0.75, -0.25, 0.25, 0.75], [-0.25, 0.25, 0.75, -0.25]]]}}"#;

    #[test]
    fn a_sharply_curved_loss_is_judged_by_the_extrapolated_difference() {
        let s = crate::scenario::parse(L2_NORMS_NEAR_H).unwrap();
        let report = gradient_check(&s.model, CheckOptions::default());
        assert!(report.passed(), "{}", report.to_text(&s.name));
        assert_eq!(report.tensors[2].refined, 1);
        let s = crate::scenario::parse(SMALL_L2_NORMS).unwrap();
        let report = gradient_check(&s.model, CheckOptions::default());
        assert!(report.passed(), "{}", report.to_text(&s.name));
        let bias = &report.tensors[2];
        assert_eq!(bias.label, "conv1.bias");
        assert_eq!(bias.refined, 1);
        assert!(bias.max_abs_error < 1e-9, "{}", bias.max_abs_error);
        assert!(
            report
                .to_text(&s.name)
                .contains("1 cell disagreed at h and was")
        );
        // Cells that agree at h are not measured again.
        assert_eq!(report.tensors[0].refined + report.tensors[1].refined, 0);
    }
}
