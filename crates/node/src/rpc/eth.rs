//! The `web3_`, `net_`, `eth_` and `evm_` methods on the node's chain.

use super::{
    MAX_LOG_RANGE, RpcCtx, SUGGESTED_TIP,
    api::{DevApiServer, EthApiServer, NetApiServer, Web3ApiServer},
    error, invalid_params, node_error, reverted,
    types::{block_logs, rpc_block, rpc_receipt, rpc_tx},
};
use crate::node::Chain;
use alloy_consensus::TxEnvelope;
use alloy_eips::{BlockId, BlockNumberOrTag, Decodable2718, eip1898::RpcBlockHash};
use alloy_primitives::{Address, B256, Bytes, U64, U256, keccak256};
use alloy_rpc_types_eth::{Block, FeeHistory, Filter, Log, Transaction, TransactionReceipt, TransactionRequest};
use jsonrpsee::core::RpcResult;
use revm::context_interface::result::ExecutionResult;
use std::sync::RwLockReadGuard;

impl RpcCtx {
    pub(crate) fn chain(&self) -> RpcResult<RwLockReadGuard<'_, Chain>> {
        self.node.read().map_err(node_error)
    }
}

/// Resolves a block tag to a number, `None` past the head.
pub(crate) fn block_number(chain: &Chain, tag: BlockNumberOrTag) -> Option<u64> {
    let head = chain.head().header.number;
    match tag {
        BlockNumberOrTag::Latest | BlockNumberOrTag::Pending | BlockNumberOrTag::Safe | BlockNumberOrTag::Finalized => {
            Some(head)
        }
        BlockNumberOrTag::Earliest => Some(0),
        BlockNumberOrTag::Number(n) => (n <= head).then_some(n),
    }
}

/// Checks that a block id names the latest state (the only state kept).
fn require_latest(chain: &Chain, id: Option<BlockId>) -> RpcResult<()> {
    let head = chain.head();
    let ok = match id {
        None => true,
        Some(BlockId::Number(BlockNumberOrTag::Number(n))) => n == head.header.number,
        Some(BlockId::Number(BlockNumberOrTag::Earliest)) => head.header.number == 0,
        Some(BlockId::Number(_)) => true,
        Some(BlockId::Hash(RpcBlockHash { block_hash, .. })) => block_hash == head.hash,
    };
    if ok {
        Ok(())
    } else {
        Err(error(
            -32000,
            format!(
                "state at {id:?} is not available: this devnet keeps only the latest state (block {})",
                head.header.number
            ),
        ))
    }
}

/// The logs matching `filter`, within `clamp` (inclusive) when given.
pub(crate) fn logs(chain: &Chain, filter: &Filter, clamp: Option<(u64, u64)>) -> RpcResult<Vec<Log>> {
    let head = chain.head().header.number;
    let (mut from, mut to) = if let Some(hash) = filter.get_block_hash() {
        let n = chain.number_of(&hash).ok_or_else(|| error(-32000, format!("unknown block {hash}")))?;
        (n, n)
    } else {
        let resolve = |t: Option<&BlockNumberOrTag>| t.map_or(head, |t| block_number(chain, *t).unwrap_or(head));
        (resolve(filter.block_option.get_from_block()), resolve(filter.block_option.get_to_block()))
    };
    if let Some((lo, hi)) = clamp {
        from = from.max(lo);
        to = to.min(hi);
        if from > to {
            return Ok(vec![]);
        }
    }
    if from > to {
        return Err(invalid_params(format!("fromBlock {from} is after toBlock {to}")));
    }
    if to - from > MAX_LOG_RANGE {
        return Err(error(-32005, format!("query spans more than {MAX_LOG_RANGE} blocks")));
    }
    let mut out = Vec::new();
    for block in (from..=to).filter_map(|n| chain.block(n)) {
        if filter.matches_bloom(block.header.logs_bloom) {
            out.extend(block_logs(block).into_iter().filter(|l| filter.matches(&l.inner)));
        }
    }
    Ok(out)
}

impl Web3ApiServer for RpcCtx {
    fn client_version(&self) -> RpcResult<String> {
        Ok(format!("aiop/v{}", env!("CARGO_PKG_VERSION")))
    }

    fn sha3(&self, data: Bytes) -> RpcResult<B256> {
        Ok(keccak256(&data))
    }
}

impl NetApiServer for RpcCtx {
    fn version(&self) -> RpcResult<String> {
        Ok(self.node.chain_id().to_string())
    }

    fn listening(&self) -> RpcResult<bool> {
        Ok(true)
    }

    fn peer_count(&self) -> RpcResult<U64> {
        Ok(U64::ZERO)
    }
}

impl EthApiServer for RpcCtx {
    fn chain_id(&self) -> RpcResult<U64> {
        Ok(U64::from(self.node.chain_id()))
    }

    fn syncing(&self) -> RpcResult<bool> {
        Ok(false)
    }

    fn mining(&self) -> RpcResult<bool> {
        Ok(true)
    }

    fn coinbase(&self) -> RpcResult<Address> {
        Ok(Address::ZERO)
    }

    fn block_number(&self) -> RpcResult<U64> {
        Ok(U64::from(self.chain()?.head().header.number))
    }

    fn accounts(&self) -> RpcResult<Vec<Address>> {
        Ok(self.node.accounts().iter().map(|a| a.address).collect())
    }

    fn gas_price(&self) -> RpcResult<U256> {
        let base_fee = self.node.next_base_fee().map_err(node_error)?;
        Ok(U256::from(u128::from(base_fee) + SUGGESTED_TIP))
    }

    fn max_priority_fee_per_gas(&self) -> RpcResult<U256> {
        Ok(U256::from(SUGGESTED_TIP))
    }

    fn blob_base_fee(&self) -> RpcResult<U256> {
        Ok(U256::from(1))
    }

    fn block_by_number(&self, block: BlockNumberOrTag, full: Option<bool>) -> RpcResult<Option<Block>> {
        let chain = self.chain()?;
        Ok(block_number(&chain, block).and_then(|n| chain.block(n)).map(|b| rpc_block(b, full.unwrap_or(false))))
    }

    fn block_by_hash(&self, hash: B256, full: Option<bool>) -> RpcResult<Option<Block>> {
        Ok(self.chain()?.block_by_hash(&hash).map(|b| rpc_block(b, full.unwrap_or(false))))
    }

    fn block_transaction_count_by_number(&self, block: BlockNumberOrTag) -> RpcResult<Option<U64>> {
        let chain = self.chain()?;
        Ok(block_number(&chain, block).and_then(|n| chain.block(n)).map(|b| U64::from(b.txs.len())))
    }

    fn block_transaction_count_by_hash(&self, hash: B256) -> RpcResult<Option<U64>> {
        Ok(self.chain()?.block_by_hash(&hash).map(|b| U64::from(b.txs.len())))
    }

    fn block_receipts(&self, block: BlockNumberOrTag) -> RpcResult<Option<Vec<TransactionReceipt>>> {
        let chain = self.chain()?;
        Ok(block_number(&chain, block)
            .and_then(|n| chain.block(n))
            .map(|b| (0..b.txs.len()).filter_map(|i| rpc_receipt(b, i)).collect()))
    }

    fn balance(&self, address: Address, block: Option<BlockId>) -> RpcResult<U256> {
        let chain = self.chain()?;
        require_latest(&chain, block)?;
        Ok(chain.world().account(&address).map(|a| a.balance).unwrap_or_default())
    }

    fn transaction_count(&self, address: Address, block: Option<BlockId>) -> RpcResult<U64> {
        if matches!(block, Some(BlockId::Number(BlockNumberOrTag::Pending))) {
            return self.node.pending_nonce(address).map(U64::from).map_err(node_error);
        }
        let chain = self.chain()?;
        require_latest(&chain, block)?;
        Ok(U64::from(chain.world().account(&address).map(|a| a.nonce).unwrap_or_default()))
    }

    fn code(&self, address: Address, block: Option<BlockId>) -> RpcResult<Bytes> {
        let chain = self.chain()?;
        require_latest(&chain, block)?;
        Ok(chain.world().code(&address))
    }

    fn storage_at(&self, address: Address, slot: U256, block: Option<BlockId>) -> RpcResult<B256> {
        let chain = self.chain()?;
        require_latest(&chain, block)?;
        Ok(B256::from(chain.world().storage(&address, &slot)))
    }

    fn call(&self, request: TransactionRequest, block: Option<BlockId>) -> RpcResult<Bytes> {
        require_latest(&*self.chain()?, block)?;
        match self.node.call(&request, None).map_err(node_error)? {
            ExecutionResult::Success { output, .. } => Ok(output.into_data()),
            other => Err(reverted(&other)),
        }
    }

    fn estimate_gas(&self, request: TransactionRequest, block: Option<BlockId>) -> RpcResult<U64> {
        require_latest(&*self.chain()?, block)?;
        match self.node.estimate_gas(&request).map_err(node_error)? {
            Ok(gas) => Ok(U64::from(gas)),
            Err(result) => Err(reverted(&result)),
        }
    }

    fn fee_history(
        &self,
        block_count: U64,
        newest: BlockNumberOrTag,
        reward_percentiles: Option<Vec<f64>>,
    ) -> RpcResult<FeeHistory> {
        let chain = self.chain()?;
        let newest = block_number(&chain, newest).ok_or_else(|| invalid_params("newest block is in the future"))?;
        let count = block_count.saturating_to::<u64>().clamp(1, 1024).min(newest + 1);
        let oldest = newest + 1 - count;
        let mut base_fee_per_gas = Vec::new();
        let mut gas_used_ratio = Vec::new();
        let mut reward = Vec::new();
        for block in (oldest..=newest).filter_map(|n| chain.block(n)) {
            let h = &block.header;
            base_fee_per_gas.push(u128::from(h.base_fee_per_gas.unwrap_or_default()));
            gas_used_ratio.push(h.gas_used as f64 / h.gas_limit.max(1) as f64);
            if let Some(ps) = &reward_percentiles {
                reward.push(vec![SUGGESTED_TIP; ps.len()]);
            }
        }
        let next = chain.block(newest).map_or(0, |b| crate::exec::next_base_fee(&b.header));
        base_fee_per_gas.push(u128::from(next));
        Ok(FeeHistory {
            base_fee_per_gas,
            gas_used_ratio,
            base_fee_per_blob_gas: vec![1; count as usize + 1],
            blob_gas_used_ratio: vec![0.0; count as usize],
            oldest_block: oldest,
            reward: reward_percentiles.map(|_| reward),
        })
    }

    fn send_raw_transaction(&self, raw: Bytes) -> RpcResult<B256> {
        let tx = TxEnvelope::decode_2718(&mut raw.as_ref())
            .map_err(|e| invalid_params(format!("cannot decode the transaction (EIP-2718 bytes expected): {e}")))?;
        self.node.submit(tx).map_err(node_error)
    }

    fn send_transaction(&self, request: TransactionRequest) -> RpcResult<B256> {
        self.node.send_transaction(request).map_err(node_error)
    }

    fn transaction_by_hash(&self, hash: B256) -> RpcResult<Option<Transaction>> {
        if let Some((block, index)) = self.chain()?.transaction(&hash) {
            return Ok(rpc_tx(block, index));
        }
        let pending = self.node.pending().map_err(node_error)?;
        Ok(pending.into_iter().find(|t| *t.tx_hash() == hash).map(|t| Transaction {
            inner: t,
            block_hash: None,
            block_number: None,
            transaction_index: None,
            effective_gas_price: None,
            block_timestamp: None,
        }))
    }

    fn transaction_by_block_number_and_index(
        &self,
        block: BlockNumberOrTag,
        index: U64,
    ) -> RpcResult<Option<Transaction>> {
        let chain = self.chain()?;
        let block = block_number(&chain, block).and_then(|n| chain.block(n));
        Ok(block.and_then(|b| rpc_tx(b, index.saturating_to())))
    }

    fn transaction_by_block_hash_and_index(&self, hash: B256, index: U64) -> RpcResult<Option<Transaction>> {
        Ok(self.chain()?.block_by_hash(&hash).and_then(|b| rpc_tx(b, index.saturating_to())))
    }

    fn transaction_receipt(&self, hash: B256) -> RpcResult<Option<TransactionReceipt>> {
        Ok(self.chain()?.transaction(&hash).and_then(|(block, index)| rpc_receipt(block, index)))
    }

    fn logs(&self, filter: Filter) -> RpcResult<Vec<Log>> {
        logs(&*self.chain()?, &filter, None)
    }
}

impl DevApiServer for RpcCtx {
    fn mine(&self) -> RpcResult<String> {
        self.node.mine_pending().map_err(node_error)?;
        Ok("0x0".into())
    }
}
