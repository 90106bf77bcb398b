//! The daemon shell: one engine task owns every instance (state machines, sockets,
//! kernel writes); the contract handlers and the grants endpoint talk to it by
//! messages, so no state is shared mutably and a grant takes effect as soon as
//! the engine reads its message.

mod engine;
mod grants;
mod persist;
mod status;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use routerd_contract::event::EventLog;
use routerd_contract::server::{Command, CommandOutcome, Daemon, DaemonStatus, Health};
use serde_json::json;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

pub use engine::Engine;
pub use grants::{GrantRequest, GrantsBody, grants_router};
pub use persist::{PersistedGrant, PersistedInstance, PersistedState, STATE_FILE};

use crate::spec::VrrpSpec;

/// Name of the event log inside the state directory.
pub const EVENTS_FILE: &str = "events.jsonl";

/// How long the engine may go without a step before `/v1/healthz` says unhealthy;
/// it wakes at least once a second.
const STALL_LIMIT: Duration = Duration::from_secs(5);

pub use routerd_contract::Shutdown;

/// Messages from the contract handlers to the engine.
pub(crate) enum Request {
    Grants(Vec<GrantRequest>, oneshot::Sender<serde_json::Value>),
    Status(oneshot::Sender<DaemonStatus>),
    Reload(Box<VrrpSpec>, oneshot::Sender<CommandOutcome>),
}

/// The contract face of the daemon.
pub struct VrrpDaemon {
    config: PathBuf,
    requests: mpsc::Sender<Request>,
    heartbeat: watch::Receiver<Instant>,
    shutdown: Shutdown,
}

/// Connects to the kernel, starts every instance (resuming Master from a valid
/// stored grant) and returns the contract handle plus the engine to run.
pub async fn start(
    config: &Path,
    spec: VrrpSpec,
    state_dir: &Path,
    events: Arc<EventLog>,
    shutdown: Shutdown,
) -> anyhow::Result<(Arc<VrrpDaemon>, Engine)> {
    let (requests_tx, requests_rx) = mpsc::channel(64);
    let (heartbeat_tx, heartbeat_rx) = watch::channel(Instant::now());
    let engine = Engine::start(
        spec,
        state_dir,
        events,
        requests_rx,
        heartbeat_tx,
        shutdown.clone(),
    )
    .await?;
    let handle = VrrpDaemon {
        config: config.to_path_buf(),
        requests: requests_tx,
        heartbeat: heartbeat_rx,
        shutdown,
    };
    Ok((Arc::new(handle), engine))
}

impl VrrpDaemon {
    async fn ask<T>(
        &self,
        request: impl FnOnce(oneshot::Sender<T>) -> Request,
    ) -> Result<T, &'static str> {
        let (tx, rx) = oneshot::channel();
        self.requests
            .send(request(tx))
            .await
            .map_err(|_| "the VRRP engine has stopped")?;
        rx.await
            .map_err(|_| "the VRRP engine stopped before answering")
    }

    /// Applies grants and answers with per-group results.
    pub async fn grants(
        &self,
        grants: Vec<GrantRequest>,
    ) -> Result<serde_json::Value, &'static str> {
        self.ask(|tx| Request::Grants(grants, tx)).await
    }
}

impl Daemon for VrrpDaemon {
    async fn status(&self) -> DaemonStatus {
        self.ask(Request::Status)
            .await
            .unwrap_or_else(|e| DaemonStatus {
                phase: "Stopped".into(),
                detail: json!({"error": e}),
            })
    }

    fn health(&self) -> Health {
        let quiet = self.heartbeat.borrow().elapsed();
        if self.shutdown.is_triggered() {
            Health::Unhealthy("stopping".into())
        } else if quiet > STALL_LIMIT {
            Health::Unhealthy(format!("the VRRP engine has not run for {quiet:?}"))
        } else {
            Health::Live
        }
    }

    async fn command(&self, command: Command) -> CommandOutcome {
        match command {
            Command::Reload => match VrrpSpec::load(&self.config) {
                Ok(spec) => self
                    .ask(|tx| Request::Reload(Box::new(spec), tx))
                    .await
                    .unwrap_or_else(|e| CommandOutcome::Failed(e.into())),
                Err(e) => CommandOutcome::Failed(format!("{e}; keeping the previous config")),
            },
            Command::Renew => {
                CommandOutcome::Unsupported("routerd-vrrp has nothing to renew; send grants".into())
            }
            Command::Stop => {
                self.shutdown.trigger();
                CommandOutcome::Done(json!({"stopping": true}))
            }
        }
    }
}
