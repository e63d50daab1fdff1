//! Resources over time: the client's CPU and memory, the watched targets'
//! CPU and memory, and the traffic on the network interface that carries the
//! run, sampled from `/proc` once per statistics interval.
//!
//! # Layout
//! - `procfs.rs`: `/proc/PID/stat` and `/proc/self/task/TID/stat` (CPU ticks,
//!   resident pages, thread names).
//! - `net.rs`: which interface carries traffic towards a target
//!   (`getifaddrs`), and `/proc/net/dev`'s counters.
//! - here: [`Watch`] (what to measure besides the client), the [`Sampler`]
//!   the collector calls when an interval completes (on its own thread, never
//!   on a worker's: the hot path pays nothing), the per-interval
//!   [`ResourceSample`] that goes into [`crate::summary::IntervalStats`], and
//!   [`ResourceTotals`], the run's figures computed from the series.
//!
//! What "client" means: this process (every thread of it, the collector and
//! the main thread included) plus its worker processes. When the target runs
//! inside this process (`myriad demo`'s built-in server), its threads are
//! told apart by name ([`Watch::threads_named`]): their CPU is the target's,
//! not the client's. Memory cannot be split between threads of one process,
//! so the client's RSS then includes the server's, and the server's RSS is
//! not known (`None`).

pub mod net;
pub mod procfs;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

use serde::{Deserialize, Serialize};

pub use net::DevCounters;

use crate::summary::IntervalStats;

/// What to measure besides the client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Watch {
    /// Other processes under load (`--watch-pid`): their CPU and RSS.
    pub pids: Vec<u32>,
    /// Threads of this process whose names start with this are the target
    /// (the built-in server of `myriad demo`, `myriad-server*`): their CPU is
    /// measured apart and left out of the client's.
    pub threads_named: Option<String>,
}

impl Watch {
    /// The first watched pid that is not a running process, if any.
    pub fn missing_pid(&self) -> Option<u32> {
        self.pids
            .iter()
            .copied()
            .find(|&p| !procfs::process_exists(p))
    }
}

/// What the client used over one sample.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ClientUsage {
    /// CPU cores used over the sample, user plus system (1.0 = one core busy).
    pub cpu_cores: f64,
    /// Resident memory at the sample, bytes: this process plus its worker
    /// processes (with `myriad demo`'s server, the whole process).
    pub rss_bytes: u64,
}

/// What one watched target used over one sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetUsage {
    /// Its command name, or `built-in server` for threads of this process.
    pub name: String,
    /// Its process id; `None` for threads of this process.
    pub pid: Option<u32>,
    /// CPU cores used over the sample, user plus system (0 once it ended).
    pub cpu_cores: f64,
    /// Resident memory at the sample, bytes; `None` when it cannot be told
    /// apart (threads of this process) or the process has ended.
    pub rss_bytes: Option<u64>,
}

/// Traffic on one network interface over one sample (or a whole run).
/// On the loopback interface every packet is counted twice: sent and
/// received.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterfaceUsage {
    /// The interface (`lo`, `eth0`).
    pub interface: String,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets received.
    pub rx_packets: u64,
    /// Packets sent.
    pub tx_packets: u64,
}

impl InterfaceUsage {
    fn new(interface: &str, c: DevCounters) -> InterfaceUsage {
        InterfaceUsage {
            interface: interface.to_string(),
            rx_bytes: c.rx_bytes,
            tx_bytes: c.tx_bytes,
            rx_packets: c.rx_packets,
            tx_packets: c.tx_packets,
        }
    }

    fn add(&mut self, other: &InterfaceUsage) {
        self.rx_bytes += other.rx_bytes;
        self.tx_bytes += other.tx_bytes;
        self.rx_packets += other.rx_packets;
        self.tx_packets += other.tx_packets;
    }
}

/// Resources used over one statistics interval: sampled when the interval
/// completed, covering the time since the previous sample.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResourceSample {
    /// Wall time the sample covers, seconds.
    pub span_s: f64,
    /// The client: this process and its worker processes.
    pub client: ClientUsage,
    /// Each watched target, in the order given.
    #[serde(default)]
    pub targets: Vec<TargetUsage>,
    /// The interfaces that carry the traffic (none for a Unix socket).
    #[serde(default)]
    pub network: Vec<InterfaceUsage>,
}

impl ResourceSample {
    /// Adds the sample of a run that went on side by side with this one
    /// (another result file merged into the same wall-clock slot): the
    /// clients' CPU and memory add up, targets are listed from both (one
    /// watched by both runs counted once, from the first), the traffic of
    /// an interface of the same name adds up.
    pub fn add(&mut self, other: &ResourceSample) {
        self.span_s = self.span_s.max(other.span_s);
        self.client.cpu_cores += other.client.cpu_cores;
        self.client.rss_bytes += other.client.rss_bytes;
        for t in &other.targets {
            if !self
                .targets
                .iter()
                .any(|m| m.name == t.name && m.pid == t.pid)
            {
                self.targets.push(t.clone());
            }
        }
        for n in &other.network {
            match self.network.iter_mut().find(|m| m.interface == n.interface) {
                Some(m) => {
                    m.rx_bytes += n.rx_bytes;
                    m.tx_bytes += n.tx_bytes;
                    m.rx_packets += n.rx_packets;
                    m.tx_packets += n.tx_packets;
                }
                None => self.network.push(n.clone()),
            }
        }
    }

    /// The sample spread over `n` intervals that completed together: the
    /// same CPU rates and memory, the time and the traffic divided (the
    /// first takes the remainder of the traffic, so the sums stay exact).
    pub fn split(self, n: usize) -> Vec<ResourceSample> {
        let n = n.max(1);
        let k = n as u64;
        (0..k)
            .map(|i| {
                let mut s = self.clone();
                s.span_s = self.span_s / n as f64;
                for net in &mut s.network {
                    let share = |v: u64| v / k + if i == 0 { v % k } else { 0 };
                    net.rx_bytes = share(net.rx_bytes);
                    net.tx_bytes = share(net.tx_bytes);
                    net.rx_packets = share(net.rx_packets);
                    net.tx_packets = share(net.tx_packets);
                }
                s
            })
            .collect()
    }
}

/// One watched process.
struct Watched {
    pid: u32,
    name: String,
    ticks: Option<u64>,
}

/// Samples resources on the collector's thread; each [`Sampler::sample`]
/// covers the time since the previous one (or since [`Sampler::new`]).
pub struct Sampler {
    ticks_per_s: f64,
    page: u64,
    last: Instant,
    own_ticks: u64,
    workers: HashMap<u32, u64>,
    watched: Vec<Watched>,
    threads: Option<(String, HashMap<u32, u64>)>,
    interfaces: Vec<(String, DevCounters)>,
}

impl Sampler {
    /// Takes the baseline now: this process, the watched targets, and the
    /// interfaces that carry traffic towards `targets` (deduplicated).
    pub fn new(watch: &Watch, targets: impl IntoIterator<Item = SocketAddr>) -> Sampler {
        let mut names: Vec<String> = Vec::new();
        for t in targets {
            if let Some(name) = net::interface_towards(t) {
                if !names.contains(&name) {
                    names.push(name);
                }
            }
        }
        let dev = net::read_net_dev();
        let interfaces = names
            .into_iter()
            .map(|n| {
                let c = dev.iter().find(|(d, _)| *d == n).map(|(_, c)| *c);
                (n, c.unwrap_or_default())
            })
            .collect();
        let watched = watch
            .pids
            .iter()
            .map(|&pid| {
                let stat = procfs::process_stat(pid);
                Watched {
                    pid,
                    name: stat.as_ref().map_or_else(|| "?".into(), |s| s.comm.clone()),
                    ticks: stat.map(|s| s.cpu_ticks),
                }
            })
            .collect();
        let threads = watch
            .threads_named
            .clone()
            .map(|prefix| (prefix.clone(), named_thread_ticks(&prefix)));
        Sampler {
            ticks_per_s: procfs::ticks_per_second() as f64,
            page: procfs::page_size(),
            last: Instant::now(),
            own_ticks: procfs::self_stat().map_or(0, |s| s.cpu_ticks),
            workers: HashMap::new(),
            watched,
            threads,
            interfaces,
        }
    }

    /// Adds worker processes to the client. Their whole CPU time counts (they
    /// were started for this run).
    pub fn add_workers(&mut self, pids: &[u32]) {
        for &pid in pids {
            self.workers.entry(pid).or_insert(0);
        }
    }

    /// Samples now: what was used since the previous sample.
    pub fn sample(&mut self) -> ResourceSample {
        let now = Instant::now();
        let span_s = now.duration_since(self.last).as_secs_f64();
        self.last = now;
        let cores = |ticks: u64| {
            if span_s > 0.0 {
                ticks as f64 / self.ticks_per_s / span_s
            } else {
                0.0
            }
        };
        let me = procfs::self_stat();
        let own_now = me.as_ref().map_or(self.own_ticks, |s| s.cpu_ticks);
        let mut client_ticks = own_now.saturating_sub(self.own_ticks);
        self.own_ticks = own_now;
        let mut rss_pages = me.map_or(0, |s| s.rss_pages);
        let mut targets = Vec::new();
        if let Some((prefix, last)) = &mut self.threads {
            let current = named_thread_ticks(prefix);
            // A thread first seen now started since the last sample: all of
            // its time is new. One that ended took its last ticks with it.
            let used: u64 = current
                .iter()
                .map(|(tid, t)| t.saturating_sub(last.get(tid).copied().unwrap_or(0)))
                .sum();
            *last = current;
            client_ticks = client_ticks.saturating_sub(used);
            targets.push(TargetUsage {
                name: "built-in server".into(),
                pid: None,
                cpu_cores: cores(used),
                rss_bytes: None,
            });
        }
        self.workers
            .retain(|&pid, last| match procfs::process_stat(pid) {
                Some(s) => {
                    client_ticks += s.cpu_ticks.saturating_sub(*last);
                    *last = s.cpu_ticks;
                    rss_pages += s.rss_pages;
                    true
                }
                None => false,
            });
        for w in &mut self.watched {
            let stat = procfs::process_stat(w.pid);
            let ticks = stat.as_ref().map(|s| s.cpu_ticks);
            let used = match (ticks, w.ticks) {
                (Some(now), Some(before)) => now.saturating_sub(before),
                _ => 0,
            };
            w.ticks = ticks.or(w.ticks);
            targets.push(TargetUsage {
                name: w.name.clone(),
                pid: Some(w.pid),
                cpu_cores: cores(used),
                rss_bytes: stat.map(|s| s.rss_pages * self.page),
            });
        }
        let network = if self.interfaces.is_empty() {
            Vec::new()
        } else {
            let dev = net::read_net_dev();
            self.interfaces
                .iter_mut()
                .map(|(name, last)| {
                    let now = dev
                        .iter()
                        .find(|(d, _)| d == name)
                        .map_or(*last, |(_, c)| *c);
                    let used = now.since(*last);
                    *last = now;
                    InterfaceUsage::new(name, used)
                })
                .collect()
        };
        ResourceSample {
            span_s,
            client: ClientUsage {
                cpu_cores: cores(client_ticks),
                rss_bytes: rss_pages * self.page,
            },
            targets,
            network,
        }
    }
}

fn named_thread_ticks(prefix: &str) -> HashMap<u32, u64> {
    procfs::own_threads()
        .into_iter()
        .filter(|(_, s)| s.comm.starts_with(prefix))
        .map(|(tid, s)| (tid, s.cpu_ticks))
        .collect()
}

/// The run's resource figures, computed from the series' samples.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ResourceTotals {
    /// Largest client RSS of any sample, bytes.
    pub peak_client_rss_bytes: u64,
    /// Client CPU cores used, averaged over the run's samples (weighted by
    /// their spans).
    pub mean_client_cpu_cores: f64,
    /// Traffic per interface over the whole run.
    pub network: Vec<InterfaceUsage>,
    /// Each watched target over the run.
    pub targets: Vec<TargetTotals>,
}

/// One watched target over the whole run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TargetTotals {
    /// Its command name, or `built-in server`.
    pub name: String,
    /// Its process id; `None` for threads of this process.
    pub pid: Option<u32>,
    /// CPU cores used, averaged over the run.
    pub mean_cpu_cores: f64,
    /// Largest RSS of any sample, bytes; `None` if never known.
    pub peak_rss_bytes: Option<u64>,
}

impl ResourceTotals {
    /// The figures of the intervals that carry a sample; `None` if none does.
    pub fn from_series(series: &[IntervalStats]) -> Option<ResourceTotals> {
        let mut t = ResourceTotals::default();
        let (mut span, mut client_cpu_s) = (0.0, 0.0);
        let mut target_cpu_s: Vec<f64> = Vec::new();
        for s in series.iter().filter_map(|i| i.resources.as_ref()) {
            span += s.span_s;
            client_cpu_s += s.client.cpu_cores * s.span_s;
            t.peak_client_rss_bytes = t.peak_client_rss_bytes.max(s.client.rss_bytes);
            for n in &s.network {
                match t.network.iter_mut().find(|m| m.interface == n.interface) {
                    Some(m) => m.add(n),
                    None => t.network.push(n.clone()),
                }
            }
            for u in &s.targets {
                let i = match t
                    .targets
                    .iter()
                    .position(|x| x.name == u.name && x.pid == u.pid)
                {
                    Some(i) => i,
                    None => {
                        t.targets.push(TargetTotals {
                            name: u.name.clone(),
                            pid: u.pid,
                            ..TargetTotals::default()
                        });
                        target_cpu_s.push(0.0);
                        t.targets.len() - 1
                    }
                };
                target_cpu_s[i] += u.cpu_cores * s.span_s;
                let peak = &mut t.targets[i].peak_rss_bytes;
                *peak = (*peak).max(u.rss_bytes);
            }
        }
        if span <= 0.0 && t.network.is_empty() && t.peak_client_rss_bytes == 0 {
            return None;
        }
        let mean = |cpu_s: f64| if span > 0.0 { cpu_s / span } else { 0.0 };
        t.mean_client_cpu_cores = mean(client_cpu_s);
        for (target, cpu_s) in t.targets.iter_mut().zip(target_cpu_s) {
            target.mean_cpu_cores = mean(cpu_s);
        }
        Some(t)
    }
}

#[cfg(test)]
mod tests;
