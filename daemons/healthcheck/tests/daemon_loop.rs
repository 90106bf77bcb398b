//! The probe loop and contract handle in paused tokio time, without sockets:
//! every spec here is either disabled or never run, so nothing is sent.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use routerd_contract::event::{EventLog, Rotation, read_events};
use routerd_contract::server::{Command, CommandOutcome, Daemon, Health};
use routerd_healthcheck::daemon::{self, HealthCheck, ProbeLoop, Shutdown};
use routerd_healthcheck::spec::ProbeSpec;
use serde_json::{Value, json};

fn write(path: &Path, value: &Value) {
    std::fs::write(path, value.to_string()).expect("write test file");
}

fn disabled() -> Value {
    json!({
        "name": "lan", "protocol": "icmp", "target": "192.0.2.1",
        "intervalMs": 100, "timeoutMs": 10, "enabled": false
    })
}

fn start(dir: &Path, config: &Value) -> (Arc<HealthCheck>, ProbeLoop, Shutdown) {
    let path = dir.join("config.json");
    write(&path, config);
    let spec = ProbeSpec::load(&path).expect("valid spec");
    let events =
        EventLog::open(dir.join("events.jsonl"), "test", Rotation::default()).expect("event log");
    let shutdown = Shutdown::new();
    let (handle, probe_loop) =
        daemon::start(&path, spec, dir, events, shutdown.clone()).expect("daemon starts");
    (handle, probe_loop, shutdown)
}

#[tokio::test(start_paused = true)]
async fn health_turns_unhealthy_when_the_loop_stalls() {
    let dir = tempfile::tempdir().unwrap();
    let (handle, probe_loop, _shutdown) = start(dir.path(), &disabled());
    assert_eq!(handle.health(), Health::Live);
    let task = tokio::spawn(probe_loop.run());
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(handle.health(), Health::Live, "a ticking loop is live");

    task.abort();
    let _ = task.await;
    // Stall limit: 2 x 100 ms + 10 ms; the last tick was at most 100 ms ago.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(handle.health(), Health::Live);
    tokio::time::sleep(Duration::from_millis(200)).await;
    match handle.health() {
        Health::Unhealthy(why) => assert!(why.contains("has not ticked"), "{why}"),
        Health::Live => panic!("a stalled loop is still live"),
    }
    assert!(matches!(
        handle.command(Command::Renew).await,
        CommandOutcome::Failed(_)
    ));
}

#[tokio::test(start_paused = true)]
async fn commands_reload_renew_and_stop() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.json");
    let (handle, probe_loop, shutdown) = start(dir.path(), &disabled());
    let task = tokio::spawn(probe_loop.run());

    match handle.command(Command::Renew).await {
        CommandOutcome::Unsupported(why) => assert!(why.contains("disabled"), "{why}"),
        other => panic!("renew on a disabled check: {other:?}"),
    }

    write(
        &config,
        &json!({"name": "lan", "protocol": "icmp", "intervalMs": 100, "timeoutMs": 100}),
    );
    match handle.command(Command::Reload).await {
        CommandOutcome::Failed(why) => {
            assert!(
                why.contains("timeoutMs") && why.contains("keeping the previous spec"),
                "{why}"
            )
        }
        other => panic!("invalid reload: {other:?}"),
    }

    let mut renamed = disabled();
    renamed["name"] = json!("other");
    write(&config, &renamed);
    assert!(matches!(
        handle.command(Command::Reload).await,
        CommandOutcome::Failed(_)
    ));

    let mut slower = disabled();
    slower["intervalMs"] = json!(500);
    slower["healthyThreshold"] = json!(5);
    write(&config, &slower);
    match handle.command(Command::Reload).await {
        CommandOutcome::Done(answer) => assert_eq!(answer["probeChanged"], false, "{answer}"),
        other => panic!("valid reload: {other:?}"),
    }
    let status = handle.status().await;
    assert_eq!(status.phase, "Unknown");
    assert_eq!(status.detail["spec"]["intervalMs"], 500);
    assert_eq!(status.detail["spec"]["healthyThreshold"], 5);
    assert_eq!(status.detail["restored"], false);

    assert!(matches!(
        handle.command(Command::Stop).await,
        CommandOutcome::Done(_)
    ));
    assert!(shutdown.is_triggered());
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the loop ends after stop")
        .unwrap();
    let topics: Vec<String> = read_events(dir.path().join("events.jsonl"))
        .unwrap()
        .into_iter()
        .map(|e| e.topic)
        .collect();
    assert_eq!(
        topics,
        [
            "routerd.healthcheck.lan.started",
            "routerd.healthcheck.lan.reloaded",
            "routerd.healthcheck.lan.stopped"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn state_is_restored_from_status_json() {
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join(daemon::STATUS_FILE),
        &json!({
            "version": 1, "name": "lan", "savedAt": "2026-01-01T00:00:00.000Z",
            "phase": "Unhealthy", "consecutiveSuccesses": 0, "consecutiveFailures": 7,
            "counters": {"probes": 9, "successes": 2, "failures": 7, "transitions": 2},
            "lastTransition": {"time": "2026-01-01T00:00:00.000Z", "from": "Healthy", "to": "Unhealthy", "reason": "BecameUnhealthy"}
        }),
    );
    let mut enabled = disabled();
    enabled["enabled"] = json!(true);
    // Not run: only what start restored is looked at.
    let (handle, _probe_loop, _shutdown) = start(dir.path(), &enabled);
    let status = handle.status().await;
    assert_eq!(status.phase, "Unhealthy");
    assert_eq!(status.detail["restored"], true);
    assert_eq!(status.detail["counters"]["probes"], 9);
    assert_eq!(status.detail["lastTransition"]["reason"], "BecameUnhealthy");
    let events = read_events(dir.path().join("events.jsonl")).unwrap();
    assert_eq!(events[0].attributes["restored"], true);

    // Someone else's state file is not taken over.
    let other = tempfile::tempdir().unwrap();
    std::fs::copy(
        dir.path().join(daemon::STATUS_FILE),
        other.path().join(daemon::STATUS_FILE),
    )
    .unwrap();
    let mut renamed = enabled.clone();
    renamed["name"] = json!("wan");
    let (handle, _probe_loop, _shutdown) = start(other.path(), &renamed);
    let status = handle.status().await;
    assert_eq!(status.phase, "Unknown");
    assert_eq!(status.detail["restored"], false);
    let events = read_events(other.path().join("events.jsonl")).unwrap();
    assert!(
        events[0].attributes["restoreProblem"]
            .as_str()
            .is_some_and(|p| p.contains("lan"))
    );
}
