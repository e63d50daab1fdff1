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
use std::sync::Arc;
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
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
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

/// Where a target's connections go, prepared once per run, and the requests
/// they send.
#[derive(Debug)]
pub(crate) struct TargetWire {
    pub addr: std::net::SocketAddr,
    /// `https://`: the name its certificate must carry (and SNI sends).
    pub tls_name: Option<rustls_pki_types::ServerName<'static>>,
    /// Its requests: indices into the run's [`RequestWire`]s, taken in turn.
    pub requests: Box<[u32]>,
}

/// What one request looks like on the wire, prepared once per run.
#[derive(Debug)]
pub(crate) struct RequestWire {
    /// The request bytes (a request without templates is written as-is).
    pub request: Box<[u8]>,
    /// The request repeated as deep as the pipeline goes (empty without
    /// pipelining), so a batch of requests is one slice and one write.
    pub pipelined: Box<[u8]>,
    pub is_head: bool,
    /// The request as HTTP/2 sends it (`--http2`, `--h2c`; boxed, and only
    /// then).
    pub h2: Option<Box<super::h2::H2Request>>,
    /// Templates: the request is rendered per request instead (HTTP/1.1).
    pub template: Option<Box<crate::template::RequestTemplate>>,
    /// Its report row: the tally it is counted in.
    pub row: usize,
}

/// A protocol: makes the per-connection sessions.
pub(crate) trait Protocol {
    /// A connection's state.
    type Session<'a>: Session;
    /// A session for a new connection, sending `requests` (each request's
    /// ticket says which one). A thin reference, not a slice: the session is
    /// part of every idle connection's state.
    fn session<'a>(&self, requests: &'a Arc<[RequestWire]>) -> Self::Session<'a>;
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
    /// The loop opened a new connection for this session: state kept for
    /// the old one (HTTP/2's settings, streams, HPACK table) starts afresh.
    fn connected(&mut self) {}
}

/// Read buffer lent to a session while it reads a response.
pub(crate) const READ_BUF: usize = 8 * 1024;
/// Free buffers a worker keeps for reuse: enough for the requests usually in
/// flight at once; a burst beyond it allocates and frees.
const POOL_CAP: usize = 256;

/// Write buffers kept larger than this are freed instead of reused.
const WRITE_BUF_KEEP: usize = 64 * 1024;

/// Read buffers lent to connections only while they read a response, and
/// write buffers lent while a templated request is rendered and written, so
/// an idle connection holds none; and what templates are filled from. One
/// pool per worker thread.
pub(crate) struct BufPool {
    free: RefCell<Vec<Vec<u8>>>,
    free_writes: RefCell<Vec<Vec<u8>>>,
    values: Option<Renderer>,
}

/// A worker's source of template values: its sequence numbers (this worker's
/// are `offset`, `offset + stride`, ..., so they are unique in the run), its
/// random numbers, and the `--data` rows.
pub(crate) struct Renderer {
    pub next: std::cell::Cell<u64>,
    pub offset: u64,
    pub stride: u64,
    pub rng: RefCell<fastrand::Rng>,
    pub data: Option<std::sync::Arc<crate::template::DataSet>>,
    pub data_random: bool,
}

impl BufPool {
    /// A pool whose templates are filled from `values`.
    pub fn with_renderer(values: Option<Renderer>) -> BufPool {
        BufPool {
            free: RefCell::new(Vec::new()),
            free_writes: RefCell::new(Vec::new()),
            values,
        }
    }

    /// Lends an empty write buffer.
    pub fn render_empty(&self) -> PooledWrite<'_> {
        let buf = self.free_writes.borrow_mut().pop().unwrap_or_default();
        PooledWrite { buf, pool: self }
    }

    /// Lends a write buffer holding `request`, rendered with the next
    /// sequence number and data row.
    pub fn render(&self, request: &crate::template::RequestTemplate) -> PooledWrite<'_> {
        let mut lent = self.render_empty();
        self.render_into(request, &mut lent.buf);
        lent
    }

    /// Appends `request` to `out`, rendered with the next sequence number
    /// and data row.
    pub fn render_into(&self, request: &crate::template::RequestTemplate, out: &mut Vec<u8>) {
        self.with_values(|values| request.render(out, values));
    }

    /// Calls `f` with the values of the next request (its sequence number,
    /// data row and the worker's random numbers): everything one request
    /// renders takes them from one call. `None` if the pool has no renderer.
    pub fn with_values<R>(
        &self,
        f: impl FnOnce(&mut crate::template::Values<'_>) -> R,
    ) -> Option<R> {
        let r = self.values.as_ref()?;
        let k = r.next.get();
        r.next.set(k + 1);
        let seq = k * r.stride + r.offset;
        let mut rng = r.rng.borrow_mut();
        let row = r.data.as_deref().and_then(|d| {
            let i = match r.data_random {
                true => rng.usize(..d.rows.len()),
                false => usize::try_from(seq % d.rows.len() as u64).unwrap_or(0),
            };
            d.rows.get(i).map(Vec::as_slice)
        });
        let mut values = crate::template::Values {
            seq,
            row,
            rng: &mut rng,
        };
        Some(f(&mut values))
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

/// A lent write buffer; it goes back to the pool, emptied, when dropped.
pub(crate) struct PooledWrite<'a> {
    pub buf: Vec<u8>,
    pool: &'a BufPool,
}

impl Drop for PooledWrite<'_> {
    fn drop(&mut self) {
        let mut buf = std::mem::take(&mut self.buf);
        if buf.capacity() <= WRITE_BUF_KEEP {
            buf.clear();
            let mut free = self.pool.free_writes.borrow_mut();
            if free.len() < POOL_CAP {
                free.push(buf);
            }
        }
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
