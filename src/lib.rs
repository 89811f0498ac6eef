//! deltascope: a terminal debugger for backpropagation through small convolutional networks.

pub mod anomaly;
pub mod app;
pub mod bench;
pub mod check;
pub mod diff;
pub mod engine;
pub mod error;
pub mod explain;
pub mod export;
pub mod files;
pub mod replay;
pub mod scenario;
pub mod tensor_json;
pub mod timeline;
pub mod ui;
