//! Drawing: pure functions from state to frame, and the widgets they use.

pub mod heatmap;
pub mod help;
pub mod inspector;
pub mod loss_chart;
pub mod maps_pane;
pub mod pipeline;
pub mod theme;
pub mod view;

pub use view::{MIN_HEIGHT, MIN_WIDTH, view};

/// Word-wrap `text` to lines of at most `width` characters (long words are cut).
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let wl = word.chars().count();
        let ll = line.chars().count();
        if ll > 0 && ll + 1 + wl > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
        while line.chars().count() > width {
            let head: String = line.chars().take(width).collect();
            let rest: String = line.chars().skip(width).collect();
            lines.push(head);
            line = rest;
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    #[test]
    fn wrap_keeps_lines_within_width() {
        let text = "δx[c,y,x] = Σ_k Σ_u′ Σ_v′ rot180(w[k,c])[u′,v′] · δẑ[k, y+u′, x+v′]";
        let lines = super::wrap(text, 20);
        assert!(lines.iter().all(|l| l.chars().count() <= 20), "{lines:?}");
        let letters = |s: &str| s.chars().filter(|c| *c != ' ').collect::<String>();
        assert_eq!(letters(&lines.concat()), letters(text));
        assert!(super::wrap("", 10).is_empty());
    }
}
