//! Between the wire and the state machine: dhcproto messages to [`Message`],
//! [`Outgoing`] to dhcproto messages. Nothing here decides anything; a packet
//! that does not parse, or is not an Advertise or Reply, is an error the edge
//! counts and drops.

use std::net::Ipv6Addr;

use dhcproto::v6::{self, DhcpOption, DhcpOptions, IAPD, IAPrefix, MessageType, ORO, OptionCode};
use dhcproto::{Decodable, Encodable};
use thiserror::Error;

use crate::advertise::StatusCode;
use crate::client::{Delegated, IaPd, Message, Outgoing, Received};
use crate::lifetimes::{IaTimes, PrefixLifetimes};
use crate::retransmit::MessageKind;

/// Why a packet was not handed to the client.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CodecError {
    /// dhcproto could not parse it.
    #[error("malformed DHCPv6 message: {0}")]
    Malformed(String),
    /// A message a client never acts on (Solicit, Reconfigure, relay...).
    #[error("not for a client: {0:?}")]
    NotForClient(MessageType),
    /// Encoding failed (only with absurd sizes).
    #[error("cannot encode: {0}")]
    Encode(String),
}

impl CodecError {
    /// A Reconfigure: never acted on, since RFC 8415 §18.2.11 accepts one
    /// only with Reconfigure Key authentication, which this client does not
    /// negotiate.
    pub fn is_reconfigure(&self) -> bool {
        matches!(self, CodecError::NotForClient(MessageType::Reconfigure))
    }
}

fn status(s: &v6::StatusCode) -> StatusCode {
    StatusCode::from_u16(u16::from(s.status))
}

fn status_in(opts: &DhcpOptions) -> Option<StatusCode> {
    opts.iter().find_map(|o| match o {
        DhcpOption::StatusCode(s) => Some(status(s)),
        _ => None,
    })
}

fn ia_pd(ia: &IAPD) -> IaPd {
    IaPd {
        iaid: ia.id,
        times: IaTimes {
            t1: ia.t1,
            t2: ia.t2,
        },
        prefixes: ia
            .opts
            .iter()
            .filter_map(|o| match o {
                DhcpOption::IAPrefix(p) => Some(Delegated {
                    prefix: p.prefix_ip,
                    len: p.prefix_len,
                    lifetimes: PrefixLifetimes {
                        preferred: p.preferred_lifetime,
                        valid: p.valid_lifetime,
                    },
                }),
                _ => None,
            })
            .collect(),
        status: status_in(&ia.opts),
    }
}

/// Whether every option's length fits the message and the option's fixed
/// fields. dhcproto 0.15 subtracts a fixed size from the length for some
/// options (Status Code, Vendor Class, Vendor Options, Authentication) and
/// overflows on shorter ones (a panic with overflow checks, a wild read
/// without), and reads fixed-size options (Preference, Elapsed Time, Rapid
/// Commit...) field by field without skipping the rest of their length,
/// which desynchronises it: such packets never reach it. Relay messages are refused (a
/// client never gets one), and nesting is bounded.
fn options_fit(mut b: &[u8], depth: u8) -> bool {
    if depth > 4 {
        return false;
    }
    while !b.is_empty() {
        let Some((head, rest)) = b.split_first_chunk::<4>() else {
            return false;
        };
        let code = u16::from_be_bytes([head[0], head[1]]);
        let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
        if rest.len() < len {
            return false;
        }
        let (body, next) = rest.split_at(len);
        // (minimum length, exact length?, offset of nested options)
        let (min, exact, nested) = match code {
            3 | 25 => (12, false, Some(12)), // IA_NA, IA_PD
            4 => (4, false, Some(4)),        // IA_TA
            5 => (24, false, Some(24)),      // IA Address
            26 => (25, false, Some(25)),     // IA Prefix
            7 => (1, true, None),            // Preference
            8 => (2, true, None),            // Elapsed Time
            9 => return false,               // Relay Message
            11 => (11, false, None),         // Authentication
            12 => (16, true, None),          // Server Unicast
            13 => (2, false, None),          // Status Code
            14 | 20 => (0, true, None),      // Rapid Commit, Reconfigure Accept
            16 => (4, false, None),          // Vendor Class
            17 => (4, false, Some(4)),       // Vendor Options (dhcproto parses them as options)
            19 => (1, true, None),           // Reconfigure Message
            _ => (0, false, None),
        };
        if body.len() < min || (exact && body.len() != min) {
            return false;
        }
        if let Some(at) = nested
            && !options_fit(&body[at..], depth + 1)
        {
            return false;
        }
        b = next;
    }
    true
}

/// Whether every option of a whole DHCPv6 message (message type, transaction
/// id, options) fits the message and the option's fixed fields, nested
/// options included: the check [`decode`] makes before dhcproto sees a
/// packet, for the other side (routerd's stateless server) to make too.
/// Relay Message options are refused, as above.
pub fn message_options_fit(bytes: &[u8]) -> bool {
    bytes.len() >= 4 && options_fit(&bytes[4..], 0)
}

/// Parses a packet received on the client port; `duid` is ours, `iaid` the
/// IA_PD we asked for.
pub fn decode(bytes: &[u8], duid: &[u8], iaid: u32) -> Result<Message, CodecError> {
    let Some((&kind, rest)) = bytes.split_first() else {
        return Err(CodecError::Malformed("empty".into()));
    };
    let kind = MessageType::from(kind);
    if !matches!(kind, MessageType::Advertise | MessageType::Reply) {
        return Err(CodecError::NotForClient(kind));
    }
    if rest.len() < 3 || !options_fit(&rest[3..], 0) {
        return Err(CodecError::Malformed(
            "an option's length does not fit the message or the option".into(),
        ));
    }
    let m = v6::Message::from_bytes(bytes).map_err(|e| CodecError::Malformed(e.to_string()))?;
    let kind = match m.msg_type() {
        MessageType::Advertise => Received::Advertise,
        MessageType::Reply => Received::Reply,
        other => return Err(CodecError::NotForClient(other)),
    };
    let opts = m.opts();
    let client_id_ok = opts
        .iter()
        .any(|o| matches!(o, DhcpOption::ClientId(id) if id == duid));
    let server_id = opts.iter().find_map(|o| match o {
        DhcpOption::ServerId(id) => Some(id.clone()),
        _ => None,
    });
    let preference = opts
        .iter()
        .find_map(|o| match o {
            DhcpOption::Preference(p) => Some(*p),
            _ => None,
        })
        .unwrap_or(0);
    let rapid_commit = opts.iter().any(|o| matches!(o, DhcpOption::RapidCommit));
    let pds: Vec<IaPd> = opts
        .iter()
        .filter_map(|o| match o {
            DhcpOption::IAPD(ia) => Some(ia_pd(ia)),
            _ => None,
        })
        .collect();
    let ia_pd = pds
        .iter()
        .find(|ia| ia.iaid == iaid)
        .or(pds.first())
        .cloned();
    let sol_max_rt = opts.iter().find_map(|o| match o {
        DhcpOption::Unknown(u) if u.code() == OptionCode::SolMaxRt => {
            <[u8; 4]>::try_from(u.data()).ok().map(u32::from_be_bytes)
        }
        _ => None,
    });
    Ok(Message {
        kind,
        xid: m.xid(),
        server_id,
        client_id_ok,
        preference,
        rapid_commit,
        status: status_in(opts),
        ia_pd,
        sol_max_rt,
        info: info_options(opts),
    })
}

fn unknown_u32(opts: &DhcpOptions, code: OptionCode) -> Option<u32> {
    opts.iter().find_map(|o| match o {
        DhcpOption::Unknown(u) if u.code() == code => {
            <[u8; 4]>::try_from(u.data()).ok().map(u32::from_be_bytes)
        }
        _ => None,
    })
}

/// A domain name in DNS wire format without compression (RFC 6334's AFTR
/// name): length-prefixed labels ending in a zero byte. Only letters,
/// digits, hyphens and underscores are accepted in labels.
pub fn wire_name(mut b: &[u8]) -> Option<String> {
    let mut labels: Vec<String> = Vec::new();
    let mut total = 0usize;
    loop {
        let (&len, rest) = b.split_first()?;
        if len == 0 {
            break;
        }
        let len = usize::from(len);
        if len > 63 || rest.len() < len {
            return None;
        }
        let label = &rest[..len];
        if !label
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'_')
        {
            return None;
        }
        total += len + 1;
        if total > 254 {
            return None;
        }
        labels.push(String::from_utf8_lossy(label).to_ascii_lowercase());
        b = &rest[len..];
    }
    (!labels.is_empty()).then(|| labels.join("."))
}

fn info_options(opts: &DhcpOptions) -> crate::info::InfoOptions {
    let mut info = crate::info::InfoOptions::default();
    for o in opts.iter() {
        match o {
            DhcpOption::DomainNameServers(ips) => info.dns_servers.extend(ips),
            DhcpOption::DomainSearchList(names) => info.domains.extend(
                names
                    .iter()
                    .map(|n| n.to_ascii().trim_end_matches('.').to_ascii_lowercase())
                    .filter(|n| !n.is_empty()),
            ),
            DhcpOption::Unknown(u) if u.code() == OptionCode::SntpServers => {
                info.sntp_servers.extend(
                    u.data()
                        .chunks_exact(16)
                        .filter_map(|c| <[u8; 16]>::try_from(c).ok())
                        .map(Ipv6Addr::from),
                );
            }
            DhcpOption::Unknown(u) if u.code() == OptionCode::AftrName => {
                info.aftr_name = wire_name(u.data());
            }
            _ => {}
        }
    }
    info.refresh_secs = unknown_u32(opts, OptionCode::InformationRefreshTime);
    info.inf_max_rt = unknown_u32(opts, OptionCode::InfMaxRt);
    info
}

/// Encodes a message the client sends, with our `duid`.
pub fn encode(out: &Outgoing, duid: &[u8]) -> Result<Vec<u8>, CodecError> {
    let msg_type = match out.kind {
        MessageKind::Solicit => MessageType::Solicit,
        MessageKind::Request => MessageType::Request,
        MessageKind::Renew => MessageType::Renew,
        MessageKind::Rebind => MessageType::Rebind,
        MessageKind::Release => MessageType::Release,
        MessageKind::InformationRequest => MessageType::InformationRequest,
    };
    let mut m = v6::Message::new_with_id(msg_type, out.xid);
    let opts = m.opts_mut();
    opts.insert(DhcpOption::ClientId(duid.to_vec()));
    if let Some(id) = &out.server_id {
        opts.insert(DhcpOption::ServerId(id.clone()));
    }
    opts.insert(DhcpOption::ElapsedTime(out.elapsed_cs));
    if out.kind != MessageKind::Release {
        opts.insert(DhcpOption::ORO(ORO {
            opts: if out.kind == MessageKind::InformationRequest {
                vec![
                    OptionCode::DomainNameServers,
                    OptionCode::DomainSearchList,
                    OptionCode::SntpServers,
                    OptionCode::AftrName,
                    OptionCode::InformationRefreshTime,
                    OptionCode::InfMaxRt,
                ]
            } else {
                vec![
                    OptionCode::DomainNameServers,
                    OptionCode::DomainSearchList,
                    OptionCode::SolMaxRt,
                ]
            },
        }));
    }
    if out.rapid_commit {
        opts.insert(DhcpOption::RapidCommit);
    }
    let mut ia_opts = DhcpOptions::new();
    for p in &out.prefixes {
        ia_opts.insert(DhcpOption::IAPrefix(IAPrefix {
            // The client's lifetimes are hints; 0 leaves them to the server.
            preferred_lifetime: 0,
            valid_lifetime: 0,
            prefix_len: p.len,
            prefix_ip: p.prefix,
            opts: DhcpOptions::new(),
        }));
    }
    if out.prefixes.is_empty()
        && let Some(len) = out.prefix_hint
    {
        ia_opts.insert(DhcpOption::IAPrefix(IAPrefix {
            preferred_lifetime: 0,
            valid_lifetime: 0,
            prefix_len: len,
            prefix_ip: Ipv6Addr::UNSPECIFIED,
            opts: DhcpOptions::new(),
        }));
    }
    // T1/T2 0: the server decides (§21.21). Information-request holds no IA.
    if out.kind != MessageKind::InformationRequest {
        opts.insert(DhcpOption::IAPD(IAPD {
            id: out.iaid,
            t1: 0,
            t2: 0,
            opts: ia_opts,
        }));
    }
    m.to_vec().map_err(|e| CodecError::Encode(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DUID: &[u8] = &[0, 3, 0, 1, 2, 0, 0, 0, 0, 1];
    const SERVER: &[u8] = &[0, 2, 0, 0, 9, 1];

    fn reply(xid: [u8; 3], with: impl FnOnce(&mut DhcpOptions)) -> Vec<u8> {
        let mut m = v6::Message::new_with_id(MessageType::Reply, xid);
        let opts = m.opts_mut();
        opts.insert(DhcpOption::ClientId(DUID.to_vec()));
        opts.insert(DhcpOption::ServerId(SERVER.to_vec()));
        with(opts);
        m.to_vec().expect("encodes")
    }

    #[test]
    fn a_reply_with_a_delegated_prefix_is_read_back() {
        let bytes = reply([1, 2, 3], |opts| {
            let mut ia = DhcpOptions::new();
            ia.insert(DhcpOption::IAPrefix(IAPrefix {
                preferred_lifetime: 200,
                valid_lifetime: 300,
                prefix_len: 56,
                prefix_ip: "fd00:99:100:100::".parse().expect("ip"),
                opts: DhcpOptions::new(),
            }));
            opts.insert(DhcpOption::IAPD(IAPD {
                id: 7,
                t1: 100,
                t2: 160,
                opts: ia,
            }));
            opts.insert(DhcpOption::Preference(20));
            opts.insert(DhcpOption::Unknown(v6::UnknownOption::new(
                OptionCode::SolMaxRt,
                120u32.to_be_bytes().to_vec(),
            )));
        });
        let m = decode(&bytes, DUID, 7).expect("decodes");
        assert_eq!(m.kind, Received::Reply);
        assert_eq!(m.xid, [1, 2, 3]);
        assert!(m.client_id_ok);
        assert_eq!(m.server_id.as_deref(), Some(SERVER));
        assert_eq!(m.preference, 20);
        assert_eq!(m.sol_max_rt, Some(120));
        let ia = m.ia_pd.expect("IA_PD");
        assert_eq!((ia.iaid, ia.times.t1, ia.times.t2), (7, 100, 160));
        assert_eq!(ia.prefixes.len(), 1);
        assert_eq!(ia.prefixes[0].len, 56);
        assert_eq!(ia.prefixes[0].lifetimes.valid, 300);
    }

    #[test]
    fn a_reconfigure_is_never_handed_to_the_client() {
        let mut m = v6::Message::new_with_id(MessageType::Reconfigure, [9, 9, 9]);
        m.opts_mut().insert(DhcpOption::ClientId(DUID.to_vec()));
        m.opts_mut().insert(DhcpOption::ServerId(SERVER.to_vec()));
        let e = decode(&m.to_vec().expect("encodes"), DUID, 7).expect_err("refused");
        assert!(e.is_reconfigure(), "{e}");
        let solicit = v6::Message::new_with_id(MessageType::Solicit, [1, 1, 1]);
        let e = decode(&solicit.to_vec().expect("encodes"), DUID, 7).expect_err("refused");
        assert!(!e.is_reconfigure());
    }

    #[test]
    fn status_codes_at_both_levels_and_a_foreign_client_id_are_reported() {
        let bytes = reply([0, 0, 1], |opts| {
            opts.insert(DhcpOption::StatusCode(v6::StatusCode {
                status: v6::Status::UnspecFail,
                msg: "busy".into(),
            }));
            let mut ia = DhcpOptions::new();
            ia.insert(DhcpOption::StatusCode(v6::StatusCode {
                status: v6::Status::NoPrefixAvail,
                msg: String::new(),
            }));
            opts.insert(DhcpOption::IAPD(IAPD {
                id: 7,
                t1: 0,
                t2: 0,
                opts: ia,
            }));
        });
        let m = decode(&bytes, DUID, 7).expect("decodes");
        assert_eq!(m.status, Some(StatusCode::UnspecFail));
        assert_eq!(
            m.ia_pd.and_then(|ia| ia.status),
            Some(StatusCode::NoPrefixAvail)
        );
        let other = decode(&bytes, &[0, 3, 9, 9], 7).expect("decodes");
        assert!(!other.client_id_ok);
    }

    #[test]
    fn what_the_client_sends_carries_ids_hint_and_prefixes() {
        let solicit = Outgoing {
            kind: MessageKind::Solicit,
            xid: [4, 5, 6],
            server_id: None,
            iaid: 7,
            prefixes: Vec::new(),
            prefix_hint: Some(56),
            rapid_commit: true,
            elapsed_cs: 0,
        };
        let bytes = encode(&solicit, DUID).expect("encodes");
        let m = v6::Message::from_bytes(&bytes).expect("decodes");
        assert_eq!(m.msg_type(), MessageType::Solicit);
        assert_eq!(m.xid(), [4, 5, 6]);
        let opts = m.opts();
        assert!(
            opts.iter()
                .any(|o| matches!(o, DhcpOption::ClientId(id) if id == DUID))
        );
        assert!(opts.iter().any(|o| matches!(o, DhcpOption::RapidCommit)));
        assert!(!opts.iter().any(|o| matches!(o, DhcpOption::ServerId(_))));
        let hint = opts.iter().find_map(|o| match o {
            DhcpOption::IAPD(ia) => ia.opts.iter().find_map(|p| match p {
                DhcpOption::IAPrefix(p) => Some(p.prefix_len),
                _ => None,
            }),
            _ => None,
        });
        assert_eq!(hint, Some(56));

        let renew = Outgoing {
            kind: MessageKind::Renew,
            server_id: Some(SERVER.to_vec()),
            prefixes: vec![Delegated {
                prefix: "fd00:99:100:100::".parse().expect("ip"),
                len: 56,
                lifetimes: PrefixLifetimes {
                    preferred: 200,
                    valid: 300,
                },
            }],
            prefix_hint: None,
            rapid_commit: false,
            ..solicit
        };
        let m = v6::Message::from_bytes(&encode(&renew, DUID).expect("encodes")).expect("decodes");
        assert_eq!(m.msg_type(), MessageType::Renew);
        assert!(
            m.opts()
                .iter()
                .any(|o| matches!(o, DhcpOption::ServerId(id) if id == SERVER))
        );
    }

    #[test]
    fn configuration_options_are_read_from_a_reply() {
        let bytes = reply([3, 3, 3], |opts| {
            opts.insert(DhcpOption::DomainNameServers(vec![
                "fd00:99::53".parse().expect("ip"),
            ]));
            opts.insert(DhcpOption::DomainSearchList(vec![
                "Lab.Example.".parse().expect("name"),
            ]));
            let aftr = [4u8, b'a', b'f', b't', b'r', 3, b'l', b'a', b'b', 0];
            opts.insert(DhcpOption::Unknown(v6::UnknownOption::new(
                OptionCode::AftrName,
                aftr.to_vec(),
            )));
            opts.insert(DhcpOption::Unknown(v6::UnknownOption::new(
                OptionCode::InformationRefreshTime,
                900u32.to_be_bytes().to_vec(),
            )));
            let sntp: Ipv6Addr = "fd00:99::123".parse().expect("ip");
            opts.insert(DhcpOption::Unknown(v6::UnknownOption::new(
                OptionCode::SntpServers,
                sntp.octets().to_vec(),
            )));
        });
        let m = decode(&bytes, DUID, 7).expect("decodes");
        assert_eq!(
            m.info.dns_servers,
            vec!["fd00:99::53".parse::<Ipv6Addr>().expect("ip")]
        );
        assert_eq!(m.info.domains, vec!["lab.example".to_string()]);
        assert_eq!(m.info.aftr_name.as_deref(), Some("aftr.lab"));
        assert_eq!(m.info.refresh_secs, Some(900));
        assert_eq!(m.info.sntp_servers.len(), 1);
        // Hostile AFTR names are dropped, not trusted.
        for bad in [
            &[][..],
            &[5, b'a', 0],
            &[1, b'.', 0],
            &[64; 70],
            &[3, b'a', b'b', b'c'],
        ] {
            assert_eq!(wire_name(bad), None, "{bad:?}");
        }
        let ir = Outgoing {
            kind: MessageKind::InformationRequest,
            xid: [1, 1, 1],
            server_id: None,
            iaid: 0,
            prefixes: Vec::new(),
            prefix_hint: None,
            rapid_commit: false,
            elapsed_cs: 0,
        };
        let m = v6::Message::from_bytes(&encode(&ir, DUID).expect("encodes")).expect("decodes");
        assert_eq!(m.msg_type(), MessageType::InformationRequest);
        assert!(!m.opts().iter().any(|o| matches!(o, DhcpOption::IAPD(_))));
    }

    #[test]
    fn garbage_and_server_side_messages_are_errors_not_panics() {
        assert!(matches!(
            decode(&[], DUID, 7),
            Err(CodecError::Malformed(_))
        ));
        assert!(decode(&[7, 1, 2], DUID, 7).is_err());
        let mut m = v6::Message::new_with_id(MessageType::Solicit, [1, 1, 1]);
        m.opts_mut().insert(DhcpOption::ClientId(DUID.to_vec()));
        let bytes = m.to_vec().expect("encodes");
        assert!(matches!(
            decode(&bytes, DUID, 7),
            Err(CodecError::NotForClient(MessageType::Solicit))
        ));
        // Found by the fuzzer: options shorter than their fixed fields made
        // dhcproto subtract past zero. Refused before dhcproto sees them.
        for (code, len) in [
            (13u16, 1u16),
            (16, 3),
            (17, 0),
            (11, 10),
            (25, 11),
            (7, 2),
            (14, 4),
        ] {
            let mut bytes = vec![7, 0, 0, 1];
            bytes.extend(code.to_be_bytes());
            bytes.extend(len.to_be_bytes());
            bytes.extend(std::iter::repeat_n(0u8, usize::from(len)));
            assert!(
                matches!(decode(&bytes, DUID, 7), Err(CodecError::Malformed(_))),
                "option {code} of length {len}"
            );
        }
        // The same, nested in Vendor Options (which dhcproto parses as
        // options): a Reply whose Vendor Options hold a Vendor Options of
        // length 0.
        let nested = [7u8, 0, 1, 0, 0, 17, 0, 8, 0, 0, 0, 0, 0, 17, 0, 0];
        assert!(matches!(
            decode(&nested, DUID, 7),
            Err(CodecError::Malformed(_))
        ));
        // Every truncation of a valid Reply: an error or a message, never a panic.
        let full = reply([9, 9, 9], |_| {});
        for n in 0..full.len() {
            let _ = decode(&full[..n], DUID, 7);
        }
    }
}
