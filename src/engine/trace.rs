//! The trace of one training step: every tensor the forward and backward passes computed.

use ndarray::{Array1, Array2, Array3, Array4, ArrayD, ArrayViewD, ArrayViewMutD};

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

/// The name of a tensor, as traces write it (`"delta_input"`): the tensors of conv, pool and
/// dense layers, the loss node's, and the ones the debugger derives. Parsed from a user's
/// file with [`TensorName::parse`], so an unknown name is refused at the edge; inside, a typo
/// does not compile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TensorName {
    Input,
    Weights,
    Bias,
    Z,
    A,
    DeltaA,
    DeltaZ,
    GradWeights,
    GradBias,
    DeltaInput,
    /// A pool's output; on the loss node, the network's output y.
    Output,
    DeltaOutput,
    /// A max pool's switches (integers).
    Argmax,
    /// The loss node: L, ∂L/∂y and the target.
    Loss,
    LossGrad,
    Target,
    /// Derived by the debugger: a pool's routing weights summed per input cell, and the
    /// parameters after the step's update.
    Mask,
    WeightsNext,
    BiasNext,
}

/// The part of a training step that computes a tensor: the order in which a step runs, for
/// the timeline, the first-anomaly scan and diff alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Pass {
    Forward,
    Loss,
    Backward,
}

impl Pass {
    /// The pass that computes a tensor of a layer: δs and gradients are backward, the rest
    /// forward.
    pub fn of_layer_tensor(tensor: TensorName) -> Pass {
        if tensor.is_backward() {
            Pass::Backward
        } else {
            Pass::Forward
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Pass::Forward => "forward",
            Pass::Loss => "loss",
            Pass::Backward => "backward",
        }
    }
}

impl TensorName {
    /// Every name, each once.
    pub const ALL: [TensorName; 19] = [
        TensorName::Input,
        TensorName::Weights,
        TensorName::Bias,
        TensorName::Z,
        TensorName::A,
        TensorName::DeltaA,
        TensorName::DeltaZ,
        TensorName::GradWeights,
        TensorName::GradBias,
        TensorName::DeltaInput,
        TensorName::Output,
        TensorName::DeltaOutput,
        TensorName::Argmax,
        TensorName::Loss,
        TensorName::LossGrad,
        TensorName::Target,
        TensorName::Mask,
        TensorName::WeightsNext,
        TensorName::BiasNext,
    ];

    /// The name as traces and messages write it.
    pub fn as_str(self) -> &'static str {
        match self {
            TensorName::Input => "input",
            TensorName::Weights => "weights",
            TensorName::Bias => "bias",
            TensorName::Z => "z",
            TensorName::A => "a",
            TensorName::DeltaA => "delta_a",
            TensorName::DeltaZ => "delta_z",
            TensorName::GradWeights => "grad_weights",
            TensorName::GradBias => "grad_bias",
            TensorName::DeltaInput => "delta_input",
            TensorName::Output => "output",
            TensorName::DeltaOutput => "delta_output",
            TensorName::Argmax => "argmax",
            TensorName::Loss => "loss",
            TensorName::LossGrad => "loss_grad",
            TensorName::Target => "target",
            TensorName::Mask => "mask",
            TensorName::WeightsNext => "weights_next",
            TensorName::BiasNext => "bias_next",
        }
    }

    /// The name a file wrote, or None for a name no trace has.
    pub fn parse(name: &str) -> Option<TensorName> {
        TensorName::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// Whether the backward pass computes it (δ and gradients).
    pub fn is_backward(self) -> bool {
        matches!(
            self,
            TensorName::DeltaA
                | TensorName::DeltaZ
                | TensorName::GradWeights
                | TensorName::GradBias
                | TensorName::DeltaInput
                | TensorName::DeltaOutput
                | TensorName::LossGrad
        )
    }
}

impl std::fmt::Display for TensorName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The tensors of each layer type, in the order the export writes them (a max pool's
/// argmax follows separately).
pub const CONV_TENSORS: [TensorName; 10] = [
    TensorName::Input,
    TensorName::Weights,
    TensorName::Bias,
    TensorName::Z,
    TensorName::A,
    TensorName::DeltaA,
    TensorName::DeltaZ,
    TensorName::GradWeights,
    TensorName::GradBias,
    TensorName::DeltaInput,
];
pub const DENSE_TENSORS: [TensorName; 10] = CONV_TENSORS;
pub const POOL_TENSORS: [TensorName; 4] = [
    TensorName::Input,
    TensorName::Output,
    TensorName::DeltaOutput,
    TensorName::DeltaInput,
];

impl LayerTrace {
    pub fn type_name(&self) -> &'static str {
        match self {
            LayerTrace::Conv(_) => "conv",
            LayerTrace::Pool(_) => "pool",
            LayerTrace::Dense(_) => "dense",
        }
    }

    /// Every f64 tensor of the layer, by name, in export order (argmax is separate).
    pub fn tensors(&self) -> Vec<(TensorName, ArrayViewD<'_, f64>)> {
        let names: &[TensorName] = match self {
            LayerTrace::Conv(_) => &CONV_TENSORS,
            LayerTrace::Dense(_) => &DENSE_TENSORS,
            LayerTrace::Pool(_) => &POOL_TENSORS,
        };
        names
            .iter()
            .map(|&n| (n, self.tensor(n).expect("a tensor of this layer type")))
            .collect()
    }

    /// The layer's f64 tensor of that name, or None when this type of layer has none.
    pub fn tensor(&self, name: TensorName) -> Option<ArrayViewD<'_, f64>> {
        use TensorName as N;
        let view = match (self, name) {
            (LayerTrace::Conv(t), N::Input) => t.input.view().into_dyn(),
            (LayerTrace::Conv(t), N::Weights) => t.weights.view().into_dyn(),
            (LayerTrace::Conv(t), N::Bias) => t.bias.view().into_dyn(),
            (LayerTrace::Conv(t), N::Z) => t.z.view().into_dyn(),
            (LayerTrace::Conv(t), N::A) => t.a.view().into_dyn(),
            (LayerTrace::Conv(t), N::DeltaA) => t.delta_a.view().into_dyn(),
            (LayerTrace::Conv(t), N::DeltaZ) => t.delta_z.view().into_dyn(),
            (LayerTrace::Conv(t), N::GradWeights) => t.grad_weights.view().into_dyn(),
            (LayerTrace::Conv(t), N::GradBias) => t.grad_bias.view().into_dyn(),
            (LayerTrace::Conv(t), N::DeltaInput) => t.delta_input.view().into_dyn(),
            (LayerTrace::Dense(t), N::Input) => t.input.view().into_dyn(),
            (LayerTrace::Dense(t), N::Weights) => t.weights.view().into_dyn(),
            (LayerTrace::Dense(t), N::Bias) => t.bias.view().into_dyn(),
            (LayerTrace::Dense(t), N::Z) => t.z.view().into_dyn(),
            (LayerTrace::Dense(t), N::A) => t.a.view().into_dyn(),
            (LayerTrace::Dense(t), N::DeltaA) => t.delta_a.view().into_dyn(),
            (LayerTrace::Dense(t), N::DeltaZ) => t.delta_z.view().into_dyn(),
            (LayerTrace::Dense(t), N::GradWeights) => t.grad_weights.view().into_dyn(),
            (LayerTrace::Dense(t), N::GradBias) => t.grad_bias.view().into_dyn(),
            (LayerTrace::Dense(t), N::DeltaInput) => t.delta_input.view().into_dyn(),
            (LayerTrace::Pool(t), N::Input) => t.input.view().into_dyn(),
            (LayerTrace::Pool(t), N::Output) => t.output.view().into_dyn(),
            (LayerTrace::Pool(t), N::DeltaOutput) => t.delta_output.view().into_dyn(),
            (LayerTrace::Pool(t), N::DeltaInput) => t.delta_input.view().into_dyn(),
            _ => return None,
        };
        Some(view)
    }

    /// The layer's f64 tensor of that name, to write into (see [`LayerTrace::tensor`]).
    pub fn tensor_mut(&mut self, name: TensorName) -> Option<ArrayViewMutD<'_, f64>> {
        use TensorName as N;
        let view = match (self, name) {
            (LayerTrace::Conv(t), N::Input) => t.input.view_mut().into_dyn(),
            (LayerTrace::Conv(t), N::Weights) => t.weights.view_mut().into_dyn(),
            (LayerTrace::Conv(t), N::Bias) => t.bias.view_mut().into_dyn(),
            (LayerTrace::Conv(t), N::Z) => t.z.view_mut().into_dyn(),
            (LayerTrace::Conv(t), N::A) => t.a.view_mut().into_dyn(),
            (LayerTrace::Conv(t), N::DeltaA) => t.delta_a.view_mut().into_dyn(),
            (LayerTrace::Conv(t), N::DeltaZ) => t.delta_z.view_mut().into_dyn(),
            (LayerTrace::Conv(t), N::GradWeights) => t.grad_weights.view_mut().into_dyn(),
            (LayerTrace::Conv(t), N::GradBias) => t.grad_bias.view_mut().into_dyn(),
            (LayerTrace::Conv(t), N::DeltaInput) => t.delta_input.view_mut().into_dyn(),
            (LayerTrace::Dense(t), N::Input) => t.input.view_mut().into_dyn(),
            (LayerTrace::Dense(t), N::Weights) => t.weights.view_mut().into_dyn(),
            (LayerTrace::Dense(t), N::Bias) => t.bias.view_mut().into_dyn(),
            (LayerTrace::Dense(t), N::Z) => t.z.view_mut().into_dyn(),
            (LayerTrace::Dense(t), N::A) => t.a.view_mut().into_dyn(),
            (LayerTrace::Dense(t), N::DeltaA) => t.delta_a.view_mut().into_dyn(),
            (LayerTrace::Dense(t), N::DeltaZ) => t.delta_z.view_mut().into_dyn(),
            (LayerTrace::Dense(t), N::GradWeights) => t.grad_weights.view_mut().into_dyn(),
            (LayerTrace::Dense(t), N::GradBias) => t.grad_bias.view_mut().into_dyn(),
            (LayerTrace::Dense(t), N::DeltaInput) => t.delta_input.view_mut().into_dyn(),
            (LayerTrace::Pool(t), N::Input) => t.input.view_mut().into_dyn(),
            (LayerTrace::Pool(t), N::Output) => t.output.view_mut().into_dyn(),
            (LayerTrace::Pool(t), N::DeltaOutput) => t.delta_output.view_mut().into_dyn(),
            (LayerTrace::Pool(t), N::DeltaInput) => t.delta_input.view_mut().into_dyn(),
            _ => return None,
        };
        Some(view)
    }

    /// The name of the layer's output: `a`, or `output` for a pool.
    pub fn output_name(&self) -> TensorName {
        match self {
            LayerTrace::Pool(_) => TensorName::Output,
            _ => TensorName::A,
        }
    }

    /// The name of the δ the layer receives: `delta_a`, or `delta_output` for a pool.
    pub fn delta_output_name(&self) -> TensorName {
        match self {
            LayerTrace::Pool(_) => TensorName::DeltaOutput,
            _ => TensorName::DeltaA,
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// tensor_mut writes where tensor reads, for every tensor of every layer type.
    #[test]
    fn a_tensor_is_written_where_it_is_read() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scenarios/digit_classifier.json"
        );
        let s = crate::scenario::load(std::path::Path::new(path)).unwrap();
        let mut trace = s.model.trace(0);
        let kinds: Vec<&str> = trace.layers.iter().map(|(_, t)| t.type_name()).collect();
        assert!(["conv", "pool", "dense"].iter().all(|k| kinds.contains(k)));
        for (_, layer) in &mut trace.layers {
            for name in TensorName::ALL {
                let reads = layer.tensor(name).is_some();
                let Some(mut into) = layer.tensor_mut(name) else {
                    assert!(!reads, "{} {name}: read but not written", layer.type_name());
                    continue;
                };
                let marked = into.len() as f64 + 0.5;
                *into.iter_mut().last().unwrap() = marked;
                let read = layer.tensor(name).unwrap();
                assert_eq!(
                    read.iter().last(),
                    Some(&marked),
                    "{} {name}",
                    layer.type_name()
                );
            }
        }
    }

    #[test]
    fn every_name_reads_back_as_itself() {
        for name in TensorName::ALL {
            assert_eq!(TensorName::parse(name.as_str()), Some(name));
        }
        assert_eq!(TensorName::parse("delta_inputs"), None);
        let mut strings: Vec<_> = TensorName::ALL.iter().map(|n| n.as_str()).collect();
        strings.sort();
        strings.dedup();
        assert_eq!(strings.len(), TensorName::ALL.len());
    }
}
