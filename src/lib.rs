//! deltascope: a terminal debugger for backpropagation through small convolutional networks.

pub mod app;
pub mod check;
pub mod engine;
pub mod error;
pub mod export;
pub mod files;
pub mod scenario;
pub mod tensor_json;
