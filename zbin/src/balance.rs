//! Consistent hashing for `balance ketama by client_ip | header "NAME"`,
//! shared by the runtime (which server a request goes to) and `zenc
//! explain` (which server a client sticks to), so both always agree.
//!
//! It is weighted rendezvous hashing (highest random weight): every server
//! scores the key, the best score wins. Like a ketama ring, a key stays on
//! its server while that server is up, and only the keys of a server that
//! goes away move; unlike a ring, it needs no table and honours weights
//! exactly (a server of weight 2 gets twice the keys of one of weight 1).
//! The hash is xxh3, fixed, so every instance of a fleet and every version
//! of zentinel sends a key to the same server.

use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::model::Server;

/// The score of `server` for `key`: `-weight / ln(u)` with `u` uniform in
/// (0, 1) drawn from the hash of the server and the key.
fn score(server: &Server, key: &[u8]) -> f64 {
    let seed = xxh3_64_with_seed(server.addr.as_bytes(), 0x7a65_6e74_696e_656c);
    let hash = xxh3_64_with_seed(key, seed);
    // 53 bits into (0, 1): never 0 (ln would be -inf) nor 1 (ln 0).
    let unit = ((hash >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    -f64::from(server.weight.max(1)) / unit.ln()
}

/// The server `key` goes to among those `eligible` says are up, if any.
pub fn pick(servers: &[Server], key: &[u8], eligible: impl Fn(usize) -> bool) -> Option<usize> {
    let mut best: Option<(f64, usize)> = None;
    for (index, server) in servers.iter().enumerate() {
        if !eligible(index) {
            continue;
        }
        let score = score(server, key);
        // Ties (astronomically rare) go to the first server listed.
        if best.is_none_or(|(s, _)| score > s) {
            best = Some((score, index));
        }
    }
    best.map(|(_, index)| index)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn servers(weights: &[u32]) -> Vec<Server> {
        weights
            .iter()
            .enumerate()
            .map(|(i, &weight)| Server {
                addr: format!("10.0.0.{i}:80"),
                weight,
                backup: false,
            })
            .collect()
    }

    #[test]
    fn a_key_keeps_its_server_and_only_a_lost_servers_keys_move() {
        let all = servers(&[1, 1, 1, 1]);
        let keys: Vec<String> = (0..2000).map(|i| format!("198.51.100.{i}")).collect();
        let before: Vec<usize> = keys
            .iter()
            .map(|k| pick(&all, k.as_bytes(), |_| true).unwrap())
            .collect();
        let after: Vec<usize> = keys
            .iter()
            .map(|k| pick(&all, k.as_bytes(), |i| i != 2).unwrap())
            .collect();
        for (b, a) in before.iter().zip(&after) {
            if *b != 2 {
                assert_eq!(a, b, "a key on a server that stayed up moved");
            } else {
                assert_ne!(*a, 2);
            }
        }
        // The same key, the same server, every time.
        assert_eq!(pick(&all, b"alice", |_| true), pick(&all, b"alice", |_| true));
    }

    #[test]
    fn weights_are_honoured() {
        let all = servers(&[1, 3]);
        let mut counts = [0usize; 2];
        for i in 0..20_000 {
            counts[pick(&all, format!("key-{i}").as_bytes(), |_| true).unwrap()] += 1;
        }
        let share = counts[1] as f64 / 20_000.0;
        assert!((0.72..0.78).contains(&share), "weight 3 of 4 got {share}");
    }

    #[test]
    fn nothing_eligible_is_none() {
        assert_eq!(pick(&servers(&[1, 1]), b"k", |_| false), None);
    }
}
