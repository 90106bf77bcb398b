//! A router namespace joined to a peer namespace, with routerd serving in
//! the router, and helpers to talk to it the way a user would: routerctl,
//! curl on the socket, and `ip` in the namespace.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use routerd_lab::{Netns, Process, bin, require_command, require_privileges, veth, wait_until};
use serde_json::Value;

/// Generous: a loaded 2-core CI machine. The tight figures are in deploy/bench.sh.
pub const DEADLINE: Duration = Duration::from_secs(15);

/// The lab config: what routerd serves in these tests.
pub fn lab_config(extra: &str) -> String {
    format!(
        r#"apiVersion: routerd.net/v1alpha1
kind: Router
metadata:
  name: e2e
spec:
  resources:
    - apiVersion: net.routerd.net/v1alpha1
      kind: Interface
      metadata: {{name: lan}}
      spec: {{ifname: r0, managed: true, mtu: 1400}}
    - apiVersion: net.routerd.net/v1alpha1
      kind: IPv4StaticAddress
      metadata: {{name: lan-v4}}
      spec: {{interface: lan, address: 192.0.2.1/24}}
    - apiVersion: net.routerd.net/v1alpha1
      kind: IPv6StaticAddress
      metadata: {{name: lan-v6}}
      spec: {{interface: lan, address: "2001:db8:1::1/64"}}
    - apiVersion: net.routerd.net/v1alpha1
      kind: IPv4Route
      metadata: {{name: core-v4}}
      spec: {{destination: 10.0.0.0/8, gateway: 192.0.2.2}}
    - apiVersion: net.routerd.net/v1alpha1
      kind: IPv6Route
      metadata: {{name: core-v6}}
      spec: {{destination: "2001:db8:ff::/48", gateway: "2001:db8:1::2"}}
    - apiVersion: system.routerd.net/v1alpha1
      kind: Sysctl
      metadata: {{name: forwarding}}
      spec: {{key: net.ipv4.ip_forward, value: "1"}}
    - apiVersion: net.routerd.net/v1alpha1
      kind: HealthCheck
      metadata: {{name: peer}}
      spec: {{protocol: icmp, target: 192.0.2.2, interface: lan, interval: 200ms, timeout: 100ms, healthyThreshold: 1}}
{extra}"#
    )
}

/// The router namespace, its peer, and routerd serving in the router.
pub struct Lab {
    pub router: Netns,
    pub peer: Netns,
    pub dir: tempfile::TempDir,
    pub routerd: Option<Process>,
}

impl Lab {
    /// Two namespaces joined by r0 <-> p0; the peer has 192.0.2.2/24 and 2001:db8:1::2/64.
    pub fn new(tag: &str) -> Lab {
        require_privileges();
        require_command("ip");
        let router = Netns::new(tag);
        let peer = Netns::new(&format!("{tag}p"));
        veth(&router, "r0", &peer, "p0");
        // veth() brings both ends up; routerd is to bring r0 up itself.
        router.ip("link set r0 down");
        peer.ip("addr add 192.0.2.2/24 dev p0");
        peer.ip("addr add 2001:db8:1::2/64 dev p0 nodad");
        let dir = tempfile::tempdir().expect("temp dir");
        Lab {
            router,
            peer,
            dir,
            routerd: None,
        }
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    pub fn socket(&self) -> PathBuf {
        self.state_dir().join("routerd.sock")
    }

    pub fn write_config(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("write config");
        path
    }

    /// Starts `routerd serve` in the router namespace and waits for its API.
    pub fn serve(&mut self, config: Option<&Path>, extra_args: &[&str], env: &[(&str, &str)]) {
        let routerd = bin("routerd");
        let state = self.state_dir();
        let socket = self.socket();
        let mut argv: Vec<String> = vec![
            routerd.display().to_string(),
            "serve".into(),
            "--state-dir".into(),
            state.display().to_string(),
            "--socket".into(),
            socket.display().to_string(),
            // Persistent sysctls go to the test's own directory, never the
            // host's /etc/sysctl.d.
            "--sysctl-dir".into(),
            self.dir.path().join("sysctl.d").display().to_string(),
        ];
        if let Some(c) = config {
            argv.push("-c".into());
            argv.push(c.display().to_string());
        }
        argv.extend(extra_args.iter().map(|s| s.to_string()));
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let process = self.router.spawn(&argv, env);
        self.routerd = Some(process);
        wait_until("routerd's API to answer", DEADLINE, || {
            let p = self.routerd.as_ref()?;
            assert!(p.is_running(), "routerd exited:\n{}", p.stderr());
            (curl(&self.socket(), "GET", "/v1/healthz", None).0 == 200).then_some(())
        });
    }

    /// routerctl with this lab's socket; panics if it fails.
    pub fn ctl(&self, args: &[&str]) -> String {
        let out = self.ctl_output(args);
        assert!(
            out.status.success(),
            "routerctl {args:?} failed: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn ctl_output(&self, args: &[&str]) -> Output {
        Command::new(bin("routerctl"))
            .arg("--socket")
            .arg(self.socket())
            .args(args)
            .output()
            .expect("run routerctl")
    }

    pub fn ctl_json(&self, args: &[&str]) -> Value {
        let text = self.ctl(args);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("routerctl {args:?}: {e}\n{text}"))
    }

    /// GET on routerd's socket, parsed as JSON.
    pub fn get(&self, path: &str) -> Value {
        let (code, body) = curl(&self.socket(), "GET", path, None);
        assert_eq!(code, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
    }

    /// Phase of every resource, from `routerctl get all -o json`.
    pub fn phases(&self) -> Vec<(String, String)> {
        let items = self.ctl_json(&["get", "all", "-o", "json"]);
        items
            .as_array()
            .into_iter()
            .flatten()
            .map(|i| {
                (
                    format!(
                        "{}/{}",
                        i["kind"].as_str().unwrap_or(""),
                        i["name"].as_str().unwrap_or("")
                    ),
                    i["status"]["phase"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    }

    /// Waits until every resource is in a settled good phase.
    pub fn wait_settled(&self) {
        wait_until("every resource Applied, Up or Healthy", DEADLINE, || {
            let phases = self.phases();
            let settled = !phases.is_empty()
                && phases
                    .iter()
                    .all(|(_, p)| matches!(p.as_str(), "Applied" | "Up" | "Healthy"));
            settled.then_some(())
        });
    }

    /// Events from routerd's log whose topic matches.
    pub fn events(&self, topic: &str) -> Vec<Value> {
        let page = self.get(&format!("/v1/events?since=0&limit=10000&topic={topic}"));
        page["events"].as_array().cloned().unwrap_or_default()
    }

    pub fn addresses(&self, ifname: &str) -> Vec<(String, u64)> {
        let v = self.router.ip_json(&format!("addr show dev {ifname}"));
        let mut out: Vec<(String, u64)> = v
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|l| l["addr_info"].as_array().cloned().unwrap_or_default())
            .map(|a| {
                (
                    a["local"].as_str().unwrap_or("").to_string(),
                    a["prefixlen"].as_u64().unwrap_or(0),
                )
            })
            .collect();
        out.sort();
        out
    }

    pub fn daemon_pid(&self, name: &str) -> Option<u64> {
        let v = self.get(&format!("/v1/daemons/{name}"));
        v["supervisor"]["pid"].as_u64()
    }
}

/// A request on a Unix socket with curl, as a user would: (status, body).
pub fn curl(socket: &Path, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    curl_with(socket, method, path, body, &[])
}

pub fn curl_with(
    socket: &Path,
    method: &str,
    path: &str,
    body: Option<&str>,
    extra: &[&str],
) -> (u16, String) {
    let mut cmd = Command::new(require_command("curl"));
    cmd.arg("-s")
        .arg("--max-time")
        .arg("30")
        .arg("--unix-socket")
        .arg(socket)
        .arg("-X")
        .arg(method)
        .arg("-w")
        .arg("\n%{http_code}")
        .args(extra);
    if let Some(b) = body {
        cmd.arg("--data-binary")
            .arg(b)
            .arg("-H")
            .arg("Content-Type: application/yaml");
    }
    cmd.arg(format!("http://routerd{path}"));
    let out = cmd.output().expect("run curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    match text.rsplit_once('\n') {
        Some((body, code)) => (code.trim().parse().unwrap_or(0), body.to_string()),
        None => (text.trim().parse().unwrap_or(0), String::new()),
    }
}

/// Elapsed time until `f` holds, panicking past the deadline.
pub fn time_until(what: &str, f: impl FnMut() -> Option<()>) -> Duration {
    let start = Instant::now();
    wait_until(what, DEADLINE, f);
    start.elapsed()
}
