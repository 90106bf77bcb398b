//! The chaos harness end to end in network namespaces: a short keepalived
//! chaos run must pass the checker, and the checker must fail a run where a
//! VIP is forced onto both routers. Needs root, keepalived and nft.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use routerd_lab::{require_command, require_privileges, wait_until};
use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A pair lab under a prefix no other test uses; `pair-topology.sh down` on
/// drop, also when the test panics.
struct PairLab {
    prefix: String,
}

impl PairLab {
    fn new(tag: &str) -> PairLab {
        require_privileges();
        require_command("keepalived");
        require_command("nft");
        static N: AtomicU32 = AtomicU32::new(0);
        let prefix = format!(
            "rdt-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        PairLab { prefix }
    }

    fn topology(&self, cmd: &str) -> Output {
        Command::new("bash")
            .arg(repo().join("deploy/pair-topology.sh"))
            .args([cmd, &self.prefix])
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run pair-topology.sh {cmd}: {e}"))
    }

    /// Runs `bash -c SCRIPT` with the topology library and keepalived's hooks sourced.
    fn hooks(&self, script: &str) -> Output {
        let lib = format!(
            "set -u; export PAIR_PREFIX='{}' ADVERT_INT=0.1; source '{}'; source '{}'; {script}",
            self.prefix,
            repo().join("deploy/pair-topology.sh").display(),
            repo().join("chaos/impl-keepalived.sh").display()
        );
        Command::new("bash")
            .args(["-c", &lib])
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run bash: {e}"))
    }

    fn ns(&self, node: &str) -> String {
        format!("{}-{node}", self.prefix)
    }
}

impl Drop for PairLab {
    fn drop(&mut self) {
        let _ = self.hooks("impl_stop r1; impl_stop r2");
        let out = self.topology("down");
        if !out.status.success() {
            eprintln!(
                "pair-topology.sh down {} failed: {}",
                self.prefix,
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

fn text(out: &Output) -> String {
    format!(
        "status {}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn a_short_keepalived_chaos_run_passes_the_checker() {
    let lab = PairLab::new("chaos");
    let out_dir = tempfile::tempdir().expect("tempdir");
    let seed = std::env::var("CHAOS_SEED").unwrap_or_else(|_| "20260".into());
    let out = Command::new("bash")
        .arg(repo().join("chaos/run.sh"))
        .args(["--faults", "20", "--time", "150", "--seed", &seed])
        .args(["--prefix", &lab.prefix, "--impl", "keepalived"])
        .arg("--out")
        .arg(out_dir.path())
        .env("RDPROBE", env!("CARGO_BIN_EXE_rdprobe"))
        .env("RDCHECK", env!("CARGO_BIN_EXE_rdcheck"))
        .stdin(Stdio::null())
        .output()
        .expect("run chaos/run.sh");
    let log = text(&out);
    assert!(out.status.success(), "chaos run failed:\n{log}");

    let verdict: Value = serde_json::from_str(
        &std::fs::read_to_string(out_dir.path().join("verdict.json")).expect("verdict.json"),
    )
    .expect("verdict.json is JSON");
    assert_eq!(verdict["pass"], true, "{verdict:#}");
    assert_eq!(verdict["violations"], Value::Array(vec![]), "{verdict:#}");
    // The checker really watched: thousands of samples, every fault declared,
    // traffic measured on both families.
    assert!(
        verdict["samples"].as_u64().unwrap_or(0) > 1000,
        "{verdict:#}"
    );
    assert_eq!(
        verdict["faults"].as_array().map(Vec::len),
        Some(20),
        "{verdict:#}\n{log}"
    );
    let probe = verdict["probe"].as_array().expect("probe summary");
    assert_eq!(probe.len(), 2, "{verdict:#}");
    // Some faults took the master's LAN link: failovers the client noticed.
    assert!(
        probe.iter().any(|s| s["outages"].as_u64().unwrap_or(0) > 0),
        "no fault caused a failover; the run proved nothing:\n{verdict:#}\n{log}"
    );
}

/// The CI chaos scenario for routerd (`chaos/run.sh --short`, at most 40
/// faults in 3 minutes): kill -9 of routerd or routerd-vrrp, cluster-link
/// cuts and LAN links down on random routers; never two owners, traffic
/// back within the bound, every node on the same generation at the end.
#[test]
fn a_short_routerd_chaos_run_passes_the_checker() {
    require_privileges();
    require_command("nft");
    require_command("jq");
    static N: AtomicU32 = AtomicU32::new(0);
    let lab = PairLab {
        prefix: format!(
            "rdt-rdchaos-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ),
    };
    let bin_dir = routerd_lab::bin("routerd")
        .parent()
        .map(Path::to_path_buf)
        .expect("a directory");
    let out_dir = tempfile::tempdir().expect("tempdir");
    let seed = std::env::var("CHAOS_SEED").unwrap_or_else(|_| "42".into());
    let out = Command::new("bash")
        .arg(repo().join("chaos/run.sh"))
        .args(["--short", "--seed", &seed])
        .args(["--prefix", &lab.prefix, "--impl", "routerd"])
        .arg("--out")
        .arg(out_dir.path())
        .env("RDPROBE", env!("CARGO_BIN_EXE_rdprobe"))
        .env("RDCHECK", env!("CARGO_BIN_EXE_rdcheck"))
        .env("RD_BIN_DIR", &bin_dir)
        .stdin(Stdio::null())
        .output()
        .expect("run chaos/run.sh");
    // The routerd nodes are stopped by the runner; the topology by the guard.
    let log = text(&out);
    assert!(out.status.success(), "chaos run failed:\n{log}");
    let verdict: Value = serde_json::from_str(
        &std::fs::read_to_string(out_dir.path().join("verdict.json")).expect("verdict.json"),
    )
    .expect("verdict.json is JSON");
    assert_eq!(verdict["pass"], true, "{verdict:#}");
    assert!(
        verdict["faults"].as_array().map_or(0, Vec::len) >= 20,
        "too few faults for a verdict:\n{verdict:#}\n{log}"
    );
    assert!(
        verdict["samples"].as_u64().unwrap_or(0) > 3000,
        "{verdict:#}"
    );
}

#[test]
fn the_checker_reports_a_vip_forced_onto_both_routers() {
    let lab = PairLab::new("split");
    let up = lab.topology("up");
    assert!(up.status.success(), "{}", text(&up));
    let started = lab.hooks("impl_start r1 && impl_start r2");
    assert!(started.status.success(), "{}", text(&started));
    let master = wait_until(
        "a stable keepalived master",
        Duration::from_secs(30),
        || {
            let out = lab.hooks("pair_master");
            let m = String::from_utf8_lossy(&out.stdout).trim().to_string();
            (!m.is_empty()).then_some(m)
        },
    );
    let backup = if master == "r1" { "r2" } else { "r1" };

    let dir = tempfile::tempdir().expect("tempdir");
    let faults = dir.path().join("faults.jsonl");
    std::fs::write(&faults, "").expect("faults file");
    let verdict_path = dir.path().join("verdict.json");
    let checker = Command::new(env!("CARGO_BIN_EXE_rdcheck"))
        .args(["--router", &format!("r1={}", lab.ns("r1"))])
        .args(["--router", &format!("r2={}", lab.ns("r2"))])
        .args(["--vip", "lan0=10.99.0.254", "--vip", "lan0=fe80::99:254"])
        .arg("--faults")
        .arg(&faults)
        .arg("--json")
        .arg(&verdict_path)
        .args(["--duration", "60s"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start rdcheck");

    // Let it sample a clean pair first, then put the IPv4 VIP on the backup
    // too, for long enough that a 10 ms sampler cannot miss it.
    std::thread::sleep(Duration::from_millis(500));
    let ns = lab.ns(backup);
    let add = Command::new("ip")
        .args(["-n", &ns, "addr", "add", "10.99.0.254/24", "dev", "lan0"])
        .output()
        .expect("ip addr add");
    assert!(add.status.success(), "{}", text(&add));
    std::thread::sleep(Duration::from_millis(300));
    let _ = Command::new("ip")
        .args(["-n", &ns, "addr", "del", "10.99.0.254/24", "dev", "lan0"])
        .output();
    std::thread::sleep(Duration::from_millis(300));
    std::fs::write(&faults, "{\"at_ms\": 0, \"event\": \"stop\"}\n").expect("stop");

    let out = checker.wait_with_output().expect("rdcheck exits");
    let log = text(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "rdcheck must fail the run:\n{log}"
    );
    let verdict: Value =
        serde_json::from_str(&std::fs::read_to_string(&verdict_path).expect("verdict"))
            .expect("JSON");
    let splits: Vec<&Value> = verdict["violations"]
        .as_array()
        .expect("violations")
        .iter()
        .filter(|v| v["kind"] == "split-brain")
        .collect();
    assert_eq!(splits.len(), 1, "{verdict:#}");
    assert_eq!(splits[0]["vip"], "10.99.0.254%lan0");
    assert!(
        splits[0]["samples"].as_u64().unwrap_or(0) >= 5,
        "{verdict:#}"
    );
    let mut routers: Vec<&str> = splits[0]["routers"]
        .as_array()
        .expect("routers")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    routers.sort_unstable();
    assert_eq!(routers, ["r1", "r2"]);
    // The IPv6 VIP was left alone and is clean.
    assert_eq!(verdict["vips"][1]["split_brain_runs"], 0, "{verdict:#}");
    assert!(log.contains("FAIL"), "{log}");
}
