//! Incremental decoder for `Transfer-Encoding: chunked` bodies.
//!
//! The decoder never copies body bytes: it walks the buffer it is given, says how
//! many bytes it consumed and whether the body ended. Callers may feed it any
//! split of the stream, down to one byte at a time. Both the client (response
//! bodies) and the test server (request bodies) use it.

use super::ProtoError;

/// Where the decoder stands inside a chunked body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Expecting a chunk-size line (`1a;ext=1\r\n`).
    Size,
    /// Inside chunk data with this many bytes left.
    Data(u64),
    /// Expecting the CRLF that ends chunk data.
    DataEnd,
    /// After the last (zero-size) chunk: trailer lines until an empty line.
    Trailer,
    /// The body ended.
    Done,
}

/// Longest chunk-size or trailer line accepted, its CRLF included; a longer
/// one makes the body malformed.
const MAX_LINE: usize = 8 * 1024;

/// Decodes one chunked body, incrementally.
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: State,
    payload: u64,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkedDecoder {
    /// A decoder at the start of a body.
    pub fn new() -> Self {
        ChunkedDecoder {
            state: State::Size,
            payload: 0,
        }
    }

    /// Total chunk payload bytes seen so far (framing excluded).
    pub fn payload_len(&self) -> u64 {
        self.payload
    }

    /// Whether the terminating chunk and trailers have been seen.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Consumes as much of `buf` as belongs to the body and returns how many bytes
    /// that was. Once [`is_done`](Self::is_done) is true, the bytes after the
    /// returned count belong to the next message. Returns an error on malformed
    /// framing.
    pub fn decode(&mut self, buf: &[u8]) -> Result<usize, ProtoError> {
        let mut pos = 0;
        loop {
            let rest = &buf[pos..];
            match self.state {
                State::Done => return Ok(pos),
                State::Size => match httparse::parse_chunk_size(rest) {
                    // The limit applies to the line however it arrives: whole
                    // in one buffer or in pieces (below), so that the outcome
                    // never depends on how reads split the stream.
                    Ok(httparse::Status::Complete((used, _))) if used > MAX_LINE => {
                        return Err(ProtoError::ChunkSize)
                    }
                    Ok(httparse::Status::Complete((used, size))) => {
                        pos += used;
                        self.state = if size == 0 {
                            State::Trailer
                        } else {
                            State::Data(size)
                        };
                    }
                    Ok(httparse::Status::Partial) => {
                        // Its CRLF still to come, the line is longer than this.
                        if rest.len() >= MAX_LINE {
                            return Err(ProtoError::ChunkSize);
                        }
                        return Ok(pos);
                    }
                    Err(_) => return Err(ProtoError::ChunkSize),
                },
                State::Data(left) => {
                    if rest.is_empty() {
                        return Ok(pos);
                    }
                    let take = left.min(rest.len() as u64);
                    pos += take as usize;
                    self.payload += take;
                    self.state = if take == left {
                        State::DataEnd
                    } else {
                        State::Data(left - take)
                    };
                }
                State::DataEnd => {
                    if rest.len() < 2 {
                        if rest.first().is_some_and(|&b| b != b'\r') {
                            return Err(ProtoError::ChunkFraming);
                        }
                        return Ok(pos);
                    }
                    if &rest[..2] != b"\r\n" {
                        return Err(ProtoError::ChunkFraming);
                    }
                    pos += 2;
                    self.state = State::Size;
                }
                State::Trailer => match rest.windows(2).position(|w| w == b"\r\n") {
                    Some(0) => {
                        pos += 2;
                        self.state = State::Done;
                    }
                    Some(end) if end + 2 > MAX_LINE => return Err(ProtoError::ChunkFraming),
                    Some(end) => pos += end + 2,
                    None => {
                        if rest.len() >= MAX_LINE {
                            return Err(ProtoError::ChunkFraming);
                        }
                        return Ok(pos);
                    }
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(input: &[u8], step: usize) -> (ChunkedDecoder, usize) {
        let mut dec = ChunkedDecoder::new();
        let mut fed = 0;
        let mut consumed = 0;
        while !dec.is_done() && fed < input.len() {
            fed = (fed + step).min(input.len());
            // Feed everything not yet consumed, as a read buffer would hold it.
            consumed += dec.decode(&input[consumed..fed]).unwrap();
        }
        (dec, consumed)
    }

    #[test]
    fn decodes_whole_and_byte_by_byte() {
        let body = b"4\r\nWiki\r\n5;ext=1\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\n\r\nNEXT";
        for step in [1, 2, 3, 7, body.len()] {
            let (dec, consumed) = decode_all(body, step);
            assert!(dec.is_done(), "step {step}");
            assert_eq!(dec.payload_len(), 23, "step {step}");
            assert_eq!(&body[consumed..], b"NEXT", "step {step}");
        }
    }

    #[test]
    fn skips_trailers() {
        let body = b"3\r\nabc\r\n0\r\nX-Trailer: 1\r\nY: 2\r\n\r\n";
        let (dec, consumed) = decode_all(body, 1);
        assert!(dec.is_done());
        assert_eq!(consumed, body.len());
        assert_eq!(dec.payload_len(), 3);
    }

    #[test]
    fn a_chunk_is_consumed_with_its_crlf() {
        // A buffer that ends right after a chunk's CRLF: all of it is used,
        // and the next byte read is the next chunk-size line.
        let mut dec = ChunkedDecoder::new();
        assert_eq!(dec.decode(b"3\r\nabc\r\n"), Ok(8));
        assert!(!dec.is_done());
        assert_eq!(dec.decode(b"0\r\n\r\n"), Ok(5));
        assert!(dec.is_done());
        assert_eq!(dec.payload_len(), 3);
    }

    /// A line of `len` bytes, CRLF included, starting with `start`.
    fn line(start: &[u8], len: usize) -> Vec<u8> {
        let mut l = start.to_vec();
        l.resize(len - 2, b'a');
        l.extend_from_slice(b"\r\n");
        l
    }

    #[test]
    fn chunk_size_lines_up_to_8k() {
        // The limit is 8 KiB, as documented: a constant gone wrong moves
        // every test below with it, so it is pinned here.
        assert_eq!(MAX_LINE, 8192);
        let at_limit = line(b"1;x=", MAX_LINE);
        assert_eq!(ChunkedDecoder::new().decode(&at_limit), Ok(MAX_LINE));
        // Partial, one byte short of the limit: wait for more.
        assert_eq!(
            ChunkedDecoder::new().decode(&at_limit[..MAX_LINE - 1]),
            Ok(0)
        );
        let over = line(b"1;x=", MAX_LINE + 1);
        assert_eq!(
            ChunkedDecoder::new().decode(&over),
            Err(ProtoError::ChunkSize)
        );
        let mut dec = ChunkedDecoder::new();
        assert_eq!(dec.decode(&over[..MAX_LINE - 1]), Ok(0));
        // The limit reached with the CRLF still to come.
        assert_eq!(dec.decode(&over[..MAX_LINE]), Err(ProtoError::ChunkSize));
    }

    #[test]
    fn trailer_lines_up_to_8k() {
        let body = |len| [b"0\r\n".as_slice(), &line(b"X-T: ", len), b"\r\n"].concat();
        let ok = body(MAX_LINE);
        let mut dec = ChunkedDecoder::new();
        assert_eq!(dec.decode(&ok), Ok(ok.len()));
        assert!(dec.is_done());
        let mut dec = ChunkedDecoder::new();
        assert_eq!(
            dec.decode(&ok[..3 + MAX_LINE - 1]),
            Ok(3),
            "partial, below the limit"
        );
        let over = body(MAX_LINE + 1);
        assert_eq!(
            ChunkedDecoder::new().decode(&over),
            Err(ProtoError::ChunkFraming)
        );
        let mut dec = ChunkedDecoder::new();
        assert_eq!(
            dec.decode(&over[..3 + MAX_LINE]),
            Err(ProtoError::ChunkFraming)
        );
    }

    #[test]
    fn rejects_bad_size_and_framing() {
        let mut dec = ChunkedDecoder::new();
        assert_eq!(dec.decode(b"zz\r\n"), Err(ProtoError::ChunkSize));
        let mut dec = ChunkedDecoder::new();
        assert_eq!(dec.decode(b"2\r\nabXY"), Err(ProtoError::ChunkFraming));
    }
}
