//! Cleans up after test runs that crashed (SIGKILL, abort) before their `Drop`s ran.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Once;

use crate::netns::{NETNS_ETC_DIR, NETNS_RUN_DIR, destroy};

/// Once per process: deletes every `rdt-*-{pid}-*` namespace (and `/etc/netns`
/// directory) whose creating process no longer exists. A namespace carrying this
/// process's own pid is stale too: it was left by an earlier process that had the
/// same pid, since this runs before this process creates any namespace.
pub(crate) fn reap_stale_once() {
    static ONCE: Once = Once::new();
    ONCE.call_once(reap_stale);
}

fn reap_stale() {
    let me = std::process::id();
    let mut names = BTreeSet::new();
    for dir in [NETNS_RUN_DIR, NETNS_ETC_DIR] {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for entry in entries.flatten() {
            if let Some(name) = entry.file_name().to_str() {
                names.insert(name.to_string());
            }
        }
    }
    for name in names {
        let Some(pid) = owner_pid(&name) else {
            continue;
        };
        if pid == me || !pid_alive(pid) {
            eprintln!("routerd-lab: removing stale namespace {name} (pid {pid} is gone)");
            destroy(&name);
        }
    }
}

/// The pid embedded in a lab namespace name `rdt-{tag}-{pid}-{n}`; the tag may
/// itself contain dashes, so the name is parsed from the right.
pub(crate) fn owner_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix("rdt-")?;
    let mut parts = rest.rsplitn(3, '-');
    let n = parts.next()?;
    let pid = parts.next()?;
    let tag = parts.next()?;
    if tag.is_empty() || n.parse::<u32>().is_err() {
        return None;
    }
    pid.parse().ok()
}

fn pid_alive(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

#[cfg(test)]
mod tests {
    use super::owner_pid;

    #[test]
    fn parses_lab_names_only() {
        assert_eq!(owner_pid("rdt-veth-ping-1234-7"), Some(1234));
        assert_eq!(owner_pid("rdt-a-1-0"), Some(1));
        assert_eq!(owner_pid("rdt-1-0"), None);
        assert_eq!(owner_pid("other-a-1-0"), None);
        assert_eq!(owner_pid("rdt-a-x-0"), None);
    }
}
