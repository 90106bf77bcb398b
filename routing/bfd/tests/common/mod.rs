//! Shared pieces of the netns tests: a two-namespace topology, a tokio
//! runtime whose threads live in a namespace, an nftables "silent failure"
//! that is always undone, and waiting on a session's state.

#![allow(dead_code)]

use std::net::IpAddr;
use std::time::{Duration, Instant, SystemTime};

use routerd_bfd_core::{SessionHandle, State};
use routerd_lab::{Netns, veth, wait_until};

/// Two namespaces joined by a veth pair, with IPv4 and IPv6 addresses.
pub struct Pair {
    /// Where routerd's runner lives.
    pub ours: Netns,
    /// Where the peer (BIRD, FRR, or a second runner) lives.
    pub peer: Netns,
}

pub const OUR_IF: &str = "bfd-ours";
pub const PEER_IF: &str = "bfd-peer";
pub const OUR_V4: &str = "10.99.0.1";
pub const PEER_V4: &str = "10.99.0.2";
pub const OUR_V6: &str = "fd00:99::1";
pub const PEER_V6: &str = "fd00:99::2";

impl Pair {
    pub fn new(tag: &str) -> Pair {
        let ours = Netns::new(&format!("{tag}-o"));
        let peer = Netns::new(&format!("{tag}-p"));
        veth(&ours, OUR_IF, &peer, PEER_IF);
        ours.ip(&format!("addr add {OUR_V4}/24 dev {OUR_IF}"));
        peer.ip(&format!("addr add {PEER_V4}/24 dev {PEER_IF}"));
        ours.ip(&format!("addr add {OUR_V6}/64 dev {OUR_IF}"));
        peer.ip(&format!("addr add {PEER_V6}/64 dev {PEER_IF}"));
        ours.wait_link_running(OUR_IF, Duration::from_secs(5));
        peer.wait_link_running(PEER_IF, Duration::from_secs(5));
        Pair { ours, peer }
    }
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().expect("literal address")
}

/// The link-local address of `ifname` in `ns` (DAD is off in lab namespaces).
pub fn link_local(ns: &Netns, ifname: &str) -> IpAddr {
    wait_until(
        &format!("a link-local address on {ifname}"),
        Duration::from_secs(5),
        || {
            let v = ns.ip_json(&format!("-6 addr show dev {ifname} scope link"));
            v[0]["addr_info"]
                .as_array()?
                .iter()
                .find_map(|a| a["local"].as_str()?.parse().ok())
        },
    )
}

/// A multi-threaded tokio runtime whose worker threads run inside `ns`: they
/// are spawned by a thread that joined it, so every socket the runner opens
/// is in the namespace. Checked, not assumed.
pub fn runtime_in(ns: &Netns) -> tokio::runtime::Runtime {
    let rt = ns.in_netns(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime")
    });
    let ns_ino = {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(ns.path())
            .expect("namespace handle")
            .ino()
    };
    let seen = rt.block_on(async {
        tokio::spawn(async { std::fs::read_link("/proc/thread-self/ns/net") })
            .await
            .expect("join")
    });
    let seen = seen.expect("own namespace link");
    assert_eq!(
        seen.to_string_lossy(),
        format!("net:[{ns_ino}]"),
        "tokio workers must run in {}",
        ns.name()
    );
    rt
}

/// Silently drops all BFD control traffic (UDP 3784, both directions) in a
/// namespace while it lives: the nftables table goes away on drop, even when
/// the test fails.
pub struct Cut<'a> {
    ns: &'a Netns,
    /// When `nft` returned: the rule was committed by then.
    pub at: Instant,
    /// The same moment on the wall clock, to compare with peers' logs.
    pub wall: SystemTime,
    /// How long `nft` took (the cut happened somewhere in it).
    pub nft_took: Duration,
}

const CUT_TABLE: &str = "routerd_bfd_cut";

impl<'a> Cut<'a> {
    pub fn new(ns: &'a Netns) -> Cut<'a> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("cut.nft");
        // One file, one transaction: both directions stop at the same instant.
        std::fs::write(
            &path,
            format!(
                "table inet {CUT_TABLE} {{
  chain input {{ type filter hook input priority -10; policy accept; udp dport 3784 drop; }}
  chain output {{ type filter hook output priority -10; policy accept; udp dport 3784 drop; }}
}}
"
            ),
        )
        .expect("write nft file");
        let start = Instant::now();
        let path_s = path.to_string_lossy().into_owned();
        ns.run(&["nft", "-f", &path_s]);
        let at = Instant::now();
        let wall = SystemTime::now();
        Cut {
            ns,
            at,
            wall,
            nft_took: at - start,
        }
    }

    /// Removes the drop now.
    pub fn heal(self) {}
}

impl Drop for Cut<'_> {
    fn drop(&mut self) {
        let out = self.ns.exec(&["nft", "delete", "table", "inet", CUT_TABLE]);
        if !out.status.success() {
            eprintln!(
                "cannot remove the nft cut in {}: {}",
                self.ns.name(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

/// Waits until the session reaches `state`; returns the view's change time.
pub fn wait_state(h: &SessionHandle, state: State, timeout: Duration) -> Option<Instant> {
    wait_until(
        &format!("BFD session {} {}", h.id(), state.as_str()),
        timeout,
        || {
            let v = h.view();
            (v.state == state).then_some(v.last_change.map(|c| c.at))
        },
    )
}

/// Milliseconds with one decimal, for the printed figures.
pub fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

pub mod interop;

/// Parses a log timestamp "YYYY-MM-DD HH:MM:SS.fff" (or with '/' between the
/// date fields) as UTC; the peers run with TZ=UTC. None if it is not one.
pub fn parse_utc(stamp: &str) -> Option<SystemTime> {
    let (date, time) = stamp.split_once(' ')?;
    let mut d = date.split(['-', '/']).map(|x| x.parse::<i64>());
    let (y, m, dd) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let mut t = hms.split(':').map(|x| x.parse::<u64>());
    let (h, mi, s) = (t.next()?.ok()?, t.next()?.ok()?, t.next()?.ok()?);
    let nanos: u32 = format!("{frac:0<9}").get(..9)?.parse().ok()?;
    // Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + dd - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = u64::try_from(era * 146_097 + doe - 719_468).ok()?;
    let secs = days * 86_400 + h * 3600 + mi * 60 + s;
    Some(SystemTime::UNIX_EPOCH + Duration::new(secs, nanos))
}

/// The first line of `log` containing every one of `needles` whose leading
/// timestamp (the first `stamp_len` characters) is at or after `after`.
pub fn first_logged(
    log: &str,
    stamp_len: usize,
    needles: &[&str],
    after: SystemTime,
) -> Option<SystemTime> {
    log.lines()
        .filter(|l| needles.iter().all(|n| l.contains(n)))
        .filter_map(|l| parse_utc(l.get(..stamp_len)?))
        .find(|t| *t >= after)
}
