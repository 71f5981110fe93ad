//! aiop-gasbench: measures what a precompile call costs in time, and turns measurements into
//! gas constants.
//!
//! It times the aiop precompile through the real EVM call path on the shipped models and on
//! synthetic worst cases, times revm's standard precompiles in the same run as yardsticks,
//! fits the gas schedule by regression so no case is slower per gas than ecrecover, and writes
//! the report (`docs/gas-report.md` and a plot). `aiop bench gas` is its command line.
//!
//! This crate is tooling, not consensus code: it may use floats and clocks. It must never be
//! a dependency of the engine or the precompile, and its output is advice: the constants take
//! effect only when a person copies them into a new, versioned gas schedule.

pub mod cases;
pub mod cli;
pub mod evm;
pub mod fit;
pub mod measure;
pub mod report;
pub mod search;
pub mod timing;
pub mod yardsticks;

pub use measure::{Measurement, Options, Progress, measure};
pub use report::Report;

/// Why a benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum GasBenchError {
    /// A case could not be built, checked or called.
    #[error("case `{case}` cannot be built: {reason}")]
    Case {
        /// The case's name (or, for the built-in searched cases, the file they are read from).
        case: String,
        /// What went wrong, as the underlying error states it.
        reason: String,
    },
    /// The options ask for something this run cannot do; the message says what.
    #[error("{0}")]
    Config(String),
    /// A file or folder could not be read or written.
    #[error("cannot read or write `{path}`: {reason}")]
    Io {
        /// The file or folder.
        path: String,
        /// The I/O error's message.
        reason: String,
    },
}
