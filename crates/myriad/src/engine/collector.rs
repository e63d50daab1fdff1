//! The collector: one thread that merges the deltas of every worker (thread or
//! process), keeps each worker's latest connection levels, samples the
//! kernel's socket memory while the run goes on, and samples resources
//! ([`crate::resources`]) once per completed interval.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{Event, SourceEnd};
use crate::feed::{Interval, Sink};
use crate::metrics::{ErrorKind, Gauges, Outcome, Recorder, Tally};
use crate::resources::Sampler;
use crate::summary::{IntervalStats, KernelUsage};
use crate::sys::{self, CpuTime};

/// How often the kernel's memory is sampled.
const SAMPLE_EVERY: Duration = Duration::from_millis(250);

/// What the collector hands back at the end.
pub(crate) struct Collected {
    pub recorder: Recorder,
    pub gauges: Gauges,
    pub cpu: CpuTime,
    pub children_peak_rss: u64,
    pub kernel: Option<KernelUsage>,
    /// One line per worker that failed or died.
    pub failures: Vec<String>,
    /// Per statistics interval: throughput, errors, latency.
    pub series: Vec<IntervalStats>,
}

/// The sinks of the live feed, shared with [`crate::Run::subscribe`].
pub(crate) type Sinks = Arc<Mutex<Vec<Box<dyn Sink>>>>;

/// The running collector.
pub(crate) struct Handle {
    thread: Option<JoinHandle<Collected>>,
    open: Arc<AtomicU64>,
    targets: usize,
    pub sinks: Sinks,
}

impl Handle {
    /// Connections open over all workers, as of their last deltas.
    pub fn open_connections(&self) -> u64 {
        self.open.load(Ordering::Relaxed)
    }

    /// Waits until every worker has ended (or every sender is gone).
    pub fn finish(mut self) -> Collected {
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(c)) => c,
            _ => Collected {
                recorder: Recorder::new(self.targets),
                gauges: Gauges::default(),
                cpu: CpuTime::default(),
                children_peak_rss: 0,
                kernel: None,
                failures: vec!["the collector thread panicked; counts are lost".into()],
                series: Vec::new(),
            },
        }
    }
}

/// How the time series is kept.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SeriesSettings {
    /// Length of one interval.
    pub interval: Duration,
    /// Keep each interval's tally ([`Config::series_tallies`]).
    ///
    /// [`Config::series_tallies`]: crate::config::Config::series_tallies
    pub keep_tallies: bool,
}

/// Starts collecting from `sources` workers recording `targets` targets,
/// sampling resources with `sampler` as each interval completes.
pub(crate) fn start(
    rx: Receiver<Event>,
    sources: usize,
    targets: usize,
    series: SeriesSettings,
    sampler: Sampler,
) -> Handle {
    let open = Arc::new(AtomicU64::new(0));
    let sinks: Sinks = Arc::default();
    let (live, feed) = (open.clone(), sinks.clone());
    let thread = std::thread::Builder::new()
        .name("myriad-collector".into())
        .spawn(move || collect(rx, sources, targets, &live, series, feed, sampler))
        .ok();
    Handle {
        thread,
        open,
        targets,
        sinks,
    }
}

struct SourceState {
    recorder: Recorder,
    gauges: Gauges,
    end: Option<SourceEnd>,
    /// The last statistics interval it shipped.
    last_interval: Option<u64>,
}

/// Interval deltas waiting for every live worker's share: all targets merged,
/// plus the warm-up's count.
#[derive(Default)]
struct Pending {
    tally: Option<Tally>,
    warmup_requests: u64,
}

/// Builds the time series as intervals complete, and feeds the sinks.
struct Series {
    interval: Duration,
    /// Keep each interval's tally in its stats ([`Config::series_tallies`]).
    ///
    /// [`Config::series_tallies`]: crate::config::Config::series_tallies
    keep_tallies: bool,
    pending: BTreeMap<u64, Pending>,
    done: Vec<IntervalStats>,
    sinks: Sinks,
    sampler: Sampler,
}

impl Series {
    fn add(&mut self, index: u64, recorder: &Recorder) {
        let p = self.pending.entry(index).or_default();
        let tally = p.tally.get_or_insert_with(Tally::new);
        for t in &recorder.targets {
            tally.merge(t);
        }
        p.warmup_requests += recorder.warmup.completed();
    }

    /// Completes pending intervals as far as `upto` allows, in order. One
    /// resource sample covers the intervals completed together.
    fn complete(&mut self, upto: Complete, open_connections: u64) {
        let mut ready = Vec::new();
        while let Some((&index, _)) = self.pending.first_key_value() {
            match upto {
                Complete::Nothing => break,
                Complete::UpTo(u) if index > u => break,
                _ => {}
            }
            let Some(done) = self.pending.pop_first() else {
                break;
            };
            ready.push(done);
        }
        if ready.is_empty() {
            return;
        }
        let samples = self.sampler.sample().split(ready.len());
        for ((index, p), sample) in ready.into_iter().zip(samples) {
            let tally = p.tally.unwrap_or_default();
            let mut stats = if self.keep_tallies {
                IntervalStats::new(index, self.interval, &tally, p.warmup_requests)
            } else {
                IntervalStats::figures(index, self.interval, &tally, p.warmup_requests)
            };
            stats.open_connections = open_connections;
            stats.resources = Some(sample);
            let interval = Interval {
                index,
                len: self.interval,
                stats: &stats,
                tally: &tally,
                open_connections,
            };
            if let Ok(mut sinks) = self.sinks.lock() {
                for sink in sinks.iter_mut() {
                    sink.interval(&interval);
                }
            }
            self.done.push(stats);
        }
    }
}

/// How far the time series is complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Complete {
    /// A live worker has shipped nothing yet.
    Nothing,
    /// Every live worker has shipped up to this interval.
    UpTo(u64),
    /// No worker is live any more.
    All,
}

fn complete_upto(states: &[SourceState]) -> Complete {
    let mut upto = None;
    for s in states.iter().filter(|s| s.end.is_none()) {
        match s.last_interval {
            None => return Complete::Nothing,
            Some(i) => upto = Some(upto.map_or(i, |u: u64| u.min(i))),
        }
    }
    upto.map_or(Complete::All, Complete::UpTo)
}

fn collect(
    rx: Receiver<Event>,
    sources: usize,
    targets: usize,
    open: &AtomicU64,
    settings: SeriesSettings,
    sinks: Sinks,
    sampler: Sampler,
) -> Collected {
    let mut states: Vec<SourceState> = (0..sources)
        .map(|_| SourceState {
            recorder: Recorder::new(targets),
            gauges: Gauges::default(),
            end: None,
            last_interval: None,
        })
        .collect();
    let mut series = Series {
        interval: settings.interval,
        keep_tallies: settings.keep_tallies,
        pending: BTreeMap::new(),
        done: Vec::new(),
        sinks,
        sampler,
    };
    let baseline = sys::kernel_memory();
    let mut peak = baseline;
    let mut last_sample = Instant::now();
    let mut ended = 0;
    while ended < sources {
        match rx.recv_timeout(SAMPLE_EVERY) {
            Ok(Event::Delta {
                source,
                interval,
                recorder,
                gauges,
            }) => {
                series.add(interval, &recorder);
                if let Some(s) = states.get_mut(source) {
                    s.recorder.merge(&recorder);
                    s.gauges = gauges;
                    s.last_interval = s.last_interval.max(Some(interval));
                }
                let now_open = states.iter().map(|s| s.gauges.open).sum();
                open.store(now_open, Ordering::Relaxed);
                series.complete(complete_upto(&states), now_open);
            }
            Ok(Event::Ended { source, end }) => {
                if let Some(s) = states.get_mut(source) {
                    if s.end.is_none() {
                        ended += 1;
                    }
                    s.end = Some(end);
                }
                series.complete(complete_upto(&states), open.load(Ordering::Relaxed));
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if last_sample.elapsed() >= SAMPLE_EVERY {
            last_sample = Instant::now();
            if let (Some(p), Some(now)) = (peak.as_mut(), sys::kernel_memory()) {
                p.tcp_buffers = p.tcp_buffers.max(now.tcp_buffers);
                p.slab = p.slab.max(now.slab);
                p.tcp_sockets = p.tcp_sockets.max(now.tcp_sockets);
            }
        }
    }
    series.complete(Complete::All, open.load(Ordering::Relaxed));
    if let Ok(mut sinks) = series.sinks.lock() {
        for sink in sinks.iter_mut() {
            sink.finish();
        }
    }
    let mut out = Collected {
        recorder: Recorder::new(targets),
        gauges: Gauges::default(),
        cpu: CpuTime::default(),
        children_peak_rss: 0,
        kernel: baseline.zip(peak).map(|(b, p)| KernelUsage {
            tcp_buffers: p.tcp_buffers.saturating_sub(b.tcp_buffers),
            slab: p.slab.saturating_sub(b.slab),
            tcp_sockets: p.tcp_sockets.saturating_sub(b.tcp_sockets),
        }),
        failures: Vec::new(),
        series: std::mem::take(&mut series.done),
    };
    for (i, mut s) in states.into_iter().enumerate() {
        let end = s.end.take().unwrap_or_else(|| SourceEnd {
            died: Some("ended without a report".into()),
            ..SourceEnd::default()
        });
        if let Some(e) = &end.error {
            out.failures.push(format!("worker {i} failed: {e}"));
        }
        if let Some(how) = &end.died {
            // Its requests in flight at its last delta have no known outcome.
            let lost = s.recorder.in_flight();
            let n: u64 = lost.iter().sum();
            for (target, count) in lost.into_iter().enumerate() {
                for _ in 0..count {
                    s.recorder.targets[target].record(Outcome::Error(ErrorKind::Lost), 0);
                }
            }
            out.failures.push(format!(
                "worker process {i} died ({how}); its counts up to its last report are kept and its {n} requests then in flight are counted as lost"
            ));
        }
        out.recorder.merge(&s.recorder);
        out.gauges.add(&s.gauges);
        out.cpu.add(end.cpu);
        out.children_peak_rss += end.peak_rss_bytes;
    }
    out
}
