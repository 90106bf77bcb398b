//! IngressService end to end: routerd serving in a router namespace, a
//! client in the peer namespace making HTTP requests to VIP:80, and two
//! HTTP backends in namespaces of their own answering with their names
//! (and 204 on /healthz, which the service's http health check expects).
//! What an operator sees: which backend answers, `routerctl ingress
//! status`, drains through routerctl, health failover, and the VIP coming
//! and going: by hand, and as a VRRP VirtualAddress against keepalived.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

use common::{DEADLINE, Lab, lab_config};
use routerd_lab::{Netns, Process, veth, wait_until};
use serde_json::Value;

/// An HTTP/1.1 server in `ns` on port `port`: `GET /healthz` answers 204,
/// any other GET answers 200 with `name` as the body. Keep-alive, so one
/// connection can carry several requests (an open connection across a
/// drain). python3's http.server, one thread per connection.
fn http_server(ns: &Netns, port: u16, name: &str) -> Process {
    let script = format!(
        r#"
import http.server
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        if self.path == "/healthz":
            self.send_response(204)
            self.end_headers()
            return
        body = b"{name}\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
class S(http.server.ThreadingHTTPServer):
    allow_reuse_address = True
S(("0.0.0.0", {port}), H).serve_forever()
"#
    );
    ns.spawn(&["python3", "-u", "-c", &script], &[])
}

type Conn = BufReader<TcpStream>;

/// A TCP connection from inside `ns` (the socket keeps working after the
/// thread that made it has left the namespace).
fn connect(ns: &Netns, addr: IpAddr, port: u16) -> std::io::Result<Conn> {
    ns.in_netns(|| {
        let stream =
            TcpStream::connect_timeout(&SocketAddr::new(addr, port), Duration::from_secs(2))?;
        stream.set_read_timeout(Some(Duration::from_secs(2)))?;
        Ok(BufReader::new(stream))
    })
}

fn invalid(why: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, why)
}

/// `GET /` on an open connection: the body (the backend's name) of a 200.
fn get(conn: &mut Conn) -> std::io::Result<String> {
    conn.get_mut()
        .write_all(format!("GET / HTTP/1.1\r\nHost: {VIP}\r\n\r\n").as_bytes())?;
    let mut line = String::new();
    conn.read_line(&mut line)?;
    if !line.starts_with("HTTP/1.1 200 ") {
        return Err(invalid(format!("status line {line:?}")));
    }
    let mut length = None;
    // Headers, bounded: a server is not to keep us here.
    for _ in 0..64 {
        line.clear();
        if conn.read_line(&mut line)? == 0 {
            return Err(invalid("the server closed mid-headers".into()));
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((k, v)) = header.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse::<usize>().ok();
        }
    }
    let length = length.ok_or_else(|| invalid("no Content-Length".into()))?;
    let mut body = vec![0; length.min(4096)];
    conn.read_exact(&mut body)?;
    Ok(String::from_utf8_lossy(&body).trim().to_string())
}

/// A new connection from `ns` to `addr:port`, one `GET /`: who answered.
fn fetch_name(ns: &Netns, addr: IpAddr, port: u16) -> std::io::Result<String> {
    let mut conn = connect(ns, addr, port)?;
    get(&mut conn)
}

const VIP: &str = "192.0.2.10";
/// The backends' probe interval and how many failures mark one down.
const INTERVAL_MS: u64 = 200;
const FAILURES: u64 = 2;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// The backends: namespaces b1 and b2 behind router links eth-b1/eth-b2,
/// each serving its name over HTTP on port 8080.
struct Backends {
    ns: Vec<Netns>,
    servers: Vec<Option<Process>>,
}

impl Backends {
    fn new(lab: &Lab, tag: &str) -> Backends {
        let mut ns = Vec::new();
        let mut servers = Vec::new();
        for i in 1..=2 {
            let b = Netns::new(&format!("{tag}b{i}"));
            veth(&lab.router, &format!("eth-b{i}"), &b, "eth0");
            b.ip(&format!("addr add 10.0.{i}.2/24 dev eth0"));
            b.ip(&format!("route add default via 10.0.{i}.1"));
            servers.push(Some(http_server(&b, 8080, &format!("b{i}"))));
            ns.push(b);
        }
        // The client (the lab's peer) reaches the VIP on its own link.
        lab.peer.ip("route add default via 192.0.2.1");
        Backends { ns, servers }
    }

    /// Kills backend `i`'s server (the namespace stays): its probes fail
    /// from now on.
    fn stop(&mut self, i: usize) {
        if let Some(server) = self.servers[i - 1].take() {
            server.kill9();
            assert!(
                server.wait_exit(DEADLINE).is_some(),
                "backend b{i}'s server does not exit"
            );
        }
        assert!(self.ns.len() >= i);
    }
}

/// The router's config: the backend links, forwarding, and `service`.
fn config(service: &str) -> String {
    lab_config(&format!(
        r#"    - apiVersion: net.routerd.net/v1alpha1
      kind: Interface
      metadata: {{name: b1}}
      spec: {{ifname: eth-b1, managed: true}}
    - apiVersion: net.routerd.net/v1alpha1
      kind: Interface
      metadata: {{name: b2}}
      spec: {{ifname: eth-b2, managed: true}}
    - apiVersion: net.routerd.net/v1alpha1
      kind: IPv4StaticAddress
      metadata: {{name: b1-v4}}
      spec: {{interface: b1, address: 10.0.1.1/24}}
    - apiVersion: net.routerd.net/v1alpha1
      kind: IPv4StaticAddress
      metadata: {{name: b2-v4}}
      spec: {{interface: b2, address: 10.0.2.1/24}}
{service}"#
    ))
}

fn web(selection: &str) -> String {
    format!(
        r#"    - apiVersion: firewall.routerd.net/v1alpha1
      kind: IngressService
      metadata: {{name: web}}
      spec:
        listen: {{interface: lan, address: {VIP}, protocol: tcp, port: 80}}
        backends:
          - {{name: b1, address: 10.0.1.2, port: 8080}}
          - {{name: b2, address: 10.0.2.2, port: 8080}}
        healthCheck: {{protocol: http, path: /healthz, expectedStatus: [204], interval: {INTERVAL_MS}ms, timeout: 100ms, healthyThreshold: 1, unhealthyThreshold: {FAILURES}}}
        policy: {{selection: {selection}, onNoHealthyBackends: reject}}
"#
    )
}

fn status(lab: &Lab) -> Value {
    lab.ctl_json(&["ingress", "status", "web", "-o", "json"])[0]["status"].clone()
}

fn backend<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["backends"]
        .as_array()
        .and_then(|b| b.iter().find(|b| b["name"] == name))
        .unwrap_or(&Value::Null)
}

/// Waits until every new connection from the client reaches `name`.
fn wait_served_by(lab: &Lab, name: &str) {
    wait_until(
        &format!("new connections to reach {name}"),
        DEADLINE,
        || {
            (0..3)
                .all(|_| fetch_name(&lab.peer, ip(VIP), 80).ok().as_deref() == Some(name))
                .then_some(())
        },
    );
}

fn wait_both_healthy(lab: &Lab) {
    wait_until("both backends Healthy", DEADLINE, || {
        let s = status(lab);
        (s["phase"] == "Serving"
            && backend(&s, "b1")["health"] == "Healthy"
            && backend(&s, "b2")["health"] == "Healthy")
            .then_some(())
    });
}

#[test]
fn drain_failover_and_the_vip_as_an_operator_sees_them() {
    let mut lab = Lab::new("ing");
    let mut backends = Backends::new(&lab, "ing");
    // The VIP as VRRP or a BGP announcement would hold it on the owner.
    lab.router.ip(&format!("addr add {VIP}/32 dev r0"));
    let path = lab.write_config("routerd.yaml", &config(&web("failover")));
    let yaml = std::fs::read(&path).unwrap();
    lab.serve(Some(&path), &[], &[]);
    wait_both_healthy(&lab);
    let s = status(&lab);
    assert_eq!(s["vipHeld"], true, "{s:#}");
    assert_eq!(s["eligibleBackends"], 2);
    wait_served_by(&lab, "b1");
    let listing = lab.router.run(&["nft", "list", "table", "inet", "routerd"]);
    assert!(
        listing.contains("ip daddr 192.0.2.10 fib daddr type local tcp dport 80 dnat ip to 10.0.1.2:8080 comment \"IngressService/web\""),
        "{listing}"
    );

    // An open connection to b1, kept across the drain.
    let mut held = connect(&lab.peer, ip(VIP), 80).unwrap();
    assert_eq!(get(&mut held).unwrap(), "b1");

    let out = lab.ctl(&["ingress", "drain", "web/b1"]);
    assert!(out.contains("b1 drained"), "{out}");
    wait_served_by(&lab, "b2");
    assert_eq!(
        get(&mut held).unwrap(),
        "b1",
        "the open connection keeps flowing"
    );
    let s = status(&lab);
    assert_eq!(backend(&s, "b1")["drained"], true, "{s:#}");
    assert_eq!(backend(&s, "b1")["eligible"], false);
    assert_eq!(backend(&s, "b1")["health"], "Healthy", "drained, not sick");
    let described = lab.ctl(&["describe", "IngressService", "web"]);
    for want in [
        "name: b1",
        "drained: true",
        "eligible: false",
        "vipHeld: true",
    ] {
        assert!(described.contains(want), "{want}: {described}");
    }
    let row = lab.ctl(&["get", "IngressService", "web"]);
    assert!(
        row.contains("192.0.2.10 tcp/80 failover 1/2 backends (b1 drained)"),
        "{row}"
    );
    let table = lab.ctl(&["ingress", "status", "web"]);
    assert!(table.contains("b1") && table.contains("drained"), "{table}");
    let drained = lab.events("routerd.ingressservice.web.**");
    assert!(
        drained.iter().any(|e| e["reason"] == "BackendDrained"),
        "{drained:#?}"
    );
    // The YAML was not touched: the drain is routerd's own state.
    assert_eq!(std::fs::read(&path).unwrap(), yaml);

    // A restarted routerd keeps the drain.
    lab.ctl(&["stop"]);
    let old = lab.routerd.take().unwrap();
    old.wait_exit(DEADLINE).expect("routerd stops");
    lab.serve(Some(&path), &[], &[]);
    wait_until(
        "the drain to be reported after the restart",
        DEADLINE,
        || (backend(&status(&lab), "b1")["drained"] == true).then_some(()),
    );
    wait_served_by(&lab, "b2");
    assert_eq!(get(&mut held).unwrap(), "b1", "and across the restart");

    let out = lab.ctl(&["ingress", "undrain", "IngressService/web/b1"]);
    assert!(out.contains("b1 undrained"), "{out}");
    wait_served_by(&lab, "b1");

    // A drain for a while ends by itself.
    let drained_at = std::time::Instant::now();
    lab.ctl(&["ingress", "drain", "web/b1", "--for", "3s"]);
    wait_until("b1 drained with an end", DEADLINE, || {
        backend(&status(&lab), "b1")["drainingUntil"]
            .is_string()
            .then_some(())
    });
    wait_served_by(&lab, "b2");
    // While the drain lasts every new connection goes to b2; b1 is back
    // only after the 3 s (and within the controller's 1 s resync).
    wait_until("b1 to answer again after the drain's end", DEADLINE, || {
        let name = fetch_name(&lab.peer, ip(VIP), 80).ok()?;
        let s = status(&lab);
        assert!(
            name == "b2" || drained_at.elapsed() >= Duration::from_secs(3),
            "b1 answered {:?} into a 3s drain: {s:#}",
            drained_at.elapsed()
        );
        (name == "b1").then_some(())
    });
    wait_served_by(&lab, "b1");
    wait_until("b1 no longer drained in status", DEADLINE, || {
        (backend(&status(&lab), "b1")["drained"] == false).then_some(())
    });

    // Unknown backends are refused with the choices named.
    let bad = lab.ctl_output(&["ingress", "drain", "web/b9"]);
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("has no backend `b9` (it has b1, b2)"), "{err}");

    // b1's health probe fails: new connections fail over to b2.
    // New connections move within the probe interval × the failures that
    // mark a backend down, plus the probe's timeout and slack for a loaded
    // machine (the reconcile that follows the verdict, nftables, routerctl).
    let died = std::time::Instant::now();
    backends.stop(1);
    wait_served_by(&lab, "b2");
    let took = died.elapsed();
    let bound = Duration::from_millis(INTERVAL_MS * FAILURES + 100) + Duration::from_secs(3);
    assert!(took <= bound, "failover took {took:?}, bound {bound:?}");
    let s = status(&lab);
    assert_eq!(backend(&s, "b1")["health"], "Unhealthy", "{s:#}");
    assert_eq!(backend(&s, "b1")["eligible"], false, "{s:#}");
    // Why, in the probe's words (the connection to b1's port is refused).
    assert!(backend(&s, "b1")["message"].is_string(), "{s:#}");
    let events = lab.events("routerd.ingressservice.web.backend");
    assert!(
        events
            .iter()
            .any(|e| e["reason"] == "BackendUnhealthy" && e["attributes"]["backend"] == "b1"),
        "{events:#?}"
    );

    // A restart does not hand new connections back to the dead backend
    // while routerd catches up with its probes: every connection during
    // and after the restart reaches b2.
    lab.ctl(&["stop"]);
    let old = lab.routerd.take().unwrap();
    old.wait_exit(DEADLINE).expect("routerd stops");
    lab.serve(Some(&path), &[], &[]);
    let restarted = std::time::Instant::now();
    while restarted.elapsed() < Duration::from_secs(3) {
        let got = fetch_name(&lab.peer, ip(VIP), 80);
        assert_eq!(
            got.as_ref().ok().map(String::as_str),
            Some("b2"),
            "{:?} after the restart: {got:?}",
            restarted.elapsed()
        );
    }
    assert_eq!(backend(&status(&lab), "b1")["health"], "Unhealthy");

    // The VIP leaves this node (VRRP backup, announcement withdrawn): the
    // rules stay installed but nothing reaches them; back again, it serves.
    lab.router.ip(&format!("addr del {VIP}/32 dev r0"));
    wait_until("vipHeld false", DEADLINE, || {
        (status(&lab)["vipHeld"] == false).then_some(())
    });
    assert!(fetch_name(&lab.peer, ip(VIP), 80).is_err());
    lab.router.ip(&format!("addr add {VIP}/32 dev r0"));
    lab.peer.ip(&format!("neigh flush {VIP}"));
    wait_served_by(&lab, "b2");
    wait_until("vipHeld true", DEADLINE, || {
        (status(&lab)["vipHeld"] == true).then_some(())
    });
    assert_eq!(std::fs::read(&path).unwrap(), yaml, "the YAML is untouched");
}

#[test]
fn source_hash_random_collisions_and_removal() {
    let mut lab = Lab::new("ings");
    let _backends = Backends::new(&lab, "ings");
    lab.router.ip(&format!("addr add {VIP}/32 dev r0"));
    let path = lab.write_config("routerd.yaml", &config(&web("sourceHash")));
    lab.serve(Some(&path), &[], &[]);
    wait_both_healthy(&lab);
    let first = wait_until("the service to answer", DEADLINE, || {
        fetch_name(&lab.peer, ip(VIP), 80).ok()
    });
    let seen: BTreeSet<String> = (0..10)
        .map(|_| fetch_name(&lab.peer, ip(VIP), 80).unwrap())
        .collect();
    assert_eq!(
        seen,
        BTreeSet::from([first.clone()]),
        "one client, one backend"
    );
    let listing = lab.router.run(&["nft", "list", "table", "inet", "routerd"]);
    assert!(listing.contains("jhash ip saddr mod 2 seed"), "{listing}");

    // Draining the client's backend moves it to the other one.
    lab.ctl(&["ingress", "drain", &format!("web/{first}")]);
    let other = if first == "b1" { "b2" } else { "b1" };
    wait_served_by(&lab, other);

    // A second service on the same VIP and port is refused at validation,
    // both sides named; the running config stays.
    let clash = format!(
        "{}{}",
        web("sourceHash"),
        web("random").replace("name: web}", "name: web-two}")
    );
    let bad = lab.write_config("clash.yaml", &config(&clash));
    let out = lab.ctl_output(&["apply", "--config", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("IngressService/web-two: spec.listen.port: tcp/80 on 192.0.2.10 collides with IngressService/web spec.listen.port"),
        "{text}"
    );
    wait_served_by(&lab, other);

    // random: with both backends taking connections, new connections
    // reach both (40 tries: a miss has probability 2^-39).
    lab.ctl(&["ingress", "undrain", &format!("web/{first}")]);
    let random = lab.write_config("random.yaml", &config(&web("random")));
    lab.ctl(&["apply", "--config", random.to_str().unwrap()]);
    wait_until("numgen random in the rules", DEADLINE, || {
        lab.router
            .run(&["nft", "list", "table", "inet", "routerd"])
            .contains("numgen random mod 2")
            .then_some(())
    });
    wait_until("both backends eligible", DEADLINE, || {
        (status(&lab)["eligibleBackends"] == 2).then_some(())
    });
    let seen: BTreeSet<String> = (0..40)
        .filter_map(|_| fetch_name(&lab.peer, ip(VIP), 80).ok())
        .collect();
    assert_eq!(seen, BTreeSet::from(["b1".to_string(), "b2".to_string()]));

    // The service removed from the config: its rules and probes go, and
    // with no service left, routerd's nftables table is deleted.
    let none = lab.write_config("none.yaml", &config(""));
    lab.ctl(&["apply", "--config", none.to_str().unwrap()]);
    wait_until("table inet routerd to be deleted", DEADLINE, || {
        let out = lab
            .router
            .exec(&["nft", "list", "table", "inet", "routerd"]);
        (!out.status.success()).then_some(())
    });
    assert!(fetch_name(&lab.peer, ip(VIP), 80).is_err());
    let left = lab.ctl_json(&["get", "IngressService", "-o", "json"]);
    assert_eq!(left, serde_json::json!([]), "{left:#}");
}

/// keepalived in the client's namespace, VRRPv3 for `VIP` on p0 at
/// `priority`, with its own config and pid files.
struct Keepalived {
    _dir: tempfile::TempDir,
    process: Process,
}

fn keepalived(ns: &Netns, priority: u8) -> Keepalived {
    let bin = routerd_lab::require_command("keepalived");
    let dir = tempfile::tempdir().unwrap();
    let conf = format!(
        "global_defs {{\n  router_id client\n  vrrp_version 3\n}}\n\
         vrrp_instance V {{\n  state BACKUP\n  interface p0\n  virtual_router_id 10\n  \
         priority {priority}\n  advert_int 0.1\n  virtual_ipaddress {{\n    {VIP}/24 dev p0\n  }}\n}}\n"
    );
    let path = dir.path().join("keepalived.conf");
    std::fs::write(&path, conf).unwrap();
    let pid = dir.path().join("keepalived.pid");
    let vrrp_pid = dir.path().join("vrrp.pid");
    let process = ns.spawn(
        &[
            &bin.to_string_lossy(),
            "-n",
            "-l",
            "-D",
            "-P",
            "-f",
            &path.to_string_lossy(),
            "-p",
            &pid.to_string_lossy(),
            "-r",
            &vrrp_pid.to_string_lossy(),
        ],
        &[],
    );
    Keepalived { _dir: dir, process }
}

impl Keepalived {
    /// SIGTERM: keepalived gives the VIP up (priority 0) and removes it.
    fn stop(self) {
        self.process.signal(libc::SIGTERM);
        assert!(
            self.process.wait_exit(DEADLINE).is_some(),
            "keepalived does not exit"
        );
    }
}

fn vrrp_state(lab: &Lab) -> String {
    let v = lab.ctl_json(&["get", "VirtualAddress", "web-vip", "-o", "json"]);
    // One resource asked for by name comes as an object.
    v["status"]["instances"][0]["state"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The VIP as a VRRP VirtualAddress: the service answers on this router
/// only while it is VRRP master. keepalived (in the client's namespace,
/// higher priority) takes the VIP; when it stops, routerd's VRRP instance
/// becomes master and the service answers through this router; when it
/// comes back, it takes the VIP again and the router stops serving it.
#[test]
fn the_service_follows_the_vrrp_master() {
    let mut lab = Lab::new("ingv");
    let _backends = Backends::new(&lab, "ingv");
    let vip = r#"    - apiVersion: net.routerd.net/v1alpha1
      kind: VirtualAddress
      metadata: {name: web-vip}
      spec:
        interface: lan
        address: 192.0.2.10/24
        vrrp: {virtualRouterID: 10, priority: 100, advertInterval: 100ms}
"#;
    let path = lab.write_config(
        "routerd.yaml",
        &config(&format!("{vip}{}", web("failover"))),
    );
    lab.serve(Some(&path), &[], &[]);
    // Alone on the link, routerd's instance becomes master and the VIP
    // is here: the service answers through this router.
    wait_until("routerd's VRRP instance Master", DEADLINE, || {
        (vrrp_state(&lab) == "Master").then_some(())
    });
    wait_both_healthy(&lab);
    wait_served_by(&lab, "b1");
    wait_until("vipHeld true", DEADLINE, || {
        (status(&lab)["vipHeld"] == true).then_some(())
    });

    // keepalived (started once r0 is up: before, p0 has no carrier and
    // keepalived would sit in FAULT) preempts with a higher priority.
    let other = keepalived(&lab.peer, 200);
    wait_until("routerd's VRRP instance Backup", DEADLINE, || {
        (vrrp_state(&lab) == "Backup").then_some(())
    });
    wait_until("vipHeld false", DEADLINE, || {
        (status(&lab)["vipHeld"] == false).then_some(())
    });
    assert!(
        !lab.router
            .ip("-4 -o addr show")
            .contains(&format!("{VIP}/")),
        "the VIP left the router"
    );
    // The rules stay: a failover writes nothing to nftables.
    let listing = lab.router.run(&["nft", "list", "table", "inet", "routerd"]);
    assert!(listing.contains("dnat ip to 10.0.1.2:8080"), "{listing}");

    // keepalived goes: routerd's instance is master again and serves.
    other.stop();
    wait_until("routerd's VRRP instance Master again", DEADLINE, || {
        (vrrp_state(&lab) == "Master").then_some(())
    });
    lab.peer.ip(&format!("neigh flush {VIP}"));
    wait_served_by(&lab, "b1");
    wait_until("vipHeld true again", DEADLINE, || {
        (status(&lab)["vipHeld"] == true).then_some(())
    });
}

/// The example in docs/ingress.md loads as it is printed there.
#[test]
fn the_documented_example_loads() {
    let doc = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/ingress.md");
    let text = std::fs::read_to_string(&doc).unwrap();
    let yaml = text
        .split("```yaml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a yaml block in docs/ingress.md");
    let loaded =
        routerd_config::load_str("docs/ingress.md", yaml).unwrap_or_else(|e| panic!("{e}"));
    let spec = loaded
        .config
        .spec_of::<routerd_config::kinds::IngressService>("web")
        .expect("IngressService/web");
    assert_eq!(spec.backends.len(), 2);
}
