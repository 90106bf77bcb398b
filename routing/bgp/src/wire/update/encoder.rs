//! Packs announcements and withdrawals into as few UPDATEs as fit.
//!
//! The attribute block is encoded once per call and copied into each
//! message; prefixes are then appended until the next one would pass the
//! negotiated maximum (4096, or 65535 with RFC 8654). IPv4 NLRI with an IPv4
//! next hop go in the classic fields; IPv6 NLRI, and IPv4 NLRI with an IPv6
//! next hop (RFC 8950), go in MP_REACH_NLRI, which is written as the first
//! attribute (RFC 7606 §5.1). Each UPDATE carries one kind of NLRI field
//! only (RFC 7606 §5.1).

use thiserror::Error;

use crate::wire::attrs::encode::{encode_attrs, put};
use crate::wire::attrs::{AttrType, NextHop, PathAttributes, flags};
use crate::wire::header;
use crate::wire::prefix::Prefix;
use crate::wire::types::{AfiSafi, HEADER_LEN, MessageType, SessionParams};

/// Withdrawn Routes Length and Total Path Attribute Length.
const UPDATE_FIXED: usize = HEADER_LEN + 4;
/// Flags, type and a two-octet length.
const ATTR_HEADER_EXT: usize = 4;
/// The longest single prefix on the wire (an IPv6 /128).
const MAX_PREFIX_WIRE: usize = 17;

/// Why an announcement cannot be encoded.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum EncodeError {
    /// The attribute set has no next hop.
    #[error("no next hop to announce")]
    MissingNextHop,
    /// The next hop cannot carry this family on this session (an IPv4 next
    /// hop for IPv6 NLRI, or an IPv6 one for IPv4 without RFC 8950).
    #[error("next hop {next_hop:?} cannot carry {afi_safi}")]
    NextHopFamily {
        /// The NLRI family.
        afi_safi: AfiSafi,
        /// The next hop.
        next_hop: NextHop,
    },
    /// The attributes alone leave no room for a prefix.
    #[error("path attributes of {len} octets leave no room for NLRI")]
    AttributesTooLarge {
        /// Encoded attribute length.
        len: usize,
    },
}

/// Builds UPDATEs for one session.
#[derive(Debug)]
pub struct UpdateEncoder {
    params: SessionParams,
    attrs: Vec<u8>,
}

impl UpdateEncoder {
    /// An encoder for a session with these parameters.
    pub fn new(params: SessionParams) -> Self {
        UpdateEncoder {
            params,
            attrs: Vec::new(),
        }
    }

    /// The session parameters in use.
    pub fn params(&self) -> &SessionParams {
        &self.params
    }

    /// Appends UPDATEs announcing `prefixes` with `attrs` (its `next_hop`
    /// decides the encoding); returns how many messages were written. The
    /// attributes are sent as given: prepending the local AS or setting
    /// LOCAL_PREF is the export policy's job.
    pub fn announce<P: Prefix>(
        &mut self,
        attrs: &PathAttributes,
        prefixes: impl IntoIterator<Item = P>,
        out: &mut Vec<u8>,
    ) -> Result<usize, EncodeError> {
        let next_hop = attrs.next_hop.ok_or(EncodeError::MissingNextHop)?;
        let family = P::AFI_SAFI;
        let classic = match (family, next_hop) {
            (AfiSafi::IPV4_UNICAST, NextHop::V4(_)) => true,
            (AfiSafi::IPV4_UNICAST, NextHop::V6 { .. }) if self.params.ipv4_extended_next_hop => {
                false
            }
            (AfiSafi::IPV6_UNICAST, NextHop::V6 { .. }) => false,
            _ => {
                return Err(EncodeError::NextHopFamily {
                    afi_safi: family,
                    next_hop,
                });
            }
        };
        self.attrs.clear();
        encode_attrs(attrs, &self.params, classic, &mut self.attrs);
        let mp_fixed = if classic {
            0
        } else {
            ATTR_HEADER_EXT + 5 + next_hop_len(next_hop)
        };
        let overhead = UPDATE_FIXED + self.attrs.len() + mp_fixed;
        if overhead + MAX_PREFIX_WIRE > self.params.max_send_len {
            return Err(EncodeError::AttributesTooLarge {
                len: self.attrs.len(),
            });
        }
        let max = self.params.max_send_len;
        let mut iter = prefixes.into_iter().peekable();
        let mut messages = 0;
        while iter.peek().is_some() {
            let start = header::begin(out, MessageType::Update);
            out.extend_from_slice(&[0, 0, 0, 0]);
            let mp_at = out.len();
            if !classic {
                out.extend_from_slice(&[
                    flags::OPTIONAL | flags::EXTENDED_LENGTH,
                    AttrType::MP_REACH_NLRI.0,
                    0,
                    0,
                ]);
                out.extend_from_slice(&family.afi.0.to_be_bytes());
                out.push(family.safi.0);
                write_next_hop(next_hop, out);
                out.push(0);
            } else {
                out.extend_from_slice(&self.attrs);
            }
            let mut size = overhead;
            while let Some(p) = iter.next_if(|p| size + p.wire_len() <= max) {
                size += p.wire_len();
                p.write(out);
            }
            if !classic {
                let mp_len = out.len() - mp_at - ATTR_HEADER_EXT;
                put_u16(out, mp_at + 2, mp_len);
                out.extend_from_slice(&self.attrs);
            }
            let attr_len = if classic {
                self.attrs.len()
            } else {
                out.len() - mp_at
            };
            put_u16(out, start + HEADER_LEN + 2, attr_len);
            header::finish(out, start);
            messages += 1;
        }
        Ok(messages)
    }

    /// Appends UPDATEs withdrawing `prefixes`: the Withdrawn Routes field
    /// for IPv4, MP_UNREACH_NLRI for IPv6. Returns how many messages.
    pub fn withdraw<P: Prefix>(
        &mut self,
        prefixes: impl IntoIterator<Item = P>,
        out: &mut Vec<u8>,
    ) -> usize {
        let family = P::AFI_SAFI;
        let classic = family == AfiSafi::IPV4_UNICAST;
        let max = self.params.max_send_len;
        let overhead = UPDATE_FIXED + if classic { 0 } else { ATTR_HEADER_EXT + 3 };
        let mut iter = prefixes.into_iter().peekable();
        let mut messages = 0;
        while iter.peek().is_some() {
            let start = header::begin(out, MessageType::Update);
            out.extend_from_slice(&[0, 0]);
            if !classic {
                out.extend_from_slice(&[
                    0,
                    0,
                    flags::OPTIONAL | flags::EXTENDED_LENGTH,
                    AttrType::MP_UNREACH_NLRI.0,
                    0,
                    0,
                ]);
                out.extend_from_slice(&family.afi.0.to_be_bytes());
                out.push(family.safi.0);
            }
            let field_at = out.len();
            let mut size = overhead;
            while let Some(p) = iter.next_if(|p| size + p.wire_len() <= max) {
                size += p.wire_len();
                p.write(out);
            }
            let field_len = out.len() - field_at;
            if classic {
                put_u16(out, start + HEADER_LEN, field_len);
                out.extend_from_slice(&[0, 0]);
            } else {
                put_u16(out, start + HEADER_LEN + 2, field_len + ATTR_HEADER_EXT + 3);
                put_u16(out, start + HEADER_LEN + 6, field_len + 3);
            }
            header::finish(out, start);
            messages += 1;
        }
        messages
    }

    /// Appends the End-of-RIB marker for `family` (RFC 4724 §2): an empty
    /// UPDATE for IPv4 unicast, an empty MP_UNREACH_NLRI otherwise.
    pub fn end_of_rib(&self, family: AfiSafi, out: &mut Vec<u8>) {
        let start = header::begin(out, MessageType::Update);
        out.extend_from_slice(&[0, 0]);
        if family == AfiSafi::IPV4_UNICAST {
            out.extend_from_slice(&[0, 0]);
        } else {
            out.extend_from_slice(&[0, 6]);
            put(out, flags::OPTIONAL, AttrType::MP_UNREACH_NLRI, |o| {
                o.extend_from_slice(&family.afi.0.to_be_bytes());
                o.push(family.safi.0);
            });
        }
        header::finish(out, start);
    }
}

fn next_hop_len(nh: NextHop) -> usize {
    match nh {
        NextHop::V4(_) => 4,
        NextHop::V6 {
            link_local: None, ..
        } => 16,
        NextHop::V6 {
            link_local: Some(_),
            ..
        } => 32,
    }
}

fn write_next_hop(nh: NextHop, out: &mut Vec<u8>) {
    out.push(u8::try_from(next_hop_len(nh)).unwrap_or(0));
    match nh {
        NextHop::V4(a) => out.extend_from_slice(&a.octets()),
        NextHop::V6 { global, link_local } => {
            out.extend_from_slice(&global.octets());
            if let Some(ll) = link_local {
                out.extend_from_slice(&ll.octets());
            }
        }
    }
}

/// Writes a length; encoders keep every message within 65535 octets.
fn put_u16(out: &mut [u8], at: usize, v: usize) {
    let b = u16::try_from(v).unwrap_or(u16::MAX).to_be_bytes();
    out[at..at + 2].copy_from_slice(&b);
}
