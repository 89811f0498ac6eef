//! A network of conv, pool and dense layers: forward pass, backward pass and SGD update,
//! keeping every intermediate in a trace.

use ndarray::{Array, Array1, Array2, Array3, Array4, ArrayBase, ArrayD, IxDyn};

use super::conv::{BackwardRoute, Conv, ConvForward, ConvScratch};
use super::dense::{Dense, DenseForward};
use super::kernels::{KernelPath, PathChoice};
use super::loss::Loss;
use super::pool::{Pool, PoolForward, PoolKind};
use super::trace::{ConvTrace, DenseTrace, LayerTrace, PoolTrace, StepTrace};

#[derive(Clone, Debug, PartialEq)]
pub enum LayerKind {
    Conv(Conv),
    Pool(Pool),
    Dense(Dense),
}

impl LayerKind {
    pub fn type_name(&self) -> &'static str {
        match self {
            LayerKind::Conv(_) => "conv",
            LayerKind::Pool(_) => "pool",
            LayerKind::Dense(_) => "dense",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Layer {
    pub name: String,
    pub kind: LayerKind,
}

/// What one layer computed in the forward pass, with the input it saw.
#[derive(Clone, Debug, PartialEq)]
pub enum LayerForward {
    Conv {
        input: Array3<f64>,
        out: ConvForward,
    },
    Pool {
        input: Array3<f64>,
        out: PoolForward,
    },
    Dense {
        input: Array1<f64>,
        out: DenseForward,
    },
}

impl LayerForward {
    pub fn output(&self) -> ArrayD<f64> {
        match self {
            LayerForward::Conv { out, .. } => out.a.clone().into_dyn(),
            LayerForward::Pool { out, .. } => out.output.clone().into_dyn(),
            LayerForward::Dense { out, .. } => out.a.clone().into_dyn(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ForwardPass {
    pub layers: Vec<LayerForward>,
    pub output: ArrayD<f64>,
}

/// Everything needed to run training steps: the network input, the layers with their
/// current parameters, the loss and the learning rate.
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    pub input: Array3<f64>,
    pub layers: Vec<Layer>,
    pub loss: Loss,
    pub learning_rate: f64,
}

fn as_maps(x: ArrayD<f64>) -> Array3<f64> {
    x.into_dimensionality()
        .expect("conv and pool inputs are 3-D; validated when loading")
}

fn flatten(x: ArrayD<f64>) -> Array1<f64> {
    let n = x.len();
    // Standard (row-major) layout flattens in channel, row, column order.
    x.as_standard_layout()
        .into_owned()
        .into_shape_with_order(n)
        .expect("contiguous")
}

impl Model {
    pub fn forward(&self) -> ForwardPass {
        let mut x: ArrayD<f64> = self.input.clone().into_dyn();
        let mut layers = Vec::with_capacity(self.layers.len());
        for layer in &self.layers {
            let fwd = match &layer.kind {
                LayerKind::Conv(conv) => {
                    let input = as_maps(x);
                    LayerForward::Conv {
                        out: conv.forward(&input),
                        input,
                    }
                }
                LayerKind::Pool(pool) => {
                    let input = as_maps(x);
                    LayerForward::Pool {
                        out: pool.forward(&input),
                        input,
                    }
                }
                LayerKind::Dense(dense) => {
                    let input = flatten(x);
                    LayerForward::Dense {
                        out: dense.forward(&input),
                        input,
                    }
                }
            };
            x = fwd.output();
            layers.push(fwd);
        }
        ForwardPass { layers, output: x }
    }

    pub fn loss_value(&self) -> f64 {
        self.loss.value_and_grad(&self.forward().output).0
    }

    /// Buffers for every tensor of a step of this network, reused by [`Model::trace_into`] and
    /// [`Model::train_step_into`] so that a step allocates nothing.
    pub fn workspace(&self) -> Workspace {
        Workspace::new(self, PathChoice::BySize)
    }

    /// The same, with every layer's [`KernelPath`] picked by `choice` (tests and benchmarks).
    pub fn workspace_on(&self, choice: PathChoice) -> Workspace {
        Workspace::new(self, choice)
    }

    /// The forward pass into `ws.trace`: every layer's input and outputs and the network's
    /// output. The parameters and gradients in the trace are left as they are.
    pub fn forward_into(&self, ws: &mut Workspace) {
        let trace = &mut ws.trace;
        match trace.layers.first_mut() {
            Some((_, first)) => input_of(first).copy_from_slice(slice(&self.input)),
            None => trace
                .output
                .as_slice_mut()
                .expect("standard layout")
                .copy_from_slice(slice(&self.input)),
        }
        self.forward_from(0, ws);
    }

    /// The forward pass from layer `first` on, taking that layer's input as it stands in
    /// `ws.trace` (the layers before it are left alone).
    pub fn forward_from(&self, first: usize, ws: &mut Workspace) {
        let Workspace { trace, scratch } = ws;
        let layers = &mut trace.layers;
        for l in first..self.layers.len() {
            let (done, rest) = layers.split_at_mut(l + 1);
            let t = &mut done[l].1;
            match (&self.layers[l].kind, t, &mut scratch[l]) {
                (LayerKind::Conv(conv), LayerTrace::Conv(t), LayerScratch::Conv(s)) => {
                    conv.forward_into(&t.input.view(), s, &mut t.z, &mut t.a);
                }
                (LayerKind::Pool(pool), LayerTrace::Pool(t), _) => {
                    pool.forward_into(
                        slice(&t.input),
                        t.input.dim(),
                        slice_mut(&mut t.output),
                        t.argmax.as_mut().map(slice_mut),
                    );
                }
                (LayerKind::Dense(dense), LayerTrace::Dense(t), LayerScratch::Dense(path)) => {
                    dense.forward_into(
                        slice(&t.input),
                        slice_mut(&mut t.z),
                        slice_mut(&mut t.a),
                        *path,
                    );
                }
                _ => unreachable!("the workspace follows the layers"),
            }
            let out = output_of(&done[l].1);
            match rest.first_mut() {
                Some((_, next)) => input_of(next).copy_from_slice(out),
                None => slice_mut(&mut trace.output).copy_from_slice(out),
            }
        }
    }

    /// The loss and the backward pass into `ws.trace`, after [`Model::forward_into`].
    pub fn backward_into(&self, ws: &mut Workspace) {
        let Workspace { trace, scratch } = ws;
        trace.loss = self
            .loss
            .value_and_grad_into(&trace.output, &mut trace.loss_grad);
        let layers = &mut trace.layers;
        if let Some((_, last)) = layers.last_mut() {
            delta_output_of(last).copy_from_slice(slice(&trace.loss_grad));
        }
        for l in (0..self.layers.len()).rev() {
            let (before, from) = layers.split_at_mut(l);
            let t = &mut from[0].1;
            match (&self.layers[l].kind, &mut *t, &mut scratch[l]) {
                (LayerKind::Conv(conv), LayerTrace::Conv(t), LayerScratch::Conv(s)) => {
                    let ConvTrace {
                        input,
                        z,
                        a,
                        delta_a,
                        delta_z,
                        grad_weights,
                        grad_bias,
                        delta_input,
                        ..
                    } = t;
                    conv.backward_into(
                        &input.view(),
                        &z.view(),
                        &a.view(),
                        &delta_a.view(),
                        s,
                        delta_z,
                        grad_weights,
                        grad_bias,
                        delta_input,
                    );
                }
                (LayerKind::Pool(pool), LayerTrace::Pool(t), _) => {
                    pool.backward_into(
                        slice(&t.input),
                        t.input.dim(),
                        slice(&t.output),
                        t.argmax.as_ref().map(slice),
                        slice(&t.delta_output),
                        slice_mut(&mut t.delta_input),
                    );
                }
                (LayerKind::Dense(dense), LayerTrace::Dense(t), LayerScratch::Dense(_)) => {
                    dense.backward_into(
                        slice(&t.input),
                        slice(&t.z),
                        slice(&t.a),
                        slice(&t.delta_a),
                        slice_mut(&mut t.delta_z),
                        slice_mut(&mut t.grad_weights),
                        slice_mut(&mut t.grad_bias),
                        slice_mut(&mut t.delta_input),
                    );
                }
                _ => unreachable!("the workspace follows the layers"),
            }
            if let Some((_, prev)) = before.last_mut() {
                delta_output_of(prev).copy_from_slice(delta_input_of(t));
            }
        }
    }

    /// Forward and backward pass for the current parameters into `ws.trace`, without updating
    /// them: the same numbers as [`Model::trace`].
    pub fn trace_into(&self, step: usize, ws: &mut Workspace) {
        self.forward_into(ws);
        self.backward_into(ws);
        ws.trace.step = step;
        for (layer, (_, t)) in self.layers.iter().zip(&mut ws.trace.layers) {
            match (&layer.kind, t) {
                (LayerKind::Conv(c), LayerTrace::Conv(t)) => {
                    t.weights.assign(&c.weights);
                    t.bias.assign(&c.bias);
                }
                (LayerKind::Dense(d), LayerTrace::Dense(t)) => {
                    t.weights.assign(&d.weights);
                    t.bias.assign(&d.bias);
                }
                _ => {}
            }
        }
    }

    /// One training step into `ws.trace` (whose weights are the ones used before the update),
    /// then the update: the same numbers as [`Model::train_step`].
    pub fn train_step_into(&mut self, step: usize, ws: &mut Workspace) {
        self.forward_into(ws);
        self.backward_into(ws);
        ws.trace.step = step;
        let lr = self.learning_rate;
        for (layer, (_, t)) in self.layers.iter_mut().zip(&mut ws.trace.layers) {
            match (&mut layer.kind, t) {
                (LayerKind::Conv(c), LayerTrace::Conv(t)) => {
                    sgd_keeping(&mut c.weights, &mut t.weights, &t.grad_weights, lr);
                    sgd_keeping(&mut c.bias, &mut t.bias, &t.grad_bias, lr);
                }
                (LayerKind::Dense(d), LayerTrace::Dense(t)) => {
                    sgd_keeping(&mut d.weights, &mut t.weights, &t.grad_weights, lr);
                    sgd_keeping(&mut d.bias, &mut t.bias, &t.grad_bias, lr);
                }
                _ => {}
            }
        }
    }

    /// Forward and backward pass for the current parameters, without updating them.
    pub fn trace(&self, step: usize) -> StepTrace {
        let mut ws = self.workspace();
        self.trace_into(step, &mut ws);
        ws.trace
    }

    /// One training step: forward, backward, then the update. Returns the trace of the
    /// step, whose weights are the ones used before the update.
    pub fn train_step(&mut self, step: usize) -> StepTrace {
        let mut ws = self.workspace();
        self.train_step_into(step, &mut ws);
        ws.trace
    }
}

/// SGD, w ← w − lr·g as w + (−lr)·g cell by cell, keeping the old weights in `old`.
fn sgd_keeping<D: ndarray::Dimension>(
    w: &mut Array<f64, D>,
    old: &mut Array<f64, D>,
    g: &Array<f64, D>,
    lr: f64,
) {
    for ((w, old), &g) in slice_mut(w).iter_mut().zip(slice_mut(old)).zip(slice(g)) {
        *old = *w;
        *w += -lr * g;
    }
}

fn slice<S: ndarray::Data<Elem = T>, D: ndarray::Dimension, T>(x: &ArrayBase<S, D>) -> &[T] {
    x.as_slice().expect("engine arrays are standard layout")
}

fn slice_mut<S: ndarray::DataMut<Elem = T>, D: ndarray::Dimension, T>(
    x: &mut ArrayBase<S, D>,
) -> &mut [T] {
    x.as_slice_mut().expect("engine arrays are standard layout")
}

fn input_of(t: &mut LayerTrace) -> &mut [f64] {
    match t {
        LayerTrace::Conv(t) => slice_mut(&mut t.input),
        LayerTrace::Pool(t) => slice_mut(&mut t.input),
        LayerTrace::Dense(t) => slice_mut(&mut t.input),
    }
}

fn output_of(t: &LayerTrace) -> &[f64] {
    match t {
        LayerTrace::Conv(t) => slice(&t.a),
        LayerTrace::Pool(t) => slice(&t.output),
        LayerTrace::Dense(t) => slice(&t.a),
    }
}

fn delta_output_of(t: &mut LayerTrace) -> &mut [f64] {
    match t {
        LayerTrace::Conv(t) => slice_mut(&mut t.delta_a),
        LayerTrace::Pool(t) => slice_mut(&mut t.delta_output),
        LayerTrace::Dense(t) => slice_mut(&mut t.delta_a),
    }
}

fn delta_input_of(t: &LayerTrace) -> &[f64] {
    match t {
        LayerTrace::Conv(t) => slice(&t.delta_input),
        LayerTrace::Pool(t) => slice(&t.delta_input),
        LayerTrace::Dense(t) => slice(&t.delta_input),
    }
}

/// Per layer, what a step reuses beyond the trace.
#[derive(Clone, Debug)]
enum LayerScratch {
    Conv(Box<ConvScratch>),
    Dense(KernelPath),
    None,
}

/// How one conv or dense layer's products ran in the last step computed in a workspace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerRun {
    pub path: KernelPath,
    /// How the backward pass ran (always the products for dense layers).
    pub backward: BackwardRoute,
}

/// Every buffer one training step needs: the trace it fills, and the layers' scratch space.
/// Made once per model shape by [`Model::workspace`]; each step overwrites it.
#[derive(Clone, Debug)]
pub struct Workspace {
    /// The step last computed into this workspace.
    pub trace: StepTrace,
    scratch: Vec<LayerScratch>,
}

impl Workspace {
    /// Per layer, the path its products took (None for pools): what tests that name a path
    /// check, so that they cannot pass on another one.
    pub fn runs(&self) -> Vec<Option<LayerRun>> {
        self.scratch
            .iter()
            .map(|s| match s {
                LayerScratch::Conv(s) => Some(LayerRun {
                    path: s.path(),
                    backward: s.last_backward(),
                }),
                LayerScratch::Dense(path) => Some(LayerRun {
                    path: *path,
                    backward: BackwardRoute::Products,
                }),
                LayerScratch::None => None,
            })
            .collect()
    }

    fn new(model: &Model, choice: PathChoice) -> Self {
        let mut shape: Vec<usize> = model.input.shape().to_vec();
        let mut layers = Vec::with_capacity(model.layers.len());
        let mut scratch = Vec::with_capacity(model.layers.len());
        let dim3 = |s: &[usize]| -> (usize, usize, usize) {
            match *s {
                [c, h, w] => (c, h, w),
                _ => panic!("conv and pool inputs are 3-D; validated when loading"),
            }
        };
        for layer in &model.layers {
            let (trace, next, s) = match &layer.kind {
                LayerKind::Conv(conv) => {
                    let dim = dim3(&shape);
                    let [k, ho, wo] = conv
                        .output_shape([dim.0, dim.1, dim.2])
                        .expect("geometry is validated when the scenario is loaded");
                    let out = (k, ho, wo);
                    (
                        LayerTrace::Conv(ConvTrace {
                            input: Array3::zeros(dim),
                            weights: conv.weights.as_standard_layout().into_owned(),
                            bias: conv.bias.as_standard_layout().into_owned(),
                            z: Array3::zeros(out),
                            a: Array3::zeros(out),
                            delta_a: Array3::zeros(out),
                            delta_z: Array3::zeros(out),
                            grad_weights: Array4::zeros(conv.weights.raw_dim()),
                            grad_bias: Array1::zeros(k),
                            delta_input: Array3::zeros(dim),
                        }),
                        vec![k, ho, wo],
                        LayerScratch::Conv(Box::new(conv.scratch(dim, choice))),
                    )
                }
                LayerKind::Pool(pool) => {
                    let dim = dim3(&shape);
                    let [c, ho, wo] = pool
                        .output_shape([dim.0, dim.1, dim.2])
                        .expect("geometry is validated when the scenario is loaded");
                    let out = (c, ho, wo);
                    (
                        LayerTrace::Pool(PoolTrace {
                            kind: pool.kind,
                            input: Array3::zeros(dim),
                            output: Array3::zeros(out),
                            argmax: (pool.kind == PoolKind::Max).then(|| Array3::zeros(out)),
                            delta_output: Array3::zeros(out),
                            delta_input: Array3::zeros(dim),
                        }),
                        vec![c, ho, wo],
                        LayerScratch::None,
                    )
                }
                LayerKind::Dense(dense) => {
                    let n: usize = shape.iter().product();
                    let o = dense.outputs();
                    (
                        LayerTrace::Dense(DenseTrace {
                            input: Array1::zeros(n),
                            weights: dense.weights.as_standard_layout().into_owned(),
                            bias: dense.bias.as_standard_layout().into_owned(),
                            z: Array1::zeros(o),
                            a: Array1::zeros(o),
                            delta_a: Array1::zeros(o),
                            delta_z: Array1::zeros(o),
                            grad_weights: Array2::zeros(dense.weights.raw_dim()),
                            grad_bias: Array1::zeros(o),
                            delta_input: Array1::zeros(n),
                        }),
                        vec![o],
                        LayerScratch::Dense(dense.path(choice)),
                    )
                }
            };
            layers.push((layer.name.clone(), trace));
            scratch.push(s);
            shape = next;
        }
        Workspace {
            trace: StepTrace {
                step: 0,
                loss: 0.0,
                output: ArrayD::zeros(IxDyn(&shape)),
                loss_grad: ArrayD::zeros(IxDyn(&shape)),
                layers,
            },
            scratch,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::TensorName;
    use crate::scenario;

    /// A workspace that has taken a training step holds the weights used before the update;
    /// tracing into it again must show the parameters the model has now, bit for bit as a
    /// fresh trace does.
    #[test]
    fn tracing_into_a_used_workspace_shows_the_current_parameters() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scenarios/digit_classifier.json"
        );
        let mut model = scenario::load(std::path::Path::new(path)).unwrap().model;
        let has = |kind: fn(&LayerKind) -> bool| model.layers.iter().any(|l| kind(&l.kind));
        assert!(
            has(|k| matches!(k, LayerKind::Conv(_))) && has(|k| matches!(k, LayerKind::Dense(_)))
        );
        let mut ws = model.workspace();
        model.train_step_into(0, &mut ws);
        model.trace_into(1, &mut ws);
        let fresh = model.trace(1);
        for ((name, reused), (_, fresh)) in ws.trace.layers.iter().zip(&fresh.layers) {
            for tensor in TensorName::ALL {
                if let (Some(a), Some(b)) = (reused.tensor(tensor), fresh.tensor(tensor)) {
                    let bits = |t: &ndarray::ArrayViewD<f64>| -> Vec<u64> {
                        t.iter().map(|x| x.to_bits()).collect()
                    };
                    assert_eq!(bits(&a), bits(&b), "{name}.{tensor}");
                }
            }
        }
    }
}
