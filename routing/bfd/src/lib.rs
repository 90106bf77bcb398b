//! BFD (RFC 5880/5881), single-hop asynchronous mode.
//!
//! - [`packet`]: the Control packet codec with the session-independent
//!   reception checks of RFC 5880 6.8.6, never panicking.
//! - [`fsm`]: [`Session`], the AdminDown/Down/Init/Up machine: packets, admin
//!   commands and `now` in, [`Action`]s out, [`Session::next_deadline`] for the
//!   next timer. Pure: no sockets, no clock.
//! - [`config`]: session parameters and their validation.
//! - [`jitter`]: the [`Jitter`] source for periodic transmission.
//! - [`demux`]: which session a received packet belongs to (RFC 5880 6.3).
//! - [`status`], [`error`]: counters, status snapshots, parse errors and drop reasons.
//! - `io` and `runner` (feature `runner`, on by default): the RFC 5881 UDP
//!   edge and [`Bfd`], an async task running many sessions, for the BGP daemon.

#![warn(missing_docs)]

pub mod config;
pub mod demux;
pub mod error;
pub mod fsm;
#[cfg(feature = "runner")]
pub mod io;
pub mod jitter;
pub mod packet;
#[cfg(feature = "runner")]
pub mod runner;
pub mod status;

pub use config::{AuthConfig, ConfigError, SessionParams};
pub use demux::{Demux, DemuxError, Route};
pub use error::{DropCounters, DropReason, ParseError};
pub use fsm::{Action, Event, Session, StateChange};
pub use jitter::{FixedJitter, Jitter, SeededJitter};
pub use packet::{Auth, AuthType, ControlPacket, Diag, State};
pub use status::{Counters, SessionStatus};

#[cfg(feature = "runner")]
pub use runner::{
    Bfd, RunnerError, RunnerStatus, SessionEvent, SessionHandle, SessionId, SessionReport,
    SessionSpec, SessionView,
};
