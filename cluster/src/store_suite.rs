//! openraft's own storage conformance suite, run against the redb store.

use std::sync::{Arc, RwLock};

use openraft::testing::{StoreBuilder, Suite};
use tokio::sync::broadcast;

use crate::store::{self, LogStore, StateMachine};
use crate::types::{StorageError, TypeConfig};

struct RedbBuilder;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, tempfile::TempDir> for RedbBuilder {
    async fn build(&self) -> Result<(tempfile::TempDir, LogStore, StateMachine), StorageError> {
        let dir = tempfile::tempdir().map_err(|e| openraft::StorageIOError::write(&e))?;
        let db = store::open(dir.path()).map_err(|e| openraft::StorageIOError::write(&e))?;
        let (tx, _) = broadcast::channel(16);
        let sm =
            StateMachine::open(db.clone(), Arc::new(RwLock::new(Default::default())), tx).await?;
        Ok((dir, LogStore::new(db), sm))
    }
}

#[test]
fn openraft_storage_suite_passes() {
    if let Err(e) = Suite::test_all(RedbBuilder) {
        panic!("storage suite failed: {e}");
    }
}
