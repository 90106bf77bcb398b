//! Between the wire and the state machine: a server's BOOTREPLY to
//! [`Reply`], an [`Outgoing`] to a BOOTREQUEST. Nothing here decides
//! anything; a packet that does not parse, or is not an OFFER, ACK or NAK,
//! is an error the edge counts and drops.
//!
//! dhcproto 0.15's v4 decoder is not safe on hostile input, so a packet is
//! checked before dhcproto sees it:
//! - `chaddr()` slices the 16-byte field by `hlen`; an `hlen` above 16
//!   panics. Such packets are refused.
//! - It subtracts fixed sizes from option lengths (Client FQDN, bulk
//!   leasequery status) and `debug_assert!`s exact lengths (Rapid Commit,
//!   Client Network Interface, the bulk leasequery times): an overflow or
//!   assertion panic in debug builds. Those options are checked first,
//!   over the same runs of consecutive instances dhcproto concatenates.
//! - It stops reading options, silently, at the first one it cannot
//!   decode (a non-UTF-8 string, say), dropping every option after it. So
//!   the option values the client uses are read here from the raw option
//!   area (RFC 3396: all instances of a code concatenated), and dhcproto
//!   only reads the fixed header.
//!
//! Options in `sname`/`file` (option overload, 52) are not read: the client
//! never asks for them, and a server needs them only when the options field
//! is full.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use dhcproto::v4::{self, DhcpOption, Flags, MessageType, Opcode, OptionCode, UnknownOption};
use dhcproto::{Decodable, Encodable};
use thiserror::Error;

use crate::message::{Identity, LeaseOptions, MessageKind, Outgoing, Reply, ReplyKind};
use crate::routes;
use crate::timers::LeaseTimes;

/// Why a packet was not handed to the client.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CodecError {
    /// Not a well-formed DHCP message.
    #[error("malformed DHCPv4 message: {0}")]
    Malformed(String),
    /// A message a client never acts on (a request, DHCPINFORM...).
    #[error("not for a client: {0}")]
    NotForClient(String),
    /// Encoding failed (only with absurd sizes).
    #[error("cannot encode: {0}")]
    Encode(String),
}

fn malformed(why: impl Into<String>) -> CodecError {
    CodecError::Malformed(why.into())
}

/// The fixed BOOTP header plus the magic cookie.
pub const HEADER_LEN: usize = 240;
/// The magic cookie (RFC 2131 §3).
pub const MAGIC: [u8; 4] = [99, 130, 83, 99];
/// BOOTP's minimum message size, which some relays still insist on
/// (RFC 1542 §2.1): requests are padded to it.
pub const MIN_LEN: usize = 300;
/// The options the client asks for (option 55): mask, router, DNS, domain,
/// MTU, classless routes, and the lease time, T1 and T2.
pub const PARAMETER_REQUEST_LIST: [u8; 9] = [1, 3, 6, 15, 26, 121, 51, 58, 59];

/// Whether one run of consecutive instances of `code` (as dhcproto joins
/// them) has a length dhcproto can read without panicking.
fn run_fits(code: u8, len: usize) -> bool {
    match code {
        80 => len == 0,        // Rapid Commit: debug_assert!(len == 0)
        81 => len >= 3,        // Client FQDN: len - 3
        94 => len == 3,        // Client Network Interface: debug_assert!
        151 => len >= 1,       // Bulk leasequery status: len - 1
        152..=155 => len == 4, // Bulk leasequery times: debug_assert!
        _ => true,
    }
}

/// Walks the option area: every option's length must fit the message, and
/// the options dhcproto mishandles must have lengths it survives. Returns
/// each code's value with all its instances concatenated (RFC 3396).
fn walk_options(mut b: &[u8]) -> Result<HashMap<u8, Vec<u8>>, CodecError> {
    let mut values: HashMap<u8, Vec<u8>> = HashMap::new();
    // The run dhcproto would join: (code, total length).
    let mut run: Option<(u8, usize)> = None;
    let check = |run: Option<(u8, usize)>| match run {
        Some((code, len)) if !run_fits(code, len) => {
            Err(malformed(format!("option {code} has length {len}")))
        }
        _ => Ok(()),
    };
    while let Some((&code, rest)) = b.split_first() {
        if code == 0 || code == 255 {
            check(run.take())?;
            if code == 255 {
                return Ok(values);
            }
            b = rest;
            continue;
        }
        let Some((&len, rest)) = rest.split_first() else {
            return Err(malformed(format!("option {code} has no length")));
        };
        let Some((body, next)) = rest.split_at_checked(usize::from(len)) else {
            return Err(malformed(format!(
                "option {code} of length {len} runs past the message"
            )));
        };
        run = match run {
            Some((c, total)) if c == code => Some((c, total + body.len())),
            other => {
                check(other)?;
                Some((code, body.len()))
            }
        };
        values.entry(code).or_default().extend_from_slice(body);
        b = next;
    }
    // No End option: accepted, as dhcproto and most clients do.
    check(run)?;
    Ok(values)
}

fn ipv4(b: &[u8]) -> Option<Ipv4Addr> {
    <[u8; 4]>::try_from(b).ok().map(Ipv4Addr::from)
}

fn u32_of(b: &[u8]) -> Option<u32> {
    <[u8; 4]>::try_from(b).ok().map(u32::from_be_bytes)
}

fn ipv4_list(b: &[u8]) -> Vec<Ipv4Addr> {
    if !b.len().is_multiple_of(4) {
        return Vec::new();
    }
    b.chunks_exact(4)
        .filter_map(ipv4)
        .filter(|a| !a.is_unspecified() && !a.is_broadcast())
        .collect()
}

/// A contiguous subnet mask as a prefix length (1..=32).
pub fn mask_len(mask: Ipv4Addr) -> Option<u8> {
    let m = u32::from(mask);
    let len = m.leading_ones();
    if len == 0 || m.checked_shl(len).unwrap_or(0) != 0 {
        return None;
    }
    u8::try_from(len).ok()
}

/// The mask for a prefix length (0..=32).
pub fn len_mask(len: u8) -> Ipv4Addr {
    let len = u32::from(len.min(32));
    Ipv4Addr::from(u32::MAX.checked_shl(32 - len).unwrap_or(0))
}

/// A domain name (option 15) if it looks like one: letters, digits, `-`,
/// `_` and dots, at most 253 characters; trailing NULs and dot dropped.
fn domain(b: &[u8]) -> Option<String> {
    let s = std::str::from_utf8(b).ok()?;
    let s = s.trim_end_matches('\0').trim_end_matches('.');
    let ok = !s.is_empty()
        && s.len() <= 253
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        && !s.split('.').any(|l| l.is_empty() || l.len() > 63);
    ok.then(|| s.to_ascii_lowercase())
}

/// A server's message (option 56) made safe for logs and events.
fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(255)
        .collect::<String>()
        .trim()
        .to_string()
}

/// Parses a packet received on the client port.
pub fn decode(bytes: &[u8]) -> Result<Reply, CodecError> {
    if bytes.len() < HEADER_LEN {
        return Err(malformed(format!(
            "{} bytes, shorter than the header",
            bytes.len()
        )));
    }
    if bytes[0] != 2 {
        return Err(CodecError::NotForClient(format!("op {}", bytes[0])));
    }
    if bytes[2] > 16 {
        return Err(malformed(format!("hlen {} is above 16", bytes[2])));
    }
    if bytes[236..240] != MAGIC {
        return Err(malformed("no DHCP magic cookie"));
    }
    let opts = walk_options(&bytes[HEADER_LEN..])?;
    // Safe now: hlen and every option length have been checked.
    let m = v4::Message::from_bytes(bytes).map_err(|e| malformed(e.to_string()))?;
    let kind = match opts.get(&53).map(Vec::as_slice) {
        Some([2]) => ReplyKind::Offer,
        Some([5]) => ReplyKind::Ack,
        Some([6]) => ReplyKind::Nak,
        Some([t]) => {
            return Err(CodecError::NotForClient(format!("DHCP message type {t}")));
        }
        Some(other) => return Err(malformed(format!("message type of length {}", other.len()))),
        None => {
            return Err(CodecError::NotForClient(
                "BOOTP without a DHCP message type".into(),
            ));
        }
    };
    let server_id = match opts.get(&54) {
        Some(b) => Some(ipv4(b).ok_or_else(|| malformed("server identifier is not 4 bytes"))?),
        None => None,
    };
    let lease = match opts.get(&51) {
        Some(b) => Some(u32_of(b).ok_or_else(|| malformed("lease time is not 4 bytes"))?),
        None => None,
    };
    let (routes, routes_refused) = match opts.get(&121) {
        Some(b) => match routes::decode(b) {
            Ok(r) => (Some(r), false),
            Err(_) => (None, true),
        },
        None => (None, false),
    };
    let options = LeaseOptions {
        prefix_len: opts.get(&1).and_then(|b| ipv4(b)).and_then(mask_len),
        routers: opts.get(&3).map(|b| ipv4_list(b)).unwrap_or_default(),
        dns_servers: opts.get(&6).map(|b| ipv4_list(b)).unwrap_or_default(),
        domain: opts.get(&15).and_then(|b| domain(b)),
        mtu: opts
            .get(&26)
            .and_then(|b| <[u8; 2]>::try_from(b.as_slice()).ok())
            .map(u16::from_be_bytes)
            .filter(|m| *m >= 68),
        routes,
    };
    Ok(Reply {
        kind,
        xid: m.xid(),
        chaddr: m.chaddr().to_vec(),
        yiaddr: m.yiaddr(),
        server_id,
        client_id: opts.get(&61).cloned(),
        times: LeaseTimes {
            lease,
            t1: opts.get(&58).and_then(|b| u32_of(b)),
            t2: opts.get(&59).and_then(|b| u32_of(b)),
        },
        options,
        routes_refused,
        message: opts.get(&56).map(|b| text(b)).filter(|s| !s.is_empty()),
    })
}

fn finish(m: &v4::Message) -> Result<Vec<u8>, CodecError> {
    let mut bytes = m.to_vec().map_err(|e| CodecError::Encode(e.to_string()))?;
    if bytes.len() < MIN_LEN {
        bytes.resize(MIN_LEN, 0);
    }
    Ok(bytes)
}

/// Encodes a message the client sends (RFC 2131 Table 5 decides which
/// options each carries).
pub fn encode(out: &Outgoing, id: &Identity) -> Result<Vec<u8>, CodecError> {
    let unspecified = Ipv4Addr::UNSPECIFIED;
    let mut m = v4::Message::new_with_id(
        out.xid,
        out.ciaddr,
        unspecified,
        unspecified,
        unspecified,
        &id.mac,
    );
    m.set_secs(out.secs);
    if out.broadcast_flag {
        m.set_flags(Flags::default().set_broadcast());
    }
    let opts = m.opts_mut();
    opts.insert(DhcpOption::MessageType(match out.kind {
        MessageKind::Discover => MessageType::Discover,
        MessageKind::Request => MessageType::Request,
        MessageKind::Release => MessageType::Release,
    }));
    if !id.client_id.is_empty() {
        opts.insert(DhcpOption::ClientIdentifier(id.client_id.clone()));
    }
    if let Some(a) = out.requested {
        opts.insert(DhcpOption::RequestedIpAddress(a));
    }
    if let Some(s) = out.server_id {
        opts.insert(DhcpOption::ServerIdentifier(s));
    }
    // A RELEASE carries nothing else (Table 5: "MUST NOT").
    if out.kind != MessageKind::Release {
        if let Some(h) = &id.hostname {
            opts.insert(DhcpOption::Hostname(h.clone()));
        }
        if let Some(c) = &id.class_id {
            opts.insert(DhcpOption::ClassIdentifier(c.clone()));
        }
        opts.insert(DhcpOption::ParameterRequestList(
            PARAMETER_REQUEST_LIST
                .iter()
                .map(|c| OptionCode::from(*c))
                .collect(),
        ));
    }
    finish(&m)
}

/// Encodes `reply` as a server would send it to `mac`: for tests and
/// tools that play the server side.
pub fn encode_reply(reply: &Reply) -> Result<Vec<u8>, CodecError> {
    let unspecified = Ipv4Addr::UNSPECIFIED;
    let mut m = v4::Message::new_with_id(
        reply.xid,
        unspecified,
        reply.yiaddr,
        unspecified,
        unspecified,
        &reply.chaddr[..reply.chaddr.len().min(16)],
    );
    m.set_opcode(Opcode::BootReply);
    let opts = m.opts_mut();
    opts.insert(DhcpOption::MessageType(match reply.kind {
        ReplyKind::Offer => MessageType::Offer,
        ReplyKind::Ack => MessageType::Ack,
        ReplyKind::Nak => MessageType::Nak,
    }));
    if let Some(s) = reply.server_id {
        opts.insert(DhcpOption::ServerIdentifier(s));
    }
    if let Some(id) = &reply.client_id {
        opts.insert(DhcpOption::ClientIdentifier(id.clone()));
    }
    let t = reply.times;
    if let Some(l) = t.lease {
        opts.insert(DhcpOption::AddressLeaseTime(l));
    }
    if let Some(t1) = t.t1 {
        opts.insert(DhcpOption::Renewal(t1));
    }
    if let Some(t2) = t.t2 {
        opts.insert(DhcpOption::Rebinding(t2));
    }
    let o = &reply.options;
    if let Some(len) = o.prefix_len {
        opts.insert(DhcpOption::SubnetMask(len_mask(len)));
    }
    if !o.routers.is_empty() {
        opts.insert(DhcpOption::Router(o.routers.clone()));
    }
    if !o.dns_servers.is_empty() {
        opts.insert(DhcpOption::DomainNameServer(o.dns_servers.clone()));
    }
    if let Some(d) = &o.domain {
        opts.insert(DhcpOption::DomainName(d.clone()));
    }
    if let Some(mtu) = o.mtu {
        opts.insert(DhcpOption::InterfaceMtu(mtu));
    }
    if let Some(r) = &o.routes {
        opts.insert(DhcpOption::Unknown(UnknownOption::new(
            OptionCode::ClasslessStaticRoute,
            routes::encode(r),
        )));
    }
    if let Some(text) = &reply.message {
        opts.insert(DhcpOption::Message(text.clone()));
    }
    finish(&m)
}

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;
