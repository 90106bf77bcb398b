//! TCP: healthy when the three-way handshake completes.

use std::io;
use std::time::Duration;

use socket2::Type;
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Instant;

use super::{ProbeResult, ProbeSuccess, Resolved, bound_socket};

/// Connects and closes; the RTT is the handshake time.
pub async fn probe(target: &Resolved, timeout: Duration) -> ProbeResult {
    let start = Instant::now();
    match tokio::time::timeout(timeout, connect(target)).await {
        Ok(Ok(_stream)) => Ok(ProbeSuccess::new(start.elapsed(), None)),
        Ok(Err(e)) => Err(format!("connect to {target}: {e}")),
        Err(_) => Err(format!("connect to {target} timed out after {timeout:?}")),
    }
}

/// A TCP connection from the spec's source binding (shared with HTTP).
pub(crate) async fn connect(target: &Resolved) -> io::Result<TcpStream> {
    let socket = bound_socket(target, Type::STREAM, socket2::Protocol::TCP)?;
    TcpSocket::from_std_stream(socket.into())
        .connect(target.socket_addr())
        .await
}
