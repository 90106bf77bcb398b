//! The codec: replies read back from bytes, requests checked against
//! RFC 2131 Table 5, and hostile input that must never panic.

use std::net::Ipv4Addr;

use dhcproto::Decodable;
use dhcproto::v4::{self, DhcpOption, MessageType, OptionCode};

use super::*;
use crate::message::Destination;
use crate::routes::Route;

const MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];

fn ip(s: &str) -> Ipv4Addr {
    s.parse().expect("address")
}

fn identity() -> Identity {
    Identity {
        mac: MAC,
        client_id: Identity::default_client_id(MAC),
        hostname: Some("edge1".into()),
        class_id: Some(b"routerd".to_vec()),
    }
}

fn ack() -> Reply {
    Reply {
        kind: ReplyKind::Ack,
        xid: 0x1234_5678,
        chaddr: MAC.to_vec(),
        yiaddr: ip("192.0.2.10"),
        server_id: Some(ip("192.0.2.1")),
        client_id: Some(Identity::default_client_id(MAC)),
        times: LeaseTimes {
            lease: Some(120),
            t1: Some(10),
            t2: Some(20),
        },
        options: LeaseOptions {
            prefix_len: Some(24),
            routers: vec![ip("192.0.2.1")],
            dns_servers: vec![ip("192.0.2.53"), ip("192.0.2.54")],
            domain: Some("lab.example".into()),
            mtu: Some(1492),
            routes: Some(vec![
                Route {
                    destination: "10.0.0.0/8".parse().expect("net"),
                    gateway: ip("192.0.2.1"),
                },
                Route {
                    destination: "198.51.100.0/24".parse().expect("net"),
                    gateway: ip("0.0.0.0"),
                },
            ]),
        },
        routes_refused: false,
        message: None,
    }
}

/// A BOOTREPLY header (xid 1, chaddr MAC) followed by raw option bytes.
fn raw(options: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; HEADER_LEN];
    b[0] = 2;
    b[1] = 1;
    b[2] = 6;
    b[4..8].copy_from_slice(&1u32.to_be_bytes());
    b[16..20].copy_from_slice(&[192, 0, 2, 10]);
    b[28..34].copy_from_slice(&MAC);
    b[236..240].copy_from_slice(&MAGIC);
    b.extend_from_slice(options);
    b
}

#[test]
fn an_ack_with_every_option_is_read_back() {
    let bytes = encode_reply(&ack()).expect("encodes");
    assert_eq!(decode(&bytes), Ok(ack()));
}

#[test]
fn a_nak_with_a_message_and_an_offer_are_read() {
    let nak = Reply {
        kind: ReplyKind::Nak,
        yiaddr: Ipv4Addr::UNSPECIFIED,
        times: LeaseTimes::default(),
        options: LeaseOptions::default(),
        message: Some("wrong network".into()),
        ..ack()
    };
    let back = decode(&encode_reply(&nak).expect("encodes")).expect("decodes");
    assert_eq!(back.kind, ReplyKind::Nak);
    assert_eq!(back.message.as_deref(), Some("wrong network"));
    let offer = Reply {
        kind: ReplyKind::Offer,
        ..ack()
    };
    assert_eq!(
        decode(&encode_reply(&offer).expect("encodes")).map(|r| r.kind),
        Ok(ReplyKind::Offer)
    );
}

fn sent(out: &Outgoing) -> v4::Message {
    let bytes = encode(out, &identity()).expect("encodes");
    assert!(bytes.len() >= MIN_LEN, "padded to the BOOTP minimum");
    v4::Message::from_bytes(&bytes).expect("dhcproto reads it")
}

fn out(kind: MessageKind) -> Outgoing {
    Outgoing {
        kind,
        to: Destination::Broadcast,
        xid: 7,
        secs: 3,
        ciaddr: Ipv4Addr::UNSPECIFIED,
        requested: None,
        server_id: None,
        broadcast_flag: false,
    }
}

#[test]
fn discover_and_requests_carry_what_table_5_asks() {
    let discover = sent(&Outgoing {
        requested: Some(ip("192.0.2.10")),
        broadcast_flag: true,
        ..out(MessageKind::Discover)
    });
    assert_eq!(discover.opcode(), Opcode::BootRequest);
    assert_eq!(discover.xid(), 7);
    assert_eq!(discover.secs(), 3);
    assert!(discover.flags().broadcast());
    assert_eq!(discover.chaddr(), &MAC);
    let o = discover.opts();
    assert_eq!(o.msg_type(), Some(MessageType::Discover));
    assert_eq!(
        o.get(OptionCode::ClientIdentifier),
        Some(&DhcpOption::ClientIdentifier(vec![1, 2, 0, 0, 0, 0, 1]))
    );
    assert_eq!(
        o.get(OptionCode::Hostname),
        Some(&DhcpOption::Hostname("edge1".into()))
    );
    assert_eq!(
        o.get(OptionCode::ClassIdentifier),
        Some(&DhcpOption::ClassIdentifier(b"routerd".to_vec()))
    );
    assert_eq!(
        o.get(OptionCode::RequestedIpAddress),
        Some(&DhcpOption::RequestedIpAddress(ip("192.0.2.10")))
    );
    assert!(o.get(OptionCode::ServerIdentifier).is_none());
    let Some(DhcpOption::ParameterRequestList(prl)) = o.get(OptionCode::ParameterRequestList)
    else {
        panic!("no parameter request list");
    };
    let prl: Vec<u8> = prl.iter().map(|c| u8::from(*c)).collect();
    assert_eq!(prl, PARAMETER_REQUEST_LIST);

    // Renewing: ciaddr set, neither 50 nor 54, no broadcast flag.
    let renew = sent(&Outgoing {
        to: Destination::Unicast(ip("192.0.2.1")),
        ciaddr: ip("192.0.2.10"),
        ..out(MessageKind::Request)
    });
    assert_eq!(renew.ciaddr(), ip("192.0.2.10"));
    assert!(!renew.flags().broadcast());
    assert!(renew.opts().get(OptionCode::RequestedIpAddress).is_none());
    assert!(renew.opts().get(OptionCode::ServerIdentifier).is_none());

    // RELEASE: server id and client id, nothing else.
    let release = sent(&Outgoing {
        ciaddr: ip("192.0.2.10"),
        server_id: Some(ip("192.0.2.1")),
        ..out(MessageKind::Release)
    });
    let codes: Vec<u8> = release.opts().iter().map(|(c, _)| u8::from(*c)).collect();
    assert_eq!(codes, vec![53, 54, 61]);
}

#[test]
fn options_dhcproto_cannot_read_do_not_hide_the_ones_after_them() {
    // A hostname that is not UTF-8 first: dhcproto stops reading there,
    // this codec still finds the lease time and server id after it.
    let opts = [
        53, 1, 5, 12, 2, 0xff, 0xfe, 51, 4, 0, 0, 0, 120, 54, 4, 192, 0, 2, 1, 255,
    ];
    let r = decode(&raw(&opts)).expect("decodes");
    assert_eq!(r.times.lease, Some(120));
    assert_eq!(r.server_id, Some(ip("192.0.2.1")));
    // Split options (RFC 3396) are joined: a DNS list in two pieces.
    let opts = [
        53, 1, 5, 6, 4, 192, 0, 2, 53, 1, 4, 255, 255, 255, 0, 6, 4, 192, 0, 2, 54, 255,
    ];
    let r = decode(&raw(&opts)).expect("decodes");
    assert_eq!(
        r.options.dns_servers,
        vec![ip("192.0.2.53"), ip("192.0.2.54")]
    );
    assert_eq!(r.options.prefix_len, Some(24));
}

#[test]
fn bad_option_values_are_dropped_or_refused() {
    // A malformed option 121 is ignored, and said so.
    let r = decode(&raw(&[53, 1, 5, 121, 3, 33, 10, 0, 255])).expect("decodes");
    assert_eq!(r.options.routes, None);
    assert!(r.routes_refused);
    // A non-contiguous mask, a tiny MTU, a domain with a space: dropped.
    let r = decode(&raw(&[
        53, 1, 5, 1, 4, 255, 0, 255, 0, 26, 2, 0, 10, 15, 3, b'a', b' ', b'b', 255,
    ]))
    .expect("decodes");
    assert_eq!(r.options.prefix_len, None);
    assert_eq!(r.options.mtu, None);
    assert_eq!(r.options.domain, None);
    // A server id or lease time of the wrong size: the reply is refused.
    for opts in [&[53u8, 1, 5, 54, 3, 1, 2, 3][..], &[53, 1, 5, 51, 2, 0, 1]] {
        assert!(matches!(decode(&raw(opts)), Err(CodecError::Malformed(_))));
    }
}

#[test]
fn requests_informs_and_bootp_are_not_for_a_client() {
    let mut request = raw(&[53, 1, 3, 255]);
    assert!(matches!(decode(&request), Err(CodecError::NotForClient(_))));
    request[0] = 1;
    assert!(matches!(decode(&request), Err(CodecError::NotForClient(_))));
    assert!(matches!(
        decode(&raw(&[255])),
        Err(CodecError::NotForClient(_))
    ));
}

#[test]
fn hostile_packets_are_errors_not_panics() {
    // Each of these made dhcproto 0.15 panic (hlen past chaddr; lengths it
    // subtracts from or asserts on), or would have.
    let mut hlen = raw(&[53, 1, 5, 255]);
    hlen[2] = 200;
    assert!(matches!(decode(&hlen), Err(CodecError::Malformed(_))));
    for opts in [
        &[53u8, 1, 5, 81, 2, 0, 0][..], // Client FQDN shorter than 3
        &[53, 1, 5, 80, 1, 0],          // Rapid Commit with a body
        &[53, 1, 5, 94, 2, 1, 2],       // Client Network Interface != 3
        &[53, 1, 5, 94, 3, 1, 2, 3, 94, 3, 1, 2, 3], // two joined: 6
        &[53, 1, 5, 151, 0],            // bulk leasequery status, empty
        &[53, 1, 5, 152, 3, 0, 0, 0],   // bulk leasequery time != 4
        &[53, 1, 5, 51, 200, 0],        // a length past the end
        &[53, 1, 5, 51],                // a code without a length
    ] {
        assert!(
            matches!(decode(&raw(opts)), Err(CodecError::Malformed(_))),
            "{opts:?}"
        );
    }
    // Every truncation of a full ACK, and garbage of every short size.
    let full = encode_reply(&ack()).expect("encodes");
    for n in 0..full.len() {
        let _ = decode(&full[..n]);
    }
    let mut x: u32 = 0x9e37_79b9;
    for n in 0..600 {
        let garbage: Vec<u8> = (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x.to_le_bytes()[0]
            })
            .collect();
        let _ = decode(&garbage);
        // The same garbage as the option area of a plausible reply.
        let _ = decode(&raw(&garbage));
    }
    // Option lengths at their maximum, over and over: once with every
    // code, once without the ones refused early, so dhcproto reads them.
    for skip in [false, true] {
        let mut huge = vec![53, 1, 5];
        for code in 1..=254u8 {
            if skip && matches!(code, 53 | 80 | 81 | 94 | 151..=155) {
                continue;
            }
            huge.push(code);
            huge.push(255);
            huge.extend(std::iter::repeat_n(0xffu8, 255));
        }
        let _ = decode(&raw(&huge));
    }
}

#[test]
fn masks_and_prefix_lengths_convert_both_ways() {
    for len in 1..=32u8 {
        assert_eq!(mask_len(len_mask(len)), Some(len));
    }
    assert_eq!(mask_len(ip("0.0.0.0")), None);
    assert_eq!(mask_len(ip("255.0.255.0")), None);
}
