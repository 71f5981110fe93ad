//! The `txpool_` methods: the pool split into pending (next block) and queued (behind a nonce
//! gap), as geth reports it.

use super::{
    RpcCtx,
    api::TxpoolApiServer,
    node_error,
    types::{TxpoolContent, TxpoolInspect, TxpoolInspectSummary, TxpoolStatus, pooled_tx},
};
use alloy_consensus::{Transaction as _, TxEnvelope, transaction::Recovered};
use alloy_primitives::Address;
use jsonrpsee::core::RpcResult;
use std::collections::BTreeMap;

type BySender<T> = BTreeMap<Address, BTreeMap<String, T>>;

fn by_nonce<T>(
    txs: BTreeMap<Address, Vec<Recovered<TxEnvelope>>>,
    f: impl Fn(Recovered<TxEnvelope>) -> T,
) -> BySender<T> {
    txs.into_iter()
        .map(|(sender, txs)| (sender, txs.into_iter().map(|t| (t.nonce().to_string(), f(t))).collect()))
        .collect()
}

fn summary(tx: Recovered<TxEnvelope>) -> TxpoolInspectSummary {
    TxpoolInspectSummary { to: tx.to(), value: tx.value(), gas: tx.gas_limit(), gas_price: tx.max_fee_per_gas() }
}

impl TxpoolApiServer for RpcCtx {
    fn status(&self) -> RpcResult<TxpoolStatus> {
        let split = self.node.pool_content().map_err(node_error)?;
        let count = |m: &BTreeMap<Address, Vec<_>>| m.values().map(Vec::len).sum::<usize>() as u64;
        Ok(TxpoolStatus { pending: count(&split.pending), queued: count(&split.queued) })
    }

    fn content(&self) -> RpcResult<TxpoolContent> {
        let split = self.node.pool_content().map_err(node_error)?;
        Ok(TxpoolContent { pending: by_nonce(split.pending, pooled_tx), queued: by_nonce(split.queued, pooled_tx) })
    }

    fn inspect(&self) -> RpcResult<TxpoolInspect> {
        let split = self.node.pool_content().map_err(node_error)?;
        Ok(TxpoolInspect { pending: by_nonce(split.pending, summary), queued: by_nonce(split.queued, summary) })
    }
}
