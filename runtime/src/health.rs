//! Active health checks: a background loop that probes every server of
//! every upstream that asks for it (`health http ...` or `health tcp ...`)
//! and takes servers out of rotation after `fall` failures, back after
//! `rise` successes. It follows reloads: each round reads the current
//! artifact, and state is kept per (upstream, server).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use pingora_core::server::ShutdownWatch;
use pingora_core::services::background::BackgroundService;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zbin::model::{HealthCheck, HealthProbe};

use crate::state::Shared;

pub struct HealthChecks {
    pub shared: Arc<Shared>,
}

/// One probe: whether the server answered as expected within the timeout.
async fn probe(addr: &str, check: &HealthCheck) -> bool {
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
        let HealthProbe::Http { method, path, expect } = &check.probe else {
            return Some(true);
        };
        let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
        let request = format!(
            "{method} {path} HTTP/1.1\r\nhost: {host}\r\nuser-agent: zentinel-health\r\nconnection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut head = [0u8; 64];
        let mut read = 0;
        while read < 12 {
            let n = stream.read(&mut head[read..]).await.ok()?;
            if n == 0 {
                break;
            }
            read += n;
        }
        let line = std::str::from_utf8(&head[..read]).ok()?;
        let status: u16 = line.get(9..12)?.parse().ok()?;
        Some(status == *expect)
    };
    matches!(
        tokio::time::timeout(Duration::from_millis(check.timeout), attempt).await,
        Ok(Some(true))
    )
}

#[async_trait]
impl BackgroundService for HealthChecks {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut next_due: std::collections::HashMap<String, Instant> = std::collections::HashMap::new();
        loop {
            let loaded = self.shared.current();
            let now = Instant::now();
            for upstream in &loaded.policy().upstreams {
                let Some(check) = &upstream.health else { continue };
                let due = next_due.entry(upstream.name.clone()).or_insert(now);
                if *due > now {
                    continue;
                }
                *due = now + Duration::from_millis(check.interval);
                for server in &upstream.servers {
                    let state = self.shared.pools.state(&upstream.name, &server.addr);
                    let ok = probe(&server.addr, check).await;
                    // The streak counts consecutive results of one kind:
                    // positive for successes, in the high bit for failures.
                    let streak = state.streak.load(Ordering::Relaxed);
                    let (successes, failures) = if ok {
                        ((streak & 0xFFFF) + 1, 0)
                    } else {
                        (0, (streak >> 16) + 1)
                    };
                    state
                        .streak
                        .store((failures << 16) | (successes & 0xFFFF), Ordering::Relaxed);
                    let healthy = state.healthy.load(Ordering::Relaxed);
                    if healthy && failures >= check.fall {
                        state.healthy.store(false, Ordering::Relaxed);
                        log::warn!(
                            "upstream `{}`: server {} leaves the rotation",
                            upstream.name,
                            server.addr
                        );
                    } else if !healthy && successes >= check.rise {
                        state.healthy.store(true, Ordering::Relaxed);
                        log::info!(
                            "upstream `{}`: server {} rejoins the rotation",
                            upstream.name,
                            server.addr
                        );
                    }
                    self.shared
                        .metrics
                        .upstream_healthy
                        .with_label_values(&[upstream.name.as_str(), server.addr.as_str()])
                        .set(i64::from(state.healthy.load(Ordering::Relaxed)));
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                _ = shutdown.changed() => return,
            }
        }
    }
}
