//! The supervisor of a multi-process `myriad serve --workers N`.
//!
//! One process may hold about 20,000 sockets here, so a server for a million
//! connections is many processes on the same ports. The supervisor:
//!
//! 1. holds each listening address with a [`PortReservation`] (bound with
//!    `SO_REUSEPORT`, not listening), which turns port 0 into a concrete port;
//! 2. starts N workers: this binary again, with the same arguments plus the
//!    hidden `--child ADDR` (so they parse the very same config), stdin and
//!    stdout piped;
//! 3. once every worker said `ready`, drops its reservations and prints the
//!    listening line;
//! 4. adds up the workers' [`WorkerLine`]s in a [`Tally`] (one thread per
//!    worker reads its stdout into a channel), reports a worker that dies
//!    once on stderr, keeps its last counts and serves on with the others;
//! 5. on Ctrl-C closes the workers' stdin, collects their final lines (at
//!    most [`STOP_TIMEOUT`], then SIGKILL) and prints the final counters.
//!
//! Workers die with the supervisor however it ends: the write end of their
//! stdin is its, and a worker stops when its stdin ends.

use std::ffi::OsString;
use std::io::{self, BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use myriad_server::{ListenSpec, PortReservation, Tally, WorkerEnd, WorkerLine};

use super::{announce, cannot_listen, describe, Died, Outcome, ServeArgs};
use crate::args::{EXIT_FAILURE, EXIT_OK};

/// How long the workers may take to listen.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long stopping workers may take to report and exit before SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the supervisor looks at Ctrl-C while waiting for worker lines.
const POLL: Duration = Duration::from_millis(50);
/// Ctrl-C in a terminal signals the workers and the supervisor together, and a
/// worker may finish stopping before the supervisor has noticed: a worker that
/// stopped is only called a lone stop if the supervisor is not stopping within
/// this time.
const GROUP_SIGNAL_GRACE: Duration = Duration::from_millis(500);
/// How long to wait for a worker whose output ended to be reaped.
const EXIT_GRACE: Duration = Duration::from_secs(1);

/// Runs the supervisor of `workers` worker processes; returns the exit code.
pub fn run(args: &ServeArgs, workers: usize) -> i32 {
    let mut reservations = Vec::with_capacity(args.listen.len());
    for addr in args.listen.addrs() {
        match PortReservation::bind(addr) {
            Ok(r) => reservations.push(r),
            Err(e) => return cannot_listen(addr, &e),
        }
    }
    let spec = match reservations.first().map(PortReservation::local_addr) {
        Some(Ok(addr)) => args.listen.resolved(addr.port()),
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
    myriad::sys::raise_open_files_limit();
    let stop = super::interrupt_token();

    let mut sup = match Supervisor::start(spec, workers, stop) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot start the worker processes: {e}");
            return EXIT_FAILURE;
        }
    };
    match sup.wait_ready() {
        Ok(true) => {}
        // Ctrl-C while starting: stop as usual, with whatever was counted.
        Ok(false) => {
            sup.stop_all();
            sup.outcome().print(args.json);
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
    announce(spec, &describe(&args.config(), processes));

    let stopped_on_request = sup.serve();
    sup.stop_all();
    sup.outcome().print(args.json);
    if stopped_on_request {
        EXIT_OK
    } else {
        EXIT_FAILURE
    }
}

/// What a worker's stdout reader tells the supervisor.
enum Event {
    Line(usize, WorkerLine),
    /// The worker's stdout ended: it exited (or closed it, which it never does).
    Closed(usize),
}

struct Worker {
    child: Child,
    pid: u32,
    /// The write end of the worker's stdin; dropping it tells the worker to stop.
    stdin: Option<ChildStdin>,
    ready: bool,
    said_final: bool,
    closed: bool,
    reaped: bool,
}

struct Supervisor {
    workers: Vec<Worker>,
    tally: Tally,
    events: Receiver<Event>,
    stop: CancellationToken,
    died: Vec<Died>,
}

impl Supervisor {
    /// Starts `n` workers on `spec`. On an error the ones already started are
    /// killed (by `Drop`).
    fn start(spec: ListenSpec, n: usize, stop: CancellationToken) -> io::Result<Self> {
        let exe = std::env::current_exe()?;
        // The same arguments (`serve` and its flags), so each worker builds the
        // very same config; `--child` makes it a worker on the resolved ports.
        let args: Vec<OsString> = std::env::args_os().skip(1).collect();
        let (tx, events) = mpsc::channel();
        let mut sup = Supervisor {
            workers: Vec::with_capacity(n),
            tally: Tally::new(n),
            events,
            stop,
            died: Vec::new(),
        };
        for i in 0..n {
            let mut child = Command::new(&exe)
                .args(&args)
                .arg("--child")
                .arg(spec.to_string())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()?;
            let stdin = child.stdin.take();
            let stdout = child.stdout.take();
            sup.workers.push(Worker {
                pid: child.id(),
                child,
                stdin,
                ready: false,
                said_final: false,
                closed: false,
                reaped: false,
            });
            let stdout = stdout.ok_or_else(|| io::Error::other("worker stdout not piped"))?;
            read_lines(i, stdout, tx.clone())?;
        }
        Ok(sup)
    }

    /// Waits until every worker listens: true, or false on Ctrl-C.
    fn wait_ready(&mut self) -> Result<bool, String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        while !self.workers.iter().all(|w| w.ready) {
            if self.stop.is_cancelled() {
                return Ok(false);
            }
            if let Some((i, w)) = self
                .workers
                .iter()
                .enumerate()
                .find(|(_, w)| w.closed && !w.ready)
            {
                let how = self
                    .died
                    .iter()
                    .find(|d| d.worker == i)
                    .map(|d| d.how.clone());
                return Err(format!(
                    "worker {i} (pid {}) exited before it listened ({})",
                    w.pid,
                    how.unwrap_or_else(|| "stopped".into())
                ));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "the workers did not all listen within {}s",
                    READY_TIMEOUT.as_secs()
                ));
            }
            match self.events.recv_timeout(POLL) {
                Ok(event) => self.handle(event, true),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    return Err("every worker exited before it listened".into())
                }
            }
        }
        Ok(true)
    }

    /// Serves until Ctrl-C (true) or until no worker is left (false).
    fn serve(&mut self) -> bool {
        loop {
            if self.stop.is_cancelled() {
                return true;
            }
            if self.tally.running() == 0 {
                eprintln!("error: every worker process has ended; the server stops");
                return false;
            }
            match self.events.recv_timeout(POLL) {
                Ok(event) => self.handle(event, false),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    eprintln!("error: lost every worker's output; the server stops");
                    return false;
                }
            }
        }
    }

    /// Closes every worker's stdin, collects their last lines for at most
    /// [`STOP_TIMEOUT`], kills the ones still running, and reaps them all.
    fn stop_all(&mut self) {
        for w in &mut self.workers {
            w.stdin = None;
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        while self.workers.iter().any(|w| !w.closed) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match self.events.recv_timeout(left.min(POLL)) {
                Ok(event) => self.handle(event, true),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        for (i, w) in self.workers.iter_mut().enumerate() {
            if !w.closed {
                let how = format!("did not stop within {}s, killed", STOP_TIMEOUT.as_secs());
                eprintln!("myriad serve: worker {i} (pid {}) {how}", w.pid);
                if self.tally.end(i, WorkerEnd::Died) {
                    self.died.push(Died {
                        worker: i,
                        pid: w.pid,
                        how,
                    });
                }
            }
            reap(w);
        }
    }

    fn handle(&mut self, event: Event, stopping: bool) {
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
            Event::Closed(i) => self.closed(i, stopping),
        }
    }

    /// A worker's output ended. With a final line it stopped as asked (by the
    /// supervisor, or by a signal); without one it died.
    fn closed(&mut self, i: usize, stopping: bool) {
        let Some(w) = self.workers.get_mut(i) else {
            return;
        };
        w.closed = true;
        let status = wait_briefly(&mut w.child);
        w.reaped = status.is_some();
        let pid = w.pid;
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
            let how = exit_description(status);
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

    /// Whether the supervisor is told to stop within [`GROUP_SIGNAL_GRACE`].
    fn group_stop(&self) -> bool {
        let deadline = Instant::now() + GROUP_SIGNAL_GRACE;
        while !self.stop.is_cancelled() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        self.stop.is_cancelled()
    }

    fn outcome(&self) -> Outcome {
        Outcome {
            total: self.tally.total(),
            per_worker: self.tally.per_worker().collect(),
            pids: self.workers.iter().map(|w| w.pid).collect(),
            died: self.died.clone(),
        }
    }
}

impl Drop for Supervisor {
    /// No worker outlives the supervisor, whatever path leaves it.
    fn drop(&mut self) {
        for w in &mut self.workers {
            w.stdin = None;
            if !w.reaped {
                let _ = w.child.kill();
                let _ = w.child.wait();
                w.reaped = true;
            }
        }
    }
}

/// Reads worker `i`'s stdout on a thread of its own, one [`Event`] per line,
/// then [`Event::Closed`].
fn read_lines(i: usize, stdout: ChildStdout, tx: Sender<Event>) -> io::Result<()> {
    std::thread::Builder::new()
        .name(format!("myriad-worker-{i}"))
        .stack_size(128 * 1024)
        .spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                match line.parse::<WorkerLine>() {
                    Ok(parsed) => {
                        if tx.send(Event::Line(i, parsed)).is_err() {
                            return;
                        }
                    }
                    // Not for the supervisor: pass it on for a person to read.
                    Err(_) => eprintln!("myriad serve: worker {i}: {line}"),
                }
            }
            let _ = tx.send(Event::Closed(i));
        })?;
    Ok(())
}

/// The exit status of a worker whose output just ended, if it exits soon.
fn wait_briefly(child: &mut Child) -> Option<ExitStatus> {
    let deadline = Instant::now() + EXIT_GRACE;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            _ => return None,
        }
    }
}

/// Reaps a worker, killing it first if it does not exit by itself.
fn reap(w: &mut Worker) {
    if w.reaped {
        return;
    }
    if wait_briefly(&mut w.child).is_none() {
        let _ = w.child.kill();
        let _ = w.child.wait();
    }
    w.reaped = true;
}

/// "killed by SIGKILL", "exit code 1", ...
fn exit_description(status: Option<ExitStatus>) -> String {
    let Some(status) = status else {
        return "exit status unknown".into();
    };
    if let Some(code) = status.code() {
        return format!("exit code {code}");
    }
    match status.signal() {
        Some(sig) => {
            let name = match sig {
                libc::SIGKILL => "SIGKILL",
                libc::SIGTERM => "SIGTERM",
                libc::SIGINT => "SIGINT",
                libc::SIGSEGV => "SIGSEGV",
                libc::SIGABRT => "SIGABRT",
                libc::SIGBUS => "SIGBUS",
                _ => return format!("killed by signal {sig}"),
            };
            format!("killed by {name}")
        }
        None => format!("{status}"),
    }
}
