//! The transaction pool: signed transactions waiting for a block, per sender in nonce order.
//!
//! As in geth and anvil, a transaction whose nonce leaves a gap is queued, not refused, and
//! becomes pending once the gap is filled; a transaction with the nonce of a pooled one
//! replaces it only if it raises both fee caps by [`PRICE_BUMP`] percent. Blocks take the
//! pending transactions in arrival order, each sender's in nonce order.
//!
//! What it must never do: grow without bound ([`POOL_LIMIT`], [`QUEUE_PER_SENDER`]), or hand a
//! block a sender's transaction before that sender's lower nonces.

use crate::error::TxRejection;
use alloy_consensus::{Transaction, TxEnvelope, transaction::Recovered};
use alloy_primitives::{Address, B256};
use std::collections::{BTreeMap, HashMap, HashSet};

/// Most transactions the pool holds (geth's default global slots, pending plus queued).
pub const POOL_LIMIT: usize = 6144;
/// Most transactions one sender may have queued behind a nonce gap (geth's `accountqueue`).
pub const QUEUE_PER_SENDER: usize = 64;
/// How much a replacement must raise both fee caps, in percent (geth's `pricebump`).
pub const PRICE_BUMP: u64 = 10;

#[derive(Debug, Clone)]
struct Entry {
    tx: Recovered<TxEnvelope>,
    arrival: u64,
}

/// The waiting transactions.
#[derive(Debug, Default)]
pub struct Pool {
    by_sender: BTreeMap<Address, BTreeMap<u64, Entry>>,
    by_hash: HashMap<B256, (Address, u64)>,
    arrivals: u64,
}

/// A sender's pooled transactions split as `txpool_content` reports them.
#[derive(Debug, Default, Clone)]
pub struct Split {
    /// Transactions that can go in the next block, by sender, in nonce order.
    pub pending: BTreeMap<Address, Vec<Recovered<TxEnvelope>>>,
    /// Transactions behind a nonce gap, by sender, in nonce order.
    pub queued: BTreeMap<Address, Vec<Recovered<TxEnvelope>>>,
}

impl Pool {
    /// How many transactions wait.
    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    /// Whether none wait.
    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    /// The pooled transaction with `hash`.
    pub fn get(&self, hash: &B256) -> Option<&Recovered<TxEnvelope>> {
        let (sender, nonce) = self.by_hash.get(hash)?;
        self.by_sender.get(sender)?.get(nonce).map(|e| &e.tx)
    }

    /// The nonce after `sender`'s pending transactions, given its nonce in the state.
    pub fn next_nonce(&self, sender: &Address, state_nonce: u64) -> u64 {
        let mut next = state_nonce;
        if let Some(txs) = self.by_sender.get(sender) {
            for nonce in txs.range(state_nonce..).map(|(n, _)| *n) {
                if nonce != next {
                    break;
                }
                next += 1;
            }
        }
        next
    }

    /// Adds `tx` from a sender whose state nonce is `state_nonce`. Returns the hash of the
    /// transaction it replaced, if any.
    pub fn insert(&mut self, tx: Recovered<TxEnvelope>, state_nonce: u64) -> Result<Option<B256>, TxRejection> {
        let hash = *tx.tx_hash();
        if self.by_hash.contains_key(&hash) {
            return Err(TxRejection::AlreadyPending(hash));
        }
        let (sender, nonce) = (tx.signer(), tx.nonce());
        if nonce < state_nonce {
            return Err(TxRejection::NonceTooLow { expected: state_nonce, got: nonce });
        }
        let next = self.next_nonce(&sender, state_nonce);
        let replaced = match self.by_sender.get(&sender).and_then(|txs| txs.get(&nonce)) {
            Some(old) => {
                if !pays_enough_more(&old.tx, &tx) {
                    return Err(TxRejection::ReplacementUnderpriced { nonce, bump: PRICE_BUMP });
                }
                Some(*old.tx.tx_hash())
            }
            None => {
                if self.len() >= POOL_LIMIT {
                    return Err(TxRejection::PoolFull { limit: POOL_LIMIT });
                }
                let queued = self.by_sender.get(&sender).map_or(0, |txs| txs.range(next..).count());
                if nonce > next && queued >= QUEUE_PER_SENDER {
                    return Err(TxRejection::QueueFull { sender, limit: QUEUE_PER_SENDER });
                }
                None
            }
        };
        if let Some(old) = replaced {
            self.by_hash.remove(&old);
        }
        self.arrivals += 1;
        self.by_hash.insert(hash, (sender, nonce));
        self.by_sender.entry(sender).or_default().insert(nonce, Entry { tx, arrival: self.arrivals });
        Ok(replaced)
    }

    /// The transactions the next block can take, given each sender's state nonce: arrival
    /// order across senders, nonce order within one.
    pub fn executable(&self, state_nonce: impl Fn(&Address) -> u64) -> Vec<Recovered<TxEnvelope>> {
        let mut runs: Vec<std::collections::VecDeque<&Entry>> = self
            .by_sender
            .iter()
            .map(|(sender, txs)| contiguous(txs, state_nonce(sender)).collect())
            .filter(|run: &std::collections::VecDeque<&Entry>| !run.is_empty())
            .collect();
        let mut out = Vec::new();
        // A k-way merge on the arrival of each sender's next transaction.
        while let Some(run) = runs.iter_mut().filter(|r| !r.is_empty()).min_by_key(|r| r[0].arrival) {
            if let Some(entry) = run.pop_front() {
                out.push(entry.tx.clone());
            }
        }
        out
    }

    /// Every pooled transaction split into pending and queued.
    pub fn split(&self, state_nonce: impl Fn(&Address) -> u64) -> Split {
        let mut split = Split::default();
        for (sender, txs) in &self.by_sender {
            let pending: Vec<_> = contiguous(txs, state_nonce(sender)).map(|e| e.tx.clone()).collect();
            let pending_hashes: HashSet<B256> = pending.iter().map(|t| *t.tx_hash()).collect();
            let queued: Vec<_> =
                txs.values().filter(|e| !pending_hashes.contains(e.tx.tx_hash())).map(|e| e.tx.clone()).collect();
            if !pending.is_empty() {
                split.pending.insert(*sender, pending);
            }
            if !queued.is_empty() {
                split.queued.insert(*sender, queued);
            }
        }
        split
    }

    /// Every pooled transaction, oldest first.
    pub fn all(&self) -> Vec<Recovered<TxEnvelope>> {
        let mut entries: Vec<&Entry> = self.by_sender.values().flat_map(|txs| txs.values()).collect();
        entries.sort_by_key(|e| e.arrival);
        entries.into_iter().map(|e| e.tx.clone()).collect()
    }

    /// Removes the transactions with these hashes.
    pub fn remove(&mut self, hashes: &HashSet<B256>) {
        for hash in hashes {
            if let Some((sender, nonce)) = self.by_hash.remove(hash)
                && let Some(txs) = self.by_sender.get_mut(&sender)
            {
                txs.remove(&nonce);
                if txs.is_empty() {
                    self.by_sender.remove(&sender);
                }
            }
        }
    }

    /// Drops transactions whose nonce the state has passed (after a block, or an `evm_revert`
    /// that emptied the pool's view of the chain).
    pub fn prune(&mut self, state_nonce: impl Fn(&Address) -> u64) {
        let stale: HashSet<B256> = self
            .by_sender
            .iter()
            .flat_map(|(sender, txs)| txs.range(..state_nonce(sender)).map(|(_, e)| *e.tx.tx_hash()))
            .collect();
        self.remove(&stale);
    }

    /// Empties the pool.
    pub fn clear(&mut self) {
        self.by_sender.clear();
        self.by_hash.clear();
    }
}

fn contiguous(txs: &BTreeMap<u64, Entry>, from: u64) -> impl Iterator<Item = &Entry> {
    txs.range(from..).enumerate().take_while(move |(i, (nonce, _))| **nonce == from + *i as u64).map(|(_, (_, e))| e)
}

/// Whether `new` raises both fee caps of `old` by at least [`PRICE_BUMP`] percent.
fn pays_enough_more(old: &Recovered<TxEnvelope>, new: &Recovered<TxEnvelope>) -> bool {
    let bumped = |fee: u128| fee.saturating_mul(100 + u128::from(PRICE_BUMP)) / 100;
    let old_tip = old.max_priority_fee_per_gas().unwrap_or(old.max_fee_per_gas());
    let new_tip = new.max_priority_fee_per_gas().unwrap_or(new.max_fee_per_gas());
    new.max_fee_per_gas() >= bumped(old.max_fee_per_gas()) && new_tip >= bumped(old_tip)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_consensus::{SignableTransaction, TxEip1559};
    use alloy_primitives::{Signature, TxKind, U256};

    fn tx(sender: u8, nonce: u64, fee: u128) -> Recovered<TxEnvelope> {
        let tx = TxEip1559 {
            chain_id: 1,
            nonce,
            gas_limit: 21_000,
            max_fee_per_gas: fee,
            max_priority_fee_per_gas: fee / 2,
            to: TxKind::Call(Address::ZERO),
            // The sender is not part of the signed fields; the value keeps hashes apart.
            value: U256::from(sender),
            access_list: Default::default(),
            input: Default::default(),
        };
        let signed = tx.into_signed(Signature::test_signature());
        Recovered::new_unchecked(signed.into(), Address::with_last_byte(sender))
    }

    #[test]
    fn a_gap_is_queued_until_filled_then_pending_in_nonce_order() {
        let mut pool = Pool::default();
        pool.insert(tx(1, 2, 100), 0).unwrap();
        pool.insert(tx(1, 1, 100), 0).unwrap();
        assert!(pool.executable(|_| 0).is_empty(), "nonce 0 is missing");
        assert_eq!(pool.split(|_| 0).queued[&Address::with_last_byte(1)].len(), 2);
        assert_eq!(pool.next_nonce(&Address::with_last_byte(1), 0), 0);
        pool.insert(tx(1, 0, 100), 0).unwrap();
        let nonces: Vec<u64> = pool.executable(|_| 0).iter().map(|t| t.nonce()).collect();
        assert_eq!(nonces, [0, 1, 2]);
        assert_eq!(pool.next_nonce(&Address::with_last_byte(1), 0), 3);
    }

    #[test]
    fn senders_interleave_by_arrival_and_each_keeps_nonce_order() {
        let mut pool = Pool::default();
        pool.insert(tx(1, 1, 100), 0).unwrap();
        pool.insert(tx(2, 0, 100), 0).unwrap();
        pool.insert(tx(1, 0, 100), 0).unwrap();
        let order: Vec<(u8, u64)> = pool.executable(|_| 0).iter().map(|t| (t.signer().0[19], t.nonce())).collect();
        assert_eq!(order, [(2, 0), (1, 0), (1, 1)]);
    }

    #[test]
    fn replacement_needs_the_price_bump_and_limits_hold() {
        let mut pool = Pool::default();
        pool.insert(tx(1, 0, 100), 0).unwrap();
        assert!(matches!(pool.insert(tx(1, 0, 105), 0), Err(TxRejection::ReplacementUnderpriced { .. })));
        let replaced = pool.insert(tx(1, 0, 110), 0).unwrap();
        assert!(replaced.is_some());
        assert_eq!(pool.len(), 1);
        assert!(matches!(pool.insert(tx(1, 0, 50), 1), Err(TxRejection::NonceTooLow { .. })));
        for nonce in 2..2 + QUEUE_PER_SENDER as u64 {
            pool.insert(tx(1, nonce, 100), 0).unwrap();
        }
        assert!(matches!(pool.insert(tx(1, 999, 100), 0), Err(TxRejection::QueueFull { .. })));
        // The state moves to nonce 3 (say, by a block from elsewhere): 0 and 2 are stale, and
        // 3.. are now pending.
        pool.prune(|_| 3);
        assert_eq!(pool.len(), QUEUE_PER_SENDER - 1);
        let split = pool.split(|_| 3);
        assert!(split.queued.is_empty());
        assert_eq!(split.pending[&Address::with_last_byte(1)].len(), QUEUE_PER_SENDER - 1);
    }
}
