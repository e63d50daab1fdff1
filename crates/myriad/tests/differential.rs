//! Differential check of the HTTP/1.1 response parser: on generated valid
//! responses, myriad's parser and Python's `http.client` (an independent
//! implementation, in another language, that has parsed the web's responses
//! for two decades) agree on the status, the body length and whether the
//! connection can carry another request.
//!
//! Why Python rather than hyper: hyper would be a new dev-dependency to build
//! on every CI run, and it shares httparse with myriad, so a bug in httparse
//! would be agreed on by both; `http.client` shares nothing with myriad.
//!
//! The responses are random (seeded, so a failure names a reproducible case):
//! any status from 200 to 599, sometimes after a `100 Continue`; random
//! headers; bodies framed by `Content-Length`, by chunks (random sizes in
//! random case, extensions, trailers) or by the connection closing; `HEAD`
//! requests and `204`/`304`, which have no body; `Connection` headers with
//! `close` and `keep-alive` in any order. The test serves each to Python over
//! loopback in random pieces and feeds the same bytes, split at other random
//! points, to myriad's parser (the read-buffer model of `proto/http1.rs`,
//! [`myriad::fuzzing::read_response`]).
//!
//! What is *not* generated, because the two differ on purpose: `Keep-Alive`
//! headers without `Connection: keep-alive` on HTTP/1.0 (Python keeps such a
//! connection; myriad follows RFC 9112, where only `Connection: keep-alive`
//! makes an HTTP/1.0 connection persistent), `Transfer-Encoding` lists other
//! than exactly `chunked` (Python then reads until close), and interim
//! responses other than 100 (Python does not skip them), and
//! `Transfer-Encoding` on a `204` or `304` (Python reads a chunked body
//! there; they have none).
//!
//! `MYRIAD_DIFF_CASES` (default 1500) and `MYRIAD_DIFF_SEED` change the run.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};

use myriad::fuzzing::read_response;

/// One generated response and what a correct parser makes of it.
#[derive(Debug, Clone)]
struct Case {
    head_request: bool,
    bytes: Vec<u8>,
    status: u16,
    body_len: u64,
    reusable: bool,
}

const TOKEN: &[u8] =
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_!#$%&'*+.^`|~";
const VALUE: &[u8] =
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -_=+/;:,.\"()[]{}@?";

fn pick(rng: &mut fastrand::Rng, alphabet: &[u8], len: std::ops::Range<usize>) -> String {
    (0..rng.usize(len))
        .map(|_| alphabet[rng.usize(..alphabet.len())] as char)
        .collect()
}

/// A random header that is none of the framing or connection headers.
fn filler_header(rng: &mut fastrand::Rng) -> String {
    loop {
        let name = pick(rng, TOKEN, 1..12);
        let lower = name.to_ascii_lowercase();
        if [
            "content-length",
            "transfer-encoding",
            "connection",
            "keep-alive",
            "proxy-connection",
        ]
        .contains(&lower.as_str())
        {
            continue;
        }
        let value = pick(rng, VALUE, 0..40).trim().to_string();
        return format!("{name}: {value}\r\n");
    }
}

fn random_case(rng: &mut fastrand::Rng) -> Case {
    let http10 = rng.u8(..8) == 0;
    let head_request = rng.u8(..8) == 0;
    let status = match rng.u8(..10) {
        0 => 204,
        1 => 304,
        _ => rng.u16(200..600),
    };
    let mut out = String::new();
    if !http10 && rng.u8(..6) == 0 {
        out.push_str("HTTP/1.1 100 Continue\r\n");
        for _ in 0..rng.usize(0..3) {
            out.push_str(&filler_header(rng));
        }
        out.push_str("\r\n");
    }
    let reason = pick(rng, b"abcdefghij KLMNOP", 1..15);
    let version = if http10 { "HTTP/1.0" } else { "HTTP/1.1" };
    out.push_str(&format!("{version} {status} {}\r\n", reason.trim_start()));
    // The connection: HTTP/1.1 persists unless `close` is among the tokens;
    // HTTP/1.0 only with `keep-alive` (and then not with `close`).
    let tokens: Vec<&str> = (0..rng.usize(0..3))
        .map(|_| ["close", "keep-alive", "Close", "Keep-Alive", "upgrade"][rng.usize(..5)])
        .collect();
    let close = tokens.iter().any(|t| t.eq_ignore_ascii_case("close"));
    let keep = tokens.iter().any(|t| t.eq_ignore_ascii_case("keep-alive"));
    let mut persistent = if http10 { keep && !close } else { !close };
    if http10 && close && keep {
        // Python reads `keep-alive` anywhere in an HTTP/1.0 Connection header
        // as persistence even beside `close`: not generated (see the docs).
        return random_case(rng);
    }
    let mut headers: Vec<String> = (0..rng.usize(0..12)).map(|_| filler_header(rng)).collect();
    if !tokens.is_empty() {
        headers.push(format!("Connection: {}\r\n", tokens.join(", ")));
    }
    let no_body = head_request || status == 204 || status == 304;
    // 0: length, 1: chunked, 2: until close. No Transfer-Encoding on 204
    // (RFC 9110 forbids it) or 304: Python would then read a chunked body.
    let framing = match rng.u8(..3) {
        1 if status == 204 || status == 304 => 0,
        f => f,
    };
    let body_len = if no_body { 0 } else { rng.usize(0..3000) };
    let mut body = Vec::new();
    match framing {
        0 => {
            let n = if head_request {
                rng.usize(0..3000)
            } else {
                body_len
            };
            headers.push(format!("Content-Length: {n}\r\n"));
            if rng.u8(..8) == 0 {
                headers.push(format!("content-length: {n}\r\n"));
            }
            body.resize(if no_body { 0 } else { n }, b'x');
        }
        1 => {
            let te = ["chunked", "Chunked", "CHUNKED"][rng.usize(..3)];
            headers.push(format!("Transfer-Encoding: {te}\r\n"));
            if !no_body {
                let mut left = body_len;
                while left > 0 {
                    let n = rng.usize(1..=left.min(900));
                    let size = if rng.bool() {
                        format!("{n:x}")
                    } else {
                        format!("{n:X}")
                    };
                    let ext = match rng.u8(..4) {
                        0 => ";name=value".to_string(),
                        1 => format!(";{}", pick(rng, TOKEN, 1..6)),
                        _ => String::new(),
                    };
                    body.extend_from_slice(format!("{size}{ext}\r\n").as_bytes());
                    body.resize(body.len() + n, b'c');
                    body.extend_from_slice(b"\r\n");
                    left -= n;
                }
                body.extend_from_slice(b"0\r\n");
                for _ in 0..rng.usize(0..3) {
                    body.extend_from_slice(filler_header(rng).as_bytes());
                }
                body.extend_from_slice(b"\r\n");
            }
        }
        _ => {
            // Neither: the body runs until the server closes.
            body.resize(body_len, b'u');
            if !no_body {
                persistent = false;
            }
        }
    }
    rng.shuffle(&mut headers);
    for h in &headers {
        out.push_str(h);
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&body);
    Case {
        head_request,
        bytes,
        status,
        body_len: body_len as u64,
        reusable: persistent,
    }
}

/// The client side, in Python: for each method letter (G or H) one
/// connection, one request for `/<index>`, and one JSON line of what
/// `http.client` read.
const CLIENT: &str = r#"
import http.client, json, sys
port, methods = int(sys.argv[1]), sys.argv[2]
for i, m in enumerate(methods):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("HEAD" if m == "H" else "GET", "/%d" % i)
        r = conn.getresponse()
        body = r.read()
        print(json.dumps({"i": i, "status": r.status, "len": len(body), "reuse": not r.will_close}))
    except Exception as e:
        print(json.dumps({"i": i, "error": repr(e)}))
    finally:
        conn.close()
    sys.stdout.flush()
"#;

/// Serves `cases[i]` to the request for `/i`, in random pieces, then closes.
fn serve(listener: TcpListener, cases: Vec<Case>, seed: u64) {
    let mut rng = fastrand::Rng::with_seed(seed ^ 0x5e4e);
    for _ in 0..cases.len() {
        let (mut stream, _) = listener.accept().unwrap();
        stream.set_nodelay(true).unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let index: usize = line
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.trim_start_matches('/').parse().ok())
            .unwrap();
        loop {
            let mut l = String::new();
            if reader.read_line(&mut l).unwrap() == 0 || l == "\r\n" {
                break;
            }
        }
        let bytes = &cases[index].bytes;
        let mut at = 0;
        while at < bytes.len() {
            let n = rng.usize(1..=(bytes.len() - at).min(1500));
            stream.write_all(&bytes[at..at + n]).unwrap();
            at += n;
        }
        let _ = stream.shutdown(std::net::Shutdown::Write);
        // Let the client read to the end before the socket goes away.
        let mut rest = Vec::new();
        let _ = reader.read_to_end(&mut rest);
    }
}

fn python() -> Option<&'static str> {
    ["python3", "python"].into_iter().find(|p| {
        Command::new(p)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

#[test]
fn response_parser_agrees_with_python_http_client() {
    let Some(python) = python() else {
        eprintln!("SKIPPED: no python3 on PATH for the differential check of the response parser");
        return;
    };
    let n: usize = std::env::var("MYRIAD_DIFF_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1500);
    let seed: u64 = std::env::var("MYRIAD_DIFF_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(11);
    let mut rng = fastrand::Rng::with_seed(seed);
    let cases: Vec<Case> = (0..n).map(|_| random_case(&mut rng)).collect();
    let methods: String = cases
        .iter()
        .map(|c| if c.head_request { 'H' } else { 'G' })
        .collect();

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let served = cases.clone();
    let server = std::thread::spawn(move || serve(listener, served, seed));
    let out = Command::new(python)
        .args(["-c", CLIENT, &port.to_string(), &methods])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(out.status.success(), "the Python client failed");
    server.join().unwrap();

    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), n, "one line per case from Python");
    let mut split_rng = fastrand::Rng::with_seed(seed ^ 0xd1ff);
    for (i, (case, py)) in cases.iter().zip(&lines).enumerate() {
        let shown = || String::from_utf8_lossy(&case.bytes).into_owned();
        assert!(
            py.get("error").is_none(),
            "case {i} (seed {seed}): Python failed: {py}\n{}",
            shown()
        );
        let py_status = py["status"].as_u64().unwrap() as u16;
        let py_len = py["len"].as_u64().unwrap();
        let py_reuse = py["reuse"].as_bool().unwrap();
        let split = fastrand::Rng::with_seed(split_rng.u64(..));
        let ours = read_response(&case.bytes, case.head_request, Some(split))
            .unwrap_or_else(|e| panic!("case {i} (seed {seed}): myriad: {e}\n{}", shown()))
            .unwrap_or_else(|| panic!("case {i} (seed {seed}): myriad: incomplete\n{}", shown()));
        let what = format!(
            "case {i} (seed {seed}), HEAD {}:\n{}",
            case.head_request,
            shown()
        );
        assert_eq!(
            (ours.status, py_status),
            (case.status, case.status),
            "status, {what}"
        );
        assert_eq!(
            (ours.body_len, py_len),
            (case.body_len, case.body_len),
            "body, {what}"
        );
        assert_eq!(ours.keep_alive, py_reuse, "reuse (myriad, Python), {what}");
        assert_eq!(
            ours.keep_alive, case.reusable,
            "reuse (myriad, generator), {what}"
        );
        assert_eq!(ours.end, case.bytes.len(), "end, {what}");
    }
}
