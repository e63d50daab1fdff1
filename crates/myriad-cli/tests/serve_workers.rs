//! `myriad serve --workers N` and `--listen` port ranges, through the real
//! binary: a supervisor process and its worker processes on 127.0.0.1.
//!
//! Every wait is bounded, and a server left behind by a failing test is killed
//! when its `Serve` is dropped (its workers follow: their stdin ends).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

mod support;
use support::binary::myriad;
use support::serve::{Serve, Stderr, Stopped};
use support::wait_until;

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n";
const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
const WAIT: Duration = Duration::from_secs(15);

/// Starts `myriad serve ARGS` (stderr captured) and waits for its listening
/// line; `Err` with its stderr if it exits first.
fn try_serve(args: &[&str]) -> Result<Serve, String> {
    Serve::command(args)
        .stderr(Stderr::Capture)
        .wait(WAIT)
        .try_start()
}

fn serve(args: &[&str]) -> Serve {
    try_serve(args).unwrap_or_else(|e| panic!("serve {args:?} failed: {e}"))
}

/// The worker processes' pids, from the kernel's list of this process's children.
fn worker_pids(serve: &Serve) -> Vec<i32> {
    let pid = serve.pid();
    let list = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap();
    list.split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect()
}

fn final_json(out: &[String]) -> serde_json::Value {
    let last = out.last().expect("no final line");
    serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {last:?}"))
}

/// Opens a keep-alive connection and makes one request on it.
fn request(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    stream.write_all(GET).unwrap();
    let mut buf = [0; RESPONSE.len()];
    stream.read_exact(&mut buf).unwrap();
    assert_eq!(buf, RESPONSE);
    stream
}

fn as_u64s(v: &serde_json::Value) -> Vec<u64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_u64().unwrap())
        .collect()
}

#[test]
fn workers_share_the_port_and_their_counters_add_up() {
    let serve = serve(&["--workers", "3", "--listen", "127.0.0.1:0", "--json"]);
    assert_eq!(worker_pids(&serve).len(), 3);
    let addr = serve.addr();
    assert_ne!(addr.port(), 0, "the listening line shows the real port");
    // All 30 stay open until the server stops.
    let streams: Vec<_> = (0..30).map(|_| request(addr)).collect();
    let Stopped { code, lines: out } = serve.stop();
    drop(streams);
    assert_eq!(code, Some(0));
    let json = final_json(&out);
    assert_eq!(json["connections_accepted"], 30, "{json}");
    assert_eq!(json["requests_served"], 30, "{json}");
    assert_eq!(json["peak_connections"], 30, "{json}");
    assert_eq!(json["workers"], 3, "{json}");
    assert_eq!(json["workers_died"], 0, "{json}");
    let per_worker = as_u64s(&json["per_worker_accepted"]);
    assert_eq!(per_worker.len(), 3);
    assert_eq!(per_worker.iter().sum::<u64>(), 30);
    assert!(
        per_worker.iter().filter(|&&n| n > 0).count() > 1,
        "SO_REUSEPORT spread nothing: {json}"
    );
}

#[test]
fn text_output_is_the_single_process_sentence() {
    let serve = serve(&["--workers", "2", "--listen", "127.0.0.1:0"]);
    let addr = serve.addr();
    let streams: Vec<_> = (0..4).map(|_| request(addr)).collect();
    let Stopped { code, lines: out } = serve.stop();
    drop(streams);
    assert_eq!(code, Some(0));
    assert_eq!(
        out,
        ["myriad serve: stopped; 4 connections accepted (peak 4 open), 4 requests served, 0 bad requests, 0 header timeouts"]
    );
}

/// Three consecutive ports that were free a moment ago.
fn free_port_run() -> u16 {
    for _ in 0..100 {
        let first = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = first.local_addr().unwrap().port();
        if port > 65_000 {
            continue;
        }
        let next = (1..=2).map(|i| TcpListener::bind(("127.0.0.1", port + i)));
        if next.collect::<Result<Vec<_>, _>>().is_ok() {
            return port;
        }
    }
    panic!("no three free consecutive ports");
}

#[test]
fn a_port_range_answers_on_every_port() {
    for workers in ["1", "2"] {
        // Another process may take a port between the check and the bind: retry.
        let (serve, first) = (0..10)
            .find_map(|_| {
                let first = free_port_run();
                let range = format!("127.0.0.1:{first}-{}", first + 2);
                let args = ["--workers", workers, "--listen", &range, "--json"];
                try_serve(&args).ok().map(|s| (s, first))
            })
            .expect("could not listen on a free port range");
        assert_eq!(serve.listen(), format!("127.0.0.1:{first}-{}", first + 2));
        let streams: Vec<_> = (first..=first + 2)
            .map(|port| request(SocketAddr::from(([127, 0, 0, 1], port))))
            .collect();
        let Stopped { code, lines: out } = serve.stop();
        drop(streams);
        assert_eq!(code, Some(0));
        let json = final_json(&out);
        assert_eq!(json["requests_served"], 3, "{workers} workers: {json}");
        assert_eq!(json["workers"], workers.parse::<u64>().unwrap());
    }
}

#[test]
fn a_killed_worker_is_reported_and_the_others_serve_on() {
    let serve = serve(&["--workers", "3", "--listen", "127.0.0.1:0", "--json"]);
    let pids = worker_pids(&serve);
    assert_eq!(pids.len(), 3);
    let addr = serve.addr();
    let before: Vec<_> = (0..9).map(|_| request(addr)).collect();
    drop(before);

    let victim = pids[1];
    // SAFETY: signalling a process we started (through the supervisor).
    assert_eq!(unsafe { libc::kill(victim, libc::SIGKILL) }, 0);
    let line = serve.stderr_line("died");
    assert!(line.contains(&format!("pid {victim}")), "{line}");
    assert!(line.contains("SIGKILL"), "{line}");
    assert!(line.contains("2 workers serve on"), "{line}");

    // Its listening socket closed with it: every new connection is served.
    let after: Vec<_> = (0..20).map(|_| request(addr)).collect();
    let Stopped { code, lines: out } = serve.stop();
    drop(after);
    assert_eq!(code, Some(0));
    let json = final_json(&out);
    assert_eq!(json["workers_died"], 1, "{json}");
    assert_eq!(json["workers"], 3, "{json}");
    let listed: Vec<u64> = as_u64s(&json["worker_pids"]);
    let mut expected: Vec<u64> = pids.iter().map(|&p| p as u64).collect();
    expected.sort_unstable();
    let mut listed_sorted = listed.clone();
    listed_sorted.sort_unstable();
    assert_eq!(listed_sorted, expected);
    // The 20 later connections all went to the living workers; the dead
    // worker's counts stay in the totals as it last reported them.
    assert!(json["requests_served"].as_u64().unwrap() >= 20, "{json}");
    assert!(json["requests_served"].as_u64().unwrap() <= 29, "{json}");
}

#[test]
fn workers_stop_when_the_supervisor_is_killed() {
    let serve = serve(&["--workers", "2", "--listen", "127.0.0.1:0"]);
    let pids = worker_pids(&serve);
    assert_eq!(pids.len(), 2);
    serve.signal(libc::SIGKILL);
    for pid in pids {
        // Gone, or a zombie waiting for whoever inherited it.
        wait_until(
            format!("worker {pid} to stop after its supervisor"),
            WAIT,
            || {
                std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .map(|s| s.contains(") Z "))
                    .unwrap_or(true)
            },
        );
    }
}

#[test]
fn bad_worker_and_listen_flags_are_usage_errors() {
    for (args, needle) in [
        (&["--workers", "0"][..], "--workers"),
        (&["--workers", "lots"][..], "auto"),
        (&["--listen", "127.0.0.1:9-8"][..], "FIRST <= LAST"),
        (&["--listen", "127.0.0.1"][..], "127.0.0.1:8080-8099"),
        (&["--max-connections", "0"][..], "--max-connections"),
    ] {
        let out = myriad(&[&["serve"][..], args].concat());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}
