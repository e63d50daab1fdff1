//! What the dashboard shows, and how: [`State`] gathers the live feed's
//! intervals (bounded history) and the run's counters; [`draw`] is a pure
//! function of it, so a test renders it on ratatui's `TestBackend`.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use myriad::report::{format_bytes, format_count, format_micros};
use myriad::summary::IntervalStats;
use myriad::{Progress, Stop};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::symbols::Marker;
use ratatui::text::Line;
use ratatui::widgets::{Axis, Block, Chart, Dataset, Gauge, GraphType, Paragraph, Sparkline};
use ratatui::Frame;

/// Intervals of history kept for the graphs (older ones scroll off).
pub const HISTORY: usize = 240;

/// One completed interval, as the dashboard's sink passes it on.
#[derive(Debug, Clone)]
pub struct Update {
    /// The interval's figures, resources included.
    pub stats: IntervalStats,
    /// Responses per status code in the interval.
    pub statuses: Vec<(u16, u64)>,
    /// Failures per kind in the interval (kinds with none left out).
    pub errors: Vec<(&'static str, u64)>,
    /// Connections open at its end.
    pub open_connections: u64,
}

/// Everything the dashboard draws.
#[derive(Debug, Clone)]
pub struct State {
    /// The top line: what runs against what.
    pub title: String,
    /// How the run ends (for the progress gauge).
    pub stop: Stop,
    /// Requests per second, one per interval.
    pub rps: VecDeque<u64>,
    /// Latency p50 and p99 per interval, microseconds.
    pub latency: VecDeque<(u64, u64)>,
    /// Index of the first interval in the history.
    pub first_index: u64,
    /// Responses per status code so far.
    pub statuses: BTreeMap<u16, u64>,
    /// Failures per kind so far.
    pub errors: BTreeMap<&'static str, u64>,
    /// Connections open, as of the last interval.
    pub open_connections: u64,
    /// The last interval.
    pub last: Option<IntervalStats>,
    /// The run's counters now.
    pub progress: Progress,
    /// `q` or Ctrl-C was pressed: the run is winding down.
    pub stopping: bool,
}

impl State {
    /// An empty dashboard for a run that ends at `stop`.
    pub fn new(title: String, stop: Stop) -> State {
        State {
            title,
            stop,
            rps: VecDeque::new(),
            latency: VecDeque::new(),
            first_index: 0,
            statuses: BTreeMap::new(),
            errors: BTreeMap::new(),
            open_connections: 0,
            last: None,
            progress: Progress {
                issued: 0,
                completed: 0,
                failures: 0,
                open_connections: 0,
                elapsed: Duration::ZERO,
            },
            stopping: false,
        }
    }

    /// Adds a completed interval.
    pub fn add(&mut self, u: Update) {
        if self.rps.len() == HISTORY {
            self.rps.pop_front();
            self.latency.pop_front();
            self.first_index += 1;
        }
        self.rps.push_back(u.stats.rps.round() as u64);
        self.latency.push_back((u.stats.p50_us, u.stats.p99_us));
        for (code, n) in u.statuses {
            *self.statuses.entry(code).or_default() += n;
        }
        for (kind, n) in u.errors {
            *self.errors.entry(kind).or_default() += n;
        }
        self.open_connections = u.open_connections;
        self.last = Some(u.stats);
    }

    /// How far the run is, 0 to 1, and what the gauge says.
    fn progress_label(&self) -> (f64, String) {
        let p = &self.progress;
        let secs = p.elapsed.as_secs_f64();
        match self.stop {
            Stop::Requests(n) => (
                p.completed as f64 / n.max(1) as f64,
                format!(
                    "{} / {} requests, {secs:.1} s",
                    format_count(p.completed),
                    format_count(n)
                ),
            ),
            Stop::Duration(d) => (
                secs / d.as_secs_f64().max(1e-9),
                format!(
                    "{secs:.1} s / {:.0} s, {} requests",
                    d.as_secs_f64(),
                    format_count(p.completed)
                ),
            ),
        }
    }
}

/// Draws the whole dashboard into `frame`.
pub fn draw(frame: &mut Frame<'_>, s: &State) {
    let [head, rps, latency, bottom, foot] = Layout::vertical([
        Constraint::Length(3),
        Constraint::Length(7),
        Constraint::Min(6),
        Constraint::Length(7),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    let (ratio, label) = s.progress_label();
    frame.render_widget(
        Gauge::default()
            .block(Block::bordered().title(s.title.as_str()))
            .gauge_style(Style::new().fg(Color::Green))
            .ratio(ratio.clamp(0.0, 1.0))
            .label(label),
        head,
    );
    draw_rps(frame, s, rps);
    draw_latency(frame, s, latency);
    let [counts, resources] =
        Layout::horizontal([Constraint::Percentage(40), Constraint::Percentage(60)]).areas(bottom);
    draw_counts(frame, s, counts);
    draw_resources(frame, s, resources);
    let help = if s.stopping {
        " stopping: requests in flight end as cancelled, then the report"
    } else {
        " q or Ctrl-C: stop now and print the report"
    };
    frame.render_widget(Paragraph::new(help), foot);
}

fn draw_rps(frame: &mut Frame<'_>, s: &State, area: Rect) {
    let now = s.rps.back().copied().unwrap_or(0);
    let peak = s.rps.iter().copied().max().unwrap_or(0);
    let title = format!(
        "requests/s  now {}  peak {}",
        format_count(now),
        format_count(peak)
    );
    // The newest intervals that fit.
    let width = area.width.saturating_sub(2) as usize;
    let data: Vec<u64> = s
        .rps
        .iter()
        .skip(s.rps.len().saturating_sub(width))
        .copied()
        .collect();
    frame.render_widget(
        Sparkline::default()
            .block(Block::bordered().title(title))
            .style(Style::new().fg(Color::Cyan))
            .data(&data),
        area,
    );
}

fn draw_latency(frame: &mut Frame<'_>, s: &State, area: Rect) {
    let (p50, p99) = s.latency.back().copied().unwrap_or((0, 0));
    let title = format!(
        "latency  p50 {}  p99 {}",
        format_micros(p50),
        format_micros(p99)
    );
    let ms = |us: u64| us as f64 / 1000.0;
    let at = |i: usize| (s.first_index + i as u64) as f64;
    let p50s: Vec<(f64, f64)> = s
        .latency
        .iter()
        .enumerate()
        .map(|(i, l)| (at(i), ms(l.0)))
        .collect();
    let p99s: Vec<(f64, f64)> = s
        .latency
        .iter()
        .enumerate()
        .map(|(i, l)| (at(i), ms(l.1)))
        .collect();
    let top = s.latency.iter().map(|l| l.1).max().unwrap_or(0).max(1);
    let x0 = s.first_index as f64;
    let x1 = (x0 + s.latency.len().max(2) as f64 - 1.0).max(x0 + 1.0);
    let chart = Chart::new(vec![
        Dataset::default()
            .name("p50")
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(Style::new().fg(Color::Green))
            .data(&p50s),
        Dataset::default()
            .name("p99")
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(Style::new().fg(Color::Yellow))
            .data(&p99s),
    ])
    .block(Block::bordered().title(title))
    .x_axis(Axis::default().bounds([x0, x1]))
    .y_axis(
        Axis::default()
            .bounds([0.0, ms(top) * 1.1])
            .labels(["0".to_string(), format_micros(top)]),
    );
    frame.render_widget(chart, area);
}

fn draw_counts(frame: &mut Frame<'_>, s: &State, area: Rect) {
    let mut lines: Vec<Line<'_>> = s
        .statuses
        .iter()
        .map(|(code, n)| Line::from(format!("{code:<16}{:>10}", format_count(*n))))
        .collect();
    for (kind, n) in &s.errors {
        lines.push(
            Line::from(format!("{kind:<16}{:>10}", format_count(*n)))
                .style(Style::new().fg(Color::Red)),
        );
    }
    if lines.is_empty() {
        lines.push(Line::from("no responses yet"));
    }
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title("status and errors")),
        area,
    );
}

fn draw_resources(frame: &mut Frame<'_>, s: &State, area: Rect) {
    let mut lines = vec![Line::from(format!(
        "open connections {}",
        format_count(s.open_connections)
    ))];
    if let Some(r) = s.last.as_ref().and_then(|l| l.resources.as_ref()) {
        lines.push(Line::from(format!(
            "client  CPU {:.2} cores  RSS {}",
            r.client.cpu_cores,
            format_bytes(r.client.rss_bytes as f64)
        )));
        for t in &r.targets {
            let who = match t.pid {
                Some(pid) => format!("{} ({pid})", t.name),
                None => t.name.clone(),
            };
            let rss = t
                .rss_bytes
                .map(|b| format!("  RSS {}", format_bytes(b as f64)))
                .unwrap_or_default();
            lines.push(Line::from(format!(
                "{who}  CPU {:.2} cores{rss}",
                t.cpu_cores
            )));
        }
        let per_s = |b: u64| {
            format_bytes(if r.span_s > 0.0 {
                b as f64 / r.span_s
            } else {
                0.0
            })
        };
        for n in &r.network {
            lines.push(Line::from(format!(
                "{}  rx {}/s  tx {}/s",
                n.interface,
                per_s(n.rx_bytes),
                per_s(n.tx_bytes)
            )));
        }
    }
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title("connections and resources")),
        area,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use myriad::resources::{ClientUsage, InterfaceUsage, ResourceSample, TargetUsage};
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;

    fn interval(i: u64, rps: f64, p50_us: u64, p99_us: u64) -> IntervalStats {
        let mut s = IntervalStats::new(i, Duration::from_secs(1), &myriad::Tally::new(), 0);
        s.rps = rps;
        s.requests = rps as u64;
        s.p50_us = p50_us;
        s.p99_us = p99_us;
        s
    }

    /// A fixed run: five intervals, 200s and some 503s and timeouts, a
    /// watched nginx, loopback traffic.
    fn fixed() -> State {
        let mut s = State::new(
            "myriad run http://127.0.0.1:8080/".into(),
            Stop::Duration(Duration::from_secs(30)),
        );
        for (i, rps) in [40_000.0, 45_000.0, 50_000.0, 47_000.0, 45_123.0]
            .into_iter()
            .enumerate()
        {
            let mut stats = interval(i as u64, rps, 2_400 + i as u64 * 10, 5_050);
            stats.resources = Some(ResourceSample {
                span_s: 1.0,
                client: ClientUsage {
                    cpu_cores: 0.95,
                    rss_bytes: 20 << 20,
                },
                targets: vec![TargetUsage {
                    name: "nginx".into(),
                    pid: Some(4242),
                    cpu_cores: 0.5,
                    rss_bytes: Some(10 << 20),
                }],
                network: vec![InterfaceUsage {
                    interface: "lo".into(),
                    rx_bytes: 5 << 20,
                    tx_bytes: 5 << 20,
                    rx_packets: 1000,
                    tx_packets: 1000,
                }],
            });
            s.add(Update {
                stats,
                statuses: vec![(200, rps as u64 - 10), (503, 10)],
                errors: vec![("timeout", 3)],
                open_connections: 1000,
            });
        }
        s.progress = Progress {
            issued: 227_200,
            completed: 227_123,
            failures: 15,
            open_connections: 1000,
            elapsed: Duration::from_millis(12_300),
        };
        s
    }

    fn render(s: &State, w: u16, h: u16) -> Vec<String> {
        let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
        t.draw(|f| draw(f, s)).unwrap();
        let buf = t.backend().buffer();
        (0..h)
            .map(|y| (0..w).map(|x| buf[(x, y)].symbol()).collect::<String>())
            .collect()
    }

    fn line_with<'a>(lines: &'a [String], needle: &str) -> &'a str {
        lines
            .iter()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle:?} in\n{}", lines.join("\n")))
    }

    #[test]
    fn shows_the_figures_of_a_fixed_series() {
        let lines = render(&fixed(), 80, 26);
        assert!(line_with(&lines, "myriad run http://127.0.0.1:8080/").starts_with("┌"));
        line_with(&lines, "12.3 s / 30 s, 227,123 requests");
        line_with(&lines, "requests/s  now 45,123  peak 50,000");
        line_with(&lines, "latency  p50 2.44ms  p99 5.05ms");
        let s200 = line_with(&lines, "200 ");
        assert!(s200.contains("227,073"), "{s200}");
        assert!(line_with(&lines, "503 ").contains("50"));
        assert!(line_with(&lines, "timeout").contains("15"));
        line_with(&lines, "open connections 1,000");
        line_with(&lines, "client  CPU 0.95 cores  RSS 20.00 MiB");
        line_with(&lines, "nginx (4242)  CPU 0.50 cores  RSS 10.00 MiB");
        line_with(&lines, "lo  rx 5.00 MiB/s  tx 5.00 MiB/s");
        assert_eq!(
            lines.last().map(|l| l.trim_end()),
            Some(" q or Ctrl-C: stop now and print the report")
        );
        // The sparkline drew bars for the intervals.
        let bars = lines.iter().filter(|l| l.contains('█')).count();
        assert!(bars > 0, "{}", lines.join("\n"));
    }

    #[test]
    fn a_run_by_count_and_a_stopping_run() {
        let mut s = State::new("myriad demo".into(), Stop::Requests(1_000_000));
        s.progress.completed = 250_000;
        s.progress.elapsed = Duration::from_secs(2);
        s.stopping = true;
        let lines = render(&s, 80, 24);
        line_with(&lines, "250,000 / 1,000,000 requests, 2.0 s");
        line_with(&lines, "no responses yet");
        line_with(&lines, "stopping: requests in flight end as cancelled");
    }

    #[test]
    fn history_is_bounded() {
        let mut s = State::new(String::new(), Stop::Requests(1));
        for i in 0..(HISTORY as u64 + 10) {
            s.add(Update {
                stats: interval(i, i as f64, 1, 2),
                statuses: vec![(200, 1)],
                errors: Vec::new(),
                open_connections: 1,
            });
        }
        assert_eq!((s.rps.len(), s.latency.len()), (HISTORY, HISTORY));
        assert_eq!(s.first_index, 10);
        assert_eq!(s.statuses[&200], HISTORY as u64 + 10);
        // Narrow or short terminals draw without panicking.
        render(&s, 20, 8);
        render(&s, 1, 1);
        render(&s, 0, 0);
    }
}
