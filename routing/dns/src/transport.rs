//! Sockets for hickory: tokio's, optionally bound to one interface
//! (`sourceInterface`) with `SO_BINDTODEVICE`.
//!
//! hickory opens every UDP socket and TCP connection (also under TLS and
//! HTTP/2) through its `RuntimeProvider`, so providing our own is the one place
//! where `sourceInterface` can be honoured for every protocol. Otherwise this
//! is hickory's `TokioRuntimeProvider`.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use hickory_resolver::net::runtime::iocompat::AsyncIoTokioAsStd;
use hickory_resolver::net::runtime::{RuntimeProvider, TokioHandle, TokioTime};
use tokio::net::{TcpSocket, TcpStream, UdpSocket};

use crate::cause::ConnectCause;
use crate::error::UpstreamError;

/// hickory's runtime, with sockets optionally bound to a device.
#[derive(Clone)]
pub(crate) struct BoundRuntime {
    /// Background tasks (connection drivers) of one upstream; dropped with it.
    handle: TokioHandle,
    /// The interface to bind to (`sourceInterface`).
    device: Option<Arc<str>>,
    /// TCP connect timeout when hickory gives none (its own default is 5 s,
    /// longer than a whole query should take).
    connect_timeout: Duration,
    /// Where socket failures are recorded (hickory hides them).
    cause: Arc<ConnectCause>,
}

impl BoundRuntime {
    pub(crate) fn new(
        device: Option<&str>,
        connect_timeout: Duration,
        cause: Arc<ConnectCause>,
    ) -> Self {
        Self {
            handle: TokioHandle::default(),
            device: device.map(Arc::from),
            connect_timeout,
            cause,
        }
    }
}

impl RuntimeProvider for BoundRuntime {
    type Handle = TokioHandle;
    type Timer = TokioTime;
    type Udp = UdpSocket;
    type Tcp = AsyncIoTokioAsStd<TcpStream>;

    fn create_handle(&self) -> Self::Handle {
        self.handle.clone()
    }

    fn connect_tcp(
        &self,
        server_addr: SocketAddr,
        bind_addr: Option<SocketAddr>,
        timeout: Option<Duration>,
    ) -> Pin<Box<dyn Send + Future<Output = io::Result<Self::Tcp>>>> {
        let device = self.device.clone();
        let timeout = timeout.unwrap_or(self.connect_timeout);
        let cause = self.cause.clone();
        Box::pin(async move {
            let result = async {
                let socket = match server_addr {
                    SocketAddr::V4(_) => TcpSocket::new_v4(),
                    SocketAddr::V6(_) => TcpSocket::new_v6(),
                }?;
                bind_device_tcp(&socket, device.as_deref())?;
                if let Some(bind_addr) = bind_addr {
                    socket.bind(bind_addr)?;
                }
                socket.set_nodelay(true)?;
                match tokio::time::timeout(timeout, socket.connect(server_addr)).await {
                    Ok(stream) => stream.map(AsyncIoTokioAsStd),
                    Err(_) => Err(io::Error::from(io::ErrorKind::TimedOut)),
                }
            }
            .await;
            if let Err(e) = &result {
                cause.record(match e.kind() {
                    io::ErrorKind::TimedOut => UpstreamError::Timeout,
                    _ => UpstreamError::Connect(format!("TCP to {server_addr}: {e}")),
                });
            }
            result
        })
    }

    fn bind_udp(
        &self,
        local_addr: SocketAddr,
        _server_addr: SocketAddr,
    ) -> Pin<Box<dyn Send + Future<Output = io::Result<Self::Udp>>>> {
        let device = self.device.clone();
        let cause = self.cause.clone();
        Box::pin(async move {
            let socket = UdpSocket::bind(local_addr).await?;
            // Binding to the device after the port is fine: nothing has been
            // sent yet, and SO_BINDTODEVICE applies to every later send.
            if let Err(e) = bind_device_udp(&socket, device.as_deref()) {
                let device = device.as_deref().unwrap_or_default();
                cause.record(UpstreamError::Connect(format!(
                    "binding to interface {device}: {e}"
                )));
                return Err(e);
            }
            Ok(socket)
        })
    }
}

#[cfg(any(target_os = "android", target_os = "fuchsia", target_os = "linux"))]
fn bind_device_tcp(socket: &TcpSocket, device: Option<&str>) -> io::Result<()> {
    match device {
        Some(d) => socket.bind_device(Some(d.as_bytes())),
        None => Ok(()),
    }
}

#[cfg(any(target_os = "android", target_os = "fuchsia", target_os = "linux"))]
fn bind_device_udp(socket: &UdpSocket, device: Option<&str>) -> io::Result<()> {
    match device {
        Some(d) => socket.bind_device(Some(d.as_bytes())),
        None => Ok(()),
    }
}

// Validation refuses `sourceInterface` elsewhere; these only keep the crate
// building there.
#[cfg(not(any(target_os = "android", target_os = "fuchsia", target_os = "linux")))]
fn bind_device_tcp(_socket: &TcpSocket, device: Option<&str>) -> io::Result<()> {
    match device {
        Some(_) => Err(io::Error::from(io::ErrorKind::Unsupported)),
        None => Ok(()),
    }
}

#[cfg(not(any(target_os = "android", target_os = "fuchsia", target_os = "linux")))]
fn bind_device_udp(_socket: &UdpSocket, device: Option<&str>) -> io::Result<()> {
    match device {
        Some(_) => Err(io::Error::from(io::ErrorKind::Unsupported)),
        None => Ok(()),
    }
}

/// Whether `sourceInterface` can be honoured on this platform.
pub(crate) const BIND_DEVICE_SUPPORTED: bool = cfg!(any(
    target_os = "android",
    target_os = "fuchsia",
    target_os = "linux"
));
