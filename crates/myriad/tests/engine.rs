//! The engine against real servers on loopback: accounting, keep-alive, framing,
//! failures, delay, round-robin and cancellation.

mod support;

use std::time::{Duration, Instant};

use myriad::{Config, ErrorKind, Load, Stop, Summary};
use myriad_server::{Delay, ServerConfig};
use support::*;

fn config(urls: &[String], connections: usize, stop: Stop) -> Config {
    let mut c = Config::new(urls).unwrap();
    c.load = Load::closed(connections, stop).unwrap();
    c.threads = 2;
    c
}

fn run(c: Config) -> Summary {
    let s = myriad::run(c).unwrap();
    assert_balanced(&s);
    s
}

#[test]
fn exact_request_count_at_several_concurrencies() {
    let server = builtin(ServerConfig::default());
    let mut expected_served = 0;
    // (requests, connections), including fewer requests than connections.
    for (n, c) in [(1, 1), (10, 3), (7, 50), (1000, 50), (5000, 200), (3, 2)] {
        let s = run(config(&[url(server.local_addr())], c, Stop::Requests(n)));
        assert_eq!(s.total.issued(), n, "n={n} c={c}");
        assert_eq!(s.total.succeeded(), n, "n={n} c={c}");
        assert_eq!(s.total.failures(), 0);
        assert!(s.connections_opened <= n.min(c as u64), "n={n} c={c}");
        expected_served += n;
    }
    assert_eq!(server.shutdown().requests_served, expected_served);
}

#[test]
fn keep_alive_reuses_exactly_c_connections() {
    let server = builtin(ServerConfig::default());
    let s = run(config(
        &[url(server.local_addr())],
        20,
        Stop::Requests(2000),
    ));
    assert_eq!(s.total.succeeded(), 2000);
    assert_eq!(s.connections_opened, 20);
    let stats = server.shutdown();
    assert_eq!(stats.connections_accepted, 20);
    assert_eq!(stats.requests_served, 2000);
}

#[test]
fn disable_keepalive_opens_one_connection_per_request() {
    let server = builtin(ServerConfig::default());
    let mut c = config(&[url(server.local_addr())], 10, Stop::Requests(200));
    c.keep_alive = false;
    let s = run(c);
    assert_eq!(s.total.succeeded(), 200);
    assert_eq!(s.connections_opened, 200);
    assert_eq!(server.shutdown().connections_accepted, 200);
}

#[test]
fn chunked_responses_keep_the_connection() {
    let srv = scripted(Script::Reply(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    ));
    let s = run(config(&[url(srv.addr)], 4, Stop::Requests(200)));
    assert_eq!(s.total.succeeded(), 200);
    assert_eq!(s.connections_opened, 4);
}

#[test]
fn close_delimited_responses_complete_at_close() {
    let srv = scripted(Script::ReplyAndClose(
        b"HTTP/1.1 200 OK\r\n\r\nbody until close",
    ));
    let s = run(config(&[url(srv.addr)], 4, Stop::Requests(50)));
    assert_eq!(s.total.succeeded(), 50);
    assert_eq!(s.connections_opened, 50);
}

#[test]
fn interim_1xx_responses_are_skipped() {
    let srv = scripted(Script::Reply(
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok",
    ));
    let s = run(config(&[url(srv.addr)], 2, Stop::Requests(100)));
    assert_eq!(s.total.statuses().collect::<Vec<_>>(), vec![(201, 100)]);
    assert_eq!(s.connections_opened, 2);
}

#[test]
fn large_bodies_are_counted_not_kept() {
    let body = 1 << 20;
    let server = builtin(ServerConfig {
        body_size: body,
        ..ServerConfig::default()
    });
    let s = run(config(&[url(server.local_addr())], 4, Stop::Requests(40)));
    assert_eq!(s.total.succeeded(), 40);
    assert!(s.total.bytes_received >= 40 * body as u64);
    assert_eq!(s.connections_opened, 4);
}

#[test]
fn head_responses_have_no_body() {
    let server = builtin(ServerConfig {
        body_size: 1000,
        ..ServerConfig::default()
    });
    let mut c = config(&[url(server.local_addr())], 2, Stop::Requests(100));
    c.method = "HEAD".into();
    let s = run(c);
    assert_eq!(s.total.succeeded(), 100);
    assert_eq!(s.connections_opened, 2, "HEAD must not wait for a body");
    assert!(s.total.bytes_received < 100 * 1000);
}

#[test]
fn http_errors_are_counted_by_status() {
    let server = builtin(ServerConfig {
        status: 503,
        ..ServerConfig::default()
    });
    let s = run(config(&[url(server.local_addr())], 5, Stop::Requests(100)));
    assert_eq!(s.total.http_errors(), 100);
    assert_eq!(s.total.statuses().collect::<Vec<_>>(), vec![(503, 100)]);
}

#[test]
fn server_closing_mid_response_is_an_io_error() {
    let srv = scripted(Script::ReplyAndClose(
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort",
    ));
    let s = run(config(&[url(srv.addr)], 3, Stop::Requests(30)));
    assert_eq!(s.total.errors(ErrorKind::Io), 30);
}

#[test]
fn garbage_is_a_protocol_error() {
    let srv = scripted(Script::Reply(b"garbage that is not http\r\n\r\n"));
    let s = run(config(&[url(srv.addr)], 3, Stop::Requests(30)));
    assert_eq!(s.total.errors(ErrorKind::Protocol), 30);
}

#[test]
fn silent_server_times_out_and_the_run_ends() {
    let srv = scripted(Script::Silent);
    let mut c = config(&[url(srv.addr)], 5, Stop::Requests(10));
    c.timeout = Duration::from_millis(200);
    let started = Instant::now();
    let s = run(c);
    assert_eq!(s.total.errors(ErrorKind::Timeout), 10);
    assert!(started.elapsed() < Duration::from_secs(10));

    // Bounded by time: ends within duration + timeout (plus slack for a slow machine).
    let mut c = config(
        &[url(srv.addr)],
        5,
        Stop::Duration(Duration::from_millis(300)),
    );
    c.timeout = Duration::from_millis(300);
    let started = Instant::now();
    let s = run(c);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(s.total.issued() >= 5);
    assert_eq!(s.total.errors(ErrorKind::Timeout), s.total.issued());
}

#[test]
fn refused_port_counts_connect_errors() {
    let addr = refused_addr();
    let s = run(config(&[url(addr)], 5, Stop::Requests(50)));
    assert_eq!(s.total.errors(ErrorKind::Connect), 50);
    assert_eq!(s.connections_opened, 0);
}

#[test]
fn server_killed_mid_run_keeps_the_invariant() {
    let server = builtin(ServerConfig::default());
    let c = config(
        &[url(server.local_addr())],
        20,
        Stop::Duration(Duration::from_millis(1500)),
    );
    let run = myriad::start(c).unwrap();
    wait_until("the server to serve 200 requests", || {
        server.stats().requests_served >= 200
    });
    server.shutdown();
    let s = run.wait().unwrap();
    assert_balanced(&s);
    assert!(s.total.succeeded() > 0);
    assert!(s.total.failures() > 0, "requests after the kill must fail");
    assert!(!s.interrupted);
}

#[test]
fn server_delay_is_honoured() {
    let server = builtin(ServerConfig {
        delay: Delay::Fixed(Duration::from_millis(50)),
        ..ServerConfig::default()
    });
    let s = run(config(&[url(server.local_addr())], 10, Stop::Requests(60)));
    let p50 = s.total.latency().value_at_quantile(0.5);
    assert!((50_000..150_000).contains(&p50), "p50 = {p50} µs");
    assert!(s.total.latency().min() >= 50_000);
}

#[test]
fn round_robin_splits_requests_evenly() {
    let a = builtin(ServerConfig::default());
    let b = builtin(ServerConfig::default());
    let s = run(config(
        &[url(a.local_addr()), url(b.local_addr())],
        10,
        Stop::Requests(1001),
    ));
    assert_eq!(s.targets.len(), 2);
    assert_eq!(s.targets[0].tally.issued(), 501);
    assert_eq!(s.targets[1].tally.issued(), 500);
    assert_eq!(a.shutdown().requests_served, 501);
    assert_eq!(b.shutdown().requests_served, 500);
}

#[test]
fn cancel_ends_the_run_and_counts_in_flight_requests() {
    let srv = scripted(Script::Silent);
    let c = config(&[url(srv.addr)], 8, Stop::Duration(Duration::from_secs(60)));
    let run = myriad::start(c).unwrap();
    // Every connection has its request in flight (the server never answers).
    wait_until("8 requests in flight", || run.progress().issued == 8);
    let started = Instant::now();
    run.cancel();
    let s = run.wait().unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_balanced(&s);
    assert!(s.interrupted);
    assert_eq!(s.total.errors(ErrorKind::Cancelled), 8);
}

#[test]
fn progress_reaches_the_totals() {
    let server = builtin(ServerConfig::default());
    let run = myriad::start(config(&[url(server.local_addr())], 4, Stop::Requests(500))).unwrap();
    wait_until("the run to finish", || run.is_finished());
    let p = run.progress();
    assert_eq!((p.issued, p.completed, p.failures), (500, 500, 0));
    run.wait().unwrap();
}

#[test]
fn pipelining_keeps_exact_counts_over_few_connections() {
    let server = builtin(ServerConfig::default());
    let mut c = config(&[url(server.local_addr())], 7, Stop::Requests(10_007));
    c.pipeline = 16;
    let s = run(c);
    assert_eq!(s.total.issued(), 10_007);
    assert_eq!(s.total.succeeded(), 10_007);
    assert_eq!(s.connections_opened, 7, "pipelined connections stay open");
    assert_eq!(server.shutdown().requests_served, 10_007);
}

#[test]
fn a_server_closing_mid_pipeline_fails_each_unanswered_request_once() {
    // Each connection gets one answer to the requests written ahead on it,
    // then the server closes: every other request written on it ends as one
    // `io` failure, and the next request reconnects.
    let srv = scripted(Script::ReplyAndClose(
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    ));
    let mut c = config(&[url(srv.addr)], 2, Stop::Requests(100));
    c.pipeline = 4;
    let s = run(c);
    let accepted = srv.accepted.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(s.total.issued(), 100);
    assert_eq!(s.total.succeeded() + s.total.failures(), 100);
    assert_eq!(s.total.failures(), s.total.errors(ErrorKind::Io));
    assert!(
        s.total.failures() > 0,
        "requests behind the answered one fail"
    );
    assert_eq!(s.total.succeeded(), accepted, "one answer per connection");
}

#[test]
fn a_unix_socket_carries_the_requests_of_the_url() {
    use std::io::{Read, Write};
    use std::os::unix::net::UnixListener;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    let dir = std::env::temp_dir().join(format!("myriad-unix-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("server.sock");
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).unwrap();
    let served = Arc::new(AtomicU64::new(0));
    let counter = served.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let counter = counter.clone();
            std::thread::spawn(move || {
                let (mut buf, mut pending) = ([0u8; 4096], Vec::new());
                while let Ok(n) = conn.read(&mut buf) {
                    if n == 0 {
                        return;
                    }
                    pending.extend_from_slice(&buf[..n]);
                    while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                        // The URL's host and path, not the socket's, are on the wire.
                        assert!(
                            pending.starts_with(b"GET /via/unix HTTP/1.1\r\nHost: example.test")
                        );
                        pending.drain(..end + 4);
                        counter.fetch_add(1, Ordering::SeqCst);
                        let reply = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                        if conn.write_all(reply).is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    let mut c = Config::new_unix(&["http://example.test/via/unix"], path.clone()).unwrap();
    c.load = Load::closed(3, Stop::Requests(500)).unwrap();
    let s = run(c);
    assert_eq!(s.total.succeeded(), 500);
    assert_eq!(s.connections_opened, 3);
    assert_eq!(served.load(Ordering::SeqCst), 500);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_server_closing_mid_handshake_is_a_tls_failure_per_request() {
    // Reads the ClientHello, then closes: every request ends as one `tls`
    // failure, and the invariant holds.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let mut hello = [0u8; 64];
            let _ = std::io::Read::read(&mut conn, &mut hello);
        }
    });
    let mut c = config(&[format!("https://{addr}/")], 3, Stop::Requests(30));
    c.tls.insecure = true;
    let s = run(c);
    assert_eq!(s.total.errors(ErrorKind::Tls), 30, "{:?}", s.total);
    assert_eq!(
        s.connections_opened, 0,
        "no connection completed its handshake"
    );
}
