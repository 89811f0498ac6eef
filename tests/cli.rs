//! The command line as a user meets it: exit statuses, messages, files written or not.

use std::fs;

use assert_cmd::Command;
use serde_json::Value;

fn deltascope() -> Command {
    Command::cargo_bin("deltascope").unwrap()
}

const TINY: &str = r#"{"name": "tiny", "input": [[1, 2, 3], [4, 5, 6], [7, 8, 9]],
  "layers": [{"type": "conv", "weights": [[[[1, 0], [0, -1]]]], "bias": [0.5]},
             {"type": "pool", "kind": "max", "size": 2, "stride": 1}],
  "loss": {"kind": "half_sse", "target": [[[1]]]}, "steps": 2}"#;

#[test]
fn export_writes_every_tensor_of_every_step_to_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tiny.json");
    fs::write(&file, TINY).unwrap();
    let out = deltascope()
        .arg("export")
        .arg(&file)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let trace: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(trace["name"], "tiny");
    assert_eq!(trace["version"], 1);
    let steps = trace["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2);
    let conv = &steps[0]["layers"][0];
    let keys: Vec<_> = conv.as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        keys,
        [
            "type",
            "name",
            "input",
            "weights",
            "bias",
            "z",
            "a",
            "delta_a",
            "delta_z",
            "grad_weights",
            "grad_bias",
            "delta_input"
        ]
    );
    // z = x[i,j] − x[i+1,j+1] + 0.5 = −3.5 everywhere, so ReLU gives zeros, max pool ties at the first cell.
    assert_eq!(conv["z"], serde_json::json!([[[-3.5, -3.5], [-3.5, -3.5]]]));
    assert_eq!(steps[0]["layers"][1]["argmax"], serde_json::json!([[[0]]]));
    assert_eq!(steps[0]["loss"], 0.5);
}

#[test]
fn export_to_a_file_is_atomic_and_never_overwrites_the_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tiny.json");
    fs::write(&file, TINY).unwrap();
    let out = dir.path().join("trace.json");
    deltascope()
        .arg("export")
        .arg(&file)
        .arg("-o")
        .arg(&out)
        .assert()
        .success();
    let trace: Value = serde_json::from_str(&fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(trace["steps"].as_array().unwrap().len(), 2);

    let refused = deltascope()
        .arg("export")
        .arg(&file)
        .arg("-o")
        .arg(&file)
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&refused.get_output().stderr).into_owned();
    assert!(stderr.contains("refusing to overwrite"), "{stderr}");
    assert_eq!(fs::read_to_string(&file).unwrap(), TINY);
    let leftovers: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 2, "no temporary files left: {leftovers:?}");
}

#[test]
fn non_finite_values_are_written_as_strings() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.json");
    // A dense layer with huge weights: softmax saturates, and the update overflows to inf.
    fs::write(
        &file,
        r#"{"name": "big", "input": [[1e300, 1e300]], "layers": [{"type": "dense", "weights": [[1e10, 1e10], [-1e10, 1e10]]}],
            "loss": {"kind": "mse", "target": [0, 0]}, "steps": 2}"#,
    )
    .unwrap();
    let out = deltascope()
        .arg("export")
        .arg(&file)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    let trace: Value = serde_json::from_str(&text).unwrap();
    // z = [1e310 → inf, −inf + inf → NaN]
    assert_eq!(
        trace["steps"][0]["layers"][0]["z"],
        serde_json::json!(["inf", "NaN"])
    );
    assert_eq!(trace["steps"][0]["loss"], "NaN");
}

#[test]
fn check_passes_on_the_default_scenario_and_prints_a_table() {
    let out = deltascope()
        .arg("check")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("conv1.weights"), "{text}");
    assert!(text.contains("PASSED"), "{text}");
}

#[test]
fn check_names_cells_on_a_kink() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ties.json");
    fs::write(
        &file,
        r#"{"name": "ties", "input": [[1, 1], [0.5, 0.25]],
            "layers": [{"type": "conv", "weights": [[[[2]]]], "activation": "identity"},
                       {"type": "pool", "kind": "max", "size": 2}],
            "loss": {"kind": "half_sse", "target": [[[0]]]}}"#,
    )
    .unwrap();
    let out = deltascope()
        .arg("check")
        .arg(&file)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    // Lowering input[0][0][0] hands the tied window to its neighbour: no derivative there.
    assert!(
        text.contains(
            "input[0, 0, 0]: the switch of pool1 window [0, 0, 0] moves (a max-pool tie)"
        ),
        "{text}"
    );
    assert!(text.contains("PASSED"), "{text}");
}

#[test]
fn check_fails_with_status_1_when_the_tolerance_cannot_be_met() {
    let out = deltascope()
        .args(["check", "--tolerance", "0", "--step", "1e-2"])
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("FAILED"), "{text}");
    assert!(
        text.contains("analytic"),
        "the worst cells are listed: {text}"
    );
}

/// The table's rows (tensor, cells, result) of a `deltascope check` report.
fn check_rows(text: &str) -> Vec<(String, String, String)> {
    let header = text
        .lines()
        .position(|l| l.starts_with("tensor "))
        .expect("a table");
    text.lines()
        .skip(header + 1)
        .take_while(|l| !l.is_empty())
        .map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            let result = l.split("  ").last().unwrap().trim();
            (words[0].into(), words[1].into(), result.into())
        })
        .collect()
}

#[test]
fn check_with_tolerance_0_fails_every_tensor_and_counts_the_cells_it_lists() {
    // Tolerance 0: every cell whose quotient is off by any truncation or rounding fails.
    let out = deltascope()
        .args(["check", "--tolerance", "0"])
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    let rows = check_rows(&text);
    assert_eq!(rows.len(), 5, "{text}");
    let mut failed = 0;
    for (tensor, _, result) in &rows {
        // "FAIL (1 cell)" or "FAIL (n cells)", and below the table n cells: ten listed, the
        // rest counted.
        let n: usize = result
            .strip_prefix("FAIL (")
            .and_then(|r| r.strip_suffix(" cells)").or(r.strip_suffix(" cell)")))
            .unwrap_or_else(|| panic!("{tensor}: {result}\n{text}"))
            .parse()
            .unwrap();
        assert_eq!(*result == "FAIL (1 cell)", n == 1, "{result}");
        let section = text
            .split(&format!("\n{tensor}: cells over tolerance (worst first)\n"))
            .nth(1)
            .unwrap_or_else(|| panic!("{tensor} has no list\n{text}"));
        let section = section.split("\n\n").next().unwrap();
        let listed = section
            .lines()
            .filter(|l| l.contains(": analytic "))
            .count();
        assert_eq!(listed, n.min(10), "{tensor}\n{section}");
        if n > 10 {
            assert!(
                section.ends_with(&format!("  … and {} more", n - 10)),
                "{section}"
            );
        } else {
            assert!(!section.contains("more"), "{section}");
        }
        failed += n;
    }
    assert!(
        failed > rows.len(),
        "several cells of some tensor fail: {text}"
    );
    assert!(
        text.contains(&format!(" {failed} over tolerance, 0 on kinks\n")),
        "{text}"
    );
}

/// A scenario whose input has 24×24 = 576 cells, more than the 512 checked whole.
fn large_input_scenario() -> String {
    let input: Vec<Vec<f64>> = (0..24)
        .map(|i| {
            (0..24)
                .map(|j| ((i * 24 + j) as f64 * 0.37).sin())
                .collect()
        })
        .collect();
    serde_json::json!({
        "name": "large_input",
        "input": input,
        "layers": [
            {"type": "conv", "weights": [[[[0.5, -0.25], [0.125, 1.0]]]], "activation": "tanh"},
            {"type": "pool", "kind": "mean", "size": 23}
        ],
        "loss": {"kind": "half_sse", "target": [[[0.25]]]}
    })
    .to_string()
}

#[test]
fn check_samples_a_large_tensor_and_all_checks_every_cell() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("large.json");
    fs::write(&file, large_input_scenario()).unwrap();
    let run = |args: &[&str]| {
        let out = deltascope()
            .arg("check")
            .arg(&file)
            .args(args)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        String::from_utf8(out).unwrap()
    };
    let sampled = run(&[]);
    let rows = check_rows(&sampled);
    let cells: Vec<&str> = rows.iter().map(|(_, cells, _)| cells.as_str()).collect();
    assert_eq!(cells, ["256/576", "4", "1"], "{sampled}");
    assert!(
        sampled.contains("\nn/N cells: a tensor of more than 512 cells is checked in 256 of them"),
        "{sampled}"
    );
    assert!(
        sampled.contains("PASSED: 261 of 261 cells agree"),
        "{sampled}"
    );
    let all = run(&["--all"]);
    let rows = check_rows(&all);
    let cells: Vec<&str> = rows.iter().map(|(_, cells, _)| cells.as_str()).collect();
    assert_eq!(cells, ["576", "4", "1"], "{all}");
    assert!(!all.contains("n/N"), "{all}");
    assert!(all.contains("PASSED: 581 of 581 cells agree"), "{all}");
}

#[test]
fn bad_input_exits_2_with_the_file_and_field_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("typo.json");
    fs::write(&file, TINY.replace("\"bias\"", "\"biass\"")).unwrap();
    for cmd in ["export", "check"] {
        let assert = deltascope().arg(cmd).arg(&file).assert().code(2);
        let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
        assert!(
            stderr.contains("typo.json: layers[0].biass: unknown field `biass`"),
            "{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    let missing = deltascope()
        .args(["export", "/nonexistent/x.json"])
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&missing.get_output().stderr).into_owned();
    assert!(
        stderr.contains("/nonexistent/x.json: cannot read"),
        "{stderr}"
    );
    deltascope().args(["export"]).assert().code(2);
    deltascope()
        .args(["check", "--tolerance", "abc"])
        .assert()
        .code(2);
}

#[test]
fn a_mistyped_command_is_named_with_the_nearest_command() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("tiny.json"), TINY).unwrap();
    let expected = "deltascope: exprot: no such command or file (did you mean `export`?)\n";
    // With a file after it (clap alone blamed the file), and alone (it read it as a file).
    for args in [&["exprot", "tiny.json"][..], &["exprot"]] {
        let out = deltascope()
            .args(args)
            .current_dir(dir.path())
            .write_stdin("")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_eq!(String::from_utf8_lossy(&out.stderr), expected, "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    // A word near no command lists them.
    let out = deltascope()
        .arg("frobnicate")
        .current_dir(dir.path())
        .write_stdin("")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "deltascope: frobnicate: no such command or file (the commands: export, check, diff, replay, bench)\n"
    );
    // A missing file that looks like a file keeps the file's message.
    let out = deltascope()
        .arg("tinny.json")
        .current_dir(dir.path())
        .write_stdin("")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("tinny.json: cannot read"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_file_named_like_a_mistyped_command_still_opens() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("exprot"), TINY).unwrap();
    // It is read as a scenario: past loading, the debugger asks for a terminal.
    let out = deltascope()
        .arg("exprot")
        .current_dir(dir.path())
        .write_stdin("")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("needs a terminal"), "{err}");
    assert!(!err.contains("no such command"), "{err}");
    // A file that is not a scenario is reported as one.
    fs::write(dir.path().join("exprot"), "{}").unwrap();
    let out = deltascope()
        .arg("exprot")
        .current_dir(dir.path())
        .write_stdin("")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("exprot: missing field `name`"), "{err}");
}
