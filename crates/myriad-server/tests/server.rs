//! The server over real sockets on 127.0.0.1: every test starts its own server
//! on port 0 and bounds every read with a timeout, so a bug fails, never hangs.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::thread::sleep;
use std::time::{Duration, Instant};

use myriad_server::{
    bind, bind_reuse_port, run, spawn, spawn_many, Delay, ListenSpec, PortReservation,
    ServerConfig, ServerHandle, ServerStats,
};

const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
const CLOSE_RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n";
const READ_TIMEOUT: Duration = Duration::from_secs(5);

fn start(config: ServerConfig) -> ServerHandle {
    let listener = bind("127.0.0.1:0".parse().unwrap()).unwrap();
    spawn(listener, config, 1).unwrap()
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    stream
}

fn read_n(stream: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0; n];
    stream.read_exact(&mut buf).unwrap();
    buf
}

/// Reads until the server closes; panics on a read timeout.
fn read_to_eof(stream: &mut TcpStream) -> Vec<u8> {
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf).unwrap();
    buf
}

/// Whether the connection is still open with nothing to read after `wait`.
fn stays_open(stream: &mut TcpStream, wait: Duration) -> bool {
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut byte = [0];
    let open = match stream.read(&mut byte) {
        Err(e) => matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        Ok(_) => false,
    };
    stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    open
}

/// Counters are updated right after a write, so a client can read an answer
/// a moment before it is counted: poll.
fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(3);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        sleep(Duration::from_millis(5));
    }
}

#[test]
fn keep_alive_serves_many_requests_on_one_connection() {
    let server = start(ServerConfig::default());
    let mut stream = connect(server.local_addr());
    for _ in 0..3 {
        stream.write_all(GET).unwrap();
        assert_eq!(read_n(&mut stream, RESPONSE.len()), RESPONSE);
    }
    wait_for("3 requests", || server.stats().requests_served == 3);
    let stats = server.stats();
    assert_eq!(stats.connections_accepted, 1);
    assert_eq!(stats.connections_open, 1);
    assert_eq!(stats.peak_connections, 1);
    drop(stream);
    wait_for("the close", || server.stats().connections_open == 0);
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let server = start(ServerConfig::default());
    let mut stream = connect(server.local_addr());
    let requests = [
        b"GET /a HTTP/1.1\r\nHost: t\r\n\r\n".as_slice(),
        b"GET /b HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET /c HTTP/1.1\r\nHost: t\r\n\r\n",
    ]
    .concat();
    stream.write_all(&requests).unwrap();
    assert_eq!(read_n(&mut stream, 3 * RESPONSE.len()), RESPONSE.repeat(3));
    assert!(
        stays_open(&mut stream, Duration::from_millis(100)),
        "extra bytes or close"
    );
    wait_for("3 requests", || server.stats().requests_served == 3);
}

#[test]
fn connection_close_is_honoured() {
    let server = start(ServerConfig::default());
    let mut stream = connect(server.local_addr());
    stream
        .write_all(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    assert_eq!(read_to_eof(&mut stream), CLOSE_RESPONSE);
}

#[test]
fn http10_closes_unless_keep_alive() {
    let server = start(ServerConfig::default());
    let mut stream = connect(server.local_addr());
    stream.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    assert_eq!(read_to_eof(&mut stream), CLOSE_RESPONSE);

    let keep_alive = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok";
    let mut stream = connect(server.local_addr());
    for _ in 0..2 {
        stream
            .write_all(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .unwrap();
        assert_eq!(read_n(&mut stream, keep_alive.len()), keep_alive);
    }
}

#[test]
fn head_has_headers_but_no_body() {
    let server = start(ServerConfig::default());
    let mut stream = connect(server.local_addr());
    let head = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n";
    stream.write_all(b"HEAD / HTTP/1.1\r\n\r\n").unwrap();
    stream.write_all(GET).unwrap();
    // If HEAD carried a body, the stream would be two bytes longer.
    assert_eq!(
        read_n(&mut stream, head.len() + RESPONSE.len()),
        [head.as_slice(), RESPONSE].concat()
    );
    assert!(stays_open(&mut stream, Duration::from_millis(100)));
}

#[test]
fn status_and_body_size_are_configurable() {
    let server = start(ServerConfig {
        status: 503,
        body_size: 10_000,
        ..ServerConfig::default()
    });
    let mut stream = connect(server.local_addr());
    stream.write_all(GET).unwrap();
    let head = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 10000\r\n\r\n";
    assert_eq!(read_n(&mut stream, head.len()), head);
    assert_eq!(read_n(&mut stream, 10_000).len(), 10_000);
    assert!(stays_open(&mut stream, Duration::from_millis(100)));
}

#[test]
fn malformed_request_gets_400_and_close() {
    let server = start(ServerConfig::default());
    let mut stream = connect(server.local_addr());
    stream.write_all(b"NOT HTTP AT ALL\r\n\r\n").unwrap();
    let answer = read_to_eof(&mut stream);
    assert_eq!(
        answer,
        b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    wait_for("the bad request count", || server.stats().bad_requests == 1);
    assert_eq!(server.stats().requests_served, 0);
}

#[test]
fn bad_content_length_gets_400_after_earlier_answers() {
    let server = start(ServerConfig::default());
    let mut stream = connect(server.local_addr());
    stream
        .write_all(&[GET, b"POST / HTTP/1.1\r\nContent-Length: nope\r\n\r\n"].concat())
        .unwrap();
    let answer = read_to_eof(&mut stream);
    assert!(answer.starts_with(RESPONSE), "{answer:?}");
    assert!(answer[RESPONSE.len()..].starts_with(b"HTTP/1.1 400 Bad Request\r\n"));
}

#[test]
fn request_bodies_are_skipped() {
    let server = start(ServerConfig::default());
    let mut stream = connect(server.local_addr());
    stream
        .write_all(b"POST /up HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
        .unwrap();
    // The pause is the case under test, not a wait for an event: it makes the
    // server read the body in two parts rather than in one read.
    sleep(Duration::from_millis(20));
    stream.write_all(b"6\r\n world\r\n0\r\n\r\n").unwrap();
    stream.write_all(GET).unwrap();
    assert_eq!(read_n(&mut stream, 2 * RESPONSE.len()), RESPONSE.repeat(2));

    // A Content-Length body split over writes, then a request in the same write
    // as the body's end.
    stream
        .write_all(b"PUT / HTTP/1.1\r\nContent-Length: 10\r\n\r\n12345")
        .unwrap();
    // Again the split itself is under test (see above).
    sleep(Duration::from_millis(20));
    stream
        .write_all(&[b"67890".as_slice(), GET].concat())
        .unwrap();
    assert_eq!(read_n(&mut stream, 2 * RESPONSE.len()), RESPONSE.repeat(2));
    wait_for("4 requests", || server.stats().requests_served == 4);
}

#[test]
fn deep_pipelines_outgrow_the_pooled_buffers() {
    let server = start(ServerConfig::default());
    let mut stream = connect(server.local_addr());
    // 1,000 answers are 40 KB: more than one pooled write buffer.
    for _ in 0..3 {
        stream.write_all(&GET.repeat(1000)).unwrap();
        assert_eq!(
            read_n(&mut stream, 1000 * RESPONSE.len()),
            RESPONSE.repeat(1000)
        );
    }
    stream.write_all(GET).unwrap();
    assert_eq!(read_n(&mut stream, RESPONSE.len()), RESPONSE);
    wait_for("3,001 requests", || server.stats().requests_served == 3001);
}

#[test]
fn spawn_many_serves_every_listener() {
    let listeners = vec![
        bind("127.0.0.1:0".parse().unwrap()).unwrap(),
        bind("127.0.0.1:0".parse().unwrap()).unwrap(),
        bind("127.0.0.1:0".parse().unwrap()).unwrap(),
    ];
    let server = spawn_many(listeners, ServerConfig::default(), 1).unwrap();
    let addrs = server.local_addrs().to_vec();
    assert_eq!(addrs.len(), 3);
    assert_eq!(server.local_addr(), addrs[0]);
    for addr in &addrs {
        for _ in 0..3 {
            let mut stream = connect(*addr);
            stream.write_all(GET).unwrap();
            assert_eq!(read_n(&mut stream, RESPONSE.len()), RESPONSE);
        }
    }
    wait_for("9 requests", || server.stats().requests_served == 9);
    assert_eq!(server.shutdown().connections_accepted, 9);
    assert!(spawn_many(Vec::new(), ServerConfig::default(), 1).is_err());
}

#[test]
fn a_port_range_binds_every_port() {
    // Find a free run of ports by reserving one and trying the next two.
    let (spec, listeners) = (0..50)
        .find_map(|_| {
            let first = PortReservation::bind("127.0.0.1:0".parse().unwrap())
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
                .min(65_000);
            let spec: ListenSpec = format!("127.0.0.1:{first}-{}", first + 2).parse().unwrap();
            spec.bind_all().ok().map(|l| (spec, l))
        })
        .unwrap();
    let server = spawn_many(listeners, ServerConfig::default(), 1).unwrap();
    let addrs: Vec<_> = spec.addrs().collect();
    assert_eq!(server.local_addrs(), addrs);
    for addr in addrs {
        let mut stream = connect(addr);
        stream.write_all(GET).unwrap();
        assert_eq!(read_n(&mut stream, RESPONSE.len()), RESPONSE);
    }
}

/// A supervisor holds its port with a reservation while workers start: the
/// reservation must never take a connection, or that client would hang.
#[test]
fn a_port_reservation_takes_no_connections() {
    let reservation = PortReservation::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = reservation.local_addr().unwrap();
    let server = spawn(bind_reuse_port(addr).unwrap(), ServerConfig::default(), 1).unwrap();
    for _ in 0..50 {
        let mut stream = connect(addr);
        stream.write_all(GET).unwrap();
        assert_eq!(read_n(&mut stream, RESPONSE.len()), RESPONSE);
    }
    drop(reservation);
    let mut stream = connect(addr);
    stream.write_all(GET).unwrap();
    assert_eq!(read_n(&mut stream, RESPONSE.len()), RESPONSE);
    drop(server);
}

#[test]
fn expect_continue_gets_100_before_the_body() {
    let server = start(ServerConfig::default());
    let mut stream = connect(server.local_addr());
    stream
        .write_all(b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
        .unwrap();
    let cont = b"HTTP/1.1 100 Continue\r\n\r\n";
    assert_eq!(read_n(&mut stream, cont.len()), cont);
    stream.write_all(b"body").unwrap();
    assert_eq!(read_n(&mut stream, RESPONSE.len()), RESPONSE);
}

#[test]
fn large_heads_grow_the_buffer_up_to_the_limit() {
    let server = start(ServerConfig::default());
    let mut stream = connect(server.local_addr());
    let big = format!("GET / HTTP/1.1\r\nX-Big: {}\r\n\r\n", "a".repeat(30_000));
    stream.write_all(big.as_bytes()).unwrap();
    assert_eq!(read_n(&mut stream, RESPONSE.len()), RESPONSE);
    // And the connection still works once the buffer shrinks back.
    stream.write_all(GET).unwrap();
    assert_eq!(read_n(&mut stream, RESPONSE.len()), RESPONSE);

    let huge = format!("GET / HTTP/1.1\r\nX-Big: {}\r\n\r\n", "a".repeat(70_000));
    let mut stream = connect(server.local_addr());
    // The server may close before taking all of it; only the answer matters.
    let _ = stream.write_all(huge.as_bytes());
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    assert!(
        answer.starts_with(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"),
        "{answer:?}"
    );
    assert_eq!(server.stats().heads_too_large, 1);
}

#[test]
fn slow_heads_are_closed_but_idle_connections_are_not() {
    let server = start(ServerConfig {
        header_timeout: Duration::from_millis(200),
        ..ServerConfig::default()
    });
    let mut idle = connect(server.local_addr());
    let mut answered = connect(server.local_addr());
    answered.write_all(GET).unwrap();
    assert_eq!(read_n(&mut answered, RESPONSE.len()), RESPONSE);

    let mut slow = connect(server.local_addr());
    let started = Instant::now();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n").unwrap();
    // Slowloris pacing, the behaviour under test: the rest of the head comes
    // 100 ms later, inside the timeout.
    sleep(Duration::from_millis(100));
    // More bytes do not restart the clock: the whole head has 200 ms.
    slow.write_all(b"X-More: 1\r\n").unwrap();
    assert_eq!(read_to_eof(&mut slow), b"");
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(190), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(1), "{elapsed:?}");

    // Both others have now been idle for longer than the header timeout.
    assert!(stays_open(&mut idle, Duration::from_millis(300)));
    assert!(stays_open(&mut answered, Duration::from_millis(10)));
    idle.write_all(GET).unwrap();
    assert_eq!(read_n(&mut idle, RESPONSE.len()), RESPONSE);
    let stats = server.stats();
    assert_eq!(stats.header_timeouts, 1);
    assert_eq!(stats.connections_accepted, 3);
}

#[test]
fn fixed_delay_holds_each_answer() {
    let server = start(ServerConfig {
        delay: Delay::Fixed(Duration::from_millis(100)),
        ..ServerConfig::default()
    });
    let mut stream = connect(server.local_addr());
    let started = Instant::now();
    stream.write_all(GET).unwrap();
    assert_eq!(read_n(&mut stream, RESPONSE.len()), RESPONSE);
    assert!(
        started.elapsed() >= Duration::from_millis(100),
        "{:?}",
        started.elapsed()
    );

    // Pipelined requests wait one after the other, as a sequential handler would.
    let started = Instant::now();
    stream.write_all(&GET.repeat(2)).unwrap();
    assert_eq!(read_n(&mut stream, 2 * RESPONSE.len()), RESPONSE.repeat(2));
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn uniform_delay_stays_in_range() {
    let server = start(ServerConfig {
        delay: "20ms..60ms".parse().unwrap(),
        ..ServerConfig::default()
    });
    let mut stream = connect(server.local_addr());
    for _ in 0..3 {
        let started = Instant::now();
        stream.write_all(GET).unwrap();
        assert_eq!(read_n(&mut stream, RESPONSE.len()), RESPONSE);
        let elapsed = started.elapsed();
        assert!(elapsed >= Duration::from_millis(20), "{elapsed:?}");
    }
}

#[test]
fn shutdown_is_prompt_with_connections_open() {
    let listener = bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let server = spawn(
        listener,
        ServerConfig {
            delay: Delay::Fixed(Duration::from_secs(30)),
            ..ServerConfig::default()
        },
        2,
    )
    .unwrap();
    let addr = server.local_addr();
    let mut idle = connect(addr);
    let mut partial = connect(addr);
    partial.write_all(b"GET / HTTP/1.1\r\n").unwrap();
    let mut waiting = connect(addr);
    waiting.write_all(GET).unwrap();
    wait_for("3 open connections", || {
        server.stats().connections_open == 3
    });

    let started = Instant::now();
    let stats = server.shutdown();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(stats.connections_open, 0);
    assert_eq!(stats.peak_connections, 3);
    assert_eq!(stats.requests_served, 0);
    for stream in [&mut idle, &mut partial, &mut waiting] {
        // Closed by the server: end of stream, or a reset for unread bytes.
        let mut buf = Vec::new();
        match stream.read_to_end(&mut buf) {
            Ok(_) => assert!(buf.is_empty()),
            Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionReset),
        }
    }
    assert!(TcpStream::connect(addr).is_err(), "still listening");
}

#[test]
fn dropping_the_handle_stops_the_server() {
    let server = start(ServerConfig::default());
    let addr = server.local_addr();
    let _open = connect(addr);
    drop(server);
    assert!(TcpStream::connect(addr).is_err(), "still listening");
}

#[test]
fn peak_counts_concurrent_connections() {
    let server = start(ServerConfig::default());
    let streams: Vec<_> = (0..5).map(|_| connect(server.local_addr())).collect();
    wait_for("5 open", || server.stats().connections_open == 5);
    drop(streams);
    wait_for("all closed", || server.stats().connections_open == 0);
    let _again = connect(server.local_addr());
    wait_for("1 open", || server.stats().connections_open == 1);
    let stats = server.stats();
    assert_eq!((stats.connections_accepted, stats.peak_connections), (6, 5));
}

#[test]
fn invalid_status_is_rejected_up_front() {
    let listener = bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let config = ServerConfig {
        status: 100,
        ..ServerConfig::default()
    };
    let err = spawn(listener, config, 1).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}

/// `run` used directly, on the caller's runtime, with the caller's shutdown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_returns_when_shutdown_resolves() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stats = Arc::new(ServerStats::new());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(run(
        vec![listener],
        ServerConfig::default(),
        Arc::clone(&stats),
        async {
            let _ = stopped.await;
        },
    ));

    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(GET).await.unwrap();
    let mut buf = vec![0; RESPONSE.len()];
    stream.read_exact(&mut buf).await.unwrap();
    assert_eq!(buf, RESPONSE);

    stop.send(()).unwrap();
    let result = tokio::time::timeout(Duration::from_secs(2), server)
        .await
        .expect("run did not return")
        .unwrap();
    result.unwrap();
    // Connection tasks are gone when run returns, not some time later.
    assert_eq!(stats.connections_open(), 0);
    assert_eq!(stats.requests_served(), 1);
    let n = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buf))
        .await
        .expect("connection not closed");
    assert!(matches!(n, Ok(0) | Err(_)));
}

/// `max_body` over a real socket: a body at the limit is answered, one
/// announced longer gets `413` unread, a chunked one gets it once its bytes
/// pass the limit; both close the connection and are counted.
#[test]
fn bodies_over_max_body_get_413_and_close() {
    let server = start(ServerConfig {
        max_body: 10,
        ..ServerConfig::default()
    });
    let mut stream = connect(server.local_addr());
    stream
        .write_all(b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789")
        .unwrap();
    assert_eq!(read_n(&mut stream, RESPONSE.len()), RESPONSE);
    let too_large =
        b"HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    for request in [
        b"POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n".as_slice(),
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n01234567\r\n8\r\n01234567\r\n",
    ] {
        let mut stream = connect(server.local_addr());
        stream.write_all(request).unwrap();
        assert_eq!(read_to_eof(&mut stream), too_large);
    }
    assert_eq!(server.stats().bodies_too_large, 2);
    assert_eq!(server.stats().requests_served, 1);
}
