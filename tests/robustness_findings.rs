//! Findings of the robustness work in code owned elsewhere, all fixed since, kept as
//! regression tests that run with the others in plain `cargo test` (none is ignored).
//! Each test's doc says what went wrong and what happens now.

use std::time::{Duration, Instant};

use assert_cmd::Command;

fn deltascope() -> Command {
    Command::cargo_bin("deltascope").unwrap()
}

/// `diff` (and `--compare`) computed the reference up to the last step the user's trace
/// named and kept every step's model and trace until the end: a trace naming step 99 999
/// of a 20-step scenario ran 100 000 steps (digit_classifier: 3.6 GB, 10 s in release; a
/// larger network ran out of memory). A step past the scenario's last is now refused,
/// with its JSON path, before anything runs. Minimal input: any scenario, and
/// `{"steps": [{"step": 99999, "loss": 1}]}`.
#[test]
fn a_trace_naming_a_step_past_the_scenario_is_refused_without_running_it() {
    let dir = tempfile::tempdir().unwrap();
    let mine = dir.path().join("mine.json");
    std::fs::write(&mine, r#"{"steps": [{"step": 99999, "loss": 1}]}"#).unwrap();
    let scenario = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/digit_classifier.json"
    );
    let start = Instant::now();
    let out = deltascope()
        .args(["diff", scenario])
        .arg(&mine)
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("steps[0].step"), "{stderr}");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

/// `diff` and `--compare` parsed the user's trace into a generic JSON tree (some 35 bytes
/// per number) before any limit was checked: a 40 MB trace of zeros took 1.4 GB and 3.7 s
/// to be refused, a 256 MiB one about 9 GB. The trace is now read by the scenario reader
/// (src/scenario/tensor.rs), which counts numbers as it reads them: 0.13 GB. Minimal
/// input: `{"steps": [{"step": 0, "loss_grad": [0, 0, … 20 million zeros]}]}` against any
/// scenario; here run with 1 GiB of address space.
#[cfg(unix)]
#[test]
fn a_large_trace_is_refused_within_bounded_memory() {
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    let mine = dir.path().join("mine.json");
    let zeros = vec!["0"; 20_000_000].join(",");
    std::fs::write(
        &mine,
        format!(r#"{{"steps": [{{"step": 0, "loss_grad": [{zeros}]}}]}}"#),
    )
    .unwrap();
    let scenario = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/mean_pool_classic.json"
    );
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_deltascope"));
    command.args(["diff", scenario]).arg(&mine);
    // SAFETY: setrlimit(2) between fork and exec.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 1 << 30,
                rlim_max: 1 << 30,
            };
            libc::setrlimit(libc::RLIMIT_AS, &limit);
            Ok(())
        });
    }
    let out = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("steps[0].loss_grad"), "{stderr}");
    assert!(
        stderr.contains("limit of 10000000 numbers per tensor"),
        "{stderr}"
    );
}
