//! Child processes that do a share of the work: one stack for both sides,
//! used by `myriad run`'s worker processes and by `myriad serve --workers`.
//!
//! # Layout
//! - `line.rs`: the line format, [`encode`] and [`decode`], [`Control`].
//! - `parent.rs`: the [`Supervisor`], which spawns children and turns their
//!   stdout into [`Event`]s, one reader thread per child.
//! - `child.rs`: the child's side: [`emit`], [`read_stdin_line`],
//!   [`cancel_on_stdin`].
//! - this file: [`wait_cancelled`], a blocking wait on a token.
//!
//! # The line format
//! Parent and child talk in lines over the child's stdin and stdout: UTF-8,
//! one JSON object per line, ended by `\n`. Every object has
//!
//! - `"v"`: the format's version, [`VERSION`] (now 1), written first;
//! - `"kind"`: what the line is, in `snake_case`;
//! - the fields of that kind, next to them (not nested).
//!
//! ```text
//! {"v":1,"kind":"cancel"}
//! {"v":1,"kind":"stats","connections_accepted":3,"connections_open":1,...}
//! ```
//!
//! A line type is any `serde` type that serializes as an object without a
//! `v` field; enums are tagged `#[serde(tag = "kind", rename_all =
//! "snake_case")]`. [`decode`] reads the version before anything else and
//! refuses a line of another version ([`LineError::Version`]): the two sides
//! are meant to be the same build, and a line of another version is not
//! guessed at. The version changes when a kind changes incompatibly; adding a
//! kind or a field that readers may ignore does not change it.
//!
//! Lines from child to parent are the caller's type: `myriad run`'s are
//! [`crate::metrics::wire::RunLine`], `myriad serve`'s are
//! `myriad_server::WorkerLine`. From parent to child, every child understands
//! [`Control::Cancel`], and stdin closing means the same (the parent stopped,
//! or died); a protocol may add lines of its own, such as `myriad run`'s
//! first line, [`crate::metrics::wire::Work`].
//!
//! # Ending
//! A child that ends is described once, as an [`Exit`] ("exit code 3",
//! "killed by signal 9 (SIGKILL)"), after its last line. [`Supervisor::stop`]
//! closes every stdin, waits a while, then sends SIGKILL to the rest; a
//! dropped [`Supervisor`] kills whatever still runs, so no child outlives it.
//! Signals are each child's own business: Ctrl-C in a terminal reaches the
//! whole process group, and a child that must leave the decision to its
//! parent ignores SIGINT itself.

mod child;
mod line;
mod parent;

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Wake, Waker};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

pub use child::{cancel_on_stdin, emit, read_stdin_line};
pub use line::{decode, encode, Control, LineError, VERSION};
pub use parent::{Event, Exit, Supervisor};

/// Why a child could not be started, or a line not sent or received.
#[derive(Debug, thiserror::Error)]
pub enum SuperviseError {
    /// Spawning a process or a thread, or a pipe, failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A line could not be written or read in the line format.
    #[error(transparent)]
    Line(#[from] LineError),
    /// No child has this index.
    #[error("there is no child {0}")]
    NoChild(usize),
    /// The child's stdin was closed by the supervisor.
    #[error("the stdin of child {0} is closed")]
    Closed(usize),
}

/// Blocks the calling thread until `token` is cancelled (true), or until
/// `timeout` has passed (false). For threads outside any async runtime.
pub fn wait_cancelled(token: &CancellationToken, timeout: Option<Duration>) -> bool {
    /// Wakes the waiting thread: the token's future is polled again there.
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut cancelled = std::pin::pin!(token.cancelled());
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    loop {
        if cancelled.as_mut().poll(&mut cx).is_ready() {
            return true;
        }
        // Parking may end early (a stray unpark): the loop polls again.
        match deadline {
            None => std::thread::park(),
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return false;
                }
                std::thread::park_timeout(left);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_cancelled_wakes_on_cancel_and_gives_up_at_the_timeout() {
        let token = CancellationToken::new();
        let canceller = token.clone();
        let thread = std::thread::spawn(move || canceller.cancel());
        assert!(wait_cancelled(&token, None));
        thread.join().unwrap();
        assert!(wait_cancelled(&token, Some(Duration::ZERO)), "already");

        let started = Instant::now();
        let never = CancellationToken::new();
        assert!(!wait_cancelled(&never, Some(Duration::from_millis(20))));
        assert!(started.elapsed() >= Duration::from_millis(20));
    }
}
