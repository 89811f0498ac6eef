//! The hot kernels of a training step, on the layer shapes of the benchmark scenarios
//! (scenarios/bench). Run with `cargo bench --bench kernels`; `DELTASCOPE_PORTABLE=1` times the
//! portable path (matrixmultiply) instead of the AVX-512 kernels.

use std::path::Path;

use deltascope::engine::network::{LayerForward, Workspace};
use deltascope::engine::{LayerKind, Model, PathChoice};
use divan::{Bencher, black_box};
use ndarray::{Array1, Array3, Array4};

fn main() {
    divan::main();
}

const SCENARIOS: [&str; 3] = ["seed", "digits", "large"];

fn model(name: &str) -> Model {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios/bench")
        .join(format!("{name}.json"));
    deltascope::scenario::load(&path)
        .expect("bundled benchmark scenario")
        .model
}

/// A whole training step into a reused workspace: every tensor of the trace, then SGD.
#[divan::bench(args = SCENARIOS)]
fn train_step(bencher: Bencher, name: &str) {
    let mut m = model(name);
    let mut ws: Workspace = m.workspace();
    let mut step = 0;
    bencher.bench_local(|| {
        m.train_step_into(step, &mut ws);
        step += 1;
    });
}

#[divan::bench(args = SCENARIOS)]
fn forward(bencher: Bencher, name: &str) {
    let m = model(name);
    let mut ws = m.workspace();
    bencher.bench_local(|| m.forward_into(&mut ws));
}

#[divan::bench(args = SCENARIOS)]
fn backward(bencher: Bencher, name: &str) {
    let m = model(name);
    let mut ws = m.workspace();
    m.forward_into(&mut ws);
    bencher.bench_local(|| m.backward_into(&mut ws));
}

/// Each conv layer of a scenario on its own: (layer, input) of the step-0 forward pass.
fn convs(name: &str) -> Vec<(deltascope::engine::Conv, Array3<f64>)> {
    let m = model(name);
    let pass = m.forward();
    m.layers
        .iter()
        .zip(pass.layers)
        .filter_map(|(layer, fwd)| match (&layer.kind, fwd) {
            (LayerKind::Conv(c), LayerForward::Conv { input, .. }) => Some((c.clone(), input)),
            _ => None,
        })
        .collect()
}

const CONV_LAYERS: [(&str, usize); 4] = [("digits", 0), ("digits", 1), ("large", 0), ("large", 1)];

#[divan::bench(args = CONV_LAYERS)]
fn conv_forward(bencher: Bencher, (name, index): (&str, usize)) {
    let (conv, input) = convs(name).swap_remove(index);
    let mut scratch = conv.scratch(input.dim(), PathChoice::BySize);
    let out = conv.forward(&input);
    let (mut z, mut a) = (out.z.clone(), out.a);
    bencher.bench_local(|| conv.forward_into(&input.view(), &mut scratch, &mut z, &mut a));
}

/// The backward pass with δ as max pooling leaves it (one cell in four), as in the scenarios.
#[divan::bench(args = CONV_LAYERS)]
fn conv_backward(bencher: Bencher, (name, index): (&str, usize)) {
    let (conv, input) = convs(name).swap_remove(index);
    let mut scratch = conv.scratch(input.dim(), PathChoice::BySize);
    let out = conv.forward(&input);
    let (mut z, mut a) = (out.z.clone(), out.a.clone());
    conv.forward_into(&input.view(), &mut scratch, &mut z, &mut a);
    let mut delta_a = out.z.mapv(|v| v * 0.1);
    delta_a.iter_mut().enumerate().for_each(|(i, d)| {
        if i % 4 != 0 {
            *d = 0.0
        }
    });
    let (k, c, kh, kw) = conv.weights.dim();
    let mut delta_z = Array3::zeros(z.raw_dim());
    let mut grad_weights = Array4::zeros((k, c, kh, kw));
    let mut grad_bias = Array1::zeros(k);
    let mut delta_input = Array3::zeros(input.raw_dim());
    bencher.bench_local(|| {
        conv.backward_into(
            &input.view(),
            &z.view(),
            &a.view(),
            &delta_a.view(),
            &mut scratch,
            &mut delta_z,
            &mut grad_weights,
            &mut grad_bias,
            &mut delta_input,
        );
        black_box(&grad_weights);
    });
}

/// Max pooling 2×2, stride 2, on the first pool layer's input of each scenario.
#[divan::bench(args = ["digits", "large"])]
fn max_pool_forward(bencher: Bencher, name: &str) {
    let m = model(name);
    let pass = m.forward();
    let (pool, input) = m
        .layers
        .iter()
        .zip(pass.layers)
        .find_map(|(layer, fwd)| match (&layer.kind, fwd) {
            (LayerKind::Pool(p), LayerForward::Pool { input, .. }) => Some((p.clone(), input)),
            _ => None,
        })
        .expect("a pool layer");
    let out = pool.forward(&input);
    let mut output = out.output.clone();
    let mut argmax = out.argmax.clone().expect("max pooling");
    bencher.bench_local(|| {
        pool.forward_into(
            input.as_slice().expect("standard layout"),
            input.dim(),
            output.as_slice_mut().expect("standard layout"),
            argmax.as_slice_mut(),
        )
    });
}
