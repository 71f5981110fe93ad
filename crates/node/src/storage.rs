//! The embedded database (redb): blocks, receipts, their indexes, the latest state and the
//! state's history. Each block is written in one write transaction together with its state
//! changes and their history, so a crash (even `kill -9`) leaves either the whole block or none
//! of it.
//!
//! History is kept as reth keeps it: for every account and slot a block changes, the value it
//! had before, keyed by the block. The state after block `n` is, for each key, the "before"
//! value of its first change after `n`, or the latest value when it never changed since.
//! Reads go through a [`Reader`], a consistent snapshot of the database, so they never wait
//! for block production and block production never waits for them.
//!
//! What it must never do: hold the chain in memory, or write outside one transaction per block.

use crate::{
    error::{NodeError, Result},
    state::{AccountState, DevEdit, Diff, WorldState},
};
use alloy_consensus::{Header, ReceiptEnvelope, TxEnvelope, transaction::Recovered};
use alloy_eips::{Decodable2718, Encodable2718};
use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_rlp::Decodable;
use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition};
use revm::bytecode::Bytecode;
use std::path::Path;

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const HEADERS: TableDefinition<u64, &[u8]> = TableDefinition::new("headers");
const BODIES: TableDefinition<u64, &[u8]> = TableDefinition::new("bodies");
const SENDERS: TableDefinition<u64, &[u8]> = TableDefinition::new("senders");
const RECEIPTS: TableDefinition<u64, &[u8]> = TableDefinition::new("receipts");
const ACCOUNTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("accounts");
const STORAGE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("storage");
const CODES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("codes");
/// Block number → block hash.
const CANONICAL: TableDefinition<u64, &[u8]> = TableDefinition::new("canonical");
/// Block hash → block number.
const BLOCK_NUMBERS: TableDefinition<&[u8], u64> = TableDefinition::new("block_numbers");
/// Transaction hash → block number (8 bytes) and index in the block (4 bytes).
const TX_INDEX: TableDefinition<&[u8], &[u8]> = TableDefinition::new("tx_index");
/// Address and block (8 bytes, big-endian) → the account before that block (empty: absent).
const ACCOUNT_HISTORY: TableDefinition<&[u8], &[u8]> = TableDefinition::new("account_history");
/// Address, slot and block → the slot's value before that block.
const STORAGE_HISTORY: TableDefinition<&[u8], &[u8]> = TableDefinition::new("storage_history");
/// Block → the keys it changed (for unwinding): addresses, then storage keys.
const CHANGESETS: TableDefinition<u64, &[u8]> = TableDefinition::new("changesets");
/// Block → the dev-mode edits applied before its transactions (JSON).
const DEV_EDITS: TableDefinition<u64, &[u8]> = TableDefinition::new("dev_edits");

/// The layout version this code writes. Version 1 (no indexes, no history) is upgraded on open:
/// the indexes are rebuilt and history starts at the head.
const SCHEMA: u64 = 2;

/// A block with everything the RPC serves.
#[derive(Debug, Clone)]
pub struct StoredBlock {
    /// Header.
    pub header: Header,
    /// `header.hash_slow()`.
    pub hash: B256,
    /// Transactions with senders.
    pub txs: Vec<Recovered<TxEnvelope>>,
    /// Receipts.
    pub receipts: Vec<ReceiptEnvelope>,
}

/// Bytes of database pages kept in memory. redb's default (1 GiB) lets a node's resident memory
/// grow with its chain until that much is cached; the node reads the head state from memory
/// and history rarely, so a small cache costs little speed.
pub const DB_CACHE_BYTES: usize = 32 << 20;

/// The database.
#[derive(Debug)]
pub struct Store {
    db: Database,
    /// Tests set this to see what a failed commit does to the node (see
    /// [`Store::fail_commits_for_tests`]).
    fail_commits: std::sync::atomic::AtomicBool,
}

fn corrupt(what: impl std::fmt::Display) -> NodeError {
    NodeError::Corrupt(what.to_string())
}

fn encode_list(items: impl Iterator<Item = Vec<u8>>) -> Vec<u8> {
    let list: Vec<Bytes> = items.map(Bytes::from).collect();
    alloy_rlp::encode(&list)
}

fn decode_list(mut bytes: &[u8]) -> Result<Vec<Bytes>> {
    Vec::<Bytes>::decode(&mut bytes).map_err(corrupt)
}

fn account_value(a: &AccountState) -> Vec<u8> {
    let mut v = Vec::with_capacity(72);
    v.extend_from_slice(&a.nonce.to_be_bytes());
    v.extend_from_slice(&a.balance.to_be_bytes::<32>());
    v.extend_from_slice(a.code_hash.as_slice());
    v
}

fn storage_key(address: &Address, slot: &U256) -> [u8; 52] {
    let mut k = [0u8; 52];
    k[..20].copy_from_slice(address.as_slice());
    k[20..].copy_from_slice(&slot.to_be_bytes::<32>());
    k
}

fn account_history_key(address: &Address, block: u64) -> [u8; 28] {
    let mut k = [0u8; 28];
    k[..20].copy_from_slice(address.as_slice());
    k[20..].copy_from_slice(&block.to_be_bytes());
    k
}

fn storage_history_key(storage_key: &[u8; 52], block: u64) -> [u8; 60] {
    let mut k = [0u8; 60];
    k[..52].copy_from_slice(storage_key);
    k[52..].copy_from_slice(&block.to_be_bytes());
    k
}

/// `(nonce, balance, code_hash)` of a 72-byte account record.
fn decode_account(v: &[u8]) -> Result<(u64, U256, B256)> {
    if v.len() != 72 {
        return Err(corrupt("account record of wrong length"));
    }
    let nonce = u64::from_be_bytes(v[..8].try_into().map_err(corrupt)?);
    Ok((nonce, U256::from_be_slice(&v[8..40]), B256::from_slice(&v[40..72])))
}

/// The keys a block changed, as [`CHANGESETS`] holds them.
#[derive(Debug, Default)]
struct ChangedKeys {
    accounts: Vec<Address>,
    storage: Vec<[u8; 52]>,
}

impl ChangedKeys {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + self.accounts.len() * 20 + self.storage.len() * 52);
        out.extend_from_slice(&(self.accounts.len() as u64).to_be_bytes());
        for a in &self.accounts {
            out.extend_from_slice(a.as_slice());
        }
        for k in &self.storage {
            out.extend_from_slice(k);
        }
        out
    }

    fn decode(bytes: &[u8]) -> Result<Self> {
        let count = bytes.get(..8).ok_or_else(|| corrupt("changeset too short"))?;
        let count = usize::try_from(u64::from_be_bytes(count.try_into().map_err(corrupt)?)).map_err(corrupt)?;
        let accounts_len = count.checked_mul(20).ok_or_else(|| corrupt("changeset count"))?;
        let rest = bytes.get(8..).unwrap_or_default();
        if rest.len() < accounts_len || (rest.len() - accounts_len) % 52 != 0 {
            return Err(corrupt("changeset of wrong length"));
        }
        let (accounts, storage) = rest.split_at(accounts_len);
        Ok(ChangedKeys {
            accounts: accounts.chunks_exact(20).map(Address::from_slice).collect(),
            storage: storage.chunks_exact(52).map(|c| c.try_into().unwrap_or([0; 52])).collect(),
        })
    }
}

impl Store {
    /// Opens (or creates) the database under `datadir`, upgrading an older layout.
    pub fn open(datadir: &Path) -> Result<Store> {
        std::fs::create_dir_all(datadir)?;
        let db = redb::Builder::new().set_cache_size(DB_CACHE_BYTES).create(datadir.join("aiop.redb"))?;
        let store = Store { db, fail_commits: Default::default() };
        if store.genesis_json()?.is_some() && store.meta_u64("schema")?.is_none() {
            store.upgrade_from_v1()?;
        }
        Ok(store)
    }

    fn meta_u64(&self, key: &str) -> Result<Option<u64>> {
        let tx = self.db.begin_read()?;
        let table = match tx.open_table(META) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let value = table.get(key)?;
        value.map(|v| Ok(u64::from_be_bytes(v.value().try_into().map_err(corrupt)?))).transpose()
    }

    /// Layout 1 had blocks and the latest state only: build the indexes, and start history at
    /// the head (older state stays unavailable).
    fn upgrade_from_v1(&self) -> Result<()> {
        let count = self.block_count()?;
        let tx = self.db.begin_write()?;
        for n in 0..count {
            let block = self.block(n)?;
            Self::write_indexes(&tx, &block)?;
        }
        {
            let mut meta = tx.open_table(META)?;
            meta.insert("schema", SCHEMA.to_be_bytes().as_slice())?;
            meta.insert("history_from", count.saturating_sub(1).to_be_bytes().as_slice())?;
        }
        tx.commit()?;
        tracing::info!(blocks = count, "upgraded the database to layout {SCHEMA}; state history starts at the head");
        Ok(())
    }

    /// A consistent snapshot for reads.
    pub fn reader(&self) -> Result<Reader> {
        Ok(Reader { tx: self.db.begin_read()? })
    }

    /// The genesis JSON this database was created with.
    pub fn genesis_json(&self) -> Result<Option<String>> {
        let tx = self.db.begin_read()?;
        let table = match tx.open_table(META) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let value = table.get("genesis")?;
        value.map(|v| String::from_utf8(v.value().to_vec()).map_err(corrupt)).transpose()
    }

    /// Writes the genesis: its JSON, its full state and block 0, in one transaction.
    pub fn init(&self, genesis_json: &str, block: &StoredBlock, world: &WorldState) -> Result<()> {
        let tx = self.db.begin_write()?;
        {
            let mut meta = tx.open_table(META)?;
            meta.insert("genesis", genesis_json.as_bytes())?;
            meta.insert("schema", SCHEMA.to_be_bytes().as_slice())?;
            meta.insert("history_from", 0u64.to_be_bytes().as_slice())?;
            let mut accounts = tx.open_table(ACCOUNTS)?;
            let mut storage = tx.open_table(STORAGE)?;
            let mut codes = tx.open_table(CODES)?;
            for (address, account) in &world.accounts {
                accounts.insert(address.as_slice(), account_value(account).as_slice())?;
                for (slot, value) in &account.storage {
                    storage.insert(storage_key(address, slot).as_slice(), value.to_be_bytes::<32>().as_slice())?;
                }
            }
            for (hash, code) in &world.codes {
                codes.insert(hash.as_slice(), code.original_byte_slice())?;
            }
        }
        Self::write_block(&tx, block)?;
        tx.commit()?;
        Ok(())
    }

    fn write_block(tx: &redb::WriteTransaction, block: &StoredBlock) -> Result<()> {
        let n = block.header.number;
        tx.open_table(HEADERS)?.insert(n, alloy_rlp::encode(&block.header).as_slice())?;
        tx.open_table(BODIES)?.insert(n, encode_list(block.txs.iter().map(|t| t.inner().encoded_2718())).as_slice())?;
        tx.open_table(SENDERS)?.insert(n, encode_list(block.txs.iter().map(|t| t.signer().to_vec())).as_slice())?;
        tx.open_table(RECEIPTS)?.insert(n, encode_list(block.receipts.iter().map(|r| r.encoded_2718())).as_slice())?;
        Self::write_indexes(tx, block)
    }

    fn write_indexes(tx: &redb::WriteTransaction, block: &StoredBlock) -> Result<()> {
        let n = block.header.number;
        tx.open_table(CANONICAL)?.insert(n, block.hash.as_slice())?;
        tx.open_table(BLOCK_NUMBERS)?.insert(block.hash.as_slice(), n)?;
        let mut index = tx.open_table(TX_INDEX)?;
        for (i, t) in block.txs.iter().enumerate() {
            let mut v = [0u8; 12];
            v[..8].copy_from_slice(&n.to_be_bytes());
            v[8..].copy_from_slice(&(i as u32).to_be_bytes());
            index.insert(t.tx_hash().as_slice(), v.as_slice())?;
        }
        Ok(())
    }

    /// Commits a block, its state changes, their history and the dev edits it applied, in one
    /// transaction.
    pub fn commit_block(
        &self,
        block: &StoredBlock,
        diff: &Diff,
        world_after: &WorldState,
        edits: &[DevEdit],
    ) -> Result<()> {
        let n = block.header.number;
        let tx = self.db.begin_write()?;
        let mut changed = ChangedKeys::default();
        {
            let mut accounts = tx.open_table(ACCOUNTS)?;
            let mut storage = tx.open_table(STORAGE)?;
            let mut codes = tx.open_table(CODES)?;
            let mut account_history = tx.open_table(ACCOUNT_HISTORY)?;
            let mut storage_history = tx.open_table(STORAGE_HISTORY)?;
            for (hash, code) in &diff.codes {
                codes.insert(hash.as_slice(), code.original_byte_slice())?;
            }
            for (address, change) in &diff.accounts {
                let before = accounts.get(address.as_slice())?.map(|v| v.value().to_vec()).unwrap_or_default();
                account_history.insert(account_history_key(address, n).as_slice(), before.as_slice())?;
                changed.accounts.push(*address);
                // Every slot the block changes, with its value before: the wiped ones first.
                let mut before_slots: std::collections::BTreeMap<[u8; 52], Vec<u8>> = Default::default();
                if change.storage_cleared || change.info.is_none() {
                    let lo = storage_key(address, &U256::ZERO);
                    let hi = storage_key(address, &U256::MAX);
                    for entry in storage.range::<&[u8]>(lo.as_slice()..=hi.as_slice())? {
                        let (k, v) = entry?;
                        let key: [u8; 52] = k.value().try_into().map_err(corrupt)?;
                        before_slots.insert(key, v.value().to_vec());
                    }
                    for key in before_slots.keys() {
                        storage.remove(key.as_slice())?;
                    }
                }
                for slot in change.storage.keys() {
                    let key = storage_key(address, slot);
                    if let std::collections::btree_map::Entry::Vacant(entry) = before_slots.entry(key) {
                        let value = storage.get(key.as_slice())?.map(|v| v.value().to_vec()).unwrap_or(vec![0; 32]);
                        entry.insert(value);
                    }
                }
                for (key, value) in &before_slots {
                    storage_history.insert(storage_history_key(key, n).as_slice(), value.as_slice())?;
                    changed.storage.push(*key);
                }
                match world_after.accounts.get(address) {
                    None => {
                        accounts.remove(address.as_slice())?;
                    }
                    Some(account) => {
                        accounts.insert(address.as_slice(), account_value(account).as_slice())?;
                        for slot in change.storage.keys() {
                            let key = storage_key(address, slot);
                            match account.storage.get(slot) {
                                Some(v) => {
                                    storage.insert(key.as_slice(), v.to_be_bytes::<32>().as_slice())?;
                                }
                                None => {
                                    storage.remove(key.as_slice())?;
                                }
                            }
                        }
                    }
                }
            }
            tx.open_table(CHANGESETS)?.insert(n, changed.encode().as_slice())?;
            if !edits.is_empty() {
                let json = serde_json::to_vec(edits).map_err(|e| NodeError::Internal(e.to_string()))?;
                tx.open_table(DEV_EDITS)?.insert(n, json.as_slice())?;
            }
        }
        Self::write_block(&tx, block)?;
        if self.fail_commits.load(std::sync::atomic::Ordering::Relaxed) {
            tx.abort()?;
            return Err(NodeError::Db("the commit was made to fail (test)".into()));
        }
        tx.commit()?;
        Ok(())
    }

    /// Removes every block after `keep` with its state changes, restoring the state after
    /// `keep` (`evm_revert`). Returns the hashes of the transactions removed.
    pub fn unwind_to(&self, keep: u64) -> Result<Vec<B256>> {
        let head = self.block_count()?.saturating_sub(1);
        if keep < self.reader()?.history_from()? {
            return Err(NodeError::Corrupt(format!("the state before block {keep} is not kept")));
        }
        let mut removed = Vec::new();
        let tx = self.db.begin_write()?;
        {
            let mut accounts = tx.open_table(ACCOUNTS)?;
            let mut storage = tx.open_table(STORAGE)?;
            let mut account_history = tx.open_table(ACCOUNT_HISTORY)?;
            let mut storage_history = tx.open_table(STORAGE_HISTORY)?;
            let mut changesets = tx.open_table(CHANGESETS)?;
            let mut tx_index = tx.open_table(TX_INDEX)?;
            let mut canonical = tx.open_table(CANONICAL)?;
            let mut numbers = tx.open_table(BLOCK_NUMBERS)?;
            for n in (keep + 1..=head).rev() {
                let keys = match changesets.remove(n)? {
                    Some(v) => ChangedKeys::decode(v.value())?,
                    None => return Err(corrupt(format!("block {n} has no changeset"))),
                };
                for address in &keys.accounts {
                    let key = account_history_key(address, n);
                    let before =
                        account_history.remove(key.as_slice())?.map(|v| v.value().to_vec()).unwrap_or_default();
                    if before.is_empty() {
                        accounts.remove(address.as_slice())?;
                    } else {
                        accounts.insert(address.as_slice(), before.as_slice())?;
                    }
                }
                for key in &keys.storage {
                    let history = storage_history_key(key, n);
                    let before =
                        storage_history.remove(history.as_slice())?.map(|v| v.value().to_vec()).unwrap_or_default();
                    if before.iter().all(|b| *b == 0) {
                        storage.remove(key.as_slice())?;
                    } else {
                        storage.insert(key.as_slice(), before.as_slice())?;
                    }
                }
                let block = self.block(n)?;
                for t in &block.txs {
                    tx_index.remove(t.tx_hash().as_slice())?;
                    removed.push(*t.tx_hash());
                }
                canonical.remove(n)?;
                numbers.remove(block.hash.as_slice())?;
                for table in [HEADERS, BODIES, SENDERS, RECEIPTS] {
                    tx.open_table(table)?.remove(n)?;
                }
                tx.open_table(DEV_EDITS)?.remove(n)?;
            }
        }
        tx.commit()?;
        Ok(removed)
    }

    /// Number of blocks stored (head + 1), 0 for a fresh database.
    pub fn block_count(&self) -> Result<u64> {
        let tx = self.db.begin_read()?;
        match tx.open_table(HEADERS) {
            Ok(t) => Ok(t.len()?),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(0),
            Err(e) => Err(e.into()),
        }
    }

    /// Reads block `n`.
    pub fn block(&self, n: u64) -> Result<StoredBlock> {
        self.reader()?.block(n)?.ok_or_else(|| corrupt(format!("block {n} is missing")))
    }

    /// The dev edits applied before block `n`'s transactions.
    pub fn dev_edits(&self, n: u64) -> Result<Vec<DevEdit>> {
        self.reader()?.dev_edits(n)
    }

    /// Reads the committed state.
    pub fn load_state(&self) -> Result<WorldState> {
        let tx = self.db.begin_read()?;
        let mut world = WorldState::default();
        for entry in tx.open_table(CODES)?.iter()? {
            let (k, v) = entry?;
            let hash = B256::try_from(k.value()).map_err(corrupt)?;
            world.codes.insert(hash, Bytecode::new_raw(Bytes::copy_from_slice(v.value())));
        }
        for entry in tx.open_table(ACCOUNTS)?.iter()? {
            let (k, v) = entry?;
            let address = Address::try_from(k.value()).map_err(corrupt)?;
            let v = v.value();
            if v.len() != 72 {
                return Err(corrupt("account record of wrong length"));
            }
            let account = AccountState {
                nonce: u64::from_be_bytes(v[..8].try_into().map_err(corrupt)?),
                balance: U256::from_be_slice(&v[8..40]),
                code_hash: B256::from_slice(&v[40..72]),
                storage: Default::default(),
            };
            world.accounts.insert(address, account);
        }
        for entry in tx.open_table(STORAGE)?.iter()? {
            let (k, v) = entry?;
            let k = k.value();
            if k.len() != 52 {
                return Err(corrupt("storage key of wrong length"));
            }
            let address = Address::from_slice(&k[..20]);
            let slot = U256::from_be_slice(&k[20..]);
            world
                .accounts
                .get_mut(&address)
                .ok_or_else(|| corrupt(format!("storage for missing account {address}")))?
                .storage
                .insert(slot, U256::from_be_slice(v.value()));
        }
        Ok(world)
    }
}

impl Store {
    /// Makes every block commit fail after its writes, as a full disk would, until called
    /// with `false`. Only for tests of the node's commit-then-swap order.
    #[doc(hidden)]
    pub fn fail_commits_for_tests(&self, fail: bool) {
        self.fail_commits.store(fail, std::sync::atomic::Ordering::Relaxed);
    }

    /// Overwrites a stored header. Only for tests that check `chain verify` catches tampering.
    #[doc(hidden)]
    pub fn replace_header_for_tests(&self, header: &Header) -> Result<()> {
        let tx = self.db.begin_write()?;
        tx.open_table(HEADERS)?.insert(header.number, alloy_rlp::encode(header).as_slice())?;
        tx.commit()?;
        Ok(())
    }
}

/// A consistent snapshot of the database: what was committed when it was taken, unaffected by
/// blocks committed since. Block production never waits for it.
pub struct Reader {
    tx: redb::ReadTransaction,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Reader")
    }
}

/// Opens a table that a database of this layout may not have yet (then: empty).
macro_rules! table_or_none {
    ($tx:expr, $def:expr) => {
        match $tx.open_table($def) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Default::default()),
            Err(e) => return Err(e.into()),
        }
    };
}

impl Reader {
    /// Block `n`, if stored.
    pub fn block(&self, n: u64) -> Result<Option<StoredBlock>> {
        let get = |def: TableDefinition<u64, &[u8]>| -> Result<Option<Vec<u8>>> {
            let table = self.tx.open_table(def)?;
            Ok(table.get(n)?.map(|v| v.value().to_vec()))
        };
        let Some(header) = get(HEADERS)? else { return Ok(None) };
        let header = Header::decode(&mut header.as_slice()).map_err(corrupt)?;
        let missing = || corrupt(format!("block {n} is incomplete"));
        let bodies = decode_list(&get(BODIES)?.ok_or_else(missing)?)?;
        let senders = decode_list(&get(SENDERS)?.ok_or_else(missing)?)?;
        let receipts = decode_list(&get(RECEIPTS)?.ok_or_else(missing)?)?;
        if bodies.len() != senders.len() {
            return Err(corrupt(format!("block {n}: {} txs but {} senders", bodies.len(), senders.len())));
        }
        let mut txs = Vec::with_capacity(bodies.len());
        for (body, sender) in bodies.iter().zip(&senders) {
            let tx = TxEnvelope::decode_2718(&mut body.as_ref()).map_err(corrupt)?;
            let sender = Address::try_from(sender.as_ref()).map_err(corrupt)?;
            txs.push(Recovered::new_unchecked(tx, sender));
        }
        let receipts = receipts
            .iter()
            .map(|r| ReceiptEnvelope::decode_2718(&mut r.as_ref()).map_err(corrupt))
            .collect::<Result<Vec<_>>>()?;
        let hash = header.hash_slow();
        Ok(Some(StoredBlock { header, hash, txs, receipts }))
    }

    /// The header of block `n` alone (cheaper than [`Reader::block`]).
    pub fn header(&self, n: u64) -> Result<Option<Header>> {
        let table = table_or_none!(self.tx, HEADERS);
        let value = table.get(n)?;
        value.map(|v| Header::decode(&mut v.value()).map_err(corrupt)).transpose()
    }

    /// The hash of block `n`.
    pub fn hash_of(&self, n: u64) -> Result<Option<B256>> {
        let table = table_or_none!(self.tx, CANONICAL);
        let value = table.get(n)?;
        value.map(|v| B256::try_from(v.value()).map_err(corrupt)).transpose()
    }

    /// The number of the block with `hash`.
    pub fn number_of(&self, hash: &B256) -> Result<Option<u64>> {
        let table = table_or_none!(self.tx, BLOCK_NUMBERS);
        Ok(table.get(hash.as_slice())?.map(|v| v.value()))
    }

    /// The block number and index of transaction `hash`.
    pub fn transaction(&self, hash: &B256) -> Result<Option<(u64, usize)>> {
        let table = table_or_none!(self.tx, TX_INDEX);
        let Some(v) = table.get(hash.as_slice())? else { return Ok(None) };
        let v = v.value();
        if v.len() != 12 {
            return Err(corrupt("transaction index entry of wrong length"));
        }
        let number = u64::from_be_bytes(v[..8].try_into().map_err(corrupt)?);
        let index = u32::from_be_bytes(v[8..].try_into().map_err(corrupt)?);
        Ok(Some((number, index as usize)))
    }

    /// The first block whose state is kept (older state was written before history was).
    pub fn history_from(&self) -> Result<u64> {
        let table = table_or_none!(self.tx, META);
        let value = table.get("history_from")?;
        value
            .map(|v| Ok(u64::from_be_bytes(v.value().try_into().map_err(corrupt)?)))
            .transpose()
            .map(Option::unwrap_or_default)
    }

    /// The dev edits applied before block `n`'s transactions.
    pub fn dev_edits(&self, n: u64) -> Result<Vec<DevEdit>> {
        let table = table_or_none!(self.tx, DEV_EDITS);
        let value = table.get(n)?;
        value.map(|v| serde_json::from_slice(v.value()).map_err(corrupt)).transpose().map(Option::unwrap_or_default)
    }

    /// `(nonce, balance, code_hash)` of `address` after block `block`.
    pub fn account_at(&self, address: &Address, block: u64) -> Result<Option<(u64, U256, B256)>> {
        let history = self.tx.open_table(ACCOUNT_HISTORY)?;
        let lo = account_history_key(address, block.saturating_add(1));
        let hi = account_history_key(address, u64::MAX);
        if let Some(entry) = history.range::<&[u8]>(lo.as_slice()..=hi.as_slice())?.next() {
            let (_, before) = entry?;
            let before = before.value();
            return if before.is_empty() { Ok(None) } else { decode_account(before).map(Some) };
        }
        let accounts = self.tx.open_table(ACCOUNTS)?;
        let value = accounts.get(address.as_slice())?;
        value.map(|v| decode_account(v.value())).transpose()
    }

    /// Storage `slot` of `address` after block `block`.
    pub fn storage_at(&self, address: &Address, slot: &U256, block: u64) -> Result<U256> {
        let key = storage_key(address, slot);
        let history = self.tx.open_table(STORAGE_HISTORY)?;
        let lo = storage_history_key(&key, block.saturating_add(1));
        let hi = storage_history_key(&key, u64::MAX);
        if let Some(entry) = history.range::<&[u8]>(lo.as_slice()..=hi.as_slice())?.next() {
            let (_, before) = entry?;
            return Ok(U256::from_be_slice(before.value()));
        }
        let storage = self.tx.open_table(STORAGE)?;
        let value = storage.get(key.as_slice())?;
        Ok(value.map(|v| U256::from_be_slice(v.value())).unwrap_or_default())
    }

    /// Code by hash.
    pub fn code(&self, hash: &B256) -> Result<Option<Bytecode>> {
        let codes = self.tx.open_table(CODES)?;
        let value = codes.get(hash.as_slice())?;
        Ok(value.map(|v| Bytecode::new_raw(Bytes::copy_from_slice(v.value()))))
    }
}

/// The error of reading historical state for the EVM.
#[derive(Debug, thiserror::Error)]
#[error("reading historical state: {0}")]
pub struct StateReadError(pub String);

impl revm::database_interface::DBErrorMarker for StateReadError {}

/// The state after block `block`, read from a [`Reader`]: what the EVM executes against for
/// calls, traces and replays at older blocks.
#[derive(Debug, Clone, Copy)]
pub struct StateAt<'a> {
    /// The snapshot.
    pub reader: &'a Reader,
    /// The block whose post-state this is.
    pub block: u64,
}

impl revm::DatabaseRef for StateAt<'_> {
    type Error = StateReadError;

    fn basic_ref(&self, address: Address) -> std::result::Result<Option<revm::state::AccountInfo>, StateReadError> {
        let account = self.reader.account_at(&address, self.block).map_err(|e| StateReadError(e.to_string()))?;
        let Some((nonce, balance, code_hash)) = account else { return Ok(None) };
        let code = self.reader.code(&code_hash).map_err(|e| StateReadError(e.to_string()))?;
        Ok(Some(revm::state::AccountInfo { nonce, balance, code_hash, code, ..Default::default() }))
    }

    fn code_by_hash_ref(&self, code_hash: B256) -> std::result::Result<Bytecode, StateReadError> {
        Ok(self.reader.code(&code_hash).map_err(|e| StateReadError(e.to_string()))?.unwrap_or_default())
    }

    fn storage_ref(&self, address: Address, index: U256) -> std::result::Result<U256, StateReadError> {
        self.reader.storage_at(&address, &index, self.block).map_err(|e| StateReadError(e.to_string()))
    }

    fn block_hash_ref(&self, number: u64) -> std::result::Result<B256, StateReadError> {
        Ok(self.reader.hash_of(number).map_err(|e| StateReadError(e.to_string()))?.unwrap_or_default())
    }
}
