//! Events: the record every daemon appends to its `events.jsonl` and serves on `/v1/events`.

mod file;
mod log;

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::glob::TopicGlob;

pub use log::{DEFAULT_RING_CAPACITY, EventLog, MAX_PAGE, now_rfc3339};

/// One line of `events.jsonl` and one element of `/v1/events`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Monotonic per log, starting at 1; survives restarts and rotation.
    pub seq: u64,
    /// RFC 3339 UTC with milliseconds, e.g. `2026-11-23T10:00:00.123Z`.
    pub time: String,
    /// Who produced it: `routerd`, `routerd-healthcheck/wan-check`.
    pub source: String,
    /// Dotted event type, e.g. `routerd.interface.lan.up`; subscriptions glob on it.
    #[serde(rename = "type")]
    pub topic: String,
    /// The resource it concerns, e.g. `Interface/lan`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// Short CamelCase reason, e.g. `LinkUp`.
    pub reason: String,
    /// Human-readable detail.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// Structured detail.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, serde_json::Value>,
}

/// An event before the log assigns its `seq`, `time` and `source`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NewEvent {
    /// Dotted event type.
    pub topic: String,
    /// The resource it concerns, e.g. `Interface/lan`.
    pub resource: Option<String>,
    /// Short CamelCase reason.
    pub reason: String,
    /// Human-readable detail.
    pub message: String,
    /// Structured detail.
    pub attributes: BTreeMap<String, serde_json::Value>,
}

impl NewEvent {
    /// Starts an event with its type and reason.
    pub fn new(topic: impl Into<String>, reason: impl Into<String>) -> NewEvent {
        NewEvent {
            topic: topic.into(),
            reason: reason.into(),
            ..NewEvent::default()
        }
    }

    /// Sets the resource, e.g. `Interface/lan`.
    pub fn resource(mut self, resource: impl Into<String>) -> NewEvent {
        self.resource = Some(resource.into());
        self
    }

    /// Sets the human-readable message.
    pub fn message(mut self, message: impl Into<String>) -> NewEvent {
        self.message = message.into();
        self
    }

    /// Adds one structured attribute.
    pub fn attr(mut self, key: impl Into<String>, value: impl Into<serde_json::Value>) -> NewEvent {
        self.attributes.insert(key.into(), value.into());
        self
    }
}

/// A page of events as served by `GET /v1/events`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventsPage {
    /// Matching events in `seq` order.
    pub events: Vec<Event>,
    /// The `since` to ask with next: every event up to it was returned or filtered out.
    /// Equals the log's last seq unless the page was cut short by its limit.
    pub last_seq: u64,
}

/// When `events.jsonl` is rotated and how many old files are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// Rotate before a write would take the live file past this size.
    pub max_bytes: u64,
    /// Rotated files kept (`events.jsonl.1` is the newest); at least one is always kept
    /// so the last `seq` survives a restart right after a rotation.
    pub keep: usize,
}

impl Default for Rotation {
    fn default() -> Rotation {
        Rotation {
            max_bytes: 8 * 1024 * 1024,
            keep: 4,
        }
    }
}

/// Why an event could not be appended or the log opened.
#[derive(Debug, thiserror::Error)]
pub enum EventLogError {
    /// Reading, writing, syncing or rotating a log file failed.
    #[error("event log {path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The event could not be encoded as JSON.
    #[error("event could not be encoded: {0}")]
    Encode(#[from] serde_json::Error),
    /// The event type is not a valid dotted topic.
    #[error("invalid event type {topic:?}: {why}")]
    InvalidTopic {
        /// The rejected type.
        topic: String,
        /// What is wrong with it.
        why: &'static str,
    },
}

/// Checks that `topic` is something a [`TopicGlob`] can address: dotted, non-empty
/// segments, no wildcards or whitespace.
pub fn validate_topic(topic: &str) -> Result<(), EventLogError> {
    let why = if topic.is_empty() {
        Some("empty")
    } else if topic.split('.').any(str::is_empty) {
        Some("empty segment")
    } else if topic.contains('*') {
        Some("wildcards belong in subscriptions, not in event types")
    } else if topic.chars().any(char::is_whitespace) {
        Some("contains whitespace")
    } else {
        None
    };
    match why {
        None => Ok(()),
        Some(why) => Err(EventLogError::InvalidTopic {
            topic: topic.to_string(),
            why,
        }),
    }
}

/// Reads every well-formed event of one `events.jsonl`-style file, skipping bad lines.
pub fn read_events(path: impl AsRef<Path>) -> io::Result<Vec<Event>> {
    let path = path.as_ref();
    let mut events = Vec::new();
    let found = file::visit_events(path, |event| {
        events.push(event);
        std::ops::ControlFlow::Continue(())
    })?;
    if !found {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{}: no such file", path.display()),
        ));
    }
    Ok(events)
}

/// Whether `event` passes an optional subscription filter.
pub(crate) fn topic_matches(topic: Option<&TopicGlob>, event: &Event) -> bool {
    topic.is_none_or(|glob| glob.matches(&event.topic))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_json_shape() {
        let event = Event {
            seq: 7,
            time: "2026-11-23T10:00:00.123Z".into(),
            source: "routerd".into(),
            topic: "routerd.interface.lan.up".into(),
            resource: Some("Interface/lan".into()),
            reason: "LinkUp".into(),
            message: String::new(),
            attributes: BTreeMap::new(),
        };
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "seq": 7, "time": "2026-11-23T10:00:00.123Z", "source": "routerd",
                "type": "routerd.interface.lan.up", "resource": "Interface/lan", "reason": "LinkUp"
            })
        );
        let back: Event = serde_json::from_value(json).unwrap();
        assert_eq!(back, event);
    }

    #[test]
    fn builder_fills_fields() {
        let e = NewEvent::new("a.b", "Thing")
            .resource("Interface/lan")
            .message("hello")
            .attr("n", 3)
            .attr("s", "x");
        assert_eq!(e.topic, "a.b");
        assert_eq!(e.resource.as_deref(), Some("Interface/lan"));
        assert_eq!(e.attributes["n"], serde_json::json!(3));
        assert_eq!(e.attributes["s"], serde_json::json!("x"));
    }

    #[test]
    fn topic_validation() {
        assert!(validate_topic("routerd.interface.lan.up").is_ok());
        for bad in ["", "a..b", ".a", "a.", "a.*", "a b"] {
            assert!(validate_topic(bad).is_err(), "{bad:?} accepted");
        }
    }
}

#[cfg(test)]
mod log_tests;
