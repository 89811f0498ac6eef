//! `deltascope replay` streams: each frame is written out as soon as it is drawn and then
//! dropped, so a replay's memory does not grow with its script, and a reader that stops
//! early (`head`) ends it without an error. (An interrupted `--out`:
//! tests/robustness_files.rs; the bytes written: tests/replay_cli.rs.)
#![cfg(unix)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

/// Run `deltascope replay` (the built-in scenario, 120×40, `--ansi`) on `script`; return the
/// number of frames it printed and its peak resident memory in KiB, from wait4(2)'s rusage of
/// this one child (other tests' children, running alongside, do not count).
#[expect(
    clippy::zombie_processes,
    reason = "reaped by wait4(2), which gives its rusage"
)]
fn replay_peak_rss(script: &str) -> (usize, u64) {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("walk.keys");
    std::fs::write(&keys, script).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_deltascope"))
        .args(["replay", "--script", keys.to_str().unwrap()])
        .args(["--size", "120x40", "--ansi"])
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let frames = std::thread::spawn(move || {
        BufReader::new(stdout)
            .split(b'\n')
            .filter(|l| l.as_ref().unwrap().starts_with("──── frame ".as_bytes()))
            .count()
    });
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: a zeroed rusage is valid; wait4(2) fills it for our own child, which no one
    // else waits for (`child` is dropped without `wait`).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = loop {
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r != -1 || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            break r;
        }
    };
    assert_eq!(reaped, pid, "wait4: {}", std::io::Error::last_os_error());
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "status {status}: {stderr}"
    );
    // ru_maxrss is in KiB on Linux, in bytes on macOS.
    let peak = usage.ru_maxrss as u64 / if cfg!(target_os = "macos") { 1024 } else { 1 };
    (frames.join().unwrap(), peak)
}

#[test]
fn a_long_replay_holds_one_frame_at_a_time() {
    let (short_frames, short) = replay_peak_rss(&"Tab\nBackTab\n".repeat(5));
    let (long_frames, long) = replay_peak_rss(&"Tab\nBackTab\n".repeat(750));
    assert_eq!(
        (short_frames, long_frames),
        (11, 1501),
        "start + one per line"
    );
    // Streamed, the 1 490 more frames of the long replay add nothing. Kept until the end,
    // they would add some 320 MiB as buffers (220 KiB for a 120×40 frame's 4 800 cells), or
    // some 19 MiB even as ANSI text (13 KiB a frame).
    assert!(
        long <= short + 8 * 1024,
        "peak memory grows with the script: {short} KiB for {short_frames} frames, {long} KiB for {long_frames}"
    );
}

#[test]
fn a_reader_that_stops_early_ends_the_replay_without_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("walk.keys");
    // 100 000 frames: minutes of drawing, unless the replay stops when its reader does.
    std::fs::write(&keys, "Tab\nBackTab\n".repeat(50_000)).unwrap();
    let start = std::time::Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_deltascope"))
        .args(["replay", "--script", keys.to_str().unwrap()])
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert_eq!(first, "──── frame 0 · start ────\n");
    // The reader is gone (as `head -1` would be): the next write fails with EPIPE.
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        start.elapsed() < std::time::Duration::from_secs(60),
        "the replay took {:?}: it went on drawing after its reader left",
        start.elapsed()
    );
}
