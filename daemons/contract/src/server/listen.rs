//! Binding the contract's Unix socket and serving it with graceful shutdown.

use std::fs;
use std::future::{Future, IntoFuture};
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::{Extension, Router};
use tokio::net::UnixListener;
use tokio::sync::watch;

use super::layers::contract_layers;

/// Mode of the socket: routerd's group may connect, others may not.
const SOCKET_MODE: u32 = 0o660;
/// Mode of a state directory created for the socket.
const DIR_MODE: u32 = 0o750;
/// How long in-flight requests get to finish after the shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Why the contract socket could not be bound or served.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A file-system or socket operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The socket or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A live server already answers on the socket; it is not ours to take.
    #[error("{}: another server is already listening on this socket", .0.display())]
    InUse(PathBuf),
    /// Something other than a socket sits at the path; it is not removed.
    #[error("{}: exists and is not a socket; refusing to replace it", .0.display())]
    NotASocket(PathBuf),
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> ServeError + '_ {
    move |source| ServeError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Binds the contract socket (mode 0660), creating its directory (0750) if needed and
/// replacing a stale socket file, but never one a live server still answers on.
///
/// Must be called inside a Tokio runtime.
pub fn bind_unix(socket: &Path) -> Result<UnixListener, ServeError> {
    if let Some(dir) = socket.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.exists()
    {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(dir)
            .map_err(io_error(dir))?;
        fs::set_permissions(dir, fs::Permissions::from_mode(DIR_MODE)).map_err(io_error(dir))?;
    }
    match fs::symlink_metadata(socket) {
        Ok(meta) if meta.file_type().is_socket() => {
            match std::os::unix::net::UnixStream::connect(socket) {
                Ok(_) => return Err(ServeError::InUse(socket.to_path_buf())),
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                    tracing::info!(socket = %socket.display(), "removing stale socket");
                    fs::remove_file(socket).map_err(io_error(socket))?;
                }
                Err(e) => return Err(io_error(socket)(e)),
            }
        }
        Ok(_) => return Err(ServeError::NotASocket(socket.to_path_buf())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_error(socket)(e)),
    }
    let listener = UnixListener::bind(socket).map_err(io_error(socket))?;
    fs::set_permissions(socket, fs::Permissions::from_mode(SOCKET_MODE))
        .map_err(io_error(socket))?;
    Ok(listener)
}

/// Binds `socket` and serves `router` (with [`contract_layers`]) until `shutdown`
/// completes; then lets in-flight requests finish for a few seconds, ends long-polls and
/// follow streams, and removes the socket.
pub async fn serve(
    socket: &Path,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let listener = bind_unix(socket)?;
    serve_listener(listener, router, shutdown).await
}

/// Like [`serve`] on an already bound listener (from [`bind_unix`]).
pub async fn serve_listener(
    listener: UnixListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let socket = listener
        .local_addr()
        .ok()
        .and_then(|a| a.as_pathname().map(Path::to_path_buf))
        .unwrap_or_default();
    // Remembered so that only our own socket file is removed at the end.
    let inode = fs::metadata(&socket).map(|m| m.ino()).ok();

    let (stop_tx, stop_rx) = watch::channel(false);
    let signal = ShutdownSignal(Some(stop_rx));
    let app = contract_layers(router).layer(Extension(signal.clone()));
    let server = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        })
        .into_future();
    tokio::pin!(server);
    let result = tokio::select! {
        biased;
        result = &mut server => result,
        () = signal.stopped() => {
            tracing::info!(socket = %socket.display(), "shutting down contract server");
            match tokio::time::timeout(SHUTDOWN_GRACE, &mut server).await {
                Ok(result) => result,
                Err(_) => {
                    tracing::warn!("requests still running after {SHUTDOWN_GRACE:?}; dropping them");
                    Ok(())
                }
            }
        }
    };
    if inode.is_some() && fs::metadata(&socket).map(|m| m.ino()).ok() == inode {
        let _ = fs::remove_file(&socket);
    }
    result.map_err(io_error(&socket))
}

/// Tells long-polls and follow streams that the server is shutting down.
///
/// Absent (the default) when the router is served by something other than [`serve`]:
/// then it never fires.
#[derive(Clone, Default)]
pub(crate) struct ShutdownSignal(Option<watch::Receiver<bool>>);

impl ShutdownSignal {
    /// Completes once shutdown has begun.
    pub(crate) async fn stopped(&self) {
        match &self.0 {
            Some(rx) => {
                // An error means the sender is gone, i.e. the server has already stopped.
                let _ = rx.clone().wait_for(|stopping| *stopping).await;
            }
            None => std::future::pending().await,
        }
    }
}
