//! The JSON-RPC interface, one `#[rpc]` trait per namespace: what the node answers, with the
//! standard names and parameter order. The implementations live beside it ([`super::eth`],
//! [`super::filters`], [`super::aiop`]).

use super::types::{FilterChanges, ModelInfo, TxpoolContent, TxpoolInspect, TxpoolStatus};
use alloy_eips::{BlockId, BlockNumberOrTag};
use alloy_primitives::{Address, B256, Bytes, U64, U256};
use alloy_rpc_types_eth::{
    AccessListResult, Block, EIP1186AccountProofResponse, FeeHistory, Filter, Log, Transaction, TransactionReceipt,
    TransactionRequest,
    pubsub::{Params, SubscriptionKind},
    state::StateOverride,
};
use alloy_rpc_types_trace::geth::{GethDebugTracingCallOptions, GethDebugTracingOptions, GethTrace};
use alloy_serde::JsonStorageKey;
use jsonrpsee::{
    core::{RpcResult, SubscriptionResult},
    proc_macros::rpc,
};

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
    /// Runs a call on a block's state, with state overrides, without changing anything; its
    /// gas is capped by `--rpc.gascap` and its time by `--rpc.evmtimeout`.
    #[method(name = "call", blocking)]
    fn call(
        &self,
        request: TransactionRequest,
        block: Option<BlockId>,
        overrides: Option<StateOverride>,
    ) -> RpcResult<Bytes>;
    /// The smallest gas limit with which the call succeeds (access and authorization lists
    /// included), at most the RPC gas cap.
    #[method(name = "estimateGas", blocking)]
    fn estimate_gas(
        &self,
        request: TransactionRequest,
        block: Option<BlockId>,
        overrides: Option<StateOverride>,
    ) -> RpcResult<U64>;
    /// The access list a call would use, and its gas with that list (revm-inspectors'
    /// access-list inspector, rerun until the list is stable, as geth does).
    #[method(name = "createAccessList", blocking)]
    fn create_access_list(&self, request: TransactionRequest, block: Option<BlockId>) -> RpcResult<AccessListResult>;
    /// An account's Merkle proof and its storage slots' proofs against the state root
    /// (EIP-1186), at the head.
    #[method(name = "getProof", blocking)]
    fn proof(
        &self,
        address: Address,
        keys: Vec<JsonStorageKey>,
        block: Option<BlockId>,
    ) -> RpcResult<EIP1186AccountProofResponse>;
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

/// Signing with the unlocked dev accounts (`--dev`): messages (EIP-191), typed data (EIP-712)
/// and transactions.
#[rpc(server, namespace = "eth")]
pub trait EthSignApi {
    /// Signs `data` as an EIP-191 personal message (`\x19Ethereum Signed Message:\n` + length).
    #[method(name = "sign")]
    fn sign(&self, address: Address, data: Bytes) -> RpcResult<Bytes>;
    /// Signs EIP-712 typed data (a JSON object, or a string holding one).
    #[method(name = "signTypedData_v4")]
    fn sign_typed_data_v4(&self, address: Address, data: serde_json::Value) -> RpcResult<Bytes>;
    /// Fills in and signs a transaction without sending it; returns its EIP-2718 bytes.
    #[method(name = "signTransaction", blocking)]
    fn sign_transaction(&self, request: TransactionRequest) -> RpcResult<Bytes>;
}

/// `personal_sign`: [`EthSignApi::sign`] with geth's parameter order.
#[rpc(server, namespace = "personal")]
pub trait PersonalApi {
    /// Signs `data` as an EIP-191 personal message; the password is ignored (dev accounts).
    #[method(name = "sign")]
    fn sign(&self, data: Bytes, address: Address, password: Option<String>) -> RpcResult<Bytes>;
}

/// `debug_`: geth-style traces (revm-inspectors): the struct logger, `callTracer`,
/// `prestateTracer`, `4byteTracer`, `flatCallTracer`, `muxTracer`, `noopTracer`.
#[rpc(server, namespace = "debug")]
pub trait DebugApi {
    /// Replays a mined transaction on the state before it and traces it.
    #[method(name = "traceTransaction", blocking)]
    fn trace_transaction(&self, hash: B256, options: Option<GethDebugTracingOptions>) -> RpcResult<GethTrace>;
    /// Traces a call on a block's state (with state overrides).
    #[method(name = "traceCall", blocking)]
    fn trace_call(
        &self,
        request: TransactionRequest,
        block: Option<BlockId>,
        options: Option<GethDebugTracingCallOptions>,
    ) -> RpcResult<GethTrace>;
}

/// `eth_subscribe`: new heads, logs and pending transactions pushed over WebSocket.
#[rpc(server, namespace = "eth")]
pub trait EthPubSubApi {
    /// Subscribes to `newHeads`, `logs` (with a filter) or `newPendingTransactions`.
    #[subscription(name = "subscribe" => "subscription", unsubscribe = "unsubscribe", item = serde_json::Value)]
    async fn subscribe(&self, kind: SubscriptionKind, params: Option<Params>) -> SubscriptionResult;
}

/// `txpool_`: what waits for a block, as geth reports it.
#[rpc(server, namespace = "txpool")]
pub trait TxpoolApi {
    /// How many transactions are pending (next block) and queued (behind a nonce gap).
    #[method(name = "status", blocking)]
    fn status(&self) -> RpcResult<TxpoolStatus>;
    /// Every pooled transaction, by sender and nonce.
    #[method(name = "content", blocking)]
    fn content(&self) -> RpcResult<TxpoolContent>;
    /// A one-line summary of every pooled transaction, by sender and nonce.
    #[method(name = "inspect", blocking)]
    fn inspect(&self) -> RpcResult<TxpoolInspect>;
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
    /// A filter of the hashes of transactions entering the pool.
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

/// `evm_`: the test helpers hardhat and anvil share.
#[rpc(server, namespace = "evm")]
pub trait DevApi {
    /// Seals the pending transactions into a block now (`timestamp`: the block's).
    #[method(name = "mine", blocking)]
    fn mine(&self, timestamp: Option<U64>) -> RpcResult<String>;
    /// Remembers the head; `evm_revert` returns to it.
    #[method(name = "snapshot", blocking)]
    fn snapshot(&self) -> RpcResult<U64>;
    /// Unwinds the chain to a snapshot (which is then gone, as are later ones).
    #[method(name = "revert", blocking)]
    fn revert(&self, id: U64) -> RpcResult<bool>;
    /// Moves the clock of later blocks forward; returns the total offset in seconds.
    #[method(name = "increaseTime", blocking)]
    fn increase_time(&self, seconds: U64) -> RpcResult<U64>;
    /// Sets the next block's timestamp.
    #[method(name = "setNextBlockTimestamp", blocking)]
    fn set_next_block_timestamp(&self, timestamp: U64) -> RpcResult<()>;
}

/// `anvil_` (and `hardhat_`) state edits for tests. Each seals a block that begins with the
/// edit, so it is part of the chain: in the state root, and replayed by `aiop chain verify`.
#[rpc(server, namespace = "anvil")]
pub trait AnvilApi {
    /// Sets an account's balance.
    #[method(name = "setBalance", aliases = ["hardhat_setBalance"], blocking)]
    fn set_balance(&self, address: Address, balance: U256) -> RpcResult<()>;
    /// Sets an account's code.
    #[method(name = "setCode", aliases = ["hardhat_setCode"], blocking)]
    fn set_code(&self, address: Address, code: Bytes) -> RpcResult<()>;
    /// Sets an account's nonce.
    #[method(name = "setNonce", aliases = ["hardhat_setNonce"], blocking)]
    fn set_nonce(&self, address: Address, nonce: U64) -> RpcResult<()>;
    /// Sets one storage slot.
    #[method(name = "setStorageAt", aliases = ["hardhat_setStorageAt"], blocking)]
    fn set_storage_at(&self, address: Address, slot: U256, value: B256) -> RpcResult<bool>;
    /// Seals `blocks` blocks (default one).
    #[method(name = "mine", aliases = ["hardhat_mine"], blocking)]
    fn mine(&self, blocks: Option<U64>, interval: Option<U64>) -> RpcResult<()>;
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
