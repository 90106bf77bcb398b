//! Shared pieces of the LAN interop tests: a router namespace and a host
//! namespace on one veth pair, and a way to run one of our socket loops on
//! a thread inside the router namespace.

#![allow(dead_code)]

use std::time::Duration;

use routerd_lab::{Netns, veth, wait_until};

/// Generous: a loaded 2-core machine.
pub const SETTLE: Duration = Duration::from_secs(30);

/// The router's and the host's namespace, `lan0` ↔ `eth0`.
pub struct Lab {
    pub router: Netns,
    pub host: Netns,
}

impl Lab {
    /// Builds the pair; the host accepts RAs and autoconfigures (a plain
    /// Linux host: forwarding 0, accept_ra 2, autoconf 1); the router does
    /// neither and forwards.
    pub fn new(tag: &str, host_if: &str) -> Lab {
        let router = Netns::new(&format!("{tag}-r"));
        let host = Netns::new(&format!("{tag}-h"));
        router.set_sysctl("net.ipv6.conf.all.forwarding", "1");
        veth(&router, "lan0", &host, host_if);
        router.set_sysctl("net.ipv6.conf.lan0.accept_ra", "0");
        host.set_sysctl(&format!("net.ipv6.conf.{host_if}.forwarding"), "0");
        host.set_sysctl(&format!("net.ipv6.conf.{host_if}.accept_ra"), "2");
        host.set_sysctl(&format!("net.ipv6.conf.{host_if}.autoconf"), "1");
        for (ns, ifname) in [(&router, "lan0"), (&host, host_if)] {
            ns.wait_link_running(ifname, SETTLE);
            wait_until(
                &format!("{ifname} has a usable link-local address"),
                SETTLE,
                || {
                    let out = ns.ip(&format!("-6 addr show dev {ifname} scope link"));
                    (out.contains("fe80") && !out.contains("tentative")).then_some(())
                },
            );
        }
        Lab { router, host }
    }

    /// The router's link-local address on lan0.
    pub fn router_link_local(&self) -> String {
        let v = self.router.ip_json("-6 addr show dev lan0 scope link");
        v[0]["addr_info"][0]["local"]
            .as_str()
            .expect("a link-local address")
            .to_string()
    }
}

/// A single-threaded tokio runtime for a thread inside a namespace.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Lines of `ip -6 addr show dev IF` that hold an address in `prefix`
/// (e.g. "fd00:99:1:"), one string per address with its flags and lifetimes.
pub fn addr_lines(ns: &Netns, ifname: &str, prefix: &str) -> Vec<String> {
    let out = ns.ip(&format!("-6 addr show dev {ifname}"));
    let lines: Vec<&str> = out.lines().collect();
    let mut found = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if l.trim_start().starts_with("inet6 ") && l.contains(prefix) {
            let next = lines.get(i + 1).copied().unwrap_or_default();
            found.push(format!("{} | {}", l.trim(), next.trim()));
        }
    }
    found
}
