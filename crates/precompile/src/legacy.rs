//! Precompile v1 and v2, frozen: the call flow those chains have always run, kept byte for
//! byte (revert text included) so their history replays. New behaviour goes into a new spec
//! (`crate::spec`), never here.

use aiop_engine::ModelHeader;
use alloy_evm::precompiles::PrecompileInput;
use alloy_primitives::{Address, U256, keccak256};
use alloy_sol_types::{SolCall, SolInterface};

use crate::abi::{IAiopCalls, costBatchCall, costCall, inferBatchCall, inferCall, inferInlineCall, modelInfoCall};
use crate::cache::CacheKey;
use crate::error::AiopError;
use crate::gas::COLD_ACCOUNT_ACCESS_GAS;
use crate::precompile::{
    AiopPrecompile, Failure, ModelAccount, Outcome, check_input_len, function_name, len_u64, model_code_inline,
    model_info, run,
};
use crate::spec::PrecompileSpec;
use crate::storage::model_from_code;

impl AiopPrecompile {
    pub(crate) fn legacy_dispatch(&self, spec: &PrecompileSpec, input: &mut PrecompileInput<'_>) -> Outcome {
        let schedule = &spec.schedule;
        let refuse = |error| Failure::Refused { gas: schedule.query_base, error };
        // Ether sent to the precompile would be stuck there. Under DELEGATECALL / CALLCODE no
        // ether reaches the precompile (the value is the caller's own), so only a direct call
        // with value is refused.
        if input.is_direct_call() && !input.value.is_zero() {
            return Err(refuse(AiopError::ValueSent { value: input.value }));
        }
        let data = input.data;
        if data.len() < 4 {
            return Err(refuse(AiopError::NoSelector { len: data.len() }));
        }
        let selector: [u8; 4] = [data[0], data[1], data[2], data[3]];
        // The functions v3 added do not exist here.
        let known = IAiopCalls::valid_selector(selector)
            && selector != inferBatchCall::SELECTOR
            && selector != costBatchCall::SELECTOR;
        if !known {
            return Err(refuse(AiopError::UnknownSelector { selector }));
        }
        let call = IAiopCalls::abi_decode_validate(data).map_err(|e| {
            refuse(AiopError::BadCalldata {
                selector,
                len: data.len(),
                function: function_name(selector),
                reason: e.to_string(),
            })
        })?;
        match call {
            IAiopCalls::infer(call) => self.legacy_infer(spec, input, call),
            IAiopCalls::inferInline(call) => self.legacy_infer_inline(spec, input.gas, call),
            IAiopCalls::cost(call) => self.legacy_cost(spec, input, call),
            IAiopCalls::modelInfo(call) => self.legacy_model_info(spec, input, call),
            IAiopCalls::inferBatch(_) | IAiopCalls::costBatch(_) => {
                Err(refuse(AiopError::UnknownSelector { selector }))
            }
        }
    }

    /// The model bytes and header held by `account`, refusing (for the query price) anything
    /// that is not a model or whose header is malformed.
    fn legacy_header_of<'a>(
        &self,
        spec: &PrecompileSpec,
        account: &'a ModelAccount,
        address: Address,
    ) -> Result<(&'a [u8], ModelHeader), Failure> {
        let gas = spec.schedule.query_gas(account.access_gas);
        let model = model_from_code(&account.code)
            .map_err(|source| Failure::Refused { gas, error: AiopError::ModelCode { address, source } })?;
        let header = accepted_header(spec, model).map_err(|error| Failure::Refused { gas, error })?;
        Ok((model, header))
    }

    fn legacy_infer(&self, spec: &PrecompileSpec, input: &mut PrecompileInput<'_>, call: inferCall) -> Outcome {
        let account = Self::load_model_account(input, call.model)?;
        let query_gas = spec.schedule.query_gas(account.access_gas);
        if query_gas > input.gas {
            return Err(Failure::OutOfGas);
        }
        let (model, header) = self.legacy_header_of(spec, &account, call.model)?;
        check_input_len(&header, call.input.len(), query_gas)?;
        let gas = spec.schedule.infer_gas(&header, len_u64(model.len()), len_u64(call.input.len()), account.access_gas);
        if gas > input.gas {
            return Err(Failure::OutOfGas);
        }
        let loaded = self.loaded(CacheKey::CodeHash(account.code_hash), model, gas)?;
        run(&loaded, &call.input, gas, |output| inferCall::abi_encode_returns(&output))
    }

    fn legacy_infer_inline(&self, spec: &PrecompileSpec, gas_limit: u64, call: inferInlineCall) -> Outcome {
        let schedule = &spec.schedule;
        let model = model_code_inline(&call.model, schedule.query_base)?;
        let header =
            accepted_header(spec, model).map_err(|error| Failure::Refused { gas: schedule.query_base, error })?;
        check_input_len(&header, call.input.len(), schedule.query_base)?;
        let gas = schedule.infer_gas(&header, len_u64(model.len()), len_u64(call.input.len()), 0);
        if gas > gas_limit {
            return Err(Failure::OutOfGas);
        }
        // Not cached: a key would mean hashing the model, which costs more than loading it.
        let loaded = self.load(model, gas)?;
        run(&loaded, &call.input, gas, |output| inferInlineCall::abi_encode_returns(&output))
    }

    fn legacy_cost(&self, spec: &PrecompileSpec, input: &mut PrecompileInput<'_>, call: costCall) -> Outcome {
        let account = Self::load_model_account(input, call.model)?;
        let query_gas = spec.schedule.query_gas(account.access_gas);
        let (model, header) = self.legacy_header_of(spec, &account, call.model)?;
        let input_len = u64::try_from(call.inputLength).unwrap_or(u64::MAX);
        if call.inputLength != U256::from(header.input_len) {
            return Err(Failure::Refused {
                gas: query_gas,
                error: AiopError::InputLength { expected: header.input_len.into(), actual: call.inputLength },
            });
        }
        let infer_gas = spec.schedule.infer_gas(&header, len_u64(model.len()), input_len, COLD_ACCOUNT_ACCESS_GAS);
        Ok((query_gas, costCall::abi_encode_returns(&U256::from(infer_gas)).into()))
    }

    fn legacy_model_info(
        &self,
        spec: &PrecompileSpec,
        input: &mut PrecompileInput<'_>,
        call: modelInfoCall,
    ) -> Outcome {
        let account = Self::load_model_account(input, call.model)?;
        let (model, header) = self.legacy_header_of(spec, &account, call.model)?;
        let gas = spec.schedule.model_info_gas(&header, len_u64(model.len()), account.access_gas);
        if gas > input.gas {
            return Err(Failure::OutOfGas);
        }
        let loaded = self.loaded(CacheKey::CodeHash(account.code_hash), model, gas)?;
        let info = model_info(&loaded, keccak256(model));
        Ok((gas, modelInfoCall::abi_encode_returns(&info).into()))
    }
}

/// Parses a model header, refusing format versions the spec does not accept (with the text
/// the engine gave before it read format v2).
fn accepted_header(spec: &PrecompileSpec, model: &[u8]) -> Result<ModelHeader, AiopError> {
    let header = ModelHeader::parse(model).map_err(AiopError::MalformedHeader)?;
    if spec.accepts_format(header.version) { Ok(header) } else { Err(AiopError::UnsupportedFormat(header.version)) }
}
