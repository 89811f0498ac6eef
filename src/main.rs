use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use deltascope::check::{CheckOptions, DEFAULT_STEP, DEFAULT_TOLERANCE, gradient_check};
use deltascope::engine::StepTrace;
use deltascope::export::write_trace;
use deltascope::files::write_atomic;
use deltascope::scenario::{self, Scenario};

/// A terminal debugger for backpropagation through small convolutional networks.
#[derive(Parser)]
#[command(version, about, args_conflicts_with_subcommands = true)]
struct Cli {
    /// Scenario file to open in the interactive debugger; the built-in default scenario when omitted.
    file: Option<PathBuf>,
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
    },
    /// Drive the debugger from a key script, headless, and print the frames it draws.
    Replay {
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
    },
}

/// Exit statuses: 0 success, 1 a failed check or a difference found, 2 bad input.
const EXIT_FAILED: u8 = 1;
const EXIT_BAD_INPUT: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Export { file, output }) => export(&file, output.as_deref()),
        Some(Command::Check {
            file,
            tolerance,
            step,
        }) => check(file.as_deref(), tolerance, step),
        Some(Command::Diff {
            file,
            theirs,
            tolerance,
        }) => diff(&file, &theirs, tolerance),
        Some(Command::Replay {
            file,
            script,
            size,
            ansi,
            out,
            only_snaps,
            color,
        }) => replay(
            file.as_deref(),
            &script,
            &size,
            ansi,
            out.as_deref(),
            only_snaps,
            color.as_deref(),
        ),
        None => interactive(cli.file.as_deref()),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(message) => {
            eprintln!("deltascope: {message}");
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}

fn load(file: Option<&Path>) -> Result<Scenario, String> {
    match file {
        Some(path) => scenario::load(path).map_err(|e| format!("{}: {e}", path.display())),
        None => Ok(scenario::default_scenario()),
    }
}

fn run_steps(scenario: &Scenario) -> impl Iterator<Item = StepTrace> + '_ {
    let mut model = scenario.model.clone();
    (0..scenario.steps).map(move |step| model.train_step(step))
}

fn export(file: &Path, output: Option<&Path>) -> Result<u8, String> {
    let scenario = load(Some(file))?;
    let steps = run_steps(&scenario);
    match output {
        Some(out) => write_atomic(out, &[file], |w| write_trace(w, &scenario.name, steps))?,
        None => {
            let stdout = std::io::stdout();
            let mut lock = std::io::BufWriter::new(stdout.lock());
            match write_trace(&mut lock, &scenario.name, steps) {
                // A reader such as `head` that stops early is not an error.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
                other => other.map_err(|e| format!("cannot write to standard output: {e}"))?,
            }
        }
    }
    Ok(0)
}

fn interactive(file: Option<&Path>) -> Result<u8, String> {
    let scenario = load(file)?;
    deltascope::app::run_interactive(scenario)?;
    Ok(0)
}

fn check(file: Option<&Path>, tolerance: f64, step: f64) -> Result<u8, String> {
    let valid = tolerance >= 0.0 && step > 0.0 && step.is_finite();
    if !valid {
        return Err(format!(
            "--tolerance must be ≥ 0 and --step > 0, got {tolerance} and {step}"
        ));
    }
    let scenario = load(file)?;
    let report = gradient_check(&scenario.model, CheckOptions { tolerance, step });
    print!("{}", report.to_text(&scenario.name));
    Ok(if report.passed() { 0 } else { EXIT_FAILED })
}

fn diff(file: &Path, theirs: &Path, tolerance: f64) -> Result<u8, String> {
    if tolerance.is_nan() || tolerance < 0.0 {
        return Err(format!("--tolerance must be ≥ 0, got {tolerance}"));
    }
    let scenario = load(Some(file))?;
    let text = deltascope::files::read_text(theirs, deltascope::scenario::limits::MAX_FILE_BYTES)
        .map_err(|e| format!("{}: {e}", theirs.display()))?;
    let given = deltascope::diff::parse_theirs(&text, &scenario.model)
        .map_err(|e| format!("{}: {e}", theirs.display()))?;
    let report = deltascope::diff::diff(&scenario.name, &scenario.model, given, tolerance)
        .map_err(|e| format!("{}: {e}", theirs.display()))?;
    print!("{}", report.to_text());
    Ok(if report.agrees() { 0 } else { EXIT_FAILED })
}

fn color_mode(name: Option<&str>) -> Result<deltascope::app::ColorMode, String> {
    use deltascope::app::ColorMode;
    Ok(match name {
        None if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) => ColorMode::Mono,
        None | Some("truecolor") => ColorMode::TrueColor,
        Some("256") => ColorMode::Indexed,
        Some("16") => ColorMode::Ansi16,
        Some("mono") => ColorMode::Mono,
        Some(other) => {
            return Err(format!(
                "--color: expected truecolor, 256, 16 or mono, got `{other}`"
            ));
        }
    })
}

fn replay(
    file: Option<&Path>,
    script_path: &Path,
    size: &str,
    ansi: bool,
    out: Option<&Path>,
    only_snaps: bool,
    color: Option<&str>,
) -> Result<u8, String> {
    use deltascope::replay::{self, FrameFormat, ReplayOptions, script};
    let size = script::parse_size(size).map_err(|e| format!("--size: {e}"))?;
    let config = deltascope::app::Config {
        color: color_mode(color)?,
    };
    let scenario = load(file)?;
    let (name, text) = if script_path == Path::new("-") {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .map_err(|e| format!("standard input: {e}"))?;
        ("standard input".to_string(), text)
    } else {
        let text =
            deltascope::files::read_text(script_path, deltascope::scenario::limits::MAX_FILE_BYTES)
                .map_err(|e| format!("{}: {e}", script_path.display()))?;
        (script_path.display().to_string(), text)
    };
    let lines = script::parse(&text).map_err(|e| format!("{name}: {e}"))?;
    let format = if ansi {
        FrameFormat::Ansi
    } else {
        FrameFormat::Text
    };
    let frames = replay::replay(
        scenario,
        &lines,
        &ReplayOptions {
            size,
            format,
            only_snaps,
            config,
        },
    );
    match out {
        Some(dir) => replay::write_frames(dir, &frames, format)?,
        None => {
            use std::io::Write;
            let text = replay::frames_to_string(&frames);
            match std::io::stdout().lock().write_all(text.as_bytes()) {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                    return Err(format!("cannot write to standard output: {e}"));
                }
                _ => {}
            }
        }
    }
    Ok(0)
}
