//! Value types that appear in many kinds: addresses with prefix lengths,
//! prefixes, Go-style durations and `Kind/name` references.
//!
//! Each is written as a string in YAML and parsed with a message that says
//! what a correct value looks like.

use std::borrow::Cow;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;
use std::time::Duration;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Implements serde and schemars for a type written as one string.
macro_rules! string_value {
    ($ty:ty, $name:literal, $description:literal) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = Cow::<str>::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }

        impl JsonSchema for $ty {
            fn schema_name() -> Cow<'static, str> {
                $name.into()
            }

            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({ "type": "string", "description": $description })
            }
        }
    };
}

/// An IPv4 address with its prefix length, as configured on an interface
/// (`192.0.2.1/24`; host bits are the point).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Cidr(pub Ipv4Net);

/// An IPv6 address with its prefix length, as configured on an interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv6Cidr(pub Ipv6Net);

/// An IPv4 network prefix such as a route destination (`10.0.0.0/8`); host
/// bits must be zero, a bare address means `/32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Prefix(pub Ipv4Net);

/// An IPv6 network prefix such as a route destination (`2001:db8::/32`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv6Prefix(pub Ipv6Net);

fn split_cidr<'a>(text: &'a str, family: &str, example: &str) -> Result<(&'a str, u8), String> {
    let (addr, len) = text
        .split_once('/')
        .ok_or_else(|| format!("`{text}` has no prefix length; write it like {example}"))?;
    let len: u8 = len
        .parse()
        .map_err(|_| format!("`{text}`: prefix length `{len}` is not a number"))?;
    let max = if family == "IPv4" { 32 } else { 128 };
    if len > max {
        return Err(format!(
            "`{text}`: an {family} prefix length is at most {max}"
        ));
    }
    Ok((addr, len))
}

impl FromStr for Ipv4Cidr {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let (addr, len) = split_cidr(text, "IPv4", "192.0.2.1/24")?;
        let addr: Ipv4Addr = addr
            .parse()
            .map_err(|_| format!("`{text}`: `{addr}` is not an IPv4 address"))?;
        Ipv4Net::new(addr, len)
            .map(Ipv4Cidr)
            .map_err(|e| format!("`{text}`: {e}"))
    }
}

impl FromStr for Ipv6Cidr {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let (addr, len) = split_cidr(text, "IPv6", "2001:db8::1/64")?;
        let addr: Ipv6Addr = addr
            .parse()
            .map_err(|_| format!("`{text}`: `{addr}` is not an IPv6 address"))?;
        Ipv6Net::new(addr, len)
            .map(Ipv6Cidr)
            .map_err(|e| format!("`{text}`: {e}"))
    }
}

impl FromStr for Ipv4Prefix {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let net = if text.contains('/') {
            Ipv4Cidr::from_str(text)?.0
        } else {
            let addr: Ipv4Addr = text
                .parse()
                .map_err(|_| format!("`{text}` is not an IPv4 prefix (like 10.0.0.0/8)"))?;
            Ipv4Net::from(addr)
        };
        if net.addr() != net.network() {
            return Err(format!(
                "`{text}` has host bits set; did you mean {}/{}?",
                net.network(),
                net.prefix_len()
            ));
        }
        Ok(Ipv4Prefix(net))
    }
}

impl FromStr for Ipv6Prefix {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let net = if text.contains('/') {
            Ipv6Cidr::from_str(text)?.0
        } else {
            let addr: Ipv6Addr = text
                .parse()
                .map_err(|_| format!("`{text}` is not an IPv6 prefix (like 2001:db8::/32)"))?;
            Ipv6Net::from(addr)
        };
        if net.addr() != net.network() {
            return Err(format!(
                "`{text}` has host bits set; did you mean {}/{}?",
                net.network(),
                net.prefix_len()
            ));
        }
        Ok(Ipv6Prefix(net))
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
impl fmt::Display for Ipv6Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
impl fmt::Display for Ipv4Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
impl fmt::Display for Ipv6Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

string_value!(
    Ipv4Cidr,
    "Ipv4Cidr",
    "An IPv4 address with prefix length, e.g. 192.0.2.1/24"
);
string_value!(
    Ipv6Cidr,
    "Ipv6Cidr",
    "An IPv6 address with prefix length, e.g. 2001:db8::1/64"
);
string_value!(
    Ipv4Prefix,
    "Ipv4Prefix",
    "An IPv4 network prefix, e.g. 10.0.0.0/8 (0.0.0.0/0 is the default route)"
);
string_value!(
    Ipv6Prefix,
    "Ipv6Prefix",
    "An IPv6 network prefix, e.g. 2001:db8::/32 (::/0 is the default route)"
);

impl Ipv4Prefix {
    /// The prefix as a family-neutral network.
    pub fn net(&self) -> IpNet {
        IpNet::V4(self.0)
    }
}

impl Ipv6Prefix {
    /// The prefix as a family-neutral network.
    pub fn net(&self) -> IpNet {
        IpNet::V6(self.0)
    }
}

/// A duration written the way Go writes them: `100ms`, `2s`, `1m30s`, `1.5h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GoDuration(pub Duration);

impl FromStr for GoDuration {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        parse_go_duration(text).map(GoDuration).ok_or_else(|| {
            format!("`{text}` is not a duration; write it like 500ms, 10s, 1m30s or 2h")
        })
    }
}

fn parse_go_duration(text: &str) -> Option<Duration> {
    if text == "0" {
        return Some(Duration::ZERO);
    }
    let mut rest = text;
    let mut total = 0f64;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if number_len == 0 {
            return None;
        }
        let number: f64 = rest[..number_len].parse().ok()?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds_per_unit = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += number * seconds_per_unit;
    }
    // Beyond about 292 years the value is surely a typo; refuse it rather
    // than overflow.
    if !total.is_finite() || total > 9.2e9 {
        return None;
    }
    Some(Duration::from_secs_f64(total))
}

impl fmt::Display for GoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        if d.is_zero() {
            return f.write_str("0s");
        }
        if d.subsec_nanos() == 0 {
            let mut secs = d.as_secs();
            let (h, m);
            h = secs / 3600;
            secs %= 3600;
            m = secs / 60;
            secs %= 60;
            if h > 0 {
                write!(f, "{h}h")?;
            }
            if m > 0 {
                write!(f, "{m}m")?;
            }
            if secs > 0 {
                write!(f, "{secs}s")?;
            }
            Ok(())
        } else if d.subsec_nanos().is_multiple_of(1_000_000) && d.as_secs() == 0 {
            write!(f, "{}ms", d.subsec_millis())
        } else {
            write!(f, "{}ms", d.as_secs_f64() * 1000.0)
        }
    }
}

string_value!(
    GoDuration,
    "Duration",
    "A duration such as 500ms, 10s, 1m30s or 2h"
);

/// A reference to another resource written `Kind/name`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceRef {
    /// The referenced kind.
    pub kind: String,
    /// The referenced resource's name.
    pub name: String,
}

impl FromStr for ResourceRef {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        match text.split_once('/') {
            Some((kind, name)) if !kind.is_empty() && !name.is_empty() && !name.contains('/') => {
                Ok(ResourceRef {
                    kind: kind.to_string(),
                    name: name.to_string(),
                })
            }
            _ => Err(format!(
                "`{text}` is not a resource reference; write it as Kind/name, e.g. IPv4StaticAddress/lan-v4"
            )),
        }
    }
}

impl fmt::Display for ResourceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind, self.name)
    }
}

string_value!(
    ResourceRef,
    "ResourceRef",
    "A reference to another resource, written Kind/name"
);

/// True for addresses that can never be configured on an interface.
pub fn is_unassignable(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(a) => a.is_unspecified() || a.is_multicast() || a.is_broadcast(),
        IpAddr::V6(a) => a.is_unspecified() || a.is_multicast(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_keep_host_bits_and_explain_mistakes() {
        let c: Ipv4Cidr = "192.0.2.1/24".parse().unwrap();
        assert_eq!(c.to_string(), "192.0.2.1/24");
        assert!(
            "192.0.2.1"
                .parse::<Ipv4Cidr>()
                .unwrap_err()
                .contains("no prefix length")
        );
        assert!(
            "192.0.2.300/24"
                .parse::<Ipv4Cidr>()
                .unwrap_err()
                .contains("not an IPv4 address")
        );
        assert!(
            "192.0.2.1/33"
                .parse::<Ipv4Cidr>()
                .unwrap_err()
                .contains("at most 32")
        );
        assert!("2001:db8::1/64".parse::<Ipv6Cidr>().is_ok());
        assert!("2001:db8::1/64".parse::<Ipv4Cidr>().is_err());
    }

    #[test]
    fn prefixes_reject_host_bits_with_a_suggestion() {
        assert!("10.0.0.0/8".parse::<Ipv4Prefix>().is_ok());
        let err = "10.1.2.3/8".parse::<Ipv4Prefix>().unwrap_err();
        assert!(err.contains("did you mean 10.0.0.0/8?"), "{err}");
        assert_eq!(
            "10.1.2.3".parse::<Ipv4Prefix>().unwrap().to_string(),
            "10.1.2.3/32"
        );
        assert!("2001:db8::1/32".parse::<Ipv6Prefix>().is_err());
        assert_eq!("::/0".parse::<Ipv6Prefix>().unwrap().to_string(), "::/0");
    }

    #[test]
    fn go_durations() {
        let d = |s: &str| s.parse::<GoDuration>().map(|d| d.0);
        assert_eq!(d("100ms"), Ok(Duration::from_millis(100)));
        assert_eq!(d("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(d("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(d("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(d("0"), Ok(Duration::ZERO));
        assert!(d("10").is_err());
        assert!(d("5 s").is_err());
        assert!(d("").is_err());
        assert_eq!(GoDuration(Duration::from_secs(90)).to_string(), "1m30s");
        assert_eq!(GoDuration(Duration::from_millis(250)).to_string(), "250ms");
    }

    #[test]
    fn resource_refs() {
        let r: ResourceRef = "IPv4StaticAddress/lan".parse().unwrap();
        assert_eq!(
            (r.kind.as_str(), r.name.as_str()),
            ("IPv4StaticAddress", "lan")
        );
        assert!("lan".parse::<ResourceRef>().is_err());
        assert!("A/b/c".parse::<ResourceRef>().is_err());
    }
}
