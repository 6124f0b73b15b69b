//! `SIGHUP` reloads the artifact from the same path: a background service,
//! so it lives and ends with the server. Shutdown is noted here too, so
//! that `/ready` says the process is draining.

use std::sync::Arc;

use async_trait::async_trait;
use pingora_core::server::ShutdownWatch;
use pingora_core::services::background::BackgroundService;

use crate::state::Shared;

pub struct Reloader {
    pub shared: Arc<Shared>,
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
            tokio::select! {
                _ = hangups.recv() => {
                    let shared = self.shared.clone();
                    // Loading verifies the whole file and may resolve DNS
                    // names: off the async threads.
                    let _ = tokio::task::spawn_blocking(move || shared.reload()).await;
                }
                _ = shutdown.changed() => {
                    self.shared.start_draining();
                    return;
                }
            }
        }
    }
}
