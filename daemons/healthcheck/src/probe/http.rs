//! HTTP/1.1 GET over plain TCP: healthy on a 2xx or 3xx status, or on one
//! of the expected statuses when the spec lists them.
//!
//! Only the status line is read (RFC 9112 §4); the body is irrelevant and the
//! request asks the server to close, so nothing lingers.

use std::net::IpAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use super::{ProbeResult, ProbeSuccess, Resolved, tcp};

/// A status line longer than this is not from an HTTP server we want.
const MAX_STATUS_LINE: usize = 8 * 1024;

/// Why a status line could not be read.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum StatusLineError {
    /// Not `HTTP/x.y NNN ...`.
    #[error("malformed HTTP status line {0:?}")]
    Malformed(String),
}

/// The request we send; `path` is validated (no whitespace or controls).
pub fn build_request(target: &Resolved, path: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: routerd-healthcheck\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        host_header(target)
    )
}

/// RFC 9110 §7.2: the hostname when we have one, else the literal (IPv6 in
/// brackets); the port only when it is not 80.
fn host_header(target: &Resolved) -> String {
    let host = match (&target.host, target.addr) {
        (Some(name), _) => name.clone(),
        (None, IpAddr::V4(v4)) => v4.to_string(),
        (None, IpAddr::V6(v6)) => format!("[{v6}]"),
    };
    match target.port {
        Some(80) | None => host,
        Some(port) => format!("{host}:{port}"),
    }
}

/// The status code from the first line of a response (`HTTP/1.1 200 OK`).
pub fn parse_status_line(line: &str) -> Result<u16, StatusLineError> {
    let malformed = || StatusLineError::Malformed(line.chars().take(80).collect());
    let line = line.trim_end_matches(['\r', '\n']);
    let mut parts = line.splitn(3, ' ');
    let version = parts.next().ok_or_else(malformed)?;
    let code = parts.next().ok_or_else(malformed)?;
    let version_ok = version.strip_prefix("HTTP/").is_some_and(
        |v| matches!(v.as_bytes(), [a, b'.', b] if a.is_ascii_digit() && b.is_ascii_digit()),
    );
    if !version_ok || code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed());
    }
    let code: u16 = code.parse().map_err(|_| malformed())?;
    if !(100..=599).contains(&code) {
        return Err(malformed());
    }
    Ok(code)
}

/// Whether `code` is a success: one of `expected`, or any 2xx/3xx without a list.
pub fn status_ok(code: u16, expected: &[u16]) -> bool {
    if expected.is_empty() {
        (200..400).contains(&code)
    } else {
        expected.contains(&code)
    }
}

/// Sends the GET and judges the status; the RTT ends at the status line.
pub async fn probe(
    target: &Resolved,
    path: &str,
    expected: &[u16],
    timeout: Duration,
) -> ProbeResult {
    let start = Instant::now();
    let code = match tokio::time::timeout(timeout, fetch_status(target, path)).await {
        Ok(Ok(code)) => code,
        Ok(Err(e)) => return Err(format!("GET {path} from {target}: {e}")),
        Err(_) => {
            return Err(format!(
                "GET {path} from {target} timed out after {timeout:?}"
            ));
        }
    };
    let rtt = start.elapsed();
    if status_ok(code, expected) {
        Ok(ProbeSuccess::new(rtt, Some(format!("HTTP {code}"))))
    } else {
        Err(format!("GET {path} from {target}: HTTP {code}"))
    }
}

async fn fetch_status(target: &Resolved, path: &str) -> Result<u16, String> {
    let mut stream = tcp::connect(target)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    stream
        .write_all(build_request(target, path).as_bytes())
        .await
        .map_err(|e| format!("send request: {e}"))?;
    let mut head = Vec::with_capacity(256);
    let mut chunk = [0u8; 512];
    loop {
        if let Some(end) = head.iter().position(|&b| b == b'\n') {
            let line = String::from_utf8_lossy(&head[..end]);
            return parse_status_line(&line).map_err(|e| e.to_string());
        }
        if head.len() > MAX_STATUS_LINE {
            return Err(format!(
                "no status line in the first {MAX_STATUS_LINE} bytes"
            ));
        }
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|e| format!("read response: {e}"))?;
        if n == 0 {
            return Err("connection closed before a status line".into());
        }
        head.extend_from_slice(&chunk[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_statuses_replace_the_2xx_3xx_rule() {
        assert!(status_ok(204, &[]));
        assert!(status_ok(302, &[]));
        assert!(!status_ok(404, &[]));
        assert!(
            status_ok(404, &[404]),
            "a service may answer 404 when healthy"
        );
        assert!(!status_ok(200, &[204]));
    }

    #[test]
    fn status_lines_parse() {
        assert_eq!(parse_status_line("HTTP/1.1 200 OK\r\n"), Ok(200));
        assert_eq!(parse_status_line("HTTP/1.0 404 File not found"), Ok(404));
        assert_eq!(parse_status_line("HTTP/1.1 204"), Ok(204));
        assert_eq!(parse_status_line("HTTP/1.1 302 "), Ok(302));
    }

    #[test]
    fn bad_status_lines_are_rejected() {
        for line in [
            "",
            "HTTP/1.1",
            "HTTP/1.1 20 OK",
            "HTTP/1.1 2000 OK",
            "ICY 200 OK",
            "HTTP/x 200 OK",
            "HTTP/1.1 abc",
            "HTTP/1.1 700 Nope",
        ] {
            assert!(parse_status_line(line).is_err(), "{line:?} accepted");
        }
    }

    #[test]
    fn request_carries_host_and_close() {
        let mut target = Resolved::literal("2001:db8::1".parse().unwrap(), Some(8080));
        assert_eq!(
            build_request(&target, "/healthz"),
            "GET /healthz HTTP/1.1\r\nHost: [2001:db8::1]:8080\r\nUser-Agent: routerd-healthcheck\r\nAccept: */*\r\nConnection: close\r\n\r\n"
        );
        target.host = Some("web.example.test".into());
        target.port = Some(80);
        assert!(build_request(&target, "/").contains("\r\nHost: web.example.test\r\n"));
        let v4 = Resolved::literal("192.0.2.1".parse().unwrap(), Some(80));
        assert!(build_request(&v4, "/").contains("\r\nHost: 192.0.2.1\r\n"));
    }
}
