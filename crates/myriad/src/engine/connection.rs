//! One connection's request loop: the only request loop in the engine.
//!
//! A connection takes a ticket from its worker, (re)connects if it has no open
//! socket, writes the prebuilt request, reads and parses the response, records
//! exactly one outcome, and goes again at once (the closed model). It ends when
//! its worker hands out no more tickets. Any error drops the socket; the next
//! ticket reconnects.

use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::worker::{TargetWire, WorkerCtx};
use crate::metrics::{ErrorKind, Outcome};
use crate::proto::response::{Response, ResponseParser, Step};
use crate::proto::ProtoError;

/// Read buffer per active connection; grows for a large response head.
const READ_BUF: usize = 8 * 1024;
/// A response head larger than this is a protocol error.
const MAX_HEAD_BUF: usize = 64 * 1024;
/// Pause after a connect fails for lack of files or ports, so a worker at the
/// machine's limit does not spin.
const LIMIT_BACKOFF: Duration = Duration::from_millis(10);

/// Bytes moved by one request, counted even when it fails.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct IoCounts {
    pub sent: u64,
    pub received: u64,
}

/// Runs one connection until its worker stops handing out tickets.
pub(super) async fn connection_loop(ctx: Rc<WorkerCtx>, target: usize) {
    let wire = &ctx.targets[target];
    let mut stream: Option<TcpStream> = None;
    // Allocated with the first ticket: a connection that never gets one holds nothing.
    let mut buf: Vec<u8> = Vec::new();
    let mut now = Instant::now();
    while ctx.take_ticket(target, now) {
        if buf.is_empty() {
            buf = vec![0; READ_BUF];
        }
        let start = now;
        let mut io = IoCounts::default();
        let result = request(&ctx, wire, &mut stream, &mut buf, &mut io).await;
        now = Instant::now();
        let outcome = match result {
            Ok(response) => {
                if !(response.keep_alive && ctx.keep_alive) {
                    stream = None;
                }
                Outcome::Status(response.status)
            }
            Err(kind) => {
                stream = None;
                Outcome::Error(kind)
            }
        };
        let micros = now.saturating_duration_since(start).as_micros();
        ctx.finish(
            target,
            outcome,
            u64::try_from(micros).unwrap_or(u64::MAX),
            io,
        );
    }
}

async fn request(
    ctx: &WorkerCtx,
    wire: &TargetWire,
    stream: &mut Option<TcpStream>,
    buf: &mut Vec<u8>,
    io: &mut IoCounts,
) -> Result<Response, ErrorKind> {
    let s = match stream {
        Some(s) => s,
        None => stream.insert(connect(ctx, wire.addr).await?),
    };
    match tokio::time::timeout(ctx.timeout, exchange(s, wire, buf, io)).await {
        Ok(result) => result,
        Err(_) => Err(ErrorKind::Timeout),
    }
}

async fn connect(ctx: &WorkerCtx, addr: SocketAddr) -> Result<TcpStream, ErrorKind> {
    // Bounding connects in flight keeps a burst of thousands from overflowing
    // the server's listen backlog (which turns into SYN retries of a second or more).
    let _permit = ctx.connect_permits.acquire().await;
    match tokio::time::timeout(ctx.connect_timeout, TcpStream::connect(addr)).await {
        Err(_) => Err(ErrorKind::ConnectTimeout),
        Ok(Err(e)) => {
            if ctx.note_connect_error(&e) {
                tokio::time::sleep(LIMIT_BACKOFF).await;
            }
            Err(ErrorKind::Connect)
        }
        Ok(Ok(s)) => {
            // Requests are written whole; Nagle would only delay them.
            let _ = s.set_nodelay(true);
            ctx.note_connected();
            Ok(s)
        }
    }
}

/// Writes the request and reads one complete response.
async fn exchange(
    stream: &mut TcpStream,
    wire: &TargetWire,
    buf: &mut Vec<u8>,
    io: &mut IoCounts,
) -> Result<Response, ErrorKind> {
    stream.write_all(&wire.request).await.map_err(io_error)?;
    io.sent += wire.request.len() as u64;
    let mut parser = ResponseParser::new(wire.is_head);
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
