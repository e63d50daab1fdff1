//! HTTP/1.1 wire protocol: request bytes built once, responses parsed incrementally.
//!
//! Everything here is pure (no I/O), so it is tested on byte strings split every
//! which way. The engine owns the sockets and feeds these parsers what it reads.

pub mod chunked;
pub(crate) mod request;
pub(crate) mod response;

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
    /// A response arrived that no request asked for, or bytes after the response.
    #[error("unsolicited bytes after a complete response")]
    Unsolicited,
}
