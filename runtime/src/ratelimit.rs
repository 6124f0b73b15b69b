//! Token buckets for `rate_limit`: each key (a client IP, a header value
//! or the route itself) holds up to `burst` tokens, refilled at the
//! policy's rate; a request takes one or is answered 429 with the seconds
//! until the next token in `retry-after`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use zbin::model::RateLimit;

struct Bucket {
    tokens: f64,
    last: Instant,
}

/// Buckets for every (route, key) seen; idle full buckets are dropped.
#[derive(Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<(String, String), Bucket>>,
}

/// Beyond this many keys, buckets that are full again are forgotten.
const PRUNE_AT: usize = 100_000;

impl RateLimiter {
    /// Takes a token for `key` on `route`; `Err(seconds)` when there is none.
    pub fn check(&self, route: &str, key: &str, limit: &RateLimit) -> Result<(), u64> {
        let now = Instant::now();
        let per_ms = limit.requests as f64 / limit.per as f64;
        let capacity = limit.burst.max(1) as f64;
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() > PRUNE_AT {
            buckets.retain(|_, b| b.tokens + now.duration_since(b.last).as_millis() as f64 * per_ms < capacity);
        }
        let bucket = buckets.entry((route.to_string(), key.to_string())).or_insert(Bucket {
            tokens: capacity,
            last: now,
        });
        let elapsed = now.duration_since(bucket.last).as_secs_f64() * 1000.0;
        bucket.tokens = (bucket.tokens + elapsed * per_ms).min(capacity);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait_ms = (1.0 - bucket.tokens) / per_ms;
            Err((wait_ms / 1000.0).ceil().max(1.0) as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zbin::model::RateKey;

    #[test]
    fn burst_then_refusal_with_retry_after() {
        let limiter = RateLimiter::default();
        let limit = RateLimit {
            requests: 1,
            per: 60_000,
            burst: 2,
            key: RateKey::ClientIp,
        };
        assert!(limiter.check("r", "1.2.3.4", &limit).is_ok());
        assert!(limiter.check("r", "1.2.3.4", &limit).is_ok());
        let wait = limiter.check("r", "1.2.3.4", &limit).unwrap_err();
        assert!((1..=60).contains(&wait), "{wait}");
        // Another key has its own bucket.
        assert!(limiter.check("r", "5.6.7.8", &limit).is_ok());
    }
}
