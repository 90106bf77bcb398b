//! The daemon's JSON config (routerd renders it from a `DHCPv4Client`
//! resource).

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use routerd_dhcpv4_core::client::usable_address;
use serde::{Deserialize, Serialize};

pub use routerd_contract::spec::SpecError;
use routerd_contract::spec::SpecFile;

/// One client instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Dhcpv4Spec {
    /// Instance name (the resource's name).
    pub name: String,
    /// The interface to configure.
    pub interface: String,
    /// Hostname to send (option 12).
    #[serde(default)]
    pub hostname: Option<String>,
    /// Client identifier (option 61): `01:aa:bb:...` as hex bytes, anything
    /// else as its text. Default: 01 followed by the interface's MAC.
    #[serde(default)]
    pub client_id: Option<String>,
    /// Vendor class identifier (option 60), as text.
    #[serde(default)]
    pub class_id: Option<String>,
    /// An address to ask for in DHCPDISCOVER (option 50).
    #[serde(default)]
    pub requested_address: Option<Ipv4Addr>,
    /// Send DHCPRELEASE when stopped.
    #[serde(default)]
    pub release_on_stop: bool,
    /// Upper bound of the random wait before the first DHCPDISCOVER, ms.
    /// RFC 2131 §4.4.1 suggests 1-10 s to desynchronise fleets; a router is
    /// usually alone on its WAN link, so 0 by default.
    #[serde(default)]
    pub start_delay_max_ms: u64,
    /// The resource events name (routerd sets `DHCPv4Client/NAME`); `name`
    /// when absent.
    #[serde(default)]
    pub resource: Option<String>,
}

/// A client identifier from the config: `xx:xx[:xx...]` is hex bytes,
/// anything else is sent as its text.
pub fn parse_client_id(s: &str) -> Vec<u8> {
    let pairs: Vec<&str> = s.split(':').collect();
    let hex = pairs.len() >= 2
        && pairs
            .iter()
            .all(|p| p.len() == 2 && p.bytes().all(|c| c.is_ascii_hexdigit()));
    if hex {
        pairs
            .iter()
            .filter_map(|p| u8::from_str_radix(p, 16).ok())
            .collect()
    } else {
        s.as_bytes().to_vec()
    }
}

fn hostname_ok(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 253
        && h.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
        })
}

impl Dhcpv4Spec {
    /// Reads and checks a config file.
    pub fn load(path: &Path) -> Result<Dhcpv4Spec, SpecError> {
        let file = SpecFile::<Dhcpv4Spec>::read(path)?;
        let field = |name, message: &str| file.field(name, message);
        let spec = &file.spec;
        if spec.name.is_empty() {
            return Err(field("name", "a non-empty name"));
        }
        if spec.interface.is_empty()
            || spec.interface.len() > 15
            || spec.interface.contains(['/', ':'])
            || spec.interface.contains(char::is_whitespace)
        {
            return Err(field("interface", "an interface name of 1-15 bytes"));
        }
        if spec.hostname.as_deref().is_some_and(|h| !hostname_ok(h)) {
            return Err(field(
                "hostname",
                "letters, digits and hyphens in dot-separated labels of 1-63, at most 253",
            ));
        }
        if let Some(id) = &spec.client_id {
            let n = parse_client_id(id).len();
            if !(2..=255).contains(&n) {
                return Err(field("clientId", "2-255 bytes (RFC 2132 §9.14)"));
            }
        }
        if spec
            .class_id
            .as_deref()
            .is_some_and(|c| c.is_empty() || c.len() > 255)
        {
            return Err(field("classId", "1-255 bytes"));
        }
        if spec.requested_address.is_some_and(|a| !usable_address(a)) {
            return Err(field("requestedAddress", "a unicast IPv4 address"));
        }
        if spec.start_delay_max_ms > 60_000 {
            return Err(field("startDelayMaxMs", "at most 60000"));
        }
        Ok(file.spec)
    }

    /// The start delay bound.
    pub fn start_delay_max(&self) -> Duration {
        Duration::from_millis(self.start_delay_max_ms)
    }

    /// The client identifier to send, given the interface's MAC.
    pub fn client_id_bytes(&self, mac: [u8; 6]) -> Vec<u8> {
        match &self.client_id {
            Some(id) => parse_client_id(id),
            None => routerd_dhcpv4_core::Identity::default_client_id(mac),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Dhcpv4Spec, SpecError> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.json");
        std::fs::write(&path, text).expect("write");
        Dhcpv4Spec::load(&path)
    }

    #[test]
    fn a_minimal_config_gets_the_defaults() {
        let s = load(r#"{"name":"wan-v4","interface":"wan0"}"#).expect("valid");
        assert_eq!(s.start_delay_max(), Duration::ZERO);
        assert!(!s.release_on_stop);
        assert_eq!(
            s.client_id_bytes([2, 0, 0, 0, 0, 1]),
            vec![1, 2, 0, 0, 0, 0, 1]
        );
    }

    #[test]
    fn a_full_config_is_read() {
        let s = load(
            r#"{"name":"wan-v4","interface":"wan0","hostname":"edge1.lab",
                "clientId":"01:AA:bb:cc:dd:ee:ff","classId":"routerd",
                "requestedAddress":"192.0.2.9","releaseOnStop":true,
                "startDelayMaxMs":5000}"#,
        )
        .expect("valid");
        assert_eq!(
            s.client_id_bytes([0; 6]),
            vec![1, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff]
        );
        assert_eq!(s.requested_address, Some(Ipv4Addr::new(192, 0, 2, 9)));
        assert!(s.release_on_stop);
        assert_eq!(s.start_delay_max(), Duration::from_secs(5));
    }

    #[test]
    fn client_ids_are_hex_pairs_or_text() {
        assert_eq!(parse_client_id("01:02"), vec![1, 2]);
        assert_eq!(parse_client_id("isp-line-42"), b"isp-line-42".to_vec());
        // One pair, or odd digits, is text.
        assert_eq!(parse_client_id("ab"), b"ab".to_vec());
        assert_eq!(parse_client_id("01:2"), b"01:2".to_vec());
    }

    #[test]
    fn bad_values_name_their_field_and_position() {
        let e =
            load("{\"name\":\"x\",\n\"interface\":\"wan0\",\n\"bogus\":1}").expect_err("refused");
        assert!(e.to_string().contains("line 3"), "{e}");
        assert!(e.to_string().contains("c.json"), "{e}");
        for (text, field) in [
            (r#"{"name":"x","interface":""}"#, "interface"),
            (
                r#"{"name":"x","interface":"wan0","hostname":"a b"}"#,
                "hostname",
            ),
            (
                r#"{"name":"x","interface":"wan0","clientId":"a"}"#,
                "clientId",
            ),
            (r#"{"name":"x","interface":"wan0","classId":""}"#, "classId"),
            (
                r#"{"name":"x","interface":"wan0","requestedAddress":"224.0.0.1"}"#,
                "requestedAddress",
            ),
            (
                r#"{"name":"x","interface":"wan0","startDelayMaxMs":70000}"#,
                "startDelayMaxMs",
            ),
        ] {
            let e = load(text).expect_err("refused");
            assert!(e.to_string().contains(field), "{field}: {e}");
        }
        let e =
            load(r#"{"name":"x","interface":"wan0","requestedAddress":"x"}"#).expect_err("refused");
        assert!(e.to_string().contains("line 1"), "{e}");
    }
}
