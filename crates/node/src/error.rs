//! The node's error type.

/// Everything that can go wrong in the node, with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The embedded database failed.
    #[error("database error: {0} (is another `aiop node` using the same --datadir?)")]
    Db(String),
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
    /// A transaction was rejected before execution.
    #[error("{0}")]
    InvalidTx(String),
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
    /// I/O.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
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
