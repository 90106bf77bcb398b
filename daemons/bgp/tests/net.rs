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
