//! Max-rate search: the highest open-model rate that still meets every SLO.
//!
//! Steps the rate up (doubling from a start rate) until a step fails, then
//! bisects between the last rate that passed and the first that failed, until
//! the two are within the precision or the time budget is spent. A step
//! passes when every SLO passes (judged on latencies counted from when each
//! request was due, queueing for a connection included) and at most 0.5% of
//! the requests due found every connection busy (more means the connection
//! cap, not the SLO, limited the run). Each step is a
//! whole run of the engine with its own report, so the table of steps shows
//! exactly what was measured.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::config::{Config, Load, OpenModel, Stop};
use crate::engine::RunError;
use crate::metrics::quantile;
use crate::schedule::Arrival;
use crate::summary::Summary;
use crate::threshold::{Threshold, Verdict};

/// How the search proceeds.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchOptions {
    /// The first rate tried, requests per second.
    pub start_rate: f64,
    /// How long each step runs.
    pub step: Duration,
    /// The whole search stops before this much time has passed.
    pub max_time: Duration,
    /// Stop bisecting when the failing rate is within this fraction of the passing one.
    pub precision: f64,
    /// Never try more than this rate.
    pub max_rate: Option<f64>,
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions {
            start_rate: 100.0,
            step: Duration::from_secs(5),
            max_time: Duration::from_secs(120),
            precision: 0.05,
            max_rate: None,
        }
    }
}

/// One rate tried.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// The rate asked for, requests per second.
    pub rate: f64,
    /// The rate achieved: requests sent per second of the step.
    pub achieved_rps: f64,
    /// Requests due but dropped at the connection cap (`--when-busy drop`).
    pub dropped: u64,
    /// Requests due while every connection was busy, that waited for one.
    pub queued: u64,
    /// Failures and HTTP errors over issued requests.
    pub error_rate: f64,
    /// 99th percentile latency, microseconds.
    pub p99_us: u64,
    /// Whether every SLO passed and at most 0.5% of requests were dropped.
    pub passed: bool,
    /// Each SLO, judged.
    pub verdicts: Vec<Verdict>,
}

/// The outcome of a search.
#[derive(Debug, Clone, Serialize)]
pub struct SearchReport {
    /// The highest rate that passed, if any did.
    pub best_rate: Option<f64>,
    /// The lowest rate that failed, if any did.
    pub failed_rate: Option<f64>,
    /// Every step, in the order run.
    pub steps: Vec<Step>,
    /// Why the search stopped, in words.
    pub stopped: String,
    /// The SLOs, as given.
    pub slos: Vec<String>,
    /// The whole summary of the step at the best rate (of the last step when
    /// none passed), for a full report of it.
    #[serde(skip)]
    pub best_summary: Option<Box<Summary>>,
}

/// Searches for the highest rate at which `base` (its targets, request and
/// connection cap) meets every SLO. `stop` is checked between steps (Ctrl-C).
pub fn find_max(
    base: &Config,
    slos: &[Threshold],
    opts: &SearchOptions,
    stop: impl Fn() -> bool,
) -> Result<SearchReport, RunError> {
    let started = Instant::now();
    let mut steps = Vec::new();
    let (mut pass, mut fail): (Option<f64>, Option<f64>) = (None, None);
    let mut best_summary: Option<Box<Summary>> = None;
    let mut rate = opts.start_rate;
    let stopped = loop {
        if stop() {
            break "interrupted".to_string();
        }
        if started.elapsed() + opts.step > opts.max_time {
            break format!("time budget of {:?} spent", opts.max_time);
        }
        let (step, summary) = run_step(base, slos, opts, rate)?;
        let passed = step.passed;
        steps.push(step);
        // The best passing step so far; while none passed, the latest.
        let keep = if passed {
            pass.is_none_or(|p| rate > p)
        } else {
            pass.is_none()
        };
        if keep {
            best_summary = Some(Box::new(summary));
        }
        if passed {
            pass = Some(rate);
        } else {
            fail = Some(fail.map_or(rate, |f: f64| f.min(rate)));
        }
        rate = match (pass, fail) {
            (Some(p), None) => {
                let next = p * 2.0;
                match opts.max_rate {
                    Some(m) if p >= m => break format!("reached --max-rate {m}"),
                    Some(m) => next.min(m),
                    None => next,
                }
            }
            (None, Some(f)) if f / 2.0 < 1.0 => break "even 1 request per second fails".into(),
            (None, Some(f)) => f / 2.0,
            (Some(p), Some(f)) if (f - p) / f <= opts.precision => {
                break format!("bracketed within {:.0}%", opts.precision * 100.0)
            }
            (Some(p), Some(f)) => (p + f) / 2.0,
            (None, None) => break "nothing ran".into(),
        };
    };
    Ok(SearchReport {
        best_rate: pass,
        failed_rate: fail,
        steps,
        stopped,
        slos: slos.iter().map(|s| s.to_string()).collect(),
        best_summary,
    })
}

/// Whether a step kept up with its schedule: requests were sent and at most
/// 0.5% of those due found every connection busy (dropped, or queued for one:
/// the connection cap, not the service, then set the pace; one unlucky burst
/// on a busy machine does not fail a rate the service sustains).
fn sustained(issued: u64, dropped: u64, queued: u64) -> bool {
    issued > 0 && (dropped + queued) * 200 <= issued + dropped
}

fn run_step(
    base: &Config,
    slos: &[Threshold],
    opts: &SearchOptions,
    rate: f64,
) -> Result<(Step, Summary), RunError> {
    let mut config = base.clone();
    config.load = Load::Open {
        model: OpenModel {
            rate,
            stages: None,
            arrival: Arrival::Uniform,
            when_busy: base
                .load
                .open_model()
                .map(|m| m.when_busy)
                .unwrap_or_default(),
        },
        max_connections: base.connections(),
        stop: Stop::Duration(opts.step + config.warmup.unwrap_or_default()),
    };
    config.thresholds = slos.to_vec();
    let summary = crate::engine::run(config)?;
    let t = &summary.total;
    let step = Step {
        rate,
        achieved_rps: t.issued() as f64 / opts.step.as_secs_f64(),
        dropped: t.dropped(),
        queued: t.queued(),
        error_rate: t.error_rate(),
        p99_us: quantile(t.latency(), 0.99),
        passed: summary.thresholds_passed() && sustained(t.issued(), t.dropped(), t.queued()),
        verdicts: summary.verdicts.clone(),
    };
    Ok((step, summary))
}
