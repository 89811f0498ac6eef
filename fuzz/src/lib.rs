//! The fuzz targets' harness; the property tests in `tests/robustness_*.rs` include the same file.
pub mod harness;
