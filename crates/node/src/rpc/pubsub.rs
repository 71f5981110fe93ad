//! `eth_subscribe` over WebSocket: `newHeads`, `logs` (with a filter) and
//! `newPendingTransactions` (hashes, or whole transactions with `true`), pushed as the node
//! commits blocks and pools transactions. A subscriber that falls behind skips what it missed
//! rather than holding the node's memory.

use super::{RpcCtx, api::EthPubSubApiServer, types::block_logs};
use crate::node::NodeEvent;
use alloy_primitives::{B256, keccak256};
use alloy_rpc_types_eth::{
    Filter, Header as RpcHeader,
    pubsub::{Params, SubscriptionKind},
};
use jsonrpsee::{
    PendingSubscriptionSink, SubscriptionSink,
    core::{SubscriptionResult, async_trait},
    types::SubscriptionId,
};
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::broadcast::error::RecvError;

/// Subscription ids as geth writes them: `0x` and 32 hex digits, unguessable by other clients.
#[derive(Debug)]
pub struct HexIdProvider {
    seed: B256,
    counter: AtomicU64,
}

impl Default for HexIdProvider {
    fn default() -> Self {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
        let seed = keccak256([nanos.to_be_bytes().as_slice(), &std::process::id().to_be_bytes()].concat());
        HexIdProvider { seed, counter: AtomicU64::new(0) }
    }
}

impl jsonrpsee::server::IdProvider for HexIdProvider {
    fn next_id(&self) -> SubscriptionId<'static> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let id = keccak256([self.seed.as_slice(), &n.to_be_bytes()].concat());
        SubscriptionId::Str(format!("0x{}", alloy_primitives::hex::encode(&id[..16])).into())
    }
}

async fn send(sink: &SubscriptionSink, item: &impl Serialize) -> bool {
    match serde_json::value::to_raw_value(item) {
        Ok(json) => sink.send(json).await.is_ok(),
        Err(_) => false,
    }
}

#[async_trait]
impl EthPubSubApiServer for RpcCtx {
    async fn subscribe(
        &self,
        pending: PendingSubscriptionSink,
        kind: SubscriptionKind,
        params: Option<Params>,
    ) -> SubscriptionResult {
        let full_txs = matches!(params, Some(Params::Bool(true)));
        let filter = match (&kind, params) {
            (SubscriptionKind::Logs, Some(Params::Logs(filter))) => *filter,
            (SubscriptionKind::Logs, None | Some(Params::None)) => Filter::default(),
            (SubscriptionKind::NewPendingTransactions, Some(Params::Bool(_)) | None | Some(Params::None)) => {
                Filter::default()
            }
            (SubscriptionKind::NewHeads, None | Some(Params::None)) => Filter::default(),
            (SubscriptionKind::Syncing | SubscriptionKind::TransactionReceipts, _) => {
                pending.reject(super::invalid_params("this devnet does not offer that subscription")).await;
                return Ok(());
            }
            _ => {
                pending.reject(super::invalid_params("these parameters do not fit the subscription")).await;
                return Ok(());
            }
        };
        let mut events = self.node.subscribe();
        let node = self.node.clone();
        let sink = pending.accept().await?;
        tokio::spawn(async move {
            loop {
                let event = tokio::select! {
                    _ = sink.closed() => break,
                    event = events.recv() => event,
                };
                let alive = match event {
                    Ok(NodeEvent::Block(block)) => match kind {
                        SubscriptionKind::NewHeads => {
                            let header = RpcHeader {
                                hash: block.hash,
                                inner: block.header.clone(),
                                total_difficulty: Some(alloy_primitives::U256::ZERO),
                                size: None,
                            };
                            send(&sink, &header).await
                        }
                        SubscriptionKind::Logs => {
                            let mut alive = true;
                            if filter.matches_bloom(block.header.logs_bloom) {
                                for log in block_logs(&block).into_iter().filter(|l| filter.matches(&l.inner)) {
                                    alive &= send(&sink, &log).await;
                                }
                            }
                            alive
                        }
                        _ => true,
                    },
                    Ok(NodeEvent::PendingTransaction(hash)) => match kind {
                        SubscriptionKind::NewPendingTransactions if full_txs => match node.pooled(&hash) {
                            Ok(Some(tx)) => send(&sink, &super::types::pooled_tx(tx)).await,
                            _ => true,
                        },
                        SubscriptionKind::NewPendingTransactions => send(&sink, &hash).await,
                        _ => true,
                    },
                    Err(RecvError::Lagged(_)) => true,
                    Err(RecvError::Closed) => false,
                };
                if !alive {
                    break;
                }
            }
        });
        Ok(())
    }
}
