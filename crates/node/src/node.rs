//! The running chain: the head block and its state in memory (everything older in [`Store`]),
//! the transaction pool, block production, dev-mode helpers, and the calls the RPC serves.
//!
//! What it must never do: serve a block the database has not committed, or hold the chain lock
//! while executing anything.

use crate::{
    chain::{DevAccount, SPEC, dev_accounts},
    error::{NodeError, Result, TxRejection},
    exec::{BlockEnvInput, NodeEvmFactory, build_header, evm_factory, execute_block, next_base_fee},
    pool::{Pool, Split},
    state::{DevEdit, Overlay, RecentHashes, StateDb, WorldState},
    storage::{Reader, StateAt, Store, StoredBlock},
};
use aiop_kernels::KernelPath;
use alloy_consensus::{
    EMPTY_ROOT_HASH, Header, Transaction, TxEip1559, TxEnvelope, transaction::Recovered, transaction::SignerRecoverable,
};
use alloy_eips::eip7685::EMPTY_REQUESTS_HASH;
use alloy_evm::{Evm, EvmEnv, EvmFactory};
use alloy_genesis::Genesis;
use alloy_primitives::{Address, B256, Bytes, TxKind, U256, keccak256};
use alloy_rpc_types_eth::{TransactionRequest, state::StateOverride};
use revm::context_interface::result::{ExecutionResult, HaltReason};
use revm::{Database, DatabaseRef, context::TxEnv, database::CacheDB};
use std::{
    collections::HashSet,
    path::PathBuf,
    sync::{Arc, Mutex, MutexGuard, RwLock},
    time::Duration,
};
use tracing::{info, warn};

/// How the node is configured.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Where the database lives.
    pub datadir: PathBuf,
    /// The genesis (`None`: the stored one, or the dev genesis for a fresh datadir).
    pub genesis: Option<Genesis>,
    /// Unlock the dev accounts for `eth_sendTransaction` / `eth_accounts`.
    pub dev: bool,
    /// Seal a block every interval (`None`: one block per transaction).
    pub block_time: Option<Duration>,
    /// Kernel path for inference.
    pub kernels: KernelPath,
}

/// What the node serves as its head: the last committed block, the state after it, and the
/// recent block hashes. Replaced whole, block by block, after the database has committed the
/// block ([`Node::mine`]); readers clone the `Arc`s and let go of the lock at once.
#[derive(Debug, Clone)]
struct Head {
    block: Arc<StoredBlock>,
    world: Arc<WorldState>,
    hashes: Arc<RecentHashes>,
    /// Bumped when `evm_revert` unwinds the chain, so a cached block of the old chain is never
    /// served to a reader of the new one.
    generation: u64,
}

/// How many recent blocks stay decoded in memory; older ones are read from the database.
pub const CACHED_BLOCKS: usize = 256;

/// The recent blocks, decoded, by number. Only the miner fills it.
#[derive(Debug, Default)]
struct BlockCache {
    generation: u64,
    blocks: std::collections::BTreeMap<u64, Arc<StoredBlock>>,
}

/// A consistent read-only view of the chain: the head when it was taken, its state, and a
/// snapshot of the database for everything older. Taking one holds the chain lock for a few
/// pointer copies; what is read through it never blocks block production.
#[derive(Debug)]
pub struct Chain {
    head: Head,
    reader: Reader,
    cache: Arc<Mutex<BlockCache>>,
}

impl Chain {
    /// The last block.
    pub fn head(&self) -> &StoredBlock {
        &self.head.block
    }

    /// The state after the last block.
    pub fn world(&self) -> &WorldState {
        &self.head.world
    }

    /// The hashes of the recent blocks (for BLOCKHASH).
    pub fn hashes(&self) -> &RecentHashes {
        &self.head.hashes
    }

    /// The database snapshot.
    pub fn reader(&self) -> &Reader {
        &self.reader
    }

    /// Block `number`, if the chain has it.
    pub fn block(&self, number: u64) -> Result<Option<Arc<StoredBlock>>> {
        let head = self.head.block.header.number;
        if number > head {
            return Ok(None);
        }
        if number == head {
            return Ok(Some(self.head.block.clone()));
        }
        if let Ok(cache) = self.cache.lock()
            && cache.generation == self.head.generation
            && let Some(block) = cache.blocks.get(&number)
        {
            return Ok(Some(block.clone()));
        }
        Ok(self.reader.block(number)?.map(Arc::new))
    }

    /// The number of the block with `hash`.
    pub fn number_of(&self, hash: &B256) -> Result<Option<u64>> {
        Ok(self.reader.number_of(hash)?.filter(|n| *n <= self.head.block.header.number))
    }

    /// The block with `hash`.
    pub fn block_by_hash(&self, hash: &B256) -> Result<Option<Arc<StoredBlock>>> {
        match self.number_of(hash)? {
            Some(n) => self.block(n),
            None => Ok(None),
        }
    }

    /// The block holding transaction `hash`, and the transaction's index in it.
    pub fn transaction(&self, hash: &B256) -> Result<Option<(Arc<StoredBlock>, usize)>> {
        let Some((number, index)) = self.reader.transaction(hash)? else { return Ok(None) };
        Ok(self.block(number)?.map(|block| (block, index)))
    }

    /// The state after block `number` as the EVM reads it: the head's from memory, an older
    /// one from the database's history.
    pub fn state_at(&self, number: u64) -> Result<StateDb<'_>> {
        let head = self.head.block.header.number;
        if number > head {
            return Err(NodeError::StateUnavailable { number, reason: format!("the head is block {head}") });
        }
        if number == head {
            return Ok(StateDb::Latest(Overlay::new(&self.head.world, &self.head.hashes)));
        }
        let from = self.reader.history_from()?;
        if number < from {
            return Err(NodeError::StateUnavailable {
                number,
                reason: format!("this database keeps state from block {from} (it was written by an older aiop)"),
            });
        }
        Ok(StateDb::At(StateAt { reader: &self.reader, block: number }))
    }

    /// `(nonce, balance, code hash)` of `address` after block `number`.
    pub fn account_at(&self, address: &Address, number: u64) -> Result<Option<(u64, U256, B256)>> {
        Ok(self.state_at(number)?.basic_ref(*address)?.map(|a| (a.nonce, a.balance, a.code_hash)))
    }

    /// Storage `slot` of `address` after block `number`.
    pub fn storage_at(&self, address: &Address, slot: U256, number: u64) -> Result<U256> {
        Ok(self.state_at(number)?.storage_ref(*address, slot)?)
    }

    /// The code of `address` after block `number`.
    pub fn code_at(&self, address: &Address, number: u64) -> Result<Bytes> {
        let state = self.state_at(number)?;
        let Some(account) = state.basic_ref(*address)? else { return Ok(Bytes::new()) };
        let code = match account.code {
            Some(code) => code,
            None => state.code_by_hash_ref(account.code_hash)?,
        };
        Ok(code.original_bytes())
    }
}

/// The genesis block header of `genesis` and its state.
pub fn genesis_block(genesis: &Genesis) -> (StoredBlock, WorldState) {
    let mut world = WorldState::from_genesis(genesis);
    let header = Header {
        state_root: world.state_root(),
        transactions_root: EMPTY_ROOT_HASH,
        receipts_root: EMPTY_ROOT_HASH,
        withdrawals_root: Some(EMPTY_ROOT_HASH),
        number: 0,
        gas_limit: genesis.gas_limit,
        timestamp: genesis.timestamp,
        extra_data: genesis.extra_data.clone(),
        mix_hash: genesis.mix_hash,
        nonce: genesis.nonce.into(),
        beneficiary: genesis.coinbase,
        difficulty: genesis.difficulty,
        base_fee_per_gas: Some(genesis.base_fee_per_gas.unwrap_or(crate::chain::INITIAL_BASE_FEE as u128) as u64),
        blob_gas_used: Some(0),
        excess_blob_gas: Some(0),
        parent_beacon_block_root: Some(crate::chain::BEACON_ROOT),
        requests_hash: Some(EMPTY_REQUESTS_HASH),
        ..Default::default()
    };
    let hash = header.hash_slow();
    (StoredBlock { header, hash, txs: vec![], receipts: vec![] }, world)
}

/// What the node announces to subscribers (`eth_subscribe`).
#[derive(Debug, Clone)]
pub enum NodeEvent {
    /// A block was committed and is now the head.
    Block(Arc<StoredBlock>),
    /// A transaction entered the pool.
    PendingTransaction(B256),
}

/// The dev-mode clock and snapshots (`evm_increaseTime`, `evm_setNextBlockTimestamp`,
/// `evm_snapshot`).
#[derive(Debug, Default)]
struct DevClock {
    offset: u64,
    /// The next block's timestamp, exactly (`evm_setNextBlockTimestamp`, `evm_mine(ts)`).
    next_timestamp: Option<u64>,
    /// The least timestamp of the next block (`evm_increaseTime`).
    next_at_least: Option<u64>,
    snapshots: std::collections::BTreeMap<u64, u64>,
    last_snapshot: u64,
}

/// The node: the chain, the pool, the database and the EVM factory. Share it with an `Arc`.
///
/// Locks: `mine_lock` serializes block production and every other change of the chain;
/// `head` is written only to swap in a block the database has committed; `pool` guards the
/// waiting transactions. Lock order: `mine_lock`, then `head`, then `pool`, then `clock`;
/// no thread takes them in another order, so no two threads can wait on each other.
#[derive(Debug)]
pub struct Node {
    chain_id: u64,
    genesis: Genesis,
    head: RwLock<Head>,
    cache: Arc<Mutex<BlockCache>>,
    pool: Mutex<Pool>,
    store: Store,
    factory: NodeEvmFactory,
    kernels: KernelPath,
    accounts: Vec<DevAccount>,
    automine: bool,
    mine_lock: Mutex<()>,
    clock: Mutex<DevClock>,
    events: tokio::sync::broadcast::Sender<NodeEvent>,
}

fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

/// The nonce of `address` in `world` (zero for an account that does not exist).
fn nonce_in(world: &WorldState, address: &Address) -> u64 {
    world.account(address).map(|a| a.nonce).unwrap_or_default()
}

impl Node {
    /// Opens the datadir: restores the committed chain, or writes the genesis to a fresh one.
    pub fn open(config: NodeConfig) -> Result<Node> {
        let store = Store::open(&config.datadir)?;
        let stored_genesis = store.genesis_json()?;
        let genesis = match (&stored_genesis, &config.genesis) {
            (Some(json), _) => serde_json::from_str::<Genesis>(json).map_err(|e| NodeError::Corrupt(e.to_string()))?,
            (None, Some(g)) => g.clone(),
            (None, None) => crate::chain::dev_genesis(),
        };
        let (genesis_blk, genesis_world) = genesis_block(&genesis);
        if let (Some(_), Some(given)) = (&stored_genesis, &config.genesis) {
            let (given_blk, _) = genesis_block(&crate::chain::complete_genesis(given.clone()));
            let given_id = given.config.chain_id;
            let (stored_activations, given_activations) =
                (crate::chain::activations(&genesis)?, crate::chain::activations(given)?);
            if given_blk.hash != genesis_blk.hash
                || given_id != genesis.config.chain_id
                || given_activations != stored_activations
            {
                let describe = crate::chain::describe_activations;
                return Err(NodeError::GenesisMismatch {
                    datadir: config.datadir.display().to_string(),
                    stored: format!(
                        "block {} with chain id {}, precompile {}",
                        genesis_blk.hash,
                        genesis.config.chain_id,
                        describe(&stored_activations)
                    ),
                    given: format!(
                        "block {} with chain id {given_id}, precompile {}",
                        given_blk.hash,
                        describe(&given_activations)
                    ),
                });
            }
        }
        let head = if stored_genesis.is_none() {
            let json = serde_json::to_string(&genesis).map_err(|e| NodeError::Genesis(e.to_string()))?;
            store.init(&json, &genesis_blk, &genesis_world)?;
            let mut hashes = RecentHashes::default();
            hashes.push(genesis_blk.hash);
            Head {
                block: Arc::new(genesis_blk),
                world: Arc::new(genesis_world),
                hashes: Arc::new(hashes),
                generation: 0,
            }
        } else {
            Self::restore(&store, &genesis_blk, &config.datadir)?
        };
        let factory = evm_factory(config.kernels, crate::chain::activations(&genesis)?)?;
        Ok(Node {
            chain_id: genesis.config.chain_id,
            genesis,
            head: RwLock::new(head),
            cache: Arc::default(),
            pool: Mutex::new(Pool::default()),
            store,
            factory,
            kernels: config.kernels,
            accounts: if config.dev { dev_accounts() } else { Vec::new() },
            automine: config.block_time.is_none(),
            mine_lock: Mutex::new(()),
            clock: Mutex::default(),
            events: tokio::sync::broadcast::channel(1024).0,
        })
    }

    /// The head of a stored chain, checked against its state root.
    fn restore(store: &Store, genesis: &StoredBlock, datadir: &std::path::Path) -> Result<Head> {
        let reader = store.reader()?;
        if reader.hash_of(0)? != Some(genesis.hash) {
            return Err(NodeError::Corrupt("stored block 0 is not the stored genesis".into()));
        }
        let number = store.block_count()?.saturating_sub(1);
        let block =
            reader.block(number)?.ok_or_else(|| NodeError::Corrupt(format!("head block {number} is missing")))?;
        let first = number.saturating_sub(crate::state::RECENT_HASHES as u64 - 1);
        let hashes = (first..=number)
            .map(|n| reader.hash_of(n)?.ok_or_else(|| NodeError::Corrupt(format!("no hash for block {n}"))))
            .collect::<Result<Vec<_>>>()?;
        let mut world = store.load_state()?;
        let root = world.state_root();
        if root != block.header.state_root {
            return Err(NodeError::Corrupt(format!(
                "state root {root} does not match head block {number} ({})",
                block.header.state_root
            )));
        }
        info!(head = number, "restored chain from {}", datadir.display());
        Ok(Head {
            block: Arc::new(block),
            world: Arc::new(world),
            hashes: Arc::new(RecentHashes::ending_at(number, hashes)),
            generation: 0,
        })
    }

    fn head(&self) -> Result<Head> {
        Ok(self.head.read().map_err(|_| NodeError::Poisoned("chain"))?.clone())
    }

    /// A consistent read-only view of the chain (see [`Chain`]).
    pub fn read(&self) -> Result<Chain> {
        // The database snapshot is taken under the lock, so it holds at least the head's block
        // (blocks are committed before they are swapped in).
        let guard = self.head.read().map_err(|_| NodeError::Poisoned("chain"))?;
        let reader = self.store.reader()?;
        Ok(Chain { head: guard.clone(), reader, cache: self.cache.clone() })
    }

    fn pool(&self) -> Result<MutexGuard<'_, Pool>> {
        self.pool.lock().map_err(|_| NodeError::Poisoned("transaction pool"))
    }

    fn clock(&self) -> Result<MutexGuard<'_, DevClock>> {
        self.clock.lock().map_err(|_| NodeError::Poisoned("dev clock"))
    }

    /// This chain's id.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// The genesis in use.
    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }

    /// The EVM factory blocks and calls execute with.
    pub fn factory(&self) -> &NodeEvmFactory {
        &self.factory
    }

    /// The kernel path inference runs on (speed only).
    pub fn kernels(&self) -> KernelPath {
        self.kernels
    }

    /// The unlocked dev accounts (empty without `--dev`).
    pub fn accounts(&self) -> &[DevAccount] {
        &self.accounts
    }

    /// Whether a block is sealed for every transaction (no `--dev.block-time`).
    pub fn automine(&self) -> bool {
        self.automine
    }

    /// New blocks and pooled transactions, as they happen.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<NodeEvent> {
        self.events.subscribe()
    }

    /// The database. Only for tests (fault injection); the node owns every write.
    #[doc(hidden)]
    pub fn store_for_tests(&self) -> &Store {
        &self.store
    }

    /// The transactions waiting for a block, oldest first (pending and queued).
    pub fn pending(&self) -> Result<Vec<Recovered<TxEnvelope>>> {
        Ok(self.pool()?.all())
    }

    /// The pooled transaction with `hash`.
    pub fn pooled(&self, hash: &B256) -> Result<Option<Recovered<TxEnvelope>>> {
        Ok(self.pool()?.get(hash).cloned())
    }

    /// The pool split into pending (next block) and queued (behind a nonce gap).
    pub fn pool_content(&self) -> Result<Split> {
        let head = self.head()?;
        Ok(self.pool()?.split(|a| nonce_in(&head.world, a)))
    }

    /// The base fee the next block will have.
    pub fn next_base_fee(&self) -> Result<u64> {
        Ok(next_base_fee(&self.head()?.block.header))
    }

    /// The next nonce of `address`, counting its pending transactions.
    pub fn pending_nonce(&self, address: Address) -> Result<u64> {
        // The chain lock is held while the pool is read: a block swapped in between the two
        // would count its transactions neither in the state nor in the pool.
        let head = self.head.read().map_err(|_| NodeError::Poisoned("chain"))?;
        let base = nonce_in(&head.world, &address);
        Ok(self.pool()?.next_nonce(&address, base))
    }

    /// Validates and accepts a signed transaction into the pool; in automine mode, seals the
    /// block that holds it (and whatever it made executable) at once.
    pub fn submit(&self, tx: TxEnvelope) -> Result<B256> {
        if tx.is_eip4844() {
            return Err(TxRejection::BlobUnsupported.into());
        }
        if let Some(id) = tx.chain_id()
            && id != self.chain_id
        {
            return Err(TxRejection::WrongChainId { got: id, expected: self.chain_id }.into());
        }
        let signer = tx.recover_signer().map_err(|_| TxRejection::BadSignature)?;
        let hash = *tx.tx_hash();
        let tx = Recovered::new_unchecked(tx, signer);
        if self.store.reader()?.transaction(&hash)?.is_some() {
            return Err(TxRejection::AlreadyKnown(hash).into());
        }
        let executable_now = {
            let head = self.head.read().map_err(|_| NodeError::Poisoned("chain"))?;
            let header = &head.block.header;
            if tx.gas_limit() > header.gas_limit {
                return Err(TxRejection::GasAboveBlockLimit { gas: tx.gas_limit(), limit: header.gas_limit }.into());
            }
            let base_fee = next_base_fee(header);
            if tx.max_fee_per_gas() < base_fee as u128 {
                return Err(TxRejection::FeeBelowBaseFee { max_fee: tx.max_fee_per_gas(), base_fee }.into());
            }
            let have = head.world.account(&signer).map(|a| a.balance).unwrap_or_default();
            let want =
                U256::from(tx.gas_limit()).saturating_mul(U256::from(tx.max_fee_per_gas())).saturating_add(tx.value());
            if have < want {
                return Err(TxRejection::InsufficientFunds { address: signer, have, want }.into());
            }
            let state_nonce = nonce_in(&head.world, &signer);
            let mut pool = self.pool()?;
            let nonce = tx.nonce();
            pool.insert(tx, state_nonce)?;
            nonce < pool.next_nonce(&signer, state_nonce)
        };
        let _ = self.events.send(NodeEvent::PendingTransaction(hash));
        if self.automine && executable_now {
            let (_, rejected) = self.mine_block(Vec::new())?;
            if let Some((_, why)) = rejected.into_iter().find(|(h, _)| *h == hash) {
                return Err(TxRejection::Invalid(why).into());
            }
        }
        Ok(hash)
    }

    /// Seals the pending transactions into a block (interval mining, `evm_mine`). What does
    /// not fit stays pooled for the next block; only invalid transactions are dropped.
    pub fn mine_pending(&self) -> Result<StoredBlock> {
        let (block, rejected) = self.mine_block(Vec::new())?;
        for (hash, why) in rejected {
            warn!(%hash, "dropped invalid transaction: {why}");
        }
        Ok(block)
    }

    /// Seals a block of the pending transactions, after `edits` (dev-mode state changes).
    fn mine_block(&self, edits: Vec<DevEdit>) -> Result<(StoredBlock, Vec<(B256, String)>)> {
        let _guard = self.mine_lock.lock().map_err(|_| NodeError::Poisoned("block production"))?;
        let head = self.head()?;
        let txs = self.pool()?.executable(|a| nonce_in(&head.world, a));
        self.mine_locked(&head, txs, edits)
    }

    /// Builds, executes and commits one block with `txs`; invalid ones are left out.
    ///
    /// The order is what makes a crash harmless: execute against the committed state, commit
    /// the block with its state to the database, and only then swap both into memory. Nothing
    /// is served that the database does not hold, and a failed commit changes nothing.
    pub fn mine(&self, txs: Vec<Recovered<TxEnvelope>>) -> Result<(StoredBlock, Vec<(B256, String)>)> {
        let _guard = self.mine_lock.lock().map_err(|_| NodeError::Poisoned("block production"))?;
        let head = self.head()?;
        self.mine_locked(&head, txs, Vec::new())
    }

    fn next_timestamp(&self, parent: &Header) -> Result<u64> {
        let mut clock = self.clock()?;
        let clock_time = now_secs().saturating_add(clock.offset);
        let at_least = clock.next_at_least.take().unwrap_or_default();
        let wanted = clock.next_timestamp.take().unwrap_or(clock_time.max(at_least));
        Ok(wanted.max(parent.timestamp + 1))
    }

    fn mine_locked(
        &self,
        head: &Head,
        txs: Vec<Recovered<TxEnvelope>>,
        edits: Vec<DevEdit>,
    ) -> Result<(StoredBlock, Vec<(B256, String)>)> {
        let started = std::time::Instant::now();
        let parent = &head.block;
        let env = BlockEnvInput {
            chain_id: self.chain_id,
            number: parent.header.number + 1,
            timestamp: self.next_timestamp(&parent.header)?,
            parent_hash: parent.hash,
            base_fee: next_base_fee(&parent.header),
            gas_limit: parent.header.gas_limit,
            beneficiary: Address::ZERO,
            prevrandao: keccak256(parent.hash),
            extra_data: Bytes::new(),
        };
        let wanted = txs.len();
        let executed = execute_block(&self.factory, &head.world, &head.hashes, &env, txs, &edits, true)?;
        if wanted > 0 && executed.included.is_empty() && edits.is_empty() {
            // Nothing went in: no empty block for it; drop what is invalid, keep the rest.
            let rejected: HashSet<B256> = executed.rejected.iter().map(|(hash, _)| *hash).collect();
            self.pool()?.remove(&rejected);
            return Ok(((*parent.clone()).clone(), executed.rejected));
        }
        let mut world = (*head.world).clone();
        world.apply(&executed.diff);
        let header = build_header(&env, &executed, world.state_root());
        let hash = header.hash_slow();
        let block = StoredBlock { header, hash, txs: executed.included, receipts: executed.receipts };
        self.store.commit_block(&block, &executed.diff, &world, &edits).map_err(|e| NodeError::Commit {
            number: block.header.number,
            head: parent.header.number,
            reason: e.to_string(),
        })?;
        let block = Arc::new(block);
        {
            // Head, then pool: the order every reader takes them in.
            let mut current = self.head.write().map_err(|_| NodeError::Poisoned("chain"))?;
            let mut pool = self.pool()?;
            let done: HashSet<B256> =
                block.txs.iter().map(|t| *t.tx_hash()).chain(executed.rejected.iter().map(|(hash, _)| *hash)).collect();
            pool.remove(&done);
            pool.prune(|a| nonce_in(&world, a));
            let mut hashes = (*current.hashes).clone();
            hashes.push(block.hash);
            *current = Head {
                block: block.clone(),
                world: Arc::new(world),
                hashes: Arc::new(hashes),
                generation: current.generation,
            };
            if let Ok(mut cache) = self.cache.lock() {
                cache.generation = current.generation;
                cache.blocks.insert(block.header.number, block.clone());
                while cache.blocks.len() > CACHED_BLOCKS {
                    cache.blocks.pop_first();
                }
            }
        }
        let _ = self.events.send(NodeEvent::Block(block.clone()));
        info!(
            number = block.header.number,
            txs = block.txs.len(),
            deferred = executed.deferred.len(),
            gas_used = block.header.gas_used,
            hash = %block.hash,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "sealed block"
        );
        Ok(((*block).clone(), executed.rejected))
    }

    /// Applies dev-mode state edits (`anvil_setBalance` and the like) by sealing a block that
    /// begins with them, so that they are part of the chain: in its state root, replayed by
    /// `aiop chain verify`, kept across restarts. Pending transactions go in the same block.
    pub fn apply_edits(&self, edits: Vec<DevEdit>) -> Result<StoredBlock> {
        if self.accounts.is_empty() {
            return Err(NodeError::DevOnly("state edits"));
        }
        Ok(self.mine_block(edits)?.0)
    }

    /// Moves the clock of later blocks forward by `seconds`: the next block is at least
    /// `seconds` after the head (whose timestamp may run ahead of the wall clock when blocks
    /// come faster than one a second), and later ones keep the offset. Returns the total offset.
    pub fn increase_time(&self, seconds: u64) -> Result<u64> {
        let head = self.head()?.block.header.timestamp;
        let mut clock = self.clock()?;
        clock.offset = clock.offset.saturating_add(seconds);
        let floor = head.saturating_add(seconds);
        clock.next_at_least = Some(clock.next_at_least.map_or(floor, |t| t.max(floor)));
        Ok(clock.offset)
    }

    /// Sets the timestamp of the next block (at least its parent's plus one).
    pub fn set_next_timestamp(&self, timestamp: u64) -> Result<()> {
        let head = self.head()?;
        if timestamp <= head.block.header.timestamp {
            return Err(NodeError::InvalidTimestamp { timestamp, parent: head.block.header.timestamp });
        }
        self.clock()?.next_timestamp = Some(timestamp);
        Ok(())
    }

    /// Remembers the current head; [`Node::revert_to_snapshot`] returns to it.
    pub fn take_snapshot(&self) -> Result<u64> {
        let number = self.head()?.block.header.number;
        let mut clock = self.clock()?;
        clock.last_snapshot += 1;
        let id = clock.last_snapshot;
        clock.snapshots.insert(id, number);
        Ok(id)
    }

    /// Unwinds the chain to the head snapshot `id` remembered, as `evm_revert` does: later
    /// blocks and the transactions in them are gone, as are the snapshot and later ones.
    /// Returns false for an unknown id.
    pub fn revert_to_snapshot(&self, id: u64) -> Result<bool> {
        if self.accounts.is_empty() {
            return Err(NodeError::DevOnly("evm_revert"));
        }
        let _guard = self.mine_lock.lock().map_err(|_| NodeError::Poisoned("block production"))?;
        let Some(keep) = self.clock()?.snapshots.get(&id).copied() else { return Ok(false) };
        self.store.unwind_to(keep)?;
        let genesis = self.store.reader()?.block(0)?.ok_or_else(|| NodeError::Corrupt("no genesis".into()))?;
        let mut restored = Self::restore(&self.store, &genesis, std::path::Path::new("(revert)"))?;
        {
            let mut current = self.head.write().map_err(|_| NodeError::Poisoned("chain"))?;
            let mut pool = self.pool()?;
            restored.generation = current.generation + 1;
            *current = restored;
            pool.clear();
            if let Ok(mut cache) = self.cache.lock() {
                cache.blocks.clear();
                cache.generation = current.generation;
            }
            self.clock()?.snapshots.retain(|k, _| *k < id);
        }
        info!(head = keep, "reverted to snapshot {id}");
        Ok(true)
    }

    /// Runs a call on the state after block `at` (`None`: the head) with `overrides`, its gas
    /// limit at most `gas_cap` (the RPC's), without changing anything.
    pub fn call(
        &self,
        req: &TransactionRequest,
        at: Option<u64>,
        overrides: Option<&StateOverride>,
        gas_cap: u64,
    ) -> Result<ExecutionResult<HaltReason>> {
        let chain = self.read()?;
        self.call_on(&chain, req, at, overrides, gas_cap)
    }

    /// [`Node::call`] on a view the caller already holds.
    pub fn call_on(
        &self,
        chain: &Chain,
        req: &TransactionRequest,
        at: Option<u64>,
        overrides: Option<&StateOverride>,
        gas_cap: u64,
    ) -> Result<ExecutionResult<HaltReason>> {
        let (db, env, tx) = self.prepare_call(chain, req, at, overrides, gas_cap)?;
        let mut evm = self.factory.create_evm(db, env);
        let result = evm.transact(tx).map_err(|e| TxRejection::Invalid(e.to_string()))?;
        Ok(result.result)
    }

    /// The database, environment and transaction of a call: what [`Node::call_on`] executes,
    /// and what tracing and access-list creation execute with an inspector.
    pub fn prepare_call<'a>(
        &self,
        chain: &'a Chain,
        req: &TransactionRequest,
        at: Option<u64>,
        overrides: Option<&StateOverride>,
        gas_cap: u64,
    ) -> Result<(CacheDB<StateDb<'a>>, EvmEnv, TxEnv)> {
        let number = at.unwrap_or(chain.head().header.number);
        let block = chain
            .block(number)?
            .ok_or_else(|| NodeError::StateUnavailable { number, reason: "no such block".into() })?;
        let header = &block.header;
        let gas_limit = req.gas.unwrap_or(gas_cap).min(gas_cap);
        let mut env = BlockEnvInput {
            chain_id: self.chain_id,
            number: header.number + 1,
            timestamp: header.timestamp + 1,
            parent_hash: block.hash,
            base_fee: 0,
            gas_limit: header.gas_limit.max(gas_limit),
            beneficiary: Address::ZERO,
            prevrandao: keccak256(block.hash),
            extra_data: Bytes::new(),
        }
        .evm_env();
        env.cfg_env.disable_nonce_check = true;
        let mut db = CacheDB::new(chain.state_at(number)?);
        if let Some(overrides) = overrides {
            apply_overrides(&mut db, overrides)?;
        }
        let nonce = match req.nonce {
            Some(nonce) => nonce,
            None => req.from.map_or(Ok(0), |from| db.basic(from).map(|a| a.map(|a| a.nonce).unwrap_or_default()))?,
        };
        let tx = tx_env(req, self.chain_id, gas_limit, nonce)?;
        Ok((db, env, tx))
    }

    /// The smallest gas limit with which the call succeeds, at most `gas_cap`.
    pub fn estimate_gas(
        &self,
        req: &TransactionRequest,
        at: Option<u64>,
        overrides: Option<&StateOverride>,
        gas_cap: u64,
    ) -> Result<std::result::Result<u64, ExecutionResult<HaltReason>>> {
        let chain = self.read()?;
        let cap = req.gas.unwrap_or(gas_cap).min(gas_cap).min(chain.head().header.gas_limit);
        let call = |gas: u64| {
            let req = TransactionRequest { gas: Some(gas), ..req.clone() };
            self.call_on(&chain, &req, at, overrides, gas_cap)
        };
        let first = call(cap)?;
        if !first.is_success() {
            return Ok(Err(first));
        }
        // Below the intrinsic gas the EVM refuses the transaction outright: that is a failure
        // at that limit, not an error of the estimate.
        let succeeds = |gas: u64| match call(gas) {
            Ok(result) => Ok(result.is_success()),
            Err(NodeError::Rejected(TxRejection::Invalid(_))) => Ok(false),
            Err(e) => Err(e),
        };
        let used = first.gas().tx_gas_used();
        // Gas used is a lower bound (refunds, the 63/64 rule); search upward from it.
        let mut lo = used.saturating_sub(1);
        let mut hi = cap;
        let optimistic = (used + used / 4 + 2300).min(hi);
        if succeeds(optimistic)? {
            hi = optimistic;
        } else {
            lo = optimistic;
        }
        while hi - lo > 1 && (hi - lo) * 100 > hi {
            let mid = lo + (hi - lo) / 2;
            if succeeds(mid)? {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        Ok(Ok(hi))
    }

    /// Signs a request with an unlocked dev account and submits it.
    pub fn send_transaction(&self, req: TransactionRequest, gas_cap: u64) -> Result<B256> {
        let envelope = self.sign_request(req, gas_cap)?;
        self.submit(envelope)
    }

    /// Fills in a request (nonce, fees, gas) and signs it with an unlocked dev account: the
    /// transaction type follows the fields given, as in geth (`authorizationList`: EIP-7702;
    /// fee caps: EIP-1559; `gasPrice` with an access list: EIP-2930; `gasPrice`: legacy).
    pub fn sign_request(&self, mut req: TransactionRequest, gas_cap: u64) -> Result<TxEnvelope> {
        let from = req.from.ok_or(TxRejection::MissingFrom)?;
        let account =
            self.accounts.iter().find(|a| a.address == from).ok_or(TxRejection::UnknownAccount(from))?.clone();
        if req.nonce.is_none() {
            req.nonce = Some(self.pending_nonce(from)?);
        }
        if req.gas.is_none() {
            req.gas = Some(match self.estimate_gas(&req, None, None, gas_cap)? {
                Ok(gas) => gas,
                Err(result) => {
                    return Err(TxRejection::EstimationFailed(describe_failure(&result)).into());
                }
            });
        }
        let base_fee = self.next_base_fee()? as u128;
        let legacy = req.gas_price.is_some() && req.max_fee_per_gas.is_none() && req.authorization_list.is_none();
        if !legacy {
            let tip = req.max_priority_fee_per_gas.unwrap_or(crate::rpc::SUGGESTED_TIP);
            let max_fee = req.max_fee_per_gas.or(req.gas_price).unwrap_or(base_fee * 2 + tip);
            req.max_priority_fee_per_gas = Some(tip.min(max_fee));
            req.max_fee_per_gas = Some(max_fee);
            req.gas_price = None;
        }
        if req.chain_id.is_none() {
            req.chain_id = Some(self.chain_id);
        }
        if req.to.is_none() {
            req.to = Some(TxKind::Create);
        }
        let typed = req.build_typed_tx().map_err(|_| {
            TxRejection::Signing(
                "the request's fields do not make a transaction (give `to` for an EIP-7702 transaction)".into(),
            )
        })?;
        crate::sign::sign_transaction(&account.key, typed)
    }
}

/// Applies `eth_call` state overrides (geth's semantics: `state` replaces all storage,
/// `stateDiff` changes single slots).
fn apply_overrides(db: &mut CacheDB<StateDb<'_>>, overrides: &StateOverride) -> Result<()> {
    // Sorted, so that the order of a hash map never shows.
    let ordered: std::collections::BTreeMap<&Address, _> = overrides.iter().collect();
    for (address, o) in ordered {
        if o.state.is_some() && o.state_diff.is_some() {
            return Err(NodeError::BadOverride(format!("{address}: `state` and `stateDiff` cannot both be given")));
        }
        if o.move_precompile_to.is_some() {
            return Err(NodeError::BadOverride(format!("{address}: movePrecompileToAddress is not supported")));
        }
        let mut info = db.basic(*address)?.unwrap_or_default();
        if let Some(balance) = o.balance {
            info.balance = balance;
        }
        if let Some(nonce) = o.nonce {
            info.nonce = nonce;
        }
        if let Some(code) = &o.code {
            let bytecode = revm::bytecode::Bytecode::new_raw(code.clone());
            info.code_hash = bytecode.hash_slow();
            info.code = Some(bytecode);
        }
        db.insert_account_info(*address, info);
        if let Some(state) = &o.state {
            let slots = state.iter().map(|(k, v)| (U256::from_be_bytes(k.0), U256::from_be_bytes(v.0)));
            db.replace_account_storage(*address, slots.collect())?;
        }
        if let Some(diff) = &o.state_diff {
            for (k, v) in diff {
                db.insert_account_storage(*address, U256::from_be_bytes(k.0), U256::from_be_bytes(v.0))?;
            }
        }
    }
    Ok(())
}

/// The EVM transaction of a call request: its type follows the fields given, and its access
/// list and authorization list are kept (they change the gas, so an estimate without them is
/// wrong).
pub fn tx_env(req: &TransactionRequest, chain_id: u64, gas_limit: u64, nonce: u64) -> Result<TxEnv> {
    let tx_type = if req.authorization_list.is_some() {
        4
    } else if req.max_fee_per_gas.is_some() || req.max_priority_fee_per_gas.is_some() {
        2
    } else if req.access_list.is_some() {
        1
    } else {
        req.transaction_type.unwrap_or(0)
    };
    let mut tx = TxEnv {
        tx_type,
        caller: req.from.unwrap_or_default(),
        gas_limit,
        gas_price: req.max_fee_per_gas.or(req.gas_price).unwrap_or_default(),
        gas_priority_fee: req.max_priority_fee_per_gas,
        kind: req.to.unwrap_or(TxKind::Create),
        value: req.value.unwrap_or_default(),
        data: req.input.input().cloned().unwrap_or_default(),
        nonce,
        chain_id: Some(chain_id),
        access_list: req.access_list.clone().unwrap_or_default(),
        ..Default::default()
    };
    if let Some(list) = &req.authorization_list {
        if matches!(tx.kind, TxKind::Create) {
            return Err(NodeError::BadOverride("an EIP-7702 transaction needs `to`".into()));
        }
        tx.set_signed_authorization(list.clone());
    }
    Ok(tx)
}

/// Signs an EIP-1559 transaction.
pub fn sign(tx: TxEip1559, key: &k256::ecdsa::SigningKey) -> Result<TxEnvelope> {
    crate::sign::sign_transaction(key, tx.into())
}

/// A one-line description of a failed execution.
pub fn describe_failure(result: &ExecutionResult<HaltReason>) -> String {
    match result {
        ExecutionResult::Success { .. } => "success".into(),
        ExecutionResult::Revert { output, .. } => {
            format!("execution reverted (data 0x{})", alloy_primitives::hex::encode(output))
        }
        ExecutionResult::Halt { reason, .. } => format!("execution halted: {reason:?}"),
    }
}

/// The EVM spec in use, for logs.
pub fn spec_name() -> &'static str {
    let _ = SPEC;
    "Prague"
}
