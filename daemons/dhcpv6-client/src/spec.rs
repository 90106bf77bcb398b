//! The daemon's JSON config (routerd renders it from a
//! `DHCPv6PrefixDelegation` resource), and the identity it keeps.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use routerd_contract::spec::SpecError;
use routerd_contract::spec::SpecFile;

/// One client instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Dhcpv6Spec {
    /// Instance name (the resource's name).
    pub name: String,
    /// The upstream interface.
    pub interface: String,
    /// Prefix length to hint in Solicit.
    #[serde(default)]
    pub prefix_hint: Option<u8>,
    /// Ask for Rapid Commit.
    #[serde(default)]
    pub rapid_commit: bool,
    /// Upper bound of the random delay before the first Solicit, ms
    /// (RFC 8415 SOL_MAX_DELAY: 1000).
    #[serde(default = "default_delay")]
    pub solicit_max_delay_ms: u64,
    /// Send Release when stopped.
    #[serde(default)]
    pub release_on_stop: bool,
    /// A fixed DUID (hex); otherwise DUID-LL from the interface's MAC, kept
    /// in the state directory.
    #[serde(default)]
    pub duid: Option<String>,
    /// A fixed IAID; otherwise derived once and kept.
    #[serde(default)]
    pub iaid: Option<u32>,
    /// Run the prefix-delegation client (IA_PD).
    #[serde(default = "yes")]
    pub delegate: bool,
    /// Run the Information-request client (DNS, domains, SNTP, AFTR name)
    /// on the same socket.
    #[serde(default)]
    pub information: bool,
    /// The resource the delegation's events name (routerd sets
    /// `DHCPv6PrefixDelegation/NAME`); `name` when absent.
    #[serde(default)]
    pub delegation_resource: Option<String>,
    /// The resource the information's events name (`DHCPv6Information/NAME`);
    /// `name` when absent.
    #[serde(default)]
    pub information_resource: Option<String>,
}

impl Dhcpv6Spec {
    /// What the delegation's events name as their resource.
    pub fn delegation_id(&self) -> String {
        self.delegation_resource
            .clone()
            .unwrap_or_else(|| self.name.clone())
    }

    /// What the information's events name as their resource.
    pub fn information_id(&self) -> String {
        self.information_resource
            .clone()
            .unwrap_or_else(|| self.name.clone())
    }

    /// Whether a running client can take `other` in place: which clients
    /// run and what they are called may change; the link and the identity
    /// may not, and neither may the settings of a delegation that goes on
    /// running (the server knows it by them).
    pub fn reloadable_to(&self, other: &Dhcpv6Spec) -> bool {
        let identity = self.interface == other.interface && self.duid == other.duid;
        let delegation_goes_on = self.delegate && other.delegate;
        let delegation_same = self.iaid == other.iaid
            && self.prefix_hint == other.prefix_hint
            && self.rapid_commit == other.rapid_commit;
        identity && (!delegation_goes_on || delegation_same)
    }
}

fn default_delay() -> u64 {
    1000
}

fn yes() -> bool {
    true
}

impl Dhcpv6Spec {
    /// Reads and checks a config file.
    pub fn load(path: &Path) -> Result<Dhcpv6Spec, SpecError> {
        let file = SpecFile::<Dhcpv6Spec>::read(path)?;
        let field = |name, message: &str| file.field(name, message);
        let spec = &file.spec;
        if spec.interface.is_empty() || spec.interface.len() > 15 {
            return Err(field("interface", "an interface name of 1-15 bytes"));
        }
        if spec.prefix_hint.is_some_and(|l| l > 128) {
            return Err(field("prefixHint", "a prefix length of 0-128"));
        }
        if !spec.delegate && !spec.information {
            return Err(field(
                "delegate",
                "nothing to do: enable delegate, information or both",
            ));
        }
        if spec.solicit_max_delay_ms > 60_000 {
            return Err(field("solicitMaxDelayMs", "at most 60000"));
        }
        if let Some(d) = &spec.duid
            && (crate::hex_bytes(d).is_none_or(|b| b.len() < 2 || b.len() > 130))
        {
            return Err(field("duid", "hex, 2-130 bytes"));
        }
        Ok(file.spec)
    }

    /// The Solicit delay bound.
    pub fn solicit_max_delay(&self) -> Duration {
        Duration::from_millis(self.solicit_max_delay_ms)
    }
}

/// DUID and IAID, kept in the state directory so a restart presents the
/// same identity (and its lease can be restored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Identity {
    /// Our DUID, hex.
    pub duid: String,
    /// The IA_PD's IAID.
    pub iaid: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Dhcpv6Spec, SpecError> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.json");
        std::fs::write(&path, text).expect("write");
        Dhcpv6Spec::load(&path)
    }

    #[test]
    fn a_minimal_config_gets_the_rfc_defaults() {
        let s = load(r#"{"name":"wan-pd","interface":"wan0"}"#).expect("valid");
        assert_eq!(s.solicit_max_delay(), Duration::from_secs(1));
        assert!(!s.rapid_commit && !s.release_on_stop);
        assert!(s.delegate && !s.information);
    }

    #[test]
    fn a_reload_may_toggle_the_clients_but_not_the_identity() {
        let both = load(r#"{"name":"wan-pd","interface":"wan0","prefixHint":56,"rapidCommit":true,"information":true}"#)
            .expect("valid");
        let info_only =
            load(r#"{"name":"wan-info","interface":"wan0","delegate":false,"information":true}"#)
                .expect("valid");
        assert!(both.reloadable_to(&info_only), "dropping the delegation");
        assert!(info_only.reloadable_to(&both), "adding one");
        let other_hint =
            load(r#"{"name":"wan-pd","interface":"wan0","prefixHint":60,"rapidCommit":true}"#)
                .expect("valid");
        assert!(
            !both.reloadable_to(&other_hint),
            "a running delegation's hint"
        );
        let other_link =
            load(r#"{"name":"wan-info","interface":"wan1","delegate":false,"information":true}"#)
                .expect("valid");
        assert!(!info_only.reloadable_to(&other_link));
    }

    #[test]
    fn bad_values_name_their_field_and_position() {
        let e =
            load("{\"name\":\"x\",\n\"interface\":\"wan0\",\n\"bogus\":1}").expect_err("refused");
        assert!(e.to_string().contains("line 3"), "{e}");
        let e = load(r#"{"name":"x","interface":"wan0","prefixHint":129}"#).expect_err("refused");
        assert!(e.to_string().contains("prefixHint"), "{e}");
        let e = load(r#"{"name":"x","interface":"wan0","duid":"zz"}"#).expect_err("refused");
        assert!(e.to_string().contains("duid"), "{e}");
        let e = load(r#"{"name":"x","interface":""}"#).expect_err("refused");
        assert!(e.to_string().contains("interface"), "{e}");
        let e = load(r#"{"name":"x","interface":"wan0","delegate":false}"#).expect_err("idle");
        assert!(e.to_string().contains("nothing to do"), "{e}");
    }
}
