//! Every way a model or an input can be refused, with a message a person can act on.

use alloc::string::String;

use aiop_kernels::KernelError;

/// Why the engine refused a model or an input. Decoding, validation and running never panic:
/// every malformed model and every wrong input ends here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    #[error("model is {len} bytes; the engine accepts at most {limit} bytes")]
    ModelTooLarge { len: usize, limit: usize },
    #[error("model bytes end early at offset {offset} while reading {what}")]
    Truncated { offset: usize, what: &'static str },
    #[error("not an aiop model: it does not start with the magic bytes \"AIOP\"")]
    BadMagic,
    #[error("model format version {0} is not supported; this engine reads versions 1 and 2")]
    UnsupportedVersion(u8),
    #[error("{what} at offset {offset} is {value}; it must be {expected}")]
    NonCanonical { offset: usize, what: &'static str, value: i64, expected: &'static str },
    #[error("{extra} bytes follow the last op (at offset {offset}); a model ends with its last op")]
    TrailingBytes { offset: usize, extra: usize },
    #[error("unknown op code {code} at offset {offset}")]
    UnknownOp { offset: usize, code: u8 },
    #[error("tensor {tensor}: {reason}")]
    InvalidTensor { tensor: usize, reason: String },
    #[error("op {op} ({kind}): {reason}")]
    InvalidOp { op: usize, kind: &'static str, reason: String },
    #[error("invalid model: {0}")]
    InvalidModel(String),
    #[error("{what} is {value}, over the engine's limit of {limit}")]
    LimitExceeded { what: &'static str, value: u64, limit: u64 },
    #[error("header declares {field} = {declared} but the model's ops add up to {computed}")]
    HeaderMismatch { field: &'static str, declared: u64, computed: u64 },
    #[error("input is {actual} bytes; this model takes exactly {expected} bytes (an int8 tensor of shape {shape})")]
    InputLength { expected: usize, actual: usize, shape: String },
    #[error("kernel: {0}")]
    Kernel(#[from] KernelError),
}

pub type Result<T, E = EngineError> = core::result::Result<T, E>;
