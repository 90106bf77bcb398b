//! One test network namespace: created with a unique name, torn down on drop.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::env::{ip_cmd, require_privileges};
use crate::process::Process;
use crate::reap;

/// Where `ip netns` keeps the namespace handles.
pub(crate) const NETNS_RUN_DIR: &str = "/run/netns";
/// Where `ip netns exec` finds per-namespace files to bind over `/etc`.
pub(crate) const NETNS_ETC_DIR: &str = "/etc/netns";

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A network namespace owned by one test. Dropping it kills every process inside,
/// deletes the namespace and removes its `/etc/netns/NAME` directory.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates `rdt-{tag}-{pid}-{n}` with its own resolv.conf, `lo` up and IPv6 DAD
    /// off (a fresh veth would otherwise hold its addresses tentative for a second).
    pub fn new(tag: &str) -> Netns {
        require_privileges();
        reap::reap_stale_once();

        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("rdt-{}-{}-{n}", sanitize_tag(tag), std::process::id());
        // The guard exists before the namespace does, so a failure below still cleans up.
        let ns = Netns { name };

        // resolv.conf first: anything run with `ip netns exec` must see this file
        // bound over the host's, so a DHCP client's hooks cannot rewrite the host's DNS.
        let etc = ns.etc_dir();
        if let Err(e) = std::fs::create_dir_all(&etc)
            .and_then(|()| std::fs::write(etc.join("resolv.conf"), "# routerd lab\n"))
        {
            panic!("cannot create {}: {e}", etc.display());
        }

        let out = run_ip(&["netns", "add", &ns.name]);
        if !out.status.success() {
            panic!(
                "`ip netns add {}` failed: {}",
                ns.name,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        ns.ip("link set lo up");
        ns.set_sysctl("net.ipv6.conf.all.accept_dad", "0");
        ns.set_sysctl("net.ipv6.conf.default.accept_dad", "0");
        ns
    }

    /// The namespace's name, as `ip netns` knows it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The namespace's handle file, e.g. for `setns(2)` or `nsenter --net=`.
    pub fn path(&self) -> PathBuf {
        Path::new(NETNS_RUN_DIR).join(&self.name)
    }

    fn etc_dir(&self) -> PathBuf {
        Path::new(NETNS_ETC_DIR).join(&self.name)
    }

    /// Runs `ip netns exec NAME argv..` to completion and returns its output.
    pub fn exec(&self, argv: &[&str]) -> Output {
        let mut cmd = self.exec_command(argv);
        cmd.stdin(Stdio::null());
        cmd.output()
            .unwrap_or_else(|e| panic!("cannot run {argv:?} in {}: {e}", self.name))
    }

    /// Runs a command in the namespace and returns its stdout; panics with the
    /// command, its status and stderr if it fails.
    pub fn run(&self, argv: &[&str]) -> String {
        let out = self.exec(argv);
        if !out.status.success() {
            panic!(
                "{argv:?} in {} failed ({}): {}",
                self.name,
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs `ip -n NAME <args>` (args split on whitespace); panics on failure.
    pub fn ip(&self, args: &str) -> String {
        self.try_ip(args)
            .unwrap_or_else(|e| panic!("`ip -n {} {args}` failed: {e}", self.name))
    }

    /// Runs `ip -n NAME <args>`; returns stdout, or stderr as the error.
    pub fn try_ip(&self, args: &str) -> Result<String, String> {
        let mut argv = vec!["-n", self.name.as_str()];
        argv.extend(args.split_whitespace());
        let out = run_ip(&argv);
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "{}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    /// Runs `ip -j -n NAME <args>` and parses its JSON (no output reads as `[]`).
    pub fn ip_json(&self, args: &str) -> serde_json::Value {
        let out = self.ip(&format!("-j {args}"));
        if out.trim().is_empty() {
            return serde_json::Value::Array(Vec::new());
        }
        serde_json::from_str(&out).unwrap_or_else(|e| {
            panic!(
                "`ip -j -n {} {args}` printed invalid JSON ({e}): {out}",
                self.name
            )
        })
    }

    /// Starts a long-running process in the namespace, in its own process group,
    /// with stdout and stderr going to log files.
    pub fn spawn(&self, argv: &[&str], env: &[(&str, &str)]) -> Process {
        let mut cmd = self.exec_command(argv);
        cmd.envs(env.iter().copied());
        let process = Process::start(cmd, argv, &self.name);
        self.wait_joined(process.pid());
        process
    }

    /// Waits (bounded) until `pid` is inside this namespace. `ip netns exec`
    /// joins it only after it started; a teardown in between would find the
    /// namespace empty, delete it, and leave the process running outside
    /// anything the harness cleans up.
    fn wait_joined(&self, pid: u32) {
        use std::os::unix::fs::MetadataExt;
        let Ok(ns) = std::fs::metadata(self.path()) else {
            return;
        };
        let want = format!("net:[{}]", ns.ino());
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            match std::fs::read_link(format!("/proc/{pid}/ns/net")) {
                Ok(link) if link.to_string_lossy() == want => return,
                Ok(_) => std::thread::sleep(Duration::from_millis(1)),
                // Gone already: nothing to wait for.
                Err(_) => return,
            }
        }
    }

    fn exec_command(&self, argv: &[&str]) -> Command {
        assert!(
            !argv.is_empty(),
            "empty command for namespace {}",
            self.name
        );
        let mut cmd = Command::new(ip_cmd());
        cmd.args(["netns", "exec", &self.name]).args(argv);
        cmd
    }

    /// Runs `f` on a fresh thread that has joined this namespace (setns), e.g. to
    /// build a tokio runtime there and use netlink or sockets inside it.
    pub fn in_netns<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        let path = self.path();
        std::thread::scope(|scope| {
            let handle = std::thread::Builder::new()
                .name(format!("netns-{}", self.name))
                .spawn_scoped(scope, move || {
                    enter_netns(&path);
                    f()
                })
                .unwrap_or_else(|e| panic!("cannot spawn a thread for {}: {e}", self.name));
            match handle.join() {
                Ok(r) => r,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }

    /// Reads a sysctl of this namespace (dotted or slash form), trimmed.
    pub fn sysctl(&self, key: &str) -> String {
        let path = sysctl_path(key);
        self.in_netns(|| std::fs::read_to_string(&path))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|e| panic!("cannot read sysctl {key} in {}: {e}", self.name))
    }

    /// Writes a sysctl of this namespace (dotted or slash form).
    pub fn set_sysctl(&self, key: &str, value: &str) {
        let path = sysctl_path(key);
        self.in_netns(|| std::fs::write(&path, value))
            .unwrap_or_else(|e| panic!("cannot set sysctl {key}={value} in {}: {e}", self.name));
    }

    /// Waits until `ifname` reports carrier (LOWER_UP), panicking after `timeout`.
    pub fn wait_link_running(&self, ifname: &str, timeout: Duration) {
        crate::wait_until(
            &format!("{ifname} running in {}", self.name),
            timeout,
            || {
                let links = self.ip_json(&format!("link show dev {ifname}"));
                let running = links[0]["flags"]
                    .as_array()
                    .is_some_and(|f| f.iter().any(|x| x == "LOWER_UP"));
                running.then_some(())
            },
        );
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        destroy(&self.name);
    }
}

/// Kills every process in the namespace, deletes it and its `/etc/netns` directory.
/// Never panics: it runs from `Drop`, possibly while a test is already unwinding.
pub(crate) fn destroy(name: &str) {
    let me = std::process::id();
    // Bounded: processes we cannot kill (e.g. stuck in D state) must not hang the test.
    for _ in 0..100 {
        let pids = namespace_pids(name);
        let others: Vec<u32> = pids.into_iter().filter(|&p| p != me).collect();
        if others.is_empty() {
            break;
        }
        for pid in others {
            if let Ok(pid) = libc::pid_t::try_from(pid) {
                // SAFETY: kill has no memory-safety preconditions.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let run = Path::new(NETNS_RUN_DIR).join(name);
    if run.exists() {
        let out = run_ip(&["netns", "del", name]);
        if !out.status.success() {
            eprintln!(
                "routerd-lab: cannot delete namespace {name}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
    }
    let etc = Path::new(NETNS_ETC_DIR).join(name);
    if etc.exists()
        && let Err(e) = std::fs::remove_dir_all(&etc)
    {
        eprintln!("routerd-lab: cannot remove {}: {e}", etc.display());
    }
}

fn namespace_pids(name: &str) -> Vec<u32> {
    let out = run_ip(&["netns", "pids", name]);
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// Runs `ip` with the given arguments; a failure to start it at all reads as a
/// failed command rather than a panic, so `Drop` can use it.
pub(crate) fn run_ip(args: &[&str]) -> Output {
    Command::new(ip_cmd())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| Output {
            status: failed_status(),
            stdout: Vec::new(),
            stderr: format!("cannot run ip: {e}").into_bytes(),
        })
}

fn failed_status() -> std::process::ExitStatus {
    use std::os::unix::process::ExitStatusExt;
    std::process::ExitStatus::from_raw(127 << 8)
}

fn enter_netns(path: &Path) {
    let file = File::open(path).unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    // SAFETY: the fd is valid for the duration of the call; setns only affects the
    // calling thread, which this harness created for the purpose.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc != 0 {
        panic!(
            "setns({}) failed: {}",
            path.display(),
            std::io::Error::last_os_error()
        );
    }
}

/// `/proc/sys/...` for a dotted (`net.ipv4.ip_forward`) or slash form key.
fn sysctl_path(key: &str) -> PathBuf {
    let rel = if key.contains('/') {
        key.trim_start_matches("/proc/sys/")
            .trim_start_matches('/')
            .to_string()
    } else {
        key.replace('.', "/")
    };
    assert!(
        !rel.split('/')
            .any(|c| c.is_empty() || c == "." || c == ".."),
        "invalid sysctl key {key:?}"
    );
    Path::new("/proc/sys").join(rel)
}

/// Keeps namespace names readable and parseable: the reaper splits them on `-`
/// from the right, so the tag may contain anything but must not be empty.
fn sanitize_tag(tag: &str) -> String {
    let t: String = tag
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(24)
        .collect();
    if t.is_empty() { "ns".to_string() } else { t }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysctl_keys_map_to_proc_paths() {
        assert_eq!(
            sysctl_path("net.ipv4.ip_forward"),
            Path::new("/proc/sys/net/ipv4/ip_forward")
        );
        assert_eq!(
            sysctl_path("net/ipv6/conf/eth0.100/forwarding"),
            Path::new("/proc/sys/net/ipv6/conf/eth0.100/forwarding")
        );
    }

    #[test]
    fn tags_are_sanitised() {
        assert_eq!(sanitize_tag("a b/c"), "a_b_c");
        assert_eq!(sanitize_tag(""), "ns");
    }
}
