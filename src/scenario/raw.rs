//! The scenario file as written (format v1), before validation. Unknown fields are errors.

use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde_json::Value;

use crate::engine::Activation;
use crate::engine::PoolKind;
use crate::engine::init::Init;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    pub name: String,
    pub description: Option<String>,
    pub seed: Option<u64>,
    pub input: Value,
    pub layers: Vec<RawLayer>,
    pub loss: RawLoss,
    pub learning_rate: Option<f64>,
    pub steps: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LayerType {
    Conv,
    Pool,
    Dense,
}

impl LayerType {
    pub fn name(self) -> &'static str {
        match self {
            LayerType::Conv => "conv",
            LayerType::Pool => "pool",
            LayerType::Dense => "dense",
        }
    }
}

/// One layer; the fields of all three types are accepted here and the ones that do not
/// belong to the layer's `type` are refused during validation, with their path.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLayer {
    #[serde(rename = "type")]
    pub layer_type: LayerType,
    pub name: Option<String>,
    pub kernels: Option<u64>,
    pub kernel_size: Option<Pair>,
    pub stride: Option<Pair>,
    pub padding: Option<Pair>,
    pub activation: Option<Activation>,
    pub weights: Option<Value>,
    pub bias: Option<Value>,
    pub init: Option<Init>,
    pub kind: Option<PoolKind>,
    pub size: Option<Pair>,
    pub outputs: Option<u64>,
}

impl RawLayer {
    /// The optional fields present in the file, by name.
    pub fn present_fields(&self) -> Vec<&'static str> {
        let mut fields = Vec::new();
        let mut note = |present: bool, name: &'static str| {
            if present {
                fields.push(name)
            }
        };
        note(self.kernels.is_some(), "kernels");
        note(self.kernel_size.is_some(), "kernel_size");
        note(self.stride.is_some(), "stride");
        note(self.padding.is_some(), "padding");
        note(self.activation.is_some(), "activation");
        note(self.weights.is_some(), "weights");
        note(self.bias.is_some(), "bias");
        note(self.init.is_some(), "init");
        note(self.kind.is_some(), "kind");
        note(self.size.is_some(), "size");
        note(self.outputs.is_some(), "outputs");
        fields
    }
}

#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RawLoss {
    Mse { target: Value },
    HalfSse { target: Value },
    CrossEntropy { class: u64 },
}

/// An integer n (meaning [n, n]) or a pair [h, w].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pair(pub [u64; 2]);

impl<'de> Deserialize<'de> for Pair {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PairVisitor;
        impl<'de> Visitor<'de> for PairVisitor {
            type Value = Pair;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a non-negative integer or a pair [height, width]")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Pair, E> {
                Ok(Pair([v, v]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Pair, A::Error> {
                let h: u64 = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(0, &self))?;
                let w: u64 = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(1, &self))?;
                if seq.next_element::<de::IgnoredAny>()?.is_some() {
                    return Err(de::Error::invalid_length(3, &self));
                }
                Ok(Pair([h, w]))
            }
        }
        deserializer.deserialize_any(PairVisitor)
    }
}
