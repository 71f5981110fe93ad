//! `AiopEvmFactory`: Ethereum's EVM factory with the inference precompile installed. This is
//! the type a reth node (or any alloy-evm executor) plugs in.

use std::sync::Arc;

use alloy_evm::{
    Database, EthEvm, EthEvmFactory, Evm, EvmEnv, EvmFactory,
    eth::EthEvmContext,
    precompiles::{DynPrecompile, PrecompilesMap},
};
use revm::{
    Context, Inspector,
    context::{BlockEnv, CfgEnv, TxEnv},
    context_interface::result::{EVMError, HaltReason},
    inspector::NoOpInspector,
    precompile::PrecompileId,
    primitives::hardfork::SpecId,
};

use crate::error::ConfigError;
use crate::precompile::{AiopConfig, AiopPrecompile, PRECOMPILE_NAME};

/// Builds Ethereum EVMs (alloy-evm's [`EthEvmFactory`]) with the aiop precompile added at its
/// configured address. Everything else is untouched: a transaction that does not call the
/// precompile executes exactly as with [`EthEvmFactory`]. Cloning shares the model cache.
#[derive(Debug, Clone)]
pub struct AiopEvmFactory {
    inner: EthEvmFactory,
    precompile: Arc<AiopPrecompile>,
}

impl AiopEvmFactory {
    /// A factory with `config` (address, kernel path, the chain's activations, cache bounds).
    pub fn new(config: AiopConfig) -> Result<Self, ConfigError> {
        Ok(Self::from_precompile(Arc::new(AiopPrecompile::new(config)?)))
    }

    /// A factory around an existing precompile (sharing its cache).
    pub fn from_precompile(precompile: Arc<AiopPrecompile>) -> Self {
        AiopEvmFactory { inner: EthEvmFactory::default(), precompile }
    }

    /// The precompile every EVM it builds shares.
    pub fn precompile(&self) -> &Arc<AiopPrecompile> {
        &self.precompile
    }

    /// Adds the precompile to `precompiles`, as a stateful precompile: it reads account code,
    /// so reth must never cache its results by input bytes.
    pub fn install(&self, precompiles: &mut PrecompilesMap) {
        let precompile = Arc::clone(&self.precompile);
        let address = precompile.config().address;
        precompiles.apply_precompile(&address, move |_| {
            Some(DynPrecompile::new_stateful(PrecompileId::custom(PRECOMPILE_NAME), move |input| {
                precompile.call(input)
            }))
        });
    }
}

impl EvmFactory for AiopEvmFactory {
    type Evm<DB: Database, I: Inspector<EthEvmContext<DB>>> = EthEvm<DB, I, PrecompilesMap>;
    type Context<DB: Database> = Context<BlockEnv, TxEnv, CfgEnv, DB>;
    type Tx = TxEnv;
    type Error<DBError: revm::database_interface::DBErrorMarker> = EVMError<DBError>;
    type HaltReason = HaltReason;
    type Spec = SpecId;
    type BlockEnv = BlockEnv;
    type Precompiles = PrecompilesMap;

    fn create_evm<DB: Database>(&self, db: DB, input: EvmEnv) -> Self::Evm<DB, NoOpInspector> {
        let mut evm = self.inner.create_evm(db, input);
        self.install(evm.precompiles_mut());
        evm
    }

    fn create_evm_with_inspector<DB: Database, I: Inspector<Self::Context<DB>>>(
        &self,
        db: DB,
        input: EvmEnv,
        inspector: I,
    ) -> Self::Evm<DB, I> {
        let mut evm = self.inner.create_evm_with_inspector(db, input, inspector);
        self.install(evm.precompiles_mut());
        evm
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_shareable<T: Send + Sync + Clone + 'static>() {}

    #[test]
    fn the_factory_can_be_shared_between_threads_as_reth_requires() {
        assert_shareable::<AiopEvmFactory>();
    }
}
