//! The frame every managed daemon runs in: its event log, its contract
//! socket, the stop signal, and the join of the contract server, the
//! daemon's engine and the signal handlers.
//!
//! Each daemon's `main` opens a [`Frame`], builds its engine and router
//! from it, and hands both to [`Frame::run`]; nothing about signals or the
//! server's lifetime is written twice.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use axum::Router;
use thiserror::Error;
use tokio::net::UnixListener;
use tokio::signal::unix::{SignalKind, signal};

use crate::event::{EventLog, EventLogError, Rotation};
use crate::server::{ServeError, ServerInfo, bind_unix, serve_listener};
use crate::shutdown::Shutdown;

/// Why a daemon's frame could not be set up or ended in error.
#[derive(Debug, Error)]
pub enum FrameError {
    /// The state directory could not be created.
    #[error("cannot create state directory {path}: {source}")]
    StateDir {
        /// The directory.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The event log could not be opened.
    #[error("cannot open the event log: {0}")]
    Events(#[from] EventLogError),
    /// The contract socket could not be bound, or the server failed.
    #[error("contract server: {0}")]
    Serve(#[from] ServeError),
    /// A signal handler could not be installed.
    #[error("cannot handle {signal}: {source}")]
    Signal {
        /// Which signal.
        signal: &'static str,
        /// Why.
        source: std::io::Error,
    },
}

/// A daemon's event log, bound socket and stop signal, ready to run.
pub struct Frame {
    /// `events.jsonl` in the state directory.
    pub events: Arc<EventLog>,
    /// Fires on SIGTERM/SIGINT, on the `stop` command, or when the server dies.
    pub shutdown: Shutdown,
    /// Daemon and instance name, for the contract.
    pub info: ServerInfo,
    listener: UnixListener,
}

impl Frame {
    /// Creates the state directory, opens `events.jsonl` in it (events
    /// carry `source` `DAEMON/INSTANCE`) and binds the contract socket. The
    /// socket is bound before the engine starts so that a socket problem
    /// fails fast, on stderr, where routerd sees it.
    pub fn open(
        daemon: &str,
        instance: &str,
        state_dir: &Path,
        events_file: &str,
        socket: &Path,
    ) -> Result<Frame, FrameError> {
        std::fs::create_dir_all(state_dir).map_err(|source| FrameError::StateDir {
            path: state_dir.display().to_string(),
            source,
        })?;
        let events = EventLog::open(
            state_dir.join(events_file),
            format!("{daemon}/{instance}"),
            Rotation::default(),
        )?;
        let listener = bind_unix(socket)?;
        Ok(Frame {
            events,
            shutdown: Shutdown::new(),
            info: ServerInfo {
                daemon: daemon.into(),
                instance: instance.into(),
            },
            listener,
        })
    }

    /// Serves `router` and runs `engine` until the stop signal fires; a
    /// SIGTERM or SIGINT fires it, and so does a contract server that dies
    /// (a daemon that works but cannot be asked anything is worse than one
    /// that exits and is restarted). Returns once both have finished.
    pub async fn run(
        self,
        router: Router,
        engine: impl Future<Output = ()>,
    ) -> Result<(), FrameError> {
        let mut sigterm = signal(SignalKind::terminate()).map_err(|source| FrameError::Signal {
            signal: "SIGTERM",
            source,
        })?;
        let mut sigint = signal(SignalKind::interrupt()).map_err(|source| FrameError::Signal {
            signal: "SIGINT",
            source,
        })?;
        let on_signal = self.shutdown.clone();
        let signals = async move {
            tokio::select! {
                _ = sigterm.recv() => tracing::info!("SIGTERM: stopping"),
                _ = sigint.recv() => tracing::info!("SIGINT: stopping"),
                () = on_signal.wait() => return,
            }
            on_signal.trigger();
        };
        let server_stop = self.shutdown.clone();
        let listener = self.listener;
        let server = async move {
            let stop = server_stop.clone();
            let served = serve_listener(listener, router, async move { stop.wait().await }).await;
            server_stop.trigger();
            served
        };
        let (served, (), ()) = tokio::join!(server, engine, signals);
        served.map_err(FrameError::from)
    }
}
