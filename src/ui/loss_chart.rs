//! The loss over the training steps computed so far (up to the current event), as bars.
//! Heights run from the smallest to the largest finite loss (on a log scale when they span
//! more than a decade), so a loss that keeps falling slowly still shows; every step
//! gets a column when there is room, and a step whose loss is inf or NaN is marked `!`.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use super::theme::Theme;
use crate::explain::short;

/// Bar heights in (0, 1] for `losses` in `width` columns: one per step, or the mean of
/// equal buckets when there are more steps than columns; None for a step (or a bucket
/// holding a step) whose loss is not finite. The smallest finite loss gets the lowest
/// visible bar, the largest a full one.
pub fn bars(losses: &[f64], width: usize) -> Vec<Option<f64>> {
    if losses.is_empty() || width == 0 {
        return Vec::new();
    }
    let buckets: Vec<f64> = if losses.len() <= width {
        losses.to_vec()
    } else {
        (0..width)
            .map(|b| {
                let lo = b * losses.len() / width;
                let hi = ((b + 1) * losses.len() / width).max(lo + 1);
                losses[lo..hi].iter().sum::<f64>() / (hi - lo) as f64
            })
            .collect()
    };
    let log = log_scale(losses);
    let scaled: Vec<f64> = buckets
        .iter()
        .map(|&v| if log && v > 0.0 { v.ln() } else { v })
        .collect();
    let finite = scaled.iter().copied().filter(|v| v.is_finite());
    let (min, max) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    scaled
        .iter()
        .map(|&v| {
            v.is_finite().then(|| {
                if max > min {
                    0.1 + 0.9 * (v - min) / (max - min)
                } else {
                    0.5
                }
            })
        })
        .collect()
}

/// Whether the chart uses a log scale: every finite loss positive and max/min > 10, where
/// a linear scale would flatten the later steps of a loss that keeps falling.
pub fn log_scale(losses: &[f64]) -> bool {
    let finite: Vec<f64> = losses.iter().copied().filter(|v| v.is_finite()).collect();
    let min = finite.iter().copied().fold(f64::INFINITY, f64::min);
    let max = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    min > 0.0 && max / min > 10.0
}

const EIGHTHS: [char; 9] = [' ', '▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

pub fn render(buf: &mut Buffer, area: Rect, losses: &[f64], theme: &Theme) {
    if area.height == 0 || area.width == 0 {
        return;
    }
    let w = area.width as usize;
    let text = match (losses.first(), losses.last()) {
        (Some(first), Some(last)) if losses.len() > 1 => {
            let range = format!("{} → {}", short(*first), short(*last));
            let more = format!(
                " ({} steps{})",
                losses.len(),
                if log_scale(losses) { ", log" } else { "" }
            );
            if range.chars().count() + more.chars().count() <= w {
                range + &more
            } else {
                range
            }
        }
        (Some(only), _) => format!("{} (step 0)", short(*only)),
        _ => "no loss yet".into(),
    };
    buf.set_line(
        area.x,
        area.y,
        &Line::from(Span::styled(text, theme.dim())),
        area.width,
    );
    if area.height < 2 {
        return;
    }
    let rows = (area.height - 1) as usize;
    let levels = rows * 8;
    for (x, bar) in bars(losses, w).into_iter().enumerate() {
        let x = area.x + x as u16;
        match bar {
            None => {
                let y = area.y + area.height - 1;
                buf.set_string(x, y, "!", theme.warning());
            }
            Some(h) => {
                let eighths = ((h * levels as f64).round() as usize).clamp(1, levels);
                for r in 0..rows {
                    let filled = eighths.saturating_sub(r * 8).min(8);
                    if filled == 0 {
                        break;
                    }
                    let y = area.y + area.height - 1 - r as u16;
                    buf.set_string(x, y, EIGHTHS[filled].to_string(), theme.sparkline());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_run_from_the_smallest_to_the_largest_finite_loss() {
        let b = bars(&[3.0, 2.0, 1.0], 10);
        assert_eq!(b.len(), 3);
        assert_eq!(b[0], Some(1.0));
        assert_eq!(b[2], Some(0.1), "the smallest loss still shows");
        assert_eq!(bars(&[1.0; 100], 10).len(), 10);
        assert!(bars(&[], 10).is_empty());
        assert_eq!(bars(&[f64::NAN, 1.0], 10)[0], None);
        assert!(log_scale(&[4.3, 72.0, 2.5e3, 6.0e5]));
        assert!(!log_scale(&[0.5, 0.3, 0.2]));
        assert!(
            log_scale(&[3.127, 1.0, 0.1272]),
            "digit_classifier's 20 steps"
        );
        let log = bars(&[1.0, 10.0, 100.0, 1000.0], 10);
        assert!((log[1].unwrap() - 0.4).abs() < 1e-9, "{log:?}");
    }

    #[test]
    fn every_step_has_a_column_and_non_finite_steps_are_marked() {
        let theme = Theme::new(crate::app::ColorMode::Mono);
        let losses = [
            3.1,
            2.0,
            1.0,
            0.5,
            0.2,
            0.13,
            0.127,
            f64::INFINITY,
            f64::NAN,
        ];
        let mut buf = Buffer::empty(Rect::new(0, 0, 20, 3));
        let area = buf.area;
        render(&mut buf, area, &losses, &theme);
        let bottom: String = (0..9).map(|x| buf[(x, 2)].symbol().to_string()).collect();
        assert!(!bottom.contains(' '), "{bottom:?}");
        assert!(bottom.ends_with("!!"), "{bottom:?}");
    }
}
