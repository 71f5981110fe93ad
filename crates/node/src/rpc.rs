//! JSON-RPC over HTTP (jsonrpsee): the `eth_`, `net_` and `web3_` methods that cast, viem and
//! web3.py use, and the `aiop_` namespace. Errors carry the standard codes: -32700 parse error,
//! -32600 invalid request, -32601 method not found, -32602 invalid params, -32603 internal,
//! -32000 rejected transaction / unavailable state, 3 execution reverted (with the revert data).

use crate::{
    chain::model_from_code,
    error::NodeError,
    node::{Chain, Node, describe_failure},
    storage::StoredBlock,
};
use aiop_engine::LoadedModel;
use alloy_consensus::{Transaction as _, TxEnvelope};
use alloy_eips::{BlockId, BlockNumberOrTag, Decodable2718, eip1898::RpcBlockHash};
use alloy_primitives::{Address, B256, Bytes, U64, U256, keccak256};
use alloy_rpc_types_eth::{
    Block, BlockTransactions, FeeHistory, Filter, Header as RpcHeader, Log, Transaction, TransactionReceipt,
    TransactionRequest,
};
use jsonrpsee::{
    RpcModule,
    server::{Server, ServerHandle},
    types::{ErrorObjectOwned, Params},
};
use revm::context_interface::result::ExecutionResult;
use serde::Serialize;
use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
};

/// The tip the node suggests (1 gwei).
pub const SUGGESTED_TIP: u128 = 1_000_000_000;
/// Most blocks `eth_getLogs` scans in one call.
pub const MAX_LOG_RANGE: u64 = 100_000;

type RpcResult<T> = Result<T, ErrorObjectOwned>;

fn err(code: i32, msg: impl Into<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(code, msg.into(), None::<()>)
}

fn invalid_params(msg: impl Into<String>) -> ErrorObjectOwned {
    err(-32602, msg)
}

fn node_err(e: NodeError) -> ErrorObjectOwned {
    match e {
        NodeError::InvalidTx(m) => err(-32000, m),
        NodeError::Execution(m) => err(-32000, m),
        other => err(-32603, other.to_string()),
    }
}

fn reverted(result: &ExecutionResult) -> ErrorObjectOwned {
    match result {
        ExecutionResult::Revert { output, .. } => {
            let reason = alloy_sol_types::decode_revert_reason(output).unwrap_or_default();
            let msg = if reason.is_empty() {
                "execution reverted".to_string()
            } else {
                format!("execution reverted: {reason}")
            };
            ErrorObjectOwned::owned(3, msg, Some(output.clone()))
        }
        other => err(-32000, describe_failure(other)),
    }
}

/// A polling filter (`eth_newFilter`, `eth_newBlockFilter`, ...): what it watches and the last
/// block it reported.
#[derive(Debug, Clone)]
enum PollFilter {
    Blocks { next: u64 },
    Logs { filter: Box<Filter>, next: u64 },
    PendingTxs,
}

/// Most polling filters kept at once (the oldest is dropped beyond).
pub const MAX_FILTERS: usize = 1024;

/// State that only the RPC needs: loaded models for `aiop_`, polling filters.
#[derive(Debug)]
pub struct RpcCtx {
    /// The node.
    pub node: Arc<Node>,
    models: Mutex<HashMap<B256, Arc<LoadedModel>>>,
    filters: Mutex<std::collections::BTreeMap<u64, PollFilter>>,
    next_filter: std::sync::atomic::AtomicU64,
}

impl RpcCtx {
    /// Wraps a node.
    pub fn new(node: Arc<Node>) -> Self {
        RpcCtx {
            node,
            models: Mutex::new(HashMap::new()),
            filters: Mutex::new(Default::default()),
            next_filter: std::sync::atomic::AtomicU64::new(1),
        }
    }

    fn add_filter(&self, f: PollFilter) -> U64 {
        let id = self.next_filter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut filters = self.filters.lock().unwrap_or_else(|p| p.into_inner());
        if filters.len() >= MAX_FILTERS {
            let oldest = *filters.keys().next().expect("non-empty");
            filters.remove(&oldest);
        }
        filters.insert(id, f);
        U64::from(id)
    }

    fn model(&self, address: Address) -> RpcResult<Arc<LoadedModel>> {
        let chain = self.node.read();
        let account = chain
            .world
            .accounts
            .get(&address)
            .ok_or_else(|| invalid_params(format!("no account at {address}: deploy a model there first")))?;
        let hash = account.code_hash;
        if let Some(m) = self.models.lock().unwrap_or_else(|p| p.into_inner()).get(&hash) {
            return Ok(m.clone());
        }
        let code = chain.world.code(&address);
        drop(chain);
        let bytes = model_from_code(&code).ok_or_else(|| {
            invalid_params(format!("the code at {address} is not a model (expected 0xFE, then the model bytes)"))
        })?;
        let model = LoadedModel::load(bytes, self.node.kernels)
            .map_err(|e| invalid_params(format!("the model at {address} does not load: {e}")))?;
        let model = Arc::new(model);
        self.models.lock().unwrap_or_else(|p| p.into_inner()).insert(hash, model.clone());
        Ok(model)
    }
}

/// Resolves a block tag to a number.
fn block_number(chain: &Chain, tag: BlockNumberOrTag) -> RpcResult<Option<u64>> {
    let head = chain.head().header.number;
    Ok(match tag {
        BlockNumberOrTag::Latest | BlockNumberOrTag::Pending | BlockNumberOrTag::Safe | BlockNumberOrTag::Finalized => {
            Some(head)
        }
        BlockNumberOrTag::Earliest => Some(0),
        BlockNumberOrTag::Number(n) => (n <= head).then_some(n),
    })
}

/// Checks that a block id names the latest state (the only state kept).
fn require_latest(chain: &Chain, id: Option<BlockId>) -> RpcResult<()> {
    let head = chain.head();
    let ok = match id {
        None => true,
        Some(BlockId::Number(BlockNumberOrTag::Number(n))) => n == head.header.number,
        Some(BlockId::Number(_)) => {
            !matches!(id, Some(BlockId::Number(BlockNumberOrTag::Earliest))) || head.header.number == 0
        }
        Some(BlockId::Hash(RpcBlockHash { block_hash, .. })) => block_hash == head.hash,
    };
    if ok {
        Ok(())
    } else {
        Err(err(
            -32000,
            format!(
                "state at {id:?} is not available: this devnet keeps only the latest state (block {})",
                head.header.number
            ),
        ))
    }
}

fn rpc_tx(block: &StoredBlock, index: usize) -> Transaction {
    let tx = &block.txs[index];
    let base_fee = block.header.base_fee_per_gas;
    Transaction {
        inner: tx.clone(),
        block_hash: Some(block.hash),
        block_number: Some(block.header.number),
        transaction_index: Some(index as u64),
        effective_gas_price: Some(tx.effective_gas_price(base_fee)),
        block_timestamp: Some(block.header.timestamp),
    }
}

fn rpc_block(block: &StoredBlock, full: bool) -> Block {
    let transactions = if full {
        BlockTransactions::Full((0..block.txs.len()).map(|i| rpc_tx(block, i)).collect())
    } else {
        BlockTransactions::Hashes(block.txs.iter().map(|t| *t.tx_hash()).collect())
    };
    let size = alloy_rlp::encode(&block.header).len()
        + block.txs.iter().map(|t| alloy_eips::Encodable2718::encode_2718_len(t.inner())).sum::<usize>();
    Block {
        header: RpcHeader {
            hash: block.hash,
            inner: block.header.clone(),
            total_difficulty: Some(U256::ZERO),
            size: Some(U256::from(size)),
        },
        uncles: vec![],
        transactions,
        withdrawals: Some(Default::default()),
    }
}

/// The logs of a block, with their positions.
fn block_logs(block: &StoredBlock) -> Vec<Log> {
    let mut out = Vec::new();
    let mut log_index = 0u64;
    for (i, receipt) in block.receipts.iter().enumerate() {
        for log in receipt.logs() {
            out.push(Log {
                inner: log.clone(),
                block_hash: Some(block.hash),
                block_number: Some(block.header.number),
                block_timestamp: Some(block.header.timestamp),
                transaction_hash: Some(*block.txs[i].tx_hash()),
                transaction_index: Some(i as u64),
                log_index: Some(log_index),
                removed: false,
            });
            log_index += 1;
        }
    }
    out
}

fn rpc_receipt(block: &StoredBlock, index: usize) -> TransactionReceipt {
    let tx = &block.txs[index];
    let receipt = &block.receipts[index];
    let prev_cumulative = if index == 0 { 0 } else { block.receipts[index - 1].cumulative_gas_used() };
    let logs = block_logs(block);
    let first_log = block.receipts[..index].iter().map(|r| r.logs().len()).sum::<usize>();
    let mut mine = logs.into_iter().skip(first_log);
    let inner = receipt.clone().map_logs(|_| mine.next().expect("same log count"));
    let contract_address = tx.to().is_none().then(|| tx.signer().create(tx.nonce()));
    TransactionReceipt {
        inner,
        transaction_hash: *tx.tx_hash(),
        transaction_index: Some(index as u64),
        block_hash: Some(block.hash),
        block_number: Some(block.header.number),
        gas_used: receipt.cumulative_gas_used() - prev_cumulative,
        effective_gas_price: tx.effective_gas_price(block.header.base_fee_per_gas),
        blob_gas_used: None,
        blob_gas_price: None,
        from: tx.signer(),
        to: tx.to(),
        contract_address,
    }
}

/// The logs matching `filter`, within `clamp` (inclusive) when given.
fn logs(chain: &Chain, filter: &Filter, clamp: Option<(u64, u64)>) -> RpcResult<Vec<Log>> {
    let head = chain.head().header.number;
    let (mut from, mut to) = if let Some(hash) = filter.get_block_hash() {
        let n = *chain.by_hash.get(&hash).ok_or_else(|| err(-32000, format!("unknown block {hash}")))?;
        (n, n)
    } else {
        let resolve = |t: Option<&BlockNumberOrTag>| -> RpcResult<u64> {
            Ok(match t {
                None => head,
                Some(t) => block_number(chain, *t)?.unwrap_or(head),
            })
        };
        (resolve(filter.block_option.get_from_block())?, resolve(filter.block_option.get_to_block())?)
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
        return Err(err(-32005, format!("query spans more than {MAX_LOG_RANGE} blocks")));
    }
    let mut out = Vec::new();
    for n in from..=to {
        let block = &chain.blocks[n as usize];
        if !filter.matches_bloom(block.header.logs_bloom) {
            continue;
        }
        out.extend(block_logs(block).into_iter().filter(|l| filter.matches(&l.inner)));
    }
    Ok(out)
}

/// What `aiop_modelInfo` returns.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelInfo {
    /// keccak256 of the model bytes.
    pub id: B256,
    /// Code hash of the data contract.
    pub code_hash: B256,
    /// Model bytes.
    pub model_bytes: usize,
    /// Input tensor.
    pub input: TensorJson,
    /// Output tensor.
    pub output: TensorJson,
    /// Ops.
    pub ops: u64,
    /// Multiply-accumulates per run.
    pub macs: u64,
    /// Gas the precompile's `infer` charges with the model account cold (2500 less warm).
    pub infer_gas: u64,
}

/// A tensor's description.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TensorJson {
    /// `int8` or `int32`.
    pub dtype: String,
    /// Shape.
    pub shape: Vec<u32>,
    /// Bytes.
    pub bytes: usize,
    /// Zero point.
    pub zero_point: i32,
    /// Scale multiplier (`multiplier * 2^(shift-31)`).
    pub scale_multiplier: i32,
    /// Scale shift.
    pub scale_shift: i8,
}

fn tensor_json(t: &aiop_engine::TensorInfo, bytes: usize) -> TensorJson {
    TensorJson {
        dtype: match t.dtype {
            aiop_engine::DType::I8 => "int8".into(),
            aiop_engine::DType::I32 => "int32".into(),
        },
        shape: t.shape.clone(),
        bytes,
        zero_point: t.zero_point,
        scale_multiplier: t.scale.multiplier,
        scale_shift: t.scale.shift,
    }
}

type Ctx = Arc<RpcCtx>;

fn reg<T, F>(module: &mut RpcModule<Ctx>, name: &'static str, f: F)
where
    T: Serialize + Clone + Send + 'static,
    F: Fn(Params<'_>, &RpcCtx) -> RpcResult<T> + Clone + Send + Sync + 'static,
{
    module.register_blocking_method(name, move |params, ctx, _| f(params, &ctx)).expect("method names are unique");
}

/// Builds the RPC module.
pub fn module(ctx: Ctx) -> RpcModule<Ctx> {
    let mut m = RpcModule::new(ctx);
    reg(&mut m, "web3_clientVersion", |_, _| Ok(format!("aiop/v{}", env!("CARGO_PKG_VERSION"))));
    reg(&mut m, "web3_sha3", |p, _| {
        let data: Bytes = p.one()?;
        Ok(keccak256(&data))
    });
    reg(&mut m, "net_version", |_, c| Ok(c.node.chain_id.to_string()));
    reg(&mut m, "net_listening", |_, _| Ok(true));
    reg(&mut m, "net_peerCount", |_, _| Ok(U64::ZERO));
    reg(&mut m, "eth_chainId", |_, c| Ok(U64::from(c.node.chain_id)));
    reg(&mut m, "eth_syncing", |_, _| Ok(false));
    reg(&mut m, "eth_mining", |_, _| Ok(true));
    reg(&mut m, "eth_coinbase", |_, _| Ok(Address::ZERO));
    reg(&mut m, "eth_blockNumber", |_, c| Ok(U64::from(c.node.read().head().header.number)));
    reg(&mut m, "eth_accounts", |_, c| Ok(c.node.accounts.iter().map(|a| a.address).collect::<Vec<_>>()));
    reg(&mut m, "eth_gasPrice", |_, c| Ok(U256::from(c.node.next_base_fee() as u128 + SUGGESTED_TIP)));
    reg(&mut m, "eth_maxPriorityFeePerGas", |_, _| Ok(U256::from(SUGGESTED_TIP)));
    reg(&mut m, "eth_blobBaseFee", |_, _| Ok(U256::from(1)));
    reg(&mut m, "eth_getBlockByNumber", |p, c| {
        let mut seq = p.sequence();
        let tag: BlockNumberOrTag = seq.next()?;
        let full: Option<bool> = seq.optional_next()?;
        let chain = c.node.read();
        Ok(block_number(&chain, tag)?.map(|n| rpc_block(&chain.blocks[n as usize], full.unwrap_or(false))))
    });
    reg(&mut m, "eth_getBlockByHash", |p, c| {
        let mut seq = p.sequence();
        let hash: B256 = seq.next()?;
        let full: Option<bool> = seq.optional_next()?;
        let chain = c.node.read();
        Ok(chain.by_hash.get(&hash).map(|n| rpc_block(&chain.blocks[*n as usize], full.unwrap_or(false))))
    });
    reg(&mut m, "eth_getBlockTransactionCountByNumber", |p, c| {
        let tag: BlockNumberOrTag = p.one()?;
        let chain = c.node.read();
        Ok(block_number(&chain, tag)?.map(|n| U64::from(chain.blocks[n as usize].txs.len())))
    });
    reg(&mut m, "eth_getBlockReceipts", |p, c| {
        let tag: BlockNumberOrTag = p.one()?;
        let chain = c.node.read();
        Ok(block_number(&chain, tag)?.map(|n| {
            let b = &chain.blocks[n as usize];
            (0..b.txs.len()).map(|i| rpc_receipt(b, i)).collect::<Vec<_>>()
        }))
    });
    reg(&mut m, "eth_getBalance", |p, c| {
        let mut seq = p.sequence();
        let address: Address = seq.next()?;
        let id: Option<BlockId> = seq.optional_next()?;
        let chain = c.node.read();
        require_latest(&chain, id)?;
        Ok(chain.world.accounts.get(&address).map(|a| a.balance).unwrap_or_default())
    });
    reg(&mut m, "eth_getTransactionCount", |p, c| {
        let mut seq = p.sequence();
        let address: Address = seq.next()?;
        let id: Option<BlockId> = seq.optional_next()?;
        if matches!(id, Some(BlockId::Number(BlockNumberOrTag::Pending))) {
            return Ok(U64::from(c.node.pending_nonce(address)));
        }
        let chain = c.node.read();
        require_latest(&chain, id)?;
        Ok(U64::from(chain.world.accounts.get(&address).map(|a| a.nonce).unwrap_or_default()))
    });
    reg(&mut m, "eth_getCode", |p, c| {
        let mut seq = p.sequence();
        let address: Address = seq.next()?;
        let id: Option<BlockId> = seq.optional_next()?;
        let chain = c.node.read();
        require_latest(&chain, id)?;
        Ok(chain.world.code(&address))
    });
    reg(&mut m, "eth_getStorageAt", |p, c| {
        let mut seq = p.sequence();
        let address: Address = seq.next()?;
        let slot: U256 = seq.next()?;
        let id: Option<BlockId> = seq.optional_next()?;
        let chain = c.node.read();
        require_latest(&chain, id)?;
        let v = chain.world.accounts.get(&address).and_then(|a| a.storage.get(&slot).copied()).unwrap_or_default();
        Ok(B256::from(v))
    });
    reg(&mut m, "eth_call", |p, c| {
        let mut seq = p.sequence();
        let req: TransactionRequest = seq.next()?;
        let id: Option<BlockId> = seq.optional_next()?;
        require_latest(&c.node.read(), id)?;
        let result = c.node.call(&req, None).map_err(node_err)?;
        match result {
            ExecutionResult::Success { output, .. } => Ok(output.into_data()),
            other => Err(reverted(&other)),
        }
    });
    reg(&mut m, "eth_estimateGas", |p, c| {
        let mut seq = p.sequence();
        let req: TransactionRequest = seq.next()?;
        let id: Option<BlockId> = seq.optional_next()?;
        require_latest(&c.node.read(), id)?;
        match c.node.estimate_gas(&req).map_err(node_err)? {
            Ok(gas) => Ok(U64::from(gas)),
            Err(result) => Err(reverted(&result)),
        }
    });
    reg(&mut m, "eth_feeHistory", |p, c| {
        let mut seq = p.sequence();
        let count: U64 = seq.next()?;
        let newest: BlockNumberOrTag = seq.next()?;
        let percentiles: Option<Vec<f64>> = seq.optional_next()?;
        let chain = c.node.read();
        let newest = block_number(&chain, newest)?.ok_or_else(|| invalid_params("newest block is in the future"))?;
        let count = count.to::<u64>().clamp(1, 1024).min(newest + 1);
        let oldest = newest + 1 - count;
        let mut base_fee_per_gas = Vec::new();
        let mut gas_used_ratio = Vec::new();
        let mut reward = Vec::new();
        for n in oldest..=newest {
            let h = &chain.blocks[n as usize].header;
            base_fee_per_gas.push(h.base_fee_per_gas.unwrap_or_default() as u128);
            gas_used_ratio.push(h.gas_used as f64 / h.gas_limit.max(1) as f64);
            if let Some(ps) = &percentiles {
                reward.push(vec![SUGGESTED_TIP; ps.len()]);
            }
        }
        base_fee_per_gas.push(crate::exec::next_base_fee(&chain.blocks[newest as usize].header) as u128);
        Ok(FeeHistory {
            base_fee_per_gas,
            gas_used_ratio,
            base_fee_per_blob_gas: vec![1; count as usize + 1],
            blob_gas_used_ratio: vec![0.0; count as usize],
            oldest_block: oldest,
            reward: percentiles.map(|_| reward),
        })
    });
    reg(&mut m, "eth_sendRawTransaction", |p, c| {
        let raw: Bytes = p.one()?;
        let tx = TxEnvelope::decode_2718(&mut raw.as_ref())
            .map_err(|e| invalid_params(format!("cannot decode the transaction (EIP-2718 bytes expected): {e}")))?;
        c.node.submit(tx).map_err(node_err)
    });
    reg(&mut m, "eth_sendTransaction", |p, c| {
        let req: TransactionRequest = p.one()?;
        c.node.send_transaction(req).map_err(node_err)
    });
    reg(&mut m, "eth_getTransactionByHash", |p, c| {
        let hash: B256 = p.one()?;
        let chain = c.node.read();
        if let Some((n, i)) = chain.tx_index.get(&hash) {
            return Ok(Some(rpc_tx(&chain.blocks[*n as usize], *i)));
        }
        drop(chain);
        let pool = c.node.pool.lock().unwrap_or_else(|p| p.into_inner());
        Ok(pool.iter().find(|t| *t.tx_hash() == hash).map(|t| Transaction {
            inner: t.clone(),
            block_hash: None,
            block_number: None,
            transaction_index: None,
            effective_gas_price: None,
            block_timestamp: None,
        }))
    });
    reg(&mut m, "eth_getTransactionByBlockNumberAndIndex", |p, c| {
        let mut seq = p.sequence();
        let tag: BlockNumberOrTag = seq.next()?;
        let index: U64 = seq.next()?;
        let chain = c.node.read();
        Ok(block_number(&chain, tag)?.and_then(|n| {
            let b = &chain.blocks[n as usize];
            let i = index.to::<usize>();
            (i < b.txs.len()).then(|| rpc_tx(b, i))
        }))
    });
    reg(&mut m, "eth_getTransactionByBlockHashAndIndex", |p, c| {
        let mut seq = p.sequence();
        let hash: B256 = seq.next()?;
        let index: U64 = seq.next()?;
        let chain = c.node.read();
        Ok(chain.by_hash.get(&hash).and_then(|n| {
            let b = &chain.blocks[*n as usize];
            let i = index.to::<usize>();
            (i < b.txs.len()).then(|| rpc_tx(b, i))
        }))
    });
    reg(&mut m, "eth_getBlockTransactionCountByHash", |p, c| {
        let hash: B256 = p.one()?;
        let chain = c.node.read();
        Ok(chain.by_hash.get(&hash).map(|n| U64::from(chain.blocks[*n as usize].txs.len())))
    });
    reg(&mut m, "eth_getTransactionReceipt", |p, c| {
        let hash: B256 = p.one()?;
        let chain = c.node.read();
        Ok(chain.tx_index.get(&hash).map(|(n, i)| rpc_receipt(&chain.blocks[*n as usize], *i)))
    });
    reg(&mut m, "eth_getLogs", |p, c| {
        let filter: Filter = p.one()?;
        let chain = c.node.read();
        logs(&chain, &filter, None)
    });
    reg(&mut m, "eth_newFilter", |p, c| {
        let filter: Filter = p.one()?;
        let next = c.node.read().head().header.number + 1;
        Ok(c.add_filter(PollFilter::Logs { filter: Box::new(filter), next }))
    });
    reg(&mut m, "eth_newBlockFilter", |_, c| {
        let next = c.node.read().head().header.number + 1;
        Ok(c.add_filter(PollFilter::Blocks { next }))
    });
    reg(&mut m, "eth_newPendingTransactionFilter", |_, c| Ok(c.add_filter(PollFilter::PendingTxs)));
    reg(&mut m, "eth_uninstallFilter", |p, c| {
        let id: U64 = p.one()?;
        Ok(c.filters.lock().unwrap_or_else(|p| p.into_inner()).remove(&id.to::<u64>()).is_some())
    });
    reg(&mut m, "eth_getFilterChanges", |p, c| {
        let id: U64 = p.one()?;
        let id = id.to::<u64>();
        let mut filters = c.filters.lock().unwrap_or_else(|p| p.into_inner());
        let f = filters.get_mut(&id).ok_or_else(|| err(-32000, "filter not found"))?;
        let chain = c.node.read();
        let head = chain.head().header.number;
        Ok(match f {
            PollFilter::Blocks { next } => {
                let hashes: Vec<B256> = (*next..=head).map(|n| chain.blocks[n as usize].hash).collect();
                *next = head + 1;
                serde_json::to_value(hashes).unwrap_or_default()
            }
            PollFilter::Logs { filter, next } => {
                let from = *next;
                *next = head + 1;
                if from > head {
                    serde_json::Value::Array(vec![])
                } else {
                    serde_json::to_value(logs(&chain, filter, Some((from, head)))?).unwrap_or_default()
                }
            }
            PollFilter::PendingTxs => serde_json::Value::Array(vec![]),
        })
    });
    reg(&mut m, "eth_getFilterLogs", |p, c| {
        let id: U64 = p.one()?;
        let filters = c.filters.lock().unwrap_or_else(|p| p.into_inner());
        match filters.get(&id.to::<u64>()) {
            Some(PollFilter::Logs { filter, .. }) => logs(&c.node.read(), filter, None),
            Some(_) => Err(invalid_params("not a log filter")),
            None => Err(err(-32000, "filter not found")),
        }
    });
    reg(&mut m, "evm_mine", |_, c| {
        c.node.mine_pending().map_err(node_err)?;
        Ok("0x0")
    });
    reg(&mut m, "aiop_modelInfo", |p, c| {
        let address: Address = p.one()?;
        let model = c.model(address)?;
        let (code_hash, id) = {
            let chain = c.node.read();
            let code = chain.world.code(&address);
            let id = model_from_code(&code).map(aiop_engine::model_id).unwrap_or_default();
            (chain.world.accounts.get(&address).map(|a| a.code_hash).unwrap_or_default(), id)
        };
        Ok(ModelInfo {
            id: B256::from(id),
            code_hash,
            model_bytes: model.model_len(),
            input: tensor_json(model.input(), model.input_len()),
            output: tensor_json(model.output(), model.output_len()),
            ops: model.cost().ops,
            macs: model.cost().macs,
            infer_gas: {
                // What `cost()` returns at the next block: a model in one account, cold.
                let next_block = c.node.read().head().header.number.saturating_add(1);
                let spec = c.node.factory.precompile().spec_at(next_block);
                let mut storage_gas = aiop_precompile::COLD_ACCOUNT_ACCESS_GAS;
                if spec.manifests {
                    let code_len = model.model_len() as u64 + 1;
                    storage_gas += aiop_precompile::gas::code_read_gas(code_len);
                }
                spec.schedule.infer_gas_loaded(&model, model.input_len() as u64, storage_gas)
            },
        })
    });
    reg(&mut m, "aiop_infer", |p, c| {
        let mut seq = p.sequence();
        let address: Address = seq.next()?;
        let input: Bytes = seq.next()?;
        let model = c.model(address)?;
        if input.len() != model.input_len() {
            return Err(invalid_params(format!(
                "input is {} bytes; the model at {address} takes {}",
                input.len(),
                model.input_len()
            )));
        }
        let out = model.run(&input).map_err(|e| err(-32000, format!("inference failed: {e}")))?;
        Ok(Bytes::from(out))
    });
    m
}

/// The CORS layer for `--http.corsdomain`: `*` for any origin, or a comma-separated list.
pub fn cors_layer(domains: &str) -> anyhow::Result<tower_http::cors::CorsLayer> {
    use tower_http::cors::{AllowOrigin, Any, CorsLayer};
    let layer = CorsLayer::new()
        .allow_methods([http::Method::POST, http::Method::GET, http::Method::OPTIONS])
        .allow_headers(Any);
    if domains.trim() == "*" {
        return Ok(layer.allow_origin(Any));
    }
    let origins = domains
        .split(',')
        .map(|d| d.trim().parse::<http::HeaderValue>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("--http.corsdomain {domains:?}: {e}"))?;
    Ok(layer.allow_origin(AllowOrigin::list(origins)))
}

/// Starts the HTTP server on `addr`, with CORS for `cors` (see [`cors_layer`]) when given.
pub async fn serve(ctx: Ctx, addr: SocketAddr, cors: Option<&str>) -> anyhow::Result<(ServerHandle, SocketAddr)> {
    let config = jsonrpsee::server::ServerConfig::builder()
        .max_request_body_size(64 * 1024 * 1024)
        .max_response_body_size(256 * 1024 * 1024)
        .build();
    let cors = cors.map(cors_layer).transpose()?;
    let server = Server::builder()
        .set_config(config)
        .set_http_middleware(tower::ServiceBuilder::new().option_layer(cors))
        .build(addr)
        .await?;
    let local = server.local_addr()?;
    let handle = server.start(module(ctx));
    Ok((handle, local))
}
