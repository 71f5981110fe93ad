//! The node's error types: [`NodeError`] for everything that can go wrong, and
//! [`TxRejection`] for the reasons a transaction is refused before or during block building.

use alloy_primitives::{Address, B256, U256};

/// Everything that can go wrong in the node, with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The embedded database failed.
    #[error("database error: {0} (is another `aiop node` using the same --datadir?)")]
    Db(String),
    /// A block could not be committed to the database. Nothing in memory changed: the node
    /// still serves the last committed block.
    #[error(
        "cannot commit block {number} to the database: {reason}; the node keeps serving block {head} (check the disk holding --datadir)"
    )]
    Commit {
        /// The block that was not committed.
        number: u64,
        /// The last committed block, which the node still serves.
        head: u64,
        /// The database's error.
        reason: String,
    },
    /// The data directory holds something this node cannot read.
    #[error("corrupt database: {0} (start with a fresh --datadir)")]
    Corrupt(String),
    /// The genesis file could not be read or is unusable.
    #[error("bad genesis: {0}")]
    Genesis(String),
    /// The database was created from a different genesis than the one given now.
    #[error(
        "the database at {datadir} was created with genesis {stored}, but this run's genesis is {given}; use the same --chain or a fresh --datadir"
    )]
    GenesisMismatch {
        /// Data directory.
        datadir: String,
        /// Stored genesis hash.
        stored: String,
        /// Given genesis hash.
        given: String,
    },
    /// Executing a block failed.
    #[error("block execution failed: {0}")]
    Execution(String),
    /// A transaction was refused.
    #[error(transparent)]
    Rejected(#[from] TxRejection),
    /// A private key given to the node is unusable.
    #[error("bad private key: {0}")]
    Key(&'static str),
    /// A thread panicked while it held one of the node's locks. Every write to the guarded
    /// data is a single swap after the database commit, so the database is intact; but the
    /// process is in a state nobody tested, so it stops serving.
    #[error(
        "internal error: a thread panicked while holding the {0} lock; restart the node (every committed block is in the database)"
    )]
    Poisoned(&'static str),
    /// Replaying the chain found a block that differs from the stored one.
    #[error("block {number} differs: {what}")]
    Mismatch {
        /// First differing block.
        number: u64,
        /// What differs.
        what: String,
    },
    /// The kernel path asked for is not available here.
    #[error("kernels: {0}")]
    Kernels(String),
    /// A bug: something the node's own logic rules out happened.
    #[error("internal error: {0}; please report it")]
    Internal(String),
    /// I/O.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// The state a query names is not kept.
    #[error("state at block {number} is not available: {reason}")]
    StateUnavailable {
        /// The block asked for.
        number: u64,
        /// Why not.
        reason: String,
    },
    /// Reading historical state failed.
    #[error(transparent)]
    StateRead(#[from] crate::storage::StateReadError),
    /// A dev-mode helper was called on a node without `--dev`.
    #[error("{0} is a dev-mode helper: start the node with --dev")]
    DevOnly(&'static str),
    /// A block timestamp that does not follow its parent's.
    #[error("timestamp {timestamp} is not after the head block's ({parent})")]
    InvalidTimestamp {
        /// The timestamp asked for.
        timestamp: u64,
        /// The head block's.
        parent: u64,
    },
    /// An `eth_call` state override or request field that cannot be applied.
    #[error("invalid request: {0}")]
    BadOverride(String),
}

/// Why a transaction was refused. The texts follow geth's, which clients match on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxRejection {
    /// EIP-4844 transactions need blob sidecars this devnet does not keep.
    #[error("blob transactions are not supported by this devnet")]
    BlobUnsupported,
    /// Signed for another chain.
    #[error("invalid chain id {got}: this chain's id is {expected}")]
    WrongChainId {
        /// The transaction's chain id.
        got: u64,
        /// This chain's id.
        expected: u64,
    },
    /// The signature does not recover to an address.
    #[error("invalid signature: the sender cannot be recovered")]
    BadSignature,
    /// Already in a block.
    #[error("already known: transaction {0} is in a block")]
    AlreadyKnown(B256),
    /// Already waiting in the pool.
    #[error("already known: transaction {0} is pending")]
    AlreadyPending(B256),
    /// The sender's nonce has moved past this transaction's.
    #[error("nonce too low: next nonce {expected}, tx nonce {got}")]
    NonceTooLow {
        /// The next nonce the sender may use.
        expected: u64,
        /// The transaction's nonce.
        got: u64,
    },
    /// A transaction with the same sender and nonce is pooled and this one does not pay enough
    /// more to replace it.
    #[error(
        "replacement transaction underpriced: a pooled transaction has nonce {nonce}; a replacement must raise both fee caps by {bump}%"
    )]
    ReplacementUnderpriced {
        /// The nonce both transactions use.
        nonce: u64,
        /// The percentage both fees must rise by.
        bump: u64,
    },
    /// The pool holds as many transactions as it may.
    #[error("txpool is full: {limit} transactions are waiting; wait for blocks or raise the fee to replace one")]
    PoolFull {
        /// The pool's capacity.
        limit: usize,
    },
    /// The sender has as many transactions queued behind a nonce gap as it may.
    #[error("account limit exceeded: {limit} transactions of {sender} wait behind a nonce gap")]
    QueueFull {
        /// The sender.
        sender: Address,
        /// The per-sender limit.
        limit: usize,
    },
    /// The signed transaction is bigger than a pool accepts.
    #[error("oversized data: transaction of {size} bytes, at most {limit}")]
    Oversized {
        /// The transaction's encoded size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// More gas than a block holds.
    #[error("exceeds block gas limit: tx gas {gas} > block gas limit {limit}")]
    GasAboveBlockLimit {
        /// The transaction's gas limit.
        gas: u64,
        /// The block gas limit.
        limit: u64,
    },
    /// The fee cap is below the next block's base fee.
    #[error("max fee per gas less than block base fee: maxFeePerGas {max_fee}, baseFee {base_fee}")]
    FeeBelowBaseFee {
        /// The transaction's `maxFeePerGas`.
        max_fee: u128,
        /// The next block's base fee.
        base_fee: u64,
    },
    /// The sender cannot pay `gas * price + value`.
    #[error("insufficient funds for gas * price + value: address {address} have {have} want {want}")]
    InsufficientFunds {
        /// The sender.
        address: Address,
        /// Its balance.
        have: U256,
        /// What the transaction may cost.
        want: U256,
    },
    /// `eth_sendTransaction` without `from`.
    #[error("eth_sendTransaction needs `from`")]
    MissingFrom,
    /// `eth_sendTransaction` from an account the node does not hold the key of.
    #[error("unknown account {0}: only the dev accounts are unlocked (start with --dev)")]
    UnknownAccount(Address),
    /// `eth_sendTransaction` without `gas`, and the call fails at every gas limit.
    #[error("gas estimation failed: {0}")]
    EstimationFailed(String),
    /// Signing with a dev key failed.
    #[error("signing failed: {0}")]
    Signing(String),
    /// The EVM refused the transaction when the block was built (revm's reason).
    #[error("{0}")]
    Invalid(String),
}

impl From<redb::Error> for NodeError {
    fn from(e: redb::Error) -> Self {
        NodeError::Db(e.to_string())
    }
}

macro_rules! redb_from {
    ($($t:ty),*) => {$(
        impl From<$t> for NodeError {
            fn from(e: $t) -> Self {
                NodeError::Db(e.to_string())
            }
        }
    )*};
}
redb_from!(redb::DatabaseError, redb::TransactionError, redb::TableError, redb::StorageError, redb::CommitError);

/// Result alias.
pub type Result<T, E = NodeError> = std::result::Result<T, E>;
