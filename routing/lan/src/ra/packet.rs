//! Router Solicitation and Router Advertisement messages (RFC 4861 §4.1,
//! §4.2) with the options an advertising router sends: Source Link-Layer
//! Address (§4.6.1), Prefix Information (§4.6.2), MTU (§4.6.4), Route
//! Information (RFC 4191 §2.3), RDNSS and DNSSL (RFC 8106 §5.1, §5.2).
//!
//! The checksum field is left zero: on a raw ICMPv6 socket the kernel fills
//! it in on the way out and verifies it on the way in (RFC 3542 §3.1).

use std::net::Ipv6Addr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::dns_name;

/// ICMPv6 type of a Router Solicitation.
pub const ROUTER_SOLICITATION: u8 = 133;
/// ICMPv6 type of a Router Advertisement.
pub const ROUTER_ADVERTISEMENT: u8 = 134;
/// A lifetime of all ones means "infinity" (RFC 4861 §4.6.2).
pub const INFINITE: u32 = u32::MAX;

const OPT_SOURCE_LLA: u8 = 1;
const OPT_PREFIX: u8 = 3;
const OPT_MTU: u8 = 5;
const OPT_ROUTE: u8 = 24;
const OPT_RDNSS: u8 = 25;
const OPT_DNSSL: u8 = 31;

/// Why bytes are not a Router Solicitation or Advertisement we accept.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PacketError {
    /// Shorter than the fixed part (8 octets for RS, 16 for RA).
    #[error("message of {len} octets is shorter than the {min} the type needs")]
    TooShort {
        /// Octets received.
        len: usize,
        /// Octets the message type needs.
        min: usize,
    },
    /// Not the ICMPv6 type asked for.
    #[error("ICMPv6 type {0} is not the one expected")]
    WrongType(u8),
    /// RFC 4861 §6.1.1/§6.1.2: the ICMP code must be 0.
    #[error("ICMPv6 code {0} is not 0")]
    BadCode(u8),
    /// RFC 4861 §6.1.1: every option has a length greater than zero.
    #[error("option {kind} has length 0")]
    ZeroLengthOption {
        /// The option type.
        kind: u8,
    },
    /// An option runs past the end of the message.
    #[error("option {kind} runs past the end of the message")]
    OptionOverrun {
        /// The option type.
        kind: u8,
    },
    /// RFC 4861 §6.1.1: an RS from the unspecified address carries no SLLA.
    #[error("a solicitation from the unspecified address carries a source link-layer address")]
    SourceLinkLayerFromUnspecified,
    /// A known option whose body does not have the shape its RFC gives it.
    #[error("option {kind} is malformed")]
    BadOption {
        /// The option type.
        kind: u8,
    },
    /// A domain name that cannot go into a DNSSL option.
    #[error("`{0}` is not a domain name for a DNS search list")]
    BadDomain(String),
    /// Too many addresses or names for one option (its length is one octet).
    #[error("option {kind} would be longer than 255 units of 8 octets")]
    OptionTooLong {
        /// The option type.
        kind: u8,
    },
}

/// Default router (and route) preference, RFC 4191 §2.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Preference {
    /// 11.
    Low,
    /// 00, the default.
    #[default]
    Medium,
    /// 01.
    High,
}

impl Preference {
    /// The two-bit code (RFC 4191 §2.1).
    pub fn bits(self) -> u8 {
        match self {
            Preference::High => 0b01,
            Preference::Medium => 0b00,
            Preference::Low => 0b11,
        }
    }

    /// Reads the two-bit code; the reserved value 10 reads as medium, as
    /// RFC 4191 §2.2 tells receivers to treat it.
    pub fn from_bits(bits: u8) -> Preference {
        match bits & 0b11 {
            0b01 => Preference::High,
            0b11 => Preference::Low,
            _ => Preference::Medium,
        }
    }
}

/// A Prefix Information option (RFC 4861 §4.6.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrefixInfo {
    /// The prefix (bits beyond `prefix_len` are zero when we send).
    pub prefix: Ipv6Addr,
    /// Its length.
    pub prefix_len: u8,
    /// L: the prefix is on-link.
    pub on_link: bool,
    /// A: hosts may autoconfigure addresses from it (RFC 4862).
    pub autonomous: bool,
    /// Valid lifetime in seconds ([`INFINITE`] for infinity).
    pub valid: u32,
    /// Preferred lifetime in seconds.
    pub preferred: u32,
}

/// A Route Information option (RFC 4191 §2.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteInfo {
    /// The route's prefix.
    pub prefix: Ipv6Addr,
    /// Its length (0..=128).
    pub prefix_len: u8,
    /// Route preference.
    pub preference: Preference,
    /// Lifetime in seconds; 0 withdraws the route.
    pub lifetime: u32,
}

/// An option of a Router Advertisement or Solicitation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NdOption {
    /// Source Link-Layer Address (type 1).
    SourceLinkLayer(Vec<u8>),
    /// Prefix Information (type 3).
    Prefix(PrefixInfo),
    /// MTU (type 5).
    Mtu(u32),
    /// Route Information (type 24).
    Route(RouteInfo),
    /// Recursive DNS Server (type 25): lifetime and addresses.
    Rdnss {
        /// Seconds; 0 withdraws the servers.
        lifetime: u32,
        /// The servers.
        servers: Vec<Ipv6Addr>,
    },
    /// DNS Search List (type 31): lifetime and domains.
    Dnssl {
        /// Seconds; 0 withdraws the domains.
        lifetime: u32,
        /// Domain names, lower case, without the final dot.
        domains: Vec<String>,
    },
    /// Any other option, kept as it came.
    Unknown {
        /// Option type.
        kind: u8,
        /// The option after its type and length octets.
        body: Vec<u8>,
    },
}

/// A Router Advertisement (RFC 4861 §4.2 with RFC 4191's preference bits).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RouterAdvert {
    /// Cur Hop Limit (0: unspecified).
    pub cur_hop_limit: u8,
    /// M: addresses from DHCPv6.
    pub managed: bool,
    /// O: other configuration from DHCPv6.
    pub other: bool,
    /// Default router preference.
    pub preference: Preference,
    /// Router Lifetime in seconds; 0: not a default router.
    pub router_lifetime: u16,
    /// Reachable Time in milliseconds (0: unspecified).
    pub reachable_time: u32,
    /// Retrans Timer in milliseconds (0: unspecified).
    pub retrans_timer: u32,
    /// Options in the order they appear.
    pub options: Vec<NdOption>,
}

/// A Router Solicitation (RFC 4861 §4.1), validated per §6.1.1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterSolicit {
    /// The sender's link-layer address, if it said.
    pub source_lla: Option<Vec<u8>>,
}

/// The options after the fixed part, each as (type, body after the two
/// header octets), checked per RFC 4861 §6.1.1: no zero length, none past
/// the end.
fn split_options(mut b: &[u8]) -> Result<Vec<(u8, &[u8])>, PacketError> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let (&kind, rest) = b
            .split_first()
            .ok_or(PacketError::OptionOverrun { kind: 0 })?;
        let Some(&units) = rest.first() else {
            return Err(PacketError::OptionOverrun { kind });
        };
        if units == 0 {
            return Err(PacketError::ZeroLengthOption { kind });
        }
        let len = usize::from(units) * 8;
        if b.len() < len {
            return Err(PacketError::OptionOverrun { kind });
        }
        out.push((kind, &b[2..len]));
        b = &b[len..];
    }
    Ok(out)
}

/// Parses and validates a Router Solicitation whose IP source was `src`
/// (RFC 4861 §6.1.1; the hop limit of 255 is the socket's to check).
pub fn parse_rs(bytes: &[u8], src: Ipv6Addr) -> Result<RouterSolicit, PacketError> {
    if bytes.len() < 8 {
        return Err(PacketError::TooShort {
            len: bytes.len(),
            min: 8,
        });
    }
    if bytes[0] != ROUTER_SOLICITATION {
        return Err(PacketError::WrongType(bytes[0]));
    }
    if bytes[1] != 0 {
        return Err(PacketError::BadCode(bytes[1]));
    }
    let mut source_lla = None;
    for (kind, body) in split_options(&bytes[8..])? {
        if kind == OPT_SOURCE_LLA {
            if src.is_unspecified() {
                return Err(PacketError::SourceLinkLayerFromUnspecified);
            }
            source_lla = Some(lla(body));
        }
        // Other options are ignored (RFC 4861 §4.1).
    }
    Ok(RouterSolicit { source_lla })
}

/// A link-layer address option's body: for Ethernet exactly the 6 octets;
/// for other links the option does not say where padding starts, so all of it.
fn lla(body: &[u8]) -> Vec<u8> {
    body.to_vec()
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at + 4)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

fn addr(b: &[u8], at: usize) -> Option<Ipv6Addr> {
    let s: [u8; 16] = b.get(at..at + 16)?.try_into().ok()?;
    Some(Ipv6Addr::from(s))
}

impl RouterAdvert {
    /// Parses a Router Advertisement (RFC 4861 §6.1.2 checks that need only
    /// the message: length ≥ 16, code 0, option lengths). Known options
    /// with a wrong shape are errors; unknown options are kept.
    pub fn parse(bytes: &[u8]) -> Result<RouterAdvert, PacketError> {
        if bytes.len() < 16 {
            return Err(PacketError::TooShort {
                len: bytes.len(),
                min: 16,
            });
        }
        if bytes[0] != ROUTER_ADVERTISEMENT {
            return Err(PacketError::WrongType(bytes[0]));
        }
        if bytes[1] != 0 {
            return Err(PacketError::BadCode(bytes[1]));
        }
        let flags = bytes[5];
        let mut ra = RouterAdvert {
            cur_hop_limit: bytes[4],
            managed: flags & 0x80 != 0,
            other: flags & 0x40 != 0,
            preference: Preference::from_bits(flags >> 3),
            router_lifetime: u16::from_be_bytes([bytes[6], bytes[7]]),
            reachable_time: be32(bytes, 8).unwrap_or(0),
            retrans_timer: be32(bytes, 12).unwrap_or(0),
            options: Vec::new(),
        };
        for (kind, body) in split_options(&bytes[16..])? {
            ra.options.push(parse_option(kind, body)?);
        }
        Ok(ra)
    }

    /// Encodes the message with a zero checksum (the kernel computes it).
    pub fn encode(&self) -> Result<Vec<u8>, PacketError> {
        let mut b = Vec::with_capacity(128);
        b.push(ROUTER_ADVERTISEMENT);
        b.push(0);
        b.extend([0, 0]);
        b.push(self.cur_hop_limit);
        let mut flags = self.preference.bits() << 3;
        if self.managed {
            flags |= 0x80;
        }
        if self.other {
            flags |= 0x40;
        }
        b.push(flags);
        b.extend(self.router_lifetime.to_be_bytes());
        b.extend(self.reachable_time.to_be_bytes());
        b.extend(self.retrans_timer.to_be_bytes());
        for o in &self.options {
            encode_option(o, &mut b)?;
        }
        Ok(b)
    }

    /// The Prefix Information options.
    pub fn prefixes(&self) -> impl Iterator<Item = &PrefixInfo> {
        self.options.iter().filter_map(|o| match o {
            NdOption::Prefix(p) => Some(p),
            _ => None,
        })
    }

    /// The Route Information options.
    pub fn routes(&self) -> impl Iterator<Item = &RouteInfo> {
        self.options.iter().filter_map(|o| match o {
            NdOption::Route(r) => Some(r),
            _ => None,
        })
    }

    /// The MTU option's value, if present.
    pub fn mtu(&self) -> Option<u32> {
        self.options.iter().find_map(|o| match o {
            NdOption::Mtu(m) => Some(*m),
            _ => None,
        })
    }

    /// The Source Link-Layer Address option's value, if present.
    pub fn source_lla(&self) -> Option<&[u8]> {
        self.options.iter().find_map(|o| match o {
            NdOption::SourceLinkLayer(a) => Some(a.as_slice()),
            _ => None,
        })
    }

    /// All RDNSS servers with their lifetimes.
    pub fn rdnss(&self) -> Vec<(Ipv6Addr, u32)> {
        self.options
            .iter()
            .flat_map(|o| match o {
                NdOption::Rdnss { lifetime, servers } => {
                    servers.iter().map(|s| (*s, *lifetime)).collect::<Vec<_>>()
                }
                _ => Vec::new(),
            })
            .collect()
    }

    /// All DNSSL domains with their lifetimes.
    pub fn dnssl(&self) -> Vec<(String, u32)> {
        self.options
            .iter()
            .flat_map(|o| match o {
                NdOption::Dnssl { lifetime, domains } => domains
                    .iter()
                    .map(|d| (d.clone(), *lifetime))
                    .collect::<Vec<_>>(),
                _ => Vec::new(),
            })
            .collect()
    }
}

fn parse_option(kind: u8, body: &[u8]) -> Result<NdOption, PacketError> {
    let bad = PacketError::BadOption { kind };
    Ok(match kind {
        OPT_SOURCE_LLA => NdOption::SourceLinkLayer(lla(body)),
        OPT_PREFIX => {
            // Length 4 exactly (RFC 4861 §4.6.2): 30 octets after the header.
            if body.len() != 30 {
                return Err(bad);
            }
            NdOption::Prefix(PrefixInfo {
                prefix_len: body[0],
                on_link: body[1] & 0x80 != 0,
                autonomous: body[1] & 0x40 != 0,
                valid: be32(body, 2).ok_or(bad.clone())?,
                preferred: be32(body, 6).ok_or(bad.clone())?,
                prefix: addr(body, 14).ok_or(bad)?,
            })
        }
        OPT_MTU => {
            if body.len() != 6 {
                return Err(bad);
            }
            NdOption::Mtu(be32(body, 2).ok_or(bad)?)
        }
        OPT_ROUTE => {
            // RFC 4191 §2.3: length 1, 2 or 3, enough for the prefix length.
            let prefix_len = *body.first().ok_or(bad.clone())?;
            let need = match prefix_len {
                0 => 6,
                1..=64 => 14,
                65..=128 => 22,
                _ => return Err(bad),
            };
            if body.len() < need || body.len() > 22 {
                return Err(bad);
            }
            let mut p = [0u8; 16];
            let have = body.len() - 6;
            p[..have].copy_from_slice(&body[6..]);
            NdOption::Route(RouteInfo {
                prefix: Ipv6Addr::from(p),
                prefix_len,
                preference: Preference::from_bits(body[1] >> 3),
                lifetime: be32(body, 2).ok_or(bad)?,
            })
        }
        OPT_RDNSS => {
            // RFC 8106 §5.1: length 3, 5, 7...: at least one address.
            if body.len() < 22 || !(body.len() - 6).is_multiple_of(16) {
                return Err(bad);
            }
            NdOption::Rdnss {
                lifetime: be32(body, 2).ok_or(bad.clone())?,
                servers: body[6..]
                    .chunks_exact(16)
                    .filter_map(|c| <[u8; 16]>::try_from(c).ok())
                    .map(Ipv6Addr::from)
                    .collect(),
            }
        }
        OPT_DNSSL => {
            // RFC 8106 §5.2: length ≥ 2, names then zero padding.
            if body.len() < 14 {
                return Err(bad);
            }
            NdOption::Dnssl {
                lifetime: be32(body, 2).ok_or(bad.clone())?,
                domains: read_names(&body[6..]).ok_or(bad)?,
            }
        }
        _ => NdOption::Unknown {
            kind,
            body: body.to_vec(),
        },
    })
}

fn push_header(b: &mut Vec<u8>, kind: u8, total: usize) -> Result<(), PacketError> {
    let units = u8::try_from(total / 8).map_err(|_| PacketError::OptionTooLong { kind })?;
    b.push(kind);
    b.push(units);
    Ok(())
}

fn encode_option(o: &NdOption, b: &mut Vec<u8>) -> Result<(), PacketError> {
    match o {
        NdOption::SourceLinkLayer(a) => {
            let total = (2 + a.len()).div_ceil(8) * 8;
            push_header(b, OPT_SOURCE_LLA, total)?;
            b.extend(a);
            b.resize(b.len() + total - 2 - a.len(), 0);
        }
        NdOption::Prefix(p) => {
            push_header(b, OPT_PREFIX, 32)?;
            b.push(p.prefix_len);
            b.push(u8::from(p.on_link) << 7 | u8::from(p.autonomous) << 6);
            b.extend(p.valid.to_be_bytes());
            b.extend(p.preferred.to_be_bytes());
            b.extend([0; 4]);
            b.extend(p.prefix.octets());
        }
        NdOption::Mtu(m) => {
            push_header(b, OPT_MTU, 8)?;
            b.extend([0, 0]);
            b.extend(m.to_be_bytes());
        }
        NdOption::Route(r) => {
            // The shortest length that holds the prefix (RFC 4191 §2.3).
            let octets = match r.prefix_len {
                0 => 0,
                1..=64 => 8,
                _ => 16,
            };
            push_header(b, OPT_ROUTE, 8 + octets)?;
            b.push(r.prefix_len);
            b.push(r.preference.bits() << 3);
            b.extend(r.lifetime.to_be_bytes());
            b.extend(&r.prefix.octets()[..octets]);
        }
        NdOption::Rdnss { lifetime, servers } => {
            push_header(b, OPT_RDNSS, 8 + 16 * servers.len())?;
            b.extend([0, 0]);
            b.extend(lifetime.to_be_bytes());
            for s in servers {
                b.extend(s.octets());
            }
        }
        NdOption::Dnssl { lifetime, domains } => {
            let mut names = Vec::new();
            for d in domains {
                write_name(d, &mut names)?;
            }
            let total = (8 + names.len()).div_ceil(8) * 8;
            push_header(b, OPT_DNSSL, total)?;
            b.extend([0, 0]);
            b.extend(lifetime.to_be_bytes());
            b.extend(&names);
            b.resize(b.len() + total - 8 - names.len(), 0);
        }
        NdOption::Unknown { kind, body } => {
            let total = (2 + body.len()).div_ceil(8) * 8;
            push_header(b, *kind, total)?;
            b.extend(body);
            b.resize(b.len() + total - 2 - body.len(), 0);
        }
    }
    Ok(())
}

/// Checks a domain name for a DNS search list and returns it in lower case
/// without the final dot: labels of 1 to 63 letters, digits, hyphens or
/// underscores, at most 253 characters.
pub fn normalize_domain(name: &str) -> Result<String, PacketError> {
    dns_name::normalize(name).ok_or_else(|| PacketError::BadDomain(name.to_string()))
}

fn write_name(name: &str, out: &mut Vec<u8>) -> Result<(), PacketError> {
    dns_name::write(name, out).ok_or_else(|| PacketError::BadDomain(name.to_string()))
}

fn read_names(b: &[u8]) -> Option<Vec<String>> {
    dns_name::read_list(b)
}
