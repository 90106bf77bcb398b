use std::fs;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use super::file::{rotate, rotated_path};
use super::*;

fn ev(topic: &str) -> NewEvent {
    NewEvent::new(topic, "Test")
}

fn seqs(events: &[Event]) -> Vec<u64> {
    events.iter().map(|e| e.seq).collect()
}

fn open(path: &Path) -> Arc<EventLog> {
    EventLog::open(path, "test", Rotation::default()).unwrap()
}

#[test]
fn append_assigns_seq_time_and_source() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(&dir.path().join("events.jsonl"));
    let e = log.append(ev("a.b").resource("Interface/lan")).unwrap();
    assert_eq!(e.seq, 1);
    assert_eq!(e.source, "test");
    assert!(humantime::parse_rfc3339(&e.time).is_ok(), "{}", e.time);
    assert!(e.time.ends_with('Z') && e.time.len() == "2026-11-23T10:00:00.123Z".len());
    assert_eq!(log.append(ev("a.c")).unwrap().seq, 2);
    assert_eq!(log.last_seq(), 2);
    assert_eq!(read_events(log.path()).unwrap().len(), 2);
}

#[test]
fn seq_is_monotonic_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.jsonl");
    {
        let log = open(&path);
        for _ in 0..3 {
            log.append(ev("a")).unwrap();
        }
    }
    let log = open(&path);
    assert_eq!(log.last_seq(), 3);
    assert_eq!(log.append(ev("a")).unwrap().seq, 4);
    assert_eq!(seqs(&log.since(0, None, 100)), vec![1, 2, 3, 4]);
}

#[test]
fn torn_last_line_is_truncated_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.jsonl");
    {
        let log = open(&path);
        log.append(ev("a")).unwrap();
        log.append(ev("a")).unwrap();
    }
    let mut f = fs::OpenOptions::new().append(true).open(&path).unwrap();
    f.write_all(br#"{"seq":3,"time":"2026-"#).unwrap();
    drop(f);

    let log = open(&path);
    assert_eq!(log.last_seq(), 2);
    assert_eq!(log.append(ev("a")).unwrap().seq, 3);
    let text = fs::read_to_string(&path).unwrap();
    assert!(text.ends_with('\n'));
    for line in text.lines() {
        serde_json::from_str::<Event>(line).unwrap();
    }
    assert_eq!(seqs(&read_events(&path).unwrap()), vec![1, 2, 3]);
}

#[test]
fn unparsable_last_line_is_truncated_but_middle_garbage_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.jsonl");
    open(&path).append(ev("a")).unwrap();
    let mut f = fs::OpenOptions::new().append(true).open(&path).unwrap();
    f.write_all(b"{not json}\n").unwrap();
    drop(f);

    // Last line, even newline-terminated: cut off so the log ends on a good event.
    open(&path).append(ev("a")).unwrap();
    assert!(!fs::read_to_string(&path).unwrap().contains("not json"));

    // In the middle: skipped by readers, left in place, never fatal.
    let text = fs::read_to_string(&path).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.insert(1, r#"{"seq": "broken"}"#);
    fs::write(&path, lines.join("\n") + "\n").unwrap();
    let log = open(&path);
    assert_eq!(log.last_seq(), 2);
    assert_eq!(log.append(ev("a")).unwrap().seq, 3);
    assert_eq!(seqs(&log.since(0, None, 100)), vec![1, 2, 3]);
    assert!(fs::read_to_string(&path).unwrap().contains("broken"));
    assert_eq!(seqs(&read_events(&path).unwrap()), vec![1, 2, 3]);
}

#[test]
fn only_the_last_bad_line_is_cut() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.jsonl");
    open(&path).append(ev("a")).unwrap();
    let mut f = fs::OpenOptions::new().append(true).open(&path).unwrap();
    f.write_all(b"garbage\n{\"seq\":2,\"ti").unwrap();
    drop(f);
    let log = open(&path);
    assert_eq!(log.append(ev("a")).unwrap().seq, 2);
    let text = fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 3, "{text}");
    assert_eq!(text.lines().nth(1), Some("garbage"));
    assert_eq!(seqs(&read_events(&path).unwrap()), vec![1, 2]);
}

#[test]
fn rotation_keeps_seq_continuity_and_since_reads_rotated_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.jsonl");
    let rotation = Rotation {
        max_bytes: 400,
        keep: 2,
    };
    let log = EventLog::open_with_capacity(&path, "test", rotation, 2).unwrap();
    for i in 0..20 {
        log.append(ev("a.b").attr("i", i)).unwrap();
    }
    assert!(rotated_path(&path, 1).exists());
    assert!(rotated_path(&path, 2).exists());
    assert!(!rotated_path(&path, 3).exists());
    for p in [&path, &rotated_path(&path, 1), &rotated_path(&path, 2)] {
        assert!(fs::metadata(p).unwrap().len() <= 400);
    }

    // The ring holds 2 events; older ones come from disk, oldest files dropped.
    let all = log.since(0, None, 100);
    let first = all[0].seq;
    assert!(first > 1, "oldest file should have been dropped");
    assert_eq!(seqs(&all), (first..=20).collect::<Vec<_>>());
    assert_eq!(
        seqs(&log.since(first + 1, None, 3)),
        vec![first + 2, first + 3, first + 4]
    );
    assert_eq!(seqs(&log.since(18, None, 100)), vec![19, 20]);

    drop(log);
    let log = EventLog::open_with_capacity(&path, "test", rotation, 2).unwrap();
    assert_eq!(log.append(ev("a")).unwrap().seq, 21);

    // A crash right after a rotation leaves an empty (or missing) live file.
    drop(log);
    rotate(&path, 2).unwrap();
    assert!(!path.exists());
    let log = EventLog::open_with_capacity(&path, "test", rotation, 2).unwrap();
    assert_eq!(log.last_seq(), 21);
    assert_eq!(log.append(ev("a")).unwrap().seq, 22);
    assert_eq!(seqs(&log.since(19, None, 100)), vec![20, 21, 22]);
}

#[test]
fn topic_filter_limit_and_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(&dir.path().join("events.jsonl"));
    for topic in ["r.lan.up", "r.wan.up", "r.lan.down", "r.lan.up", "x.y"] {
        log.append(ev(topic)).unwrap();
    }
    let ups = TopicGlob::parse("**.up").unwrap();
    assert_eq!(seqs(&log.since(0, Some(&ups), 100)), vec![1, 2, 4]);
    let page = log.page(0, Some(&ups), 2);
    assert_eq!(seqs(&page.events), vec![1, 2]);
    assert_eq!(
        page.last_seq, 2,
        "a full page continues from its last event"
    );
    let page = log.page(2, Some(&ups), 2);
    assert_eq!(seqs(&page.events), vec![4]);
    assert_eq!(
        page.last_seq, 5,
        "a short page continues from the log's end"
    );
    assert!(log.page(5, None, 10).events.is_empty());
    assert_eq!(log.page(9, None, 10).last_seq, 5);
}

#[test]
fn append_foreign_keeps_origin_and_records_source_seq() {
    let dir = tempfile::tempdir().unwrap();
    let theirs = open(&dir.path().join("theirs.jsonl"));
    let ours = open(&dir.path().join("ours.jsonl"));
    ours.append(ev("r.mine")).unwrap();
    for _ in 0..5 {
        theirs.append(ev("hc.up")).unwrap();
    }
    let original = theirs.since(4, None, 1).remove(0);
    let copy = ours.append_foreign(original.clone()).unwrap();
    assert_eq!(copy.seq, 2);
    assert_eq!(copy.time, original.time);
    assert_eq!(copy.source, original.source);
    assert_eq!(copy.topic, "hc.up");
    assert_eq!(copy.attributes["sourceSeq"], serde_json::json!(5));
}

#[test]
fn invalid_topic_is_rejected_without_consuming_a_seq() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(&dir.path().join("events.jsonl"));
    assert!(matches!(
        log.append(ev("a..b")),
        Err(EventLogError::InvalidTopic { .. })
    ));
    assert_eq!(log.append(ev("a.b")).unwrap().seq, 1);
}

#[test]
fn concurrent_appends_are_gap_free() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(&dir.path().join("events.jsonl"));
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..25 {
                    log.append(ev("a")).unwrap();
                }
            });
        }
    });
    assert_eq!(
        seqs(&read_events(log.path()).unwrap()),
        (1..=100).collect::<Vec<_>>()
    );
}

#[tokio::test(start_paused = true)]
async fn wait_since_returns_early_on_a_matching_event() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(&dir.path().join("events.jsonl"));
    log.append(ev("r.old")).unwrap();
    let writer = Arc::clone(&log);
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        writer.append(ev("r.other")).unwrap();
        tokio::time::sleep(Duration::from_secs(1)).await;
        writer.append(ev("r.wanted")).unwrap();
    });
    let start = tokio::time::Instant::now();
    let glob = TopicGlob::parse("r.wanted").unwrap();
    let got = log
        .wait_since(1, Some(&glob), Duration::from_secs(60))
        .await;
    assert_eq!(seqs(&got), vec![3]);
    assert_eq!(start.elapsed(), Duration::from_secs(2));
}

#[tokio::test(start_paused = true)]
async fn wait_since_returns_existing_events_at_once_and_empty_on_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(&dir.path().join("events.jsonl"));
    log.append(ev("a")).unwrap();
    let start = tokio::time::Instant::now();
    assert_eq!(
        seqs(&log.wait_since(0, None, Duration::from_secs(5)).await),
        vec![1]
    );
    assert_eq!(start.elapsed(), Duration::ZERO);
    let page = log.wait_page(1, None, 10, Duration::from_secs(5)).await;
    assert!(page.events.is_empty());
    assert_eq!(page.last_seq, 1);
    assert_eq!(start.elapsed(), Duration::from_secs(5));
}

#[tokio::test]
async fn subscribe_streams_new_events_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(&dir.path().join("events.jsonl"));
    let mut rx = log.subscribe();
    assert_eq!(log.subscriber_count(), 1);
    log.append(ev("a")).unwrap();
    log.append(ev("b")).unwrap();
    assert_eq!(rx.recv().await.unwrap().topic, "a");
    assert_eq!(rx.recv().await.unwrap().topic, "b");
}

#[test]
fn a_batch_is_committed_with_consecutive_seqs_and_seen_by_readers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.jsonl");
    let log = open(&path);
    log.append(ev("a.first")).unwrap();
    let mut live = log.subscribe();
    let batch = log
        .append_batch(vec![ev("a.one"), ev("a.two"), ev("a.three")])
        .unwrap();
    assert_eq!(seqs(&batch), vec![2, 3, 4]);
    assert_eq!(log.last_seq(), 4);
    assert_eq!(seqs(&log.since(1, None, 10)), vec![2, 3, 4]);
    for want in 2..=4 {
        assert_eq!(live.try_recv().unwrap().seq, want);
    }
    assert!(log.append_batch(Vec::new()).unwrap().is_empty());
    // A bad topic anywhere refuses the whole batch.
    assert!(
        log.append_batch(vec![ev("a.ok"), ev("bad..topic")])
            .is_err()
    );
    assert_eq!(log.last_seq(), 4);
    drop(log);
    let log = open(&path);
    assert_eq!(seqs(&read_events(&path).unwrap()), vec![1, 2, 3, 4]);
    assert_eq!(log.append(ev("a.after")).unwrap().seq, 5);
}
