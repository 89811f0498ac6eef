//! The backward pass agrees with central differences on random architectures.

use deltascope::check::{CheckOptions, gradient_check};
use deltascope::scenario;
use proptest::prelude::*;
use serde_json::{Value, json};

const ACTIVATIONS: [&str; 5] = ["relu", "leaky_relu", "sigmoid", "tanh", "identity"];
const POOLS: [&str; 3] = ["max", "mean", "l2"];

fn values(n: usize) -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(-1.0f64..1.0, n)
}

fn conv_layer() -> impl Strategy<Value = Value> {
    (1usize..=3, 1usize..=3, 1usize..=3, 1usize..=2, 0usize..=1, 0usize..5, any::<bool>()).prop_map(
        |(kernels, kh, kw, stride, padding, act, with_bias)| {
            let mut layer = json!({
                "type": "conv", "kernels": kernels, "kernel_size": [kh, kw],
                "stride": stride, "padding": padding, "activation": ACTIVATIONS[act], "init": "xavier"
            });
            if with_bias {
                layer["bias"] = json!((0..kernels).map(|k| 0.1 * k as f64 - 0.05).collect::<Vec<_>>());
            }
            layer
        },
    )
}

fn pool_layer() -> impl Strategy<Value = Value> {
    (0usize..3, 1usize..=3, 1usize..=3).prop_map(|(kind, size, stride)| {
        json!({"type": "pool", "kind": POOLS[kind], "size": size, "stride": stride.min(size)})
    })
}

/// conv → pool → (conv → pool)? → dense? with a random loss; inputs 1–3 channels, 5–9 cells a side.
fn scenario() -> impl Strategy<Value = Value> {
    (
        1usize..=3,
        5usize..=9,
        5usize..=9,
        conv_layer(),
        pool_layer(),
        prop::option::of((conv_layer(), pool_layer())),
        prop::option::of(1usize..=4),
        0usize..3,
        any::<u64>(),
    )
        .prop_flat_map(|(c, h, w, conv1, pool1, block2, dense, loss, seed)| {
            (values(c * h * w), Just((c, h, w, conv1, pool1, block2, dense, loss, seed)))
        })
        .prop_map(|(input, (c, h, w, conv1, pool1, block2, dense, loss, seed))| {
            let input: Vec<Vec<Vec<f64>>> = input.chunks(h * w).map(|p| p.chunks(w).map(<[f64]>::to_vec).collect()).collect();
            assert_eq!(input.len(), c);
            let mut layers = vec![conv1, pool1];
            if let Some((conv2, pool2)) = block2 {
                layers.extend([conv2, pool2]);
            }
            if let Some(outputs) = dense {
                layers.push(json!({"type": "dense", "outputs": outputs, "activation": "tanh"}));
            }
            json!({"name": "random", "seed": seed, "input": input, "layers": layers, "loss_choice": loss})
        })
}

/// Attach a loss whose target has the final output's shape (known only after validation).
fn with_loss(mut v: Value) -> Option<scenario::Scenario> {
    let choice = v.as_object_mut()?.remove("loss_choice")?.as_u64()?;
    v["loss"] = json!({"kind": "cross_entropy", "class": 0});
    let probe = scenario::parse(&v.to_string()).ok()?; // geometry that does not fit is skipped
    let output = probe.model.forward().output;
    let target: Vec<f64> = (0..output.len())
        .map(|i| (i % 3) as f64 * 0.5 - 0.25)
        .collect();
    let target = ndarray::ArrayD::from_shape_vec(output.raw_dim(), target).ok()?;
    let target_json = deltascope::tensor_json::tensor_to_json(&target.view());
    v["loss"] = match choice {
        0 => json!({"kind": "mse", "target": target_json}),
        1 => json!({"kind": "half_sse", "target": target_json}),
        _ => json!({"kind": "cross_entropy", "class": output.len() - 1}),
    };
    Some(
        scenario::parse(&v.to_string())
            .expect("the same scenario with a well-shaped target is valid"),
    )
}

proptest! {
    // 96 cases in `cargo test`; PROPTEST_CASES=N explores further.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(96),
        ..ProptestConfig::default()
    })]

    #[test]
    fn backward_pass_matches_central_differences(v in scenario()) {
        let Some(s) = with_loss(v.clone()) else { return Ok(()) };
        let report = gradient_check(&s.model, CheckOptions::default());
        prop_assert!(report.passed(), "{}\n{}", report.to_text(&s.name), v);
        let judged: usize = report.tensors.iter().map(|t| t.cells - t.kinks.len()).sum();
        prop_assert!(judged > 0);
    }
}
