//! Incremental parser for one HTTP/1.1 response on a client connection.
//!
//! The parser is fed the unconsumed part of the read buffer and says how many
//! bytes it consumed. Body bytes are counted and skipped, never copied. Interim
//! `1xx` responses are skipped; the body is framed by `Content-Length`, chunked
//! encoding, or the connection closing, and is absent for `HEAD`, `204` and `304`.

use super::{ChunkedDecoder, ProtoError};

/// Headers beyond this count make the head malformed.
const MAX_HEADERS: usize = 64;

#[derive(Debug)]
enum Body {
    Length(u64),
    Chunked(ChunkedDecoder),
    UntilClose,
}

#[derive(Debug)]
enum State {
    Head,
    Body(Body),
    Done,
}

/// A complete response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Response {
    /// The final status code.
    pub status: u16,
    /// Whether the connection may carry another request.
    pub keep_alive: bool,
}

/// What one call to [`ResponseParser::parse`] achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// More bytes are needed.
    NeedMore,
    /// The response is complete.
    Done(Response),
}

/// Parses one response, incrementally.
#[derive(Debug)]
pub(crate) struct ResponseParser {
    state: State,
    head_request: bool,
    status: u16,
    keep_alive: bool,
    /// Body bytes of the final response so far (chunk payload if chunked).
    body_len: u64,
}

impl ResponseParser {
    /// A parser for the response to a request; `head_request` is true for `HEAD`,
    /// whose response has no body whatever its headers say.
    pub fn new(head_request: bool) -> Self {
        ResponseParser {
            state: State::Head,
            head_request,
            status: 0,
            keep_alive: true,
            body_len: 0,
        }
    }

    /// Consumes bytes of `buf` and returns how many, and whether the response is
    /// complete. `buf_full` tells that `buf` fills the whole read buffer, so a head
    /// still partial cannot grow and is an error.
    pub fn parse(&mut self, buf: &[u8], buf_full: bool) -> Result<(usize, Step), ProtoError> {
        let mut pos = 0;
        loop {
            let rest = &buf[pos..];
            match &mut self.state {
                State::Done => return Ok((pos, Step::Done(self.response()))),
                State::Head => {
                    if rest.is_empty() {
                        return Ok((pos, Step::NeedMore));
                    }
                    match self.parse_head(rest)? {
                        Some(used) => pos += used,
                        None if buf_full && pos == 0 => {
                            return Err(ProtoError::HeadTooLarge(buf.len()))
                        }
                        None => return Ok((pos, Step::NeedMore)),
                    }
                }
                State::Body(Body::Length(left)) => {
                    let take = (*left).min(rest.len() as u64);
                    pos += take as usize;
                    *left -= take;
                    self.body_len += take;
                    if *left == 0 {
                        self.state = State::Done;
                    } else {
                        return Ok((pos, Step::NeedMore));
                    }
                }
                State::Body(Body::Chunked(dec)) => {
                    pos += dec.decode(rest)?;
                    self.body_len = dec.payload_len();
                    if dec.is_done() {
                        self.state = State::Done;
                    } else {
                        return Ok((pos, Step::NeedMore));
                    }
                }
                State::Body(Body::UntilClose) => {
                    self.body_len += rest.len() as u64;
                    return Ok((buf.len(), Step::NeedMore));
                }
            }
        }
    }

    /// The peer closed the connection. Returns the response if closing completes
    /// it (a close-delimited body), `None` if the response was cut short.
    pub fn eof(&self) -> Option<Response> {
        match self.state {
            State::Body(Body::UntilClose) | State::Done => Some(self.response()),
            _ => None,
        }
    }

    /// Body bytes of the final response read so far: its payload, without
    /// chunk framing.
    pub fn body_len(&self) -> u64 {
        self.body_len
    }

    fn response(&self) -> Response {
        Response {
            status: self.status,
            keep_alive: self.keep_alive && !matches!(self.state, State::Body(Body::UntilClose)),
        }
    }

    /// Parses a head at the start of `buf`. Returns the bytes used, or `None` if
    /// the head is incomplete. Interim responses are consumed and leave the state
    /// at `Head`.
    fn parse_head(&mut self, buf: &[u8]) -> Result<Option<usize>, ProtoError> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut res = httparse::Response::new(&mut headers);
        let used = match res.parse(buf).map_err(ProtoError::Head)? {
            httparse::Status::Complete(used) => used,
            httparse::Status::Partial => return Ok(None),
        };
        let status = res.code.unwrap_or(0);
        if status == 101 {
            return Err(ProtoError::UnexpectedUpgrade);
        }
        if (100..200).contains(&status) {
            return Ok(Some(used)); // interim response: the final one follows
        }
        self.status = status;
        // HTTP/1.0 closes unless asked to keep alive; HTTP/1.1 keeps alive unless
        // told to close; `close` wins over `keep-alive` in any order (RFC 9112 §9.6).
        let mut keep_alive = res.version == Some(1);
        let mut close = false;
        let mut length: Option<u64> = None;
        let mut chunked = false;
        for h in res.headers.iter() {
            if h.name.eq_ignore_ascii_case("content-length") {
                let n = std::str::from_utf8(h.value)
                    .ok()
                    .and_then(|s| s.trim().parse::<u64>().ok())
                    .ok_or(ProtoError::ContentLength)?;
                if length.is_some_and(|m| m != n) {
                    return Err(ProtoError::ContentLength);
                }
                length = Some(n);
            } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = h
                    .value
                    .rsplit(|&b| b == b',')
                    .next()
                    .is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
            } else if h.name.eq_ignore_ascii_case("connection") {
                for token in h.value.split(|&b| b == b',') {
                    let token = token.trim_ascii();
                    if token.eq_ignore_ascii_case(b"close") {
                        close = true;
                    } else if token.eq_ignore_ascii_case(b"keep-alive") {
                        keep_alive = true;
                    }
                }
            }
        }
        self.keep_alive = keep_alive && !close;
        self.state = if self.head_request || status == 204 || status == 304 {
            State::Done
        } else if chunked {
            State::Body(Body::Chunked(ChunkedDecoder::new()))
        } else if let Some(n) = length {
            if n == 0 {
                State::Done
            } else {
                State::Body(Body::Length(n))
            }
        } else {
            State::Body(Body::UntilClose)
        };
        Ok(Some(used))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` in pieces of `step` bytes, keeping unconsumed bytes as a read
    /// buffer would, and returns the response and the bytes left over.
    fn run(input: &[u8], step: usize, head: bool) -> Result<(Option<Response>, usize), ProtoError> {
        feed(input, step, head).map(|(r, left, _)| (r, left))
    }

    /// [`run`], and the body bytes the parser counted.
    fn feed(
        input: &[u8],
        step: usize,
        head: bool,
    ) -> Result<(Option<Response>, usize, u64), ProtoError> {
        let mut p = ResponseParser::new(head);
        let mut buf: Vec<u8> = Vec::new();
        let mut fed = 0;
        loop {
            if fed < input.len() {
                let end = (fed + step).min(input.len());
                buf.extend_from_slice(&input[fed..end]);
                fed = end;
            }
            let (used, step_result) = p.parse(&buf, false)?;
            buf.drain(..used);
            if let Step::Done(r) = step_result {
                return Ok((Some(r), buf.len() + input.len() - fed, p.body_len()));
            }
            if fed == input.len() {
                return Ok((p.eof(), buf.len(), p.body_len()));
            }
        }
    }

    #[test]
    fn body_len_is_the_payload_however_it_arrives() {
        let cases: [(&[u8], u64); 4] = [
            (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloNEXT", 5),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n",
                5,
            ),
            (b"HTTP/1.1 200 OK\r\n\r\nbody until close", 16),
            (b"HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n", 0),
        ];
        for (input, want) in cases {
            for step in [1, 3, 1000] {
                let (res, _, body) = feed(input, step, false).unwrap();
                assert!(res.is_some(), "step {step}");
                assert_eq!(
                    body,
                    want,
                    "step {step}: {}",
                    String::from_utf8_lossy(input)
                );
            }
        }
    }

    const OK: Response = Response {
        status: 200,
        keep_alive: true,
    };

    #[test]
    fn content_length_any_split() {
        let input = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP";
        for step in [1, 4, 100] {
            assert_eq!(
                run(input, step, false).unwrap(),
                (Some(OK), 4),
                "step {step}"
            );
        }
    }

    #[test]
    fn chunked_body() {
        let input = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
        for step in [1, 5, 1000] {
            assert_eq!(run(input, step, false).unwrap(), (Some(OK), 0));
        }
    }

    #[test]
    fn close_delimited_completes_at_eof() {
        let input = b"HTTP/1.1 200 OK\r\n\r\nbody until close";
        let (res, _) = run(input, 3, false).unwrap();
        assert_eq!(
            res,
            Some(Response {
                status: 200,
                keep_alive: false
            })
        );
    }

    #[test]
    fn truncated_length_body_is_not_complete() {
        let input = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello";
        assert_eq!(run(input, 100, false).unwrap().0, None);
    }

    #[test]
    fn interim_responses_are_skipped() {
        let input = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: x\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n";
        for step in [1, 1000] {
            let (res, left) = run(input, step, false).unwrap();
            assert_eq!(res.unwrap().status, 201);
            assert_eq!(left, 0);
        }
    }

    #[test]
    fn head_and_204_have_no_body() {
        let input = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n";
        assert_eq!(run(input, 7, true).unwrap(), (Some(OK), 0));
        let input = b"HTTP/1.1 204 No Content\r\n\r\n";
        assert_eq!(run(input, 7, false).unwrap().0.unwrap().status, 204);
    }

    #[test]
    fn content_lengths_must_agree() {
        let same = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\ncontent-length: 2\r\n\r\nhi";
        assert_eq!(run(same, 100, false).unwrap(), (Some(OK), 0));
        let differ = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nhi!";
        assert_eq!(run(differ, 100, false), Err(ProtoError::ContentLength));
    }

    #[test]
    fn no_body_for_204_and_304_whatever_the_headers_say() {
        for status in [204, 304] {
            let input = format!("HTTP/1.1 {status} X\r\nContent-Length: 5\r\n\r\nHTTP/");
            let (res, left) = run(input.as_bytes(), 3, false).unwrap();
            assert_eq!(res.unwrap().status, status);
            assert_eq!(left, 5, "the next response's bytes stay unread");
        }
        // Other statuses read the body the headers announce.
        let input = b"HTTP/1.1 203 X\r\nContent-Length: 5\r\n\r\nHTTP/";
        assert_eq!(run(input, 3, false).unwrap().1, 0);
    }

    #[test]
    fn connection_close_and_http10() {
        let input = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
        assert!(!run(input, 100, false).unwrap().0.unwrap().keep_alive);
        let input = b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n";
        assert!(!run(input, 100, false).unwrap().0.unwrap().keep_alive);
        let input = b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n";
        assert!(run(input, 100, false).unwrap().0.unwrap().keep_alive);
    }

    /// Found by the differential check against Python's http.client
    /// (`tests/differential.rs`): a `keep-alive` token after `close` made the
    /// connection reusable.
    #[test]
    fn connection_close_beside_keep_alive_closes() {
        for value in [
            "close, keep-alive",
            "keep-alive, close",
            "Keep-Alive, upgrade, CLOSE",
        ] {
            for version in ["1.0", "1.1"] {
                let input = format!(
                    "HTTP/{version} 200 OK\r\nConnection: {value}\r\nContent-Length: 0\r\n\r\n"
                );
                let (res, _) = run(input.as_bytes(), 100, false).unwrap();
                assert!(
                    !res.unwrap().keep_alive,
                    "HTTP/{version}, Connection: {value}"
                );
            }
        }
        let input = b"HTTP/1.1 200 OK\r\nConnection: close\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n";
        assert!(!run(input, 100, false).unwrap().0.unwrap().keep_alive);
    }

    #[test]
    fn garbage_and_bad_lengths_are_errors() {
        assert!(matches!(
            run(b"garbage\r\n\r\n", 100, false),
            Err(ProtoError::Head(_))
        ));
        let bad = b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n";
        assert_eq!(run(bad, 100, false), Err(ProtoError::ContentLength));
        let up = b"HTTP/1.1 101 Switching Protocols\r\n\r\n";
        assert_eq!(run(up, 100, false), Err(ProtoError::UnexpectedUpgrade));
    }

    #[test]
    fn full_buffer_with_partial_head_is_too_large() {
        let mut p = ResponseParser::new(false);
        assert_eq!(
            p.parse(b"HTTP/1.1 200 OK\r\nX: y", true),
            Err(ProtoError::HeadTooLarge(21))
        );
    }
}
