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
//!
//! # Errors
//! Each failed request ends as the kind of what failed ([`kind_of`] maps
//! `h2::Error`):
//! - the server reset its stream (RST_STREAM, REFUSED_STREAM included):
//!   `stream_reset`; the connection goes on with the other streams;
//! - the server's GOAWAY refused its stream (above the GOAWAY's last stream)
//!   or cut it off (the connection closed after a GOAWAY with an error code):
//!   `goaway`;
//! - h2 found the server breaking the protocol (a malformed frame, bad
//!   HPACK, flow control; h2 answers with GOAWAY or RST_STREAM of its own):
//!   `http2_protocol`;
//! - the connection broke with no GOAWAY, or after a graceful one: `io`;
//! - over TLS, the server did not choose `h2` in ALPN: `alpn`, at connect.
//!
//! After a graceful GOAWAY (NO_ERROR) the streams the server accepted end as
//! their responses, and the requests not yet sent as streams are carried to
//! a new connection, so a server that ends connections after N requests
//! costs reconnects, not errors (except streams it refuses above its last
//! stream, which are `goaway`).

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use h2::client::SendRequest;
use h2::Reason;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::response::Response;
use super::session::{BufPool, Completion, Flight, IoCounts, Protocol, RequestWire, Session};
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
        if !dialed.stream.negotiated_h2() {
            return Err(DialError {
                kind: ErrorKind::Alpn,
                source: io::Error::other("the server did not offer h2 in ALPN"),
            });
        }
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
        kind: kind_of(&e, None),
        source: io::Error::other(e),
    }
}

/// The kind of a request that failed with `e`. `connection` is the
/// connection's own error when `e` is an I/O error (the stream was cut when
/// the connection closed): if the server had sent a GOAWAY with an error code
/// first, the server abandoned the stream, and it is `goaway`.
pub(crate) fn kind_of(e: &h2::Error, connection: Option<&h2::Error>) -> ErrorKind {
    if e.is_reset() {
        // A remote reset is the server's RST_STREAM; any other is h2's own,
        // sent because the server's frames on the stream broke the protocol.
        if e.is_remote() {
            ErrorKind::StreamReset
        } else {
            ErrorKind::Http2Protocol
        }
    } else if e.is_go_away() {
        if e.is_remote() {
            ErrorKind::Goaway
        } else if e.reason() == Some(Reason::NO_ERROR) {
            ErrorKind::Io
        } else {
            // h2 ended the connection over a protocol, frame size, HPACK or
            // flow-control error of the server's.
            ErrorKind::Http2Protocol
        }
    } else if e.is_io() {
        let abandoned = connection.is_some_and(|c| {
            c.is_go_away() && c.is_remote() && c.reason() != Some(Reason::NO_ERROR)
        });
        if abandoned {
            ErrorKind::Goaway
        } else {
            ErrorKind::Io
        }
    } else {
        // A bare reason (a protocol error h2 found) or a misuse of h2 (which
        // would be myriad's bug): not the network's or the server's refusal.
        ErrorKind::Http2Protocol
    }
}

/// The connection's error, if it has one: what it says to a request for a
/// new stream. Called only when a stream failed, so a `Pending` (which
/// registers the waker once more) costs nothing on the success path.
fn connection_error(send: &mut SendRequest<Bytes>, cx: &mut Context<'_>) -> Option<h2::Error> {
    match send.poll_ready(cx) {
        Poll::Ready(Err(e)) => Some(e),
        _ => None,
    }
}

/// Whether `e`, a connection's refusal of new streams, is a graceful GOAWAY:
/// the streams it accepted go on, and nothing else was sent.
fn is_graceful_goaway(e: &h2::Error) -> bool {
    e.is_go_away() && e.is_remote() && e.reason() == Some(Reason::NO_ERROR)
}

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
            server_max: usize::MAX,
            waiting: VecDeque::new(),
            open: Vec::new(),
            failed: Vec::new(),
            gone: false,
            carried: false,
        }
    }
}

/// How a stream ended: its response or h2's error, and the body bytes received.
type StreamEnd = (Result<Response, h2::Error>, u64);

/// A request sent as a stream, its response not yet complete.
struct Open {
    flight: Flight,
    sent: u64,
    response: Pin<Box<dyn Future<Output = StreamEnd>>>,
}

/// One HTTP/2 connection's requests: those not yet sent and the open streams.
pub(crate) struct Http2Session<'a> {
    requests: &'a Arc<[RequestWire]>,
    streams: usize,
    /// The server's `SETTINGS_MAX_CONCURRENT_STREAMS`, as last seen.
    server_max: usize,
    waiting: VecDeque<Flight>,
    open: Vec<Open>,
    /// Requests that failed without a stream (the connection refused new
    /// ones), handed out one by one.
    failed: Vec<Completion>,
    /// The connection takes no new streams (a GOAWAY, a connection error):
    /// the streams open on it end, then it is given up.
    gone: bool,
    /// The requests waiting were carried over from a connection that went
    /// away gracefully, and none has been sent since: if this one goes away
    /// before sending them too, they end as `goaway` instead of moving on
    /// again (a server that refuses every connection cannot make a loop).
    carried: bool,
}

/// Why a request could not be sent as a stream.
enum SendError {
    /// The connection refuses new streams.
    Refused(h2::Error),
    /// The request has no HTTP/2 form (cannot happen: the run prepares one
    /// for every target when it speaks HTTP/2).
    NoRequest,
}

impl Http2Session<'_> {
    /// Opens a stream for `flight`, or says why it cannot be.
    fn send(&self, send: &mut SendRequest<Bytes>, flight: Flight) -> Result<Open, SendError> {
        let request = self.requests.get(flight.ticket.request as usize);
        let Some(spec) = request.and_then(|r| r.h2.as_deref()) else {
            return Err(SendError::NoRequest);
        };
        let mut request = http::Request::new(());
        *request.method_mut() = spec.method.clone();
        *request.uri_mut() = spec.uri.clone();
        *request.headers_mut() = spec.headers.clone();
        let body = spec.body.clone();
        let (response, mut body_stream) = send
            .send_request(request, body.is_empty())
            .map_err(SendError::Refused)?;
        let sent = body.len() as u64;
        // Buffered by h2 and sent as the peer's window allows; if it cannot
        // be, the stream exists and ends with that error.
        let body_error = if body.is_empty() {
            None
        } else {
            body_stream.send_data(body, true).err()
        };
        let response = Box::pin(async move {
            let _body_stream = body_stream;
            let mut received = 0u64;
            if let Some(e) = body_error {
                return (Err(e), received);
            }
            let response = match response.await {
                Ok(r) => r,
                Err(e) => return (Err(e), received),
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
                    Err(e) => return (Err(e), received),
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

    /// The connection refused new streams with `e`: it is gone. After a
    /// graceful GOAWAY the requests waiting are carried to a new connection
    /// (once); otherwise each ends as the kind of `e`.
    fn refused(&mut self, e: &h2::Error) {
        self.gone = true;
        let kind = if is_graceful_goaway(e) {
            if !self.carried {
                return;
            }
            ErrorKind::Goaway
        } else {
            kind_of(e, Some(e))
        };
        for flight in self.waiting.drain(..) {
            self.failed.push(failed(flight, kind, 0));
        }
    }

    /// The kind of a stream that ended with `e`; a failure that is not the
    /// stream's alone means the connection is gone.
    fn stream_failed(
        &mut self,
        e: &h2::Error,
        send: &mut SendRequest<Bytes>,
        cx: &mut Context<'_>,
    ) -> ErrorKind {
        if e.is_reset() {
            return kind_of(e, None);
        }
        self.gone = true;
        let connection = if e.is_io() {
            connection_error(send, cx)
        } else {
            None
        };
        kind_of(e, connection.as_ref())
    }

    /// The next request to end, or `None` when the requests left were none
    /// of them sent and the connection is gone: the loop carries them to a
    /// new one.
    fn poll_complete(
        &mut self,
        send: &mut SendRequest<Bytes>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Completion>> {
        while !self.gone {
            let Some(flight) = self.waiting.pop_front() else {
                break;
            };
            let refusal = match send.poll_ready(cx) {
                Poll::Pending => {
                    self.waiting.push_front(flight);
                    break;
                }
                Poll::Ready(Err(e)) => e,
                Poll::Ready(Ok(())) => match self.send(send, flight) {
                    Ok(open) => {
                        self.open.push(open);
                        self.carried = false;
                        continue;
                    }
                    Err(SendError::Refused(e)) => e,
                    Err(SendError::NoRequest) => {
                        self.failed
                            .push(failed(flight, ErrorKind::Http2Protocol, 0));
                        continue;
                    }
                },
            };
            self.waiting.push_front(flight);
            self.refused(&refusal);
        }
        self.server_max = send.current_max_send_streams().max(1);
        let mut i = 0;
        while i < self.open.len() {
            let Poll::Ready((result, received)) = self.open[i].response.as_mut().poll(cx) else {
                i += 1;
                continue;
            };
            let open = self.open.swap_remove(i);
            let result = match result {
                Ok(mut response) => {
                    // The last request on a connection that is gone: the
                    // loop closes it instead of asking it for more.
                    response.keep_alive = !(self.gone && self.in_flight() == 0);
                    Ok(response)
                }
                Err(e) => Err(self.stream_failed(&e, send, cx)),
            };
            return Poll::Ready(Some(Completion {
                flight: open.flight,
                io: IoCounts {
                    sent: open.sent,
                    received,
                },
                result,
            }));
        }
        if let Some(failure) = self.failed.pop() {
            return Poll::Ready(Some(failure));
        }
        if self.gone && self.open.is_empty() && !self.waiting.is_empty() {
            // Nothing of these went out on this connection: they go on a new
            // one, as if it had been given up before they came.
            self.gone = false;
            self.carried = true;
            self.server_max = usize::MAX;
            return Poll::Ready(None);
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
        if self.gone {
            return 0; // the connection takes no new streams
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
            return Some(failed(flight, ErrorKind::Http2Protocol, 0));
        };
        std::future::poll_fn(|cx| self.poll_complete(send, cx)).await
    }

    fn carries_on(&self) -> bool {
        // A stream's own failure leaves the connection to the others; on a
        // connection that is gone, each request left ends as its own kind.
        !self.gone || self.in_flight() > 0
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
            // The loop gave the connection up: the next one starts afresh.
            self.server_max = usize::MAX;
            self.gone = false;
            self.carried = false;
        }
        flight
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_h2_can_build_map_to_their_kinds() {
        // GOAWAY and RST_STREAM errors come only from h2 itself: the tests
        // of `tests/h2_errors.rs` make servers send them.
        let bare = h2::Error::from(Reason::PROTOCOL_ERROR);
        assert_eq!(kind_of(&bare, None), ErrorKind::Http2Protocol);
        assert_eq!(kind_of(&bare, Some(&bare)), ErrorKind::Http2Protocol);
        assert!(!is_graceful_goaway(&bare));
        let user = h2::Error::from(h2::Reason::NO_ERROR);
        assert!(!is_graceful_goaway(&user), "not the server's GOAWAY");
    }
}
