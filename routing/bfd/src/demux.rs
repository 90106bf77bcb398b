//! Which session a received packet belongs to (RFC 5880 6.3, RFC 5881 3):
//! by Your Discriminator when the peer knows ours, otherwise, for single hop,
//! by the source address and the interface it arrived on.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;

use crate::error::DropReason;

/// The demultiplexing table. `L` names a link (an interface, or the socket
/// bound to it); sessions are named by their local discriminator.
#[derive(Debug, Clone)]
pub struct Demux<L> {
    by_discr: HashMap<u32, (L, IpAddr)>,
    by_peer: HashMap<(L, IpAddr), u32>,
}

/// Where a packet goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// To the session with this local discriminator.
    Session(u32),
    /// Nowhere: drop and count it.
    Drop(DropReason),
}

/// Why a session cannot be added to the table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DemuxError {
    /// The discriminator is already in use.
    #[error("local discriminator {0} is already in use")]
    DuplicateDiscriminator(u32),
    /// A session for this peer on this link exists already (6.3 could not
    /// tell the two apart before the peer learns a discriminator).
    #[error("a session with peer {0} on this interface exists already")]
    DuplicatePeer(IpAddr),
}

impl<L: Eq + Hash + Clone> Default for Demux<L> {
    fn default() -> Self {
        Demux {
            by_discr: HashMap::new(),
            by_peer: HashMap::new(),
        }
    }
}

impl<L: Eq + Hash + Clone> Demux<L> {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the session `discr` with `peer` on `link`.
    pub fn insert(&mut self, discr: u32, link: L, peer: IpAddr) -> Result<(), DemuxError> {
        if self.by_discr.contains_key(&discr) {
            return Err(DemuxError::DuplicateDiscriminator(discr));
        }
        let key = (link, peer);
        if self.by_peer.contains_key(&key) {
            return Err(DemuxError::DuplicatePeer(peer));
        }
        self.by_peer.insert(key.clone(), discr);
        self.by_discr.insert(discr, key);
        Ok(())
    }

    /// Removes the session `discr` (a no-op if it is not there).
    pub fn remove(&mut self, discr: u32) {
        if let Some(key) = self.by_discr.remove(&discr) {
            self.by_peer.remove(&key);
        }
    }

    /// True if `discr` is in use.
    pub fn contains(&self, discr: u32) -> bool {
        self.by_discr.contains_key(&discr)
    }

    /// The number of sessions.
    pub fn len(&self) -> usize {
        self.by_discr.len()
    }

    /// True when there are no sessions.
    pub fn is_empty(&self) -> bool {
        self.by_discr.is_empty()
    }

    /// The session for a packet from `src` on `link` carrying `your_discr`.
    /// A packet naming a session of another peer or link is refused: for
    /// single hop the discriminator and the path must agree.
    pub fn route(&self, link: &L, src: IpAddr, your_discr: u32) -> Route {
        if your_discr != 0 {
            return match self.by_discr.get(&your_discr) {
                None => Route::Drop(DropReason::NoSession),
                Some((l, p)) if l == link && *p == src => Route::Session(your_discr),
                Some(_) => Route::Drop(DropReason::WrongPeer),
            };
        }
        match self.by_peer.get(&(link.clone(), src)) {
            Some(d) => Route::Session(*d),
            None => Route::Drop(DropReason::NoSession),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("literal")
    }

    #[test]
    fn routes_by_discriminator_then_by_peer() {
        let mut d = Demux::new();
        d.insert(7, "eth0", ip("10.0.0.2")).expect("free");
        d.insert(8, "eth1", ip("10.0.0.2")).expect("other link");
        assert_eq!(d.route(&"eth0", ip("10.0.0.2"), 7), Route::Session(7));
        assert_eq!(d.route(&"eth0", ip("10.0.0.2"), 0), Route::Session(7));
        assert_eq!(d.route(&"eth1", ip("10.0.0.2"), 0), Route::Session(8));
        assert_eq!(
            d.route(&"eth0", ip("10.0.0.2"), 9),
            Route::Drop(DropReason::NoSession)
        );
        assert_eq!(
            d.route(&"eth0", ip("10.0.0.3"), 0),
            Route::Drop(DropReason::NoSession)
        );
        // Session 8 lives on eth1: its discriminator arriving on eth0 is refused.
        assert_eq!(
            d.route(&"eth0", ip("10.0.0.2"), 8),
            Route::Drop(DropReason::WrongPeer)
        );
        assert_eq!(
            d.route(&"eth1", ip("10.0.0.9"), 8),
            Route::Drop(DropReason::WrongPeer)
        );
    }

    #[test]
    fn refuses_duplicates_and_removes() {
        let mut d = Demux::new();
        d.insert(1, "eth0", ip("fe80::1")).expect("free");
        assert_eq!(
            d.insert(1, "eth1", ip("fe80::2")),
            Err(DemuxError::DuplicateDiscriminator(1))
        );
        assert_eq!(
            d.insert(2, "eth0", ip("fe80::1")),
            Err(DemuxError::DuplicatePeer(ip("fe80::1")))
        );
        d.remove(1);
        assert!(d.is_empty());
        d.insert(2, "eth0", ip("fe80::1")).expect("free again");
        assert_eq!(d.len(), 1);
        assert!(d.contains(2));
    }
}
