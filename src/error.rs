//! The errors a user can meet, one type per boundary the program crosses. Each is typed
//! inside (paths, sizes and limits as numbers, an `io::Error` as a source) and turned into
//! words only by its `Display`:
//!
//! - [`FieldError`]: one field of a JSON document (a scenario, a trace), named by its path;
//! - [`ReadError`]: reading a text file or standard input under a size limit;
//! - [`InputError`]: what a command reads: a scenario, a key script, a command-line value;
//! - [`TraceError`]: your own numbers, given to `diff` or `--compare`;
//! - [`OutputError`]: what a command writes: `export -o`, `replay --out`, standard output;
//! - [`TerminalError`]: the terminal of the interactive debugger;
//! - [`UserError`]: any of these, as `deltascope` reports them: `deltascope: {message}` on
//!   standard error and exit status 2.
//!
//! A `Display` is the whole message, the text of its source included: docs/bad-inputs.md
//! lists them word for word. The source (`std::error::Error::source`) is there for a
//! program to inspect (an `io::ErrorKind`, a [`FieldError`]'s path), not to be printed again.
//! Script lines have their own errors, beside the parser: `replay::script::ScriptError`.

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::replay::script::{ScriptError, SizeError};

/// A problem with one field of an input file: `layers[2].weights: expected shape ...`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// JSON path such as `layers[2].weights`, or empty for the whole file.
    pub path: String,
    pub message: String,
}

impl FieldError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for FieldError {}

/// A text that cannot be read whole (`files::read_text`, `files::read_limited`); the
/// caller names the file.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read: {0}")]
    Io(#[source] io::Error),
    #[error("is a directory, not a file")]
    Directory,
    /// A file whose size is known before reading.
    #[error("file of {size} bytes exceeds the limit of {limit} bytes")]
    FileTooLarge { size: u64, limit: u64 },
    /// A stream (standard input), or a file that grew while it was read.
    #[error("more than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("not UTF-8 text (byte {})", .0.valid_up_to())]
    NotUtf8(#[source] std::str::Utf8Error),
}

/// Where an input was read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    File(PathBuf),
    /// `--script -`.
    StandardInput,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File(path) => write!(f, "{}", path.display()),
            Origin::StandardInput => f.write_str("standard input"),
        }
    }
}

/// A command's input refused: a scenario or key script that cannot be read or is wrong,
/// or a command-line value out of its range.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{origin}: {source}")]
    Read {
        origin: Origin,
        #[source]
        source: ReadError,
    },
    #[error("{}: {source}", .file.display())]
    Scenario {
        file: PathBuf,
        #[source]
        source: FieldError,
    },
    #[error("{origin}: {source}")]
    Script {
        origin: Origin,
        #[source]
        source: ScriptError,
    },
    /// The first word is neither a command nor an existing file: `deltascope exprot`.
    #[error("{word}: no such command or file ({hint})")]
    NoSuchCommand { word: String, hint: CommandHint },
    /// `--size` of `replay` or `bench`.
    #[error("--size: {0}")]
    Size(#[source] SizeError),
    #[error("--color: expected truecolor, 256, 16 or mono, got `{0}`")]
    Color(String),
    /// `check --tolerance` and `--step`.
    #[error("--tolerance must be ≥ 0 and --step > 0, got {tolerance} and {step}")]
    CheckOptions { tolerance: f64, step: f64 },
    /// `bench --steps`.
    #[error("--steps must be between 1 and {max}, got {steps}")]
    BenchSteps { steps: usize, max: usize },
}

/// What a mistyped command most likely meant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommandHint {
    /// The nearest command.
    Nearest(String),
    /// No command is near: all of them.
    Commands(Vec<String>),
}

impl fmt::Display for CommandHint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandHint::Nearest(name) => write!(f, "did you mean `{name}`?"),
            CommandHint::Commands(names) => write!(f, "the commands: {}", names.join(", ")),
        }
    }
}

/// Your own trace (`diff`, `--compare`) refused: it cannot be read, or one of its fields
/// is wrong; or the tolerance to compare it with is.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("the tolerance must be ≥ 0, got {0}")]
    Tolerance(f64),
    #[error("{}: {source}", .file.display())]
    Read {
        file: PathBuf,
        #[source]
        source: ReadError,
    },
    #[error("{}: {source}", .file.display())]
    Field {
        file: PathBuf,
        #[source]
        source: FieldError,
    },
}

/// An output refused or not written (`files::write_atomic`, `files::write_atomic_dir`,
/// standard output).
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The output is one of the command's inputs.
    #[error("{}: refusing to overwrite an input of this command", .path.display())]
    WouldOverwriteInput { path: PathBuf },
    /// A path with no last component to write to (`/`, `..`).
    #[error("{}: not a file name", .path.display())]
    NotAFileName { path: PathBuf },
    /// `replay --out` wants a new folder.
    #[error("{}: already exists; give a new folder", .path.display())]
    FolderExists { path: PathBuf },
    #[error("{}: cannot write: {source}", .path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot write to standard output: {0}")]
    StandardOutput(#[source] io::Error),
}

/// The interactive debugger has no terminal, or loses it.
#[derive(Debug, thiserror::Error)]
pub enum TerminalError {
    #[error(
        "the interactive debugger needs a terminal on standard input and output. \
Without one, use `deltascope export FILE` to write every tensor of every step as JSON, \
or `deltascope replay FILE --script KEYS` to drive the debugger with a key script"
    )]
    NotATerminal,
    /// Raw mode or the alternate screen could not be entered.
    #[error("cannot set up the terminal: {0}")]
    Setup(#[source] io::Error),
    /// Reading a key or drawing a frame failed.
    #[error("terminal error: {0}")]
    Io(#[source] io::Error),
}

/// Anything `deltascope` refuses or cannot do, as opposed to a bug (a panic) or a check
/// that fails (exit status 1). The binary prints `deltascope: {self}` and exits with 2.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(transparent)]
    Trace(#[from] TraceError),
    #[error(transparent)]
    Output(#[from] OutputError),
    #[error(transparent)]
    Terminal(#[from] TerminalError),
}
