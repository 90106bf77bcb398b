//! Interop with keepalived 2.2.7 (Debian): routerd-vrrp unfenced against a real
//! keepalived on one bridge, for VRRPv3 IPv4, VRRPv3 IPv6 and VRRPv2 IPv4 with a
//! simple password. Checks: equal priority -> higher address, higher priority
//! wins in both directions, no flapping, takeover when keepalived dies.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{Lab, SETTLE, Vrrp, block_on, instance, transitions_during};
use routerd_contract::server::Command;
use routerd_lab::{Process, wait_until};
use serde_json::{Value, json};

struct Keepalived {
    dir: tempfile::TempDir,
    process: Process,
}

/// keepalived on router 1 (10.99.0.2), VRRP only, with its own pid files.
fn keepalived(lab: &Lab, family: &str, version: u8, priority: u8) -> Keepalived {
    let bin = routerd_lab::require_command("keepalived");
    let dir = tempfile::tempdir().expect("temp dir");
    let (vrid, vips, advert) = match (family, version) {
        ("ipv4", 3) => (51, "10.99.0.254/24 dev lan0", "0.1"),
        ("ipv6", _) => (
            52,
            "fe80::99:254/64 dev lan0\n    fd00:99::254/64 dev lan0",
            "0.1",
        ),
        _ => (51, "10.99.0.254/24 dev lan0", "1"),
    };
    let auth = if version == 2 {
        "authentication {\n    auth_type PASS\n    auth_pass secret\n  }"
    } else {
        ""
    };
    let conf = format!(
        "global_defs {{\n  router_id r1\n  vrrp_version {version}\n}}\n\
         vrrp_instance V {{\n  state MASTER\n  interface lan0\n  virtual_router_id {vrid}\n  \
         priority {priority}\n  advert_int {advert}\n  {auth}\n  virtual_ipaddress {{\n    {vips}\n  }}\n}}\n"
    );
    let conf_path = dir.path().join("keepalived.conf");
    std::fs::write(&conf_path, conf).expect("write keepalived.conf");
    let pid = dir.path().join("keepalived.pid");
    let vrrp_pid = dir.path().join("vrrp.pid");
    let process = lab.routers[1].spawn(
        &[
            &bin.to_string_lossy(),
            "-n",
            "-l",
            "-D",
            "-P",
            "-f",
            &conf_path.to_string_lossy(),
            "-p",
            &pid.to_string_lossy(),
            "-r",
            &vrrp_pid.to_string_lossy(),
        ],
        &[],
    );
    Keepalived { dir, process }
}

fn vip(family: &str) -> &'static str {
    if family == "ipv4" {
        "10.99.0.254"
    } else {
        "fd00:99::254"
    }
}

fn peer(lab: &Lab, family: &str) -> String {
    if family == "ipv4" {
        "10.99.0.2".into()
    } else {
        let out = lab.routers[1].ip("-6 -o addr show dev lan0 scope link");
        out.split_whitespace()
            .filter_map(|w| w.strip_suffix("/64"))
            .find(|a| *a != "fe80::99:254")
            .expect("keepalived's link-local")
            .to_string()
    }
}

fn isolate(lab: &Lab, on: bool) {
    let mode = if on { "on" } else { "off" };
    for port in ["p0", "p1"] {
        lab.switch
            .run(&["bridge", "link", "set", "dev", port, "isolated", mode]);
    }
}

fn reload(v: &Vrrp, config: &Value) {
    v.write_config(config);
    block_on(v.client().command(Command::Reload)).expect("reload");
}

fn interop(tag: &str, family: &str, version: u8) {
    let lab = Lab::new(tag, 2);
    let name = "gw";
    let cfg = |priority: u8| {
        let mut i = instance(
            name,
            family,
            version,
            if family == "ipv4" { 51 } else { 52 },
            priority,
            false,
        );
        if version == 2 {
            i["authentication"] = json!("secret");
        }
        json!({"name": "r0", "instances": [i]})
    };
    let timeout = SETTLE;
    let mut ours = Vrrp::new(&cfg(150));
    ours.start(&lab.routers[0]);
    ours.wait_state(name, "Master", timeout);

    // Equal priority: keepalived (10.99.0.2 / its link-local) — who wins depends on
    // the address; for IPv4 keepalived's is higher.
    // A Backup defers to any Master of equal priority (keepalived starts as Backup
    // even with `state MASTER`), so the tie break only shows when two Masters meet:
    // keepalived becomes Master on its own first, then the link joins them.
    // Isolated bridge ports: no traffic between them, but carrier stays up (a
    // link-down would put keepalived in FAULT).
    isolate(&lab, true);
    let ka = keepalived(&lab, family, version, 150);
    wait_until("keepalived to be Master alone", timeout, || {
        lab.has_addr(1, vip(family)).then_some(())
    });
    isolate(&lab, false);
    let keepalived_addr = peer(&lab, family);
    let ours_addr = ours.instance(name)["sourceAddress"]
        .as_str()
        .expect("test value")
        .to_string();
    let ka_higher = keepalived_addr
        .parse::<std::net::IpAddr>()
        .expect("test value")
        > ours_addr.parse::<std::net::IpAddr>().expect("test value");
    let (winner_state, ka_has_vip) = if ka_higher {
        ("Backup", true)
    } else {
        ("Master", false)
    };
    let start = std::time::Instant::now();
    while !(ours.state(name) == winner_state
        && lab.has_addr(1, vip(family)) == ka_has_vip
        && lab.has_addr(0, vip(family)) != ka_has_vip)
    {
        if start.elapsed() > timeout {
            panic!(
                "tie did not settle: ours {}\nkeepalived stdout {}\nstderr {}\nr1 {}",
                ours.instance(name),
                ka.process.stdout(),
                ka.process.stderr(),
                lab.routers[1].ip("addr show dev lan0")
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        ka.process.is_running(),
        "keepalived died: {}",
        ka.process.stderr()
    );
    if ka_higher {
        assert_eq!(ours.instance(name)["masterAddress"], json!(keepalived_addr));
    }
    let window = if version == 2 { 5 } else { 3 };
    assert_eq!(
        transitions_during(&ours, name, Duration::from_secs(window)),
        0,
        "flapping"
    );

    // routerd-vrrp higher: it preempts keepalived.
    reload(&ours, &cfg(200));
    ours.wait_state(name, "Master", timeout);
    wait_until("keepalived to drop the VIP", timeout, || {
        (!lab.has_addr(1, vip(family))).then_some(())
    });
    assert!(lab.has_addr(0, vip(family)));
    assert_eq!(
        transitions_during(&ours, name, Duration::from_secs(window)),
        0,
        "flapping"
    );
    assert_eq!(ours.instance(name)["counters"]["dropped"]["checksum"], 0);

    // keepalived higher: it preempts routerd-vrrp.
    reload(&ours, &cfg(100));
    ours.wait_state(name, "Backup", timeout);
    wait_until("keepalived to take the VIP", timeout, || {
        (lab.has_addr(1, vip(family)) && !lab.has_addr(0, vip(family))).then_some(())
    });
    assert_eq!(
        transitions_during(&ours, name, Duration::from_secs(window)),
        0,
        "flapping"
    );

    // keepalived dies (kill -9 leaves its VIP, so its link goes down too).
    ka.process.kill9();
    lab.unplug(1);
    ours.wait_state(name, "Master", timeout);
    assert!(lab.has_addr(0, vip(family)));
    let inst = ours.instance(name);
    assert!(
        inst["counters"]["advertsReceived"]
            .as_u64()
            .expect("test value")
            > 0,
        "{inst}"
    );
    let _keep: PathBuf = ka.dir.path().to_path_buf();
}

#[test]
fn keepalived_vrrpv3_ipv4() {
    interop("ka-v3v4", "ipv4", 3);
}

#[test]
fn keepalived_vrrpv3_ipv6() {
    interop("ka-v3v6", "ipv6", 3);
}

#[test]
fn keepalived_vrrpv2_ipv4_simple_password() {
    interop("ka-v2v4", "ipv4", 2);
}
