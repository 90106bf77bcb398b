//! A test daemon served on a socket in a temporary directory, plus curl-like raw HTTP.
// Shared by several test binaries, each using a subset; helpers may unwrap like tests.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use routerd_contract::server::{
    Command, CommandOutcome, Daemon, DaemonStatus, Health, ServeError, ServerInfo, bind_unix,
    contract_router, serve_listener,
};
use routerd_contract::{Client, EventLog, Rotation};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A bound on every wait in these tests; reaching it is a failure, not a pass.
pub const DEADLINE: Duration = Duration::from_secs(10);

pub struct TestDaemon {
    pub health: Mutex<Health>,
    pub reload_fails: AtomicBool,
    stop: Mutex<Option<oneshot::Sender<()>>>,
}

impl Daemon for TestDaemon {
    async fn status(&self) -> DaemonStatus {
        DaemonStatus {
            phase: "Probing".into(),
            detail: json!({"target": "192.0.2.1", "failures": 0}),
        }
    }

    fn health(&self) -> Health {
        self.health.lock().unwrap().clone()
    }

    async fn command(&self, command: Command) -> CommandOutcome {
        match command {
            Command::Reload if self.reload_fails.load(Ordering::SeqCst) => {
                CommandOutcome::Failed("config file unreadable".into())
            }
            Command::Reload => CommandOutcome::Done(json!({"reloaded": true})),
            Command::Renew => CommandOutcome::Unsupported("a health check has no lease".into()),
            Command::Stop => {
                if let Some(stop) = self.stop.lock().unwrap().take() {
                    let _ = stop.send(());
                }
                CommandOutcome::Done(json!({"stopping": true}))
            }
        }
    }
}

pub struct Harness {
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    pub log: Arc<EventLog>,
    pub daemon: Arc<TestDaemon>,
    pub client: Client,
    pub server: JoinHandle<Result<(), ServeError>>,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Harness {
    pub async fn start() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        // A directory that does not exist yet: bind_unix creates it.
        let socket = dir.path().join("run").join("wan-check.sock");
        let log = EventLog::open(
            dir.path().join("events.jsonl"),
            "routerd-healthcheck/wan-check",
            Rotation::default(),
        )
        .unwrap();
        let (stop_tx, stop_rx) = oneshot::channel();
        let daemon = Arc::new(TestDaemon {
            health: Mutex::new(Health::Live),
            reload_fails: AtomicBool::new(false),
            stop: Mutex::new(Some(stop_tx)),
        });
        let info = ServerInfo {
            daemon: "routerd-healthcheck".into(),
            instance: "wan-check".into(),
        };
        let router = contract_router(info, Arc::clone(&daemon), Arc::clone(&log));
        // Bound before the task starts, so the socket answers as soon as this returns.
        let listener = bind_unix(&socket).unwrap();
        let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
        let server = tokio::spawn(serve_listener(listener, router, async move {
            tokio::select! {
                _ = shutdown_rx => {}
                _ = stop_rx => {}
            }
        }));
        Harness {
            client: Client::new(&socket),
            dir,
            socket,
            log,
            daemon,
            server,
            shutdown: Some(shutdown_tx),
        }
    }

    /// Signals shutdown and waits (bounded) for the server to finish.
    pub async fn stop(mut self) -> Result<(), ServeError> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        tokio::time::timeout(DEADLINE, &mut self.server)
            .await
            .expect("server did not stop in time")
            .unwrap()
    }
}

/// Polls `condition` until it holds, failing the test at [`DEADLINE`].
pub async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

pub struct RawResponse {
    pub status: u16,
    /// Header block, names lowercased.
    pub headers: String,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.lines().find_map(|line| {
            let (k, v) = line.split_once(':')?;
            (k == name).then(|| v.trim())
        })
    }
}

/// A request as curl would send it, asking the server to close afterwards.
pub fn request(method: &str, path: &str, extra_headers: &str, body: &[u8]) -> Vec<u8> {
    let mut bytes = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{extra_headers}"
    )
    .into_bytes();
    if !body.is_empty() || method == "POST" {
        bytes.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    bytes.extend_from_slice(b"\r\n");
    bytes.extend_from_slice(body);
    bytes
}

/// Sends raw bytes and reads the whole answer (until the server closes).
pub async fn raw(socket: &Path, bytes: &[u8]) -> RawResponse {
    let mut stream = UnixStream::connect(socket).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    let mut answer = Vec::new();
    let mut chunk = [0u8; 8192];
    let read_all = async {
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) => break,
                Ok(n) => answer.extend_from_slice(&chunk[..n]),
                // The server may reset after answering a request it did not read fully.
                Err(_) => break,
            }
        }
    };
    tokio::time::timeout(DEADLINE, read_all)
        .await
        .expect("no answer in time");
    parse_response(&answer)
}

pub fn parse_response(answer: &[u8]) -> RawResponse {
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(answer)));
    let head = String::from_utf8_lossy(&answer[..split]).to_string();
    let mut body = answer[split + 4..].to_vec();
    let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
    let headers: String = head
        .lines()
        .skip(1)
        .map(|l| match l.split_once(':') {
            Some((k, v)) => format!("{}:{v}\n", k.to_ascii_lowercase()),
            None => format!("{l}\n"),
        })
        .collect();
    if headers.contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    RawResponse {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = data.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(std::str::from_utf8(&data[..eol]).unwrap().trim(), 16).unwrap();
        data = &data[eol + 2..];
        if size == 0 || data.len() < size {
            out.extend_from_slice(&data[..size.min(data.len())]);
            break;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[(size + 2).min(data.len())..];
    }
    out
}
