//! Sysctls under `/proc/sys`: read for planning, written when applying.

use std::io;
use std::path::PathBuf;

/// Reads sysctl values; `plan` takes one so it can be tested without a kernel.
pub trait SysctlReader {
    /// The value of `key` (dotted or slash form), `Ok(None)` if the key does not exist.
    fn read(&self, key: &str) -> Result<Option<String>, io::Error>;
}

/// `/proc/sys` of the calling thread's network namespace: net.* entries resolve
/// against the namespace of the thread that opens them, not the process's.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcSysctl;

impl ProcSysctl {
    /// Writes `value` to `key` (dotted or slash form).
    pub fn write(&self, key: &str, value: &str) -> Result<(), io::Error> {
        std::fs::write(sysctl_path(key)?, value)
    }
}

impl SysctlReader for ProcSysctl {
    fn read(&self, key: &str) -> Result<Option<String>, io::Error> {
        match std::fs::read_to_string(sysctl_path(key)?) {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// The file under `/proc/sys` for a key. A key containing `/` is a path (so an
/// interface name with dots, like `eth0.100`, can be named); otherwise dots
/// separate components. Keys that would escape `/proc/sys` are refused.
pub fn sysctl_path(key: &str) -> Result<PathBuf, io::Error> {
    let rel = if key.contains('/') {
        key.trim_start_matches("/proc/sys/")
            .trim_start_matches('/')
            .to_string()
    } else {
        key.replace('.', "/")
    };
    if rel.is_empty()
        || rel
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid sysctl key {key:?}"),
        ));
    }
    Ok(PathBuf::from("/proc/sys").join(rel))
}

/// Canonical form of a key (slash separated), so two spellings of one key compare equal.
pub(crate) fn canonical_key(key: &str) -> String {
    sysctl_path(key)
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| key.to_string())
}

/// A value with its whitespace normalised: the kernel separates multi-value
/// sysctls (e.g. `ip_local_port_range`) with tabs, people write spaces.
pub(crate) fn normalise_value(v: &str) -> String {
    v.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_map_to_proc_sys() {
        let p = |k| sysctl_path(k).unwrap();
        assert_eq!(
            p("net.ipv4.ip_forward"),
            PathBuf::from("/proc/sys/net/ipv4/ip_forward")
        );
        assert_eq!(
            p("net/ipv4/ip_forward"),
            PathBuf::from("/proc/sys/net/ipv4/ip_forward")
        );
        assert_eq!(
            p("/proc/sys/net/ipv6/conf/eth0.100/forwarding"),
            PathBuf::from("/proc/sys/net/ipv6/conf/eth0.100/forwarding")
        );
        assert!(sysctl_path("net/../../etc/passwd").is_err());
        assert!(sysctl_path("net..ipv4").is_err());
        assert!(sysctl_path("").is_err());
        assert_eq!(
            canonical_key("net.ipv4.ip_forward"),
            canonical_key("net/ipv4/ip_forward")
        );
    }

    #[test]
    fn values_compare_without_whitespace_noise() {
        assert_eq!(normalise_value("32768\t60999\n"), "32768 60999");
        assert_eq!(normalise_value(" 1 "), "1");
    }
}
