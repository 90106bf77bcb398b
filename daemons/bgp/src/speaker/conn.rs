//! The TCP edge of sessions: tasks that connect, accept, read and write,
//! and turn what happens into [`Input`]s for the speaker. They hold no
//! session state; the speaker owns every decision.
//!
//! A reader hands over whole messages only, many at a time (everything one
//! read of up to 64 KiB completed), so a full table costs the speaker one
//! channel message per read, not one per UPDATE.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use routerd_bgp_core::wire::{Framer, HEADER_LEN, MAX_MESSAGE_LEN};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::Input;
use crate::net::{PeerSocket, connect};

/// Identifies a peer inside the speaker (and in the Loc-RIB).
pub(crate) type PeerId = u32;

/// How long one write may block on a peer that does not read before the
/// connection is given up.
const WRITE_STALL: Duration = Duration::from_secs(30);
/// How much one read asks for.
const READ_CHUNK: usize = 64 * 1024;

/// One TCP connection of a peer, as the speaker holds it. Dropping it
/// stops the reader at once and lets the writer send what is queued (a
/// NOTIFICATION, typically) before it closes the socket.
#[derive(Debug)]
pub(crate) struct Conn {
    /// Unique for the daemon's lifetime: inputs from an old connection are
    /// told apart from the current one's.
    pub id: u64,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub inbound: bool,
    tx: mpsc::UnboundedSender<Vec<u8>>,
    reader: JoinHandle<()>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl Conn {
    /// Starts the reader and writer tasks of `stream`.
    pub fn start(
        id: u64,
        peer: PeerId,
        stream: TcpStream,
        inbound: bool,
        inputs: mpsc::UnboundedSender<Input>,
    ) -> std::io::Result<Conn> {
        let local = stream.local_addr()?;
        let remote = stream.peer_addr()?;
        let (r, w) = stream.into_split();
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(write_loop(w, rx));
        let reader = tokio::spawn(read_loop(id, peer, r, inputs));
        Ok(Conn {
            id,
            local: normalize(local),
            remote: normalize(remote),
            inbound,
            tx,
            reader,
        })
    }

    /// Queues bytes (whole messages) to send.
    pub fn send(&self, bytes: Vec<u8>) {
        if !bytes.is_empty() {
            // The writer is gone only after a write error, which the reader
            // reports as the connection closing.
            let _ = self.tx.send(bytes);
        }
    }
}

/// An IPv4 peer on a dual-stack listener shows up as ::ffff:a.b.c.d.
pub(crate) fn normalize(a: SocketAddr) -> SocketAddr {
    match a.ip() {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), a.port()),
            None => a,
        },
        IpAddr::V4(_) => a,
    }
}

async fn write_loop(mut w: OwnedWriteHalf, mut rx: mpsc::UnboundedReceiver<Vec<u8>>) {
    while let Some(buf) = rx.recv().await {
        match tokio::time::timeout(WRITE_STALL, w.write_all(&buf)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "write failed");
                return;
            }
            Err(_) => {
                tracing::warn!("the peer has not read for {WRITE_STALL:?}; closing");
                return;
            }
        }
    }
    let _ = w.shutdown().await;
}

async fn read_loop(
    conn: u64,
    peer: PeerId,
    mut r: OwnedReadHalf,
    inputs: mpsc::UnboundedSender<Input>,
) {
    let mut framer = Framer::new();
    loop {
        let n = match r.read(framer.spare(READ_CHUNK)).await {
            Ok(0) => {
                let _ = inputs.send(Input::Closed {
                    peer,
                    conn,
                    error: None,
                });
                return;
            }
            Ok(n) => n,
            Err(e) => {
                let _ = inputs.send(Input::Closed {
                    peer,
                    conn,
                    error: Some(e.to_string()),
                });
                return;
            }
        };
        framer.commit(n);
        let mut batch = Vec::new();
        let failed = loop {
            match framer.next_frame() {
                Ok(Some(frame)) => batch.extend_from_slice(frame.raw()),
                Ok(None) => break None,
                Err(e) => break Some(e),
            }
        };
        if !batch.is_empty() && inputs.send(Input::Messages { peer, conn, batch }).is_err() {
            return;
        }
        if let Some(error) = failed {
            let _ = inputs.send(Input::HeaderError { peer, conn, error });
            return;
        }
    }
}

/// The messages of a batch a reader sent: each is complete and its header
/// was checked by the framer.
pub(crate) fn messages(batch: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = batch;
    std::iter::from_fn(move || {
        let len = usize::from(u16::from_be_bytes([*rest.get(16)?, *rest.get(17)?]));
        if !(HEADER_LEN..=MAX_MESSAGE_LEN).contains(&len) {
            return None;
        }
        let msg = rest.get(..len)?;
        rest = &rest[len..];
        Some(msg)
    })
}

/// Connects and reports the outcome.
pub(crate) fn spawn_connect(
    peer: PeerId,
    conn: u64,
    sock: PeerSocket,
    port: u16,
    timeout: Duration,
    inputs: mpsc::UnboundedSender<Input>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let input = match connect(&sock, port, timeout).await {
            Ok(stream) => Input::Connected { peer, conn, stream },
            Err(e) => Input::ConnectFailed {
                peer,
                conn,
                error: e.to_string(),
            },
        };
        let _ = inputs.send(input);
    })
}

/// Accepts connections for as long as the listener lives.
pub(crate) fn spawn_accept(
    listener: Arc<TcpListener>,
    inputs: mpsc::UnboundedSender<Input>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, remote)) => {
                    let remote = normalize(remote);
                    if inputs.send(Input::Accepted { stream, remote }).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    // EMFILE and friends: do not spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_split_into_messages_and_garbage_stops_the_walk() {
        let mut ka = vec![0xff; 16];
        ka.extend_from_slice(&[0, 19, 4]);
        let mut batch = ka.clone();
        batch.extend_from_slice(&ka);
        assert_eq!(messages(&batch).count(), 2);
        batch.extend_from_slice(&[0xff; 17]);
        assert_eq!(messages(&batch).count(), 2, "a cut header is not a message");
        let mut bad = ka.clone();
        bad[17] = 3;
        assert_eq!(messages(&bad).count(), 0);
    }
}
