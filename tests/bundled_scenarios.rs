//! Every bundled scenario loads, runs all its steps, and passes the gradient check.

use std::path::Path;

use deltascope::check::{CheckOptions, gradient_check};
use deltascope::scenario;

fn bundled() -> Vec<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
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

#[test]
fn every_bundled_scenario_runs_all_its_steps() {
    for file in bundled() {
        let s = scenario::load(&file).unwrap();
        let mut model = s.model.clone();
        for step in 0..s.steps {
            let trace = model.train_step(step);
            assert_eq!(trace.layers.len(), model.layers.len());
        }
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
