//! The `routerd-healthcheck` binary end to end: started inside the lab with a
//! config, spoken to over its contract socket as routerd would.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{Lab, PEER_V4, PEER_V6, SETTLE};
use routerd_contract::client::{Client, ClientError};
use routerd_contract::event::{Event, read_events};
use routerd_contract::server::{Command, Health, StatusEnvelope};
use routerd_lab::{Netns, Process, wait_until};
use serde_json::{Value, json};

/// Client calls from the test thread (the socket is a file, so no namespace needed).
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(f)
}

struct Daemon {
    dir: tempfile::TempDir,
    process: Option<Process>,
}

impl Daemon {
    fn new(config: &Value) -> Daemon {
        let dir = tempfile::tempdir().expect("temp dir");
        let daemon = Daemon { dir, process: None };
        daemon.write_config(config);
        daemon
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("config.json")
    }
    fn socket(&self) -> PathBuf {
        self.dir.path().join("state/api.sock")
    }
    fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn write_config(&self, config: &Value) {
        routerd_contract::atomic::write_json_atomic(self.config(), config).expect("write config");
    }

    fn start(&mut self, ns: &Netns) {
        let bin = routerd_lab::bin("routerd-healthcheck");
        let process = ns.spawn(
            &[
                &bin.to_string_lossy(),
                "--config",
                &self.config().to_string_lossy(),
                "--socket",
                &self.socket().to_string_lossy(),
                "--state-dir",
                &self.state_dir().to_string_lossy(),
            ],
            &[("RUST_LOG", "info,routerd_healthcheck=debug")],
        );
        let client = self.client();
        wait_until("the contract socket to answer", SETTLE, || {
            assert!(process.is_running(), "daemon exited: {}", process.stderr());
            block_on(client.status()).ok()
        });
        self.process = Some(process);
    }

    fn process(&self) -> &Process {
        self.process.as_ref().expect("daemon started")
    }

    fn client(&self) -> Client {
        Client::new(self.socket()).with_timeout(Duration::from_secs(10))
    }

    fn status(&self) -> StatusEnvelope {
        block_on(self.client().status()).unwrap_or_else(|e| {
            panic!(
                "status failed: {e}; daemon stderr:\n{}",
                self.process().stderr()
            )
        })
    }

    fn wait_phase(&self, phase: &str) -> StatusEnvelope {
        wait_until(&format!("phase {phase}"), SETTLE, || {
            let status = self.status();
            (status.phase == phase).then_some(status)
        })
    }

    fn command(&self, command: Command) -> Result<Value, ClientError> {
        block_on(self.client().command(command))
    }

    fn file_events(&self) -> Vec<Event> {
        read_events(self.state_dir().join("events.jsonl")).expect("events.jsonl readable")
    }
}

fn topics(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            e.topic
                .trim_start_matches("routerd.healthcheck.wan.")
                .to_string()
        })
        .collect()
}

fn icmp_config(target: &str) -> Value {
    json!({
        "name": "wan", "protocol": "icmp", "target": target,
        // Short, but with room for a loaded 2-core CI machine: a late reply
        // would be a spurious failure.
        "intervalMs": 300, "timeoutMs": 250,
        "healthyThreshold": 2, "unhealthyThreshold": 2
    })
}

#[test]
fn daemon_end_to_end() {
    let lab = Lab::new("hcd");
    let mut daemon = Daemon::new(&icmp_config(PEER_V4));
    daemon.start(&lab.hc);

    // Healthy, with events in the file and on /v1/events.
    let status = daemon.wait_phase("Healthy");
    assert_eq!(status.daemon, "routerd-healthcheck");
    assert_eq!(status.instance, "wan");
    assert_eq!(status.status["resolvedTarget"], PEER_V4);
    assert_eq!(status.status["restored"], false);
    assert_eq!(status.status["spec"]["intervalMs"], 300);
    assert_eq!(block_on(daemon.client().healthz()).unwrap(), Health::Live);
    let events = daemon.file_events();
    assert_eq!(topics(&events)[..2], ["started", "healthy"]);
    assert_eq!(events[0].attributes["restored"], false);
    assert_eq!(events[1].reason, "BecameHealthy");
    assert_eq!(events[1].resource.as_deref(), Some("HealthCheck/wan"));
    assert_eq!(events[1].source, "routerd-healthcheck/wan");
    assert_eq!(events[1].attributes["from"], "Unknown");
    let page = block_on(daemon.client().events(0, None, None)).unwrap();
    assert_eq!(topics(&page.events)[..2], ["started", "healthy"]);

    // Link down: Unhealthy, with the failure in the event; renew reports it.
    lab.peer_link(false);
    daemon.wait_phase("Unhealthy");
    let page = block_on(
        daemon
            .client()
            .events(0, None, Some("routerd.healthcheck.wan.unhealthy")),
    )
    .unwrap();
    let event = page.events.first().expect("an unhealthy event");
    assert_eq!(event.reason, "BecameUnhealthy");
    assert_eq!(event.attributes["from"], "Healthy");
    assert!(
        event.attributes["error"]
            .as_str()
            .is_some_and(|e| e.contains(PEER_V4))
    );
    let renew = daemon.command(Command::Renew).unwrap();
    assert_eq!(renew["ok"], false, "{renew}");
    assert!(renew["error"].is_string(), "{renew}");
    assert_eq!(renew["phase"], "Unhealthy");

    lab.peer_link(true);
    daemon.wait_phase("Healthy");
    let renew = daemon.command(Command::Renew).unwrap();
    assert_eq!(renew["ok"], true, "{renew}");
    assert!(renew["rttMs"].as_f64().is_some(), "{renew}");

    // An invalid reload is refused and changes nothing.
    let mut bad = icmp_config(PEER_V6);
    bad["timeoutMs"] = json!(500);
    daemon.write_config(&bad);
    match daemon.command(Command::Reload) {
        Err(ClientError::Status { code, message }) => {
            assert_eq!(code.as_u16(), 500);
            assert!(message.contains("timeoutMs"), "{message}");
        }
        other => panic!("invalid reload answered {other:?}"),
    }
    assert_eq!(daemon.status().status["spec"]["target"], PEER_V4);

    // A valid reload with a new target takes effect at once.
    daemon.write_config(&icmp_config(PEER_V6));
    let answer = daemon.command(Command::Reload).unwrap();
    assert_eq!(answer["probeChanged"], true, "{answer}");
    wait_until("the new target to answer twice", SETTLE, || {
        let status = daemon.status().status;
        (status["resolvedTarget"] == PEER_V6 && status["consecutiveSuccesses"].as_u64() >= Some(2))
            .then_some(())
    });
    assert_eq!(daemon.status().phase, "Healthy");
    assert!(topics(&daemon.file_events()).contains(&"reloaded".to_string()));

    // kill -9 and restart: the phase comes back from status.json, no flap.
    let before = daemon.file_events().len();
    daemon.process().kill9();
    daemon.start(&lab.hc);
    let status = daemon.status();
    assert_eq!(status.phase, "Healthy", "{:?}", status.status);
    assert_eq!(status.status["restored"], true);
    let probes = status.status["counters"]["probes"].as_u64().unwrap();
    wait_until("a few more probes", SETTLE, || {
        let now = daemon.status().status["counters"]["probes"]
            .as_u64()
            .unwrap();
        (now >= probes + 3).then_some(())
    });
    let after = daemon.file_events();
    assert_eq!(
        topics(&after[before..]),
        ["started"],
        "only a start after the restart: {after:#?}"
    );
    assert_eq!(after[before].attributes["restored"], true);
    assert_eq!(after[before].attributes["phase"], "Healthy");
    assert!(after[before].seq > after[before - 1].seq);

    // stop: answers, then the process exits cleanly and removes its socket.
    let answer = daemon.command(Command::Stop).unwrap();
    assert_eq!(answer["stopping"], true);
    let exit = daemon
        .process()
        .wait_exit(SETTLE)
        .expect("daemon exits after stop");
    assert!(exit.success(), "{exit:?}: {}", daemon.process().stderr());
    assert!(!daemon.socket().exists());
    assert_eq!(
        topics(&daemon.file_events()).last().map(String::as_str),
        Some("stopped")
    );
}

#[test]
fn sigterm_stops_cleanly_and_saves_state() {
    let lab = Lab::new("hct");
    let mut daemon = Daemon::new(&icmp_config(PEER_V4));
    daemon.start(&lab.hc);
    daemon.wait_phase("Healthy");
    daemon.process().signal(libc::SIGTERM);
    let exit = daemon
        .process()
        .wait_exit(SETTLE)
        .expect("daemon exits on SIGTERM");
    assert!(exit.success(), "{exit:?}: {}", daemon.process().stderr());
    let saved: Value = routerd_contract::atomic::read_json(daemon.state_dir().join("status.json"))
        .unwrap()
        .expect("status.json written");
    assert_eq!(saved["phase"], "Healthy");
    assert_eq!(saved["name"], "wan");
    assert!(saved["lastTransition"]["time"].is_string(), "{saved}");
}

#[test]
fn unreachable_gateway_is_a_failed_probe_not_a_crash() {
    let lab = Lab::new("hcg");
    let mut daemon = Daemon::new(&json!({
        "name": "wan", "protocol": "icmp", "intervalMs": 200, "timeoutMs": 150,
        "healthyThreshold": 1, "unhealthyThreshold": 2
    }));
    daemon.start(&lab.hc);
    let status = daemon.wait_phase("Unhealthy");
    let error = status.status["lastResult"]["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(error.contains("no IPv4 default gateway"), "{error}");
    assert!(daemon.process().is_running());

    // Once a default route appears, the gateway is found and answers.
    lab.hc
        .ip(&format!("route add default via {PEER_V4} dev hc0"));
    let status = daemon.wait_phase("Healthy");
    assert_eq!(status.status["resolvedTarget"], PEER_V4);
    assert_eq!(status.status["targetOrigin"], "defaultGateway");
}

#[test]
fn invalid_config_fails_at_start_with_a_clear_error() {
    let lab = Lab::new("hci");
    let daemon = Daemon::new(&json!({"name": "wan", "protocol": "tcp", "target": PEER_V4}));
    let bin = routerd_lab::bin("routerd-healthcheck");
    let out = lab.hc.exec(&[
        &bin.to_string_lossy(),
        "--config",
        &daemon.config().to_string_lossy(),
        "--socket",
        &daemon.socket().to_string_lossy(),
        "--state-dir",
        &daemon.state_dir().to_string_lossy(),
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("tcp needs a port"), "{stderr}");
    assert!(!Path::new(&daemon.socket()).exists());
}
