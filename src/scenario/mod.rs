//! Scenario files, format v1: parsing, validation with field paths, and the built-in
//! default scenario. A validated `Scenario` always runs: every geometry fits, every
//! shape agrees and every size is within the limits in `limits`.

pub mod limits;
mod raw;
pub mod tensor;

use std::marker::PhantomData;
use std::path::Path;

use ndarray::{Array1, Array2, Array3, Array4, ArrayD, Ix1, Ix2, Ix4};

use crate::engine::geometry::window_count;
use crate::engine::init::{Init, LayerRng};
use crate::engine::{Activation, Conv, Dense, Layer, LayerKind, Loss, Model, Pool};
use crate::error::FieldError;
use limits::*;
use raw::{LayerType, LossKind, Object, Pair, RawLayer, RawLoss, RawScenario};
use tensor::{FileLimit, RawTensor, read_document};

/// The scenario built into the binary, used when no file is given.
pub const DEFAULT_SCENARIO_NAME: &str = "mean_pool_classic";
pub const DEFAULT_SCENARIO_JSON: &str = include_str!("../../scenarios/mean_pool_classic.json");

#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    pub name: String,
    pub description: Option<String>,
    pub seed: u64,
    pub steps: usize,
    /// Network, input, loss and learning rate, with the initial parameters.
    pub model: Model,
}

/// Read and validate a scenario file. Errors carry the JSON path of the problem.
pub fn load(path: &Path) -> Result<Scenario, FieldError> {
    let text = crate::files::read_text(path, MAX_FILE_BYTES)
        .map_err(|e| FieldError::new("", e.to_string()))?;
    parse(&text)
}

pub fn default_scenario() -> Scenario {
    parse(DEFAULT_SCENARIO_JSON).expect("the built-in scenario is valid")
}

/// Parse and validate the text of a scenario file.
pub fn parse(text: &str) -> Result<Scenario, FieldError> {
    let raw = parse_raw(text)?;
    validate(raw)
}

fn parse_raw(text: &str) -> Result<RawScenario, FieldError> {
    // A step's trace holds every given tensor at least once, so a file whose tensors hold
    // more numbers than a step's trace may could never run.
    let limit = FileLimit {
        numbers: MAX_NUMBERS_PER_STEP,
        per: " per step",
    };
    let raw: Object<RawScenario> = read_document(text, PhantomData, limit)?;
    Ok(raw.0)
}

/// Shape of the tensor flowing between layers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    Maps([usize; 3]),
    Flat(usize),
}

impl Shape {
    fn len(self) -> usize {
        match self {
            Shape::Maps([c, h, w]) => c * h * w,
            Shape::Flat(n) => n,
        }
    }
    fn dims(self) -> Vec<usize> {
        match self {
            Shape::Maps(s) => s.to_vec(),
            Shape::Flat(n) => vec![n],
        }
    }
}

fn validate(raw: RawScenario) -> Result<Scenario, FieldError> {
    if raw.name.trim().is_empty() {
        return Err(FieldError::new("name", "must not be empty"));
    }
    let input = parse_input(raw.input)?;
    if raw.layers.is_empty() {
        return Err(FieldError::new("layers", "must hold at least one layer"));
    }
    // More than MAX_LAYERS layers were refused while reading.
    let seed = raw.seed.unwrap_or(0);
    let mut shape = Shape::Maps(input.dim().into());
    let mut step_numbers = 2 * shape.len(); // the input and its δ
    let mut layers: Vec<Layer> = Vec::with_capacity(raw.layers.len());
    let mut type_counts = [0usize; 3];
    for (index, mut layer) in raw.layers.into_iter().enumerate() {
        let path = format!("layers[{index}]");
        refuse_foreign_fields(&layer, &path)?;
        let count = &mut type_counts[layer.layer_type as usize];
        *count += 1;
        let name = match &layer.name {
            Some(n) if n.trim().is_empty() => {
                return Err(FieldError::new(format!("{path}.name"), "must not be empty"));
            }
            Some(n) => n.clone(),
            None => format!("{}{}", layer.layer_type.name(), count),
        };
        if let Some(first) = layers.iter().position(|l| l.name == name) {
            return Err(FieldError::new(
                format!("{path}.name"),
                format!(
                    "\"{name}\" is already the name of layers[{first}]; layer names must be unique"
                ),
            ));
        }
        // Each builder charges its numbers to the step before it draws any weights.
        let budget = Budget {
            used: step_numbers,
            path: &path,
        };
        let (kind, out_shape, numbers) = match layer.layer_type {
            LayerType::Conv => build_conv(&mut layer, budget, shape, seed, index)?,
            LayerType::Pool => build_pool(&layer, budget, shape)?,
            LayerType::Dense => build_dense(&mut layer, budget, shape, seed, index)?,
        };
        step_numbers += numbers;
        shape = out_shape;
        layers.push(Layer { name, kind });
    }
    let loss = build_loss(raw.loss.0, shape)?;
    let learning_rate = raw.learning_rate.unwrap_or(0.1);
    // JSON has no NaN or infinity, so a finite value is all that reaches here.
    if learning_rate < 0.0 {
        return Err(FieldError::new(
            "learning_rate",
            format!("must be zero or positive, got {learning_rate}"),
        ));
    }
    let steps = raw.steps.unwrap_or(1);
    if steps == 0 {
        return Err(FieldError::new("steps", "must be at least 1"));
    }
    if steps > MAX_STEPS as u64 {
        return Err(FieldError::new(
            "steps",
            format!("{steps} exceeds the limit of {MAX_STEPS} steps"),
        ));
    }
    Ok(Scenario {
        name: raw.name,
        description: raw.description,
        seed,
        steps: steps as usize,
        model: Model {
            input,
            layers,
            loss,
            learning_rate,
        },
    })
}

fn parse_input(raw: RawTensor) -> Result<Array3<f64>, FieldError> {
    let t = raw.into_array();
    if t.is_empty() {
        return Err(FieldError::new(
            "input",
            format!("must not be empty, got shape {:?}", t.shape()),
        ));
    }
    let t = match t.ndim() {
        2 => t.insert_axis(ndarray::Axis(0)),
        3 => t,
        r => {
            return Err(FieldError::new(
                "input",
                format!(
                    "expected a [channels][height][width] or [height][width] array of numbers, got rank {r}"
                ),
            ));
        }
    };
    Ok(t.into_dimensionality().expect("rank checked"))
}

const CONV_FIELDS: &[&str] = &[
    "kernels",
    "kernel_size",
    "stride",
    "padding",
    "activation",
    "weights",
    "bias",
    "init",
];
const POOL_FIELDS: &[&str] = &["kind", "size", "stride"];
const DENSE_FIELDS: &[&str] = &["outputs", "activation", "weights", "bias", "init"];

fn refuse_foreign_fields(layer: &RawLayer, path: &str) -> Result<(), FieldError> {
    let allowed = match layer.layer_type {
        LayerType::Conv => CONV_FIELDS,
        LayerType::Pool => POOL_FIELDS,
        LayerType::Dense => DENSE_FIELDS,
    };
    if let Some(field) = layer
        .present_fields()
        .into_iter()
        .find(|f| !allowed.contains(f))
    {
        return Err(FieldError::new(
            format!("{path}.{field}"),
            format!(
                "not a field of a {} layer (its fields: name, {})",
                layer.layer_type.name(),
                allowed.join(", ")
            ),
        ));
    }
    Ok(())
}

fn positive_pair(
    pair: Option<Pair>,
    default: Option<[usize; 2]>,
    path: &str,
) -> Result<[usize; 2], FieldError> {
    match (pair, default) {
        (Some(Pair([h, w])), _) => {
            if h == 0 || w == 0 {
                return Err(FieldError::new(
                    path,
                    format!("must be at least 1, got [{h}, {w}]"),
                ));
            }
            Ok([to_usize(h, path)?, to_usize(w, path)?])
        }
        (None, Some(d)) => Ok(d),
        (None, None) => Err(FieldError::new(path, "is required")),
    }
}

fn to_usize(v: u64, path: &str) -> Result<usize, FieldError> {
    usize::try_from(v)
        .ok()
        .filter(|&v| v <= MAX_NUMBERS_PER_TENSOR)
        .ok_or_else(|| FieldError::new(path, format!("{v} is larger than any tensor this tool accepts ({MAX_NUMBERS_PER_TENSOR} numbers)")))
}

fn product(dims: &[usize]) -> Option<usize> {
    dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}

fn check_tensor_size(dims: &[usize], path: &str, what: &str) -> Result<usize, FieldError> {
    match product(dims) {
        Some(n) if n <= MAX_NUMBERS_PER_TENSOR => Ok(n),
        _ => Err(FieldError::new(
            path,
            format!(
                "{what} of shape {dims:?} would exceed the limit of {MAX_NUMBERS_PER_TENSOR} numbers per tensor"
            ),
        )),
    }
}

fn maps_input(shape: Shape, layer_type: LayerType, path: &str) -> Result<[usize; 3], FieldError> {
    match shape {
        Shape::Maps(s) => Ok(s),
        Shape::Flat(n) => Err(FieldError::new(
            path,
            format!(
                "a {} layer needs [channels][height][width] maps, but the layer before it is dense with {n} flat outputs",
                layer_type.name()
            ),
        )),
    }
}

/// The per-step budget of numbers, as a layer finds it: `used` by the input and the layers
/// before it. The layer's own numbers are charged before anything of its own is allocated.
#[derive(Clone, Copy)]
struct Budget<'a> {
    used: usize,
    /// The layer's path, `layers[2]`.
    path: &'a str,
}

impl Budget<'_> {
    fn charge(self, numbers: usize) -> Result<usize, FieldError> {
        if self.used.saturating_add(numbers) > MAX_NUMBERS_PER_STEP {
            return Err(FieldError::new(
                self.path,
                format!(
                    "the trace of one step would hold more than the limit of {MAX_NUMBERS_PER_STEP} numbers"
                ),
            ));
        }
        Ok(numbers)
    }
}

fn expect_shape(t: &ArrayD<f64>, expected: &[usize], path: &str) -> Result<(), FieldError> {
    if t.shape() != expected {
        return Err(FieldError::new(
            path,
            format!("expected shape {expected:?}, got {:?}", t.shape()),
        ));
    }
    Ok(())
}

/// Returns the layer, its output shape and how many numbers its trace holds.
fn build_conv(
    layer: &mut RawLayer,
    budget: Budget<'_>,
    input: Shape,
    seed: u64,
    index: usize,
) -> Result<(LayerKind, Shape, usize), FieldError> {
    let path = budget.path;
    let [c, h, w] = maps_input(input, LayerType::Conv, path)?;
    let weights = layer.weights.take().map(RawTensor::into_array);
    let given_dims = weights.as_ref().map(|t| t.shape().to_vec());
    if let Some(d) = &given_dims
        && d.len() != 4
    {
        return Err(FieldError::new(
            format!("{path}.weights"),
            format!("expected a [kernels][channels][kh][kw] array, got shape {d:?}"),
        ));
    }
    let kernels = match (layer.kernels, &given_dims) {
        (Some(0), _) => {
            return Err(FieldError::new(
                format!("{path}.kernels"),
                "must be at least 1",
            ));
        }
        (Some(k), _) => to_usize(k, &format!("{path}.kernels"))?,
        (None, Some(d)) => d[0],
        (None, None) => {
            return Err(FieldError::new(
                format!("{path}.kernels"),
                "is required when weights are not given",
            ));
        }
    };
    let kernel_size = positive_pair(
        layer.kernel_size,
        given_dims.as_ref().map(|d| [d[2], d[3]]),
        &format!("{path}.kernel_size"),
    )?;
    let stride = positive_pair(layer.stride, Some([1, 1]), &format!("{path}.stride"))?;
    let padding = match layer.padding {
        Some(Pair([ph, pw])) => [
            to_usize(ph, &format!("{path}.padding"))?,
            to_usize(pw, &format!("{path}.padding"))?,
        ],
        None => [0, 0],
    };
    let weight_dims = [kernels, c, kernel_size[0], kernel_size[1]];
    let weight_count = check_tensor_size(&weight_dims, &format!("{path}.weights"), "weights")?;
    if let Some(t) = &weights {
        expect_shape(t, &weight_dims, &format!("{path}.weights"))?;
    }
    let bias = parse_bias(layer.bias.take(), kernels, &format!("{path}.bias"))?;
    let out = match (
        window_count(h, padding[0], kernel_size[0], stride[0]),
        window_count(w, padding[1], kernel_size[1], stride[1]),
    ) {
        (Some(ho), Some(wo)) => [kernels, ho, wo],
        _ => {
            return Err(FieldError::new(
                path,
                format!(
                    "kernel {}x{} does not fit its padded input {}x{} (input {h}x{w}, padding [{}, {}]): the output map would be empty",
                    kernel_size[0],
                    kernel_size[1],
                    h + 2 * padding[0],
                    w + 2 * padding[1],
                    padding[0],
                    padding[1]
                ),
            ));
        }
    };
    let out_count = check_tensor_size(&out, path, "the output")?;
    // input, δinput, weights, ∂w, z, a, δa, δz (biases are negligible)
    let numbers = budget.charge(2 * c * h * w + 2 * weight_count + 4 * out_count + 2 * kernels)?;
    let weights: Array4<f64> = match weights {
        Some(t) => t.into_dimensionality::<Ix4>().expect("shape checked"),
        None => {
            let fan_in = c * kernel_size[0] * kernel_size[1];
            let fan_out = kernels * kernel_size[0] * kernel_size[1];
            let mut rng = LayerRng::new(seed, index);
            let init = layer.init.unwrap_or(Init::He);
            Array4::from_shape_simple_fn(weight_dims, || rng.sample(init, fan_in, fan_out))
        }
    };
    let conv = Conv {
        weights,
        bias,
        stride,
        padding,
        activation: layer.activation.unwrap_or(Activation::Relu),
    };
    debug_assert_eq!(conv.output_shape([c, h, w]), Some(out));
    Ok((LayerKind::Conv(conv), Shape::Maps(out), numbers))
}

fn parse_bias(value: Option<RawTensor>, len: usize, path: &str) -> Result<Array1<f64>, FieldError> {
    match value.map(RawTensor::into_array) {
        Some(t) => {
            expect_shape(&t, &[len], path)?;
            Ok(t.into_dimensionality::<Ix1>().expect("shape checked"))
        }
        None => Ok(Array1::zeros(len)),
    }
}

fn build_pool(
    layer: &RawLayer,
    budget: Budget<'_>,
    input: Shape,
) -> Result<(LayerKind, Shape, usize), FieldError> {
    let path = budget.path;
    let [c, h, w] = maps_input(input, LayerType::Pool, path)?;
    let kind = layer.kind.ok_or_else(|| {
        FieldError::new(format!("{path}.kind"), "is required: one of max, mean, l2")
    })?;
    let size = positive_pair(layer.size, None, &format!("{path}.size"))?;
    let stride = positive_pair(layer.stride, Some(size), &format!("{path}.stride"))?;
    let pool = Pool { kind, size, stride };
    let out = pool.output_shape([c, h, w]).ok_or_else(|| {
        FieldError::new(
            path,
            format!(
                "pool window {}x{} is larger than its input {h}x{w}: the output map would be empty",
                size[0], size[1]
            ),
        )
    })?;
    let out_count = check_tensor_size(&out, path, "the output")?;
    let numbers = budget.charge(2 * c * h * w + 3 * out_count)?;
    Ok((LayerKind::Pool(pool), Shape::Maps(out), numbers))
}

fn build_dense(
    layer: &mut RawLayer,
    budget: Budget<'_>,
    input: Shape,
    seed: u64,
    index: usize,
) -> Result<(LayerKind, Shape, usize), FieldError> {
    let path = budget.path;
    let inputs = input.len();
    let weights = layer.weights.take().map(RawTensor::into_array);
    let outputs = match (layer.outputs, &weights) {
        (Some(0), _) => {
            return Err(FieldError::new(
                format!("{path}.outputs"),
                "must be at least 1",
            ));
        }
        (Some(n), _) => to_usize(n, &format!("{path}.outputs"))?,
        (None, Some(t)) if t.ndim() == 2 => t.shape()[0],
        (None, Some(t)) => {
            return Err(FieldError::new(
                format!("{path}.weights"),
                format!(
                    "expected an [outputs][inputs] array, got shape {:?}",
                    t.shape()
                ),
            ));
        }
        (None, None) => {
            return Err(FieldError::new(
                format!("{path}.outputs"),
                "is required when weights are not given",
            ));
        }
    };
    let dims = [outputs, inputs];
    let weight_count = check_tensor_size(&dims, &format!("{path}.weights"), "weights")?;
    if let Some(t) = &weights {
        expect_shape(t, &dims, &format!("{path}.weights"))?;
    }
    let bias = parse_bias(layer.bias.take(), outputs, &format!("{path}.bias"))?;
    let numbers = budget.charge(2 * inputs + 2 * weight_count + 6 * outputs)?;
    let weights: Array2<f64> = match weights {
        Some(t) => t.into_dimensionality::<Ix2>().expect("shape checked"),
        None => {
            let mut rng = LayerRng::new(seed, index);
            let init = layer.init.unwrap_or(Init::Xavier);
            Array2::from_shape_simple_fn(dims, || rng.sample(init, inputs, outputs))
        }
    };
    let dense = Dense {
        weights,
        bias,
        activation: layer.activation.unwrap_or(Activation::Identity),
    };
    Ok((LayerKind::Dense(dense), Shape::Flat(outputs), numbers))
}

fn build_loss(raw: RawLoss, output: Shape) -> Result<Loss, FieldError> {
    let kind = raw.kind;
    let foreign = |field: &str, fields: &str| {
        FieldError::new(
            format!("loss.{field}"),
            format!(
                "not a field of a {} loss (its fields: {fields})",
                kind.name()
            ),
        )
    };
    let required = |field: &str| {
        FieldError::new(
            format!("loss.{field}"),
            format!("is required for a {} loss", kind.name()),
        )
    };
    let target = |raw: RawLoss| -> Result<ArrayD<f64>, FieldError> {
        if raw.class.is_some() {
            return Err(foreign("class", "kind, target"));
        }
        let mut t = raw.target.ok_or_else(|| required("target"))?.into_array();
        // As for the input, a [height][width] target stands for a single channel.
        if t.ndim() == 2 && matches!(output, Shape::Maps([1, _, _])) {
            t = t.insert_axis(ndarray::Axis(0));
        }
        expect_shape(&t, &output.dims(), "loss.target")?;
        Ok(t)
    };
    Ok(match kind {
        LossKind::Mse => Loss::Mse {
            target: target(raw)?,
        },
        LossKind::HalfSse => Loss::HalfSse {
            target: target(raw)?,
        },
        LossKind::CrossEntropy => {
            if raw.target.is_some() {
                return Err(foreign("target", "kind, class"));
            }
            let class = raw.class.ok_or_else(|| required("class"))?;
            let n = output.len();
            if class >= n as u64 {
                return Err(FieldError::new(
                    "loss.class",
                    format!(
                        "{class} is out of range: the final output has {n} values (classes 0 to {})",
                        n - 1
                    ),
                ));
            }
            Loss::CrossEntropy {
                class: class as usize,
            }
        }
    })
}

#[cfg(test)]
mod tests;
