//! World state: accounts, storage and code in ordered maps, the state root, and an overlay that
//! the EVM executes against so that a block's changes are collected as one [`Diff`].

use alloy_genesis::Genesis;
use alloy_primitives::{Address, B256, KECCAK256_EMPTY, U256, keccak256};
use alloy_trie::{TrieAccount, root::storage_root_unhashed};
use revm::{
    DatabaseCommit, DatabaseRef,
    bytecode::Bytecode,
    database_interface::Database,
    primitives::AddressMap,
    state::{Account, AccountInfo},
};
use std::{collections::BTreeMap, convert::Infallible};

/// One account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountState {
    /// Nonce.
    pub nonce: u64,
    /// Balance in wei.
    pub balance: U256,
    /// Keccak of the code (`KECCAK256_EMPTY` for none).
    pub code_hash: B256,
    /// Non-zero storage slots.
    pub storage: BTreeMap<U256, U256>,
}

impl AccountState {
    fn info(&self, codes: &BTreeMap<B256, Bytecode>) -> AccountInfo {
        AccountInfo {
            balance: self.balance,
            nonce: self.nonce,
            code_hash: self.code_hash,
            code: codes.get(&self.code_hash).cloned(),
            ..Default::default()
        }
    }
}

/// The whole state. Ordered maps only: nothing here depends on hashing order.
#[derive(Debug, Clone, Default)]
pub struct WorldState {
    /// Accounts by address.
    pub accounts: BTreeMap<Address, AccountState>,
    /// Code by hash.
    pub codes: BTreeMap<B256, Bytecode>,
    /// Storage roots of accounts whose storage has not changed since they were computed.
    storage_roots: BTreeMap<Address, B256>,
}

impl WorldState {
    /// The state of a genesis allocation.
    pub fn from_genesis(genesis: &Genesis) -> Self {
        let mut world = WorldState::default();
        for (address, account) in &genesis.alloc {
            let mut state = AccountState {
                nonce: account.nonce.unwrap_or_default(),
                balance: account.balance,
                code_hash: KECCAK256_EMPTY,
                storage: BTreeMap::new(),
            };
            if let Some(code) = account.code.as_ref().filter(|c| !c.is_empty()) {
                let bytecode = Bytecode::new_raw(code.clone());
                state.code_hash = keccak256(code);
                world.codes.insert(state.code_hash, bytecode);
            }
            for (slot, value) in account.storage.iter().flatten() {
                let value = U256::from_be_bytes(value.0);
                if !value.is_zero() {
                    state.storage.insert(U256::from_be_bytes(slot.0), value);
                }
            }
            world.accounts.insert(*address, state);
        }
        world
    }

    /// The Merkle-Patricia state root. Storage roots are cached per account until its storage
    /// changes.
    pub fn state_root(&mut self) -> B256 {
        let cache = &mut self.storage_roots;
        alloy_trie::root::state_root_unhashed(self.accounts.iter().map(|(address, account)| {
            let storage_root = *cache
                .entry(*address)
                .or_insert_with(|| storage_root_unhashed(account.storage.iter().map(|(k, v)| (B256::from(*k), *v))));
            (
                *address,
                TrieAccount {
                    nonce: account.nonce,
                    balance: account.balance,
                    storage_root,
                    code_hash: account.code_hash,
                },
            )
        }))
    }

    /// The code of an account (empty when none).
    pub fn code(&self, address: &Address) -> alloy_primitives::Bytes {
        self.accounts
            .get(address)
            .and_then(|a| self.codes.get(&a.code_hash))
            .map(|c| c.original_bytes())
            .unwrap_or_default()
    }

    /// Applies a block's changes.
    pub fn apply(&mut self, diff: &Diff) {
        for (hash, code) in &diff.codes {
            self.codes.insert(*hash, code.clone());
        }
        for (address, change) in &diff.accounts {
            if change.info.is_none() || change.storage_cleared || !change.storage.is_empty() {
                self.storage_roots.remove(address);
            }
            match &change.info {
                None => {
                    self.accounts.remove(address);
                }
                Some((nonce, balance, code_hash)) => {
                    let account = self.accounts.entry(*address).or_default();
                    account.nonce = *nonce;
                    account.balance = *balance;
                    account.code_hash = *code_hash;
                    if change.storage_cleared {
                        account.storage.clear();
                    }
                    for (slot, value) in &change.storage {
                        if value.is_zero() {
                            account.storage.remove(slot);
                        } else {
                            account.storage.insert(*slot, *value);
                        }
                    }
                }
            }
        }
    }
}

/// The change to one account in a block.
#[derive(Debug, Clone, Default)]
pub struct AccountChange {
    /// `(nonce, balance, code_hash)` after the block, or `None` when the account was deleted.
    pub info: Option<(u64, U256, B256)>,
    /// Whether all storage was wiped before `storage` applies (created or destroyed).
    pub storage_cleared: bool,
    /// Slots written (zero means deleted).
    pub storage: BTreeMap<U256, U256>,
}

/// A block's state changes, in order-independent form.
#[derive(Debug, Clone, Default)]
pub struct Diff {
    /// Changed accounts.
    pub accounts: BTreeMap<Address, AccountChange>,
    /// New code.
    pub codes: BTreeMap<B256, Bytecode>,
}

/// The EVM's database: reads fall through the block's diff to the world state; commits land in
/// the diff.
#[derive(Debug)]
pub struct Overlay<'a> {
    /// The state before the block.
    pub base: &'a WorldState,
    /// Hashes of the blocks so far (index = number), for BLOCKHASH.
    pub hashes: &'a [B256],
    /// Changes so far.
    pub diff: Diff,
}

impl<'a> Overlay<'a> {
    /// An empty overlay on `base`.
    pub fn new(base: &'a WorldState, hashes: &'a [B256]) -> Self {
        Overlay { base, hashes, diff: Diff::default() }
    }

    fn code_by_hash_inner(&self, hash: B256) -> Bytecode {
        self.diff.codes.get(&hash).or_else(|| self.base.codes.get(&hash)).cloned().unwrap_or_default()
    }
}

impl DatabaseRef for Overlay<'_> {
    type Error = Infallible;

    fn basic_ref(&self, address: Address) -> Result<Option<AccountInfo>, Infallible> {
        if let Some(change) = self.diff.accounts.get(&address) {
            return Ok(change.info.map(|(nonce, balance, code_hash)| AccountInfo {
                nonce,
                balance,
                code_hash,
                code: Some(self.code_by_hash_inner(code_hash)),
                ..Default::default()
            }));
        }
        Ok(self.base.accounts.get(&address).map(|a| a.info(&self.base.codes)))
    }

    fn code_by_hash_ref(&self, code_hash: B256) -> Result<Bytecode, Infallible> {
        Ok(self.code_by_hash_inner(code_hash))
    }

    fn storage_ref(&self, address: Address, index: U256) -> Result<U256, Infallible> {
        if let Some(change) = self.diff.accounts.get(&address) {
            if let Some(value) = change.storage.get(&index) {
                return Ok(*value);
            }
            if change.storage_cleared || change.info.is_none() {
                return Ok(U256::ZERO);
            }
        }
        Ok(self.base.accounts.get(&address).and_then(|a| a.storage.get(&index).copied()).unwrap_or_default())
    }

    fn block_hash_ref(&self, number: u64) -> Result<B256, Infallible> {
        Ok(self.hashes.get(number as usize).copied().unwrap_or_default())
    }
}

impl Database for Overlay<'_> {
    type Error = Infallible;

    fn basic(&mut self, address: Address) -> Result<Option<AccountInfo>, Infallible> {
        self.basic_ref(address)
    }

    fn code_by_hash(&mut self, code_hash: B256) -> Result<Bytecode, Infallible> {
        self.code_by_hash_ref(code_hash)
    }

    fn storage(&mut self, address: Address, index: U256) -> Result<U256, Infallible> {
        self.storage_ref(address, index)
    }

    fn block_hash(&mut self, number: u64) -> Result<B256, Infallible> {
        self.block_hash_ref(number)
    }
}

impl DatabaseCommit for Overlay<'_> {
    fn commit(&mut self, changes: AddressMap<Account>) {
        // Ordered, so that nothing depends on the map's iteration order.
        let changes: BTreeMap<Address, Account> = changes.into_iter().collect();
        for (address, account) in changes {
            if !account.is_touched() {
                continue;
            }
            if account.is_selfdestructed() || account.is_empty() {
                // EIP-161: touched empty accounts are deleted; destroyed ones too.
                self.diff
                    .accounts
                    .insert(address, AccountChange { info: None, storage_cleared: true, storage: BTreeMap::new() });
                continue;
            }
            let code_hash = account.info.code_hash;
            if code_hash != KECCAK256_EMPTY
                && !self.diff.codes.contains_key(&code_hash)
                && !self.base.codes.contains_key(&code_hash)
                && let Some(code) = &account.info.code
            {
                self.diff.codes.insert(code_hash, code.clone());
            }
            let existed = self.basic_ref(address).ok().flatten().is_some();
            let entry = self.diff.accounts.entry(address).or_default();
            if account.is_created() || (!existed && entry.info.is_none()) {
                entry.storage_cleared = true;
                entry.storage.clear();
            }
            entry.info = Some((account.info.nonce, account.info.balance, code_hash));
            for (slot, value) in account.changed_storage_slots() {
                entry.storage.insert(*slot, value.present_value);
            }
        }
    }
}
