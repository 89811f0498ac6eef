//! The interactive debugger, in the manner of the Elm architecture: `update` turns state +
//! key into new state, `ui::view` turns state into a frame, and the loop below only reads
//! terminal events and draws. Scripted replays and tests drive the same two functions.

pub mod action;
pub mod keymap;
pub mod maps;
pub mod state;
pub mod update;

use std::io::IsTerminal;

use ratatui::crossterm::event::{self, Event};

use crate::diff::Comparison;
use crate::error::TerminalError;
use crate::scenario::Scenario;

pub use action::Action;
pub use state::{ColorMode, Config, Focus, Overlay, State};
pub use update::{handle_key, update};

/// Run the TUI on a scenario until the user quits.
/// With `compare`, the user's own numbers are shown beside the reference.
pub fn run_interactive(
    scenario: Scenario,
    compare: Option<Comparison>,
) -> Result<(), TerminalError> {
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        return Err(TerminalError::NotATerminal);
    }
    let config = Config {
        color: ColorMode::from_env(),
    };
    let mut state = State::new(scenario, config);
    if let Some(c) = compare {
        state = state.with_comparison(c);
    }
    // try_init installs a panic hook that restores the terminal; errors restore it here.
    let mut terminal = match ratatui::try_init() {
        Ok(t) => t,
        Err(e) => {
            ratatui::restore();
            return Err(TerminalError::Setup(e));
        }
    };
    // ratatui's hook leaves raw mode and the alternate screen but not the hidden cursor
    // (only Terminal's Drop shows it, which a panic elsewhere does not run): show it too.
    let restore = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = ratatui::crossterm::execute!(std::io::stdout(), ratatui::crossterm::cursor::Show);
        restore(info)
    }));
    let result = run_loop(&mut terminal, &mut state);
    ratatui::restore();
    result.map_err(TerminalError::Io)
}

fn run_loop(terminal: &mut ratatui::DefaultTerminal, state: &mut State) -> std::io::Result<()> {
    loop {
        terminal.draw(|frame| crate::ui::view(state, frame))?;
        // A resize redraws on the next pass; other events are ignored.
        if let Event::Key(key) = event::read()?
            && handle_key(state, key)
        {
            return Ok(());
        }
    }
}
