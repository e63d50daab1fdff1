//! HTTP/2 (`--http2` over TLS with ALPN `h2`, `--h2c` with prior knowledge):
//! myriad's own client codec, speaking frames over the request loop's byte
//! stream (TCP, TLS or a Unix socket) exactly as the HTTP/1.1 sessions do.
//!
//! # Why a codec of its own
//! A load generator's hot path sends one constant request over and over. A
//! general HTTP/2 library (the `h2` crate, which myriad used before) takes
//! each request as headers to encode, encodes them with HPACK every time,
//! allocates per request and per stream, and owns the connection in a
//! driver task, so every request and response crosses between that task and
//! the request loop. Here instead:
//! - each request's HPACK header block is built once per run
//!   ([`build_h2_request`]): static-table indices and literals *without
//!   indexing*, so it never touches the server's dynamic table and stays the
//!   same for the whole run. Sending a request is a 9-byte HEADERS frame
//!   header with the stream id patched in, the prebuilt block (split into
//!   CONTINUATION frames beyond the server's SETTINGS_MAX_FRAME_SIZE) and
//!   DATA frames for a body; several requests go out in one write;
//! - the server's frames are read in place from a buffer lent by the
//!   worker's pool ([`BufPool`](super::session::BufPool)) only while a read
//!   is under way, a DATA payload counted as it arrives, never copied; the
//!   HPACK decoder keeps the dynamic table in step without allocating per
//!   header and takes out only `:status`;
//! - there is no second task: the request loop itself writes and reads.
//!
//! # Layout
//! - `frame.rs`: the frame header, types, flags, and writers for the frames
//!   the client sends;
//! - `huffman.rs`, `hpack.rs`: HPACK (RFC 7541), Huffman decoding by a
//!   table built at compile time;
//! - `conn.rs`: a connection's state without I/O: streams, flow control,
//!   SETTINGS, PING, GOAWAY, RST_STREAM; pure, so tests and fuzz targets feed
//!   it bytes split every which way;
//! - `session.rs`: [`Http2`] and its session: the I/O, and the rules by
//!   which each request ends as exactly one outcome.
//!
//! # The connection
//! A new connection starts with the preface, a SETTINGS frame (ENABLE_PUSH
//! 0, INITIAL_WINDOW_SIZE 16 MiB) and a WINDOW_UPDATE opening the connection
//! window to 1 GiB, written together with the first requests: no round trip
//! is waited for (as h2load does). Until the server's SETTINGS arrive at
//! most 100 streams are opened; then its SETTINGS_MAX_CONCURRENT_STREAMS
//! bounds them (`Session::max_in_flight`). Received bytes are counted against
//! our windows and given back with WINDOW_UPDATE once half of a window is
//! used, not per frame. A request body larger than the server's windows
//! waits for its WINDOW_UPDATEs. A connection that sat idle is read, without
//! waiting, before new streams are opened on it, so a GOAWAY or PING the
//! server sent meanwhile is seen first.
//!
//! Bytes per request: sent are the request's frames (HEADERS, CONTINUATION,
//! DATA, with their 9-byte headers); received are its response's frames.
//!
//! # Errors
//! Each failed request ends as the kind of what failed:
//! - the server reset its stream (RST_STREAM, REFUSED_STREAM included):
//!   `stream_reset`; the connection goes on with the other streams;
//! - the server's GOAWAY refused its stream (above the GOAWAY's last
//!   stream), or the connection closed after a GOAWAY with an error code:
//!   `goaway`;
//! - the server broke the protocol (a malformed frame, bad HPACK, flow
//!   control; myriad answers with a GOAWAY of its own, or an RST_STREAM when
//!   only a stream's response is malformed): `http2_protocol`;
//! - the connection broke with no GOAWAY, or after a graceful one: `io`;
//! - over TLS, the server did not choose `h2` in ALPN: `alpn`, at connect
//!   ([`H2Dialer`]).
//!
//! After a graceful GOAWAY (NO_ERROR) the streams the server accepted end as
//! their responses, and the requests not yet sent as streams are carried to
//! a new connection (once), so a server that ends connections after N
//! requests costs reconnects, not errors (except streams it refuses above
//! its last stream, which are `goaway`).

pub(crate) mod conn;
pub(crate) mod frame;
pub(crate) mod hpack;
pub(crate) mod huffman;
mod session;

use std::io;
use std::rc::Rc;
use std::sync::Arc;

pub(crate) use session::Http2;

use crate::engine::transport::{DialError, Dialed, Dialer};
use crate::metrics::ErrorKind;
use crate::template::{has_template, Template, Values};

/// A request as HTTP/2 sends it, prepared once per run: its HPACK header
/// block and its body; or, for a request with templates, what renders them
/// per request (`block` and `body` are then empty).
#[derive(Debug, Clone)]
pub(crate) struct H2Request {
    pub block: Box<[u8]>,
    /// Shared, so a stream whose body waits for window keeps it cheaply.
    pub body: Arc<[u8]>,
    pub template: Option<Box<H2Template>>,
}

/// A request with templates as HTTP/2 sends it: its header block as runs of
/// encoded fields and values rendered per request (each a literal without
/// indexing, as in a constant block), and its body.
#[derive(Debug, Clone)]
pub(crate) struct H2Template {
    block: Box<[BlockPart]>,
    body: Template,
}

#[derive(Debug, Clone)]
enum BlockPart {
    /// Encoded as it is: whole fields, or the name of a field whose value
    /// follows.
    Fixed(Box<[u8]>),
    /// A field's value, rendered and then made a string literal.
    Value(Template),
}

impl H2Template {
    /// Appends the header block to `block` and the body to `body`, filled
    /// with one request's values `v`.
    pub(crate) fn render(&self, block: &mut Vec<u8>, body: &mut Vec<u8>, v: &mut Values<'_>) {
        for part in &self.block {
            match part {
                BlockPart::Fixed(bytes) => block.extend_from_slice(bytes),
                BlockPart::Value(t) => {
                    let at = block.len();
                    t.render(block, v);
                    hpack::encode_value(block, at);
                }
            }
        }
        self.body.render(body, v);
    }
}

/// Headers HTTP/2 forbids (RFC 9113 §8.2.2) or carries otherwise (`Host` is
/// `:authority`; the body is framed by DATA frames).
pub(crate) const NOT_IN_H2: [&str; 7] = [
    "host",
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "content-length",
];

/// A token (RFC 9110 §5.6.2): a method or a header name.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A field value HTTP/2 can carry: no control characters but tab.
fn is_value(s: &str) -> bool {
    s.bytes().all(|b| (b >= 0x20 && b != 0x7f) || b == b'\t')
}

/// Compiles a template's source (a path, a header value, a body).
pub(crate) type Compile<'a> = &'a dyn Fn(&[u8]) -> Result<Template, String>;

/// The HTTP/2 form of a request: `:authority` is the target's `Host` value;
/// header names are lowercased and those HTTP/2 forbids dropped.
pub(crate) fn build_h2_request(
    method: &str,
    headers: &[(String, String)],
    body: &[u8],
    tls: bool,
    host_header: &str,
    path: &str,
) -> Result<H2Request, String> {
    build_h2(method, headers, body, tls, host_header, path, None)
}

/// [`build_h2_request`], and for a request with templates in its path,
/// header values or body (`compile` given), each of them compiled with
/// `compile` to be rendered per request.
pub(crate) fn build_h2(
    method: &str,
    headers: &[(String, String)],
    body: &[u8],
    tls: bool,
    host_header: &str,
    path: &str,
    compile: Option<Compile<'_>>,
) -> Result<H2Request, String> {
    let fields = h2_fields(method, headers, tls, host_header, path)?;
    let Some(compile) = compile else {
        let mut block = Vec::new();
        for (name, value) in fields {
            hpack::encode_field(&mut block, &name, value);
        }
        return Ok(H2Request {
            block: block.into_boxed_slice(),
            body: body.into(),
            template: None,
        });
    };
    let mut parts = Vec::new();
    let mut fixed = Vec::new();
    for (name, value) in fields {
        if !has_template(value.as_bytes()) {
            hpack::encode_field(&mut fixed, &name, value);
            continue;
        }
        hpack::encode_literal_name(&mut fixed, &name);
        parts.push(BlockPart::Fixed(
            std::mem::take(&mut fixed).into_boxed_slice(),
        ));
        parts.push(BlockPart::Value(compile(value.as_bytes())?));
    }
    if !fixed.is_empty() {
        parts.push(BlockPart::Fixed(fixed.into_boxed_slice()));
    }
    Ok(H2Request {
        block: Box::default(),
        body: Arc::default(),
        template: Some(Box::new(H2Template {
            block: parts.into_boxed_slice(),
            body: compile(body)?,
        })),
    })
}

/// The fields of a request as HTTP/2 sends them, checked: the
/// pseudo-headers, the defaults the request does not set, and its own
/// headers, lowercased, without those HTTP/2 forbids. Templates are checked
/// as the text around them.
fn h2_fields<'h>(
    method: &'h str,
    headers: &'h [(String, String)],
    tls: bool,
    host_header: &'h str,
    path: &'h str,
) -> Result<Vec<(std::borrow::Cow<'h, str>, &'h str)>, String> {
    use std::borrow::Cow;
    if !is_token(method) {
        return Err(format!("method '{method}' is not valid for HTTP/2"));
    }
    let target_ok = |s: &str| {
        let s = crate::template::without_holes(s);
        !s.is_empty() && s.bytes().all(|b| b > 0x20 && b != 0x7f)
    };
    if !target_ok(host_header) || !target_ok(path) {
        return Err(format!(
            "'{host_header}{path}' is not a valid HTTP/2 target"
        ));
    }
    let mut fields = vec![
        (Cow::Borrowed(":method"), method),
        (Cow::Borrowed(":scheme"), if tls { "https" } else { "http" }),
        (Cow::Borrowed(":authority"), host_header),
        (Cow::Borrowed(":path"), path),
    ];
    let has = |name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    if !has("user-agent") {
        fields.push((
            Cow::Borrowed("user-agent"),
            concat!("myriad/", env!("CARGO_PKG_VERSION")),
        ));
    }
    if !has("accept") {
        fields.push((Cow::Borrowed("accept"), "*/*"));
    }
    for (name, value) in headers {
        if NOT_IN_H2.iter().any(|n| name.eq_ignore_ascii_case(n))
            || (name.eq_ignore_ascii_case("te") && !value.eq_ignore_ascii_case("trailers"))
        {
            continue;
        }
        if !is_token(name) {
            return Err(format!("header '{name}' is not valid for HTTP/2"));
        }
        if !is_value(value) {
            return Err(format!("header value '{value}' is not valid for HTTP/2"));
        }
        fields.push((Cow::Owned(name.to_ascii_lowercase()), value.as_str()));
    }
    Ok(fields)
}

/// Checks, at connect, that a stream from `inner` speaks HTTP/2: over TLS,
/// that ALPN chose `h2` (a plain stream speaks it by prior knowledge).
pub(crate) struct H2Dialer<D> {
    pub inner: Rc<D>,
}

impl<D: Dialer> Dialer for H2Dialer<D> {
    type Stream = D::Stream;

    async fn dial(&self) -> Result<Dialed<D::Stream>, DialError> {
        let dialed = self.inner.dial().await?;
        if !crate::engine::transport::Transport::negotiated_h2(&dialed.stream) {
            return Err(DialError {
                kind: ErrorKind::Alpn,
                source: io::Error::other("the server did not offer h2 in ALPN"),
            });
        }
        Ok(dialed)
    }
}

#[cfg(test)]
mod tests;
