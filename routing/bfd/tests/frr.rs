//! Interop with FRR's bfdd (Debian frr 8.4): sessions over IPv4 and IPv6
//! link-local at 50 ms × 3, silent failures made with nftables, the
//! detection time measured against bfdd's own.
//!
//! bfdd learns interfaces from zebra, so both run in the peer namespace, as
//! frr:frr, with every socket, pid and config file in a per-test directory
//! owned by frr (FRR 8.4 drops root).

mod common;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use common::interop::{self, Peer};
use common::*;
use routerd_lab::{Process, require_command, wait_until};

struct Frr {
    dir: PathBuf,
    vtysh: PathBuf,
    bfdd: Process,
    zebra: Process,
}

impl Frr {
    /// `show bfd peers json`, or nothing if bfdd does not answer.
    fn peers(&self) -> Vec<serde_json::Value> {
        let out = Command::new(&self.vtysh)
            .arg("--vty_socket")
            .arg(&self.dir)
            .args(["-c", "show bfd peers json"])
            .output();
        let Ok(out) = out else {
            return Vec::new();
        };
        serde_json::from_slice::<serde_json::Value>(&out.stdout)
            .ok()
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
    }

    fn peer(&self, addr: IpAddr) -> Option<serde_json::Value> {
        self.peers()
            .into_iter()
            .find(|p| p["peer"].as_str().and_then(|s| s.parse::<IpAddr>().ok()) == Some(addr))
    }
}

impl Peer for Frr {
    fn name(&self) -> &str {
        "FRR"
    }

    fn state(&self, addr: IpAddr) -> Option<String> {
        Some(self.peer(addr)?["status"].as_str()?.to_lowercase())
    }

    fn detection_time(&self, addr: IpAddr) -> Option<Duration> {
        // bfdd reports intervals in ms; its detection time is the remote
        // multiplier times the slower of its RX and the remote's TX.
        let p = self.peer(addr)?;
        let mult = p["remote-detect-multiplier"].as_u64()?;
        let rx = p["receive-interval"].as_u64()?;
        let remote_tx = p["remote-transmit-interval"].as_u64()?;
        Some(Duration::from_millis(mult * rx.max(remote_tx)))
    }

    fn logs(&self) -> String {
        format!(
            "bfdd:\n{}{}\nzebra:\n{}{}",
            self.bfdd.stdout(),
            self.bfdd.stderr(),
            self.zebra.stdout(),
            self.zebra.stderr()
        )
    }

    fn logged_down(&self, addr: IpAddr, after: SystemTime) -> Option<SystemTime> {
        // "2026/12/07 19:48:43.123 BFD: [..] state-change: [mhop:no peer:10.99.0.1 local:.. ] up -> down reason:control-expired"
        let peer = format!("peer:{addr} ");
        first_logged(
            &self.bfdd.stdout(),
            23,
            &["state-change", &peer, "up -> down"],
            after,
        )
    }
}

fn path(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

#[test]
fn frr_sessions_come_up_and_detect_silent_failures() {
    let bfdd = require_command("/usr/lib/frr/bfdd");
    let zebra = require_command("/usr/lib/frr/zebra");
    let vtysh = require_command("vtysh");
    let lab = Pair::new("bfd-frr");
    let our_ll = link_local(&lab.ours, OUR_IF);
    let peer_ll = link_local(&lab.peer, PEER_IF);

    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let peer_block = |peer: &str, local: &str| {
        format!(
            " peer {peer} local-address {local} interface {PEER_IF}
  receive-interval 50
  transmit-interval 50
  detect-multiplier 3
  no shutdown
 !
"
        )
    };
    std::fs::write(
        d.join("bfdd.conf"),
        format!(
            "log timestamp precision 3
debug bfd peer
bfd
{}{}!
",
            peer_block(OUR_V4, PEER_V4),
            peer_block(&our_ll.to_string(), &peer_ll.to_string())
        ),
    )
    .expect("write bfdd.conf");
    std::fs::write(d.join("zebra.conf"), "log timestamp precision 3\n").expect("write zebra.conf");
    // FRR drops to frr:frr: its directory and files must be its own.
    let chown = Command::new("chown")
        .args(["-R", "frr:frr"])
        .arg(d)
        .status()
        .expect("run chown");
    assert!(
        chown.success(),
        "chown frr:frr failed (is the frr user there?)"
    );
    std::fs::set_permissions(d, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");

    let common = |daemon: &str| -> Vec<String> {
        vec![
            "-f".into(),
            path(&d.join(format!("{daemon}.conf"))),
            "-i".into(),
            path(&d.join(format!("{daemon}.pid"))),
            "--vty_socket".into(),
            path(d),
            "-z".into(),
            path(&d.join("zserv.api")),
            // No TCP vty: nothing listens outside the socket directory.
            "-P".into(),
            "0".into(),
            "-u".into(),
            "frr".into(),
            "-g".into(),
            "frr".into(),
            "--log".into(),
            "stdout".into(),
            "--log-level".into(),
            "debug".into(),
        ]
    };
    let argv = |bin: &Path, extra: Vec<String>| -> Vec<String> {
        let mut v = vec![path(bin)];
        v.extend(extra);
        v
    };
    let zebra_argv = argv(&zebra, common("zebra"));
    let zebra_refs: Vec<&str> = zebra_argv.iter().map(String::as_str).collect();
    let zebra = lab.peer.spawn(&zebra_refs, &[("TZ", "UTC")]);
    wait_until("zebra's API socket", Duration::from_secs(10), || {
        assert!(zebra.is_running(), "zebra exited: {}", zebra.stdout());
        d.join("zserv.api").exists().then_some(())
    });
    let mut bfdd_args = common("bfdd");
    bfdd_args.extend(["--bfdctl".into(), path(&d.join("bfdd.sock"))]);
    let bfdd_argv = argv(&bfdd, bfdd_args);
    let bfdd_refs: Vec<&str> = bfdd_argv.iter().map(String::as_str).collect();
    let bfdd = lab.peer.spawn(&bfdd_refs, &[("TZ", "UTC")]);
    let peer = Frr {
        dir: d.to_path_buf(),
        vtysh,
        bfdd,
        zebra,
    };
    wait_until("bfdd to list both peers", Duration::from_secs(10), || {
        assert!(peer.bfdd.is_running(), "bfdd exited: {}", peer.logs());
        (peer.peers().len() == 2).then_some(())
    });
    interop::run(&lab, &peer);
}
