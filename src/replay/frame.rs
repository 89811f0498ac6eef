//! A rendered frame as text: plain, with ANSI colours, or for snapshot tests as the text
//! with its styles in layers aligned under it (a plain-text snapshot cannot see a
//! heatmap's colours).

use std::collections::BTreeMap;
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

/// The cells of each row, one per column: a column hidden under a wide glyph repeats the
/// glyph's cell (the terminal draws the glyph over both columns in the glyph's style).
fn columns(buffer: &Buffer) -> Vec<Vec<&Cell>> {
    buffer
        .content
        .chunks(buffer.area.width.max(1) as usize)
        .map(|cells| {
            let mut shown = Vec::with_capacity(cells.len());
            let mut skip = 0usize;
            let mut glyph = None;
            for cell in cells {
                if skip == 0 {
                    glyph = Some(cell);
                }
                shown.push(glyph.unwrap_or(cell));
                skip = skip
                    .max(ratatui::text::Span::raw(cell.symbol()).width())
                    .saturating_sub(1);
            }
            shown
        })
        .collect()
}

/// A total order on colours (ratatui's `Color` has none): Reset, the 16 named colours in
/// ANSI order, the xterm-256 indices, then RGB.
fn color_key(color: Color) -> (u8, u32) {
    const NAMED: [Color; 16] = [
        Color::Black,
        Color::Red,
        Color::Green,
        Color::Yellow,
        Color::Blue,
        Color::Magenta,
        Color::Cyan,
        Color::Gray,
        Color::DarkGray,
        Color::LightRed,
        Color::LightGreen,
        Color::LightYellow,
        Color::LightBlue,
        Color::LightMagenta,
        Color::LightCyan,
        Color::White,
    ];
    match color {
        Color::Reset => (0, 0),
        Color::Indexed(i) => (2, u32::from(i)),
        Color::Rgb(r, g, b) => (3, u32::from_be_bytes([0, r, g, b])),
        named => (
            1,
            NAMED.iter().position(|&c| c == named).unwrap_or(0) as u32,
        ),
    }
}

/// Symbols past a layer's own alphabet: never ASCII letters or digits, never `·`, all one
/// column wide, as many as needed.
fn overflow_symbols() -> impl Iterator<Item = char> {
    "!$%&+=?@^~<>".chars().chain(
        ('\u{3b1}'..='\u{3c9}')
            .chain('\u{391}'..='\u{3a9}')
            .chain('\u{100}'..)
            .filter(|c| {
                c.is_alphabetic()
                    && !matches!(c, '\u{3a2}' | '\u{3c2}')
                    && ratatui::text::Span::raw(c.to_string()).width() == 1
            }),
    )
}

/// The ink of a cell: its foreground and modifiers.
type Ink = (Color, Modifier);

/// One symbol per ink. The family shows the modifiers at a glance: digits for REVERSED
/// (a selection), capitals for BOLD, small letters otherwise. Within a family a colour
/// takes its own letter when it is free (`c` Cyan, `C` Cyan bold, `d` DarkGray, `t` the
/// terminal's default colour); the rest take the first free symbol, in the order of
/// (family, fg, modifiers), so that the symbols depend only on which inks the frame
/// holds, not on where they are.
fn ink_symbols(inks: impl Iterator<Item = Ink>) -> Vec<(Ink, char)> {
    const DEFAULT: Ink = (Color::Reset, Modifier::empty());
    let family = |m: Modifier| {
        if m.contains(Modifier::REVERSED) {
            2
        } else if m.contains(Modifier::BOLD) {
            1
        } else {
            0
        }
    };
    let letter = |fg: Color| match fg {
        Color::Reset => Some('t'),
        Color::Black => Some('k'),
        Color::Red => Some('r'),
        Color::Green => Some('g'),
        Color::Yellow => Some('y'),
        Color::Blue => Some('b'),
        Color::Magenta => Some('m'),
        Color::Cyan => Some('c'),
        Color::Gray => Some('e'),
        Color::DarkGray => Some('d'),
        Color::LightRed => Some('l'),
        Color::White => Some('w'),
        _ => None,
    };
    let mut inks: Vec<Ink> = inks.filter(|&i| i != DEFAULT).collect();
    inks.sort_by_key(|&(fg, m)| (family(m), color_key(fg), m.bits()));
    inks.dedup();
    let alphabets = [
        ('a'..='z').collect::<Vec<_>>(),
        ('A'..='Z').collect(),
        ('1'..='9').chain(['0']).collect(),
    ];
    let mut taken = std::collections::BTreeSet::new();
    let mut overflow = overflow_symbols();
    let mut symbols = Vec::with_capacity(inks.len());
    for (fg, m) in inks {
        let f = family(m);
        let own = letter(fg)
            .filter(|_| f < 2)
            .map(|c| if f == 1 { c.to_ascii_uppercase() } else { c });
        let symbol = own
            .filter(|c| !taken.contains(c))
            .or_else(|| alphabets[f].iter().copied().find(|c| !taken.contains(c)))
            .unwrap_or_else(|| overflow.find(|c| !taken.contains(c)).expect("endless"));
        taken.insert(symbol);
        symbols.push(((fg, m), symbol));
    }
    symbols.sort_by_key(|&((_, m), s)| (family(m), !s.is_ascii(), s));
    symbols
}

/// The symbol of a background in the paper layer. RGB colours (the heatmaps) fall into
/// fixed bins by their distance from grey: `·` for greys (chroma < 16, a heatmap's zero),
/// then 26 steps up to chroma 165 (a heatmap's full scale), capitals on the red side (r >
/// b), small letters on the blue side. So the layer reads like the heatmap itself, and a
/// symbol means the same in every snapshot.
fn paper_bin(color: Color) -> Option<char> {
    let Color::Rgb(r, g, b) = color else {
        return None;
    };
    let chroma = r.max(g).max(b) - r.min(g).min(b);
    if chroma < 16 {
        return Some('·');
    }
    let step = ((u32::from(chroma) - 16) * 26 / (165 - 16)).min(25) as u8;
    Some(if r > b { b'A' + step } else { b'a' + step } as char)
}

/// Where the bins sit in the paper legend: strongest blue first, grey, strongest red last.
fn bin_order(bin: char) -> i32 {
    match bin {
        '·' => 0,
        'a'..='z' => -1 - (bin as i32 - 'a' as i32),
        _ => 1 + (bin as i32 - 'A' as i32),
    }
}

fn hex(color: Color) -> String {
    match color {
        Color::Rgb(r, g, b) => format!("#{r:02x}{g:02x}{b:02x}"),
        other => format!("{other:?}"),
    }
}

/// The text of the frame, then its styles as two layers of one symbol per column, aligned
/// with the text, and a legend for each:
///
/// - **ink** (fg and modifiers): digits for REVERSED, capitals for BOLD, small letters for
///   the rest, a colour's own letter where free (see [`ink_symbols`]);
/// - **paper** (bg): the heatmaps' RGB colours binned by strength and side (`·` grey,
///   `A`–`Z` red, `a`–`z` blue, see [`paper_bin`]), other colours a symbol each. The legend
///   gives each bin's exact colours and, when it holds several, the colour of each of its
///   cells in reading order (`cells 1122 21`: one digit per column, a space between
///   stretches), so that any change of any colour changes the listing.
///
/// The default style is blank and trailing blanks are trimmed, so an unstyled area
/// vanishes. The symbols depend on which styles the frame holds, not on where they are,
/// so a moved highlight changes the ink layer in exactly its cells. Made for snapshot
/// tests, where a reviewer reads it; no command prints it.
pub fn to_styled_listing(buffer: &Buffer) -> String {
    let grid = columns(buffer);
    let cells = || grid.iter().flatten();
    let mut out = to_text(buffer);

    let inks = ink_symbols(cells().map(|c| (c.fg, c.modifier)));
    let ink_of = |c: &Cell| {
        inks.iter()
            .find(|&&(ink, _)| ink == (c.fg, c.modifier))
            .map_or(' ', |&(_, s)| s)
    };
    out.push_str(
        "--- ink: fg and modifiers, a symbol per column (blank: default; legend below) ---\n",
    );
    for row in &grid {
        let line: String = row.iter().map(|c| ink_of(c)).collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }

    let mut others: Vec<Color> = cells()
        .map(|c| c.bg)
        .filter(|&bg| bg != Color::Reset && paper_bin(bg).is_none())
        .collect();
    others.sort_by_key(|&c| color_key(c));
    others.dedup();
    let mut pool = "#%&*+=@$^~".chars().chain(overflow_symbols().skip(12));
    let others: Vec<(Color, char)> = others
        .into_iter()
        .map(|c| (c, pool.next().expect("endless")))
        .collect();
    let paper_of = |bg: Color| {
        if bg == Color::Reset {
            ' '
        } else {
            paper_bin(bg).unwrap_or_else(|| {
                others
                    .iter()
                    .find(|&&(c, _)| c == bg)
                    .map(|&(_, s)| s)
                    .expect("every background has a symbol")
            })
        }
    };
    let papers: Vec<String> = grid
        .iter()
        .map(|row| row.iter().map(|c| paper_of(c.bg)).collect::<String>())
        .collect();
    let no_paper = cells().all(|c| c.bg == Color::Reset);
    if no_paper {
        out.push_str("--- paper: the default background everywhere ---\n");
    } else {
        out.push_str(
            "--- paper: bg, a symbol per column (blank: default; · grey, A–Z red, a–z blue \
             by strength; legend below) ---\n",
        );
        for line in &papers {
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }

    out.push_str("--- ink legend ---\n");
    for ((fg, m), s) in &inks {
        let _ = write!(out, "{s}  fg={fg:?}");
        if !m.is_empty() {
            let _ = write!(out, " {m:?}");
        }
        out.push('\n');
    }
    if no_paper {
        return out;
    }
    out.push_str("--- paper legend (bins: exact colours; cells: each column's colour, in reading order) ---\n");
    for (c, s) in &others {
        let _ = writeln!(out, "{s}  {}", hex(*c));
    }
    // Each bin's colours, then the columns of each bin in reading order, one stretch of
    // the bin (a run of its symbol in a row) at a time.
    type Stretch = Vec<Color>;
    let mut bins: BTreeMap<(i32, char), (Vec<Color>, Vec<Stretch>)> = BTreeMap::new();
    for row in &grid {
        let mut last = None;
        for cell in row {
            let bin = paper_bin(cell.bg);
            if let Some(bin) = bin {
                let (colours, stretches) = bins.entry((bin_order(bin), bin)).or_default();
                colours.push(cell.bg);
                if last != Some(bin) {
                    stretches.push(Vec::new());
                }
                stretches.last_mut().expect("pushed").push(cell.bg);
            }
            last = bin;
        }
    }
    for ((_, bin), (mut colours, stretches)) in bins {
        colours.sort_by_key(|&c| color_key(c));
        colours.dedup();
        let _ = write!(out, "{bin}  ");
        if let [only] = colours[..] {
            let _ = writeln!(out, "{}", hex(only));
            continue;
        }
        let index: Vec<char> = ('1'..='9')
            .chain('a'..='z')
            .chain('A'..='Z')
            .chain(overflow_symbols())
            .take(colours.len())
            .collect();
        for (c, i) in colours.iter().zip(&index) {
            let _ = write!(out, "{i}={} ", hex(*c));
        }
        out.push_str(" cells");
        for stretch in stretches {
            out.push(' ');
            out.extend(stretch.iter().map(|&bg| {
                let at = colours.binary_search_by_key(&color_key(bg), |&c| color_key(c));
                index[at.expect("a colour of this bin")]
            }));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::ColorMode;
    use crate::ui::theme::Theme;
    use ratatui::layout::Rect;
    use ratatui::style::Style;

    /// The lines of one section of a listing, from its `--- name` line to the next `---`.
    fn section<'a>(listing: &'a str, name: &str) -> Vec<&'a str> {
        listing
            .lines()
            .skip_while(|l| !l.starts_with(&format!("--- {name}")))
            .skip(1)
            .take_while(|l| !l.starts_with("--- "))
            .collect()
    }

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
        buffer.set_string(4, 0, "d", Style::default().add_modifier(Modifier::REVERSED));
        assert_eq!(to_text(&buffer), "abc d\n\n");
        assert_eq!(
            to_ansi(&buffer).lines().next().unwrap(),
            "\x1b[0;1;31mab\x1b[0;48;2;1;2;3mc\x1b[0m \x1b[0;7md\x1b[0m \x1b[0m"
        );
        assert_eq!(
            to_styled_listing(&buffer),
            "abc d\n\
             \n\
             --- ink: fg and modifiers, a symbol per column (blank: default; legend below) ---\n\
             RR  1\n\
             \n\
             --- paper: bg, a symbol per column (blank: default; · grey, A–Z red, a–z blue \
             by strength; legend below) ---\n  \
             ·\n\
             \n\
             --- ink legend ---\n\
             R  fg=Red BOLD\n\
             1  fg=Reset REVERSED\n\
             --- paper legend (bins: exact colours; cells: each column's colour, in reading \
             order) ---\n\
             ·  #010203\n"
        );
    }

    #[test]
    fn wide_glyphs_hide_the_cell_after_them() {
        let mut buffer = Buffer::empty(Rect::new(0, 0, 4, 1));
        buffer.set_string(0, 0, "界x", Style::default().fg(Color::Cyan));
        assert_eq!(to_text(&buffer), "界x\n");
        // The glyph's style covers both of its columns, so the layer stays aligned.
        assert_eq!(section(&to_styled_listing(&buffer), "ink:"), ["ccc"]);
    }

    #[test]
    fn the_paper_bins_follow_the_heatmap_scale() {
        let theme = Theme::new(ColorMode::TrueColor);
        let bin = |v: f64| paper_bin(theme.heat(v, 1.0).style.bg.unwrap()).unwrap();
        assert_eq!(bin(0.0), '·', "zero is grey");
        assert_eq!(
            bin(1.0),
            'Z',
            "the largest positive value is the strongest red"
        );
        assert_eq!(
            bin(-1.0),
            'z',
            "the largest negative value is the strongest blue"
        );
        // Stronger values never fall into a weaker bin, on either side.
        let mut last = (0, 0);
        for i in 1..=200 {
            let v = f64::from(i) / 200.0;
            let step = (bin_order(bin(v)), -bin_order(bin(-v)));
            assert!(
                step.0 >= last.0 && step.1 >= last.1,
                "{v}: {step:?} after {last:?}"
            );
            last = step;
        }
    }

    /// A frame with many inks and papers: the theme's scale at 80 levels on each side,
    /// a named background, and inks in every family.
    fn busy_buffer() -> Buffer {
        let theme = Theme::new(ColorMode::TrueColor);
        let mut buffer = Buffer::empty(Rect::new(0, 0, 30, 8));
        let fgs = [Color::Reset, Color::Cyan, Color::DarkGray, Color::Yellow];
        let mods = [
            Modifier::empty(),
            Modifier::BOLD,
            Modifier::REVERSED,
            Modifier::BOLD | Modifier::UNDERLINED,
            Modifier::DIM,
        ];
        for (i, cell) in buffer.content.iter_mut().enumerate() {
            cell.set_symbol(&((i % 10).to_string()));
            let v = (i as f64 / 80.0) - 1.5;
            cell.bg = match i % 7 {
                0 => Color::Reset,
                1 => Color::Cyan,
                _ => theme.heat(v.clamp(-1.0, 1.0), 1.0).style.bg.unwrap(),
            };
            cell.fg = fgs[i % fgs.len()];
            cell.modifier = mods[(i / 3) % mods.len()];
        }
        buffer
    }

    #[test]
    fn any_change_of_any_cell_changes_the_listing() {
        let buffer = busy_buffer();
        let listing = to_styled_listing(&buffer);
        let changes: [fn(&mut Cell); 5] = [
            |c| c.fg = Color::Magenta,
            |c| c.modifier ^= Modifier::ITALIC,
            |c| c.bg = Color::Rgb(200, 1, 2),
            |c| {
                c.bg = match c.bg {
                    Color::Rgb(r, g, b) => Color::Rgb(r ^ 1, g, b),
                    _ => Color::Rgb(62, 62, 72),
                }
            },
            |c| c.bg = Color::Reset,
        ];
        for i in 0..buffer.content.len() {
            for change in changes {
                let mut changed = buffer.clone();
                change(&mut changed.content[i]);
                if changed.content[i] != buffer.content[i] {
                    assert_ne!(to_styled_listing(&changed), listing, "cell {i}");
                }
            }
        }
        // Two cells of one bin that swap their exact colours.
        let (i, j) = (0..buffer.content.len())
            .flat_map(|i| (0..buffer.content.len()).map(move |j| (i, j)))
            .find(|&(i, j)| {
                let (a, b) = (buffer.content[i].bg, buffer.content[j].bg);
                a != b && paper_bin(a).is_some() && paper_bin(a) == paper_bin(b)
            })
            .expect("a bin with two colours");
        let mut swapped = buffer.clone();
        swapped.content[i].bg = buffer.content[j].bg;
        swapped.content[j].bg = buffer.content[i].bg;
        assert_eq!(
            section(&to_styled_listing(&swapped), "paper:"),
            section(&listing, "paper:")
        );
        assert_ne!(to_styled_listing(&swapped), listing);
    }

    #[test]
    fn past_an_alphabet_symbols_stay_distinct_and_one_column_wide() {
        let mut buffer = Buffer::empty(Rect::new(0, 0, 100, 2));
        for (i, cell) in buffer.content.iter_mut().enumerate() {
            // 100 inks in the small-letter family, 100 named and indexed backgrounds.
            cell.fg = Color::Indexed((i % 100) as u8);
            cell.bg = Color::Indexed((i % 100) as u8 + 100);
        }
        let listing = to_styled_listing(&buffer);
        for name in ["ink:", "paper:"] {
            let layer = section(&listing, name);
            assert_eq!(layer.len(), 2);
            for row in layer {
                assert_eq!(ratatui::text::Span::raw(row).width(), 100, "{row}");
                let mut seen: Vec<char> = row.chars().collect();
                seen.sort();
                seen.dedup();
                assert_eq!(seen.len(), 100, "{name} {row}");
            }
        }
        assert_eq!(section(&listing, "ink legend").len(), 100);
        assert_eq!(section(&listing, "paper legend").len(), 100);
    }

    #[test]
    fn a_moved_highlight_changes_the_ink_layer_in_exactly_its_cells() {
        let buffer = busy_buffer();
        let mut before = buffer.clone();
        let mut after = buffer.clone();
        let highlight = |c: &mut Cell| {
            c.fg = Color::Yellow;
            c.modifier = Modifier::BOLD | Modifier::UNDERLINED;
        };
        // The highlight moves from (5, 3) to (6, 4): the paper under it stays.
        highlight(&mut before[(5, 3)]);
        highlight(&mut after[(6, 4)]);
        let (before, after) = (to_styled_listing(&before), to_styled_listing(&after));
        let changed: Vec<(usize, usize)> = before
            .lines()
            .zip(after.lines())
            .enumerate()
            .flat_map(|(y, (a, b))| {
                let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
                (0..a.len().max(b.len()))
                    .filter(move |&x| a.get(x) != b.get(x))
                    .map(move |x| (y, x))
            })
            .collect();
        let ink_top = before
            .lines()
            .position(|l| l.starts_with("--- ink:"))
            .unwrap()
            + 1;
        assert_eq!(before.lines().count(), after.lines().count());
        assert_eq!(
            changed,
            [(ink_top + 3, 5), (ink_top + 4, 6)],
            "{before}\n{after}"
        );
    }
}
