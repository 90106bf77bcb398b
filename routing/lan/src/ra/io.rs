//! The RA sender on a raw ICMPv6 socket: the loop a controller spawns, one
//! per advertising interface.
//!
//! The socket is bound to the interface (SO_BINDTODEVICE) and to its
//! link-local address, which RFC 4861 §6.1.2 makes the only source hosts
//! accept; hop limits are 255 both ways (§6.1.1, §6.1.2); the kernel's
//! ICMPv6 filter passes only solicitations and other routers' adverts.
//! An interface that is missing, loses its link-local address or goes away
//! is waited for with a bounded backoff; the advertiser keeps its state
//! meanwhile and starts a fresh burst when the socket is back.

use std::future::Future;
use std::io;
use std::net::{Ipv6Addr, SocketAddrV6};
use std::sync::Arc;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tokio::io::unix::AsyncFd;
use tokio::sync::watch;

use super::advertiser::Advertiser;
use super::config::RaConfig;
use super::packet::{ROUTER_ADVERTISEMENT, ROUTER_SOLICITATION, RouterAdvert};
use super::stats::{RaStats, bump};
use crate::StopMode;
use crate::error::{LanError, fatal, link_gone};
use crate::jitter::OsJitter;
use crate::link::{if_index, link_local, mac_of, valid_ifname};
use crate::sockio::{Datagram, recv_msg, set_icmp6_filter};

/// All-nodes: where every RA goes (answers too, RFC 4861 §6.2.6).
const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
/// All-routers: where solicitations come.
const ALL_ROUTERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 2);
/// RFC 4861 §6.1.1, §6.1.2.
const ND_HOP_LIMIT: u8 = 255;
/// First retry after a failed setup; doubled up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// Longest wait between setup attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How long a missing interface or link-local address is waited for
/// before the wait is reported as a warning (retries go on).
pub const LINK_LOCAL_WAIT: Duration = Duration::from_secs(10);
/// How often an open socket checks that its interface and address are
/// still the ones it was bound to.
const HEALTH_CHECK: Duration = Duration::from_secs(2);

/// A raw ICMPv6 socket on one interface, bound to its link-local address.
struct RaLink {
    fd: AsyncFd<Socket>,
    ifindex: u32,
    source: Ipv6Addr,
    mac: Option<[u8; 6]>,
}

/// Why the socket could not be opened (yet).
#[derive(Debug)]
enum Setup {
    NoInterface,
    NoLinkLocal,
    Io(&'static str, io::Error),
}

impl std::fmt::Display for Setup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Setup::NoInterface => write!(f, "the interface does not exist"),
            Setup::NoLinkLocal => write!(f, "the interface has no usable link-local address"),
            Setup::Io(what, e) => write!(f, "{what}: {e}"),
        }
    }
}

impl RaLink {
    fn open(ifname: &str) -> Result<RaLink, Setup> {
        let ifindex = if_index(ifname).ok_or(Setup::NoInterface)?;
        let source = link_local(ifname).ok_or(Setup::NoLinkLocal)?;
        let io = |what| move |e| Setup::Io(what, e);
        let s = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6))
            .map_err(io("socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6)"))?;
        s.bind_device(Some(ifname.as_bytes()))
            .map_err(io("SO_BINDTODEVICE"))?;
        s.set_multicast_hops_v6(u32::from(ND_HOP_LIMIT))
            .map_err(io("IPV6_MULTICAST_HOPS"))?;
        s.set_unicast_hops_v6(u32::from(ND_HOP_LIMIT))
            .map_err(io("IPV6_UNICAST_HOPS"))?;
        // Our own RAs must not come back as "another router's".
        s.set_multicast_loop_v6(false)
            .map_err(io("IPV6_MULTICAST_LOOP"))?;
        // Only the groups joined below, not every group of the host.
        s.set_multicast_all_v6(false)
            .map_err(io("IPV6_MULTICAST_ALL"))?;
        s.set_recv_hoplimit_v6(true)
            .map_err(io("IPV6_RECVHOPLIMIT"))?;
        set_icmp6_filter(&s, &[ROUTER_SOLICITATION, ROUTER_ADVERTISEMENT])
            .map_err(io("ICMP6_FILTER"))?;
        s.set_multicast_if_v6(ifindex)
            .map_err(io("IPV6_MULTICAST_IF"))?;
        s.join_multicast_v6(&ALL_ROUTERS, ifindex)
            .map_err(io("joining ff02::2"))?;
        s.join_multicast_v6(&ALL_NODES, ifindex)
            .map_err(io("joining ff02::1"))?;
        s.bind(&SockAddr::from(SocketAddrV6::new(source, 0, 0, ifindex)))
            .map_err(io("binding to the link-local address"))?;
        s.set_nonblocking(true).map_err(io("O_NONBLOCK"))?;
        // SAFETY: AsyncFd owns the `Socket`, so the descriptor stays open and
        // the same for the AsyncFd's whole life.
        let fd = unsafe { AsyncFd::register(s) }
            .map_err(|e| Setup::Io("registering with tokio", e.into()))?;
        Ok(RaLink {
            fd,
            ifindex,
            source,
            mac: mac_of(ifname),
        })
    }

    /// Whether the interface and address the socket is bound to are still
    /// there (an interface deleted and created again has a new index).
    fn still_valid(&self, ifname: &str) -> bool {
        if_index(ifname) == Some(self.ifindex) && link_local(ifname) == Some(self.source)
    }

    fn send(&self, bytes: &[u8]) -> io::Result<()> {
        let to = SockAddr::from(SocketAddrV6::new(ALL_NODES, 0, 0, self.ifindex));
        self.fd.get_ref().send_to(bytes, &to).map(|_| ())
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
}

/// The configuration handed to the advertiser: the controller's, with the
/// interface's MAC as the source link-layer address unless it named one.
fn effective(want: &RaConfig, mac: Option<[u8; 6]>) -> RaConfig {
    let mut c = want.clone();
    if c.source_mac.is_none() {
        c.source_mac = mac;
    }
    c
}

/// Runs the RA sender on `ifname` until `stop` resolves.
///
/// Configuration updates arrive through `config` (every change is fed to
/// the advertiser at once: a removed prefix is deprecated in the next RAs,
/// sent promptly). An invalid update is logged and counted, and the
/// previous configuration stays. With [`StopMode::Final`] the loop sends
/// the final RA (router lifetime 0) before returning.
///
/// Returns an error only for what retrying cannot fix: a bad interface
/// name, an invalid first configuration, or no permission to open a raw
/// ICMPv6 socket (CAP_NET_RAW). A missing interface, one without a usable
/// link-local address, or one that goes away is waited for.
pub async fn run_ra(
    ifname: String,
    mut config: watch::Receiver<RaConfig>,
    stop: impl Future<Output = StopMode>,
    stats: Arc<RaStats>,
) -> Result<(), LanError> {
    if !valid_ifname(&ifname) {
        return Err(LanError::InterfaceName(ifname));
    }
    let mut jitter = OsJitter;
    let mut want = config.borrow_and_update().clone();
    let mut adv = Advertiser::new(want.clone(), Instant::now(), stats.clone())?;
    let mut config_open = true;
    let mut link: Option<RaLink> = None;
    let mut opened_before = false;
    let mut backoff = FIRST_BACKOFF;
    let mut retry_at = Instant::now();
    let mut waiting_since = Instant::now();
    let mut warned = false;
    let mut health_at = Instant::now() + HEALTH_CHECK;
    let mut buf = vec![0u8; 2048];
    tokio::pin!(stop);
    loop {
        let now = Instant::now();
        if link.is_none() && now >= retry_at {
            match RaLink::open(&ifname) {
                Ok(l) => {
                    tracing::info!(
                        interface = %ifname,
                        source = %l.source,
                        "advertising IPv6 on {ifname} from {}",
                        l.source
                    );
                    if opened_before {
                        bump(&stats.socket_restarts);
                    }
                    opened_before = true;
                    if let Err(e) = adv.set_config(effective(&want, l.mac), now, &mut jitter) {
                        tracing::warn!(interface = %ifname, "configuration refused: {e}");
                    }
                    adv.restart(now);
                    link = Some(l);
                    backoff = FIRST_BACKOFF;
                    warned = false;
                    health_at = now + HEALTH_CHECK;
                }
                Err(Setup::Io(what, e)) if fatal(&e) => {
                    return Err(LanError::Socket {
                        what: "raw ICMPv6",
                        source: io::Error::new(e.kind(), format!("{what}: {e}")),
                    });
                }
                Err(e) => {
                    if !warned && now.duration_since(waiting_since) >= LINK_LOCAL_WAIT {
                        tracing::warn!(
                            interface = %ifname,
                            "not advertising on {ifname} after {LINK_LOCAL_WAIT:?}: {e}; still trying"
                        );
                        warned = true;
                    } else {
                        tracing::debug!(interface = %ifname, "not advertising yet: {e}");
                    }
                    retry_at = now + backoff;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
        let wake = match &link {
            Some(_) => adv.next_deadline().map_or(health_at, |d| d.min(health_at)),
            None => retry_at,
        };
        let received = async {
            match &link {
                Some(l) => l.recv(&mut buf).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            mode = &mut stop => {
                if mode == StopMode::Final {
                    send_final(&ifname, &mut adv, link.as_ref(), &stats);
                }
                return Ok(());
            }
            changed = config.changed(), if config_open => {
                if changed.is_err() {
                    // The controller dropped its sender: keep the last
                    // configuration until told to stop.
                    config_open = false;
                    continue;
                }
                want = config.borrow_and_update().clone();
                let mac = link.as_ref().and_then(|l| l.mac);
                match adv.set_config(effective(&want, mac), Instant::now(), &mut jitter) {
                    Ok(change) => tracing::debug!(interface = %ifname, ?change, "configuration updated"),
                    Err(e) => {
                        bump(&stats.configs_rejected);
                        tracing::warn!(interface = %ifname, "configuration refused, the previous one stays: {e}");
                    }
                }
            }
            got = received => match got {
                Ok(d) => {
                    let n = d.len;
                    if let Some(l) = &link {
                        received_packet(&ifname, &mut adv, l, &buf[..n], d, &mut jitter);
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
                let Some(l) = &link else { continue };
                if now >= health_at {
                    health_at = now + HEALTH_CHECK;
                    if !l.still_valid(&ifname) {
                        tracing::warn!(interface = %ifname, "{ifname} or its link-local address changed; reopening");
                        link = None;
                        waiting_since = now;
                        retry_at = now;
                        continue;
                    }
                }
                if let Some(out) = adv.poll(now, &mut jitter)
                    && let Err(e) = l.send(&out.bytes)
                {
                    bump(&stats.send_errors);
                    adv.unsent(&out);
                    tracing::warn!(interface = %ifname, "sending a router advertisement failed: {e}");
                    if link_gone(&e) {
                        link = None;
                        waiting_since = now;
                        retry_at = now;
                    }
                }
            }
        }
    }
}

fn send_final(ifname: &str, adv: &mut Advertiser, link: Option<&RaLink>, stats: &RaStats) {
    let Some(out) = adv.stop(Instant::now()) else {
        return;
    };
    let Some(l) = link else {
        tracing::warn!(interface = %ifname, "cannot send the final router advertisement: {ifname} is not usable");
        return;
    };
    match l.send(&out.bytes) {
        Ok(()) => {
            bump(&stats.final_sent);
            tracing::info!(interface = %ifname, "final router advertisement sent (router lifetime 0)");
        }
        Err(e) => {
            bump(&stats.send_errors);
            tracing::warn!(interface = %ifname, "sending the final router advertisement failed: {e}");
        }
    }
}

/// A solicitation or another router's advert.
fn received_packet(
    ifname: &str,
    adv: &mut Advertiser,
    l: &RaLink,
    bytes: &[u8],
    d: Datagram,
    jitter: &mut OsJitter,
) {
    let src = *d.src.ip();
    let stats = adv.stats().clone();
    match bytes.first() {
        Some(&ROUTER_SOLICITATION) => {
            // RFC 4861 §6.1.1: a solicitation that crossed a router is forged.
            if d.hop_limit != Some(ND_HOP_LIMIT) {
                bump(&stats.solicitations_malformed);
                bump(&stats.solicitations_bad_hop_limit);
                tracing::debug!(interface = %ifname, %src, hop_limit = ?d.hop_limit, "router solicitation dropped: hop limit is not 255");
                return;
            }
            if let Err(e) = adv.solicitation(Instant::now(), bytes, src, jitter) {
                tracing::debug!(interface = %ifname, %src, "router solicitation dropped: {e}");
            }
        }
        Some(&ROUTER_ADVERTISEMENT) if src != l.source => {
            // RFC 4861 §6.1.2: link-local source, hop limit 255.
            if d.hop_limit != Some(ND_HOP_LIMIT) || !crate::link::is_link_local(&src) {
                return;
            }
            bump(&stats.foreign_adverts);
            match RouterAdvert::parse(bytes) {
                Ok(theirs) => {
                    let diff = adv.inconsistencies(Instant::now(), &theirs);
                    if diff.is_empty() {
                        tracing::debug!(interface = %ifname, %src, "another router advertises on {ifname}");
                    } else {
                        bump(&stats.inconsistent_adverts);
                        tracing::warn!(interface = %ifname, %src, ?diff, "another router's advertisement contradicts ours (RFC 4861 §6.2.7)");
                    }
                }
                Err(e) => {
                    tracing::debug!(interface = %ifname, %src, "unreadable router advertisement: {e}");
                }
            }
        }
        _ => {}
    }
}
