//! `EventLog`: the append-only `events.jsonl` with an in-memory tail for readers.

use std::collections::VecDeque;
use std::fs::File;
use std::io::Write;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use tokio::sync::{broadcast, watch};

use super::file;
use super::{Event, EventLogError, EventsPage, NewEvent, Rotation, topic_matches, validate_topic};
use crate::glob::TopicGlob;

/// How many recent events are kept in memory by default.
pub const DEFAULT_RING_CAPACITY: usize = 4096;

/// Most events [`EventLog::wait_since`] returns at once.
pub const MAX_PAGE: usize = 10_000;

/// Live followers that fall further behind than this skip ahead via [`EventLog::since`].
const LIVE_CHANNEL_CAPACITY: usize = 1024;

/// An append-only `events.jsonl`, shared by every task of one process.
///
/// Appends write and `fsync` one line under a mutex, so a returned event is durable and
/// seqs are gap-free and ordered. Readers are served from an in-memory ring of recent
/// events and fall back to the files on disk for older ones.
pub struct EventLog {
    path: PathBuf,
    source: String,
    rotation: Rotation,
    ring_capacity: usize,
    state: Mutex<State>,
    /// Readers of rotated files hold it shared; rotation holds it exclusively, so a
    /// reader never sees the files shift under it.
    files: RwLock<()>,
    live: broadcast::Sender<Event>,
    appended: watch::Sender<u64>,
}

struct State {
    file: File,
    size: u64,
    last_seq: u64,
    /// The newest events, a contiguous suffix of the log.
    ring: VecDeque<Event>,
}

impl EventLog {
    /// Opens (or creates) the log at `path`, appending as `source`, repairing a torn last line.
    pub fn open(
        path: impl AsRef<Path>,
        source: impl Into<String>,
        rotation: Rotation,
    ) -> Result<Arc<EventLog>, EventLogError> {
        EventLog::open_with_capacity(path, source, rotation, DEFAULT_RING_CAPACITY)
    }

    /// Like [`EventLog::open`], keeping `ring_capacity` recent events in memory.
    pub fn open_with_capacity(
        path: impl AsRef<Path>,
        source: impl Into<String>,
        rotation: Rotation,
        ring_capacity: usize,
    ) -> Result<Arc<EventLog>, EventLogError> {
        let path = path.as_ref().to_path_buf();
        let io_err = |source| EventLogError::Io {
            path: path.clone(),
            source,
        };
        let rotation = Rotation {
            keep: rotation.keep.max(1),
            ..rotation
        };
        let scan = file::scan_and_repair(&path, ring_capacity).map_err(io_err)?;
        let mut last_seq = scan.last_seq;
        // After a rotation the live file may be empty; the last seq is then in the newest
        // rotated file that has one.
        for n in 1..=rotation.keep {
            if last_seq.is_some() {
                break;
            }
            let rotated = file::rotated_path(&path, n);
            last_seq = file::last_seq(&rotated).map_err(|source| EventLogError::Io {
                path: rotated,
                source,
            })?;
        }
        let last_seq = last_seq.unwrap_or(0);
        let file = file::open_append(&path).map_err(io_err)?;
        Ok(Arc::new(EventLog {
            source: source.into(),
            rotation,
            ring_capacity,
            state: Mutex::new(State {
                file,
                size: scan.len,
                last_seq,
                ring: scan.tail,
            }),
            files: RwLock::new(()),
            live: broadcast::channel(LIVE_CHANNEL_CAPACITY).0,
            appended: watch::channel(last_seq).0,
            path,
        }))
    }

    /// Appends a new event from this log's source; returns it with its seq and time.
    ///
    /// Returns once the line is on disk (`fdatasync`), so it blocks briefly; that suits
    /// a router's event rate. Use `spawn_blocking` for bursts from latency-sensitive tasks.
    pub fn append(&self, event: NewEvent) -> Result<Event, EventLogError> {
        validate_topic(&event.topic)?;
        self.commit(Event {
            seq: 0,
            time: now_rfc3339(),
            source: self.source.clone(),
            topic: event.topic,
            resource: event.resource,
            reason: event.reason,
            message: event.message,
            attributes: event.attributes,
        })
    }

    /// Re-publishes another process's event: our next seq, its original seq kept as the
    /// attribute `sourceSeq`, everything else unchanged.
    pub fn append_foreign(&self, mut event: Event) -> Result<Event, EventLogError> {
        validate_topic(&event.topic)?;
        event
            .attributes
            .insert("sourceSeq".to_string(), event.seq.into());
        self.commit(event)
    }

    /// Appends several events from this log's source with one `fdatasync`
    /// for all of them: a reconcile that creates a thousand routes reports a
    /// thousand events without a thousand disk flushes. All or none are
    /// committed.
    pub fn append_batch(&self, events: Vec<NewEvent>) -> Result<Vec<Event>, EventLogError> {
        let time = now_rfc3339();
        let mut out = Vec::with_capacity(events.len());
        for event in events {
            validate_topic(&event.topic)?;
            out.push(Event {
                seq: 0,
                time: time.clone(),
                source: self.source.clone(),
                topic: event.topic,
                resource: event.resource,
                reason: event.reason,
                message: event.message,
                attributes: event.attributes,
            });
        }
        self.commit_all(out)
    }

    fn commit(&self, event: Event) -> Result<Event, EventLogError> {
        let mut committed = self.commit_all(vec![event])?;
        committed
            .pop()
            .ok_or_else(|| self.io_error(std::io::Error::other("nothing committed")))
    }

    fn commit_all(&self, mut events: Vec<Event>) -> Result<Vec<Event>, EventLogError> {
        if events.is_empty() {
            return Ok(events);
        }
        let mut state = self.lock();
        let mut lines = Vec::with_capacity(events.len());
        for (i, event) in events.iter_mut().enumerate() {
            event.seq = state.last_seq + 1 + i as u64;
            let mut line = serde_json::to_vec(&*event)?;
            line.push(b'\n');
            lines.push(line);
        }
        let total: u64 = lines.iter().map(|l| l.len() as u64).sum();
        // A batch is never split across files: rotate first if it would not fit.
        if state.size > 0 && state.size + total > self.rotation.max_bytes {
            self.rotate(&mut state)?;
        }
        let written = lines
            .iter()
            .try_for_each(|line| state.file.write_all(line))
            .and_then(|()| state.file.sync_data());
        if let Err(source) = written {
            // Leave the file ending on a whole line so the next append is not glued to
            // a fragment; the seqs are not consumed.
            let size = state.size;
            let _ = state.file.set_len(size);
            return Err(self.io_error(source));
        }
        state.size += total;
        if let Some(last) = events.last() {
            state.last_seq = last.seq;
        }
        for event in &events {
            if self.ring_capacity > 0 {
                if state.ring.len() >= self.ring_capacity {
                    state.ring.pop_front();
                }
                state.ring.push_back(event.clone());
            }
            // Sent under the lock so live followers see seqs in order.
            let _ = self.live.send(event.clone());
        }
        self.appended.send_replace(state.last_seq);
        Ok(events)
    }

    fn rotate(&self, state: &mut State) -> Result<(), EventLogError> {
        let _files = self.files.write().unwrap_or_else(PoisonError::into_inner);
        file::rotate(&self.path, self.rotation.keep).map_err(|e| self.io_error(e))?;
        state.file = file::open_append(&self.path).map_err(|e| self.io_error(e))?;
        state.size = 0;
        file::sync_parent(&self.path).map_err(|e| self.io_error(e))?;
        tracing::debug!(path = %self.path.display(), "rotated event log");
        Ok(())
    }

    /// Events with seq greater than `seq`, in order, optionally filtered, at most `limit`.
    pub fn since(&self, seq: u64, topic: Option<&TopicGlob>, limit: usize) -> Vec<Event> {
        self.page(seq, topic, limit).events
    }

    /// Like [`EventLog::since`], with the cursor to continue from.
    pub fn page(&self, seq: u64, topic: Option<&TopicGlob>, limit: usize) -> EventsPage {
        let state = self.lock();
        let upto = state.last_seq;
        let mut page = PageBuilder::new(seq, upto, topic, limit);
        if seq >= upto || limit == 0 {
            return page.finish();
        }
        // The ring is a contiguous suffix of the log, so it holds everything after
        // `seq` once its oldest entry is no newer than `seq + 1`.
        if state.ring.front().is_some_and(|e| e.seq <= seq + 1) {
            for event in &state.ring {
                if page.offer(event).is_break() {
                    break;
                }
            }
            return page.finish();
        }
        drop(state);
        self.read_disk(&mut page);
        page.finish()
    }

    /// Reads old events from the files. Runs without the state lock, so appends go on;
    /// only an append that has to rotate waits for it (holding up those behind it).
    fn read_disk(&self, page: &mut PageBuilder<'_>) {
        let _files = self.files.read().unwrap_or_else(PoisonError::into_inner);
        // Newest first: the live file, then .1, .2, ...
        let files: Vec<PathBuf> = std::iter::once(self.path.clone())
            .chain((1..=self.rotation.keep).map(|n| file::rotated_path(&self.path, n)))
            .collect();
        // Start at the newest file that begins at or before the first wanted seq; with
        // no such file (lost lines), start at the oldest one present.
        let mut start = 0;
        for (i, path) in files.iter().enumerate() {
            match file::first_seq(path) {
                Ok(Some(first)) => {
                    start = i;
                    if first <= page.since + 1 {
                        break;
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(path = %path.display(), "reading event log: {e}"),
            }
        }
        for path in files[..=start].iter().rev() {
            let result = file::visit_events(path, |event| page.offer(&event));
            if let Err(e) = result {
                tracing::warn!(path = %path.display(), "reading event log: {e}");
            }
            if page.done {
                break;
            }
        }
    }

    /// Waits up to `timeout` for an event after `seq` (matching `topic`); returns at
    /// most [`MAX_PAGE`] of them, or nothing at the timeout.
    pub async fn wait_since(
        &self,
        seq: u64,
        topic: Option<&TopicGlob>,
        timeout: Duration,
    ) -> Vec<Event> {
        self.wait_page(seq, topic, MAX_PAGE, timeout).await.events
    }

    /// Like [`EventLog::wait_since`], with a limit and the cursor to continue from.
    pub async fn wait_page(
        &self,
        seq: u64,
        topic: Option<&TopicGlob>,
        limit: usize,
        timeout: Duration,
    ) -> EventsPage {
        let deadline = tokio::time::Instant::now() + timeout;
        // Subscribed before the first look, so an append in between still wakes us.
        let mut appended = self.appended.subscribe();
        let mut cursor = seq;
        loop {
            let page = self.page(cursor, topic, limit);
            if !page.events.is_empty() {
                return page;
            }
            // Nothing matched up to the page's cursor; don't rescan it on the next wake.
            cursor = cursor.max(page.last_seq);
            let woke = tokio::time::timeout_at(deadline, appended.changed()).await;
            if !matches!(woke, Ok(Ok(()))) {
                return EventsPage {
                    events: Vec::new(),
                    last_seq: page.last_seq,
                };
            }
        }
    }

    /// A live stream of every event appended from now on, in seq order.
    ///
    /// A receiver that falls more than a thousand events behind gets `Lagged`; it can
    /// catch up with [`EventLog::since`].
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.live.subscribe()
    }

    /// How many live subscribers exist (followers on `/v1/events?follow=true` among them).
    pub fn subscriber_count(&self) -> usize {
        self.live.receiver_count()
    }

    /// How many callers are blocked in [`EventLog::wait_since`] / [`EventLog::wait_page`]
    /// (long-polls on `/v1/events?wait=`).
    pub fn waiter_count(&self) -> usize {
        self.appended.receiver_count()
    }

    /// The seq of the newest event, 0 for an empty log.
    pub fn last_seq(&self) -> u64 {
        self.lock().last_seq
    }

    /// The live file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The source name stamped on appended events.
    pub fn source(&self) -> &str {
        &self.source
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // State is only changed after a write succeeded, so a panic elsewhere while
        // holding the lock cannot leave it inconsistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn io_error(&self, source: std::io::Error) -> EventLogError {
        EventLogError::Io {
            path: self.path.clone(),
            source,
        }
    }
}

impl std::fmt::Debug for EventLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLog")
            .field("path", &self.path)
            .field("source", &self.source)
            .field("last_seq", &self.last_seq())
            .finish_non_exhaustive()
    }
}

/// Collects one page: events in `(since, upto]` matching `topic`, at most `limit`.
struct PageBuilder<'a> {
    since: u64,
    upto: u64,
    topic: Option<&'a TopicGlob>,
    limit: usize,
    events: Vec<Event>,
    /// Set once nothing further can be added (full, or past `upto`).
    done: bool,
}

impl<'a> PageBuilder<'a> {
    fn new(since: u64, upto: u64, topic: Option<&'a TopicGlob>, limit: usize) -> Self {
        PageBuilder {
            since,
            upto,
            topic,
            limit,
            events: Vec::new(),
            done: false,
        }
    }

    fn offer(&mut self, event: &Event) -> ControlFlow<()> {
        if event.seq > self.upto {
            self.done = true;
        } else if event.seq > self.since && topic_matches(self.topic, event) {
            self.events.push(event.clone());
            self.done = self.full();
        }
        if self.done {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }

    fn full(&self) -> bool {
        self.events.len() >= self.limit
    }

    fn finish(self) -> EventsPage {
        let last_seq = match self.events.last() {
            Some(last) if self.full() => last.seq,
            _ => self.upto,
        };
        EventsPage {
            events: self.events,
            last_seq,
        }
    }
}

/// Now as RFC 3339 UTC with milliseconds.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}
