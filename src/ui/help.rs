//! Overlays: the help (every key, from the one key table) and the gradient check per layer.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::heatmap::compact;
use super::theme::Theme;
use crate::app::State;
use crate::app::keymap::{BINDINGS, CONTEXTS, keys_label};
use crate::check::TensorCheck;
use crate::explain::short;
use crate::timeline::Node;

/// A popup rectangle: at most `w`×`h`, centred, leaving a margin when it can.
pub fn popup(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width.saturating_sub(2)).max(area.width.min(20));
    let h = h.min(area.height.saturating_sub(2)).max(area.height.min(5));
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

fn scrolled(
    frame: &mut Frame,
    area: Rect,
    title: String,
    lines: Vec<Line<'_>>,
    scroll: usize,
    theme: &Theme,
) {
    frame.render_widget(Clear, area);
    let inner_h = area.height.saturating_sub(2) as usize;
    let scroll = scroll.min(lines.len().saturating_sub(inner_h));
    let more = lines.len() > scroll + inner_h;
    let block = Block::new()
        .borders(Borders::ALL)
        .border_style(theme.border(true))
        .title(Line::from(Span::styled(title, theme.title())))
        .title_bottom(Line::from(Span::styled(
            if more {
                " ↓ j/k scroll · Esc close "
            } else {
                " Esc close "
            },
            theme.dim(),
        )));
    let visible: Vec<Line> = lines.into_iter().skip(scroll).collect();
    frame.render_widget(Paragraph::new(visible).block(block), area);
}

pub fn render_help(frame: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let mut lines: Vec<Line> = Vec::new();
    lines.push(Line::from(Span::styled(
        format!("scenario {}", state.name),
        theme.title(),
    )));
    if let Some(d) = &state.description {
        for l in super::wrap(d, 96) {
            lines.push(Line::from(Span::styled(l, theme.dim())));
        }
    }
    lines.push(Line::default());
    let key_w = BINDINGS
        .iter()
        .map(|b| keys_label(b).chars().count())
        .max()
        .unwrap_or(10)
        .min(28);
    for context in CONTEXTS {
        lines.push(Line::from(Span::styled(context.title(), theme.forward())));
        for b in BINDINGS.iter().filter(|b| b.context == context) {
            lines.push(Line::from(vec![
                Span::styled(format!("  {:<key_w$}", keys_label(b)), theme.footer_key()),
                Span::raw(format!("  {}", b.description)),
            ]));
        }
        lines.push(Line::default());
    }
    lines.push(Line::from(Span::styled(
        "Maps: red > 0, blue < 0, scaled by max |v| per tensor; without colour ░▒▓█ shade |v| and +/− give the sign.",
        theme.dim(),
    )));
    lines.push(Line::from(Span::styled(
        "Pool masks (route): max = windows this cell wins, mean = 1/m, l2 = x/‖x‖; · marks cells outside every window.",
        theme.dim(),
    )));
    let rect = popup(area, 100, lines.len() as u16 + 2);
    scrolled(
        frame,
        rect,
        " keys (? or Esc closes) ".into(),
        lines,
        state.overlay_scroll,
        theme,
    );
}

fn check_row<'a>(t: &TensorCheck, theme: &Theme) -> Line<'a> {
    let result = if t.passed() {
        Span::styled("ok", theme.good())
    } else {
        Span::styled(
            format!("FAIL ({} cells)", t.failures.len()),
            theme.warning(),
        )
    };
    Line::from(vec![
        Span::raw(format!(
            "  {:<20} {:>6} {:>11} {:>11} {:>6}  ",
            t.label,
            t.cells,
            short(t.max_abs_error),
            short(t.max_rel_error),
            t.kinks.len()
        )),
        result,
    ])
}

pub fn render_check(frame: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let Some(check) = &state.check else {
        return;
    };
    let r = &check.report;
    let node = state.selected;
    let name = state.node_name(node);
    let mut lines: Vec<Line> = vec![
        Line::from(Span::styled(
            format!(
                "central differences (L(θ+h) − L(θ−h))/2h on every cell, h = {}, tolerance {},",
                compact(r.options.step),
                compact(r.options.tolerance),
            ),
            theme.dim(),
        )),
        Line::from(Span::styled(
            format!(
                "with the parameters of step {} (the check of `deltascope check`)",
                check.step
            ),
            theme.dim(),
        )),
        Line::from(Span::styled(
            format!(
                "  {:<20} {:>6} {:>11} {:>11} {:>6}  result",
                "tensor", "cells", "max abs err", "max rel err", "kinks"
            ),
            theme.title(),
        )),
    ];
    let mine: Vec<&TensorCheck> = r
        .tensors
        .iter()
        .filter(|t| Node::Layer(t.layer) == node && (t.label != "input" || node == Node::Layer(0)))
        .collect();
    if mine.is_empty() {
        let why = match node {
            Node::Loss => {
                "the loss has no parameters; ∂L/∂y is checked through every gradient upstream"
                    .to_string()
            }
            Node::Layer(_) => format!(
                "{name} has no parameters; the δ it routes back is checked\n  through the gradients of the layers before it and of the input"
            ),
        };
        for part in why.split('\n') {
            lines.push(Line::from(Span::styled(format!("  {part}"), theme.dim())));
        }
    }
    for t in &mine {
        lines.push(check_row(t, theme));
    }
    for t in &mine {
        if !t.failures.is_empty() {
            lines.push(Line::default());
            lines.push(Line::from(Span::styled(
                format!("{}: cells over tolerance (worst first)", t.label),
                theme.warning(),
            )));
            for c in t.failures.iter().take(20) {
                lines.push(Line::from(format!(
                    "  {:?}: analytic {:e}, numeric {:e}, abs err {}",
                    c.index,
                    c.analytic,
                    c.numeric,
                    short(c.abs_error())
                )));
            }
        }
        if !t.kinks.is_empty() {
            lines.push(Line::default());
            lines.push(Line::from(Span::styled(
                format!("{}: {} cells on a kink, not judged", t.label, t.kinks.len()),
                theme.title(),
            )));
            for k in t.kinks.iter().take(20) {
                lines.push(Line::from(Span::styled(
                    format!("  {:?}: {}", k.cell.index, k.reason),
                    theme.dim(),
                )));
            }
        }
    }
    let cells: usize = r.tensors.iter().map(|t| t.cells).sum();
    let failed: usize = r.tensors.iter().map(|t| t.failures.len()).sum();
    lines.push(Line::default());
    lines.push(Line::from(vec![
        Span::raw("whole network: "),
        if r.passed() {
            Span::styled(
                format!("PASSED, {cells} cells, 0 over tolerance"),
                theme.good(),
            )
        } else {
            Span::styled(
                format!("FAILED, {failed} of {cells} cells over tolerance"),
                theme.warning(),
            )
        },
        Span::styled("   Tab/←→ other layers", theme.dim()),
    ]));
    let rect = popup(area, 100, lines.len() as u16 + 2);
    scrolled(
        frame,
        rect,
        format!(" gradient check · {name} (x or Esc closes) "),
        lines,
        state.overlay_scroll,
        theme,
    );
}
