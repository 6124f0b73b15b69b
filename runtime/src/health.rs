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

use crate::state::{Serving, Shared};
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

/// A server as the background work keys it: its upstream's name and its
/// address as written (a server may be in several upstreams, with a state
/// in each).
type ServerKey = (String, String);

/// A probe task: what it checks, to notice when a reload changes it.
struct Task {
    upstream: Upstream,
    handle: tokio::task::JoinHandle<()>,
}

/// The probe tasks that run, one per server whose upstream has a check.
struct Probes {
    connector: Arc<Connector>,
    tasks: HashMap<ServerKey, Task>,
}

impl Probes {
    fn new() -> Self {
        Probes {
            connector: Arc::new(Connector::new(None)),
            tasks: HashMap::new(),
        }
    }

    /// Brings the tasks in line with the artifact being served: a task
    /// whose check changed or went away is stopped, and a server left
    /// without a check goes back into rotation (nothing would ever take it
    /// out again); a server with a check and no task gets one.
    fn reconcile(&mut self, shared: &Shared, serving: &Serving) {
        let policy = serving.loaded.policy();
        let mut wanted: HashMap<ServerKey, (&Upstream, Arc<ServerState>)> = HashMap::new();
        for (upstream, runtime) in policy.upstreams.iter().zip(&serving.upstreams) {
            if upstream.health.is_none() {
                continue;
            }
            for state in &runtime.servers {
                wanted.insert((upstream.name.clone(), state.addr.clone()), (upstream, state.clone()));
            }
        }
        self.tasks.retain(|key, task| {
            let keep = wanted.get(key).is_some_and(|(u, _)| **u == task.upstream);
            if !keep {
                task.handle.abort();
                if !wanted.contains_key(key) {
                    // No check takes this server out any more.
                    let state = shared.pools.state(&key.0, &key.1);
                    state.healthy.store(true, Ordering::Relaxed);
                    state.streak.store(0, Ordering::Relaxed);
                }
            }
            keep
        });
        for (key, (upstream, state)) in wanted {
            if self.tasks.contains_key(&key) {
                continue;
            }
            let handle = tokio::spawn(probe_forever(self.connector.clone(), upstream.clone(), state));
            let upstream = upstream.clone();
            self.tasks.insert(key, Task { upstream, handle });
        }
    }

    /// Stops every task, at shutdown.
    fn abort_all(&self) {
        for task in self.tasks.values() {
            task.handle.abort();
        }
    }
}

/// The body of a probe task: probes one server every `interval` and
/// records each result, until the task is aborted.
async fn probe_forever(connector: Arc<Connector>, upstream: Upstream, state: Arc<ServerState>) {
    let Some(check) = upstream.health.clone() else { return };
    loop {
        let ok = probe(&connector, &upstream, &state, &check).await;
        record(&upstream, &state, &check, ok);
        tokio::time::sleep(Duration::from_millis(check.interval)).await;
    }
}

/// When each server written as a DNS name is to be looked up again.
#[derive(Default)]
struct Lookups {
    next: HashMap<ServerKey, Instant>,
}

impl Lookups {
    /// Looks up the names that are due and records what they resolve to:
    /// again after `DNS_REFRESH` when found, after a second when not.
    async fn refresh(&mut self, serving: &Serving, now: Instant) {
        let policy = serving.loaded.policy();
        for (upstream, runtime) in policy.upstreams.iter().zip(&serving.upstreams) {
            for state in runtime.servers.iter().filter(|s| s.is_named()) {
                // Each upstream's server has a state of its own.
                let key = (upstream.name.clone(), state.addr.clone());
                if self.next.get(&key).is_some_and(|at| *at > now) {
                    continue;
                }
                let found = resolve(&state.addr).await;
                if found.is_none() {
                    log::warn!("server {} does not resolve", state.addr);
                }
                state.set_resolved(found);
                let again = if state.resolved().is_some() {
                    DNS_REFRESH
                } else {
                    Duration::from_secs(1)
                };
                self.next.insert(key, now + again);
            }
        }
    }
}

/// The address a server name resolves to, if it does within two seconds:
/// a slow resolver must not hold the health checks up.
async fn resolve(name: &str) -> Option<std::net::SocketAddr> {
    tokio::time::timeout(Duration::from_secs(2), tokio::net::lookup_host(name))
        .await
        .ok()
        .and_then(Result::ok)
        .and_then(crate::upstream::preferred)
}

/// Sets the `zentinel_upstream_server_healthy` gauge of every server of
/// the artifact being served (and of no other: the gauge is reset first,
/// so servers a reload removed disappear from it).
fn publish_gauges(shared: &Shared, serving: &Serving) {
    let policy = serving.loaded.policy();
    let gauge = &shared.metrics.upstream_healthy;
    gauge.reset();
    for (upstream, runtime) in policy.upstreams.iter().zip(&serving.upstreams) {
        for state in &runtime.servers {
            gauge
                .with_label_values(&[upstream.name.as_str(), state.addr.as_str()])
                .set(i64::from(shared.pools.available(state)));
        }
    }
}

#[async_trait]
impl BackgroundService for HealthChecks {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut probes = Probes::new();
        let mut lookups = Lookups::default();
        let mut gauges_at = Instant::now();
        loop {
            let serving = self.shared.current();
            probes.reconcile(&self.shared, &serving);
            let now = Instant::now();
            lookups.refresh(&serving, now).await;
            if gauges_at <= now {
                gauges_at = now + Duration::from_secs(1);
                publish_gauges(&self.shared, &serving);
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                _ = shutdown.changed() => {
                    probes.abort_all();
                    return;
                }
            }
        }
    }
}
