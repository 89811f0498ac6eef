//! docs/bad-inputs.md, kept true: every `case` block in it is run against the built binary
//! in a fresh folder, and the program must print each line shown and exit with the status
//! shown. Around every case: no panic, no input file changed, and a command that fails
//! leaves no file behind.
//!
//! A case block reads like a terminal session:
//!
//! ```text
//! s.json: layers[0].kernels = 0          the base scenario with one change
//! $ deltascope check s.json              the command, run in the case's folder
//! deltascope: s.json: layers[0].kernels: must be at least 1
//! exit status 2
//! ```
//!
//! Before the command, `FILE: CHANGE` lines make the files: `s.json` starts as the
//! document's base scenario; a change is `PATH = JSON` (`N × JSON` repeats a value into an
//! array), `delete PATH`, `text TEXT` (the whole file, with `\n`, `\"` and `\xNN` escapes),
//! `sparse N` (an empty file of N bytes) or `folder`. After it, every line but the last must
//! be a line of the output (standard error, then standard output); one ending in `…` only
//! has to start a line.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

const DOC: &str = include_str!("../docs/bad-inputs.md");

/// One `case` block of the document.
#[derive(Debug)]
struct Case {
    /// Line in the document where the block starts, for messages.
    line: usize,
    setup: Vec<(String, String)>,
    command: String,
    expected: Vec<String>,
    status: i32,
}

fn base_scenario() -> Value {
    let start = DOC
        .find("```json base\n")
        .expect("the document shows its base scenario in a ```json base block")
        + "```json base\n".len();
    let end = start + DOC[start..].find("```").unwrap();
    serde_json::from_str(&DOC[start..end]).expect("the base scenario is JSON")
}

fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    let mut lines = DOC.lines().enumerate();
    while let Some((n, line)) = lines.next() {
        if line.trim() != "```case" {
            continue;
        }
        let mut body = Vec::new();
        for (_, line) in lines.by_ref() {
            if line.trim() == "```" {
                break;
            }
            body.push(line.to_string());
        }
        let command_at = body
            .iter()
            .position(|l| l.starts_with("$ "))
            .unwrap_or_else(|| panic!("bad-inputs.md line {}: no `$ command`", n + 1));
        let setup = body[..command_at]
            .iter()
            .map(|l| {
                let (file, change) = l
                    .split_once(": ")
                    .unwrap_or_else(|| panic!("bad-inputs.md line {}: `{l}`", n + 1));
                (file.to_string(), change.to_string())
            })
            .collect();
        let last = body.last().unwrap();
        let status = last
            .strip_prefix("exit status ")
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                panic!("bad-inputs.md line {}: ends without `exit status N`", n + 1)
            });
        cases.push(Case {
            line: n + 1,
            setup,
            command: body[command_at][2..].to_string(),
            expected: body[command_at + 1..body.len() - 1].to_vec(),
            status,
        });
    }
    cases
}

/// `layers[0].kernels` → ["layers", 0, "kernels"].
fn path_steps(path: &str) -> Vec<Value> {
    let mut steps = Vec::new();
    for part in path.split('.') {
        let (key, indices) = part.split_at(part.find('[').unwrap_or(part.len()));
        if !key.is_empty() {
            steps.push(Value::from(key));
        }
        for index in indices.split(['[', ']']).filter(|s| !s.is_empty()) {
            steps.push(Value::from(index.parse::<u64>().unwrap()));
        }
    }
    steps
}

fn place<'v>(v: &'v mut Value, steps: &[Value]) -> &'v mut Value {
    steps.iter().fold(v, |v, step| match step {
        Value::String(k) => &mut v[k.as_str()],
        Value::Number(i) => &mut v[i.as_u64().unwrap() as usize],
        _ => unreachable!(),
    })
}

/// `3 × 2 × 0` → [[0, 0], [0, 0], [0, 0]]; anything else is JSON.
fn value(text: &str) -> Value {
    match text.split_once(" × ") {
        Some((n, rest)) => Value::Array(vec![value(rest); n.trim().parse().unwrap()]),
        None => serde_json::from_str(text).unwrap_or_else(|e| panic!("`{text}`: {e}")),
    }
}

/// `text` with `\n`, `\"`, `\\` and `\xNN` escapes, as bytes.
fn unescape(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut buf = [0; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        match chars.next() {
            Some('n') => out.push(b'\n'),
            Some('x') => {
                let hex: String = chars.by_ref().take(2).collect();
                out.push(u8::from_str_radix(&hex, 16).unwrap());
            }
            Some(other) => out.push(other as u8),
            None => out.push(b'\\'),
        }
    }
    out
}

/// Make the case's files in `dir`; returns every file made, with its content.
fn make_files(case: &Case, dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut jsons: BTreeMap<String, Value> = BTreeMap::new();
    let mut raw: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    jsons.insert("s.json".into(), base_scenario());
    for (file, change) in &case.setup {
        if let Some(text) = change.strip_prefix("text ") {
            jsons.remove(file);
            raw.insert(file.clone(), unescape(text));
        } else if let Some(size) = change.strip_prefix("sparse ") {
            jsons.remove(file);
            let f = fs::File::create(dir.join(file)).unwrap();
            f.set_len(size.parse().unwrap()).unwrap();
        } else if change == "folder" {
            jsons.remove(file);
            fs::create_dir(dir.join(file)).unwrap();
        } else if let Some(path) = change.strip_prefix("delete ") {
            let steps = path_steps(path);
            let (last, parent) = steps.split_last().unwrap();
            let parent = place(jsons.get_mut(file).unwrap(), parent);
            match last {
                Value::String(k) => parent.as_object_mut().unwrap().shift_remove(k.as_str()),
                Value::Number(i) => Some(
                    parent
                        .as_array_mut()
                        .unwrap()
                        .remove(i.as_u64().unwrap() as usize),
                ),
                _ => unreachable!(),
            };
        } else {
            let (path, v) = change
                .split_once(" = ")
                .unwrap_or_else(|| panic!("bad-inputs.md line {}: `{change}`", case.line));
            let json = jsons
                .get_mut(file)
                .unwrap_or_else(|| panic!("bad-inputs.md line {}: {file} is not JSON", case.line));
            *place(json, &path_steps(path)) = value(v);
        }
    }
    for (file, json) in jsons {
        raw.insert(file, json.to_string().into_bytes());
    }
    for (file, bytes) in &raw {
        fs::write(dir.join(file), bytes).unwrap();
    }
    raw
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn run(case: &Case) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let files = make_files(case, dir.path());
    let before = listing(dir.path());
    let (command, stdin) = match case.command.split_once(" < ") {
        Some((c, file)) => (c, Some(file.trim())),
        None => (case.command.as_str(), None),
    };
    let mut words = command.split_whitespace();
    assert_eq!(words.next(), Some("deltascope"), "line {}", case.line);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_deltascope"));
    cmd.args(words)
        .current_dir(dir.path())
        .env_remove("NO_COLOR")
        .stdin(match stdin {
            Some(file) => Stdio::from(fs::File::open(dir.path().join(file)).unwrap()),
            None => Stdio::null(),
        });
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let shown = format!("{stderr}{stdout}");
    let mut problems = Vec::new();
    if out.status.code() != Some(case.status) {
        problems.push(format!(
            "exit status {:?}, expected {}",
            out.status.code(),
            case.status
        ));
    }
    for expected in &case.expected {
        let found = match expected.strip_suffix('…') {
            Some(prefix) => shown.lines().any(|l| l.starts_with(prefix)),
            None => shown.lines().any(|l| l == expected),
        };
        if !found {
            problems.push(format!("no line `{expected}`"));
        }
    }
    if shown.contains("panicked") {
        problems.push("a panic".into());
    }
    for (file, bytes) in &files {
        if fs::read(dir.path().join(file)).ok().as_ref() != Some(bytes) {
            problems.push(format!("{file} was changed"));
        }
    }
    let after = listing(dir.path());
    if case.status != 0 && after != before {
        problems.push(format!("files left behind: {after:?}, before {before:?}"));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "bad-inputs.md line {}: `{}`: {}\n--- output ---\n{shown}",
            case.line,
            case.command,
            problems.join("; ")
        ))
    }
}

#[test]
fn every_case_in_bad_inputs_md_prints_what_it_shows_and_exits_as_it_says() {
    let cases = cases();
    assert!(cases.len() >= 40, "only {} cases", cases.len());
    // The cases are independent processes in their own folders: run them side by side.
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let chunk = cases.len().div_ceil(threads);
    let failures: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = cases
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || part.iter().filter_map(|c| run(c).err()).collect::<Vec<_>>())
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

#[test]
fn every_refusal_in_bad_inputs_md_names_a_field_a_line_or_an_argument() {
    for case in cases().iter().filter(|c| c.status == 2) {
        let named = case.expected.iter().any(|l| {
            // `deltascope: FILE: FIELD-OR-LINE: …`, `deltascope: --option: …` or clap's `error: …`.
            l.starts_with("deltascope: ") && l.matches(": ").count() >= 2
                || l.starts_with("deltascope: --")
                || l.starts_with("error: ")
                // Not a file's fault: the terminal is missing.
                || l.starts_with("deltascope: the interactive debugger needs a terminal")
        });
        assert!(
            named,
            "bad-inputs.md line {}: a refusal must show the message naming the file and the field, line or argument",
            case.line
        );
    }
}
