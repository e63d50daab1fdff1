//! `myriad serve` speaking HTTP/2, through the real binaries on 127.0.0.1:
//! the myriad client with `--h2c` (prior knowledge) and `--http2` (TLS with
//! ALPN, trusting the certificate the server wrote) at 1, 10 and 100
//! streams, HTTP/1.1 on the same port, a multi-process server and a Unix
//! socket, and h2load (when installed) over h2c and TLS. Every count is
//! exact: what the client issued succeeded, and the server's own count of
//! requests served (its `--json` final line) is the client's.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

mod support;
use support::wait_until;

const WAIT: Duration = Duration::from_secs(30);

/// A running `myriad serve --json`; killed if a failing test leaves it behind.
struct Serve {
    child: Child,
    stdout: Receiver<String>,
    first: String,
}

impl Serve {
    fn start(args: &[&str]) -> Serve {
        let mut child = Command::new(env!("CARGO_BIN_EXE_myriad"))
            .args(["serve", "--json"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let (tx, stdout) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let first = stdout.recv_timeout(WAIT).expect("no listening line");
        Serve {
            child,
            stdout,
            first,
        }
    }

    /// The listening line's text after `prefix`, up to `end`.
    fn field(&self, prefix: &str, end: char) -> String {
        let at = self
            .first
            .find(prefix)
            .unwrap_or_else(|| panic!("{prefix:?} in {:?}", self.first));
        let rest = &self.first[at + prefix.len()..];
        rest[..rest.find(end).unwrap()].to_string()
    }

    /// `127.0.0.1:PORT` of an `http://` or `https://` listening line.
    fn addr(&self) -> String {
        let scheme = if self.first.contains("https://") {
            "https://"
        } else {
            "http://"
        };
        self.field(scheme, '/')
    }

    fn cert(&self) -> String {
        self.field("certificate ", ';')
    }

    /// SIGINT, then the final counters (the `--json` line).
    fn stop(mut self) -> serde_json::Value {
        // SAFETY: signalling our own child process.
        assert_eq!(
            unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) },
            0
        );
        let mut status = None;
        wait_until("serve to stop", WAIT, || {
            status = self.child.try_wait().unwrap();
            status.is_some()
        });
        assert_eq!(status.unwrap().code(), Some(0));
        let last = self.stdout.recv_timeout(WAIT).expect("no final line");
        serde_json::from_str(&last).unwrap_or_else(|e| panic!("{last:?}: {e}"))
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `myriad run --json ARGS`: the report.
fn run_json(args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_myriad"))
        .args(["run", "--json"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: no JSON report ({e}): {stderr}"))
}

/// Every one of `n` requests issued succeeded with a 200, balanced.
fn assert_all_ok(r: &serde_json::Value, n: u64) {
    let t = &r["total"];
    assert_eq!(t["requests"]["issued"], n, "{t:#}");
    assert_eq!(t["requests"]["succeeded"], n, "{t:#}");
    assert_eq!(t["requests"]["balanced"], true, "{t:#}");
    assert_eq!(t["status"]["200"], n, "{t:#}");
}

fn h2c_at(streams: &str) {
    let serve = Serve::start(&["--listen", "127.0.0.1:0", "--threads", "1"]);
    let url = format!("http://{}/", serve.addr());
    let r = run_json(&["--h2c", "-n", "2000", "-c", "4", "-p", streams, &url]);
    assert_all_ok(&r, 2000);
    assert_eq!(r["connections"]["opened"], 4, "{:#}", r["connections"]);
    // HTTP/1.1 on the same port, after.
    let r = run_json(&["-n", "500", "-c", "2", &url]);
    assert_all_ok(&r, 500);
    let s = serve.stop();
    assert_eq!(s["requests_served"], 2500, "{s}");
    assert_eq!(s["bad_requests"], 0, "{s}");
}

#[test]
fn h2c_one_stream_matches_the_server_count() {
    h2c_at("1");
}

#[test]
fn h2c_ten_streams_match_the_server_count() {
    h2c_at("10");
}

#[test]
fn h2c_hundred_streams_match_the_server_count() {
    h2c_at("100");
}

#[test]
fn http2_over_tls_with_the_written_certificate() {
    let dir = std::env::temp_dir().join(format!("myriad-h2-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cert_out = dir.join("cert.pem");
    let serve = Serve::start(&[
        "--tls",
        "--tls-cert-out",
        cert_out.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--threads",
        "1",
    ]);
    let url = format!("https://{}/", serve.addr());
    let cert = serve.cert();
    for streams in ["1", "10", "100"] {
        let r = run_json(&[
            "--http2", "--cacert", &cert, "-n", "1000", "-c", "2", "-p", streams, &url,
        ]);
        assert_all_ok(&r, 1000);
    }
    // HTTP/1.1 over TLS on the same port.
    let r = run_json(&["--cacert", &cert, "-n", "300", "-c", "2", &url]);
    assert_all_ok(&r, 300);
    let s = serve.stop();
    assert_eq!(s["requests_served"], 3300, "{s}");
    assert_eq!(s["tls_handshakes"], 8, "{s}");
    assert_eq!(s["tls_handshake_failures"], 0, "{s}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn h2c_with_worker_processes() {
    let serve = Serve::start(&["--listen", "127.0.0.1:0", "--workers", "2"]);
    let url = format!("http://{}/", serve.addr());
    let r = run_json(&["--h2c", "-n", "3000", "-c", "8", "-p", "10", &url]);
    assert_all_ok(&r, 3000);
    let s = serve.stop();
    assert_eq!(s["requests_served"], 3000, "{s}");
    assert_eq!(s["workers"], 2, "{s}");
    assert_eq!(s["workers_died"], 0, "{s}");
}

#[test]
fn h2c_over_a_unix_socket() {
    let dir = std::env::temp_dir().join(format!("myriad-h2-unix-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("s.sock");
    let listen = format!("unix:{}", path.display());
    let serve = Serve::start(&["--listen", &listen, "--threads", "1"]);
    let socket = path.to_str().unwrap();
    let r = run_json(&[
        "--h2c",
        "--unix-socket",
        socket,
        "-n",
        "1000",
        "-c",
        "2",
        "-p",
        "10",
        "http://localhost/",
    ]);
    assert_all_ok(&r, 1000);
    let s = serve.stop();
    assert_eq!(s["requests_served"], 1000, "{s}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// h2load's "N succeeded" from its summary, and its negotiated protocol.
fn h2load(args: &[&str]) -> Option<(u64, String)> {
    let out = match Command::new("h2load").args(args).output() {
        Ok(out) => out,
        Err(e) => {
            eprintln!("skipped: h2load is not installed ({e}); apt-get install nghttp2-client");
            return None;
        }
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("requests:"))
        .unwrap_or_else(|| panic!("no requests line: {text}"));
    let succeeded = line
        .split(", ")
        .find_map(|part| part.strip_suffix(" succeeded"))
        .unwrap_or_else(|| panic!("{line}"))
        .parse()
        .unwrap();
    let protocol = text
        .lines()
        .find_map(|l| l.strip_prefix("Application protocol: "))
        .unwrap_or("none")
        .to_string();
    Some((succeeded, protocol))
}

#[test]
fn h2load_over_h2c() {
    let serve = Serve::start(&["--listen", "127.0.0.1:0", "--threads", "1"]);
    let url = format!("http://{}/", serve.addr());
    let Some((succeeded, protocol)) = h2load(&["-n", "5000", "-c", "4", "-m", "10", &url]) else {
        return;
    };
    assert_eq!((succeeded, protocol.as_str()), (5000, "h2c"));
    let s = serve.stop();
    assert_eq!(s["requests_served"], 5000, "{s}");
}

#[test]
fn h2load_over_tls_with_alpn() {
    let dir = std::env::temp_dir().join(format!("myriad-h2load-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cert_out = dir.join("cert.pem");
    let serve = Serve::start(&[
        "--tls",
        "--tls-cert-out",
        cert_out.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--threads",
        "1",
    ]);
    let url = format!("https://{}/", serve.addr());
    let Some((succeeded, protocol)) = h2load(&["-n", "5000", "-c", "4", "-m", "10", &url]) else {
        return;
    };
    assert_eq!((succeeded, protocol.as_str()), (5000, "h2"));
    let s = serve.stop();
    assert_eq!(s["requests_served"], 5000, "{s}");
    assert_eq!(s["tls_handshakes"], 4, "{s}");
    let _ = std::fs::remove_dir_all(&dir);
}
