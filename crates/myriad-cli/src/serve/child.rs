//! One worker process of a multi-process `myriad serve` (the hidden `--child`
//! mode).
//!
//! It binds the supervisor's addresses with `SO_REUSEPORT`, raises its
//! open-files limit, serves, and talks to the supervisor in [`WorkerLine`]s on
//! stdout: `ready`, its counters every [`REPORT_EVERY`], and at the end its
//! open connections just before closing them, then its final counters. It
//! stops when its stdin ends (the supervisor closed it, or died: either way
//! nobody is left to report to) or on SIGINT/SIGTERM (Ctrl-C in a terminal
//! reaches the whole process group).

use std::io::{Read, Write};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use myriad_server::{ListenSpec, ServerConfig, WorkerLine};

use crate::args::{EXIT_FAILURE, EXIT_OK};

/// How often a worker reports its counters.
const REPORT_EVERY: Duration = Duration::from_millis(200);

/// Serves on `spec` until told to stop; returns the exit code.
pub fn run(spec: ListenSpec, config: ServerConfig, threads: usize) -> i32 {
    let pid = std::process::id();
    myriad::sys::raise_open_files_limit();
    let listeners = spec
        .addrs()
        .map(|addr| myriad_server::bind_reuse_port(addr).map_err(|e| (addr, e)))
        .collect::<Result<Vec<_>, _>>();
    let listeners = match listeners {
        Ok(l) => l,
        Err((addr, e)) => {
            eprintln!("error: worker (pid {pid}) cannot listen on {addr}: {e}");
            return EXIT_FAILURE;
        }
    };
    let server = match myriad_server::spawn_many(listeners, config, threads) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: worker (pid {pid}) cannot start the server: {e}");
            return EXIT_FAILURE;
        }
    };
    let stop = super::interrupt_token();
    stop_when_stdin_ends(stop.clone());

    let mut out = std::io::stdout();
    if say(&mut out, WorkerLine::Ready) {
        report_until_stopped(&stop, &mut out, || server.stats());
    }
    // Counted while still open, so the supervisor sees every worker's open
    // connections at the stop, however their final lines interleave.
    say(&mut out, WorkerLine::Stats(server.stats()));
    let last = server.shutdown();
    say(&mut out, WorkerLine::Final(last));
    EXIT_OK
}

/// Writes one line; false if the supervisor no longer reads them.
fn say(out: &mut impl Write, line: WorkerLine) -> bool {
    writeln!(out, "{line}").and_then(|()| out.flush()).is_ok()
}

/// Reports the counters every [`REPORT_EVERY`] until `stop` or until the
/// supervisor stops reading.
fn report_until_stopped(
    stop: &CancellationToken,
    out: &mut impl Write,
    stats: impl Fn() -> myriad_server::StatsSnapshot,
) {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
    else {
        return;
    };
    rt.block_on(async {
        let mut tick = tokio::time::interval(REPORT_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = tick.tick() => {
                    if !say(out, WorkerLine::Stats(stats())) {
                        return;
                    }
                }
            }
        }
    });
}

/// Cancels `stop` once stdin reaches its end (or fails). The supervisor holds
/// the other end of the pipe, so this is how a worker learns that it should
/// stop, or that the supervisor is gone, even if it was killed.
fn stop_when_stdin_ends(stop: CancellationToken) {
    let spawned = std::thread::Builder::new()
        .name("myriad-stdin".into())
        .stack_size(64 * 1024)
        .spawn(move || {
            let mut stdin = std::io::stdin();
            let mut buf = [0; 64];
            loop {
                match stdin.read(&mut buf) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
            stop.cancel();
        });
    if let Err(e) = spawned {
        eprintln!("warning: cannot watch stdin ({e}); this worker stops only on a signal");
    }
}
