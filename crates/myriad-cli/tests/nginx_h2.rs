//! The real `myriad` binary speaking HTTP/2 (`--h2c`, `--http2`) to an
//! independent server: nginx (Debian's package; `.ci/run` installs it),
//! started by each test on 127.0.0.1 with a configuration of its own whose
//! listeners are `http2` (prior knowledge on the plaintext one, ALPN on the
//! TLS one). Every count myriad reports is checked against
//! nginx's access log, read after nginx has stopped (SIGQUIT) so it is
//! complete.

#[allow(dead_code)]
#[path = "support/nginx.rs"]
mod nginx;

use nginx::{assert_all_succeeded, run_json, Nginx};

/// `--h2c -n 2000 -c 4 -p STREAMS`: every request one stream, each logged.
fn h2c_at(streams: &str) {
    let nginx = Nginx::start_http2();
    let r = run_json(&[
        "--h2c",
        "-n",
        "2000",
        "-c",
        "4",
        "-p",
        streams,
        &nginx.url(),
    ]);
    assert_all_succeeded(&r, 2000);
    assert_eq!(r["connections"]["opened"], 4, "{:#}", r["connections"]);
    let (plain, tls) = nginx.stop();
    plain.assert_requests(2000, &format!("h2c, {streams} streams"));
    tls.assert_requests(0, "TLS server (unused)");
}

#[test]
fn h2c_one_stream_counts_match_the_access_log() {
    h2c_at("1");
}

#[test]
fn h2c_ten_streams_counts_match_the_access_log() {
    h2c_at("10");
}

#[test]
fn h2c_hundred_streams_counts_match_the_access_log() {
    h2c_at("100");
}

#[test]
fn http2_over_tls_counts_match_the_access_log() {
    let nginx = Nginx::start_http2();
    let (url, cert) = (nginx.tls_url(), nginx.cert());
    let r = run_json(&[
        "--http2", "--cacert", &cert, "-n", "2000", "-c", "4", "-p", "10", &url,
    ]);
    assert_all_succeeded(&r, 2000);
    assert_eq!(r["connections"]["opened"], 4, "{:#}", r["connections"]);
    let (plain, tls) = nginx.stop();
    tls.assert_requests(2000, "HTTP/2 over TLS");
    plain.assert_requests(0, "plaintext server (unused)");
}

/// nginx ends each connection after 1000 requests with a GOAWAY; the streams
/// it refused after the last one it answers end as `goaway` failures (with a
/// note naming keepalive_requests), and every request it did answer ends as
/// its response: myriad's successes are exactly nginx's log lines, and every
/// request is one outcome.
#[test]
fn goaway_refusals_are_failures_and_answered_streams_succeed() {
    let nginx = Nginx::start_with(true, 1000);
    let r = run_json(&["--h2c", "-n", "5000", "-c", "2", "-p", "10", &nginx.url()]);
    let t = &r["total"];
    assert_eq!(t["requests"]["issued"], 5000, "{t:#}");
    assert_eq!(t["requests"]["balanced"], true, "{t:#}");
    let succeeded = t["requests"]["succeeded"].as_u64().unwrap();
    assert_eq!(
        succeeded + t["errors"]["goaway"].as_u64().unwrap(),
        5000,
        "{t:#}"
    );
    assert_eq!(t["errors"]["protocol"], 0, "{t:#}");
    if succeeded < 5000 {
        let notes = r["notes"].to_string();
        assert!(notes.contains("keepalive_requests"), "{notes}");
    }
    let opened = r["connections"]["opened"].as_u64().unwrap();
    assert!(opened > 2, "nginx's GOAWAY makes reconnects: {opened}");
    let (plain, _) = nginx.stop();
    plain.assert_requests(succeeded as usize, "h2c with GOAWAY every 1000");
}

/// `--http2` to nginx's TLS listener without `http2`, which offers only
/// `http/1.1` in ALPN: every request ends as one `alpn` failure, nothing
/// reaches nginx, the run still exits 0 (failed requests are data), and the
/// text report's note says the server did not offer h2.
#[test]
fn http2_to_a_server_without_h2_fails_each_request_with_a_note() {
    let nginx = Nginx::start();
    let url = nginx.tls_url();
    let cert = nginx.cert();
    let r = run_json(&[
        "--http2", "--cacert", &cert, "-n", "50", "-c", "2", "-p", "10", &url,
    ]);
    let t = &r["total"];
    assert_eq!(t["requests"]["issued"], 50, "{t:#}");
    assert_eq!(t["errors"]["alpn"], 50, "{t:#}");
    assert_eq!(t["requests"]["failures"], 50, "{t:#}");
    assert_eq!(t["requests"]["balanced"], true);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_myriad"))
        .args(["run", "--http2", "--cacert", &cert, "-n", "20", &url])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("- 20 requests failed because the server did not offer h2 in ALPN"),
        "{text}"
    );
    let (plain, tls) = nginx.stop();
    plain.assert_requests(0, "plaintext server (unused)");
    tls.assert_requests(0, "no request reaches a server that refused h2");
}

/// `--http2` over TLS at 1 and 100 streams: every request one stream, each
/// logged by nginx.
#[test]
fn http2_over_tls_at_one_and_a_hundred_streams_match_the_access_log() {
    for streams in ["1", "100"] {
        let nginx = Nginx::start_http2();
        let (url, cert) = (nginx.tls_url(), nginx.cert());
        let r = run_json(&[
            "--http2", "--cacert", &cert, "-n", "2000", "-c", "4", "-p", streams, &url,
        ]);
        assert_all_succeeded(&r, 2000);
        assert_eq!(r["connections"]["opened"], 4, "{:#}", r["connections"]);
        let (plain, tls) = nginx.stop();
        tls.assert_requests(2000, &format!("HTTP/2 over TLS, {streams} streams"));
        plain.assert_requests(0, "plaintext server (unused)");
    }
}

/// A POST body of 200 KB, larger than HTTP/2's default 64 KiB windows, over
/// h2c. nginx's `return 200` answers without waiting for the body (it
/// discards what comes), so each response arrives while its body is still
/// being sent: the stream ends with its response, the rest of the body is
/// cancelled (RST_STREAM), and the connection goes on. Every request is one
/// response and one line of nginx's log. (The built-in server, which reads
/// each body to its end first, checks whole bodies: `tests/h2_codec.rs` of
/// the library.)
#[test]
fn h2c_post_bodies_beyond_the_default_window_match_the_access_log() {
    let nginx = Nginx::start_http2();
    let dir = std::env::temp_dir().join(format!("myriad-h2-body-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let body = dir.join("body.bin");
    std::fs::write(&body, vec![b'b'; 200_000]).unwrap();
    let r = run_json(&[
        "--h2c",
        "-m",
        "POST",
        "--body-file",
        body.to_str().unwrap(),
        "-n",
        "300",
        "-c",
        "3",
        "-p",
        "10",
        &nginx.url(),
    ]);
    assert_all_succeeded(&r, 300);
    assert_eq!(r["connections"]["opened"], 3, "{:#}", r["connections"]);
    let (plain, _) = nginx.stop();
    let posts = plain
        .requests()
        .iter()
        .filter(|l| l.starts_with("POST / ") && l.ends_with(" 200"))
        .count();
    assert_eq!(
        posts,
        300,
        "{:?}",
        &plain.requests()[..plain.requests().len().min(5)]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A URL templated with `{{seq}}` over HTTP/2 with TLS at 10 streams: nginx
/// (an HPACK decoder independent of both of myriad's sides) logs each
/// request with its own path.
#[test]
fn templated_paths_over_http2_with_tls_are_each_their_own() {
    let nginx = Nginx::start_http2();
    let (url, cert) = (nginx.tls_url(), nginx.cert());
    let url = format!("{}/t/{{{{seq}}}}", url.trim_end_matches('/'));
    let r = run_json(&[
        "--http2", "--cacert", &cert, "-n", "1000", "-c", "2", "-t", "1", "-p", "10", &url,
    ]);
    assert_all_succeeded(&r, 1000);
    let (_, tls) = nginx.stop();
    let mut seqs: Vec<u64> = tls
        .lines()
        .iter()
        .map(|l| {
            let rest = l.strip_prefix("GET /t/").unwrap_or_else(|| panic!("{l}"));
            assert!(rest.ends_with(" HTTP/2.0 200"), "{l}");
            rest.split(' ').next().unwrap().parse().unwrap()
        })
        .collect();
    seqs.sort_unstable();
    // One thread: the sequence numbers are 0, 1, ..., 999, each once.
    assert_eq!(seqs, (0..1000).collect::<Vec<u64>>());
}
