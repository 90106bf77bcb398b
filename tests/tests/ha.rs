//! The HA acceptance points, end to end: the paired-branch topology
//! (deploy/pair-topology.sh) with routerd on r1, r2 and a witness, driven
//! through the same hooks as the lab and the chaos runner
//! (chaos/impl-routerd.sh), judged with rdprobe and rdcheck.
//!
//! Needs root, nft, and the workspace's binaries built (tests/run.sh does).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use routerd_lab::{bin, require_command, require_privileges, wait_until};
use serde_json::Value;

const VIP4: &str = "10.99.0.254";

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

/// A paired lab running routerd under a prefix of its own; every node is
/// stopped and the namespaces removed on drop, also when a test panics.
struct HaLab {
    prefix: String,
    bin_dir: PathBuf,
    started: Vec<&'static str>,
}

impl HaLab {
    fn new(tag: &str) -> HaLab {
        require_privileges();
        require_command("nft");
        require_command("jq");
        static N: AtomicU32 = AtomicU32::new(0);
        let prefix = format!(
            "rdha-{tag}-{}-{}",
            std::process::id() % 100_000,
            N.fetch_add(1, Ordering::Relaxed)
        );
        let bin_dir = bin("routerd")
            .parent()
            .map(Path::to_path_buf)
            .expect("routerd has a directory");
        let lab = HaLab {
            prefix,
            bin_dir,
            started: Vec::new(),
        };
        let up = lab.hooks("pair_up");
        assert!(up.status.success(), "topology: {}", text(&up));
        lab
    }

    /// Runs `bash -c SCRIPT` with the topology library and routerd's hooks.
    fn hooks(&self, script: &str) -> Output {
        let lib = format!(
            "set -u; export PAIR_PREFIX='{}' PAIR_RUN_BASE=/run/routerd-ha-tests ADVERT_INT=0.1 RD_BIN_DIR='{}'; source '{}'; source '{}'; {script}",
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

    fn start_all(&mut self) {
        for node in ["w", "r1", "r2"] {
            self.ok(&format!("impl_start {node}"));
            self.started.push(node);
        }
        for node in ["w", "r1", "r2"] {
            wait_until(
                &format!("{node} ready (leader known, daemons running)"),
                Duration::from_secs(60),
                || {
                    self.hooks(&format!("impl_ready {node}"))
                        .status
                        .success()
                        .then_some(())
                },
            );
        }
    }

    fn ns(&self, node: &str) -> String {
        format!("{}-{node}", self.prefix)
    }

    /// The routers holding `vip` right now.
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

    fn wait_single_holder(&self, vip: &str, timeout: Duration) -> &'static str {
        wait_until(&format!("exactly one router holds {vip}"), timeout, || {
            let h = self.holders(vip);
            (h.len() == 1).then(|| h[0])
        })
    }

    fn routerctl(&self, node: &str, args: &[&str]) -> Output {
        let socket = format!(
            "/run/routerd-ha-tests/{}/routerd-{node}/routerd.sock",
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

    fn cluster_status(&self, node: &str) -> Value {
        let out = self.routerctl(node, &["cluster", "status", "-o", "json"]);
        assert!(out.status.success(), "{}", text(&out));
        serde_json::from_slice(&out.stdout).expect("cluster status is JSON")
    }

    /// rdcheck watching the VIPs on r1 and r2 until the returned guard stops it.
    fn checker(&self, dir: &Path) -> Checker {
        let faults = dir.join("faults.jsonl");
        std::fs::write(&faults, "").expect("faults file");
        let verdict = dir.join("verdict.json");
        let child = Command::new(bin("rdcheck"))
            .args(["--router", &format!("r1={}", self.ns("r1"))])
            .args(["--router", &format!("r2={}", self.ns("r2"))])
            .args(["--vip", "lan0=10.99.0.254", "--vip", "lan0=fd00:99::254"])
            .arg("--faults")
            .arg(&faults)
            .arg("--json")
            .arg(&verdict)
            .args(["--duration", "120s", "--grace", "60s"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start rdcheck");
        Checker {
            child: Some(child),
            faults,
            verdict,
        }
    }
}

impl Drop for HaLab {
    fn drop(&mut self) {
        let _ = self.hooks("for n in r1 r2 w; do impl_stop $n; done; pair_down");
    }
}

struct Checker {
    child: Option<Child>,
    faults: PathBuf,
    verdict: PathBuf,
}

impl Checker {
    /// Stops sampling and returns the verdict.
    fn finish(mut self) -> Value {
        std::fs::write(&self.faults, "{\"at_ms\": 0, \"event\": \"stop\"}\n").expect("stop");
        let child = self.child.take().expect("running");
        let out = child.wait_with_output().expect("rdcheck exits");
        serde_json::from_str(&std::fs::read_to_string(&self.verdict).unwrap_or_else(|e| {
            panic!("no verdict ({e}): {}", text(&out));
        }))
        .expect("verdict is JSON")
    }
}

impl Drop for Checker {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn split_brains(verdict: &Value) -> Vec<Value> {
    verdict["violations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["kind"] == "split-brain")
        .cloned()
        .collect()
}

/// A fixed-cadence prober from the client to the WAN host.
fn probe(lab: &HaLab, dir: &Path, duration: &str) -> Child {
    Command::new(bin("rdprobe"))
        .args(["--netns", &lab.ns("client"), "--interval", "10ms"])
        .args(["--duration", duration])
        .arg("-o")
        .arg(dir.join("probe.json"))
        .args(["198.51.100.1", "2001:db8:100::1"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start rdprobe")
}

#[test]
fn the_pair_elects_one_gateway_and_every_node_serves_the_same_generation() {
    let mut lab = HaLab::new("gen");
    lab.start_all();
    // Priority 200 wins for both families; no overlap on the way.
    assert_eq!(lab.wait_single_holder(VIP4, Duration::from_secs(30)), "r1");
    assert_eq!(
        lab.wait_single_holder("fd00:99::254", Duration::from_secs(30)),
        "r1"
    );
    // The leader moved off the owner (to the witness, which owns nothing).
    wait_until("leadership off the owner", Duration::from_secs(30), || {
        let s = lab.cluster_status("r2");
        (s["raft"]["leaderName"] == "w").then_some(())
    });

    // An apply through a follower (r2) goes through the leader; every node
    // converges on the new generation, the witness included.
    let before = lab.cluster_status("r1")["generation"]["served"]
        .as_u64()
        .expect("served generation");
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("new.yaml");
    let mut yaml = lab.ok("rd_config");
    yaml.push_str(
        "\n    - apiVersion: net.routerd.net/v1alpha1\n      kind: Interface\n      metadata:\n        name: wan\n        nodes: [r1, r2]\n      spec:\n        ifname: wan0\n        managed: false\n",
    );
    std::fs::write(&config, &yaml).expect("write config");
    let out = lab.routerctl("r2", &["apply", "-c", config.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", text(&out));
    for node in ["r1", "r2", "w"] {
        wait_until(
            &format!("{node} serves generation {}", before + 1),
            Duration::from_secs(30),
            || {
                let g = &lab.cluster_status(node)["generation"];
                (g["served"].as_u64() == Some(before + 1) && g["committed"] == g["served"])
                    .then_some(())
            },
        );
    }
    let got = lab.routerctl("r1", &["get", "Interface", "wan", "-o", "json"]);
    assert!(got.status.success(), "{}", text(&got));
    // Applying the same text again is not a new generation.
    let again = lab.routerctl("r1", &["apply", "-c", config.to_str().expect("utf-8")]);
    assert!(again.status.success(), "{}", text(&again));
    assert_eq!(
        lab.cluster_status("w")["generation"]["committed"].as_u64(),
        Some(before + 1)
    );
}

#[test]
fn killing_routerd_vrrp_on_the_master_moves_nothing_and_loses_no_probe() {
    let mut lab = HaLab::new("kvrrp");
    lab.start_all();
    let master = lab.wait_single_holder(VIP4, Duration::from_secs(30));
    // Let the client's neighbour caches settle before measuring.
    wait_until(
        "client reaches the WAN host",
        Duration::from_secs(20),
        || {
            Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    &lab.ns("client"),
                    "ping",
                    "-c1",
                    "-W1",
                    "198.51.100.1",
                ])
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|_| ())
        },
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let checker = lab.checker(dir.path());
    let prober = probe(&lab, dir.path(), "6s");
    std::thread::sleep(Duration::from_millis(1500));
    let pids_before = lab.ok(&format!("rd_vrrp_pids {master} | sort | xargs"));
    lab.ok(&format!("impl_kill_vrrp {master}"));
    // The supervisor restarts both daemons.
    wait_until("routerd-vrrp restarted", Duration::from_secs(20), || {
        let now = lab.ok(&format!("rd_vrrp_pids {master} | sort | xargs"));
        (now.split_whitespace().count() == 2 && now != pids_before).then_some(())
    });
    let probe_out = prober.wait_with_output().expect("rdprobe exits");
    assert!(probe_out.status.success(), "{}", text(&probe_out));
    let verdict = checker.finish();
    assert!(split_brains(&verdict).is_empty(), "{verdict:#}");
    assert_eq!(lab.holders(VIP4), vec![master], "the VIP did not stay");
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("probe.json")).expect("probe.json"),
    )
    .expect("probe JSON");
    for target in report["streams"].as_array().expect("streams") {
        assert!(target["sent"].as_u64().unwrap_or(0) > 300, "{report:#}");
        assert_eq!(target["lost"], 0, "the client lost probes:\n{report:#}");
    }
}

#[test]
fn a_master_cut_off_from_the_cluster_lets_go_before_the_other_takes_over() {
    let mut lab = HaLab::new("cut");
    lab.start_all();
    let master = lab.wait_single_holder(VIP4, Duration::from_secs(30));
    let other = if master == "r1" { "r2" } else { "r1" };
    let dir = tempfile::tempdir().expect("tempdir");
    let checker = lab.checker(dir.path());
    std::thread::sleep(Duration::from_millis(500));
    // Drop everything on the master's cluster link; its LAN stays up.
    let cut = "table inet rdha_cut { chain in { type filter hook input priority -300; iifname \"cl0\" drop; }; chain out { type filter hook output priority -300; oifname \"cl0\" drop; }; }";
    let out = Command::new("ip")
        .args(["netns", "exec", &lab.ns(master), "nft", cut])
        .output()
        .expect("nft");
    assert!(out.status.success(), "{}", text(&out));
    let started = Instant::now();
    wait_until(
        &format!("{other} holds the VIPs"),
        Duration::from_secs(30),
        || {
            (lab.holders(VIP4) == vec![other] && lab.holders("fd00:99::254") == vec![other])
                .then_some(())
        },
    );
    let took = started.elapsed();
    // It stays there while the cut lasts (the isolated node hears the
    // owner's adverts and never preempts).
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(lab.holders(VIP4), vec![other]);
    let before = lab.cluster_status(other);
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            &lab.ns(master),
            "nft",
            "delete",
            "table",
            "inet",
            "rdha_cut",
        ])
        .output()
        .expect("nft");
    assert!(out.status.success(), "{}", text(&out));
    // The returning node campaigned in vain while cut off (pre-vote): it
    // rejoins under the same leader and term, and nothing moves. The
    // leader's channel to it reconnects with a backoff of a few seconds,
    // so watch for longer than that.
    wait_until(
        &format!("{master} follows the leader again"),
        Duration::from_secs(30),
        || {
            let s = lab.cluster_status(master);
            (s["raft"]["leader"] == before["raft"]["leader"] && s["raft"]["quorum"] == true)
                .then_some(())
        },
    );
    let watch_until = Instant::now() + Duration::from_secs(8);
    while Instant::now() < watch_until {
        assert_eq!(
            lab.holders(VIP4),
            vec![other],
            "the VIP moved after the cut healed"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let after = lab.cluster_status(other);
    assert_eq!(
        (&after["raft"]["term"], &after["raft"]["leader"]),
        (&before["raft"]["term"], &before["raft"]["leader"]),
        "the returning node disturbed the cluster"
    );
    let verdict = checker.finish();
    assert!(
        split_brains(&verdict).is_empty(),
        "two owners at once after {took:?}:\n{verdict:#}"
    );
}

#[test]
fn killing_the_raft_leader_during_applies_loses_no_acknowledged_apply() {
    let mut lab = HaLab::new("leader");
    lab.start_all();
    let dir = tempfile::tempdir().expect("tempdir");
    let base = lab.ok("rd_config");
    let mut acknowledged: Vec<(u64, String)> = Vec::new();
    let mut killed = None;
    for i in 0..30 {
        if i == 10 {
            let leader = lab.cluster_status("r1")["raft"]["leaderName"]
                .as_str()
                .expect("a leader")
                .to_string();
            let node: &'static str = match leader.as_str() {
                "r1" => "r1",
                "r2" => "r2",
                _ => "w",
            };
            lab.ok(&format!("impl_kill_control {node}"));
            killed = Some(node);
        }
        // Ask a node that was not killed.
        let via = match killed {
            Some("r2") => "r1",
            _ => "r2",
        };
        let marker = format!("# apply {i}\n");
        let file = dir.path().join(format!("c{i}.yaml"));
        std::fs::write(&file, format!("{marker}{base}\n")).expect("write");
        // An apply during the election waits for the new leader.
        let out = lab.routerctl(via, &["apply", "-c", file.to_str().expect("utf-8")]);
        assert!(out.status.success(), "apply {i} via {via}: {}", text(&out));
        let g = lab.cluster_status(via)["generation"]["served"]
            .as_u64()
            .expect("generation");
        acknowledged.push((g, marker));
    }
    let killed = killed.expect("the leader was killed");
    lab.ok(&format!("impl_restart_killed {killed}"));
    assert!(
        acknowledged.len() >= 20,
        "too few applies acknowledged: {acknowledged:?}"
    );
    // Generations only grow, one per acknowledged apply.
    for pair in acknowledged.windows(2) {
        assert!(pair[1].0 > pair[0].0, "{acknowledged:?}");
    }
    let (last_gen, last_marker) = acknowledged.last().cloned().expect("some");
    for node in ["r1", "r2", "w"] {
        wait_until(
            &format!("{node} serves the last acknowledged generation"),
            Duration::from_secs(60),
            || {
                let s = lab.cluster_status(node);
                (s["generation"]["served"].as_u64() == Some(last_gen)).then_some(())
            },
        );
        let out = lab.routerctl(node, &["status", "-o", "json"]);
        assert!(out.status.success(), "{}", text(&out));
    }
    // The served text is the last acknowledged one.
    let file = format!(
        "/run/routerd-ha-tests/{}/routerd-r1/state/config/gen-{last_gen:08}.yaml",
        lab.prefix
    );
    let served = std::fs::read_to_string(&file).expect("stored generation");
    assert!(served.starts_with(&last_marker), "{file}: {served}");
}
