//! The sum behind a number: for any cell of any tensor of a traced step, the formula that
//! produced it with the numbers substituted, as a list of terms, each naming the cells it
//! reads. Pure; the inspector renders it and highlights the source cells.
//!
//! Terms are listed in the order the engine adds them, so for sums the listed terms add up
//! to the traced value (to rounding; the tests hold them to 1e-12).

use ndarray::{Array3, ArrayD};

use crate::engine::trace::{ConvTrace, DenseTrace, PoolTrace};
use crate::engine::{Conv, Dense, LayerKind, LayerTrace, Loss, Model, Pool, PoolKind, StepTrace};
use crate::timeline::Node;

/// A cell of a tensor of a node.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CellRef {
    pub node: Node,
    /// The tensor's name as in the trace ("z", "delta_input", …), or a derived one:
    /// "mask" (pool routing weights), "weights_next"/"bias_next" (after the update),
    /// and for the loss node "output", "target", "loss_grad", "loss".
    pub tensor: &'static str,
    pub index: Vec<usize>,
}

impl CellRef {
    pub fn new(node: Node, tensor: &'static str, index: &[usize]) -> Self {
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

/// A short, readable number: 4 significant digits, fixed-point in [1e-4, 1e6) so that
/// neighbouring terms read alike ("0.0009457" beside "0.004724"), scientific outside
/// ("2.278e31", "1.5e-5"). Numbers keep the ASCII minus, as export and diff print them.
pub fn short(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let a = v.abs();
    if (1e-4..1e6).contains(&a) {
        let digits = (3 - a.log10().floor() as i32).clamp(0, 7) as usize;
        let s = format!("{v:.digits$}");
        let s = if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        };
        if s == "-0" { "0".into() } else { s }
    } else {
        let s = format!("{v:.3e}");
        match s.split_once('e') {
            Some((m, e)) if m.contains('.') => {
                format!("{}e{e}", m.trim_end_matches('0').trim_end_matches('.'))
            }
            _ => s,
        }
    }
}

/// The exact value, as short as it can be written without losing a digit: Rust's
/// shortest round-trip form, scientific for |v| ≥ 1e6 or |v| < 1e-4
/// ("0.053696773255078115", "-4.3745030829072217e40").
pub fn exact(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    if !v.is_finite() {
        return short(v);
    }
    if (1e-4..1e6).contains(&v.abs()) {
        format!("{v}")
    } else {
        format!("{v:e}")
    }
}

/// An index expression of a strided, padded convolution, as simple as the layer allows:
/// "i+u" (stride 1, no padding), "i·2+u", "i+u−1", "i·2+u−1".
pub fn index_expr(out: &str, stride: usize, tap: &str, padding: usize) -> String {
    let mut s = out.to_string();
    if stride != 1 {
        s.push_str(&format!("·{stride}"));
    }
    s.push('+');
    s.push_str(tap);
    if padding != 0 {
        s.push_str(&format!("−{padding}"));
    }
    s
}

/// "[0,3,4]"
pub fn idx(index: &[usize]) -> String {
    let parts: Vec<String> = index.iter().map(|i| i.to_string()).collect();
    format!("[{}]", parts.join(","))
}

/// The symbol of a tensor in formulas.
pub fn symbol(kind: &str, tensor: &str) -> &'static str {
    match (kind, tensor) {
        ("pool", "output") => "y",
        ("pool", "delta_output") => "δy",
        ("pool", "mask") => "route",
        ("loss", "output") => "y",
        ("loss", "target") => "t",
        ("loss", "loss_grad") => "∂L/∂y",
        ("loss", "loss") => "L",
        ("dense", "weights") => "W",
        ("dense", "weights_next") => "W′",
        ("dense", "grad_weights") => "∂W",
        (_, "input") => "x",
        (_, "weights") => "w",
        (_, "weights_next") => "w′",
        (_, "bias") => "b",
        (_, "bias_next") => "b′",
        (_, "z") => "z",
        (_, "a") => "a",
        (_, "delta_a") => "δa",
        (_, "delta_z") => "δz",
        (_, "delta_input") => "δx",
        (_, "grad_weights") => "∂w",
        (_, "grad_bias") => "∂b",
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
fn cell_symbol(model: &Model, node: Node, tensor: &str) -> &'static str {
    match (node, tensor) {
        (Node::Layer(i), "mask") => match &model.layers[i].kind {
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
pub fn tensor_shape(ctx: &Context<'_>, node: Node, tensor: &str) -> Option<Vec<usize>> {
    match node {
        Node::Loss => match tensor {
            "output" | "target" | "loss_grad" => Some(vec![ctx.trace.output.len()]),
            "loss" => Some(vec![1]),
            _ => None,
        },
        Node::Layer(i) => {
            let (_, t) = ctx.trace.layers.get(i)?;
            match tensor {
                "mask" => match t {
                    LayerTrace::Pool(p) => Some(p.input.shape().to_vec()),
                    _ => None,
                },
                "weights_next" => t.tensor("weights").map(|v| v.shape().to_vec()),
                "bias_next" => t.tensor("bias").map(|v| v.shape().to_vec()),
                name => t.tensor(name).map(|v| v.shape().to_vec()),
            }
        }
    }
}

/// Routing weights of a pool, summed over the windows that contain each input cell
/// (max: how many windows this cell wins; mean: count/m; l2: Σ x/‖x‖), and whether the
/// cell lies in any window at all (floor mode leaves border cells out).
pub fn pool_mask(pool: &Pool, t: &PoolTrace) -> (Array3<f64>, Array3<bool>) {
    let (ch, _, _) = t.input.dim();
    let (_, ho, wo) = t.output.dim();
    let mut mask = Array3::zeros(t.input.raw_dim());
    let mut covered = Array3::from_elem(t.input.raw_dim(), false);
    for c in 0..ch {
        for i in 0..ho {
            for j in 0..wo {
                for cell in pool.window(i, j) {
                    covered[[c, cell[0], cell[1]]] = true;
                    mask[[c, cell[0], cell[1]]] += routing(pool, t, c, i, j, cell);
                }
            }
        }
    }
    (mask, covered)
}

fn routing(pool: &Pool, t: &PoolTrace, c: usize, i: usize, j: usize, cell: [usize; 2]) -> f64 {
    let w = t.input.dim().2;
    match pool.kind {
        PoolKind::Max => {
            let switch = t.argmax.as_ref().map(|a| a[[c, i, j]]);
            if switch == Some(cell[0] * w + cell[1]) {
                1.0
            } else {
                0.0
            }
        }
        PoolKind::Mean => 1.0 / pool.window_area() as f64,
        PoolKind::L2 => {
            let norm = t.output[[c, i, j]];
            if norm == 0.0 {
                0.0
            } else {
                t.input[[c, cell[0], cell[1]]] / norm
            }
        }
    }
}

/// The output tensor name of layer i ("a" or "output").
fn output_name(trace: &LayerTrace) -> &'static str {
    match trace {
        LayerTrace::Pool(_) => "output",
        _ => "a",
    }
}

/// Explain one cell. None when the node, tensor or index does not exist.
pub fn explain(ctx: &Context<'_>, cell: &CellRef) -> Option<Explanation> {
    let shape = tensor_shape(ctx, cell.node, cell.tensor)?;
    if cell.index.len() != shape.len() || cell.index.iter().zip(&shape).any(|(&i, &n)| i >= n) {
        return None;
    }
    match cell.node {
        Node::Loss => explain_loss(ctx, cell),
        Node::Layer(l) => {
            let (_, trace) = &ctx.trace.layers[l];
            let layer = &ctx.model.layers[l];
            match cell.tensor {
                "input" => Some(explain_input(ctx, l, cell)),
                "delta_a" | "delta_output" => Some(explain_delta_out(ctx, l, cell)),
                "weights" | "bias" | "weights_next" | "bias_next" => {
                    explain_parameter(ctx, l, cell)
                }
                _ => match (&layer.kind, trace) {
                    (LayerKind::Conv(conv), LayerTrace::Conv(t)) => {
                        explain_conv(ctx, l, conv, t, cell)
                    }
                    (LayerKind::Pool(pool), LayerTrace::Pool(t)) => {
                        explain_pool(ctx, l, pool, t, cell)
                    }
                    (LayerKind::Dense(dense), LayerTrace::Dense(t)) => {
                        explain_dense(ctx, l, dense, t, cell)
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
                "output" => ctx.trace.output.iter().nth(flat).copied(),
                "loss_grad" => ctx.trace.loss_grad.iter().nth(flat).copied(),
                "target" => loss_target(ctx.model).and_then(|t| t.iter().nth(flat).copied()),
                "loss" => Some(ctx.trace.loss),
                _ => None,
            }
        }
        Node::Layer(l) => {
            let (_, t) = ctx.trace.layers.get(l)?;
            match cell.tensor {
                "mask" => match (t, &ctx.model.layers[l].kind) {
                    (LayerTrace::Pool(p), LayerKind::Pool(pool)) => {
                        let (mask, _) = pool_mask(pool, p);
                        get(&mask.view().into_dyn(), &cell.index)
                    }
                    _ => None,
                },
                "weights_next" | "bias_next" => {
                    let m = ctx.updated?;
                    let name = if cell.tensor == "weights_next" {
                        "weights"
                    } else {
                        "bias"
                    };
                    let v = param(m, l, name)?;
                    get(&v.view(), &cell.index)
                }
                name => get(&t.tensor(name)?, &cell.index),
            }
        }
    }
}

fn param(model: &Model, l: usize, name: &str) -> Option<ArrayD<f64>> {
    match (&model.layers.get(l)?.kind, name) {
        (LayerKind::Conv(c), "weights") => Some(c.weights.clone().into_dyn()),
        (LayerKind::Conv(c), "bias") => Some(c.bias.clone().into_dyn()),
        (LayerKind::Dense(d), "weights") => Some(d.weights.clone().into_dyn()),
        (LayerKind::Dense(d), "bias") => Some(d.bias.clone().into_dyn()),
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

fn explain_input(ctx: &Context<'_>, l: usize, cell: &CellRef) -> Explanation {
    let here = Node::Layer(l);
    if l == 0 {
        let mut e = new_explanation(
            ctx,
            cell,
            "the network input",
            "x = the scenario's input".into(),
        );
        e.notes
            .push("given by the scenario; it does not change during training".into());
        return e;
    }
    let (prev_name, prev) = &ctx.trace.layers[l - 1];
    let out = output_name(prev);
    let prev_shape = prev
        .tensor(out)
        .map(|t| t.shape().to_vec())
        .unwrap_or_default();
    let this_shape = ctx.trace.layers[l]
        .1
        .tensor("input")
        .map(|t| t.shape().to_vec())
        .unwrap_or_default();
    let flat = ravel(&this_shape, &cell.index);
    let source = CellRef::new(Node::Layer(l - 1), out, &unravel(&prev_shape, flat));
    let mut e = new_explanation(
        ctx,
        cell,
        &format!("the output of {prev_name}"),
        format!(
            "x = {prev_name}.{}{}",
            symbol(prev.type_name(), out),
            if prev_shape.len() != this_shape.len() {
                ", flattened in channel, row, column order"
            } else {
                ""
            }
        ),
    );
    let value = cell_value(ctx, &source).unwrap_or(f64::NAN);
    let mut b = Builder {
        model: ctx.model,
        here,
        terms: Vec::new(),
    };
    b.product(&[(Some(source), "", value)], value, true, None);
    e.terms = b.terms;
    e
}

fn explain_delta_out(ctx: &Context<'_>, l: usize, cell: &CellRef) -> Explanation {
    let here = Node::Layer(l);
    let this_shape = tensor_shape(ctx, here, cell.tensor).unwrap_or_default();
    let flat = ravel(&this_shape, &cell.index);
    let last = l + 1 == ctx.trace.layers.len();
    let (source, from) = if last {
        (
            CellRef::new(Node::Loss, "loss_grad", &[flat]),
            "the loss gradient ∂L/∂y".to_string(),
        )
    } else {
        let next_shape = tensor_shape(ctx, Node::Layer(l + 1), "input").unwrap_or_default();
        (
            CellRef::new(
                Node::Layer(l + 1),
                "delta_input",
                &unravel(&next_shape, flat),
            ),
            format!("the δ that {} sends back", ctx.model.layers[l + 1].name),
        )
    };
    let formula = format!(
        "{} = {}.{} at the same cell{}",
        symbol(node_kind(ctx.model, here), cell.tensor),
        node_name(ctx.model, source.node),
        symbol(node_kind(ctx.model, source.node), source.tensor),
        if source.index.len() != cell.index.len() {
            " (flat index)"
        } else {
            ""
        }
    );
    let mut e = new_explanation(ctx, cell, &format!("δ at the output: {from}"), formula);
    let value = cell_value(ctx, &source).unwrap_or(f64::NAN);
    let mut b = Builder {
        model: ctx.model,
        here,
        terms: Vec::new(),
    };
    b.product(&[(Some(source), "", value)], value, true, None);
    e.terms = b.terms;
    e
}

fn explain_parameter(ctx: &Context<'_>, l: usize, cell: &CellRef) -> Option<Explanation> {
    let here = Node::Layer(l);
    let base = if cell.tensor.starts_with("weights") {
        "weights"
    } else {
        "bias"
    };
    let grad = if base == "weights" {
        "grad_weights"
    } else {
        "grad_bias"
    };
    let (_, t) = &ctx.trace.layers[l];
    let w = get(&t.tensor(base)?, &cell.index)?;
    let g = get(&t.tensor(grad)?, &cell.index)?;
    let lr = ctx.model.learning_rate;
    let kind = node_kind(ctx.model, here);
    let (ws, gs) = (symbol(kind, base), symbol(kind, grad));
    if cell.tensor.ends_with("_next") {
        let mut e = new_explanation(
            ctx,
            cell,
            "the parameter after this step's update",
            format!("{ws}′ = {ws} − η·{gs}   (plain SGD, η = {})", short(lr)),
        );
        e.combine = Combine::Sum;
        let mut b = Builder {
            model: ctx.model,
            here,
            terms: Vec::new(),
        };
        b.product(
            &[(Some(CellRef::new(here, base, &cell.index)), "", w)],
            w,
            true,
            None,
        );
        b.product(
            &[
                (None, "-η", -lr),
                (Some(CellRef::new(here, grad, &cell.index)), "", g),
            ],
            -lr * g,
            true,
            None,
        );
        e.terms = b.terms;
        return Some(e);
    }
    let mut e = new_explanation(
        ctx,
        cell,
        "a parameter",
        format!("{ws} is a parameter; the update sets {ws} ← {ws} − η·{gs}"),
    );
    if l >= ctx.backward_from {
        e.notes.push(format!(
            "after the backward pass: {gs} = {}, so {ws} becomes {} − {}·{} = {}",
            short(g),
            short(w),
            short(lr),
            short(g),
            short(w - lr * g)
        ));
    } else {
        e.notes.push(format!(
            "{gs} is known once the backward pass reaches this layer"
        ));
    }
    Some(e)
}

fn explain_conv(
    ctx: &Context<'_>,
    l: usize,
    conv: &Conv,
    t: &ConvTrace,
    cell: &CellRef,
) -> Option<Explanation> {
    let here = Node::Layer(l);
    let (c_in, h, w) = t.input.dim();
    let (k_out, ho, wo) = t.z.dim();
    let [kh, kw] = conv.kernel_size();
    let [sh, sw] = conv.stride;
    let [ph, pw] = conv.padding;
    let mut b = Builder {
        model: ctx.model,
        here,
        terms: Vec::new(),
    };
    let x = |c: usize, y: usize, xx: usize| CellRef::new(here, "input", &[c, y, xx]);
    let at = |name: &'static str, i: &[usize]| CellRef::new(here, name, i);
    let ix = &cell.index;
    let act = conv.activation;
    let e = match cell.tensor {
        "z" => {
            let (k, i, j) = (ix[0], ix[1], ix[2]);
            let mut e = new_explanation(
                ctx,
                cell,
                "weighted sum over the receptive field",
                format!(
                    "z[k,i,j] = b[k] + Σ_c Σ_u Σ_v w[k,c,u,v] · x[c, {}, {}]",
                    index_expr("i", sh, "u", ph),
                    index_expr("j", sw, "v", pw)
                ),
            );
            b.product(
                &[(Some(at("bias", &[k])), "", t.bias[k])],
                t.bias[k],
                true,
                None,
            );
            for c in 0..c_in {
                for u in 0..kh {
                    for v in 0..kw {
                        let wv = t.weights[[k, c, u, v]];
                        match conv.input_cell([h, w], i, j, u, v) {
                            Some([y, xx]) => {
                                let xv = t.input[[c, y, xx]];
                                b.product(
                                    &[
                                        (Some(at("weights", &[k, c, u, v])), "", wv),
                                        (Some(x(c, y, xx)), "", xv),
                                    ],
                                    wv * xv,
                                    true,
                                    None,
                                );
                            }
                            None => b.product(
                                &[
                                    (Some(at("weights", &[k, c, u, v])), "", wv),
                                    (None, "0", 0.0),
                                ],
                                0.0,
                                false,
                                Some("over the zero padding".into()),
                            ),
                        }
                    }
                }
            }
            e.combine = Combine::Sum;
            e.notes.push(format!(
                "receptive field: rows {}..{}, columns {}..{} of the {}padded input",
                (i * sh) as isize - ph as isize,
                (i * sh + kh) as isize - ph as isize - 1,
                (j * sw) as isize - pw as isize,
                (j * sw + kw) as isize - pw as isize - 1,
                if ph + pw > 0 { "" } else { "un" }
            ));
            e
        }
        "a" => {
            let c = [ix[0], ix[1], ix[2]];
            explain_activation(ctx, cell, &mut b, act, t.z[c], t.a[c])
        }
        "delta_z" => {
            let c = [ix[0], ix[1], ix[2]];
            explain_delta_z(ctx, cell, &mut b, act, t.z[c], t.a[c], t.delta_a[c])
        }
        "grad_weights" => {
            let (k, c, u, v) = (ix[0], ix[1], ix[2], ix[3]);
            let mut e = new_explanation(
                ctx,
                cell,
                "kernel gradient: correlation of the layer input with δz",
                format!(
                    "∂w[k,c,u,v] = Σ_i Σ_j δz[k,i,j] · x[c, {}, {}]",
                    index_expr("i", sh, "u", ph),
                    index_expr("j", sw, "v", pw)
                ),
            );
            for i in 0..ho {
                for j in 0..wo {
                    let dz = t.delta_z[[k, i, j]];
                    match conv.input_cell([h, w], i, j, u, v) {
                        Some([y, xx]) => {
                            let xv = t.input[[c, y, xx]];
                            b.product(
                                &[
                                    (Some(at("delta_z", &[k, i, j])), "", dz),
                                    (Some(x(c, y, xx)), "", xv),
                                ],
                                dz * xv,
                                true,
                                None,
                            );
                        }
                        None => b.product(
                            &[(Some(at("delta_z", &[k, i, j])), "", dz), (None, "0", 0.0)],
                            0.0,
                            false,
                            Some("over the zero padding".into()),
                        ),
                    }
                }
            }
            e.combine = Combine::Sum;
            e
        }
        "grad_bias" => {
            let k = ix[0];
            let mut e = new_explanation(
                ctx,
                cell,
                "bias gradient",
                "∂b[k] = Σ_i Σ_j δz[k,i,j]".into(),
            );
            for i in 0..ho {
                for j in 0..wo {
                    let dz = t.delta_z[[k, i, j]];
                    b.product(&[(Some(at("delta_z", &[k, i, j])), "", dz)], dz, true, None);
                }
            }
            e.combine = Combine::Sum;
            e
        }
        "delta_input" => {
            let (c, y, xx) = (ix[0], ix[1], ix[2]);
            let mut e = new_explanation(
                ctx,
                cell,
                "δ to the input: full convolution of δz with the 180°-rotated kernels",
                "δx[c,y,x] = Σ_k Σ_u′ Σ_v′ rot180(w[k,c])[u′,v′] · δẑ[k, y+u′, x+v′]".into(),
            );
            e.notes.push(format!(
                "rot180(w)[u′,v′] = w[{}−u′, {}−v′]",
                kh - 1,
                kw - 1
            ));
            let (py, px) = (y + ph, xx + pw);
            let mut listed = 0;
            for k in 0..k_out {
                for u in 0..kh.min(py + 1) {
                    let tt = py - u;
                    if tt % sh != 0 || tt / sh >= ho {
                        continue;
                    }
                    let i = tt / sh;
                    for v in 0..kw.min(px + 1) {
                        let s = px - v;
                        if s % sw != 0 || s / sw >= wo {
                            continue;
                        }
                        let j = s / sw;
                        let wv = t.weights[[k, c, u, v]];
                        let dz = t.delta_z[[k, i, j]];
                        b.product(
                            &[
                                (Some(at("weights", &[k, c, u, v])), "", wv),
                                (Some(at("delta_z", &[k, i, j])), "", dz),
                            ],
                            wv * dz,
                            true,
                            Some(format!("k={k} rot180[{},{}]", kh - 1 - u, kw - 1 - v)),
                        );
                        listed += 1;
                    }
                }
            }
            e.combine = Combine::Sum;
            e.notes.push(format!(
                "δẑ is δz{} padded by ({}, {}); of the {} kernel taps, {} land on δz and are listed, the rest read zeros",
                if sh > 1 || sw > 1 { format!(" dilated by the stride ({sh}, {sw}) and") } else { String::new() },
                kh - 1 - ph.min(kh - 1),
                kw - 1 - pw.min(kw - 1),
                k_out * kh * kw,
                listed
            ));
            e
        }
        _ => return None,
    };
    let mut e = e;
    e.terms = b.terms;
    Some(e)
}

/// The derivative factor reads z but is not z: label it f′(z[..]).
/// a = f(z), for conv and dense layers alike.
fn explain_activation(
    ctx: &Context<'_>,
    cell: &CellRef,
    b: &mut Builder<'_>,
    act: crate::engine::Activation,
    z: f64,
    a: f64,
) -> Explanation {
    let ix = &cell.index;
    let e = new_explanation(
        ctx,
        cell,
        "the activation",
        format!("a = {}(z)", act.name()),
    );
    b.custom(
        format!("{}(z{})", act.name(), idx(ix)),
        format!("{}({})", act.name(), short(z)),
        a,
        vec![CellRef::new(cell.node, "z", ix)],
        None,
    );
    e
}

/// δz = δa · f′(z), for conv and dense layers alike.
fn explain_delta_z(
    ctx: &Context<'_>,
    cell: &CellRef,
    b: &mut Builder<'_>,
    act: crate::engine::Activation,
    z: f64,
    a: f64,
    da: f64,
) -> Explanation {
    let ix = &cell.index;
    let d = act.derivative(z, a);
    let mut e = new_explanation(
        ctx,
        cell,
        "δ through the activation",
        format!("δz = δa · f′(z),   {}", act.derivative_formula()),
    );
    b.product(
        &[
            (Some(CellRef::new(cell.node, "delta_a", ix)), "", da),
            (Some(CellRef::new(cell.node, "z", ix)), "f′(z)", d),
        ],
        da * d,
        true,
        Some(format!("z = {}", short(z))),
    );
    fix_derivative_label(b, ix);
    e.combine = Combine::Sum;
    e
}

fn fix_derivative_label(b: &mut Builder<'_>, ix: &[usize]) {
    if let Some(t) = b.terms.last_mut() {
        t.symbolic = format!("δa{} · f′(z{})", idx(ix), idx(ix));
    }
}

fn explain_pool(
    ctx: &Context<'_>,
    l: usize,
    pool: &Pool,
    t: &PoolTrace,
    cell: &CellRef,
) -> Option<Explanation> {
    let here = Node::Layer(l);
    let (_, _, w) = t.input.dim();
    let (_, ho, wo) = t.output.dim();
    let m = pool.window_area();
    let mut b = Builder {
        model: ctx.model,
        here,
        terms: Vec::new(),
    };
    let at = |name: &'static str, i: &[usize]| CellRef::new(here, name, i);
    let ix = &cell.index;
    let kind = pool.kind;
    let windows_of = |y: usize, x: usize| {
        let mut out = Vec::new();
        for i in 0..ho {
            for j in 0..wo {
                if pool.window(i, j).any(|cell| cell == [y, x]) {
                    out.push((i, j));
                }
            }
        }
        out
    };
    let mut e = match cell.tensor {
        "output" => {
            let (c, i, j) = (ix[0], ix[1], ix[2]);
            let (what, formula) = match kind {
                PoolKind::Max => (
                    "maximum of the window",
                    "y[c,i,j] = max over the window of x (first maximum in row-major order wins ties)",
                ),
                PoolKind::Mean => ("mean of the window", "y[c,i,j] = Σ_window x · 1/m"),
                PoolKind::L2 => ("L2 norm of the window", "y[c,i,j] = √(Σ_window x²)"),
            };
            let mut e = new_explanation(ctx, cell, what, formula.into());
            let switch = t.argmax.as_ref().map(|a| a[[c, i, j]]);
            for [y, x] in pool.window(i, j) {
                let xv = t.input[[c, y, x]];
                match kind {
                    PoolKind::Max => {
                        let won = switch == Some(y * w + x);
                        b.product(
                            &[(Some(at("input", &[c, y, x])), "", xv)],
                            xv,
                            won,
                            won.then(|| "wins".to_string()),
                        );
                    }
                    PoolKind::Mean => b.product(
                        &[
                            (Some(at("input", &[c, y, x])), "", xv),
                            (None, "1/m", 1.0 / m as f64),
                        ],
                        xv / m as f64,
                        true,
                        None,
                    ),
                    PoolKind::L2 => b.custom(
                        format!("x{}²", idx(&[c, y, x])),
                        format!("{}²", short(xv)),
                        xv * xv,
                        vec![at("input", &[c, y, x])],
                        None,
                    ),
                }
            }
            e.combine = match kind {
                PoolKind::Max => Combine::Max,
                PoolKind::Mean => Combine::Sum,
                PoolKind::L2 => Combine::SqrtOfSum,
            };
            if let (PoolKind::Max, Some(s)) = (kind, switch) {
                e.notes.push(format!(
                    "switch: input cell [{c},{},{}] (flat index {s})",
                    s / w,
                    s % w
                ));
            }
            e.notes.push(format!(
                "window {}×{}, stride {}×{}, m = {m} cells",
                pool.size[0], pool.size[1], pool.stride[0], pool.stride[1]
            ));
            e
        }
        "mask" | "delta_input" => {
            let (c, y, x) = (ix[0], ix[1], ix[2]);
            let is_delta = cell.tensor == "delta_input";
            let window = format!("{}×{} window", pool.size[0], pool.size[1]);
            let mut e = match (is_delta, kind) {
                (true, PoolKind::Max) => new_explanation(
                    ctx,
                    cell,
                    "δ routed back through the pool: only to each window's switch",
                    "δx[c,y,x] = Σ over windows (i,j) containing the cell of δy[c,i,j] · switch,   \
                     switch = 1 if the cell is the window's maximum (kept from the forward pass), else 0"
                        .into(),
                ),
                (true, PoolKind::Mean) => new_explanation(
                    ctx,
                    cell,
                    "δ routed back through the pool: shared equally by the window",
                    format!(
                        "δx[c,y,x] = Σ over windows (i,j) containing the cell of δy[c,i,j] · 1/m,   \
                         1/m = 1/{m} ({window})"
                    ),
                ),
                (true, PoolKind::L2) => new_explanation(
                    ctx,
                    cell,
                    "δ routed back through the pool: in proportion to x/‖x‖",
                    "δx[c,y,x] = Σ over windows (i,j) containing the cell of δy[c,i,j] · x[c,y,x]/y[c,i,j]   \
                     (x/‖x‖, since y = ‖x‖; 0 for an all-zero window)"
                        .into(),
                ),
                (false, PoolKind::Max) => new_explanation(
                    ctx,
                    cell,
                    "switch mask: how many windows this cell is the maximum of",
                    "switch[c,y,x] = the number of windows (i,j) whose maximum is this cell (first maximum wins ties)"
                        .into(),
                ),
                (false, PoolKind::Mean) => new_explanation(
                    ctx,
                    cell,
                    "the weight δ gets on its way back: 1/m per window",
                    format!(
                        "1/m[c,y,x] = Σ over windows containing the cell of 1/m,   1/m = 1/{m} ({window})"
                    ),
                ),
                (false, PoolKind::L2) => new_explanation(
                    ctx,
                    cell,
                    "the weight δ gets on its way back: x/‖x‖ per window",
                    "x/‖x‖[c,y,x] = Σ over windows (i,j) containing the cell of x[c,y,x]/y[c,i,j]   \
                     (0 for an all-zero window)"
                        .into(),
                ),
            };
            let windows = windows_of(y, x);
            for (i, j) in &windows {
                let (i, j) = (*i, *j);
                let r = routing(pool, t, c, i, j, [y, x]);
                let d = t.delta_output[[c, i, j]];
                let win = format!("window ({i},{j})");
                match kind {
                    PoolKind::Max => {
                        let won = r == 1.0;
                        let winner = t
                            .argmax
                            .as_ref()
                            .map(|a| a[[c, i, j]])
                            .map_or(String::new(), |s| {
                                format!("{win}: its switch is x{}", idx(&[c, s / w, s % w]))
                            });
                        if is_delta {
                            b.product(
                                &[
                                    (Some(at("delta_output", &[c, i, j])), "", d),
                                    (None, if won { "1" } else { "0" }, r),
                                ],
                                if won { d } else { 0.0 },
                                won,
                                Some(if won {
                                    format!("{win}: switch")
                                } else {
                                    winner
                                }),
                            );
                        } else {
                            b.product(
                                &[(None, if won { "1" } else { "0" }, r)],
                                r,
                                true,
                                Some(if won {
                                    format!("{win}: switch")
                                } else {
                                    winner
                                }),
                            );
                        }
                    }
                    PoolKind::Mean => {
                        if is_delta {
                            b.product(
                                &[
                                    (Some(at("delta_output", &[c, i, j])), "", d),
                                    (None, "1/m", r),
                                ],
                                d * r,
                                true,
                                Some(win),
                            );
                        } else {
                            b.product(&[(None, "1/m", r)], r, true, Some(win));
                        }
                    }
                    PoolKind::L2 => {
                        let xv = t.input[[c, y, x]];
                        let norm = t.output[[c, i, j]];
                        let (sym, num) = if norm == 0.0 {
                            ("0 (zero window)".to_string(), "0".to_string())
                        } else {
                            (
                                format!("x{}/y{}", idx(&[c, y, x]), idx(&[c, i, j])),
                                format!("{}/{}", short(xv), short(norm)),
                            )
                        };
                        let mut sources = vec![at("input", &[c, y, x]), at("output", &[c, i, j])];
                        if is_delta {
                            sources.insert(0, at("delta_output", &[c, i, j]));
                            b.custom(
                                format!("δy{} · {sym}", idx(&[c, i, j])),
                                format!("{} × {num}", short(d)),
                                d * r,
                                sources,
                                Some(win),
                            );
                        } else {
                            b.custom(sym, num, r, sources, Some(win));
                        }
                    }
                }
            }
            e.combine = Combine::Sum;
            if windows.is_empty() {
                e.no_terms = Some(format!(
                    "this cell lies in no window (floor mode): {} = 0",
                    if is_delta { "δ" } else { "its weight" }
                ));
            } else if windows.len() > 1 {
                e.notes.push(format!(
                    "{} windows overlap here: their contributions add up (+=)",
                    windows.len()
                ));
            }
            if kind == PoolKind::Max
                && is_delta
                && !windows.is_empty()
                && !b.terms.iter().any(|t| t.contributes)
            {
                e.no_terms = Some("this cell is not the switch of any window: δ = 0".into());
            }
            e
        }
        _ => return None,
    };
    e.terms = b.terms;
    Some(e)
}

fn explain_dense(
    ctx: &Context<'_>,
    l: usize,
    dense: &Dense,
    t: &DenseTrace,
    cell: &CellRef,
) -> Option<Explanation> {
    let here = Node::Layer(l);
    let mut b = Builder {
        model: ctx.model,
        here,
        terms: Vec::new(),
    };
    let at = |name: &'static str, i: &[usize]| CellRef::new(here, name, i);
    let ix = &cell.index;
    let act = dense.activation;
    let mut e = match cell.tensor {
        "z" => {
            let o = ix[0];
            let mut e = new_explanation(
                ctx,
                cell,
                "weighted sum",
                "z[o] = Σ_i W[o,i] · x[i] + b[o]".into(),
            );
            for i in 0..t.input.len() {
                let (wv, xv) = (t.weights[[o, i]], t.input[i]);
                b.product(
                    &[
                        (Some(at("weights", &[o, i])), "", wv),
                        (Some(at("input", &[i])), "", xv),
                    ],
                    wv * xv,
                    true,
                    None,
                );
            }
            b.product(
                &[(Some(at("bias", &[o])), "", t.bias[o])],
                t.bias[o],
                true,
                None,
            );
            e.combine = Combine::Sum;
            e
        }
        "a" => explain_activation(ctx, cell, &mut b, act, t.z[ix[0]], t.a[ix[0]]),
        "delta_z" => {
            let o = ix[0];
            explain_delta_z(ctx, cell, &mut b, act, t.z[o], t.a[o], t.delta_a[o])
        }
        "grad_weights" => {
            let (o, i) = (ix[0], ix[1]);
            let mut e = new_explanation(
                ctx,
                cell,
                "weight gradient: outer product δz ⊗ x",
                "∂W[o,i] = δz[o] · x[i]".into(),
            );
            b.product(
                &[
                    (Some(at("delta_z", &[o])), "", t.delta_z[o]),
                    (Some(at("input", &[i])), "", t.input[i]),
                ],
                t.delta_z[o] * t.input[i],
                true,
                None,
            );
            e.combine = Combine::Sum;
            e
        }
        "grad_bias" => {
            let o = ix[0];
            let mut e = new_explanation(ctx, cell, "bias gradient", "∂b[o] = δz[o]".into());
            b.product(
                &[(Some(at("delta_z", &[o])), "", t.delta_z[o])],
                t.delta_z[o],
                true,
                None,
            );
            e.combine = Combine::Sum;
            e
        }
        "delta_input" => {
            let i = ix[0];
            let mut e = new_explanation(
                ctx,
                cell,
                "δ to the input: Wᵀ·δz",
                "δx[i] = Σ_o W[o,i] · δz[o]".into(),
            );
            for o in 0..t.z.len() {
                let (wv, dz) = (t.weights[[o, i]], t.delta_z[o]);
                b.product(
                    &[
                        (Some(at("weights", &[o, i])), "", wv),
                        (Some(at("delta_z", &[o])), "", dz),
                    ],
                    wv * dz,
                    true,
                    None,
                );
            }
            e.combine = Combine::Sum;
            e
        }
        _ => return None,
    };
    e.terms = b.terms;
    Some(e)
}

fn explain_loss(ctx: &Context<'_>, cell: &CellRef) -> Option<Explanation> {
    let here = Node::Loss;
    let mut b = Builder {
        model: ctx.model,
        here,
        terms: Vec::new(),
    };
    let y: Vec<f64> = ctx.trace.output.iter().copied().collect();
    let n = y.len();
    let at = |name: &'static str, i: usize| CellRef::new(here, name, &[i]);
    let last = ctx.trace.layers.len() - 1;
    let (_, last_trace) = &ctx.trace.layers[last];
    let out = output_name(last_trace);
    let out_shape = last_trace
        .tensor(out)
        .map(|t| t.shape().to_vec())
        .unwrap_or_default();
    let target = loss_target(ctx.model);
    let mut e = match cell.tensor {
        "output" => {
            let i = cell.index[0];
            let source = CellRef::new(Node::Layer(last), out, &unravel(&out_shape, i));
            let e = new_explanation(
                ctx,
                cell,
                "the network's output",
                format!(
                    "y = {}.{}, flattened",
                    ctx.model.layers[last].name,
                    symbol(last_trace.type_name(), out)
                ),
            );
            b.product(&[(Some(source), "", y[i])], y[i], true, None);
            e
        }
        "target" => {
            let mut e =
                new_explanation(ctx, cell, "the target", "t is given by the scenario".into());
            if let Loss::CrossEntropy { class } = ctx.model.loss {
                e.value = if cell.index[0] == class { 1.0 } else { 0.0 };
                e.formula = format!("t = one-hot of class {class}");
            }
            e
        }
        "loss_grad" => {
            let i = cell.index[0];
            match &ctx.model.loss {
                Loss::HalfSse { .. } => {
                    let t = target.as_ref()?.iter().nth(i).copied()?;
                    let mut e = new_explanation(
                        ctx,
                        cell,
                        "gradient of ½Σ(y − t)²",
                        "∂L/∂y = y − t".into(),
                    );
                    b.product(&[(Some(at("output", i)), "", y[i])], y[i], true, None);
                    b.product(
                        &[(None, "-1", -1.0), (Some(at("target", i)), "", t)],
                        -t,
                        true,
                        None,
                    );
                    e.combine = Combine::Sum;
                    e
                }
                Loss::Mse { .. } => {
                    let t = target.as_ref()?.iter().nth(i).copied()?;
                    let mut e = new_explanation(
                        ctx,
                        cell,
                        "gradient of mean((y − t)²)",
                        format!("∂L/∂y = 2·(y − t)/n,  n = {n}"),
                    );
                    b.custom(
                        format!("2·(y[{i}] − t[{i}])/{n}"),
                        format!("2·({} − {})/{n}", short(y[i]), short(t)),
                        (y[i] - t) * (2.0 / n as f64),
                        vec![at("output", i), at("target", i)],
                        None,
                    );
                    e.combine = Combine::Sum;
                    e
                }
                Loss::CrossEntropy { class } => {
                    let p = crate::engine::loss::softmax(&ctx.trace.output);
                    let pi = p.iter().nth(i).copied()?;
                    let mut e = new_explanation(
                        ctx,
                        cell,
                        "gradient of cross-entropy",
                        "∂L/∂y = softmax(y) − onehot(class)".into(),
                    );
                    b.custom(
                        format!("softmax(y)[{i}]"),
                        short(pi),
                        pi,
                        vec![at("output", i)],
                        None,
                    );
                    if i == *class {
                        b.product(
                            &[(None, "-1", -1.0)],
                            -1.0,
                            true,
                            Some("the target class".into()),
                        );
                    }
                    e.combine = Combine::Sum;
                    e
                }
            }
        }
        "loss" => match &ctx.model.loss {
            Loss::HalfSse { .. } | Loss::Mse { .. } => {
                let t = target.as_ref()?;
                let half = matches!(ctx.model.loss, Loss::HalfSse { .. });
                let mut e = new_explanation(
                    ctx,
                    cell,
                    "the loss",
                    if half {
                        "L = ½·Σ(y − t)²".into()
                    } else {
                        format!("L = Σ(y − t)²/n,  n = {n}")
                    },
                );
                for (i, (&yv, &tv)) in y.iter().zip(t.iter()).enumerate() {
                    let d = yv - tv;
                    let (sym, num, v) = if half {
                        (
                            format!("½(y[{i}] − t[{i}])²"),
                            format!("½({} − {})²", short(yv), short(tv)),
                            0.5 * d * d,
                        )
                    } else {
                        (
                            format!("(y[{i}] − t[{i}])²/{n}"),
                            format!("({} − {})²/{n}", short(yv), short(tv)),
                            d * d / n as f64,
                        )
                    };
                    b.custom(sym, num, v, vec![at("output", i), at("target", i)], None);
                }
                e.combine = Combine::Sum;
                e
            }
            Loss::CrossEntropy { class } => {
                let lse = crate::engine::loss::log_sum_exp(&ctx.trace.output);
                let mut e = new_explanation(
                    ctx,
                    cell,
                    "the loss",
                    format!("L = log Σ exp(y) − y[{class}]"),
                );
                b.custom(
                    "log Σ exp(y)".into(),
                    short(lse),
                    lse,
                    (0..n).map(|i| at("output", i)).collect(),
                    None,
                );
                b.product(
                    &[
                        (None, "-1", -1.0),
                        (Some(at("output", *class)), "", y[*class]),
                    ],
                    -y[*class],
                    true,
                    None,
                );
                e.combine = Combine::Sum;
                e
            }
        },
        _ => return None,
    };
    e.terms = b.terms;
    Some(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Activation, Layer};
    use crate::scenario::default_scenario;
    use ndarray::{Array1, Array2, Array4, array};

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12
    }

    /// Every cell of every tensor named: its terms combine to its traced value.
    fn check_all(model: &Model, layer: usize, tensor: &'static str) -> usize {
        let trace = model.trace(0);
        let ctx = Context {
            model,
            trace: &trace,
            updated: None,
            backward_from: 0,
        };
        let node = Node::Layer(layer);
        let shape = tensor_shape(&ctx, node, tensor).expect("tensor exists");
        let n: usize = shape.iter().product();
        for flat in 0..n {
            let cell = CellRef::new(node, tensor, &unravel(&shape, flat));
            let e = explain(&ctx, &cell).unwrap_or_else(|| panic!("no explanation for {cell:?}"));
            assert!(
                close(e.total(), e.value),
                "{}: terms give {}, traced {}",
                e.title,
                e.total(),
                e.value
            );
            assert!(!e.value.is_nan(), "{}", e.title);
        }
        n
    }

    fn conv(
        weights: Array4<f64>,
        bias: Array1<f64>,
        stride: usize,
        padding: usize,
        activation: Activation,
    ) -> Layer {
        Layer {
            name: "conv".into(),
            kind: LayerKind::Conv(Conv {
                weights,
                bias,
                stride: [stride, stride],
                padding: [padding, padding],
                activation,
            }),
        }
    }

    fn pool(kind: PoolKind, size: usize, stride: usize) -> Layer {
        Layer {
            name: format!("pool_{}", kind.name()),
            kind: LayerKind::Pool(Pool {
                kind,
                size: [size, size],
                stride: [stride, stride],
            }),
        }
    }

    fn ramp(shape: (usize, usize, usize, usize), scale: f64) -> Array4<f64> {
        Array4::from_shape_fn(shape, |(a, b, c, d)| {
            ((a * 7 + b * 5 + c * 3 + d) as f64 * 0.37).sin() * scale
        })
    }

    /// conv (stride 2, padding 1) → max pool 3/2 (overlapping) → conv → l2 pool → mean pool → dense.
    fn rich_model() -> Model {
        let input = Array3::from_shape_fn((2, 9, 9), |(c, y, x)| {
            ((c * 81 + y * 9 + x) as f64 * 0.61).cos()
        });
        let layers = vec![
            conv(
                ramp((3, 2, 3, 3), 0.8),
                array![0.1, -0.2, 0.05],
                2,
                1,
                Activation::LeakyRelu,
            ),
            pool(PoolKind::Max, 3, 2),
            conv(
                ramp((2, 3, 2, 2), 0.9),
                array![0.3, -0.1],
                1,
                1,
                Activation::Tanh,
            ),
            pool(PoolKind::L2, 2, 1),
            pool(PoolKind::Mean, 2, 1),
            Layer {
                name: "dense".into(),
                kind: LayerKind::Dense(Dense {
                    weights: Array2::from_shape_fn((3, 2), |(o, i)| {
                        (o as f64 - i as f64) * 0.4 + 0.1
                    }),
                    bias: array![0.1, 0.0, -0.1],
                    activation: Activation::Sigmoid,
                }),
            },
        ];
        let mut model = Model {
            input,
            layers,
            loss: Loss::CrossEntropy { class: 1 },
            learning_rate: 0.1,
        };
        // Check the shapes line up: the dense layer sees the flattened last pool output.
        let fwd = model.forward();
        let flat = fwd.layers[4].output().len();
        if let LayerKind::Dense(d) = &mut model.layers[5].kind {
            d.weights =
                Array2::from_shape_fn((3, flat), |(o, i)| ((o * 3 + i) as f64 * 0.9).sin() * 0.5);
        }
        model
    }

    #[test]
    fn conv_z_terms_sum_to_the_traced_value() {
        let model = rich_model();
        assert!(check_all(&model, 0, "z") > 0);
        check_all(&model, 2, "z");
        check_all(&default_scenario().model, 0, "z");
    }

    #[test]
    fn conv_delta_input_rotated_kernel_terms_sum_to_the_traced_value() {
        let model = rich_model();
        check_all(&model, 0, "delta_input");
        check_all(&model, 2, "delta_input");
        check_all(&default_scenario().model, 0, "delta_input");
        check_all(&default_scenario().model, 2, "delta_input");
    }

    #[test]
    fn conv_delta_input_lists_rot180_index_and_delta_z_cell() {
        let model = default_scenario().model;
        let trace = model.trace(0);
        let ctx = Context {
            model: &model,
            trace: &trace,
            updated: None,
            backward_from: 0,
        };
        // An interior cell of conv2's input: every tap of both 2×2 kernels lands on δz.
        let cell = CellRef::new(Node::Layer(2), "delta_input", &[0, 1, 1]);
        let e = explain(&ctx, &cell).unwrap();
        assert_eq!(e.terms.len(), 2 * 4);
        let first = &e.terms[0];
        // k=0, u=0, v=0: δz[0,1,1] times w[0,0,0,0], which is rot180 index [1,1].
        assert_eq!(first.note.as_deref(), Some("k=0 rot180[1,1]"));
        assert_eq!(first.symbolic, "w[0,0,0,0] · δz[0,1,1]");
        assert!(
            first
                .sources
                .contains(&CellRef::new(Node::Layer(2), "delta_z", &[0, 1, 1]))
        );
        assert!(close(e.total(), e.value));
    }

    #[test]
    fn kernel_and_bias_gradients_sum_to_the_traced_value() {
        let model = rich_model();
        check_all(&model, 0, "grad_weights");
        check_all(&model, 2, "grad_weights");
        check_all(&model, 0, "grad_bias");
        check_all(&default_scenario().model, 2, "grad_weights");
    }

    #[test]
    fn activation_terms_match() {
        let model = rich_model();
        for l in [0, 2, 5] {
            check_all(&model, l, "a");
            check_all(&model, l, "delta_z");
        }
    }

    #[test]
    fn pool_output_and_delta_input_for_max_mean_and_l2() {
        let model = rich_model();
        for l in [1, 3, 4] {
            check_all(&model, l, "output");
            check_all(&model, l, "delta_input");
            check_all(&model, l, "mask");
        }
        check_all(&default_scenario().model, 1, "delta_input");
    }

    #[test]
    fn max_pool_output_names_the_winner() {
        let model = rich_model();
        let trace = model.trace(0);
        let ctx = Context {
            model: &model,
            trace: &trace,
            updated: None,
            backward_from: 0,
        };
        let e = explain(&ctx, &CellRef::new(Node::Layer(1), "output", &[0, 0, 0])).unwrap();
        assert_eq!(e.combine, Combine::Max);
        assert_eq!(e.terms.len(), 9);
        assert_eq!(e.terms.iter().filter(|t| t.contributes).count(), 1);
        let winner = e.terms.iter().find(|t| t.contributes).unwrap();
        assert!(e.terms.iter().all(|t| t.value <= winner.value));
    }

    #[test]
    fn dense_terms_sum_to_the_traced_value() {
        let model = rich_model();
        for t in [
            "z",
            "grad_weights",
            "grad_bias",
            "delta_input",
            "input",
            "delta_a",
        ] {
            check_all(&model, 5, t);
        }
    }

    #[test]
    fn inputs_and_output_deltas_point_at_their_neighbours() {
        let model = rich_model();
        for l in 1..6 {
            check_all(&model, l, "input");
        }
        for l in 0..6 {
            let name = if matches!(model.layers[l].kind, LayerKind::Pool(_)) {
                "delta_output"
            } else {
                "delta_a"
            };
            check_all(&model, l, name);
        }
    }

    #[test]
    fn loss_cells_are_explained() {
        for model in [rich_model(), default_scenario().model] {
            let trace = model.trace(0);
            let ctx = Context {
                model: &model,
                trace: &trace,
                updated: None,
                backward_from: 0,
            };
            for i in 0..trace.output.len() {
                for t in ["output", "loss_grad"] {
                    let e = explain(&ctx, &CellRef::new(Node::Loss, t, &[i])).unwrap();
                    assert!(close(e.total(), e.value), "{}", e.title);
                }
            }
            let e = explain(&ctx, &CellRef::new(Node::Loss, "loss", &[0])).unwrap();
            assert!(close(e.total(), e.value), "{}", e.title);
        }
    }

    #[test]
    fn updated_parameters_are_w_minus_lr_grad() {
        let model = default_scenario().model;
        let mut next = model.clone();
        let trace = next.train_step(0);
        let ctx = Context {
            model: &model,
            trace: &trace,
            updated: Some(&next),
            backward_from: 0,
        };
        let e = explain(
            &ctx,
            &CellRef::new(Node::Layer(0), "weights_next", &[1, 0, 2, 2]),
        )
        .unwrap();
        assert!(close(e.total(), e.value));
        assert_eq!(e.terms.len(), 2);
    }

    #[test]
    fn out_of_range_cells_have_no_explanation() {
        let model = default_scenario().model;
        let trace = model.trace(0);
        let ctx = Context {
            model: &model,
            trace: &trace,
            updated: None,
            backward_from: 0,
        };
        assert!(explain(&ctx, &CellRef::new(Node::Layer(0), "z", &[9, 0, 0])).is_none());
        assert!(explain(&ctx, &CellRef::new(Node::Layer(0), "nope", &[0])).is_none());
        assert!(explain(&ctx, &CellRef::new(Node::Layer(1), "z", &[0, 0, 0])).is_none());
    }

    #[test]
    fn short_numbers_are_short() {
        assert_eq!(short(0.0), "0");
        assert_eq!(short(-0.43), "-0.43");
        assert_eq!(short(0.123456), "0.1235");
        assert_eq!(short(12.5), "12.5");
        assert_eq!(short(1e-5), "1e-5");
        assert_eq!(short(-0.000012345), "-1.234e-5");
        // Neighbouring terms read alike: no switch to scientific just below 1e-3.
        assert_eq!(short(-9.457e-4), "-0.0009457");
        assert_eq!(short(0.004724), "0.004724");
        assert_eq!(short(-4.3745e40), "-4.374e40");
    }

    #[test]
    fn exact_values_are_whole_and_compact() {
        assert_eq!(exact(0.053696773255078115), "0.053696773255078115");
        assert_eq!(exact(-4.374503082907222e40), "-4.374503082907222e40");
        assert_eq!(exact(2e-7), "2e-7");
        assert_eq!(exact(f64::INFINITY), "inf");
    }

    #[test]
    fn index_expressions_drop_a_stride_of_1_and_a_padding_of_0() {
        assert_eq!(index_expr("i", 1, "u", 0), "i+u");
        assert_eq!(index_expr("i", 2, "u", 1), "i·2+u−1");
        let model = default_scenario().model;
        let trace = model.trace(0);
        let ctx = Context {
            model: &model,
            trace: &trace,
            updated: None,
            backward_from: 0,
        };
        let e = explain(&ctx, &CellRef::new(Node::Layer(0), "z", &[0, 0, 0])).unwrap();
        assert!(e.formula.contains("x[c, i+u, j+v]"), "{}", e.formula);
    }

    #[test]
    fn a_max_pool_cell_that_is_no_switch_says_so_plainly() {
        let model = crate::scenario::load(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scenarios/max_pool_switches.json"
        )))
        .unwrap()
        .model;
        let trace = model.trace(0);
        let ctx = Context {
            model: &model,
            trace: &trace,
            updated: None,
            backward_from: 0,
        };
        let e = explain(
            &ctx,
            &CellRef::new(Node::Layer(3), "delta_input", &[0, 0, 0]),
        )
        .unwrap();
        assert!(e.terms.iter().all(|t| !t.contributes));
        assert_eq!(
            e.no_terms.as_deref(),
            Some("this cell is not the switch of any window: δ = 0")
        );
        assert!(e.title.starts_with("pool2.δx[0,0,0]"));
        let mask = explain(&ctx, &CellRef::new(Node::Layer(3), "mask", &[0, 0, 0])).unwrap();
        assert!(
            mask.title.starts_with("pool2.switch[0,0,0]"),
            "{}",
            mask.title
        );
    }

    #[test]
    fn mean_pool_formulas_say_what_m_is() {
        let model = default_scenario().model;
        let trace = model.trace(0);
        let ctx = Context {
            model: &model,
            trace: &trace,
            updated: None,
            backward_from: 0,
        };
        let e = explain(
            &ctx,
            &CellRef::new(Node::Layer(1), "delta_input", &[0, 0, 0]),
        )
        .unwrap();
        assert!(
            e.formula.contains("1/m = 1/4 (2×2 window)"),
            "{}",
            e.formula
        );
    }
}
