//! The tooling's error type: every variant says what to fix.

use std::path::PathBuf;

/// Errors of the model tooling.
#[derive(Debug, thiserror::Error)]
pub enum ToolsError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A data file (CSV) is malformed.
    #[error("{path}, line {line}: {reason}")]
    Data {
        /// The file.
        path: PathBuf,
        /// The 1-based line at fault; 0 when the fault is the whole file.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The architecture description cannot be read, or its layers do not fit together.
    #[error("architecture description: {0}")]
    Arch(String),
    /// The float weights cannot be read or written, or do not match the architecture.
    #[error("float weights: {0}")]
    Weights(String),
    /// A candle tensor operation failed.
    #[error("candle: {0}")]
    Candle(#[from] candle_core::Error),
    /// The engine refused the model, or failed to run it.
    #[error("aiop engine rejected the model: {0}")]
    Engine(#[from] aiop_engine::EngineError),
    /// The .tflite file is not a well-formed int8 model.
    #[error("malformed .tflite file: {0}")]
    TfliteFormat(String),
    /// A .tflite operator has no counterpart in the model-format version asked for.
    #[error("operator {index} is {op}, which aiop cannot import; supported: {supported}")]
    UnsupportedOp {
        /// The operator's position in the subgraph, from 0.
        index: usize,
        /// The operator's name, with a hint where one helps.
        op: String,
        /// The operators that format version imports.
        supported: &'static str,
    },
    /// A supported .tflite operator has options or tensors aiop cannot represent.
    #[error("cannot import operator {index} ({op}): {reason}")]
    Unimportable {
        /// The operator's position in the subgraph, from 0.
        index: usize,
        /// The operator's name.
        op: String,
        /// What aiop cannot represent.
        reason: String,
    },
    /// A value cannot be quantized as the model needs it (a scale out of range, an input the
    /// model cannot take).
    #[error("quantization: {0}")]
    Quantize(String),
}

/// The tooling's result type.
pub type Result<T> = std::result::Result<T, ToolsError>;

/// Reads a whole file, naming it in the error.
pub fn read(path: &std::path::Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| ToolsError::Io { path: path.to_path_buf(), source })
}

/// Writes a whole file, naming it in the error.
pub fn write(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).map_err(|source| ToolsError::Io { path: path.to_path_buf(), source })
}
