//! aiop-tools: off-chain tooling that turns float and TensorFlow Lite models into aiop models.
//!
//! What it is for:
//! - data sets ([`data`]): the 8x8 digits split checked in under `testdata/digits/`;
//! - training ([`train`]) of small float models with candle-nn, saved as safetensors plus an
//!   architecture description ([`arch`]), among them a small vision transformer ([`vit`]);
//! - post-training quantization ([`quantize`]): per-channel symmetric int8 weights, per-tensor
//!   asymmetric int8 activations calibrated on data, int32 biases, and the Q31 requantization
//!   multipliers derived with TensorFlow Lite's `QuantizeMultiplier` ([`qmath`]);
//! - evaluation ([`eval`]): int8 accuracy through the engine beside float accuracy through
//!   candle-core, and their agreement;
//! - import of int8 `.tflite` files ([`tflite`]), bit-exact against LiteRT's reference kernels
//!   for the ops listed in `docs/models.md`;
//! - the `aiop model ...` subcommands ([`cli`]).
//!
//! Floats are allowed here and only here: this crate computes the integers a model file
//! stores. It must never be a dependency of the engine, the precompile or the node, and it must
//! never produce a model the engine would not validate: every model leaves through
//! [`aiop_engine::encode`], which validates it.

pub mod arch;
pub mod cli;
pub mod data;
pub mod error;
pub mod eval;
pub mod qmath;
pub mod quantize;
pub mod tflite;
pub mod train;
pub mod vit;

pub use error::{Result, ToolsError};
