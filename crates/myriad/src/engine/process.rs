//! Worker processes: runs larger than one process's open-files limit.
//!
//! The parent starts each worker with `Config::worker_command` (the `myriad`
//! binary runs `myriad __worker`) under a [`Supervisor`], writes the worker's
//! share of the run as a [`Work`] line on its stdin, and reads [`RunLine`]s
//! back from its stdout: progress every 200 ms, recorder deltas as the
//! worker's threads ship them, and an end line with its CPU time and peak
//! memory (the lines and their format: [`crate::metrics::wire`]). One thread
//! turns those lines into the same events a worker thread sends, so the
//! collector merges threads and processes alike. A worker that dies keeps the
//! counts it reported; its requests then in flight are counted as `lost`.
//!
//! Control goes the other way on stdin: a cancel line when the run is
//! cancelled, or stdin closing (the parent died), cancels the worker. Workers
//! ignore SIGINT: Ctrl-C in a terminal reaches the whole process group, and
//! the parent alone decides.

use std::process::Command;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::plan::Plan;
use super::worker::WorkerProgress;
use super::{launch_threads, Event, RunError, SourceEnd, Workers};
use crate::metrics::wire::{RunLine, WireRecorder, Work};
use crate::metrics::{Gauges, Recorder};
use crate::supervise::{self, SuperviseError, Supervisor};
use crate::sys::{self, CpuTime};

/// How often a worker process reports progress.
const PROGRESS_EVERY: Duration = Duration::from_millis(200);

/// The work of worker process `i` of `plan`, or `None` if its share is empty.
fn child_work(plan: &Plan, i: usize) -> Option<Work> {
    let part = plan.processes.get(i).filter(|p| !p.is_empty())?.clone();
    let mut config = plan.config.clone();
    config.load = part.load.clone();
    config.worker_command = None;
    Some(Work {
        config,
        sources: plan.shape.source_addrs.clone(),
        part,
    })
}

fn spawn_error(e: SuperviseError) -> RunError {
    match e {
        SuperviseError::Io(e) => RunError::Spawn(e),
        e => RunError::Spawn(std::io::Error::other(e)),
    }
}

/// Starts the worker processes of a run; the handle is that of the thread
/// that follows them (it ends when every worker has ended and been reported).
pub(crate) fn launch(
    plan: &Plan,
    cancel: &CancellationToken,
    events: &Sender<Event>,
) -> Result<Workers, RunError> {
    let command = plan.config.worker_command.clone().unwrap_or_default();
    let Some((program, args)) = command.split_first() else {
        return Err(RunError::Spawn(std::io::Error::other("no worker command")));
    };
    let mut supervisor = Supervisor::<RunLine>::new();
    // The run's source index of each child (workers with nothing to do are
    // not started).
    let mut sources = Vec::new();
    let mut progress = Vec::new();
    for i in 0..plan.processes.len() {
        progress.push(Arc::new(WorkerProgress::default()));
        let Some(work) = child_work(plan, i) else {
            let _ = events.send(Event::Ended {
                source: i,
                end: SourceEnd::finished(CpuTime::default()),
            });
            continue;
        };
        // On an error, dropping the supervisor kills the workers started so far.
        let child = match supervisor.spawn(Command::new(program).args(args)) {
            Ok(child) => child,
            Err(e) => {
                cancel.cancel();
                return Err(spawn_error(e));
            }
        };
        // A worker that cannot read its work dies, and that is reported.
        let _ = supervisor.send(child, &work);
        sources.push(i);
    }
    supervisor.cancel_on(cancel).map_err(spawn_error)?;
    let pids = supervisor.pids();
    let (follow_progress, events) = (progress.clone(), events.clone());
    let follower = std::thread::Builder::new()
        .name("myriad-procs".into())
        .spawn(move || follow(supervisor, &sources, &follow_progress, &events))
        .map_err(RunError::Spawn)?;
    Ok(Workers {
        handles: vec![follower],
        progress,
        pids,
    })
}

/// What a worker process said about its end, until it ends.
#[derive(Default)]
struct Said {
    end: Option<SourceEnd>,
    error: Option<String>,
}

/// Turns the workers' lines into events until every worker has ended, and
/// reports how each ended.
fn follow(
    mut supervisor: Supervisor<RunLine>,
    sources: &[usize],
    progress: &[Arc<WorkerProgress>],
    events: &Sender<Event>,
) {
    let mut said: Vec<Said> = sources.iter().map(|_| Said::default()).collect();
    while let Some(event) = supervisor.recv() {
        match event {
            supervise::Event::Line(child, line) => {
                if let (Some(&source), Some(said)) = (sources.get(child), said.get_mut(child)) {
                    take(source, line, said, progress, events);
                }
            }
            supervise::Event::Garbled { child, error, .. } => {
                if let Some(said) = said.get_mut(child) {
                    said.error = Some(format!("unreadable line from worker: {error}"));
                }
            }
            supervise::Event::Ended(child, exit) => {
                let (Some(&source), Some(said)) = (sources.get(child), said.get_mut(child)) else {
                    continue;
                };
                let end = said.end.take().unwrap_or_else(|| SourceEnd {
                    error: said.error.take(),
                    died: Some(exit.to_string()),
                    ..SourceEnd::default()
                });
                let _ = events.send(Event::Ended { source, end });
            }
            supervise::Event::Killed(_) | supervise::Event::Cancelled => {}
        }
    }
}

/// Takes one line of worker process `source`.
fn take(
    source: usize,
    line: RunLine,
    said: &mut Said,
    progress: &[Arc<WorkerProgress>],
    events: &Sender<Event>,
) {
    match line {
        RunLine::Progress {
            issued,
            completed,
            failures,
        } => {
            if let Some(p) = progress.get(source) {
                p.set(issued, completed, failures);
            }
        }
        RunLine::Delta {
            interval,
            recorder,
            gauges,
        } => match Recorder::try_from(recorder) {
            Ok(recorder) => {
                let _ = events.send(Event::Delta {
                    source,
                    interval,
                    recorder: Box::new(recorder),
                    gauges,
                });
            }
            Err(e) => said.error = Some(e.to_string()),
        },
        RunLine::End {
            cpu_user_us,
            cpu_system_us,
            peak_rss_bytes,
        } => {
            said.end = Some(SourceEnd {
                cpu: CpuTime {
                    user: Duration::from_micros(cpu_user_us),
                    system: Duration::from_micros(cpu_system_us),
                },
                peak_rss_bytes,
                error: said.error.take(),
                died: None,
            });
        }
        RunLine::Error { message } => said.error = Some(message),
    }
}

/// The progress of this process's worker threads, summed, as a line.
fn progress_line(progress: &[Arc<WorkerProgress>]) -> RunLine {
    let (issued, completed, failures) = WorkerProgress::sum(progress);
    RunLine::Progress {
        issued,
        completed,
        failures,
    }
}

/// Writes a line for the parent; one it cannot take is lost with it.
fn emit(line: &RunLine) {
    let _ = supervise::emit(line);
}

/// Why a worker process did not start its work, and its exit code.
struct Refused {
    message: String,
    code: i32,
}

impl Refused {
    fn new(code: i32, message: impl ToString) -> Refused {
        Refused {
            message: message.to_string(),
            code,
        }
    }
}

/// What this worker process runs: the [`Work`] of its first stdin line, as
/// the parent planned it, started on threads of its own. Everything else here
/// is how the work is reported.
fn start_work(cancel: &CancellationToken, events: &Sender<Event>) -> Result<Workers, Refused> {
    let work = match supervise::read_stdin_line::<Work>() {
        Ok(Some(work)) => work,
        Ok(None) => return Err(Refused::new(2, "cannot read the work: stdin ended")),
        Err(e) => return Err(Refused::new(2, format!("cannot read the work: {e}"))),
    };
    sys::raise_open_files_limit();
    let started = Instant::now();
    launch_threads(
        &work.config,
        &work.sources,
        &work.part,
        started,
        cancel,
        events,
    )
    .map_err(|e| Refused::new(1, e))
}

/// The body of a worker process (`myriad __worker`): reads its [`Work`] as
/// one line on stdin, runs it on threads of its own, and streams progress,
/// deltas and its end as [`RunLine`]s on stdout. Returns the exit code.
pub fn worker_process_main() -> i32 {
    // SAFETY: setting a signal's disposition to "ignore" is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_IGN);
    }
    let cancel = CancellationToken::new();
    let (tx, rx) = mpsc::channel();
    let workers = match start_work(&cancel, &tx) {
        Ok(workers) => workers,
        Err(refused) => {
            emit(&RunLine::Error {
                message: refused.message,
            });
            return refused.code;
        }
    };
    drop(tx);
    // Stdin carries a cancel line, or closes when the parent is gone: stop
    // either way. (Started after the work line is read: it reads stdin too.)
    // Without the watch the work still ends, at its own end.
    let _ = supervise::cancel_on_stdin(cancel.clone());
    report(workers, &rx);
    0
}

/// Streams the threads' deltas and progress as lines until every thread has
/// ended, then the progress and the end.
fn report(workers: Workers, rx: &Receiver<Event>) {
    let Workers {
        handles, progress, ..
    } = workers;
    let mut gauges = vec![Gauges::default(); handles.len()];
    let mut cpu = CpuTime::default();
    let mut ended = 0;
    let mut last_progress = Instant::now();
    while ended < handles.len() {
        match rx.recv_timeout(PROGRESS_EVERY) {
            Ok(Event::Delta {
                source,
                interval,
                recorder,
                gauges: g,
            }) => {
                if let Some(slot) = gauges.get_mut(source) {
                    *slot = g;
                }
                let mut sum = Gauges::default();
                gauges.iter().for_each(|g| sum.add(g));
                emit(&RunLine::Delta {
                    interval,
                    recorder: WireRecorder::from(&*recorder),
                    gauges: sum,
                });
            }
            Ok(Event::Ended { end, .. }) => {
                ended += 1;
                cpu.add(end.cpu);
                if let Some(message) = end.error {
                    emit(&RunLine::Error { message });
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if last_progress.elapsed() >= PROGRESS_EVERY {
            last_progress = Instant::now();
            emit(&progress_line(&progress));
        }
    }
    for h in handles {
        let _ = h.join();
    }
    emit(&progress_line(&progress));
    emit(&RunLine::End {
        cpu_user_us: cpu.user.as_micros() as u64,
        cpu_system_us: cpu.system.as_micros() as u64,
        peak_rss_bytes: sys::peak_rss_bytes(),
    });
}
