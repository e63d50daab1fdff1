//! Where the server listens: [`ListenSpec`] (one address, or one IP with a
//! range of ports) and the sockets bound for it.
//!
//! A port range is one way past the ephemeral-port limit: a client gets about
//! 28,000 connections per (source address, destination address, destination
//! port), so twenty listening ports take twenty times as many from one source
//! address. `SO_REUSEPORT` ([`bind_reuse_port`]) is the other half of the
//! multi-process server: several processes listen on the same port and the
//! kernel spreads new connections over them.

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;

use socket2::{Domain, Protocol, Socket, Type};

/// Listen backlog: a load test opens thousands of connections at once, and a
/// short queue turns that burst into SYN retries (a second each) on the client.
const BACKLOG: i32 = 4096;

/// One address (`127.0.0.1:8080`, port 0 for an ephemeral port) or one IP with
/// an inclusive range of ports (`127.0.0.1:8080-8099`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenSpec {
    ip: IpAddr,
    first: u16,
    last: u16,
}

/// Why a listen address did not parse; the message says what a valid one looks like.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListenSpecError {
    /// Not `IP:PORT` or `IP:FIRST-LAST`.
    #[error("invalid listen address '{0}': expected IP:PORT or IP:FIRST-LAST, like 127.0.0.1:8080 or 127.0.0.1:8080-8099")]
    Invalid(String),
    /// A range whose first port is larger than its last, or that includes port 0.
    #[error("invalid port range in '{0}': expected FIRST-LAST with 1 <= FIRST <= LAST, like 127.0.0.1:8080-8099")]
    Range(String),
    /// `unix:` without a path.
    #[error("invalid listen address '{0}': expected unix:PATH, like unix:/tmp/myriad.sock")]
    UnixPath(String),
}

/// Where `myriad serve` listens: TCP addresses ([`ListenSpec`]) or a Unix
/// socket (`unix:PATH`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// One address or a range of ports.
    Tcp(ListenSpec),
    /// A Unix-domain socket at this path.
    Unix(PathBuf),
}

impl FromStr for Endpoint {
    type Err = ListenSpecError;

    /// `unix:PATH`, or anything [`ListenSpec`] reads.
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        match input.trim().strip_prefix("unix:") {
            Some("") => Err(ListenSpecError::UnixPath(input.to_string())),
            Some(path) => Ok(Endpoint::Unix(PathBuf::from(path))),
            None => input.parse().map(Endpoint::Tcp),
        }
    }
}

impl fmt::Display for Endpoint {
    /// What `FromStr` reads: `127.0.0.1:8080`, `unix:/tmp/x.sock`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Tcp(spec) => spec.fmt(f),
            Endpoint::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

impl ListenSpec {
    /// The single address `addr` (port 0 asks the kernel for a free port).
    pub fn single(addr: SocketAddr) -> Self {
        ListenSpec {
            ip: addr.ip(),
            first: addr.port(),
            last: addr.port(),
        }
    }

    /// Ports `first..=last` on `ip`.
    pub fn range(ip: IpAddr, first: u16, last: u16) -> Result<Self, ListenSpecError> {
        if first == 0 || first > last {
            let spec = ListenSpec { ip, first, last };
            return Err(ListenSpecError::Range(spec.to_string()));
        }
        Ok(ListenSpec { ip, first, last })
    }

    /// The IP address listened on.
    pub fn ip(&self) -> IpAddr {
        self.ip
    }

    /// Whether this names more than one port.
    pub fn is_range(&self) -> bool {
        self.first != self.last
    }

    /// Number of addresses (ports) listened on.
    pub fn len(&self) -> usize {
        usize::from(self.last - self.first) + 1
    }

    /// Always false: a spec names at least one address.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Every address, in port order.
    pub fn addrs(&self) -> impl Iterator<Item = SocketAddr> + '_ {
        (self.first..=self.last).map(|port| SocketAddr::new(self.ip, port))
    }

    /// The same spec with the ephemeral port 0 replaced by `port`, the port
    /// the kernel chose; a spec without port 0 is returned unchanged.
    pub fn resolved(self, port: u16) -> Self {
        if self.first == 0 {
            ListenSpec {
                first: port,
                last: port,
                ..self
            }
        } else {
            self
        }
    }

    /// Binds every address with [`bind`]; the first failure is returned with
    /// the address that failed.
    pub fn bind_all(&self) -> Result<Vec<std::net::TcpListener>, (SocketAddr, io::Error)> {
        self.addrs()
            .map(|addr| bind(addr).map_err(|e| (addr, e)))
            .collect()
    }
}

impl FromStr for ListenSpec {
    type Err = ListenSpecError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let invalid = || ListenSpecError::Invalid(input.to_string());
        let s = input.trim();
        let (host, ports) = s.rsplit_once(':').ok_or_else(invalid)?;
        let Some((first, last)) = ports.split_once('-') else {
            return s
                .parse::<SocketAddr>()
                .map(Self::single)
                .map_err(|_| invalid());
        };
        let port = |p: &str| p.trim().parse::<u16>().map_err(|_| invalid());
        let (first, last) = (port(first)?, port(last)?);
        // Parsing "host:first" handles IPv6 brackets the way SocketAddr does.
        let ip = format!("{host}:{first}")
            .parse::<SocketAddr>()
            .map_err(|_| invalid())?
            .ip();
        if first == 0 || first > last {
            return Err(ListenSpecError::Range(input.to_string()));
        }
        Ok(ListenSpec { ip, first, last })
    }
}

impl fmt::Display for ListenSpec {
    /// `127.0.0.1:8080`, `127.0.0.1:8080-8099`, `[::1]:8080`: what `FromStr` reads.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", SocketAddr::new(self.ip, self.first))?;
        if self.is_range() {
            write!(f, "-{}", self.last)?;
        }
        Ok(())
    }
}

/// Binds a listening socket for [`run`](crate::run) or [`spawn`](crate::spawn):
/// `SO_REUSEADDR` (so a restarted server can rebind while old connections sit
/// in TIME_WAIT), a backlog of 4096, non-blocking.
pub fn bind(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = socket(addr, false)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// Like [`bind`], with `SO_REUSEPORT` too: every process (of the same user)
/// that binds the same address this way gets its own listening socket, and the
/// kernel spreads new connections over them by a hash of the client's address.
pub fn bind_reuse_port(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = socket(addr, true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// An address bound with `SO_REUSEPORT` but not listening: it holds the port
/// (choosing a concrete one for port 0) so that worker processes can then bind
/// it with [`bind_reuse_port`], yet it never takes a connection itself, so
/// dropping it once the workers listen loses none.
#[derive(Debug)]
pub struct PortReservation {
    socket: Socket,
}

impl PortReservation {
    /// Binds `addr` without listening.
    pub fn bind(addr: SocketAddr) -> io::Result<Self> {
        let socket = socket(addr, true)?;
        socket.bind(&addr.into())?;
        Ok(PortReservation { socket })
    }

    /// The bound address, with the kernel's port when `addr` had port 0.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket
            .local_addr()?
            .as_socket()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not an IP socket"))
    }
}

fn socket(addr: SocketAddr, reuse_port: bool) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.set_nonblocking(true)?;
    Ok(socket)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(s: &str) -> Result<ListenSpec, ListenSpecError> {
        s.parse()
    }

    #[test]
    fn parse_table() {
        let v4: IpAddr = [127, 0, 0, 1].into();
        let v6: IpAddr = "::1".parse().unwrap();
        let ok = [
            ("127.0.0.1:8080", v4, 8080, 8080),
            ("127.0.0.1:0", v4, 0, 0),
            (" 127.0.0.1:8080-8099 ", v4, 8080, 8099),
            ("127.0.0.1:8080-8080", v4, 8080, 8080),
            ("127.0.0.1:1-65535", v4, 1, 65535),
            ("[::1]:8080", v6, 8080, 8080),
            ("[::1]:8080-8081", v6, 8080, 8081),
            ("0.0.0.0:80-81", [0, 0, 0, 0].into(), 80, 81),
        ];
        for (input, ip, first, last) in ok {
            assert_eq!(spec(input), Ok(ListenSpec { ip, first, last }), "{input}");
        }
        for bad in [
            "",
            "8080",
            "localhost:8080",
            "127.0.0.1",
            "127.0.0.1:",
            "127.0.0.1:x",
            "127.0.0.1:8080-",
            "127.0.0.1:-8080",
            "127.0.0.1:8080-70000",
            "127.0.0.1:1-2-3",
            "::1:8080-8081",
            "[::1:8080-8081",
        ] {
            assert!(
                matches!(spec(bad), Err(ListenSpecError::Invalid(_))),
                "{bad}: {:?}",
                spec(bad)
            );
        }
        for bad in ["127.0.0.1:8099-8080", "127.0.0.1:0-5", "127.0.0.1:0-0"] {
            assert!(
                matches!(spec(bad), Err(ListenSpecError::Range(_))),
                "{bad}: {:?}",
                spec(bad)
            );
        }
    }

    #[test]
    fn endpoints() {
        let tcp: Endpoint = "127.0.0.1:80-81".parse().unwrap();
        assert_eq!(tcp, Endpoint::Tcp(spec("127.0.0.1:80-81").unwrap()));
        let unix: Endpoint = "unix:/tmp/x.sock".parse().unwrap();
        assert_eq!(unix, Endpoint::Unix("/tmp/x.sock".into()));
        assert_eq!(unix.to_string(), "unix:/tmp/x.sock");
        assert_eq!(
            "unix:rel.sock".parse::<Endpoint>(),
            Ok(Endpoint::Unix("rel.sock".into()))
        );
        assert!(matches!(
            "unix:".parse::<Endpoint>(),
            Err(ListenSpecError::UnixPath(_))
        ));
        assert!(matches!(
            "nowhere".parse::<Endpoint>(),
            Err(ListenSpecError::Invalid(_))
        ));
    }

    #[test]
    fn error_says_what_is_valid() {
        let err = spec("here").unwrap_err().to_string();
        assert!(err.contains("127.0.0.1:8080-8099"), "{err}");
        let err = spec("127.0.0.1:9-8").unwrap_err().to_string();
        assert!(err.contains("FIRST <= LAST"), "{err}");
    }

    #[test]
    fn display_round_trips() {
        for input in [
            "127.0.0.1:8080",
            "127.0.0.1:0",
            "127.0.0.1:80-99",
            "[::1]:1-2",
        ] {
            let s = spec(input).unwrap();
            assert_eq!(s.to_string(), input);
            assert_eq!(spec(&s.to_string()), Ok(s));
        }
    }

    #[test]
    fn addresses_and_resolution() {
        let s = spec("127.0.0.1:8080-8082").unwrap();
        assert_eq!(s.len(), 3);
        assert!(s.is_range());
        let addrs: Vec<_> = s.addrs().map(|a| a.to_string()).collect();
        assert_eq!(
            addrs,
            ["127.0.0.1:8080", "127.0.0.1:8081", "127.0.0.1:8082"]
        );
        assert_eq!(s.resolved(5), s);
        let zero = spec("127.0.0.1:0").unwrap();
        assert_eq!(zero.resolved(4321).to_string(), "127.0.0.1:4321");
        assert!(ListenSpec::range([127, 0, 0, 1].into(), 3, 2).is_err());
    }

    #[test]
    fn reservation_then_reuse_port_listeners() {
        let reservation = PortReservation::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = reservation.local_addr().unwrap();
        assert_ne!(addr.port(), 0);
        // Two listeners share the reserved port, as two workers would.
        let a = bind_reuse_port(addr).unwrap();
        let b = bind_reuse_port(addr).unwrap();
        drop(reservation);
        assert_eq!(a.local_addr().unwrap(), addr);
        assert_eq!(b.local_addr().unwrap(), addr);
        // A plain bind (no SO_REUSEPORT) cannot join them.
        assert!(bind(addr).is_err());
    }
}
