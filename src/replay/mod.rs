//! `deltascope replay`: drive the debugger from a key script, headless, through the same
//! `update` and `view` as the interactive session, and print the frames it draws.

pub mod frame;
pub mod script;

use std::path::Path;

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;

use std::sync::Arc;

use crate::app::{Config, State, handle_key};
use crate::diff::Comparison;
use crate::scenario::Scenario;
use script::{Command, Line};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameFormat {
    Text,
    Ansi,
}

#[derive(Clone, Debug)]
pub struct ReplayOptions {
    pub size: (u16, u16),
    pub format: FrameFormat,
    /// Print frames only at `snap` lines.
    pub only_snaps: bool,
    pub config: Config,
    /// The user's own numbers, shown beside the reference (`--compare`).
    pub compare: Option<Arc<Comparison>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderedFrame {
    pub number: usize,
    /// "frame 3 · line 5: n*4".
    pub title: String,
    pub body: String,
}

impl RenderedFrame {
    pub fn header(&self) -> String {
        format!("──── {} ────", self.title)
    }
}

/// A frame as drawn: its title and the buffer (none for the frame of a quit key).
pub struct DrawnFrame {
    pub title: String,
    pub buffer: Option<Buffer>,
}

fn draw(terminal: &mut Terminal<TestBackend>, state: &State) -> Buffer {
    terminal
        .draw(|frame| crate::ui::view(state, frame))
        .expect("drawing to a TestBackend cannot fail")
        .buffer
        .clone()
}

/// Run the script through the same `handle_key` and `ui::view` as the interactive
/// session and return the frames drawn, and the final state. A frame is drawn at the
/// start and after every key or resize line, or with `only_snaps` at `snap` lines only.
/// A quit key ends the replay.
pub fn replay_buffers(
    scenario: Scenario,
    script: &[Line],
    options: &ReplayOptions,
) -> (Vec<DrawnFrame>, State) {
    let (width, height) = options.size;
    let mut terminal =
        Terminal::new(TestBackend::new(width, height)).expect("a TestBackend terminal");
    let mut state = State::new(scenario, options.config);
    state.compare = options.compare.clone();
    let mut frames = Vec::new();
    let every_line = !options.only_snaps;
    if every_line {
        frames.push(DrawnFrame {
            title: "start".into(),
            buffer: Some(draw(&mut terminal, &state)),
        });
    }
    for line in script {
        let title = format!("line {}: {}", line.number, line.text);
        let drawn = match &line.command {
            Command::Key { key, repeat } => {
                if (0..*repeat).any(|_| handle_key(&mut state, *key)) {
                    if every_line {
                        frames.push(DrawnFrame {
                            title: format!("{title} (quit)"),
                            buffer: None,
                        });
                    }
                    break;
                }
                every_line
            }
            Command::Resize { width, height } => {
                terminal.backend_mut().resize(*width, *height);
                every_line
            }
            Command::Snap { .. } => options.only_snaps,
        };
        if drawn {
            frames.push(DrawnFrame {
                title,
                buffer: Some(draw(&mut terminal, &state)),
            });
        }
    }
    (frames, state)
}

/// Run the script and return the frames to print, as text or ANSI.
pub fn replay(scenario: Scenario, script: &[Line], options: &ReplayOptions) -> Vec<RenderedFrame> {
    let (frames, _) = replay_buffers(scenario, script, options);
    frames
        .into_iter()
        .enumerate()
        .map(|(number, f)| RenderedFrame {
            number,
            title: format!("frame {number} · {}", f.title),
            body: match (&f.buffer, options.format) {
                (None, _) => String::new(),
                (Some(b), FrameFormat::Text) => frame::to_text(b),
                (Some(b), FrameFormat::Ansi) => frame::to_ansi(b),
            },
        })
        .collect()
}

/// All frames as one text: each preceded by its header line.
pub fn frames_to_string(frames: &[RenderedFrame]) -> String {
    let mut out = String::new();
    for f in frames {
        out.push_str(&f.header());
        out.push('\n');
        out.push_str(&f.body);
    }
    out
}

/// Write one file per frame into a new folder `dir`, built under a temporary name and
/// renamed into place (`files::write_atomic_dir`), so a failure leaves nothing behind. An
/// existing folder is refused.
pub fn write_frames(
    dir: &Path,
    frames: &[RenderedFrame],
    format: FrameFormat,
) -> Result<(), String> {
    let extension = match format {
        FrameFormat::Text => "txt",
        FrameFormat::Ansi => "ans",
    };
    crate::files::write_atomic_dir(dir, |tmp| {
        for f in frames {
            let text = format!("{}\n{}", f.header(), f.body);
            std::fs::write(tmp.join(format!("frame-{:04}.{extension}", f.number)), text)?;
        }
        Ok(())
    })
}
