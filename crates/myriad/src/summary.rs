//! The result of a run: everything reporters read, and nothing else.

use std::time::Duration;

use crate::config::Stop;
use crate::metrics::{LimitHits, Tally};
use crate::sys::CpuTime;

/// The numbers of one target.
#[derive(Debug, Clone)]
pub struct TargetSummary {
    /// The URL as given.
    pub url: String,
    /// Its counts and latencies.
    pub tally: Tally,
}

/// The result of a whole run.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Wall time from start until every worker ended.
    pub elapsed: Duration,
    /// Connections asked for.
    pub connections: usize,
    /// Worker threads used.
    pub threads: usize,
    /// How the run was bounded.
    pub stop: Stop,
    /// Whether connections were reused.
    pub keep_alive: bool,
    /// All targets together.
    pub total: Tally,
    /// Per target, in the order given.
    pub targets: Vec<TargetSummary>,
    /// Connections established over the run.
    pub connections_opened: u64,
    /// Machine limits hit while connecting.
    pub limits: LimitHits,
    /// The open-files limit in force (soft, after raising it to the hard limit).
    pub open_files_limit: u64,
    /// CPU time of the worker threads (the load generator alone).
    pub cpu: CpuTime,
    /// Peak resident memory of the process, in bytes.
    pub peak_rss_bytes: u64,
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
