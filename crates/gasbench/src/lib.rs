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
    #[error("case `{case}` cannot be built: {reason}")]
    Case { case: String, reason: String },
    #[error("{0}")]
    Config(String),
    #[error("cannot read or write `{path}`: {reason}")]
    Io { path: String, reason: String },
}
