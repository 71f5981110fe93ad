//! Polling filters (`eth_newFilter`, `eth_newBlockFilter`, `eth_getFilterChanges`, ...): what
//! each watches and the next block it has not reported.

use super::{RpcCtx, api::EthFilterApiServer, error, eth::logs, invalid_params, types::FilterChanges};
use alloy_primitives::U64;
use alloy_rpc_types_eth::{Filter, Log};
use jsonrpsee::core::RpcResult;
use std::{
    collections::BTreeMap,
    sync::{
        Mutex, MutexGuard,
        atomic::{AtomicU64, Ordering},
    },
};

/// Most polling filters kept at once (the oldest is dropped beyond).
pub const MAX_FILTERS: usize = 1024;

#[derive(Debug)]
enum PollFilter {
    Blocks {
        next: u64,
    },
    Logs {
        filter: Box<Filter>,
        next: u64,
    },
    /// The node's announcements since the last poll (a lagging filter loses the oldest).
    PendingTxs(tokio::sync::broadcast::Receiver<crate::node::NodeEvent>),
}

/// The installed filters, by id.
#[derive(Debug, Default)]
pub struct Filters {
    // Ids only grow, so the first key is the oldest filter.
    installed: Mutex<BTreeMap<u64, PollFilter>>,
    last_id: AtomicU64,
}

impl Filters {
    fn installed(&self) -> RpcResult<MutexGuard<'_, BTreeMap<u64, PollFilter>>> {
        self.installed
            .lock()
            .map_err(|_| error(-32603, "internal error: the filter table is poisoned; restart the node"))
    }

    fn add(&self, filter: PollFilter) -> RpcResult<U64> {
        let id = self.last_id.fetch_add(1, Ordering::Relaxed) + 1;
        let mut installed = self.installed()?;
        if installed.len() >= MAX_FILTERS {
            installed.pop_first();
        }
        installed.insert(id, filter);
        Ok(U64::from(id))
    }
}

fn not_found() -> jsonrpsee::types::ErrorObjectOwned {
    error(-32000, "filter not found")
}

impl EthFilterApiServer for RpcCtx {
    fn new_filter(&self, filter: Filter) -> RpcResult<U64> {
        let next = self.chain()?.head().header.number + 1;
        self.filters.add(PollFilter::Logs { filter: Box::new(filter), next })
    }

    fn new_block_filter(&self) -> RpcResult<U64> {
        let next = self.chain()?.head().header.number + 1;
        self.filters.add(PollFilter::Blocks { next })
    }

    fn new_pending_transaction_filter(&self) -> RpcResult<U64> {
        self.filters.add(PollFilter::PendingTxs(self.node.subscribe()))
    }

    fn uninstall_filter(&self, id: U64) -> RpcResult<bool> {
        Ok(self.filters.installed()?.remove(&id.saturating_to::<u64>()).is_some())
    }

    fn filter_changes(&self, id: U64) -> RpcResult<FilterChanges> {
        let mut installed = self.filters.installed()?;
        let filter = installed.get_mut(&id.saturating_to::<u64>()).ok_or_else(not_found)?;
        let chain = self.chain()?;
        let head = chain.head().header.number;
        Ok(match filter {
            PollFilter::Blocks { next } => {
                let hashes = (*next..=head)
                    .map(|n| chain.reader().hash_of(n).map_err(super::node_error))
                    .collect::<RpcResult<Vec<_>>>()?
                    .into_iter()
                    .flatten()
                    .collect();
                *next = head + 1;
                FilterChanges::Hashes(hashes)
            }
            PollFilter::Logs { filter, next } => {
                let from = std::mem::replace(next, head + 1);
                if from > head {
                    FilterChanges::Logs(vec![])
                } else {
                    FilterChanges::Logs(logs(&chain, filter, Some((from, head)), &self.limits)?)
                }
            }
            PollFilter::PendingTxs(events) => {
                let mut hashes = Vec::new();
                loop {
                    match events.try_recv() {
                        Ok(crate::node::NodeEvent::PendingTransaction(hash)) => hashes.push(hash),
                        Ok(_) | Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) => {}
                        Err(_) => break,
                    }
                }
                FilterChanges::Hashes(hashes)
            }
        })
    }

    fn filter_logs(&self, id: U64) -> RpcResult<Vec<Log>> {
        let filter = match self.filters.installed()?.get(&id.saturating_to::<u64>()) {
            Some(PollFilter::Logs { filter, .. }) => filter.clone(),
            Some(_) => return Err(invalid_params("not a log filter")),
            None => return Err(not_found()),
        };
        logs(&self.chain()?, &filter, None, &self.limits)
    }
}
