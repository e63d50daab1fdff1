//! One connection's request loop: the only request loop in the engine.
//!
//! A connection takes a ticket from its worker, (re)connects if it has no open
//! socket, writes the prebuilt request, waits for the response to become
//! readable, borrows a read buffer, parses the response, records exactly one
//! outcome, and goes again: at once (closed model), or after its interval
//! (mostly-idle connections). It ends when its worker hands out no more
//! tickets. Any error drops the socket; the next ticket reconnects. Between
//! requests a connection holds its socket and nothing else.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::SemaphorePermit;

use super::open::{next_ticket, retire, Slot};
use super::worker::{micros, TargetWire, WorkerCtx};
use crate::metrics::{ErrorKind, Outcome};
use crate::proto::response::{Response, ResponseParser, Step};
use crate::proto::ProtoError;

/// A response head larger than this is a protocol error.
const MAX_HEAD_BUF: usize = 64 * 1024;
/// How often a connection held back by a ramp looks again.
const RAMP_CHECK: Duration = Duration::from_millis(20);
/// Pause after a connect fails for lack of files or ports, so a worker at the
/// machine's limit does not spin.
const LIMIT_BACKOFF: Duration = Duration::from_millis(10);

/// Bytes moved by one request, counted even when it fails.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct IoCounts {
    pub sent: u64,
    pub received: u64,
}

/// A connection's socket, if open, and whether it was ever open.
struct Socket {
    stream: Option<TcpStream>,
    ever_connected: bool,
}

impl Socket {
    fn close(&mut self, ctx: &WorkerCtx) {
        if self.stream.take().is_some() {
            ctx.note_closed();
        }
    }
}

/// Where a connection's requests come from.
pub(super) enum Tickets {
    /// Closed model: the connection takes the next request itself, at once.
    /// `index` is its place among the run's connections (for a ramp).
    Closed { index: usize },
    /// Open model: the worker's scheduler hands requests to this slot when due.
    Open(Rc<Slot>),
}

/// Runs one connection until its worker stops handing out tickets.
pub(super) async fn connection_loop(
    ctx: Rc<WorkerCtx>,
    target: usize,
    source: Option<IpAddr>,
    tickets: Tickets,
) {
    let wire = &ctx.targets[target];
    let mut socket = Socket {
        stream: None,
        ever_connected: false,
    };
    let mut now = Instant::now();
    loop {
        if let (Tickets::Closed { index }, Some(ramp)) = (&tickets, &ctx.ramp) {
            // A ramp of connections: this one works only while the ramp's
            // count is above its index; otherwise it closes and waits.
            if *index as f64 >= ramp.rate_at(now.saturating_duration_since(ctx.started)) {
                socket.close(&ctx);
                if ctx.stopped(now) {
                    break;
                }
                tokio::time::sleep(RAMP_CHECK).await;
                now = Instant::now();
                continue;
            }
        }
        let mut permit = None;
        if socket.stream.is_none() && matches!(tickets, Tickets::Closed { .. }) {
            // Wait for this connect's pacing slot and a connect permit before
            // taking the request: the generator's own ramp-up and queueing are
            // not the server's latency (the connect itself still counts).
            if let Some(slot) = ctx.connect_slot() {
                tokio::time::sleep_until(slot.into()).await;
            }
            permit = ctx.connect_permits.acquire().await.ok();
            now = Instant::now();
        }
        let (ticket, sent) = match &tickets {
            Tickets::Closed { .. } => match ctx.take_ticket(target, now) {
                Some(t) => (t, now),
                None => break,
            },
            Tickets::Open(slot) => match next_ticket(slot, &ctx, target).await {
                Some(t) => (t, Instant::now()),
                None => break,
            },
        };
        let mut io = IoCounts::default();
        // Boxed, so a connection waiting between requests holds only its
        // socket and a timer, not the in-flight state (about 400 bytes less
        // per idle connection, for one small allocation per request).
        let result = Box::pin(request(&ctx, wire, source, &mut socket, permit, &mut io)).await;
        now = Instant::now();
        let outcome = match result {
            Ok(response) => {
                if !(response.keep_alive && ctx.keep_alive) {
                    socket.close(&ctx);
                }
                Outcome::Status(response.status)
            }
            Err(kind) => {
                socket.close(&ctx);
                Outcome::Error(kind)
            }
        };
        // Latency counts from when the request was due, so a late send (a
        // stalled server, a busy event loop) shows up in it; the open model
        // also records the service time from the actual send.
        let latency = micros(now.saturating_duration_since(ticket.intended));
        let service = matches!(tickets, Tickets::Open(_))
            .then(|| micros(now.saturating_duration_since(sent)));
        ctx.finish(target, ticket, outcome, latency, service, io);
        if let Some(every) = ctx.interval {
            // Hold the connection, idle, until the next request is due (or the
            // run ends, which the next ticket then says).
            let due = sent + every;
            let wake = ctx.deadline.map_or(due, |d| d.min(due));
            if wake > now {
                tokio::time::sleep_until(wake.into()).await;
                now = Instant::now();
            }
        }
    }
    socket.close(&ctx);
    if let Tickets::Open(_) = &tickets {
        retire(&ctx);
    }
}

async fn request(
    ctx: &WorkerCtx,
    wire: &TargetWire,
    source: Option<IpAddr>,
    socket: &mut Socket,
    permit: Option<SemaphorePermit<'_>>,
    io: &mut IoCounts,
) -> Result<Response, ErrorKind> {
    let s = match &mut socket.stream {
        Some(s) => s,
        None => {
            // Boxed: connecting is rare (once per connection with keep-alive),
            // and inline its timers would make every idle connection's state
            // machine hundreds of bytes larger. The closed model got its
            // pacing slot and permit before taking the request; the open
            // model waits for them here (a due request that waits is late).
            let s = Box::pin(connect(
                ctx,
                wire.addr,
                source,
                !socket.ever_connected,
                permit,
            ))
            .await?;
            socket.ever_connected = true;
            socket.stream.insert(s)
        }
    };
    match tokio::time::timeout(ctx.timeout, exchange(ctx, s, wire, io)).await {
        Ok(result) => result,
        Err(_) => Err(ErrorKind::Timeout),
    }
}

async fn connect(
    ctx: &WorkerCtx,
    addr: SocketAddr,
    source: Option<IpAddr>,
    first: bool,
    permit: Option<SemaphorePermit<'_>>,
) -> Result<TcpStream, ErrorKind> {
    // Bounding connects in flight keeps a burst of thousands from overflowing
    // the server's listen backlog (which turns into SYN retries of a second or more).
    let _permit = match permit {
        Some(p) => Some(p),
        None => {
            if let Some(slot) = ctx.connect_slot() {
                tokio::time::sleep_until(slot.into()).await;
            }
            ctx.connect_permits.acquire().await.ok()
        }
    };
    let started = Instant::now();
    match tokio::time::timeout(ctx.connect_timeout, open(addr, source)).await {
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
            ctx.note_connected(micros(started.elapsed()), first);
            Ok(s)
        }
    }
}

/// Opens a connection, from `source` if given. The source is bound with
/// `IP_BIND_ADDRESS_NO_PORT`, so the kernel picks the port at `connect()` per
/// destination, and each source address has the whole ephemeral range for
/// each destination.
async fn open(addr: SocketAddr, source: Option<IpAddr>) -> io::Result<TcpStream> {
    let Some(ip) = source else {
        return TcpStream::connect(addr).await;
    };
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if ip.is_ipv4() {
        crate::sys::set_bind_address_no_port(std::os::fd::AsRawFd::as_raw_fd(&socket))?;
    }
    socket.bind(SocketAddr::new(ip, 0))?;
    socket.connect(addr).await
}

/// Writes the request and reads one complete response.
async fn exchange(
    ctx: &WorkerCtx,
    stream: &mut TcpStream,
    wire: &TargetWire,
    io: &mut IoCounts,
) -> Result<Response, ErrorKind> {
    stream.write_all(&wire.request).await.map_err(io_error)?;
    io.sent += wire.request.len() as u64;
    // Wait for the answer without a buffer: an idle or slow connection holds none.
    stream.readable().await.map_err(io_error)?;
    let mut lent = ctx.pool.take();
    let buf = &mut lent.buf;
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
