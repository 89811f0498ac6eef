//! The pure numerical engine: no terminal, no files. One module per layer kind, each with
//! its forward and backward side by side; `network` chains them and keeps a trace.

pub mod activation;
pub mod conv;
pub mod dense;
pub mod geometry;
pub mod init;
pub mod kernels;
pub mod loss;
pub mod network;
pub mod pool;
pub mod trace;

pub use activation::Activation;
pub use conv::Conv;
pub use dense::Dense;
pub use kernels::{KernelPath, PathChoice};
pub use loss::Loss;
pub use network::{Layer, LayerKind, LayerRun, Model};
pub use pool::{Pool, PoolKind};
pub use trace::{LayerTrace, Pass, StepTrace, TensorName};
