//! Worker processes: runs larger than one process's open-files limit.
//!
//! The parent starts each worker with `Config::worker_command` (the `myriad`
//! binary runs `myriad __worker`), writes the worker's share of the run as one
//! JSON line on its stdin, and reads JSON lines back from its stdout: progress
//! every 200 ms, recorder deltas as the worker's threads ship them, and an end
//! line with its CPU time and peak memory. A reader thread per worker turns
//! those lines into the same events a worker thread sends, so the collector
//! merges threads and processes alike. A worker that dies keeps the counts it
//! reported; its requests then in flight are counted as `lost`.
//!
//! Control goes the other way on stdin: a `cancel` line, or stdin closing
//! (the parent died), cancels the worker. Workers ignore SIGINT: Ctrl-C in a
//! terminal reaches the whole process group, and the parent alone decides.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::plan::{Plan, ProcessPlan};
use super::worker::WorkerProgress;
use super::{launch_threads, Event, RunError, SourceEnd, Workers};
use crate::config::Config;
use crate::metrics::wire::WireRecorder;
use crate::metrics::{Gauges, Recorder};
use crate::sys::{self, CpuTime};

/// How often a worker process reports progress.
const PROGRESS_EVERY: Duration = Duration::from_millis(200);

/// One line from a worker process.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Line {
    Progress {
        issued: u64,
        completed: u64,
        failures: u64,
    },
    Delta {
        interval: u64,
        recorder: WireRecorder,
        gauges: Gauges,
    },
    End {
        cpu_user_us: u64,
        cpu_system_us: u64,
        peak_rss_bytes: u64,
    },
    Error {
        message: String,
    },
}

/// What a worker process runs, as the parent planned it: the run's settings
/// (its load the process's share), the source addresses, and the split over
/// its threads. The child neither validates nor plans again.
#[derive(Debug, Serialize, Deserialize)]
struct ChildWork {
    config: Config,
    sources: Vec<std::net::IpAddr>,
    part: ProcessPlan,
}

/// The work of worker process `i` of `plan`.
fn child_work(plan: &Plan, i: usize) -> Option<ChildWork> {
    let part = plan.processes.get(i)?.clone();
    let mut config = plan.config.clone();
    config.load = part.load.clone();
    config.worker_command = None;
    Some(ChildWork {
        config,
        sources: plan.shape.source_addrs.clone(),
        part,
    })
}

/// Starts the worker processes of a run; the handles are those of their
/// reader threads (each ends when its worker has ended and been reported).
pub(crate) fn launch(
    plan: &Plan,
    cancel: &CancellationToken,
    events: &Sender<Event>,
) -> Result<Workers, RunError> {
    let shape = &plan.shape;
    let command = plan.config.worker_command.clone().unwrap_or_default();
    let Some((program, args)) = command.split_first() else {
        return Err(RunError::Spawn(std::io::Error::other("no worker command")));
    };
    let mut handles = Vec::new();
    let mut progress = Vec::new();
    let mut pids = Vec::new();
    let mut stdins: Vec<ChildStdin> = Vec::new();
    let done = Arc::new(AtomicUsize::new(0));
    for i in 0..shape.processes {
        let p = Arc::new(WorkerProgress::default());
        progress.push(p.clone());
        let work = child_work(plan, i);
        let Some(work) = work.filter(|w| !w.part.is_empty()) else {
            let _ = events.send(Event::Ended {
                source: i,
                end: SourceEnd::finished(CpuTime::default()),
            });
            done.fetch_add(1, Ordering::SeqCst);
            continue;
        };
        let spawned = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn();
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) => {
                cancel.cancel();
                for mut s in stdins {
                    let _ = s.write_all(b"cancel\n");
                }
                return Err(RunError::Spawn(e));
            }
        };
        pids.push(child.id());
        let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            return Err(RunError::Spawn(std::io::Error::other(
                "worker pipes missing",
            )));
        };
        let line = serde_json::to_string(&work).map_err(|e| RunError::Spawn(e.into()))?;
        // A worker that cannot read its work dies, and its reader reports that.
        let _ = writeln!(stdin, "{line}").and_then(|_| stdin.flush());
        stdins.push(stdin);
        let (events, done) = (events.clone(), done.clone());
        let reader = std::thread::Builder::new()
            .name(format!("myriad-proc-{i}"))
            .spawn(move || {
                read_worker(i, child, stdout, &p, &events);
                done.fetch_add(1, Ordering::SeqCst);
            })
            .map_err(RunError::Spawn)?;
        handles.push(reader);
    }
    let (cancel, total) = (cancel.clone(), shape.processes);
    let canceller = std::thread::Builder::new()
        .name("myriad-proc-cancel".into())
        .spawn(move || {
            while done.load(Ordering::SeqCst) < total {
                if cancel.is_cancelled() {
                    for s in &mut stdins {
                        let _ = s.write_all(b"cancel\n").and_then(|_| s.flush());
                    }
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
        .map_err(RunError::Spawn)?;
    handles.push(canceller);
    Ok(Workers {
        handles,
        progress,
        pids,
    })
}

/// Turns worker `i`'s lines into events until it ends, then reports how it ended.
fn read_worker(
    i: usize,
    mut child: Child,
    stdout: std::process::ChildStdout,
    progress: &WorkerProgress,
    events: &Sender<Event>,
) {
    let mut end: Option<SourceEnd> = None;
    let mut error: Option<String> = None;
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        match serde_json::from_str::<Line>(&line) {
            Ok(Line::Progress {
                issued,
                completed,
                failures,
            }) => progress.set(issued, completed, failures),
            Ok(Line::Delta {
                interval,
                recorder,
                gauges,
            }) => match Recorder::try_from(recorder) {
                Ok(recorder) => {
                    let recorder = Box::new(recorder);
                    let _ = events.send(Event::Delta {
                        source: i,
                        interval,
                        recorder,
                        gauges,
                    });
                }
                Err(e) => error = Some(e.to_string()),
            },
            Ok(Line::End {
                cpu_user_us,
                cpu_system_us,
                peak_rss_bytes,
            }) => {
                end = Some(SourceEnd {
                    cpu: CpuTime {
                        user: Duration::from_micros(cpu_user_us),
                        system: Duration::from_micros(cpu_system_us),
                    },
                    peak_rss_bytes,
                    error: error.take(),
                    died: None,
                });
            }
            Ok(Line::Error { message }) => error = Some(message),
            Err(e) => error = Some(format!("unreadable line from worker: {e}")),
        }
    }
    let status = child.wait();
    let end = end.unwrap_or_else(|| SourceEnd {
        error,
        died: Some(match status {
            Ok(s) => describe_exit(s),
            Err(e) => e.to_string(),
        }),
        ..SourceEnd::default()
    });
    let _ = events.send(Event::Ended { source: i, end });
}

fn describe_exit(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (_, Some(sig)) => format!("killed by signal {sig}"),
        _ => status.to_string(),
    }
}

/// The progress of this process's worker threads, summed, as a line.
fn progress_line(progress: &[Arc<WorkerProgress>]) -> Line {
    let (issued, completed, failures) = WorkerProgress::sum(progress);
    Line::Progress {
        issued,
        completed,
        failures,
    }
}

/// The body of a worker process (`myriad __worker`): reads its [`Config`] as
/// one JSON line on stdin, runs it on threads of its own, and streams progress,
/// deltas and its end as JSON lines on stdout. Returns the exit code.
pub fn worker_process_main() -> i32 {
    // SAFETY: setting a signal's disposition to "ignore" is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_IGN);
    }
    let stdout = std::io::stdout();
    let emit = |line: &Line| {
        let mut out = stdout.lock();
        let _ = serde_json::to_writer(&mut out, line)
            .map_err(std::io::Error::from)
            .and_then(|_| out.write_all(b"\n"))
            .and_then(|_| out.flush());
    };
    let mut first = String::new();
    let stdin = std::io::stdin();
    if stdin.lock().read_line(&mut first).is_err() {
        return 2;
    }
    let work: ChildWork = match serde_json::from_str(&first) {
        Ok(c) => c,
        Err(e) => {
            emit(&Line::Error {
                message: format!("cannot read the work: {e}"),
            });
            return 2;
        }
    };
    sys::raise_open_files_limit();
    let cancel = CancellationToken::new();
    let token = cancel.clone();
    // Stdin carries `cancel`, or closes when the parent is gone: stop either way.
    let _ = std::thread::Builder::new()
        .name("myriad-stdin".into())
        .spawn(move || {
            let mut line = String::new();
            while matches!(std::io::stdin().lock().read_line(&mut line), Ok(n) if n > 0) {
                if line.trim() == "cancel" {
                    break;
                }
                line.clear();
            }
            token.cancel();
        });
    let (tx, rx) = mpsc::channel();
    let Workers {
        handles, progress, ..
    } = match launch_threads(
        &work.config,
        &work.sources,
        &work.part,
        Instant::now(),
        &cancel,
        &tx,
    ) {
        Ok(x) => x,
        Err(e) => {
            emit(&Line::Error {
                message: e.to_string(),
            });
            return 1;
        }
    };
    drop(tx);
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
                emit(&Line::Delta {
                    interval,
                    recorder: WireRecorder::from(&*recorder),
                    gauges: sum,
                });
            }
            Ok(Event::Ended { end, .. }) => {
                ended += 1;
                cpu.add(end.cpu);
                if let Some(message) = end.error {
                    emit(&Line::Error { message });
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
    emit(&Line::End {
        cpu_user_us: cpu.user.as_micros() as u64,
        cpu_system_us: cpu.system.as_micros() as u64,
        peak_rss_bytes: sys::peak_rss_bytes(),
    });
    0
}
