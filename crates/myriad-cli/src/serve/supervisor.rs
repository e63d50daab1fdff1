//! The supervisor of a multi-process `myriad serve --workers N`.
//!
//! One process may hold about 20,000 sockets here, so a server for a million
//! connections is many processes on the same ports. The supervisor:
//!
//! 1. holds each listening address with a [`PortReservation`] (bound with
//!    `SO_REUSEPORT`, not listening), which turns port 0 into a concrete port;
//! 2. starts N workers under a [`myriad::supervise::Supervisor`]: this binary
//!    again, with the same arguments plus the hidden `--child ADDR` (so they
//!    parse the very same config);
//! 3. once every worker said `ready`, drops its reservations and prints the
//!    listening line;
//! 4. adds up the workers' [`WorkerLine`]s in a [`Tally`], reports a worker
//!    that dies once on stderr, keeps its last counts and serves on with the
//!    others;
//! 5. on Ctrl-C closes the workers' stdin, collects their final lines (at
//!    most [`STOP_TIMEOUT`], then SIGKILL) and prints the final counters.
//!
//! Workers die with the supervisor however it ends: the write end of their
//! stdin is its, and a worker stops when its stdin ends.

use std::ffi::OsString;
use std::process::Command;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use myriad::supervise::{self, Event, Exit, SuperviseError};
use myriad_server::{ListenSpec, PortReservation, Tally, WorkerEnd, WorkerLine};

use super::{announce, cannot_listen, describe, tls, Died, Outcome, Place, ServeArgs};
use crate::args::{EXIT_FAILURE, EXIT_OK};

/// How long the workers may take to listen.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long stopping workers may take to report and exit before SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// Ctrl-C in a terminal signals the workers and the supervisor together, and a
/// worker may finish stopping before the supervisor has noticed: a worker that
/// stopped is only called a lone stop if the supervisor is not stopping within
/// this time.
const GROUP_SIGNAL_GRACE: Duration = Duration::from_millis(500);

/// Runs the supervisor of `workers` worker processes; returns the exit code.
pub fn run(args: &ServeArgs, listen: ListenSpec, workers: usize) -> i32 {
    let mut reservations = Vec::with_capacity(listen.len());
    for addr in listen.addrs() {
        match PortReservation::bind(addr) {
            Ok(r) => reservations.push(r),
            Err(e) => return cannot_listen(addr, &e),
        }
    }
    let spec = match reservations.first().map(PortReservation::local_addr) {
        Some(Ok(addr)) => listen.resolved(addr.port()),
        Some(Err(e)) => {
            eprintln!("error: cannot read the bound address: {e}");
            return EXIT_FAILURE;
        }
        // A ListenSpec always names an address; this is only for completeness.
        None => {
            eprintln!("error: no address to listen on (--listen)");
            return crate::args::EXIT_USAGE;
        }
    };
    // One certificate for every worker: generated (or checked) here, handed
    // to the workers as files; the key's copy is removed once they loaded it.
    let port = spec.addrs().next().map_or(0, |a| a.port()).to_string();
    let tls = match tls::setup(args, &port) {
        Ok(tls) => tls,
        Err(code) => return code,
    };
    let child_tls = match &tls {
        // The user's own files: the workers read --tls-cert/--tls-key themselves.
        Some(_) if args.tls_cert.is_some() => None,
        Some(setup) => match tls::write_private_key(&setup.identity, &port) {
            Ok(key) => Some((setup.cert_path.clone(), key)),
            Err(e) => {
                eprintln!("error: cannot write the workers' copy of the TLS key: {e}");
                return EXIT_FAILURE;
            }
        },
        None => None,
    };
    myriad::sys::raise_open_files_limit();
    let stop = super::interrupt_token();

    let started = Supervisor::start(spec, workers, stop, child_tls.as_ref());
    let ready = started.map(|mut sup| {
        let ready = sup.wait_ready();
        (sup, ready)
    });
    if let Some((_, key)) = &child_tls {
        tls::remove_quietly(key);
    }
    let (mut sup, ready) = match ready {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot start the worker processes: {e}");
            return EXIT_FAILURE;
        }
    };
    match ready {
        Ok(true) => {}
        // Ctrl-C while starting: stop as usual, with whatever was counted.
        Ok(false) => {
            sup.stop_all();
            sup.outcome(tls.is_some()).print(args.json);
            return EXIT_OK;
        }
        Err(e) => {
            eprintln!("error: {e}");
            sup.stop_all();
            return EXIT_FAILURE;
        }
    }
    // Every worker listens: the reservations can go without losing a
    // connection (they never listened, so none was queued on them).
    drop(reservations);
    let threads = args.threads.unwrap_or(1);
    let processes = format!(
        "{workers} workers of {threads} thread{} each",
        if threads == 1 { "" } else { "s" }
    );
    let cert = tls.as_ref().map(|t| t.cert_path.as_path());
    announce(
        &Place::Tcp(spec),
        cert,
        &describe(&args.config(), processes),
    );

    let stopped_on_request = sup.serve();
    sup.stop_all();
    sup.outcome(tls.is_some()).print(args.json);
    if stopped_on_request {
        EXIT_OK
    } else {
        EXIT_FAILURE
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Worker {
    ready: bool,
    said_final: bool,
    ended: bool,
}

struct Supervisor {
    children: supervise::Supervisor<WorkerLine>,
    state: State,
}

/// What the supervisor knows of its workers.
struct State {
    workers: Vec<Worker>,
    pids: Vec<u32>,
    tally: Tally,
    stop: CancellationToken,
    died: Vec<Died>,
}

impl Supervisor {
    /// Starts `n` workers on `spec`. On an error the ones already started are
    /// killed (by dropping the supervisor).
    /// With `tls`, the workers load that certificate and key file.
    fn start(
        spec: ListenSpec,
        n: usize,
        stop: CancellationToken,
        tls: Option<&(std::path::PathBuf, std::path::PathBuf)>,
    ) -> Result<Self, SuperviseError> {
        let exe = std::env::current_exe()?;
        // The same arguments (`serve` and its flags), so each worker builds the
        // very same config; `--child` makes it a worker on the resolved ports.
        let args: Vec<OsString> = std::env::args_os().skip(1).collect();
        let mut children = supervise::Supervisor::new();
        for _ in 0..n {
            let mut command = Command::new(&exe);
            command.args(&args).arg("--child").arg(spec.to_string());
            if let Some((cert, key)) = tls {
                command
                    .arg("--child-cert")
                    .arg(cert)
                    .arg("--child-key")
                    .arg(key);
            }
            children.spawn(&mut command)?;
        }
        // Ctrl-C wakes the waits below (and tells the workers at once).
        children.cancel_on(&stop)?;
        let state = State {
            workers: vec![Worker::default(); n],
            pids: children.pids(),
            tally: Tally::new(n),
            stop,
            died: Vec::new(),
        };
        Ok(Supervisor { children, state })
    }

    /// Waits until every worker listens: true, or false on Ctrl-C.
    fn wait_ready(&mut self) -> Result<bool, String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        while !self.state.workers.iter().all(|w| w.ready) {
            if self.state.stop.is_cancelled() {
                return Ok(false);
            }
            let state = &self.state;
            if let Some(i) = (0..state.workers.len()).find(|&i| {
                let w = state.workers[i];
                w.ended && !w.ready
            }) {
                let how = state
                    .died
                    .iter()
                    .find(|d| d.worker == i)
                    .map(|d| d.how.clone());
                return Err(format!(
                    "worker {i} (pid {}) exited before it listened ({})",
                    state.pids[i],
                    how.unwrap_or_else(|| "stopped".into())
                ));
            }
            match self.children.recv_until(deadline) {
                Some(event) => self.state.handle(event, true),
                None if self.children.running() == 0 => {
                    return Err("every worker exited before it listened".into())
                }
                None => {
                    return Err(format!(
                        "the workers did not all listen within {}s",
                        READY_TIMEOUT.as_secs()
                    ))
                }
            }
        }
        Ok(true)
    }

    /// Serves until Ctrl-C (true) or until no worker is left (false).
    fn serve(&mut self) -> bool {
        loop {
            if self.state.stop.is_cancelled() {
                return true;
            }
            if self.state.tally.running() == 0 {
                eprintln!("error: every worker process has ended; the server stops");
                return false;
            }
            match self.children.recv() {
                Some(event) => self.state.handle(event, false),
                None => {
                    eprintln!("error: lost every worker's output; the server stops");
                    return false;
                }
            }
        }
    }

    /// Closes every worker's stdin, collects their last lines for at most
    /// [`STOP_TIMEOUT`], kills the ones still running, and reaps them all.
    fn stop_all(&mut self) {
        let state = &mut self.state;
        self.children
            .stop(STOP_TIMEOUT, |event| state.handle(event, true));
    }

    fn outcome(&self, tls: bool) -> Outcome {
        let state = &self.state;
        Outcome {
            total: state.tally.total(),
            per_worker: state.tally.per_worker().collect(),
            pids: state.pids.clone(),
            died: state.died.clone(),
            tls,
        }
    }
}

impl State {
    fn handle(&mut self, event: Event<WorkerLine>, stopping: bool) {
        match event {
            Event::Line(i, line) => {
                if let Some(w) = self.workers.get_mut(i) {
                    match line {
                        WorkerLine::Ready => w.ready = true,
                        WorkerLine::Final(_) => w.said_final = true,
                        WorkerLine::Stats(_) => {}
                    }
                }
                self.tally.record(i, line);
            }
            // Not for the supervisor: pass it on for a person to read.
            Event::Garbled { child, line, .. } => eprintln!("myriad serve: worker {child}: {line}"),
            Event::Ended(i, exit) => self.ended(i, exit, stopping),
            Event::Killed(i) => self.killed(i),
            Event::Cancelled => {}
        }
    }

    /// A worker ended. With a final line it stopped as asked (by the
    /// supervisor, or by a signal); without one it died.
    fn ended(&mut self, i: usize, exit: Exit, stopping: bool) {
        let (Some(w), Some(&pid)) = (self.workers.get_mut(i), self.pids.get(i)) else {
            return;
        };
        w.ended = true;
        if w.said_final {
            self.tally.end(i, WorkerEnd::Stopped);
            if !stopping && !self.group_stop() {
                self.tally.closed_all(i);
                eprintln!(
                    "myriad serve: worker {i} (pid {pid}) stopped on a signal; {} workers serve on",
                    self.tally.running()
                );
            }
        } else if self.tally.end(i, WorkerEnd::Died) {
            let how = exit.to_string();
            if !stopping {
                eprintln!(
                    "myriad serve: worker {i} (pid {pid}) died ({how}); {} workers serve on, its last counts kept",
                    self.tally.running()
                );
            }
            self.died.push(Died {
                worker: i,
                pid,
                how,
            });
        }
    }

    /// A worker did not stop within [`STOP_TIMEOUT`] and was killed.
    fn killed(&mut self, i: usize) {
        let Some(&pid) = self.pids.get(i) else {
            return;
        };
        let how = format!("did not stop within {}s, killed", STOP_TIMEOUT.as_secs());
        eprintln!("myriad serve: worker {i} (pid {pid}) {how}");
        if self.tally.end(i, WorkerEnd::Died) {
            self.died.push(Died {
                worker: i,
                pid,
                how,
            });
        }
    }

    /// Whether the supervisor is told to stop within [`GROUP_SIGNAL_GRACE`].
    fn group_stop(&self) -> bool {
        supervise::wait_cancelled(&self.stop, Some(GROUP_SIGNAL_GRACE))
    }
}
