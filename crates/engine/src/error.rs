//! Every way a model or an input can be refused, with a message a person can act on.

use alloc::string::String;

use aiop_kernels::KernelError;

/// Why the engine refused a model or an input. Decoding, validation and running never panic:
/// every malformed model and every wrong input ends here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// The model is longer than [`crate::limits::MAX_MODEL_BYTES`] (rule C1).
    #[error("model is {len} bytes; the engine accepts at most {limit} bytes")]
    ModelTooLarge {
        /// Length of the model, in bytes.
        len: usize,
        /// The largest accepted length, in bytes.
        limit: usize,
    },
    /// A field extends past the end of the bytes (rule C11).
    #[error("model bytes end early at offset {offset} while reading {what}")]
    Truncated {
        /// Byte offset in the model where the field that does not fit starts.
        offset: usize,
        /// Name of that field.
        what: &'static str,
    },
    /// Bytes 0-3 are not `"AIOP"` (rule C2).
    #[error("not an aiop model: it does not start with the magic bytes \"AIOP\"")]
    BadMagic,
    /// The header's version byte (the value held) names no version this engine reads (rule C3).
    #[error("model format version {0} is not supported; this engine reads versions 1, 2 and 3")]
    UnsupportedVersion(u8),
    /// A field the decoder checks by itself holds a value outside its listed ones: a reserved
    /// byte or flag that is not 0, an enumeration byte, a rank, or a zero dimension (rules
    /// C4, C5, C7, C9).
    #[error("{what} at offset {offset} is {value}; it must be {expected}")]
    NonCanonical {
        /// Byte offset of the field in the model.
        offset: usize,
        /// Name of the field.
        what: &'static str,
        /// The value found.
        value: i64,
        /// The accepted values, in words.
        expected: &'static str,
    },
    /// Bytes follow the last op record (rule C12).
    #[error("{extra} bytes follow the last op (at offset {offset}); a model ends with its last op")]
    TrailingBytes {
        /// Byte offset where the last op record ends.
        offset: usize,
        /// Number of bytes after it.
        extra: usize,
    },
    /// An op code the model's version does not define (rule C9).
    #[error("unknown op code {code} at offset {offset}")]
    UnknownOp {
        /// Byte offset of the op record (its code byte).
        offset: usize,
        /// The op code found.
        code: u8,
    },
    /// A tensor breaks a rule of its own (shape, zero point, scale, data) or is never used.
    #[error("tensor {tensor}: {reason}")]
    InvalidTensor {
        /// Index of the tensor in the model.
        tensor: usize,
        /// The rule it breaks, in words.
        reason: String,
    },
    /// An op breaks a rule (section 4.3 of the format), or needs a later format version.
    #[error("op {op} ({kind}): {reason}")]
    InvalidOp {
        /// Index of the op in execution order.
        op: usize,
        /// The op's name, as [`crate::Op::name`].
        kind: &'static str,
        /// The rule it breaks, in words.
        reason: String,
    },
    /// A model-level or dataflow rule is broken; the value says which, in words.
    #[error("invalid model: {0}")]
    InvalidModel(String),
    /// A count or size is over an engine limit (or a field's width).
    #[error("{what} is {value}, over the engine's limit of {limit}")]
    LimitExceeded {
        /// What was counted.
        what: &'static str,
        /// The value found (`u64::MAX` when the count itself overflowed).
        value: u64,
        /// The largest allowed value.
        limit: u64,
    },
    /// A header field differs from the value computed from the model (rule C14).
    #[error("header declares {field} = {declared} but the model's ops add up to {computed}")]
    HeaderMismatch {
        /// Name of the header field.
        field: &'static str,
        /// The value the header holds.
        declared: u64,
        /// The value computed from the model.
        computed: u64,
    },
    /// A run's input is not exactly the model's input length.
    #[error("input is {actual} bytes; this model takes exactly {expected} bytes (an int8 tensor of shape {shape})")]
    InputLength {
        /// Bytes the model takes: one per input element.
        expected: usize,
        /// Bytes given.
        actual: usize,
        /// The input tensor's shape, as text (`[h, w, c]`).
        shape: String,
    },
    /// From the kernel layer: the requested kernel path is unknown or not available on this
    /// CPU, or (never for a validated model) a kernel was given a buffer of the wrong size.
    #[error("kernel: {0}")]
    Kernel(#[from] KernelError),
}

/// The engine's result type: `E` defaults to [`EngineError`].
pub type Result<T, E = EngineError> = core::result::Result<T, E>;
