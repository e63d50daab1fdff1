//! myriad-server: the built-in HTTP/1.1 target of the myriad load tool.
//!
//! It answers every request with the same configured status and body, after a
//! configurable delay, as fast as it can otherwise: it is both the target of
//! the engine's tests and a benchmark subject of its own.
//!
//! # Layout
//!
//! - [`config`]: [`ServerConfig`] and [`Delay`] (with its `FromStr` for the CLI).
//! - `response`: the few response byte strings, built once at start.
//! - `request`: a pure state machine that turns buffered bytes into replies:
//!   httparse for heads, request bodies skipped by `Content-Length` or
//!   [`myriad::proto::ChunkedDecoder`], pipelined requests answered in order.
//! - `conn`: one task per connection: read, feed the parser, write all of one
//!   read's answers in one write; header timeout against slowloris clients.
//! - [`stats`]: [`ServerStats`], relaxed atomic counters shared by all tasks.
//! - this file: [`run`], the accept loop, and [`bind`], the listening socket.
//! - `handle`: [`spawn`], a server on its own runtime and threads, stopped by
//!   its [`ServerHandle`].
//!
//! The caller owns the socket and the shutdown signal: [`run`] takes a bound
//! listener and a future, so tests bind `127.0.0.1:0` and the CLI wires
//! Ctrl-C. The library never picks an executor except in [`spawn`], whose whole
//! point is to own one.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
#![deny(missing_docs)]

pub mod config;
mod conn;
mod handle;
mod request;
mod response;
pub mod stats;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinSet;

pub use config::{Delay, DelayError, ServerConfig};
pub use handle::{spawn, ServerHandle};
pub use stats::{ServerStats, StatsSnapshot};

use conn::Shared;
use response::Responses;

/// Listen backlog: a load test opens thousands of connections at once, and a
/// short queue turns that burst into SYN retries (a second each) on the client.
const BACKLOG: i32 = 4096;
/// Pause before accepting again when the process or system is out of file
/// descriptors (or memory): retrying at once would spin, giving up would end
/// the server over a transient condition.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

/// Serves HTTP/1.1 on `listener` until `shutdown` resolves, counting into `stats`.
///
/// Each accepted connection gets its own task. When `shutdown` resolves the
/// loop stops accepting, aborts every connection task and waits for them to
/// end, so none outlives this call (dropping the returned future aborts them
/// too). Returns an error only if the config is invalid or the listener fails
/// for good; out-of-descriptor errors are waited out.
pub async fn run(
    listener: TcpListener,
    config: ServerConfig,
    stats: Arc<ServerStats>,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    config.validate()?;
    let shared = Arc::new(Shared {
        responses: Responses::new(&config),
        delay: config.delay,
        header_timeout: config.header_timeout,
        stats,
    });
    // A JoinSet rather than detached tasks: aborting it is how shutdown closes
    // every connection, and dropping it does the same if `run` is dropped.
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    let result = loop {
        tokio::select! {
            biased;
            () = &mut shutdown => break Ok(()),
            // Reap finished tasks as they end, so a long run does not keep one
            // dead entry per closed connection.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    let open = shared.stats.open_connection();
                    // Answers are small and written whole: Nagle's algorithm
                    // would only hold them back waiting for an ACK. Failure
                    // leaves a slower but working connection.
                    let _ = stream.set_nodelay(true);
                    let shared = Arc::clone(&shared);
                    connections.spawn(async move {
                        let _open = open;
                        conn::serve(stream, shared).await;
                    });
                }
                Err(e) => match AcceptError::classify(&e) {
                    AcceptError::Connection => {}
                    AcceptError::Exhausted => tokio::time::sleep(ACCEPT_BACKOFF).await,
                    AcceptError::Fatal => break Err(e),
                },
            },
        }
    };
    connections.shutdown().await;
    result
}

/// What an `accept` error means for the accept loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AcceptError {
    /// One pending connection failed (reset, aborted, refused by a filter):
    /// accept the next one at once.
    Connection,
    /// Out of descriptors or memory: back off and retry.
    Exhausted,
    /// The listener itself is unusable.
    Fatal,
}

impl AcceptError {
    fn classify(e: &io::Error) -> Self {
        match e.raw_os_error() {
            Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM) => {
                AcceptError::Exhausted
            }
            Some(libc::EBADF | libc::EINVAL | libc::ENOTSOCK | libc::EOPNOTSUPP | libc::EFAULT) => {
                AcceptError::Fatal
            }
            // Everything else (ECONNABORTED, EPROTO, EPERM, network errors Linux
            // passes on from the new socket, EINTR) concerns one connection.
            _ => AcceptError::Connection,
        }
    }
}

/// Binds a listening socket for [`run`] or [`spawn`]: `SO_REUSEADDR` (so a
/// restarted server can rebind while old connections sit in TIME_WAIT), a
/// backlog of 4096, non-blocking.
pub fn bind(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_errors() {
        let os = io::Error::from_raw_os_error;
        assert_eq!(
            AcceptError::classify(&os(libc::EMFILE)),
            AcceptError::Exhausted
        );
        assert_eq!(
            AcceptError::classify(&os(libc::ENFILE)),
            AcceptError::Exhausted
        );
        assert_eq!(
            AcceptError::classify(&os(libc::ECONNABORTED)),
            AcceptError::Connection
        );
        assert_eq!(AcceptError::classify(&os(libc::EBADF)), AcceptError::Fatal);
    }
}
