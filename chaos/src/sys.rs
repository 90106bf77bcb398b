//! The few system calls the tools share: entering a network namespace, the
//! wall clock in milliseconds, and a stop flag set by SIGINT/SIGTERM.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Why a system-level step failed.
#[derive(Debug, thiserror::Error)]
pub enum SysError {
    /// The namespace handle could not be opened (no such namespace?).
    #[error("cannot open network namespace {path}: {source}")]
    OpenNetns {
        /// The handle path.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// setns(2) refused.
    #[error("cannot enter network namespace {path}: {source}")]
    Setns {
        /// The handle path.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// sigaction(2) refused.
    #[error("cannot install a signal handler: {0}")]
    Signal(std::io::Error),
}

/// Moves the calling thread into the network namespace `name` (a name under
/// /run/netns, or a path). Sockets opened afterwards by this thread live there.
pub fn enter_netns(name: &str) -> Result<(), SysError> {
    let path = if name.contains('/') {
        Path::new(name).to_path_buf()
    } else {
        Path::new("/run/netns").join(name)
    };
    let shown = path.display().to_string();
    let file = File::open(&path).map_err(|source| SysError::OpenNetns {
        path: shown.clone(),
        source,
    })?;
    // SAFETY: setns takes a valid, open file descriptor and a namespace type;
    // `file` outlives the call.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc != 0 {
        return Err(SysError::Setns {
            path: shown,
            source: std::io::Error::last_os_error(),
        });
    }
    Ok(())
}

/// Now, in milliseconds since the Unix epoch: the one clock the prober, the
/// checker and the chaos runner's fault windows (`date +%s%3N`) share.
pub fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// Makes SIGINT and SIGTERM set the stop flag instead of killing the process,
/// without SA_RESTART so a blocking poll returns at once with EINTR.
pub fn install_stop_handler() -> Result<(), SysError> {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: a zeroed sigaction is valid; the handler only stores to an
        // atomic, which is async-signal-safe.
        let rc = unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as libc::sighandler_t;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut())
        };
        if rc != 0 {
            return Err(SysError::Signal(std::io::Error::last_os_error()));
        }
    }
    Ok(())
}

/// True once SIGINT or SIGTERM arrived (or [`request_stop`] was called).
pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// Sets the stop flag from inside the program.
pub fn request_stop() {
    STOP.store(true, Ordering::SeqCst);
}
