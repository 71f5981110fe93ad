//! Signing with the unlocked dev accounts: `eth_sign`, `personal_sign`,
//! `eth_signTypedData_v4` and `eth_signTransaction` (alloy's local signer, in [`crate::sign`]).

use super::{
    RpcCtx,
    api::{EthSignApiServer, PersonalApiServer},
    invalid_params, node_error,
};
use crate::{chain::DevAccount, error::TxRejection, sign};
use alloy_dyn_abi::TypedData;
use alloy_eips::Encodable2718;
use alloy_primitives::{Address, Bytes};
use alloy_rpc_types_eth::TransactionRequest;
use jsonrpsee::core::RpcResult;

impl RpcCtx {
    fn dev_account(&self, address: Address) -> RpcResult<&DevAccount> {
        self.node
            .accounts()
            .iter()
            .find(|a| a.address == address)
            .ok_or_else(|| node_error(TxRejection::UnknownAccount(address).into()))
    }
}

impl EthSignApiServer for RpcCtx {
    fn sign(&self, address: Address, data: Bytes) -> RpcResult<Bytes> {
        sign::personal_sign(&self.dev_account(address)?.key, &data).map_err(node_error)
    }

    fn sign_typed_data_v4(&self, address: Address, data: serde_json::Value) -> RpcResult<Bytes> {
        let typed: TypedData = match data {
            serde_json::Value::String(text) => serde_json::from_str(&text),
            other => serde_json::from_value(other),
        }
        .map_err(|e| invalid_params(format!("not EIP-712 typed data: {e}")))?;
        sign::typed_data_sign(&self.dev_account(address)?.key, &typed).map_err(node_error)
    }

    fn sign_transaction(&self, request: TransactionRequest) -> RpcResult<Bytes> {
        let envelope = self.node.sign_request(request, self.limits.gas_cap).map_err(node_error)?;
        Ok(envelope.encoded_2718().into())
    }
}

impl PersonalApiServer for RpcCtx {
    fn sign(&self, data: Bytes, address: Address, _password: Option<String>) -> RpcResult<Bytes> {
        sign::personal_sign(&self.dev_account(address)?.key, &data).map_err(node_error)
    }
}
