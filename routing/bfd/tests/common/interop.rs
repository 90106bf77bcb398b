//! The interop scenario every real peer goes through: both sessions (IPv4
//! and IPv6 link-local) come Up on both sides, then rounds of silent failure
//! (nftables drops in our namespace) and recovery, with the detection time
//! measured and printed, not asserted tightly.

use std::net::IpAddr;
use std::time::{Duration, Instant, SystemTime};

use routerd_bfd_core::{Bfd, Diag, SessionHandle, SessionParams, SessionSpec, State};
use routerd_lab::wait_until;

use super::*;

/// How many cut/heal rounds to measure.
const ROUNDS: usize = 5;

/// A peer under test, as the scenario needs to see it.
pub trait Peer {
    /// Its name in the printed figures.
    fn name(&self) -> &str;
    /// Its session state with `addr`, lowercased ("up", "down", "init", …).
    fn state(&self, addr: IpAddr) -> Option<String>;
    /// Its detection time for `addr`, if it reports one.
    fn detection_time(&self, addr: IpAddr) -> Option<Duration>;
    /// Log output to show when the scenario fails.
    fn logs(&self) -> String;
    /// When the peer logged its session with `addr` going Down, the first
    /// time at or after `after` (wall clock; peers log in UTC here).
    fn logged_down(&self, addr: IpAddr, after: SystemTime) -> Option<SystemTime>;
}

/// Runs the scenario against `peer`, which must already be configured for
/// 50 ms × 3 sessions with [`OUR_V4`] and `our_ll` on [`PEER_IF`].
pub fn run(lab: &Pair, peer: &dyn Peer) {
    let rt = runtime_in(&lab.ours);
    let bfd = rt.block_on(async { Bfd::spawn() });
    let our_ll = link_local(&lab.ours, OUR_IF);
    let peer_ll = link_local(&lab.peer, PEER_IF);
    let params = SessionParams::new(Duration::from_millis(50), 3);
    let add = |peer: IpAddr, local: IpAddr| {
        rt.block_on(bfd.add_session(SessionSpec {
            peer,
            local,
            ifname: OUR_IF.into(),
            params: params.clone(),
        }))
        .expect("add session")
    };
    let v4 = add(ip(PEER_V4), ip(OUR_V4));
    let v6 = add(peer_ll, our_ll);
    let sessions = [(&v4, ip(OUR_V4)), (&v6, our_ll)];

    let guard = LogsOnPanic(peer);
    for (h, peer_sees) in sessions {
        wait_state(h, State::Up, Duration::from_secs(20));
        wait_peer(peer, peer_sees, "up", Duration::from_secs(20));
    }
    settle(&rt, &bfd, peer, &sessions);
    println!(
        "{}: both sessions Up on both sides (IPv4, IPv6 link-local)",
        peer.name()
    );
    let st = rt.block_on(bfd.status()).expect("status");
    for s in &st.sessions {
        // Before any cut: the output drop makes sendto fail with EPERM later.
        assert_eq!(s.send_errors, 0, "{s:?}");
    }

    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for round in 1..=ROUNDS {
        let failures = v4.view().failures;
        let cut = Cut::new(&lab.ours);
        let down = wait_state(&v4, State::Down, Duration::from_secs(3)).expect("a change");
        let peer_down = wait_peer(peer, ip(OUR_V4), "down", Duration::from_secs(3));
        wait_state(&v6, State::Down, Duration::from_secs(3));
        wait_peer(peer, our_ll, "down", Duration::from_secs(3));
        let view = v4.view();
        assert_eq!(view.diag, Diag::ControlDetectionTimeExpired);
        assert_eq!(view.failures, failures + 1);
        let took = down.saturating_duration_since(cut.at);
        let (lo, hi) = peer_down;
        // The peer's own log is exact; its CLI may lag behind its BFD thread.
        let logged = wait_until("the peer to log its Down", Duration::from_secs(3), || {
            peer.logged_down(ip(OUR_V4), cut.wall - Duration::from_millis(2))
        });
        let peer_took = logged.duration_since(cut.wall).unwrap_or_default();
        println!(
            "{} round {round}: silent cut → our session Down {}; {} logged Down after {} (its CLI showed it between {} and {}); nft took {}",
            peer.name(),
            ms(took),
            peer.name(),
            ms(peer_took),
            ms(lo.saturating_duration_since(cut.at)),
            ms(hi.saturating_duration_since(cut.at)),
            ms(cut.nft_took),
        );
        // Generous on purpose: the figure above is the measurement.
        assert!(took < Duration::from_secs(1), "detection took {took:?}");
        ours.push(took);
        theirs.push(peer_took);

        cut.heal();
        for (h, peer_sees) in sessions {
            wait_state(h, State::Up, Duration::from_secs(20));
            wait_peer(peer, peer_sees, "up", Duration::from_secs(20));
        }
        settle(&rt, &bfd, peer, &sessions);
    }
    ours.sort();
    theirs.sort();
    println!(
        "{} 50 ms × 3, silent failure → our session Down: median {} (min {}, max {}) over {ROUNDS} rounds; {} logged Down after median {} (min {}, max {})",
        peer.name(),
        ms(ours[ROUNDS / 2]),
        ms(ours[0]),
        ms(ours[ROUNDS - 1]),
        peer.name(),
        ms(theirs[ROUNDS / 2]),
        ms(theirs[0]),
        ms(theirs[ROUNDS - 1]),
    );

    let st = rt.block_on(bfd.status()).expect("status");
    println!(
        "{}: runner received {} datagrams, dropped {:?}; IPv4 session {}",
        peer.name(),
        st.received,
        st.dropped,
        st.sessions
            .iter()
            .find(|s| s.peer == ip(PEER_V4))
            .and_then(|s| serde_json::to_string(s).ok())
            .unwrap_or_default()
    );
    assert_eq!(
        st.dropped.total(),
        0,
        "the peer's packets were all accepted"
    );
    for s in &st.sessions {
        assert_eq!(s.status.counters.dropped.total(), 0, "{s:?}");
    }

    // Shutting down tells the peer (AdminDown), which goes Down at once.
    let t = Instant::now();
    rt.block_on(bfd.shutdown());
    let (_, seen) = wait_peer(peer, ip(OUR_V4), "down", Duration::from_secs(3));
    println!(
        "{}: Down after our shutdown (AdminDown) within {}",
        peer.name(),
        ms(seen - t)
    );
    drop(guard);
}

/// Waits until both sides agree on 50 ms × 3 and no Poll is running.
fn settle(
    rt: &tokio::runtime::Runtime,
    bfd: &Bfd,
    peer: &dyn Peer,
    sessions: &[(&SessionHandle, IpAddr)],
) {
    wait_until(
        "timers to settle at 50 ms × 3",
        Duration::from_secs(10),
        || {
            let st = rt.block_on(bfd.status()).ok()?;
            let ours_ok = st.sessions.iter().all(|s| {
                !s.status.poll_active
                    && s.status.tx_interval_us == Some(50_000)
                    && s.status.detection_time_us == Some(150_000)
            });
            let theirs_ok = sessions.iter().all(|(_, addr)| {
                peer.detection_time(*addr)
                    .is_none_or(|d| d == Duration::from_millis(150))
            });
            (ours_ok && theirs_ok).then_some(())
        },
    );
}

/// Polls the peer (every 5 ms) until its session with `addr` is `state`.
/// Returns when that happened, as bounds: after the start of the last query
/// that did not see it, and before the end of the first that did.
fn wait_peer(peer: &dyn Peer, addr: IpAddr, state: &str, timeout: Duration) -> (Instant, Instant) {
    let start = Instant::now();
    let mut not_yet = start;
    loop {
        let asked = Instant::now();
        let seen = peer.state(addr);
        let answered = Instant::now();
        if seen.as_deref() == Some(state) {
            return (not_yet, answered);
        }
        not_yet = asked;
        if answered - start > timeout {
            panic!(
                "{} did not report {state} for {addr} within {timeout:?} (last: {seen:?})",
                peer.name(),
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Prints the peer's logs if the scenario panics.
struct LogsOnPanic<'a>(&'a dyn Peer);

impl Drop for LogsOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- {} logs ---\n{}", self.0.name(), self.0.logs());
        }
    }
}
