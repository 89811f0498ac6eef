//! Refusals that docs/bad-inputs.md cannot show as cases, pinned word for word: a
//! tolerance out of range for `diff` or `--compare` (its message names no file, field or
//! argument, which the catalogue asks of every case) and a standard output that cannot be
//! written (a case cannot redirect it). Each exits with status 2 and prints one line.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn scenario() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/mean_pool_classic.json")
}

fn run(args: &[&str], stdout: Stdio) -> Output {
    Command::new(env!("CARGO_BIN_EXE_deltascope"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null())
        .stdout(stdout)
        .output()
        .expect("run deltascope")
}

fn assert_refused(out: &Output, message: &str, args: &[&str]) {
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!("deltascope: {message}\n"),
        "{args:?}"
    );
    assert_eq!(out.status.code(), Some(2), "{args:?}");
}

#[test]
fn a_tolerance_below_zero_or_nan_is_refused_before_the_trace_is_read() {
    let scenario = scenario();
    let scenario = scenario.to_str().unwrap();
    // The trace does not exist: the tolerance is checked first.
    for (args, got) in [
        (&["diff", scenario, "mine.json", "--tolerance=-1"][..], "-1"),
        (
            &["diff", scenario, "mine.json", "--tolerance", "NaN"],
            "NaN",
        ),
        (
            &[
                scenario,
                "--compare",
                "mine.json",
                "--compare-tolerance=-0.5",
            ],
            "-0.5",
        ),
    ] {
        let out = run(args, Stdio::piped());
        assert_refused(&out, &format!("the tolerance must be ≥ 0, got {got}"), args);
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[cfg(target_os = "linux")]
#[test]
fn a_standard_output_that_cannot_be_written_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.txt");
    std::fs::write(&keys, "n\n").unwrap();
    let scenario = scenario();
    let scenario = scenario.to_str().unwrap();
    for args in [
        &["export", scenario][..],
        &["export", scenario, "--first-anomaly"],
        &["replay", scenario, "--script", keys.to_str().unwrap()],
    ] {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .expect("/dev/full");
        let out = run(args, Stdio::from(full));
        assert_refused(
            &out,
            "cannot write to standard output: No space left on device (os error 28)",
            args,
        );
    }
}
