//! state → frame. Pure: reads the state, draws, changes nothing and does no I/O.

use std::collections::{HashMap, HashSet};

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use super::theme::Theme;
use super::{help, inspector, loss_chart, maps_pane, pipeline};
use crate::app::Action;
use crate::app::keymap;
use crate::app::maps::{self, Phase};
use crate::app::state::{Focus, Overlay, State, resolve};
use crate::engine::TensorName;
use crate::explain::{self, CellRef, short};
use crate::timeline::{Event, Node};

/// The smallest terminal the layout is drawn in.
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 16;

/// The event in a few words, for narrow headers: "forward conv1 →", "loss", "update".
pub fn short_event_label(state: &State, event: Event) -> String {
    match event {
        Event::Loss => "loss".into(),
        Event::Update => "update".into(),
        _ => event_label(state, event),
    }
}

/// The event in as few characters as say it: "conv1 →", "loss", "← conv1", "update".
pub fn tiny_event_label(state: &State, event: Event) -> String {
    match event {
        Event::Forward(i) => format!("{} →", state.node_name(Node::Layer(i))),
        Event::Backward(i) => format!("← {}", state.node_name(Node::Layer(i))),
        _ => short_event_label(state, event),
    }
}

/// "forward conv1 →", "loss (half_sse)", "← backward pool2", "update w ← w − η·∂w (η = 0.1)".
pub fn event_label(state: &State, event: Event) -> String {
    match event {
        Event::Forward(i) => format!("forward {} →", state.node_name(Node::Layer(i))),
        Event::Loss => format!("loss ({})", state.timeline.model(0).loss.name()),
        Event::Backward(i) => format!("← backward {}", state.node_name(Node::Layer(i))),
        Event::Update => format!(
            "update w ← w − η·∂w (η = {})",
            short(state.timeline.model(0).learning_rate)
        ),
    }
}

pub fn view(state: &State, frame: &mut Frame) {
    let theme = Theme::new(state.config.color);
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        too_small(frame, area, &theme);
        return;
    }
    let [header, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(1),
    ])
    .areas(area);
    render_header(frame, header, state, &theme);
    render_footer(frame, footer, state, &theme);

    let left_w = if area.width >= 110 {
        30
    } else if area.width >= 90 {
        26
    } else {
        22
    };
    let [left, right] =
        Layout::horizontal([Constraint::Length(left_w), Constraint::Fill(1)]).areas(body);
    let loss_h = if body.height >= 20 { 5 } else { 4 };
    let [pipe_area, loss_area] =
        Layout::vertical([Constraint::Fill(1), Constraint::Length(loss_h)]).areas(left);
    let insp_h = (body.height * 2 / 5).clamp(7, 14);
    let [main_area, insp_area] =
        Layout::vertical([Constraint::Fill(1), Constraint::Length(insp_h)]).areas(right);

    // Pipeline
    let pipe_block = Block::new()
        .borders(Borders::ALL)
        .border_style(theme.border(state.focus == Focus::Pipeline))
        .title(Line::from(Span::styled(
            if state.follow {
                " pipeline · follows "
            } else {
                " pipeline · pinned "
            },
            theme.title(),
        )));
    let inner = pipe_block.inner(pipe_area);
    frame.render_widget(pipe_block, pipe_area);
    pipeline::render(frame.buffer_mut(), inner, state, &theme);

    // Loss chart; the title says when its scale is logarithmic.
    let losses = state.timeline.losses_until(state.pos);
    let title = if loss_chart::log_scale(&losses) {
        [
            " loss per step, log scale ",
            " loss, log scale ",
            " loss (log) ",
        ]
        .into_iter()
        .find(|t| t.chars().count() + 2 <= loss_area.width as usize)
        .unwrap_or(" loss ")
    } else {
        " loss per step "
    };
    let loss_block = Block::new()
        .borders(Borders::ALL)
        .border_style(theme.border(false))
        .title(Line::from(Span::styled(title, theme.title())));
    let inner = loss_block.inner(loss_area);
    frame.render_widget(loss_block, loss_area);
    loss_chart::render(frame.buffer_mut(), inner, &losses, &theme);

    // Maps and inspector
    let node_maps = state.maps();
    let resolved = resolve(&node_maps, state.cursor);
    let cell = resolved.and_then(|r| {
        let t = &node_maps.tensors[r.tensor_index];
        t.shape
            .index(r.cursor.map, r.cursor.row, r.cursor.col)
            .map(|index| CellRef::new(state.selected, t.name, &index))
    });
    let explanation = cell.as_ref().and_then(|cell| {
        state.cache.explanation(state.pos, cell, || {
            explain::explain(&maps::context(&state.timeline, state.pos)?, cell)
        })
    });
    let mut highlights: HashMap<TensorName, HashSet<Vec<usize>>> = HashMap::new();
    if let Some(e) = &explanation {
        for s in e.sources().filter(|s| s.node == state.selected) {
            highlights
                .entry(s.tensor)
                .or_default()
                .insert(s.index.clone());
        }
    }

    let main_title = main_title(state, main_area.width.saturating_sub(2), &theme);
    let mut main_block = Block::new()
        .borders(Borders::ALL)
        .border_style(theme.border(state.focus == Focus::Map))
        .title(main_title);
    if let Some(p) = node_maps.pending.first() {
        main_block =
            main_block.title_bottom(Line::from(Span::styled(format!(" {p} "), theme.dim())));
    } else if let Some(r) = resolved {
        let t = &node_maps.tensors[r.tensor_index];
        let phase = match t.phase {
            Phase::Param => "parameter",
            Phase::Forward => "forward",
            Phase::Backward => "backward",
            Phase::Update => "after the update",
        };
        let legend = super::heatmap::legend(t);
        let shape = if t.len() == 1 {
            String::new()
        } else if legend.starts_with('=') {
            format!(" {}", t.shape.dims_label())
        } else {
            format!(" {},", t.shape.dims_label())
        };
        // The richest form that fits: "cursor: δx (delta_input, backward) 1×8×8, -0.056…0.083".
        let room = main_area.width.saturating_sub(4) as usize;
        let text = [
            format!(
                " cursor: {} ({}, {phase}){shape} {legend} ",
                t.symbol, t.name
            ),
            format!(" cursor: {} ({}){shape} {legend} ", t.symbol, t.name),
            format!(" cursor: {}{shape} {legend} ", t.symbol),
            format!(" {}{shape} {legend} ", t.symbol),
        ]
        .into_iter()
        .find(|s| s.chars().count() <= room)
        .unwrap_or_else(|| format!(" {} ", t.symbol));
        main_block = main_block.title_bottom(Line::from(Span::styled(text, theme.dim())));
    }
    let inner = main_block.inner(main_area);
    frame.render_widget(main_block, main_area);
    if node_maps.tensors.is_empty() {
        frame.render_widget(
            Paragraph::new("nothing computed here yet").style(theme.dim()),
            inner,
        );
    } else {
        let related: Vec<TensorName> = highlights.keys().copied().collect();
        let plan = maps_pane::plan(
            &node_maps.tensors,
            inner.width,
            inner.height,
            resolved.as_ref(),
            &related,
            !theme.color(),
        );
        maps_pane::render(
            frame.buffer_mut(),
            inner,
            &node_maps.tensors,
            &plan,
            resolved.as_ref(),
            &highlights,
            &theme,
        );
    }

    let insp_block = Block::new()
        .borders(Borders::ALL)
        .border_style(theme.border(false));
    let intro = state.description.as_deref().filter(|_| state.intro);
    let insp_block = match (&explanation, intro) {
        (_, Some(_)) => insp_block.title(Line::from(Span::styled(
            format!(" about {} ", state.name),
            theme.title(),
        ))),
        (Some(e), None) => insp_block.title(Line::from(Span::styled(
            inspector::title(e, insp_area.width.saturating_sub(2)),
            theme.title(),
        ))),
        (None, None) => insp_block.title(Line::from(Span::styled(" inspector ", theme.title()))),
    };
    let inner = insp_block.inner(insp_area);
    frame.render_widget(insp_block, insp_area);
    match (&explanation, intro) {
        (_, Some(description)) => render_intro(frame, inner, description, state, &theme),
        (Some(e), None) => {
            let yours = resolved.and_then(|r| {
                let c = state.compare.as_ref()?;
                let t = &node_maps.tensors[r.tensor_index];
                let index = t.shape.index(r.cursor.map, r.cursor.row, r.cursor.col)?;
                let layer = match state.selected {
                    Node::Layer(l) => Some(l),
                    Node::Loss => None,
                };
                let value = t.your_value(&index);
                let switches = layer
                    .and_then(|l| maps::switches(&state.timeline, c, state.pos.step, l))
                    .map(|s| s.at(t.name, &index))
                    .unwrap_or_default();
                // The mask has no tensor of its own in the user's file: its diagnosis is
                // the argmax's, as is that of a switch shown on a cell they gave no value of.
                let diagnosed = if value.is_none() || t.name == TensorName::Mask {
                    TensorName::Argmax
                } else {
                    t.name
                };
                let diffed = c.tensor_diff(state.pos.step, layer, diagnosed);
                let diagnosis = diffed.and_then(|d| d.diagnosis.clone());
                let origin = diffed.and_then(|d| d.origin_line());
                (value.is_some() || !switches.is_empty()).then_some(inspector::YourCell {
                    value,
                    origin,
                    diagnosis,
                    switches,
                })
            });
            inspector::render(
                frame.buffer_mut(),
                inner,
                e,
                state.inspector_scroll,
                yours.as_ref(),
                &theme,
            )
        }
        (None, None) => frame.render_widget(
            Paragraph::new(
                "no cell under the cursor: Enter focuses the maps, then hjkl or the arrows move it",
            )
            .style(theme.dim())
            .wrap(Wrap { trim: true }),
            inner,
        ),
    }

    if state.overlay.is_some() {
        help::dim_behind(frame, body);
    }
    match state.overlay {
        Some(Overlay::Help) => help::render_help(frame, body, state, &theme),
        Some(Overlay::Check) => help::render_check(frame, body, state, &theme),
        None => {}
    }
}

/// The scenario's description, in the inspector until the first key that moves something:
/// what this scenario shows, where a newcomer looks first.
fn render_intro(frame: &mut Frame, area: Rect, description: &str, state: &State, theme: &Theme) {
    let w = area.width as usize;
    let body: Vec<Vec<Line>> = super::wrap(description, w)
        .into_iter()
        .map(|l| vec![Line::from(l)])
        .collect();
    let tail = super::wrap(
        "n: the next event · Enter, then hjkl: any cell and the sum behind it · ?: every key and this text again",
        w,
    )
    .into_iter()
    .map(|l| Line::from(Span::styled(l, theme.dim())))
    .collect();
    inspector::render_parts(
        frame.buffer_mut(),
        area,
        Vec::new(),
        body,
        tail,
        state.inspector_scroll,
        theme,
    );
}

fn main_title<'a>(state: &State, width: u16, theme: &Theme) -> Line<'a> {
    let (name, detail) = match state.selected {
        Node::Layer(i) => {
            let layer = &state.timeline.model(state.pos.step).layers[i];
            (layer.name.clone(), pipeline::layer_detail(&layer.kind))
        }
        Node::Loss => (
            "loss".into(),
            state.timeline.model(0).loss.name().to_string(),
        ),
    };
    let (focus, short_focus) = if state.focus == Focus::Map {
        (" · hjkl move the cell cursor", " · hjkl: cells")
    } else {
        (" · Enter to move the cell cursor", " · Enter: cells")
    };
    let head = format!(" {name} · {detail}");
    let fits = |s: &str| head.chars().count() + s.chars().count() < width as usize;
    let focus = [focus, short_focus, ""]
        .into_iter()
        .find(|f| fits(f))
        .unwrap_or("");
    Line::from(vec![
        Span::styled(format!(" {name} "), theme.title()),
        Span::styled(format!("· {detail}"), theme.dim()),
        Span::styled(format!("{focus} "), theme.dim()),
    ])
}

fn render_header(frame: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let tl = &state.timeline;
    let event = state.event();
    let dir_style = match event {
        Event::Forward(_) | Event::Loss => theme.forward(),
        Event::Backward(_) | Event::Update => theme.backward(),
    };
    let name = (!state.name.is_empty()).then(|| format!(" {} ", state.name));
    let compare = state.compare.as_ref().map(|c| {
        let file = std::path::Path::new(&c.source)
            .file_name()
            .map_or(c.source.clone(), |f| f.to_string_lossy().into_owned());
        format!("vs {file} ")
    });
    let loss = (tl.loss_known(state.pos))
        .then(|| tl.step(state.pos.step))
        .flatten()
        .map(|step| format!("  L = {}", short(step.trace.loss)));
    // Steps count from 0, as `export` numbers them: "step 2 (0–2)".
    let steps = crate::app::update::step_range(tl.planned_steps());
    let events = format!("· event {}/{} ", state.pos.event + 1, tl.events_per_step());
    // The richest header that fits: the scenario's name and the event in full go first
    // when room runs out; the loss stays.
    let build = |with_name: bool, long_event: u8, range: bool| -> Vec<Span<'static>> {
        let mut spans = vec![Span::styled(
            " deltascope ",
            theme.header().add_modifier(ratatui::style::Modifier::BOLD),
        )];
        if with_name {
            spans.extend(name.clone().map(Span::raw));
            spans.extend(compare.clone().map(|c| Span::styled(c, theme.param())));
        }
        spans.push(Span::styled(
            if range {
                format!(" step {} ({steps}) ", state.pos.step)
            } else {
                format!(" step {} ", state.pos.step)
            },
            theme.title(),
        ));
        spans.push(Span::raw(events.clone()));
        spans.push(Span::styled(
            match long_event {
                2 => event_label(state, event),
                1 => short_event_label(state, event),
                _ => tiny_event_label(state, event),
            },
            dir_style,
        ));
        spans.extend(loss.clone().map(Span::raw));
        spans
    };
    let width = |spans: &[Span]| {
        spans
            .iter()
            .map(|s| s.content.chars().count())
            .sum::<usize>()
    };
    let spans = [
        (true, 2, true),
        (true, 1, true),
        (false, 2, true),
        (false, 1, true),
        (false, 1, false),
        (false, 0, false),
    ]
    .into_iter()
    .map(|(n, e, r)| build(n, e, r))
    .find(|s| width(s) <= area.width as usize)
    .unwrap_or_else(|| build(false, 0, false));
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn render_footer(frame: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let mut spans = Vec::new();
    if let Some(s) = &state.status {
        spans.push(Span::styled(format!("{s}  "), theme.status()));
    }
    // The focus's own keys first, then the rest in table order while they fit; help and
    // quit always show, at the end.
    let contexts = state.key_contexts();
    let mut hints: Vec<(&str, bool)> = Vec::new();
    for context in &contexts {
        for b in keymap::BINDINGS.iter().filter(|b| b.context == *context) {
            if let Some(h) = b.footer {
                hints.push((
                    h,
                    matches!(
                        b.action,
                        Action::ToggleHelp | Action::Quit | Action::CloseOverlay
                    ),
                ));
            }
        }
    }
    let essential: usize = hints
        .iter()
        .filter(|(_, e)| *e)
        .map(|(h, _)| h.chars().count() + 2)
        .sum();
    let mut used: usize = spans
        .iter()
        .map(|s| s.content.chars().count())
        .sum::<usize>()
        + essential;
    let mut shown: Vec<&str> = Vec::new();
    for (h, e) in &hints {
        let w = h.chars().count() + 2;
        if !*e && used + w <= area.width as usize {
            used += w;
            shown.push(h);
        }
    }
    shown.extend(hints.iter().filter(|(_, e)| *e).map(|(h, _)| *h));
    for hint in shown {
        let (keys, what) = hint.split_once(' ').unwrap_or((hint, ""));
        spans.push(Span::styled(keys.to_string(), theme.footer_key()));
        spans.push(Span::styled(format!(" {what}  "), theme.footer()));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn too_small(frame: &mut Frame, area: Rect, theme: &Theme) {
    let text = format!(
        "terminal too small (need {MIN_WIDTH}×{MIN_HEIGHT}, have {}×{}): enlarge it, or press q to quit",
        area.width, area.height
    );
    frame.render_widget(
        Paragraph::new(text)
            .style(theme.status())
            .wrap(Wrap { trim: true }),
        area,
    );
}
