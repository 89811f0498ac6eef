//! Every bundled scenario loads, runs all its steps, and passes the gradient check.

mod common;

use std::path::Path;

use deltascope::check::{CheckOptions, gradient_check};
use deltascope::engine::{LayerKind, LayerTrace, Model, StepTrace, TensorName};
use deltascope::scenario;
use deltascope::timeline::Timeline;

fn bundled() -> Vec<std::path::PathBuf> {
    common::bundled_files()
}

#[test]
fn every_bundled_scenario_passes_the_gradient_check() {
    let files = bundled();
    assert!(files.len() >= 8, "{files:?}");
    for file in files {
        let s = scenario::load(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert_eq!(
            Some(s.name.as_str()),
            file.file_stem().and_then(|n| n.to_str()),
            "name matches the file"
        );
        let report = gradient_check(&s.model, CheckOptions::default());
        assert!(report.passed(), "{}", report.to_text(&s.name));
    }
}

/// The weights and biases of every conv and dense layer, in layer order.
fn parameters(model: &Model) -> Vec<f64> {
    let mut out = Vec::new();
    for layer in &model.layers {
        match &layer.kind {
            LayerKind::Conv(c) => out.extend(c.weights.iter().chain(&c.bias)),
            LayerKind::Dense(d) => out.extend(d.weights.iter().chain(&d.bias)),
            LayerKind::Pool(_) => {}
        }
    }
    out
}

/// The parameters a step's trace says it used, and their gradients, in the same order.
fn traced(trace: &StepTrace) -> (Vec<f64>, Vec<f64>) {
    let (mut used, mut grads) = (Vec::new(), Vec::new());
    for (_, t) in &trace.layers {
        for (p, g) in [
            (TensorName::Weights, TensorName::GradWeights),
            (TensorName::Bias, TensorName::GradBias),
        ] {
            if let (Some(p), Some(g)) = (t.tensor(p), t.tensor(g)) {
                assert_eq!(p.shape(), g.shape());
                used.extend(p.iter());
                grads.extend(g.iter());
            }
        }
    }
    (used, grads)
}

/// Equal, NaN included (a diverging run carries NaN on).
fn same(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

/// Each layer of the trace has the shapes the scenario's geometry gives, and its name.
fn assert_shapes(at: &str, model: &Model, trace: &StepTrace) {
    let shapes = common::output_shapes(model);
    let names: Vec<&str> = model.layers.iter().map(|l| l.name.as_str()).collect();
    let traced: Vec<&str> = trace.layers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(traced, names, "{at}");
    let mut input = model.input.shape().to_vec();
    for ((name, t), output) in trace.layers.iter().zip(&shapes) {
        let shape = |tensor: &str| {
            let name = TensorName::parse(tensor).expect("a tensor name");
            t.tensor(name).unwrap().shape().to_vec()
        };
        let flat = |s: &[usize]| vec![s.iter().product::<usize>()];
        let want_input = match t {
            LayerTrace::Dense(_) => flat(&input),
            _ => input.clone(),
        };
        assert_eq!(shape("input"), want_input, "{at}: {name}.input");
        assert_eq!(shape("delta_input"), want_input, "{at}: {name}.delta_input");
        let outputs: &[&str] = match t {
            LayerTrace::Pool(_) => &["output", "delta_output"],
            _ => &["z", "a", "delta_a", "delta_z"],
        };
        for tensor in outputs {
            assert_eq!(&shape(tensor), output, "{at}: {name}.{tensor}");
        }
        if let LayerTrace::Conv(_) | LayerTrace::Dense(_) = t {
            assert_eq!(shape("grad_weights"), shape("weights"), "{at}: {name}");
            assert_eq!(shape("grad_bias"), vec![output[0]], "{at}: {name}");
        }
        input = output.clone();
    }
    assert_eq!(trace.output.shape(), &input[..], "{at}: output");
    assert_eq!(trace.loss_grad.shape(), &input[..], "{at}: loss_grad");
}

#[test]
fn every_bundled_scenario_runs_all_its_steps() {
    for file in common::bundled_files() {
        let s = scenario::load(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let lr = s.model.learning_rate;
        assert!(lr > 0.0, "{}: every bundled scenario learns", s.name);
        let mut model = s.model.clone();
        // What the debugger runs, step by step.
        let mut timeline = Timeline::new(s.model.clone(), s.steps);
        for step in 0..s.steps {
            let at = format!("{} step {step}", s.name);
            let before = parameters(&model);
            let loss = model.loss_value();
            let trace = model.train_step(step);
            assert_eq!(trace.step, step, "{at}");
            assert_shapes(&at, &s.model, &trace);
            // The loss of the parameters the step used, finite unless meant to diverge.
            assert!(same(trace.loss, loss), "{at}: {} vs {loss}", trace.loss);
            if s.name != "diverging" {
                assert!(trace.loss.is_finite(), "{at}: loss {}", trace.loss);
            }
            // The trace shows the parameters before the update; SGD moved each by −lr·∂L/∂θ.
            let (used, grads) = traced(&trace);
            let after = parameters(&model);
            assert_eq!(used.len(), before.len(), "{at}");
            for (i, ((&u, &b), (&a, &g))) in used
                .iter()
                .zip(&before)
                .zip(after.iter().zip(&grads))
                .enumerate()
            {
                assert!(same(u, b), "{at}: parameter {i} traced as {u}, was {b}");
                assert!(
                    same(a, b - lr * g),
                    "{at}: parameter {i}: {b} − {lr}·{g} gave {a}"
                );
            }
            // While the loss is finite, every step changes the model.
            if trace.loss.is_finite() {
                assert!(
                    before.iter().zip(&after).any(|(b, a)| !same(*a, *b)),
                    "{at}: nothing learnt"
                );
            }
            assert!(timeline.ensure(step), "{at}: the timeline runs it");
            let shown = &timeline.step(step).unwrap().trace;
            assert_eq!(shown.step, step, "{at}");
            assert!(
                same(shown.loss, trace.loss),
                "{at}: the timeline's loss {}",
                shown.loss
            );
            let (shown_used, shown_grads) = traced(shown);
            assert_eq!(shown_used.len(), used.len(), "{at}");
            assert!(
                shown_used
                    .iter()
                    .chain(&shown_grads)
                    .zip(used.iter().chain(&grads))
                    .all(|(a, b)| same(*a, *b)),
                "{at}: the timeline's step differs"
            );
        }
        assert_eq!(timeline.computed_steps(), s.steps, "{}", s.name);
    }
}

#[test]
fn the_diverging_scenario_reaches_a_non_finite_loss_and_the_others_stay_finite() {
    for file in bundled() {
        let s = scenario::load(&file).unwrap();
        let mut model = s.model.clone();
        let losses: Vec<f64> = (0..s.steps)
            .map(|step| model.train_step(step).loss)
            .collect();
        let finite = losses.iter().all(|l| l.is_finite());
        assert_eq!(finite, s.name != "diverging", "{}: {losses:?}", s.name);
    }
}

#[test]
fn the_default_scenario_is_the_bundled_mean_pool_classic() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/mean_pool_classic.json");
    assert_eq!(scenario::load(&file).unwrap(), scenario::default_scenario());
}
