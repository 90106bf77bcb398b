//! The lease as it is kept on disk, and the rules for taking it back after a
//! restart: only on the same interface, with the same DUID and IAID, and
//! only while it is still valid. Pure: text in and out; the daemon does the
//! file I/O (write to a temporary file, fsync, rename).
//!
//! `Instant`s do not survive a restart, so the record keeps the wall-clock
//! time the lease was obtained. A wall clock that went backwards since then
//! cannot say how much of the lease is left: such a lease is not restored
//! (a fresh Solicit is safe, an overlong lease is not).

use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::client::{Delegated, Lease};
use crate::lifetimes::{IaTimes, LifetimeError, PrefixLifetimes, Timers};

/// The record's format version.
pub const VERSION: u32 = 1;

/// One stored prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StoredPrefix {
    /// The prefix.
    pub prefix: Ipv6Addr,
    /// Its length.
    pub len: u8,
    /// Preferred lifetime, seconds, as the server sent it.
    pub preferred: u32,
    /// Valid lifetime, seconds, as the server sent it.
    pub valid: u32,
}

/// The lease file's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LeaseRecord {
    /// Format version.
    pub version: u32,
    /// The interface the lease was obtained on.
    pub interface: String,
    /// Our DUID, hex.
    pub duid: String,
    /// The IA_PD's IAID.
    pub iaid: u32,
    /// The server's DUID, hex.
    pub server_id: String,
    /// T1, seconds, as sent.
    pub t1: u32,
    /// T2, seconds, as sent.
    pub t2: u32,
    /// The prefixes held.
    pub prefixes: Vec<StoredPrefix>,
    /// When the Reply arrived, Unix milliseconds.
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
    /// Obtained with another DUID.
    #[error("the lease was obtained with another DUID")]
    OtherDuid,
    /// Obtained for another IAID.
    #[error("the lease is for IAID {stored}, not {current}")]
    OtherIaid {
        /// In the file.
        stored: u32,
        /// Now.
        current: u32,
    },
    /// The wall clock is earlier than when the lease was obtained.
    #[error("the wall clock went backwards since the lease was obtained")]
    ClockWentBack,
    /// Its valid lifetime is over.
    #[error("the lease has expired")]
    Expired,
    /// Its times do not make a lease (T1 > T2, no usable prefix).
    #[error("the stored lifetimes are not usable: {0}")]
    Lifetimes(#[from] LifetimeError),
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Bytes from hex (either case); `None` unless every pair is hex.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect()
}

/// DUID-LL (RFC 8415 §11.4) for an Ethernet MAC: type 3, hardware type 1.
pub fn duid_ll(mac: [u8; 6]) -> Vec<u8> {
    let mut d = vec![0, 3, 0, 1];
    d.extend(mac);
    d
}

impl LeaseRecord {
    /// The record for `lease`, whose Reply arrived at `obtained_unix_ms`.
    pub fn new(
        interface: &str,
        duid: &[u8],
        iaid: u32,
        lease: &Lease,
        obtained_unix_ms: u64,
    ) -> LeaseRecord {
        LeaseRecord {
            version: VERSION,
            interface: interface.to_string(),
            duid: hex(duid),
            iaid,
            server_id: hex(&lease.server_id),
            t1: lease.times.t1,
            t2: lease.times.t2,
            prefixes: lease
                .prefixes
                .iter()
                .map(|p| StoredPrefix {
                    prefix: p.prefix,
                    len: p.len,
                    preferred: p.lifetimes.preferred,
                    valid: p.lifetimes.valid,
                })
                .collect(),
            obtained_unix_ms,
        }
    }

    /// The file's text.
    pub fn to_text(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }

    /// Reads a lease file and decides whether it may be used on `interface`
    /// with `duid` and `iaid`, at wall-clock `now_unix_ms` and monotonic
    /// `now`. The lease's `obtained` is placed in the past accordingly.
    pub fn restore(
        text: &str,
        interface: &str,
        duid: &[u8],
        iaid: u32,
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
        if unhex(&r.duid).as_deref() != Some(duid) {
            return Err(RestoreError::OtherDuid);
        }
        if r.iaid != iaid {
            return Err(RestoreError::OtherIaid {
                stored: r.iaid,
                current: iaid,
            });
        }
        let server_id = unhex(&r.server_id)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| RestoreError::Corrupt("serverId is not hex".into()))?;
        if now_unix_ms < r.obtained_unix_ms {
            return Err(RestoreError::ClockWentBack);
        }
        let age = Duration::from_millis(now_unix_ms - r.obtained_unix_ms);
        let prefixes: Vec<Delegated> = r
            .prefixes
            .iter()
            .map(|p| Delegated {
                prefix: p.prefix,
                len: p.len,
                lifetimes: PrefixLifetimes {
                    preferred: p.preferred,
                    valid: p.valid,
                },
            })
            .collect();
        let lifetimes: Vec<PrefixLifetimes> = prefixes.iter().map(|p| p.lifetimes).collect();
        let times = IaTimes { t1: r.t1, t2: r.t2 };
        let timers = Timers::from_ia(times, &lifetimes)?;
        if timers.expire.is_some_and(|e| age >= e) {
            return Err(RestoreError::Expired);
        }
        // An age beyond what this boot's monotonic clock can express means
        // the machine booted since: the lease cannot be placed, so it is
        // not trusted.
        let obtained = now.checked_sub(age).ok_or(RestoreError::ClockWentBack)?;
        Ok(Lease {
            server_id,
            times,
            prefixes,
            obtained,
            timers,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DUID: [u8; 10] = [0, 3, 0, 1, 2, 0, 0, 0, 0, 1];

    fn lease(now: Instant) -> Lease {
        let prefixes = vec![Delegated {
            prefix: "fd00:99:100:100::".parse().expect("ip"),
            len: 56,
            lifetimes: PrefixLifetimes {
                preferred: 200,
                valid: 300,
            },
        }];
        let times = IaTimes { t1: 100, t2: 160 };
        let timers = Timers::from_ia(times, &[prefixes[0].lifetimes]).expect("valid lifetimes");
        Lease {
            server_id: vec![0, 2, 0, 0, 9, 1],
            times,
            prefixes,
            obtained: now,
            timers,
        }
    }

    #[test]
    fn a_lease_survives_a_restart_with_its_age() {
        let now = Instant::now();
        let l = lease(now);
        let text = LeaseRecord::new("wan0", &DUID, 7, &l, 1_000_000).to_text();
        assert_eq!(duid_ll([2, 0, 0, 0, 0, 1]), DUID.to_vec());
        let later = now + Duration::from_secs(30);
        let back =
            LeaseRecord::restore(&text, "wan0", &DUID, 7, 1_030_000, later).expect("restores");
        assert_eq!(back.obtained, now);
        assert_eq!(back.prefixes, l.prefixes);
        assert_eq!(back.server_id, l.server_id);
        assert_eq!(back.timers, l.timers);
    }

    #[test]
    fn another_interface_duid_iaid_or_an_expired_lease_is_refused() {
        let now = Instant::now() + Duration::from_secs(1000);
        let text = LeaseRecord::new("wan0", &DUID, 7, &lease(now), 1_000_000).to_text();
        let at = |ms| LeaseRecord::restore(&text, "wan0", &DUID, 7, ms, now);
        assert!(matches!(
            LeaseRecord::restore(&text, "wan1", &DUID, 7, 1_000_000, now),
            Err(RestoreError::OtherInterface { .. })
        ));
        assert_eq!(
            LeaseRecord::restore(
                &text,
                "wan0",
                &[0, 3, 0, 1, 9, 9, 9, 9, 9, 9],
                7,
                1_000_000,
                now
            ),
            Err(RestoreError::OtherDuid)
        );
        assert!(matches!(
            LeaseRecord::restore(&text, "wan0", &DUID, 8, 1_000_000, now),
            Err(RestoreError::OtherIaid { .. })
        ));
        assert_eq!(at(1_300_000), Err(RestoreError::Expired));
        assert_eq!(at(999_999), Err(RestoreError::ClockWentBack));
        assert!(at(1_299_999).is_ok());
    }

    #[test]
    fn a_corrupt_or_foreign_file_is_an_error_not_a_panic() {
        let now = Instant::now();
        for text in ["", "{", "null", "[]", "{\"version\":1}", "\u{0}\u{ff}"] {
            assert!(matches!(
                LeaseRecord::restore(text, "wan0", &DUID, 7, 0, now),
                Err(RestoreError::Corrupt(_))
            ));
        }
        let mut r = LeaseRecord::new("wan0", &DUID, 7, &lease(now), 0);
        r.version = 2;
        assert_eq!(
            LeaseRecord::restore(&r.to_text(), "wan0", &DUID, 7, 0, now),
            Err(RestoreError::Version(2))
        );
        let mut r = LeaseRecord::new("wan0", &DUID, 7, &lease(now), 0);
        r.t1 = 500;
        r.t2 = 100;
        assert!(matches!(
            LeaseRecord::restore(&r.to_text(), "wan0", &DUID, 7, 0, now),
            Err(RestoreError::Lifetimes(_))
        ));
        let mut r = LeaseRecord::new("wan0", &DUID, 7, &lease(now), 0);
        r.server_id = "zz".into();
        assert!(matches!(
            LeaseRecord::restore(&r.to_text(), "wan0", &DUID, 7, 0, now),
            Err(RestoreError::Corrupt(_))
        ));
    }
}
