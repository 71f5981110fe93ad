//! Every way the precompile refuses a call. Each becomes a revert whose data is Solidity's
//! `Error(string)` carrying this message, so a caller sees why; only out of gas halts.

use alloy_primitives::{Address, U256};

use crate::code::ModelCodeError;

/// Why a call to the precompile was refused (reverted with this message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AiopError {
    #[error("aiop: calldata is {len} bytes, too short for a function selector; call through IAiop")]
    NoSelector { len: usize },
    #[error(
        "aiop: unknown function selector 0x{selector}; the precompile implements IAiop (infer, inferInline, cost, modelInfo)"
    )]
    UnknownSelector { selector: String },
    #[error("aiop: calldata does not ABI-decode as {function}: {reason}")]
    BadCalldata { function: &'static str, reason: String },
    #[error("aiop: the precompile takes no value, but {value} wei was sent; call it with value 0")]
    ValueSent { value: U256 },
    #[error("aiop: model {address}: {source}")]
    ModelCode { address: Address, source: ModelCodeError },
    #[error("aiop: model passed inline: {0}")]
    InlineModelCode(ModelCodeError),
    #[error("aiop: malformed model header: {0}")]
    MalformedHeader(aiop_engine::EngineError),
    /// A model of a format version this precompile version does not accept. The text is the
    /// one the engine gave before it read format v2, so the revert bytes of existing chains
    /// stay the same.
    #[error("aiop: malformed model header: model format version {0} is not supported; this engine reads version 1")]
    UnsupportedFormat(u8),
    #[error("aiop: input is {actual} bytes; this model takes exactly {expected} bytes")]
    InputLength { expected: u64, actual: U256 },
    #[error("aiop: invalid model: {0}")]
    InvalidModel(aiop_engine::EngineError),
    #[error("aiop: inference failed: {0}")]
    Inference(aiop_engine::EngineError),
}

/// A problem with the node's configuration of the precompile, found when it is built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("kernel path {0} is not available on this CPU; configure KernelPath::fastest() or KernelPath::Reference")]
    KernelPathUnavailable(&'static str),
}
