//! The engine's limits. They are consensus rules: a model over any of them is invalid on every
//! node. They bound every allocation the engine makes from a model or an input.

/// Largest model, in bytes. (An on-chain model is further bounded by the chain's code-size limit.)
pub const MAX_MODEL_BYTES: usize = 4 << 20;
/// Most tensors in one model.
pub const MAX_TENSORS: usize = 1024;
/// Most ops in one model.
pub const MAX_OPS: usize = 512;
/// Highest tensor rank.
pub const MAX_RANK: usize = 4;
/// Most elements in one tensor.
pub const MAX_TENSOR_ELEMENTS: u64 = 1 << 24;
/// Most bytes of activations (all activation tensors together) one run may hold.
pub const MAX_ARENA_BYTES: u64 = 1 << 25;
/// Most multiply-accumulates (and pooling window reads) in one run.
pub const MAX_MACS: u64 = 1 << 36;
/// Most elements in the last axis of a Softmax (keeps its fixed-point sum of exponentials,
/// at most `depth * 2^19`, inside `i32`).
pub const MAX_SOFTMAX_DEPTH: u32 = 4095;
/// Largest value of a weight's magnitude: int8 weights are symmetric, `[-127, 127]`.
pub const MAX_WEIGHT_MAGNITUDE: i32 = 127;
/// Largest `|x - zero_point|` for an int8 activation with a zero point in `[-128, 127]`.
pub const MAX_CENTERED_ACTIVATION: i64 = 255;
/// Largest left shift of an Add's inputs before rescaling (`255 << 23` still fits in `i32`).
pub const MAX_ADD_LEFT_SHIFT: u8 = 23;

/// Largest magnitude of a HardSwish exponent (format v2): its values are 16-bit fixed point,
/// so shifting by more than 15 bits has no meaning.
pub const MAX_HARD_SWISH_EXPONENT: i8 = 15;

/// Most elements in the last axis of a LayerNorm (format v3): keeps `D * c - sum(c)` within
/// 2^21 and the sum of its squares within `u64`.
pub const MAX_LAYER_NORM_DEPTH: u32 = 4096;
/// Largest `|beta|` of a LayerNorm (format v3): `n * gamma + beta` stays inside `i32`.
pub const MAX_LAYER_NORM_BETA: i64 = 1 << 30;
/// Largest `erf_clip` of a Gelu (format v3): `erf_clip^2` stays within 2^21.
pub const MAX_GELU_ERF_CLIP: u16 = 1448;
/// Largest `erf_one` of a Gelu (format v3): `255 * 3 * 2^21` stays inside `i32`.
pub const MAX_GELU_ERF_ONE: i32 = 1 << 21;
