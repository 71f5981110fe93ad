//! JSON-RPC over HTTP (jsonrpsee): the `eth_`, `net_`, `web3_` and `evm_` methods that cast,
//! viem and web3.py use, and the `aiop_` namespace.
//!
//! [`api`] declares every method as a jsonrpsee `#[rpc]` trait; [`eth`], [`filters`] and
//! [`aiop`] implement them on [`RpcCtx`]; [`types`] holds the node's own result types. Errors
//! carry the standard codes: -32700 parse error, -32600 invalid request, -32601 method not
//! found, -32602 invalid params, -32603 internal, -32000 rejected transaction / unavailable
//! state, -32005 limit exceeded, 3 execution reverted (with the revert data).
//!
//! What it must never do: change state other than through [`Node::submit`] and
//! [`Node::mine`], or hold a model cache of its own (the precompile's is the only one).

pub mod aiop;
pub mod api;
pub mod debug;
pub mod dev;
pub mod eth;
pub mod filters;
pub mod pubsub;
pub mod server;
pub mod signing;
pub mod txpool;
pub mod types;

use crate::{
    error::NodeError,
    node::{Node, describe_failure},
};
use api::{
    AiopApiServer, AnvilApiServer, DebugApiServer, DevApiServer, EthApiServer, EthFilterApiServer, EthPubSubApiServer,
    EthSignApiServer, NetApiServer, PersonalApiServer, TxpoolApiServer, Web3ApiServer,
};
use jsonrpsee::{RpcModule, types::ErrorObjectOwned};
use revm::context_interface::result::ExecutionResult;
use std::{sync::Arc, time::Duration};

/// The tip the node suggests (1 gwei).
pub const SUGGESTED_TIP: u128 = 1_000_000_000;

/// The limits that keep one client from starving the others; the defaults are geth's and
/// reth's, and each has a flag (see `aiop node --help`).
#[derive(Debug, Clone)]
pub struct RpcLimits {
    /// Most gas an `eth_call`, `eth_estimateGas` or `aiop_infer` may use (`--rpc.gascap`).
    pub gas_cap: u64,
    /// Longest an `eth_call` may run before the client is answered with a timeout
    /// (`--rpc.evmtimeout`).
    pub evm_timeout: Duration,
    /// Most blocks one `eth_getLogs` may scan (`--rpc.max-blocks-per-filter`).
    pub max_blocks_per_filter: u64,
    /// Most logs one `eth_getLogs` may return (`--rpc.max-logs-per-response`).
    pub max_logs_per_response: usize,
    /// Most addresses, and most alternatives per topic position, in one log filter.
    pub max_filter_alternatives: usize,
    /// Most blocks one `eth_feeHistory` may cover.
    pub max_fee_history_blocks: u64,
    /// Most reward percentiles one `eth_feeHistory` may ask for.
    pub max_reward_percentiles: usize,
    /// Largest signed transaction `eth_sendRawTransaction` accepts, in bytes.
    pub max_raw_tx_bytes: usize,
}

impl Default for RpcLimits {
    fn default() -> Self {
        RpcLimits {
            gas_cap: 50_000_000,
            evm_timeout: Duration::from_secs(5),
            max_blocks_per_filter: 100_000,
            max_logs_per_response: 20_000,
            max_filter_alternatives: 1_000,
            max_fee_history_blocks: 1_024,
            max_reward_percentiles: 100,
            max_raw_tx_bytes: 128 * 1024,
        }
    }
}

/// Most calls that may still run past their time budget at once; more are refused until they
/// finish (each is bounded by the gas cap).
const MAX_OVERDUE_CALLS: usize = 8;

/// What every method implementation reads: the node, the limits, and the RPC's own state
/// (polling filters). Cloning shares all of it.
#[derive(Debug, Clone)]
pub struct RpcCtx {
    node: Arc<Node>,
    filters: Arc<filters::Filters>,
    limits: Arc<RpcLimits>,
    overdue: Arc<std::sync::atomic::AtomicUsize>,
}

impl RpcCtx {
    /// Serves `node` with the default limits.
    pub fn new(node: Arc<Node>) -> Self {
        Self::with_limits(node, RpcLimits::default())
    }

    /// Serves `node` with `limits`.
    pub fn with_limits(node: Arc<Node>, limits: RpcLimits) -> Self {
        RpcCtx { node, filters: Arc::default(), limits: Arc::new(limits), overdue: Arc::default() }
    }

    /// Runs `work` (an EVM execution) on its own thread and waits at most the time budget. A
    /// call past its budget is answered with geth's timeout error and finishes in the
    /// background, bounded by the gas cap; at most [`MAX_OVERDUE_CALLS`] may do so at once.
    pub(crate) fn bounded<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Node, &RpcLimits) -> Result<T, NodeError> + Send + 'static,
    ) -> Result<T, ErrorObjectOwned> {
        use std::sync::atomic::Ordering;
        if self.overdue.load(Ordering::Relaxed) >= MAX_OVERDUE_CALLS {
            return Err(error(-32005, "too many calls are still running past --rpc.evmtimeout; retry later"));
        }
        let (node, limits, overdue) = (self.node.clone(), self.limits.clone(), self.overdue.clone());
        let (done, result) = std::sync::mpsc::sync_channel(1);
        let timed_out = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = timed_out.clone();
        std::thread::Builder::new()
            .name("rpc-call".into())
            .spawn(move || {
                let out = work(&node, &limits);
                if flag.load(Ordering::Acquire) {
                    overdue.fetch_sub(1, Ordering::Relaxed);
                }
                let _ = done.send(out);
            })
            .map_err(|e| error(-32603, format!("cannot start the call: {e}")))?;
        match result.recv_timeout(self.limits.evm_timeout) {
            Ok(out) => out.map_err(node_error),
            Err(_) => {
                self.overdue.fetch_add(1, Ordering::Relaxed);
                timed_out.store(true, Ordering::Release);
                Err(error(-32000, format!("execution aborted (timeout = {:?})", self.limits.evm_timeout)))
            }
        }
    }
}

/// An error object with `code` and `message`, no data.
pub(crate) fn error(code: i32, message: impl Into<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(code, message.into(), None::<()>)
}

/// -32602: the request's parameters are wrong.
pub(crate) fn invalid_params(message: impl Into<String>) -> ErrorObjectOwned {
    error(-32602, message)
}

/// A node error as the client should see it: refusals are -32000, failures -32603.
pub(crate) fn node_error(e: NodeError) -> ErrorObjectOwned {
    match e {
        NodeError::Rejected(why) => error(-32000, why.to_string()),
        NodeError::Execution(m) => error(-32000, m),
        e @ (NodeError::StateUnavailable { .. } | NodeError::DevOnly(_) | NodeError::InvalidTimestamp { .. }) => {
            error(-32000, e.to_string())
        }
        e @ NodeError::BadOverride(_) => error(-32602, e.to_string()),
        other => error(-32603, other.to_string()),
    }
}

/// A failed call as geth reports it: code 3 with the revert data, and the reason decoded
/// where the data says one (`Error(string)`, `Panic(uint256)`, or the precompile's coded
/// `AiopError`).
pub(crate) fn reverted(result: &ExecutionResult) -> ErrorObjectOwned {
    match result {
        ExecutionResult::Revert { output, .. } => {
            let reason = aiop_precompile::revert::describe(output).or_else(|| revert_reason(output));
            let message = match reason {
                Some(reason) => format!("execution reverted: {reason}"),
                None => "execution reverted".to_string(),
            };
            ErrorObjectOwned::owned(3, message, Some(output.clone()))
        }
        other => error(-32000, describe_failure(other)),
    }
}

/// The reason of `Error(string)` (the string itself, as geth shows it) or `Panic(uint256)`.
fn revert_reason(output: &[u8]) -> Option<String> {
    use alloy_sol_types::{Panic, Revert, SolError};
    if let Ok(revert) = Revert::abi_decode(output) {
        return Some(revert.reason);
    }
    Panic::abi_decode(output).ok().map(|panic| panic.to_string())
}

/// Every method, merged into one module.
pub fn module(ctx: RpcCtx) -> RpcModule<()> {
    let mut module = RpcModule::new(());
    let parts: [jsonrpsee::core::server::Methods; 12] = [
        Web3ApiServer::into_rpc(ctx.clone()).into(),
        NetApiServer::into_rpc(ctx.clone()).into(),
        EthApiServer::into_rpc(ctx.clone()).into(),
        EthFilterApiServer::into_rpc(ctx.clone()).into(),
        EthPubSubApiServer::into_rpc(ctx.clone()).into(),
        EthSignApiServer::into_rpc(ctx.clone()).into(),
        PersonalApiServer::into_rpc(ctx.clone()).into(),
        DebugApiServer::into_rpc(ctx.clone()).into(),
        TxpoolApiServer::into_rpc(ctx.clone()).into(),
        DevApiServer::into_rpc(ctx.clone()).into(),
        AnvilApiServer::into_rpc(ctx.clone()).into(),
        AiopApiServer::into_rpc(ctx).into(),
    ];
    for part in parts {
        // Each namespace's names are distinct, so merging cannot collide.
        module.merge(part).expect("method names are unique across namespaces");
    }
    module
}

pub use server::{ServerConfig, serve};
