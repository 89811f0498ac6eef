//! The sum behind a number: for any cell of any tensor of a traced step, the formula that
//! produced it with the numbers substituted, as a list of terms, each naming the cells it
//! reads. Pure; the inspector renders it and highlights the source cells.
//!
//! Terms are listed in the order the engine adds them, so for sums the listed terms add up
//! to the traced value (to rounding; the tests hold them to 1e-12).

mod activation;
mod conv;
mod dense;
mod format;
mod links;
mod loss;
mod pool;
#[cfg(test)]
mod tests;

pub use format::{exact, idx, index_expr, short};

use ndarray::ArrayD;

use crate::engine::TensorName as N;
use crate::engine::{LayerKind, LayerTrace, Loss, Model, PoolKind, StepTrace};
use crate::timeline::Node;

/// A cell of a tensor of a node.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CellRef {
    pub node: Node,
    /// A tensor of the trace (`z`, `delta_input`, …), or a derived one: `mask` (pool routing
    /// weights), `weights_next`/`bias_next` (after the update), and for the loss node
    /// `output`, `target`, `loss_grad`, `loss`.
    pub tensor: N,
    pub index: Vec<usize>,
}

impl CellRef {
    pub fn new(node: Node, tensor: N, index: &[usize]) -> Self {
        CellRef {
            node,
            tensor,
            index: index.to_vec(),
        }
    }
}

/// One term of a derivation.
#[derive(Clone, Debug, PartialEq)]
pub struct Term {
    /// The term in symbols, e.g. "w[0,0,1,2]·x[0,3,4]".
    pub symbolic: String,
    /// The same with the numbers, e.g. "-0.87 × 0.54".
    pub numeric: String,
    pub value: f64,
    /// Whether it counts towards the total (a losing cell of a max window does not; nor a
    /// kernel tap over the zero padding).
    pub contributes: bool,
    /// The cells it reads.
    pub sources: Vec<CellRef>,
    /// E.g. the rot180 index of a kernel tap, or "padding".
    pub note: Option<String>,
}

/// How the terms combine into the value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Combine {
    /// Σ of the contributing terms.
    Sum,
    /// The one contributing term is the maximum of all listed.
    Max,
    /// √(Σ of the terms).
    SqrtOfSum,
    /// A single term, or none (a parameter or an input).
    Value,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Explanation {
    pub cell: CellRef,
    /// The traced value of the cell.
    pub value: f64,
    /// What the cell is, e.g. "conv1.δ_input[0,3,4]: δ reaching the input of conv1".
    pub title: String,
    /// The general formula.
    pub formula: String,
    pub combine: Combine,
    pub terms: Vec<Term>,
    pub notes: Vec<String>,
    /// Said in place of the total when no term counts, e.g. "this cell is not the
    /// switch of any window: δ = 0".
    pub no_terms: Option<String>,
}

impl Explanation {
    /// The terms combined in the listed order.
    pub fn total(&self) -> f64 {
        let contributing = self.terms.iter().filter(|t| t.contributes).map(|t| t.value);
        match self.combine {
            Combine::Sum | Combine::Max => contributing.fold(0.0, |acc, v| acc + v),
            Combine::SqrtOfSum => contributing.fold(0.0, |acc, v| acc + v).sqrt(),
            Combine::Value => self
                .terms
                .iter()
                .find(|t| t.contributes)
                .map_or(self.value, |t| t.value),
        }
    }

    /// The derivation as plain text: the formula, the contributing terms (at most
    /// `max_terms`) and their total. Used where there is no inspector, e.g. `diff`.
    pub fn to_lines(&self, max_terms: usize) -> Vec<String> {
        let mut lines = vec![self.formula.clone()];
        let counted: Vec<&Term> = self.terms.iter().filter(|t| t.contributes).collect();
        for t in counted.iter().take(max_terms) {
            let note = t
                .note
                .as_ref()
                .map(|n| format!("{n}  "))
                .unwrap_or_default();
            lines.push(format!(
                "  {note}{} = {} = {}",
                t.symbolic,
                t.numeric,
                short(t.value)
            ));
        }
        if counted.len() > max_terms {
            lines.push(format!("  … and {} more terms", counted.len() - max_terms));
        }
        let what = match self.combine {
            Combine::Sum => format!(
                "Σ of {} term{}",
                counted.len(),
                if counted.len() == 1 { "" } else { "s" }
            ),
            Combine::Max => "the maximum".to_string(),
            Combine::SqrtOfSum => format!(
                "√(Σ of {} term{})",
                counted.len(),
                if counted.len() == 1 { "" } else { "s" }
            ),
            Combine::Value => "value".to_string(),
        };
        if !counted.is_empty() {
            lines.push(format!("  {what} = {}", short(self.total())));
        } else if let Some(why) = &self.no_terms {
            lines.push(format!("  {why}"));
        }
        lines
    }

    /// Every cell the contributing terms read.
    pub fn sources(&self) -> impl Iterator<Item = &CellRef> {
        self.terms
            .iter()
            .filter(|t| t.contributes)
            .flat_map(|t| t.sources.iter())
    }
}

/// A traced step with the parameters and geometry that produced it.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    /// The model whose parameters the step used.
    pub model: &'a Model,
    pub trace: &'a StepTrace,
    /// The model after the step's update, when it has been applied.
    pub updated: Option<&'a Model>,
    /// Layers from this index on have run backward at the position shown; gradients of
    /// earlier layers are not known yet and are not mentioned (0: all known).
    pub backward_from: usize,
}

/// The symbol of a tensor in formulas.
pub fn symbol(kind: &str, tensor: N) -> &'static str {
    match (kind, tensor) {
        ("pool", N::Output) => "y",
        ("pool", N::DeltaOutput) => "δy",
        ("pool", N::Mask) => "route",
        ("loss", N::Output) => "y",
        ("loss", N::Target) => "t",
        ("loss", N::LossGrad) => "∂L/∂y",
        ("loss", N::Loss) => "L",
        ("dense", N::Weights) => "W",
        ("dense", N::WeightsNext) => "W′",
        ("dense", N::GradWeights) => "∂W",
        (_, N::Input) => "x",
        (_, N::Weights) => "w",
        (_, N::WeightsNext) => "w′",
        (_, N::Bias) => "b",
        (_, N::BiasNext) => "b′",
        (_, N::Z) => "z",
        (_, N::A) => "a",
        (_, N::DeltaA) => "δa",
        (_, N::DeltaZ) => "δz",
        (_, N::DeltaInput) => "δx",
        (_, N::GradWeights) => "∂w",
        (_, N::GradBias) => "∂b",
        _ => "?",
    }
}

/// The symbol of a pool's mask: what it holds for that kind of pooling. Max pooling
/// keeps switches (how many windows a cell is the maximum of), mean pooling routes 1/m,
/// L2 pooling x/‖x‖.
pub fn mask_symbol(kind: PoolKind) -> &'static str {
    match kind {
        PoolKind::Max => "switch",
        PoolKind::Mean => "1/m",
        PoolKind::L2 => "x/‖x‖",
    }
}

/// The symbol of a tensor of a node, with pool masks named by their kind.
fn cell_symbol(model: &Model, node: Node, tensor: N) -> &'static str {
    match (node, tensor) {
        (Node::Layer(i), N::Mask) => match &model.layers[i].kind {
            LayerKind::Pool(p) => mask_symbol(p.kind),
            _ => "?",
        },
        _ => symbol(node_kind(model, node), tensor),
    }
}

fn node_kind(model: &Model, node: Node) -> &'static str {
    match node {
        Node::Layer(i) => model.layers[i].kind.type_name(),
        Node::Loss => "loss",
    }
}

fn node_name(model: &Model, node: Node) -> String {
    match node {
        Node::Layer(i) => model.layers[i].name.clone(),
        Node::Loss => "loss".into(),
    }
}

/// "δz[0,1,2]" within the same node, "pool1.δx[0,1,2]" for another node.
fn label(model: &Model, here: Node, cell: &CellRef) -> String {
    let sym = cell_symbol(model, cell.node, cell.tensor);
    if cell.node == here {
        format!("{sym}{}", idx(&cell.index))
    } else {
        format!("{}.{sym}{}", node_name(model, cell.node), idx(&cell.index))
    }
}

struct Builder<'a> {
    model: &'a Model,
    here: Node,
    terms: Vec<Term>,
}

impl Builder<'_> {
    /// A product of factors (cell, value); constants are given as (None, text, value).
    fn product(
        &mut self,
        factors: &[(Option<CellRef>, &str, f64)],
        value: f64,
        contributes: bool,
        note: Option<String>,
    ) {
        let symbolic: Vec<String> = factors
            .iter()
            .map(|(c, text, _)| match c {
                Some(c) => label(self.model, self.here, c),
                None => (*text).to_string(),
            })
            .collect();
        let numeric: Vec<String> = factors.iter().map(|(_, _, v)| short(*v)).collect();
        self.terms.push(Term {
            symbolic: symbolic.join(" · "),
            numeric: numeric.join(" × "),
            value,
            contributes,
            sources: factors.iter().filter_map(|(c, _, _)| c.clone()).collect(),
            note,
        });
    }

    fn custom(
        &mut self,
        symbolic: String,
        numeric: String,
        value: f64,
        sources: Vec<CellRef>,
        note: Option<String>,
    ) {
        self.terms.push(Term {
            symbolic,
            numeric,
            value,
            contributes: true,
            sources,
            note,
        });
    }
}

fn unravel(shape: &[usize], flat: usize) -> Vec<usize> {
    crate::check::unravel(shape, flat)
}

fn ravel(shape: &[usize], index: &[usize]) -> usize {
    index.iter().zip(shape).fold(0, |acc, (&i, &n)| acc * n + i)
}

fn get(t: &ndarray::ArrayViewD<'_, f64>, index: &[usize]) -> Option<f64> {
    (index.len() == t.ndim() && index.iter().zip(t.shape()).all(|(&i, &n)| i < n)).then(|| t[index])
}

/// The shape of a tensor of a node at this step, including derived tensors.
pub fn tensor_shape(ctx: &Context<'_>, node: Node, tensor: N) -> Option<Vec<usize>> {
    match node {
        Node::Loss => match tensor {
            N::Output | N::Target | N::LossGrad => Some(vec![ctx.trace.output.len()]),
            N::Loss => Some(vec![1]),
            _ => None,
        },
        Node::Layer(i) => {
            let (_, t) = ctx.trace.layers.get(i)?;
            match tensor {
                N::Mask => match t {
                    LayerTrace::Pool(p) => Some(p.input.shape().to_vec()),
                    _ => None,
                },
                N::WeightsNext => t.tensor(N::Weights).map(|v| v.shape().to_vec()),
                N::BiasNext => t.tensor(N::Bias).map(|v| v.shape().to_vec()),
                name => t.tensor(name).map(|v| v.shape().to_vec()),
            }
        }
    }
}

/// Explain one cell. None when the node, tensor or index does not exist.
pub fn explain(ctx: &Context<'_>, cell: &CellRef) -> Option<Explanation> {
    let shape = tensor_shape(ctx, cell.node, cell.tensor)?;
    if cell.index.len() != shape.len() || cell.index.iter().zip(&shape).any(|(&i, &n)| i >= n) {
        return None;
    }
    match cell.node {
        Node::Loss => loss::explain_loss(ctx, cell),
        Node::Layer(l) => {
            let (_, trace) = &ctx.trace.layers[l];
            let layer = &ctx.model.layers[l];
            match cell.tensor {
                N::Input => Some(links::explain_input(ctx, l, cell)),
                N::DeltaA | N::DeltaOutput => Some(links::explain_delta_out(ctx, l, cell)),
                N::Weights | N::Bias | N::WeightsNext | N::BiasNext => {
                    links::explain_parameter(ctx, l, cell)
                }
                _ => match (&layer.kind, trace) {
                    (LayerKind::Conv(conv), LayerTrace::Conv(t)) => {
                        conv::explain_conv(ctx, l, conv, t, cell)
                    }
                    (LayerKind::Pool(pool), LayerTrace::Pool(t)) => {
                        pool::explain_pool(ctx, l, pool, t, cell)
                    }
                    (LayerKind::Dense(dense), LayerTrace::Dense(t)) => {
                        dense::explain_dense(ctx, l, dense, t, cell)
                    }
                    _ => None,
                },
            }
        }
    }
}

fn cell_value(ctx: &Context<'_>, cell: &CellRef) -> Option<f64> {
    match cell.node {
        Node::Loss => {
            let flat = cell.index.first().copied()?;
            match cell.tensor {
                N::Output => ctx.trace.output.iter().nth(flat).copied(),
                N::LossGrad => ctx.trace.loss_grad.iter().nth(flat).copied(),
                N::Target => loss_target(ctx.model).and_then(|t| t.iter().nth(flat).copied()),
                N::Loss => Some(ctx.trace.loss),
                _ => None,
            }
        }
        Node::Layer(l) => {
            let (_, t) = ctx.trace.layers.get(l)?;
            match cell.tensor {
                N::Mask => match (t, &ctx.model.layers[l].kind) {
                    (LayerTrace::Pool(p), LayerKind::Pool(pool)) => {
                        let (mask, _) = pool.routing_mask(p);
                        get(&mask.view().into_dyn(), &cell.index)
                    }
                    _ => None,
                },
                N::WeightsNext | N::BiasNext => {
                    let m = ctx.updated?;
                    let name = if cell.tensor == N::WeightsNext {
                        N::Weights
                    } else {
                        N::Bias
                    };
                    let v = param(m, l, name)?;
                    get(&v.view(), &cell.index)
                }
                name => get(&t.tensor(name)?, &cell.index),
            }
        }
    }
}

fn param(model: &Model, l: usize, name: N) -> Option<ArrayD<f64>> {
    match (&model.layers.get(l)?.kind, name) {
        (LayerKind::Conv(c), N::Weights) => Some(c.weights.clone().into_dyn()),
        (LayerKind::Conv(c), N::Bias) => Some(c.bias.clone().into_dyn()),
        (LayerKind::Dense(d), N::Weights) => Some(d.weights.clone().into_dyn()),
        (LayerKind::Dense(d), N::Bias) => Some(d.bias.clone().into_dyn()),
        _ => None,
    }
}

/// The loss target as a tensor of the output's shape (one-hot for cross-entropy).
pub fn loss_target(model: &Model) -> Option<ArrayD<f64>> {
    match &model.loss {
        Loss::Mse { target } | Loss::HalfSse { target } => Some(target.clone()),
        Loss::CrossEntropy { .. } => None,
    }
}

fn new_explanation(ctx: &Context<'_>, cell: &CellRef, what: &str, formula: String) -> Explanation {
    Explanation {
        cell: cell.clone(),
        value: cell_value(ctx, cell).unwrap_or(f64::NAN),
        title: format!(
            "{}.{}{} — {what}",
            node_name(ctx.model, cell.node),
            cell_symbol(ctx.model, cell.node, cell.tensor),
            idx(&cell.index)
        ),
        formula,
        combine: Combine::Value,
        terms: Vec::new(),
        notes: Vec::new(),
        no_terms: None,
    }
}
