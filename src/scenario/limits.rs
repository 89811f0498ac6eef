//! Size limits, checked before anything is allocated. Documented in docs/scenario-format.md.

/// Numbers in any one tensor (input, weights, a layer's output, …): 10 million (80 MB).
pub const MAX_NUMBERS_PER_TENSOR: usize = 10_000_000;
/// Numbers held by the trace of one training step, all tensors together: 50 million (400 MB).
pub const MAX_NUMBERS_PER_STEP: usize = 50_000_000;
/// Numbers in the tensors of a trace file given to `diff` or `--compare`, all steps
/// together: 50 million (400 MB).
pub const MAX_NUMBERS_PER_TRACE: usize = 50_000_000;
/// Training steps in one scenario.
pub const MAX_STEPS: usize = 100_000;
/// Layers in one network.
pub const MAX_LAYERS: usize = 64;
/// Size of a scenario or trace file: 256 MiB.
pub const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;
/// Depth of nesting of a tensor's arrays.
pub const MAX_NESTING: usize = 8;
