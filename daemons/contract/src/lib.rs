//! The daemon contract every routerd process speaks.
//!
//! - [`server`]: HTTP/1.1 + JSON on a Unix socket (`/v1/status`, `/v1/healthz`,
//!   `/v1/events`, `/v1/commands/*`), and [`client`] to call it.
//! - [`event`]: the append-only `events.jsonl` with monotonic seqs, served on `/v1/events`.
//! - [`glob`]: topic patterns for event subscriptions.
//! - [`atomic`]: crash-safe state and lease files.
//! - [`clock`]: CLOCK_MONOTONIC nanoseconds, the clock of grant deadlines.
//! - [`frame`]: what every daemon's `main` shares: socket, events, signals, stop.
//! - [`telemetry`]: logging, optional OTLP export, and `traceparent` propagation.

pub mod atomic;
pub mod client;
pub mod clock;
pub mod event;
pub mod frame;
pub mod glob;
pub mod server;
pub mod shutdown;
pub mod spec;
pub mod telemetry;

pub use client::{Client, ClientError};
pub use event::{Event, EventLog, EventLogError, EventsPage, NewEvent, Rotation};
pub use frame::{Frame, FrameError};
pub use glob::TopicGlob;
pub use shutdown::Shutdown;
