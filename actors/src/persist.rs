//! Sysctls marked `persistent: true` are also written to a sysctl.d file,
//! so they hold after a reboot before routerd starts.

use std::path::{Path, PathBuf};

use routerd_config::Config;
use routerd_config::kinds::Sysctl;
use routerd_contract::atomic::write_atomic;

/// The file routerd owns in the sysctl.d directory.
pub const FILE_NAME: &str = "90-routerd.conf";
const HEADER: &str = "# Written by routerd from its Sysctl resources (persistent: true).\n# Edits here are overwritten; change the resources instead.\n";

/// The file's content for `config`, or `None` when no Sysctl is persistent.
pub fn render(config: &Config) -> Option<String> {
    let mut lines: Vec<String> = config
        .of_kind::<Sysctl>()
        .filter(|(_, s)| s.persistent == Some(true))
        .map(|(r, s)| format!("# {}\n{} = {}\n", r.id(), s.key, s.value))
        .collect();
    if lines.is_empty() {
        return None;
    }
    lines.sort();
    Some(format!("{HEADER}{}", lines.concat()))
}

/// Brings `dir/90-routerd.conf` in line with `config`; returns the path if
/// the file was written or removed.
pub fn sync(config: &Config, dir: &Path) -> std::io::Result<Option<PathBuf>> {
    let path = dir.join(FILE_NAME);
    let current = std::fs::read_to_string(&path).ok();
    match render(config) {
        Some(content) if current.as_deref() != Some(content.as_str()) => {
            std::fs::create_dir_all(dir)?;
            write_atomic(&path, content.as_bytes())?;
            Ok(Some(path))
        }
        // Only a file routerd wrote is removed.
        None if current.as_deref().is_some_and(|c| c.starts_with(HEADER)) => {
            std::fs::remove_file(&path)?;
            Ok(Some(path))
        }
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(persistent: bool) -> Config {
        let text = format!(
            "apiVersion: routerd.net/v1alpha1\nkind: Router\nmetadata: {{name: t}}\nspec:\n  resources:\n  - apiVersion: system.routerd.net/v1alpha1\n    kind: Sysctl\n    metadata: {{name: fwd}}\n    spec: {{key: net.ipv4.ip_forward, value: \"1\", persistent: {persistent}}}\n"
        );
        routerd_config::load_str("t.yaml", &text)
            .expect("valid")
            .config
    }

    #[test]
    fn writes_then_removes_only_its_own_file() {
        let dir = tempfile::tempdir().unwrap();
        assert!(sync(&config(true), dir.path()).unwrap().is_some());
        let text = std::fs::read_to_string(dir.path().join(FILE_NAME)).unwrap();
        assert!(text.contains("net.ipv4.ip_forward = 1"), "{text}");
        assert!(
            sync(&config(true), dir.path()).unwrap().is_none(),
            "rewrote an unchanged file"
        );
        assert!(sync(&config(false), dir.path()).unwrap().is_some());
        assert!(!dir.path().join(FILE_NAME).exists());
        std::fs::write(dir.path().join(FILE_NAME), "someone else's\n").unwrap();
        assert!(sync(&config(false), dir.path()).unwrap().is_none());
        assert!(dir.path().join(FILE_NAME).exists());
    }
}
