//! The OPEN message (RFC 4271 §4.2) with Capabilities (RFC 5492) and the
//! RFC 9072 extended optional parameters length, and its checks (§6.2).

use std::net::Ipv4Addr;

use thiserror::Error;

use super::capability::Capability;
use super::header;
use super::notification::{ErrorCode, Notification, OpenSubcode};
use super::reader::Reader;
use super::types::{AS_TRANS, AfiSafi, BGP_VERSION, MessageType};

/// Optional parameter type of Capabilities (RFC 5492 §4).
const PARAM_CAPABILITIES: u8 = 2;
/// RFC 9072 §2: the Non-Ext OP Type that announces the extended encoding.
const PARAM_EXTENDED_LENGTH: u8 = 255;

/// An OPEN message.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Open {
    /// BGP version (4).
    pub version: u8,
    /// My Autonomous System as on the wire: AS_TRANS when the real ASN needs
    /// four octets (RFC 6793 §4.1). [`Open::asn`] gives the real one.
    pub my_as: u16,
    /// Proposed Hold Time in seconds.
    pub hold_time: u16,
    /// BGP Identifier.
    pub bgp_id: Ipv4Addr,
    /// Capabilities, in the order received.
    pub capabilities: Vec<Capability>,
}

/// An OPEN the FSM must refuse, with the NOTIFICATION RFC 4271 §6.2 names.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum OpenError {
    /// Version other than 4.
    #[error("unsupported BGP version {0}")]
    UnsupportedVersion(u8),
    /// AS 0 (RFC 7607 §2) or not the AS configured for this peer.
    #[error("bad peer AS {0}")]
    BadPeerAs(u32),
    /// Identifier 0, or our own on an internal session (RFC 6286 §2.2).
    #[error("bad BGP identifier {0}")]
    BadBgpIdentifier(Ipv4Addr),
    /// An optional parameter other than Capabilities.
    #[error("unsupported optional parameter type {0}")]
    UnsupportedOptionalParameter(u8),
    /// Hold Time 1 or 2 seconds (RFC 4271 §6.2: MUST be rejected).
    #[error("unacceptable hold time {0}")]
    UnacceptableHoldTime(u16),
    /// A capability routerd knows with a value of the wrong shape.
    #[error("malformed capability {code}")]
    MalformedCapability {
        /// The capability code.
        code: u8,
    },
    /// The optional parameters do not fit the message.
    #[error("malformed OPEN: {0}")]
    Malformed(&'static str),
}

impl OpenError {
    /// The NOTIFICATION for this error (OPEN Message Error and its subcode).
    pub fn notification(&self) -> Notification {
        let code = |s| ErrorCode::Open(s);
        match self {
            // Data: the largest version we support, two octets (RFC 4271 §6.2).
            Self::UnsupportedVersion(_) => Notification::with_data(
                code(OpenSubcode::UnsupportedVersionNumber),
                u16::from(BGP_VERSION).to_be_bytes(),
            ),
            Self::BadPeerAs(_) => Notification::new(code(OpenSubcode::BadPeerAs)),
            Self::BadBgpIdentifier(_) => Notification::new(code(OpenSubcode::BadBgpIdentifier)),
            Self::UnsupportedOptionalParameter(_) => {
                Notification::new(code(OpenSubcode::UnsupportedOptionalParameter))
            }
            Self::UnacceptableHoldTime(_) => {
                Notification::new(code(OpenSubcode::UnacceptableHoldTime))
            }
            // A recognised but malformed optional parameter: subcode 0 (§6.2).
            Self::MalformedCapability { .. } | Self::Malformed(_) => {
                Notification::new(code(OpenSubcode::Unspecific))
            }
        }
    }
}

/// What the local side expects of a peer's OPEN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenCheck {
    /// Our ASN: a peer with the same ASN is internal.
    pub local_asn: u32,
    /// Our BGP Identifier.
    pub local_id: Ipv4Addr,
    /// The peer's configured ASN; `None` accepts any (dynamic neighbours
    /// check their range themselves).
    pub peer_asn: Option<u32>,
}

impl Open {
    /// An OPEN for `asn`: My AS is AS_TRANS when `asn` needs four octets, and
    /// the 4-octet AS capability is always included (RFC 6793 §4.1).
    pub fn new(
        asn: u32,
        hold_time: u16,
        bgp_id: Ipv4Addr,
        mut capabilities: Vec<Capability>,
    ) -> Self {
        if !capabilities
            .iter()
            .any(|c| matches!(c, Capability::FourOctetAs(_)))
        {
            capabilities.push(Capability::FourOctetAs(asn));
        }
        Open {
            version: BGP_VERSION,
            my_as: u16::try_from(asn).unwrap_or(AS_TRANS as u16),
            hold_time,
            bgp_id,
            capabilities,
        }
    }

    /// The sender's real ASN: from the 4-octet AS capability if present,
    /// else My AS (RFC 6793 §4.1).
    pub fn asn(&self) -> u32 {
        self.four_octet_as().unwrap_or(u32::from(self.my_as))
    }

    /// The 4-octet AS capability's ASN, if advertised.
    pub fn four_octet_as(&self) -> Option<u32> {
        self.capabilities.iter().find_map(|c| match c {
            Capability::FourOctetAs(a) => Some(*a),
            _ => None,
        })
    }

    /// Families advertised with the Multiprotocol capability.
    pub fn multiprotocol(&self) -> impl Iterator<Item = AfiSafi> + '_ {
        self.capabilities.iter().filter_map(|c| match c {
            Capability::Multiprotocol(f) => Some(*f),
            _ => None,
        })
    }

    /// True if a capability with this code was advertised.
    pub fn has_capability(&self, code: u8) -> bool {
        self.capabilities.iter().any(|c| c.code() == code)
    }

    /// Decodes an OPEN body (after the header).
    pub fn decode(body: &[u8]) -> Result<Self, OpenError> {
        let mut r = Reader::new(body);
        let short = OpenError::Malformed("shorter than its fixed fields");
        let version = r.u8().ok_or(short.clone())?;
        let my_as = r.u16().ok_or(short.clone())?;
        let hold_time = r.u16().ok_or(short.clone())?;
        let bgp_id = r.ipv4().ok_or(short.clone())?;
        let opt_len = r.u8().ok_or(short)?;
        // Version first: with another version the rest may mean anything.
        if version != BGP_VERSION {
            return Err(OpenError::UnsupportedVersion(version));
        }
        let params = r.rest();
        // RFC 9072 §2: a non-zero length followed by type 255 means the
        // two-octet lengths are in use.
        let extended = opt_len != 0 && params.first() == Some(&PARAM_EXTENDED_LENGTH);
        let params = if extended {
            let mut pr = Reader::new(&params[1..]);
            let len = pr
                .u16()
                .ok_or(OpenError::Malformed("extended parameters length"))?;
            if usize::from(len) != pr.remaining() {
                return Err(OpenError::Malformed("extended parameters length"));
            }
            pr.rest()
        } else {
            if usize::from(opt_len) != params.len() {
                return Err(OpenError::Malformed("optional parameters length"));
            }
            params
        };
        let mut capabilities = Vec::new();
        let mut pr = Reader::new(params);
        while !pr.is_empty() {
            let bad = OpenError::Malformed("optional parameter overruns");
            let ptype = pr.u8().ok_or(bad.clone())?;
            let plen = if extended {
                pr.u16().ok_or(bad.clone())?
            } else {
                u16::from(pr.u8().ok_or(bad.clone())?)
            };
            let value = pr.take(usize::from(plen)).ok_or(bad)?;
            if ptype != PARAM_CAPABILITIES {
                return Err(OpenError::UnsupportedOptionalParameter(ptype));
            }
            decode_capabilities(value, &mut capabilities)?;
        }
        Ok(Open {
            version,
            my_as,
            hold_time,
            bgp_id,
            capabilities,
        })
    }

    /// Checks the fields RFC 4271 §6.2 (with RFC 6286, 6793 and 7607) asks a
    /// receiver to check. Capabilities the local side requires are the
    /// FSM's to check (OPEN error Unsupported Capability, RFC 5492 §5).
    pub fn check(&self, expect: &OpenCheck) -> Result<(), OpenError> {
        if self.version != BGP_VERSION {
            return Err(OpenError::UnsupportedVersion(self.version));
        }
        let asn = self.asn();
        // RFC 7607 §2: AS 0 in My AS or the 4-octet capability is Bad Peer AS.
        if asn == 0 || self.my_as == 0 || expect.peer_asn.is_some_and(|want| want != asn) {
            return Err(OpenError::BadPeerAs(asn));
        }
        let internal = asn == expect.local_asn;
        if self.bgp_id.is_unspecified() || (internal && self.bgp_id == expect.local_id) {
            return Err(OpenError::BadBgpIdentifier(self.bgp_id));
        }
        if matches!(self.hold_time, 1 | 2) {
            return Err(OpenError::UnacceptableHoldTime(self.hold_time));
        }
        Ok(())
    }

    /// Appends the whole message. All capabilities go in one Capabilities
    /// parameter; past 255 octets the RFC 9072 encoding is used.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let start = header::begin(out, MessageType::Open);
        out.push(self.version);
        out.extend_from_slice(&self.my_as.to_be_bytes());
        out.extend_from_slice(&self.hold_time.to_be_bytes());
        out.extend_from_slice(&self.bgp_id.octets());
        // An OPEN never exceeds 4096 octets (RFC 8654 §4): capabilities that
        // would not fit are left out whole.
        let room = super::types::MAX_MESSAGE_LEN - (out.len() - start) - 6;
        let mut caps = Vec::new();
        for c in &self.capabilities {
            let before = caps.len();
            c.encode(&mut caps);
            if caps.len() > room {
                caps.truncate(before);
                break;
            }
        }
        if caps.is_empty() {
            out.push(0);
        } else if caps.len() + 2 <= 255 {
            out.push(u8::try_from(caps.len() + 2).unwrap_or(0));
            out.push(PARAM_CAPABILITIES);
            out.push(u8::try_from(caps.len()).unwrap_or(0));
            out.extend_from_slice(&caps);
        } else {
            out.push(PARAM_EXTENDED_LENGTH);
            out.push(PARAM_EXTENDED_LENGTH);
            out.extend_from_slice(&u16::try_from(caps.len() + 3).unwrap_or(0).to_be_bytes());
            out.push(PARAM_CAPABILITIES);
            out.extend_from_slice(&u16::try_from(caps.len()).unwrap_or(0).to_be_bytes());
            out.extend_from_slice(&caps);
        }
        header::finish(out, start);
    }
}

fn decode_capabilities(value: &[u8], into: &mut Vec<Capability>) -> Result<(), OpenError> {
    let mut r = Reader::new(value);
    while !r.is_empty() {
        let bad = OpenError::Malformed("capability overruns its parameter");
        let code = r.u8().ok_or(bad.clone())?;
        let len = r.u8().ok_or(bad.clone())?;
        let v = r.take(usize::from(len)).ok_or(bad)?;
        into.push(Capability::decode(code, v).ok_or(OpenError::MalformedCapability { code })?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> Ipv4Addr {
        s.parse().expect("literal")
    }

    /// holo-routing/holo's holo-bgp/tests/packet/open.rs OPEN3 vector
    /// (MP IPv4+IPv6, 4-octet AS 65550, route refresh, enhanced route
    /// refresh; each capability in its own parameter), cross-checked here.
    #[test]
    fn decodes_holo_open3_vector() {
        let bytes: [u8; 61] = [
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0xff, 0x00, 0x3d, 0x01, 0x04, 0x00, 0x01, 0x00, 0xb4, 0x01, 0x01, 0x01, 0x01,
            0x20, 0x02, 0x06, 0x01, 0x04, 0x00, 0x01, 0x00, 0x01, 0x02, 0x06, 0x01, 0x04, 0x00,
            0x02, 0x00, 0x01, 0x02, 0x06, 0x41, 0x04, 0x00, 0x01, 0x00, 0x0e, 0x02, 0x02, 0x02,
            0x00, 0x02, 0x02, 0x46, 0x00,
        ];
        let open = Open::decode(&bytes[19..]).expect("valid");
        assert_eq!(open.my_as, 1);
        assert_eq!(open.asn(), 65550);
        assert_eq!(open.hold_time, 180);
        assert_eq!(open.bgp_id, id("1.1.1.1"));
        assert_eq!(
            open.capabilities,
            vec![
                Capability::Multiprotocol(AfiSafi::IPV4_UNICAST),
                Capability::Multiprotocol(AfiSafi::IPV6_UNICAST),
                Capability::FourOctetAs(65550),
                Capability::RouteRefresh,
                Capability::EnhancedRouteRefresh,
            ]
        );
    }

    #[test]
    fn encodes_byte_exact_with_as_trans() {
        let open = Open::new(
            4_200_000_001,
            90,
            id("10.0.0.1"),
            vec![
                Capability::Multiprotocol(AfiSafi::IPV4_UNICAST),
                Capability::RouteRefresh,
            ],
        );
        let mut out = Vec::new();
        open.encode(&mut out);
        let mut want = vec![0xff; 16];
        want.extend_from_slice(&[0, 45, 1, 4, 0x5b, 0xa0, 0, 90, 10, 0, 0, 1, 16, 2, 14]);
        want.extend_from_slice(&[1, 4, 0, 1, 0, 1, 2, 0, 65, 4, 0xfa, 0x56, 0xea, 0x01]);
        assert_eq!(out, want);
        assert_eq!(out.len(), 45);
        let back = Open::decode(&out[19..]).expect("valid");
        assert_eq!(back, open);
        assert_eq!(back.my_as, 23456);
        assert_eq!(back.asn(), 4_200_000_001);
    }

    #[test]
    fn rfc9072_extended_parameters_both_ways() {
        // Enough unknown capabilities to need more than 255 octets.
        let caps: Vec<_> = (0..30)
            .map(|i| Capability::Unknown {
                code: 200 + i,
                value: vec![i; 8],
            })
            .collect();
        let open = Open::new(65001, 90, id("10.0.0.1"), caps);
        let mut out = Vec::new();
        open.encode(&mut out);
        assert_eq!(&out[28..30], &[255, 255]);
        assert_eq!(Open::decode(&out[19..]).expect("valid"), open);
        // A short list in the extended form must be accepted too (RFC 9072 §2).
        let body = [
            4, 0xfd, 0xe9, 0, 90, 10, 0, 0, 1, 255, 255, 0, 5, 2, 0, 2, 2, 0,
        ];
        let got = Open::decode(&body).expect("valid");
        assert_eq!(got.capabilities, vec![Capability::RouteRefresh]);
    }

    #[test]
    fn oversized_capability_lists_are_cut_whole() {
        let caps: Vec<_> = (0..40)
            .map(|i| Capability::Unknown {
                code: 100 + i,
                value: vec![i; 200],
            })
            .collect();
        let open = Open::new(65001, 90, id("10.0.0.1"), caps);
        let mut out = Vec::new();
        open.encode(&mut out);
        assert!(out.len() <= 4096);
        let back = Open::decode(&out[19..]).expect("valid");
        assert_eq!(back.capabilities.len(), 20);
        assert_eq!(back.capabilities[..], open.capabilities[..20]);
    }

    #[test]
    fn open_errors_map_to_rfc4271_subcodes() {
        let mut body = vec![3, 0xfd, 0xe9, 0, 90, 10, 0, 0, 1, 0];
        assert_eq!(Open::decode(&body), Err(OpenError::UnsupportedVersion(3)));
        let n = OpenError::UnsupportedVersion(3).notification();
        assert_eq!((n.code.to_wire(), n.data), ((2, 1), vec![0, 4]));
        body[0] = 4;
        body[9] = 3;
        body.extend_from_slice(&[1, 1, 0]);
        assert_eq!(
            Open::decode(&body),
            Err(OpenError::UnsupportedOptionalParameter(1))
        );
        assert_eq!(
            OpenError::UnsupportedOptionalParameter(1)
                .notification()
                .code
                .to_wire(),
            (2, 4)
        );
        body[9] = 4;
        assert_eq!(
            Open::decode(&body),
            Err(OpenError::Malformed("optional parameters length"))
        );

        let check = OpenCheck {
            local_asn: 65001,
            local_id: id("10.0.0.1"),
            peer_asn: Some(65002),
        };
        let good = Open::new(65002, 90, id("10.0.0.2"), vec![]);
        assert_eq!(good.check(&check), Ok(()));
        let wrong_as = Open::new(65003, 90, id("10.0.0.2"), vec![]);
        assert_eq!(wrong_as.check(&check), Err(OpenError::BadPeerAs(65003)));
        assert_eq!(
            OpenError::BadPeerAs(1).notification().code.to_wire(),
            (2, 2)
        );
        let zero_as = Open::new(0, 90, id("10.0.0.2"), vec![]);
        assert_eq!(
            zero_as.check(&OpenCheck {
                peer_asn: None,
                ..check
            }),
            Err(OpenError::BadPeerAs(0))
        );
        for hold in [1, 2] {
            let o = Open::new(65002, hold, id("10.0.0.2"), vec![]);
            assert_eq!(o.check(&check), Err(OpenError::UnacceptableHoldTime(hold)));
        }
        assert_eq!(
            OpenError::UnacceptableHoldTime(1)
                .notification()
                .code
                .to_wire(),
            (2, 6)
        );
        for hold in [0, 3] {
            assert_eq!(
                Open::new(65002, hold, id("10.0.0.2"), vec![]).check(&check),
                Ok(())
            );
        }
        let zero_id = Open::new(65002, 90, id("0.0.0.0"), vec![]);
        assert_eq!(
            zero_id.check(&check),
            Err(OpenError::BadBgpIdentifier(id("0.0.0.0")))
        );
        assert_eq!(
            OpenError::BadBgpIdentifier(id("0.0.0.0"))
                .notification()
                .code
                .to_wire(),
            (2, 3)
        );
        // Our own identifier: bad on an internal session, allowed on an external one.
        let ibgp = OpenCheck {
            peer_asn: Some(65001),
            ..check
        };
        assert!(
            Open::new(65001, 90, id("10.0.0.1"), vec![])
                .check(&ibgp)
                .is_err()
        );
        assert!(
            Open::new(65002, 90, id("10.0.0.1"), vec![])
                .check(&check)
                .is_ok()
        );
        // Malformed capability: OPEN error, subcode 0.
        let body = [4, 0xfd, 0xe9, 0, 90, 10, 0, 0, 1, 5, 2, 3, 65, 1, 0];
        assert_eq!(
            Open::decode(&body),
            Err(OpenError::MalformedCapability { code: 65 })
        );
        assert_eq!(
            OpenError::MalformedCapability { code: 65 }
                .notification()
                .code
                .to_wire(),
            (2, 0)
        );
    }
}
