//! The live progress line, drawn on stderr while a run goes on, only when stdout
//! is a terminal and the user did not ask for quiet or JSON.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use myriad::report::format_count;
use myriad::{Progress, Run, Stop};

/// How often the line is redrawn.
const TICK: Duration = Duration::from_millis(100);
/// Window over which the current rate is computed.
const RATE_WINDOW: Duration = Duration::from_secs(1);

/// Waits for `run` to finish, drawing progress if `show` is set.
pub fn watch(run: &Run, show: bool) {
    let bar = show.then(|| make_bar(run.config().stop()));
    let mut window: VecDeque<(Instant, u64)> = VecDeque::new();
    while !run.is_finished() {
        std::thread::sleep(TICK);
        if let Some(bar) = &bar {
            let p = run.progress();
            let now = Instant::now();
            window.push_back((now, p.completed));
            while window.len() > 2 && now.duration_since(window[0].0) > RATE_WINDOW {
                window.pop_front();
            }
            update(bar, &p, run.config().stop(), rate(&window));
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
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

fn update(bar: &ProgressBar, p: &Progress, stop: Stop, rate: f64) {
    let errors = if p.failures > 0 {
        format!(", {} errors", format_count(p.failures))
    } else {
        String::new()
    };
    match stop {
        Stop::Requests(_) => {
            bar.set_position(p.completed);
            bar.set_message(format!(
                "{:.1}s, {} req/s{errors}",
                p.elapsed.as_secs_f64(),
                format_count(rate as u64)
            ));
        }
        Stop::Duration(d) => {
            bar.set_position((p.elapsed.as_millis() as u64).min(d.as_millis() as u64));
            bar.set_message(format!(
                "{:.1}s/{:.0}s, {} done, {} req/s{errors}",
                p.elapsed.as_secs_f64(),
                d.as_secs_f64(),
                format_count(p.completed),
                format_count(rate as u64)
            ));
        }
    }
}

fn rate(window: &VecDeque<(Instant, u64)>) -> f64 {
    match (window.front(), window.back()) {
        (Some(a), Some(b)) if b.0 > a.0 => {
            (b.1 - a.1) as f64 / b.0.duration_since(a.0).as_secs_f64()
        }
        _ => 0.0,
    }
}
