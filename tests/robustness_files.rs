//! Outputs are whole or absent: an export ended by a signal (Ctrl+C, SIGTERM) while it
//! writes leaves neither the file it was asked for nor its temporary behind, and the
//! scenario untouched; so does a replay writing its frames into a new folder (`--out`).
//! (Failures and panics while writing: src/files.rs's tests.)
#![cfg(unix)]

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn listing(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn an_export_interrupted_while_writing_leaves_nothing_behind() {
    // The default network for 100 000 steps: a long export, stopped as soon as it starts.
    let mut scenario: serde_json::Value =
        serde_json::from_str(deltascope::scenario::DEFAULT_SCENARIO_JSON).unwrap();
    scenario["steps"] = 100_000.into();
    let text = scenario.to_string();
    for signal in [libc::SIGINT, libc::SIGTERM] {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("s.json");
        std::fs::write(&input, &text).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_deltascope"))
            .args(["export", "s.json", "-o", "trace.json"])
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let start = Instant::now();
        while !listing(dir.path())
            .iter()
            .any(|n| n.starts_with(".trace.json.tmp-"))
        {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "no temporary file"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        // SAFETY: kill(2) on our own child.
        assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
        let status = child.wait().unwrap();
        assert_eq!(status.signal(), Some(signal), "{status:?}");
        assert_eq!(listing(dir.path()), ["s.json"], "signal {signal}");
        assert_eq!(std::fs::read_to_string(&input).unwrap(), text);
    }
}

#[test]
fn a_replay_interrupted_while_writing_frames_leaves_nothing_behind() {
    // 100 000 frames, each written to the temporary folder as it is drawn: stopped as soon
    // as the first file is there.
    let script = "Tab\nBackTab\n".repeat(50_000);
    for signal in [libc::SIGINT, libc::SIGTERM] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("walk.keys"), &script).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_deltascope"))
            .args(["replay", "--script", "walk.keys", "--out", "frames"])
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let start = Instant::now();
        let temporary = loop {
            let found = listing(dir.path())
                .into_iter()
                .find(|n| n.starts_with(".frames.tmp-"))
                .map(|n| dir.path().join(n));
            if let Some(tmp) = found.filter(|t| t.join("frame-0001.txt").exists()) {
                break tmp;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "no frame in a temporary folder"
            );
            std::thread::sleep(Duration::from_millis(5));
        };
        // SAFETY: kill(2) on our own child.
        assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
        let status = child.wait().unwrap();
        assert_eq!(status.signal(), Some(signal), "{status:?}");
        assert!(!temporary.exists(), "signal {signal}");
        assert_eq!(listing(dir.path()), ["walk.keys"], "signal {signal}");
    }
}
