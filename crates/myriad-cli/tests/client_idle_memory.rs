//! User memory per idle keep-alive connection on the client side, measured as
//! the growth of this process's resident set while 10,000 of the engine's
//! connections that have each made one request sit idle, over plain TCP and
//! over TLS, and the same over HTTP/2 (h2c, and TLS with ALPN h2). The server is the real `myriad serve` (`--tls` for the second) in
//! a process of its own, so the growth is the client's: the engine's tasks,
//! streams, TLS sessions and per-connection state.
//!
//! Ignored by default (they are measurements, not checks, and each opens
//! 10,000 connections); run them with
//! `cargo test --release -p myriad-cli --test client_idle_memory -- --ignored --nocapture --test-threads 1`.

use std::time::Duration;

use myriad::config::Http2Mode;
use myriad::{Config, Load, Stop};

mod support;
use support::serve::Serve;
use support::wait_until;

/// Below this process's 20,000 open files; the server holds its own.
const CONNECTIONS: usize = 10_000;
const WARM_UP: usize = 300;
/// Bounds a failing wait only: establishing 9,000 loopback connections takes
/// about a second.
const WAIT: Duration = Duration::from_secs(60);

fn rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// `connections` connections on one thread, each making one request as soon
/// as it is open and then holding still: the interval outlasts the run.
fn idle_run(url: &str, connections: usize, http2: Http2Mode) -> myriad::Run {
    let mut c = Config::new(&[url]).unwrap();
    c.http2 = http2;
    c.tls.alpn_h2 = http2 == Http2Mode::Tls;
    // The server's self-signed certificate is not what this measures.
    c.tls.insecure = true;
    c.load = Load::interval(
        connections,
        Duration::from_secs(600),
        Stop::Duration(Duration::from_secs(120)),
    )
    .unwrap();
    c.threads = 1;
    c.processes = Some(1);
    // Open connections are counted when a worker ships its delta, every interval.
    c.stats_interval = Duration::from_millis(100);
    myriad::start(c).unwrap()
}

/// Waits until every connection is open and has had its one answer, so each
/// holds only what an idle connection holds.
fn wait_idle(run: &myriad::Run, connections: usize) {
    let n = connections as u64;
    wait_until(
        format!("{n} connections open, each with its request completed"),
        WAIT,
        || {
            let p = run.progress();
            p.completed == n && p.open_connections == n
        },
    );
}

#[test]
#[ignore = "a measurement: run by hand with --ignored --nocapture"]
fn client_memory_per_idle_connection() {
    measure("tcp", &[], Http2Mode::Off);
}

#[test]
#[ignore = "a measurement: run by hand with --ignored --nocapture"]
fn client_memory_per_idle_h2c_connection() {
    measure("h2c", &[], Http2Mode::PriorKnowledge);
}

#[test]
#[ignore = "a measurement: run by hand with --ignored --nocapture"]
fn client_memory_per_idle_http2_tls_connection() {
    measure("http2 tls", &["--tls"], Http2Mode::Tls);
}

#[test]
#[ignore = "a measurement: run by hand with --ignored --nocapture"]
fn client_memory_per_idle_tls_connection() {
    measure("tls", &["--tls"], Http2Mode::Off);
}

/// Opens [`CONNECTIONS`] idle connections to `myriad serve {serve_flags}` and
/// prints the client's resident-set growth per connection.
fn measure(label: &str, serve_flags: &[&str], http2: Http2Mode) {
    myriad::sys::raise_open_files_limit();
    let serve = Serve::command(&["--listen", "127.0.0.1:0", "--json"])
        .args(serve_flags)
        .wait(WAIT)
        .start();
    let url = serve.url();

    // Warm up the allocator and the runtime with a run whose connections then close.
    let warm = idle_run(&url, WARM_UP, http2);
    wait_idle(&warm, WARM_UP);
    warm.cancel();
    warm.wait().unwrap();

    // No settling pause: what the warm-up freed stays with the allocator
    // either way (that is what the warm-up is for).
    let before = rss_kb();
    let run = idle_run(&url, CONNECTIONS, http2);
    wait_idle(&run, CONNECTIONS);
    let after = rss_kb();
    let p = run.progress();
    let n = CONNECTIONS as u64;
    assert_eq!((p.issued, p.completed, p.failures), (n, n, 0), "{p:?}");
    let per_conn = (after.saturating_sub(before)) as f64 * 1024.0 / CONNECTIONS as f64;
    println!(
        "client idle {label} connections: {CONNECTIONS}; RSS {before} KB -> {after} KB; {per_conn:.0} bytes per connection"
    );
    run.cancel();
    run.wait().unwrap();
    drop(serve);
}
