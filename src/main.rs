use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, CommandFactory, Parser, Subcommand};

use deltascope::check::{CheckOptions, DEFAULT_STEP, DEFAULT_TOLERANCE, gradient_check};
use deltascope::diff::Comparison;
use deltascope::engine::StepTrace;
use deltascope::error::{CommandHint, InputError, Origin, OutputError, TraceError, UserError};
use deltascope::export::{write_trace, write_trace_npz};
use deltascope::files::{read_limited, read_text, write_atomic};
use deltascope::scenario::limits::MAX_FILE_BYTES;
use deltascope::scenario::{self, Scenario};

/// A terminal debugger for backpropagation through small convolutional networks.
#[derive(Parser)]
#[command(version, about, args_conflicts_with_subcommands = true)]
struct Cli {
    /// Scenario file to open in the interactive debugger; the built-in default scenario when omitted.
    file: Option<PathBuf>,
    /// Show your own numbers (a trace in the export format, any subset) beside the reference.
    #[arg(long, value_name = "YOURS.json")]
    compare: Option<PathBuf>,
    /// With --compare: a cell differs when |yours − reference| > tolerance × max(1, |reference|).
    #[arg(long, default_value_t = deltascope::diff::DEFAULT_TOLERANCE, requires = "compare")]
    compare_tolerance: f64,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the scenario's training steps and write every tensor of every step as JSON.
    Export {
        /// Scenario file (format v1).
        file: PathBuf,
        /// Write to this file (atomically) instead of standard output.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Write the trace as a NumPy .npz archive to this file (atomically): every tensor
        /// of every step under `stepN/LAYER.TENSOR`, `stepN/loss` and `stepN/loss_grad`,
        /// for `np.load`.
        #[arg(long, value_name = "OUT.npz", conflicts_with = "output")]
        npz: Option<PathBuf>,
        /// Print only where the run first produces a non-finite value (NaN, inf): step,
        /// pass, layer, tensor and cell, in computation order; exit 0 either way.
        #[arg(long, conflicts_with_all = ["output", "npz"])]
        first_anomaly: bool,
    },
    /// Compare the backward pass with central differences on every weight, bias and input cell.
    Check {
        /// Scenario file (format v1); the built-in default scenario when omitted.
        file: Option<PathBuf>,
        /// A cell passes when its absolute or its relative error is at most this.
        #[arg(long, default_value_t = DEFAULT_TOLERANCE)]
        tolerance: f64,
        /// The finite-difference step h.
        #[arg(long, default_value_t = DEFAULT_STEP)]
        step: f64,
        /// Check every cell; by default a tensor of more than 512 cells is checked in a
        /// sample of 256 (docs/performance.md).
        #[arg(long)]
        all: bool,
    },
    /// Compare your own trace (export format v1, any subset of tensors) with the reference.
    Diff {
        /// Scenario file (format v1) that your numbers were computed for.
        file: PathBuf,
        /// Your trace: export format v1, with any subset of steps, layers and tensors.
        theirs: PathBuf,
        /// A cell differs when |yours − reference| > tolerance × max(1, |reference|).
        #[arg(long, default_value_t = deltascope::diff::DEFAULT_TOLERANCE)]
        tolerance: f64,
        /// List every tensor given, not only those that differ.
        #[arg(long)]
        all: bool,
    },
    /// Drive the debugger from a key script, headless, and print the frames it draws.
    Replay(ReplayArgs),
    /// Time training steps, passes, seeks and frames; print one JSON line (docs/performance.md).
    Bench {
        /// Scenario file (format v1); the built-in default scenario when omitted.
        file: Option<PathBuf>,
        /// Training steps to time, and the length of the session whose memory is measured.
        #[arg(long, default_value_t = 1000)]
        steps: usize,
        /// Terminal size for the frame timing, WIDTHxHEIGHT.
        #[arg(long, default_value = "200x60")]
        size: String,
    },
}

#[derive(Args)]
struct ReplayArgs {
    /// Scenario file (format v1); the built-in default scenario when omitted.
    file: Option<PathBuf>,
    /// Key script, one key per line (docs/replay.md); `-` reads standard input.
    #[arg(long)]
    script: PathBuf,
    /// Terminal size, WIDTHxHEIGHT.
    #[arg(long, default_value = "120x40")]
    size: String,
    /// Keep colours and styles as ANSI escapes (view with `cat` or `less -R`).
    #[arg(long)]
    ansi: bool,
    /// Write one file per frame into this new folder instead of standard output.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print frames only at the script's `snap` lines.
    #[arg(long)]
    only_snaps: bool,
    /// Colours to draw with: truecolor, 256, 16 or mono (default: mono when NO_COLOR is set, else truecolor).
    #[arg(long)]
    color: Option<String>,
    /// Show your own numbers beside the reference, as `deltascope FILE --compare` does.
    #[arg(long, value_name = "YOURS.json")]
    compare: Option<PathBuf>,
}

/// Exit statuses: 0 success, 1 a failed check or a difference found, 2 bad input.
const EXIT_FAILED: u8 = 1;
const EXIT_BAD_INPUT: u8 = 2;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // `deltascope exprot s.json`: clap would complain about `s.json`, not `exprot`.
            let args: Vec<OsString> = std::env::args_os().skip(1).collect();
            if e.use_stderr()
                && let Some(error) = first_word(&args).and_then(not_a_command_or_file)
            {
                return report(error.into());
            }
            e.exit()
        }
    };
    // `deltascope exprot`: a missing file named like a command, not a file path.
    if let (None, Some(file)) = (&cli.command, &cli.file)
        && looks_like_a_command(file.as_os_str())
        && let Some(error) = not_a_command_or_file(file.as_os_str())
    {
        return report(error.into());
    }
    let result = match cli.command {
        Some(Command::Export {
            file,
            output,
            npz,
            first_anomaly,
        }) => export(&file, output.as_deref(), npz.as_deref(), first_anomaly),
        Some(Command::Check {
            file,
            tolerance,
            step,
            all,
        }) => check(file.as_deref(), tolerance, step, all),
        Some(Command::Diff {
            file,
            theirs,
            tolerance,
            all,
        }) => diff(&file, &theirs, tolerance, all),
        Some(Command::Replay(args)) => replay(&args),
        Some(Command::Bench { file, steps, size }) => bench(file.as_deref(), steps, &size),
        None => interactive(
            cli.file.as_deref(),
            cli.compare.as_deref(),
            cli.compare_tolerance,
        ),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(error) => report(error),
    }
}

/// Every error a user can meet ends here: one line on standard error, exit status 2.
fn report(error: UserError) -> ExitCode {
    eprintln!("deltascope: {error}");
    ExitCode::from(EXIT_BAD_INPUT)
}

/// The first argument that is not an option or an option's value: where a command or the
/// debugger's FILE goes.
fn first_word(args: &[OsString]) -> Option<&OsStr> {
    let cli = Cli::command();
    let takes_value = |flag: &str| {
        cli.get_arguments().any(|a| {
            !a.is_positional()
                && a.get_action().takes_values()
                && (a
                    .get_long()
                    .is_some_and(|l| flag.strip_prefix("--") == Some(l))
                    || a.get_short().is_some_and(|c| flag == format!("-{c}")))
        })
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.to_str() {
            Some("--") => return args.next().map(OsString::as_os_str),
            Some(flag) if flag.starts_with('-') && flag != "-" => {
                if !flag.contains('=') && takes_value(flag) {
                    args.next();
                }
            }
            _ => return Some(arg),
        }
    }
    None
}

/// A bare word such as `exprot`: letters, digits, `-` and `_`, no path separator or dot.
fn looks_like_a_command(word: &OsStr) -> bool {
    word.to_str().is_some_and(|w| {
        !w.is_empty()
            && !w.starts_with('-')
            && w.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    })
}

/// The error for a first word that is neither a command nor an existing file, naming
/// the nearest command when there is one; None for a command or a file.
fn not_a_command_or_file(word: &OsStr) -> Option<InputError> {
    let names: Vec<String> = Cli::command()
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect();
    let text = word.to_string_lossy();
    let is_command = names.iter().any(|n| *n == text) || text == "help";
    if is_command || std::fs::symlink_metadata(word).is_ok() {
        return None;
    }
    let hint = match nearest_command(&text, &names) {
        Some(name) => CommandHint::Nearest(name.to_string()),
        None => CommandHint::Commands(names),
    };
    Some(InputError::NoSuchCommand {
        word: text.into_owned(),
        hint,
    })
}

/// The command a typo most likely meant: at most two edits away (a swap of neighbours is
/// one), or begun by the word; the nearest, the first of equals.
fn nearest_command<'n>(word: &str, names: &'n [String]) -> Option<&'n str> {
    let word = word.to_lowercase();
    names
        .iter()
        .map(|name| {
            let distance = edit_distance(&word, name);
            let prefix = word.chars().count() >= 2 && name.starts_with(&word);
            (if prefix { distance.min(1) } else { distance }, name)
        })
        .filter(|(distance, _)| *distance <= 2)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, name)| name.as_str())
}

/// Insertions, deletions, substitutions and swaps of two neighbours that turn `a` into `b`
/// (optimal string alignment distance).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    // d[i][j]: the distance between the first i characters of a and the first j of b.
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

/// Read and validate a scenario file; the built-in default scenario without one.
fn load(file: Option<&Path>) -> Result<Scenario, InputError> {
    let Some(path) = file else {
        return Ok(scenario::default_scenario());
    };
    let text = read_text(path, MAX_FILE_BYTES).map_err(|source| InputError::Read {
        origin: Origin::File(path.to_path_buf()),
        source,
    })?;
    scenario::parse(&text).map_err(|source| InputError::Scenario {
        file: path.to_path_buf(),
        source,
    })
}

fn run_steps(scenario: &Scenario) -> impl Iterator<Item = StepTrace> + '_ {
    let mut model = scenario.model.clone();
    (0..scenario.steps).map(move |step| model.train_step(step))
}

fn export(
    file: &Path,
    output: Option<&Path>,
    npz: Option<&Path>,
    first_anomaly: bool,
) -> Result<u8, UserError> {
    let scenario = load(Some(file))?;
    if first_anomaly {
        let found =
            run_steps(&scenario).find_map(|t| deltascope::anomaly::first_anomaly_in_step(&t));
        let line = deltascope::anomaly::report_line(&scenario.name, found.as_ref(), scenario.steps);
        print_stdout(&format!("{line}\n"))?;
        return Ok(0);
    }
    let steps = run_steps(&scenario);
    if let Some(out) = npz {
        write_atomic(out, &[file], |w| write_trace_npz(w, steps).map(drop))?;
        return Ok(0);
    }
    match output {
        Some(out) => write_atomic(out, &[file], |w| write_trace(w, &scenario.name, steps))?,
        None => {
            let stdout = std::io::stdout();
            let mut lock = std::io::BufWriter::new(stdout.lock());
            match write_trace(&mut lock, &scenario.name, steps) {
                // A reader such as `head` that stops early is not an error.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
                other => other.map_err(OutputError::StandardOutput)?,
            }
        }
    }
    Ok(0)
}

/// Write to standard output; a reader that stops early (`head`) is not an error.
fn print_stdout(text: &str) -> Result<(), OutputError> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(OutputError::StandardOutput(e)),
        _ => Ok(()),
    }
}

fn interactive(
    file: Option<&Path>,
    compare: Option<&Path>,
    tolerance: f64,
) -> Result<u8, UserError> {
    let scenario = load(file)?;
    let comparison = compare
        .map(|path| comparison(path, &scenario, tolerance))
        .transpose()?;
    deltascope::app::run_interactive(scenario, comparison)?;
    Ok(0)
}

/// Read the user's trace and compare it with the scenario's reference.
fn comparison(
    theirs: &Path,
    scenario: &Scenario,
    tolerance: f64,
) -> Result<Comparison, TraceError> {
    if tolerance.is_nan() || tolerance < 0.0 {
        return Err(TraceError::Tolerance(tolerance));
    }
    let in_file = |source| TraceError::Field {
        file: theirs.to_path_buf(),
        source,
    };
    let text = read_text(theirs, MAX_FILE_BYTES).map_err(|source| TraceError::Read {
        file: theirs.to_path_buf(),
        source,
    })?;
    let given =
        deltascope::diff::parse_theirs(&text, &scenario.model, scenario.steps).map_err(in_file)?;
    Comparison::new(
        &theirs.display().to_string(),
        &scenario.name,
        &scenario.model,
        given,
        tolerance,
    )
    .map_err(in_file)
}

fn check(file: Option<&Path>, tolerance: f64, step: f64, all: bool) -> Result<u8, UserError> {
    let valid = tolerance >= 0.0 && step > 0.0 && step.is_finite();
    if !valid {
        return Err(InputError::CheckOptions { tolerance, step }.into());
    }
    let scenario = load(file)?;
    let options = CheckOptions {
        tolerance,
        step,
        sample: (!all).then_some(deltascope::check::DEFAULT_SAMPLE),
    };
    let report = gradient_check(&scenario.model, options);
    print!("{}", report.to_text(&scenario.name));
    Ok(if report.passed() { 0 } else { EXIT_FAILED })
}

fn diff(file: &Path, theirs: &Path, tolerance: f64, all: bool) -> Result<u8, UserError> {
    let scenario = load(Some(file))?;
    let report = comparison(theirs, &scenario, tolerance)?.report;
    let text = if all {
        report.to_text_all()
    } else {
        report.to_text()
    };
    print!("{text}");
    Ok(if report.agrees() { 0 } else { EXIT_FAILED })
}

fn color_mode(name: Option<&str>) -> Result<deltascope::app::ColorMode, InputError> {
    use deltascope::app::ColorMode;
    Ok(match name {
        None if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) => ColorMode::Mono,
        None | Some("truecolor") => ColorMode::TrueColor,
        Some("256") => ColorMode::Indexed,
        Some("16") => ColorMode::Ansi16,
        Some("mono") => ColorMode::Mono,
        Some(other) => return Err(InputError::Color(other.to_string())),
    })
}

fn replay(args: &ReplayArgs) -> Result<u8, UserError> {
    use deltascope::replay::{self, FrameFormat, ReplayOptions, script};
    let script_path = args.script.as_path();
    let size = script::parse_size(&args.size).map_err(InputError::Size)?;
    let config = deltascope::app::Config {
        color: color_mode(args.color.as_deref())?,
    };
    let scenario = load(args.file.as_deref())?;
    let compare = match &args.compare {
        Some(path) => Some(std::sync::Arc::new(comparison(
            path,
            &scenario,
            deltascope::diff::DEFAULT_TOLERANCE,
        )?)),
        None => None,
    };
    let (origin, text) = if script_path == Path::new("-") {
        let text = read_limited(std::io::stdin(), script::MAX_SCRIPT_BYTES);
        (Origin::StandardInput, text)
    } else {
        let text = read_text(script_path, script::MAX_SCRIPT_BYTES);
        (Origin::File(script_path.to_path_buf()), text)
    };
    let text = text.map_err(|source| InputError::Read {
        origin: origin.clone(),
        source,
    })?;
    // The whole script is checked before the first frame is drawn.
    let lines = script::parse(&text).map_err(|source| InputError::Script { origin, source })?;
    let options = ReplayOptions {
        size,
        format: if args.ansi {
            FrameFormat::Ansi
        } else {
            FrameFormat::Text
        },
        only_snaps: args.only_snaps,
        config,
        compare,
    };
    // Each frame is written as soon as it is drawn, and then dropped.
    match &args.out {
        Some(dir) => replay::write_frames(dir, scenario, &lines, &options)?,
        None => {
            use std::io::Write;
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            let written = replay::write_frames_to(&mut out, scenario, &lines, &options)
                .and_then(|()| out.flush());
            match written {
                // A reader such as `head` that stops early ends the replay, not an error.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
                other => other.map_err(OutputError::StandardOutput)?,
            }
        }
    }
    Ok(0)
}

fn bench(file: Option<&Path>, steps: usize, size: &str) -> Result<u8, UserError> {
    let size = deltascope::replay::script::parse_size(size).map_err(InputError::Size)?;
    let max = deltascope::timeline::MAX_STEPS;
    if !(1..=max).contains(&steps) {
        return Err(InputError::BenchSteps { steps, max }.into());
    }
    let scenario = load(file)?;
    let options = deltascope::bench::BenchOptions { steps, size };
    println!("{}", deltascope::bench::run(&scenario, options).to_json());
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typo_names_the_nearest_command() {
        let names: Vec<String> = ["export", "check", "diff", "replay", "bench"]
            .map(String::from)
            .to_vec();
        let nearest = |w| nearest_command(w, &names);
        assert_eq!(nearest("exprot"), Some("export"), "a swap is one edit");
        assert_eq!(nearest("chekc"), Some("check"));
        assert_eq!(nearest("dif"), Some("diff"));
        assert_eq!(nearest("Replay"), Some("replay"));
        assert_eq!(nearest("rep"), Some("replay"), "the start of a command");
        assert_eq!(nearest("bnch"), Some("bench"));
        assert_eq!(nearest("foo"), None);
        assert_eq!(nearest("x"), None);
        assert_eq!(edit_distance("exprot", "export"), 1);
        assert_eq!(edit_distance("", "diff"), 4);
    }

    #[test]
    fn the_first_word_skips_options_and_their_values() {
        let args = |a: &[&str]| a.iter().map(OsString::from).collect::<Vec<_>>();
        let first = |a: &[&str]| first_word(&args(a)).map(|w| w.to_string_lossy().into_owned());
        assert_eq!(first(&["exprot", "s.json"]).as_deref(), Some("exprot"));
        assert_eq!(
            first(&["--compare", "mine.json", "exprot"]).as_deref(),
            Some("exprot")
        );
        assert_eq!(
            first(&["--compare=mine.json", "--compare-tolerance", "1e-3", "x"]).as_deref(),
            Some("x")
        );
        assert_eq!(first(&["--", "-odd"]).as_deref(), Some("-odd"));
        assert_eq!(first(&["--help"]), None);
    }
}
