//! `SIGHUP` reloads the artifact from the same path: a background service,
//! so it lives and ends with the server. Shutdown is noted here too, so
//! that `/ready` says the process is draining.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};

use async_trait::async_trait;
use pingora_core::server::ShutdownWatch;
use pingora_core::services::background::BackgroundService;

use crate::state::Shared;

pub struct Reloader {
    pub shared: Arc<Shared>,
}

/// Set by every SIGHUP from the moment `catch_hangups` runs, and cleared by
/// the reload it asks for: a SIGHUP that arrives before the reload service
/// listens (the listeners may already be answering) is not lost, and
/// several that arrive during one reload are one more reload.
static PENDING: LazyLock<Arc<AtomicBool>> = LazyLock::new(Default::default);

/// Catches SIGHUP from now on (its default action would end the process);
/// call it first thing in `main`.
pub fn catch_hangups() -> std::io::Result<()> {
    signal_hook::flag::register(signal_hook::consts::SIGHUP, PENDING.clone()).map(drop)
}

#[async_trait]
impl BackgroundService for Reloader {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut hangups = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(s) => s,
            Err(e) => {
                log::error!("cannot listen for SIGHUP, reload disabled: {e}");
                return;
            }
        };
        loop {
            // Registered above before this first look, so a SIGHUP either
            // set the flag already or wakes the select below.
            if PENDING.swap(false, Ordering::SeqCst) {
                let shared = self.shared.clone();
                // Loading verifies the whole file and may resolve DNS
                // names: off the async threads.
                let _ = tokio::task::spawn_blocking(move || shared.reload()).await;
            }
            tokio::select! {
                _ = hangups.recv() => {}
                _ = shutdown.changed() => {
                    self.shared.start_draining();
                    return;
                }
            }
        }
    }
}
