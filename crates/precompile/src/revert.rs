//! Revert data: the one table that turns a refusal into bytes.
//!
//! From precompile v3 on, a refused call reverts with
//! `AiopError(uint16 code, uint256 detail0, uint256 detail1)` (declared in
//! `contracts/src/IAiop.sol`, specified in `docs/errors.md`): numbers only, so no message
//! wording, library version or debug format can change consensus output. Under v1 and v2 the
//! revert data is `Error(string)` with the error's message, as those chains always had.
//!
//! It must never put anything in revert data that is not in [`CODES`].

use aiop_engine::EngineError;
use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_sol_types::{Revert, SolError};

use crate::abi::IAiop::AiopError as AiopErrorAbi;
use crate::error::AiopError;
use crate::spec::RevertScheme;
use crate::storage::{ManifestError, ModelCodeError};

/// Offset of the codes for a model that fails validation: `INVALID_MODEL + engine code`.
pub const INVALID_MODEL: u16 = 0x100;
/// Offset of the codes for a model header that does not parse: `MALFORMED_HEADER + engine code`.
pub const MALFORMED_HEADER: u16 = 0x200;
/// Offset of the codes for a run that fails: `INFERENCE_FAILED + engine code`.
pub const INFERENCE_FAILED: u16 = 0x300;

/// One row of the table: a code, its name, and what its two details hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeInfo {
    /// The `code` of `AiopError` (for an engine row, the number within its group).
    pub code: u16,
    /// The code's name in `docs/errors.md`.
    pub name: &'static str,
    /// What `detail0` holds; `"0"` when it is always zero.
    pub detail0: &'static str,
    /// What `detail1` holds; `"0"` when it is always zero.
    pub detail1: &'static str,
}

const fn row(code: u16, name: &'static str, detail0: &'static str, detail1: &'static str) -> CodeInfo {
    CodeInfo { code, name, detail0, detail1 }
}

/// The engine's refusals, numbered; each appears under the three offsets above.
const ENGINE_CODES: [CodeInfo; 14] = [
    row(1, "ModelTooLarge", "model length", "limit"),
    row(2, "Truncated", "offset", "0"),
    row(3, "BadMagic", "0", "0"),
    row(4, "UnsupportedVersion", "version byte", "0"),
    row(5, "NonCanonical", "offset", "0"),
    row(6, "TrailingBytes", "offset", "extra bytes"),
    row(7, "UnknownOp", "offset", "op code"),
    row(8, "InvalidTensor", "tensor index", "0"),
    row(9, "InvalidOp", "op index", "0"),
    row(10, "InvalidGraph", "0", "0"),
    row(11, "LimitExceeded", "value", "limit"),
    row(12, "HeaderMismatch", "declared", "computed"),
    row(13, "InputLength", "expected", "actual"),
    row(14, "Kernel", "0", "0"),
];

/// Every code the precompile reverts with, besides the engine's under the three offsets.
pub const CODES: [CodeInfo; 20] = [
    row(1, "NoSelector", "calldata length", "0"),
    row(2, "UnknownSelector", "selector", "0"),
    row(3, "BadCalldata", "selector", "calldata length"),
    row(4, "ValueSent", "wei sent", "0"),
    row(16, "NoCode", "account", "0"),
    row(17, "NotAModel", "account", "0"),
    row(18, "InlineNotAModel", "0", "0"),
    row(19, "ModelTooLarge", "model length", "limit"),
    row(20, "ManifestVersion", "manifest account", "version byte"),
    row(21, "ManifestLength", "manifest account", "code length"),
    row(22, "ManifestChunkCount", "manifest account", "chunk count"),
    row(23, "ManifestModelLength", "manifest account", "declared length"),
    row(24, "ChunkMissing", "chunk account", "chunk index"),
    row(25, "NotAChunk", "chunk account", "chunk index"),
    row(26, "AssembledLength", "declared length", "assembled length"),
    row(27, "ModelIdMismatch", "declared id", "computed keccak256"),
    row(32, "UnsupportedFormat", "format version byte", "0"),
    row(48, "InputLength", "expected", "actual"),
    row(49, "EmptyBatch", "0", "0"),
    row(50, "BatchTooLarge", "inputs", "limit"),
];

/// The engine's rows, numbered within each of the three groups.
pub fn engine_codes() -> &'static [CodeInfo] {
    &ENGINE_CODES
}

/// The row of `code`, or `None` if the precompile never reverts with it.
pub fn code_info(code: u16) -> Option<CodeInfo> {
    for group in [INVALID_MODEL, MALFORMED_HEADER, INFERENCE_FAILED] {
        if let Some(engine) = code.checked_sub(group).filter(|c| *c < 0x100) {
            return ENGINE_CODES.iter().find(|r| r.code == engine).copied();
        }
    }
    CODES.iter().find(|r| r.code == code).copied()
}

/// The code and details of a refusal.
pub fn encode_fields(error: &AiopError) -> (u16, U256, U256) {
    let zero = U256::ZERO;
    let num = |n: usize| U256::from(n);
    match error {
        AiopError::NoSelector { len } => (1, num(*len), zero),
        AiopError::UnknownSelector { selector } => (2, selector_number(selector), zero),
        AiopError::BadCalldata { selector, len, .. } => (3, selector_number(selector), num(*len)),
        AiopError::ValueSent { value } => (4, *value, zero),
        AiopError::ModelCode { address, source } => match source {
            ModelCodeError::NoCode => (16, address_number(address), zero),
            ModelCodeError::NotAModel => (17, address_number(address), zero),
            ModelCodeError::TooLarge { len, limit } => (19, num(*len), num(*limit)),
        },
        AiopError::InlineModelCode(_) => (18, zero, zero),
        AiopError::Manifest { address, source } => manifest_fields(*address, source),
        AiopError::UnsupportedFormat(version) => (32, U256::from(*version), zero),
        AiopError::InputLength { expected, actual } => (48, U256::from(*expected), *actual),
        AiopError::EmptyBatch => (49, zero, zero),
        AiopError::BatchTooLarge { count, limit } => (50, num(*count), num(*limit)),
        AiopError::MalformedHeader(e) => engine_fields(MALFORMED_HEADER, e),
        AiopError::InvalidModel(e) => engine_fields(INVALID_MODEL, e),
        AiopError::Inference(e) => engine_fields(INFERENCE_FAILED, e),
    }
}

fn manifest_fields(manifest: Address, error: &ManifestError) -> (u16, U256, U256) {
    let at = address_number(&manifest);
    match *error {
        ManifestError::UnknownVersion(v) => (20, at, U256::from(v)),
        ManifestError::Length { len, .. } => (21, at, U256::from(len)),
        ManifestError::ChunkCount(n) => (22, at, U256::from(n)),
        ManifestError::ModelLength(n) => (23, at, U256::from(n)),
        ManifestError::ChunkMissing { index, address } => (24, address_number(&address), U256::from(index)),
        ManifestError::NotAChunk { index, address } => (25, address_number(&address), U256::from(index)),
        ManifestError::AssembledLength { declared, assembled } => (26, U256::from(declared), U256::from(assembled)),
        ManifestError::IdMismatch { declared, computed } => (27, hash_number(&declared), hash_number(&computed)),
    }
}

fn engine_fields(group: u16, error: &EngineError) -> (u16, U256, U256) {
    let n = |v: usize| U256::from(v);
    let (code, d0, d1) = match error {
        EngineError::ModelTooLarge { len, limit } => (1, n(*len), n(*limit)),
        EngineError::Truncated { offset, .. } => (2, n(*offset), U256::ZERO),
        EngineError::BadMagic => (3, U256::ZERO, U256::ZERO),
        EngineError::UnsupportedVersion(v) => (4, U256::from(*v), U256::ZERO),
        EngineError::NonCanonical { offset, .. } => (5, n(*offset), U256::ZERO),
        EngineError::TrailingBytes { offset, extra } => (6, n(*offset), n(*extra)),
        EngineError::UnknownOp { offset, code } => (7, n(*offset), U256::from(*code)),
        EngineError::InvalidTensor { tensor, .. } => (8, n(*tensor), U256::ZERO),
        EngineError::InvalidOp { op, .. } => (9, n(*op), U256::ZERO),
        EngineError::InvalidModel(_) => (10, U256::ZERO, U256::ZERO),
        EngineError::LimitExceeded { value, limit, .. } => (11, U256::from(*value), U256::from(*limit)),
        EngineError::HeaderMismatch { declared, computed, .. } => (12, U256::from(*declared), U256::from(*computed)),
        EngineError::InputLength { expected, actual, .. } => (13, n(*expected), n(*actual)),
        EngineError::Kernel(_) => (14, U256::ZERO, U256::ZERO),
    };
    (group + code, d0, d1)
}

fn selector_number(selector: &[u8; 4]) -> U256 {
    U256::from(u32::from_be_bytes(*selector))
}

fn address_number(address: &Address) -> U256 {
    U256::from_be_slice(address.as_slice())
}

fn hash_number(hash: &B256) -> U256 {
    U256::from_be_bytes(hash.0)
}

/// The revert data of `error` under `scheme`.
pub fn revert_data(error: &AiopError, scheme: RevertScheme) -> Bytes {
    match scheme {
        RevertScheme::Message => Revert::from(error.to_string()).abi_encode().into(),
        RevertScheme::Coded => {
            let (code, detail0, detail1) = encode_fields(error);
            AiopErrorAbi { code, detail0, detail1 }.abi_encode().into()
        }
    }
}

/// Decodes coded revert data into `(code, detail0, detail1)`, or `None` if it is not exactly an
/// `AiopError` with a code of the table.
pub fn decode(data: &[u8]) -> Option<(u16, U256, U256)> {
    let error = AiopErrorAbi::abi_decode_validate(data).ok()?;
    code_info(error.code)?;
    Some((error.code, error.detail0, error.detail1))
}

/// A person's reading of coded revert data: `"AiopError 48 InputLength: expected = 64,
/// actual = 3"`. Off-chain only (CLI, RPC error text).
pub fn describe(data: &[u8]) -> Option<String> {
    let (code, d0, d1) = decode(data)?;
    let info = code_info(code)?;
    let group = match code {
        c if c >= INFERENCE_FAILED => "InferenceFailed.",
        c if c >= MALFORMED_HEADER => "MalformedHeader.",
        c if c >= INVALID_MODEL => "InvalidModel.",
        _ => "",
    };
    let show = |label: &str, value: U256| {
        if label == "0" || label.is_empty() { None } else { Some(format!("{label} = {}", number_text(label, value))) }
    };
    let details: Vec<String> = [show(info.detail0, d0), show(info.detail1, d1)].into_iter().flatten().collect();
    Some(format!("AiopError {code} {group}{}: {}", info.name, details.join(", ")).trim_end_matches(": ").to_owned())
}

fn number_text(label: &str, value: U256) -> String {
    if label.contains("account") {
        format!("{}", Address::from_word(value.into()))
    } else if label.contains("id") || label.contains("keccak") {
        format!("{}", B256::from(value))
    } else if label.contains("selector") {
        format!("{value:#010x}")
    } else {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_the_engine_groups_do_not_overlap_the_others() {
        let mut codes: Vec<u16> = CODES.iter().map(|r| r.code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), CODES.len());
        assert!(ENGINE_CODES.iter().all(|r| r.code > 0 && r.code < 0x100));
        assert_eq!(code_info(INVALID_MODEL + 9).map(|r| r.name), Some("InvalidOp"));
        assert_eq!(code_info(48).map(|r| r.name), Some("InputLength"));
        assert_eq!(code_info(INVALID_MODEL), None);
        assert_eq!(code_info(5), None);
    }

    #[test]
    fn coded_revert_data_is_three_words_after_the_selector_and_reads_back() {
        let error = AiopError::InputLength { expected: 64, actual: U256::from(3) };
        let data = revert_data(&error, RevertScheme::Coded);
        assert_eq!(data.len(), 4 + 96);
        assert_eq!(decode(&data), Some((48, U256::from(64), U256::from(3))));
        assert_eq!(describe(&data).as_deref(), Some("AiopError 48 InputLength: expected = 64, actual = 3"));
        let legacy = revert_data(&error, RevertScheme::Message);
        assert_eq!(Revert::abi_decode(&legacy).unwrap().reason, error.to_string());
    }

    #[test]
    fn engine_errors_keep_their_location_and_drop_their_text() {
        let error = AiopError::InvalidModel(EngineError::InvalidOp { op: 3, kind: "Conv2D", reason: "any".into() });
        assert_eq!(encode_fields(&error), (INVALID_MODEL + 9, U256::from(3), U256::ZERO));
        let data = revert_data(&error, RevertScheme::Coded);
        assert_eq!(describe(&data).as_deref(), Some("AiopError 265 InvalidModel.InvalidOp: op index = 3"));
    }
}
