//! The daemon's process: spawning it, adopting one a previous routerd left
//! running, noticing its exit, and killing it.

use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ractor::ActorRef;
use routerd_contract::Client;
use routerd_contract::server::Health;

use super::DaemonMsg;
use crate::task::Task;

/// What was found of a previous incarnation.
pub(super) enum Previous {
    /// Nothing (or not ours).
    None,
    /// Ours and answering: adopt it.
    Live(u32),
    /// Ours but not answering /v1/healthz: it must go before a new one starts.
    Hung(u32),
}

/// Looks for a live process of this daemon from a previous routerd.
pub(super) async fn previous(dir: &Path, program: &str, socket: &Path) -> Previous {
    let Some(pid) = std::fs::read_to_string(dir.join("pid"))
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
    else {
        return Previous::None;
    };
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return Previous::None;
    };
    let cmdline = String::from_utf8_lossy(&cmdline);
    // The pid may have been reused by something else entirely.
    if !cmdline.contains(program) || !cmdline.contains(&*socket.to_string_lossy()) {
        return Previous::None;
    }
    let client = Client::new(socket).with_timeout(Duration::from_secs(2));
    match client.healthz().await {
        Ok(Health::Live) => Previous::Live(pid),
        _ => Previous::Hung(pid),
    }
}

/// Where daemon binaries are looked up: `--daemon-dir`, else beside routerd,
/// else `PATH`.
pub(super) fn program_path(daemon_dir: Option<&Path>, program: &str) -> PathBuf {
    let beside = daemon_dir.map(Path::to_path_buf).or_else(|| {
        std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
    });
    if let Some(dir) = beside {
        let candidate = dir.join(program);
        if candidate.exists() {
            return candidate;
        }
    }
    PathBuf::from(program)
}

/// Starts the daemon; its exit is reported to `me` as [`DaemonMsg::Exited`].
pub(super) fn spawn(
    me: &ActorRef<DaemonMsg>,
    program: &Path,
    dir: &Path,
    socket: &Path,
) -> Result<(u32, Task), String> {
    let log =
        open_log(&dir.join("daemon.log")).map_err(|e| format!("cannot open daemon.log: {e}"))?;
    let log_err = log
        .try_clone()
        .map_err(|e| format!("cannot open daemon.log: {e}"))?;
    let mut command = tokio::process::Command::new(program);
    command
        .arg("--config")
        .arg(dir.join("config.json"))
        .arg("--socket")
        .arg(socket)
        .arg("--state-dir")
        .arg(dir)
        .stdin(std::process::Stdio::null())
        .stdout(log)
        .stderr(log_err)
        // Its own process group: a Ctrl-C or a signal to routerd's group
        // must not take the daemon (and its leases) down with it.
        .process_group(0)
        .kill_on_drop(false);
    let mut child = command
        .spawn()
        .map_err(|e| format!("could not be started from {}: {e}", program.display()))?;
    let pid = child.id().ok_or("exited before it could be watched")?;
    let me = me.clone();
    let monitor = Task::spawn(async move {
        let how = match child.wait().await {
            Ok(status) => describe_exit(status),
            Err(e) => format!("could not be waited for: {e}"),
        };
        let _ = me.cast(DaemonMsg::Exited { pid, how });
    });
    Ok((pid, monitor))
}

fn describe_exit(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with code {code}"),
        (None, Some(sig)) => format!("was killed by signal {sig}"),
        _ => "ended".into(),
    }
}

fn open_log(path: &Path) -> std::io::Result<std::fs::File> {
    // Keep the log bounded: a daemon that crash-loops must not fill the disk.
    if std::fs::metadata(path)
        .map(|m| m.len() > 4 << 20)
        .unwrap_or(false)
    {
        let _ = std::fs::rename(path, path.with_extension("log.1"));
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
}

/// Notices the exit of a process that is not our child, through a pidfd.
pub(super) fn watch_pid(me: ActorRef<DaemonMsg>, pid: u32) -> Task {
    Task::spawn(async move {
        let how = match pidfd_exit(pid).await {
            Ok(()) => "exited (adopted process; status unknown)".to_string(),
            Err(e) => format!("is gone ({e})"),
        };
        let _ = me.cast(DaemonMsg::Exited { pid, how });
    })
}

async fn pidfd_exit(pid: u32) -> std::io::Result<()> {
    let pid = libc::pid_t::try_from(pid).map_err(|_| std::io::Error::other("pid out of range"))?;
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let fd = i32::try_from(fd).map_err(|_| std::io::Error::other("fd out of range"))?;
    // SAFETY: the fd was just returned by pidfd_open and is owned by nobody else.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: `owned` is an open pidfd that the AsyncFd owns until it is
    // dropped; nothing else closes or replaces it.
    let async_fd = unsafe {
        tokio::io::unix::AsyncFd::register_with_interest(owned, tokio::io::Interest::READABLE)
    }
    .map_err(|e| e.into_parts().1)?;
    // A pidfd becomes readable when the process exits.
    let _guard = async_fd.readable().await?;
    Ok(())
}

/// SIGKILLs the daemon's process group (it was started as a group leader).
pub(super) fn kill(pid: u32) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: sending a signal has no memory effects.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
}

/// Whether `pid` no longer exists.
pub(super) fn gone(pid: u32) -> bool {
    !Path::new(&format!("/proc/{pid}")).exists()
}

/// Waits (bounded) for `pid` to be gone.
pub(super) async fn wait_gone(pid: u32, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while !gone(pid) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    gone(pid)
}

/// Waits (bounded) until the daemon answers /v1/healthz.
pub(super) async fn wait_ready(client: &Client, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if matches!(client.healthz().await, Ok(Health::Live)) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}
