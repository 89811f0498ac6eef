//! The inspector: the value under the cursor and the sum behind it, with the numbers
//! substituted, term by term.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use super::theme::Theme;
use super::wrap;
use crate::explain::{Combine, Explanation, short};

/// The block title: "conv1.δx[0,3,4] = -0.0123… · what it is" with the value in full
/// precision; what it is only when it fits in `width`.
pub fn title(e: &Explanation, width: u16) -> String {
    let head = e.title.split(" — ").next().unwrap_or(&e.title);
    let base = format!(" inspector · {head} = {} ", e.value);
    match e.title.split(" — ").nth(1) {
        Some(what) if base.chars().count() + what.chars().count() + 3 <= width as usize => {
            format!("{base}· {what} ")
        }
        _ => base,
    }
}

fn what_fits_in_title(e: &Explanation, width: u16) -> bool {
    title(e, width).contains(" · ") && title(e, width).matches(" · ").count() >= 2
}

/// Lines of the derivation: what it is, the formula, the terms, the total and notes.
/// Returns (fixed head, scrolling body, fixed tail).
/// The user's value of the cell under the cursor (`--compare`).
#[derive(Clone, Debug, PartialEq)]
pub struct YourCell {
    pub value: f64,
    pub differs: bool,
    /// The known mistake that reproduces the user's whole tensor, if one does.
    pub diagnosis: Option<String>,
}

pub fn lines<'a>(
    e: &Explanation,
    width: u16,
    yours: Option<&YourCell>,
    theme: &Theme,
) -> (Vec<Line<'a>>, Vec<Line<'a>>, Vec<Line<'a>>) {
    let w = width as usize;
    let mut head = Vec::new();
    let what = e.title.split(" — ").nth(1).unwrap_or("");
    for l in wrap(&e.formula, w) {
        head.push(Line::from(Span::styled(l, theme.title())));
    }
    let mut body = Vec::new();
    let cols = |f: fn(&crate::explain::Term) -> usize, cap: usize| {
        e.terms.iter().map(f).max().unwrap_or(0).min(cap)
    };
    let note_w = cols(|t| t.note.as_ref().map_or(0, |n| n.chars().count()), 22);
    let sym_w = cols(|t| t.symbolic.chars().count(), 34);
    let num_w = cols(|t| t.numeric.chars().count(), 26);
    let val_w = cols(|t| short(t.value).chars().count(), 12);
    // The richest row that fits: note, symbols, numbers, value; then without the note;
    // then without the numbers.
    let full = note_w + 1 + sym_w + 3 + num_w + 3 + val_w;
    let (show_note, show_num) = if note_w > 0 && full <= w {
        (true, true)
    } else if sym_w + 3 + num_w + 3 + val_w <= w {
        (false, true)
    } else {
        (false, false)
    };
    for t in &e.terms {
        let style = if t.contributes {
            ratatui::style::Style::new()
        } else {
            theme.dim()
        };
        let mut spans = Vec::new();
        if show_note {
            spans.push(Span::styled(
                format!("{:<note_w$} ", t.note.clone().unwrap_or_default()),
                theme.dim(),
            ));
        }
        spans.push(Span::styled(format!("{:<sym_w$}", t.symbolic), style));
        if show_num {
            spans.push(Span::styled(format!(" = {:<num_w$}", t.numeric), style));
        }
        spans.push(Span::styled(
            format!(
                " = {}{}",
                short(t.value),
                if t.contributes { "" } else { "  (not counted)" }
            ),
            if t.contributes {
                theme.title()
            } else {
                theme.dim()
            },
        ));
        if !show_note && let Some(n) = &t.note {
            spans.push(Span::styled(format!("  {n}"), theme.dim()));
        }
        body.push(Line::from(spans));
    }
    if !what_fits_in_title(e, width + 2) {
        for l in wrap(what, w) {
            body.push(Line::from(Span::styled(l, theme.dim())));
        }
    }
    for n in &e.notes {
        for l in wrap(&format!("note: {n}"), w) {
            body.push(Line::from(Span::styled(l, theme.dim())));
        }
    }
    let mut tail = Vec::new();
    let counted = e.terms.iter().filter(|t| t.contributes).count();
    if !e.terms.is_empty() {
        let total = e.total();
        let agree = (total - e.value).abs() <= 1e-12 * e.value.abs().max(1.0)
            || (total.is_nan() && e.value.is_nan());
        let what = match e.combine {
            Combine::Sum => format!("Σ of {counted} term{}", if counted == 1 { "" } else { "s" }),
            Combine::Max => format!("max of {} cells", e.terms.len()),
            Combine::SqrtOfSum => format!("√(Σ of {counted} terms)"),
            Combine::Value => "value".into(),
        };
        tail.push(Line::from(vec![
            Span::styled(format!("{what} = {}", short(total)), theme.title()),
            if agree {
                Span::styled("  ✓ equals the traced value", theme.good())
            } else {
                Span::styled(format!("  ✗ traced value is {}", e.value), theme.warning())
            },
        ]));
    }
    if let Some(y) = yours {
        let v = y.value;
        tail.push(Line::from(if y.differs {
            Span::styled(
                format!(
                    "yours = {v}  ✗ differs from the reference by {}",
                    short(v - e.value)
                ),
                theme.warning(),
            )
        } else {
            Span::styled(
                format!("yours = {v}  ✓ agrees with the reference"),
                theme.good(),
            )
        }));
        if let Some(d) = &y.diagnosis {
            for l in wrap(&format!("diagnosis: {d}"), w) {
                tail.push(Line::from(Span::styled(l, theme.warning())));
            }
        }
    }
    (head, body, tail)
}

/// Draw the inspector body into `area` (inside its block), scrolling the terms by `scroll`.
pub fn render(
    buf: &mut Buffer,
    area: Rect,
    e: &Explanation,
    scroll: usize,
    yours: Option<&YourCell>,
    theme: &Theme,
) {
    let (head, body, tail) = lines(e, area.width, yours, theme);
    let h = area.height as usize;
    let mut y = area.y;
    let mut put = |line: &Line<'_>, y: &mut u16| {
        if *y < area.y + area.height {
            buf.set_line(area.x, *y, line, area.width);
            *y += 1;
        }
    };
    // The head and tail stay; the terms scroll between them. On a very small pane the
    // formula gives way first.
    let tail_h = tail.len();
    let head_room = h
        .saturating_sub(tail_h + body.len().min((h / 2).max(2)))
        .max(1);
    for line in head.iter().take(head_room) {
        put(line, &mut y);
    }
    let room =
        (area.y + area.height - y) as usize - tail_h.min((area.y + area.height - y) as usize);
    let scroll = scroll.min(body.len().saturating_sub(room.max(1)));
    let more_below = body.len() > scroll + room;
    let shown = if more_below {
        room.saturating_sub(1)
    } else {
        room
    };
    for line in body.iter().skip(scroll).take(shown) {
        put(line, &mut y);
    }
    if more_below {
        put(
            &Line::from(Span::styled(
                format!(
                    "… {} more line{} (J/K or PgDn/PgUp scroll){}",
                    body.len() - scroll - shown,
                    if body.len() - scroll - shown == 1 {
                        ""
                    } else {
                        "s"
                    },
                    if scroll > 0 {
                        format!(", {scroll} above")
                    } else {
                        String::new()
                    }
                ),
                theme.dim(),
            )),
            &mut y,
        );
    }
    for line in &tail {
        put(line, &mut y);
    }
}
