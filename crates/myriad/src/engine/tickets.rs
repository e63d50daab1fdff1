//! The ticket seam: who decides when each request is sent.
//!
//! A connection asks its [`Tickets`] for the next request and gets a
//! [`Ticket`] (when it was due, whether it is warm-up), a word to close and
//! wait ([`Next::Close`]), or the end. What differs between load models is only
//! this: the closed model takes the next request at once, a closed ramp works
//! only while the ramp's count is above the connection's index, mostly-idle
//! connections wait out their interval, and the open model's scheduler
//! (`open.rs`) hands out requests when they are due. Connect pacing, the
//! connect permits and the run's deadline are handled here, in one place: a
//! connection without a socket gets a permit with its ticket, after its
//! pacing slot (the closed model waits before taking the request, so the
//! generator's own ramp-up is not the server's latency; the open model takes
//! the due request first, so a request that waits for a connect is late).

use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::sync::SemaphorePermit;

use super::connect_pace::connect_slot;
use super::open::{next_ticket, retire, take_waiting, Slot};
use super::worker::WorkerCtx;

/// How often a connection held back by a ramp looks again.
const RAMP_CHECK: Duration = Duration::from_millis(20);

/// One request handed to a connection.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket {
    /// When it was due: latency (and the request's timeout) counts from here.
    pub intended: Instant,
    /// Whether it falls in the warm-up (kept out of the statistics).
    pub warm: bool,
    /// Whether a schedule set `intended` (the open model): the service time
    /// from the actual send is recorded beside the latency.
    pub scheduled: bool,
    /// Which of the run's requests it sends (an index into the worker's
    /// request wires), chosen when it is issued.
    pub request: u32,
    /// Open model: it could not be sent the moment it was handed out, for a
    /// reason of the server's or the network's: every allowed connection was
    /// busy (it was queued), or it went to a new connection that had to be
    /// established first. That wait stays out of the send lag, which judges
    /// the generator; its latency still counts it.
    pub waited: bool,
}

/// What a connection does next.
pub(crate) enum Next<'a> {
    /// Send this request; a permit to connect comes with it when the
    /// connection has no socket.
    Ticket(Ticket, Option<SemaphorePermit<'a>>),
    /// Close the socket and ask again (a ramp going down).
    Close,
    /// No more requests for this connection.
    End,
}

/// Where one connection's requests come from.
pub(crate) enum Tickets {
    /// Closed model: the next request at once, while the budget and the
    /// deadline allow.
    Closed { target: usize },
    /// Closed ramp: works while the ramp's count is above `index`.
    Ramp { target: usize, index: usize },
    /// Mostly idle: one request per the worker's interval, the connection
    /// held in between; `due` is when the next one is.
    Interval { target: usize, due: Option<Instant> },
    /// Open model: the worker's scheduler leaves requests in `slot` when due.
    Open { target: usize, slot: Rc<Slot> },
}

impl Tickets {
    /// The target this connection serves.
    pub fn target(&self) -> usize {
        match self {
            Tickets::Closed { target }
            | Tickets::Ramp { target, .. }
            | Tickets::Interval { target, .. }
            | Tickets::Open { target, .. } => *target,
        }
    }

    /// Waits for what the connection does next. `connected`: whether it has a
    /// socket (else a connect permit comes with the ticket).
    pub async fn next<'a>(&mut self, ctx: &'a WorkerCtx, connected: bool) -> Next<'a> {
        match self {
            Tickets::Closed { target } => closed(ctx, *target, connected).await,
            Tickets::Ramp { target, index } => {
                loop {
                    let now = Instant::now();
                    if ramp_works(ctx, *index, now) {
                        break;
                    }
                    if connected {
                        return Next::Close;
                    }
                    if ctx.stopped(now) {
                        return Next::End;
                    }
                    tokio::time::sleep(RAMP_CHECK).await;
                }
                closed(ctx, *target, connected).await
            }
            Tickets::Interval { target, due } => {
                if let Some(due) = *due {
                    // Hold the connection, idle, until the next request is due
                    // (or the run ends, which taking the ticket then says).
                    let wake = ctx.deadline.map_or(due, |d| d.min(due));
                    if wake > Instant::now() {
                        tokio::time::sleep_until(wake.into()).await;
                    }
                }
                let next = closed(ctx, *target, connected).await;
                if let (Next::Ticket(t, _), Some(every)) = (&next, ctx.interval) {
                    *due = Some(t.intended + every);
                }
                next
            }
            Tickets::Open { target, slot } => match next_ticket(slot, ctx, *target).await {
                Some(t) => {
                    let permit = if connected {
                        None
                    } else {
                        Box::pin(gate(ctx)).await
                    };
                    Next::Ticket(t, permit)
                }
                None => Next::End,
            },
        }
    }

    /// A further request to put in flight at once, without waiting, for a
    /// protocol that takes more than one per connection (pipelining, HTTP/2
    /// streams): the closed model's next (a ramp's too, while it works); in
    /// the open model, the oldest request waiting for a connection; `None`
    /// from mostly-idle connections, whose requests come when due.
    pub fn try_next(&mut self, ctx: &WorkerCtx) -> Option<Ticket> {
        match self {
            Tickets::Closed { target } => ctx.take_ticket(*target, Instant::now()),
            Tickets::Ramp { target, index } => {
                let now = Instant::now();
                ramp_works(ctx, *index, now)
                    .then(|| ctx.take_ticket(*target, now))
                    .flatten()
            }
            Tickets::Open { target, .. } => take_waiting(ctx, *target),
            Tickets::Interval { .. } => None,
        }
    }

    /// The connection has ended.
    pub fn retire(&self, ctx: &WorkerCtx) {
        if let Tickets::Open { .. } = self {
            retire(ctx);
        }
    }
}

/// Whether connection `index` of a closed ramp works at `now`: while the
/// ramp's count of connections is above its index.
fn ramp_works(ctx: &WorkerCtx, index: usize, now: Instant) -> bool {
    ctx.ramp
        .as_ref()
        .is_none_or(|r| (index as f64) < r.rate_at(now - ctx.started))
}

/// The closed model's next ticket: pacing and a permit first if a connect is
/// needed, then the request, at once.
async fn closed(ctx: &WorkerCtx, target: usize, connected: bool) -> Next<'_> {
    // Boxed: a connect is rare, and inline its pacing timer would make every
    // idle connection's state larger.
    let permit = if connected {
        None
    } else {
        Box::pin(gate(ctx)).await
    };
    match ctx.take_ticket(target, Instant::now()) {
        Some(t) => Next::Ticket(t, permit),
        None => Next::End,
    }
}

/// Waits for this connect's pacing slot and a connect permit. Bounding
/// connects in flight keeps a burst of thousands from overflowing the server's
/// listen backlog (which turns into SYN retries of a second or more).
async fn gate(ctx: &WorkerCtx) -> Option<SemaphorePermit<'_>> {
    if let Some(rate) = ctx.connect_rate {
        let k = ctx.connects_paced.get();
        ctx.connects_paced.set(k + 1);
        tokio::time::sleep_until((ctx.started + connect_slot(k, rate)).into()).await;
    }
    ctx.connect_permits.acquire().await.ok()
}

impl WorkerCtx {
    /// Closed model: hands out the next request for `target` at `now`, or says
    /// the connection is done (the deadline passed, the budget is spent, or
    /// the run was cancelled).
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
            scheduled: false,
            request: 0,
            waited: false,
        };
        Some(self.issue(target, ticket))
    }
}
