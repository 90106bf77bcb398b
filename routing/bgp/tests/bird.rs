//! Interop with a real peer's bytes: BIRD 2 (Debian bird2) in a network
//! namespace exports IPv4 and IPv6 static routes over eBGP; the test speaks
//! the session by hand from the other namespace (OPEN, KEEPALIVEs, a route
//! refresh, a Cease, all from this crate's encoders) and decodes everything
//! BIRD sends with this crate's framer and decoder, then checks the routes
//! and attributes against BIRD's configuration.

use std::collections::BTreeMap;
use std::io::{ErrorKind, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use ipnet::IpNet;
use routerd_bgp_core::wire::{
    AfiSafi, AsPath, Capability, CeaseSubcode, Community, ExtendedNextHop, Framer, LargeCommunity,
    Message, Negotiated, NextHop, Notification, Open, OpenCheck, Origin, PathAttributes,
    RefreshSubtype, RouteRefresh, SessionParams, encode_keepalive,
};
use routerd_lab::{Netns, require_command, veth, wait_until};

const OUR_IF: &str = "bgp-ours";
const BIRD_IF: &str = "bgp-bird";
const OUR_V4: Ipv4Addr = Ipv4Addr::new(10, 99, 1, 2);
const BIRD_V4: Ipv4Addr = Ipv4Addr::new(10, 99, 1, 1);
const OUR_V6: &str = "fd00:99:1::2";
const BIRD_V6: &str = "fd00:99:1::1";
const BIRD_AS: u32 = 65001;
/// A 4-octet ASN for our side, so My AS is AS_TRANS on the wire.
const OUR_AS: u32 = 4_200_000_002;

const V4_ROUTES: [&str; 4] = [
    "10.10.1.0/24",
    "10.10.2.0/24",
    "192.0.2.128/25",
    "198.51.100.7/32",
];
const V6_ROUTES: [&str; 3] = [
    "2001:db8:10::/48",
    "2001:db8:20:1::/64",
    "2001:db8:30::1/128",
];

fn bird_conf(ll_hint: &str) -> String {
    let routes4: String = V4_ROUTES
        .iter()
        .map(|r| format!("  route {r} blackhole;\n"))
        .collect();
    let routes6: String = V6_ROUTES
        .iter()
        .map(|r| format!("  route {r} blackhole;\n"))
        .collect();
    format!(
        r#"# {ll_hint}
router id {BIRD_V4};
hostname "bird-peer";
log stderr all;
protocol device {{ scan time 1; }}
protocol static st4 {{
  ipv4;
{routes4}}}
protocol static st6 {{
  ipv6;
{routes6}}}
protocol bgp peer {{
  debug {{ states, events }};
  local {BIRD_V4} as {BIRD_AS};
  neighbor {OUR_V4} as {OUR_AS};
  passive on;
  hold time 9; keepalive time 1;
  enable extended messages on;
  graceful restart on;
  advertise hostname on;
  ipv4 {{
    import none;
    export filter {{
      bgp_origin = ORIGIN_EGP;
      bgp_med = 50;
      bgp_community.add((65001, 100));
      bgp_large_community.add((65001, 1, 2));
      if net = 198.51.100.7/32 then bgp_community.add((65535, 65281));
      accept;
    }};
    add paths tx;
  }};
  ipv6 {{
    import none;
    export filter {{
      bgp_origin = ORIGIN_INCOMPLETE;
      bgp_community.add((65001, 600));
      accept;
    }};
    next hop address {BIRD_V6};
  }};
}}
"#
    )
}

/// The routes one session learned, by prefix, with their attribute sets.
#[derive(Default)]
struct Learned {
    routes: BTreeMap<IpNet, PathAttributes>,
    end_of_rib: Vec<AfiSafi>,
    refresh_marks: Vec<RouteRefresh>,
    updates: usize,
    /// Every UPDATE as received, printed for the record (`--nocapture`).
    raw: Vec<Vec<u8>>,
}

struct Session {
    tcp: TcpStream,
    framer: Framer,
    params: SessionParams,
    last_keepalive: Instant,
}

impl Session {
    fn send(&mut self, bytes: &[u8]) {
        self.tcp.write_all(bytes).expect("send to BIRD");
    }

    fn keepalive_if_due(&mut self) {
        if self.last_keepalive.elapsed() >= Duration::from_millis(500) {
            let mut out = Vec::new();
            encode_keepalive(&mut out);
            self.send(&out);
            self.last_keepalive = Instant::now();
        }
    }

    /// Reads until `done` says so, keeping the session alive, applying every
    /// UPDATE to `learned`. Panics on any decode error or NOTIFICATION.
    fn run(
        &mut self,
        learned: &mut Learned,
        deadline: Duration,
        mut done: impl FnMut(&Learned) -> bool,
    ) {
        let start = Instant::now();
        while !done(learned) {
            assert!(
                start.elapsed() < deadline,
                "BIRD did not finish in {deadline:?}"
            );
            self.keepalive_if_due();
            match self.framer.read_from(&mut self.tcp) {
                Ok(0) => panic!("BIRD closed the connection"),
                Ok(_) => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    continue;
                }
                Err(e) => panic!("read: {e}"),
            }
            let params = self.params;
            while let Some(frame) = self.framer.next_frame().expect("BIRD's framing is valid") {
                match frame.decode(&params).expect("BIRD's messages decode") {
                    Message::Update(u) => {
                        learned.updates += 1;
                        learned.raw.push(frame.raw().to_vec());
                        assert_eq!(u.problems, vec![], "problems in {:02x?}", frame.raw());
                        for n in u.unreachable() {
                            for p in n.iter() {
                                learned.routes.remove(&p);
                            }
                        }
                        for r in u.reachable() {
                            let attrs = u.attrs_for(&r);
                            for p in r.nlri.iter() {
                                learned.routes.insert(p, attrs.clone());
                            }
                        }
                        learned.end_of_rib.extend(u.end_of_rib());
                    }
                    Message::Keepalive => {}
                    Message::RouteRefresh(rr) => learned.refresh_marks.push(rr),
                    other => panic!("unexpected message from BIRD: {other:?}"),
                }
            }
        }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn link_local(ns: &Netns, ifname: &str) -> Ipv6Addr {
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

#[test]
fn decodes_what_bird_sends() {
    let bird = require_command("bird");
    let ours = Netns::new("bgp-bird-o");
    let peer = Netns::new("bgp-bird-p");
    veth(&ours, OUR_IF, &peer, BIRD_IF);
    ours.ip(&format!("addr add {OUR_V4}/24 dev {OUR_IF}"));
    peer.ip(&format!("addr add {BIRD_V4}/24 dev {BIRD_IF}"));
    ours.ip(&format!("addr add {OUR_V6}/64 dev {OUR_IF}"));
    peer.ip(&format!("addr add {BIRD_V6}/64 dev {BIRD_IF}"));
    ours.wait_link_running(OUR_IF, Duration::from_secs(5));
    peer.wait_link_running(BIRD_IF, Duration::from_secs(5));
    let bird_ll = link_local(&peer, BIRD_IF);

    let dir = tempfile::tempdir().expect("tempdir");
    let conf = dir.path().join("bird.conf");
    std::fs::write(&conf, bird_conf("BGP wire codec interop")).expect("write bird.conf");
    let s = |p: &std::path::Path| p.to_string_lossy().into_owned();
    let process = peer.spawn(
        &[
            &s(&bird),
            "-f",
            "-c",
            &s(&conf),
            "-s",
            &s(&dir.path().join("bird.ctl")),
            "-P",
            &s(&dir.path().join("bird.pid")),
        ],
        &[],
    );
    let logs = || format!("{}{}", process.stdout(), process.stderr());

    let result = ours.in_netns(|| {
        let addr = SocketAddr::from((BIRD_V4, 179));
        let tcp = wait_until(
            "BIRD listening on port 179",
            Duration::from_secs(10),
            || {
                assert!(process.is_running(), "bird exited: {}", logs());
                TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()
            },
        );
        tcp.set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        tcp.set_nodelay(true).expect("nodelay");
        let our_open = Open::new(
            OUR_AS,
            90,
            OUR_V4,
            vec![
                Capability::Multiprotocol(AfiSafi::IPV4_UNICAST),
                Capability::Multiprotocol(AfiSafi::IPV6_UNICAST),
                Capability::RouteRefresh,
                Capability::EnhancedRouteRefresh,
                Capability::ExtendedMessage,
                Capability::FourOctetAs(OUR_AS),
            ],
        );
        let mut s = Session {
            tcp,
            framer: Framer::new(),
            params: SessionParams::new(true, true),
            last_keepalive: Instant::now(),
        };
        let mut out = Vec::new();
        our_open.encode(&mut out);
        s.send(&out);

        // OPEN from BIRD, then its KEEPALIVE.
        let start = Instant::now();
        let bird_open = loop {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "no OPEN from BIRD: {}",
                logs()
            );
            match s.framer.read_from(&mut s.tcp) {
                Ok(0) => panic!("BIRD closed the connection: {}", logs()),
                Ok(_) => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    continue;
                }
                Err(e) => panic!("read: {e}"),
            }
            if let Some(frame) = s.framer.next_frame().expect("framing") {
                println!("BIRD OPEN: {}", hex(frame.raw()));
                match frame.decode(&s.params).expect("BIRD's OPEN decodes") {
                    Message::Open(o) => break o,
                    other => panic!("expected OPEN, got {other:?}: {}", logs()),
                }
            }
        };
        bird_open
            .check(&OpenCheck {
                local_asn: OUR_AS,
                local_id: OUR_V4,
                peer_asn: Some(BIRD_AS),
            })
            .expect("BIRD's OPEN is acceptable");
        let neg = Negotiated::new(&our_open, &bird_open);
        s.params = neg.params(true);
        s.framer.set_max_len(neg.recv_max_len());
        let mut out = Vec::new();
        encode_keepalive(&mut out);
        s.send(&out);

        // The initial table, up to End-of-RIB for both families.
        let mut learned = Learned::default();
        s.run(&mut learned, Duration::from_secs(20), |l| {
            l.end_of_rib.contains(&AfiSafi::IPV4_UNICAST)
                && l.end_of_rib.contains(&AfiSafi::IPV6_UNICAST)
        });
        let initial = std::mem::take(&mut learned.routes);
        for m in &learned.raw {
            println!("BIRD UPDATE: {}", hex(m));
        }
        let updates = learned.updates;

        // Enhanced route refresh (RFC 7313): BoRR, the routes again, EoRR.
        let mut out = Vec::new();
        RouteRefresh::request(AfiSafi::IPV4_UNICAST).encode(&mut out);
        s.send(&out);
        learned.end_of_rib.clear();
        s.run(&mut learned, Duration::from_secs(10), |l| {
            l.refresh_marks
                .iter()
                .any(|r| r.subtype == RefreshSubtype::EndRefresh)
        });

        // Close politely, with an RFC 9003 message BIRD logs.
        let mut out = Vec::new();
        Notification::cease_with_message(
            CeaseSubcode::AdministrativeShutdown,
            "routerd wire test done",
        )
        .encode(&mut out);
        s.send(&out);
        (bird_open, neg, initial, learned, updates)
    });
    let (bird_open, neg, initial, refreshed, updates) = result;

    // BIRD's OPEN: 2-octet AS with the 4-octet capability, its families and options.
    assert_eq!(bird_open.asn(), BIRD_AS);
    assert_eq!(bird_open.my_as, 65001);
    assert_eq!(bird_open.bgp_id, BIRD_V4);
    assert_eq!(bird_open.hold_time, 9);
    let caps = &bird_open.capabilities;
    for want in [
        Capability::Multiprotocol(AfiSafi::IPV4_UNICAST),
        Capability::Multiprotocol(AfiSafi::IPV6_UNICAST),
        Capability::RouteRefresh,
        Capability::EnhancedRouteRefresh,
        Capability::FourOctetAs(BIRD_AS),
        Capability::ExtendedMessage,
    ] {
        assert!(caps.contains(&want), "BIRD's OPEN lacks {want:?}: {caps:?}");
    }
    assert!(
        caps.iter()
            .any(|c| matches!(c, Capability::GracefulRestart(g) if g.families.len() == 2)),
        "graceful restart with both families: {caps:?}"
    );
    assert!(
        caps.iter().any(|c| matches!(c, Capability::AddPath(a) if a.iter().any(|e| e.afi_safi == AfiSafi::IPV4_UNICAST))),
        "ADD-PATH for IPv4: {caps:?}"
    );
    assert!(!caps.iter().any(|c| matches!(c, Capability::ExtendedNextHop(l) if l.contains(&ExtendedNextHop::IPV4_UNICAST_OVER_IPV6))));
    assert!(
        caps.iter()
            .any(|c| matches!(c, Capability::Fqdn(f) if f.hostname == "bird-peer")),
        "hostname capability: {caps:?}"
    );
    // BIRD's Long-Lived Graceful Restart capability (71) is kept raw.
    assert!(
        caps.iter()
            .any(|c| matches!(c, Capability::Unknown { code: 71, .. })),
        "{caps:?}"
    );
    assert_eq!(neg.hold_time, 9);
    assert!(neg.four_octet_as && neg.enhanced_route_refresh && neg.extended_message_send);
    assert_eq!(
        neg.families,
        vec![AfiSafi::IPV4_UNICAST, AfiSafi::IPV6_UNICAST]
    );
    println!("BIRD sent {updates} UPDATEs for the initial table; capabilities {caps:?}");

    // The routes, and their attributes as BIRD's export filters set them.
    let want_keys: Vec<IpNet> = V4_ROUTES
        .iter()
        .chain(V6_ROUTES.iter())
        .map(|r| r.parse().expect("literal"))
        .collect();
    let mut got_keys: Vec<IpNet> = initial.keys().copied().collect();
    let mut sorted = want_keys.clone();
    sorted.sort();
    got_keys.sort();
    assert_eq!(got_keys, sorted, "BIRD log:\n{}", logs());
    for (prefix, attrs) in &initial {
        match prefix {
            IpNet::V4(p) => {
                let mut communities = vec![Community::new(65001, 100)];
                if p.to_string() == "198.51.100.7/32" {
                    communities.push(Community::NO_EXPORT);
                }
                let want = PathAttributes {
                    origin: Some(Origin::Egp),
                    as_path: AsPath::from_sequence([BIRD_AS]),
                    next_hop: Some(NextHop::V4(BIRD_V4)),
                    med: Some(50),
                    communities,
                    large_communities: vec![LargeCommunity {
                        global: 65001,
                        local1: 1,
                        local2: 2,
                    }],
                    ..Default::default()
                };
                assert_eq!(attrs, &want, "{prefix}");
            }
            IpNet::V6(_) => {
                let global: Ipv6Addr = BIRD_V6.parse().expect("literal");
                let want = PathAttributes {
                    origin: Some(Origin::Incomplete),
                    as_path: AsPath::from_sequence([BIRD_AS]),
                    next_hop: Some(NextHop::V6 {
                        global,
                        link_local: Some(bird_ll),
                    }),
                    communities: vec![Community::new(65001, 600)],
                    ..Default::default()
                };
                assert_eq!(attrs, &want, "{prefix}");
            }
        }
    }

    // The refresh: BoRR and EoRR for IPv4 around the same IPv4 routes.
    let marks: Vec<_> = refreshed
        .refresh_marks
        .iter()
        .map(|r| (r.afi_safi, r.subtype))
        .collect();
    assert_eq!(
        marks,
        vec![
            (AfiSafi::IPV4_UNICAST, RefreshSubtype::BeginRefresh),
            (AfiSafi::IPV4_UNICAST, RefreshSubtype::EndRefresh),
        ]
    );
    let v4_initial: BTreeMap<_, _> = initial
        .iter()
        .filter(|(p, _)| matches!(p, IpNet::V4(_)))
        .collect();
    let v4_refreshed: BTreeMap<_, _> = refreshed.routes.iter().collect();
    assert_eq!(v4_refreshed, v4_initial);

    // BIRD logs the Shutdown Communication it received.
    wait_until("BIRD to log our Cease", Duration::from_secs(5), || {
        logs().contains("routerd wire test done").then_some(())
    });
}
