//! The real `myriad` binary speaking HTTP/2 (`--h2c`, `--http2`) to an
//! independent server: nginx (Debian's package; `.ci/run` installs it),
//! started by each test on 127.0.0.1 with a configuration of its own whose
//! listeners are `http2` (prior knowledge on the plaintext one, ALPN on the
//! TLS one). Every count myriad reports is checked against
//! nginx's access log, read after nginx has stopped (SIGQUIT) so it is
//! complete.

use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Bounds a failing wait only (nginx starting or stopping).
const WAIT: Duration = Duration::from_secs(30);

/// The line nginx logs for each request myriad makes (`log_format m`).
const LOGGED: &str = "GET / HTTP/2.0 200";

/// The nginx binary: on `PATH`, or where Debian puts it (`/usr/sbin` is not
/// always on a test's `PATH`).
fn nginx_bin() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|d| d.join("nginx"))
        .find(|p| p.is_file());
    let bin = on_path.unwrap_or_else(|| PathBuf::from("/usr/sbin/nginx"));
    assert!(
        bin.is_file(),
        "nginx is not installed (not on PATH, no /usr/sbin/nginx): these tests need it; \
         `bash .ci/run` installs it (apt-get install nginx-light openssl)"
    );
    bin
}

/// A free port on 127.0.0.1: bound by the kernel, read, released. Another
/// process may take it before nginx binds; `Nginx::start` retries then.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running nginx (master and one worker in a process group of their own),
/// with a plaintext server on `port` and a TLS one on `tls_port`, each with
/// its own access log. Killed with its group when dropped.
struct Nginx {
    child: Option<Child>,
    dir: PathBuf,
    port: u16,
    tls_port: u16,
}

impl Nginx {
    fn start() -> Nginx {
        Nginx::start_with(1_000_000)
    }

    /// nginx closing each connection (GOAWAY) after `keepalive_requests`.
    fn start_with(keepalive_requests: u32) -> Nginx {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let bin = nginx_bin();
        let dir = std::env::temp_dir().join(format!(
            "myriad-nginx-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // The worker runs as nobody when the tests run as root.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        make_cert(&dir);
        let help = Command::new(&bin).arg("-h").output().unwrap();
        let has_e = String::from_utf8_lossy(&help.stderr).contains("-e filename")
            || String::from_utf8_lossy(&help.stdout).contains("-e filename");
        for attempt in 1..=5 {
            let (port, tls_port) = (free_port(), free_port());
            if port == tls_port {
                continue;
            }
            write_conf(&dir, port, tls_port, keepalive_requests);
            let _ = std::fs::remove_file(dir.join("error.log"));
            let mut cmd = Command::new(&bin);
            if has_e {
                cmd.arg("-e").arg(dir.join("error.log"));
            }
            let child = cmd
                .arg("-c")
                .arg(dir.join("nginx.conf"))
                .args(["-g", "daemon off;"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(dir.join("stderr.log")).unwrap())
                .process_group(0)
                .spawn()
                .unwrap();
            let mut nginx = Nginx {
                child: Some(child),
                dir: dir.clone(),
                port,
                tls_port,
            };
            match nginx.wait_listening() {
                Ok(()) => return nginx,
                Err(log) if attempt < 5 && log.contains("Address already in use") => {
                    nginx.child = None;
                    continue;
                }
                Err(log) => panic!("nginx did not start: {log}"),
            }
        }
        panic!("nginx could not bind a free port in 5 attempts");
    }

    /// Waits until both servers accept, or returns nginx's logs if it exits.
    fn wait_listening(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                return Err(format!("exited {status}: {}", self.logs()));
            }
            if [self.port, self.tls_port]
                .iter()
                .all(|p| TcpStream::connect(("127.0.0.1", *p)).is_ok())
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!("not listening after {WAIT:?}: {}", self.logs()));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn logs(&self) -> String {
        let read = |f: &str| std::fs::read_to_string(self.dir.join(f)).unwrap_or_default();
        format!(
            "stderr: {:?}; error.log: {:?}",
            read("stderr.log"),
            read("error.log")
        )
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    fn tls_url(&self) -> String {
        format!("https://localhost:{}/", self.tls_port)
    }

    fn cert(&self) -> String {
        self.dir.join("cert.pem").to_str().unwrap().to_string()
    }

    /// Stops nginx gracefully (SIGQUIT: the logs are flushed and closed) and
    /// returns the access logs, plaintext then TLS.
    fn stop(mut self) -> (AccessLog, AccessLog) {
        let mut child = self.child.take().unwrap();
        let pid = child.id() as libc::pid_t;
        unsafe { libc::kill(pid, libc::SIGQUIT) };
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(status.success(), "nginx exited {status}: {}", self.logs());
                break;
            }
            if Instant::now() >= deadline {
                unsafe { libc::killpg(pid, libc::SIGKILL) };
                let _ = child.wait();
                panic!("nginx did not stop within {WAIT:?} of SIGQUIT");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        (
            AccessLog::read(&self.dir.join("access.log")),
            AccessLog::read(&self.dir.join("access_tls.log")),
        )
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            unsafe { libc::killpg(child.id() as libc::pid_t, libc::SIGKILL) };
            let _ = child.wait();
        }
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The lines of one access log.
struct AccessLog(Vec<String>);

impl AccessLog {
    fn read(path: &Path) -> AccessLog {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        AccessLog(text.lines().map(str::to_string).collect())
    }

    /// Asserts `n` lines, each a `GET /` over HTTP/2 answered 200.
    fn assert_requests(&self, n: usize, what: &str) {
        assert_eq!(self.0.len(), n, "{what}: access log lines");
        if let Some(other) = self.0.iter().find(|l| *l != LOGGED) {
            panic!("{what}: unexpected access log line {other:?}");
        }
    }
}

/// A self-signed P-256 certificate for localhost and 127.0.0.1. `openssl req
/// -x509` marks it `CA:TRUE` by default, which webpki refuses as a server's
/// own certificate (`CaUsedAsEndEntity`); it is marked `CA:FALSE` instead.
fn make_cert(dir: &Path) {
    let out = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .arg("ec_paramgen_curve:P-256")
        .args(["-nodes", "-days", "1", "-subj", "/CN=localhost", "-addext"])
        .arg("subjectAltName=DNS:localhost,IP:127.0.0.1")
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(dir.join("key.pem"))
        .arg("-out")
        .arg(dir.join("cert.pem"))
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run openssl ({e}): `bash .ci/run` installs it (apt-get install openssl)")
        });
    assert!(
        out.status.success(),
        "openssl req failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn write_conf(dir: &Path, port: u16, tls_port: u16, keepalive_requests: u32) {
    let d = dir.display();
    for t in ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"] {
        std::fs::create_dir_all(dir.join(t)).unwrap();
    }
    let conf = format!(
        r#"worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{
    worker_connections 1024;
}}
http {{
    log_format m '$request_method $request_uri $server_protocol $status';
    keepalive_requests {keepalive_requests};
    keepalive_timeout 300s;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    server {{
        listen 127.0.0.1:{port} http2;
        access_log {d}/access.log m;
        location / {{
            return 200 "ok";
        }}
    }}
    server {{
        listen 127.0.0.1:{tls_port} ssl http2;
        ssl_certificate {d}/cert.pem;
        ssl_certificate_key {d}/key.pem;
        access_log {d}/access_tls.log m;
        location / {{
            return 200 "ok";
        }}
    }}
}}
"#
    );
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
}

/// `myriad run --json ARGS`: asserts exit 0 and returns the report.
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

/// Asserts every one of `n` requests issued succeeded, balanced.
fn assert_all_succeeded(r: &serde_json::Value, n: u64) {
    let t = &r["total"];
    assert_eq!(t["requests"]["issued"], n, "{t:#}");
    assert_eq!(t["requests"]["succeeded"], n, "{t:#}");
    assert_eq!(t["requests"]["balanced"], true, "{t:#}");
}

/// `--h2c -n 2000 -c 4 -p STREAMS`: every request one stream, each logged.
fn h2c_at(streams: &str) {
    let nginx = Nginx::start();
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
    let nginx = Nginx::start();
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
/// it refused after the last one it answers end as `protocol` failures, and
/// every request it did answer ends as its response: myriad's successes are
/// exactly nginx's log lines, and every request is one outcome.
#[test]
fn goaway_refusals_are_failures_and_answered_streams_succeed() {
    let nginx = Nginx::start_with(1000);
    let r = run_json(&["--h2c", "-n", "5000", "-c", "2", "-p", "10", &nginx.url()]);
    let t = &r["total"];
    assert_eq!(t["requests"]["issued"], 5000, "{t:#}");
    assert_eq!(t["requests"]["balanced"], true, "{t:#}");
    let succeeded = t["requests"]["succeeded"].as_u64().unwrap();
    assert_eq!(
        succeeded + t["errors"]["protocol"].as_u64().unwrap(),
        5000,
        "{t:#}"
    );
    let opened = r["connections"]["opened"].as_u64().unwrap();
    assert!(opened > 2, "nginx's GOAWAY makes reconnects: {opened}");
    let (plain, _) = nginx.stop();
    plain.assert_requests(succeeded as usize, "h2c with GOAWAY every 1000");
}
