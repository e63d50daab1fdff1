//! HTTP/2 as a [`Session`]: the connection's frames written and read over the
//! request loop's byte stream, with buffers lent only while a call to
//! `complete` writes or reads.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadBuf};

use super::conn::{Conn, Done};
use super::frame;
use crate::engine::transport::Transport;
use crate::metrics::ErrorKind;
use crate::proto::response::Response;
use crate::proto::session::{
    BufPool, Completion, Flight, IoCounts, Protocol, RequestWire, Session, READ_BUF,
};

/// HTTP/2 with up to `streams` requests in flight per connection (`--streams`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Http2 {
    pub streams: usize,
}

impl Protocol for Http2 {
    type Session<'a> = Http2Session<'a>;

    fn session<'a>(&self, requests: &'a Arc<[RequestWire]>) -> Http2Session<'a> {
        Http2Session {
            requests,
            streams: self.streams.max(1),
            waiting: VecDeque::new(),
            conn: Conn::default(),
            carried: false,
        }
    }
}

/// One HTTP/2 connection's requests: those not yet sent, and the
/// connection's state with its open streams and ended ones.
pub(crate) struct Http2Session<'a> {
    requests: &'a Arc<[RequestWire]>,
    streams: usize,
    waiting: VecDeque<Flight>,
    conn: Conn<Tagged>,
    /// The requests waiting were carried over from a connection that went
    /// away gracefully, and none has been sent since: if this one goes away
    /// before sending them too, they end as `goaway` instead of moving on
    /// again (a server that refuses every connection cannot make a loop).
    carried: bool,
}

/// What a stream carries: the loop's flight and, for a request with
/// templates, its rendered body, kept while the stream may still send it.
#[derive(Debug)]
pub(crate) struct Tagged {
    flight: Flight,
    body: Option<Arc<[u8]>>,
}

/// The body of a stream's request (empty if it has none).
fn body_of(requests: &[RequestWire], t: &Tagged) -> Arc<[u8]> {
    match &t.body {
        Some(body) => body.clone(),
        None => requests
            .get(t.flight.ticket.request as usize)
            .and_then(|r| r.h2.as_deref())
            .map_or_else(Arc::default, |h| h.body.clone()),
    }
}

fn failed(flight: Flight, kind: ErrorKind) -> Done<Tagged> {
    Done {
        tag: Tagged { flight, body: None },
        result: Err(kind),
        io: IoCounts::default(),
    }
}

impl Http2Session<'_> {
    /// What the requests waiting become on a connection that is gone: `None`
    /// to carry them to a new connection (after a graceful GOAWAY, once), or
    /// the kind each ends with.
    fn waiting_kind(&self) -> Option<ErrorKind> {
        match (self.conn.dead, self.conn.goaway) {
            (Some(ErrorKind::Http2Protocol), _) => Some(ErrorKind::Http2Protocol),
            (_, Some((_, frame::NO_ERROR))) if !self.carried => None,
            (_, Some(_)) => Some(ErrorKind::Goaway),
            (Some(kind), None) => Some(kind),
            (None, None) => None,
        }
    }

    /// The next ended request, if any.
    fn pop_done(&mut self) -> Option<Completion> {
        let done = self.conn.done.pop_front()?;
        let result = done.result.map(|status| Response {
            status,
            // The last request on a connection that is gone: the loop
            // closes it instead of asking it for more.
            keep_alive: !(self.conn.is_gone() && self.in_flight() == 0),
        });
        Some(Completion {
            flight: done.tag.flight,
            result,
            io: done.io,
        })
    }

    /// Writes the requests waiting (as many as may be open), the rest of
    /// bodies the windows now allow, and queued control frames, in one
    /// write. A failed write leaves the connection to be read to its end.
    async fn write<T: Transport>(&mut self, stream: &mut T, pool: &BufPool) {
        let mut lent = pool.render_empty();
        let out = &mut lent.buf;
        let requests: &[RequestWire] = self.requests;
        self.conn.write_control(out);
        while self.conn.can_open() {
            let Some(flight) = self.waiting.pop_front() else {
                break;
            };
            let request = requests
                .get(flight.ticket.request as usize)
                .and_then(|r| r.h2.as_deref());
            let Some(request) = request else {
                // Cannot happen: the run prepares an HTTP/2 form of every
                // request when it speaks HTTP/2.
                self.conn
                    .done
                    .push_back(failed(flight, ErrorKind::Http2Protocol));
                continue;
            };
            match &request.template {
                None => {
                    let tag = Tagged { flight, body: None };
                    self.conn.open(tag, &request.block, &request.body, out);
                }
                Some(template) => {
                    // Rendered per request: the block into a lent buffer,
                    // the body kept with its stream until it is sent.
                    let mut block = pool.render_empty();
                    let mut body = Vec::new();
                    pool.with_values(|v| template.render(&mut block.buf, &mut body, v));
                    let body: Option<Arc<[u8]>> = (!body.is_empty()).then(|| body.into());
                    let tag = Tagged {
                        flight,
                        body: body.clone(),
                    };
                    let body = body.as_deref().unwrap_or_default();
                    self.conn.open(tag, &block.buf, body, out);
                }
            }
            self.carried = false;
        }
        self.conn.send_bodies(out, |f| body_of(requests, f));
        if out.is_empty() {
            return;
        }
        if stream.write_all(out).await.is_err() {
            self.conn.closed();
        }
    }

    /// Reads what the server sent, or waits for it, and reads its frames.
    async fn read<T: Transport>(&mut self, stream: &mut T, pool: &BufPool) {
        // Waiting without a buffer: a slow response holds none.
        if stream.readable().await.is_err() {
            return self.conn.closed();
        }
        let mut lent = pool.take();
        let buf = &mut lent.buf;
        let have = self.conn.pending.len();
        if have > 0 {
            // A frame begun in an earlier read: room for the rest of it.
            let need = (have + frame::HEAD + frame::DEFAULT_MAX_FRAME as usize).max(READ_BUF);
            if buf.len() < need {
                buf.resize(need, 0);
            }
            buf[..have].copy_from_slice(&std::mem::take(&mut self.conn.pending));
        }
        match stream.read(&mut buf[have..]).await {
            Ok(0) | Err(_) => self.conn.closed(),
            Ok(n) => self.received(&buf[..have + n]),
        }
    }

    /// Reads the frames in `bytes`, keeping a frame not complete yet.
    fn received(&mut self, bytes: &[u8]) {
        let used = self.conn.receive(bytes);
        if let Some(rest) = bytes.get(used..) {
            if !rest.is_empty() {
                self.conn.pending.extend_from_slice(rest);
            }
        }
    }

    /// Before opening streams on a connection that sat idle: reads what the
    /// server sent meanwhile (a GOAWAY, a PING), if anything, without
    /// waiting. The socket's readiness is known without a system call, so
    /// when nothing came this costs none.
    async fn read_if_ready<T: Transport>(&mut self, stream: &mut T, pool: &BufPool) {
        let mut lent = pool.take();
        let polled = std::future::poll_fn(|cx| {
            let mut rb = ReadBuf::new(&mut lent.buf);
            Poll::Ready(match Pin::new(&mut *stream).poll_read(cx, &mut rb) {
                Poll::Pending => None,
                Poll::Ready(Ok(())) => Some(Ok(rb.filled().len())),
                Poll::Ready(Err(e)) => Some(Err(e)),
            })
        })
        .await;
        match polled {
            None => {}
            Some(Ok(0)) | Some(Err(_)) => self.conn.closed(),
            Some(Ok(n)) => self.received(lent.buf.get(..n).unwrap_or_default()),
        }
    }
}

impl Session for Http2Session<'_> {
    fn max_in_flight(&self) -> usize {
        if self.conn.is_gone() {
            return 0; // the connection takes no new streams
        }
        self.streams.min(self.conn.peer_max_streams().max(1))
    }

    fn in_flight(&self) -> usize {
        self.waiting.len() + self.conn.streams.len() + self.conn.done.len() + self.conn.retry.len()
    }

    fn submit(&mut self, flight: Flight) {
        self.waiting.push_back(flight);
    }

    fn deadline(&self, timeout: Duration) -> Option<Instant> {
        // The oldest of each queue: requests are taken in the order they
        // were due, and each queue keeps that order (streams by id).
        [
            self.conn.done.front().map(|d| d.tag.flight.ticket.intended),
            self.conn
                .streams
                .first()
                .map(|s| s.tag.flight.ticket.intended),
            self.conn.retry.first().map(|t| t.flight.ticket.intended),
            self.waiting.front().map(|f| f.ticket.intended),
        ]
        .into_iter()
        .flatten()
        .min()
        .map(|intended| intended + timeout)
    }

    async fn complete<T: Transport>(
        &mut self,
        stream: &mut T,
        pool: &BufPool,
    ) -> Option<Completion> {
        loop {
            if let Some(c) = self.pop_done() {
                return Some(c);
            }
            // Refused only for a limit not known yet: first in line again.
            // (Rendered again if it has templates: it was not processed.)
            for t in self.conn.retry.drain(..).rev() {
                self.waiting.push_front(t.flight);
            }
            if self.in_flight() == 0 {
                return None;
            }
            if self.conn.is_gone() && !self.waiting.is_empty() {
                match self.waiting_kind() {
                    Some(kind) => {
                        for flight in self.waiting.drain(..) {
                            self.conn.done.push_back(failed(flight, kind));
                        }
                        continue;
                    }
                    None if self.conn.streams.is_empty() => {
                        // Nothing of these went out on this connection: they
                        // go on a new one, as if it had been given up before
                        // they came.
                        self.carried = true;
                        return None;
                    }
                    None => {}
                }
            }
            if self.conn.is_over() {
                // Cannot happen: an ended connection ends its streams.
                return None;
            }
            let idle = self.conn.is_started()
                && self.conn.streams.is_empty()
                && self.conn.pending.is_empty();
            if idle && !self.waiting.is_empty() {
                self.read_if_ready(stream, pool).await;
                if self.conn.is_gone() || !self.conn.done.is_empty() {
                    continue;
                }
            }
            self.write(stream, pool).await;
            if !self.conn.done.is_empty() || self.conn.is_over() {
                continue;
            }
            self.read(stream, pool).await;
        }
    }

    fn connected(&mut self) {
        // A new connection: nothing of the old one's state carries over.
        self.conn = Conn::default();
    }

    fn carries_on(&self) -> bool {
        // A stream's own failure leaves the connection to the others; on a
        // connection that is gone, each request left ends as its own kind.
        !self.conn.is_gone() || self.in_flight() > 0
    }

    fn abandon(&mut self) -> Option<Flight> {
        if let Some(done) = self.conn.done.pop_front() {
            return Some(done.tag.flight);
        }
        if let Some(open) = self.conn.streams.pop() {
            return Some(open.tag.flight);
        }
        if let Some(t) = self.conn.retry.pop() {
            return Some(t.flight);
        }
        let flight = self.waiting.pop_front();
        if flight.is_none() {
            // The loop gave the connection up: its state goes with it.
            self.conn = Conn::default();
            self.carried = false;
        }
        flight
    }
}
