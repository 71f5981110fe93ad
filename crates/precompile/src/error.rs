//! Every way the precompile refuses a call, and every way its configuration can be wrong.
//!
//! A refusal becomes revert data by the spec's scheme ([`crate::spec::RevertScheme`]): under
//! v1 and v2 Solidity's `Error(string)` carrying this message (kept byte for byte: it is
//! consensus on those chains); from v3 on the numbers of [`crate::revert`]'s table, with this
//! message only for people (CLI, RPC error text). Only out of gas halts.

use alloy_primitives::{Address, U256};

use crate::storage::{ManifestError, ModelCodeError};

/// Why a call to the precompile was refused (reverted with this message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AiopError {
    #[error("aiop: calldata is {len} bytes, too short for a function selector; call through IAiop")]
    NoSelector { len: usize },
    #[error(
        "aiop: unknown function selector 0x{hex}; the precompile implements IAiop (infer, inferInline, cost, modelInfo)",
        hex = alloy_primitives::hex::encode(selector)
    )]
    UnknownSelector { selector: [u8; 4] },
    #[error("aiop: calldata does not ABI-decode as {function}: {reason}")]
    BadCalldata { selector: [u8; 4], len: usize, function: &'static str, reason: String },
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
    /// A manifest, or a chunk it names, that does not give the model (precompile v3 on).
    #[error("aiop: model {address}: {source}")]
    Manifest { address: Address, source: ManifestError },
    #[error("aiop: inferBatch was given no inputs; pass at least one")]
    EmptyBatch,
    #[error("aiop: inferBatch was given {count} inputs; it takes at most {limit}")]
    BatchTooLarge { count: usize, limit: usize },
}

/// A problem with the node's configuration of the precompile, found when it is built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("kernel path {0} is not available on this CPU; configure KernelPath::fastest() or KernelPath::Reference")]
    KernelPathUnavailable(&'static str),
    #[error("the precompile has no activation; a chain names the spec it starts with at block 0")]
    NoActivation,
    #[error("the first precompile activation is at block {block}; it must be at block 0 (genesis)")]
    FirstActivationNotAtGenesis { block: u64 },
    #[error("precompile activations must be at strictly increasing blocks; block {later} follows block {earlier}")]
    ActivationsOutOfOrder { earlier: u64, later: u64 },
    #[error("the activation at block {block} goes from precompile {from} back to {to}; activations only move forward")]
    ActivationDowngrade { block: u64, from: &'static str, to: &'static str },
}
