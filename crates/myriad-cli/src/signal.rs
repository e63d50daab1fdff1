//! Ctrl-C: SIGINT and SIGTERM become a cancellation.

use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;

/// Cancels `token` on the first SIGINT (Ctrl-C) or SIGTERM.
///
/// The handlers are installed before this returns, so a signal that arrives
/// right after start cannot kill the process with the default action; a thread
/// then waits for them. They stay installed, so further Ctrl-C presses do not
/// kill the process before it prints its report.
pub fn cancel_on_interrupt(token: CancellationToken) {
    let registered = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .and_then(|rt| {
            let (int, term) = {
                let _entered = rt.enter();
                (
                    signal(SignalKind::interrupt())?,
                    signal(SignalKind::terminate())?,
                )
            };
            Ok((rt, int, term))
        });
    let (rt, mut int, mut term) = match registered {
        Ok(r) => r,
        Err(e) => {
            eprintln!(
                "warning: cannot watch for Ctrl-C ({e}); it will stop the process without a report"
            );
            return;
        }
    };
    let spawned = std::thread::Builder::new()
        .name("myriad-signal".into())
        .stack_size(128 * 1024)
        .spawn(move || {
            rt.block_on(async {
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                    _ = token.cancelled() => return,
                }
                token.cancel();
                std::future::pending::<()>().await;
            });
        });
    if let Err(e) = spawned {
        eprintln!(
            "warning: cannot watch for Ctrl-C ({e}); it will stop the process without a report"
        );
    }
}
