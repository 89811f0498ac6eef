//! State + action → new state. No terminal, no drawing.

use ratatui::crossterm::event::{KeyEvent, KeyEventKind};

use crate::check::{CheckOptions, gradient_check};
use crate::engine::TensorName;
use crate::timeline::{Event, Node, Position};

use super::action::Action;
use super::keymap;
use super::state::{CheckResult, Focus, Overlay, State, resolve};

/// Apply a key press. Returns true when the debugger should quit.
pub fn handle_key(state: &mut State, key: KeyEvent) -> bool {
    if key.kind != KeyEventKind::Press {
        return state.quit;
    }
    match keymap::lookup(&state.key_contexts(), &key) {
        Some(action) => update(state, action),
        None => state.status = None,
    }
    state.quit
}

/// Apply one action.
pub fn update(state: &mut State, action: Action) {
    state.status = None;
    // The introduction stays while the user only reads: help, overlays, scrolling it.
    if !matches!(
        action,
        Action::ToggleHelp
            | Action::ToggleCheck
            | Action::CloseOverlay
            | Action::OverlayDown
            | Action::OverlayUp
            | Action::InspectorDown
            | Action::InspectorUp
    ) {
        state.intro = false;
    }
    match action {
        Action::NextEvent => match state.timeline.next(state.pos) {
            Some(next) => go(state, next),
            None => {
                state.status = Some(format!(
                    "end of step {}, the last of steps {}: press + to run another training step",
                    state.pos.step,
                    step_range(state.timeline.planned_steps())
                ))
            }
        },
        Action::PrevEvent => match state.timeline.prev(state.pos) {
            Some(prev) => go(state, prev),
            None => state.status = Some("already at the start".into()),
        },
        Action::NextStep => match state.timeline.next_step(state.pos) {
            Some(next) => go(state, next),
            None => {
                state.status = Some(format!(
                    "step {} is the last of steps {}: press + to run another",
                    state.pos.step,
                    step_range(state.timeline.planned_steps())
                ))
            }
        },
        Action::PrevStep => match state.timeline.prev_step(state.pos) {
            Some(prev) => go(state, prev),
            None => state.status = Some("already in step 0".into()),
        },
        Action::Start => go(state, state.timeline.start()),
        Action::End => go(state, state.timeline.end()),
        Action::RunMore(n) => {
            let was_end = state.pos == state.timeline.end();
            let first_new = state.timeline.planned_steps();
            match state.timeline.extend(n) {
                Ok(added) => {
                    if was_end {
                        go(
                            state,
                            Position {
                                step: first_new,
                                event: 0,
                            },
                        );
                    }
                    state.status = Some(format!(
                        "{added} more training step{} planned: {} in all, steps {}",
                        if added == 1 { "" } else { "s" },
                        state.timeline.planned_steps(),
                        step_range(state.timeline.planned_steps())
                    ));
                }
                Err(limit) => state.status = Some(format!("cannot run more steps: {limit}")),
            }
        }
        Action::NextLayer | Action::PrevLayer => {
            let nodes = state.nodes();
            let i = state.node_index(state.selected);
            let j = if action == Action::NextLayer {
                (i + 1) % nodes.len()
            } else {
                (i + nodes.len() - 1) % nodes.len()
            };
            select(state, nodes[j]);
            state.follow = false;
            state.overlay_scroll = 0;
        }
        Action::Follow => {
            state.follow = true;
            follow(state);
            state.status = Some("the selection follows the current event".into());
        }
        Action::ToggleFocus => {
            state.focus = match state.focus {
                Focus::Pipeline => Focus::Map,
                Focus::Map => Focus::Pipeline,
            }
        }
        Action::CursorLeft | Action::CursorRight | Action::CursorUp | Action::CursorDown => {
            move_cursor(state, action)
        }
        Action::NextMap | Action::PrevMap => {
            let maps = state.maps();
            if let Some(r) = resolve(&maps, state.cursor) {
                let n = maps.tensors.len();
                let j = if action == Action::NextMap {
                    (r.tensor_index + 1) % n
                } else {
                    (r.tensor_index + n - 1) % n
                };
                let name = maps.tensors[j].name;
                let cursor = resolve(
                    &maps,
                    super::state::Cursor {
                        tensor: name,
                        ..r.cursor
                    },
                )
                .map(|r| r.cursor);
                if let Some(c) = cursor {
                    state.cursor = c;
                }
            }
            state.inspector_scroll = 0;
        }
        Action::NextChannel | Action::PrevChannel => {
            let maps = state.maps();
            if let Some(r) = resolve(&maps, state.cursor) {
                let n = maps.tensors[r.tensor_index].shape.map_count();
                let mut c = r.cursor;
                c.map = if action == Action::NextChannel {
                    (c.map + 1) % n
                } else {
                    (c.map + n - 1) % n
                };
                state.cursor = c;
            }
            state.inspector_scroll = 0;
        }
        Action::InspectorDown => state.inspector_scroll += 1,
        Action::InspectorUp => state.inspector_scroll = state.inspector_scroll.saturating_sub(1),
        Action::ToggleHelp => {
            state.overlay = match state.overlay {
                Some(Overlay::Help) => None,
                _ => Some(Overlay::Help),
            };
            state.overlay_scroll = 0;
        }
        Action::ToggleCheck => {
            if state.overlay == Some(Overlay::Check) {
                state.overlay = None;
            } else if let Some(why) = check_too_costly(state) {
                state.status = Some(why);
            } else {
                ensure_check(state);
                state.overlay = Some(Overlay::Check);
                state.overlay_scroll = 0;
            }
        }
        Action::CloseOverlay => state.overlay = None,
        Action::OverlayDown => state.overlay_scroll += 1,
        Action::OverlayUp => state.overlay_scroll = state.overlay_scroll.saturating_sub(1),
        Action::Quit => state.quit = true,
    }
}

/// The planned steps, numbered from 0 as `export` numbers them: "0–2" for three.
pub fn step_range(planned: usize) -> String {
    match planned {
        0 | 1 => "0".into(),
        n => format!("0–{}", n - 1),
    }
}

/// Move to a position, computing its step if needed.
fn go(state: &mut State, pos: Position) {
    if !state.timeline.ensure(pos.step) {
        state.status = Some(format!("step {} cannot be computed", pos.step));
        return;
    }
    state.pos = pos;
    state.inspector_scroll = 0;
    if state.follow {
        follow(state);
        if state.focus == Focus::Pipeline {
            // While the debugger drives, the cursor shows what the event just computed.
            state.cursor.tensor = preferred_tensor(state, state.selected);
        }
    }
    if state.overlay == Some(Overlay::Check) {
        ensure_check(state);
    }
}

fn follow(state: &mut State) {
    let node = match state.event() {
        Event::Forward(i) | Event::Backward(i) => Node::Layer(i),
        Event::Loss => Node::Loss,
        Event::Update => return,
    };
    select(state, node);
}

/// Select a node, keeping the cursor's tensor if the node has one of the same name.
fn select(state: &mut State, node: Node) {
    if state.selected == node {
        return;
    }
    state.selected = node;
    state.inspector_scroll = 0;
    if state.maps().position(state.cursor.tensor).is_none() {
        state.cursor.tensor = preferred_tensor(state, node);
    }
}

/// The tensor that best shows a node at the current event: what the event just computed.
pub fn preferred_tensor(state: &State, node: Node) -> TensorName {
    let backward = state.event().is_backward();
    match node {
        Node::Loss => {
            if state.event() == Event::Loss {
                TensorName::Loss
            } else if backward {
                TensorName::LossGrad
            } else {
                TensorName::Output
            }
        }
        Node::Layer(i) => {
            let stage = state.timeline.stage(state.pos, i);
            let pool = matches!(
                state.timeline.model(0).layers[i].kind,
                crate::engine::LayerKind::Pool(_)
            );
            if stage.updated && !pool {
                TensorName::WeightsNext
            } else if backward && stage.backward {
                TensorName::DeltaInput
            } else if backward && stage.delta_out {
                if pool {
                    TensorName::DeltaOutput
                } else {
                    TensorName::DeltaA
                }
            } else if stage.forward {
                if pool {
                    TensorName::Output
                } else {
                    TensorName::A
                }
            } else {
                TensorName::Input
            }
        }
    }
}

fn move_cursor(state: &mut State, action: Action) {
    let maps = state.maps();
    let Some(r) = resolve(&maps, state.cursor) else {
        return;
    };
    let shape = maps.tensors[r.tensor_index].shape;
    let (h, w) = shape.map_dims();
    let mut c = r.cursor;
    match action {
        Action::CursorLeft => c.col = c.col.saturating_sub(1),
        Action::CursorRight => c.col = (c.col + 1).min(w.saturating_sub(1)),
        Action::CursorUp => c.row = c.row.saturating_sub(1),
        Action::CursorDown => c.row = (c.row + 1).min(h.saturating_sub(1)),
        _ => {}
    }
    if shape.index(c.map, c.row, c.col).is_none() {
        // The short last row of a vector: stay where we were.
        c = r.cursor;
    }
    state.cursor = c;
    state.inspector_scroll = 0;
}

/// Rough work (numbers touched) above which the check would freeze the debugger.
pub const MAX_CHECK_WORK: f64 = 4e9;

/// The check runs two forward passes per cell it probes (a sample of large tensors, as
/// `deltascope check` does); refuse it inside the
/// debugger when that would take more than a few seconds.
fn check_too_costly(state: &State) -> Option<String> {
    let model = state.timeline.model(state.pos.step);
    let cells = crate::check::cells_probed(model, &CheckOptions::default());
    let work = 2.0 * cells as f64 * state.timeline.numbers_per_step() as f64;
    (work > MAX_CHECK_WORK).then(|| {
        format!(
            "the gradient check needs {} forward passes here, too slow to run inside the debugger: use `deltascope check FILE`",
            2 * cells
        )
    })
}

fn ensure_check(state: &mut State) {
    let step = state.pos.step;
    if state.check.as_ref().is_some_and(|c| c.step == step) {
        return;
    }
    let report = gradient_check(state.timeline.model(step), CheckOptions::default());
    state.check = Some(CheckResult { step, report });
}
