//! The session as a debugger's timeline: per training step, the forward pass through each
//! layer in order, the loss, the backward pass through each layer in reverse order, and the
//! weight update. A position is (step, event index). Steps are computed on demand and kept,
//! so stepping back is exact and instant.
//!
//! Memory is bounded: the timeline keeps at most [`MAX_STEPS`] steps and stops earlier when the
//! kept traces and parameters would exceed [`MEMORY_BUDGET_NUMBERS`] numbers (a later version
//! keeps checkpoints instead of every step).

use crate::engine::{LayerKind, LayerTrace, Model, StepTrace};

/// Most training steps one session keeps.
pub const MAX_STEPS: usize = 10_000;
/// Most numbers (f64) the kept traces and parameters may hold together: 32 million (256 MB).
pub const MEMORY_BUDGET_NUMBERS: usize = 32_000_000;
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

impl LayerStats {
    pub fn of(trace: &LayerTrace) -> Self {
        let norm = |it: &mut dyn Iterator<Item = &f64>| it.map(|v| v * v).sum::<f64>().sqrt();
        let non_finite = trace
            .tensors()
            .iter()
            .any(|(_, t)| t.iter().any(|v| !v.is_finite()));
        let (grad_norm, delta_input_norm, dead) = match trace {
            LayerTrace::Conv(t) => (
                norm(&mut t.grad_weights.iter().chain(t.grad_bias.iter())),
                norm(&mut t.delta_input.iter()),
                t.delta_z.iter().all(|&v| v == 0.0),
            ),
            LayerTrace::Dense(t) => (
                norm(&mut t.grad_weights.iter().chain(t.grad_bias.iter())),
                norm(&mut t.delta_input.iter()),
                t.delta_z.iter().all(|&v| v == 0.0),
            ),
            LayerTrace::Pool(t) => {
                let n = norm(&mut t.delta_input.iter());
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

#[derive(Clone, Debug)]
pub struct Timeline {
    /// models[s]: the parameters used by step s; models[s + 1] is the model after its update.
    models: Vec<Model>,
    steps: Vec<Step>,
    /// How many steps the session runs: the scenario's steps, plus any the user added.
    planned: usize,
    layers: usize,
    events: Vec<Event>,
    numbers_per_step: usize,
    max_steps: usize,
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

impl Timeline {
    /// A timeline of `planned` steps (at least 1) starting from `model`. Computes step 0.
    pub fn new(model: Model, planned: usize) -> Self {
        let layers = model.layers.len();
        let mut timeline = Timeline {
            models: vec![model],
            steps: Vec::new(),
            planned: planned.max(1),
            layers,
            events: events(layers),
            numbers_per_step: 0,
            max_steps: MAX_STEPS,
        };
        timeline.compute_next();
        timeline.numbers_per_step =
            trace_numbers(&timeline.steps[0].trace) + model_numbers(&timeline.models[0]);
        timeline.max_steps =
            (MEMORY_BUDGET_NUMBERS / timeline.numbers_per_step.max(1)).clamp(1, MAX_STEPS);
        timeline.planned = timeline.planned.min(timeline.max_steps);
        timeline
    }

    fn compute_next(&mut self) {
        let s = self.steps.len();
        let mut model = self.models[s].clone();
        let trace = model.trace(s);
        model.apply_update(&trace);
        let stats = trace
            .layers
            .iter()
            .map(|(_, t)| LayerStats::of(t))
            .collect();
        self.models.push(model);
        self.steps.push(Step { trace, stats });
    }

    /// Compute steps up to and including `step` (within the limits). Returns whether it is available.
    pub fn ensure(&mut self, step: usize) -> bool {
        while self.steps.len() <= step && self.steps.len() < self.max_steps {
            self.compute_next();
        }
        step < self.steps.len()
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
        self.steps.len()
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

    /// The computed step `s`, if it has been computed.
    pub fn step(&self, s: usize) -> Option<&Step> {
        self.steps.get(s)
    }

    /// The model whose parameters step `s` used (models[s]); `s = computed` is the latest model.
    pub fn model(&self, s: usize) -> &Model {
        &self.models[s.min(self.models.len() - 1)]
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
        self.steps.iter().take(upto).map(|s| s.trace.loss).collect()
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
