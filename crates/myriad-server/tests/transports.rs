//! The server over a Unix socket and over TLS, with real sockets: blocking std
//! clients (rustls's `StreamOwned` for TLS) against `spawn_on`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use myriad_server::{bind, bind_unix, spawn_on, ServerConfig, ServerHandle, TlsIdentity};
use tokio_rustls::rustls;

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n";
const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
const WAIT: Duration = Duration::from_secs(10);

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("myriad-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn read_exactly(stream: &mut impl Read, n: usize) -> Vec<u8> {
    let mut got = vec![0; n];
    stream.read_exact(&mut got).unwrap();
    got
}

fn wait_for(
    server: &ServerHandle,
    what: &str,
    done: impl Fn(&myriad_server::StatsSnapshot) -> bool,
) {
    let deadline = Instant::now() + WAIT;
    while !done(&server.stats()) {
        assert!(Instant::now() < deadline, "{what}: {:?}", server.stats());
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn http_over_a_unix_socket_with_pipelining() {
    let dir = temp_dir("unix-serve");
    let path = dir.join("s.sock");
    let listener = bind_unix(&path).unwrap();
    let server = spawn_on(vec![listener.into()], ServerConfig::default(), None, 1).unwrap();
    assert_eq!(
        server.bound(),
        [myriad_server::BoundAddr::Unix(Some(path.clone()))]
    );

    let mut client = UnixStream::connect(&path).unwrap();
    client.set_read_timeout(Some(WAIT)).unwrap();
    client.write_all(GET).unwrap();
    assert_eq!(read_exactly(&mut client, RESPONSE.len()), RESPONSE);
    // Three pipelined requests in one write, answered in order.
    client.write_all(&GET.repeat(3)).unwrap();
    assert_eq!(
        read_exactly(&mut client, 3 * RESPONSE.len()),
        RESPONSE.repeat(3)
    );
    drop(client);

    let stats = server.shutdown();
    assert_eq!(stats.requests_served, 4);
    assert_eq!(stats.connections_accepted, 1);
    assert_eq!(stats.tls_handshakes, 0);
    std::fs::remove_dir_all(&dir).unwrap();
}

fn client_config(trusting: &str) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    let id = rustls::pki_types::CertificateDer::from_pem_slice(trusting.as_bytes()).unwrap();
    roots.add(id).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

use rustls::pki_types::pem::PemObject;

fn tls_server(config: ServerConfig) -> (ServerHandle, TlsIdentity) {
    let id = TlsIdentity::self_signed().unwrap();
    let listener = bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let tls = id.acceptor().unwrap();
    let server = spawn_on(vec![listener.into()], config, Some(tls), 1).unwrap();
    (server, id)
}

fn tls_get(
    server: &ServerHandle,
    config: Arc<rustls::ClientConfig>,
    name: &str,
) -> std::io::Result<Vec<u8>> {
    let name = rustls::pki_types::ServerName::try_from(name.to_string()).unwrap();
    let conn = rustls::ClientConnection::new(config, name).unwrap();
    let tcp = TcpStream::connect(server.local_addr())?;
    tcp.set_read_timeout(Some(WAIT))?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(&GET.repeat(2))?;
    let mut got = vec![0; 2 * RESPONSE.len()];
    tls.read_exact(&mut got)?;
    assert_eq!(tls.conn.alpn_protocol(), Some(&b"http/1.1"[..]));
    Ok(got)
}

#[test]
fn https_for_a_client_that_trusts_the_certificate() {
    let (server, id) = tls_server(ServerConfig::default());
    let trusting = client_config(id.cert_pem());
    for name in ["localhost", "127.0.0.1"] {
        let got = tls_get(&server, Arc::clone(&trusting), name).unwrap();
        assert_eq!(got, RESPONSE.repeat(2), "{name}");
    }
    wait_for(&server, "two handshakes", |s| s.tls_handshakes == 2);
    let stats = server.shutdown();
    assert_eq!(stats.requests_served, 4);
    assert_eq!(stats.tls_handshake_failures, 0);
}

#[test]
fn a_client_that_does_not_trust_it_fails_the_handshake() {
    let (server, _id) = tls_server(ServerConfig::default());
    let stranger = TlsIdentity::self_signed().unwrap();
    let err = tls_get(&server, client_config(stranger.cert_pem()), "localhost").unwrap_err();
    assert!(err.to_string().contains("certificate"), "{err}");
    wait_for(&server, "a handshake failure", |s| {
        s.tls_handshake_failures == 1
    });
    let stats = server.shutdown();
    assert_eq!((stats.tls_handshakes, stats.requests_served), (0, 0));
}

#[test]
fn a_silent_tls_client_is_closed_by_the_header_timeout() {
    let (server, _id) = tls_server(ServerConfig {
        header_timeout: Duration::from_millis(200),
        ..ServerConfig::default()
    });
    let mut silent = TcpStream::connect(server.local_addr()).unwrap();
    silent.set_read_timeout(Some(WAIT)).unwrap();
    let started = Instant::now();
    let mut buf = [0; 16];
    // Closed without a byte: the server never got a ClientHello to answer.
    assert_eq!(silent.read(&mut buf).unwrap(), 0);
    assert!(started.elapsed() < WAIT);
    wait_for(&server, "a timed-out handshake", |s| {
        s.tls_handshake_failures == 1
    });
    let stats = server.shutdown();
    assert_eq!(stats.header_timeouts, 1);
}
