//! Errors that name the place in the user's file where the problem is.

use std::fmt;

/// A problem with one field of an input file: `layers[2].weights: expected shape ...`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// JSON path such as `layers[2].weights`, or empty for the whole file.
    pub path: String,
    pub message: String,
}

impl FieldError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for FieldError {}

/// A user error: bad input the program refuses (exit status 2), as opposed to a bug.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("{file}: {source}")]
    Field {
        file: String,
        #[source]
        source: FieldError,
    },
    #[error("{file}: {message}")]
    File { file: String, message: String },
    #[error("{0}")]
    Usage(String),
}
