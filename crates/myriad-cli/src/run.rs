//! `myriad run`: arguments to [`myriad::Config`], the run with live progress, the reports.

use std::fs::File;
use std::path::PathBuf;

use clap::Args;
use std::io::{IsTerminal, Write};
use std::time::Duration;

use myriad::feed::{HdrLogSink, Sink};
use myriad::report::{
    format_count, HtmlReporter, JsonReporter, ReportModel, Reporter, TextReporter,
};
use myriad::result::ResultFile;
use myriad::{Config, Load, LoadFlags, Plan, RunError, Stop, Summary};

use crate::args::{
    at_least_one_u64, positive_duration, EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, EXIT_THRESHOLDS,
    EXIT_USAGE,
};
use crate::load::LoadArgs;
use crate::{dashboard, progress, signal};

/// `myriad run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub load: LoadArgs,
    /// Exact total number of requests (instead of a duration).
    #[arg(short = 'n', long, value_name = "N", conflicts_with = "duration", value_parser = at_least_one_u64)]
    pub requests: Option<u64>,
    /// How long to send requests, e.g. 10s, 2m, 500ms [default: 10s].
    #[arg(short = 'z', long, value_name = "DURATION", value_parser = positive_duration)]
    pub duration: Option<Duration>,
    /// Print the report as JSON on stdout (schema: schema/report.schema.json).
    #[arg(long)]
    pub json: bool,
    /// Also write a result file to FILE: the JSON report plus the raw data
    /// (settings, HDR histograms, series) that `myriad report` and `myriad
    /// compare` read (schema: schema/result.schema.json).
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Also write the report as one self-contained HTML file (charts
    /// included, opens offline).
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// No banner, no dashboard and no live progress line.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// No live dashboard on a terminal: the plain progress line instead.
    #[arg(long)]
    pub no_tui: bool,
    /// Mostly-idle connections: each sends one request per DURATION and holds
    /// its connection in between (use with -z).
    #[arg(long, value_name = "DURATION", value_parser = positive_duration)]
    pub per_connection_interval: Option<Duration>,
    /// Print the plan (processes, source addresses, memory, machine limits) and exit.
    #[arg(long)]
    pub dry_run: bool,
    /// Open model: send this many requests per second on schedule, whatever the
    /// server does (1500, 0.5, 90000/m); -c caps the connections. With
    /// --stages, the rate the ramp starts from (0 allowed).
    #[arg(long, value_name = "RATE", value_parser = rate)]
    pub rate: Option<f64>,
    /// Ramp linearly through stages, e.g. 30s:1000,1m:5000,30s:0; the run ends
    /// with the last stage. With --rate: the open model's rate (from --rate);
    /// without: the closed model's number of connections (from 0).
    #[arg(long, value_name = "STAGES", conflicts_with_all = ["duration", "requests"])]
    pub stages: Option<myriad::schedule::Stages>,
    /// Open model: evenly spaced (uniform) or Poisson arrivals.
    #[arg(long, value_name = "KIND", default_value = "uniform")]
    pub arrival: myriad::schedule::Arrival,
    /// Open model: what a request due while every connection is busy does:
    /// `queue` (wait for the next free one; latency still counts from when it
    /// was due) or `drop` (count it as dropped, do not send it).
    #[arg(long, value_name = "QUEUE|DROP", default_value = "queue")]
    pub when_busy: myriad::WhenBusy,
    /// Run load for this long first and keep it out of the statistics.
    #[arg(long, value_name = "DURATION", value_parser = positive_duration)]
    pub warmup: Option<Duration>,
    /// Length of one interval of the timeline and of the HDR log.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = positive_duration)]
    pub stats_interval: Duration,
    /// Write an HdrHistogram interval log of latency to FILE.
    #[arg(long, value_name = "FILE")]
    pub hdr_log: Option<PathBuf>,
    /// Pass/fail check, e.g. 'p99<250ms', 'error_rate<0.1%', 'rps>5000'
    /// (repeatable); a failed one makes the exit code 1.
    #[arg(long = "threshold", value_name = "CHECK")]
    pub thresholds: Vec<myriad::threshold::Threshold>,
    /// Also sample this process's CPU and memory every interval (the server
    /// under load); repeatable. A pid that does not exist is refused.
    #[arg(long = "watch-pid", value_name = "PID")]
    pub watch_pids: Vec<u32>,
    /// Run only shard I of N (I from 0 to N-1) of this run, for runs split
    /// over processes or machines: connections, rate, stages and -n split
    /// exactly; merge the shards' -o files with `myriad report`.
    #[arg(long, value_name = "I/N", value_parser = shard)]
    pub shard: Option<myriad::shard::Shard>,
    /// Wait until TIME before the first request: RFC 3339
    /// (2026-12-01T09:30:00Z) or a delay (+30s); at most 24h ahead. Give all
    /// shards the same time; one that is ready only after it starts at once
    /// and records that it was late.
    #[arg(long, value_name = "TIME")]
    pub start_at: Option<String>,
}

/// Runs `myriad run` and returns the exit code.
pub fn execute(args: RunArgs) -> i32 {
    let (config, sinks) = match to_config(&args) {
        Ok(c) => c,
        Err(msg) => {
            eprintln!("error: {msg}");
            return EXIT_USAGE;
        }
    };
    let start_at = match args
        .start_at
        .as_deref()
        .map(|s| myriad::start_at::parse(s, std::time::SystemTime::now()))
        .transpose()
    {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    // Create the report files before any traffic, so a bad path fails fast.
    let (output, html) = match (
        create_report_file("-o/--output", args.output.as_deref()),
        create_report_file("--html", args.html.as_deref()),
    ) {
        (Ok(o), Ok(h)) => (o, h),
        (Err(code), _) | (_, Err(code)) => return code,
    };
    // Interval histograms are kept for the result file only: without -o a
    // long run's memory stays flat.
    let config = Config {
        series_tallies: output.is_some(),
        ..config
    };
    // Planned once: what --dry-run prints is what runs.
    let plan = match Plan::new(config) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    if args.dry_run {
        print!("{}", plan.describe());
        if let Some(at) = start_at {
            println!(
                "  start at       {}",
                myriad::result::rfc3339_utc(myriad::result::unix_ms(at))
            );
        }
        return EXIT_OK;
    }
    if !args.quiet && !args.json {
        eprintln!("{}", banner(&plan));
        let shape = &plan.shape;
        if shape.processes > 1
            || !shape.source_addrs.is_empty()
            || plan.config.connections() > 10_000
        {
            eprint!("{}", plan.describe());
        }
    }
    let live = Live::choose(args.quiet || args.json, args.no_tui, banner(&plan));
    // What the result file records as the settings asked for.
    let config = output.is_some().then(|| plan.config.clone());
    let start = start_at.map(|at| wait_for_start(at, args.quiet));
    let mut summary = match drive(plan, sinks, live) {
        Ok(s) => s,
        Err(code) => return code,
    };
    summary.start = start;
    let mut outputs = outputs(args.json, output);
    outputs.extend(html_output(
        html,
        format!("myriad run: {}", args.load.what()),
    ));
    emit(&summary, config.as_ref(), outputs)
}

/// Creates (truncates) a report file named by `flag` before any traffic, so a
/// bad path fails at once; on failure prints why and returns exit code 2.
pub fn create_report_file(flag: &str, path: Option<&std::path::Path>) -> Result<Option<File>, i32> {
    let Some(path) = path else {
        return Ok(None);
    };
    File::create(path).map(Some).map_err(|e| {
        eprintln!("error: cannot create {flag} file '{}': {e}", path.display());
        EXIT_USAGE
    })
}

/// The HTML report output to `file`, if any, titled `title`.
pub fn html_output(file: Option<File>, title: String) -> Option<Output> {
    file.map(|f| Output {
        format: Format::Html(HtmlReporter {
            title,
            sections: Vec::new(),
        }),
        to: Destination::File(f),
    })
}

/// How a run shows itself while it goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Live {
    /// Nothing (`-q`, `--json`, or no terminal at all).
    Nothing,
    /// The progress line on stderr.
    Line,
    /// The dashboard on stdout, under this title.
    Dashboard(String),
}

impl Live {
    /// The dashboard when stdout is a terminal (unless `--no-tui`), else the
    /// progress line when stderr is one; nothing when `quiet` (`-q`, `--json`).
    pub fn choose(quiet: bool, no_tui: bool, title: String) -> Live {
        if quiet {
            Live::Nothing
        } else if !no_tui && std::io::stdout().is_terminal() {
            Live::Dashboard(title)
        } else if std::io::stderr().is_terminal() {
            Live::Line
        } else {
            Live::Nothing
        }
    }
}

/// Starts a planned run with `sinks` on its live feed, shows it going on,
/// handles Ctrl-C, and returns the summary (or the exit code of a failure,
/// with its message printed).
pub fn drive(plan: Plan, sinks: Vec<Box<dyn Sink>>, live: Live) -> Result<Summary, i32> {
    let run = match myriad::start_plan(plan) {
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
    for sink in sinks {
        run.subscribe(sink);
    }
    signal::cancel_on_interrupt(run.cancel_token());
    match live {
        Live::Dashboard(title) => {
            if let Err(e) = dashboard::watch(&run, title) {
                eprintln!("warning: cannot draw the dashboard ({e}); showing the progress line");
                progress::watch(&run, true);
            }
        }
        Live::Line => progress::watch(&run, true),
        Live::Nothing => progress::watch(&run, false),
    }
    run.wait().map_err(|e| {
        eprintln!("error: {e}");
        EXIT_FAILURE
    })
}

/// What a report is written as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    /// The report for people.
    Text,
    /// The JSON report (schema/report.schema.json).
    Json,
    /// A result file: the JSON report plus the raw data (schema/result.schema.json).
    Result,
    /// The self-contained HTML report, with its title and extra sections.
    Html(HtmlReporter),
}

impl Format {
    /// Writes what this format makes of `from` to `out`.
    fn write(&self, from: &Source<'_>, out: &mut dyn Write) -> std::io::Result<()> {
        match self {
            Format::Text => TextReporter.report(from.model, out),
            Format::Json => JsonReporter.report(from.model, out),
            Format::Result => {
                ResultFile::from_summary(from.summary, from.config).write(from.model, out)
            }
            Format::Html(html) => html.report(from.model, out),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Format::Text => "text report",
            Format::Json => "JSON report",
            Format::Result => "result",
            Format::Html(_) => "HTML report",
        }
    }
}

/// What every output is made from: the summary, its report model (built once
/// for all outputs) and the configuration that ran, if known.
pub struct Source<'a> {
    /// The run's (or the merged) summary.
    pub summary: &'a Summary,
    /// Its report.
    pub model: &'a ReportModel,
    /// The configuration of the run, for a result file's settings.
    pub config: Option<&'a Config>,
}

/// Where a report is written.
#[derive(Debug)]
pub enum Destination {
    /// Standard output; a closed pipe (`| head`) is not an error.
    Stdout,
    /// A file, created before the run so a bad path fails before any traffic.
    File(File),
}

/// One report of the run: a format written to a destination.
#[derive(Debug)]
pub struct Output {
    /// What it is written as.
    pub format: Format,
    /// Where it goes.
    pub to: Destination,
}

impl Output {
    /// Writes the output of `from`; on failure prints why and returns the exit code.
    /// Buffered: stdout is line-buffered and a `File` not at all, so a JSON
    /// report with a thousand rows was tens of thousands of `write` calls.
    fn write(self, from: &Source<'_>) -> Result<(), i32> {
        let format = self.format;
        match self.to {
            Destination::Stdout => {
                let mut out =
                    std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
                match format.write(from, &mut out).and_then(|_| out.flush()) {
                    Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                        eprintln!("error: cannot write the report: {e}");
                        Err(EXIT_FAILURE)
                    }
                    _ => Ok(()),
                }
            }
            Destination::File(file) => {
                let mut file = std::io::BufWriter::with_capacity(64 * 1024, file);
                format
                    .write(from, &mut file)
                    .and_then(|_| file.flush())
                    .map_err(|e| {
                        eprintln!("error: cannot write the {} file: {e}", format.name());
                        EXIT_FAILURE
                    })
            }
        }
    }
}

/// The outputs of `--json` and `-o FILE`: the report on stdout (JSON with
/// `--json`, text without), then the result file to `file`, if given.
pub fn outputs(json: bool, file: Option<File>) -> Vec<Output> {
    let stdout = Output {
        format: if json { Format::Json } else { Format::Text },
        to: Destination::Stdout,
    };
    let file = file.map(|f| Output {
        format: Format::Result,
        to: Destination::File(f),
    });
    std::iter::once(stdout).chain(file).collect()
}

/// Writes each output in turn (the report model is built once for all of
/// them); a failed write stops there with its exit code.
pub fn write_outputs(
    summary: &Summary,
    config: Option<&Config>,
    outputs: Vec<Output>,
) -> Result<(), i32> {
    let model = ReportModel::from_summary(summary);
    let from = Source {
        summary,
        model: &model,
        config,
    };
    outputs.into_iter().try_for_each(|o| o.write(&from))
}

/// Writes each output ([`write_outputs`]) and returns the exit code of the
/// run: interrupted, a threshold failed, or OK.
pub fn emit(summary: &Summary, config: Option<&Config>, outputs: Vec<Output>) -> i32 {
    if let Err(code) = write_outputs(summary, config, outputs) {
        return code;
    }
    if summary.interrupted {
        EXIT_INTERRUPTED
    } else if !summary.thresholds_passed() {
        EXIT_THRESHOLDS
    } else {
        EXIT_OK
    }
}

/// The run's configuration and the sinks of its live feed (the HDR log),
/// whose files are created here, before any traffic.
fn to_config(args: &RunArgs) -> Result<(Config, Vec<Box<dyn Sink>>), String> {
    let mut config = args.load.base_config()?;
    config.load = Load::from_flags(LoadFlags {
        connections: args.load.connections,
        stop: match (args.requests, args.duration) {
            (Some(n), _) => Some(Stop::Requests(n)),
            (None, Some(d)) => Some(Stop::Duration(d)),
            (None, None) => None,
        },
        rate: args.rate,
        stages: args.stages.clone(),
        interval: args.per_connection_interval,
        arrival: args.arrival,
        when_busy: args.when_busy,
    })
    .map_err(|e| e.to_string())?;
    config.warmup = args.warmup;
    config.stats_interval = args.stats_interval;
    config.thresholds = args.thresholds.clone();
    config.watch.pids = args.watch_pids.clone();
    if let Some(shard) = args.shard {
        config = shard.apply(config).map_err(|e| e.to_string())?;
    }
    let mut sinks: Vec<Box<dyn Sink>> = Vec::new();
    if let Some(path) = &args.hdr_log {
        let log = HdrLogSink::create(path)
            .map_err(|e| format!("cannot create --hdr-log file '{}': {e}", path.display()))?;
        sinks.push(Box::new(log));
    }
    Ok((config, sinks))
}

/// Waits until `at` (Ctrl-C meanwhile ends the process: nothing was sent
/// yet) and returns the record of the start; one that is already past starts
/// at once, says so, and is recorded as late.
fn wait_for_start(at: std::time::SystemTime, quiet: bool) -> myriad::start_at::StartRecord {
    let now = std::time::SystemTime::now();
    let record = myriad::start_at::StartRecord::new(at, now);
    let when = myriad::result::rfc3339_utc(myriad::result::unix_ms(at));
    match record.late {
        Some(late) => eprintln!(
            "warning: --start-at {when} passed {:.3} s ago: starting now; the result records the late start",
            late.as_secs_f64()
        ),
        None => {
            let wait = record.wait_from(now);
            if !quiet {
                eprintln!(
                    "myriad: waiting {:.1} s for --start-at {when}",
                    wait.as_secs_f64()
                );
            }
            std::thread::sleep(wait);
        }
    }
    record
}

fn shard(s: &str) -> Result<myriad::shard::Shard, String> {
    s.parse().map_err(|e: myriad::ConfigError| e.to_string())
}

fn rate(s: &str) -> Result<f64, String> {
    // 0 parses (a ramp may start from it); Load::from_flags refuses it alone.
    myriad::schedule::parse_rate_or_zero(s).ok_or_else(|| {
        format!("invalid rate '{s}': expected requests per second like 1500, 0.5 or 90000/m")
    })
}

fn banner(plan: &Plan) -> String {
    let (config, shape) = (&plan.config, &plan.shape);
    let what = match config.stop() {
        Stop::Requests(n) => format!("{} requests", format_count(n)),
        Stop::Duration(d) => format!("{:.1}s", d.as_secs_f64()),
    };
    let urls: Vec<&str> = config.targets.iter().map(|t| t.url.as_str()).collect();
    let shard = config.shard.as_ref().map_or(String::new(), |s| {
        format!("shard {} of run {}: ", s.shard(), s.run)
    });
    format!(
        "myriad: {shard}{what} to {} over {} connections, {}{} threads{}",
        urls.join(", "),
        format_count(config.connections() as u64),
        if shape.processes > 1 {
            format!("{} processes x ", shape.processes)
        } else {
            String::new()
        },
        shape.threads_per_process,
        if config.keep_alive {
            ""
        } else {
            ", no keep-alive"
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(outputs: &[Output]) -> Vec<(Format, bool)> {
        outputs
            .iter()
            .map(|o| (o.format.clone(), matches!(o.to, Destination::Stdout)))
            .collect()
    }

    #[test]
    fn flags_become_a_list_of_outputs() {
        assert_eq!(shape(&outputs(false, None)), [(Format::Text, true)]);
        assert_eq!(shape(&outputs(true, None)), [(Format::Json, true)]);
        let file = || File::open("/dev/null").ok();
        assert_eq!(
            shape(&outputs(false, file())),
            [(Format::Text, true), (Format::Result, false)]
        );
        assert_eq!(
            shape(&outputs(true, file())),
            [(Format::Json, true), (Format::Result, false)]
        );
    }
}
