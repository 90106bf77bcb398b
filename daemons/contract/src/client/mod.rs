//! The client side of the daemon contract, used by routerd's DaemonSupervisor and by
//! routerctl: HTTP/1.1 over the daemon's Unix socket, one connection per request.

mod follow;

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::net::UnixStream;
use tokio::task::JoinHandle;

use crate::event::{Event, EventsPage};
use crate::server::{Command, Health, StatusEnvelope};

/// How long a request may take by default (connect, send, read the whole response).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest error body quoted in a [`ClientError::Status`] that is not JSON.
const MAX_QUOTED_BODY: usize = 512;

/// A client for one daemon's contract socket.
#[derive(Debug, Clone)]
pub struct Client {
    socket: PathBuf,
    timeout: Duration,
}

/// Why a call to a daemon failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing accepted a connection on the socket (daemon down, wrong path, permissions).
    #[error("connecting to {}: {source}", socket.display())]
    Connect {
        /// The socket tried.
        socket: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The daemon did not answer in time.
    #[error("request to {} timed out after {after:?}", socket.display())]
    Timeout {
        /// The daemon's socket.
        socket: PathBuf,
        /// The time limit that passed.
        after: Duration,
    },
    /// The daemon answered with an error status.
    #[error("{code}: {message}")]
    Status {
        /// The HTTP status.
        code: StatusCode,
        /// The `error` (or `reason`) from the JSON body, else the body text.
        message: String,
    },
    /// The answer was not the JSON expected.
    #[error("decoding {context}: {source}")]
    Decode {
        /// What was being decoded.
        context: String,
        /// The parse error.
        source: serde_json::Error,
    },
    /// The connection failed mid-request, or the request could not be built.
    #[error("{0}")]
    Io(#[from] io::Error),
}

impl Client {
    /// A client for the daemon listening on `socket`.
    pub fn new(socket: impl Into<PathBuf>) -> Client {
        Client {
            socket: socket.into(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Sets the per-request time limit (long-polls get their wait on top).
    pub fn with_timeout(self, timeout: Duration) -> Client {
        Client { timeout, ..self }
    }

    /// The socket this client talks to.
    pub fn socket(&self) -> &std::path::Path {
        &self.socket
    }

    /// `GET`s `path_and_query` and decodes a 2xx JSON answer.
    pub async fn get_json<T: DeserializeOwned>(
        &self,
        path_and_query: &str,
    ) -> Result<T, ClientError> {
        let (status, body) = self
            .request_raw(Method::GET, path_and_query, None, None)
            .await?;
        decode_success(status, &body, path_and_query)
    }

    /// `POST`s an optional JSON body to `path` and decodes a 2xx JSON answer.
    pub async fn post_json<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, ClientError> {
        let body = body
            .map(serde_json::to_vec)
            .transpose()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let content_type = body.as_ref().map(|_| "application/json");
        let (status, body) = self
            .request_raw(Method::POST, path, body, content_type)
            .await?;
        decode_success(status, &body, path)
    }

    /// Sends one request and returns the status and whole body, whatever the status.
    pub async fn request_raw(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        content_type: Option<&str>,
    ) -> Result<(StatusCode, Bytes), ClientError> {
        self.request_within(self.timeout, method, path, body, content_type)
            .await
    }

    async fn request_within(
        &self,
        limit: Duration,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        content_type: Option<&str>,
    ) -> Result<(StatusCode, Bytes), ClientError> {
        let request = build_request(method, path, body, content_type)?;
        let exchange = async {
            let (response, _connection) = self.send(request).await?;
            let status = response.status();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(io::Error::other)?
                .to_bytes();
            Ok((status, body))
        };
        tokio::time::timeout(limit, exchange)
            .await
            .map_err(|_| self.timeout_error(limit))?
    }

    /// Connects, sends `request` and returns the response head; the body streams from
    /// the connection task, which lives as long as the returned guard.
    async fn send(
        &self,
        request: Request<Full<Bytes>>,
    ) -> Result<(Response<Incoming>, Connection), ClientError> {
        let stream =
            UnixStream::connect(&self.socket)
                .await
                .map_err(|source| ClientError::Connect {
                    socket: self.socket.clone(),
                    source,
                })?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(io::Error::other)?;
        let connection = Connection(tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("contract connection ended: {e}");
            }
        }));
        let response = sender
            .send_request(request)
            .await
            .map_err(io::Error::other)?;
        Ok((response, connection))
    }

    fn timeout_error(&self, after: Duration) -> ClientError {
        ClientError::Timeout {
            socket: self.socket.clone(),
            after,
        }
    }

    /// `GET /v1/status`.
    pub async fn status(&self) -> Result<StatusEnvelope, ClientError> {
        self.get_json("/v1/status").await
    }

    /// `GET /v1/healthz`: 200 is live, 503 unhealthy with its reason.
    pub async fn healthz(&self) -> Result<Health, ClientError> {
        let (status, body) = self
            .request_raw(Method::GET, "/v1/healthz", None, None)
            .await?;
        match status {
            StatusCode::OK => Ok(Health::Live),
            StatusCode::SERVICE_UNAVAILABLE => Ok(Health::Unhealthy(error_message(status, &body))),
            _ => Err(status_error(status, &body)),
        }
    }

    /// `GET /v1/events`: events after `since`, long-polling up to `wait` when given.
    pub async fn events(
        &self,
        since: u64,
        wait: Option<Duration>,
        topic: Option<&str>,
    ) -> Result<EventsPage, ClientError> {
        let mut path = format!("/v1/events?since={since}");
        if let Some(wait) = wait {
            path.push_str(&format!("&wait={}", wait.as_secs_f64()));
        }
        if let Some(topic) = topic {
            path.push_str(&format!("&topic={}", encode_query_value(topic)));
        }
        let limit = self.timeout + wait.unwrap_or_default();
        let (status, body) = self
            .request_within(limit, Method::GET, &path, None, None)
            .await?;
        decode_success(status, &body, &path)
    }

    /// `GET /v1/events?follow=true`: the backlog after `since`, then live events, until
    /// the stream is dropped. Only connecting and the response head are time-limited.
    pub fn follow(
        &self,
        since: u64,
        topic: Option<&str>,
    ) -> impl Stream<Item = Result<Event, ClientError>> + Send + Unpin + use<> {
        let mut path = format!("/v1/events?follow=true&since={since}");
        if let Some(topic) = topic {
            path.push_str(&format!("&topic={}", encode_query_value(topic)));
        }
        follow::stream(self.clone(), path)
    }

    /// `POST /v1/commands/{command}`; returns the daemon's account of what it did.
    /// An unsupported command is a [`ClientError::Status`] with code 409.
    pub async fn command(&self, command: Command) -> Result<serde_json::Value, ClientError> {
        let path = format!("/v1/commands/{command}");
        let mut answer: serde_json::Value = self.post_json::<(), _>(&path, None).await?;
        Ok(answer
            .get_mut("detail")
            .map(serde_json::Value::take)
            .unwrap_or_default())
    }
}

/// The connection task behind one request; aborting it closes the socket, which is how
/// a dropped follow stream tells the daemon to stop sending.
struct Connection(JoinHandle<()>);

impl Drop for Connection {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn build_request(
    method: Method,
    path: &str,
    body: Option<Vec<u8>>,
    content_type: Option<&str>,
) -> Result<Request<Full<Bytes>>, ClientError> {
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        // HTTP/1.1 requires a Host; the socket path is the real address.
        .header(header::HOST, "localhost");
    if let Some(content_type) = content_type {
        builder = builder.header(header::CONTENT_TYPE, content_type);
    }
    let mut request = builder
        .body(Full::new(Bytes::from(body.unwrap_or_default())))
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{path}: {e}")))?;
    crate::telemetry::inject_context(request.headers_mut());
    Ok(request)
}

fn decode_success<T: DeserializeOwned>(
    status: StatusCode,
    body: &[u8],
    path: &str,
) -> Result<T, ClientError> {
    if !status.is_success() {
        return Err(status_error(status, body));
    }
    serde_json::from_slice(body).map_err(|source| ClientError::Decode {
        context: format!("answer to {path}"),
        source,
    })
}

fn status_error(code: StatusCode, body: &[u8]) -> ClientError {
    ClientError::Status {
        code,
        message: error_message(code, body),
    }
}

/// The `error` (or `reason`) of a JSON error body, else the body text, else the status.
fn error_message(code: StatusCode, body: &[u8]) -> String {
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(body) {
        for key in ["error", "reason"] {
            if let Some(serde_json::Value::String(message)) = map.get(key) {
                return message.clone();
            }
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return code.canonical_reason().unwrap_or("error").to_string();
    }
    text.chars().take(MAX_QUOTED_BODY).collect()
}

/// Percent-encodes a query value, leaving unreserved characters and `*` readable.
fn encode_query_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~*".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(encode_query_value("routerd.*.lan.**"), "routerd.*.lan.**");
        assert_eq!(encode_query_value("a b&c=d#é"), "a%20b%26c%3Dd%23%C3%A9");
    }

    #[test]
    fn error_messages_come_from_json_or_text() {
        let code = StatusCode::CONFLICT;
        assert_eq!(
            error_message(code, br#"{"command":"renew","error":"no lease"}"#),
            "no lease"
        );
        assert_eq!(
            error_message(code, br#"{"status":"unhealthy","reason":"stuck"}"#),
            "stuck"
        );
        assert_eq!(error_message(code, b"  plain text \n"), "plain text");
        assert_eq!(error_message(code, b""), "Conflict");
        assert_eq!(error_message(code, &[b'x'; 2000]).len(), MAX_QUOTED_BODY);
    }

    #[tokio::test]
    async fn connect_error_names_the_socket() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("absent.sock");
        let err = Client::new(&socket).status().await.unwrap_err();
        assert!(matches!(err, ClientError::Connect { .. }));
        assert!(err.to_string().contains("absent.sock"), "{err}");
    }
}
