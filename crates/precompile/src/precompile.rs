//! The precompile itself: selector dispatch, the model read from account code, gas charged
//! before any work, the cache, and the engine run.
//!
//! The path from calldata to output and gas is consensus code: no floats, clocks, randomness
//! or hash-map iteration; every failure is a revert with a reason (or an out-of-gas halt), and
//! only a database error is fatal.

use std::sync::Arc;

use aiop_engine::{DType, KernelError, KernelPath, LoadedModel, ModelHeader};
use alloy_evm::precompiles::PrecompileInput;
use alloy_primitives::{Address, B256, Bytes, U256, address, keccak256};
use alloy_sol_types::{Revert, SolCall, SolError, SolInterface};
use revm::precompile::{PrecompileError, PrecompileHalt, PrecompileOutput, PrecompileResult};

use crate::abi::{IAiopCalls, ModelInfo, costCall, inferCall, inferInlineCall, modelInfoCall};
use crate::cache::{CacheConfig, CacheKey, ModelCache};
use crate::code::{ModelCodeError, model_from_code};
use crate::error::{AiopError, ConfigError};
use crate::gas::{COLD_ACCOUNT_ACCESS_GAS, GasSchedule, account_access_gas};

/// The precompile's default address, `0x…0a1000`: far above the Ethereum precompiles
/// (`0x01`–`0x11` through Prague/Osaka, `0x0100` for P256VERIFY) and outside the ranges
/// proposed for future ones and for rollups (`0x0100`–`0x01ff`, RIP-7212's `0x100`), so it
/// collides with none of them. A chain can choose another with [`AiopConfig::address`].
pub const DEFAULT_ADDRESS: Address = address!("0x00000000000000000000000000000000000a1000");

/// The precompile's id, as reth and alloy-evm name it.
pub const PRECOMPILE_NAME: &str = "aiop-infer";

/// How a node configures the precompile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AiopConfig {
    /// Where the precompile lives.
    pub address: Address,
    /// Which kernels run the models (every path gives the same bytes; this is speed only).
    pub kernel_path: KernelPath,
    /// The gas schedule (consensus: every node of a chain must use the same).
    pub schedule: GasSchedule,
    /// Bounds of the loaded-model cache (speed only).
    pub cache: CacheConfig,
}

impl Default for AiopConfig {
    fn default() -> Self {
        AiopConfig {
            address: DEFAULT_ADDRESS,
            kernel_path: KernelPath::fastest(),
            schedule: GasSchedule::default(),
            cache: CacheConfig::default(),
        }
    }
}

/// The inference precompile: a configuration and a model cache. Share it with an `Arc`.
#[derive(Debug)]
pub struct AiopPrecompile {
    config: AiopConfig,
    cache: ModelCache,
}

/// How a call ends when it does not succeed.
#[derive(Debug)]
enum Failure {
    /// Revert charging `gas`, with the error as `Error(string)` (out of gas if `gas` is more
    /// than the call has).
    Refused { gas: u64, error: AiopError },
    /// Halt, consuming all the call's gas.
    OutOfGas,
    /// Abort the whole EVM: the database failed.
    Fatal(String),
}

type Outcome = Result<(u64, Bytes), Failure>;

/// A model account's code, as read from state.
struct ModelAccount {
    access_gas: u64,
    code_hash: B256,
    code: Bytes,
}

impl AiopPrecompile {
    /// Builds the precompile, refusing a kernel path this CPU cannot run.
    pub fn new(config: AiopConfig) -> Result<Self, ConfigError> {
        if !config.kernel_path.is_available() {
            return Err(ConfigError::KernelPathUnavailable(config.kernel_path.name()));
        }
        Ok(AiopPrecompile { config, cache: ModelCache::new(config.cache) })
    }

    pub fn config(&self) -> &AiopConfig {
        &self.config
    }

    pub fn cache(&self) -> &ModelCache {
        &self.cache
    }

    /// Runs one call: the function alloy-evm's `DynPrecompile` wraps.
    pub fn call(&self, mut input: PrecompileInput<'_>) -> PrecompileResult {
        let gas_limit = input.gas;
        let reservoir = input.reservoir;
        match self.dispatch(&mut input) {
            Ok((gas, output)) if gas <= gas_limit => Ok(PrecompileOutput::new(gas, output, reservoir)),
            Ok(_) | Err(Failure::OutOfGas) => Ok(PrecompileOutput::halt(PrecompileHalt::OutOfGas, reservoir)),
            Err(Failure::Refused { gas, .. }) if gas > gas_limit => {
                Ok(PrecompileOutput::halt(PrecompileHalt::OutOfGas, reservoir))
            }
            Err(Failure::Refused { gas, error }) => Ok(PrecompileOutput::revert(gas, revert_data(&error), reservoir)),
            Err(Failure::Fatal(message)) => Err(PrecompileError::Fatal(message)),
        }
    }

    fn dispatch(&self, input: &mut PrecompileInput<'_>) -> Outcome {
        let schedule = &self.config.schedule;
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
        let call = IAiopCalls::abi_decode_validate(data).map_err(|e| {
            let selector: [u8; 4] = [data[0], data[1], data[2], data[3]];
            if IAiopCalls::valid_selector(selector) {
                refuse(AiopError::BadCalldata { function: function_name(selector), reason: e.to_string() })
            } else {
                refuse(AiopError::UnknownSelector { selector: alloy_primitives::hex::encode(selector) })
            }
        })?;
        match call {
            IAiopCalls::infer(call) => self.infer(input, call),
            IAiopCalls::inferInline(call) => self.infer_inline(input.gas, call),
            IAiopCalls::cost(call) => self.cost(input, call),
            IAiopCalls::modelInfo(call) => self.model_info(input, call),
        }
    }

    /// Reads the code of `address`, marking it warm; the caller charges `access_gas`.
    fn load_model_account(input: &mut PrecompileInput<'_>, address: Address) -> Result<ModelAccount, Failure> {
        let account = input
            .internals
            .load_account_code(address)
            .map_err(|e| Failure::Fatal(format!("aiop: cannot read model account {address}: {e}")))?;
        let access_gas = account_access_gas(account.is_cold);
        let code_hash = *account.data.code_hash();
        let code = account.data.code().map(|c| c.original_bytes()).unwrap_or_default();
        Ok(ModelAccount { access_gas, code_hash, code })
    }

    /// The model bytes and header held by `account`, refusing (for the query price) anything
    /// that is not a model or whose header is malformed.
    fn header_of<'a>(&self, account: &'a ModelAccount, address: Address) -> Result<(&'a [u8], ModelHeader), Failure> {
        let gas = self.config.schedule.query_gas(account.access_gas);
        let model = model_from_code(&account.code)
            .map_err(|source| Failure::Refused { gas, error: AiopError::ModelCode { address, source } })?;
        let header = accepted_header(model).map_err(|error| Failure::Refused { gas, error })?;
        Ok((model, header))
    }

    fn infer(&self, input: &mut PrecompileInput<'_>, call: inferCall) -> Outcome {
        let account = Self::load_model_account(input, call.model)?;
        let query_gas = self.config.schedule.query_gas(account.access_gas);
        if query_gas > input.gas {
            return Err(Failure::OutOfGas);
        }
        let (model, header) = self.header_of(&account, call.model)?;
        check_input_len(&header, call.input.len(), query_gas)?;
        let gas = self.config.schedule.infer_gas(
            &header,
            len_u64(model.len()),
            len_u64(call.input.len()),
            account.access_gas,
        );
        if gas > input.gas {
            return Err(Failure::OutOfGas);
        }
        let loaded = self.loaded(CacheKey::CodeHash(account.code_hash), model, gas)?;
        run(&loaded, &call.input, gas, |output| inferCall::abi_encode_returns(&output))
    }

    fn infer_inline(&self, gas_limit: u64, call: inferInlineCall) -> Outcome {
        let schedule = &self.config.schedule;
        let model = model_code_inline(&call.model, schedule.query_base)?;
        let header = accepted_header(model).map_err(|error| Failure::Refused { gas: schedule.query_base, error })?;
        check_input_len(&header, call.input.len(), schedule.query_base)?;
        let gas = schedule.infer_gas(&header, len_u64(model.len()), len_u64(call.input.len()), 0);
        if gas > gas_limit {
            return Err(Failure::OutOfGas);
        }
        // Not cached: a key would mean hashing the model, which costs more than loading it.
        let loaded = self.load(model, gas)?;
        run(&loaded, &call.input, gas, |output| inferInlineCall::abi_encode_returns(&output))
    }

    fn cost(&self, input: &mut PrecompileInput<'_>, call: costCall) -> Outcome {
        let account = Self::load_model_account(input, call.model)?;
        let query_gas = self.config.schedule.query_gas(account.access_gas);
        let (model, header) = self.header_of(&account, call.model)?;
        let input_len = u64::try_from(call.inputLength).unwrap_or(u64::MAX);
        if call.inputLength != U256::from(header.input_len) {
            return Err(Failure::Refused {
                gas: query_gas,
                error: AiopError::InputLength { expected: header.input_len.into(), actual: call.inputLength },
            });
        }
        let infer_gas =
            self.config.schedule.infer_gas(&header, len_u64(model.len()), input_len, COLD_ACCOUNT_ACCESS_GAS);
        Ok((query_gas, costCall::abi_encode_returns(&U256::from(infer_gas)).into()))
    }

    fn model_info(&self, input: &mut PrecompileInput<'_>, call: modelInfoCall) -> Outcome {
        let account = Self::load_model_account(input, call.model)?;
        let (model, _header) = self.header_of(&account, call.model)?;
        let gas = self.config.schedule.model_info_gas(len_u64(model.len()), account.access_gas);
        if gas > input.gas {
            return Err(Failure::OutOfGas);
        }
        let loaded = self.loaded(CacheKey::CodeHash(account.code_hash), model, gas)?;
        let info = model_info(&loaded, keccak256(model));
        Ok((gas, modelInfoCall::abi_encode_returns(&info).into()))
    }

    /// The loaded model for `key`, from the cache or loaded now (and cached). A model that does
    /// not load is refused charging `gas`, the full price already checked.
    fn loaded(&self, key: CacheKey, model: &[u8], gas: u64) -> Result<Arc<LoadedModel>, Failure> {
        if let Some(loaded) = self.cache.get(&key) {
            return Ok(loaded);
        }
        let loaded = self.load(model, gas)?;
        self.cache.insert(key, Arc::clone(&loaded));
        Ok(loaded)
    }

    /// Loads `model` for the configured kernel path. A model that does not load is refused
    /// charging `gas`, the full price already checked.
    fn load(&self, model: &[u8], gas: u64) -> Result<Arc<LoadedModel>, Failure> {
        let loaded = LoadedModel::load(model, self.config.kernel_path).map_err(|e| match e {
            // The node's CPU, not the model: checked when the precompile was built.
            aiop_engine::EngineError::Kernel(KernelError::PathUnavailable(path)) => {
                Failure::Fatal(format!("aiop: kernel path {path} is unavailable on this node"))
            }
            e => Failure::Refused { gas, error: AiopError::InvalidModel(e) },
        })?;
        Ok(Arc::new(loaded))
    }
}

/// Runs `loaded` on `input`, charging `gas`, and ABI-encodes the output with `encode`.
fn run(loaded: &LoadedModel, input: &[u8], gas: u64, encode: impl FnOnce(Bytes) -> Vec<u8>) -> Outcome {
    let output = loaded.run(input).map_err(|e| Failure::Refused { gas, error: AiopError::Inference(e) })?;
    Ok((gas, encode(output.into()).into()))
}

fn model_code_inline(model: &[u8], gas: u64) -> Result<&[u8], Failure> {
    if model.starts_with(&aiop_engine::format::MAGIC) {
        Ok(model)
    } else {
        Err(Failure::Refused { gas, error: AiopError::InlineModelCode(ModelCodeError::NotAModel) })
    }
}

fn check_input_len(header: &ModelHeader, actual: usize, gas: u64) -> Result<(), Failure> {
    if len_u64(actual) == u64::from(header.input_len) {
        return Ok(());
    }
    Err(Failure::Refused {
        gas,
        error: AiopError::InputLength { expected: header.input_len.into(), actual: U256::from(len_u64(actual)) },
    })
}

fn len_u64(len: usize) -> u64 {
    u64::try_from(len).unwrap_or(u64::MAX)
}

fn function_name(selector: [u8; 4]) -> &'static str {
    match selector {
        inferCall::SELECTOR => inferCall::SIGNATURE,
        inferInlineCall::SELECTOR => inferInlineCall::SIGNATURE,
        costCall::SELECTOR => costCall::SIGNATURE,
        modelInfoCall::SELECTOR => modelInfoCall::SIGNATURE,
        _ => "an IAiop function",
    }
}

/// The model format versions the precompile accepts. Format v2 joins them with the precompile
/// upgrade that activates by block (with gas v3 and specified revert data); until then a v2
/// model is refused exactly as before the engine could read it.
pub const ACCEPTED_FORMATS: [aiop_engine::FormatVersion; 1] = [aiop_engine::FormatVersion::V1];

/// Parses a model header, refusing format versions the precompile does not accept.
fn accepted_header(model: &[u8]) -> Result<ModelHeader, AiopError> {
    let header = ModelHeader::parse(model).map_err(AiopError::MalformedHeader)?;
    match aiop_engine::FormatVersion::from_byte(header.version) {
        Some(v) if ACCEPTED_FORMATS.contains(&v) => Ok(header),
        _ => Err(AiopError::UnsupportedFormat(header.version)),
    }
}

/// `Error(string)` revert data carrying the error's message.
fn revert_data(error: &AiopError) -> Bytes {
    Revert::from(error.to_string()).abi_encode().into()
}

fn dtype_code(dtype: DType) -> u8 {
    match dtype {
        DType::I8 => 0,
        DType::I32 => 1,
    }
}

/// The `modelInfo` answer for a loaded model whose bytes hash to `id` (keccak256: the
/// model's identity; the engine does not hash, so loading stays linear in cheap work).
pub fn model_info(loaded: &LoadedModel, id: B256) -> ModelInfo {
    let (input, output, header) = (loaded.input(), loaded.output(), loaded.header());
    ModelInfo {
        id,
        inputType: dtype_code(input.dtype),
        inputShape: input.shape.clone(),
        inputZeroPoint: input.zero_point,
        inputScaleMultiplier: input.scale.multiplier,
        inputScaleShift: input.scale.shift,
        outputType: dtype_code(output.dtype),
        outputShape: output.shape.clone(),
        outputZeroPoint: output.zero_point,
        outputScaleMultiplier: output.scale.multiplier,
        outputScaleShift: output.scale.shift,
        inputLength: U256::from(header.input_len),
        outputLength: U256::from(header.output_len),
        modelLength: U256::from(len_u64(loaded.model_len())),
        ops: U256::from(header.op_count),
        macs: U256::from(header.cost.macs),
        elements: U256::from(header.cost.elements),
        transcendentals: U256::from(header.cost.transcendentals),
    }
}
