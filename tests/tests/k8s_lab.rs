//! The dual-stack Kubernetes edge lab, driven the way its README tells a user
//! to: `deploy/k8s-edge-lab.sh up`, `failover`, `heal`, `failover`, `down`.
//!
//! The script proves each step itself (nodes' routes as ECMP on both routers,
//! exactly one router announcing upstream to FRR, the client reaching the
//! LoadBalancer addresses over IPv4 and IPv6); this test runs it under a
//! namespace prefix of its own, with the binaries this build made, and holds
//! the probe gaps it reports during each failover to a bound.

use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};

use routerd_lab::{bin, require_command, require_privileges};

/// The lab under one prefix; `down` runs on drop, whatever happened.
struct Lab {
    prefix: String,
    script: PathBuf,
    bin_dir: PathBuf,
}

impl Lab {
    fn new() -> Lab {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/k8s-edge-lab.sh");
        let routerd = bin("routerd");
        let bin_dir = routerd
            .parent()
            .map(PathBuf::from)
            .unwrap_or_else(|| panic!("{} has no directory", routerd.display()));
        for b in [
            "routerctl",
            "routerd-bgp",
            "routerd-vrrp",
            "routerd-healthcheck",
        ] {
            bin(b);
        }
        Lab {
            prefix: format!("k8s{}", std::process::id()),
            script,
            bin_dir,
        }
    }

    /// Runs one step with its output in a file, not a pipe: the daemons the
    /// script leaves running would hold a pipe open and `output()` would wait
    /// for them.
    fn run(&self, step: &str) -> (ExitStatus, String) {
        let log = tempfile::NamedTempFile::new()
            .unwrap_or_else(|e| panic!("a temporary file for the lab's output: {e}"));
        let file = || {
            log.reopen()
                .unwrap_or_else(|e| panic!("reopening {}: {e}", log.path().display()))
        };
        let status = Command::new("bash")
            .arg(&self.script)
            .arg(step)
            .env("K8S_LAB_PREFIX", &self.prefix)
            .env("K8S_LAB_PREBUILT", "1")
            .env("RD_BIN_DIR", &self.bin_dir)
            .stdin(Stdio::null())
            .stdout(file())
            .stderr(file())
            .status()
            .unwrap_or_else(|e| panic!("running {}: {e}", self.script.display()));
        let out = std::fs::read_to_string(log.path()).unwrap_or_default();
        eprintln!("---- k8s-edge-lab.sh {step} ({status})\n{out}");
        (status, out)
    }

    fn step(&self, step: &str) -> String {
        let (status, out) = self.run(step);
        assert!(
            status.success(),
            "k8s-edge-lab.sh {step} failed ({status}); its output is above"
        );
        out
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.run("down");
    }
}

/// "probes: 147 answered, 3 failed; longest gap between answers: 952 ms"
fn probes(out: &str) -> (u32, u32, u64) {
    let line = out
        .lines()
        .find(|l| l.trim_start().starts_with("probes:"))
        .unwrap_or_else(|| panic!("no probe summary in the failover output"));
    let nums: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .filter_map(|s| s.parse().ok())
        .collect();
    match nums.as_slice() {
        [ok, fail, gap] => (*ok as u32, *fail as u32, *gap),
        _ => panic!("cannot read the probe summary: {line}"),
    }
}

#[test]
fn the_client_reaches_a_load_balancer_address_through_router_failovers() {
    require_privileges();
    for c in [
        "bird", "birdc", "gobgpd", "gobgp", "vtysh", "curl", "python3",
    ] {
        require_command(c);
    }
    let lab = Lab::new();
    let up = lab.step("up");
    assert!(
        up.contains("the client reaches 198.51.100.10 and 2001:db8:100::10"),
        "the lab came up without proving the client's reach"
    );

    // Each failover kills the active router outright (every process -9,
    // links down); the script fails unless the other one holds the gateway,
    // FRR hears the service prefixes from it alone, and the client reaches
    // both LoadBalancer addresses. The bound on the probe gap is generous for
    // a loaded 2-core machine; the lease and BGP timers make it about 1 s.
    for round in 1..=2 {
        let out = lab.step("failover");
        let (ok, fail, gap) = probes(&out);
        eprintln!("failover {round}: {ok} answered, {fail} failed, longest gap {gap} ms");
        assert!(ok > 0, "failover {round}: the client was never answered");
        assert!(
            gap <= 6_000,
            "failover {round}: the client went {gap} ms without an answer"
        );
        lab.step("heal");
    }
}
