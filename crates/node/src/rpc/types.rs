//! Result types of the node's own methods, and the conversions from stored blocks to the
//! `alloy-rpc-types-eth` types the standard methods return.

use crate::storage::StoredBlock;
use alloy_consensus::Transaction as _;
use alloy_primitives::{B256, U256};
use alloy_rpc_types_eth::{Block, BlockTransactions, Header as RpcHeader, Log, Transaction, TransactionReceipt};
use serde::Serialize;

pub use alloy_rpc_types_txpool::{TxpoolInspect, TxpoolInspectSummary, TxpoolStatus};

/// What `txpool_content` returns.
pub type TxpoolContent = alloy_rpc_types_txpool::TxpoolContent<Transaction>;

/// A pooled transaction as the RPC shows it (no block yet).
pub(crate) fn pooled_tx(tx: alloy_consensus::transaction::Recovered<alloy_consensus::TxEnvelope>) -> Transaction {
    let effective_gas_price = Some(tx.max_fee_per_gas());
    Transaction {
        inner: tx,
        block_hash: None,
        block_number: None,
        transaction_index: None,
        effective_gas_price,
        block_timestamp: None,
    }
}

/// What `eth_getFilterChanges` returns: block hashes, or logs.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum FilterChanges {
    /// New block hashes (block filters), or pending transaction hashes.
    Hashes(Vec<B256>),
    /// New matching logs (log filters).
    Logs(Vec<Log>),
}

/// What `aiop_modelInfo` returns.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelInfo {
    /// keccak256 of the model bytes.
    pub id: B256,
    /// Code hash of the account named (the model's data contract, or its manifest).
    pub code_hash: B256,
    /// Model bytes.
    pub model_bytes: u64,
    /// Input tensor.
    pub input: TensorInfo,
    /// Output tensor.
    pub output: TensorInfo,
    /// Ops.
    pub ops: u64,
    /// Multiply-accumulates per run.
    pub macs: u64,
    /// Gas the precompile's `infer` charges at the next block with every account cold (2500
    /// less for each warm one): its `cost(model, inputLength)`.
    pub infer_gas: u64,
}

/// A tensor's description.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TensorInfo {
    /// `int8` or `int32`.
    pub dtype: &'static str,
    /// Shape.
    pub shape: Vec<u32>,
    /// Bytes.
    pub bytes: u64,
    /// Zero point.
    pub zero_point: i32,
    /// Scale multiplier (`multiplier * 2^(shift-31)`).
    pub scale_multiplier: i32,
    /// Scale shift.
    pub scale_shift: i8,
}

/// A mined transaction as `eth_getTransactionBy*` returns it.
pub(crate) fn rpc_tx(block: &StoredBlock, index: usize) -> Option<Transaction> {
    let tx = block.txs.get(index)?;
    let base_fee = block.header.base_fee_per_gas;
    Some(Transaction {
        inner: tx.clone(),
        block_hash: Some(block.hash),
        block_number: Some(block.header.number),
        transaction_index: Some(index as u64),
        effective_gas_price: Some(tx.effective_gas_price(base_fee)),
        block_timestamp: Some(block.header.timestamp),
    })
}

/// A block as `eth_getBlockBy*` returns it, with hashes or whole transactions.
pub(crate) fn rpc_block(block: &StoredBlock, full: bool) -> Block {
    let transactions = if full {
        BlockTransactions::Full((0..block.txs.len()).filter_map(|i| rpc_tx(block, i)).collect())
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
pub(crate) fn block_logs(block: &StoredBlock) -> Vec<Log> {
    let mut out = Vec::new();
    let mut log_index = 0u64;
    for (i, (receipt, tx)) in block.receipts.iter().zip(&block.txs).enumerate() {
        for log in receipt.logs() {
            out.push(Log {
                inner: log.clone(),
                block_hash: Some(block.hash),
                block_number: Some(block.header.number),
                block_timestamp: Some(block.header.timestamp),
                transaction_hash: Some(*tx.tx_hash()),
                transaction_index: Some(i as u64),
                log_index: Some(log_index),
                removed: false,
            });
            log_index += 1;
        }
    }
    out
}

/// A transaction's receipt as `eth_getTransactionReceipt` returns it.
pub(crate) fn rpc_receipt(block: &StoredBlock, index: usize) -> Option<TransactionReceipt> {
    let tx = block.txs.get(index)?;
    let receipt = block.receipts.get(index)?;
    let prev_cumulative = index.checked_sub(1).map_or(0, |i| block.receipts[i].cumulative_gas_used());
    let first_log = block.receipts[..index].iter().map(|r| r.logs().len()).sum::<usize>();
    let mut mine = block_logs(block).into_iter().skip(first_log);
    // `block_logs` yields every log of every receipt in order, so this receipt's are next;
    // the default is never reached.
    let inner = receipt.clone().map_logs(|_| mine.next().unwrap_or_default());
    let contract_address = tx.to().is_none().then(|| tx.signer().create(tx.nonce()));
    Some(TransactionReceipt {
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
    })
}
