//! How a run's connections and request budget are split over worker threads.
//!
//! A pure function of the configuration, so it is table-tested. Connections are
//! dealt to targets round-robin (connection `i` serves target `i % targets`), and
//! to workers round-robin. With `-n`, each target gets an equal share of the
//! requests (the first `n % targets` get one more), and each target's share is
//! split over its connections the same way; a worker's budget for a target is the
//! sum of its connections' shares. Inside a worker the connections of a target
//! draw from that budget as they go, so no request count crosses threads.

/// One connection of a worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ConnPlan {
    /// The target it serves.
    pub target: usize,
    /// Its index among all connections of the run (picks its source address).
    pub index: usize,
}

/// What one worker thread runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WorkerPlan {
    /// The connections this worker owns.
    pub connections: Vec<ConnPlan>,
    /// Requests this worker may issue per target; `None` means unbounded
    /// (the run stops by duration).
    pub budgets: Vec<Option<u64>>,
}

/// Part `i` of `total` split into `parts` as evenly as whole numbers allow:
/// the first `total % parts` parts get one more.
pub(crate) fn share(total: u64, parts: u64, i: u64) -> u64 {
    total / parts + u64::from(i < total % parts)
}

/// Splits `connections` over `threads` workers and `targets` targets, with
/// `requests` in total when the run is bounded by count.
pub(crate) fn plan(
    connections: usize,
    threads: usize,
    targets: usize,
    requests: Option<u64>,
) -> Vec<WorkerPlan> {
    let threads = threads.clamp(1, connections.max(1));
    let mut workers: Vec<WorkerPlan> = (0..threads)
        .map(|_| WorkerPlan {
            connections: Vec::new(),
            budgets: vec![requests.map(|_| 0); targets],
        })
        .collect();
    for conn in 0..connections {
        let target = conn % targets;
        let worker = conn % threads;
        workers[worker].connections.push(ConnPlan {
            target,
            index: conn,
        });
        if let Some(n) = requests {
            let target_requests = share(n, targets as u64, target as u64);
            let target_conns = share(connections as u64, targets as u64, target as u64);
            let index_in_target = (conn / targets) as u64;
            let quota = share(target_requests, target_conns, index_in_target);
            if let Some(b) = workers[worker].budgets[target].as_mut() {
                *b += quota;
            }
        }
    }
    workers
}

#[cfg(test)]
mod tests {
    use super::*;

    fn totals(plans: &[WorkerPlan], targets: usize) -> Vec<u64> {
        (0..targets)
            .map(|t| plans.iter().map(|p| p.budgets[t].unwrap()).sum())
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
            let plans = plan(c, t, n_targets, Some(n));
            assert_eq!(plans.len(), t.min(c), "{c} {t}");
            let conns: usize = plans.iter().map(|p| p.connections.len()).sum();
            assert_eq!(conns, c);
            let per_target = totals(&plans, n_targets);
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
        let plans = plan(5, 2, 2, None);
        let targets = |p: &WorkerPlan| p.connections.iter().map(|c| c.target).collect::<Vec<_>>();
        assert_eq!(targets(&plans[0]), vec![0, 0, 0]);
        assert_eq!(targets(&plans[1]), vec![1, 1]);
        assert_eq!(plans[1].connections[1].index, 3);
        assert_eq!(plans[0].budgets, vec![None, None]);
        let plans = plan(4, 2, 1, Some(10));
        assert_eq!(plans[0].budgets, vec![Some(5)]);
        assert_eq!(plans[1].budgets, vec![Some(5)]);
    }
}
