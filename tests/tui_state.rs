//! State transitions of the debugger, driven by key events as a terminal would send them,
//! without a terminal: stepping, step-back, layer selection, cursor moves, overlays, quitting.

use deltascope::app::state::Cursor;
use deltascope::app::{ColorMode, Config, Focus, Overlay, State, handle_key};
use deltascope::engine::TensorName;
use deltascope::scenario::default_scenario;
use deltascope::timeline::{Event, Node, Position};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

fn state() -> State {
    State::new(
        default_scenario(),
        Config {
            color: ColorMode::Mono,
        },
    )
}

fn press(state: &mut State, code: KeyCode) -> bool {
    handle_key(state, KeyEvent::new(code, KeyModifiers::NONE))
}

fn keys(state: &mut State, text: &str) {
    for c in text.chars() {
        press(state, KeyCode::Char(c));
    }
}

fn layers() -> usize {
    default_scenario().model.layers.len()
}

#[test]
fn n_walks_forward_loss_backward_update_and_p_walks_back_to_the_start() {
    let mut s = state();
    let l = layers();
    let mut seen = vec![s.event()];
    for _ in 0..(2 * l + 1) {
        press(&mut s, KeyCode::Char('n'));
        seen.push(s.event());
    }
    let mut expected: Vec<Event> = (0..l).map(Event::Forward).collect();
    expected.push(Event::Loss);
    expected.extend((0..l).rev().map(Event::Backward));
    expected.push(Event::Update);
    assert_eq!(seen, expected);
    // Into the next training step, then all the way back.
    press(&mut s, KeyCode::Char(' '));
    assert_eq!(s.pos, Position { step: 1, event: 0 });
    for _ in 0..(2 * l + 2) {
        press(&mut s, KeyCode::Backspace);
    }
    assert_eq!(s.pos, Position::default());
    press(&mut s, KeyCode::Char('p'));
    assert_eq!(s.pos, Position::default(), "p at the start stays there");
    assert!(s.status.as_deref().unwrap_or("").contains("start"));
}

#[test]
fn step_back_shows_exactly_what_was_shown_before() {
    let mut s = state();
    let l = layers();
    keys(&mut s, &"n".repeat(2 * l + 5));
    let pos = s.pos;
    let loss = s.timeline.step(pos.step).unwrap().trace.loss;
    keys(&mut s, "nnnnpppp");
    assert_eq!(s.pos, pos);
    assert_eq!(s.timeline.step(pos.step).unwrap().trace.loss, loss);
}

#[test]
fn training_step_keys_start_and_end() {
    let mut s = state();
    let planned = s.timeline.planned_steps();
    keys(&mut s, "nnn]");
    assert_eq!(s.pos, Position { step: 1, event: 3 }, "] keeps the event");
    keys(&mut s, "[");
    assert_eq!(s.pos, Position { step: 0, event: 3 });
    keys(&mut s, "G");
    assert_eq!(s.pos, s.timeline.end());
    assert_eq!(s.pos.step, planned - 1);
    assert_eq!(s.event(), Event::Update);
    press(&mut s, KeyCode::Home);
    assert_eq!(s.pos, Position::default());
    press(&mut s, KeyCode::End);
    assert_eq!(s.pos, s.timeline.end());
    keys(&mut s, "g");
    assert_eq!(s.pos, Position::default());
}

#[test]
fn more_training_steps_than_planned_can_be_run() {
    let mut s = state();
    let planned = s.timeline.planned_steps();
    keys(&mut s, "G");
    press(&mut s, KeyCode::Char('n'));
    assert_eq!(s.pos, s.timeline.end(), "n at the end stays");
    assert!(s.status.as_deref().unwrap_or("").contains('+'));
    keys(&mut s, "+");
    assert_eq!(s.timeline.planned_steps(), planned + 1);
    assert_eq!(
        s.pos,
        Position {
            step: planned,
            event: 0
        },
        "+ at the end continues into the new step"
    );
    keys(&mut s, "*G");
    assert_eq!(s.timeline.planned_steps(), planned + 11);
    assert_eq!(s.pos.step, planned + 10);
    assert_eq!(s.timeline.losses_until(s.pos).len(), planned + 11);
}

#[test]
fn selection_follows_the_event_until_the_user_moves_it() {
    let mut s = state();
    let l = layers();
    assert_eq!(s.selected, Node::Layer(0));
    keys(&mut s, "n");
    assert_eq!(s.selected, Node::Layer(1));
    keys(&mut s, &"n".repeat(l - 1));
    assert_eq!(s.event(), Event::Loss);
    assert_eq!(s.selected, Node::Loss);
    keys(&mut s, "n");
    assert_eq!(
        s.selected,
        Node::Layer(l - 1),
        "backward starts at the last layer"
    );
    press(&mut s, KeyCode::Tab);
    assert!(!s.follow);
    assert_eq!(s.selected, Node::Loss);
    keys(&mut s, "nn");
    assert_eq!(s.selected, Node::Loss, "a moved selection stays put");
    keys(&mut s, "f");
    assert!(s.follow);
    assert_eq!(s.selected, Node::Layer(l - 3));
}

#[test]
fn tab_shift_tab_and_arrows_move_between_layers_and_wrap() {
    let mut s = state();
    let l = layers();
    press(&mut s, KeyCode::BackTab);
    assert_eq!(
        s.selected,
        Node::Loss,
        "Shift+Tab from the first layer wraps to the loss"
    );
    press(&mut s, KeyCode::Tab);
    assert_eq!(s.selected, Node::Layer(0));
    press(&mut s, KeyCode::Right);
    press(&mut s, KeyCode::Right);
    assert_eq!(s.selected, Node::Layer(2));
    press(&mut s, KeyCode::Left);
    assert_eq!(s.selected, Node::Layer(1));
    handle_key(&mut s, KeyEvent::new(KeyCode::Tab, KeyModifiers::SHIFT));
    assert_eq!(s.selected, Node::Layer(0));
    for _ in 0..=l {
        press(&mut s, KeyCode::Tab);
    }
    assert_eq!(
        s.selected,
        Node::Layer(0),
        "l + 1 nodes: the layers and the loss"
    );
}

#[test]
fn the_cursor_moves_within_its_map_when_the_maps_have_focus() {
    let mut s = state();
    press(&mut s, KeyCode::Enter);
    assert_eq!(s.focus, Focus::Map);
    // conv1 at its forward event: the cursor starts on a (what the event computed).
    assert_eq!(s.cursor().unwrap().cursor.tensor, TensorName::A);
    keys(&mut s, "jjl");
    press(&mut s, KeyCode::Down);
    press(&mut s, KeyCode::Right);
    let c = s.cursor().unwrap().cursor;
    assert_eq!((c.row, c.col), (3, 2));
    // Clamped at the edges.
    for _ in 0..20 {
        press(&mut s, KeyCode::Right);
        press(&mut s, KeyCode::Down);
    }
    let c = s.cursor().unwrap().cursor;
    assert_eq!((c.row, c.col), (5, 5), "conv1's maps are 6×6");
    for _ in 0..20 {
        keys(&mut s, "hk");
    }
    let c = s.cursor().unwrap().cursor;
    assert_eq!((c.row, c.col), (0, 0));
    // Arrows move the cursor, not the layer, while the maps have focus.
    assert_eq!(s.selected, Node::Layer(0));
    press(&mut s, KeyCode::Enter);
    assert_eq!(s.focus, Focus::Pipeline);
    press(&mut s, KeyCode::Right);
    assert_eq!(s.selected, Node::Layer(1));
}

#[test]
fn maps_and_channels_cycle() {
    let mut s = state();
    let before = s.cursor().unwrap().cursor;
    keys(&mut s, "c");
    assert_eq!(s.cursor().unwrap().cursor.map, (before.map + 1) % 2);
    keys(&mut s, "C");
    assert_eq!(s.cursor().unwrap().cursor.map, before.map);
    let names: Vec<TensorName> = s.maps().tensors.iter().map(|t| t.name).collect();
    let i = names.iter().position(|n| *n == before.tensor).unwrap();
    keys(&mut s, "m");
    assert_eq!(
        s.cursor().unwrap().cursor.tensor,
        names[(i + 1) % names.len()]
    );
    keys(&mut s, "M");
    assert_eq!(s.cursor().unwrap().cursor.tensor, names[i]);
}

#[test]
fn delta_maps_are_not_reachable_before_the_backward_pass() {
    let mut s = state();
    s.cursor = Cursor {
        tensor: TensorName::DeltaZ,
        map: 0,
        row: 0,
        col: 0,
    };
    assert_ne!(
        s.cursor().unwrap().cursor.tensor,
        TensorName::DeltaZ,
        "hidden until computed"
    );
    assert!(s.explanation().is_some());
    keys(&mut s, "G");
    assert_eq!(s.selected, Node::Layer(0));
    s.cursor.tensor = TensorName::DeltaZ;
    let e = s.explanation().unwrap();
    assert_eq!(e.cell.tensor, TensorName::DeltaZ);
}

#[test]
fn the_inspector_explains_a_conv1_delta_input_cell_term_by_term() {
    let mut s = state();
    let l = layers();
    keys(&mut s, &"n".repeat(2 * l));
    assert_eq!(s.event(), Event::Backward(0));
    assert_eq!(s.selected, Node::Layer(0));
    assert_eq!(s.cursor().unwrap().cursor.tensor, TensorName::DeltaInput);
    press(&mut s, KeyCode::Enter);
    keys(&mut s, "jjjll");
    let e = s.explanation().unwrap();
    assert_eq!(e.cell.index, vec![0, 3, 2]);
    // 2 kernels × 3×3 taps, all landing on δz for an interior cell.
    assert_eq!(e.terms.len(), 18);
    assert!(
        e.terms
            .iter()
            .all(|t| t.note.as_deref().unwrap_or("").contains("rot180"))
    );
    let traced = s.timeline.step(0).unwrap().trace.layers[0]
        .1
        .tensor(TensorName::DeltaInput)
        .unwrap()[[0, 3, 2]];
    assert_eq!(e.value, traced);
    assert!((e.total() - traced).abs() < 1e-12);
}

#[test]
fn overlays_open_close_and_esc_quits_only_without_one() {
    let mut s = state();
    keys(&mut s, "?");
    assert_eq!(s.overlay, Some(Overlay::Help));
    assert!(!press(&mut s, KeyCode::Esc));
    assert_eq!(s.overlay, None);
    keys(&mut s, "x");
    assert_eq!(s.overlay, Some(Overlay::Check));
    assert!(s.check.as_ref().unwrap().report.passed());
    press(&mut s, KeyCode::Tab);
    assert_eq!(
        s.selected,
        Node::Layer(1),
        "Tab shows the next layer's check"
    );
    assert!(
        !press(&mut s, KeyCode::Char('q')),
        "q closes the overlay first"
    );
    assert_eq!(s.overlay, None);
    assert!(press(&mut s, KeyCode::Esc));
}

#[test]
fn q_and_ctrl_c_quit_and_releases_are_ignored() {
    let mut s = state();
    assert!(press(&mut s, KeyCode::Char('q')));
    let mut s = state();
    keys(&mut s, "?");
    assert!(handle_key(
        &mut s,
        KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)
    ));
    let mut s = state();
    let mut release = KeyEvent::new(KeyCode::Char('n'), KeyModifiers::NONE);
    release.kind = KeyEventKind::Release;
    handle_key(&mut s, release);
    assert_eq!(s.pos, Position::default());
}

#[test]
fn unknown_keys_change_nothing() {
    let mut s = state();
    let before = (s.pos, s.selected, s.focus, s.cursor, s.overlay);
    keys(&mut s, "zZ!@#");
    press(&mut s, KeyCode::F(5));
    assert_eq!(before, (s.pos, s.selected, s.focus, s.cursor, s.overlay));
}
