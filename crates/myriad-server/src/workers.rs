//! A server of several processes: what a worker process tells its supervisor
//! ([`WorkerLine`]) and how the supervisor adds the workers up ([`Tally`]).
//!
//! One process may hold only as many connections as it may open files (about
//! 20,000 on the machines myriad is built on), so a million-connection server
//! is dozens of processes listening on the same ports with `SO_REUSEPORT`.
//! Each worker writes one line per event on its stdout: `ready` once it
//! listens, then its counters every so often and once more at the end. The
//! lines are in the line format of [`myriad::supervise`], the one `myriad
//! run`'s worker processes speak too: versioned JSON objects, such as
//! `{"v":1,"kind":"stats","connections_accepted":3,"connections_open":1,
//! "peak_connections":2,"requests_served":9,"bad_requests":0,"header_timeouts":0,
//! "heads_too_large":0,"bodies_too_large":0,"tls_handshakes":0,
//! "tls_handshake_failures":0}` (the fields of [`StatsSnapshot`]; the TLS,
//! 431 and 413 counters may be absent, as in lines of a worker older than
//! them, and then read as 0).
//!
//! Spawning, watching and stopping the processes is [`myriad::supervise`]'s
//! and the CLI's business; this module is pure, so the accounting is tested
//! without processes.

use serde::{Deserialize, Serialize};

use crate::stats::StatsSnapshot;

/// One line of a worker's stdout (kinds `ready`, `stats`, `final`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WorkerLine {
    /// The worker listens on every address: the supervisor may announce them.
    Ready,
    /// The worker's counters now (sent periodically, and once more just before
    /// it closes its connections, while they are still counted as open).
    Stats(StatsSnapshot),
    /// The worker's counters after it closed every connection; its last line.
    Final(StatsSnapshot),
}

/// How a worker process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerEnd {
    /// It was asked to stop (its stdin closed, or a signal) and said goodbye
    /// with a [`WorkerLine::Final`].
    Stopped,
    /// Its output ended without a final line: killed, crashed, or out of memory.
    Died,
}

/// The supervisor's account of its workers: each worker's latest counters and
/// how it ended, and the peak of their sum.
///
/// The peak of concurrent connections of the whole server is at least the
/// largest sum of the workers' open connections seen at once and at least any
/// one worker's own peak; [`Tally::total`] reports the larger of the two. The
/// sum is sampled whenever a worker reports its counters, from each worker's
/// latest [`WorkerLine::Stats`]. A [`WorkerLine::Final`] does not lower a
/// worker's share of that sum: when the supervisor stops its workers they all
/// report their open connections just before closing them, and those
/// connections were open together, whatever order the reports arrive in.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    workers: Vec<Worker>,
    peak_of_sum: u64,
}

#[derive(Debug, Clone, Copy, Default)]
struct Worker {
    /// Latest counters, from a `Stats` or `Final` line.
    last: StatsSnapshot,
    /// Open connections as the latest `Stats` line said: this worker's share
    /// of the sum the peak is sampled from.
    open: u64,
    end: Option<WorkerEnd>,
}

impl Tally {
    /// `workers` workers, none reported yet.
    pub fn new(workers: usize) -> Self {
        Tally {
            workers: vec![Worker::default(); workers],
            peak_of_sum: 0,
        }
    }

    /// Number of workers.
    pub fn len(&self) -> usize {
        self.workers.len()
    }

    /// Whether there are no workers at all.
    pub fn is_empty(&self) -> bool {
        self.workers.is_empty()
    }

    /// Takes a line from `worker`: counters from `Stats` and `Final` lines (see
    /// [`Tally`] for how each counts toward the peak); `Ready` changes nothing.
    /// An index out of range is ignored.
    pub fn record(&mut self, worker: usize, line: WorkerLine) {
        let Some(w) = self.workers.get_mut(worker) else {
            return;
        };
        match line {
            WorkerLine::Ready => {}
            WorkerLine::Stats(snapshot) => {
                w.last = snapshot;
                w.open = snapshot.connections_open;
                let sum = self.workers.iter().map(|w| w.open).sum();
                self.peak_of_sum = self.peak_of_sum.max(sum);
            }
            WorkerLine::Final(snapshot) => w.last = snapshot,
        }
    }

    /// Notes how `worker` ended; only the first call per worker counts, and
    /// returns true. A worker that died took its connections with it: they no
    /// longer count toward the sum.
    pub fn end(&mut self, worker: usize, how: WorkerEnd) -> bool {
        let Some(w) = self.workers.get_mut(worker) else {
            return false;
        };
        if w.end.is_some() {
            return false;
        }
        w.end = Some(how);
        if how == WorkerEnd::Died {
            w.open = 0;
        }
        true
    }

    /// Stops counting `worker`'s connections toward the sum: for a worker that
    /// stopped on its own while the others serve on.
    pub fn closed_all(&mut self, worker: usize) {
        if let Some(w) = self.workers.get_mut(worker) {
            w.open = 0;
        }
    }

    /// How `worker` ended, or `None` while it runs.
    pub fn ended(&self, worker: usize) -> Option<WorkerEnd> {
        self.workers.get(worker).and_then(|w| w.end)
    }

    /// Workers still running.
    pub fn running(&self) -> usize {
        self.workers.iter().filter(|w| w.end.is_none()).count()
    }

    /// Workers that died (see [`WorkerEnd::Died`]).
    pub fn died(&self) -> usize {
        let died = Some(WorkerEnd::Died);
        self.workers.iter().filter(|w| w.end == died).count()
    }

    /// Each worker's latest counters, in worker order.
    pub fn per_worker(&self) -> impl Iterator<Item = StatsSnapshot> + '_ {
        self.workers.iter().map(|w| w.last)
    }

    /// The whole server's counters: sums of the workers' latest counters, with
    /// the peak as described on [`Tally`].
    pub fn total(&self) -> StatsSnapshot {
        let mut total = StatsSnapshot::default();
        let mut worker_peak = 0;
        for s in self.per_worker() {
            total.connections_accepted += s.connections_accepted;
            total.connections_open += s.connections_open;
            total.requests_served += s.requests_served;
            total.bad_requests += s.bad_requests;
            total.header_timeouts += s.header_timeouts;
            total.heads_too_large += s.heads_too_large;
            total.bodies_too_large += s.bodies_too_large;
            total.tls_handshakes += s.tls_handshakes;
            total.tls_handshake_failures += s.tls_handshake_failures;
            worker_peak = worker_peak.max(s.peak_connections);
        }
        total.peak_connections = self.peak_of_sum.max(worker_peak);
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(accepted: u64, open: u64, peak: u64, requests: u64) -> StatsSnapshot {
        StatsSnapshot {
            connections_accepted: accepted,
            connections_open: open,
            peak_connections: peak,
            requests_served: requests,
            bad_requests: 1,
            header_timeouts: 2,
            heads_too_large: 5,
            bodies_too_large: 6,
            tls_handshakes: 3,
            tls_handshake_failures: 4,
        }
    }

    #[test]
    fn lines_round_trip_in_the_shared_line_format() {
        use myriad::supervise::{decode, encode, LineError};

        let s = snap(10, 3, 7, 99);
        for line in [
            WorkerLine::Ready,
            WorkerLine::Stats(s),
            WorkerLine::Final(s),
        ] {
            let text = encode(&line).unwrap();
            assert_eq!(decode::<WorkerLine>(&text).unwrap(), line, "{text}");
        }
        assert_eq!(
            encode(&WorkerLine::Ready).unwrap(),
            r#"{"v":1,"kind":"ready"}"#
        );
        assert_eq!(
            encode(&WorkerLine::Stats(s)).unwrap(),
            r#"{"v":1,"kind":"stats","connections_accepted":10,"connections_open":3,"peak_connections":7,"requests_served":99,"bad_requests":1,"header_timeouts":2,"heads_too_large":5,"bodies_too_large":6,"tls_handshakes":3,"tls_handshake_failures":4}"#
        );
        // A line from before the TLS and 431/413 counters still decodes, with zeros.
        let old = r#"{"v":1,"kind":"stats","connections_accepted":10,"connections_open":3,"peak_connections":7,"requests_served":99,"bad_requests":1,"header_timeouts":2}"#;
        let expect = StatsSnapshot {
            heads_too_large: 0,
            bodies_too_large: 0,
            tls_handshakes: 0,
            tls_handshake_failures: 0,
            ..s
        };
        assert_eq!(
            decode::<WorkerLine>(old).unwrap(),
            WorkerLine::Stats(expect)
        );
        assert!(matches!(
            decode::<WorkerLine>(r#"{"v":2,"kind":"ready"}"#),
            Err(LineError::Version { .. })
        ));
        for bad in [
            "",
            "ready",
            "stats accepted=1 open=0 peak=0 requests=0 bad=0 timeouts=0",
            r#"{"v":1,"kind":"stats","connections_accepted":1}"#,
            r#"{"v":1,"kind":"other"}"#,
        ] {
            assert!(decode::<WorkerLine>(bad).is_err(), "{bad}");
        }
    }

    fn stats(t: &mut Tally, worker: usize, s: StatsSnapshot) {
        t.record(worker, WorkerLine::Stats(s));
    }

    #[test]
    fn total_sums_and_takes_the_larger_peak() {
        let mut t = Tally::new(3);
        stats(&mut t, 0, snap(5, 5, 5, 5));
        stats(&mut t, 1, snap(4, 4, 4, 4));
        stats(&mut t, 2, snap(6, 6, 6, 6));
        // Later the first worker's connections close.
        stats(&mut t, 0, snap(5, 0, 5, 10));
        t.record(0, WorkerLine::Ready);
        let total = t.total();
        assert_eq!(total.connections_accepted, 15);
        assert_eq!(total.connections_open, 10);
        assert_eq!(total.requests_served, 20);
        assert_eq!(total.bad_requests, 3);
        assert_eq!(total.header_timeouts, 6);
        assert_eq!(total.heads_too_large, 15);
        assert_eq!(total.bodies_too_large, 18);
        assert_eq!(total.tls_handshakes, 9);
        assert_eq!(total.tls_handshake_failures, 12);
        assert_eq!(total.peak_connections, 15, "peak of the sum");

        // A worker whose own peak fell between reports still bounds the total.
        let mut t = Tally::new(2);
        stats(&mut t, 0, snap(9, 0, 9, 0));
        stats(&mut t, 1, snap(1, 1, 1, 0));
        assert_eq!(t.total().peak_connections, 9);
        stats(&mut t, 7, snap(100, 100, 100, 100));
        assert_eq!(t.total().connections_accepted, 10, "out of range ignored");
    }

    /// Stopping: each worker reports its open connections, then closes them and
    /// sends its final counters. However the lines interleave, the connections
    /// open at the stop were open together.
    #[test]
    fn final_lines_do_not_hide_connections_open_at_the_stop() {
        let mut t = Tally::new(3);
        stats(&mut t, 0, snap(10, 10, 10, 10));
        t.record(0, WorkerLine::Final(snap(10, 0, 10, 10)));
        stats(&mut t, 1, snap(12, 12, 12, 12));
        t.record(1, WorkerLine::Final(snap(12, 0, 12, 12)));
        stats(&mut t, 2, snap(8, 8, 8, 8));
        t.record(2, WorkerLine::Final(snap(8, 0, 8, 8)));
        let total = t.total();
        assert_eq!(total.peak_connections, 30);
        assert_eq!(total.connections_open, 0);
        assert_eq!(total.requests_served, 30);
    }

    #[test]
    fn ended_workers_stop_counting_as_open() {
        let mut t = Tally::new(2);
        stats(&mut t, 0, snap(10, 10, 10, 10));
        assert!(t.end(0, WorkerEnd::Died));
        stats(&mut t, 1, snap(10, 10, 10, 10));
        assert_eq!(t.total().peak_connections, 10, "the dead worker's are gone");

        let mut t = Tally::new(2);
        stats(&mut t, 0, snap(10, 10, 10, 10));
        t.record(0, WorkerLine::Final(snap(10, 0, 10, 10)));
        t.end(0, WorkerEnd::Stopped);
        t.closed_all(0);
        stats(&mut t, 1, snap(10, 10, 10, 10));
        assert_eq!(t.total().peak_connections, 10);
    }

    #[test]
    fn endings_count_once_and_keep_the_last_counts() {
        let mut t = Tally::new(3);
        stats(&mut t, 1, snap(8, 2, 3, 8));
        assert_eq!(t.running(), 3);
        assert!(t.end(1, WorkerEnd::Died));
        assert!(
            !t.end(1, WorkerEnd::Stopped),
            "only the first ending counts"
        );
        assert!(t.end(2, WorkerEnd::Stopped));
        assert!(!t.end(9, WorkerEnd::Died));
        assert_eq!(t.ended(1), Some(WorkerEnd::Died));
        assert_eq!(t.ended(0), None);
        assert_eq!((t.running(), t.died()), (1, 1));
        assert_eq!(t.total().connections_accepted, 8);
        let accepted: Vec<_> = t.per_worker().map(|s| s.connections_accepted).collect();
        assert_eq!(accepted, [0, 8, 0]);
    }
}
