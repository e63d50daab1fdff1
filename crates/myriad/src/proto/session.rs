//! The protocol seam: a [`Protocol`] opens a [`Session`] per connection, and a
//! session turns requests into exactly one outcome each.
//!
//! The request loop hands a session [`Flight`]s (a ticket and its send time)
//! up to [`Session::max_in_flight`], then awaits [`Session::complete`] for the
//! next outcome. A protocol with one request in flight (HTTP/1.1 today) writes
//! the request and reads its response there; a pipelining one writes every
//! request not yet written and reads the oldest response; an HTTP/2 one
//! drives its streams and returns whichever finishes first. When the loop
//! abandons a connection (an error, a timeout), [`Session::abandon`] gives back
//! each request still in flight, so each ends as exactly one failure.

use std::cell::RefCell;
use std::future::Future;
use std::time::{Duration, Instant};

use crate::engine::transport::Transport;
use crate::engine::Ticket;
use crate::metrics::ErrorKind;

use super::response::Response;

/// A request handed to a session: its ticket and when it was handed over.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Flight {
    pub ticket: Ticket,
    pub sent: Instant,
}

/// Bytes moved by one request, counted even when it fails.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct IoCounts {
    pub sent: u64,
    pub received: u64,
}

/// How one request in flight ended.
#[derive(Debug)]
pub(crate) struct Completion {
    pub flight: Flight,
    /// The response, or why there is none (the connection is then abandoned).
    pub result: Result<Response, ErrorKind>,
    pub io: IoCounts,
}

/// What a target looks like on the wire, prepared once per run: where to
/// connect and its request bytes.
#[derive(Debug)]
pub(crate) struct TargetWire {
    pub addr: std::net::SocketAddr,
    pub request: Box<[u8]>,
    /// The request repeated as deep as the pipeline goes (empty without
    /// pipelining), so a batch of requests is one slice and one write.
    pub pipelined: Box<[u8]>,
    pub is_head: bool,
    /// `https://`: the name its certificate must carry (and SNI sends).
    pub tls_name: Option<rustls_pki_types::ServerName<'static>>,
    /// The request as HTTP/2 sends it (`--http2`, `--h2c`; boxed, and only
    /// then).
    pub h2: Option<Box<super::h2::H2Request>>,
}

/// A protocol: makes the per-connection sessions.
pub(crate) trait Protocol {
    /// A connection's state.
    type Session<'a>: Session;
    /// A session for a new connection to `target`.
    fn session<'a>(&self, target: &'a TargetWire) -> Self::Session<'a>;
}

/// One connection's exchange of requests and responses.
pub(crate) trait Session {
    /// Requests that may be in flight on the connection at once.
    fn max_in_flight(&self) -> usize;
    /// Requests in flight now.
    fn in_flight(&self) -> usize;
    /// Takes a request; it is written by the next [`complete`](Self::complete).
    fn submit(&mut self, flight: Flight);
    /// When the oldest request in flight has had `timeout` since it was due.
    fn deadline(&self, timeout: Duration) -> Option<Instant>;
    /// Writes what is not written yet and waits until one request in flight
    /// ends; `None` at once if none is in flight. `None` with requests still
    /// in flight means the connection can carry none of them and none was
    /// sent on it (an HTTP/2 GOAWAY came first): the loop carries them to a
    /// new connection. Dropping the future (a timeout) leaves the requests in
    /// flight, for [`abandon`](Self::abandon).
    fn complete<T: Transport>(
        &mut self,
        stream: &mut T,
        pool: &BufPool,
    ) -> impl Future<Output = Option<Completion>>;
    /// After a request failed: whether the session goes on with the
    /// connection, because the failure was that request's alone (an HTTP/2
    /// stream reset) or because it hands out every request left on it with
    /// its own kind. By default a failure gives the connection up and every
    /// other request in flight on it ends with the same kind.
    fn carries_on(&self) -> bool {
        false
    }
    /// Takes back one request still in flight on a connection being given up.
    fn abandon(&mut self) -> Option<Flight>;
}

/// Read buffer lent to a session while it reads a response.
pub(crate) const READ_BUF: usize = 8 * 1024;
/// Free buffers a worker keeps for reuse: enough for the requests usually in
/// flight at once; a burst beyond it allocates and frees.
const POOL_CAP: usize = 256;

/// Read buffers lent to connections only while they read a response, so an
/// idle connection holds none. One pool per worker thread.
pub(crate) struct BufPool {
    free: RefCell<Vec<Vec<u8>>>,
}

impl BufPool {
    pub fn new() -> BufPool {
        BufPool {
            free: RefCell::new(Vec::new()),
        }
    }

    /// Lends a buffer of [`READ_BUF`] bytes.
    pub fn take(&self) -> PooledBuf<'_> {
        let buf = self
            .free
            .borrow_mut()
            .pop()
            .unwrap_or_else(|| vec![0; READ_BUF]);
        PooledBuf { buf, pool: self }
    }
}

/// A lent buffer; it goes back to the pool when dropped (also when the request
/// is abandoned by a timeout).
pub(crate) struct PooledBuf<'a> {
    pub buf: Vec<u8>,
    pool: &'a BufPool,
}

impl Drop for PooledBuf<'_> {
    fn drop(&mut self) {
        let mut buf = std::mem::take(&mut self.buf);
        if buf.len() != READ_BUF {
            buf.truncate(READ_BUF);
            buf.shrink_to_fit();
        }
        let mut free = self.pool.free.borrow_mut();
        if free.len() < POOL_CAP {
            free.push(buf);
        }
    }
}
