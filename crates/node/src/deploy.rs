//! The deployment plan of a model: which data contracts hold it and where they land, as a pure
//! function of the model bytes and a salt, with no node.
//!
//! Every data contract (a single model account, or the chunk accounts and then the manifest of
//! a model larger than one contract, `docs/storage.md`) is created with CREATE2 through the
//! standard deterministic deployment proxy ([`DEPLOYER`], calldata `salt ‖ initcode`), so its
//! address is `keccak256(0xff ‖ DEPLOYER ‖ salt ‖ keccak256(initcode))[12..]`. Because the
//! manifest names its chunks by address, the manifest's address (the model's handle) is fixed
//! by the model bytes and the salt too: a deploy interrupted at any point resumes by checking
//! the code at each planned address and sending only what is missing.

use aiop_precompile::storage::{
    MAX_CHUNKS, Manifest, ModelCodeError, chunk_code, chunk_payloads, data_contract_initcode, fits_one_account,
    model_code,
};
use alloy_primitives::{Address, B256, Bytes, U256, address, hex, keccak256};
use std::fmt;

/// The deterministic deployment proxy (Arachnid's), at the same address on most chains.
pub const DEPLOYER: Address = address!("4e59b44847b379578588920cA78FbF26c0B4956C");

/// The proxy's runtime code: CREATE2 with the first 32 calldata bytes as the salt and the rest
/// as the initcode; returns the 20-byte address, or reverts if the creation failed.
pub const DEPLOYER_CODE: [u8; 69] = hex!(
    "7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffe03601600081602082378035828234f58015156039578182fd5b8082525050506014600cf3"
);

/// What a planned data contract holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContractKind {
    /// The whole model in one account.
    Model,
    /// Chunk `index` (from 0) of `count`.
    Chunk {
        /// Position of this chunk in the manifest, from 0.
        index: usize,
        /// Chunks of the model.
        count: usize,
    },
    /// The manifest naming the chunks.
    Manifest,
}

impl fmt::Display for ContractKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ContractKind::Model => f.write_str("model"),
            ContractKind::Chunk { index, count } => write!(f, "chunk {}/{count}", index + 1),
            ContractKind::Manifest => f.write_str("manifest"),
        }
    }
}

/// One data contract of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedContract {
    /// What it holds.
    pub kind: ContractKind,
    /// Where CREATE2 through [`DEPLOYER`] puts it.
    pub address: Address,
    /// The code the account has once deployed.
    pub code: Bytes,
    /// The transaction input to [`DEPLOYER`]: the salt, then the initcode.
    pub calldata: Bytes,
}

/// The data contracts that hold a model, in the order they must be deployed (chunks before the
/// manifest that names them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployPlan {
    /// The CREATE2 salt of every contract.
    pub salt: B256,
    /// keccak256 of the model bytes.
    pub model_id: B256,
    /// Length of the model in bytes.
    pub model_len: usize,
    /// The contracts, the last one being the model's handle (the single account or the manifest).
    pub contracts: Vec<PlannedContract>,
}

impl DeployPlan {
    /// The address the precompile takes for this model: the single model account, or the
    /// manifest.
    pub fn address(&self) -> Address {
        self.contracts.last().map(|c| c.address).unwrap_or_default()
    }

    /// Whether the model is stored across chunk accounts named by a manifest.
    pub fn is_chunked(&self) -> bool {
        self.contracts.len() > 1
    }

    /// How the model is stored, for people: `"one account"` or `"2 chunks + manifest"`.
    pub fn layout(&self) -> String {
        match self.contracts.len() {
            1 => "one account".to_owned(),
            n => format!("{} chunks + manifest", n - 1),
        }
    }
}

/// Why a model has no deployment plan.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// A data contract's code, or the model a manifest declares, is too large.
    #[error(transparent)]
    Code(#[from] ModelCodeError),
    /// A model of no bytes.
    #[error("the model is empty")]
    Empty,
    /// The model needs more chunks (this many) than a manifest names.
    #[error("the model needs {0} chunks; a manifest names at most {MAX_CHUNKS}")]
    TooManyChunks(usize),
}

/// The address CREATE2 through [`DEPLOYER`] gives `initcode` under `salt`.
pub fn create2_address(salt: B256, initcode: &[u8]) -> Address {
    DEPLOYER.create2_from_code(salt, initcode)
}

fn planned(kind: ContractKind, code: Vec<u8>, salt: B256) -> Result<PlannedContract, PlanError> {
    let initcode = data_contract_initcode(&code)?;
    let address = create2_address(salt, &initcode);
    let mut calldata = Vec::with_capacity(32 + initcode.len());
    calldata.extend_from_slice(salt.as_slice());
    calldata.extend_from_slice(&initcode);
    Ok(PlannedContract { kind, address, code: code.into(), calldata: calldata.into() })
}

/// The deployment plan of `model` under `salt`: one data contract if the model fits one account
/// (EIP-170), else its chunks then its manifest. The model's bytes are not validated here (the
/// precompile validates them when used; the CLI checks them first).
pub fn plan(model: &[u8], salt: B256) -> Result<DeployPlan, PlanError> {
    if model.is_empty() {
        return Err(PlanError::Empty);
    }
    let model_id = keccak256(model);
    let contracts = if fits_one_account(model) {
        vec![planned(ContractKind::Model, model_code(model), salt)?]
    } else {
        let payloads: Vec<&[u8]> = chunk_payloads(model).collect();
        let count = payloads.len();
        if count > MAX_CHUNKS {
            return Err(PlanError::TooManyChunks(count));
        }
        let mut contracts = payloads
            .iter()
            .enumerate()
            .map(|(index, payload)| planned(ContractKind::Chunk { index, count }, chunk_code(payload), salt))
            .collect::<Result<Vec<_>, _>>()?;
        let manifest = Manifest {
            id: model_id,
            model_len: u32::try_from(model.len())
                .map_err(|_| ModelCodeError::TooLarge { len: model.len(), limit: u32::MAX as usize })?,
            chunks: contracts.iter().map(|c| c.address).collect(),
        };
        contracts.push(planned(ContractKind::Manifest, manifest.code(), salt)?);
        contracts
    };
    Ok(DeployPlan { salt, model_id, model_len: model.len(), contracts })
}

/// Parses a `--salt`: a 32-byte `0x` hex word, or a number (decimal or `0x` hex) taken as a
/// big-endian word.
pub fn parse_salt(s: &str) -> Result<B256, String> {
    let s = s.trim();
    if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X"))
        && hex.len() == 64
    {
        return s.parse::<B256>().map_err(|e| format!("bad salt {s:?}: {e}"));
    }
    s.parse::<U256>()
        .map(B256::from)
        .map_err(|_| format!("bad salt {s:?}: use a number (e.g. 0, 42, 0x2a) or a 32-byte 0x hex word"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aiop_precompile::storage::{MAX_CHUNK_PAYLOAD, MAX_CODE_BYTES, chunk_from_code, stored_model};

    fn model_of(len: usize) -> Vec<u8> {
        let mut model = b"AIOP".to_vec();
        model.extend((0..len - 4).map(|i| (i % 251) as u8));
        model
    }

    #[test]
    fn deployer_code_is_the_standard_proxy() {
        // The proxy's well-known code hash.
        assert_eq!(
            keccak256(DEPLOYER_CODE),
            "0x2fa86add0aed31f33a762c9d88e807c475bd51d0f52bd0955754b2608f7e4989".parse::<B256>().unwrap()
        );
    }

    #[test]
    fn a_small_model_is_one_create2_account() {
        let model = model_of(3000);
        let plan = plan(&model, B256::ZERO).unwrap();
        assert_eq!(plan.contracts.len(), 1);
        let c = &plan.contracts[0];
        assert_eq!(c.kind, ContractKind::Model);
        assert_eq!(c.code, Bytes::from(model_code(&model)));
        assert_eq!(&c.calldata[..32], B256::ZERO.as_slice());
        let initcode = &c.calldata[32..];
        // EIP-1014 by hand.
        let mut preimage = vec![0xff];
        preimage.extend_from_slice(DEPLOYER.as_slice());
        preimage.extend_from_slice(B256::ZERO.as_slice());
        preimage.extend_from_slice(keccak256(initcode).as_slice());
        assert_eq!(c.address, Address::from_slice(&keccak256(&preimage)[12..]));
        assert_eq!(plan.address(), c.address);
        assert_eq!(plan.model_id, keccak256(&model));
        assert!(!plan.is_chunked());
    }

    #[test]
    fn a_large_model_is_chunks_then_a_manifest_naming_them() {
        let model = model_of(2 * MAX_CHUNK_PAYLOAD + 100);
        let plan = plan(&model, B256::ZERO).unwrap();
        assert_eq!(plan.layout(), "3 chunks + manifest");
        let (manifest, chunks) = plan.contracts.split_last().unwrap();
        let mut assembled = Vec::new();
        for (i, c) in chunks.iter().enumerate() {
            assert_eq!(c.kind, ContractKind::Chunk { index: i, count: 3 });
            assert!(c.code.len() <= MAX_CODE_BYTES);
            assembled.extend_from_slice(chunk_from_code(&c.code).unwrap());
            assert_eq!(c.address, create2_address(B256::ZERO, &c.calldata[32..]));
        }
        assert_eq!(assembled, model);
        assert_eq!(manifest.kind, ContractKind::Manifest);
        let Ok(aiop_precompile::StoredModel::Manifest(m)) = stored_model(&manifest.code) else {
            panic!("the manifest's code parses as a manifest")
        };
        assert_eq!(m.id, keccak256(&model));
        assert_eq!(m.model_len as usize, model.len());
        assert_eq!(m.chunks, chunks.iter().map(|c| c.address).collect::<Vec<_>>());
        assert_eq!(plan.address(), manifest.address);
        // One contract's worth of code is the boundary.
        assert_eq!(super::plan(&model_of(MAX_CODE_BYTES - 1), B256::ZERO).unwrap().contracts.len(), 1);
        assert_eq!(super::plan(&model_of(MAX_CODE_BYTES), B256::ZERO).unwrap().contracts.len(), 3);
    }

    #[test]
    fn addresses_are_a_function_of_bytes_and_salt() {
        let model = model_of(30_000);
        let a = plan(&model, B256::ZERO).unwrap();
        assert_eq!(a, plan(&model, B256::ZERO).unwrap());
        let b = plan(&model, B256::with_last_byte(1)).unwrap();
        for (x, y) in a.contracts.iter().zip(&b.contracts) {
            assert_ne!(x.address, y.address);
        }
        let mut other = model.clone();
        other[29_000] ^= 1;
        let c = plan(&other, B256::ZERO).unwrap();
        // The first chunk is the same bytes, so the same account; the manifest differs.
        assert_eq!(a.contracts[0].address, c.contracts[0].address);
        assert_ne!(a.address(), c.address());
        assert_eq!(plan(&[], B256::ZERO), Err(PlanError::Empty));
    }

    #[test]
    fn salts_parse_as_numbers_or_words() {
        assert_eq!(parse_salt("0"), Ok(B256::ZERO));
        assert_eq!(parse_salt("42"), Ok(B256::with_last_byte(42)));
        assert_eq!(parse_salt("0x2a"), Ok(B256::with_last_byte(42)));
        let word = format!("0x{}", "11".repeat(32));
        assert_eq!(parse_salt(&word), Ok(B256::repeat_byte(0x11)));
        assert!(parse_salt("salt").is_err());
    }
}
