//! User memory per idle keep-alive connection, measured as the growth of this
//! process's resident set while thousands of connections that have each made
//! one request sit idle. Client and server share the process, but the client
//! side is plain std sockets in a preallocated `Vec`, so the growth is the
//! server's.
//!
//! Ignored by default (it is a measurement, not a check, and it opens 18,000
//! descriptors); run it with
//! `cargo test --release -p myriad-server --test idle_memory -- --ignored --nocapture`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread::sleep;
use std::time::{Duration, Instant};

use myriad_server::{bind, spawn, ServerConfig};

const CONNECTIONS: usize = 9_000;
const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n";
const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

/// Polls `cond` until it holds; panics naming `what` after 30 s.
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        sleep(Duration::from_millis(5));
    }
}

fn rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn open_and_request(into: &mut Vec<TcpStream>, n: usize, addr: std::net::SocketAddr) {
    let mut buf = [0; RESPONSE.len()];
    for _ in 0..n {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(GET).unwrap();
        s.read_exact(&mut buf).unwrap();
        assert_eq!(buf, RESPONSE);
        into.push(s);
    }
}

#[test]
#[ignore = "a measurement: run by hand with --ignored --nocapture"]
fn user_memory_per_idle_connection() {
    myriad::sys::raise_open_files_limit();
    let server = spawn(
        bind("127.0.0.1:0".parse().unwrap()).unwrap(),
        ServerConfig::default(),
        1,
    )
    .unwrap();
    let addr = server.local_addr();

    // Warm up the allocator and the runtime with connections that then close.
    let mut warm = Vec::with_capacity(500);
    open_and_request(&mut warm, 500, addr);
    drop(warm);
    wait_until("the warm-up connections to close", || {
        server.stats().connections_open == 0
    });

    // No settling pause: what the closed connections freed stays with the
    // allocator either way (that is what the warm-up is for).
    let mut clients = Vec::with_capacity(CONNECTIONS);
    let before = rss_kb();
    open_and_request(&mut clients, CONNECTIONS, addr);
    // A connection counts its answer after writing it, and has given its read
    // buffer back before that: once every answer is counted, every connection
    // is idle and holds only what an idle connection holds.
    let served = (500 + CONNECTIONS) as u64;
    wait_until("every answer counted", || {
        server.stats().requests_served == served
    });
    let after = rss_kb();
    let stats = server.stats();
    assert_eq!(stats.connections_open, CONNECTIONS as u64);
    let per_conn = (after.saturating_sub(before)) as f64 * 1024.0 / CONNECTIONS as f64;
    println!(
        "idle connections: {CONNECTIONS}; RSS {before} KB -> {after} KB; {per_conn:.0} bytes per connection"
    );
    drop(clients);
    drop(server);
}
