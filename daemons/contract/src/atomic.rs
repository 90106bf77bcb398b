//! Crash-safe state files: a reader sees the old content or the new, never a mix.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Mode of state files: the router's group may read them, others may not.
pub const DEFAULT_MODE: u32 = 0o640;

/// Replaces `path` with `bytes` atomically and durably, mode 0640.
pub fn write_atomic(path: impl AsRef<Path>, bytes: &[u8]) -> io::Result<()> {
    write_atomic_with_mode(path, bytes, DEFAULT_MODE)
}

/// Like [`write_atomic`] with an explicit file mode.
pub fn write_atomic_with_mode(path: impl AsRef<Path>, bytes: &[u8], mode: u32) -> io::Result<()> {
    let path = path.as_ref();
    let dir = parent_dir(path);
    let tmp = temp_path(path)?;
    let result = write_temp(&tmp, bytes, mode).and_then(|()| fs::rename(&tmp, path));
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(named(path, e));
    }
    // The rename is only durable once the directory entry is.
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| named(dir, e))
}

/// Serialises `value` as pretty JSON (with a final newline) and writes it atomically.
pub fn write_json_atomic<T: Serialize + ?Sized>(
    path: impl AsRef<Path>,
    value: &T,
) -> io::Result<()> {
    let mut bytes = serde_json::to_vec_pretty(value)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    bytes.push(b'\n');
    write_atomic(path, &bytes)
}

/// Reads a JSON file; `Ok(None)` when it does not exist, an error naming it when corrupt.
pub fn read_json<T: DeserializeOwned>(path: impl AsRef<Path>) -> io::Result<Option<T>> {
    let path = path.as_ref();
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(named(path, e)),
    };
    serde_json::from_slice(&bytes).map(Some).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: corrupt JSON: {e}", path.display()),
        )
    })
}

fn write_temp(tmp: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(tmp)?;
    // The umask may have narrowed the mode given at creation.
    file.set_permissions(fs::Permissions::from_mode(mode))?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// A name in the target's directory, unique per process and call, hidden from globs.
fn temp_path(path: &Path) -> io::Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{}: not a file path", path.display()),
        )
    })?;
    let mut tmp = std::ffi::OsString::from(".");
    tmp.push(name);
    tmp.push(format!(
        ".tmp.{}.{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    Ok(parent_dir(path).join(tmp))
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

fn named(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Lease {
        address: String,
        renewals: u32,
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn overwrite_leaves_no_temp_files_and_sets_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(entries(dir.path()), vec!["state.json"]);
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
    }

    #[test]
    fn json_round_trip_missing_and_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lease.json");
        assert_eq!(read_json::<Lease>(&path).unwrap(), None);
        let lease = Lease {
            address: "192.0.2.10".into(),
            renewals: 3,
        };
        write_json_atomic(&path, &lease).unwrap();
        assert_eq!(read_json::<Lease>(&path).unwrap(), Some(lease));

        fs::write(&path, b"{\"address\": ").unwrap();
        let err = read_json::<Lease>(&path).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("lease.json"), "{err}");
    }

    #[test]
    fn failed_write_names_the_file_and_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no-such-dir").join("state.json");
        let err = write_atomic(&missing, b"x").unwrap_err();
        assert!(err.to_string().contains("no-such-dir"), "{err}");
        assert!(entries(dir.path()).is_empty());
    }

    #[test]
    fn readers_never_observe_a_partial_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.json");
        let a = vec![b'a'; 256 * 1024];
        let b = vec![b'b'; 256 * 1024];
        write_atomic(&path, &a).unwrap();
        let stop = AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                let mut reads = 0;
                while !stop.load(Ordering::Relaxed) || reads == 0 {
                    let content = fs::read(&path).unwrap();
                    assert!(content == a || content == b, "torn read");
                    reads += 1;
                }
            });
            for i in 0..50 {
                write_atomic(&path, if i % 2 == 0 { &b } else { &a }).unwrap();
            }
            stop.store(true, Ordering::Relaxed);
        });
        assert_eq!(entries(dir.path()), vec!["big.json"]);
    }
}
