//! A branch router on its WAN leases, end to end: routerd in a router
//! namespace takes a /56 from Debian's kea-dhcp6 in an ISP namespace,
//! numbers its LAN from it, advertises it to a LAN host namespace that
//! autoconfigures and reaches the ISP through routerd, learns the ISP's
//! resolver and AFTR name by Information-request, resolves the AFTR only
//! the ISP's resolver (dnsmasq) knows through DNSForwarder + DNSUpstream
//! with `addressFrom`, and withdraws the prefix honestly when the
//! delegation is gone. DHCPv4 against dnsmasq: lease, routes, NAK.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{Lab, curl};
use routerd_lab::{Netns, Process, require_command, veth, wait_until};
use serde_json::Value;

/// Generous for a loaded 2-core machine; the tight figures are in deploy/bench-wan.sh.
const LONG: Duration = Duration::from_secs(60);

/// The ISP side: kea-dhcp6 delegating /56s out of fd00:99:100::/48 and
/// handing out its resolver and AFTR name, and dnsmasq as that resolver.
struct Isp {
    kea: Option<Process>,
    _dns: Process,
    dir: PathBuf,
}

/// Router (WAN r0 ↔ ISP p0), ISP and a LAN host (router lan0 ↔ host eth0).
struct WanLab {
    lab: Lab,
    host: Netns,
    isp: Isp,
    /// kea's T1, T2, preferred and valid lifetimes.
    timers: (u32, u32, u32, u32),
    /// The /48 kea delegates /56s from.
    pool: &'static str,
}

fn kea_config(
    dir: &std::path::Path,
    pool: &str,
    (t1, t2, preferred, valid): (u32, u32, u32, u32),
) -> PathBuf {
    let conf = format!(
        r#"{{"Dhcp6": {{
  "interfaces-config": {{ "interfaces": [ "p0" ] }},
  "lease-database": {{ "type": "memfile", "persist": false, "lfc-interval": 0 }},
  "server-id": {{ "type": "EN", "enterprise-id": 2495, "identifier": "0102030405060708", "persist": false }},
  "renew-timer": {t1}, "rebind-timer": {t2},
  "preferred-lifetime": {preferred}, "valid-lifetime": {valid},
  "option-data": [
    {{ "name": "dns-servers", "data": "fd00:99:2::53" }},
    {{ "name": "aftr-name", "data": "aftr.isp.example" }}
  ],
  "subnet6": [ {{ "id": 1, "subnet": "fd00:99:2::/64", "interface": "p0", "rapid-commit": true,
    "pd-pools": [ {{ "prefix": "{pool}", "prefix-len": 48, "delegated-len": 56 }} ] }} ],
  "loggers": [ {{ "name": "kea-dhcp6", "output_options": [ {{ "output": "stdout" }} ], "severity": "INFO" }} ]
}}}}"#
    );
    let path = dir.join("kea.json");
    std::fs::write(&path, conf).expect("kea config");
    path
}

impl WanLab {
    fn new(tag: &str, timers: (u32, u32, u32, u32)) -> WanLab {
        require_command("kea-dhcp6");
        require_command("dnsmasq");
        let lab = Lab::new(tag);
        let host = Netns::new(&format!("{tag}h"));
        veth(&lab.router, "lan0", &host, "eth0");
        // The ISP: its link-local is fixed so the router's default route can name it.
        lab.peer.ip("addr add fe80::1/64 dev p0");
        lab.peer.ip("addr add fd00:99:2::1/64 dev p0");
        lab.peer.ip("addr add fd00:99:2::53/64 dev p0");
        lab.peer.set_sysctl("net.ipv6.conf.all.forwarding", "1");
        // The host autoconfigures from routerd's RAs.
        host.set_sysctl("net.ipv6.conf.eth0.accept_ra", "2");
        host.set_sysctl("net.ipv6.conf.eth0.autoconf", "1");
        let dir = lab.dir.path().join("isp");
        std::fs::create_dir_all(&dir).expect("isp dir");
        // The ISP's resolver knows the AFTR; nobody else does.
        let dns = lab.peer.spawn(
            &[
                "dnsmasq",
                "--keep-in-foreground",
                "--conf-file=/dev/null",
                "--no-resolv",
                "--no-hosts",
                "--bind-interfaces",
                "--listen-address=fd00:99:2::53",
                "--host-record=aftr.isp.example,fd00:99:2::aa",
                "--local-ttl=300",
                "--log-queries",
                "--log-facility=-",
                &format!("--pid-file={}", dir.join("dnsmasq.pid").display()),
            ],
            &[],
        );
        WanLab {
            lab,
            host,
            isp: Isp {
                kea: None,
                _dns: dns,
                dir,
            },
            timers,
            pool: "fd00:99:100::",
        }
    }

    fn start_kea(&mut self) {
        let dir = &self.isp.dir;
        let conf = kea_config(dir, self.pool, self.timers);
        for stale in ["kea-dhcp6.kea-dhcp6.pid", "kea-dhcp6.pid"] {
            let _ = std::fs::remove_file(dir.join(stale));
        }
        let run = dir.to_str().expect("utf-8");
        self.isp.kea = Some(self.lab.peer.spawn(
            &["kea-dhcp6", "-c", conf.to_str().expect("utf-8")],
            &[("KEA_PIDFILE_DIR", run), ("KEA_LOCKFILE_DIR", run)],
        ));
    }

    fn stop_kea(&mut self) {
        if let Some(kea) = self.isp.kea.take() {
            kea.kill9();
            kea.wait_exit(Duration::from_secs(5));
        }
    }

    /// routerd serving `config`, after the ISP can route the delegated
    /// prefixes back to the router (kea installs no routes).
    fn serve(&mut self, config: &str) {
        let path = self.lab.write_config("router.yaml", config);
        self.lab.serve(Some(&path), &[], &[]);
        let ll = wait_until("the router's WAN link-local", LONG, || {
            let v = self.lab.router.ip_json("-6 addr show dev r0 scope link");
            v[0]["addr_info"][0]["local"].as_str().map(str::to_string)
        });
        self.lab
            .peer
            .ip(&format!("-6 route add fd00:99::/32 via {ll} dev p0"));
        // kea opens its sockets only on links that are up when it starts:
        // after routerd has brought the WAN link up.
        self.start_kea();
    }

    fn status(&self, id: &str) -> Value {
        let (code, body) = curl(
            &self.lab.socket(),
            "GET",
            &format!("/v1/resources/{id}"),
            None,
        );
        if code != 200 {
            return Value::Null;
        }
        serde_json::from_str::<Value>(&body).map_or(Value::Null, |v| v["status"].clone())
    }

    fn phase(&self, id: &str) -> String {
        self.status(id)["phase"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    fn wait_phase(&self, id: &str, phase: &str, timeout: Duration) -> Value {
        wait_until(&format!("{id} {phase}"), timeout, || {
            let s = self.status(id);
            (s["phase"] == phase).then_some(s)
        })
    }

    /// The host's global addresses on eth0 with their flags.
    fn host_addresses(&self) -> Vec<(String, bool)> {
        let v = self.host.ip_json("-6 addr show dev eth0 scope global");
        v.as_array()
            .into_iter()
            .flatten()
            .flat_map(|l| l["addr_info"].as_array().cloned().unwrap_or_default())
            .map(|a| {
                (
                    a["local"].as_str().unwrap_or_default().to_string(),
                    a["deprecated"].as_bool().unwrap_or(false),
                )
            })
            .collect()
    }
}

/// tcpdump on `ifname` in `ns`, one line a packet (`-v` when `verbose`),
/// already listening when this returns.
fn watch_wire(ns: &Netns, ifname: &str, verbose: bool, filter: &str) -> Process {
    let tcpdump = require_command("tcpdump");
    let flags = if verbose { "-nvli" } else { "-nli" };
    let wire = ns.spawn(
        &[
            tcpdump.to_str().expect("utf-8"),
            flags,
            ifname,
            "-l",
            filter,
        ],
        &[],
    );
    wait_until("tcpdump listening", LONG, || {
        wire.stderr().contains("listening on").then_some(())
    });
    wire
}

fn config(extra: &str) -> String {
    format!(
        r#"apiVersion: routerd.net/v1alpha1
kind: Router
metadata: {{name: branch}}
spec:
  resources:
    - {{apiVersion: net.routerd.net/v1alpha1, kind: Interface, metadata: {{name: wan}}, spec: {{ifname: r0, managed: true}}}}
    - {{apiVersion: net.routerd.net/v1alpha1, kind: Interface, metadata: {{name: lan}}, spec: {{ifname: lan0, managed: true}}}}
    - apiVersion: system.routerd.net/v1alpha1
      kind: Sysctl
      metadata: {{name: v6-forwarding}}
      spec: {{key: net.ipv6.conf.all.forwarding, value: "1"}}
    - apiVersion: net.routerd.net/v1alpha1
      kind: IPv6Route
      metadata: {{name: isp-default}}
      spec: {{destination: "::/0", gateway: "fe80::1", device: r0}}
    - apiVersion: net.routerd.net/v1alpha1
      kind: DHCPv6PrefixDelegation
      metadata: {{name: wan-pd}}
      spec: {{interface: wan, prefixLength: 56, solicitMaxDelay: 100ms}}
    - apiVersion: net.routerd.net/v1alpha1
      kind: IPv6DelegatedAddress
      metadata: {{name: lan-v6}}
      spec: {{prefixDelegation: wan-pd, interface: lan, subnetID: "1", addressSuffix: "::1", announce: true}}
    - apiVersion: net.routerd.net/v1alpha1
      kind: IPv6RouterAdvertisement
      metadata: {{name: lan-ra}}
      spec:
        interface: lan
        prefixFrom: {{resource: IPv6DelegatedAddress/lan-v6, field: address}}
        rdnssFrom: [{{resource: IPv6DelegatedAddress/lan-v6, field: address}}]
        dnssl: [home.example]
        oFlag: true
        maxInterval: 4s
        minInterval: 1s
        routerLifetime: 30s
{extra}"#
    )
}

/// The /64 the router numbered its LAN with, from lan0's addresses.
fn lan_prefix(wan: &WanLab) -> Option<String> {
    wan.lab
        .addresses("lan0")
        .into_iter()
        .find(|(a, len)| a.starts_with("fd00:99:100:") && *len == 64)
        .map(|(a, _)| a)
}

#[test]
fn a_delegated_prefix_numbers_the_lan_and_a_host_reaches_the_isp_through_routerd() {
    let mut wan = WanLab::new("wanpd", (1000, 2000, 3000, 4000));
    wan.serve(&config(
        r#"    - {apiVersion: net.routerd.net/v1alpha1, kind: DHCPv6Information, metadata: {name: wan-info}, spec: {interface: wan}}
    - apiVersion: net.routerd.net/v1alpha1
      kind: DHCPv6Server
      metadata: {name: lan-dhcpv6}
      spec: {interface: lan, delegatedAddress: lan-v6, domainSearch: [home.example]}
    - apiVersion: net.routerd.net/v1alpha1
      kind: DNSUpstream
      metadata: {name: isp}
      spec: {protocol: udp, addressFrom: [{resource: DHCPv6Information/wan-info, field: dnsServers}]}
    - apiVersion: net.routerd.net/v1alpha1
      kind: DNSForwarder
      metadata: {name: isp}
      spec: {match: [isp.example], upstreams: [DNSUpstream/isp]}
    - apiVersion: net.routerd.net/v1alpha1
      kind: DSLiteTunnel
      metadata: {name: transix}
      spec:
        interface: wan
        tunnelName: ds-transix
        aftrFrom: {resource: DHCPv6Information/wan-info, field: aftrName}
        localAddressSource: delegatedAddress
        localDelegatedAddress: lan-v6
        localAddressSuffix: "::100"
"#,
    ));
    let pd = wan.wait_phase("DHCPv6PrefixDelegation/wan-pd", "Bound", LONG);
    let delegated = pd["prefix"]
        .as_str()
        .expect("a delegated prefix")
        .to_string();
    assert!(
        delegated.starts_with("fd00:99:100:") && delegated.ends_with("/56"),
        "{delegated}"
    );

    // Subnet 1 of the /56 with ::1 on the LAN link.
    let da = wan.wait_phase("IPv6DelegatedAddress/lan-v6", "Applied", LONG);
    let address = da["address"].as_str().expect("derived address").to_string();
    let subnet = da["prefix"].as_str().expect("its /64").to_string();
    let network: std::net::Ipv6Addr = delegated
        .split('/')
        .next()
        .and_then(|a| a.parse().ok())
        .expect("prefix address");
    let first = u128::from(network) | (1u128 << 64);
    assert_eq!(
        subnet,
        format!("{}/64", std::net::Ipv6Addr::from(first)),
        "subnet 1 of {delegated}"
    );
    assert_eq!(address, std::net::Ipv6Addr::from(first | 1).to_string());
    let base = subnet.trim_end_matches("::/64").to_string();
    wait_until("the derived address on lan0", LONG, || {
        lan_prefix(&wan).filter(|a| *a == address).map(|_| ())
    });

    // The host autoconfigures from the RA and reaches the ISP through routerd.
    let host_addr = wait_until(
        "the host's SLAAC address in the delegated /64",
        LONG,
        || {
            wan.host_addresses()
                .into_iter()
                .find(|(a, deprecated)| a.starts_with(&format!("{base}:")) && !deprecated)
                .map(|(a, _)| a)
        },
    );
    wait_until("the host's default route via routerd", LONG, || {
        wan.host
            .ip("-6 route show default")
            .contains("via fe80::")
            .then_some(())
    });
    wait_until("the host pings the ISP through routerd", LONG, || {
        wan.host
            .exec(&["ping", "-6", "-c", "1", "-W", "1", "fd00:99:2::1"])
            .status
            .success()
            .then_some(())
    });
    assert!(host_addr.starts_with(&base));
    let ra = wan.wait_phase("IPv6RouterAdvertisement/lan-ra", "Advertising", LONG);
    assert_eq!(ra["prefixes"][0]["prefix"], subnet.as_str(), "{ra}");
    assert_eq!(ra["rdnss"][0], address.as_str(), "{ra}");

    // RFC 7084 WPD-5: the rest of the delegation is unreachable, not
    // routed back to the ISP.
    let unreachable = wan.lab.router.ip("-6 route show type unreachable");
    assert!(unreachable.contains(&delegated), "{unreachable}");
    let unused = std::net::Ipv6Addr::from(u128::from(network) | (7u128 << 64) | 1).to_string();
    let to_unused = wan
        .host
        .exec(&["ping", "-6", "-c", "1", "-W", "2", &unused]);
    let said = String::from_utf8_lossy(&to_unused.stdout).to_string();
    assert!(said.contains("nreachable"), "{said}");

    // What an operator sees.
    let table = wan.lab.ctl(&["get", "all"]);
    assert!(
        table.contains(&format!("{address}/64 on lan")) && table.contains(&delegated),
        "{table}"
    );

    // Information-request: the ISP's resolver and the AFTR name.
    let info = wan.wait_phase("DHCPv6Information/wan-info", "Informed", LONG);
    assert_eq!(info["dnsServers"], serde_json::json!(["fd00:99:2::53"]));
    assert_eq!(info["aftrName"], "aftr.isp.example");
    // The LAN's DHCPv6 server hands out the router's own LAN address.
    let server = wan.wait_phase("DHCPv6Server/lan-dhcpv6", "Serving", LONG);
    assert_eq!(server["dnsServers"], serde_json::json!([address.as_str()]));

    // The AFTR name, answered only by the ISP's resolver, through the
    // forwarder whose upstream took its address from the information.
    let upstream = wan.wait_phase("DNSUpstream/isp", "Ready", LONG);
    assert_eq!(upstream["addresses"], serde_json::json!(["fd00:99:2::53"]));
    let ds = wait_until("the AFTR resolved", LONG, || {
        let s = wan.status("DSLiteTunnel/transix");
        s["aftr"].as_str().is_some().then_some(s)
    });
    assert_eq!(ds["aftr"], "fd00:99:2::aa", "{ds}");
    assert_eq!(ds["aftrName"], "aftr.isp.example");
    assert_eq!(ds["resolvedBy"], "DNSForwarder/isp via DNSUpstream/isp");
    assert_eq!(ds["localAddress"], format!("{base}::100"));
    let has_ip6tnl = wan
        .lab
        .router
        .try_ip("link add probe6t type ip6tnl mode ipip6 local ::1 remote ::2")
        .is_ok();
    if has_ip6tnl {
        wan.lab.router.ip("link del probe6t");
        wan.wait_phase("DSLiteTunnel/transix", "Up", LONG);
        wait_until("the IPv4 default route through the softwire", LONG, || {
            wan.lab
                .router
                .ip("route show default")
                .contains("dev ds-transix")
                .then_some(())
        });
    } else {
        let ds = wan.wait_phase("DSLiteTunnel/transix", "Failed", LONG);
        let why = ds["message"].as_str().unwrap_or_default();
        assert!(why.contains("no ip6tnl support"), "{ds}");
        eprintln!(
            "ip6tnl: this kernel has none; the AFTR resolution was checked end to end, the softwire link itself was not created ({why})"
        );
    }
}

#[test]
fn without_the_delegation_the_lan_is_told_at_once_and_numbered_again_when_it_returns() {
    // T1 2 s, T2 4 s, valid 12 s: Renew, Rebind and expiry within the test.
    let mut wan = WanLab::new("wanx", (2, 4, 10, 12));
    wan.serve(&config(""));
    wan.wait_phase("DHCPv6PrefixDelegation/wan-pd", "Bound", LONG);
    let address = wait_until("the derived LAN address", LONG, || lan_prefix(&wan));
    let base = address.trim_end_matches("::1").to_string();
    wait_until("the host's address from the prefix", LONG, || {
        wan.host_addresses()
            .into_iter()
            .any(|(a, deprecated)| a.starts_with(&base) && !deprecated)
            .then_some(())
    });
    // Renew at T1, seen on the wire.
    let wire = watch_wire(&wan.lab.router, "r0", false, "udp dst port 547");
    wait_until("a Renew at T1 on the wire", LONG, || {
        wire.stdout().contains("dhcp6 renew").then_some(())
    });
    wait_until("the Renew answered: Bound again", LONG, || {
        (wan.phase("DHCPv6PrefixDelegation/wan-pd") == "Bound").then_some(())
    });

    wan.stop_kea();
    wait_until("a Rebind at T2 on the wire", LONG, || {
        wire.stdout().contains("dhcp6 rebind").then_some(())
    });
    wan.wait_phase("DHCPv6PrefixDelegation/wan-pd", "Rebinding", LONG);
    wait_until("the delegation expired", LONG, || {
        let phase = wan.phase("DHCPv6PrefixDelegation/wan-pd");
        matches!(phase.as_str(), "Expired" | "Soliciting").then_some(())
    });
    // Honest: the LAN link loses the derived address, the RA withdraws the
    // prefix (lifetimes 0) and stops offering a default route, and the
    // host's address from it is no longer preferred.
    wait_until(
        "lan0 without the derived address",
        Duration::from_secs(10),
        || lan_prefix(&wan).is_none().then_some(()),
    );
    wait_until(
        "the delegation's unreachable route gone",
        Duration::from_secs(10),
        || {
            wan.lab
                .router
                .ip("-6 route show type unreachable")
                .trim()
                .is_empty()
                .then_some(())
        },
    );
    let ra = wait_until(
        "the RA withdraws the prefix",
        Duration::from_secs(10),
        || {
            let s = wan.status("IPv6RouterAdvertisement/lan-ra");
            (s["routerLifetime"] == 0 && s["prefixes"].as_array().is_some_and(Vec::is_empty))
                .then_some(s)
        },
    );
    assert!(
        ra["deprecated"].as_array().is_some_and(|d| d
            .iter()
            .any(|p| p.as_str().is_some_and(|p| p.starts_with(&base)))),
        "{ra}"
    );
    wait_until(
        "the host's address deprecated or gone",
        Duration::from_secs(10),
        || {
            (!wan
                .host_addresses()
                .into_iter()
                .any(|(a, deprecated)| a.starts_with(&base) && !deprecated))
            .then_some(())
        },
    );

    // The ISP returns: bound and advertised again.
    wan.start_kea();
    wan.wait_phase("DHCPv6PrefixDelegation/wan-pd", "Bound", LONG);
    let again = wait_until("the LAN numbered again", LONG, || lan_prefix(&wan));
    let base = again.trim_end_matches("::1").to_string();
    wait_until("the host autoconfigures again", LONG, || {
        wan.host_addresses()
            .into_iter()
            .any(|(a, deprecated)| a.starts_with(&base) && !deprecated)
            .then_some(())
    });
}

#[test]
fn a_killed_dhcpv6_client_is_restarted_by_routerd_and_renews_the_same_prefix() {
    let mut wan = WanLab::new("wank", (1000, 2000, 3000, 4000));
    wan.serve(&config(""));
    let pd = wan.wait_phase("DHCPv6PrefixDelegation/wan-pd", "Bound", LONG);
    let prefix = pd["prefix"].clone();
    let pid = pd["daemon"]["pid"].as_u64().expect("daemon pid");
    let capture = wan.lab.dir.path().join("wire.pcap");
    let tcpdump = require_command("tcpdump");
    let dump = wan.lab.router.spawn(
        &[
            tcpdump.to_str().expect("utf-8"),
            "-nli",
            "r0",
            "-c",
            "1",
            "-w",
            capture.to_str().expect("utf-8"),
            "udp dst port 547",
        ],
        &[],
    );
    wait_until("tcpdump listening", LONG, || {
        dump.stderr().contains("listening on").then_some(())
    });
    let pid = i32::try_from(pid).expect("pid");
    // SAFETY: signalling a process of this test's own namespace.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    wait_until("routerd restarted the client", LONG, || {
        let s = wan.status("DHCPv6PrefixDelegation/wan-pd");
        let new_pid = s["daemon"]["pid"].as_i64()?;
        (new_pid != i64::from(pid) && s["phase"] == "Bound").then_some(())
    });
    dump.wait_exit(Duration::from_secs(10));
    let read = wan.lab.router.run(&[
        tcpdump.to_str().expect("utf-8"),
        "-nr",
        capture.to_str().expect("utf-8"),
    ]);
    assert!(
        read.contains("dhcp6 renew"),
        "the first message was not a Renew: {read}"
    );
    assert_eq!(
        wan.status("DHCPv6PrefixDelegation/wan-pd")["prefix"],
        prefix
    );
    assert!(lan_prefix(&wan).is_some(), "the LAN kept its address");
}

#[test]
fn a_dhcpv4_lease_becomes_the_wan_address_and_routes_and_a_nak_replaces_it() {
    require_command("dnsmasq");
    let mut lab = Lab::new("wan4");
    let dir = lab.dir.path().join("dnsmasq");
    std::fs::create_dir_all(&dir).expect("dir");
    let dnsmasq = |peer: &Netns, range: &str| {
        peer.spawn(
            &[
                "dnsmasq",
                "--keep-in-foreground",
                "--conf-file=/dev/null",
                "--port=0",
                "--bind-interfaces",
                "--interface=p0",
                "--dhcp-authoritative",
                "--no-ping",
                "--log-dhcp",
                "--log-facility=-",
                &format!("--dhcp-range={range},255.255.255.0,2m"),
                "--dhcp-option=option:router,192.0.2.2",
                "--dhcp-option=option:dns-server,192.0.2.53",
                "--dhcp-option=option:mtu,1400",
                "--dhcp-option=option:T1,4",
                "--dhcp-option=option:T2,8",
                "--dhcp-option=121,10.77.0.0/16,192.0.2.254,0.0.0.0/0,192.0.2.2",
                &format!("--dhcp-leasefile={}", dir.join("leases").display()),
                &format!("--pid-file={}", dir.join("pid").display()),
            ],
            &[],
        )
    };
    let server = dnsmasq(&lab.peer, "192.0.2.100,192.0.2.150");
    let cfg = r#"apiVersion: routerd.net/v1alpha1
kind: Router
metadata: {name: v4}
spec:
  resources:
    - {apiVersion: net.routerd.net/v1alpha1, kind: Interface, metadata: {name: wan}, spec: {ifname: r0, managed: true}}
    - {apiVersion: net.routerd.net/v1alpha1, kind: DHCPv4Client, metadata: {name: wan-v4}, spec: {interface: wan, routeMetric: 50}}
"#;
    let path = lab.write_config("v4.yaml", cfg);
    lab.serve(Some(&path), &[], &[]);
    let status = |lab: &Lab| -> Value {
        let (_, body) = curl(
            &lab.socket(),
            "GET",
            "/v1/resources/DHCPv4Client/wan-v4",
            None,
        );
        serde_json::from_str::<Value>(&body).map_or(Value::Null, |v| v["status"].clone())
    };
    let s = wait_until("DHCPv4Client Bound", LONG, || {
        let s = status(&lab);
        (s["phase"] == "Bound").then_some(s)
    });
    let address = s["address"].as_str().expect("address").to_string();
    assert!(
        address.starts_with("192.0.2.1") && address.ends_with("/24"),
        "{s}"
    );
    assert_eq!(s["dnsServers"], serde_json::json!(["192.0.2.53"]));
    let ip = address.split('/').next().expect("ip").to_string();
    wait_until("the leased address on r0", LONG, || {
        lab.addresses("r0")
            .iter()
            .any(|(a, _)| *a == ip)
            .then_some(())
    });
    // Classless static routes (RFC 3442), which replace the router option.
    let routes = wait_until("the classless routes", LONG, || {
        let r = lab.router.ip("-4 route show");
        (r.contains("10.77.0.0/16 via 192.0.2.254") && r.contains("default via 192.0.2.2"))
            .then_some(r)
    });
    assert!(routes.contains("metric 50"), "{routes}");
    // Option 26 sets the link's MTU (the Interface sets none of its own).
    wait_until("r0's MTU from the lease", LONG, || {
        lab.router
            .ip("link show r0")
            .contains("mtu 1400")
            .then_some(())
    });
    // Renewed at T1 (4 s): dnsmasq answers a DHCPREQUEST from the bound client.
    wait_until("a renewal at T1", LONG, || {
        (server.stderr().matches("DHCPACK").count() >= 2).then_some(())
    });

    // The server's range moves; its next answer to the renewal is a NAK:
    // the lease is gone (address removed), and a fresh DISCOVER gets a new one.
    server.kill9();
    server.wait_exit(Duration::from_secs(5));
    let _server = dnsmasq(&lab.peer, "192.0.2.200,192.0.2.220");
    let s = wait_until("a new lease in the new range", LONG, || {
        let s = status(&lab);
        (s["phase"] == "Bound"
            && s["address"]
                .as_str()
                .is_some_and(|a| a.starts_with("192.0.2.2")))
        .then_some(s)
    });
    let new_ip = s["address"]
        .as_str()
        .expect("address")
        .split('/')
        .next()
        .expect("ip")
        .to_string();
    wait_until("the old address gone, the new one on r0", LONG, || {
        let have = lab.addresses("r0");
        (have.iter().any(|(a, _)| *a == new_ip) && !have.iter().any(|(a, _)| *a == ip))
            .then_some(())
    });
    let events = lab.events("routerd.daemon.**");
    assert!(!events.is_empty());
    let naks: Vec<Value> = lab.events("dhcpv4.nak");
    assert!(!naks.is_empty(), "the NAK is an event");
}

#[test]
fn a_routerd_restart_leaves_the_lan_undisturbed() {
    let mut wan = WanLab::new("wanr", (1000, 2000, 3000, 4000));
    wan.serve(&config(""));
    wan.wait_phase("DHCPv6PrefixDelegation/wan-pd", "Bound", LONG);
    let address = wait_until("the derived LAN address", LONG, || lan_prefix(&wan));
    let base = address.trim_end_matches("::1").to_string();
    wait_until("the host's address from the prefix", LONG, || {
        wan.host_addresses()
            .into_iter()
            .any(|(a, deprecated)| a.starts_with(&base) && !deprecated)
            .then_some(())
    });
    // Every RA the host hears from now on, verbosely.
    let wire = watch_wire(&wan.host, "eth0", true, "icmp6 and ip6[40] == 134");
    let heard_before = wire.stdout().matches("router advertisement").count();
    // And every route and address the router loses meanwhile.
    let monitor = wan
        .lab
        .router
        .spawn(&["ip", "-6", "monitor", "route", "address"], &[]);

    // kill -9, then start again with the same state directory.
    let routerd = wan.lab.routerd.take().expect("routerd");
    routerd.kill9();
    routerd.wait_exit(Duration::from_secs(5));
    let path = wan.lab.dir.path().join("router.yaml");
    wan.lab.serve(Some(&path), &[], &[]);
    wan.wait_phase("IPv6DelegatedAddress/lan-v6", "Applied", LONG);
    let ra = wan.wait_phase("IPv6RouterAdvertisement/lan-ra", "Advertising", LONG);
    assert_eq!(ra["routerLifetime"], 30, "{ra}");
    // The new routerd's first advertisements arrive...
    wait_until("RAs from the restarted routerd", LONG, || {
        (wire.stdout().matches("router advertisement").count() > heard_before + 1).then_some(())
    });
    // ...and none of them ever told the host there was no router or no prefix.
    let heard = wire.stdout();
    assert!(!heard.contains("router lifetime 0s"), "{heard}");
    let changes = monitor.stdout();
    assert!(
        !changes.lines().any(|l| l.starts_with("Deleted")),
        "the router lost state across the restart:\n{changes}"
    );
    assert!(!heard.contains("valid time 0s"), "{heard}");
    assert_eq!(
        lan_prefix(&wan).as_deref(),
        Some(address.as_str()),
        "the LAN kept its address"
    );
    assert!(
        wan.host_addresses()
            .into_iter()
            .any(|(a, deprecated)| a.starts_with(&base) && !deprecated),
        "the host's address stayed preferred"
    );
    assert!(wan.host.ip("-6 route show default").contains("via fe80::"));
}

#[test]
fn removing_the_delegation_releases_it_while_the_information_stays() {
    let mut wan = WanLab::new("wanrl", (1000, 2000, 3000, 4000));
    let head = r#"apiVersion: routerd.net/v1alpha1
kind: Router
metadata: {name: branch}
spec:
  resources:
    - {apiVersion: net.routerd.net/v1alpha1, kind: Interface, metadata: {name: wan}, spec: {ifname: r0, managed: true}}
    - {apiVersion: net.routerd.net/v1alpha1, kind: DHCPv6Information, metadata: {name: wan-info}, spec: {interface: wan}}
"#;
    let pd = r#"    - {apiVersion: net.routerd.net/v1alpha1, kind: DHCPv6PrefixDelegation, metadata: {name: wan-pd}, spec: {interface: wan, prefixLength: 56, solicitMaxDelay: 100ms}}
"#;
    wan.serve(&format!("{head}{pd}"));
    let bound = wan.wait_phase("DHCPv6PrefixDelegation/wan-pd", "Bound", LONG);
    let pid = bound["daemon"]["pid"].as_u64().expect("pid");
    wan.wait_phase("DHCPv6Information/wan-info", "Informed", LONG);
    // The daemon's own events are the resources' events.
    let described = wan
        .lab
        .ctl(&["describe", "DHCPv6PrefixDelegation", "wan-pd"]);
    assert!(described.contains("delegated fd00:99:100:"), "{described}");
    let described = wan.lab.ctl(&["describe", "DHCPv6Information", "wan-info"]);
    assert!(
        described.contains("DNS fd00:99:2::53, domains -, AFTR aftr.isp.example"),
        "{described}"
    );

    let wire = watch_wire(&wan.lab.router, "r0", false, "udp dst port 547");
    let path = wan.lab.write_config("info-only.yaml", head);
    wan.lab.ctl(&["apply", "-c", path.to_str().expect("utf-8")]);
    // Released on the wire, by the same process (reloaded in place), and the
    // information keeps coming.
    wait_until("a Release on the wire", LONG, || {
        wire.stdout().contains("dhcp6 release").then_some(())
    });
    let info = wan.wait_phase("DHCPv6Information/wan-info", "Informed", LONG);
    assert_eq!(info["daemon"]["pid"].as_u64(), Some(pid), "{info}");
    assert_eq!(info["aftrName"], "aftr.isp.example");
}

#[test]
fn a_daemon_left_running_with_an_old_config_is_restarted_with_the_new_one() {
    let mut wan = WanLab::new("wanad", (1000, 2000, 3000, 4000));
    let config = |hint: u8| {
        format!(
            r#"apiVersion: routerd.net/v1alpha1
kind: Router
metadata: {{name: branch}}
spec:
  resources:
    - {{apiVersion: net.routerd.net/v1alpha1, kind: Interface, metadata: {{name: wan}}, spec: {{ifname: r0, managed: true}}}}
    - {{apiVersion: net.routerd.net/v1alpha1, kind: DHCPv6PrefixDelegation, metadata: {{name: wan-pd}}, spec: {{interface: wan, prefixLength: {hint}, solicitMaxDelay: 100ms}}}}
"#
        )
    };
    wan.serve(&config(56));
    let bound = wan.wait_phase("DHCPv6PrefixDelegation/wan-pd", "Bound", LONG);
    let pid = bound["daemon"]["pid"].as_u64().expect("pid");
    // routerd dies; while it is down its config changes in a way the
    // running client cannot take in place (its delegation's hint).
    let routerd = wan.lab.routerd.take().expect("routerd");
    routerd.kill9();
    routerd.wait_exit(Duration::from_secs(5));
    let path = wan.lab.write_config("router.yaml", &config(60));
    wan.lab.serve(Some(&path), &[], &[]);
    let restarted = wait_until("the client restarted with the new config", LONG, || {
        let s = wan.status("DHCPv6PrefixDelegation/wan-pd");
        let new_pid = s["daemon"]["pid"].as_u64()?;
        (new_pid != pid && s["phase"] == "Bound").then_some(s)
    });
    let events = wan.lab.events("routerd.daemon.dhcpv6-wan.**");
    assert!(
        events.iter().any(|e| e["reason"] == "ConfigChanged"),
        "{events:?}"
    );
    let running =
        std::fs::read_to_string(wan.lab.state_dir().join("daemons/dhcpv6-wan/config.json"))
            .expect("daemon config");
    assert!(running.contains("\"prefixHint\": 60"), "{running}");
    assert!(restarted["prefix"].is_string(), "{restarted}");
}

#[test]
fn renumbering_announces_the_new_prefix_and_deprecates_the_old() {
    let mut wan = WanLab::new("wannum", (2, 4, 300, 600));
    wan.serve(&config(""));
    wan.wait_phase("DHCPv6PrefixDelegation/wan-pd", "Bound", LONG);
    let old = wait_until("the LAN numbered", LONG, || lan_prefix(&wan));
    let old_base = old.trim_end_matches("::1").to_string();
    wait_until("the host's address from the first prefix", LONG, || {
        wan.host_addresses()
            .into_iter()
            .any(|(a, deprecated)| a.starts_with(&old_base) && !deprecated)
            .then_some(())
    });
    // The ISP renumbers: kea comes back delegating from another /48 and no
    // longer knows the old binding.
    wan.stop_kea();
    wan.pool = "fd00:99:200::";
    wan.start_kea();
    let new = wait_until("the LAN renumbered", LONG, || {
        wan.lab
            .addresses("lan0")
            .into_iter()
            .find(|(a, len)| a.starts_with("fd00:99:200:") && *len == 64)
            .map(|(a, _)| a)
    });
    let new_base = new.trim_end_matches("::1").to_string();
    wait_until("the old address gone from the LAN link", LONG, || {
        lan_prefix(&wan).is_none().then_some(())
    });
    let ra = wait_until(
        "the RA announces the new prefix, the old deprecated",
        LONG,
        || {
            let s = wan.status("IPv6RouterAdvertisement/lan-ra");
            let announced = s["prefixes"][0]["prefix"]
                .as_str()
                .is_some_and(|p| p.starts_with(&new_base));
            let deprecated = s["deprecated"].as_array().is_some_and(|d| {
                d.iter()
                    .any(|p| p.as_str().is_some_and(|p| p.starts_with(&old_base)))
            });
            (announced && deprecated).then_some(s)
        },
    );
    assert_ne!(ra["routerLifetime"], 0, "{ra}");
    // The host: a preferred address in the new prefix, the old one deprecated.
    wait_until("the host moves to the new prefix", LONG, || {
        let have = wan.host_addresses();
        let new_ok = have.iter().any(|(a, d)| a.starts_with(&new_base) && !d);
        let old_preferred = have.iter().any(|(a, d)| a.starts_with(&old_base) && !d);
        (new_ok && !old_preferred).then_some(())
    });
    wait_until("the host reaches the ISP from the new prefix", LONG, || {
        wan.host
            .exec(&["ping", "-6", "-c", "1", "-W", "1", "fd00:99:2::1"])
            .status
            .success()
            .then_some(())
    });
}
