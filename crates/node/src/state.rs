//! World state: accounts, storage and code in ordered maps, the state root, and an overlay that
//! the EVM executes against so that a block's changes are collected as one [`Diff`].

use alloy_genesis::Genesis;
use alloy_primitives::{Address, B256, KECCAK256_EMPTY, U256, keccak256};
use alloy_trie::TrieAccount;
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
    pub(crate) accounts: BTreeMap<Address, AccountState>,
    /// Code by hash.
    pub(crate) codes: BTreeMap<B256, Bytecode>,
    /// Storage tries (hashed leaves and cached subtree hashes), built on first use.
    storage_tries: BTreeMap<Address, StorageTrie>,
}

/// Below this many slots a storage root is computed from scratch.
const INCREMENTAL_MIN_SLOTS: usize = 512;

/// An account's storage trie as hashed leaves plus the cached hash of each depth-2 subtree
/// (keyed by the first byte of the hashed slot), so that a block that writes a few slots of a
/// large storage (the Prague system contracts' ring buffers) rehashes only those subtrees.
#[derive(Debug, Clone, Default)]
struct StorageTrie {
    leaves: BTreeMap<B256, U256>,
    subtrees: BTreeMap<u8, B256>,
    root: Option<B256>,
}

impl StorageTrie {
    fn from_storage(storage: &BTreeMap<U256, U256>) -> Self {
        let leaves = storage.iter().map(|(k, v)| (keccak256(B256::from(*k)), *v)).collect();
        StorageTrie { leaves, subtrees: BTreeMap::new(), root: None }
    }

    fn set(&mut self, slot: U256, value: U256) {
        let hashed = keccak256(B256::from(slot));
        if value.is_zero() {
            self.leaves.remove(&hashed);
        } else {
            self.leaves.insert(hashed, value);
        }
        self.subtrees.remove(&hashed.0[0]);
        self.root = None;
    }

    fn group(&self, first: u8) -> std::collections::btree_map::Range<'_, B256, U256> {
        let mut lo = [0u8; 32];
        lo[0] = first;
        let mut hi = [0xffu8; 32];
        hi[0] = first;
        self.leaves.range(B256::from(lo)..=B256::from(hi))
    }

    /// Whether the top two levels are branch nodes: at least two first nibbles present, and
    /// under each present first nibble at least two second nibbles. Only then can subtree
    /// hashes at depth 2 be spliced in as branch children.
    fn top_is_branches(&self, present: &[u8]) -> bool {
        let mut per_nibble = [0u8; 16];
        for g in present {
            per_nibble[(g >> 4) as usize] += 1;
        }
        let firsts = per_nibble.iter().filter(|c| **c > 0).count();
        firsts >= 2 && per_nibble.iter().all(|c| *c == 0 || *c >= 2)
    }

    fn root(&mut self) -> B256 {
        if let Some(root) = self.root {
            return root;
        }
        let present: Vec<u8> = (0..=255u8).filter(|g| self.group(*g).next().is_some()).collect();
        let root = if self.leaves.len() < INCREMENTAL_MIN_SLOTS || !self.top_is_branches(&present) {
            alloy_trie::root::storage_root(self.leaves.iter().map(|(k, v)| (*k, *v)))
        } else {
            let mut top = alloy_trie::HashBuilder::default();
            for g in present {
                let hash = match self.subtrees.get(&g) {
                    Some(h) => *h,
                    None => {
                        // Keys of this subtree relative to its depth-2 position.
                        let mut hb = alloy_trie::HashBuilder::default();
                        for (k, v) in self.group(g) {
                            hb.add_leaf(
                                alloy_trie::Nibbles::unpack(&k.0[1..]),
                                alloy_rlp::encode_fixed_size(v).as_ref(),
                            );
                        }
                        let h = hb.root();
                        self.subtrees.insert(g, h);
                        h
                    }
                };
                top.add_branch(alloy_trie::Nibbles::from_nibbles([g >> 4, g & 0x0f]), hash, false);
            }
            top.root()
        };
        self.root = Some(root);
        root
    }
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
        let tries = &mut self.storage_tries;
        alloy_trie::root::state_root_unhashed(self.accounts.iter().map(|(address, account)| {
            let storage_root =
                tries.entry(*address).or_insert_with(|| StorageTrie::from_storage(&account.storage)).root();
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

    /// The account at `address`, if it exists.
    pub fn account(&self, address: &Address) -> Option<&AccountState> {
        self.accounts.get(address)
    }

    /// The value of storage `slot` of `address` (zero when unset).
    pub fn storage(&self, address: &Address, slot: &U256) -> U256 {
        self.accounts.get(address).and_then(|a| a.storage.get(slot).copied()).unwrap_or_default()
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
            if change.info.is_none() || change.storage_cleared {
                self.storage_tries.remove(address);
            } else if let Some(trie) = self.storage_tries.get_mut(address) {
                for (slot, value) in &change.storage {
                    trie.set(*slot, *value);
                }
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

/// How many recent block hashes execution keeps: BLOCKHASH reaches back 256 blocks, and
/// nothing older is ever asked for.
pub const RECENT_HASHES: usize = 256;

/// The hashes of the last [`RECENT_HASHES`] blocks, for BLOCKHASH. Bounded, so memory does not
/// grow with the chain.
#[derive(Debug, Clone, Default)]
pub struct RecentHashes {
    first: u64,
    hashes: std::collections::VecDeque<B256>,
}

impl RecentHashes {
    /// The hash of block `number`, if it is one of the recent ones.
    pub fn get(&self, number: u64) -> Option<B256> {
        let offset = number.checked_sub(self.first)?;
        self.hashes.get(usize::try_from(offset).ok()?).copied()
    }

    /// Appends the hash of the next block.
    pub fn push(&mut self, hash: B256) {
        self.hashes.push_back(hash);
        if self.hashes.len() > RECENT_HASHES {
            self.hashes.pop_front();
            self.first += 1;
        }
    }

    /// The hashes of blocks `0..=head` given the last ones, oldest first (`hashes` ends at `head`).
    pub fn ending_at(head: u64, hashes: Vec<B256>) -> Self {
        let mut recent = RecentHashes { first: (head + 1).saturating_sub(hashes.len() as u64), hashes: hashes.into() };
        while recent.hashes.len() > RECENT_HASHES {
            recent.hashes.pop_front();
            recent.first += 1;
        }
        recent
    }
}

/// A change a dev-mode helper (`anvil_setBalance`, `anvil_setCode`, ...) makes to the state.
/// It is recorded with the block it precedes and applied before that block's transactions, so
/// the block's state root includes it and `aiop chain verify` replays it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum DevEdit {
    /// Set an account's balance.
    Balance(Address, U256),
    /// Set an account's nonce.
    Nonce(Address, u64),
    /// Set an account's code.
    Code(Address, alloy_primitives::Bytes),
    /// Set one storage slot.
    Storage(Address, U256, U256),
}

impl DevEdit {
    /// The account the edit changes.
    pub fn address(&self) -> Address {
        match self {
            DevEdit::Balance(a, _) | DevEdit::Nonce(a, _) | DevEdit::Code(a, _) | DevEdit::Storage(a, _, _) => *a,
        }
    }
}

/// The EVM's database: reads fall through the block's diff to the world state; commits land in
/// the diff.
#[derive(Debug)]
pub struct Overlay<'a> {
    /// The state before the block.
    pub base: &'a WorldState,
    /// Hashes of the recent blocks, for BLOCKHASH.
    pub hashes: &'a RecentHashes,
    /// Changes so far.
    pub diff: Diff,
}

impl<'a> Overlay<'a> {
    /// An empty overlay on `base`.
    pub fn new(base: &'a WorldState, hashes: &'a RecentHashes) -> Self {
        Overlay { base, hashes, diff: Diff::default() }
    }

    /// Applies a dev-mode edit on top of what the overlay holds.
    pub fn apply_edit(&mut self, edit: &DevEdit) {
        let address = edit.address();
        let current = self.basic_ref(address).ok().flatten();
        let (mut nonce, mut balance, mut code_hash) =
            current.as_ref().map(|a| (a.nonce, a.balance, a.code_hash)).unwrap_or((0, U256::ZERO, KECCAK256_EMPTY));
        match edit {
            DevEdit::Balance(_, value) => balance = *value,
            DevEdit::Nonce(_, value) => nonce = *value,
            DevEdit::Code(_, code) => {
                code_hash = if code.is_empty() { KECCAK256_EMPTY } else { keccak256(code) };
                if !code.is_empty() {
                    self.diff.codes.insert(code_hash, Bytecode::new_raw(code.clone()));
                }
            }
            DevEdit::Storage(..) => {}
        }
        let entry = self.diff.accounts.entry(address).or_default();
        if current.is_none() {
            entry.storage_cleared = true;
        }
        if let DevEdit::Storage(_, slot, value) = edit {
            entry.storage.insert(*slot, *value);
        }
        entry.info = Some((nonce, balance, code_hash));
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
        Ok(self.hashes.get(number).unwrap_or_default())
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

/// The state a call executes against: the head's (in memory) or an older block's (from the
/// database's history).
#[derive(Debug)]
pub enum StateDb<'a> {
    /// The head's state.
    Latest(Overlay<'a>),
    /// An older block's state.
    At(crate::storage::StateAt<'a>),
}

impl DatabaseRef for StateDb<'_> {
    type Error = crate::storage::StateReadError;

    fn basic_ref(&self, address: Address) -> Result<Option<AccountInfo>, Self::Error> {
        match self {
            StateDb::Latest(o) => Ok(o.basic_ref(address).unwrap_or_else(|e| match e {})),
            StateDb::At(s) => s.basic_ref(address),
        }
    }

    fn code_by_hash_ref(&self, code_hash: B256) -> Result<Bytecode, Self::Error> {
        match self {
            StateDb::Latest(o) => Ok(o.code_by_hash_inner(code_hash)),
            StateDb::At(s) => s.code_by_hash_ref(code_hash),
        }
    }

    fn storage_ref(&self, address: Address, index: U256) -> Result<U256, Self::Error> {
        match self {
            StateDb::Latest(o) => Ok(o.storage_ref(address, index).unwrap_or_else(|e| match e {})),
            StateDb::At(s) => s.storage_ref(address, index),
        }
    }

    fn block_hash_ref(&self, number: u64) -> Result<B256, Self::Error> {
        match self {
            StateDb::Latest(o) => Ok(o.hashes.get(number).unwrap_or_default()),
            StateDb::At(s) => s.block_hash_ref(number),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full_root(storage: &BTreeMap<U256, U256>) -> B256 {
        alloy_trie::root::storage_root_unhashed(storage.iter().map(|(k, v)| (B256::from(*k), *v)))
    }

    #[test]
    fn incremental_storage_root_equals_full() {
        let mut storage = BTreeMap::new();
        for i in 0..3000u64 {
            storage.insert(U256::from(i * 7 + 1), U256::from(i * i + 1));
        }
        let mut trie = StorageTrie::from_storage(&storage);
        assert_eq!(trie.root(), full_root(&storage));
        for round in 0..20u64 {
            let slot = U256::from(round * 977 % 25_000);
            let value = if round % 3 == 0 { U256::ZERO } else { U256::from(round + 5) };
            trie.set(slot, value);
            if value.is_zero() {
                storage.remove(&slot);
            } else {
                storage.insert(slot, value);
            }
            assert_eq!(trie.root(), full_root(&storage), "round {round}");
        }
        // Small and sparse shapes fall back to the full computation.
        let small: BTreeMap<U256, U256> = [(U256::from(1), U256::from(2))].into_iter().collect();
        assert_eq!(StorageTrie::from_storage(&small).root(), full_root(&small));
        assert_eq!(StorageTrie::default().root(), alloy_trie::EMPTY_ROOT_HASH);
    }
}
