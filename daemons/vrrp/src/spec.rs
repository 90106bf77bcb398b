//! The daemon's JSON config (routerd writes it; `reload` re-reads it).

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use ipnet::IpNet;
use routerd_vrrp_core::{Auth, InstanceConfig, Version};
use serde::{Deserialize, Serialize};

/// The whole config file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VrrpSpec {
    /// This daemon instance's name (status, event source).
    pub name: String,
    /// The virtual routers.
    pub instances: Vec<InstanceSpec>,
}

/// Address family of an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// IPv4.
    Ipv4,
    /// IPv6.
    Ipv6,
}

/// The optional virtual MAC (a macvlan carrying 00:00:5e:00:01:VRID / 00:00:5e:00:02:VRID).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Vmac {
    /// Name of the macvlan link.
    pub ifname: String,
}

/// One virtual router.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InstanceSpec {
    /// Resource name (status, events).
    pub name: String,
    /// routerd's ownership group key; grants address it.
    pub group: String,
    /// The link VRRP runs on.
    pub interface: String,
    /// Address family.
    pub family: Family,
    /// 2 or 3.
    pub version: u8,
    /// Virtual router id, 1–255.
    pub vrid: u8,
    /// Priority, 1–255.
    pub priority: u8,
    /// Advertisement interval in centiseconds (v2: a multiple of 100).
    #[serde(default = "default_interval")]
    pub advert_interval_cs: u16,
    /// Preempt a lower priority Master.
    #[serde(default = "yes")]
    pub preempt: bool,
    /// Wait this long before preempting (keepalived's preempt_delay).
    #[serde(default)]
    pub preempt_delay_ms: u64,
    /// RFC 9568 Accept_Mode (reported; not enforced yet).
    #[serde(default)]
    pub accept_mode: bool,
    /// Virtual addresses with prefix length; IPv6: link-local first.
    pub addresses: Vec<IpNet>,
    /// Send adverts to these instead of multicast, and accept only from them.
    #[serde(default)]
    pub unicast_peers: Vec<IpAddr>,
    /// Source address; default: the link's primary address (IPv6: link-local).
    #[serde(default)]
    pub source_address: Option<IpAddr>,
    /// Virtual MAC (not implemented yet: refused).
    #[serde(default)]
    pub vmac: Option<Vmac>,
    /// VRRPv2 simple text password (keepalived `auth_type PASS`), up to 8 bytes.
    #[serde(default)]
    pub authentication: Option<String>,
    /// Whether a grant from routerd is needed to be Master.
    #[serde(default = "yes")]
    pub fenced: bool,
}

fn default_interval() -> u16 {
    100
}

fn yes() -> bool {
    true
}

/// Why a config cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// Cannot read the file.
    #[error("cannot read {path}: {source}")]
    Read {
        /// File.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// Not valid JSON of this shape.
    #[error("invalid config {path}: {source}")]
    Json {
        /// File.
        path: String,
        /// Cause.
        source: serde_json::Error,
    },
    /// A value is out of range or inconsistent.
    #[error("instance {instance}: {message}")]
    Invalid {
        /// Instance name.
        instance: String,
        /// What is wrong.
        message: String,
    },
}

impl VrrpSpec {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<VrrpSpec, SpecError> {
        let text = std::fs::read_to_string(path).map_err(|source| SpecError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let spec: VrrpSpec = serde_json::from_str(&text).map_err(|source| SpecError::Json {
            path: path.display().to_string(),
            source,
        })?;
        spec.validate()?;
        Ok(spec)
    }

    /// Checks every instance (with a placeholder primary address: the real one
    /// comes from the link at start).
    pub fn validate(&self) -> Result<(), SpecError> {
        let mut names = std::collections::HashSet::new();
        for i in &self.instances {
            let invalid = |message: String| SpecError::Invalid {
                instance: i.name.clone(),
                message,
            };
            if !names.insert(i.name.as_str()) {
                return Err(invalid("duplicate instance name".into()));
            }
            if i.vmac.is_some() {
                return Err(invalid("vmac is not supported by this build".into()));
            }
            if i.authentication
                .as_ref()
                .is_some_and(|a| a.is_empty() || a.len() > 8)
            {
                return Err(invalid("authentication must be 1 to 8 bytes".into()));
            }
            if i.unicast_peers.iter().any(|p| p.is_ipv4() != i.is_ipv4()) {
                return Err(invalid(
                    "unicastPeers must be of the instance's family".into(),
                ));
            }
            let placeholder = if i.is_ipv4() {
                IpAddr::from([192, 0, 2, 1])
            } else {
                IpAddr::from([0xfe80, 0, 0, 0, 0, 0, 0, 1])
            };
            i.core_config(placeholder)
                .map_err(invalid)?
                .validate()
                .map_err(|e| invalid(e.to_string()))?;
        }
        Ok(())
    }
}

impl InstanceSpec {
    /// Whether the instance is IPv4.
    pub fn is_ipv4(&self) -> bool {
        self.family == Family::Ipv4
    }

    /// The state machine's config for this instance with `primary` as source.
    pub fn core_config(&self, primary: IpAddr) -> Result<InstanceConfig, String> {
        let version = match self.version {
            2 => Version::V2,
            3 => Version::V3,
            v => return Err(format!("version must be 2 or 3, not {v}")),
        };
        if version == Version::V3 && self.authentication.is_some() {
            return Err("authentication is VRRPv2 only".into());
        }
        Ok(InstanceConfig {
            vrid: self.vrid,
            version,
            priority: self.priority,
            advert_interval_cs: self.advert_interval_cs,
            preempt: self.preempt,
            preempt_delay: Duration::from_millis(self.preempt_delay_ms),
            accept_mode: self.accept_mode,
            addresses: self.addresses.iter().map(IpNet::addr).collect(),
            auth: self
                .authentication
                .as_deref()
                .map_or(Auth::None, Auth::simple),
            fenced: self.fenced,
            primary_address: primary,
        })
    }
}
