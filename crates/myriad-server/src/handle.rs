//! A server on its own OS threads: [`spawn`] and the [`ServerHandle`] that stops it.
//!
//! The load engine and the server must not share a runtime in a benchmark or
//! the demo (they would compete for the same workers and blur both sides'
//! numbers), and tests want a server they can start from plain `#[test]`
//! functions. So `spawn` (one listener) and `spawn_many` (several, e.g. a port
//! range) and `spawn_on` (TCP or Unix listeners, with or without TLS) build a dedicated tokio runtime on a dedicated thread and run
//! [`run`](crate::run) on it.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::oneshot;

use crate::config::ServerConfig;
use crate::stats::{ServerStats, StatsSnapshot};
use crate::tls::Tls;
use crate::transport::{BoundAddr, StdListener};

/// How long a stopping runtime waits for blocking work before it is dropped.
/// The server runs no blocking work, so this only bounds the unexpected.
const RUNTIME_SHUTDOWN: Duration = Duration::from_secs(1);

/// A running server. Dropping it stops it, like [`ServerHandle::shutdown`].
#[derive(Debug)]
pub struct ServerHandle {
    addrs: Vec<SocketAddr>,
    bound: Vec<BoundAddr>,
    stats: Arc<ServerStats>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<io::Result<()>>>,
}

/// Starts a server on `listener` in a runtime of its own: `threads` worker
/// threads (a single-threaded runtime on one dedicated thread when `threads` is
/// 1; one worker per core when it is 0).
///
/// Errors if the config is invalid (see [`ServerConfig::status`]), the listener
/// cannot be made non-blocking, or the runtime or thread cannot be created.
pub fn spawn(
    listener: std::net::TcpListener,
    config: ServerConfig,
    threads: usize,
) -> io::Result<ServerHandle> {
    spawn_many(vec![listener], config, threads)
}

/// Like [`spawn`], serving every listener in `listeners` (at least one) with
/// one accept loop, e.g. each port of a [`ListenSpec`](crate::ListenSpec) range.
pub fn spawn_many(
    listeners: Vec<std::net::TcpListener>,
    config: ServerConfig,
    threads: usize,
) -> io::Result<ServerHandle> {
    let listeners = listeners.into_iter().map(StdListener::Tcp).collect();
    spawn_on(listeners, config, None, threads)
}

/// Like [`spawn_many`], on listeners of any kind (TCP, Unix), speaking HTTPS
/// when `tls` is given (build it with [`TlsIdentity::acceptor`](crate::TlsIdentity::acceptor)).
pub fn spawn_on(
    listeners: Vec<StdListener>,
    config: ServerConfig,
    tls: Option<Tls>,
    threads: usize,
) -> io::Result<ServerHandle> {
    config.validate()?;
    if listeners.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "no address to listen on",
        ));
    }
    let bound = listeners
        .iter()
        .map(StdListener::local_addr)
        .collect::<io::Result<Vec<_>>>()?;
    let addrs = bound
        .iter()
        .filter_map(|b| match b {
            BoundAddr::Tcp(addr) => Some(*addr),
            BoundAddr::Unix(_) => None,
        })
        .collect();
    let mut builder = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        if threads > 1 {
            builder.worker_threads(threads);
        }
        builder
    };
    let runtime = builder
        .enable_all()
        .thread_name("myriad-server-worker")
        .build()?;
    // Registering the listener needs the runtime's I/O driver, so it happens
    // here, where an error can still be returned to the caller.
    let listeners = {
        let _entered = runtime.enter();
        listeners
            .into_iter()
            .map(StdListener::into_tokio)
            .collect::<io::Result<Vec<_>>>()?
    };
    let stats = Arc::new(ServerStats::new());
    let (stop, stopped) = oneshot::channel::<()>();
    let server_stats = Arc::clone(&stats);
    let thread = std::thread::Builder::new()
        .name("myriad-server".into())
        .spawn(move || {
            // A dropped sender stops the server too, so a leaked handle cannot
            // keep the thread alive.
            let shutdown = async {
                let _ = stopped.await;
            };
            let result =
                runtime.block_on(crate::serve(listeners, config, tls, server_stats, shutdown));
            runtime.shutdown_timeout(RUNTIME_SHUTDOWN);
            result
        })?;
    Ok(ServerHandle {
        addrs,
        bound,
        stats,
        stop: Some(stop),
        thread: Some(thread),
    })
}

impl ServerHandle {
    /// The TCP address the server listens on (with the real port when bound
    /// to 0); the first one when it listens on several. A server on Unix
    /// sockets only has none: `0.0.0.0:0` (see [`bound`](Self::bound)).
    pub fn local_addr(&self) -> SocketAddr {
        self.addrs
            .first()
            .copied()
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// Every TCP address the server listens on, in the order given.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// Every address the server listens on, TCP or Unix, in the order given.
    pub fn bound(&self) -> &[BoundAddr] {
        &self.bound
    }

    /// The server's counters now.
    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }

    /// Stops accepting, lets HTTP/2 connections finish the streams they
    /// accepted after their GOAWAY (for at most 5 s), closes every connection,
    /// joins the server's threads and returns the final counters.
    pub fn shutdown(mut self) -> StatsSnapshot {
        self.stop_and_join();
        self.stats.snapshot()
    }

    fn stop_and_join(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            // The server's own error (its accept loop failing) or a panic has
            // nowhere to go from here; the counters still tell what happened.
            let _ = thread.join();
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}
