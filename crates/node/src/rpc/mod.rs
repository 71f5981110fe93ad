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
pub mod eth;
pub mod filters;
pub mod types;

use crate::{
    error::NodeError,
    node::{Node, describe_failure},
};
use api::{AiopApiServer, DevApiServer, EthApiServer, EthFilterApiServer, NetApiServer, Web3ApiServer};
use jsonrpsee::{
    RpcModule,
    server::{Server, ServerHandle},
    types::ErrorObjectOwned,
};
use revm::context_interface::result::ExecutionResult;
use std::{net::SocketAddr, sync::Arc};

/// The tip the node suggests (1 gwei).
pub const SUGGESTED_TIP: u128 = 1_000_000_000;
/// Most blocks `eth_getLogs` scans in one call.
pub const MAX_LOG_RANGE: u64 = 100_000;

/// What every method implementation reads: the node, and the RPC's own state (polling
/// filters). Cloning shares both.
#[derive(Debug, Clone)]
pub struct RpcCtx {
    node: Arc<Node>,
    filters: Arc<filters::Filters>,
}

impl RpcCtx {
    /// Serves `node`.
    pub fn new(node: Arc<Node>) -> Self {
        RpcCtx { node, filters: Arc::default() }
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
    let parts: [jsonrpsee::core::server::Methods; 6] = [
        Web3ApiServer::into_rpc(ctx.clone()).into(),
        NetApiServer::into_rpc(ctx.clone()).into(),
        EthApiServer::into_rpc(ctx.clone()).into(),
        EthFilterApiServer::into_rpc(ctx.clone()).into(),
        DevApiServer::into_rpc(ctx.clone()).into(),
        AiopApiServer::into_rpc(ctx).into(),
    ];
    for part in parts {
        // Each namespace's names are distinct, so merging cannot collide.
        module.merge(part).expect("method names are unique across namespaces");
    }
    module
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
pub async fn serve(ctx: RpcCtx, addr: SocketAddr, cors: Option<&str>) -> anyhow::Result<(ServerHandle, SocketAddr)> {
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
