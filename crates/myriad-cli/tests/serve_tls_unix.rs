//! `myriad serve --tls` and `--listen unix:PATH` through the real binary:
//! the listening line names the certificate or the socket, a rustls client
//! that trusts the written certificate gets its answer, one that does not is
//! refused (and counted), and bad flags are one line and exit 2.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;

mod support;
use support::binary::myriad;
use support::scratch::Dir;
use support::serve::Serve;

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n";
const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
const WAIT: Duration = Duration::from_secs(15);

/// `myriad serve ARGS`, once it prints its listening line.
fn serve(args: &[&str]) -> Serve {
    Serve::command(args).wait(WAIT).start()
}

fn https_addr(serve: &Serve) -> SocketAddr {
    serve.field("https://", '/').parse().unwrap()
}

fn cert(serve: &Serve) -> PathBuf {
    serve.field("certificate ", ';').into()
}

/// SIGINT, then the final counters line.
fn interrupt(serve: Serve) -> String {
    let stopped = serve.stop();
    assert_eq!(stopped.code, Some(0));
    stopped.lines.into_iter().next().expect("no final line")
}

fn client(trusting_pem: &[u8]) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(trusting_pem) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

fn https_get(addr: SocketAddr, config: Arc<rustls::ClientConfig>) -> std::io::Result<Vec<u8>> {
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(config, name).unwrap();
    let tcp = TcpStream::connect(addr)?;
    tcp.set_read_timeout(Some(WAIT))?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(GET)?;
    let mut got = vec![0; RESPONSE.len()];
    tls.read_exact(&mut got)?;
    Ok(got)
}

#[test]
fn https_with_the_written_certificate() {
    let dir = Dir::new("tls-cli");
    let cert_out = dir.join("cert.pem");
    let serve = serve(&[
        "--tls",
        "--listen",
        "127.0.0.1:0",
        "--threads",
        "1",
        "--header-timeout",
        "300ms",
        "--tls-cert-out",
        cert_out.to_str().unwrap(),
    ]);
    assert!(
        serve
            .first()
            .starts_with("myriad serve: listening on https://127.0.0.1:"),
        "{}",
        serve.first()
    );
    assert_eq!(cert(&serve), cert_out);
    let addr = https_addr(&serve);
    let pem = std::fs::read(&cert_out).unwrap();

    assert_eq!(https_get(addr, client(&pem)).unwrap(), RESPONSE);

    // A client with another root refuses the server's certificate.
    let other = myriad_server::TlsIdentity::self_signed().unwrap();
    let err = https_get(addr, client(other.cert_pem().as_bytes())).unwrap_err();
    assert!(err.to_string().contains("certificate"), "{err}");

    // A client that connects and never says hello is closed by the header timeout.
    let mut silent = TcpStream::connect(addr).unwrap();
    silent.set_read_timeout(Some(WAIT)).unwrap();
    let started = Instant::now();
    assert_eq!(silent.read(&mut [0; 8]).unwrap(), 0);
    assert!(started.elapsed() >= Duration::from_millis(250));

    let last = interrupt(serve);
    // (The peak depends on how fast the server closed the refused client.)
    assert!(
        last.starts_with("myriad serve: stopped; 3 connections accepted (peak "),
        "{last}"
    );
    assert!(
        last.ends_with(" open), 1 requests served, 0 bad requests, 1 header timeouts, 1 TLS handshakes, 2 failed"),
        "{last}"
    );
}

#[test]
fn tls_workers_share_one_certificate() {
    let serve = serve(&["--tls", "--listen", "127.0.0.1:0", "--workers", "2"]);
    let addr = https_addr(&serve);
    let cert = cert(&serve);
    assert_eq!(
        cert,
        std::env::temp_dir().join(format!("myriad-serve-{}.pem", addr.port()))
    );
    let config = client(&std::fs::read(&cert).unwrap());
    // SO_REUSEPORT spreads connections from different source ports over the
    // workers; each must present the one written certificate.
    for _ in 0..8 {
        assert_eq!(https_get(addr, Arc::clone(&config)).unwrap(), RESPONSE);
    }
    let last = interrupt(serve);
    assert!(last.ends_with("8 TLS handshakes, 0 failed"), "{last}");
    let _ = std::fs::remove_file(cert);
}

#[test]
fn http_over_a_unix_socket() {
    let dir = Dir::new("unix-cli");
    let path = dir.join("serve.sock");
    // A stale socket file from an earlier server is replaced.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    let listen = format!("unix:{}", path.display());
    let serve = serve(&["--listen", &listen, "--threads", "1"]);
    assert!(
        serve
            .first()
            .starts_with(&format!("myriad serve: listening on {listen} (delay 0")),
        "{}",
        serve.first()
    );
    let mut client = UnixStream::connect(&path).unwrap();
    client.set_read_timeout(Some(WAIT)).unwrap();
    client.write_all(&GET.repeat(2)).unwrap();
    let mut got = vec![0; 2 * RESPONSE.len()];
    client.read_exact(&mut got).unwrap();
    assert_eq!(got, RESPONSE.repeat(2));
    drop(client);
    let last = interrupt(serve);
    assert!(last.contains("2 requests served"), "{last}");
    assert!(!path.exists(), "the socket file is removed at the end");
}

/// Runs `myriad serve ARGS`, expecting a usage error: exit 2, one stderr line.
fn usage_error(args: &[&str]) -> String {
    let out = myriad(&[&["serve"][..], args].concat());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
    assert!(out.stdout.is_empty(), "{args:?}");
    stderr
}

#[test]
fn bad_tls_and_unix_flags_are_one_line_and_exit_2() {
    let dir = Dir::new("badflags");
    let not_pem = dir.join("not.pem");
    std::fs::write(&not_pem, "hello").unwrap();
    let id = myriad_server::TlsIdentity::self_signed().unwrap();
    let cert = dir.join("cert.pem");
    std::fs::write(&cert, id.cert_pem()).unwrap();
    let (cert, not_pem) = (cert.to_str().unwrap(), not_pem.to_str().unwrap());
    let missing = "/nonexistent/myriad.pem";
    let cases: &[(&[&str], &str)] = &[
        (&["--tls-cert", cert], "--tls-key"),
        (&["--tls-key", cert], "--tls-cert"),
        (&["--tls-cert", missing, "--tls-key", cert], "--tls-cert"),
        (&["--tls-cert", cert, "--tls-key", missing], "--tls-key"),
        (&["--tls-cert", not_pem, "--tls-key", cert], "--tls-cert"),
        (&["--tls-cert", cert, "--tls-key", not_pem], "--tls-key"),
        (&["--tls-cert-out", cert], "--tls"),
        (
            &["--tls", "--tls-cert-out", "/nonexistent/c.pem"],
            "--tls-cert-out",
        ),
        (
            &["--listen", "unix:/nonexistent/dir/s.sock"],
            "does not exist",
        ),
        (&["--listen", "unix:"], "unix:PATH"),
        (
            &["--listen", "unix:/tmp/myriad-w.sock", "--workers", "2"],
            "--workers",
        ),
    ];
    for (args, needle) in cases {
        let line = usage_error(args);
        assert!(line.contains(needle), "{args:?}: {line}");
    }
}

/// `myriad run ARGS` to completion: exit code and its JSON report.
fn run_json(args: &[&str]) -> (Option<i32>, serde_json::Value) {
    let out = myriad(&[&["run", "--json"][..], args].concat());
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON report ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), report)
}

#[test]
fn https_runs_verify_the_certificate_by_default() {
    let serve = serve(&["--tls", "--listen", "127.0.0.1:0"]);
    let addr = https_addr(&serve);
    let cert = cert(&serve);
    let (ip_url, name_url) = (
        format!("https://{addr}/"),
        format!("https://localhost:{}/", addr.port()),
    );
    // Not trusted by the system roots: every request ends as one
    // `certificate` failure, and a note says what to change.
    let (code, r) = run_json(&["-n", "200", "-c", "4", &ip_url]);
    assert_eq!(code, Some(0));
    let t = &r["total"];
    assert_eq!(t["requests"]["issued"], 200);
    assert_eq!(t["errors"]["certificate"], 200, "{t:#}");
    assert_eq!(t["requests"]["balanced"], true);
    let notes = r["notes"].to_string();
    assert!(
        notes.contains("--cacert") && notes.contains("-k"),
        "{notes}"
    );
    // Trusted with --cacert, by IP address or by name.
    for url in [&ip_url, &name_url] {
        let (_, r) = run_json(&[
            "-n",
            "300",
            "-c",
            "4",
            "--cacert",
            cert.to_str().unwrap(),
            url,
        ]);
        assert_eq!(
            r["total"]["requests"]["succeeded"], 300,
            "{url}: {:#}",
            r["total"]
        );
        assert_eq!(r["connections"]["opened"], 4, "keep-alive over TLS");
    }
    // --connect-to: the certificate's name and SNI from the URL, the
    // connection to the server.
    let elsewhere = format!("localhost:443:{addr}");
    let (_, r) = run_json(&[
        "-n",
        "50",
        "--cacert",
        cert.to_str().unwrap(),
        "--connect-to",
        &elsewhere,
        "https://localhost/",
    ]);
    assert_eq!(r["total"]["requests"]["succeeded"], 50, "{:#}", r["total"]);
    // -k skips verification; with a new connection per request every
    // request is a handshake, and still each is counted once.
    let (_, r) = run_json(&["-n", "100", "-c", "2", "-k", "--disable-keepalive", &ip_url]);
    assert_eq!(r["total"]["requests"]["succeeded"], 100, "{:#}", r["total"]);
    // Every connection made one handshake, timed apart from the connect;
    // reconnects resume the session.
    let c = &r["connections"];
    assert_eq!(c["opened"], 100, "{c:#}");
    assert_eq!(c["tls_handshake_us"]["count"], 100, "{c:#}");
    let (full, resumed) = (
        c["tls_handshakes_full"].as_u64().unwrap(),
        c["tls_handshakes_resumed"].as_u64().unwrap(),
    );
    assert_eq!(full + resumed, 100, "{c:#}");
    assert!(resumed > 0, "sessions resume on reconnect: {c:#}");
    let last = interrupt(serve);
    assert!(last.contains("TLS handshakes"), "{last}");
}

#[test]
fn https_to_a_plaintext_port_is_a_tls_failure() {
    let serve = serve(&["--listen", "127.0.0.1:0"]);
    let port = serve.field("http://127.0.0.1:", '/');
    let (code, r) = run_json(&[
        "-n",
        "20",
        "-c",
        "2",
        "-k",
        &format!("https://127.0.0.1:{port}/"),
    ]);
    assert_eq!(code, Some(0));
    assert_eq!(r["total"]["errors"]["tls"], 20, "{:#}", r["total"]);
    assert_eq!(r["total"]["requests"]["balanced"], true);
    assert!(r["notes"].to_string().contains("TLS handshake"));
}

#[test]
fn bad_https_flags_are_one_line_and_exit_2() {
    let url = "https://127.0.0.1:9/";
    let dir = Dir::new("https-flags");
    let not_pem = dir.join("not.pem");
    std::fs::write(&not_pem, "hello").unwrap();
    let not_pem = not_pem.to_str().unwrap();
    for (args, needle) in [
        (vec!["--cacert", "/nonexistent/ca.pem"], "--cacert"),
        (vec!["--cacert", not_pem], "--cacert"),
        (vec!["--key", not_pem], "--key needs --cert"),
        (vec!["--cert", not_pem], "--cert"),
    ] {
        let mut all = vec!["run", "-n", "1"];
        all.extend(args);
        all.push(url);
        let out = myriad(&all);
        let line = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(2), "{all:?}: {line}");
        assert_eq!(line.lines().count(), 1, "{all:?}: {line}");
        assert!(out.stdout.is_empty(), "{all:?}");
        assert!(line.contains(needle), "{all:?}: {line}");
    }
}
