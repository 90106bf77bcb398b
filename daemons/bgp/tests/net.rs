//! TCP MD5 and TTL security against a real kernel, between two namespaces:
//! matching keys connect, a wrong or missing key never does; the GTSM
//! options are what `ss` reports.

use std::time::Duration;

use routerd_bgp::net::{PeerSocket, connect, listen, set_md5};
use routerd_lab::{Netns, veth};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn md5_keys_must_match_for_a_session_to_connect() {
    let a = Netns::new("md5a");
    let b = Netns::new("md5b");
    veth(&a, "a0", &b, "b0");
    a.ip("addr add 192.0.2.1/24 dev a0");
    b.ip("addr add 192.0.2.2/24 dev b0");
    // b listens with the key for a's /24 (a dynamic-neighbour style prefix).
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            b.in_netns(|| {
                runtime().block_on(async {
                    let l = listen("0.0.0.0:1790".parse().expect("addr")).expect("listen");
                    use std::os::fd::AsRawFd;
                    set_md5(
                        l.as_raw_fd(),
                        "192.0.2.0/24".parse().expect("net"),
                        b"s3cret",
                    )
                    .expect("md5 on the listener");
                    ready_tx.send(()).expect("ready");
                    tokio::select! {
                        _ = async { loop { let _ = l.accept().await; } } => {}
                        _ = stop_rx => {}
                    }
                });
            });
        });
        ready_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("listener up");
        a.in_netns(|| {
            runtime().block_on(async {
                let peer = |key: Option<&[u8]>| PeerSocket {
                    peer: "192.0.2.2".parse().expect("ip"),
                    local: None,
                    md5: key.map(<[u8]>::to_vec),
                    ttl_security: Some(1),
                    ttl: 1,
                };
                let ok = connect(&peer(Some(b"s3cret")), 1790, Duration::from_secs(10)).await;
                assert!(ok.is_ok(), "matching keys: {ok:?}");
                // The kernel drops unsigned or wrongly signed SYNs: no
                // connection within the timeout.
                let wrong = connect(&peer(Some(b"other")), 1790, Duration::from_secs(2)).await;
                assert!(wrong.is_err(), "a wrong key connected");
                let none = connect(&peer(None), 1790, Duration::from_secs(2)).await;
                assert!(none.is_err(), "no key connected");
            });
        });
        let _ = stop_tx.send(());
    });
}

/// a — r — b: b is two hops from a.
fn two_hops() -> (Netns, Netns, Netns) {
    let a = Netns::new("gtsma");
    let r = Netns::new("gtsmr");
    let b = Netns::new("gtsmb");
    veth(&a, "a0", &r, "r0");
    veth(&r, "r1", &b, "b0");
    a.ip("addr add 192.0.2.1/24 dev a0");
    r.ip("addr add 192.0.2.254/24 dev r0");
    r.ip("addr add 198.51.100.254/24 dev r1");
    b.ip("addr add 198.51.100.2/24 dev b0");
    a.ip("route add default via 192.0.2.254");
    b.ip("route add default via 198.51.100.254");
    r.set_sysctl("net.ipv4.ip_forward", "1");
    (a, r, b)
}

fn far(ttl_security: Option<u8>) -> PeerSocket {
    PeerSocket {
        peer: "198.51.100.2".parse().expect("ip"),
        local: None,
        md5: None,
        ttl_security,
        ttl: 64,
    }
}

/// GTSM (RFC 5082) on our connecting side: a peer configured as directly
/// connected but really two hops away answers with TTL 254, below the 255
/// we then accept, so the session never connects; allowed two hops, it does.
#[test]
fn ttl_security_refuses_a_peer_further_away_than_configured() {
    let (a, _r, b) = two_hops();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            b.in_netns(|| {
                runtime().block_on(async {
                    let l = listen("0.0.0.0:1791".parse().expect("addr")).expect("listen");
                    ready_tx.send(()).expect("ready");
                    tokio::select! {
                        _ = async { loop { let _ = l.accept().await; } } => {}
                        _ = stop_rx => {}
                    }
                });
            });
        });
        ready_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("listener up");
        a.in_netns(|| {
            runtime().block_on(async {
                // Reachable at all (no GTSM, any TTL).
                let plain = connect(&far(None), 1791, Duration::from_secs(10)).await;
                assert!(plain.is_ok(), "the far peer is reachable: {plain:?}");
                let near = connect(&far(Some(1)), 1791, Duration::from_secs(2)).await;
                assert!(near.is_err(), "a peer two hops away passed a one-hop GTSM");
                let two = connect(&far(Some(2)), 1791, Duration::from_secs(10)).await;
                assert!(
                    two.is_ok(),
                    "a two-hop GTSM refused a peer two hops away: {two:?}"
                );
            });
        });
        let _ = stop_tx.send(());
    });
}

/// GTSM on the accepting side: once a connection from a peer configured as
/// directly connected is accepted, its segments arriving with TTL 254 are
/// dropped by the kernel, so its OPEN never reaches us.
#[test]
fn ttl_security_drops_what_an_accepted_far_peer_sends() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (a, _r, b) = two_hops();
    for (hops, delivered) in [(1u8, false), (2u8, true)] {
        let port = 1791 + u16::from(hops);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (judged_tx, judged_rx) = std::sync::mpsc::channel();
        // A Receiver is not Sync; the client's closure borrows it.
        let judged_rx = std::sync::Mutex::new(judged_rx);
        std::thread::scope(|scope| {
            let server = scope.spawn(|| {
                b.in_netns(|| {
                    runtime().block_on(async {
                        let l = listen(format!("0.0.0.0:{port}").parse().expect("addr"))
                            .expect("listen");
                        ready_tx.send(()).expect("ready");
                        let (mut s, from) =
                            tokio::time::timeout(Duration::from_secs(10), l.accept())
                                .await
                                .expect("a connection within 10 s")
                                .expect("accept");
                        let rule = PeerSocket {
                            peer: from.ip(),
                            local: None,
                            md5: None,
                            ttl_security: Some(hops),
                            ttl: 1,
                        };
                        routerd_bgp::net::accepted(&s, &rule).expect("GTSM on the connection");
                        judged_tx.send(()).expect("judged");
                        let mut buf = [0u8; 5];
                        tokio::time::timeout(Duration::from_secs(3), s.read_exact(&mut buf))
                            .await
                            .ok()
                            .and_then(Result::ok)
                            .map(|_| buf)
                    })
                })
            });
            ready_rx
                .recv_timeout(Duration::from_secs(30))
                .expect("listener up");
            a.in_netns(|| {
                runtime().block_on(async {
                    // The far peer itself uses GTSM: it sends with TTL 255.
                    let mut s = connect(&far(Some(2)), port, Duration::from_secs(10))
                        .await
                        .expect("connect");
                    // The handshake completed before the accepted socket got
                    // its minimum TTL; what is sent after it has is judged by it.
                    judged_rx
                        .lock()
                        .expect("lock")
                        .recv_timeout(Duration::from_secs(10))
                        .expect("the server applied GTSM");
                    s.write_all(b"hello").await.expect("write");
                    // Held open until the server has judged it.
                    let mut sink = [0u8; 1];
                    let _ = tokio::time::timeout(Duration::from_secs(5), s.read(&mut sink)).await;
                });
            });
            let got = server.join().expect("server thread");
            assert_eq!(
                got.is_some(),
                delivered,
                "GTSM {hops} hop(s) for a peer two hops away: delivered {got:?}"
            );
            if delivered {
                assert_eq!(got, Some(*b"hello"));
            }
        });
    }
}
