//! The user's trace (`deltascope diff`, `--compare`), read straight from the JSON text: no
//! tree of the whole document is built. Tensors go through the scenario files' reader
//! (src/scenario/tensor.rs), which checks the limits number by number before anything is
//! kept; everything else is read as small leaves (a step number, a layer name), and an
//! array or object where a leaf belongs is skipped, not held.
//!
//! JSON objects are unordered, so a step's `step` may come after its tensors and a layer's
//! `name` after its tensors: what can only be checked once they are known is checked then.
//! Problems of meaning are refused with the JSON path they concern (kept in
//! [`Reader::refusal`], since serde's errors can only carry the path being read); problems
//! of syntax and of the tensors themselves carry the path and the line and column.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::{GivenTensor, is_layer_tensor, tensor_order};
use crate::engine::Pass;
use crate::engine::{LayerKind, Model, PoolKind, TensorName as N};
use crate::error::FieldError;
use crate::scenario::limits::{MAX_NUMBERS_PER_TRACE, MAX_STEPS};
use crate::scenario::tensor::{FileLimit, RawTensor, TensorSeed, read_document_with};
use crate::tensor_json::NonFinite;

/// Read the user's trace: which tensors they give, matched to steps and layers, with
/// every problem named by its JSON path. Shapes are checked later, against the reference.
/// `scenario_steps` is how many steps the scenario runs: a trace may name steps 0 to
/// scenario_steps − 1.
pub fn parse_theirs(
    text: &str,
    model: &Model,
    scenario_steps: usize,
) -> Result<Vec<GivenTensor>, FieldError> {
    let reader = Reader {
        model,
        scenario_steps,
        refusal: RefCell::new(None),
    };
    let limit = FileLimit {
        numbers: MAX_NUMBERS_PER_TRACE,
        per: " per trace file",
    };
    read_document_with(text, Document(&reader), limit, NonFinite::AsStrings)
        .map_err(|e| reader.refusal.take().unwrap_or(e))
}

/// The scenario's layer names, for messages: "conv1, pool1, conv2, pool2".
fn layer_names(model: &Model) -> String {
    let names: Vec<&str> = model.layers.iter().map(|l| l.name.as_str()).collect();
    names.join(", ")
}

/// The index of the layer named `name`, or the message that refuses it. Shared by every
/// reader of a user's trace.
pub(crate) fn layer_named(model: &Model, name: &str) -> Result<usize, String> {
    model
        .layers
        .iter()
        .position(|l| l.name == name)
        .ok_or_else(|| {
            format!(
                "no layer named \"{name}\" in the scenario (its layers: {})",
                layer_names(model)
            )
        })
}

/// Tensor `key` of a layer of this kind and the pass that produces it, or the message that
/// refuses it. Shared by every reader of a user's trace.
pub(crate) fn layer_tensor(kind: &LayerKind, key: &str) -> Result<(N, Pass), String> {
    let order = tensor_order(kind);
    let Some(&name) = order.iter().find(|t| t.as_str() == key) else {
        let known: Vec<&str> = order.iter().map(|t| t.as_str()).collect();
        return Err(format!(
            "unknown tensor for a {} layer (its tensors: {})",
            kind.type_name(),
            known.join(", ")
        ));
    };
    if name == N::Argmax && !matches!(kind, LayerKind::Pool(p) if p.kind == PoolKind::Max) {
        return Err("only max pooling has argmax".into());
    }
    Ok((name, Pass::of_layer_tensor(name)))
}

/// What every part of the reading shares.
struct Reader<'m> {
    model: &'m Model,
    scenario_steps: usize,
    /// The refusal that stopped the reading, with its own path.
    refusal: RefCell<Option<FieldError>>,
}

impl Reader<'_> {
    /// Stop reading: `path: message` is what the user sees.
    fn refuse<E: de::Error>(&self, path: impl Into<String>, message: impl Into<String>) -> E {
        let refusal = FieldError::new(path, message);
        let error = E::custom(&refusal);
        self.refusal.borrow_mut().get_or_insert(refusal);
        error
    }

    fn tensor<'de, A: MapAccess<'de>>(&self, map: &mut A) -> Result<RawTensor, A::Error> {
        map.next_value_seed(TensorSeed {
            non_finite: NonFinite::AsStrings,
        })
    }
}

/// A small value, kept (a string, a non-negative integer) or only described for a message.
/// An array or an object in its place is skipped, not held.
enum Leaf {
    String(String),
    Index(u64),
    Other(String),
}

impl fmt::Display for Leaf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Leaf::String(s) => write!(f, "the string \"{s}\""),
            Leaf::Index(n) => write!(f, "the number {n}"),
            Leaf::Other(what) => f.write_str(what),
        }
    }
}

struct LeafVisitor;

impl<'de> Visitor<'de> for LeafVisitor {
    type Value = Leaf;
    /// Never shown: serde_json's `deserialize_any` hands every JSON value to one of the
    /// `visit_` methods below (strings, u64, i64, f64, bools, null, arrays, objects), all of
    /// them implemented, so serde never has a value of the wrong type to describe. The same
    /// holds for [`Read`].
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Leaf, E> {
        Ok(Leaf::String(v.to_owned()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Leaf, E> {
        Ok(Leaf::Index(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Leaf, E> {
        Ok(Leaf::Other(format!("the number {v}")))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Leaf, E> {
        // As JSON writes it: 1.0, not 1.
        let number = serde_json::Number::from_f64(v).map_or(v.to_string(), |n| n.to_string());
        Ok(Leaf::Other(format!("the number {number}")))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Leaf, E> {
        Ok(Leaf::Other(v.to_string()))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Leaf, E> {
        Ok(Leaf::Other("null".into()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Leaf, A::Error> {
        let mut len = 0usize;
        while seq.next_element::<IgnoredAny>()?.is_some() {
            len += 1;
        }
        Ok(Leaf::Other(format!("an array of {len}")))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Leaf, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Leaf::Other("an object".into()))
    }
}

impl<'de> Deserialize<'de> for Leaf {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(LeafVisitor)
    }
}

/// A part of the trace that is a JSON object or an array; any other value in its place is
/// refused, described.
trait Part<'de>: Sized {
    type Value;
    /// The refusal of a value of the wrong kind.
    fn wrong<E: de::Error>(self, got: &Leaf) -> E;
    fn object<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let got = LeafVisitor.visit_map(map)?;
        Err(self.wrong(&got))
    }
    fn array<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        let got = LeafVisitor.visit_seq(seq)?;
        Err(self.wrong(&got))
    }
}

/// Reads a [`Part`].
struct Read<P>(P);

impl<'de, P: Part<'de>> DeserializeSeed<'de> for Read<P> {
    type Value = P::Value;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<P::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, P: Part<'de>> Visitor<'de> for Read<P> {
    type Value = P::Value;
    /// Never shown, as for [`LeafVisitor`]: every kind of JSON value has its `visit_` here.
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object or array")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<P::Value, A::Error> {
        self.0.object(map)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<P::Value, A::Error> {
        self.0.array(seq)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<P::Value, E> {
        Err(self.0.wrong(&LeafVisitor.visit_str::<E>(v)?))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<P::Value, E> {
        Err(self.0.wrong(&LeafVisitor.visit_u64::<E>(v)?))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<P::Value, E> {
        Err(self.0.wrong(&LeafVisitor.visit_i64::<E>(v)?))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<P::Value, E> {
        Err(self.0.wrong(&LeafVisitor.visit_f64::<E>(v)?))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<P::Value, E> {
        Err(self.0.wrong(&LeafVisitor.visit_bool::<E>(v)?))
    }
    fn visit_unit<E: de::Error>(self) -> Result<P::Value, E> {
        Err(self.0.wrong(&LeafVisitor.visit_unit::<E>()?))
    }
}

/// The whole file: an object whose `steps` is all that is read.
struct Document<'r, 'm>(&'r Reader<'m>);

impl<'de> DeserializeSeed<'de> for Document<'_, '_> {
    type Value = Vec<GivenTensor>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Document<'_, '_> {
    type Value = Vec<GivenTensor>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a trace: a JSON object with `steps`")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let r = self.0;
        let mut given = None;
        let mut keys: Vec<String> = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            // A top-level key is the whole path: the empty key is shown as "".
            let path = if key.is_empty() {
                "\"\"".to_string()
            } else {
                key.clone()
            };
            if keys.contains(&key) {
                return Err(r.refuse(path, "is given twice"));
            }
            match key.as_str() {
                "steps" => given = Some(map.next_value_seed(Read(Steps(r)))?),
                // What `deltascope export` writes around its steps: skipped unread.
                "format" | "version" | "name" | "producer" => {
                    map.next_value::<IgnoredAny>()?;
                }
                _ => {
                    return Err(r.refuse(
                        path,
                        "unknown field (a trace has: steps; an export also writes format, version, name, producer)",
                    ));
                }
            }
            keys.push(key);
        }
        let given = given.ok_or_else(|| r.refuse("steps", "is required: an array of steps"))?;
        if given.is_empty() {
            // Named by the array that holds nothing (a refusal always names a field).
            return Err(r.refuse(
                "steps",
                "the trace holds no tensor: there is nothing to compare (give at least one, such as a layer's delta_input)",
            ));
        }
        Ok(given)
    }
}

struct Steps<'r, 'm>(&'r Reader<'m>);

impl<'de> Part<'de> for Steps<'_, '_> {
    type Value = Vec<GivenTensor>;
    fn wrong<E: de::Error>(self, _: &Leaf) -> E {
        self.0.refuse("steps", "expected an array of steps")
    }
    fn array<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut given = Vec::new();
        let mut seen = BTreeSet::new();
        for position in 0.. {
            let step = Step {
                r: self.0,
                path: format!("steps[{position}]"),
                position,
                seen: &mut seen,
            };
            match seq.next_element_seed(Read(step))? {
                Some(tensors) => given.extend(tensors),
                None => break,
            }
        }
        Ok(given)
    }
}

struct Step<'a, 'm> {
    r: &'a Reader<'m>,
    /// `steps[2]`
    path: String,
    position: usize,
    /// The step numbers read so far.
    seen: &'a mut BTreeSet<usize>,
}

impl Step<'_, '_> {
    /// Take step `number` for this entry: refused when past the scenario's steps (the
    /// reference is computed up to the last step named, so before anything runs) or
    /// already taken.
    fn claim<E: de::Error>(&mut self, number: usize) -> Result<usize, E> {
        let at = format!("{}.step", self.path);
        if number >= self.r.scenario_steps.min(MAX_STEPS) {
            return Err(self.r.refuse(
                at,
                format!(
                    "step {number} is past the scenario's last step, {}",
                    self.r.scenario_steps.saturating_sub(1)
                ),
            ));
        }
        if !self.seen.insert(number) {
            return Err(self.r.refuse(at, format!("step {number} appears twice")));
        }
        Ok(number)
    }
}

impl<'de> Part<'de> for Step<'_, '_> {
    type Value = Vec<GivenTensor>;
    fn wrong<E: de::Error>(self, got: &Leaf) -> E {
        self.r
            .refuse(&self.path, format!("expected an object, got {got}"))
    }
    fn object<A: MapAccess<'de>>(mut self, mut map: A) -> Result<Self::Value, A::Error> {
        let r = self.r;
        let mut number = None;
        let mut tensors = Vec::new();
        let mut keys: Vec<String> = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            let at = format!("{}.{key}", self.path);
            if keys.contains(&key) {
                return Err(r.refuse(at, "is given twice"));
            }
            match key.as_str() {
                "step" => {
                    let leaf: Leaf = map.next_value()?;
                    let index = match &leaf {
                        Leaf::Index(n) => usize::try_from(*n).ok(),
                        _ => None,
                    };
                    let Some(index) = index else {
                        return Err(
                            r.refuse(at, format!("expected a non-negative integer, got {leaf}"))
                        );
                    };
                    number = Some(self.claim(index)?);
                }
                key @ ("loss" | "loss_grad") => tensors.push(GivenTensor {
                    step: 0,
                    pass: Pass::Loss,
                    layer: None,
                    tensor: N::parse(key).expect("loss and loss_grad are tensor names"),
                    values: r.tensor(&mut map)?.into_array(),
                    path: at,
                }),
                "layers" => map.next_value_seed(Read(Layers {
                    r,
                    path: at,
                    out: &mut tensors,
                }))?,
                _ => {
                    return Err(r.refuse(
                        at,
                        "unknown field (a step has: step, loss, loss_grad, layers)",
                    ));
                }
            }
            keys.push(key);
        }
        let number = match number {
            Some(n) => n,
            // Matched by position.
            None => self.claim(self.position)?,
        };
        for t in &mut tensors {
            t.step = number;
        }
        Ok(tensors)
    }
}

struct Layers<'a, 'm> {
    r: &'a Reader<'m>,
    /// `steps[0].layers`
    path: String,
    out: &'a mut Vec<GivenTensor>,
}

impl<'de> Part<'de> for Layers<'_, '_> {
    type Value = ();
    fn wrong<E: de::Error>(self, got: &Leaf) -> E {
        self.r.refuse(
            &self.path,
            format!("expected an array of layers, got {got}"),
        )
    }
    fn array<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        for position in 0.. {
            let layer = Layer {
                r: self.r,
                path: format!("{}[{position}]", self.path),
                position,
                out: &mut *self.out,
            };
            if seq.next_element_seed(Read(layer))?.is_none() {
                break;
            }
        }
        Ok(())
    }
}

struct Layer<'a, 'm> {
    r: &'a Reader<'m>,
    /// `steps[0].layers[3]`
    path: String,
    position: usize,
    out: &'a mut Vec<GivenTensor>,
}

impl Layer<'_, '_> {
    fn names(&self) -> String {
        layer_names(self.r.model)
    }

    /// The layer a `name` names.
    fn named<E: de::Error>(&self, name: &Leaf) -> Result<usize, E> {
        let at = format!("{}.name", self.path);
        let Leaf::String(name) = name else {
            return Err(self.r.refuse(at, format!("expected a string, got {name}")));
        };
        layer_named(self.r.model, name).map_err(|message| self.r.refuse(at, message))
    }

    /// The layer an entry without a `name` stands for: the one at its position.
    fn by_position<E: de::Error>(&self) -> Result<usize, E> {
        let count = self.r.model.layers.len();
        if self.position < count {
            return Ok(self.position);
        }
        Err(self.r.refuse(
            &self.path,
            format!(
                "has no name and the scenario has only {count} layers ({})",
                self.names()
            ),
        ))
    }

    fn check_type<E: de::Error>(
        &self,
        index: usize,
        anonymous: bool,
        given: &Leaf,
    ) -> Result<(), E> {
        let layer = &self.r.model.layers[index];
        let kind = layer.kind.type_name();
        let message = match given {
            Leaf::String(t) if t == kind => return Ok(()),
            Leaf::String(t) => format!("layer {} is a {kind} layer, not \"{t}\"", layer.name),
            other => format!(
                "layer {} is a {kind} layer: expected \"{kind}\", got {other}",
                layer.name
            ),
        };
        Err(self.r.refuse(self.at("type", index, anonymous), message))
    }

    /// The path of `key` in this entry, for messages. An entry without a name (`anonymous`)
    /// was matched to layer `index` by its position, which the path says:
    /// `steps[0].layers[0].z (no name: taken as conv1, the first layer)`.
    fn at(&self, key: &str, index: usize, anonymous: bool) -> String {
        if !anonymous {
            return format!("{}.{key}", self.path);
        }
        format!(
            "{}.{key} (no name: taken as {}, the {} layer)",
            self.path,
            self.r.model.layers[index].name,
            ordinal(index + 1)
        )
    }

    /// Tensor `key` of layer `index` and the pass that produces it, if that layer has it.
    fn tensor_pass<E: de::Error>(
        &self,
        index: usize,
        anonymous: bool,
        key: &str,
    ) -> Result<(N, Pass), E> {
        let at = self.at(key, index, anonymous);
        layer_tensor(&self.r.model.layers[index].kind, key)
            .map_err(|message| self.r.refuse(at, message))
    }
}

impl<'de> Part<'de> for Layer<'_, '_> {
    type Value = ();
    fn wrong<E: de::Error>(self, got: &Leaf) -> E {
        self.r
            .refuse(&self.path, format!("expected an object, got {got}"))
    }
    fn object<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        // The layer, once its name has been read.
        let mut named = None;
        let mut type_given: Option<Leaf> = None;
        // Tensors in the order given; None for a key that names no tensor of any layer
        // type, skipped unread and refused once the layer is known.
        let mut entries: Vec<(String, Option<RawTensor>)> = Vec::new();
        let mut other_keys: Vec<String> = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            let at = format!("{}.{key}", self.path);
            if other_keys.contains(&key) || entries.iter().any(|(k, _)| *k == key) {
                return Err(self.r.refuse(at, "is given twice"));
            }
            match key.as_str() {
                "name" => {
                    let index = self.named(&map.next_value()?)?;
                    if let Some(t) = &type_given {
                        self.check_type(index, false, t)?;
                    }
                    for (key, _) in &entries {
                        self.tensor_pass(index, false, key)?;
                    }
                    named = Some(index);
                }
                "type" => {
                    let given: Leaf = map.next_value()?;
                    if let Some(index) = named {
                        self.check_type(index, false, &given)?;
                    }
                    type_given = Some(given);
                }
                "kind" => {
                    map.next_value::<IgnoredAny>()?;
                }
                _ => {
                    let read = match named {
                        Some(index) => self.tensor_pass(index, false, &key).map(|_| true)?,
                        None => N::parse(&key).is_some_and(is_layer_tensor),
                    };
                    let values = if read {
                        Some(self.r.tensor(&mut map)?)
                    } else {
                        map.next_value::<IgnoredAny>()?;
                        None
                    };
                    entries.push((key, values));
                    continue;
                }
            }
            other_keys.push(key);
        }
        let (index, anonymous) = match named {
            Some(index) => (index, false),
            None => (self.by_position()?, true),
        };
        if let Some(t) = &type_given {
            self.check_type(index, anonymous, t)?;
        }
        for (key, values) in entries {
            let (tensor, pass) = self.tensor_pass(index, anonymous, &key)?;
            // Every tensor of every layer type was read (`is_layer_tensor`).
            let Some(values) = values else { continue };
            self.out.push(GivenTensor {
                step: 0,
                pass,
                layer: Some(index),
                path: self.at(&key, index, anonymous),
                tensor,
                values: values.into_array(),
            });
        }
        Ok(())
    }
}

/// "first", "second", …, "21st".
fn ordinal(n: usize) -> String {
    const WORDS: [&str; 10] = [
        "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth",
        "tenth",
    ];
    if let Some(word) = n.checked_sub(1).and_then(|i| WORDS.get(i)) {
        return (*word).to_string();
    }
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::default_scenario;

    /// The default scenario: conv1, pool1 (mean), conv2, pool2 (mean), 3 steps.
    fn parse(text: &str) -> Result<Vec<GivenTensor>, String> {
        let s = default_scenario();
        parse_theirs(text, &s.model, s.steps).map_err(|e| e.to_string())
    }

    #[test]
    fn keys_may_come_in_any_order() {
        // `step` after the layers, `name` and `type` after the tensors.
        let given = parse(
            r#"{"steps": [{"layers": [{"bias": ["NaN"], "type": "conv", "name": "conv2"}],
                "step": 2, "loss": 1.5}], "producer": {"ignored": [1, 2]}}"#,
        )
        .unwrap();
        let seen: Vec<_> = given
            .iter()
            .map(|g| (g.step, g.layer, g.tensor.as_str(), g.path.as_str()))
            .collect();
        assert_eq!(
            seen,
            [
                (2, Some(2), "bias", "steps[0].layers[0].bias"),
                (2, None, "loss", "steps[0].loss"),
            ]
        );
        assert!(given[0].values[[0]].is_nan());
        assert_eq!(given[1].values.shape(), [0usize; 0]);
    }

    #[test]
    fn the_layer_is_known_before_its_tensors_are_judged() {
        // Its name decides: an unknown name is reported first, wherever it stands.
        assert_eq!(
            parse(r#"{"steps": [{"layers": [{"delta_inptu": [1], "name": "conv9"}]}]}"#)
                .unwrap_err(),
            "steps[0].layers[0].name: no layer named \"conv9\" in the scenario (its layers: conv1, pool1, conv2, pool2)"
        );
        // A tensor of another layer type is read, then refused once the layer is known.
        assert_eq!(
            parse(r#"{"steps": [{"layers": [{"output": [1], "name": "conv1"}]}]}"#).unwrap_err(),
            "steps[0].layers[0].output: unknown tensor for a conv layer (its tensors: input, weights, bias, z, a, delta_a, delta_z, grad_weights, grad_bias, delta_input)"
        );
        // Once the name is known, a wrong key is refused before its value is read.
        assert_eq!(
            parse(r#"{"steps": [{"layers": [{"name": "pool1", "argmax": {"x": 1}}]}]}"#)
                .unwrap_err(),
            "steps[0].layers[0].argmax: only max pooling has argmax"
        );
        assert_eq!(
            parse(r#"{"steps": [{"layers": [{"type": "pool"}]}]}"#).unwrap_err(),
            "steps[0].layers[0].type (no name: taken as conv1, the first layer): layer conv1 is a conv layer, not \"pool\""
        );
        assert_eq!(
            parse(r#"{"steps": [{"layers": [{"name": "pool1", "type": 3}]}]}"#).unwrap_err(),
            "steps[0].layers[0].type: layer pool1 is a pool layer: expected \"pool\", got the number 3"
        );
        assert_eq!(
            parse(r#"{"steps": [{"layers": [{}, {}, {}, {}, {"z": 1}]}]}"#).unwrap_err(),
            "steps[0].layers[4]: has no name and the scenario has only 4 layers (conv1, pool1, conv2, pool2)"
        );
    }

    #[test]
    fn a_key_given_twice_in_a_layer_entry_is_refused() {
        for (text, expected) in [
            (
                r#"{"steps": [{"layers": [{"name": "conv1", "name": "conv2"}]}]}"#,
                "steps[0].layers[0].name: is given twice",
            ),
            (
                r#"{"steps": [{"layers": [{"type": "conv", "name": "conv1", "type": "conv"}]}]}"#,
                "steps[0].layers[0].type: is given twice",
            ),
            // Tensors too, named or not: which of the two would be compared?
            (
                r#"{"steps": [{"layers": [{"name": "conv1", "bias": [1, 2], "bias": [3, 4]}]}]}"#,
                "steps[0].layers[0].bias: is given twice",
            ),
            (
                r#"{"steps": [{"layers": [{"bias": [1, 2], "bias": [3, 4]}]}]}"#,
                "steps[0].layers[0].bias: is given twice",
            ),
        ] {
            assert_eq!(parse(text).unwrap_err(), expected, "{text}");
        }
    }

    #[test]
    fn a_key_that_is_no_tensor_of_any_layer_is_refused_by_its_name_unread() {
        // loss_grad belongs to the step, not to a layer: whatever it holds, the message
        // is about the key, once the layer is known.
        let conv = "unknown tensor for a conv layer (its tensors: input, weights, bias, z, a, delta_a, delta_z, grad_weights, grad_bias, delta_input)";
        assert_eq!(
            parse(r#"{"steps": [{"layers": [{"loss_grad": {"mean": 0.3}}]}]}"#).unwrap_err(),
            format!(
                "steps[0].layers[0].loss_grad (no name: taken as conv1, the first layer): {conv}"
            )
        );
        assert_eq!(
            parse(r#"{"steps": [{"layers": [{"target": "t", "name": "conv2"}]}]}"#).unwrap_err(),
            format!("steps[0].layers[0].target: {conv}")
        );
    }

    #[test]
    fn an_entry_without_a_name_says_which_layer_it_was_taken_as() {
        assert_eq!(
            parse(r#"{"steps": [{"layers": [{}, {"delta_inptu": [1]}]}]}"#).unwrap_err(),
            "steps[0].layers[1].delta_inptu (no name: taken as pool1, the second layer): unknown tensor for a pool layer (its tensors: input, output, argmax, delta_output, delta_input)"
        );
        assert_eq!(
            parse(r#"{"steps": [{"layers": [{}, {}, {"output": 1}]}]}"#).unwrap_err(),
            "steps[0].layers[2].output (no name: taken as conv2, the third layer): unknown tensor for a conv layer (its tensors: input, weights, bias, z, a, delta_a, delta_z, grad_weights, grad_bias, delta_input)"
        );
        // The tensor's path says so too, for the shape check against the reference.
        let given = parse(r#"{"steps": [{"layers": [{"z": [1]}]}]}"#).unwrap();
        assert_eq!(
            given[0].path,
            "steps[0].layers[0].z (no name: taken as conv1, the first layer)"
        );
        // A named entry's path is only its path.
        let given = parse(r#"{"steps": [{"layers": [{"name": "conv1", "z": [1]}]}]}"#).unwrap();
        assert_eq!(given[0].path, "steps[0].layers[0].z");
        let ordinals: Vec<String> = [1, 2, 10, 11, 12, 13, 21, 22, 23, 104, 111]
            .into_iter()
            .map(ordinal)
            .collect();
        assert_eq!(
            ordinals,
            [
                "first", "second", "tenth", "11th", "12th", "13th", "21st", "22nd", "23rd",
                "104th", "111th"
            ]
        );
    }

    #[test]
    fn a_trace_must_hold_a_tensor_and_known_top_level_keys() {
        let empty = "steps: the trace holds no tensor: there is nothing to compare (give at least one, such as a layer's delta_input)";
        assert_eq!(parse(r#"{"steps": []}"#).unwrap_err(), empty);
        assert_eq!(
            parse(r#"{"steps": [{"step": 2}, {"layers": [{"name": "conv1"}]}]}"#).unwrap_err(),
            empty
        );
        // Found by fuzzing: the empty key needs a path of its own.
        assert_eq!(
            parse("\t{\"\"&").unwrap_err(),
            "\"\": unknown field (a trace has: steps; an export also writes format, version, name, producer)"
        );
        assert_eq!(
            parse(r#"{"stepz": [{"loss": 1}]}"#).unwrap_err(),
            "stepz: unknown field (a trace has: steps; an export also writes format, version, name, producer)"
        );
        assert_eq!(
            parse(r#"{"steps": [{"loss": 1}], "name": "a", "name": "b"}"#).unwrap_err(),
            "name: is given twice"
        );
        // Every key `deltascope export` writes is read past.
        let given = parse(
            r#"{"format": "deltascope-trace", "version": 1, "name": "x", "producer": "deltascope 0.1.0",
                "steps": [{"loss": 1}]}"#,
        )
        .unwrap();
        assert_eq!(given.len(), 1);
    }

    #[test]
    fn bare_non_finite_tokens_get_the_strings_to_write() {
        let hint = "is not JSON (though Python's json.dump writes it): write a value that is not finite as the string \"NaN\", \"inf\" or \"-inf\"";
        assert_eq!(
            parse(r#"{"steps": [{"layers": [{"name": "conv1", "bias": [NaN]}]}]}"#).unwrap_err(),
            format!("steps[0].layers[0].bias[0]: NaN {hint} at line 1 column 51")
        );
        assert_eq!(
            parse("{\"steps\": [{\"loss_grad\": [[[1]],\n  [[-Infinity]]]}]}").unwrap_err(),
            format!("steps[0].loss_grad[1][0][0]: -Infinity {hint} at line 2 column 5")
        );
        assert_eq!(
            parse(r#"{"steps": [{"loss": Infinity}]}"#).unwrap_err(),
            format!("steps[0].loss: Infinity {hint} at line 1 column 21")
        );
        // Other bare words keep serde's message.
        assert_eq!(
            parse(r#"{"steps": [{"loss": NaNo}]}"#).unwrap_err(),
            "steps[0].loss: expected value at line 1 column 21"
        );
    }

    #[test]
    fn steps_are_claimed_once_and_within_the_scenario() {
        assert_eq!(
            parse(r#"{"steps": [{"step": 1}, {"loss": 1}, {}]}"#).unwrap_err(),
            "steps[1].step: step 1 appears twice"
        );
        assert_eq!(
            parse(r#"{"steps": [{"step": 3, "layers": 7}]}"#).unwrap_err(),
            "steps[0].step: step 3 is past the scenario's last step, 2"
        );
        assert_eq!(
            parse(r#"{"steps": [{"step": -1}]}"#).unwrap_err(),
            "steps[0].step: expected a non-negative integer, got the number -1"
        );
        assert_eq!(
            parse(r#"{"steps": [{"step": 0, "step": 0}]}"#).unwrap_err(),
            "steps[0].step: is given twice"
        );
    }

    #[test]
    fn other_values_are_described_not_held() {
        assert_eq!(
            parse(r#"{"steps": [[1, [2, 3]]]}"#).unwrap_err(),
            "steps[0]: expected an object, got an array of 2"
        );
        assert_eq!(
            parse(r#"{"steps": [{"layers": {"name": "conv1"}}]}"#).unwrap_err(),
            "steps[0].layers: expected an array of layers, got an object"
        );
        assert_eq!(
            parse(r#"{"steps": [{"layers": [{"name": 1.0}]}]}"#).unwrap_err(),
            "steps[0].layers[0].name: expected a string, got the number 1.0"
        );
        assert_eq!(
            parse(r#"{"steps": "all"}"#).unwrap_err(),
            "steps: expected an array of steps"
        );
        assert_eq!(
            parse("{}").unwrap_err(),
            "steps: is required: an array of steps"
        );
        assert_eq!(
            parse("[]").unwrap_err(),
            "invalid type: sequence, expected a trace: a JSON object with `steps` at line 1 column 0"
        );
        // Tensors and syntax errors carry the line and column too.
        assert_eq!(
            parse(r#"{"steps": [{"loss_grad": [1, "x"]}]}"#).unwrap_err(),
            "steps[0].loss_grad[1]: expected a number, \"NaN\", \"inf\" or \"-inf\", got \"x\" at line 1 column 32"
        );
        assert_eq!(
            parse(r#"{"steps": [{"loss": 1}] x"#).unwrap_err(),
            "expected `,` or `}` at line 1 column 25"
        );
    }
}
