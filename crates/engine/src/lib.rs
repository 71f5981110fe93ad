//! aiop-engine: deterministic, integer-only inference of quantized neural networks.
//!
//! This is the consensus core of aiop. Given the same model bytes and input bytes it returns
//! the same output bytes and the same cost on every machine, every kernel path and every
//! build, forever. It decodes and validates the canonical model format (versions 1 to 3,
//! `docs/model-format.md`), counts a run's cost from the model alone, and runs the model with
//! the version's semantics: TensorFlow Lite int8 with single rounding (v1), TensorFlow Lite
//! Micro's int8 kernels with double rounding (v2), and v2 with integer-only transformer ops
//! (v3: BatchMatMul, LayerNorm, I-BERT's GELU, Gather, Transpose).
//!
//! It must never: use floating point, read a clock or a random source, iterate a hash map,
//! panic or allocate without a bound on any input (malformed models and inputs are errors),
//! or let the CPU's features change a result. It knows nothing of the EVM.
// Consensus code: every node must compute bit-identical results, so no floating point.
#![deny(clippy::float_arithmetic)]
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub mod builder;
pub mod cost;
pub mod error;
pub mod format;
pub mod limits;
pub mod model;
pub mod ops;
pub mod run;
pub mod validate;

use alloc::vec::Vec;

pub use aiop_kernels::{KernelChoice, KernelError, KernelPath};
pub use builder::ModelBuilder;
pub use cost::{Cost, OpClass, OpWork};
pub use error::{EngineError, Result};
pub use format::ModelHeader;
pub use model::{
    Clamp, ConvWindow, DType, FormatVersion, Model, Op, Padding, PoolWindow, Rounding, Scale, Tensor, TensorData,
    TensorId,
};
pub use run::{LoadedModel, TensorInfo, ValidModel};

/// keccak256 of the model bytes: the id of a model.
pub fn model_id(model_bytes: &[u8]) -> [u8; 32] {
    use tiny_keccak::{Hasher, Keccak};
    let mut hasher = Keccak::v256();
    hasher.update(model_bytes);
    let mut out = [0u8; 32];
    hasher.finalize(&mut out);
    out
}

/// Validates a model and encodes it in the canonical format, with its cost in the header.
pub fn encode(model: &Model) -> Result<Vec<u8>> {
    let validated = validate::validate(model)?;
    let header = ModelHeader {
        version: model.version.byte(),
        tensor_count: 0,
        op_count: 0,
        input_tensor: model.input,
        output_tensor: model.output,
        cost: validated.cost,
        input_len: validated.input_len,
        output_len: validated.output_len,
    };
    format::encode_with_header(model, &header)
}

/// Decodes and fully validates model bytes.
pub fn decode(bytes: &[u8]) -> Result<Model> {
    run::decode_and_validate(bytes).map(|(_, model, _)| model)
}

/// Checks that `bytes` are a valid model and returns its header (with the verified cost).
pub fn check(bytes: &[u8]) -> Result<ModelHeader> {
    run::decode_and_validate(bytes).map(|(header, _, _)| header)
}
