//! aiop-precompile: the EVM face of aiop. An Ethereum precompile that runs int8 neural-network
//! inference with the `aiop-engine`, bit-exact on every node, at a gas cost fixed by the model.
//!
//! - Versions ([`spec`]): the behaviour is a [`PrecompileSpec`] (formats accepted, storage,
//!   functions, revert scheme, gas schedule) chosen per block from the chain's [`Activations`],
//!   like a hardfork; there is no default. v1 and v2 are frozen in `legacy.rs`.
//! - ABI ([`abi`], the same as `contracts/src/IAiop.sol`): `infer(address model, bytes input)`,
//!   `inferInline(bytes model, bytes input)`, `cost(address model, uint256 inputLength)`,
//!   `modelInfo(address model)`; from v3 `inferBatch` and `costBatch`.
//!   Calldata is decoded with validation (an address argument must be zero-padded).
//! - Address: [`DEFAULT_ADDRESS`] `0x…0a1000`, configurable in [`AiopConfig`].
//! - Models live in the code of data contracts ([`storage`]): `0xFE ‖ model bytes`, or from v3
//!   a manifest naming chunk accounts (`docs/storage.md`).
//! - Gas ([`gas`]): a pure function of the model and the input length, plus EIP-2929 access
//!   and code reads for every account read, charged before any work; out of gas halts.
//! - Revert data ([`revert`]): from v3 `AiopError(code, detail0, detail1)` from one table
//!   (`docs/errors.md`); v1 and v2 keep their `Error(string)` text byte for byte.
//! - A bounded cache of loaded models keyed by code hash ([`cache`]) that changes speed only.
//! - [`AiopEvmFactory`]: alloy-evm's `EthEvmFactory` with the precompile installed with
//!   `DynPrecompile::new_stateful`. This is the reth plug-in point.
//!
//! It must never: let anything but the calldata, the model account's code and its cold/warm
//! status decide a call's output or gas; read a clock, a random source or a float on that path;
//! depend on what the cache holds; panic on any input; or return `PrecompileError::Fatal` for
//! anything but a database failure (every other failure reverts, and out of gas halts).
//!
//! # Using it in a reth v2.5.1 node
//!
//! reth is not published on crates.io, so this snippet is not compiled here; in a node that
//! depends on reth v2.5.1 (git tag) and on this crate:
//!
//! ```ignore
//! use aiop_precompile::{Activation, Activations, AiopConfig, AiopEvmFactory, PrecompileSpec};
//! use reth_ethereum::evm::EthEvmConfig;
//!
//! #[derive(Debug, Clone, Default)]
//! struct AiopExecutorBuilder;
//!
//! impl<Node: FullNodeTypes<Types: NodeTypes<ChainSpec = ChainSpec, Primitives = EthPrimitives>>>
//!     ExecutorBuilder<Node> for AiopExecutorBuilder
//! {
//!     type EVM = EthEvmConfig<ChainSpec, AiopEvmFactory>;
//!     async fn build_evm(self, ctx: &BuilderContext<Node>) -> eyre::Result<Self::EVM> {
//!         // The chain's own history, as its genesis names it: never "the latest".
//!         let activations = Activations::new(vec![
//!             Activation { block: 0, spec: PrecompileSpec::V2 },
//!             Activation { block: 1_000_000, spec: PrecompileSpec::V3 },
//!         ])?;
//!         let factory = AiopEvmFactory::new(AiopConfig::new(activations))?;
//!         Ok(EthEvmConfig::new_with_evm_factory(ctx.chain_spec(), factory))
//!     }
//! }
//!
//! // NodeBuilder::new(config).with_types::<EthereumNode>()
//! //     .with_components(EthereumNode::components().executor(AiopExecutorBuilder))
//! //     .with_add_ons(EthereumAddOns::default()).launch().await?;
//! ```

// Consensus code: no floating point on the path from calldata to output and gas.
#![deny(clippy::float_arithmetic)]

pub mod abi;
pub mod cache;
pub mod error;
pub mod factory;
pub mod gas;
mod legacy;
pub mod precompile;
pub mod revert;
pub mod spec;
pub mod storage;

pub use cache::{CacheConfig, CacheKey, CacheStats, ModelCache};
pub use error::{AiopError, ConfigError};
pub use factory::AiopEvmFactory;
pub use gas::{COLD_ACCOUNT_ACCESS_GAS, GasSchedule, WARM_ACCOUNT_ACCESS_GAS};
pub use precompile::{AiopConfig, AiopPrecompile, DEFAULT_ADDRESS, MAX_BATCH_INPUTS, PRECOMPILE_NAME, model_info};
pub use spec::{Activation, Activations, PrecompileSpec, RevertScheme};
pub use storage::{
    MODEL_CODE_PREFIX, Manifest, ManifestError, ModelCodeError, StoredModel, chunk_code, data_contract_initcode,
    model_code, model_deploy_initcode, model_from_code, stored_model,
};
