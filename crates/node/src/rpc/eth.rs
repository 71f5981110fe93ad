//! The `web3_`, `net_` and `eth_` methods on the node's chain. Every read takes a [`Chain`]
//! snapshot and works on it, so no read holds a lock while it runs; state at older blocks
//! comes from the database's history.

use super::{
    RpcCtx, RpcLimits, SUGGESTED_TIP,
    api::{EthApiServer, NetApiServer, Web3ApiServer},
    error, invalid_params, node_error, reverted,
    types::{block_logs, rpc_block, rpc_receipt, rpc_tx},
};
use crate::node::Chain;
use alloy_consensus::{Transaction as _, TxEnvelope};
use alloy_eips::{BlockId, BlockNumberOrTag, Decodable2718, eip1898::RpcBlockHash};
use alloy_primitives::{Address, B256, Bytes, U64, U256, keccak256};
use alloy_rpc_types_eth::{
    AccessListResult, Block, EIP1186AccountProofResponse, FeeHistory, Filter, FilterBlockOption, Log, Transaction,
    TransactionReceipt, TransactionRequest, state::StateOverride,
};
use alloy_serde::JsonStorageKey;
use jsonrpsee::{core::RpcResult, types::ErrorObjectOwned};
use revm::context_interface::result::ExecutionResult;

impl RpcCtx {
    /// A snapshot of the chain to read from.
    pub(crate) fn chain(&self) -> RpcResult<Chain> {
        self.node.read().map_err(node_error)
    }
}

/// geth's answer for a block that does not exist (yet).
fn header_not_found() -> ErrorObjectOwned {
    error(-32000, "header not found")
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

/// The block a state query names (default: the head).
pub(crate) fn state_block(chain: &Chain, id: Option<BlockId>) -> RpcResult<u64> {
    match id {
        None => Ok(chain.head().header.number),
        Some(BlockId::Number(tag)) => block_number(chain, tag).ok_or_else(header_not_found),
        Some(BlockId::Hash(RpcBlockHash { block_hash, .. })) => chain
            .number_of(&block_hash)
            .map_err(node_error)?
            .ok_or_else(|| error(-32000, format!("block {block_hash} not found"))),
    }
}

fn chain_block(chain: &Chain, n: u64) -> RpcResult<Option<std::sync::Arc<crate::storage::StoredBlock>>> {
    chain.block(n).map_err(node_error)
}

/// The logs matching `filter`, within `clamp` (inclusive) when given, under `limits`.
pub(crate) fn logs(
    chain: &Chain,
    filter: &Filter,
    clamp: Option<(u64, u64)>,
    limits: &RpcLimits,
) -> RpcResult<Vec<Log>> {
    let alternatives = filter.address.len().max(filter.topics.iter().map(|t| t.len()).max().unwrap_or(0));
    if alternatives > limits.max_filter_alternatives {
        return Err(invalid_params(format!(
            "the filter has {alternatives} addresses or alternatives for one topic; at most {} are allowed",
            limits.max_filter_alternatives
        )));
    }
    let head = chain.head().header.number;
    let (mut from, mut to) = match &filter.block_option {
        FilterBlockOption::AtBlockHash(hash) => {
            let n = chain
                .number_of(hash)
                .map_err(node_error)?
                .ok_or_else(|| error(-32000, format!("unknown block {hash}")))?;
            (n, n)
        }
        FilterBlockOption::Range { from_block, to_block } => {
            // A number past the head is the future: nothing there yet (a poller must not be
            // shown the head's logs again), and `toBlock` past the head means "up to the head".
            let resolve = |t: Option<&BlockNumberOrTag>| match t {
                None => head,
                Some(BlockNumberOrTag::Number(n)) => *n,
                Some(tag) => block_number(chain, *tag).unwrap_or(head),
            };
            let (from, to) = (resolve(from_block.as_ref()), resolve(to_block.as_ref()));
            if from > head {
                return Ok(vec![]);
            }
            if from > to {
                return Err(invalid_params(format!(
                    "invalid block range params: fromBlock {from} is after toBlock {to}"
                )));
            }
            (from, to.min(head))
        }
    };
    if let Some((lo, hi)) = clamp {
        from = from.max(lo);
        to = to.min(hi);
        if from > to {
            return Ok(vec![]);
        }
    }
    if to - from >= limits.max_blocks_per_filter {
        return Err(error(
            -32005,
            format!("query exceeds max block range {}: ask for fewer blocks", limits.max_blocks_per_filter),
        ));
    }
    let mut out = Vec::new();
    for n in from..=to {
        let Some(header) = chain.reader().header(n).map_err(node_error)? else { continue };
        if !filter.matches_bloom(header.logs_bloom) {
            continue;
        }
        let Some(block) = chain_block(chain, n)? else { continue };
        out.extend(block_logs(&block).into_iter().filter(|l| filter.matches(&l.inner)));
        if out.len() > limits.max_logs_per_response {
            return Err(error(
                -32005,
                format!(
                    "query exceeds max results {}, retry with the range {from}-{}",
                    limits.max_logs_per_response,
                    n.saturating_sub(1).max(from)
                ),
            ));
        }
    }
    Ok(out)
}

/// The reward percentiles of one block, as geth computes them: the effective tips of its
/// transactions, sorted, each weighted by the gas it used.
fn block_rewards(block: &crate::storage::StoredBlock, percentiles: &[f64]) -> Vec<u128> {
    let base_fee = block.header.base_fee_per_gas.unwrap_or_default();
    let mut tips: Vec<(u128, u64)> = Vec::with_capacity(block.txs.len());
    let mut previous = 0;
    for (tx, receipt) in block.txs.iter().zip(&block.receipts) {
        let cumulative = alloy_consensus::TxReceipt::cumulative_gas_used(receipt);
        tips.push((tx.effective_tip_per_gas(base_fee).unwrap_or_default(), cumulative - previous));
        previous = cumulative;
    }
    if tips.is_empty() {
        return vec![0; percentiles.len()];
    }
    tips.sort_unstable();
    let total = block.header.gas_used as f64;
    let mut rewards = Vec::with_capacity(percentiles.len());
    let (mut index, mut sum) = (0, tips[0].1);
    for p in percentiles {
        let threshold = total * p / 100.0;
        while (sum as f64) < threshold && index < tips.len() - 1 {
            index += 1;
            sum += tips[index].1;
        }
        rewards.push(tips[index].0);
    }
    rewards
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
        let Some(n) = block_number(&chain, block) else { return Ok(None) };
        Ok(chain_block(&chain, n)?.map(|b| rpc_block(&b, full.unwrap_or(false))))
    }

    fn block_by_hash(&self, hash: B256, full: Option<bool>) -> RpcResult<Option<Block>> {
        let block = self.chain()?.block_by_hash(&hash).map_err(node_error)?;
        Ok(block.map(|b| rpc_block(&b, full.unwrap_or(false))))
    }

    fn block_transaction_count_by_number(&self, block: BlockNumberOrTag) -> RpcResult<Option<U64>> {
        let chain = self.chain()?;
        let Some(n) = block_number(&chain, block) else { return Ok(None) };
        Ok(chain_block(&chain, n)?.map(|b| U64::from(b.txs.len())))
    }

    fn block_transaction_count_by_hash(&self, hash: B256) -> RpcResult<Option<U64>> {
        let block = self.chain()?.block_by_hash(&hash).map_err(node_error)?;
        Ok(block.map(|b| U64::from(b.txs.len())))
    }

    fn block_receipts(&self, block: BlockNumberOrTag) -> RpcResult<Option<Vec<TransactionReceipt>>> {
        let chain = self.chain()?;
        let Some(n) = block_number(&chain, block) else { return Ok(None) };
        Ok(chain_block(&chain, n)?.map(|b| (0..b.txs.len()).filter_map(|i| rpc_receipt(&b, i)).collect()))
    }

    fn balance(&self, address: Address, block: Option<BlockId>) -> RpcResult<U256> {
        let chain = self.chain()?;
        let n = state_block(&chain, block)?;
        Ok(chain.account_at(&address, n).map_err(node_error)?.map(|a| a.1).unwrap_or_default())
    }

    fn transaction_count(&self, address: Address, block: Option<BlockId>) -> RpcResult<U64> {
        if matches!(block, Some(BlockId::Number(BlockNumberOrTag::Pending))) {
            return self.node.pending_nonce(address).map(U64::from).map_err(node_error);
        }
        let chain = self.chain()?;
        let n = state_block(&chain, block)?;
        Ok(U64::from(chain.account_at(&address, n).map_err(node_error)?.map(|a| a.0).unwrap_or_default()))
    }

    fn code(&self, address: Address, block: Option<BlockId>) -> RpcResult<Bytes> {
        let chain = self.chain()?;
        let n = state_block(&chain, block)?;
        chain.code_at(&address, n).map_err(node_error)
    }

    fn storage_at(&self, address: Address, slot: U256, block: Option<BlockId>) -> RpcResult<B256> {
        let chain = self.chain()?;
        let n = state_block(&chain, block)?;
        Ok(B256::from(chain.storage_at(&address, slot, n).map_err(node_error)?))
    }

    fn call(
        &self,
        request: TransactionRequest,
        block: Option<BlockId>,
        overrides: Option<StateOverride>,
    ) -> RpcResult<Bytes> {
        let at = state_block(&self.chain()?, block)?;
        let result =
            self.bounded(move |node, limits| node.call(&request, Some(at), overrides.as_ref(), limits.gas_cap))?;
        match result {
            ExecutionResult::Success { output, .. } => Ok(output.into_data()),
            other => Err(reverted(&other)),
        }
    }

    fn estimate_gas(
        &self,
        request: TransactionRequest,
        block: Option<BlockId>,
        overrides: Option<StateOverride>,
    ) -> RpcResult<U64> {
        let at = state_block(&self.chain()?, block)?;
        let result = self
            .bounded(move |node, limits| node.estimate_gas(&request, Some(at), overrides.as_ref(), limits.gas_cap))?;
        match result {
            Ok(gas) => Ok(U64::from(gas)),
            Err(result) => Err(reverted(&result)),
        }
    }

    fn create_access_list(&self, request: TransactionRequest, block: Option<BlockId>) -> RpcResult<AccessListResult> {
        self.access_list(request, block)
    }

    fn proof(
        &self,
        address: Address,
        keys: Vec<JsonStorageKey>,
        block: Option<BlockId>,
    ) -> RpcResult<EIP1186AccountProofResponse> {
        self.account_proof(address, keys, block)
    }

    fn fee_history(
        &self,
        block_count: U64,
        newest: BlockNumberOrTag,
        reward_percentiles: Option<Vec<f64>>,
    ) -> RpcResult<FeeHistory> {
        let limits = &self.limits;
        if let Some(ps) = &reward_percentiles {
            if ps.len() > limits.max_reward_percentiles {
                return Err(invalid_params(format!(
                    "{} reward percentiles asked for; at most {} are allowed",
                    ps.len(),
                    limits.max_reward_percentiles
                )));
            }
            for (i, p) in ps.iter().enumerate() {
                if !(0.0..=100.0).contains(p) || (i > 0 && *p < ps[i - 1]) {
                    return Err(invalid_params(format!(
                        "invalid reward percentile {p}: percentiles must be in [0, 100] and ascending"
                    )));
                }
            }
        }
        let chain = self.chain()?;
        let newest = block_number(&chain, newest).ok_or_else(|| invalid_params("newest block is in the future"))?;
        let count = block_count.saturating_to::<u64>().clamp(1, limits.max_fee_history_blocks).min(newest + 1);
        let oldest = newest + 1 - count;
        let mut base_fee_per_gas = Vec::new();
        let mut gas_used_ratio = Vec::new();
        let mut reward = Vec::new();
        for n in oldest..=newest {
            let Some(block) = chain_block(&chain, n)? else { continue };
            let h = &block.header;
            base_fee_per_gas.push(u128::from(h.base_fee_per_gas.unwrap_or_default()));
            gas_used_ratio.push(h.gas_used as f64 / h.gas_limit.max(1) as f64);
            if let Some(ps) = &reward_percentiles {
                reward.push(block_rewards(&block, ps));
            }
        }
        let next = chain_block(&chain, newest)?.map_or(0, |b| crate::exec::next_base_fee(&b.header));
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
        if raw.len() > self.limits.max_raw_tx_bytes {
            return Err(node_error(
                crate::error::TxRejection::Oversized { size: raw.len(), limit: self.limits.max_raw_tx_bytes }.into(),
            ));
        }
        let mut rest = raw.as_ref();
        let tx = TxEnvelope::decode_2718(&mut rest)
            .map_err(|e| invalid_params(format!("cannot decode the transaction (EIP-2718 bytes expected): {e}")))?;
        if !rest.is_empty() {
            return Err(invalid_params(format!("the transaction is followed by {} trailing bytes", rest.len())));
        }
        self.node.submit(tx).map_err(node_error)
    }

    fn send_transaction(&self, request: TransactionRequest) -> RpcResult<B256> {
        self.node.send_transaction(request, self.limits.gas_cap).map_err(node_error)
    }

    fn transaction_by_hash(&self, hash: B256) -> RpcResult<Option<Transaction>> {
        if let Some((block, index)) = self.chain()?.transaction(&hash).map_err(node_error)? {
            return Ok(rpc_tx(&block, index));
        }
        let pooled = self.node.pooled(&hash).map_err(node_error)?;
        Ok(pooled.map(|t| {
            let effective_gas_price = Some(t.max_fee_per_gas());
            Transaction {
                inner: t,
                block_hash: None,
                block_number: None,
                transaction_index: None,
                effective_gas_price,
                block_timestamp: None,
            }
        }))
    }

    fn transaction_by_block_number_and_index(
        &self,
        block: BlockNumberOrTag,
        index: U64,
    ) -> RpcResult<Option<Transaction>> {
        let chain = self.chain()?;
        let Some(n) = block_number(&chain, block) else { return Ok(None) };
        Ok(chain_block(&chain, n)?.and_then(|b| rpc_tx(&b, index.saturating_to())))
    }

    fn transaction_by_block_hash_and_index(&self, hash: B256, index: U64) -> RpcResult<Option<Transaction>> {
        let block = self.chain()?.block_by_hash(&hash).map_err(node_error)?;
        Ok(block.and_then(|b| rpc_tx(&b, index.saturating_to())))
    }

    fn transaction_receipt(&self, hash: B256) -> RpcResult<Option<TransactionReceipt>> {
        let found = self.chain()?.transaction(&hash).map_err(node_error)?;
        Ok(found.and_then(|(block, index)| rpc_receipt(&block, index)))
    }

    fn logs(&self, filter: Filter) -> RpcResult<Vec<Log>> {
        logs(&self.chain()?, &filter, None, &self.limits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::StoredBlock;
    use alloy_consensus::transaction::Recovered;
    use alloy_consensus::{Header, Receipt, ReceiptEnvelope, ReceiptWithBloom, SignableTransaction, TxEip1559};
    use alloy_primitives::{Signature, TxKind};

    fn block_with_tips(tips_and_gas: &[(u128, u64)], base_fee: u64) -> StoredBlock {
        let mut txs = Vec::new();
        let mut receipts = Vec::new();
        let mut cumulative = 0;
        for (i, (tip, gas)) in tips_and_gas.iter().enumerate() {
            let tx = TxEip1559 {
                chain_id: 1,
                nonce: i as u64,
                gas_limit: *gas,
                max_fee_per_gas: u128::from(base_fee) + tip,
                max_priority_fee_per_gas: *tip,
                to: TxKind::Call(Address::ZERO),
                value: U256::ZERO,
                access_list: Default::default(),
                input: Default::default(),
            };
            txs.push(Recovered::new_unchecked(tx.into_signed(Signature::test_signature()).into(), Address::ZERO));
            cumulative += gas;
            let receipt = Receipt { status: true.into(), cumulative_gas_used: cumulative, logs: vec![] };
            receipts.push(ReceiptEnvelope::Eip1559(ReceiptWithBloom::new(receipt, Default::default())));
        }
        let header = Header { base_fee_per_gas: Some(base_fee), gas_used: cumulative, ..Default::default() };
        StoredBlock { hash: header.hash_slow(), header, txs, receipts }
    }

    #[test]
    fn fee_history_rewards_are_gas_weighted_percentiles_of_the_tips_paid() {
        // Tips 1, 5 and 9 gwei using 21k, 63k and 21k gas: 20% of the gas is the cheapest tip,
        // the middle 60% the 5 gwei one.
        let gwei = 1_000_000_000u128;
        let block = block_with_tips(&[(9 * gwei, 21_000), (gwei, 21_000), (5 * gwei, 63_000)], 7);
        assert_eq!(
            block_rewards(&block, &[0.0, 10.0, 25.0, 50.0, 80.0, 90.0, 100.0]),
            [gwei, gwei, 5 * gwei, 5 * gwei, 5 * gwei, 9 * gwei, 9 * gwei]
        );
        assert_eq!(block_rewards(&block_with_tips(&[], 7), &[50.0]), [0]);
    }
}
