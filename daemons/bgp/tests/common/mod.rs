//! The lab for routerd-bgp's interop tests: our namespace with the daemon,
//! one namespace per peer joined to ours by its own veth pair, and the
//! peers themselves (BIRD 2, FRR bgpd, GoBGP) run only inside those
//! namespaces, each with its files in a per-test directory. Everything is
//! asserted the way an operator would look: the peer's own CLI for its RIB,
//! `ip route` in our namespace for the kernel.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use routerd_contract::client::Client;
use routerd_lab::{Netns, Process, require_command, veth, wait_until};
use serde_json::{Value, json};

/// Deadlines are generous: a loaded 2-core machine.
pub const SETTLE: Duration = Duration::from_secs(30);

pub const OUR_AS: u32 = 65000;

pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(f)
}

pub fn path(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// Our namespace and `n` peer namespaces; link `i` is 10.99.i.0/24 and
/// fd00:99:i::/64, ours `.1`/`::1` on `p{i}`, the peer's `.2`/`::2` on `eth0`.
pub struct Lab {
    pub ours: Netns,
    pub peers: Vec<Netns>,
}

impl Lab {
    pub fn new(tag: &str, n: usize) -> Lab {
        let ours = Netns::new(&format!("{tag}-o"));
        ours.set_sysctl("net.ipv4.ip_forward", "1");
        ours.set_sysctl("net.ipv6.conf.all.forwarding", "1");
        let mut peers = Vec::new();
        for i in 0..n {
            let p = Netns::new(&format!("{tag}-p{i}"));
            let ours_if = format!("p{i}");
            veth(&ours, &ours_if, &p, "eth0");
            ours.ip(&format!("addr add {} dev {ours_if}", Self::cidr4(i, 1)));
            ours.ip(&format!("addr add {} dev {ours_if}", Self::cidr6(i, 1)));
            p.ip(&format!("addr add {} dev eth0", Self::cidr4(i, 2)));
            p.ip(&format!("addr add {} dev eth0", Self::cidr6(i, 2)));
            peers.push(p);
        }
        for (i, p) in peers.iter().enumerate() {
            ours.wait_link_running(&format!("p{i}"), SETTLE);
            p.wait_link_running("eth0", SETTLE);
        }
        Lab { ours, peers }
    }

    fn cidr4(i: usize, host: u8) -> String {
        format!("10.99.{i}.{host}/24")
    }
    fn cidr6(i: usize, host: u8) -> String {
        format!("fd00:99:{i}::{host}/64")
    }
    /// Our IPv4 address on link `i`.
    pub fn our4(i: usize) -> String {
        format!("10.99.{i}.1")
    }
    pub fn our6(i: usize) -> String {
        canonical6(&format!("fd00:99:{i}::1"))
    }
    pub fn peer4(i: usize) -> String {
        format!("10.99.{i}.2")
    }
    pub fn peer6(i: usize) -> String {
        canonical6(&format!("fd00:99:{i}::2"))
    }

    /// `ip -j route show proto bgp` (IPv4 or IPv6) in our namespace.
    pub fn kernel_routes(&self, v6: bool) -> Vec<Value> {
        let fam = if v6 { "-6" } else { "-4" };
        self.ours
            .ip_json(&format!("{fam} route show proto bgp"))
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Destinations of our `proto bgp` routes.
    pub fn kernel_prefixes(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for v6 in [false, true] {
            for r in self.kernel_routes(v6) {
                if let Some(d) = r["dst"].as_str() {
                    out.insert(normalize_dst(d));
                }
            }
        }
        out
    }

    /// The kernel's route for `prefix` (proto bgp), if any.
    pub fn kernel_route(&self, prefix: &str) -> Option<Value> {
        let v6 = prefix.contains(':');
        self.kernel_routes(v6)
            .into_iter()
            .find(|r| r["dst"].as_str().map(normalize_dst).as_deref() == Some(prefix))
    }

    /// Waits until every one of `want` is (or, `present` false, none is)
    /// among our kernel routes; returns how long it took.
    pub fn wait_kernel(&self, want: &[&str], present: bool, timeout: Duration) -> Duration {
        let start = Instant::now();
        wait_until(
            &format!(
                "{want:?} {} the kernel (proto bgp)",
                if present { "in" } else { "out of" }
            ),
            timeout,
            || {
                let have = self.kernel_prefixes();
                want.iter()
                    .all(|p| have.contains(*p) == present)
                    .then_some(())
            },
        );
        start.elapsed()
    }
}

/// How `ip` and the peers print an IPv6 address.
fn canonical6(s: &str) -> String {
    s.parse::<std::net::Ipv6Addr>()
        .expect("address")
        .to_string()
}

/// `ip` prints a host route without its length.
fn normalize_dst(d: &str) -> String {
    if d.contains('/') {
        d.to_string()
    } else if d.contains(':') {
        format!("{d}/128")
    } else {
        format!("{d}/32")
    }
}

/// One routerd-bgp process and its files.
pub struct Daemon {
    pub dir: tempfile::TempDir,
    pub process: Option<Process>,
}

impl Daemon {
    pub fn new(config: &Value) -> Daemon {
        let dir = tempfile::tempdir().expect("temp dir");
        let d = Daemon { dir, process: None };
        d.write_config(config);
        d
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
        let bin = env!("CARGO_BIN_EXE_routerd-bgp");
        let process = ns.spawn(
            &[
                bin,
                "--config",
                &path(&self.config()),
                "--socket",
                &path(&self.socket()),
                "--state-dir",
                &path(&self.state_dir()),
            ],
            &[("RUST_LOG", "info,routerd_bgp=debug")],
        );
        let client = self.client();
        wait_until("the routerd-bgp contract socket to answer", SETTLE, || {
            assert!(
                process.is_running(),
                "routerd-bgp exited: {}",
                process.stderr()
            );
            block_on(client.status()).ok()
        });
        self.process = Some(process);
    }

    pub fn process(&self) -> &Process {
        self.process.as_ref().expect("routerd-bgp started")
    }

    pub fn logs(&self) -> String {
        self.process
            .as_ref()
            .map(|p| format!("{}{}", p.stdout(), p.stderr()))
            .unwrap_or_default()
    }

    pub fn client(&self) -> Client {
        Client::new(self.socket()).with_timeout(Duration::from_secs(10))
    }

    pub fn get(&self, path: &str) -> Value {
        block_on(self.client().get_json::<Value>(path))
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    pub fn post(&self, path: &str, body: &Value) -> Value {
        block_on(self.client().post_json::<_, Value>(path, Some(body)))
            .unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }

    pub fn status(&self) -> Value {
        serde_json::to_value(block_on(self.client().status()).expect("status")).expect("json")
    }

    /// The summary line of peer `name`.
    pub fn peer(&self, name: &str) -> Value {
        let n = self.get("/v1/bgp/neighbors");
        n["neighbors"]
            .as_array()
            .and_then(|a| a.iter().find(|p| p["name"] == name).cloned())
            .unwrap_or(Value::Null)
    }

    pub fn peer_state(&self, name: &str) -> String {
        self.peer(name)["state"].as_str().unwrap_or("").to_string()
    }

    pub fn wait_state(&self, name: &str, state: &str, timeout: Duration) -> Duration {
        let start = Instant::now();
        let guard = LogsOnPanic(self);
        wait_until(&format!("peer {name} {state}"), timeout, || {
            assert!(
                self.process().is_running(),
                "routerd-bgp exited: {}",
                self.logs()
            );
            (self.peer_state(name) == state).then_some(())
        });
        std::mem::forget(guard);
        start.elapsed()
    }

    /// Events of type `topic` so far.
    pub fn events(&self, topic: &str) -> Vec<Value> {
        let page = self.get("/v1/events?since=0");
        page["events"]
            .as_array()
            .map(|a| a.iter().filter(|e| e["type"] == topic).cloned().collect())
            .unwrap_or_default()
    }

    pub fn grant(&self, group: &str, epoch: u64, role: &str, deadline_ns: Option<u64>) -> Value {
        self.post(
            "/v1/grants",
            &json!({"grants": [{
                "group": group, "epoch": epoch, "role": role,
                "deadlineMonoNs": deadline_ns, "issuedMonoNs": mono_now_ns(),
            }]}),
        )
    }
}

/// Prints the daemon's log when a wait fails.
struct LogsOnPanic<'a>(&'a Daemon);

impl Drop for LogsOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- routerd-bgp log ---\n{}", self.0.logs());
        }
    }
}

/// A config with our AS and router id, a listener, and `peers`.
pub fn config(peers: Vec<Value>, announce: Vec<Value>) -> Value {
    json!({
        "name": "lab",
        "asn": OUR_AS,
        "routerId": "10.255.0.1",
        "listen": {"address": "::", "port": 179},
        "multipath": true,
        "holdTime": 9,
        "connectRetryMs": 1000,
        "gracefulRestart": {"restartTimeSecs": 120, "stalePathTimeSecs": 60},
        "fib": {"install": true, "table": 254, "metric": 20},
        "peers": peers,
        "dynamicPeers": [],
        "announce": announce,
    })
}

/// A peer entry; `accept_all` gives it import and export policies that
/// let everything through (eBGP has nothing without one, RFC 8212).
pub fn peer(name: &str, address: &str, asn: u32, accept_all: bool) -> Value {
    let all = json!({"allowed": [], "lengthMin": null, "lengthMax": null,
        "requiredCommunities": [], "forbiddenCommunities": [], "localPref": null,
        "addCommunities": []});
    json!({
        "name": name, "resource": format!("BGPPeer/{name}"), "address": address,
        "peerAsn": asn, "passive": false, "localAddress": null, "md5Key": null,
        "ttlSecurityHops": null, "ebgpMultihop": null, "holdTime": null,
        "connectRetryMs": null,
        "import": if accept_all { all.clone() } else { Value::Null },
        "export": if accept_all { all } else { Value::Null },
        "maxPrefixes": null, "routeReflectorClient": false, "bfd": null,
    })
}

pub fn announce(prefix: &str, group: Option<&str>) -> Value {
    json!({"prefix": prefix, "nextHop": null, "communities": [], "resource": format!("BGPAnnouncement/{prefix}"),
           "group": group, "standby": "withdraw"})
}

pub fn mono_now_ns() -> u64 {
    routerd_bgp::clock::mono_now_ns()
}

/// Drops every packet in and out of a namespace (nftables) while it
/// lives: a silent failure, no TCP close. The table goes on drop.
pub struct Blackhole<'a> {
    ns: &'a Netns,
    pub at: Instant,
}

const CUT_TABLE: &str = "routerd_bgp_cut";

impl<'a> Blackhole<'a> {
    pub fn new(ns: &'a Netns) -> Blackhole<'a> {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("cut.nft");
        std::fs::write(
            &file,
            format!(
                "table inet {CUT_TABLE} {{
  chain input {{ type filter hook input priority -10; policy drop; iifname \"lo\" accept; }}
  chain output {{ type filter hook output priority -10; policy drop; oifname \"lo\" accept; }}
}}
"
            ),
        )
        .expect("write nft");
        ns.run(&["nft", "-f", &path(&file)]);
        Blackhole {
            ns,
            at: Instant::now(),
        }
    }
}

impl Drop for Blackhole<'_> {
    fn drop(&mut self) {
        let _ = self.ns.exec(&["nft", "delete", "table", "inet", CUT_TABLE]);
    }
}

/// Milliseconds with one decimal.
pub fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

// ---------------------------------------------------------------- BIRD

/// BIRD 2 in a peer namespace.
pub struct Bird<'a> {
    pub ns: &'a Netns,
    pub dir: tempfile::TempDir,
    pub process: Option<Process>,
}

impl<'a> Bird<'a> {
    /// Writes `conf` (with `@DIR@` replaced) and starts BIRD in `ns`.
    pub fn start(ns: &'a Netns, conf: &str) -> Bird<'a> {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut b = Bird {
            ns,
            dir,
            process: None,
        };
        b.write(conf);
        b.launch();
        b
    }

    pub fn write(&self, conf: &str) {
        let conf = conf.replace("@DIR@", &path(self.dir.path()));
        std::fs::write(self.dir.path().join("bird.conf"), conf).expect("write bird.conf");
    }

    pub fn launch(&mut self) {
        self.launch_with(&[]);
    }

    /// Starts BIRD with extra options (`-R`: a graceful restart, which
    /// sets the Restart State and Forwarding State bits in its OPENs).
    pub fn launch_with(&mut self, extra: &[&str]) {
        let bird = require_command("bird");
        let d = self.dir.path();
        let _ = std::fs::remove_file(d.join("bird.ctl"));
        let (conf, ctl, pid) = (
            path(&d.join("bird.conf")),
            path(&d.join("bird.ctl")),
            path(&d.join("bird.pid")),
        );
        let mut argv = vec![path(&bird)];
        argv.extend(["-f", "-c", &conf, "-s", &ctl, "-P", &pid].map(String::from));
        argv.extend(extra.iter().map(|s| s.to_string()));
        let refs: Vec<&str> = argv.iter().map(String::as_str).collect();
        let process = self.ns.spawn(&refs, &[("TZ", "UTC")]);
        wait_until("BIRD's control socket", SETTLE, || {
            assert!(
                process.is_running(),
                "bird exited: {}{}",
                process.stdout(),
                process.stderr()
            );
            d.join("bird.ctl").exists().then_some(())
        });
        self.process = Some(process);
    }

    /// Kills BIRD hard (its sockets close with it).
    pub fn kill9(&mut self) {
        if let Some(p) = self.process.take() {
            p.kill9();
        }
    }

    pub fn birdc(&self, args: &[&str]) -> String {
        let birdc = require_command("birdc");
        let sock = path(&self.dir.path().join("bird.ctl"));
        let mut argv = vec![path(&birdc), "-s".into(), sock];
        argv.extend(args.iter().map(|s| s.to_string()));
        let refs: Vec<&str> = argv.iter().map(String::as_str).collect();
        let out = self.ns.exec(&refs);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The state column of protocol `name` ("Established", "Active", ...).
    pub fn protocol_state(&self, name: &str) -> String {
        let out = self.birdc(&["show", "protocols", name]);
        out.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().last())
            .unwrap_or("")
            .to_string()
    }

    pub fn protocol_info(&self, name: &str) -> String {
        self.birdc(&["show", "protocols", "all", name])
    }

    /// Prefixes BIRD has from protocol `proto`.
    pub fn routes_from(&self, proto: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for table in ["master4", "master6"] {
            let text = self.birdc(&["show", "route", "table", table, "protocol", proto]);
            for l in text.lines() {
                if let Some(first) = l.split_whitespace().next()
                    && first.contains('/')
                    && (first.contains('.') || first.contains(':'))
                {
                    out.insert(first.to_string());
                }
            }
        }
        out
    }

    /// `show route all for PREFIX` (attributes of the best route).
    pub fn route_all(&self, prefix: &str) -> String {
        let table = if prefix.contains(':') {
            "master6"
        } else {
            "master4"
        };
        self.birdc(&["show", "route", "table", table, "all", "for", prefix])
    }

    pub fn logs(&self) -> String {
        self.process
            .as_ref()
            .map(|p| format!("{}{}", p.stdout(), p.stderr()))
            .unwrap_or_default()
    }

    pub fn wait_established(&self, proto: &str, timeout: Duration) {
        wait_until(
            &format!("BIRD protocol {proto} Established"),
            timeout,
            || (self.protocol_state(proto) == "Established").then_some(()),
        );
    }

    /// Waits until BIRD has (or no longer has) each prefix from `proto`.
    pub fn wait_routes(
        &self,
        proto: &str,
        want: &[&str],
        present: bool,
        timeout: Duration,
    ) -> Duration {
        let start = Instant::now();
        wait_until(
            &format!("BIRD {proto}: {want:?} present={present}"),
            timeout,
            || {
                let have = self.routes_from(proto);
                want.iter()
                    .all(|p| have.contains(*p) == present)
                    .then_some(())
            },
        );
        start.elapsed()
    }
}

// ---------------------------------------------------------------- FRR

/// FRR (zebra + bgpd, optionally bfdd) in a peer namespace, as frr:frr with
/// every file in a per-test directory owned by frr.
pub struct Frr<'a> {
    pub ns: &'a Netns,
    pub dir: tempfile::TempDir,
    pub daemons: Vec<Process>,
}

impl<'a> Frr<'a> {
    /// `bfdd_conf` (its `bfd` block: profiles) also starts bfdd.
    pub fn start(ns: &'a Netns, bgpd_conf: &str, bfdd_conf: Option<&str>) -> Frr<'a> {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path().to_path_buf();
        std::fs::write(d.join("bgpd.conf"), bgpd_conf.replace("@DIR@", &path(&d)))
            .expect("write bgpd.conf");
        std::fs::write(d.join("zebra.conf"), "log timestamp precision 3\n").expect("zebra.conf");
        std::fs::write(
            d.join("bfdd.conf"),
            format!("log timestamp precision 3\n{}", bfdd_conf.unwrap_or("")),
        )
        .expect("bfdd.conf");
        let chown = Command::new("chown")
            .args(["-R", "frr:frr"])
            .arg(&d)
            .status()
            .expect("run chown");
        assert!(
            chown.success(),
            "chown frr:frr failed (is the frr user there?)"
        );
        std::fs::set_permissions(&d, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
        let mut frr = Frr {
            ns,
            dir,
            daemons: Vec::new(),
        };
        frr.spawn("zebra", &[]);
        wait_until("zebra's API socket", SETTLE, || {
            d.join("zserv.api").exists().then_some(())
        });
        if bfdd_conf.is_some() {
            let ctl = path(&d.join("bfdd.sock"));
            frr.spawn("bfdd", &["--bfdctl", &ctl]);
        }
        frr.spawn("bgpd", &[]);
        wait_until("bgpd to answer vtysh", SETTLE, || {
            for p in &frr.daemons {
                assert!(p.is_running(), "an FRR daemon exited: {}", frr.logs());
            }
            frr.vtysh("show bgp summary json")
                .trim_start()
                .starts_with('{')
                .then_some(())
        });
        frr
    }

    /// Kills bgpd hard (zebra and bfdd stay): its sessions' TCP closes.
    pub fn kill_bgpd(&mut self) {
        if let Some(i) = self.daemons.iter().position(|p| {
            std::fs::read_to_string(format!("/proc/{}/cmdline", p.pid()))
                .is_ok_and(|c| c.contains("bgpd"))
        }) {
            let p = self.daemons.remove(i);
            p.kill9();
            let _ = p.wait_exit(Duration::from_secs(5));
        }
    }

    /// Starts bgpd again with `extra` options.
    pub fn start_bgpd(&mut self, extra: &[&str]) {
        let _ = std::fs::remove_file(self.dir.path().join("bgpd.pid"));
        self.spawn("bgpd", extra);
    }

    fn spawn(&mut self, daemon: &str, extra: &[&str]) {
        let bin = require_command(&format!("/usr/lib/frr/{daemon}"));
        let d = self.dir.path();
        let mut argv = vec![
            path(&bin),
            "-f".into(),
            path(&d.join(format!("{daemon}.conf"))),
            "-i".into(),
            path(&d.join(format!("{daemon}.pid"))),
            "--vty_socket".into(),
            path(d),
            "-z".into(),
            path(&d.join("zserv.api")),
            "-P".into(),
            "0".into(),
            "-u".into(),
            "frr".into(),
            "-g".into(),
            "frr".into(),
            "--log".into(),
            "stdout".into(),
        ];
        argv.extend(extra.iter().map(|s| s.to_string()));
        let refs: Vec<&str> = argv.iter().map(String::as_str).collect();
        let p = self.ns.spawn(&refs, &[("TZ", "UTC")]);
        self.daemons.push(p);
    }

    pub fn vtysh(&self, cmd: &str) -> String {
        let vtysh = require_command("vtysh");
        let out = self.ns.exec(&[
            &path(&vtysh),
            "--vty_socket",
            &path(self.dir.path()),
            "-c",
            cmd,
        ]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Several commands in one vtysh (`configure terminal`, ...).
    pub fn vtysh_many(&self, cmds: &[&str]) -> String {
        let vtysh = require_command("vtysh");
        let mut argv = vec![path(&vtysh), "--vty_socket".into(), path(self.dir.path())];
        for c in cmds {
            argv.push("-c".into());
            argv.push(c.to_string());
        }
        let refs: Vec<&str> = argv.iter().map(String::as_str).collect();
        let out = self.ns.exec(&refs);
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }

    pub fn json(&self, cmd: &str) -> Value {
        serde_json::from_str(&self.vtysh(cmd)).unwrap_or(Value::Null)
    }

    /// bgpd's state for neighbour `addr`.
    pub fn neighbor_state(&self, addr: &str) -> String {
        let v = self.json(&format!("show bgp neighbors {addr} json"));
        v[addr]["bgpState"].as_str().unwrap_or("").to_string()
    }

    /// Prefixes in bgpd's table for `afi` ("ipv4" or "ipv6").
    pub fn routes(&self, afi: &str) -> BTreeSet<String> {
        let v = self.json(&format!("show bgp {afi} unicast json"));
        v["routes"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    pub fn wait_routes(&self, afi: &str, want: &[&str], present: bool, timeout: Duration) {
        wait_until(
            &format!("FRR {afi}: {want:?} present={present}"),
            timeout,
            || {
                let have = self.routes(afi);
                want.iter()
                    .all(|p| have.contains(*p) == present)
                    .then_some(())
            },
        );
    }

    pub fn logs(&self) -> String {
        self.daemons
            .iter()
            .map(|p| format!("{}{}", p.stdout(), p.stderr()))
            .collect()
    }
}

// ---------------------------------------------------------------- GoBGP

/// gobgpd in a peer namespace; its gRPC API on the namespace's loopback.
pub struct Gobgp<'a> {
    pub ns: &'a Netns,
    pub dir: tempfile::TempDir,
    pub process: Process,
}

impl<'a> Gobgp<'a> {
    pub fn start(ns: &'a Netns, toml: &str) -> Gobgp<'a> {
        let bin = require_command("gobgpd");
        let dir = tempfile::tempdir().expect("tempdir");
        let conf = dir.path().join("gobgpd.toml");
        std::fs::write(&conf, toml).expect("write gobgpd.toml");
        let process = ns.spawn(
            &[
                &path(&bin),
                "-f",
                &path(&conf),
                "--api-hosts",
                "127.0.0.1:50051",
                "--pprof-disable",
            ],
            &[],
        );
        let g = Gobgp { ns, dir, process };
        wait_until("gobgpd to answer", SETTLE, || {
            assert!(g.process.is_running(), "gobgpd exited: {}", g.logs());
            g.ns.exec(&[&path(&require_command("gobgp")), "global"])
                .status
                .success()
                .then_some(())
        });
        g
    }

    pub fn cli(&self, args: &[&str]) -> String {
        let gobgp = require_command("gobgp");
        let mut argv = vec![path(&gobgp)];
        argv.extend(args.iter().map(|s| s.to_string()));
        let refs: Vec<&str> = argv.iter().map(String::as_str).collect();
        let out = self.ns.exec(&refs);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Prefixes in its global RIB for `afi` ("ipv4" or "ipv6").
    pub fn routes(&self, afi: &str) -> BTreeSet<String> {
        let v: Value = serde_json::from_str(&self.cli(&["global", "rib", "-a", afi, "-j"]))
            .unwrap_or(Value::Null);
        v.as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    pub fn neighbor_state(&self, addr: &str) -> String {
        let v: Value =
            serde_json::from_str(&self.cli(&["neighbor", addr, "-j"])).unwrap_or(Value::Null);
        v["state"]["session_state"]
            .as_str()
            .or_else(|| v["state"]["session_state"].as_u64().map(|_| "?"))
            .unwrap_or("")
            .to_string()
    }

    pub fn logs(&self) -> String {
        format!("{}{}", self.process.stdout(), self.process.stderr())
    }
}
