//! Errors: [`ConformanceError`] stops a run before it starts (bad path, factory); a
//! [`FailureKind`] is why one test case (or one unreadable file) failed.

use std::path::PathBuf;

use alloy_primitives::{B256, Bytes};

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum ConformanceError {
    /// The path to run does not exist.
    #[error("{}: no such file or directory (get the tests into ../shared/ethereum-tests)", .0.display())]
    PathNotFound(PathBuf),
    /// A directory under the path could not be listed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The directory being listed.
        path: PathBuf,
        /// What the OS reported.
        #[source]
        source: std::io::Error,
    },
    /// The path holds no `.json` file.
    #[error("{}: no .json test files found", .0.display())]
    NoJsonFiles(PathBuf),
    /// `AiopEvmFactory` refused its configuration.
    #[error("building AiopEvmFactory: {0}")]
    Factory(#[from] aiop_precompile::ConfigError),
    /// A worker thread could not be spawned.
    #[error("starting a worker thread: {0}")]
    Thread(std::io::Error),
}

/// Why a test case failed. `factory` names which one: `"aiop"`, `"eth"` or `"both"` (the two
/// agreed with each other and both disagree with the expectation).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FailureKind {
    /// The file cannot be read (the I/O error's text).
    #[error("cannot read the file: {0}")]
    Read(String),
    /// The file does not parse as a state test (the parser's message).
    #[error("cannot parse the file as a state test: {0}")]
    Parse(String),
    /// The format crate or revm panicked (the panic message); the unit's remaining cases
    /// fail as one.
    #[error("panicked: {0}")]
    Panic(String),
    /// `Test::tx_env` refused the transaction and no exception is expected (its error text).
    #[error("cannot build the transaction, and no exception is expected: {0}")]
    TxEnv(String),
    /// The transaction was rejected though no exception is expected, or executed though one is.
    #[error("{factory}: unexpected exception: got {got:?}, expected {expected:?}")]
    UnexpectedException {
        /// Which factory.
        factory: &'static str,
        /// The test's `expectException`, if any.
        expected: Option<String>,
        /// The rejection, as text, if the transaction was rejected.
        got: Option<String>,
    },
    /// The transaction's output differs from the unit's expected `out`.
    #[error("{factory}: output {got} differs from the expected {expected}")]
    Output {
        /// Which factory.
        factory: &'static str,
        /// Output the transaction returned.
        got: Bytes,
        /// The unit's `out`.
        expected: Bytes,
    },
    /// The logs hash differs from the test's `logs`.
    #[error("{factory}: logs hash {got} differs from the expected {expected}")]
    LogsHash {
        /// Which factory.
        factory: &'static str,
        /// keccak256 of the RLP list of the transaction's logs.
        got: B256,
        /// The test's `logs`.
        expected: B256,
    },
    /// The post-state root differs from the test's `hash`.
    #[error("{factory}: state root {got} differs from the expected {expected}")]
    StateRoot {
        /// Which factory.
        factory: &'static str,
        /// Root of the state left after the commit.
        got: B256,
        /// The test's `hash`.
        expected: B256,
    },
    /// The two factories gave different results, state roots or logs hashes (what differs,
    /// both ways).
    #[error("AiopEvmFactory and EthEvmFactory differ: {0}")]
    FactoriesDiffer(String),
}
