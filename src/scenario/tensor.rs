//! Tensors of scenario and trace files, read straight from the JSON text into f64s, with
//! the limits checked number by number while reading. A generic JSON tree would cost some
//! 40 bytes per number before any limit could be checked (a 256 MiB file of `0,0,0,…` took
//! 9 GB).
//!
//! A tensor is a rectangular nest of arrays of numbers. Its shape is read along the first
//! element at each depth (the "first sibling"); every later array at that depth must have
//! the same length. Errors carry the path of the array or cell at fault (through
//! serde_path_to_error) and the line and column in the file. Scenario files hold finite
//! numbers only; trace files write a non-finite value as the string "NaN", "inf" or "-inf"
//! ([`NonFinite`]).

use std::cell::Cell;
use std::fmt;

use ndarray::{ArrayD, IxDyn};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::limits::{MAX_NESTING, MAX_NUMBERS_PER_TENSOR};
use crate::error::FieldError;
use crate::tensor_json::{NonFinite, non_finite_value};

/// A tensor as written in the file: its shape and its numbers in row-major order.
#[derive(Clone, Debug, PartialEq)]
pub struct RawTensor {
    pub shape: Vec<usize>,
    pub values: Vec<f64>,
}

impl RawTensor {
    pub fn into_array(self) -> ArrayD<f64> {
        ArrayD::from_shape_vec(IxDyn(&self.shape), self.values)
            .expect("the shape was checked while reading")
    }
}

/// A limit on the numbers of all the tensors of one file together.
#[derive(Clone, Copy, Debug)]
pub struct FileLimit {
    pub numbers: usize,
    /// What the limit is counted over, for the message: " per step".
    pub per: &'static str,
}

#[derive(Clone, Copy)]
struct FileCount {
    read: usize,
    limit: FileLimit,
}

thread_local! {
    /// Numbers read so far from the tensors of the file being parsed (see [`read_document`]);
    /// `None` when no file is being parsed.
    static FILE_NUMBERS: Cell<Option<FileCount>> = const { Cell::new(None) };
}

/// While alive, counts the numbers of every tensor read on this thread against a limit.
struct FileBudget(());

impl FileBudget {
    fn start(limit: FileLimit) -> Self {
        FILE_NUMBERS.with(|n| n.set(Some(FileCount { read: 0, limit })));
        FileBudget(())
    }
}

impl Drop for FileBudget {
    fn drop(&mut self) {
        FILE_NUMBERS.with(|n| n.set(None));
    }
}

/// Read a whole JSON document (a scenario, a trace) with `seed`, the numbers of all its
/// tensors counted against `limit` as they are read. Errors carry the JSON path of the
/// problem (none for the root, or for a syntax error serde cannot place) and serde's line
/// and column; anything after the document is refused.
pub fn read_document<'de, S: DeserializeSeed<'de>>(
    text: &'de str,
    seed: S,
    limit: FileLimit,
) -> Result<S::Value, FieldError> {
    read_document_with(text, seed, limit, NonFinite::Refuse)
}

/// [`read_document`] for a document whose tensors write non-finite values as `non_finite`
/// says: with [`NonFinite::AsStrings`] (a trace), a bare `NaN`, `Infinity` or `-Infinity`
/// (what Python's json.dump writes for them; not JSON) is refused with the strings to write
/// instead.
pub fn read_document_with<'de, S: DeserializeSeed<'de>>(
    text: &'de str,
    seed: S,
    limit: FileLimit,
    non_finite: NonFinite,
) -> Result<S::Value, FieldError> {
    let _budget = FileBudget::start(limit);
    let mut de = serde_json::Deserializer::from_str(text);
    let mut track = serde_path_to_error::Track::new();
    let read = seed.deserialize(serde_path_to_error::Deserializer::new(&mut de, &mut track));
    let value = match read {
        Ok(value) => value,
        Err(e) => {
            let path = track.path().to_string();
            // "." is the root and "?" an unknown place (a syntax error): serde's line and
            // column say where.
            let path = if path == "." || path == "?" {
                String::new()
            } else {
                path
            };
            if let (NonFinite::AsStrings, serde_json::error::Category::Syntax) =
                (non_finite, e.classify())
                && let Some((token, column)) = bare_non_finite(text, e.line(), e.column())
            {
                return Err(FieldError::new(
                    path,
                    format!(
                        "{token} is not JSON (though Python's json.dump writes it): write a value that is not finite as the string \"NaN\", \"inf\" or \"-inf\" at line {} column {column}",
                        e.line()
                    ),
                ));
            }
            return Err(FieldError::new(path, e.to_string()));
        }
    };
    de.end().map_err(|e| FieldError::new("", e.to_string()))?;
    Ok(value)
}

/// The bare `NaN`, `Infinity` or `-Infinity` at or just before serde's error position
/// (1-based line, 1-based byte column), with the column where it starts.
fn bare_non_finite(text: &str, line: usize, column: usize) -> Option<(&'static str, usize)> {
    let row = text.split('\n').nth(line.checked_sub(1)?)?.as_bytes();
    // Serde stops at the token's first letter: after the `-` of `-Infinity`.
    let at = column.checked_sub(1)?.min(row.len());
    let start = if at > 0 && row[at - 1] == b'-' {
        at - 1
    } else {
        at
    };
    let rest = &row[start..];
    let token = ["NaN", "Infinity", "-Infinity"]
        .into_iter()
        .find(|t| rest.starts_with(t.as_bytes()))?;
    // Not the start of a longer word.
    let after = rest.get(token.len());
    if after.is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_') {
        return None;
    }
    Some((token, start + 1))
}

/// What has been learnt of the tensor so far.
struct Reading {
    /// Length of the first array seen at each depth, once it is complete.
    shape: Vec<Option<usize>>,
    /// The depth at which numbers sit, once known.
    rank: Option<usize>,
    values: Vec<f64>,
    non_finite: NonFinite,
}

impl Reading {
    fn expected(&self, depth: usize) -> String {
        let (number, either) = match self.non_finite {
            NonFinite::Refuse => ("a number", "a number or an array of numbers"),
            NonFinite::AsStrings => (
                "a number, \"NaN\", \"inf\" or \"-inf\"",
                "a number, \"NaN\", \"inf\", \"-inf\" or an array of them",
            ),
        };
        if self.rank == Some(depth) {
            return number.into();
        }
        match self.shape.get(depth).copied().flatten() {
            Some(len) => format!("an array of {len}"),
            None => either.into(),
        }
    }

    fn push(&mut self, v: f64) -> Result<(), OverLimit> {
        if self.values.len() >= MAX_NUMBERS_PER_TENSOR {
            return Err(OverLimit::Tensor {
                limit: MAX_NUMBERS_PER_TENSOR,
            });
        }
        let in_file = FILE_NUMBERS.with(|n| {
            let count = n.get().map(|c| FileCount {
                read: c.read + 1,
                ..c
            });
            n.set(count);
            count
        });
        if let Some(c) = in_file.filter(|c| c.read > c.limit.numbers) {
            return Err(OverLimit::File(c.limit));
        }
        self.values.push(v);
        Ok(())
    }
}

/// A number read past a limit; serde places it (path, line and column).
#[derive(Debug, thiserror::Error)]
enum OverLimit {
    #[error("holds more than the limit of {limit} numbers per tensor")]
    Tensor { limit: usize },
    #[error("the tensors of this file hold more than the limit of {} numbers{}", .0.numbers, .0.per)]
    File(FileLimit),
}

/// One level of nesting: the value at `depth` (0 is the tensor itself).
struct Level<'r> {
    depth: usize,
    reading: &'r mut Reading,
}

impl<'de> DeserializeSeed<'de> for Level<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl Level<'_> {
    /// A number, or a non-finite value written as a string; `what` describes it.
    fn number<E: de::Error>(self, v: f64, what: &dyn fmt::Display) -> Result<(), E> {
        let depth = self.depth;
        let r = self.reading;
        match r.rank {
            Some(rank) if rank != depth => {
                return Err(E::custom(format!(
                    "expected {}, got {what}",
                    r.expected(depth)
                )));
            }
            Some(_) => {}
            None => r.rank = Some(depth),
        }
        r.push(v).map_err(E::custom)
    }

    fn other<E: de::Error>(self, what: &str) -> Result<(), E> {
        Err(E::custom(format!(
            "expected {}, got {what}",
            self.reading.expected(self.depth)
        )))
    }
}

impl<'de> Visitor<'de> for Level<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a number or an array of numbers")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.number(v as f64, &format_args!("the number {v}"))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.number(v as f64, &format_args!("the number {v}"))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        // JSON has no NaN or infinity; a non-finite value could only come from elsewhere.
        if !v.is_finite() {
            return Err(E::custom(format!("{v} is not a finite f64")));
        }
        self.number(v, &format_args!("the number {v}"))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        match self.reading.non_finite {
            NonFinite::Refuse => self.other(&format!("the string \"{v}\"")),
            NonFinite::AsStrings => match non_finite_value(v) {
                Some(x) => self.number(x, &format_args!("\"{v}\"")),
                None => self.other(&format!("\"{v}\"")),
            },
        }
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.other(&v.to_string())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.other("null")
    }
    fn visit_map<A: MapAccess<'de>>(self, _map: A) -> Result<(), A::Error> {
        self.other("an object")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let depth = self.depth;
        let r = self.reading;
        if r.rank.is_some_and(|rank| depth >= rank) {
            return Err(de::Error::custom(format!(
                "expected {}, got an array",
                r.expected(depth)
            )));
        }
        if depth >= MAX_NESTING {
            return Err(de::Error::custom(format!(
                "arrays are nested more than {MAX_NESTING} deep"
            )));
        }
        if r.shape.len() <= depth {
            r.shape.push(None);
        }
        let known = r.shape[depth];
        let mut count = 0usize;
        loop {
            if known.is_some_and(|len| count >= len) {
                // Longer than its first sibling: count the rest without keeping it.
                while seq.next_element::<IgnoredAny>()?.is_some() {
                    count += 1;
                }
                break;
            }
            let level = Level {
                depth: depth + 1,
                reading: &mut *r,
            };
            if seq.next_element_seed(level)?.is_none() {
                break;
            }
            count += 1;
        }
        match known {
            None => {
                r.shape[depth] = Some(count);
                if count == 0 && r.rank.is_none() {
                    r.rank = Some(depth + 1);
                }
                Ok(())
            }
            Some(len) if len == count => Ok(()),
            Some(len) => Err(de::Error::custom(format!(
                "ragged array: expected {len} entries (like its first sibling), got {count}"
            ))),
        }
    }
}

/// Reads one tensor, with non-finite values refused or written as strings.
#[derive(Clone, Copy, Debug)]
pub struct TensorSeed {
    pub non_finite: NonFinite,
}

/// As in a scenario file: finite numbers only.
impl<'de> serde::Deserialize<'de> for RawTensor {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        TensorSeed {
            non_finite: NonFinite::Refuse,
        }
        .deserialize(deserializer)
    }
}

impl<'de> DeserializeSeed<'de> for TensorSeed {
    type Value = RawTensor;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<RawTensor, D::Error> {
        let mut reading = Reading {
            shape: Vec::new(),
            rank: None,
            values: Vec::new(),
            non_finite: self.non_finite,
        };
        Level {
            depth: 0,
            reading: &mut reading,
        }
        .deserialize(deserializer)?;
        let rank = reading.rank.unwrap_or(0);
        let shape: Vec<usize> = reading.shape[..rank]
            .iter()
            .map(|d| d.expect("every depth above the numbers has a complete first array"))
            .collect();
        Ok(RawTensor {
            shape,
            values: reading.values,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tensor on its own, as in a scenario; an error's path is `.` for the root.
    fn read(text: &str) -> Result<RawTensor, FieldError> {
        let mut de = serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize::<_, RawTensor>(&mut de)
            .map_err(|e| FieldError::new(e.path().to_string(), e.into_inner().to_string()))
    }

    #[test]
    fn reads_shapes_and_values_in_row_major_order() {
        let t = read("[[1, 2.5], [-3, 4e2]]").unwrap();
        assert_eq!(t.shape, [2, 2]);
        assert_eq!(t.values, [1.0, 2.5, -3.0, 400.0]);
        assert_eq!(read("7").unwrap().shape, Vec::<usize>::new());
        assert_eq!(read("[]").unwrap().shape, [0]);
        assert_eq!(read("[[], []]").unwrap().shape, [2, 0]);
        assert_eq!(read("[[[]]]").unwrap().shape, [1, 1, 0]);
    }

    #[test]
    fn ragged_and_mixed_arrays_name_the_place() {
        assert_eq!(
            read("[[1, 2], [3]]").unwrap_err().to_string(),
            "[1]: ragged array: expected 2 entries (like its first sibling), got 1 at line 1 column 12"
        );
        assert_eq!(
            read("[[1, 2], [3, 4, 5, 6]]").unwrap_err().to_string(),
            "[1]: ragged array: expected 2 entries (like its first sibling), got 4 at line 1 column 21"
        );
        assert_eq!(
            read("[[1, 2], 3]").unwrap_err().to_string(),
            "[1]: expected an array of 2, got the number 3 at line 1 column 10"
        );
        assert_eq!(
            read("[1, [2]]").unwrap_err().to_string(),
            "[1]: expected a number, got an array at line 1 column 5"
        );
        assert!(
            read("[[], [1]]").unwrap_err().to_string().starts_with(
                "[1]: ragged array: expected 0 entries (like its first sibling), got 1"
            ),
        );
        assert_eq!(
            read("[1, \"x\"]").unwrap_err().to_string(),
            "[1]: expected a number, got the string \"x\" at line 1 column 7"
        );
        assert!(
            read("[[1, null]]")
                .unwrap_err()
                .to_string()
                .starts_with("[0][1]: expected a number, got null")
        );
        assert!(
            read("{\"a\": 1}")
                .unwrap_err()
                .to_string()
                .contains("got an object")
        );
    }

    /// A tensor on its own, as in a trace.
    fn read_trace(text: &str) -> Result<RawTensor, FieldError> {
        let mut de = serde_json::Deserializer::from_str(text);
        let seed = TensorSeed {
            non_finite: NonFinite::AsStrings,
        };
        let mut track = serde_path_to_error::Track::new();
        seed.deserialize(serde_path_to_error::Deserializer::new(&mut de, &mut track))
            .map_err(|e| FieldError::new(track.path().to_string(), e.to_string()))
    }

    #[test]
    fn trace_tensors_write_non_finite_values_as_strings() {
        let t = read_trace(r#"[["NaN", 1], ["inf", "-inf"]]"#).unwrap();
        assert_eq!(t.shape, [2, 2]);
        assert!(t.values[0].is_nan());
        assert_eq!(t.values[1..], [1.0, f64::INFINITY, f64::NEG_INFINITY]);
        assert!(read_trace(r#""inf""#).unwrap().shape.is_empty());
        assert_eq!(
            read_trace(r#"[1, "nan"]"#).unwrap_err().to_string(),
            r#"[1]: expected a number, "NaN", "inf" or "-inf", got "nan" at line 1 column 9"#
        );
        assert_eq!(
            read_trace(r#"[[1], "NaN"]"#).unwrap_err().to_string(),
            r#"[1]: expected an array of 1, got "NaN" at line 1 column 11"#
        );
        // The same strings are not numbers in a scenario.
        assert_eq!(
            read(r#"[1, "inf"]"#).unwrap_err().to_string(),
            r#"[1]: expected a number, got the string "inf" at line 1 column 9"#
        );
    }

    #[test]
    fn a_document_s_tensors_are_counted_together_against_its_limit() {
        let limit = FileLimit {
            numbers: 3,
            per: " per test",
        };
        let read_doc =
            |text| read_document(text, std::marker::PhantomData::<Vec<RawTensor>>, limit);
        assert_eq!(read_doc("[[1, 2], [3]]").unwrap().len(), 2);
        assert_eq!(
            read_doc("[[1, 2], [3, 4]]").unwrap_err().to_string(),
            "[1][1]: the tensors of this file hold more than the limit of 3 numbers per test at line 1 column 14"
        );
        assert_eq!(
            read_doc("[[1]] [").unwrap_err().to_string(),
            "trailing characters at line 1 column 7"
        );
        // Once the document is read, tensors are no longer counted.
        assert_eq!(read("[1, 2, 3, 4]").unwrap().values.len(), 4);
    }

    #[test]
    fn refuses_deep_nesting_and_too_many_numbers_while_reading() {
        let deep = format!("{}1{}", "[".repeat(9), "]".repeat(9));
        assert!(
            read(&deep)
                .unwrap_err()
                .to_string()
                .contains("nested more than 8 deep"),
            "{deep}"
        );
        let many = format!("[{}0]", "0,".repeat(MAX_NUMBERS_PER_TENSOR));
        let e = read(&many).unwrap_err().to_string();
        assert!(
            e.contains("more than the limit of 10000000 numbers per tensor"),
            "{e}"
        );
    }
}
