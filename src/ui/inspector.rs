//! The inspector: the value under the cursor and the sum behind it, with the numbers
//! substituted, term by term.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};

use super::theme::Theme;
use super::wrap;
use crate::app::maps::YourSwitch;
use crate::explain::{Combine, Explanation, Term, exact, idx, short};

/// The block title: "conv1.δx[0,3,4] = 0.0537… · what it is", the value exact (shortest
/// round-trip digits, scientific when huge or tiny); what it is only when it fits in `width`.
pub fn title(e: &Explanation, width: u16) -> String {
    let head = e.title.split(" — ").next().unwrap_or(&e.title);
    // Narrow panes drop the word "inspector", then digits of the value.
    let base = [
        format!(" inspector · {head} = {} ", exact(e.value)),
        format!(" {head} = {} ", exact(e.value)),
    ]
    .into_iter()
    .find(|t| t.chars().count() <= width as usize)
    .unwrap_or_else(|| format!(" {head} = {} ", short(e.value)));
    match e.title.split(" — ").nth(1) {
        Some(what) if base.chars().count() + what.chars().count() + 3 <= width as usize => {
            format!("{base}· {what} ")
        }
        _ => base,
    }
}

fn what_fits_in_title(e: &Explanation, width: u16) -> bool {
    e.title
        .split(" — ")
        .nth(1)
        .is_some_and(|what| title(e, width).ends_with(&format!("· {what} ")))
}

/// What the user's numbers say about the cell under the cursor (`--compare`).
#[derive(Clone, Debug, PartialEq)]
pub struct YourCell {
    /// Their value of the cell and whether it differs, when they gave the tensor.
    pub value: Option<(f64, bool)>,
    /// Where the tensor's difference comes from, recomputed from the user's own inputs.
    pub origin: Option<String>,
    /// The known mistake that reproduces the user's whole tensor, if one does.
    pub diagnosis: Option<String>,
    /// A max pool's switches that bear on the cell, theirs beside the reference's.
    pub switches: Vec<YourSwitch>,
}

/// "your switch of window (0,1): x[0,0,3] (flat 3)  ✗ the reference's is x[0,1,2] (flat 8)",
/// or "your switch of window (0,1): x[0,1,2]  ✓ the reference's".
fn switch_line<'a>(s: &YourSwitch, theme: &Theme) -> Vec<Span<'a>> {
    let c = s.pair.channel;
    let [i, j] = s.pair.window;
    let cell = |[y, x]: [usize; 2]| format!("x{} (flat {})", idx(&[c, y, x]), y * s.plane[1] + x);
    let yours = match s.yours {
        Some(at) if s.in_window => cell(at),
        Some(at) => format!("{}, outside the window", cell(at)),
        None => format!(
            "{}, which names no cell of the {}×{} plane",
            exact(s.pair.yours),
            s.plane[0],
            s.plane[1]
        ),
    };
    let head = format!("your switch of window ({i},{j}): {yours}");
    if s.pair.differs() {
        vec![Span::styled(
            format!("{head}  ✗ the reference's is {}", cell(s.reference)),
            theme.warning(),
        )]
    } else {
        // The explanation's note gives the flat index of an agreeing switch.
        vec![Span::styled(
            format!(
                "your switch of window ({i},{j}): x{}  ✓ the reference's",
                idx(&[c, s.reference[0], s.reference[1]])
            ),
            theme.good(),
        )]
    }
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

/// The numbers of a term, unless they only repeat its value ("w[0,0,0,0] = 0.15", not
/// "w[0,0,0,0] = 0.15 = 0.15").
fn numbers(t: &Term) -> Option<&str> {
    (!t.numeric.is_empty() && t.numeric != short(t.value)).then_some(t.numeric.as_str())
}

/// The lines of the terms: one line per term when the note, symbols, numbers and value
/// fit side by side (in aligned columns); otherwise two lines per term, the note and the
/// symbols, then the numbers and the value indented below them. Nothing is cut: a line
/// still too long is wrapped.
fn term_lines<'a>(e: &Explanation, w: usize, theme: &Theme) -> Vec<Vec<Line<'a>>> {
    let cols =
        |f: &dyn Fn(&Term) -> usize, cap: usize| e.terms.iter().map(f).max().unwrap_or(0).min(cap);
    let note_w = cols(&|t| t.note.as_ref().map_or(0, |n| chars(n)), 26);
    let sym_w = cols(&|t| chars(&t.symbolic), 40);
    let num_w = cols(&|t| numbers(t).map_or(0, chars), 30);
    let val_w = cols(&|t| chars(&short(t.value)), 12);
    let note_col = if note_w > 0 { note_w + 1 } else { 0 };
    let num_col = if num_w > 0 { num_w + 3 } else { 0 };
    let not_counted = if e.terms.iter().all(|t| t.contributes) {
        0
    } else {
        chars("  (not counted)")
    };
    let one_line = note_col + sym_w + 1 + num_col + 2 + val_w + not_counted <= w
        && e.terms.iter().all(|t| {
            t.note.as_ref().is_none_or(|n| chars(n) <= note_w)
                && chars(&t.symbolic) <= sym_w
                && numbers(t).is_none_or(|n| chars(n) <= num_w)
        });
    let mut out = Vec::new();
    for t in &e.terms {
        let style = if t.contributes {
            Style::new()
        } else {
            theme.dim()
        };
        let value_style = if t.contributes {
            theme.title()
        } else {
            theme.dim()
        };
        let value = format!(
            "= {}{}",
            short(t.value),
            if t.contributes { "" } else { "  (not counted)" }
        );
        let note = t.note.clone().unwrap_or_default();
        if one_line {
            let mut spans = Vec::new();
            if note_w > 0 {
                spans.push(Span::styled(format!("{note:<note_w$} "), theme.dim()));
            }
            spans.push(Span::styled(format!("{:<sym_w$} ", t.symbolic), style));
            if num_w > 0 {
                let n = numbers(t).map(|n| format!("= {n}")).unwrap_or_default();
                spans.push(Span::styled(format!("{n:<w$} ", w = num_w + 2), style));
            }
            spans.push(Span::styled(value, value_style));
            out.push(vec![Line::from(spans)]);
            continue;
        }
        // Two lines: "k=0 rot180[2,2]  w[0,0,0,0] · δz[0,4,4]", then "    = 0.15 × 0.03149 = 0.004724".
        let mut first = Vec::new();
        if !note.is_empty() {
            first.push(Span::styled(
                format!("{note:<w$}  ", w = note_w.min(w / 2)),
                theme.dim(),
            ));
        }
        first.push(Span::styled(t.symbolic.clone(), style));
        let mut chunk = Vec::new();
        push_wrapped(&mut chunk, first, w, 2);
        let mut second = vec![Span::raw("    ")];
        if let Some(n) = numbers(t) {
            second.push(Span::styled(format!("= {n} "), style));
        }
        second.push(Span::styled(value, value_style));
        push_wrapped(&mut chunk, second, w, 6);
        out.push(chunk);
    }
    out
}

/// Push a line of spans, wrapped to `w` columns when it is wider: spans move whole to the
/// next line (indented by `indent`) while they fit there, and only a span wider than a
/// line is broken between words; each keeps its style.
fn push_wrapped<'a>(out: &mut Vec<Line<'a>>, spans: Vec<Span<'a>>, w: usize, indent: usize) {
    let total: usize = spans.iter().map(|s| chars(&s.content)).sum();
    if total <= w {
        out.push(Line::from(spans));
        return;
    }
    let mut line: Vec<Span<'a>> = Vec::new();
    let mut used = 0;
    let pad = " ".repeat(indent);
    for span in spans {
        let text = span.content.to_string();
        let len = chars(&text);
        if used + len <= w {
            used += len;
            line.push(Span::styled(text, span.style));
            continue;
        }
        let fresh = text.trim_start().to_string();
        if !line.is_empty() && indent + chars(&fresh) <= w {
            out.push(Line::from(std::mem::take(&mut line)));
            used = indent + chars(&fresh);
            line.push(Span::raw(pad.clone()));
            line.push(Span::styled(fresh, span.style));
            continue;
        }
        // Too long for any line: break it between words.
        for part in wrap(&fresh, w.saturating_sub(used.max(indent)).max(8)) {
            if used + chars(&part) > w && !line.is_empty() {
                out.push(Line::from(std::mem::take(&mut line)));
                line.push(Span::raw(pad.clone()));
                used = indent;
            }
            used += chars(&part);
            line.push(Span::styled(part, span.style));
        }
    }
    if !line.is_empty() {
        out.push(Line::from(line));
    }
}

/// The derivation as (fixed head, scrolling body, fixed tail): the formula; the terms,
/// what the cell is and the notes, each a chunk of lines that scrolls as one (a term
/// may take two lines); the total, checked against the traced value, and the user's value.
pub type Parts<'a> = (Vec<Line<'a>>, Vec<Vec<Line<'a>>>, Vec<Line<'a>>);

/// Lines of the derivation: what it is, the formula, the terms, the total and notes.
pub fn lines<'a>(
    e: &Explanation,
    width: u16,
    yours: Option<&YourCell>,
    theme: &Theme,
) -> Parts<'a> {
    let w = width as usize;
    let mut head = Vec::new();
    let what = e.title.split(" — ").nth(1).unwrap_or("");
    for l in wrap(&e.formula, w) {
        head.push(Line::from(Span::styled(l, theme.title())));
    }
    let mut body = term_lines(e, w, theme);
    if !what_fits_in_title(e, width) {
        body.push(
            wrap(what, w)
                .into_iter()
                .map(|l| Line::from(Span::styled(l, theme.dim())))
                .collect(),
        );
    }
    for n in &e.notes {
        body.push(
            wrap(&format!("note: {n}"), w)
                .into_iter()
                .map(|l| Line::from(Span::styled(l, theme.dim())))
                .collect(),
        );
    }
    let mut tail = Vec::new();
    let counted = e.terms.iter().filter(|t| t.contributes).count();
    // The verdict in full when it fits on the line after `before` characters.
    let check = |total: f64, before: usize| {
        let agree = (total - e.value).abs() <= 1e-12 * e.value.abs().max(1.0)
            || (total.is_nan() && e.value.is_nan())
            || (total.is_infinite() && total == e.value);
        if agree && before + chars("  ✓ equals the traced value") > w {
            Span::styled("  ✓ as traced", theme.good())
        } else if agree {
            Span::styled("  ✓ equals the traced value", theme.good())
        } else {
            Span::styled(
                format!("  ✗ traced value is {}", exact(e.value)),
                theme.warning(),
            )
        }
    };
    if counted == 0
        && let Some(why) = &e.no_terms
    {
        push_wrapped(
            &mut tail,
            vec![
                Span::styled(why.clone(), theme.title()),
                check(0.0, chars(why)),
            ],
            w,
            2,
        );
    } else if !e.terms.is_empty() {
        let total = e.total();
        let what = match e.combine {
            Combine::Sum => format!("Σ of {counted} term{}", if counted == 1 { "" } else { "s" }),
            Combine::Max => format!("max of {} cells", e.terms.len()),
            Combine::SqrtOfSum => format!("√(Σ of {counted} terms)"),
            Combine::Value => "value".into(),
        };
        push_wrapped(
            &mut tail,
            vec![
                Span::styled(format!("{what} = {}", short(total)), theme.title()),
                check(total, chars(&format!("{what} = {}", short(total)))),
            ],
            w,
            2,
        );
    }
    if let Some(y) = yours {
        if let Some((value, differs)) = y.value {
            let v = exact(value);
            tail.push(Line::from(if !differs {
                Span::styled(
                    format!("yours = {v}  ✓ agrees with the reference"),
                    theme.good(),
                )
            } else if value == e.value {
                // A switch mask cell whose count is right but not its switches.
                Span::styled(
                    format!("yours = {v}  ✗ the same value, but a switch that points here differs"),
                    theme.warning(),
                )
            } else {
                Span::styled(
                    format!(
                        "yours = {v}  ✗ differs from the reference by {}",
                        short(value - e.value)
                    ),
                    theme.warning(),
                )
            }));
        }
        for s in &y.switches {
            push_wrapped(&mut tail, switch_line(s, theme), w, 2);
        }
        if let Some(o) = &y.origin {
            for l in wrap(o, w) {
                tail.push(Line::from(Span::styled(l, theme.warning())));
            }
        }
        if let Some(d) = &y.diagnosis {
            for l in wrap(&format!("diagnosis: {d}"), w) {
                tail.push(Line::from(Span::styled(l, theme.warning())));
            }
        }
    }
    (head, body, tail)
}

/// Draw the inspector body into `area` (inside its block), scrolling the body by `scroll`
/// chunks (a term, a note), so a term split over two lines scrolls as one.
pub fn render(
    buf: &mut Buffer,
    area: Rect,
    e: &Explanation,
    scroll: usize,
    yours: Option<&YourCell>,
    theme: &Theme,
) {
    let (head, body, tail) = lines(e, area.width, yours, theme);
    render_parts(buf, area, head, body, tail, scroll, theme);
}

/// Draw a head, a scrolling body of chunks and a tail into `area`.
pub fn render_parts(
    buf: &mut Buffer,
    area: Rect,
    head: Vec<Line<'_>>,
    body: Vec<Vec<Line<'_>>>,
    tail: Vec<Line<'_>>,
    scroll: usize,
    theme: &Theme,
) {
    let h = area.height as usize;
    let mut y = area.y;
    let bottom = area.y + area.height;
    let mut put = |line: &Line<'_>, y: &mut u16| {
        if *y < bottom {
            buf.set_line(area.x, *y, line, area.width);
            *y += 1;
        }
    };
    let body_lines: usize = body.iter().map(Vec::len).sum();
    // The head and tail stay; the body scrolls between them. On a very small pane the
    // formula gives way first, then the tail.
    let tail_h = tail.len().min(h.saturating_sub(2).max(1));
    let first_chunk = body.get(scroll).or(body.first()).map_or(0, Vec::len);
    let body_need = body_lines.min((h / 2).max(2).max(first_chunk + 1));
    let head_room = h.saturating_sub(tail_h + body_need).max(1);
    // A formula too long for the head ends in "…" there, and is given whole after the
    // terms, where J reaches it: the terms come first in a small pane.
    let mut body = body;
    if head.len() > head_room {
        for line in head.iter().take(head_room - 1) {
            put(line, &mut y);
        }
        let mut last = head[head_room - 1].clone();
        let text: String = last.spans.iter().map(|s| s.content.as_ref()).collect();
        let cut: String = text
            .chars()
            .take((area.width as usize).saturating_sub(2))
            .collect();
        let style = last.spans.first().map(|s| s.style).unwrap_or_default();
        last = Line::from(Span::styled(format!("{} …", cut.trim_end()), style));
        put(&last, &mut y);
        body.push(head.clone());
    } else {
        for line in &head {
            put(line, &mut y);
        }
    }
    let body_lines: usize = body.iter().map(Vec::len).sum();
    let room = (bottom - y) as usize - tail_h.min((bottom - y) as usize);
    // Scroll no further than needed to show the last chunk.
    let mut max_scroll = body.len();
    let mut fitted = 0;
    for (i, chunk) in body.iter().enumerate().rev() {
        if fitted + chunk.len() > room {
            break;
        }
        fitted += chunk.len();
        max_scroll = i;
    }
    let scroll = scroll.min(max_scroll);
    let mut used = 0;
    let mut shown_chunks = 0;
    let mut shown_lines = 0;
    let rest: Vec<&Vec<Line<'_>>> = body.iter().skip(scroll).collect();
    for (i, chunk) in rest.iter().enumerate() {
        let last = i + 1 == rest.len();
        // Keep a line for the "… more" hint unless this chunk is the last.
        let need = chunk.len() + usize::from(!last);
        if used + need > room {
            break;
        }
        for line in chunk.iter() {
            put(line, &mut y);
        }
        used += chunk.len();
        shown_chunks += 1;
        shown_lines += chunk.len();
    }
    let above: usize = body.iter().take(scroll).map(Vec::len).sum();
    let below = body_lines - above - shown_lines;
    if scroll + shown_chunks < body.len() && used < room {
        if shown_chunks == 0 {
            // Not even one chunk fits: show what does of the first.
            for line in rest[0].iter().take(room - used - 1) {
                put(line, &mut y);
            }
        }
        put(
            &Line::from(Span::styled(
                format!(
                    "… {below} more line{} (J/K or PgDn/PgUp scroll){}",
                    if below == 1 { "" } else { "s" },
                    if above > 0 {
                        format!(", {above} above")
                    } else {
                        String::new()
                    }
                ),
                theme.dim(),
            )),
            &mut y,
        );
    }
    for line in tail.iter().take(tail_h) {
        put(line, &mut y);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::ColorMode;
    use crate::diff::compare::SwitchPair;
    use crate::engine::TensorName;
    use crate::explain::CellRef;
    use crate::timeline::Node;

    fn text(lines: &[Line<'_>]) -> Vec<String> {
        lines
            .iter()
            .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
            .collect()
    }

    /// Window (1,1) of channel 0 in a 6×6 plane, whose reference switch is 20 = [3,2].
    fn switch(yours: f64, cell: Option<[usize; 2]>, in_window: bool) -> YourSwitch {
        YourSwitch {
            pair: SwitchPair {
                channel: 0,
                window: [1, 1],
                reference: 20,
                yours,
            },
            plane: [6, 6],
            reference: [3, 2],
            yours: cell,
            in_window,
        }
    }

    #[test]
    fn a_users_switch_is_decoded_beside_the_references() {
        let theme = Theme::new(ColorMode::TrueColor);
        let line = |s: YourSwitch| {
            let spans = switch_line(&s, &theme);
            let style = spans[0].style;
            (text(&[Line::from(spans)]).remove(0), style)
        };
        assert_eq!(
            line(switch(14.0, Some([2, 2]), true)),
            (
                "your switch of window (1,1): x[0,2,2] (flat 14)  ✗ the reference's is x[0,3,2] (flat 20)"
                    .into(),
                theme.warning()
            )
        );
        assert_eq!(
            line(switch(3.0, Some([0, 3]), false)).0,
            "your switch of window (1,1): x[0,0,3] (flat 3), outside the window  ✗ the reference's is x[0,3,2] (flat 20)"
        );
        assert_eq!(
            line(switch(36.0, None, false)).0,
            "your switch of window (1,1): 36, which names no cell of the 6×6 plane  ✗ the reference's is x[0,3,2] (flat 20)"
        );
        assert_eq!(
            line(switch(20.0, Some([3, 2]), true)),
            (
                "your switch of window (1,1): x[0,3,2]  ✓ the reference's".into(),
                theme.good()
            )
        );
    }

    fn explanation(value: f64) -> Explanation {
        Explanation {
            cell: CellRef::new(Node::Layer(1), TensorName::Mask, &[0, 2, 2]),
            value,
            title: "pool1.switch[0,2,2]".into(),
            formula: "switch[c,y,x] = the number of windows whose maximum is this cell".into(),
            combine: Combine::Sum,
            terms: Vec::new(),
            notes: Vec::new(),
            no_terms: None,
        }
    }

    #[test]
    fn the_users_value_comes_before_their_switches_where_the_mistake_is_and_the_diagnosis() {
        let theme = Theme::new(ColorMode::TrueColor);
        let tail = |e: &Explanation, y: &YourCell| text(&lines(e, 120, Some(y), &theme).2);
        let moved = YourCell {
            value: Some((1.0, true)),
            origin: Some("mistake: step 0, pool1's forward pass".into()),
            diagnosis: Some("the last maximum wins ties".into()),
            switches: vec![switch(14.0, Some([2, 2]), true)],
        };
        assert_eq!(
            tail(&explanation(0.0), &moved),
            vec![
                "yours = 1  ✗ differs from the reference by 1",
                "your switch of window (1,1): x[0,2,2] (flat 14)  ✗ the reference's is x[0,3,2] (flat 20)",
                "mistake: step 0, pool1's forward pass",
                "diagnosis: the last maximum wins ties",
            ]
        );
        // The same count from other switches: no "differs by 0".
        let swapped = YourCell {
            origin: None,
            value: Some((1.0, true)),
            diagnosis: None,
            switches: vec![switch(14.0, Some([2, 2]), true)],
        };
        assert_eq!(
            tail(&explanation(1.0), &swapped)[0],
            "yours = 1  ✗ the same value, but a switch that points here differs"
        );
        // A cell whose tensor they did not give: their switch alone.
        let switch_only = YourCell {
            origin: None,
            value: None,
            diagnosis: None,
            switches: vec![switch(20.0, Some([3, 2]), true)],
        };
        assert_eq!(
            tail(&explanation(1.0), &switch_only),
            vec!["your switch of window (1,1): x[0,3,2]  ✓ the reference's"]
        );
        let agrees = YourCell {
            origin: None,
            value: Some((1.0, false)),
            diagnosis: None,
            switches: Vec::new(),
        };
        assert_eq!(
            tail(&explanation(1.0), &agrees),
            vec!["yours = 1  ✓ agrees with the reference"]
        );
        // Narrow: a switch line wraps, nothing is cut.
        let narrow = text(&lines(&explanation(0.0), 50, Some(&moved), &theme).2).join(" ");
        assert!(narrow.contains("x[0,2,2] (flat 14)"), "{narrow}");
        assert!(narrow.contains("x[0,3,2] (flat 20)"), "{narrow}");
    }
}
