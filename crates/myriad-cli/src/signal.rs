//! Ctrl-C: a background thread turns SIGINT/SIGTERM into a cancellation.

use tokio_util::sync::CancellationToken;

/// Cancels `token` on the first Ctrl-C (or SIGTERM). The handler stays installed,
/// so further Ctrl-C presses do not kill the process before it prints its report.
pub fn cancel_on_interrupt(token: CancellationToken) {
    let spawned = std::thread::Builder::new()
        .name("myriad-signal".into())
        .spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                let Ok(mut term) =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                else {
                    let _ = tokio::signal::ctrl_c().await;
                    token.cancel();
                    return;
                };
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                    _ = token.cancelled() => return,
                }
                token.cancel();
                // Keep the handlers installed until the process exits.
                std::future::pending::<()>().await;
            });
        });
    if let Err(e) = spawned {
        eprintln!("warning: cannot watch for Ctrl-C ({e}); the run cannot be interrupted cleanly");
    }
}
