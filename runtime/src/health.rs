//! Keeping servers in and out of rotation, in the background:
//!
//! - active checks (`health http ...` / `health tcp ...`): one task per
//!   server, probing every `interval`, taking it out after `fall` failures
//!   and back after `rise` successes. HTTP probes go through Pingora's
//!   connector, so an upstream with `tls` is probed over TLS with its SNI and
//!   verification settings, exactly as requests reach it;
//! - DNS: servers written as names are looked up again every 30 s (every
//!   second while they do not resolve);
//! - the `zentinel_upstream_server_healthy` gauge, every second.
//!
//! The tasks follow reloads: what runs is reconciled with the artifact being
//! served, and a server whose upstream no longer has a check goes back into
//! rotation (nothing would ever take it out again).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use pingora_core::connectors::http::Connector;
use pingora_core::server::ShutdownWatch;
use pingora_core::services::background::BackgroundService;
use pingora_core::upstreams::peer::HttpPeer;
use pingora_http::RequestHeader;
use zbin::model::{HealthCheck, HealthProbe, Upstream};

use crate::state::Shared;
use crate::upstream::ServerState;

pub struct HealthChecks {
    pub shared: Arc<Shared>,
}

/// How often DNS names are looked up again, once resolved.
const DNS_REFRESH: Duration = Duration::from_secs(30);

/// One probe: whether the server answered as expected within the timeout.
async fn probe(connector: &Connector, upstream: &Upstream, state: &ServerState, check: &HealthCheck) -> bool {
    let Some(addr) = state.resolved() else {
        return false;
    };
    let timeout = Duration::from_millis(check.timeout);
    let attempt = async {
        let HealthProbe::Http { method, path, expect } = &check.probe else {
            return tokio::net::TcpStream::connect(addr).await.is_ok();
        };
        let tls = upstream.tls.as_ref();
        let sni = tls.and_then(|t| t.sni.clone()).unwrap_or_else(|| state.host.clone());
        let mut peer = HttpPeer::new(addr, tls.is_some(), sni.clone());
        peer.options.connection_timeout = Some(timeout);
        peer.options.total_connection_timeout = Some(timeout);
        peer.options.read_timeout = Some(timeout);
        peer.options.write_timeout = Some(timeout);
        if let Some(tls) = tls {
            peer.options.verify_cert = tls.verify;
            peer.options.verify_hostname = tls.verify;
        }
        let Ok((mut session, _)) = connector.get_http_session(&peer).await else {
            return false;
        };
        let Ok(mut request) = RequestHeader::build(method.as_str(), path.as_bytes(), None) else {
            return false;
        };
        let host = if tls.and_then(|t| t.sni.as_ref()).is_some() {
            sni
        } else {
            state.addr.clone()
        };
        if request.insert_header("host", host).is_err()
            || request.insert_header("user-agent", "zentinel-health-check").is_err()
        {
            return false;
        }
        let exchanged = async {
            session.write_request_header(Box::new(request)).await?;
            session.finish_request_body().await?;
            session.read_response_header().await
        };
        if exchanged.await.is_err() {
            return false;
        }
        // The connection is dropped, not pooled: every probe tests a new one.
        session.response_header().is_some_and(|r| r.status.as_u16() == *expect)
    };
    tokio::time::timeout(timeout, attempt).await.unwrap_or(false)
}

/// Records a probe result; moves the server in or out of rotation.
fn record(upstream: &Upstream, state: &ServerState, check: &HealthCheck, ok: bool) {
    let streak = state.streak.load(Ordering::Relaxed);
    let (successes, failures) = if ok {
        (((streak & 0xFFFF) + 1).min(0xFFFF), 0)
    } else {
        (0, ((streak >> 16) + 1).min(0xFFFF))
    };
    state.streak.store((failures << 16) | successes, Ordering::Relaxed);
    let healthy = state.healthy.load(Ordering::Relaxed);
    if healthy && failures >= check.fall {
        state.healthy.store(false, Ordering::Relaxed);
        log::warn!(
            "upstream `{}`: server {} leaves the rotation after {failures} failed checks",
            upstream.name,
            state.addr
        );
    } else if !healthy && successes >= check.rise {
        state.healthy.store(true, Ordering::Relaxed);
        log::info!(
            "upstream `{}`: server {} rejoins the rotation after {successes} passed checks",
            upstream.name,
            state.addr
        );
    }
}

/// A probe task: what it checks, to notice when a reload changes it.
struct Task {
    upstream: Upstream,
    handle: tokio::task::JoinHandle<()>,
}

#[async_trait]
impl BackgroundService for HealthChecks {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let connector = Arc::new(Connector::new(None));
        let mut tasks: HashMap<(String, String), Task> = HashMap::new();
        let mut next_lookup: HashMap<(String, String), Instant> = HashMap::new();
        let mut gauges_at = Instant::now();
        loop {
            let serving = self.shared.current();
            let policy = serving.loaded.policy();
            // Reconcile the probe tasks with the artifact being served.
            let mut wanted: HashMap<(String, String), (&Upstream, Arc<ServerState>)> = HashMap::new();
            for (upstream, runtime) in policy.upstreams.iter().zip(&serving.upstreams) {
                if upstream.health.is_none() {
                    continue;
                }
                for state in &runtime.servers {
                    wanted.insert((upstream.name.clone(), state.addr.clone()), (upstream, state.clone()));
                }
            }
            tasks.retain(|key, task| {
                let keep = wanted.get(key).is_some_and(|(u, _)| **u == task.upstream);
                if !keep {
                    task.handle.abort();
                    if !wanted.contains_key(key) {
                        // No check takes this server out any more.
                        let state = self.shared.pools.state(&key.0, &key.1);
                        state.healthy.store(true, Ordering::Relaxed);
                        state.streak.store(0, Ordering::Relaxed);
                    }
                }
                keep
            });
            for (key, (upstream, state)) in wanted {
                if tasks.contains_key(&key) {
                    continue;
                }
                let (upstream, connector) = (upstream.clone(), connector.clone());
                let task_upstream = upstream.clone();
                let handle = tokio::spawn(async move {
                    let Some(check) = upstream.health.clone() else { return };
                    loop {
                        let ok = probe(&connector, &upstream, &state, &check).await;
                        record(&upstream, &state, &check, ok);
                        tokio::time::sleep(Duration::from_millis(check.interval)).await;
                    }
                });
                tasks.insert(
                    key,
                    Task {
                        upstream: task_upstream,
                        handle,
                    },
                );
            }
            // DNS names, looked up again.
            let now = Instant::now();
            for (upstream, runtime) in policy.upstreams.iter().zip(&serving.upstreams) {
                for state in runtime.servers.iter().filter(|s| s.is_named()) {
                    // Each upstream's server has a state of its own.
                    let key = (upstream.name.clone(), state.addr.clone());
                    if next_lookup.get(&key).is_some_and(|at| *at > now) {
                        continue;
                    }
                    // A slow resolver must not hold the health checks up.
                    let found =
                        tokio::time::timeout(Duration::from_secs(2), tokio::net::lookup_host(state.addr.as_str()))
                            .await
                            .ok()
                            .and_then(Result::ok)
                            .and_then(crate::upstream::preferred);
                    if found.is_none() {
                        log::warn!("server {} does not resolve", state.addr);
                    }
                    state.set_resolved(found);
                    let again = if state.resolved().is_some() {
                        DNS_REFRESH
                    } else {
                        Duration::from_secs(1)
                    };
                    next_lookup.insert(key, now + again);
                }
            }
            if gauges_at <= now {
                gauges_at = now + Duration::from_secs(1);
                let gauge = &self.shared.metrics.upstream_healthy;
                gauge.reset();
                for (upstream, runtime) in policy.upstreams.iter().zip(&serving.upstreams) {
                    for state in &runtime.servers {
                        gauge
                            .with_label_values(&[upstream.name.as_str(), state.addr.as_str()])
                            .set(i64::from(self.shared.pools.available(state)));
                    }
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                _ = shutdown.changed() => {
                    for task in tasks.values() {
                        task.handle.abort();
                    }
                    return;
                }
            }
        }
    }
}
