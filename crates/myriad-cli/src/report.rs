//! `myriad report FILE...`: saved results rendered again, several merged
//! exactly, thresholds judged on the merged result.

use std::path::PathBuf;

use clap::Args;
use myriad::result::{merge, ResultFile};
use myriad::threshold::Threshold;

use crate::args::{EXIT_OK, EXIT_THRESHOLDS, EXIT_USAGE};
use crate::run::{create_report_file, html_output, write_outputs, Destination, Format, Output};

/// `myriad report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Result files written by `myriad run -o FILE`; several are merged (the
    /// same targets and statistics interval), with a row per file. Shards
    /// (`run --shard I/N`) merge only as all N files of one run.
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
    /// Print the report as JSON on stdout (schema: schema/report.schema.json).
    #[arg(long)]
    pub json: bool,
    /// Pass/fail check judged on the (merged) result instead of the files'
    /// own, e.g. 'p99<250ms' (repeatable); a failed one makes the exit code 1.
    #[arg(long = "threshold", value_name = "CHECK")]
    pub thresholds: Vec<Threshold>,
    /// Also write the (merged) report as one self-contained HTML file.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

/// Runs `myriad report` and returns the exit code: 0, 1 when a threshold
/// failed, 2 when a file cannot be read or the files cannot be merged.
pub fn execute(args: ReportArgs) -> i32 {
    let html = match create_report_file("--html", args.html.as_deref()) {
        Ok(f) => f,
        Err(code) => return code,
    };
    let mut files = Vec::with_capacity(args.files.len());
    for path in &args.files {
        match ResultFile::read(path) {
            Ok(f) => files.push(f),
            Err(e) => {
                eprintln!("error: {e}");
                return EXIT_USAGE;
            }
        }
    }
    let mut summary = match merge(files) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    if !args.thresholds.is_empty() {
        summary.thresholds = args.thresholds;
        summary = summary.judged();
    }
    let stdout = Output {
        format: if args.json {
            Format::Json
        } else {
            Format::Text
        },
        to: Destination::Stdout,
    };
    let names: Vec<String> = args.files.iter().map(|p| p.display().to_string()).collect();
    let html = html_output(html, format!("myriad report: {}", names.join(", ")));
    let outputs = std::iter::once(stdout).chain(html).collect();
    if let Err(code) = write_outputs(&summary, None, outputs) {
        return code;
    }
    if summary.thresholds_passed() {
        EXIT_OK
    } else {
        EXIT_THRESHOLDS
    }
}
