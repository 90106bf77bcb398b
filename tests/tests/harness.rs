//! Tests of the lab harness itself.

use std::path::Path;
use std::time::Duration;

use routerd_lab::{Netns, bridge, require_command, veth, wait_until};

const CARRIER: Duration = Duration::from_secs(10);

/// Pings once, retrying until the deadline: a fresh veth may take about a second
/// to report carrier.
fn ping_ok(from: &Netns, addr: &str) {
    require_command("ping");
    wait_until(&format!("{} to ping {addr}", from.name()), CARRIER, || {
        from.exec(&["ping", "-n", "-c1", "-W2", addr])
            .status
            .success()
            .then_some(())
    });
}

#[test]
fn veth_pair_pings() {
    let a = Netns::new("ping-a");
    let b = Netns::new("ping-b");
    veth(&a, "a0", &b, "b0");
    a.wait_link_running("a0", CARRIER);
    a.ip("addr add 10.99.0.1/24 dev a0");
    b.ip("addr add 10.99.0.2/24 dev b0");
    a.ip("addr add fd00:99::1/64 dev a0");
    b.ip("addr add fd00:99::2/64 dev b0");
    ping_ok(&a, "10.99.0.2");
    ping_ok(&b, "10.99.0.1");
    ping_ok(&a, "fd00:99::2");
}

#[test]
fn bridge_joins_three_namespaces() {
    let hub = Netns::new("br-hub");
    let members: Vec<Netns> = (0..3).map(|i| Netns::new(&format!("br-m{i}"))).collect();
    for (i, m) in members.iter().enumerate() {
        veth(m, "eth0", &hub, &format!("p{i}"));
        m.ip(&format!("addr add 10.98.0.{}/24 dev eth0", i + 1));
    }
    bridge(&hub, "br0", &["p0", "p1", "p2"]);
    let master = hub.ip_json("link show dev p2");
    assert_eq!(master[0]["master"], "br0");
    for (i, m) in members.iter().enumerate() {
        for j in 0..3 {
            if i != j {
                ping_ok(m, &format!("10.98.0.{}", j + 1));
            }
        }
    }
}

#[test]
fn process_kill_and_wait() {
    let ns = Netns::new("proc");
    let p = ns.spawn(
        &["sh", "-c", "echo started; echo oops >&2; exec sleep 600"],
        &[],
    );
    wait_until("the child to print", Duration::from_secs(5), || {
        p.stdout().contains("started").then_some(())
    });
    assert!(p.is_running());
    assert!(p.stderr().contains("oops"));
    assert_eq!(p.wait_exit(Duration::from_millis(50)), None);
    p.kill9();
    assert!(!p.is_running());

    let q = ns.spawn(
        &["sh", "-c", "echo \"$LAB_VAR\"; exit 3"],
        &[("LAB_VAR", "hello")],
    );
    let status = q.wait_exit(Duration::from_secs(5)).expect("exits");
    assert_eq!(status.code(), Some(3));
    assert_eq!(q.stdout().trim(), "hello");
}

#[test]
fn process_drop_kills_its_group() {
    let ns = Netns::new("pgrp");
    let p = ns.spawn(&["sh", "-c", "sleep 600 & echo $!; wait"], &[]);
    let grandchild: u32 = wait_until("the grandchild pid", Duration::from_secs(5), || {
        p.stdout().trim().parse().ok()
    });
    drop(p);
    wait_until("the grandchild to die", Duration::from_secs(5), || {
        let stat = std::fs::read_to_string(format!("/proc/{grandchild}/stat")).unwrap_or_default();
        // Gone, or a zombie waiting for init to reap it.
        (stat.is_empty() || stat.contains(") Z ")).then_some(())
    });
}

#[test]
fn in_netns_sees_the_namespace() {
    let ns = Netns::new("inns");
    let other = Netns::new("inns-peer");
    veth(&ns, "inside0", &other, "outside0");
    let names: Vec<String> = ns.in_netns(|| {
        // /sys reflects the mount's namespace, /proc/self/net the thread's: read the latter.
        let dev = std::fs::read_to_string("/proc/thread-self/net/dev").unwrap();
        dev.lines()
            .skip(2)
            .filter_map(|l| l.split(':').next())
            .map(|s| s.trim().to_string())
            .collect()
    });
    assert!(names.contains(&"lo".to_string()), "{names:?}");
    assert!(names.contains(&"inside0".to_string()), "{names:?}");
    assert!(!names.contains(&"outside0".to_string()), "{names:?}");
    assert_eq!(ns.sysctl("net.ipv6.conf.all.accept_dad"), "0");
    ns.set_sysctl("net.ipv4.ip_forward", "1");
    assert_eq!(ns.sysctl("net/ipv4/ip_forward"), "1");
    assert_eq!(other.sysctl("net.ipv4.ip_forward"), "0");
}

#[test]
fn drop_removes_namespace_and_resolv_conf() {
    let ns = Netns::new("drop");
    let name = ns.name().to_string();
    let etc = Path::new("/etc/netns").join(&name);
    assert_eq!(
        std::fs::read_to_string(etc.join("resolv.conf")).unwrap(),
        "# routerd lab\n"
    );
    // A process `ip netns exec` runs sees the namespace's resolv.conf, not the host's.
    assert_eq!(ns.run(&["cat", "/etc/resolv.conf"]), "# routerd lab\n");
    let p = ns.spawn(&["sleep", "600"], &[]);
    let pid = p.pid();
    std::mem::forget(p); // only the namespace's Drop can kill it now
    drop(ns);
    assert!(!Path::new("/run/netns").join(&name).exists());
    assert!(!etc.exists());
    wait_until(
        "the orphaned sleep to be killed",
        Duration::from_secs(5),
        || {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            (stat.is_empty() || stat.contains(") Z ")).then_some(())
        },
    );
    // Reap the zombie: it is our child and its Process handle was forgotten.
    let mut status = 0;
    // SAFETY: status points to a live i32; pid is our own child.
    unsafe { libc::waitpid(pid as i32, &mut status, 0) };
}

#[test]
fn run_and_ip_report_failures() {
    let ns = Netns::new("fail");
    assert!(ns.try_ip("link show dev nosuch0").is_err());
    let err = std::panic::catch_unwind(|| ns.run(&["sh", "-c", "echo bad >&2; exit 2"]))
        .expect_err("run panics on failure");
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        msg.contains("bad") && msg.contains("exit status: 2"),
        "{msg}"
    );
}

#[test]
#[should_panic(expected = "is 16 bytes")]
fn veth_rejects_long_names() {
    let a = Netns::new("longname");
    veth(&a, "abcdefghijklmnop", &a, "x0");
}

#[test]
#[should_panic(expected = "waiting for the impossible")]
fn wait_until_panics_on_timeout() {
    wait_until("the impossible", Duration::from_millis(100), || None::<()>);
}

#[test]
fn wait_until_returns_the_value() {
    let mut n = 0;
    let v = wait_until("three calls", Duration::from_secs(5), || {
        n += 1;
        (n == 3).then_some(n * 10)
    });
    assert_eq!(v, 30);
}

#[test]
#[should_panic(expected = "deploy/install-deps.sh")]
fn require_command_names_the_install_script() {
    require_command("routerd-no-such-peer");
}

#[test]
fn require_command_finds_ip() {
    assert!(require_command("ip").ends_with("ip"));
}

#[test]
#[should_panic(expected = "cargo build --workspace --bins")]
fn bin_tells_how_to_build_missing_binaries() {
    routerd_lab::bin("routerd-no-such-binary");
}
