//! The stateless server against messages built by dhcproto, and hostile
//! input.

use std::net::Ipv6Addr;
use std::sync::Arc;
use std::time::Duration;

use dhcproto::v6::{self, DhcpOption, DhcpOptions, IANA, IAPD, MessageType, ORO, OptionCode};
use dhcproto::{Decodable, Encodable};

use super::*;

const SERVER: &[u8] = &[0, 3, 0, 1, 2, 0, 0, 0, 0, 0x53];
const CLIENT: &[u8] = &[0, 3, 0, 1, 2, 0, 0, 0, 0, 0x99];

fn ip(s: &str) -> Ipv6Addr {
    s.parse().expect("literal address")
}

fn config() -> StatelessConfig {
    StatelessConfig {
        server_duid: SERVER.to_vec(),
        dns_servers: vec![ip("fd00:99:1::53"), ip("fd00:99:1::54")],
        domains: vec!["Lab.Example.".into(), "corp.example".into()],
        sntp_servers: vec![ip("fd00:99:1::123")],
        info_refresh: Some(Duration::from_secs(3600)),
    }
}

fn server() -> StatelessServer {
    StatelessServer::new(config(), Arc::new(ServerStats::default())).expect("valid")
}

fn all_options() -> Vec<OptionCode> {
    vec![
        OptionCode::DomainNameServers,
        OptionCode::DomainSearchList,
        OptionCode::SntpServers,
        OptionCode::InformationRefreshTime,
    ]
}

fn message(kind: MessageType, with: impl FnOnce(&mut DhcpOptions)) -> Vec<u8> {
    let mut m = v6::Message::new_with_id(kind, [1, 2, 3]);
    with(m.opts_mut());
    m.to_vec().expect("encodes")
}

fn inform(oro: Vec<OptionCode>) -> Vec<u8> {
    message(MessageType::InformationRequest, |o| {
        o.insert(DhcpOption::ClientId(CLIENT.to_vec()));
        o.insert(DhcpOption::ElapsedTime(0));
        o.insert(DhcpOption::ORO(ORO { opts: oro }));
    })
}

fn reply(out: Outcome) -> v6::Message {
    match out {
        Outcome::Reply(b) => v6::Message::from_bytes(&b).expect("our reply parses"),
        other => panic!("expected a Reply, got {other:?}"),
    }
}

fn unknown(m: &v6::Message, code: OptionCode) -> Option<Vec<u8>> {
    m.opts().iter().find_map(|o| match o {
        DhcpOption::Unknown(u) if u.code() == code => Some(u.data().to_vec()),
        _ => None,
    })
}

#[test]
fn an_information_request_gets_what_it_asked_for() {
    let s = server();
    let m = reply(s.handle(&inform(all_options()), true));
    assert_eq!(m.msg_type(), MessageType::Reply);
    assert_eq!(m.xid(), [1, 2, 3]);
    let opts = m.opts();
    assert!(
        opts.iter()
            .any(|o| matches!(o, DhcpOption::ServerId(id) if id == SERVER))
    );
    assert!(
        opts.iter()
            .any(|o| matches!(o, DhcpOption::ClientId(id) if id == CLIENT))
    );
    let dns = opts.iter().find_map(|o| match o {
        DhcpOption::DomainNameServers(a) => Some(a.clone()),
        _ => None,
    });
    assert_eq!(dns, Some(vec![ip("fd00:99:1::53"), ip("fd00:99:1::54")]));
    let domains: Vec<String> = opts
        .iter()
        .find_map(|o| match o {
            DhcpOption::DomainSearchList(n) => Some(n.iter().map(|n| n.to_ascii()).collect()),
            _ => None,
        })
        .unwrap_or_default();
    assert_eq!(domains, vec!["lab.example.", "corp.example."]);
    assert_eq!(
        unknown(&m, OptionCode::SntpServers),
        Some(ip("fd00:99:1::123").octets().to_vec())
    );
    assert_eq!(
        unknown(&m, OptionCode::InformationRefreshTime),
        Some(3600u32.to_be_bytes().to_vec())
    );
    // The same through the client side of this repository's codec.
    let Outcome::Reply(bytes) = s.handle(&inform(all_options()), true) else {
        panic!("a reply");
    };
    let seen = routerd_dhcpv6_core::codec::decode(&bytes, CLIENT, 0).expect("client reads it");
    assert!(seen.client_id_ok);
    assert_eq!(seen.server_id.as_deref(), Some(SERVER));
    assert_eq!(seen.info.dns_servers.len(), 2);
    assert_eq!(seen.info.domains, vec!["lab.example", "corp.example"]);
    assert_eq!(seen.info.sntp_servers, vec![ip("fd00:99:1::123")]);
    assert_eq!(seen.info.refresh_secs, Some(3600));
    assert_eq!(s.stats().snapshot().replies, 2);
}

#[test]
fn the_domain_search_list_is_not_compressed_rfc_8415_10() {
    let s = server();
    let Outcome::Reply(b) = s.handle(&inform(all_options()), true) else {
        panic!("a reply");
    };
    let wire = b"\x03lab\x07example\x00\x04corp\x07example\x00";
    assert!(b.windows(wire.len()).any(|w| w == wire));
}

#[test]
fn only_requested_and_configured_options_are_sent() {
    let s = server();
    let m = reply(s.handle(&inform(vec![OptionCode::DomainNameServers]), true));
    let codes: Vec<OptionCode> = m.opts().iter().map(OptionCode::from).collect();
    assert_eq!(
        codes,
        vec![
            OptionCode::ClientId,
            OptionCode::ServerId,
            OptionCode::DomainNameServers
        ]
    );
    // No ORO: the mandatory options only.
    let bare = message(MessageType::InformationRequest, |_| {});
    let m = reply(s.handle(&bare, true));
    let codes: Vec<OptionCode> = m.opts().iter().map(OptionCode::from).collect();
    assert_eq!(
        codes,
        vec![OptionCode::ServerId],
        "no Client Identifier to echo"
    );
    // Asked for, but not configured: left out.
    let mut c = config();
    c.sntp_servers.clear();
    c.info_refresh = None;
    let s = StatelessServer::new(c, Arc::new(ServerStats::default())).expect("valid");
    let m = reply(s.handle(&inform(all_options()), true));
    assert_eq!(unknown(&m, OptionCode::SntpServers), None);
    assert_eq!(unknown(&m, OptionCode::InformationRefreshTime), None);
}

#[test]
fn what_rfc_8415_16_says_to_discard_is_discarded() {
    let s = server();
    // Our own Server Identifier is fine; another's is not.
    let ours = message(MessageType::InformationRequest, |o| {
        o.insert(DhcpOption::ServerId(SERVER.to_vec()));
    });
    assert!(matches!(s.handle(&ours, true), Outcome::Reply(_)));
    let theirs = message(MessageType::InformationRequest, |o| {
        o.insert(DhcpOption::ServerId(vec![0, 3, 0, 1, 9, 9, 9, 9, 9, 9]));
    });
    assert_eq!(
        s.handle(&theirs, true),
        Outcome::Discard(Discard::ForeignServerId)
    );
    let with_ia = message(MessageType::InformationRequest, |o| {
        o.insert(DhcpOption::IANA(IANA {
            id: 1,
            t1: 0,
            t2: 0,
            opts: DhcpOptions::new(),
        }));
    });
    assert_eq!(
        s.handle(&with_ia, true),
        Outcome::Discard(Discard::IaInInformationRequest)
    );
    let with_pd = message(MessageType::InformationRequest, |o| {
        o.insert(DhcpOption::IAPD(IAPD {
            id: 1,
            t1: 0,
            t2: 0,
            opts: DhcpOptions::new(),
        }));
    });
    assert_eq!(
        s.handle(&with_pd, true),
        Outcome::Discard(Discard::IaInInformationRequest)
    );
    assert_eq!(
        s.handle(&inform(all_options()), false),
        Outcome::Discard(Discard::Unicast(MessageType::InformationRequest))
    );
    for kind in [
        MessageType::Request,
        MessageType::Renew,
        MessageType::Rebind,
        MessageType::Confirm,
        MessageType::Release,
        MessageType::Decline,
    ] {
        let m = message(kind, |o| o.insert(DhcpOption::ClientId(CLIENT.to_vec())));
        assert_eq!(
            s.handle(&m, true),
            Outcome::Discard(Discard::Stateful(kind))
        );
    }
    for kind in [
        MessageType::Advertise,
        MessageType::Reply,
        MessageType::Reconfigure,
    ] {
        let m = message(kind, |_| {});
        assert_eq!(
            s.handle(&m, true),
            Outcome::Discard(Discard::NotClientMessage(kind))
        );
    }
    assert_eq!(
        s.handle(&[12, 0, 0, 0], true),
        Outcome::Discard(Discard::Relayed)
    );
    let st = s.stats().snapshot();
    assert_eq!(st.ignored_stateful, 6);
    assert_eq!(st.discarded, 8);
    assert_eq!(st.replies, 1);
}

#[test]
fn a_solicit_gets_a_no_addrs_avail_advertise_rfc_8415_18_3_1() {
    let s = server();
    let solicit = message(MessageType::Solicit, |o| {
        o.insert(DhcpOption::ClientId(CLIENT.to_vec()));
        o.insert(DhcpOption::ElapsedTime(0));
        o.insert(DhcpOption::IANA(IANA {
            id: 1,
            t1: 0,
            t2: 0,
            opts: DhcpOptions::new(),
        }));
        o.insert(DhcpOption::ORO(ORO {
            opts: all_options(),
        }));
    });
    let Outcome::Advertise(b) = s.handle(&solicit, true) else {
        panic!("an Advertise");
    };
    let m = v6::Message::from_bytes(&b).expect("parses");
    assert_eq!(m.msg_type(), MessageType::Advertise);
    let codes: Vec<OptionCode> = m.opts().iter().map(OptionCode::from).collect();
    assert_eq!(
        codes,
        vec![
            OptionCode::ClientId,
            OptionCode::ServerId,
            OptionCode::StatusCode
        ],
        "only these three"
    );
    assert!(m.opts().iter().any(|o| matches!(
        o,
        DhcpOption::StatusCode(c) if c.status == v6::Status::NoAddrsAvail
    )));
    // §16.2: no Client Identifier, or a Server Identifier: discarded.
    let anonymous = message(MessageType::Solicit, |_| {});
    assert_eq!(
        s.handle(&anonymous, true),
        Outcome::Discard(Discard::NoClientId)
    );
    let targeted = message(MessageType::Solicit, |o| {
        o.insert(DhcpOption::ClientId(CLIENT.to_vec()));
        o.insert(DhcpOption::ServerId(SERVER.to_vec()));
    });
    assert_eq!(
        s.handle(&targeted, true),
        Outcome::Discard(Discard::ServerIdInSolicit)
    );
    assert_eq!(
        s.handle(&solicit, false),
        Outcome::Discard(Discard::Unicast(MessageType::Solicit))
    );
    assert_eq!(s.stats().snapshot().advertises, 1);
}

#[test]
fn configurations_are_checked() {
    let bad = |f: fn(&mut StatelessConfig)| {
        let mut c = config();
        f(&mut c);
        c.validated().expect_err("invalid")
    };
    assert_eq!(bad(|c| c.server_duid.clear()), ConfigError::Duid(0));
    assert_eq!(
        bad(|c| c.server_duid = vec![0; 131]),
        ConfigError::Duid(131)
    );
    assert_eq!(
        bad(|c| c.dns_servers = vec![Ipv6Addr::UNSPECIFIED]),
        ConfigError::DnsServer(Ipv6Addr::UNSPECIFIED)
    );
    assert!(matches!(
        bad(|c| c.sntp_servers = vec!["ff02::101".parse().expect("ip")]),
        ConfigError::SntpServer(_)
    ));
    assert!(matches!(
        bad(|c| c.domains = vec!["a b".into()]),
        ConfigError::Domain(_)
    ));
    assert!(matches!(
        bad(|c| c.info_refresh = Some(Duration::from_millis(10))),
        ConfigError::InfoRefresh(_)
    ));
    let mut s = server();
    let mut c = config();
    c.dns_servers = vec!["ff02::1".parse().expect("ip")];
    assert!(s.set_config(c).is_err());
    assert_eq!(s.config().dns_servers.len(), 2, "the old one stays");
    assert_eq!(s.config().domains[0], "lab.example");
}

#[test]
fn hostile_messages_are_dropped_without_panicking() {
    let s = server();
    // Found in dhcproto by the client's fuzzer: options shorter than their
    // fixed fields. Refused before dhcproto sees them.
    for (code, len) in [
        (13u16, 1u16),
        (16, 3),
        (17, 0),
        (11, 10),
        (3, 11),
        (25, 11),
        (7, 2),
        (8, 1),
        (14, 4),
    ] {
        let mut b = vec![11, 0, 0, 1];
        b.extend(code.to_be_bytes());
        b.extend(len.to_be_bytes());
        b.extend(std::iter::repeat_n(0u8, usize::from(len)));
        assert!(
            matches!(s.handle(&b, true), Outcome::Discard(Discard::Malformed(_))),
            "option {code} of length {len}"
        );
    }
    // Every truncation and single-octet change of a valid request.
    let full = inform(all_options());
    for n in 0..full.len() {
        let _ = s.handle(&full[..n], true);
    }
    for i in 0..full.len() {
        for v in [0u8, 1, 0x7f, 0x80, 0xff] {
            let mut m = full.clone();
            m[i] = v;
            let _ = s.handle(&m, true);
        }
    }
    // Random garbage behind an Information-request or Solicit header.
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for _ in 0..20_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let len = (x % 80) as usize;
        let mut b: Vec<u8> = (0..len)
            .map(|i| (x.rotate_left(i as u32 * 7) & 0xff) as u8)
            .collect();
        if let Some(first) = b.first_mut() {
            *first = if x & 1 == 0 { 11 } else { 1 };
        }
        let _ = s.handle(&b, true);
    }
    assert_eq!(
        s.handle(&[], true),
        Outcome::Discard(Discard::Malformed("empty".into()))
    );
}
