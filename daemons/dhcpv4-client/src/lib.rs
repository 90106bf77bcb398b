//! routerd-dhcpv4-client: the DHCPv4 client of `routerd-dhcpv4-core` on a
//! UDP socket (to send) and a packet socket (to receive), with its lease
//! kept in the state directory, speaking the daemon contract.

pub mod daemon;
pub mod net;
pub mod spec;
pub mod status;

use routerd_dhcpv4_core::Jitter;

/// RAND for retransmissions, delays and transaction ids from the kernel's
/// random source (getrandom): RFC 2131 §4.1 wants them uncorrelated between
/// clients.
// The same 15 lines as routerd-dhcpv6-client's OsJitter; a daemon does not
// depend on another daemon, and the cores hold no OS code.
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
    fn os_jitter_stays_in_range() {
        let mut j = OsJitter;
        for _ in 0..1000 {
            let v = j.next_permille();
            assert!((-1000..=1000).contains(&v));
        }
    }
}
