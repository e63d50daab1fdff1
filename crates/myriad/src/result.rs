//! Result files: a run saved with everything its report needs, read back into
//! the same [`Summary`], and several merged exactly.
//!
//! `myriad run -o FILE` writes the JSON report (schema
//! [`crate::report::JSON_SCHEMA`]) with one more top-level field, `"result"`:
//! a [`ResultFile`], the raw data the report was computed from. Readers of the
//! JSON report keep working; `myriad report` and `myriad compare` read only
//! the `"result"` section and compute every figure again with the same code
//! as the live run ([`ReportModel::from_summary`](crate::report::ReportModel::from_summary)),
//! so a saved run renders exactly as it did live.
//!
//! The section (schema [`JSON_SCHEMA`]):
//!
//! | field | meaning |
//! |---|---|
//! | `kind`, `v` | `"myriad-result"` and [`VERSION`]; a reader refuses other versions |
//! | `started_at`, `started_unix_ms` | the run's wall-clock start, RFC 3339 (UTC) and Unix milliseconds |
//! | `config` | the settings asked for ([`RunSettings`]; header names, not values) |
//! | `run` | the summary's facts ([`RunFacts`]): times in nanoseconds, counts, levels |
//! | `total`, `targets[].tally`, `warmup` | tallies ([`WireTally`]): counts and HDR histograms |
//! | `histograms` | connect, TLS handshake, send lag and event-loop stall histograms |
//! | `series` | per statistics interval: the report's figures plus the interval's tally |
//! | `shard` | only for `--shard`: `index`, `count`, `run` (the run's identity), `run_connections` ([`ShardInfo`]) |
//! | `start` | only for `--start-at`: `at`, `at_unix_ms`, `late`, `late_ns` ([`StoredStart`]) |
//!
//! Every histogram is HdrHistogram's V2 format compressed with deflate
//! (as in HdrHistogram interval logs), base64: any HdrHistogram library reads
//! it, percentiles are recomputed exactly, and merged histograms are exact.
//! Durations are integer nanoseconds so a round trip changes no figure.
//!
//! [`merge`] merges files of the same targets into one [`Summary`] (see there).

mod merge;

use std::io::{self, Write};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::config::{Config, Http2Mode, Stop};
use crate::metrics::wire::{decode, encode_compressed, WireError, WireTally};
use crate::metrics::{Gauges, LimitHits, Tally};
use crate::report::ReportModel;
use crate::shard::ShardInfo;
use crate::start_at::StartRecord;
use crate::summary::{IntervalStats, KernelUsage, Machine, Summary, TargetSummary};
use crate::sys::CpuTime;
use crate::threshold::Threshold;

pub use merge::merge;

/// The `kind` of a result section.
pub const KIND: &str = "myriad-result";

/// The version of the result format, in its `v` field.
pub const VERSION: u32 = 1;

/// The JSON Schema of a result file (the JSON report plus its `result`).
pub const JSON_SCHEMA: &str = include_str!("../../../schema/result.schema.json");

/// Why a result file could not be read or merged; every message names the file.
#[derive(Debug, thiserror::Error)]
pub enum ResultError {
    /// The file could not be read.
    #[error("{file}: cannot read it: {source}")]
    Io {
        /// The file.
        file: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The file is not JSON.
    #[error("{file}: not a JSON document ({message})")]
    Json {
        /// The file.
        file: String,
        /// What the JSON parser said.
        message: String,
    },
    /// JSON without a result section (a `--json` report, or something else).
    #[error("{file}: not a myriad result file: it has no \"result\" section of kind \"{KIND}\" (write one with `myriad run -o FILE`)")]
    NotAResult {
        /// The file.
        file: String,
    },
    /// A result of a format version this build does not read.
    #[error("{file}: a result of format version {found}; this build reads version {VERSION}")]
    Version {
        /// The file.
        file: String,
        /// The version it says it has.
        found: u64,
    },
    /// A result section whose fields are missing or wrong.
    #[error("{file}: malformed result: {message}")]
    Malformed {
        /// The file.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// Shards that do not make up one whole run (different runs, a shard
    /// twice, a shard missing); the message names the files.
    #[error("{0}")]
    Shards(#[from] crate::shard::ShardError),
    /// Results that cannot be merged: other targets or interval lengths.
    #[error("cannot merge {first} and {other}: {why}")]
    Incompatible {
        /// The first file, which the others must match.
        first: String,
        /// The file that does not.
        other: String,
        /// What differs.
        why: String,
    },
    /// Nothing to merge.
    #[error("no result files given")]
    Empty,
}

/// The settings a run was asked for: what to compare runs by. Informational:
/// reports are computed from [`RunFacts`] and the tallies. Header values and
/// the body are left out (they may hold credentials); their names and size
/// are kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSettings {
    /// The URLs, in the order given.
    pub targets: Vec<String>,
    /// The load model, as [`crate::Load`] serialises it.
    pub load: serde_json::Value,
    /// Request method.
    pub method: String,
    /// Names of the extra request headers.
    pub header_names: Vec<String>,
    /// Size of the request body, bytes.
    pub body_bytes: u64,
    /// Request timeout, nanoseconds.
    pub timeout_ns: u64,
    /// Connect timeout, nanoseconds.
    pub connect_timeout_ns: u64,
    /// Worker threads asked for.
    pub threads: usize,
    /// Whether connections were reused.
    pub keep_alive: bool,
    /// HTTP/1.1 requests in flight per connection.
    pub pipeline: usize,
    /// `http/1.1`, `h2` (over TLS) or `h2c`.
    pub protocol: String,
    /// HTTP/2 streams per connection.
    pub streams: usize,
    /// The Unix socket connected to, if any.
    pub unix_socket: Option<String>,
    /// Whether certificates went unverified (`-k`).
    pub insecure: bool,
}

impl RunSettings {
    /// The settings of `config`.
    pub fn of(config: &Config) -> RunSettings {
        RunSettings {
            targets: config.targets.iter().map(|t| t.url.clone()).collect(),
            load: serde_json::to_value(&config.load).unwrap_or(serde_json::Value::Null),
            method: config.method.clone(),
            header_names: config.headers.iter().map(|(n, _)| n.clone()).collect(),
            body_bytes: config.body.len() as u64,
            timeout_ns: nanos(config.timeout),
            connect_timeout_ns: nanos(config.connect_timeout),
            threads: config.threads,
            keep_alive: config.keep_alive,
            pipeline: config.pipeline,
            protocol: match config.http2 {
                Http2Mode::Off => "http/1.1",
                Http2Mode::Tls => "h2",
                Http2Mode::PriorKnowledge => "h2c",
            }
            .into(),
            streams: config.streams,
            unix_socket: config.unix_socket.as_ref().map(|p| p.display().to_string()),
            insecure: config.tls.insecure,
        }
    }
}

/// The facts of a [`Summary`] besides its tallies and histograms; times in
/// nanoseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunFacts {
    /// [`Summary::elapsed`].
    pub elapsed_ns: u64,
    /// [`Summary::connections`].
    pub connections: usize,
    /// [`Summary::threads`].
    pub threads: usize,
    /// [`Summary::processes`].
    pub processes: usize,
    /// [`Summary::source_addresses`].
    pub source_addresses: usize,
    /// Requests asked for, when bounded by count ([`Summary::stop`]).
    pub requests: Option<u64>,
    /// Duration asked for, when bounded by time ([`Summary::stop`]).
    pub duration_ns: Option<u64>,
    /// [`Summary::keep_alive`].
    pub keep_alive: bool,
    /// [`Summary::interval`].
    pub interval_ns: Option<u64>,
    /// [`Summary::open_model`].
    pub open_model: bool,
    /// [`Summary::warmup_duration`].
    pub warmup_ns: Option<u64>,
    /// [`Summary::stats_interval`].
    pub stats_interval_ns: u64,
    /// [`Summary::thresholds`], as given; judged again when read.
    pub thresholds: Vec<String>,
    /// [`Summary::interrupted`].
    pub interrupted: bool,
    /// [`Summary::connections_opened`].
    pub connections_opened: u64,
    /// [`Summary::tls_resumed`].
    pub tls_resumed: u64,
    /// [`Summary::gauges`].
    pub gauges: Gauges,
    /// [`Summary::limits`].
    pub limits: LimitHits,
    /// [`Summary::open_files_limit`].
    pub open_files_limit: u64,
    /// [`Summary::cpu`], user time.
    pub cpu_user_ns: u64,
    /// [`Summary::cpu`], system time.
    pub cpu_system_ns: u64,
    /// [`Summary::peak_rss_bytes`].
    pub peak_rss_bytes: u64,
    /// [`Summary::kernel`].
    pub kernel: Option<KernelUsage>,
    /// [`Summary::worker_failures`].
    pub worker_failures: Vec<String>,
    /// [`Machine::cores`].
    pub cores: usize,
    /// [`Machine::ephemeral_port_range`].
    pub ephemeral_port_range: Option<(u16, u16)>,
}

/// The run-wide histograms of a [`Summary`], compressed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunHistograms {
    /// [`Summary::connect_latency`].
    pub connect_latency: String,
    /// [`Summary::tls_handshake`].
    pub tls_handshake: String,
    /// [`Summary::send_lag`].
    pub send_lag: String,
    /// [`Summary::loop_stall`].
    pub loop_stall: String,
}

/// One report row of a result: a URL, or a request type of a targets file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredTarget {
    /// The row's name (files written before rows had names: empty, and the
    /// URL names the row).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The URL as given.
    pub url: String,
    /// Its counts and histograms.
    pub tally: WireTally,
}

/// One statistics interval of a result: the figures of the report's series
/// (every field of [`IntervalStats`]) and the interval's tally.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredInterval {
    /// The figures, as in the JSON report.
    #[serde(flatten)]
    pub stats: IntervalStats,
    /// The interval's merged counts and histograms (all targets).
    pub tally: WireTally,
}

/// `--start-at` as a result file records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredStart {
    /// The start time asked for, RFC 3339 in UTC.
    pub at: String,
    /// The same, milliseconds since the Unix epoch.
    pub at_unix_ms: u64,
    /// Whether the run was ready only after that time (and started at once).
    pub late: bool,
    /// By how much, nanoseconds (0 when on time).
    pub late_ns: u64,
}

impl StoredStart {
    /// The record of `r`.
    pub fn of(r: &StartRecord) -> StoredStart {
        let at_unix_ms = unix_ms(r.at);
        StoredStart {
            at: rfc3339_utc(at_unix_ms),
            at_unix_ms,
            late: r.late.is_some(),
            late_ns: r.late.map_or(0, nanos),
        }
    }

    /// Back to the run's record.
    pub fn record(&self) -> StartRecord {
        StartRecord {
            at: UNIX_EPOCH + Duration::from_millis(self.at_unix_ms),
            late: self.late.then(|| Duration::from_nanos(self.late_ns)),
        }
    }
}

/// The `"result"` section of a result file (see the [module docs](self)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultFile {
    /// Always [`KIND`].
    pub kind: String,
    /// Always [`VERSION`].
    pub v: u32,
    /// The wall-clock start, RFC 3339 in UTC with milliseconds.
    pub started_at: String,
    /// The wall-clock start, milliseconds since the Unix epoch (what merges align by).
    pub started_unix_ms: u64,
    /// The settings asked for, when the run had a [`Config`].
    pub config: Option<RunSettings>,
    /// The summary's facts.
    pub run: RunFacts,
    /// All targets together.
    pub total: WireTally,
    /// Per target, in the order given.
    pub targets: Vec<StoredTarget>,
    /// The warm-up's requests, outside every other figure.
    pub warmup: WireTally,
    /// Connect, TLS, send-lag and stall histograms.
    pub histograms: RunHistograms,
    /// Per statistics interval.
    pub series: Vec<StoredInterval>,
    /// `--shard`: which part of which run this is (absent for a whole run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardInfo>,
    /// `--start-at`: the start time asked for and whether the run was late.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<StoredStart>,
    /// Where it was read from (for messages); empty for a new one.
    #[serde(skip)]
    pub source: String,
}

/// The JSON report with the result section: what `-o FILE` writes.
#[derive(Serialize)]
struct Document<'a> {
    #[serde(flatten)]
    report: &'a ReportModel,
    result: &'a ResultFile,
}

/// Just the part of a document a reader needs.
#[derive(Deserialize)]
struct Envelope {
    result: Option<serde_json::Value>,
}

impl ResultFile {
    /// The result of a finished run; `config` is the configuration it ran
    /// (none for a result made by merging).
    pub fn from_summary(s: &Summary, config: Option<&Config>) -> ResultFile {
        let started_unix_ms = unix_ms(s.started_at);
        let (requests, duration_ns) = match s.stop {
            Stop::Requests(n) => (Some(n), None),
            Stop::Duration(d) => (None, Some(nanos(d))),
        };
        ResultFile {
            kind: KIND.into(),
            v: VERSION,
            started_at: rfc3339_utc(started_unix_ms),
            started_unix_ms,
            config: config.map(RunSettings::of),
            run: RunFacts {
                elapsed_ns: nanos(s.elapsed),
                connections: s.connections,
                threads: s.threads,
                processes: s.processes,
                source_addresses: s.source_addresses,
                requests,
                duration_ns,
                keep_alive: s.keep_alive,
                interval_ns: s.interval.map(nanos),
                open_model: s.open_model,
                warmup_ns: s.warmup_duration.map(nanos),
                stats_interval_ns: nanos(s.stats_interval),
                thresholds: s.thresholds.iter().map(|t| t.to_string()).collect(),
                interrupted: s.interrupted,
                connections_opened: s.connections_opened,
                tls_resumed: s.tls_resumed,
                gauges: s.gauges,
                limits: s.limits,
                open_files_limit: s.open_files_limit,
                cpu_user_ns: nanos(s.cpu.user),
                cpu_system_ns: nanos(s.cpu.system),
                peak_rss_bytes: s.peak_rss_bytes,
                kernel: s.kernel,
                worker_failures: s.worker_failures.clone(),
                cores: s.machine.cores,
                ephemeral_port_range: s.machine.ephemeral_port_range,
            },
            total: WireTally::compressed(&s.total),
            targets: s
                .targets
                .iter()
                .map(|t| StoredTarget {
                    name: t.name.clone(),
                    url: t.url.clone(),
                    tally: WireTally::compressed(&t.tally),
                })
                .collect(),
            warmup: WireTally::compressed(&s.warmup),
            histograms: RunHistograms {
                connect_latency: encode_compressed(&s.connect_latency),
                tls_handshake: encode_compressed(&s.tls_handshake),
                send_lag: encode_compressed(&s.send_lag),
                loop_stall: encode_compressed(&s.loop_stall),
            },
            series: s
                .series
                .iter()
                .map(|stats| StoredInterval {
                    tally: stats
                        .tally
                        .as_deref()
                        .cloned()
                        .unwrap_or_else(|| WireTally::compressed(&Tally::new())),
                    stats: IntervalStats {
                        tally: None,
                        ..stats.clone()
                    },
                })
                .collect(),
            shard: config.and_then(|c| c.shard.clone()),
            start: s.start.as_ref().map(StoredStart::of),
            source: String::new(),
        }
    }

    /// Writes the result file: the JSON report of `report` (which should be
    /// the report of the same summary) with this result as its `result`.
    pub fn write(&self, report: &ReportModel, out: &mut dyn Write) -> io::Result<()> {
        let doc = Document {
            report,
            result: self,
        };
        serde_json::to_writer_pretty(&mut *out, &doc)?;
        writeln!(out)
    }

    /// Reads the result file at `path`.
    pub fn read(path: &Path) -> Result<ResultFile, ResultError> {
        let file = path.display().to_string();
        let text = std::fs::read(path).map_err(|source| ResultError::Io {
            file: file.clone(),
            source,
        })?;
        ResultFile::parse(&text, &file)
    }

    /// Reads a result file's bytes; `file` names it in errors.
    pub fn parse(bytes: &[u8], file: &str) -> Result<ResultFile, ResultError> {
        let envelope: Envelope = serde_json::from_slice(bytes).map_err(|e| ResultError::Json {
            file: file.into(),
            message: e.to_string(),
        })?;
        let not_a_result = || ResultError::NotAResult { file: file.into() };
        let section = envelope.result.ok_or_else(not_a_result)?;
        if section.get("kind").and_then(|k| k.as_str()) != Some(KIND) {
            return Err(not_a_result());
        }
        match section.get("v").and_then(|v| v.as_u64()) {
            Some(v) if v == u64::from(VERSION) => {}
            Some(found) => {
                return Err(ResultError::Version {
                    file: file.into(),
                    found,
                })
            }
            None => return Err(malformed(file, "no version number \"v\"")),
        }
        let mut result: ResultFile =
            serde_json::from_value(section).map_err(|e| malformed(file, e))?;
        result.source = file.into();
        Ok(result)
    }

    /// The summary this result holds, thresholds judged again: its report is
    /// the report of the run that wrote it.
    pub fn into_summary(self) -> Result<Summary, ResultError> {
        let file = self.source.as_str();
        let tally = |w: &WireTally| Tally::try_from(w.clone()).map_err(|e| wire(file, e));
        let histogram = |s: &str| decode(s).map_err(|e| wire(file, e));
        let r = &self.run;
        let thresholds = r
            .thresholds
            .iter()
            .map(|t| t.parse::<Threshold>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| malformed(file, e))?;
        if r.stats_interval_ns == 0 {
            return Err(malformed(file, "a statistics interval of 0"));
        }
        let stop = match (r.requests, r.duration_ns) {
            (Some(n), None) => Stop::Requests(n),
            (None, Some(d)) => Stop::Duration(Duration::from_nanos(d)),
            _ => return Err(malformed(file, "needs one of requests or duration_ns")),
        };
        let mut targets = Vec::with_capacity(self.targets.len());
        for t in &self.targets {
            targets.push(TargetSummary {
                name: t.row_name().to_string(),
                url: t.url.clone(),
                tally: tally(&t.tally)?,
            });
        }
        let mut series = Vec::with_capacity(self.series.len());
        for i in &self.series {
            // Checked here so a merge can rely on it.
            tally(&i.tally)?;
            series.push(IntervalStats {
                tally: Some(Box::new(i.tally.clone())),
                ..i.stats.clone()
            });
        }
        Ok(Summary {
            started_at: UNIX_EPOCH + Duration::from_millis(self.started_unix_ms),
            elapsed: Duration::from_nanos(r.elapsed_ns),
            connections: r.connections,
            threads: r.threads,
            processes: r.processes,
            source_addresses: r.source_addresses,
            stop,
            keep_alive: r.keep_alive,
            interval: r.interval_ns.map(Duration::from_nanos),
            total: tally(&self.total)?,
            targets,
            connections_opened: r.connections_opened,
            connect_latency: histogram(&self.histograms.connect_latency)?,
            tls_handshake: histogram(&self.histograms.tls_handshake)?,
            tls_resumed: r.tls_resumed,
            send_lag: histogram(&self.histograms.send_lag)?,
            loop_stall: histogram(&self.histograms.loop_stall)?,
            gauges: r.gauges,
            limits: r.limits,
            open_files_limit: r.open_files_limit,
            cpu: CpuTime {
                user: Duration::from_nanos(r.cpu_user_ns),
                system: Duration::from_nanos(r.cpu_system_ns),
            },
            peak_rss_bytes: r.peak_rss_bytes,
            kernel: r.kernel,
            worker_failures: r.worker_failures.clone(),
            open_model: r.open_model,
            warmup: tally(&self.warmup)?,
            series,
            stats_interval: Duration::from_nanos(r.stats_interval_ns),
            warmup_duration: r.warmup_ns.map(Duration::from_nanos),
            thresholds,
            interrupted: r.interrupted,
            machine: Machine {
                cores: r.cores,
                ephemeral_port_range: r.ephemeral_port_range,
            },
            verdicts: Vec::new(),
            inputs: Vec::new(),
            start: self.start.as_ref().map(StoredStart::record),
        }
        .judged())
    }

    /// The URLs of its targets, in order.
    pub fn target_urls(&self) -> Vec<&str> {
        self.targets.iter().map(|t| t.url.as_str()).collect()
    }

    /// The names of its report rows, in order.
    pub fn row_names(&self) -> Vec<&str> {
        self.targets.iter().map(StoredTarget::row_name).collect()
    }
}

impl StoredTarget {
    /// The row's name: its `name`, or its URL in files without names.
    pub fn row_name(&self) -> &str {
        match self.name.is_empty() {
            true => &self.url,
            false => &self.name,
        }
    }
}

fn malformed(file: &str, e: impl std::fmt::Display) -> ResultError {
    ResultError::Malformed {
        file: file.into(),
        message: e.to_string(),
    }
}

fn wire(file: &str, e: WireError) -> ResultError {
    malformed(file, e)
}

/// Nanoseconds of `d`, saturating (584 years).
fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Milliseconds since the Unix epoch of `t` (0 before it).
pub fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// `ms` since the Unix epoch as RFC 3339 in UTC: `2026-12-01T09:30:00.250Z`.
pub fn rfc3339_utc(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil from days (Howard Hinnant's algorithm), days since 1970-01-01.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

#[cfg(test)]
pub(crate) mod tests;
