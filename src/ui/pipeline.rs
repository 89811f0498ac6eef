//! The pipeline pane: input → every layer → loss, with shapes, the current event and its
//! direction, and per layer the gradient norm and flags once the backward pass has reached it.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};

use super::theme::Theme;
use crate::app::State;
use crate::engine::Pass;
use crate::engine::{LayerKind, LayerTrace, TensorName};
use crate::explain::short;
use crate::timeline::{Event, Node};

fn dims(shape: &[usize]) -> String {
    shape
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("×")
}

/// "conv 3×3 relu", "mean pool 2×2", "dense sigmoid".
pub fn layer_detail(kind: &LayerKind) -> String {
    match kind {
        LayerKind::Conv(c) => {
            let [kh, kw] = c.kernel_size();
            let mut s = format!("conv {kh}×{kw}");
            if c.stride != [1, 1] {
                s.push_str(&format!(" s{}", c.stride[0]));
            }
            if c.padding != [0, 0] {
                s.push_str(&format!(" p{}", c.padding[0]));
            }
            s.push(' ');
            s.push_str(c.activation.name());
            s
        }
        LayerKind::Pool(p) => {
            let mut s = format!("{} pool {}×{}", p.kind.name(), p.size[0], p.size[1]);
            if p.stride != p.size {
                s.push_str(&format!(" s{}", p.stride[0]));
            }
            s
        }
        LayerKind::Dense(d) => format!("dense {}", d.activation.name()),
    }
}

/// With `--compare`: " ✓ yours" when the user's tensors of this layer (or the loss) that
/// are computed by the current event all agree, " ✗ yours 1/3" when some differ, " ✗ mistake
/// here" when one is wrong given the user's own inputs; nothing when there are none.
fn agreement<'a>(state: &State, layer: Option<usize>, theme: &Theme) -> Option<Span<'a>> {
    let known = |tensor: TensorName| match layer {
        None => state.timeline.loss_known(state.pos),
        Some(l) => {
            let stage = state.timeline.stage(state.pos, l);
            match tensor {
                TensorName::Weights | TensorName::Bias => true,
                TensorName::Input => stage.input,
                TensorName::Z | TensorName::A | TensorName::Output | TensorName::Argmax => {
                    stage.forward
                }
                TensorName::DeltaA | TensorName::DeltaOutput => stage.delta_out,
                _ => stage.backward,
            }
        }
    };
    let a = state
        .compare
        .as_ref()?
        .agreement(state.pos.step, layer, known)?;
    Some(if a.differing == 0 {
        Span::styled(" ✓ yours", theme.good())
    } else if a.mistakes > 0 {
        // Recomputed from the user's own inputs, a tensor of this layer is wrong: the
        // mistake is made here, not only seen here.
        Span::styled(" ✗ mistake here", theme.warning())
    } else {
        Span::styled(
            format!(" ✗ yours {}/{}", a.differing, a.tensors),
            theme.warning(),
        )
    })
}

struct Row<'a> {
    node: Option<Node>,
    main: Line<'a>,
    detail: Line<'a>,
    /// What follows `main` when each layer gets one line only.
    inline: Vec<Span<'a>>,
    /// `main` without the shape, for one-line rows that need the room.
    main_short: Option<Line<'a>>,
}

pub fn render(buf: &mut Buffer, area: Rect, state: &State, theme: &Theme) {
    if area.height == 0 || area.width == 0 {
        return;
    }
    let tl = &state.timeline;
    let Some(step) = tl.step(state.pos.step) else {
        return;
    };
    let model = tl.model(state.pos.step);
    let event = state.event();
    let name_w = model
        .layers
        .iter()
        .map(|l| l.name.chars().count())
        .max()
        .unwrap_or(5)
        .clamp(5, 12);
    let mut rows: Vec<Row> = Vec::new();
    rows.push(Row {
        node: None,
        main: Line::from(vec![
            Span::raw("  "),
            Span::styled(format!("{:<name_w$}", "input"), theme.title()),
            Span::styled(format!(" {}", dims(model.input.shape())), theme.dim()),
        ]),
        detail: Line::default(),
        inline: Vec::new(),
        main_short: None,
    });
    for (i, layer) in model.layers.iter().enumerate() {
        let (_, t) = &step.trace.layers[i];
        let out = match t {
            LayerTrace::Pool(p) => p.output.shape().to_vec(),
            LayerTrace::Conv(c) => c.a.shape().to_vec(),
            LayerTrace::Dense(d) => d.a.shape().to_vec(),
        };
        let stage = tl.stage(state.pos, i);
        let (marker, marker_style) = match event {
            Event::Forward(j) if j == i => ("→ ", theme.forward()),
            Event::Backward(j) if j == i => ("← ", theme.backward()),
            Event::Update if !matches!(layer.kind, LayerKind::Pool(_)) => ("↻ ", theme.param()),
            _ => ("  ", Style::new()),
        };
        let name_style = if stage.forward {
            theme.title()
        } else {
            theme.dim()
        };
        let mut main = Line::from(vec![
            Span::styled(marker, marker_style),
            Span::styled(format!("{:<name_w$}", layer.name), name_style),
            Span::styled(format!(" {}", dims(&out)), theme.dim()),
        ]);
        main.spans.extend(agreement(state, Some(i), theme));
        let mut main_short = Line::from(vec![
            Span::styled(marker, marker_style),
            Span::styled(format!("{:<name_w$}", layer.name), name_style),
        ]);
        main_short.spans.extend(agreement(state, Some(i), theme));
        // "    conv 3×3 leaky_relu", or shorter forms in a narrow pane ("    3×3 leaky_relu").
        let full = layer_detail(&layer.kind);
        let bare = full
            .split_once(' ')
            .filter(|(kind, _)| matches!(*kind, "conv" | "dense"))
            .map_or(full.clone(), |(_, rest)| rest.to_string());
        let detail_text = [
            format!("    {full}"),
            format!("    {bare}"),
            format!("  {bare}"),
        ]
        .into_iter()
        .find(|d| d.chars().count() <= area.width as usize)
        .unwrap_or_else(|| format!("  {bare}"));
        let mut detail = vec![Span::styled(detail_text, theme.dim())];
        // Gradient figures, in a long and a short form: "‖∂w‖ 2.016e97 ⇑exploding" or
        // "‖∂w‖ 2e97 ⇑"; a norm that is NaN or inf is itself the warning.
        let mut stats = Vec::new();
        let mut short_stats = Vec::new();
        if stage.backward {
            let s = &step.stats[i];
            let norm_name = match layer.kind {
                LayerKind::Pool(_) => "‖δx‖",
                LayerKind::Dense(_) => "‖∂W‖",
                LayerKind::Conv(_) => "‖∂w‖",
            };
            let norm_style = if s.grad_norm.is_finite() {
                Style::new()
            } else {
                theme.warning()
            };
            stats.push(Span::styled(
                format!(" {norm_name} {}", short(s.grad_norm)),
                norm_style,
            ));
            short_stats.push(Span::styled(
                format!(" {norm_name} {}", super::heatmap::compact(s.grad_norm)),
                norm_style,
            ));
            if s.non_finite && s.grad_norm.is_finite() {
                stats.push(Span::styled(" NaN/inf", theme.warning()));
                short_stats.push(Span::styled(" !", theme.warning()));
            }
            if s.dead {
                stats.push(Span::styled(" dead", theme.warning()));
                short_stats.push(Span::styled(" dead", theme.warning()));
            } else if !s.dead_maps.is_empty() {
                let prefix = if matches!(layer.kind, LayerKind::Dense(_)) {
                    "u"
                } else {
                    "k"
                };
                let list: Vec<String> = s
                    .dead_maps
                    .iter()
                    .take(4)
                    .map(|k| format!("{prefix}{k}"))
                    .collect();
                let more = if s.dead_maps.len() > 4 { "…" } else { "" };
                stats.push(Span::styled(
                    format!(" dead {}{more}", list.join(",")),
                    theme.warning(),
                ));
                short_stats.push(Span::styled(
                    format!(" dead {}", s.dead_maps.len()),
                    theme.warning(),
                ));
            }
            if s.exploding() && s.grad_norm.is_finite() {
                stats.push(Span::styled(" ⇑exploding", theme.warning()));
                short_stats.push(Span::styled(" ⇑", theme.warning()));
            }
            if s.vanishing() {
                stats.push(Span::styled(" ⇓vanishing", theme.warning()));
                short_stats.push(Span::styled(" ⇓", theme.warning()));
            }
        }
        // Narrow panes drop the layer's description, then shorten the gradient figures.
        let width = |spans: &[Span]| {
            spans
                .iter()
                .map(|s| s.content.chars().count())
                .sum::<usize>()
        };
        let room = area.width as usize;
        let inline = if width(&main.spans) + width(&stats) > room {
            short_stats.clone()
        } else {
            stats.clone()
        };
        let main_short = (width(&main.spans) + width(&inline) > room).then_some(main_short);
        if !stats.is_empty() && width(&detail) + width(&stats) > room {
            detail = vec![Span::raw("   ")];
            if width(&detail) + width(&stats) > room {
                stats = short_stats;
            }
        }
        detail.extend(stats);
        rows.push(Row {
            node: Some(Node::Layer(i)),
            main,
            detail: Line::from(detail),
            inline,
            main_short,
        });
    }
    let loss_known = tl.loss_known(state.pos);
    let (marker, marker_style) = if event == Event::Loss {
        ("● ", theme.current_event())
    } else {
        ("  ", Style::new())
    };
    rows.push(Row {
        node: Some(Node::Loss),
        main: Line::from(vec![
            Span::styled(marker, marker_style),
            Span::styled(
                format!("{:<name_w$}", "loss"),
                if loss_known {
                    theme.title()
                } else {
                    theme.dim()
                },
            ),
            Span::raw(if loss_known {
                format!(" {}", short(step.trace.loss))
            } else {
                " …".into()
            }),
        ])
        .into_iter()
        .chain(agreement(state, None, theme))
        .collect::<Line>(),
        detail: Line::from(Span::styled(
            format!("    {}", model.loss.name()),
            theme.dim(),
        )),
        inline: Vec::new(),
        main_short: None,
    });

    let two_lines = area.height as usize >= 2 * rows.len() - 1;
    let per = if two_lines { 2 } else { 1 };
    let selected_row = rows
        .iter()
        .position(|r| r.node == Some(state.selected))
        .unwrap_or(0);
    let visible = (area.height as usize / per).max(1);
    let first = (selected_row + 1).saturating_sub(visible);
    let mut y = area.y;
    for row in rows.iter().skip(first) {
        if y >= area.y + area.height {
            break;
        }
        let selected = row.node == Some(state.selected);
        let mut main = row.main.clone();
        if !two_lines {
            if let Some(short) = &row.main_short {
                main = short.clone();
            }
            main.spans.extend(row.inline.iter().cloned());
        }
        if selected {
            buf.set_style(Rect::new(area.x, y, area.width, 1), theme.selected());
            main = main.patch_style(theme.selected());
        }
        buf.set_line(area.x, y, &main, area.width);
        y += 1;
        if two_lines && row.node.is_some() && y < area.y + area.height {
            buf.set_line(area.x, y, &row.detail, area.width);
            y += 1;
        }
    }
    // The first NaN/inf of the run, once the current event has computed it, in the rows
    // left below the layers (a blank line first when there is room).
    if let Some(text) = anomaly_text(state) {
        let lines = super::wrap(&text, area.width as usize);
        let free = (area.y + area.height).saturating_sub(y) as usize;
        if free > lines.len() {
            y += 1;
        }
        for line in lines.iter().take(free) {
            buf.set_line(
                area.x,
                y,
                &Line::from(Span::styled(line.clone(), theme.warning())),
                area.width,
            );
            y += 1;
        }
    }
}

/// "first NaN/inf: step 7, backward pass: conv1.delta_input[0, 2, 3] = inf" when the run's
/// first non-finite value has been computed at the current event.
fn anomaly_text(state: &State) -> Option<String> {
    let tl = &state.timeline;
    let a = tl.first_anomaly()?;
    let pos = state.pos;
    let reached = pos.step > a.step
        || pos.step == a.step
            && match (&a.layer, a.pass) {
                (None, _) => tl.loss_known(pos),
                (Some(name), pass) => {
                    let layer = tl.model(0).layers.iter().position(|l| &l.name == name)?;
                    let stage = tl.stage(pos, layer);
                    match pass {
                        Pass::Forward => stage.forward,
                        Pass::Loss => tl.loss_known(pos),
                        Pass::Backward => stage.backward,
                    }
                }
            };
    reached.then(|| format!("⚠ first NaN/inf: {a}"))
}
