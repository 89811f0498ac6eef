//! Tensors as nested JSON arrays, both ways. Shared by scenario files (finite numbers
//! only) and trace files (where a non-finite value is the string "NaN", "inf" or "-inf").

use ndarray::{ArrayD, ArrayViewD, Axis, IxDyn};
use serde_json::Value;

use crate::error::FieldError;

/// Whether the strings "NaN", "inf" and "-inf" are accepted in place of numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NonFinite {
    Refuse,
    AsStrings,
}

/// Parse a (possibly nested) array of numbers, checking that it is rectangular.
/// `path` names the value in error messages, e.g. `layers[2].weights`.
pub fn parse_tensor(
    value: &Value,
    path: &str,
    non_finite: NonFinite,
    max_numbers: usize,
) -> Result<ArrayD<f64>, FieldError> {
    let shape = infer_shape(value, path)?;
    let count = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    match count {
        Some(n) if n <= max_numbers => {}
        _ => {
            return Err(FieldError::new(
                path,
                format!(
                    "shape {shape:?} holds more than the limit of {max_numbers} numbers per tensor"
                ),
            ));
        }
    }
    let mut values = Vec::with_capacity(count.unwrap_or(0));
    collect(value, &shape, path, non_finite, &mut values)?;
    Ok(ArrayD::from_shape_vec(IxDyn(&shape), values).expect("shape was checked while collecting"))
}

/// Shape read along the first element at each depth; `collect` checks the rest.
fn infer_shape(value: &Value, path: &str) -> Result<Vec<usize>, FieldError> {
    let mut shape = Vec::new();
    let mut v = value;
    while let Value::Array(items) = v {
        shape.push(items.len());
        match items.first() {
            Some(first) => v = first,
            None => break,
        }
        if shape.len() > 8 {
            return Err(FieldError::new(path, "arrays are nested more than 8 deep"));
        }
    }
    if shape.is_empty() && !value.is_array() {
        // A scalar is a rank-0 tensor; callers check the rank they need.
        return Ok(shape);
    }
    Ok(shape)
}

fn collect(
    value: &Value,
    shape: &[usize],
    path: &str,
    non_finite: NonFinite,
    out: &mut Vec<f64>,
) -> Result<(), FieldError> {
    match shape.split_first() {
        None => {
            out.push(number(value, path, non_finite)?);
            Ok(())
        }
        Some((&len, rest)) => {
            let Value::Array(items) = value else {
                return Err(FieldError::new(
                    path,
                    format!("expected an array of {len}, got {}", describe(value)),
                ));
            };
            if items.len() != len {
                return Err(FieldError::new(
                    path,
                    format!(
                        "ragged array: expected {len} entries (like its first sibling), got {}",
                        items.len()
                    ),
                ));
            }
            for (i, item) in items.iter().enumerate() {
                collect(item, rest, &format!("{path}[{i}]"), non_finite, out)?;
            }
            Ok(())
        }
    }
}

fn number(value: &Value, path: &str, non_finite: NonFinite) -> Result<f64, FieldError> {
    match (value, non_finite) {
        (Value::Number(n), _) => n
            .as_f64()
            .filter(|v| v.is_finite())
            .ok_or_else(|| FieldError::new(path, format!("{n} is not a finite f64"))),
        (Value::String(s), NonFinite::AsStrings) => match s.as_str() {
            "NaN" => Ok(f64::NAN),
            "inf" => Ok(f64::INFINITY),
            "-inf" => Ok(f64::NEG_INFINITY),
            _ => Err(FieldError::new(
                path,
                format!("expected a number, \"NaN\", \"inf\" or \"-inf\", got \"{s}\""),
            )),
        },
        _ => Err(FieldError::new(
            path,
            format!("expected a number, got {}", describe(value)),
        )),
    }
}

pub fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the string \"{s}\""),
        Value::Array(a) => format!("an array of {}", a.len()),
        Value::Object(_) => "an object".into(),
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
        let t = parse_tensor(&v, "x", NonFinite::AsStrings, 100).unwrap();
        assert_eq!(t.shape(), &[2, 2]);
        assert_eq!(tensor_to_json(&t.view()), v);
    }

    #[test]
    fn ragged_arrays_name_the_row() {
        let err = parse_tensor(&json!([[1, 2], [3]]), "input", NonFinite::Refuse, 100).unwrap_err();
        assert_eq!(
            err.to_string(),
            "input[1]: ragged array: expected 2 entries (like its first sibling), got 1"
        );
        let err =
            parse_tensor(&json!([[1, 2], [3, "x"]]), "input", NonFinite::Refuse, 100).unwrap_err();
        assert_eq!(
            err.to_string(),
            "input[1][1]: expected a number, got the string \"x\""
        );
    }

    #[test]
    fn refuses_tensors_over_the_limit_before_collecting() {
        let err = parse_tensor(&json!([1, 2, 3]), "bias", NonFinite::Refuse, 2).unwrap_err();
        assert!(err.to_string().contains("limit of 2 numbers"));
    }
}
