//! What one fuzz input is, and what must hold for it. Shared by the cargo-fuzz targets in
//! `fuzz/fuzz_targets/` (long runs) and by the property tests in `tests/robustness_*.rs`
//! (a small budget inside `cargo test`), which include this file with `#[path]`.
//!
//! - [`scenario_text`]: any text is either refused with a message that names a field or a
//!   line (exit status 2), or it runs: export, the first-anomaly scan, a diff of the export
//!   against itself, the gradient check and a short walk of the debugger all finish.
//! - [`script_bytes`]: any key script is refused with its line named, or replays.
//! - [`tui_bytes`]: any key sequence at any terminal size (down to 1×1) on any bundled
//!   scenario: no panic, and every frame renders.
//! - [`trace_bytes`]: any text as "your numbers" (`diff`, `--compare`) for a bundled
//!   scenario is refused with a field or a line named, or it is diffed and shown.
//!
//! Sizes are bounded so that one input takes milliseconds: scenarios whose step holds more
//! than [`MAX_RUN_NUMBERS`] numbers are only loaded, not run, and an [`Effort`] bounds the
//! steps, the gradient check and the walk. The limits of the program itself are not changed.
#![allow(dead_code)]

use deltascope::app::{ColorMode, Config, State, handle_key};
use deltascope::check::{CheckOptions, gradient_check};
use deltascope::diff::Comparison;
use deltascope::engine::{LayerKind, Model, StepTrace};
use deltascope::replay::{self, FrameFormat, ReplayOptions, script};
use deltascope::scenario::{self, Scenario};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyEventState, KeyModifiers};

/// Scenarios whose step (trace and parameters) holds more numbers than this are loaded only.
pub const MAX_RUN_NUMBERS: usize = 20_000;

/// How much of a valid scenario is run: the fuzz targets run more, the property tests
/// (unoptimised, inside `cargo test`) less.
#[derive(Clone, Copy, Debug)]
pub struct Effort {
    /// Training steps run.
    pub steps: usize,
    /// The gradient check runs when the input and the parameters have at most this many cells.
    pub check_cells: usize,
    /// The debugger walks through every map of every layer (else only through the events).
    pub thorough_walk: bool,
    /// The terminal size of the walk.
    pub size: (u16, u16),
}

pub const FUZZ: Effort = Effort {
    steps: 3,
    check_cells: 400,
    thorough_walk: true,
    size: (80, 24),
};

pub const TEST: Effort = Effort {
    steps: 2,
    check_cells: 60,
    thorough_walk: false,
    size: (60, 16),
};
/// Key events (and resizes) taken from one TUI input.
pub const MAX_TUI_EVENTS: usize = 250;
/// A replayed script is run when it presses at most this many keys, counting repeats.
pub const MAX_REPLAY_KEYS: usize = 400;
/// Largest terminal side a fuzzed TUI or replay is drawn at.
pub const MAX_SIDE: u16 = 250;

/// The bundled scenarios (not the benchmarks), by name.
pub const BUNDLED: &[(&str, &str)] = &[
    (
        "mean_pool_classic",
        include_str!("../../scenarios/mean_pool_classic.json"),
    ),
    (
        "max_pool_switches",
        include_str!("../../scenarios/max_pool_switches.json"),
    ),
    ("l2_pool", include_str!("../../scenarios/l2_pool.json")),
    (
        "overlapping_max_pool",
        include_str!("../../scenarios/overlapping_max_pool.json"),
    ),
    (
        "strided_padded_conv",
        include_str!("../../scenarios/strided_padded_conv.json"),
    ),
    (
        "digit_classifier",
        include_str!("../../scenarios/digit_classifier.json"),
    ),
    (
        "dead_relus",
        include_str!("../../scenarios/dead_relus.json"),
    ),
    ("diverging", include_str!("../../scenarios/diverging.json")),
    (
        "leaky_tanh_sigmoid",
        include_str!("../../scenarios/leaky_tanh_sigmoid.json"),
    ),
    (
        "multichannel_rgb",
        include_str!("../../scenarios/multichannel_rgb.json"),
    ),
];

pub fn bundled(index: usize) -> Scenario {
    let (name, text) = BUNDLED[index % BUNDLED.len()];
    scenario::parse(text).unwrap_or_else(|e| panic!("bundled {name}: {e}"))
}

/// What became of a scenario input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Refused when loading, with this message (the CLI prints it and exits with status 2).
    Refused(String),
    /// Loaded, but too large to run within the fuzzing budget.
    LoadedOnly,
    /// Loaded and run for this many steps.
    Ran(usize),
}

pub fn scenario_bytes(data: &[u8]) -> Outcome {
    match std::str::from_utf8(data) {
        Ok(text) => scenario_text(text, &FUZZ),
        // `files::read_text` refuses such files before parsing.
        Err(_) => Outcome::Refused("not UTF-8 text".into()),
    }
}

/// Load a scenario's text; if it is valid, run it every way the program can.
pub fn scenario_text(text: &str, effort: &Effort) -> Outcome {
    match scenario::parse(text) {
        Err(e) => {
            let message = e.to_string();
            assert!(!e.message.trim().is_empty(), "an empty message: {e:?}");
            assert!(
                !e.path.is_empty() || message.contains("line "),
                "a refusal names neither a field nor a line: {message}"
            );
            assert!(!message.contains("panicked"), "{message}");
            Outcome::Refused(message)
        }
        Ok(s) => run_scenario(&s, effort),
    }
}

/// Numbers one step of the model holds: its parameters, and each layer's input and output
/// several times over (the trace's z, a, δ…). An estimate for budgeting, not a limit.
pub fn numbers_per_step(model: &Model) -> usize {
    let (c, h, w) = model.input.dim();
    let mut shape = [c, h, w];
    let mut flat: Option<usize> = None;
    let mut total = 2 * c * h * w;
    for layer in &model.layers {
        let input = flat.unwrap_or(shape[0] * shape[1] * shape[2]);
        let (params, output) = match &layer.kind {
            LayerKind::Conv(conv) => {
                let out = conv.output_shape(shape).expect("validated geometry");
                shape = out;
                (conv.weights.len() + conv.bias.len(), out.iter().product())
            }
            LayerKind::Pool(pool) => {
                let out = pool.output_shape(shape).expect("validated geometry");
                shape = out;
                (0, out.iter().product())
            }
            LayerKind::Dense(dense) => {
                let n = dense.bias.len();
                flat = Some(n);
                (dense.weights.len() + n, n)
            }
        };
        total += 2 * input + 3 * params + 5 * output;
    }
    total
}

fn parameter_cells(model: &Model) -> usize {
    model.input.len()
        + model
            .layers
            .iter()
            .map(|l| match &l.kind {
                LayerKind::Conv(c) => c.weights.len() + c.bias.len(),
                LayerKind::Dense(d) => d.weights.len() + d.bias.len(),
                LayerKind::Pool(_) => 0,
            })
            .sum::<usize>()
}

/// Run a valid scenario through export, the anomaly scan, diff, check and the debugger.
pub fn run_scenario(s: &Scenario, effort: &Effort) -> Outcome {
    if numbers_per_step(&s.model) > MAX_RUN_NUMBERS {
        return Outcome::LoadedOnly;
    }
    let steps = s.steps.min(effort.steps);
    let mut model = s.model.clone();
    let traces: Vec<StepTrace> = (0..steps).map(|k| model.train_step(k)).collect();

    // export: valid JSON whatever the numbers (non-finite ones as strings).
    let mut out = Vec::new();
    deltascope::export::write_trace(&mut out, &s.name, traces.iter().cloned())
        .expect("writing to memory cannot fail");
    let text = String::from_utf8(out).expect("the trace is UTF-8");
    let value: serde_json::Value = serde_json::from_str(&text).expect("the trace is JSON");
    assert_eq!(value["steps"].as_array().map(Vec::len), Some(steps));

    // The first anomaly is found exactly when some value is not finite.
    let anomaly = deltascope::anomaly::first_anomaly(&traces);
    let any_non_finite = traces.iter().any(|t| {
        !t.loss.is_finite()
            || t.loss_grad.iter().any(|v| !v.is_finite())
            || t.layers.iter().any(|(_, l)| {
                l.tensors()
                    .iter()
                    .any(|(_, v)| v.iter().any(|x| !x.is_finite()))
            })
    });
    assert_eq!(anomaly.is_some(), any_non_finite, "{anomaly:?}");
    if let Some(a) = &anomaly {
        assert!(!a.value.is_finite());
        let line = deltascope::anomaly::report_line(&s.name, Some(a), steps);
        assert!(line.contains(&format!("step {}", a.step)), "{line}");
    }

    // diff: the program's own export, read back, agrees with the reference.
    let given = deltascope::diff::parse_theirs(&text, &s.model, steps)
        .unwrap_or_else(|e| panic!("the export does not read back: {e}"));
    let report = deltascope::diff::diff(&s.name, &s.model, &given, 1e-9)
        .unwrap_or_else(|e| panic!("the export does not diff: {e}"));
    let _ = report.to_text();
    assert!(report.agrees(), "{}", report.to_text());

    // check: any verdict, no panic.
    let check = parameter_cells(&s.model) <= effort.check_cells;
    if check {
        let report = gradient_check(&s.model, CheckOptions::default());
        let _ = report.to_text(&s.name);
        let _ = report.passed();
    }

    // The debugger, comparing "your" numbers (the export with one cell of each tensor
    // changed): a fixed walk through two steps and every layer and map.
    let mut yours = given;
    for (i, g) in yours.iter_mut().enumerate() {
        if let Some(v) = g.values.iter_mut().next() {
            *v = [f64::NAN, *v * 2.0 + 1.0, f64::INFINITY][i % 3];
        }
    }
    let comparison = Comparison::new("yours.json", &s.name, &s.model, yours, 1e-6)
        .unwrap_or_else(|e| panic!("an edited export does not compare: {e}"));
    // The planned steps bounded too: the End key computes every one of them.
    let mut bounded = s.clone();
    bounded.steps = steps;
    let state = State::new(bounded, Config::default()).with_comparison(comparison);
    let events = state.timeline.events_per_step();
    let mut keys = text_keys(&vec![b'n'; events + 1]);
    if effort.thorough_walk {
        keys.extend(text_keys(b"\tmjl\tmMkh>?j\x1bc\x1b+G]p[g"));
        // x opens the gradient check, computed there and then.
        if check {
            keys.extend(text_keys(b"xjj\x1b"));
        }
    } else {
        keys.extend(text_keys(b"\tm\rl"));
    }
    drive_tui(state, effort.size, &keys);
    Outcome::Ran(steps)
}

/// One thing that happens to the debugger.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TuiEvent {
    Key(KeyEvent),
    Resize(u16, u16),
}

/// Keys for ASCII text: `\t` is Tab, `\x1b` Esc, `\x7f` Backspace, the rest characters.
pub fn text_keys(text: &[u8]) -> Vec<TuiEvent> {
    text.iter()
        .map(|&b| {
            let code = match b {
                b'\t' => KeyCode::Tab,
                0x1b => KeyCode::Esc,
                0x7f => KeyCode::Backspace,
                b'\r' | b'\n' => KeyCode::Enter,
                _ => KeyCode::Char(b as char),
            };
            TuiEvent::Key(KeyEvent::new(code, KeyModifiers::NONE))
        })
        .collect()
}

/// Every key the debugger binds, then some it does not: the alphabet of [`tui_bytes`].
pub fn key_alphabet() -> Vec<KeyCode> {
    let mut codes: Vec<KeyCode> = Vec::new();
    for binding in deltascope::app::keymap::BINDINGS {
        for key in binding.keys {
            if !codes.contains(&key.code) {
                codes.push(key.code);
            }
        }
    }
    for extra in [
        KeyCode::Char('x'),
        KeyCode::Char('é'),
        KeyCode::Char('界'),
        KeyCode::Char('0'),
        KeyCode::F(1),
        KeyCode::F(12),
        KeyCode::Enter,
        KeyCode::Esc,
        KeyCode::Delete,
        KeyCode::Insert,
        KeyCode::Null,
        KeyCode::CapsLock,
    ] {
        if !codes.contains(&extra) {
            codes.push(extra);
        }
    }
    codes
}

fn side(b: u8, max: u16) -> u16 {
    1 + u16::from(b) % max
}

/// Decode bytes into a debugger session: the scenario, the terminal size and colours, then
/// key presses (with modifiers, and some releases and repeats) and resizes.
pub fn decode_tui(data: &[u8]) -> (Scenario, (u16, u16), ColorMode, Vec<TuiEvent>) {
    let byte = |i: usize| data.get(i).copied().unwrap_or(0);
    let scenario = bundled(usize::from(byte(0)));
    let size = (side(byte(1), MAX_SIDE), side(byte(2), 100));
    let color = [
        ColorMode::TrueColor,
        ColorMode::Indexed,
        ColorMode::Ansi16,
        ColorMode::Mono,
    ][usize::from(byte(3)) % 4];
    let alphabet = key_alphabet();
    let mut events = Vec::new();
    let mut rest = data.get(4..).unwrap_or(&[]);
    while let [a, b, tail @ ..] = rest {
        if events.len() >= MAX_TUI_EVENTS {
            break;
        }
        rest = tail;
        if *a == 0xff {
            let h = rest.first().copied().unwrap_or(0);
            rest = rest.get(1..).unwrap_or(&[]);
            events.push(TuiEvent::Resize(side(*b, MAX_SIDE), side(h, 100)));
            continue;
        }
        let code = alphabet[usize::from(*a) % alphabet.len()];
        let mut modifiers = KeyModifiers::NONE;
        if b & 1 != 0 {
            modifiers |= KeyModifiers::SHIFT;
        }
        if b & 2 != 0 {
            modifiers |= KeyModifiers::CONTROL;
        }
        if b & 4 != 0 {
            modifiers |= KeyModifiers::ALT;
        }
        let kind = match b >> 6 {
            2 => KeyEventKind::Release,
            3 => KeyEventKind::Repeat,
            _ => KeyEventKind::Press,
        };
        // Most presses come without modifiers, like a user's.
        let modifiers = if b & 0x38 == 0 {
            modifiers
        } else {
            KeyModifiers::NONE
        };
        events.push(TuiEvent::Key(KeyEvent {
            code,
            modifiers,
            kind,
            state: KeyEventState::NONE,
        }));
    }
    (scenario, size, color, events)
}

pub fn tui_bytes(data: &[u8]) {
    let (scenario, size, color, events) = decode_tui(data);
    drive_tui(State::new(scenario, Config { color }), size, &events);
}

/// Apply every event to the debugger's state and draw a frame after each, as the
/// interactive loop does; quitting is noted and the session goes on regardless.
pub fn drive_tui(mut state: State, (w, h): (u16, u16), events: &[TuiEvent]) {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).expect("a test terminal");
    let draw = |terminal: &mut Terminal<TestBackend>, state: &State| {
        let frame = terminal
            .draw(|f| deltascope::ui::view(state, f))
            .expect("every frame renders");
        let area = frame.buffer.area;
        assert_eq!(
            frame.buffer.content.len(),
            usize::from(area.width) * usize::from(area.height),
            "a frame covers the terminal"
        );
    };
    draw(&mut terminal, &state);
    for event in events {
        match *event {
            TuiEvent::Key(key) => {
                handle_key(&mut state, key);
            }
            TuiEvent::Resize(w, h) => terminal.backend_mut().resize(w, h),
        }
        draw(&mut terminal, &state);
    }
    let buffer = terminal.backend().buffer();
    let _ = replay::frame::to_text(buffer);
    let _ = replay::frame::to_ansi(buffer);
}

/// A key script, parsed and (when small enough) replayed on a bundled scenario.
pub fn script_bytes(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let lines = match script::parse(text) {
        Err(e) => {
            let count = text.lines().count().max(1);
            assert!(
                (1..=count).contains(&e.line),
                "line {} of {count}: {}",
                e.line,
                e.problem
            );
            assert!(!e.problem.to_string().trim().is_empty());
            return;
        }
        Ok(lines) => lines,
    };
    let mut keys = 0usize;
    for line in &lines {
        match line.command {
            script::Command::Key { repeat, .. } => keys = keys.saturating_add(repeat),
            script::Command::Resize { width, height } if width > MAX_SIDE || height > 100 => {
                return;
            }
            _ => keys += 1,
        }
    }
    if keys > MAX_REPLAY_KEYS {
        return;
    }
    let choice = data.len();
    let scenario = bundled(choice);
    let options = ReplayOptions {
        size: [(80, 24), (1, 1), (120, 40), (37, 9)][choice % 4],
        format: if choice.is_multiple_of(2) {
            FrameFormat::Text
        } else {
            FrameFormat::Ansi
        },
        only_snaps: choice.is_multiple_of(3),
        config: Config::default(),
        compare: None,
    };
    // The CLI's path: every frame written out as it is drawn.
    replay::write_frames_to(&mut std::io::sink(), scenario, &lines, &options)
        .expect("writing to a sink cannot fail");
}

/// Steps a fuzzed trace may name: `diff` computes the reference up to the last one.
pub const MAX_TRACE_STEP: usize = 4;

/// Any text as the user's own trace for a bundled scenario (the first byte picks it).
pub fn trace_bytes(data: &[u8]) {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let s = bundled(usize::from(which));
    let given = match deltascope::diff::parse_theirs(text, &s.model, s.steps) {
        Err(e) => {
            let message = e.to_string();
            assert!(
                !e.path.is_empty() || message.contains("line "),
                "a refusal names neither a field nor a line: {message}"
            );
            return;
        }
        Ok(given) => given,
    };
    if given.iter().any(|g| g.step > MAX_TRACE_STEP) {
        return;
    }
    let comparison = match Comparison::new("yours.json", &s.name, &s.model, given, 1e-6) {
        Err(e) => {
            assert!(!e.path.is_empty(), "a refusal names no field: {e}");
            return;
        }
        Ok(c) => c,
    };
    let _ = comparison.report.to_text();
    let mut bounded = s.clone();
    bounded.steps = bounded.steps.min(MAX_TRACE_STEP + 1);
    let events = State::new(bounded.clone(), Config::default())
        .timeline
        .events_per_step();
    let state = State::new(bounded, Config::default()).with_comparison(comparison);
    let mut keys = text_keys(&vec![b'n'; 2 * events + 1]);
    keys.extend(text_keys(b"\tm\rljG"));
    drive_tui(state, (80, 24), &keys);
}
