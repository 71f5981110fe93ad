//! The chain's definition: hardforks, genesis, dev accounts and pre-deployed models.

use crate::error::{NodeError, Result};
use aiop_precompile::{Activation, Activations, PrecompileSpec};
use alloy_eips::{eip2935, eip4788, eip7002, eip7251};
use alloy_evm::eth::spec::EthExecutorSpec;
use alloy_genesis::{Genesis, GenesisAccount};
use alloy_hardforks::{EthereumHardfork, EthereumHardforks, ForkCondition};
use alloy_primitives::{Address, B256, Bytes, U256, address, hex};
use k256::ecdsa::SigningKey;
use std::collections::BTreeMap;

/// The dev chain's id (the one geth's and reth's `--dev` use).
pub const DEV_CHAIN_ID: u64 = 1337;
/// Block gas limit of the dev chain.
pub const DEV_GAS_LIMIT: u64 = 30_000_000;
/// Base fee of the first block (EIP-1559's initial base fee).
pub const INITIAL_BASE_FEE: u64 = 1_000_000_000;
/// The standard test mnemonic (anvil, hardhat); the dev keys are its first ten BIP-44 keys
/// (`m/44'/60'/0'/0/i`).
pub const DEV_MNEMONIC: &str = "test test test test test test test test test test test junk";
/// Balance of every dev account: 10 000 ether.
pub const DEV_BALANCE_ETH: u64 = 10_000;

/// The first ten keys of [`DEV_MNEMONIC`] (`m/44'/60'/0'/0/0..9`), as anvil and hardhat print them.
pub const DEV_KEYS: [&str; 10] = [
    "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    "92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
    "4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
    "dbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
    "2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
];

/// A dev account: its address and signing key.
#[derive(Clone)]
pub struct DevAccount {
    /// Address.
    pub address: Address,
    /// Signing key.
    pub key: SigningKey,
}

impl std::fmt::Debug for DevAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevAccount").field("address", &self.address).finish_non_exhaustive()
    }
}

impl DevAccount {
    /// The key as 0x-prefixed hex.
    pub fn key_hex(&self) -> String {
        format!("0x{}", hex::encode(self.key.to_bytes()))
    }
}

/// Parses a private key (hex, with or without 0x).
pub fn parse_key(s: &str) -> Result<SigningKey> {
    let bytes = hex::decode(s.trim().trim_start_matches("0x"))
        .map_err(|_| NodeError::Key("a private key must be hex, with or without 0x"))?;
    SigningKey::from_slice(&bytes).map_err(|_| NodeError::Key("not a valid secp256k1 private key"))
}

/// The ten dev accounts.
pub fn dev_accounts() -> Vec<DevAccount> {
    DEV_KEYS
        .iter()
        .map(|k| {
            let key = parse_key(k).expect("constant key is valid");
            DevAccount { address: Address::from_private_key(&key), key }
        })
        .collect()
}

/// First address of the pre-deployed example models; model `i` of [`EXAMPLE_MODELS`] lives at
/// `MODEL_BASE + i`. The order is fixed so that addresses stay stable as models are added.
pub const MODEL_BASE: Address = address!("0x00000000000000000000000000000000a10d0000");

/// The example models of `testdata/models` compiled into the binary, in address order: the
/// trained digit classifiers first, then random-weight and engine test models, then the format
/// v3 (transformer) models.
pub const EXAMPLE_MODELS: [(&str, &[u8]); 10] = [
    ("digits_mlp", include_bytes!("../../../testdata/models/digits_mlp.aiop")),
    ("digits_cnn", include_bytes!("../../../testdata/models/digits_cnn.aiop")),
    ("digits_mlp_random", include_bytes!("../../../testdata/models/digits_mlp_random.aiop")),
    ("digits_cnn_random", include_bytes!("../../../testdata/models/digits_cnn_random.aiop")),
    ("fc_accumulator_bound", include_bytes!("../../../testdata/models/fc_accumulator_bound.aiop")),
    ("fc_shift_extremes", include_bytes!("../../../testdata/models/fc_shift_extremes.aiop")),
    ("maxpool_same", include_bytes!("../../../testdata/models/maxpool_same.aiop")),
    ("op_zoo", include_bytes!("../../../testdata/models/op_zoo.aiop")),
    ("softmax_wide", include_bytes!("../../../testdata/models/softmax_wide.aiop")),
    ("v3_attention", include_bytes!("../../../testdata/models/v3_attention.aiop")),
];

/// Address of example model `index`.
pub fn model_address(index: usize) -> Address {
    let mut bytes = MODEL_BASE.0.0;
    bytes[19] = index as u8;
    Address::from(bytes)
}

pub use aiop_precompile::MODEL_CODE_PREFIX;

/// Account code holding a model: `0xFE`, then the model bytes (which begin with the format's
/// magic `AIOP`); the precompile's format.
pub fn model_code(model: &[u8]) -> Bytes {
    aiop_precompile::model_code(model).into()
}

/// The model bytes held in an account's code, if it is a model data contract.
pub fn model_from_code(code: &[u8]) -> Option<&[u8]> {
    aiop_precompile::model_from_code(code).ok()
}

/// The hardforks: everything through Prague active from genesis, nothing later.
#[derive(Debug, Clone, Copy, Default)]
pub struct DevSpec;

impl EthereumHardforks for DevSpec {
    fn ethereum_fork_activation(&self, fork: EthereumHardfork) -> ForkCondition {
        use EthereumHardfork::*;
        match fork {
            Dao => ForkCondition::Never,
            Frontier | Homestead | Tangerine | SpuriousDragon | Byzantium | Constantinople | Petersburg | Istanbul
            | MuirGlacier | Berlin | London | ArrowGlacier | GrayGlacier | Paris => ForkCondition::Block(0),
            Shanghai | Cancun | Prague => ForkCondition::Timestamp(0),
            _ => ForkCondition::Never,
        }
    }
}

impl EthExecutorSpec for DevSpec {
    fn deposit_contract_address(&self) -> Option<Address> {
        None
    }
}

/// The EVM spec every block runs under.
pub const SPEC: revm::primitives::hardfork::SpecId = revm::primitives::hardfork::SpecId::PRAGUE;

/// The system contracts Prague's block executor calls, added to every genesis that lacks them.
pub fn system_contracts() -> [(Address, Bytes); 4] {
    [
        (eip4788::BEACON_ROOTS_ADDRESS, eip4788::BEACON_ROOTS_CODE.clone()),
        (eip2935::HISTORY_STORAGE_ADDRESS, eip2935::HISTORY_STORAGE_CODE.clone()),
        (eip7002::WITHDRAWAL_REQUEST_PREDEPLOY_ADDRESS, eip7002::WITHDRAWAL_REQUEST_PREDEPLOY_CODE.clone()),
        (eip7251::CONSOLIDATION_REQUEST_PREDEPLOY_ADDRESS, eip7251::CONSOLIDATION_REQUEST_PREDEPLOY_CODE.clone()),
    ]
}

/// The MLPerf Tiny models of `testdata/models` (format v2, stored across accounts), which the
/// dev chain holds at the addresses `aiop model deploy FILE` (salt 0) gives them on any chain.
pub const MLPERF_MODELS: [(&str, &[u8]); 6] = [
    ("mlperf_kws", include_bytes!("../../../testdata/models/mlperf_kws.aiop")),
    ("mlperf_vww", include_bytes!("../../../testdata/models/mlperf_vww.aiop")),
    ("mlperf_resnet8", include_bytes!("../../../testdata/models/mlperf_resnet8.aiop")),
    ("mlperf_resnet_large", include_bytes!("../../../testdata/models/mlperf_resnet_large.aiop")),
    ("mlperf_ad", include_bytes!("../../../testdata/models/mlperf_ad.aiop")),
    ("mlperf_str_ww", include_bytes!("../../../testdata/models/mlperf_str_ww.aiop")),
];

/// The transformer models of `testdata/models` (format v3, precompile v4), held like
/// [`MLPERF_MODELS`]: where `aiop model deploy FILE` (salt 0) puts them.
pub const TRANSFORMER_MODELS: [(&str, &[u8]); 1] =
    [("digits_vit", include_bytes!("../../../testdata/models/digits_vit.aiop"))];

fn plans(models: &[(&'static str, &'static [u8])]) -> Vec<(&'static str, crate::deploy::DeployPlan)> {
    models
        .iter()
        .filter_map(|(name, bytes)| crate::deploy::plan(bytes, B256::ZERO).ok().map(|plan| (*name, plan)))
        .collect()
}

/// The plans of [`MLPERF_MODELS`] under salt 0: where each model and its chunks live.
pub fn mlperf_plans() -> Vec<(&'static str, crate::deploy::DeployPlan)> {
    plans(&MLPERF_MODELS)
}

/// The plans of [`TRANSFORMER_MODELS`] under salt 0.
pub fn transformer_plans() -> Vec<(&'static str, crate::deploy::DeployPlan)> {
    plans(&TRANSFORMER_MODELS)
}

/// The precompile a dev chain runs from genesis: the newest this node knows, named
/// explicitly in the dev genesis it writes (a datadir keeps the genesis it started with).
pub const DEV_PRECOMPILE: PrecompileSpec = PrecompileSpec::V6;

/// Where viem, ethers and web3.py look for Multicall3 on every chain.
pub const MULTICALL3: Address = alloy_primitives::address!("cA11bde05977b3631167028862bE2a173976CA11");

/// The runtime code of our contract with Multicall3's ABI (`contracts/src/Multicall3.sol`).
pub fn multicall3_code() -> Bytes {
    const ARTIFACT: &str = include_str!("../../../contracts/out/Multicall3.json");
    // The artifact is committed and checked by the tests, so it always parses.
    serde_json::from_str::<serde_json::Value>(ARTIFACT)
        .ok()
        .and_then(|a| a["deployedBytecode"].as_str().and_then(|hex| alloy_primitives::hex::decode(hex).ok()))
        .map(Bytes::from)
        .unwrap_or_default()
}

/// The dev genesis: chain id [`DEV_CHAIN_ID`], the ten dev accounts with
/// [`DEV_BALANCE_ETH`] ether each, the example models, the MLPerf Tiny models, the
/// deterministic deployment proxy, Multicall3 and the system contracts.
pub fn dev_genesis() -> Genesis {
    let mut genesis = Genesis::default();
    genesis.config.chain_id = DEV_CHAIN_ID;
    genesis.gas_limit = DEV_GAS_LIMIT;
    genesis.base_fee_per_gas = Some(INITIAL_BASE_FEE as u128);
    genesis.timestamp = 0;
    genesis.extra_data = Bytes::from_static(b"aiop devnet");
    let balance = U256::from(DEV_BALANCE_ETH) * U256::from(10u64).pow(U256::from(18));
    let mut alloc = BTreeMap::new();
    for account in dev_accounts() {
        alloc.insert(account.address, GenesisAccount::default().with_balance(balance));
    }
    for (i, (_, bytes)) in EXAMPLE_MODELS.iter().enumerate() {
        alloc
            .insert(model_address(i), GenesisAccount::default().with_code(Some(model_code(bytes))).with_nonce(Some(1)));
    }
    // The deterministic deployment proxy `aiop model deploy` creates data contracts through,
    // and the MLPerf Tiny and transformer models where that command puts them.
    let deployer_code = Bytes::from_static(&crate::deploy::DEPLOYER_CODE);
    alloc.insert(crate::deploy::DEPLOYER, GenesisAccount::default().with_code(Some(deployer_code)).with_nonce(Some(1)));
    for (_, plan) in mlperf_plans().into_iter().chain(transformer_plans()) {
        for contract in plan.contracts {
            alloc
                .insert(contract.address, GenesisAccount::default().with_code(Some(contract.code)).with_nonce(Some(1)));
        }
    }
    alloc.insert(MULTICALL3, GenesisAccount::default().with_code(Some(multicall3_code())).with_nonce(Some(1)));
    genesis.alloc = alloc;
    set_activations(&mut genesis, &Activations::from_genesis(DEV_PRECOMPILE));
    complete_genesis(genesis)
}

/// The genesis section of aiop's consensus settings: `config.aiop`.
pub const AIOP_SECTION: &str = "aiop";

/// The precompile activations a chain runs, from its genesis (consensus: the chain, not the
/// node, decides them, and every node of a chain must agree):
///
/// ```json
/// "config": { "aiop": { "activations": [ { "block": 0, "precompile": "v2" },
///                                        { "block": 1000, "precompile": "v3" } ] } }
/// ```
///
/// The older form `"aiop": { "gasSchedule": "v2" }` names one spec from genesis on (chains
/// made before activations existed). A genesis that names neither is refused: nothing
/// defaults to the latest precompile.
pub fn activations(genesis: &Genesis) -> Result<Activations> {
    let known = PrecompileSpec::names;
    let bad = |what: String| NodeError::Genesis(format!("config.{AIOP_SECTION}: {what}"));
    let Some(aiop) = genesis.config.extra_fields.get(AIOP_SECTION) else {
        return Err(bad(format!(
            "missing; a chain names its precompile, e.g. \"aiop\": {{\"activations\": [{{\"block\": 0, \"precompile\": \"v3\"}}]}} ({})",
            known()
        )));
    };
    let spec_named = |value: &serde_json::Value, field: &str| -> Result<PrecompileSpec> {
        match value {
            serde_json::Value::String(name) => PrecompileSpec::by_version(name)
                .ok_or_else(|| bad(format!("{field} is `{name}`; this node knows {}", known()))),
            other => Err(bad(format!("{field} must be a precompile name ({}), not {other}", known()))),
        }
    };
    match (aiop.get("activations"), aiop.get("gasSchedule")) {
        (Some(_), Some(_)) => Err(bad("names both `activations` and `gasSchedule`; keep `activations`".into())),
        (None, Some(name)) => Ok(Activations::from_genesis(spec_named(name, "gasSchedule")?)),
        (None, None) => Err(bad("names no `activations`".into())),
        (Some(list), None) => {
            let items = list.as_array().ok_or_else(|| bad("`activations` must be a list".into()))?;
            let mut parsed = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let block = item
                    .get("block")
                    .and_then(serde_json::Value::as_u64)
                    .ok_or_else(|| bad(format!("activations[{i}].block must be a block number")))?;
                let spec = spec_named(
                    item.get("precompile").unwrap_or(&serde_json::Value::Null),
                    &format!("activations[{i}].precompile"),
                )?;
                parsed.push(Activation { block, spec });
            }
            Activations::new(parsed).map_err(|e| bad(e.to_string()))
        }
    }
}

/// Writes `activations` into `genesis` as its `config.aiop.activations`.
pub fn set_activations(genesis: &mut Genesis, activations: &Activations) {
    let list: Vec<serde_json::Value> = activations
        .list()
        .iter()
        .map(|a| serde_json::json!({ "block": a.block, "precompile": a.spec.version }))
        .collect();
    genesis.config.extra_fields.insert(AIOP_SECTION.to_owned(), serde_json::json!({ "activations": list }));
}

/// A one-line account of a chain's activations: `"v2 from block 0, v3 from block 100"`.
pub fn describe_activations(activations: &Activations) -> String {
    let parts: Vec<String> =
        activations.list().iter().map(|a| format!("{} from block {}", a.spec.version, a.block)).collect();
    parts.join(", ")
}

/// Adds the system contracts to a genesis that lacks them, and fills defaults.
pub fn complete_genesis(mut genesis: Genesis) -> Genesis {
    for (address, code) in system_contracts() {
        genesis
            .alloc
            .entry(address)
            .or_insert_with(|| GenesisAccount::default().with_code(Some(code)).with_nonce(Some(1)));
    }
    if genesis.gas_limit == 0 {
        genesis.gas_limit = DEV_GAS_LIMIT;
    }
    if genesis.base_fee_per_gas.is_none() {
        genesis.base_fee_per_gas = Some(INITIAL_BASE_FEE as u128);
    }
    genesis
}

/// Reads a geth-style genesis file.
pub fn load_genesis(path: &std::path::Path) -> Result<Genesis> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| NodeError::Genesis(format!("cannot read {}: {e}", path.display())))?;
    let genesis: Genesis = serde_json::from_str(&text)
        .map_err(|e| NodeError::Genesis(format!("{} is not a geth-style genesis: {e}", path.display())))?;
    if genesis.config.chain_id == 0 {
        return Err(NodeError::Genesis(format!("{}: config.chainId is missing or zero", path.display())));
    }
    Ok(complete_genesis(genesis))
}

/// A zero hash, used as the parent beacon block root of every block (no consensus layer).
pub const BEACON_ROOT: B256 = B256::ZERO;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_accounts_are_the_standard_ones() {
        let accounts = dev_accounts();
        assert_eq!(accounts[0].address, address!("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"));
        assert_eq!(accounts[1].address, address!("0x70997970C51812dc3A010C7d01b50e0d17dc79C8"));
        assert_eq!(accounts[9].address, address!("0xa0Ee7A142d267C1f36714E4a8F75612F20a79720"));
    }

    #[test]
    fn model_code_round_trip() {
        let (_, bytes) = EXAMPLE_MODELS[0];
        assert_eq!(model_from_code(&model_code(bytes)), Some(bytes));
        assert_eq!(model_from_code(&[0x60, 0x00]), None);
    }
}
