//! Overlays: the help (every key, from the one key table) and the gradient check per layer.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::heatmap::compact;
use super::theme::Theme;
use crate::app::State;
use crate::app::keymap::{BINDINGS, CONTEXTS, keys_label};
use crate::check::{Target, TensorCheck};
use crate::engine::{LayerKind, PoolKind};
use crate::explain::{exact, short};
use crate::timeline::Node;

/// A popup rectangle: `w`×`h` centred in `area` with a margin, or the whole of `area`
/// in a direction where a margin would leave slivers of the panes' borders showing
/// beside the popup's own.
pub fn popup(area: Rect, w: u16, h: u16) -> Rect {
    let fit = |want: u16, least: u16, have: u16| {
        if want + 6 >= have {
            have
        } else {
            want.max(least.min(have))
        }
    };
    let w = fit(w, 20, area.width);
    let h = fit(h, 5, area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

/// Dim everything in `area` (the panes behind an overlay), so the overlay stands out.
pub fn dim_behind(frame: &mut Frame, area: Rect) {
    frame
        .buffer_mut()
        .set_style(area, Style::new().add_modifier(Modifier::DIM));
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
                format!(
                    " ↓ {} more lines: j/k scroll ",
                    lines.len() - scroll - inner_h
                )
            } else if scroll > 0 {
                " ↑ k scrolls back ".into()
            } else {
                String::new()
            },
            theme.dim(),
        )));
    let visible: Vec<Line> = lines.into_iter().skip(scroll).collect();
    frame.render_widget(Paragraph::new(visible).block(block), area);
}

/// `text` wrapped to `w` columns, every line styled alike, continuation lines indented.
fn wrapped<'a>(text: &str, w: usize, indent: usize, style: Style) -> Vec<Line<'a>> {
    let mut out = Vec::new();
    for (i, l) in super::wrap(text, w.saturating_sub(indent).max(10))
        .into_iter()
        .enumerate()
    {
        let pad = if i == 0 { 0 } else { indent };
        out.push(Line::from(Span::styled(
            format!("{}{l}", " ".repeat(pad)),
            style,
        )));
    }
    out
}

/// The width overlays are laid out for: up to 100 columns, less when the area is smaller.
fn overlay_width(area: Rect) -> u16 {
    area.width.min(100)
}

/// What a mean pool's mask holds in this scenario, e.g. "1/m = 1/4 (2×2 window)".
fn mean_pool_weight(state: &State) -> String {
    let model = state.timeline.model(0);
    let mut sizes: Vec<[usize; 2]> = model
        .layers
        .iter()
        .filter_map(|l| match &l.kind {
            LayerKind::Pool(p) if p.kind == PoolKind::Mean => Some(p.size),
            _ => None,
        })
        .collect();
    sizes.dedup();
    match sizes.as_slice() {
        [[a, b]] => format!("1/m = 1/{} ({a}×{b} window)", a * b),
        _ => "m the number of cells of a window (1/m = 1/4 for 2×2)".into(),
    }
}

pub fn render_help(frame: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let w = overlay_width(area).saturating_sub(2) as usize;
    let mut lines: Vec<Line> = Vec::new();
    lines.push(Line::from(Span::styled(
        format!("scenario {}", state.name),
        theme.title(),
    )));
    if let Some(d) = &state.description {
        lines.extend(wrapped(d, w, 0, theme.dim()));
    }
    lines.push(Line::default());
    let key_w = BINDINGS
        .iter()
        .map(|b| keys_label(b).chars().count())
        .max()
        .unwrap_or(10)
        .min(18)
        .min(w / 3);
    for context in CONTEXTS {
        lines.push(Line::from(Span::styled(context.title(), theme.forward())));
        for b in BINDINGS.iter().filter(|b| b.context == context) {
            let keys = keys_label(b);
            let indent = 2 + key_w + 2;
            let text_w = w.saturating_sub(indent).max(10);
            let mut description = super::wrap(b.description, text_w).into_iter();
            let first = description.next().unwrap_or_default();
            if keys.chars().count() > key_w {
                lines.push(Line::from(Span::styled(
                    format!("  {keys}"),
                    theme.footer_key(),
                )));
                lines.push(Line::from(Span::raw(format!(
                    "{}{first}",
                    " ".repeat(indent)
                ))));
            } else {
                lines.push(Line::from(vec![
                    Span::styled(format!("  {keys:<key_w$}"), theme.footer_key()),
                    Span::raw(format!("  {first}")),
                ]));
            }
            for more in description {
                lines.push(Line::from(Span::raw(format!(
                    "{}{more}",
                    " ".repeat(indent)
                ))));
            }
        }
        lines.push(Line::default());
    }
    lines.push(Line::from(Span::styled(
        "Reading the maps",
        theme.forward(),
    )));
    let legend = [
        "Colour: red > 0, blue < 0, scaled by max |v| of each tensor. Without colour, ░▒▓█ shade |v| and +/- give the sign; in one-column cells ░▒▓█ are positive and -=≡■ negative.".to_string(),
        "! marks a NaN or ±inf: a value that overflowed f64 (or came from inf − inf, 0 × inf). The legend above a map ranges over its finite values.".into(),
        "◆ is the cell cursor; • (underlined without colour) marks the cells the inspector's terms read; · is a cell in no pooling window (floor mode); ≠ a cell where your numbers differ (--compare).".into(),
        format!(
            "Pool masks, the weight δ gets on its way back through a pool: switch (max pooling) counts the windows a cell is the maximum of (a digit where it wins several); 1/m (mean pooling) shares δ equally, {}; x/‖x‖ (L2 pooling) shares it in proportion to x.",
            mean_pool_weight(state)
        ),
        "Steps count from 0, as `deltascope export` numbers them: step 2 (0–2) is the last of three planned steps.".into(),
    ];
    for l in legend {
        lines.extend(wrapped(&l, w, 2, theme.dim()));
    }
    let rect = popup(area, overlay_width(area), lines.len() as u16 + 2);
    scrolled(
        frame,
        rect,
        " keys (? or Esc closes) ".into(),
        lines,
        state.overlay_scroll,
        theme,
    );
}

/// Columns of the check table: tensor, cells, max abs err, max rel err, kinks, result.
const CHECK_COLUMNS: [usize; 5] = [18, 9, 11, 11, 5];

fn check_row<'a>(t: &TensorCheck, theme: &Theme) -> Line<'a> {
    let style = if t.passed() {
        theme.good()
    } else {
        theme.warning()
    };
    let result = Span::styled(t.result_label(), style);
    let [a, b, c, d, e] = CHECK_COLUMNS;
    Line::from(vec![
        Span::raw(format!(
            "  {:<a$}  {:>b$}  {:>c$}  {:>d$}  {:>e$}  ",
            t.label,
            t.cells_label(),
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
    let w = overlay_width(area).saturating_sub(2) as usize;
    let r = &check.report;
    let node = state.selected;
    let name = state.node_name(node);
    let [a, b, c, d, e] = CHECK_COLUMNS;
    let mut lines: Vec<Line> = wrapped(
        &format!(
            "Central differences (L(θ+h) − L(θ−h))/2h, h = {}, tolerance {}, with the \
             parameters of step {} (the check of `deltascope check`). A cell passes when its \
             absolute or relative error is within the tolerance; one that disagrees is \
             measured again at h/2, h/4, … to cancel the h² error.{}",
            compact(r.options.step),
            compact(r.options.tolerance),
            check.step,
            r.sampling_note()
                .map(|n| format!(" {n}."))
                .unwrap_or_default()
        ),
        w,
        0,
        theme.dim(),
    );
    lines.push(Line::from(Span::styled(
        format!(
            "  {:<a$}  {:>b$}  {:>c$}  {:>d$}  {:>e$}  result",
            "tensor", "cells", "max abs err", "max rel err", "kinks"
        ),
        theme.title(),
    )));
    let mine: Vec<&TensorCheck> = r
        .tensors
        .iter()
        .filter(|t| {
            Node::Layer(t.layer) == node
                && (!matches!(t.target, Target::Input) || node == Node::Layer(0))
        })
        .collect();
    if mine.is_empty() {
        let why = match node {
            Node::Loss => {
                "the loss has no parameters; ∂L/∂y is checked through every gradient upstream"
                    .to_string()
            }
            Node::Layer(_) => format!(
                "{name} has no parameters; the δ it routes back is checked through the gradients of the layers before it and of the input"
            ),
        };
        lines.extend(wrapped(&format!("  {why}"), w, 2, theme.dim()));
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
                lines.extend(wrapped(
                    &format!(
                        "  {:?}: analytic {}, numeric {}, abs err {}",
                        c.index,
                        exact(c.analytic),
                        exact(c.numeric),
                        short(c.abs_error())
                    ),
                    w,
                    4,
                    Style::new(),
                ));
            }
        }
        if !t.kinks.is_empty() {
            lines.push(Line::default());
            lines.push(Line::from(Span::styled(
                format!("{}: {} cells on a kink, not judged", t.label, t.kinks.len()),
                theme.title(),
            )));
            for k in t.kinks.iter().take(20) {
                lines.extend(wrapped(
                    &format!("  {:?}: {}", k.cell.index, k.reason),
                    w,
                    4,
                    theme.dim(),
                ));
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
    ]));
    lines.extend(wrapped(
        "Tab or ←→: the check of another layer (the selection moves with it)",
        w,
        2,
        theme.dim(),
    ));
    let rect = popup(area, overlay_width(area), lines.len() as u16 + 2);
    scrolled(
        frame,
        rect,
        format!(" gradient check · {name} (x or Esc closes) "),
        lines,
        state.overlay_scroll,
        theme,
    );
}
