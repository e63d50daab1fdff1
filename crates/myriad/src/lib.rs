//! myriad: an HTTP load engine with exact accounting and HDR-histogram latency.
//!
//! # Layout
//! Data flows one way, with no shared mutable state on the hot path:
//!
//! - [`config`]: the [`Config`] of a run; its load is one enum, [`Load`]
//!   (closed, closed ramp, mostly-idle interval, open rate or stages), built
//!   by constructors that own the rules tying the flags together.
//! - [`engine`]: [`Plan::new`] validates the config and lays it out once
//!   (processes, threads, source addresses, each worker's share); `--dry-run`
//!   prints that plan and [`start_plan`] runs it. Worker threads, each a
//!   current-thread tokio runtime owning its connections, run the one request
//!   loop, cut by three seams:
//!   - *tickets* (`engine/tickets.rs`, `engine/open.rs`): who decides when
//!     each request is sent; connect pacing, permits and deadlines live here;
//!   - *transport* (`engine/transport.rs`): a dialer yields a byte stream the
//!     loop does not look inside (TCP today; TLS and Unix sockets next);
//!   - *protocol* ([`proto`]): a session per connection turns tickets into
//!     exactly one outcome each, with some number in flight (HTTP/1.1 today).
//! - [`targets`], [`requests`], [`template`]: requests from data: targets
//!   files (vegeta's HTTP and JSON-lines formats), a run's requests grouped
//!   by host with their report rows, and `{{…}}` templates with `--data` rows.
//! - [`feed`]: the live feed, each statistics interval merged over every
//!   worker, handed to [`feed::Sink`]s (the progress line, the HDR log).
//! - [`proto`]: the protocol seam, HTTP/1.1 (request bytes built once,
//!   responses parsed incrementally with httparse, bodies framed by length,
//!   chunks or close) and myriad's own HTTP/2 client codec (header blocks
//!   built once, frames read in place, HPACK with no allocation per header).
//! - [`metrics`]: [`Outcome`]s, per-worker [`Tally`]s of counts, bytes and HDR
//!   histograms, merged once at the end; [`metrics::wire`], the public,
//!   versioned format of recorder deltas and of worker processes' lines.
//! - [`summary`]: the [`Summary`] of a run, the only thing reporters read. The
//!   engine builds it once when the run ends, capturing the machine's facts
//!   ([`summary::Machine`]) and judging the thresholds into verdicts
//!   ([`Summary::judged`]).
//! - [`report`]: pure functions of the [`Summary`]: one [`report::ReportModel`]
//!   of every figure, formatted by each [`report::Reporter`]: text for people,
//!   JSON (schema in `schema/report.schema.json`) for machines.
//! - [`result`]: result files (`-o FILE`): a [`Summary`] saved with its
//!   histograms and series, read back into the same summary, and several
//!   merged exactly (counts summed, histograms merged, series aligned by
//!   wall-clock time); [`compare`] sets two results side by side and
//!   judges `--fail-if` regression checks.
//! - [`schedule`]: when open-model requests are due: rates, stages, uniform or
//!   Poisson arrivals, as pure functions of elapsed time.
//! - [`shard`]: one run split over N processes on any machines (`--shard
//!   I/N`): each shard's part of the load, the run identity its result file
//!   records, and the checks a merge of shards makes.
//! - [`start_at`]: `--start-at` times (RFC 3339 or `+30s`) and whether a
//!   run was late for its start.
//! - [`find_max`]: steps and bisects the open-model rate for the highest one
//!   that meets every SLO.
//! - [`threshold`]: pass/fail checks (`p99<250ms`, `error_rate<0.1%`) judged on
//!   a run's tally; it knows nothing of summaries or reports.
//! - [`supervise`]: child processes that do a share of the work (`run`'s
//!   worker processes, `serve --workers`): spawning, one reader thread per
//!   child, stopping and killing, and the one versioned JSON line format both
//!   sides speak.
//! - [`tls`]: the rustls client configuration of `https://` targets
//!   (system roots plus `--cacert`, `-k`, client certificates, ALPN).
//! - [`resources`]: the client's and the watched targets' CPU and memory,
//!   and the traffic on the interface that carries the run, sampled from
//!   `/proc` by the collector once per statistics interval.
//! - [`units`]: counts, durations and sizes as people read them.
//! - [`sys`]: CPU time, peak memory, open-files limit, kernel memory, sysctls;
//!   the engine reads it, reports never do.
//!
//! # Example
//! A load test written as Rust code: build a [`Config`], run it, read the [`Summary`].
//!
//! ```no_run
//! use myriad::{Config, Load, Plan, Stop};
//! use std::time::Duration;
//!
//! let mut config = Config::new(&["http://127.0.0.1:8080/"])?;
//! // 100 connections back to back for 5 s; Load::open(5000.0, 100, ...) would
//! // send 5,000 requests/s on schedule over at most 100 connections instead.
//! config.load = Load::closed(100, Stop::Duration(Duration::from_secs(5)))?;
//! let plan = Plan::new(config)?; // validated and laid out once
//! print!("{}", plan.describe()); // what --dry-run prints
//! let summary = myriad::start_plan(plan)?.wait()?;
//! assert!(summary.total.balanced()); // issued = succeeded + http errors + failures
//! println!("{:.0} req/s, p99 {} µs", summary.requests_per_second(),
//!          summary.total.latency().value_at_quantile(0.99));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
#![deny(missing_docs)]

pub mod compare;
pub mod config;
pub mod duration;
pub mod engine;
pub mod feed;
pub mod find_max;
#[doc(hidden)]
pub mod fuzzing;
pub mod metrics;
pub mod proto;
pub mod report;
pub mod requests;
pub mod resources;
pub mod result;
pub mod schedule;
pub mod shard;
pub mod start_at;
pub mod summary;
pub mod supervise;
pub mod sys;
pub mod targets;
pub mod template;
pub mod threshold;
pub mod tls;
pub mod units;

pub use config::{
    parse_header, Config, ConfigError, ConnectTo, Load, LoadFlags, Stop, Target, WhenBusy,
};
pub use duration::{parse_duration, DurationError};
pub use engine::{run, start, start_plan, Plan, Progress, Run, RunError};
pub use metrics::{ErrorKind, Outcome, Tally};
pub use summary::Summary;
