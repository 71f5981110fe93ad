//! On-chain models: how a model is stored in the code of a data contract, and the initcode
//! that deploys one.
//!
//! A model account's code is `0xFE` (the INVALID opcode, so calling the data contract halts at
//! once) followed by the model bytes, which begin with the format's magic `AIOP`. The account's
//! address is the model's handle and its code hash pins the bytes. Anyone can deploy one with
//! [`model_deploy_initcode`]; `contracts/src/AiopLib.sol` builds the same initcode in Solidity.

use aiop_engine::{format::MAGIC, limits::MAX_MODEL_BYTES};

/// The first byte of a model data contract's code: INVALID, so the contract cannot run.
pub const MODEL_CODE_PREFIX: u8 = 0xFE;

/// Why account code does not hold a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ModelCodeError {
    #[error("the account has no code; deploy the model first (see AiopLib.deployModel)")]
    NoCode,
    #[error(
        "the account's code is not an aiop model: it must be 0xFE followed by the model bytes starting with \"AIOP\""
    )]
    NotAModel,
    #[error("the model is {len} bytes; the engine accepts at most {limit}")]
    TooLarge { len: usize, limit: usize },
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
    // MAX_MODEL_BYTES + 1 fits in four bytes.
    let runtime_len = u32::try_from(model.len() + 1)
        .map_err(|_| ModelCodeError::TooLarge { len: model.len(), limit: MAX_MODEL_BYTES })?;
    let mut initcode = Vec::with_capacity(INITCODE_LOADER_LEN + model.len() + 1);
    initcode.push(0x63);
    initcode.extend_from_slice(&runtime_len.to_be_bytes());
    initcode.extend_from_slice(&[0x80, 0x60, INITCODE_LOADER_LEN as u8, 0x60, 0x00, 0x39, 0x60, 0x00, 0xf3]);
    initcode.push(MODEL_CODE_PREFIX);
    initcode.extend_from_slice(model);
    Ok(initcode)
}

#[cfg(test)]
mod tests {
    use super::*;

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
