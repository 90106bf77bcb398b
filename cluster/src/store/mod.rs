//! Raft's durable state in one redb database: the log, the vote, the committed log
//! id and the latest snapshot.
//!
//! Every write that Raft must find after a crash (log entries, vote, purge mark,
//! snapshot) commits with `Durability::Immediate` (redb's checksummed commit, fsync
//! before returning), so a `kill -9` at any instant leaves either the old or the new
//! state. The committed log id alone commits non-durably: losing it only means a
//! restarted node re-applies fewer entries at start and learns the rest from the
//! leader; it is never needed for safety.
//!
//! redb is synchronous; every transaction runs on tokio's blocking pool so fsyncs
//! never stall the runtime's workers.

mod log;
pub(crate) mod sm;

use std::path::Path;
use std::sync::Arc;

use redb::{Database, TableDefinition};

pub(crate) use log::LogStore;
pub use sm::Applied;
pub(crate) use sm::StateMachine;

/// Log entries (serde JSON) by index.
const LOGS: TableDefinition<u64, &[u8]> = TableDefinition::new("logs");
/// Single values by name: vote, committed, last purged log id, snapshot.
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

const KEY_VOTE: &str = "vote";
const KEY_COMMITTED: &str = "committed";
const KEY_PURGED: &str = "last_purged";
const KEY_SNAPSHOT: &str = "snapshot";

/// The database file inside a node's data directory.
pub(crate) const DB_FILE: &str = "raft.redb";

/// Why a storage operation failed, before it becomes openraft's `StorageError`.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DbError {
    #[error("redb: {0}")]
    Redb(#[from] redb::Error),
    #[error("encoding: {0}")]
    Json(#[from] serde_json::Error),
    #[error("storage task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for DbError {
            fn from(e: $t) -> Self {
                DbError::Redb(e.into())
            }
        }
    )*};
}
from_redb!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::SetDurabilityError
);

/// Opens (or creates) the node's database and makes sure every table exists, so
/// readers never see "table does not exist".
pub(crate) fn open(dir: &Path) -> Result<Arc<Database>, DbError> {
    let db = Database::create(dir.join(DB_FILE))?;
    let tx = db.begin_write()?;
    tx.open_table(LOGS)?;
    tx.open_table(META)?;
    tx.commit()?;
    Ok(Arc::new(db))
}

/// Runs a blocking redb job on tokio's blocking pool.
async fn blocking<T: Send + 'static>(
    job: impl FnOnce() -> Result<T, DbError> + Send + 'static,
) -> Result<T, DbError> {
    tokio::task::spawn_blocking(job).await?
}

/// Reads and decodes one META value.
fn read_meta<T: serde::de::DeserializeOwned>(
    db: &Database,
    key: &str,
) -> Result<Option<T>, DbError> {
    use redb::ReadableDatabase;
    let tx = db.begin_read()?;
    let table = tx.open_table(META)?;
    match table.get(key)? {
        Some(v) => Ok(Some(serde_json::from_slice(v.value())?)),
        None => Ok(None),
    }
}

/// Encodes and writes one META value with the given durability.
fn write_meta<T: serde::Serialize>(
    db: &Database,
    key: &str,
    value: &T,
    durability: redb::Durability,
) -> Result<(), DbError> {
    let bytes = serde_json::to_vec(value)?;
    let mut tx = db.begin_write()?;
    tx.set_durability(durability)?;
    tx.open_table(META)?.insert(key, bytes.as_slice())?;
    tx.commit()?;
    Ok(())
}
