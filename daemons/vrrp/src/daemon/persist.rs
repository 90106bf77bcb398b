//! `state.json`: each instance's last grant and state, so a restart after kill -9
//! resumes Master at once while its grant is still valid.

use std::collections::BTreeMap;

use routerd_vrrp_core::GrantRole;
use serde::{Deserialize, Serialize};

/// Name of the state file inside the state directory.
pub const STATE_FILE: &str = "state.json";

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PersistedState {
    /// By instance name.
    pub instances: BTreeMap<String, PersistedInstance>,
}

/// One instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PersistedInstance {
    /// Its ownership group.
    pub group: String,
    /// Initialize, Backup or Master.
    pub state: String,
    /// The last accepted grant.
    pub grant: Option<PersistedGrant>,
}

/// A grant on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PersistedGrant {
    /// Role.
    pub role: GrantRole,
    /// Epoch.
    pub epoch: u64,
    /// CLOCK_MONOTONIC deadline in ns; `None`: no expiry.
    pub deadline_mono_ns: Option<u64>,
}
