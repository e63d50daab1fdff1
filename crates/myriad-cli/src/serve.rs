//! `myriad serve`: the built-in target server in the foreground until Ctrl-C.
//!
//! One process by default. With `--workers N` (or `auto`) this process becomes
//! a supervisor of N worker processes that share the listening ports with
//! `SO_REUSEPORT`, the way past one process's open-file limit
//! ([`supervisor`]); each worker is this binary again, in the hidden
//! `--child` mode ([`child`]).
//!
//! `--listen unix:PATH` serves on a Unix socket (one process); `--tls` or
//! `--tls-cert`/`--tls-key` serve HTTPS ([`tls`]) on either. Every listener
//! speaks HTTP/1.1 and HTTP/2: with prior knowledge (h2c) in cleartext, by
//! ALPN (`h2`, `http/1.1`) over TLS.

mod child;
mod supervisor;
mod tls;

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use clap::Args;
use tokio_util::sync::CancellationToken;

use myriad::report::format_count;
use myriad_server::{Endpoint, ListenSpec, ServerConfig, StatsSnapshot, StdListener};

use crate::args::{
    at_least_one, at_least_one_u64, byte_size, positive_duration, EXIT_FAILURE, EXIT_OK,
};

/// Connections one worker process is planned for with `--workers auto`: below
/// the 20,000 open files a process may have here, with room for the uneven
/// spread of `SO_REUSEPORT`'s hash.
const CONNECTIONS_PER_WORKER: u64 = 16_000;

/// `myriad serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on, a range of ports on one IP (127.0.0.1:8080-8099),
    /// or a Unix socket (unix:/tmp/myriad.sock; a stale socket file there is
    /// replaced). Each serves HTTP/1.1, and HTTP/2 to clients that open with
    /// its preface (prior knowledge, h2c).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: Endpoint,
    /// Serve HTTPS with a self-signed certificate for localhost, 127.0.0.1 and
    /// ::1, written as PEM to the file the listening line names (for a
    /// client's --cacert). ALPN offers h2 and http/1.1; without ALPN the
    /// session is HTTP/1.1.
    #[arg(long)]
    pub tls: bool,
    /// Serve HTTPS with this PEM certificate chain (needs --tls-key).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Where --tls writes its certificate [default: myriad-serve-PORT.pem in
    /// the system temp dir].
    #[arg(
        long,
        value_name = "PATH",
        requires = "tls",
        conflicts_with = "tls_cert"
    )]
    pub tls_cert_out: Option<PathBuf>,
    /// Delay before each response: 0, a fixed 50ms, or a uniform range 0..3s.
    #[arg(long, value_name = "DELAY", default_value = "0")]
    pub delay: myriad_server::Delay,
    /// Response body size in bytes.
    #[arg(long, value_name = "BYTES", default_value = "2")]
    pub body_size: usize,
    /// Response status code.
    #[arg(long, value_name = "CODE", default_value = "200", value_parser = clap::value_parser!(u16).range(100..=999))]
    pub status: u16,
    /// HTTP/2 streams a client may have open at once per connection
    /// (SETTINGS_MAX_CONCURRENT_STREAMS). HTTP/2 is served with prior
    /// knowledge (h2c) in cleartext and by ALPN h2 with --tls.
    #[arg(long, value_name = "N", default_value = "256", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_streams: u32,
    /// Append a line per request to FILE: `METHOD PATH BODY_BYTES STATUS`
    /// (buffered; written every second and at shutdown).
    #[arg(long, value_name = "FILE")]
    pub access_log: Option<std::path::PathBuf>,
    /// Largest request body accepted (bytes; KiB, MiB, GiB allowed): a longer
    /// one gets 413 Content Too Large (HTTP/1.1: then the connection closes;
    /// HTTP/2: the stream is reset).
    #[arg(long, value_name = "BYTES", default_value = "64MiB", value_parser = byte_size)]
    pub max_body: u64,
    /// Server threads per process [default: number of cores; 1 with --workers above 1].
    #[arg(long, value_name = "N", value_parser = at_least_one)]
    pub threads: Option<usize>,
    /// Close a connection whose request head (or TLS handshake, or HTTP/2
    /// preface and SETTINGS) does not arrive within this time.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = positive_duration)]
    pub header_timeout: Duration,
    /// Server processes sharing the ports: a number, or auto for enough to hold
    /// --max-connections at 16,000 connections each (TCP only; with --tls all
    /// share one certificate).
    #[arg(long, value_name = "N|auto", default_value = "1")]
    pub workers: Workers,
    /// Concurrent connections to plan for with --workers auto.
    #[arg(long, value_name = "N", default_value = "1000000", value_parser = at_least_one_u64)]
    pub max_connections: u64,
    /// Print the final counters as one JSON object instead of a sentence.
    #[arg(long)]
    pub json: bool,
    /// Internal: run as one worker of a supervising `myriad serve`, on these
    /// (already resolved) addresses.
    #[arg(long, value_name = "ADDR", hide = true)]
    pub child: Option<ListenSpec>,
    /// Internal: a worker's certificate file, written by its supervisor.
    #[arg(long, value_name = "FILE", hide = true, requires = "child_key")]
    pub child_cert: Option<PathBuf>,
    /// Internal: a worker's key file, written by its supervisor.
    #[arg(long, value_name = "FILE", hide = true, requires = "child_cert")]
    pub child_key: Option<PathBuf>,
}

/// How many server processes `--workers` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workers {
    /// Exactly this many.
    Count(usize),
    /// Enough for `--max-connections`.
    Auto,
}

impl Workers {
    /// The number of processes, planning `auto` for `max_connections`.
    pub fn count(self, max_connections: u64) -> usize {
        match self {
            Workers::Count(n) => n,
            Workers::Auto => {
                let n = max_connections.div_ceil(CONNECTIONS_PER_WORKER).max(1);
                usize::try_from(n).unwrap_or(usize::MAX)
            }
        }
    }
}

impl FromStr for Workers {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim().eq_ignore_ascii_case("auto") {
            return Ok(Workers::Auto);
        }
        at_least_one(s)
            .map(Workers::Count)
            .map_err(|_| "expected a whole number of at least 1, or auto".into())
    }
}

impl ServeArgs {
    fn config(&self) -> ServerConfig {
        ServerConfig {
            delay: self.delay,
            body_size: self.body_size,
            status: self.status,
            header_timeout: self.header_timeout,
            max_streams: self.max_streams,
            access_log: None,
            max_body: self.max_body,
        }
    }

    /// [`config`](Self::config) with the access log opened; on failure
    /// prints why and returns exit code 2.
    fn config_with_log(&self) -> Result<ServerConfig, i32> {
        let mut config = self.config();
        if let Some(path) = &self.access_log {
            match myriad_server::AccessLog::open(path) {
                Ok(log) => config.access_log = Some(log),
                Err(e) => {
                    eprintln!("error: cannot open --access-log '{}': {e}", path.display());
                    return Err(crate::args::EXIT_USAGE);
                }
            }
        }
        Ok(config)
    }
}

/// Runs `myriad serve` and returns the exit code.
pub fn execute(args: ServeArgs) -> i32 {
    if let Some(spec) = args.child {
        let tls = match tls::child(&args) {
            Ok(tls) => tls,
            Err(e) => {
                eprintln!("error: worker (pid {}): {e}", std::process::id());
                return EXIT_FAILURE;
            }
        };
        let config = match args.config_with_log() {
            Ok(c) => c,
            Err(code) => return code,
        };
        return child::run(spec, config, args.threads.unwrap_or(1), tls);
    }
    let workers = args.workers.count(args.max_connections);
    if workers > 1 {
        return match &args.listen {
            Endpoint::Tcp(spec) => supervisor::run(&args, *spec, workers),
            Endpoint::Unix(_) => {
                eprintln!("error: --workers above 1 needs a TCP --listen address: worker processes cannot share a Unix socket");
                crate::args::EXIT_USAGE
            }
        };
    }
    single(&args)
}

/// The whole server in this process.
fn single(args: &ServeArgs) -> i32 {
    let listeners: Vec<StdListener> = match &args.listen {
        Endpoint::Tcp(spec) => match spec.bind_all() {
            Ok(l) => l.into_iter().map(StdListener::from).collect(),
            Err((addr, e)) => return cannot_listen(addr, &e),
        },
        Endpoint::Unix(path) => match myriad_server::bind_unix(path) {
            Ok(l) => vec![l.into()],
            Err(e) => return cannot_listen_unix(path, &e),
        },
    };
    // The port the kernel chose for port 0, known only once bound.
    let port = listeners.first().and_then(|l| match l.local_addr() {
        Ok(myriad_server::BoundAddr::Tcp(addr)) => Some(addr.port()),
        _ => None,
    });
    let cert_name = port.map_or_else(|| std::process::id().to_string(), |p| p.to_string());
    let tls = match tls::setup(args, &cert_name) {
        Ok(tls) => tls,
        Err(code) => return code,
    };
    myriad::sys::raise_open_files_limit();
    let config = match args.config_with_log() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let threads = args.threads.unwrap_or_else(myriad::config::available_cores);
    let describe = describe(&config, format!("{threads} threads"));
    let acceptor = tls.as_ref().map(|t| t.tls.clone());
    let server = match myriad_server::spawn_on(listeners, config, acceptor, threads) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot start the server: {e}");
            return EXIT_FAILURE;
        }
    };
    let stop = interrupt_token();
    let cert = tls.as_ref().map(|t| t.cert_path.as_path());
    let place = match &args.listen {
        Endpoint::Tcp(spec) => Place::Tcp(spec.resolved(server.local_addr().port())),
        Endpoint::Unix(path) => Place::Unix(path.clone()),
    };
    announce(&place, cert, &describe);
    myriad::supervise::wait_cancelled(&stop, None);
    let stats = server.shutdown();
    if let Place::Unix(path) = &place {
        remove_socket(path);
    }
    Outcome {
        total: stats,
        per_worker: vec![stats],
        pids: vec![std::process::id()],
        died: Vec::new(),
        tls: tls.is_some(),
    }
    .print(args.json);
    EXIT_OK
}

/// Where a started server listens, for its listening line.
#[derive(Debug, Clone)]
enum Place {
    Tcp(ListenSpec),
    Unix(PathBuf),
}

/// Removes the server's socket file at the end, if it still is a socket (a
/// later server may have replaced it with something else).
fn remove_socket(path: &Path) {
    use std::os::unix::fs::FileTypeExt;
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket()) {
        let _ = std::fs::remove_file(path);
    }
}

/// The one-line usage error of a Unix socket that cannot be bound.
fn cannot_listen_unix(path: &Path, e: &std::io::Error) -> i32 {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if e.kind() == std::io::ErrorKind::NotFound && !dir.is_dir() {
        eprintln!(
            "error: cannot listen on unix:{} (--listen): directory {} does not exist",
            path.display(),
            dir.display()
        );
    } else {
        eprintln!(
            "error: cannot listen on unix:{} (--listen): {e}",
            path.display()
        );
    }
    crate::args::EXIT_USAGE
}

/// The one-line usage error of an address that cannot be bound.
fn cannot_listen(addr: std::net::SocketAddr, e: &std::io::Error) -> i32 {
    eprintln!("error: cannot listen on {addr} (--listen): {e}; choose another address or port");
    crate::args::EXIT_USAGE
}

fn describe(config: &ServerConfig, processes: String) -> String {
    format!(
        "delay {}, body {} bytes, status {}, {processes}",
        config.delay, config.body_size, config.status
    )
}

/// Prints the listening line (the first line of output, which scripts and
/// tests read the address and the certificate file from) and flushes it:
/// `listening on http://ADDR/ (...)`, `https://ADDR/ (certificate PATH; ...)`,
/// `unix:PATH (...)` or `unix:PATH (TLS, certificate PATH; ...)`.
fn announce(place: &Place, cert: Option<&Path>, describe: &str) {
    let (at, cert) = match (place, cert) {
        (Place::Tcp(spec), None) => (format!("http://{spec}/"), String::new()),
        (Place::Tcp(spec), Some(c)) => (
            format!("https://{spec}/"),
            format!("certificate {}; ", c.display()),
        ),
        (Place::Unix(path), None) => (format!("unix:{}", path.display()), String::new()),
        (Place::Unix(path), Some(c)) => (
            format!("unix:{}", path.display()),
            format!("TLS, certificate {}; ", c.display()),
        ),
    };
    println!("myriad serve: listening on {at} ({cert}{describe}); Ctrl-C to stop");
    let _ = std::io::stdout().flush();
}

/// A token cancelled on the first SIGINT or SIGTERM, whose handlers are in
/// place when this returns: a signal sent right after the listening line
/// must stop the server cleanly, not kill it with the default action.
/// (`crate::signal::cancel_on_interrupt` installs them later, on its thread;
/// it remains the fallback.)
fn interrupt_token() -> CancellationToken {
    let token = CancellationToken::new();
    crate::signal::cancel_on_interrupt(token.clone());
    token
}

/// A worker process that died, for the final report.
#[derive(Debug, Clone)]
struct Died {
    worker: usize,
    pid: u32,
    how: String,
}

/// What a stopped server reports: the totals and each process's share.
#[derive(Debug, Clone)]
struct Outcome {
    total: StatsSnapshot,
    per_worker: Vec<StatsSnapshot>,
    pids: Vec<u32>,
    died: Vec<Died>,
    /// Whether the server spoke TLS (the handshake counters are printed then).
    tls: bool,
}

impl Outcome {
    /// The final counters as a sentence (and a line per worker that died), or
    /// as one JSON object.
    fn print(&self, json: bool) {
        let t = &self.total;
        if json {
            let per = |f: fn(&StatsSnapshot) -> u64| -> Vec<u64> {
                self.per_worker.iter().map(f).collect()
            };
            let value = serde_json::json!({
                "connections_accepted": t.connections_accepted,
                "peak_connections": t.peak_connections,
                "requests_served": t.requests_served,
                "bad_requests": t.bad_requests,
                "header_timeouts": t.header_timeouts,
                "heads_too_large": t.heads_too_large,
                "bodies_too_large": t.bodies_too_large,
                "tls_handshakes": t.tls_handshakes,
                "tls_handshake_failures": t.tls_handshake_failures,
                "workers": self.per_worker.len(),
                "workers_died": self.died.len(),
                "per_worker_accepted": per(|s| s.connections_accepted),
                "per_worker_peak": per(|s| s.peak_connections),
                "worker_pids": self.pids,
            });
            println!("{value}");
        } else {
            let tls = if self.tls {
                format!(
                    ", {} TLS handshakes, {} failed",
                    format_count(t.tls_handshakes),
                    format_count(t.tls_handshake_failures)
                )
            } else {
                String::new()
            };
            // Only when there were some: the usual sentence stays as it was.
            let mut refused = String::new();
            if t.heads_too_large > 0 {
                refused.push_str(&format!(
                    ", {} heads too large",
                    format_count(t.heads_too_large)
                ));
            }
            if t.bodies_too_large > 0 {
                refused.push_str(&format!(
                    ", {} bodies too large",
                    format_count(t.bodies_too_large)
                ));
            }
            println!(
                "myriad serve: stopped; {} connections accepted (peak {} open), {} requests served, {} bad requests{refused}, {} header timeouts{tls}",
                format_count(t.connections_accepted),
                format_count(t.peak_connections),
                format_count(t.requests_served),
                format_count(t.bad_requests),
                format_count(t.header_timeouts)
            );
            for d in &self.died {
                println!("{d}");
            }
        }
        let _ = std::io::stdout().flush();
    }
}

impl fmt::Display for Died {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "myriad serve: worker {} (pid {}) died ({}); its last counts are included",
            self.worker, self.pid, self.how
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_parse_and_plan() {
        assert_eq!("3".parse(), Ok(Workers::Count(3)));
        assert_eq!(" AUTO ".parse(), Ok(Workers::Auto));
        assert!("0".parse::<Workers>().is_err());
        assert!("many".parse::<Workers>().is_err());
        assert_eq!(Workers::Count(5).count(1_000_000), 5);
        assert_eq!(Workers::Auto.count(1_000_000), 63);
        assert_eq!(Workers::Auto.count(16_000), 1);
        assert_eq!(Workers::Auto.count(16_001), 2);
        assert_eq!(Workers::Auto.count(1), 1);
    }
}
