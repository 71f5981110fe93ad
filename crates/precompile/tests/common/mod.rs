//! The test harness: an in-memory chain executed by revm through an `EvmFactory`, the compiled
//! Solidity artifacts from `contracts/out`, and the testdata models and engine vectors.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use aiop_precompile::{AiopEvmFactory, DEFAULT_ADDRESS, model_code};
use alloy_evm::{Evm, EvmEnv, EvmFactory};
use alloy_primitives::{Address, Bytes, TxKind, U256, address};
use alloy_sol_types::{SolCall, SolError, sol};
use revm::{
    bytecode::Bytecode,
    context::{BlockEnv, CfgEnv, TxEnv},
    context_interface::{
        result::{ExecutionResult, HaltReason, Output},
        transaction::{AccessList, AccessListItem},
    },
    database::{CacheDB, EmptyDB},
    primitives::hardfork::SpecId,
    state::AccountInfo,
};

pub(crate) const CALLER: Address = address!("0x1000000000000000000000000000000000000001");
pub(crate) const AIOP: Address = DEFAULT_ADDRESS;
pub(crate) const IDENTITY: Address = address!("0x0000000000000000000000000000000000000004");
/// Gas every test transaction gets.
pub(crate) const TX_GAS: u64 = 30_000_000;
/// Gas `AiopProbe.measure` forwards by default.
pub(crate) const CALL_GAS: u64 = 20_000_000;

sol! {
    function measure(address target, bytes data, uint256 gasLimit) external view returns (bool ok, uint256 used, bytes ret);
    function callWithValue(address target, bytes data) external payable returns (bool ok, bytes ret);
    function delegateWithValue(address target, bytes data) external payable returns (bool ok, bytes ret);
    function inferVia(address model, bytes input) external view returns (bytes);
    function costThenInfer(address model, bytes input) external view returns (uint256 quoted, bytes output);
    function deploy(bytes model) external returns (address);
    function classify(bytes pixels) external returns (uint8 digit);
    function predict(int8[] pixels) external view returns (uint8 digit);
    event Classified(address indexed caller, uint8 digit, bytes scores);
    function deployAndInfer(bytes model, bytes input) external returns (address handle, bytes output);
    function createSelfDestructThenInfer(bytes32 salt, address manifest, bytes input) external returns (address created, bool ok, bytes ret);
    function pokeThenInfer(address target, address model, bytes input) external returns (bool poked, bytes output);
}

pub(crate) fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A contract's artifact as `contracts/build.js` writes it.
pub(crate) fn artifact(name: &str) -> serde_json::Value {
    let path = repo_root().join("contracts/out").join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("missing artifact {}: {e}; run `npm ci && npm run build` in contracts/", path.display())
    });
    serde_json::from_str(&text).expect("artifact is JSON")
}

pub(crate) fn artifact_bytecode(name: &str) -> Bytes {
    let a = artifact(name);
    let hex_code = a["bytecode"].as_str().expect("bytecode field");
    hex::decode(hex_code.trim_start_matches("0x")).expect("bytecode is hex").into()
}

/// Every model in testdata/models whose format version precompile v2 accepts, sorted by
/// name: (name, bytes). (Format v2 models join with the precompile upgrade that accepts them;
/// filtering keeps the addresses of the published vectors' models where they were.)
pub(crate) fn testdata_models() -> Vec<(String, Vec<u8>)> {
    let mut models: Vec<(String, Vec<u8>)> = std::fs::read_dir(repo_root().join("testdata/models"))
        .expect("testdata/models")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "aiop"))
        .map(|p| (p.file_stem().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()))
        .filter(|(_, bytes)| {
            let header = aiop_engine::format::ModelHeader::parse(bytes).expect("testdata models parse");
            header.format_version().is_ok_and(|v| LEGACY.formats.contains(&v))
        })
        .collect();
    models.sort();
    models
}

/// An engine golden vector: (case name, input, expected output).
pub(crate) struct EngineVector {
    pub name: String,
    pub input: Vec<u8>,
    pub output: Vec<u8>,
}

fn hex_field(v: &serde_json::Value, field: &str) -> Vec<u8> {
    hex::decode(v[field].as_str().expect(field).trim_start_matches("0x")).expect("hex")
}

/// The engine vectors of `model`, sorted by name.
pub(crate) fn engine_vectors(model: &str) -> Vec<EngineVector> {
    let dir = repo_root().join("testdata/vectors/engine");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("engine vectors")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.strip_suffix(".json").and_then(|s| s.rsplit_once('-')).is_some_and(|(m, _)| m == model))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|n| {
            let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join(&n)).unwrap()).unwrap();
            EngineVector {
                name: n.trim_end_matches(".json").to_string(),
                input: hex_field(&v, "input"),
                output: hex_field(&v, "output"),
            }
        })
        .collect()
}

/// Where test model `index` lives when it is placed in state directly (genesis-style).
pub(crate) fn model_address(index: usize) -> Address {
    let mut bytes = [0u8; 20];
    bytes[0] = 0x70;
    bytes[19] = index as u8 + 1;
    Address::from(bytes)
}

/// An in-memory chain.
pub(crate) struct Chain<F> {
    pub factory: F,
    pub db: CacheDB<EmptyDB>,
}

impl<F> Chain<F>
where
    F: EvmFactory<Tx = TxEnv, Spec = SpecId, BlockEnv = BlockEnv, HaltReason = HaltReason>,
{
    pub(crate) fn new(factory: F) -> Self {
        let mut db = CacheDB::new(EmptyDB::default());
        db.insert_account_info(CALLER, AccountInfo { balance: U256::from(10u128.pow(24)), ..Default::default() });
        Chain { factory, db }
    }

    pub(crate) fn env(&self) -> EvmEnv {
        let mut cfg_env = CfgEnv::new_with_spec(SpecId::PRAGUE);
        cfg_env.chain_id = 1;
        let block_env = BlockEnv { number: U256::from(1), gas_limit: 100_000_000, basefee: 0, ..Default::default() };
        EvmEnv { cfg_env, block_env }
    }

    /// Places `code` at `address` directly in state.
    pub(crate) fn set_code(&mut self, address: Address, code: Vec<u8>) {
        let bytecode = Bytecode::new_raw(code.into());
        self.db.insert_account_info(
            address,
            AccountInfo { code_hash: bytecode.hash_slow(), code: Some(bytecode), nonce: 1, ..Default::default() },
        );
    }

    /// Places `model` at `address` as a model data contract.
    pub(crate) fn set_model(&mut self, address: Address, model: &[u8]) {
        self.set_code(address, model_code(model));
    }

    pub(crate) fn nonce(&mut self, address: Address) -> u64 {
        use revm::Database;
        self.db.basic(address).ok().flatten().map(|a| a.nonce).unwrap_or(0)
    }

    pub(crate) fn tx(&mut self, kind: TxKind, data: Bytes, value: U256, access: &[Address]) -> TxEnv {
        let access_list =
            AccessList(access.iter().map(|a| AccessListItem { address: *a, storage_keys: Vec::new() }).collect());
        TxEnv {
            tx_type: 2,
            caller: CALLER,
            gas_limit: TX_GAS,
            gas_price: 0,
            gas_priority_fee: Some(0),
            kind,
            value,
            data,
            nonce: self.nonce(CALLER),
            chain_id: Some(1),
            access_list,
            ..Default::default()
        }
    }

    /// Executes `tx` and commits it.
    pub(crate) fn execute(&mut self, tx: TxEnv) -> ExecutionResult {
        let env = self.env();
        let mut evm = self.factory.create_evm(&mut self.db, env);
        evm.transact_commit(tx).expect("no EVM error")
    }

    pub(crate) fn call(&mut self, to: Address, data: impl Into<Bytes>) -> ExecutionResult {
        let tx = self.tx(TxKind::Call(to), data.into(), U256::ZERO, &[]);
        self.execute(tx)
    }

    pub(crate) fn call_warm(&mut self, to: Address, data: impl Into<Bytes>, warm: &[Address]) -> ExecutionResult {
        let tx = self.tx(TxKind::Call(to), data.into(), U256::ZERO, warm);
        self.execute(tx)
    }

    pub(crate) fn call_with_value(&mut self, to: Address, data: impl Into<Bytes>, value: U256) -> ExecutionResult {
        let tx = self.tx(TxKind::Call(to), data.into(), value, &[]);
        self.execute(tx)
    }

    /// Deploys `initcode`, returning the new contract's address.
    pub(crate) fn create(&mut self, initcode: impl Into<Bytes>) -> Address {
        let tx = self.tx(TxKind::Create, initcode.into(), U256::ZERO, &[]);
        match self.execute(tx) {
            ExecutionResult::Success { output: Output::Create(_, Some(address)), .. } => address,
            other => panic!("deployment failed: {other:?}"),
        }
    }

    pub(crate) fn deploy_artifact(&mut self, name: &str, constructor_args: &[u8]) -> Address {
        let mut initcode = artifact_bytecode(name).to_vec();
        initcode.extend_from_slice(constructor_args);
        self.create(initcode)
    }
}

/// The output of a successful call, or a panic describing the failure.
pub(crate) fn success_output(result: &ExecutionResult) -> Bytes {
    match result {
        ExecutionResult::Success { output, .. } => output.data().clone(),
        other => panic!("call failed: {other:?}"),
    }
}

/// A precompile call made by `AiopProbe.measure`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Measured {
    pub ok: bool,
    /// Gas the precompile charged (the probe's CALL overhead removed).
    pub gas: u64,
    pub ret: Bytes,
}

/// A chain with an `AiopProbe` deployed, calibrated so that `measure` reports the callee's gas.
pub(crate) struct Probe<F> {
    pub chain: Chain<F>,
    pub probe: Address,
    overhead: u64,
}

impl<F> Probe<F>
where
    F: EvmFactory<Tx = TxEnv, Spec = SpecId, BlockEnv = BlockEnv, HaltReason = HaltReason>,
{
    pub(crate) fn new(factory: F) -> Self {
        let mut chain = Chain::new(factory);
        let probe = chain.deploy_artifact("AiopProbe", &[]);
        let mut this = Probe { chain, probe, overhead: 0 };
        // The identity precompile charges 15 gas for an empty input.
        let identity = this.measure_raw(IDENTITY, Bytes::new(), CALL_GAS, &[]);
        assert!(identity.ok);
        this.overhead = identity.gas - 15;
        this
    }

    fn measure_raw(&mut self, target: Address, data: Bytes, gas: u64, warm: &[Address]) -> Measured {
        let call = measureCall { target, data, gasLimit: U256::from(gas) };
        let result = self.chain.call_warm(self.probe, call.abi_encode(), warm);
        let out = success_output(&result);
        let r = measureCall::abi_decode_returns(&out).expect("measure returns");
        Measured { ok: r.ok, gas: r.used.to::<u64>() - self.overhead, ret: r.ret }
    }

    /// STATICCALLs the precompile with `data` and `gas`, in a fresh transaction (so the model
    /// account is cold unless listed in `warm`, the transaction's access list).
    pub(crate) fn measure(&mut self, data: impl Into<Bytes>, gas: u64) -> Measured {
        self.measure_raw(AIOP, data.into(), gas, &[])
    }

    pub(crate) fn measure_warm(&mut self, data: impl Into<Bytes>, gas: u64, warm: &[Address]) -> Measured {
        self.measure_raw(AIOP, data.into(), gas, warm)
    }
}

/// The spec the legacy suites (evm.rs, robustness.rs, the published vectors) run: precompile
/// v2, whose behaviour those tests pin. Precompile v3 has its own suite (`v3.rs`).
pub(crate) const LEGACY: aiop_precompile::PrecompileSpec = aiop_precompile::PrecompileSpec::V2;

/// A factory for a chain that runs `spec` from genesis.
pub(crate) fn factory_for(spec: aiop_precompile::PrecompileSpec) -> AiopEvmFactory {
    AiopEvmFactory::new(aiop_precompile::AiopConfig::from_genesis(spec)).expect("the fastest kernel path is available")
}

pub(crate) fn aiop_factory() -> AiopEvmFactory {
    factory_for(LEGACY)
}

/// The reason string of `Error(string)` revert data.
pub(crate) fn revert_reason(data: &[u8]) -> String {
    alloy_sol_types::Revert::abi_decode(data)
        .map(|r| r.reason)
        .unwrap_or_else(|e| panic!("not Error(string) ({e}): 0x{}", hex::encode(data)))
}
