//! What one VRRP instance is configured with, as the state machine needs it.

use std::net::IpAddr;
use std::time::Duration;

use crate::packet::{Auth, Version};

/// One virtual router's parameters (RFC 9568 6.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceConfig {
    /// Virtual router id, 1–255.
    pub vrid: u8,
    /// Protocol version.
    pub version: Version,
    /// Priority, 1–255 (255: this router owns the addresses).
    pub priority: u8,
    /// Advertisement_Interval in centiseconds (v2: a multiple of 100).
    pub advert_interval_cs: u16,
    /// Whether a higher priority Backup preempts a lower priority Master.
    pub preempt: bool,
    /// How long a Backup waits, after first seeing a lower priority Master, before
    /// preempting it (keepalived's `preempt_delay`).
    pub preempt_delay: Duration,
    /// Accept_Mode: carried and reported; enforcement is the daemon's job.
    pub accept_mode: bool,
    /// The virtual addresses, the family of `primary_address` (IPv6: link-local first).
    pub addresses: Vec<IpAddr>,
    /// VRRPv2 authentication; `Auth::None` for v3.
    pub auth: Auth,
    /// Whether a grant is needed to be Master (the initial mode; grants switch it).
    pub fenced: bool,
    /// This router's address on the link: the advert source and the tie breaker.
    pub primary_address: IpAddr,
}

/// A configuration the state machine cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// VRID 0 is reserved.
    #[error("vrid must be 1 to 255")]
    Vrid,
    /// Priority 0 is reserved for the leaving Master's advert.
    #[error("priority must be 1 to 255")]
    Priority,
    /// The interval does not fit the version's field.
    #[error(
        "advertisement interval {0} cs is out of range (v3: 1..=4095 cs; v2: 100..=25500 cs in whole seconds)"
    )]
    Interval(u16),
    /// VRRPv2 runs over IPv4 only.
    #[error("VRRPv2 is IPv4 only")]
    V2Ipv6,
    /// No virtual address, or one of another family.
    #[error("addresses must be non-empty and of one family with the primary address")]
    Addresses,
    /// Authentication is a VRRPv2 feature.
    #[error("authentication is only defined for VRRPv2")]
    AuthV3,
}

impl InstanceConfig {
    /// Checks the values the RFCs constrain.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.vrid == 0 {
            return Err(ConfigError::Vrid);
        }
        if self.priority == 0 {
            return Err(ConfigError::Priority);
        }
        let interval_ok = match self.version {
            Version::V3 => (1..=0x0fff).contains(&self.advert_interval_cs),
            Version::V2 => {
                (100..=25500).contains(&self.advert_interval_cs)
                    && self.advert_interval_cs.is_multiple_of(100)
            }
        };
        if !interval_ok {
            return Err(ConfigError::Interval(self.advert_interval_cs));
        }
        let v4 = self.primary_address.is_ipv4();
        if self.version == Version::V2 && !v4 {
            return Err(ConfigError::V2Ipv6);
        }
        if self.addresses.is_empty() || self.addresses.iter().any(|a| a.is_ipv4() != v4) {
            return Err(ConfigError::Addresses);
        }
        if self.version == Version::V3 && self.auth != Auth::None {
            return Err(ConfigError::AuthV3);
        }
        Ok(())
    }
}
