//! The client in virtual time: every transition, driven by replies that go
//! through the codec (encoded as a server would, decoded as received).

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use crate::client::*;
use crate::codec::{decode, encode_reply};
use crate::message::*;
use crate::retransmit::FixedJitter;
use crate::routes::Route;
use crate::timers::LeaseTimes;

const MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
const SEC: Duration = Duration::from_secs(1);

fn ip(s: &str) -> Ipv4Addr {
    s.parse().expect("address")
}

fn server() -> Ipv4Addr {
    ip("192.0.2.1")
}

fn addr() -> Ipv4Addr {
    ip("192.0.2.10")
}

fn cfg() -> ClientConfig {
    ClientConfig::new(Identity {
        mac: MAC,
        client_id: Identity::default_client_id(MAC),
        hostname: Some("edge1".into()),
        class_id: None,
    })
}

/// A server's reply as the client receives it: encoded, then decoded.
fn wire(r: Reply) -> Reply {
    decode(&encode_reply(&r).expect("encodes")).expect("decodes")
}

fn reply(kind: ReplyKind, xid: u32, yiaddr: Ipv4Addr, times: (u32, u32, u32)) -> Reply {
    wire(Reply {
        kind,
        xid,
        chaddr: MAC.to_vec(),
        yiaddr,
        server_id: Some(server()),
        client_id: Some(Identity::default_client_id(MAC)),
        times: LeaseTimes {
            lease: Some(times.0),
            t1: Some(times.1),
            t2: Some(times.2),
        },
        options: LeaseOptions {
            prefix_len: Some(24),
            routers: vec![server()],
            dns_servers: vec![ip("192.0.2.53")],
            domain: Some("lab.example".into()),
            mtu: Some(1500),
            routes: Some(vec![Route {
                destination: "10.0.0.0/8".parse().expect("net"),
                gateway: server(),
            }]),
        },
        routes_refused: false,
        message: None,
    })
}

fn nak(xid: u32) -> Reply {
    wire(Reply {
        kind: ReplyKind::Nak,
        xid,
        chaddr: MAC.to_vec(),
        yiaddr: Ipv4Addr::UNSPECIFIED,
        server_id: Some(server()),
        client_id: None,
        times: LeaseTimes::default(),
        options: LeaseOptions::default(),
        routes_refused: false,
        message: Some("address not available".into()),
    })
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

fn last_sent(actions: &[Action]) -> Outgoing {
    sent(actions).pop().expect("a message was sent")
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

fn lost(actions: &[Action]) -> bool {
    actions.iter().any(|a| matches!(a, Action::Lost { .. }))
}

/// Delivers every timer up to `until`, collecting the actions with the
/// instant each was taken at.
fn run_until(c: &mut Client, until: Instant, j: &mut FixedJitter) -> Vec<(Instant, Action)> {
    let mut all = Vec::new();
    for _ in 0..10_000 {
        let Some(at) = c.next_deadline() else { break };
        if at > until {
            break;
        }
        all.extend(c.handle(at, Event::Timer, j).into_iter().map(|a| (at, a)));
    }
    all
}

fn actions(timed: &[(Instant, Action)]) -> Vec<Action> {
    timed.iter().map(|(_, a)| a.clone()).collect()
}

/// Start → DISCOVER → OFFER → REQUEST → ACK with these times; returns the
/// client and when the lease was obtained (the REQUEST's first sending).
fn bound(times: (u32, u32, u32)) -> (Client, Instant, FixedJitter) {
    let mut j = FixedJitter(0);
    let t0 = Instant::now();
    let mut c = Client::new(cfg(), None);
    let a = c.handle(t0, Event::Start, &mut j);
    assert_eq!(phases(&a), vec![Phase::Selecting]);
    let discover = last_sent(&a);
    assert_eq!(discover.kind, MessageKind::Discover);
    assert_eq!(discover.to, Destination::Broadcast);
    assert_eq!(discover.ciaddr, Ipv4Addr::UNSPECIFIED);
    assert_eq!(discover.server_id, None);
    let at = t0 + Duration::from_millis(5);
    let a = c.handle(
        at,
        Event::Received(&reply(ReplyKind::Offer, discover.xid, addr(), times)),
        &mut j,
    );
    assert_eq!(phases(&a), vec![Phase::Requesting]);
    let request = last_sent(&a);
    assert_eq!(request.kind, MessageKind::Request);
    assert_eq!(
        request.xid, discover.xid,
        "the xid of the DISCOVER and OFFER"
    );
    assert_eq!(request.requested, Some(addr()));
    assert_eq!(request.server_id, Some(server()));
    assert_eq!(request.to, Destination::Broadcast);
    let a = c.handle(
        at + Duration::from_millis(5),
        Event::Received(&reply(ReplyKind::Ack, request.xid, addr(), times)),
        &mut j,
    );
    assert_eq!(phases(&a), vec![Phase::Bound]);
    assert!(matches!(a.last(), Some(Action::Bound(l)) if l.address == addr()));
    (c, at, j)
}

#[test]
fn discover_offer_request_ack_binds_with_the_offered_configuration() {
    let (c, at, _) = bound((120, 10, 20));
    let l = c.lease().expect("lease");
    assert_eq!(l.obtained, at, "counted from the REQUEST, not the ACK");
    assert_eq!(l.network().to_string(), "192.0.2.10/24");
    assert_eq!(
        l.options.gateway(),
        None,
        "option 121 without 0/0 overrides option 3"
    );
    assert_eq!(l.options.dns_servers, vec![ip("192.0.2.53")]);
    assert_eq!(l.options.domain.as_deref(), Some("lab.example"));
    assert_eq!(l.expires_at(), Some(at + SEC * 120));
    assert_eq!(c.next_deadline(), Some(at + SEC * 10));
    assert_eq!(c.counters().accepted, 2);
    assert_eq!(c.counters().sent, 2);
}

#[test]
fn the_first_discover_waits_its_random_start_delay() {
    let mut j = FixedJitter(0);
    let t0 = Instant::now();
    let mut c = Client::new(
        ClientConfig {
            start_delay_max: SEC * 10,
            ..cfg()
        },
        None,
    );
    let a = c.handle(t0, Event::Start, &mut j);
    assert!(a.is_empty(), "{a:?}");
    assert_eq!(c.phase(), Phase::Init);
    // RAND 0 is the middle of [0, 10 s].
    assert_eq!(c.next_deadline(), Some(t0 + SEC * 5));
    let a = c.handle(t0 + SEC * 5, Event::Timer, &mut j);
    assert_eq!(last_sent(&a).kind, MessageKind::Discover);
    assert_eq!(c.phase(), Phase::Selecting);
}

#[test]
fn discover_is_retransmitted_forever_doubling_to_64_seconds() {
    let mut j = FixedJitter(0);
    let t0 = Instant::now();
    let mut c = Client::new(cfg(), None);
    let first = last_sent(&c.handle(t0, Event::Start, &mut j));
    let timed = run_until(&mut c, t0 + SEC * 600, &mut j);
    let times: Vec<u64> = timed
        .iter()
        .filter(|(_, a)| matches!(a, Action::Send(_)))
        .map(|(at, _)| at.duration_since(t0).as_secs())
        .collect();
    // 4, +8, +16, +32, +64, +64 ...
    assert_eq!(&times[..7], &[4, 12, 28, 60, 124, 188, 252]);
    assert_eq!(times.len(), 12);
    let all = sent(&actions(&timed));
    assert!(all.iter().all(|o| o.xid == first.xid));
    assert_eq!(all[0].secs, 4, "secs counts from the first DISCOVER");
    assert_eq!(c.phase(), Phase::Selecting);
    // With RAND at its ends, each wait moves by one second.
    let mut late = FixedJitter(1000);
    let mut c = Client::new(cfg(), None);
    c.handle(t0, Event::Start, &mut late);
    assert_eq!(c.next_deadline(), Some(t0 + SEC * 5));
}

#[test]
fn an_unanswered_request_is_sent_four_times_then_discovery_starts_over() {
    let mut j = FixedJitter(0);
    let t0 = Instant::now();
    let mut c = Client::new(cfg(), None);
    let discover = last_sent(&c.handle(t0, Event::Start, &mut j));
    let offer = reply(ReplyKind::Offer, discover.xid, addr(), (120, 10, 20));
    c.handle(t0, Event::Received(&offer), &mut j);
    let timed = run_until(&mut c, t0 + SEC * 60, &mut j);
    let a = actions(&timed);
    let kinds: Vec<MessageKind> = sent(&a).iter().map(|o| o.kind).collect();
    // Three more REQUESTs (4, 12, 28 s), then at 60 s a fresh DISCOVER.
    assert_eq!(
        kinds,
        [
            MessageKind::Request,
            MessageKind::Request,
            MessageKind::Request,
            MessageKind::Discover
        ]
    );
    assert_eq!(phases(&a), vec![Phase::Init, Phase::Selecting]);
    assert_ne!(last_sent(&a).xid, discover.xid, "a new transaction");
    assert!(!lost(&a), "nothing was held");
}

#[test]
fn renewing_at_t1_is_unicast_from_the_address_and_extends_the_lease() {
    let (mut c, at, mut j) = bound((120, 10, 20));
    let timed = run_until(&mut c, at + SEC * 10, &mut j);
    let a = actions(&timed);
    assert_eq!(phases(&a), vec![Phase::Renewing]);
    let renew = last_sent(&a);
    assert_eq!(renew.kind, MessageKind::Request);
    assert_eq!(renew.to, Destination::Unicast(server()));
    assert_eq!(renew.ciaddr, addr());
    assert_eq!((renew.requested, renew.server_id), (None, None));
    assert!(!renew.broadcast_flag);
    let t1 = at + SEC * 10;
    let a = c.handle(
        t1 + SEC,
        Event::Received(&reply(ReplyKind::Ack, renew.xid, addr(), (120, 10, 20))),
        &mut j,
    );
    assert_eq!(phases(&a), vec![Phase::Bound]);
    assert!(matches!(a.last(), Some(Action::Bound(_))));
    assert_eq!(c.lease().map(|l| l.obtained), Some(t1));
    assert_eq!(c.next_deadline(), Some(t1 + SEC * 10));
}

#[test]
fn renewing_retransmits_at_half_the_time_to_t2_but_at_least_a_minute() {
    // A day-like lease: T1 1800 s, T2 3150 s.
    let (mut c, at, mut j) = bound((3600, 1800, 3150));
    let timed = run_until(&mut c, at + SEC * 3149, &mut j);
    let renews: Vec<u64> = timed
        .iter()
        .filter(|(_, a)| matches!(a, Action::Send(_)))
        .map(|(t, _)| t.duration_since(at).as_secs())
        .collect();
    // 1800; +675 (half of 1350); +337.5; then 60 s floors (137.5 left:
    // 68.75 is above 60); then what is left, so T2 is not overshot.
    assert_eq!(&renews[..3], &[1800, 2475, 2812]);
    assert!(renews.iter().all(|t| *t < 3150));
    let a = actions(&run_until(&mut c, at + SEC * 3150, &mut j));
    assert_eq!(phases(&a), vec![Phase::Rebinding]);
}

#[test]
fn without_a_server_renewing_becomes_rebinding_then_the_lease_expires() {
    let (mut c, at, mut j) = bound((120, 10, 20));
    let timed = run_until(&mut c, at + SEC * 119, &mut j);
    let a = actions(&timed);
    assert_eq!(phases(&a), vec![Phase::Renewing, Phase::Rebinding]);
    let sends: Vec<(u64, Destination)> = timed
        .iter()
        .filter_map(|(t, a)| match a {
            Action::Send(o) => Some((t.duration_since(at).as_secs(), o.to)),
            _ => None,
        })
        .collect();
    // Renew at T1 (the 60 s floor is clipped at T2); rebind at T2 and 60 s
    // later (half of 100 s left is below the floor); the rest is clipped.
    assert_eq!(
        sends,
        [
            (10, Destination::Unicast(server())),
            (20, Destination::Broadcast),
            (80, Destination::Broadcast)
        ]
    );
    let rebind = last_sent(&a);
    assert_eq!(rebind.ciaddr, addr());
    assert_eq!(rebind.server_id, None);
    let a = actions(&run_until(&mut c, at + SEC * 120, &mut j));
    assert_eq!(
        phases(&a),
        vec![Phase::Expired, Phase::Init, Phase::Selecting]
    );
    assert!(matches!(
        a.first(),
        Some(Action::Lost { address, .. }) if *address == addr()
    ));
    let discover = last_sent(&a);
    assert_eq!(discover.kind, MessageKind::Discover);
    assert_eq!(discover.requested, Some(addr()), "asks for its old address");
    assert!(c.lease().is_none());
}

#[test]
fn a_rebinding_ack_from_any_server_restores_bound() {
    let (mut c, at, mut j) = bound((120, 10, 20));
    let a = actions(&run_until(&mut c, at + SEC * 20, &mut j));
    let rebind = last_sent(&a);
    let mut other = reply(ReplyKind::Ack, rebind.xid, addr(), (120, 10, 20));
    other.server_id = Some(ip("192.0.2.2"));
    let a = c.handle(at + SEC * 21, Event::Received(&other), &mut j);
    assert_eq!(phases(&a), vec![Phase::Bound]);
    assert_eq!(c.lease().map(|l| l.server_id), Some(ip("192.0.2.2")));
}

#[test]
fn a_nak_drops_the_lease_and_discovers_at_once_in_every_phase() {
    // REQUESTING: nothing held yet.
    let mut j = FixedJitter(0);
    let t0 = Instant::now();
    let mut c = Client::new(cfg(), None);
    let d = last_sent(&c.handle(t0, Event::Start, &mut j));
    let r = last_sent(&c.handle(
        t0,
        Event::Received(&reply(ReplyKind::Offer, d.xid, addr(), (120, 10, 20))),
        &mut j,
    ));
    let a = c.handle(t0, Event::Received(&nak(r.xid)), &mut j);
    assert_eq!(phases(&a), vec![Phase::Init, Phase::Selecting]);
    assert!(!lost(&a));
    assert!(
        matches!(a.first(), Some(Action::Nak { message: Some(m), .. }) if m == "address not available")
    );
    assert_eq!(last_sent(&a).kind, MessageKind::Discover);

    // RENEWING and REBINDING: the lease is lost first.
    for (until, phase) in [(10, Phase::Renewing), (20, Phase::Rebinding)] {
        let (mut c, at, mut j) = bound((120, 10, 20));
        let a = actions(&run_until(&mut c, at + SEC * until, &mut j));
        assert_eq!(c.phase(), phase);
        let xid = last_sent(&a).xid;
        let a = c.handle(at + SEC * until, Event::Received(&nak(xid)), &mut j);
        assert!(lost(&a), "{phase:?}");
        assert_eq!(phases(&a), vec![Phase::Init, Phase::Selecting]);
        let discover = last_sent(&a);
        assert_eq!(
            discover.requested, None,
            "the refused address is not asked for"
        );
        assert_eq!(c.counters().naks, 1);
        assert!(c.lease().is_none());
    }
}

#[test]
fn naks_in_a_row_back_off_before_discovering_again() {
    let mut j = FixedJitter(0);
    let t0 = Instant::now();
    let mut c = Client::new(cfg(), None);
    let mut now = t0;
    let mut d = last_sent(&c.handle(now, Event::Start, &mut j));
    let mut waits = Vec::new();
    for _ in 0..6 {
        let r = last_sent(&c.handle(
            now,
            Event::Received(&reply(ReplyKind::Offer, d.xid, addr(), (120, 10, 20))),
            &mut j,
        ));
        let a = c.handle(now, Event::Received(&nak(r.xid)), &mut j);
        let at = if sent(&a).is_empty() {
            let at = c.next_deadline().expect("a delayed DISCOVER");
            d = last_sent(&c.handle(at, Event::Timer, &mut j));
            at
        } else {
            d = last_sent(&a);
            now
        };
        waits.push(at.duration_since(now).as_secs());
        now = at;
    }
    assert_eq!(waits, [0, 4, 8, 16, 32, 64]);
}

#[test]
fn replies_for_another_transaction_client_or_phase_are_ignored() {
    let (mut c, at, mut j) = bound((120, 10, 20));
    let a = actions(&run_until(&mut c, at + SEC * 10, &mut j));
    let xid = last_sent(&a).xid;
    let good = reply(ReplyKind::Ack, xid, addr(), (120, 10, 20));
    let mut wrong_xid = good.clone();
    wrong_xid.xid ^= 1;
    let mut wrong_mac = good.clone();
    wrong_mac.chaddr = vec![2, 0, 0, 0, 0, 2];
    let mut wrong_id = good.clone();
    wrong_id.client_id = Some(vec![1, 2, 0, 0, 0, 0, 2]);
    let other_address = reply(ReplyKind::Ack, xid, ip("192.0.2.11"), (120, 10, 20));
    let offer = reply(ReplyKind::Offer, xid, addr(), (120, 10, 20));
    let zero_lease = reply(ReplyKind::Ack, xid, addr(), (0, 0, 0));
    let mut wrong_nak = nak(xid);
    wrong_nak.xid ^= 1;
    for r in [
        &wrong_xid,
        &wrong_mac,
        &wrong_id,
        &other_address,
        &offer,
        &zero_lease,
        &wrong_nak,
    ] {
        assert!(
            c.handle(at + SEC * 11, Event::Received(r), &mut j)
                .is_empty(),
            "{r:?}"
        );
        assert_eq!(c.phase(), Phase::Renewing);
    }
    assert_eq!(c.counters().ignored, 7);
    // A server that does not echo the client id is still heard (RFC 6842
    // came late); the right reply is taken.
    let mut no_id = good.clone();
    no_id.client_id = None;
    let a = c.handle(at + SEC * 11, Event::Received(&no_id), &mut j);
    assert_eq!(phases(&a), vec![Phase::Bound]);
}

#[test]
fn unusable_offers_and_early_or_foreign_replies_are_ignored() {
    let mut j = FixedJitter(0);
    let t0 = Instant::now();
    let mut c = Client::new(cfg(), None);
    let d = last_sent(&c.handle(t0, Event::Start, &mut j));
    let times = (120, 10, 20);
    let mut no_server = reply(ReplyKind::Offer, d.xid, addr(), times);
    no_server.server_id = None;
    let mut no_lease = reply(ReplyKind::Offer, d.xid, addr(), times);
    no_lease.times.lease = None;
    for r in [
        &reply(ReplyKind::Offer, d.xid, Ipv4Addr::UNSPECIFIED, times),
        &reply(ReplyKind::Offer, d.xid, ip("224.0.0.1"), times),
        &reply(ReplyKind::Offer, d.xid, ip("255.255.255.255"), times),
        &no_server,
        &no_lease,
        // An ACK or NAK while selecting answers nothing we asked.
        &reply(ReplyKind::Ack, d.xid, addr(), times),
        &nak(d.xid),
    ] {
        assert!(c.handle(t0, Event::Received(r), &mut j).is_empty(), "{r:?}");
    }
    assert_eq!(c.phase(), Phase::Selecting);
    assert_eq!(c.counters().ignored, 7);
    // In REQUESTING, an ACK for another address, and another server's NAK.
    let r = last_sent(&c.handle(
        t0,
        Event::Received(&reply(ReplyKind::Offer, d.xid, addr(), times)),
        &mut j,
    ));
    let mut other_nak = nak(r.xid);
    other_nak.server_id = Some(ip("192.0.2.2"));
    for x in [
        &reply(ReplyKind::Ack, r.xid, ip("192.0.2.11"), times),
        &other_nak,
    ] {
        assert!(c.handle(t0, Event::Received(x), &mut j).is_empty(), "{x:?}");
    }
    assert_eq!(c.phase(), Phase::Requesting);
}

#[test]
fn a_stored_lease_is_confirmed_with_init_reboot() {
    let (c, at, mut j) = bound((120, 10, 20));
    let stored = c.lease().cloned().expect("lease");
    // Killed, restarted 5 s later (before T1: still INIT-REBOOT).
    let now = at + SEC * 5;
    let mut c = Client::new(cfg(), Some(stored.clone()));
    let a = c.handle(now, Event::Start, &mut j);
    assert_eq!(phases(&a), vec![Phase::Rebooting]);
    let request = last_sent(&a);
    assert_eq!(request.kind, MessageKind::Request);
    assert_eq!(request.to, Destination::Broadcast);
    assert_eq!(request.ciaddr, Ipv4Addr::UNSPECIFIED);
    assert_eq!(request.requested, Some(addr()));
    assert_eq!(request.server_id, None);
    assert_eq!(c.lease(), Some(&stored), "shown while being confirmed");
    // An ACK for another address does not confirm it.
    let other = reply(ReplyKind::Ack, request.xid, ip("192.0.2.11"), (120, 10, 20));
    assert!(c.handle(now, Event::Received(&other), &mut j).is_empty());
    let a = c.handle(
        now + SEC,
        Event::Received(&reply(ReplyKind::Ack, request.xid, addr(), (120, 10, 20))),
        &mut j,
    );
    assert_eq!(phases(&a), vec![Phase::Bound]);
    assert_eq!(c.lease().map(|l| l.obtained), Some(now));
}

#[test]
fn an_unanswered_init_reboot_gives_the_lease_up_and_discovers() {
    let (c, at, mut j) = bound((3600, 1800, 3150));
    let stored = c.lease().cloned().expect("lease");
    let now = at + SEC * 5;
    let mut c = Client::new(cfg(), Some(stored));
    c.handle(now, Event::Start, &mut j);
    let timed = run_until(&mut c, now + SEC * 28, &mut j);
    let a = actions(&timed);
    // Sent at 0, 4 and 12 s; at 28 s it gives up.
    assert_eq!(sent(&a).len(), 3);
    assert!(lost(&a));
    assert_eq!(phases(&a), vec![Phase::Init, Phase::Selecting]);
    assert_eq!(last_sent(&a).kind, MessageKind::Discover);
}

#[test]
fn a_stored_lease_that_expires_before_or_while_rebooting_is_lost() {
    let (c, at, mut j) = bound((120, 10, 20));
    let stored = c.lease().cloned().expect("lease");
    let mut c = Client::new(cfg(), Some(stored.clone()));
    let a = c.handle(at + SEC * 120, Event::Start, &mut j);
    assert!(lost(&a));
    assert_eq!(last_sent(&a).kind, MessageKind::Discover);
    // Restarted 110 s in: the lease ends 10 s into INIT-REBOOT.
    let mut c = Client::new(cfg(), Some(stored));
    c.handle(at + SEC * 110, Event::Start, &mut j);
    let a = actions(&run_until(&mut c, at + SEC * 120, &mut j));
    assert!(lost(&a));
    assert_eq!(
        phases(&a),
        vec![Phase::Expired, Phase::Init, Phase::Selecting]
    );
    // And a NAK to INIT-REBOOT drops it at once.
    let (c, at, mut j) = bound((120, 10, 20));
    let mut c = Client::new(cfg(), c.lease().cloned());
    let r = last_sent(&c.handle(at, Event::Start, &mut j));
    let a = c.handle(at, Event::Received(&nak(r.xid)), &mut j);
    assert!(lost(&a));
    assert_eq!(c.phase(), Phase::Selecting);
}

#[test]
fn stop_with_release_drops_the_address_then_sends_one_release() {
    let (mut c, at, mut j) = bound((120, 10, 20));
    let a = c.handle(at + SEC, Event::Stop { release: true }, &mut j);
    assert!(matches!(a.first(), Some(Action::Lost { .. })), "{a:?}");
    let release = last_sent(&a);
    assert_eq!(release.kind, MessageKind::Release);
    assert_eq!(release.to, Destination::Unicast(server()));
    assert_eq!(release.ciaddr, addr());
    assert_eq!(release.server_id, Some(server()));
    assert_eq!(phases(&a), vec![Phase::Stopped]);
    assert_eq!(c.next_deadline(), None, "RELEASE is not retransmitted");
    assert!(c.lease().is_none());
    // Without release the lease is kept for the next run.
    let (mut c, at, mut j) = bound((120, 10, 20));
    let a = c.handle(at + SEC, Event::Stop { release: false }, &mut j);
    assert!(sent(&a).is_empty() && !lost(&a));
    assert!(c.lease().is_some());
    assert_eq!(c.phase(), Phase::Stopped);
    // Nothing to release while selecting.
    let mut c = Client::new(cfg(), None);
    c.handle(at, Event::Start, &mut j);
    let a = c.handle(at, Event::Stop { release: true }, &mut j);
    assert!(sent(&a).is_empty());
}

#[test]
fn renew_now_works_only_when_bound() {
    let (mut c, at, mut j) = bound((120, 10, 20));
    let a = c.renew_now(at + SEC, &mut j);
    assert_eq!(phases(&a), vec![Phase::Renewing]);
    assert_eq!(last_sent(&a).to, Destination::Unicast(server()));
    assert!(c.renew_now(at + SEC, &mut j).is_empty(), "already renewing");
    let mut c = Client::new(cfg(), None);
    c.handle(at, Event::Start, &mut j);
    assert!(c.renew_now(at, &mut j).is_empty());
}

#[test]
fn nonsense_times_are_repaired_and_counted_and_infinite_leases_never_renew() {
    let (c, at, _) = bound((3600, 3000, 2000));
    let l = c.lease().expect("lease");
    assert_eq!(l.renew_at(), Some(at + SEC * 1800));
    assert_eq!(c.counters().repaired, 1);
    let (c, _, _) = bound((crate::timers::INFINITE, 0, 0));
    assert_eq!(c.next_deadline(), None);
    assert_eq!(c.lease().and_then(Lease::expires_at), None);
}

#[test]
fn a_refused_option_121_is_counted_and_option_3_is_used() {
    let mut j = FixedJitter(0);
    let t0 = Instant::now();
    let mut c = Client::new(cfg(), None);
    let d = last_sent(&c.handle(t0, Event::Start, &mut j));
    let r = last_sent(&c.handle(
        t0,
        Event::Received(&reply(ReplyKind::Offer, d.xid, addr(), (120, 10, 20))),
        &mut j,
    ));
    let mut bytes = encode_reply(&Reply {
        options: LeaseOptions {
            routes: None,
            ..reply(ReplyKind::Ack, r.xid, addr(), (120, 10, 20)).options
        },
        ..reply(ReplyKind::Ack, r.xid, addr(), (120, 10, 20))
    })
    .expect("encodes");
    // Replace the End option with a malformed option 121 (length 33 > 32).
    let end = bytes.iter().rposition(|b| *b == 255).expect("End");
    bytes.truncate(end);
    bytes.extend([121, 5, 33, 10, 0, 0, 0, 255]);
    let ack = decode(&bytes).expect("decodes");
    assert!(ack.routes_refused);
    c.handle(t0, Event::Received(&ack), &mut j);
    assert_eq!(c.phase(), Phase::Bound);
    assert_eq!(c.counters().repaired, 1);
    assert_eq!(c.lease().and_then(|l| l.options.gateway()), Some(server()));
}

#[test]
fn garbage_is_counted_as_malformed_and_changes_nothing() {
    let (mut c, _, _) = bound((120, 10, 20));
    for bytes in [&[][..], &[2u8; 100], &[0xff; 600]] {
        if decode(bytes).is_err() {
            c.note_malformed();
        }
    }
    assert_eq!(c.counters().malformed, 3);
    assert_eq!(c.phase(), Phase::Bound);
}
