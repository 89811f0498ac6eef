//! Central-difference gradient check of every weight, bias and input cell, for one step.
//!
//! For each cell θ: numeric = (L(θ + h) − L(θ − h)) / 2h, compared with the analytic
//! gradient from the backward pass. A cell agrees when |analytic − numeric| ≤ tol or
//! |analytic − numeric| / max(|analytic|, |numeric|) ≤ tol. A cell whose perturbation moves
//! some ReLU across 0, changes a max-pool switch or touches an L2 window of norm 0 sits on a
//! kink, where the loss is not differentiable: it is reported by name, not judged.

use ndarray::{ArrayD, ArrayViewMutD};

use crate::engine::network::{ForwardPass, LayerForward};
use crate::engine::{Activation, LayerKind, LayerTrace, Model, PoolKind};

pub const DEFAULT_TOLERANCE: f64 = 1e-6;
pub const DEFAULT_STEP: f64 = 1e-6;
/// The max relative error column covers gradients at least this large; for smaller ones
/// the relative error is rounding noise of the difference quotient (such cells are still
/// judged, by their absolute error).
pub const REL_ERROR_FLOOR: f64 = 1e-7;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CheckOptions {
    pub tolerance: f64,
    /// The finite-difference step h.
    pub step: f64,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            tolerance: DEFAULT_TOLERANCE,
            step: DEFAULT_STEP,
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
    pub cells: usize,
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

/// The discrete choices a forward pass made: the linear piece of every piecewise
/// activation, every max-pool switch and which L2 windows have norm 0. While these stay
/// the same, the loss is smooth in every parameter.
#[derive(Clone, Debug, PartialEq)]
struct Choices(Vec<LayerChoices>);

#[derive(Clone, Debug, PartialEq)]
enum LayerChoices {
    Pieces(Vec<i8>),
    Switches(Vec<usize>),
    ZeroWindows(Vec<bool>),
    None,
}

fn choices(model: &Model, pass: &ForwardPass) -> Choices {
    let pieces = |activation: Activation, z: &mut dyn Iterator<Item = &f64>| match activation {
        Activation::Relu | Activation::LeakyRelu => {
            LayerChoices::Pieces(z.map(|&v| activation.piece(v)).collect())
        }
        _ => LayerChoices::None,
    };
    Choices(
        model
            .layers
            .iter()
            .zip(&pass.layers)
            .map(|(layer, fwd)| match (&layer.kind, fwd) {
                (LayerKind::Conv(c), LayerForward::Conv { out, .. }) => {
                    pieces(c.activation, &mut out.z.iter())
                }
                (LayerKind::Dense(d), LayerForward::Dense { out, .. }) => {
                    pieces(d.activation, &mut out.z.iter())
                }
                (LayerKind::Pool(p), LayerForward::Pool { out, .. }) => match p.kind {
                    PoolKind::Max => {
                        LayerChoices::Switches(out.argmax.iter().flatten().copied().collect())
                    }
                    PoolKind::L2 => {
                        LayerChoices::ZeroWindows(out.output.iter().map(|&v| v == 0.0).collect())
                    }
                    PoolKind::Mean => LayerChoices::None,
                },
                _ => LayerChoices::None,
            })
            .collect(),
    )
}

/// Name the first choice that differs between the base point and a perturbed one.
fn kink_reason(
    model: &Model,
    shapes: &[Vec<usize>],
    base: &Choices,
    others: &[&Choices],
) -> Option<String> {
    for (index, layer) in model.layers.iter().enumerate() {
        let name = &layer.name;
        let shape = &shapes[index];
        for other in others {
            match (&base.0[index], &other.0[index]) {
                (LayerChoices::Pieces(a), LayerChoices::Pieces(b)) => {
                    if let Some(i) = (0..a.len()).find(|&i| a[i] != b[i]) {
                        return Some(format!(
                            "{name}.z{} crosses 0 (the ReLU kink)",
                            cell_label(shape, i)
                        ));
                    }
                }
                (LayerChoices::Switches(a), LayerChoices::Switches(b)) => {
                    if let Some(i) = (0..a.len()).find(|&i| a[i] != b[i]) {
                        return Some(format!(
                            "the switch of {name} window {} moves (a max-pool tie)",
                            cell_label(shape, i)
                        ));
                    }
                }
                (LayerChoices::ZeroWindows(a), LayerChoices::ZeroWindows(b)) => {
                    if let Some(i) = (0..a.len()).find(|&i| a[i] != b[i]) {
                        return Some(format!(
                            "{name} window {} has norm 0, where √ is not differentiable",
                            cell_label(shape, i)
                        ));
                    }
                }
                _ => {}
            }
        }
    }
    None
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

pub fn gradient_check(model: &Model, options: CheckOptions) -> CheckReport {
    let trace = model.trace(0);
    let base_pass = model.forward();
    let base_choices = choices(model, &base_pass);
    let shapes: Vec<Vec<usize>> = base_pass
        .layers
        .iter()
        .map(|l| l.output().shape().to_vec())
        .collect();
    let mut work = model.clone();
    let h = options.step;
    let mut tensors = Vec::new();
    for (label, target, layer) in targets(model) {
        let analytic = analytic_gradient(&trace.layers, &target);
        let shape = analytic.shape().to_vec();
        let mut check = TensorCheck {
            label,
            target: target.clone(),
            layer,
            cells: analytic.len(),
            max_abs_error: 0.0,
            max_rel_error: 0.0,
            failures: Vec::new(),
            kinks: Vec::new(),
        };
        for (i, &a) in analytic.iter().enumerate() {
            let original = tensor_mut(&mut work, &target)
                .as_slice_mut()
                .expect("standard layout")[i];
            let mut probe = |value: f64| {
                tensor_mut(&mut work, &target)
                    .as_slice_mut()
                    .expect("standard layout")[i] = value;
                let pass = work.forward();
                let loss = work.loss.value_and_grad(&pass.output).0;
                (loss, choices(&work, &pass))
            };
            let (plus, plus_choices) = probe(original + h);
            let (minus, minus_choices) = probe(original - h);
            tensor_mut(&mut work, &target)
                .as_slice_mut()
                .expect("standard layout")[i] = original;
            let cell = CellCheck {
                index: unravel(&shape, i),
                analytic: a,
                numeric: (plus - minus) / (2.0 * h),
            };
            if let Some(reason) = kink_reason(
                model,
                &shapes,
                &base_choices,
                &[&plus_choices, &minus_choices],
            ) {
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

/// Shortest readable form of an error figure.
fn sci(v: f64) -> String {
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
