//! The contract face of the daemon: a cheap handle the HTTP handlers hold,
//! asking the speaker task by message and waiting for its answer.

mod http;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use routerd_contract::Shutdown;
use routerd_contract::event::EventLog;
use routerd_contract::server::{Command, CommandOutcome, Daemon, DaemonStatus, Health};
use serde_json::json;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

pub use http::bgp_router;

use crate::speaker::{GrantRequest, Request, RouteQuery, Speaker};
use crate::spec::BgpSpec;

/// Name of the event log inside the state directory.
pub const EVENTS_FILE: &str = "events.jsonl";

/// How long the speaker may go without a step before `/v1/healthz` says
/// unhealthy; it wakes at least once a second.
const STALL_LIMIT: Duration = Duration::from_secs(5);

/// The handle the contract server calls.
pub struct BgpDaemon {
    config: PathBuf,
    requests: mpsc::Sender<Request>,
    heartbeat: watch::Receiver<Instant>,
    shutdown: Shutdown,
}

/// Starts the speaker (kernel, listener, sessions) and returns the contract
/// handle plus the speaker to run.
pub async fn start(
    config: &Path,
    spec: BgpSpec,
    events: Arc<EventLog>,
    shutdown: Shutdown,
) -> anyhow::Result<(Arc<BgpDaemon>, Speaker)> {
    let (requests_tx, requests_rx) = mpsc::channel(64);
    let (heartbeat_tx, heartbeat_rx) = watch::channel(Instant::now());
    let speaker = Speaker::start(spec, events, requests_rx, heartbeat_tx, shutdown.clone()).await?;
    let handle = BgpDaemon {
        config: config.to_path_buf(),
        requests: requests_tx,
        heartbeat: heartbeat_rx,
        shutdown,
    };
    Ok((Arc::new(handle), speaker))
}

impl BgpDaemon {
    async fn ask<T>(
        &self,
        request: impl FnOnce(oneshot::Sender<T>) -> Request,
    ) -> Result<T, &'static str> {
        let (tx, rx) = oneshot::channel();
        self.requests
            .send(request(tx))
            .await
            .map_err(|_| "the BGP speaker has stopped")?;
        rx.await
            .map_err(|_| "the BGP speaker stopped before answering")
    }

    /// Applies ownership grants.
    pub async fn grants(&self, g: Vec<GrantRequest>) -> Result<serde_json::Value, &'static str> {
        self.ask(|tx| Request::Grants(g, tx)).await
    }

    /// `GET /v1/bgp/summary`.
    pub async fn summary(&self) -> Result<serde_json::Value, &'static str> {
        self.ask(Request::Summary).await
    }

    /// `GET /v1/bgp/neighbors`.
    pub async fn neighbors(&self) -> Result<serde_json::Value, &'static str> {
        self.ask(Request::Neighbors).await
    }

    /// `GET /v1/bgp/routes`.
    pub async fn routes(&self, q: RouteQuery) -> Result<serde_json::Value, &'static str> {
        self.ask(|tx| Request::Routes(q, tx)).await
    }

    /// Route refresh for one peer (name, resource or address) or all.
    pub async fn refresh(&self, peer: Option<String>) -> CommandOutcome {
        self.ask(|tx| Request::Refresh(peer, tx))
            .await
            .unwrap_or_else(|e| CommandOutcome::Failed(e.into()))
    }
}

impl Daemon for BgpDaemon {
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
            Health::Unhealthy(format!("the BGP speaker has not run for {quiet:?}"))
        } else {
            Health::Live
        }
    }

    async fn command(&self, command: Command) -> CommandOutcome {
        match command {
            Command::Reload => match BgpSpec::load(&self.config) {
                Ok(spec) => self
                    .ask(|tx| Request::Reload(Box::new(spec), tx))
                    .await
                    .unwrap_or_else(|e| CommandOutcome::Failed(e.into())),
                Err(e) => CommandOutcome::Failed(format!("{e}; keeping the previous config")),
            },
            Command::Renew => self.refresh(None).await,
            Command::Stop => {
                self.shutdown.trigger();
                CommandOutcome::Done(json!({"stopping": true}))
            }
        }
    }
}
