//! `myriad compare BASE NEW`: two results side by side, with regression
//! checks for CI (`--fail-if 'p99>+10%'`).

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;
use myriad::compare::{compare, FailIf};
use myriad::result::ResultFile;
use myriad::Summary;

use crate::args::{EXIT_FAILURE, EXIT_OK, EXIT_THRESHOLDS, EXIT_USAGE};

/// `myriad compare`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The result file to compare against (`myriad run -o FILE`).
    #[arg(value_name = "BASE")]
    pub base: PathBuf,
    /// The result file to judge.
    #[arg(value_name = "NEW")]
    pub new: PathBuf,
    /// Exit 1 when this holds: METRIC OP CHANGE%, e.g. 'p99>+10%' (p99
    /// grew by more than 10%), 'rps<-5%', 'error_rate>+0.5%' (percentage
    /// points); metrics rps, error_rate, min, mean, max, p50..p99.99;
    /// operators < <= > >= (repeatable).
    #[arg(long = "fail-if", value_name = "CHECK")]
    pub fail_if: Vec<FailIf>,
    /// Print the comparison as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

fn load(path: &Path) -> Result<Summary, i32> {
    ResultFile::read(path)
        .and_then(ResultFile::into_summary)
        .map_err(|e| {
            eprintln!("error: {e}");
            EXIT_USAGE
        })
}

/// Runs `myriad compare` and returns the exit code: 0, 1 when a `--fail-if`
/// held, 2 when a file cannot be read.
pub fn execute(args: CompareArgs) -> i32 {
    let (base, new) = match (load(&args.base), load(&args.new)) {
        (Ok(b), Ok(n)) => (b, n),
        (Err(code), _) | (_, Err(code)) => return code,
    };
    let (base_name, new_name) = (
        args.base.display().to_string(),
        args.new.display().to_string(),
    );
    let c = compare((&base_name, &base), (&new_name, &new), &args.fail_if);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let written = if args.json {
        serde_json::to_writer_pretty(&mut out, &c)
            .map_err(std::io::Error::from)
            .and_then(|_| writeln!(out))
    } else {
        out.write_all(c.text().as_bytes())
    };
    match written.and_then(|_| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            eprintln!("error: cannot write the comparison: {e}");
            EXIT_FAILURE
        }
        _ if c.regressed => EXIT_THRESHOLDS,
        _ => EXIT_OK,
    }
}
