//! Fenced BGP announcements end to end (issue 5): the paired-branch lab
//! (deploy/pair-topology.sh, routerd on r1, r2 and a witness) with an FRR
//! upstream (bgpd + zebra) on the WAN host, eBGP to both routers. A service
//! prefix tied to the gateway VirtualAddress is announced by its owner only
//! (standby `withdraw`) or by both with the standby's AS path longer
//! (`prepend`); `kill -9` of the owner's routerd moves it, and FRR is sampled
//! every 100 ms throughout.
//!
//! routerd's managed daemons outlive a SIGKILLed routerd: the old owner's
//! routerd-bgp keeps its sessions and must let go when the deadline of its
//! last grant passes, with no word from routerd. That is the fence.
//!
//! Needs root, nft, jq, FRR, and the workspace's binaries built.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use routerd_lab::{bin, require_command, require_privileges, wait_until};
use serde_json::Value;

const VIP4: &str = "10.99.0.254";
const VIP6: &str = "fd00:99::254";
const SVC4: &str = "203.0.113.10/32";
const SVC6: &str = "2001:db8:feed::10/128";
const UPSTREAM_AS: u32 = 65010;
const OUR_AS: u32 = 64512;
const SETTLE: Duration = Duration::from_secs(60);

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn text(out: &Output) -> String {
    format!(
        "status {}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The session address a router uses towards FRR.
fn wan4(node: &str) -> &'static str {
    if node == "r1" {
        "198.51.100.2"
    } else {
        "198.51.100.3"
    }
}

fn wan6(node: &str) -> &'static str {
    if node == "r1" {
        "2001:db8:100::2"
    } else {
        "2001:db8:100::3"
    }
}

fn node_of(peer: &str) -> Option<&'static str> {
    ["r1", "r2"]
        .into_iter()
        .find(|n| wan4(n) == peer || wan6(n) == peer)
}

fn other(node: &str) -> &'static str {
    if node == "r1" { "r2" } else { "r1" }
}

/// The BGP resources added to the pair's config: per router its BGPRouter,
/// the eBGP peer to FRR, and the fenced announcements of the service
/// prefixes, each owned through the router's own member of the gateway
/// group (same VRID, so the same ownership group on both).
fn bgp_resources(standby: &str) -> String {
    let mut out = String::new();
    for node in ["r1", "r2"] {
        out.push_str(&format!(
            r#"
    - apiVersion: net.routerd.net/v1alpha1
      kind: BGPRouter
      metadata:
        name: edge-{node}
        nodes: [{node}]
      spec:
        asn: {OUR_AS}
        routerID: {rid}
        importPolicy:
          allowedPrefixes: [192.0.2.0/24]
        exportPolicy:
          allowedPrefixes: [203.0.113.0/24, "2001:db8:feed::/48"]
    - apiVersion: net.routerd.net/v1alpha1
      kind: BGPPeer
      metadata:
        name: upstream-{node}
        nodes: [{node}]
      spec:
        routerRef: BGPRouter/edge-{node}
        peerASN: {UPSTREAM_AS}
        peers: [198.51.100.1, "2001:db8:100::1"]
        timers:
          connectRetry: 1s
    - apiVersion: net.routerd.net/v1alpha1
      kind: BGPAnnouncement
      metadata:
        name: svc-v4-{node}
        nodes: [{node}]
      spec:
        routerRef: BGPRouter/edge-{node}
        prefixes: [{SVC4}]
        owner: VirtualAddress/gw-v4-{node}
        standby: {standby}
    - apiVersion: net.routerd.net/v1alpha1
      kind: BGPAnnouncement
      metadata:
        name: svc-v6-{node}
        nodes: [{node}]
      spec:
        routerRef: BGPRouter/edge-{node}
        prefixes: ["{SVC6}"]
        owner: VirtualAddress/gw-v6-{node}
        standby: {standby}
"#,
            rid = wan4(node),
        ));
    }
    out
}

fn frr_conf() -> String {
    let mut n = String::new();
    let mut a4 = String::new();
    let mut a6 = String::new();
    for node in ["r1", "r2"] {
        for addr in [wan4(node), wan6(node)] {
            n.push_str(&format!(
                " neighbor {addr} remote-as {OUR_AS}\n neighbor {addr} timers 3 9\n neighbor {addr} timers connect 1\n"
            ));
        }
        a4.push_str(&format!("  neighbor {} activate\n", wan4(node)));
        a6.push_str(&format!("  neighbor {} activate\n", wan6(node)));
    }
    format!(
        "frr defaults traditional
hostname upstream
log timestamp precision 3
log file @DIR@/bgpd.log debugging
debug bgp updates in
router bgp {UPSTREAM_AS}
 bgp router-id 198.51.100.1
 no bgp ebgp-requires-policy
 no bgp network import-check
 no bgp default ipv4-unicast
 bgp log-neighbor-changes
{n} address-family ipv4 unicast
  network 192.0.2.0/24
  maximum-paths 8
{a4} exit-address-family
 address-family ipv6 unicast
  maximum-paths 8
{a6} exit-address-family
"
    )
}

/// FRR's zebra and bgpd in the WAN host's namespace, with their own
/// config, pid and vty socket directory (owned by frr: FRR drops root).
struct Frr {
    ns: String,
    dir: tempfile::TempDir,
    daemons: Vec<Child>,
}

impl Frr {
    fn start(ns: &str) -> Frr {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path().to_path_buf();
        std::fs::write(
            d.join("bgpd.conf"),
            frr_conf().replace("@DIR@", &d.display().to_string()),
        )
        .expect("bgpd.conf");
        std::fs::write(d.join("zebra.conf"), "log timestamp precision 3\n").expect("zebra.conf");
        let chown = Command::new("chown")
            .args(["-R", "frr:frr"])
            .arg(&d)
            .status()
            .expect("run chown");
        assert!(chown.success(), "chown frr:frr (is the frr user there?)");
        std::fs::set_permissions(&d, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
        let mut frr = Frr {
            ns: ns.to_string(),
            dir,
            daemons: Vec::new(),
        };
        frr.spawn("zebra");
        wait_until("zebra's API socket", SETTLE, || {
            d.join("zserv.api").exists().then_some(())
        });
        frr.spawn("bgpd");
        wait_until("bgpd answers vtysh", SETTLE, || {
            frr.vtysh(&["show bgp summary json"])
                .trim_start()
                .starts_with('{')
                .then_some(())
        });
        frr
    }

    fn spawn(&mut self, daemon: &str) {
        let exe = require_command(&format!("/usr/lib/frr/{daemon}"));
        let d = self.dir.path();
        let log = std::fs::File::create(d.join(format!("{daemon}.out"))).expect("log file");
        let err = log.try_clone().expect("log file");
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns])
            .arg(exe)
            .arg("-f")
            .arg(d.join(format!("{daemon}.conf")))
            .arg("-i")
            .arg(d.join(format!("{daemon}.pid")))
            .arg("--vty_socket")
            .arg(d)
            .arg("-z")
            .arg(d.join("zserv.api"))
            .args(["-P", "0", "-u", "frr", "-g", "frr", "--log", "stdout"])
            .env("TZ", "UTC")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("start {daemon}: {e}"));
        self.daemons.push(child);
    }

    fn vtysh(&self, cmds: &[&str]) -> String {
        let vtysh = require_command("vtysh");
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns])
            .arg(vtysh)
            .arg("--vty_socket")
            .arg(self.dir.path());
        for cmd in cmds {
            c.args(["-c", cmd]);
        }
        let out = c.stdin(Stdio::null()).output().expect("vtysh");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The paths of both service prefixes, in one vtysh call.
    fn sample(&self) -> (Vec<PathInfo>, Vec<PathInfo>) {
        let out = self.vtysh(&[
            &format!("show bgp ipv4 unicast {SVC4} json"),
            &format!("show bgp ipv6 unicast {SVC6} json"),
        ]);
        let mut docs = serde_json::Deserializer::from_str(&out).into_iter::<Value>();
        let v4 = docs.next().and_then(Result::ok).unwrap_or(Value::Null);
        let v6 = docs.next().and_then(Result::ok).unwrap_or(Value::Null);
        (paths(&v4), paths(&v6))
    }

    fn established(&self) -> usize {
        let v: Value =
            serde_json::from_str(&self.vtysh(&["show bgp neighbors json"])).unwrap_or(Value::Null);
        v.as_object()
            .map(|m| {
                m.values()
                    .filter(|n| n["bgpState"] == "Established")
                    .count()
            })
            .unwrap_or(0)
    }
}

impl Frr {
    /// How often bgpd's session to `addr` dropped.
    fn dropped(&self, addr: &str) -> Option<u64> {
        let v: Value =
            serde_json::from_str(&self.vtysh(&[&format!("show bgp neighbors {addr} json")]))
                .ok()?;
        v[addr]["connectionsDropped"].as_u64()
    }

    /// bgpd's UPDATE log lines about `prefix`.
    fn update_log(&self, prefix: &str) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("bgpd.log"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(prefix))
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Frr {
    fn drop(&mut self) {
        for c in &mut self.daemons {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// One path of a prefix in FRR's table.
#[derive(Debug, Clone, PartialEq)]
struct PathInfo {
    /// The router it came from (by session address).
    node: Option<&'static str>,
    peer: String,
    as_path_len: u64,
    best: bool,
    multipath: bool,
}

fn paths(v: &Value) -> Vec<PathInfo> {
    v["paths"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let peer = p["peer"]["peerId"].as_str().unwrap_or("").to_string();
            PathInfo {
                node: node_of(&peer),
                as_path_len: p["aspath"]["length"].as_u64().unwrap_or(0),
                best: p["bestpath"]["overall"].as_bool().unwrap_or(false),
                multipath: p["multipath"].as_bool().unwrap_or(false),
                peer,
            }
        })
        .collect()
}

/// Routers with a path installed as best or multipath.
fn installed(paths: &[PathInfo]) -> BTreeSet<&'static str> {
    paths
        .iter()
        .filter(|p| p.best || p.multipath)
        .filter_map(|p| p.node)
        .collect()
}

fn best(paths: &[PathInfo]) -> Option<&'static str> {
    paths.iter().find(|p| p.best).and_then(|p| p.node)
}

/// The pair lab with BGP resources in its config and FRR on the WAN host.
struct BgpLab {
    prefix: String,
    bin_dir: PathBuf,
    config: tempfile::NamedTempFile,
}

impl BgpLab {
    fn new(tag: &str, standby: &str) -> BgpLab {
        require_privileges();
        require_command("nft");
        require_command("jq");
        require_command("vtysh");
        static N: AtomicU32 = AtomicU32::new(0);
        let prefix = format!(
            "rdbgp-{tag}-{}-{}",
            std::process::id() % 100_000,
            N.fetch_add(1, Ordering::Relaxed)
        );
        let bin_dir = bin("routerd")
            .parent()
            .map(Path::to_path_buf)
            .expect("routerd has a directory");
        bin("routerd-bgp");
        let config = tempfile::NamedTempFile::new().expect("config file");
        let lab = BgpLab {
            prefix,
            bin_dir,
            config,
        };
        let up = lab.hooks("pair_up");
        assert!(up.status.success(), "topology: {}", text(&up));
        let mut yaml = lab.ok("rd_config");
        yaml.push_str(&bgp_resources(standby));
        std::fs::write(lab.config.path(), yaml).expect("write config");
        lab
    }

    /// Runs `bash -c SCRIPT` with the topology library and routerd's hooks;
    /// the hooks start routerd on this lab's config once it is written.
    fn hooks(&self, script: &str) -> Output {
        let written = std::fs::metadata(self.config.path()).is_ok_and(|m| m.len() > 0);
        let config = if written {
            format!("RD_CONFIG='{}'", self.config.path().display())
        } else {
            String::new()
        };
        let lib = format!(
            "set -u; export PAIR_PREFIX='{}' PAIR_RUN_BASE=/run/routerd-bgp-tests ADVERT_INT=0.1 RD_BIN_DIR='{}' {config}; source '{}'; source '{}'; {script}",
            self.prefix,
            self.bin_dir.display(),
            repo().join("deploy/pair-topology.sh").display(),
            repo().join("chaos/impl-routerd.sh").display()
        );
        Command::new("bash")
            .args(["-c", &lib])
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run bash: {e}"))
    }

    fn ok(&self, script: &str) -> String {
        let out = self.hooks(script);
        assert!(out.status.success(), "{script}: {}", text(&out));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn ns(&self, node: &str) -> String {
        format!("{}-{node}", self.prefix)
    }

    fn start_all(&self) {
        for node in ["w", "r1", "r2"] {
            self.ok(&format!("impl_start {node}"));
        }
        for node in ["w", "r1", "r2"] {
            wait_until(
                &format!("{node} ready (leader known, daemons running)"),
                SETTLE,
                || {
                    self.hooks(&format!("impl_ready {node}"))
                        .status
                        .success()
                        .then_some(())
                },
            );
        }
    }

    fn holders(&self, vip: &str) -> Vec<&'static str> {
        ["r1", "r2"]
            .into_iter()
            .filter(|n| {
                let out = Command::new("ip")
                    .args(["-n", &self.ns(n), "-o", "addr", "show", "dev", "lan0"])
                    .output()
                    .expect("ip addr");
                String::from_utf8_lossy(&out.stdout).contains(&format!(" {vip}/"))
            })
            .collect()
    }

    fn owner(&self, vip: &str) -> &'static str {
        wait_until(&format!("exactly one router holds {vip}"), SETTLE, || {
            let h = self.holders(vip);
            (h.len() == 1).then(|| h[0])
        })
    }

    fn routerctl(&self, node: &str, args: &[&str]) -> Output {
        let socket = format!(
            "/run/routerd-bgp-tests/{}/routerd-{node}/routerd.sock",
            self.prefix
        );
        Command::new(bin("routerctl"))
            .arg("--socket")
            .arg(socket)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("routerctl")
    }

    /// The pid of the node's routerd-bgp, from its pid file.
    fn bgp_pid(&self, node: &str) -> Option<u32> {
        let f = format!(
            "/run/routerd-bgp-tests/{}/routerd-{node}/state/daemons/bgp-edge-{node}/pid",
            self.prefix
        );
        let pid: u32 = std::fs::read_to_string(f).ok()?.trim().parse().ok()?;
        Path::new(&format!("/proc/{pid}")).exists().then_some(pid)
    }
}

impl Drop for BgpLab {
    fn drop(&mut self) {
        let _ = self.hooks("for n in r1 r2 w; do impl_stop $n; done; pair_down");
    }
}

/// What routerctl shows of BGP through routerd's API on `node`: the FRR
/// sessions Established, and the route FRR originates learned.
fn check_routerctl(lab: &BgpLab, node: &str) {
    let out = lab.routerctl(node, &["bgp", "summary", "-o", "json"]);
    assert!(out.status.success(), "{}", text(&out));
    let v: Value = serde_json::from_slice(&out.stdout).expect("summary JSON");
    let r = &v["routers"][format!("edge-{node}")];
    assert_eq!(r["asn"], OUR_AS, "{v}");
    let peers = r["peers"].as_array().expect("peers");
    assert_eq!(peers.len(), 2, "{v}");
    assert!(peers.iter().all(|p| p["state"] == "Established"), "{v}");
    let table = lab.routerctl(node, &["bgp", "summary"]);
    assert!(table.status.success(), "{}", text(&table));
    assert!(
        String::from_utf8_lossy(&table.stdout).contains("Established"),
        "{}",
        text(&table)
    );
    // FRR's UPDATE may trail the session's Established by a moment.
    wait_until(
        &format!("{node}: routerctl bgp routes shows FRR's 192.0.2.0/24"),
        Duration::from_secs(20),
        || {
            let out = lab.routerctl(node, &["bgp", "routes", "192.0.2.0/24", "-o", "json"]);
            assert!(out.status.success(), "{}", text(&out));
            let v: Value = serde_json::from_slice(&out.stdout).expect("routes JSON");
            let routes = &v["routers"][format!("edge-{node}")]["routes"];
            routes
                .as_array()
                .is_some_and(|a| a.iter().any(|r| r["prefix"] == "192.0.2.0/24"))
                .then_some(())
        },
    );
    let table = lab.routerctl(node, &["bgp", "routes"]);
    assert!(table.status.success(), "{}", text(&table));
    assert!(
        String::from_utf8_lossy(&table.stdout).contains("192.0.2.0/24"),
        "{}",
        text(&table)
    );
}

/// Milliseconds since midnight UTC.
fn day_ms(t: std::time::SystemTime) -> i64 {
    let ms = t
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    (ms % 86_400_000) as i64
}

/// The time of day of an FRR log line ("YYYY/MM/DD HH:MM:SS.mmm ..."), ms.
fn log_ms(line: &str) -> Option<i64> {
    let clock = line.split_whitespace().nth(1)?;
    let (hms, ms) = clock.split_once('.')?;
    let mut parts = hms.split(':').map(|p| p.parse::<i64>().ok());
    let (h, m, s) = (parts.next()??, parts.next()??, parts.next()??);
    Some(((h * 60 + m) * 60 + s) * 1000 + ms.parse::<i64>().ok()?)
}

/// From bgpd's UPDATE log: the withdrawal from `from` and the next
/// announcement from `to`, in ms after `since` (ms of the day).
fn update_times(log: &[String], from: &str, to: &str, since: i64) -> Option<(i64, i64)> {
    let withdrawn = log
        .iter()
        .filter(|l| l.contains(&format!(" {from}(")) && l.contains("withdrawn"))
        .filter_map(|l| log_ms(l))
        .find(|t| *t >= since)?;
    let announced = log
        .iter()
        .filter(|l| l.contains(&format!(" {to}(")) && !l.contains("withdrawn"))
        .filter_map(|l| log_ms(l))
        .find(|t| *t >= withdrawn)?;
    Some((withdrawn - since, announced - since))
}

/// The first UPDATE from `peer` about the log's prefix at or after `since`
/// (ms of the day): a withdrawal, or an announcement.
fn first_update(log: &[String], peer: &str, withdrawal: bool, since: i64) -> Option<i64> {
    log.iter()
        .filter(|l| l.contains(&format!(" {peer}(")) && l.contains("withdrawn") == withdrawal)
        .filter_map(|l| log_ms(l))
        .find(|t| *t >= since)
}

/// The fence as bgpd saw it: after `since`, the old owner's withdrawal of
/// each service prefix arrived no later than the new owner's announcement.
fn assert_withdrawn_first(frr: &Frr, victim: &str, survivor: &str, since: i64) {
    for (prefix, from, to) in [
        (SVC4, wan4(victim), wan4(survivor)),
        (SVC6, wan6(victim), wan6(survivor)),
    ] {
        let log = frr.update_log(prefix);
        let withdrawn = first_update(&log, from, true, since);
        let announced = first_update(&log, to, false, since);
        match (withdrawn, announced) {
            (Some(w), Some(a)) => assert!(
                w <= a,
                "{prefix}: {survivor}'s announcement reached FRR {} ms before {victim}'s withdrawal: {log:#?}",
                w - a
            ),
            _ => panic!("{prefix}: bgpd's log does not show the move: {log:#?}"),
        }
    }
}

/// One FRR sample during a failover.
struct Sample {
    at: Duration,
    v4: Vec<PathInfo>,
    v6: Vec<PathInfo>,
}

/// Samples FRR every 100 ms until `done` holds for a sample (bounded).
fn sample_until(frr: &Frr, start: Instant, done: impl Fn(&Sample) -> bool) -> Vec<Sample> {
    let mut out = Vec::new();
    let deadline = start + Duration::from_secs(30);
    loop {
        let tick = Instant::now();
        let (v4, v6) = frr.sample();
        let s = Sample {
            at: tick - start,
            v4,
            v6,
        };
        let finished = done(&s);
        out.push(s);
        if finished {
            return out;
        }
        assert!(
            Instant::now() < deadline,
            "no convergence in 30 s; last sample v4 {:?} v6 {:?}",
            out.last().map(|s| &s.v4),
            out.last().map(|s| &s.v6)
        );
        std::thread::sleep(Duration::from_millis(100).saturating_sub(tick.elapsed()));
    }
}

/// The longest time FRR had no path at all (first empty sample to the
/// next sample with a path).
fn longest_gap(samples: &[Sample], pick: impl Fn(&Sample) -> &Vec<PathInfo>) -> Duration {
    let mut longest = Duration::ZERO;
    let mut since: Option<Duration> = None;
    for s in samples {
        let empty = pick(s).is_empty();
        match (empty, since) {
            (true, None) => since = Some(s.at),
            (false, Some(t)) => {
                longest = longest.max(s.at - t);
                since = None;
            }
            _ => {}
        }
    }
    longest
}

/// Waits until the Raft leader is not `owner` (routerd moves leadership
/// off the node owning the groups, so the owner's death needs no election
/// before the grant), as a failover in steady state finds it.
fn leadership_off(lab: &BgpLab, owner: &str) {
    wait_until(&format!("Raft leadership off {owner}"), SETTLE, || {
        let out = lab.routerctl(other(owner), &["cluster", "status", "-o", "json"]);
        let v: Value = serde_json::from_slice(&out.stdout).ok()?;
        let leader = v["raft"]["leaderName"].as_str()?;
        (leader != owner).then_some(())
    });
}

fn setup(tag: &str, standby: &str) -> (BgpLab, Frr) {
    let lab = BgpLab::new(tag, standby);
    let frr = Frr::start(&lab.ns("wan"));
    lab.start_all();
    wait_until("FRR has four Established sessions", SETTLE, || {
        (frr.established() == 4).then_some(())
    });
    (lab, frr)
}

#[test]
fn a_withdrawn_standby_leaves_one_path_kill_9_moves_it_and_routerd_readopts_its_daemon() {
    let (lab, frr) = setup("wd", "{action: withdraw}");
    let owner4 = lab.owner(VIP4);
    let owner6 = lab.owner(VIP6);
    let (v4, v6) = wait_until("FRR has both service prefixes", SETTLE, || {
        let (v4, v6) = frr.sample();
        (!v4.is_empty() && !v6.is_empty()).then_some((v4, v6))
    });
    // (a) exactly one path, from the owner; the standby sends nothing.
    assert_eq!(v4.len(), 1, "{v4:?}");
    assert_eq!(v4[0].node, Some(owner4), "{v4:?}");
    assert_eq!(v4[0].as_path_len, 1, "{v4:?}");
    assert_eq!(v6.len(), 1, "{v6:?}");
    assert_eq!(v6[0].node, Some(owner6), "{v6:?}");
    // And it stays that way for a while (no flapping standby).
    for _ in 0..10 {
        let (v4, v6) = frr.sample();
        assert_eq!((v4.len(), v6.len()), (1, 1), "{v4:?} {v6:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    check_routerctl(&lab, "r1");
    check_routerctl(&lab, "r2");

    // (b) kill -9 the v4 owner's routerd; its routerd-bgp lives on.
    let victim = owner4;
    let survivor = other(victim);
    leadership_off(&lab, victim);
    let bgp_before = lab.bgp_pid(victim).expect("the owner's routerd-bgp runs");
    // The hook sends SIGKILL last, just before it returns: times count from
    // its return (bash's own start-up would otherwise count as failover).
    lab.ok(&format!("impl_kill_control {victim}"));
    let start = Instant::now();
    let killed_at = day_ms(std::time::SystemTime::now());
    // For comparison: when the survivor took the gateway VIP (the VRRP
    // side of the same grant), watched every 10 ms alongside.
    let (samples, vip_moved) = std::thread::scope(|scope| {
        let vip = scope.spawn(|| {
            let until = start + Duration::from_secs(30);
            while Instant::now() < until {
                if lab.holders(VIP4) == [survivor] {
                    return Some(start.elapsed());
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            None
        });
        let samples = sample_until(&frr, start, |s| {
            s.v4.len() == 1
                && s.v4[0].node == Some(survivor)
                && s.v6.len() == 1
                && s.v6[0].node == Some(survivor)
        });
        (samples, vip.join().ok().flatten())
    });
    eprintln!("{survivor} held {VIP4} {vip_moved:?} after the kill");
    assert_eq!(
        lab.bgp_pid(victim),
        Some(bgp_before),
        "the stale owner's routerd-bgp is still running: the deadline fenced it, not its death"
    );
    for s in &samples {
        for (family, paths) in [("v4", &s.v4), ("v6", &s.v6)] {
            let from: BTreeSet<_> = paths.iter().filter_map(|p| p.node).collect();
            assert!(
                from.len() <= 1,
                "at {:?} FRR had {family} paths from both routers: {paths:?}",
                s.at
            );
        }
    }
    let gap4 = longest_gap(&samples, |s| &s.v4);
    let gap6 = longest_gap(&samples, |s| &s.v6);
    let done = samples.last().map(|s| s.at).unwrap_or_default();
    eprintln!(
        "withdraw failover {victim} -> {survivor}: {} samples, converged at {done:?}, longest gap with no path: v4 {gap4:?}, v6 {gap6:?}",
        samples.len()
    );
    assert_withdrawn_first(&frr, victim, survivor, killed_at);
    // Precisely, from bgpd's own UPDATE log (ms timestamps, UTC): when the
    // old owner's withdrawal and the new owner's announcement arrived,
    // counted from the kill.
    for (prefix, from, to) in [
        (SVC4, wan4(victim), wan4(survivor)),
        (SVC6, wan6(victim), wan6(survivor)),
    ] {
        let log = frr.update_log(prefix);
        match update_times(&log, from, to, killed_at) {
            Some((withdrawn, announced)) => eprintln!(
                "{prefix}: FRR got {victim}'s withdrawal {withdrawn} ms and {survivor}'s announcement {announced} ms after the kill: {} ms without a path",
                announced - withdrawn
            ),
            None => eprintln!("{prefix}: bgpd's log does not show the move: {log:?}"),
        }
    }
    // The fence holds after convergence too: the old owner does not come back.
    for _ in 0..10 {
        let (v4, v6) = frr.sample();
        assert_eq!(
            v4.iter().map(|p| p.node).collect::<Vec<_>>(),
            [Some(survivor)]
        );
        assert_eq!(
            v6.iter().map(|p| p.node).collect::<Vec<_>>(),
            [Some(survivor)]
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    check_routerctl(&lab, survivor);

    // routerd comes back (what systemd does): it adopts the routerd-bgp that
    // ran on without it, so FRR's sessions to it never drop, and the
    // prefix stays where it is (no preemption).
    lab.ok(&format!("impl_restart_killed {victim}"));
    wait_until(&format!("{victim} ready again"), SETTLE, || {
        lab.hooks(&format!("impl_ready {victim}"))
            .status
            .success()
            .then_some(())
    });
    check_routerctl(&lab, victim);
    assert_eq!(
        lab.bgp_pid(victim),
        Some(bgp_before),
        "the restarted routerd adopted its routerd-bgp"
    );
    for addr in [wan4(victim), wan6(victim)] {
        assert_eq!(
            frr.dropped(addr),
            Some(0),
            "FRR's session to {addr} never dropped"
        );
    }
    let (v4, v6) = frr.sample();
    assert_eq!(
        v4.iter().map(|p| p.node).collect::<Vec<_>>(),
        [Some(survivor)]
    );
    assert_eq!(
        v6.iter().map(|p| p.node).collect::<Vec<_>>(),
        [Some(survivor)]
    );
    drop(frr);
}

/// Our AS, the standby's 3 prepends and one more for a lapsed owner grant.
const LAPSED_LEN: u64 = 5;

#[test]
fn a_prepending_standby_is_second_best_and_the_best_path_follows_the_owner() {
    let (lab, frr) = setup("pp", "{action: prepend, prepend: 3}");
    let owner4 = lab.owner(VIP4);
    let owner6 = lab.owner(VIP6);
    let (v4, v6) = wait_until("FRR has both paths of both prefixes", SETTLE, || {
        let (v4, v6) = frr.sample();
        (v4.len() == 2 && v6.len() == 2 && best(&v4).is_some() && best(&v6).is_some())
            .then_some((v4, v6))
    });
    for (paths, owner) in [(&v4, owner4), (&v6, owner6)] {
        assert_eq!(best(paths), Some(owner), "{paths:?}");
        assert_eq!(
            installed(paths).into_iter().collect::<Vec<_>>(),
            [owner],
            "the standby's path is not multipath: {paths:?}"
        );
        let standby = paths
            .iter()
            .find(|p| p.node == Some(other(owner)))
            .expect("the standby's path");
        assert_eq!(standby.as_path_len, 4, "{paths:?}");
        let own = paths.iter().find(|p| p.node == Some(owner)).expect("owner");
        assert_eq!(own.as_path_len, 1, "{paths:?}");
    }
    check_routerctl(&lab, "r1");

    let victim = owner4;
    let survivor = other(victim);
    leadership_off(&lab, victim);
    lab.ok(&format!("impl_kill_control {victim}"));
    let start = Instant::now();
    let samples = sample_until(&frr, start, |s| {
        best(&s.v4) == Some(survivor)
            && best(&s.v6) == Some(survivor)
            && s.v4
                .iter()
                .all(|p| p.node != Some(victim) || p.as_path_len == LAPSED_LEN)
            && s.v6
                .iter()
                .all(|p| p.node != Some(victim) || p.as_path_len == LAPSED_LEN)
    });
    // The fence: never two routers announcing as owner (unprepended) at
    // once, and never more than one best path. Between the old owner's
    // deadline and the new grant the lapsed owner prepends once more than
    // the standby, so an upstream doing eBGP multipath (maximum-paths 8
    // here) never sees two equal paths to install side by side.
    for s in &samples {
        for (family, paths) in [("v4", &s.v4), ("v6", &s.v6)] {
            let owners: BTreeSet<_> = paths
                .iter()
                .filter(|p| p.as_path_len == 1)
                .filter_map(|p| p.node)
                .collect();
            assert!(
                owners.len() <= 1,
                "at {:?} FRR had unprepended {family} paths from both routers: {paths:?}",
                s.at
            );
            assert!(
                paths.iter().filter(|p| p.best).count() <= 1,
                "at {:?} two best {family} paths: {paths:?}",
                s.at
            );
            // Judged by what the routers announce (AS path lengths), not
            // FRR's best/multipath flags, which trail an UPDATE until its
            // bestpath run (a sample saw a fresh owner path still marked as
            // the old multipath pair).
            let from: BTreeSet<_> = paths.iter().filter_map(|p| p.node).collect();
            let lengths: BTreeSet<_> = paths.iter().map(|p| p.as_path_len).collect();
            assert!(
                from.len() < 2 || lengths.len() == paths.len(),
                "at {:?} FRR had equal {family} paths from both routers: {paths:?}",
                s.at
            );
        }
    }
    let done = samples.last().map(|s| s.at).unwrap_or_default();
    eprintln!(
        "prepend failover {victim} -> {survivor}: {} samples, best moved at {done:?}",
        samples.len()
    );
    // The old owner's daemon, fenced, stays on as a last resort behind the
    // new owner and behind any standby.
    let (v4, _) = frr.sample();
    assert_eq!(best(&v4), Some(survivor), "{v4:?}");
    if let Some(old) = v4.iter().find(|p| p.node == Some(victim)) {
        assert_eq!(old.as_path_len, LAPSED_LEN, "{v4:?}");
    }
}

#[test]
fn an_owner_cut_off_from_the_cluster_withdraws_before_the_other_announces() {
    let (lab, frr) = setup("cut", "{action: withdraw}");
    let victim = lab.owner(VIP4);
    let survivor = other(victim);
    wait_until("FRR has both service prefixes", SETTLE, || {
        let (v4, v6) = frr.sample();
        (v4.len() == 1 && v6.len() == 1).then_some(())
    });
    leadership_off(&lab, victim);
    // The owner is alive, its BGP sessions too; only its cluster link goes.
    // It cannot renew, so it must let go at its own lease end, before the
    // majority side grants the group to the other router.
    let cut_at = day_ms(std::time::SystemTime::now());
    let out = Command::new("ip")
        .args(["-n", &lab.ns(victim), "link", "set", "cl0", "down"])
        .output()
        .expect("ip link");
    assert!(out.status.success(), "{}", text(&out));
    let start = Instant::now();
    // For comparison: when the cut-off owner let go of the gateway VIP and
    // when the other router took it, watched every 10 ms alongside.
    let (samples, released, taken) = std::thread::scope(|scope| {
        let vip = scope.spawn(|| {
            let until = start + Duration::from_secs(30);
            let (mut released, mut taken) = (None, None);
            while Instant::now() < until && (released.is_none() || taken.is_none()) {
                let h = lab.holders(VIP4);
                if released.is_none() && !h.contains(&victim) {
                    released = Some(start.elapsed());
                }
                if taken.is_none() && h.contains(&survivor) {
                    taken = Some(start.elapsed());
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            (released, taken)
        });
        let samples = sample_until(&frr, start, |s| {
            s.v4.len() == 1
                && s.v4[0].node == Some(survivor)
                && s.v6.len() == 1
                && s.v6[0].node == Some(survivor)
        });
        let (released, taken) = vip.join().unwrap_or((None, None));
        (samples, released, taken)
    });
    eprintln!(
        "{VIP4}: {victim} released it {released:?} and {survivor} took it {taken:?} after the cut"
    );
    for s in &samples {
        for (family, paths) in [("v4", &s.v4), ("v6", &s.v6)] {
            let from: BTreeSet<_> = paths.iter().filter_map(|p| p.node).collect();
            assert!(
                from.len() <= 1,
                "at {:?} FRR had {family} paths from both routers: {paths:?}",
                s.at
            );
        }
    }
    let gap4 = longest_gap(&samples, |s| &s.v4);
    eprintln!(
        "cluster cut {victim}: prefix on {survivor} at {:?}, longest gap with no path: v4 {gap4:?}",
        samples.last().map(|s| s.at).unwrap_or_default()
    );
    assert_withdrawn_first(&frr, victim, survivor, cut_at);
    if let Some((w, a)) = update_times(&frr.update_log(SVC4), wan4(victim), wan4(survivor), cut_at)
    {
        eprintln!(
            "{SVC4}: FRR got {victim}'s withdrawal {w} ms and {survivor}'s announcement {a} ms after the cut: {} ms without a path",
            a - w
        );
    }
    // And it stays fenced while cut off: its BGP sessions are up, it
    // announces nothing.
    for _ in 0..20 {
        let (v4, v6) = frr.sample();
        assert_eq!(
            v4.iter().map(|p| p.node).collect::<Vec<_>>(),
            [Some(survivor)]
        );
        assert_eq!(
            v6.iter().map(|p| p.node).collect::<Vec<_>>(),
            [Some(survivor)]
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        frr.established(),
        4,
        "the cut-off router's sessions stay up"
    );
}
