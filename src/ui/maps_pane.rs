//! The main pane: the selected node's tensors as heatmaps, one small map per channel or
//! kernel, packed into bands. The group holding the cursor (forward, backward or the
//! update) gets the widest cells that fit; the other groups shrink, and fold to one line
//! if they must. Every block keeps its title and its map labels; when the pane cannot
//! hold every band, it shows the bands around the cursor and names the tensors it leaves
//! out ("↓ more: ∂w ∂b (m)").
//!
//! Kernel grids (a conv layer's w and ∂w, kernels × channels) are drawn as one row of
//! maps per kernel, channels across, labelled k0… down the side and c0… along the top,
//! and page (c/C) by kernels.

use std::collections::{HashMap, HashSet};

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use super::heatmap::{self, Heatmap};
use super::theme::Theme;
use crate::app::maps::{MapTensor, Phase, Shape};
use crate::app::state::Resolved;
use crate::engine::TensorName;

/// Columns between two maps or blocks.
pub const GAP: u16 = 2;
/// Columns between the channel maps of one kernel in a kernel grid.
pub const GRID_GAP: u16 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Group {
    Forward,
    Backward,
    Update,
}

impl Group {
    pub fn of(phase: Phase) -> Group {
        match phase {
            Phase::Param | Phase::Forward => Group::Forward,
            Phase::Backward => Group::Backward,
            Phase::Update => Group::Update,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Group::Forward => "forward",
            Group::Backward => "backward",
            Group::Update => "after the update",
        }
    }
}

/// The group a tensor is drawn in. A pool's mask is computed by the forward pass but is
/// what the backward pass routes δ through: once δ has reached the pool it is drawn with
/// the δ maps, first, so that switch, δy and δx sit together.
fn group_of(tensors: &[MapTensor<'_>], i: usize) -> Group {
    let t = &tensors[i];
    if t.name == TensorName::Mask && tensors.iter().any(|t| t.phase == Phase::Backward) {
        Group::Backward
    } else {
        Group::of(t.phase)
    }
}

/// How wide the cells of a group are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Width {
    /// Wide enough for the numbers (per tensor, see `heatmap::number_cell_width`).
    Number,
    Two,
    One,
}

impl Width {
    fn cells(self, t: &MapTensor<'_>, mono: bool) -> u16 {
        match self {
            Width::Number => heatmap::number_cell_width(t, mono),
            Width::Two => 2,
            Width::One => 1,
        }
    }
}

/// How the maps of a block are arranged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrangement {
    /// Maps side by side, `per_row` to a row; a label above each when `labels`.
    Flow { per_row: usize, labels: bool },
    /// A kernel grid: one row of `channels` maps per kernel, the kernel labels in a column
    /// of `row_label` characters at the left, the channel labels in a row above; kernels
    /// run down `per_column` to a column, in columns side by side when there is room.
    Grid {
        channels: usize,
        row_label: u16,
        per_column: usize,
    },
}

/// Where one tensor is drawn, relative to the top-left of the content.
#[derive(Clone, Debug, PartialEq)]
pub struct BlockPlan {
    pub tensor: usize,
    pub x: u16,
    pub y: u16,
    pub w: u16,
    pub h: u16,
    pub cell_width: u16,
    pub arrangement: Arrangement,
    /// The first map shown and how many (kernel-major for grids).
    pub first_map: usize,
    pub shown: usize,
    /// Rows and columns of each map shown (a map larger than the pane is cut to a viewport
    /// that follows the cursor).
    pub vis_rows: usize,
    pub vis_cols: usize,
    /// Whether anything is cut: maps paged away or a viewport.
    pub clipped: bool,
}

impl BlockPlan {
    /// Top-left corner of the q-th map shown, relative to the block.
    fn map_origin(&self, q: usize) -> (u16, u16) {
        let map_w = self.vis_cols as u16 * self.cell_width;
        match self.arrangement {
            Arrangement::Flow { per_row, labels } => (
                (q % per_row) as u16 * (map_w + GAP),
                1 + (q / per_row) as u16 * (self.vis_rows as u16 + u16::from(labels)),
            ),
            Arrangement::Grid {
                channels,
                row_label,
                per_column,
            } => {
                let kernel = q / channels;
                let column_w = grid_width(channels, row_label, map_w);
                (
                    (kernel / per_column) as u16 * (column_w + GAP)
                        + row_label
                        + (q % channels) as u16 * (map_w + GRID_GAP),
                    2 + (kernel % per_column) as u16 * self.vis_rows as u16,
                )
            }
        }
    }
}

/// The width of one column of a kernel grid.
fn grid_width(channels: usize, row_label: u16, map_w: u16) -> u16 {
    row_label + channels as u16 * map_w + (channels as u16 - 1) * GRID_GAP
}

/// A line in place of tensors not drawn: a folded group, or the tensors above or below
/// the bands shown.
#[derive(Clone, Debug, PartialEq)]
pub enum InfoKind {
    Folded(Group),
    Above,
    Below,
}

#[derive(Clone, Debug, PartialEq)]
pub struct InfoLine {
    pub kind: InfoKind,
    pub y: u16,
    pub tensors: Vec<usize>,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Plan {
    pub blocks: Vec<BlockPlan>,
    pub lines: Vec<InfoLine>,
    pub height: u16,
}

impl Plan {
    /// The tensors drawn as maps.
    pub fn shown(&self) -> impl Iterator<Item = usize> + '_ {
        self.blocks.iter().map(|b| b.tensor)
    }
}

/// A label that fits in `width` columns: the whole name ("c12"), else its number ("12"),
/// else nothing; never a name cut in the middle.
pub fn fitting_label(full: &str, number: usize, width: usize) -> String {
    if full.chars().count() <= width {
        full.to_string()
    } else if number.to_string().len() <= width {
        number.to_string()
    } else {
        String::new()
    }
}

/// Whether a tensor is drawn as a kernel grid (kernels × channels, more than one channel).
fn is_grid(t: &MapTensor<'_>) -> Option<(usize, usize)> {
    match t.shape {
        Shape::Grid { k, c, .. } if c > 1 => Some((k, c)),
        _ => None,
    }
}

/// The width of a block's title: the symbol and the legend (the dimensions and the page
/// are added only when they fit).
fn title_width(t: &MapTensor<'_>) -> u16 {
    (t.symbol.chars().count() + 2 + heatmap::legend(t).chars().count()) as u16
}

/// Plan one tensor's block at cell width `cw` in at most `area_w`×`area_h`.
fn block(
    tensor: usize,
    t: &MapTensor<'_>,
    cw: u16,
    area_w: u16,
    area_h: u16,
    cursor_map: usize,
) -> BlockPlan {
    let (mh, mw) = t.shape.map_dims();
    let n = t.shape.map_count().max(1);
    let cw = cw.max(1);
    let vis_cols = mw.min((area_w / cw).max(1) as usize).max(1);
    let map_w = vis_cols as u16 * cw;
    if let Some((k, c)) = is_grid(t) {
        let row_label = format!("k{}", k - 1).len() as u16 + 1;
        let column_w = grid_width(c, row_label, map_w);
        if column_w <= area_w {
            // Title and channel labels, then kernels of vis_rows rows each, in as few
            // columns as hold them all, or pages of as many as fit.
            let vis_rows = mh.min(area_h.saturating_sub(2).max(1) as usize).max(1);
            let fit_down = (area_h.saturating_sub(2) as usize / vis_rows).clamp(1, k);
            let max_columns = (((area_w + GAP) / (column_w + GAP)) as usize).max(1);
            let columns = k.div_ceil(fit_down).min(max_columns);
            let per_column = k.div_ceil(columns).min(fit_down);
            let per_page = per_column * columns;
            let cursor_kernel = (cursor_map / c).min(k - 1);
            let first_kernel = (cursor_kernel / per_page) * per_page;
            let kernels = per_page.min(k - first_kernel);
            let used_columns = kernels.div_ceil(per_column) as u16;
            return BlockPlan {
                tensor,
                x: 0,
                y: 0,
                w: (used_columns * (column_w + GAP) - GAP)
                    .max(title_width(t))
                    .min(area_w),
                h: 2 + (kernels.min(per_column) * vis_rows) as u16,
                cell_width: cw,
                arrangement: Arrangement::Grid {
                    channels: c,
                    row_label,
                    per_column,
                },
                first_map: first_kernel * c,
                shown: kernels * c,
                vis_rows,
                vis_cols,
                clipped: vis_rows < mh || vis_cols < mw || kernels < k,
            };
        }
        if cw > 1 {
            // Rows per kernel are worth narrower cells.
            return block(
                tensor,
                t,
                if cw > 2 { 2 } else { 1 },
                area_w,
                area_h,
                cursor_map,
            );
        }
    }
    let labels = n > 1;
    let vis_rows = mh
        .min(area_h.saturating_sub(1 + u16::from(labels)).max(1) as usize)
        .max(1);
    let per_row = n.min(((area_w + GAP) / (map_w + GAP)).max(1) as usize);
    let map_h = vis_rows + usize::from(labels);
    let max_rows = (area_h.saturating_sub(1) as usize / map_h).max(1);
    let rows = n.div_ceil(per_row).min(max_rows);
    let capacity = per_row * rows;
    let first_map = if n > capacity {
        (cursor_map.min(n - 1) / capacity) * capacity
    } else {
        0
    };
    let shown = capacity.min(n - first_map);
    let rows_used = shown.div_ceil(per_row);
    let maps_w = shown.min(per_row) as u16 * (map_w + GAP) - GAP;
    BlockPlan {
        tensor,
        x: 0,
        y: 0,
        w: maps_w.max(title_width(t)).min(area_w),
        h: 1 + (rows_used * map_h) as u16,
        cell_width: cw,
        arrangement: Arrangement::Flow { per_row, labels },
        first_map,
        shown,
        vis_rows,
        vis_cols,
        clipped: vis_rows < mh || vis_cols < mw || shown < n,
    }
}

/// One row of the content: a folded group, or a band of blocks side by side.
#[derive(Clone, Debug)]
enum Item {
    Fold(Group, Vec<usize>),
    Band(Vec<BlockPlan>),
}

impl Item {
    fn height(&self) -> u16 {
        match self {
            Item::Fold(..) => 1,
            Item::Band(blocks) => blocks.iter().map(|b| b.h).max().unwrap_or(0),
        }
    }

    fn tensors(&self) -> Vec<usize> {
        match self {
            Item::Fold(_, ts) => ts.clone(),
            Item::Band(blocks) => blocks.iter().map(|b| b.tensor).collect(),
        }
    }
}

/// Place blocks left to right, wrapping into bands.
fn bands(blocks: Vec<BlockPlan>, area_w: u16) -> Vec<Vec<BlockPlan>> {
    let mut out: Vec<Vec<BlockPlan>> = Vec::new();
    let mut x = 0u16;
    for mut b in blocks {
        if x > 0 && x + b.w > area_w {
            x = 0;
        }
        if x == 0 {
            out.push(Vec::new());
        }
        b.x = x;
        x += b.w + GAP;
        out.last_mut().expect("a band").push(b);
    }
    out
}

/// Lay the tensors out in an area of `w`×`h`, keeping the cursor's block in view. When
/// not everything fits, the tensors named in `related` (those the inspector's terms read)
/// are kept in view before others.
pub fn plan(
    tensors: &[MapTensor<'_>],
    w: u16,
    h: u16,
    cursor: Option<&Resolved>,
    related: &[TensorName],
    mono: bool,
) -> Plan {
    if tensors.is_empty() || w == 0 || h == 0 {
        return Plan::default();
    }
    let mut groups: Vec<(Group, Vec<usize>)> = Vec::new();
    for i in 0..tensors.len() {
        let g = group_of(tensors, i);
        match groups.iter_mut().find(|(gg, _)| *gg == g) {
            Some((_, v)) => v.push(i),
            None => groups.push((g, vec![i])),
        }
    }
    groups.sort_by_key(|(g, _)| *g);
    let cursor_tensor = cursor.map_or(0, |c| c.tensor_index).min(tensors.len() - 1);
    let cursor_map = cursor.map_or(0, |c| c.cursor.map);
    let focus = group_of(tensors, cursor_tensor);
    // Groups other than the cursor's give way in this order when room runs out: the
    // forward maps first (unless the cursor is there), the update, the backward maps last.
    let fold_order: Vec<Group> = [Group::Forward, Group::Update, Group::Backward]
        .into_iter()
        .filter(|g| *g != focus && groups.iter().any(|(gg, _)| gg == g))
        .collect();
    // The narrowest cells: without colour a 1-wide cell loses its sign, so there the
    // cursor's group gets it only as a last resort.
    let narrowest = if mono { Width::Two } else { Width::One };
    let build =
        |focus_w: Width, other_w: Width, folded: &[Group], max_h: u16| -> (Vec<Item>, bool) {
            let mut items = Vec::new();
            let mut acceptable = true;
            for (g, members) in &groups {
                if folded.contains(g) {
                    items.push(Item::Fold(*g, members.clone()));
                    continue;
                }
                let width = if *g == focus { focus_w } else { other_w };
                let blocks: Vec<BlockPlan> = members
                    .iter()
                    .map(|&i| {
                        let t = &tensors[i];
                        let map = if i == cursor_tensor { cursor_map } else { 0 };
                        let b = block(i, t, width.cells(t, mono), w, max_h, map);
                        // Wider cells are only worth it when they cut no more than narrow ones.
                        if width != narrowest
                            && b.clipped
                            && !block(i, t, narrowest.cells(t, mono), w, max_h, map).clipped
                        {
                            acceptable = false;
                        }
                        b
                    })
                    .collect();
                items.extend(bands(blocks, w).into_iter().map(Item::Band));
            }
            (items, acceptable)
        };
    let total = |items: &[Item]| items.iter().map(Item::height).sum::<u16>();
    let widths = [
        (Width::Number, Width::Number),
        (Width::Number, Width::Two),
        (Width::Number, Width::One),
        (Width::Two, Width::Two),
        (Width::Two, Width::One),
        (Width::One, Width::One),
    ];
    // The widest cells for the cursor's group first, with every other group drawn, then
    // with the others folded one by one; then narrower cells the same way.
    for focus_w in [Width::Number, Width::Two, Width::One] {
        for folding in 0..=fold_order.len() {
            // Without colour, 1-wide cells lose their sign: the cursor's group gets them
            // only when nothing else is left to fold.
            if mono && focus_w == Width::One && folding < fold_order.len() {
                continue;
            }
            for &(f, o) in widths.iter().filter(|(f, _)| *f == focus_w) {
                let (items, ok) = build(f, o, &fold_order[..folding], h);
                if ok && total(&items) <= h {
                    return place(items, 0, usize::MAX, h);
                }
            }
        }
    }
    // Not everything fits: the bands around the cursor, with a line for what is left out
    // above and below. The width that shows the most tensors wins; then the widest.
    let mut best: Option<((usize, usize, u8), Plan)> = None;
    let focus_widths = [Width::Number, Width::Two, Width::One];
    for (rank, &f) in focus_widths.iter().enumerate() {
        if mono && f == Width::One && best.is_some() {
            continue;
        }
        for folding in [0, fold_order.len()] {
            let (items, _) = build(
                f,
                narrowest,
                &fold_order[..folding],
                h.saturating_sub(2).max(1),
            );
            let Some(ci) = items
                .iter()
                .position(|it| it.tensors().contains(&cursor_tensor))
            else {
                continue;
            };
            let weight = |i: usize| {
                if related.contains(&tensors[i].name) && i != cursor_tensor {
                    100
                } else {
                    1
                }
            };
            let (a, b) = window(&items, ci, h, &weight);
            let visible: usize = items[a..=b]
                .iter()
                .filter(|it| matches!(it, Item::Band(_)))
                .flat_map(Item::tensors)
                .map(weight)
                .sum();
            let cursor_maps = items[ci..=ci]
                .iter()
                .filter_map(|it| match it {
                    Item::Band(blocks) => blocks.iter().find(|b| b.tensor == cursor_tensor),
                    Item::Fold(..) => None,
                })
                .map(|b| b.shown)
                .sum::<usize>();
            let score = (visible, cursor_maps, (focus_widths.len() - rank) as u8);
            if best.as_ref().is_none_or(|(s, _)| score > *s) {
                best = Some((score, place(items, a, b, h)));
            }
        }
    }
    best.map(|(_, p)| p).unwrap_or_default()
}

/// The items a..=b that fit in `h` rows with the cursor's item `ci`, a line for the
/// items left out above and another for those below: the most tensors (by `weight`),
/// then the most items above the cursor (what the cursor's tensor was computed from).
fn window(items: &[Item], ci: usize, h: u16, weight: &dyn Fn(usize) -> usize) -> (usize, usize) {
    let mut best = (ci, ci);
    let mut best_score = (0usize, 0usize);
    for a in 0..=ci {
        for b in ci..items.len() {
            let lines = u16::from(a > 0) + u16::from(b + 1 < items.len());
            let used: u16 = items[a..=b].iter().map(Item::height).sum::<u16>() + lines;
            if used > h && (a, b) != (ci, ci) {
                continue;
            }
            let tensors: usize = items[a..=b]
                .iter()
                .filter(|it| matches!(it, Item::Band(_)))
                .flat_map(Item::tensors)
                .map(weight)
                .sum();
            let score = (tensors, ci - a);
            if score > best_score || (a, b) == (ci, ci) && best_score == (0, 0) {
                best_score = score;
                best = (a, b);
            }
        }
    }
    best
}

/// Give the items a..=b their rows, with lines for what is left out before and after.
fn place(items: Vec<Item>, a: usize, b: usize, h: u16) -> Plan {
    let b = b.min(items.len().saturating_sub(1));
    let mut plan = Plan::default();
    let mut y = 0u16;
    let above: Vec<usize> = items[..a].iter().flat_map(Item::tensors).collect();
    let below: Vec<usize> = items[b + 1..].iter().flat_map(Item::tensors).collect();
    if !above.is_empty() {
        plan.lines.push(InfoLine {
            kind: InfoKind::Above,
            y,
            tensors: above,
        });
        y += 1;
    }
    for item in items.into_iter().skip(a).take(b + 1 - a) {
        let height = item.height();
        match item {
            Item::Fold(g, tensors) => plan.lines.push(InfoLine {
                kind: InfoKind::Folded(g),
                y,
                tensors,
            }),
            Item::Band(blocks) => {
                for mut block in blocks {
                    block.y = y;
                    plan.blocks.push(block);
                }
            }
        }
        y += height;
    }
    if !below.is_empty() {
        plan.lines.push(InfoLine {
            kind: InfoKind::Below,
            y: y.min(h.saturating_sub(1)),
            tensors: below,
        });
        y += 1;
    }
    plan.height = y;
    plan
}

/// The keys that move the cursor to tensors before or after it.
fn keys_towards(tensors: &[usize], cursor: Option<usize>) -> &'static str {
    match cursor {
        Some(c) if tensors.iter().all(|&t| t > c) => "m",
        Some(c) if tensors.iter().all(|&t| t < c) => "M",
        _ => "m/M",
    }
}

/// Draw the planned tensors. `highlights` maps a tensor name to the indices to mark.
#[allow(clippy::too_many_arguments)]
pub fn render(
    buf: &mut Buffer,
    area: Rect,
    tensors: &[MapTensor<'_>],
    plan: &Plan,
    cursor: Option<&Resolved>,
    highlights: &HashMap<TensorName, HashSet<Vec<usize>>>,
    theme: &Theme,
) {
    let bottom = area.y + area.height;
    let to_screen = |y: u16| -> Option<u16> {
        let y = area.y + y;
        (y < bottom).then_some(y)
    };
    let cursor_tensor = cursor.map(|c| c.tensor_index);
    for line in &plan.lines {
        let Some(y) = to_screen(line.y) else {
            continue;
        };
        let names: Vec<&str> = line.tensors.iter().map(|&i| tensors[i].symbol).collect();
        let keys = keys_towards(&line.tensors, cursor_tensor);
        let (head, tail) = match &line.kind {
            InfoKind::Folded(g) => (format!("▸ {} (folded): ", g.name()), format!("  ({keys})")),
            InfoKind::Above => ("↑ above: ".to_string(), format!("  ({keys})")),
            InfoKind::Below => ("↓ more: ".to_string(), format!("  ({keys})")),
        };
        // Names that do not fit give way to a count; the keys always show.
        let room =
            (area.width as usize).saturating_sub(head.chars().count() + tail.chars().count());
        let mut list = names.join(" ");
        if list.chars().count() > room {
            let mut kept = Vec::new();
            for n in &names {
                let more = format!(" +{}", names.len() - kept.len() - 1);
                if kept
                    .iter()
                    .map(|k: &&str| k.chars().count() + 1)
                    .sum::<usize>()
                    + n.chars().count()
                    + more.chars().count()
                    > room
                {
                    break;
                }
                kept.push(*n);
            }
            list = format!("{} +{}", kept.join(" "), names.len() - kept.len());
            list = list.trim_start().to_string();
        }
        let line = Line::from(vec![
            Span::styled(head, theme.dim()),
            Span::styled(list, theme.dim()),
            Span::styled(tail, theme.dim()),
        ]);
        buf.set_line(area.x, y, &line, area.width);
    }
    for b in &plan.blocks {
        let t = &tensors[b.tensor];
        let is_cursor_tensor = cursor_tensor == Some(b.tensor);
        let x = area.x + b.x;
        let right = area.x + area.width;
        if let Some(y) = to_screen(b.y) {
            buf.set_line(
                x,
                y,
                &title(t, b, is_cursor_tensor, theme),
                b.w.min(area.width.saturating_sub(b.x)),
            );
        }
        let scale = heatmap::scale(t);
        let format = heatmap::number_format(t);
        let (mh, mw) = t.shape.map_dims();
        let (row0, col0) = match cursor {
            Some(c) if is_cursor_tensor => (
                (c.cursor.row + 1)
                    .saturating_sub(b.vis_rows)
                    .min(mh.saturating_sub(b.vis_rows)),
                (c.cursor.col + 1)
                    .saturating_sub(b.vis_cols)
                    .min(mw.saturating_sub(b.vis_cols)),
            ),
            _ => (0, 0),
        };
        let map_w = b.vis_cols as u16 * b.cell_width;
        let cursor_map = cursor.filter(|_| is_cursor_tensor).map(|c| c.cursor.map);
        let label_style = |current: bool| if current { theme.title() } else { theme.dim() };
        // Labels: above each map, or for a kernel grid the channels along the top and the
        // kernels down the side.
        match b.arrangement {
            Arrangement::Flow { labels: true, .. } => {
                for q in 0..b.shown {
                    let m = b.first_map + q;
                    let (mx, my) = b.map_origin(q);
                    if let Some(y) = to_screen(b.y + my) {
                        let label =
                            fitting_label(&t.shape.map_label(m, t.per_map), m, map_w as usize);
                        buf.set_stringn(
                            x + mx,
                            y,
                            label,
                            map_w as usize,
                            label_style(cursor_map == Some(m)),
                        );
                    }
                }
            }
            Arrangement::Grid {
                channels,
                row_label,
                per_column,
            } => {
                let column_w = grid_width(channels, row_label, map_w);
                let kernels = b.shown / channels;
                for col in 0..kernels.div_ceil(per_column) {
                    let cx = x + col as u16 * (column_w + GAP);
                    if let Some(y) = to_screen(b.y + 1) {
                        for ch in 0..channels {
                            let mx = cx + row_label + ch as u16 * (map_w + GRID_GAP);
                            let label = fitting_label(&format!("c{ch}"), ch, map_w as usize);
                            let current = cursor_map.is_some_and(|m| m % channels == ch);
                            buf.set_stringn(mx, y, label, map_w as usize, label_style(current));
                        }
                    }
                }
                for kr in 0..kernels {
                    let kernel = b.first_map / channels + kr;
                    let cx = x + (kr / per_column) as u16 * (column_w + GAP);
                    let ky = b.y + 2 + ((kr % per_column) * b.vis_rows) as u16;
                    if let Some(y) = to_screen(ky) {
                        let current = cursor_map.is_some_and(|m| m / channels == kernel);
                        buf.set_stringn(
                            cx,
                            y,
                            format!("k{kernel}"),
                            row_label.saturating_sub(1) as usize,
                            label_style(current),
                        );
                    }
                }
            }
            Arrangement::Flow { labels: false, .. } => {}
        }
        for q in 0..b.shown {
            let m = b.first_map + q;
            let (mx, my) = b.map_origin(q);
            let mx = x + mx;
            let cells_top = b.y
                + my
                + u16::from(matches!(
                    b.arrangement,
                    Arrangement::Flow { labels: true, .. }
                ));
            let cursor_cell = match cursor {
                Some(c) if cursor_map == Some(m) => Some((c.cursor.row, c.cursor.col)),
                _ => None,
            };
            // Draw the visible rows one at a time, so blocks cut by the pane edge stay inside it.
            for r in 0..b.vis_rows as u16 {
                let Some(y) = to_screen(cells_top + r) else {
                    continue;
                };
                Heatmap {
                    tensor: t,
                    map: m,
                    row0: row0 + r as usize,
                    col0,
                    cell_width: b.cell_width,
                    scale,
                    format,
                    theme,
                    cursor: cursor_cell,
                    highlights: highlights.get(&t.name),
                }
                .render(
                    Rect::new(mx, y, map_w.min(right.saturating_sub(mx)), 1),
                    buf,
                );
            }
        }
    }
}

fn title<'a>(t: &MapTensor<'_>, b: &BlockPlan, is_cursor: bool, theme: &Theme) -> Line<'a> {
    let style = match t.phase {
        Phase::Param => theme.param(),
        Phase::Forward => theme.forward(),
        Phase::Backward | Phase::Update => theme.backward(),
    };
    let mut spans = vec![Span::styled(
        format!("{}{}", if is_cursor { "▸" } else { "" }, t.symbol),
        style,
    )];
    let legend = heatmap::legend(t);
    let dims = t.shape.dims_label();
    let n = t.shape.map_count();
    let page = match (b.arrangement, b.shown < n) {
        (_, false) => String::new(),
        (Arrangement::Grid { channels, .. }, true) => {
            let (k0, k1) = (
                b.first_map / channels,
                (b.first_map + b.shown) / channels - 1,
            );
            let k = n / channels;
            if k0 == k1 {
                format!(" [k{k0} of {k}, c/C]")
            } else {
                format!(" [k{k0}–k{k1} of {k}, c/C]")
            }
        }
        (_, true) if b.shown == 1 => format!(
            " [{} of {n}, c/C]",
            t.shape.map_label(b.first_map, t.per_map)
        ),
        (_, true) => format!(
            " [{}–{} of {n}, c/C]",
            t.shape.map_label(b.first_map, t.per_map),
            t.shape.map_label(b.first_map + b.shown - 1, t.per_map)
        ),
    };
    let len = |s: &str| s.chars().count();
    let base = len(t.symbol) + 1 + len(legend);
    let room = b.w as usize;
    let page_fits = base + len(&page) <= room;
    if base + len(&page) * usize::from(page_fits) + 1 + len(&dims) <= room {
        spans.push(Span::styled(format!(" {dims}"), theme.dim()));
    }
    spans.push(Span::raw(format!(" {legend}")));
    if page_fits {
        spans.push(Span::styled(page, theme.dim()));
    }
    Line::from(spans)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::maps::Values;
    use ndarray::{ArrayD, IxDyn};

    fn t(name: TensorName, phase: Phase, dims: &[usize]) -> MapTensor<'static> {
        MapTensor {
            name,
            symbol: crate::explain::symbol("conv", name),
            phase,
            shape: Shape::of(dims),
            per_map: "k",
            data: Values::derived(ArrayD::from_elem(IxDyn(dims), 0.5)),
            covered: None,
            yours: None,
            memo: Default::default(),
        }
    }

    fn at(tensor_index: usize, name: TensorName, map: usize) -> Resolved {
        Resolved {
            tensor_index,
            cursor: crate::app::state::Cursor {
                tensor: name,
                map,
                row: 0,
                col: 0,
            },
        }
    }

    #[test]
    fn small_layers_get_numbers_and_large_ones_shrink() {
        let small = vec![
            t(TensorName::Z, Phase::Forward, &[2, 2, 2]),
            t(TensorName::DeltaZ, Phase::Backward, &[2, 2, 2]),
        ];
        let p = plan(&small, 90, 20, None, &[], false);
        assert!(
            p.blocks
                .iter()
                .all(|b| b.cell_width == heatmap::number_width(false)),
            "{p:?}"
        );
        assert!(p.height <= 20);
        let big = vec![
            t(TensorName::Input, Phase::Forward, &[1, 8, 8]),
            t(TensorName::Z, Phase::Forward, &[2, 6, 6]),
            t(TensorName::A, Phase::Forward, &[2, 6, 6]),
            t(TensorName::DeltaA, Phase::Backward, &[2, 6, 6]),
            t(TensorName::DeltaZ, Phase::Backward, &[2, 6, 6]),
        ];
        let p = plan(&big, 56, 12, None, &[], false);
        assert!(p.height <= 12, "{p:?}");
        for b in &p.blocks {
            assert!(b.x + b.w <= 56, "{b:?}");
            assert!(b.y + b.h <= 12, "{b:?}");
        }
    }

    #[test]
    fn the_cursor_block_is_in_view_with_its_title_and_what_is_left_out_is_named() {
        let many: Vec<MapTensor<'static>> = (0..6)
            .map(|_| t(TensorName::Z, Phase::Forward, &[1, 10, 40]))
            .collect();
        let p = plan(&many, 40, 12, Some(&at(5, TensorName::Z, 0)), &[], false);
        let b = p
            .blocks
            .iter()
            .find(|b| b.tensor == 5)
            .expect("the cursor's block");
        assert!(b.y + b.h <= 12, "{p:?}");
        let above = p
            .lines
            .iter()
            .find(|l| l.kind == InfoKind::Above)
            .expect("a line for what is above");
        assert_eq!(above.y, 0);
        assert!(above.tensors.contains(&0));
        // Every block drawn starts with its title inside the pane.
        for b in &p.blocks {
            assert!(b.y < 12);
        }
        let p = plan(&many, 40, 12, Some(&at(0, TensorName::Z, 0)), &[], false);
        let below = p
            .lines
            .iter()
            .find(|l| l.kind == InfoKind::Below)
            .expect("a line for what is below");
        assert!(below.tensors.contains(&5) && below.y < 12, "{p:?}");
    }

    #[test]
    fn kernel_grids_are_rows_per_kernel_with_channels_across_and_page_by_kernel() {
        let grads = vec![
            t(TensorName::DeltaZ, Phase::Backward, &[8, 2, 2]),
            t(TensorName::GradWeights, Phase::Backward, &[8, 4, 3, 3]),
        ];
        // Room for every kernel.
        let p = plan(
            &grads,
            88,
            30,
            Some(&at(1, TensorName::GradWeights, 0)),
            &[],
            false,
        );
        let b = p.blocks.iter().find(|b| b.tensor == 1).unwrap();
        assert!(matches!(
            b.arrangement,
            Arrangement::Grid {
                channels: 4,
                row_label: 3,
                ..
            }
        ));
        assert_eq!((b.first_map, b.shown), (0, 32));
        // Too little room: a page of kernels, the one holding the cursor (kernel 6, channel 1).
        let p = plan(
            &grads,
            88,
            10,
            Some(&at(1, TensorName::GradWeights, 6 * 4 + 1)),
            &[],
            false,
        );
        let b = p.blocks.iter().find(|b| b.tensor == 1).unwrap();
        assert!(matches!(b.arrangement, Arrangement::Grid { .. }));
        assert_eq!(b.first_map % 4, 0, "pages hold whole kernels");
        assert!((b.first_map..b.first_map + b.shown).contains(&25), "{b:?}");
        assert!(b.y + b.h <= 10);
    }

    #[test]
    fn labels_are_never_cut_in_the_middle() {
        assert_eq!(fitting_label("c12", 12, 3), "c12");
        assert_eq!(fitting_label("c12", 12, 2), "12");
        assert_eq!(fitting_label("c12", 12, 1), "");
    }

    #[test]
    fn labels_stay_when_room_is_short() {
        // conv1 at its backward event without colour, in the pane of an 80×24 terminal.
        let ts = vec![
            t(TensorName::Input, Phase::Forward, &[1, 8, 8]),
            t(TensorName::Weights, Phase::Param, &[2, 1, 3, 3]),
            t(TensorName::Bias, Phase::Param, &[2]),
            t(TensorName::Z, Phase::Forward, &[2, 6, 6]),
            t(TensorName::A, Phase::Forward, &[2, 6, 6]),
            t(TensorName::DeltaA, Phase::Backward, &[2, 6, 6]),
            t(TensorName::DeltaZ, Phase::Backward, &[2, 6, 6]),
            t(TensorName::DeltaInput, Phase::Backward, &[1, 8, 8]),
            t(TensorName::GradWeights, Phase::Backward, &[2, 1, 3, 3]),
            t(TensorName::GradBias, Phase::Backward, &[2]),
        ];
        for mono in [false, true] {
            for (w, h) in [(56, 11), (88, 22)] {
                let p = plan(
                    &ts,
                    w,
                    h,
                    Some(&at(7, TensorName::DeltaInput, 0)),
                    &[TensorName::DeltaZ, TensorName::Weights],
                    mono,
                );
                for b in &p.blocks {
                    if ts[b.tensor].shape.map_count() > 1 {
                        assert!(
                            matches!(b.arrangement, Arrangement::Flow { labels: true, .. }),
                            "{w}×{h} mono {mono}: {b:?}"
                        );
                    }
                    assert!(b.y + b.h <= h, "{w}×{h}: {b:?}");
                }
                assert!(p.shown().any(|i| i == 7));
                // Whatever is not drawn is named.
                let named: Vec<usize> = p.lines.iter().flat_map(|l| l.tensors.clone()).collect();
                for i in 0..ts.len() {
                    assert!(
                        p.shown().any(|j| j == i) || named.contains(&i),
                        "{w}×{h}: tensor {i} vanished: {p:?}"
                    );
                }
            }
        }
    }
}
