//! The live dashboard of `myriad run` and `myriad demo` on a terminal
//! (ratatui on its crossterm backend): requests/s and latency over time,
//! status and error counts, open connections, progress, and the resources
//! of the client and the watched targets.
//!
//! It is a [`Sink`] of the live feed ([`ToDashboard`], on the collector's
//! thread, only passes each interval on) plus the drawing loop on the
//! calling thread, which also reads the keyboard: `q` or Ctrl-C (a key in
//! raw mode, not a signal) cancels the run, exactly as SIGINT does, and the
//! loop goes on until the workers have ended. The terminal is restored when
//! the [`Screen`] guard drops, and by a panic hook if anything panics while
//! it is in raw mode, so the report that follows prints on a sane terminal.

mod view;

use std::io::{self, Stdout};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::Once;
use std::time::Duration;

use myriad::feed::{Interval, Sink};
use myriad::{ErrorKind, Run};
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::crossterm::terminal::{self, EnterAlternateScreen, LeaveAlternateScreen};
use ratatui::crossterm::{cursor, execute};
use ratatui::Terminal;

pub use view::{State, Update};

/// How often the dashboard is redrawn (and the keyboard polled).
const TICK: Duration = Duration::from_millis(100);

/// A sink of the live feed that passes each interval to the dashboard.
struct ToDashboard(Sender<Update>);

impl Sink for ToDashboard {
    fn interval(&mut self, i: &Interval<'_>) {
        let _ = self.0.send(Update {
            stats: i.stats.clone(),
            statuses: i.tally.statuses().collect(),
            errors: ErrorKind::ALL
                .iter()
                .map(|k| (k.name(), i.tally.errors(*k)))
                .filter(|(_, n)| *n > 0)
                .collect(),
            open_connections: i.open_connections,
        });
    }
}

/// Whether the terminal is in the dashboard's mode (raw, alternate screen).
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// Leaves raw mode and the alternate screen, once, if the dashboard had
/// entered them.
fn restore() {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        let _ = terminal::disable_raw_mode();
        let _ = execute!(io::stdout(), LeaveAlternateScreen, cursor::Show);
    }
}

/// The terminal in the dashboard's mode; restored on drop.
struct Screen {
    terminal: Terminal<CrosstermBackend<Stdout>>,
}

impl Screen {
    fn enter() -> io::Result<Screen> {
        static HOOK: Once = Once::new();
        HOOK.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                restore();
                previous(info);
            }));
        });
        terminal::enable_raw_mode()?;
        ACTIVE.store(true, Ordering::SeqCst);
        let entered = execute!(io::stdout(), EnterAlternateScreen, cursor::Hide)
            .and_then(|_| Terminal::new(CrosstermBackend::new(io::stdout())));
        match entered {
            Ok(terminal) => Ok(Screen { terminal }),
            Err(e) => {
                restore();
                Err(e)
            }
        }
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        restore();
    }
}

/// Whether a key asks to stop: `q`, Esc, or Ctrl-C.
fn asks_to_stop(code: KeyCode, modifiers: KeyModifiers) -> bool {
    match code {
        KeyCode::Char('q') | KeyCode::Esc => true,
        KeyCode::Char('c') => modifiers.contains(KeyModifiers::CONTROL),
        _ => false,
    }
}

/// Draws the dashboard until `run` has finished. Returns an error, with the
/// terminal restored, if the terminal cannot be set up or drawn on; the run
/// goes on and the caller waits for it another way.
pub fn watch(run: &Run, title: String) -> io::Result<()> {
    let mut screen = Screen::enter()?;
    let (tx, rx) = mpsc::channel();
    run.subscribe(Box::new(ToDashboard(tx)));
    let mut state = State::new(title, run.config().stop());
    while !run.is_finished() {
        for update in rx.try_iter() {
            state.add(update);
        }
        state.progress = run.progress();
        screen.terminal.draw(|f| view::draw(f, &state))?;
        if event::poll(TICK)? {
            if let Event::Key(k) = event::read()? {
                if k.kind == KeyEventKind::Press && asks_to_stop(k.code, k.modifiers) {
                    // The same path as Ctrl-C outside raw mode: requests in
                    // flight end as `cancelled`, the report follows.
                    run.cancel();
                    state.stopping = true;
                }
            }
        }
    }
    drop(screen);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_that_stop() {
        assert!(asks_to_stop(KeyCode::Char('q'), KeyModifiers::NONE));
        assert!(asks_to_stop(KeyCode::Char('c'), KeyModifiers::CONTROL));
        assert!(!asks_to_stop(KeyCode::Char('c'), KeyModifiers::NONE));
        assert!(!asks_to_stop(KeyCode::Enter, KeyModifiers::NONE));
    }

    #[test]
    fn restoring_a_terminal_never_entered_does_nothing() {
        restore();
        assert!(!ACTIVE.load(Ordering::SeqCst));
    }
}
