//! Tensors as nested JSON arrays, both ways. Shared by scenario files (finite numbers
//! only) and trace files (where a non-finite value is the string "NaN", "inf" or "-inf").
//! Files are read by the streaming reader in `scenario::tensor`; `parse_tensor` runs the
//! same reader over a JSON value already in memory.

use ndarray::{ArrayD, ArrayViewD, Axis};
use serde::de::DeserializeSeed;
use serde_json::Value;

use crate::error::FieldError;
use crate::scenario::tensor::TensorSeed;

/// Whether the strings "NaN", "inf" and "-inf" are accepted in place of numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NonFinite {
    Refuse,
    AsStrings,
}

/// The value of a non-finite number as a trace writes it: "NaN", "inf" or "-inf".
pub fn non_finite_value(s: &str) -> Option<f64> {
    match s {
        "NaN" => Some(f64::NAN),
        "inf" => Some(f64::INFINITY),
        "-inf" => Some(f64::NEG_INFINITY),
        _ => None,
    }
}

/// Parse a (possibly nested) array of numbers, checking that it is rectangular and within
/// the limit of numbers per tensor. `path` names the value in error messages, e.g.
/// `layers[2].weights`.
pub fn parse_tensor(
    value: &Value,
    path: &str,
    non_finite: NonFinite,
) -> Result<ArrayD<f64>, FieldError> {
    let mut track = serde_path_to_error::Track::new();
    let read = TensorSeed { non_finite }
        .deserialize(serde_path_to_error::Deserializer::new(value, &mut track));
    match read {
        Ok(t) => Ok(t.into_array()),
        Err(e) => {
            let within = track.path().to_string();
            let within = if within == "." { "" } else { &within };
            Err(FieldError::new(format!("{path}{within}"), e.to_string()))
        }
    }
}

/// A number for a trace file: full precision, non-finite values as strings.
pub fn number_to_json(v: f64) -> Value {
    if v.is_nan() {
        Value::from("NaN")
    } else if v == f64::INFINITY {
        Value::from("inf")
    } else if v == f64::NEG_INFINITY {
        Value::from("-inf")
    } else {
        Value::from(v)
    }
}

pub fn tensor_to_json(t: &ArrayViewD<'_, f64>) -> Value {
    if t.ndim() == 0 {
        return number_to_json(*t.first().expect("rank-0 tensors hold one value"));
    }
    Value::Array(
        t.axis_iter(Axis(0))
            .map(|sub| tensor_to_json(&sub))
            .collect(),
    )
}

pub fn index_tensor_to_json(t: &ArrayViewD<'_, usize>) -> Value {
    if t.ndim() == 0 {
        return Value::from(*t.first().expect("rank-0 tensors hold one value"));
    }
    Value::Array(
        t.axis_iter(Axis(0))
            .map(|sub| index_tensor_to_json(&sub))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trips_with_non_finite_values() {
        let v = json!([[1.5, "NaN"], ["inf", "-inf"]]);
        let t = parse_tensor(&v, "x", NonFinite::AsStrings).unwrap();
        assert_eq!(t.shape(), &[2, 2]);
        assert_eq!(tensor_to_json(&t.view()), v);
        for x in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let Value::String(s) = number_to_json(x) else {
                panic!("{x} is written as a string")
            };
            let back = non_finite_value(&s).unwrap();
            assert!(back == x || back.is_nan() && x.is_nan(), "{s}");
        }
    }

    #[test]
    fn ragged_arrays_name_the_row() {
        let err = parse_tensor(&json!([[1, 2], [3]]), "input", NonFinite::Refuse).unwrap_err();
        assert_eq!(
            err.to_string(),
            "input[1]: ragged array: expected 2 entries (like its first sibling), got 1"
        );
        let err = parse_tensor(&json!([[1, 2], [3, "x"]]), "input", NonFinite::Refuse).unwrap_err();
        assert_eq!(
            err.to_string(),
            "input[1][1]: expected a number, got the string \"x\""
        );
        let err = parse_tensor(&json!([[1, "NaN"]]), "input", NonFinite::Refuse).unwrap_err();
        assert_eq!(
            err.to_string(),
            "input[0][1]: expected a number, got the string \"NaN\""
        );
        let err = parse_tensor(&json!([1, "nan"]), "t", NonFinite::AsStrings).unwrap_err();
        assert_eq!(
            err.to_string(),
            "t[1]: expected a number, \"NaN\", \"inf\" or \"-inf\", got \"nan\""
        );
    }
}
