//! A worker thread: one current-thread tokio runtime, its connections, its recorder.
//!
//! Nothing here is shared with other workers on the hot path: tickets, counts and
//! histograms live in this thread (`Cell`/`RefCell` behind an `Rc`). Cross-thread
//! traffic is a relaxed store of progress counters for the live view, a delta
//! of the recorder shipped once per interval over a channel, and the
//! cancellation token.

use std::cell::{Cell, RefCell};
use std::io;
use std::net::IpAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::connection::connection_loop;
use super::open::{run_scheduler, OpenState};
use super::plan::WorkerPlan;
use super::tickets::{Ticket, Tickets};
use super::transport::{Dialer, TcpDialer, TlsDialer, UnixDialer};
use super::{Event, SourceEnd};
use crate::config::WhenBusy;
use crate::metrics::{ErrorKind, Gauges, Outcome, Recorder, Tally};
use crate::proto::h2::{H2Dialer, Http2};
use crate::proto::http1::{Http1, Http1Pipeline};
use crate::proto::session::{BufPool, IoCounts, Renderer, RequestWire, TargetWire};
use crate::schedule::Schedule;
use crate::sys::{thread_cpu_time, CpuTime};

/// Connects in flight per worker at most: bounds the burst a server's listen
/// backlog must absorb (an overflow costs the client a SYN retry of a second).
const CONNECTS_IN_FLIGHT: usize = 256;
/// Period of the probe timer that measures the worker's event-loop stalls.
const STALL_PROBE: Duration = Duration::from_millis(10);

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

/// Settings every worker of a process shares.
#[derive(Clone)]
pub(crate) struct WorkerSettings {
    pub targets: Arc<[TargetWire]>,
    /// Every request of the run; each target's are a list of indices here.
    pub requests: Arc<[RequestWire]>,
    /// Report rows (tallies); a request's `row` is one of them.
    pub rows: usize,
    /// Take each target's requests in a random order (else in turn).
    pub random_order: bool,
    /// The `--data` rows templates read.
    pub data: Option<Arc<crate::template::DataSet>>,
    /// Take `--data` rows at random (else in order).
    pub data_random: bool,
    /// Whether any request is a template (a worker then has a renderer).
    pub templates: bool,
    pub sources: Arc<[IpAddr]>,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub keep_alive: bool,
    /// HTTP/1.1 requests in flight per connection.
    pub pipeline: usize,
    /// HTTP/2 streams per connection (`--streams`); 0: HTTP/1.1.
    pub streams: usize,
    /// Connect to this Unix socket instead of the targets' addresses.
    pub unix_socket: Option<std::path::PathBuf>,
    /// The TLS client configuration, if a target is `https://`.
    pub tls: Option<Arc<tokio_rustls::rustls::ClientConfig>>,
    pub started: Instant,
    pub deadline: Option<Instant>,
    /// Length of a statistics interval; deltas are shipped at its boundaries.
    pub stats_interval: Duration,
    /// End of the warm-up, if any.
    pub warmup_end: Option<Instant>,
    /// Closed ramp: connections allowed to work over time.
    pub ramp: Option<Schedule>,
    /// Mostly-idle connections: one request per this, each.
    pub interval: Option<Duration>,
    /// The open model: what a request does when every connection is busy.
    pub when_busy: WhenBusy,
}

/// The worker's state, shared by its connection tasks on its one thread.
pub(crate) struct WorkerCtx {
    pub targets: Arc<[TargetWire]>,
    /// Every request of the run (see [`WorkerSettings::requests`]).
    pub requests: Arc<[RequestWire]>,
    /// Report rows: tallies `0..rows`, then the warm-up's.
    rows: usize,
    /// Per target: the position of its next request, when taken in turn.
    cursors: Vec<Cell<usize>>,
    /// Random request order: its numbers (seeded by the plan).
    order_rng: Option<RefCell<fastrand::Rng>>,
    /// One dialer per target and source address (see [`WorkerCtx::dialer`]).
    dialers: Vec<Rc<TcpDialer>>,
    /// The same over TLS, for `https://` targets (`None` for the others).
    tls_dialers: Vec<Option<Rc<TlsDialer>>>,
    pub sources: Arc<[IpAddr]>,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub keep_alive: bool,
    /// Mostly-idle connections: one request per this, each.
    pub interval: Option<Duration>,
    /// HTTP/1.1 requests in flight per connection.
    pub pipeline: usize,
    /// HTTP/2 streams per connection (`--streams`); 0: HTTP/1.1.
    pub streams: usize,
    /// Connect to this Unix socket instead of the targets' addresses.
    pub unix: Option<Rc<UnixDialer>>,
    pub deadline: Option<Instant>,
    pub connect_permits: Semaphore,
    pub pool: BufPool,
    pub open: Option<OpenState>,
    pub ramp: Option<Schedule>,
    pub started: Instant,
    /// Connects per second for this worker, if paced.
    pub connect_rate: Option<f64>,
    /// Connects that have taken a pacing slot so far.
    pub connects_paced: Cell<u64>,
    warmup_end: Option<Instant>,
    stats_interval: Duration,
    cancel: CancellationToken,
    /// Tickets left per target; `None` when the run stops by time.
    pub budgets: Vec<Option<Cell<u64>>>,
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

    /// Whether the run was cancelled (Ctrl-C).
    #[inline]
    pub fn cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Whether a request due at `at` belongs to the warm-up.
    #[inline]
    pub fn is_warm(&self, at: Instant) -> bool {
        self.warmup_end.is_some_and(|w| at < w)
    }

    /// The tally a request is counted in: its row's, or the warm-up's.
    #[inline]
    fn slot(&self, ticket: &Ticket) -> usize {
        if ticket.warm {
            self.rows
        } else {
            self.requests
                .get(ticket.request as usize)
                .map_or(0, |r| r.row)
        }
    }

    /// Which of `target`'s requests goes next: the only one, the next in
    /// turn, or one at random.
    #[inline]
    fn pick(&self, target: usize) -> u32 {
        let Some(t) = self.targets.get(target) else {
            return 0;
        };
        match t.requests.len() {
            0 => 0,
            1 => t.requests[0],
            n => {
                let i = match &self.order_rng {
                    Some(rng) => rng.borrow_mut().usize(..n),
                    None => {
                        let c = &self.cursors[target];
                        let i = c.get();
                        c.set(if i + 1 == n { 0 } else { i + 1 });
                        i
                    }
                };
                t.requests[i]
            }
        }
    }

    /// Counts a request handed to a connection of `target`, and picks which
    /// of its requests it sends.
    #[inline]
    pub(super) fn issue(&self, target: usize, mut ticket: Ticket) -> Ticket {
        ticket.request = self.pick(target);
        let slot = self.slot(&ticket);
        tally_mut(&mut self.recorder.borrow_mut(), slot).issue();
        self.in_flight[slot].set(self.in_flight[slot].get() + 1);
        self.issued.set(self.issued.get() + 1);
        self.progress
            .issued
            .store(self.issued.get(), Ordering::Relaxed);
        ticket
    }

    /// Counts a request for `target` that was due but found every allowed
    /// connection busy and was not sent ([`WhenBusy::Drop`]).
    pub(super) fn drop_request(&self, target: usize, mut ticket: Ticket) {
        ticket.request = self.pick(target);
        tally_mut(&mut self.recorder.borrow_mut(), self.slot(&ticket)).drop_request();
    }

    /// Counts a request that was due but found every allowed connection busy
    /// and waits for one ([`WhenBusy::Queue`]); it was issued already.
    pub(super) fn note_queued(&self, ticket: Ticket) {
        tally_mut(&mut self.recorder.borrow_mut(), self.slot(&ticket)).note_queued();
    }

    /// Records how a request ended: latency from when it was due, and (open
    /// model) service time from when it was sent.
    #[inline]
    pub(super) fn finish(
        &self,
        ticket: Ticket,
        outcome: Outcome,
        latency_us: u64,
        service_us: Option<u64>,
        io: IoCounts,
    ) {
        let lag = !ticket.waited;
        self.finish_slot(self.slot(&ticket), outcome, latency_us, service_us, lag, io);
    }

    /// [`finish`](Self::finish), for a request counted in tally `slot`;
    /// `lag`: whether its wait before the send was the generator's (it was
    /// not queued for a busy connection nor waited for a connect).
    fn finish_slot(
        &self,
        slot: usize,
        outcome: Outcome,
        latency_us: u64,
        service_us: Option<u64>,
        lag: bool,
        io: IoCounts,
    ) {
        {
            let mut rec = self.recorder.borrow_mut();
            if let (Some(us), true) = (service_us, lag) {
                // Open model: the part of the latency before the send, for
                // requests handed to an idle connection (a wait for a busy
                // connection or for a connect is not the generator's lag).
                crate::metrics::record_us(&mut rec.send_lag, latency_us.saturating_sub(us));
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

    /// The dialer of connection `index` (a process-wide index) to `target`:
    /// its source address is dealt round-robin by index. Connections of the
    /// same target and source share one.
    pub(super) fn dialer(&self, target: usize, index: usize) -> Rc<TcpDialer> {
        self.dialers[self.dialer_index(target, index)].clone()
    }

    /// The TLS dialer of connection `index` to `target`, if it is `https://`.
    pub(super) fn tls_dialer(&self, target: usize, index: usize) -> Option<Rc<TlsDialer>> {
        self.tls_dialers
            .get(self.dialer_index(target, index))
            .cloned()
            .flatten()
    }

    fn dialer_index(&self, target: usize, index: usize) -> usize {
        let per_target = self.sources.len().max(1);
        target * per_target + index % per_target
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

    /// Notes a TLS handshake: its time, and whether it resumed a session.
    pub(super) fn note_handshake(&self, micros: u64, resumed: bool) {
        self.recorder.borrow_mut().handshake(micros, resumed);
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
        let recorder = Box::new(self.recorder.replace(Recorder::new(self.rows)));
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

/// Spawns connection `index` (process-wide) of `ctx`'s worker with its tickets:
/// the one place that picks the transport and the protocol of a connection.
pub(super) fn spawn_connection(
    ctx: &Rc<WorkerCtx>,
    index: usize,
    tickets: Tickets,
) -> JoinHandle<()> {
    let target = tickets.target();
    if let Some(unix) = &ctx.unix {
        return spawn_with(ctx, unix.clone(), tickets);
    }
    match ctx.tls_dialer(target, index) {
        Some(tls) => spawn_with(ctx, tls, tickets),
        None => spawn_with(ctx, ctx.dialer(target, index), tickets),
    }
}

/// Spawns a connection through `dialer` with the run's protocol.
fn spawn_with<D: Dialer + 'static>(
    ctx: &Rc<WorkerCtx>,
    dialer: Rc<D>,
    tickets: Tickets,
) -> JoinHandle<()> {
    if ctx.streams > 0 {
        let protocol = Http2 {
            streams: ctx.streams,
        };
        let dialer = Rc::new(H2Dialer { inner: dialer });
        return tokio::task::spawn_local(connection_loop(ctx.clone(), dialer, protocol, tickets));
    }
    match ctx.pipeline {
        1 => tokio::task::spawn_local(connection_loop(ctx.clone(), dialer, Http1, tickets)),
        depth => {
            let protocol = Http1Pipeline { depth };
            tokio::task::spawn_local(connection_loop(ctx.clone(), dialer, protocol, tickets))
        }
    }
}

/// One TCP dialer per target and source address, target-major.
fn dialers(targets: &[TargetWire], sources: &[IpAddr]) -> Vec<Rc<TcpDialer>> {
    let sources: Vec<Option<IpAddr>> = if sources.is_empty() {
        vec![None]
    } else {
        sources.iter().copied().map(Some).collect()
    };
    targets
        .iter()
        .flat_map(|t| {
            sources.iter().map(|&source| {
                Rc::new(TcpDialer {
                    addr: t.addr,
                    source,
                })
            })
        })
        .collect()
}

/// A TLS dialer over each TCP dialer of an `https://` target (`None` for
/// the others), sharing the process's client configuration.
fn tls_dialers(settings: &WorkerSettings, tcp: &[Rc<TcpDialer>]) -> Vec<Option<Rc<TlsDialer>>> {
    let per_target = settings.sources.len().max(1);
    tcp.iter()
        .enumerate()
        .map(|(i, dialer)| {
            let config = settings.tls.as_ref()?;
            let name = settings.targets.get(i / per_target)?.tls_name.clone()?;
            Some(Rc::new(TlsDialer {
                tcp: **dialer,
                connector: tokio_rustls::TlsConnector::from(config.clone()),
                name,
            }))
        })
        .collect()
}

/// The tickets of connection `index` of the closed model (plain, ramped or
/// mostly idle) to `target`.
fn closed_tickets(settings: &WorkerSettings, target: usize, index: usize) -> Tickets {
    match (settings.interval, &settings.ramp) {
        (Some(_), _) => Tickets::Interval { target, due: None },
        (None, Some(_)) => Tickets::Ramp { target, index },
        (None, None) => Tickets::Closed { target },
    }
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
    let n_rows = settings.rows;
    let dialers = dialers(&settings.targets, &settings.sources);
    let tls_dialers = tls_dialers(&settings, &dialers);
    let ctx = Rc::new(WorkerCtx {
        tls_dialers,
        dialers,
        targets: settings.targets.clone(),
        requests: settings.requests.clone(),
        rows: n_rows,
        cursors: (0..n_targets).map(|_| Cell::new(0)).collect(),
        order_rng: settings
            .random_order
            .then(|| RefCell::new(fastrand::Rng::with_seed(plan.seed))),
        sources: settings.sources.clone(),
        timeout: settings.timeout,
        connect_timeout: settings.connect_timeout,
        keep_alive: settings.keep_alive,
        interval: settings.interval,
        pipeline: settings.pipeline,
        streams: settings.streams,
        unix: settings
            .unix_socket
            .clone()
            .map(|path| Rc::new(UnixDialer { path })),
        deadline: settings.deadline,
        connect_permits: Semaphore::new(CONNECTS_IN_FLIGHT),
        pool: BufPool::with_renderer(settings.templates.then(|| Renderer {
            next: Cell::new(0),
            offset: plan.sequence_offset as u64,
            stride: plan.sequence_stride.max(1) as u64,
            rng: RefCell::new(fastrand::Rng::with_seed(plan.seed ^ 0x5eed_7e3b_1a7e)),
            data: settings.data.clone(),
            data_random: settings.data_random,
        })),
        open: plan
            .open
            .as_ref()
            .map(|_| OpenState::new(n_targets, plan.count, settings.when_busy)),
        ramp: settings.ramp.clone(),
        started: settings.started,
        connect_rate: plan.connect_rate,
        connects_paced: Cell::new(0),
        warmup_end: settings.warmup_end,
        stats_interval: settings.stats_interval,
        cancel: cancel.child_token(),
        budgets: plan.budgets.iter().map(|b| b.map(Cell::new)).collect(),
        in_flight: (0..=n_rows).map(|_| Cell::new(0)).collect(),
        recorder: RefCell::new(Recorder::new(n_rows)),
        gauges: Cell::new(Gauges {
            // The open model opens connections as needed: none is planned.
            planned: if plan.open.is_some() {
                0
            } else {
                plan.count as u64
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
    let stats_interval = settings.stats_interval;
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async {
        let work = async {
            match plan.open.clone() {
                Some(share) => run_scheduler(ctx.clone(), &plan, share).await,
                None => {
                    let tasks: Vec<_> = plan
                        .indices()
                        .map(|index| {
                            let tickets = closed_tickets(&settings, index % n_targets, index);
                            spawn_connection(&ctx, index, tickets)
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
                crate::metrics::record_us(&mut ctx.recorder.borrow_mut().loop_stall, late);
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
    for (slot, count) in ctx.in_flight.iter().enumerate() {
        for _ in 0..count.get() {
            ctx.finish_slot(
                slot,
                Outcome::Error(ErrorKind::Cancelled),
                0,
                None,
                false,
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

#[cfg(test)]
impl WorkerCtx {
    /// A worker's state with one target and no load, for tests of its parts.
    pub(super) fn for_test(addr: std::net::SocketAddr) -> Rc<WorkerCtx> {
        let (events, _) = std::sync::mpsc::channel();
        Rc::new(WorkerCtx {
            dialers: Vec::new(),
            tls_dialers: Vec::new(),
            targets: vec![TargetWire {
                addr,
                tls_name: None,
                requests: Box::new([0]),
            }]
            .into(),
            requests: vec![RequestWire {
                request: Box::new(*b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"),
                pipelined: Box::new([]),
                is_head: false,
                h2: None,
                template: None,
                row: 0,
            }]
            .into(),
            rows: 1,
            cursors: vec![Cell::new(0)],
            order_rng: None,
            sources: Vec::new().into(),
            timeout: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(1),
            keep_alive: true,
            interval: None,
            pipeline: 1,
            streams: 0,
            unix: None,
            deadline: None,
            connect_permits: Semaphore::new(CONNECTS_IN_FLIGHT),
            pool: BufPool::with_renderer(None),
            open: None,
            ramp: None,
            started: Instant::now(),
            connect_rate: None,
            connects_paced: Cell::new(0),
            warmup_end: None,
            stats_interval: Duration::from_secs(1),
            cancel: CancellationToken::new(),
            budgets: vec![None],
            in_flight: vec![Cell::new(0), Cell::new(0)],
            recorder: RefCell::new(Recorder::new(1)),
            gauges: Cell::new(Gauges::default()),
            completed: Cell::new(0),
            failures: Cell::new(0),
            issued: Cell::new(0),
            progress: Arc::default(),
            events,
            source: 0,
        })
    }
}
