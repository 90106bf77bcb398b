//! The stateless DHCPv6 server on UDP port 547 of one interface: the loop
//! a controller spawns, one per served interface.
//!
//! The socket listens on `[::]:547` bound to the interface (SO_BINDTODEVICE,
//! so one server per interface can share the port) and joins
//! All_DHCP_Relay_Agents_and_Servers there; IPV6_PKTINFO tells multicast
//! from unicast (RFC 8415 §16). Answers go to the client's address, port
//! 546 (§7.2), scoped to the interface.

use std::future::Future;
use std::io;
use std::net::{Ipv6Addr, SocketAddrV6};
use std::sync::Arc;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tokio::io::unix::AsyncFd;
use tokio::sync::watch;

use super::{
    ALL_DHCP_RELAY_AGENTS_AND_SERVERS, CLIENT_PORT, ConfigError, Outcome, SERVER_PORT, ServerStats,
    StatelessConfig, StatelessServer, bump,
};
use crate::error::{LanError, fatal, link_gone};
use crate::link::{duid_ll, if_index, is_link_local, mac_of, valid_ifname};
use crate::sockio::{Datagram, recv_msg, set_recv_pktinfo};

/// First retry after a failed setup; doubled up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// Longest wait between setup attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How long a missing interface is waited for before it is reported.
const MISSING_WARN_AFTER: Duration = Duration::from_secs(10);
/// How often an open socket checks that its interface is still the same.
const HEALTH_CHECK: Duration = Duration::from_secs(2);

struct ServerLink {
    fd: AsyncFd<Socket>,
    ifindex: u32,
    mac: Option<[u8; 6]>,
}

enum Setup {
    NoInterface,
    Io(&'static str, io::Error),
}

impl std::fmt::Display for Setup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Setup::NoInterface => write!(f, "the interface does not exist"),
            Setup::Io(what, e) => write!(f, "{what}: {e}"),
        }
    }
}

impl ServerLink {
    fn open(ifname: &str) -> Result<ServerLink, Setup> {
        let ifindex = if_index(ifname).ok_or(Setup::NoInterface)?;
        let io = |what| move |e| Setup::Io(what, e);
        let s = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP))
            .map_err(io("socket(AF_INET6, SOCK_DGRAM)"))?;
        s.set_only_v6(true).map_err(io("IPV6_V6ONLY"))?;
        s.set_reuse_address(true).map_err(io("SO_REUSEADDR"))?;
        s.bind_device(Some(ifname.as_bytes()))
            .map_err(io("SO_BINDTODEVICE"))?;
        set_recv_pktinfo(&s).map_err(io("IPV6_RECVPKTINFO"))?;
        s.set_multicast_if_v6(ifindex)
            .map_err(io("IPV6_MULTICAST_IF"))?;
        s.set_multicast_all_v6(false)
            .map_err(io("IPV6_MULTICAST_ALL"))?;
        s.bind(&SockAddr::from(SocketAddrV6::new(
            Ipv6Addr::UNSPECIFIED,
            SERVER_PORT,
            0,
            0,
        )))
        .map_err(io("binding [::]:547"))?;
        s.join_multicast_v6(&ALL_DHCP_RELAY_AGENTS_AND_SERVERS, ifindex)
            .map_err(io("joining ff02::1:2"))?;
        s.set_nonblocking(true).map_err(io("O_NONBLOCK"))?;
        // SAFETY: AsyncFd owns the `Socket`, so the descriptor stays open and
        // the same for the AsyncFd's whole life.
        let fd = unsafe { AsyncFd::register(s) }
            .map_err(|e| Setup::Io("registering with tokio", e.into()))?;
        Ok(ServerLink {
            fd,
            ifindex,
            mac: mac_of(ifname),
        })
    }

    async fn recv(&self, buf: &mut [u8]) -> io::Result<Datagram> {
        loop {
            let mut guard = self.fd.readable().await?;
            match guard.try_io(|fd| recv_msg(fd.get_ref(), buf)) {
                Ok(r) => return r,
                Err(_would_block) => continue,
            }
        }
    }

    fn send(&self, bytes: &[u8], to: Ipv6Addr) -> io::Result<()> {
        let scope = if is_link_local(&to) { self.ifindex } else { 0 };
        let addr = SockAddr::from(SocketAddrV6::new(to, CLIENT_PORT, 0, scope));
        self.fd.get_ref().send_to(bytes, &addr).map(|_| ())
    }
}

/// The server's configuration with a DUID-LL from the interface's MAC when
/// the controller gave none.
fn effective(want: &StatelessConfig, mac: Option<[u8; 6]>) -> Result<StatelessConfig, ConfigError> {
    let mut c = want.clone();
    if c.server_duid.is_empty() {
        c.server_duid = duid_ll(mac.ok_or(ConfigError::NoDuid)?);
    }
    c.validated()
}

/// Checks a configuration the controller sends, before any interface is
/// known (an empty DUID is filled in later).
fn precheck(want: &StatelessConfig) -> Result<(), ConfigError> {
    let mut c = want.clone();
    if c.server_duid.is_empty() {
        c.server_duid = vec![0, 3, 0, 1, 0, 0, 0, 0, 0, 0];
    }
    c.validated().map(|_| ())
}

/// Runs the stateless DHCPv6 server on `ifname` until `stop` resolves
/// (whatever it resolves to: the server has nothing to say on leaving).
///
/// Configuration updates arrive through `config`; an invalid one is logged
/// and counted, and the previous one stays. Returns an error only for
/// what retrying cannot fix: a bad interface name, an invalid first
/// configuration, no DUID (none configured and no MAC), or no permission
/// to bind port 547. A missing interface, or one that goes away, is
/// waited for with a bounded backoff.
pub async fn run_dhcpv6_server<F: Future>(
    ifname: String,
    mut config: watch::Receiver<StatelessConfig>,
    stop: F,
    stats: Arc<ServerStats>,
) -> Result<(), LanError> {
    if !valid_ifname(&ifname) {
        return Err(LanError::InterfaceName(ifname));
    }
    let mut want = config.borrow_and_update().clone();
    precheck(&want)?;
    let mut server: Option<StatelessServer> = None;
    let mut config_open = true;
    let mut link: Option<ServerLink> = None;
    let mut opened_before = false;
    let mut backoff = FIRST_BACKOFF;
    let mut retry_at = Instant::now();
    let mut waiting_since = Instant::now();
    let mut warned = false;
    let mut health_at = Instant::now() + HEALTH_CHECK;
    let mut buf = vec![0u8; 65_536];
    tokio::pin!(stop);
    loop {
        let now = Instant::now();
        if link.is_none() && now >= retry_at {
            match ServerLink::open(&ifname) {
                Ok(l) => {
                    let cfg = effective(&want, l.mac)?;
                    match &mut server {
                        Some(s) => s.set_config(cfg)?,
                        None => server = Some(StatelessServer::new(cfg, stats.clone())?),
                    }
                    tracing::info!(interface = %ifname, "stateless DHCPv6 server listening on {ifname}");
                    if opened_before {
                        bump(&stats.socket_restarts);
                    }
                    opened_before = true;
                    link = Some(l);
                    backoff = FIRST_BACKOFF;
                    warned = false;
                    health_at = now + HEALTH_CHECK;
                }
                Err(Setup::Io(what, e)) if fatal(&e) => {
                    return Err(LanError::Socket {
                        what: "DHCPv6 server",
                        source: io::Error::new(e.kind(), format!("{what}: {e}")),
                    });
                }
                Err(e) => {
                    if !warned && now.duration_since(waiting_since) >= MISSING_WARN_AFTER {
                        tracing::warn!(interface = %ifname, "DHCPv6 server not serving {ifname} after {MISSING_WARN_AFTER:?}: {e}; still trying");
                        warned = true;
                    } else {
                        tracing::debug!(interface = %ifname, "DHCPv6 server not serving yet: {e}");
                    }
                    retry_at = now + backoff;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
        let wake = if link.is_some() { health_at } else { retry_at };
        let received = async {
            match &link {
                Some(l) => l.recv(&mut buf).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = &mut stop => return Ok(()),
            changed = config.changed(), if config_open => {
                if changed.is_err() {
                    config_open = false;
                    continue;
                }
                let next = config.borrow_and_update().clone();
                let mac = link.as_ref().and_then(|l| l.mac);
                let applied = match (&mut server, &link) {
                    (Some(s), Some(_)) => effective(&next, mac).and_then(|c| s.set_config(c)),
                    _ => precheck(&next),
                };
                match applied {
                    Ok(()) => want = next,
                    Err(e) => {
                        bump(&stats.configs_rejected);
                        tracing::warn!(interface = %ifname, "DHCPv6 server configuration refused, the previous one stays: {e}");
                    }
                }
            }
            got = received => match got {
                Ok(d) => {
                    if let (Some(l), Some(s)) = (&link, &server)
                        && let Err(e) = serve(&ifname, s, l, &buf[..d.len], d)
                    {
                        bump(&stats.send_errors);
                        tracing::warn!(interface = %ifname, "sending a DHCPv6 answer failed: {e}");
                        if link_gone(&e) {
                            link = None;
                            waiting_since = Instant::now();
                            retry_at = Instant::now();
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(interface = %ifname, "receive failed: {e}");
                    if link_gone(&e) {
                        link = None;
                        waiting_since = Instant::now();
                        retry_at = Instant::now();
                    }
                }
            },
            () = tokio::time::sleep_until(tokio::time::Instant::from_std(wake)) => {
                let now = Instant::now();
                if let Some(l) = &link && now >= health_at {
                    health_at = now + HEALTH_CHECK;
                    if if_index(&ifname) != Some(l.ifindex) {
                        tracing::warn!(interface = %ifname, "{ifname} went away or was replaced; reopening");
                        link = None;
                        waiting_since = now;
                        retry_at = now;
                    }
                }
            }
        }
    }
}

/// Answers one datagram, if it deserves an answer.
fn serve(
    ifname: &str,
    server: &StatelessServer,
    l: &ServerLink,
    bytes: &[u8],
    d: Datagram,
) -> io::Result<()> {
    let src = *d.src.ip();
    if src.is_unspecified() || src.is_multicast() {
        bump(&server.stats().discarded);
        return Ok(());
    }
    // Without IPV6_PKTINFO (never seen) the destination is taken as multicast.
    let to_multicast = d.dst.is_none_or(|a| a.is_multicast());
    match server.handle(bytes, to_multicast) {
        Outcome::Reply(b) | Outcome::Advertise(b) => {
            tracing::debug!(interface = %ifname, %src, "answering a DHCPv6 client");
            l.send(&b, src)
        }
        Outcome::Discard(why) => {
            tracing::debug!(interface = %ifname, %src, "DHCPv6 message not answered: {why}");
            Ok(())
        }
    }
}
