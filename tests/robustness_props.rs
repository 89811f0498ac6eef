//! The fuzz targets' properties on a small budget, inside `cargo test` (the same harness,
//! fuzz/src/harness.rs): mutated bundled scenarios either run or are refused with a message
//! that names a field or a line; mutated traces ("your numbers" for `diff`) are diffed or
//! refused the same way; random key sequences at random terminal sizes never panic and
//! every frame renders; random key scripts are refused with their line or replay.
//! Inputs that once went wrong are kept at the end as regression tests (the fuzz runs are
//! listed in fuzz/README.md).

#[path = "../fuzz/src/harness.rs"]
mod harness;

use harness::{BUNDLED, Outcome, TEST};
use proptest::prelude::*;
use serde_json::{Value, json};

/// Values a mutation puts somewhere: wrong types, zero, negative, huge, tiny, empty.
fn odd_value(choice: u8) -> Value {
    match choice % 20 {
        0 => json!(0),
        1 => json!(-1),
        2 => json!(1),
        3 => json!(2),
        4 => json!(1e308),
        5 => json!(-1e308),
        6 => json!(5e-324),
        7 => json!(0.5),
        8 => json!("x"),
        9 => Value::Null,
        10 => json!(true),
        11 => json!([]),
        12 => json!([[]]),
        13 => json!({}),
        14 => json!([1, 2]),
        15 => json!(1_000_000_000_000u64),
        16 => json!(u64::MAX),
        17 => json!([[1e300, -1e300], [1e300, 1e300]]),
        18 => json!({"type": "pool", "kind": "max", "size": 1}),
        _ => json!(10_000_000),
    }
}

/// Every place in a JSON value, as a list of steps (object key or array index).
fn places(v: &Value, here: &mut Vec<Value>, out: &mut Vec<Vec<Value>>) {
    out.push(here.clone());
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                here.push(json!(k));
                places(child, here, out);
                here.pop();
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                here.push(json!(i));
                places(child, here, out);
                here.pop();
            }
        }
        _ => {}
    }
}

fn at<'v>(v: &'v mut Value, path: &[Value]) -> &'v mut Value {
    path.iter().fold(v, |v, step| match step {
        Value::String(k) => &mut v[k.as_str()],
        Value::Number(i) => &mut v[i.as_u64().unwrap() as usize],
        _ => unreachable!(),
    })
}

/// One structural mutation: replace a value, remove it from its object or array, or
/// duplicate it within its array.
fn mutate(v: &mut Value, place: usize, op: u8, choice: u8) {
    let mut all = Vec::new();
    places(v, &mut Vec::new(), &mut all);
    let path = all[place % all.len()].clone();
    match (op % 4, path.split_last()) {
        (0 | 3, _) | (_, None) => *at(v, &path) = odd_value(choice),
        (1, Some((last, parent))) => match (at(v, parent), last) {
            (Value::Object(map), Value::String(k)) => {
                map.shift_remove(k);
            }
            (Value::Array(items), Value::Number(i)) => {
                items.remove(i.as_u64().unwrap() as usize);
            }
            _ => {}
        },
        (_, Some((last, parent))) => {
            if let (Value::Array(items), Value::Number(i)) = (at(v, parent), last) {
                let i = i.as_u64().unwrap() as usize;
                let copy = items[i].clone();
                items.insert(i, copy);
            }
        }
    }
}

/// One textual mutation: delete a run of bytes, insert a JSON-significant byte, or cut.
fn mutate_text(text: &str, pos: usize, op: u8, len: usize) -> String {
    let mut bytes = text.as_bytes().to_vec();
    let pos = pos % (bytes.len() + 1);
    match op % 3 {
        0 => {
            let end = (pos + len % 16).min(bytes.len());
            bytes.drain(pos..end);
        }
        1 => bytes.insert(pos, b"[]{},:\"-0e9.x \n\\"[len % 16]),
        _ => bytes.truncate(pos),
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_bundled_scenarios_run_or_are_refused_naming_a_field_or_line(
        which in 0..BUNDLED.len(),
        mutations in prop::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..4),
    ) {
        let mut v: Value = serde_json::from_str(BUNDLED[which].1).unwrap();
        for (place, op, choice) in mutations {
            mutate(&mut v, place, op, choice);
        }
        // The harness asserts everything: no panic, a refusal names a field or a line,
        // a run exports valid JSON, finds its first anomaly, diffs with itself, checks, draws.
        harness::scenario_text(&v.to_string(), &TEST);
    }

    #[test]
    fn textually_mutated_scenarios_run_or_are_refused(
        which in 0..BUNDLED.len(),
        edits in prop::collection::vec((any::<usize>(), any::<u8>(), any::<usize>()), 1..3),
    ) {
        let mut text = BUNDLED[which].1.to_string();
        for (pos, op, len) in edits {
            text = mutate_text(&text, pos, op, len);
        }
        harness::scenario_text(&text, &TEST);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_traces_are_diffed_or_refused_naming_a_field_or_line(
        which in 0..BUNDLED.len(),
        mutations in prop::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..4),
        edits in prop::collection::vec((any::<usize>(), any::<u8>(), any::<usize>()), 0..2),
    ) {
        // Step 0 of the scenario's own export, as "your numbers", then broken.
        let s = harness::bundled(which);
        let step = deltascope::export::step_to_json(&s.model.trace(0));
        let mut v = json!({"format": "deltascope-trace", "steps": [step]});
        for (place, op, choice) in mutations {
            mutate(&mut v, place, op, choice);
        }
        let mut text = v.to_string();
        for (pos, op, len) in edits {
            text = mutate_text(&text, pos, op, len);
        }
        let mut data = vec![which as u8];
        data.extend_from_slice(text.as_bytes());
        harness::trace_bytes(&data);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_key_sequences_at_random_sizes_never_panic_and_every_frame_renders(
        data in prop::collection::vec(any::<u8>(), 4..80),
    ) {
        harness::tui_bytes(&data);
    }

    #[test]
    fn random_key_scripts_are_refused_with_their_line_or_replay(
        lines in prop::collection::vec(
            prop_oneof![
                Just("n".to_string()),
                Just("snap".to_string()),
                "[a-zA-Z?+*\\[\\]#' ]{1,3}",
                "(Ctrl|Alt|Shift|ctrl|)\\+?(Tab|Left|Up|End|F[0-9]{1,2}|Enter|Esc|x)",
                "[a-z]\\*[0-9]{1,3}",
                "resize [0-9]{1,3}x[0-9]{1,3}",
                "\\PC{0,6}",
            ],
            0..12,
        ),
    ) {
        harness::script_bytes(lines.join("\n").as_bytes());
    }
}

#[test]
fn every_bundled_scenario_runs_in_the_harness() {
    for (name, text) in BUNDLED {
        assert_eq!(
            harness::scenario_text(text, &TEST),
            Outcome::Ran(2),
            "{name}"
        );
    }
}

#[test]
fn a_refusal_names_the_field_or_the_line() {
    for (text, expected) in [
        ("", "EOF while parsing a value at line 1 column 0"),
        ("{", "EOF while parsing an object at line 1 column 1"),
        // Was read as a struct from its fields in order, with a message naming `RawScenario`.
        (
            "[]",
            "invalid type: sequence, expected a scenario: a JSON object at line 1 column 0",
        ),
    ] {
        assert_eq!(
            harness::scenario_text(text, &TEST),
            Outcome::Refused(expected.to_string()),
            "{text:?}"
        );
    }
}
