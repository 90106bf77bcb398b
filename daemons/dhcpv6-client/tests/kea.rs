//! Interop with kea-dhcp6 2.2 (Debian) over a veth pair between two test
//! namespaces: a /56 is delegated, renewed at T1, kept across kill -9 of
//! the client (the next message on the wire is a Renew), lost at the valid
//! lifetime while kea is down, and delegated again when kea returns.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use routerd_lab::{Netns, Process, bin, require_command, veth, wait_until};
use serde_json::Value;

const LONG: Duration = Duration::from_secs(60);

struct Lab {
    srv: Netns,
    cli: Netns,
    dir: tempfile::TempDir,
}

impl Lab {
    fn new(tag: &str) -> Lab {
        require_command("kea-dhcp6");
        let srv = Netns::new(&format!("{tag}-srv"));
        let cli = Netns::new(&format!("{tag}-cli"));
        veth(&srv, "srv0", &cli, "wan0");
        srv.ip("addr add fd00:99:2::1/64 dev srv0");
        for (ns, ifname) in [(&srv, "srv0"), (&cli, "wan0")] {
            wait_until(
                &format!("{ifname} has a usable link-local address"),
                Duration::from_secs(10),
                || {
                    let out = ns.ip(&format!("-6 addr show dev {ifname} scope link"));
                    (out.contains("fe80") && !out.contains("tentative")).then_some(())
                },
            );
        }
        Lab {
            srv,
            cli,
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// kea-dhcp6 delegating /56s out of fd00:99:100::/48 with these timers.
    fn kea(&self, t1: u32, t2: u32, preferred: u32, valid: u32) -> Process {
        let conf = format!(
            r#"{{"Dhcp6": {{
  "interfaces-config": {{ "interfaces": [ "srv0" ] }},
  "lease-database": {{ "type": "memfile", "persist": false, "lfc-interval": 0 }},
  "server-id": {{ "type": "EN", "enterprise-id": 2495, "identifier": "0102030405060708", "persist": false }},
  "renew-timer": {t1}, "rebind-timer": {t2},
  "preferred-lifetime": {preferred}, "valid-lifetime": {valid},
  "option-data": [
    {{ "name": "dns-servers", "data": "fd00:99:2::53, fd00:99:2::54" }},
    {{ "name": "domain-search", "data": "lab.example" }},
    {{ "name": "aftr-name", "data": "aftr.lab.example" }},
    {{ "name": "information-refresh-time", "data": "600" }}
  ],
  "subnet6": [ {{ "id": 1, "subnet": "fd00:99:2::/64", "interface": "srv0",
    "pd-pools": [ {{ "prefix": "fd00:99:100::", "prefix-len": 48, "delegated-len": 56 }} ] }} ],
  "loggers": [ {{ "name": "kea-dhcp6", "output_options": [ {{ "output": "stdout" }} ], "severity": "INFO" }} ]
}}}}"#
        );
        let path = self.path("kea.json");
        std::fs::write(&path, conf).expect("kea config");
        let run = self.dir.path().to_str().expect("utf-8 temp dir");
        for stale in ["kea-dhcp6.kea-dhcp6.pid", "kea-dhcp6.pid"] {
            let _ = std::fs::remove_file(self.dir.path().join(stale));
        }
        self.srv.spawn(
            &["kea-dhcp6", "-c", path.to_str().expect("utf-8")],
            &[("KEA_PIDFILE_DIR", run), ("KEA_LOCKFILE_DIR", run)],
        )
    }

    fn client(&self) -> Process {
        self.client_with(r#"{"name":"wan-pd","interface":"wan0","prefixHint":56}"#)
    }

    fn client_with(&self, config_json: &str) -> Process {
        let config = self.path("client.json");
        std::fs::write(&config, config_json).expect("client config");
        let exe = bin("routerd-dhcpv6-client");
        let socket = self.path("client.sock");
        let _ = std::fs::remove_file(&socket);
        self.cli.spawn(
            &[
                exe.to_str().expect("utf-8"),
                "--config",
                config.to_str().expect("utf-8"),
                "--socket",
                socket.to_str().expect("utf-8"),
                "--state-dir",
                self.path("state").to_str().expect("utf-8"),
            ],
            &[],
        )
    }

    fn status(&self) -> Option<Value> {
        get_json(&self.path("client.sock"), "/v1/status")
    }

    fn phase(&self) -> Option<String> {
        self.status()
            .and_then(|s| s["phase"].as_str().map(str::to_string))
    }

    fn prefixes(&self) -> Vec<String> {
        self.status()
            .map(|s| {
                s["status"]["lease"]["prefixes"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|p| p["prefix"].as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default()
            })
            .unwrap_or_default()
    }

    /// Phase changes the client logged, in order.
    fn phases(&self) -> Vec<String> {
        let text =
            std::fs::read_to_string(self.path("state").join("events.jsonl")).unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|e| e["type"] == "dhcpv6.phase.changed")
            .filter_map(|e| e["reason"].as_str().map(str::to_string))
            .collect()
    }

    fn wait_phase(&self, phase: &str, timeout: Duration) {
        wait_until(&format!("client {phase}"), timeout, || {
            (self.phase().as_deref() == Some(phase)).then_some(())
        });
    }
}

/// GET over the contract socket (HTTP/1.0, so the server closes).
fn get_json(socket: &Path, path: &str) -> Option<Value> {
    let mut s = UnixStream::connect(socket).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let body = text.split_once("\r\n\r\n")?.1;
    serde_json::from_str(body).ok()
}

#[test]
fn a_delegated_prefix_is_renewed_and_survives_kill_9_with_a_renew() {
    let lab = Lab::new("pd");
    let _kea = lab.kea(3, 5, 8, 12);
    let client = lab.client();
    lab.wait_phase("Bound", LONG);
    let prefixes = lab.prefixes();
    assert_eq!(prefixes.len(), 1, "{prefixes:?}");
    assert!(
        prefixes[0].starts_with("fd00:99:100:") && prefixes[0].ends_with("/56"),
        "{prefixes:?}"
    );
    // T1 is 3 s: a Renew, answered, and Bound again with the same prefix.
    wait_until("renewed at T1", Duration::from_secs(30), || {
        let p = lab.phases();
        p.windows(2)
            .any(|w| w[0] == "Renewing" && w[1] == "Bound")
            .then_some(())
    });
    assert_eq!(lab.prefixes(), prefixes);

    // kill -9, then watch the wire while it restarts.
    client.kill9();
    client.wait_exit(Duration::from_secs(5));
    let capture = lab.path("wire.txt");
    let tcpdump = require_command("tcpdump");
    let dump = lab.cli.spawn(
        &[
            tcpdump.to_str().expect("utf-8"),
            "-nli",
            "wan0",
            "-c",
            "1",
            "-w",
            capture.to_str().expect("utf-8"),
            "udp dst port 547",
        ],
        &[],
    );
    wait_until("tcpdump listening", Duration::from_secs(10), || {
        dump.stderr().contains("listening on").then_some(())
    });
    let _client = lab.client();
    lab.wait_phase("Bound", Duration::from_secs(30));
    dump.wait_exit(Duration::from_secs(10));
    let read = lab.cli.run(&[
        tcpdump.to_str().expect("utf-8"),
        "-nr",
        capture.to_str().expect("utf-8"),
    ]);
    assert!(
        read.contains("dhcp6 renew"),
        "the first message after the restart was not a Renew: {read}"
    );
    assert!(!read.contains("solicit"), "{read}");
    assert_eq!(
        lab.prefixes(),
        prefixes,
        "the prefix changed across the restart"
    );
}

#[test]
fn without_the_server_it_rebinds_expires_and_binds_again_when_it_returns() {
    let lab = Lab::new("pdx");
    let kea = lab.kea(2, 4, 6, 8);
    let _client = lab.client();
    lab.wait_phase("Bound", LONG);
    let lease_file = lab.path("state").join("lease.json");
    assert!(lease_file.exists(), "the lease is stored");
    kea.kill9();
    kea.wait_exit(Duration::from_secs(5));
    // Renew at T1, Rebind at T2, Expired at the valid lifetime (8 s).
    lab.wait_phase("Soliciting", Duration::from_secs(30));
    let phases = lab.phases();
    let tail: Vec<&str> = phases
        .iter()
        .rev()
        .take(4)
        .rev()
        .map(String::as_str)
        .collect();
    assert_eq!(
        tail,
        ["Renewing", "Rebinding", "Expired", "Soliciting"],
        "{phases:?}"
    );
    assert!(lab.prefixes().is_empty());
    assert!(!lease_file.exists(), "an expired lease is not kept");
    let _kea = lab.kea(2, 4, 6, 8);
    // Solicit backs off (1, 2, 4, 8... s): allow for a few rounds.
    lab.wait_phase("Bound", LONG);
    assert_eq!(lab.prefixes().len(), 1);
}

#[test]
fn information_rides_beside_the_delegation_and_survives_a_restart() {
    let lab = Lab::new("info");
    let _kea = lab.kea(1000, 2000, 3000, 4000);
    let config = r#"{"name":"wan","interface":"wan0","prefixHint":56,"information":true}"#;
    let client = lab.client_with(config);
    lab.wait_phase("Bound", LONG);
    let info = wait_until("information answered", LONG, || {
        let s = lab.status()?;
        let info = s["status"]["information"].clone();
        (info["phase"] == "Informed").then_some(info)
    });
    assert_eq!(
        info["dnsServers"],
        serde_json::json!(["fd00:99:2::53", "fd00:99:2::54"])
    );
    assert_eq!(info["domainSearch"], serde_json::json!(["lab.example"]));
    assert_eq!(info["aftrName"], "aftr.lab.example");
    assert_eq!(info["restored"], false);
    assert!(
        info["refreshInSecs"].as_u64().is_some_and(|s| s <= 600),
        "{info}"
    );
    assert_eq!(lab.prefixes().len(), 1, "the delegation is unaffected");

    // After kill -9 the answers are there at once (restored from the
    // state directory) and then refreshed from the server.
    client.kill9();
    client.wait_exit(Duration::from_secs(5));
    let _client = lab.client_with(config);
    let first = wait_until("restarted daemon answers", LONG, || {
        lab.status().map(|s| s["status"]["information"].clone())
    });
    assert_eq!(first["phase"], "Informed", "{first}");
    assert_eq!(first["aftrName"], "aftr.lab.example");
    wait_until("fresh answers after the restart", LONG, || {
        let s = lab.status()?;
        (s["status"]["information"]["restored"] == false).then_some(())
    });
}

#[test]
fn information_alone_needs_no_delegation() {
    let lab = Lab::new("infonly");
    let _kea = lab.kea(1000, 2000, 3000, 4000);
    let _client = lab.client_with(
        r#"{"name":"wan-info","interface":"wan0","delegate":false,"information":true}"#,
    );
    lab.wait_phase("Informed", LONG);
    let s = lab.status().expect("status");
    assert_eq!(s["status"]["information"]["aftrName"], "aftr.lab.example");
    assert_eq!(s["status"]["prefixes"], serde_json::json!([]));
    assert!(s["status"]["lease"].is_null());
}
