//! The load engine: starts worker threads, exposes live progress, returns a [`Summary`].
//!
//! [`start`] validates the [`Config`], builds each target's request bytes once,
//! splits connections and requests over workers (the `plan` module), and starts one OS
//! thread per worker. [`Run::wait`] joins them and merges their recorders into a
//! [`Summary`]. [`Run::cancel`] (Ctrl-C in the CLI) is the only control path
//! back into a running engine.

mod connection;
mod plan;
mod worker;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::config::{Config, ConfigError, Stop};
use crate::metrics::Recorder;
use crate::proto::request::{build_request, RequestSpec};
use crate::summary::{Summary, TargetSummary};
use crate::sys::{self, CpuTime};
use worker::{run_worker, TargetWire, WorkerProgress, WorkerResult, WorkerSettings};

/// Why a run could not start or finish.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The configuration is invalid; nothing was sent.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A worker thread or its runtime could not be created.
    #[error("cannot start worker thread: {0}")]
    Spawn(std::io::Error),
    /// A worker thread panicked; its counts are lost.
    #[error("a worker thread panicked; its counts are lost")]
    WorkerPanicked,
}

/// A snapshot of a running load, for the live view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Requests handed out so far.
    pub issued: u64,
    /// Requests ended (with a status or an error).
    pub completed: u64,
    /// Requests ended with an error (no status).
    pub failures: u64,
    /// Time since the run started.
    pub elapsed: Duration,
}

/// A load run in progress.
pub struct Run {
    workers: Vec<JoinHandle<std::io::Result<WorkerResult>>>,
    progress: Vec<Arc<WorkerProgress>>,
    cancel: CancellationToken,
    started: Instant,
    config: Config,
    open_files_limit: u64,
}

/// Starts a run on its own threads and returns at once.
pub fn start(config: Config) -> Result<Run, RunError> {
    config.validate()?;
    let open_files_limit = sys::raise_open_files_limit();
    let spec = RequestSpec {
        method: &config.method,
        headers: &config.headers,
        body: &config.body,
        keep_alive: config.keep_alive,
    };
    let targets: Arc<[TargetWire]> = config
        .targets
        .iter()
        .map(|t| TargetWire {
            addr: t.addr,
            request: build_request(&spec, &t.host_header, &t.path).into_boxed_slice(),
            is_head: config.method.eq_ignore_ascii_case("HEAD"),
        })
        .collect();
    let requests = match config.stop {
        Stop::Requests(n) => Some(n),
        Stop::Duration(_) => None,
    };
    let plans = plan::plan(
        config.connections,
        config.effective_threads(),
        config.targets.len(),
        requests,
    );
    let cancel = CancellationToken::new();
    let started = Instant::now();
    let deadline = match config.stop {
        Stop::Duration(d) => Some(started + d),
        Stop::Requests(_) => None,
    };
    let mut workers = Vec::with_capacity(plans.len());
    let mut progress = Vec::with_capacity(plans.len());
    for (i, plan) in plans.into_iter().enumerate() {
        let p = Arc::new(WorkerProgress::default());
        progress.push(p.clone());
        let settings = WorkerSettings {
            targets: targets.clone(),
            timeout: config.timeout,
            connect_timeout: config.connect_timeout,
            keep_alive: config.keep_alive,
            deadline,
        };
        let token = cancel.clone();
        let handle = std::thread::Builder::new()
            .name(format!("myriad-worker-{i}"))
            .spawn(move || run_worker(plan, settings, token, p));
        match handle {
            Ok(h) => workers.push(h),
            Err(e) => {
                cancel.cancel();
                for w in workers {
                    let _ = w.join();
                }
                return Err(RunError::Spawn(e));
            }
        }
    }
    Ok(Run {
        workers,
        progress,
        cancel,
        started,
        config,
        open_files_limit,
    })
}

/// Runs `config` to the end on the calling thread and returns its summary.
///
/// ```no_run
/// use myriad::{Config, Stop};
///
/// let mut config = Config::new(&["http://127.0.0.1:8080/"])?;
/// config.connections = 10;
/// config.stop = Stop::Requests(1_000);
/// let summary = myriad::run(config)?;
/// assert_eq!(summary.total.issued(), 1_000);
/// assert!(summary.total.balanced());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn run(config: Config) -> Result<Summary, RunError> {
    start(config)?.wait()
}

impl Run {
    /// Counters summed over workers, as of now.
    pub fn progress(&self) -> Progress {
        let mut p = Progress {
            issued: 0,
            completed: 0,
            failures: 0,
            elapsed: self.started.elapsed(),
        };
        for w in &self.progress {
            p.issued += w.issued.load(Ordering::Relaxed);
            p.completed += w.completed.load(Ordering::Relaxed);
            p.failures += w.failures.load(Ordering::Relaxed);
        }
        p
    }

    /// Stops the run: no new requests; requests in flight end as `cancelled`.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// A token that cancels this run when cancelled (for signal handlers).
    pub fn cancel_token(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// Whether every worker has ended.
    pub fn is_finished(&self) -> bool {
        self.workers.iter().all(|w| w.is_finished())
    }

    /// The configuration being run.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Waits for every worker and merges their records.
    pub fn wait(self) -> Result<Summary, RunError> {
        let mut recorder = Recorder::new(self.config.targets.len());
        let mut cpu = CpuTime::default();
        let mut failed = None;
        for w in self.workers {
            match w.join() {
                Ok(Ok(result)) => {
                    recorder.merge(&result.recorder);
                    cpu.add(result.cpu);
                }
                Ok(Err(e)) => failed = Some(RunError::Spawn(e)),
                Err(_) => failed = Some(RunError::WorkerPanicked),
            }
        }
        if let Some(e) = failed {
            return Err(e);
        }
        let elapsed = self.started.elapsed();
        let targets: Vec<TargetSummary> = self
            .config
            .targets
            .iter()
            .zip(recorder.targets)
            .map(|(t, tally)| TargetSummary {
                url: t.url.clone(),
                tally,
            })
            .collect();
        let mut total = crate::metrics::Tally::new();
        for t in &targets {
            total.merge(&t.tally);
        }
        Ok(Summary {
            elapsed,
            connections: self.config.connections,
            threads: self.config.effective_threads(),
            stop: self.config.stop,
            keep_alive: self.config.keep_alive,
            total,
            targets,
            connections_opened: recorder.connections_opened,
            limits: recorder.limits,
            open_files_limit: self.open_files_limit,
            cpu,
            peak_rss_bytes: sys::peak_rss_bytes(),
            interrupted: self.cancel.is_cancelled(),
        })
    }
}
