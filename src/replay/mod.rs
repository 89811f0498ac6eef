//! `deltascope replay`: drive the debugger from a key script, headless, through the same
//! `update` and `view` as the interactive session, and print the frames it draws.

pub mod frame;
pub mod script;

use std::path::Path;

use ratatui::Terminal;
use ratatui::backend::TestBackend;

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

fn render(terminal: &mut Terminal<TestBackend>, state: &State, format: FrameFormat) -> String {
    let completed = terminal
        .draw(|frame| crate::ui::view(state, frame))
        .expect("drawing to a TestBackend cannot fail");
    match format {
        FrameFormat::Text => frame::to_text(completed.buffer),
        FrameFormat::Ansi => frame::to_ansi(completed.buffer),
    }
}

/// Run the script and return the frames to print. A quit key ends the replay.
pub fn replay(scenario: Scenario, script: &[Line], options: &ReplayOptions) -> Vec<RenderedFrame> {
    let (width, height) = options.size;
    let mut terminal =
        Terminal::new(TestBackend::new(width, height)).expect("a TestBackend terminal");
    let mut state = State::new(scenario, options.config);
    state.compare = options.compare.clone();
    let mut frames = Vec::new();
    let push = |frames: &mut Vec<RenderedFrame>, title: String, body: String| {
        let number = frames.len();
        frames.push(RenderedFrame {
            number,
            title: format!("frame {number} · {title}"),
            body,
        });
    };
    if !options.only_snaps {
        let body = render(&mut terminal, &state, options.format);
        push(&mut frames, "start".into(), body);
    }
    for line in script {
        let title = format!("line {}: {}", line.number, line.text);
        match &line.command {
            Command::Key { key, repeat } => {
                let mut quit = false;
                for _ in 0..*repeat {
                    if handle_key(&mut state, *key) {
                        quit = true;
                        break;
                    }
                }
                if quit {
                    if !options.only_snaps {
                        push(&mut frames, format!("{title} (quit)"), String::new());
                    }
                    break;
                }
                if !options.only_snaps {
                    let body = render(&mut terminal, &state, options.format);
                    push(&mut frames, title, body);
                }
            }
            Command::Resize { width, height } => {
                terminal.backend_mut().resize(*width, *height);
                if !options.only_snaps {
                    let body = render(&mut terminal, &state, options.format);
                    push(&mut frames, title, body);
                }
            }
            Command::Snap { .. } => {
                if options.only_snaps {
                    let body = render(&mut terminal, &state, options.format);
                    push(&mut frames, title, body);
                }
            }
        }
    }
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

/// Write one file per frame into a new folder `dir`, built under a temporary name and
/// renamed into place, so a failure leaves nothing behind. An existing folder is refused.
pub fn write_frames(
    dir: &Path,
    frames: &[RenderedFrame],
    format: FrameFormat,
) -> Result<(), String> {
    if dir.exists() {
        return Err(format!(
            "{}: already exists; give a new folder for the frames",
            dir.display()
        ));
    }
    let name = dir
        .file_name()
        .ok_or_else(|| format!("{}: not a folder name", dir.display()))?;
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let tmp = parent.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let extension = match format {
        FrameFormat::Text => "txt",
        FrameFormat::Ansi => "ans",
    };
    let result = (|| -> std::io::Result<()> {
        std::fs::create_dir(&tmp)?;
        for f in frames {
            let text = format!("{}\n{}", f.header(), f.body);
            std::fs::write(tmp.join(format!("frame-{:04}.{extension}", f.number)), text)?;
        }
        std::fs::rename(&tmp, dir)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(format!("cannot write frames to {}: {e}", dir.display()));
    }
    Ok(())
}
