//! The client in virtual time: packets and timers in, actions out.

use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use crate::advertise::StatusCode;
use crate::client::*;
use crate::lifetimes::{IaTimes, PrefixLifetimes};
use crate::retransmit::{FixedJitter, MessageKind};

const IAID: u32 = 7;
const SERVER: &[u8] = &[0, 2, 0, 0, 9, 1];

fn pfx(preferred: u32, valid: u32) -> Delegated {
    Delegated {
        prefix: "fd00:99:100:100::".parse::<Ipv6Addr>().expect("prefix"),
        len: 56,
        lifetimes: PrefixLifetimes { preferred, valid },
    }
}

fn msg(kind: Received, xid: [u8; 3], t1: u32, t2: u32, prefixes: Vec<Delegated>) -> Message {
    Message {
        kind,
        xid,
        server_id: Some(SERVER.to_vec()),
        client_id_ok: true,
        preference: 0,
        rapid_commit: false,
        status: None,
        ia_pd: Some(IaPd {
            iaid: IAID,
            times: IaTimes { t1, t2 },
            prefixes,
            status: None,
        }),
        sol_max_rt: None,
        info: Default::default(),
    }
}

fn sent(actions: &[Action]) -> Vec<Outgoing> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(o) => Some(o.clone()),
            _ => None,
        })
        .collect()
}

fn phases(actions: &[Action]) -> Vec<Phase> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Phase { to, .. } => Some(*to),
            _ => None,
        })
        .collect()
}

/// Runs timers until `until`, collecting every action.
fn run_until(c: &mut Client, until: Instant, j: &mut FixedJitter) -> Vec<Action> {
    let mut all = Vec::new();
    for _ in 0..10_000 {
        let Some(at) = c.next_deadline() else { break };
        if at > until {
            break;
        }
        all.extend(c.handle(at, Event::Timer, j));
    }
    all
}

/// Start → Solicit → Advertise → Request → Reply; returns the client and
/// the instant it became Bound.
fn bound(t1: u32, t2: u32, preferred: u32, valid: u32) -> (Client, Instant, FixedJitter) {
    let mut j = FixedJitter(0);
    let t0 = Instant::now();
    let mut c = Client::new(ClientConfig::new(IAID), None);
    let a = c.handle(t0, Event::Start, &mut j);
    assert_eq!(phases(&a), vec![Phase::Soliciting]);
    assert!(
        sent(&a).is_empty(),
        "the first Solicit waits its random delay"
    );
    let at = c.next_deadline().expect("solicit delay");
    assert!(at <= t0 + Duration::from_secs(1));
    let a = c.handle(at, Event::Timer, &mut j);
    let solicit = sent(&a).pop().expect("Solicit");
    assert_eq!(solicit.kind, MessageKind::Solicit);
    assert_eq!(solicit.server_id, None);
    let adv = msg(
        Received::Advertise,
        solicit.xid,
        t1,
        t2,
        vec![pfx(preferred, valid)],
    );
    assert!(
        c.handle(at + Duration::from_millis(2), Event::Received(&adv), &mut j)
            .is_empty()
    );
    // The first RT ends: the best Advertise is taken.
    let end = c.next_deadline().expect("first RT");
    let a = c.handle(end, Event::Timer, &mut j);
    assert_eq!(phases(&a), vec![Phase::Requesting]);
    let request = sent(&a).pop().expect("Request");
    assert_eq!(request.kind, MessageKind::Request);
    assert_eq!(request.server_id.as_deref(), Some(SERVER));
    assert_eq!(request.prefixes, vec![pfx(preferred, valid)]);
    let now = end + Duration::from_millis(2);
    let reply = msg(
        Received::Reply,
        request.xid,
        t1,
        t2,
        vec![pfx(preferred, valid)],
    );
    let a = c.handle(now, Event::Received(&reply), &mut j);
    assert_eq!(phases(&a), vec![Phase::Bound]);
    assert!(
        a.iter()
            .any(|x| matches!(x, Action::Bound(l) if l.prefixes.len() == 1))
    );
    (c, now, j)
}

#[test]
fn a_prefix_is_solicited_requested_and_bound() {
    let (c, at, _) = bound(100, 160, 200, 300);
    let lease = c.lease().expect("lease");
    assert_eq!(lease.obtained, at);
    assert_eq!(lease.expires(), Some(at + Duration::from_secs(300)));
    assert_eq!(c.next_deadline(), Some(at + Duration::from_secs(100)));
}

#[test]
fn renew_at_t1_extends_the_lease_with_the_same_server() {
    let (mut c, at, mut j) = bound(100, 160, 200, 300);
    let t1 = at + Duration::from_secs(100);
    let a = run_until(&mut c, t1, &mut j);
    assert_eq!(phases(&a), vec![Phase::Renewing]);
    let renew = sent(&a).pop().expect("Renew");
    assert_eq!(renew.kind, MessageKind::Renew);
    assert_eq!(renew.server_id.as_deref(), Some(SERVER));
    assert_eq!(renew.prefixes.len(), 1);
    let reply = msg(Received::Reply, renew.xid, 100, 160, vec![pfx(200, 300)]);
    let now = t1 + Duration::from_millis(5);
    let a = c.handle(now, Event::Received(&reply), &mut j);
    assert_eq!(phases(&a), vec![Phase::Bound]);
    assert_eq!(c.lease().map(|l| l.obtained), Some(now));
}

#[test]
fn without_a_server_renew_becomes_rebind_at_t2_and_the_lease_expires() {
    let (mut c, at, mut j) = bound(100, 160, 200, 300);
    let a = run_until(&mut c, at + Duration::from_secs(299), &mut j);
    assert_eq!(phases(&a), vec![Phase::Renewing, Phase::Rebinding]);
    let kinds: Vec<MessageKind> = sent(&a).iter().map(|o| o.kind).collect();
    // Renew at T1 (100 s), again after 10 and 20 s (110, 130); the next
    // would come after T2 (160), where Rebind takes over, with no server id.
    assert_eq!(
        kinds.iter().filter(|k| **k == MessageKind::Renew).count(),
        3
    );
    let first_rebind = sent(&a)
        .into_iter()
        .find(|o| o.kind == MessageKind::Rebind)
        .expect("Rebind");
    assert_eq!(first_rebind.server_id, None);
    let a = run_until(&mut c, at + Duration::from_secs(300), &mut j);
    assert_eq!(phases(&a), vec![Phase::Expired, Phase::Soliciting]);
    assert!(a.iter().any(|x| matches!(x, Action::Lost { .. })));
    assert!(c.lease().is_none());
}

#[test]
fn a_restored_lease_renews_at_once_instead_of_soliciting() {
    let (c, at, mut j) = bound(100, 160, 200, 300);
    let lease = c.lease().cloned().expect("lease");
    // The daemon was killed and restarts 30 s later, before T2.
    let mut c = Client::new(ClientConfig::new(IAID), Some(lease.clone()));
    let now = at + Duration::from_secs(30);
    let a = c.handle(now, Event::Start, &mut j);
    assert_eq!(phases(&a), vec![Phase::Renewing]);
    let first = sent(&a).pop().expect("sent at once");
    assert_eq!(first.kind, MessageKind::Renew);
    assert_eq!(first.prefixes, lease.prefixes);
    // Past T2 it rebinds; past the valid lifetime it starts over.
    let mut c = Client::new(ClientConfig::new(IAID), Some(lease.clone()));
    let a = c.handle(at + Duration::from_secs(200), Event::Start, &mut j);
    assert_eq!(sent(&a).pop().map(|o| o.kind), Some(MessageKind::Rebind));
    let mut c = Client::new(ClientConfig::new(IAID), Some(lease));
    let a = c.handle(at + Duration::from_secs(301), Event::Start, &mut j);
    assert!(a.iter().any(|x| matches!(x, Action::Lost { .. })));
    assert_eq!(c.phase(), Phase::Soliciting);
}

#[test]
fn no_binding_asks_the_server_again_and_no_prefix_avail_solicits_again() {
    let (mut c, at, mut j) = bound(100, 160, 200, 300);
    let a = run_until(&mut c, at + Duration::from_secs(100), &mut j);
    let renew = sent(&a).pop().expect("Renew");
    let mut reply = msg(Received::Reply, renew.xid, 0, 0, vec![]);
    if let Some(ia) = &mut reply.ia_pd {
        ia.status = Some(StatusCode::NoBinding);
    }
    let now = at + Duration::from_secs(101);
    let a = c.handle(now, Event::Received(&reply), &mut j);
    assert_eq!(phases(&a), vec![Phase::Requesting]);
    let request = sent(&a).pop().expect("Request");
    assert_eq!(request.kind, MessageKind::Request);
    assert_eq!(request.prefixes.len(), 1, "asks for the prefix it held");
    let mut refused = msg(Received::Reply, request.xid, 0, 0, vec![]);
    if let Some(ia) = &mut refused.ia_pd {
        ia.status = Some(StatusCode::NoPrefixAvail);
    }
    let a = c.handle(now, Event::Received(&refused), &mut j);
    assert_eq!(phases(&a), vec![Phase::Soliciting]);
}

#[test]
fn unspec_fail_nonsense_times_and_foreign_replies_are_not_taken() {
    let (mut c, at, mut j) = bound(100, 160, 200, 300);
    let a = run_until(&mut c, at + Duration::from_secs(100), &mut j);
    let renew = sent(&a).pop().expect("Renew");
    let now = at + Duration::from_secs(101);
    let mut fail = msg(Received::Reply, renew.xid, 100, 160, vec![pfx(200, 300)]);
    fail.status = Some(StatusCode::UnspecFail);
    let wrong_xid = msg(Received::Reply, [9, 9, 9], 100, 160, vec![pfx(200, 300)]);
    let mut not_ours = msg(Received::Reply, renew.xid, 100, 160, vec![pfx(200, 300)]);
    not_ours.client_id_ok = false;
    let t1_above_t2 = msg(Received::Reply, renew.xid, 200, 100, vec![pfx(200, 300)]);
    let preferred_above_valid = msg(Received::Reply, renew.xid, 100, 160, vec![pfx(400, 300)]);
    for m in [
        &fail,
        &wrong_xid,
        &not_ours,
        &t1_above_t2,
        &preferred_above_valid,
    ] {
        assert!(
            c.handle(now, Event::Received(m), &mut j).is_empty(),
            "{m:?}"
        );
        assert_eq!(c.phase(), Phase::Renewing);
    }
    assert_eq!(c.counters().ignored, 5);
    // The Renew is still retransmitted on its schedule.
    let a = run_until(&mut c, at + Duration::from_secs(111), &mut j);
    assert_eq!(sent(&a).pop().map(|o| o.kind), Some(MessageKind::Renew));
}

#[test]
fn stop_with_release_drops_the_prefix_first_and_sends_release_at_most_four_times() {
    let (mut c, at, mut j) = bound(100, 160, 200, 300);
    let a = c.handle(at, Event::Stop { release: true }, &mut j);
    assert!(matches!(a.first(), Some(Action::Lost { .. })), "{a:?}");
    let release = sent(&a).pop().expect("Release");
    assert_eq!(release.kind, MessageKind::Release);
    assert_eq!(release.prefixes.len(), 1);
    assert_eq!(release.server_id.as_deref(), Some(SERVER));
    let a = run_until(&mut c, at + Duration::from_secs(60), &mut j);
    assert_eq!(sent(&a).len(), 3);
    assert!(c.lease().is_none());
    assert_eq!(c.next_deadline(), None);
}

#[test]
fn rapid_commit_binds_on_the_reply_to_solicit() {
    let mut j = FixedJitter(0);
    let t0 = Instant::now();
    let mut cfg = ClientConfig::new(IAID);
    cfg.rapid_commit = true;
    cfg.prefix_hint = Some(56);
    cfg.solicit_max_delay = Duration::ZERO;
    let mut c = Client::new(cfg, None);
    c.handle(t0, Event::Start, &mut j);
    let a = c.handle(t0, Event::Timer, &mut j);
    let solicit = sent(&a).pop().expect("Solicit");
    assert!(solicit.rapid_commit);
    assert_eq!(solicit.prefix_hint, Some(56));
    let mut reply = msg(Received::Reply, solicit.xid, 100, 160, vec![pfx(200, 300)]);
    reply.rapid_commit = true;
    let a = c.handle(
        t0 + Duration::from_millis(2),
        Event::Received(&reply),
        &mut j,
    );
    assert_eq!(phases(&a), vec![Phase::Bound]);
}
