//! A user's trace held beside the reference for the debugger (`deltascope FILE --compare
//! YOURS.json`): which of their cells differ, and their value of any cell.

use std::collections::HashMap;

use ndarray::{Array3, ArrayD, ArrayViewD, IxDyn};

use super::{DiffReport, GivenTensor, TensorDiff, cell_mismatch, diff};
use crate::engine::{Model, TensorName};
use crate::error::FieldError;

/// Where a tensor is: (step, layer or None for the step's loss, tensor name).
type Key = (usize, Option<usize>, TensorName);

#[derive(Clone, Debug)]
pub struct Comparison {
    /// The user's file, as named on the command line.
    pub source: String,
    pub report: DiffReport,
    yours: HashMap<Key, ArrayD<f64>>,
}

/// What the user's numbers say about one layer at one step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerAgreement {
    pub tensors: usize,
    pub differing: usize,
    /// How many of those are wrong given the user's own inputs: a mistake is made here.
    pub mistakes: usize,
}

/// One window of a max-pool layer with the reference's switch and the user's: each the
/// flat index h·W + w of a cell of the channel's input plane.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SwitchPair {
    pub channel: usize,
    /// The window (i, j), which is also the output cell it pools into.
    pub window: [usize; 2],
    pub reference: usize,
    /// As the user's file gives it: any number, checked by [`decode_switch`], not trusted.
    pub yours: f64,
}

impl SwitchPair {
    /// Whether the user's switch names another cell than the reference's. A switch is a
    /// position: it is the same cell or it is not, so no tolerance applies.
    pub fn differs(&self) -> bool {
        self.yours != self.reference as f64
    }
}

/// The cell [row, col] that a flat switch h·W + w names in an input plane of
/// `plane` = [H, W], or None when the number names no cell of it (negative, fractional,
/// not finite, or past the plane's last cell).
pub fn decode_switch(switch: f64, plane: [usize; 2]) -> Option<[usize; 2]> {
    let [h, w] = plane;
    (switch >= 0.0 && switch < (h * w) as f64 && switch.fract() == 0.0).then(|| {
        let s = switch as usize;
        [s / w, s % w]
    })
}

impl Comparison {
    pub fn new(
        source: &str,
        name: &str,
        model: &Model,
        given: Vec<GivenTensor>,
        tolerance: f64,
    ) -> Result<Self, FieldError> {
        let report = diff(name, model, &given, tolerance)?;
        let yours = given
            .into_iter()
            .map(|g| ((g.step, g.layer, g.tensor), g.values))
            .collect();
        Ok(Comparison {
            source: source.to_string(),
            report,
            yours,
        })
    }

    pub fn tolerance(&self) -> f64 {
        self.report.tolerance
    }

    pub fn yours(
        &self,
        step: usize,
        layer: Option<usize>,
        tensor: TensorName,
    ) -> Option<&ArrayD<f64>> {
        self.yours.get(&(step, layer, tensor))
    }

    /// The user's value of one cell, if they gave that tensor.
    pub fn your_value(
        &self,
        step: usize,
        layer: Option<usize>,
        tensor: TensorName,
        index: &[usize],
    ) -> Option<f64> {
        self.yours(step, layer, tensor)?.get(IxDyn(index)).copied()
    }

    pub fn tensor_diff(
        &self,
        step: usize,
        layer: Option<usize>,
        tensor: TensorName,
    ) -> Option<&TensorDiff> {
        self.report
            .tensors
            .iter()
            .find(|t| t.step == step && t.layer == layer && t.tensor == tensor)
    }

    /// How many tensors the user gave for a layer (or the loss) at a step, and how many
    /// differ, counting only the tensors for which `known(tensor name)` holds.
    pub fn agreement(
        &self,
        step: usize,
        layer: Option<usize>,
        known: impl Fn(TensorName) -> bool,
    ) -> Option<LayerAgreement> {
        let tensors: Vec<&TensorDiff> = self
            .report
            .tensors
            .iter()
            .filter(|t| t.step == step && t.layer == layer && known(t.tensor))
            .collect();
        (!tensors.is_empty()).then(|| LayerAgreement {
            tensors: tensors.len(),
            differing: tensors.iter().filter(|t| t.mismatches > 0).count(),
            mistakes: tensors.iter().filter(|t| t.made_here()).count(),
        })
    }

    /// Every window of max-pool layer `layer` at `step`, the reference's switch (`reference`,
    /// the trace's argmax) beside the user's, in row-major order; None unless the user gave
    /// that layer's argmax.
    pub fn switch_pairs(
        &self,
        step: usize,
        layer: usize,
        reference: &Array3<usize>,
    ) -> Option<Vec<SwitchPair>> {
        let yours = self.yours(step, Some(layer), TensorName::Argmax)?;
        if yours.shape() != reference.shape() {
            return None;
        }
        Some(
            reference
                .indexed_iter()
                .zip(yours.iter())
                .map(|(((channel, i, j), &reference), &yours)| SwitchPair {
                    channel,
                    window: [i, j],
                    reference,
                    yours,
                })
                .collect(),
        )
    }

    /// The user's tensor laid out like `reference` (the debugger shows some tensors
    /// flattened, e.g. ∂L/∂y), with a mask of the cells that differ from it.
    pub fn aligned(
        &self,
        step: usize,
        layer: Option<usize>,
        tensor: TensorName,
        reference: &ArrayViewD<'_, f64>,
    ) -> Option<(ArrayD<f64>, ArrayD<bool>)> {
        let yours = self.yours(step, layer, tensor)?;
        if yours.len() != reference.len() {
            return None;
        }
        let yours =
            ArrayD::from_shape_vec(reference.raw_dim(), yours.iter().copied().collect()).ok()?;
        let tolerance = self.tolerance();
        let differs = ndarray::Zip::from(&yours)
            .and(reference)
            .map_collect(|&y, &r| cell_mismatch(y, r, tolerance));
        Some((yours, differs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{LayerTrace, Pass};
    use crate::scenario::default_scenario;

    #[test]
    fn marks_the_cells_that_differ_and_summarises_layers() {
        let s = default_scenario();
        let trace = s.model.trace(0);
        let reference = trace.layers[1]
            .1
            .tensor(TensorName::DeltaInput)
            .unwrap()
            .to_owned();
        let mut wrong = reference.clone();
        wrong[[0, 0, 1]] += 1.0;
        let given = vec![GivenTensor {
            step: 0,
            pass: Pass::Backward,
            layer: Some(1),
            tensor: TensorName::DeltaInput,
            values: wrong,
            path: "steps[0].layers[1].delta_input".into(),
        }];
        let c = Comparison::new("mine.json", &s.name, &s.model, given.clone(), 1e-6).unwrap();
        let (yours, mask) = c
            .aligned(0, Some(1), TensorName::DeltaInput, &reference.view())
            .unwrap();
        assert_eq!(yours[[0, 0, 1]], reference[[0, 0, 1]] + 1.0);
        assert_eq!(mask.iter().filter(|&&m| m).count(), 1);
        assert!(mask[[0, 0, 1]]);
        // Its δ_output is not in the file: the difference is not located.
        assert_eq!(
            c.agreement(0, Some(1), |_| true),
            Some(LayerAgreement {
                tensors: 1,
                differing: 1,
                mistakes: 0
            })
        );
        // With it (the reference's), the mistake is made in this layer.
        let mut with_input = given.clone();
        with_input.push(GivenTensor {
            tensor: TensorName::DeltaOutput,
            values: trace.layers[1]
                .1
                .tensor(TensorName::DeltaOutput)
                .unwrap()
                .to_owned(),
            path: "steps[0].layers[1].delta_output".into(),
            ..given[0].clone()
        });
        let located = Comparison::new("mine.json", &s.name, &s.model, with_input, 1e-6).unwrap();
        assert_eq!(
            located.agreement(0, Some(1), |_| true),
            Some(LayerAgreement {
                tensors: 2,
                differing: 1,
                mistakes: 1
            })
        );
        assert_eq!(
            c.agreement(0, Some(1), |t| t != TensorName::DeltaInput),
            None
        );
        assert_eq!(c.agreement(0, Some(0), |_| true), None);
        assert_eq!(
            c.your_value(0, Some(1), TensorName::DeltaInput, &[0, 0, 1]),
            Some(reference[[0, 0, 1]] + 1.0)
        );
        assert!(
            c.aligned(0, Some(1), TensorName::DeltaOutput, &reference.view())
                .is_none()
        );
        // The loss node shows ∂L/∂y flat: the user's shaped tensor is laid out alike.
        let flat = reference
            .iter()
            .copied()
            .collect::<ndarray::Array1<f64>>()
            .into_dyn();
        assert_eq!(
            c.aligned(0, Some(1), TensorName::DeltaInput, &flat.view())
                .unwrap()
                .1
                .iter()
                .filter(|&&m| m)
                .count(),
            1
        );
    }

    #[test]
    fn a_flat_switch_decodes_to_a_cell_of_the_plane_or_to_none() {
        assert_eq!(decode_switch(0.0, [3, 4]), Some([0, 0]));
        assert_eq!(
            decode_switch(6.0, [3, 4]),
            Some([1, 2]),
            "h·W + w with W = 4"
        );
        assert_eq!(decode_switch(11.0, [3, 4]), Some([2, 3]), "the last cell");
        for none in [12.0, -1.0, 2.5, f64::NAN, f64::INFINITY, -0.5] {
            assert_eq!(decode_switch(none, [3, 4]), None, "{none}");
        }
    }

    #[test]
    fn switch_pairs_hold_every_window_and_compare_positions_exactly() {
        let s = crate::scenario::load(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("scenarios/max_pool_switches.json"),
        )
        .unwrap();
        let trace = s.model.trace(0);
        let LayerTrace::Pool(pool) = &trace.layers[1].1 else {
            panic!("pool1 is layer 1")
        };
        let reference = pool.argmax.clone().unwrap();
        let mut yours = reference.mapv(|a| a as f64);
        // Off by a hair: with a loose tolerance a number would agree, a position does not.
        yours[[1, 2, 1]] += 1e-4;
        let given = vec![GivenTensor {
            step: 0,
            pass: Pass::Forward,
            layer: Some(1),
            tensor: TensorName::Argmax,
            values: yours.into_dyn(),
            path: "steps[0].layers[1].argmax".into(),
        }];
        let c = Comparison::new("mine.json", &s.name, &s.model, given, 1e-3).unwrap();
        let pairs = c.switch_pairs(0, 1, &reference).unwrap();
        assert_eq!(pairs.len(), reference.len());
        assert_eq!(
            pairs[3 * 3 + 2 * 3 + 1],
            SwitchPair {
                channel: 1,
                window: [2, 1],
                reference: reference[[1, 2, 1]],
                yours: reference[[1, 2, 1]] as f64 + 1e-4,
            },
            "row-major: channel, then window row, then column"
        );
        let differing: Vec<_> = pairs.iter().filter(|p| p.differs()).collect();
        assert_eq!(differing.len(), 1);
        assert_eq!(differing[0].window, [2, 1]);
        assert!(
            c.switch_pairs(0, 3, &reference).is_none(),
            "no argmax given"
        );
        assert!(
            c.switch_pairs(0, 1, &Array3::zeros((2, 2, 2))).is_none(),
            "not the reference's shape"
        );
    }

    #[test]
    fn cells_within_the_tolerance_are_not_marked() {
        let s = default_scenario();
        let reference = s.model.trace(0).layers[1]
            .1
            .tensor(TensorName::DeltaInput)
            .unwrap()
            .to_owned();
        // Off by 1e-4 in one cell, by 1e-2 in another: with a tolerance of 1e-3 (a float32
        // implementation's), only the second differs, in the report and in the map.
        let mut yours = reference.clone();
        yours[[0, 0, 0]] += 1e-4;
        yours[[0, 0, 1]] += 1e-2;
        let given = vec![GivenTensor {
            step: 0,
            pass: Pass::Backward,
            layer: Some(1),
            tensor: TensorName::DeltaInput,
            values: yours,
            path: "steps[0].layers[1].delta_input".into(),
        }];
        let c = Comparison::new("mine.json", &s.name, &s.model, given, 1e-3).unwrap();
        let (_, mask) = c
            .aligned(0, Some(1), TensorName::DeltaInput, &reference.view())
            .unwrap();
        assert_eq!(mask.iter().filter(|&&m| m).count(), 1);
        assert!(mask[[0, 0, 1]]);
        assert_eq!(
            c.tensor_diff(0, Some(1), TensorName::DeltaInput)
                .unwrap()
                .mismatches,
            1
        );
    }
}
