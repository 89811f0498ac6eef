//! A network of conv, pool and dense layers: forward pass, backward pass and SGD update,
//! keeping every intermediate in a trace.

use ndarray::{Array1, Array3, ArrayD, IxDyn};

use super::conv::{Conv, ConvForward};
use super::dense::{Dense, DenseForward};
use super::loss::Loss;
use super::pool::{Pool, PoolForward};
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

    /// Forward and backward pass for the current parameters, without updating them.
    pub fn trace(&self, step: usize) -> StepTrace {
        let forward = self.forward();
        let (loss, loss_grad) = self.loss.value_and_grad(&forward.output);
        let mut delta: ArrayD<f64> = loss_grad.clone();
        let mut traces = Vec::with_capacity(self.layers.len());
        for (layer, fwd) in self.layers.iter().zip(forward.layers).rev() {
            let trace = match (&layer.kind, fwd) {
                (LayerKind::Conv(conv), LayerForward::Conv { input, out }) => {
                    let delta_a = as_maps(reshape(delta, out.a.shape()));
                    let back = conv.backward(&input, &out, &delta_a);
                    LayerTrace::Conv(ConvTrace {
                        input,
                        weights: conv.weights.clone(),
                        bias: conv.bias.clone(),
                        z: out.z,
                        a: out.a,
                        delta_a,
                        delta_z: back.delta_z,
                        grad_weights: back.grad_weights,
                        grad_bias: back.grad_bias,
                        delta_input: back.delta_input,
                    })
                }
                (LayerKind::Pool(pool), LayerForward::Pool { input, out }) => {
                    let delta_output = as_maps(reshape(delta, out.output.shape()));
                    let delta_input = pool.backward(&input, &out, &delta_output);
                    LayerTrace::Pool(PoolTrace {
                        kind: pool.kind,
                        input,
                        output: out.output,
                        argmax: out.argmax,
                        delta_output,
                        delta_input,
                    })
                }
                (LayerKind::Dense(dense), LayerForward::Dense { input, out }) => {
                    let delta_a = flatten(delta);
                    let back = dense.backward(&input, &out, &delta_a);
                    LayerTrace::Dense(DenseTrace {
                        input,
                        weights: dense.weights.clone(),
                        bias: dense.bias.clone(),
                        z: out.z,
                        a: out.a,
                        delta_a,
                        delta_z: back.delta_z,
                        grad_weights: back.grad_weights,
                        grad_bias: back.grad_bias,
                        delta_input: back.delta_input,
                    })
                }
                _ => unreachable!("forward pass follows the layers"),
            };
            delta = trace.delta_input_dyn();
            traces.push((layer.name.clone(), trace));
        }
        traces.reverse();
        StepTrace {
            step,
            loss,
            output: forward.output,
            loss_grad,
            layers: traces,
        }
    }

    /// Plain SGD with the gradients of `trace`: w ← w − lr·∂L/∂w.
    pub fn apply_update(&mut self, trace: &StepTrace) {
        let lr = self.learning_rate;
        for (layer, (_, t)) in self.layers.iter_mut().zip(&trace.layers) {
            match (&mut layer.kind, t) {
                (LayerKind::Conv(conv), LayerTrace::Conv(t)) => {
                    conv.weights.scaled_add(-lr, &t.grad_weights);
                    conv.bias.scaled_add(-lr, &t.grad_bias);
                }
                (LayerKind::Dense(dense), LayerTrace::Dense(t)) => {
                    dense.weights.scaled_add(-lr, &t.grad_weights);
                    dense.bias.scaled_add(-lr, &t.grad_bias);
                }
                _ => {}
            }
        }
    }

    /// One training step: forward, backward, then the update. Returns the trace of the
    /// step, whose weights are the ones used before the update.
    pub fn train_step(&mut self, step: usize) -> StepTrace {
        let trace = self.trace(step);
        self.apply_update(&trace);
        trace
    }
}

fn reshape(x: ArrayD<f64>, shape: &[usize]) -> ArrayD<f64> {
    x.as_standard_layout()
        .into_owned()
        .into_shape_with_order(IxDyn(shape))
        .expect("a layer's δ has as many cells as its output")
}
