//! Stateless configuration: Information-request / Reply (RFC 8415 §18.2.6)
//! for DNS servers, the domain search list, SNTP servers and the DS-Lite
//! AFTR name (RFC 6334), refreshed by the Information Refresh Time
//! (§21.23).
//!
//! Choices: the first Information-request waits a random time in
//! `[0, INF_MAX_DELAY]` (1 s, §18.2.6, configurable like Solicit's delay);
//! without a refresh-time option the client refreshes after IRT_DEFAULT
//! (86400 s), never sooner than IRT_MINIMUM (600 s).

use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use crate::advertise::StatusCode;
use crate::client::{Message, Outgoing, Phase, Received};
use crate::lifetimes::INFINITY;
use crate::retransmit::{Exchange, Jitter, MessageKind, Params, random_delay, transaction_id};

/// IRT_DEFAULT: refresh after a day when the server says nothing.
pub const IRT_DEFAULT: Duration = Duration::from_secs(86_400);
/// IRT_MINIMUM: never refresh more often than this.
pub const IRT_MINIMUM: Duration = Duration::from_secs(600);

/// Configuration options found in a Reply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InfoOptions {
    /// DNS Recursive Name Server option (23).
    pub dns_servers: Vec<Ipv6Addr>,
    /// Domain Search List option (24), without trailing dots.
    pub domains: Vec<String>,
    /// SNTP Servers option (31).
    pub sntp_servers: Vec<Ipv6Addr>,
    /// AFTR-Name option (64), without a trailing dot.
    pub aftr_name: Option<String>,
    /// Information Refresh Time option (32), seconds.
    pub refresh_secs: Option<u32>,
    /// INF_MAX_RT option (83), seconds.
    pub inf_max_rt: Option<u32>,
}

impl InfoOptions {
    /// When to ask again, per §21.23 (`None`: never).
    pub fn refresh(&self) -> Option<Duration> {
        match self.refresh_secs {
            Some(INFINITY) => None,
            Some(s) => Some(Duration::from_secs(u64::from(s)).max(IRT_MINIMUM)),
            None => Some(IRT_DEFAULT),
        }
    }
}

/// What the information client asks of its edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InfoAction {
    /// Transmit a message.
    Send(Outgoing),
    /// The phase changed (Idle, Soliciting is not used; Requesting while
    /// asking, Bound while holding answers).
    Phase {
        /// Before.
        from: Phase,
        /// After.
        to: Phase,
        /// Why.
        reason: String,
    },
    /// New configuration from a Reply.
    Information(InfoOptions),
}

/// The Information-request client.
#[derive(Debug, Clone)]
pub struct InfoClient {
    max_delay: Duration,
    phase: Phase,
    ask_at: Option<Instant>,
    current: Option<(Outgoing, Exchange, Instant)>,
    info: Option<InfoOptions>,
    inf_max_rt: Option<u32>,
    xid_seq: u32,
    /// Replies ignored (wrong transaction, client id, status).
    pub ignored: u64,
}

impl InfoClient {
    /// A stopped client whose first request waits up to `max_delay`.
    pub fn new(max_delay: Duration) -> InfoClient {
        InfoClient {
            max_delay,
            phase: Phase::Idle,
            ask_at: None,
            current: None,
            info: None,
            inf_max_rt: None,
            xid_seq: 0,
            ignored: 0,
        }
    }

    /// The phase.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The last answers.
    pub fn info(&self) -> Option<&InfoOptions> {
        self.info.as_ref()
    }

    /// Whether `xid` is the transaction of the request in flight: lets an
    /// edge that runs this client beside a prefix-delegation client on one
    /// socket hand each Reply to the machine that asked.
    pub fn awaits(&self, xid: [u8; 3]) -> bool {
        self.current.as_ref().is_some_and(|(o, _, _)| o.xid == xid)
    }

    /// Asks again now (an operator's `renew`), keeping the answers held
    /// until new ones arrive; a request already in flight is left to finish.
    /// Says whether a request was scheduled.
    pub fn refresh_now(&mut self, now: Instant) -> bool {
        if self.phase == Phase::Idle || self.current.is_some() {
            return false;
        }
        self.ask_at = Some(now);
        true
    }

    /// When to call [`InfoClient::timer`] next.
    pub fn next_deadline(&self) -> Option<Instant> {
        let exchange = self.current.as_ref().map(|(_, e, _)| e.next());
        match (self.ask_at, exchange) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn set_phase(&mut self, to: Phase, why: &str, out: &mut Vec<InfoAction>) {
        if self.phase != to {
            out.push(InfoAction::Phase {
                from: self.phase,
                to,
                reason: why.into(),
            });
            self.phase = to;
        }
    }

    /// Starts asking (after the random delay).
    pub fn start(&mut self, now: Instant, jitter: &mut dyn Jitter) -> Vec<InfoAction> {
        let mut out = Vec::new();
        if self.phase == Phase::Idle {
            self.ask_at = Some(now + random_delay(self.max_delay, jitter));
            self.set_phase(Phase::Requesting, "started", &mut out);
        }
        out
    }

    /// Stops; the answers held stay readable.
    pub fn stop(&mut self) -> Vec<InfoAction> {
        let mut out = Vec::new();
        self.ask_at = None;
        self.current = None;
        self.set_phase(Phase::Idle, "stopped", &mut out);
        out
    }

    /// A deadline passed.
    pub fn timer(&mut self, now: Instant, jitter: &mut dyn Jitter) -> Vec<InfoAction> {
        let mut out = Vec::new();
        if let Some(at) = self.ask_at
            && now >= at
        {
            self.ask_at = None;
            if self.phase == Phase::Bound {
                self.set_phase(Phase::Requesting, "refresh time reached", &mut out);
            }
            self.xid_seq = self.xid_seq.wrapping_add(1);
            let o = Outgoing {
                kind: MessageKind::InformationRequest,
                xid: transaction_id(self.xid_seq, jitter),
                server_id: None,
                iaid: 0,
                prefixes: Vec::new(),
                prefix_hint: None,
                rapid_commit: false,
                elapsed_cs: 0,
            };
            let mut params = Params::for_kind(MessageKind::InformationRequest);
            if let Some(s) = self.inf_max_rt {
                params = params.with_server_mrt(s);
            }
            let e = Exchange::start(params, now, jitter);
            out.push(InfoAction::Send(o.clone()));
            self.current = Some((o, e, now));
            return out;
        }
        if let Some((o, e, started)) = &mut self.current
            && now >= e.next()
            && e.retransmit(now, jitter)
        {
            let cs = now.duration_since(*started).as_millis() / 10;
            o.elapsed_cs = u16::try_from(cs).unwrap_or(u16::MAX);
            out.push(InfoAction::Send(o.clone()));
        }
        out
    }

    /// A Reply arrived.
    pub fn receive(&mut self, now: Instant, m: &Message) -> Vec<InfoAction> {
        let mut out = Vec::new();
        let Some((o, _, _)) = &self.current else {
            self.ignored += 1;
            return out;
        };
        let status_ok = matches!(m.status, None | Some(StatusCode::Success));
        if m.kind != Received::Reply
            || m.xid != o.xid
            || !m.client_id_ok
            || m.server_id.is_none()
            || !status_ok
        {
            // A failed Reply keeps the exchange retransmitting (§18.2.10).
            self.ignored += 1;
            return out;
        }
        self.current = None;
        if m.info.inf_max_rt.is_some() {
            self.inf_max_rt = m.info.inf_max_rt;
        }
        self.ask_at = m.info.refresh().map(|d| now + d);
        self.info = Some(m.info.clone());
        self.set_phase(Phase::Bound, "Reply received", &mut out);
        out.push(InfoAction::Information(m.info.clone()));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retransmit::FixedJitter;

    fn reply(xid: [u8; 3], info: InfoOptions) -> Message {
        Message {
            kind: Received::Reply,
            xid,
            server_id: Some(vec![0, 2, 1]),
            client_id_ok: true,
            preference: 0,
            rapid_commit: false,
            status: None,
            ia_pd: None,
            sol_max_rt: None,
            info,
        }
    }

    fn sent(a: &[InfoAction]) -> Option<Outgoing> {
        a.iter().rev().find_map(|x| match x {
            InfoAction::Send(o) => Some(o.clone()),
            _ => None,
        })
    }

    #[test]
    fn asks_retransmits_takes_the_answers_and_refreshes_at_the_refresh_time() {
        let mut j = FixedJitter(0);
        let t0 = Instant::now();
        let mut c = InfoClient::new(Duration::from_secs(1));
        c.start(t0, &mut j);
        let at = c.next_deadline().expect("delayed first request");
        assert!(at <= t0 + Duration::from_secs(1));
        let first = sent(&c.timer(at, &mut j)).expect("Information-request");
        assert_eq!(first.kind, MessageKind::InformationRequest);
        // Unanswered: sent again with the same xid and a growing elapsed time.
        let again_at = c.next_deadline().expect("retransmission");
        let again = sent(&c.timer(again_at, &mut j)).expect("again");
        assert_eq!(again.xid, first.xid);
        assert!(again.elapsed_cs >= 100);
        let info = InfoOptions {
            dns_servers: vec!["fd00:99::53".parse().expect("ip")],
            domains: vec!["lab.example".into()],
            aftr_name: Some("aftr.lab.example".into()),
            refresh_secs: Some(900),
            ..Default::default()
        };
        let now = again_at + Duration::from_millis(3);
        let a = c.receive(now, &reply(first.xid, info.clone()));
        assert!(a.contains(&InfoAction::Information(info.clone())));
        assert_eq!(c.phase(), Phase::Bound);
        assert_eq!(c.next_deadline(), Some(now + Duration::from_secs(900)));
        let a = c.timer(now + Duration::from_secs(900), &mut j);
        assert_eq!(c.phase(), Phase::Requesting);
        assert!(sent(&a).is_some_and(|o| o.xid != first.xid));
        assert_eq!(
            c.info(),
            Some(&info),
            "the old answers stay until new ones come"
        );
        let next = sent(&a).expect("refresh request");
        assert!(c.awaits(next.xid) && !c.awaits(first.xid));
    }

    #[test]
    fn an_operator_refresh_asks_at_once_but_never_twice() {
        let mut j = FixedJitter(0);
        let t0 = Instant::now();
        let mut c = InfoClient::new(Duration::ZERO);
        assert!(
            !c.refresh_now(t0) && c.next_deadline().is_none(),
            "idle: nothing"
        );
        c.start(t0, &mut j);
        let o = sent(&c.timer(t0, &mut j)).expect("request");
        assert!(!c.refresh_now(t0), "in flight: no second request");
        c.receive(t0, &reply(o.xid, InfoOptions::default()));
        let later = t0 + Duration::from_secs(5);
        assert!(c.refresh_now(later));
        assert_eq!(c.next_deadline(), Some(later));
        assert!(sent(&c.timer(later, &mut j)).is_some());
    }

    #[test]
    fn refresh_time_follows_the_rfc_bounds() {
        let with = |s| InfoOptions {
            refresh_secs: s,
            ..Default::default()
        };
        assert_eq!(with(None).refresh(), Some(IRT_DEFAULT));
        assert_eq!(with(Some(10)).refresh(), Some(IRT_MINIMUM));
        assert_eq!(with(Some(INFINITY)).refresh(), None);
        assert_eq!(with(Some(7200)).refresh(), Some(Duration::from_secs(7200)));
    }

    #[test]
    fn failed_or_foreign_replies_are_ignored() {
        let mut j = FixedJitter(0);
        let t0 = Instant::now();
        let mut c = InfoClient::new(Duration::ZERO);
        c.start(t0, &mut j);
        let o = sent(&c.timer(t0, &mut j)).expect("request");
        let mut fail = reply(o.xid, InfoOptions::default());
        fail.status = Some(StatusCode::UnspecFail);
        let mut not_ours = reply(o.xid, InfoOptions::default());
        not_ours.client_id_ok = false;
        for m in [&fail, &not_ours, &reply([0, 0, 0], InfoOptions::default())] {
            assert!(c.receive(t0, m).is_empty());
        }
        assert_eq!(c.ignored, 3);
        assert_eq!(c.phase(), Phase::Requesting);
    }
}
