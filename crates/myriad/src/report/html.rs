//! The HTML report: one self-contained file that opens offline, with no script
//! and nothing fetched: inline CSS, charts as inline SVG ([`super::svg`]), and
//! the same figures as the text report, from the same [`ReportModel`].
//!
//! Charts: throughput, latency percentiles over time, the latency percentile
//! spectrum (log scale, as HdrHistogram plots it), errors and drops over time,
//! open connections over time, and, when sampled, CPU, memory and network
//! traffic over time for the client and each watched target. Tables: the summary, latency per target, status
//! codes and errors, thresholds, connections, the generator's cost and
//! self-check, the configuration, notes, and any extra sections the caller
//! adds (find-max's steps, the demo's comparison with the original experiment).

use std::fmt::Write as _;
use std::io::{self, Write};

use super::model::{LatencyReport, ReportModel, TallyReport};
use super::svg::{Chart, Scale, Series};
use super::Reporter;
use crate::units::{format_bytes, format_count, format_micros};

/// The HTML report, with a title and extra sections of the caller's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HtmlReporter {
    /// The page's title and heading (`myriad report` when empty).
    pub title: String,
    /// Tables shown after the summary, in order.
    pub sections: Vec<HtmlSection>,
}

/// A table of the caller's in the HTML report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HtmlSection {
    /// Its heading.
    pub heading: String,
    /// A sentence under the heading, if any.
    pub note: Option<String>,
    /// Column headings.
    pub columns: Vec<String>,
    /// Rows of cells, each as many as `columns`.
    pub rows: Vec<Vec<String>>,
}

impl Reporter for HtmlReporter {
    fn report(&self, model: &ReportModel, out: &mut dyn Write) -> io::Result<()> {
        out.write_all(self.render(model).as_bytes())
    }
}

/// `s` with the characters HTML gives meaning to escaped.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0 auto;max-width:1100px;padding:16px 24px;color:#1b1b1b}
h1{font-size:22px;margin:8px 0 2px}h2{font-size:17px;margin:26px 0 8px;border-bottom:1px solid #ddd;padding-bottom:3px}
.sub{color:#555;margin:0 0 12px}
table{border-collapse:collapse;margin:6px 0 10px}th,td{padding:3px 10px;text-align:right;border-bottom:1px solid #eee;white-space:nowrap}
th:first-child,td:first-child{text-align:left}th{background:#f5f5f5;font-weight:600}
.pass{color:#17692a;font-weight:600}.fail{color:#b00020;font-weight:600}
.kpis{display:flex;flex-wrap:wrap;gap:10px;margin:10px 0}.kpi{border:1px solid #ddd;border-radius:6px;padding:8px 14px;min-width:130px}
.kpi b{display:block;font-size:20px}.kpi span{color:#555;font-size:12px}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(480px,1fr));gap:8px 18px}
figure.chart{margin:0}figcaption{font-weight:600;margin:6px 0 0}svg{width:100%;height:auto}
.grid{stroke:#e6e6e6;stroke-width:1}.tick,.legend,.axis{font-size:11px;fill:#444}
ul.notes li{margin:3px 0}.empty{color:#777}
@media print{.charts{display:block}}
";

fn latency_cells(l: &LatencyReport) -> Vec<String> {
    if l.count == 0 {
        return vec!["-".to_string(); 7];
    }
    [l.p50, l.p90, l.p99, l.p99_9, l.max]
        .iter()
        .map(|&v| format_micros(v))
        .chain([format_micros(l.mean.round() as u64), format_count(l.count)])
        .collect()
}

/// One row per URL or request type, then the total: counts, rate, latency
/// and status codes, side by side.
fn requests_table(out: &mut String, m: &ReportModel) {
    let columns = [
        "request",
        "issued",
        "succeeded",
        "http errors",
        "failures",
        "req/s",
        "p50",
        "p99",
        "status",
    ];
    let cells = |name: &str, t: &TallyReport| {
        vec![
            name.to_string(),
            format_count(t.requests.issued),
            format_count(t.requests.succeeded),
            format_count(t.requests.http_errors),
            format_count(t.requests.failures),
            format_count(t.requests.per_second.max(0.0).round() as u64),
            format_micros(t.latency_us.p50),
            format_micros(t.latency_us.p99),
            super::model::status_line(t),
        ]
    };
    let mut rows: Vec<Vec<String>> = m.targets.iter().map(|r| cells(&r.name, &r.tally)).collect();
    rows.push(cells("all", &m.total));
    out.push_str("<p>By request:</p>");
    table(out, "requests", &columns, &rows);
}

fn table(out: &mut String, id: &str, columns: &[&str], rows: &[Vec<String>]) {
    let _ = write!(out, r#"<table id="{id}"><thead><tr>"#);
    for c in columns {
        let _ = write!(out, "<th>{}</th>", escape(c));
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            let _ = write!(out, "<td>{}</td>", escape(cell));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
}

fn kpi(out: &mut String, id: &str, value: &str, label: &str) {
    let _ = write!(
        out,
        r#"<div class="kpi" id="kpi-{id}"><b>{}</b><span>{}</span></div>"#,
        escape(value),
        escape(label)
    );
}

fn seconds(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}s")
    } else {
        format!("{v:.1}s")
    }
}

fn count(v: f64) -> String {
    format_count(v.max(0.0).round() as u64)
}

fn micros(v: f64) -> String {
    format_micros(v.max(0.0).round() as u64)
}

fn share(n: u64, of: u64) -> String {
    if of == 0 {
        "0%".to_string()
    } else {
        format!("{:.2}%", n as f64 * 100.0 / of as f64)
    }
}

impl HtmlReporter {
    fn render(&self, m: &ReportModel) -> String {
        let title = if self.title.is_empty() {
            "myriad report"
        } else {
            self.title.as_str()
        };
        let t = &m.total;
        let r = &t.requests;
        let mut s = String::with_capacity(64 * 1024);
        let _ = write!(
            s,
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><meta name=\"generator\" content=\"myriad {}\"><title>{}</title><style>{STYLE}</style></head><body>",
            env!("CARGO_PKG_VERSION"),
            escape(title)
        );
        let _ = write!(s, "<h1>{}</h1>", escape(title));
        let urls: Vec<&str> = m.targets.iter().map(|t| t.url.as_str()).collect();
        let bound = match (m.config.requests, m.config.duration_s) {
            (Some(n), _) => format!("{} requests", format_count(n)),
            (_, Some(d)) => seconds(d),
            _ => String::new(),
        };
        let _ = write!(
            s,
            r#"<p class="sub">{} · {} model · {} · {} connections · {:.2} s{}</p>"#,
            escape(&urls.join(", ")),
            m.model,
            escape(&bound),
            format_count(m.config.connections as u64),
            m.duration_s,
            if m.interrupted { " · interrupted" } else { "" }
        );

        // The figures people look for first.
        s.push_str(r#"<div class="kpis">"#);
        kpi(&mut s, "rps", &format!("{:.1}", r.per_second), "requests/s");
        kpi(
            &mut s,
            "requests",
            &format_count(r.issued),
            "requests issued",
        );
        let latency = &t.latency_us;
        let (p50, p99) = if latency.count == 0 {
            ("-".to_string(), "-".to_string())
        } else {
            (format_micros(latency.p50), format_micros(latency.p99))
        };
        kpi(&mut s, "p50", &p50, "latency p50");
        kpi(&mut s, "p99", &p99, "latency p99");
        kpi(
            &mut s,
            "errors",
            &share(r.http_errors + r.failures, r.issued),
            "errors (HTTP + failures)",
        );
        if !m.thresholds.is_empty() {
            let passed = m.thresholds.iter().all(|v| v.passed);
            kpi(
                &mut s,
                "thresholds",
                if passed { "passed" } else { "FAILED" },
                "thresholds",
            );
        }
        s.push_str("</div>");

        s.push_str("<h2>Requests</h2>");
        let balanced = if r.balanced { "yes" } else { "NO (mismatch)" };
        let mut rows = vec![
            vec!["issued".to_string(), format_count(r.issued)],
            vec!["succeeded (1xx-3xx)".to_string(), format_count(r.succeeded)],
            vec![
                "HTTP errors (4xx/5xx)".to_string(),
                format_count(r.http_errors),
            ],
            vec!["failures (no status)".to_string(), format_count(r.failures)],
            vec![
                "issued = succeeded + HTTP errors + failures".to_string(),
                balanced.to_string(),
            ],
        ];
        if m.model == "open" {
            rows.push(vec![
                "dropped (all connections busy)".into(),
                format_count(r.dropped),
            ]);
            rows.push(vec![
                "queued (waited for a connection)".into(),
                format_count(r.queued),
            ]);
        }
        rows.push(vec!["per second".into(), format!("{:.1}", r.per_second)]);
        rows.push(vec!["per minute".into(), format!("{:.0}", r.per_minute)]);
        rows.push(vec![
            "bytes sent / received".into(),
            format!(
                "{} / {}",
                format_bytes(t.bytes.sent as f64),
                format_bytes(t.bytes.received as f64)
            ),
        ]);
        table(&mut s, "requests", &["", "value"], &rows);

        if !m.inputs.is_empty() {
            s.push_str("<h2>Inputs</h2><p>The result files merged into this report; the figures above are of all of them together (histograms merged, so percentiles are exact).</p>");
            let rows: Vec<Vec<String>> = m
                .inputs
                .iter()
                .map(|i| {
                    [
                        match &i.shard {
                            Some(shard) => format!("{} (shard {shard})", i.file),
                            None => i.file.clone(),
                        },
                        i.started_at.clone(),
                        format!("{:.2} s", i.duration_s),
                        format_count(i.requests.issued),
                        format!("{:.1}", i.requests.per_second),
                    ]
                    .into_iter()
                    .chain(latency_cells(&i.latency_us).into_iter().take(3))
                    .chain([format!("{:.2}%", i.error_rate * 100.0)])
                    .collect()
                })
                .collect();
            table(
                &mut s,
                "inputs",
                &[
                    "file", "started", "duration", "issued", "req/s", "p50", "p90", "p99", "errors",
                ],
                &rows,
            );
        }

        s.push_str("<h2>Latency</h2>");
        let columns = [
            "target",
            "p50",
            "p90",
            "p99",
            "p99.9",
            "max",
            "mean",
            "responses",
        ];
        let mut rows = vec![std::iter::once("all".to_string())
            .chain(latency_cells(&t.latency_us))
            .collect::<Vec<_>>()];
        if m.targets.len() > 1 {
            for target in &m.targets {
                rows.push(
                    std::iter::once(target.name.clone())
                        .chain(latency_cells(&target.tally.latency_us))
                        .collect(),
                );
            }
        }
        table(&mut s, "latency", &columns, &rows);
        if let Some(service) = &t.service_latency_us {
            s.push_str("<p>Service time, from the actual send (not corrected for waiting):</p>");
            let row = std::iter::once("all".to_string())
                .chain(latency_cells(service))
                .collect::<Vec<_>>();
            table(&mut s, "service-latency", &columns, &[row]);
        }

        s.push_str(r#"<h2>Over time</h2><div class="charts">"#);
        for chart in charts(m) {
            s.push_str(&chart.render());
        }
        s.push_str("</div>");

        s.push_str("<h2>Outcomes</h2>");
        outcomes(&mut s, "all", t);
        if m.targets.len() > 1 {
            requests_table(&mut s, m);
            for target in &m.targets {
                let _ = write!(s, "<p>{}</p>", escape(&target.name));
                outcomes(&mut s, &target.name, &target.tally);
            }
        }

        if !m.thresholds.is_empty() {
            s.push_str("<h2>Thresholds</h2>");
            let _ = write!(
                s,
                r#"<table id="thresholds"><thead><tr><th>threshold</th><th>actual</th><th>result</th></tr></thead><tbody>"#
            );
            for v in &m.thresholds {
                let (class, word) = if v.passed {
                    ("pass", "pass")
                } else {
                    ("fail", "FAIL")
                };
                let _ = write!(
                    s,
                    r#"<tr><td>{}</td><td>{}</td><td class="{class}">{word}</td></tr>"#,
                    escape(&v.threshold),
                    escape(&v.actual)
                );
            }
            s.push_str("</tbody></table>");
        }

        for (i, section) in self.sections.iter().enumerate() {
            let _ = write!(s, "<h2>{}</h2>", escape(&section.heading));
            if let Some(note) = &section.note {
                let _ = write!(s, "<p>{}</p>", escape(note));
            }
            let columns: Vec<&str> = section.columns.iter().map(String::as_str).collect();
            table(&mut s, &format!("section-{i}"), &columns, &section.rows);
        }

        s.push_str("<h2>Connections and the generator</h2>");
        let c = &m.connections;
        let mut rows = vec![
            vec!["opened".to_string(), format_count(c.opened)],
            vec!["peak open".to_string(), format_count(c.peak_open)],
            vec![
                "established / planned".to_string(),
                format!(
                    "{} / {}",
                    format_count(c.established),
                    format_count(c.planned)
                ),
            ],
        ];
        if let Some(all) = c.establish_all_s {
            rows.push(vec!["all established after".into(), format!("{all:.2} s")]);
        }
        if c.connect_latency_us.count > 0 {
            rows.push(vec![
                "connect p50 / p99".into(),
                format!(
                    "{} / {}",
                    format_micros(c.connect_latency_us.p50),
                    format_micros(c.connect_latency_us.p99)
                ),
            ]);
        }
        if c.tls_handshake_us.count > 0 {
            rows.push(vec![
                "TLS handshakes full / resumed".into(),
                format!(
                    "{} / {}",
                    format_count(c.tls_handshakes_full),
                    format_count(c.tls_handshakes_resumed)
                ),
            ]);
            rows.push(vec![
                "TLS handshake p50 / p99".into(),
                format!(
                    "{} / {}",
                    format_micros(c.tls_handshake_us.p50),
                    format_micros(c.tls_handshake_us.p99)
                ),
            ]);
        }
        let cl = &m.client;
        rows.push(vec![
            "client CPU user / system".into(),
            format!("{:.2} s / {:.2} s", cl.cpu_user_s, cl.cpu_system_s),
        ]);
        rows.push(vec![
            "client CPU utilisation".into(),
            format!("{:.2} cores", cl.cpu_utilisation),
        ]);
        rows.push(vec![
            "requests per client CPU-second".into(),
            format!("{:.0}", cl.requests_per_cpu_second),
        ]);
        rows.push(vec![
            "client peak memory (RSS)".into(),
            format_bytes(cl.peak_rss_bytes as f64),
        ]);
        if let Some(k) = &m.kernel {
            rows.push(vec![
                "kernel memory added (TCP buffers + slab)".into(),
                format_bytes((k.tcp_buffers_bytes + k.slab_bytes) as f64),
            ]);
        }
        rows.push(vec![
            "event-loop stall p99".into(),
            format_micros(m.self_check.loop_stall_us.p99),
        ]);
        if let Some(lag) = &m.self_check.send_lag_us {
            rows.push(vec!["send lag p99".into(), format_micros(lag.p99)]);
        }
        rows.push(vec![
            "generator limited the run".into(),
            if m.generator_bound {
                format!("yes: {}", m.self_check.reasons.join(", "))
            } else {
                "no".into()
            },
        ]);
        table(&mut s, "generator", &["", "value"], &rows);

        if !m.notes.is_empty() {
            s.push_str(r#"<h2>Notes</h2><ul class="notes">"#);
            for note in &m.notes {
                let _ = write!(s, "<li>{}</li>", escape(note));
            }
            s.push_str("</ul>");
        }

        s.push_str("<h2>Configuration</h2>");
        let cfg = &m.config;
        let mut rows = vec![
            vec!["targets".to_string(), urls.join(", ")],
            vec!["model".into(), m.model.to_string()],
            vec!["connections".into(), format_count(cfg.connections as u64)],
            vec!["threads".into(), cfg.threads.to_string()],
            vec!["processes".into(), cfg.processes.to_string()],
            vec![
                "keep-alive".into(),
                if cfg.keep_alive { "yes" } else { "no" }.into(),
            ],
            vec!["statistics interval".into(), seconds(m.interval_s)],
        ];
        if let Some(n) = cfg.requests {
            rows.push(vec!["requests".into(), format_count(n)]);
        }
        if let Some(d) = cfg.duration_s {
            rows.push(vec!["duration".into(), seconds(d)]);
        }
        if let Some(i) = cfg.interval_s {
            rows.push(vec!["per-connection interval".into(), seconds(i)]);
        }
        if cfg.source_addresses > 0 {
            rows.push(vec![
                "source addresses".into(),
                cfg.source_addresses.to_string(),
            ]);
        }
        if let Some(w) = &m.warmup {
            rows.push(vec![
                "warm-up (outside every figure)".into(),
                format!(
                    "{} ({} requests)",
                    seconds(w.duration_s),
                    format_count(w.requests)
                ),
            ]);
        }
        table(&mut s, "config", &["", "value"], &rows);
        let _ = write!(
            s,
            r#"<p class="sub">Made by myriad {}. Latency counts from when each request was due.</p></body></html>"#,
            env!("CARGO_PKG_VERSION")
        );
        s.push('\n');
        s
    }
}

/// Status codes and error kinds of a tally, with their shares.
fn outcomes(s: &mut String, id: &str, t: &TallyReport) {
    let issued = t.requests.issued;
    let mut rows: Vec<Vec<String>> = t
        .status
        .iter()
        .map(|(code, n)| vec![format!("HTTP {code}"), format_count(*n), share(*n, issued)])
        .collect();
    rows.extend(t.errors.iter().filter(|(_, n)| **n > 0).map(|(kind, n)| {
        vec![
            format!("error: {kind}"),
            format_count(*n),
            share(*n, issued),
        ]
    }));
    if rows.is_empty() {
        rows.push(vec!["(none)".into(), "0".into(), "0%".into()]);
    }
    let id: String = id
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    table(
        s,
        &format!("outcomes-{id}"),
        &["outcome", "requests", "share"],
        &rows,
    );
}

/// The charts of the report, in page order.
fn charts(m: &ReportModel) -> Vec<Chart> {
    let over_time = |pick: fn(&crate::summary::IntervalStats) -> f64| -> Vec<(f64, f64)> {
        m.series.iter().map(|i| (i.t_s, pick(i))).collect()
    };
    let time_chart = |id, title: &str, y_scale, y_format, series: Vec<Series>| Chart {
        id,
        title: title.to_string(),
        x_scale: Scale::Linear,
        y_scale,
        x_label: "seconds since the start".to_string(),
        y_format,
        x_format: seconds,
        series,
    };
    let series = |name: &str, points| Series {
        name: name.to_string(),
        points,
    };
    let mut charts = vec![
        time_chart(
            "chart-throughput",
            "Throughput (requests/s)",
            Scale::Linear,
            count,
            vec![series("req/s", over_time(|i| i.rps))],
        ),
        time_chart(
            "chart-latency",
            "Latency over time (log scale)",
            Scale::Log,
            micros,
            vec![
                series("p50", over_time(|i| i.p50_us as f64)),
                series("p90", over_time(|i| i.p90_us as f64)),
                series("p99", over_time(|i| i.p99_us as f64)),
                series("max", over_time(|i| i.max_us as f64)),
            ],
        ),
        Chart {
            id: "chart-spectrum",
            title: "Latency by percentile (log scales)".to_string(),
            x_scale: Scale::Percentile,
            y_scale: Scale::Log,
            x_label: "percentile".to_string(),
            y_format: micros,
            x_format: |q| super::svg::percentile_label(q),
            series: vec![series(
                "latency",
                m.spectrum
                    .iter()
                    .map(|p| (p.percentile / 100.0, p.latency_us as f64))
                    .collect(),
            )],
        },
        time_chart(
            "chart-errors",
            "Errors and drops per interval",
            Scale::Linear,
            count,
            {
                let mut v = vec![series("errors", over_time(|i| i.errors as f64))];
                if m.model == "open" {
                    v.push(series("dropped", over_time(|i| i.dropped as f64)));
                }
                v
            },
        ),
        time_chart(
            "chart-connections",
            "Open connections",
            Scale::Linear,
            count,
            vec![series("open", over_time(|i| i.open_connections as f64))],
        ),
    ];
    charts.extend(resource_charts(m));
    charts.retain(|c| !c.series.is_empty());
    charts
}

/// CPU, memory and network over time, when the run sampled them: the client
/// beside each watched target.
fn resource_charts(m: &ReportModel) -> Vec<Chart> {
    let sampled: Vec<(f64, &crate::resources::ResourceSample)> = m
        .series
        .iter()
        .filter_map(|i| i.resources.as_ref().map(|r| (i.t_s, r)))
        .collect();
    if sampled.is_empty() {
        return Vec::new();
    }
    let mut targets: Vec<(String, Option<u32>)> = Vec::new();
    for (_, r) in &sampled {
        for t in &r.targets {
            if !targets.iter().any(|(n, p)| *n == t.name && *p == t.pid) {
                targets.push((t.name.clone(), t.pid));
            }
        }
    }
    let label = |name: &str, pid: Option<u32>| match pid {
        Some(pid) => format!("{name} ({pid})"),
        None => name.to_string(),
    };
    let target_points =
        |name: &str, pid: Option<u32>, pick: fn(&crate::resources::TargetUsage) -> Option<f64>| {
            sampled
                .iter()
                .filter_map(|(t, r)| {
                    let u = r.targets.iter().find(|u| u.name == name && u.pid == pid)?;
                    Some((*t, pick(u)?))
                })
                .collect::<Vec<_>>()
        };
    let chart = |id, title: &str, y_format: fn(f64) -> String, series: Vec<Series>| Chart {
        id,
        title: title.to_string(),
        x_scale: Scale::Linear,
        y_scale: Scale::Linear,
        x_label: "seconds since the start".to_string(),
        y_format,
        x_format: seconds,
        series: series
            .into_iter()
            .filter(|s| !s.points.is_empty())
            .collect(),
    };
    let mut cpu = vec![Series {
        name: "client".to_string(),
        points: sampled
            .iter()
            .map(|(t, r)| (*t, r.client.cpu_cores))
            .collect(),
    }];
    let mut memory = vec![Series {
        name: "client".to_string(),
        points: sampled
            .iter()
            .map(|(t, r)| (*t, r.client.rss_bytes as f64))
            .collect(),
    }];
    for (name, pid) in &targets {
        cpu.push(Series {
            name: label(name, *pid),
            points: target_points(name, *pid, |u| Some(u.cpu_cores)),
        });
        memory.push(Series {
            name: label(name, *pid),
            points: target_points(name, *pid, |u| u.rss_bytes.map(|b| b as f64)),
        });
    }
    let mut interfaces: Vec<&str> = Vec::new();
    for (_, r) in &sampled {
        for n in &r.network {
            if !interfaces.contains(&n.interface.as_str()) {
                interfaces.push(&n.interface);
            }
        }
    }
    let mut network = Vec::new();
    for interface in interfaces {
        for (dir, pick) in [
            (
                "rx",
                (|n: &crate::resources::InterfaceUsage| n.rx_bytes) as fn(&_) -> u64,
            ),
            ("tx", |n: &crate::resources::InterfaceUsage| n.tx_bytes),
        ] {
            network.push(Series {
                name: format!("{interface} {dir}"),
                points: sampled
                    .iter()
                    .filter_map(|(t, r)| {
                        let n = r.network.iter().find(|n| n.interface == interface)?;
                        (r.span_s > 0.0).then(|| (*t, pick(n) as f64 / r.span_s))
                    })
                    .collect(),
            });
        }
    }
    vec![
        chart("chart-cpu", "CPU (cores)", |v| format!("{v:.2}"), cpu),
        chart("chart-memory", "Memory (RSS)", format_bytes, memory),
        chart(
            "chart-network",
            "Network (bytes/s)",
            |v| format!("{}/s", format_bytes(v)),
            network,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_covers_markup() {
        assert_eq!(
            escape(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
