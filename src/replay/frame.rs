//! A rendered frame as text: plain, with ANSI colours, or as a style-aware listing for
//! snapshot tests (a plain-text snapshot cannot see a heatmap's colours).

use std::fmt::Write;

use ratatui::buffer::{Buffer, Cell};
use ratatui::style::{Color, Modifier};

/// The visible cells of each row, skipping the cells hidden under wide glyphs.
fn rows(buffer: &Buffer) -> impl Iterator<Item = Vec<&Cell>> {
    buffer
        .content
        .chunks(buffer.area.width.max(1) as usize)
        .map(|cells| {
            let mut skip = 0usize;
            let mut visible = Vec::with_capacity(cells.len());
            for cell in cells {
                if skip == 0 {
                    visible.push(cell);
                }
                skip = skip
                    .max(ratatui::text::Span::raw(cell.symbol()).width())
                    .saturating_sub(1);
            }
            visible
        })
}

/// The frame's characters, one line per row, trailing spaces removed.
pub fn to_text(buffer: &Buffer) -> String {
    let mut out = String::new();
    for row in rows(buffer) {
        let line: String = row.iter().map(|c| c.symbol()).collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The frame with SGR escapes for colours and modifiers, for `cat` or `less -R`.
pub fn to_ansi(buffer: &Buffer) -> String {
    let mut out = String::new();
    for row in rows(buffer) {
        let mut current: Option<(Color, Color, Modifier)> = None;
        for cell in row {
            let style = (cell.fg, cell.bg, cell.modifier);
            if current != Some(style) {
                out.push_str("\x1b[0");
                for code in sgr(style) {
                    let _ = write!(out, ";{code}");
                }
                out.push('m');
                current = Some(style);
            }
            out.push_str(cell.symbol());
        }
        out.push_str("\x1b[0m\n");
    }
    out
}

fn sgr((fg, bg, modifier): (Color, Color, Modifier)) -> Vec<String> {
    const MODIFIERS: [(Modifier, u8); 9] = [
        (Modifier::BOLD, 1),
        (Modifier::DIM, 2),
        (Modifier::ITALIC, 3),
        (Modifier::UNDERLINED, 4),
        (Modifier::SLOW_BLINK, 5),
        (Modifier::RAPID_BLINK, 6),
        (Modifier::REVERSED, 7),
        (Modifier::HIDDEN, 8),
        (Modifier::CROSSED_OUT, 9),
    ];
    let mut codes: Vec<String> = MODIFIERS
        .iter()
        .filter(|(m, _)| modifier.contains(*m))
        .map(|(_, c)| c.to_string())
        .collect();
    codes.extend(color_code(fg, false));
    codes.extend(color_code(bg, true));
    codes
}

fn color_code(color: Color, background: bool) -> Option<String> {
    let base = if background { 40 } else { 30 };
    let basic = |n: u8| Some((base + n).to_string());
    let bright = |n: u8| Some((base + 60 + n).to_string());
    let extended = if background { 48 } else { 38 };
    match color {
        Color::Reset => None,
        Color::Black => basic(0),
        Color::Red => basic(1),
        Color::Green => basic(2),
        Color::Yellow => basic(3),
        Color::Blue => basic(4),
        Color::Magenta => basic(5),
        Color::Cyan => basic(6),
        Color::Gray => basic(7),
        Color::DarkGray => bright(0),
        Color::LightRed => bright(1),
        Color::LightGreen => bright(2),
        Color::LightYellow => bright(3),
        Color::LightBlue => bright(4),
        Color::LightMagenta => bright(5),
        Color::LightCyan => bright(6),
        Color::White => bright(7),
        Color::Indexed(i) => Some(format!("{extended};5;{i}")),
        Color::Rgb(r, g, b) => Some(format!("{extended};2;{r};{g};{b}")),
    }
}

/// The text of the frame, then every run of cells that share a style, row by row:
/// `3: 10..14 fg=Rgb(215, 48, 39) bg=Reset BOLD`. Any change of colour changes this.
pub fn to_styled_listing(buffer: &Buffer) -> String {
    let mut out = to_text(buffer);
    out.push_str("--- styles (row: columns fg bg modifiers; default runs omitted) ---\n");
    for (y, row) in rows(buffer).enumerate() {
        let mut start = 0;
        for x in 1..=row.len() {
            let same = x < row.len()
                && (row[x].fg, row[x].bg, row[x].modifier)
                    == (row[start].fg, row[start].bg, row[start].modifier);
            if same {
                continue;
            }
            let c = row[start];
            if (c.fg, c.bg, c.modifier) != (Color::Reset, Color::Reset, Modifier::empty()) {
                let _ = writeln!(
                    out,
                    "{y}: {start}..{x} fg={:?} bg={:?} {:?}",
                    c.fg, c.bg, c.modifier
                );
            }
            start = x;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::layout::Rect;
    use ratatui::style::Style;

    #[test]
    fn text_ansi_and_listing_show_what_was_drawn() {
        let mut buffer = Buffer::empty(Rect::new(0, 0, 6, 2));
        buffer.set_string(
            0,
            0,
            "ab",
            Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
        );
        buffer.set_string(2, 0, "c", Style::default().bg(Color::Rgb(1, 2, 3)));
        assert_eq!(to_text(&buffer), "abc\n\n");
        assert_eq!(
            to_ansi(&buffer).lines().next().unwrap(),
            "\x1b[0;1;31mab\x1b[0;48;2;1;2;3mc\x1b[0m   \x1b[0m"
        );
        let listing = to_styled_listing(&buffer);
        assert!(
            listing.contains("0: 0..2 fg=Red bg=Reset BOLD"),
            "{listing}"
        );
        assert!(
            listing.contains("0: 2..3 fg=Reset bg=Rgb(1, 2, 3) NONE"),
            "{listing}"
        );
    }

    #[test]
    fn wide_glyphs_hide_the_cell_after_them() {
        let mut buffer = Buffer::empty(Rect::new(0, 0, 4, 1));
        buffer.set_string(0, 0, "界x", Style::default());
        assert_eq!(to_text(&buffer), "界x\n");
    }
}
