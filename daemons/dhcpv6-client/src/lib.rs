//! routerd-dhcpv6-client: the DHCPv6 prefix-delegation client of
//! `routerd-dhcpv6-core` on a UDP socket, with its identity and lease kept
//! in the state directory, speaking the daemon contract.

pub mod daemon;
pub mod spec;

use routerd_dhcpv6_core::Jitter;

pub use routerd_dhcpv6_core::store::{hex, unhex as hex_bytes};

/// RAND for retransmissions, delays and transaction ids from the kernel's
/// random source (getrandom); RFC 8415 wants them unpredictable and
/// uncorrelated between clients.
#[derive(Debug, Default)]
pub struct OsJitter;

impl Jitter for OsJitter {
    fn next_permille(&mut self) -> i32 {
        let mut b = [0u8; 4];
        // SAFETY: getrandom writes at most b.len() bytes into the buffer we own.
        let n = unsafe { libc::getrandom(b.as_mut_ptr().cast(), b.len(), 0) };
        let v = if n == 4 {
            u32::from_ne_bytes(b)
        } else {
            // Never seen on Linux ≥ 3.17; a fixed value keeps the RFC's bounds.
            0
        };
        i32::try_from(v % 2001).unwrap_or(0) - 1000
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_refuses_odd_or_foreign_text() {
        assert_eq!(hex_bytes(&hex(&[0, 3, 0xab])), Some(vec![0, 3, 0xab]));
        assert_eq!(hex_bytes("0A"), Some(vec![10]));
        assert_eq!(hex_bytes("abc"), None);
        assert_eq!(hex_bytes("zz"), None);
    }

    #[test]
    fn os_jitter_stays_in_range() {
        let mut j = OsJitter;
        for _ in 0..1000 {
            let v = j.next_permille();
            assert!((-1000..=1000).contains(&v));
        }
    }
}
