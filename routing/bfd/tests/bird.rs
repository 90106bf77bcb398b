//! Interop with BIRD 2's `protocol bfd` (Debian bird2): sessions over IPv4
//! and IPv6 link-local at 50 ms × 3, silent failures made with nftables, the
//! detection time measured against BIRD's own.

mod common;

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use common::interop::{self, Peer};
use common::*;
use routerd_lab::{Netns, Process, require_command, wait_until};

struct Bird<'a> {
    ns: &'a Netns,
    socket: PathBuf,
    process: Process,
    birdc: PathBuf,
}

impl Bird<'_> {
    /// `show bfd sessions`: address → (state, timeout column).
    fn sessions(&self) -> Vec<(IpAddr, String, Option<Duration>)> {
        let sock = self.socket.to_string_lossy().into_owned();
        let birdc = self.birdc.to_string_lossy().into_owned();
        let out = self
            .ns
            .exec(&[&birdc, "-s", &sock, "show", "bfd", "sessions"]);
        let text = String::from_utf8_lossy(&out.stdout);
        // IP address  Interface  State  Since  Interval  Timeout
        text.lines()
            .filter_map(|l| {
                let t: Vec<&str> = l.split_whitespace().collect();
                let addr = t.first()?.parse().ok()?;
                let state = t.get(2)?.to_lowercase();
                let timeout = t
                    .last()
                    .and_then(|s| s.parse::<f64>().ok())
                    .map(Duration::from_secs_f64);
                Some((addr, state, timeout))
            })
            .collect()
    }
}

impl Peer for Bird<'_> {
    fn name(&self) -> &str {
        "BIRD"
    }

    fn state(&self, addr: IpAddr) -> Option<String> {
        self.sessions()
            .into_iter()
            .find(|s| s.0 == addr)
            .map(|s| s.1)
    }

    fn detection_time(&self, addr: IpAddr) -> Option<Duration> {
        // BIRD prints seconds with three decimals: round to whole milliseconds.
        let t = self.sessions().into_iter().find(|s| s.0 == addr)?.2?;
        Some(Duration::from_millis(
            (t.as_secs_f64() * 1000.0).round() as u64
        ))
    }

    fn logs(&self) -> String {
        format!("{}{}", self.process.stdout(), self.process.stderr())
    }

    fn logged_down(&self, addr: IpAddr, after: SystemTime) -> Option<SystemTime> {
        // "2026-12-07 19:50:40.773 <TRACE> bfd1: Session to 10.99.0.1 changed state from Up to Down"
        let needle = format!("Session to {addr} changed state from Up to Down");
        first_logged(&self.process.stderr(), 23, &[&needle], after)
    }
}

#[test]
fn bird_sessions_come_up_and_detect_silent_failures() {
    let bird = require_command("bird");
    let birdc = require_command("birdc");
    let lab = Pair::new("bfd-bird");
    let our_ll = link_local(&lab.ours, OUR_IF);
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = dir.path().join("bird.conf");
    let socket = dir.path().join("bird.ctl");
    std::fs::write(
        &conf,
        format!(
            r#"router id {PEER_V4};
log stderr all;
protocol device {{ scan time 1; }}
protocol bfd bfd1 {{
  debug {{ events }};
  interface "{PEER_IF}" {{ interval 50 ms; multiplier 3; }};
  neighbor {OUR_V4} dev "{PEER_IF}" local {PEER_V4};
  neighbor {our_ll} dev "{PEER_IF}";
}}
"#
        ),
    )
    .expect("write bird.conf");
    let s = |p: &std::path::Path| p.to_string_lossy().into_owned();
    let process = lab.peer.spawn(
        &[
            &s(&bird),
            "-f",
            "-c",
            &s(&conf),
            "-s",
            &s(&socket),
            "-P",
            &s(&dir.path().join("bird.pid")),
        ],
        &[("TZ", "UTC")],
    );
    let peer = Bird {
        ns: &lab.peer,
        socket,
        process,
        birdc,
    };
    wait_until("BIRD's control socket", Duration::from_secs(10), || {
        assert!(peer.process.is_running(), "bird exited: {}", peer.logs());
        (peer.sessions().len() == 2).then_some(())
    });
    interop::run(&lab, &peer);
}
