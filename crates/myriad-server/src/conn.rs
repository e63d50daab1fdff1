//! One connection's task: read, parse every buffered request, answer in order.
//!
//! The loop is read → [`RequestParser::feed`] → write. Without a delay, all
//! answers to one read go out in one write: a pipelining client gets one
//! syscall per batch, not per request. With a delay, each answer waits its own
//! delay and is written in order, as a sequential handler would.
//!
//! The header timeout only runs while part of a request head is buffered, so an
//! idle keep-alive connection costs no timer and is never closed by the server.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};

use crate::config::Delay;
use crate::request::{RequestParser, MAX_HEAD};
use crate::response::{Reply, Responses};
use crate::stats::ServerStats;

/// Read buffer of a fresh connection; it grows up to [`MAX_HEAD`] only for a
/// request head that needs it, and shrinks back once drained.
const INITIAL_BUF: usize = 8 * 1024;
/// A batched-write buffer larger than this is freed after use rather than kept
/// for the connection's life.
const MAX_KEPT_OUT: usize = 64 * 1024;
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
    pub delay: Delay,
    pub header_timeout: Duration,
    pub stats: Arc<ServerStats>,
}

/// Serves one connection until the client leaves, a reply closes it, the
/// header timeout fires, or an I/O error occurs. None of those is an error of
/// the server, so nothing is returned.
pub(crate) async fn serve(mut stream: TcpStream, shared: Arc<Shared>) {
    let mut conn = Conn {
        buf: vec![0; INITIAL_BUF],
        start: 0,
        end: 0,
        parser: RequestParser::new(),
        replies: Vec::new(),
        out: Vec::new(),
        head_deadline: None,
    };
    // An I/O error ends the connection like a client close would.
    let _ = conn.run(&mut stream, &shared).await;
}

struct Conn {
    /// Read buffer; `buf[start..end]` is received but not yet consumed.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    parser: RequestParser,
    /// Replies of the current batch, reused across reads.
    replies: Vec<Reply>,
    /// Batched answers of the current read, reused across reads.
    out: Vec<u8>,
    /// When the partly buffered request head must be complete.
    head_deadline: Option<Instant>,
}

impl Conn {
    async fn run(&mut self, stream: &mut TcpStream, shared: &Shared) -> io::Result<()> {
        loop {
            if self.end == self.buf.len() && !self.make_room() {
                // Unreachable while the parser rejects heads of MAX_HEAD bytes,
                // but a full buffer must never become a busy loop.
                shared.stats.add_bad_request();
                write_replies(stream, shared, &[Reply::BadRequest], &mut self.out).await?;
                linger_close(stream, &mut self.buf).await;
                return Ok(());
            }
            let read = stream.read(&mut self.buf[self.end..]);
            let n = match self.head_deadline {
                None => read.await?,
                Some(deadline) => match timeout_at(deadline, read).await {
                    Ok(n) => n?,
                    Err(_elapsed) => {
                        shared.stats.add_header_timeout();
                        return Ok(());
                    }
                },
            };
            if n == 0 {
                return Ok(());
            }
            self.end += n;

            self.replies.clear();
            let progress = self
                .parser
                .feed(&self.buf[self.start..self.end], &mut self.replies);
            self.start += progress.consumed;
            if progress.heads > 0 {
                self.head_deadline = None;
            }
            if self.start == self.end {
                self.start = 0;
                self.end = 0;
                self.head_deadline = None;
                if self.buf.len() > INITIAL_BUF {
                    self.buf = vec![0; INITIAL_BUF];
                }
            } else if !self.parser.awaiting_head() {
                self.head_deadline = None;
            } else if self.head_deadline.is_none() {
                // A new request started: its head has header_timeout from now.
                self.head_deadline = Some(Instant::now() + shared.header_timeout);
            }

            write_replies(stream, shared, &self.replies, &mut self.out).await?;
            if progress.close {
                linger_close(stream, &mut self.buf).await;
                return Ok(());
            }
        }
    }

    /// Makes space at the end of a full buffer: moves unconsumed bytes to the
    /// front, or grows the buffer up to `MAX_HEAD`. False if neither is possible.
    fn make_room(&mut self) -> bool {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            true
        } else if self.buf.len() < MAX_HEAD {
            let len = (self.buf.len() * 2).min(MAX_HEAD);
            self.buf.resize(len, 0);
            true
        } else {
            false
        }
    }
}

/// Writes one batch of replies in order and counts it.
async fn write_replies(
    stream: &mut TcpStream,
    shared: &Shared,
    replies: &[Reply],
    out: &mut Vec<u8>,
) -> io::Result<()> {
    let mut served = 0;
    for reply in replies {
        match reply {
            Reply::Answer { .. } => served += 1,
            Reply::BadRequest => shared.stats.add_bad_request(),
            Reply::Continue => {}
        }
    }
    match (shared.delay, replies) {
        (_, []) => return Ok(()),
        // The common case, one request per read: no copy at all.
        (Delay::None, [reply]) => stream.write_all(shared.responses.bytes(*reply)).await?,
        (Delay::None, _) => {
            out.clear();
            for &reply in replies {
                out.extend_from_slice(shared.responses.bytes(reply));
            }
            let written = stream.write_all(out).await;
            if out.capacity() > MAX_KEPT_OUT {
                *out = Vec::new();
            }
            written?;
        }
        (delay, _) => {
            for &reply in replies {
                if let (Reply::Answer { .. }, Some(wait)) = (reply, delay.sample()) {
                    tokio::time::sleep(wait).await;
                }
                stream.write_all(shared.responses.bytes(reply)).await?;
            }
        }
    }
    shared.stats.add_requests(served);
    Ok(())
}

/// Half-closes the connection, then discards what the client still sends for a
/// moment so the close is a FIN the client reads after the last answer, not a
/// reset that may destroy it.
async fn linger_close(stream: &mut TcpStream, buf: &mut [u8]) {
    if stream.shutdown().await.is_err() {
        return;
    }
    let deadline = Instant::now() + LINGER;
    let mut drained = 0;
    while drained < LINGER_BYTES {
        match timeout_at(deadline, stream.read(buf)).await {
            Ok(Ok(n)) if n > 0 => drained += n,
            _ => return,
        }
    }
}
