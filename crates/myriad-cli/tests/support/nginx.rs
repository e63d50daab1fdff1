//! nginx for tests (Debian's package; `.ci/run` installs it): started on
//! 127.0.0.1 with a configuration of its own, a plaintext and a TLS server
//! (HTTP/1.1, or HTTP/2 on both), each with an access log read after nginx
//! has stopped (SIGQUIT), so every count myriad reports can be checked
//! against it. Shared by `nginx.rs` and `nginx_h2.rs`.

use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Bounds a failing wait only (nginx starting or stopping).
const WAIT: Duration = Duration::from_secs(30);

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
pub struct Nginx {
    child: Option<Child>,
    dir: PathBuf,
    port: u16,
    tls_port: u16,
    http2: bool,
}

impl Nginx {
    /// nginx speaking HTTP/1.1 on both servers.
    pub fn start() -> Nginx {
        Nginx::start_with(false, 1_000_000)
    }

    /// nginx speaking HTTP/2 on both servers (`--h2c` on the plaintext one,
    /// ALPN on the TLS one).
    pub fn start_http2() -> Nginx {
        Nginx::start_with(true, 1_000_000)
    }

    /// nginx closing each connection (HTTP/2: with a GOAWAY) after
    /// `keepalive_requests`.
    pub fn start_with(http2: bool, keepalive_requests: u32) -> Nginx {
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
            write_conf(&dir, port, tls_port, http2, keepalive_requests);
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
                http2,
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

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    pub fn tls_url(&self) -> String {
        format!("https://localhost:{}/", self.tls_port)
    }

    pub fn cert(&self) -> String {
        self.dir.join("cert.pem").to_str().unwrap().to_string()
    }

    /// Stops nginx gracefully (SIGQUIT: the logs are flushed and closed) and
    /// returns the access logs, plaintext then TLS.
    pub fn stop(mut self) -> (AccessLog, AccessLog) {
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
        // The line nginx logs for each request myriad makes (`log_format m`).
        let expected = match self.http2 {
            true => "GET / HTTP/2.0 200",
            false => "GET / HTTP/1.1 200",
        };
        let mut plain = AccessLog::read(&self.dir.join("access.log"), expected);
        plain.requests = std::fs::read_to_string(self.dir.join("targets.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect();
        (
            plain,
            AccessLog::read(&self.dir.join("access_tls.log"), expected),
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

/// The lines of one access log, and the line each request should have left.
pub struct AccessLog {
    lines: Vec<String>,
    expected: &'static str,
    /// The plaintext server's second log, of any request:
    /// `$request_method $request_uri $content_length $status`.
    requests: Vec<String>,
}

impl AccessLog {
    fn read(path: &Path, expected: &'static str) -> AccessLog {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        AccessLog {
            lines: text.lines().map(str::to_string).collect(),
            expected,
            requests: Vec::new(),
        }
    }

    /// The plaintext server's lines `METHOD URI CONTENT_LENGTH STATUS`
    /// (`-` without a `Content-Length`), one per request, for requests other
    /// than `GET /`.
    pub fn requests(&self) -> &[String] {
        &self.requests
    }

    /// Every line of the log: `METHOD URI PROTOCOL STATUS` (`log_format m`).
    pub fn lines(&self) -> &[String] {
        &self.lines
    }

    /// Asserts `n` lines, each a `GET /` in the server's protocol answered 200.
    pub fn assert_requests(&self, n: usize, what: &str) {
        assert_eq!(self.lines.len(), n, "{what}: access log lines");
        if let Some(other) = self.lines.iter().find(|l| *l != self.expected) {
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

fn write_conf(dir: &Path, port: u16, tls_port: u16, http2: bool, keepalive_requests: u32) {
    let d = dir.display();
    let h2 = if http2 { " http2" } else { "" };
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
    log_format t '$request_method $request_uri $content_length $status';
    keepalive_requests {keepalive_requests};
    keepalive_timeout 300s;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    server {{
        listen 127.0.0.1:{port}{h2};
        access_log {d}/access.log m;
        access_log {d}/targets.log t;
        location / {{
            return 200 "ok";
        }}
    }}
    server {{
        listen 127.0.0.1:{tls_port} ssl{h2};
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
pub fn run_json(args: &[&str]) -> serde_json::Value {
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
pub fn assert_all_succeeded(r: &serde_json::Value, n: u64) {
    let t = &r["total"];
    assert_eq!(t["requests"]["issued"], n, "{t:#}");
    assert_eq!(t["requests"]["succeeded"], n, "{t:#}");
    assert_eq!(t["requests"]["balanced"], true, "{t:#}");
}
