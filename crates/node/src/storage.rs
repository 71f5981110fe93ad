//! The embedded database (redb). Each block is written in one write transaction together with
//! its state changes, so a crash (even `kill -9`) leaves either the whole block or none of it.

use crate::{
    error::{NodeError, Result},
    state::{AccountState, Diff, WorldState},
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

impl Store {
    /// Opens (or creates) the database under `datadir`.
    pub fn open(datadir: &Path) -> Result<Store> {
        std::fs::create_dir_all(datadir)?;
        let db = Database::create(datadir.join("aiop.redb"))?;
        Ok(Store { db, fail_commits: Default::default() })
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
        Ok(())
    }

    /// Commits a block and its state changes atomically.
    pub fn commit_block(&self, block: &StoredBlock, diff: &Diff, world_after: &WorldState) -> Result<()> {
        let tx = self.db.begin_write()?;
        {
            let mut accounts = tx.open_table(ACCOUNTS)?;
            let mut storage = tx.open_table(STORAGE)?;
            let mut codes = tx.open_table(CODES)?;
            for (hash, code) in &diff.codes {
                codes.insert(hash.as_slice(), code.original_byte_slice())?;
            }
            for (address, change) in &diff.accounts {
                if change.storage_cleared || change.info.is_none() {
                    let lo = storage_key(address, &U256::ZERO);
                    let hi = storage_key(address, &U256::MAX);
                    let keys: Vec<Vec<u8>> = storage
                        .range::<&[u8]>(lo.as_slice()..=hi.as_slice())?
                        .map(|r| r.map(|(k, _)| k.value().to_vec()))
                        .collect::<std::result::Result<_, _>>()?;
                    for k in keys {
                        storage.remove(k.as_slice())?;
                    }
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
        }
        Self::write_block(&tx, block)?;
        if self.fail_commits.load(std::sync::atomic::Ordering::Relaxed) {
            tx.abort()?;
            return Err(NodeError::Db("the commit was made to fail (test)".into()));
        }
        tx.commit()?;
        Ok(())
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
        let tx = self.db.begin_read()?;
        let get = |def: TableDefinition<u64, &[u8]>| -> Result<Vec<u8>> {
            let table = tx.open_table(def)?;
            let v = table.get(n)?.ok_or_else(|| corrupt(format!("block {n} is missing")))?;
            Ok(v.value().to_vec())
        };
        let header = Header::decode(&mut get(HEADERS)?.as_slice()).map_err(corrupt)?;
        let bodies = decode_list(&get(BODIES)?)?;
        let senders = decode_list(&get(SENDERS)?)?;
        let receipts = decode_list(&get(RECEIPTS)?)?;
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
        Ok(StoredBlock { header, hash, txs, receipts })
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
