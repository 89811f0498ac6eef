//! Which tensors of a node are shown at a position, as maps. Shared by `update` (cursor
//! moves) and the view, so both agree on what the cursor can reach.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use ndarray::{Array3, ArrayD, ArrayViewD, IxDyn};

use crate::diff::Comparison;
use crate::diff::compare::{SwitchPair, decode_switch};
use crate::engine::trace::PoolTrace;
use crate::engine::{LayerKind, LayerTrace, Loss, Pool, TensorName as N};
use crate::explain::{self, CellRef, Context, Explanation};
use crate::timeline::{Node, Position, Timeline};

/// Columns of a vector's display (a vector of n values is shown as rows of this many).
pub const VECTOR_COLUMNS: usize = 8;

/// When a tensor becomes known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Param,
    Forward,
    Backward,
    Update,
}

/// How a tensor is laid out as maps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// [n][h][w]: n maps (channels or kernels).
    Maps { n: usize, h: usize, w: usize },
    /// [k][c][h][w]: k·c kernel maps, kernel-major.
    Grid {
        k: usize,
        c: usize,
        h: usize,
        w: usize,
    },
    /// [n], shown as one map of rows of `VECTOR_COLUMNS`.
    Vector { n: usize },
    /// [r][c], one map.
    Matrix { r: usize, c: usize },
}

impl Shape {
    pub fn of(dims: &[usize]) -> Shape {
        match *dims {
            [n, h, w] => Shape::Maps { n, h, w },
            [k, c, h, w] => Shape::Grid { k, c, h, w },
            [r, c] => Shape::Matrix { r, c },
            [n] => Shape::Vector { n },
            _ => Shape::Vector {
                n: dims.iter().product(),
            },
        }
    }

    pub fn map_count(self) -> usize {
        match self {
            Shape::Maps { n, .. } => n,
            Shape::Grid { k, c, .. } => k * c,
            Shape::Vector { .. } | Shape::Matrix { .. } => 1,
        }
    }

    /// Rows and columns of one map.
    pub fn map_dims(self) -> (usize, usize) {
        match self {
            Shape::Maps { h, w, .. } | Shape::Grid { h, w, .. } => (h, w),
            Shape::Vector { n } => (n.div_ceil(VECTOR_COLUMNS), n.min(VECTOR_COLUMNS)),
            Shape::Matrix { r, c } => (r, c),
        }
    }

    /// The tensor index of a map cell, or None for the unused tail of a vector's last row.
    pub fn index(self, map: usize, row: usize, col: usize) -> Option<Vec<usize>> {
        let (h, w) = self.map_dims();
        if map >= self.map_count() || row >= h || col >= w {
            return None;
        }
        match self {
            Shape::Maps { .. } => Some(vec![map, row, col]),
            Shape::Grid { c, .. } => Some(vec![map / c, map % c, row, col]),
            Shape::Vector { n } => {
                let i = row * VECTOR_COLUMNS + col;
                (i < n).then(|| vec![i])
            }
            Shape::Matrix { .. } => Some(vec![row, col]),
        }
    }

    /// Where the cell `index` names lies in the tensor's values in row-major order.
    pub fn offset(self, map: usize, row: usize, col: usize) -> Option<usize> {
        let (h, w) = self.map_dims();
        if map >= self.map_count() || row >= h || col >= w {
            return None;
        }
        match self {
            // A grid's map k·c + ci is kernel k, channel ci: maps follow each other.
            Shape::Maps { .. } | Shape::Grid { .. } => Some((map * h + row) * w + col),
            Shape::Vector { n } => {
                let i = row * VECTOR_COLUMNS + col;
                (i < n).then_some(i)
            }
            Shape::Matrix { c, .. } => Some(row * c + col),
        }
    }

    /// (map, row, col) of a tensor index.
    pub fn locate(self, index: &[usize]) -> Option<(usize, usize, usize)> {
        match (self, index) {
            (Shape::Maps { .. }, [m, r, c]) => Some((*m, *r, *c)),
            (Shape::Grid { c: channels, .. }, [k, c, r, col]) => Some((k * channels + c, *r, *col)),
            (Shape::Vector { .. }, [i]) => Some((0, i / VECTOR_COLUMNS, i % VECTOR_COLUMNS)),
            (Shape::Matrix { .. }, [r, c]) => Some((0, *r, *c)),
            _ => None,
        }
    }

    /// The label of map m: "c0", "k1", "k0·c2"; empty for single maps.
    pub fn map_label(self, m: usize, per_map: &str) -> String {
        match self {
            Shape::Maps { n, .. } if n > 1 => format!("{per_map}{m}"),
            Shape::Grid { c: 1, .. } => format!("k{m}"),
            Shape::Grid { c, .. } => format!("k{}c{}", m / c, m % c),
            _ => String::new(),
        }
    }

    pub fn dims_label(self) -> String {
        match self {
            Shape::Maps { n, h, w } => format!("{n}×{h}×{w}"),
            Shape::Grid { k, c, h, w } => format!("{k}×{c}×{h}×{w}"),
            Shape::Vector { n } => format!("[{n}]"),
            Shape::Matrix { r, c } => format!("{r}×{c}"),
        }
    }
}

/// One tensor as shown in the main pane.
#[derive(Clone, Debug)]
pub struct MapTensor<'a> {
    pub name: N,
    /// The symbol and the trace name, e.g. "δz delta_z".
    pub symbol: &'static str,
    pub phase: Phase,
    pub shape: Shape,
    /// What a map is per channel: "c" for input channels, "k" for kernels.
    pub per_map: &'static str,
    pub data: Values<'a>,
    /// Pool masks: whether each input cell lies in any window.
    pub covered: Option<Rc<Array3<bool>>>,
    /// With `--compare`: the user's values of this tensor (laid out like `data`) and
    /// which of their cells differ from the reference.
    pub yours: Option<Rc<YourValues>>,
    /// Summaries of the values that drawing asks for many times per frame (the layout
    /// tries several arrangements), each computed once and kept across frames.
    pub memo: Rc<Memo>,
}

/// Which tensor of which step. A key always names the same values: the timeline
/// recomputes an evicted step bit for bit.
type TensorKey = (usize, Node, N);

/// Pool masks kept at most (each as large as the pool's input).
const CACHED_MASKS: usize = 4;
/// Tensor summaries kept at most (a few numbers each).
const CACHED_MEMOS: usize = 4096;

/// What the view derives from the timeline's tensors, kept across frames so that a
/// redraw costs the drawing only: each tensor's summaries (`Memo`) and the pool masks.
/// Emptied when full.
#[derive(Clone, Debug, Default)]
pub struct ViewCache {
    memos: RefCell<HashMap<TensorKey, Rc<Memo>>>,
    masks: RefCell<HashMap<(usize, usize), PoolMask>>,
    /// With `--compare`: the switch masks of the user's argmax, by (step, layer).
    your_masks: RefCell<HashMap<(usize, usize), YourMask>>,
    /// The last cell explained and where: the inspector redraws the same sum until the
    /// cursor or the position moves.
    explained: RefCell<Option<Explained>>,
}

/// A cell, where it was explained, and its explanation.
type Explained = (Position, CellRef, Option<Rc<Explanation>>);

/// A pool's routing mask over its input, and which input cells lie in any window.
type PoolMask = (Rc<ArrayD<f64>>, Rc<Array3<bool>>);

/// The user's values of a tensor and which of their cells differ from the reference.
pub type YourValues = (ArrayD<f64>, ArrayD<bool>);

/// The user's switch mask of a layer, None when they gave no argmax for it.
type YourMask = Option<Rc<YourValues>>;

impl ViewCache {
    fn memo(&self, key: TensorKey) -> Rc<Memo> {
        let mut memos = self.memos.borrow_mut();
        if memos.len() >= CACHED_MEMOS && !memos.contains_key(&key) {
            memos.clear();
        }
        memos.entry(key).or_default().clone()
    }

    fn mask(&self, step: usize, layer: usize, compute: impl FnOnce() -> PoolMask) -> PoolMask {
        let mut masks = self.masks.borrow_mut();
        if masks.len() >= CACHED_MASKS && !masks.contains_key(&(step, layer)) {
            masks.clear();
        }
        masks.entry((step, layer)).or_insert_with(compute).clone()
    }

    /// The user's switch mask of layer `layer` at `step` (None when they gave no argmax),
    /// from `compute` unless it is kept.
    pub fn your_mask(
        &self,
        step: usize,
        layer: usize,
        compute: impl FnOnce() -> YourMask,
    ) -> YourMask {
        let mut masks = self.your_masks.borrow_mut();
        if masks.len() >= CACHED_MASKS && !masks.contains_key(&(step, layer)) {
            masks.clear();
        }
        masks.entry((step, layer)).or_insert_with(compute).clone()
    }

    /// The explanation of `cell` at `pos`, from `explain` unless it is the last one asked.
    pub fn explanation(
        &self,
        pos: Position,
        cell: &CellRef,
        explain: impl FnOnce() -> Option<Explanation>,
    ) -> Option<Rc<Explanation>> {
        let mut last = self.explained.borrow_mut();
        match &*last {
            Some((p, c, e)) if *p == pos && c == cell => e.clone(),
            _ => {
                let e = explain().map(Rc::new);
                *last = Some((pos, cell.clone(), e.clone()));
                e
            }
        }
    }
}

/// A tensor's values: borrowed from the timeline's trace, or derived from it (pool
/// masks, the loss node's vectors) and shared with the view cache.
#[derive(Clone, Debug)]
pub enum Values<'a> {
    Trace(ArrayViewD<'a, f64>),
    Derived(Rc<ArrayD<f64>>),
}

impl Values<'_> {
    pub fn view(&self) -> ArrayViewD<'_, f64> {
        match self {
            Values::Trace(v) => v.view(),
            Values::Derived(a) => a.view(),
        }
    }

    pub fn derived(values: ArrayD<f64>) -> Self {
        Values::Derived(Rc::new(values))
    }
}

/// Lazily computed summaries of a tensor's values, filled by the view.
#[derive(Clone, Debug, Default)]
pub struct Memo {
    /// (min, max) over the finite values.
    pub range: std::cell::OnceCell<Option<(f64, f64)>>,
    /// (characters per number, whether the leading zero is dropped).
    pub number_format: std::cell::OnceCell<(usize, bool)>,
    /// The legend of the colour scale, e.g. "-0.056…0.083".
    pub legend: std::cell::OnceCell<String>,
}

impl MapTensor<'_> {
    /// Every value, in memory order (for summaries, which do not depend on the order).
    pub fn with_values<R>(&self, f: impl FnOnce(&[f64]) -> R) -> R {
        let view = self.data.view();
        match view.as_slice_memory_order() {
            Some(values) => f(values),
            None => f(&view.iter().copied().collect::<Vec<f64>>()),
        }
    }

    pub fn len(&self) -> usize {
        self.data.view().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn value(&self, index: &[usize]) -> Option<f64> {
        self.data.view().get(IxDyn(index)).copied()
    }

    /// The user's value of a cell and whether it differs from the reference (`--compare`).
    pub fn your_value(&self, index: &[usize]) -> Option<(f64, bool)> {
        let (values, differs) = &**self.yours.as_ref()?;
        Some((*values.get(IxDyn(index))?, *differs.get(IxDyn(index))?))
    }
}

/// The maps of a node at a position, and what is not shown yet.
#[derive(Clone, Debug, Default)]
pub struct NodeMaps<'a> {
    pub tensors: Vec<MapTensor<'a>>,
    /// Why some tensors are missing, e.g. "δ maps appear when the backward pass reaches conv1 (event 9)".
    pub pending: Vec<String>,
}

impl NodeMaps<'_> {
    pub fn position(&self, name: N) -> Option<usize> {
        self.tensors.iter().position(|t| t.name == name)
    }
}

/// A max-pool layer at a step with the user's switches beside the reference's
/// (`--compare` with their argmax).
#[derive(Clone, Debug)]
pub struct Switches<'a> {
    pub pool: &'a Pool,
    pub trace: &'a PoolTrace,
    /// Every window, in row-major order.
    pub pairs: Vec<SwitchPair>,
}

/// The switches of layer `l` at `step`, when it is a max pool whose argmax the user gave.
pub fn switches<'a>(
    timeline: &'a Timeline,
    compare: &Comparison,
    step: usize,
    l: usize,
) -> Option<Switches<'a>> {
    let LayerKind::Pool(pool) = &timeline.model(step).layers.get(l)?.kind else {
        return None;
    };
    let LayerTrace::Pool(trace) = &timeline.step(step)?.trace.layers[l].1 else {
        return None;
    };
    let pairs = compare.switch_pairs(step, l, trace.argmax.as_ref()?)?;
    Some(Switches { pool, trace, pairs })
}

impl Switches<'_> {
    /// [H, W] of the input plane the switches index.
    pub fn plane(&self) -> [usize; 2] {
        let (_, h, w) = self.trace.input.dim();
        [h, w]
    }

    /// The switch mask of the user's switches, derived as the reference's is (by
    /// [`Pool::routing_mask`]), and the cells to mark: for each switch that differs, the
    /// cell the reference's points at and the cell the user's points at, both. (A switch
    /// outside its window counts in no window, as in the reference's mask, but its cell is
    /// marked; one that names no cell marks the reference's only.)
    pub fn your_mask(&self) -> YourValues {
        let plane = self.plane();
        let [_, w] = plane;
        let cell = |switch: f64| decode_switch(switch, plane);
        // usize::MAX is the flat index of no cell: such a switch wins no window.
        let argmax = self
            .pairs
            .iter()
            .map(|p| cell(p.yours).map_or(usize::MAX, |[y, x]| y * w + x));
        let theirs = PoolTrace {
            argmax: Some(
                Array3::from_shape_vec(self.trace.output.raw_dim(), argmax.collect())
                    .expect("one switch per output cell"),
            ),
            ..self.trace.clone()
        };
        let (mask, _) = self.pool.routing_mask(&theirs);
        let mut differs = Array3::from_elem(self.trace.input.raw_dim(), false);
        for p in self.pairs.iter().filter(|p| p.differs()) {
            differs[[p.channel, p.reference / w, p.reference % w]] = true;
            if let Some([y, x]) = cell(p.yours) {
                differs[[p.channel, y, x]] = true;
            }
        }
        (mask.into_dyn(), differs.into_dyn())
    }

    /// The switches that bear on a cell of the layer's `tensor`, decoded: for an output
    /// cell, its window's; for a cell of the input plane (the mask, δ_input), every
    /// differing switch that points at it, the reference's or the user's.
    pub fn at(&self, tensor: N, index: &[usize]) -> Vec<YourSwitch> {
        let plane = self.plane();
        let [_, w] = plane;
        let bears = |p: &SwitchPair| match (tensor, index) {
            (N::Output, &[c, i, j]) => p.channel == c && p.window == [i, j],
            (N::Mask | N::DeltaInput, &[c, y, x]) => {
                p.channel == c
                    && p.differs()
                    && (p.reference == y * w + x || decode_switch(p.yours, plane) == Some([y, x]))
            }
            _ => false,
        };
        self.pairs
            .iter()
            .filter(|p| bears(p))
            .map(|&pair| {
                let yours = decode_switch(pair.yours, plane);
                YourSwitch {
                    pair,
                    plane,
                    reference: [pair.reference / w, pair.reference % w],
                    yours,
                    in_window: yours.is_some_and(|cell| {
                        self.pool
                            .window(pair.window[0], pair.window[1])
                            .any(|c| c == cell)
                    }),
                }
            })
            .collect()
    }
}

/// One window's switch as the inspector shows it: the reference's and the user's, decoded
/// into cells [row, col] of the input plane.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct YourSwitch {
    pub pair: SwitchPair,
    /// [H, W] of the input plane.
    pub plane: [usize; 2],
    pub reference: [usize; 2],
    /// None when the user's number names no cell of the plane.
    pub yours: Option<[usize; 2]>,
    /// Whether the user's cell lies in the window it is the switch of.
    pub in_window: bool,
}

/// The explain context of the step at `pos` (None if that step is not computed).
pub fn context(timeline: &Timeline, pos: Position) -> Option<Context<'_>> {
    let step = timeline.step(pos.step)?;
    let updated = pos.event + 1 >= timeline.events_per_step();
    let layers = timeline.layer_count();
    Some(Context {
        model: timeline.model(pos.step),
        trace: &step.trace,
        updated: updated.then(|| timeline.model(pos.step + 1)),
        // Backward(l) is event 2L − l: at event e, layers l ≥ 2L − e have run backward.
        backward_from: layers.saturating_sub(pos.event.saturating_sub(layers)),
    })
}

fn tensor<'a>(
    name: N,
    kind: &str,
    phase: Phase,
    per_map: &'static str,
    data: Values<'a>,
) -> MapTensor<'a> {
    MapTensor {
        name,
        symbol: explain::symbol(kind, name),
        phase,
        shape: Shape::of(data.view().shape()),
        per_map,
        data,
        covered: None,
        yours: None,
        memo: Rc::default(),
    }
}

fn view<'a>(t: &'a LayerTrace, name: N) -> Values<'a> {
    Values::Trace(
        t.tensor(name)
            .expect("the trace has every tensor of its layer"),
    )
}

/// The tensors of `node` that are known at `pos`, with their summaries from `cache`.
pub fn node_maps<'a>(
    timeline: &'a Timeline,
    cache: &ViewCache,
    pos: Position,
    node: Node,
) -> NodeMaps<'a> {
    let mut maps = known_tensors(timeline, cache, pos, node);
    for t in &mut maps.tensors {
        t.memo = cache.memo((pos.step, node, t.name));
    }
    maps
}

fn known_tensors<'a>(
    timeline: &'a Timeline,
    cache: &ViewCache,
    pos: Position,
    node: Node,
) -> NodeMaps<'a> {
    let Some(step) = timeline.step(pos.step) else {
        return NodeMaps {
            tensors: Vec::new(),
            pending: vec!["this step has not been computed".into()],
        };
    };
    let mut out = NodeMaps::default();
    let layers = timeline.layer_count();
    match node {
        Node::Loss => {
            let last = layers - 1;
            let y_known = timeline.stage(pos, last).forward;
            let loss_known = timeline.loss_known(pos);
            let model = timeline.model(pos.step);
            let n = step.trace.output.len();
            let flat = |a: &ArrayD<f64>| {
                Values::derived(
                    a.iter()
                        .copied()
                        .collect::<ndarray::Array1<f64>>()
                        .into_dyn(),
                )
            };
            if y_known {
                out.tensors.push(tensor(
                    N::Output,
                    "loss",
                    Phase::Forward,
                    "",
                    flat(&step.trace.output),
                ));
            } else {
                out.pending.push(format!(
                    "y appears when the forward pass reaches {} (event {})",
                    model.layers[last].name,
                    last + 1
                ));
            }
            let target = match &model.loss {
                Loss::Mse { target } | Loss::HalfSse { target } => target.clone(),
                Loss::CrossEntropy { class } => {
                    ndarray::Array1::from_shape_fn(n, |i| if i == *class { 1.0 } else { 0.0 })
                        .into_dyn()
                }
            };
            out.tensors
                .push(tensor(N::Target, "loss", Phase::Param, "", flat(&target)));
            if loss_known {
                out.tensors.push(tensor(
                    N::LossGrad,
                    "loss",
                    Phase::Backward,
                    "",
                    flat(&step.trace.loss_grad),
                ));
                out.tensors.push(tensor(
                    N::Loss,
                    "loss",
                    Phase::Forward,
                    "",
                    Values::derived(ndarray::arr1(&[step.trace.loss]).into_dyn()),
                ));
            } else {
                out.pending.push(format!(
                    "the loss and ∂L/∂y appear at the loss event (event {})",
                    layers + 1
                ));
            }
        }
        Node::Layer(l) => {
            let stage = timeline.stage(pos, l);
            let (_, t) = &step.trace.layers[l];
            let layer = &timeline.model(pos.step).layers[l];
            let kind = t.type_name();
            let backward_event = timeline.event_index(crate::timeline::Event::Backward(l)) + 1;
            let forward_event = l + 1;
            if stage.input {
                out.tensors.push(tensor(
                    N::Input,
                    kind,
                    Phase::Forward,
                    "c",
                    view(t, N::Input),
                ));
            }
            let params = matches!(t, LayerTrace::Conv(_) | LayerTrace::Dense(_));
            if params {
                out.tensors.push(tensor(
                    N::Weights,
                    kind,
                    Phase::Param,
                    "k",
                    view(t, N::Weights),
                ));
                out.tensors
                    .push(tensor(N::Bias, kind, Phase::Param, "k", view(t, N::Bias)));
            }
            if stage.forward {
                match t {
                    LayerTrace::Pool(p) => {
                        out.tensors.push(tensor(
                            N::Output,
                            kind,
                            Phase::Forward,
                            "c",
                            view(t, N::Output),
                        ));
                        if let LayerKind::Pool(pool) = &layer.kind {
                            let (mask, covered) = cache.mask(pos.step, l, || {
                                let (mask, covered) = pool.routing_mask(p);
                                (Rc::new(mask.into_dyn()), Rc::new(covered))
                            });
                            let mut m =
                                tensor(N::Mask, kind, Phase::Forward, "c", Values::Derived(mask));
                            m.symbol = explain::mask_symbol(pool.kind);
                            m.covered = Some(covered);
                            out.tensors.push(m);
                        }
                    }
                    _ => {
                        out.tensors
                            .push(tensor(N::Z, kind, Phase::Forward, "k", view(t, N::Z)));
                        out.tensors
                            .push(tensor(N::A, kind, Phase::Forward, "k", view(t, N::A)));
                    }
                }
            } else {
                out.pending.push(format!(
                    "{} has not run forward yet: its outputs appear at event {forward_event} (forward {})",
                    layer.name, layer.name
                ));
            }
            let delta_out = t.delta_output_name();
            if stage.delta_out {
                out.tensors.push(tensor(
                    delta_out,
                    kind,
                    Phase::Backward,
                    if params { "k" } else { "c" },
                    view(t, delta_out),
                ));
            }
            if stage.backward {
                if params {
                    out.tensors.push(tensor(
                        N::DeltaZ,
                        kind,
                        Phase::Backward,
                        "k",
                        view(t, N::DeltaZ),
                    ));
                }
                out.tensors.push(tensor(
                    N::DeltaInput,
                    kind,
                    Phase::Backward,
                    "c",
                    view(t, N::DeltaInput),
                ));
                if params {
                    out.tensors.push(tensor(
                        N::GradWeights,
                        kind,
                        Phase::Backward,
                        "k",
                        view(t, N::GradWeights),
                    ));
                    out.tensors.push(tensor(
                        N::GradBias,
                        kind,
                        Phase::Backward,
                        "k",
                        view(t, N::GradBias),
                    ));
                }
            } else {
                out.pending.push(format!(
                    "δ maps are not known yet: the backward pass reaches {} at event {backward_event}",
                    layer.name
                ));
            }
            if stage.updated && params {
                let next = timeline.model(pos.step + 1);
                let (w, b) = match &next.layers[l].kind {
                    LayerKind::Conv(c) => (c.weights.view().into_dyn(), c.bias.view().into_dyn()),
                    LayerKind::Dense(d) => (d.weights.view().into_dyn(), d.bias.view().into_dyn()),
                    LayerKind::Pool(_) => unreachable!("pools have no parameters"),
                };
                out.tensors.push(tensor(
                    N::WeightsNext,
                    kind,
                    Phase::Update,
                    "k",
                    Values::Trace(w),
                ));
                out.tensors.push(tensor(
                    N::BiasNext,
                    kind,
                    Phase::Update,
                    "k",
                    Values::Trace(b),
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::default_scenario;

    use crate::diff::GivenTensor;
    use crate::engine::Pass;
    use crate::scenario::Scenario;

    fn max_pool_switches() -> Scenario {
        crate::scenario::load(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("scenarios/max_pool_switches.json"),
        )
        .unwrap()
    }

    /// pool1 (layer 1) of max_pool_switches: the reference's switches, with `edit` applied,
    /// as the user's argmax.
    fn their_switches(s: &Scenario, edit: impl FnOnce(&mut ArrayD<f64>)) -> Comparison {
        let LayerTrace::Pool(p) = &s.model.trace(0).layers[1].1 else {
            panic!("pool1 is layer 1")
        };
        let mut argmax = p.argmax.as_ref().unwrap().mapv(|a| a as f64).into_dyn();
        edit(&mut argmax);
        let given = vec![GivenTensor {
            step: 0,
            pass: Pass::Forward,
            layer: Some(1),
            tensor: N::Argmax,
            values: argmax,
            path: "steps[0].layers[1].argmax".into(),
        }];
        Comparison::new("mine.json", &s.name, &s.model, given, 1e-6).unwrap()
    }

    fn marked(differs: &ArrayD<bool>) -> Vec<Vec<usize>> {
        differs
            .indexed_iter()
            .filter(|(_, d)| **d)
            .map(|(i, _)| ndarray::Dimension::slice(&i).to_vec())
            .collect()
    }

    fn reference_mask(t: &Timeline) -> ArrayD<f64> {
        let (LayerKind::Pool(pool), LayerTrace::Pool(p)) = (
            &t.model(0).layers[1].kind,
            &t.step(0).unwrap().trace.layers[1].1,
        ) else {
            panic!("pool1 is layer 1")
        };
        pool.routing_mask(p).0.into_dyn()
    }

    #[test]
    fn one_wrong_switch_marks_the_cell_of_each_side_and_moves_its_count() {
        let s = max_pool_switches();
        // Window (1,1) of channel 0: the reference's switch is 20 = [3,2]; theirs 14 = [2,2].
        let c = their_switches(&s, |a| {
            assert_eq!(a[[0, 1, 1]], 20.0);
            a[[0, 1, 1]] = 14.0;
        });
        let t = Timeline::new(s.model, s.steps);
        let sw = switches(&t, &c, 0, 1).unwrap();
        assert_eq!(sw.plane(), [6, 6]);
        let (mask, differs) = sw.your_mask();
        assert_eq!(marked(&differs), vec![vec![0, 2, 2], vec![0, 3, 2]]);
        let mut expected = reference_mask(&t);
        expected[[0, 2, 2]] += 1.0;
        expected[[0, 3, 2]] -= 1.0;
        assert_eq!(
            mask, expected,
            "their count moves from the reference's cell to theirs"
        );

        let wrong = YourSwitch {
            pair: SwitchPair {
                channel: 0,
                window: [1, 1],
                reference: 20,
                yours: 14.0,
            },
            plane: [6, 6],
            reference: [3, 2],
            yours: Some([2, 2]),
            in_window: true,
        };
        for (tensor, index) in [
            (N::Mask, [0, 2, 2]),
            (N::Mask, [0, 3, 2]),
            (N::DeltaInput, [0, 3, 2]),
            (N::Output, [0, 1, 1]),
        ] {
            assert_eq!(sw.at(tensor, &index), vec![wrong], "{tensor} {index:?}");
        }
        // An output cell shows its window's switch, agreeing or not; a mask cell only the
        // differing switches that point at it.
        let agreeing = sw.at(N::Output, &[0, 0, 1]);
        assert_eq!(agreeing.len(), 1);
        assert!(!agreeing[0].pair.differs());
        assert_eq!(agreeing[0].pair.window, [0, 1]);
        assert_eq!(agreeing[0].reference, [1, 2], "8 = 1·6 + 2");
        for (tensor, index) in [
            (N::Mask, [0, 1, 2]),
            (N::Mask, [1, 2, 2]),
            (N::Input, [0, 2, 2]),
            (N::DeltaOutput, [0, 1, 1]),
        ] {
            assert_eq!(sw.at(tensor, &index), vec![], "{tensor} {index:?}");
        }
    }

    #[test]
    fn a_switch_outside_its_window_or_naming_no_cell_marks_what_it_can() {
        let s = max_pool_switches();
        let c = their_switches(&s, |a| {
            // Window (0,0) (cells [0..2, 0..2]; reference 6 = [1,0]) numbered inside the
            // window: 3 is [0,3] of the plane, a cell of window (0,1).
            assert_eq!(a[[0, 0, 0]], 6.0);
            a[[0, 0, 0]] = 3.0;
            // Past the 36 cells of the plane (reference 8 = [1,2]), and not a whole number
            // (reference 5 = [0,5]).
            a[[0, 0, 1]] = 36.0;
            a[[0, 0, 2]] = 4.5;
        });
        let t = Timeline::new(s.model, s.steps);
        let sw = switches(&t, &c, 0, 1).unwrap();
        let (mask, differs) = sw.your_mask();
        assert_eq!(
            marked(&differs),
            vec![vec![0, 0, 3], vec![0, 0, 5], vec![0, 1, 0], vec![0, 1, 2]]
        );
        let mut expected = reference_mask(&t);
        // A switch outside its window wins no window, as Pool::routing_mask counts.
        expected[[0, 1, 0]] -= 1.0;
        expected[[0, 1, 2]] -= 1.0;
        expected[[0, 0, 5]] -= 1.0;
        assert_eq!(mask, expected);
        let outside = sw.at(N::Mask, &[0, 0, 3]);
        assert_eq!(outside.len(), 1);
        assert_eq!(outside[0].yours, Some([0, 3]));
        assert!(!outside[0].in_window);
        let nowhere = sw.at(N::Mask, &[0, 1, 2]);
        assert_eq!(nowhere.len(), 1);
        assert_eq!((nowhere[0].pair.yours, nowhere[0].yours), (36.0, None));
        assert!(!nowhere[0].in_window);
        assert_eq!(sw.at(N::Output, &[0, 0, 2])[0].yours, None);
    }

    #[test]
    fn the_mask_shows_the_users_switches_only_where_they_gave_them() {
        let s = max_pool_switches();
        let right = their_switches(&s, |_| {});
        let state =
            crate::app::State::new(s.clone(), crate::app::Config::default()).with_comparison(right);
        let t = &state.timeline;
        let (mask, differs) = switches(t, state.compare.as_ref().unwrap(), 0, 1)
            .unwrap()
            .your_mask();
        assert_eq!(mask, reference_mask(t));
        assert!(
            marked(&differs).is_empty(),
            "agreeing switches mark nothing"
        );
        // Not a max pool, or no argmax given: nothing to derive.
        let c = state.compare.as_ref().unwrap();
        assert!(switches(t, c, 0, 0).is_none(), "conv1");
        assert!(switches(t, c, 0, 3).is_none(), "pool2: no argmax given");
        assert!(switches(t, c, 0, 9).is_none(), "no such layer");
        assert!(switches(t, c, 5, 1).is_none(), "step 5 is not computed");
    }

    #[test]
    fn the_users_masks_are_kept_per_step_and_layer_until_the_cache_is_full() {
        let cache = ViewCache::default();
        let calls = std::cell::Cell::new(0);
        let compute = || {
            calls.set(calls.get() + 1);
            Some(Rc::new((
                ArrayD::zeros(IxDyn(&[1])),
                ArrayD::default(IxDyn(&[1])),
            )))
        };
        let first = cache.your_mask(0, 1, compute).unwrap();
        let again = cache.your_mask(0, 1, compute).unwrap();
        assert!(Rc::ptr_eq(&first, &again));
        assert_eq!(calls.get(), 1);
        for step in 1..CACHED_MASKS {
            cache.your_mask(step, 1, compute);
        }
        assert_eq!(calls.get(), CACHED_MASKS);
        cache.your_mask(0, 1, compute);
        assert_eq!(
            calls.get(),
            CACHED_MASKS,
            "a kept mask when the cache is full"
        );
        cache.your_mask(CACHED_MASKS, 1, compute);
        cache.your_mask(0, 1, compute);
        assert_eq!(
            calls.get(),
            CACHED_MASKS + 2,
            "emptied when full, then refilled"
        );
        assert!(cache.your_mask(9, 9, || None).is_none());
    }

    #[test]
    fn shapes_round_trip_between_index_and_map_cell() {
        for shape in [
            Shape::Maps { n: 2, h: 3, w: 4 },
            Shape::Grid {
                k: 2,
                c: 3,
                h: 2,
                w: 2,
            },
            Shape::Vector { n: 11 },
            Shape::Matrix { r: 3, c: 5 },
        ] {
            let (h, w) = shape.map_dims();
            let mut count = 0;
            for m in 0..shape.map_count() {
                for r in 0..h {
                    for c in 0..w {
                        assert_eq!(
                            shape.offset(m, r, c).is_some(),
                            shape.index(m, r, c).is_some()
                        );
                        if let Some(index) = shape.index(m, r, c) {
                            assert_eq!(shape.locate(&index), Some((m, r, c)));
                            assert_eq!(shape.offset(m, r, c), Some(count), "row-major order");
                            count += 1;
                        }
                    }
                }
            }
            let total = match shape {
                Shape::Maps { n, h, w } => n * h * w,
                Shape::Grid { k, c, h, w } => k * c * h * w,
                Shape::Vector { n } => n,
                Shape::Matrix { r, c } => r * c,
            };
            assert_eq!(count, total);
        }
    }

    #[test]
    fn the_explain_context_knows_which_gradients_are_computed() {
        let s = default_scenario();
        let t = Timeline::new(s.model, s.steps);
        let l = t.layer_count();
        for event in 0..t.events_per_step() {
            let ctx = context(&t, Position { step: 0, event }).unwrap();
            for layer in 0..l {
                assert_eq!(
                    layer >= ctx.backward_from,
                    t.stage(Position { step: 0, event }, layer).backward,
                    "event {event} layer {layer}"
                );
            }
        }
    }

    #[test]
    fn delta_maps_appear_only_after_the_backward_pass_reaches_the_layer() {
        let s = default_scenario();
        let t = Timeline::new(s.model, s.steps);
        let l = t.layer_count();
        let names = |event: usize, layer: usize| -> Vec<&'static str> {
            node_maps(
                &t,
                &ViewCache::default(),
                Position { step: 0, event },
                Node::Layer(layer),
            )
            .tensors
            .iter()
            .map(|m| m.name.as_str())
            .collect()
        };
        assert_eq!(names(0, 0), vec!["input", "weights", "bias", "z", "a"]);
        assert!(!names(l, 0).contains(&"delta_z"));
        assert!(names(2 * l, 0).contains(&"delta_input"));
        assert!(names(2 * l, 0).contains(&"grad_weights"));
        assert!(!names(2 * l, 0).contains(&"weights_next"));
        assert!(names(2 * l + 1, 0).contains(&"weights_next"));
        assert!(
            names(0, 1).contains(&"input"),
            "pool1's input is conv1's output, known at event 0"
        );
        assert!(!names(0, 1).contains(&"output"));
        assert!(names(1, 1).contains(&"mask"));
    }
}
