//! `myriad find-max`: the highest open-model rate that still meets every SLO.

use std::io::Write;
use std::time::Duration;

use clap::Args;
use myriad::find_max::{find_max, SearchOptions, SearchReport};
use myriad::report::{format_count, format_micros, HtmlReporter, HtmlSection, Reporter};
use myriad::threshold::Threshold;

use crate::args::{positive_duration, EXIT_FAILURE, EXIT_OK, EXIT_THRESHOLDS, EXIT_USAGE};
use crate::load::LoadArgs;

/// `myriad find-max`.
#[derive(Debug, Args)]
pub struct FindMaxArgs {
    #[command(flatten)]
    pub load: LoadArgs,
    /// A service-level objective every step must meet, e.g. 'p99<100ms',
    /// 'error_rate<0.1%' (repeatable, at least one).
    #[arg(long = "slo", value_name = "CHECK", required = true)]
    pub slos: Vec<Threshold>,
    /// The first rate tried, requests per second; it doubles until a step fails.
    #[arg(long, value_name = "RATE", default_value = "100", value_parser = rate)]
    pub start_rate: f64,
    /// How long each step runs.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = positive_duration)]
    pub step: Duration,
    /// The whole search ends within this time.
    #[arg(long, value_name = "DURATION", default_value = "2m", value_parser = positive_duration)]
    pub max_time: Duration,
    /// Never try more than this rate.
    #[arg(long, value_name = "RATE", value_parser = rate)]
    pub max_rate: Option<f64>,
    /// Load each step for this long first, outside its statistics.
    #[arg(long, value_name = "DURATION", value_parser = positive_duration)]
    pub warmup: Option<Duration>,
    /// Print the search as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Also write an HTML report: the steps, and the full report of the best
    /// step (of the last one when none passed).
    #[arg(long, value_name = "FILE")]
    pub html: Option<std::path::PathBuf>,
}

fn rate(s: &str) -> Result<f64, String> {
    myriad::schedule::parse_rate(s).map_err(|e| e.to_string())
}

/// Runs `myriad find-max` and returns the exit code: 0 when some rate met
/// every SLO, 1 when none did.
pub fn execute(args: FindMaxArgs) -> i32 {
    let mut base = match args.load.base_config() {
        Ok(c) => c,
        Err(msg) => {
            eprintln!("error: {msg}");
            return EXIT_USAGE;
        }
    };
    base.warmup = args.warmup;
    // No result file: the steps' series keep only their figures.
    base.series_tallies = false;
    let opts = SearchOptions {
        start_rate: args.start_rate,
        step: args.step,
        max_time: args.max_time,
        max_rate: args.max_rate,
        ..SearchOptions::default()
    };
    // Check the configuration once, as the first step would, before any traffic.
    let mut probe = base.clone();
    let first = myriad::Stop::Duration(opts.step + args.warmup.unwrap_or_default());
    let checked = myriad::Load::open(opts.start_rate, base.connections(), first).and_then(|load| {
        probe.load = load;
        probe.validate()
    });
    if let Err(e) = checked {
        eprintln!("error: {e}");
        return EXIT_USAGE;
    }
    let html = match crate::run::create_report_file("--html", args.html.as_deref()) {
        Ok(f) => f,
        Err(code) => return code,
    };
    if !args.json {
        eprintln!(
            "myriad find-max: {} steps from {} req/s against {} (SLOs: {}), at most {:?}",
            humantime(args.step),
            args.start_rate,
            args.load.what(),
            args.slos
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            args.max_time
        );
    }
    let token = tokio_util::sync::CancellationToken::new();
    crate::signal::cancel_on_interrupt(token.clone());
    let report = match find_max(&base, &args.slos, &opts, || token.is_cancelled()) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_FAILURE;
        }
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if args.json {
        let _ = serde_json::to_writer_pretty(&mut out, &report);
        let _ = writeln!(out);
    } else {
        let _ = out.write_all(render(&report).as_bytes());
    }
    let _ = out.flush();
    if let (Some(file), Some(best)) = (html, report.best_summary.as_deref()) {
        let reporter = HtmlReporter {
            title: format!("myriad find-max: {}", args.load.what()),
            sections: vec![HtmlSection {
                heading: "find-max steps".to_string(),
                note: Some(format!(
                    "SLOs: {}. {}. The rest of this page reports the best step.",
                    report.slos.join(", "),
                    conclusion(&report)
                )),
                columns: ["rate", "achieved", "p99", "errors", "dropped", "result"]
                    .map(String::from)
                    .to_vec(),
                rows: report
                    .steps
                    .iter()
                    .map(|s| step_cells(s).to_vec())
                    .collect(),
            }],
        };
        let mut file = file;
        let model = myriad::report::ReportModel::from_summary(best);
        if let Err(e) = reporter.report(&model, &mut file) {
            eprintln!("error: cannot write the HTML report file: {e}");
            return EXIT_FAILURE;
        }
    }
    if report.best_rate.is_some() {
        EXIT_OK
    } else {
        EXIT_THRESHOLDS
    }
}

fn humantime(d: Duration) -> String {
    format!("{}s", d.as_secs_f64())
}

/// A step's row: rate, achieved rate, p99, error rate, dropped, result.
fn step_cells(step: &myriad::find_max::Step) -> [String; 6] {
    let failed: Vec<&str> = step
        .verdicts
        .iter()
        .filter(|v| !v.passed)
        .map(|v| v.threshold.as_str())
        .collect();
    let result = match (step.passed, step.dropped > 0) {
        (true, _) => "pass".to_string(),
        (false, true) if failed.is_empty() => {
            "fail: requests dropped at the connection cap (-c)".into()
        }
        (false, _) => format!("fail: {}", failed.join(", ")),
    };
    [
        format!("{:.1}/s", step.rate),
        format!("{:.1}/s", step.achieved_rps),
        format_micros(step.p99_us),
        format!("{:.2}%", step.error_rate * 100.0),
        format_count(step.dropped),
        result,
    ]
}

/// The verdict line under the steps.
fn conclusion(r: &SearchReport) -> String {
    match r.best_rate {
        Some(best) => format!(
            "Highest rate meeting every SLO: {best:.1} req/s{} ({})",
            r.failed_rate
                .map(|f| format!("; {f:.1} req/s failed"))
                .unwrap_or_default(),
            r.stopped
        ),
        None => format!("No rate met every SLO ({})", r.stopped),
    }
}

fn render(r: &SearchReport) -> String {
    let mut s = String::from("Steps\n");
    s += &format!(
        "  {:>12}  {:>12}  {:>10}  {:>9}  {:>9}  result\n",
        "rate", "achieved", "p99", "errors", "dropped"
    );
    for step in &r.steps {
        let [rate, achieved, p99, errors, dropped, result] = step_cells(step);
        s += &format!(
            "  {rate:>12}  {achieved:>12}  {p99:>10}  {errors:>9}  {dropped:>9}  {result}\n"
        );
    }
    s += "\n";
    s += &conclusion(r);
    s += "\n";
    s
}
