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
//! Host and path questions are decided exactly on automata (`automata`),
//! over the hosts and paths a normalized request can have (`zbin::normalize`
//! describes both languages), so a witness is always a real request;
//! literal patterns are decided structurally first, which is both exact
//! and fast.

pub mod automata;
pub mod layout;

use std::collections::HashMap;
use std::sync::LazyLock;

use regex_automata::dfa::dense::DFA;
use regex_automata::dfa::Automaton as _;
use regex_automata::util::start;
use regex_automata::Anchored;
use zbin::model::Policy;
use zbin::table::{Alternative, Conditions, Key, ValueTest, ANY};

use crate::diagnostic::{Code, Diagnostic};
use crate::source::Span;
use automata::{difference, intersection, PatternDfa, Search};
pub use layout::{layout, HostPattern, Layout, PathPattern};

/// A universal pattern, for "no condition".
const ANYTHING: &str = "(?s:.)*";

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
    fn describe(&self) -> String {
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

/// Single-pattern automata, built on first use, and the languages of
/// normalized hosts and paths every question is confined to.
struct Dfas<'l> {
    layout: &'l Layout,
    hosts: HashMap<u32, PatternDfa>,
    paths: HashMap<u32, PatternDfa>,
    values: HashMap<u32, PatternDfa>,
}

/// Built once per process: they never change.
static ANYTHING_DFA: LazyLock<PatternDfa> = LazyLock::new(|| builtin(ANYTHING));
static HOST_DOMAIN: LazyLock<PatternDfa> = LazyLock::new(|| builtin(zbin::normalize::normalized_host_language()));
static PATH_DOMAIN: LazyLock<PatternDfa> = LazyLock::new(|| builtin(&zbin::normalize::normalized_path_language()));

fn builtin(pattern: &str) -> PatternDfa {
    // Fixed patterns of this crate and of zbin, tested to compile.
    PatternDfa::new(pattern).expect("a built-in pattern compiles")
}

impl<'l> Dfas<'l> {
    fn new(layout: &'l Layout) -> Self {
        Dfas {
            layout,
            hosts: HashMap::new(),
            paths: HashMap::new(),
            values: HashMap::new(),
        }
    }

    /// Builds the automaton of pattern `id` if it is not built yet.
    fn ensure(&mut self, dim: Dim, id: u32) {
        if id == ANY {
            return;
        }
        let layout = self.layout;
        let map = match dim {
            Dim::Host => &mut self.hosts,
            Dim::Path => &mut self.paths,
        };
        // Every pattern was compiled by the checker under the size cap.
        map.entry(id).or_insert_with(|| {
            let regex = match dim {
                Dim::Host => layout.host_patterns[id as usize].regex(),
                Dim::Path => layout.path_patterns[id as usize].regex(),
            };
            PatternDfa::new(&regex).expect("checked pattern")
        });
    }

    /// The automaton of pattern `id`, once `ensure`d.
    fn get(&self, dim: Dim, id: u32) -> &PatternDfa {
        let map = match dim {
            Dim::Host => &self.hosts,
            Dim::Path => &self.paths,
        };
        map.get(&id).unwrap_or(&ANYTHING_DFA)
    }

    fn pattern(&mut self, dim: Dim, id: u32) -> &PatternDfa {
        self.ensure(dim, id);
        self.get(dim, id)
    }

    fn domain(&self, dim: Dim) -> &'static PatternDfa {
        match dim {
            Dim::Host => &HOST_DOMAIN,
            Dim::Path => &PATH_DOMAIN,
        }
    }

    /// A shortest host or path of a request that pattern `id` matches.
    fn witness(&mut self, dim: Dim, id: u32) -> Option<Vec<u8>> {
        self.ensure(dim, id);
        self.get(dim, id).witness_within(Some(self.domain(dim)))
    }

    fn value(&mut self, id: u32) -> &PatternDfa {
        let layout = self.layout;
        self.values
            .entry(id)
            .or_insert_with(|| PatternDfa::new(&layout.value_regexes[id as usize]).expect("checked pattern"))
    }

    /// A request host or path that both patterns match (or, with
    /// `containment`, that `a` matches and `b` does not).
    fn search2(&mut self, dim: Dim, a: u32, b: u32, containment: bool) -> Search {
        self.ensure(dim, a);
        self.ensure(dim, b);
        let (da, db, domain) = (self.get(dim, a), self.get(dim, b), Some(self.domain(dim)));
        if containment {
            difference(da, db, domain)
        } else {
            intersection(da, db, domain)
        }
    }

    /// The same for two header-value regexes (any bytes).
    fn values2(&mut self, a: u32, b: u32, containment: bool) -> Search {
        self.value(a);
        self.value(b);
        let (da, db) = (&self.values[&a], &self.values[&b]);
        if containment {
            difference(da, db, None)
        } else {
            intersection(da, db, None)
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Dim {
    Host,
    Path,
}

/// The analysis of one policy.
pub struct Analysis<'a> {
    policy: &'a Policy,
    layout: &'a Layout,
    route_spans: &'a [Span],
    dfas: Dfas<'a>,
    /// Forced literal prefixes of regex patterns, for a fast disjointness test.
    prefixes: HashMap<(Dim, u32), Vec<u8>>,
    diagnostics: Vec<Diagnostic>,
    /// What was found, as data: (route, route, request both match).
    ambiguous: Vec<(u32, u32, Witness)>,
    /// Routes found unreachable (dead or shadowed).
    unreachable: Vec<u32>,
    /// Each route's alternatives (indices into the layout's).
    by_route: Vec<Vec<u32>>,
}

/// What the analysis finds in a policy, as data (for tests and tools).
#[derive(Debug, Clone, Default)]
pub struct Findings {
    /// Pairs of routes (by index) with equal keys, and a request that
    /// matches both.
    pub ambiguous: Vec<(u32, u32, Witness)>,
    /// Routes that can never win.
    pub unreachable: Vec<u32>,
}

/// Lays out, builds and analyses `policy` (already checked): what
/// `zenc check` reports, as data.
pub fn findings(policy: &Policy) -> Result<Findings, String> {
    let layout = layout(policy);
    let automata = crate::emit::build_automata(&layout).map_err(|e| e.to_string())?;
    let spans = vec![Span::new(crate::source::FileId(0), 0, 0); policy.routes.len()];
    let mut analysis = Analysis::new(policy, &layout, &spans);
    analysis.run(automata.hosts.as_ref(), automata.paths.as_ref());
    Ok(Findings {
        ambiguous: analysis.ambiguous,
        unreachable: analysis.unreachable,
    })
}

/// Analyses the route table; `hosts` and `paths` are the multi-pattern
/// automata the artifact will hold (used to find candidate shadows).
pub fn analyze(
    policy: &Policy,
    layout: &Layout,
    route_spans: &[Span],
    hosts: Option<&DFA<Vec<u32>>>,
    paths: Option<&DFA<Vec<u32>>>,
) -> Vec<Diagnostic> {
    let mut analysis = Analysis::new(policy, layout, route_spans);
    analysis.run(hosts, paths);
    analysis.diagnostics
}

/// Ids of the patterns of a multi-pattern automaton that match all of
/// `input` (read backwards when `reversed`, as the host automaton reads).
pub fn full_matches(dfa: &DFA<Vec<u32>>, input: &[u8], reversed: bool) -> Vec<u32> {
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
        .map(|i| dfa.match_pattern(state, i).as_u32())
        .collect()
}

impl<'a> Analysis<'a> {
    fn new(policy: &'a Policy, layout: &'a Layout, route_spans: &'a [Span]) -> Self {
        Analysis {
            policy,
            layout,
            route_spans,
            dfas: Dfas::new(layout),
            prefixes: HashMap::new(),
            diagnostics: Vec::new(),
            ambiguous: Vec::new(),
            unreachable: Vec::new(),
            by_route: {
                let mut by_route = vec![Vec::new(); policy.routes.len()];
                for (i, alternative) in layout.alternatives.iter().enumerate() {
                    by_route[alternative.route as usize].push(i as u32);
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

    // ------------------------------------------------------------ dead routes

    /// Routes whose host or path regex no normalized request matches.
    fn dead_routes(&mut self) {
        for (route, model) in self.policy.routes.iter().enumerate() {
            let Some(alternative) = self
                .layout
                .alternatives
                .iter()
                .find(|a| a.route == route as u32)
                .cloned()
            else {
                continue;
            };
            let (dim, written) = match (&model.host, &model.path) {
                (zbin::model::HostMatch::Regex(regex), _)
                    if self.dfas.witness(Dim::Host, alternative.host).is_none() =>
                {
                    (Dim::Host, regex.clone())
                }
                (_, zbin::model::PathMatch::Regex(regex))
                    if self.dfas.witness(Dim::Path, alternative.path).is_none() =>
                {
                    (Dim::Path, regex.clone())
                }
                _ => continue,
            };
            let (what, help) = match dim {
                Dim::Host => (
                    "host",
                    "hosts are matched in lower case, without port or trailing dot: write the regex in lower case, or start it with `(?i)`",
                ),
                Dim::Path => (
                    "path",
                    "paths are matched normalized (LANGUAGE.md §4.2): they start with `/`, have no empty, `.` or `..` segments, and keep only escapes of reserved bytes, in upper case",
                ),
            };
            self.unreachable.push(route as u32);
            self.diagnostics.push(
                Diagnostic::new(
                    Code::UnreachableRoute,
                    format!(
                        "route `{}` is unreachable: no request {what} matches `{written}`",
                        model.name
                    ),
                    self.route_spans[route],
                    "never matches",
                )
                .with_help(help),
            );
        }
    }

    fn route_name(&self, alternative: &Alternative) -> &str {
        &self.policy.routes[alternative.route as usize].name
    }

    fn is_regex(&self, dim: Dim, id: u32) -> bool {
        id != ANY
            && match dim {
                Dim::Host => matches!(self.layout.host_patterns[id as usize], HostPattern::Regex(_)),
                Dim::Path => matches!(self.layout.path_patterns[id as usize], PathPattern::Regex(_)),
            }
    }

    fn forced_prefix(&mut self, dim: Dim, id: u32) -> Vec<u8> {
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
    fn overlap(&mut self, dim: Dim, a: u32, b: u32) -> Option<(Vec<u8>, bool)> {
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
    fn witness_of(&mut self, dim: Dim, id: u32) -> Vec<u8> {
        if id == ANY {
            return match dim {
                Dim::Host => b"example.com".to_vec(),
                Dim::Path => b"/".to_vec(),
            };
        }
        match dim {
            Dim::Host => match &self.layout.host_patterns[id as usize] {
                HostPattern::Exact(name) => name.as_bytes().to_vec(),
                HostPattern::Wildcard(suffix) => format!("a{suffix}").into_bytes(),
                // A regex no request matches is reported as dead first.
                HostPattern::Regex(_) => self.dfas.witness(dim, id).unwrap_or_default(),
            },
            Dim::Path => match &self.layout.path_patterns[id as usize] {
                PathPattern::Exact(path) | PathPattern::Prefix(path) => path.as_bytes().to_vec(),
                PathPattern::Regex(_) => self.dfas.witness(dim, id).unwrap_or_default(),
            },
        }
    }

    /// Whether pattern `outer` matches everything pattern `inner` does.
    fn contains(&mut self, dim: Dim, outer: u32, inner: u32) -> bool {
        if outer == inner || outer == ANY {
            return true;
        }
        let literal = |s: &Self, id: u32| id != ANY && !s.is_regex(dim, id);
        if literal(self, outer) && literal(self, inner) {
            return match dim {
                Dim::Host => match (
                    &self.layout.host_patterns[outer as usize],
                    &self.layout.host_patterns[inner as usize],
                ) {
                    (HostPattern::Wildcard(s), HostPattern::Exact(name)) => {
                        name.len() > s.len() && name.ends_with(s.as_str())
                    }
                    (HostPattern::Wildcard(s), HostPattern::Wildcard(t)) => t.ends_with(s.as_str()),
                    _ => false, // an exact name contains only itself
                },
                Dim::Path => match (
                    &self.layout.path_patterns[outer as usize],
                    &self.layout.path_patterns[inner as usize],
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
                Dim::Host => match &self.layout.host_patterns[inner as usize] {
                    HostPattern::Exact(name) => Some(name.as_bytes().to_vec()),
                    _ => None,
                },
                Dim::Path => match &self.layout.path_patterns[inner as usize] {
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

    // ---------------------------------------------------------- ambiguity

    fn ambiguity(&mut self) {
        // Only equal keys can be ambiguous; within a key, only alternatives
        // with the same literal patterns, or regexes, can overlap.
        let mut groups: HashMap<(Key, u32, u32), Vec<u32>> = HashMap::new();
        for (i, alternative) in self.layout.alternatives.iter().enumerate() {
            let host = if self.is_regex(Dim::Host, alternative.host) {
                ANY - 1
            } else {
                alternative.host
            };
            let path = if self.is_regex(Dim::Path, alternative.path) {
                ANY - 1
            } else {
                alternative.path
            };
            groups.entry((alternative.key, host, path)).or_default().push(i as u32);
        }
        let mut groups: Vec<Vec<u32>> = groups.into_values().filter(|g| g.len() > 1).collect();
        groups.sort();
        let mut reported: std::collections::HashSet<(u32, u32)> = std::collections::HashSet::new();
        for group in groups {
            for (a, b) in self.pairs_that_may_overlap(&group) {
                let (alt_a, alt_b) = (
                    &self.layout.alternatives[a as usize],
                    &self.layout.alternatives[b as usize],
                );
                if alt_a.route == alt_b.route {
                    continue;
                }
                let pair = (alt_a.route.min(alt_b.route), alt_a.route.max(alt_b.route));
                if reported.contains(&pair) {
                    continue;
                }
                if let Some(witness) = self.both_match(alt_a.clone(), alt_b.clone()) {
                    reported.insert(pair);
                    self.report_ambiguity(alt_a.clone(), alt_b.clone(), &witness);
                    self.ambiguous.push((pair.0, pair.1, witness));
                }
            }
        }
    }

    /// The pairs of `group` (alternatives of one key) that could match one
    /// request. Split by a header, query parameter or method that most of
    /// them want an exact value of, only those that want the same value,
    /// or none, can: a thousand tenants told apart by a header cost a
    /// thousand comparisons, not half a million.
    fn pairs_that_may_overlap(&self, group: &[u32]) -> Vec<(u32, u32)> {
        let all_pairs = |members: &[usize], out: &mut Vec<(usize, usize)>| {
            for (n, &i) in members.iter().enumerate() {
                for &j in &members[n + 1..] {
                    out.push((i.min(j), i.max(j)));
                }
            }
        };
        let mut pairs: Vec<(usize, usize)> = Vec::new();
        match layout::split_by_discriminator(group, &self.layout.alternatives, &self.layout.conditions, 2) {
            None => all_pairs(&(0..group.len()).collect::<Vec<_>>(), &mut pairs),
            Some(split) => {
                for members in split.values.values() {
                    all_pairs(members, &mut pairs);
                }
                for &r in &split.rest {
                    pairs.extend((0..group.len()).filter(|&j| j != r).map(|j| (r.min(j), r.max(j))));
                }
                // A `method` line puts one alternative under several values.
                pairs.sort_unstable();
                pairs.dedup();
            }
        }
        pairs.into_iter().map(|(i, j)| (group[i], group[j])).collect()
    }

    /// A request both alternatives match, if there is one.
    fn both_match(&mut self, a: Alternative, b: Alternative) -> Option<Witness> {
        let layout = self.layout;
        let (conditions_a, conditions_b) = (
            &layout.conditions[a.route as usize],
            &layout.conditions[b.route as usize],
        );
        let (method, headers, query) = self.conditions_overlap(conditions_a, conditions_b)?;
        let (mut host, host_proven) = self.overlap(Dim::Host, a.host, b.host)?;
        // A host one of the routes matches better by another of its names
        // (`a.com` for `*.com` beside `a.com`) shows no tie: try others.
        if self.outranked(&a, &host) || self.outranked(&b, &host) {
            if let Some(better) = self.untaken_wildcard_host(&a, &b) {
                host = better;
            }
        }
        let (path, path_proven) = self.overlap(Dim::Path, a.path, b.path)?;
        Some(Witness {
            host: readable(&host),
            path: readable(&path),
            method,
            headers,
            query,
            proven: host_proven && path_proven,
        })
    }

    /// Whether another alternative of `alternative`'s route, with a
    /// greater key, matches `host` too (the path is the route's own).
    fn outranked(&mut self, alternative: &Alternative, host: &[u8]) -> bool {
        let layout = self.layout;
        let siblings = &self.by_route[alternative.route as usize];
        if siblings.len() < 2 {
            return false; // one name: nothing else of the route competes
        }
        let others: Vec<u32> = siblings
            .iter()
            .map(|&i| &layout.alternatives[i as usize])
            .filter(|o| o.key > alternative.key)
            .map(|o| o.host)
            .collect();
        others
            .into_iter()
            .any(|h| self.dfas.pattern(Dim::Host, h).accepts(host))
    }

    /// For two alternatives on one wildcard: a host under it that neither
    /// route matches better by another name.
    fn untaken_wildcard_host(&mut self, a: &Alternative, b: &Alternative) -> Option<Vec<u8>> {
        let HostPattern::Wildcard(suffix) = self.layout.host_patterns.get(a.host as usize)? else {
            return None;
        };
        let suffix = suffix.clone();
        (b'a'..=b'z')
            .map(|label| [&[label][..], suffix.as_bytes()].concat())
            .find(|host| !self.outranked(a, host) && !self.outranked(b, host))
    }

    /// A method, headers and query that satisfy both sets of conditions.
    #[allow(clippy::type_complexity)]
    fn conditions_overlap(
        &mut self,
        a: &Conditions,
        b: &Conditions,
    ) -> Option<(String, Vec<(String, String)>, Vec<(String, String)>)> {
        let method = match (a.methods.is_empty(), b.methods.is_empty()) {
            (true, true) => "GET".to_string(),
            (false, true) => a.methods[0].clone(),
            (true, false) => b.methods[0].clone(),
            (false, false) => a.methods.iter().find(|m| b.methods.contains(m))?.clone(),
        };
        let mut headers = Vec::new();
        let mut names: Vec<&String> = a.headers.iter().chain(&b.headers).map(|h| &h.name).collect();
        names.sort();
        names.dedup();
        for name in names {
            let tests: Vec<&ValueTest> = a
                .headers
                .iter()
                .chain(&b.headers)
                .filter(|h| &h.name == name)
                .map(|h| &h.test)
                .collect();
            headers.push((name.clone(), self.shared_value(&tests)?));
        }
        let mut query = Vec::new();
        let mut names: Vec<&String> = a.queries.iter().chain(&b.queries).map(|q| &q.name).collect();
        names.sort();
        names.dedup();
        for name in names {
            let values: Vec<&String> = a
                .queries
                .iter()
                .chain(&b.queries)
                .filter(|q| &q.name == name)
                .filter_map(|q| q.value.as_ref())
                .collect();
            let value = match values.first() {
                None => "1".to_string(),
                Some(first) if values.iter().all(|v| v == first) => (*first).clone(),
                Some(_) => return None,
            };
            query.push((name.clone(), value));
        }
        Some((method, headers, query))
    }

    /// A header value that passes every test, if there is one.
    fn shared_value(&mut self, tests: &[&ValueTest]) -> Option<String> {
        let exact: Vec<&String> = tests
            .iter()
            .filter_map(|t| match t {
                ValueTest::Exact(v) => Some(v),
                _ => None,
            })
            .collect();
        let regexes: Vec<u32> = tests
            .iter()
            .filter_map(|t| match t {
                ValueTest::Regex(id) => Some(*id),
                _ => None,
            })
            .collect();
        if let Some(first) = exact.first() {
            if exact.iter().any(|v| v != first) {
                return None;
            }
            for id in regexes {
                if !self.dfas.value(id).accepts(first.as_bytes()) {
                    return None;
                }
            }
            return Some((*first).clone());
        }
        match regexes.as_slice() {
            [] => Some("1".to_string()),
            [one] => self.dfas.value(*one).witness().map(|w| readable(&w)),
            // Two regex tests on one header across two routes; a third
            // cannot occur (one test per header name per route).
            [first, second, ..] => self.dfas.values2(*first, *second, false).found().map(|w| readable(&w)),
        }
    }

    fn report_ambiguity(&mut self, a: Alternative, b: Alternative, witness: &Witness) {
        let (first, second) = if a.route < b.route { (a, b) } else { (b, a) };
        let first_name = self.route_name(&first).to_string();
        let second_name = self.route_name(&second).to_string();
        let message = if witness.proven {
            format!(
                "routes `{first_name}` and `{second_name}` are ambiguous: both match {}",
                witness.describe()
            )
        } else {
            format!(
                "routes `{first_name}` and `{second_name}` may be ambiguous: their regexes are too large to prove that no request matches both (such a request would start like {})",
                witness.describe()
            )
        };
        self.diagnostics.push(
            Diagnostic::new(
                Code::AmbiguousRoutes,
                message,
                self.route_spans[second.route as usize],
                format!("`{second_name}` matches it"),
            )
            .with_label(self.route_spans[first.route as usize], format!("`{first_name}` matches it too"))
            .with_help(format!(
                "both have the same precedence ({}); give the one that should win a higher `priority`, or make their conditions disjoint",
                first.key
            )),
        );
    }

    // ------------------------------------------------------- reachability

    fn reachability(&mut self, hosts: Option<&DFA<Vec<u32>>>, paths: Option<&DFA<Vec<u32>>>) {
        // Buckets by pattern pair, for finding alternatives quickly.
        let mut by_pair: HashMap<(u32, u32), Vec<u32>> = HashMap::new();
        for bucket in &self.layout.buckets {
            by_pair.insert((bucket.host, bucket.path), bucket.alternatives.clone());
        }
        let by_route = std::mem::take(&mut self.by_route);
        for (route, alternatives) in by_route.iter().enumerate() {
            if self.unreachable.contains(&(route as u32)) {
                continue; // dead, already reported
            }
            let mut shadow: Option<u32> = None;
            let mut all_shadowed = !alternatives.is_empty();
            for &a in alternatives {
                match self.shadow_of(a, &by_pair, hosts, paths) {
                    Some(s) => {
                        shadow.get_or_insert(s);
                    }
                    None => {
                        all_shadowed = false;
                        break;
                    }
                }
            }
            if let (true, Some(shadow)) = (all_shadowed, shadow) {
                self.report_unreachable(route as u32, shadow);
            }
        }
        self.by_route = by_route;
    }

    /// An alternative of another route with a greater key that matches
    /// every request alternative `a` matches.
    fn shadow_of(
        &mut self,
        a: u32,
        by_pair: &HashMap<(u32, u32), Vec<u32>>,
        hosts: Option<&DFA<Vec<u32>>>,
        paths: Option<&DFA<Vec<u32>>>,
    ) -> Option<u32> {
        let alternative = self.layout.alternatives[a as usize].clone();
        // Patterns that match a's witness are the only candidates to
        // contain a; each is then decided exactly.
        let host_witness = self.witness_of(Dim::Host, alternative.host);
        let path_witness = self.witness_of(Dim::Path, alternative.path);
        let mut host_candidates = vec![ANY];
        host_candidates.extend(hosts.map(|d| full_matches(d, &host_witness, true)).unwrap_or_default());
        let mut path_candidates = vec![ANY];
        path_candidates.extend(paths.map(|d| full_matches(d, &path_witness, false)).unwrap_or_default());
        let host_containers: Vec<u32> = host_candidates
            .into_iter()
            .filter(|&h| self.contains(Dim::Host, h, alternative.host))
            .collect();
        let path_containers: Vec<u32> = path_candidates
            .into_iter()
            .filter(|&p| self.contains(Dim::Path, p, alternative.path))
            .collect();
        let inner = self.layout.conditions[alternative.route as usize].clone();
        let mut best: Option<(Key, u32)> = None;
        for &h in &host_containers {
            for &p in &path_containers {
                let Some(members) = by_pair.get(&(h, p)) else { continue };
                for &b in members {
                    let other = &self.layout.alternatives[b as usize];
                    if other.key <= alternative.key {
                        break; // sorted: the rest rank lower
                    }
                    if other.route == alternative.route {
                        continue;
                    }
                    let outer = self.layout.conditions[other.route as usize].clone();
                    if self.conditions_contain(&outer, &inner) && best.is_none_or(|(k, _)| other.key > k) {
                        best = Some((other.key, b));
                    }
                }
            }
        }
        best.map(|(_, b)| b)
    }

    /// Whether every request that satisfies `inner` satisfies `outer`.
    fn conditions_contain(&mut self, outer: &Conditions, inner: &Conditions) -> bool {
        if !outer.methods.is_empty()
            && (inner.methods.is_empty() || !inner.methods.iter().all(|m| outer.methods.contains(m)))
        {
            return false;
        }
        for test in &outer.headers {
            let Some(inner_test) = inner.headers.iter().find(|h| h.name == test.name) else {
                return false;
            };
            let implied = match (&test.test, &inner_test.test) {
                (ValueTest::Present, _) => true,
                (ValueTest::Exact(v), ValueTest::Exact(w)) => v == w,
                (ValueTest::Regex(r), ValueTest::Exact(w)) => self.dfas.value(*r).accepts(w.as_bytes()),
                (ValueTest::Regex(r), ValueTest::Regex(s)) => matches!(self.dfas.values2(*s, *r, true), Search::Empty),
                _ => false,
            };
            if !implied {
                return false;
            }
        }
        outer.queries.iter().all(|q| {
            inner
                .queries
                .iter()
                .any(|i| i.name == q.name && (q.value.is_none() || q.value == i.value))
        })
    }

    fn report_unreachable(&mut self, route: u32, shadow: u32) {
        self.unreachable.push(route);
        let shadow_alternative = self.layout.alternatives[shadow as usize].clone();
        let name = self.policy.routes[route as usize].name.clone();
        let shadow_name = self.route_name(&shadow_alternative).to_string();
        let key = self
            .layout
            .alternatives
            .iter()
            .find(|a| a.route == route)
            .map(|a| a.key)
            .expect("a route has an alternative");
        self.diagnostics.push(
            Diagnostic::new(
                Code::UnreachableRoute,
                format!("route `{name}` is unreachable: route `{shadow_name}` matches every request it matches"),
                self.route_spans[route as usize],
                "never wins",
            )
            .with_label(
                self.route_spans[shadow_alternative.route as usize],
                format!("`{shadow_name}` wins instead"),
            )
            .with_help(format!(
                "`{shadow_name}` takes precedence ({}) over `{name}` ({key}); give `{name}` a higher `priority` or narrow `{shadow_name}`",
                shadow_alternative.key
            )),
        );
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
