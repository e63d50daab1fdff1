//! The live progress line, drawn on stderr while a run goes on when the
//! dashboard is not (`--no-tui`, or stdout not a terminal) and the user did
//! not ask for quiet or JSON.
//!
//! The bar's position comes from the workers' counters (redrawn every 100 ms);
//! the rate and latency come from the engine's live feed ([`myriad::feed`]):
//! the last completed statistics interval, merged over every worker.

use std::sync::mpsc::{self, Receiver, Sender};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use myriad::feed::{Interval, Sink};
use myriad::report::{format_count, format_micros};
use myriad::{Progress, Run, Stop};

/// How often the line is redrawn.
const TICK: Duration = Duration::from_millis(100);

/// The figures of the last completed interval that the line shows.
#[derive(Debug, Clone, Copy, Default)]
struct Latest {
    rps: f64,
    p99_us: u64,
}

/// A sink of the live feed that passes each interval's figures to the line.
struct ToLine(Sender<Latest>);

impl Sink for ToLine {
    fn interval(&mut self, interval: &Interval<'_>) {
        let _ = self.0.send(Latest {
            rps: interval.stats.rps,
            p99_us: interval.stats.p99_us,
        });
    }
}

/// Waits for `run` to finish, drawing progress if `show` is set.
pub fn watch(run: &Run, show: bool) {
    let mut line = show.then(|| {
        let (tx, rx) = mpsc::channel();
        run.subscribe(Box::new(ToLine(tx)));
        (make_bar(run.config().stop()), rx, Latest::default())
    });
    while !run.is_finished() {
        std::thread::sleep(TICK);
        if let Some((bar, feed, latest)) = &mut line {
            if let Some(last) = drain(feed) {
                *latest = last;
            }
            update(bar, &run.progress(), run.config().stop(), *latest);
        }
    }
    if let Some((bar, _, _)) = line {
        bar.finish_and_clear();
    }
}

/// The newest of the intervals received, if any.
fn drain(feed: &Receiver<Latest>) -> Option<Latest> {
    feed.try_iter().last()
}

fn make_bar(stop: Stop) -> ProgressBar {
    let (len, template) = match stop {
        Stop::Requests(n) => (n, "{bar:30} {human_pos}/{human_len} {msg}"),
        Stop::Duration(d) => (d.as_millis() as u64, "{bar:30} {msg}"),
    };
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

fn update(bar: &ProgressBar, p: &Progress, stop: Stop, latest: Latest) {
    let errors = if p.failures > 0 {
        format!(", {} errors", format_count(p.failures))
    } else {
        String::new()
    };
    let p99 = if latest.p99_us > 0 {
        format!(", p99 {}", format_micros(latest.p99_us))
    } else {
        String::new()
    };
    let rate = format_count(latest.rps as u64);
    match stop {
        Stop::Requests(_) => {
            bar.set_position(p.completed);
            bar.set_message(format!(
                "{:.1}s, {rate} req/s{p99}{errors}",
                p.elapsed.as_secs_f64(),
            ));
        }
        Stop::Duration(d) => {
            bar.set_position((p.elapsed.as_millis() as u64).min(d.as_millis() as u64));
            bar.set_message(format!(
                "{:.1}s/{:.0}s, {} done, {rate} req/s{p99}{errors}",
                p.elapsed.as_secs_f64(),
                d.as_secs_f64(),
                format_count(p.completed),
            ));
        }
    }
}
