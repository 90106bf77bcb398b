//! Waiting for a condition with a deadline, instead of sleeping and hoping.

use std::time::{Duration, Instant};

/// Polls `f` (every 10–50 ms) until it returns `Some`, and returns that value;
/// panics naming `what` and the elapsed time if `timeout` passes first.
pub fn wait_until<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    let mut delay = Duration::from_millis(10);
    loop {
        if let Some(v) = f() {
            return v;
        }
        let elapsed = start.elapsed();
        if elapsed >= timeout {
            panic!("timed out after {elapsed:?} (limit {timeout:?}) waiting for {what}");
        }
        std::thread::sleep(delay.min(timeout - elapsed));
        delay = (delay * 2).min(Duration::from_millis(50));
    }
}
