//! `deltascope replay`: drive the debugger from a key script, headless, through the same
//! `update` and `view` as the interactive session, and print the frames it draws.
//!
//! Frames stream: each is drawn, handed on (turned into text or ANSI and written out) and
//! dropped before the next is drawn, so a replay holds one frame at a time, whatever the
//! length of its script.

pub mod frame;
pub mod script;

use std::convert::Infallible;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;

use crate::app::{Config, State, handle_key};
use crate::diff::Comparison;
use crate::error::OutputError;
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

    /// The frame as printed: its header line, then its body.
    pub fn write_to(&self, out: &mut impl Write) -> std::io::Result<()> {
        out.write_all(self.header().as_bytes())?;
        out.write_all(b"\n")?;
        out.write_all(self.body.as_bytes())
    }
}

/// A frame as drawn: its title and the buffer (none for the frame of a quit key). It
/// borrows the replay's terminal, so it lives only until the next frame is drawn.
pub struct DrawnFrame<'a> {
    /// "start", "line 5: n*4" or "line 9: q (quit)".
    pub title: &'a str,
    pub buffer: Option<&'a Buffer>,
}

/// Draw the state; the buffer is the terminal's own, until the next draw.
fn draw<'t>(terminal: &'t mut Terminal<TestBackend>, state: &State) -> &'t Buffer {
    terminal
        .draw(|frame| crate::ui::view(state, frame))
        .expect("drawing to a TestBackend cannot fail")
        .buffer
}

/// Run the script through the same `handle_key` and `ui::view` as the interactive
/// session, and hand every frame to `on_frame` as soon as it is drawn; return the final
/// state. A frame is drawn at the start and after every key or resize line, or with
/// `only_snaps` at `snap` lines only. A quit key ends the replay, and so does an error
/// from `on_frame`, which is returned. Nothing is kept from one frame to the next.
pub fn replay_buffers<E>(
    scenario: Scenario,
    script: &[Line],
    options: &ReplayOptions,
    mut on_frame: impl FnMut(DrawnFrame<'_>) -> Result<(), E>,
) -> Result<State, E> {
    let (width, height) = options.size;
    let mut terminal =
        Terminal::new(TestBackend::new(width, height)).expect("a TestBackend terminal");
    let mut state = State::new(scenario, options.config);
    state.compare = options.compare.clone();
    let every_line = !options.only_snaps;
    if every_line {
        on_frame(DrawnFrame {
            title: "start",
            buffer: Some(draw(&mut terminal, &state)),
        })?;
    }
    for line in script {
        let title = format!("line {}: {}", line.number, line.text);
        let drawn = match &line.command {
            Command::Key { key, repeat } => {
                if (0..*repeat).any(|_| handle_key(&mut state, *key)) {
                    if every_line {
                        on_frame(DrawnFrame {
                            title: &format!("{title} (quit)"),
                            buffer: None,
                        })?;
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
            on_frame(DrawnFrame {
                title: &title,
                buffer: Some(draw(&mut terminal, &state)),
            })?;
        }
    }
    Ok(state)
}

/// Run the script and hand every frame to `emit` as soon as it is drawn: numbered from 0
/// and turned into text or ANSI. An error from `emit` ends the replay and is returned.
pub fn replay_each<E>(
    scenario: Scenario,
    script: &[Line],
    options: &ReplayOptions,
    mut emit: impl FnMut(RenderedFrame) -> Result<(), E>,
) -> Result<(), E> {
    let mut number = 0;
    replay_buffers(scenario, script, options, |drawn| {
        let rendered = RenderedFrame {
            number,
            title: format!("frame {number} · {}", drawn.title),
            body: match (drawn.buffer, options.format) {
                (None, _) => String::new(),
                (Some(b), FrameFormat::Text) => frame::to_text(b),
                (Some(b), FrameFormat::Ansi) => frame::to_ansi(b),
            },
        };
        number += 1;
        emit(rendered)
    })
    .map(drop)
}

/// Run the script and return every frame, as text or ANSI: for tests and short scripts.
/// `deltascope replay` streams them instead ([`write_frames_to`], [`write_frames`]).
pub fn replay(scenario: Scenario, script: &[Line], options: &ReplayOptions) -> Vec<RenderedFrame> {
    let mut frames = Vec::new();
    let Ok(()) = replay_each(scenario, script, options, |f| {
        frames.push(f);
        Ok::<(), Infallible>(())
    });
    frames
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

/// Run the script and write each frame to `out` as soon as it is drawn: the same bytes as
/// [`frames_to_string`] of [`replay`], without keeping the frames. A write error ends the
/// replay and is returned (`out` is not flushed).
pub fn write_frames_to(
    out: &mut impl Write,
    scenario: Scenario,
    script: &[Line],
    options: &ReplayOptions,
) -> std::io::Result<()> {
    replay_each(scenario, script, options, |f| f.write_to(out))
}

/// Run the script and write each frame, as soon as it is drawn, to its own file in a new
/// folder `dir`, which is built under a temporary name and renamed into place at the end
/// (`files::write_atomic_dir`), so a failure or an interruption leaves nothing behind. An
/// existing folder is refused before anything is drawn.
pub fn write_frames(
    dir: &Path,
    scenario: Scenario,
    script: &[Line],
    options: &ReplayOptions,
) -> Result<(), OutputError> {
    let extension = match options.format {
        FrameFormat::Text => "txt",
        FrameFormat::Ansi => "ans",
    };
    crate::files::write_atomic_dir(dir, |tmp| {
        replay_each(scenario, script, options, |f| {
            // Ctrl+C, SIGTERM: stop here, so that the temporary folder is removed.
            crate::files::stop_if_interrupted()?;
            let path = tmp.join(format!("frame-{:04}.{extension}", f.number));
            let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
            f.write_to(&mut file)?;
            file.into_inner().map_err(|e| e.into_error())?;
            Ok(())
        })
    })
}
