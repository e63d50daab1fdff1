//! The server speaking HTTP/2, with real sockets on 127.0.0.1: h2's client
//! with prior knowledge (h2c) and over TLS with ALPN, beside HTTP/1.1 on the
//! same port; the answer, request bodies, the advertised SETTINGS, a preface
//! that arrives in pieces, and GOAWAY at shutdown with streams in flight.

use std::io::{Read, Write};
use std::net::TcpStream as StdTcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use myriad_server::{
    bind, spawn_on, Delay, ServerConfig, ServerHandle, StatsSnapshot, TlsIdentity,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;

const WAIT: Duration = Duration::from_secs(10);
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

fn server(config: ServerConfig, tls: Option<&TlsIdentity>) -> ServerHandle {
    let listener = bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let tls = tls.map(|id| id.acceptor().unwrap());
    spawn_on(vec![listener.into()], config, tls, 1).unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn wait_for(server: &ServerHandle, what: &str, done: impl Fn(&StatsSnapshot) -> bool) {
    let deadline = Instant::now() + WAIT;
    while !done(&server.stats()) {
        assert!(Instant::now() < deadline, "{what}: {:?}", server.stats());
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// An h2 client connection whose driver runs on the current runtime.
async fn h2_client<T>(io: T) -> h2::client::SendRequest<Bytes>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (send, connection) = h2::client::handshake(io).await.unwrap();
    tokio::spawn(async move {
        let _ = connection.await;
    });
    send
}

/// What one request got: status, content-length and the body.
#[derive(Debug, PartialEq, Eq)]
struct Got {
    status: StatusCode,
    length: Option<String>,
    body: Vec<u8>,
}

async fn request(send: h2::client::SendRequest<Bytes>, method: Method, body: Option<Bytes>) -> Got {
    let mut send = send.ready().await.unwrap();
    let request = Request::builder()
        .method(method)
        .uri("http://localhost/")
        .body(())
        .unwrap();
    let (response, mut stream) = send.send_request(request, body.is_none()).unwrap();
    if let Some(body) = body {
        // h2 sends it as the windows allow; the server's are large.
        stream.send_data(body, true).unwrap();
    }
    let response = tokio::time::timeout(WAIT, response).await.unwrap().unwrap();
    let status = response.status();
    let length = response
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .map(|v| v.to_str().unwrap().to_string());
    let mut recv = response.into_body();
    let mut body = Vec::new();
    while let Some(chunk) = recv.data().await {
        let chunk = chunk.unwrap();
        let _ = recv.flow_control().release_capacity(chunk.len());
        body.extend_from_slice(&chunk);
    }
    Got {
        status,
        length,
        body,
    }
}

fn ok(body: &[u8]) -> Got {
    Got {
        status: StatusCode::OK,
        length: Some(body.len().to_string()),
        body: body.to_vec(),
    }
}

fn http1_get(server: &ServerHandle) -> Vec<u8> {
    let mut c = StdTcpStream::connect(server.local_addr()).unwrap();
    c.set_read_timeout(Some(WAIT)).unwrap();
    c.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let want = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    let mut got = vec![0; want.len()];
    c.read_exact(&mut got).unwrap();
    got
}

#[test]
fn h2c_and_http1_on_one_port() {
    let server = server(ServerConfig::default(), None);
    let addr = server.local_addr();
    runtime().block_on(async {
        let send = h2_client(TcpStream::connect(addr).await.unwrap()).await;
        // 100 streams at once on one connection.
        let all = (0..100).map(|_| request(send.clone(), Method::GET, None));
        for got in futures_join_all(all).await {
            assert_eq!(got, ok(b"ok"));
        }
        let head = request(send.clone(), Method::HEAD, None).await;
        assert_eq!(
            head,
            Got {
                body: Vec::new(),
                ..ok(b"ok")
            }
        );
        // A 3 MB upload, read to its end before the answer.
        let upload = Bytes::from(vec![b'x'; 3 << 20]);
        assert_eq!(
            request(send.clone(), Method::POST, Some(upload)).await,
            ok(b"ok")
        );
    });
    assert_eq!(
        http1_get(&server),
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    );
    let stats = server.shutdown();
    assert_eq!(stats.requests_served, 103);
    assert_eq!(stats.connections_accepted, 2);
    assert_eq!(stats.bad_requests, 0);
}

/// Polls every future to its end, concurrently, in order (the workspace has no
/// `futures` crate).
async fn futures_join_all<F: std::future::Future + Send + 'static>(
    all: impl Iterator<Item = F>,
) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let mut set = tokio::task::JoinSet::new();
    for (i, f) in all.enumerate() {
        set.spawn(async move { (i, f.await) });
    }
    let mut out: Vec<(usize, F::Output)> = Vec::new();
    while let Some(done) = set.join_next().await {
        out.push(done.unwrap());
    }
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, o)| o).collect()
}

#[test]
fn status_body_size_and_settings_follow_the_config() {
    let config = ServerConfig {
        status: 503,
        body_size: 1 << 20,
        max_streams: 7,
        ..ServerConfig::default()
    };
    let server = server(config, None);
    let addr = server.local_addr();
    runtime().block_on(async {
        let (send, mut connection) = h2::client::handshake(TcpStream::connect(addr).await.unwrap())
            .await
            .unwrap();
        let max = {
            let send = send.clone();
            let asked = tokio::spawn(async move { request(send.clone(), Method::GET, None).await });
            // Drive the connection until the answer is in: the server's
            // SETTINGS have been read by then.
            let got = tokio::select! {
                got = asked => got.unwrap(),
                _ = &mut connection => panic!("connection ended"),
            };
            assert_eq!(got.status, StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(got.length.as_deref(), Some("1048576"));
            assert_eq!(got.body.len(), 1 << 20);
            connection.max_concurrent_send_streams()
        };
        assert_eq!(max, 7);
    });
    let stats = server.shutdown();
    assert_eq!(stats.requests_served, 1);
}

#[test]
fn no_content_has_no_body_or_length() {
    let server = server(
        ServerConfig {
            status: 204,
            ..ServerConfig::default()
        },
        None,
    );
    let addr = server.local_addr();
    runtime().block_on(async {
        let send = h2_client(TcpStream::connect(addr).await.unwrap()).await;
        let got = request(send.clone(), Method::GET, None).await;
        assert_eq!(
            got,
            Got {
                status: StatusCode::NO_CONTENT,
                length: None,
                body: Vec::new()
            }
        );
    });
    assert_eq!(server.shutdown().requests_served, 1);
}

/// The preface in two reads: the server waits for the rest rather than
/// answering `400`, then answers with its own SETTINGS frame.
#[test]
fn a_preface_in_pieces_is_still_http2() {
    let server = server(ServerConfig::default(), None);
    let mut c = StdTcpStream::connect(server.local_addr()).unwrap();
    c.set_nodelay(true).unwrap();
    c.set_read_timeout(Some(WAIT)).unwrap();
    c.write_all(&PREFACE[..5]).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    c.write_all(&PREFACE[5..]).unwrap();
    // An empty SETTINGS frame: length 0, type 4, flags 0, stream 0.
    c.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).unwrap();
    let mut frame_head = [0; 9];
    c.read_exact(&mut frame_head).unwrap();
    assert_eq!(frame_head[3], 4, "a SETTINGS frame first: {frame_head:?}");
    drop(c);
    let stats = server.shutdown();
    assert_eq!(stats.bad_requests, 0);
}

/// Streams accepted before the shutdown are answered, then the connection
/// ends with GOAWAY; the answers are counted.
#[test]
fn shutdown_sends_goaway_and_finishes_streams_in_flight() {
    let server = server(
        ServerConfig {
            delay: Delay::Fixed(Duration::from_millis(600)),
            ..ServerConfig::default()
        },
        None,
    );
    let addr = server.local_addr();
    let rt = runtime();
    let (send, connection) = rt.block_on(async {
        h2::client::handshake(TcpStream::connect(addr).await.unwrap())
            .await
            .unwrap()
    });
    let driver = rt.spawn(connection);
    let asked: Vec<_> = (0..5)
        .map(|_| {
            let send = send.clone();
            rt.spawn(async move { request(send.clone(), Method::GET, None).await })
        })
        .collect();
    // The requests are on the wire long before their 600 ms delay is over.
    std::thread::sleep(Duration::from_millis(200));
    let stopping = std::thread::spawn(move || server.shutdown());
    rt.block_on(async {
        for got in asked {
            assert_eq!(got.await.unwrap(), ok(b"ok"));
        }
        // The server closed the connection after its GOAWAY.
        let ended = tokio::time::timeout(WAIT, driver).await.unwrap().unwrap();
        assert!(ended.is_ok(), "{ended:?}");
    });
    let stats = stopping.join().unwrap();
    assert_eq!(stats.requests_served, 5);
}

fn tls_client(id: &TlsIdentity, alpn: &[&[u8]]) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    let cert = rustls::pki_types::CertificateDer::from_pem_slice(id.cert_pem().as_bytes()).unwrap();
    roots.add(cert).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

#[test]
fn alpn_chooses_the_protocol_over_tls() {
    let id = TlsIdentity::self_signed().unwrap();
    let server = server(ServerConfig::default(), Some(&id));
    let addr = server.local_addr();
    runtime().block_on(async {
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        // h2 offered (first, as clients do): HTTP/2.
        let tcp = TcpStream::connect(addr).await.unwrap();
        let tls = tls_client(&id, &[b"h2", b"http/1.1"])
            .connect(name.clone(), tcp)
            .await
            .unwrap();
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
        let send = h2_client(tls).await;
        for _ in 0..3 {
            assert_eq!(request(send.clone(), Method::GET, None).await, ok(b"ok"));
        }
        // http/1.1 only, and no ALPN at all: HTTP/1.1.
        for alpn in [&[&b"http/1.1"[..]][..], &[]] {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let tcp = TcpStream::connect(addr).await.unwrap();
            let mut tls = tls_client(&id, alpn)
                .connect(name.clone(), tcp)
                .await
                .unwrap();
            tls.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
                .await
                .unwrap();
            let want = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
            let mut got = vec![0; want.len()];
            tls.read_exact(&mut got).await.unwrap();
            assert_eq!(got, want, "ALPN {alpn:?}");
        }
    });
    wait_for(&server, "three handshakes", |s| s.tls_handshakes == 3);
    let stats = server.shutdown();
    assert_eq!(stats.requests_served, 5);
    assert_eq!(stats.tls_handshake_failures, 0);
}

/// `max_body` bounds HTTP/2 request bodies too: one at the limit is answered
/// as usual; one announced longer by its `content-length`, or that grows past
/// the limit without one, gets `413` (and its stream a `NO_ERROR` reset).
#[test]
fn bodies_over_max_body_get_413() {
    let server = server(
        ServerConfig {
            max_body: 1000,
            ..ServerConfig::default()
        },
        None,
    );
    let addr = server.local_addr();
    runtime().block_on(async {
        let send = h2_client(TcpStream::connect(addr).await.unwrap()).await;
        let body = |n: usize| Some(Bytes::from(vec![b'x'; n]));
        let at_limit = request(send.clone(), Method::POST, body(1000)).await;
        assert_eq!(at_limit, ok(b"ok"));
        let too_long = request(send.clone(), Method::POST, body(1001)).await;
        assert_eq!(too_long.status, StatusCode::PAYLOAD_TOO_LARGE);

        let mut ready = send.clone().ready().await.unwrap();
        let announced = Request::builder()
            .method(Method::POST)
            .uri("http://localhost/")
            .header(http::header::CONTENT_LENGTH, "5000")
            .body(())
            .unwrap();
        let (response, _stream) = ready.send_request(announced, false).unwrap();
        let response = tokio::time::timeout(WAIT, response).await.unwrap().unwrap();
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
        // The connection goes on.
        assert_eq!(request(send, Method::GET, None).await, ok(b"ok"));
    });
    let stats = server.shutdown();
    assert_eq!(stats.bodies_too_large, 2, "{stats:?}");
    assert_eq!(stats.requests_served, 2, "{stats:?}");
}
