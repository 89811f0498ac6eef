//! The interactive debugger refuses, with a clear message, to start without a terminal.

use assert_cmd::Command;

#[test]
fn without_a_terminal_it_names_export_and_replay_instead_of_hanging() {
    let out = Command::cargo_bin("deltascope")
        .unwrap()
        .write_stdin("")
        .timeout(std::time::Duration::from_secs(20))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("needs a terminal"), "{err}");
    assert!(err.contains("deltascope export"), "{err}");
    assert!(err.contains("deltascope replay"), "{err}");
    assert!(
        out.stdout.is_empty(),
        "nothing is drawn: {:?}",
        String::from_utf8_lossy(&out.stdout)
    );
}
