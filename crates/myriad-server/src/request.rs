//! The request side of a connection as a pure state machine: bytes in, replies out.
//!
//! [`RequestParser::feed`] walks everything buffered, parses each complete
//! request head (httparse, at most [`MAX_HEADERS`] headers), skips its body
//! (`Content-Length` or chunked, never stored, at most `max_body` bytes) and
//! queues one [`Reply`] per request, in order. A malformed head is answered
//! `400`, one too long or with too many headers `431`, a body too long `413`;
//! each of those closes the connection. It does no I/O, so pipelining, split reads and framing
//! errors are tested on byte strings; the connection task owns the socket.

use std::mem::MaybeUninit;

use myriad::proto::ChunkedDecoder;

use crate::access_log::LogLines;
use crate::response::{ConnMode, Reply};

/// Most headers a request may have; more is answered `431`.
pub(crate) const MAX_HEADERS: usize = 64;
/// Largest request head accepted; a longer one is answered `431`.
pub(crate) const MAX_HEAD: usize = 64 * 1024;

/// Where the parser stands between two `feed` calls.
#[derive(Debug)]
enum State {
    /// Waiting for (the rest of) a request head.
    Head,
    /// Skipping a `Content-Length` body; `reply` goes out once it ends.
    Length { left: u64, reply: Reply },
    /// Skipping a chunked body; `reply` goes out once it ends.
    Chunked {
        decoder: ChunkedDecoder,
        reply: Reply,
    },
}

/// What one `feed` call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Progress {
    /// Bytes of the input that are done with; the rest must be fed again, with
    /// more appended.
    pub consumed: usize,
    /// Request heads completed.
    pub heads: usize,
    /// The last reply closes the connection: stop reading.
    pub close: bool,
}

/// Parses a stream of pipelined requests.
#[derive(Debug)]
pub(crate) struct RequestParser {
    state: State,
    /// With an access log: the lines of the requests parsed (boxed, so a
    /// server without one keeps its connections a pointer larger only).
    log: Option<Box<LogLines>>,
    /// Longest body accepted; a longer one is answered `413`.
    max_body: u64,
}

/// How a request's body is framed.
enum Framing {
    None,
    Length(u64),
    Chunked,
}

/// The parts of a request head that decide the reply and the body framing.
struct Head {
    len: usize,
    reply: Reply,
    framing: Framing,
    expect_continue: bool,
}

/// Why a request head is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refused {
    /// Not HTTP/1.x, or framed ambiguously: `400 Bad Request`.
    Malformed,
    /// Longer than [`MAX_HEAD`] or more than [`MAX_HEADERS`] headers: `431`.
    TooLarge,
}

impl Refused {
    fn reply(self) -> Reply {
        match self {
            Refused::Malformed => Reply::BadRequest,
            Refused::TooLarge => Reply::HeadTooLarge,
        }
    }
}

use Refused::Malformed;

impl RequestParser {
    /// A parser at the start of a connection, refusing bodies longer than
    /// `max_body` bytes.
    pub(crate) fn new(max_body: u64) -> Self {
        RequestParser {
            state: State::Head,
            log: None,
            max_body,
        }
    }

    /// A parser that writes an access-log line per request, with `status`
    /// for the configured answer.
    pub(crate) fn logging(status: u16, max_body: u64) -> Self {
        RequestParser {
            state: State::Head,
            log: Some(Box::new(LogLines {
                status,
                ..LogLines::default()
            })),
            max_body,
        }
    }

    /// The access-log lines of the requests parsed so far, if logging.
    pub(crate) fn log_lines(&mut self) -> Option<&mut LogLines> {
        self.log.as_deref_mut()
    }

    /// Whether the parser waits for a request head (rather than inside a body).
    /// Unconsumed bytes in this state are a partial head, which the header
    /// timeout applies to.
    pub(crate) fn awaiting_head(&self) -> bool {
        matches!(self.state, State::Head)
    }

    /// Parses all complete requests in `buf`, appending their replies. After a
    /// reply that closes the connection, nothing more is parsed.
    pub(crate) fn feed(&mut self, buf: &[u8], replies: &mut Vec<Reply>) -> Progress {
        let mut progress = Progress {
            consumed: 0,
            heads: 0,
            close: false,
        };
        loop {
            let rest = &buf[progress.consumed..];
            let done = match &mut self.state {
                State::Head => {
                    if rest.is_empty() {
                        return progress;
                    }
                    let head = match parse_head(rest, self.log.as_deref_mut()) {
                        Ok(Some(head)) => head,
                        Ok(None) => return progress,
                        Err(refused) => {
                            if let Some(log) = &mut self.log {
                                log.bad();
                            }
                            replies.push(refused.reply());
                            progress.close = true;
                            return progress;
                        }
                    };
                    progress.consumed += head.len;
                    progress.heads += 1;
                    if matches!(head.framing, Framing::Length(n) if n > self.max_body) {
                        // Refused before a byte of it is read (and before any
                        // `100 Continue`, so a waiting client need not send it).
                        replies.push(Reply::BodyTooLarge);
                        progress.close = true;
                        return progress;
                    }
                    if head.expect_continue {
                        replies.push(Reply::Continue);
                    }
                    match head.framing {
                        Framing::None => Some(head.reply),
                        Framing::Length(left) => {
                            let reply = head.reply;
                            self.state = State::Length { left, reply };
                            None
                        }
                        Framing::Chunked => {
                            let decoder = ChunkedDecoder::new();
                            let reply = head.reply;
                            self.state = State::Chunked { decoder, reply };
                            None
                        }
                    }
                }
                State::Length { left, reply } => {
                    let take = (*left).min(rest.len() as u64);
                    progress.consumed += take as usize;
                    *left -= take;
                    if *left > 0 {
                        return progress;
                    }
                    Some(*reply)
                }
                State::Chunked { decoder, reply } => match decoder.decode(rest) {
                    Ok(_) if decoder.payload_len() > self.max_body => {
                        replies.push(Reply::BodyTooLarge);
                        progress.close = true;
                        return progress;
                    }
                    Ok(used) => {
                        progress.consumed += used;
                        if !decoder.is_done() {
                            return progress;
                        }
                        Some(*reply)
                    }
                    Err(_) => {
                        if let Some(log) = &mut self.log {
                            log.bad();
                        }
                        replies.push(Reply::BadRequest);
                        progress.close = true;
                        return progress;
                    }
                },
            };
            if let Some(reply) = done {
                self.state = State::Head;
                if let Some(log) = &mut self.log {
                    log.end(log.status);
                }
                replies.push(reply);
                if reply.closes() {
                    progress.close = true;
                    return progress;
                }
            }
        }
    }
}

/// Parses one request head at the start of `buf`: `Ok(None)` if it is not
/// complete yet.
fn parse_head(buf: &[u8], log: Option<&mut LogLines>) -> Result<Option<Head>, Refused> {
    // Uninitialised headers: zeroing 64 of them per request would cost more
    // than parsing a typical head.
    let mut headers = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    let len = match req.parse_with_uninit_headers(buf, &mut headers) {
        Ok(httparse::Status::Complete(len)) if len <= MAX_HEAD => len,
        Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => return Ok(None),
        Ok(_) | Err(httparse::Error::TooManyHeaders) => return Err(Refused::TooLarge),
        Err(_) => return Err(Malformed),
    };
    let http10 = req.version == Some(0);
    let mut close = false;
    let mut keep_alive = false;
    let mut length: Option<u64> = None;
    // Some(whether the last transfer coding is `chunked`), if any was given.
    let mut chunked: Option<bool> = None;
    let mut expect_continue = false;
    for header in req.headers.iter() {
        let name = header.name;
        if name.eq_ignore_ascii_case("content-length") {
            // `5, 5` is allowed (merged duplicates); differing values are not.
            for part in header.value.split(|&b| b == b',') {
                let value = parse_length(trim(part)).ok_or(Malformed)?;
                if length.is_some_and(|l| l != value) {
                    return Err(Malformed);
                }
                length = Some(value);
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            for coding in tokens(header.value) {
                chunked = Some(coding.eq_ignore_ascii_case(b"chunked"));
            }
        } else if name.eq_ignore_ascii_case("connection") {
            for token in tokens(header.value) {
                close |= token.eq_ignore_ascii_case(b"close");
                keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if name.eq_ignore_ascii_case("expect") {
            expect_continue = trim(header.value).eq_ignore_ascii_case(b"100-continue");
        }
    }
    if let Some(log) = log {
        let body = match chunked {
            Some(_) => None,
            None => Some(length.unwrap_or(0)),
        };
        log.head(req.method.unwrap_or("-"), req.path.unwrap_or("-"), body);
    }
    let framing = match (chunked, length) {
        (None, None | Some(0)) => Framing::None,
        (None, Some(n)) => Framing::Length(n),
        (Some(true), None) => Framing::Chunked,
        // A body framed two ways is how request smuggling starts, and a body
        // whose last coding is not chunked has no length: refuse both.
        (Some(true), Some(_)) | (Some(false), _) => return Err(Malformed),
    };
    let conn = if close {
        ConnMode::Close
    } else if !http10 {
        ConnMode::Default
    } else if keep_alive {
        ConnMode::KeepAlive
    } else {
        ConnMode::Close
    };
    Ok(Some(Head {
        len,
        reply: Reply::Answer {
            head: req.method == Some("HEAD"),
            conn,
        },
        expect_continue: expect_continue && !http10 && !matches!(framing, Framing::None),
        framing,
    }))
}

/// A `Content-Length` value: ASCII digits only, no overflow.
fn parse_length(value: &[u8]) -> Option<u64> {
    if value.is_empty() {
        return None;
    }
    value.iter().try_fold(0u64, |n, &b| {
        if !b.is_ascii_digit() {
            return None;
        }
        n.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })
}

/// The non-empty comma-separated tokens of a header value, trimmed.
fn tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim)
        .filter(|t| !t.is_empty())
}

fn trim(bytes: &[u8]) -> &[u8] {
    let is_space = |b: &u8| *b == b' ' || *b == b'\t';
    let start = bytes
        .iter()
        .position(|b| !is_space(b))
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !is_space(b))
        .map_or(start, |e| e + 1);
    &bytes[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    const OK: Reply = Reply::Answer {
        head: false,
        conn: ConnMode::Default,
    };

    /// Feeds `input` in pieces of `step` bytes, as reads would deliver it, and
    /// returns all replies and whether the parser asked to close.
    fn feed_in_steps(input: &[u8], step: usize) -> (Vec<Reply>, bool) {
        let mut parser = RequestParser::new(u64::MAX);
        let mut replies = Vec::new();
        let (mut start, mut end) = (0, 0);
        while end < input.len() {
            end = (end + step).min(input.len());
            let p = parser.feed(&input[start..end], &mut replies);
            start += p.consumed;
            if p.close {
                return (replies, true);
            }
        }
        assert_eq!(start, end, "unconsumed input");
        (replies, false)
    }

    fn all_steps(input: &[u8]) -> (Vec<Reply>, bool) {
        let whole = feed_in_steps(input, input.len());
        for step in [1, 2, 3, 7, 64] {
            assert_eq!(feed_in_steps(input, step), whole, "step {step}");
        }
        whole
    }

    #[test]
    fn pipelined_requests_in_order() {
        let input = [GET, b"HEAD /a HTTP/1.1\r\n\r\n", GET].concat();
        let (replies, close) = all_steps(&input);
        let head = Reply::Answer {
            head: true,
            conn: ConnMode::Default,
        };
        assert_eq!(replies, [OK, head, OK]);
        assert!(!close);
    }

    #[test]
    fn skips_bodies() {
        let input = [
            b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello".as_slice(),
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
            GET,
        ]
        .concat();
        let (replies, close) = all_steps(&input);
        assert_eq!(replies, [OK; 4]);
        assert!(!close);
    }

    #[test]
    fn connection_close_and_http10() {
        let close = |head| Reply::Answer {
            head,
            conn: ConnMode::Close,
        };
        let cases: [(&[u8], Reply); 5] = [
            (b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", close(false)),
            (
                b"GET / HTTP/1.1\r\nConnection: Upgrade, CLOSE\r\n\r\n",
                close(false),
            ),
            (b"HEAD / HTTP/1.0\r\n\r\n", close(true)),
            (
                b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
                Reply::Answer {
                    head: false,
                    conn: ConnMode::KeepAlive,
                },
            ),
            (b"GET / HTTP/1.1\r\nConnection: keep-alive\r\n\r\n", OK),
        ];
        for (input, want) in cases {
            let mut replies = Vec::new();
            let p = RequestParser::new(u64::MAX).feed(input, &mut replies);
            assert_eq!(replies, [want], "{}", String::from_utf8_lossy(input));
            assert_eq!(p.close, want.closes());
        }
    }

    #[test]
    fn stops_after_close() {
        let input = [
            b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n".as_slice(),
            GET,
        ]
        .concat();
        let mut replies = Vec::new();
        let p = RequestParser::new(u64::MAX).feed(&input, &mut replies);
        assert_eq!(replies.len(), 1);
        assert!(p.close);
    }

    #[test]
    fn malformed_requests() {
        let bad: [&[u8]; 8] = [
            b"GET / HTTP/1.1\r\nBad Header\r\n\r\n",
            b"\x01\x02\x03\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 5x\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        ];
        for input in bad {
            let (replies, close) = feed_in_steps(input, input.len());
            assert_eq!(replies.last(), Some(&Reply::BadRequest), "{input:?}");
            assert!(close);
        }
        let ok = b"POST / HTTP/1.1\r\nContent-Length: 2, 2\r\n\r\nhi";
        assert_eq!(all_steps(ok), (vec![OK], false));
    }

    #[test]
    fn too_many_headers_or_too_long_head() {
        let mut many = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..=MAX_HEADERS {
            many.extend_from_slice(format!("X-{i}: y\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        assert_eq!(
            feed_in_steps(&many, many.len()),
            (vec![Reply::HeadTooLarge], true)
        );

        let mut long = b"GET / HTTP/1.1\r\nX-Long: ".to_vec();
        long.resize(MAX_HEAD, b'a');
        let mut replies = Vec::new();
        let p = RequestParser::new(u64::MAX).feed(&long[..MAX_HEAD - 1], &mut replies);
        assert!(replies.is_empty() && !p.close, "partial below the limit");
        let p = RequestParser::new(u64::MAX).feed(&long, &mut replies);
        assert_eq!(
            (replies.as_slice(), p.close),
            ([Reply::HeadTooLarge].as_slice(), true)
        );
    }

    /// Bodies up to `max_body` are skipped as before; a longer one is refused
    /// with `413` as soon as its length is known: at once for a
    /// `Content-Length` (no `100 Continue` first), as the bytes pass the limit
    /// for a chunked body.
    #[test]
    fn bodies_over_max_body_get_413() {
        let feed_all = |max_body: u64, input: &[u8], step: usize| {
            let mut parser = RequestParser::new(max_body);
            let mut replies = Vec::new();
            let (mut start, mut end) = (0, 0);
            while end < input.len() {
                end = (end + step).min(input.len());
                let p = parser.feed(&input[start..end], &mut replies);
                start += p.consumed;
                if p.close {
                    return (replies, true);
                }
            }
            (replies, false)
        };
        let at_limit = b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello";
        let chunked_at_limit =
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        for step in [1, 3, 1000] {
            assert_eq!(feed_all(5, at_limit, step), (vec![OK], false));
            assert_eq!(feed_all(5, chunked_at_limit, step), (vec![OK], false));
            assert_eq!(
                feed_all(4, at_limit, step),
                (vec![Reply::BodyTooLarge], true)
            );
            assert_eq!(
                feed_all(4, chunked_at_limit, step),
                (vec![Reply::BodyTooLarge], true)
            );
        }
        let expect = b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 6\r\n\r\n";
        assert_eq!(
            feed_all(5, expect, expect.len()),
            (vec![Reply::BodyTooLarge], true)
        );
        // A length no server would accept is refused the same way, unread.
        let huge = b"POST / HTTP/1.1\r\nContent-Length: 18446744073709551615\r\n\r\n";
        assert_eq!(
            feed_all(crate::config::DEFAULT_MAX_BODY, huge, huge.len()),
            (vec![Reply::BodyTooLarge], true)
        );
    }

    #[test]
    fn complete_head_over_64k_is_refused() {
        // 64 KiB, as the README says; pinned, since the rest moves with it.
        assert_eq!(MAX_HEAD, 65_536);
        let head = |len: usize| {
            let mut h = b"GET / HTTP/1.1\r\nX-Long: ".to_vec();
            h.resize(len - 4, b'a');
            h.extend_from_slice(b"\r\n\r\n");
            h
        };
        let mut replies = Vec::new();
        let p = RequestParser::new(crate::DEFAULT_MAX_BODY).feed(&head(MAX_HEAD), &mut replies);
        assert_eq!((replies.as_slice(), p.close), ([OK].as_slice(), false));
        // Complete in one buffer, one byte over the limit: still too long.
        let mut replies = Vec::new();
        let p = RequestParser::new(crate::DEFAULT_MAX_BODY).feed(&head(MAX_HEAD + 1), &mut replies);
        assert_eq!(
            (replies.as_slice(), p.close),
            ([Reply::HeadTooLarge].as_slice(), true)
        );
    }

    #[test]
    fn expect_continue() {
        let input = b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n";
        let mut parser = RequestParser::new(u64::MAX);
        let mut replies = Vec::new();
        let p = parser.feed(input, &mut replies);
        assert_eq!(replies, [Reply::Continue]);
        assert_eq!(p.consumed, input.len());
        assert!(!parser.awaiting_head());
        parser.feed(b"hi", &mut replies);
        assert_eq!(replies, [Reply::Continue, OK]);
        assert!(parser.awaiting_head());
    }

    #[test]
    fn partial_head_is_not_consumed() {
        let mut parser = RequestParser::new(u64::MAX);
        let mut replies = Vec::new();
        let input = [GET, b"GET / HT".as_slice()].concat();
        let p = parser.feed(&input, &mut replies);
        assert_eq!(
            p,
            Progress {
                consumed: GET.len(),
                heads: 1,
                close: false
            }
        );
        assert!(parser.awaiting_head());
    }

    #[test]
    fn length_parsing() {
        assert_eq!(parse_length(b"0"), Some(0));
        assert_eq!(parse_length(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_length(b"18446744073709551616"), None);
        assert_eq!(parse_length(b""), None);
        assert_eq!(parse_length(b"+1"), None);
        assert_eq!(trim(b" \t a b \t"), b"a b");
        assert_eq!(trim(b"   "), b"");
    }
}
