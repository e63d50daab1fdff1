//! HTTP/2 (`--http2` over TLS with ALPN `h2`, `--h2c` with prior knowledge),
//! through the `h2` crate.
//!
//! Stream ownership: an h2 connection must own its byte stream for as long as
//! it lives, while the request loop only lends its stream to each
//! [`Session::complete`]. So HTTP/2 plugs in at the transport seam: an
//! [`H2Dialer`] wraps any dialer, makes the HTTP/2 handshake over the stream it
//! opens and hands the `h2` connection (which owns the byte stream) to a local
//! task that drives it; the loop's stream is then an [`H2Stream`], the handle
//! for opening streams. Dropping it (the loop giving the connection up) stops
//! the driver and closes the socket. The [`Http2`] session turns each request
//! into one HTTP/2 stream and returns whichever finishes first; the request
//! loop, HTTP/1.1 and their idle state are unchanged.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use h2::client::SendRequest;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::response::Response;
use super::session::{BufPool, Completion, Flight, IoCounts, Protocol, Session, TargetWire};
use crate::engine::transport::{DialError, Dialed, Dialer, Transport};
use crate::metrics::ErrorKind;

/// A target's request as HTTP/2 sends it, prepared once per run.
#[derive(Debug)]
pub(crate) struct H2Request {
    pub method: http::Method,
    pub uri: http::Uri,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

/// Headers HTTP/2 forbids (RFC 9113 §8.2.2) or carries otherwise (`Host` is
/// `:authority`; the body is framed by DATA frames).
const NOT_IN_H2: [&str; 7] = [
    "host",
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "content-length",
];

/// The HTTP/2 form of a request: `:authority` is the target's `Host` value.
pub(crate) fn build_h2_request(
    method: &str,
    headers: &[(String, String)],
    body: &[u8],
    tls: bool,
    host_header: &str,
    path: &str,
) -> Result<H2Request, String> {
    let method = http::Method::from_bytes(method.as_bytes())
        .map_err(|e| format!("method '{method}' is not valid for HTTP/2: {e}"))?;
    let scheme = if tls { "https" } else { "http" };
    let uri: http::Uri = format!("{scheme}://{host_header}{path}")
        .parse()
        .map_err(|e| format!("'{host_header}{path}' is not a valid HTTP/2 target: {e}"))?;
    let mut map = http::HeaderMap::new();
    let has = |name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    if !has("user-agent") {
        map.insert(
            http::header::USER_AGENT,
            http::HeaderValue::from_static(concat!("myriad/", env!("CARGO_PKG_VERSION"))),
        );
    }
    if !has("accept") {
        map.insert(http::header::ACCEPT, http::HeaderValue::from_static("*/*"));
    }
    for (name, value) in headers {
        if NOT_IN_H2.iter().any(|n| name.eq_ignore_ascii_case(n))
            || (name.eq_ignore_ascii_case("te") && !value.eq_ignore_ascii_case("trailers"))
        {
            continue;
        }
        let name = http::HeaderName::from_bytes(name.as_bytes())
            .map_err(|e| format!("header '{name}' is not valid for HTTP/2: {e}"))?;
        let value = http::HeaderValue::from_str(value)
            .map_err(|e| format!("header value '{value}' is not valid for HTTP/2: {e}"))?;
        map.append(name, value);
    }
    Ok(H2Request {
        method,
        uri,
        headers: map,
        body: Bytes::copy_from_slice(body),
    })
}

/// An HTTP/2 connection as the request loop holds it: the handle that opens
/// streams, and the task driving the connection (stopped when this drops).
pub(crate) struct H2Stream {
    send: SendRequest<Bytes>,
    driver: tokio::task::JoinHandle<()>,
}

impl Drop for H2Stream {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

fn not_bytes() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "an HTTP/2 connection is not read or written as bytes",
    )
}

impl AsyncRead for H2Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        _: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Poll::Ready(Err(not_bytes()))
    }
}

impl AsyncWrite for H2Stream {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, _: &[u8]) -> Poll<io::Result<usize>> {
        Poll::Ready(Err(not_bytes()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl Transport for H2Stream {
    fn readable(&self) -> impl Future<Output = io::Result<()>> {
        std::future::ready(Ok(()))
    }

    fn h2(&mut self) -> Option<&mut SendRequest<Bytes>> {
        Some(&mut self.send)
    }
}

/// Opens connections through `inner` and makes the HTTP/2 handshake on them
/// (over TLS, the certificate was verified and ALPN offered `h2`).
pub(crate) struct H2Dialer<D> {
    pub inner: Rc<D>,
}

impl<D: Dialer + 'static> Dialer for H2Dialer<D>
where
    D::Stream: 'static,
{
    type Stream = H2Stream;

    async fn dial(&self) -> Result<Dialed<H2Stream>, DialError> {
        let dialed = self.inner.dial().await?;
        let (send, connection) = h2::client::handshake(dialed.stream)
            .await
            .map_err(protocol_error)?;
        let driver = tokio::task::spawn_local(async move {
            // Its end (GOAWAY, a protocol error, the peer closing) fails the
            // streams still open, which end their requests.
            let _ = connection.await;
        });
        Ok(Dialed {
            stream: H2Stream { send, driver },
            handshake: dialed.handshake,
        })
    }
}

fn protocol_error(e: h2::Error) -> DialError {
    DialError {
        kind: ErrorKind::Protocol,
        source: io::Error::other(e),
    }
}

/// HTTP/2 with up to `streams` requests in flight per connection (`--streams`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Http2 {
    pub streams: usize,
}

impl Protocol for Http2 {
    type Session<'a> = Http2Session<'a>;

    fn session<'a>(&self, target: &'a TargetWire) -> Http2Session<'a> {
        Http2Session {
            target,
            streams: self.streams.max(1),
            server_max: usize::MAX,
            waiting: VecDeque::new(),
            open: Vec::new(),
            failed: Vec::new(),
        }
    }
}

/// How a stream ended: its response or error, and the body bytes received.
type StreamEnd = (Result<Response, ErrorKind>, u64);

/// A request sent as a stream, its response not yet complete.
struct Open {
    flight: Flight,
    sent: u64,
    response: Pin<Box<dyn Future<Output = StreamEnd>>>,
}

/// One HTTP/2 connection's requests: those not yet sent and the open streams.
pub(crate) struct Http2Session<'a> {
    target: &'a TargetWire,
    streams: usize,
    /// The server's `SETTINGS_MAX_CONCURRENT_STREAMS`, as last seen.
    server_max: usize,
    waiting: VecDeque<Flight>,
    open: Vec<Open>,
    /// Requests that failed, held back until no stream is open: a failure
    /// gives the connection up, and the streams the server still answers
    /// (those up to a GOAWAY's last stream) should end as their responses.
    failed: Vec<Completion>,
}

impl Http2Session<'_> {
    /// Opens a stream for `flight`, or says why it cannot be.
    fn send(&self, send: &mut SendRequest<Bytes>, flight: Flight) -> Result<Open, ErrorKind> {
        let Some(spec) = self.target.h2.as_deref() else {
            return Err(ErrorKind::Protocol);
        };
        let mut request = http::Request::new(());
        *request.method_mut() = spec.method.clone();
        *request.uri_mut() = spec.uri.clone();
        *request.headers_mut() = spec.headers.clone();
        let body = spec.body.clone();
        let (response, mut body_stream) = send
            .send_request(request, body.is_empty())
            .map_err(|_| ErrorKind::Protocol)?;
        let sent = body.len() as u64;
        if !body.is_empty() {
            // Buffered by h2 and sent as the peer's window allows.
            body_stream
                .send_data(body, true)
                .map_err(|_| ErrorKind::Protocol)?;
        }
        let response = Box::pin(async move {
            let _body_stream = body_stream;
            let mut received = 0u64;
            let response = match response.await {
                Ok(r) => r,
                Err(_) => return (Err(ErrorKind::Protocol), received),
            };
            let status = response.status().as_u16();
            let mut body = response.into_body();
            while let Some(chunk) = body.data().await {
                match chunk {
                    Ok(chunk) => {
                        received += chunk.len() as u64;
                        // Read: the peer may send as much again.
                        let _ = body.flow_control().release_capacity(chunk.len());
                    }
                    Err(_) => return (Err(ErrorKind::Protocol), received),
                }
            }
            let done = Response {
                status,
                keep_alive: true,
            };
            (Ok(done), received)
        });
        Ok(Open {
            flight,
            sent,
            response,
        })
    }

    fn poll_complete(
        &mut self,
        send: &mut SendRequest<Bytes>,
        cx: &mut Context<'_>,
    ) -> Poll<Completion> {
        // After a failure the connection is being given up: no new streams.
        while self.failed.is_empty() {
            let Some(&flight) = self.waiting.front() else {
                break;
            };
            match send.poll_ready(cx) {
                Poll::Pending => break,
                Poll::Ready(Err(_)) => {
                    self.waiting.pop_front();
                    self.failed.push(failed(flight, ErrorKind::Protocol, 0));
                }
                Poll::Ready(Ok(())) => {
                    self.waiting.pop_front();
                    match self.send(send, flight) {
                        Ok(open) => self.open.push(open),
                        Err(kind) => self.failed.push(failed(flight, kind, 0)),
                    }
                }
            }
        }
        self.server_max = send.current_max_send_streams().max(1);
        let mut i = 0;
        while i < self.open.len() {
            let Poll::Ready((result, received)) = self.open[i].response.as_mut().poll(cx) else {
                i += 1;
                continue;
            };
            let open = self.open.swap_remove(i);
            let completion = Completion {
                flight: open.flight,
                io: IoCounts {
                    sent: open.sent,
                    received,
                },
                result,
            };
            if completion.result.is_ok() {
                return Poll::Ready(completion);
            }
            self.failed.push(completion);
        }
        if self.open.is_empty() {
            if let Some(failure) = self.failed.pop() {
                return Poll::Ready(failure);
            }
        }
        Poll::Pending
    }
}

fn failed(flight: Flight, kind: ErrorKind, sent: u64) -> Completion {
    Completion {
        flight,
        result: Err(kind),
        io: IoCounts { sent, received: 0 },
    }
}

impl Session for Http2Session<'_> {
    fn max_in_flight(&self) -> usize {
        if !self.failed.is_empty() {
            return 0; // giving the connection up: take no more requests
        }
        self.streams.min(self.server_max)
    }

    fn in_flight(&self) -> usize {
        self.waiting.len() + self.open.len() + self.failed.len()
    }

    fn submit(&mut self, flight: Flight) {
        self.waiting.push_back(flight);
    }

    fn deadline(&self, timeout: Duration) -> Option<Instant> {
        self.open
            .iter()
            .map(|o| o.flight.ticket.intended)
            .chain(self.waiting.iter().map(|f| f.ticket.intended))
            .chain(self.failed.iter().map(|c| c.flight.ticket.intended))
            .min()
            .map(|intended| intended + timeout)
    }

    async fn complete<T: Transport>(
        &mut self,
        stream: &mut T,
        _pool: &BufPool,
    ) -> Option<Completion> {
        if self.in_flight() == 0 {
            return None;
        }
        let Some(send) = stream.h2() else {
            // Not an HTTP/2 connection: cannot happen, as the worker pairs
            // this protocol only with an `H2Dialer`.
            let flight = self.abandon()?;
            return Some(failed(flight, ErrorKind::Protocol, 0));
        };
        Some(std::future::poll_fn(|cx| self.poll_complete(send, cx)).await)
    }

    fn abandon(&mut self) -> Option<Flight> {
        // Dropping an open stream's future resets the stream.
        if let Some(open) = self.open.pop() {
            return Some(open.flight);
        }
        if let Some(failure) = self.failed.pop() {
            return Some(failure.flight);
        }
        let flight = self.waiting.pop_front();
        if flight.is_none() {
            self.server_max = usize::MAX;
        }
        flight
    }
}
