//! The running chain: blocks and state in memory (backed by [`Store`]), the transaction pool,
//! block production, and the read-side queries the RPC serves.

use crate::{
    chain::{DevAccount, SPEC, dev_accounts},
    error::{NodeError, Result, TxRejection},
    exec::{BlockEnvInput, NodeEvmFactory, build_header, evm_factory, execute_block, next_base_fee},
    state::{Overlay, WorldState},
    storage::{Store, StoredBlock},
};
use aiop_kernels::KernelPath;
use alloy_consensus::{
    EMPTY_ROOT_HASH, Header, SignableTransaction, Transaction, TxEip1559, TxEnvelope, transaction::Recovered,
    transaction::SignerRecoverable,
};
use alloy_eips::eip7685::EMPTY_REQUESTS_HASH;
use alloy_evm::{Evm, EvmFactory};
use alloy_genesis::Genesis;
use alloy_primitives::{Address, B256, Bytes, Signature, TxKind, U256, keccak256};
use alloy_rpc_types_eth::TransactionRequest;
use revm::context::TxEnv;
use revm::context_interface::result::{ExecutionResult, HaltReason};
use std::{
    collections::{HashMap, HashSet},
    path::PathBuf,
    sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard},
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

/// Blocks, indexes and the latest state: what the database holds, in memory. Replaced only
/// whole, block by block, after the database has committed the block ([`Node::mine`]).
#[derive(Debug, Default)]
pub struct Chain {
    blocks: Vec<StoredBlock>,
    hashes: Vec<B256>,
    by_hash: HashMap<B256, u64>,
    tx_index: HashMap<B256, (u64, usize)>,
    world: WorldState,
}

impl Chain {
    /// The last block.
    pub fn head(&self) -> &StoredBlock {
        // `Node::open` pushes the genesis before a `Chain` is shared, and blocks are never removed.
        self.blocks.last().expect("genesis is always present")
    }

    /// Block `number`, if the chain has it.
    pub fn block(&self, number: u64) -> Option<&StoredBlock> {
        usize::try_from(number).ok().and_then(|n| self.blocks.get(n))
    }

    /// The number of the block with `hash`.
    pub fn number_of(&self, hash: &B256) -> Option<u64> {
        self.by_hash.get(hash).copied()
    }

    /// The block with `hash`.
    pub fn block_by_hash(&self, hash: &B256) -> Option<&StoredBlock> {
        self.number_of(hash).and_then(|n| self.block(n))
    }

    /// The block holding transaction `hash`, and the transaction's index in it.
    pub fn transaction(&self, hash: &B256) -> Option<(&StoredBlock, usize)> {
        let (number, index) = *self.tx_index.get(hash)?;
        Some((self.block(number)?, index))
    }

    /// The state after the last block.
    pub fn world(&self) -> &WorldState {
        &self.world
    }

    /// Block hashes by number (for BLOCKHASH).
    pub fn hashes(&self) -> &[B256] {
        &self.hashes
    }

    fn push(&mut self, block: StoredBlock) {
        let n = block.header.number;
        for (i, tx) in block.txs.iter().enumerate() {
            self.tx_index.insert(*tx.tx_hash(), (n, i));
        }
        self.by_hash.insert(block.hash, n);
        self.hashes.push(block.hash);
        self.blocks.push(block);
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

/// The node: the chain, the pool, the database and the EVM factory. Share it with an `Arc`.
///
/// Locks: `mine_lock` serializes block production; `chain` is written only to swap in a block
/// the database has committed; `pool` guards the waiting transactions. A lock is never taken
/// while another is held except `mine_lock`, then `chain` (a read while executing, a write for
/// the swap), so no two threads can wait on each other.
#[derive(Debug)]
pub struct Node {
    chain_id: u64,
    genesis: Genesis,
    chain: RwLock<Chain>,
    pool: Mutex<Vec<Recovered<TxEnvelope>>>,
    store: Store,
    factory: NodeEvmFactory,
    kernels: KernelPath,
    accounts: Vec<DevAccount>,
    automine: bool,
    mine_lock: Mutex<()>,
}

fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
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
        let mut chain = Chain::default();
        if stored_genesis.is_none() {
            let json = serde_json::to_string(&genesis).map_err(|e| NodeError::Genesis(e.to_string()))?;
            store.init(&json, &genesis_blk, &genesis_world)?;
            chain.world = genesis_world;
            chain.push(genesis_blk);
        } else {
            let count = store.block_count()?;
            for n in 0..count {
                chain.push(store.block(n)?);
            }
            if chain.blocks.first().map(|b| b.hash) != Some(genesis_blk.hash) {
                return Err(NodeError::Corrupt("stored block 0 is not the stored genesis".into()));
            }
            chain.world = store.load_state()?;
            let root = chain.world.state_root();
            if root != chain.head().header.state_root {
                return Err(NodeError::Corrupt(format!(
                    "state root {root} does not match head block {} ({})",
                    chain.head().header.number,
                    chain.head().header.state_root
                )));
            }
            info!(head = chain.head().header.number, "restored chain from {}", config.datadir.display());
        }
        let factory = evm_factory(config.kernels, crate::chain::activations(&genesis)?)?;
        Ok(Node {
            chain_id: genesis.config.chain_id,
            genesis,
            chain: RwLock::new(chain),
            pool: Mutex::new(Vec::new()),
            store,
            factory,
            kernels: config.kernels,
            accounts: if config.dev { dev_accounts() } else { Vec::new() },
            automine: config.block_time.is_none(),
            mine_lock: Mutex::new(()),
        })
    }

    /// Read access to the chain: a consistent view of committed blocks and their state.
    pub fn read(&self) -> Result<RwLockReadGuard<'_, Chain>> {
        self.chain.read().map_err(|_| NodeError::Poisoned("chain"))
    }

    fn pool(&self) -> Result<MutexGuard<'_, Vec<Recovered<TxEnvelope>>>> {
        self.pool.lock().map_err(|_| NodeError::Poisoned("transaction pool"))
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

    /// The database. Only for tests (fault injection); the node owns every write.
    #[doc(hidden)]
    pub fn store_for_tests(&self) -> &Store {
        &self.store
    }

    /// The transactions waiting for the next block, oldest first.
    pub fn pending(&self) -> Result<Vec<Recovered<TxEnvelope>>> {
        Ok(self.pool()?.clone())
    }

    /// The base fee the next block will have.
    pub fn next_base_fee(&self) -> Result<u64> {
        Ok(next_base_fee(&self.read()?.head().header))
    }

    /// The next nonce of `address`, counting pooled transactions.
    pub fn pending_nonce(&self, address: Address) -> Result<u64> {
        // The chain lock is held while the pool is read: a block swapped in between the two
        // would count its transactions neither in the state nor in the pool.
        let chain = self.read()?;
        let base = chain.world.accounts.get(&address).map(|a| a.nonce).unwrap_or_default();
        let pooled = self.pool()?.iter().filter(|t| t.signer() == address).count();
        Ok(base + pooled as u64)
    }

    /// Validates and accepts a signed transaction: mines it at once (automine), or pools it.
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
        {
            let chain = self.read()?;
            if chain.tx_index.contains_key(&hash) {
                return Err(TxRejection::AlreadyKnown(hash).into());
            }
            let head = &chain.head().header;
            // Not `pending_nonce`: a second read lock on this thread could deadlock behind a
            // waiting writer.
            let pool = self.pool()?;
            if pool.iter().any(|t| *t.tx_hash() == hash) {
                return Err(TxRejection::AlreadyPending(hash).into());
            }
            let pooled = pool.iter().filter(|t| t.signer() == signer).count();
            drop(pool);
            let expected = chain.world.accounts.get(&signer).map(|a| a.nonce).unwrap_or_default() + pooled as u64;
            if tx.nonce() < expected {
                return Err(TxRejection::NonceTooLow { expected, got: tx.nonce() }.into());
            }
            if tx.nonce() > expected {
                return Err(TxRejection::NonceTooHigh { expected, got: tx.nonce() }.into());
            }
            if tx.gas_limit() > head.gas_limit {
                return Err(TxRejection::GasAboveBlockLimit { gas: tx.gas_limit(), limit: head.gas_limit }.into());
            }
            let base_fee = next_base_fee(head);
            if tx.max_fee_per_gas() < base_fee as u128 {
                return Err(TxRejection::FeeBelowBaseFee { max_fee: tx.max_fee_per_gas(), base_fee }.into());
            }
            let have = chain.world.accounts.get(&signer).map(|a| a.balance).unwrap_or_default();
            let want =
                U256::from(tx.gas_limit()).saturating_mul(U256::from(tx.max_fee_per_gas())).saturating_add(tx.value());
            if have < want {
                return Err(TxRejection::InsufficientFunds { address: signer, have, want }.into());
            }
        }
        if self.automine {
            let block = self.mine(vec![tx])?;
            if let Some((_, why)) = block.1.into_iter().next() {
                return Err(TxRejection::Invalid(why).into());
            }
        } else {
            self.pool()?.push(tx);
        }
        Ok(hash)
    }

    /// Seals the pooled transactions into a block (interval mining). They stay in the pool
    /// until the block holding them is swapped in ([`Node::mine`]), so that every transaction
    /// is always either pending or mined, also while the block is built and committed, and a
    /// block that fails to commit loses none.
    pub fn mine_pending(&self) -> Result<StoredBlock> {
        let txs = self.pool()?.clone();
        let (block, rejected) = self.mine(txs)?;
        for (hash, why) in rejected {
            warn!(%hash, "dropped transaction: {why}");
        }
        Ok(block)
    }

    /// Builds, executes and commits one block with `txs`; invalid ones are left out.
    ///
    /// The order is what makes a crash harmless: execute against the committed state, commit
    /// the block with its state to the database, and only then swap both into memory. Nothing
    /// is served that the database does not hold, and a failed commit changes nothing.
    pub fn mine(&self, txs: Vec<Recovered<TxEnvelope>>) -> Result<(StoredBlock, Vec<(B256, String)>)> {
        let _guard = self.mine_lock.lock().map_err(|_| NodeError::Poisoned("block production"))?;
        let started = std::time::Instant::now();
        // Only this thread writes `chain`, and only below, so the state read here is still the
        // head when the block is swapped in.
        let (block, rejected, world) = {
            let chain = self.read()?;
            let parent = chain.head();
            let env = BlockEnvInput {
                chain_id: self.chain_id,
                number: parent.header.number + 1,
                timestamp: now_secs().max(parent.header.timestamp + 1),
                parent_hash: parent.hash,
                base_fee: next_base_fee(&parent.header),
                gas_limit: parent.header.gas_limit,
                beneficiary: Address::ZERO,
                prevrandao: keccak256(parent.hash),
                extra_data: Bytes::new(),
            };
            let executed = execute_block(&self.factory, &chain.world, &chain.hashes, &env, txs, true)?;
            if !executed.rejected.is_empty() && executed.included.is_empty() {
                let rejected: HashSet<B256> = executed.rejected.iter().map(|(hash, _)| *hash).collect();
                self.pool()?.retain(|t| !rejected.contains(t.tx_hash()));
                return Ok((parent.clone(), executed.rejected));
            }
            let mut world = chain.world.clone();
            world.apply(&executed.diff);
            let header = build_header(&env, &executed, world.state_root());
            let hash = header.hash_slow();
            let block = StoredBlock { header, hash, txs: executed.included, receipts: executed.receipts };
            self.store.commit_block(&block, &executed.diff, &world).map_err(|e| NodeError::Commit {
                number: block.header.number,
                head: parent.header.number,
                reason: e.to_string(),
            })?;
            (block, executed.rejected, world)
        };
        {
            // Chain, then pool: the order every reader takes them in.
            let mut chain = self.chain.write().map_err(|_| NodeError::Poisoned("chain"))?;
            let mut pool = self.pool()?;
            let done: HashSet<B256> =
                block.txs.iter().map(|t| *t.tx_hash()).chain(rejected.iter().map(|(hash, _)| *hash)).collect();
            pool.retain(|t| !done.contains(t.tx_hash()));
            chain.world = world;
            chain.push(block.clone());
        }
        info!(
            number = block.header.number,
            txs = block.txs.len(),
            gas_used = block.header.gas_used,
            hash = %block.hash,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "sealed block"
        );
        Ok((block, rejected))
    }

    /// Runs a call against the latest state (no state change).
    pub fn call(&self, req: &TransactionRequest, gas_cap: Option<u64>) -> Result<ExecutionResult<HaltReason>> {
        let chain = self.read()?;
        let head = &chain.head().header;
        let mut env = BlockEnvInput {
            chain_id: self.chain_id,
            number: head.number + 1,
            timestamp: head.timestamp + 1,
            parent_hash: chain.head().hash,
            base_fee: 0,
            gas_limit: head.gas_limit,
            beneficiary: Address::ZERO,
            prevrandao: keccak256(chain.head().hash),
            extra_data: Bytes::new(),
        }
        .evm_env();
        env.cfg_env.disable_nonce_check = true;
        let gas_limit = gas_cap.or(req.gas).unwrap_or(head.gas_limit).min(head.gas_limit);
        let tx = TxEnv {
            tx_type: 0,
            caller: req.from.unwrap_or_default(),
            gas_limit,
            gas_price: req.gas_price.or(req.max_fee_per_gas).unwrap_or_default(),
            kind: req.to.unwrap_or(TxKind::Create),
            value: req.value.unwrap_or_default(),
            data: req.input.input().cloned().unwrap_or_default(),
            nonce: 0,
            chain_id: Some(self.chain_id),
            ..Default::default()
        };
        let overlay = Overlay::new(&chain.world, &chain.hashes);
        let mut evm = self.factory.create_evm(overlay, env);
        let result = evm.transact(tx).map_err(|e| TxRejection::Invalid(e.to_string()))?;
        Ok(result.result)
    }

    /// The smallest gas limit with which the call succeeds.
    pub fn estimate_gas(
        &self,
        req: &TransactionRequest,
    ) -> Result<std::result::Result<u64, ExecutionResult<HaltReason>>> {
        let cap = self.read()?.head().header.gas_limit;
        let first = self.call(req, Some(req.gas.unwrap_or(cap)))?;
        if !first.is_success() {
            return Ok(Err(first));
        }
        let used = first.gas().tx_gas_used();
        // Gas used is a lower bound (refunds, the 63/64 rule); search upward from it.
        let mut lo = used.saturating_sub(1);
        let mut hi = req.gas.unwrap_or(cap);
        let optimistic = (used + used / 4 + 2300).min(hi);
        if self.call(req, Some(optimistic))?.is_success() {
            hi = optimistic;
        } else {
            lo = optimistic;
        }
        while hi - lo > 1 && (hi - lo) * 100 > hi {
            let mid = lo + (hi - lo) / 2;
            if self.call(req, Some(mid))?.is_success() {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        Ok(Ok(hi))
    }

    /// Signs a request with an unlocked dev account and submits it.
    pub fn send_transaction(&self, mut req: TransactionRequest) -> Result<B256> {
        let from = req.from.ok_or(TxRejection::MissingFrom)?;
        let account =
            self.accounts.iter().find(|a| a.address == from).ok_or(TxRejection::UnknownAccount(from))?.clone();
        let base_fee = self.next_base_fee()? as u128;
        let tip = req.max_priority_fee_per_gas.unwrap_or(1_000_000_000);
        let max_fee = req.max_fee_per_gas.or(req.gas_price).unwrap_or(base_fee * 2 + tip);
        if req.gas.is_none() {
            req.gas = Some(match self.estimate_gas(&req)? {
                Ok(gas) => gas,
                Err(result) => {
                    return Err(TxRejection::EstimationFailed(describe_failure(&result)).into());
                }
            });
        }
        let tx = TxEip1559 {
            chain_id: self.chain_id,
            nonce: match req.nonce {
                Some(nonce) => nonce,
                None => self.pending_nonce(from)?,
            },
            max_priority_fee_per_gas: tip.min(max_fee),
            max_fee_per_gas: max_fee,
            gas_limit: req.gas.unwrap_or_default(),
            to: req.to.unwrap_or(TxKind::Create),
            value: req.value.unwrap_or_default(),
            input: req.input.input().cloned().unwrap_or_default(),
            access_list: req.access_list.clone().unwrap_or_default(),
        };
        let envelope = sign(tx, &account.key)?;
        self.submit(envelope)
    }
}

/// Signs an EIP-1559 transaction.
pub fn sign(tx: TxEip1559, key: &k256::ecdsa::SigningKey) -> Result<TxEnvelope> {
    let hash = tx.signature_hash();
    let (sig, recid) =
        key.sign_prehash_recoverable(hash.as_slice()).map_err(|e| TxRejection::Signing(e.to_string()))?;
    let signature = Signature::from_signature_and_parity(sig, recid.is_y_odd());
    Ok(tx.into_signed(signature).into())
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
