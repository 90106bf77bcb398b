//! Shared setup for the kernel crate's netns tests.

// Test helpers may unwrap (clippy only exempts #[test] functions themselves).
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::future::Future;
use std::net::IpAddr;

use ipnet::IpNet;
use routerd_lab::{Netns, veth};

/// A router namespace `r` with `eth1` wired to `peer1` in a peer namespace `p`,
/// which holds 192.0.2.2/24 and 2001:db8:1::2/64.
pub struct Lab {
    pub r: Netns,
    pub p: Netns,
}

impl Lab {
    pub fn new(tag: &str) -> Lab {
        let r = Netns::new(&format!("{tag}-r"));
        let p = Netns::new(&format!("{tag}-p"));
        veth(&r, "eth1", &p, "peer1");
        p.ip("addr add 192.0.2.2/24 dev peer1");
        p.ip("addr add 2001:db8:1::2/64 dev peer1");
        Lab { r, p }
    }

    /// Runs `f` on a thread inside the router namespace, on a fresh runtime.
    pub fn block<F: Future>(&self, f: impl FnOnce() -> F + Send) -> F::Output
    where
        F::Output: Send,
    {
        self.r.in_netns(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(f())
        })
    }
}

pub fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// routerd's routes in every table of `ns`, as `ip -j` reports them, one
/// normalised line each: `[type ]dst[ via gw][ dev d] table t metric m`.
pub fn routerd_routes(ns: &Netns) -> BTreeSet<String> {
    let routes = ns.ip_json(&format!(
        "route show table all proto {}",
        routerd_kernel::ROUTERD_PROTO
    ));
    routes
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let mut s = String::new();
            if let Some(t) = r["type"].as_str() {
                s.push_str(t);
                s.push(' ');
            }
            s.push_str(r["dst"].as_str().unwrap());
            if let Some(gw) = r["gateway"].as_str() {
                s.push_str(&format!(" via {gw}"));
            }
            if let Some(dev) = r["dev"].as_str()
                && r["type"].is_null()
            {
                s.push_str(&format!(" dev {dev}"));
            }
            s.push_str(&format!(" table {}", r["table"].as_str().unwrap_or("main")));
            s.push_str(&format!(" metric {}", r["metric"].as_u64().unwrap_or(0)));
            s
        })
        .collect()
}

/// Addresses of `dev` as `addr/len`, optionally only one family (`inet`/`inet6`).
pub fn addresses(ns: &Netns, dev: &str, family: Option<&str>) -> BTreeSet<String> {
    let links = ns.ip_json(&format!("addr show dev {dev}"));
    links[0]["addr_info"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| family.is_none_or(|f| a["family"] == f))
        .map(|a| format!("{}/{}", a["local"].as_str().unwrap(), a["prefixlen"]))
        .collect()
}

pub fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}
