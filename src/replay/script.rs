//! Key scripts for `deltascope replay`: one key per line. Documented in docs/replay.md.
//!
//! - a single character is that key (`n`, `?`, `G`); `'#'` quotes one (the hash key);
//! - named keys: Tab BackTab Left Right Up Down Home End PageUp PageDown Enter Esc Space
//!   Backspace Delete Insert F1…F24, with `Ctrl+`, `Alt+` and `Shift+` before them;
//! - `n*12` presses a key 12 times;
//! - `snap [label]` marks a frame to print with `--only-snaps`;
//! - `resize 80x24` changes the terminal size from there on;
//! - blank lines and lines starting with `#` are ignored (no comments after a key).

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// Key presses in one script, after repeats are expanded.
pub const MAX_SCRIPT_KEYS: usize = 100_000;
/// Lines of a script that do something (keys, `snap`, `resize`; not blanks or comments).
/// A replay draws at most one frame more (the start); it holds one frame at a time, so the
/// number of frames costs time and output, not memory.
pub const MAX_SCRIPT_COMMANDS: usize = 100_000;
/// Size of a script file, or of a script read from standard input: 16 MiB.
pub const MAX_SCRIPT_BYTES: u64 = 16 * 1024 * 1024;
/// Terminal sizes a script may ask for.
pub const MAX_TERMINAL_SIDE: u16 = 1000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Key { key: KeyEvent, repeat: usize },
    Snap { label: Option<String> },
    Resize { width: u16, height: u16 },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// 1-based line number in the script.
    pub number: usize,
    /// The line as written, trimmed, for frame headers.
    pub text: String,
    pub command: Command,
}

/// An error with the script line it is about; the caller names the script.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {problem}")]
pub struct ScriptError {
    /// 1-based line number in the script.
    pub line: usize,
    #[source]
    pub problem: LineError,
}

/// What is wrong with a line of a script.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    #[error("the script has more than the limit of {limit} lines of keys, snaps and resizes")]
    TooManyLines { limit: usize },
    #[error("the script presses more than the limit of {limit} keys")]
    TooManyKeys { limit: usize },
    /// `count` as written: it may not fit a number.
    #[error("repeat count {count} must be between 1 and {max}")]
    Repeat { count: String, max: usize },
    #[error(transparent)]
    Size(#[from] SizeError),
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// A terminal size that is not `WIDTHxHEIGHT` with both sides from 1 to `max`: a
/// `resize` line, or `--size`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("expected a size WIDTHxHEIGHT between 1x1 and {max}x{max}, got `{text}`")]
pub struct SizeError {
    pub text: String,
    pub max: u16,
}

/// A key that is not a single character, a named key or F1…F24.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown key `{text}`: write a single character, or one of {}, F1…F24, with Ctrl+, Alt+ or Shift+ before it",
    key_names()
)]
pub struct KeyError {
    pub text: String,
}

fn key_names() -> String {
    let names: Vec<&str> = NAMED_KEYS.iter().map(|(n, _)| *n).collect();
    names.join(", ")
}

const NAMED_KEYS: &[(&str, KeyCode)] = &[
    ("Tab", KeyCode::Tab),
    ("BackTab", KeyCode::BackTab),
    ("Left", KeyCode::Left),
    ("Right", KeyCode::Right),
    ("Up", KeyCode::Up),
    ("Down", KeyCode::Down),
    ("Home", KeyCode::Home),
    ("End", KeyCode::End),
    ("PageUp", KeyCode::PageUp),
    ("PageDown", KeyCode::PageDown),
    ("Enter", KeyCode::Enter),
    ("Esc", KeyCode::Esc),
    ("Space", KeyCode::Char(' ')),
    ("Backspace", KeyCode::Backspace),
    ("Delete", KeyCode::Delete),
    ("Insert", KeyCode::Insert),
];

pub fn parse(text: &str) -> Result<Vec<Line>, ScriptError> {
    let mut lines = Vec::new();
    let mut keys = 0usize;
    for (i, raw) in text.lines().enumerate() {
        let number = i + 1;
        let text = raw.trim();
        // A line starting with '#' is a comment, a lone '#' too; `'#'` presses the key.
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        if lines.len() == MAX_SCRIPT_COMMANDS {
            return Err(ScriptError {
                line: number,
                problem: LineError::TooManyLines {
                    limit: MAX_SCRIPT_COMMANDS,
                },
            });
        }
        let command = parse_line(text).map_err(|problem| ScriptError {
            line: number,
            problem,
        })?;
        if let Command::Key { repeat, .. } = command {
            keys = keys.saturating_add(repeat);
            if keys > MAX_SCRIPT_KEYS {
                return Err(ScriptError {
                    line: number,
                    problem: LineError::TooManyKeys {
                        limit: MAX_SCRIPT_KEYS,
                    },
                });
            }
        }
        lines.push(Line {
            number,
            text: text.to_string(),
            command,
        });
    }
    Ok(lines)
}

fn parse_line(text: &str) -> Result<Command, LineError> {
    if text == "snap" || text.starts_with("snap ") {
        let label = text[4..].trim();
        return Ok(Command::Snap {
            label: (!label.is_empty()).then(|| label.to_string()),
        });
    }
    if let Some(size) = text.strip_prefix("resize ") {
        let (width, height) = parse_size(size.trim())?;
        return Ok(Command::Resize { width, height });
    }
    // "n*12": a key and a repeat count; a lone "*" is the star key itself, `'*'*3` repeats it.
    let (key, repeat) = match text.rsplit_once('*') {
        Some((key, count))
            if !key.is_empty()
                && !count.is_empty()
                && count.bytes().all(|b| b.is_ascii_digit()) =>
        {
            let repeat: usize = count
                .parse()
                .ok()
                .filter(|&n| (1..=MAX_SCRIPT_KEYS).contains(&n))
                .ok_or_else(|| LineError::Repeat {
                    count: count.to_string(),
                    max: MAX_SCRIPT_KEYS,
                })?;
            (key, repeat)
        }
        _ => (text, 1),
    };
    Ok(Command::Key {
        key: parse_key(key)?,
        repeat,
    })
}

/// "120x40" → (120, 40).
pub fn parse_size(text: &str) -> Result<(u16, u16), SizeError> {
    let parsed = text
        .split_once(['x', 'X'])
        .and_then(|(w, h)| Some((w.parse::<u16>().ok()?, h.parse::<u16>().ok()?)));
    match parsed {
        Some((w, h))
            if (1..=MAX_TERMINAL_SIDE).contains(&w) && (1..=MAX_TERMINAL_SIDE).contains(&h) =>
        {
            Ok((w, h))
        }
        _ => Err(SizeError {
            text: text.to_string(),
            max: MAX_TERMINAL_SIDE,
        }),
    }
}

/// A key as written in a script: `n`, `?`, `'#'`, `Tab`, `Ctrl+c`, `Shift+Tab`, `F5`.
pub fn parse_key(text: &str) -> Result<KeyEvent, KeyError> {
    let mut modifiers = KeyModifiers::NONE;
    let mut rest = text;
    loop {
        let lower = rest.to_ascii_lowercase();
        let (flag, len) = if lower.starts_with("ctrl+") {
            (KeyModifiers::CONTROL, 5)
        } else if lower.starts_with("alt+") {
            (KeyModifiers::ALT, 4)
        } else if lower.starts_with("shift+") {
            (KeyModifiers::SHIFT, 6)
        } else {
            break;
        };
        if rest.len() == len {
            break; // "Ctrl+" alone: the '+' belongs to nothing; reported below
        }
        modifiers |= flag;
        rest = &rest[len..];
    }
    let code = key_code(rest).ok_or_else(|| KeyError {
        text: text.to_string(),
    })?;
    // What a terminal sends: Shift+Tab arrives as BackTab, and a shifted letter as itself.
    let (code, modifiers) = match code {
        KeyCode::Tab if modifiers.contains(KeyModifiers::SHIFT) => (KeyCode::BackTab, modifiers),
        KeyCode::BackTab => (KeyCode::BackTab, modifiers | KeyModifiers::SHIFT),
        KeyCode::Char(c) if modifiers.contains(KeyModifiers::SHIFT) && c.is_alphabetic() => (
            KeyCode::Char(c.to_uppercase().next().unwrap_or(c)),
            modifiers,
        ),
        KeyCode::Char(c) if c.is_uppercase() => (KeyCode::Char(c), modifiers | KeyModifiers::SHIFT),
        other => (other, modifiers),
    };
    Ok(KeyEvent::new(code, modifiers))
}

fn key_code(text: &str) -> Option<KeyCode> {
    let mut chars = text.chars();
    match (chars.next(), chars.next(), chars.next(), chars.next()) {
        (Some(c), None, _, _) => return Some(KeyCode::Char(c)),
        (Some('\''), Some(c), Some('\''), None) => return Some(KeyCode::Char(c)),
        _ => {}
    }
    if let Some((_, code)) = NAMED_KEYS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(text))
    {
        return Some(*code);
    }
    let number = text.strip_prefix(['F', 'f'])?.parse::<u8>().ok()?;
    (1..=24).contains(&number).then_some(KeyCode::F(number))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode, modifiers: KeyModifiers) -> Command {
        Command::Key {
            key: KeyEvent::new(code, modifiers),
            repeat: 1,
        }
    }

    #[test]
    fn parses_keys_repeats_comments_and_directives() {
        let script = "# a comment\n\nn*3\nTab\nshift+tab\nCtrl+c\n?\n'#'\n#\nF5\nG\nsnap pool1 switches\nresize 80x24\n*\n";
        let lines = parse(script).unwrap();
        let commands: Vec<_> = lines.iter().map(|l| l.command.clone()).collect();
        assert_eq!(
            commands,
            vec![
                Command::Key {
                    key: KeyEvent::new(KeyCode::Char('n'), KeyModifiers::NONE),
                    repeat: 3
                },
                key(KeyCode::Tab, KeyModifiers::NONE),
                key(KeyCode::BackTab, KeyModifiers::SHIFT),
                key(KeyCode::Char('c'), KeyModifiers::CONTROL),
                key(KeyCode::Char('?'), KeyModifiers::NONE),
                key(KeyCode::Char('#'), KeyModifiers::NONE),
                key(KeyCode::F(5), KeyModifiers::NONE),
                key(KeyCode::Char('G'), KeyModifiers::SHIFT),
                Command::Snap {
                    label: Some("pool1 switches".into())
                },
                Command::Resize {
                    width: 80,
                    height: 24
                },
                key(KeyCode::Char('*'), KeyModifiers::NONE),
            ]
        );
        assert_eq!(lines[0].number, 3);
        assert_eq!(lines[0].text, "n*3");
    }

    #[test]
    fn unknown_keys_are_errors_with_their_line() {
        let err = parse("n\n\nCtlr+c\n").unwrap_err();
        assert_eq!(err.line, 3);
        assert_eq!(
            err.problem,
            LineError::Key(KeyError {
                text: "Ctlr+c".into()
            })
        );
        assert!(
            err.to_string().starts_with("line 3: unknown key `Ctlr+c`"),
            "{err}"
        );
        assert_eq!(parse("F25").unwrap_err().line, 1);
        assert_eq!(
            parse("n*0").unwrap_err().problem.to_string(),
            format!("repeat count 0 must be between 1 and {MAX_SCRIPT_KEYS}")
        );
        assert_eq!(
            parse("resize 0x5").unwrap_err().to_string(),
            "line 1: expected a size WIDTHxHEIGHT between 1x1 and 1000x1000, got `0x5`"
        );
    }

    #[test]
    fn scripts_longer_than_the_limit_are_refused() {
        let err = parse(&format!("n*{MAX_SCRIPT_KEYS}\nn\n")).unwrap_err();
        assert_eq!(err.line, 2);
        assert_eq!(
            err.problem.to_string(),
            "the script presses more than the limit of 100000 keys"
        );
        // Snaps and resizes press no key, but each is a line to keep and maybe a frame.
        let err = parse(&"snap\n# a comment\n".repeat(MAX_SCRIPT_COMMANDS + 1)).unwrap_err();
        assert_eq!(err.line, 2 * MAX_SCRIPT_COMMANDS + 1);
        assert_eq!(
            err.problem.to_string(),
            "the script has more than the limit of 100000 lines of keys, snaps and resizes"
        );
    }
}
