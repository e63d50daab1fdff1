//! HTTP/1.1 as a [`Session`]: the prebuilt request written whole, the response
//! read into a lent buffer and parsed incrementally.
//!
//! [`Http1`] has one request in flight per connection and holds nothing else
//! between requests. [`Http1Pipeline`] (`--pipeline N`) keeps up to N in
//! flight: requests queue behind the oldest, `complete` writes every unwritten
//! request in one write and matches responses to requests in order, and when
//! the connection ends mid-pipeline each request written but not answered
//! comes back through `abandon`, to end as exactly one failure.

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::response::{Response, ResponseParser, Step};
use super::session::{BufPool, Completion, Flight, IoCounts, Protocol, RequestWire, Session};
use super::ProtoError;
use crate::engine::transport::Transport;
use crate::metrics::ErrorKind;

/// A response head larger than this is a protocol error.
pub(crate) const MAX_HEAD_BUF: usize = 64 * 1024;

/// HTTP/1.1, one request in flight per connection.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Http1;

impl Protocol for Http1 {
    type Session<'a> = Http1Session<'a>;

    fn session<'a>(&self, requests: &'a Arc<[RequestWire]>) -> Http1Session<'a> {
        Http1Session {
            requests,
            flight: None,
        }
    }
}

/// A connection's HTTP/1.1 state: the request in flight, if any. Between
/// requests it holds no buffer.
pub(crate) struct Http1Session<'a> {
    requests: &'a Arc<[RequestWire]>,
    flight: Option<Flight>,
}

impl Session for Http1Session<'_> {
    fn max_in_flight(&self) -> usize {
        1
    }

    fn in_flight(&self) -> usize {
        usize::from(self.flight.is_some())
    }

    fn submit(&mut self, flight: Flight) {
        // The loop submits only below `max_in_flight`, so the slot is free.
        self.flight = Some(flight);
    }

    fn deadline(&self, timeout: Duration) -> Option<Instant> {
        self.flight.map(|f| f.ticket.intended + timeout)
    }

    async fn complete<T: Transport>(
        &mut self,
        stream: &mut T,
        pool: &BufPool,
    ) -> Option<Completion> {
        let request = self.flight?.ticket.request as usize;
        let mut io = IoCounts::default();
        let result = match self.requests.get(request) {
            Some(request) => exchange(stream, request, pool, &mut io).await,
            None => Err(ErrorKind::Io),
        };
        // Taken only now: a timeout drops this future mid-exchange and the
        // request must still be there for `abandon`.
        let flight = self.flight.take()?;
        Some(Completion { flight, result, io })
    }

    fn abandon(&mut self) -> Option<Flight> {
        self.flight.take()
    }
}

/// Writes the request and reads one complete response.
async fn exchange<T: Transport>(
    stream: &mut T,
    target: &RequestWire,
    pool: &BufPool,
    io: &mut IoCounts,
) -> Result<Response, ErrorKind> {
    match &target.template {
        // The constant case: the bytes built once, written as they are.
        None => {
            stream.write_all(&target.request).await.map_err(io_error)?;
            io.sent += target.request.len() as u64;
        }
        Some(template) => {
            let lent = pool.render(template);
            stream.write_all(&lent.buf).await.map_err(io_error)?;
            io.sent += lent.buf.len() as u64;
        }
    }
    // Wait for the answer without a buffer: an idle or slow connection holds none.
    stream.readable().await.map_err(io_error)?;
    let mut lent = pool.take();
    let buf = &mut lent.buf;
    let mut parser = ResponseParser::new(target.is_head);
    let (mut start, mut end) = (0usize, 0usize);
    loop {
        if end == buf.len() {
            if start > 0 {
                buf.copy_within(start..end, 0);
                end -= start;
                start = 0;
            } else if buf.len() < MAX_HEAD_BUF {
                buf.resize(buf.len() * 2, 0);
            }
        }
        // `read` (not `try_read`) clears readiness on a short read, which saves
        // an extra EAGAIN syscall per request.
        let n = stream.read(&mut buf[end..]).await.map_err(io_error)?;
        if n == 0 {
            return parser.eof().ok_or(ErrorKind::Io);
        }
        io.received += n as u64;
        end += n;
        let full = start == 0 && end == buf.len() && buf.len() >= MAX_HEAD_BUF;
        let (used, step) = parser
            .parse(&buf[start..end], full)
            .map_err(|_: ProtoError| ErrorKind::Protocol)?;
        start += used;
        if let Step::Done(mut response) = step {
            if start != end {
                // Bytes no request asked for: the response counts, the connection
                // cannot be trusted for the next one.
                response.keep_alive = false;
            }
            return Ok(response);
        }
        if start == end {
            start = 0;
            end = 0;
        }
    }
}

fn io_error(_: io::Error) -> ErrorKind {
    ErrorKind::Io
}

/// HTTP/1.1 with up to `depth` requests in flight per connection
/// (`--pipeline N`): requests are written ahead, in batches, and responses
/// matched to them in order.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Http1Pipeline {
    pub depth: usize,
}

impl Protocol for Http1Pipeline {
    type Session<'a> = PipelineSession<'a>;

    fn session<'a>(&self, requests: &'a Arc<[RequestWire]>) -> PipelineSession<'a> {
        PipelineSession {
            requests,
            depth: self.depth,
            flights: VecDeque::new(),
            unwritten: 0,
            pending: Vec::new(),
        }
    }
}

/// A pipelining connection's state: the requests in flight, oldest first, how
/// many of the newest are not written yet, and bytes read but not yet parsed
/// (the start of the next responses).
pub(crate) struct PipelineSession<'a> {
    requests: &'a Arc<[RequestWire]>,
    depth: usize,
    flights: VecDeque<Flight>,
    unwritten: usize,
    pending: Vec<u8>,
}

impl Session for PipelineSession<'_> {
    fn max_in_flight(&self) -> usize {
        self.depth
    }

    fn in_flight(&self) -> usize {
        self.flights.len()
    }

    fn submit(&mut self, flight: Flight) {
        self.flights.push_back(flight);
        self.unwritten += 1;
    }

    fn deadline(&self, timeout: Duration) -> Option<Instant> {
        self.flights.front().map(|f| f.ticket.intended + timeout)
    }

    async fn complete<T: Transport>(
        &mut self,
        stream: &mut T,
        pool: &BufPool,
    ) -> Option<Completion> {
        if self.flights.is_empty() {
            return None;
        }
        let mut io = IoCounts::default();
        let result = self.next_response(stream, pool, &mut io).await;
        let flight = self.flights.pop_front()?;
        Some(Completion { flight, result, io })
    }

    fn abandon(&mut self) -> Option<Flight> {
        self.unwritten = self.unwritten.min(self.flights.len().saturating_sub(1));
        self.pending.clear();
        self.flights.pop_front()
    }
}

impl PipelineSession<'_> {
    /// Writes the requests not written yet in one write: the same constant
    /// request repeated is a slice of the prebuilt batch; a mix, or
    /// templates, is assembled in a lent write buffer.
    async fn write_unwritten<T: Transport>(
        &mut self,
        stream: &mut T,
        pool: &BufPool,
        io: &mut IoCounts,
    ) -> Result<(), ErrorKind> {
        let first = self.flights.len().saturating_sub(self.unwritten);
        let one = self.flights.get(first).map_or(0, |f| f.ticket.request);
        let same = self.flights.range(first..).all(|f| f.ticket.request == one);
        let Some(request) = self.requests.get(one as usize) else {
            return Err(ErrorKind::Io);
        };
        if same && request.template.is_none() {
            let len = self.unwritten * request.request.len();
            let batch = request.pipelined.get(..len).unwrap_or(&request.request);
            stream.write_all(batch).await.map_err(io_error)?;
            io.sent += batch.len() as u64;
        } else {
            let mut lent: Option<super::session::PooledWrite<'_>> = None;
            for f in self.flights.range(first..) {
                let Some(r) = self.requests.get(f.ticket.request as usize) else {
                    return Err(ErrorKind::Io);
                };
                match (&r.template, &mut lent) {
                    (Some(t), None) => lent = Some(pool.render(t)),
                    (Some(t), Some(buf)) => pool.render_into(t, &mut buf.buf),
                    (None, None) => {
                        let mut buf = pool.render_empty();
                        buf.buf.extend_from_slice(&r.request);
                        lent = Some(buf);
                    }
                    (None, Some(buf)) => buf.buf.extend_from_slice(&r.request),
                }
            }
            if let Some(buf) = lent {
                stream.write_all(&buf.buf).await.map_err(io_error)?;
                io.sent += buf.buf.len() as u64;
            }
        }
        self.unwritten = 0;
        Ok(())
    }

    /// Reads the response of the oldest request. Responses already read are
    /// parsed first, without I/O; only when more bytes are needed are the
    /// requests not yet written sent, all in one write, so a read that brings
    /// many responses is answered by one write of as many requests.
    async fn next_response<T: Transport>(
        &mut self,
        stream: &mut T,
        pool: &BufPool,
        io: &mut IoCounts,
    ) -> Result<Response, ErrorKind> {
        let oldest = self
            .flights
            .front()
            .map_or(0, |f| f.ticket.request as usize);
        let is_head = self.requests.get(oldest).is_some_and(|r| r.is_head);
        let mut parser = ResponseParser::new(is_head);
        loop {
            if !self.pending.is_empty() {
                let full = self.pending.len() >= MAX_HEAD_BUF;
                let (used, step) = parser
                    .parse(&self.pending, full)
                    .map_err(|_: ProtoError| ErrorKind::Protocol)?;
                self.pending.drain(..used);
                if let Step::Done(mut response) = step {
                    if self.flights.len() <= 1 && !self.pending.is_empty() {
                        // Bytes no request asked for: the response counts, the
                        // connection cannot be trusted for the next one.
                        response.keep_alive = false;
                    }
                    return Ok(response);
                }
            }
            if self.unwritten > 0 {
                self.write_unwritten(stream, pool, io).await?;
            }
            stream.readable().await.map_err(io_error)?;
            let mut lent = pool.take();
            let n = stream.read(&mut lent.buf).await.map_err(io_error)?;
            if n == 0 {
                return parser.eof().ok_or(ErrorKind::Io);
            }
            io.received += n as u64;
            self.pending.extend_from_slice(&lent.buf[..n]);
        }
    }
}
