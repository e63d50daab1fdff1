//! The open model inside a worker: a scheduler hands each request to a
//! connection when it is due, whatever the server does.
//!
//! The scheduler walks the worker's share of the [`Schedule`] (uniform
//! arrivals phase-shifted per worker so the workers' arrivals interleave, or
//! Poisson arrivals from a seeded generator). When a request is due it goes to
//! an idle connection of its target; if none is idle, a new connection is
//! opened while the worker is under its cap; otherwise the request is counted
//! as `dropped`, never silently delayed. Each connection task has a [`Slot`]:
//! the scheduler puts the ticket in it and wakes it.

use std::cell::{Cell, RefCell};
use std::net::IpAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::Notify;

use super::connection::{connection_loop, Tickets};
use super::worker::{Ticket, WorkerCtx};
use crate::schedule::{Arrival, Arrivals, Schedule};

/// One worker's share of an open-model run.
#[derive(Debug, Clone)]
pub(crate) struct OpenPlan {
    /// The worker's share of the schedule (rates divided among workers).
    pub schedule: Schedule,
    pub arrival: Arrival,
    /// Uniform arrivals: this worker's arrivals are at cumulative counts
    /// `k + phase`, so the workers' arrivals interleave evenly.
    pub phase: f64,
    /// Requests this worker may send at most (runs bounded by count).
    pub budget: Option<u64>,
    /// Connections this worker may open at most.
    pub cap: usize,
    /// Seed of the Poisson generator.
    pub seed: u64,
    /// This worker's index and the number of workers: connection `k` of this
    /// worker has run-wide index `first + k * stride` (its source address).
    pub first: usize,
    pub stride: usize,
}

/// A connection's mailbox: the scheduler leaves a ticket and wakes it.
pub(crate) struct Slot {
    ticket: Cell<Option<Ticket>>,
    parked: Cell<bool>,
    wake: Notify,
}

impl Slot {
    fn with(ticket: Ticket) -> Slot {
        Slot {
            ticket: Cell::new(Some(ticket)),
            parked: Cell::new(false),
            wake: Notify::new(),
        }
    }

    fn give(&self, ticket: Ticket) {
        self.ticket.set(Some(ticket));
        self.wake.notify_one();
    }
}

/// The open model's state in a worker.
pub(crate) struct OpenState {
    /// Idle connections per target.
    idle: Vec<RefCell<Vec<Rc<Slot>>>>,
    /// Connection tasks alive.
    live: Cell<usize>,
    cap: usize,
    /// The schedule has ended: idle connections close.
    done: Cell<bool>,
    all_ended: Notify,
    next_target: Cell<usize>,
}

impl OpenState {
    pub fn new(targets: usize, cap: usize) -> OpenState {
        OpenState {
            idle: (0..targets).map(|_| RefCell::new(Vec::new())).collect(),
            live: Cell::new(0),
            cap,
            done: Cell::new(false),
            all_ended: Notify::new(),
            next_target: Cell::new(0),
        }
    }
}

/// Waits for the next ticket of `slot`'s connection; `None` when the schedule
/// has ended and the connection should close.
pub(super) async fn next_ticket(slot: &Rc<Slot>, ctx: &WorkerCtx, target: usize) -> Option<Ticket> {
    let open = ctx.open.as_ref()?;
    loop {
        if let Some(t) = slot.ticket.take() {
            return Some(t);
        }
        if open.done.get() {
            return None;
        }
        if !slot.parked.replace(true) {
            open.idle[target].borrow_mut().push(slot.clone());
        }
        slot.wake.notified().await;
    }
}

/// Notes that a connection task ended.
pub(super) fn retire(ctx: &WorkerCtx) {
    if let Some(open) = &ctx.open {
        open.live.set(open.live.get().saturating_sub(1));
        if open.done.get() && open.live.get() == 0 {
            open.all_ended.notify_one();
        }
    }
}

/// Runs the worker's schedule to its end, then lets its connections finish.
pub(super) async fn run_scheduler(ctx: Rc<WorkerCtx>, plan: OpenPlan, sources: Arc<[IpAddr]>) {
    let Some(open) = ctx.open.as_ref() else {
        return;
    };
    let mut rng = fastrand::Rng::with_seed(plan.seed);
    let mut arrivals = Arrivals::new(plan.schedule.clone(), plan.arrival);
    let mut sent: u64 = 0;
    let mut opened: usize = 0;
    loop {
        if plan.budget.is_some_and(|b| sent >= b) {
            break;
        }
        let due = match plan.arrival {
            Arrival::Uniform => plan.schedule.time_of(sent as f64 + plan.phase),
            Arrival::Poisson => arrivals.next_due(rng.f64()),
        };
        let Some(due) = due else { break };
        sent += 1;
        let at = ctx.started + due;
        if ctx.deadline.is_some_and(|d| at >= d) {
            break;
        }
        if at > Instant::now() {
            tokio::time::sleep_until(at.into()).await;
        }
        if ctx.stopped(Instant::now()) {
            break;
        }
        let target = open.next_target.get();
        open.next_target.set((target + 1) % open.idle.len());
        let ticket = Ticket {
            intended: at,
            warm: ctx.is_warm(at),
        };
        let idle = open.idle[target].borrow_mut().pop();
        if let Some(slot) = idle {
            slot.parked.set(false);
            ctx.issue(target, ticket);
            slot.give(ticket);
        } else if open.live.get() < open.cap {
            ctx.issue(target, ticket);
            open.live.set(open.live.get() + 1);
            let index = plan.first + opened * plan.stride;
            opened += 1;
            let source = (!sources.is_empty()).then(|| sources[index % sources.len()]);
            let slot = Rc::new(Slot::with(ticket));
            tokio::task::spawn_local(connection_loop(
                ctx.clone(),
                target,
                source,
                Tickets::Open(slot),
            ));
        } else {
            ctx.drop_request(target, ticket.warm);
        }
    }
    open.done.set(true);
    for idle in &open.idle {
        for slot in idle.borrow_mut().drain(..) {
            slot.wake.notify_one();
        }
    }
    while open.live.get() > 0 {
        open.all_ended.notified().await;
    }
}
