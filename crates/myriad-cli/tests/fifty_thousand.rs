//! 50,000 concurrent connections: more than two processes' worth at an
//! open-files limit of 20,000, and more than one source address's ephemeral
//! ports, against a multi-process `myriad serve`. Loopback only; about 15 s.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const N: u64 = 50_000;

#[test]
fn fifty_thousand_connections_held_at_once_each_with_a_request() {
    let bin = env!("CARGO_BIN_EXE_myriad");
    let mut serve = Command::new(bin)
        .args([
            "serve",
            "--workers",
            "4",
            "--listen",
            "127.0.0.1:0",
            "--json",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(serve.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {first:?}"))
        .to_string();

    // Each connection sends one request as soon as it is open and then holds
    // still (the interval is longer than the run), so every connection is open
    // at the same time near the end, and exactly N requests are made.
    let out = Command::new(bin)
        .args([
            "run",
            "--json",
            "-c",
            "50000",
            "-z",
            "10s",
            "--per-connection-interval",
            "60s",
            &url,
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(serve.id() as i32, libc::SIGINT) };
    let served: serde_json::Value = lines
        .map(|l| l.unwrap())
        .filter(|l| l.starts_with('{'))
        .last()
        .map(|l| serde_json::from_str(&l).unwrap())
        .expect("serve's final JSON line");
    assert_eq!(serve.wait().unwrap().code(), Some(0));

    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let (c, t) = (&r["connections"], &r["total"]["requests"]);
    assert!(
        r["config"]["processes"].as_u64().unwrap() >= 3,
        "{:#}",
        r["config"]
    );
    assert!(
        r["config"]["source_addresses"].as_u64().unwrap() >= 5,
        "{:#}",
        r["config"]
    );
    assert_eq!(c["planned"], N, "{c:#}");
    assert_eq!(c["established"], N, "{c:#}");
    assert_eq!(c["peak_open"], N, "{c:#}");
    assert_eq!(t["issued"], N, "{t:#}");
    assert_eq!(t["succeeded"], N, "{t:#} {:#}", r["total"]["errors"]);
    assert_eq!(t["balanced"], true);
    assert!(r["notes"]
        .as_array()
        .unwrap()
        .iter()
        .all(|n| !n.as_str().unwrap().contains("died")));

    // The server's view: every connection accepted and open at once.
    assert_eq!(served["connections_accepted"], N, "{served:#}");
    assert_eq!(served["peak_connections"], N, "{served:#}");
    assert_eq!(served["requests_served"], N, "{served:#}");
}
