//! Generated policies for benchmarks and tests: a realistic mix of exact,
//! wildcard and regex hosts, exact, prefix and regex paths, method and
//! header conditions, and every action. Deterministic for a given size and
//! seed, and free of ambiguous routes (each route owns a path namespace).

use std::fmt::Write;

/// A small deterministic generator (xorshift64*), enough for variety.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const WORDS: &[&str] = &[
    "users", "orders", "items", "billing", "search", "assets", "reports", "teams", "auth", "files",
];

/// A policy with `routes` routes and one upstream per ten routes.
pub fn policy(routes: usize, seed: u64) -> String {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let upstreams = routes.div_ceil(10).max(1);
    let mut out = String::with_capacity(routes * 120);
    out.push_str("listen \"127.0.0.1:8080\"\nadmin \"127.0.0.1:9901\"\n\n");
    for u in 0..upstreams {
        let _ = writeln!(
            out,
            "upstream pool{u} {{\n    server \"127.0.0.1:{}\" weight {}\n    server \"127.0.0.1:{}\"\n    balance least_conn\n}}\n",
            10_000 + u % 50_000,
            1 + rng.below(5),
            20_000 + u % 40_000
        );
    }
    for i in 0..routes {
        let word = WORDS[i % WORDS.len()];
        let _ = writeln!(out, "route r{i} {{");
        match rng.below(10) {
            0..=3 => {}
            4..=6 => {
                let _ = writeln!(out, "    host \"{word}{}.example.com\"", i % 97);
            }
            7 | 8 => {
                let _ = writeln!(out, "    host \"*.{word}{}.example.org\"", i % 89);
            }
            _ => {
                let _ = writeln!(out, "    host regex r\"[a-z]+\\.{word}{}\\.example\\.net\"", i % 83);
            }
        }
        match rng.below(10) {
            0..=3 => {
                let _ = writeln!(out, "    path \"/{word}/{i}/list\"");
            }
            4..=7 => {
                let _ = writeln!(out, "    path prefix \"/{word}/{i}\"");
            }
            _ => {
                let _ = writeln!(out, "    path regex r\"/{word}/{i}/(?P<id>[0-9]+)\"");
            }
        }
        if rng.below(4) == 0 {
            out.push_str("    method GET HEAD\n");
        }
        if rng.below(8) == 0 {
            let _ = writeln!(out, "    header \"x-tenant\" \"t{}\"", rng.below(10));
        }
        match rng.below(20) {
            0 => {
                let _ = writeln!(out, "    respond 200 \"r{i}\\n\"");
            }
            1 => {
                let _ = writeln!(out, "    redirect 301 \"https://{{host}}/new/{word}/{i}\"");
            }
            2 => out.push_str("    static \"./public\" index \"index.html\"\n"),
            _ => {
                let _ = writeln!(out, "    proxy pool{}", i % upstreams);
                if rng.below(3) == 0 {
                    let _ = writeln!(out, "    request_headers {{ set \"x-route\" \"r{i}\" }}");
                }
                if rng.below(5) == 0 {
                    out.push_str("    timeout 10s\n");
                }
            }
        }
        out.push_str("}\n\n");
    }
    out
}

/// A policy with one route per line of `routes` (paths with `{name}`
/// parameters, as router benchmarks write them): literal paths become
/// exact paths, parameters `[^/]+` in a path regex.
pub fn path_set_policy(routes: &str) -> String {
    let mut out = String::from("listen \"127.0.0.1:8080\"\n\n");
    for (i, path) in routes.lines().map(str::trim).filter(|l| !l.is_empty()).enumerate() {
        let _ = writeln!(out, "route r{i} {{");
        if path.contains('{') {
            let mut regex = String::new();
            let mut rest = path;
            while let Some(start) = rest.find('{') {
                regex.push_str(&regex_syntax::escape(&rest[..start]));
                regex.push_str("[^/]+");
                rest = rest[start..].split_once('}').map_or("", |(_, after)| after);
            }
            regex.push_str(&regex_syntax::escape(rest));
            let _ = writeln!(out, "    path regex r\"{regex}\"");
        } else {
            let _ = writeln!(out, "    path \"{path}\"");
        }
        out.push_str("    respond 200\n}\n\n");
    }
    out
}

/// A request (host, path) that the route matches, for benchmarks: each
/// pattern's literal form or a shortest string its automaton accepts.
pub fn request_for(route: &zbin::model::Route) -> (String, String) {
    use crate::analyze::automata::PatternDfa;
    use zbin::model::{HostMatch, HostName, PathMatch};
    let witness = |pattern: &str| {
        PatternDfa::new(pattern)
            .ok()
            .and_then(|d| d.witness())
            .map(|w| String::from_utf8_lossy(&w).into_owned())
            .unwrap_or_default()
    };
    let host = match &route.host {
        HostMatch::Any => "example.com".to_string(),
        HostMatch::Names(names) => match &names[0] {
            HostName::Exact(n) => n.clone(),
            HostName::Wildcard(s) => format!("www{s}"),
        },
        HostMatch::Regex(r) => witness(r),
    };
    let path = match &route.path {
        PathMatch::Any => "/".to_string(),
        PathMatch::Exact(p) => p.clone(),
        PathMatch::Prefix(p) if p.ends_with('/') => format!("{p}index"),
        PathMatch::Prefix(p) => format!("{p}/index"),
        PathMatch::Regex(r) => witness(r),
    };
    (host, path)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_github_route_set_compiles_cleanly() {
        let text = super::path_set_policy(include_str!("../benches/github_routes.txt"));
        let compilation = crate::check_source(std::path::Path::new("github.zen"), &text);
        assert!(
            compilation.diagnostics.is_empty(),
            "{:?}",
            compilation.diagnostics.first()
        );
        assert_eq!(compilation.checked().cloned().expect("checks").policy.routes.len(), 130);
    }

    #[test]
    fn generated_policies_check_clean() {
        for size in [1, 10, 100, 1_000] {
            let text = super::policy(size, 7);
            let compilation = crate::check_source(std::path::Path::new("synth.zen"), &text);
            assert!(
                compilation.diagnostics.is_empty(),
                "{size}: {:?}",
                &compilation.diagnostics[..1]
            );
            assert_eq!(
                compilation.checked().cloned().expect("checks").policy.routes.len(),
                size
            );
        }
    }
}
