//! `status.json`: the tracker's state, written atomically so a restart after
//! `kill -9` continues from the last known phase instead of Unknown.

use std::path::Path;

use routerd_contract::atomic::{read_json, write_json_atomic};
use serde::{Deserialize, Serialize};

use crate::phase::TrackerState;

/// Name of the state file inside the state directory.
pub const STATUS_FILE: &str = "status.json";

/// The on-disk shape of `status.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PersistedStatus {
    /// Format version, bumped on incompatible changes.
    pub version: u32,
    /// The check this state belongs to; another name's state is not restored.
    pub name: String,
    /// When it was written, RFC 3339.
    pub saved_at: String,
    /// Phase, streaks, counters, last result and last transition.
    #[serde(flatten)]
    pub tracker: TrackerState,
}

const VERSION: u32 = 1;

/// What restoring found.
#[derive(Debug)]
pub(crate) enum Restored {
    /// A usable state for this check.
    State(TrackerState),
    /// No file: a first start.
    Missing,
    /// A file that cannot be used (corrupt, other check, other version).
    Unusable(String),
}

pub(crate) fn load(path: &Path, name: &str) -> Restored {
    match read_json::<PersistedStatus>(path) {
        Ok(None) => Restored::Missing,
        Ok(Some(saved)) if saved.version != VERSION => {
            Restored::Unusable(format!("unsupported status.json version {}", saved.version))
        }
        Ok(Some(saved)) if saved.name != name => Restored::Unusable(format!(
            "status.json belongs to health check {:?}, not {name:?}",
            saved.name
        )),
        Ok(Some(saved)) => Restored::State(saved.tracker),
        Err(e) => Restored::Unusable(e.to_string()),
    }
}

pub(crate) fn save(path: &Path, name: &str, tracker: &TrackerState) -> std::io::Result<()> {
    let saved = PersistedStatus {
        version: VERSION,
        name: name.to_string(),
        saved_at: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
        tracker: tracker.clone(),
    };
    write_json_atomic(path, &saved)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phase::Phase;

    #[test]
    fn round_trip_and_refusals() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(STATUS_FILE);
        assert!(matches!(load(&path, "a"), Restored::Missing));

        let state = TrackerState {
            phase: Phase::Healthy,
            consecutive_successes: 4,
            ..TrackerState::default()
        };
        save(&path, "a", &state).unwrap();
        match load(&path, "a") {
            Restored::State(s) => assert_eq!(s, state),
            other => panic!("{other:?}"),
        }
        assert!(matches!(load(&path, "b"), Restored::Unusable(_)));

        std::fs::write(&path, "{\"version\": 1, \"name\": \"a\", \"saved").unwrap();
        match load(&path, "a") {
            Restored::Unusable(why) => assert!(why.contains("corrupt"), "{why}"),
            other => panic!("{other:?}"),
        }
    }
}
