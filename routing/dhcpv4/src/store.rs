//! The lease as it is kept on disk, and the rules for taking it back after a
//! restart: only on the same interface, with the same client identifier,
//! and only while it is still valid. A lease taken back is confirmed with
//! INIT-REBOOT (RFC 2131 §3.2) before it counts as bound. Pure: text in and
//! out; the daemon does the file I/O (atomic write).
//!
//! `Instant`s do not survive a restart, so the record keeps the wall-clock
//! time the lease was obtained. A wall clock that went backwards since then
//! cannot say how much of the lease is left: such a lease is not restored
//! (a fresh DISCOVER is safe, an overlong lease is not).

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::client::{Lease, usable_address};
use crate::message::LeaseOptions;
use crate::routes::Route;
use crate::timers::{LeaseTimes, Timers, TimesError};

pub use routerd_dhcpv6_core::store::{hex, unhex};

/// The record's format version.
pub const VERSION: u32 = 1;

/// The lease file's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LeaseRecord {
    /// Format version.
    pub version: u32,
    /// The interface the lease was obtained on.
    pub interface: String,
    /// Our client identifier (option 61), hex.
    pub client_id: String,
    /// The leased address.
    pub address: Ipv4Addr,
    /// The server that granted it.
    pub server_id: Ipv4Addr,
    /// Subnet mask as a prefix length, if the server sent one.
    pub prefix_len: Option<u8>,
    /// Routers (option 3).
    pub routers: Vec<Ipv4Addr>,
    /// DNS servers (option 6).
    pub dns_servers: Vec<Ipv4Addr>,
    /// Domain name (option 15).
    pub domain: Option<String>,
    /// Interface MTU (option 26).
    pub mtu: Option<u16>,
    /// Classless static routes (option 121), if sent.
    pub routes: Option<Vec<Route>>,
    /// Lease time, seconds, as sent.
    pub lease_secs: u32,
    /// T1, seconds, as sent (repaired again on restore).
    pub t1_secs: Option<u32>,
    /// T2, seconds, as sent.
    pub t2_secs: Option<u32>,
    /// When the REQUEST that got the lease was sent, Unix milliseconds.
    pub obtained_unix_ms: u64,
}

/// Why a stored lease is not taken back.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RestoreError {
    /// Not JSON, or not this format.
    #[error("the lease file is corrupt: {0}")]
    Corrupt(String),
    /// Written by another format version.
    #[error("the lease file has format version {0}, this client writes {VERSION}")]
    Version(u32),
    /// Obtained on another interface.
    #[error("the lease was obtained on {stored}, not {current}")]
    OtherInterface {
        /// In the file.
        stored: String,
        /// Now.
        current: String,
    },
    /// Obtained with another client identifier.
    #[error("the lease was obtained with another client identifier")]
    OtherClientId,
    /// The wall clock is earlier than when the lease was obtained.
    #[error("the wall clock went backwards since the lease was obtained")]
    ClockWentBack,
    /// The lease time is over.
    #[error("the lease has expired")]
    Expired,
    /// The stored times do not make a lease.
    #[error("the stored lease time is not usable: {0}")]
    Times(#[from] TimesError),
}

impl LeaseRecord {
    /// The record for `lease`, obtained at `obtained_unix_ms`.
    pub fn new(
        interface: &str,
        client_id: &[u8],
        lease: &Lease,
        obtained_unix_ms: u64,
    ) -> LeaseRecord {
        let o = &lease.options;
        LeaseRecord {
            version: VERSION,
            interface: interface.to_string(),
            client_id: hex(client_id),
            address: lease.address,
            server_id: lease.server_id,
            prefix_len: o.prefix_len,
            routers: o.routers.clone(),
            dns_servers: o.dns_servers.clone(),
            domain: o.domain.clone(),
            mtu: o.mtu,
            routes: o.routes.clone(),
            lease_secs: lease.times.lease.unwrap_or(0),
            t1_secs: lease.times.t1,
            t2_secs: lease.times.t2,
            obtained_unix_ms,
        }
    }

    /// The file's text.
    pub fn to_text(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }

    /// Reads a lease file and decides whether it may be used on `interface`
    /// with `client_id`, at wall-clock `now_unix_ms` and monotonic `now`.
    /// The lease's `obtained` is placed in the past accordingly.
    pub fn restore(
        text: &str,
        interface: &str,
        client_id: &[u8],
        now_unix_ms: u64,
        now: Instant,
    ) -> Result<Lease, RestoreError> {
        let r: LeaseRecord =
            serde_json::from_str(text).map_err(|e| RestoreError::Corrupt(e.to_string()))?;
        if r.version != VERSION {
            return Err(RestoreError::Version(r.version));
        }
        if r.interface != interface {
            return Err(RestoreError::OtherInterface {
                stored: r.interface,
                current: interface.to_string(),
            });
        }
        if unhex(&r.client_id).as_deref() != Some(client_id) {
            return Err(RestoreError::OtherClientId);
        }
        if !usable_address(r.address) || !usable_address(r.server_id) {
            return Err(RestoreError::Corrupt(
                "address or serverId is not unicast".into(),
            ));
        }
        if r.prefix_len.is_some_and(|l| l == 0 || l > 32) {
            return Err(RestoreError::Corrupt("prefixLen is not 1-32".into()));
        }
        if now_unix_ms < r.obtained_unix_ms {
            return Err(RestoreError::ClockWentBack);
        }
        let age = Duration::from_millis(now_unix_ms - r.obtained_unix_ms);
        let times = LeaseTimes {
            lease: Some(r.lease_secs),
            t1: r.t1_secs,
            t2: r.t2_secs,
        };
        let (timers, _) = Timers::from_reply(times)?;
        if timers.expire.is_some_and(|e| age >= e) {
            return Err(RestoreError::Expired);
        }
        // An age beyond what this boot's monotonic clock can express means
        // the machine booted since: the lease cannot be placed, so it is
        // not trusted.
        let obtained = now.checked_sub(age).ok_or(RestoreError::ClockWentBack)?;
        Ok(Lease {
            address: r.address,
            server_id: r.server_id,
            options: LeaseOptions {
                prefix_len: r.prefix_len,
                routers: r.routers,
                dns_servers: r.dns_servers,
                domain: r.domain,
                mtu: r.mtu,
                routes: r.routes,
            },
            times,
            timers,
            obtained,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLIENT_ID: [u8; 7] = [1, 2, 0, 0, 0, 0, 1];

    fn lease(now: Instant) -> Lease {
        let times = LeaseTimes {
            lease: Some(120),
            t1: Some(10),
            t2: Some(20),
        };
        Lease {
            address: "192.0.2.10".parse().expect("ip"),
            server_id: "192.0.2.1".parse().expect("ip"),
            options: LeaseOptions {
                prefix_len: Some(24),
                routers: vec!["192.0.2.1".parse().expect("ip")],
                dns_servers: vec!["192.0.2.53".parse().expect("ip")],
                domain: Some("lab.example".into()),
                mtu: Some(1500),
                routes: Some(vec![Route {
                    destination: "10.0.0.0/8".parse().expect("net"),
                    gateway: "192.0.2.1".parse().expect("ip"),
                }]),
            },
            times,
            timers: Timers::from_reply(times).expect("valid").0,
            obtained: now,
        }
    }

    #[test]
    fn a_lease_survives_a_restart_with_its_age() {
        let now = Instant::now();
        let l = lease(now);
        let text = LeaseRecord::new("wan0", &CLIENT_ID, &l, 1_000_000).to_text();
        let later = now + Duration::from_secs(30);
        let back =
            LeaseRecord::restore(&text, "wan0", &CLIENT_ID, 1_030_000, later).expect("restores");
        assert_eq!(back, l);
    }

    #[test]
    fn another_interface_client_id_or_an_expired_lease_is_refused() {
        let now = Instant::now() + Duration::from_secs(1000);
        let text = LeaseRecord::new("wan0", &CLIENT_ID, &lease(now), 1_000_000).to_text();
        let at = |ms| LeaseRecord::restore(&text, "wan0", &CLIENT_ID, ms, now);
        assert!(matches!(
            LeaseRecord::restore(&text, "wan1", &CLIENT_ID, 1_000_000, now),
            Err(RestoreError::OtherInterface { .. })
        ));
        assert_eq!(
            LeaseRecord::restore(&text, "wan0", &[1, 9, 9, 9, 9, 9, 9], 1_000_000, now),
            Err(RestoreError::OtherClientId)
        );
        assert_eq!(at(1_120_000), Err(RestoreError::Expired));
        assert_eq!(at(999_999), Err(RestoreError::ClockWentBack));
        assert!(at(1_119_999).is_ok());
    }

    #[test]
    fn a_corrupt_or_foreign_file_is_an_error_not_a_panic() {
        let now = Instant::now();
        for text in ["", "{", "null", "[]", "{\"version\":1}", "\u{0}\u{ff}"] {
            assert!(matches!(
                LeaseRecord::restore(text, "wan0", &CLIENT_ID, 0, now),
                Err(RestoreError::Corrupt(_))
            ));
        }
        let record = LeaseRecord::new("wan0", &CLIENT_ID, &lease(now), 0);
        let try_with = |f: &dyn Fn(&mut LeaseRecord)| {
            let mut r = record.clone();
            f(&mut r);
            LeaseRecord::restore(&r.to_text(), "wan0", &CLIENT_ID, 0, now)
        };
        assert_eq!(try_with(&|r| r.version = 2), Err(RestoreError::Version(2)));
        assert_eq!(
            try_with(&|r| r.lease_secs = 0),
            Err(RestoreError::Times(TimesError::ZeroLease))
        );
        assert!(matches!(
            try_with(&|r| r.address = "255.255.255.255".parse().expect("ip")),
            Err(RestoreError::Corrupt(_))
        ));
        assert!(matches!(
            try_with(&|r| r.prefix_len = Some(40)),
            Err(RestoreError::Corrupt(_))
        ));
        // Nonsense T1/T2 are repaired again, as when they first arrived.
        let back = try_with(&|r| {
            r.t1_secs = Some(500);
            r.t2_secs = None;
        })
        .expect("restores");
        assert_eq!(back.timers.renew, Some(Duration::from_secs(60)));
    }
}
