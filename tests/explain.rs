//! `deltascope::explain`, the sum behind a cell, checked against what the test computes on
//! its own.

use deltascope::engine::TensorName;
use deltascope::explain::{CellRef, Context, explain};
use deltascope::scenario;
use deltascope::timeline::Node;

/// conv1: kernel 3×4, stride [2, 3], padding [1, 2] on a 7×9 input, so its windows reach
/// into the padding on every side; conv2: kernel 2×1, stride [1, 2], no padding.
const STRIDED_PADDED: &str = r#"{
  "name": "strided_padded", "seed": 5,
  "input": [[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9],
            [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1],
            [0.2, 0.4, 0.6, 0.8, 1.0, 0.8, 0.6, 0.4, 0.2],
            [0.5, 0.1, 0.5, 0.1, 0.5, 0.1, 0.5, 0.1, 0.5],
            [0.3, 0.6, 0.9, 0.3, 0.6, 0.9, 0.3, 0.6, 0.9],
            [0.7, 0.1, 0.8, 0.2, 0.9, 0.3, 1.0, 0.4, 0.6],
            [0.4, 0.4, 0.2, 0.2, 0.8, 0.8, 0.6, 0.6, 0.1]],
  "layers": [
    {"type": "conv", "kernels": 2, "kernel_size": [3, 4], "stride": [2, 3], "padding": [1, 2],
     "activation": "tanh", "bias": [0.1, -0.1]},
    {"type": "conv", "kernels": 1, "kernel_size": [2, 1], "stride": [1, 2], "activation": "tanh"}
  ],
  "loss": {"kind": "half_sse", "target": [[[0.5, -0.5], [0.5, -0.5], [0.5, -0.5]]]}
}"#;

/// The note for z[k, i, j] of layer `l`.
fn receptive_field_note(ctx: &Context<'_>, l: usize, cell: [usize; 3]) -> String {
    let e = explain(ctx, &CellRef::new(Node::Layer(l), TensorName::Z, &cell))
        .unwrap_or_else(|| panic!("layer {l} z{cell:?} is explained"));
    let notes: Vec<&String> = e
        .notes
        .iter()
        .filter(|n| n.starts_with("receptive field"))
        .collect();
    assert_eq!(notes.len(), 1, "{:?}", e.notes);
    notes[0].clone()
}

/// The input rows and columns whose value changes conv1's z[k, i, j], found by changing
/// each input cell in turn and running the forward pass.
fn rows_and_columns_that_matter(
    model: &deltascope::engine::Model,
    [k, i, j]: [usize; 3],
) -> (Vec<usize>, Vec<usize>) {
    let z = |m: &deltascope::engine::Model| {
        m.trace(0).layers[0].1.tensor(TensorName::Z).unwrap()[[k, i, j]]
    };
    let base = z(model);
    let (_, h, w) = model.input.dim();
    let (mut rows, mut columns) = (Vec::new(), Vec::new());
    for y in 0..h {
        for x in 0..w {
            let mut m = model.clone();
            m.input[[0, y, x]] += 1.0;
            if z(&m) != base {
                rows.push(y);
                columns.push(x);
            }
        }
    }
    rows.sort_unstable();
    rows.dedup();
    columns.sort_unstable();
    columns.dedup();
    (rows, columns)
}

/// The inspector's receptive field of a conv cell is the window of the padded input:
/// rows i·sh − ph ..= i·sh + kh − 1 − ph, columns j·sw − pw ..= j·sw + kw − 1 − pw (in input
/// coordinates, so the padding lies below 0 and past the last row or column). Checked for
/// every cell of a strided, padded, non-square conv and of an unpadded one; the part inside
/// the input is checked against the cells that actually change z.
#[test]
fn the_receptive_field_of_a_conv_cell_is_its_window_in_the_padded_input() {
    let s = scenario::parse(STRIDED_PADDED).unwrap();
    let trace = s.model.trace(0);
    let ctx = Context {
        model: &s.model,
        trace: &trace,
        updated: None,
        backward_from: 0,
    };
    // (layer, kernel [kh, kw], stride, padding, z's shape [K, Ho, Wo])
    let layers = [
        (0, [3, 4], [2, 3], [1, 2], [2, 4, 4]),
        (1, [2, 1], [1, 2], [0, 0], [1, 3, 2]),
    ];
    for (l, [kh, kw], [sh, sw], [ph, pw], [kernels, ho, wo]) in layers {
        assert_eq!(
            trace.layers[l].1.tensor(TensorName::Z).unwrap().shape(),
            [kernels, ho, wo]
        );
        for k in 0..kernels {
            for i in 0..ho {
                for j in 0..wo {
                    let (top, left) = (
                        (i * sh) as isize - ph as isize,
                        (j * sw) as isize - pw as isize,
                    );
                    let (bottom, right) = (top + kh as isize - 1, left + kw as isize - 1);
                    let padded = if l == 0 { "padded" } else { "unpadded" };
                    assert_eq!(
                        receptive_field_note(&ctx, l, [k, i, j]),
                        format!(
                            "receptive field: rows {top}..{bottom}, columns {left}..{right} of the {padded} input"
                        ),
                        "conv{} z[{k}, {i}, {j}]",
                        l + 1
                    );
                    if l == 0 {
                        // Inside the input, the rows and columns that change z are exactly
                        // those of the window (the input has no zeros, the weights none).
                        let inside = |a: isize, b: isize, n: usize| -> Vec<usize> {
                            (a.max(0)..=b.min(n as isize - 1))
                                .map(|v| v as usize)
                                .collect()
                        };
                        let (h, w) = (7, 9);
                        assert_eq!(
                            rows_and_columns_that_matter(&s.model, [k, i, j]),
                            (inside(top, bottom, h), inside(left, right, w)),
                            "conv1 z[{k}, {i}, {j}]"
                        );
                    }
                }
            }
        }
    }
}
