//! A worker thread: one current-thread tokio runtime, its connections, its recorder.
//!
//! Nothing here is shared with other workers on the hot path: tickets, counts and
//! histograms live in this thread (`Cell`/`RefCell` behind an `Rc`). The only
//! cross-thread traffic is a relaxed store of progress counters for the live view
//! and the cancellation token.

use std::cell::{Cell, RefCell};
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::connection::{connection_loop, IoCounts};
use super::plan::WorkerPlan;
use crate::metrics::{ErrorKind, Outcome, Recorder};
use crate::sys::{thread_cpu_time, CpuTime};

/// Connects in flight per worker at most.
const CONNECTS_IN_FLIGHT: usize = 256;

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

/// Settings every connection of the worker reads.
pub(crate) struct WorkerSettings {
    pub targets: Arc<[TargetWire]>,
    pub timeout: std::time::Duration,
    pub connect_timeout: std::time::Duration,
    pub keep_alive: bool,
    pub deadline: Option<Instant>,
}

/// The worker's state, shared by its connection tasks on its one thread.
pub(crate) struct WorkerCtx {
    pub targets: Arc<[TargetWire]>,
    pub timeout: std::time::Duration,
    pub connect_timeout: std::time::Duration,
    pub keep_alive: bool,
    pub connect_permits: Semaphore,
    deadline: Option<Instant>,
    cancel: CancellationToken,
    /// Tickets left per target; `None` when the run stops by time.
    budgets: Vec<Option<Cell<u64>>>,
    /// Requests handed out and not yet ended, per target.
    in_flight: Vec<Cell<u64>>,
    recorder: RefCell<Recorder>,
    completed: Cell<u64>,
    failures: Cell<u64>,
    issued: Cell<u64>,
    progress: Arc<WorkerProgress>,
}

impl WorkerCtx {
    /// Hands out the next request for `target`, or says the connection is done.
    #[inline]
    pub fn take_ticket(&self, target: usize, now: Instant) -> bool {
        if self.cancel.is_cancelled() || self.deadline.is_some_and(|d| now >= d) {
            return false;
        }
        if let Some(budget) = &self.budgets[target] {
            let left = budget.get();
            if left == 0 {
                return false;
            }
            budget.set(left - 1);
        }
        self.recorder.borrow_mut().targets[target].issue();
        self.in_flight[target].set(self.in_flight[target].get() + 1);
        self.issued.set(self.issued.get() + 1);
        self.progress
            .issued
            .store(self.issued.get(), Ordering::Relaxed);
        true
    }

    /// Records how a request ended.
    #[inline]
    pub(super) fn finish(&self, target: usize, outcome: Outcome, latency_us: u64, io: IoCounts) {
        {
            let mut rec = self.recorder.borrow_mut();
            let tally = &mut rec.targets[target];
            tally.record(outcome, latency_us);
            tally.bytes_sent += io.sent;
            tally.bytes_received += io.received;
        }
        self.in_flight[target].set(self.in_flight[target].get() - 1);
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

    pub(super) fn note_connected(&self) {
        self.recorder.borrow_mut().connections_opened += 1;
    }
}

/// What a worker hands back when it ends.
pub(crate) struct WorkerResult {
    pub recorder: Recorder,
    pub cpu: CpuTime,
}

/// The body of a worker thread.
pub(crate) fn run_worker(
    plan: WorkerPlan,
    settings: WorkerSettings,
    cancel: CancellationToken,
    progress: Arc<WorkerProgress>,
) -> io::Result<WorkerResult> {
    let cpu_start = thread_cpu_time();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let n_targets = settings.targets.len();
    let ctx = Rc::new(WorkerCtx {
        targets: settings.targets,
        timeout: settings.timeout,
        connect_timeout: settings.connect_timeout,
        keep_alive: settings.keep_alive,
        connect_permits: Semaphore::new(CONNECTS_IN_FLIGHT),
        deadline: settings.deadline,
        cancel: cancel.child_token(),
        budgets: plan.budgets.iter().map(|b| b.map(Cell::new)).collect(),
        in_flight: (0..n_targets).map(|_| Cell::new(0)).collect(),
        recorder: RefCell::new(Recorder::new(n_targets)),
        completed: Cell::new(0),
        failures: Cell::new(0),
        issued: Cell::new(0),
        progress,
    });
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async {
        let tasks: Vec<_> = plan
            .connections
            .iter()
            .map(|&target| tokio::task::spawn_local(connection_loop(ctx.clone(), target)))
            .collect();
        let all = async {
            for task in tasks {
                let _ = task.await;
            }
        };
        // Cancellation is watched once per worker, not per request: on Ctrl-C the
        // tasks are simply not polled again, and their in-flight requests are
        // counted as cancelled below.
        tokio::select! {
            _ = ctx.cancel.cancelled() => {}
            _ = all => {}
        }
    });
    for (target, count) in ctx.in_flight.iter().enumerate() {
        for _ in 0..count.get() {
            ctx.finish(
                target,
                Outcome::Error(ErrorKind::Cancelled),
                0,
                IoCounts::default(),
            );
        }
    }
    // Dropping the tasks closes their sockets.
    drop(local);
    let recorder = ctx.recorder.borrow().clone();
    Ok(WorkerResult {
        recorder,
        cpu: thread_cpu_time().since(cpu_start),
    })
}
