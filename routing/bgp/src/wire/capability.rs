//! Capabilities in the OPEN message (RFC 5492): the ones routerd uses, the
//! ones it only reads, and everything else kept raw.

use super::reader::Reader;
use super::types::{Afi, AfiSafi, Safi};

/// Capability codes (IANA "Capability Codes").
pub(crate) mod code {
    pub const MULTIPROTOCOL: u8 = 1;
    pub const ROUTE_REFRESH: u8 = 2;
    pub const EXTENDED_NEXT_HOP: u8 = 5;
    pub const EXTENDED_MESSAGE: u8 = 6;
    pub const GRACEFUL_RESTART: u8 = 64;
    pub const FOUR_OCTET_AS: u8 = 65;
    pub const ADD_PATH: u8 = 69;
    pub const ENHANCED_ROUTE_REFRESH: u8 = 70;
    pub const FQDN: u8 = 73;
}

/// One capability.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Capability {
    /// Multiprotocol Extensions (RFC 4760 §8, code 1).
    Multiprotocol(AfiSafi),
    /// Route Refresh (RFC 2918, code 2).
    RouteRefresh,
    /// Extended Next Hop Encoding (RFC 8950 §3, code 5).
    ExtendedNextHop(Vec<ExtendedNextHop>),
    /// Extended Message (RFC 8654, code 6).
    ExtendedMessage,
    /// Graceful Restart (RFC 4724 §3, code 64).
    GracefulRestart(GracefulRestart),
    /// 4-octet AS number (RFC 6793 §3, code 65): the speaker's real ASN.
    FourOctetAs(u32),
    /// ADD-PATH (RFC 7911 §4, code 69): read, not used by routerd.
    AddPath(Vec<AddPath>),
    /// Enhanced Route Refresh (RFC 7313 §3.1, code 70).
    EnhancedRouteRefresh,
    /// FQDN / hostname (draft-walton-bgp-hostname-capability, code 73).
    Fqdn(Fqdn),
    /// Any other capability, kept as received.
    Unknown {
        /// Capability code.
        code: u8,
        /// Capability value.
        value: Vec<u8>,
    },
}

/// One entry of the Extended Next Hop capability: NLRI of `nlri` may carry a
/// next hop of `next_hop_afi` (RFC 8950 §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ExtendedNextHop {
    /// NLRI AFI.
    pub nlri_afi: Afi,
    /// NLRI SAFI (two octets in this capability).
    pub nlri_safi: u16,
    /// Next hop AFI.
    pub next_hop_afi: Afi,
}

impl ExtendedNextHop {
    /// IPv4 unicast NLRI with IPv6 next hops: the entry routerd advertises.
    pub const IPV4_UNICAST_OVER_IPV6: ExtendedNextHop = ExtendedNextHop {
        nlri_afi: Afi::IPV4,
        nlri_safi: 1,
        next_hop_afi: Afi::IPV6,
    };
}

/// The Graceful Restart capability (RFC 4724 §3, RFC 8538 §2 for the N bit).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct GracefulRestart {
    /// R: the sender has restarted.
    pub restart_state: bool,
    /// N: the sender supports graceful NOTIFICATION (RFC 8538).
    pub notification: bool,
    /// Restart Time in seconds (12 bits).
    pub restart_time: u16,
    /// Families whose state the sender preserves.
    pub families: Vec<GracefulRestartFamily>,
}

/// One family in the Graceful Restart capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GracefulRestartFamily {
    /// The family.
    pub afi_safi: AfiSafi,
    /// F: forwarding state was preserved across the restart.
    pub forwarding_preserved: bool,
}

/// Send/receive modes of ADD-PATH (RFC 7911 §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AddPathMode {
    /// 1: able to receive multiple paths.
    Receive,
    /// 2: able to send multiple paths.
    Send,
    /// 3: both.
    Both,
    /// Any other value, kept.
    Other(u8),
}

/// One family in the ADD-PATH capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AddPath {
    /// The family.
    pub afi_safi: AfiSafi,
    /// What the sender can do.
    pub mode: AddPathMode,
}

/// The hostname capability: host and domain names, read leniently as UTF-8.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Fqdn {
    /// Host name.
    pub hostname: String,
    /// Domain name.
    pub domain: String,
}

/// R and N flag bits of the Restart Flags nibble.
const GR_RESTART_STATE: u16 = 0x8000;
const GR_NOTIFICATION: u16 = 0x4000;
const GR_TIME_MASK: u16 = 0x0fff;
const GR_FORWARDING: u8 = 0x80;

impl Capability {
    /// The capability code.
    pub fn code(&self) -> u8 {
        match self {
            Self::Multiprotocol(_) => code::MULTIPROTOCOL,
            Self::RouteRefresh => code::ROUTE_REFRESH,
            Self::ExtendedNextHop(_) => code::EXTENDED_NEXT_HOP,
            Self::ExtendedMessage => code::EXTENDED_MESSAGE,
            Self::GracefulRestart(_) => code::GRACEFUL_RESTART,
            Self::FourOctetAs(_) => code::FOUR_OCTET_AS,
            Self::AddPath(_) => code::ADD_PATH,
            Self::EnhancedRouteRefresh => code::ENHANCED_ROUTE_REFRESH,
            Self::Fqdn(_) => code::FQDN,
            Self::Unknown { code, .. } => *code,
        }
    }

    /// Decodes one capability's value. `None` when a capability routerd
    /// knows has a value of the wrong shape.
    pub(crate) fn decode(code: u8, value: &[u8]) -> Option<Self> {
        let mut r = Reader::new(value);
        let cap = match code {
            code::MULTIPROTOCOL => {
                let afi = Afi(r.u16()?);
                let _reserved = r.u8()?;
                let safi = Safi(r.u8()?);
                Self::Multiprotocol(AfiSafi::new(afi, safi))
            }
            code::ROUTE_REFRESH if value.is_empty() => Self::RouteRefresh,
            code::EXTENDED_MESSAGE if value.is_empty() => Self::ExtendedMessage,
            code::ENHANCED_ROUTE_REFRESH if value.is_empty() => Self::EnhancedRouteRefresh,
            code::ROUTE_REFRESH | code::EXTENDED_MESSAGE | code::ENHANCED_ROUTE_REFRESH => {
                return None;
            }
            code::EXTENDED_NEXT_HOP => {
                if value.is_empty() || !value.len().is_multiple_of(6) {
                    return None;
                }
                let mut v = Vec::with_capacity(value.len() / 6);
                while !r.is_empty() {
                    v.push(ExtendedNextHop {
                        nlri_afi: Afi(r.u16()?),
                        nlri_safi: r.u16()?,
                        next_hop_afi: Afi(r.u16()?),
                    });
                }
                Self::ExtendedNextHop(v)
            }
            code::GRACEFUL_RESTART => {
                let head = r.u16()?;
                if !r.remaining().is_multiple_of(4) {
                    return None;
                }
                let mut families = Vec::with_capacity(r.remaining() / 4);
                while !r.is_empty() {
                    let afi = Afi(r.u16()?);
                    let safi = Safi(r.u8()?);
                    let flags = r.u8()?;
                    families.push(GracefulRestartFamily {
                        afi_safi: AfiSafi::new(afi, safi),
                        forwarding_preserved: flags & GR_FORWARDING != 0,
                    });
                }
                Self::GracefulRestart(GracefulRestart {
                    restart_state: head & GR_RESTART_STATE != 0,
                    notification: head & GR_NOTIFICATION != 0,
                    restart_time: head & GR_TIME_MASK,
                    families,
                })
            }
            code::FOUR_OCTET_AS => Self::FourOctetAs(r.u32()?),
            code::ADD_PATH => {
                if value.is_empty() || !value.len().is_multiple_of(4) {
                    return None;
                }
                let mut v = Vec::with_capacity(value.len() / 4);
                while !r.is_empty() {
                    let afi = Afi(r.u16()?);
                    let safi = Safi(r.u8()?);
                    let mode = match r.u8()? {
                        1 => AddPathMode::Receive,
                        2 => AddPathMode::Send,
                        3 => AddPathMode::Both,
                        m => AddPathMode::Other(m),
                    };
                    v.push(AddPath {
                        afi_safi: AfiSafi::new(afi, safi),
                        mode,
                    });
                }
                Self::AddPath(v)
            }
            code::FQDN => {
                let hlen = r.u8()?;
                let host = r.take(usize::from(hlen))?;
                // Some speakers omit the domain part entirely.
                let domain = match r.u8() {
                    Some(dlen) => r.take(usize::from(dlen))?,
                    None => &[],
                };
                Self::Fqdn(Fqdn {
                    hostname: String::from_utf8_lossy(host).into_owned(),
                    domain: String::from_utf8_lossy(domain).into_owned(),
                })
            }
            code => {
                return Some(Self::Unknown {
                    code,
                    value: value.to_vec(),
                });
            }
        };
        // Fixed-size capabilities must not carry trailing bytes.
        r.is_empty().then_some(cap)
    }

    /// Appends code, length and value. Lists are cut to what the one-octet
    /// capability length can say.
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.code());
        let len_at = out.len();
        out.push(0);
        match self {
            Self::Multiprotocol(f) => {
                out.extend_from_slice(&f.afi.0.to_be_bytes());
                out.push(0);
                out.push(f.safi.0);
            }
            Self::RouteRefresh | Self::ExtendedMessage | Self::EnhancedRouteRefresh => {}
            Self::ExtendedNextHop(list) => {
                for e in list.iter().take(255 / 6) {
                    out.extend_from_slice(&e.nlri_afi.0.to_be_bytes());
                    out.extend_from_slice(&e.nlri_safi.to_be_bytes());
                    out.extend_from_slice(&e.next_hop_afi.0.to_be_bytes());
                }
            }
            Self::GracefulRestart(gr) => {
                let mut head = gr.restart_time & GR_TIME_MASK;
                if gr.restart_state {
                    head |= GR_RESTART_STATE;
                }
                if gr.notification {
                    head |= GR_NOTIFICATION;
                }
                out.extend_from_slice(&head.to_be_bytes());
                for f in gr.families.iter().take((255 - 2) / 4) {
                    out.extend_from_slice(&f.afi_safi.afi.0.to_be_bytes());
                    out.push(f.afi_safi.safi.0);
                    out.push(if f.forwarding_preserved {
                        GR_FORWARDING
                    } else {
                        0
                    });
                }
            }
            Self::FourOctetAs(asn) => out.extend_from_slice(&asn.to_be_bytes()),
            Self::AddPath(list) => {
                for e in list.iter().take(255 / 4) {
                    out.extend_from_slice(&e.afi_safi.afi.0.to_be_bytes());
                    out.push(e.afi_safi.safi.0);
                    out.push(match e.mode {
                        AddPathMode::Receive => 1,
                        AddPathMode::Send => 2,
                        AddPathMode::Both => 3,
                        AddPathMode::Other(m) => m,
                    });
                }
            }
            Self::Fqdn(f) => {
                for s in [&f.hostname, &f.domain] {
                    let b = &s.as_bytes()[..s.len().min(126)];
                    out.push(u8::try_from(b.len()).unwrap_or(0));
                    out.extend_from_slice(b);
                }
            }
            Self::Unknown { value, .. } => out.extend_from_slice(&value[..value.len().min(255)]),
        }
        let len = out.len() - len_at - 1;
        out[len_at] = u8::try_from(len).unwrap_or(u8::MAX);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(cap: Capability, bytes: &[u8]) {
        let mut out = Vec::new();
        cap.encode(&mut out);
        assert_eq!(out, bytes, "{cap:?}");
        assert_eq!(Capability::decode(bytes[0], &bytes[2..]), Some(cap));
    }

    #[test]
    fn byte_exact_capabilities() {
        roundtrip(
            Capability::Multiprotocol(AfiSafi::IPV6_UNICAST),
            &[1, 4, 0, 2, 0, 1],
        );
        roundtrip(Capability::RouteRefresh, &[2, 0]);
        roundtrip(Capability::EnhancedRouteRefresh, &[70, 0]);
        roundtrip(Capability::ExtendedMessage, &[6, 0]);
        roundtrip(
            Capability::FourOctetAs(4_200_000_000),
            &[65, 4, 0xfa, 0x56, 0xea, 0x00],
        );
        roundtrip(
            Capability::ExtendedNextHop(vec![ExtendedNextHop::IPV4_UNICAST_OVER_IPV6]),
            &[5, 6, 0, 1, 0, 1, 0, 2],
        );
        roundtrip(
            Capability::GracefulRestart(GracefulRestart {
                restart_state: true,
                notification: false,
                restart_time: 120,
                families: vec![
                    GracefulRestartFamily {
                        afi_safi: AfiSafi::IPV4_UNICAST,
                        forwarding_preserved: true,
                    },
                    GracefulRestartFamily {
                        afi_safi: AfiSafi::IPV6_UNICAST,
                        forwarding_preserved: false,
                    },
                ],
            }),
            &[64, 10, 0x80, 120, 0, 1, 1, 0x80, 0, 2, 1, 0],
        );
        roundtrip(
            Capability::AddPath(vec![AddPath {
                afi_safi: AfiSafi::IPV4_UNICAST,
                mode: AddPathMode::Both,
            }]),
            &[69, 4, 0, 1, 1, 3],
        );
        roundtrip(
            Capability::Fqdn(Fqdn {
                hostname: "r1".into(),
                domain: "lab".into(),
            }),
            &[73, 7, 2, b'r', b'1', 3, b'l', b'a', b'b'],
        );
        roundtrip(
            Capability::Unknown {
                code: 128,
                value: vec![],
            },
            &[128, 0],
        );
    }

    #[test]
    fn malformed_known_capabilities_are_none() {
        assert_eq!(Capability::decode(1, &[0, 1, 0]), None);
        assert_eq!(Capability::decode(1, &[0, 1, 0, 1, 9]), None);
        assert_eq!(Capability::decode(2, &[0]), None);
        assert_eq!(Capability::decode(65, &[0, 0, 1]), None);
        assert_eq!(Capability::decode(64, &[0, 120, 0, 1, 1]), None);
        assert_eq!(Capability::decode(5, &[0, 1, 0, 1, 0]), None);
        assert_eq!(Capability::decode(69, &[]), None);
        assert_eq!(Capability::decode(73, &[5, b'a']), None);
    }
}
