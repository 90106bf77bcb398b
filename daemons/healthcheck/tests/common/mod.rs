//! The two-namespace lab every healthcheck integration test uses:
//!
//! ```text
//!   [hc]  hc0 192.0.2.1/24 2001:db8:1::1/64 ── veth ── peer0 192.0.2.2/24 2001:db8:1::2/64  [peer]
//! ```
//!
//! Documentation prefixes, living only inside the two namespaces.

#![allow(dead_code)]

use std::future::Future;
use std::time::Duration;

use routerd_lab::{Netns, Process, require_privileges, veth, wait_until};

pub const HC_V4: &str = "192.0.2.1";
pub const PEER_V4: &str = "192.0.2.2";
pub const HC_V6: &str = "2001:db8:1::1";
pub const PEER_V6: &str = "2001:db8:1::2";

/// Deadlines are generous: CI is a loaded 2-core machine.
pub const SETTLE: Duration = Duration::from_secs(20);

pub struct Lab {
    pub hc: Netns,
    pub peer: Netns,
}

impl Lab {
    pub fn new(tag: &str) -> Lab {
        require_privileges();
        let hc = Netns::new(&format!("{tag}-h"));
        let peer = Netns::new(&format!("{tag}-p"));
        // Without this, taking a link down flushes its IPv6 addresses and a
        // link-flap test would find the peer gone for good.
        for ns in [&hc, &peer] {
            ns.set_sysctl("net.ipv6.conf.all.keep_addr_on_down", "1");
            ns.set_sysctl("net.ipv6.conf.default.keep_addr_on_down", "1");
        }
        veth(&hc, "hc0", &peer, "peer0");
        hc.ip(&format!("addr add {HC_V4}/24 dev hc0"));
        hc.ip(&format!("addr add {HC_V6}/64 dev hc0 nodad"));
        peer.ip(&format!("addr add {PEER_V4}/24 dev peer0"));
        peer.ip(&format!("addr add {PEER_V6}/64 dev peer0 nodad"));
        hc.wait_link_running("hc0", SETTLE);
        peer.wait_link_running("peer0", SETTLE);
        Lab { hc, peer }
    }

    /// Cuts or restores the peer's end of the link.
    pub fn peer_link(&self, up: bool) {
        self.peer.ip(&format!(
            "link set peer0 {}",
            if up { "up" } else { "down" }
        ));
    }

    /// Runs `make()`'s future on a current-thread runtime inside the hc namespace.
    pub fn in_hc<F: Future>(&self, make: impl FnOnce() -> F + Send) -> F::Output
    where
        F::Output: Send,
    {
        in_ns(&self.hc, make)
    }

    /// Adds `dum0` in hc: an up interface (one end of a veth whose other end
    /// stays in hc) that leads nowhere, for binding tests. The machine has no
    /// dummy driver.
    pub fn dead_end_interface(&self) {
        self.hc.ip("link add dum0 type veth peer name dum1");
        self.hc.ip("link set dum1 up");
        self.hc.ip("link set dum0 up");
    }

    /// The peer's IPv6 link-local address on peer0.
    pub fn peer_link_local(&self) -> String {
        let addrs = self.peer.ip_json("-6 addr show dev peer0 scope link");
        addrs[0]["addr_info"]
            .as_array()
            .and_then(|infos| infos.iter().find_map(|i| i["local"].as_str()))
            .unwrap_or_else(|| panic!("peer0 has no link-local address: {addrs}"))
            .to_string()
    }

    /// Starts `python3 -m http.server` on the peer, dual-stack port 8080, and
    /// waits until it accepts connections.
    pub fn http_server(&self, dir: &std::path::Path) -> Process {
        let python = routerd_lab::require_command("python3");
        let python = python.to_string_lossy();
        let dir = dir.to_string_lossy();
        let server = self.peer.spawn(
            &[
                &python,
                "-m",
                "http.server",
                "8080",
                "--bind",
                "::",
                "--directory",
                &dir,
            ],
            &[],
        );
        wait_listening(&self.peer, "tcp", 8080, &server);
        server
    }

    /// Starts dnsmasq on the peer answering `example.test` with 192.0.2.7.
    pub fn dns_server(&self, tmp: &std::path::Path) -> Process {
        let dnsmasq = routerd_lab::require_command("dnsmasq");
        let pid_file = tmp.join("dnsmasq.pid");
        let server = self.peer.spawn(
            &[
                &dnsmasq.to_string_lossy(),
                "--no-daemon",
                "--no-resolv",
                "--no-hosts",
                "--address=/example.test/192.0.2.7",
                &format!("--listen-address={PEER_V4},{PEER_V6}"),
                "--bind-interfaces",
                &format!("--pid-file={}", pid_file.display()),
                "--conf-file=/dev/null",
            ],
            &[],
        );
        wait_listening(&self.peer, "udp", 53, &server);
        server
    }
}

/// Runs a future on a current-thread runtime on a thread inside `ns`.
pub fn in_ns<F: Future>(ns: &Netns, make: impl FnOnce() -> F + Send) -> F::Output
where
    F::Output: Send,
{
    ns.in_netns(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        runtime.block_on(make())
    })
}

/// Waits until something listens on `port` in `ns` (per `ss`), failing early
/// with the server's stderr if it died.
pub fn wait_listening(ns: &Netns, proto: &str, port: u16, server: &Process) {
    let flag = if proto == "tcp" { "-ltnH" } else { "-lunH" };
    wait_until(
        &format!("{proto} port {port} listening in {}", ns.name()),
        SETTLE,
        || {
            assert!(
                server.is_running(),
                "server exited early: {}",
                server.stderr()
            );
            let out = ns.run(&["ss", flag, &format!("sport = :{port}")]);
            (!out.trim().is_empty()).then_some(())
        },
    );
}
