//! Token buckets for `rate_limit`: each key (a client IP, a header value or
//! the route itself) holds up to `burst` tokens, refilled at the policy's
//! rate; a request takes one or is answered 429 with the seconds until the
//! next token in `retry-after`.
//!
//! Buckets are spread over shards, each behind its own lock, and keyed by a
//! 64-bit hash of (route, key) under a key chosen at random per process, so
//! a request allocates nothing and clients cannot aim keys at one bucket.
//! Buckets that have filled up again say nothing a fresh one would not, so
//! each shard forgets them once it grows, a little at a time.
//!
//! The counters are this process's: a fleet of instances each allows the
//! rate (a shared limit needs a shared store; see ARCHITECTURE.md).

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Mutex;
use std::time::Instant;

use zbin::model::RateLimit;

const SHARDS: usize = 64;

/// A shard prunes when it holds more buckets than this...
const PRUNE_ABOVE: usize = 4096;
/// ...every this many new buckets, so pruning costs O(1) per request.
const PRUNE_EVERY: usize = 1024;
/// A shard never holds more than this many buckets (a million in all, some
/// 64 MiB): past it, after pruning, it starts afresh. A flood of keys that
/// never refill (a client rotating addresses) costs memory only up to here,
/// at the price of a fresh burst for the keys of that shard.
const MAX_PER_SHARD: usize = 16 * 1024;

struct Bucket {
    tokens: f64,
    last: Instant,
    /// Its own limit's, for pruning (shards mix routes).
    per_ms: f64,
    capacity: f64,
}

impl Bucket {
    fn full_at(&self, now: Instant) -> bool {
        self.tokens + now.duration_since(self.last).as_secs_f64() * 1000.0 * self.per_ms >= self.capacity
    }
}

#[derive(Default)]
struct Shard {
    buckets: HashMap<u64, Bucket>,
    created: usize,
}

pub struct RateLimiter {
    shards: Vec<Mutex<Shard>>,
    hasher: std::collections::hash_map::RandomState,
}

impl Default for RateLimiter {
    fn default() -> Self {
        RateLimiter {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            hasher: std::collections::hash_map::RandomState::new(),
        }
    }
}

impl RateLimiter {
    /// Takes a token for `key` on `route`; `Err(seconds)` when there is none.
    pub fn check(&self, route: &str, key: &[u8], limit: &RateLimit) -> Result<(), u64> {
        let id = self.hasher.hash_one((route, key));
        let now = Instant::now();
        let per_ms = limit.requests as f64 / limit.per.max(1) as f64;
        let capacity = limit.burst.max(1) as f64;
        let mut shard = self.shards[(id % SHARDS as u64) as usize]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let shard = &mut *shard;
        if shard.buckets.len() > PRUNE_ABOVE && shard.created >= PRUNE_EVERY {
            shard.created = 0;
            shard.buckets.retain(|_, b| !b.full_at(now));
            if shard.buckets.len() > MAX_PER_SHARD {
                log::warn!("rate limiting holds too many keys; one shard of its buckets starts afresh");
                shard.buckets.clear();
            }
        }
        let bucket = shard.buckets.entry(id).or_insert_with(|| {
            shard.created += 1;
            Bucket {
                tokens: capacity,
                last: now,
                per_ms,
                capacity,
            }
        });
        let elapsed_ms = now.duration_since(bucket.last).as_secs_f64() * 1000.0;
        // A reload may have changed the limit.
        bucket.per_ms = per_ms;
        bucket.capacity = capacity;
        bucket.tokens = (bucket.tokens + elapsed_ms * per_ms).min(capacity);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait_ms = (1.0 - bucket.tokens) / per_ms;
            Err((wait_ms / 1000.0).ceil().max(1.0) as u64)
        }
    }

    /// How many buckets are held, over all shards.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).buckets.len())
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zbin::model::RateKey;

    fn limit(requests: u64, per: u64, burst: u64) -> RateLimit {
        RateLimit {
            requests,
            per,
            burst,
            key: RateKey::ClientIp,
        }
    }

    #[test]
    fn burst_then_refusal_with_retry_after() {
        let limiter = RateLimiter::default();
        let limit = limit(1, 60_000, 2);
        assert!(limiter.check("r", b"1.2.3.4", &limit).is_ok());
        assert!(limiter.check("r", b"1.2.3.4", &limit).is_ok());
        let wait = limiter.check("r", b"1.2.3.4", &limit).unwrap_err();
        assert!((1..=60).contains(&wait), "{wait}");
        // Another key, or another route, has its own bucket.
        assert!(limiter.check("r", b"5.6.7.8", &limit).is_ok());
        assert!(limiter.check("other", b"1.2.3.4", &limit).is_ok());
    }

    #[test]
    fn a_flood_of_keys_is_forgotten_as_buckets_refill() {
        let limiter = RateLimiter::default();
        // Refills within a millisecond: every bucket is full again soon.
        let limit = limit(1_000_000, 1, 1);
        for i in 0u32..300_000 {
            let _ = limiter.check("r", &i.to_le_bytes(), &limit);
        }
        assert!(
            limiter.len() < SHARDS * (PRUNE_ABOVE + PRUNE_EVERY) + SHARDS,
            "{} buckets held",
            limiter.len()
        );
    }

    #[test]
    fn keys_that_never_refill_are_capped() {
        let limiter = RateLimiter::default();
        // One a minute: no bucket fills up again during the test.
        let limit = limit(1, 60_000, 1);
        for i in 0u32..(SHARDS * MAX_PER_SHARD + 200_000) as u32 {
            let _ = limiter.check("r", &i.to_le_bytes(), &limit);
        }
        assert!(
            limiter.len() <= SHARDS * (MAX_PER_SHARD + PRUNE_EVERY),
            "{} buckets held",
            limiter.len()
        );
    }
}
