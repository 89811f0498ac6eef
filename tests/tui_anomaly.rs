//! The debugger names the run's first NaN/inf once the current event has computed it.

use std::path::Path;

use deltascope::app::{ColorMode, Config};
use deltascope::replay::{FrameFormat, ReplayOptions, replay, script};
use deltascope::scenario;

fn frame(keys: &str) -> String {
    let s = scenario::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/diverging.json"))
        .unwrap();
    let options = ReplayOptions {
        size: (120, 40),
        format: FrameFormat::Text,
        only_snaps: true,
        config: Config {
            color: ColorMode::Mono,
        },
        compare: None,
    };
    let frames = replay(
        s,
        &script::parse(&format!("{keys}\nsnap\n")).unwrap(),
        &options,
    );
    frames.last().unwrap().body.clone()
}

#[test]
fn the_first_non_finite_value_is_named_once_reached() {
    // The same anomaly `deltascope export --first-anomaly` reports.
    let s = scenario::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/diverging.json"))
        .unwrap();
    let mut model = s.model.clone();
    let traces: Vec<_> = (0..s.steps).map(|k| model.train_step(k)).collect();
    let expected = deltascope::anomaly::first_anomaly(&traces).expect("diverging diverges");
    let line = format!("first NaN/inf: {expected}");

    // Step 6 is still finite; step 7's forward pass too, until its loss.
    assert!(!frame("]*6").contains("first NaN/inf"));
    let at_step_7 = frame("]*7");
    assert!(
        !at_step_7.contains("first NaN/inf"),
        "event 1 of step 7 has not computed the loss:\n{at_step_7}"
    );
    // The pipeline pane (the first column of boxes), its lines joined.
    let pipeline = |t: &str| {
        t.lines()
            .filter_map(|l| l.split('│').nth(1))
            .collect::<Vec<_>>()
            .join(" ")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    let at_end = frame("G");
    assert!(
        pipeline(&at_end).contains(&line),
        "expected {line:?} in:\n{at_end}"
    );
}
