//! Choosing a server: balancing, backups, and the health state that
//! decides which servers are in rotation. State is keyed by (upstream
//! name, server address), so a reload keeps the state of every server
//! that is still there.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use rand::Rng;
use zbin::model::{Balance, Upstream};

/// What is known of one server.
#[derive(Debug)]
pub struct ServerState {
    /// In rotation according to active health checks (true until a check
    /// says otherwise).
    pub healthy: AtomicBool,
    /// Requests in flight, for `least_conn` and `p2c`.
    pub active: AtomicUsize,
    /// Passive ejection: failures in the current window, and when the
    /// server may come back (milliseconds since `epoch`, 0 when not ejected).
    failures: Mutex<Vec<Instant>>,
    ejected_until: AtomicU64,
    /// Consecutive check results, for `rise` and `fall`.
    pub streak: AtomicU32,
}

impl ServerState {
    fn new() -> Self {
        ServerState {
            healthy: AtomicBool::new(true),
            active: AtomicUsize::new(0),
            failures: Mutex::new(Vec::new()),
            ejected_until: AtomicU64::new(0),
            streak: AtomicU32::new(0),
        }
    }
}

/// The state of one upstream's servers, in the order the policy lists them.
#[derive(Debug)]
struct UpstreamStates {
    addrs: Vec<String>,
    servers: Vec<Arc<ServerState>>,
    /// Round-robin cursor.
    cursor: AtomicUsize,
}

/// Health and balancing state of every server of every upstream.
#[derive(Debug)]
pub struct Pools {
    /// By (upstream, server address): what survives a reload.
    servers: Mutex<HashMap<(String, String), Arc<ServerState>>>,
    /// By upstream name, for the hot path: a read lock and no allocation.
    upstreams: RwLock<HashMap<String, Arc<UpstreamStates>>>,
    epoch: Instant,
}

impl Default for Pools {
    fn default() -> Self {
        Pools {
            servers: Mutex::new(HashMap::new()),
            upstreams: RwLock::new(HashMap::new()),
            epoch: Instant::now(),
        }
    }
}

/// A chosen server.
#[derive(Debug, Clone)]
pub struct Choice {
    pub index: usize,
    pub addr: String,
    pub state: Arc<ServerState>,
}

impl Pools {
    pub fn state(&self, upstream: &str, addr: &str) -> Arc<ServerState> {
        let mut servers = self.servers.lock().unwrap_or_else(|e| e.into_inner());
        servers
            .entry((upstream.to_string(), addr.to_string()))
            .or_insert_with(|| Arc::new(ServerState::new()))
            .clone()
    }

    /// The states of `upstream`'s servers, rebuilt (keeping each server's
    /// own state) when a reload changed the list.
    fn states(&self, upstream: &Upstream) -> Arc<UpstreamStates> {
        let fits = |u: &UpstreamStates| {
            u.addrs.len() == upstream.servers.len() && u.addrs.iter().zip(&upstream.servers).all(|(a, s)| *a == s.addr)
        };
        if let Some(states) = self
            .upstreams
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&upstream.name)
        {
            if fits(states) {
                return states.clone();
            }
        }
        let states = Arc::new(UpstreamStates {
            addrs: upstream.servers.iter().map(|s| s.addr.clone()).collect(),
            servers: upstream
                .servers
                .iter()
                .map(|s| self.state(&upstream.name, &s.addr))
                .collect(),
            cursor: AtomicUsize::new(0),
        });
        self.upstreams
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(upstream.name.clone(), states.clone());
        states
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Whether a server is in rotation now.
    pub fn available(&self, state: &ServerState) -> bool {
        state.healthy.load(Ordering::Relaxed) && state.ejected_until.load(Ordering::Relaxed) <= self.now_ms()
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
                .store(self.now_ms() + passive.eject, Ordering::Relaxed);
            log::warn!(
                "upstream `{}`: a server is ejected for {} ms after repeated failures",
                upstream.name,
                passive.eject
            );
        }
    }

    /// Chooses a server of `upstream`, skipping `tried` (retries go to
    /// another server where one is available). `key` feeds `ketama`.
    pub fn choose(&self, upstream: &Upstream, key: &[u8], tried: &[usize]) -> Option<Choice> {
        let upstream_states = self.states(upstream);
        let states = &upstream_states.servers;
        let usable = |i: usize, backup: bool, skip_tried: bool| {
            upstream.servers[i].backup == backup
                && self.available(&states[i])
                && upstream
                    .max_connections
                    .is_none_or(|max| states[i].active.load(Ordering::Relaxed) < max as usize)
                && !(skip_tried && tried.contains(&i))
        };
        // Primaries first, untried first; backups only when no primary is up.
        let (backup, skip_tried) = [(false, true), (false, false), (true, true), (true, false)]
            .into_iter()
            .find(|&(backup, skip)| (0..upstream.servers.len()).any(|i| usable(i, backup, skip)))?;
        let candidates = || (0..upstream.servers.len()).filter(move |&i| usable(i, backup, skip_tried));
        let weight = |i: usize| u64::from(upstream.servers[i].weight.max(1));
        let index = match &upstream.balance {
            Balance::RoundRobin => {
                let total: u64 = candidates().map(weight).sum();
                let mut tick = upstream_states.cursor.fetch_add(1, Ordering::Relaxed) as u64 % total;
                let mut chosen = None;
                for i in candidates() {
                    if tick < weight(i) {
                        chosen = Some(i);
                        break;
                    }
                    tick -= weight(i);
                }
                chosen?
            }
            Balance::LeastConn => {
                candidates().min_by_key(|&i| (states[i].active.load(Ordering::Relaxed) as u64 * 1000) / weight(i))?
            }
            Balance::Random => weighted_random(candidates(), weight)?,
            Balance::PowerOfTwoChoices => {
                let a = weighted_random(candidates(), weight)?;
                let b = weighted_random(candidates(), weight)?;
                if states[b].active.load(Ordering::Relaxed) < states[a].active.load(Ordering::Relaxed) {
                    b
                } else {
                    a
                }
            }
            Balance::KetamaClientIp | Balance::KetamaHeader(_) => {
                // Rendezvous hashing: the server with the highest score for
                // the key wins, so a key keeps its server while that server
                // is up, and only its keys move when it goes.
                candidates().max_by_key(|&i| {
                    let mut hasher = std::collections::hash_map::DefaultHasher::new();
                    key.hash(&mut hasher);
                    upstream.servers[i].addr.hash(&mut hasher);
                    hasher.finish() / weight(i) * weight(i)
                })?
            }
        };
        Some(Choice {
            index,
            addr: upstream.servers[index].addr.clone(),
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
pub fn split_target(targets: &[(u32, u8)]) -> u32 {
    let mut pick = rand::rng().random_range(0..100u32);
    for (upstream, share) in targets {
        if pick < u32::from(*share) {
            return *upstream;
        }
        pick -= u32::from(*share);
    }
    targets[0].0
}
