//! The access log (`myriad serve --access-log FILE`): one line per request,
//! `METHOD PATH BODY_BYTES STATUS`, like nginx's
//! `$request_method $request_uri $content_length $status` (but the body
//! length is the bytes received: `0` without a body, `-` for a chunked one).
//!
//! Kept off the hot path: the request parser writes each line into its
//! connection's own small buffer (no lock, no syscall); after a read, the
//! complete lines are appended under an uncontended lock to one buffer per
//! server (HTTP/2 appends each stream's line as it is answered), written out in large chunks that end at a line (a file opened
//! for appending, so server processes sharing it do not cut each other's
//! lines), every second and at shutdown.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Buffered bytes written out at once.
const CHUNK: usize = 64 * 1024;

/// An open access log, shared by a server's threads.
#[derive(Clone)]
pub struct AccessLog {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    out: Mutex<(File, Vec<u8>)>,
}

impl AccessLog {
    /// Opens `path` for appending (created if missing).
    pub fn open(path: &Path) -> io::Result<AccessLog> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(AccessLog {
            inner: Arc::new(Inner {
                path: path.to_path_buf(),
                out: Mutex::new((file, Vec::with_capacity(CHUNK * 2))),
            }),
        })
    }

    /// Appends complete lines; writes them out once a chunk has gathered.
    pub(crate) fn append(&self, lines: &[u8]) {
        let Ok(mut out) = self.inner.out.lock() else {
            return;
        };
        let (file, buf) = &mut *out;
        buf.extend_from_slice(lines);
        if buf.len() >= CHUNK {
            // A failed write (a full disk) loses log lines, never requests.
            let _ = file.write_all(buf);
            buf.clear();
        }
    }

    /// Writes out every line gathered so far.
    pub fn flush(&self) {
        if let Ok(mut out) = self.inner.out.lock() {
            let (file, buf) = &mut *out;
            if !buf.is_empty() {
                let _ = file.write_all(buf);
                buf.clear();
            }
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Ok(out) = self.out.get_mut() {
            let (file, buf) = out;
            let _ = file.write_all(buf);
        }
    }
}

impl std::fmt::Debug for AccessLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AccessLog({})", self.inner.path.display())
    }
}

impl PartialEq for AccessLog {
    fn eq(&self, other: &AccessLog) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl Eq for AccessLog {}

/// The line being written for the request a connection's parser is in, and
/// the complete lines not yet handed to the log.
#[derive(Debug, Default)]
pub(crate) struct LogLines {
    pub buf: Vec<u8>,
    /// The status of the configured answer.
    pub status: u16,
    /// The current request's body length (`None`: chunked).
    pub body: Option<u64>,
}

impl LogLines {
    /// Starts the line of a request whose head just parsed.
    pub fn head(&mut self, method: &str, path: &str, body: Option<u64>) {
        self.buf.extend_from_slice(method.as_bytes());
        self.buf.push(b' ');
        self.buf.extend_from_slice(path.as_bytes());
        self.body = body;
    }

    /// Ends the current line with the body length and `status`.
    pub fn end(&mut self, status: u16) {
        let _ = match self.body {
            Some(n) => writeln!(self.buf, " {n} {status}"),
            None => writeln!(self.buf, " - {status}"),
        };
    }

    /// A request that did not parse: `- - - 400`, after whatever was started.
    pub fn bad(&mut self) {
        if self.buf.last().is_some_and(|&b| b != b'\n') {
            self.buf.extend_from_slice(b" - 400\n");
        } else {
            self.buf.extend_from_slice(b"- - - 400\n");
        }
    }

    /// Hands the complete lines to `log`, keeping a line still in progress.
    pub fn drain_to(&mut self, log: &AccessLog) {
        let Some(end) = self.buf.iter().rposition(|&b| b == b'\n') else {
            return;
        };
        log.append(&self.buf[..=end]);
        self.buf.drain(..=end);
        if self.buf.capacity() > 4096 {
            self.buf.shrink_to(256);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::request::RequestParser;

    #[test]
    fn a_line_per_request_with_its_body_length_and_status() {
        let mut parser = RequestParser::logging(200, crate::DEFAULT_MAX_BODY);
        let mut replies = Vec::new();
        let input = b"GET /a?x=1 HTTP/1.1\r\nHost: h\r\n\r\nPOST /b HTTP/1.1\r\nContent-Length: 5\r\n\r\nhel";
        let p = parser.feed(input, &mut replies);
        assert_eq!(p.consumed, input.len());
        let lines = parser.log_lines().unwrap();
        assert_eq!(lines.buf, b"GET /a?x=1 0 200\nPOST /b");
        parser.feed(b"lo", &mut replies);
        let lines = parser.log_lines().unwrap();
        assert_eq!(lines.buf, b"GET /a?x=1 0 200\nPOST /b 5 200\n");
        let mut parser = RequestParser::logging(200, crate::DEFAULT_MAX_BODY);
        parser.feed(b"NOT HTTP\r\n\r\n", &mut replies);
        assert_eq!(parser.log_lines().unwrap().buf, b"- - - 400\n");
    }
}
