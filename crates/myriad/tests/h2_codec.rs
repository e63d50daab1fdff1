//! myriad's HTTP/2 client codec against real servers on 127.0.0.1 port 0:
//! the built-in server (the `h2` crate's server side) for large bodies both
//! ways and a header block that needs CONTINUATION frames; an `h2` server
//! with a low SETTINGS_MAX_CONCURRENT_STREAMS that counts the streams open
//! at once; a raw server that PINGs and answers only once its PING is
//! acknowledged. Every request is one outcome.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use myriad::config::Http2Mode;
use myriad::{Config, ErrorKind, Load, Stop, Summary};
use myriad_server::ServerConfig;
use support::{builtin, url};

/// `n` requests over `connections` h2c connections with `streams` streams.
fn h2c(addr: SocketAddr, connections: usize, streams: usize, n: u64) -> Config {
    let mut c = Config::new(&[url(addr)]).unwrap();
    c.load = Load::closed(connections, Stop::Requests(n)).unwrap();
    c.threads = 1;
    c.http2 = Http2Mode::PriorKnowledge;
    c.streams = streams;
    c.timeout = Duration::from_secs(20);
    c
}

/// A run that must end by itself (see [`support::run_bounded`]).
fn run(c: Config) -> Summary {
    support::run_bounded(c)
}

#[test]
fn ten_megabyte_responses_flow_at_full_speed() {
    const BODY: usize = 10_000_000;
    let server = builtin(ServerConfig {
        body_size: BODY,
        ..ServerConfig::default()
    });
    for streams in [1, 4] {
        let started = Instant::now();
        let s = run(h2c(server.local_addr(), 2, streams, 20));
        let took = started.elapsed();
        assert_eq!(s.total.succeeded(), 20, "p={streams}: {:?}", s.total);
        // The body and its frames' headers: 611 DATA frames of 16 KiB each.
        assert!(
            s.total.bytes_received >= 20 * BODY as u64,
            "p={streams}: {} bytes",
            s.total.bytes_received
        );
        // 200 MB: at the default 64 KiB windows with a WINDOW_UPDATE per
        // round trip this takes many seconds; with large windows well under.
        println!("p={streams}: 200 MB in {took:?}");
        assert!(took < Duration::from_secs(20), "p={streams}: {took:?}");
    }
    assert_eq!(server.shutdown().requests_served, 40);
}

#[test]
fn a_body_larger_than_the_default_windows_is_sent_whole() {
    // The server reads each body to its end before it answers, and answers
    // 413 beyond `max_body`: 200 means the whole body arrived.
    let server = builtin(ServerConfig {
        max_body: 300_000,
        ..ServerConfig::default()
    });
    // Twice: as a constant body, and rendered per request from a template
    // (kept with its stream until the windows let all of it go).
    let cases = [(250_000, 200), (400_000, 413)]
        .map(|(len, status)| [(len, status, false), (len, status, true)]);
    for (len, status, templated) in cases.into_iter().flatten() {
        for streams in [1, 10] {
            let mut c = h2c(server.local_addr(), 2, streams, 40);
            c.method = "POST".into();
            c.body = vec![b'b'; len];
            if templated {
                c.body.splice(0..0, *b"{{seq}}");
            }
            let s = run(c);
            assert_eq!(s.total.issued(), 40);
            let of_status = s
                .total
                .statuses()
                .find(|&(code, _)| code == status)
                .map_or(0, |(_, n)| n);
            assert_eq!(of_status, 40, "{len} bytes, p={streams}: {:?}", s.total);
            if status == 200 {
                assert!(s.total.bytes_sent >= 40 * len as u64);
            }
        }
    }
    let stats = server.shutdown();
    assert_eq!(stats.bodies_too_large, 160);
}

#[test]
fn a_header_block_larger_than_a_frame_goes_in_continuation_frames() {
    let server = builtin(ServerConfig::default());
    let mut c = h2c(server.local_addr(), 2, 10, 200);
    // 40 KB of headers: HEADERS and two CONTINUATIONs at 16 KiB frames.
    c.headers = (0..4)
        .map(|i| (format!("x-large-{i}"), "v".repeat(10_000)))
        .collect();
    let s = run(c);
    assert_eq!(s.total.succeeded(), 200, "{:?}", s.total);
    assert!(s.total.bytes_sent >= 200 * 40_000);
    assert_eq!(server.shutdown().requests_served, 200);
}

/// An h2c server announcing `max` concurrent streams that holds each
/// response for a moment and records the most streams it had open at once.
fn limited_server(max: u32) -> (SocketAddr, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let peak = Arc::new(AtomicU64::new(0));
    let shared = peak.clone();
    thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let local = tokio::task::LocalSet::new();
        local.block_on(&runtime, async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let open = Arc::new(AtomicU64::new(0));
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let (peak, open) = (shared.clone(), open.clone());
                tokio::task::spawn_local(async move {
                    let mut conn = h2::server::Builder::new()
                        .max_concurrent_streams(max)
                        .handshake::<_, bytes::Bytes>(tcp)
                        .await
                        .unwrap();
                    while let Some(Ok((_, mut respond))) = conn.accept().await {
                        let now = open.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(now, Ordering::SeqCst);
                        let open = open.clone();
                        tokio::task::spawn_local(async move {
                            tokio::time::sleep(Duration::from_millis(5)).await;
                            open.fetch_sub(1, Ordering::SeqCst);
                            let response = http::Response::builder().status(200).body(()).unwrap();
                            let _ = respond.send_response(response, true);
                        });
                    }
                });
            }
        });
    });
    (addr, peak)
}

#[test]
fn the_servers_max_concurrent_streams_is_respected() {
    let (addr, peak) = limited_server(4);
    let s = run(h2c(addr, 1, 32, 300));
    // Streams beyond the limit opened before the server's SETTINGS arrived
    // are refused by it and sent again: none of them is an error.
    assert_eq!(s.total.succeeded(), 300, "{:?}", s.total);
    assert_eq!(s.connections_opened, 1);
    assert!(
        peak.load(Ordering::SeqCst) <= 4,
        "peak {}",
        peak.load(Ordering::SeqCst)
    );
}

/// A raw h2c server that sends SETTINGS and a PING, and answers a request
/// (`:status 200`, END_STREAM) only once the client has acknowledged the
/// PING with its payload; it counts the acknowledgements.
fn pinging_server() -> (SocketAddr, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let acks = Arc::new(AtomicU64::new(0));
    let shared = acks.clone();
    thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let acks = shared.clone();
            thread::spawn(move || {
                let mut out = vec![0, 0, 0, 0x4, 0, 0, 0, 0, 0]; // SETTINGS
                out.extend_from_slice(&[0, 0, 8, 0x6, 0, 0, 0, 0, 0]);
                out.extend_from_slice(b"pingpong");
                if conn.write_all(&out).is_err() {
                    return;
                }
                let mut got = Vec::new();
                let mut buf = [0u8; 4096];
                let mut at = 24; // after the preface
                let mut acked = false;
                let mut streams = Vec::new();
                loop {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                    while at + 9 <= got.len() {
                        let len =
                            u32::from_be_bytes([0, got[at], got[at + 1], got[at + 2]]) as usize;
                        if at + 9 + len > got.len() {
                            break;
                        }
                        let (kind, flags) = (got[at + 3], got[at + 4]);
                        let stream = u32::from_be_bytes(got[at + 5..at + 9].try_into().unwrap());
                        if kind == 0x6
                            && flags & 1 == 1
                            && &got[at + 9..at + 9 + len] == b"pingpong"
                        {
                            acked = true;
                            acks.fetch_add(1, Ordering::SeqCst);
                        }
                        if kind == 0x1 {
                            streams.push(stream);
                        }
                        at += 9 + len;
                    }
                    if acked {
                        for stream in streams.drain(..) {
                            // HEADERS, END_HEADERS | END_STREAM, :status 200.
                            let mut frame = vec![0, 0, 1, 0x1, 0x5];
                            frame.extend_from_slice(&stream.to_be_bytes());
                            frame.push(0x88);
                            if conn.write_all(&frame).is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    (addr, acks)
}

#[test]
fn a_servers_ping_is_answered() {
    let (addr, acks) = pinging_server();
    let s = run(h2c(addr, 2, 5, 100));
    assert_eq!(s.total.succeeded(), 100, "{:?}", s.total);
    assert_eq!(s.total.errors(ErrorKind::Timeout), 0);
    assert_eq!(acks.load(Ordering::SeqCst), 2, "one PING per connection");
}
