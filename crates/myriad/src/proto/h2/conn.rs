//! One HTTP/2 connection's state, without I/O: streams opened by writing
//! their frames into a buffer, and the server's frames read in place from
//! the bytes it is given, each stream ending as one [`Done`].
//!
//! `T` is what a stream carries for its caller (the request loop's `Flight`;
//! a number in tests). A connection error (a malformed frame, bad HPACK, a
//! flow-control violation) queues a GOAWAY of our own and ends every open
//! stream as `http2_protocol`; the connection breaking ends them as `io`, or
//! as `goaway` after the server's GOAWAY with an error code.

use std::collections::VecDeque;

use super::frame::{self, Head, HEAD};
use super::hpack;
use crate::metrics::ErrorKind;
use crate::proto::session::IoCounts;

/// The stream window myriad announces (SETTINGS_INITIAL_WINDOW_SIZE): large,
/// so a large response body flows at full speed (its bytes are counted and
/// dropped, never kept).
pub(crate) const STREAM_WINDOW: u32 = 16 << 20;
/// The connection window myriad opens with its first WINDOW_UPDATE.
pub(crate) const CONN_WINDOW: u32 = 1 << 30;
/// Streams opened before the server's SETTINGS say how many it allows: the
/// least RFC 9113 §6.5.2 recommends a server allow (h2load does the same).
/// Those a server with a lower limit refuses are sent again (`retry`).
const STREAMS_BEFORE_SETTINGS: u32 = 100;
/// RST_STREAM's REFUSED_STREAM: the server did not process the stream.
const REFUSED_STREAM: u32 = 0x7;
/// A header block split over CONTINUATION frames larger than this is
/// refused (a response head is a few hundred bytes).
const MAX_BLOCK: usize = 1 << 20;
/// RST_STREAM's CANCEL: the response came before the request body was sent.
const CANCEL: u32 = 0x8;

/// How a stream ended: its status or its failure, and its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Done<T> {
    pub tag: T,
    pub result: Result<u16, ErrorKind>,
    pub io: IoCounts,
}

/// A stream the client opened, its response not complete.
#[derive(Debug)]
pub(crate) struct Stream<T> {
    pub id: u32,
    pub tag: T,
    /// The final status, once its head came (1xx heads are skipped).
    status: Option<u16>,
    /// Opened before the server's SETTINGS arrived.
    early: bool,
    /// Request body bytes sent, of `body_len`.
    body_sent: usize,
    body_len: usize,
    /// What the server lets us send on the stream.
    send_window: i64,
    /// What we let the server send, and what it sent since the last
    /// WINDOW_UPDATE.
    recv_window: i64,
    recv_unacked: u32,
    io: IoCounts,
}

/// A DATA frame whose payload is still arriving: its bytes are counted as
/// they come, never buffered.
#[derive(Debug, Clone, Copy)]
struct DataLeft {
    stream: u32,
    left: usize,
    end_stream: bool,
}

/// A header block waiting for its CONTINUATION frames.
#[derive(Debug, Default)]
struct Block {
    stream: u32,
    end_stream: bool,
    bytes: Vec<u8>,
    frame_bytes: u64,
}

/// One connection's HTTP/2 state.
#[derive(Debug)]
pub(crate) struct Conn<T> {
    /// The preface and our SETTINGS are written.
    started: bool,
    next_id: u32,
    settings_seen: bool,
    peer_max_streams: u32,
    peer_window: i64,
    peer_max_frame: usize,
    /// What the server lets us send on the connection.
    send_window: i64,
    recv_window: i64,
    recv_unacked: u32,
    hpack: hpack::Decoder,
    /// Open streams, by ascending id.
    pub streams: Vec<Stream<T>>,
    /// Bytes of a frame not complete yet, kept between reads.
    pub pending: Vec<u8>,
    data: Option<DataLeft>,
    block: Option<Box<Block>>,
    /// Frames to send: acknowledgements, window updates, resets, GOAWAY.
    control: Vec<u8>,
    /// The server's GOAWAY: its last stream and error code.
    pub goaway: Option<(u32, u32)>,
    /// The connection is over: the kind its streams ended with.
    pub dead: Option<ErrorKind>,
    /// Streams that ended, oldest first.
    pub done: VecDeque<Done<T>>,
    /// Streams opened before the server's SETTINGS and refused
    /// (REFUSED_STREAM) because its limit turned out lower: their requests
    /// were not processed, and are sent again on this connection.
    pub retry: Vec<T>,
    /// Streams opened before the server's SETTINGS arrived.
    early_opened: u32,
}

impl<T> Default for Conn<T> {
    fn default() -> Self {
        Conn {
            started: false,
            next_id: 1,
            settings_seen: false,
            peer_max_streams: u32::MAX,
            peer_window: i64::from(frame::DEFAULT_WINDOW),
            peer_max_frame: frame::DEFAULT_MAX_FRAME as usize,
            send_window: i64::from(frame::DEFAULT_WINDOW),
            recv_window: i64::from(CONN_WINDOW),
            recv_unacked: 0,
            hpack: hpack::Decoder::new(),
            streams: Vec::new(),
            pending: Vec::new(),
            data: None,
            block: None,
            control: Vec::new(),
            goaway: None,
            dead: None,
            done: VecDeque::new(),
            retry: Vec::new(),
            early_opened: 0,
        }
    }
}

/// A frame's payload without its padding (RFC 9113 §6.1), or `None` if the
/// padding is longer than the payload.
fn unpadded(flags: u8, payload: &[u8]) -> Option<&[u8]> {
    if flags & frame::PADDED == 0 {
        return Some(payload);
    }
    let (&pad, rest) = payload.split_first()?;
    rest.len()
        .checked_sub(usize::from(pad))
        .map(|end| &rest[..end])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    match b.get(at..at + 4) {
        Some(&[a, b, c, d]) => u32::from_be_bytes([a, b, c, d]),
        _ => 0,
    }
}

impl<T> Conn<T> {
    /// The preface was written: the server may have sent frames since.
    pub fn is_started(&self) -> bool {
        self.started
    }

    /// The server's frames are over (the connection broke or is given up).
    pub fn is_over(&self) -> bool {
        self.dead.is_some()
    }

    /// No new stream may be opened on the connection.
    pub fn is_gone(&self) -> bool {
        self.dead.is_some() || self.goaway.is_some()
    }

    /// How many streams may be open at once, as far as the server said.
    pub fn peer_max_streams(&self) -> usize {
        let max = match self.settings_seen {
            true => self.peer_max_streams,
            false => self.peer_max_streams.min(STREAMS_BEFORE_SETTINGS),
        };
        usize::try_from(max).unwrap_or(usize::MAX)
    }

    /// Whether a new stream may be opened now.
    pub fn can_open(&self) -> bool {
        !self.is_gone() && self.streams.len() < self.peer_max_streams() && self.next_id < (1 << 31)
    }

    /// Writes what must precede everything else on a new connection (the
    /// preface, our SETTINGS, the connection window) and the control frames
    /// queued since the last write.
    pub fn write_control(&mut self, out: &mut Vec<u8>) {
        if !self.started {
            self.started = true;
            out.extend_from_slice(frame::PREFACE);
            frame::settings(
                out,
                &[
                    (frame::SETTINGS_ENABLE_PUSH, 0),
                    (frame::SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW),
                ],
            );
            frame::window_update(out, 0, CONN_WINDOW - frame::DEFAULT_WINDOW);
        }
        if !self.control.is_empty() {
            // Taken, not kept: an idle connection holds no buffer.
            out.extend_from_slice(&std::mem::take(&mut self.control));
        }
    }

    /// Opens a stream for `tag`: its HEADERS (and CONTINUATION) frames with
    /// the prebuilt `block`, and as much of `body` as the windows allow.
    pub fn open(&mut self, tag: T, block: &[u8], body: &[u8], out: &mut Vec<u8>) {
        self.write_control(out);
        let id = self.next_id;
        self.next_id += 2;
        let sent = frame::header_block(out, id, block, body.is_empty(), self.peer_max_frame);
        let early = !self.settings_seen;
        self.early_opened += u32::from(early);
        self.streams.push(Stream {
            id,
            tag,
            early,
            status: None,
            body_sent: 0,
            body_len: body.len(),
            send_window: self.peer_window,
            recv_window: i64::from(STREAM_WINDOW),
            recv_unacked: 0,
            io: IoCounts {
                sent: sent as u64,
                received: 0,
            },
        });
        if !body.is_empty() {
            let last = self.streams.len() - 1;
            self.send_body(last, body, out);
        }
    }

    /// Writes DATA frames of stream `i`'s body as far as both windows allow.
    fn send_body(&mut self, i: usize, body: &[u8], out: &mut Vec<u8>) {
        let max_frame = self.peer_max_frame;
        let Some(s) = self.streams.get_mut(i) else {
            return;
        };
        while s.body_sent < s.body_len {
            let room = s.send_window.min(self.send_window).max(0) as usize;
            let n = (s.body_len - s.body_sent).min(room).min(max_frame);
            if n == 0 {
                break;
            }
            let Some(chunk) = body.get(s.body_sent..s.body_sent + n) else {
                break;
            };
            let end = s.body_sent + n == s.body_len;
            frame::head(
                out,
                n,
                frame::DATA,
                if end { frame::END_STREAM } else { 0 },
                s.id,
            );
            out.extend_from_slice(chunk);
            s.body_sent += n;
            s.send_window -= n as i64;
            self.send_window -= n as i64;
            s.io.sent += (HEAD + n) as u64;
        }
    }

    /// Writes what the windows now allow of every body not sent whole.
    /// `body_of` gives a stream's body from its tag (a cheap handle: an
    /// `Arc` or a reference from outside the connection).
    pub fn send_bodies<B: AsRef<[u8]>>(&mut self, out: &mut Vec<u8>, body_of: impl Fn(&T) -> B) {
        for i in 0..self.streams.len() {
            let s = &self.streams[i];
            if s.body_sent < s.body_len && self.send_window > 0 {
                let body = body_of(&s.tag);
                self.send_body(i, body.as_ref(), out);
            }
        }
    }

    fn index(&self, id: u32) -> Option<usize> {
        self.streams.binary_search_by_key(&id, |s| s.id).ok()
    }

    /// Ends stream `i` with `result`.
    fn finish(&mut self, i: usize, result: Result<u16, ErrorKind>) {
        let s = self.streams.remove(i);
        if result.is_ok() && s.body_sent < s.body_len {
            // Answered before its body was sent: the rest is not wanted.
            frame::rst_stream(&mut self.control, s.id, CANCEL);
        }
        self.done.push_back(Done {
            tag: s.tag,
            result,
            io: s.io,
        });
    }

    /// A stream error: the stream is reset and ends as `http2_protocol`.
    fn stream_error(&mut self, i: usize, code: u32) {
        if let Some(s) = self.streams.get(i) {
            frame::rst_stream(&mut self.control, s.id, code);
            self.finish(i, Err(ErrorKind::Http2Protocol));
        }
    }

    /// Every open stream ends with `kind`; the connection is over.
    fn end_all(&mut self, kind: ErrorKind) {
        while !self.streams.is_empty() {
            self.finish(0, Err(kind));
        }
        self.dead.get_or_insert(kind);
        self.data = None;
        self.block = None;
        self.pending = Vec::new();
    }

    /// A connection error of the server's: our GOAWAY, best effort, and
    /// every open stream ends as `http2_protocol`.
    pub fn protocol_error(&mut self, code: u32) {
        if self.dead.is_none() {
            frame::goaway(&mut self.control, 0, code);
        }
        self.end_all(ErrorKind::Http2Protocol);
    }

    /// The connection ended (EOF, a read or write error): open streams end
    /// as `goaway` if the server's GOAWAY had an error code, `io` otherwise.
    pub fn closed(&mut self) {
        let kind = match self.goaway {
            Some((_, code)) if code != frame::NO_ERROR => ErrorKind::Goaway,
            _ => ErrorKind::Io,
        };
        self.end_all(kind);
    }

    /// Reads `bytes` after those kept from earlier reads, keeping a frame not
    /// complete yet (what the session does across reads; tests, fuzzing).
    pub fn feed(&mut self, bytes: &[u8]) {
        let mut buf = std::mem::take(&mut self.pending);
        buf.extend_from_slice(bytes);
        let used = self.receive(&buf);
        if let Some(rest) = buf.get(used..) {
            self.pending.extend_from_slice(rest);
        }
    }

    /// Reads the frames in `buf`, returning the bytes used: a frame not
    /// complete yet is left (except a DATA frame's payload, which is counted
    /// as it comes). After a connection error the rest is ignored.
    pub fn receive(&mut self, buf: &[u8]) -> usize {
        let mut at = 0;
        while self.dead.is_none() {
            if let Some(d) = self.data {
                let n = d.left.min(buf.len() - at);
                self.data_bytes(d, n);
                at += n;
                if n < d.left {
                    break;
                }
                continue;
            }
            let Some(head) = buf.get(at..at + HEAD) else {
                break;
            };
            let Ok(head) = <&[u8; HEAD]>::try_from(head) else {
                break;
            };
            let head = Head::parse(head);
            if head.len > frame::DEFAULT_MAX_FRAME as usize {
                self.protocol_error(frame::FRAME_SIZE_ERROR);
                break;
            }
            if self.block.is_some() && head.kind != frame::CONTINUATION {
                self.protocol_error(frame::PROTOCOL_ERROR);
                break;
            }
            if head.kind == frame::DATA && head.flags & frame::PADDED == 0 {
                at += HEAD;
                self.data_start(head);
                continue;
            }
            let Some(payload) = buf.get(at + HEAD..at + HEAD + head.len) else {
                break;
            };
            at += HEAD + head.len;
            self.frame(head, payload);
        }
        if self.dead.is_some() {
            return buf.len();
        }
        at
    }

    /// A DATA frame's header: flow control is charged for the whole frame
    /// now, its payload counted as it arrives.
    fn data_start(&mut self, head: Head) {
        if head.stream == 0 {
            return self.protocol_error(frame::PROTOCOL_ERROR);
        }
        if !self.charge(head.len) {
            return;
        }
        let d = DataLeft {
            stream: head.stream,
            left: head.len,
            end_stream: head.flags & frame::END_STREAM != 0,
        };
        match self.index(head.stream) {
            Some(i) => {
                let s = &mut self.streams[i];
                s.recv_window -= head.len as i64;
                if s.status.is_none() {
                    // DATA before the response head: malformed.
                    self.stream_error(i, frame::PROTOCOL_ERROR);
                } else if s.recv_window < 0 {
                    self.stream_error(i, frame::FLOW_CONTROL_ERROR);
                } else {
                    s.io.received += HEAD as u64;
                }
            }
            None if head.stream >= self.next_id => {
                return self.protocol_error(frame::PROTOCOL_ERROR);
            }
            // A stream already ended (reset by us): counted, dropped.
            None => {}
        }
        // The payload is read past, whatever became of the stream.
        self.data = Some(d);
        if head.len == 0 {
            self.data_bytes(d, 0);
        }
    }

    /// Charges `len` received bytes to the connection window, and opens it
    /// again once half of it is used. False on a flow-control violation.
    fn charge(&mut self, len: usize) -> bool {
        self.recv_window -= len as i64;
        if self.recv_window < 0 {
            self.protocol_error(frame::FLOW_CONTROL_ERROR);
            return false;
        }
        self.recv_unacked += len as u32;
        if self.recv_unacked >= CONN_WINDOW / 2 {
            frame::window_update(&mut self.control, 0, self.recv_unacked);
            self.recv_window += i64::from(self.recv_unacked);
            self.recv_unacked = 0;
        }
        true
    }

    /// `n` bytes of the DATA payload `d` arrived.
    fn data_bytes(&mut self, d: DataLeft, n: usize) {
        let left = d.left - n;
        self.data = (left > 0).then_some(DataLeft { left, ..d });
        let Some(i) = self.index(d.stream) else {
            return;
        };
        let s = &mut self.streams[i];
        s.io.received += n as u64;
        s.recv_unacked += n as u32;
        if left > 0 {
            return;
        }
        if d.end_stream {
            let status = s.status.unwrap_or(0);
            return self.finish(i, Ok(status));
        }
        if s.recv_unacked >= STREAM_WINDOW / 2 {
            frame::window_update(&mut self.control, s.id, s.recv_unacked);
            s.recv_window += i64::from(s.recv_unacked);
            s.recv_unacked = 0;
        }
    }

    /// One complete frame (any but an unpadded DATA frame).
    fn frame(&mut self, head: Head, payload: &[u8]) {
        let on_zero = head.stream == 0;
        match head.kind {
            frame::DATA => {
                // Padded (an unpadded one is read as it comes): small and
                // rare, so read whole; charged whole, padding included.
                if unpadded(head.flags, payload).is_none() {
                    return self.protocol_error(frame::PROTOCOL_ERROR);
                }
                self.data_start(Head {
                    len: payload.len(),
                    flags: head.flags & !frame::PADDED,
                    ..head
                });
                if let Some(d) = self.data {
                    self.data_bytes(d, d.left);
                }
            }
            frame::HEADERS => {
                if on_zero {
                    return self.protocol_error(frame::PROTOCOL_ERROR);
                }
                let Some(mut fragment) = unpadded(head.flags, payload) else {
                    return self.protocol_error(frame::PROTOCOL_ERROR);
                };
                if head.flags & frame::PRIORITY_FLAG != 0 {
                    let Some(rest) = fragment.get(5..) else {
                        return self.protocol_error(frame::FRAME_SIZE_ERROR);
                    };
                    fragment = rest;
                }
                let end_stream = head.flags & frame::END_STREAM != 0;
                let bytes = (HEAD + head.len) as u64;
                if head.flags & frame::END_HEADERS != 0 {
                    self.head_block(head.stream, fragment, end_stream, bytes);
                } else {
                    self.block = Some(Box::new(Block {
                        stream: head.stream,
                        end_stream,
                        bytes: fragment.to_vec(),
                        frame_bytes: bytes,
                    }));
                }
            }
            frame::CONTINUATION => {
                let Some(mut block) = self.block.take() else {
                    return self.protocol_error(frame::PROTOCOL_ERROR);
                };
                if head.stream != block.stream || block.bytes.len() + payload.len() > MAX_BLOCK {
                    return self.protocol_error(frame::PROTOCOL_ERROR);
                }
                block.bytes.extend_from_slice(payload);
                block.frame_bytes += (HEAD + head.len) as u64;
                if head.flags & frame::END_HEADERS != 0 {
                    self.head_block(
                        block.stream,
                        &block.bytes,
                        block.end_stream,
                        block.frame_bytes,
                    );
                } else {
                    self.block = Some(block);
                }
            }
            frame::RST_STREAM => {
                if payload.len() != 4 {
                    return self.protocol_error(frame::FRAME_SIZE_ERROR);
                }
                if on_zero {
                    return self.protocol_error(frame::PROTOCOL_ERROR);
                }
                match self.index(head.stream) {
                    Some(i)
                        if u32_at(payload, 0) == REFUSED_STREAM
                            && self.streams[i].early
                            && self.settings_seen
                            && self.peer_max_streams < self.early_opened
                            && self.goaway.is_none() =>
                    {
                        // Refused for a limit not known when it was opened:
                        // not processed, so sent again.
                        let s = self.streams.remove(i);
                        self.retry.push(s.tag);
                    }
                    Some(i) => {
                        // After a GOAWAY with an error code the server is
                        // abandoning its streams: that is the word on them.
                        let kind = match self.goaway {
                            Some((_, code)) if code != frame::NO_ERROR => ErrorKind::Goaway,
                            _ => ErrorKind::StreamReset,
                        };
                        self.finish(i, Err(kind));
                    }
                    None if head.stream >= self.next_id => {
                        self.protocol_error(frame::PROTOCOL_ERROR)
                    }
                    None => {}
                }
            }
            frame::SETTINGS => self.settings(head, payload),
            frame::PUSH_PROMISE => self.protocol_error(frame::PROTOCOL_ERROR),
            frame::PING => {
                let Ok(data) = <&[u8; 8]>::try_from(payload) else {
                    return self.protocol_error(frame::FRAME_SIZE_ERROR);
                };
                if !on_zero {
                    return self.protocol_error(frame::PROTOCOL_ERROR);
                }
                if head.flags & frame::ACK == 0 {
                    frame::ping_ack(&mut self.control, data);
                }
            }
            frame::GOAWAY => {
                if payload.len() < 8 {
                    return self.protocol_error(frame::FRAME_SIZE_ERROR);
                }
                if !on_zero {
                    return self.protocol_error(frame::PROTOCOL_ERROR);
                }
                let last = u32_at(payload, 0) & 0x7fff_ffff;
                let code = u32_at(payload, 4);
                let last = self.goaway.map_or(last, |(l, _)| l.min(last));
                self.goaway = Some((last, code));
                // Streams above the last one were not processed: refused.
                while let Some(i) = self.streams.iter().position(|s| s.id > last) {
                    self.finish(i, Err(ErrorKind::Goaway));
                }
            }
            frame::WINDOW_UPDATE => {
                if payload.len() != 4 {
                    return self.protocol_error(frame::FRAME_SIZE_ERROR);
                }
                let increment = i64::from(u32_at(payload, 0) & 0x7fff_ffff);
                if on_zero {
                    if increment == 0 {
                        return self.protocol_error(frame::PROTOCOL_ERROR);
                    }
                    self.send_window += increment;
                    if self.send_window > frame::MAX_WINDOW {
                        self.protocol_error(frame::FLOW_CONTROL_ERROR);
                    }
                } else if let Some(i) = self.index(head.stream) {
                    let s = &mut self.streams[i];
                    s.send_window += increment;
                    if increment == 0 {
                        self.stream_error(i, frame::PROTOCOL_ERROR);
                    } else if s.send_window > frame::MAX_WINDOW {
                        self.stream_error(i, frame::FLOW_CONTROL_ERROR);
                    }
                }
            }
            // PRIORITY is advice the client has no use for.
            frame::PRIORITY => {}
            // Unknown frame types must be ignored (RFC 9113 §4.1, §5.5).
            _ => {}
        }
    }

    /// The server's SETTINGS: applied, then acknowledged.
    fn settings(&mut self, head: Head, payload: &[u8]) {
        if head.stream != 0 {
            return self.protocol_error(frame::PROTOCOL_ERROR);
        }
        if head.flags & frame::ACK != 0 {
            if !payload.is_empty() {
                self.protocol_error(frame::FRAME_SIZE_ERROR);
            }
            return;
        }
        if !payload.len().is_multiple_of(6) {
            return self.protocol_error(frame::FRAME_SIZE_ERROR);
        }
        for pair in payload.chunks_exact(6) {
            let id = u16::from_be_bytes([pair[0], pair[1]]);
            let value = u32_at(pair, 2);
            match id {
                // The size of the server's decoder table: myriad's blocks
                // never use the dynamic table, so any size suits them.
                frame::SETTINGS_HEADER_TABLE_SIZE => {}
                frame::SETTINGS_ENABLE_PUSH if value != 0 => {
                    return self.protocol_error(frame::PROTOCOL_ERROR);
                }
                frame::SETTINGS_MAX_CONCURRENT_STREAMS => self.peer_max_streams = value,
                frame::SETTINGS_INITIAL_WINDOW_SIZE => {
                    let value = i64::from(value);
                    if value > frame::MAX_WINDOW {
                        return self.protocol_error(frame::FLOW_CONTROL_ERROR);
                    }
                    let delta = value - self.peer_window;
                    self.peer_window = value;
                    for s in &mut self.streams {
                        s.send_window += delta;
                        if s.send_window > frame::MAX_WINDOW {
                            return self.protocol_error(frame::FLOW_CONTROL_ERROR);
                        }
                    }
                }
                frame::SETTINGS_MAX_FRAME_SIZE => {
                    if !(frame::DEFAULT_MAX_FRAME..=(1 << 24) - 1).contains(&value) {
                        return self.protocol_error(frame::PROTOCOL_ERROR);
                    }
                    self.peer_max_frame = value as usize;
                }
                _ => {}
            }
        }
        self.settings_seen = true;
        frame::settings_ack(&mut self.control);
    }

    /// A complete header block on `stream`: decoded (always, to keep the
    /// HPACK table in step), then the stream's head or trailers.
    fn head_block(&mut self, stream: u32, block: &[u8], end_stream: bool, bytes: u64) {
        let status = match self.hpack.decode(block) {
            Ok(status) => status,
            Err(_) => return self.protocol_error(frame::COMPRESSION_ERROR),
        };
        let Some(i) = self.index(stream) else {
            if stream >= self.next_id || stream.is_multiple_of(2) {
                // An idle stream, or one the server opened (no push).
                self.protocol_error(frame::PROTOCOL_ERROR);
            }
            return;
        };
        let s = &mut self.streams[i];
        s.io.received += bytes;
        match (s.status, status) {
            // Trailers end the stream.
            (Some(final_status), _) if end_stream => self.finish(i, Ok(final_status)),
            (Some(_), _) => self.stream_error(i, frame::PROTOCOL_ERROR),
            (None, None) => self.stream_error(i, frame::PROTOCOL_ERROR),
            // 101 has no place in HTTP/2 (RFC 9113 §8.6).
            (None, Some(101)) => self.stream_error(i, frame::PROTOCOL_ERROR),
            (None, Some(100..=199)) if end_stream => self.stream_error(i, frame::PROTOCOL_ERROR),
            // An informational head: the final one is still to come.
            (None, Some(100..=199)) => {}
            (None, Some(status)) => {
                s.status = Some(status);
                if end_stream {
                    self.finish(i, Ok(status));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
