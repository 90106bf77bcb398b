//! Interop with dnsmasq 2.90 (Debian) over a veth pair between two test
//! namespaces: a lease with its options, renewed at T1, confirmed with
//! INIT-REBOOT after kill -9, refused with a NAK after the server's range
//! changed, expired at the lease time while the server is gone, and
//! released on stop.
//!
//! The daemon installs nothing; where routerd would install the leased
//! address (so the RENEWING REQUEST can go unicast from it), the test does.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use routerd_lab::{Netns, Process, bin, require_command, veth, wait_until};
use serde_json::{Value, json};

const LONG: Duration = Duration::from_secs(60);
const SERVER: &str = "192.0.2.1";

struct Lab {
    srv: Netns,
    cli: Netns,
    dir: tempfile::TempDir,
}

/// One dnsmasq run: its leases file and log.
struct Dnsmasq {
    process: Process,
    leases: PathBuf,
}

impl Dnsmasq {
    fn log(&self) -> String {
        self.process.stderr()
    }

    /// How often `what` (e.g. `DHCPREQUEST(srv0) 192.0.2.110`) was logged.
    fn count(&self, what: &str) -> usize {
        self.log().lines().filter(|l| l.contains(what)).count()
    }

    /// The lease's expiry (Unix seconds) in dnsmasq's leases file.
    fn expiry(&self, address: &str) -> Option<u64> {
        let text = std::fs::read_to_string(&self.leases).unwrap_or_default();
        text.lines().find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.get(2) == Some(&address)).then(|| f.first()?.parse().ok())?
        })
    }
}

impl Lab {
    fn new(tag: &str) -> Lab {
        require_command("dnsmasq");
        let srv = Netns::new(&format!("{tag}-srv"));
        let cli = Netns::new(&format!("{tag}-cli"));
        veth(&srv, "srv0", &cli, "wan0");
        srv.ip(&format!("addr add {SERVER}/24 dev srv0"));
        for (ns, ifname) in [(&srv, "srv0"), (&cli, "wan0")] {
            ns.wait_link_running(ifname, Duration::from_secs(10));
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

    /// dnsmasq on srv0 leasing `first`..`last` for 2 minutes (its minimum)
    /// with T1 10 s and T2 20 s, a router, DNS, domain, MTU and two
    /// classless routes; its leases go to `leases_name`.
    fn dnsmasq(&self, first: &str, last: &str, leases_name: &str) -> Dnsmasq {
        let dnsmasq = require_command("dnsmasq");
        let leases = self.path(leases_name);
        let pid = self.path("dnsmasq.pid");
        let _ = std::fs::remove_file(&pid);
        let args = [
            dnsmasq.to_str().expect("utf-8").to_string(),
            "--keep-in-foreground".into(),
            "--log-facility=-".into(),
            "--conf-file=/dev/null".into(),
            "--port=0".into(),
            format!("--dhcp-leasefile={}", leases.display()),
            format!("--pid-file={}", pid.display()),
            "--interface=srv0".into(),
            "--bind-interfaces".into(),
            "--dhcp-authoritative".into(),
            "--log-dhcp".into(),
            "--user=root".into(),
            "--group=root".into(),
            // No ICMP probe of a new address: it adds 3 s to every offer.
            "--no-ping".into(),
            format!("--dhcp-range={first},{last},255.255.255.0,2m"),
            "--dhcp-option=option:T1,10".into(),
            "--dhcp-option=option:T2,20".into(),
            format!("--dhcp-option=option:router,{SERVER}"),
            "--dhcp-option=option:dns-server,192.0.2.53".into(),
            "--dhcp-option=option:domain-name,lab.example".into(),
            "--dhcp-option=option:mtu,1480".into(),
            format!("--dhcp-option=121,10.0.0.0/8,{SERVER},198.51.100.0/24,0.0.0.0"),
        ];
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let process = self.srv.spawn(&argv, &[]);
        wait_until("dnsmasq serving DHCP", Duration::from_secs(20), || {
            process
                .stderr()
                .contains("DHCP, sockets bound exclusively to interface srv0")
                .then_some(())
        });
        Dnsmasq { process, leases }
    }

    fn client(&self, release_on_stop: bool) -> Process {
        let config = self.path("client.json");
        let spec = json!({
            "name": "wan-v4",
            "interface": "wan0",
            "hostname": "edge1",
            "releaseOnStop": release_on_stop,
        });
        std::fs::write(&config, spec.to_string()).expect("client config");
        let exe = bin("routerd-dhcpv4-client");
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
        request(&self.path("client.sock"), "GET", "/v1/status")
    }

    /// The status detail, once the client is in `phase`.
    fn wait_phase(&self, phase: &str, timeout: Duration) -> Value {
        wait_until(&format!("client {phase}"), timeout, || {
            self.status()
                .filter(|s| s["phase"] == phase)
                .map(|s| s["status"].clone())
        })
    }

    /// The client's events of `type`, in order.
    fn events(&self, kind: &str) -> Vec<Value> {
        let text =
            std::fs::read_to_string(self.path("state").join("events.jsonl")).unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|e| e["type"] == kind)
            .collect()
    }

    /// The phases the client went through, in order.
    fn phases(&self) -> Vec<String> {
        self.events("dhcpv4.phase.changed")
            .iter()
            .filter_map(|e| e["reason"].as_str().map(str::to_string))
            .collect()
    }

    fn lease_file(&self) -> PathBuf {
        self.path("state").join("lease.json")
    }

    /// What routerd does with a Bound status: the address on the link.
    fn install(&self, cidr: &str) {
        self.cli.ip(&format!("addr replace {cidr} dev wan0"));
    }
}

/// One HTTP/1.0 request over the contract socket; the JSON body.
fn request(socket: &Path, method: &str, path: &str) -> Option<Value> {
    let mut s = UnixStream::connect(socket).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let body = text.split_once("\r\n\r\n")?.1;
    serde_json::from_str(body).ok()
}

fn in_range(address: &str, first: u8, last: u8) -> bool {
    let Some(host) = address
        .strip_prefix("192.0.2.")
        .and_then(|h| h.strip_suffix("/24"))
        .and_then(|h| h.parse::<u8>().ok())
    else {
        return false;
    };
    (first..=last).contains(&host)
}

fn address_of(detail: &Value) -> String {
    detail["address"].as_str().unwrap_or_default().to_string()
}

fn ip_of(cidr: &str) -> &str {
    cidr.split('/').next().unwrap_or_default()
}

#[test]
fn a_lease_is_obtained_renewed_at_t1_and_confirmed_with_init_reboot_after_kill_9() {
    let lab = Lab::new("v4");
    let dnsmasq = lab.dnsmasq("192.0.2.100", "192.0.2.149", "leases");
    let client = lab.client(false);
    let d = lab.wait_phase("Bound", LONG);

    // What a user checks first: the address and everything that came with it.
    let cidr = address_of(&d);
    assert!(in_range(&cidr, 100, 149), "{d}");
    assert_eq!(d["interface"], "wan0");
    assert_eq!(d["gateway"], SERVER);
    assert_eq!(d["routers"], json!([SERVER]));
    assert_eq!(d["dnsServers"], json!(["192.0.2.53"]));
    assert_eq!(d["domain"], "lab.example");
    assert_eq!(d["mtu"], 1480);
    assert_eq!(
        d["routes"],
        json!([
            {"destination": "10.0.0.0/8", "gateway": SERVER},
            {"destination": "198.51.100.0/24", "gateway": "0.0.0.0"},
        ])
    );
    assert_eq!(d["serverId"], SERVER);
    assert_eq!(d["leaseSecs"], 120);
    assert_eq!(
        (d["t1Secs"].as_u64(), d["t2Secs"].as_u64()),
        (Some(10), Some(20))
    );
    assert!(d["expiresInSecs"].as_u64().is_some_and(|s| s <= 120), "{d}");
    let stored: Value =
        serde_json::from_str(&std::fs::read_to_string(lab.lease_file()).expect("lease file"))
            .expect("lease JSON");
    assert_eq!(stored["address"], ip_of(&cidr));
    let ip = ip_of(&cidr).to_string();
    let granted = dnsmasq.expiry(&ip).expect("dnsmasq holds the lease");
    assert!(dnsmasq.log().contains(&format!("DHCPACK(srv0) {ip}")));
    let bound = lab.events("dhcpv4.lease.bound");
    assert_eq!(bound.len(), 1);
    assert_eq!(bound[0]["attributes"]["address"], cidr.as_str());

    // routerd installs the address; at T1 (10 s) the client renews unicast.
    lab.install(&cidr);
    let requests = dnsmasq.count(&format!("DHCPREQUEST(srv0) {ip}"));
    wait_until("renewed at T1", Duration::from_secs(45), || {
        let p = lab.phases();
        p.windows(2)
            .any(|w| w[0] == "Renewing" && w[1] == "Bound")
            .then_some(())
    });
    assert!(dnsmasq.count(&format!("DHCPREQUEST(srv0) {ip}")) > requests);
    wait_until(
        "dnsmasq extended the lease",
        Duration::from_secs(10),
        || dnsmasq.expiry(&ip).filter(|e| *e > granted),
    );
    // Other traffic to the client never reaches the engine: the packet
    // socket's filter passes only UDP to port 68 (a ping that got through
    // would count as malformed).
    let ping = require_command("ping");
    lab.srv.run(&[
        ping.to_str().expect("utf-8"),
        "-c",
        "3",
        "-i",
        "0.2",
        "-W",
        "2",
        &ip,
    ]);
    let d = lab.wait_phase("Bound", LONG);
    assert_eq!(address_of(&d), cidr);
    let c = &d["counters"];
    assert_eq!(
        (&c["sendErrors"], &c["malformed"], &c["naks"]),
        (&json!(0), &json!(0), &json!(0)),
        "{d}"
    );

    // kill -9 with a valid lease; the restarted client's first message on
    // the wire is an INIT-REBOOT REQUEST for the same address.
    client.kill9();
    client.wait_exit(Duration::from_secs(5));
    let capture = lab.path("wire.pcap");
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
            "udp dst port 67",
        ],
        &[],
    );
    wait_until("tcpdump listening", Duration::from_secs(10), || {
        dump.stderr().contains("listening on").then_some(())
    });
    let _client = lab.client(false);
    let d = lab.wait_phase("Bound", Duration::from_secs(30));
    assert_eq!(
        address_of(&d),
        cidr,
        "the address changed across the restart"
    );
    dump.wait_exit(Duration::from_secs(10));
    let read = lab.cli.run(&[
        tcpdump.to_str().expect("utf-8"),
        "-nvr",
        capture.to_str().expect("utf-8"),
    ]);
    assert!(
        read.contains("DHCP-Message (53), length 1: Request"),
        "the first message after the restart was not a REQUEST: {read}"
    );
    assert!(
        read.contains(&format!("Requested-IP (50), length 4: {ip}")),
        "{read}"
    );
    assert!(
        !read.contains("Server-ID"),
        "INIT-REBOOT names no server: {read}"
    );
    let p = lab.phases();
    assert_eq!(
        p.iter()
            .rev()
            .take(2)
            .rev()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        ["Rebooting", "Bound"],
        "{p:?}"
    );
}

#[test]
fn a_nak_after_the_servers_range_changed_leads_to_a_new_address() {
    let lab = Lab::new("v4nak");
    let dnsmasq = lab.dnsmasq("192.0.2.100", "192.0.2.149", "leases");
    let client = lab.client(false);
    let first = address_of(&lab.wait_phase("Bound", LONG));
    assert!(in_range(&first, 100, 149), "{first}");

    // Stopped through the contract without releasing: the lease is kept.
    request(&lab.path("client.sock"), "POST", "/v1/commands/stop").expect("stop answered");
    assert!(
        client.wait_exit(Duration::from_secs(10)).is_some(),
        "client did not stop"
    );
    assert!(
        lab.lease_file().exists(),
        "stop without release keeps the lease"
    );
    assert_eq!(dnsmasq.count("DHCPRELEASE"), 0);

    // The server comes back authoritative for another range, remembering
    // nothing; the stored address is refused.
    dnsmasq.process.kill9();
    dnsmasq.process.wait_exit(Duration::from_secs(5));
    let dnsmasq = lab.dnsmasq("192.0.2.150", "192.0.2.199", "leases2");
    let _client = lab.client(false);
    let d = wait_until("bound to a new address", LONG, || {
        lab.status()
            .filter(|s| s["phase"] == "Bound")
            .map(|s| s["status"].clone())
            .filter(|d| address_of(d) != first)
    });
    let second = address_of(&d);
    assert!(in_range(&second, 150, 199), "{second}");
    assert!(
        dnsmasq
            .log()
            .contains(&format!("DHCPNAK(srv0) {}", ip_of(&first))),
        "{}",
        dnsmasq.log()
    );
    let naks = lab.events("dhcpv4.nak");
    assert_eq!(naks.len(), 1, "{naks:?}");
    let lost = lab.events("dhcpv4.lease.lost");
    assert!(
        lost.iter()
            .any(|e| e["attributes"]["address"] == ip_of(&first)),
        "{lost:?}"
    );
    let p = lab.phases();
    let tail: Vec<&str> = p.iter().rev().take(5).rev().map(String::as_str).collect();
    assert_eq!(
        tail,
        ["Rebooting", "Init", "Selecting", "Requesting", "Bound"],
        "{p:?}"
    );
    assert_eq!(d["counters"]["naks"], 1);
}

#[test]
fn without_the_server_the_lease_expires_at_its_lease_time() {
    let lab = Lab::new("v4exp");
    let dnsmasq = lab.dnsmasq("192.0.2.100", "192.0.2.149", "leases");
    let _client = lab.client(false);
    let d = lab.wait_phase("Bound", LONG);
    let cidr = address_of(&d);
    lab.install(&cidr);
    let left = d["expiresInSecs"].as_u64().expect("finite lease");
    let since_bound = Instant::now();
    dnsmasq.process.kill9();
    dnsmasq.process.wait_exit(Duration::from_secs(5));

    // T1 10 s, T2 20 s, lease 120 s (dnsmasq's minimum): bounded by the
    // lease time plus a generous margin, never a sleep.
    lab.wait_phase("Renewing", Duration::from_secs(30));
    lab.wait_phase("Rebinding", Duration::from_secs(30));
    wait_until("the lease expired", Duration::from_secs(left + 60), || {
        lab.events("dhcpv4.lease.lost").first().cloned()
    });
    let expired_after = since_bound.elapsed();
    assert!(
        expired_after + Duration::from_secs(3) >= Duration::from_secs(left),
        "lost after {expired_after:?}, the lease had {left} s left"
    );
    let p = lab.phases();
    let tail: Vec<&str> = p.iter().rev().take(5).rev().map(String::as_str).collect();
    assert_eq!(
        tail,
        ["Renewing", "Rebinding", "Expired", "Init", "Selecting"],
        "{p:?}"
    );
    let d = lab.wait_phase("Selecting", Duration::from_secs(10));
    assert!(d["address"].is_null() && d["gateway"].is_null(), "{d}");
    assert_eq!(d["routes"], json!([]));
    assert!(!lab.lease_file().exists(), "an expired lease is not kept");
    let lost = lab.events("dhcpv4.lease.lost");
    assert_eq!(lost[0]["attributes"]["address"], ip_of(&cidr));
}

#[test]
fn stop_with_release_on_stop_sends_a_release() {
    let lab = Lab::new("v4rel");
    let dnsmasq = lab.dnsmasq("192.0.2.100", "192.0.2.149", "leases");
    let client = lab.client(true);
    let cidr = address_of(&lab.wait_phase("Bound", LONG));
    let ip = ip_of(&cidr).to_string();
    lab.install(&cidr);
    assert!(dnsmasq.expiry(&ip).is_some());
    let answer =
        request(&lab.path("client.sock"), "POST", "/v1/commands/stop").expect("stop answered");
    assert_eq!(answer["detail"]["stopping"], true, "{answer}");
    assert!(
        client.wait_exit(Duration::from_secs(10)).is_some(),
        "client did not stop"
    );
    wait_until("dnsmasq saw the release", Duration::from_secs(10), || {
        dnsmasq
            .log()
            .contains(&format!("DHCPRELEASE(srv0) {ip}"))
            .then_some(())
    });
    wait_until("dnsmasq dropped the lease", Duration::from_secs(10), || {
        dnsmasq.expiry(&ip).is_none().then_some(())
    });
    assert!(!lab.lease_file().exists(), "a released lease is not kept");
    let lost = lab.events("dhcpv4.lease.lost");
    assert_eq!(lost.len(), 1, "{lost:?}");
    assert_eq!(lab.phases().last().map(String::as_str), Some("Stopped"));
}
