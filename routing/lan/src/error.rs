//! Errors of the socket edges: only what they cannot recover from.

use thiserror::Error;

/// Why a socket loop gave up. Everything else (an interface that is
/// missing or goes away, a failed send) is logged, counted and retried.
#[derive(Debug, Error)]
pub enum LanError {
    /// The interface name cannot name a Linux interface.
    #[error("`{0}` is not an interface name (1 to 15 characters, no '/', ':' or whitespace)")]
    InterfaceName(String),
    /// The first RA configuration was refused.
    #[error("router advertisement configuration: {0}")]
    RaConfig(#[from] crate::ra::ConfigError),
    /// The first DHCPv6 server configuration was refused.
    #[error("DHCPv6 server configuration: {0}")]
    ServerConfig(#[from] crate::dhcpv6_server::ConfigError),
    /// The process may not open the socket at all (no CAP_NET_RAW or
    /// CAP_NET_BIND_SERVICE, IPv6 compiled out): retrying cannot help.
    #[error("cannot open the {what} socket: {source}")]
    Socket {
        /// Which socket.
        what: &'static str,
        /// The system error.
        #[source]
        source: std::io::Error,
    },
}

/// A setup step failed: is it worth retrying?
pub(crate) fn fatal(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EPERM | libc::EACCES | libc::EAFNOSUPPORT | libc::EPROTONOSUPPORT)
    )
}

/// A send error that says the socket's interface or address is gone, so
/// the socket must be opened again.
pub(crate) fn link_gone(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENODEV | libc::ENXIO | libc::EADDRNOTAVAIL | libc::ENETDOWN | libc::ENETUNREACH)
    )
}
