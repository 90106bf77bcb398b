//! The probes: one module per protocol, each `probe(&Resolved, ..., timeout)`.

pub mod dns;
pub mod http;
pub mod icmp;
pub mod target;
pub mod tcp;

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use socket2::{Domain, SockAddr, Socket, Type};
use tokio::time::Instant;
use tracing::Instrument;

pub use target::{ResolveError, Resolved, TargetOrigin};

use crate::spec::{ProbeSpec, Protocol};

/// A probe that got the answer it wanted.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeSuccess {
    /// Round-trip time (handshake, echo, first response line or DNS answer).
    pub rtt: Duration,
    /// Protocol detail worth showing, e.g. `HTTP 204` or `NXDOMAIN`.
    pub detail: Option<String>,
}

impl ProbeSuccess {
    fn new(rtt: Duration, detail: Option<String>) -> Self {
        ProbeSuccess { rtt, detail }
    }
}

/// The outcome of one probe: success or a reason a person can read.
pub type ProbeResult = Result<ProbeSuccess, String>;

/// One complete probe: resolve the target, then run the protocol's probe, all
/// within the spec's timeout. Never fails harder than a failed [`ProbeResult`].
pub async fn run(spec: &ProbeSpec) -> (Option<Resolved>, ProbeResult) {
    let span = tracing::info_span!(
        "probe",
        name = %spec.name,
        protocol = spec.protocol.as_str(),
        target = tracing::field::Empty,
        ok = tracing::field::Empty,
    );
    async {
        let timeout = spec.timeout();
        let deadline = Instant::now() + timeout;
        let resolved = match tokio::time::timeout_at(deadline, target::resolve(spec)).await {
            Ok(Ok(resolved)) => resolved,
            Ok(Err(e)) => return (None, Err(e.to_string())),
            Err(_) => {
                return (
                    None,
                    Err(format!("resolving the target took longer than {timeout:?}")),
                );
            }
        };
        tracing::Span::current().record("target", tracing::field::display(&resolved));
        let remaining = deadline.saturating_duration_since(Instant::now());
        let result = match spec.protocol {
            Protocol::Icmp => icmp::probe(&resolved, remaining).await,
            Protocol::Tcp => tcp::probe(&resolved, remaining).await,
            Protocol::Http => {
                let mut target = resolved.clone();
                if let Some(host) = &spec.host {
                    target.host = Some(host.clone());
                }
                http::probe(&target, spec.http_path(), &spec.expected_status, remaining).await
            }
            Protocol::Dns => dns::probe(&resolved, spec.dns_query(), remaining).await,
        };
        tracing::Span::current().record("ok", result.is_ok());
        match &result {
            Ok(success) => {
                tracing::debug!(rtt = ?success.rtt, detail = ?success.detail, "probe succeeded")
            }
            Err(reason) => tracing::debug!(%reason, "probe failed"),
        }
        (Some(resolved), result)
    }
    .instrument(span)
    .await
}

/// A non-blocking socket of the target's family, bound to the source interface
/// and address when the spec asks for them.
pub(crate) fn bound_socket(
    target: &Resolved,
    kind: Type,
    protocol: socket2::Protocol,
) -> io::Result<Socket> {
    let domain = match target.addr {
        IpAddr::V4(_) => Domain::IPV4,
        IpAddr::V6(_) => Domain::IPV6,
    };
    let socket = Socket::new(domain, kind, Some(protocol))?;
    socket.set_nonblocking(true)?;
    if let Some(ifname) = &target.source_interface {
        socket
            .bind_device(Some(ifname.as_bytes()))
            .map_err(|e| with_context(e, &format!("bind to interface {ifname}")))?;
    }
    if let Some(source) = target.source_address {
        socket
            .bind(&SockAddr::from(SocketAddr::new(source, 0)))
            .map_err(|e| with_context(e, &format!("bind to source address {source}")))?;
    }
    Ok(socket)
}

/// Keeps the error kind (callers match on it) while saying what was attempted.
pub(crate) fn with_context(e: io::Error, what: &str) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

/// A random-enough 64-bit value for ICMP identifiers, DNS ids and nonces;
/// std's per-process hash keys are random, a counter keeps calls distinct.
pub(crate) fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(CALLS.fetch_add(1, Ordering::Relaxed));
    hasher.write_u32(std::process::id());
    hasher.finish()
}
