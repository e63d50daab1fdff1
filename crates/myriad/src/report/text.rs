//! The report for people: aligned sections, units chosen per value.

use std::fmt::Write as _;
use std::io::{self, Write};

use super::model::{Bucket, LatencyReport, ReportModel, TallyReport};
use super::Reporter;
use crate::units::{format_bytes, format_count, format_micros};

/// The plain-text report.
#[derive(Debug, Default, Clone, Copy)]
pub struct TextReporter;

impl Reporter for TextReporter {
    fn report(&self, model: &ReportModel, out: &mut dyn Write) -> io::Result<()> {
        out.write_all(render(model).as_bytes())
    }
}

/// Width of the longest histogram bar.
const BAR: u64 = 40;
/// Rows of the per-target table a text report shows at most (the busiest).
const TEXT_ROWS: usize = 25;

fn render(m: &ReportModel) -> String {
    let mut s = String::new();
    let t = &m.total;
    let r = &t.requests;
    let bound = match (m.config.requests, m.config.duration_s) {
        (Some(n), _) => format!("{} requests", format_count(n)),
        (_, Some(d)) => format!("{}s duration", trim_float(d)),
        _ => String::new(),
    };
    let _ = writeln!(s, "Summary");
    let _ = writeln!(
        s,
        "  Duration     {:.2} s  ({bound}, {} connections{}, {} threads)",
        m.duration_s,
        format_count(m.config.connections as u64),
        if m.config.keep_alive {
            ""
        } else {
            ", no keep-alive"
        },
        m.config.threads
    );
    let _ = writeln!(
        s,
        "  Requests     {} issued = {} succeeded + {} HTTP errors + {} failures  {}",
        format_count(r.issued),
        format_count(r.succeeded),
        format_count(r.http_errors),
        format_count(r.failures),
        if r.balanced {
            "(balanced)"
        } else {
            "(MISMATCH)"
        }
    );
    let _ = writeln!(
        s,
        "  Throughput   {} req/s, {} req/min",
        format_rate(r.per_second),
        format_count(r.per_minute.round() as u64)
    );
    let _ = writeln!(
        s,
        "  Transfer     sent {} ({}/s), received {} ({}/s)",
        format_bytes(t.bytes.sent as f64),
        format_bytes(t.bytes.sent_per_second),
        format_bytes(t.bytes.received as f64),
        format_bytes(t.bytes.received_per_second)
    );
    if r.queued > 0 {
        let _ = writeln!(
            s,
            "  Queued       {} due while every allowed connection was busy, sent late",
            format_count(r.queued)
        );
    }
    if r.dropped > 0 {
        let _ = writeln!(
            s,
            "  Dropped      {} due but not sent: every allowed connection was busy",
            format_count(r.dropped)
        );
    }
    if let Some(w) = &m.warmup {
        let _ = writeln!(
            s,
            "  Warm-up      {} s, {} requests ({} errors) kept out of these figures",
            trim_float(w.duration_s),
            format_count(w.requests),
            format_count(w.errors)
        );
    }
    let title = if m.model == "open" {
        "Latency, from when each request was due"
    } else {
        "Latency"
    };
    latency_section(&mut s, title, &t.latency_us);
    if let Some(service) = &t.service_latency_us {
        latency_section(
            &mut s,
            "Service time, from the actual send (uncorrected)",
            service,
        );
    }
    histogram_section(&mut s, &m.histogram);
    status_and_errors(&mut s, t);
    timeline_section(&mut s, m);
    if m.targets.len() > 1 {
        let _ = writeln!(s, "\nTargets");
        let width = m.targets.iter().map(|t| t.name.len()).max().unwrap_or(0);
        // Rows of URLs, or of request types (a targets file).
        let label = match m.targets.iter().all(|t| t.name == t.url) {
            true => "url",
            false => "request",
        };
        let width = width.max(label.len());
        let _ = writeln!(
            s,
            "  {:<width$}  {:>10}  {:>10}  {:>10}  {:>10}  {:>12}  {:>9}  {:>9}  status",
            label, "issued", "succeeded", "http err", "failures", "req/s", "p50", "p99"
        );
        // A terminal shows the busiest rows; JSON and HTML keep all of them.
        let mut shown: Vec<&super::model::TargetReport> = m.targets.iter().collect();
        if shown.len() > TEXT_ROWS {
            shown.sort_by_key(|t| std::cmp::Reverse(t.tally.requests.issued));
            shown.truncate(TEXT_ROWS);
        }
        for target in &shown {
            let tr = &target.tally.requests;
            let l = &target.tally.latency_us;
            let _ = writeln!(
                s,
                "  {:<width$}  {:>10}  {:>10}  {:>10}  {:>10}  {:>12}  {:>9}  {:>9}  {}",
                target.name,
                format_count(tr.issued),
                format_count(tr.succeeded),
                format_count(tr.http_errors),
                format_count(tr.failures),
                format_rate(tr.per_second),
                format_micros(l.p50),
                format_micros(l.p99),
                super::model::status_line(&target.tally)
            );
        }
        if let Some(rest) = m.targets.len().checked_sub(shown.len()).filter(|&n| n > 0) {
            let issued: u64 = m
                .targets
                .iter()
                .map(|t| t.tally.requests.issued)
                .sum::<u64>()
                - shown.iter().map(|t| t.tally.requests.issued).sum::<u64>();
            let _ = writeln!(
                s,
                "  ... {} more rows with {} requests issued (the {} busiest are shown; --json and --html list all)",
                format_count(rest as u64),
                format_count(issued),
                TEXT_ROWS
            );
        }
    }
    inputs_section(&mut s, m);
    let c = &m.client;
    let _ = writeln!(s, "\nClient");
    let _ = writeln!(
        s,
        "  CPU          user {:.2} s, system {:.2} s ({:.0}% of one core), {} req per CPU-second",
        c.cpu_user_s,
        c.cpu_system_s,
        c.cpu_utilisation * 100.0,
        format_count(c.requests_per_cpu_second.round() as u64)
    );
    // Per-connection figures mean something only when connections dominate.
    let many = m.connections.peak_open >= 1000;
    let per_conn = if many {
        format!(
            " ({} per open connection)",
            format_bytes(c.rss_per_connection_bytes)
        )
    } else {
        String::new()
    };
    let _ = writeln!(
        s,
        "  Memory       peak RSS {}{per_conn}",
        format_bytes(c.peak_rss_bytes as f64)
    );
    resources_lines(&mut s, m);
    let sc = &m.self_check;
    let lag = sc
        .send_lag_us
        .as_ref()
        .map(|l| format!("send lag p99 {}, ", format_micros(l.p99)))
        .unwrap_or_default();
    let _ = writeln!(
        s,
        "  Self-check   {lag}event-loop stall p99 {}; {}",
        format_micros(sc.loop_stall_us.p99),
        if m.generator_bound {
            "the generator limited this run"
        } else {
            "the generator kept up"
        }
    );
    if m.config.processes > 1 || m.config.source_addresses > 0 {
        let _ = writeln!(
            s,
            "  Layout       {} processes x {} threads, {} source addresses",
            m.config.processes, m.config.threads, m.config.source_addresses
        );
    }
    connections_section(&mut s, m);
    if !m.thresholds.is_empty() {
        let _ = writeln!(s, "\nThresholds");
        let width = m
            .thresholds
            .iter()
            .map(|v| v.threshold.len())
            .max()
            .unwrap_or(0);
        for v in &m.thresholds {
            let _ = writeln!(
                s,
                "  {}  {:<width$}  actual {}",
                if v.passed { "PASS" } else { "FAIL" },
                v.threshold,
                v.actual
            );
        }
    }
    if !m.notes.is_empty() {
        let _ = writeln!(s, "\nNotes");
        for note in &m.notes {
            let _ = writeln!(s, "  - {note}");
        }
    }
    s
}

/// A merged result: a row per input file.
fn inputs_section(s: &mut String, m: &ReportModel) {
    if m.inputs.is_empty() {
        return;
    }
    let _ = writeln!(s, "\nInputs");
    let width = m.inputs.iter().map(|i| i.file.len()).max().unwrap_or(0);
    // Shards of one run get a column of their index.
    let shards = m.inputs.iter().all(|i| i.shard.is_some());
    let shard_width = if shards {
        m.inputs
            .iter()
            .filter_map(|i| i.shard.as_ref().map(String::len))
            .max()
            .unwrap_or(0)
            .max(5)
    } else {
        0
    };
    let shard_cell = |v: &str| {
        if shards {
            format!("{v:<shard_width$}  ")
        } else {
            String::new()
        }
    };
    let _ = writeln!(
        s,
        "  {}{:<width$}  {:<24}  {:>9}  {:>10}  {:>10}  {:>10}  {:>12}  {:>9}  {:>9}",
        shard_cell("shard"),
        "file",
        "started",
        "duration",
        "issued",
        "http err",
        "failures",
        "req/s",
        "p50",
        "p99"
    );
    for i in &m.inputs {
        let r = &i.requests;
        let _ = writeln!(
            s,
            "  {}{:<width$}  {:<24}  {:>9}  {:>10}  {:>10}  {:>10}  {:>12}  {:>9}  {:>9}",
            shard_cell(i.shard.as_deref().unwrap_or("")),
            i.file,
            i.started_at,
            format!("{:.2} s", i.duration_s),
            format_count(r.issued),
            format_count(r.http_errors),
            format_count(r.failures),
            format_rate(r.per_second),
            format_micros(i.latency_us.p50),
            format_micros(i.latency_us.p99)
        );
    }
}

/// The resources line or two of the client section: from the per-interval
/// samples (the whole process and its worker processes, the watched targets,
/// the interface's traffic).
fn resources_lines(s: &mut String, m: &ReportModel) {
    let Some(r) = &m.resources else {
        return;
    };
    let net: Vec<String> = r
        .network
        .iter()
        .map(|n| {
            format!(
                "; {} rx {} tx {}",
                n.interface,
                format_bytes(n.rx_bytes as f64),
                format_bytes(n.tx_bytes as f64)
            )
        })
        .collect();
    let _ = writeln!(
        s,
        "  Resources    client mean CPU {:.2} cores, peak RSS {}{}",
        r.mean_client_cpu_cores,
        format_bytes(r.peak_client_rss_bytes as f64),
        net.concat()
    );
    for t in &r.targets {
        let who = match t.pid {
            Some(pid) => format!("{} (pid {pid})", t.name),
            None => t.name.clone(),
        };
        let rss = t
            .peak_rss_bytes
            .map(|b| format!(", peak RSS {}", format_bytes(b as f64)))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "  Watched      {who}: mean CPU {:.2} cores{rss}",
            t.mean_cpu_cores
        );
    }
}

fn connections_section(s: &mut String, m: &ReportModel) {
    let c = &m.connections;
    let _ = writeln!(s, "\nConnections");
    let established = match c.establish_all_s {
        _ if c.planned == 0 => "opened as the schedule needed them".to_string(),
        Some(t) => format!("all {} established in {t:.2} s", format_count(c.planned)),
        None => format!(
            "{} of {} established",
            format_count(c.established),
            format_count(c.planned)
        ),
    };
    let _ = writeln!(
        s,
        "  Opened       {} (peak {} open; {established}; open-files limit {})",
        format_count(c.opened),
        format_count(c.peak_open),
        format_count(m.limits.open_files_limit)
    );
    let l = &c.connect_latency_us;
    if l.count > 0 {
        let _ = writeln!(
            s,
            "  Connect      p50 {}  p99 {}  p99.9 {}  max {}",
            format_micros(l.p50),
            format_micros(l.p99),
            format_micros(l.p99_9),
            format_micros(l.max)
        );
    }
    let h = &c.tls_handshake_us;
    if h.count > 0 {
        let _ = writeln!(
            s,
            "  TLS          {} handshakes ({} full, {} resumed)  p50 {}  p99 {}  max {}",
            format_count(h.count),
            format_count(c.tls_handshakes_full),
            format_count(c.tls_handshakes_resumed),
            format_micros(h.p50),
            format_micros(h.p99),
            format_micros(h.max)
        );
    }
    if let Some(k) = m.kernel.as_ref().filter(|_| c.peak_open >= 1000) {
        let _ = writeln!(
            s,
            "  Kernel       +{} slab, +{} TCP buffers at peak ({} per open connection)",
            format_bytes(k.slab_bytes as f64),
            format_bytes(k.tcp_buffers_bytes as f64),
            format_bytes(k.per_connection_bytes)
        );
    }
}

/// Intervals shown in the text timeline at most; longer runs have it in JSON.
const TIMELINE_ROWS: usize = 30;

fn timeline_section(s: &mut String, m: &ReportModel) {
    if m.series.len() < 2 {
        return;
    }
    if m.series.len() > TIMELINE_ROWS {
        let _ = writeln!(
            s,
            "\nTimeline: {} intervals of {} s, in the JSON report (--json, -o)",
            m.series.len(),
            trim_float(m.interval_s)
        );
        return;
    }
    let _ = writeln!(s, "\nTimeline ({} s intervals)", trim_float(m.interval_s));
    let _ = writeln!(
        s,
        "  {:>8}  {:>12}  {:>8}  {:>9}  {:>9}  {:>9}",
        "t", "req/s", "errors", "p50", "p99", "max"
    );
    for i in &m.series {
        let warm = if i.warmup_requests > 0 {
            "  (warm-up)"
        } else {
            ""
        };
        let _ = writeln!(
            s,
            "  {:>7}s  {:>12}  {:>8}  {:>9}  {:>9}  {:>9}{warm}",
            trim_float(i.t_s),
            format_rate(i.rps),
            format_count(i.errors),
            format_micros(i.p50_us),
            format_micros(i.p99_us),
            format_micros(i.max_us)
        );
    }
}

fn latency_section(s: &mut String, title: &str, l: &LatencyReport) {
    let _ = writeln!(s, "\n{title} ({} responses)", format_count(l.count));
    if l.count == 0 {
        let _ = writeln!(s, "  no responses");
        return;
    }
    let _ = writeln!(
        s,
        "  min {}  mean {}  stdev {}  max {}",
        format_micros(l.min),
        format_micros(l.mean.round() as u64),
        format_micros(l.stdev.round() as u64),
        format_micros(l.max)
    );
    let rows = [
        ("p50", l.p50),
        ("p75", l.p75),
        ("p90", l.p90),
        ("p95", l.p95),
        ("p99", l.p99),
        ("p99.9", l.p99_9),
        ("p99.99", l.p99_99),
        ("max", l.max),
    ];
    for (name, v) in rows {
        let _ = writeln!(s, "  {name:<7}{:>10}", format_micros(v));
    }
}

fn histogram_section(s: &mut String, buckets: &[Bucket]) {
    let Some(peak) = buckets.iter().map(|b| b.count).max() else {
        return;
    };
    let total: u64 = buckets.iter().map(|b| b.count).sum();
    let _ = writeln!(s, "\nLatency histogram (upper bound, responses)");
    for b in buckets {
        let len = (b.count * BAR).checked_div(peak).unwrap_or(0);
        let len = if b.count > 0 { len.max(1) } else { 0 };
        let line = format!(
            "  {:>10}  {:>12}  {:>5.1}%  {}",
            format_micros(b.le_us),
            format_count(b.count),
            b.count as f64 * 100.0 / total.max(1) as f64,
            "#".repeat(len as usize)
        );
        let _ = writeln!(s, "{}", line.trim_end());
    }
}

fn status_and_errors(s: &mut String, t: &TallyReport) {
    let _ = writeln!(s, "\nStatus codes");
    if t.status.is_empty() {
        let _ = writeln!(s, "  none");
    }
    for (code, n) in &t.status {
        let _ = writeln!(s, "  {code}  {:>12}", format_count(*n));
    }
    let _ = writeln!(s, "\nErrors");
    let mut any = false;
    for kind in crate::metrics::ErrorKind::ALL {
        let n = t.errors.get(kind.name()).copied().unwrap_or(0);
        if n > 0 {
            any = true;
            let _ = writeln!(
                s,
                "  {:<16}{:>12}  {}",
                kind.name(),
                format_count(n),
                kind.describe()
            );
        }
    }
    if !any {
        let _ = writeln!(s, "  none");
    }
}

fn format_rate(r: f64) -> String {
    let whole = r.trunc() as u64;
    format!(
        "{}.{:02}",
        format_count(whole),
        ((r - r.trunc()) * 100.0).round().min(99.0) as u64
    )
}

fn trim_float(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(format_count(0), "0");
        assert_eq!(format_count(999), "999");
        assert_eq!(format_count(1000), "1,000");
        assert_eq!(format_count(1234567), "1,234,567");
        assert_eq!(format_micros(850), "850µs");
        assert_eq!(format_micros(12_340), "12.34ms");
        assert_eq!(format_micros(1_500_000), "1.50s");
        assert_eq!(format_bytes(512.0), "512 B");
        assert_eq!(format_bytes(1536.0), "1.50 KiB");
        assert_eq!(format_rate(1234.567), "1,234.57");
        assert_eq!(trim_float(10.0), "10");
        assert_eq!(trim_float(0.5), "0.5");
    }
}
