//! `myriad serve` under abuse, through the real binaries on 127.0.0.1: while
//! `myriad run` makes a normal load, 10,000 slowloris connections (a request
//! head one byte a second) and 1,000 connections sending malformed or
//! oversized heads (from this test process, `tests/abuse/mod.rs`; the server
//! and the load are processes of their own, so the 11,000 sockets here and the
//! server's fit the 20,000 open files of a process).
//!
//! What is asserted does not depend on the machine's speed: the normal load
//! sees no error; every slow connection is closed at the header timeout (2 s
//! here, so the test is short); every oversized head gets `431`, every
//! malformed one `400`; the server's counters say the same; the server's
//! memory grows by no more than its buffers per connection allow, and its
//! sockets go back to what the load holds. The comparison of the load's p99
//! with and without the abuse is `bench/abuse.sh`'s (it depends on the machine).
//! `--max-body` (`413`) is checked here through the binary too.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod abuse;
mod support;
use support::serve::Serve;
use support::wait_until;

const WAIT: Duration = Duration::from_secs(20);
const HEADER_TIMEOUT: Duration = Duration::from_secs(2);
const SLOW: usize = 10_000;
const GARBAGE: usize = 500;
const OVERSIZED: usize = 500;
/// Connections of the normal load.
const LOAD_CONNECTIONS: u64 = 20;

/// `myriad serve --json ARGS` on an ephemeral port.
fn serve(args: &[&str]) -> Serve {
    Serve::command(&["--listen", "127.0.0.1:0", "--json"])
        .args(args)
        .wait(WAIT)
        .start()
}

/// Stops it with SIGINT and returns its final JSON counters.
fn stop(serve: Serve) -> serde_json::Value {
    let stopped = serve.stop();
    assert_eq!(stopped.code, Some(0));
    stopped.final_json()
}

/// A process's resident memory in bytes, from /proc.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS in /proc/PID/status");
    kb * 1024
}

/// How many sockets a process has open.
fn sockets(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| {
                    std::fs::read_link(e.path())
                        .is_ok_and(|l| l.to_string_lossy().starts_with("socket:"))
                })
                .count()
        })
        .unwrap_or(0)
}

fn u64_at(json: &serde_json::Value, path: &str) -> u64 {
    json.pointer(path)
        .and_then(serde_json::Value::as_u64)
        .unwrap_or_else(|| panic!("no {path} in {json}"))
}

#[test]
fn slowloris_and_bad_heads_do_not_disturb_a_normal_load() {
    let timeout = format!("{}s", HEADER_TIMEOUT.as_secs());
    let serve = serve(&["--header-timeout", &timeout, "--threads", "2"]);
    let pid = serve.pid();
    let base_sockets = sockets(pid);
    let base_rss = rss(pid);

    // The normal load: an open-model run long enough to span the abuse.
    let url = format!("http://{}/", serve.addr());
    let load = Command::new(env!("CARGO_BIN_EXE_myriad"))
        .args(["run", "--json", "-q", "-z", "10s", "--rate", "500"])
        .args(["-c", &LOAD_CONNECTIONS.to_string(), &url])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The open model opens connections as the schedule needs them (up to
    // -c): on a quiet machine a few carry 500/s, on a busy one more.
    wait_until("the load's first connection", WAIT, || {
        sockets(pid) > base_sockets
    });
    let with_load = base_sockets + LOAD_CONNECTIONS as usize;

    // The server's memory, sampled while the abuse runs.
    let peak_rss = Arc::new(AtomicU64::new(0));
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (peak, sampling) = (peak_rss.clone(), sampling.clone());
        std::thread::spawn(move || {
            while sampling.load(Ordering::Relaxed) {
                peak.fetch_max(rss(pid), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let started = Instant::now();
    let report = abuse::run(&abuse::Abuse {
        target: serve.addr(),
        slow: SLOW,
        garbage: GARBAGE,
        oversized: OVERSIZED,
        byte_every: Duration::from_secs(1),
        run_for: Duration::from_secs(20),
        repeat: false,
        connects_in_flight: 256,
    });
    let abuse_took = started.elapsed();
    sampling.store(false, Ordering::Relaxed);
    sampler.join().unwrap();
    let peak_rss = peak_rss.load(Ordering::Relaxed);
    eprintln!(
        "abuse took {abuse_took:?}; {report:?}; server RSS {} MB before, {} MB at peak",
        base_rss >> 20,
        peak_rss >> 20
    );

    assert_eq!(report.unexpected_count, 0, "{:?}", report.unexpected);
    assert_eq!(report.connect_failures, 0);
    assert_eq!(report.slow_started, SLOW as u64);
    assert_eq!(report.slow_closed, SLOW as u64, "every slow head closed");
    // Closed at the header timeout: not before (the server's clock starts
    // when it reads the first byte, after this side sent it), and not much
    // after (the slack is for a busy machine: debug builds, 11,000 sockets
    // on one client thread, other builds on the two cores).
    let (min, max) = (
        report.slow_close_min.unwrap(),
        report.slow_close_max.unwrap(),
    );
    assert!(
        min >= HEADER_TIMEOUT - Duration::from_millis(100),
        "closed early: {min:?}"
    );
    assert!(
        max <= HEADER_TIMEOUT + Duration::from_secs(4),
        "closed late: {max:?}"
    );
    assert_eq!(report.garbage_400, GARBAGE as u64);
    assert_eq!(report.oversized_431, OVERSIZED as u64);

    // Memory bounded: at most a read buffer (8 KiB) plus its task per slow
    // connection, and a head buffer (64 KiB) per bad one, with slack.
    let bound = SLOW as u64 * 12 * 1024 + (GARBAGE + OVERSIZED) as u64 * 80 * 1024;
    let grew = peak_rss.saturating_sub(base_rss);
    assert!(
        grew <= bound,
        "server RSS grew by {} MB (bound {} MB)",
        grew >> 20,
        bound >> 20
    );
    // Every abusive socket is gone on the server's side too.
    wait_until("the server to close the abusive sockets", WAIT, || {
        sockets(pid) <= with_load + 2
    });

    let out = load.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let issued = u64_at(&run, "/total/requests/issued");
    assert!(issued > 0, "{run}");
    assert_eq!(u64_at(&run, "/total/requests/succeeded"), issued, "{run}");
    assert_eq!(u64_at(&run, "/total/requests/http_errors"), 0, "{run}");
    assert_eq!(u64_at(&run, "/total/requests/failures"), 0, "{run}");

    let stats = stop(serve);
    assert_eq!(stats["header_timeouts"], SLOW as u64, "{stats}");
    assert_eq!(stats["bad_requests"], GARBAGE as u64, "{stats}");
    assert_eq!(stats["heads_too_large"], OVERSIZED as u64, "{stats}");
    assert_eq!(stats["requests_served"], issued, "{stats}");
}

/// `--max-body` through the binary: a body at the limit is answered, a longer
/// one gets `413` and a close, the JSON counts it; a bad value exits 2 with
/// one line, and `--help` lists the flag.
#[test]
fn max_body_flag() {
    let serve = serve(&["--max-body", "1KiB"]);
    let mut c = TcpStream::connect(serve.addr()).unwrap();
    c.set_read_timeout(Some(WAIT)).unwrap();
    let mut post = b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1024\r\n\r\n".to_vec();
    post.resize(post.len() + 1024, b'x');
    c.write_all(&post).unwrap();
    let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    let mut got = vec![0; ok.len()];
    c.read_exact(&mut got).unwrap();
    assert_eq!(got, ok);
    c.write_all(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1025\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    c.read_to_end(&mut got).unwrap();
    assert!(
        got.starts_with(b"HTTP/1.1 413 Content Too Large\r\n"),
        "{}",
        String::from_utf8_lossy(&got)
    );
    let stats = stop(serve);
    assert_eq!(stats["bodies_too_large"], 1, "{stats}");
    assert_eq!(stats["requests_served"], 1, "{stats}");

    let bad = Command::new(env!("CARGO_BIN_EXE_myriad"))
        .args(["serve", "--max-body", "12XB"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("--max-body"), "{stderr}");

    let help = Command::new(env!("CARGO_BIN_EXE_myriad"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&help.stdout).contains("--max-body <BYTES>"));
}
