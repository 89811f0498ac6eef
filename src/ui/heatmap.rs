//! A heatmap widget: one terminal cell group per value on a diverging scale centred on
//! zero (scaled by max |v| of the tensor), the number printed inside when the cell is wide
//! enough, and glyph shading plus a sign when there is no colour. Contributing cells are
//! highlighted, the cursor cell is reversed.

use std::collections::HashSet;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::widgets::Widget;

use super::theme::Theme;
use crate::app::maps::MapTensor;

/// Cell width from which a number is printed inside the cell: 5 characters and a space,
/// or without colour 5 characters, a shade and a space.
pub const NUMBER_WIDTH: u16 = 6;

pub fn number_width(mono: bool) -> u16 {
    if mono { NUMBER_WIDTH + 1 } else { NUMBER_WIDTH }
}

/// max |v| over the finite values of a tensor (the scale of its colours).
pub fn scale(tensor: &MapTensor<'_>) -> f64 {
    tensor
        .data
        .iter()
        .filter(|v| v.is_finite())
        .fold(0.0, |m, v| m.max(v.abs()))
}

/// (min, max) over the finite values, or None if there are none.
pub fn range(tensor: &MapTensor<'_>) -> Option<(f64, f64)> {
    let mut it = tensor.data.iter().copied().filter(|v| v.is_finite());
    let first = it.next()?;
    Some(it.fold((first, first), |(lo, hi), v| (lo.min(v), hi.max(v))))
}

/// The legend of a tensor: "min…max" in short numbers.
pub fn legend(tensor: &MapTensor<'_>) -> String {
    match range(tensor) {
        Some((lo, hi)) if lo == hi => format!("={}", fit_number(lo, 6)),
        Some((lo, hi)) => format!("{}…{}", compact(lo), compact(hi)),
        None => "no finite values".into(),
    }
}

/// Three significant digits, short: "-0.746", "2.09", "1.2e-5".
pub fn compact(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return fit_number(v, 6);
    }
    let a = v.abs();
    if (1e-3..1e4).contains(&a) {
        let digits = (2 - a.log10().floor() as i32).clamp(0, 5) as usize;
        let s = format!("{v:.digits$}");
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    } else {
        format!("{v:.1e}")
    }
}

/// A number in at most `width` characters, as precise as fits.
pub fn fit_number(v: f64, width: usize) -> String {
    if v == 0.0 {
        return "0".into();
    }
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let error = |s: &str| -> f64 {
        match s.parse::<f64>() {
            Ok(p) if p != 0.0 => ((p - v) / v).abs(),
            _ => f64::INFINITY,
        }
    };
    // The most precise fixed form that fits; if it is coarse, the same without the
    // leading zero ("-.026" rather than "-0.03").
    let most_precise = |strip: bool| {
        (0..=width).rev().find_map(|decimals| {
            let s = format!("{v:.decimals$}");
            let s = if strip { s.replacen("0.", ".", 1) } else { s };
            (s.chars().count() <= width).then_some(s)
        })
    };
    let mut fixed = most_precise(false);
    if fixed.as_deref().is_none_or(|f| error(f) > 0.01)
        && let Some(stripped) = most_precise(true)
        && fixed.as_deref().is_none_or(|f| error(&stripped) < error(f))
    {
        fixed = Some(stripped);
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
    if let Some(f) = &fixed
        && error(f) <= 0.05
    {
        return trim(f.clone());
    }
    let sci = (0..=2)
        .rev()
        .map(|p| format!("{v:.p$e}"))
        .find(|s| s.chars().count() <= width);
    match (fixed, sci) {
        (Some(f), Some(e)) => {
            if error(&e) < error(&f) {
                e
            } else {
                f
            }
        }
        (Some(f), None) if error(&f).is_finite() => f,
        (_, Some(e)) => e,
        _ => (if v > 0.0 { "+" } else { "-" }).into(),
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
    pub theme: &'a Theme,
    /// (row, col) of the cursor in this map.
    pub cursor: Option<(usize, usize)>,
    /// Indices (into the tensor) of cells to highlight.
    pub highlights: Option<&'a HashSet<Vec<usize>>>,
}

impl Heatmap<'_, '_> {
    /// The text of one cell; `differs` marks a cell where the user's number (`--compare`)
    /// is not the reference's, with `≠` in place of the trailing space, mark or sign.
    fn cell_text(
        &self,
        v: f64,
        covered: bool,
        highlighted: bool,
        is_cursor: bool,
        differs: bool,
    ) -> String {
        let cw = self.cell_width as usize;
        let heat = self.theme.heat(v, self.scale);
        if !covered {
            return format!("{:^cw$}", "·");
        }
        if cw >= number_width(!self.theme.color()) as usize {
            let n = NUMBER_WIDTH as usize - 1;
            let tail = if self.theme.color() {
                String::new()
            } else {
                heat.glyph.to_string()
            };
            let pad = cw - n - tail.chars().count();
            let end = if differs {
                format!("{}≠", " ".repeat(pad - 1))
            } else {
                " ".repeat(pad)
            };
            return format!("{:>n$}{tail}{end}", fit_number(v, n));
        }
        if self.theme.color() {
            let mark = if is_cursor {
                "◆"
            } else if differs {
                "≠"
            } else if highlighted {
                "•"
            } else if !v.is_finite() {
                "!"
            } else {
                " "
            };
            return format!("{mark:^cw$}");
        }
        let sign = if differs { '≠' } else { heat.sign };
        match cw {
            1 if differs => "≠".to_string(),
            1 => heat.glyph.to_string(),
            _ => format!("{sign}{}", heat.glyph.to_string().repeat(cw - 1)),
        }
    }
}

impl Widget for Heatmap<'_, '_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let (h, w) = self.tensor.shape.map_dims();
        let cw = self.cell_width.max(1);
        let cols = (area.width / cw) as usize;
        let rows = area.height as usize;
        for r in self.row0..h.min(self.row0 + rows) {
            for c in self.col0..w.min(self.col0 + cols) {
                let x = area.x + (c - self.col0) as u16 * cw;
                let y = area.y + (r - self.row0) as u16;
                let Some(index) = self.tensor.shape.index(self.map, r, c) else {
                    continue;
                };
                let v = self.tensor.value(&index).unwrap_or(f64::NAN);
                let covered = self.tensor.covered.as_ref().is_none_or(|m| {
                    m.get([index[0], index[1], index[2]])
                        .copied()
                        .unwrap_or(true)
                });
                let highlighted = self.highlights.is_some_and(|hs| hs.contains(&index));
                let is_cursor = self.cursor == Some((r, c));
                let differs = self.tensor.your_value(&index).is_some_and(|(_, d)| d);
                let mut style = if covered {
                    self.theme.heat(v, self.scale).style
                } else {
                    self.theme.outside()
                };
                if highlighted {
                    style = self.theme.contributing(style);
                }
                if differs {
                    style = self.theme.mismatch(style);
                }
                if is_cursor {
                    style = self.theme.cursor(style);
                }
                let text = self.cell_text(v, covered, highlighted, is_cursor, differs);
                buf.set_stringn(x, y, &text, cw as usize, style);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::ColorMode;
    use crate::app::maps::{Phase, Shape};
    use ndarray::{CowArray, array};

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

    fn tensor() -> MapTensor<'static> {
        MapTensor {
            name: "z",
            symbol: "z",
            phase: Phase::Forward,
            shape: Shape::Maps { n: 1, h: 2, w: 2 },
            per_map: "k",
            data: CowArray::from(array![[[1.0, -0.5], [0.0, 0.25]]].into_dyn()),
            covered: None,
            yours: None,
        }
    }

    #[test]
    fn cells_where_the_users_numbers_differ_are_marked_in_every_mode() {
        let mut t = tensor();
        let differs = array![[[false, true], [false, false]]].into_dyn();
        t.yours = Some((array![[[1.0, 0.5], [0.0, 0.25]]].into_dyn(), differs));
        for (mode, width, expected) in [
            (ColorMode::Mono, 2u16, "+█≠▒"),
            (ColorMode::TrueColor, 2, "  ≠"),
            (ColorMode::TrueColor, 6, "    1  -0.5≠"),
        ] {
            let theme = Theme::new(mode);
            let mut buf = Buffer::empty(Rect::new(0, 0, 2 * width, 1));
            Heatmap {
                tensor: &t,
                map: 0,
                row0: 0,
                col0: 0,
                cell_width: width,
                scale: scale(&t),
                theme: &theme,
                cursor: None,
                highlights: None,
            }
            .render(buf.area, &mut buf);
            let line: String = (0..2 * width)
                .map(|x| buf[(x, 0)].symbol().to_string())
                .collect();
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
        assert_eq!(line(1), "  +░");
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
            theme: &theme,
            cursor: None,
            highlights: None,
        }
        .render(buf.area, &mut buf);
        let line: String = (0..12).map(|x| buf[(x, 0)].symbol().to_string()).collect();
        assert_eq!(line, "    1  -0.5 ");
    }
}
