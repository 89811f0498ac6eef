//! What `deltascope check` judges and how its report reads, on small hand-made scenarios
//! whose every number is known (tests/gradient_check_props.rs checks random networks; the
//! command line itself is in tests/cli.rs).

use deltascope::check::{CheckOptions, CheckReport, TensorCheck, gradient_check};
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
