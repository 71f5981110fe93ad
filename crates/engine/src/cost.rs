//! What running a model costs, counted from the model alone when it is loaded.
//!
//! The precompile turns these counts into gas; they are a pure function of the model, known
//! before anything runs, and stored in the model header so a caller can price a model from
//! its first bytes. `docs/model-format.md` gives each op's formula.

/// Work counts of one run of a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Cost {
    /// Number of ops.
    pub ops: u64,
    /// Multiply-accumulates, plus one per window element read by a pooling op.
    pub macs: u64,
    /// Activation elements read and written by all ops.
    pub elements: u64,
    /// Fixed-point exponential / reciprocal evaluations (Softmax, Logistic, Tanh).
    pub transcendentals: u64,
    /// Bytes of activation memory one run holds.
    pub arena_bytes: u64,
}
