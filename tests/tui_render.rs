//! Render smoke tests: every frame of a walk through a scenario draws without panicking on
//! ratatui's TestBackend, at a roomy (120×40), a small (80×24), the smallest (60×16), a large
//! and a too-small (20×5) size, in colour and without; and a few things every frame must show.

use std::path::Path;

use deltascope::app::{Action, ColorMode, Config, Focus, State, update};
use deltascope::scenario::{self, Scenario, default_scenario};
use deltascope::timeline::Node;
use deltascope::ui::view;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

const SIZES: [(u16, u16); 5] = [(120, 40), (80, 24), (20, 5), (60, 16), (200, 60)];

fn screen(terminal: &Terminal<TestBackend>) -> String {
    let buf = terminal.backend().buffer();
    let mut out = String::new();
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            out.push_str(buf[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}

fn draw(terminal: &mut Terminal<TestBackend>, state: &State) -> String {
    terminal.draw(|f| view(state, f)).expect("draws");
    screen(terminal)
}

/// Walk every event of the first step (and into the second), visiting every node with
/// the maps focused and the cursor moved around, drawing after each action.
fn walk(scenario: Scenario, color: ColorMode, (w, h): (u16, u16)) -> usize {
    walk_with(scenario, color, (w, h), true)
}

fn walk_with(scenario: Scenario, color: ColorMode, (w, h): (u16, u16), thorough: bool) -> usize {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    let mut state = State::new(scenario, Config { color });
    let nodes = state.nodes().len();
    let per_step = state.timeline.events_per_step();
    let mut frames = 0;
    let mut act = |state: &mut State, action: Action| {
        update(state, action);
        draw(&mut terminal, state);
        frames += 1;
    };
    for _ in 0..=per_step {
        act(&mut state, Action::NextEvent);
        for _ in 0..nodes {
            act(&mut state, Action::NextLayer);
            let actions: &[Action] = if thorough {
                &[
                    Action::NextMap,
                    Action::CursorDown,
                    Action::CursorRight,
                    Action::NextChannel,
                    Action::NextMap,
                    Action::CursorDown,
                    Action::InspectorDown,
                ]
            } else {
                &[Action::NextMap, Action::CursorDown]
            };
            for &a in actions {
                act(&mut state, a);
            }
        }
        act(&mut state, Action::Follow);
    }
    for a in [
        Action::ToggleFocus,
        Action::ToggleHelp,
        Action::OverlayDown,
        Action::CloseOverlay,
        Action::ToggleCheck,
        Action::NextLayer,
        Action::CloseOverlay,
        Action::End,
        Action::RunMore(2),
        Action::PrevStep,
        Action::Start,
    ] {
        act(&mut state, a);
    }
    frames
}

#[test]
fn every_frame_of_the_default_scenario_renders_at_every_size() {
    for size in SIZES {
        assert!(walk(default_scenario(), ColorMode::TrueColor, size) > 100);
    }
    for size in [(120, 40), (80, 24)] {
        walk(default_scenario(), ColorMode::Mono, size);
    }
}

#[test]
fn every_bundled_scenario_renders() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut count = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            // Scenarios being written concurrently may not load yet; those are skipped.
            let Ok(s) = scenario::load(&path) else {
                continue;
            };
            // Keep the suite quick: big networks are walked by hand, not here.
            if State::new(s.clone(), Config::default())
                .timeline
                .numbers_per_step()
                > 200_000
            {
                continue;
            }
            for size in [(120, 40), (80, 24)] {
                walk_with(s.clone(), ColorMode::Indexed, size, false);
            }
            count += 1;
        }
    }
    assert!(count > 0);
}

#[test]
fn too_small_a_terminal_gets_a_message() {
    let mut terminal = Terminal::new(TestBackend::new(20, 5)).unwrap();
    let state = State::new(default_scenario(), Config::default());
    let text = draw(&mut terminal, &state);
    assert!(text.contains("too small"), "{text}");
    assert!(text.replace('\n', "").contains("60×16"), "{text}");
}

#[test]
fn the_first_screen_shows_pipeline_maps_inspector_and_key_hints() {
    for (w, h) in [(120, 40), (80, 24)] {
        let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
        let state = State::new(default_scenario(), Config::default());
        let text = draw(&mut terminal, &state);
        for needle in [
            "deltascope",
            "pipeline",
            "conv1",
            "pool2",
            "loss",
            "inspector",
            "n/p",
            "? help",
            "q quit",
        ] {
            assert!(text.contains(needle), "{w}×{h} lacks {needle:?}:\n{text}");
        }
        assert!(text.contains("forward conv1"), "{text}");
    }
}

#[test]
fn delta_maps_show_only_once_computed() {
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).unwrap();
    let mut state = State::new(default_scenario(), Config::default());
    let text = draw(&mut terminal, &state);
    assert!(text.contains("δ maps are not known yet"), "{text}");
    assert!(!text.contains("δz"), "{text}");
    let l = state.timeline.layer_count();
    for _ in 0..2 * l {
        update(&mut state, Action::NextEvent);
    }
    let text = draw(&mut terminal, &state);
    assert!(
        text.contains("δz") && text.contains("δx") && text.contains("∂w"),
        "{text}"
    );
    assert!(!text.contains("not known yet"), "{text}");
}

#[test]
fn the_inspector_lists_rot180_terms_for_a_conv1_delta_input_cell() {
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).unwrap();
    let mut state = State::new(default_scenario(), Config::default());
    let l = state.timeline.layer_count();
    for _ in 0..2 * l {
        update(&mut state, Action::NextEvent);
    }
    update(&mut state, Action::ToggleFocus);
    assert_eq!(state.focus, Focus::Map);
    for a in [
        Action::CursorDown,
        Action::CursorDown,
        Action::CursorDown,
        Action::CursorRight,
        Action::CursorRight,
    ] {
        update(&mut state, a);
    }
    let text = draw(&mut terminal, &state);
    let traced = state.timeline.step(0).unwrap().trace.layers[0]
        .1
        .tensor("delta_input")
        .unwrap()[[0, 3, 2]];
    assert!(
        text.contains(&format!("conv1.δx[0,3,2] = {traced}")),
        "{text}"
    );
    assert!(text.contains("rot180[2,2]"), "{text}");
    assert!(text.contains("equals the traced value"), "{text}");
}

#[test]
fn monochrome_frames_use_no_colour() {
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).unwrap();
    let mut state = State::new(
        default_scenario(),
        Config {
            color: ColorMode::Mono,
        },
    );
    for _ in 0..8 {
        update(&mut state, Action::NextEvent);
    }
    state.selected = Node::Layer(0);
    draw(&mut terminal, &state);
    let buf = terminal.backend().buffer();
    for cell in buf.content() {
        assert_eq!(cell.fg, ratatui::style::Color::Reset, "{cell:?}");
        assert_eq!(cell.bg, ratatui::style::Color::Reset, "{cell:?}");
    }
    let text = screen(&terminal);
    assert!(
        text.contains('▓') || text.contains('█'),
        "glyph shading:\n{text}"
    );
    assert!(
        text.contains("+░") || text.contains("-░") || text.contains("+▒") || text.contains("-▒"),
        "signs:\n{text}"
    );
}
