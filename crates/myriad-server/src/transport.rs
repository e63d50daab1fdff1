//! What a connection is carried on: the private `Stream` trait of the connection
//! task, the listeners of the accept loop ([`Listener`], [`StdListener`]),
//! [`bind_unix`], and the private `Prefixed` stream that gives the HTTP/2
//! server the bytes the HTTP/1.1 task had already read.
//!
//! The connection task only needs bytes in, bytes out, and a way to wait for
//! input without holding a buffer. TCP and Unix sockets give that wait from
//! their readiness; a TLS stream is ready when its socket is, or at once when
//! rustls already holds decrypted bytes that the last read did not take.

use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};

use crate::pool::Lease;

/// A byte stream a connection task can serve: readable, writable, and able to
/// wait for input without a buffer (so an idle connection holds none).
pub(crate) trait Stream: AsyncRead + AsyncWrite + Unpin + Send + Sync + 'static {
    /// Ready when a read would make progress (bytes, end of stream or an error).
    fn poll_input(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
}

impl Stream for TcpStream {
    fn poll_input(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_read_ready(cx)
    }
}

impl Stream for UnixStream {
    fn poll_input(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_read_ready(cx)
    }
}

impl<S: Stream> Stream for tokio_rustls::server::TlsStream<S> {
    fn poll_input(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let (io, session) = self.get_ref();
        // rustls stops wanting TLS bytes while it holds plaintext the last
        // read left (or after the peer's close_notify): the socket may never
        // become readable again, yet a read would return at once.
        if session.wants_read() {
            io.poll_input(cx)
        } else {
            Poll::Ready(Ok(()))
        }
    }
}

/// A stream whose first bytes were already read: reads return `prefix` first,
/// then the stream's own bytes; writes go straight to the stream.
///
/// The HTTP/1.1 task reads a connection's first bytes anyway; when they are
/// the HTTP/2 client preface, it hands them (in the pooled buffer they were
/// read into) and the stream to the HTTP/2 server this way, so telling the
/// protocols apart costs no extra syscall (a `peek` would cost one per
/// connection).
pub(crate) struct Prefixed<S> {
    /// Unread bytes are `prefix[at..]`; the buffer goes back to the pool as
    /// soon as they are all read.
    prefix: Option<Lease<Vec<u8>>>,
    at: usize,
    inner: S,
}

impl<S> Prefixed<S> {
    /// `inner`, whose reads start with `prefix[at..]`.
    pub(crate) fn new(prefix: Option<Lease<Vec<u8>>>, at: usize, inner: S) -> Self {
        Prefixed { prefix, at, inner }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if let Some(prefix) = &this.prefix {
            let rest = prefix.get(this.at..).unwrap_or_default();
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
            this.at += n;
            if this.at >= prefix.len() {
                this.prefix = None;
            }
            if n > 0 {
                return Poll::Ready(Ok(()));
            }
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A listening socket registered with the runtime, for [`serve`](crate::serve).
#[derive(Debug)]
pub enum Listener {
    /// A TCP listener.
    Tcp(TcpListener),
    /// A Unix-domain stream listener.
    Unix(UnixListener),
}

impl From<TcpListener> for Listener {
    fn from(l: TcpListener) -> Self {
        Listener::Tcp(l)
    }
}

impl From<UnixListener> for Listener {
    fn from(l: UnixListener) -> Self {
        Listener::Unix(l)
    }
}

/// A connection taken from a [`Listener`].
pub(crate) enum Accepted {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Listener {
    pub(crate) fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<Accepted>> {
        match self {
            Listener::Tcp(l) => l.poll_accept(cx).map_ok(|(s, _)| Accepted::Tcp(s)),
            Listener::Unix(l) => l.poll_accept(cx).map_ok(|(s, _)| Accepted::Unix(s)),
        }
    }
}

/// A bound, listening socket not yet registered with a runtime: what
/// [`spawn_on`](crate::spawn_on) takes (it registers them on its own runtime).
#[derive(Debug)]
pub enum StdListener {
    /// A TCP listener, e.g. from [`bind`](crate::bind).
    Tcp(std::net::TcpListener),
    /// A Unix-domain listener, e.g. from [`bind_unix`].
    Unix(std::os::unix::net::UnixListener),
}

impl From<std::net::TcpListener> for StdListener {
    fn from(l: std::net::TcpListener) -> Self {
        StdListener::Tcp(l)
    }
}

impl From<std::os::unix::net::UnixListener> for StdListener {
    fn from(l: std::os::unix::net::UnixListener) -> Self {
        StdListener::Unix(l)
    }
}

/// Where a [`StdListener`] listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BoundAddr {
    /// A TCP address, with the kernel's port when bound to port 0.
    Tcp(std::net::SocketAddr),
    /// A Unix socket's path (`None` for an unnamed socket).
    Unix(Option<PathBuf>),
}

impl StdListener {
    /// Makes it non-blocking and registers it with the current runtime.
    pub(crate) fn into_tokio(self) -> io::Result<Listener> {
        match self {
            StdListener::Tcp(l) => {
                l.set_nonblocking(true)?;
                TcpListener::from_std(l).map(Listener::Tcp)
            }
            StdListener::Unix(l) => {
                l.set_nonblocking(true)?;
                UnixListener::from_std(l).map(Listener::Unix)
            }
        }
    }

    /// The address listened on.
    pub fn local_addr(&self) -> io::Result<BoundAddr> {
        match self {
            StdListener::Tcp(l) => l.local_addr().map(BoundAddr::Tcp),
            StdListener::Unix(l) => Ok(BoundAddr::Unix(
                l.local_addr()?.as_pathname().map(Path::to_path_buf),
            )),
        }
    }
}

/// Binds a Unix-domain stream socket at `path`, listening.
///
/// A socket file left at `path` by a server that is gone is removed first; a
/// socket some server still accepts on is not (`AddrInUse`), and neither is
/// any other kind of file (`AlreadyExists`). A missing directory is
/// `NotFound`, as the bind reports it.
pub fn bind_unix(path: &Path) -> io::Result<std::os::unix::net::UnixListener> {
    use std::os::unix::fs::FileTypeExt;
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    "a server is listening on this socket",
                ));
            }
            std::fs::remove_file(path)?;
        }
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "a file that is not a socket is in the way",
            ))
        }
        Err(_) => {}
    }
    std::os::unix::net::UnixListener::bind(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_unix_replaces_only_stale_sockets() {
        let dir = std::env::temp_dir().join(format!("myriad-unix-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.sock");
        let _ = std::fs::remove_file(&path);

        let live = bind_unix(&path).unwrap();
        let err = bind_unix(&path).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{err}");
        drop(live);
        // The file outlives its listener: a stale socket, replaced.
        assert!(path.exists());
        let again = bind_unix(&path).unwrap();
        drop(again);

        let file = dir.join("plain");
        std::fs::write(&file, b"x").unwrap();
        let err = bind_unix(&file).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists, "{err}");
        assert!(file.exists(), "a regular file is never removed");

        let err = bind_unix(&dir.join("no/such/dir.sock")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
