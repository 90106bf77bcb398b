//! openraft's `RaftStateMachine`: applies committed entries to the in-memory
//! [`AppState`], and persists it through snapshots.
//!
//! The state lives in memory and is rebuilt at start from the last snapshot plus the
//! committed log after it (openraft re-applies up to the saved committed id), so a
//! snapshot is the only state-machine write that has to be durable.

use std::io::Cursor;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{EntryPayload, OptionalSend, RaftSnapshotBuilder, StorageIOError};
use redb::{Database, Durability};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use super::{DbError, KEY_SNAPSHOT, blocking, read_meta, write_meta};
use crate::state::AppState;
use crate::types::{
    Entry, LogId, Request, Response, SnapshotMeta, StorageError, StoredMembership, TypeConfig,
};

/// Something this node applied, with the local time it did (for lease arithmetic).
#[derive(Debug, Clone)]
pub enum Applied {
    /// An application entry was applied.
    Entry {
        log_index: u64,
        request: Request,
        response: Response,
        at: Instant,
    },
    /// The whole state was replaced from a snapshot (received from the leader, or
    /// loaded at start): re-read it with `with_state` instead of replaying entries.
    Restored {
        last_log_index: Option<u64>,
        at: Instant,
    },
}

/// The snapshot as stored on disk and sent to lagging followers.
#[derive(Debug, Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta,
    /// serde JSON of [`AppState`].
    data: Vec<u8>,
}

/// The state machine handed to openraft; the node keeps another handle on `state`.
pub(crate) struct StateMachine {
    db: Arc<Database>,
    state: Arc<RwLock<AppState>>,
    applied: broadcast::Sender<Applied>,
}

fn sm_err(e: DbError) -> StorageError {
    StorageIOError::write_state_machine(&e).into()
}

fn snap_err(meta: Option<&SnapshotMeta>, e: DbError) -> StorageError {
    StorageIOError::write_snapshot(meta.map(|m| m.signature()), &e).into()
}

impl StateMachine {
    /// Loads the last snapshot (if any) into a fresh state.
    pub(crate) async fn open(
        db: Arc<Database>,
        state: Arc<RwLock<AppState>>,
        applied: broadcast::Sender<Applied>,
    ) -> Result<StateMachine, StorageError> {
        let sm = StateMachine { db, state, applied };
        let db = sm.db.clone();
        let stored: Option<StoredSnapshot> =
            blocking(move || read_meta(&db, KEY_SNAPSHOT))
                .await
                .map_err(|e| StorageError::from(StorageIOError::read_snapshot(None, &e)))?;
        if let Some(snap) = stored {
            sm.restore(&snap)
                .map_err(|e| StorageError::from(StorageIOError::read_snapshot(None, &e)))?;
        }
        Ok(sm)
    }

    /// Replaces the state with a snapshot's content.
    fn restore(&self, snap: &StoredSnapshot) -> Result<(), DbError> {
        let mut fresh: AppState = serde_json::from_slice(&snap.data)?;
        let now = Instant::now();
        // Lease timestamps are local and not in the snapshot: count them from now.
        fresh.ownership.after_restore(now);
        fresh.last_applied = snap.meta.last_log_id;
        fresh.membership = snap.meta.last_membership.clone();
        *self.state.write().unwrap_or_else(PoisonError::into_inner) = fresh;
        let _ = self.applied.send(Applied::Restored {
            last_log_index: snap.meta.last_log_id.map(|l| l.index),
            at: now,
        });
        Ok(())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, AppState> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A frozen copy of the state, turned into a snapshot off the apply path.
pub(crate) struct SnapshotBuilder {
    db: Arc<Database>,
    state: AppState,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let data = serde_json::to_vec(&self.state).map_err(|e| {
            StorageError::from(StorageIOError::read_state_machine(&DbError::from(e)))
        })?;
        let last = self.state.last_applied;
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let snapshot_id = match last {
            Some(l) => format!("{}-{}-{nanos}", l.leader_id, l.index),
            None => format!("none-{nanos}"),
        };
        let meta = SnapshotMeta {
            last_log_id: last,
            last_membership: self.state.membership.clone(),
            snapshot_id,
        };
        let stored = StoredSnapshot {
            meta: meta.clone(),
            data,
        };
        let db = self.db.clone();
        let stored = blocking(move || {
            write_meta(&db, KEY_SNAPSHOT, &stored, Durability::Immediate)?;
            Ok(stored)
        })
        .await
        .map_err(|e| snap_err(Some(&meta), e))?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(stored.data)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        let s = self.read();
        Ok((s.last_applied, s.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Response>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries = entries.into_iter();
        let mut responses = Vec::with_capacity(entries.size_hint().0);
        let mut events = Vec::new();
        {
            let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
            for entry in entries {
                state.last_applied = Some(entry.log_id);
                let response = match entry.payload {
                    EntryPayload::Blank => Response::Noop,
                    EntryPayload::Membership(m) => {
                        state.membership = StoredMembership::new(Some(entry.log_id), m);
                        Response::Noop
                    }
                    EntryPayload::Normal(request) => {
                        let at = Instant::now();
                        let response = state.apply(&request, at);
                        events.push(Applied::Entry {
                            log_index: entry.log_id.index,
                            request,
                            response: response.clone(),
                            at,
                        });
                        response
                    }
                };
                responses.push(response);
            }
        }
        // Sent after the lock is released, so a subscriber reacting with `with_state`
        // sees the state the event describes. A broadcast never blocks on a slow
        // subscriber: it lags and is told so.
        for e in events {
            let _ = self.applied.send(e);
        }
        Ok(responses)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        SnapshotBuilder {
            db: self.db.clone(),
            state: self.read().clone(),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let stored = StoredSnapshot {
            meta: meta.clone(),
            data: snapshot.into_inner(),
        };
        // Decode before persisting: a corrupt transfer must not replace a good snapshot.
        let _: AppState = serde_json::from_slice(&stored.data)
            .map_err(|e| snap_err(Some(meta), DbError::from(e)))?;
        let db = self.db.clone();
        let stored = blocking(move || {
            write_meta(&db, KEY_SNAPSHOT, &stored, Durability::Immediate)?;
            Ok(stored)
        })
        .await
        .map_err(|e| snap_err(Some(meta), e))?;
        self.restore(&stored).map_err(sm_err)
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let db = self.db.clone();
        let stored: Option<StoredSnapshot> =
            blocking(move || read_meta(&db, KEY_SNAPSHOT))
                .await
                .map_err(|e| StorageError::from(StorageIOError::read_snapshot(None, &e)))?;
        Ok(stored.map(|s| Snapshot {
            meta: s.meta,
            snapshot: Box::new(Cursor::new(s.data)),
        }))
    }
}
