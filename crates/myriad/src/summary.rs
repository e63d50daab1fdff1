//! The result of a run: everything reporters read, and nothing else.
//!
//! The engine builds a [`Summary`] once when a run ends: it captures the
//! [`Machine`]'s facts and judges the thresholds ([`Summary::judged`]) there,
//! so a report is a pure function of the summary and never reads the machine
//! or judges anything itself.

use std::time::{Duration, SystemTime};

use crate::config::Stop;
use hdrhistogram::Histogram;

use crate::metrics::wire::WireTally;
use crate::metrics::{quantile, Gauges, LimitHits, Tally};
use crate::sys::CpuTime;
use crate::threshold::{Threshold, Verdict};

pub use crate::metrics::per_second;

/// Facts about the machine a run's report needs, captured when the run ends
/// ([`Machine::capture`]). The open-files limit in force is
/// [`Summary::open_files_limit`], taken when the run started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Machine {
    /// CPU cores available to this process.
    pub cores: usize,
    /// The kernel's ephemeral port range (`net.ipv4.ip_local_port_range`), if readable.
    pub ephemeral_port_range: Option<(u16, u16)>,
}

impl Machine {
    /// Reads the facts from this machine now.
    pub fn capture() -> Machine {
        Machine {
            cores: crate::config::available_cores(),
            ephemeral_port_range: crate::sys::ephemeral_port_range(),
        }
    }
}

/// The numbers of one report row: a URL, or a request type of a targets
/// file (see [`crate::requests`]).
#[derive(Debug, Clone)]
pub struct TargetSummary {
    /// The row's name: the URL as given, or the request's name (`name` in
    /// the targets file, or `METHOD path` without the query string).
    pub name: String,
    /// The URL as given (for a request type: its first request's).
    pub url: String,
    /// Its counts and latencies.
    pub tally: Tally,
}

/// Kernel memory added by a run: the peak during the run minus the level at
/// its start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KernelUsage {
    /// TCP buffer memory, bytes.
    pub tcp_buffers: u64,
    /// Slab memory (socket structures, inodes, files), bytes.
    pub slab: u64,
    /// TCP sockets (both ends when the server runs on this machine).
    pub tcp_sockets: u64,
}

/// One statistics interval of the time series.
///
/// Its figures serialise (the JSON report's `series`) and deserialise (a
/// result file's series), so every field added here travels through result
/// files too. The interval's merged tally travels beside them, compressed.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct IntervalStats {
    /// Start of the interval, seconds since the run started.
    pub t_s: f64,
    /// Requests that ended in the interval (warm-up excluded).
    pub requests: u64,
    /// Of those, HTTP errors and failures.
    pub errors: u64,
    /// Requests due but dropped (open model).
    pub dropped: u64,
    /// Requests per second over the interval.
    pub rps: f64,
    /// Latency percentiles of the interval's responses, microseconds.
    pub p50_us: u64,
    /// 90th percentile.
    pub p90_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// Largest.
    pub max_us: u64,
    /// Warm-up requests that ended in the interval (not in the other figures).
    pub warmup_requests: u64,
    /// Connections open at the end of the interval, over all workers (as of
    /// their latest deltas).
    #[serde(default)]
    pub open_connections: u64,
    /// The interval's merged counts and histograms (all targets, warm-up
    /// excluded), compressed so a long run's series stays small; what result
    /// files store and merges recompute the figures from. Not in the JSON
    /// report.
    /// Boxed: most runs keep none, and the series holds one per interval.
    #[serde(skip)]
    pub tally: Option<Box<WireTally>>,
    /// Resources used over the interval (client, watched targets, network),
    /// sampled by the collector when the interval completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<crate::resources::ResourceSample>,
}

impl IntervalStats {
    /// The figures of interval `index` of length `len`, from its merged
    /// tally, which it keeps (compressed).
    pub fn new(index: u64, len: Duration, t: &Tally, warmup_requests: u64) -> IntervalStats {
        IntervalStats {
            tally: Some(Box::new(WireTally::compressed(t))),
            ..IntervalStats::figures(index, len, t, warmup_requests)
        }
    }

    /// The figures of interval `index` of length `len`, from its merged
    /// tally, without keeping it ([`Self::tally`] is `None`).
    pub fn figures(index: u64, len: Duration, t: &Tally, warmup_requests: u64) -> IntervalStats {
        let h = t.latency();
        let q = |q: f64| quantile(h, q);
        IntervalStats {
            t_s: len.as_secs_f64() * index as f64,
            requests: t.completed(),
            errors: t.http_errors() + t.failures(),
            dropped: t.dropped(),
            rps: per_second(t.completed(), len),
            p50_us: q(0.5),
            p90_us: q(0.9),
            p99_us: q(0.99),
            max_us: if h.is_empty() { 0 } else { h.max() },
            warmup_requests,
            open_connections: 0,
            tally: None,
            resources: None,
        }
    }
}

/// One run of a merged result ([`Summary::inputs`]): where it came from and
/// its totals.
#[derive(Debug, Clone)]
pub struct InputSummary {
    /// The result file it was read from.
    pub name: String,
    /// When it started, by the wall clock.
    pub started_at: SystemTime,
    /// Its wall time.
    pub elapsed: Duration,
    /// Its warm-up, if any.
    pub warmup_duration: Option<Duration>,
    /// All its targets together.
    pub total: Tally,
    /// Which shard of which run it is, if it is one (`--shard`).
    pub shard: Option<crate::shard::ShardInfo>,
    /// How late it started after its `--start-at`, if it was late.
    pub late: Option<Duration>,
}

impl InputSummary {
    /// Completed requests per second of its measured time (less its warm-up).
    pub fn requests_per_second(&self) -> f64 {
        let measured = self
            .elapsed
            .saturating_sub(self.warmup_duration.unwrap_or_default());
        per_second(self.total.completed(), measured)
    }
}

/// The result of a whole run.
#[derive(Debug, Clone)]
pub struct Summary {
    /// When the run started, by the wall clock (the earliest input's start
    /// for a merged result), so series of runs align by wall-clock time.
    pub started_at: SystemTime,
    /// Wall time from start until every worker ended (for a merged result:
    /// from the earliest start to the latest end).
    pub elapsed: Duration,
    /// Connections asked for.
    pub connections: usize,
    /// Worker threads used (per process).
    pub threads: usize,
    /// Processes that held connections (1: this one).
    pub processes: usize,
    /// Source addresses connections were spread over (0: the kernel's choice).
    pub source_addresses: usize,
    /// How the run was bounded.
    pub stop: Stop,
    /// Whether connections were reused.
    pub keep_alive: bool,
    /// Per-connection request interval of mostly-idle connections, if any.
    pub interval: Option<Duration>,
    /// All targets together.
    pub total: Tally,
    /// Per target, in the order given.
    pub targets: Vec<TargetSummary>,
    /// Connections established over the run.
    pub connections_opened: u64,
    /// Time to establish each connection, microseconds.
    pub connect_latency: Histogram<u64>,
    /// Time of each TLS handshake, microseconds (empty without https://).
    pub tls_handshake: Histogram<u64>,
    /// TLS handshakes that resumed an earlier session (the rest were full).
    pub tls_resumed: u64,
    /// Open model: how late each request was sent after it was due, microseconds.
    pub send_lag: Histogram<u64>,
    /// How late the workers' event loops ran a 10 ms probe timer, microseconds.
    pub loop_stall: Histogram<u64>,
    /// Connection levels summed over workers at their last report: peak open
    /// connections, and the time until every planned connection was open.
    pub gauges: Gauges,
    /// Machine limits hit while connecting.
    pub limits: LimitHits,
    /// The open-files limit in force (soft, after raising it to the hard limit).
    pub open_files_limit: u64,
    /// CPU time of the worker threads (the load generator alone).
    pub cpu: CpuTime,
    /// Peak resident memory, in bytes: this process plus its worker processes.
    pub peak_rss_bytes: u64,
    /// Kernel memory the run added at its peak, if the kernel tells.
    pub kernel: Option<KernelUsage>,
    /// Workers that failed or died, one line each.
    pub worker_failures: Vec<String>,
    /// Whether the run followed the open model (requests on a schedule).
    pub open_model: bool,
    /// Requests of the warm-up, kept out of every other figure.
    pub warmup: Tally,
    /// Per statistics interval.
    pub series: Vec<IntervalStats>,
    /// Length of a statistics interval.
    pub stats_interval: Duration,
    /// The warm-up asked for, if any.
    pub warmup_duration: Option<Duration>,
    /// Checks to judge the run by; [`Summary::judged`] judges them.
    pub thresholds: Vec<Threshold>,
    /// Whether the run was cut short by cancellation (Ctrl-C).
    pub interrupted: bool,
    /// The machine's facts, captured when the run ended.
    pub machine: Machine,
    /// Each of [`Summary::thresholds`], judged once by [`Summary::judged`], in
    /// the same order.
    pub verdicts: Vec<Verdict>,
    /// The runs a merged result was made of, one per result file, in the order
    /// given (empty for a single run).
    pub inputs: Vec<InputSummary>,
    /// `--start-at`: the time asked for and whether the run was late for it
    /// (`None` for a run started at once, and for a merged result, whose
    /// inputs keep their own).
    pub start: Option<crate::start_at::StartRecord>,
}

impl Summary {
    /// Wall time the statistics cover: the run less its warm-up.
    pub fn measured_elapsed(&self) -> Duration {
        self.elapsed
            .saturating_sub(self.warmup_duration.unwrap_or_default())
    }

    /// Completed requests per second of measured wall time.
    pub fn requests_per_second(&self) -> f64 {
        per_second(self.total.completed(), self.measured_elapsed())
    }

    /// CPU used by the generator as a share of one core (1.0 = one core busy).
    pub fn cpu_utilisation(&self) -> f64 {
        let wall = self.elapsed.as_secs_f64();
        if wall > 0.0 {
            self.cpu.total().as_secs_f64() / wall
        } else {
            0.0
        }
    }

    /// Requests completed per second of the generator's CPU time: the efficiency
    /// figure that load generators are compared by.
    pub fn requests_per_cpu_second(&self) -> f64 {
        per_second(self.total.completed(), self.cpu.total())
    }

    /// The summary with [`Summary::verdicts`] set: every threshold judged
    /// against the measured figures of all targets together. Judging again
    /// gives the same verdicts.
    pub fn judged(mut self) -> Summary {
        let measured = self.measured_elapsed();
        self.verdicts = self
            .thresholds
            .iter()
            .map(|t| t.evaluate(&self.total, measured))
            .collect();
        self
    }

    /// Whether every threshold passed (true when there are none). A summary
    /// whose thresholds were not judged has not passed them.
    pub fn thresholds_passed(&self) -> bool {
        self.verdicts.len() == self.thresholds.len() && self.verdicts.iter().all(|v| v.passed)
    }
}
