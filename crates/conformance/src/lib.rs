//! aiop-conformance: runs the Ethereum Foundation's state tests (`ethereum/tests`
//! `GeneralStateTests`, parsed with revm's published `revm-statetest-types`) through
//! [`aiop_precompile::AiopEvmFactory`] and through alloy-evm's plain
//! [`alloy_evm::EthEvmFactory`], at each case's fork, and checks that
//!
//! - the post-state root and the logs hash of every case equal the expected `hash` and `logs`
//!   (and an expected exception, `expectException`, is an invalid transaction), and
//! - both factories give the same execution result, state root and logs hash.
//!
//! It is the evidence that installing the inference precompile changes nothing for ordinary
//! transactions. [`Runner::run_path`] runs a file or a directory and returns a [`Report`]; the
//! binary (`cargo run --release -p aiop-conformance -- [PATH]`) runs all of them with a
//! progress bar; `tests/subset.rs` runs a fixed subset under `cargo test`.
//!
//! It must never: weaken a comparison to make a case pass (a case either passes, fails with
//! its reason, or is skipped for a reason listed in [`SkipReason`], counted in the report);
//! carry its own parser of the test format; configure either factory differently from the
//! other; or be a dependency of the node or the precompile (it is a test harness only).

pub mod error;
pub mod roots;
pub mod runner;

pub use error::{ConformanceError, FailureKind};
pub use roots::{EMPTY_LOGS_HASH, logs_hash, state_root};
pub use runner::{
    EIP7610, Failure, KNOWN_DIVERGENCES, KNOWN_UNPARSABLE, Report, Runner, SkipReason, collect_json_files,
    default_tests_dir,
};
