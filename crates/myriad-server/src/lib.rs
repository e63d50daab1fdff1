//! myriad-server: the built-in HTTP/1.1 and HTTP/2 target of the myriad load tool.
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
//! - [`transport`]: what a connection runs on: the private `Stream` trait
//!   (TCP, Unix and TLS streams alike: bytes in, bytes out, readiness), the
//!   [`Listener`] kinds the accept loop takes from, and [`bind_unix`].
//! - [`tls`]: HTTPS with rustls (`ring`): a [`TlsIdentity`] (self-signed with
//!   rcgen, or the user's PEM files), its [`Tls`] acceptor, and the handshake
//!   under the header timeout before a connection's task proper.
//! - `conn`: one task per connection, generic over its stream: wait for readiness, borrow a buffer,
//!   read, feed the parser, write all of one read's answers in one write;
//!   header timeout against slowloris clients. A fresh connection whose first
//!   bytes are the HTTP/2 client preface is handed to `http2`.
//! - `http2`: an HTTP/2 connection (h2's server): reached by prior knowledge
//!   on cleartext (h2c) or by ALPN `h2` over TLS; every stream gets the same
//!   answer, delay and counting as an HTTP/1.1 request; GOAWAY at shutdown. An idle connection is its task
//!   (about 220 bytes on TCP or a Unix socket) and its socket, nothing more;
//!   over TLS it also holds the rustls session, which is the TLS stream's.
//! - `pool`: per-thread pools of read and write buffers, borrowed only while a
//!   request is in flight, so an idle connection holds no buffer.
//! - [`stats`]: [`ServerStats`], relaxed atomic counters shared by all tasks.
//! - [`listen`]: [`ListenSpec`] (an address or a port range), [`Endpoint`]
//!   (that or `unix:PATH`) and the sockets:
//!   [`bind`], [`bind_reuse_port`], [`PortReservation`].
//! - this file: [`serve`], the accept loop over one or more listeners of
//!   any kind, with or without TLS, and [`run`], its TCP-only shorthand.
//! - `handle`: [`spawn`], [`spawn_many`] and [`spawn_on`], a server on its own runtime and
//!   threads, stopped by its [`ServerHandle`].
//! - [`workers`]: the lines worker processes of a multi-process server send
//!   their supervisor (in [`myriad::supervise`]'s line format), and the
//!   supervisor's [`Tally`] of their counters (the processes themselves are
//!   the CLI's).
//!
//! The caller owns the sockets and the shutdown signal: [`run`] takes bound
//! listeners and a future, so tests bind `127.0.0.1:0` and the CLI wires
//! Ctrl-C. The library never picks an executor except in [`spawn`], whose whole
//! point is to own one.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
#![deny(missing_docs)]

pub mod access_log;
pub mod config;
mod conn;
#[doc(hidden)]
pub mod fuzzing;
mod handle;
mod http2;
pub mod listen;
mod pool;
mod request;
mod response;
pub mod stats;
pub mod tls;
pub mod transport;
pub mod workers;

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinSet;

use transport::Accepted;

pub use access_log::AccessLog;
pub use config::{Delay, DelayError, ServerConfig, DEFAULT_MAX_BODY};
pub use handle::{spawn, spawn_many, spawn_on, ServerHandle};
pub use listen::{bind, bind_reuse_port, Endpoint, ListenSpec, ListenSpecError, PortReservation};
pub use stats::{ServerStats, StatsSnapshot};
pub use tls::{Tls, TlsError, TlsIdentity};
pub use transport::{bind_unix, BoundAddr, Listener, StdListener};
pub use workers::{Tally, WorkerEnd, WorkerLine};

use conn::Shared;
use response::Responses;

/// Pause before accepting again when the process or system is out of file
/// descriptors (or memory): retrying at once would spin, giving up would end
/// the server over a transient condition.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);
/// How long a stopping server lets its HTTP/2 connections finish the streams
/// they accepted before their GOAWAY; then every connection is closed.
const HTTP2_SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Serves HTTP/1.1 and HTTP/2 (prior knowledge) on TCP `listeners` until
/// `shutdown` resolves, counting into `stats`: [`serve`] without TLS, for TCP
/// listeners only.
pub async fn run(
    listeners: Vec<TcpListener>,
    config: ServerConfig,
    stats: Arc<ServerStats>,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let listeners = listeners.into_iter().map(Listener::Tcp).collect();
    serve(listeners, config, None, stats, shutdown).await
}

/// Serves HTTP/1.1 and HTTP/2 on `listeners` (TCP and Unix sockets alike),
/// over TLS when `tls` is given, until `shutdown` resolves, counting into
/// `stats`.
///
/// Without TLS a connection is HTTP/2 when it starts with the HTTP/2 client
/// preface (prior knowledge), HTTP/1.1 otherwise; with TLS, ALPN decides
/// (`h2`, or HTTP/1.1 when the client offers no protocol the server knows).
///
/// One accept loop takes connections from every listener in turn; each
/// accepted connection gets its own task. When `shutdown` resolves the loop
/// stops accepting and every HTTP/2 connection sends GOAWAY; once they have
/// finished their streams (for at most 5 s), every
/// connection task is aborted and awaited, so none outlives this call
/// (dropping the returned future aborts them too).
/// Returns an error only if the config is invalid, `listeners` is empty, or a
/// listener fails for good; out-of-descriptor errors are waited out.
pub async fn serve(
    listeners: Vec<Listener>,
    config: ServerConfig,
    tls: Option<Tls>,
    stats: Arc<ServerStats>,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    if listeners.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "no address to listen on",
        ));
    }
    config.validate()?;
    let shared = Arc::new(Shared {
        responses: Responses::new(&config),
        h2: http2::Answer::new(&config)?,
        max_streams: config.max_streams,
        delay: config.delay,
        header_timeout: config.header_timeout,
        max_body: config.max_body,
        stats,
        access_log: config.access_log.clone(),
        goaway: tokio::sync::watch::Sender::new(false),
    });
    // Lines reach the file at least once a second, not only when a chunk
    // has gathered (and at shutdown, below).
    let flusher = config.access_log.clone().map(|log| {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
            loop {
                tick.tick().await;
                log.flush();
            }
        })
    });
    // A JoinSet rather than detached tasks: aborting it is how shutdown closes
    // every connection, and dropping it does the same if `run` is dropped.
    let mut connections = JoinSet::new();
    // Which listener is asked first: rotated so a busy port cannot starve the rest.
    let mut next = 0;
    tokio::pin!(shutdown);
    let result = loop {
        tokio::select! {
            biased;
            () = &mut shutdown => break Ok(()),
            // Reap finished tasks as they end, so a long run does not keep one
            // dead entry per closed connection.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = std::future::poll_fn(|cx| poll_accept_any(&listeners, &mut next, cx)) => match accepted {
                Ok(accepted) => {
                    let open = shared.stats.open_connection();
                    let shared = Arc::clone(&shared);
                    match (accepted, &tls) {
                        (Accepted::Tcp(stream), tls) => {
                            // Answers are small and written whole: Nagle's
                            // algorithm would only hold them back waiting for
                            // an ACK. Failure leaves a slower but working
                            // connection.
                            let _ = stream.set_nodelay(true);
                            match tls {
                                None => connections.spawn(conn::serve(stream, shared, open)),
                                Some(tls) => connections.spawn(tls::handshake_then_serve(tls.clone(), stream, shared, open)),
                            };
                        }
                        (Accepted::Unix(stream), None) => {
                            connections.spawn(conn::serve(stream, shared, open));
                        }
                        (Accepted::Unix(stream), Some(tls)) => {
                            connections.spawn(tls::handshake_then_serve(tls.clone(), stream, shared, open));
                        }
                    }
                }
                Err(e) => match AcceptError::classify(&e) {
                    AcceptError::Connection => {}
                    AcceptError::Exhausted => tokio::time::sleep(ACCEPT_BACKOFF).await,
                    AcceptError::Fatal => break Err(e),
                },
            },
        }
    };
    // HTTP/2 connections end by themselves once their streams are answered;
    // `closed` waits for the last of them (at once if there is none).
    shared.goaway.send_replace(true);
    let _ = tokio::time::timeout(HTTP2_SHUTDOWN_GRACE, shared.goaway.closed()).await;
    connections.shutdown().await;
    if let Some(flusher) = flusher {
        flusher.abort();
    }
    if let Some(log) = &shared.access_log {
        log.flush();
    }
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

/// Accepts from the first listener with a connection (or an error) waiting,
/// starting at `next`. Every listener that is not ready registers the task's
/// waker, so one task waits on all of them.
fn poll_accept_any(
    listeners: &[Listener],
    next: &mut usize,
    cx: &mut Context<'_>,
) -> Poll<io::Result<Accepted>> {
    let n = listeners.len();
    for i in 0..n {
        let at = (*next + i) % n;
        if let Poll::Ready(accepted) = listeners[at].poll_accept(cx) {
            *next = (at + 1) % n;
            return Poll::Ready(accepted);
        }
    }
    Poll::Pending
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
