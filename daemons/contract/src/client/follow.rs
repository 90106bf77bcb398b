//! Reading a `follow=true` NDJSON response as a stream of events.

use std::io;

use futures::Stream;
use http::Method;
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::{Client, ClientError, Connection, build_request, status_error};
use crate::event::Event;

/// A line longer than this is not an event; the stream fails rather than buffer forever.
const MAX_LINE: usize = 16 * 1024 * 1024;

enum State {
    Start(Client, String),
    Reading {
        body: Incoming,
        buffer: Vec<u8>,
        _connection: Connection,
    },
    Done,
}

pub(super) fn stream(
    client: Client,
    path: String,
) -> impl Stream<Item = Result<Event, ClientError>> + Send + Unpin {
    Box::pin(futures::stream::unfold(
        State::Start(client, path),
        |state| async move {
            match step(state).await {
                (Some(item), next) => Some((item, next)),
                (None, _) => None,
            }
        },
    ))
}

/// Produces the next item and the state after it; `None` ends the stream.
async fn step(state: State) -> (Option<Result<Event, ClientError>>, State) {
    let (mut body, mut buffer, connection) = match state {
        State::Done => return (None, State::Done),
        State::Start(client, path) => match open(&client, &path).await {
            Ok((body, connection)) => (body, Vec::new(), connection),
            Err(e) => return (Some(Err(e)), State::Done),
        },
        State::Reading {
            body,
            buffer,
            _connection,
        } => (body, buffer, _connection),
    };
    loop {
        if let Some(end) = buffer.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buffer.drain(..=end).collect();
            let line = line.trim_ascii();
            if line.is_empty() {
                continue;
            }
            let item = serde_json::from_slice(line).map_err(|source| ClientError::Decode {
                context: "followed event".to_string(),
                source,
            });
            let next = State::Reading {
                body,
                buffer,
                _connection: connection,
            };
            return (Some(item), next);
        }
        if buffer.len() > MAX_LINE {
            let e = io::Error::new(io::ErrorKind::InvalidData, "event line too long");
            return (Some(Err(e.into())), State::Done);
        }
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    buffer.extend_from_slice(&data);
                }
            }
            Some(Err(e)) => return (Some(Err(io::Error::other(e).into())), State::Done),
            // The daemon ended the stream (shutting down); a partial line is dropped.
            None => return (None, State::Done),
        }
    }
}

async fn open(client: &Client, path: &str) -> Result<(Incoming, Connection), ClientError> {
    let request = build_request(Method::GET, path, None, None)?;
    let (response, connection) = tokio::time::timeout(client.timeout, client.send(request))
        .await
        .map_err(|_| client.timeout_error(client.timeout))??;
    let status = response.status();
    if status.is_success() {
        return Ok((response.into_body(), connection));
    }
    // An error answer is small; read it (time-limited) for its message.
    let body = tokio::time::timeout(client.timeout, response.into_body().collect())
        .await
        .ok()
        .and_then(Result::ok)
        .map(|collected| collected.to_bytes())
        .unwrap_or_default();
    Err(status_error(status, &body))
}
