//! `deltascope replay` through the built binary: golden outputs, determinism, `--ansi`,
//! `--color`, `--out`, `--only-snaps`, script errors, and the example scripts in
//! `scenarios/*.keys`.
//!
//! The golden files in tests/golden/ are the expected output of their scripts. After a
//! deliberate change of the TUI, rewrite them with
//! `DELTASCOPE_WRITE_GOLDEN=1 cargo test --test replay_cli` and read the diff before
//! committing it.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use assert_cmd::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `deltascope ARGS` in the crate root, with no NO_COLOR from the caller's environment.
fn deltascope(args: &[&str]) -> Command {
    let mut cmd = Command::cargo_bin("deltascope").unwrap();
    cmd.current_dir(root())
        .args(args)
        .env_remove("NO_COLOR")
        .timeout(Duration::from_secs(60));
    cmd
}

fn run(args: &[&str]) -> Output {
    deltascope(args).output().unwrap()
}

/// Run, expect success, return standard output.
fn stdout(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "deltascope {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

fn headers(output: &str) -> Vec<&str> {
    output
        .lines()
        .filter(|l| l.starts_with("──── frame "))
        .collect()
}

/// The frames of an output: (header, body).
fn frames(output: &str) -> Vec<(String, String)> {
    let mut frames: Vec<(String, String)> = Vec::new();
    for line in output.split_inclusive('\n') {
        if line.starts_with("──── frame ") {
            frames.push((line.trim_end().to_string(), String::new()));
        } else {
            frames.last_mut().expect("output starts with a header").1 += line;
        }
    }
    frames
}

fn write_script(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("script.keys");
    std::fs::write(&path, text).unwrap();
    path
}

fn check_golden(args: &[&str], expected: &str) {
    let actual = stdout(args);
    let path = root().join("tests/golden").join(expected);
    if std::env::var_os("DELTASCOPE_WRITE_GOLDEN").is_some() && std::env::var_os("CI").is_none() {
        std::fs::write(&path, &actual).unwrap();
    }
    let expected_text = std::fs::read_to_string(&path).unwrap_or_default();
    if actual != expected_text {
        let first = actual
            .lines()
            .zip(expected_text.lines())
            .position(|(a, e)| a != e)
            .unwrap_or(actual.lines().count().min(expected_text.lines().count()));
        panic!(
            "`deltascope {}` differs from {} from line {}:\n  got:      {:?}\n  expected: {:?}\n\
             After a deliberate change: DELTASCOPE_WRITE_GOLDEN=1 cargo test --test replay_cli, \
             then read the diff.",
            args.join(" "),
            path.display(),
            first + 1,
            actual.lines().nth(first),
            expected_text.lines().nth(first),
        );
    }
}

#[test]
fn golden_frame_per_line() {
    check_golden(
        &[
            "replay",
            "scenarios/max_pool_switches.json",
            "--script",
            "tests/golden/walk.keys",
            "--size",
            "100x30",
            "--color",
            "mono",
        ],
        "walk.txt",
    );
}

#[test]
fn golden_only_snaps_in_ansi() {
    check_golden(
        &[
            "replay",
            "--script",
            "tests/golden/snaps.keys",
            "--size",
            "80x24",
            "--only-snaps",
            "--ansi",
        ],
        "snaps.ans",
    );
}

/// A script that visits every pane, overlay and kind of key.
const TOUR: &str = "\
n*3
Tab
Enter
j*2
l
m
c
J
Enter
?
j
Esc
n*6
x
Tab
x
+
G
p
[
]
g
resize 90x30
*
M
";

#[test]
fn the_same_replay_twice_is_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let script = write_script(dir.path(), TOUR);
    let script = script.to_str().unwrap();
    for extra in [
        &["--ansi"][..],
        &["--color", "256", "--ansi"],
        &["--color", "mono"],
    ] {
        let mut args = vec!["replay", "scenarios/l2_pool.json", "--script", script];
        args.extend_from_slice(extra);
        let first = run(&args);
        let second = run(&args);
        assert!(first.status.success(), "{extra:?}");
        assert!(
            first.stdout == second.stdout,
            "two runs of {extra:?} differ"
        );
        assert_eq!(
            headers(&String::from_utf8_lossy(&first.stdout)).len(),
            1 + TOUR.lines().count(),
            "a frame for the start and for every line"
        );
    }
}

/// The SGR parameter lists of every escape in the text.
fn sgr_codes(text: &str) -> Vec<Vec<u32>> {
    text.split("\x1b[")
        .skip(1)
        .map(|s| {
            let end = s.find('m').expect("every escape is an SGR");
            s[..end].split(';').map(|c| c.parse().unwrap()).collect()
        })
        .collect()
}

#[test]
fn ansi_output_keeps_colours_and_styles_as_sgr_escapes() {
    let base = [
        "replay",
        "--script",
        "tests/golden/snaps.keys",
        "--only-snaps",
    ];
    let with = |extra: &[&str]| {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        stdout(&args)
    };
    let plain = with(&[]);
    assert!(!plain.contains('\x1b'), "plain text has no escapes");

    let truecolor = with(&["--ansi"]);
    let codes = sgr_codes(&truecolor);
    // 24-bit backgrounds of the heatmaps, bold and reverse (the cursor).
    assert!(
        codes
            .iter()
            .any(|c| c.starts_with(&[0, 7]) || c.contains(&7))
    );
    assert!(codes.iter().any(|c| c.contains(&1)));
    assert!(codes.iter().any(|c| c.windows(2).any(|w| w == [48, 2])));
    assert!(
        truecolor
            .lines()
            .all(|l| l.starts_with("──── ") || l.ends_with("\x1b[0m"))
    );
    // The text under the escapes is the plain text, row for row (bar trailing spaces).
    let stripped: String = truecolor
        .split("\x1b[")
        .enumerate()
        .map(|(i, s)| {
            if i == 0 {
                s
            } else {
                &s[s.find('m').unwrap() + 1..]
            }
        })
        .collect();
    let trimmed: Vec<&str> = stripped.lines().map(str::trim_end).collect();
    assert_eq!(trimmed, plain.lines().collect::<Vec<_>>());

    let indexed = sgr_codes(&with(&["--ansi", "--color", "256"]));
    assert!(indexed.iter().any(|c| c.windows(2).any(|w| w == [48, 5])));
    assert!(!indexed.iter().any(|c| c.windows(2).any(|w| w == [48, 2])));

    let ansi16 = sgr_codes(&with(&["--ansi", "--color", "16"]));
    assert!(
        ansi16
            .iter()
            .flatten()
            .any(|c| (40..=47).contains(c) || (100..=107).contains(c))
    );
    assert!(!ansi16.iter().any(|c| c.contains(&38) || c.contains(&48)));

    let mono = sgr_codes(&with(&["--ansi", "--color", "mono"]));
    assert!(
        mono.iter().flatten().all(|c| *c < 10),
        "no colour at all: {mono:?}"
    );
    assert!(
        mono.iter().any(|c| c.contains(&7)),
        "the cursor is reversed"
    );
}

#[test]
fn no_color_selects_mono_unless_color_is_given() {
    let args = [
        "replay",
        "--script",
        "tests/golden/snaps.keys",
        "--only-snaps",
    ];
    let mono = stdout(&[&args[..], &["--color", "mono"]].concat());
    let truecolor = stdout(&args);
    assert_ne!(
        mono, truecolor,
        "mono draws glyphs where colour draws colours"
    );
    let under = |value: &str, extra: &[&str]| {
        let out = deltascope(&[&args[..], extra].concat())
            .env("NO_COLOR", value)
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(under("1", &[]), mono);
    assert_eq!(under("", &[]), truecolor, "an empty NO_COLOR is unset");
    assert_eq!(under("1", &["--color", "truecolor"]), truecolor);
}

#[test]
fn out_writes_one_file_per_frame_into_a_new_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let script = write_script(tmp.path(), "n*4\nTab\nresize 70x20\nq\n");
    let script = script.to_str().unwrap();
    let args = ["replay", "--script", script, "--size", "90x30"];
    let printed = stdout(&args);
    let n = headers(&printed).len();
    assert_eq!(n, 5, "start, n*4, Tab, resize and the quit");

    for (extra, extension) in [(&[][..], "txt"), (&["--ansi"][..], "ans")] {
        let dir = tmp.path().join(format!("frames-{extension}"));
        let dir_arg = dir.to_str().unwrap();
        let out = run(&[&args[..], extra, &["--out", dir_arg]].concat());
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.stdout.is_empty(),
            "with --out nothing goes to standard output"
        );
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        let expected: Vec<String> = (0..n)
            .map(|i| format!("frame-{i:04}.{extension}"))
            .collect();
        assert_eq!(names, expected);
        // The files, in order, are what standard output would have been.
        let joined: String = names
            .iter()
            .map(|f| std::fs::read_to_string(dir.join(f)).unwrap())
            .collect();
        let printed = stdout(&[&args[..], extra].concat());
        assert_eq!(joined, printed);
    }
    // Nothing is left beside the folders (the temporary folder was renamed into place).
    let mut left: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["frames-ans", "frames-txt", "script.keys"]);
}

#[test]
fn out_refuses_an_existing_folder_and_leaves_it_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let script = write_script(tmp.path(), "n\n");
    let dir = tmp.path().join("frames");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("notes.txt"), "mine").unwrap();
    let out = run(&[
        "replay",
        "--script",
        script.to_str().unwrap(),
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("already exists"), "{err}");
    assert!(out.stdout.is_empty());
    let names: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert_eq!(names.len(), 1);
    assert_eq!(
        std::fs::read_to_string(dir.join("notes.txt")).unwrap(),
        "mine"
    );
    // An existing file is refused too.
    let file = tmp.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let out = run(&[
        "replay",
        "--script",
        script.to_str().unwrap(),
        "--out",
        file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "x");
}

#[test]
fn script_errors_name_their_line_and_exit_with_status_2() {
    let tmp = tempfile::tempdir().unwrap();
    for (text, line, message) in [
        ("n\n\nCtlr+c\nn\n", 3, "unknown key `Ctlr+c`"),
        (
            "# a comment\nn*0\n",
            2,
            "repeat count 0 must be between 1 and 100000",
        ),
        ("n\nresize 80*24\n", 2, "expected a size WIDTHxHEIGHT"),
        (
            "n  # a trailing comment\n",
            1,
            "unknown key `n  # a trailing comment`",
        ),
        (
            "n*60000\nTab*50000\n",
            2,
            "the script presses more than the limit of 100000 keys",
        ),
        ("F25\n", 1, "unknown key `F25`"),
    ] {
        let script = write_script(tmp.path(), text);
        let out = run(&["replay", "--script", script.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{text:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("script.keys: line {line}: {message}")),
            "{text:?}: {err}"
        );
        assert!(out.stdout.is_empty(), "nothing is drawn for a bad script");
    }
    // From standard input.
    let out = deltascope(&["replay", "--script", "-"])
        .write_stdin("n\nnn\n")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("standard input: line 2: unknown key `nn`"),
        "{err}"
    );
}

#[test]
fn bad_options_exit_with_status_2() {
    for (args, message) in [
        (&["--size", "80"][..], "--size"),
        (&["--size", "0x10"][..], "--size"),
        (&["--color", "rainbow"][..], "--color"),
    ] {
        let out = run(&[&["replay", "--script", "tests/golden/snaps.keys"][..], args].concat());
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains(message));
    }
}

#[test]
fn only_snaps_prints_the_frames_at_snap_lines_and_nothing_else() {
    let tmp = tempfile::tempdir().unwrap();
    let text =
        "n*3\nsnap after three events\nTab\nEnter\nsnap\nresize 70x20\nsnap small\nq\nsnap never\n";
    let script = write_script(tmp.path(), text);
    let script = script.to_str().unwrap();
    let only = stdout(&["replay", "--script", script, "--only-snaps"]);
    let all = stdout(&["replay", "--script", script]);
    let only = frames(&only);
    let all = frames(&all);
    let titles: Vec<&str> = only.iter().map(|(h, _)| h.as_str()).collect();
    assert_eq!(
        titles,
        [
            "──── frame 0 · line 2: snap after three events ────",
            "──── frame 1 · line 5: snap ────",
            "──── frame 2 · line 7: snap small ────",
        ]
    );
    // Each snap shows the frame that the line before it drew in the default mode.
    let after = |line: usize| {
        &all.iter()
            .find(|(h, _)| h.contains(&format!(" line {line}: ")))
            .unwrap()
            .1
    };
    assert_eq!(&only[0].1, after(1));
    assert_eq!(&only[1].1, after(4));
    assert_eq!(&only[2].1, after(6));
    // The resize took effect: 20 rows of at most 70 columns.
    assert_eq!(only[2].1.lines().count(), 20);
    assert!(only[2].1.lines().all(|l| l.chars().count() <= 70));
    // Without --only-snaps, snap lines give no frame and a quit ends the replay.
    let titles: Vec<&str> = all.iter().map(|(h, _)| h.as_str()).collect();
    assert_eq!(titles.first(), Some(&"──── frame 0 · start ────"));
    assert_eq!(titles.last(), Some(&"──── frame 5 · line 8: q (quit) ────"));
    assert!(all.last().unwrap().1.is_empty());
    assert!(!titles.iter().any(|t| t.contains("snap")));
}

#[test]
fn the_hash_key_and_the_star_key_can_be_pressed() {
    let tmp = tempfile::tempdir().unwrap();
    let script = write_script(tmp.path(), "# a comment\n'#'*2\n**2\n*\n");
    let out = stdout(&["replay", "--script", script.to_str().unwrap()]);
    let titles = headers(&out);
    assert_eq!(titles.len(), 4, "{titles:?}");
    // `*` runs ten more training steps: 3 planned, then 23, then 33.
    assert!(
        out.contains("10 more training steps planned: 33 in all"),
        "{out}"
    );
}

/// Every example script in scenarios/ runs, by the command in its `# run:` line, and
/// every stop is labelled and shows the inspector's check of the cell it explains.
#[test]
fn the_example_scripts_run_as_their_header_says() {
    let mut count = 0;
    for entry in std::fs::read_dir(root().join("scenarios")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "keys") {
            continue;
        }
        count += 1;
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        let command = text
            .lines()
            .find_map(|l| l.strip_prefix("# run: deltascope "))
            .unwrap_or_else(|| panic!("{name}: no `# run: deltascope replay …` line"));
        let args: Vec<&str> = command.split_whitespace().collect();
        assert!(
            args.windows(2)
                .any(|w| w == ["--script", &format!("scenarios/{name}")]),
            "{name}: the run line replays another script: {command}"
        );
        assert!(args.contains(&"--only-snaps"), "{name}: {command}");
        let snaps: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| *l == "snap" || l.starts_with("snap "))
            .collect();
        assert!(
            snaps.iter().all(|s| s.len() > "snap ".len()),
            "{name}: every stop has a label"
        );
        assert!(
            !text.lines().any(|l| l.trim() == "#"),
            "{name}: a line holding only # presses the hash key"
        );
        let out = stdout(&args);
        let shown = frames(&out);
        assert_eq!(shown.len(), snaps.len(), "{name}");
        for (header, body) in &shown {
            assert!(
                body.contains("✓ equals the traced value"),
                "{name}: {header} explains no cell:\n{body}"
            );
        }
    }
    assert!(count >= 3, "the example scripts are missing");
}

/// A comment block is naturally written with empty `#` lines between paragraphs: a lone
/// `#` is a comment too (`'#'` presses the hash key).
#[test]
fn a_line_holding_only_a_hash_is_a_comment() {
    let lines = deltascope::replay::script::parse("# first paragraph\n#\n# second\nn\n").unwrap();
    let texts: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
    assert_eq!(texts, ["n"]);
}

/// `Shift+g` in a script is the key a terminal sends for it, `G`: the end of the last step.
/// `g` is another key (the start), so a parser that dropped the Shift would go elsewhere.
#[test]
fn shift_g_is_capital_g_the_end_not_g() {
    use deltascope::replay::script::parse_key;
    let key = |k: &str| parse_key(k).unwrap();
    // crossterm's KeyEvent equality folds 'g' + Shift into 'G', as the key table does.
    assert_eq!(key("Shift+g"), key("G"));
    assert_eq!(key("shift+G"), key("G"));
    assert_ne!(key("Shift+g"), key("g"));
    let tmp = tempfile::tempdir().unwrap();
    // From step 1, event 4 of the default scenario (3 steps of 10 events).
    let snap = |keys: &str| {
        let script = write_script(tmp.path(), &format!("]\nn*3\n{keys}\nsnap\n"));
        let out = stdout(&[
            "replay",
            "--script",
            script.to_str().unwrap(),
            "--only-snaps",
            "--color",
            "mono",
        ]);
        let shown = frames(&out);
        assert_eq!(shown.len(), 1, "{out}");
        shown[0].1.clone()
    };
    let (shift_g, capital_g, g) = (snap("Shift+g"), snap("G"), snap("g"));
    let title = |body: &str| body.lines().next().unwrap_or_default().to_string();
    assert!(
        title(&shift_g).contains("step 2 (0–2) · event 10/10"),
        "{shift_g}"
    );
    assert_eq!(shift_g, capital_g);
    assert!(title(&g).contains("step 0 (0–2) · event 1/10"), "{g}");
}
