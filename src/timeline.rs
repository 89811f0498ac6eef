//! The session as a debugger's timeline: per training step, the forward pass through each
//! layer in order, the loss, the backward pass through each layer in reverse order, and the
//! weight update. A position is (step, event index).
//!
//! Memory stays bounded however long the session, as in record-and-replay debuggers: the
//! timeline keeps every step's loss, the parameters at checkpoints (every `interval` steps),
//! and the full traces of a few recent steps only. Reaching any other step recomputes it from
//! the checkpoint before it, through the same code in the same order, so the numbers are
//! bit-identical to the first time. When the checkpoints outgrow [`CHECKPOINT_BUDGET_NUMBERS`]
//! every other one is dropped and the interval doubles.

use crate::anomaly::{Anomaly, first_anomaly_in_step};
use crate::engine::network::Workspace;
use crate::engine::{LayerKind, LayerTrace, Model, StepTrace};

/// Most training steps one session runs.
pub const MAX_STEPS: usize = 10_000;
/// Most numbers (f64) the timeline keeps in checkpoints and cached traces together: 8 million
/// (64 MB). Half of it goes to each.
pub const MEMORY_BUDGET_NUMBERS: usize = 8_000_000;
/// Most numbers the parameter checkpoints may hold (32 MB).
pub const CHECKPOINT_BUDGET_NUMBERS: usize = MEMORY_BUDGET_NUMBERS / 2;
/// Most numbers the cached traces may hold (32 MB) ...
pub const CACHE_BUDGET_NUMBERS: usize = MEMORY_BUDGET_NUMBERS / 2;
/// ... and how many steps that is at most and at least.
pub const MAX_CACHED_STEPS: usize = 32;
pub const MIN_CACHED_STEPS: usize = 2;
/// A gradient norm above this is flagged as exploding.
pub const EXPLODING_NORM: f64 = 1e3;
/// A non-zero gradient norm below this is flagged as vanishing.
pub const VANISHING_NORM: f64 = 1e-7;

/// A node of the pipeline: a layer, or the loss at the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Node {
    Layer(usize),
    Loss,
}

/// One event of a training step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// The forward pass through layer i.
    Forward(usize),
    /// The loss and its gradient ∂L/∂y.
    Loss,
    /// The backward pass through layer i.
    Backward(usize),
    /// The SGD update w ← w − η·∂L/∂w.
    Update,
}

impl Event {
    pub fn is_backward(self) -> bool {
        matches!(self, Event::Backward(_) | Event::Update)
    }
}

/// Where the session is: training step and event index within the step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Position {
    pub step: usize,
    pub event: usize,
}

/// The events of one step of a network with `layers` layers, in order.
pub fn events(layers: usize) -> Vec<Event> {
    let mut out: Vec<Event> = (0..layers).map(Event::Forward).collect();
    out.push(Event::Loss);
    out.extend((0..layers).rev().map(Event::Backward));
    out.push(Event::Update);
    out
}

/// Statistics of one layer's backward pass, for the pipeline pane.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerStats {
    /// ‖∂L/∂w‖ for conv and dense layers; ‖δ_input‖ for pools.
    pub grad_norm: f64,
    /// ‖δ_input‖, the δ this layer sends back.
    pub delta_input_norm: f64,
    /// A NaN or infinity in any tensor of the layer.
    pub non_finite: bool,
    /// Every δ_z (conv, dense) or δ_input (pool) is exactly zero: no gradient flows.
    pub dead: bool,
    /// Conv kernels (or dense units) whose δ_z is all zero while others are not: dead ReLUs.
    pub dead_maps: Vec<usize>,
}

/// √(Σ v²) without overflowing where the sum of squares would (values near 1e200 have a
/// finite norm): summed as (v / max|v|)², then scaled back. NaN if any value is NaN, inf
/// if any is infinite.
pub fn euclidean_norm<I: Iterator<Item = f64>>(values: impl Fn() -> I) -> f64 {
    let scale = values().fold(0.0f64, |m, v| {
        if v.is_nan() || m.is_nan() {
            f64::NAN
        } else {
            m.max(v.abs())
        }
    });
    if scale == 0.0 || !scale.is_finite() {
        return scale;
    }
    scale
        * values()
            .map(|v| (v / scale) * (v / scale))
            .sum::<f64>()
            .sqrt()
}

impl LayerStats {
    pub fn of(trace: &LayerTrace) -> Self {
        let non_finite = trace
            .tensors()
            .iter()
            .any(|(_, t)| !crate::anomaly::all_finite(t));
        let (grad_norm, delta_input_norm, dead) = match trace {
            LayerTrace::Conv(t) => (
                euclidean_norm(|| t.grad_weights.iter().chain(&t.grad_bias).copied()),
                euclidean_norm(|| t.delta_input.iter().copied()),
                t.delta_z.iter().all(|&v| v == 0.0),
            ),
            LayerTrace::Dense(t) => (
                euclidean_norm(|| t.grad_weights.iter().chain(&t.grad_bias).copied()),
                euclidean_norm(|| t.delta_input.iter().copied()),
                t.delta_z.iter().all(|&v| v == 0.0),
            ),
            LayerTrace::Pool(t) => {
                let n = euclidean_norm(|| t.delta_input.iter().copied());
                (n, n, t.delta_input.iter().all(|&v| v == 0.0))
            }
        };
        let dead_maps: Vec<usize> = match trace {
            LayerTrace::Conv(t) => t
                .delta_z
                .outer_iter()
                .enumerate()
                .filter(|(_, m)| m.iter().all(|&v| v == 0.0))
                .map(|(k, _)| k)
                .collect(),
            LayerTrace::Dense(t) => t
                .delta_z
                .iter()
                .enumerate()
                .filter(|(_, v)| **v == 0.0)
                .map(|(k, _)| k)
                .collect(),
            LayerTrace::Pool(_) => Vec::new(),
        };
        LayerStats {
            grad_norm,
            delta_input_norm,
            non_finite,
            dead,
            dead_maps: if dead { Vec::new() } else { dead_maps },
        }
    }

    pub fn exploding(&self) -> bool {
        self.grad_norm > EXPLODING_NORM
    }

    pub fn vanishing(&self) -> bool {
        self.grad_norm > 0.0 && self.grad_norm < VANISHING_NORM
    }
}

/// One computed training step.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub trace: StepTrace,
    pub stats: Vec<LayerStats>,
}

/// Why the timeline cannot grow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Limit {
    Steps(usize),
    Memory { steps: usize, numbers: usize },
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Limit::Steps(n) => write!(f, "the session keeps at most {n} training steps"),
            Limit::Memory { steps, numbers } => write!(
                f,
                "memory budget reached after {steps} steps ({numbers} numbers per step kept)"
            ),
        }
    }
}

/// A computed step kept in the cache, with the parameters before and after its update.
#[derive(Clone, Debug)]
struct Cached {
    step: Step,
    before: Model,
    after: Model,
    /// When it was last asked for (larger is more recent).
    used: u64,
}

#[derive(Clone, Debug)]
pub struct Timeline {
    /// The model step 0 starts from.
    first: Model,
    /// The model after the last computed step, from which the next one is computed.
    frontier: Model,
    /// How many steps have been computed (from 0).
    computed: usize,
    /// The loss of every computed step.
    losses: Vec<f64>,
    /// Parameters used by steps 0, interval, 2·interval, … (see [`parameters`]).
    checkpoints: Vec<Vec<f64>>,
    interval: usize,
    max_checkpoints: usize,
    cache: Vec<Cached>,
    cache_capacity: usize,
    clock: u64,
    workspace: Workspace,
    /// How many steps the session runs: the scenario's steps, plus any the user added.
    planned: usize,
    layers: usize,
    events: Vec<Event>,
    numbers_per_step: usize,
    max_steps: usize,
    /// The first NaN or infinity of the steps computed so far, in computation order.
    first_anomaly: Option<Anomaly>,
}

fn model_numbers(model: &Model) -> usize {
    model
        .layers
        .iter()
        .map(|l| match &l.kind {
            LayerKind::Conv(c) => c.weights.len() + c.bias.len(),
            LayerKind::Dense(d) => d.weights.len() + d.bias.len(),
            LayerKind::Pool(_) => 0,
        })
        .sum()
}

fn trace_numbers(trace: &StepTrace) -> usize {
    trace.output.len()
        + trace.loss_grad.len()
        + trace
            .layers
            .iter()
            .map(|(_, t)| t.tensors().iter().map(|(_, v)| v.len()).sum::<usize>())
            .sum::<usize>()
}

/// Every weight and bias of the model, in layer order.
pub fn parameters(model: &Model) -> Vec<f64> {
    let mut out = Vec::with_capacity(model_numbers(model));
    for layer in &model.layers {
        match &layer.kind {
            LayerKind::Conv(c) => {
                out.extend(c.weights.iter());
                out.extend(c.bias.iter());
            }
            LayerKind::Dense(d) => {
                out.extend(d.weights.iter());
                out.extend(d.bias.iter());
            }
            LayerKind::Pool(_) => {}
        }
    }
    out
}

/// Copy the weights and biases of `src` into `dst`, a model of the same layers.
fn copy_parameters(dst: &mut Model, src: &Model) {
    for (d, s) in dst.layers.iter_mut().zip(&src.layers) {
        match (&mut d.kind, &s.kind) {
            (LayerKind::Conv(d), LayerKind::Conv(s)) => {
                d.weights.assign(&s.weights);
                d.bias.assign(&s.bias);
            }
            (LayerKind::Dense(d), LayerKind::Dense(s)) => {
                d.weights.assign(&s.weights);
                d.bias.assign(&s.bias);
            }
            _ => {}
        }
    }
}

/// Write parameters taken by [`parameters`] back into a model of the same shape.
pub fn set_parameters(model: &mut Model, params: &[f64]) {
    let mut rest = params;
    let mut take = |dst: &mut dyn Iterator<Item = &mut f64>| {
        for d in dst {
            *d = rest[0];
            rest = &rest[1..];
        }
    };
    for layer in &mut model.layers {
        match &mut layer.kind {
            LayerKind::Conv(c) => {
                take(&mut c.weights.iter_mut());
                take(&mut c.bias.iter_mut());
            }
            LayerKind::Dense(d) => {
                take(&mut d.weights.iter_mut());
                take(&mut d.bias.iter_mut());
            }
            LayerKind::Pool(_) => {}
        }
    }
    assert!(rest.is_empty(), "parameters of a model of the same shape");
}

impl Timeline {
    /// A timeline of `planned` steps (at least 1) starting from `model`. Computes step 0.
    pub fn new(model: Model, planned: usize) -> Self {
        Self::with_limits(model, planned, None, None)
    }

    /// As [`Timeline::new`], with at most `max_checkpoints` checkpoints and `cache_capacity`
    /// cached traces instead of what the memory budgets allow (for tests and benchmarks).
    pub fn with_limits(
        model: Model,
        planned: usize,
        max_checkpoints: Option<usize>,
        cache_capacity: Option<usize>,
    ) -> Self {
        let layers = model.layers.len();
        let workspace = model.workspace();
        let params = model_numbers(&model).max(1);
        let mut timeline = Timeline {
            frontier: model.clone(),
            first: model,
            computed: 0,
            losses: Vec::new(),
            checkpoints: Vec::new(),
            interval: 1,
            max_checkpoints: max_checkpoints
                .unwrap_or(CHECKPOINT_BUDGET_NUMBERS / params)
                .max(2),
            cache: Vec::new(),
            cache_capacity: MIN_CACHED_STEPS,
            clock: 0,
            workspace,
            planned: planned.max(1),
            layers,
            events: events(layers),
            numbers_per_step: 0,
            max_steps: MAX_STEPS,
            first_anomaly: None,
        };
        timeline.ensure(0);
        let trace = &timeline.cache[0].step.trace;
        timeline.numbers_per_step = trace_numbers(trace) + model_numbers(&timeline.first);
        timeline.cache_capacity = cache_capacity.unwrap_or(
            (CACHE_BUDGET_NUMBERS / timeline.numbers_per_step.max(1))
                .clamp(MIN_CACHED_STEPS, MAX_CACHED_STEPS),
        );
        timeline.planned = timeline.planned.min(timeline.max_steps);
        timeline
    }

    /// Steps between two checkpoints: recomputing a step that is not cached runs at most this
    /// many training steps.
    pub fn checkpoint_interval(&self) -> usize {
        self.interval
    }

    /// How many steps' full traces are kept at most.
    pub fn cache_capacity(&self) -> usize {
        self.cache_capacity
    }

    fn checkpoint(&mut self, step: usize, model: &Model) {
        if !step.is_multiple_of(self.interval) || step / self.interval < self.checkpoints.len() {
            return;
        }
        debug_assert_eq!(step / self.interval, self.checkpoints.len());
        self.checkpoints.push(parameters(model));
        if self.checkpoints.len() > self.max_checkpoints {
            // Thin out: keep every other checkpoint and double the interval.
            let kept: Vec<Vec<f64>> = std::mem::take(&mut self.checkpoints)
                .into_iter()
                .step_by(2)
                .collect();
            self.checkpoints = kept;
            self.interval *= 2;
        }
    }

    fn cached(&self, s: usize) -> Option<&Cached> {
        self.cache.iter().find(|c| c.step.trace.step == s)
    }

    /// Run step `s` of `model` (which holds the parameters step `s` uses) and advance it.
    /// Keeps the trace in the cache when `keep` (see `last_trace`).
    fn run(&mut self, model: &mut Model, s: usize, keep: bool) {
        if !keep {
            model.train_step_into(s, &mut self.workspace);
            return;
        }
        // An entry pushed out of the cache has this step's shapes: its models take this
        // step's parameters in place, and its trace goes to the workspace (the next step
        // overwrites every tensor) while this step's trace moves into the cache. A step
        // then costs no allocation and no copy of its trace.
        let (before, after, trace) = match self.make_room(s) {
            Some(mut old) => {
                copy_parameters(&mut old.before, model);
                model.train_step_into(s, &mut self.workspace);
                copy_parameters(&mut old.after, model);
                let trace = std::mem::replace(&mut self.workspace.trace, old.step.trace);
                (old.before, old.after, trace)
            }
            None => {
                let before = model.clone();
                model.train_step_into(s, &mut self.workspace);
                (before, model.clone(), self.workspace.trace.clone())
            }
        };
        let stats = trace
            .layers
            .iter()
            .map(|(_, t)| LayerStats::of(t))
            .collect();
        self.clock += 1;
        self.cache.push(Cached {
            step: Step { trace, stats },
            before,
            after,
            used: self.clock,
        });
    }

    /// The trace `run` just computed: the cache's newest entry when kept.
    fn last_trace(&self, kept: bool) -> &StepTrace {
        match self.cache.last() {
            Some(c) if kept => &c.step.trace,
            _ => &self.workspace.trace,
        }
    }

    /// Take out of the cache the entry of step `s`, or the least recently used one when
    /// the cache is full.
    fn make_room(&mut self, s: usize) -> Option<Cached> {
        if let Some(i) = self.cache.iter().position(|c| c.step.trace.step == s) {
            return Some(self.cache.swap_remove(i));
        }
        if self.cache.len() < self.cache_capacity.max(1) {
            return None;
        }
        let oldest = (0..self.cache.len()).min_by_key(|&i| self.cache[i].used)?;
        Some(self.cache.swap_remove(oldest))
    }

    /// Make step `step` available (within the limits): compute the steps up to it the first
    /// time, or recompute it from the checkpoint before it when it is no longer cached.
    /// Afterwards [`Timeline::step`] returns it and [`Timeline::model`] gives exact parameters
    /// for `step` and `step + 1`. Returns whether it is available.
    pub fn ensure(&mut self, step: usize) -> bool {
        if step >= self.max_steps {
            return false;
        }
        if let Some(i) = self.cache.iter().position(|c| c.step.trace.step == step) {
            self.clock += 1;
            self.cache[i].used = self.clock;
            return true;
        }
        // Keep the traces of the last few steps run, so that stepping back is instant.
        let keep_from = step.saturating_sub(self.cache_capacity.saturating_sub(1) / 2);
        if step >= self.computed {
            let mut model = self.frontier.clone();
            for s in self.computed..=step {
                self.checkpoint(s, &model);
                let keep = s >= keep_from;
                self.run(&mut model, s, keep);
                let trace = self.last_trace(keep);
                let loss = trace.loss;
                // A kept step's statistics already say whether a layer holds a non-finite
                // value: the cell is looked for only then.
                let known_finite = keep
                    && loss.is_finite()
                    && crate::anomaly::all_finite(&trace.output.view())
                    && crate::anomaly::all_finite(&trace.loss_grad.view())
                    && self
                        .cache
                        .last()
                        .is_some_and(|c| c.step.stats.iter().all(|stats| !stats.non_finite));
                let anomaly = (self.first_anomaly.is_none() && !known_finite)
                    .then(|| first_anomaly_in_step(trace));
                self.losses.push(loss);
                if let Some(anomaly) = anomaly {
                    self.first_anomaly = anomaly;
                }
            }
            self.frontier = model;
            self.computed = step + 1;
        } else {
            let c = step / self.interval;
            let mut model = self.first.clone();
            set_parameters(&mut model, &self.checkpoints[c]);
            for s in c * self.interval..=step {
                let keep = s >= keep_from && self.cached(s).is_none() || s == step;
                self.run(&mut model, s, keep);
            }
        }
        true
    }

    /// The first NaN or infinity among the steps computed so far, in the order the
    /// computation produces them (see `anomaly`).
    pub fn first_anomaly(&self) -> Option<&Anomaly> {
        self.first_anomaly.as_ref()
    }

    pub fn layer_count(&self) -> usize {
        self.layers
    }

    pub fn events(&self) -> &[Event] {
        &self.events
    }

    pub fn events_per_step(&self) -> usize {
        self.events.len()
    }

    pub fn event(&self, pos: Position) -> Event {
        self.events[pos.event.min(self.events.len() - 1)]
    }

    /// Index of an event within a step.
    pub fn event_index(&self, event: Event) -> usize {
        let l = self.layers;
        match event {
            Event::Forward(i) => i,
            Event::Loss => l,
            Event::Backward(i) => 2 * l - i,
            Event::Update => 2 * l + 1,
        }
    }

    pub fn planned_steps(&self) -> usize {
        self.planned
    }

    pub fn computed_steps(&self) -> usize {
        self.computed
    }

    pub fn max_steps(&self) -> usize {
        self.max_steps
    }

    pub fn numbers_per_step(&self) -> usize {
        self.numbers_per_step
    }

    /// Run `more` training steps beyond the planned ones. Returns how many were added,
    /// or the limit that stopped it from adding any.
    pub fn extend(&mut self, more: usize) -> Result<usize, Limit> {
        let target = self.planned.saturating_add(more).min(self.max_steps);
        if target <= self.planned {
            return Err(if self.max_steps == MAX_STEPS {
                Limit::Steps(MAX_STEPS)
            } else {
                Limit::Memory {
                    steps: self.max_steps,
                    numbers: self.numbers_per_step,
                }
            });
        }
        let added = target - self.planned;
        self.planned = target;
        Ok(added)
    }

    /// Step `s`, if it is in the cache: always after [`Timeline::ensure`]`(s)`, until other
    /// steps push it out.
    pub fn step(&self, s: usize) -> Option<&Step> {
        self.cached(s).map(|c| &c.step)
    }

    /// The model whose parameters step `s` uses; `s = computed_steps()` is the latest model.
    /// Exact for step 0, the latest model, and `s` and `s + 1` after `ensure(s)`; for any
    /// other step it is the first model, which has the same layers, loss and learning rate
    /// but not that step's parameters.
    pub fn model(&self, s: usize) -> &Model {
        if s == 0 {
            return &self.first;
        }
        if s >= self.computed {
            return &self.frontier;
        }
        if let Some(c) = self.cached(s) {
            return &c.before;
        }
        if let Some(c) = self.cached(s - 1) {
            return &c.after;
        }
        &self.first
    }

    pub fn start(&self) -> Position {
        Position::default()
    }

    pub fn end(&self) -> Position {
        Position {
            step: self.planned - 1,
            event: self.events.len() - 1,
        }
    }

    /// The next event, or None at the end of the planned steps.
    pub fn next(&self, pos: Position) -> Option<Position> {
        if pos.event + 1 < self.events.len() {
            Some(Position {
                step: pos.step,
                event: pos.event + 1,
            })
        } else if pos.step + 1 < self.planned {
            Some(Position {
                step: pos.step + 1,
                event: 0,
            })
        } else {
            None
        }
    }

    /// The previous event, or None at the very start.
    pub fn prev(&self, pos: Position) -> Option<Position> {
        if pos.event > 0 {
            Some(Position {
                step: pos.step,
                event: pos.event - 1,
            })
        } else if pos.step > 0 {
            Some(Position {
                step: pos.step - 1,
                event: self.events.len() - 1,
            })
        } else {
            None
        }
    }

    /// The same event of the next training step, or None in the last planned step.
    pub fn next_step(&self, pos: Position) -> Option<Position> {
        (pos.step + 1 < self.planned).then_some(Position {
            step: pos.step + 1,
            event: pos.event,
        })
    }

    /// The same event of the previous training step, or None in step 0.
    pub fn prev_step(&self, pos: Position) -> Option<Position> {
        (pos.step > 0).then(|| Position {
            step: pos.step - 1,
            event: pos.event,
        })
    }

    /// What is known about layer `layer` at `pos`.
    pub fn stage(&self, pos: Position, layer: usize) -> Stage {
        let e = pos.event;
        let l = self.layers;
        Stage {
            input: e + 1 >= layer,
            forward: e >= layer,
            delta_out: e >= 2 * l - layer - 1,
            backward: e >= 2 * l - layer,
            updated: e > 2 * l,
        }
    }

    /// Whether the loss (and ∂L/∂y) is known at `pos`.
    pub fn loss_known(&self, pos: Position) -> bool {
        pos.event >= self.layers
    }

    /// Losses of every step whose loss is known at `pos`, in step order.
    pub fn losses_until(&self, pos: Position) -> Vec<f64> {
        let upto = if self.loss_known(pos) {
            pos.step + 1
        } else {
            pos.step
        };
        self.losses.iter().take(upto).copied().collect()
    }
}

/// What has been computed for one layer at a position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stage {
    /// The layer's input is known (the previous layer ran forward).
    pub input: bool,
    /// The layer ran forward.
    pub forward: bool,
    /// The δ arriving at the layer's output is known.
    pub delta_out: bool,
    /// The layer ran backward: its δ maps and gradients are known.
    pub backward: bool,
    /// The update of this step has been applied.
    pub updated: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::default_scenario;

    fn timeline() -> Timeline {
        let s = default_scenario();
        Timeline::new(s.model, s.steps)
    }

    #[test]
    fn events_are_forward_loss_backward_update() {
        assert_eq!(
            events(2),
            vec![
                Event::Forward(0),
                Event::Forward(1),
                Event::Loss,
                Event::Backward(1),
                Event::Backward(0),
                Event::Update
            ]
        );
        let t = timeline();
        for (i, &e) in t.events().iter().enumerate() {
            assert_eq!(t.event_index(e), i);
        }
    }

    #[test]
    fn next_and_prev_walk_every_event_and_back_to_the_start() {
        let mut t = timeline();
        let mut pos = t.start();
        let mut walked = vec![pos];
        while let Some(next) = t.next(pos) {
            assert!(t.ensure(next.step));
            pos = next;
            walked.push(pos);
        }
        assert_eq!(pos, t.end());
        assert_eq!(walked.len(), t.planned_steps() * t.events_per_step());
        while let Some(prev) = t.prev(pos) {
            assert_eq!(walked.pop(), Some(pos));
            pos = prev;
        }
        assert_eq!(pos, t.start());
    }

    #[test]
    fn steps_match_running_the_model_directly() {
        let s = default_scenario();
        let mut t = Timeline::new(s.model.clone(), s.steps);
        assert!(t.ensure(s.steps - 1));
        let mut model = s.model.clone();
        for step in 0..s.steps {
            let trace = model.train_step(step);
            assert_eq!(t.step(step).unwrap().trace, trace);
            assert_eq!(t.model(step + 1), &model);
        }
    }

    #[test]
    fn evicted_steps_are_recomputed_bit_for_bit_from_checkpoints() {
        let s = default_scenario();
        let n = 100;
        let mut t = Timeline::with_limits(s.model.clone(), n, Some(4), Some(2));
        assert!(t.ensure(n - 1));
        assert!(
            t.checkpoint_interval() >= n / 4,
            "the checkpoints were thinned out"
        );
        assert!(t.checkpoints.len() <= 4);
        let mut model = s.model.clone();
        let mut traces = Vec::new();
        let mut models = vec![model.clone()];
        for step in 0..n {
            traces.push(model.train_step(step));
            models.push(model.clone());
        }
        assert_eq!(
            t.losses_until(t.end()),
            traces.iter().map(|t| t.loss).collect::<Vec<_>>()
        );
        // Jump around: far back, forward, one step back at a time.
        let mut order: Vec<usize> = vec![0, 57, 3, 99, 98, 97, 31, 32, 64, 63, 1];
        order.extend((40..50).rev());
        for step in order {
            assert!(t.ensure(step));
            assert_eq!(t.step(step).unwrap().trace, traces[step], "step {step}");
            assert_eq!(t.model(step), &models[step], "model before step {step}");
            assert_eq!(
                t.model(step + 1),
                &models[step + 1],
                "model after step {step}"
            );
            assert!(t.cache.len() <= 2);
        }
        assert_eq!(t.computed_steps(), n);
        assert_eq!(t.model(n), &models[n]);
    }

    /// Cached entries are recycled (an evicted trace becomes the workspace's, its models
    /// take new parameters in place): on a network large enough for the fastest kernel path
    /// this CPU has (which path does not matter here: both runs take the same one), and on one
    /// that diverges, every step still equals a fresh run, and the first anomaly is the one a
    /// scan of every trace finds.
    #[test]
    fn recycled_cache_entries_hold_exactly_the_steps_computed_afresh() {
        for json in [
            include_str!("../scenarios/bench/digits.json"),
            include_str!("../scenarios/diverging.json"),
        ] {
            let s = crate::scenario::parse(json).unwrap();
            let n = 12;
            let mut t = Timeline::with_limits(s.model.clone(), n, Some(3), Some(2));
            let mut model = s.model.clone();
            let mut models = vec![model.clone()];
            let traces: Vec<StepTrace> = (0..n)
                .map(|k| {
                    let trace = model.train_step(k);
                    models.push(model.clone());
                    trace
                })
                .collect();
            for step in (0..n).chain([3, 0, 11, 7, 8]) {
                assert!(t.ensure(step));
                let got = &t.step(step).unwrap().trace;
                let same = |a: &ndarray::ArrayD<f64>, b: &ndarray::ArrayD<f64>| {
                    a.shape() == b.shape()
                        && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
                };
                assert_eq!(got.layers.len(), traces[step].layers.len());
                for ((name, mine), (_, fresh)) in got.layers.iter().zip(&traces[step].layers) {
                    for ((tensor, a), (_, b)) in mine.tensors().iter().zip(fresh.tensors()) {
                        assert!(
                            same(&a.to_owned(), &b.to_owned()),
                            "step {step} {name}.{tensor}"
                        );
                    }
                }
                assert_eq!(
                    got.loss.to_bits(),
                    traces[step].loss.to_bits(),
                    "step {step}"
                );
                // Bit for bit: a diverged model's NaN parameters never compare equal.
                let bits =
                    |m: &Model| -> Vec<u64> { parameters(m).iter().map(|v| v.to_bits()).collect() };
                assert_eq!(bits(t.model(step)), bits(&models[step]), "before {step}");
                assert_eq!(
                    bits(t.model(step + 1)),
                    bits(&models[step + 1]),
                    "after {step}"
                );
            }
            assert_eq!(
                t.first_anomaly(),
                crate::anomaly::first_anomaly(&traces).as_ref()
            );
        }
    }

    #[test]
    fn norms_of_huge_finite_values_are_finite() {
        let norm = |v: &[f64]| euclidean_norm(|| v.iter().copied());
        assert_eq!(norm(&[3.0, 4.0]), 5.0);
        assert!((norm(&[3e200, -4e200]) / 5e200 - 1.0).abs() < 1e-15);
        assert_eq!(norm(&[0.0, -0.0]), 0.0);
        assert_eq!(norm(&[]), 0.0);
        assert_eq!(norm(&[1.0, f64::NEG_INFINITY]), f64::INFINITY);
        assert!(norm(&[f64::INFINITY, f64::NAN]).is_nan());
        assert!(norm(&[f64::NAN, 1.0]).is_nan());
    }

    #[test]
    fn stage_reveals_deltas_only_once_backward_reaches_a_layer() {
        let t = timeline();
        let l = t.layer_count();
        let last = l - 1;
        let at = |e| Position { step: 0, event: e };
        assert!(t.stage(at(0), 0).forward);
        assert!(!t.stage(at(0), 1).forward);
        assert!(!t.stage(at(l), last).backward);
        assert!(t.stage(at(l), last).delta_out, "∂L/∂y is known at the loss");
        assert!(t.stage(at(l + 1), last).backward);
        assert!(!t.stage(at(l + 1), 0).backward);
        assert!(t.stage(at(2 * l), 0).backward);
        assert!(!t.stage(at(2 * l), 0).updated);
        assert!(t.stage(at(2 * l + 1), 0).updated);
    }

    #[test]
    fn extend_runs_more_steps_than_planned() {
        let mut t = timeline();
        let planned = t.planned_steps();
        assert_eq!(t.extend(2), Ok(2));
        assert_eq!(t.planned_steps(), planned + 2);
        assert!(t.ensure(planned + 1));
        assert_eq!(t.end().step, planned + 1);
        assert!(t.losses_until(t.end()).len() == planned + 2);
    }

    #[test]
    fn losses_appear_at_the_loss_event() {
        let t = timeline();
        assert!(t.losses_until(t.start()).is_empty());
        let at_loss = Position {
            step: 0,
            event: t.layer_count(),
        };
        assert_eq!(t.losses_until(at_loss), vec![t.step(0).unwrap().trace.loss]);
    }

    #[test]
    fn stats_flag_dead_and_non_finite_layers() {
        let t = timeline();
        let step = t.step(0).unwrap();
        assert_eq!(step.stats.len(), t.layer_count());
        assert!(step.stats.iter().all(|s| !s.non_finite));
        let mut trace = step.trace.layers[0].1.clone();
        if let LayerTrace::Conv(c) = &mut trace {
            c.delta_z.fill(0.0);
            c.z[[0, 0, 0]] = f64::NAN;
        }
        let stats = LayerStats::of(&trace);
        assert!(stats.dead && stats.non_finite);
        let mut trace = step.trace.layers[0].1.clone();
        if let LayerTrace::Conv(c) = &mut trace {
            c.delta_z.index_axis_mut(ndarray::Axis(0), 1).fill(0.0);
            c.delta_z[[0, 0, 0]] = 1.0;
        }
        assert_eq!(LayerStats::of(&trace).dead_maps, vec![1]);
    }
}
