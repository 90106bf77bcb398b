//! NLRI prefixes (RFC 4271 §4.3, RFC 4760 §5): a length octet, then the
//! fewest octets that hold that many bits.
//!
//! A field is checked once ([`Prefixes::parse`], the two rules of RFC 7606
//! §5.3); iterating it afterwards cannot fail and allocates nothing.
//!
//! Trailing bits: RFC 4271 §4.3 and RFC 4760 §5 say "the value of the
//! trailing bits is irrelevant", and RFC 7606 §5.3 does not list them among
//! the errors that make an NLRI field syntactically incorrect. So a received
//! prefix with host bits set is not malformed: the decoder clears them
//! (10.1.2.3/24 reads as 10.1.2.0/24). The encoder always sends them as zero.

use std::fmt;
use std::hash::Hash;
use std::marker::PhantomData;
use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use thiserror::Error;

use super::types::{Afi, AfiSafi};

mod sealed {
    pub trait Sealed {}
    impl Sealed for ipnet::Ipv4Net {}
    impl Sealed for ipnet::Ipv6Net {}
}

/// An IPv4 or IPv6 prefix as NLRI: [`Ipv4Net`] and [`Ipv6Net`].
pub trait Prefix: Copy + Eq + Hash + fmt::Debug + Send + Sync + 'static + sealed::Sealed {
    /// The unicast family this prefix type belongs to.
    const AFI_SAFI: AfiSafi;
    /// The longest valid prefix length (32 or 128).
    const MAX_LEN: u8;
    /// The prefix length.
    fn prefix_len(&self) -> u8;
    /// Octets on the wire: the length octet plus the address octets.
    fn wire_len(&self) -> usize {
        1 + usize::from(self.prefix_len()).div_ceil(8)
    }
    /// Appends the minimal encoding with host bits zeroed.
    fn write(&self, out: &mut Vec<u8>);
    /// Reads a prefix of `len` bits from exactly `ceil(len/8)` octets,
    /// clearing trailing bits.
    fn from_wire(len: u8, octets: &[u8]) -> Option<Self>;
    /// As an [`IpNet`].
    fn to_ipnet(self) -> IpNet;
}

impl Prefix for Ipv4Net {
    const AFI_SAFI: AfiSafi = AfiSafi::IPV4_UNICAST;
    const MAX_LEN: u8 = 32;

    fn prefix_len(&self) -> u8 {
        Ipv4Net::prefix_len(self)
    }

    fn write(&self, out: &mut Vec<u8>) {
        let len = Ipv4Net::prefix_len(self);
        out.push(len);
        let v = u32::from(self.addr()) & mask32(len);
        out.extend_from_slice(&v.to_be_bytes()[..usize::from(len).div_ceil(8)]);
    }

    fn from_wire(len: u8, octets: &[u8]) -> Option<Self> {
        let mut a = [0u8; 4];
        a.get_mut(..octets.len())?.copy_from_slice(octets);
        let v = u32::from_be_bytes(a) & mask32(len);
        Ipv4Net::new(Ipv4Addr::from(v), len).ok()
    }

    fn to_ipnet(self) -> IpNet {
        IpNet::V4(self)
    }
}

impl Prefix for Ipv6Net {
    const AFI_SAFI: AfiSafi = AfiSafi::IPV6_UNICAST;
    const MAX_LEN: u8 = 128;

    fn prefix_len(&self) -> u8 {
        Ipv6Net::prefix_len(self)
    }

    fn write(&self, out: &mut Vec<u8>) {
        let len = Ipv6Net::prefix_len(self);
        out.push(len);
        let v = u128::from(self.addr()) & mask128(len);
        out.extend_from_slice(&v.to_be_bytes()[..usize::from(len).div_ceil(8)]);
    }

    fn from_wire(len: u8, octets: &[u8]) -> Option<Self> {
        let mut a = [0u8; 16];
        a.get_mut(..octets.len())?.copy_from_slice(octets);
        let v = u128::from_be_bytes(a) & mask128(len);
        Ipv6Net::new(Ipv6Addr::from(v), len).ok()
    }

    fn to_ipnet(self) -> IpNet {
        IpNet::V6(self)
    }
}

fn mask32(len: u8) -> u32 {
    u32::MAX
        .checked_shl(32 - u32::from(len.min(32)))
        .unwrap_or(0)
}

fn mask128(len: u8) -> u128 {
    u128::MAX
        .checked_shl(128 - u32::from(len.min(128)))
        .unwrap_or(0)
}

/// Why an NLRI or Withdrawn Routes field is syntactically incorrect
/// (RFC 7606 §5.3).
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq, Hash)]
pub enum NlriError {
    /// A prefix length beyond the family's maximum.
    #[error("prefix length {len} exceeds {max}")]
    TooLong {
        /// The length octet.
        len: u8,
        /// 32 or 128.
        max: u8,
    },
    /// The last prefix needs more octets than the field has left.
    #[error("prefix of length {len} overruns the field ({remaining} octets left)")]
    Overrun {
        /// The length octet.
        len: u8,
        /// Octets left after the length octet.
        remaining: usize,
    },
}

/// A checked, borrowed NLRI field of one family; iterating yields prefixes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Prefixes<'a, P> {
    bytes: &'a [u8],
    _family: PhantomData<P>,
}

impl<P: Prefix> fmt::Debug for Prefixes<'_, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(*self).finish()
    }
}

impl<P: Prefix> Default for Prefixes<'_, P> {
    fn default() -> Self {
        Self::empty()
    }
}

impl<'a, P: Prefix> Prefixes<'a, P> {
    /// Checks a field against RFC 7606 §5.3: no length beyond the family's
    /// maximum and no prefix overrunning the field.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, NlriError> {
        let mut i = 0;
        while let Some(&len) = bytes.get(i) {
            if len > P::MAX_LEN {
                return Err(NlriError::TooLong {
                    len,
                    max: P::MAX_LEN,
                });
            }
            let next = i + 1 + usize::from(len).div_ceil(8);
            if next > bytes.len() {
                return Err(NlriError::Overrun {
                    len,
                    remaining: bytes.len() - i - 1,
                });
            }
            i = next;
        }
        Ok(Prefixes {
            bytes,
            _family: PhantomData,
        })
    }

    /// An empty field.
    pub fn empty() -> Self {
        Prefixes {
            bytes: &[],
            _family: PhantomData,
        }
    }

    /// True when the field holds no prefix.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The field's encoded bytes.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }
}

impl<P: Prefix> Iterator for Prefixes<'_, P> {
    type Item = P;

    fn next(&mut self) -> Option<P> {
        let (&len, rest) = self.bytes.split_first()?;
        let n = usize::from(len).div_ceil(8);
        // Checked in `parse`; `get` keeps this panic-free regardless.
        let Some(octets) = rest.get(..n) else {
            self.bytes = &[];
            return None;
        };
        self.bytes = &rest[n..];
        P::from_wire(len, octets)
    }
}

/// A checked NLRI field of either unicast family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nlri<'a> {
    /// IPv4 unicast prefixes.
    V4(Prefixes<'a, Ipv4Net>),
    /// IPv6 unicast prefixes.
    V6(Prefixes<'a, Ipv6Net>),
}

impl<'a> Nlri<'a> {
    /// Checks `bytes` as NLRI of `afi` (IPv4 or IPv6); `None` for other AFIs.
    pub(crate) fn parse(afi: Afi, bytes: &'a [u8]) -> Option<Result<Self, NlriError>> {
        match afi {
            Afi::IPV4 => Some(Prefixes::parse(bytes).map(Nlri::V4)),
            Afi::IPV6 => Some(Prefixes::parse(bytes).map(Nlri::V6)),
            _ => None,
        }
    }

    /// The family.
    pub fn afi_safi(&self) -> AfiSafi {
        match self {
            Nlri::V4(_) => AfiSafi::IPV4_UNICAST,
            Nlri::V6(_) => AfiSafi::IPV6_UNICAST,
        }
    }

    /// True when no prefix is listed.
    pub fn is_empty(&self) -> bool {
        match self {
            Nlri::V4(p) => p.is_empty(),
            Nlri::V6(p) => p.is_empty(),
        }
    }

    /// The prefixes as [`IpNet`]s (for code that does not care about the family).
    pub fn iter(&self) -> impl Iterator<Item = IpNet> + 'a {
        let (v4, v6) = match *self {
            Nlri::V4(p) => (Some(p), None),
            Nlri::V6(p) => (None, Some(p)),
        };
        v4.into_iter()
            .flatten()
            .map(IpNet::V4)
            .chain(v6.into_iter().flatten().map(IpNet::V6))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> Ipv4Net {
        s.parse().expect("literal")
    }

    #[test]
    fn minimal_octets_and_zero_host_bits_on_encode() {
        let mut out = Vec::new();
        for p in [
            "0.0.0.0/0",
            "10.0.0.0/8",
            "10.1.2.3/24",
            "192.0.2.1/32",
            "172.16.0.0/12",
        ] {
            v4(p).write(&mut out);
        }
        assert_eq!(
            out,
            vec![0, 8, 10, 24, 10, 1, 2, 32, 192, 0, 2, 1, 12, 172, 16]
        );
        let mut out = Vec::new();
        let p: Ipv6Net = "2001:db8:1::1/48".parse().expect("literal");
        p.write(&mut out);
        assert_eq!(out, vec![48, 0x20, 0x01, 0x0d, 0xb8, 0, 1]);
    }

    #[test]
    fn decode_clears_trailing_bits() {
        // 10.1.2.3/23: the last octet's low bit is a trailing bit (RFC 4271 §4.3).
        let field = [23, 10, 1, 3];
        let got: Vec<_> = Prefixes::<Ipv4Net>::parse(&field).expect("valid").collect();
        assert_eq!(got, vec![v4("10.1.2.0/23")]);
    }

    #[test]
    fn rfc7606_5_3_errors() {
        assert_eq!(
            Prefixes::<Ipv4Net>::parse(&[33, 1, 2, 3, 4, 5]),
            Err(NlriError::TooLong { len: 33, max: 32 })
        );
        assert_eq!(
            Prefixes::<Ipv4Net>::parse(&[24, 10, 0, 0, 24, 10, 0]),
            Err(NlriError::Overrun {
                len: 24,
                remaining: 2
            })
        );
        assert!(Prefixes::<Ipv6Net>::parse(&[128; 17]).is_ok());
        assert_eq!(
            Prefixes::<Ipv6Net>::parse(&[129]),
            Err(NlriError::TooLong { len: 129, max: 128 })
        );
        assert!(Prefixes::<Ipv4Net>::parse(&[]).expect("empty").is_empty());
    }

    #[test]
    fn ipv6_roundtrip_all_lengths() {
        let base: Ipv6Addr = "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"
            .parse()
            .expect("literal");
        let mut field = Vec::new();
        let mut want = Vec::new();
        for len in 0..=128u8 {
            let p = Ipv6Net::new(base, len).expect("len").trunc();
            p.write(&mut field);
            want.push(p);
        }
        let got: Vec<_> = Prefixes::<Ipv6Net>::parse(&field).expect("valid").collect();
        assert_eq!(got, want);
    }
}
