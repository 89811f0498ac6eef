//! Everything the debugger shows follows from this state; `update` changes it, `view` draws it.

use std::rc::Rc;
use std::sync::Arc;

use crate::check::CheckReport;
use crate::diff::Comparison;
use crate::engine::TensorName;
use crate::explain::{self, CellRef, Explanation};
use crate::scenario::Scenario;
use crate::timeline::{Event, Node, Position, Timeline};

use super::keymap::Context;
use super::maps::{self, NodeMaps, ViewCache};

/// How colours are drawn; chosen once from the environment, never read by the view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColorMode {
    /// 24-bit colour.
    TrueColor,
    /// The xterm 256-colour palette.
    Indexed,
    /// The 16 ANSI colours.
    Ansi16,
    /// No colour at all (NO_COLOR, a dumb or monochrome terminal): glyphs, signs, bold and reverse.
    Mono,
}

impl ColorMode {
    /// NO_COLOR (any non-empty value) wins; then COLORTERM/TERM as crossterm reads them.
    pub fn from_env() -> Self {
        if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
            return ColorMode::Mono;
        }
        if std::env::var("TERM").is_ok_and(|t| t == "dumb") {
            return ColorMode::Mono;
        }
        match ratatui::crossterm::style::available_color_count() {
            n if n > 256 => ColorMode::TrueColor,
            256 => ColorMode::Indexed,
            n if n >= 8 => ColorMode::Ansi16,
            _ => ColorMode::Mono,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    pub color: ColorMode,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            color: ColorMode::TrueColor,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Focus {
    Pipeline,
    Map,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overlay {
    Help,
    Check,
}

/// The cell cursor: a cell of one map of one tensor of the selected node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    pub tensor: TensorName,
    /// The channel, kernel (or kernel·channel for weight grids).
    pub map: usize,
    pub row: usize,
    pub col: usize,
}

impl Default for Cursor {
    fn default() -> Self {
        Cursor {
            tensor: TensorName::Input,
            map: 0,
            row: 0,
            col: 0,
        }
    }
}

/// The numeric gradient check, computed on request for the parameters of one step.
#[derive(Clone, Debug)]
pub struct CheckResult {
    pub step: usize,
    pub report: CheckReport,
}

#[derive(Clone, Debug)]
pub struct State {
    pub name: String,
    pub description: Option<String>,
    pub timeline: Timeline,
    pub pos: Position,
    pub selected: Node,
    /// The selection follows the current event until the user moves it.
    pub follow: bool,
    pub focus: Focus,
    /// What the user asked for; `cursor()` resolves it against what is shown.
    pub cursor: Cursor,
    pub overlay: Option<Overlay>,
    pub overlay_scroll: usize,
    pub inspector_scroll: usize,
    pub check: Option<CheckResult>,
    /// A one-line message about the last action (e.g. "already at the start").
    pub status: Option<String>,
    pub config: Config,
    pub quit: bool,
    /// The user's own numbers, shown beside the reference (`--compare`).
    pub compare: Option<Arc<Comparison>>,
    /// The scenario's description is shown in the inspector until the first key that
    /// moves something.
    pub intro: bool,
    /// Summaries and masks the view derives from the timeline, kept across frames.
    pub cache: ViewCache,
}

/// The cursor resolved against the tensors shown: the tensor's position in the list, and
/// a cursor whose indices are in range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resolved {
    pub tensor_index: usize,
    pub cursor: Cursor,
}

impl State {
    pub fn new(scenario: Scenario, config: Config) -> Self {
        let timeline = Timeline::new(scenario.model, scenario.steps);
        let mut state = State {
            name: scenario.name,
            description: scenario.description,
            timeline,
            pos: Position::default(),
            selected: Node::Layer(0),
            follow: true,
            focus: Focus::Pipeline,
            cursor: Cursor::default(),
            overlay: None,
            overlay_scroll: 0,
            inspector_scroll: 0,
            check: None,
            status: None,
            config,
            quit: false,
            compare: None,
            intro: true,
            cache: ViewCache::default(),
        };
        state.cursor.tensor = super::update::preferred_tensor(&state, state.selected);
        state
    }

    pub fn event(&self) -> Event {
        self.timeline.event(self.pos)
    }

    /// The node the current event is about (the update is about no single layer).
    pub fn event_node(&self) -> Option<Node> {
        match self.event() {
            Event::Forward(i) | Event::Backward(i) => Some(Node::Layer(i)),
            Event::Loss => Some(Node::Loss),
            Event::Update => None,
        }
    }

    /// Nodes in pipeline order: every layer, then the loss.
    pub fn nodes(&self) -> Vec<Node> {
        let mut v: Vec<Node> = (0..self.timeline.layer_count()).map(Node::Layer).collect();
        v.push(Node::Loss);
        v
    }

    pub fn node_index(&self, node: Node) -> usize {
        match node {
            Node::Layer(i) => i,
            Node::Loss => self.timeline.layer_count(),
        }
    }

    pub fn node_name(&self, node: Node) -> String {
        match node {
            Node::Layer(i) => self.timeline.model(0).layers[i].name.clone(),
            Node::Loss => "loss".into(),
        }
    }

    /// The key contexts active now, most specific first.
    pub fn key_contexts(&self) -> Vec<Context> {
        let overlay = self.overlay.map(|o| match o {
            Overlay::Help => Context::Help,
            Overlay::Check => Context::Check,
        });
        let focus = match self.focus {
            Focus::Pipeline => Context::Pipeline,
            Focus::Map => Context::Map,
        };
        super::keymap::active_contexts(overlay, focus)
    }

    /// Show the user's numbers beside the reference.
    pub fn with_comparison(mut self, comparison: Comparison) -> Self {
        self.compare = Some(Arc::new(comparison));
        self
    }

    /// The maps of the selected node at the current position, with the user's values
    /// where `--compare` gave them.
    pub fn maps(&self) -> NodeMaps<'_> {
        let mut maps = maps::node_maps(&self.timeline, &self.cache, self.pos, self.selected);
        if let Some(c) = &self.compare {
            let layer = match self.selected {
                Node::Layer(l) => Some(l),
                Node::Loss => None,
            };
            for t in &mut maps.tensors {
                t.yours = match (t.name, layer) {
                    // The switch mask is derived from the switches: the user's from theirs.
                    (TensorName::Mask, Some(l)) => self.cache.your_mask(self.pos.step, l, || {
                        let s = maps::switches(&self.timeline, c, self.pos.step, l)?;
                        Some(Rc::new(s.your_mask()))
                    }),
                    _ => c
                        .aligned(self.pos.step, layer, t.name, &t.data.view())
                        .map(Rc::new),
                };
            }
        }
        maps
    }

    /// The cursor clamped to what is shown: its tensor if visible, otherwise the first one.
    pub fn cursor(&self) -> Option<Resolved> {
        resolve(&self.maps(), self.cursor)
    }

    /// The cell under the cursor.
    pub fn cursor_cell(&self) -> Option<CellRef> {
        let maps = self.maps();
        let r = resolve(&maps, self.cursor)?;
        let t = &maps.tensors[r.tensor_index];
        let index = t.shape.index(r.cursor.map, r.cursor.row, r.cursor.col)?;
        Some(CellRef::new(self.selected, t.name, &index))
    }

    /// The derivation of the cell under the cursor.
    pub fn explanation(&self) -> Option<Explanation> {
        let ctx = maps::context(&self.timeline, self.pos)?;
        explain::explain(&ctx, &self.cursor_cell()?)
    }
}

/// Clamp a cursor to the maps shown.
pub fn resolve(maps: &NodeMaps<'_>, cursor: Cursor) -> Option<Resolved> {
    let tensor_index = maps.position(cursor.tensor).unwrap_or(0);
    let t = maps.tensors.get(tensor_index)?;
    let (h, w) = t.shape.map_dims();
    let mut c = Cursor {
        tensor: t.name,
        map: cursor.map.min(t.shape.map_count().saturating_sub(1)),
        row: cursor.row.min(h.saturating_sub(1)),
        col: cursor.col.min(w.saturating_sub(1)),
    };
    // The last row of a vector may be short.
    while c.col > 0 && t.shape.index(c.map, c.row, c.col).is_none() {
        c.col -= 1;
    }
    Some(Resolved {
        tensor_index,
        cursor: c,
    })
}
