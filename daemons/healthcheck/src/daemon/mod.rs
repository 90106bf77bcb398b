//! The daemon shell: a probe loop that owns the tracker, and the handle the
//! contract server calls (status, health, commands).
//!
//! The loop is the only writer of health state. The handle reads a published
//! snapshot for `status`/`health` (cheap, never waits for a probe) and sends
//! `renew`/`reload` to the loop as messages, so no state is shared mutably.

mod events;
mod instance;
mod persist;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use routerd_contract::event::EventLog;
use routerd_contract::server::{Command, CommandOutcome, Daemon, DaemonStatus, Health};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tracing::Instrument;

pub use instance::ProbeLoop;
pub use persist::{PersistedStatus, STATUS_FILE};

use crate::phase::TrackerState;
use crate::spec::{ProbeSpec, SpecError};

/// Name of the event log inside the state directory.
pub const EVENTS_FILE: &str = "events.jsonl";

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The state directory could not be created.
    #[error("cannot create state directory {path}: {source}")]
    StateDir {
        /// The directory.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The config file is missing or invalid.
    #[error(transparent)]
    Spec(#[from] SpecError),
}

pub use routerd_contract::Shutdown;

/// What the loop publishes after every step: the status snapshot.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusView {
    /// The spec in force.
    pub spec: ProbeSpec,
    /// Where the last probe went (`192.0.2.1`, `[2001:db8::1]:53`), if resolved.
    pub resolved_target: Option<String>,
    /// How that address was found: `literal`, `hostname`, `defaultGateway`.
    pub target_origin: Option<&'static str>,
    /// Whether the tracker continued from status.json at start.
    pub restored: bool,
    /// Phase, streaks, counters, last result and last transition.
    #[serde(flatten)]
    pub tracker: TrackerState,
    /// When the loop last completed a step; drives `/v1/healthz`.
    #[serde(skip)]
    pub ticked_at: Instant,
}

impl StatusView {
    /// How long the loop may go without a step before it counts as stuck:
    /// two intervals plus one probe timeout.
    pub fn stall_limit(&self) -> Duration {
        self.spec.interval() * 2 + self.spec.timeout()
    }
}

/// Messages from the contract handlers to the loop.
pub(crate) enum Request {
    /// Probe now and answer with the result.
    Renew(oneshot::Sender<CommandOutcome>),
    /// Apply a validated spec.
    Reload(Box<ProbeSpec>, oneshot::Sender<CommandOutcome>),
}

/// The contract face of one running health check.
pub struct HealthCheck {
    config: PathBuf,
    requests: mpsc::Sender<Request>,
    status: watch::Receiver<StatusView>,
    shutdown: Shutdown,
}

/// Restores `status.json`, logs the start event and returns the contract
/// handle plus the loop to run. `config` is where `reload` reads from.
pub fn start(
    config: &Path,
    spec: ProbeSpec,
    state_dir: &Path,
    events: Arc<EventLog>,
    shutdown: Shutdown,
) -> Result<(Arc<HealthCheck>, ProbeLoop), DaemonError> {
    spec.validate()?;
    std::fs::create_dir_all(state_dir).map_err(|source| DaemonError::StateDir {
        path: state_dir.display().to_string(),
        source,
    })?;
    let (requests_tx, requests_rx) = mpsc::channel(8);
    let (probe_loop, status) =
        ProbeLoop::new(spec, state_dir, events, requests_rx, shutdown.clone());
    let handle = HealthCheck {
        config: config.to_path_buf(),
        requests: requests_tx,
        status,
        shutdown,
    };
    Ok((Arc::new(handle), probe_loop))
}

impl HealthCheck {
    /// The current status snapshot.
    pub fn snapshot(&self) -> StatusView {
        self.status.borrow().clone()
    }

    async fn ask(
        &self,
        request: impl FnOnce(oneshot::Sender<CommandOutcome>) -> Request,
    ) -> CommandOutcome {
        let (tx, rx) = oneshot::channel();
        if self.requests.send(request(tx)).await.is_err() {
            return CommandOutcome::Failed("the probe loop has stopped".into());
        }
        rx.await.unwrap_or_else(|_| {
            CommandOutcome::Failed("the probe loop stopped before answering".into())
        })
    }

    async fn reload(&self) -> CommandOutcome {
        // Read here rather than in the loop so a slow or broken file never
        // delays probing; the loop only ever sees validated specs.
        match ProbeSpec::load(&self.config) {
            Ok(spec) => self.ask(|tx| Request::Reload(Box::new(spec), tx)).await,
            Err(e) => CommandOutcome::Failed(format!("{e}; keeping the previous spec")),
        }
    }
}

impl Daemon for HealthCheck {
    async fn status(&self) -> DaemonStatus {
        let view = self.snapshot();
        DaemonStatus {
            phase: view.tracker.phase.as_str().to_string(),
            detail: serde_json::to_value(&view).unwrap_or_else(|e| json!({"error": e.to_string()})),
        }
    }

    fn health(&self) -> Health {
        let view = self.status.borrow();
        let quiet = view.ticked_at.elapsed();
        if quiet > view.stall_limit() {
            Health::Unhealthy(format!(
                "probe loop has not ticked for {:?} (limit {:?})",
                quiet,
                view.stall_limit()
            ))
        } else if self.shutdown.is_triggered() {
            Health::Unhealthy("stopping".into())
        } else {
            Health::Live
        }
    }

    async fn command(&self, command: Command) -> CommandOutcome {
        let span = tracing::info_span!("command", command = command.as_str());
        async {
            match command {
                Command::Reload => self.reload().await,
                Command::Renew => self.ask(Request::Renew).await,
                Command::Stop => {
                    self.shutdown.trigger();
                    CommandOutcome::Done(json!({"stopping": true}))
                }
            }
        }
        .instrument(span)
        .await
    }
}

/// A JSON object for command answers built from a status snapshot.
pub(crate) fn phase_json(view: &TrackerState) -> Value {
    json!({
        "phase": view.phase.as_str(),
        "consecutiveSuccesses": view.consecutive_successes,
        "consecutiveFailures": view.consecutive_failures,
    })
}
