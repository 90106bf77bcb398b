//! Every endpoint called through `Client` and as curl would, on a real Unix socket.

mod common;

use std::sync::atomic::Ordering;

use common::{Harness, raw, request};
use http::{Method, StatusCode};
use routerd_contract::ClientError;
use routerd_contract::NewEvent;
use routerd_contract::server::{Command, Health};

#[tokio::test]
async fn status_through_client_and_raw() {
    let h = Harness::start().await;
    h.log
        .append(NewEvent::new("healthcheck.wan.up", "ProbeOk"))
        .unwrap();

    let status = h.client.status().await.unwrap();
    assert_eq!(status.daemon, "routerd-healthcheck");
    assert_eq!(status.instance, "wan-check");
    assert_eq!(status.pid, std::process::id());
    assert_eq!(status.phase, "Probing");
    assert_eq!(status.last_event_seq, 1);
    assert_eq!(status.status["target"], "192.0.2.1");
    assert!(humantime::parse_rfc3339(&status.started_at).is_ok());

    let r = raw(&h.socket, &request("GET", "/v1/status", "", b"")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let body = r.json();
    for key in [
        "daemon",
        "instance",
        "version",
        "pid",
        "startedAt",
        "phase",
        "lastEventSeq",
        "status",
    ] {
        assert!(body.get(key).is_some(), "missing {key} in {body}");
    }
    h.stop().await.unwrap();
}

#[tokio::test]
async fn healthz_live_and_unhealthy() {
    let h = Harness::start().await;
    assert_eq!(h.client.healthz().await.unwrap(), Health::Live);
    let r = raw(&h.socket, &request("GET", "/v1/healthz", "", b"")).await;
    assert_eq!(
        (r.status, r.json()),
        (200, serde_json::json!({"status": "ok"}))
    );

    *h.daemon.health.lock().unwrap() = Health::Unhealthy("probe loop stalled".into());
    assert_eq!(
        h.client.healthz().await.unwrap(),
        Health::Unhealthy("probe loop stalled".into())
    );
    let r = raw(&h.socket, &request("GET", "/v1/healthz", "", b"")).await;
    assert_eq!(r.status, 503);
    assert_eq!(
        r.json(),
        serde_json::json!({"status": "unhealthy", "reason": "probe loop stalled"})
    );
    h.stop().await.unwrap();
}

#[tokio::test]
async fn commands_done_unsupported_failed_unknown() {
    let h = Harness::start().await;
    let detail = h.client.command(Command::Reload).await.unwrap();
    assert_eq!(detail, serde_json::json!({"reloaded": true}));
    let r = raw(&h.socket, &request("POST", "/v1/commands/reload", "", b"")).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json(),
        serde_json::json!({"command": "reload", "result": "done", "detail": {"reloaded": true}})
    );

    match h.client.command(Command::Renew).await.unwrap_err() {
        ClientError::Status { code, message } => {
            assert_eq!(code, StatusCode::CONFLICT);
            assert_eq!(message, "a health check has no lease");
        }
        other => panic!("expected 409, got {other}"),
    }
    let r = raw(&h.socket, &request("POST", "/v1/commands/renew", "", b"")).await;
    assert_eq!(r.status, 409);
    assert_eq!(r.json()["command"], "renew");

    h.daemon.reload_fails.store(true, Ordering::SeqCst);
    let r = raw(&h.socket, &request("POST", "/v1/commands/reload", "", b"")).await;
    assert_eq!(r.status, 500);
    assert_eq!(r.json()["error"], "config file unreadable");

    let r = raw(&h.socket, &request("POST", "/v1/commands/restart", "", b"")).await;
    assert_eq!(r.status, 404);
    let error = r.json()["error"].as_str().unwrap().to_string();
    assert!(
        error.contains("restart") && error.contains("reload, renew, stop"),
        "{error}"
    );
    h.stop().await.unwrap();
}

#[tokio::test]
async fn command_bodies_are_ignored_but_limited() {
    let h = Harness::start().await;
    let garbage = b"\x00\xff{{{ not json at all";
    let r = raw(
        &h.socket,
        &request(
            "POST",
            "/v1/commands/reload",
            "Content-Type: application/json\r\n",
            garbage,
        ),
    )
    .await;
    assert_eq!(r.status, 200);

    // Announce 17 MiB but send only a little: the server must answer 413 from the
    // length alone and keep running.
    let head = format!(
        "POST /v1/commands/reload HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        17 * 1024 * 1024
    );
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(&[b'x'; 4096]);
    let r = raw(&h.socket, &bytes).await;
    assert_eq!(r.status, 413);
    assert!(r.json()["error"].as_str().unwrap().contains("larger than"));

    assert_eq!(h.client.healthz().await.unwrap(), Health::Live);
    h.stop().await.unwrap();
}

#[tokio::test]
async fn unknown_path_wrong_method_and_malformed_http() {
    let h = Harness::start().await;
    let r = raw(&h.socket, &request("GET", "/v2/nothing", "", b"")).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"], "no such endpoint: /v2/nothing");

    let r = raw(&h.socket, &request("POST", "/v1/status", "", b"")).await;
    assert_eq!(r.status, 405);
    let error = r.json()["error"].as_str().unwrap().to_string();
    assert!(
        error.contains("POST") && error.contains("/v1/status"),
        "{error}"
    );
    assert!(r.header("allow").is_some_and(|a| a.contains("GET")));

    let r = raw(&h.socket, &request("GET", "/v1/commands/reload", "", b"")).await;
    assert_eq!(r.status, 405);
    assert_eq!(r.header("content-type"), Some("application/json"));

    let (code, _) = h
        .client
        .request_raw(Method::DELETE, "/v1/events", None, None)
        .await
        .unwrap();
    assert_eq!(code, StatusCode::METHOD_NOT_ALLOWED);

    // Not HTTP at all: hyper answers 400 and closes; the server carries on.
    let r = raw(&h.socket, b"\x16\x03\x01 this is not http\r\n\r\n").await;
    assert_eq!(r.status, 400);
    assert_eq!(h.client.healthz().await.unwrap(), Health::Live);
    h.stop().await.unwrap();
}

#[tokio::test]
async fn events_pages_filters_and_bad_queries() {
    let h = Harness::start().await;
    for (topic, reason) in [
        ("healthcheck.wan.up", "ProbeOk"),
        ("healthcheck.wan.down", "ProbeFailed"),
        ("healthcheck.lan.up", "ProbeOk"),
    ] {
        h.log
            .append(NewEvent::new(topic, reason).resource("HealthCheck/wan-check"))
            .unwrap();
    }
    let page = h.client.events(0, None, None).await.unwrap();
    assert_eq!(page.events.len(), 3);
    assert_eq!(page.last_seq, 3);
    assert_eq!(page.events[1].reason, "ProbeFailed");
    assert_eq!(page.events[1].source, "routerd-healthcheck/wan-check");

    let page = h
        .client
        .events(0, None, Some("healthcheck.*.up"))
        .await
        .unwrap();
    let seqs: Vec<u64> = page.events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, vec![1, 3]);

    let r = raw(
        &h.socket,
        &request("GET", "/v1/events?since=1&limit=1&topic=**.up", "", b""),
    )
    .await;
    assert_eq!(r.status, 200);
    let body = r.json();
    assert_eq!(body["events"][0]["seq"], 3);
    assert_eq!(body["events"][0]["type"], "healthcheck.lan.up");
    assert_eq!(body["lastSeq"], 3);

    for (query, param) in [
        ("since=minus-one", "since"),
        ("wait=later", "wait"),
        ("topic=a..b", "topic"),
        ("limit=0", "limit"),
        ("follow=perhaps", "follow"),
    ] {
        let r = raw(
            &h.socket,
            &request("GET", &format!("/v1/events?{query}"), "", b""),
        )
        .await;
        assert_eq!(r.status, 400, "{query}");
        let error = r.json()["error"].as_str().unwrap().to_string();
        assert!(error.starts_with(param), "{query}: {error}");
    }
    match h.client.events(0, None, Some("a..b")).await.unwrap_err() {
        ClientError::Status { code, message } => {
            assert_eq!(code, StatusCode::BAD_REQUEST);
            assert!(message.contains("topic"), "{message}");
        }
        other => panic!("expected 400, got {other}"),
    }
    h.stop().await.unwrap();
}

#[tokio::test]
async fn stop_command_answers_then_shuts_the_server_down() {
    let h = Harness::start().await;
    let detail = h.client.command(Command::Stop).await.unwrap();
    assert_eq!(detail, serde_json::json!({"stopping": true}));
    let socket = h.socket.clone();
    let mut server = h.server;
    tokio::time::timeout(common::DEADLINE, &mut server)
        .await
        .expect("server did not stop")
        .unwrap()
        .unwrap();
    assert!(!socket.exists(), "socket removed on shutdown");
}
