//! The async runner: one tokio task owning every session, its links and the
//! demultiplexing table, fed by one command channel and the links' receive
//! tasks. No locks: the task handles one message at a time.
//!
//! A client (the BGP daemon) holds a [`Bfd`] handle, adds a session per peer
//! with [`Bfd::add_session`] and learns state changes either from that
//! session's [`SessionHandle`] (a watch of its [`SessionView`]) or from
//! [`Bfd::subscribe`] (every [`SessionEvent`], in order). A change with
//! [`StateChange::is_failure`] means the path is gone: tear the BGP session
//! down at once.
//!
//! ```no_run
//! # async fn bgp_peer() -> Result<(), routerd_bfd_core::RunnerError> {
//! use std::net::Ipv4Addr;
//! use std::time::Duration;
//! use routerd_bfd_core::{Bfd, SessionParams, SessionSpec};
//!
//! let bfd = Bfd::spawn();
//! let mut session = bfd
//!     .add_session(SessionSpec {
//!         peer: Ipv4Addr::new(192, 0, 2, 2).into(),
//!         local: Ipv4Addr::new(192, 0, 2, 1).into(),
//!         ifname: "eth0".into(),
//!         params: SessionParams::new(Duration::from_millis(50), 3),
//!     })
//!     .await?;
//! let mut failures_handled = 0;
//! loop {
//!     // In a real daemon this is one branch of the peer's select! loop.
//!     let view = session.changed().await?;
//!     if view.failures > failures_handled {
//!         failures_handled = view.failures;
//!         // BFD saw the path fail: drop the BGP session and its routes now.
//!     }
//! }
//! # }
//! ```

mod task;

use std::net::IpAddr;

use serde::Serialize;
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::config::{ConfigError, SessionParams};
use crate::demux::DemuxError;
use crate::error::DropCounters;
use crate::fsm::StateChange;
use crate::packet::{Diag, State};
use crate::status::SessionStatus;

/// Names a session: its local discriminator, unique within one runner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct SessionId(pub u32);

impl std::fmt::Display for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What a client asks for: a single-hop session with `peer`, sent from
/// `local` over `ifname`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSpec {
    /// The peer's address (the BGP neighbour).
    pub peer: IpAddr,
    /// Our address on the link (the BGP session's local address).
    pub local: IpAddr,
    /// The interface the peer is on.
    pub ifname: String,
    /// Timers and authentication.
    pub params: SessionParams,
}

/// The latest state of one session, as a watch shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionView {
    /// bfd.SessionState.
    pub state: State,
    /// bfd.LocalDiag.
    pub diag: Diag,
    /// The last state change, if any.
    pub last_change: Option<StateChange>,
    /// How many path failures ([`StateChange::is_failure`]) happened so far. A
    /// watch keeps only the latest value: a client that looks late still sees
    /// from this count that a Down came and went.
    pub failures: u64,
}

/// A state change of one session, as broadcast to subscribers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionEvent {
    /// The session.
    pub id: SessionId,
    /// Its peer.
    pub peer: IpAddr,
    /// Its interface.
    pub ifname: String,
    /// What changed.
    pub change: StateChange,
}

/// A client's handle on one session.
#[derive(Debug, Clone)]
pub struct SessionHandle {
    id: SessionId,
    view: watch::Receiver<SessionView>,
}

impl SessionHandle {
    /// The session's id.
    pub fn id(&self) -> SessionId {
        self.id
    }

    /// The latest view.
    pub fn view(&self) -> SessionView {
        *self.view.borrow()
    }

    /// A watch of the view (for `tokio::select!` in a client's loop).
    pub fn watch(&self) -> watch::Receiver<SessionView> {
        self.view.clone()
    }

    /// Waits for the next change and returns the view after it.
    pub async fn changed(&mut self) -> Result<SessionView, RunnerError> {
        self.view
            .changed()
            .await
            .map_err(|_| RunnerError::Stopped)?;
        Ok(*self.view.borrow_and_update())
    }
}

/// One session in a status report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionReport {
    /// The session.
    pub id: SessionId,
    /// Its peer.
    pub peer: IpAddr,
    /// Our address.
    pub local: IpAddr,
    /// Its interface.
    pub ifname: String,
    /// Removed, still announcing AdminDown.
    pub removing: bool,
    /// Packets the kernel refused to send.
    pub send_errors: u64,
    /// The session's own status.
    pub status: SessionStatus,
}

/// The runner's status: every session plus what was dropped before a session
/// could be found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunnerStatus {
    /// Sessions, by id.
    pub sessions: Vec<SessionReport>,
    /// Datagrams received on all links.
    pub received: u64,
    /// Drops decided by the UDP edge (TTL, decoding, demultiplexing).
    pub dropped: DropCounters,
    /// Receive errors on the sockets.
    pub receive_errors: u64,
}

/// Why a runner request failed.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    /// The parameters are invalid.
    #[error("invalid BFD session parameters: {0}")]
    Config(#[from] ConfigError),
    /// A session for this peer on this link exists already.
    #[error(transparent)]
    Duplicate(#[from] DemuxError),
    /// Peer and local address are of different families.
    #[error("peer {peer} and local address {local} are not of the same family")]
    FamilyMismatch {
        /// The peer.
        peer: IpAddr,
        /// Our address.
        local: IpAddr,
    },
    /// The sockets could not be opened (no such interface, no privileges…).
    #[error("cannot open BFD sockets for {local} on {ifname}: {source}")]
    Socket {
        /// The interface.
        ifname: String,
        /// Our address.
        local: IpAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// No session with this id.
    #[error("no BFD session {0}")]
    NoSuchSession(SessionId),
    /// The runner task is gone.
    #[error("the BFD runner has stopped")]
    Stopped,
}

type Reply<T> = oneshot::Sender<Result<T, RunnerError>>;

/// A request to the runner task, with where to send the answer.
enum Command {
    Add(SessionSpec, Reply<SessionHandle>),
    Remove(SessionId, Reply<()>),
    SetParams(SessionId, SessionParams, Reply<()>),
    Admin(SessionId, bool, Reply<()>),
    Status(oneshot::Sender<RunnerStatus>),
    Shutdown(oneshot::Sender<()>),
}

/// The client's handle on the runner. Cloneable; the runner stops (sending
/// AdminDown on every session) when [`Bfd::shutdown`] is called or the last
/// handle is dropped.
#[derive(Debug, Clone)]
pub struct Bfd {
    cmds: mpsc::UnboundedSender<Command>,
    events: broadcast::Sender<SessionEvent>,
}

impl Bfd {
    /// Starts the runner on the current tokio runtime.
    pub fn spawn() -> Bfd {
        let (cmds, cmd_rx) = mpsc::unbounded_channel();
        let (events, _) = broadcast::channel(1024);
        tokio::spawn(task::Runner::new(cmd_rx, events.clone()).run());
        Bfd { cmds, events }
    }

    /// Adds a session; its first packet goes out at once.
    pub async fn add_session(&self, spec: SessionSpec) -> Result<SessionHandle, RunnerError> {
        self.call(|r| Command::Add(spec, r)).await
    }

    /// Removes a session: it announces AdminDown to the peer for a while
    /// (RFC 5880 6.8.16), then is dropped. Adding the same peer again at once
    /// is fine.
    pub async fn remove(&self, id: SessionId) -> Result<(), RunnerError> {
        self.call(|r| Command::Remove(id, r)).await
    }

    /// Changes a session's parameters (a Poll Sequence tells the peer).
    pub async fn set_params(
        &self,
        id: SessionId,
        params: SessionParams,
    ) -> Result<(), RunnerError> {
        self.call(|r| Command::SetParams(id, params, r)).await
    }

    /// Administratively disables (`true`) or enables a session.
    pub async fn admin_down(&self, id: SessionId, down: bool) -> Result<(), RunnerError> {
        self.call(|r| Command::Admin(id, down, r)).await
    }

    /// Every state change of every session from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<SessionEvent> {
        self.events.subscribe()
    }

    /// A status snapshot.
    pub async fn status(&self) -> Result<RunnerStatus, RunnerError> {
        let (tx, rx) = oneshot::channel();
        self.cmds
            .send(Command::Status(tx))
            .map_err(|_| RunnerError::Stopped)?;
        rx.await.map_err(|_| RunnerError::Stopped)
    }

    /// Sends AdminDown on every session and stops the runner.
    pub async fn shutdown(&self) {
        let (tx, rx) = oneshot::channel();
        if self.cmds.send(Command::Shutdown(tx)).is_ok() {
            let _ = rx.await;
        }
    }

    async fn call<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, RunnerError> {
        let (tx, rx) = oneshot::channel();
        self.cmds.send(make(tx)).map_err(|_| RunnerError::Stopped)?;
        rx.await.map_err(|_| RunnerError::Stopped)?
    }
}
