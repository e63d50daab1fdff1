//! One connection's request loop: the only request loop in the engine.
//!
//! A connection asks its [`Tickets`] what to do next (the ticket seam: load
//! models differ only there), connects through its [`Dialer`] if it has no
//! stream (the transport seam), hands the ticket to its protocol's
//! [`Session`] with as many more as the session may have in flight (the
//! protocol seam), and records exactly one outcome per ticket as the session
//! completes them. It matches on neither the load model nor the protocol.
//! Any error drops the stream, and every request still in flight on it ends
//! with that error (unless the session hands each out with a kind of its
//! own, as HTTP/2 does); the next ticket reconnects. Requests a session could
//! not send at all before its connection went away go on a new connection.
//! Between requests a connection holds its stream and nothing else.

use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::sync::SemaphorePermit;

use super::tickets::{Next, Tickets};
use super::transport::Dialer;
use super::worker::{micros, WorkerCtx};
use crate::metrics::{ErrorKind, Outcome};
use crate::proto::session::IoCounts;
use crate::proto::{Flight, Protocol, Session};

/// Pause after a connect fails for lack of files or ports, so a worker at the
/// machine's limit does not spin.
const LIMIT_BACKOFF: Duration = Duration::from_millis(10);

/// A connection's stream, if open, and whether it was ever open.
struct Link<S> {
    stream: Option<S>,
    ever_connected: bool,
}

impl<S> Link<S> {
    fn close(&mut self, ctx: &WorkerCtx) {
        if self.stream.take().is_some() {
            ctx.note_closed();
        }
    }
}

/// Runs one connection until its tickets end.
pub(super) async fn connection_loop<D: Dialer, P: Protocol>(
    ctx: Rc<WorkerCtx>,
    dialer: Rc<D>,
    protocol: P,
    mut tickets: Tickets,
) {
    let mut session = protocol.session(&ctx.requests);
    let mut link = Link {
        stream: None,
        ever_connected: false,
    };
    loop {
        if session.in_flight() == 0 {
            let (ticket, permit) = match tickets.next(&ctx, link.stream.is_some()).await {
                Next::Ticket(t, permit) => (t, permit),
                Next::Close => {
                    link.close(&ctx);
                    continue;
                }
                Next::End => break,
            };
            if link.stream.is_none() {
                // Boxed: connecting is rare (once per connection with
                // keep-alive), and inline its timers would make every idle
                // connection's state hundreds of bytes larger.
                let first = !link.ever_connected;
                match Box::pin(connect(&ctx, &*dialer, first, permit)).await {
                    Ok(stream) => {
                        link.stream = Some(stream);
                        link.ever_connected = true;
                        session.connected();
                    }
                    Err(kind) => {
                        let latency =
                            micros(Instant::now().saturating_duration_since(ticket.intended));
                        let service = ticket.scheduled.then_some(latency);
                        let io = IoCounts::default();
                        ctx.finish(ticket, Outcome::Error(kind), latency, service, io);
                        continue;
                    }
                }
            }
            session.submit(Flight {
                ticket,
                sent: Instant::now(),
            });
        } else if link.stream.is_none() {
            // Requests the session could not send on a connection that went
            // away (an HTTP/2 GOAWAY) go on a new one.
            match Box::pin(reconnect(&ctx, &*dialer)).await {
                Ok(stream) => {
                    link.stream = Some(stream);
                    session.connected();
                }
                Err(kind) => {
                    abandon(&ctx, &mut session, kind);
                    continue;
                }
            }
        }
        while session.in_flight() < session.max_in_flight() {
            match tickets.try_next(&ctx) {
                Some(ticket) => session.submit(Flight {
                    ticket,
                    sent: Instant::now(),
                }),
                None => break,
            }
        }
        let Some(stream) = link.stream.as_mut() else {
            abandon(&ctx, &mut session, ErrorKind::Io);
            continue;
        };
        let deadline = session
            .deadline(ctx.timeout)
            .unwrap_or_else(|| Instant::now() + ctx.timeout);
        // Boxed, so a connection waiting between requests holds only its
        // stream and its tickets, not the in-flight state (one small
        // allocation per request).
        let done = Box::pin(tokio::time::timeout_at(
            deadline.into(),
            session.complete(stream, &ctx.pool),
        ))
        .await;
        let now = Instant::now();
        let kind = match done {
            Ok(Some(c)) => match c.result {
                Ok(response) => {
                    let reuse = response.keep_alive && ctx.keep_alive;
                    record(&ctx, c.flight, Outcome::Status(response.status), now, c.io);
                    if reuse {
                        continue;
                    }
                    ErrorKind::Io
                }
                Err(kind) => {
                    record(&ctx, c.flight, Outcome::Error(kind), now, c.io);
                    if session.carries_on() {
                        continue;
                    }
                    kind
                }
            },
            Ok(None) => {
                if session.in_flight() > 0 {
                    // None of them was sent: a new connection takes them.
                    link.close(&ctx);
                }
                continue;
            }
            Err(_) => ErrorKind::Timeout,
        };
        // The stream is given up: a response that closes it, an error, or a
        // timeout. Whatever else was in flight on it ends with the same kind.
        link.close(&ctx);
        abandon(&ctx, &mut session, kind);
    }
    link.close(&ctx);
    tickets.retire(&ctx);
}

/// Records how one request ended. Latency counts from when the request was
/// due, so a late send (a stalled server, a busy event loop, a queue for a
/// connection) shows up in it; a scheduled request also records its service
/// time from the actual send.
fn record(ctx: &WorkerCtx, flight: Flight, outcome: Outcome, now: Instant, io: IoCounts) {
    let latency = micros(now.saturating_duration_since(flight.ticket.intended));
    let service = flight
        .ticket
        .scheduled
        .then(|| micros(now.saturating_duration_since(flight.sent)));
    ctx.finish(flight.ticket, outcome, latency, service, io);
}

/// Ends every request still in flight on an abandoned stream with `kind`.
fn abandon<S: Session>(ctx: &WorkerCtx, session: &mut S, kind: ErrorKind) {
    let now = Instant::now();
    while let Some(flight) = session.abandon() {
        record(ctx, flight, Outcome::Error(kind), now, IoCounts::default());
    }
}

/// Connects again for requests a session holds but could not send on the
/// connection it had, with a connect permit like any other connect.
async fn reconnect<D: Dialer>(ctx: &WorkerCtx, dialer: &D) -> Result<D::Stream, ErrorKind> {
    let permit = ctx.connect_permits.acquire().await.ok();
    connect(ctx, dialer, false, permit).await
}

async fn connect<D: Dialer>(
    ctx: &WorkerCtx,
    dialer: &D,
    first: bool,
    _permit: Option<SemaphorePermit<'_>>,
) -> Result<D::Stream, ErrorKind> {
    let started = Instant::now();
    match tokio::time::timeout(ctx.connect_timeout, dialer.dial()).await {
        Err(_) => Err(ErrorKind::ConnectTimeout),
        Ok(Err(e)) => {
            if e.kind == ErrorKind::Connect && ctx.note_connect_error(&e.source) {
                tokio::time::sleep(LIMIT_BACKOFF).await;
            }
            Err(e.kind)
        }
        Ok(Ok(dialed)) => {
            // The connect time is the transport's own; a TLS handshake is
            // reported on its own (and counted as full or resumed).
            let total = micros(started.elapsed());
            let handshake = dialed.handshake.map_or(0, |h| h.micros);
            ctx.note_connected(total.saturating_sub(handshake), first);
            if let Some(h) = dialed.handshake {
                ctx.note_handshake(h.micros, h.resumed);
            }
            Ok(dialed.stream)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::transport::TcpDialer;
    use crate::proto::http1::Http1;

    /// What a connection task holds between requests: its future's state (the
    /// stream, the dialer, the tickets, the session, and the largest await
    /// point: waiting for the next ticket). The request in flight and the
    /// connect are boxed, so they are not part of it. Measured at 1M idle
    /// connections, client memory is this plus the task header, the stream's
    /// registration with the reactor and allocator overhead: about 1.4 KB
    /// (`bash bench/million.sh`). The bound is the size before the seams were
    /// cut (392 bytes in a debug build, 384 in release): it keeps the state
    /// from growing unnoticed when a transport, protocol or load model is added.
    const IDLE_STATE_MAX: usize = 392;

    #[test]
    fn an_idle_connection_stays_small() {
        let addr = "127.0.0.1:9".parse().unwrap();
        let ctx = WorkerCtx::for_test(addr);
        let shapes = [
            Tickets::Closed { target: 0 },
            Tickets::Ramp {
                target: 0,
                index: 0,
            },
            Tickets::Interval {
                target: 0,
                due: None,
            },
        ];
        for tickets in shapes {
            let dialer = Rc::new(TcpDialer {
                addr,
                source: Some("127.0.0.2".parse().unwrap()),
            });
            let task = connection_loop(ctx.clone(), dialer, Http1, tickets);
            let size = std::mem::size_of_val(&task);
            println!("idle connection state: {size} bytes");
            assert!(
                size <= IDLE_STATE_MAX,
                "a connection's state is {size} bytes, more than {IDLE_STATE_MAX}: box what is not needed while idle"
            );
        }
    }

    /// An HTTP/2 connection holds its session's state too (settings,
    /// windows, the HPACK decoder's table, its streams' vectors, empty while
    /// idle); no buffer: those are lent only while a call writes or reads.
    const IDLE_H2_STATE_MAX: usize = 1024;

    #[test]
    fn an_idle_http2_connection_stays_small() {
        let addr = "127.0.0.1:9".parse().unwrap();
        let ctx = WorkerCtx::for_test(addr);
        let dialer = Rc::new(TcpDialer { addr, source: None });
        let protocol = crate::proto::h2::Http2 { streams: 10 };
        let task = connection_loop(ctx, dialer, protocol, Tickets::Closed { target: 0 });
        let size = std::mem::size_of_val(&task);
        println!("idle HTTP/2 connection state: {size} bytes");
        assert!(size <= IDLE_H2_STATE_MAX, "{size} bytes");
    }
}
