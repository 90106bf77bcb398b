//! What a lab test needs from the machine: root, network namespaces, peer binaries
//! and this workspace's own built binaries.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Directories searched for tools besides `$PATH`: root's PATH in a CI container
/// does not always include the sbin directories where `ip` and the daemons live.
const EXTRA_TOOL_DIRS: &[&str] = &["/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/bin", "/bin"];

/// Panics with a clear message unless this process is root and can create network
/// namespaces. Lab tests must fail loudly here: CI must never skip them.
pub fn require_privileges() {
    static CHECK: OnceLock<Result<(), String>> = OnceLock::new();
    if let Err(why) = CHECK.get_or_init(check_privileges) {
        panic!(
            "routerd lab tests need root and network namespaces: {why}. \
             Run them as root (e.g. `sudo -E cargo test`); CI must run them and must not skip them."
        );
    }
}

fn check_privileges() -> Result<(), String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    if euid != 0 {
        return Err(format!("running as uid {euid}, not root"));
    }
    let ip = find_command("ip").ok_or("`ip` (iproute2) is not installed")?;
    let probe = format!("rdt-probe-{}-0", std::process::id());
    let out = Command::new(&ip)
        .args(["netns", "add", &probe])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", ip.display()))?;
    if !out.status.success() {
        return Err(format!(
            "`ip netns add` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let _ = Command::new(&ip).args(["netns", "del", &probe]).output();
    Ok(())
}

/// Returns the path of a peer daemon or tool, or panics naming it and the script
/// that installs the lab's dependencies.
pub fn require_command(name: &str) -> PathBuf {
    find_command(name).unwrap_or_else(|| {
        panic!(
            "the lab needs `{name}`, which is not installed: run `deploy/install-deps.sh` \
             (as root) to install routerd's test peers and tools"
        )
    })
}

fn find_command(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        let p = PathBuf::from(name);
        return is_executable(&p).then_some(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(EXTRA_TOOL_DIRS.iter().map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// The `ip` binary, resolved once.
pub(crate) fn ip_cmd() -> &'static Path {
    static IP: OnceLock<PathBuf> = OnceLock::new();
    IP.get_or_init(|| require_command("ip"))
}

/// Locates one of this workspace's built binaries: `$ROUTERD_BIN_DIR/NAME`, else the
/// profile directory of the running test (`…/target/debug/deps/x` → `…/target/debug`).
pub fn bin(name: &str) -> PathBuf {
    let dir = match std::env::var_os("ROUTERD_BIN_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => profile_dir().unwrap_or_else(|| {
            panic!("cannot locate the target directory from the test executable's path")
        }),
    };
    let path = dir.join(name);
    if !is_executable(&path) {
        panic!(
            "binary `{name}` not found at {}: run `cargo build --workspace --bins` first \
             (with the same profile and CARGO_TARGET_DIR), or set ROUTERD_BIN_DIR",
            path.display()
        );
    }
    path
}

fn profile_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let parent = exe.parent()?;
    // Test binaries live in `<profile>/deps`; examples and bins directly in `<profile>`.
    if parent.file_name().is_some_and(|n| n == "deps") {
        parent.parent().map(Path::to_path_buf)
    } else {
        Some(parent.to_path_buf())
    }
}
