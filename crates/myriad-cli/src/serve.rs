//! `myriad serve`: the built-in target server in the foreground until Ctrl-C.
//!
//! One process by default. With `--workers N` (or `auto`) this process becomes
//! a supervisor of N worker processes that share the listening ports with
//! `SO_REUSEPORT`, the way past one process's open-file limit
//! ([`supervisor`]); each worker is this binary again, in the hidden
//! `--child` mode ([`child`]).

mod child;
mod supervisor;

use std::fmt;
use std::io::Write;
use std::str::FromStr;
use std::time::Duration;

use clap::Args;
use tokio_util::sync::CancellationToken;

use myriad::report::format_count;
use myriad_server::{ListenSpec, ServerConfig, StatsSnapshot};

use crate::args::{at_least_one, at_least_one_u64, positive_duration, EXIT_FAILURE, EXIT_OK};

/// Connections one worker process is planned for with `--workers auto`: below
/// the 20,000 open files a process may have here, with room for the uneven
/// spread of `SO_REUSEPORT`'s hash.
const CONNECTIONS_PER_WORKER: u64 = 16_000;

/// `myriad serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on, or a range of ports on one IP (127.0.0.1:8080-8099).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: ListenSpec,
    /// Delay before each response: 0, a fixed 50ms, or a uniform range 0..3s.
    #[arg(long, value_name = "DELAY", default_value = "0")]
    pub delay: myriad_server::Delay,
    /// Response body size in bytes.
    #[arg(long, value_name = "BYTES", default_value = "2")]
    pub body_size: usize,
    /// Response status code.
    #[arg(long, value_name = "CODE", default_value = "200", value_parser = clap::value_parser!(u16).range(100..=999))]
    pub status: u16,
    /// Server threads per process [default: number of cores; 1 with --workers above 1].
    #[arg(long, value_name = "N", value_parser = at_least_one)]
    pub threads: Option<usize>,
    /// Close a connection whose request head does not arrive within this time.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = positive_duration)]
    pub header_timeout: Duration,
    /// Server processes sharing the ports: a number, or auto for enough to hold
    /// --max-connections at 16,000 connections each.
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
        }
    }
}

/// Runs `myriad serve` and returns the exit code.
pub fn execute(args: ServeArgs) -> i32 {
    if let Some(spec) = args.child {
        return child::run(spec, args.config(), args.threads.unwrap_or(1));
    }
    let workers = args.workers.count(args.max_connections);
    if workers > 1 {
        return supervisor::run(&args, workers);
    }
    single(&args)
}

/// The whole server in this process.
fn single(args: &ServeArgs) -> i32 {
    let listeners = match args.listen.bind_all() {
        Ok(l) => l,
        Err((addr, e)) => return cannot_listen(addr, &e),
    };
    myriad::sys::raise_open_files_limit();
    let config = args.config();
    let threads = args.threads.unwrap_or_else(myriad::config::available_cores);
    let describe = describe(&config, format!("{threads} threads"));
    let server = match myriad_server::spawn_many(listeners, config, threads) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot start the server: {e}");
            return EXIT_FAILURE;
        }
    };
    let stop = interrupt_token();
    let spec = args.listen.resolved(server.local_addr().port());
    announce(spec, &describe);
    myriad::supervise::wait_cancelled(&stop, None);
    let stats = server.shutdown();
    Outcome {
        total: stats,
        per_worker: vec![stats],
        pids: vec![std::process::id()],
        died: Vec::new(),
    }
    .print(args.json);
    EXIT_OK
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
/// tests read the address from) and flushes it.
fn announce(spec: ListenSpec, describe: &str) {
    println!("myriad serve: listening on http://{spec}/ ({describe}); Ctrl-C to stop");
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
                "workers": self.per_worker.len(),
                "workers_died": self.died.len(),
                "per_worker_accepted": per(|s| s.connections_accepted),
                "per_worker_peak": per(|s| s.peak_connections),
                "worker_pids": self.pids,
            });
            println!("{value}");
        } else {
            println!(
                "myriad serve: stopped; {} connections accepted (peak {} open), {} requests served, {} bad requests, {} header timeouts",
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
