//! Helpers shared by the integration tests of the `myriad` binary. Each test
//! file includes them with `mod support;`, so a test uses some and not others
//! (hence the `dead_code` allowances).
//!
//! Layout:
//! - [`binary`]: run the built `myriad` and check how it exited;
//! - [`server`]: the built-in server (`myriad_server`) in the test process;
//! - [`serve`]: `myriad serve` as a child process of the test;
//! - [`scratch`]: a directory of a test's own, removed when dropped;
//! - [`result_files`]: reading result files and their histograms;
//! - [`wait_until`] (here): waiting on events.
//!
//! Waiting on events in tests: a test polls the condition it needs (a counter
//! of its own server, a process's state) with a generous deadline, never sleeps
//! for a guessed time.

pub mod binary;
pub mod result_files;
pub mod scratch;
pub mod serve;
pub mod server;

use std::fmt::Display;
use std::time::{Duration, Instant};

/// Polls `cond` until it holds; panics naming `what` if it does not within
/// `timeout`. The deadline only bounds a failing test: a passing one waits
/// exactly as long as the event takes.
#[allow(dead_code)]
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
