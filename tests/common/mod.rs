//! Shared by several test files: the bundled scenarios, and the shapes a model's layers must
//! produce, from the formulas of docs/scenario-format.md rather than from the engine.
#![allow(dead_code)]

pub mod traces;

use std::path::{Path, PathBuf};

use deltascope::engine::{LayerKind, Model};

/// Every `scenarios/*.json`, sorted.
pub fn bundled_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 8, "the bundled scenarios: {files:?}");
    files
}

/// Windows along one axis, floor mode: ⌊(n + 2p − k)/s⌋ + 1.
fn windows(n: usize, padding: usize, window: usize, stride: usize) -> usize {
    (n + 2 * padding - window) / stride + 1
}

/// The output shape of every layer of `model`: [K, Ho, Wo] after a conv, [C, Ho, Wo] after a
/// pool, [outputs] after a dense layer.
pub fn output_shapes(model: &Model) -> Vec<Vec<usize>> {
    let mut shape = model.input.shape().to_vec();
    let mut out = Vec::new();
    for layer in &model.layers {
        shape = match &layer.kind {
            LayerKind::Conv(c) => {
                let (k, _, kh, kw) = c.weights.dim();
                vec![
                    k,
                    windows(shape[1], c.padding[0], kh, c.stride[0]),
                    windows(shape[2], c.padding[1], kw, c.stride[1]),
                ]
            }
            LayerKind::Pool(p) => vec![
                shape[0],
                windows(shape[1], 0, p.size[0], p.stride[0]),
                windows(shape[2], 0, p.size[1], p.stride[1]),
            ],
            LayerKind::Dense(d) => vec![d.weights.dim().0],
        };
        out.push(shape.clone());
    }
    out
}
