//! The scenario file as written (format v1), before validation. Unknown fields are errors.

use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};

use super::limits::MAX_LAYERS;
use super::tensor::RawTensor;
use crate::engine::Activation;
use crate::engine::PoolKind;
use crate::engine::init::Init;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    pub name: String,
    pub description: Option<String>,
    pub seed: Option<u64>,
    pub input: RawTensor,
    #[serde(deserialize_with = "layers_within_limit")]
    pub layers: Vec<RawLayer>,
    pub loss: Object<RawLoss>,
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
    pub weights: Option<RawTensor>,
    pub bias: Option<RawTensor>,
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

/// The loss. A plain struct rather than an enum tagged by `kind`: serde would buffer a
/// tagged enum's content (the whole target tensor) in a generic tree before reading it.
/// Which fields each kind takes is checked during validation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLoss {
    pub kind: LossKind,
    pub target: Option<RawTensor>,
    pub class: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossKind {
    Mse,
    HalfSse,
    CrossEntropy,
}

impl LossKind {
    pub fn name(self) -> &'static str {
        match self {
            LossKind::Mse => "mse",
            LossKind::HalfSse => "half_sse",
            LossKind::CrossEntropy => "cross_entropy",
        }
    }
}

/// The layers, refused as soon as there are more than [`MAX_LAYERS`] of them.
fn layers_within_limit<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<RawLayer>, D::Error> {
    struct LayersVisitor;
    impl<'de> Visitor<'de> for LayersVisitor {
        type Value = Vec<RawLayer>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an array of layers")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<RawLayer>, A::Error> {
            let mut layers = Vec::new();
            while let Some(Object(layer)) = seq.next_element()? {
                if layers.len() == MAX_LAYERS {
                    return Err(de::Error::custom(format!(
                        "more than the limit of {MAX_LAYERS} layers"
                    )));
                }
                layers.push(layer);
            }
            Ok(layers)
        }
    }
    deserializer.deserialize_seq(LayersVisitor)
}

/// A JSON object read into `T`, and only an object: a derived struct would also take an
/// array of its fields in order (`["name", …]`), which the format does not allow.
#[derive(Debug)]
pub struct Object<T>(pub T);

/// What a value must be, for the message when it is not an object.
pub trait Named {
    const WHAT: &'static str;
}

impl Named for RawScenario {
    const WHAT: &'static str = "a scenario: a JSON object";
}

impl Named for RawLayer {
    const WHAT: &'static str = "a layer: a JSON object with a `type`";
}

impl Named for RawLoss {
    const WHAT: &'static str = "a loss: a JSON object with a `kind`";
}

impl<'de, T: Deserialize<'de> + Named> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de> + Named> Visitor<'de> for ObjectVisitor<T> {
            type Value = T;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(T::WHAT)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map))
            }
        }
        deserializer
            .deserialize_map(ObjectVisitor(PhantomData))
            .map(Object)
    }
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
