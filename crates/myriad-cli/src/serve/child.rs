//! One worker process of a multi-process `myriad serve` (the hidden `--child`
//! mode).
//!
//! It binds the supervisor's addresses with `SO_REUSEPORT`, raises its
//! open-files limit, serves, and talks to the supervisor in [`WorkerLine`]s on
//! stdout (in [`myriad::supervise`]'s line format): `ready`, its counters
//! every [`REPORT_EVERY`], and at the end its open connections just before
//! closing them, then its final counters. It stops when its stdin says
//! `cancel` or ends (the supervisor closed it, or died: either way nobody is
//! left to report to) or on SIGINT/SIGTERM (Ctrl-C in a terminal reaches the
//! whole process group).

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use myriad_server::{ListenSpec, ServerConfig, StdListener, Tls, WorkerLine};

use crate::args::{EXIT_FAILURE, EXIT_OK};

/// How often a worker reports its counters.
const REPORT_EVERY: Duration = Duration::from_millis(200);

/// Serves on `spec` until told to stop; returns the exit code.
/// With `tls`, it serves HTTPS (the supervisor's certificate).
pub fn run(spec: ListenSpec, config: ServerConfig, threads: usize, tls: Option<Tls>) -> i32 {
    let pid = std::process::id();
    myriad::sys::raise_open_files_limit();
    let listeners = spec
        .addrs()
        .map(|addr| {
            myriad_server::bind_reuse_port(addr)
                .map(StdListener::from)
                .map_err(|e| (addr, e))
        })
        .collect::<Result<Vec<_>, _>>();
    let listeners = match listeners {
        Ok(l) => l,
        Err((addr, e)) => {
            eprintln!("error: worker (pid {pid}) cannot listen on {addr}: {e}");
            return EXIT_FAILURE;
        }
    };
    let server = match myriad_server::spawn_on(listeners, config, tls, threads) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: worker (pid {pid}) cannot start the server: {e}");
            return EXIT_FAILURE;
        }
    };
    let stop = super::interrupt_token();
    // The supervisor holds the other end of stdin, so this is how a worker
    // learns that it should stop, or that the supervisor is gone, even if it
    // was killed.
    if let Err(e) = myriad::supervise::cancel_on_stdin(stop.clone()) {
        eprintln!("warning: cannot watch stdin ({e}); this worker stops only on a signal");
    }

    if say(WorkerLine::Ready) {
        report_until_stopped(&stop, || server.stats());
    }
    // Counted while still open, so the supervisor sees every worker's open
    // connections at the stop, however their final lines interleave.
    say(WorkerLine::Stats(server.stats()));
    let last = server.shutdown();
    say(WorkerLine::Final(last));
    EXIT_OK
}

/// Writes one line; false if the supervisor no longer reads them.
fn say(line: WorkerLine) -> bool {
    myriad::supervise::emit(&line).is_ok()
}

/// Reports the counters every [`REPORT_EVERY`] until `stop` or until the
/// supervisor stops reading.
fn report_until_stopped(
    stop: &CancellationToken,
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
                    if !say(WorkerLine::Stats(stats())) {
                        return;
                    }
                }
            }
        }
    });
}
