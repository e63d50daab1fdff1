//! `myriad serve`: the built-in target server in the foreground until Ctrl-C.

use std::io::Write;
use std::time::Duration;

use clap::Args;

use myriad::report::format_count;
use myriad_server::ServerConfig;

use crate::args::{at_least_one, positive_duration, EXIT_FAILURE, EXIT_OK};

/// `myriad serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// Delay before each response: 0, a fixed 50ms, or a uniform range 0..3s.
    #[arg(long, value_name = "DELAY", default_value = "0")]
    pub delay: myriad_server::Delay,
    /// Response body size in bytes.
    #[arg(long, value_name = "BYTES", default_value = "2")]
    pub body_size: usize,
    /// Response status code.
    #[arg(long, value_name = "CODE", default_value = "200", value_parser = clap::value_parser!(u16).range(100..=999))]
    pub status: u16,
    /// Server threads [default: number of cores].
    #[arg(long, value_name = "N", value_parser = at_least_one)]
    pub threads: Option<usize>,
    /// Close a connection whose request head does not arrive within this time.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = positive_duration)]
    pub header_timeout: Duration,
}

/// Runs `myriad serve` and returns the exit code.
pub fn execute(args: ServeArgs) -> i32 {
    let listener = match myriad_server::bind(args.listen) {
        Ok(l) => l,
        Err(e) => {
            eprintln!(
                "error: cannot listen on {} (--listen): {e}; choose another address or port",
                args.listen
            );
            return crate::args::EXIT_USAGE;
        }
    };
    myriad::sys::raise_open_files_limit();
    let config = ServerConfig {
        delay: args.delay,
        body_size: args.body_size,
        status: args.status,
        header_timeout: args.header_timeout,
    };
    let threads = args.threads.unwrap_or_else(myriad::config::available_cores);
    let describe = format!(
        "delay {}, body {} bytes, status {}, {} threads",
        config.delay, config.body_size, config.status, threads
    );
    let server = match myriad_server::spawn(listener, config, threads) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot start the server: {e}");
            return EXIT_FAILURE;
        }
    };
    println!(
        "myriad serve: listening on http://{}/ ({describe}); Ctrl-C to stop",
        server.local_addr()
    );
    let _ = std::io::stdout().flush();
    wait_for_interrupt();
    let stats = server.shutdown();
    println!(
        "myriad serve: stopped; {} connections accepted (peak {} open), {} requests served, {} bad requests, {} header timeouts",
        format_count(stats.connections_accepted),
        format_count(stats.peak_connections),
        format_count(stats.requests_served),
        format_count(stats.bad_requests),
        format_count(stats.header_timeouts)
    );
    EXIT_OK
}

fn wait_for_interrupt() {
    let token = tokio_util::sync::CancellationToken::new();
    crate::signal::cancel_on_interrupt(token.clone());
    while !token.is_cancelled() {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
