//! Waiting on events in tests: a test polls the condition it needs (a counter
//! of its own server, a process's state) with a generous deadline, never sleeps
//! for a guessed time.

use std::fmt::Display;
use std::time::{Duration, Instant};

/// Polls `cond` until it holds; panics naming `what` if it does not within
/// `timeout`. The deadline only bounds a failing test: a passing one waits
/// exactly as long as the event takes.
pub fn wait_until(what: impl Display, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}
