//! The debugger gives the terminal back as it found it: raw mode off (the line discipline
//! cooked again, ICANON and ECHO set), the cursor shown and the alternate screen left,
//! whether the user quits or the program panics. Proven in a pseudo-terminal: its output
//! must end by leaving the alternate screen and showing the cursor, and its termios must be
//! cooked again once the program has exited.
//!
//! Quitting is tried on the built binary. A panic is tried on this test binary, started
//! again as [`the_debugger_panicking`]: it runs the debugger through the library entry
//! point the binary uses, `deltascope::app::run_interactive`, and panics inside it, so the
//! binary itself has no hook for tests.
#![cfg(target_os = "linux")]

use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const ENTER_ALTERNATE_SCREEN: &[u8] = b"\x1b[?1049h";
const LEAVE_ALTERNATE_SCREEN: &[u8] = b"\x1b[?1049l";
const HIDE_CURSOR: &[u8] = b"\x1b[?25l";
const SHOW_CURSOR: &[u8] = b"\x1b[?25h";
const TIMEOUT: Duration = Duration::from_secs(20);

struct Pty {
    master: OwnedFd,
    /// Kept open by the test so that the terminal's settings can be read after the child exits.
    slave: OwnedFd,
}

fn open_pty(cols: u16, rows: u16) -> Pty {
    let (mut master, mut slave) = (-1, -1);
    let size = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: openpty writes two file descriptors; the name and termios pointers may be null.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &size,
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors were just opened and are owned by nothing else.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    // SAFETY: fcntl on a descriptor we own.
    unsafe {
        let flags = libc::fcntl(master.as_raw_fd(), libc::F_GETFL);
        libc::fcntl(master.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK);
    }
    Pty { master, slave }
}

fn termios(pty: &Pty) -> libc::termios {
    // SAFETY: an all-zero termios is a valid value for tcgetattr to overwrite.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: tcgetattr on a descriptor we own, into a termios we own.
    let rc = unsafe { libc::tcgetattr(pty.slave.as_raw_fd(), &mut t) };
    assert_eq!(rc, 0, "tcgetattr: {}", std::io::Error::last_os_error());
    t
}

fn cooked(t: &libc::termios) -> bool {
    t.c_lflag & libc::ICANON != 0 && t.c_lflag & libc::ECHO != 0
}

/// Set in the environment of this test binary when it is started again to run
/// [`the_debugger_panicking`].
const PANIC_IN_TUI: &str = "DELTASCOPE_TEST_PANIC_IN_TUI";

/// Start `command` (the debugger on the default scenario) with the pseudo-terminal as its
/// controlling terminal and its standard input, output and error.
fn spawn(pty: &Pty, mut command: Command) -> Child {
    let stdio = || Stdio::from(pty.slave.try_clone().expect("dup the pty"));
    command
        .stdin(stdio())
        .stdout(stdio())
        .stderr(stdio())
        .env("TERM", "xterm-256color")
        .env_remove("NO_COLOR");
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        command.pre_exec(|| {
            if libc::setsid() == -1 || libc::ioctl(0, libc::TIOCSCTTY, 0) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command.spawn().expect("start deltascope")
}

/// Everything the program has written so far.
fn drain(pty: &Pty, out: &mut Vec<u8>) {
    let mut buf = [0u8; 65536];
    loop {
        // SAFETY: read into a buffer we own, from a descriptor we own.
        let n = unsafe { libc::read(pty.master.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            return;
        }
        out.extend_from_slice(&buf[..n as usize]);
    }
}

fn find_last(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).rposition(|w| w == needle)
}

fn wait_until(pty: &Pty, out: &mut Vec<u8>, what: &str, done: impl Fn(&[u8]) -> bool) {
    let start = Instant::now();
    loop {
        drain(pty, out);
        if done(out) {
            return;
        }
        assert!(
            start.elapsed() < TIMEOUT,
            "timed out waiting for {what}; output so far: {:?}",
            String::from_utf8_lossy(out)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn wait_for_exit(child: &mut Child, pty: &Pty, out: &mut Vec<u8>) -> ExitStatus {
    let start = Instant::now();
    loop {
        drain(pty, out);
        if let Some(status) = child.try_wait().unwrap() {
            std::thread::sleep(Duration::from_millis(50));
            drain(pty, out);
            return status;
        }
        if start.elapsed() > TIMEOUT {
            let _ = child.kill();
            panic!(
                "deltascope did not exit; output: {:?}",
                String::from_utf8_lossy(out)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The program took over the terminal: alternate screen, raw mode, a first frame.
fn wait_for_the_debugger(pty: &Pty, out: &mut Vec<u8>) {
    wait_until(pty, out, "the first frame", |o| {
        find_last(o, ENTER_ALTERNATE_SCREEN).is_some()
            && String::from_utf8_lossy(o).contains("mean_pool_classic")
    });
    let start = Instant::now();
    while cooked(&termios(pty)) {
        assert!(start.elapsed() < TIMEOUT, "the terminal never went raw");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Raw mode is off and the alternate screen was left last.
fn assert_screen_and_mode_restored(pty: &Pty, out: &[u8]) {
    let text = String::from_utf8_lossy(out);
    let entered = find_last(out, ENTER_ALTERNATE_SCREEN).expect("entered the alternate screen");
    let left = find_last(out, LEAVE_ALTERNATE_SCREEN)
        .unwrap_or_else(|| panic!("never left the alternate screen: {text:?}"));
    assert!(left > entered, "left, then entered again: {text:?}");
    let t = termios(pty);
    assert!(
        cooked(&t),
        "raw mode is still on: c_lflag = {:#o}",
        t.c_lflag
    );
}

/// The cursor, hidden while the debugger draws, is shown again at the end.
fn assert_cursor_shown(out: &[u8]) {
    let text = String::from_utf8_lossy(out);
    let shown = find_last(out, SHOW_CURSOR)
        .unwrap_or_else(|| panic!("the cursor is never shown again: {text:?}"));
    if let Some(hidden) = find_last(out, HIDE_CURSOR) {
        assert!(shown > hidden, "the cursor is hidden at the end: {text:?}");
    }
}

/// Not a test of its own: with [`PANIC_IN_TUI`] set, the program that
/// [`panic_inside_the_debugger`] runs in a pseudo-terminal (without it, nothing). It opens
/// the debugger on the default scenario as the binary does, through
/// `deltascope::app::run_interactive`; a thread waits until the debugger has put the
/// terminal in raw mode and drawn, then panics and ends the process with status 101, as a
/// panic in the debugger would. The panic goes through the panic hook the debugger
/// installs, which alone must restore the terminal: `run_interactive` never returns, so
/// the debugger's own clean-up never runs.
#[test]
fn the_debugger_panicking() {
    if std::env::var_os(PANIC_IN_TUI).is_none() {
        return;
    }
    std::thread::spawn(|| {
        while !ratatui::crossterm::terminal::is_raw_mode_enabled().unwrap_or(false) {
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(300));
        let _ = std::panic::catch_unwind(|| panic!("DELTASCOPE_TEST_PANIC_IN_TUI: a test panic"));
        std::process::exit(101);
    });
    let scenario = deltascope::scenario::default_scenario();
    let ended = deltascope::app::run_interactive(scenario, None);
    panic!("the debugger ended before the test panic: {ended:?}");
}

/// Run the debugger until the test panic ends it; return its output.
fn panic_inside_the_debugger(pty: &Pty) -> Vec<u8> {
    let mut this_test_binary = Command::new(std::env::current_exe().expect("the test binary"));
    // Only that test, on this thread, its panic message not captured: the pty shows it.
    this_test_binary
        .args([
            "the_debugger_panicking",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(PANIC_IN_TUI, "1");
    let mut child = spawn(pty, this_test_binary);
    let mut out = Vec::new();
    wait_for_the_debugger(pty, &mut out);
    let status = wait_for_exit(&mut child, pty, &mut out);
    assert_eq!(status.code(), Some(101), "a panic's status");
    let text = String::from_utf8_lossy(&out);
    assert!(
        text.contains("DELTASCOPE_TEST_PANIC_IN_TUI: a test panic"),
        "the panic message is shown: {text:?}"
    );
    out
}

#[test]
fn quitting_restores_the_terminal() {
    let pty = open_pty(100, 30);
    assert!(cooked(&termios(&pty)), "a new pty starts cooked");
    let mut child = spawn(&pty, Command::new(env!("CARGO_BIN_EXE_deltascope")));
    let mut out = Vec::new();
    wait_for_the_debugger(&pty, &mut out);
    let mut master = std::fs::File::from(pty.master.try_clone().unwrap());
    master.write_all(b"q").unwrap();
    let status = wait_for_exit(&mut child, &pty, &mut out);
    assert!(status.success(), "{status:?}");
    assert_screen_and_mode_restored(&pty, &out);
    assert_cursor_shown(&out);
}

#[test]
fn a_panic_inside_the_debugger_turns_raw_mode_off_and_leaves_the_alternate_screen() {
    let pty = open_pty(100, 30);
    let out = panic_inside_the_debugger(&pty);
    assert_screen_and_mode_restored(&pty, &out);
    // The message comes after the screen is restored, so it stays readable.
    let message = find_last(&out, b"a test panic").unwrap();
    assert!(message > find_last(&out, LEAVE_ALTERNATE_SCREEN).unwrap());
}

#[test]
fn a_panic_inside_the_debugger_shows_the_cursor_again() {
    let pty = open_pty(100, 30);
    let out = panic_inside_the_debugger(&pty);
    assert_cursor_shown(&out);
}
