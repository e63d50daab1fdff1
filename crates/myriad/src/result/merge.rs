//! Several results of the same targets merged into one [`Summary`], exactly:
//! the same machinery merges the shards of one run and separate runs.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{unix_ms, wire, ResultError, ResultFile};
use crate::config::Stop;
use crate::metrics::Tally;
use crate::summary::{InputSummary, IntervalStats, KernelUsage, Summary};

/// Merges result files into one summary, thresholds judged again (the union
/// of the files' thresholds; replace them and call [`Summary::judged`] to
/// judge others).
///
/// - The files must load the same targets (the same report rows: URLs, or
///   request names of a targets file; rows are summed by name)
///   with the same statistics interval; otherwise [`ResultError::Incompatible`]
///   names the first file and the one that differs.
/// - Counts are summed and histograms merged, so every percentile of the
///   merged result is the percentile of all requests together.
/// - Time runs from the earliest start to the latest end by the wall clock
///   (for shards of one run: the run), and rates are over that span less the
///   longest warm-up.
/// - The time series is aligned by the wall clock: each interval goes to the
///   slot of its start (rounded to a multiple of the interval length since
///   the Unix epoch), the intervals of one slot are merged, and their figures
///   computed again from the merged tallies.
/// - Levels and machine facts: connections, processes, CPU time and memory
///   are summed; the machine is the first file's.
/// - [`Summary::inputs`] keeps each file's totals, in the order given (shards
///   in shard order).
/// - Shards (`--shard`) must make up whole runs: all files of one run (the
///   same run identity and count), each shard once, none missing
///   ([`crate::shard::check`]); otherwise [`ResultError::Shards`].
///
/// One file gives its own summary, unchanged.
pub fn merge(mut files: Vec<ResultFile>) -> Result<Summary, ResultError> {
    if files.is_empty() {
        return Err(ResultError::Empty);
    }
    let shards: Vec<(&str, Option<&crate::shard::ShardInfo>)> = files
        .iter()
        .map(|f| (f.source.as_str(), f.shard.as_ref()))
        .collect();
    crate::shard::check(&shards)?;
    // A row per shard, in shard order (a glob sorts shard-10 before shard-2).
    files.sort_by_key(|f| f.shard.as_ref().map(|s| s.index));
    let Some(first) = files.first() else {
        return Err(ResultError::Empty);
    };
    for other in &files[1..] {
        let incompatible = |why: String| ResultError::Incompatible {
            first: first.source.clone(),
            other: other.source.clone(),
            why,
        };
        let (mut a, mut b) = (first.row_names(), other.row_names());
        a.sort_unstable();
        b.sort_unstable();
        if a != b {
            return Err(incompatible(format!(
                "they load different targets ({} vs {})",
                first.row_names().join(", "),
                other.row_names().join(", ")
            )));
        }
        if other.run.stats_interval_ns != first.run.stats_interval_ns {
            return Err(incompatible(format!(
                "their statistics intervals differ ({:?} vs {:?}); use the same --stats-interval",
                Duration::from_nanos(first.run.stats_interval_ns),
                Duration::from_nanos(other.run.stats_interval_ns)
            )));
        }
    }
    if files.len() == 1 {
        return files
            .into_iter()
            .next()
            .ok_or(ResultError::Empty)?
            .into_summary();
    }
    let mut inputs = Vec::with_capacity(files.len());
    let mut shards = Vec::with_capacity(files.len());
    for file in files {
        let name = file.source.clone();
        shards.push(file.shard.clone());
        inputs.push((name, file.into_summary()?));
    }
    let mut merged: Option<Summary> = None;
    for ((name, s), shard) in inputs.iter().zip(shards) {
        match merged.as_mut() {
            None => merged = Some(s.clone()),
            Some(m) => add(m, s),
        }
        if let Some(m) = merged.as_mut() {
            m.inputs.push(InputSummary {
                name: name.clone(),
                started_at: s.started_at,
                elapsed: s.elapsed,
                warmup_duration: s.warmup_duration,
                total: s.total.clone(),
                shard,
                late: s.start.and_then(|r| r.late),
            });
        }
    }
    let Some(mut m) = merged else {
        return Err(ResultError::Empty);
    };
    // Each input keeps its own start and lateness.
    m.start = None;
    m.worker_failures = inputs
        .iter()
        .flat_map(|(name, s)| {
            s.worker_failures
                .iter()
                .map(move |f| format!("{name}: {f}"))
        })
        .collect();
    m.series = series(&inputs, m.stats_interval, unix_ms(m.started_at))?;
    let mut thresholds = Vec::new();
    for t in inputs.iter().flat_map(|(_, s)| &s.thresholds) {
        if !thresholds.contains(t) {
            thresholds.push(t.clone());
        }
    }
    m.thresholds = thresholds;
    Ok(m.judged())
}

/// Adds `s` into `m` (see [`merge`] for what each figure becomes).
fn add(m: &mut Summary, s: &Summary) {
    let end = (m.started_at + m.elapsed).max(s.started_at + s.elapsed);
    m.started_at = m.started_at.min(s.started_at);
    m.elapsed = end.duration_since(m.started_at).unwrap_or_default();
    m.connections += s.connections;
    m.threads = m.threads.max(s.threads);
    m.processes += s.processes;
    m.source_addresses += s.source_addresses;
    m.stop = match (m.stop, s.stop) {
        (Stop::Requests(a), Stop::Requests(b)) => Stop::Requests(a + b),
        (Stop::Duration(a), Stop::Duration(b)) => Stop::Duration(a.max(b)),
        (first, _) => first,
    };
    m.keep_alive &= s.keep_alive;
    m.total.merge(&s.total);
    // Rows are summed by name; the same position first, so a URL given
    // twice keeps its two rows.
    for (i, b) in s.targets.iter().enumerate() {
        let at = match m.targets.get(i) {
            Some(a) if a.name == b.name => Some(i),
            _ => m.targets.iter().position(|a| a.name == b.name),
        };
        if let Some(a) = at.and_then(|i| m.targets.get_mut(i)) {
            a.tally.merge(&b.tally);
        }
    }
    m.connections_opened += s.connections_opened;
    // Same bounds on both sides (decoded into myriad's), so adding cannot fail.
    let _ = m.connect_latency.add(&s.connect_latency);
    let _ = m.tls_handshake.add(&s.tls_handshake);
    let _ = m.send_lag.add(&s.send_lag);
    let _ = m.loop_stall.add(&s.loop_stall);
    m.tls_resumed += s.tls_resumed;
    m.gauges.add(&s.gauges);
    m.limits.merge(&s.limits);
    m.open_files_limit = m.open_files_limit.min(s.open_files_limit);
    m.cpu.add(s.cpu);
    m.peak_rss_bytes += s.peak_rss_bytes;
    m.kernel = match (m.kernel, s.kernel) {
        (Some(a), Some(b)) => Some(KernelUsage {
            tcp_buffers: a.tcp_buffers + b.tcp_buffers,
            slab: a.slab + b.slab,
            tcp_sockets: a.tcp_sockets + b.tcp_sockets,
        }),
        (a, b) => a.or(b),
    };
    m.open_model |= s.open_model;
    m.warmup.merge(&s.warmup);
    m.warmup_duration = m.warmup_duration.max(s.warmup_duration);
    m.interrupted |= s.interrupted;
}

/// One wall-clock slot of the merged series.
#[derive(Default)]
struct Slot {
    tally: Tally,
    warmup: u64,
    open: u64,
    resources: Option<crate::resources::ResourceSample>,
}

/// The merged time series: intervals aligned to wall-clock slots of `len`,
/// `t_s` counted from `start_ms`.
fn series(
    inputs: &[(String, Summary)],
    len: Duration,
    start_ms: u64,
) -> Result<Vec<IntervalStats>, ResultError> {
    let len_ns = len.as_nanos().max(1) as i128;
    // Per slot: the merged tally, warm-up requests, connections open and
    // resources (the inputs' levels added: they ran side by side).
    let mut slots: BTreeMap<i128, Slot> = BTreeMap::new();
    for (name, s) in inputs {
        let start_ns = i128::from(unix_ms(s.started_at)) * 1_000_000;
        for interval in &s.series {
            let at = start_ns + (interval.t_s * 1e9).round() as i128;
            let slot = (at + len_ns / 2).div_euclid(len_ns);
            let Slot {
                tally,
                warmup,
                open,
                resources,
            } = slots.entry(slot).or_default();
            if let Some(w) = &interval.tally {
                tally.merge(&Tally::try_from(w.as_ref().clone()).map_err(|e| wire(name, e))?);
            }
            *warmup += interval.warmup_requests;
            *open += interval.open_connections;
            if let Some(r) = &interval.resources {
                match resources {
                    Some(merged) => merged.add(r),
                    None => *resources = Some(r.clone()),
                }
            }
        }
    }
    let start_ns = i128::from(start_ms) * 1_000_000;
    Ok(slots
        .into_iter()
        .map(|(slot, s)| {
            let mut stats = IntervalStats::new(0, len, &s.tally, s.warmup);
            stats.t_s = ((slot * len_ns - start_ns).max(0) as f64) / 1e9;
            stats.open_connections = s.open;
            stats.resources = s.resources;
            stats
        })
        .collect())
}
