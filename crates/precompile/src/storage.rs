//! Model storage: how a model lives in the code of data contracts, and the initcode that
//! deploys them. `docs/storage.md` is the normative text.
//!
//! - A **model account**'s code is `0xFE` (the INVALID opcode, so calling the data contract
//!   halts at once) followed by the model bytes, which begin with the format's magic `AIOP`.
//! - A model larger than one contract (EIP-170: 24,576 bytes of code) is stored in **chunk
//!   accounts** (`0xFE ‖ "AIOC" ‖ a slice of the model bytes`) named, in order, by a
//!   **manifest account** (`0xFE ‖ "AIOM" ‖ version ‖ model id ‖ model length ‖ chunk count ‖
//!   chunk addresses`); the model id, keccak256 of the assembled bytes, pins them (precompile
//!   v3 on).
//!
//! The address of the model or manifest account is the model's handle. Anyone can deploy them
//! with [`data_contract_initcode`]; `contracts/src/AiopLib.sol` builds the same initcode and
//! manifests in Solidity.
//!
//! It must never accept code that is not exactly one of these layouts, nor trust an assembled
//! model whose bytes do not hash to the manifest's id.

use aiop_engine::{format::MAGIC, limits::MAX_MODEL_BYTES};
use alloy_primitives::{Address, B256};

/// The first byte of a model data contract's code: INVALID, so the contract cannot run.
pub const MODEL_CODE_PREFIX: u8 = 0xFE;

/// Why account code does not hold a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ModelCodeError {
    /// Empty code: nothing is deployed at the account.
    #[error("the account has no code; deploy the model first (see AiopLib.deployModel)")]
    NoCode,
    /// Code that is not `0xFE` followed by bytes starting with the magic `AIOP`.
    #[error(
        "the account's code is not an aiop model: it must be 0xFE followed by the model bytes starting with \"AIOP\""
    )]
    NotAModel,
    /// A model (or data contract code) longer than the engine accepts.
    #[error("the model is {len} bytes; the engine accepts at most {limit}")]
    TooLarge {
        /// Bytes given.
        len: usize,
        /// Most bytes accepted.
        limit: usize,
    },
}

/// The account code that holds `model`: the prefix byte, then the model bytes.
pub fn model_code(model: &[u8]) -> Vec<u8> {
    let mut code = Vec::with_capacity(model.len() + 1);
    code.push(MODEL_CODE_PREFIX);
    code.extend_from_slice(model);
    code
}

/// The model bytes held in account `code`, checking only the prefix and the magic (the
/// engine validates the rest).
pub fn model_from_code(code: &[u8]) -> Result<&[u8], ModelCodeError> {
    match code.split_first() {
        None => Err(ModelCodeError::NoCode),
        Some((&MODEL_CODE_PREFIX, model)) if model.starts_with(&MAGIC) => Ok(model),
        Some(_) => Err(ModelCodeError::NotAModel),
    }
}

/// Length of the initcode's loader, before the runtime code it copies.
pub const INITCODE_LOADER_LEN: usize = 14;

/// Initcode that deploys a model data contract for `model` (no validation beyond the size: the
/// precompile validates the model when it is used).
///
/// ```text
/// PUSH4 len   63 LL LL LL LL   runtime length (0xFE + model)
/// DUP1        80
/// PUSH1 14    60 0e            offset of the runtime in the initcode
/// PUSH1 0     60 00
/// CODECOPY    39               memory[0..len] = runtime
/// PUSH1 0     60 00
/// RETURN      f3               deploy memory[0..len]
/// FE <model bytes>
/// ```
pub fn model_deploy_initcode(model: &[u8]) -> Result<Vec<u8>, ModelCodeError> {
    if model.len() > MAX_MODEL_BYTES {
        return Err(ModelCodeError::TooLarge { len: model.len(), limit: MAX_MODEL_BYTES });
    }
    data_contract_initcode(&model_code(model))
}

/// EIP-170's limit on the code of one contract.
pub const MAX_CODE_BYTES: usize = 24_576;

/// The magic after `0xFE` in a manifest account's code.
pub const MANIFEST_MAGIC: [u8; 4] = *b"AIOM";
/// The magic after `0xFE` in a chunk account's code.
pub const CHUNK_MAGIC: [u8; 4] = *b"AIOC";
/// The manifest layout version this precompile reads.
pub const MANIFEST_VERSION: u8 = 1;
/// Bytes of a manifest before its chunk addresses: prefix, magic, version, id, length, count.
pub const MANIFEST_HEADER_LEN: usize = 1 + 4 + 1 + 32 + 4 + 2;
/// Most chunks a manifest may name.
pub const MAX_CHUNKS: usize = 256;
/// Most model bytes one chunk account holds (its code is the prefix, the magic and these).
pub const MAX_CHUNK_PAYLOAD: usize = MAX_CODE_BYTES - 5;

/// What an account's code holds, for a precompile that reads manifests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredModel<'a> {
    /// A whole model in one account.
    Single(&'a [u8]),
    /// A manifest naming the chunks of a model.
    Manifest(Manifest),
}

/// A parsed manifest account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// keccak256 of the assembled model bytes.
    pub id: B256,
    /// Length of the assembled model.
    pub model_len: u32,
    /// The chunk accounts, in the order their bytes are concatenated.
    pub chunks: Vec<Address>,
}

/// Why a manifest account, or a chunk it names, does not give a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// A layout version byte other than [`MANIFEST_VERSION`].
    #[error("manifest layout version {0} is unknown; this precompile reads version 1")]
    UnknownVersion(u8),
    /// Code whose length does not match its header and chunk count.
    #[error("the manifest's code is {len} bytes; for its chunk count it must be {expected}")]
    Length {
        /// Bytes of code, prefix included.
        len: usize,
        /// Bytes the header and chunk count call for (with one chunk when the header itself is
        /// cut short).
        expected: usize,
    },
    /// A chunk count of 0 or more than [`MAX_CHUNKS`].
    #[error("the manifest names {0} chunks; it must name 1 to 256")]
    ChunkCount(usize),
    /// A declared model length of 0 or more than the engine's limit (bytes).
    #[error("the manifest declares a model of {0} bytes; a model is 1 byte to 4 MiB")]
    ModelLength(u32),
    /// A chunk account with no code.
    #[error("chunk {index} ({address}) has no code; deploy it before the manifest is used")]
    ChunkMissing {
        /// Position of the chunk in the manifest, from 0.
        index: usize,
        /// The chunk account.
        address: Address,
    },
    /// A chunk account whose code is not `0xFE "AIOC"` followed by model bytes.
    #[error("chunk {index} ({address}) is not a chunk account: its code must be 0xFE \"AIOC\" followed by model bytes")]
    NotAChunk {
        /// Position of the chunk in the manifest, from 0.
        index: usize,
        /// The chunk account.
        address: Address,
    },
    /// Chunks whose payloads do not add up to the declared model length.
    #[error("the chunks hold {assembled} bytes but the manifest declares {declared}")]
    AssembledLength {
        /// Model bytes the manifest declares.
        declared: u32,
        /// Model bytes the chunks hold.
        assembled: u64,
    },
    /// Assembled bytes that do not hash to the manifest's model id.
    #[error("the assembled bytes hash to {computed}, not to the manifest's model id {declared}")]
    IdMismatch {
        /// The manifest's model id.
        declared: B256,
        /// keccak256 of the assembled bytes.
        computed: B256,
    },
}

/// Reads account `code` as a model or a manifest.
pub fn stored_model(code: &[u8]) -> Result<StoredModel<'_>, StoredModelError> {
    match code.split_first() {
        None => Err(StoredModelError::Code(ModelCodeError::NoCode)),
        Some((&MODEL_CODE_PREFIX, rest)) if rest.starts_with(&MAGIC) => Ok(StoredModel::Single(rest)),
        Some((&MODEL_CODE_PREFIX, rest)) if rest.starts_with(&MANIFEST_MAGIC) => {
            Manifest::parse(code).map(StoredModel::Manifest).map_err(StoredModelError::Manifest)
        }
        Some(_) => Err(StoredModelError::Code(ModelCodeError::NotAModel)),
    }
}

/// Why account code holds neither a model nor a well-formed manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StoredModelError {
    /// Neither a model nor a manifest.
    #[error(transparent)]
    Code(ModelCodeError),
    /// A manifest that does not parse.
    #[error("malformed manifest: {0}")]
    Manifest(ManifestError),
}

impl Manifest {
    /// Parses a manifest account's whole code (prefix included).
    pub fn parse(code: &[u8]) -> Result<Manifest, ManifestError> {
        if code.len() < MANIFEST_HEADER_LEN {
            return Err(ManifestError::Length { len: code.len(), expected: MANIFEST_HEADER_LEN + 20 });
        }
        let version = code[5];
        if version != MANIFEST_VERSION {
            return Err(ManifestError::UnknownVersion(version));
        }
        let id = B256::from_slice(&code[6..38]);
        let model_len = u32::from_be_bytes([code[38], code[39], code[40], code[41]]);
        let count = usize::from(u16::from_be_bytes([code[42], code[43]]));
        if count == 0 || count > MAX_CHUNKS {
            return Err(ManifestError::ChunkCount(count));
        }
        let expected = MANIFEST_HEADER_LEN + 20 * count;
        if code.len() != expected {
            return Err(ManifestError::Length { len: code.len(), expected });
        }
        if model_len == 0 || model_len as usize > MAX_MODEL_BYTES {
            return Err(ManifestError::ModelLength(model_len));
        }
        let chunks = code[MANIFEST_HEADER_LEN..].chunks_exact(20).map(Address::from_slice).collect();
        Ok(Manifest { id, model_len, chunks })
    }

    /// The manifest account's code.
    pub fn code(&self) -> Vec<u8> {
        let mut code = Vec::with_capacity(MANIFEST_HEADER_LEN + 20 * self.chunks.len());
        code.push(MODEL_CODE_PREFIX);
        code.extend_from_slice(&MANIFEST_MAGIC);
        code.push(MANIFEST_VERSION);
        code.extend_from_slice(self.id.as_slice());
        code.extend_from_slice(&self.model_len.to_be_bytes());
        code.extend_from_slice(&u16::try_from(self.chunks.len()).unwrap_or(u16::MAX).to_be_bytes());
        for chunk in &self.chunks {
            code.extend_from_slice(chunk.as_slice());
        }
        code
    }
}

/// The code of a chunk account holding `payload`.
pub fn chunk_code(payload: &[u8]) -> Vec<u8> {
    let mut code = Vec::with_capacity(payload.len() + 5);
    code.push(MODEL_CODE_PREFIX);
    code.extend_from_slice(&CHUNK_MAGIC);
    code.extend_from_slice(payload);
    code
}

/// The model bytes a chunk account's code holds, or `None` if it is not a chunk.
pub fn chunk_from_code(code: &[u8]) -> Option<&[u8]> {
    match code.split_first() {
        Some((&MODEL_CODE_PREFIX, rest)) => rest.strip_prefix(&CHUNK_MAGIC),
        _ => None,
    }
}

/// Whether `model` fits one model account under EIP-170.
pub fn fits_one_account(model: &[u8]) -> bool {
    model.len() < MAX_CODE_BYTES
}

/// `model` cut into chunk payloads of at most [`MAX_CHUNK_PAYLOAD`] bytes, in order.
pub fn chunk_payloads(model: &[u8]) -> impl Iterator<Item = &[u8]> {
    model.chunks(MAX_CHUNK_PAYLOAD)
}

/// How `aiop model deploy` stores a model of a given length, and what reading it costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Length of the model in bytes.
    pub model_len: u64,
    /// Chunk accounts (0: the model is in one account).
    pub chunks: u64,
}

impl Layout {
    /// The layout of a model of `model_len` bytes: one account if it fits EIP-170, otherwise
    /// chunks of [`MAX_CHUNK_PAYLOAD`] bytes and a manifest.
    pub fn of(model_len: u64) -> Layout {
        let chunks = if model_len < MAX_CODE_BYTES as u64 { 0 } else { model_len.div_ceil(MAX_CHUNK_PAYLOAD as u64) };
        Layout { model_len, chunks }
    }

    /// Accounts the model occupies (the handle and its chunks).
    pub fn accounts(&self) -> u64 {
        1 + self.chunks
    }

    /// Gas of reading the model under a spec that reads manifests (`docs/storage.md` §3), with
    /// `access_gas` charged per account (2600 cold, 100 warm).
    pub fn read_gas(&self, access_gas: u64) -> u64 {
        use crate::gas::{code_read_gas, keccak_gas};
        let accesses = access_gas.saturating_mul(self.accounts());
        if self.chunks == 0 {
            return accesses.saturating_add(code_read_gas(self.model_len.saturating_add(1)));
        }
        let manifest_len = (MANIFEST_HEADER_LEN as u64).saturating_add(20u64.saturating_mul(self.chunks));
        accesses
            .saturating_add(code_read_gas(manifest_len))
            .saturating_add(code_read_gas(self.model_len))
            .saturating_add(keccak_gas(self.model_len))
    }
}

/// Initcode that deploys a data contract whose code is `runtime` (a model, a chunk or a
/// manifest account's code), with the same loader as [`model_deploy_initcode`].
pub fn data_contract_initcode(runtime: &[u8]) -> Result<Vec<u8>, ModelCodeError> {
    let too_large = || ModelCodeError::TooLarge { len: runtime.len(), limit: MAX_MODEL_BYTES };
    if runtime.len() > MAX_MODEL_BYTES + 1 {
        return Err(too_large());
    }
    let runtime_len = u32::try_from(runtime.len()).map_err(|_| too_large())?;
    let mut initcode = Vec::with_capacity(INITCODE_LOADER_LEN + runtime.len());
    initcode.push(0x63);
    initcode.extend_from_slice(&runtime_len.to_be_bytes());
    initcode.extend_from_slice(&[0x80, 0x60, INITCODE_LOADER_LEN as u8, 0x60, 0x00, 0x39, 0x60, 0x00, 0xf3]);
    initcode.extend_from_slice(runtime);
    Ok(initcode)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_round_trip_and_every_malformation_is_named() {
        let manifest = Manifest {
            id: B256::repeat_byte(7),
            model_len: 30_000,
            chunks: vec![Address::repeat_byte(1), Address::repeat_byte(2)],
        };
        let code = manifest.code();
        assert_eq!(code.len(), MANIFEST_HEADER_LEN + 40);
        assert_eq!(stored_model(&code), Ok(StoredModel::Manifest(manifest.clone())));
        let mut bad = code.clone();
        bad[5] = 2;
        assert_eq!(Manifest::parse(&bad), Err(ManifestError::UnknownVersion(2)));
        assert_eq!(
            Manifest::parse(&code[..code.len() - 1]),
            Err(ManifestError::Length { len: code.len() - 1, expected: code.len() })
        );
        let mut zero = code.clone();
        zero[42..44].copy_from_slice(&[0, 0]);
        assert_eq!(Manifest::parse(&zero), Err(ManifestError::ChunkCount(0)));
        let mut huge = code.clone();
        huge[38..42].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(Manifest::parse(&huge), Err(ManifestError::ModelLength(u32::MAX)));
        assert_eq!(Manifest::parse(&code[..10]), Err(ManifestError::Length { len: 10, expected: 64 }));
    }

    #[test]
    fn chunks_round_trip_and_fit_one_contract() {
        let model = vec![9u8; 3 * MAX_CHUNK_PAYLOAD + 5];
        let payloads: Vec<&[u8]> = chunk_payloads(&model).collect();
        assert_eq!(payloads.len(), 4);
        for payload in payloads {
            let code = chunk_code(payload);
            assert!(code.len() <= MAX_CODE_BYTES);
            assert_eq!(chunk_from_code(&code), Some(payload));
        }
        assert_eq!(chunk_from_code(b"\xfeAIOP"), None);
        assert!(!fits_one_account(&model) && fits_one_account(&model[..MAX_CODE_BYTES - 1]));
    }

    #[test]
    fn data_contract_initcode_matches_the_model_initcode() {
        let model = b"AIOP\x01rest";
        assert_eq!(data_contract_initcode(&model_code(model)).unwrap(), model_deploy_initcode(model).unwrap());
    }

    #[test]
    fn code_round_trips_and_refuses_other_code() {
        let model = b"AIOP\x01rest";
        assert_eq!(model_from_code(&model_code(model)), Ok(&model[..]));
        assert_eq!(model_from_code(&[]), Err(ModelCodeError::NoCode));
        assert_eq!(model_from_code(b"\xfeXIOP"), Err(ModelCodeError::NotAModel));
        assert_eq!(model_from_code(b"AIOP"), Err(ModelCodeError::NotAModel));
        assert_eq!(model_from_code(b"\xfe"), Err(ModelCodeError::NotAModel));
    }

    #[test]
    fn initcode_loader_has_its_declared_length() {
        let initcode = model_deploy_initcode(b"AIOP").unwrap();
        assert_eq!(initcode.len(), INITCODE_LOADER_LEN + 5);
        assert_eq!(&initcode[INITCODE_LOADER_LEN..], b"\xfeAIOP");
        assert_eq!(&initcode[1..5], &5u32.to_be_bytes());
    }
}
