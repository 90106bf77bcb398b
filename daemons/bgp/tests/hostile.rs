//! Hostile input against routerd-bgp: a raw BGP speaker in a peer
//! namespace (an OPEN from routerd-bgp-core's encoder, UPDATEs written
//! byte by byte) sends what a broken or malicious peer would. RFC 7606
//! treat-as-withdraw keeps the session and drops only the route; a
//! max-prefix flood gets Cease/1 and the session stays down until a renew.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use routerd_bgp_core::wire::{AfiSafi, Capability, Open, encode_keepalive};
use routerd_lab::Netns;
use serde_json::json;

const RAW_AS: u32 = 65010;

const OPEN: u8 = 1;
const UPDATE: u8 = 2;
const NOTIFICATION: u8 = 3;
const KEEPALIVE: u8 = 4;

/// A BGP speaker with no state machine, and a thread sending KEEPALIVEs
/// so our hold timer never fires while a test looks.
struct Raw {
    read: TcpStream,
    write: Arc<Mutex<TcpStream>>,
    stop: Arc<AtomicBool>,
}

impl Raw {
    /// Connects from `ns` to our daemon, once.
    fn connect(ns: &Netns, to: SocketAddr) -> std::io::Result<Raw> {
        let s = ns.in_netns(|| TcpStream::connect_timeout(&to, Duration::from_secs(3)))?;
        s.set_nodelay(true)?;
        let write = Arc::new(Mutex::new(s.try_clone()?));
        Ok(Raw {
            read: s,
            write,
            stop: Arc::new(AtomicBool::new(false)),
        })
    }

    fn send(&self, msg: &[u8]) {
        let mut w = self.write.lock().expect("writer lock");
        w.write_all(msg).expect("send to routerd-bgp");
    }

    /// The next message (type, body), `None` when nothing came in
    /// `timeout`; an error when the connection closed.
    fn recv(&mut self, timeout: Duration) -> std::io::Result<Option<(u8, Vec<u8>)>> {
        self.read.set_read_timeout(Some(timeout))?;
        let mut header = [0u8; 19];
        match self.read.read_exact(&mut header) {
            Ok(()) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Ok(None);
            }
            Err(e) => return Err(e),
        }
        assert_eq!(header[..16], [0xff; 16], "marker");
        let len = usize::from(u16::from_be_bytes([header[16], header[17]]));
        let mut body = vec![0u8; len.saturating_sub(19)];
        self.read.set_read_timeout(Some(Duration::from_secs(5)))?;
        self.read.read_exact(&mut body)?;
        Ok(Some((header[18], body)))
    }

    /// Waits for a message of type `kind`, skipping others.
    fn expect(&mut self, kind: u8, within: Duration) -> Vec<u8> {
        let until = Instant::now() + within;
        while Instant::now() < until {
            match self.recv(Duration::from_millis(200)) {
                Ok(Some((k, body))) if k == kind => return body,
                Ok(Some((NOTIFICATION, body))) => {
                    panic!("NOTIFICATION {body:?} while waiting for type {kind}")
                }
                Ok(_) => {}
                Err(e) => panic!("connection closed waiting for type {kind}: {e}"),
            }
        }
        panic!("no message of type {kind} in {within:?}");
    }

    /// OPEN both ways, KEEPALIVE both ways: Established; then keepalives
    /// every second.
    fn establish(&mut self, id: Ipv4Addr) {
        let mut out = Vec::new();
        Open::new(
            RAW_AS,
            9,
            id,
            vec![
                Capability::Multiprotocol(AfiSafi::IPV4_UNICAST),
                Capability::RouteRefresh,
            ],
        )
        .encode(&mut out);
        self.send(&out);
        self.expect(OPEN, SETTLE);
        let mut ka = Vec::new();
        encode_keepalive(&mut ka);
        self.send(&ka);
        self.expect(KEEPALIVE, SETTLE);
        let (write, stop) = (self.write.clone(), self.stop.clone());
        std::thread::spawn(move || {
            // Bounded: a test never runs this long.
            for _ in 0..600 {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                std::thread::sleep(Duration::from_secs(1));
                let Ok(mut w) = write.lock() else { return };
                if w.write_all(&ka).is_err() {
                    return;
                }
            }
        });
    }

    /// Reads for `d`; panics on a NOTIFICATION or a close.
    fn quiet_for(&mut self, d: Duration) {
        let until = Instant::now() + d;
        while Instant::now() < until {
            match self.recv(Duration::from_millis(100)) {
                Ok(Some((NOTIFICATION, body))) => panic!("NOTIFICATION {body:?}: session reset"),
                Ok(_) => {}
                Err(e) => panic!("connection closed: {e}"),
            }
        }
    }
}

impl Drop for Raw {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.read.shutdown(std::net::Shutdown::Both);
    }
}

/// An IPv4 UPDATE: ORIGIN `origin` (0-2 valid), AS_PATH [RAW_AS] in four
/// octets, NEXT_HOP `nh`, and `prefixes`.
fn update(origin: u8, nh: Ipv4Addr, prefixes: &[(Ipv4Addr, u8)]) -> Vec<u8> {
    let mut attrs = vec![0x40, 1, 1, origin];
    attrs.extend([0x40, 2, 6, 2, 1]);
    attrs.extend(RAW_AS.to_be_bytes());
    attrs.extend([0x40, 3, 4]);
    attrs.extend(nh.octets());
    let mut nlri = Vec::new();
    for (addr, len) in prefixes {
        nlri.push(*len);
        nlri.extend(&addr.octets()[..usize::from(len.div_ceil(8))]);
    }
    let mut body = vec![0, 0];
    body.extend(u16::try_from(attrs.len()).expect("attrs").to_be_bytes());
    body.extend(attrs);
    body.extend(nlri);
    let mut msg = vec![0xff; 16];
    msg.extend(u16::try_from(19 + body.len()).expect("len").to_be_bytes());
    msg.push(UPDATE);
    msg.extend(body);
    msg
}

fn v4(s: &str) -> Ipv4Addr {
    s.parse().expect("address")
}

fn to_us() -> SocketAddr {
    SocketAddr::new(Lab::our4(0).parse().expect("address"), 179)
}

/// Connects until the daemon takes the connection (it may still be
/// starting, or refusing while halted).
fn connect(ns: &Netns) -> Raw {
    routerd_lab::wait_until("a TCP connection to routerd-bgp", SETTLE, || {
        Raw::connect(ns, to_us()).ok()
    })
}

fn raw_peer(max: Option<u32>) -> serde_json::Value {
    let mut p = peer("raw", &Lab::peer4(0), RAW_AS, true);
    p["passive"] = true.into();
    p["maxPrefixes"] = json!(max);
    p
}

#[test]
fn a_bad_origin_withdraws_the_route_and_keeps_the_session() {
    let lab = Lab::new("bgp-hostile-7606", 1);
    let mut d = Daemon::new(&config(vec![raw_peer(None)], vec![]));
    d.start(&lab.ours);
    let mut raw = connect(&lab.peers[0]);
    raw.establish(v4(&Lab::peer4(0)));
    d.wait_state("raw", "Established", SETTLE);
    let nh = v4(&Lab::peer4(0));
    raw.send(&update(
        0,
        nh,
        &[(v4("10.71.0.0"), 24), (v4("10.71.1.0"), 24)],
    ));
    lab.wait_kernel(&["10.71.0.0/24", "10.71.1.0/24"], true, SETTLE);

    // ORIGIN 5 does not exist: RFC 7606 §7.1 says treat-as-withdraw.
    raw.send(&update(5, nh, &[(v4("10.71.0.0"), 24)]));
    lab.wait_kernel(&["10.71.0.0/24"], false, SETTLE);
    raw.quiet_for(Duration::from_secs(2));
    assert!(lab.kernel_prefixes().contains("10.71.1.0/24"));
    let n = d.peer("raw");
    assert_eq!(n["state"], "Established", "{n}");
    assert_eq!(n["counters"]["malformed"]["treatAsWithdraw"], 1, "{n}");
    assert_eq!(n["counters"]["malformed"]["sessionReset"], 0, "{n}");
    assert_eq!(n["prefixesAccepted"], 1, "{n}");
    let s = d.status();
    assert_eq!(
        s["status"]["counters"]["malformed"]["treatAsWithdraw"], 1,
        "{s}"
    );
    assert_eq!(d.events("bgp.session.down").len(), 0);

    // The same session still works: a good UPDATE brings it back.
    raw.send(&update(0, nh, &[(v4("10.71.0.0"), 24)]));
    lab.wait_kernel(&["10.71.0.0/24"], true, SETTLE);
}

#[test]
fn a_max_prefix_flood_gets_a_cease_and_waits_for_a_renew() {
    let lab = Lab::new("bgp-hostile-max", 1);
    let mut d = Daemon::new(&config(vec![raw_peer(Some(5))], vec![]));
    d.start(&lab.ours);
    let mut raw = connect(&lab.peers[0]);
    raw.establish(v4(&Lab::peer4(0)));
    d.wait_state("raw", "Established", SETTLE);
    let nh = v4(&Lab::peer4(0));
    let flood: Vec<(Ipv4Addr, u8)> = (0..50u8)
        .map(|i| (Ipv4Addr::new(10, 72, i, 0), 24))
        .collect();
    raw.send(&update(0, nh, &flood));
    let cease = raw.expect(NOTIFICATION, SETTLE);
    assert_eq!(
        cease[..2],
        [6, 1],
        "Cease / Maximum Number of Prefixes Reached"
    );
    // Closed after the NOTIFICATION.
    let closed = routerd_lab::wait_until("the connection to close", SETTLE, || {
        match raw.recv(Duration::from_millis(200)) {
            Ok(Some(_)) | Ok(None) => None,
            Err(e) => Some(e),
        }
    });
    println!("after the Cease: {closed}");
    drop(raw);
    let n = d.peer("raw");
    assert_ne!(n["state"], "Established", "{n}");
    assert!(n["halted"].is_string(), "{n}");
    assert_eq!(n["counters"]["maxPrefixHits"], 1, "{n}");
    lab.wait_kernel(&["10.72.0.0/24", "10.72.49.0/24"], false, SETTLE);
    assert!(
        lab.kernel_prefixes().is_empty(),
        "{:?}",
        lab.kernel_prefixes()
    );
    let s = d.status();
    assert_eq!(s["status"]["BGPPeer/raw"]["phase"], "Halted", "{s}");

    // Halted, not stuck: a new connection is refused with the same Cease...
    let mut again = connect(&lab.peers[0]);
    let body = again.expect(NOTIFICATION, SETTLE);
    assert_eq!(body[..2], [6, 1], "{body:?}");
    drop(again);
    assert_ne!(d.peer_state("raw"), "Established");
    // ...until a renew lets it come back, and a table within the limit stays.
    let r = d.post("/v1/commands/renew", &json!({"peer": "raw"}));
    assert!(r["detail"]["restarted"].to_string().contains("raw"), "{r}");
    let mut raw = connect(&lab.peers[0]);
    raw.establish(v4(&Lab::peer4(0)));
    d.wait_state("raw", "Established", SETTLE);
    raw.send(&update(0, nh, &flood[..3]));
    lab.wait_kernel(&["10.72.0.0/24", "10.72.2.0/24"], true, SETTLE);
    raw.quiet_for(Duration::from_secs(1));
    assert_eq!(d.peer_state("raw"), "Established");
}

#[test]
fn an_unparsable_update_resets_the_session_which_comes_back() {
    let lab = Lab::new("bgp-hostile-reset", 1);
    let mut d = Daemon::new(&config(vec![raw_peer(None)], vec![]));
    d.start(&lab.ours);
    let mut raw = connect(&lab.peers[0]);
    raw.establish(v4(&Lab::peer4(0)));
    d.wait_state("raw", "Established", SETTLE);
    let nh = v4(&Lab::peer4(0));
    raw.send(&update(0, nh, &[(v4("10.73.0.0"), 24)]));
    lab.wait_kernel(&["10.73.0.0/24"], true, SETTLE);

    // Withdrawn Routes Length past the end of the message: the NLRI cannot
    // be found, so RFC 7606 §4 leaves only a session reset.
    let mut bad = vec![0xff; 16];
    bad.extend(23u16.to_be_bytes());
    bad.push(UPDATE);
    bad.extend([0x01, 0x00, 0x00, 0x00]);
    raw.send(&bad);
    let body = raw.expect(NOTIFICATION, SETTLE);
    assert_eq!(body[0], 3, "UPDATE Message Error: {body:?}");
    drop(raw);
    lab.wait_kernel(&["10.73.0.0/24"], false, SETTLE);
    let n = d.peer("raw");
    assert_ne!(n["state"], "Established", "{n}");
    assert!(n["halted"].is_null(), "not halted: {n}");

    // Not stuck: the peer connects again and is served.
    let mut raw = connect(&lab.peers[0]);
    raw.establish(v4(&Lab::peer4(0)));
    d.wait_state("raw", "Established", SETTLE);
    raw.send(&update(0, nh, &[(v4("10.73.0.0"), 24)]));
    lab.wait_kernel(&["10.73.0.0/24"], true, SETTLE);
}
