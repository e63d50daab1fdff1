//! Command-line arguments, parsed once and turned into the library's configs.
//!
//! Usage errors (bad flags, bad URLs, missing files) print one line on stderr
//! and exit with code 2 before any traffic is sent.

use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::demo::DemoArgs;
use crate::run::RunArgs;
use crate::serve::ServeArgs;

/// Exit code of a run that completed (whatever its requests' outcomes).
pub const EXIT_OK: i32 = 0;
/// Exit code of a failure at run time (a worker died, a report could not be written).
pub const EXIT_FAILURE: i32 = 1;
/// Exit code of a run whose thresholds (`--threshold`) did not all pass.
pub const EXIT_THRESHOLDS: i32 = 1;
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
    Run(Box<RunArgs>),
    /// Run the built-in target server (HTTP/1.1 and HTTP/2: h2c with prior
    /// knowledge, or ALPN with --tls; on TCP or a Unix socket).
    Serve(Box<ServeArgs>),
    /// Start the built-in server and make a million requests against it.
    Demo(DemoArgs),
    /// Find the highest request rate that still meets every SLO.
    FindMax(Box<crate::find_max::FindMaxArgs>),
    /// Render saved results (`run -o FILE`) again; several files are merged exactly.
    Report(crate::report::ReportArgs),
    /// Two results side by side with the change of each figure; --fail-if for CI.
    Compare(crate::compare::CompareArgs),
    /// A worker process of a large run (started by `myriad run` itself).
    #[command(name = "__worker", hide = true)]
    Worker,
}

/// Parses the process arguments and runs the command; returns the exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return clap_error(e),
    };
    match cli.command {
        Command::Run(args) => crate::run::execute(*args),
        Command::Serve(args) => crate::serve::execute(*args),
        Command::Demo(args) => crate::demo::execute(args),
        Command::FindMax(args) => crate::find_max::execute(*args),
        Command::Report(args) => crate::report::execute(args),
        Command::Compare(args) => crate::compare::execute(args),
        Command::Worker => myriad::engine::worker_process_main(),
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

pub fn at_least_one(s: &str) -> Result<usize, String> {
    match s.trim().replace('_', "").parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err("expected a whole number of at least 1".into()),
    }
}

pub fn at_least_one_u64(s: &str) -> Result<u64, String> {
    at_least_one(s).map(|n| n as u64)
}

/// A size in bytes: a whole number, optionally with a binary unit
/// (`4096`, `64KiB`, `16MiB`, `1GiB`; `K`, `M`, `G` mean the same).
pub fn byte_size(s: &str) -> Result<u64, String> {
    let t = s.trim().replace('_', "");
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(digits);
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kib" => 10,
        "m" | "mib" => 20,
        "g" | "gib" => 30,
        _ => return Err("expected a number of bytes, like 4096, 64KiB, 16MiB or 1GiB".into()),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| "expected a number of bytes, like 4096, 64KiB, 16MiB or 1GiB".to_string())?;
    n.checked_mul(1 << shift)
        .ok_or_else(|| "too large: at most 2^64 - 1 bytes".into())
}

pub fn positive_duration(s: &str) -> Result<Duration, String> {
    match myriad::parse_duration(s) {
        Ok(d) if d.is_zero() => Err("must be longer than 0".into()),
        Ok(d) => Ok(d),
        Err(_) => Err("expected a number with a unit, like 500ms, 10s, 2m or 1h".into()),
    }
}

/// The command that starts a worker process of a large run: this binary with
/// the hidden `__worker` subcommand.
pub fn worker_command() -> Option<Vec<std::ffi::OsString>> {
    let exe = std::env::current_exe().ok()?;
    Some(vec![exe.into_os_string(), "__worker".into()])
}

pub fn header(s: &str) -> Result<(String, String), String> {
    myriad::parse_header(s).map_err(|_| "expected 'Name: value'".to_string())
}
