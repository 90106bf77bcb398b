//! Choosing a server from the Advertise messages a Solicit collects
//! (RFC 8415 §18.2.1, §18.2.9).
//!
//! - The client waits until the first retransmission time for Advertises and
//!   takes the one with the highest preference; one with preference 255 is
//!   taken at once.
//! - Once the first RT has passed without one, the first acceptable Advertise
//!   is taken as it arrives.
//! - An Advertise that delegates no prefix (an IA_PD with NoPrefixAvail, or
//!   none at all) is not acceptable, but its SOL_MAX_RT is still honoured.

use std::time::Instant;

/// DHCPv6 status codes a client acts on (RFC 8415 §21.13; NoPrefixAvail from
/// §21.22's IA_PD context).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum StatusCode {
    /// 0
    Success,
    /// 1
    UnspecFail,
    /// 2
    NoAddrsAvail,
    /// 3
    NoBinding,
    /// 4
    NotOnLink,
    /// 5
    UseMulticast,
    /// 6
    NoPrefixAvail,
    /// Anything else, by value.
    Other(u16),
}

impl StatusCode {
    /// The code for a value on the wire.
    pub fn from_u16(v: u16) -> StatusCode {
        match v {
            0 => StatusCode::Success,
            1 => StatusCode::UnspecFail,
            2 => StatusCode::NoAddrsAvail,
            3 => StatusCode::NoBinding,
            4 => StatusCode::NotOnLink,
            5 => StatusCode::UseMulticast,
            6 => StatusCode::NoPrefixAvail,
            other => StatusCode::Other(other),
        }
    }
}

/// What the selection needs from one Advertise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    /// The server's DUID (Server Identifier option).
    pub server_id: Vec<u8>,
    /// Preference option (0 when absent, §21.8).
    pub preference: u8,
    /// Prefixes offered with a non-zero valid lifetime, after the lifetime
    /// checks.
    pub usable_prefixes: usize,
    /// The IA_PD's status code, if it carried one.
    pub ia_status: Option<StatusCode>,
    /// A SOL_MAX_RT option, in seconds.
    pub sol_max_rt: Option<u32>,
}

impl Offer {
    /// Whether the client may Request from this server.
    pub fn acceptable(&self) -> bool {
        self.usable_prefixes > 0 && !matches!(self.ia_status, Some(s) if s != StatusCode::Success)
    }
}

/// What to do after an Advertise or a timer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// Keep collecting (or retransmitting Solicit).
    Wait,
    /// Request from this server now.
    Request(Offer),
}

/// Collects the Advertises of one Solicit exchange.
#[derive(Debug, Clone)]
pub struct Collector {
    first_rt_ends: Instant,
    best: Option<Offer>,
    sol_max_rt: Option<u32>,
}

impl Collector {
    /// A collector for a Solicit whose first RT ends at `first_rt_ends`.
    pub fn new(first_rt_ends: Instant) -> Collector {
        Collector {
            first_rt_ends,
            best: None,
            sol_max_rt: None,
        }
    }

    /// The last SOL_MAX_RT any Advertise carried (even an unacceptable one).
    pub fn sol_max_rt(&self) -> Option<u32> {
        self.sol_max_rt
    }

    /// An Advertise arrived at `now`.
    pub fn offer(&mut self, offer: Offer, now: Instant) -> Choice {
        if offer.sol_max_rt.is_some() {
            self.sol_max_rt = offer.sol_max_rt;
        }
        if !offer.acceptable() {
            return Choice::Wait;
        }
        if offer.preference == u8::MAX || now >= self.first_rt_ends {
            self.best = None;
            return Choice::Request(offer);
        }
        // Higher preference wins; among equals the first one heard stays.
        if self
            .best
            .as_ref()
            .is_none_or(|b| offer.preference > b.preference)
        {
            self.best = Some(offer);
        }
        Choice::Wait
    }

    /// The first RT ended (the Solicit timer fired) at `now`: the best offer
    /// so far, if any.
    pub fn first_rt_ended(&mut self, now: Instant) -> Choice {
        if now < self.first_rt_ends {
            return Choice::Wait;
        }
        match self.best.take() {
            Some(o) => Choice::Request(o),
            None => Choice::Wait,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn offer(server: u8, preference: u8) -> Offer {
        Offer {
            server_id: vec![0, 1, server],
            preference,
            usable_prefixes: 1,
            ia_status: None,
            sol_max_rt: None,
        }
    }

    #[test]
    fn the_highest_preference_heard_within_the_first_rt_wins() {
        let t0 = Instant::now();
        let end = t0 + Duration::from_millis(1050);
        let mut c = Collector::new(end);
        assert_eq!(c.offer(offer(1, 10), t0), Choice::Wait);
        assert_eq!(c.offer(offer(2, 50), t0), Choice::Wait);
        assert_eq!(c.offer(offer(3, 50), t0), Choice::Wait);
        assert_eq!(
            c.first_rt_ended(end - Duration::from_millis(1)),
            Choice::Wait
        );
        assert_eq!(c.first_rt_ended(end), Choice::Request(offer(2, 50)));
    }

    #[test]
    fn preference_255_is_taken_at_once_and_late_offers_as_they_come() {
        let t0 = Instant::now();
        let end = t0 + Duration::from_secs(1);
        let mut c = Collector::new(end);
        assert_eq!(c.offer(offer(1, 255), t0), Choice::Request(offer(1, 255)));
        let mut c = Collector::new(end);
        assert_eq!(c.first_rt_ended(end), Choice::Wait);
        assert_eq!(c.offer(offer(2, 0), end), Choice::Request(offer(2, 0)));
    }

    #[test]
    fn an_advertise_without_prefixes_is_ignored_but_its_sol_max_rt_is_kept() {
        let t0 = Instant::now();
        let mut c = Collector::new(t0);
        let none = Offer {
            usable_prefixes: 0,
            ia_status: Some(StatusCode::NoPrefixAvail),
            sol_max_rt: Some(120),
            ..offer(1, 255)
        };
        assert_eq!(c.offer(none, t0), Choice::Wait);
        assert_eq!(c.sol_max_rt(), Some(120));
        let refused = Offer {
            ia_status: Some(StatusCode::from_u16(6)),
            ..offer(2, 255)
        };
        assert_eq!(c.offer(refused, t0), Choice::Wait);
    }
}
