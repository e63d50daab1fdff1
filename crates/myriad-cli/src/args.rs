//! Command-line arguments, parsed once and turned into the library's configs.
//!
//! Usage errors (bad flags, bad URLs, missing files) print one line on stderr
//! and exit with code 2 before any traffic is sent.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// Exit code of a run that completed (whatever its requests' outcomes).
pub const EXIT_OK: i32 = 0;
/// Exit code of a failure at run time (a worker died, a report could not be written).
pub const EXIT_FAILURE: i32 = 1;
/// Exit code of a usage error: nothing was sent.
pub const EXIT_USAGE: i32 = 2;
/// Exit code of a run interrupted by Ctrl-C (128 + SIGINT), after its report.
pub const EXIT_INTERRUPTED: i32 = 130;

#[derive(Debug, Parser)]
#[command(
    name = "myriad",
    version,
    about = "HTTP load generator and test server, from one connection to a million",
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Load one or more URLs and report throughput, latency and errors.
    Run(RunArgs),
    /// Run the built-in target server.
    Serve(ServeArgs),
    /// Start the built-in server and make a million requests against it.
    Demo(DemoArgs),
}

/// `myriad run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Target URLs (http://host[:port][/path]); several spread the load round-robin.
    #[arg(required = true, value_name = "URL")]
    pub urls: Vec<String>,
    /// Concurrent connections.
    #[arg(short = 'c', long, value_name = "N", default_value = "50", value_parser = at_least_one)]
    pub connections: usize,
    /// Exact total number of requests (instead of a duration).
    #[arg(short = 'n', long, value_name = "N", conflicts_with = "duration", value_parser = at_least_one_u64)]
    pub requests: Option<u64>,
    /// How long to send requests, e.g. 10s, 2m, 500ms [default: 10s].
    #[arg(short = 'z', long, value_name = "DURATION", value_parser = positive_duration)]
    pub duration: Option<Duration>,
    /// Request method.
    #[arg(short = 'm', long, value_name = "METHOD", default_value = "GET")]
    pub method: String,
    /// Extra request header, 'Name: value' (repeatable).
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE", value_parser = header)]
    pub headers: Vec<(String, String)>,
    /// Request body.
    #[arg(short = 'd', long, value_name = "BODY", conflicts_with = "body_file")]
    pub body: Option<String>,
    /// Read the request body from a file.
    #[arg(long, value_name = "FILE")]
    pub body_file: Option<PathBuf>,
    /// Limit for each request, from send to the end of the response.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = positive_duration)]
    pub timeout: Duration,
    /// Limit for establishing each connection.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = positive_duration)]
    pub connect_timeout: Duration,
    /// Worker threads [default: number of cores].
    #[arg(short = 't', long, value_name = "N", value_parser = at_least_one)]
    pub threads: Option<usize>,
    /// Open a new connection for every request (shows what keep-alive saves).
    #[arg(long)]
    pub disable_keepalive: bool,
    /// Print the report as JSON on stdout (schema: schema/report.schema.json).
    #[arg(long)]
    pub json: bool,
    /// Also write the JSON report to FILE.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// No banner and no live progress line.
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

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

/// `myriad demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Total requests.
    #[arg(short = 'n', long, value_name = "N", default_value = "1000000", value_parser = at_least_one_u64)]
    pub requests: u64,
    /// Concurrent connections (the original experiment's semaphore was 1,000).
    #[arg(short = 'c', long, value_name = "N", default_value = "1000", value_parser = at_least_one)]
    pub connections: usize,
    /// Server delay before each response: 0, 50ms, or a uniform range 0..3s.
    #[arg(long, value_name = "DELAY", default_value = "0")]
    pub delay: myriad_server::Delay,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// No live progress line.
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

/// Parses the process arguments and runs the command; returns the exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return clap_error(e),
    };
    match cli.command {
        Command::Run(args) => crate::run::execute(args),
        Command::Serve(args) => crate::serve::execute(args),
        Command::Demo(args) => crate::demo::execute(args),
    }
}

/// Prints a clap error as one line (help and version print as usual).
fn clap_error(e: clap::Error) -> i32 {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = e.print();
        return if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
            EXIT_USAGE
        } else {
            EXIT_OK
        };
    }
    let text = e.render().to_string();
    let line = text
        .split("\n\n")
        .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|p| {
            !p.is_empty() && !p.starts_with("Usage:") && !p.starts_with("For more information")
        })
        .collect::<Vec<_>>()
        .join("; ");
    eprintln!("{line} (see --help)");
    EXIT_USAGE
}

fn at_least_one(s: &str) -> Result<usize, String> {
    match s.trim().replace('_', "").parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err("expected a whole number of at least 1".into()),
    }
}

fn at_least_one_u64(s: &str) -> Result<u64, String> {
    at_least_one(s).map(|n| n as u64)
}

fn positive_duration(s: &str) -> Result<Duration, String> {
    match myriad::parse_duration(s) {
        Ok(d) if d.is_zero() => Err("must be longer than 0".into()),
        Ok(d) => Ok(d),
        Err(_) => Err("expected a number with a unit, like 500ms, 10s, 2m or 1h".into()),
    }
}

fn header(s: &str) -> Result<(String, String), String> {
    myriad::parse_header(s).map_err(|_| "expected 'Name: value'".to_string())
}
