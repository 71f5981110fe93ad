//! The tooling's error type: every variant says what to fix.

use std::path::PathBuf;

/// Errors of the model tooling.
#[derive(Debug, thiserror::Error)]
pub enum ToolsError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}, line {line}: {reason}")]
    Data { path: PathBuf, line: usize, reason: String },
    #[error("architecture description: {0}")]
    Arch(String),
    #[error("float weights: {0}")]
    Weights(String),
    #[error("candle: {0}")]
    Candle(#[from] candle_core::Error),
    #[error("aiop engine rejected the model: {0}")]
    Engine(#[from] aiop_engine::EngineError),
    #[error("malformed .tflite file: {0}")]
    TfliteFormat(String),
    #[error("operator {index} is {op}, which aiop cannot import; supported: {supported}")]
    UnsupportedOp { index: usize, op: String, supported: &'static str },
    #[error("cannot import operator {index} ({op}): {reason}")]
    Unimportable { index: usize, op: String, reason: String },
    #[error("quantization: {0}")]
    Quantize(String),
    #[error("{0}")]
    Json(#[from] serde_json::Error),
}

pub type Result<T> = std::result::Result<T, ToolsError>;

/// Reads a whole file, naming it in the error.
pub fn read(path: &std::path::Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| ToolsError::Io { path: path.to_path_buf(), source })
}

/// Writes a whole file, naming it in the error.
pub fn write(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).map_err(|source| ToolsError::Io { path: path.to_path_buf(), source })
}
