//! The main pane: the selected node's tensors as heatmaps, one small map per channel or
//! kernel, packed into bands. The group holding the cursor (forward or backward) gets the
//! widest cells that fit; the other groups shrink, and collapse to one line if they must.

use std::collections::{HashMap, HashSet};

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use super::heatmap::{self, Heatmap};
use super::theme::Theme;
use crate::app::maps::{MapTensor, Phase};
use crate::app::state::Resolved;

/// Columns between two maps or blocks.
pub const GAP: u16 = 2;

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

/// Where one tensor is drawn, relative to the top-left of the content.
#[derive(Clone, Debug, PartialEq)]
pub struct BlockPlan {
    pub tensor: usize,
    pub x: u16,
    pub y: u16,
    pub w: u16,
    pub h: u16,
    pub cell_width: u16,
    pub per_row: usize,
    pub first_map: usize,
    pub shown: usize,
    pub vis_rows: usize,
    pub vis_cols: usize,
    pub label: bool,
    /// Whether the maps are cut to fit (shown through a viewport).
    pub clipped: bool,
}

/// A group drawn as one line because there was no room.
#[derive(Clone, Debug, PartialEq)]
pub struct CollapsedPlan {
    pub group: Group,
    pub y: u16,
    pub tensors: Vec<usize>,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Plan {
    pub blocks: Vec<BlockPlan>,
    pub collapsed: Vec<CollapsedPlan>,
    pub height: u16,
    /// Rows of content scrolled off the top.
    pub scroll: u16,
}

fn block(
    tensor: usize,
    t: &MapTensor<'_>,
    cw: u16,
    area: (u16, u16),
    cursor_map: usize,
    labels: bool,
) -> BlockPlan {
    let (area_w, area_h) = area;
    let (mh, mw) = t.shape.map_dims();
    let n = t.shape.map_count().max(1);
    let label = labels && n > 1;
    let vis_cols = mw.min((area_w / cw).max(1) as usize).max(1);
    let vis_rows = mh
        .min(area_h.saturating_sub(1 + label as u16).max(1) as usize)
        .max(1);
    let map_w = vis_cols as u16 * cw;
    let per_row = n.min(((area_w + GAP) / (map_w + GAP)).max(1) as usize);
    let map_h = vis_rows + label as usize;
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
    // Room for the symbol and the legend, within reason.
    let title_w = (t.symbol.chars().count() + 2 + heatmap::legend(t).chars().count()) as u16;
    BlockPlan {
        tensor,
        x: 0,
        y: 0,
        w: maps_w.max(title_w).min(area_w),
        h: 1 + (rows_used * map_h) as u16,
        cell_width: cw,
        per_row,
        first_map,
        shown,
        vis_rows,
        vis_cols,
        label,
        clipped: vis_rows < mh || vis_cols < mw || shown < n,
    }
}

/// Place blocks left to right, wrapping into bands; returns the height used.
fn pack(blocks: &mut [BlockPlan], area_w: u16, top: u16) -> u16 {
    let (mut x, mut y, mut band) = (0u16, top, 0u16);
    for b in blocks.iter_mut() {
        if x > 0 && x + b.w > area_w {
            y += band;
            x = 0;
            band = 0;
        }
        b.x = x;
        b.y = y;
        x += b.w + GAP;
        band = band.max(b.h);
    }
    y + band - top
}

/// Lay the tensors out in an area of `w`×`h`, keeping the cursor's block in view.
pub fn plan(
    tensors: &[MapTensor<'_>],
    w: u16,
    h: u16,
    cursor: Option<&Resolved>,
    mono: bool,
) -> Plan {
    let mut groups: Vec<(Group, Vec<usize>)> = Vec::new();
    for (i, t) in tensors.iter().enumerate() {
        let g = Group::of(t.phase);
        match groups.iter_mut().find(|(gg, _)| *gg == g) {
            Some((_, v)) => v.push(i),
            None => groups.push((g, vec![i])),
        }
    }
    groups.sort_by_key(|(g, _)| *g);
    let cursor_tensor = cursor.map(|c| c.tensor_index).unwrap_or(0);
    let cursor_map = cursor.map(|c| c.cursor.map).unwrap_or(0);
    let focus = tensors
        .get(cursor_tensor)
        .map(|t| Group::of(t.phase))
        .unwrap_or(Group::Forward);
    // Groups other than the cursor's give way in this order when room runs out: the
    // forward maps first (unless the cursor is there), the update, the backward maps last.
    let collapse_order: Vec<Group> = [Group::Forward, Group::Update, Group::Backward]
        .into_iter()
        .filter(|g| *g != focus && groups.iter().any(|(gg, _)| gg == g))
        .collect();
    // (cell width of the cursor's group, of the others), best first. Without colour a
    // 1-wide cell loses its sign, so there the cursor's group gets it only as a last resort.
    let num = heatmap::number_width(mono);
    let widths = [(num, 2), (num, 1), (2, 2), (2, 1), (1, 1)];
    let build = |focus_cw: u16, other_cw: u16, collapsed: &[Group], labels: bool| -> (Plan, bool) {
        let mut out = Plan::default();
        let mut y = 0;
        let mut acceptable = true;
        for (g, members) in &groups {
            if collapsed.contains(g) {
                out.collapsed.push(CollapsedPlan {
                    group: *g,
                    y,
                    tensors: members.clone(),
                });
                y += 1;
                continue;
            }
            let cw = if *g == focus { focus_cw } else { other_cw };
            let mut blocks: Vec<BlockPlan> = members
                .iter()
                .map(|&i| block(i, &tensors[i], cw, (w, h), cursor_map, labels))
                .collect();
            // Wider cells are only worth it when they show whole maps.
            if cw > 1 {
                for (b, &i) in blocks.iter().zip(members) {
                    if b.clipped && !block(i, &tensors[i], 1, (w, h), cursor_map, labels).clipped {
                        acceptable = false;
                    }
                }
            }
            y += pack(&mut blocks, w, y);
            out.blocks.extend(blocks);
        }
        out.height = y;
        (out, acceptable)
    };
    // Map labels (k0, k1, …) go before anything else does; then whole groups collapse.
    let mut chosen = None;
    'search: for collapsing in 0..=collapse_order.len() {
        let collapsed = &collapse_order[..collapsing];
        for labels in [true, false] {
            for (f, o) in widths {
                if mono && f == 1 && collapsing < collapse_order.len() {
                    continue;
                }
                let (p, ok) = build(f, o, collapsed, labels);
                if ok && p.height <= h {
                    chosen = Some(p);
                    break 'search;
                }
            }
        }
    }
    let mut p =
        chosen.unwrap_or_else(|| build(if mono { 2 } else { 1 }, 1, &collapse_order, false).0);
    if p.height > h
        && let Some(b) = p.blocks.iter().find(|b| b.tensor == cursor_tensor)
        && b.y + b.h > h
    {
        p.scroll = (b.y + b.h - h).min(b.y);
    }
    p
}

/// Draw the planned tensors. `highlights` maps a tensor name to the indices to mark.
#[allow(clippy::too_many_arguments)]
pub fn render(
    buf: &mut Buffer,
    area: Rect,
    tensors: &[MapTensor<'_>],
    plan: &Plan,
    cursor: Option<&Resolved>,
    highlights: &HashMap<&'static str, HashSet<Vec<usize>>>,
    theme: &Theme,
) {
    let bottom = area.y + area.height;
    let to_screen = |y: u16| -> Option<u16> {
        let y = (area.y + y).checked_sub(plan.scroll)?;
        (y >= area.y && y < bottom).then_some(y)
    };
    for c in &plan.collapsed {
        if let Some(y) = to_screen(c.y) {
            let names: Vec<&str> = c.tensors.iter().map(|&i| tensors[i].symbol).collect();
            let line = Line::from(vec![
                Span::styled(format!("▸ {}: ", c.group.name()), theme.dim()),
                Span::styled(names.join(" "), theme.dim()),
                Span::styled("  (m/M moves the cursor there)", theme.dim()),
            ]);
            buf.set_line(area.x, y, &line, area.width);
        }
    }
    for b in &plan.blocks {
        let t = &tensors[b.tensor];
        let is_cursor_tensor = cursor.is_some_and(|c| c.tensor_index == b.tensor);
        let x = area.x + b.x;
        if let Some(y) = to_screen(b.y) {
            buf.set_line(
                x,
                y,
                &title(t, b, is_cursor_tensor, theme),
                b.w.min(area.width.saturating_sub(b.x)),
            );
        }
        let scale = heatmap::scale(t);
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
        let map_h = b.vis_rows as u16 + b.label as u16;
        for q in 0..b.shown {
            let m = b.first_map + q;
            let mx = x + (q % b.per_row) as u16 * (map_w + GAP);
            let my = b.y + 1 + (q / b.per_row) as u16 * map_h;
            let is_cursor_map = is_cursor_tensor && cursor.is_some_and(|c| c.cursor.map == m);
            if b.label
                && let Some(y) = to_screen(my)
            {
                let style = if is_cursor_map {
                    theme.title()
                } else {
                    theme.dim()
                };
                buf.set_stringn(
                    mx,
                    y,
                    t.shape.map_label(m, t.per_map),
                    map_w as usize,
                    style,
                );
            }
            let cells_top = my + b.label as u16;
            // Draw the visible rows one at a time, so blocks cut by the pane edge stay inside it.
            for r in 0..b.vis_rows as u16 {
                let Some(y) = to_screen(cells_top + r) else {
                    continue;
                };
                let cursor_cell = match cursor {
                    Some(c) if is_cursor_map => Some((c.cursor.row, c.cursor.col)),
                    _ => None,
                };
                Heatmap {
                    tensor: t,
                    map: m,
                    row0: row0 + r as usize,
                    col0,
                    cell_width: b.cell_width,
                    scale,
                    theme,
                    cursor: cursor_cell,
                    highlights: highlights.get(t.name),
                }
                .render(
                    Rect::new(
                        mx,
                        y,
                        map_w.min((area.x + area.width).saturating_sub(mx)),
                        1,
                    ),
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
    let page = if b.shown < n && b.shown == 1 {
        format!(
            " [{} of {n}, c/C]",
            t.shape.map_label(b.first_map, t.per_map)
        )
    } else if b.shown < n {
        format!(
            " [{}–{} of {n}, c/C]",
            t.shape.map_label(b.first_map, t.per_map),
            t.shape.map_label(b.first_map + b.shown - 1, t.per_map)
        )
    } else {
        String::new()
    };
    let long = t.symbol.chars().count()
        + dims.chars().count()
        + legend.chars().count()
        + page.chars().count()
        + 3;
    if long <= b.w as usize {
        spans.push(Span::styled(format!(" {dims}"), theme.dim()));
    }
    spans.push(Span::raw(format!(" {legend}")));
    spans.push(Span::styled(page, theme.dim()));
    Line::from(spans)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::maps::Shape;
    use ndarray::{ArrayD, CowArray, IxDyn};

    fn t(name: &'static str, phase: Phase, dims: &[usize]) -> MapTensor<'static> {
        MapTensor {
            name,
            symbol: name,
            phase,
            shape: Shape::of(dims),
            per_map: "k",
            data: CowArray::from(ArrayD::from_elem(IxDyn(dims), 0.5)),
            covered: None,
            yours: None,
        }
    }

    #[test]
    fn small_layers_get_numbers_and_large_ones_shrink() {
        let small = vec![
            t("z", Phase::Forward, &[2, 2, 2]),
            t("δz", Phase::Backward, &[2, 2, 2]),
        ];
        let p = plan(&small, 90, 20, None, false);
        assert!(
            p.blocks
                .iter()
                .any(|b| b.cell_width == heatmap::number_width(false))
        );
        assert!(p.height <= 20);
        let big = vec![
            t("x", Phase::Forward, &[1, 8, 8]),
            t("z", Phase::Forward, &[2, 6, 6]),
            t("a", Phase::Forward, &[2, 6, 6]),
            t("δa", Phase::Backward, &[2, 6, 6]),
            t("δz", Phase::Backward, &[2, 6, 6]),
        ];
        let p = plan(&big, 56, 12, None, false);
        assert!(p.height <= 12 || p.scroll > 0);
        for b in &p.blocks {
            assert!(b.x + b.w <= 56, "{b:?}");
        }
    }

    #[test]
    fn the_cursor_block_is_scrolled_into_view() {
        let many: Vec<MapTensor<'static>> = (0..6)
            .map(|_| t("z", Phase::Forward, &[1, 10, 40]))
            .collect();
        let cursor = Resolved {
            tensor_index: 5,
            cursor: crate::app::state::Cursor {
                tensor: "z",
                map: 0,
                row: 0,
                col: 0,
            },
        };
        let p = plan(&many, 40, 12, Some(&cursor), false);
        let b = p.blocks.iter().find(|b| b.tensor == 5).unwrap();
        assert!(b.y >= p.scroll && b.y + b.h <= p.scroll + 12, "{p:?}");
    }
}
