//! Server counters: [`ServerStats`], shared by every connection task, and the
//! plain [`StatsSnapshot`] read from it.
//!
//! All counters are relaxed atomics: they are statistics, never used to
//! synchronise anything, so each update is one uncontended-as-possible
//! instruction. Requests are added once per read batch, not once per request,
//! to keep the pipelined hot path cheap.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

/// Live counters of a running server. Share it with `Arc`; read it at any time.
#[derive(Debug, Default)]
pub struct ServerStats {
    accepted: AtomicU64,
    open: AtomicU64,
    peak: AtomicU64,
    requests: AtomicU64,
    bad_requests: AtomicU64,
    header_timeouts: AtomicU64,
    heads_too_large: AtomicU64,
    bodies_too_large: AtomicU64,
    handshakes: AtomicU64,
    handshake_failures: AtomicU64,
}

/// The counters of a [`ServerStats`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StatsSnapshot {
    /// Connections accepted since the start.
    pub connections_accepted: u64,
    /// Connections open now.
    pub connections_open: u64,
    /// Most connections open at once.
    pub peak_connections: u64,
    /// Requests answered (bad requests excluded).
    pub requests_served: u64,
    /// Malformed requests answered with `400 Bad Request`.
    pub bad_requests: u64,
    /// Connections closed because a request head arrived too slowly.
    pub header_timeouts: u64,
    /// Requests answered `431`: a head over 64 KiB or with more than 64
    /// headers. Absent from the lines of workers older than it: read as 0.
    #[serde(default)]
    pub heads_too_large: u64,
    /// Requests answered `413`: a body over the server's `max_body`. Absent
    /// from the lines of workers older than it: read as 0.
    #[serde(default)]
    pub bodies_too_large: u64,
    /// TLS handshakes completed (0 without TLS). Absent from the lines of
    /// workers older than TLS: read as 0.
    #[serde(default)]
    pub tls_handshakes: u64,
    /// TLS handshakes that did not complete: a protocol error, a client that
    /// rejected the certificate or left, or the header timeout (which counts
    /// as a header timeout too).
    #[serde(default)]
    pub tls_handshake_failures: u64,
}

impl ServerStats {
    /// All counters at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Connections accepted since the start.
    pub fn connections_accepted(&self) -> u64 {
        self.accepted.load(Relaxed)
    }

    /// Connections open now.
    pub fn connections_open(&self) -> u64 {
        self.open.load(Relaxed)
    }

    /// Most connections open at once.
    pub fn peak_connections(&self) -> u64 {
        self.peak.load(Relaxed)
    }

    /// Requests answered (bad requests excluded).
    pub fn requests_served(&self) -> u64 {
        self.requests.load(Relaxed)
    }

    /// Malformed requests answered with `400 Bad Request`.
    pub fn bad_requests(&self) -> u64 {
        self.bad_requests.load(Relaxed)
    }

    /// Connections closed because a request head arrived too slowly.
    pub fn header_timeouts(&self) -> u64 {
        self.header_timeouts.load(Relaxed)
    }

    /// Requests answered `431 Request Header Fields Too Large`.
    pub fn heads_too_large(&self) -> u64 {
        self.heads_too_large.load(Relaxed)
    }

    /// Requests answered `413 Content Too Large`.
    pub fn bodies_too_large(&self) -> u64 {
        self.bodies_too_large.load(Relaxed)
    }

    /// TLS handshakes completed.
    pub fn tls_handshakes(&self) -> u64 {
        self.handshakes.load(Relaxed)
    }

    /// TLS handshakes that did not complete (see [`StatsSnapshot::tls_handshake_failures`]).
    pub fn tls_handshake_failures(&self) -> u64 {
        self.handshake_failures.load(Relaxed)
    }

    /// Every counter, read one after the other (not atomically as a whole).
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            connections_accepted: self.connections_accepted(),
            connections_open: self.connections_open(),
            peak_connections: self.peak_connections(),
            requests_served: self.requests_served(),
            bad_requests: self.bad_requests(),
            header_timeouts: self.header_timeouts(),
            heads_too_large: self.heads_too_large(),
            bodies_too_large: self.bodies_too_large(),
            tls_handshakes: self.tls_handshakes(),
            tls_handshake_failures: self.tls_handshake_failures(),
        }
    }

    /// Counts a new connection; the returned guard counts its close when dropped,
    /// which also covers a connection task aborted at shutdown.
    pub(crate) fn open_connection(self: &Arc<Self>) -> OpenGuard {
        self.accepted.fetch_add(1, Relaxed);
        let open = self.open.fetch_add(1, Relaxed) + 1;
        self.peak.fetch_max(open, Relaxed);
        OpenGuard {
            stats: Arc::clone(self),
        }
    }

    pub(crate) fn add_requests(&self, n: u64) {
        if n > 0 {
            self.requests.fetch_add(n, Relaxed);
        }
    }

    pub(crate) fn add_bad_request(&self) {
        self.bad_requests.fetch_add(1, Relaxed);
    }

    pub(crate) fn add_header_timeout(&self) {
        self.header_timeouts.fetch_add(1, Relaxed);
    }

    pub(crate) fn add_head_too_large(&self) {
        self.heads_too_large.fetch_add(1, Relaxed);
    }

    pub(crate) fn add_body_too_large(&self) {
        self.bodies_too_large.fetch_add(1, Relaxed);
    }

    pub(crate) fn add_handshake(&self) {
        self.handshakes.fetch_add(1, Relaxed);
    }

    pub(crate) fn add_handshake_failure(&self) {
        self.handshake_failures.fetch_add(1, Relaxed);
    }
}

/// Decrements the open-connection count when the connection ends.
pub(crate) struct OpenGuard {
    stats: Arc<ServerStats>,
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.stats.open.fetch_sub(1, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_close_and_peak() {
        let stats = Arc::new(ServerStats::new());
        let a = stats.open_connection();
        let b = stats.open_connection();
        drop(a);
        let _c = stats.open_connection();
        drop(b);
        stats.add_requests(3);
        stats.add_requests(0);
        stats.add_bad_request();
        stats.add_header_timeout();
        stats.add_head_too_large();
        stats.add_body_too_large();
        stats.add_body_too_large();
        stats.add_handshake();
        stats.add_handshake();
        stats.add_handshake_failure();
        assert_eq!(
            stats.snapshot(),
            StatsSnapshot {
                connections_accepted: 3,
                connections_open: 1,
                peak_connections: 2,
                requests_served: 3,
                bad_requests: 1,
                header_timeouts: 1,
                heads_too_large: 1,
                bodies_too_large: 2,
                tls_handshakes: 2,
                tls_handshake_failures: 1,
            }
        );
    }
}
