//! Randomness for RA intervals and answer delays.

use routerd_dhcpv6_core::Jitter;

/// RAND from the kernel's random source (getrandom): RFC 4861 §6.2.4 wants
/// routers on one link not to synchronise their advertisements.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsJitter;

impl Jitter for OsJitter {
    fn next_permille(&mut self) -> i32 {
        let mut b = [0u8; 4];
        // SAFETY: getrandom writes at most b.len() bytes into the buffer we own.
        let n = unsafe { libc::getrandom(b.as_mut_ptr().cast(), b.len(), 0) };
        let v = if n == 4 {
            u32::from_ne_bytes(b)
        } else {
            // Never seen on Linux ≥ 3.17; the middle of the range is still valid.
            1000
        };
        i32::try_from(v % 2001).unwrap_or(1000) - 1000
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_jitter_stays_in_range_and_varies() {
        let mut j = OsJitter;
        let v: Vec<i32> = (0..1000).map(|_| j.next_permille()).collect();
        assert!(v.iter().all(|x| (-1000..=1000).contains(x)));
        assert!(v.iter().any(|x| *x != v[0]));
    }
}
