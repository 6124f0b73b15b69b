//! Choosing a server: balancing, backups, and the health state that
//! decides which servers are in rotation. State is keyed by (upstream
//! name, server address), so a reload keeps the state of every server
//! that is still there.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
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

/// Health and balancing state of every server of every upstream.
#[derive(Debug)]
pub struct Pools {
    servers: Mutex<HashMap<(String, String), Arc<ServerState>>>,
    /// Round-robin cursors by upstream name.
    cursors: Mutex<HashMap<String, Arc<AtomicUsize>>>,
    epoch: Instant,
}

impl Default for Pools {
    fn default() -> Self {
        Pools {
            servers: Mutex::new(HashMap::new()),
            cursors: Mutex::new(HashMap::new()),
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

    fn cursor(&self, upstream: &str) -> Arc<AtomicUsize> {
        let mut cursors = self.cursors.lock().unwrap_or_else(|e| e.into_inner());
        cursors.entry(upstream.to_string()).or_default().clone()
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
        let states: Vec<Arc<ServerState>> = upstream
            .servers
            .iter()
            .map(|s| self.state(&upstream.name, &s.addr))
            .collect();
        let eligible = |backup: bool, skip_tried: bool| -> Vec<usize> {
            (0..upstream.servers.len())
                .filter(|&i| upstream.servers[i].backup == backup)
                .filter(|&i| self.available(&states[i]))
                .filter(|&i| {
                    upstream
                        .max_connections
                        .is_none_or(|max| states[i].active.load(Ordering::Relaxed) < max as usize)
                })
                .filter(|i| !skip_tried || !tried.contains(i))
                .collect()
        };
        // Primaries first, untried first; backups only when no primary is up.
        let candidates = [
            eligible(false, true),
            eligible(false, false),
            eligible(true, true),
            eligible(true, false),
        ]
        .into_iter()
        .find(|c| !c.is_empty())?;
        let weight = |i: usize| u64::from(upstream.servers[i].weight.max(1));
        let index = match &upstream.balance {
            Balance::RoundRobin => {
                let total: u64 = candidates.iter().map(|&i| weight(i)).sum();
                let mut tick = self.cursor(&upstream.name).fetch_add(1, Ordering::Relaxed) as u64 % total;
                let mut chosen = candidates[0];
                for &i in &candidates {
                    if tick < weight(i) {
                        chosen = i;
                        break;
                    }
                    tick -= weight(i);
                }
                chosen
            }
            Balance::LeastConn => *candidates
                .iter()
                .min_by_key(|&&i| (states[i].active.load(Ordering::Relaxed) as u64 * 1000) / weight(i))
                .expect("candidates is not empty"),
            Balance::Random => weighted_random(&candidates, weight),
            Balance::PowerOfTwoChoices => {
                let a = weighted_random(&candidates, weight);
                let b = weighted_random(&candidates, weight);
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
                *candidates
                    .iter()
                    .max_by_key(|&&i| {
                        let mut hasher = std::collections::hash_map::DefaultHasher::new();
                        key.hash(&mut hasher);
                        upstream.servers[i].addr.hash(&mut hasher);
                        hasher.finish() / weight(i).max(1) * weight(i)
                    })
                    .expect("candidates is not empty")
            }
        };
        Some(Choice {
            index,
            addr: upstream.servers[index].addr.clone(),
            state: states[index].clone(),
        })
    }
}

fn weighted_random(candidates: &[usize], weight: impl Fn(usize) -> u64) -> usize {
    let total: u64 = candidates.iter().map(|&i| weight(i)).sum();
    let mut pick = rand::rng().random_range(0..total);
    for &i in candidates {
        if pick < weight(i) {
            return i;
        }
        pick -= weight(i);
    }
    candidates[0]
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
