//! The live feed: each statistics interval's figures, merged over every
//! worker (threads and processes alike), handed to [`Sink`]s as the interval
//! completes.
//!
//! The collector completes interval `i` once every live worker has shipped
//! its delta for it, then calls each sink with an [`Interval`]: the interval's
//! figures ([`IntervalStats`]), its merged [`Tally`] (full HDR histograms, so
//! a sink can compute any percentile), and the connections open. The CLI's
//! progress line is a sink; the HdrHistogram interval log is one
//! ([`HdrLogSink`]); a live dashboard or a result-file writer is another.
//! Sinks run on the collector's thread, never on a worker's: a slow sink
//! delays the feed, not the load. Subscribe with [`crate::Run::subscribe`].

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use hdrhistogram::serialization::interval_log::IntervalLogWriterBuilder;
use hdrhistogram::serialization::V2DeflateSerializer;

use crate::metrics::Tally;
use crate::summary::IntervalStats;

/// One completed statistics interval, merged over every worker.
#[derive(Debug)]
pub struct Interval<'a> {
    /// Its index from the start of the run (interval `i` starts at `i × len`).
    pub index: u64,
    /// Its length (`--stats-interval`).
    pub len: Duration,
    /// Its figures: requests, errors, rate, percentiles (warm-up excluded).
    pub stats: &'a IntervalStats,
    /// Its merged counts and latency histogram (warm-up excluded).
    pub tally: &'a Tally,
    /// Connections open over all workers, as of their latest deltas.
    pub open_connections: u64,
}

/// Receives the live feed. Called on the collector's thread.
pub trait Sink: Send {
    /// A statistics interval has completed (in order, each once).
    fn interval(&mut self, interval: &Interval<'_>);
    /// The run has ended; no more intervals come.
    fn finish(&mut self) {}
}

/// Writes an HdrHistogram interval log of latency (the format HdrHistogram's
/// log tools and plotters read), one histogram per statistics interval.
pub struct HdrLogSink {
    file: Option<std::fs::File>,
    serializer: V2DeflateSerializer,
    started: bool,
}

impl HdrLogSink {
    /// Creates (truncates) the log file at `path`.
    pub fn create(path: &Path) -> std::io::Result<HdrLogSink> {
        Ok(HdrLogSink {
            file: Some(std::fs::File::create(path)?),
            serializer: V2DeflateSerializer::new(),
            started: false,
        })
    }
}

impl Sink for HdrLogSink {
    fn interval(&mut self, interval: &Interval<'_>) {
        let Some(file) = self.file.as_mut() else {
            return;
        };
        let mut builder = IntervalLogWriterBuilder::new();
        if !self.started {
            builder
                .add_comment("[Logged with myriad; latency in microseconds, max in milliseconds]")
                .add_comment("[Histogram log format version 1.3]")
                .with_start_time(std::time::SystemTime::now())
                .with_max_value_divisor(1000.0);
            self.started = true;
        }
        let written = builder
            .begin_log_with(&mut *file, &mut self.serializer)
            .map(|mut w| {
                w.write_histogram(
                    interval.tally.latency(),
                    interval.len * interval.index as u32,
                    interval.len,
                    None,
                )
                .is_ok()
            });
        if !matches!(written, Ok(true)) {
            // A log that cannot be written is abandoned, not retried per interval.
            self.file = None;
        }
    }

    fn finish(&mut self) {
        if let Some(file) = self.file.as_mut() {
            let _ = file.flush();
        }
    }
}
