//! Errors: [`ConformanceError`] stops a run before it starts (bad path, factory); a
//! [`FailureKind`] is why one test case (or one unreadable file) failed.

use std::path::PathBuf;

use alloy_primitives::{B256, Bytes};

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum ConformanceError {
    #[error("{}: no such file or directory (get the tests into ../shared/ethereum-tests)", .0.display())]
    PathNotFound(PathBuf),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: no .json test files found", .0.display())]
    NoJsonFiles(PathBuf),
    #[error("building AiopEvmFactory: {0}")]
    Factory(#[from] aiop_precompile::ConfigError),
    #[error("starting a worker thread: {0}")]
    Thread(std::io::Error),
}

/// Why a test case failed. `factory` names which one: `"aiop"`, `"eth"` or `"both"` (the two
/// agreed with each other and both disagree with the expectation).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FailureKind {
    #[error("cannot read the file: {0}")]
    Read(String),
    #[error("cannot parse the file as a state test: {0}")]
    Parse(String),
    #[error("panicked: {0}")]
    Panic(String),
    #[error("cannot build the transaction, and no exception is expected: {0}")]
    TxEnv(String),
    #[error("{factory}: unexpected exception: got {got:?}, expected {expected:?}")]
    UnexpectedException { factory: &'static str, expected: Option<String>, got: Option<String> },
    #[error("{factory}: output {got} differs from the expected {expected}")]
    Output { factory: &'static str, got: Bytes, expected: Bytes },
    #[error("{factory}: logs hash {got} differs from the expected {expected}")]
    LogsHash { factory: &'static str, got: B256, expected: B256 },
    #[error("{factory}: state root {got} differs from the expected {expected}")]
    StateRoot { factory: &'static str, got: B256, expected: B256 },
    #[error("AiopEvmFactory and EthEvmFactory differ: {0}")]
    FactoriesDiffer(String),
}
