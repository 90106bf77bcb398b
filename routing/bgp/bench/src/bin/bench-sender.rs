//! The BGP benchmark's sender (`deploy/bench-bgp.sh`): one eBGP session that
//! writes N prefixes in full 4096-octet UPDATEs right after Established, with
//! nothing held back, then End-of-RIB, then only KEEPALIVEs.
//!
//! ```text
//! bench-sender --connect 10.99.1.2 --local-as 65001 --router-id 10.99.1.1 \
//!     --family ipv4 --count 100000 --next-hop 10.99.1.1
//! ```
//!
//! Why not BIRD as the sender: BIRD 2.0.12 may keep its last UPDATE of the
//! initial dump until its next KEEPALIVE, which adds up to a keepalive
//! interval to the receiver's "all routes in" time. This sender writes every
//! UPDATE with `TCP_NODELAY` as fast as TCP takes them; the UPDATEs are
//! encoded before the session comes up, so Established → first byte is a
//! `write` call.
//!
//! The sender is the active side (the receivers are configured passive) and
//! retries the connection until `--connect-timeout`. It prints one line per
//! event with the wall clock (`CLOCK_REALTIME`, seconds with microseconds),
//! the clock the benchmark's watchers stamp with:
//!
//! ```text
//! connected 1765135000.123456
//! established 1765135000.125012      (the peer's KEEPALIVE after the OPENs)
//! sent 1765135000.131877 prefixes=100000 updates=98 octets=401234
//! end-of-rib 1765135000.131901
//! ```
//!
//! A NOTIFICATION or a closed connection ends it with status 1. Once the
//! benchmark drops its packets (BFD figure), writes may fail: it then says
//! so and stays silent until killed, like a dead router.

use std::io::{ErrorKind, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ipnet::{Ipv4Net, Ipv6Net};
use routerd_bgp_core::wire::{
    AfiSafi, AsPath, Capability, Framer, MAX_MESSAGE_LEN, Message, Negotiated, NextHop, Open,
    Origin, PathAttributes, SessionParams, UpdateEncoder, encode_keepalive,
};

const USAGE: &str = "usage: bench-sender --connect ADDR [--port 179] --local-as ASN --router-id ID
       --family ipv4|ipv6 --count N --next-hop ADDR [--prefix-len L] [--first ADDR]
       [--hold SECS] [--connect-timeout SECS]";

/// What to send, and to whom.
struct Args {
    connect: SocketAddr,
    local_as: u32,
    router_id: Ipv4Addr,
    family: AfiSafi,
    count: u32,
    next_hop: IpAddr,
    prefix_len: u8,
    first: Option<IpAddr>,
    hold: u16,
    connect_timeout: Duration,
}

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let (mut connect, mut port, mut local_as, mut router_id) = (None, 179u16, None, None);
    let (mut family, mut count, mut next_hop, mut prefix_len) = (None, None, None, None);
    let (mut first, mut hold, mut connect_timeout) = (None, 9u16, 30u64);
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            return Err(USAGE.to_owned());
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--connect" => connect = Some(value.parse::<IpAddr>().map_err(|e| bad(&e))?),
            "--port" => port = value.parse().map_err(|e| bad(&e))?,
            "--local-as" => local_as = Some(value.parse().map_err(|e| bad(&e))?),
            "--router-id" => router_id = Some(value.parse().map_err(|e| bad(&e))?),
            "--family" => {
                family = Some(match value.as_str() {
                    "ipv4" => AfiSafi::IPV4_UNICAST,
                    "ipv6" => AfiSafi::IPV6_UNICAST,
                    _ => return Err(bad(&"want ipv4 or ipv6")),
                })
            }
            "--count" => count = Some(value.parse().map_err(|e| bad(&e))?),
            "--next-hop" => next_hop = Some(value.parse().map_err(|e| bad(&e))?),
            "--prefix-len" => prefix_len = Some(value.parse().map_err(|e| bad(&e))?),
            "--first" => first = Some(value.parse().map_err(|e| bad(&e))?),
            "--hold" => hold = value.parse().map_err(|e| bad(&e))?,
            "--connect-timeout" => connect_timeout = value.parse().map_err(|e| bad(&e))?,
            _ => return Err(format!("unknown argument {flag}\n{USAGE}")),
        }
    }
    let need = |what: &str| format!("{what} is required\n{USAGE}");
    let family = family.ok_or_else(|| need("--family"))?;
    let v4 = family == AfiSafi::IPV4_UNICAST;
    Ok(Args {
        connect: SocketAddr::new(connect.ok_or_else(|| need("--connect"))?, port),
        local_as: local_as.ok_or_else(|| need("--local-as"))?,
        router_id: router_id.ok_or_else(|| need("--router-id"))?,
        family,
        count: count.ok_or_else(|| need("--count"))?,
        next_hop: next_hop.ok_or_else(|| need("--next-hop"))?,
        prefix_len: prefix_len.unwrap_or(if v4 { 24 } else { 48 }),
        first,
        hold,
        connect_timeout: Duration::from_secs(connect_timeout),
    })
}

/// The wall clock as the benchmark's watchers print it.
fn now() -> String {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format!("{}.{:06}", d.as_secs(), d.subsec_micros())
}

/// Prints one event line and flushes, so the script sees it at once.
fn event(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Consecutive prefixes of one length from `first` (default 16.0.0.0 for
/// IPv4, 2001:db8:: for IPv6): the N prefixes of the benchmark.
fn ipv4_prefixes(first: Ipv4Addr, len: u8, count: u32) -> Result<Vec<Ipv4Net>, String> {
    let step = 1u64 << (32 - u32::from(len));
    let base = u64::from(u32::from(first));
    (0..u64::from(count))
        .map(|i| {
            let addr = u32::try_from(base + i * step).map_err(|_| "IPv4 space exhausted")?;
            Ipv4Net::new(Ipv4Addr::from(addr), len).map_err(|e| e.to_string())
        })
        .collect()
}

fn ipv6_prefixes(first: Ipv6Addr, len: u8, count: u32) -> Result<Vec<Ipv6Net>, String> {
    let step = 1u128 << (128 - u32::from(len));
    let base = u128::from(first);
    (0..u128::from(count))
        .map(|i| {
            let addr = base.checked_add(i * step).ok_or("IPv6 space exhausted")?;
            Ipv6Net::new(Ipv6Addr::from(addr), len).map_err(|e| e.to_string())
        })
        .collect()
}

/// All UPDATEs and the End-of-RIB, encoded for a 4-octet-AS eBGP session
/// with 4096-octet messages; returns (updates, end-of-rib, messages).
fn encode(args: &Args, params: SessionParams) -> Result<(Vec<u8>, Vec<u8>, usize), String> {
    let next_hop = match args.next_hop {
        IpAddr::V4(a) => NextHop::V4(a),
        IpAddr::V6(a) => NextHop::V6 {
            global: a,
            link_local: None,
        },
    };
    let attrs = PathAttributes {
        origin: Some(Origin::Igp),
        as_path: AsPath::from_sequence([args.local_as]),
        next_hop: Some(next_hop),
        ..Default::default()
    };
    let mut encoder = UpdateEncoder::new(params);
    let mut updates = Vec::new();
    let messages = if args.family == AfiSafi::IPV4_UNICAST {
        let first = match args.first {
            Some(IpAddr::V4(a)) => a,
            None => Ipv4Addr::new(16, 0, 0, 0),
            Some(other) => return Err(format!("--first {other} is not IPv4")),
        };
        let prefixes = ipv4_prefixes(first, args.prefix_len, args.count)?;
        encoder.announce(&attrs, prefixes, &mut updates)
    } else {
        let first = match args.first {
            Some(IpAddr::V6(a)) => a,
            None => Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0),
            Some(other) => return Err(format!("--first {other} is not IPv6")),
        };
        let prefixes = ipv6_prefixes(first, args.prefix_len, args.count)?;
        encoder.announce(&attrs, prefixes, &mut updates)
    }
    .map_err(|e| e.to_string())?;
    let mut eor = Vec::new();
    encoder.end_of_rib(args.family, &mut eor);
    Ok((updates, eor, messages))
}

fn connect(args: &Args) -> Result<TcpStream, String> {
    let deadline = Instant::now() + args.connect_timeout;
    loop {
        match TcpStream::connect_timeout(&args.connect, Duration::from_secs(1)) {
            Ok(tcp) => return Ok(tcp),
            Err(e) if Instant::now() < deadline => {
                let _ = e; // not listening yet: the receiver is still starting
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(format!("connect to {}: {e}", args.connect)),
        }
    }
}

/// One session: OPENs, KEEPALIVEs, the UPDATEs, End-of-RIB, then keepalives
/// until the peer goes away.
fn run(args: &Args) -> Result<(), String> {
    // 4-octet ASNs and 4096-octet messages: every receiver here negotiates
    // the first; extended messages are not advertised, so the second holds.
    let params = SessionParams {
        max_send_len: MAX_MESSAGE_LEN,
        ..SessionParams::new(true, true)
    };
    let (updates, eor, messages) = encode(args, params)?;
    let open = Open::new(
        args.local_as,
        args.hold,
        args.router_id,
        vec![Capability::Multiprotocol(args.family)],
    );
    let mut tcp = connect(args)?;
    tcp.set_nodelay(true).map_err(|e| e.to_string())?;
    event(&format!("connected {}", now()));
    let mut out = Vec::new();
    open.encode(&mut out);
    tcp.write_all(&out).map_err(|e| format!("send OPEN: {e}"))?;

    let mut framer = Framer::new();
    let mut keepalive = Vec::new();
    encode_keepalive(&mut keepalive);
    let mut negotiated: Option<Negotiated> = None;
    // The handshake: the peer's OPEN, our KEEPALIVE, then the peer's KEEPALIVE.
    tcp.set_read_timeout(Some(Duration::from_secs(u64::from(args.hold.max(3)))))
        .map_err(|e| e.to_string())?;
    'handshake: loop {
        match framer.read_from(&mut tcp) {
            Ok(0) => return Err("the peer closed the connection during the OPEN exchange".into()),
            Ok(_) => {}
            Err(e) => return Err(format!("OPEN exchange: {e}")),
        }
        while let Some(frame) = framer.next_frame().map_err(|e| e.to_string())? {
            match frame.decode(&params).map_err(|e| e.to_string())? {
                Message::Open(theirs) => {
                    let n = Negotiated::new(&open, &theirs);
                    if !n.four_octet_as {
                        return Err("the peer did not negotiate 4-octet ASNs".into());
                    }
                    if !n.has_family(args.family) {
                        return Err(format!("the peer did not negotiate {}", args.family));
                    }
                    negotiated = Some(n);
                    tcp.write_all(&keepalive)
                        .map_err(|e| format!("send KEEPALIVE: {e}"))?;
                }
                Message::Keepalive if negotiated.is_some() => break 'handshake,
                Message::Notification(n) => return Err(format!("NOTIFICATION from the peer: {n}")),
                other => {
                    return Err(format!(
                        "unexpected {:?} during the OPEN exchange",
                        other.kind()
                    ));
                }
            }
        }
    }
    let established = now();
    tcp.write_all(&updates)
        .map_err(|e| format!("send UPDATEs: {e}"))?;
    let sent = now();
    tcp.write_all(&eor)
        .map_err(|e| format!("send End-of-RIB: {e}"))?;
    let end_of_rib = now();
    event(&format!("established {established}"));
    event(&format!(
        "sent {sent} prefixes={} updates={messages} octets={}",
        args.count,
        updates.len()
    ));
    event(&format!("end-of-rib {end_of_rib}"));

    // Keepalives at a third of the hold time; read and drop whatever the
    // peer sends (its KEEPALIVEs), stop on a NOTIFICATION or EOF.
    let hold = negotiated.map_or(args.hold, |n| n.hold_time);
    let interval = Duration::from_secs(u64::from(hold.max(3)) / 3);
    tcp.set_read_timeout(Some(Duration::from_millis(100)))
        .map_err(|e| e.to_string())?;
    let mut last = Instant::now();
    loop {
        if last.elapsed() >= interval {
            if let Err(e) = tcp.write_all(&keepalive) {
                return silent(&format!("send KEEPALIVE: {e}"));
            }
            last = Instant::now();
        }
        match framer.read_from(&mut tcp) {
            Ok(0) => return Err(format!("the peer closed the connection at {}", now())),
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(e) => return silent(&format!("read: {e}")),
        }
        while let Some(frame) = framer.next_frame().map_err(|e| e.to_string())? {
            if let Ok(Message::Notification(n)) = frame.decode(&params) {
                return Err(format!("NOTIFICATION from the peer at {}: {n}", now()));
            }
        }
    }
}

/// After a socket error once the routes are out: report it and stay silent
/// (no FIN, no RST from an exiting process) until the benchmark kills us.
fn silent(what: &str) -> Result<(), String> {
    event(&format!("socket-error {} {what}", now()));
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-sender: {e}");
            ExitCode::FAILURE
        }
    }
}
