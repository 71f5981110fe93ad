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
    /// Calldata shorter than a function selector.
    #[error("aiop: calldata is {len} bytes, too short for a function selector; call through IAiop")]
    NoSelector {
        /// Bytes of calldata given.
        len: usize,
    },
    /// A selector that is not a function of `IAiop` (or not one this spec offers).
    #[error(
        "aiop: unknown function selector 0x{hex}; the precompile implements IAiop (infer, inferInline, cost, modelInfo)",
        hex = alloy_primitives::hex::encode(selector)
    )]
    UnknownSelector {
        /// The first four bytes of the calldata.
        selector: [u8; 4],
    },
    /// A known selector whose arguments do not ABI-decode (with validation).
    #[error("aiop: calldata does not ABI-decode as {function}: {reason}")]
    BadCalldata {
        /// The function's selector.
        selector: [u8; 4],
        /// Bytes of calldata given.
        len: usize,
        /// The function's Solidity signature, for the message.
        function: &'static str,
        /// What the ABI decoder reported.
        reason: String,
    },
    /// Ether sent with a direct call (the precompile could never give it back).
    #[error("aiop: the precompile takes no value, but {value} wei was sent; call it with value 0")]
    ValueSent {
        /// Wei sent.
        value: U256,
    },
    /// The code of the account named as the model does not hold one.
    #[error("aiop: model {address}: {source}")]
    ModelCode {
        /// The account named as the model.
        address: Address,
        /// What is wrong with its code.
        source: ModelCodeError,
    },
    /// The `model` argument of `inferInline` does not start with the format's magic.
    #[error("aiop: model passed inline: {0}")]
    InlineModelCode(ModelCodeError),
    /// The model's header does not parse.
    #[error("aiop: malformed model header: {0}")]
    MalformedHeader(aiop_engine::EngineError),
    /// A model of a format version this precompile version does not accept. The text is the
    /// one the engine gave before it read format v2, so the revert bytes of existing chains
    /// stay the same.
    #[error("aiop: malformed model header: model format version {0} is not supported; this engine reads version 1")]
    UnsupportedFormat(u8),
    /// An input whose length is not the model's input length.
    #[error("aiop: input is {actual} bytes; this model takes exactly {expected} bytes")]
    InputLength {
        /// Bytes the model takes.
        expected: u64,
        /// Bytes given (for `cost` and `costBatch`, the `inputLength` argument).
        actual: U256,
    },
    /// A model whose header parses but that fails the engine's validation when loaded.
    #[error("aiop: invalid model: {0}")]
    InvalidModel(aiop_engine::EngineError),
    /// The engine refused to run a loaded model on the input.
    #[error("aiop: inference failed: {0}")]
    Inference(aiop_engine::EngineError),
    /// A manifest, or a chunk it names, that does not give the model (precompile v3 on).
    #[error("aiop: model {address}: {source}")]
    Manifest {
        /// The manifest account named as the model.
        address: Address,
        /// What is wrong with the manifest or its chunks.
        source: ManifestError,
    },
    /// A batch (`inferBatch`, or `costBatch` with `count` 0) of no inputs.
    #[error("aiop: inferBatch was given no inputs; pass at least one")]
    EmptyBatch,
    /// A batch of more than [`crate::MAX_BATCH_INPUTS`] inputs.
    #[error("aiop: inferBatch was given {count} inputs; it takes at most {limit}")]
    BatchTooLarge {
        /// Inputs given (saturated at `usize::MAX`).
        count: usize,
        /// Most inputs a batch takes.
        limit: usize,
    },
}

/// A problem with the node's configuration of the precompile, found when it is built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The configured kernel path, named here, cannot run on this CPU.
    #[error("kernel path {0} is not available on this CPU; configure KernelPath::fastest() or KernelPath::Reference")]
    KernelPathUnavailable(&'static str),
    /// An empty activation list.
    #[error("the precompile has no activation; a chain names the spec it starts with at block 0")]
    NoActivation,
    /// The first activation is not at genesis.
    #[error("the first precompile activation is at block {block}; it must be at block 0 (genesis)")]
    FirstActivationNotAtGenesis {
        /// Block of the first activation.
        block: u64,
    },
    /// Two activations whose blocks do not strictly increase.
    #[error("precompile activations must be at strictly increasing blocks; block {later} follows block {earlier}")]
    ActivationsOutOfOrder {
        /// Block of the earlier activation in the list.
        earlier: u64,
        /// Block of the activation that follows it.
        later: u64,
    },
    /// An activation of a spec no newer than the one before it.
    #[error("the activation at block {block} goes from precompile {from} back to {to}; activations only move forward")]
    ActivationDowngrade {
        /// Block of the later activation.
        block: u64,
        /// Version of the spec before it (`"v2"`).
        from: &'static str,
        /// Version it activates.
        to: &'static str,
    },
}
