//! From checked routes to the route table: distinct host and path
//! patterns (each becomes one pattern of its automaton), one alternative
//! per host name of a route, its precedence key, and the conditions left
//! for after the automata.

use std::collections::HashMap;

use zbin::ids::{PatternId, RouteId};
use zbin::model::{self, HostMatch, HostName, PathMatch, Route};
use zbin::table::{
    Alternative, Bucket, Class, Conditions, Discriminator, HeaderTest, Key, Run, ValueTest, ANY, RUN_INDEX_MIN,
};

/// A checked regex, ready to be wrapped in a larger pattern.
fn embeddable(regex: &str) -> String {
    // Every regex was parsed by the checker with this same syntax, so this
    // cannot fail; were it to, the regex as written is the best we have.
    zbin::embeddable_regex(regex).unwrap_or_else(|_| regex.to_string())
}

/// A host condition as one automaton pattern.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HostPattern {
    Exact(String),
    /// The suffix with its leading dot: `.example.org`.
    Wildcard(String),
    Regex(String),
}

/// A path condition as one automaton pattern.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PathPattern {
    Exact(String),
    Prefix(String),
    Regex(String),
}

impl HostPattern {
    /// The pattern as a regex over normalized hosts, matched whole.
    pub fn regex(&self) -> String {
        match self {
            HostPattern::Exact(name) => regex_syntax::escape(name),
            // At least one more label, each non-empty.
            HostPattern::Wildcard(suffix) => format!("[^.]+(?:\\.[^.]+)*{}", regex_syntax::escape(suffix)),
            HostPattern::Regex(regex) => format!("(?:{})", embeddable(regex)),
        }
    }

    pub fn class(&self) -> (Class, u32) {
        match self {
            HostPattern::Exact(_) => (Class::Exact, 0),
            HostPattern::Wildcard(suffix) => (Class::Partial, suffix.len() as u32),
            HostPattern::Regex(_) => (Class::Regex, 0),
        }
    }

    /// How a user wrote it.
    pub fn describe(&self) -> String {
        match self {
            HostPattern::Exact(name) => format!("host `{name}`"),
            HostPattern::Wildcard(suffix) => format!("host `*{suffix}`"),
            HostPattern::Regex(regex) => format!("host regex `{regex}`"),
        }
    }
}

impl PathPattern {
    /// The pattern as a regex over normalized paths, matched whole;
    /// prefixes are segment-aware.
    pub fn regex(&self) -> String {
        match self {
            PathPattern::Exact(path) => regex_syntax::escape(path),
            PathPattern::Prefix(prefix) if prefix.ends_with('/') => {
                format!("{}(?s:.)*", regex_syntax::escape(prefix))
            }
            PathPattern::Prefix(prefix) => format!("{}(?:/(?s:.)*)?", regex_syntax::escape(prefix)),
            PathPattern::Regex(regex) => format!("(?:{})", embeddable(regex)),
        }
    }

    pub fn class(&self) -> (Class, u32) {
        match self {
            PathPattern::Exact(_) => (Class::Exact, 0),
            PathPattern::Prefix(prefix) => (Class::Partial, prefix.len() as u32),
            PathPattern::Regex(_) => (Class::Regex, 0),
        }
    }
}

/// The route table of a policy, before it is written.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    pub host_patterns: Vec<HostPattern>,
    pub path_patterns: Vec<PathPattern>,
    pub alternatives: Vec<Alternative>,
    /// By route index.
    pub conditions: Vec<Conditions>,
    pub buckets: Vec<Bucket>,
    /// Header-value regexes, by `ValueTest::Regex` id.
    pub value_regexes: Vec<String>,
}

/// Interns patterns: equal patterns share one id.
struct Interner<T> {
    ids: HashMap<T, u32>,
    items: Vec<T>,
}

impl<T: Clone + Eq + std::hash::Hash> Interner<T> {
    fn new() -> Self {
        Interner {
            ids: HashMap::new(),
            items: Vec::new(),
        }
    }

    fn id(&mut self, item: T) -> u32 {
        if let Some(&id) = self.ids.get(&item) {
            return id;
        }
        let id = self.items.len() as u32;
        self.items.push(item.clone());
        self.ids.insert(item, id);
        id
    }
}

/// The distinct patterns of the routes laid out so far, each with its id:
/// host and path patterns for the automata, header-value regexes for the
/// conditions checked after them.
struct Patterns {
    hosts: Interner<HostPattern>,
    paths: Interner<PathPattern>,
    values: Interner<String>,
}

impl Patterns {
    /// One alternative per host pattern of `route` (one for any host),
    /// each with the route's path and its precedence key.
    fn alternatives(&mut self, id: RouteId, route: &Route) -> Vec<Alternative> {
        let condition_count =
            u32::from(!route.methods.is_empty()) + route.headers.len() as u32 + route.queries.len() as u32;
        let (path, (path_class, path_len)) = self.path(&route.path);
        let mut alternatives = Vec::new();
        for host_pattern in host_patterns(&route.host) {
            let (host, (host_class, host_len)) = match host_pattern {
                None => (ANY, (Class::None, 0)),
                Some(pattern) => {
                    let class = pattern.class();
                    (PatternId(self.hosts.id(pattern)), class)
                }
            };
            alternatives.push(Alternative {
                route: id,
                host,
                path,
                key: Key {
                    priority: route.priority,
                    host_class,
                    host_len,
                    path_class,
                    path_len,
                    conditions: condition_count,
                },
            });
        }
        alternatives
    }

    /// The id and class of a route's path pattern; `ANY` for any path.
    fn path(&mut self, path: &PathMatch) -> (PatternId, (Class, u32)) {
        let pattern = match path {
            PathMatch::Any => return (ANY, (Class::None, 0)),
            PathMatch::Exact(p) => PathPattern::Exact(p.clone()),
            PathMatch::Prefix(p) => PathPattern::Prefix(p.clone()),
            PathMatch::Regex(r) => PathPattern::Regex(r.clone()),
        };
        let class = pattern.class();
        (PatternId(self.paths.id(pattern)), class)
    }
}

/// A route's host patterns, one per name; `None` for any host.
fn host_patterns(host: &HostMatch) -> Vec<Option<HostPattern>> {
    match host {
        HostMatch::Any => vec![None],
        HostMatch::Regex(r) => vec![Some(HostPattern::Regex(r.clone()))],
        HostMatch::Names(names) => names
            .iter()
            .map(|name| {
                Some(match name {
                    HostName::Exact(n) => HostPattern::Exact(n.clone()),
                    HostName::Wildcard(s) => HostPattern::Wildcard(s.clone()),
                })
            })
            .collect(),
    }
}

/// The route table of a checked policy: its patterns, one alternative per
/// host name of each route, and the alternatives in buckets.
pub fn layout(policy: &model::Policy) -> Layout {
    let mut patterns = Patterns {
        hosts: Interner::new(),
        paths: Interner::new(),
        values: Interner::new(),
    };
    let mut alternatives = Vec::new();
    let mut conditions = Vec::with_capacity(policy.routes.len());
    for (index, route) in policy.routes.iter().enumerate() {
        let route_conditions = route_conditions(route, &mut patterns.values);
        alternatives.extend(patterns.alternatives(RouteId::new(index), route));
        conditions.push(route_conditions);
    }
    let buckets = buckets(&alternatives, &conditions);
    Layout {
        host_patterns: patterns.hosts.items,
        path_patterns: patterns.paths.items,
        alternatives,
        conditions,
        buckets,
        value_regexes: patterns.values.items,
    }
}

/// The alternatives grouped in buckets by (host, path), greatest key
/// first; ties keep declaration order (the analysis proves tied
/// alternatives never both match).
fn buckets(alternatives: &[Alternative], conditions: &[Conditions]) -> Vec<Bucket> {
    let mut by_pair: HashMap<(PatternId, PatternId), Vec<u32>> = HashMap::new();
    for (i, alternative) in alternatives.iter().enumerate() {
        by_pair
            .entry((alternative.host, alternative.path))
            .or_default()
            .push(i as u32);
    }
    let mut buckets: Vec<Bucket> = by_pair
        .into_iter()
        .map(|((host, path), mut members)| {
            members.sort_by(|&a, &b| {
                alternatives[b as usize]
                    .key
                    .cmp(&alternatives[a as usize].key)
                    .then(a.cmp(&b))
            });
            Bucket {
                host,
                path,
                runs: index_runs(&members, alternatives, conditions),
                alternatives: members,
            }
        })
        .collect();
    buckets.sort_by_key(|b| (b.host, b.path));
    buckets
}

/// The exact values alternative conditions `c` want of `on` (several for a
/// `method` line); empty when it wants none.
fn wanted<'c>(c: &'c Conditions, on: &Discriminator) -> Vec<&'c str> {
    match on {
        Discriminator::Header(name) => c
            .headers
            .iter()
            .filter(|h| &h.name == name)
            .filter_map(|h| match &h.test {
                ValueTest::Exact(v) => Some(v.as_str()),
                _ => None,
            })
            .collect(),
        Discriminator::Query(name) => c
            .queries
            .iter()
            .filter(|q| &q.name == name)
            .filter_map(|q| q.value.as_deref())
            .collect(),
        Discriminator::Method => c.methods.iter().map(String::as_str).collect(),
    }
}

/// How a set of alternatives splits by one discriminator: the values
/// they want, each with the indices (into the set) of those that want it,
/// and the indices of those that want none.
pub struct Split {
    pub on: Discriminator,
    pub values: std::collections::BTreeMap<String, Vec<usize>>,
    pub rest: Vec<usize>,
}

/// Splits `set` by the discriminator most of its alternatives test
/// exactly, when at least `min` do. Two alternatives in different value
/// groups never match one request (one value per header, per query
/// parameter, one method), which both the index of a run and the
/// ambiguity analysis rely on.
pub fn split_by_discriminator(
    set: &[u32],
    alternatives: &[Alternative],
    conditions: &[Conditions],
    min: usize,
) -> Option<Split> {
    let conditions_of = |a: u32| &conditions[alternatives[a as usize].route.index()];
    // Every discriminator some alternative tests, and how many test it;
    // the most tested wins (ties go to the first in a fixed order).
    let mut counts: Vec<(Discriminator, usize)> = Vec::new();
    for &a in set {
        let c = conditions_of(a);
        let tested = c
            .headers
            .iter()
            .filter(|h| matches!(h.test, ValueTest::Exact(_)))
            .map(|h| Discriminator::Header(h.name.clone()))
            .chain(
                c.queries
                    .iter()
                    .filter(|q| q.value.is_some())
                    .map(|q| Discriminator::Query(q.name.clone())),
            )
            .chain((!c.methods.is_empty()).then_some(Discriminator::Method));
        for on in tested {
            match counts.iter_mut().find(|(d, _)| *d == on) {
                Some((_, n)) => *n += 1,
                None => counts.push((on, 1)),
            }
        }
    }
    counts.sort_by(|a, b| {
        b.1.cmp(&a.1)
            .then_with(|| format!("{:?}", a.0).cmp(&format!("{:?}", b.0)))
    });
    let (on, _) = counts.into_iter().next().filter(|(_, n)| *n >= min)?;
    let mut values: std::collections::BTreeMap<String, Vec<usize>> = std::collections::BTreeMap::new();
    let mut rest = Vec::new();
    for (index, &a) in set.iter().enumerate() {
        let wants = wanted(conditions_of(a), &on);
        if wants.is_empty() {
            rest.push(index);
        }
        for value in wants {
            values.entry(value.to_string()).or_default().push(index);
        }
    }
    Some(Split { on, values, rest })
}

/// Indexes the long runs of equal keys in a bucket's `members` (sorted,
/// greatest key first) by the discriminator most of the run tests.
fn index_runs(members: &[u32], alternatives: &[Alternative], conditions: &[Conditions]) -> Vec<Run> {
    let mut runs = Vec::new();
    let mut start = 0;
    while start < members.len() {
        let key = alternatives[members[start] as usize].key;
        let len = members[start..]
            .iter()
            .take_while(|&&a| alternatives[a as usize].key == key)
            .count();
        let run = &members[start..start + len];
        if let Some(split) = (len >= RUN_INDEX_MIN)
            .then(|| split_by_discriminator(run, alternatives, conditions, RUN_INDEX_MIN))
            .flatten()
        {
            let position = |index: usize| (start + index) as u32;
            runs.push(Run {
                start: start as u32,
                len: len as u32,
                on: split.on,
                values: split
                    .values
                    .into_iter()
                    .map(|(value, indices)| (value, indices.into_iter().map(position).collect()))
                    .collect(),
                rest: split.rest.into_iter().map(position).collect(),
            });
        }
        start += len;
    }
    runs
}

fn route_conditions(route: &Route, values: &mut Interner<String>) -> Conditions {
    Conditions {
        methods: route.methods.clone(),
        headers: route
            .headers
            .iter()
            .map(|h| HeaderTest {
                name: h.name.clone(),
                test: match &h.value {
                    model::ValueMatch::Present => ValueTest::Present,
                    model::ValueMatch::Exact(v) => ValueTest::Exact(v.clone()),
                    model::ValueMatch::Regex(r) => ValueTest::Regex(values.id(r.clone())),
                },
            })
            .collect(),
        queries: route.queries.clone(),
    }
}
