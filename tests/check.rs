//! What `deltascope check` judges and how its report reads, on small hand-made scenarios
//! whose every number is known (tests/gradient_check_props.rs checks random networks; the
//! command line itself is in tests/cli.rs).

use deltascope::check::{
    CellCheck, CheckOptions, CheckReport, DEFAULT_SAMPLE, Kink, REL_ERROR_FLOOR, SAMPLE_ALL_UP_TO,
    Target, TensorCheck, cells_probed, gradient_check, sampled_cells,
};
use deltascope::scenario;

fn check(json: &str) -> CheckReport {
    let s = scenario::parse(json).unwrap();
    gradient_check(&s.model, CheckOptions::default())
}

fn tensor<'a>(report: &'a CheckReport, label: &str) -> &'a TensorCheck {
    report
        .tensors
        .iter()
        .find(|t| t.label == label)
        .unwrap_or_else(|| panic!("no tensor {label}"))
}

/// A saturated sigmoid (z = −1000, a = 0 exactly) under a weight of 1e308: δa = 1e308·2
/// overflows to inf and δz = inf·σ′ = inf·0 = NaN, in the input, dense1.weights and
/// dense1.bias. The loss does not move with those cells (σ stays 0), so their difference
/// quotient is exactly 0.
const NAN_BEHIND_A_FLAT_LOSS: &str = r#"{"name": "nan_behind_a_flat_loss", "input": [[[1]]],
  "layers": [{"type": "dense", "weights": [[-1000]], "activation": "sigmoid"},
             {"type": "dense", "weights": [[1e308]]}],
  "loss": {"kind": "half_sse", "target": [-2]}}"#;

#[test]
fn a_nan_gradient_fails_even_where_the_loss_is_flat_and_is_not_measured_again() {
    let report = check(NAN_BEHIND_A_FLAT_LOSS);
    assert!(!report.passed());
    for label in ["input", "dense1.weights", "dense1.bias"] {
        let t = tensor(&report, label);
        assert_eq!(t.failures.len(), 1, "{label}");
        let cell = &t.failures[0];
        assert!(cell.analytic.is_nan() && cell.numeric == 0.0, "{cell:?}");
        // The column of maxima shows the NaN, not the largest finite error (none here).
        assert!(t.max_abs_error.is_nan(), "{label}: {}", t.max_abs_error);
        // Judged as it is: halving h is about truncation error, not about a NaN.
        assert_eq!(t.refined, 0, "{label}");
    }
    assert!(tensor(&report, "dense2.bias").passed());
}

// The report's wording, on reports made by hand.

fn cell(i: usize) -> CellCheck {
    CellCheck {
        index: vec![i],
        analytic: 1.0,
        numeric: 1.5,
    }
}

fn tensor_check(cells: usize, total: usize, failures: usize, kinks: usize) -> TensorCheck {
    TensorCheck {
        label: "conv1.weights".into(),
        target: Target::Weights(0),
        layer: 0,
        cells,
        total,
        max_abs_error: 0.5,
        max_rel_error: 1.0 / 3.0,
        failures: (0..failures).map(cell).collect(),
        kinks: (0..kinks)
            .map(|i| Kink {
                cell: cell(i),
                reason: "conv1.z[0, 0, 0] crosses 0 (the ReLU kink)".into(),
            })
            .collect(),
        refined: 0,
    }
}

fn report(tensors: Vec<TensorCheck>, sample: Option<usize>) -> CheckReport {
    CheckReport {
        options: CheckOptions {
            sample,
            ..CheckOptions::default()
        },
        loss: 0.5,
        tensors,
    }
}

#[test]
fn the_result_column_says_ok_or_how_many_cells_fail() {
    assert_eq!(tensor_check(9, 9, 0, 0).result_label(), "ok");
    assert_eq!(tensor_check(9, 9, 1, 0).result_label(), "FAIL (1 cell)");
    assert_eq!(tensor_check(9, 9, 3, 0).result_label(), "FAIL (3 cells)");
    let text = report(vec![tensor_check(9, 9, 3, 0)], Some(DEFAULT_SAMPLE)).to_text("s");
    assert!(
        text.contains(
            "conv1.weights                  9       5.0e-1       3.3e-1      0  FAIL (3 cells)\n"
        ),
        "{text}"
    );
}

#[test]
fn a_tensor_checked_whole_is_counted_alone_and_a_sampled_one_as_n_of_its_total() {
    assert_eq!(tensor_check(9, 9, 0, 0).cells_label(), "9");
    assert_eq!(tensor_check(256, 900, 0, 0).cells_label(), "256/900");
}

#[test]
fn the_sampling_note_appears_only_when_a_tensor_was_sampled() {
    let whole = || tensor_check(512, 512, 0, 0);
    let sampled = || tensor_check(256, 900, 0, 0);
    assert_eq!(
        report(vec![whole(), whole()], Some(DEFAULT_SAMPLE)).sampling_note(),
        None
    );
    let note = report(vec![whole(), sampled()], Some(DEFAULT_SAMPLE)).sampling_note();
    assert_eq!(
        note.as_deref(),
        Some(
            "n/N cells: a tensor of more than 512 cells is checked in 256 of them (the 32 largest gradients and the rest drawn at random, the same every run); `deltascope check --all` checks every cell"
        )
    );
    let text = report(vec![whole(), sampled()], Some(DEFAULT_SAMPLE)).to_text("s");
    assert!(text.contains(&format!("\n{}\n", note.unwrap())), "{text}");
    // `--all` (no sample) checks every cell, and says nothing about sampling.
    assert_eq!(report(vec![whole()], None).sampling_note(), None);
}

#[test]
fn at_most_ten_failing_cells_are_listed_per_tensor_and_the_rest_counted() {
    let listed = |text: &str| text.matches("conv1.weights[").count();
    let text = report(vec![tensor_check(40, 40, 10, 0)], None).to_text("s");
    assert_eq!(listed(&text), 10, "{text}");
    assert!(!text.contains("more"), "{text}");
    let text = report(vec![tensor_check(40, 40, 11, 0)], None).to_text("s");
    assert_eq!(listed(&text), 10, "{text}");
    assert!(text.contains("  conv1.weights[9]: analytic 1e0, numeric 1.5e0, abs err 5.0e-1, rel err 3.3e-1\n  … and 1 more\n"), "{text}");
    let text = report(vec![tensor_check(40, 40, 25, 0)], None).to_text("s");
    assert!(text.contains("\n  … and 15 more\n"), "{text}");
}

#[test]
fn at_most_twenty_kinks_are_listed_and_the_rest_counted() {
    let listed = |text: &str| text.matches("crosses 0").count();
    let text = report(vec![tensor_check(40, 40, 0, 20)], None).to_text("s");
    assert_eq!(listed(&text), 20, "{text}");
    assert!(!text.contains("more"), "{text}");
    let text = report(vec![tensor_check(40, 40, 0, 21)], None).to_text("s");
    assert_eq!(listed(&text), 20, "{text}");
    assert!(text.contains("\n21 cells sit on a kink"), "{text}");
    assert!(
        text.contains("(analytic 1e0, numeric 1.5e0)\n  … and 1 more\n"),
        "{text}"
    );
    let text = report(
        vec![tensor_check(40, 40, 0, 5), tensor_check(40, 40, 0, 20)],
        None,
    )
    .to_text("s");
    assert!(
        text.contains("\n  … and 5 more\n"),
        "counted over all tensors: {text}"
    );
}

#[test]
fn the_refinement_is_mentioned_only_when_a_cell_was_refined() {
    let with = |refined: usize| {
        let mut t = tensor_check(9, 9, 0, 0);
        t.refined = refined;
        report(vec![t], None).to_text("s")
    };
    assert!(!with(0).contains("measured again"), "{}", with(0));
    assert!(
        with(1).contains("\n1 cell disagreed at h and was measured again at h/2"),
        "{}",
        with(1)
    );
    assert!(
        with(2).contains("\n2 cells disagreed at h and were measured again at h/2"),
        "{}",
        with(2)
    );
}

// Kinks: which cells are set aside, and what the reason names. h = 1e-6 throughout.

fn kinks(report: &CheckReport, label: &str) -> Vec<(Vec<usize>, String)> {
    tensor(report, label)
        .kinks
        .iter()
        .map(|k| (k.cell.index.clone(), k.reason.clone()))
        .collect()
}

/// A 1×1 conv (z = x) on an input with a cell at exactly 0, then a dense layer reading only
/// that cell (its z is 0 too), both with `activation`.
fn zero_crossing(activation: &str) -> String {
    format!(
        r#"{{"name": "zero_crossing", "input": [[[0, 0.5]]],
            "layers": [{{"type": "conv", "weights": [[[[1]]]], "activation": "{activation}"}},
                       {{"type": "dense", "weights": [[1, 0]], "activation": "{activation}"}}],
            "loss": {{"kind": "half_sse", "target": [1]}}}}"#
    )
}

#[test]
fn a_smooth_activation_is_judged_where_its_z_crosses_0() {
    // ±h on input[0, 0, 0] or on a bias moves conv1.z or dense1.z across 0: a kink for a
    // ReLU, nothing special for tanh, sigmoid or the identity, whose cells are all judged.
    for activation in ["tanh", "sigmoid", "identity"] {
        let report = check(&zero_crossing(activation));
        assert!(report.passed(), "{activation}");
        for t in &report.tensors {
            assert_eq!(t.kinks.len(), 0, "{activation}: {}: {:?}", t.label, t.kinks);
        }
    }
    let report = check(&zero_crossing("relu"));
    assert_eq!(
        kinks(&report, "input"),
        [(
            vec![0, 0, 0],
            "conv1.z[0, 0, 0] crosses 0 (the ReLU kink)".to_string()
        )]
    );
    assert_eq!(
        kinks(&report, "dense1.bias"),
        [(vec![0], "dense1.z[0] crosses 0 (the ReLU kink)".to_string())]
    );
}

#[test]
fn a_kink_is_found_when_z_changes_sign_within_h_without_touching_0() {
    // z = x + b: input[0, 0, 0] = 4e-7 goes negative at θ − h, input[0, 0, 1] = −4e-7
    // positive at θ + h; z is never exactly 0.
    let report = check(
        r#"{"name": "sign_change", "input": [[[4e-7, -4e-7, 0.5]]],
            "layers": [{"type": "conv", "weights": [[[[1]]]]}],
            "loss": {"kind": "half_sse", "target": [[[1, 1, 1]]]}}"#,
    );
    assert_eq!(
        kinks(&report, "input"),
        [
            (
                vec![0, 0, 0],
                "conv1.z[0, 0, 0] crosses 0 (the ReLU kink)".to_string()
            ),
            (
                vec![0, 0, 1],
                "conv1.z[0, 0, 1] crosses 0 (the ReLU kink)".to_string()
            ),
        ]
    );
    // The bias moves both: z[0, 0, 1] at θ + h, z[0, 0, 0] at θ − h, in the same layer.
    // θ + h's is named.
    assert_eq!(
        kinks(&report, "conv1.bias"),
        [(
            vec![0],
            "conv1.z[0, 0, 1] crosses 0 (the ReLU kink)".to_string()
        )]
    );
}

#[test]
fn the_kink_named_is_the_earliest_layer_s() {
    // conv1: z = x + b, a = relu(z); conv2: z = a − 1. θ − h on conv1.bias takes conv1.z[0, 0, 0]
    // = 4e-7 below 0; θ + h takes conv2.z[0, 0, 1] = −4e-7 above 0. conv1's comes first.
    let report = check(
        r#"{"name": "two_layers", "input": [[[4e-7, 0.9999996]]],
            "layers": [{"type": "conv", "weights": [[[[1]]]]},
                       {"type": "conv", "weights": [[[[1]]]], "bias": [-1]}],
            "loss": {"kind": "half_sse", "target": [[[0.5, 0.5]]]}}"#,
    );
    assert_eq!(
        kinks(&report, "conv1.bias"),
        [(
            vec![0],
            "conv1.z[0, 0, 0] crosses 0 (the ReLU kink)".to_string()
        )]
    );
    assert_eq!(
        kinks(&report, "input"),
        [
            (
                vec![0, 0, 0],
                "conv1.z[0, 0, 0] crosses 0 (the ReLU kink)".to_string()
            ),
            (
                vec![0, 0, 1],
                "conv2.z[0, 0, 1] crosses 0 (the ReLU kink)".to_string()
            ),
        ]
    );
}

#[test]
fn a_kink_past_the_first_64_cells_of_a_map_is_named_by_its_own_index() {
    // A 12×12 map (144 cells, scanned in blocks of 64) with z = 0 at flat 69 = [0, 5, 9]
    // and 130 = [0, 10, 10]; every other z is at least 0.1 from 0.
    let input: Vec<Vec<f64>> = (0..12)
        .map(|i| {
            (0..12)
                .map(|j| match i * 12 + j {
                    69 | 130 => 0.0,
                    n => 0.1 + (n % 7) as f64 * 0.05,
                })
                .collect()
        })
        .collect();
    let json = serde_json::json!({
        "name": "wide_map",
        "input": [input],
        "layers": [{"type": "conv", "weights": [[[[1]]]]}, {"type": "pool", "kind": "mean", "size": 12}],
        "loss": {"kind": "half_sse", "target": [[[1]]]}
    });
    let report = check(&json.to_string());
    assert_eq!(
        kinks(&report, "input"),
        [
            (
                vec![0, 5, 9],
                "conv1.z[0, 5, 9] crosses 0 (the ReLU kink)".to_string()
            ),
            (
                vec![0, 10, 10],
                "conv1.z[0, 10, 10] crosses 0 (the ReLU kink)".to_string()
            ),
        ]
    );
    // The bias moves both: the first is named.
    assert_eq!(
        kinks(&report, "conv1.bias"),
        [(
            vec![0],
            "conv1.z[0, 5, 9] crosses 0 (the ReLU kink)".to_string()
        )]
    );
}

// Which cells are checked.

/// A 1×1 conv and a mean pool on an input of `h`×`w` cells.
fn input_of(h: usize, w: usize) -> String {
    let input: Vec<Vec<f64>> = (0..h)
        .map(|i| (0..w).map(|j| ((i * w + j) as f64 * 0.37).sin()).collect())
        .collect();
    serde_json::json!({
        "name": "input_of",
        "input": [input],
        "layers": [
            {"type": "conv", "weights": [[[[0.5]]]], "bias": [0.25], "activation": "tanh"},
            {"type": "pool", "kind": "mean", "size": [h, w]}
        ],
        "loss": {"kind": "half_sse", "target": [[[0.75]]]}
    })
    .to_string()
}

#[test]
fn a_tensor_of_exactly_512_cells_is_checked_whole_and_one_of_513_is_sampled() {
    assert_eq!(SAMPLE_ALL_UP_TO, 512);
    for (h, w, cells, label) in [(16, 32, 512, "512"), (19, 27, DEFAULT_SAMPLE, "256/513")] {
        let s = scenario::parse(&input_of(h, w)).unwrap();
        let options = CheckOptions::default();
        let report = gradient_check(&s.model, options);
        assert!(report.passed(), "{}", report.to_text(&s.name));
        let input = tensor(&report, "input");
        assert_eq!((input.cells, input.total), (cells, h * w));
        assert_eq!(input.cells_label(), label);
        // The debugger's estimate of the work counts the same cells: input, weight, bias.
        assert_eq!(cells_probed(&s.model, &options), cells + 2);
    }
}

#[test]
fn the_sample_of_each_tensor_is_the_same_from_version_to_version() {
    // Equal gradients: the 32 "largest" are the first 32 cells (ties go to the lower
    // index), and the rest are drawn by ChaCha8 seeded with SAMPLE_SEED plus the tensor's
    // index. These numbers are the cells every check of such a tensor probes; a change to
    // them changes which cells every scenario's check judges, and should be deliberate.
    let g = vec![1.0; 600];
    let drawn = |tensor_index: usize| {
        let sample = sampled_cells(&g, Some(40), tensor_index);
        assert_eq!(sample[..32], (0..32).collect::<Vec<_>>());
        sample[32..].to_vec()
    };
    assert_eq!(drawn(0), [123, 131, 181, 206, 245, 302, 488, 568]);
    assert_eq!(drawn(3), [198, 199, 278, 323, 381, 453, 481, 506]);
    // A sample as large as the tensor is the whole tensor.
    assert_eq!(
        sampled_cells(&g, Some(600), 3),
        (0..600).collect::<Vec<_>>()
    );
    assert_eq!(
        sampled_cells(&g, Some(10_000), 3),
        (0..600).collect::<Vec<_>>()
    );
}

#[test]
fn the_max_rel_error_leaves_out_gradients_below_the_floor() {
    // input[1]'s gradient is 7.6e-10 (a weight of 1e-9): its quotient is off by 1.7e-11 of
    // rounding, 2% of it. It passes by its absolute error, and the column of relative
    // errors shows the other cells'.
    let s = scenario::parse(
        r#"{"name": "tiny_gradient", "input": [[[0.3, 0.7, -0.45]]],
            "layers": [{"type": "dense", "weights": [[1.0, 1e-9, -0.8]], "bias": [0.1]}],
            "loss": {"kind": "half_sse", "target": [0]}}"#,
    )
    .unwrap();
    let report = gradient_check(&s.model, CheckOptions::default());
    assert!(report.passed(), "{}", report.to_text(&s.name));
    // With tolerance 0 every cell that is off at all is listed, with its figures.
    let every = CheckOptions {
        tolerance: 0.0,
        ..CheckOptions::default()
    };
    let listed = gradient_check(&s.model, every);
    for (t, all) in report.tensors.iter().zip(&listed.tensors) {
        let large = |c: &&CellCheck| c.analytic.abs().max(c.numeric.abs()) >= REL_ERROR_FLOOR;
        let max = |cells: Vec<f64>| cells.into_iter().fold(0.0, f64::max);
        assert_eq!(
            all.failures.len(),
            t.cells,
            "{}: every cell is off a little",
            t.label
        );
        assert_eq!(
            t.max_abs_error,
            max(all.failures.iter().map(|c| c.abs_error()).collect())
        );
        assert_eq!(
            t.max_rel_error,
            max(all
                .failures
                .iter()
                .filter(large)
                .map(|c| c.rel_error())
                .collect()),
            "{}",
            t.label
        );
    }
    let input = tensor(&listed, "input");
    let tiny = input.failures.iter().find(|c| c.index == [1]).unwrap();
    assert!(tiny.analytic.abs() < REL_ERROR_FLOOR, "{tiny:?}");
    assert!(tiny.rel_error() > 1e-2, "{tiny:?}");
    assert!(tensor(&report, "input").max_rel_error < 1e-9);
}
