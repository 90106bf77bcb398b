//! A process a test started inside a namespace: its own process group, its output
//! in log files, killed and reaped on drop.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A running (or exited) process started by [`crate::Netns::spawn`].
#[derive(Debug)]
pub struct Process {
    child: Mutex<Child>,
    pid: u32,
    argv: Vec<String>,
    // Kept for its Drop: the logs live as long as the process handle.
    logs: tempfile::TempDir,
}

impl Process {
    pub(crate) fn start(mut cmd: Command, argv: &[&str], netns: &str) -> Process {
        let logs = tempfile::Builder::new()
            .prefix("routerd-lab-")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a log directory: {e}"));
        let open = |name: &str| {
            File::create(logs.path().join(name))
                .unwrap_or_else(|e| panic!("cannot create {name} for {argv:?}: {e}"))
        };
        cmd.stdin(Stdio::null())
            .stdout(open("stdout.log"))
            .stderr(open("stderr.log"))
            // Its own group, so Drop can kill everything it forks with one signal.
            .process_group(0);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {argv:?} in {netns}: {e}"));
        Process {
            pid: child.id(),
            child: Mutex::new(child),
            argv: argv.iter().map(|s| s.to_string()).collect(),
            logs,
        }
    }

    /// The process id (also its process group id).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The directory holding `stdout.log` and `stderr.log`.
    pub fn log_dir(&self) -> &Path {
        self.logs.path()
    }

    /// Sends SIGKILL to the whole process group and reaps the process.
    pub fn kill9(&self) {
        self.signal_group(libc::SIGKILL);
        let _ = self.wait_exit(Duration::from_secs(5));
    }

    /// Sends a signal (e.g. `libc::SIGTERM`) to the process itself.
    pub fn signal(&self, sig: libc::c_int) {
        if let Ok(pid) = libc::pid_t::try_from(self.pid) {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe { libc::kill(pid, sig) };
        }
    }

    fn signal_group(&self, sig: libc::c_int) {
        if let Ok(pid) = libc::pid_t::try_from(self.pid) {
            // SAFETY: as above; a negative pid addresses the process group.
            unsafe { libc::kill(-pid, sig) };
        }
    }

    /// True while the process has not exited.
    pub fn is_running(&self) -> bool {
        let mut child = self.child.lock().unwrap_or_else(|p| p.into_inner());
        matches!(child.try_wait(), Ok(None))
    }

    /// Waits up to `timeout` for the process to exit; `None` if it is still running.
    pub fn wait_exit(&self, timeout: Duration) -> Option<ExitStatus> {
        let start = Instant::now();
        loop {
            {
                let mut child = self.child.lock().unwrap_or_else(|p| p.into_inner());
                match child.try_wait() {
                    Ok(Some(status)) => return Some(status),
                    Ok(None) => {}
                    // Only ECHILD is possible, and then nobody can reap it any more.
                    Err(e) => {
                        eprintln!("routerd-lab: cannot wait for {:?}: {e}", self.argv);
                        return None;
                    }
                }
            }
            if start.elapsed() >= timeout {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Everything the process wrote to stdout so far.
    pub fn stdout(&self) -> String {
        self.read_log("stdout.log")
    }

    /// Everything the process wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.read_log("stderr.log")
    }

    fn read_log(&self, name: &str) -> String {
        let path: PathBuf = self.logs.path().join(name);
        std::fs::read(&path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.signal_group(libc::SIGKILL);
        // Bounded: a process stuck in the kernel must not hang the test run.
        let _ = self.wait_exit(Duration::from_secs(5));
    }
}
