//! On-disk side of the event log: scanning, repairing, reading and rotating files.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader};
use std::ops::ControlFlow;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::Event;

/// Mode of new log files: readable by the router's group (routerctl), not by others.
const LOG_MODE: u32 = 0o640;

/// `events.jsonl.N`.
pub(crate) fn rotated_path(path: &Path, n: usize) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// Opens (creating if needed) the live file for appending.
pub(crate) fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(LOG_MODE)
        .open(path)
}

/// What opening the live file found.
pub(crate) struct Scan {
    /// The most recent events, at most the ring capacity.
    pub tail: VecDeque<Event>,
    /// Highest seq in the file.
    pub last_seq: Option<u64>,
    /// File length after repair.
    pub len: u64,
}

/// Reads the live file, keeps its tail, and cuts off a torn or unparsable last line so
/// the next append starts on a clean line.
pub(crate) fn scan_and_repair(path: &Path, keep_tail: usize) -> io::Result<Scan> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(LOG_MODE)
        .open(path)?;
    let mut reader = BufReader::new(&file);
    let mut scan = Scan {
        tail: VecDeque::new(),
        last_seq: None,
        len: 0,
    };
    let mut offset = 0u64;
    // The most recent line if it was bad: where it starts and what is wrong. If it is
    // the file's last line it is cut off below; bad lines followed by more are skipped.
    let mut last_bad: Option<(u64, &'static str)> = None;
    let mut skipped = 0usize;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line)?;
        if n == 0 {
            break;
        }
        let start = offset;
        offset += n as u64;
        let torn = line.last() != Some(&b'\n');
        match if torn { None } else { parse_line(&line) } {
            Some(event) => {
                if last_bad.take().is_some() {
                    skipped += 1;
                }
                scan.last_seq = Some(scan.last_seq.map_or(event.seq, |s| s.max(event.seq)));
                if keep_tail > 0 {
                    if scan.tail.len() == keep_tail {
                        scan.tail.pop_front();
                    }
                    scan.tail.push_back(event);
                }
            }
            None => {
                let why = if torn {
                    "torn (no trailing newline)"
                } else {
                    "unparsable"
                };
                if last_bad.replace((start, why)).is_some() {
                    skipped += 1;
                }
            }
        }
    }
    drop(reader);
    if skipped > 0 {
        tracing::warn!(path = %path.display(), skipped, "skipping unparsable lines in event log");
    }
    scan.len = offset;
    if let Some((start, why)) = last_bad {
        tracing::warn!(
            path = %path.display(),
            offset = start,
            bytes = offset - start,
            "event log's last line is {why}, probably from a crash mid-write; truncating it"
        );
        file.set_len(start)?;
        file.sync_all()?;
        scan.len = start;
    }
    Ok(scan)
}

/// Parses one newline-terminated line; `None` for anything that is not an event.
fn parse_line(line: &[u8]) -> Option<Event> {
    let body = line.strip_suffix(b"\n").unwrap_or(line);
    serde_json::from_slice(body).ok()
}

/// Calls `visit` for each complete, well-formed event line of `path` in order.
/// Returns `Ok(false)` when the file does not exist. A line still being written
/// (no newline yet) is not visited.
pub(crate) fn visit_events(
    path: &Path,
    mut visit: impl FnMut(Event) -> ControlFlow<()>,
) -> io::Result<bool> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    let mut reader = BufReader::new(file);
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 || line.last() != Some(&b'\n') {
            return Ok(true);
        }
        if let Some(event) = parse_line(&line)
            && visit(event).is_break()
        {
            return Ok(true);
        }
    }
}

/// The first event's seq in `path`, if it has one.
pub(crate) fn first_seq(path: &Path) -> io::Result<Option<u64>> {
    let mut first = None;
    visit_events(path, |event| {
        first = Some(event.seq);
        ControlFlow::Break(())
    })?;
    Ok(first)
}

/// The highest seq in `path`, if it has any event.
pub(crate) fn last_seq(path: &Path) -> io::Result<Option<u64>> {
    let mut last: Option<u64> = None;
    visit_events(path, |event| {
        last = Some(last.map_or(event.seq, |s| s.max(event.seq)));
        ControlFlow::Continue(())
    })?;
    Ok(last)
}

/// Shifts `path.1..path.(keep-1)` up by one (dropping `path.keep`) and renames the live
/// file to `path.1`. The caller opens a fresh live file afterwards.
pub(crate) fn rotate(path: &Path, keep: usize) -> io::Result<()> {
    remove_if_exists(&rotated_path(path, keep))?;
    for n in (1..keep).rev() {
        rename_if_exists(&rotated_path(path, n), &rotated_path(path, n + 1))?;
    }
    rename_if_exists(path, &rotated_path(path, 1))?;
    sync_parent(path)
}

fn remove_if_exists(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn rename_if_exists(from: &Path, to: &Path) -> io::Result<()> {
    match fs::rename(from, to) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Makes renames and creations in the file's directory durable.
pub(crate) fn sync_parent(path: &Path) -> io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}
