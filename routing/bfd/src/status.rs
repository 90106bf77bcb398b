//! What a session reports: counters and a status snapshot.

use serde::Serialize;

use crate::error::DropCounters;
use crate::packet::{Diag, State};

/// Per-session counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Counters {
    /// Control packets sent (periodic, immediate and Final).
    pub packets_sent: u64,
    /// Packets accepted for this session (they reset the detection timer).
    pub packets_received: u64,
    /// Finals sent in answer to the peer's Polls.
    pub finals_sent: u64,
    /// Poll Sequences we started.
    pub polls_started: u64,
    /// Poll Sequences the peer acknowledged with a Final.
    pub polls_completed: u64,
    /// Detection Time expiries that took the session Down.
    pub detection_expiries: u64,
    /// Transitions into Up.
    pub up_transitions: u64,
    /// Transitions from Up to Down.
    pub down_transitions: u64,
    /// Packets dropped by the session's own checks.
    pub dropped: DropCounters,
}

/// A session's state and timers, for status reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionStatus {
    /// bfd.SessionState.
    pub state: State,
    /// bfd.LocalDiag.
    pub local_diag: Diag,
    /// bfd.LocalDiscr.
    pub local_discr: u32,
    /// bfd.RemoteDiscr (0 while unknown).
    pub remote_discr: u32,
    /// bfd.RemoteSessionState.
    pub remote_state: State,
    /// The peer's last diagnostic.
    pub remote_diag: Diag,
    /// Desired Min TX we advertise, µs.
    pub desired_min_tx_us: u64,
    /// Required Min RX we advertise, µs.
    pub required_min_rx_us: u64,
    /// Our Detect Mult.
    pub detect_mult: u8,
    /// The peer's Desired Min TX, µs.
    pub remote_desired_min_tx_us: u32,
    /// The peer's Required Min RX, µs (bfd.RemoteMinRxInterval).
    pub remote_required_min_rx_us: u32,
    /// The peer's Detect Mult (0 until heard).
    pub remote_detect_mult: u8,
    /// The negotiated transmit interval before jitter, µs (None: the peer
    /// asked for no packets).
    pub tx_interval_us: Option<u64>,
    /// The Detection Time, µs (None until the peer was heard).
    pub detection_time_us: Option<u64>,
    /// A Poll Sequence of ours is waiting for its Final.
    pub poll_active: bool,
    /// Counters.
    pub counters: Counters,
}
