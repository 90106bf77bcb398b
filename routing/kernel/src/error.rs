//! Errors of the kernel layer.

use std::io;
use std::time::Duration;

/// Why talking to the kernel failed.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    /// `connect` or `watch` was called outside a tokio runtime.
    #[error(
        "routerd-kernel needs a tokio runtime (with IO and time enabled) to run its netlink connection"
    )]
    NoRuntime,
    /// The netlink socket could not be opened or configured.
    #[error("cannot open a netlink route socket: {0}")]
    Socket(#[source] io::Error),
    /// The kernel refused a request.
    #[error("{what}: {message}")]
    Netlink {
        /// What was asked, e.g. `dump routes`.
        what: String,
        /// The kernel's errno text, plus its extended-ack message when it sent one.
        message: String,
    },
    /// The netlink connection task has gone away.
    #[error("{what}: the netlink connection is closed")]
    ConnectionClosed {
        /// What was asked.
        what: String,
    },
    /// The kernel did not answer in time.
    #[error("{what}: no answer from the kernel within {timeout:?}")]
    Timeout {
        /// What was asked.
        what: String,
        /// How long we waited.
        timeout: Duration,
    },
    /// A dump kept changing under us (NLM_F_DUMP_INTR on every try).
    #[error("{what}: the kernel's tables kept changing during the dump; try again")]
    DumpInterrupted {
        /// What was asked.
        what: String,
    },
}
