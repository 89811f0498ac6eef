//! `deltascope diff`: compare a user's trace (export format v1, any subset of steps, layers
//! and tensors) with the reference, cell by cell, and say where their numbers first leave
//! the truth, and why when a known mistake explains it.

pub mod compare;
mod mistakes;
mod origin;
mod theirs;

pub use compare::Comparison;
pub use theirs::parse_theirs;

use ndarray::ArrayD;

use crate::check::{max_or_nan, sci, unravel};
use crate::engine::trace::{CONV_TENSORS, DENSE_TENSORS};
use crate::engine::{LayerKind, LayerTrace, Model, Pass, StepTrace, TensorName as N};
use crate::error::FieldError;
pub use origin::{Cause, Verdict, Whose};

pub const DEFAULT_TOLERANCE: f64 = 1e-6;

/// A cell differs when |yours − reference| > tolerance · max(1, |reference|): an absolute
/// tolerance for small numbers, a relative one for large. NaN matches NaN, inf matches inf.
pub fn cell_mismatch(yours: f64, reference: f64, tolerance: f64) -> bool {
    if yours.is_nan() || reference.is_nan() || yours.is_infinite() || reference.is_infinite() {
        return !(yours.is_nan() && reference.is_nan() || yours == reference);
    }
    (yours - reference).abs() > tolerance * reference.abs().max(1.0)
}

/// The absolute and relative error of one cell, as the table reports them. A cell that
/// agrees (NaN with NaN, inf with the same inf included) has error 0, and no relative error
/// when its reference is 0. A cell that differs has the error it has: NaN where either side
/// is NaN, inf where an infinity is involved, and an infinite relative error where the
/// reference is 0 (no multiple of 0 is anything else).
fn cell_errors(yours: f64, reference: f64, differs: bool) -> (f64, Option<f64>) {
    if !differs {
        // Cells that agree are both finite, or both the same NaN or infinity.
        if !reference.is_finite() {
            return (0.0, None);
        }
        let abs = (yours - reference).abs();
        return (abs, (reference != 0.0).then(|| abs / reference.abs()));
    }
    let abs = (yours - reference).abs();
    if abs.is_nan() {
        return (f64::NAN, Some(f64::NAN));
    }
    // With an infinity on either side the error is inf (not inf/inf); over a reference of
    // 0 the division gives inf by itself.
    let rel = if abs.is_infinite() {
        f64::INFINITY
    } else {
        abs / reference.abs()
    };
    (abs, Some(rel))
}

/// One tensor the user gave, with where it sits in the computation.
#[derive(Clone, Debug, PartialEq)]
pub struct GivenTensor {
    pub step: usize,
    pub pass: Pass,
    /// Layer index, or None for the step's loss and loss_grad.
    pub layer: Option<usize>,
    pub tensor: N,
    pub values: ArrayD<f64>,
    /// JSON path in the user's file, for messages.
    pub path: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CellMismatch {
    pub index: Vec<usize>,
    pub yours: f64,
    pub reference: f64,
}

impl CellMismatch {
    /// Cell `i` (row-major) of a tensor of this shape.
    fn at(shape: &[usize], i: usize, yours: f64, reference: f64) -> Self {
        CellMismatch {
            index: unravel(shape, i),
            yours,
            reference,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct TensorDiff {
    pub step: usize,
    pub pass: Pass,
    pub layer: Option<usize>,
    /// "pool1.delta_input", or "loss_grad".
    pub label: String,
    pub tensor: N,
    pub shape: Vec<usize>,
    pub max_abs_error: f64,
    pub max_rel_error: f64,
    pub mismatches: usize,
    /// The first mismatching cell in row-major order.
    pub first: Option<CellMismatch>,
    /// How the reference value of that cell is computed, with the numbers.
    pub why: Vec<String>,
    pub diagnosis: Option<String>,
    /// Whether the diagnosis names a mistake of this tensor's own computation (not a factor
    /// or a cause upstream).
    pub diagnosis_made_here: bool,
    /// Where the difference comes from, recomputed from the user's own inputs (tensors that
    /// differ only).
    pub cause: Option<origin::Cause>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct DiffReport {
    pub scenario: String,
    pub tolerance: f64,
    /// In the order the computation produces them: per step, forward in layer order,
    /// the loss, then backward in reverse layer order.
    pub tensors: Vec<TensorDiff>,
}

impl TensorDiff {
    /// What the recomputation from the user's own inputs says (None when it agrees).
    fn verdict(&self) -> Option<&Verdict> {
        self.cause.as_ref().map(|c| &c.verdict)
    }

    /// Whether it is wrong given the user's own inputs: a mistake is made here.
    pub fn made_here(&self) -> bool {
        matches!(self.verdict(), Some(Verdict::MadeHere(_)))
    }

    /// The diagnosis as the report says it, "none of the known mistakes …" included.
    fn diagnosis_text(&self) -> &str {
        self.diagnosis
            .as_deref()
            .unwrap_or("none of the known mistakes reproduces your numbers")
    }

    /// Where its difference comes from, in one sentence for the debugger's inspector
    /// (None when it agrees).
    pub fn origin_line(&self) -> Option<String> {
        let cause = self.cause.as_ref()?;
        let inputs = origin::name_inputs(&cause.inputs);
        Some(match &cause.verdict {
            Verdict::MadeHere(_) if cause.inputs.is_empty() => format!(
                "mistake made here ({}): yours is not the scenario's (deltascope export writes it)",
                cause.place
            ),
            Verdict::MadeHere(_) => format!(
                "mistake made here, in {}: computed correctly from {inputs}, this tensor is not yours",
                cause.place
            ),
            Verdict::Follows => format!(
                "no mistake here: computed correctly from {inputs}, this tensor is yours; the mistake is made before it"
            ),
            Verdict::Unknown(missing) => format!(
                "mistake not located: your file does not hold {}; add {} to tell whether the mistake is made in {}",
                join(missing),
                if missing.len() == 1 { "it" } else { "them" },
                cause.place
            ),
        })
    }
}

impl DiffReport {
    pub fn agrees(&self) -> bool {
        self.tensors.iter().all(|t| t.mismatches == 0)
    }
    pub fn first_mismatch(&self) -> Option<&TensorDiff> {
        self.tensors.iter().find(|t| t.mismatches > 0)
    }
}

/// The tensors of a pool layer in the order the computation produces them.
const POOL_LAYER_TENSORS: [N; 5] = [
    N::Input,
    N::Output,
    N::Argmax,
    N::DeltaOutput,
    N::DeltaInput,
];

/// The tensors of each layer type, in the order the computation produces them.
fn tensor_order(kind: &LayerKind) -> &'static [N] {
    match kind {
        LayerKind::Conv(_) => &CONV_TENSORS,
        LayerKind::Dense(_) => &DENSE_TENSORS,
        LayerKind::Pool(_) => &POOL_LAYER_TENSORS,
    }
}

/// Whether some layer type has a tensor of this name.
fn is_layer_tensor(name: N) -> bool {
    CONV_TENSORS
        .iter()
        .chain(&DENSE_TENSORS)
        .chain(&POOL_LAYER_TENSORS)
        .any(|t| *t == name)
}

/// The reference value of a named tensor, as f64 (argmax indices included).
fn reference_tensor(trace: &StepTrace, layer: Option<usize>, tensor: N) -> Option<ArrayD<f64>> {
    match layer {
        None => match tensor {
            N::Loss => Some(ArrayD::from_elem(ndarray::IxDyn(&[]), trace.loss)),
            N::LossGrad => Some(trace.loss_grad.clone()),
            _ => None,
        },
        Some(l) => {
            let t = &trace.layers[l].1;
            if tensor == N::Argmax {
                let LayerTrace::Pool(p) = t else { return None };
                return p.argmax.as_ref().map(|a| a.mapv(|i| i as f64).into_dyn());
            }
            t.tensor(tensor).map(|v| v.to_owned())
        }
    }
}

/// Where a tensor comes in the computation, for sorting: step, pass, layer (reversed in
/// the backward pass), then the tensor's place within its layer.
fn computation_order(model: &Model, g: &GivenTensor) -> (usize, Pass, usize, usize) {
    let layer_rank = match (g.pass, g.layer) {
        (Pass::Backward, Some(l)) => model.layers.len() - l,
        (_, Some(l)) => l,
        (_, None) => usize::from(g.tensor == N::LossGrad),
    };
    let within = g
        .layer
        .map(|l| {
            tensor_order(&model.layers[l].kind)
                .iter()
                .position(|t| *t == g.tensor)
                .unwrap_or(0)
        })
        .unwrap_or(0);
    (g.step, g.pass, layer_rank, within)
}

/// Compare the user's tensors with the reference. Fails (a malformed file) when a shape
/// differs from the reference's.
pub fn diff(
    name: &str,
    model: &Model,
    given: &[GivenTensor],
    tolerance: f64,
) -> Result<DiffReport, FieldError> {
    let mut given: Vec<&GivenTensor> = given.iter().collect();
    given.sort_by_key(|g| computation_order(model, g));
    let last_step = given.iter().map(|g| g.step).max();
    let mut traces = Vec::new();
    let mut training = model.clone();
    if let Some(last) = last_step {
        for step in 0..=last {
            traces.push((training.clone(), training.train_step(step)));
        }
    }
    // Every shape first: the recomputations below read the user's tensors of a whole step.
    for g in &given {
        let reference = reference_tensor(&traces[g.step].1, g.layer, g.tensor)
            .expect("tensor names were checked while parsing");
        if g.values.shape() != reference.shape() {
            let hint = padded_shape_hint(model, g.layer, g.tensor, g.values.shape());
            return Err(FieldError::new(
                &g.path,
                format!(
                    "expected shape {:?}, got {:?}{hint}",
                    reference.shape(),
                    g.values.shape()
                ),
            ));
        }
    }
    let yours = origin::Given::new(
        // Any step's trace has the shapes; with nothing given there is nothing to compare.
        traces.first().map(|(_, t)| t),
        given
            .iter()
            .map(|g| ((g.step, g.layer, g.tensor), &g.values)),
    );
    // The user's view of the step being compared and of the step before (for the update);
    // built when a tensor of the step differs, one step after another.
    let mut views: Vec<(usize, StepTrace)> = Vec::new();
    let mut tensors = Vec::new();
    for g in given {
        let (params, trace) = &traces[g.step];
        let reference = reference_tensor(trace, g.layer, g.tensor)
            .expect("tensor names were checked while parsing");
        // A switch is a position: the same cell or another, whatever the tolerance.
        let tolerance = if g.tensor == N::Argmax {
            0.0
        } else {
            tolerance
        };
        let label = match g.layer {
            Some(l) => format!("{}.{}", model.layers[l].name, g.tensor),
            None => g.tensor.to_string(),
        };
        let mut d = TensorDiff {
            step: g.step,
            pass: g.pass,
            layer: g.layer,
            label,
            tensor: g.tensor,
            shape: reference.shape().to_vec(),
            max_abs_error: 0.0,
            max_rel_error: 0.0,
            mismatches: 0,
            first: None,
            why: Vec::new(),
            diagnosis: None,
            diagnosis_made_here: false,
            cause: None,
        };
        for (i, (&y, &r)) in g.values.iter().zip(reference.iter()).enumerate() {
            let differs = cell_mismatch(y, r, tolerance);
            let (abs, rel) = cell_errors(y, r, differs);
            d.max_abs_error = max_or_nan(d.max_abs_error, abs);
            if let Some(rel) = rel {
                d.max_rel_error = max_or_nan(d.max_rel_error, rel);
            }
            if differs {
                d.mismatches += 1;
                if d.first.is_none() {
                    d.first = Some(CellMismatch::at(&d.shape, i, y, r));
                }
            }
        }
        // A tensor that differs: the derivation of its first wrong cell, where the mistake
        // is made, and what it is.
        if let Some(first) = &d.first {
            d.why = why(params, trace, g.layer, g.tensor, &d.shape, &first.index);
            views.retain(|(s, _)| s + 1 >= g.step);
            let from = g.step.saturating_sub(1);
            for (s, (params, trace)) in traces.iter().enumerate().take(g.step + 1).skip(from) {
                if !views.iter().any(|(v, _)| *v == s) {
                    views.push((s, origin::view(params, trace, &yours)));
                }
            }
            let view_of = |s: usize| views.iter().find(|(v, _)| *v == s).map(|(_, t)| t);
            let step = view_of(g.step).expect("built above");
            let previous = g.step.checked_sub(1).and_then(view_of);
            let correct = origin::recompute(params, step, previous, g.layer, g.tensor);
            let key = (g.step, g.layer, g.tensor);
            let cause = origin::cause(params, &yours, key, &g.values, &correct, tolerance);
            if cause.verdict != origin::Verdict::Follows {
                let inputs = match cause.verdict {
                    Verdict::Unknown(_) => mistakes::Inputs::Missing,
                    _ if first_mismatch(&correct, &reference, tolerance).is_none() => {
                        mistakes::Inputs::Right
                    }
                    _ => mistakes::Inputs::Wrong,
                };
                let subject = mistakes::Subject {
                    model: params,
                    step,
                    previous,
                    layer: g.layer,
                    tensor: g.tensor,
                    inputs,
                };
                if let Some(found) = mistakes::diagnose(&subject, &g.values, &correct, tolerance) {
                    d.diagnosis = Some(found.says);
                    d.diagnosis_made_here = found.made_here;
                }
            }
            d.cause = Some(cause);
        }
        tensors.push(d);
    }
    Ok(DiffReport {
        scenario: name.to_string(),
        tolerance,
        tensors,
    })
}

/// The first cell, in row-major order, where `yours` differs from `reference`.
fn first_mismatch(
    yours: &ArrayD<f64>,
    reference: &ArrayD<f64>,
    tolerance: f64,
) -> Option<CellMismatch> {
    let (i, (&y, &r)) = yours
        .iter()
        .zip(reference.iter())
        .enumerate()
        .find(|(_, (y, r))| cell_mismatch(**y, **r, tolerance))?;
    Some(CellMismatch::at(reference.shape(), i, y, r))
}

/// The derivation of one reference cell, from the debugger's inspector.
fn why(
    model: &Model,
    trace: &StepTrace,
    layer: Option<usize>,
    tensor: N,
    shape: &[usize],
    index: &[usize],
) -> Vec<String> {
    use crate::explain::{CellRef, Context, explain};
    use crate::timeline::Node;
    let name = tensor;
    let cell = match layer {
        Some(l) => CellRef::new(Node::Layer(l), name, index),
        // The loss node's tensors are flat.
        None => {
            let flat = index
                .iter()
                .zip(shape)
                .fold(0, |acc, (&i, &len)| acc * len + i);
            CellRef::new(Node::Loss, name, &[flat])
        }
    };
    let ctx = Context {
        model,
        trace,
        updated: None,
        backward_from: 0,
    };
    explain(&ctx, &cell)
        .map(|e| e.to_lines(12))
        .unwrap_or_default()
}

fn padded_shape_hint(model: &Model, layer: Option<usize>, tensor: N, got: &[usize]) -> String {
    if let (Some(l), N::DeltaInput) = (layer, tensor)
        && let LayerKind::Conv(conv) = &model.layers[l].kind
        && conv.padding != [0, 0]
        && got.len() == 3
    {
        return format!(
            " (with padding {:?} δ_input has the shape of the unpadded input: crop the padding away)",
            conv.padding
        );
    }
    if let (Some(l), N::Weights | N::GradWeights) = (layer, tensor)
        && let LayerKind::Dense(dense) = &model.layers[l].kind
        && got == [dense.inputs(), dense.outputs()]
    {
        return format!(
            " (deltascope's dense weights are [outputs][inputs] = [{}][{}]: yours has them transposed)",
            dense.outputs(),
            dense.inputs()
        );
    }
    String::new()
}

/// "1 tensor", "2 tensors".
fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

impl DiffReport {
    /// The report printed by `deltascope diff`: the tensors that differ, and how many
    /// agree.
    pub fn to_text(&self) -> String {
        self.render(false)
    }

    /// The report printed by `deltascope diff --all`: every tensor given, in the order of
    /// the computation.
    pub fn to_text_all(&self) -> String {
        self.render(true)
    }

    fn render(&self, every_row: bool) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "diff against {} (tolerance {}: a cell differs when |yours − reference| > tolerance × max(1, |reference|))",
            self.scenario,
            sci(self.tolerance)
        );
        let total = self.tensors.len();
        let differing = self.tensors.iter().filter(|t| t.mismatches > 0).count();
        let agreeing = total - differing;
        let tolerance = sci(self.tolerance);
        if every_row || differing > 0 {
            let _ = writeln!(
                out,
                "{:>4}  {:<8}  {:<24} {:>14} {:>11} {:>11} {:>9}",
                "step", "pass", "tensor", "shape", "max abs err", "max rel err", "differ"
            );
        }
        // Without --all, the steps after the first difference are folded to a line each:
        // one early mistake would otherwise bury it under rows of later differences.
        let first = self.first_mismatch();
        let first_step = first.map(|t| t.step);
        let mut folded = std::collections::BTreeMap::<usize, usize>::new();
        for t in &self.tensors {
            if !every_row && t.mismatches == 0 {
                continue;
            }
            if !every_row && first_step.is_some_and(|first| t.step > first) {
                *folded.entry(t.step).or_default() += 1;
                continue;
            }
            // An argmax is a position: how many differ says it, an error would not.
            let [abs_error, rel_error] = if t.tensor == N::Argmax {
                ["-".to_string(), "-".to_string()]
            } else {
                [sci(t.max_abs_error), sci(t.max_rel_error)]
            };
            // Where a mistake is made, the row says so: the rows below it follow from it.
            let made_here = t.made_here();
            let _ = writeln!(
                out,
                "{:>4}  {:<8}  {:<24} {:>14} {:>11} {:>11} {:>9}{}",
                t.step,
                t.pass.name(),
                t.label,
                format!("{:?}", t.shape),
                abs_error,
                rel_error,
                if t.mismatches == 0 {
                    "ok".to_string()
                } else {
                    format!("{}/{}", t.mismatches, t.shape.iter().product::<usize>())
                },
                if made_here { "  ← mistake" } else { "" }
            );
        }
        if let Some(first_step) = first_step {
            for (step, n) in &folded {
                let _ = writeln!(
                    out,
                    "{step:>4}  {} {}, after the first difference in step {first_step} (--all lists them)",
                    count(*n, "tensor"),
                    if *n == 1 { "differs" } else { "differ" },
                );
            }
        }
        match first {
            None => {
                let steps: std::collections::BTreeSet<usize> =
                    self.tensors.iter().map(|t| t.step).collect();
                let cells: usize = self
                    .tensors
                    .iter()
                    .map(|t| t.shape.iter().product::<usize>())
                    .sum();
                let _ = writeln!(
                    out,
                    "{}{} within {tolerance} ({}, {})",
                    if every_row { "\n" } else { "" },
                    match total {
                        1 => "the 1 tensor agrees".to_string(),
                        n => format!("all {n} tensors agree"),
                    },
                    count(steps.len(), "step"),
                    count(cells, "cell")
                );
            }
            Some(t) => {
                if agreeing > 0 {
                    let _ = writeln!(
                        out,
                        "{} within {tolerance}{}",
                        match agreeing {
                            1 => "1 other tensor agrees".to_string(),
                            n => format!("{n} other tensors agree"),
                        },
                        if every_row {
                            ""
                        } else {
                            " (--all lists every tensor)"
                        }
                    );
                }
                let cell = t
                    .first
                    .as_ref()
                    .expect("a mismatching tensor has a first cell");
                let _ = writeln!(
                    out,
                    "\nfirst difference: step {}, {} pass, {}{:?}: yours {}, reference {}",
                    t.step,
                    t.pass.name(),
                    t.label,
                    cell.index,
                    cell.yours,
                    cell.reference
                );
                if !t.why.is_empty() {
                    let _ = writeln!(out, "the reference value comes from:");
                    for line in &t.why {
                        let _ = writeln!(out, "  {line}");
                    }
                }
                self.explain_origin(t, &mut out);
            }
        }
        out
    }
}

impl DiffReport {
    /// Where the first difference comes from, what the mistake is, and what the later
    /// differences are: the same mistake again, another one, or only its consequences.
    fn explain_origin(&self, first: &TensorDiff, out: &mut String) {
        use std::fmt::Write;
        let Some(cause) = &first.cause else { return };
        let _ = writeln!(out, "{}", where_it_goes_wrong(first, cause, true));
        if cause.verdict != Verdict::Follows {
            let _ = writeln!(out, "diagnosis: {}", first.diagnosis_text());
        }
        let later: Vec<&TensorDiff> = self
            .tensors
            .iter()
            .filter(|t| t.mismatches > 0 && !std::ptr::eq(*t, first))
            .collect();
        let same_place =
            |a: &TensorDiff, b: &TensorDiff| a.layer == b.layer && a.tensor == b.tensor;
        // The same mistake made again at later steps, said once.
        let again: Vec<usize> = later
            .iter()
            .filter(|t| t.made_here() && same_place(t, first))
            .map(|t| t.step)
            .collect();
        if !again.is_empty() {
            let _ = writeln!(out, "the same mistake again in {}", steps(&again));
        }
        let mut others: Vec<&TensorDiff> = Vec::new();
        for t in later
            .iter()
            .filter(|t| t.made_here() && !same_place(t, first))
        {
            if others.iter().any(|o| same_place(o, t)) {
                continue;
            }
            // After a first difference that is not located, the first mistake that is.
            let which = if first.made_here() || !others.is_empty() {
                "another"
            } else {
                "the first located"
            };
            others.push(t);
            let cause = t.cause.as_ref().expect("made here");
            let _ = writeln!(out, "\n{which} {}", where_it_goes_wrong(t, cause, false));
            let _ = writeln!(out, "  diagnosis: {}", t.diagnosis_text());
            let again: Vec<usize> = later
                .iter()
                .filter(|u| u.made_here() && same_place(u, t) && u.step != t.step)
                .map(|u| u.step)
                .collect();
            if !again.is_empty() {
                let _ = writeln!(out, "  the same again in {}", steps(&again));
            }
        }
        let follows: Vec<String> = later
            .iter()
            .filter(|t| t.verdict() == Some(&Verdict::Follows))
            .map(|t| step_label(t, first.step))
            .collect();
        if !follows.is_empty() {
            let _ = writeln!(
                out,
                "{} only because {} inputs do: {} what a correct computation gives from your own inputs ({})",
                count_differ(follows.len(), "later tensor"),
                if follows.len() == 1 { "its" } else { "their" },
                if follows.len() == 1 {
                    "it is"
                } else {
                    "each is"
                },
                some_of(&follows)
            );
        }
        let unknown: Vec<String> = later
            .iter()
            .filter(|t| matches!(t.verdict(), Some(Verdict::Unknown(_))))
            .map(|t| step_label(t, first.step))
            .collect();
        if !unknown.is_empty() {
            let _ = writeln!(
                out,
                "{} too; {} inputs are not all in your file, so diff can't tell whether {} only follow{} from the first ({})",
                count_differ(unknown.len(), "later tensor"),
                if unknown.len() == 1 { "its" } else { "their" },
                if unknown.len() == 1 { "it" } else { "they" },
                if unknown.len() == 1 { "s" } else { "" },
                some_of(&unknown)
            );
        }
    }
}

/// The paragraph that says where a difference comes from. `first`: the report's first
/// difference (whose derivation from the reference is shown just above).
fn where_it_goes_wrong(t: &TensorDiff, cause: &Cause, first: bool) -> String {
    let inputs = origin::name_inputs(&cause.inputs);
    match &cause.verdict {
        Verdict::MadeHere(cell) if cause.inputs.is_empty() => format!(
            "mistake: step {}, {}: your {}{:?} is {}, the scenario's is {} (deltascope export writes it)",
            t.step, cause.place, t.label, cell.index, cell.yours, cell.reference
        ),
        Verdict::MadeHere(cell) => format!(
            "mistake: step {}, {}. Computed correctly from {inputs}, {}{:?} is {} (yours {}): the mistake is made here{}",
            t.step,
            cause.place,
            t.label,
            cell.index,
            cell.reference,
            cell.yours,
            if first { ", not before" } else { "" }
        ),
        Verdict::Unknown(missing) => {
            let missing = join(missing);
            let mut text = format!(
                "mistake: not located. {} is computed from {inputs}; your file does not hold {missing}, so the mistake may be in {} or before it: add {missing} to your file to tell",
                t.label, cause.place
            );
            if t.diagnosis_made_here {
                text += &format!(
                    ". With the reference's in their place, the diagnosis below reproduces every cell of yours: the mistake is most likely made in {}",
                    cause.place
                );
            }
            text
        }
        Verdict::Follows => format!(
            "mistake: before {}. Computed correctly from {inputs}, it is yours: one of them is where to look",
            t.label
        ),
    }
}

/// "a", "a and b", "a, b and c".
fn join(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// A few names of a list, and how many more.
fn some_of(names: &[String]) -> String {
    const SHOWN: usize = 4;
    if names.len() <= SHOWN + 1 {
        return names.join(", ");
    }
    format!(
        "{}, and {} more",
        names[..SHOWN].join(", "),
        names.len() - SHOWN
    )
}

/// "conv1.delta_z", or "conv1.delta_z of step 2" when it is not of the step in view.
fn step_label(t: &TensorDiff, step: usize) -> String {
    if t.step == step {
        t.label.clone()
    } else {
        format!("{} of step {}", t.label, t.step)
    }
}

/// "step 2", "steps 1 and 2", "steps 1–3 and 7": runs of consecutive steps as ranges.
fn steps(list: &[usize]) -> String {
    let mut list = list.to_vec();
    list.sort_unstable();
    list.dedup();
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for s in list {
        match runs.last_mut() {
            Some((_, end)) if *end + 1 == s => *end = s,
            _ => runs.push((s, s)),
        }
    }
    let names: Vec<String> = runs
        .iter()
        .flat_map(|&(a, b)| match b - a {
            0 => vec![a.to_string()],
            1 => vec![a.to_string(), b.to_string()],
            _ => vec![format!("{a}–{b}")],
        })
        .collect();
    let plural = runs.len() > 1 || runs.iter().any(|(a, b)| a != b);
    format!("step{} {}", if plural { "s" } else { "" }, join(&names))
}

/// "1 later tensor differs", "3 later tensors differ".
fn count_differ(n: usize, noun: &str) -> String {
    format!(
        "{} {}",
        count(n, noun),
        if n == 1 { "differs" } else { "differ" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A row of layer "a", "b", "c"… (layer 0, 1, 2…); one that differs is made there.
    fn row(step: usize, label: &str, mismatches: usize) -> TensorDiff {
        let cell = CellMismatch {
            index: vec![0, 1],
            yours: 1.5,
            reference: 1.0,
        };
        TensorDiff {
            step,
            pass: Pass::Backward,
            layer: Some(usize::from(label.as_bytes()[0] - b'a')),
            label: label.into(),
            tensor: N::DeltaInput,
            shape: vec![2, 2],
            max_abs_error: if mismatches > 0 { 0.5 } else { 0.0 },
            max_rel_error: 0.0,
            mismatches,
            first: (mismatches > 0).then(|| CellMismatch {
                index: vec![0, 1],
                yours: 1.5,
                reference: 1.0,
            }),
            why: Vec::new(),
            diagnosis: None,
            diagnosis_made_here: false,
            cause: (mismatches > 0).then(|| Cause {
                place: format!("{}'s backward pass", &label[..1]),
                inputs: vec![(Whose::Yours, format!("{}.delta_z", &label[..1]))],
                verdict: Verdict::MadeHere(cell),
            }),
        }
    }

    fn with(mut row: TensorDiff, verdict: Verdict) -> TensorDiff {
        row.cause.as_mut().expect("a row that differs").verdict = verdict;
        row
    }

    fn report(tensors: Vec<TensorDiff>) -> DiffReport {
        DiffReport {
            scenario: "s".into(),
            tolerance: DEFAULT_TOLERANCE,
            tensors,
        }
    }

    /// The report without its first line (the tolerance) and the table's header.
    fn body(text: &str) -> Vec<&str> {
        text.lines()
            .skip(1)
            .filter(|l| !l.starts_with("step  pass"))
            .collect()
    }

    #[test]
    fn nan_and_inf_match_only_themselves() {
        let tol = DEFAULT_TOLERANCE;
        // NaN against NaN is no difference, nor is an infinity against the same infinity.
        assert!(!cell_mismatch(f64::NAN, f64::NAN, tol));
        assert!(!cell_mismatch(f64::INFINITY, f64::INFINITY, tol));
        assert!(!cell_mismatch(f64::NEG_INFINITY, f64::NEG_INFINITY, tol));
        // Anything else where either side is not finite is one, both ways round.
        for (yours, reference) in [
            (f64::NAN, 0.5),
            (0.5, f64::NAN),
            (f64::NAN, f64::INFINITY),
            (f64::INFINITY, f64::NAN),
            (f64::INFINITY, 0.5),
            (0.5, f64::INFINITY),
            (-0.5, f64::NEG_INFINITY),
            (f64::INFINITY, f64::NEG_INFINITY),
            (f64::NEG_INFINITY, f64::INFINITY),
        ] {
            assert!(
                cell_mismatch(yours, reference, tol),
                "{yours} against {reference}"
            );
        }
    }

    #[test]
    fn a_cell_differs_beyond_the_tolerance_times_max_1_reference() {
        // Relative for large numbers: 0.25 × |2| = 0.5, exactly representable.
        assert!(!cell_mismatch(2.5, 2.0, 0.25), "at the boundary");
        assert!(!cell_mismatch(-2.5, -2.0, 0.25), "at the boundary");
        assert!(cell_mismatch(2.5000001, 2.0, 0.25));
        assert!(cell_mismatch(1.4999999, 2.0, 0.25));
        // Absolute below 1: 0.25 × max(1, 0.5) = 0.25.
        assert!(!cell_mismatch(0.75, 0.5, 0.25), "at the boundary");
        assert!(cell_mismatch(0.7500001, 0.5, 0.25));
        assert!(!cell_mismatch(0.25, 0.0, 0.25), "at the boundary");
        assert!(
            !cell_mismatch(1e-6, 0.0, DEFAULT_TOLERANCE),
            "at the boundary"
        );
        assert!(cell_mismatch(1.1e-6, 0.0, DEFAULT_TOLERANCE));
    }

    #[test]
    fn lists_the_tensors_that_differ_and_counts_the_rest() {
        let r = report(vec![
            row(0, "a.delta_input", 0),
            row(0, "b.delta_input", 1),
            row(1, "a.delta_input", 0),
            row(1, "b.delta_input", 0),
            row(1, "c.delta_input", 0),
        ]);
        let text = r.to_text();
        assert_eq!(
            body(&text),
            [
                "   0  backward  b.delta_input                    [2, 2]      5.0e-1           0       1/4  ← mistake",
                "4 other tensors agree within 1.0e-6 (--all lists every tensor)",
                "",
                "first difference: step 0, backward pass, b.delta_input[0, 1]: yours 1.5, reference 1",
                "mistake: step 0, b's backward pass. Computed correctly from your b.delta_z, b.delta_input[0, 1] is 1 (yours 1.5): the mistake is made here, not before",
                "diagnosis: none of the known mistakes reproduces your numbers",
            ]
        );
        // --all: every row, as the computation produces them.
        let text = r.to_text_all();
        assert_eq!(text.matches(" ok\n").count(), 4, "{text}");
        assert!(
            text.contains("\n4 other tensors agree within 1.0e-6\n"),
            "{text}"
        );
    }

    #[test]
    fn the_table_has_its_header_whenever_it_lists_rows() {
        let header = "step  pass      tensor                            shape max abs err max rel err    differ";
        let headers = |text: &str| text.lines().filter(|l| *l == header).count();
        let differing = report(vec![row(0, "a", 1), row(0, "b", 0)]);
        assert_eq!(headers(&differing.to_text()), 1, "{}", differing.to_text());
        assert_eq!(differing.to_text().lines().nth(1), Some(header));
        assert_eq!(headers(&differing.to_text_all()), 1);
        // All agree: only a line of counts, unless every row is asked for.
        let agreeing = report(vec![row(0, "a", 0)]);
        assert_eq!(headers(&agreeing.to_text()), 0, "{}", agreeing.to_text());
        assert_eq!(headers(&agreeing.to_text_all()), 1);
    }

    /// conv1.delta_z of the default scenario at step 0, with two cells changed: one whose
    /// reference is 0 (a dead ReLU) by 0.75, one whose reference is not by half of it.
    #[test]
    fn the_errors_are_the_largest_absolute_and_relative_ones() {
        let s = crate::scenario::default_scenario();
        let reference = s.model.trace(0).layers[0]
            .1
            .tensor(N::DeltaZ)
            .unwrap()
            .to_owned();
        let cells = reference.as_slice().unwrap();
        let zero = cells.iter().position(|&r| r == 0.0).expect("a dead ReLU");
        let other = cells.iter().position(|&r| r != 0.0).unwrap();
        let r = cells[other];
        let mut yours = reference.clone();
        yours.as_slice_mut().unwrap()[zero] = 0.75;
        yours.as_slice_mut().unwrap()[other] = r + 0.5 * r.abs();
        let given = [GivenTensor {
            step: 0,
            pass: Pass::Backward,
            layer: Some(0),
            tensor: N::DeltaZ,
            values: yours.clone(),
            path: "steps[0].layers[0].delta_z".into(),
        }];
        let report = diff(&s.name, &s.model, &given, DEFAULT_TOLERANCE).unwrap();
        let d = &report.tensors[0];
        assert_eq!(d.mismatches, 2);
        // The largest |yours − reference| is the dead ReLU's 0.75 ...
        assert_eq!(d.max_abs_error, 0.75);
        // ... whose reference is 0: no multiple of 0 gives 0.75, its relative error is inf.
        assert_eq!(d.max_rel_error, f64::INFINITY);
        // Without it, the largest relative error is |yours − r| / |r| of the other cell.
        yours.as_slice_mut().unwrap()[zero] = 0.0;
        let given = [GivenTensor {
            values: yours.clone(),
            ..given[0].clone()
        }];
        let report = diff(&s.name, &s.model, &given, DEFAULT_TOLERANCE).unwrap();
        let d = &report.tensors[0];
        let changed = yours.as_slice().unwrap()[other];
        assert_eq!(d.max_rel_error, (changed - r).abs() / r.abs());
        assert!((d.max_rel_error - 0.5).abs() < 1e-12, "{}", d.max_rel_error);
    }

    #[test]
    fn a_cells_errors_show_what_is_wrong_with_it() {
        let (nan, inf) = (f64::NAN, f64::INFINITY);
        let is = |got: (f64, Option<f64>), abs: f64, rel: Option<f64>| {
            let same = |a: f64, b: f64| a == b || a.is_nan() && b.is_nan();
            same(got.0, abs) && got.1.is_some() == rel.is_some() && {
                got.1.zip(rel).is_none_or(|(g, r)| same(g, r))
            }
        };
        // Cells that agree: error 0 (also NaN with NaN, inf with inf), none relative to 0.
        assert!(is(cell_errors(nan, nan, false), 0.0, None));
        assert!(is(cell_errors(inf, inf, false), 0.0, None));
        assert!(is(cell_errors(1e-9, 0.0, false), 1e-9, None));
        assert!(is(cell_errors(2.5, 2.0, false), 0.5, Some(0.25)));
        // Cells that differ.
        assert!(is(cell_errors(nan, 1.0, true), nan, Some(nan)));
        assert!(is(cell_errors(1.0, nan, true), nan, Some(nan)));
        assert!(is(cell_errors(inf, 1.0, true), inf, Some(inf)));
        assert!(is(cell_errors(1.0, -inf, true), inf, Some(inf)));
        assert!(is(cell_errors(-inf, inf, true), inf, Some(inf)));
        assert!(is(cell_errors(0.5, 0.0, true), 0.5, Some(inf)));
        assert!(is(cell_errors(-3.0, 2.0, true), 5.0, Some(2.5)));
    }

    /// A tensor whose only wrong cell is NaN reports NaN, not error 0; an argmax reports how
    /// many switches differ, with no error figure.
    #[test]
    fn the_table_shows_nan_and_leaves_argmax_without_an_error() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scenarios/max_pool_switches.json"
        );
        let s = crate::scenario::load(std::path::Path::new(path)).unwrap();
        let trace = s.model.trace(0);
        let mut z = trace.layers[0].1.tensor(N::Z).unwrap().to_owned();
        let cells = z.len();
        z.as_slice_mut().unwrap()[3] = f64::NAN;
        let pool = (s.model.layers.iter())
            .position(
                |l| matches!(&l.kind, LayerKind::Pool(p) if p.kind == crate::engine::PoolKind::Max),
            )
            .expect("a max pool");
        let mut argmax = reference_tensor(&trace, Some(pool), N::Argmax).unwrap();
        // The last switch, whose index (a cell of the last rows) is large enough that a
        // tolerance of 0.1 × it would cover an error of 1.
        let last = argmax.len() - 1;
        assert!(argmax.as_slice().unwrap()[last] >= 10.0);
        argmax.as_slice_mut().unwrap()[last] += 1.0;
        let given = vec![
            GivenTensor {
                step: 0,
                pass: Pass::Forward,
                layer: Some(0),
                tensor: N::Z,
                values: z,
                path: "steps[0].layers[0].z".into(),
            },
            GivenTensor {
                step: 0,
                pass: Pass::Forward,
                layer: Some(pool),
                tensor: N::Argmax,
                values: argmax,
                path: format!("steps[0].layers[{pool}].argmax"),
            },
        ];
        let report = diff(&s.name, &s.model, &given, DEFAULT_TOLERANCE).unwrap();
        // A switch one cell off differs under any tolerance.
        let loose = diff(&s.name, &s.model, &given, 0.1).unwrap();
        assert_eq!(loose.tensors[1].tensor, N::Argmax);
        assert_eq!(loose.tensors[1].mismatches, 1);
        let z = &report.tensors[0];
        assert!(z.max_abs_error.is_nan() && z.max_rel_error.is_nan());
        assert_eq!(z.mismatches, 1);
        let text = report.to_text();
        let row = |name: &str| -> Vec<String> {
            let line = text.lines().find(|l| l.contains(name)).expect(name);
            line.split("  ←")
                .next()
                .unwrap()
                .split_whitespace()
                .map(String::from)
                .collect()
        };
        let z = row(".z ");
        assert_eq!(
            z[z.len() - 3..],
            ["NaN", "NaN", &format!("1/{cells}")],
            "{text}"
        );
        let switches = row(".argmax");
        assert_eq!(
            switches[switches.len() - 3..switches.len() - 1],
            ["-", "-"],
            "{text}"
        );
    }

    #[test]
    fn the_inspector_says_where_the_mistake_is_in_one_line() {
        let line = |verdict: Verdict, inputs: Vec<(Whose, String)>| {
            let mut t = row(0, "a.delta_input", 1);
            let cause = t.cause.as_mut().unwrap();
            cause.verdict = verdict;
            cause.inputs = inputs;
            t.origin_line().unwrap()
        };
        let made = || Verdict::MadeHere(row(0, "a", 1).first.unwrap());
        let yours = || vec![(Whose::Yours, "a.delta_z".to_string())];
        assert_eq!(
            line(made(), yours()),
            "mistake made here, in a's backward pass: computed correctly from your a.delta_z, this tensor is not yours"
        );
        assert_eq!(
            line(made(), Vec::new()),
            "mistake made here (a's backward pass): yours is not the scenario's (deltascope export writes it)"
        );
        assert_eq!(
            line(Verdict::Follows, yours()),
            "no mistake here: computed correctly from your a.delta_z, this tensor is yours; the mistake is made before it"
        );
        assert_eq!(
            line(
                Verdict::Unknown(vec!["a.delta_z".into(), "a.weights".into()]),
                yours()
            ),
            "mistake not located: your file does not hold a.delta_z and a.weights; add them to tell whether the mistake is made in a's backward pass"
        );
        assert!(
            line(Verdict::Unknown(vec!["a.delta_z".into()]), yours()).contains("; add it to tell")
        );
        assert_eq!(row(0, "a", 0).origin_line(), None, "a tensor that agrees");
    }

    #[test]
    fn a_long_list_of_names_shows_four_and_counts_the_rest() {
        let names = |n: usize| (0..n).map(|i| format!("t{i}")).collect::<Vec<_>>();
        assert_eq!(some_of(&names(1)), "t0");
        assert_eq!(some_of(&names(4)), "t0, t1, t2, t3");
        // "and 1 more" would take the room of the name itself.
        assert_eq!(some_of(&names(5)), "t0, t1, t2, t3, t4");
        assert_eq!(some_of(&names(6)), "t0, t1, t2, t3, and 2 more");
        assert_eq!(join(&names(3)), "t0, t1 and t2");
    }

    #[test]
    fn steps_are_listed_with_runs_as_ranges() {
        assert_eq!(steps(&[3]), "step 3");
        assert_eq!(steps(&[1, 2]), "steps 1 and 2");
        assert_eq!(steps(&[3, 7]), "steps 3 and 7");
        assert_eq!(steps(&[2, 1, 2]), "steps 1 and 2");
        assert_eq!(steps(&[1, 2, 3]), "steps 1–3");
        assert_eq!(steps(&[1, 2, 3, 7, 9, 10]), "steps 1–3, 7, 9 and 10");
        assert_eq!(steps(&[0, 4, 5, 6, 7]), "steps 0 and 4–7");
    }

    #[test]
    fn counts_are_singular_or_plural() {
        let text = report(vec![
            row(0, "a", 1),
            row(0, "b", 0),
            with(row(2, "c", 1), Verdict::Follows),
        ])
        .to_text();
        assert!(
            text.contains("\n1 other tensor agrees within 1.0e-6 ("),
            "{text}"
        );
        assert!(
            text.contains("\n1 later tensor differs only because its inputs do: it is what a correct computation gives from your own inputs (c of step 2)\n"),
            "{text}"
        );
        let unknown = || Verdict::Unknown(vec!["x".into()]);
        let text = report(vec![
            row(0, "a", 1),
            with(row(0, "b", 1), Verdict::Follows),
            with(row(1, "c", 1), Verdict::Follows),
            with(row(2, "c", 1), unknown()),
            with(row(2, "d", 1), unknown()),
        ])
        .to_text();
        assert!(!text.contains("agree"), "{text}");
        assert!(text.contains("\n2 later tensors differ only because their inputs do: each is what a correct computation gives from your own inputs (b, c of step 1)\n"), "{text}");
        assert!(text.contains("\n2 later tensors differ too; their inputs are not all in your file, so diff can't tell whether they only follow from the first (c of step 2, d of step 2)\n"), "{text}");
        let text = report(vec![row(0, "a", 1), with(row(0, "b", 1), unknown())]).to_text();
        assert!(text.contains("\n1 later tensor differs too; its inputs are not all in your file, so diff can't tell whether it only follows from the first (b)\n"), "{text}");

        // All agree: a line of counts, without the table unless asked for.
        let text = report(vec![row(3, "a", 0)]).to_text();
        assert_eq!(
            body(&text),
            ["the 1 tensor agrees within 1.0e-6 (1 step, 4 cells)"]
        );
        let text = report(vec![row(0, "a", 0), row(1, "a", 0)]).to_text();
        assert_eq!(
            body(&text),
            ["all 2 tensors agree within 1.0e-6 (2 steps, 8 cells)"]
        );
        let text = report(vec![row(0, "a", 0), row(1, "a", 0)]).to_text_all();
        assert_eq!(body(&text).len(), 4, "{text}");
    }
}
