//! The server side of the daemon contract: HTTP/1.1 + JSON on a Unix socket.
//!
//! A daemon implements [`Daemon`], builds the routes with [`contract_router`] and runs
//! them with [`serve`]:
//!
//! ```no_run
//! # use std::{path::Path, sync::Arc};
//! # use routerd_contract::server::*;
//! # use routerd_contract::event::{EventLog, Rotation};
//! # async fn run<D: Daemon>(daemon: Arc<D>) -> Result<(), Box<dyn std::error::Error>> {
//! let events = EventLog::open("/run/routerd/wan-check/events.jsonl", "routerd-healthcheck/wan-check", Rotation::default())?;
//! let info = ServerInfo { daemon: "routerd-healthcheck".into(), instance: "wan-check".into() };
//! // Extra routes (routerd's own API) are merged in before serving; they get the same
//! // tracing span, JSON errors, body limit and 404 fallback, because `serve` adds those
//! // around the whole merged router. Do not set a fallback on `extra`.
//! let extra = axum::Router::new().route("/v1/config", axum::routing::get(|| async { "{}" }));
//! let router = contract_router(info, daemon, events).merge(extra);
//! serve(Path::new("/run/routerd/wan-check/api.sock"), router, async { /* shutdown signal */ }).await?;
//! # Ok(()) }
//! ```

mod events;
mod layers;
mod listen;
mod routes;

use std::fmt;
use std::future::Future;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use layers::{MAX_BODY_BYTES, contract_layers};
pub use listen::{ServeError, bind_unix, serve, serve_listener};
pub use routes::contract_router;

/// Whether a daemon's main loop is live, as answered on `/v1/healthz`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Working normally (200).
    Live,
    /// Not working; the reason is reported with a 503.
    Unhealthy(String),
}

/// An action requested with `POST /v1/commands/{command}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Command {
    /// Re-read configuration.
    Reload,
    /// Renew a lease or session now (DHCP renew, BGP route refresh).
    Renew,
    /// Shut down cleanly.
    Stop,
}

impl Command {
    /// Every command, in the order they are listed to users.
    pub const ALL: [Command; 3] = [Command::Reload, Command::Renew, Command::Stop];

    /// The command's name in URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            Command::Reload => "reload",
            Command::Renew => "renew",
            Command::Stop => "stop",
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A command name that is not one of [`Command::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown command {0:?}; valid commands are reload, renew, stop")]
pub struct UnknownCommand(pub String);

impl FromStr for Command {
    type Err = UnknownCommand;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Command::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownCommand(s.to_string()))
    }
}

/// What a daemon did with a command.
#[derive(Debug, Clone, PartialEq)]
pub enum CommandOutcome {
    /// Done; the value says what was done (200).
    Done(serde_json::Value),
    /// This daemon does not do that, or not in its current state (409).
    Unsupported(String),
    /// It tried and failed (500).
    Failed(String),
}

/// A daemon's own status: its phase and typed detail, wrapped by `/v1/status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DaemonStatus {
    /// `Bound`, `Renewing`, `Master`, `Established`, ...
    pub phase: String,
    /// The daemon's typed status (lease, session, timers, counters, last error).
    pub detail: serde_json::Value,
}

/// What a managed daemon provides to the contract server.
pub trait Daemon: Send + Sync + 'static {
    /// The current status.
    fn status(&self) -> impl Future<Output = DaemonStatus> + Send;
    /// Whether the main loop is live; called on every health probe, so keep it cheap.
    fn health(&self) -> Health;
    /// Carries out a command and says what happened.
    fn command(&self, command: Command) -> impl Future<Output = CommandOutcome> + Send;
}

/// Who is serving: reported in `/v1/status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInfo {
    /// The program, e.g. `routerd-healthcheck`.
    pub daemon: String,
    /// This instance's name, e.g. `wan-check`.
    pub instance: String,
}

/// The body of `GET /v1/status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusEnvelope {
    /// The program, e.g. `routerd-healthcheck`.
    pub daemon: String,
    /// The instance name.
    pub instance: String,
    /// The routerd release the daemon was built from.
    pub version: String,
    /// The daemon's process id.
    pub pid: u32,
    /// When the server started, RFC 3339.
    pub started_at: String,
    /// The daemon's phase, from [`DaemonStatus::phase`].
    pub phase: String,
    /// The newest event's seq.
    pub last_event_seq: u64,
    /// The daemon's typed status, from [`DaemonStatus::detail`].
    pub status: serde_json::Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_names_round_trip() {
        for c in Command::ALL {
            assert_eq!(c.to_string().parse::<Command>(), Ok(c));
        }
        let err = "restart".parse::<Command>().unwrap_err();
        assert!(err.to_string().contains("reload, renew, stop"));
    }
}
