//! `deltascope export FILE --npz OUT.npz`: the trace as NumPy's np.load reads it, the same
//! numbers as the JSON export bit for bit, written atomically.

use std::fs;
use std::path::Path;

use assert_cmd::Command;
use deltascope::tensor_json::{NonFinite, parse_tensor};
use ndarray::{ArrayD, IxDyn};
use ndarray_npy::NpzReader;
use serde_json::Value;

mod common;
use common::traces::bundled;

fn export(args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::cargo_bin("deltascope")
        .unwrap()
        .arg("export")
        .args(args)
        .output()
        .unwrap()
}

/// Every tensor of the JSON export, by its .npz key, with whether it holds integers.
fn json_tensors(path: &Path) -> Vec<(String, ArrayD<f64>, bool)> {
    let trace: Value = serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap();
    let mut out = Vec::new();
    for step in trace["steps"].as_array().unwrap() {
        let s = step["step"].as_u64().unwrap();
        let read = |v: &Value| parse_tensor(v, "t", NonFinite::AsStrings).unwrap();
        let loss = read(&step["loss"])
            .into_shape_with_order(IxDyn(&[]))
            .unwrap();
        out.push((format!("step{s}/loss"), loss, false));
        out.push((
            format!("step{s}/loss_grad"),
            read(&step["loss_grad"]),
            false,
        ));
        for layer in step["layers"].as_array().unwrap() {
            let name = layer["name"].as_str().unwrap();
            for (tensor, values) in layer.as_object().unwrap() {
                if matches!(tensor.as_str(), "type" | "kind" | "name") {
                    continue;
                }
                let key = format!("step{s}/{name}.{tensor}");
                out.push((key, read(values), tensor == "argmax"));
            }
        }
    }
    out
}

#[test]
fn the_npz_export_holds_the_json_exports_numbers_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    // Max-pool switches (integers), a dense layer over several steps, and a run that
    // diverges to inf and NaN.
    for scenario in ["max_pool_switches", "digit_classifier", "diverging"] {
        let (json, npz) = (dir.path().join("t.json"), dir.path().join("t.npz"));
        let file = bundled(scenario);
        assert!(
            export(&[file.as_os_str(), "-o".as_ref(), json.as_os_str()])
                .status
                .success()
        );
        let out = export(&[file.as_os_str(), "--npz".as_ref(), npz.as_os_str()]);
        assert!(out.status.success(), "{out:?}");
        assert!(out.stdout.is_empty(), "the archive goes to the file only");
        let mut reader = NpzReader::new(fs::File::open(&npz).unwrap()).unwrap();
        let expected = json_tensors(&json);
        let mut names = reader.names().unwrap();
        names.sort();
        let mut keys: Vec<String> = expected.iter().map(|(k, _, _)| k.clone()).collect();
        keys.sort();
        assert_eq!(names, keys, "{scenario}: one array per tensor, no other");
        assert!(expected.iter().any(|(_, _, int)| *int) || scenario != "max_pool_switches");
        for (key, values, integers) in expected {
            if integers {
                let got: ArrayD<i64> = reader.by_name(&key).unwrap();
                assert_eq!(got.shape(), values.shape(), "{key}");
                assert!(
                    got.iter().zip(&values).all(|(&g, &v)| g as f64 == v),
                    "{key}"
                );
            } else {
                let got: ArrayD<f64> = reader.by_name(&key).unwrap();
                assert_eq!(got.shape(), values.shape(), "{key}");
                // Finite numbers bit for bit; JSON's "NaN" has no bits to compare.
                let same = got
                    .iter()
                    .zip(&values)
                    .all(|(g, v)| g.to_bits() == v.to_bits() || g.is_nan() && v.is_nan());
                assert!(same, "{scenario} {key}: not bit for bit");
            }
        }
    }
}

#[test]
fn the_npz_export_never_replaces_its_scenario_nor_leaves_a_partial_file() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("s.json");
    fs::copy(bundled("mean_pool_classic"), &scenario).unwrap();
    let before = fs::read(&scenario).unwrap();
    let out = export(&[scenario.as_os_str(), "--npz".as_ref(), scenario.as_os_str()]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("refusing to overwrite an input"),
        "{out:?}"
    );
    assert_eq!(fs::read(&scenario).unwrap(), before);
    // A folder that does not exist: refused, and nothing is left behind.
    let missing = dir.path().join("no/such/folder/t.npz");
    let out = export(&[scenario.as_os_str(), "--npz".as_ref(), missing.as_os_str()]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let left: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(left.len(), 1, "only the scenario: {left:?}");
    // -o and --npz together are one output too many.
    let json = dir.path().join("t.json");
    let out = export(&[
        scenario.as_os_str(),
        "-o".as_ref(),
        json.as_os_str(),
        "--npz".as_ref(),
        missing.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(!json.exists());
}
