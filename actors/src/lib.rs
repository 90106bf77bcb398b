//! routerd's supervised actor tree.
//!
//! `supervisor` restarts failed children with backoff and escalates when
//! restarting does not help; `trace` puts every message in a span; the rest
//! is the control plane itself: the event bus, the config store, the
//! controllers, the daemon supervisors and the API server, assembled in
//! `root`.

pub mod api;
pub mod bus;
pub mod cluster_sync;
pub mod controller;
pub mod controllers;
pub mod daemon;
pub mod derived;
pub mod drains;
pub mod gate;
pub mod kernel_watch;
pub mod ownership;
pub mod persist;
pub mod reconcile;
pub mod root;
pub mod runtime;
pub mod sdnotify;
pub mod services;
pub mod slot;
pub mod status;
pub mod store;
pub mod supervisor;
pub mod task;
pub mod trace;

pub use root::serve;
pub use runtime::{Generation, ServeOptions};
