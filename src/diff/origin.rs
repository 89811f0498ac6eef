//! Where a mistake is made. Each tensor of the user's that differs is recomputed from
//! their own inputs with the engine's pieces: the first one that is wrong given its own
//! inputs is where the mistake is made; one that is right given its (wrong) inputs only
//! follows from an earlier mistake; one whose inputs the file does not hold can't tell.

use std::collections::HashMap;

use ndarray::{ArrayD, IxDyn};

use crate::engine::pool::PoolForward;
use crate::engine::{Conv, Dense, LayerKind, LayerTrace, Model, PoolKind, StepTrace};
use crate::engine::{TensorName as N, trace::ConvTrace, trace::DenseTrace};

use super::CellMismatch;

/// A tensor of the computation: step, layer (None: the loss node), name.
pub type Key = (usize, Option<usize>, N);

/// What a tensor is computed from, by the engine's rules.
enum Source {
    /// Fixed by the scenario: the network input, the initial parameters.
    Scenario,
    /// Another layer's tensor passed on as it is (flattened or reshaped): a layer's input is
    /// the previous layer's output; the δ a layer receives is the next one's δ_input, or
    /// ∂L/∂y for the last layer.
    Passed(Key),
    /// Computed from these.
    Computed(Vec<Key>),
}

fn output_name(kind: &LayerKind) -> N {
    match kind {
        LayerKind::Pool(_) => N::Output,
        _ => N::A,
    }
}

fn source(model: &Model, (step, layer, tensor): Key) -> Source {
    let last = model.layers.len() - 1;
    let Some(l) = layer else {
        // The loss and ∂L/∂y, from the network's output y (the target is the scenario's).
        return Source::Computed(vec![(
            step,
            Some(last),
            output_name(&model.layers[last].kind),
        )]);
    };
    let this = |t| (step, Some(l), t);
    let before = |t| (step - 1, Some(l), t);
    let computed = |ts: &[N]| Source::Computed(ts.iter().map(|&t| this(t)).collect());
    match tensor {
        N::Input if l == 0 => Source::Scenario,
        N::Input => Source::Passed((step, Some(l - 1), output_name(&model.layers[l - 1].kind))),
        N::Weights | N::Bias if step == 0 => Source::Scenario,
        N::Weights => Source::Computed(vec![before(N::Weights), before(N::GradWeights)]),
        N::Bias => Source::Computed(vec![before(N::Bias), before(N::GradBias)]),
        N::DeltaA | N::DeltaOutput if l == last => Source::Passed((step, None, N::LossGrad)),
        N::DeltaA | N::DeltaOutput => Source::Passed((step, Some(l + 1), N::DeltaInput)),
        N::Z => computed(&[N::Input, N::Weights, N::Bias]),
        N::A => computed(&[N::Z]),
        N::Output | N::Argmax => computed(&[N::Input]),
        N::DeltaZ => computed(&[N::DeltaA, N::Z]),
        N::GradWeights => computed(&[N::Input, N::DeltaZ]),
        N::GradBias => computed(&[N::DeltaZ]),
        N::DeltaInput => match &model.layers[l].kind {
            LayerKind::Conv(_) | LayerKind::Dense(_) => computed(&[N::DeltaZ, N::Weights]),
            LayerKind::Pool(p) => match p.kind {
                PoolKind::Mean => computed(&[N::DeltaOutput]),
                PoolKind::Max => computed(&[N::DeltaOutput, N::Argmax]),
                PoolKind::L2 => computed(&[N::DeltaOutput, N::Input]),
            },
        },
        // Not tensors a trace gives.
        N::Loss | N::LossGrad | N::Target | N::Mask | N::WeightsNext | N::BiasNext => {
            Source::Computed(Vec::new())
        }
    }
}

/// Where an input of a recomputation comes from.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Found {
    /// The user's file holds it (this tensor, or the one passed on as it).
    Yours(Key),
    /// The scenario fixes it.
    Scenario(Key),
    /// Neither: the reference stands in for it, and nothing can be proven.
    Missing(Key),
}

/// The user's tensors by key; max-pool switches that are no cell of their input plane are
/// left out (they could route δ nowhere).
pub struct Given<'a> {
    tensors: HashMap<Key, &'a ArrayD<f64>>,
}

impl<'a> Given<'a> {
    /// `shapes` is a trace of any step, for the shapes of the pool inputs (None: no
    /// tensors).
    pub fn new(
        shapes: Option<&StepTrace>,
        tensors: impl IntoIterator<Item = (Key, &'a ArrayD<f64>)>,
    ) -> Self {
        let tensors = tensors
            .into_iter()
            .filter(|((_, layer, tensor), values)| {
                *tensor != N::Argmax
                    || layer
                        .zip(shapes)
                        .is_some_and(|(l, s)| usable_switches(s, l, values))
            })
            .collect();
        Given { tensors }
    }

    fn get(&self, key: Key) -> Option<&'a ArrayD<f64>> {
        self.tensors.get(&key).copied()
    }

    fn has(&self, key: Key) -> bool {
        self.tensors.contains_key(&key)
    }
}

/// Whether every switch is the flat index of a cell of the pool's input plane.
fn usable_switches(shapes: &StepTrace, layer: usize, values: &ArrayD<f64>) -> bool {
    let input = shapes.layers[layer]
        .1
        .tensor(N::Input)
        .expect("a pool has an input");
    let plane = [input.shape()[1], input.shape()[2]];
    values
        .iter()
        .all(|&v| super::compare::decode_switch(v, plane).is_some())
}

fn find(model: &Model, given: &Given, key: Key) -> Found {
    if given.has(key) {
        return Found::Yours(key);
    }
    match source(model, key) {
        Source::Scenario => Found::Scenario(key),
        Source::Passed(from) => match find(model, given, from) {
            Found::Missing(_) => Found::Missing(key),
            found => found,
        },
        // Switches follow from the input by PyTorch's rule: the user's input stands for them.
        Source::Computed(_) if key.2 == N::Argmax => {
            match find(model, given, (key.0, key.1, N::Input)) {
                Found::Yours(input) => Found::Yours(input),
                _ => Found::Missing(key),
            }
        }
        Source::Computed(_) => Found::Missing(key),
    }
}

/// The step as the user's file gives it: their tensors where it holds them (also at the
/// other end of what one layer passes to the next), max-pool switches from their input
/// where they gave no switches, the reference's everywhere else.
pub fn view(model: &Model, reference: &StepTrace, given: &Given) -> StepTrace {
    let step = reference.step;
    let mut v = reference.clone();
    for (&(s, layer, tensor), values) in &given.tensors {
        if s == step {
            set(&mut v, layer, tensor, values);
        }
    }
    for l in 0..model.layers.len() {
        for tensor in [N::Input, N::DeltaA, N::DeltaOutput] {
            if v.layers[l].1.tensor(tensor).is_none() || given.has((step, Some(l), tensor)) {
                continue;
            }
            if let Source::Passed(from) = source(model, (step, Some(l), tensor))
                && let Some(values) = given.get(from)
            {
                set(&mut v, Some(l), tensor, values);
            }
        }
        if let (LayerKind::Pool(pool), LayerTrace::Pool(t)) =
            (&model.layers[l].kind, &mut v.layers[l].1)
            && pool.kind == PoolKind::Max
            && !given.has((step, Some(l), N::Argmax))
            && matches!(
                find(model, given, (step, Some(l), N::Input)),
                Found::Yours(_)
            )
        {
            t.argmax = pool.forward(&t.input).argmax;
        }
    }
    let (_, last) = v.layers.last().expect("a network has layers");
    v.output = last
        .tensor(last.output_name())
        .expect("every layer has an output")
        .to_owned();
    v
}

/// Writes a user's tensor into the view, in row-major order (a dense layer's input is the
/// previous map flattened, and its δ_input that map's δ).
fn set(v: &mut StepTrace, layer: Option<usize>, tensor: N, values: &ArrayD<f64>) {
    let copy = |mut into: ndarray::ArrayViewMutD<'_, f64>| {
        for (x, &y) in into.iter_mut().zip(values.iter()) {
            *x = y;
        }
    };
    match (layer, tensor) {
        (None, N::Loss) => v.loss = values.iter().next().copied().unwrap_or(f64::NAN),
        (None, N::LossGrad) => copy(v.loss_grad.view_mut()),
        (Some(l), N::Argmax) => {
            if let LayerTrace::Pool(t) = &mut v.layers[l].1
                && let Some(argmax) = &mut t.argmax
            {
                for (x, &y) in argmax.iter_mut().zip(values.iter()) {
                    *x = y as usize;
                }
            }
        }
        (Some(l), _) => {
            if let Some(into) = v.layers[l].1.tensor_mut(tensor) {
                copy(into);
            }
        }
        (None, _) => {}
    }
}

fn reshaped(values: ndarray::ArrayViewD<'_, f64>, shape: &[usize]) -> ArrayD<f64> {
    ArrayD::from_shape_vec(IxDyn(shape), values.iter().copied().collect())
        .expect("the same number of cells")
}

/// The tensor as a correct computation gives it from the inputs in the view `v` (and, for
/// the parameters after an update, the view of the step before).
pub fn recompute(
    model: &Model,
    v: &StepTrace,
    previous: Option<&StepTrace>,
    layer: Option<usize>,
    tensor: N,
) -> ArrayD<f64> {
    let Some(l) = layer else {
        let (loss, grad) = model.loss.value_and_grad(&v.output);
        return match tensor {
            N::Loss => ArrayD::from_elem(IxDyn(&[]), loss),
            _ => grad,
        };
    };
    let t = &v.layers[l].1;
    let shape = |name| {
        t.tensor(name)
            .expect("a tensor of this layer")
            .shape()
            .to_vec()
    };
    match tensor {
        N::Input if l == 0 => return reshaped(model.input.view().into_dyn(), &shape(tensor)),
        N::Input => {
            let before = &v.layers[l - 1].1;
            let out = before.tensor(before.output_name()).expect("an output");
            return reshaped(out, &shape(tensor));
        }
        N::DeltaA | N::DeltaOutput => {
            let delta = match v.layers.get(l + 1) {
                Some((_, next)) => next.tensor(N::DeltaInput).expect("a δ_input"),
                None => v.loss_grad.view(),
            };
            return reshaped(delta, &shape(tensor));
        }
        N::Weights | N::Bias => {
            let Some(previous) = previous else {
                return model_parameter(&model.layers[l].kind, tensor);
            };
            let p = &previous.layers[l].1;
            let grad = if tensor == N::Weights {
                N::GradWeights
            } else {
                N::GradBias
            };
            let (w, g) = (
                p.tensor(tensor).expect("parameters"),
                p.tensor(grad).expect("gradients"),
            );
            return super::mistakes::updated(&w, &g, model.learning_rate);
        }
        N::A | N::DeltaZ => {
            let activation = match &model.layers[l].kind {
                LayerKind::Conv(c) => c.activation,
                LayerKind::Dense(d) => d.activation,
                LayerKind::Pool(_) => unreachable!("a pool has no activation"),
            };
            let z = t.tensor(N::Z).expect("a z");
            let a = z.mapv(|z| activation.apply(z));
            if tensor == N::A {
                return a;
            }
            let delta_a = t.tensor(N::DeltaA).expect("a δa");
            return ndarray::Zip::from(&z)
                .and(&a)
                .and(&delta_a)
                .map_collect(|&z, &a, &d| activation.delta_z(z, a, d));
        }
        _ => {}
    }
    match (&model.layers[l].kind, t) {
        (LayerKind::Conv(conv), LayerTrace::Conv(t)) => conv_tensor(conv, t, tensor),
        (LayerKind::Dense(dense), LayerTrace::Dense(t)) => dense_tensor(dense, t, tensor),
        (LayerKind::Pool(pool), LayerTrace::Pool(t)) => {
            let fwd = pool.forward(&t.input);
            match tensor {
                N::Output => fwd.output.into_dyn(),
                N::Argmax => fwd
                    .argmax
                    .expect("only max pooling has switches")
                    .mapv(|i| i as f64)
                    .into_dyn(),
                _ => {
                    let fwd = PoolForward {
                        output: fwd.output,
                        argmax: t.argmax.clone(),
                    };
                    pool.backward(&t.input, &fwd, &t.delta_output).into_dyn()
                }
            }
        }
        _ => unreachable!("a layer's trace has its kind"),
    }
}

fn model_parameter(kind: &LayerKind, tensor: N) -> ArrayD<f64> {
    match (kind, tensor) {
        (LayerKind::Conv(c), N::Weights) => c.weights.clone().into_dyn(),
        (LayerKind::Conv(c), _) => c.bias.clone().into_dyn(),
        (LayerKind::Dense(d), N::Weights) => d.weights.clone().into_dyn(),
        (LayerKind::Dense(d), _) => d.bias.clone().into_dyn(),
        (LayerKind::Pool(_), _) => unreachable!("a pool has no parameters"),
    }
}

fn conv_tensor(conv: &Conv, t: &ConvTrace, tensor: N) -> ArrayD<f64> {
    let layer = Conv {
        weights: t.weights.clone(),
        bias: t.bias.clone(),
        ..conv.clone()
    };
    match tensor {
        N::Z => layer.forward(&t.input).z.into_dyn(),
        _ => {
            let back = layer.backward_from_delta_z(&t.input, &t.delta_z);
            match tensor {
                N::GradWeights => back.grad_weights.into_dyn(),
                N::GradBias => back.grad_bias.into_dyn(),
                _ => back.delta_input.into_dyn(),
            }
        }
    }
}

fn dense_tensor(dense: &Dense, t: &DenseTrace, tensor: N) -> ArrayD<f64> {
    let layer = Dense {
        weights: t.weights.clone(),
        bias: t.bias.clone(),
        ..dense.clone()
    };
    match tensor {
        N::Z => layer.forward(&t.input).z.into_dyn(),
        _ => {
            let back = layer.backward_from_delta_z(&t.input, &t.delta_z);
            match tensor {
                N::GradWeights => back.grad_weights.into_dyn(),
                N::GradBias => back.grad_bias.into_dyn(),
                _ => back.delta_input.into_dyn(),
            }
        }
    }
}

/// What the recomputation from the user's own inputs says about a tensor that differs.
#[derive(Clone, Debug, PartialEq)]
pub struct Cause {
    /// Where the tensor is computed: "pool1's backward pass".
    pub place: String,
    /// What it is computed from, as the recomputation found them.
    pub inputs: Vec<(Whose, String)>,
    pub verdict: Verdict,
}

/// Whose an input of a recomputation is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Whose {
    /// The user's file holds it.
    Yours,
    /// The scenario fixes it.
    Scenario,
    /// Not in the user's file.
    Missing,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// Recomputed from the user's own inputs it comes out as theirs: it differs only
    /// because an input does.
    Follows,
    /// Recomputed from the user's own inputs it does not: a mistake is made here. The first
    /// cell where theirs differs from the recomputation.
    MadeHere(CellMismatch),
    /// The file does not hold these inputs (what to add, by name).
    Unknown(Vec<String>),
}

/// The cause of a difference in the tensor `key`, given what `correct` (the recomputation
/// from the view) gives.
pub fn cause(
    model: &Model,
    given: &Given,
    key: Key,
    yours: &ArrayD<f64>,
    correct: &ArrayD<f64>,
    tolerance: f64,
) -> Cause {
    let inputs = match source(model, key) {
        Source::Scenario => Vec::new(),
        Source::Passed(from) => vec![from],
        Source::Computed(keys) => keys,
    };
    let found: Vec<Found> = inputs.iter().map(|&k| find(model, given, k)).collect();
    let missing: Vec<String> = found
        .iter()
        .filter_map(|f| match *f {
            Found::Missing(k) => Some(what_to_add(model, k, key.0)),
            _ => None,
        })
        .collect();
    let verdict = if !missing.is_empty() {
        Verdict::Unknown(missing)
    } else {
        match super::first_mismatch(yours, correct, tolerance) {
            Some(cell) => Verdict::MadeHere(cell),
            None => Verdict::Follows,
        }
    };
    Cause {
        place: place(model, key),
        inputs: found
            .iter()
            .map(|f| match *f {
                Found::Yours(k) => (Whose::Yours, label(model, k, key.0)),
                Found::Scenario((_, Some(0), N::Input)) => (Whose::Scenario, "input".to_string()),
                Found::Scenario(k) => (Whose::Scenario, label(model, k, key.0)),
                Found::Missing(k) => (Whose::Missing, label(model, k, key.0)),
            })
            .collect(),
        verdict,
    }
}

/// "pool1.delta_output", or "conv1.weights of step 0" when seen from another step.
pub fn label(model: &Model, (s, layer, tensor): Key, seen_from: usize) -> String {
    let name = match layer {
        Some(l) => format!("{}.{tensor}", model.layers[l].name),
        None => tensor.to_string(),
    };
    if s == seen_from {
        name
    } else {
        format!("{name} of step {s}")
    }
}

/// A missing input by name, with the tensor that stands for it where there is one.
fn what_to_add(model: &Model, key: Key, seen_from: usize) -> String {
    let name = label(model, key, seen_from);
    match source(model, key) {
        Source::Passed(from) => format!("{name} (or {})", label(model, from, seen_from)),
        Source::Computed(_) if key.2 == N::Argmax => {
            format!(
                "{name} (or {})",
                label(model, (key.0, key.1, N::Input), seen_from)
            )
        }
        _ => name,
    }
}

/// Where a tensor is computed, in the words of the report.
pub fn place(model: &Model, key: Key) -> String {
    let (step, layer, tensor) = key;
    let Some(l) = layer else {
        return "the loss".into();
    };
    let name = &model.layers[l].name;
    match source(model, key) {
        Source::Scenario if tensor == N::Input => "the network input".into(),
        Source::Scenario => format!("{name}'s initial parameters"),
        Source::Passed((_, Some(from), _)) if tensor == N::Input => {
            format!("passing {}'s output to {name}", model.layers[from].name)
        }
        Source::Passed((_, Some(from), _)) => {
            format!("passing δ from {} back to {name}", model.layers[from].name)
        }
        Source::Passed((_, None, _)) => format!("passing ∂L/∂y to {name}"),
        Source::Computed(_) if matches!(tensor, N::Weights | N::Bias) => {
            format!("{name}'s update after step {}", step - 1)
        }
        Source::Computed(_) if tensor.is_backward() => format!("{name}'s backward pass"),
        Source::Computed(_) => format!("{name}'s forward pass"),
    }
}

/// The inputs as the report names them: "your conv2.delta_z and conv2.weights", "conv1.delta_z
/// and the scenario's conv1.weights".
pub fn name_inputs(inputs: &[(Whose, String)]) -> String {
    let of = |whose: Whose| -> Vec<String> {
        (inputs.iter())
            .filter(|(w, _)| *w == whose)
            .map(|(_, name)| name.clone())
            .collect()
    };
    let mut parts = Vec::new();
    let missing = of(Whose::Missing);
    if !missing.is_empty() {
        parts.push(super::join(&missing));
    }
    let yours = of(Whose::Yours);
    if !yours.is_empty() {
        parts.push(format!("your {}", super::join(&yours)));
    }
    let scenario = of(Whose::Scenario);
    if !scenario.is_empty() {
        parts.push(format!("the scenario's {}", super::join(&scenario)));
    }
    super::join(&parts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::trace::CONV_TENSORS;

    fn load(name: &str) -> crate::scenario::Scenario {
        let path = format!("{}/scenarios/{name}.json", env!("CARGO_MANIFEST_DIR"));
        crate::scenario::load(std::path::Path::new(&path)).unwrap()
    }

    /// Every tensor of every layer kind, as the trace has them (argmax for max pools).
    fn layer_tensors(kind: &LayerKind) -> Vec<N> {
        match kind {
            LayerKind::Pool(p) => {
                let mut t = vec![N::Input, N::Output, N::DeltaOutput, N::DeltaInput];
                if p.kind == PoolKind::Max {
                    t.push(N::Argmax);
                }
                t
            }
            _ => CONV_TENSORS.to_vec(),
        }
    }

    /// The recomputation rules are the engine's: from the reference's own inputs, every
    /// tensor of every layer kind comes out as the reference, at step 0 and after an update.
    #[test]
    fn from_the_references_inputs_every_tensor_is_recomputed_as_the_reference() {
        for name in [
            "mean_pool_classic",
            "max_pool_switches",
            "l2_pool",
            "digit_classifier",
            "strided_padded_conv",
            "leaky_tanh_sigmoid",
        ] {
            let s = load(name);
            let mut model = s.model.clone();
            let (p0, t0) = (model.clone(), model.train_step(0));
            let (p1, t1) = (model.clone(), model.train_step(1));
            let nothing = Given::new(Some(&t0), []);
            let (v0, v1) = (view(&p0, &t0, &nothing), view(&p1, &t1, &nothing));
            assert_eq!(
                v0, t0,
                "{name}: with nothing given, the view is the reference"
            );
            for (params, v, previous, reference) in
                [(&p0, &v0, None, &t0), (&p1, &v1, Some(&v0), &t1)]
            {
                let mut keys: Vec<(Option<usize>, N)> = vec![(None, N::Loss), (None, N::LossGrad)];
                for (l, layer) in params.layers.iter().enumerate() {
                    keys.extend(layer_tensors(&layer.kind).into_iter().map(|t| (Some(l), t)));
                }
                for (layer, tensor) in keys {
                    let got = recompute(params, v, previous, layer, tensor);
                    let want = super::super::reference_tensor(reference, layer, tensor).unwrap();
                    assert_eq!(got.shape(), want.shape(), "{name} {layer:?} {tensor}");
                    for (g, w) in got.iter().zip(&want) {
                        assert!(
                            (g - w).abs() <= 1e-12 * w.abs().max(1.0) || g.is_nan() && w.is_nan(),
                            "{name} step {} {layer:?} {tensor}: {g} against {w}",
                            reference.step
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn every_tensor_is_fixed_passed_on_or_computed_from_others_of_its_step_or_the_one_before() {
        let s = load("digit_classifier");
        let model = &s.model;
        let last = model.layers.len() - 1;
        for step in [0, 3] {
            for (l, layer) in model.layers.iter().enumerate() {
                for tensor in layer_tensors(&layer.kind) {
                    let key = (step, Some(l), tensor);
                    match source(model, key) {
                        Source::Scenario => assert!(
                            step == 0 && matches!(tensor, N::Weights | N::Bias)
                                || l == 0 && tensor == N::Input,
                            "{key:?}"
                        ),
                        Source::Passed((s, from, t)) => {
                            assert_eq!(s, step);
                            match tensor {
                                N::Input => assert_eq!(from, Some(l - 1)),
                                _ if l == last => assert_eq!((from, t), (None, N::LossGrad)),
                                _ => assert_eq!((from, t), (Some(l + 1), N::DeltaInput)),
                            }
                        }
                        Source::Computed(inputs) => {
                            assert!(!inputs.is_empty(), "{key:?}");
                            for (s, _, _) in inputs {
                                assert!(s == step || s + 1 == step, "{key:?}");
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn an_input_is_found_in_the_file_at_either_end_of_what_is_passed_on() {
        let s = load("mean_pool_classic");
        let model = &s.model;
        let t0 = model.trace(0);
        let maps = ArrayD::zeros(IxDyn(&[2, 3, 3]));
        // pool1.output given: conv2's input is found there; conv2's δz is computed, not found.
        let given = Given::new(Some(&t0), [((0, Some(1), N::Output), &maps)]);
        assert_eq!(
            find(model, &given, (0, Some(2), N::Input)),
            Found::Yours((0, Some(1), N::Output))
        );
        assert_eq!(
            find(model, &given, (0, Some(2), N::DeltaZ)),
            Found::Missing((0, Some(2), N::DeltaZ))
        );
        assert_eq!(
            find(model, &given, (0, Some(0), N::Input)),
            Found::Scenario((0, Some(0), N::Input))
        );
        assert_eq!(
            find(model, &given, (1, Some(0), N::Weights)),
            Found::Missing((1, Some(0), N::Weights))
        );
        assert_eq!(
            what_to_add(model, (0, Some(2), N::Input), 0),
            "conv2.input (or pool1.output)"
        );
        assert_eq!(
            what_to_add(model, (0, Some(3), N::DeltaOutput), 0),
            "pool2.delta_output (or loss_grad)"
        );
        assert_eq!(
            what_to_add(model, (0, Some(0), N::Weights), 1),
            "conv1.weights of step 0"
        );
        let s = load("max_pool_switches");
        assert_eq!(
            what_to_add(&s.model, (0, Some(1), N::Argmax), 0),
            "pool1.argmax (or pool1.input)"
        );
    }

    #[test]
    fn switches_outside_the_input_plane_are_not_used() {
        let s = load("max_pool_switches");
        let t0 = s.model.trace(0);
        let pool = 1;
        let shape = t0.layers[pool]
            .1
            .tensor(N::Output)
            .unwrap()
            .shape()
            .to_vec();
        let plane: usize = t0.layers[pool].1.tensor(N::Input).unwrap().shape()[1..]
            .iter()
            .product();
        let usable = |v: f64| usable_switches(&t0, pool, &ArrayD::from_elem(IxDyn(&shape), v));
        assert!(usable(0.0) && usable((plane - 1) as f64));
        assert!(!usable(plane as f64) && !usable(-1.0) && !usable(0.5) && !usable(f64::NAN));
    }

    #[test]
    fn inputs_are_named_by_whose_they_are() {
        let named = |inputs: &[(Whose, &str)]| {
            name_inputs(
                &inputs
                    .iter()
                    .map(|(w, n)| (*w, n.to_string()))
                    .collect::<Vec<_>>(),
            )
        };
        assert_eq!(
            named(&[(Whose::Yours, "a"), (Whose::Yours, "b")]),
            "your a and b"
        );
        assert_eq!(
            named(&[(Whose::Yours, "a"), (Whose::Scenario, "w")]),
            "your a and the scenario's w"
        );
        assert_eq!(
            named(&[
                (Whose::Scenario, "w"),
                (Whose::Missing, "d"),
                (Whose::Yours, "a")
            ]),
            "d, your a and the scenario's w"
        );
    }
}
