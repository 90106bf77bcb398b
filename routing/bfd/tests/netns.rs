//! Two runners, one per namespace, over a veth: the UDP edge on real sockets
//! (IPv4 and IPv6 link-local), a silent failure made with nftables, live
//! parameter changes, GTSM and hostile datagrams, removal and shutdown.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use common::*;
use routerd_bfd_core::{Bfd, ControlPacket, Diag, DropReason, SessionParams, SessionSpec, State};

const UP_WITHIN: Duration = Duration::from_secs(10);

fn params() -> SessionParams {
    SessionParams::new(Duration::from_millis(50), 3)
}

#[test]
fn two_runners_come_up_detect_a_silent_cut_and_recover() {
    let lab = Pair::new("bfd-self");
    let rt_o = runtime_in(&lab.ours);
    let rt_p = runtime_in(&lab.peer);
    let ours = rt_o.block_on(async { Bfd::spawn() });
    let peer = rt_p.block_on(async { Bfd::spawn() });
    let ll_o = link_local(&lab.ours, OUR_IF);
    let ll_p = link_local(&lab.peer, PEER_IF);

    let add = |rt: &tokio::runtime::Runtime, bfd: &Bfd, peer: &str, local: &str, ifname: &str| {
        rt.block_on(bfd.add_session(SessionSpec {
            peer: ip(peer),
            local: ip(local),
            ifname: ifname.into(),
            params: params(),
        }))
        .expect("add session")
    };
    let o4 = add(&rt_o, &ours, PEER_V4, OUR_V4, OUR_IF);
    let p4 = add(&rt_p, &peer, OUR_V4, PEER_V4, PEER_IF);
    let o6 = add(&rt_o, &ours, &ll_p.to_string(), &ll_o.to_string(), OUR_IF);
    let p6 = add(&rt_p, &peer, &ll_o.to_string(), &ll_p.to_string(), PEER_IF);
    for h in [&o4, &p4, &o6, &p6] {
        wait_state(h, State::Up, UP_WITHIN);
    }
    // A second session for the same peer on the same link is refused.
    let dup = rt_o.block_on(ours.add_session(SessionSpec {
        peer: ip(PEER_V4),
        local: ip(OUR_V4),
        ifname: OUR_IF.into(),
        params: params(),
    }));
    assert!(dup.is_err(), "duplicate accepted");

    // Negotiated timers, once the Polls of the Up transition are done.
    wait_until_settled(&rt_o, &ours);
    let st = rt_o.block_on(ours.status()).expect("status");
    for s in &st.sessions {
        assert_eq!(s.status.tx_interval_us, Some(50_000), "{s:?}");
        assert_eq!(s.status.detection_time_us, Some(150_000), "{s:?}");
        assert_eq!(s.send_errors, 0);
        assert!(s.status.counters.packets_received >= 3, "{s:?}");
    }

    let mut events = ours.subscribe();
    let cut = Cut::new(&lab.ours);
    let down_o = wait_state(&o4, State::Down, Duration::from_secs(3)).expect("changed");
    let down_p = wait_state(&p4, State::Down, Duration::from_secs(3)).expect("changed");
    wait_state(&o6, State::Down, Duration::from_secs(3));
    wait_state(&p6, State::Down, Duration::from_secs(3));
    let ours_took = down_o.saturating_duration_since(cut.at);
    let peer_took = down_p.saturating_duration_since(cut.at);
    println!(
        "routerd ↔ routerd, 50 ms × 3, nft cut → Down: ours {} / peer {} (nft itself took {})",
        ms(ours_took),
        ms(peer_took),
        ms(cut.nft_took)
    );
    let view = o4.view();
    assert_eq!(view.diag, Diag::ControlDetectionTimeExpired);
    assert_eq!(view.failures, 1);
    let ev = rt_o
        .block_on(async { tokio::time::timeout(Duration::from_secs(1), events.recv()).await })
        .expect("an event")
        .expect("not lagged");
    assert!(ev.change.is_failure());
    // Generous: the figure is printed above; this only catches a broken timer.
    assert!(ours_took < Duration::from_secs(1), "{ours_took:?}");

    cut.heal();
    for h in [&o4, &p4, &o6, &p6] {
        wait_state(h, State::Up, UP_WITHIN);
    }

    // A live change on our side: Poll/Final, and the peer follows.
    rt_o.block_on(ours.set_params(o4.id(), SessionParams::new(Duration::from_millis(200), 3)))
        .expect("set params");
    routerd_lab::wait_until(
        "the peer to detect at 600 ms",
        Duration::from_secs(5),
        || {
            let st = rt_p.block_on(peer.status()).ok()?;
            st.sessions
                .iter()
                .any(|s| s.peer == ip(OUR_V4) && s.status.detection_time_us == Some(600_000))
                .then_some(())
        },
    );
    assert_eq!(o4.view().state, State::Up);
    assert_eq!(p4.view().failures, 1, "no flap during the change");

    hostile_datagrams(&lab, &rt_o, &ours, o4.id().0);

    // Removing our IPv4 session: the peer sees AdminDown, not a failure.
    rt_o.block_on(ours.remove(o4.id())).expect("remove");
    wait_state(&p4, State::Down, Duration::from_secs(3));
    let v = p4.view();
    assert_eq!(v.diag, Diag::NeighborSignaledSessionDown);
    assert_eq!(v.failures, 1, "an AdminDown peer is not a path failure");
    // And it can be added again at once.
    let o4 = add(&rt_o, &ours, PEER_V4, OUR_V4, OUR_IF);
    wait_state(&o4, State::Up, UP_WITHIN);
    wait_state(&p4, State::Up, UP_WITHIN);

    // Shutdown tells the peer too.
    rt_o.block_on(ours.shutdown());
    wait_state(&p6, State::Down, Duration::from_secs(3));
    assert_eq!(
        p6.view().last_change.map(|c| c.remote_state),
        Some(State::AdminDown)
    );
    rt_p.block_on(peer.shutdown());
}

fn wait_until_settled(rt: &tokio::runtime::Runtime, bfd: &Bfd) {
    routerd_lab::wait_until("Polls to complete", Duration::from_secs(5), || {
        let st = rt.block_on(bfd.status()).ok()?;
        st.sessions
            .iter()
            .all(|s| !s.status.poll_active && s.status.detection_time_us == Some(150_000))
            .then_some(())
    });
}

/// Datagrams a runner must count and drop without disturbing the session:
/// a valid packet with TTL 64 (GTSM), garbage, an unknown discriminator.
fn hostile_datagrams(lab: &Pair, rt: &tokio::runtime::Runtime, bfd: &Bfd, our_discr: u32) {
    let before = rt.block_on(bfd.status()).expect("status");
    let good = ControlPacket {
        diag: Diag::None,
        state: State::Up,
        poll: false,
        final_: false,
        control_plane_independent: false,
        demand: false,
        detect_mult: 3,
        my_discr: 12345,
        your_discr: our_discr,
        desired_min_tx_us: 50_000,
        required_min_rx_us: 50_000,
        required_min_echo_rx_us: 0,
        auth: None,
    };
    let unknown = ControlPacket {
        your_discr: our_discr.wrapping_add(1000),
        ..good.clone()
    };
    let dst: SocketAddr = format!("{OUR_V4}:3784").parse().expect("literal");
    lab.peer.in_netns(|| {
        let s = UdpSocket::bind(format!("{PEER_V4}:0")).expect("bind");
        s.set_ttl(64).expect("ttl");
        s.send_to(&good.encode(), dst).expect("send ttl 64");
        s.set_ttl(255).expect("ttl");
        s.send_to(&[0x20, 0x40, 3], dst).expect("send short");
        s.send_to(&[0xff; 24], dst).expect("send version 7");
        s.send_to(&unknown.encode(), dst)
            .expect("send unknown discr");
    });
    routerd_lab::wait_until("the drops to be counted", Duration::from_secs(3), || {
        let st = rt.block_on(bfd.status()).ok()?;
        let d = |r| st.dropped.get(r) - before.dropped.get(r);
        (d(DropReason::Ttl) >= 1
            && d(DropReason::Length) >= 1
            && d(DropReason::Version) >= 1
            && d(DropReason::NoSession) >= 1)
            .then_some(())
    });
}
