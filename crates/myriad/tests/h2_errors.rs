//! Errors of each layer as kinds of their own, against servers written here
//! that misbehave on purpose, all on 127.0.0.1 port 0: HTTP/2 servers (the
//! `h2` crate's server side, h2c with prior knowledge) that end connections
//! with GOAWAY, gracefully or with an error code, or reset streams; raw
//! servers that break HTTP/2 framing or HPACK; TLS servers that fail the
//! handshake or do not offer `h2`. Every request is one outcome, and each
//! kind's count is what the server did, counted by the server itself.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use h2::Reason;
use myriad::config::Http2Mode;
use myriad::{Config, ErrorKind, Load, Stop, Summary};

use tokio::io::AsyncReadExt;

/// A run that must end by itself (see [`support::run_bounded`]).
fn run(c: Config) -> Summary {
    support::run_bounded(c)
}

/// `n` requests over `connections` h2c connections with `streams` streams each.
fn h2c(addr: SocketAddr, connections: usize, streams: usize, n: u64) -> Config {
    let mut c = Config::new(&[format!("http://{addr}/")]).unwrap();
    c.load = Load::closed(connections, Stop::Requests(n)).unwrap();
    c.threads = 1;
    c.http2 = Http2Mode::PriorKnowledge;
    c.streams = streams;
    c.timeout = Duration::from_secs(10);
    c
}

/// Every failure of `s` is of `kind`.
fn only_failures_of(s: &Summary, kind: ErrorKind) {
    assert_eq!(s.total.failures(), s.total.errors(kind), "{:?}", s.total);
}

/// What the HTTP/2 server does with a connection's requests.
#[derive(Debug, Clone, Copy)]
enum Behaviour {
    /// Answers `n` requests, then shuts the connection down gracefully
    /// (GOAWAY NO_ERROR, a PING, then GOAWAY with its last stream), answering
    /// every stream it accepted.
    Graceful(u64),
    /// Answers `n` requests; at the next one sends GOAWAY INTERNAL_ERROR and
    /// closes, answering nothing more.
    Abrupt(u64),
    /// Resets every `k`-th request it gets (over the whole server) with
    /// `reason`, answers the others.
    ResetEvery(u64, Reason),
}

/// What the server did, counted by it.
#[derive(Default)]
struct Counts {
    answered: AtomicU64,
    reset: AtomicU64,
    requests: AtomicU64,
    connections: AtomicU64,
}

/// An h2c server with `behaviour` on its own thread (a current-thread
/// runtime), for the rest of the test process.
fn h2_server(behaviour: Behaviour) -> (SocketAddr, Arc<Counts>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let counts = Arc::new(Counts::default());
    let shared = counts.clone();
    thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let local = tokio::task::LocalSet::new();
        local.block_on(&runtime, async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                shared.connections.fetch_add(1, Ordering::SeqCst);
                tokio::task::spawn_local(serve_h2(tcp, behaviour, shared.clone()));
            }
        });
    });
    (addr, counts)
}

async fn serve_h2(tcp: tokio::net::TcpStream, behaviour: Behaviour, counts: Arc<Counts>) {
    // A second handle on the socket, kept after h2 is done with it: reading
    // it to the end makes the close a FIN, never a RST over bytes the client
    // sent that h2 did not read, so the client sees what h2 sent (its GOAWAY)
    // and nothing the kernel made up.
    let std = tcp.into_std().unwrap();
    let keep = std.try_clone().unwrap();
    let tcp = tokio::net::TcpStream::from_std(std).unwrap();
    let Ok(mut conn) = h2::server::handshake(tcp).await else {
        return;
    };
    let mut answered_here = 0u64;
    let mut held = Vec::new();
    let mut closing = false;
    while let Some(next) = conn.accept().await {
        let Ok((request, mut respond)) = next else {
            break;
        };
        drop(request);
        let nth = counts.requests.fetch_add(1, Ordering::SeqCst) + 1;
        match behaviour {
            Behaviour::Abrupt(n) if answered_here == n || closing => {
                // Every response before this one has been written: h2 flushes
                // before it hands over the next request. Held, not dropped, so
                // no RST_STREAM: the GOAWAY is the only word on them.
                if !closing {
                    conn.abrupt_shutdown(Reason::INTERNAL_ERROR);
                    closing = true;
                }
                held.push(respond);
                continue;
            }
            Behaviour::ResetEvery(k, reason) if nth.is_multiple_of(k) => {
                respond.send_reset(reason);
                counts.reset.fetch_add(1, Ordering::SeqCst);
                continue;
            }
            _ => {}
        }
        let response = http::Response::builder().status(200).body(()).unwrap();
        if respond.send_response(response, true).is_ok() {
            answered_here += 1;
            counts.answered.fetch_add(1, Ordering::SeqCst);
        }
        if matches!(behaviour, Behaviour::Graceful(n) if answered_here == n) {
            conn.graceful_shutdown();
        }
    }
    drop(held);
    drop(conn);
    drain(keep).await;
}

/// Reads a socket until the client closes it.
async fn drain(keep: std::net::TcpStream) {
    let Ok(mut keep) = tokio::net::TcpStream::from_std(keep) else {
        return;
    };
    let mut buf = [0u8; 4096];
    while let Ok(n) = keep.read(&mut buf).await {
        if n == 0 {
            break;
        }
    }
}

#[test]
fn a_graceful_goaway_lets_accepted_streams_succeed_and_the_run_reconnects() {
    for streams in [1, 10, 100] {
        let (addr, counts) = h2_server(Behaviour::Graceful(50));
        let s = run(h2c(addr, 2, streams, 1000));
        let answered = counts.answered.load(Ordering::SeqCst);
        assert_eq!(s.total.issued(), 1000, "p={streams}");
        assert_eq!(s.total.succeeded(), answered, "p={streams}: {:?}", s.total);
        // The streams the server accepted are answered; a stream it refused
        // (one h2 sent after the server's PING round trip ended, above the
        // last stream of its final GOAWAY) is `goaway`, nothing else is an
        // error: the requests not yet sent went on a new connection.
        assert_eq!(
            s.total.errors(ErrorKind::Goaway),
            1000 - answered,
            "p={streams}: {:?}",
            s.total
        );
        only_failures_of(&s, ErrorKind::Goaway);
        // Each connection answers 50 requests and those in flight after
        // them (up to `streams`), then the run goes on on a new one.
        assert!(
            s.connections_opened >= 1000 / (50 + streams as u64),
            "p={streams}: {} connections opened",
            s.connections_opened
        );
        println!(
            "p={streams}: {} connections, {} goaway",
            s.connections_opened,
            s.total.errors(ErrorKind::Goaway)
        );
    }
}

#[test]
fn an_abrupt_goaway_ends_every_unanswered_request_as_goaway() {
    for streams in [1, 10, 100] {
        let (addr, counts) = h2_server(Behaviour::Abrupt(30));
        let s = run(h2c(addr, 2, streams, 1000));
        let answered = counts.answered.load(Ordering::SeqCst);
        assert_eq!(s.total.issued(), 1000, "p={streams}");
        assert_eq!(s.total.succeeded(), answered, "p={streams}: {:?}", s.total);
        assert_eq!(
            s.total.errors(ErrorKind::Goaway),
            1000 - answered,
            "p={streams}: {:?}",
            s.total
        );
        only_failures_of(&s, ErrorKind::Goaway);
        assert!(
            s.total.errors(ErrorKind::Goaway) > 0,
            "p={streams}: every connection refuses its 31st request"
        );
        assert!(s.connections_opened > 2, "p={streams}: reconnects");
    }
}

#[test]
fn reset_streams_are_stream_resets_and_the_connection_goes_on() {
    for (streams, reason) in [
        (1, Reason::REFUSED_STREAM),
        (10, Reason::REFUSED_STREAM),
        (100, Reason::INTERNAL_ERROR),
    ] {
        let (addr, counts) = h2_server(Behaviour::ResetEvery(7, reason));
        let s = run(h2c(addr, 2, streams, 1000));
        let reset = counts.reset.load(Ordering::SeqCst);
        assert_eq!(s.total.issued(), 1000);
        assert_eq!(reset, 1000 / 7, "the server saw every request");
        assert_eq!(
            s.total.errors(ErrorKind::StreamReset),
            reset,
            "p={streams} {reason:?}: {:?}",
            s.total
        );
        only_failures_of(&s, ErrorKind::StreamReset);
        assert_eq!(s.total.succeeded(), counts.answered.load(Ordering::SeqCst));
        // A reset ends one stream, not its connection.
        assert_eq!(s.connections_opened, 2, "p={streams}");
        assert_eq!(counts.connections.load(Ordering::SeqCst), 2);
    }
}

/// What a raw (not h2) server sends after the client's preface.
#[derive(Clone, Copy)]
enum BadFrames {
    /// A PING frame of 7 bytes (PING is 8): FRAME_SIZE_ERROR.
    PingOfSeven,
    /// HEADERS on the client's first stream whose HPACK block names index
    /// 63, which neither table has: COMPRESSION_ERROR.
    BadHpack,
}

/// A frame header: length, type, flags, stream.
fn frame_head(len: u32, kind: u8, flags: u8, stream: u32) -> Vec<u8> {
    let mut head = len.to_be_bytes()[1..].to_vec();
    head.extend_from_slice(&[kind, flags]);
    head.extend_from_slice(&stream.to_be_bytes());
    head
}

/// Bytes of the client's frames after its 24-byte preface: the id of its
/// first HEADERS frame, if `bytes` hold one.
fn first_headers_stream(bytes: &[u8]) -> Option<u32> {
    let mut at = 24;
    while at + 9 <= bytes.len() {
        let len = u32::from_be_bytes([0, bytes[at], bytes[at + 1], bytes[at + 2]]) as usize;
        let stream = u32::from_be_bytes(bytes[at + 5..at + 9].try_into().ok()?) & 0x7fff_ffff;
        if bytes[at + 3] == 0x1 {
            return Some(stream);
        }
        at += 9 + len;
    }
    None
}

/// A thread-per-connection server speaking just enough HTTP/2 to break it.
fn bad_h2_server(bad: BadFrames) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            thread::spawn(move || {
                let mut got = Vec::new();
                let mut buf = [0u8; 4096];
                let stream = loop {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                    match bad {
                        BadFrames::PingOfSeven if got.len() >= 24 => break 0,
                        BadFrames::BadHpack => {
                            if let Some(stream) = first_headers_stream(&got) {
                                break stream;
                            }
                        }
                        _ => {}
                    }
                };
                let mut out = frame_head(0, 0x4, 0, 0); // SETTINGS, empty
                match bad {
                    BadFrames::PingOfSeven => {
                        out.extend(frame_head(7, 0x6, 0, 0));
                        out.extend_from_slice(&[0; 7]);
                    }
                    BadFrames::BadHpack => {
                        // END_HEADERS | END_STREAM
                        out.extend(frame_head(1, 0x1, 0x4 | 0x1, stream));
                        out.push(0x80 | 63);
                    }
                }
                if conn.write_all(&out).is_err() {
                    return;
                }
                // Until the client closes: a FIN, never a RST.
                while matches!(conn.read(&mut buf), Ok(n) if n > 0) {}
            });
        }
    });
    addr
}

#[test]
fn malformed_frames_and_bad_hpack_are_http2_protocol_errors() {
    for bad in [BadFrames::PingOfSeven, BadFrames::BadHpack] {
        for streams in [1, 10] {
            let addr = bad_h2_server(bad);
            let s = run(h2c(addr, 2, streams, 60));
            assert_eq!(s.total.issued(), 60);
            assert_eq!(
                s.total.errors(ErrorKind::Http2Protocol),
                60,
                "p={streams}: {:?}",
                s.total
            );
            // HTTP/1.1's kind stays HTTP/1.1's.
            assert_eq!(s.total.errors(ErrorKind::Protocol), 0);
        }
    }
}

/// What a raw TLS-port server does with the ClientHello.
#[derive(Clone, Copy)]
enum BadHandshake {
    /// Reads it, then closes.
    Close,
    /// Reads it, answers with bytes that are not TLS, then reads until the
    /// client closes.
    Garbage,
}

fn bad_tls_server(bad: BadHandshake) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            thread::spawn(move || {
                let mut buf = [0u8; 4096];
                // The ClientHello is one record; its first read is enough.
                if !matches!(conn.read(&mut buf), Ok(n) if n > 0) {
                    return;
                }
                match bad {
                    BadHandshake::Close => {}
                    BadHandshake::Garbage => {
                        let _ =
                            conn.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\nnot a ServerHello");
                        while matches!(conn.read(&mut buf), Ok(n) if n > 0) {}
                    }
                }
            });
        }
    });
    addr
}

#[test]
fn a_handshake_the_server_breaks_is_tls_per_request() {
    for bad in [BadHandshake::Close, BadHandshake::Garbage] {
        for http2 in [false, true] {
            let addr = bad_tls_server(bad);
            let mut c = Config::new(&[format!("https://{addr}/")]).unwrap();
            c.load = Load::closed(3, Stop::Requests(30)).unwrap();
            c.threads = 1;
            c.tls.insecure = true;
            if http2 {
                c.http2 = Http2Mode::Tls;
                c.tls.alpn_h2 = true;
                c.streams = 10;
            }
            let s = run(c);
            assert_eq!(s.total.issued(), 30);
            assert_eq!(
                s.total.errors(ErrorKind::Tls),
                30,
                "http2={http2}: {:?}",
                s.total
            );
            assert_eq!(s.connections_opened, 0, "no handshake completed");
            let notes = myriad::report::ReportModel::from_summary(&s)
                .notes
                .join("\n");
            assert!(
                notes.contains("30 requests failed in the TLS handshake"),
                "{notes}"
            );
        }
    }
}

/// The built-in server over TLS with `alpn` (none: a server that ignores
/// ALPN), serving HTTP/1.1 only.
fn https_server(alpn: Option<&[u8]>) -> myriad_server::ServerHandle {
    let identity = myriad_server::TlsIdentity::self_signed().unwrap();
    // Built here rather than `identity.acceptor()`, which offers h2 too.
    let tls = {
        use rustls_pki_types::pem::PemObject;
        let key =
            rustls_pki_types::PrivateKeyDer::from_pem_slice(identity.key_pem().as_bytes()).unwrap();
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let mut config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(identity.chain().to_vec(), key)
            .unwrap();
        config.alpn_protocols = alpn.map(|p| vec![p.to_vec()]).unwrap_or_default();
        myriad_server::Tls::from_config(Arc::new(config))
    };
    let listener = myriad_server::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    myriad_server::spawn_on(
        vec![myriad_server::StdListener::Tcp(listener)],
        myriad_server::ServerConfig::default(),
        Some(tls),
        1,
    )
    .unwrap()
}

#[test]
fn http2_to_a_server_without_h2_is_alpn_per_request_with_a_note() {
    // A server that refuses the ALPN offer (rustls: no_application_protocol),
    // and one that ignores ALPN and would speak HTTP/1.1.
    for alpn in [Some(&b"http/1.1"[..]), None] {
        let server = https_server(alpn);
        let mut c = Config::new(&[format!("https://{}/", server.local_addr())]).unwrap();
        c.load = Load::closed(2, Stop::Requests(40)).unwrap();
        c.threads = 1;
        c.tls.insecure = true;
        c.http2 = Http2Mode::Tls;
        c.tls.alpn_h2 = true;
        c.streams = 10;
        let s = run(c);
        assert_eq!(s.total.issued(), 40);
        assert_eq!(
            s.total.errors(ErrorKind::Alpn),
            40,
            "alpn {alpn:?}: {:?}",
            s.total
        );
        let notes = myriad::report::ReportModel::from_summary(&s)
            .notes
            .join("\n");
        assert!(
            notes.contains("40 requests failed because the server did not offer h2"),
            "{notes}"
        );
        assert_eq!(server.shutdown().requests_served, 0);
    }
}
