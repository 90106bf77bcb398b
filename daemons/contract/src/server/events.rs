//! `GET /v1/events`: pages, long-polls, and NDJSON follow streams.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use http::{StatusCode, Uri, header};
use tokio::sync::broadcast;

use super::layers::json_error;
use super::listen::ShutdownSignal;
use crate::event::{Event, EventLog, topic_matches};
use crate::glob::TopicGlob;

/// Longest long-poll a client may ask for.
pub(crate) const MAX_WAIT: Duration = Duration::from_secs(300);
/// Page size when none is asked for.
pub(crate) const DEFAULT_LIMIT: usize = 1000;
/// Largest page; bigger requests are clamped to it.
pub(crate) const MAX_LIMIT: usize = crate::event::MAX_PAGE;

pub(super) fn router(events: Arc<EventLog>) -> Router {
    Router::new()
        .route("/v1/events", get(get_events))
        .with_state(events)
}

#[derive(Debug, PartialEq)]
struct EventsQuery {
    since: u64,
    wait: Option<Duration>,
    topic: Option<TopicGlob>,
    limit: usize,
    follow: bool,
}

/// Parses the query by hand so every mistake is a 400 naming the parameter.
fn parse_query(uri: &Uri) -> Result<EventsQuery, String> {
    let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(uri)
        .map_err(|e| format!("malformed query string: {e}"))?;
    let mut query = EventsQuery {
        since: 0,
        wait: None,
        topic: None,
        limit: DEFAULT_LIMIT,
        follow: false,
    };
    for (key, value) in pairs {
        match key.as_str() {
            "since" => {
                query.since = value.parse().map_err(|_| {
                    format!("since: expected an event seq (a non-negative integer), got {value:?}")
                })?
            }
            "wait" => {
                let seconds: f64 = value
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s >= 0.0)
                    .ok_or_else(|| {
                        format!("wait: expected seconds (e.g. 30 or 0.5), got {value:?}")
                    })?;
                query.wait = Some(Duration::from_secs_f64(seconds.min(MAX_WAIT.as_secs_f64())));
            }
            "topic" => {
                query.topic = Some(TopicGlob::parse(&value).map_err(|e| format!("topic: {e}"))?)
            }
            "limit" => {
                let limit: usize =
                    value.parse().ok().filter(|l| *l > 0).ok_or_else(|| {
                        format!("limit: expected a positive integer, got {value:?}")
                    })?;
                query.limit = limit.min(MAX_LIMIT);
            }
            "follow" => {
                query.follow = match value.as_str() {
                    "true" | "1" | "" => true,
                    "false" | "0" => false,
                    _ => return Err(format!("follow: expected true or false, got {value:?}")),
                }
            }
            other => {
                return Err(format!(
                    "unknown query parameter {other:?}; expected since, wait, topic, limit, follow"
                ));
            }
        }
    }
    Ok(query)
}

async fn get_events(
    State(log): State<Arc<EventLog>>,
    shutdown: Option<Extension<ShutdownSignal>>,
    uri: Uri,
) -> Response {
    let query = match parse_query(&uri) {
        Ok(query) => query,
        Err(message) => return json_error(StatusCode::BAD_REQUEST, message),
    };
    let shutdown = shutdown.map(|Extension(s)| s).unwrap_or_default();
    if query.follow {
        return follow(log, query, shutdown);
    }
    let topic = query.topic.as_ref();
    let page = match query.wait {
        Some(wait) if !wait.is_zero() => {
            tokio::select! {
                page = log.wait_page(query.since, topic, query.limit, wait) => page,
                () = shutdown.stopped() => log.page(query.since, topic, query.limit),
            }
        }
        _ => log.page(query.since, topic, query.limit),
    };
    Json(page).into_response()
}

/// State of one NDJSON follow stream.
struct Follow {
    log: Arc<EventLog>,
    topic: Option<TopicGlob>,
    /// Every event up to here has been sent or filtered out.
    cursor: u64,
    live: broadcast::Receiver<Event>,
    pending: VecDeque<Event>,
    /// Reading the backlog (at the start, or after falling behind the live channel).
    catching_up: bool,
    shutdown: ShutdownSignal,
}

fn follow(log: Arc<EventLog>, query: EventsQuery, shutdown: ShutdownSignal) -> Response {
    // Subscribed before the backlog is read, so nothing falls between the two.
    let live = log.subscribe();
    let state = Follow {
        log,
        topic: query.topic,
        cursor: query.since,
        live,
        pending: VecDeque::new(),
        catching_up: true,
        shutdown,
    };
    let stream = futures::stream::unfold(state, |mut state| async move {
        let event = state.next().await?;
        Some((Ok::<Bytes, Infallible>(ndjson_line(&event)), state))
    });
    let mut response = Body::from_stream(stream).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/x-ndjson"),
    );
    response
}

impl Follow {
    /// The next event to send; `None` ends the stream (server shutting down).
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                self.cursor = event.seq;
                return Some(event);
            }
            if self.catching_up {
                let page = self
                    .log
                    .page(self.cursor, self.topic.as_ref(), DEFAULT_LIMIT);
                if page.events.is_empty() {
                    self.cursor = self.cursor.max(page.last_seq);
                    self.catching_up = false;
                }
                self.pending.extend(page.events);
                continue;
            }
            let received = tokio::select! {
                received = self.live.recv() => received,
                () = self.shutdown.stopped() => return None,
            };
            match received {
                Ok(event) if event.seq > self.cursor => {
                    self.cursor = event.seq;
                    if topic_matches(self.topic.as_ref(), &event) {
                        return Some(event);
                    }
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::debug!(missed, "follower fell behind; catching up from the log");
                    self.catching_up = true;
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

fn ndjson_line(event: &Event) -> Bytes {
    let mut line = serde_json::to_vec(event).unwrap_or_else(|e| {
        // An Event is plain data; encoding cannot fail short of a serde_json bug.
        tracing::error!("encoding event {}: {e}", event.seq);
        Vec::new()
    });
    line.push(b'\n');
    Bytes::from(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(q: &str) -> Result<EventsQuery, String> {
        parse_query(&format!("/v1/events?{q}").parse().unwrap())
    }

    #[test]
    fn defaults_and_values() {
        let q = parse("").unwrap();
        assert_eq!(
            (q.since, q.wait, q.limit, q.follow),
            (0, None, DEFAULT_LIMIT, false)
        );
        let q = parse("since=5&wait=0.5&topic=routerd.*.up&limit=20000&follow=true").unwrap();
        assert_eq!(q.since, 5);
        assert_eq!(q.wait, Some(Duration::from_millis(500)));
        assert_eq!(q.topic.unwrap().as_str(), "routerd.*.up");
        assert_eq!(q.limit, MAX_LIMIT);
        assert!(q.follow);
        assert_eq!(parse("wait=100000").unwrap().wait, Some(MAX_WAIT));
        assert_eq!(
            parse("topic=%2A%2A.up").unwrap().topic.unwrap().as_str(),
            "**.up"
        );
    }

    #[test]
    fn bad_values_name_the_parameter() {
        for (q, name) in [
            ("since=-1", "since"),
            ("since=abc", "since"),
            ("wait=soon", "wait"),
            ("wait=-3", "wait"),
            ("wait=NaN", "wait"),
            ("topic=a..b", "topic"),
            ("limit=0", "limit"),
            ("follow=maybe", "follow"),
            ("bogus=1", "bogus"),
        ] {
            let err = parse(q).unwrap_err();
            assert!(err.contains(name), "{q}: {err}");
        }
    }
}
