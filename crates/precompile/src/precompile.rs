//! The precompile itself: the spec of the block, selector dispatch, the model read from
//! account code, gas charged before any work, the cache, and the engine run.
//!
//! The path from calldata to output and gas is consensus code: no floats, clocks, randomness
//! or hash-map iteration; every failure is a revert (or an out-of-gas halt), and only a
//! database error is fatal. Precompile v1 and v2 run the frozen flow of `legacy.rs`;
//! v3 on run the flow here (`docs/storage.md`, `docs/gas.md`, `docs/errors.md`).

use std::sync::Arc;

use aiop_engine::{DType, KernelError, KernelPath, LoadedModel, ModelHeader, ValidModel};
use alloy_evm::precompiles::PrecompileInput;
use alloy_primitives::{Address, B256, Bytes, U256, address, keccak256};
use alloy_sol_types::{SolCall, SolInterface};
use revm::precompile::{PrecompileError, PrecompileHalt, PrecompileOutput, PrecompileResult};

use crate::abi::{
    IAiopCalls, ModelInfo, costBatchCall, costCall, inferBatchCall, inferCall, inferInlineCall, modelInfoCall,
};
use crate::cache::{CacheConfig, CacheKey, ModelCache};
use crate::error::{AiopError, ConfigError};
use crate::gas::{COLD_ACCOUNT_ACCESS_GAS, account_access_gas, code_read_gas, keccak_gas};
use crate::revert::revert_data;
use crate::spec::{Activations, PrecompileSpec};
use crate::storage::{ManifestError, ModelCodeError, StoredModel, StoredModelError, chunk_from_code, stored_model};

/// The precompile's default address, `0x…0a1000`: far above the Ethereum precompiles
/// (`0x01`–`0x11` through Prague/Osaka, `0x0100` for P256VERIFY) and outside the ranges
/// proposed for future ones and for rollups (`0x0100`–`0x01ff`, RIP-7212's `0x100`), so it
/// collides with none of them. A chain can choose another with [`AiopConfig::address`].
pub const DEFAULT_ADDRESS: Address = address!("0x00000000000000000000000000000000000a1000");

/// The precompile's id, as reth and alloy-evm name it.
pub const PRECOMPILE_NAME: &str = "aiop-infer";

/// Most inputs one `inferBatch` call takes.
pub const MAX_BATCH_INPUTS: usize = 256;

/// How a node configures the precompile. There is no `Default`: the activations are the
/// chain's consensus history and every chain names its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AiopConfig {
    /// Where the precompile lives.
    pub address: Address,
    /// Which kernels run the models (every path gives the same bytes; this is speed only).
    pub kernel_path: KernelPath,
    /// Which precompile spec each block runs (consensus: every node of a chain must agree).
    pub activations: Activations,
    /// Bounds of the loaded-model cache (speed only).
    pub cache: CacheConfig,
}

impl AiopConfig {
    /// The precompile at its default address, with the fastest kernels this CPU has and the
    /// default cache, running `activations`.
    pub fn new(activations: Activations) -> Self {
        AiopConfig {
            address: DEFAULT_ADDRESS,
            kernel_path: KernelPath::fastest(),
            activations,
            cache: CacheConfig::default(),
        }
    }

    /// A chain that runs `spec` from genesis on.
    pub fn from_genesis(spec: PrecompileSpec) -> Self {
        AiopConfig::new(Activations::from_genesis(spec))
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
pub(crate) enum Failure {
    /// Revert charging `gas`, with the error's revert data (out of gas if `gas` is more than
    /// the call has).
    Refused { gas: u64, error: AiopError },
    /// Halt, consuming all the call's gas.
    OutOfGas,
    /// Abort the whole EVM: the database failed.
    Fatal(String),
}

pub(crate) type Outcome = Result<(u64, Bytes), Failure>;

/// A model account's code, as read from state.
pub(crate) struct ModelAccount {
    pub(crate) access_gas: u64,
    pub(crate) code_hash: B256,
    pub(crate) code: Bytes,
}

/// A model found from its handle (v3 on): where its bytes are, what reading them cost.
struct Resolved {
    /// Gas of every account read so far (access, code read, hashing).
    storage_gas: u64,
    /// What [`Resolved::storage_gas`] would be with every account cold (for `cost`).
    cold_storage_gas: u64,
    model_len: u64,
    key: Option<CacheKey>,
    source: Source,
    /// keccak256 of the model bytes, when reading them established it (manifests).
    id: Option<B256>,
}

enum Source {
    /// The model bytes, not yet loaded.
    Bytes(Bytes),
    /// A model already loaded whose key pins these exact bytes.
    Cached(Arc<LoadedModel>),
}

impl AiopPrecompile {
    /// Builds the precompile, refusing a kernel path this CPU cannot run.
    pub fn new(config: AiopConfig) -> Result<Self, ConfigError> {
        if !config.kernel_path.is_available() {
            return Err(ConfigError::KernelPathUnavailable(config.kernel_path.name()));
        }
        let cache = ModelCache::new(config.cache);
        Ok(AiopPrecompile { config, cache })
    }

    /// The configuration it was built with.
    pub fn config(&self) -> &AiopConfig {
        &self.config
    }

    /// Its cache of loaded models.
    pub fn cache(&self) -> &ModelCache {
        &self.cache
    }

    /// The spec block `number` runs.
    pub fn spec_at(&self, number: u64) -> PrecompileSpec {
        self.config.activations.spec_at(number)
    }

    /// Runs one call: the function alloy-evm's `DynPrecompile` wraps. The spec is the one of
    /// the block being executed.
    pub fn call(&self, mut input: PrecompileInput<'_>) -> PrecompileResult {
        let number = u64::try_from(input.internals.block_number()).unwrap_or(u64::MAX);
        let spec = self.spec_at(number);
        let gas_limit = input.gas;
        let reservoir = input.reservoir;
        let outcome =
            if spec.manifests { self.dispatch(&spec, &mut input) } else { self.legacy_dispatch(&spec, &mut input) };
        match outcome {
            Ok((gas, output)) if gas <= gas_limit => Ok(PrecompileOutput::new(gas, output, reservoir)),
            Ok(_) | Err(Failure::OutOfGas) => Ok(PrecompileOutput::halt(PrecompileHalt::OutOfGas, reservoir)),
            Err(Failure::Refused { gas, .. }) if gas > gas_limit => {
                Ok(PrecompileOutput::halt(PrecompileHalt::OutOfGas, reservoir))
            }
            Err(Failure::Refused { gas, error }) => {
                Ok(PrecompileOutput::revert(gas, revert_data(&error, spec.reverts), reservoir))
            }
            Err(Failure::Fatal(message)) => Err(PrecompileError::Fatal(message)),
        }
    }

    /// Decodes the calldata (v3 on): every function of `IAiop`.
    fn dispatch(&self, spec: &PrecompileSpec, input: &mut PrecompileInput<'_>) -> Outcome {
        let query_base = spec.schedule.query_base;
        let refuse = |error| Failure::Refused { gas: query_base, error };
        if input.is_direct_call() && !input.value.is_zero() {
            return Err(refuse(AiopError::ValueSent { value: input.value }));
        }
        let data = input.data;
        let Some(selector) = data.get(..4).and_then(|s| <[u8; 4]>::try_from(s).ok()) else {
            return Err(refuse(AiopError::NoSelector { len: data.len() }));
        };
        let call = IAiopCalls::abi_decode_validate(data).map_err(|e| {
            if IAiopCalls::valid_selector(selector) {
                refuse(AiopError::BadCalldata {
                    selector,
                    len: data.len(),
                    function: function_name(selector),
                    reason: e.to_string(),
                })
            } else {
                refuse(AiopError::UnknownSelector { selector })
            }
        })?;
        match call {
            IAiopCalls::infer(call) => self.infer(spec, input, call.model, &call.input),
            IAiopCalls::inferInline(call) => self.infer_inline(spec, input.gas, call),
            IAiopCalls::cost(call) => self.cost(spec, input, call.model, call.inputLength, U256::from(1)),
            IAiopCalls::costBatch(call) => self.cost(spec, input, call.model, call.inputLength, call.count),
            IAiopCalls::modelInfo(call) => self.model_info(spec, input, call),
            IAiopCalls::inferBatch(call) => self.infer_batch(spec, input, call),
        }
    }

    /// Reads the code of `address`, marking it warm; the caller charges `access_gas`.
    pub(crate) fn load_model_account(
        input: &mut PrecompileInput<'_>,
        address: Address,
    ) -> Result<ModelAccount, Failure> {
        let account = input
            .internals
            .load_account_code(address)
            .map_err(|e| Failure::Fatal(format!("aiop: cannot read model account {address}: {e}")))?;
        let access_gas = account_access_gas(account.is_cold);
        let code_hash = *account.data.code_hash();
        let code = account.data.code().map(|c| c.original_bytes()).unwrap_or_default();
        Ok(ModelAccount { access_gas, code_hash, code })
    }

    /// Finds the model `address` holds, in one account or across a manifest's chunks,
    /// charging every account read before the next (`docs/storage.md`). Refusals charge the
    /// query price plus the reads made.
    fn resolve(
        &self,
        spec: &PrecompileSpec,
        input: &mut PrecompileInput<'_>,
        address: Address,
    ) -> Result<Resolved, Failure> {
        let query_base = spec.schedule.query_base;
        let gas_limit = input.gas;
        let account = Self::load_model_account(input, address)?;
        let read = code_read_gas(len_u64(account.code.len()));
        let mut storage_gas = account.access_gas.saturating_add(read);
        let mut cold_storage_gas = COLD_ACCOUNT_ACCESS_GAS.saturating_add(read);
        let affordable = |storage_gas: u64| query_base.saturating_add(storage_gas) <= gas_limit;
        if !affordable(storage_gas) {
            return Err(Failure::OutOfGas);
        }
        let refuse = |storage_gas: u64, error| Failure::Refused { gas: query_base.saturating_add(storage_gas), error };
        let manifest = match stored_model(&account.code) {
            Ok(StoredModel::Single(model)) => {
                let start = account.code.len() - model.len();
                return Ok(Resolved {
                    storage_gas,
                    cold_storage_gas,
                    model_len: len_u64(model.len()),
                    key: Some(CacheKey::CodeHash(account.code_hash)),
                    source: Source::Bytes(account.code.slice(start..)),
                    id: None,
                });
            }
            Ok(StoredModel::Manifest(manifest)) => manifest,
            Err(StoredModelError::Code(source)) => {
                return Err(refuse(storage_gas, AiopError::ModelCode { address, source }));
            }
            Err(StoredModelError::Manifest(source)) => {
                return Err(refuse(storage_gas, AiopError::Manifest { address, source }));
            }
        };
        // Reading the chunks is priced by the manifest alone: an access per chunk, the model's
        // bytes read and hashed.
        let model_len = u64::from(manifest.model_len);
        let bytes_gas = code_read_gas(model_len).saturating_add(keccak_gas(model_len));
        storage_gas = storage_gas.saturating_add(bytes_gas);
        cold_storage_gas = cold_storage_gas
            .saturating_add(bytes_gas)
            .saturating_add(COLD_ACCOUNT_ACCESS_GAS.saturating_mul(len_u64(manifest.chunks.len())));
        let mut chunks = Vec::with_capacity(manifest.chunks.len());
        let mut key_material = Vec::with_capacity(32 * (manifest.chunks.len() + 1));
        key_material.extend_from_slice(account.code_hash.as_slice());
        let mut assembled: u64 = 0;
        for (index, &chunk_address) in manifest.chunks.iter().enumerate() {
            if !affordable(storage_gas) {
                return Err(Failure::OutOfGas);
            }
            let chunk = Self::load_model_account(input, chunk_address)?;
            storage_gas = storage_gas.saturating_add(chunk.access_gas);
            if !affordable(storage_gas) {
                return Err(Failure::OutOfGas);
            }
            let payload_len = match chunk_from_code(&chunk.code) {
                Some(payload) => payload.len(),
                None if chunk.code.is_empty() => {
                    let source = ManifestError::ChunkMissing { index, address: chunk_address };
                    return Err(refuse(storage_gas, AiopError::Manifest { address, source }));
                }
                None => {
                    let source = ManifestError::NotAChunk { index, address: chunk_address };
                    return Err(refuse(storage_gas, AiopError::Manifest { address, source }));
                }
            };
            assembled = assembled.saturating_add(len_u64(payload_len));
            key_material.extend_from_slice(chunk.code_hash.as_slice());
            chunks.push(chunk.code);
        }
        let refuse_all = |error| refuse(storage_gas, AiopError::Manifest { address, source: error });
        if assembled != model_len {
            return Err(refuse_all(ManifestError::AssembledLength { declared: manifest.model_len, assembled }));
        }
        // The code hashes pin every byte read, so a cached model under this key is these bytes,
        // already checked against the id.
        let key = CacheKey::Assembled(keccak256(&key_material));
        let resolved = |source| Resolved {
            storage_gas,
            cold_storage_gas,
            model_len,
            key: Some(key),
            source,
            id: Some(manifest.id),
        };
        if let Some(loaded) = self.cache.get(&key) {
            return Ok(resolved(Source::Cached(loaded)));
        }
        let mut model = Vec::with_capacity(manifest.model_len as usize);
        for code in &chunks {
            model.extend_from_slice(chunk_from_code(code).unwrap_or_default());
        }
        let computed = keccak256(&model);
        if computed != manifest.id {
            return Err(refuse_all(ManifestError::IdMismatch { declared: manifest.id, computed }));
        }
        Ok(resolved(Source::Bytes(model.into())))
    }

    /// The header of a resolved model, refusing a malformed one or a format the spec does not
    /// accept, charging `gas`.
    fn accepted(&self, spec: &PrecompileSpec, resolved: &Resolved, gas: u64) -> Result<ModelHeader, Failure> {
        let header = match &resolved.source {
            Source::Cached(loaded) => *loaded.header(),
            Source::Bytes(bytes) => {
                ModelHeader::parse(bytes).map_err(|e| Failure::Refused { gas, error: AiopError::MalformedHeader(e) })?
            }
        };
        if !spec.accepts_format(header.version) {
            return Err(Failure::Refused { gas, error: AiopError::UnsupportedFormat(header.version) });
        }
        Ok(header)
    }

    /// The model decoded and validated (or already loaded, from the cache), charging `gas` (the
    /// storage reads and the price before loading, checked against the call's gas first) if
    /// it does not decode. Nothing is packed yet: packing is paid by the price of the model's
    /// work, checked before [`AiopPrecompile::packed`].
    fn decode_resolved(&self, resolved: Resolved, gas: u64, gas_limit: u64) -> Result<Staged, Failure> {
        if gas > gas_limit {
            return Err(Failure::OutOfGas);
        }
        match resolved.source {
            Source::Cached(loaded) => Ok(Staged::Loaded(loaded)),
            Source::Bytes(bytes) => match ValidModel::decode(&bytes) {
                Ok(valid) => Ok(Staged::Decoded { valid: Box::new(valid), key: resolved.key }),
                Err(e) => Err(self.load_failure(e, gas)),
            },
        }
    }

    /// The model ready to run: packed for the node's kernel path now (and cached, when it has
    /// a key) unless it came from the cache. Its full price, `gas`, is already checked.
    fn packed(&self, staged: Staged, gas: u64) -> Result<Arc<LoadedModel>, Failure> {
        match staged {
            Staged::Loaded(loaded) => Ok(loaded),
            Staged::Decoded { valid, key } => {
                let loaded = Arc::new((*valid).pack(self.config.kernel_path).map_err(|e| self.load_failure(e, gas))?);
                if let Some(key) = key {
                    self.cache.insert(key, Arc::clone(&loaded));
                }
                Ok(loaded)
            }
        }
    }

    fn infer(&self, spec: &PrecompileSpec, input: &mut PrecompileInput<'_>, model: Address, data: &[u8]) -> Outcome {
        let schedule = &spec.schedule;
        let resolved = self.resolve(spec, input, model)?;
        let refusal_gas = schedule.query_base.saturating_add(resolved.storage_gas);
        let header = self.accepted(spec, &resolved, refusal_gas)?;
        check_input_len(&header, data.len(), refusal_gas)?;
        let storage_gas = resolved.storage_gas;
        let load_gas = storage_gas.saturating_add(schedule.load_gas(&header, resolved.model_len));
        let staged = self.decode_resolved(resolved, load_gas, input.gas)?;
        let gas = schedule.infer_gas_loaded(staged.valid(), len_u64(data.len()), storage_gas);
        if gas > input.gas {
            return Err(Failure::OutOfGas);
        }
        let loaded = self.packed(staged, gas)?;
        run(&loaded, data, gas, |output| inferCall::abi_encode_returns(&output))
    }

    fn infer_inline(&self, spec: &PrecompileSpec, gas_limit: u64, call: inferInlineCall) -> Outcome {
        let schedule = &spec.schedule;
        let model = model_code_inline(&call.model, schedule.query_base)?;
        let resolved = Resolved {
            storage_gas: 0,
            cold_storage_gas: 0,
            model_len: len_u64(model.len()),
            key: None,
            source: Source::Bytes(call.model.clone()),
            id: None,
        };
        let header = self.accepted(spec, &resolved, schedule.query_base)?;
        check_input_len(&header, call.input.len(), schedule.query_base)?;
        let load_gas = schedule.load_gas(&header, resolved.model_len);
        // Not cached: a key would mean hashing the model, which costs more than loading it.
        let staged = self.decode_resolved(resolved, load_gas, gas_limit)?;
        let gas = schedule.infer_gas_loaded(staged.valid(), len_u64(call.input.len()), 0);
        if gas > gas_limit {
            return Err(Failure::OutOfGas);
        }
        let loaded = self.packed(staged, gas)?;
        run(&loaded, &call.input, gas, |output| inferInlineCall::abi_encode_returns(&output))
    }

    /// `cost` (one input) and `costBatch`: the price with every account cold. The query pays
    /// the reads it makes and the model's load.
    fn cost(
        &self,
        spec: &PrecompileSpec,
        input: &mut PrecompileInput<'_>,
        model: Address,
        input_length: U256,
        count: U256,
    ) -> Outcome {
        let schedule = &spec.schedule;
        let resolved = self.resolve(spec, input, model)?;
        let refusal_gas = schedule.query_base.saturating_add(resolved.storage_gas);
        let refuse = |error| Failure::Refused { gas: refusal_gas, error };
        let header = self.accepted(spec, &resolved, refusal_gas)?;
        if input_length != U256::from(header.input_len) {
            return Err(refuse(AiopError::InputLength { expected: header.input_len.into(), actual: input_length }));
        }
        let count = batch_count(count).map_err(refuse)?;
        let cold_storage_gas = resolved.cold_storage_gas;
        let query_gas = refusal_gas.saturating_add(schedule.load_gas(&header, resolved.model_len));
        // A query prices the model without packing it: it pays for decoding alone.
        let staged = self.decode_resolved(resolved, query_gas, input.gas)?;
        let price = schedule.batch_gas(staged.valid(), u64::from(header.input_len), count, cold_storage_gas);
        Ok((query_gas, costCall::abi_encode_returns(&U256::from(price)).into()))
    }

    fn model_info(&self, spec: &PrecompileSpec, input: &mut PrecompileInput<'_>, call: modelInfoCall) -> Outcome {
        let schedule = &spec.schedule;
        let resolved = self.resolve(spec, input, call.model)?;
        let refusal_gas = schedule.query_base.saturating_add(resolved.storage_gas);
        let header = self.accepted(spec, &resolved, refusal_gas)?;
        let gas = refusal_gas.saturating_add(schedule.load_gas(&header, resolved.model_len));
        let id = match (&resolved.id, &resolved.source) {
            (Some(id), _) => *id,
            (None, Source::Bytes(bytes)) => keccak256(bytes),
            (None, Source::Cached(_)) => B256::ZERO,
        };
        let staged = self.decode_resolved(resolved, gas, input.gas)?;
        Ok((gas, modelInfoCall::abi_encode_returns(&model_info(staged.valid(), id)).into()))
    }

    fn infer_batch(&self, spec: &PrecompileSpec, input: &mut PrecompileInput<'_>, call: inferBatchCall) -> Outcome {
        let schedule = &spec.schedule;
        let resolved = self.resolve(spec, input, call.model)?;
        let refusal_gas = schedule.query_base.saturating_add(resolved.storage_gas);
        let header = self.accepted(spec, &resolved, refusal_gas)?;
        let count =
            batch_count(U256::from(call.inputs.len())).map_err(|error| Failure::Refused { gas: refusal_gas, error })?;
        for one in &call.inputs {
            check_input_len(&header, one.len(), refusal_gas)?;
        }
        let storage_gas = resolved.storage_gas;
        let load_gas = storage_gas.saturating_add(schedule.load_gas(&header, resolved.model_len));
        let staged = self.decode_resolved(resolved, load_gas, input.gas)?;
        let gas = schedule.batch_gas(staged.valid(), u64::from(header.input_len), count, storage_gas);
        if gas > input.gas {
            return Err(Failure::OutOfGas);
        }
        let loaded = self.packed(staged, gas)?;
        let mut outputs = Vec::with_capacity(call.inputs.len());
        for one in &call.inputs {
            let output = loaded.run(one).map_err(|e| Failure::Refused { gas, error: AiopError::Inference(e) })?;
            outputs.push(Bytes::from(output));
        }
        Ok((gas, inferBatchCall::abi_encode_returns(&outputs).into()))
    }

    /// The loaded model for `key`, from the cache or loaded now (and cached). A model that does
    /// not load is refused charging `gas`, the full price already checked.
    pub(crate) fn loaded(&self, key: CacheKey, model: &[u8], gas: u64) -> Result<Arc<LoadedModel>, Failure> {
        if let Some(loaded) = self.cache.get(&key) {
            return Ok(loaded);
        }
        let loaded = self.load(model, gas)?;
        self.cache.insert(key, Arc::clone(&loaded));
        Ok(loaded)
    }

    /// Loads `model` for the configured kernel path. A model that does not load is refused
    /// charging `gas`, the full price already checked.
    pub(crate) fn load(&self, model: &[u8], gas: u64) -> Result<Arc<LoadedModel>, Failure> {
        let loaded = LoadedModel::load(model, self.config.kernel_path).map_err(|e| self.load_failure(e, gas))?;
        Ok(Arc::new(loaded))
    }

    /// A model that did not load, refused charging `gas`; a kernel path the node cannot run
    /// is the node's fault, not the model's.
    fn load_failure(&self, error: aiop_engine::EngineError, gas: u64) -> Failure {
        match error {
            // The node's CPU, not the model: checked when the precompile was built.
            aiop_engine::EngineError::Kernel(KernelError::PathUnavailable(path)) => {
                Failure::Fatal(format!("aiop: kernel path {path} is unavailable on this node"))
            }
            error => Failure::Refused { gas, error: AiopError::InvalidModel(error) },
        }
    }
}

/// A model between its two prices: from the cache, ready to run, or decoded and validated
/// (priced from this), its weights not yet packed.
enum Staged {
    Loaded(Arc<LoadedModel>),
    Decoded { valid: Box<ValidModel>, key: Option<CacheKey> },
}

impl Staged {
    fn valid(&self) -> &ValidModel {
        match self {
            Staged::Loaded(loaded) => loaded,
            Staged::Decoded { valid, .. } => valid,
        }
    }
}

/// The number of inputs of a batch, refusing none or too many.
fn batch_count(count: U256) -> Result<u64, AiopError> {
    if count.is_zero() {
        return Err(AiopError::EmptyBatch);
    }
    match usize::try_from(count) {
        Ok(n) if n <= MAX_BATCH_INPUTS => Ok(len_u64(n)),
        _ => Err(AiopError::BatchTooLarge {
            count: usize::try_from(count).unwrap_or(usize::MAX),
            limit: MAX_BATCH_INPUTS,
        }),
    }
}

/// Runs `loaded` on `input`, charging `gas`, and ABI-encodes the output with `encode`.
pub(crate) fn run(loaded: &LoadedModel, input: &[u8], gas: u64, encode: impl FnOnce(Bytes) -> Vec<u8>) -> Outcome {
    let output = loaded.run(input).map_err(|e| Failure::Refused { gas, error: AiopError::Inference(e) })?;
    Ok((gas, encode(output.into()).into()))
}

pub(crate) fn model_code_inline(model: &[u8], gas: u64) -> Result<&[u8], Failure> {
    if model.starts_with(&aiop_engine::format::MAGIC) {
        Ok(model)
    } else {
        Err(Failure::Refused { gas, error: AiopError::InlineModelCode(ModelCodeError::NotAModel) })
    }
}

pub(crate) fn check_input_len(header: &ModelHeader, actual: usize, gas: u64) -> Result<(), Failure> {
    if len_u64(actual) == u64::from(header.input_len) {
        return Ok(());
    }
    Err(Failure::Refused {
        gas,
        error: AiopError::InputLength { expected: header.input_len.into(), actual: U256::from(len_u64(actual)) },
    })
}

pub(crate) fn len_u64(len: usize) -> u64 {
    u64::try_from(len).unwrap_or(u64::MAX)
}

pub(crate) fn function_name(selector: [u8; 4]) -> &'static str {
    match selector {
        inferCall::SELECTOR => inferCall::SIGNATURE,
        inferInlineCall::SELECTOR => inferInlineCall::SIGNATURE,
        costCall::SELECTOR => costCall::SIGNATURE,
        modelInfoCall::SELECTOR => modelInfoCall::SIGNATURE,
        inferBatchCall::SELECTOR => inferBatchCall::SIGNATURE,
        costBatchCall::SELECTOR => costBatchCall::SIGNATURE,
        _ => "an IAiop function",
    }
}

fn dtype_code(dtype: DType) -> u8 {
    match dtype {
        DType::I8 => 0,
        DType::I32 => 1,
    }
}

/// The `modelInfo` answer for a decoded model whose bytes hash to `id` (keccak256: the
/// model's identity; the engine does not hash, so loading stays linear in cheap work).
pub fn model_info(model: &ValidModel, id: B256) -> ModelInfo {
    let (input, output, header) = (model.input(), model.output(), model.header());
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
        modelLength: U256::from(len_u64(model.model_len())),
        ops: U256::from(header.op_count),
        macs: U256::from(header.cost.macs),
        elements: U256::from(header.cost.elements),
        transcendentals: U256::from(header.cost.transcendentals),
    }
}
