//! `myriad run`: arguments to [`myriad::Config`], the run with live progress, the reports.

use std::fs::File;
use std::path::PathBuf;

use clap::Args;
use std::io::{IsTerminal, Write};
use std::time::Duration;

use myriad::report::{format_count, JsonReporter, Reporter, TextReporter};
use myriad::{Config, RunError, Stop, Summary};

use crate::args::{
    at_least_one, at_least_one_u64, header, positive_duration, EXIT_FAILURE, EXIT_INTERRUPTED,
    EXIT_OK, EXIT_USAGE,
};
use crate::{progress, signal};

/// Default duration when neither `-n` nor `-z` is given.
const DEFAULT_DURATION: Duration = Duration::from_secs(10);

/// `myriad run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Target URLs (`http://host[:port][/path]`); several spread the load round-robin.
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

/// Runs `myriad run` and returns the exit code.
pub fn execute(args: RunArgs) -> i32 {
    let config = match to_config(&args) {
        Ok(c) => c,
        Err(msg) => {
            eprintln!("error: {msg}");
            return EXIT_USAGE;
        }
    };
    // Create the report file before any traffic, so a bad path fails fast.
    let output = match &args.output {
        Some(path) => match File::create(path) {
            Ok(f) => Some(f),
            Err(e) => {
                eprintln!(
                    "error: cannot create -o/--output file '{}': {e}",
                    path.display()
                );
                return EXIT_USAGE;
            }
        },
        None => None,
    };
    if !args.quiet && !args.json {
        eprintln!("{}", banner(&config));
    }
    let show = !args.quiet && !args.json && std::io::stdout().is_terminal();
    let summary = match drive(config, show) {
        Ok(s) => s,
        Err(code) => return code,
    };
    emit(&summary, args.json, output)
}

/// Starts a run, shows progress, handles Ctrl-C, and returns the summary (or
/// the exit code of a failure, with its message printed).
pub fn drive(config: Config, show_progress: bool) -> Result<Summary, i32> {
    let run = match myriad::start(config) {
        Ok(run) => run,
        Err(RunError::Config(e)) => {
            eprintln!("error: {e}");
            return Err(EXIT_USAGE);
        }
        Err(e) => {
            eprintln!("error: {e}");
            return Err(EXIT_FAILURE);
        }
    };
    signal::cancel_on_interrupt(run.cancel_token());
    progress::watch(&run, show_progress);
    run.wait().map_err(|e| {
        eprintln!("error: {e}");
        EXIT_FAILURE
    })
}

/// Prints the report (text or JSON on stdout, JSON to `output`) and returns the
/// exit code of the run.
pub fn emit(summary: &Summary, json: bool, output: Option<File>) -> i32 {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let printed = if json {
        JsonReporter.report(summary, &mut out)
    } else {
        TextReporter.report(summary, &mut out)
    };
    if let Err(e) = printed.and_then(|_| out.flush()) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("error: cannot write the report: {e}");
            return EXIT_FAILURE;
        }
    }
    if let Some(mut file) = output {
        if let Err(e) = JsonReporter
            .report(summary, &mut file)
            .and_then(|_| file.flush())
        {
            eprintln!("error: cannot write the JSON report file: {e}");
            return EXIT_FAILURE;
        }
    }
    if summary.interrupted {
        EXIT_INTERRUPTED
    } else {
        EXIT_OK
    }
}

fn to_config(args: &RunArgs) -> Result<Config, String> {
    let mut config = Config::new(&args.urls).map_err(|e| e.to_string())?;
    config.connections = args.connections;
    config.stop = match (args.requests, args.duration) {
        (Some(n), _) => Stop::Requests(n),
        (None, Some(d)) => Stop::Duration(d),
        (None, None) => Stop::Duration(DEFAULT_DURATION),
    };
    config.method = args.method.to_ascii_uppercase();
    config.headers = args.headers.clone();
    config.body = match (&args.body, &args.body_file) {
        (Some(b), _) => b.clone().into_bytes(),
        (None, Some(path)) => std::fs::read(path)
            .map_err(|e| format!("cannot read --body-file '{}': {e}", path.display()))?,
        (None, None) => Vec::new(),
    };
    config.timeout = args.timeout;
    config.connect_timeout = args.connect_timeout;
    if let Some(t) = args.threads {
        config.threads = t;
    }
    config.keep_alive = !args.disable_keepalive;
    config.validate().map_err(|e| e.to_string())?;
    Ok(config)
}

fn banner(config: &Config) -> String {
    let what = match config.stop {
        Stop::Requests(n) => format!("{} requests", format_count(n)),
        Stop::Duration(d) => format!("{:.1}s", d.as_secs_f64()),
    };
    let urls: Vec<&str> = config.targets.iter().map(|t| t.url.as_str()).collect();
    format!(
        "myriad: {what} to {} over {} connections, {} threads{}",
        urls.join(", "),
        format_count(config.connections as u64),
        config.effective_threads(),
        if config.keep_alive {
            ""
        } else {
            ", no keep-alive"
        }
    )
}
