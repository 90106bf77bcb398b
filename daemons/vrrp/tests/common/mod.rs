//! The lab for routerd-vrrp: routers in their own namespaces, each with `lan0`
//! plugged into one bridge that lives in a namespace of its own (multicast
//! snooping off), and helpers to run routerd-vrrp and keepalived there.

#![allow(dead_code)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use routerd_contract::client::Client;
use routerd_lab::{Netns, Process, bridge, veth, wait_until};
use serde_json::{Value, json};

/// Generous: a loaded 2-core machine.
pub const SETTLE: Duration = Duration::from_secs(20);

/// Client calls from the test thread (the socket is a file, so no namespace needed).
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(f)
}

/// A bridge namespace and `n` routers; router `i` has lan0 with 10.99.0.(i+1)/24.
pub struct Lab {
    pub routers: Vec<Netns>,
    pub switch: Netns,
}

impl Lab {
    pub fn new(tag: &str, n: usize) -> Lab {
        let switch = Netns::new(&format!("{tag}-sw"));
        let mut routers = Vec::new();
        let mut ports = Vec::new();
        for i in 0..n {
            let r = Netns::new(&format!("{tag}-r{i}"));
            for key in ["all", "default"] {
                r.set_sysctl(&format!("net.ipv6.conf.{key}.accept_dad"), "0");
            }
            let port = format!("p{i}");
            veth(&r, "lan0", &switch, &port);
            r.ip(&format!("addr add 10.99.0.{}/24 dev lan0", i + 1));
            r.ip("link set lo up");
            ports.push(port);
            routers.push(r);
        }
        let refs: Vec<&str> = ports.iter().map(String::as_str).collect();
        bridge(&switch, "br0", &refs);
        for r in &routers {
            r.wait_link_running("lan0", SETTLE);
            wait_until("a non-tentative link-local address", SETTLE, || {
                let out = r.ip("-6 addr show dev lan0 scope link");
                (out.contains("fe80") && !out.contains("tentative")).then_some(())
            });
        }
        Lab { routers, switch }
    }

    /// Whether router `i` holds `addr` on lan0.
    pub fn has_addr(&self, i: usize, addr: &str) -> bool {
        let out = self.routers[i].ip("addr show dev lan0");
        out.split_whitespace()
            .any(|w| w.split('/').next() == Some(addr))
    }

    /// Takes router `i`'s side of the link down (the other end of its veth).
    pub fn unplug(&self, i: usize) {
        self.switch.ip(&format!("link set p{i} down"));
    }
}

/// One routerd-vrrp process.
pub struct Vrrp {
    pub dir: tempfile::TempDir,
    pub process: Option<Process>,
}

impl Vrrp {
    pub fn new(config: &Value) -> Vrrp {
        let dir = tempfile::tempdir().expect("temp dir");
        let v = Vrrp { dir, process: None };
        v.write_config(config);
        v
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("config.json")
    }
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("state/api.sock")
    }
    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    pub fn write_config(&self, config: &Value) {
        routerd_contract::atomic::write_json_atomic(self.config(), config).expect("write config");
    }

    pub fn start(&mut self, ns: &Netns) {
        let _ = std::fs::remove_file(self.socket());
        let bin = routerd_lab::bin("routerd-vrrp");
        let process = ns.spawn(
            &[
                &bin.to_string_lossy(),
                "--config",
                &self.config().to_string_lossy(),
                "--socket",
                &self.socket().to_string_lossy(),
                "--state-dir",
                &self.state_dir().to_string_lossy(),
            ],
            &[("RUST_LOG", "info")],
        );
        let client = self.client();
        wait_until("the routerd-vrrp contract socket to answer", SETTLE, || {
            assert!(
                process.is_running(),
                "routerd-vrrp exited: {}",
                process.stderr()
            );
            block_on(client.status()).ok()
        });
        self.process = Some(process);
    }

    pub fn process(&self) -> &Process {
        self.process.as_ref().expect("routerd-vrrp started")
    }

    pub fn client(&self) -> Client {
        Client::new(self.socket()).with_timeout(Duration::from_secs(10))
    }

    /// The status entry of instance `name`.
    pub fn instance(&self, name: &str) -> Value {
        let status = block_on(self.client().status()).expect("status");
        status.status["instances"]
            .as_array()
            .and_then(|a| a.iter().find(|i| i["name"] == name).cloned())
            .unwrap_or_else(|| panic!("no instance {name} in {:?}", status.status))
    }

    pub fn state(&self, name: &str) -> String {
        self.instance(name)["state"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Waits until instance `name` is in `state`.
    pub fn wait_state(&self, name: &str, state: &str, timeout: Duration) {
        wait_until(&format!("{name} to be {state}"), timeout, || {
            (self.state(name) == state).then_some(())
        });
    }

    /// POSTs grants; returns the answer.
    pub fn grant(&self, grants: Value) -> Value {
        block_on(
            self.client()
                .post_json::<_, Value>("/v1/grants", Some(&json!({"grants": grants}))),
        )
        .expect("grant")
    }
}

/// An instance entry of a routerd-vrrp config.
pub fn instance(
    name: &str,
    family: &str,
    version: u8,
    vrid: u8,
    priority: u8,
    fenced: bool,
) -> Value {
    let addresses = if family == "ipv4" {
        json!(["10.99.0.254/24"])
    } else {
        json!(["fe80::99:254/64", "fd00:99::254/64"])
    };
    json!({
        "name": name,
        "group": format!("lan/{family}/{vrid}"),
        "interface": "lan0",
        "family": family,
        "version": version,
        "vrid": vrid,
        "priority": priority,
        "advertIntervalCs": if version == 2 { 100 } else { 10 },
        "preempt": true,
        "addresses": addresses,
        "fenced": fenced,
    })
}

/// CLOCK_MONOTONIC now, in ns (the tests share the host's clock with the daemon).
pub fn mono_now_ns() -> u64 {
    routerd_vrrp::clock::mono_now_ns()
}

/// Counts state changes of `name` over `period` by polling status.
pub fn transitions_during(v: &Vrrp, name: &str, period: Duration) -> u64 {
    let start_count = v.instance(name)["counters"]["becameMaster"]
        .as_u64()
        .unwrap_or(0);
    let end = Instant::now() + period;
    let mut last = v.state(name);
    let mut changes = 0;
    while Instant::now() < end {
        let s = v.state(name);
        if s != last {
            changes += 1;
            last = s;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let end_count = v.instance(name)["counters"]["becameMaster"]
        .as_u64()
        .unwrap_or(0);
    changes + (end_count - start_count)
}
