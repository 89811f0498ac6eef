//! Every colour and style of the debugger, for each colour mode. Nothing else picks colours.

use ratatui::style::{Color, Modifier, Style};

use crate::app::ColorMode;

/// Shading from zero to full magnitude, for terminals without colour.
pub const GLYPHS: [char; 5] = [' ', '░', '▒', '▓', '█'];

#[derive(Clone, Copy, Debug)]
pub struct Theme {
    pub mode: ColorMode,
}

/// How one heatmap cell looks.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Heat {
    pub style: Style,
    /// Shade glyph for |v| / scale (used without colour).
    pub glyph: char,
    /// '+', '-' or ' ' for zero.
    pub sign: char,
}

/// Zero: a grey light enough to tell a map of zeros from the background.
const NEUTRAL: (u8, u8, u8) = (62, 62, 72);
const POSITIVE: (u8, u8, u8) = (214, 64, 52);
const NEGATIVE: (u8, u8, u8) = (52, 110, 220);

fn lerp(a: (u8, u8, u8), b: (u8, u8, u8), t: f64) -> (u8, u8, u8) {
    // Rounded half up by the saturating cast (cheaper than `round`, which is a libm
    // call, once per heatmap cell); the cast also clamps to 0..=255.
    let m = |x: u8, y: u8| (x as f64 + (y as f64 - x as f64) * t + 0.5) as u8;
    (m(a.0, b.0), m(a.1, b.1), m(a.2, b.2))
}

/// xterm-256 ramps from dark to bright, for |v| in five steps: blues below zero, reds above.
const INDEXED_NEUTRAL: u8 = 238;
const INDEXED_NEGATIVE: [u8; 5] = [17, 18, 19, 26, 33];
const INDEXED_POSITIVE: [u8; 5] = [52, 88, 124, 160, 196];

impl Theme {
    pub fn new(mode: ColorMode) -> Self {
        Theme { mode }
    }

    pub fn color(&self) -> bool {
        self.mode != ColorMode::Mono
    }

    fn scale_color(&self, t: f64, m: f64, rgb: (u8, u8, u8)) -> Color {
        let step = || ((m * 5.0).ceil() as usize).clamp(1, 5) - 1;
        match self.mode {
            ColorMode::TrueColor => Color::Rgb(rgb.0, rgb.1, rgb.2),
            ColorMode::Indexed if m == 0.0 => Color::Indexed(INDEXED_NEUTRAL),
            ColorMode::Indexed if t > 0.0 => Color::Indexed(INDEXED_POSITIVE[step()]),
            ColorMode::Indexed => Color::Indexed(INDEXED_NEGATIVE[step()]),
            ColorMode::Ansi16 => {
                if m == 0.0 {
                    Color::DarkGray
                } else {
                    match (t > 0.0, m < 0.5) {
                        (true, true) => Color::Red,
                        (true, false) => Color::LightRed,
                        (false, true) => Color::Blue,
                        (false, false) => Color::LightBlue,
                    }
                }
            }
            ColorMode::Mono => Color::Reset,
        }
    }

    /// A diverging scale centred on zero, scaled by `scale` = max |v| of the tensor.
    pub fn heat(&self, v: f64, scale: f64) -> Heat {
        if !v.is_finite() {
            return Heat {
                style: if self.color() {
                    Style::new()
                        .fg(Color::White)
                        .bg(Color::Magenta)
                        .add_modifier(Modifier::BOLD)
                } else {
                    Style::new().add_modifier(Modifier::BOLD)
                },
                glyph: '!',
                sign: '!',
            };
        }
        let t = if scale > 0.0 {
            (v / scale).clamp(-1.0, 1.0)
        } else {
            0.0
        };
        let m = t.abs();
        let glyph = if v == 0.0 {
            GLYPHS[0]
        } else {
            // The cast truncates, which for m ≥ 0 is `floor` without the libm call.
            GLYPHS[((1.0 + m * 3.999) as usize).min(4)]
        };
        let sign = if v > 0.0 {
            '+'
        } else if v < 0.0 {
            '-'
        } else {
            ' '
        };
        if !self.color() {
            return Heat {
                style: Style::new(),
                glyph,
                sign,
            };
        }
        let end = if t >= 0.0 { POSITIVE } else { NEGATIVE };
        // A slight ease so that small values still show a tint.
        let rgb = lerp(NEUTRAL, end, m.sqrt());
        let bg = self.scale_color(t, m, rgb);
        let luminance = 0.299 * rgb.0 as f64 + 0.587 * rgb.1 as f64 + 0.114 * rgb.2 as f64;
        let fg = if luminance > 150.0 {
            Color::Black
        } else {
            Color::White
        };
        Heat {
            style: Style::new().bg(bg).fg(fg),
            glyph,
            sign,
        }
    }

    /// A cell outside every pooling window.
    pub fn outside(&self) -> Style {
        Style::new().add_modifier(Modifier::DIM)
    }

    /// A cell that contributes to the inspected value.
    pub fn contributing(&self, base: Style) -> Style {
        if self.color() {
            base.fg(Color::Yellow)
                .add_modifier(Modifier::BOLD | Modifier::UNDERLINED)
        } else {
            base.add_modifier(Modifier::BOLD | Modifier::UNDERLINED)
        }
    }

    /// A cell where the user's number differs from the reference (`--compare`).
    pub fn mismatch(&self, base: Style) -> Style {
        if self.color() {
            base.fg(Color::LightRed).add_modifier(Modifier::BOLD)
        } else {
            base.add_modifier(Modifier::BOLD)
        }
    }

    pub fn cursor(&self, base: Style) -> Style {
        base.add_modifier(Modifier::REVERSED | Modifier::BOLD)
    }

    pub fn header(&self) -> Style {
        if self.color() {
            Style::new().fg(Color::Black).bg(Color::Cyan)
        } else {
            Style::new().add_modifier(Modifier::REVERSED)
        }
    }

    pub fn footer(&self) -> Style {
        if self.color() {
            Style::new().fg(Color::Gray)
        } else {
            Style::new()
        }
    }

    pub fn footer_key(&self) -> Style {
        if self.color() {
            Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD)
        } else {
            Style::new().add_modifier(Modifier::BOLD)
        }
    }

    pub fn status(&self) -> Style {
        if self.color() {
            Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD)
        } else {
            Style::new().add_modifier(Modifier::BOLD)
        }
    }

    pub fn border(&self, focused: bool) -> Style {
        match (self.color(), focused) {
            (true, true) => Style::new().fg(Color::Cyan),
            (true, false) => Style::new().fg(Color::DarkGray),
            (false, true) => Style::new().add_modifier(Modifier::BOLD),
            (false, false) => Style::new(),
        }
    }

    pub fn selected(&self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }

    pub fn current_event(&self) -> Style {
        if self.color() {
            Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD)
        } else {
            Style::new().add_modifier(Modifier::BOLD)
        }
    }

    pub fn dim(&self) -> Style {
        if self.color() {
            Style::new().fg(Color::DarkGray)
        } else {
            Style::new().add_modifier(Modifier::DIM)
        }
    }

    pub fn forward(&self) -> Style {
        if self.color() {
            Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD)
        } else {
            Style::new().add_modifier(Modifier::BOLD)
        }
    }

    pub fn backward(&self) -> Style {
        if self.color() {
            Style::new().fg(Color::Magenta).add_modifier(Modifier::BOLD)
        } else {
            Style::new().add_modifier(Modifier::BOLD | Modifier::ITALIC)
        }
    }

    pub fn param(&self) -> Style {
        if self.color() {
            Style::new().fg(Color::Green).add_modifier(Modifier::BOLD)
        } else {
            Style::new().add_modifier(Modifier::BOLD)
        }
    }

    pub fn warning(&self) -> Style {
        if self.color() {
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)
        } else {
            Style::new().add_modifier(Modifier::BOLD | Modifier::REVERSED)
        }
    }

    pub fn good(&self) -> Style {
        if self.color() {
            Style::new().fg(Color::Green)
        } else {
            Style::new()
        }
    }

    pub fn title(&self) -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }

    pub fn sparkline(&self) -> Style {
        if self.color() {
            Style::new().fg(Color::Yellow)
        } else {
            Style::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scale_is_centred_on_zero_and_signed() {
        let t = Theme::new(ColorMode::TrueColor);
        let zero = t.heat(0.0, 1.0);
        let pos = t.heat(1.0, 1.0);
        let neg = t.heat(-1.0, 1.0);
        assert_eq!(
            zero.style.bg,
            Some(Color::Rgb(NEUTRAL.0, NEUTRAL.1, NEUTRAL.2))
        );
        assert_eq!(
            pos.style.bg,
            Some(Color::Rgb(POSITIVE.0, POSITIVE.1, POSITIVE.2))
        );
        assert_eq!(
            neg.style.bg,
            Some(Color::Rgb(NEGATIVE.0, NEGATIVE.1, NEGATIVE.2))
        );
        assert_eq!((pos.sign, neg.sign, zero.sign), ('+', '-', ' '));
    }

    #[test]
    fn monochrome_uses_glyphs_and_no_colour() {
        let t = Theme::new(ColorMode::Mono);
        let h = t.heat(-0.9, 1.0);
        assert_eq!(h.style.bg, None);
        assert_eq!(h.style.fg, None);
        assert_eq!(h.glyph, '█');
        assert_eq!(h.sign, '-');
        assert_eq!(t.heat(0.1, 1.0).glyph, '░');
        assert_eq!(t.heat(0.0, 1.0).glyph, ' ');
        assert_eq!(t.heat(f64::NAN, 1.0).glyph, '!');
    }
}
