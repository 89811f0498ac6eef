//! A heatmap widget: one terminal cell group per value on a diverging scale centred on
//! zero (scaled by max |v| of the tensor), the number printed inside when the cell is wide
//! enough, and glyph shading plus a sign when there is no colour. Contributing cells are
//! highlighted, the cursor cell is reversed.

use std::collections::HashSet;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::widgets::Widget;

use super::theme::{GLYPHS, Heat, Theme};

/// One-column cells without colour: negative values by magnitude (shades are positive).
pub const NEGATIVE_GLYPHS: [char; 4] = ['-', '=', '≡', '■'];
use crate::app::maps::MapTensor;

/// Cell width from which a number is printed inside the cell: 5 characters and a space,
/// or without colour 5 characters, a shade and a space. Tensors with numbers that need
/// more than 5 characters (e.g. -4e193) get wider cells: see `number_cell_width`.
pub const NUMBER_WIDTH: u16 = 6;

pub fn number_width(mono: bool) -> u16 {
    if mono { NUMBER_WIDTH + 1 } else { NUMBER_WIDTH }
}

/// How the numbers of one tensor are printed in its cells: in `chars` characters, and
/// for all of them alike with or without the leading zero of |v| < 1 (".058", "-.23"
/// side by side rather than "-.058" beside "-0.23").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NumberFormat {
    pub chars: usize,
    pub strip_zero: bool,
}

/// The number format of a tensor: 5 characters unless some value cannot be written in 5
/// (at most 7: "-1e-300"); the leading zero dropped for all if some value needs it gone.
pub fn number_format(tensor: &MapTensor<'_>) -> NumberFormat {
    let &(chars, strip_zero) = tensor.memo.number_format.get_or_init(|| {
        let f = compute_number_format(tensor);
        (f.chars, f.strip_zero)
    });
    NumberFormat { chars, strip_zero }
}

fn compute_number_format(tensor: &MapTensor<'_>) -> NumberFormat {
    tensor.with_values(|values| {
        // "{:.0e}" is longer than 5 characters only for exponents ≤ -10 or ≥ 100, and
        // among such values of one sign the longest is the smallest or the largest |v|:
        // only those four are formatted. (min |v|, max |v|) of the positive such values,
        // then of the negative ones (most tensors have none: one well-predicted test).
        let mut extremes = [f64::INFINITY, 0.0, f64::INFINITY, 0.0];
        for &v in values {
            let a = v.abs();
            if (a < 1e-9 && a != 0.0) || (a >= 1e99 && a.is_finite()) {
                let e = if v > 0.0 { 0 } else { 2 };
                extremes[e] = extremes[e].min(a);
                extremes[e + 1] = extremes[e + 1].max(a);
            }
        }
        let chars = [extremes[0], extremes[1], -extremes[2], -extremes[3]]
            .into_iter()
            .filter(|v| v.is_finite() && *v != 0.0)
            .map(|v| format!("{v:.0e}").chars().count())
            .filter(|&n| n > 5)
            .max()
            .unwrap_or(5)
            .min(7);
        // Whether dropping the leading zero of "0.xyz" makes some value markedly more
        // precise, judged by arithmetic on the rounding rather than by formatting each value.
        let rounding_error = |v: f64, decimals: i32| {
            let scale = 10f64.powi(decimals);
            ((v * scale).round() / scale - v).abs() / v.abs()
        };
        let kept_decimals = |v: f64| chars as i32 - 2 - i32::from(v < 0.0);
        // Rounding to d decimals is off by at most 0.5·10^-d, more than 1 % of |v| only
        // below 50·10^-d: larger values are not looked at.
        let below = [1.0, -1.0].map(|sign| 50.0 * 10f64.powi(-kept_decimals(sign)));
        let small = |v: f64| v.abs() < below[usize::from(v < 0.0)];
        // NaN and ±inf are not small; neither is 0, whose rounding is exact.
        let strip_zero = values.iter().any(|&v| {
            v != 0.0 && small(v) && {
                let kept = rounding_error(v, kept_decimals(v));
                kept > 0.01 && rounding_error(v, kept_decimals(v) + 1) < kept
            }
        });
        NumberFormat { chars, strip_zero }
    })
}

/// The width of a number cell of this tensor.
pub fn number_cell_width(tensor: &MapTensor<'_>, mono: bool) -> u16 {
    number_format(tensor).chars as u16 + 1 + u16::from(mono)
}

fn error(s: &str, v: f64) -> f64 {
    match s.parse::<f64>() {
        Ok(p) if p != 0.0 => ((p - v) / v).abs(),
        _ => f64::INFINITY,
    }
}

/// The most precise fixed form of v in `width` characters ("-.026" with `strip`).
fn fixed(v: f64, width: usize, strip: bool) -> String {
    // The length grows with the decimals, so the most decimals that fit are found counting
    // down; the count starts one above what the sign, the integer digits and the point
    // leave (log10 can be one off next to powers of ten), not at `width`.
    let integer_digits = if v.abs() < 1.0 {
        usize::from(!strip)
    } else {
        v.abs().log10().floor() as usize + 1
    };
    let most = (width + 1)
        .saturating_sub(usize::from(v < 0.0) + integer_digits + 1)
        .min(width);
    (0..=most)
        .rev()
        .find_map(|decimals| {
            let s = format!("{v:.decimals$}");
            let s = if strip && v.abs() < 1.0 {
                s.replacen("0.", ".", 1)
            } else {
                s
            };
            (s.chars().count() <= width).then_some(s)
        })
        .unwrap_or_default()
}

/// max |v| over the finite values of a tensor (the scale of its colours).
pub fn scale(tensor: &MapTensor<'_>) -> f64 {
    range(tensor).map_or(0.0, |(lo, hi)| lo.abs().max(hi.abs()))
}

/// (min, max) over the finite values, or None if there are none.
pub fn range(tensor: &MapTensor<'_>) -> Option<(f64, f64)> {
    *tensor.memo.range.get_or_init(|| {
        tensor.with_values(|values| {
            let mut it = values.iter().copied().filter(|v| v.is_finite());
            let first = it.next()?;
            Some(it.fold((first, first), |(lo, hi), v| (lo.min(v), hi.max(v))))
        })
    })
}

/// The legend of a tensor: "min…max" to two significant digits, "= 0.25" when every
/// cell is the same, "all NaN/inf (!)" when no value is finite.
pub fn legend<'t>(tensor: &'t MapTensor<'_>) -> &'t str {
    tensor.memo.legend.get_or_init(|| match range(tensor) {
        Some((lo, hi)) if lo == hi => format!("= {}", compact(lo)),
        Some((lo, hi)) => format!("{}…{}", two_digits(lo), two_digits(hi)),
        None => "all NaN/inf (!)".into(),
    })
}

/// Two significant digits: "-0.047", "2.1", "4.3e129".
pub fn two_digits(v: f64) -> String {
    significant(v, 2)
}

/// Three significant digits, short: "-0.746", "2.09", "1.2e-5", "4.3e129".
pub fn compact(v: f64) -> String {
    significant(v, 3)
}

/// `digits` significant digits for 1e-3 ≤ |v| < 1e4 (trailing zeros dropped), otherwise
/// two in scientific form.
fn significant(v: f64, digits: i32) -> String {
    if v == 0.0 || !v.is_finite() {
        return fit_number(v, 6);
    }
    let a = v.abs();
    if (1e-3..1e4).contains(&a) {
        let decimals = (digits - 1 - a.log10().floor() as i32).clamp(0, digits + 2) as usize;
        let s = format!("{v:.decimals$}");
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    } else {
        format!("{v:.1e}")
    }
}

/// A number in at most `width` characters, as precise as fits, the leading zero dropped
/// when that makes it more precise.
pub fn fit_number(v: f64, width: usize) -> String {
    let strip = v.is_finite() && v.abs() < 1.0 && {
        let kept = fixed(v, width, false);
        error(&kept, v) > 0.01 && error(&fixed(v, width, true), v) < error(&kept, v)
    };
    let s = format_number(
        v,
        NumberFormat {
            chars: width,
            strip_zero: strip,
        },
    );
    if s.chars().count() <= width {
        s
    } else {
        (if v > 0.0 { "+" } else { "-" }).into()
    }
}

/// A number in the tensor's format: the most precise fixed form that fits, or the
/// scientific one when that is more precise; never more than `chars` characters unless
/// nothing shorter can be written (then the shortest scientific form).
pub fn format_number(v: f64, format: NumberFormat) -> String {
    let width = format.chars;
    if v == 0.0 {
        return "0".into();
    }
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let trim = |s: String| -> String {
        if s.contains('.') && !s.contains('e') {
            let t = s.trim_end_matches('0').trim_end_matches('.');
            if t.is_empty() || t == "-" {
                s
            } else {
                t.to_string()
            }
        } else {
            s
        }
    };
    let f = fixed(v, width, format.strip_zero);
    let fixed_ok = !f.is_empty() && error(&f, v).is_finite();
    if fixed_ok && error(&f, v) <= 0.05 {
        return trim(f);
    }
    let sci = (0..=2)
        .rev()
        .map(|p| format!("{v:.p$e}"))
        .find(|s| s.chars().count() <= width);
    match (fixed_ok, sci) {
        (true, Some(e)) => {
            if error(&e, v) < error(&f, v) {
                e
            } else {
                trim(f)
            }
        }
        (true, None) => trim(f),
        (false, Some(e)) => e,
        (false, None) => format!("{v:.0e}"),
    }
}

/// One map (channel, kernel, matrix or vector) of a tensor.
pub struct Heatmap<'a, 't> {
    pub tensor: &'a MapTensor<'t>,
    pub map: usize,
    /// The first row and column shown (the map may be larger than the area).
    pub row0: usize,
    pub col0: usize,
    pub cell_width: u16,
    pub scale: f64,
    /// How the tensor's numbers are printed (`number_format`), when the cells are wide
    /// enough for numbers.
    pub format: NumberFormat,
    pub theme: &'a Theme,
    /// (row, col) of the cursor in this map.
    pub cursor: Option<(usize, usize)>,
    /// Indices (into the tensor) of cells to highlight.
    pub highlights: Option<&'a HashSet<Vec<usize>>>,
}

/// The number of windows a cell of a max-pool switch mask wins, when it is more than one.
fn switch_count(tensor: &MapTensor<'_>, v: f64) -> Option<char> {
    (tensor.symbol == "switch" && (2.0..=9.0).contains(&v) && v.fract() == 0.0)
        .then(|| char::from_digit(v as u32, 10))
        .flatten()
}

impl Heatmap<'_, '_> {
    /// The text of one cell, written into `out`; `differs` marks a cell where the user's
    /// number (`--compare`) is not the reference's, with `≠` in place of the trailing
    /// space, mark or sign. Without colour the cursor cell carries `◆` (in place of its
    /// shade or sign), as it does with colour in cells too narrow for numbers.
    fn cell_text(&self, out: &mut String, v: f64, heat: &Heat, cell: CellState) {
        use std::fmt::Write;
        let cw = self.cell_width as usize;
        let mono = !self.theme.color();
        let CellState {
            covered,
            highlighted,
            is_cursor,
            differs,
        } = cell;
        if !covered {
            // A user's switch may point at a cell in no window: it is marked all the same.
            let room = cw - usize::from(differs);
            if room > 0 {
                let _ = write!(out, "{:^room$}", "·");
            }
            if differs {
                out.push('≠');
            }
            return;
        }
        let n = self.format.chars;
        if cw > n + usize::from(mono) {
            let tail = match (mono, is_cursor) {
                (false, _) => None,
                (true, true) => Some('◆'),
                (true, false) => Some(heat.glyph),
            };
            let pad = cw - n - usize::from(tail.is_some());
            let _ = write!(out, "{:>n$}", format_number(v, self.format));
            out.extend(tail);
            if differs {
                out.extend(std::iter::repeat_n(' ', pad - 1));
                out.push('≠');
            } else {
                out.extend(std::iter::repeat_n(' ', pad));
            }
            return;
        }
        let count = switch_count(self.tensor, v).filter(|_| cw >= 2);
        if !mono {
            let mark = if is_cursor {
                '◆'
            } else if differs {
                '≠'
            } else if let Some(d) = count {
                d
            } else if highlighted {
                '•'
            } else if !v.is_finite() {
                '!'
            } else {
                ' '
            };
            let _ = write!(out, "{mark:^cw$}");
            return;
        }
        let first = if differs {
            '≠'
        } else if is_cursor {
            '◆'
        } else if let Some(d) = count {
            d
        } else {
            heat.sign
        };
        match cw {
            1 if differs || is_cursor => out.push(first),
            // One column has room for one glyph: shades for positive values, a ramp of
            // dashes for negative ones, so the sign survives without colour.
            1 if heat.sign == '-' => out.push(
                NEGATIVE_GLYPHS[GLYPHS
                    .iter()
                    .position(|&g| g == heat.glyph)
                    .unwrap_or(1)
                    .clamp(1, 4)
                    - 1],
            ),
            1 => out.push(heat.glyph),
            _ => {
                out.push(first);
                out.extend(std::iter::repeat_n(heat.glyph, cw - 1));
            }
        }
    }
}

/// What marks a cell besides its value.
#[derive(Clone, Copy)]
struct CellState {
    covered: bool,
    highlighted: bool,
    is_cursor: bool,
    differs: bool,
}

impl Widget for Heatmap<'_, '_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let (h, w) = self.tensor.shape.map_dims();
        let cw = self.cell_width.max(1);
        let cols = (area.width / cw) as usize;
        let rows = area.height as usize;
        let shape = self.tensor.shape;
        let view = self.tensor.data.view();
        // Every cell is looked up by its row-major offset when the values lie in that
        // order (they do, unless a trace ever hands out a strided view).
        let values = view.as_slice();
        let covered = self
            .tensor
            .covered
            .as_ref()
            .map(|m| m.as_slice().expect("masks are built in standard layout"));
        let mut text = String::new();
        for r in self.row0..h.min(self.row0 + rows) {
            for c in self.col0..w.min(self.col0 + cols) {
                let Some(offset) = shape.offset(self.map, r, c) else {
                    continue;
                };
                // The full index only where a lookup needs it (highlights, --compare).
                let index = || shape.index(self.map, r, c).unwrap_or_default();
                let v = match values {
                    Some(values) => values[offset],
                    None => self.tensor.value(&index()).unwrap_or(f64::NAN),
                };
                let cell = CellState {
                    covered: covered.is_none_or(|m| m.get(offset).copied().unwrap_or(true)),
                    highlighted: self.highlights.is_some_and(|hs| hs.contains(&index())),
                    is_cursor: self.cursor == Some((r, c)),
                    differs: self.tensor.yours.is_some()
                        && self.tensor.your_value(&index()).is_some_and(|(_, d)| d),
                };
                let heat = self.theme.heat(v, self.scale);
                let mut style = if cell.covered {
                    heat.style
                } else {
                    self.theme.outside()
                };
                if cell.highlighted {
                    style = self.theme.contributing(style);
                }
                if cell.differs {
                    style = self.theme.mismatch(style);
                }
                if cell.is_cursor {
                    style = self.theme.cursor(style);
                }
                text.clear();
                self.cell_text(&mut text, v, &heat, cell);
                // Every character of a cell's text is one column wide: written straight
                // into the buffer's cells, cut at the cell's width.
                let x = area.x + (c - self.col0) as u16 * cw;
                let y = area.y + (r - self.row0) as u16;
                for (i, ch) in text.chars().take(cw as usize).enumerate() {
                    if let Some(cell) = buf.cell_mut((x + i as u16, y)) {
                        cell.set_char(ch).set_style(style);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::ColorMode;
    use crate::app::maps::{Phase, Shape, Values};
    use ndarray::array;
    use std::rc::Rc;

    #[test]
    fn the_fixed_form_is_the_one_found_by_trying_every_decimal_count() {
        let every = |v: f64, width: usize, strip: bool| {
            (0..=width)
                .rev()
                .find_map(|decimals| {
                    let s = format!("{v:.decimals$}");
                    let s = if strip && v.abs() < 1.0 {
                        s.replacen("0.", ".", 1)
                    } else {
                        s
                    };
                    (s.chars().count() <= width).then_some(s)
                })
                .unwrap_or_default()
        };
        let mut values = vec![0.0, 1.0, -1.0, 0.5, 9.995, -9.9951, 99.96, 999.5, 1e5, -1e7];
        for e in -12..12 {
            for m in [1.0, 0.999_999_9, 1.000_000_1, 9.99, 9.999_99, 4.5, 5.0] {
                let v = m * 10f64.powi(e);
                values.extend([v, -v]);
            }
        }
        for v in values {
            for width in 1..=8 {
                for strip in [false, true] {
                    assert_eq!(
                        fixed(v, width, strip),
                        every(v, width, strip),
                        "{v} {width}"
                    );
                }
            }
        }
    }

    #[test]
    fn numbers_fit_their_width() {
        for v in [
            0.0, 1.0, -0.4321, 0.0012, 123.456, -98765.4, 1e-9, 3.5e12, -1e-300,
        ] {
            for w in [4, 5, 6] {
                let s = fit_number(v, w);
                assert!(s.chars().count() <= w, "{v} in {w}: {s}");
            }
        }
        assert_eq!(fit_number(-0.4321, 5), "-0.43");
        assert_eq!(fit_number(0.25, 5), "0.25");
        assert_eq!(fit_number(2.0, 5), "2");
        assert_eq!(fit_number(0.00004, 5), "4e-5");
        assert_eq!(fit_number(-0.0264, 5), "-.026");
        assert_eq!(fit_number(-0.008, 5), "-.008");
        assert_eq!(fit_number(0.0012, 5), ".0012");
    }

    #[test]
    fn huge_numbers_of_either_sign_get_the_same_room() {
        let mut t = tensor();
        t.data = Values::derived(array![[[4e193, -4e193], [1.0, -0.5]]].into_dyn());
        let f = number_format(&t);
        assert_eq!(f.chars, 6);
        assert_eq!(format_number(-4e193, f), "-4e193");
        assert_eq!(format_number(4e193, f), "4e193");
        assert_eq!(number_cell_width(&t, true), 8);
    }

    #[test]
    fn the_number_width_is_that_of_the_longest_number_of_the_tensor() {
        // Every value formatted, as the definition says: the longest "{:.0e}" of a value
        // below 1e-9 or from 1e99, between 5 and 7 characters.
        let longest = |values: &[f64]| {
            values
                .iter()
                .filter(|v| v.is_finite() && **v != 0.0)
                .filter(|v| v.abs() < 1e-9 || v.abs() >= 1e99)
                .map(|v| format!("{v:.0e}").chars().count())
                .filter(|&n| n > 5)
                .max()
                .unwrap_or(5)
                .min(7)
        };
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..300 {
            let values: Vec<f64> = (0..6)
                .map(|_| {
                    let r = next();
                    let exponent = (r % 640) as i32 - 320;
                    let v = (1.0 + (r >> 20) as f64 / (1u64 << 44) as f64) * 10f64.powi(exponent);
                    match r % 7 {
                        0 => 0.0,
                        1 => f64::NAN,
                        2 | 3 => -v,
                        _ => v,
                    }
                })
                .collect();
            let mut t = tensor();
            t.data = Values::derived(ndarray::Array::from_vec(values.clone()).into_dyn());
            assert_eq!(number_format(&t).chars, longest(&values), "{values:?}");
        }
    }

    #[test]
    fn a_tensor_drops_the_leading_zero_for_all_its_numbers_or_for_none() {
        let mut t = tensor();
        t.data = Values::derived(array![[[-0.058, -0.23], [0.976, 0.25]]].into_dyn());
        let f = number_format(&t);
        assert!(f.strip_zero);
        let shown: Vec<String> = t.data.view().iter().map(|&v| format_number(v, f)).collect();
        assert_eq!(shown, ["-.058", "-.23", ".976", ".25"]);
        let plain = tensor();
        assert!(!number_format(&plain).strip_zero);
        assert_eq!(format_number(-0.5, number_format(&plain)), "-0.5");
    }

    fn tensor() -> MapTensor<'static> {
        MapTensor {
            name: crate::engine::TensorName::Z,
            symbol: "z",
            phase: Phase::Forward,
            shape: Shape::Maps { n: 1, h: 2, w: 2 },
            per_map: "k",
            data: Values::derived(array![[[1.0, -0.5], [0.0, 0.25]]].into_dyn()),
            covered: None,
            yours: None,
            memo: Default::default(),
        }
    }

    /// The first row of the first map of a 2-column tensor drawn at this cell width: its
    /// text, and the buffer for its styles.
    fn first_row(t: &MapTensor, mode: ColorMode, width: u16) -> (String, Buffer) {
        let theme = Theme::new(mode);
        let mut buf = Buffer::empty(Rect::new(0, 0, 2 * width, 1));
        Heatmap {
            tensor: t,
            map: 0,
            row0: 0,
            col0: 0,
            cell_width: width,
            scale: scale(t),
            format: number_format(t),
            theme: &theme,
            cursor: None,
            highlights: None,
        }
        .render(buf.area, &mut buf);
        let line = (0..2 * width)
            .map(|x| buf[(x, 0)].symbol().to_string())
            .collect();
        (line, buf)
    }

    #[test]
    fn cells_where_the_users_numbers_differ_are_marked_in_every_mode() {
        let mut t = tensor();
        let differs = array![[[false, true], [false, false]]].into_dyn();
        t.yours = Some(Rc::new((
            array![[[1.0, 0.5], [0.0, 0.25]]].into_dyn(),
            differs,
        )));
        for (mode, width, expected) in [
            (ColorMode::Mono, 2u16, "+█≠▒"),
            (ColorMode::TrueColor, 2, "  ≠"),
            (ColorMode::TrueColor, 6, "    1  -0.5≠"),
        ] {
            let (line, buf) = first_row(&t, mode, width);
            assert_eq!(
                line.trim_end(),
                expected.trim_end(),
                "{mode:?} width {width}"
            );
            assert!(
                buf[(width, 0)]
                    .modifier
                    .contains(ratatui::style::Modifier::BOLD)
            );
        }
    }

    /// A user's switch may point at a cell in no pooling window: the `·` keeps its place
    /// and the cell is marked like any other.
    #[test]
    fn a_differing_cell_in_no_window_is_marked() {
        let mut t = tensor();
        t.covered = Some(Rc::new(
            ndarray::Array3::from_shape_vec((1, 2, 2), vec![false, false, true, true]).unwrap(),
        ));
        let differs = array![[[true, false], [false, false]]].into_dyn();
        t.yours = Some(Rc::new((
            array![[[1.0, -0.5], [0.0, 0.25]]].into_dyn(),
            differs,
        )));
        for (mode, width, expected) in [
            (ColorMode::TrueColor, 1u16, "≠·"),
            (ColorMode::TrueColor, 3, "· ≠ · "),
            (ColorMode::Mono, 4, " · ≠ ·  "),
        ] {
            let (line, _) = first_row(&t, mode, width);
            assert_eq!(line, expected, "{mode:?} width {width}");
        }
    }

    #[test]
    fn monochrome_cells_carry_sign_and_shade() {
        let t = tensor();
        let theme = Theme::new(ColorMode::Mono);
        let mut buf = Buffer::empty(Rect::new(0, 0, 4, 2));
        Heatmap {
            tensor: &t,
            map: 0,
            row0: 0,
            col0: 0,
            cell_width: 2,
            scale: scale(&t),
            format: number_format(&t),
            theme: &theme,
            cursor: Some((1, 1)),
            highlights: None,
        }
        .render(buf.area, &mut buf);
        let line = |y: u16| {
            (0..4)
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect::<String>()
        };
        assert_eq!(line(0), "+█-▒");
        assert_eq!(
            line(1),
            "  ◆░",
            "the cursor cell is marked without colour too"
        );
        assert!(
            buf[(2, 1)]
                .modifier
                .contains(ratatui::style::Modifier::REVERSED)
        );
    }

    #[test]
    fn wide_cells_print_the_value() {
        let t = tensor();
        let theme = Theme::new(ColorMode::TrueColor);
        let mut buf = Buffer::empty(Rect::new(0, 0, 12, 2));
        Heatmap {
            tensor: &t,
            map: 0,
            row0: 0,
            col0: 0,
            cell_width: 6,
            scale: scale(&t),
            format: number_format(&t),
            theme: &theme,
            cursor: None,
            highlights: None,
        }
        .render(buf.area, &mut buf);
        let line: String = (0..12).map(|x| buf[(x, 0)].symbol().to_string()).collect();
        assert_eq!(line, "    1  -0.5 ");
    }
}
