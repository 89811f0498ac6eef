//! The one key table. It drives dispatch (`lookup`), the footer hints (`footer`) and the
//! help overlay (`BINDINGS` grouped by context), so the three never disagree. docs/keys.md
//! is generated from it too (`markdown`), and a test keeps the file in step.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::action::Action;

/// Where a binding applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Context {
    /// Everywhere, overlays included.
    Always,
    /// Whenever no overlay is open.
    Global,
    /// When the pipeline has the focus.
    Pipeline,
    /// When the maps have the focus.
    Map,
    /// While the help overlay is open.
    Help,
    /// While the gradient-check overlay is open.
    Check,
}

impl Context {
    pub fn title(self) -> &'static str {
        match self {
            Context::Always => "Anywhere",
            Context::Global => "Time, layers and panes",
            Context::Pipeline => "Pipeline focus",
            Context::Map => "Map focus (cell cursor)",
            Context::Help => "Help overlay",
            Context::Check => "Gradient-check overlay",
        }
    }
}

/// A key: a code, and whether Ctrl is held. Shift is part of the character ('G', '?').
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Key {
    pub code: KeyCode,
    pub ctrl: bool,
}

const fn ch(c: char) -> Key {
    Key {
        code: KeyCode::Char(c),
        ctrl: false,
    }
}

const fn code(code: KeyCode) -> Key {
    Key { code, ctrl: false }
}

const fn ctrl(c: char) -> Key {
    Key {
        code: KeyCode::Char(c),
        ctrl: true,
    }
}

impl Key {
    pub fn matches(&self, event: &KeyEvent) -> bool {
        let ctrl = event.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl != self.ctrl || event.modifiers.contains(KeyModifiers::ALT) {
            return false;
        }
        match (self.code, event.code) {
            // Shift arrives either folded into the character or as a modifier.
            (KeyCode::Char(a), KeyCode::Char(b)) => {
                // Shift+g may arrive as 'g' with SHIFT rather than as 'G'.
                let shifted = event.modifiers.contains(KeyModifiers::SHIFT) && b.is_lowercase();
                if shifted {
                    b.to_uppercase().eq(a.to_uppercase()) && a.is_uppercase()
                } else {
                    a == b
                }
            }
            (KeyCode::BackTab, KeyCode::Tab) => event.modifiers.contains(KeyModifiers::SHIFT),
            (KeyCode::Tab, KeyCode::Tab) => !event.modifiers.contains(KeyModifiers::SHIFT),
            (a, b) => a == b,
        }
    }

    pub fn label(&self) -> String {
        let base = match self.code {
            KeyCode::Char(' ') => "Space".to_string(),
            KeyCode::Char(c) => c.to_string(),
            KeyCode::Backspace => "Backspace".into(),
            KeyCode::Enter => "Enter".into(),
            KeyCode::Left => "←".into(),
            KeyCode::Right => "→".into(),
            KeyCode::Up => "↑".into(),
            KeyCode::Down => "↓".into(),
            KeyCode::Home => "Home".into(),
            KeyCode::End => "End".into(),
            KeyCode::PageUp => "PgUp".into(),
            KeyCode::PageDown => "PgDn".into(),
            KeyCode::Tab => "Tab".into(),
            KeyCode::BackTab => "Shift+Tab".into(),
            KeyCode::Esc => "Esc".into(),
            other => format!("{other:?}"),
        };
        if self.ctrl {
            format!("Ctrl+{}", base.to_uppercase())
        } else {
            base
        }
    }
}

/// One row of the key table.
#[derive(Clone, Copy, Debug)]
pub struct Binding {
    pub context: Context,
    pub keys: &'static [Key],
    pub action: Action,
    pub description: &'static str,
    /// The short hint shown in the footer, if any.
    pub footer: Option<&'static str>,
}

const fn bind(
    context: Context,
    keys: &'static [Key],
    action: Action,
    description: &'static str,
    footer: Option<&'static str>,
) -> Binding {
    Binding {
        context,
        keys,
        action,
        description,
        footer,
    }
}

use Action as A;
use Context as C;

/// Every key of the debugger. Earlier rows win when two could match.
pub const BINDINGS: &[Binding] = &[
    bind(C::Always, &[ctrl('c')], A::Quit, "quit", None),
    // Time
    bind(
        C::Global,
        &[ch('n'), ch(' ')],
        A::NextEvent,
        "next event (forward through each layer, loss, backward through each layer, update)",
        Some("n/p event"),
    ),
    bind(
        C::Global,
        &[ch('p'), code(KeyCode::Backspace)],
        A::PrevEvent,
        "previous event (a true step back, down to the very start)",
        None,
    ),
    bind(
        C::Global,
        &[ch(']'), ch('N')],
        A::NextStep,
        "next training step (same event)",
        Some("]/[ step"),
    ),
    bind(
        C::Global,
        &[ch('['), ch('P')],
        A::PrevStep,
        "previous training step (same event)",
        None,
    ),
    bind(
        C::Global,
        &[ch('g'), code(KeyCode::Home)],
        A::Start,
        "start: the first event of step 0",
        Some("g/G start/end"),
    ),
    bind(
        C::Global,
        &[ch('G'), code(KeyCode::End)],
        A::End,
        "end: the update of the last planned step",
        None,
    ),
    bind(
        C::Global,
        &[ch('+')],
        A::RunMore(1),
        "run one more training step than planned",
        Some("+ train"),
    ),
    bind(
        C::Global,
        &[ch('*')],
        A::RunMore(10),
        "run ten more training steps than planned",
        None,
    ),
    // Space
    bind(
        C::Global,
        &[code(KeyCode::Tab)],
        A::NextLayer,
        "next layer (stops following the event)",
        Some("Tab layer"),
    ),
    bind(
        C::Global,
        &[code(KeyCode::BackTab)],
        A::PrevLayer,
        "previous layer (stops following the event)",
        None,
    ),
    bind(
        C::Global,
        &[ch('f')],
        A::Follow,
        "selection follows the current event again",
        None,
    ),
    bind(
        C::Global,
        &[code(KeyCode::Enter)],
        A::ToggleFocus,
        "move the focus between the pipeline and the maps",
        Some("Enter focus"),
    ),
    bind(
        C::Global,
        &[ch('m')],
        A::NextMap,
        "cursor to the next tensor of the layer (z, a, δz, …)",
        Some("m/c map/chan"),
    ),
    bind(
        C::Global,
        &[ch('M')],
        A::PrevMap,
        "cursor to the previous tensor of the layer",
        None,
    ),
    bind(
        C::Global,
        &[ch('c')],
        A::NextChannel,
        "cursor to the next channel or kernel",
        None,
    ),
    bind(
        C::Global,
        &[ch('C')],
        A::PrevChannel,
        "cursor to the previous channel or kernel",
        None,
    ),
    bind(
        C::Global,
        &[ch('J'), code(KeyCode::PageDown)],
        A::InspectorDown,
        "scroll the inspector's terms down",
        None,
    ),
    bind(
        C::Global,
        &[ch('K'), code(KeyCode::PageUp)],
        A::InspectorUp,
        "scroll the inspector's terms up",
        None,
    ),
    bind(
        C::Global,
        &[ch('x')],
        A::ToggleCheck,
        "numeric gradient check of the selected layer",
        Some("x check"),
    ),
    bind(
        C::Global,
        &[ch('?')],
        A::ToggleHelp,
        "this help",
        Some("? help"),
    ),
    bind(
        C::Global,
        &[ch('q'), code(KeyCode::Esc)],
        A::Quit,
        "quit (with an overlay open, q and Esc close it instead)",
        Some("q quit"),
    ),
    // Pipeline focus
    bind(
        C::Pipeline,
        &[code(KeyCode::Right), code(KeyCode::Down), ch('l'), ch('j')],
        A::NextLayer,
        "next layer",
        Some("←→ layer"),
    ),
    bind(
        C::Pipeline,
        &[code(KeyCode::Left), code(KeyCode::Up), ch('h'), ch('k')],
        A::PrevLayer,
        "previous layer",
        None,
    ),
    // Map focus
    bind(
        C::Map,
        &[code(KeyCode::Left), ch('h')],
        A::CursorLeft,
        "cell cursor left",
        Some("hjkl/arrows cell"),
    ),
    bind(
        C::Map,
        &[code(KeyCode::Right), ch('l')],
        A::CursorRight,
        "cell cursor right",
        None,
    ),
    bind(
        C::Map,
        &[code(KeyCode::Up), ch('k')],
        A::CursorUp,
        "cell cursor up",
        None,
    ),
    bind(
        C::Map,
        &[code(KeyCode::Down), ch('j')],
        A::CursorDown,
        "cell cursor down",
        None,
    ),
    // Overlays
    bind(
        C::Help,
        &[ch('?'), ch('q'), code(KeyCode::Esc)],
        A::CloseOverlay,
        "close the help",
        Some("?/Esc close"),
    ),
    bind(
        C::Help,
        &[code(KeyCode::Down), ch('j')],
        A::OverlayDown,
        "scroll down",
        Some("j/k scroll"),
    ),
    bind(
        C::Help,
        &[code(KeyCode::Up), ch('k')],
        A::OverlayUp,
        "scroll up",
        None,
    ),
    bind(
        C::Check,
        &[ch('x'), ch('q'), code(KeyCode::Esc)],
        A::CloseOverlay,
        "close the gradient check",
        Some("x/Esc close"),
    ),
    bind(
        C::Check,
        &[code(KeyCode::Tab), code(KeyCode::Right), ch('l')],
        A::NextLayer,
        "the check of the next layer (the selection moves with it)",
        Some("Tab/←→ layer"),
    ),
    bind(
        C::Check,
        &[code(KeyCode::BackTab), code(KeyCode::Left), ch('h')],
        A::PrevLayer,
        "the check of the previous layer (the selection moves with it)",
        None,
    ),
    bind(
        C::Check,
        &[code(KeyCode::Down), ch('j')],
        A::OverlayDown,
        "scroll down",
        Some("j/k scroll"),
    ),
    bind(
        C::Check,
        &[code(KeyCode::Up), ch('k')],
        A::OverlayUp,
        "scroll up",
        None,
    ),
];

/// The contexts active, most specific first.
pub fn active_contexts(overlay: Option<Context>, focus: Context) -> Vec<Context> {
    match overlay {
        Some(o) => vec![C::Always, o],
        None => vec![C::Always, focus, C::Global],
    }
}

/// The action bound to a key in the given contexts.
pub fn lookup(contexts: &[Context], event: &KeyEvent) -> Option<Action> {
    contexts.iter().find_map(|&context| {
        BINDINGS
            .iter()
            .filter(|b| b.context == context)
            .find(|b| b.keys.iter().any(|k| k.matches(event)))
            .map(|b| b.action)
    })
}

/// The footer hints for the given contexts, in table order.
pub fn footer(contexts: &[Context]) -> Vec<&'static str> {
    BINDINGS
        .iter()
        .filter(|b| contexts.contains(&b.context))
        .filter_map(|b| b.footer)
        .collect()
}

/// "n, Space"
pub fn keys_label(binding: &Binding) -> String {
    binding
        .keys
        .iter()
        .map(Key::label)
        .collect::<Vec<_>>()
        .join(", ")
}

/// All contexts in the order the help lists them.
pub const CONTEXTS: [Context; 6] = [C::Global, C::Pipeline, C::Map, C::Help, C::Check, C::Always];

/// The key table as Markdown (docs/keys.md).
pub fn markdown() -> String {
    let mut out = String::from(
        "# Keys\n\nGenerated from the key table in `src/app/keymap.rs`, which also drives the footer and the `?` help; \
         `cargo test` checks that this file matches it.\n",
    );
    for context in CONTEXTS {
        out.push_str(&format!(
            "\n## {}\n\n| keys | action |\n| --- | --- |\n",
            context.title()
        ));
        for b in BINDINGS.iter().filter(|b| b.context == context) {
            let keys: Vec<String> = b.keys.iter().map(|k| format!("`{}`", k.label())).collect();
            out.push_str(&format!("| {} | {} |\n", keys.join(" "), b.description));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::crossterm::event::KeyEvent;

    fn key(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, modifiers)
    }

    #[test]
    fn ctrl_c_quits_everywhere_and_c_is_a_channel_key() {
        let ctrl_c = key(KeyCode::Char('c'), KeyModifiers::CONTROL);
        for overlay in [None, Some(C::Help), Some(C::Check)] {
            assert_eq!(
                lookup(&active_contexts(overlay, C::Map), &ctrl_c),
                Some(A::Quit)
            );
        }
        let c = key(KeyCode::Char('c'), KeyModifiers::NONE);
        assert_eq!(
            lookup(&active_contexts(None, C::Map), &c),
            Some(A::NextChannel)
        );
    }

    #[test]
    fn shift_letters_match_either_way_terminals_report_them() {
        let contexts = active_contexts(None, C::Pipeline);
        assert_eq!(
            lookup(&contexts, &key(KeyCode::Char('G'), KeyModifiers::SHIFT)),
            Some(A::End)
        );
        assert_eq!(
            lookup(&contexts, &key(KeyCode::Char('G'), KeyModifiers::NONE)),
            Some(A::End)
        );
        assert_eq!(
            lookup(&contexts, &key(KeyCode::Char('g'), KeyModifiers::SHIFT)),
            Some(A::End)
        );
        assert_eq!(
            lookup(&contexts, &key(KeyCode::Char('g'), KeyModifiers::NONE)),
            Some(A::Start)
        );
        assert_eq!(
            lookup(&contexts, &key(KeyCode::BackTab, KeyModifiers::SHIFT)),
            Some(A::PrevLayer)
        );
        assert_eq!(
            lookup(&contexts, &key(KeyCode::Tab, KeyModifiers::SHIFT)),
            Some(A::PrevLayer)
        );
    }

    #[test]
    fn arrows_depend_on_the_focus() {
        let right = key(KeyCode::Right, KeyModifiers::NONE);
        assert_eq!(
            lookup(&active_contexts(None, C::Pipeline), &right),
            Some(A::NextLayer)
        );
        assert_eq!(
            lookup(&active_contexts(None, C::Map), &right),
            Some(A::CursorRight)
        );
    }

    #[test]
    fn no_key_is_bound_twice_in_contexts_that_are_active_together() {
        for focus in [C::Pipeline, C::Map] {
            let contexts = active_contexts(None, focus);
            let mut seen: Vec<(Key, Context)> = Vec::new();
            for b in BINDINGS.iter().filter(|b| contexts.contains(&b.context)) {
                for k in b.keys {
                    if let Some((_, other)) = seen.iter().find(|(s, _)| s == k) {
                        // A focus binding may shadow a global one on purpose only if they differ in context.
                        assert_ne!(
                            *other,
                            b.context,
                            "{} bound twice in {:?}",
                            k.label(),
                            b.context
                        );
                    }
                    seen.push((*k, b.context));
                }
            }
        }
    }

    #[test]
    fn esc_closes_an_overlay_instead_of_quitting() {
        let esc = key(KeyCode::Esc, KeyModifiers::NONE);
        assert_eq!(
            lookup(&active_contexts(Some(C::Help), C::Map), &esc),
            Some(A::CloseOverlay)
        );
        assert_eq!(lookup(&active_contexts(None, C::Map), &esc), Some(A::Quit));
    }
}
