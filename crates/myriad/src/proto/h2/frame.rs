//! HTTP/2 frames (RFC 9113 §4, §6): the 9-byte frame header, the frame
//! types and flags the client uses, and writers for the frames it sends.
//! Reading is in `conn.rs`, over the bytes of a lent buffer, in place.

/// The connection preface a client opens with (RFC 9113 §3.4).
pub(crate) const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Length of a frame header.
pub(crate) const HEAD: usize = 9;

pub(crate) const DATA: u8 = 0x0;
pub(crate) const HEADERS: u8 = 0x1;
pub(crate) const PRIORITY: u8 = 0x2;
pub(crate) const RST_STREAM: u8 = 0x3;
pub(crate) const SETTINGS: u8 = 0x4;
pub(crate) const PUSH_PROMISE: u8 = 0x5;
pub(crate) const PING: u8 = 0x6;
pub(crate) const GOAWAY: u8 = 0x7;
pub(crate) const WINDOW_UPDATE: u8 = 0x8;
pub(crate) const CONTINUATION: u8 = 0x9;

pub(crate) const END_STREAM: u8 = 0x1;
pub(crate) const ACK: u8 = 0x1;
pub(crate) const END_HEADERS: u8 = 0x4;
pub(crate) const PADDED: u8 = 0x8;
pub(crate) const PRIORITY_FLAG: u8 = 0x20;

// Settings (RFC 9113 §6.5.2).
pub(crate) const SETTINGS_HEADER_TABLE_SIZE: u16 = 0x1;
pub(crate) const SETTINGS_ENABLE_PUSH: u16 = 0x2;
pub(crate) const SETTINGS_MAX_CONCURRENT_STREAMS: u16 = 0x3;
pub(crate) const SETTINGS_INITIAL_WINDOW_SIZE: u16 = 0x4;
pub(crate) const SETTINGS_MAX_FRAME_SIZE: u16 = 0x5;

// Error codes (RFC 9113 §7).
pub(crate) const NO_ERROR: u32 = 0x0;
pub(crate) const PROTOCOL_ERROR: u32 = 0x1;
pub(crate) const FLOW_CONTROL_ERROR: u32 = 0x3;
pub(crate) const FRAME_SIZE_ERROR: u32 = 0x6;
pub(crate) const COMPRESSION_ERROR: u32 = 0x9;

/// The frame size every endpoint accepts, and the most myriad accepts (it
/// announces no other SETTINGS_MAX_FRAME_SIZE).
pub(crate) const DEFAULT_MAX_FRAME: u32 = 16_384;
/// The window of a connection or stream before SETTINGS or WINDOW_UPDATE.
pub(crate) const DEFAULT_WINDOW: u32 = 65_535;
/// The largest window (RFC 9113 §6.9.1).
pub(crate) const MAX_WINDOW: i64 = (1 << 31) - 1;

/// A frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Head {
    pub len: usize,
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
}

impl Head {
    /// The header at the start of `b` (at least [`HEAD`] bytes).
    pub fn parse(b: &[u8; HEAD]) -> Head {
        Head {
            len: usize::from(b[0]) << 16 | usize::from(b[1]) << 8 | usize::from(b[2]),
            kind: b[3],
            flags: b[4],
            stream: u32::from_be_bytes([b[5], b[6], b[7], b[8]]) & 0x7fff_ffff,
        }
    }
}

/// Appends a frame header.
pub(crate) fn head(out: &mut Vec<u8>, len: usize, kind: u8, flags: u8, stream: u32) {
    let len = len.to_be_bytes();
    let n = len.len();
    out.extend_from_slice(&len[n - 3..]);
    out.push(kind);
    out.push(flags);
    out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
}

/// Appends a SETTINGS frame of `(id, value)` pairs.
pub(crate) fn settings(out: &mut Vec<u8>, pairs: &[(u16, u32)]) {
    head(out, pairs.len() * 6, SETTINGS, 0, 0);
    for (id, value) in pairs {
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&value.to_be_bytes());
    }
}

/// Appends a SETTINGS frame acknowledging the peer's.
pub(crate) fn settings_ack(out: &mut Vec<u8>) {
    head(out, 0, SETTINGS, ACK, 0);
}

/// Appends a WINDOW_UPDATE frame.
pub(crate) fn window_update(out: &mut Vec<u8>, stream: u32, increment: u32) {
    head(out, 4, WINDOW_UPDATE, 0, stream);
    out.extend_from_slice(&(increment & 0x7fff_ffff).to_be_bytes());
}

/// Appends a PING acknowledging the peer's `payload`.
pub(crate) fn ping_ack(out: &mut Vec<u8>, payload: &[u8; 8]) {
    head(out, 8, PING, ACK, 0);
    out.extend_from_slice(payload);
}

/// Appends a RST_STREAM frame.
pub(crate) fn rst_stream(out: &mut Vec<u8>, stream: u32, code: u32) {
    head(out, 4, RST_STREAM, 0, stream);
    out.extend_from_slice(&code.to_be_bytes());
}

/// Appends a GOAWAY frame.
pub(crate) fn goaway(out: &mut Vec<u8>, last_stream: u32, code: u32) {
    head(out, 8, GOAWAY, 0, 0);
    out.extend_from_slice(&(last_stream & 0x7fff_ffff).to_be_bytes());
    out.extend_from_slice(&code.to_be_bytes());
}

/// Appends a request's header block on `stream`: one HEADERS frame, and
/// CONTINUATION frames when the block is larger than `max_frame`. Returns
/// the bytes appended.
pub(crate) fn header_block(
    out: &mut Vec<u8>,
    stream: u32,
    block: &[u8],
    end_stream: bool,
    max_frame: usize,
) -> usize {
    let before = out.len();
    let max_frame = max_frame.max(1);
    let mut chunks = block.chunks(max_frame);
    let first = chunks.next().unwrap_or_default();
    let last = block.len() <= max_frame;
    let mut flags = if last { END_HEADERS } else { 0 };
    if end_stream {
        flags |= END_STREAM;
    }
    head(out, first.len(), HEADERS, flags, stream);
    out.extend_from_slice(first);
    let mut sent = first.len();
    for chunk in chunks {
        sent += chunk.len();
        let flags = if sent == block.len() { END_HEADERS } else { 0 };
        head(out, chunk.len(), CONTINUATION, flags, stream);
        out.extend_from_slice(chunk);
    }
    out.len() - before
}

/// Appends DATA frames carrying `data` on `stream`, none larger than
/// `max_frame`, the last with END_STREAM when `end_stream`. Returns the
/// bytes appended.
#[cfg(test)]
pub(crate) fn data(
    out: &mut Vec<u8>,
    stream: u32,
    data: &[u8],
    end_stream: bool,
    max_frame: usize,
) -> usize {
    let before = out.len();
    let max_frame = max_frame.max(1);
    let mut rest = data;
    loop {
        let n = rest.len().min(max_frame);
        let (chunk, tail) = rest.split_at(n);
        let flags = if tail.is_empty() && end_stream {
            END_STREAM
        } else {
            0
        };
        head(out, n, DATA, flags, stream);
        out.extend_from_slice(chunk);
        rest = tail;
        if rest.is_empty() {
            break;
        }
    }
    out.len() - before
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_round_trips() {
        let mut out = Vec::new();
        head(&mut out, 0x01_02_03, HEADERS, END_HEADERS, 0x8000_0005);
        assert_eq!(out, [1, 2, 3, 1, 4, 0, 0, 0, 5]);
        let b: [u8; HEAD] = out.as_slice().try_into().unwrap();
        let h = Head::parse(&b);
        assert_eq!(
            h,
            Head {
                len: 0x01_02_03,
                kind: HEADERS,
                flags: END_HEADERS,
                stream: 5
            }
        );
    }

    #[test]
    fn a_large_block_is_split_into_continuations() {
        let block: Vec<u8> = (0..40_000u32).map(|i| i as u8).collect();
        let mut out = Vec::new();
        let n = header_block(&mut out, 3, &block, true, 16_384);
        assert_eq!(n, out.len());
        assert_eq!(n, block.len() + 3 * HEAD);
        let mut at = 0;
        let mut got = Vec::new();
        let mut kinds = Vec::new();
        while at < out.len() {
            let h = Head::parse(out[at..at + HEAD].try_into().unwrap());
            kinds.push((h.kind, h.flags));
            got.extend_from_slice(&out[at + HEAD..at + HEAD + h.len]);
            at += HEAD + h.len;
        }
        assert_eq!(got, block);
        assert_eq!(
            kinds,
            [
                (HEADERS, END_STREAM),
                (CONTINUATION, 0),
                (CONTINUATION, END_HEADERS)
            ]
        );
    }

    #[test]
    fn data_is_framed_by_the_max_frame_size() {
        let mut out = Vec::new();
        data(&mut out, 1, &[7; 100], true, 40);
        assert_eq!(out.len(), 100 + 3 * HEAD);
        assert_eq!(out[4], 0);
        assert_eq!(out[HEAD + 40 + 4], 0);
        assert_eq!(out[2 * (HEAD + 40) + 4], END_STREAM);
        let mut empty = Vec::new();
        data(&mut empty, 1, &[], true, 40);
        assert_eq!(empty, [0, 0, 0, DATA, END_STREAM, 0, 0, 0, 1]);
    }
}
