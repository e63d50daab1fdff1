//! The open model inside a worker: a scheduler hands each request to a
//! connection when it is due, whatever the server does.
//!
//! The scheduler walks the worker's share of the [`Schedule`] (uniform
//! arrivals phase-shifted per worker so the workers' arrivals interleave, or
//! Poisson arrivals from a seeded generator). Every request due before the
//! run's deadline is counted, even when the scheduler itself wakes late: it
//! goes to an idle connection of its target; if none is idle, a new
//! connection is opened while the worker is under its cap; otherwise, by
//! default, it waits in the target's queue for the next free connection
//! ([`WhenBusy::Queue`]; its latency still counts from when it was due, and
//! one that waits longer than the timeout ends as a timeout), or it is
//! counted as `dropped` ([`WhenBusy::Drop`]). The queue holds at most the
//! requests due within the last timeout, so its memory is bounded by rate ×
//! timeout. Each connection task has a [`Slot`]: the scheduler puts the
//! ticket in it and wakes it.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Instant;

use tokio::sync::Notify;

use super::plan::{OpenShare, WorkerPlan};
use super::tickets::{Ticket, Tickets};
use super::worker::{spawn_connection, WorkerCtx};
use crate::config::WhenBusy;
use crate::metrics::{ErrorKind, Outcome};
use crate::proto::session::IoCounts;
use crate::schedule::{Arrival, Arrivals};

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
    /// Requests due that wait for a free connection, per target, oldest first.
    waiting: Vec<RefCell<VecDeque<Ticket>>>,
    /// Connection tasks alive.
    live: Cell<usize>,
    cap: usize,
    when_busy: WhenBusy,
    /// The schedule has ended: idle connections close.
    done: Cell<bool>,
    all_ended: Notify,
    next_target: Cell<usize>,
}

impl OpenState {
    pub fn new(targets: usize, cap: usize, when_busy: WhenBusy) -> OpenState {
        OpenState {
            idle: (0..targets).map(|_| RefCell::new(Vec::new())).collect(),
            waiting: (0..targets)
                .map(|_| RefCell::new(VecDeque::new()))
                .collect(),
            live: Cell::new(0),
            cap,
            when_busy,
            done: Cell::new(false),
            all_ended: Notify::new(),
            next_target: Cell::new(0),
        }
    }
}

/// Waits for the next ticket of `slot`'s connection: one left in its slot, or
/// the oldest waiting for its target; `None` when the schedule has ended,
/// nothing waits, and the connection should close.
pub(super) async fn next_ticket(slot: &Rc<Slot>, ctx: &WorkerCtx, target: usize) -> Option<Ticket> {
    let open = ctx.open.as_ref()?;
    loop {
        if let Some(t) = slot.ticket.take() {
            return Some(t);
        }
        if let Some(t) = pop_waiting(ctx, open, target, Instant::now()) {
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

/// The oldest request waiting for a connection to `target`, if any (for a
/// connection that takes more than one request at a time).
pub(super) fn take_waiting(ctx: &WorkerCtx, target: usize) -> Option<Ticket> {
    let open = ctx.open.as_ref()?;
    pop_waiting(ctx, open, target, Instant::now())
}

/// The oldest request waiting for `target` that can still make its timeout;
/// the ones that cannot end as timeouts.
fn pop_waiting(ctx: &WorkerCtx, open: &OpenState, target: usize, now: Instant) -> Option<Ticket> {
    expire_waiting(ctx, open, target, now);
    open.waiting[target].borrow_mut().pop_front()
}

/// Ends as timeouts the requests of `target` that have waited their whole
/// timeout for a connection.
fn expire_waiting(ctx: &WorkerCtx, open: &OpenState, target: usize, now: Instant) {
    loop {
        let expired = {
            let mut waiting = open.waiting[target].borrow_mut();
            match waiting.front() {
                Some(t) if t.intended + ctx.timeout <= now => waiting.pop_front(),
                _ => None,
            }
        };
        let Some(ticket) = expired else { return };
        ctx.finish(
            ticket,
            Outcome::Error(ErrorKind::Timeout),
            0,
            None,
            IoCounts::default(),
        );
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

/// Runs the worker's schedule to its end, then lets its connections finish
/// the requests in flight and waiting.
pub(super) async fn run_scheduler(ctx: Rc<WorkerCtx>, plan: &WorkerPlan, share: OpenShare) {
    let Some(open) = ctx.open.as_ref() else {
        return;
    };
    let duration = ctx
        .deadline
        .map(|d| d.saturating_duration_since(ctx.started));
    let schedule = share.model.schedule(duration);
    let arrival = share.model.arrival;
    let mut rng = fastrand::Rng::with_seed(share.seed);
    let mut arrivals = Arrivals::new(schedule.clone(), arrival);
    let mut sent: u64 = 0;
    let mut opened: usize = 0;
    loop {
        if share.budget.is_some_and(|b| sent >= b) {
            break;
        }
        let due = match arrival {
            Arrival::Uniform => schedule.time_of(sent as f64 + share.phase),
            Arrival::Poisson => arrivals.next_due(rng.f64()),
        };
        let Some(due) = due else { break };
        let at = ctx.started + due;
        // Whether a request is due is a matter of the schedule, not of when
        // this loop happens to wake: one due before the deadline is counted
        // even if the scheduler runs late.
        if ctx.deadline.is_some_and(|d| at >= d) {
            break;
        }
        sent += 1;
        if at > Instant::now() {
            tokio::time::sleep_until(at.into()).await;
        }
        if ctx.cancelled() {
            break;
        }
        let target = open.next_target.get();
        open.next_target.set((target + 1) % open.idle.len());
        let mut ticket = Ticket {
            intended: at,
            warm: ctx.is_warm(at),
            scheduled: true,
            request: 0,
            waited: false,
        };
        let idle = open.idle[target].borrow_mut().pop();
        if let Some(slot) = idle {
            slot.parked.set(false);
            slot.give(ctx.issue(target, ticket));
        } else if open.live.get() < open.cap {
            // Sent once the connection is established: the connect is the
            // server's and the network's time, not the generator's.
            ticket.waited = true;
            let ticket = ctx.issue(target, ticket);
            open.live.set(open.live.get() + 1);
            let index = plan.first + opened * plan.stride;
            opened += 1;
            let slot = Rc::new(Slot::with(ticket));
            spawn_connection(&ctx, index, Tickets::Open { target, slot });
        } else {
            match open.when_busy {
                WhenBusy::Queue => {
                    ticket.waited = true;
                    let ticket = ctx.issue(target, ticket);
                    ctx.note_queued(ticket);
                    expire_waiting(&ctx, open, target, Instant::now());
                    open.waiting[target].borrow_mut().push_back(ticket);
                }
                WhenBusy::Drop => ctx.drop_request(target, ticket),
            }
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
