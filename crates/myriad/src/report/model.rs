//! The figures of a report, computed once from a [`Summary`]; serialised as the
//! JSON report and formatted by the text report. Everything comes from the
//! summary: the machine's facts and the thresholds' verdicts were captured into
//! it when the run ended.

use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::BTreeMap;

use crate::config::Stop;
use crate::metrics::{per_second, quantile, ErrorKind, Tally};
use crate::summary::Summary;

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct ReportModel {
    /// Always [`super::SCHEMA_ID`].
    pub schema: &'static str,
    /// How the run was set up.
    pub config: ConfigReport,
    /// Wall time of the run, in seconds.
    pub duration_s: f64,
    /// Whether Ctrl-C cut the run short.
    pub interrupted: bool,
    /// All targets together.
    pub total: TallyReport,
    /// Latency histogram buckets of all responses.
    pub histogram: Vec<Bucket>,
    /// The latency percentile spectrum of all responses, as HdrHistogram
    /// plots it: points ever closer together towards the 100th percentile.
    pub spectrum: Vec<SpectrumPoint>,
    /// Per target, in the order given.
    pub targets: Vec<TargetReport>,
    /// Connections: opened, peak, time to establish, connect latency.
    pub connections: ConnectionsReport,
    /// Kernel memory the run added at its peak, when the kernel tells.
    pub kernel: Option<KernelReport>,
    /// Machine limits met while connecting.
    pub limits: LimitsReport,
    /// The generator's own cost.
    pub client: ClientReport,
    /// Resources over the run, from the series' samples: peak client RSS,
    /// mean client CPU, network traffic, watched targets; null without samples.
    pub resources: Option<crate::resources::ResourceTotals>,
    /// Things the user should know, each one line that says what to do.
    pub notes: Vec<String>,
    /// `closed` (connections back to back) or `open` (requests on a schedule).
    pub model: &'static str,
    /// The warm-up, kept out of every other figure.
    pub warmup: Option<WarmupReport>,
    /// Length of a statistics interval, seconds.
    pub interval_s: f64,
    /// Per statistics interval: throughput, errors, latency.
    pub series: Vec<crate::summary::IntervalStats>,
    /// The thresholds asked for, as judged when the run ended ([`Summary::verdicts`]).
    pub thresholds: Vec<crate::threshold::Verdict>,
    /// Whether the load generator, not the server, limited the run.
    pub generator_bound: bool,
    /// How the generator itself kept up.
    pub self_check: SelfCheckReport,
    /// A merged result (`myriad report A B`): one row per input, in the order
    /// given. Absent for a single run.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<InputReport>,
}

/// One input of a merged result.
#[derive(Debug, Clone, Serialize)]
pub struct InputReport {
    /// The result file.
    pub file: String,
    /// When it started, RFC 3339 in UTC.
    pub started_at: String,
    /// Its wall time, seconds.
    pub duration_s: f64,
    /// Its request counts and rates.
    pub requests: RequestsReport,
    /// Its latency, microseconds.
    pub latency_us: LatencyReport,
    /// (HTTP errors + failures) / issued.
    pub error_rate: f64,
    /// Which shard it is (`I/N`), for the shards of one run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
    /// How late it started after its `--start-at`, seconds, if it was late.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub late_start_s: Option<f64>,
}

impl InputReport {
    fn new(i: &crate::summary::InputSummary) -> InputReport {
        let t = &i.total;
        let rate = i.requests_per_second();
        InputReport {
            file: i.name.clone(),
            started_at: crate::result::rfc3339_utc(crate::result::unix_ms(i.started_at)),
            duration_s: i.elapsed.as_secs_f64(),
            requests: RequestsReport {
                issued: t.issued(),
                succeeded: t.succeeded(),
                http_errors: t.http_errors(),
                failures: t.failures(),
                balanced: t.balanced(),
                dropped: t.dropped(),
                queued: t.queued(),
                per_second: rate,
                per_minute: rate * 60.0,
            },
            latency_us: LatencyReport::new(t.latency()),
            error_rate: t.error_rate(),
            shard: i.shard.as_ref().map(|s| s.shard().to_string()),
            late_start_s: i.late.map(|d| d.as_secs_f64()),
        }
    }
}

/// How the load generator itself kept up.
#[derive(Debug, Clone, Serialize)]
pub struct SelfCheckReport {
    /// Open model: how late requests handed to an idle connection were sent
    /// after they were due, microseconds; requests that waited for a busy
    /// connection (queued) or for a new connection's connect are left out,
    /// since that wait is the server's or the network's, not the generator's.
    pub send_lag_us: Option<LatencyReport>,
    /// How late the event loops ran a 10 ms probe timer, microseconds.
    pub loop_stall_us: LatencyReport,
    /// CPU time over wall time, in cores.
    pub cpu_utilisation: f64,
    /// Why the generator is judged to have limited the run (empty if it did not).
    pub reasons: Vec<String>,
}

/// Send lag or event-loop stall at p99 above this means the generator fell behind.
const LAG_LIMIT_US: u64 = 10_000;

impl SelfCheckReport {
    fn new(s: &Summary) -> SelfCheckReport {
        let send_lag = s.open_model.then(|| LatencyReport::new(&s.send_lag));
        let loop_stall = LatencyReport::new(&s.loop_stall);
        let mut reasons = Vec::new();
        let cores = (s.threads * s.processes).min(s.machine.cores) as f64;
        if s.elapsed.as_secs_f64() >= 1.0 && s.cpu_utilisation() >= 0.9 * cores {
            reasons.push(format!(
                "CPU saturated ({:.0}% of {} threads)",
                s.cpu_utilisation() * 100.0,
                cores
            ));
        }
        if let Some(lag) = send_lag.as_ref().filter(|l| l.p99 > LAG_LIMIT_US) {
            reasons.push(format!(
                "requests sent late (send lag p99 {} ms)",
                lag.p99 / 1000
            ));
        }
        if loop_stall.p99 > LAG_LIMIT_US {
            reasons.push(format!(
                "event loop stalled (p99 {} ms late)",
                loop_stall.p99 / 1000
            ));
        }
        SelfCheckReport {
            send_lag_us: send_lag,
            loop_stall_us: loop_stall,
            cpu_utilisation: s.cpu_utilisation(),
            reasons,
        }
    }
}

/// The warm-up of a run.
#[derive(Debug, Clone, Serialize)]
pub struct WarmupReport {
    /// Its length, seconds.
    pub duration_s: f64,
    /// Requests that ended in it.
    pub requests: u64,
    /// Of those, failures and HTTP errors.
    pub errors: u64,
}

/// How the run was set up.
#[derive(Debug, Clone, Serialize)]
pub struct ConfigReport {
    /// Concurrent connections.
    pub connections: usize,
    /// Worker threads.
    pub threads: usize,
    /// Requests asked for, when bounded by count.
    pub requests: Option<u64>,
    /// Duration asked for in seconds, when bounded by time.
    pub duration_s: Option<f64>,
    /// Whether connections were reused.
    pub keep_alive: bool,
    /// Per-connection request interval in seconds (mostly-idle connections).
    pub interval_s: Option<f64>,
    /// Processes that held the connections.
    pub processes: usize,
    /// Source addresses used (0: the kernel's choice).
    pub source_addresses: usize,
}

/// Connections over the run.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectionsReport {
    /// Connections established (reconnects included).
    pub opened: u64,
    /// Most connections open at once (sum of each worker's peak).
    pub peak_open: u64,
    /// Planned connections that connected at least once.
    pub established: u64,
    /// Planned connections.
    pub planned: u64,
    /// Seconds from the start until every planned connection was open; null
    /// if some never connected.
    pub establish_all_s: Option<f64>,
    /// Time to establish a connection, microseconds (TLS handshake not included).
    pub connect_latency_us: LatencyReport,
    /// TLS handshakes that were full (no session to resume).
    pub tls_handshakes_full: u64,
    /// TLS handshakes that resumed an earlier session.
    pub tls_handshakes_resumed: u64,
    /// Time of each TLS handshake, microseconds.
    pub tls_handshake_us: LatencyReport,
}

/// Kernel memory added by the run at its peak.
#[derive(Debug, Clone, Serialize)]
pub struct KernelReport {
    /// TCP buffer memory, bytes.
    pub tcp_buffers_bytes: u64,
    /// Slab memory (socket structures, inodes, files), bytes.
    pub slab_bytes: u64,
    /// TCP sockets added (both ends when the server is on this machine).
    pub tcp_sockets: u64,
    /// (TCP buffers + slab) per peak open connection, bytes.
    pub per_connection_bytes: f64,
}

/// Counts, rates, bytes and latency of a tally.
#[derive(Debug, Clone, Serialize)]
pub struct TallyReport {
    /// Request counts and rates.
    pub requests: RequestsReport,
    /// Bytes on the wire.
    pub bytes: BytesReport,
    /// Latency of responses in microseconds, from when each request was due
    /// (corrected for coordinated omission in the open model).
    pub latency_us: LatencyReport,
    /// Open model: service time from the actual send (uncorrected).
    pub service_latency_us: Option<LatencyReport>,
    /// Responses per status code.
    pub status: BTreeMap<String, u64>,
    /// Failures per kind (every kind present, zero or not).
    pub errors: BTreeMap<&'static str, u64>,
}

/// Request counts and rates.
#[derive(Debug, Clone, Serialize)]
pub struct RequestsReport {
    /// Handed out.
    pub issued: u64,
    /// Ended with a 1xx-3xx status.
    pub succeeded: u64,
    /// Ended with a 4xx/5xx status.
    pub http_errors: u64,
    /// Ended without a status.
    pub failures: u64,
    /// `issued == succeeded + http_errors + failures`.
    pub balanced: bool,
    /// Due but not sent: every allowed connection was busy (open model,
    /// `--when-busy drop`).
    pub dropped: u64,
    /// Due while every allowed connection was busy, and sent when one was
    /// free (open model); their latency counts the wait.
    pub queued: u64,
    /// Completed per second.
    pub per_second: f64,
    /// Completed per minute.
    pub per_minute: f64,
}

/// Bytes on the wire.
#[derive(Debug, Clone, Serialize)]
pub struct BytesReport {
    /// Written.
    pub sent: u64,
    /// Read.
    pub received: u64,
    /// Written per second.
    pub sent_per_second: f64,
    /// Read per second.
    pub received_per_second: f64,
}

/// Latency statistics in microseconds; zero when there was no response.
#[derive(Debug, Clone, Serialize)]
pub struct LatencyReport {
    /// Responses measured.
    pub count: u64,
    /// Smallest.
    pub min: u64,
    /// Mean.
    pub mean: f64,
    /// Standard deviation.
    pub stdev: f64,
    /// Largest.
    pub max: u64,
    /// Median.
    pub p50: u64,
    /// 75th percentile.
    pub p75: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 95th percentile.
    pub p95: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p99_9: u64,
    /// 99.99th percentile.
    pub p99_99: u64,
}

/// One histogram bucket: responses with latency in `(previous le_us, le_us]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Bucket {
    /// Upper bound, microseconds, inclusive.
    pub le_us: u64,
    /// Responses in the bucket.
    pub count: u64,
}

/// One point of the percentile spectrum: this share of responses took at
/// most this long.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpectrumPoint {
    /// The percentile, 0 to 100.
    pub percentile: f64,
    /// Latency at that percentile, microseconds.
    pub latency_us: u64,
}

/// The spectrum of `h`: for each halving of the distance to 100%, this many
/// points (HdrHistogram's percentile iteration), ending at the largest value.
pub(crate) fn spectrum(h: &Histogram<u64>, ticks_per_half: u32) -> Vec<SpectrumPoint> {
    if h.is_empty() {
        return Vec::new();
    }
    let mut out: Vec<SpectrumPoint> = h
        .iter_quantiles(ticks_per_half)
        .map(|v| SpectrumPoint {
            percentile: v.quantile_iterated_to() * 100.0,
            latency_us: h.highest_equivalent(v.value_iterated_to()).min(h.max()),
        })
        .collect();
    // The iteration ends on 100%, which a log-of-the-rest axis cannot place;
    // the largest value is kept at the percentile one response short of all.
    let last = 100.0 * (1.0 - 1.0 / h.len() as f64);
    out.retain(|p| p.percentile < 100.0);
    if out.last().is_none_or(|p| p.percentile < last) {
        out.push(SpectrumPoint {
            percentile: last,
            latency_us: h.max(),
        });
    }
    out
}

/// One report row's numbers: a URL, or a request type of a targets file.
#[derive(Debug, Clone, Serialize)]
pub struct TargetReport {
    /// The row's name: the URL, or the request's `name` (else `METHOD
    /// path` without the query string).
    pub name: String,
    /// The URL as given (for a request type: its first request's).
    pub url: String,
    /// Its counts.
    #[serde(flatten)]
    pub tally: TallyReport,
}

/// A tally's status codes and error kinds on one line, most frequent first
/// (`200×980 404×12 timeout×8`); `-` when there are none.
pub fn status_line(t: &TallyReport) -> String {
    let mut all: Vec<(String, u64)> = t
        .status
        .iter()
        .map(|(k, v)| (k.clone(), *v))
        .chain(t.errors.iter().map(|(k, v)| (k.to_string(), *v)))
        .filter(|(_, v)| *v > 0)
        .collect();
    all.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    if all.is_empty() {
        return "-".to_string();
    }
    all.iter()
        .map(|(k, v)| format!("{k}\u{d7}{v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Machine limits met while connecting.
#[derive(Debug, Clone, Serialize)]
pub struct LimitsReport {
    /// The open-files limit in force.
    pub open_files_limit: u64,
    /// Connects refused for lack of file descriptors.
    pub open_files_hits: u64,
    /// Connects refused for lack of ephemeral ports.
    pub ephemeral_port_hits: u64,
}

/// The generator's own cost.
#[derive(Debug, Clone, Serialize)]
pub struct ClientReport {
    /// User CPU seconds of the worker threads.
    pub cpu_user_s: f64,
    /// System CPU seconds of the worker threads.
    pub cpu_system_s: f64,
    /// CPU time over wall time (1.0 = one core busy).
    pub cpu_utilisation: f64,
    /// Completed requests per CPU second.
    pub requests_per_cpu_second: f64,
    /// Peak resident memory, bytes: this process plus its worker processes.
    pub peak_rss_bytes: u64,
    /// Peak RSS per peak open connection, bytes.
    pub rss_per_connection_bytes: f64,
}

impl ReportModel {
    /// Computes every figure of the report.
    pub fn from_summary(s: &Summary) -> ReportModel {
        let (requests, duration_s) = match s.stop {
            Stop::Requests(n) => (Some(n), None),
            Stop::Duration(d) => (None, Some(d.as_secs_f64())),
        };
        let mut model = ReportModel {
            schema: super::SCHEMA_ID,
            config: ConfigReport {
                connections: s.connections,
                threads: s.threads,
                requests,
                duration_s,
                keep_alive: s.keep_alive,
                interval_s: s.interval.map(|d| d.as_secs_f64()),
                processes: s.processes,
                source_addresses: s.source_addresses,
            },
            duration_s: s.elapsed.as_secs_f64(),
            interrupted: s.interrupted,
            total: TallyReport::new(&s.total, s),
            histogram: buckets(s.total.latency(), 12),
            spectrum: spectrum(s.total.latency(), 5),
            targets: s
                .targets
                .iter()
                .map(|t| TargetReport {
                    name: t.name.clone(),
                    url: t.url.clone(),
                    tally: TallyReport::new(&t.tally, s),
                })
                .collect(),
            connections: ConnectionsReport {
                opened: s.connections_opened,
                peak_open: s.gauges.peak_open,
                established: s.gauges.established,
                planned: s.gauges.planned,
                establish_all_s: (s.gauges.planned > 0 && s.gauges.established == s.gauges.planned)
                    .then(|| s.gauges.establish_us as f64 / 1e6),
                connect_latency_us: LatencyReport::new(&s.connect_latency),
                tls_handshakes_full: s.tls_handshake.len().saturating_sub(s.tls_resumed),
                tls_handshakes_resumed: s.tls_resumed,
                tls_handshake_us: LatencyReport::new(&s.tls_handshake),
            },
            kernel: s.kernel.map(|k| KernelReport {
                tcp_buffers_bytes: k.tcp_buffers,
                slab_bytes: k.slab,
                tcp_sockets: k.tcp_sockets,
                per_connection_bytes: per_connection(k.tcp_buffers + k.slab, s.gauges.peak_open),
            }),
            limits: LimitsReport {
                open_files_limit: s.open_files_limit,
                open_files_hits: s.limits.open_files,
                ephemeral_port_hits: s.limits.ephemeral_ports,
            },
            client: ClientReport {
                cpu_user_s: s.cpu.user.as_secs_f64(),
                cpu_system_s: s.cpu.system.as_secs_f64(),
                cpu_utilisation: s.cpu_utilisation(),
                requests_per_cpu_second: s.requests_per_cpu_second(),
                peak_rss_bytes: s.peak_rss_bytes,
                rss_per_connection_bytes: per_connection(s.peak_rss_bytes, s.gauges.peak_open),
            },
            resources: crate::resources::ResourceTotals::from_series(&s.series),
            notes: notes(s),
            model: if s.open_model { "open" } else { "closed" },
            warmup: s.warmup_duration.map(|d| WarmupReport {
                duration_s: d.as_secs_f64(),
                requests: s.warmup.completed(),
                errors: s.warmup.http_errors() + s.warmup.failures(),
            }),
            interval_s: s.stats_interval.as_secs_f64(),
            series: s.series.clone(),
            thresholds: s.verdicts.clone(),
            generator_bound: false,
            self_check: SelfCheckReport::new(s),
            inputs: s.inputs.iter().map(InputReport::new).collect(),
        };
        model.generator_bound = !model.self_check.reasons.is_empty();
        if model.generator_bound {
            model.notes.push(format!(
                "the load generator itself limited this run ({}): the figures may show myriad's limit, not the server's; give it more cores or threads (-t), or run it on another machine",
                model.self_check.reasons.join(", ")
            ));
        }
        model
    }
}

impl TallyReport {
    fn new(t: &Tally, s: &Summary) -> TallyReport {
        let measured = s.measured_elapsed();
        let rate = per_second(t.completed(), measured);
        TallyReport {
            requests: RequestsReport {
                issued: t.issued(),
                succeeded: t.succeeded(),
                http_errors: t.http_errors(),
                failures: t.failures(),
                balanced: t.balanced(),
                dropped: t.dropped(),
                queued: t.queued(),
                per_second: rate,
                per_minute: rate * 60.0,
            },
            bytes: BytesReport {
                sent: t.bytes_sent,
                received: t.bytes_received,
                sent_per_second: per_second(t.bytes_sent, measured),
                received_per_second: per_second(t.bytes_received, measured),
            },
            latency_us: LatencyReport::new(t.latency()),
            service_latency_us: s.open_model.then(|| LatencyReport::new(t.service())),
            status: t.statuses().map(|(c, n)| (c.to_string(), n)).collect(),
            errors: ErrorKind::ALL
                .iter()
                .map(|&k| (k.name(), t.errors(k)))
                .collect(),
        }
    }
}

impl LatencyReport {
    pub(crate) fn new(h: &Histogram<u64>) -> LatencyReport {
        let empty = h.is_empty();
        let q = |q: f64| quantile(h, q);
        LatencyReport {
            count: h.len(),
            min: if empty { 0 } else { h.min() },
            mean: if empty { 0.0 } else { h.mean() },
            stdev: if empty { 0.0 } else { h.stdev() },
            max: if empty { 0 } else { h.max() },
            p50: q(0.50),
            p75: q(0.75),
            p90: q(0.90),
            p95: q(0.95),
            p99: q(0.99),
            p99_9: q(0.999),
            p99_99: q(0.9999),
        }
    }
}

/// Splits the latency range into at most `n` buckets whose bounds grow
/// geometrically from min to max, so a long tail does not squash the body of the
/// distribution into one bar.
pub(crate) fn buckets(h: &Histogram<u64>, n: usize) -> Vec<Bucket> {
    if h.is_empty() || n == 0 {
        return Vec::new();
    }
    let (lo, hi) = (h.min().max(1), h.max().max(1));
    let mut bounds: Vec<u64> = if lo == hi {
        vec![hi]
    } else {
        let ratio = (hi as f64 / lo as f64).powf(1.0 / n as f64);
        (1..=n)
            .map(|i| (lo as f64 * ratio.powi(i as i32)).round() as u64)
            .collect()
    };
    if let Some(last) = bounds.last_mut() {
        *last = hi;
    }
    bounds.dedup();
    let mut out: Vec<Bucket> = bounds
        .iter()
        .map(|&le| Bucket {
            le_us: le,
            count: 0,
        })
        .collect();
    for v in h.iter_recorded() {
        let value = h.highest_equivalent(v.value_iterated_to()).min(hi);
        let i = out.partition_point(|b| b.le_us < value).min(out.len() - 1);
        out[i].count += v.count_at_value();
    }
    out
}

fn per_connection(bytes: u64, connections: u64) -> f64 {
    if connections == 0 {
        0.0
    } else {
        bytes as f64 / connections as f64
    }
}

fn notes(s: &Summary) -> Vec<String> {
    let mut notes = s.worker_failures.clone();
    let late = |d: std::time::Duration, at: &str| {
        format!("started {:.3} s after its --start-at {at}: it was not ready in time, so it ran later than the others; start it earlier or give a later --start-at", d.as_secs_f64())
    };
    if let Some(r) = &s.start {
        if let Some(d) = r.late {
            let at = crate::result::rfc3339_utc(crate::result::unix_ms(r.at));
            notes.push(format!("late start: this run {}", late(d, &at)));
        }
    }
    for i in &s.inputs {
        if let Some(d) = i.late {
            let what = i
                .shard
                .as_ref()
                .map_or(String::new(), |s| format!(" (shard {})", s.shard()));
            notes.push(format!("late start: {}{what} {}", i.name, late(d, "time")));
        }
    }
    if !s.total.balanced() {
        notes.push(format!(
            "accounting mismatch: {} issued but {} ended; this is a bug in myriad, please report it",
            s.total.issued(),
            s.total.completed()
        ));
    }
    if s.interrupted {
        notes.push(
            "interrupted: the run was stopped before its end; figures cover what was done".into(),
        );
    }
    if s.limits.open_files > 0 {
        notes.push(format!(
            "hit the open-files limit ({}) on {} connects: lower -c/--connections, or raise the hard limit (ulimit -Hn, /etc/security/limits.conf)",
            s.open_files_limit, s.limits.open_files
        ));
    }
    if s.limits.ephemeral_ports > 0 {
        let range = s
            .machine
            .ephemeral_port_range
            .map(|(a, b)| format!("{a}-{b}"))
            .unwrap_or_else(|| "unknown".into());
        notes.push(format!(
            "ran out of ephemeral ports on {} connects (net.ipv4.ip_local_port_range = {range}): keep connections alive, lower -c, or widen it with sysctl -w net.ipv4.ip_local_port_range=\"1024 65535\"",
            s.limits.ephemeral_ports
        ));
    }
    if s.total.dropped() > 0 {
        notes.push(format!(
            "{} requests were due but dropped because all {} allowed connections were busy: raise -c/--connections or lower the rate",
            s.total.dropped(),
            s.connections
        ));
    }
    if s.total.queued() > 0 {
        notes.push(format!(
            "{} requests came due while all {} allowed connections were busy and waited for one (their latency counts the wait; see how late requests were sent): raise -c/--connections for more concurrency, or lower the rate",
            s.total.queued(),
            s.connections
        ));
    }
    if s.total.errors(ErrorKind::Certificate) > 0 {
        notes.push(format!(
            "{} requests failed because the server's certificate was not trusted by the system roots (or --cacert): pass --cacert FILE with its CA, or -k to skip verification",
            s.total.errors(ErrorKind::Certificate)
        ));
    }
    if s.total.errors(ErrorKind::Tls) > 0 {
        notes.push(format!(
            "{} requests failed in the TLS handshake (the server closed it or offered no common version or cipher): check that the port speaks TLS, or use http://",
            s.total.errors(ErrorKind::Tls)
        ));
    }
    if s.total.errors(ErrorKind::Alpn) > 0 {
        notes.push(format!(
            "{} requests failed because the server did not offer h2 in ALPN (it speaks only HTTP/1.1 over TLS): enable HTTP/2 on the server, or drop --http2",
            s.total.errors(ErrorKind::Alpn)
        ));
    }
    if s.total.errors(ErrorKind::Goaway) > 0 {
        notes.push(format!(
            "the server sent GOAWAY: {} requests were refused or cut off (streams above its last stream, or ended by a GOAWAY with an error code); it may be shutting down or limiting requests per connection (nginx keepalive_requests / http2_max_requests): raise that limit, or lower -p/--streams so fewer streams are in flight when it does",
            s.total.errors(ErrorKind::Goaway)
        ));
    }
    if s.total.errors(ErrorKind::StreamReset) > 0 {
        notes.push(format!(
            "the server reset {} streams (RST_STREAM: REFUSED_STREAM when over its concurrent-stream limit, INTERNAL_ERROR or CANCEL when it failed): lower -p/--streams, or see the server's log for why",
            s.total.errors(ErrorKind::StreamReset)
        ));
    }
    if s.total.errors(ErrorKind::Http2Protocol) > 0 {
        notes.push(format!(
            "{} requests failed on an HTTP/2 protocol error (a malformed frame, bad HPACK, or a flow-control violation by the server): check that the port speaks HTTP/2 (--h2c needs prior-knowledge h2c), or test it over HTTP/1.1",
            s.total.errors(ErrorKind::Http2Protocol)
        ));
    }
    if s.total.issued() > 0 && s.total.errors(ErrorKind::Connect) == s.total.issued() {
        notes.push("every connect failed: is the server running at that address?".into());
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Outcome;

    #[test]
    fn buckets_hold_every_response() {
        let mut t = Tally::new();
        for v in [100u64, 120, 150, 300, 900, 5_000, 80_000] {
            t.issue();
            t.record(Outcome::Status(200), v);
        }
        let b = buckets(t.latency(), 10);
        assert_eq!(b.iter().map(|b| b.count).sum::<u64>(), 7);
        assert!(b.windows(2).all(|w| w[0].le_us < w[1].le_us));
        assert_eq!(b.last().unwrap().le_us, t.latency().max());
        let mut one = Tally::new();
        one.record(Outcome::Status(200), 42);
        assert_eq!(
            buckets(one.latency(), 10),
            vec![Bucket {
                le_us: 42,
                count: 1
            }]
        );
    }
}
