//! Long-polls and NDJSON follow streams over the socket, and how shutdown ends them.

mod common;

use std::time::{Duration, Instant};

use common::{DEADLINE, Harness, parse_response, request, wait_until};
use futures::StreamExt;
use routerd_contract::{ClientError, Event, NewEvent};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

#[tokio::test]
async fn long_poll_blocks_until_a_matching_event() {
    let h = Harness::start().await;
    h.log
        .append(NewEvent::new("healthcheck.wan.up", "ProbeOk"))
        .unwrap();
    let client = h.client.clone();
    let started = Instant::now();
    let poll = tokio::spawn(async move {
        client
            .events(1, Some(Duration::from_secs(60)), Some("**.down"))
            .await
    });
    wait_until("the long-poll to wait", || h.log.waiter_count() == 1).await;
    assert!(!poll.is_finished());

    // A non-matching event does not end the poll.
    h.log
        .append(NewEvent::new("healthcheck.lan.up", "ProbeOk"))
        .unwrap();
    h.log
        .append(NewEvent::new("healthcheck.wan.down", "ProbeFailed"))
        .unwrap();
    let page = tokio::time::timeout(DEADLINE, poll)
        .await
        .expect("long-poll did not return")
        .unwrap()
        .unwrap();
    let seqs: Vec<u64> = page.events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, vec![3]);
    assert!(started.elapsed() < Duration::from_secs(60));
    h.stop().await.unwrap();
}

#[tokio::test]
async fn long_poll_times_out_empty() {
    let h = Harness::start().await;
    h.log
        .append(NewEvent::new("healthcheck.wan.up", "ProbeOk"))
        .unwrap();
    let started = Instant::now();
    let page = h
        .client
        .events(1, Some(Duration::from_millis(300)), None)
        .await
        .unwrap();
    assert!(page.events.is_empty());
    assert_eq!(page.last_seq, 1);
    assert!(started.elapsed() >= Duration::from_millis(300));

    // Events already there come back at once, wait or not.
    let page = h
        .client
        .events(0, Some(Duration::from_secs(60)), None)
        .await
        .unwrap();
    assert_eq!(page.events.len(), 1);
    h.stop().await.unwrap();
}

#[tokio::test]
async fn follow_streams_backlog_then_live_until_dropped() {
    let h = Harness::start().await;
    h.log
        .append(NewEvent::new("healthcheck.wan.up", "ProbeOk"))
        .unwrap();
    h.log
        .append(NewEvent::new("healthcheck.lan.up", "ProbeOk"))
        .unwrap();
    h.log
        .append(NewEvent::new("healthcheck.wan.down", "ProbeFailed"))
        .unwrap();

    let mut stream = h.client.follow(0, Some("healthcheck.wan.*"));
    let e = next(&mut stream).await;
    assert_eq!((e.seq, e.topic.as_str()), (1, "healthcheck.wan.up"));
    let e = next(&mut stream).await;
    assert_eq!(e.seq, 3);

    h.log
        .append(NewEvent::new("healthcheck.lan.down", "ProbeFailed"))
        .unwrap();
    h.log
        .append(NewEvent::new("healthcheck.wan.up", "ProbeOk").message("back"))
        .unwrap();
    let e = next(&mut stream).await;
    assert_eq!((e.seq, e.message.as_str()), (5, "back"));

    assert_eq!(h.log.subscriber_count(), 1);
    drop(stream);
    wait_until("the server to notice the follower left", || {
        h.log.subscriber_count() == 0
    })
    .await;
    h.stop().await.unwrap();
}

async fn next(
    stream: &mut (impl futures::Stream<Item = Result<Event, ClientError>> + Unpin),
) -> Event {
    tokio::time::timeout(DEADLINE, stream.next())
        .await
        .expect("no event in time")
        .expect("stream ended")
        .expect("a well-formed event")
}

#[tokio::test]
async fn follow_as_curl_sees_ndjson() {
    let h = Harness::start().await;
    h.log
        .append(NewEvent::new("healthcheck.wan.up", "ProbeOk"))
        .unwrap();
    let mut socket = UnixStream::connect(&h.socket).await.unwrap();
    socket
        .write_all(&request("GET", "/v1/events?since=0&follow=true", "", b""))
        .await
        .unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let mut appended = false;
    // Read until two event lines have arrived: the backlog one, then a live one.
    tokio::time::timeout(DEADLINE, async {
        loop {
            let n = socket.read(&mut buf).await.unwrap();
            assert!(n > 0, "stream closed early");
            answer.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&answer);
            if !appended && text.contains("\"seq\":1") {
                h.log
                    .append(NewEvent::new("healthcheck.wan.down", "ProbeFailed"))
                    .unwrap();
                appended = true;
            }
            if text.contains("\"seq\":2") {
                break;
            }
        }
    })
    .await
    .expect("events did not stream");
    let r = parse_response(&answer);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/x-ndjson"));
    let text = String::from_utf8(r.body).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1]["type"], "healthcheck.wan.down");
    drop(socket);
    h.stop().await.unwrap();
}

#[tokio::test]
async fn shutdown_ends_follow_streams_and_long_polls() {
    let h = Harness::start().await;
    let mut stream = h.client.follow(0, None);
    let follower = tokio::spawn(async move {
        let mut received = 0;
        while let Some(item) = stream.next().await {
            item.unwrap();
            received += 1;
        }
        received
    });
    let client = h.client.clone();
    let poll =
        tokio::spawn(async move { client.events(0, Some(Duration::from_secs(300)), None).await });
    wait_until("a follower and a waiter", || {
        h.log.subscriber_count() == 1 && h.log.waiter_count() == 1
    })
    .await;

    let socket = h.socket.clone();
    h.stop().await.unwrap();
    let received = tokio::time::timeout(DEADLINE, follower)
        .await
        .expect("follow stream did not end")
        .unwrap();
    assert_eq!(received, 0);
    let page = tokio::time::timeout(DEADLINE, poll)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(page.events.is_empty());
    assert!(!socket.exists());
}

#[tokio::test]
async fn a_quiet_follow_stream_does_not_time_out() {
    let h = Harness::start().await;
    // The client's timeout covers only the response head, which the server sends at once.
    let client = h.client.clone().with_timeout(Duration::from_millis(200));
    let mut stream = client.follow(0, None);
    let quiet = tokio::time::timeout(Duration::from_millis(600), stream.next()).await;
    assert!(quiet.is_err(), "expected no item yet, got {:?}", quiet.ok());
    h.log
        .append(NewEvent::new("healthcheck.wan.up", "ProbeOk"))
        .unwrap();
    assert_eq!(next(&mut stream).await.seq, 1);
    h.stop().await.unwrap();
}
