//! The plan of a run, made once from its [`Config`]: what `--dry-run` prints
//! and exactly what the engine starts.
//!
//! [`Plan::new`] validates the configuration, lays the run out on this
//! machine ([`Shape`]: processes, threads, source addresses, connect rate),
//! and splits the load over processes and their worker threads. Nothing
//! validates, shapes or splits again later: a worker process receives its
//! [`ProcessPlan`] ready-made.
//!
//! The split is a pure function of the configuration, so it is table-tested.
//! Connections are dealt to targets round-robin (connection `i` serves target
//! `i % targets`) and to a process's threads round-robin (thread `t` of `T`
//! owns connections `t, t + T, t + 2T, ...`). With `-n`, each target gets an
//! equal share of the requests (the first `n % targets` one more), split over
//! its connections the same way; a thread's budget for a target is the sum of
//! its connections' shares, drawn from as its connections go, so no request
//! count crosses threads. In the open model each thread follows its share of
//! the schedule, phase-shifted so the threads' arrivals interleave.

use serde::{Deserialize, Serialize};

use super::shape::Shape;
use super::RunError;
use crate::config::{share, Config, Load, OpenModel, Stop};
use crate::sys;

/// A run laid out on this machine, ready to start.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The validated configuration.
    pub config: Config,
    /// Processes, threads, source addresses and connect rate.
    pub shape: Shape,
    /// What each process runs: one entry when the run stays in this process,
    /// else one per worker process.
    pub processes: Vec<ProcessPlan>,
}

/// What one process runs: its share of the load, split over its threads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessPlan {
    /// This process's share of the load.
    pub load: Load,
    /// Its worker threads' parts.
    pub workers: Vec<WorkerPlan>,
}

/// What one worker thread runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerPlan {
    /// The process's connections this thread owns: indices `first`,
    /// `first + stride`, ... (`count` of them; in the open model, the most it
    /// may open). A connection's index picks its source address and, in a
    /// ramp, when it works.
    pub first: usize,
    /// Distance between this thread's connection indices.
    pub stride: usize,
    /// How many connections (the open model: at most).
    pub count: usize,
    /// Requests this thread may issue per target; `None` when the run stops
    /// by time (the open model bounds by `open.budget` instead).
    pub budgets: Vec<Option<u64>>,
    /// Connects per second for this thread, if paced.
    pub connect_rate: Option<f64>,
    /// The open model: this thread's share of the schedule.
    pub open: Option<OpenShare>,
    /// Seed of this thread's random request order and template values.
    #[serde(default)]
    pub seed: u64,
    /// This thread's place among all threads of the run, and their number:
    /// its `{{seq}}` numbers are `offset`, `offset + stride`, ...
    #[serde(default)]
    pub sequence_offset: usize,
    /// See `sequence_offset`.
    #[serde(default)]
    pub sequence_stride: usize,
}

/// One thread's share of an open-model schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenShare {
    /// The schedule with its rates divided among the threads.
    pub model: OpenModel,
    /// Uniform arrivals: this thread's are at cumulative counts `k + phase`,
    /// so the threads' arrivals interleave evenly.
    pub phase: f64,
    /// Requests this thread may send at most (runs bounded by count).
    pub budget: Option<u64>,
    /// Seed of the Poisson arrivals.
    pub seed: u64,
}

impl WorkerPlan {
    /// The process-wide indices of this thread's connections.
    pub fn indices(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.count).map(move |k| self.first + k * self.stride)
    }
}

impl Plan {
    /// Validates `config` and lays it out on this machine (raising the
    /// open-files limit to its hard limit first). The one place a run is
    /// checked: an error here means nothing was sent.
    pub fn new(config: Config) -> Result<Plan, RunError> {
        config.validate()?;
        let limit = sys::raise_open_files_limit();
        let shape = Shape::fit(&config, limit)?;
        let seed = config.seed.unwrap_or_else(|| fastrand::u64(..));
        let targets = config.targets.len();
        let p = shape.processes;
        let mut processes: Vec<ProcessPlan> = (0..p)
            .map(|i| {
                let load = if p > 1 {
                    config.load.part(i, p)
                } else {
                    config.load.clone()
                };
                let connect_rate = shape.connect_rate.map(|r| r / p as f64);
                let seed = seed.wrapping_add((i * shape.threads_per_process) as u64);
                let mut part = ProcessPlan::split(
                    load,
                    shape.threads_per_process,
                    targets,
                    connect_rate,
                    seed,
                );
                // Slot `i` of `slots` processes of the whole run (over all
                // shards): the processes' uniform arrivals interleave too.
                let (slot, slots) = match &config.shard {
                    Some(s) => (s.index * p + i, s.count * p),
                    None => (i, p),
                };
                part.interleave(slot, slots);
                part
            })
            .collect();
        // Number every thread of the run, so `{{seq}}` is unique across them.
        let total: usize = processes.iter().map(|p| p.workers.len()).sum();
        for (offset, w) in processes
            .iter_mut()
            .flat_map(|p| p.workers.iter_mut())
            .enumerate()
        {
            w.sequence_offset = offset;
            w.sequence_stride = total;
        }
        Ok(Plan {
            config,
            shape,
            processes,
        })
    }

    /// The plan for people, several lines (what `--dry-run` prints).
    pub fn describe(&self) -> String {
        self.shape.describe(&self.config)
    }

    /// Workers that report to the collector: processes, or this process's threads.
    pub(crate) fn sources(&self) -> usize {
        match self.processes.as_slice() {
            [one] => one.workers.len(),
            many => many.len(),
        }
    }
}

impl ProcessPlan {
    /// Splits `load` over `threads` worker threads (fewer if it has fewer
    /// connections) for `targets` targets.
    pub fn split(
        load: Load,
        threads: usize,
        targets: usize,
        connect_rate: Option<f64>,
        seed: u64,
    ) -> ProcessPlan {
        let connections = load.connections();
        let threads = threads.clamp(1, connections.max(1));
        let requests = match load.stop() {
            Stop::Requests(n) => Some(n),
            Stop::Duration(_) => None,
        };
        let open = load.open_model().cloned();
        let workers = (0..threads)
            .map(|t| {
                let count = connections.saturating_sub(t).div_ceil(threads);
                let mut plan = WorkerPlan {
                    first: t,
                    stride: threads,
                    count,
                    budgets: vec![None; targets],
                    connect_rate: connect_rate.map(|r| r / threads as f64),
                    open: None,
                    seed: seed.wrapping_add(t as u64),
                    sequence_offset: t,
                    sequence_stride: threads,
                };
                match &open {
                    Some(model) => {
                        plan.open = Some(OpenShare {
                            model: model.scaled(1.0 / threads as f64),
                            phase: (t + 1) as f64 / threads as f64,
                            budget: requests.map(|n| share(n, threads as u64, t as u64)),
                            seed: seed.wrapping_add(t as u64),
                        });
                    }
                    None => {
                        if let Some(n) = requests {
                            plan.budgets = budgets(&plan, connections, targets, n);
                        }
                    }
                }
                plan
            })
            .collect();
        ProcessPlan { load, workers }
    }

    /// Whether this process has nothing to do (a share of zero).
    pub fn is_empty(&self) -> bool {
        self.load.is_empty()
    }

    /// Shifts the open model's phases as process `slot` of `slots` that
    /// follow the same schedule side by side (worker processes, shards), so
    /// their uniform arrivals interleave instead of coinciding.
    pub fn interleave(&mut self, slot: usize, slots: usize) {
        if slots <= 1 {
            return;
        }
        for w in &mut self.workers {
            if let Some(open) = w.open.as_mut() {
                open.phase = (slot as f64 + open.phase) / slots as f64;
            }
        }
    }
}

/// A thread's request budget per target when `n` requests are split over
/// `connections` connections of `targets` targets.
fn budgets(plan: &WorkerPlan, connections: usize, targets: usize, n: u64) -> Vec<Option<u64>> {
    let mut out = vec![Some(0); targets];
    for conn in plan.indices() {
        let target = conn % targets;
        let target_requests = share(n, targets as u64, target as u64);
        let target_conns = share(connections as u64, targets as u64, target as u64);
        let quota = share(target_requests, target_conns, (conn / targets) as u64);
        if let Some(b) = out[target].as_mut() {
            *b += quota;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(connections: usize, threads: usize, targets: usize, n: Option<u64>) -> ProcessPlan {
        let stop = n.map_or(
            Stop::Duration(std::time::Duration::from_secs(1)),
            Stop::Requests,
        );
        ProcessPlan::split(
            Load::Closed { connections, stop },
            threads,
            targets,
            None,
            0,
        )
    }

    fn totals(plan: &ProcessPlan, targets: usize) -> Vec<u64> {
        (0..targets)
            .map(|t| plan.workers.iter().map(|p| p.budgets[t].unwrap()).sum())
            .collect()
    }

    #[test]
    fn exact_totals_for_many_shapes() {
        // (connections, threads, targets, requests)
        let cases = [
            (1, 1, 1, 1),
            (10, 2, 1, 3),
            (10, 2, 1, 1_000_000),
            (7, 3, 2, 101),
            (1000, 2, 3, 999_999),
            (4, 8, 4, 2),
            (50, 2, 1, 49),
        ];
        for (c, t, n_targets, n) in cases {
            let plan = split(c, t, n_targets, Some(n));
            assert_eq!(plan.workers.len(), t.min(c), "{c} {t}");
            let conns: usize = plan.workers.iter().map(|p| p.count).sum();
            assert_eq!(conns, c);
            let per_target = totals(&plan, n_targets);
            assert_eq!(per_target.iter().sum::<u64>(), n, "{c} {t} {n_targets} {n}");
            let (min, max) = (per_target.iter().min(), per_target.iter().max());
            assert!(
                max.unwrap() - min.unwrap() <= 1,
                "even split: {per_target:?}"
            );
        }
    }

    #[test]
    fn connections_dealt_round_robin() {
        let plan = split(5, 2, 2, None);
        let targets = |p: &WorkerPlan| p.indices().map(|i| i % 2).collect::<Vec<_>>();
        assert_eq!(targets(&plan.workers[0]), vec![0, 0, 0]);
        assert_eq!(targets(&plan.workers[1]), vec![1, 1]);
        assert_eq!(plan.workers[1].indices().nth(1), Some(3));
        assert_eq!(plan.workers[0].budgets, vec![None, None]);
        let plan = split(4, 2, 1, Some(10));
        assert_eq!(plan.workers[0].budgets, vec![Some(5)]);
        assert_eq!(plan.workers[1].budgets, vec![Some(5)]);
    }

    #[test]
    fn open_shares_interleave_and_sum_to_the_budget() {
        let load = Load::open(1000.0, 10, Stop::Requests(101)).unwrap();
        let plan = ProcessPlan::split(load, 3, 1, Some(300.0), 7);
        let shares: Vec<&OpenShare> = plan
            .workers
            .iter()
            .filter_map(|w| w.open.as_ref())
            .collect();
        assert_eq!(shares.len(), 3);
        assert_eq!(shares.iter().map(|s| s.budget.unwrap()).sum::<u64>(), 101);
        let phases: Vec<f64> = shares.iter().map(|s| s.phase).collect();
        assert_eq!(phases, vec![1.0 / 3.0, 2.0 / 3.0, 1.0]);
        assert!(shares
            .iter()
            .all(|s| (s.model.rate - 1000.0 / 3.0).abs() < 1e-9));
        assert_eq!(plan.workers[0].connect_rate, Some(100.0));
        assert_eq!(plan.workers.iter().map(|w| w.count).sum::<usize>(), 10);
    }
}
