//! Response bytes, built once when the server starts.
//!
//! Every answer is one of a handful of byte strings, so the hot path only copies
//! (or directly writes) a prebuilt slice: no formatting per request. A `HEAD`
//! answer is a prefix of the matching full answer.

use crate::config::ServerConfig;

/// What the connection header of an answer says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConnMode {
    /// No `Connection` header: HTTP/1.1 keep-alive is implied.
    Default,
    /// `Connection: close`; the server closes after writing it.
    Close,
    /// `Connection: keep-alive`, for HTTP/1.0 clients that asked for it (they
    /// assume a close unless told otherwise).
    KeepAlive,
}

/// One thing to write back, in request order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reply {
    /// `100 Continue`, for a request that sent `Expect: 100-continue` and waits
    /// for it before sending its body.
    Continue,
    /// The configured answer.
    Answer {
        /// A `HEAD` request: headers only.
        head: bool,
        /// What the connection header says.
        conn: ConnMode,
    },
    /// `400 Bad Request`; the connection closes after it.
    BadRequest,
    /// `431 Request Header Fields Too Large`: a head longer than 64 KiB or
    /// with more than 64 headers. The connection closes after it.
    HeadTooLarge,
    /// `413 Content Too Large`: a body longer than the configured
    /// `max_body`. The connection closes after it.
    BodyTooLarge,
}

impl Reply {
    /// Whether the connection closes once this reply is written.
    pub(crate) fn closes(self) -> bool {
        matches!(
            self,
            Reply::BadRequest
                | Reply::HeadTooLarge
                | Reply::BodyTooLarge
                | Reply::Answer {
                    conn: ConnMode::Close,
                    ..
                }
        )
    }
}

const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";
const BAD_REQUEST: &[u8] =
    b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
const HEAD_TOO_LARGE: &[u8] = b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
const BODY_TOO_LARGE: &[u8] =
    b"HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

/// The prebuilt answers, indexed by [`ConnMode`].
#[derive(Debug)]
pub(crate) struct Responses {
    full: [Vec<u8>; 3],
    head_len: [usize; 3],
    status: u16,
}

impl Responses {
    pub(crate) fn new(config: &ServerConfig) -> Self {
        let status = config.status;
        // 204 and 304 are framed as bodiless by clients whatever the headers say;
        // a body would be read as the start of the next response.
        let bodiless = matches!(status, 204 | 304);
        let body: Vec<u8> = if bodiless {
            Vec::new()
        } else {
            b"ok"
                .iter()
                .copied()
                .cycle()
                .take(config.body_size)
                .collect()
        };
        let build = |conn: &str| {
            let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
            if !bodiless {
                head.push_str(&format!("Content-Length: {}\r\n", body.len()));
            }
            head.push_str(conn);
            head.push_str("\r\n");
            let head_len = head.len();
            let mut full = head.into_bytes();
            full.extend_from_slice(&body);
            (full, head_len)
        };
        let (default, default_len) = build("");
        let (close, close_len) = build("Connection: close\r\n");
        let (keep_alive, keep_alive_len) = build("Connection: keep-alive\r\n");
        Responses {
            full: [default, close, keep_alive],
            head_len: [default_len, close_len, keep_alive_len],
            status,
        }
    }

    /// The status code of the configured answer.
    pub(crate) fn status(&self) -> u16 {
        self.status
    }

    /// The bytes of one reply.
    pub(crate) fn bytes(&self, reply: Reply) -> &[u8] {
        match reply {
            Reply::Continue => CONTINUE,
            Reply::BadRequest => BAD_REQUEST,
            Reply::HeadTooLarge => HEAD_TOO_LARGE,
            Reply::BodyTooLarge => BODY_TOO_LARGE,
            Reply::Answer { head, conn } => {
                let i = conn as usize;
                let full = &self.full[i];
                if head {
                    &full[..self.head_len[i]]
                } else {
                    full
                }
            }
        }
    }
}

/// Reason phrase of the common statuses; clients ignore it, people read it.
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(head: bool, conn: ConnMode) -> Reply {
        Reply::Answer { head, conn }
    }

    #[test]
    fn prebuilt_bytes() {
        let r = Responses::new(&ServerConfig::default());
        assert_eq!(
            r.bytes(answer(false, ConnMode::Default)),
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        );
        assert_eq!(
            r.bytes(answer(true, ConnMode::Close)),
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n"
        );
        assert_eq!(
            r.bytes(answer(false, ConnMode::KeepAlive)),
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok"
        );
        assert!(r.bytes(Reply::BadRequest).starts_with(b"HTTP/1.1 400"));
        assert!(r.bytes(Reply::HeadTooLarge).starts_with(b"HTTP/1.1 431"));
        assert!(r.bytes(Reply::BodyTooLarge).starts_with(b"HTTP/1.1 413"));
    }

    #[test]
    fn status_and_size() {
        let config = ServerConfig {
            status: 503,
            body_size: 5,
            ..ServerConfig::default()
        };
        let r = Responses::new(&config);
        assert_eq!(
            r.bytes(answer(false, ConnMode::Default)),
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 5\r\n\r\nokoko"
        );
        let config = ServerConfig {
            status: 299,
            body_size: 0,
            ..ServerConfig::default()
        };
        let r = Responses::new(&config);
        assert_eq!(
            r.bytes(answer(false, ConnMode::Default)),
            b"HTTP/1.1 299 Status\r\nContent-Length: 0\r\n\r\n"
        );
    }

    #[test]
    fn no_content_has_no_body() {
        let config = ServerConfig {
            status: 204,
            body_size: 100,
            ..ServerConfig::default()
        };
        let r = Responses::new(&config);
        assert_eq!(
            r.bytes(answer(false, ConnMode::Default)),
            b"HTTP/1.1 204 No Content\r\n\r\n"
        );
    }

    #[test]
    fn closing_replies() {
        assert!(Reply::BadRequest.closes());
        assert!(Reply::HeadTooLarge.closes());
        assert!(Reply::BodyTooLarge.closes());
        assert!(answer(true, ConnMode::Close).closes());
        assert!(!answer(false, ConnMode::KeepAlive).closes());
        assert!(!Reply::Continue.closes());
    }
}
