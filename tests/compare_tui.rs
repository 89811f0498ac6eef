//! `--compare`: the user's numbers beside the reference in the debugger, through replay.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use assert_cmd::Command;
use deltascope::app::{ColorMode, Config};
use deltascope::diff::{Comparison, parse_theirs};
use deltascope::export::step_to_json;
use deltascope::replay::frame::{to_styled_listing, to_text};
use deltascope::replay::{self, FrameFormat, ReplayOptions, script};
use deltascope::scenario;
use serde_json::{Value, json};

fn scenario_path() -> PathBuf {
    bundled("mean_pool_classic")
}

fn bundled(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("scenarios/{name}.json"))
}

/// A student's trace: conv2's δ_input right, pool1's δ_input not divided by the window area,
/// and conv1's δa, which is that δ_input passed on.
fn mine(dir: &Path) -> std::path::PathBuf {
    let s = scenario::load(&scenario_path()).unwrap();
    let step = step_to_json(&s.model.trace(0));
    let layer = |name: &str| {
        step["layers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["name"] == name)
            .unwrap()
            .clone()
    };
    fn times_four(v: &Value) -> Value {
        match v {
            Value::Array(items) => Value::Array(items.iter().map(times_four).collect()),
            Value::Number(n) => json!(n.as_f64().unwrap() * 4.0),
            other => other.clone(),
        }
    }
    let theirs = json!({"steps": [{"step": 0, "layers": [
        {"name": "conv2", "delta_input": layer("conv2")["delta_input"]},
        {"name": "pool1", "delta_input": times_four(&layer("pool1")["delta_input"])},
        {"name": "conv1", "delta_a": times_four(&layer("conv1")["delta_a"])}
    ]}]});
    let file = dir.join("mine.json");
    fs::write(&file, theirs.to_string()).unwrap();
    file
}

fn replay(mine: &Path, script: &str) -> String {
    replay_in(&scenario_path(), mine, script, "mono")
}

fn replay_in(scenario: &Path, mine: &Path, script: &str, color: &str) -> String {
    let out = Command::cargo_bin("deltascope")
        .unwrap()
        .arg("replay")
        .arg(scenario)
        .arg("--compare")
        .arg(mine)
        .args(["--script", "-", "--color", color, "--only-snaps"])
        .write_stdin(script)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    String::from_utf8(out).unwrap()
}

#[test]
fn differing_cells_layers_and_the_diagnosis_are_shown_once_computed() {
    let dir = tempfile::tempdir().unwrap();
    let mine = mine(dir.path());
    // Before the backward pass reaches conv2 and pool1, nothing is said about the user's numbers.
    let early = replay(&mine, "n*4\nsnap\n");
    assert!(!early.contains("yours"), "{early}");
    assert!(early.contains("vs mine.json"), "{early}");
    // At the backward event of pool1 (event 8): conv2 agrees, pool1 differs everywhere.
    let frame = replay(&mine, "n*7\nEnter\nsnap\n");
    assert!(frame.contains("conv2 2×2×2 ✓ yours"), "{frame}");
    // pool1's δ_input is wrong given its δ_output (conv2's δ_input, passed on): the
    // mistake is made there.
    assert!(frame.contains("pool1 2×3×3 ✗ mistake here"), "{frame}");
    assert!(frame.contains('≠'), "differing cells are marked: {frame}");
    assert!(frame.contains("✗ differs from the reference by"), "{frame}");
    assert!(
        frame.contains("mistake made here, in pool1's backward pass: computed correctly from"),
        "{frame}"
    );
    assert!(
        frame.contains(
            "diagnosis: yours = 4 × the reference everywhere: mean-pool δ not divided by"
        ),
        "{frame}"
    );
    // One event on, conv1's δa differs only because pool1's δ_input does.
    let frame = replay(&mine, "n*8\nEnter\nsnap\n");
    assert!(frame.contains("pool1 2×3×3 ✗ mistake here"), "{frame}");
    assert!(frame.contains("conv1 2×6×6 ✗ yours 1/1"), "{frame}");
}

#[test]
fn a_malformed_comparison_file_is_refused_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    fs::write(
        &bad,
        r#"{"steps": [{"layers": [{"name": "pool1", "delta_input": [1, 2]}]}]}"#,
    )
    .unwrap();
    let out = Command::cargo_bin("deltascope")
        .unwrap()
        .arg("replay")
        .arg(scenario_path())
        .arg("--compare")
        .arg(&bad)
        .args(["--script", "-"])
        .write_stdin("n\n")
        .assert()
        .code(2)
        .get_output()
        .stderr
        .clone();
    let stderr = String::from_utf8(out).unwrap();
    assert!(
        stderr.contains(
            "bad.json: steps[0].layers[0].delta_input: expected shape [2, 6, 6], got [2]"
        ),
        "{stderr}"
    );
    // The interactive form reads the same file before it needs a terminal.
    let out = Command::cargo_bin("deltascope")
        .unwrap()
        .arg(scenario_path())
        .arg("--compare")
        .arg(&bad)
        .assert()
        .code(2)
        .get_output()
        .stderr
        .clone();
    assert!(
        String::from_utf8(out)
            .unwrap()
            .contains("expected shape [2, 6, 6], got [2]")
    );
}

/// A student's max pooling with one wrong switch: in window (1,1) of pool1's channel 0 their
/// argmax is 14 (cell [2,2]) where the reference's is 20 (cell [3,2]), and their δ_input
/// follows their switch. With `right`, their argmax and δ_input are the reference's.
fn wrong_switch(dir: &Path, right: bool) -> PathBuf {
    let s = scenario::load(&bundled("max_pool_switches")).unwrap();
    let step = step_to_json(&s.model.trace(0));
    let pool1 = step["layers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == "pool1")
        .unwrap();
    let mut argmax = pool1["argmax"].clone();
    let mut delta_input = pool1["delta_input"].clone();
    if !right {
        assert_eq!(argmax[0][1][1], json!(20));
        argmax[0][1][1] = json!(14);
        // The δ of window (1,1) goes to their switch instead of the reference's.
        let routed = delta_input[0][3][2].as_f64().unwrap();
        assert_ne!(
            routed, 0.0,
            "the window's δ is not zero: δ_input differs too"
        );
        delta_input[0][3][2] = json!(0.0);
        delta_input[0][2][2] = json!(delta_input[0][2][2].as_f64().unwrap() + routed);
    }
    let theirs = json!({"steps": [{"step": 0, "layers": [
        {"name": "pool1", "argmax": argmax, "delta_input": delta_input}
    ]}]});
    let file = dir.join(if right { "right.json" } else { "mine.json" });
    fs::write(&file, theirs.to_string()).unwrap();
    file
}

/// The cells of a map marked ≠ in a replayed frame, as (channel, row, column): the map is
/// the `rows` lines under the line naming it and its channel labels, its channels side by
/// side, `columns` numbers each.
fn marked_cells(frame: &str, map: &str, rows: usize, columns: usize) -> BTreeSet<[usize; 3]> {
    let lines: Vec<&str> = frame.lines().collect();
    let top = lines
        .iter()
        .position(|l| l.contains(map))
        .unwrap_or_else(|| panic!("no {map} map:\n{frame}"));
    let mut marked = BTreeSet::new();
    for (row, line) in lines[top + 2..top + 2 + rows].iter().enumerate() {
        // The maps pane is the second bordered column of the frame.
        let pane = line.split('│').nth(3).unwrap();
        let cells: Vec<&str> = pane.split_whitespace().collect();
        assert!(cells.len() >= 2 * columns, "{line}");
        for (k, cell) in cells.iter().enumerate() {
            if cell.contains('≠') {
                marked.insert([k / columns, row, k % columns]);
            }
        }
    }
    marked
}

/// At pool1's backward event, the cursor on the switch mask cell [0,2,2] (their switch).
/// (Enter puts the cursor on δx; M steps back through δy to the mask, then to y.)
const ON_THEIR_SWITCH: &str = "n*7\nEnter\nM*2\nj*2\nl*2\nsnap their switch\n";

#[test]
fn a_wrong_switch_is_marked_at_both_its_cells_and_decoded_in_the_inspector() {
    let dir = tempfile::tempdir().unwrap();
    let mine = wrong_switch(dir.path(), false);
    let scenario = bundled("max_pool_switches");
    // Before pool1 runs forward, nothing is said of its switches.
    let early = replay_in(&scenario, &mine, "snap\n", "truecolor");
    assert!(!early.contains("✗ yours"), "{early}");

    let frame = replay_in(&scenario, &mine, ON_THEIR_SWITCH, "truecolor");
    assert!(frame.contains("pool1.switch[0,2,2] = 0"), "{frame}");
    assert!(frame.contains("pool1 2×3×3 ✗ yours 2/2"), "{frame}");
    // The cell the reference's switch points at and the cell theirs points at, in the
    // switch mask and in δx alike; no other.
    let both = BTreeSet::from([[0, 2, 2], [0, 3, 2]]);
    assert_eq!(marked_cells(&frame, "switch 2×6×6", 6, 6), both, "{frame}");
    assert_eq!(marked_cells(&frame, "δx 2×6×6", 6, 6), both, "{frame}");
    // Their count here, and their switch decoded beside the reference's.
    assert!(
        frame.contains("yours = 1  ✗ differs from the reference by 1"),
        "{frame}"
    );
    let decoded =
        "your switch of window (1,1): x[0,2,2] (flat 14)  ✗ the reference's is x[0,3,2] (flat 20)";
    assert!(frame.contains(decoded), "{frame}");

    // The reference's cell: their count 0, the same switch named.
    let frame = replay_in(
        &scenario,
        &mine,
        &ON_THEIR_SWITCH.replace("snap their switch", "j\nsnap the reference's switch"),
        "truecolor",
    );
    assert!(frame.contains("pool1.switch[0,3,2] = 1"), "{frame}");
    assert!(
        frame.contains("yours = 0  ✗ differs from the reference by -1"),
        "{frame}"
    );
    assert!(frame.contains(decoded), "{frame}");

    // The output cell of the window, though they gave no output: their switch.
    let frame = replay_in(
        &scenario,
        &mine,
        "n*7\nEnter\nM*3\nj\nl\nsnap y\n",
        "truecolor",
    );
    assert!(frame.contains("pool1.y[0,1,1]"), "{frame}");
    assert!(frame.contains(decoded), "{frame}");
    assert!(
        !frame.contains("yours ="),
        "no value of y was given: {frame}"
    );
    // A window whose switch agrees says so.
    let frame = replay_in(&scenario, &mine, "n*7\nEnter\nM*3\nsnap y\n", "truecolor");
    assert!(frame.contains("pool1.y[0,0,0]"), "{frame}");
    assert!(
        frame.contains("your switch of window (0,0): x[0,1,0]  ✓ the reference's"),
        "{frame}"
    );
}

#[test]
fn switches_that_agree_mark_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let right = wrong_switch(dir.path(), true);
    let frame = replay_in(
        &bundled("max_pool_switches"),
        &right,
        ON_THEIR_SWITCH,
        "truecolor",
    );
    assert!(frame.contains("pool1 2×3×3 ✓ yours"), "{frame}");
    assert!(!frame.contains('≠'), "{frame}");
    assert!(
        frame.contains("yours = 0  ✓ agrees with the reference"),
        "{frame}"
    );
    assert!(!frame.contains("your switch"), "{frame}");
}

/// The frames with styles, for the snapshots: the switch mask with one wrong switch.
fn styled_frame(mine: &Path, keys: &str, size: (u16, u16)) -> String {
    let s = scenario::load(&bundled("max_pool_switches")).unwrap();
    let given = parse_theirs(&fs::read_to_string(mine).unwrap(), &s.model, s.steps).unwrap();
    let comparison = Comparison::new("mine.json", &s.name, &s.model, given, 1e-6).unwrap();
    let options = ReplayOptions {
        size,
        format: FrameFormat::Text,
        only_snaps: true,
        config: Config {
            color: ColorMode::TrueColor,
        },
        compare: Some(Arc::new(comparison)),
    };
    let mut listing = None;
    let Ok(_) = replay::replay_buffers(s, &script::parse(keys).unwrap(), &options, |f| {
        if let Some(b) = f.buffer {
            // The text is what `deltascope replay --compare` prints.
            assert!(to_text(b).contains("vs mine.json") || size.0 < 100);
            listing = Some(to_styled_listing(b));
        }
        Ok::<(), std::convert::Infallible>(())
    });
    listing.expect("the script snaps")
}

#[test]
fn snapshots_of_a_wrong_switch() {
    let dir = tempfile::tempdir().unwrap();
    let mine = wrong_switch(dir.path(), false);
    for (name, size) in [("120x40", (120, 40)), ("80x24", (80, 24))] {
        let mut settings = insta::Settings::clone_current();
        settings.set_description(format!(
            "max_pool_switches --compare with pool1's switch of window (1,1) at 14, not 20, at {}×{}; key script:\n{ON_THEIR_SWITCH}",
            size.0, size.1
        ));
        settings.set_omit_expression(true);
        settings.bind(|| {
            insta::assert_snapshot!(
                format!("wrong_switch_mask_{name}"),
                styled_frame(&mine, ON_THEIR_SWITCH, size)
            )
        });
    }
}

/// Ties sent to the last maximum (a known mistake): the argmax's diagnosis is shown on the
/// switch mask, which stands for the argmax in the debugger, and on the output cells.
#[test]
fn the_argmax_diagnosis_is_shown_on_the_switch_mask_and_the_outputs() {
    let s = scenario::load(&bundled("digit_classifier")).unwrap();
    let trace = s.model.trace(0);
    let pool1 = step_to_json(&trace)["layers"][1].clone();
    assert_eq!(pool1["name"], "pool1");
    // Recomputed here from pool1's input, independently of the engine: 2×2 windows,
    // stride 2, `>=` so that the last of tied maxima wins.
    let input: Vec<Vec<Vec<f64>>> = serde_json::from_value(pool1["input"].clone()).unwrap();
    let w = input[0][0].len();
    let argmax: Vec<Vec<Vec<usize>>> = input
        .iter()
        .map(|plane| {
            (0..plane.len() / 2)
                .map(|i| {
                    (0..w / 2)
                        .map(|j| {
                            let mut at = (2 * i) * w + 2 * j;
                            for (y, x) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                                let (y, x) = (2 * i + y, 2 * j + x);
                                if plane[y][x] >= plane[at / w][at % w] {
                                    at = y * w + x;
                                }
                            }
                            at
                        })
                        .collect()
                })
                .collect()
        })
        .collect();
    assert_eq!(argmax[1][0][3], 15, "a tied window of channel 1");
    let dir = tempfile::tempdir().unwrap();
    let mine = dir.path().join("last.json");
    fs::write(
        &mine,
        json!({"steps": [{"step": 0, "layers": [{"name": "pool1", "argmax": argmax}]}]})
            .to_string(),
    )
    .unwrap();
    let diagnosis = "diagnosis: max-pool ties are routed to the last maximum";
    let scenario = bundled("digit_classifier");
    // The mask cell [1,0,6], the reference's switch of window (0,3).
    let frame = replay_in(&scenario, &mine, "n\nEnter\nm\nc\nl*6\nsnap\n", "truecolor");
    assert!(frame.contains("pool1.switch[1,0,6] = 1"), "{frame}");
    assert!(
        frame.contains(
            "your switch of window (0,3): x[1,1,7] (flat 15)  ✗ the reference's is x[1,0,6] (flat 6)"
        ),
        "{frame}"
    );
    assert!(frame.contains(diagnosis), "{frame}");
    // The output cell of that window: no output given, the switch and its diagnosis.
    let frame = replay_in(&scenario, &mine, "n\nEnter\nc\nl*3\nsnap\n", "truecolor");
    assert!(frame.contains("pool1.y[1,0,3]"), "{frame}");
    assert!(frame.contains("your switch of window (0,3)"), "{frame}");
    assert!(frame.contains(diagnosis), "{frame}");
}
