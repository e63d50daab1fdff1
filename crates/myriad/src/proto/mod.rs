//! The protocol seam: HTTP/1.1 (plain and pipelined) and HTTP/2.
//!
//! A `Protocol` (`session.rs`) makes one `Session` per connection; a session
//! takes requests (tickets) and yields exactly one outcome for each, with up to
//! `Session::max_in_flight` of them in flight on the connection. The request
//! loop (`engine/connection.rs`) asks the session, never branches on the
//! protocol. Three sessions: `Http1` (one request in flight, nothing held
//! between requests), `Http1Pipeline` (`--pipeline N`: requests written ahead
//! in batches, responses matched in order), both in `http1.rs`, and `Http2`
//! (`h2/`: myriad's own HTTP/2 client codec, a stream per request, frames
//! written and read over the same byte stream, whichever finishes first).
//!
//! The codecs below the sessions are pure (no I/O), so they are tested on byte
//! strings split every which way: request bytes built once, responses parsed
//! incrementally with httparse, bodies framed by length, chunks or close.

pub mod chunked;
pub(crate) mod h2;
pub(crate) mod http1;
pub(crate) mod request;
pub(crate) mod response;
pub(crate) mod session;

pub(crate) use session::{Flight, Protocol, Session};

pub use chunked::ChunkedDecoder;

/// Why a peer's bytes are not valid HTTP/1.1. Every such failure is counted as a
/// `protocol` error for the request it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProtoError {
    /// The status line or headers did not parse.
    #[error("malformed response head: {0}")]
    Head(httparse::Error),
    /// The head did not fit in the read buffer.
    #[error("response head larger than {0} bytes")]
    HeadTooLarge(usize),
    /// A `Content-Length` that is not a number, or two that disagree.
    #[error("invalid Content-Length")]
    ContentLength,
    /// A chunk-size line that is not hexadecimal or is too long.
    #[error("invalid chunk size line")]
    ChunkSize,
    /// Chunk data not followed by CRLF, or an over-long trailer line.
    #[error("invalid chunk framing")]
    ChunkFraming,
    /// `101 Switching Protocols` to a request that asked for no upgrade.
    #[error("unexpected 101 Switching Protocols")]
    UnexpectedUpgrade,
}
