//! The interactive debugger (Elm architecture): state + key → new state; state → frame.

use crate::scenario::Scenario;

/// Run the TUI on a scenario until the user quits.
pub fn run_interactive(scenario: Scenario) -> Result<(), String> {
    // Placeholder while the TUI is being built: report what would be opened.
    Err(format!(
        "the interactive debugger is not built yet; try `deltascope check` or `deltascope export` on {}",
        scenario.name
    ))
}
