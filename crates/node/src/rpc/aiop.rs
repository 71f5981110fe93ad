//! The `aiop_` methods: the precompile called off-chain on the latest state. They build the
//! calldata of `IAiop` and run it as an `eth_call` to the precompile, so a model in one
//! account or across a manifest gives exactly the bytes, gas and revert data a transaction
//! would, and the precompile's bounded model cache is the only one.

use super::{RpcCtx, api::AiopApiServer, error, reverted, types};
use aiop_precompile::{DEFAULT_ADDRESS, abi::IAiop};
use alloy_primitives::{Address, Bytes};
use alloy_rpc_types_eth::{TransactionInput, TransactionRequest};
use alloy_sol_types::SolCall;
use jsonrpsee::core::RpcResult;
use revm::context_interface::result::ExecutionResult;

impl RpcCtx {
    /// Calls the precompile with `call` and decodes its return.
    fn precompile<C: SolCall>(&self, call: C) -> RpcResult<C::Return> {
        let request = TransactionRequest {
            to: Some(DEFAULT_ADDRESS.into()),
            input: TransactionInput::new(call.abi_encode().into()),
            ..Default::default()
        };
        match self.bounded(move |node, limits| node.call(&request, None, None, limits.gas_cap))? {
            ExecutionResult::Success { output, .. } => C::abi_decode_returns(output.data())
                .map_err(|e| error(-32603, format!("internal error: the precompile's output does not decode: {e}"))),
            other => Err(reverted(&other)),
        }
    }
}

fn tensor(
    dtype: u8,
    shape: Vec<u32>,
    bytes: alloy_primitives::U256,
    zero_point: i32,
    mult: i32,
    shift: i8,
) -> types::TensorInfo {
    types::TensorInfo {
        dtype: if dtype == 0 { "int8" } else { "int32" },
        shape,
        bytes: bytes.saturating_to(),
        zero_point,
        scale_multiplier: mult,
        scale_shift: shift,
    }
}

impl AiopApiServer for RpcCtx {
    fn infer(&self, model: Address, input: Bytes) -> RpcResult<Bytes> {
        self.precompile(IAiop::inferCall { model, input })
    }

    fn model_info(&self, model: Address) -> RpcResult<types::ModelInfo> {
        let info = self.precompile(IAiop::modelInfoCall { model })?;
        let infer_gas = self.precompile(IAiop::costCall { model, inputLength: info.inputLength })?;
        let code_hash = self.chain()?.world().account(&model).map(|a| a.code_hash).unwrap_or_default();
        Ok(types::ModelInfo {
            id: info.id,
            code_hash,
            model_bytes: info.modelLength.saturating_to(),
            input: tensor(
                info.inputType,
                info.inputShape,
                info.inputLength,
                info.inputZeroPoint,
                info.inputScaleMultiplier,
                info.inputScaleShift,
            ),
            output: tensor(
                info.outputType,
                info.outputShape,
                info.outputLength,
                info.outputZeroPoint,
                info.outputScaleMultiplier,
                info.outputScaleShift,
            ),
            ops: info.ops.saturating_to(),
            macs: info.macs.saturating_to(),
            infer_gas: infer_gas.saturating_to(),
        })
    }
}
