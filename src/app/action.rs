//! What a key asks for. Keys map to actions through the one table in `keymap`; `update`
//! applies an action to the state.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// The next event: forward through a layer, the loss, backward through a layer, the update.
    NextEvent,
    /// The previous event (a true step back, down to the very start).
    PrevEvent,
    /// The same event of the next training step.
    NextStep,
    /// The same event of the previous training step.
    PrevStep,
    /// The first event of the first step.
    Start,
    /// The last event of the last planned step.
    End,
    /// Run this many more training steps than planned.
    RunMore(usize),
    NextLayer,
    PrevLayer,
    /// Let the layer selection follow the current event again.
    Follow,
    /// Move the focus between the pipeline and the maps.
    ToggleFocus,
    CursorLeft,
    CursorRight,
    CursorUp,
    CursorDown,
    /// The next tensor of the selected layer (z, a, δz, …).
    NextMap,
    PrevMap,
    /// The next channel or kernel of the cursor's tensor.
    NextChannel,
    PrevChannel,
    InspectorDown,
    InspectorUp,
    ToggleHelp,
    ToggleCheck,
    CloseOverlay,
    OverlayDown,
    OverlayUp,
    Quit,
}
