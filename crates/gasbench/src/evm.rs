//! Calls timed through the real EVM call path: a transaction to the precompile, executed by
//! revm as built by [`AiopEvmFactory`], with the model read from a data contract's code.
//!
//! Each timed call is one whole transaction (`transact`, never committed, so every call starts
//! from the same state and the model account is cold every time). What a transaction costs
//! around its precompile (validation, the caller's account, counting its calldata for the
//! intrinsic gas, the call frame) is measured separately, as [`EvmCall::without_callee`]: the
//! same transaction sent to an account with no code. It is subtracted from every case, ours
//! and the yardsticks alike; the transaction's own gas (21000 and calldata) pays for it.

use aiop_engine::{KernelPath, LoadedModel};
use aiop_precompile::{AiopConfig, AiopEvmFactory, CacheConfig, GasSchedule, PrecompileSpec, abi, model_code};
use alloy_evm::{EthEvm, Evm, EvmEnv, EvmFactory, precompiles::PrecompilesMap};
use alloy_primitives::{Address, Bytes, TxKind, U256, address};
use alloy_sol_types::SolCall;
use revm::{
    bytecode::Bytecode,
    context::{BlockEnv, CfgEnv, TxEnv},
    context_interface::result::ExecutionResult,
    database::{CacheDB, EmptyDB},
    inspector::NoOpInspector,
    precompile::u64_to_address,
    primitives::hardfork::SpecId,
    state::AccountInfo,
};

use crate::GasBenchError;
use crate::cases::{Delivery, ModelCase, Outcome};
use crate::yardsticks::StandardCase;

/// The account that sends every timed transaction.
pub const CALLER: Address = address!("0x00000000000000000000000000000000a10c0001");
/// Where a deployed case's model lives.
pub const MODEL_ADDRESS: Address = address!("0x00000000000000000000000000000000a10c0002");
/// An account with no code: the callee of [`EvmCall::without_callee`].
pub const NOTHING_ADDRESS: Address = address!("0x00000000000000000000000000000000a10c00ff");
/// Gas every timed transaction gets: enough for the largest case's calldata and inference.
const TX_GAS: u64 = 1 << 40;

/// The hardfork the calls run under: the latest revm 42 knows, so the yardsticks charge
/// today's prices (EIP-7883's ModExp among them).
pub const SPEC: SpecId = SpecId::OSAKA;

/// Whether the precompile keeps loaded models between calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cache {
    /// No cache: every call reads, decodes, validates and packs its model. What gas prices.
    Cold,
    /// The default cache, filled by a first call before timing.
    Warm,
}

type BenchEvm = EthEvm<CacheDB<EmptyDB>, NoOpInspector, PrecompilesMap>;

/// One transaction, ready to be executed again and again against the same state.
pub struct EvmCall {
    evm: BenchEvm,
    tx: TxEnv,
    name: String,
    /// What a correct execution returns, checked on the first call; `None` for a call that is
    /// expected to revert.
    expected: Option<Bytes>,
}

impl std::fmt::Debug for EvmCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EvmCall").field("name", &self.name).field("to", &self.tx.kind).finish_non_exhaustive()
    }
}

/// The precompile spec that prices by `schedule`: the published spec of that name (formats,
/// storage, reverts) with `schedule` in it, so a candidate schedule is timed as it would run.
pub fn spec_of(schedule: GasSchedule) -> PrecompileSpec {
    // A candidate schedule is measured on the newest precompile's formats and functions.
    let newest = PrecompileSpec::ALL[PrecompileSpec::ALL.len() - 1];
    let spec = PrecompileSpec::by_version(schedule.version).unwrap_or(newest);
    PrecompileSpec { schedule, ..spec }
}

/// The EVM the standard precompiles are timed in: the same factory, with the spec of the
/// latest published precompile (the yardsticks do not call it).
fn yardstick_factory() -> AiopEvmFactory {
    let config = AiopConfig { kernel_path: KernelPath::Reference, ..AiopConfig::from_genesis(PrecompileSpec::V3) };
    AiopEvmFactory::new(config).expect("the reference kernel path is always available")
}

impl EvmCall {
    /// A transaction that calls the aiop precompile on `case`, with the kernel `path`, the gas
    /// `schedule` and the `cache` mode given.
    pub fn ours(
        case: &ModelCase,
        path: KernelPath,
        schedule: GasSchedule,
        cache: Cache,
    ) -> Result<EvmCall, GasBenchError> {
        let fail = |reason: String| GasBenchError::Case { case: case.name.clone(), reason };
        let config = AiopConfig {
            kernel_path: path,
            cache: match cache {
                Cache::Cold => CacheConfig::DISABLED,
                Cache::Warm => CacheConfig::default(),
            },
            ..AiopConfig::from_genesis(spec_of(schedule))
        };
        let precompile = config.address;
        let factory = AiopEvmFactory::new(config).map_err(|e| fail(e.to_string()))?;
        let mut db = funded_db();
        let calldata: Bytes = match case.delivery {
            Delivery::Deployed => {
                place_code(&mut db, MODEL_ADDRESS, model_code(&case.model));
                abi::inferCall { model: MODEL_ADDRESS, input: case.input.clone().into() }.abi_encode().into()
            }
            Delivery::Inline => {
                abi::inferInlineCall { model: case.model.clone().into(), input: case.input.clone().into() }
                    .abi_encode()
                    .into()
            }
            Delivery::Direct => {
                return Err(fail("its format is not accepted by the precompile: time it directly".into()));
            }
        };
        let expected = match case.outcome {
            Outcome::Success => {
                let loaded = LoadedModel::load(&case.model, KernelPath::Reference).map_err(|e| fail(e.to_string()))?;
                let output = loaded.run(&case.input).map_err(|e| fail(e.to_string()))?;
                Some(match case.delivery {
                    Delivery::Deployed => abi::inferCall::abi_encode_returns(&output.into()).into(),
                    Delivery::Inline | Delivery::Direct => {
                        abi::inferInlineCall::abi_encode_returns(&output.into()).into()
                    }
                })
            }
            Outcome::RevertAtLoad => None,
        };
        let evm = factory.create_evm(db, env());
        let mut call = EvmCall { evm, tx: transaction(precompile, calldata), name: case.name.clone(), expected };
        call.check()?;
        Ok(call)
    }

    /// A transaction that calls one of the standard precompiles.
    pub fn standard(case: &StandardCase) -> Result<EvmCall, GasBenchError> {
        let evm = yardstick_factory().create_evm(funded_db(), env());
        let expected = {
            let fail = |reason: String| GasBenchError::Case { case: case.name.into(), reason };
            let precompile = revm::precompile::Precompiles::new(revm::precompile::PrecompileSpecId::from_spec_id(SPEC))
                .get(&u64_to_address(case.address))
                .ok_or_else(|| fail("no such precompile".into()))?;
            let out = precompile.execute(&case.input, u64::MAX / 2, 0).map_err(|e| fail(format!("{e:?}")))?;
            out.bytes
        };
        let tx = transaction(u64_to_address(case.address), case.input.clone().into());
        let mut call = EvmCall { evm, tx, name: case.name.into(), expected: Some(expected) };
        call.check()?;
        Ok(call)
    }

    /// The same transaction as `self` (same sender, gas and calldata) sent to an account with
    /// no code: everything the transaction costs except its callee.
    pub fn without_callee(&self) -> Result<EvmCall, GasBenchError> {
        let evm = yardstick_factory().create_evm(funded_db(), env());
        let tx = TxEnv { kind: TxKind::Call(NOTHING_ADDRESS), ..self.tx.clone() };
        let mut call = EvmCall { evm, tx, name: format!("{} (no callee)", self.name), expected: Some(Bytes::new()) };
        call.check()?;
        Ok(call)
    }

    /// The smallest call: a transaction to the identity precompile with no data.
    pub fn baseline() -> Result<EvmCall, GasBenchError> {
        let evm = yardstick_factory().create_evm(funded_db(), env());
        let tx = transaction(u64_to_address(4), Bytes::new());
        let mut call = EvmCall { evm, tx, name: "baseline (empty identity call)".into(), expected: Some(Bytes::new()) };
        call.check()?;
        Ok(call)
    }

    /// Executes the transaction once and checks that it did what the case says.
    pub fn check(&mut self) -> Result<(), GasBenchError> {
        let fail = |reason: String| GasBenchError::Case { case: self.name.clone(), reason };
        let result = self.evm.transact(self.tx.clone()).map_err(|e| fail(format!("EVM error: {e:?}")))?.result;
        match (&self.expected, result) {
            (Some(expected), ExecutionResult::Success { output, .. }) if output.data() == expected => Ok(()),
            (Some(_), ExecutionResult::Success { .. }) => {
                Err(fail("the call returned other bytes than the engine".into()))
            }
            (None, ExecutionResult::Revert { .. }) => Ok(()),
            (_, other) => Err(fail(format!("unexpected result: {other:?}"))),
        }
    }

    /// Executes the transaction once, for timing: nothing is checked.
    pub fn run(&mut self) {
        let result = self.evm.transact(self.tx.clone());
        std::hint::black_box(result.is_ok());
    }
}

fn env() -> EvmEnv {
    let mut cfg_env = CfgEnv::new_with_spec(SPEC);
    cfg_env.chain_id = 1;
    // The harness times execution, not the limits a chain puts around it: the largest cases
    // pass megabytes of calldata in one transaction.
    cfg_env.tx_gas_limit_cap = Some(u64::MAX);
    let block_env = BlockEnv { number: U256::from(1), gas_limit: u64::MAX, basefee: 0, ..Default::default() };
    EvmEnv { cfg_env, block_env }
}

fn funded_db() -> CacheDB<EmptyDB> {
    let mut db = CacheDB::new(EmptyDB::default());
    db.insert_account_info(CALLER, AccountInfo { balance: U256::from(10u128.pow(30)), ..Default::default() });
    db
}

fn place_code(db: &mut CacheDB<EmptyDB>, address: Address, code: Vec<u8>) {
    let bytecode = Bytecode::new_raw(code.into());
    db.insert_account_info(
        address,
        AccountInfo { code_hash: bytecode.hash_slow(), code: Some(bytecode), nonce: 1, ..Default::default() },
    );
}

fn transaction(to: Address, data: Bytes) -> TxEnv {
    TxEnv {
        tx_type: 2,
        caller: CALLER,
        gas_limit: TX_GAS,
        gas_price: 0,
        gas_priority_fee: Some(0),
        kind: TxKind::Call(to),
        data,
        nonce: 0,
        chain_id: Some(1),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cases::synthetic_cases;
    use crate::yardsticks::standard_cases;

    #[test]
    fn every_quick_case_runs_through_the_evm_on_every_path_cold_and_warm() {
        for case in synthetic_cases().expect("cases").iter().filter(|c| c.quick) {
            for path in KernelPath::available() {
                for cache in [Cache::Cold, Cache::Warm] {
                    let mut call = EvmCall::ours(case, path, PrecompileSpec::V3.schedule, cache)
                        .unwrap_or_else(|e| panic!("{} on {path}: {e}", case.name));
                    call.check().unwrap_or_else(|e| panic!("{} on {path}, second call: {e}", case.name));
                }
            }
        }
    }

    #[test]
    fn yardsticks_and_the_baselines_run_through_the_evm() {
        EvmCall::baseline().expect("baseline");
        for case in standard_cases().iter().filter(|c| c.quick) {
            let call = EvmCall::standard(case).unwrap_or_else(|e| panic!("{}: {e}", case.name));
            call.without_callee().unwrap_or_else(|e| panic!("{} without callee: {e}", case.name));
        }
    }
}
