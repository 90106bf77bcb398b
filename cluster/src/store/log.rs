//! openraft's `RaftLogStorage` on redb: log entries, vote, committed and purge marks.

use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{OptionalSend, RaftLogReader, StorageIOError, Vote};
use redb::{Database, Durability, ReadableDatabase, ReadableTable};

use super::{
    DbError, KEY_COMMITTED, KEY_PURGED, KEY_VOTE, LOGS, META, blocking, read_meta, write_meta,
};
use crate::types::{Entry, LogId, NodeId, StorageError, TypeConfig};

/// The Raft log on disk. Cheap to clone: replication tasks each get a reader clone.
#[derive(Debug, Clone)]
pub(crate) struct LogStore {
    db: Arc<Database>,
}

impl LogStore {
    pub(crate) fn new(db: Arc<Database>) -> LogStore {
        LogStore { db }
    }
}

fn log_err(e: DbError) -> StorageError {
    StorageIOError::read_logs(&e).into()
}

fn bounds(range: &impl RangeBounds<u64>) -> (Bound<u64>, Bound<u64>) {
    (range.start_bound().cloned(), range.end_bound().cloned())
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let db = self.db.clone();
        let range = bounds(&range);
        blocking(move || {
            let tx = db.begin_read()?;
            let table = tx.open_table(LOGS)?;
            let mut out = Vec::new();
            for row in table.range::<u64>(range)? {
                let (_, v) = row?;
                out.push(serde_json::from_slice::<Entry>(v.value())?);
            }
            Ok(out)
        })
        .await
        .map_err(log_err)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let db = self.db.clone();
        blocking(move || {
            let last_purged_log_id: Option<LogId> = read_meta(&db, KEY_PURGED)?;
            let tx = db.begin_read()?;
            let table = tx.open_table(LOGS)?;
            let last = match table.last()? {
                Some((_, v)) => Some(serde_json::from_slice::<Entry>(v.value())?.log_id),
                None => None,
            };
            Ok(LogState {
                last_purged_log_id,
                last_log_id: last.or(last_purged_log_id),
            })
        })
        .await
        .map_err(log_err)
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError> {
        let db = self.db.clone();
        let vote = *vote;
        blocking(move || write_meta(&db, KEY_VOTE, &vote, Durability::Immediate))
            .await
            .map_err(|e| StorageIOError::write_vote(&e).into())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError> {
        let db = self.db.clone();
        blocking(move || read_meta(&db, KEY_VOTE))
            .await
            .map_err(|e| StorageIOError::read_vote(&e).into())
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        let db = self.db.clone();
        // Non-durable: the next durable commit (an append) carries it to disk; see the
        // module docs for why losing it in a crash is harmless.
        blocking(move || write_meta(&db, KEY_COMMITTED, &committed, Durability::None))
            .await
            .map_err(|e| StorageIOError::write(&e).into())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        let db = self.db.clone();
        blocking(move || Ok(read_meta::<Option<LogId>>(&db, KEY_COMMITTED)?.flatten()))
            .await
            .map_err(|e| StorageIOError::read(&e).into())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let rows = entries
            .into_iter()
            .map(|e| Ok((e.log_id.index, serde_json::to_vec(&e)?)))
            .collect::<Result<Vec<_>, DbError>>()
            .map_err(|e| StorageError::from(StorageIOError::write_logs(&e)))?;
        let db = self.db.clone();
        // The commit is durable before the callback: openraft counts this node's
        // acknowledgement towards the quorum only once the callback has fired.
        let done = blocking(move || {
            let tx = db.begin_write()?;
            {
                let mut table = tx.open_table(LOGS)?;
                for (index, bytes) in &rows {
                    table.insert(index, bytes.as_slice())?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await;
        match done {
            Ok(()) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                callback.log_io_completed(Err(io::Error::other(e.to_string())));
                Err(StorageIOError::write_logs(&e).into())
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let db = self.db.clone();
        blocking(move || {
            let tx = db.begin_write()?;
            tx.open_table(LOGS)?
                .retain_in(log_id.index.., |_, _| false)?;
            tx.commit()?;
            Ok(())
        })
        .await
        .map_err(|e| StorageIOError::write_logs(&e).into())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let db = self.db.clone();
        // The purge mark and the deletion commit together: after a crash the log never
        // starts later than the mark says.
        blocking(move || {
            let bytes = serde_json::to_vec(&log_id)?;
            let tx = db.begin_write()?;
            tx.open_table(META)?.insert(KEY_PURGED, bytes.as_slice())?;
            tx.open_table(LOGS)?
                .retain_in(..=log_id.index, |_, _| false)?;
            tx.commit()?;
            Ok(())
        })
        .await
        .map_err(|e| StorageIOError::write_logs(&e).into())
    }
}
