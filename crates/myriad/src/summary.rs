//! The result of a run: everything reporters read, and nothing else.

use std::time::Duration;

use crate::config::Stop;
use hdrhistogram::Histogram;

use crate::metrics::{Gauges, LimitHits, Tally};
use crate::sys::CpuTime;

/// The numbers of one target.
#[derive(Debug, Clone)]
pub struct TargetSummary {
    /// The URL as given.
    pub url: String,
    /// Its counts and latencies.
    pub tally: Tally,
}

/// Kernel memory added by a run: the peak during the run minus the level at
/// its start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KernelUsage {
    /// TCP buffer memory, bytes.
    pub tcp_buffers: u64,
    /// Slab memory (socket structures, inodes, files), bytes.
    pub slab: u64,
    /// TCP sockets (both ends when the server runs on this machine).
    pub tcp_sockets: u64,
}

/// The result of a whole run.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Wall time from start until every worker ended.
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
    /// Whether the run was cut short by cancellation (Ctrl-C).
    pub interrupted: bool,
}

impl Summary {
    /// Completed requests per second of wall time.
    pub fn requests_per_second(&self) -> f64 {
        per_second(self.total.completed(), self.elapsed)
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
}

/// `count` per second over `over`, zero for an empty interval.
pub fn per_second(count: u64, over: Duration) -> f64 {
    let secs = over.as_secs_f64();
    if secs > 0.0 {
        count as f64 / secs
    } else {
        0.0
    }
}
