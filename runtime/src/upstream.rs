//! Choosing a server: balancing, backups, and the state that decides which
//! servers are in rotation. A server's state lives in `Pools` under (upstream
//! name, address), so a reload keeps the health, ejection and in-flight
//! counts of every server that is still there; each loaded artifact gets an
//! `UpstreamRuntime` per upstream, indexed like the policy's upstreams, so
//! the hot path takes no lock and hashes no name.
//!
//! Addresses are resolved off the request path: IP addresses when the
//! artifact is loaded, DNS names then and again in the background
//! (`health`). A name that does not resolve leaves its server out of
//! rotation until it does.

use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use zbin::ids::UpstreamId;

use arc_swap::ArcSwapOption;
use pingora_core::upstreams::peer::PeerOptions;
use rand::Rng;
use smallvec::SmallVec;
use zbin::model::{Balance, Timeouts, Upstream};

/// What is known of one server.
#[derive(Debug)]
pub struct ServerState {
    /// `HOST:PORT` as the policy writes it.
    pub addr: String,
    /// The host part, for SNI and `Host` on health checks.
    pub host: String,
    /// Where to connect when the address is an IP address and port.
    fixed: Option<SocketAddr>,
    /// Where to connect for a DNS name; `None` until it resolves.
    resolved: ArcSwapOption<SocketAddr>,
    /// In rotation according to active health checks (true until a check
    /// says otherwise).
    pub healthy: AtomicBool,
    /// Requests in flight, for `least_conn`, `p2c` and `max_connections`.
    pub active: AtomicUsize,
    /// Passive ejection: recent failures, and when the server may come
    /// back (milliseconds since `Pools::epoch`; 0 when not ejected).
    failures: Mutex<Vec<Instant>>,
    ejected_until: AtomicU64,
    /// Consecutive active-check results: successes in the low 16 bits,
    /// failures in the high 16, for `rise` and `fall`.
    pub streak: AtomicU32,
}

impl ServerState {
    fn new(addr: &str) -> Self {
        let host = match addr.rsplit_once(':') {
            Some((host, _)) => host.trim_start_matches('[').trim_end_matches(']').to_string(),
            None => addr.to_string(),
        };
        ServerState {
            addr: addr.to_string(),
            host,
            fixed: addr.parse::<SocketAddr>().ok(),
            resolved: ArcSwapOption::empty(),
            healthy: AtomicBool::new(true),
            active: AtomicUsize::new(0),
            failures: Mutex::new(Vec::new()),
            ejected_until: AtomicU64::new(0),
            streak: AtomicU32::new(0),
        }
    }

    /// Whether the address is a DNS name (resolved by lookups).
    pub fn is_named(&self) -> bool {
        self.fixed.is_none()
    }

    /// Where to connect, if known.
    pub fn resolved(&self) -> Option<SocketAddr> {
        self.fixed.or_else(|| self.resolved.load().as_deref().copied())
    }

    /// Records the result of a lookup; a failed one keeps the last good
    /// address (a resolver hiccup should not take a server out).
    pub fn set_resolved(&self, addr: Option<SocketAddr>) {
        if let Some(addr) = addr {
            if self.resolved() != Some(addr) {
                log::info!("server {} resolves to {addr}", self.addr);
            }
            self.resolved.store(Some(Arc::new(addr)));
        }
    }

    /// Resolves a DNS name, blocking: for loading, never for a request.
    pub fn resolve_blocking(&self) {
        if !self.is_named() || self.resolved().is_some() {
            return;
        }
        match self.addr.to_socket_addrs() {
            Ok(addrs) => self.set_resolved(preferred(addrs)),
            Err(e) => log::warn!("server {} does not resolve yet: {e}", self.addr),
        }
    }
}

/// The address a name is served at: its first IPv4 address, else its first
/// (as Envoy's default `V4_PREFERRED`). `localhost` resolves to `::1` first
/// on many hosts, where servers often listen on 127.0.0.1 only.
pub fn preferred(addrs: impl Iterator<Item = SocketAddr>) -> Option<SocketAddr> {
    let mut first = None;
    for addr in addrs {
        if addr.is_ipv4() {
            return Some(addr);
        }
        first = first.or(Some(addr));
    }
    first
}

/// Puts an upstream's timeouts on a peer, every wait capped by `left`,
/// what is left of the route's deadline (the idle time of a pooled
/// connection is not a wait of the request's).
pub fn set_timeouts(options: &mut PeerOptions, timeouts: &Timeouts, left: Option<Duration>) {
    let capped = |ms: u64| {
        let d = Duration::from_millis(ms);
        Some(left.map_or(d, |left| left.min(d)))
    };
    options.connection_timeout = capped(timeouts.connect);
    options.total_connection_timeout = capped(timeouts.connect);
    options.read_timeout = capped(timeouts.read);
    options.write_timeout = capped(timeouts.write);
    options.idle_timeout = Some(Duration::from_millis(timeouts.idle));
}

/// The servers of one upstream for one loaded artifact, in policy order.
#[derive(Debug)]
pub struct UpstreamRuntime {
    pub servers: Vec<Arc<ServerState>>,
    /// Round-robin cursor.
    cursor: AtomicUsize,
}

/// Every server's state, by (upstream, address): what survives a reload.
#[derive(Debug)]
pub struct Pools {
    servers: Mutex<HashMap<(String, String), Arc<ServerState>>>,
    epoch: Instant,
}

impl Default for Pools {
    fn default() -> Self {
        Pools {
            servers: Mutex::new(HashMap::new()),
            epoch: Instant::now(),
        }
    }
}

/// A chosen server.
#[derive(Debug, Clone)]
pub struct Choice {
    pub index: usize,
    pub addr: SocketAddr,
    pub state: Arc<ServerState>,
}

/// One request in flight on a server: counted while it lives, whatever
/// ends the request (an answer, an error, a retry elsewhere, a panic).
#[derive(Debug)]
pub struct InFlight(Arc<ServerState>);

impl InFlight {
    pub fn new(state: Arc<ServerState>) -> InFlight {
        state.active.fetch_add(1, Ordering::Relaxed);
        InFlight(state)
    }

    pub fn state(&self) -> &ServerState {
        &self.0
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Pools {
    /// The state of `upstream`'s server `addr`, created on first sight.
    pub fn state(&self, upstream: &str, addr: &str) -> Arc<ServerState> {
        let mut servers = self.servers.lock().unwrap_or_else(|e| e.into_inner());
        servers
            .entry((upstream.to_string(), addr.to_string()))
            .or_insert_with(|| Arc::new(ServerState::new(addr)))
            .clone()
    }

    /// The runtime of `upstream` for a newly loaded artifact: each server's
    /// state carried over when it was already known, DNS names resolved
    /// (blocking: this runs while loading, off the request path).
    pub fn runtime(&self, upstream: &Upstream) -> UpstreamRuntime {
        let servers: Vec<Arc<ServerState>> = upstream
            .servers
            .iter()
            .map(|s| self.state(&upstream.name, &s.addr))
            .collect();
        for server in &servers {
            server.resolve_blocking();
        }
        UpstreamRuntime {
            servers,
            cursor: AtomicUsize::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Whether a server is in rotation now: resolved, not taken out by an
    /// active check, not ejected.
    pub fn available(&self, state: &ServerState) -> bool {
        // Never ejected (0) is the common case, and needs no clock.
        let ejected_until = state.ejected_until.load(Ordering::Relaxed);
        state.healthy.load(Ordering::Relaxed)
            && (ejected_until == 0 || ejected_until <= self.now_ms())
            && state.resolved().is_some()
    }

    /// Records a failed attempt; ejects the server when `passive` says so.
    pub fn record_failure(&self, upstream: &Upstream, state: &ServerState) {
        let Some(passive) = &upstream.passive else { return };
        let now = Instant::now();
        let mut failures = state.failures.lock().unwrap_or_else(|e| e.into_inner());
        let window = Duration::from_millis(passive.within);
        failures.retain(|t| now.duration_since(*t) <= window);
        failures.push(now);
        if failures.len() as u32 >= passive.failures {
            failures.clear();
            state
                .ejected_until
                .store(self.now_ms().saturating_add(passive.eject), Ordering::Relaxed);
            log::warn!(
                "upstream `{}`: server {} is ejected for {} ms after {} failures",
                upstream.name,
                state.addr,
                passive.eject,
                passive.failures
            );
        }
    }

    /// Chooses a server of `upstream`. Primaries first; a retry goes to a
    /// server not `tried` yet, a backup before a primary that already
    /// failed this request (as nginx's `proxy_next_upstream` does), and to a
    /// tried one only when nothing else is left. `key` feeds `ketama`.
    pub fn choose(&self, upstream: &Upstream, runtime: &UpstreamRuntime, key: &[u8], tried: &[u32]) -> Option<Choice> {
        let states = &runtime.servers;
        let usable = |i: usize, backup: bool, retry_tried: bool| {
            upstream.servers[i].backup == backup
                && tried.contains(&(i as u32)) == retry_tried
                && self.available(&states[i])
                && upstream
                    .max_connections
                    .is_none_or(|max| states[i].active.load(Ordering::Relaxed) < max as usize)
        };
        // The tier is collected once: other requests and the health tasks
        // change availability concurrently, and every choice below must
        // see the same set.
        let tier: SmallVec<[usize; 8]> = [(false, false), (true, false), (false, true), (true, true)]
            .into_iter()
            .map(|(backup, again)| {
                (0..upstream.servers.len())
                    .filter(|&i| usable(i, backup, again))
                    .collect::<SmallVec<[usize; 8]>>()
            })
            .find(|tier| !tier.is_empty())?;
        let candidates = || tier.iter().copied();
        let weight = |i: usize| u64::from(upstream.servers[i].weight.max(1));
        // Requests in flight per unit of weight.
        let load = |i: usize| (states[i].active.load(Ordering::Relaxed) as u64 * 1000) / weight(i);
        let index = match &upstream.balance {
            Balance::RoundRobin => {
                let total: u64 = candidates().map(weight).sum();
                let mut tick = runtime.cursor.fetch_add(1, Ordering::Relaxed) as u64 % total.max(1);
                candidates().find(|&i| {
                    if tick < weight(i) {
                        true
                    } else {
                        tick -= weight(i);
                        false
                    }
                })?
            }
            Balance::LeastConn => candidates().min_by_key(|&i| load(i))?,
            Balance::Random => weighted_random(candidates(), weight)?,
            Balance::PowerOfTwoChoices => {
                let a = weighted_random(candidates(), weight)?;
                let b = weighted_random(candidates(), weight)?;
                if load(b) < load(a) {
                    b
                } else {
                    a
                }
            }
            Balance::KetamaClientIp | Balance::KetamaHeader(_) => {
                zbin::balance::pick(&upstream.servers, key, |i| tier.contains(&i))?
            }
        };
        Some(Choice {
            index,
            addr: states[index].resolved()?,
            state: states[index].clone(),
        })
    }
}

fn weighted_random(candidates: impl Iterator<Item = usize> + Clone, weight: impl Fn(usize) -> u64) -> Option<usize> {
    let total: u64 = candidates.clone().map(&weight).sum();
    if total == 0 {
        return None;
    }
    let mut pick = rand::rng().random_range(0..total);
    for i in candidates {
        if pick < weight(i) {
            return Some(i);
        }
        pick -= weight(i);
    }
    None
}

/// Picks one target of a weighted split (shares in percent).
pub fn split_target(targets: &[(UpstreamId, u8)]) -> UpstreamId {
    let mut pick = rand::rng().random_range(0..100u32);
    for (upstream, share) in targets {
        if pick < u32::from(*share) {
            return *upstream;
        }
        pick -= u32::from(*share);
    }
    targets[0].0
}

#[cfg(test)]
mod tests {
    use super::*;
    use zbin::model::{Retry, Server, Timeouts};

    #[test]
    fn a_name_is_served_at_its_first_ipv4_address() {
        let v6: SocketAddr = "[::1]:80".parse().unwrap();
        let (a, b): (SocketAddr, SocketAddr) = ("127.0.0.1:80".parse().unwrap(), "10.0.0.1:80".parse().unwrap());
        assert_eq!(preferred([v6, a, b].into_iter()), Some(a));
        assert_eq!(preferred([v6].into_iter()), Some(v6));
        assert_eq!(preferred(std::iter::empty()), None);
    }

    fn upstream(balance: Balance, servers: &[(&str, u32, bool)]) -> Upstream {
        Upstream {
            name: "u".into(),
            servers: servers
                .iter()
                .map(|&(addr, weight, backup)| Server {
                    addr: addr.into(),
                    weight,
                    backup,
                })
                .collect(),
            balance,
            health: None,
            passive: None,
            timeouts: Timeouts::default(),
            retry: Retry::default(),
            tls: None,
            max_connections: None,
        }
    }

    #[test]
    fn round_robin_follows_weights() {
        let pools = Pools::default();
        let up = upstream(
            Balance::RoundRobin,
            &[("127.0.0.1:1", 3, false), ("127.0.0.1:2", 1, false)],
        );
        let runtime = pools.runtime(&up);
        let picks: Vec<usize> = (0..8)
            .map(|_| pools.choose(&up, &runtime, b"", &[]).unwrap().index)
            .collect();
        assert_eq!(picks, [0, 0, 0, 1, 0, 0, 0, 1]);
    }

    #[test]
    fn round_robin_moves_on_when_only_one_server_is_left_to_choose() {
        let pools = Pools::default();
        let up = upstream(
            Balance::RoundRobin,
            &[("127.0.0.1:1", 1, false), ("127.0.0.1:2", 1, false)],
        );
        let runtime = pools.runtime(&up);
        assert_eq!(pools.choose(&up, &runtime, b"", &[]).unwrap().index, 0);
        // The retry of that request has one server left...
        assert_eq!(pools.choose(&up, &runtime, b"", &[0]).unwrap().index, 1);
        // ...and the rotation goes on from there, as if it had two.
        assert_eq!(pools.choose(&up, &runtime, b"", &[]).unwrap().index, 0);
        assert_eq!(pools.choose(&up, &runtime, b"", &[]).unwrap().index, 1);
    }

    #[test]
    fn retries_prefer_an_untried_backup_to_a_failed_primary() {
        let pools = Pools::default();
        let up = upstream(
            Balance::RoundRobin,
            &[("127.0.0.1:1", 1, false), ("127.0.0.1:2", 1, true)],
        );
        let runtime = pools.runtime(&up);
        assert_eq!(pools.choose(&up, &runtime, b"", &[]).unwrap().index, 0);
        assert_eq!(pools.choose(&up, &runtime, b"", &[0]).unwrap().index, 1);
        // Both tried: the primary again.
        assert_eq!(pools.choose(&up, &runtime, b"", &[0, 1]).unwrap().index, 0);
    }

    #[test]
    fn an_unresolved_name_is_out_of_rotation() {
        let pools = Pools::default();
        let up = upstream(
            Balance::RoundRobin,
            &[("name.invalid:80", 1, false), ("127.0.0.1:2", 1, false)],
        );
        let runtime = pools.runtime(&up);
        for _ in 0..4 {
            assert_eq!(pools.choose(&up, &runtime, b"", &[]).unwrap().index, 1);
        }
        runtime.servers[0].set_resolved(Some("127.0.0.1:3".parse().unwrap()));
        let picks: Vec<usize> = (0..4)
            .map(|_| pools.choose(&up, &runtime, b"", &[]).unwrap().index)
            .collect();
        assert!(picks.contains(&0));
    }

    #[test]
    fn state_survives_a_new_runtime() {
        let pools = Pools::default();
        let up = upstream(Balance::RoundRobin, &[("127.0.0.1:1", 1, false)]);
        let first = pools.runtime(&up);
        first.servers[0].healthy.store(false, Ordering::Relaxed);
        let second = pools.runtime(&up);
        assert!(!second.servers[0].healthy.load(Ordering::Relaxed));
        assert!(pools.choose(&up, &second, b"", &[]).is_none());
    }
}
