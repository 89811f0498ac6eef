//! The loss over the training steps computed so far (up to the current event), as a sparkline.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Sparkline, Widget};

use super::theme::Theme;
use crate::explain::short;

/// Bars for `losses` in `width` columns: one per step, or the mean of equal buckets when
/// there are more steps than columns. Heights are relative to the range shown.
pub fn bars(losses: &[f64], width: usize) -> Vec<u64> {
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
    // Losses spanning more than two decades are drawn on a log scale.
    let buckets: Vec<f64> = if log_scale(losses) {
        buckets.iter().map(|v| v.ln()).collect()
    } else {
        buckets
    };
    let finite = buckets.iter().copied().filter(|v| v.is_finite());
    let (min, max) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    buckets
        .iter()
        .map(|&v| {
            if !v.is_finite() {
                0
            } else if max > min {
                1 + ((v - min) / (max - min) * 99.0).round() as u64
            } else {
                50
            }
        })
        .collect()
}

/// Whether the chart uses a log scale: every finite loss positive and max/min > 100.
pub fn log_scale(losses: &[f64]) -> bool {
    let finite: Vec<f64> = losses.iter().copied().filter(|v| v.is_finite()).collect();
    let min = finite.iter().copied().fold(f64::INFINITY, f64::min);
    let max = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    min > 0.0 && max / min > 100.0
}

pub fn render(buf: &mut Buffer, area: Rect, losses: &[f64], theme: &Theme) {
    if area.height == 0 {
        return;
    }
    let text = match (losses.first(), losses.last()) {
        (Some(first), Some(last)) if losses.len() > 1 => format!(
            "{} → {} ({} steps{})",
            short(*first),
            short(*last),
            losses.len(),
            if log_scale(losses) { ", log" } else { "" }
        ),
        (Some(only), _) => format!("{} (step 0)", short(*only)),
        _ => "no loss yet".into(),
    };
    buf.set_line(
        area.x,
        area.y,
        &Line::from(Span::styled(text, theme.dim())),
        area.width,
    );
    if area.height > 1 {
        let chart = Rect::new(area.x, area.y + 1, area.width, area.height - 1);
        let data = bars(losses, chart.width as usize);
        Sparkline::default()
            .data(&data)
            .max(100)
            .style(theme.sparkline())
            .render(chart, buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_bucket_long_runs_and_keep_short_ones() {
        assert_eq!(bars(&[3.0, 2.0, 1.0], 10), vec![100, 51, 1]);
        assert_eq!(bars(&[1.0; 100], 10).len(), 10);
        assert!(bars(&[], 10).is_empty());
        assert_eq!(bars(&[f64::NAN, 1.0], 10)[0], 0);
        assert!(log_scale(&[4.3, 72.0, 2.5e3, 6.0e5]));
        assert!(!log_scale(&[0.5, 0.3, 0.2]));
        assert_eq!(bars(&[1.0, 10.0, 1000.0], 10), vec![1, 34, 100]);
    }
}
