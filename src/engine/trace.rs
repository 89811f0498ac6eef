//! The trace of one training step: every tensor the forward and backward passes computed.

use ndarray::{Array1, Array2, Array3, Array4, ArrayD, ArrayViewD};

use super::pool::PoolKind;

#[derive(Clone, Debug, PartialEq)]
pub struct ConvTrace {
    pub input: Array3<f64>,
    pub weights: Array4<f64>,
    pub bias: Array1<f64>,
    pub z: Array3<f64>,
    pub a: Array3<f64>,
    pub delta_a: Array3<f64>,
    pub delta_z: Array3<f64>,
    pub grad_weights: Array4<f64>,
    pub grad_bias: Array1<f64>,
    pub delta_input: Array3<f64>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PoolTrace {
    pub kind: PoolKind,
    pub input: Array3<f64>,
    pub output: Array3<f64>,
    /// Max pooling only: flat index h·W + w of each window's maximum in its input plane.
    pub argmax: Option<Array3<usize>>,
    pub delta_output: Array3<f64>,
    pub delta_input: Array3<f64>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct DenseTrace {
    pub input: Array1<f64>,
    pub weights: Array2<f64>,
    pub bias: Array1<f64>,
    pub z: Array1<f64>,
    pub a: Array1<f64>,
    pub delta_a: Array1<f64>,
    pub delta_z: Array1<f64>,
    pub grad_weights: Array2<f64>,
    pub grad_bias: Array1<f64>,
    pub delta_input: Array1<f64>,
}

// A step holds one of these per layer, a handful at most: boxing the larger variant buys nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum LayerTrace {
    Conv(ConvTrace),
    Pool(PoolTrace),
    Dense(DenseTrace),
}

/// Names of the tensors of each layer type, in the order the export writes them.
pub const CONV_TENSORS: [&str; 10] = [
    "input",
    "weights",
    "bias",
    "z",
    "a",
    "delta_a",
    "delta_z",
    "grad_weights",
    "grad_bias",
    "delta_input",
];
pub const DENSE_TENSORS: [&str; 10] = CONV_TENSORS;
pub const POOL_TENSORS: [&str; 4] = ["input", "output", "delta_output", "delta_input"];

impl LayerTrace {
    pub fn type_name(&self) -> &'static str {
        match self {
            LayerTrace::Conv(_) => "conv",
            LayerTrace::Pool(_) => "pool",
            LayerTrace::Dense(_) => "dense",
        }
    }

    /// Every f64 tensor of the layer, by name, in export order (argmax is separate).
    pub fn tensors(&self) -> Vec<(&'static str, ArrayViewD<'_, f64>)> {
        match self {
            LayerTrace::Conv(t) => vec![
                ("input", t.input.view().into_dyn()),
                ("weights", t.weights.view().into_dyn()),
                ("bias", t.bias.view().into_dyn()),
                ("z", t.z.view().into_dyn()),
                ("a", t.a.view().into_dyn()),
                ("delta_a", t.delta_a.view().into_dyn()),
                ("delta_z", t.delta_z.view().into_dyn()),
                ("grad_weights", t.grad_weights.view().into_dyn()),
                ("grad_bias", t.grad_bias.view().into_dyn()),
                ("delta_input", t.delta_input.view().into_dyn()),
            ],
            LayerTrace::Dense(t) => vec![
                ("input", t.input.view().into_dyn()),
                ("weights", t.weights.view().into_dyn()),
                ("bias", t.bias.view().into_dyn()),
                ("z", t.z.view().into_dyn()),
                ("a", t.a.view().into_dyn()),
                ("delta_a", t.delta_a.view().into_dyn()),
                ("delta_z", t.delta_z.view().into_dyn()),
                ("grad_weights", t.grad_weights.view().into_dyn()),
                ("grad_bias", t.grad_bias.view().into_dyn()),
                ("delta_input", t.delta_input.view().into_dyn()),
            ],
            LayerTrace::Pool(t) => vec![
                ("input", t.input.view().into_dyn()),
                ("output", t.output.view().into_dyn()),
                ("delta_output", t.delta_output.view().into_dyn()),
                ("delta_input", t.delta_input.view().into_dyn()),
            ],
        }
    }

    pub fn tensor(&self, name: &str) -> Option<ArrayViewD<'_, f64>> {
        self.tensors()
            .into_iter()
            .find(|(n, _)| *n == name)
            .map(|(_, t)| t)
    }

    pub fn delta_input_dyn(&self) -> ArrayD<f64> {
        match self {
            LayerTrace::Conv(t) => t.delta_input.clone().into_dyn(),
            LayerTrace::Pool(t) => t.delta_input.clone().into_dyn(),
            LayerTrace::Dense(t) => t.delta_input.clone().into_dyn(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct StepTrace {
    pub step: usize,
    pub loss: f64,
    /// The network's final output y.
    pub output: ArrayD<f64>,
    /// ∂L/∂y, with the shape of the final output.
    pub loss_grad: ArrayD<f64>,
    /// (layer name, trace), in layer order.
    pub layers: Vec<(String, LayerTrace)>,
}
