//! The JSON-RPC interface, one `#[rpc]` trait per namespace: what the node answers, with the
//! standard names and parameter order. The implementations live beside it ([`super::eth`],
//! [`super::filters`], [`super::aiop`]).

use super::types::{FilterChanges, ModelInfo};
use alloy_eips::{BlockId, BlockNumberOrTag};
use alloy_primitives::{Address, B256, Bytes, U64, U256};
use alloy_rpc_types_eth::{Block, FeeHistory, Filter, Log, Transaction, TransactionReceipt, TransactionRequest};
use jsonrpsee::{core::RpcResult, proc_macros::rpc};

/// `web3_`: client identity and hashing.
#[rpc(server, namespace = "web3")]
pub trait Web3Api {
    /// The client's name and version.
    #[method(name = "clientVersion")]
    fn client_version(&self) -> RpcResult<String>;
    /// keccak256 of `data`.
    #[method(name = "sha3")]
    fn sha3(&self, data: Bytes) -> RpcResult<B256>;
}

/// `net_`: the network a single-sequencer devnet pretends to have.
#[rpc(server, namespace = "net")]
pub trait NetApi {
    /// The chain id, in decimal.
    #[method(name = "version")]
    fn version(&self) -> RpcResult<String>;
    /// Always true.
    #[method(name = "listening")]
    fn listening(&self) -> RpcResult<bool>;
    /// Always 0.
    #[method(name = "peerCount")]
    fn peer_count(&self) -> RpcResult<U64>;
}

/// `eth_`: chain, state, calls and transactions.
#[rpc(server, namespace = "eth")]
pub trait EthApi {
    /// The chain id.
    #[method(name = "chainId")]
    fn chain_id(&self) -> RpcResult<U64>;
    /// Always false.
    #[method(name = "syncing")]
    fn syncing(&self) -> RpcResult<bool>;
    /// Always true.
    #[method(name = "mining")]
    fn mining(&self) -> RpcResult<bool>;
    /// The zero address (blocks carry no reward).
    #[method(name = "coinbase")]
    fn coinbase(&self) -> RpcResult<Address>;
    /// The head block's number.
    #[method(name = "blockNumber", blocking)]
    fn block_number(&self) -> RpcResult<U64>;
    /// The unlocked dev accounts.
    #[method(name = "accounts")]
    fn accounts(&self) -> RpcResult<Vec<Address>>;
    /// The next base fee plus the suggested tip.
    #[method(name = "gasPrice", blocking)]
    fn gas_price(&self) -> RpcResult<U256>;
    /// The suggested tip.
    #[method(name = "maxPriorityFeePerGas")]
    fn max_priority_fee_per_gas(&self) -> RpcResult<U256>;
    /// Always 1 (no blobs).
    #[method(name = "blobBaseFee")]
    fn blob_base_fee(&self) -> RpcResult<U256>;
    /// A block by number or tag.
    #[method(name = "getBlockByNumber", blocking)]
    fn block_by_number(&self, block: BlockNumberOrTag, full: Option<bool>) -> RpcResult<Option<Block>>;
    /// A block by hash.
    #[method(name = "getBlockByHash", blocking)]
    fn block_by_hash(&self, hash: B256, full: Option<bool>) -> RpcResult<Option<Block>>;
    /// How many transactions a block holds, by number or tag.
    #[method(name = "getBlockTransactionCountByNumber", blocking)]
    fn block_transaction_count_by_number(&self, block: BlockNumberOrTag) -> RpcResult<Option<U64>>;
    /// How many transactions a block holds, by hash.
    #[method(name = "getBlockTransactionCountByHash", blocking)]
    fn block_transaction_count_by_hash(&self, hash: B256) -> RpcResult<Option<U64>>;
    /// Every receipt of a block.
    #[method(name = "getBlockReceipts", blocking)]
    fn block_receipts(&self, block: BlockNumberOrTag) -> RpcResult<Option<Vec<TransactionReceipt>>>;
    /// An account's balance.
    #[method(name = "getBalance", blocking)]
    fn balance(&self, address: Address, block: Option<BlockId>) -> RpcResult<U256>;
    /// An account's nonce (`pending` counts pooled transactions).
    #[method(name = "getTransactionCount", blocking)]
    fn transaction_count(&self, address: Address, block: Option<BlockId>) -> RpcResult<U64>;
    /// An account's code.
    #[method(name = "getCode", blocking)]
    fn code(&self, address: Address, block: Option<BlockId>) -> RpcResult<Bytes>;
    /// One storage slot.
    #[method(name = "getStorageAt", blocking)]
    fn storage_at(&self, address: Address, slot: U256, block: Option<BlockId>) -> RpcResult<B256>;
    /// Runs a call on the latest state without changing it.
    #[method(name = "call", blocking)]
    fn call(&self, request: TransactionRequest, block: Option<BlockId>) -> RpcResult<Bytes>;
    /// The smallest gas limit with which the call succeeds.
    #[method(name = "estimateGas", blocking)]
    fn estimate_gas(&self, request: TransactionRequest, block: Option<BlockId>) -> RpcResult<U64>;
    /// Base fees and gas used of recent blocks.
    #[method(name = "feeHistory", blocking)]
    fn fee_history(
        &self,
        block_count: U64,
        newest: BlockNumberOrTag,
        reward_percentiles: Option<Vec<f64>>,
    ) -> RpcResult<FeeHistory>;
    /// Submits a signed transaction (EIP-2718 bytes).
    #[method(name = "sendRawTransaction", blocking)]
    fn send_raw_transaction(&self, raw: Bytes) -> RpcResult<B256>;
    /// Signs with an unlocked dev account and submits.
    #[method(name = "sendTransaction", blocking)]
    fn send_transaction(&self, request: TransactionRequest) -> RpcResult<B256>;
    /// A transaction by hash, mined or pooled.
    #[method(name = "getTransactionByHash", blocking)]
    fn transaction_by_hash(&self, hash: B256) -> RpcResult<Option<Transaction>>;
    /// A transaction by block number and index.
    #[method(name = "getTransactionByBlockNumberAndIndex", blocking)]
    fn transaction_by_block_number_and_index(
        &self,
        block: BlockNumberOrTag,
        index: U64,
    ) -> RpcResult<Option<Transaction>>;
    /// A transaction by block hash and index.
    #[method(name = "getTransactionByBlockHashAndIndex", blocking)]
    fn transaction_by_block_hash_and_index(&self, hash: B256, index: U64) -> RpcResult<Option<Transaction>>;
    /// A mined transaction's receipt.
    #[method(name = "getTransactionReceipt", blocking)]
    fn transaction_receipt(&self, hash: B256) -> RpcResult<Option<TransactionReceipt>>;
    /// The logs matching a filter.
    #[method(name = "getLogs", blocking)]
    fn logs(&self, filter: Filter) -> RpcResult<Vec<Log>>;
}

/// `eth_` polling filters.
#[rpc(server, namespace = "eth")]
pub trait EthFilterApi {
    /// A filter of logs, polled with `eth_getFilterChanges`.
    #[method(name = "newFilter", blocking)]
    fn new_filter(&self, filter: Filter) -> RpcResult<U64>;
    /// A filter of new block hashes.
    #[method(name = "newBlockFilter", blocking)]
    fn new_block_filter(&self) -> RpcResult<U64>;
    /// A filter of pending transactions (always empty: transactions are mined or pooled
    /// without announcement).
    #[method(name = "newPendingTransactionFilter", blocking)]
    fn new_pending_transaction_filter(&self) -> RpcResult<U64>;
    /// Removes a filter.
    #[method(name = "uninstallFilter", blocking)]
    fn uninstall_filter(&self, id: U64) -> RpcResult<bool>;
    /// What a filter saw since it was last polled.
    #[method(name = "getFilterChanges", blocking)]
    fn filter_changes(&self, id: U64) -> RpcResult<FilterChanges>;
    /// Every log a log filter matches.
    #[method(name = "getFilterLogs", blocking)]
    fn filter_logs(&self, id: U64) -> RpcResult<Vec<Log>>;
}

/// `evm_`: test helpers.
#[rpc(server, namespace = "evm")]
pub trait DevApi {
    /// Seals the pooled transactions into a block now.
    #[method(name = "mine", blocking)]
    fn mine(&self) -> RpcResult<String>;
}

/// `aiop_`: the inference precompile, off-chain. Both methods run through the precompile
/// itself (an `eth_call` on the latest state), so they give its bytes, its gas and its errors,
/// and share its model cache.
#[rpc(server, namespace = "aiop")]
pub trait AiopApi {
    /// The model stored at `model` (one account or a manifest) run on `input`.
    #[method(name = "infer", blocking)]
    fn infer(&self, model: Address, input: Bytes) -> RpcResult<Bytes>;
    /// The model's id, shapes, quantization, work and gas.
    #[method(name = "modelInfo", blocking)]
    fn model_info(&self, model: Address) -> RpcResult<ModelInfo>;
}
