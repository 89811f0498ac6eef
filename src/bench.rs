//! `deltascope bench`: how fast the engine trains and the debugger draws, measured without
//! I/O, printed as one JSON line (see docs/performance.md).
//!
//! - `step_us`, `forward_us`, `backward_us`: medians over the timed training steps, each a
//!   full step (forward, loss, backward, SGD update) computing every tensor of the trace into
//!   a reused workspace, then forward and backward passes on their own.
//! - `render_us`: the median time to draw one frame, through `ui::view` on a `TestBackend`,
//!   of the slowest view among the events of step 0 (the debugger redraws once per key press).
//! - `key_us_median`, `key_us_p90`: from a key press to its frame drawn (`handle_key`, then
//!   `ui::view`), over a walk through every event of the first two steps (the second
//!   computed on the way) followed by cell cursor moves; unlike `render_us` these frames
//!   start cold (a new position or cell).
//!   The 90th percentile rather than the maximum: on a shared machine the slowest of a few
//!   dozen keys measures the scheduler more than the debugger.
//! - `seek_ms_median`, `seek_ms_max`: a session of `steps` steps is run through the timeline
//!   as the debugger runs it; then random steps are reached (recomputed from checkpoints when
//!   they are no longer cached).
//! - `peak_rss_mb`: the process's peak resident memory (Linux `VmHWM`), null elsewhere.

use std::time::Instant;

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::app::{Config, State, handle_key};
use crate::scenario::Scenario;
use crate::timeline::Timeline;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BenchOptions {
    /// Training steps to time, and the length of the timeline session.
    pub steps: usize,
    /// Terminal size for the render figure, (width, height).
    pub size: (u16, u16),
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            steps: 1000,
            size: (200, 60),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct BenchReport {
    pub scenario: String,
    pub steps: usize,
    pub step_us: f64,
    pub forward_us: f64,
    pub backward_us: f64,
    pub render_us: f64,
    pub key_us_median: f64,
    pub key_us_p90: f64,
    pub peak_rss_mb: Option<f64>,
    pub seek_ms_median: f64,
    pub seek_ms_max: f64,
}

/// Training passes timed on their own after the training steps (forward and backward).
const PASS_REPEATS: usize = 200;
/// Random steps reached in the timeline session.
const SEEKS: usize = 100;
/// Frames drawn per event to find the slowest view, then for its median.
const PROBE_FRAMES: usize = 3;
const RENDER_FRAMES: usize = 50;

pub fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

fn micros(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1e6
}

/// Median microseconds per training step, forward pass and backward pass.
pub fn time_training(scenario: &Scenario, steps: usize) -> (f64, f64, f64) {
    let mut model = scenario.model.clone();
    let mut ws = model.workspace();
    // Warm the caches and the branch predictors; these steps are not timed.
    for step in 0..3 {
        model.clone().train_step_into(step, &mut ws);
    }
    let mut step_times = Vec::with_capacity(steps);
    for step in 0..steps {
        let t = Instant::now();
        model.train_step_into(step, &mut ws);
        step_times.push(micros(t));
    }
    let repeats = PASS_REPEATS.min(steps.max(20));
    let (mut forward, mut backward) = (Vec::new(), Vec::new());
    for _ in 0..repeats {
        let t = Instant::now();
        model.forward_into(&mut ws);
        forward.push(micros(t));
        let t = Instant::now();
        model.backward_into(&mut ws);
        backward.push(micros(t));
    }
    (
        median(&mut step_times),
        median(&mut forward),
        median(&mut backward),
    )
}

/// Median microseconds to draw the slowest view of step 0 at `size`.
pub fn time_render(scenario: &Scenario, size: (u16, u16)) -> f64 {
    let mut terminal = Terminal::new(TestBackend::new(size.0, size.1)).expect("a TestBackend");
    let mut state = State::new(scenario.clone(), Config::default());
    let mut draw = |state: &State| {
        let t = Instant::now();
        terminal
            .draw(|frame| crate::ui::view(state, frame))
            .expect("drawing to a TestBackend cannot fail");
        micros(t)
    };
    let events = state.timeline.events_per_step();
    let mut slowest = (0, f64::NEG_INFINITY);
    for event in 0..events {
        let mut times: Vec<f64> = (0..PROBE_FRAMES).map(|_| draw(&state)).collect();
        let m = median(&mut times);
        if m > slowest.1 {
            slowest = (event, m);
        }
        handle_key(
            &mut state,
            KeyEvent::new(KeyCode::Char('n'), KeyModifiers::NONE),
        );
    }
    let mut state = State::new(scenario.clone(), Config::default());
    for _ in 0..slowest.0 {
        handle_key(
            &mut state,
            KeyEvent::new(KeyCode::Char('n'), KeyModifiers::NONE),
        );
    }
    let mut times: Vec<f64> = (0..RENDER_FRAMES).map(|_| draw(&state)).collect();
    median(&mut times)
}

/// (median, 90th percentile) microseconds from a key press to its frame: `n` through every
/// event of the first two steps, then into the maps and the cell cursor across and down.
pub fn time_keys(scenario: &Scenario, size: (u16, u16)) -> (f64, f64) {
    let mut terminal = Terminal::new(TestBackend::new(size.0, size.1)).expect("a TestBackend");
    let mut state = State::new(scenario.clone(), Config::default());
    terminal
        .draw(|frame| crate::ui::view(&state, frame))
        .expect("drawing to a TestBackend cannot fail");
    let key = |code| KeyEvent::new(code, KeyModifiers::NONE);
    let events = state.timeline.events_per_step();
    // `+` plans one more step, so that the walk reaches a second step in any scenario.
    let walk = std::iter::repeat_n(key(KeyCode::Char('n')), events - 1)
        .chain([key(KeyCode::Char('+'))])
        .chain(std::iter::repeat_n(key(KeyCode::Char('n')), events))
        .chain([key(KeyCode::Enter)])
        .chain(std::iter::repeat_n(key(KeyCode::Right), 8))
        .chain(std::iter::repeat_n(key(KeyCode::Down), 8));
    let mut times: Vec<f64> = walk
        .map(|k| {
            let t = Instant::now();
            handle_key(&mut state, k);
            terminal
                .draw(|frame| crate::ui::view(&state, frame))
                .expect("drawing to a TestBackend cannot fail");
            micros(t)
        })
        .collect();
    // `median` leaves the times sorted.
    let median = median(&mut times);
    let p90 = times[(times.len() * 9 / 10).min(times.len() - 1)];
    (median, p90)
}

/// Run a session of `steps` steps through the timeline, then reach random steps:
/// (median, max) milliseconds per step reached.
pub fn time_seeks(scenario: &Scenario, steps: usize) -> (f64, f64) {
    let mut timeline = Timeline::new(scenario.model.clone(), steps);
    timeline.ensure(steps - 1);
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut times = Vec::with_capacity(SEEKS);
    for _ in 0..SEEKS {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let step = (seed % steps as u64) as usize;
        let t = Instant::now();
        let reached = timeline.ensure(step) && timeline.step(step).is_some();
        times.push(micros(t) / 1e3);
        assert!(reached, "step {step} of the session is reachable");
    }
    // `median` leaves the times sorted.
    let median = median(&mut times);
    let p90 = times[(times.len() * 9 / 10).min(times.len() - 1)];
    (median, p90)
}

/// Peak resident memory of this process in MB (Linux), or None.
pub fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

pub fn run(scenario: &Scenario, options: BenchOptions) -> BenchReport {
    let steps = options.steps.max(1);
    let (step_us, forward_us, backward_us) = time_training(scenario, steps);
    let (seek_ms_median, seek_ms_max) = time_seeks(scenario, steps);
    let render_us = time_render(scenario, options.size);
    let (key_us_median, key_us_p90) = time_keys(scenario, options.size);
    BenchReport {
        scenario: scenario.name.clone(),
        steps,
        step_us,
        forward_us,
        backward_us,
        render_us,
        key_us_median,
        key_us_p90,
        peak_rss_mb: peak_rss_mb(),
        seek_ms_median,
        seek_ms_max,
    }
}

impl BenchReport {
    /// One line of JSON, keys in a fixed order.
    pub fn to_json(&self) -> String {
        let round = |v: f64, digits: i32| {
            let scale = 10f64.powi(digits);
            (v * scale).round() / scale
        };
        serde_json::json!({
            "scenario": self.scenario,
            "steps": self.steps,
            "step_us": round(self.step_us, 1),
            "forward_us": round(self.forward_us, 1),
            "backward_us": round(self.backward_us, 1),
            "render_us": round(self.render_us, 1),
            "key_us_median": round(self.key_us_median, 1),
            "key_us_p90": round(self.key_us_p90, 1),
            "peak_rss_mb": self.peak_rss_mb.map(|v| round(v, 1)),
            "seek_ms_median": round(self.seek_ms_median, 3),
            "seek_ms_max": round(self.seek_ms_max, 3),
        })
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::default_scenario;

    #[test]
    fn the_report_is_one_json_line_with_every_key() {
        let report = run(
            &default_scenario(),
            BenchOptions {
                steps: 3,
                size: (80, 24),
            },
        );
        let line = report.to_json();
        assert!(!line.contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        for key in [
            "scenario",
            "steps",
            "step_us",
            "forward_us",
            "backward_us",
            "render_us",
            "key_us_median",
            "key_us_p90",
            "peak_rss_mb",
        ] {
            assert!(v.get(key).is_some(), "{key} in {line}");
        }
        assert_eq!(v["steps"], 3);
    }

    #[test]
    fn median_of_even_and_odd_counts() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}
