//! The collector: one thread that merges the deltas of every worker (thread or
//! process), keeps each worker's latest connection levels, and samples the
//! kernel's socket memory while the run goes on.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{Event, SourceEnd};
use crate::metrics::{ErrorKind, Gauges, Outcome, Recorder};
use crate::summary::KernelUsage;
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
}

/// The running collector.
pub(crate) struct Handle {
    thread: Option<JoinHandle<Collected>>,
    open: Arc<AtomicU64>,
    targets: usize,
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
            },
        }
    }
}

/// Starts collecting from `sources` workers recording `targets` targets.
pub(crate) fn start(rx: Receiver<Event>, sources: usize, targets: usize) -> Handle {
    let open = Arc::new(AtomicU64::new(0));
    let live = open.clone();
    let thread = std::thread::Builder::new()
        .name("myriad-collector".into())
        .spawn(move || collect(rx, sources, targets, &live))
        .ok();
    Handle {
        thread,
        open,
        targets,
    }
}

struct SourceState {
    recorder: Recorder,
    gauges: Gauges,
    end: Option<SourceEnd>,
}

fn collect(rx: Receiver<Event>, sources: usize, targets: usize, open: &AtomicU64) -> Collected {
    let mut states: Vec<SourceState> = (0..sources)
        .map(|_| SourceState {
            recorder: Recorder::new(targets),
            gauges: Gauges::default(),
            end: None,
        })
        .collect();
    let baseline = sys::kernel_memory();
    let mut peak = baseline;
    let mut last_sample = Instant::now();
    let mut ended = 0;
    while ended < sources {
        match rx.recv_timeout(SAMPLE_EVERY) {
            Ok(Event::Delta {
                source,
                recorder,
                gauges,
            }) => {
                if let Some(s) = states.get_mut(source) {
                    s.recorder.merge(&recorder);
                    s.gauges = gauges;
                }
                open.store(
                    states.iter().map(|s| s.gauges.open).sum(),
                    Ordering::Relaxed,
                );
            }
            Ok(Event::Ended { source, end }) => {
                if let Some(s) = states.get_mut(source) {
                    if s.end.is_none() {
                        ended += 1;
                    }
                    s.end = Some(end);
                }
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
