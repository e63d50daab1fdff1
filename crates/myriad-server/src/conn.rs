//! One connection's task: read, parse every buffered request, answer in order.
//!
//! The loop is wait for readiness → borrow a buffer → read →
//! [`RequestParser::feed`] → give the buffer back → write. Without a delay, all
//! answers to one read go out in one write: a pipelining client gets one
//! syscall per batch, not per request. With a delay, each answer waits its own
//! delay and is written in order, as a sequential handler would.
//!
//! The header timeout only runs while part of a request head is buffered, so an
//! idle keep-alive connection costs no timer and is never closed by the server.
//!
//! HTTP/2 with prior knowledge: while a connection is fresh (nothing parsed
//! yet), the bytes of each read are first compared with the HTTP/2 client
//! preface. The first bytes that cannot begin it make the connection HTTP/1.1
//! for good (one comparison of at most 24 bytes, once per connection); the
//! whole preface hands the connection and the bytes read so far to
//! `http2::serve`.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::{timeout_at, Instant};

use crate::config::Delay;
use crate::http2;
use crate::pool::Lease;
use crate::request::{RequestParser, MAX_HEAD};
use crate::response::{Reply, Responses};
use crate::stats::{OpenGuard, ServerStats};
use crate::transport::{Prefixed, Stream};

/// What an HTTP/2 client sends first (RFC 9113, section 3.4); no HTTP/1.1
/// request starts with it (`PRI` is no method, `HTTP/2.0` no HTTP/1 version).
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// How long a closing connection keeps reading (and discarding) what the client
/// still sends. Closing with unread bytes makes the kernel send a reset, which
/// can destroy the final response before the client reads it.
const LINGER: Duration = Duration::from_millis(500);
/// Most bytes discarded while lingering.
const LINGER_BYTES: usize = 256 * 1024;

/// What every connection task shares, built once by `run`.
#[derive(Debug)]
pub(crate) struct Shared {
    pub responses: Responses,
    /// The answer of an HTTP/2 stream.
    pub h2: http2::Answer,
    /// SETTINGS_MAX_CONCURRENT_STREAMS of HTTP/2 connections.
    pub max_streams: u32,
    pub delay: Delay,
    pub header_timeout: Duration,
    /// Longest request body accepted (`413` beyond).
    pub max_body: u64,
    pub stats: Arc<ServerStats>,
    /// The access log, if any (`--access-log`).
    pub access_log: Option<crate::access_log::AccessLog>,
    /// Set to true when the server shuts down: HTTP/2 connections (each
    /// subscribed while it lives) send GOAWAY and finish their streams.
    pub goaway: tokio::sync::watch::Sender<bool>,
}

/// How the HTTP/1.1 loop ended.
enum End {
    /// The connection is done.
    Closed,
    /// The client sent the HTTP/2 preface: the connection is HTTP/2's, with
    /// the bytes read so far still in the read buffer.
    Http2,
}

/// Serves one connection until the client leaves, a reply closes it, the
/// header timeout fires, or an I/O error occurs. None of those is an error of
/// the server: the caller ignores the result. `open` counts the connection as open
/// until this future ends or is dropped.
pub(crate) fn serve<S: Stream>(
    stream: S,
    shared: Arc<Shared>,
    open: OpenGuard,
) -> impl Future<Output = io::Result<()>> + Send {
    // The task is this one future, owning the whole connection, so its size is
    // the connection's state plus the largest suspended step. (An `async fn`
    // taking the connection by value would store it twice: once as its
    // argument, once as the local the body moves it to.)
    let max_body = shared.max_body;
    let parser = match shared.access_log {
        Some(_) => RequestParser::logging(shared.responses.status(), max_body),
        None => RequestParser::new(max_body),
    };
    let mut conn = Conn {
        stream,
        shared,
        _open: open,
        input: Input {
            buf: None,
            start: 0,
            parser,
            head_deadline: None,
            fresh: true,
        },
    };
    async move {
        match conn.run().await? {
            End::Closed => Ok(()),
            End::Http2 => {
                let Conn {
                    stream,
                    shared,
                    _open,
                    input,
                } = conn;
                let stream = Prefixed::new(input.buf, input.start, stream);
                // Boxed: the HTTP/2 connection state is kilobytes, and an idle
                // HTTP/1.1 task must not carry room for it.
                Box::pin(http2::serve(stream, shared, _open)).await
            }
        }
    }
}

/// A connection's state between reads. While idle it is a few words: the read
/// buffer is borrowed from the thread's pool when bytes arrive and given back
/// as soon as every byte is consumed; only a partly received request keeps it.
///
/// Every task's size is that of its largest suspended state, so the rare
/// states (a header timeout's timer, a delay, a pipelined batch, lingering at
/// close) are boxed futures: a million idle connections must not each carry
/// room for a timer they do not use.
struct Conn<S> {
    stream: S,
    shared: Arc<Shared>,
    _open: OpenGuard,
    input: Input,
}

/// The request side: received bytes and where the parser stands in them.
struct Input {
    /// Read buffer, held only while unconsumed bytes are in it (or a read is
    /// under way); `buf[start..]` is received but not yet consumed.
    buf: Option<Lease<Vec<u8>>>,
    start: usize,
    parser: RequestParser,
    /// When the partly buffered request head must be complete.
    head_deadline: Option<Instant>,
    /// Nothing parsed yet: the bytes may still be the HTTP/2 preface.
    fresh: bool,
}

/// What a fresh connection's first bytes say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Preface {
    /// The whole HTTP/2 client preface.
    Http2,
    /// A prefix of it: read more before deciding.
    Partial,
    /// Not HTTP/2 with prior knowledge.
    Http1,
}

impl Preface {
    fn of(bytes: &[u8]) -> Self {
        let n = bytes.len().min(PREFACE.len());
        if bytes[..n] != PREFACE[..n] {
            Preface::Http1
        } else if n == PREFACE.len() {
            Preface::Http2
        } else {
            Preface::Partial
        }
    }
}

/// The answers to one read.
enum Batch {
    /// A partial request: nothing to answer yet.
    Empty,
    /// One reply, the common case.
    One(Reply),
    /// Pipelined requests (or a `100 Continue` and its answer).
    Many(Lease<Vec<Reply>>),
}

impl<S: Stream> Conn<S> {
    /// The connection's life as HTTP/1.1, or until its first bytes show it
    /// is HTTP/2. An I/O error ends it like a client close would; the caller
    /// ignores it.
    async fn run(&mut self) -> io::Result<End> {
        let shared = &*self.shared;
        let stream = &mut self.stream;
        let input = &mut self.input;
        loop {
            if input.buf.is_none() {
                // Idle: wait for bytes without holding a buffer. The read below
                // then makes one recv; after a short read tokio clears the
                // readiness itself, so the next wait costs no EAGAIN syscall.
                // `poll_read_ready` (behind `poll_input`) rather than
                // `readable()`: its future is one reference, where
                // `readable()`'s waiter node would make every idle task about
                // 150 bytes larger.
                std::future::poll_fn(|cx| stream.poll_input(cx)).await?;
            }
            let buf = input.buf.get_or_insert_with(Lease::take);
            if buf.len() == buf.capacity() && !make_room(buf, &mut input.start) {
                // Unreachable while the parser rejects heads of MAX_HEAD bytes,
                // but a full buffer must never become a busy loop.
                input.buf = None;
                let reject = Lease::<Vec<Reply>>::take_with(Reply::HeadTooLarge);
                Box::pin(write_batch(stream, shared, reject)).await?;
                Box::pin(linger_close(stream)).await;
                return Ok(End::Closed);
            }
            // `read_buf` fills the spare capacity, so a fresh buffer's pages are
            // never zeroed; the capacity is what the read may take.
            let read = stream.read_buf(&mut **buf);
            let n = match input.head_deadline {
                None => read.await?,
                Some(deadline) => match Box::pin(timeout_at(deadline, read)).await {
                    Ok(n) => n?,
                    Err(_elapsed) => {
                        shared.stats.add_header_timeout();
                        return Ok(End::Closed);
                    }
                },
            };
            if n == 0 {
                return Ok(End::Closed);
            }
            if input.fresh {
                // A branch on a bool per read; the comparison itself happens
                // once per connection (or a few times, if the first bytes
                // trickle in).
                match Preface::of(&buf[input.start..]) {
                    Preface::Http2 => return Ok(End::Http2),
                    Preface::Partial => {
                        if input.head_deadline.is_none() {
                            input.head_deadline = Some(Instant::now() + shared.header_timeout);
                        }
                        continue;
                    }
                    Preface::Http1 => input.fresh = false,
                }
            }

            let (batch, close) = input.consume(shared.header_timeout);
            if let (Some(log), Some(lines)) = (&shared.access_log, input.parser.log_lines()) {
                lines.drain_to(log);
            }
            match batch {
                Batch::Empty => {}
                Batch::One(reply @ Reply::Answer { .. }) if shared.delay == Delay::None => {
                    // The hot path: no copy, no allocation, one write.
                    stream.write_all(shared.responses.bytes(reply)).await?;
                    // A no-op on sockets; TLS may keep records until flushed.
                    stream.flush().await?;
                    shared.stats.add_requests(1);
                }
                Batch::One(reply) => {
                    let one = Lease::<Vec<Reply>>::take_with(reply);
                    Box::pin(write_batch(stream, shared, one)).await?;
                }
                Batch::Many(replies) => Box::pin(write_batch(stream, shared, replies)).await?,
            }
            if close {
                input.buf = None;
                Box::pin(linger_close(stream)).await;
                return Ok(End::Closed);
            }
        }
    }
}

impl Input {
    /// Parses what the last read added; returns the replies and whether the
    /// connection closes after them. Gives the buffer back to the pool when
    /// every byte is consumed, before the write, so a connection waiting out
    /// a delay or a slow reader holds none.
    fn consume(&mut self, header_timeout: Duration) -> (Batch, bool) {
        let Some(bytes) = self.buf.as_ref() else {
            return (Batch::Empty, false);
        };
        let mut replies = Lease::<Vec<Reply>>::take();
        let progress = self.parser.feed(&bytes[self.start..], &mut replies);
        self.start += progress.consumed;
        if progress.heads > 0 {
            self.head_deadline = None;
        }
        if self.start == bytes.len() {
            self.buf = None;
            self.start = 0;
            self.head_deadline = None;
        } else if !self.parser.awaiting_head() {
            self.head_deadline = None;
        } else if self.head_deadline.is_none() {
            // A new request started: its head has header_timeout from now.
            self.head_deadline = Some(Instant::now() + header_timeout);
        }
        let batch = match replies.as_slice() {
            [] => Batch::Empty,
            [one] => Batch::One(*one),
            _ => Batch::Many(replies),
        };
        (batch, progress.close)
    }
}

/// Makes space at the end of a full buffer: moves unconsumed bytes to the
/// front, or grows the buffer up to `MAX_HEAD` (a grown buffer is freed, not
/// pooled, when dropped). False if neither is possible.
fn make_room(buf: &mut Vec<u8>, start: &mut usize) -> bool {
    if *start > 0 {
        buf.copy_within(*start.., 0);
        buf.truncate(buf.len() - *start);
        *start = 0;
        true
    } else if buf.capacity() < MAX_HEAD {
        let want = (buf.capacity() * 2).clamp(1, MAX_HEAD);
        buf.reserve_exact(want - buf.len());
        true
    } else {
        false
    }
}

/// Writes a batch of replies in order and counts it: without a delay all in
/// one write (from a pooled buffer; one that grew past the pool's size is freed
/// after), with a delay each after its own wait, as a sequential handler would.
async fn write_batch<S: Stream>(
    stream: &mut S,
    shared: &Shared,
    replies: Lease<Vec<Reply>>,
) -> io::Result<()> {
    let mut served = 0;
    for reply in replies.iter() {
        match reply {
            Reply::Answer { .. } => served += 1,
            Reply::BadRequest => shared.stats.add_bad_request(),
            Reply::HeadTooLarge => shared.stats.add_head_too_large(),
            Reply::BodyTooLarge => shared.stats.add_body_too_large(),
            Reply::Continue => {}
        }
    }
    match shared.delay {
        Delay::None => {
            let mut out = Lease::<Vec<u8>>::take();
            for &reply in replies.iter() {
                out.extend_from_slice(shared.responses.bytes(reply));
            }
            stream.write_all(&out).await?;
        }
        delay => {
            for &reply in replies.iter() {
                if let (Reply::Answer { .. }, Some(wait)) = (reply, delay.sample()) {
                    tokio::time::sleep(wait).await;
                }
                stream.write_all(shared.responses.bytes(reply)).await?;
            }
        }
    }
    stream.flush().await?;
    shared.stats.add_requests(served);
    Ok(())
}

/// Half-closes the connection, then discards what the client still sends for a
/// moment so the close is a FIN the client reads after the last answer, not a
/// reset that may destroy it.
async fn linger_close<S: Stream>(stream: &mut S) {
    if stream.shutdown().await.is_err() {
        return;
    }
    let mut buf = Lease::<Vec<u8>>::take();
    let deadline = Instant::now() + LINGER;
    let mut drained = 0;
    while drained < LINGER_BYTES {
        buf.clear();
        match timeout_at(deadline, stream.read_buf(&mut *buf)).await {
            Ok(Ok(n)) if n > 0 => drained += n,
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpStream;

    fn test_shared() -> Arc<Shared> {
        Arc::new(Shared {
            responses: Responses::new(&crate::ServerConfig::default()),
            delay: Delay::None,
            header_timeout: Duration::from_secs(1),
            max_body: crate::config::DEFAULT_MAX_BODY,
            stats: Arc::new(ServerStats::new()),
            h2: http2::Answer::new(&crate::ServerConfig::default()).unwrap(),
            max_streams: 256,
            access_log: None,
            goaway: tokio::sync::watch::Sender::new(false),
        })
    }

    /// A million idle connections are a million of these futures: a timer, a
    /// waiter node or a buffer creeping into the idle state shows up here
    /// first (about 280 bytes now; `readable()` alone would add 150).
    #[tokio::test]
    async fn idle_connection_task_is_small() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let stream = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let shared = test_shared();
        let open = shared.stats.open_connection();
        let task = serve(stream, shared, open);
        let size = std::mem::size_of_val(&task);
        // 296 since the access log's pointer and the body limit (--max-body)
        // joined the request parser (the bound was 256 before them).
        assert!(size <= 304, "connection future is {size} bytes");
    }

    #[test]
    fn preface_detection() {
        assert_eq!(Preface::of(PREFACE), Preface::Http2);
        let mut more = PREFACE.to_vec();
        more.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
        assert_eq!(Preface::of(&more), Preface::Http2);
        assert_eq!(Preface::of(b"P"), Preface::Partial);
        assert_eq!(Preface::of(b"PRI * HTTP/2.0\r\n"), Preface::Partial);
        assert_eq!(Preface::of(b"POST / HTTP/1.1\r\n"), Preface::Http1);
        assert_eq!(Preface::of(b"GET / HTTP/1.1\r\n\r\n"), Preface::Http1);
        assert_eq!(Preface::of(b"PRI * HTTP/1.1\r\n\r\n"), Preface::Http1);
    }

    /// The same on a Unix socket: the stream is generic, the idle state is not
    /// allowed to grow with it.
    #[tokio::test]
    async fn idle_unix_connection_task_is_small() {
        let (stream, _peer) = tokio::net::UnixStream::pair().unwrap();
        let shared = test_shared();
        let open = shared.stats.open_connection();
        let task = serve(stream, shared, open);
        let size = std::mem::size_of_val(&task);
        // 296 since the access log's pointer and the body limit (--max-body)
        // joined the request parser (the bound was 256 before them).
        assert!(size <= 304, "connection future is {size} bytes");
    }
}
