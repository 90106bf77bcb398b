//! Fault windows declared by the chaos runner, one JSON object a line:
//!
//! ```text
//! {"at_ms": 1795485757554, "event": "start", "id": 3, "kind": "lan-down", "node": "r1"}
//! {"at_ms": 1795485759120, "event": "end", "id": 3}
//! {"at_ms": 1795485790000, "event": "stop"}
//! ```
//!
//! `at_ms` is Unix milliseconds (`date +%s%3N`). A window opens before the
//! fault is injected and closes after it was healed; `stop` ends the checker.

use serde::{Deserialize, Serialize};

/// A time interval in Unix milliseconds, `start_ms <= end_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// Inclusive start.
    pub start_ms: f64,
    /// End.
    pub end_ms: f64,
}

impl Interval {
    /// `end - start`.
    pub fn length_ms(&self) -> f64 {
        self.end_ms - self.start_ms
    }
}

/// One declared fault.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultWindow {
    /// The runner's id for the fault.
    pub id: u64,
    /// What was done (`kill-vrrp`, `lan-down`, ...).
    pub kind: String,
    /// To which node.
    pub node: String,
    /// When the window opened.
    pub start_ms: f64,
    /// When it closed; `None` while the fault lasts.
    pub end_ms: Option<f64>,
}

#[derive(Debug, Deserialize)]
struct Line {
    at_ms: f64,
    event: String,
    #[serde(default)]
    id: u64,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    node: String,
}

/// A line of the fault file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum FaultLineError {
    /// Not a JSON object of the expected shape.
    #[error("not a fault event ({0}): {1}")]
    Parse(serde_json::Error, String),
    /// An event other than start, end or stop.
    #[error("unknown fault event {0:?}")]
    UnknownEvent(String),
    /// An end for a window that was never opened.
    #[error("end of fault {0}, which never started")]
    EndWithoutStart(u64),
}

/// The windows read so far.
#[derive(Debug, Default, Clone)]
pub struct FaultLog {
    /// Every window, in the order they opened.
    pub windows: Vec<FaultWindow>,
    /// A `stop` event was read.
    pub stopped: bool,
}

impl FaultLog {
    /// Applies one line; blank lines are ignored.
    pub fn feed_line(&mut self, line: &str) -> Result<(), FaultLineError> {
        let line = line.trim();
        if line.is_empty() {
            return Ok(());
        }
        let ev: Line =
            serde_json::from_str(line).map_err(|e| FaultLineError::Parse(e, line.to_string()))?;
        match ev.event.as_str() {
            "start" => self.windows.push(FaultWindow {
                id: ev.id,
                kind: ev.kind,
                node: ev.node,
                start_ms: ev.at_ms,
                end_ms: None,
            }),
            "end" => {
                let w = self
                    .windows
                    .iter_mut()
                    .rev()
                    .find(|w| w.id == ev.id && w.end_ms.is_none())
                    .ok_or(FaultLineError::EndWithoutStart(ev.id))?;
                w.end_ms = Some(ev.at_ms);
            }
            "stop" => self.stopped = true,
            other => return Err(FaultLineError::UnknownEvent(other.to_string())),
        }
        Ok(())
    }

    /// The time the windows excuse, each stretched by `grace_ms` after its end;
    /// a window still open at the end of the run lasts to `run_end_ms`.
    pub fn excused(&self, grace_ms: f64, run_end_ms: f64) -> Vec<Interval> {
        self.windows
            .iter()
            .map(|w| Interval {
                start_ms: w.start_ms,
                end_ms: w
                    .end_ms
                    .map_or(run_end_ms, |e| e + grace_ms)
                    .max(w.start_ms),
            })
            .collect()
    }

    /// The window in force at `at_ms` (grace included), if any: for reports.
    pub fn window_at(&self, at_ms: f64, grace_ms: f64) -> Option<&FaultWindow> {
        self.windows
            .iter()
            .find(|w| w.start_ms <= at_ms && w.end_ms.is_none_or(|e| at_ms <= e + grace_ms))
    }
}

/// The parts of `iv` that no interval of `covers` overlaps.
pub fn uncovered(iv: Interval, covers: &[Interval]) -> Vec<Interval> {
    let mut sorted: Vec<Interval> = covers
        .iter()
        .copied()
        .filter(|c| c.end_ms > iv.start_ms && c.start_ms < iv.end_ms)
        .collect();
    sorted.sort_by(|a, b| a.start_ms.total_cmp(&b.start_ms));
    let mut out = Vec::new();
    let mut cursor = iv.start_ms;
    for c in sorted {
        if c.start_ms > cursor {
            out.push(Interval {
                start_ms: cursor,
                end_ms: c.start_ms,
            });
        }
        cursor = cursor.max(c.end_ms);
    }
    if cursor < iv.end_ms {
        out.push(Interval {
            start_ms: cursor,
            end_ms: iv.end_ms,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iv(a: f64, b: f64) -> Interval {
        Interval {
            start_ms: a,
            end_ms: b,
        }
    }

    #[test]
    fn windows_open_and_close_by_id() {
        let mut log = FaultLog::default();
        log.feed_line(r#"{"at_ms":100,"event":"start","id":1,"kind":"lan-down","node":"r1"}"#)
            .unwrap();
        log.feed_line("").unwrap();
        log.feed_line(r#"{"at_ms":300,"event":"end","id":1}"#)
            .unwrap();
        log.feed_line(r#"{"at_ms":400,"event":"start","id":2,"kind":"kill-vrrp","node":"r2"}"#)
            .unwrap();
        assert_eq!(log.windows.len(), 2);
        assert_eq!(log.windows[0].end_ms, Some(300.0));
        assert_eq!(log.windows[1].end_ms, None);
        assert_eq!(
            log.excused(50.0, 1000.0),
            vec![iv(100.0, 350.0), iv(400.0, 1000.0)]
        );
        assert_eq!(log.window_at(340.0, 50.0).map(|w| w.id), Some(1));
        assert_eq!(log.window_at(360.0, 50.0).map(|w| w.id), None);
        assert!(!log.stopped);
        log.feed_line(r#"{"at_ms":500,"event":"stop"}"#).unwrap();
        assert!(log.stopped);
    }

    #[test]
    fn bad_lines_are_errors_not_silence() {
        let mut log = FaultLog::default();
        assert!(log.feed_line("garbage").is_err());
        assert!(
            log.feed_line(r#"{"at_ms":1,"event":"end","id":9}"#)
                .is_err()
        );
        assert!(log.feed_line(r#"{"at_ms":1,"event":"pause"}"#).is_err());
    }

    #[test]
    fn uncovered_cuts_out_the_excused_time() {
        let covers = [iv(10.0, 20.0), iv(15.0, 30.0), iv(50.0, 60.0)];
        assert_eq!(
            uncovered(iv(0.0, 100.0), &covers),
            vec![iv(0.0, 10.0), iv(30.0, 50.0), iv(60.0, 100.0)]
        );
        assert!(uncovered(iv(12.0, 28.0), &covers).is_empty());
        assert_eq!(uncovered(iv(0.0, 5.0), &covers), vec![iv(0.0, 5.0)]);
    }
}
