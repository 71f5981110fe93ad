//! The running chain: blocks and state in memory (backed by [`Store`]), the transaction pool,
//! block production, and the read-side queries the RPC serves.

use crate::{
    chain::{DevAccount, SPEC, dev_accounts},
    error::{NodeError, Result},
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
    collections::HashMap,
    path::PathBuf,
    sync::{Mutex, RwLock},
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

/// Blocks, indexes and the latest state.
#[derive(Debug, Default)]
pub struct Chain {
    /// All blocks, by number.
    pub blocks: Vec<StoredBlock>,
    /// Block hashes by number.
    pub hashes: Vec<B256>,
    /// Block numbers by hash.
    pub by_hash: HashMap<B256, u64>,
    /// `(block, index)` of each transaction.
    pub tx_index: HashMap<B256, (u64, usize)>,
    /// The state after the last block.
    pub world: WorldState,
}

impl Chain {
    /// The last block.
    pub fn head(&self) -> &StoredBlock {
        self.blocks.last().expect("genesis is always present")
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

/// The node.
#[derive(Debug)]
pub struct Node {
    /// Chain id.
    pub chain_id: u64,
    /// The genesis in use.
    pub genesis: Genesis,
    /// Blocks and state.
    pub chain: RwLock<Chain>,
    /// Transactions waiting for the next block (interval mining only).
    pub pool: Mutex<Vec<Recovered<TxEnvelope>>>,
    /// The database.
    pub store: Store,
    /// The EVM factory.
    pub factory: NodeEvmFactory,
    /// Kernel path.
    pub kernels: KernelPath,
    /// Unlocked accounts.
    pub accounts: Vec<DevAccount>,
    /// One block per transaction.
    pub automine: bool,
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

    /// Read access to the chain.
    pub fn read(&self) -> std::sync::RwLockReadGuard<'_, Chain> {
        self.chain.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The base fee the next block will have.
    pub fn next_base_fee(&self) -> u64 {
        next_base_fee(&self.read().head().header)
    }

    /// The next nonce of `address`, counting pooled transactions.
    pub fn pending_nonce(&self, address: Address) -> u64 {
        let base = self.read().world.accounts.get(&address).map(|a| a.nonce).unwrap_or_default();
        let pooled =
            self.pool.lock().unwrap_or_else(|p| p.into_inner()).iter().filter(|t| t.signer() == address).count();
        base + pooled as u64
    }

    /// Validates and accepts a signed transaction: mines it at once (automine), or pools it.
    pub fn submit(&self, tx: TxEnvelope) -> Result<B256> {
        if tx.is_eip4844() {
            return Err(NodeError::InvalidTx("blob transactions are not supported by this devnet".into()));
        }
        if let Some(id) = tx.chain_id()
            && id != self.chain_id
        {
            return Err(NodeError::InvalidTx(format!("invalid chain id {id}: this chain's id is {}", self.chain_id)));
        }
        let signer = tx
            .recover_signer()
            .map_err(|_| NodeError::InvalidTx("invalid signature: the sender cannot be recovered".into()))?;
        let hash = *tx.tx_hash();
        let tx = Recovered::new_unchecked(tx, signer);
        {
            let chain = self.read();
            if chain.tx_index.contains_key(&hash) {
                return Err(NodeError::InvalidTx(format!("already known: transaction {hash} is in block")));
            }
            let head = &chain.head().header;
            // Not `pending_nonce`: a second read lock on this thread could deadlock behind a
            // waiting writer.
            let pooled =
                self.pool.lock().unwrap_or_else(|p| p.into_inner()).iter().filter(|t| t.signer() == signer).count();
            let expected = chain.world.accounts.get(&signer).map(|a| a.nonce).unwrap_or_default() + pooled as u64;
            if tx.nonce() < expected {
                return Err(NodeError::InvalidTx(format!(
                    "nonce too low: next nonce {expected}, tx nonce {}",
                    tx.nonce()
                )));
            }
            if tx.nonce() > expected {
                return Err(NodeError::InvalidTx(format!(
                    "nonce too high: next nonce {expected}, tx nonce {} (gaps are not queued)",
                    tx.nonce()
                )));
            }
            if tx.gas_limit() > head.gas_limit {
                return Err(NodeError::InvalidTx(format!(
                    "exceeds block gas limit: tx gas {} > block gas limit {}",
                    tx.gas_limit(),
                    head.gas_limit
                )));
            }
            let base_fee = next_base_fee(head);
            if tx.max_fee_per_gas() < base_fee as u128 {
                return Err(NodeError::InvalidTx(format!(
                    "max fee per gas less than block base fee: maxFeePerGas {}, baseFee {base_fee}",
                    tx.max_fee_per_gas()
                )));
            }
            let balance = chain.world.accounts.get(&signer).map(|a| a.balance).unwrap_or_default();
            let cost =
                U256::from(tx.gas_limit()).saturating_mul(U256::from(tx.max_fee_per_gas())).saturating_add(tx.value());
            if balance < cost {
                return Err(NodeError::InvalidTx(format!(
                    "insufficient funds for gas * price + value: address {signer} have {balance} want {cost}"
                )));
            }
        }
        if self.automine {
            let block = self.mine(vec![tx])?;
            if let Some((_, why)) = block.1.into_iter().next() {
                return Err(NodeError::InvalidTx(why));
            }
        } else {
            self.pool.lock().unwrap_or_else(|p| p.into_inner()).push(tx);
        }
        Ok(hash)
    }

    /// Seals the pooled transactions into a block (interval mining).
    pub fn mine_pending(&self) -> Result<StoredBlock> {
        let txs = std::mem::take(&mut *self.pool.lock().unwrap_or_else(|p| p.into_inner()));
        let (block, rejected) = self.mine(txs)?;
        for (hash, why) in rejected {
            warn!(%hash, "dropped transaction: {why}");
        }
        Ok(block)
    }

    /// Builds, executes and commits one block with `txs`; invalid ones are left out.
    pub fn mine(&self, txs: Vec<Recovered<TxEnvelope>>) -> Result<(StoredBlock, Vec<(B256, String)>)> {
        let _guard = self.mine_lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut chain = self.chain.write().unwrap_or_else(|p| p.into_inner());
        let parent = chain.head().header.clone();
        let env = BlockEnvInput {
            chain_id: self.chain_id,
            number: parent.number + 1,
            timestamp: now_secs().max(parent.timestamp + 1),
            parent_hash: chain.head().hash,
            base_fee: next_base_fee(&parent),
            gas_limit: parent.gas_limit,
            beneficiary: Address::ZERO,
            prevrandao: keccak256(chain.head().hash),
            extra_data: Bytes::new(),
        };
        let started = std::time::Instant::now();
        let executed = execute_block(&self.factory, &chain.world, &chain.hashes, &env, txs, true)?;
        if !executed.rejected.is_empty() && executed.included.is_empty() {
            return Ok((chain.head().clone(), executed.rejected));
        }
        chain.world.apply(&executed.diff);
        let state_root = chain.world.state_root();
        let header = build_header(&env, &executed, state_root);
        let hash = header.hash_slow();
        let block = StoredBlock { header, hash, txs: executed.included, receipts: executed.receipts };
        if let Err(e) = self.store.commit_block(&block, &executed.diff, &chain.world) {
            // The in-memory state is now ahead of the database; the only safe thing is to stop.
            tracing::error!("cannot commit block {}: {e}; stopping", block.header.number);
            std::process::exit(1);
        }
        info!(
            number = block.header.number,
            txs = block.txs.len(),
            gas_used = block.header.gas_used,
            hash = %block.hash,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "sealed block"
        );
        chain.push(block.clone());
        Ok((block, executed.rejected))
    }

    /// Runs a call against the latest state (no state change).
    pub fn call(&self, req: &TransactionRequest, gas_cap: Option<u64>) -> Result<ExecutionResult<HaltReason>> {
        let chain = self.read();
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
        let result = evm.transact(tx).map_err(|e| NodeError::InvalidTx(e.to_string()))?;
        Ok(result.result)
    }

    /// The smallest gas limit with which the call succeeds.
    pub fn estimate_gas(
        &self,
        req: &TransactionRequest,
    ) -> Result<std::result::Result<u64, ExecutionResult<HaltReason>>> {
        let cap = self.read().head().header.gas_limit;
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
        let from = req.from.ok_or_else(|| NodeError::InvalidTx("eth_sendTransaction needs `from`".into()))?;
        let account = self
            .accounts
            .iter()
            .find(|a| a.address == from)
            .ok_or_else(|| {
                NodeError::InvalidTx(format!(
                    "unknown account {from}: only the dev accounts are unlocked (start with --dev)"
                ))
            })?
            .clone();
        let base_fee = self.next_base_fee() as u128;
        let tip = req.max_priority_fee_per_gas.unwrap_or(1_000_000_000);
        let max_fee = req.max_fee_per_gas.or(req.gas_price).unwrap_or(base_fee * 2 + tip);
        if req.gas.is_none() {
            req.gas = Some(match self.estimate_gas(&req)? {
                Ok(gas) => gas,
                Err(result) => {
                    return Err(NodeError::InvalidTx(format!("gas estimation failed: {}", describe_failure(&result))));
                }
            });
        }
        let tx = TxEip1559 {
            chain_id: self.chain_id,
            nonce: req.nonce.unwrap_or_else(|| self.pending_nonce(from)),
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
    let (sig, recid) = key
        .sign_prehash_recoverable(hash.as_slice())
        .map_err(|e| NodeError::InvalidTx(format!("signing failed: {e}")))?;
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
