//! The load engine: plans a run, starts its workers, feeds the live view,
//! returns a [`Summary`].
//!
//! # Layout
//! - `plan.rs`: [`Plan::new`] validates the [`Config`] once, asks `shape.rs`
//!   how the machine holds it ([`Shape`]: processes, threads, source
//!   addresses, connect rate; refused up front with what to change), and
//!   splits the load over processes and threads. `--dry-run` prints the plan;
//!   [`start_plan`] starts exactly it; a worker process receives its part
//!   ready-made (`process.rs`). Nothing validates or plans again.
//! - `worker.rs`: one OS thread per worker, a current-thread tokio runtime,
//!   its connections and its recorder; nothing shared on the hot path. The one
//!   place that picks a connection's transport and protocol
//!   (`spawn_connection`).
//! - `connection.rs`: the only request loop. It asks its tickets for work,
//!   dials when it has no stream, and hands tickets to its protocol's session;
//!   it matches on neither the load model nor the protocol.
//! - `tickets.rs` (the ticket seam): closed, closed ramp, mostly idle, open;
//!   connect pacing (`connect_pace.rs`), connect permits and the deadline.
//!   `open.rs`: the open model's scheduler, its queue for requests that find
//!   every connection busy, and `--when-busy drop`.
//! - `transport.rs` (the transport seam): a `Dialer` yields a `Transport`
//!   stream. TLS plugs in as a dialer wrapping the TCP one; a Unix socket as
//!   one of its own.
//! - `process.rs`: worker processes for runs beyond one process's open-files
//!   limit, on the shared supervision stack ([`crate::supervise`]) and the
//!   versioned wire format ([`crate::metrics::wire`]).
//! - `collector.rs`: one thread merging every worker's per-interval deltas
//!   (threads and processes alike) into the time series and the live feed
//!   ([`crate::feed`]), sampling kernel memory. [`Run::wait`] returns the
//!   merged [`Summary`]. [`Run::cancel`] (Ctrl-C in the CLI) is the only
//!   control path back into a running engine.

mod collector;
mod connect_pace;
mod connection;
mod open;
pub mod plan;
mod process;
pub mod shape;
mod tickets;
pub(crate) mod transport;
mod worker;

use std::net::IpAddr;
use std::sync::mpsc::{self, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::config::{Config, ConfigError, Load, Stop};
use crate::metrics::{Gauges, Recorder, Tally};
use crate::proto::request::{build_head, build_request, RequestSpec};
use crate::proto::session::{RequestWire, TargetWire};
use crate::summary::{Summary, TargetSummary};
use crate::sys::{self, CpuTime};
pub use plan::{Plan, ProcessPlan, WorkerPlan};
pub use process::worker_process_main;
pub use shape::{Shape, ShapeError};
pub(crate) use tickets::Ticket;
use worker::{run_worker, WorkerProgress, WorkerSettings};

/// Why a run could not start or finish.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The configuration is invalid; nothing was sent.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The machine cannot hold this run as configured; nothing was sent.
    #[error(transparent)]
    Shape(#[from] ShapeError),
    /// An output file could not be created.
    #[error("cannot create '{path}': {source}")]
    Output {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A worker thread, runtime or process could not be created.
    #[error("cannot start a worker: {0}")]
    Spawn(std::io::Error),
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
    /// Connections open, as of the workers' last shipment.
    pub open_connections: u64,
    /// Time since the run started.
    pub elapsed: Duration,
}

/// What flows from workers (threads or processes) to the collector.
pub(crate) enum Event {
    /// What a worker recorded since its last delta, and its connection levels now.
    Delta {
        source: usize,
        /// The statistics interval it covers (by the worker's clock).
        interval: u64,
        recorder: Box<Recorder>,
        gauges: Gauges,
    },
    /// A worker ended; no more events come from it.
    Ended { source: usize, end: SourceEnd },
}

/// How a worker ended.
#[derive(Debug, Clone, Default)]
pub(crate) struct SourceEnd {
    pub cpu: CpuTime,
    /// Peak RSS of a worker process (0 for a thread: the process's own counts).
    pub peak_rss_bytes: u64,
    /// Why the worker failed to run at all.
    pub error: Option<String>,
    /// How a worker process died without finishing (exit status or signal).
    pub died: Option<String>,
}

impl SourceEnd {
    pub fn finished(cpu: CpuTime) -> SourceEnd {
        SourceEnd {
            cpu,
            ..SourceEnd::default()
        }
    }

    pub fn failed(error: String) -> SourceEnd {
        SourceEnd {
            error: Some(error),
            ..SourceEnd::default()
        }
    }
}

/// The workers of a run, as started: threads of this process, or reader
/// threads of worker processes (with their process ids).
pub(crate) struct Workers {
    pub handles: Vec<JoinHandle<()>>,
    pub progress: Vec<Arc<WorkerProgress>>,
    pub pids: Vec<u32>,
}

/// A load run in progress.
pub struct Run {
    handles: Vec<JoinHandle<()>>,
    progress: Vec<Arc<WorkerProgress>>,
    collector: collector::Handle,
    cancel: CancellationToken,
    started: Instant,
    /// `started` by the wall clock, for result files.
    started_at: std::time::SystemTime,
    config: Config,
    shape: Shape,
    worker_pids: Vec<u32>,
}

/// Plans `config` and starts it on its own threads (and processes); returns at once.
pub fn start(config: Config) -> Result<Run, RunError> {
    start_plan(Plan::new(config)?)
}

/// Starts a run as planned and returns at once.
pub fn start_plan(plan: Plan) -> Result<Run, RunError> {
    let cancel = CancellationToken::new();
    let started = Instant::now();
    let started_at = std::time::SystemTime::now();
    let (events, rx) = mpsc::channel();
    // The resources' baseline is taken before any worker starts; the
    // collector starts once the worker processes' pids are known (their
    // events wait in the channel until then).
    let traffic_to = match plan.config.unix_socket {
        Some(_) => Vec::new(),
        None => plan.config.targets.iter().map(|t| t.addr).collect(),
    };
    let mut sampler = crate::resources::Sampler::new(&plan.config.watch, traffic_to);
    let workers = match plan.processes.as_slice() {
        [one] => launch_threads(
            &plan.config,
            &plan.shape.source_addrs,
            one,
            started,
            &cancel,
            &events,
        )?,
        _ => process::launch(&plan, &cancel, &events)?,
    };
    sampler.add_workers(&workers.pids);
    let collector = collector::start(
        rx,
        plan.sources(),
        plan.config.rows().0.len(),
        collector::SeriesSettings {
            interval: plan.config.stats_interval,
            keep_tallies: plan.config.series_tallies,
        },
        sampler,
    );
    drop(events);
    Ok(Run {
        handles: workers.handles,
        progress: workers.progress,
        collector,
        cancel,
        started,
        started_at,
        config: plan.config,
        shape: plan.shape,
        worker_pids: workers.pids,
    })
}

/// Starts this process's worker threads for its part of the run.
pub(crate) fn launch_threads(
    config: &Config,
    sources: &[IpAddr],
    part: &ProcessPlan,
    started: Instant,
    cancel: &CancellationToken,
    events: &Sender<Event>,
) -> Result<Workers, RunError> {
    let (targets, requests, rows) = wires(config)?;
    // One TLS configuration per process: its session cache is shared, so a
    // reconnect resumes the session.
    let tls = match config.targets.iter().any(|t| t.tls) {
        true => Some(crate::tls::client_config(&config.tls)?),
        false => None,
    };
    let templates = requests.iter().any(|r| r.template.is_some());
    let settings = WorkerSettings {
        targets,
        requests,
        rows,
        random_order: config.request_order == crate::requests::Order::Random,
        data: config.data.clone().map(Arc::new),
        data_random: config.data_order == crate::requests::Order::Random,
        templates,
        sources: sources.to_vec().into(),
        timeout: config.timeout,
        connect_timeout: config.connect_timeout,
        keep_alive: config.keep_alive,
        pipeline: config.pipeline,
        streams: match config.http2 {
            crate::config::Http2Mode::Off => 0,
            _ => config.streams,
        },
        unix_socket: config.unix_socket.clone(),
        tls,
        started,
        deadline: match part.load.stop() {
            Stop::Duration(d) => Some(started + d),
            Stop::Requests(_) => None,
        },
        stats_interval: config.stats_interval,
        warmup_end: config.warmup.map(|w| started + w),
        ramp: match &part.load {
            Load::ClosedRamp { stages } => Some(crate::schedule::Schedule::stages(0.0, stages)),
            _ => None,
        },
        interval: part.load.interval_every(),
        when_busy: part
            .load
            .open_model()
            .map(|m| m.when_busy)
            .unwrap_or_default(),
    };
    let threads = part.workers.len();
    let mut handles = Vec::with_capacity(threads);
    let mut progress = Vec::with_capacity(threads);
    for (i, plan) in part.workers.iter().cloned().enumerate() {
        let p = Arc::new(WorkerProgress::default());
        progress.push(p.clone());
        let (settings, token, events) = (settings.clone(), cancel.clone(), events.clone());
        let spawned = std::thread::Builder::new()
            .name(format!("myriad-worker-{i}"))
            .spawn(move || run_worker(i, plan, settings, token, p, events));
        match spawned {
            Ok(h) => handles.push(h),
            Err(e) => {
                cancel.cancel();
                for h in handles {
                    let _ = h.join();
                }
                return Err(RunError::Spawn(e));
            }
        }
    }
    Ok(Workers {
        handles,
        progress,
        pids: Vec::new(),
    })
}

/// Targets, requests and the number of report rows (see [`wires`]).
type Wires = (Arc<[TargetWire]>, Arc<[RequestWire]>, usize);

/// The wire forms of a run: each target's address and request indices,
/// every request's bytes (or template) and row, and the number of rows.
fn wires(config: &Config) -> Result<Wires, ConfigError> {
    let defs = config.request_defs();
    let (rows, row_of) = config.rows();
    let columns = config.data.as_ref().map(|d| d.columns.as_slice());
    let mut requests = Vec::with_capacity(defs.len());
    for (d, row) in defs.iter().zip(row_of) {
        let t = config.targets.get(d.target).ok_or(ConfigError::NoTargets)?;
        let spec = RequestSpec {
            method: &d.method,
            headers: &d.headers,
            body: &d.body,
            keep_alive: config.keep_alive,
        };
        let request = build_request(&spec, &t.host_header, &d.path);
        let template = match crate::template::has_template(&request) {
            false => None,
            true => {
                let (head, length) = build_head(&spec, &t.host_header, &d.path);
                let compile = |bytes: &[u8]| {
                    crate::template::Template::compile(bytes, columns, &d.place)
                        .map_err(|e| ConfigError::Template(e.to_string()))
                };
                Some(Box::new(crate::template::RequestTemplate {
                    head: compile(&head)?,
                    body: compile(&d.body)?,
                    length,
                }))
            }
        };
        let pipelined = if config.pipeline > 1 && template.is_none() {
            request.repeat(config.pipeline)
        } else {
            Vec::new()
        };
        requests.push(RequestWire {
            request: request.into_boxed_slice(),
            pipelined: pipelined.into_boxed_slice(),
            is_head: d.method.eq_ignore_ascii_case("HEAD"),
            h2: match config.http2 {
                crate::config::Http2Mode::Off => None,
                _ => Some(Box::new(
                    crate::proto::h2::build_h2(
                        &d.method,
                        &d.headers,
                        &d.body,
                        t.tls,
                        &t.host_header,
                        &d.path,
                        template.is_some().then_some(&|bytes: &[u8]| {
                            crate::template::Template::compile(bytes, columns, &d.place)
                                .map_err(|e| e.to_string())
                        }),
                    )
                    .map_err(crate::config::ConfigError::Http2)?,
                )),
            },
            template,
            row,
        });
    }
    let targets = config
        .targets
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let mine = defs
                .iter()
                .enumerate()
                .filter(|(_, d)| d.target == i)
                .map(|(k, _)| u32::try_from(k).unwrap_or(u32::MAX))
                .collect();
            Ok(TargetWire {
                addr: t.addr,
                tls_name: match t.tls {
                    true => Some(crate::tls::server_name(&t.host)?),
                    false => None,
                },
                requests: mine,
            })
        })
        .collect::<Result<_, ConfigError>>()?;
    Ok((targets, requests.into(), rows.len()))
}

/// Runs `config` to the end on the calling thread and returns its summary.
///
/// ```no_run
/// use myriad::{Config, Load, Stop};
///
/// let mut config = Config::new(&["http://127.0.0.1:8080/"])?;
/// config.load = Load::closed(10, Stop::Requests(1_000))?;
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
        let (issued, completed, failures) = WorkerProgress::sum(&self.progress);
        Progress {
            issued,
            completed,
            failures,
            open_connections: self.collector.open_connections(),
            elapsed: self.started.elapsed(),
        }
    }

    /// Adds a sink to the live feed: from now on it gets each statistics
    /// interval's merged figures as the interval completes, then `finish` at
    /// the end. Subscribe right after [`start`] to miss no interval.
    pub fn subscribe(&self, sink: Box<dyn crate::feed::Sink>) {
        if let Ok(mut sinks) = self.collector.sinks.lock() {
            sinks.push(sink);
        }
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
        self.handles.iter().all(|w| w.is_finished())
    }

    /// The configuration being run.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Process ids of the worker processes (empty for a run in this process).
    pub fn worker_pids(&self) -> &[u32] {
        &self.worker_pids
    }

    /// How the run is spread over processes, threads and source addresses.
    pub fn shape(&self) -> &Shape {
        &self.shape
    }

    /// Waits for every worker and merges their records.
    pub fn wait(self) -> Result<Summary, RunError> {
        for h in self.handles {
            // A worker thread that panicked sends no `Ended`; the collector
            // notices the closed channel once every sender is gone.
            let _ = h.join();
        }
        let collected = self.collector.finish();
        let elapsed = self.started.elapsed();
        let mut total = Tally::new();
        let targets: Vec<TargetSummary> = self
            .config
            .rows()
            .0
            .into_iter()
            .zip(&collected.recorder.targets)
            .map(|(row, tally)| {
                total.merge(tally);
                TargetSummary {
                    name: row.name,
                    url: row.url,
                    tally: tally.clone(),
                }
            })
            .collect();
        let parent_rss = sys::peak_rss_bytes();
        Ok(Summary {
            started_at: self.started_at,
            elapsed,
            connections: self.config.connections(),
            threads: self.shape.threads_per_process,
            processes: self.shape.processes,
            source_addresses: self.shape.source_addrs.len(),
            stop: self.config.stop(),
            keep_alive: self.config.keep_alive,
            interval: self.config.load.interval_every(),
            total,
            targets,
            connections_opened: collected.recorder.connections_opened,
            connect_latency: collected.recorder.connect_latency,
            tls_handshake: collected.recorder.tls_handshake,
            tls_resumed: collected.recorder.tls_resumed,
            send_lag: collected.recorder.send_lag,
            loop_stall: collected.recorder.loop_stall,
            gauges: collected.gauges,
            limits: collected.recorder.limits,
            open_files_limit: self.shape.open_files_limit,
            cpu: collected.cpu,
            peak_rss_bytes: parent_rss + collected.children_peak_rss,
            kernel: collected.kernel,
            worker_failures: collected.failures,
            open_model: self.config.load.open_model().is_some(),
            warmup: collected.recorder.warmup,
            series: collected.series,
            stats_interval: self.config.stats_interval,
            warmup_duration: self.config.warmup,
            thresholds: self.config.thresholds.clone(),
            interrupted: self.cancel.is_cancelled(),
            machine: crate::summary::Machine::capture(),
            verdicts: Vec::new(),
            inputs: Vec::new(),
            start: None,
        }
        .judged())
    }
}
