//! Route analysis: no request may be left to declaration order.
//!
//! - Ambiguity: two alternatives of different routes with equal keys that
//!   some request matches both are an error that shows such a request.
//! - Reachability: a route every alternative of which is shadowed (a
//!   single alternative with a greater key matches every request it
//!   matches) can never win, and is an error that names the shadow.
//!
//! - Dead routes: a host or path regex that no normalized request can
//!   match (a path without its leading `/`, a host in upper case) makes
//!   its route unreachable too.
//!
//! The analysis returns what it finds as data (`Finding`); `report`
//! renders findings as diagnostics, the one place that does.
//!
//! Host and path questions are decided exactly on automata (`automata`),
//! over the hosts and paths a normalized request can have (`zbin::normalize`
//! describes both languages), so a witness is always a real request;
//! literal patterns are decided structurally first, which is both exact
//! and fast.

mod ambiguity;
pub mod automata;
mod dfas;
mod reachability;
pub mod report;

use std::collections::HashMap;

use regex_automata::dfa::dense::DFA;
use regex_automata::dfa::Automaton as _;
use regex_automata::util::start;
use regex_automata::Anchored;
use zbin::ids::{PatternId, RouteId};
use zbin::model::Policy;
use zbin::table::{Alternative, Key, ANY};

use crate::build::layout::{HostPattern, Layout, PathPattern};
use automata::Search;
use dfas::Dfas;

/// A universal pattern, for "no condition".
pub(super) const ANYTHING: &str = "(?s:.)*";

/// A request that matches two routes, for messages and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Witness {
    pub host: String,
    pub path: String,
    pub method: String,
    pub headers: Vec<(String, String)>,
    pub query: Vec<(String, String)>,
    /// False when a search gave up before it could prove the two routes
    /// disjoint: the request is then only what is known of a shared one.
    pub proven: bool,
}

impl Witness {
    /// "`GET http://host/path?q=1` with header `k: v`".
    pub fn describe(&self) -> String {
        let mut request = format!("{} http://{}{}", self.method, self.host, self.path);
        if !self.query.is_empty() {
            let pairs: Vec<String> = self.query.iter().map(|(k, v)| format!("{k}={v}")).collect();
            request.push('?');
            request.push_str(&pairs.join("&"));
        }
        let mut out = format!("`{request}`");
        for (i, (name, value)) in self.headers.iter().enumerate() {
            out.push_str(if i == 0 { " with header " } else { " and " });
            out.push_str(&format!("`{name}: {value}`"));
        }
        out
    }
}

fn readable(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| {
            if b.is_ascii_graphic() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The two dimensions routes are matched on by automata.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dim {
    Host,
    Path,
}

/// One thing the analysis found wrong with a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// A route whose host or path regex no normalized request matches.
    Dead { route: RouteId, dim: Dim, regex: String },
    /// Alternatives of two routes, with equal keys, that one request
    /// matches (`first` of the route declared first).
    Ambiguous {
        first: Alternative,
        second: Alternative,
        witness: Witness,
    },
    /// A route whose every alternative an alternative `by` of a greater key
    /// matches whenever it matches; `key` is the route's own.
    Shadowed { route: RouteId, key: Key, by: Alternative },
}

/// The analysis of one policy.
pub struct Analysis<'a> {
    policy: &'a Policy,
    layout: &'a Layout,
    dfas: Dfas<'a>,
    /// Forced literal prefixes of regex patterns, for a fast disjointness test.
    prefixes: HashMap<(Dim, PatternId), Vec<u8>>,
    /// What was found, in the order found.
    findings: Vec<Finding>,
    /// Routes found unreachable (dead or shadowed).
    unreachable: Vec<RouteId>,
    /// Each route's alternatives (indices into the layout's).
    by_route: Vec<Vec<u32>>,
}

/// What the analysis finds in a policy, in the order found: dead routes,
/// then ambiguities, then shadowed routes.
#[derive(Debug, Clone, Default)]
pub struct Findings {
    pub list: Vec<Finding>,
}

impl Findings {
    /// Pairs of routes (by index, the first declared first) with equal
    /// keys, and a request that matches both.
    pub fn ambiguous(&self) -> Vec<(RouteId, RouteId, Witness)> {
        self.list
            .iter()
            .filter_map(|f| match f {
                Finding::Ambiguous { first, second, witness } => Some((first.route, second.route, witness.clone())),
                _ => None,
            })
            .collect()
    }

    /// Routes that can never win (dead or shadowed).
    pub fn unreachable(&self) -> Vec<RouteId> {
        self.list
            .iter()
            .filter_map(|f| match f {
                Finding::Dead { route, .. } | Finding::Shadowed { route, .. } => Some(*route),
                Finding::Ambiguous { .. } => None,
            })
            .collect()
    }
}

/// Analyses the route table; `hosts` and `paths` are the multi-pattern
/// automata the artifact will hold (used to find candidate shadows).
pub fn analyze(
    policy: &Policy,
    layout: &Layout,
    hosts: Option<&DFA<Vec<u32>>>,
    paths: Option<&DFA<Vec<u32>>>,
) -> Findings {
    let mut analysis = Analysis::new(policy, layout);
    analysis.run(hosts, paths);
    Findings {
        list: analysis.findings,
    }
}

/// Ids of the patterns of a multi-pattern automaton that match all of
/// `input` (read backwards when `reversed`, as the host automaton reads).
pub fn full_matches(dfa: &DFA<Vec<u32>>, input: &[u8], reversed: bool) -> Vec<PatternId> {
    let Ok(mut state) = dfa.start_state(&start::Config::new().anchored(Anchored::Yes)) else {
        return Vec::new();
    };
    let bytes: Vec<u8> = if reversed {
        input.iter().rev().copied().collect()
    } else {
        input.to_vec()
    };
    for &byte in &bytes {
        state = dfa.next_state(state, byte);
        if dfa.is_dead_state(state) || dfa.is_quit_state(state) {
            return Vec::new();
        }
    }
    state = dfa.next_eoi_state(state);
    if !dfa.is_match_state(state) {
        return Vec::new();
    }
    (0..dfa.match_len(state))
        .map(|i| PatternId(dfa.match_pattern(state, i).as_u32()))
        .collect()
}

impl<'a> Analysis<'a> {
    fn new(policy: &'a Policy, layout: &'a Layout) -> Self {
        Analysis {
            policy,
            layout,
            dfas: Dfas::new(layout),
            prefixes: HashMap::new(),
            findings: Vec::new(),
            unreachable: Vec::new(),
            by_route: {
                let mut by_route = vec![Vec::new(); policy.routes.len()];
                for (i, alternative) in layout.alternatives.iter().enumerate() {
                    by_route[alternative.route.index()].push(i as u32);
                }
                by_route
            },
        }
    }

    fn run(&mut self, hosts: Option<&DFA<Vec<u32>>>, paths: Option<&DFA<Vec<u32>>>) {
        let mut laps = crate::Laps::new("  ");
        self.dead_routes();
        laps.lap("dead routes");
        self.ambiguity();
        laps.lap("ambiguity");
        self.reachability(hosts, paths);
        laps.lap("reachability");
    }

    fn is_regex(&self, dim: Dim, id: PatternId) -> bool {
        id != ANY
            && match dim {
                Dim::Host => matches!(self.layout.host_patterns[id.index()], HostPattern::Regex(_)),
                Dim::Path => matches!(self.layout.path_patterns[id.index()], PathPattern::Regex(_)),
            }
    }

    fn forced_prefix(&mut self, dim: Dim, id: PatternId) -> Vec<u8> {
        if let Some(prefix) = self.prefixes.get(&(dim, id)) {
            return prefix.clone();
        }
        let prefix = self.dfas.pattern(dim, id).forced_prefix();
        self.prefixes.insert((dim, id), prefix.clone());
        prefix
    }

    /// A string both patterns match (same class, so: same literal pattern,
    /// or two regexes decided on their automata), and whether that is
    /// proven. `None`: disjoint.
    fn overlap(&mut self, dim: Dim, a: PatternId, b: PatternId) -> Option<(Vec<u8>, bool)> {
        if a == b {
            return Some((self.witness_of(dim, a), true));
        }
        if !(self.is_regex(dim, a) && self.is_regex(dim, b)) {
            // Equal keys and different literal patterns: two exact names,
            // two suffixes or two prefixes of equal length never overlap.
            return None;
        }
        let (pa, pb) = (self.forced_prefix(dim, a), self.forced_prefix(dim, b));
        if !(pa.starts_with(&pb) || pb.starts_with(&pa)) {
            return None;
        }
        match self.dfas.search2(dim, a, b, false) {
            Search::Found(w) => Some((w, true)),
            Search::Empty => None,
            // Could not prove them disjoint: treated as overlapping (and
            // said so), with what is known of a shared request.
            Search::Undecided => Some((pa, false)),
        }
    }

    /// A string the pattern matches.
    fn witness_of(&mut self, dim: Dim, id: PatternId) -> Vec<u8> {
        if id == ANY {
            return match dim {
                Dim::Host => b"example.com".to_vec(),
                Dim::Path => b"/".to_vec(),
            };
        }
        match dim {
            Dim::Host => match &self.layout.host_patterns[id.index()] {
                HostPattern::Exact(name) => name.as_bytes().to_vec(),
                HostPattern::Wildcard(suffix) => format!("a{suffix}").into_bytes(),
                // A regex no request matches is reported as dead first.
                HostPattern::Regex(_) => self.dfas.witness(dim, id).unwrap_or_default(),
            },
            Dim::Path => match &self.layout.path_patterns[id.index()] {
                PathPattern::Exact(path) | PathPattern::Prefix(path) => path.as_bytes().to_vec(),
                PathPattern::Regex(_) => self.dfas.witness(dim, id).unwrap_or_default(),
            },
        }
    }

    /// Whether pattern `outer` matches everything pattern `inner` does.
    fn contains(&mut self, dim: Dim, outer: PatternId, inner: PatternId) -> bool {
        if outer == inner || outer == ANY {
            return true;
        }
        let literal = |s: &Self, id: PatternId| id != ANY && !s.is_regex(dim, id);
        if literal(self, outer) && literal(self, inner) {
            return match dim {
                Dim::Host => match (
                    &self.layout.host_patterns[outer.index()],
                    &self.layout.host_patterns[inner.index()],
                ) {
                    (HostPattern::Wildcard(s), HostPattern::Exact(name)) => {
                        name.len() > s.len() && name.ends_with(s.as_str())
                    }
                    (HostPattern::Wildcard(s), HostPattern::Wildcard(t)) => t.ends_with(s.as_str()),
                    _ => false, // an exact name contains only itself
                },
                Dim::Path => match (
                    &self.layout.path_patterns[outer.index()],
                    &self.layout.path_patterns[inner.index()],
                ) {
                    (PathPattern::Prefix(p), PathPattern::Exact(x)) => prefix_covers(p, x),
                    (PathPattern::Prefix(p), PathPattern::Prefix(q)) => prefix_covers(p, q),
                    _ => false,
                },
            };
        }
        // An exact pattern is one string: contained if the outer matches it.
        if inner != ANY {
            let exact = match dim {
                Dim::Host => match &self.layout.host_patterns[inner.index()] {
                    HostPattern::Exact(name) => Some(name.as_bytes().to_vec()),
                    _ => None,
                },
                Dim::Path => match &self.layout.path_patterns[inner.index()] {
                    PathPattern::Exact(path) => Some(path.as_bytes().to_vec()),
                    _ => None,
                },
            };
            if let Some(exact) = exact {
                return self.dfas.pattern(dim, outer).accepts(&exact);
            }
        }
        matches!(self.dfas.search2(dim, inner, outer, true), Search::Empty)
    }
}

/// Whether prefix `p` matches every path that prefix or exact path `q`
/// matches (segment-aware: `/api` covers `/api` and `/api/x`).
fn prefix_covers(p: &str, q: &str) -> bool {
    if p.ends_with('/') {
        q.starts_with(p)
    } else {
        q == p || q.starts_with(&format!("{p}/"))
    }
}
