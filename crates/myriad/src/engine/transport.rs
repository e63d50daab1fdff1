//! The transport seam: a [`Dialer`] opens a connection and yields a byte
//! stream ([`Transport`]) that the request loop reads and writes without
//! looking inside.
//!
//! Two dialers today: TCP from an optional source address, and a Unix domain
//! socket (`--unix-socket`). TLS plugs in as a dialer that wraps one of them
//! (its stream a `tokio_rustls` client stream); the request loop and the
//! protocols stay as they are. Every transport must keep an idle
//! connection small: between requests a connection holds its stream and
//! nothing else (no buffers); `connection::tests` measures that state.

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};

use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpSocket, TcpStream, UnixStream};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::metrics::ErrorKind;

/// A byte stream a protocol runs over.
pub(crate) trait Transport: AsyncRead + AsyncWrite + Unpin {
    /// Waits until a read may make progress, holding no buffer, so a
    /// connection waiting for a slow response keeps none.
    fn readable(&self) -> impl Future<Output = io::Result<()>>;

    /// Whether the peer agreed to speak HTTP/2 on this stream: over TLS,
    /// ALPN chose `h2`; a plain stream speaks it by prior knowledge
    /// (`--h2c`), so it does not tell and says yes.
    fn negotiated_h2(&self) -> bool {
        true
    }
}

impl Transport for TcpStream {
    fn readable(&self) -> impl Future<Output = io::Result<()>> {
        TcpStream::readable(self)
    }
}

impl Transport for UnixStream {
    fn readable(&self) -> impl Future<Output = io::Result<()>> {
        UnixStream::readable(self)
    }
}

/// A Unix domain socket at `path` (`--unix-socket`): the URL still gives the
/// `Host` header and the path.
#[derive(Debug, Clone)]
pub(crate) struct UnixDialer {
    pub path: std::path::PathBuf,
}

impl Dialer for UnixDialer {
    type Stream = UnixStream;

    async fn dial(&self) -> Result<Dialed<UnixStream>, DialError> {
        Ok(Dialed::plain(UnixStream::connect(&self.path).await?))
    }
}

impl Transport for TlsStream<TcpStream> {
    /// Ready at once: rustls may already hold bytes read from the socket, so
    /// the socket's readiness is not the stream's. A TLS connection waiting
    /// for its response therefore holds a read buffer; between requests it
    /// holds none.
    fn readable(&self) -> impl Future<Output = io::Result<()>> {
        std::future::ready(Ok(()))
    }

    fn negotiated_h2(&self) -> bool {
        self.get_ref().1.alpn_protocol() == Some(b"h2")
    }
}

/// TLS over a TCP connection: verified against the run's roots, SNI and the
/// certificate's name from the URL's host, ALPN `http/1.1` (`h2` with `--http2`). Sessions resume
/// on reconnect through the shared client configuration's cache.
pub(crate) struct TlsDialer {
    pub tcp: TcpDialer,
    pub connector: TlsConnector,
    pub name: ServerName<'static>,
}

impl Dialer for TlsDialer {
    type Stream = TlsStream<TcpStream>;

    async fn dial(&self) -> Result<Dialed<TlsStream<TcpStream>>, DialError> {
        let tcp = self.tcp.dial().await?.stream;
        let started = std::time::Instant::now();
        let stream = self
            .connector
            .connect(self.name.clone(), tcp)
            .await
            .map_err(handshake_error)?;
        let resumed = matches!(
            stream.get_ref().1.handshake_kind(),
            Some(tokio_rustls::rustls::HandshakeKind::Resumed)
        );
        Ok(Dialed {
            stream,
            handshake: Some(Handshake {
                micros: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
                resumed,
            }),
        })
    }
}

/// The kind of a failed handshake: a certificate the run does not trust, a
/// server refusing every protocol offered in ALPN (`h2` with `--http2`, to a
/// server with HTTP/1.1 only), or any other TLS failure (including the server
/// closing mid-handshake or answering with bytes that are not TLS).
fn handshake_error(source: io::Error) -> DialError {
    use tokio_rustls::rustls::{AlertDescription, Error};
    let kind = match source.get_ref().and_then(|e| e.downcast_ref::<Error>()) {
        Some(Error::InvalidCertificate(_) | Error::NoCertificatesPresented) => {
            ErrorKind::Certificate
        }
        Some(Error::AlertReceived(AlertDescription::NoApplicationProtocol)) => ErrorKind::Alpn,
        _ => ErrorKind::Tls,
    };
    DialError { kind, source }
}

/// Why a dial failed: the error kind the request ends with, and the cause
/// (whose OS error tells whether a machine limit was hit).
#[derive(Debug)]
pub(crate) struct DialError {
    pub kind: ErrorKind,
    pub source: io::Error,
}

impl From<io::Error> for DialError {
    /// A failure to connect at all.
    fn from(source: io::Error) -> DialError {
        DialError {
            kind: ErrorKind::Connect,
            source,
        }
    }
}

/// An opened connection: its stream, and its TLS handshake if it made one.
pub(crate) struct Dialed<S> {
    pub stream: S,
    pub handshake: Option<Handshake>,
}

/// A completed TLS handshake: how long it took, and whether it resumed an
/// earlier session (an abbreviated handshake) or was a full one.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Handshake {
    pub micros: u64,
    pub resumed: bool,
}

impl<S> Dialed<S> {
    fn plain(stream: S) -> Dialed<S> {
        Dialed {
            stream,
            handshake: None,
        }
    }
}

/// Opens connections of one kind to one place. Connections share their
/// dialer (an `Rc`), so a dialer may hold what it needs (addresses, a TLS
/// configuration) without growing every connection.
pub(crate) trait Dialer {
    /// The stream a connection yields.
    type Stream: Transport;
    /// Opens one connection (the caller bounds it by the connect timeout).
    fn dial(&self) -> impl Future<Output = Result<Dialed<Self::Stream>, DialError>>;
}

/// TCP to `addr`, from `source` if given.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TcpDialer {
    pub addr: SocketAddr,
    pub source: Option<IpAddr>,
}

impl Dialer for TcpDialer {
    type Stream = TcpStream;

    /// The source is bound with `IP_BIND_ADDRESS_NO_PORT`, so the kernel picks
    /// the port at `connect()` per destination, and each source address has
    /// the whole ephemeral range for each destination.
    async fn dial(&self) -> Result<Dialed<TcpStream>, DialError> {
        let stream = match self.source {
            None => TcpStream::connect(self.addr).await?,
            Some(ip) => {
                let socket = if self.addr.is_ipv4() {
                    TcpSocket::new_v4()?
                } else {
                    TcpSocket::new_v6()?
                };
                if ip.is_ipv4() {
                    crate::sys::set_bind_address_no_port(std::os::fd::AsRawFd::as_raw_fd(&socket))?;
                }
                socket.bind(SocketAddr::new(ip, 0))?;
                socket.connect(self.addr).await?
            }
        };
        // Requests are written whole; Nagle would only delay them.
        let _ = stream.set_nodelay(true);
        Ok(Dialed::plain(stream))
    }
}
