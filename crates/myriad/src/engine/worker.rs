//! A worker thread: one current-thread tokio runtime, its connections, its recorder.
//!
//! Nothing here is shared with other workers on the hot path: tickets, counts and
//! histograms live in this thread (`Cell`/`RefCell` behind an `Rc`). Cross-thread
//! traffic is a relaxed store of progress counters for the live view, a delta
//! of the recorder shipped once per interval over a channel, and the
//! cancellation token.

use std::cell::{Cell, RefCell};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::connection::{connection_loop, IoCounts, Tickets};
use super::open::{run_scheduler, OpenPlan, OpenState};
use super::pacer::connect_slot;
use super::plan::WorkerPlan;
use super::{Event, SourceEnd};
use crate::metrics::{ErrorKind, Gauges, Outcome, Recorder, Tally};
use crate::sys::{thread_cpu_time, CpuTime};

/// Connects in flight per worker at most: bounds the burst a server's listen
/// backlog must absorb (an overflow costs the client a SYN retry of a second).
const CONNECTS_IN_FLIGHT: usize = 256;
/// Period of the probe timer that measures the worker's event-loop stalls.
const STALL_PROBE: Duration = Duration::from_millis(10);
/// Read buffer lent to a connection while a response is being read.
pub(crate) const READ_BUF: usize = 8 * 1024;
/// Free buffers a worker keeps for reuse: enough for the requests usually in
/// flight at once; a burst beyond it allocates and frees.
const POOL_CAP: usize = 256;

/// What a target looks like on the wire, prepared once.
#[derive(Debug)]
pub(crate) struct TargetWire {
    pub addr: SocketAddr,
    pub request: Box<[u8]>,
    pub is_head: bool,
}

/// Counters a worker publishes for the live view; padded so two workers'
/// counters never share a cache line.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct WorkerProgress {
    pub issued: AtomicU64,
    pub completed: AtomicU64,
    pub failures: AtomicU64,
}

impl WorkerProgress {
    /// Issued, completed and failed requests summed over `workers`.
    pub fn sum(workers: &[Arc<WorkerProgress>]) -> (u64, u64, u64) {
        workers.iter().fold((0, 0, 0), |(i, c, f), w| {
            (
                i + w.issued.load(Ordering::Relaxed),
                c + w.completed.load(Ordering::Relaxed),
                f + w.failures.load(Ordering::Relaxed),
            )
        })
    }

    pub fn set(&self, issued: u64, completed: u64, failures: u64) {
        self.issued.store(issued, Ordering::Relaxed);
        self.completed.store(completed, Ordering::Relaxed);
        self.failures.store(failures, Ordering::Relaxed);
    }
}

/// Settings every worker of a run shares.
#[derive(Clone)]
pub(crate) struct WorkerSettings {
    pub targets: Arc<[TargetWire]>,
    pub sources: Arc<[IpAddr]>,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub keep_alive: bool,
    pub interval: Option<Duration>,
    pub started: Instant,
    pub deadline: Option<Instant>,
    /// Connects per second for this worker.
    pub connect_rate: Option<f64>,
    /// Length of a statistics interval; deltas are shipped at its boundaries.
    pub stats_interval: Duration,
    /// End of the warm-up, if any.
    pub warmup_end: Option<Instant>,
    /// This worker's share of the open model, if the run is open.
    pub open: Option<OpenPlan>,
    /// Closed model: connections allowed to work over time (a ramp).
    pub ramp: Option<crate::schedule::Schedule>,
}

/// One request handed to a connection: when it was due, and whether it falls
/// in the warm-up.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket {
    pub intended: Instant,
    pub warm: bool,
}

/// Read buffers lent to connections only while they read a response, so an
/// idle connection holds none.
pub(crate) struct BufPool {
    free: RefCell<Vec<Vec<u8>>>,
}

impl BufPool {
    fn new() -> BufPool {
        BufPool {
            free: RefCell::new(Vec::new()),
        }
    }

    /// Lends a buffer of [`READ_BUF`] bytes.
    pub fn take(&self) -> PooledBuf<'_> {
        let buf = self
            .free
            .borrow_mut()
            .pop()
            .unwrap_or_else(|| vec![0; READ_BUF]);
        PooledBuf { buf, pool: self }
    }
}

/// A lent buffer; it goes back to the pool when dropped (also when the request
/// is abandoned by a timeout).
pub(crate) struct PooledBuf<'a> {
    pub buf: Vec<u8>,
    pool: &'a BufPool,
}

impl Drop for PooledBuf<'_> {
    fn drop(&mut self) {
        let mut buf = std::mem::take(&mut self.buf);
        if buf.len() != READ_BUF {
            buf.truncate(READ_BUF);
            buf.shrink_to_fit();
        }
        let mut free = self.pool.free.borrow_mut();
        if free.len() < POOL_CAP {
            free.push(buf);
        }
    }
}

/// The worker's state, shared by its connection tasks on its one thread.
pub(crate) struct WorkerCtx {
    pub targets: Arc<[TargetWire]>,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub keep_alive: bool,
    pub interval: Option<Duration>,
    pub deadline: Option<Instant>,
    pub connect_permits: Semaphore,
    pub pool: BufPool,
    pub open: Option<OpenState>,
    pub ramp: Option<crate::schedule::Schedule>,
    pub started: Instant,
    warmup_end: Option<Instant>,
    stats_interval: Duration,
    connect_rate: Option<f64>,
    connects_paced: Cell<u64>,
    cancel: CancellationToken,
    /// Tickets left per target; `None` when the run stops by time.
    budgets: Vec<Option<Cell<u64>>>,
    /// Requests handed out and not yet ended, per tally (targets, then warm-up).
    in_flight: Vec<Cell<u64>>,
    recorder: RefCell<Recorder>,
    gauges: Cell<Gauges>,
    completed: Cell<u64>,
    failures: Cell<u64>,
    issued: Cell<u64>,
    progress: Arc<WorkerProgress>,
    events: Sender<Event>,
    source: usize,
}

impl WorkerCtx {
    /// Whether the run has stopped handing out work (Ctrl-C or the deadline).
    #[inline]
    pub fn stopped(&self, now: Instant) -> bool {
        self.cancel.is_cancelled() || self.deadline.is_some_and(|d| now >= d)
    }

    /// Closed model: hands out the next request for `target` at `now`, or says
    /// the connection is done.
    #[inline]
    pub fn take_ticket(&self, target: usize, now: Instant) -> Option<Ticket> {
        if self.stopped(now) {
            return None;
        }
        if let Some(budget) = &self.budgets[target] {
            let left = budget.get();
            if left == 0 {
                return None;
            }
            budget.set(left - 1);
        }
        let ticket = Ticket {
            intended: now,
            warm: self.is_warm(now),
        };
        self.issue(target, ticket);
        Some(ticket)
    }

    /// Whether a request due at `at` belongs to the warm-up.
    #[inline]
    pub fn is_warm(&self, at: Instant) -> bool {
        self.warmup_end.is_some_and(|w| at < w)
    }

    /// The tally a request is counted in: its target's, or the warm-up's.
    #[inline]
    fn slot(&self, target: usize, warm: bool) -> usize {
        if warm {
            self.targets.len()
        } else {
            target
        }
    }

    /// Counts a request handed to a connection.
    #[inline]
    pub(super) fn issue(&self, target: usize, ticket: Ticket) {
        let slot = self.slot(target, ticket.warm);
        tally_mut(&mut self.recorder.borrow_mut(), slot).issue();
        self.in_flight[slot].set(self.in_flight[slot].get() + 1);
        self.issued.set(self.issued.get() + 1);
        self.progress
            .issued
            .store(self.issued.get(), Ordering::Relaxed);
    }

    /// Counts a request that was due but found every allowed connection busy.
    pub(super) fn drop_request(&self, target: usize, warm: bool) {
        tally_mut(&mut self.recorder.borrow_mut(), self.slot(target, warm)).drop_request();
    }

    /// Records how a request ended: latency from when it was due, and (open
    /// model) service time from when it was sent.
    #[inline]
    pub(super) fn finish(
        &self,
        target: usize,
        ticket: Ticket,
        outcome: Outcome,
        latency_us: u64,
        service_us: Option<u64>,
        io: IoCounts,
    ) {
        let slot = self.slot(target, ticket.warm);
        {
            let mut rec = self.recorder.borrow_mut();
            if let Some(us) = service_us {
                // Open model: the part of the latency before the send.
                rec.send_lag
                    .saturating_record(latency_us.saturating_sub(us).max(1));
            }
            let tally = tally_mut(&mut rec, slot);
            tally.record(outcome, latency_us);
            if let (Some(us), Outcome::Status(_)) = (service_us, outcome) {
                tally.record_service(us);
            }
            tally.bytes_sent += io.sent;
            tally.bytes_received += io.received;
        }
        self.in_flight[slot].set(self.in_flight[slot].get() - 1);
        self.completed.set(self.completed.get() + 1);
        self.progress
            .completed
            .store(self.completed.get(), Ordering::Relaxed);
        if matches!(outcome, Outcome::Error(_)) {
            self.failures.set(self.failures.get() + 1);
            self.progress
                .failures
                .store(self.failures.get(), Ordering::Relaxed);
        }
    }

    /// When the next connect may start, if connects are paced.
    pub(super) fn connect_slot(&self) -> Option<Instant> {
        let rate = self.connect_rate?;
        let k = self.connects_paced.get();
        self.connects_paced.set(k + 1);
        Some(self.started + connect_slot(k, rate))
    }

    /// Notes a failed connect; returns true if it was a machine limit (files or
    /// ports), after which the caller backs off.
    pub(super) fn note_connect_error(&self, e: &io::Error) -> bool {
        let mut rec = self.recorder.borrow_mut();
        match e.raw_os_error() {
            Some(libc::EMFILE) | Some(libc::ENFILE) => {
                rec.limits.open_files += 1;
                true
            }
            Some(libc::EADDRNOTAVAIL) => {
                rec.limits.ephemeral_ports += 1;
                true
            }
            _ => false,
        }
    }

    /// Notes an established connection; `first` if it is the connection's
    /// first, for the time to establish all of them.
    pub(super) fn note_connected(&self, latency_us: u64, first: bool) {
        self.recorder.borrow_mut().connected(latency_us);
        let mut g = self.gauges.get();
        g.open += 1;
        g.peak_open = g.peak_open.max(g.open);
        if first {
            g.established += 1;
            if g.established == g.planned {
                g.establish_us = micros(self.started.elapsed());
            }
        }
        self.gauges.set(g);
    }

    /// Notes a connection closed.
    pub(super) fn note_closed(&self) {
        let mut g = self.gauges.get();
        g.open = g.open.saturating_sub(1);
        self.gauges.set(g);
    }

    /// Sends what was recorded since the last shipment to the run's collector,
    /// as statistics interval `interval`.
    fn ship(&self, interval: u64) {
        let recorder = Box::new(self.recorder.replace(Recorder::new(self.targets.len())));
        let _ = self.events.send(Event::Delta {
            source: self.source,
            interval,
            recorder,
            gauges: self.gauges.get(),
        });
    }

    /// The statistics interval that `at` falls in.
    fn interval_of(&self, at: Instant) -> u64 {
        let nanos = self.stats_interval.as_nanos().max(1);
        u64::try_from(at.saturating_duration_since(self.started).as_nanos() / nanos)
            .unwrap_or(u64::MAX)
    }
}

/// The tally at `slot`: a target's, or (one past the last target) the warm-up's.
fn tally_mut(rec: &mut Recorder, slot: usize) -> &mut Tally {
    if slot < rec.targets.len() {
        &mut rec.targets[slot]
    } else {
        &mut rec.warmup
    }
}

/// Microseconds in a duration, saturating.
pub(crate) fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// The body of a worker thread. Ships deltas while it runs and a last one at
/// the end, then reports its end; returns nothing (everything went out as events).
pub(crate) fn run_worker(
    source: usize,
    plan: WorkerPlan,
    settings: WorkerSettings,
    cancel: CancellationToken,
    progress: Arc<WorkerProgress>,
    events: Sender<Event>,
) {
    let cpu_start = thread_cpu_time();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = events.send(Event::Ended {
                source,
                end: SourceEnd::failed(format!("cannot start a worker runtime: {e}")),
            });
            return;
        }
    };
    let n_targets = settings.targets.len();
    let ctx = Rc::new(WorkerCtx {
        targets: settings.targets,
        timeout: settings.timeout,
        connect_timeout: settings.connect_timeout,
        keep_alive: settings.keep_alive,
        interval: settings.interval,
        deadline: settings.deadline,
        connect_permits: Semaphore::new(CONNECTS_IN_FLIGHT),
        pool: BufPool::new(),
        open: settings
            .open
            .as_ref()
            .map(|o| OpenState::new(n_targets, o.cap)),
        ramp: settings.ramp.clone(),
        started: settings.started,
        warmup_end: settings.warmup_end,
        stats_interval: settings.stats_interval,
        connect_rate: settings.connect_rate,
        connects_paced: Cell::new(0),
        cancel: cancel.child_token(),
        budgets: plan.budgets.iter().map(|b| b.map(Cell::new)).collect(),
        in_flight: (0..=n_targets).map(|_| Cell::new(0)).collect(),
        recorder: RefCell::new(Recorder::new(n_targets)),
        gauges: Cell::new(Gauges {
            // The open model opens connections as needed: none is planned.
            planned: if settings.open.is_some() {
                0
            } else {
                plan.connections.len() as u64
            },
            ..Gauges::default()
        }),
        completed: Cell::new(0),
        failures: Cell::new(0),
        issued: Cell::new(0),
        progress,
        events,
        source,
    });
    let sources = settings.sources;
    let stats_interval = settings.stats_interval;
    let open_plan = settings.open;
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async {
        let work = async {
            match open_plan {
                Some(open) => run_scheduler(ctx.clone(), open, sources).await,
                None => {
                    let tasks: Vec<_> = plan
                        .connections
                        .iter()
                        .map(|c| {
                            let source =
                                (!sources.is_empty()).then(|| sources[c.index % sources.len()]);
                            tokio::task::spawn_local(connection_loop(
                                ctx.clone(),
                                c.target,
                                source,
                                Tickets::Closed { index: c.index },
                            ))
                        })
                        .collect();
                    for task in tasks {
                        let _ = task.await;
                    }
                }
            }
        };
        let shipper = async {
            // Ship at interval boundaries, so every worker's delta i covers the
            // same span of the run and the collector can line them up.
            let mut tick =
                tokio::time::interval_at((ctx.started + stats_interval).into(), stats_interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                let at = tick.tick().await;
                ctx.ship(ctx.interval_of(at.into_std()).saturating_sub(1));
            }
        };
        let probe = async {
            // The generator's own stalls: how late a 10 ms timer fires.
            let mut tick = tokio::time::interval(STALL_PROBE);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                let due = tick.tick().await;
                let late = micros(Instant::now().saturating_duration_since(due.into_std()));
                ctx.recorder
                    .borrow_mut()
                    .loop_stall
                    .saturating_record(late.max(1));
            }
        };
        // Cancellation is watched once per worker, not per request: on Ctrl-C the
        // tasks are simply not polled again, and their in-flight requests are
        // counted as cancelled below.
        tokio::select! {
            _ = ctx.cancel.cancelled() => {}
            _ = work => {}
            _ = shipper => {}
            _ = probe => {}
        }
    });
    let now = Instant::now();
    for (slot, count) in ctx.in_flight.iter().enumerate() {
        let ticket = Ticket {
            intended: now,
            warm: slot == n_targets,
        };
        for _ in 0..count.get() {
            ctx.finish(
                slot.min(n_targets.saturating_sub(1)),
                ticket,
                Outcome::Error(ErrorKind::Cancelled),
                0,
                None,
                IoCounts::default(),
            );
        }
    }
    // Dropping the tasks closes their sockets.
    drop(local);
    ctx.ship(ctx.interval_of(Instant::now()));
    let cpu: CpuTime = thread_cpu_time().since(cpu_start);
    let _ = ctx.events.send(Event::Ended {
        source,
        end: SourceEnd::finished(cpu),
    });
}
