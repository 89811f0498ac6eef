//! The trace file, format v1: every tensor of every training step as nested JSON arrays.
//! Documented in docs/trace-format.md.

use std::io::Write;

use serde_json::{Map, Value, json};

use crate::engine::{LayerTrace, StepTrace, TensorName};
use crate::tensor_json::{index_tensor_to_json, number_to_json, tensor_to_json};

pub const TRACE_FORMAT: &str = "deltascope-trace";
pub const TRACE_VERSION: u64 = 1;

pub fn layer_to_json(name: &str, layer: &LayerTrace) -> Value {
    let mut entry = Map::new();
    entry.insert("type".into(), Value::from(layer.type_name()));
    if let LayerTrace::Pool(p) = layer {
        entry.insert("kind".into(), Value::from(p.kind.name()));
    }
    entry.insert("name".into(), Value::from(name));
    for (tensor, values) in layer.tensors() {
        entry.insert(tensor.as_str().into(), tensor_to_json(&values));
    }
    if let LayerTrace::Pool(p) = layer
        && let Some(argmax) = &p.argmax
    {
        entry.insert(
            TensorName::Argmax.as_str().into(),
            index_tensor_to_json(&argmax.view().into_dyn()),
        );
    }
    Value::Object(entry)
}

pub fn step_to_json(step: &StepTrace) -> Value {
    json!({
        "step": step.step,
        TensorName::Loss.as_str(): number_to_json(step.loss),
        TensorName::LossGrad.as_str(): tensor_to_json(&step.loss_grad.view()),
        "layers": step.layers.iter().map(|(name, t)| layer_to_json(name, t)).collect::<Vec<_>>(),
    })
}

/// Write the trace, one step at a time so that long runs need not be held in memory.
pub fn write_trace(
    out: &mut dyn Write,
    name: &str,
    steps: impl IntoIterator<Item = StepTrace>,
) -> std::io::Result<()> {
    write!(
        out,
        "{{\"format\":\"{TRACE_FORMAT}\",\"version\":{TRACE_VERSION},\"name\":{},\"producer\":\"deltascope {}\",\"steps\":[",
        Value::from(name),
        env!("CARGO_PKG_VERSION")
    )?;
    for (i, step) in steps.into_iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        out.write_all(b"\n")?;
        serde_json::to_writer(&mut *out, &step_to_json(&step))?;
    }
    out.write_all(b"\n]}\n")?;
    out.flush()
}

/// The key of a tensor in an `.npz` trace: `step0/conv1.weights`, `step2/loss_grad`.
pub fn npz_key(step: usize, layer: Option<&str>, tensor: TensorName) -> String {
    match layer {
        Some(layer) => format!("step{step}/{layer}.{tensor}"),
        None => format!("step{step}/{tensor}"),
    }
}

/// Write the trace as an `.npz` archive (what NumPy's `np.savez` writes and `np.load`
/// reads): every tensor of every step as a float64 array of its shape under
/// [`npz_key`], the loss as a 0-d array, max-pool switches as int64. The numbers are
/// the JSON export's, bit for bit.
pub fn write_trace_npz<W: std::io::Write + std::io::Seek>(
    out: W,
    steps: impl IntoIterator<Item = StepTrace>,
) -> std::io::Result<W> {
    let mut npz = ndarray_npy::NpzWriter::new(out);
    let io = |e: ndarray_npy::WriteNpzError| std::io::Error::other(e);
    for step in steps {
        let s = step.step;
        let loss = ndarray::arr0(step.loss);
        npz.add_array(npz_key(s, None, TensorName::Loss), &loss)
            .map_err(io)?;
        npz.add_array(npz_key(s, None, TensorName::LossGrad), &step.loss_grad)
            .map_err(io)?;
        for (name, layer) in &step.layers {
            for (tensor, values) in layer.tensors() {
                npz.add_array(npz_key(s, Some(name), tensor), &values)
                    .map_err(io)?;
            }
            if let LayerTrace::Pool(p) = layer
                && let Some(argmax) = &p.argmax
            {
                let switches = argmax.mapv(|i| i as i64);
                npz.add_array(npz_key(s, Some(name), TensorName::Argmax), &switches)
                    .map_err(io)?;
            }
        }
    }
    npz.finish().map_err(io)
}
