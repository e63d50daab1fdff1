//! One HTTP/2 connection: h2's server over any byte stream, each stream
//! answered like an HTTP/1.1 request.
//!
//! A connection gets here two ways: over cleartext, when its first bytes are
//! the client preface (prior knowledge, h2c; `conn` hands over the bytes it
//! already read in a [`Prefixed`](crate::transport::Prefixed) stream), and over
//! TLS when ALPN chose `h2`.
//!
//! Per stream the answer is the server's one answer: the configured status,
//! `content-length` and body (none for `HEAD`, `204` and `304`), after the
//! configured delay. A request body is read to its end first, its flow-control
//! capacity handed back as it arrives so the client can keep sending. A body
//! longer than the server's `max_body` (by its `content-length`, or as its
//! bytes pass the limit) is answered `413` at once and the stream reset with
//! `NO_ERROR`, which asks the client to stop sending it (RFC 9113, 8.1). A stream
//! with neither body nor delay is answered inline by the connection's own loop
//! (no task, no timer); the others get a task each, in a `JoinSet` the
//! connection owns, so aborting the connection aborts its streams too.
//!
//! On server shutdown ([`Shared::goaway`]) the connection sends GOAWAY
//! (h2's `graceful_shutdown`), finishes the streams it already accepted and
//! then closes.

use std::io;
use std::sync::Arc;

use bytes::Bytes;
use h2::server::SendResponse;
use h2::RecvStream;
use http::header::{HeaderValue, CONTENT_LENGTH, EXPECT};
use http::{Method, Request, Response, StatusCode};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::task::JoinSet;
use tokio::time::{timeout_at, Instant};

use crate::config::ServerConfig;
use crate::conn::Shared;
use crate::stats::{OpenGuard, ServerStats};

/// The initial flow-control window of every stream, as advertised in SETTINGS:
/// large enough that a big request body is not held back by round trips for
/// WINDOW_UPDATEs (h2's default, 64 KiB, makes a 1 MB upload 16 round trips).
pub(crate) const STREAM_WINDOW: u32 = 4 * 1024 * 1024;
/// The connection's receive window: room for several streams' bodies at once.
pub(crate) const CONNECTION_WINDOW: u32 = 16 * 1024 * 1024;

/// The answer of every stream, built once at start.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    status: StatusCode,
    /// `None` for the bodiless `204` and `304`.
    content_length: Option<HeaderValue>,
    /// Shared by every response: a clone is a reference count, not a copy.
    body: Bytes,
}

impl Answer {
    /// The answer `config` describes. Fails only for a status `http` refuses,
    /// which `ServerConfig::validate` has already ruled out.
    pub(crate) fn new(config: &ServerConfig) -> io::Result<Self> {
        let status = StatusCode::from_u16(config.status).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("status {}: {e}", config.status),
            )
        })?;
        let bodiless = matches!(config.status, 204 | 304);
        let body: Bytes = if bodiless {
            Bytes::new()
        } else {
            b"ok"
                .iter()
                .copied()
                .cycle()
                .take(config.body_size)
                .collect()
        };
        let content_length = (!bodiless).then(|| HeaderValue::from(body.len()));
        Ok(Answer {
            status,
            content_length,
            body,
        })
    }

    fn head(&self) -> Response<()> {
        let mut response = Response::new(());
        *response.status_mut() = self.status;
        if let Some(length) = &self.content_length {
            response
                .headers_mut()
                .insert(CONTENT_LENGTH, length.clone());
        }
        response
    }
}

/// The SETTINGS this server advertises.
fn builder(max_streams: u32) -> h2::server::Builder {
    let mut builder = h2::server::Builder::new();
    builder
        .max_concurrent_streams(max_streams)
        .initial_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW);
    builder
}

/// Serves one HTTP/2 connection until the client closes it, a connection
/// error, or the server's shutdown (GOAWAY, then the accepted streams are
/// finished). Like `conn::serve`, the result is the caller's to ignore.
pub(crate) async fn serve<T>(io: T, shared: Arc<Shared>, _open: OpenGuard) -> io::Result<()>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // Subscribed for the connection's whole life: the accept loop's shutdown
    // waits (a while) until every subscriber is gone.
    let mut goaway = shared.goaway.subscribe();
    // The preface and the client's SETTINGS are this protocol's request head:
    // a client that never sends them is closed like a slowloris one.
    let deadline = Instant::now() + shared.header_timeout;
    let handshake = builder(shared.max_streams).handshake::<_, Bytes>(io);
    let mut connection = match timeout_at(deadline, handshake).await {
        Ok(Ok(connection)) => connection,
        Ok(Err(_)) => return Ok(()),
        Err(_elapsed) => {
            shared.stats.add_header_timeout();
            return Ok(());
        }
    };
    let mut streams = JoinSet::new();
    // A shutdown that began before this connection subscribed.
    let mut closing = *goaway.borrow_and_update();
    if closing {
        connection.graceful_shutdown();
    }
    loop {
        tokio::select! {
            biased;
            // A dropped sender (the server is gone) is a shutdown as well.
            _ = goaway.changed(), if !closing => {
                closing = true;
                connection.graceful_shutdown();
            }
            Some(_) = streams.join_next(), if !streams.is_empty() => {}
            next = connection.accept() => match next {
                Some(Ok((request, respond))) => accept(request, respond, &shared, &mut streams),
                // The client went away, a connection error, or the end of
                // a graceful shutdown (h2 closes once no stream is left).
                Some(Err(_)) | None => break,
            },
        }
    }
    // Streams still running here belong to a broken connection: nothing
    // they send could arrive.
    streams.shutdown().await;
    Ok(())
}

/// Answers one stream inline if there is nothing to wait for, or starts its task.
fn accept(
    request: Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
    shared: &Arc<Shared>,
    streams: &mut JoinSet<()>,
) {
    let head = request.method() == Method::HEAD;
    let expect_continue = request
        .headers()
        .get(EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let announced = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok());
    // `METHOD PATH` of the access-log line, only when there is a log.
    let logged = shared.access_log.as_ref().map(|_| {
        let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
        format!("{} {path}", request.method())
    });
    if announced.is_some_and(|n| n > shared.max_body) {
        refuse_body(&mut respond, &shared.stats);
        log_request(shared, logged.as_deref(), announced, 413);
        return;
    }
    let body = request.into_body();
    let delay = shared.delay.sample();
    if body.is_end_stream() && delay.is_none() {
        answer(&mut respond, &shared.h2, head, &shared.stats);
        log_request(
            shared,
            logged.as_deref(),
            Some(0),
            shared.h2.status.as_u16(),
        );
        return;
    }
    let shared = Arc::clone(shared);
    streams.spawn(async move {
        if expect_continue && !body.is_end_stream() {
            let mut interim = Response::new(());
            *interim.status_mut() = StatusCode::CONTINUE;
            if respond.send_informational(interim).is_err() {
                return;
            }
        }
        let received = match drain(body, shared.max_body).await {
            Ok(Drained::Whole(len)) => len,
            Ok(Drained::TooLong(len)) => {
                refuse_body(&mut respond, &shared.stats);
                log_request(&shared, logged.as_deref(), Some(len), 413);
                return;
            }
            // Reset by the client or a broken connection: no one to answer.
            Err(_) => return,
        };
        if let Some(wait) = delay {
            tokio::time::sleep(wait).await;
        }
        answer(&mut respond, &shared.h2, head, &shared.stats);
        log_request(
            &shared,
            logged.as_deref(),
            Some(received),
            shared.h2.status.as_u16(),
        );
    });
}

/// Appends the access-log line of one request, `METHOD PATH BODY_BYTES
/// STATUS` as HTTP/1.1 writes it, if the server keeps a log (`line` is the
/// request's `METHOD PATH`, made only then). One line per stream under the
/// log's uncontended lock: HTTP/2 has no read of several requests to batch.
fn log_request(shared: &Shared, line: Option<&str>, body: Option<u64>, status: u16) {
    if let (Some(log), Some(line)) = (&shared.access_log, line) {
        let mut lines = crate::access_log::LogLines::default();
        lines.buf.extend_from_slice(line.as_bytes());
        lines.body = body;
        lines.end(status);
        lines.drain_to(log);
    }
}

/// How reading a request body ended.
enum Drained {
    /// Read to its end, within the limit: its length.
    Whole(u64),
    /// Longer than `max_body`: the rest was not read (the length read).
    TooLong(u64),
}

/// Reads a request body to its end, or until it is longer than `max_body`,
/// giving each chunk's flow-control capacity back at once so the client's
/// window never closes.
async fn drain(mut body: RecvStream, max_body: u64) -> Result<Drained, h2::Error> {
    let mut len = 0u64;
    while let Some(chunk) = body.data().await {
        let chunk = chunk?;
        len = len.saturating_add(chunk.len() as u64);
        // Fails only if the stream is already gone, which the next data()
        // reports.
        let _ = body.flow_control().release_capacity(chunk.len());
        if len > max_body {
            return Ok(Drained::TooLong(len));
        }
    }
    Ok(Drained::Whole(len))
}

/// Answers `413 Content Too Large` and counts it. The `NO_ERROR` reset that
/// tells the client to stop sending the body is h2's: it sends one after the
/// answer once both halves of a stream whose request is still open are
/// dropped. (An explicit `send_reset` here would discard the queued answer.)
fn refuse_body(respond: &mut SendResponse<Bytes>, stats: &ServerStats) {
    let mut response = Response::new(());
    *response.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
    response
        .headers_mut()
        .insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
    if respond.send_response(response, true).is_ok() {
        stats.add_body_too_large();
    }
}

/// Sends the answer (headers, then the body in one DATA call; h2 cuts it into
/// frames as the client's windows allow) and counts it. A stream the client
/// reset is not counted.
fn answer(respond: &mut SendResponse<Bytes>, answer: &Answer, head: bool, stats: &ServerStats) {
    let bodiless = head || answer.body.is_empty();
    let Ok(mut stream) = respond.send_response(answer.head(), bodiless) else {
        return;
    };
    if !bodiless && stream.send_data(answer.body.clone(), true).is_err() {
        return;
    }
    stats.add_requests(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_follow_the_config() {
        let a = Answer::new(&ServerConfig::default()).unwrap();
        assert_eq!(a.status, StatusCode::OK);
        assert_eq!(&a.body[..], b"ok");
        let head = a.head();
        assert_eq!(head.headers()[CONTENT_LENGTH], "2");

        let config = ServerConfig {
            status: 503,
            body_size: 5,
            ..ServerConfig::default()
        };
        let a = Answer::new(&config).unwrap();
        assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(&a.body[..], b"okoko");

        let config = ServerConfig {
            status: 204,
            body_size: 100,
            ..ServerConfig::default()
        };
        let a = Answer::new(&config).unwrap();
        assert!(a.body.is_empty());
        assert!(a.head().headers().get(CONTENT_LENGTH).is_none());
    }
}
