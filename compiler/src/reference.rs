//! The reference matcher: a plain linear scan over the routes in
//! precedence order, the way most proxies match, built straight from the
//! route list (its own key computation, a general regex engine, string
//! comparisons). Property tests hold the automaton to it, and benchmarks
//! measure against it.

use regex_automata::meta::Regex;
use zbin::ids::RouteId;
use zbin::matcher::{query_value, HeaderSource, Request};
use zbin::model::{HostMatch, HostName, PathMatch, Policy, ValueMatch};
use zbin::table::{Class, Key};

enum HostTest {
    Any,
    Exact(String),
    Wildcard(String),
    Regex(Regex),
}

enum PathTest {
    Any,
    Exact(String),
    Prefix(String),
    Regex(Regex),
}

enum HeaderValue {
    Present,
    Exact(String),
    Regex(Regex),
}

struct Entry {
    route: RouteId,
    key: Key,
    host: HostTest,
    path: PathTest,
    methods: Vec<String>,
    headers: Vec<(String, HeaderValue)>,
    queries: Vec<(String, Option<String>)>,
}

/// Routes in precedence order, matched one after the other.
pub struct ReferenceMatcher {
    entries: Vec<Entry>,
}

fn full_regex(pattern: &str) -> Regex {
    Regex::builder()
        .syntax(zbin::regex_syntax_config())
        .build(&format!("^(?:{pattern})$"))
        .expect("the checker compiled every regex")
}

impl ReferenceMatcher {
    pub fn new(policy: &Policy) -> Self {
        let mut entries = Vec::new();
        for (index, route) in policy.routes.iter().enumerate() {
            let (path, path_class, path_len) = match &route.path {
                PathMatch::Any => (PathTest::Any, Class::None, 0),
                PathMatch::Exact(p) => (PathTest::Exact(p.clone()), Class::Exact, 0),
                PathMatch::Prefix(p) => (PathTest::Prefix(p.clone()), Class::Partial, p.len() as u32),
                PathMatch::Regex(r) => (PathTest::Regex(full_regex(r)), Class::Regex, 0),
            };
            let hosts: Vec<(HostTest, Class, u32)> = match &route.host {
                HostMatch::Any => vec![(HostTest::Any, Class::None, 0)],
                HostMatch::Regex(r) => vec![(HostTest::Regex(full_regex(r)), Class::Regex, 0)],
                HostMatch::Names(names) => names
                    .iter()
                    .map(|n| match n {
                        HostName::Exact(name) => (HostTest::Exact(name.clone()), Class::Exact, 0),
                        HostName::Wildcard(suffix) => {
                            (HostTest::Wildcard(suffix.clone()), Class::Partial, suffix.len() as u32)
                        }
                    })
                    .collect(),
            };
            let conditions = u32::from(!route.methods.is_empty()) + (route.headers.len() + route.queries.len()) as u32;
            let mut path = Some(path);
            let count = hosts.len();
            for (i, (host, host_class, host_len)) in hosts.into_iter().enumerate() {
                let path = if i + 1 == count {
                    path.take().expect("taken once")
                } else {
                    match &route.path {
                        PathMatch::Any => PathTest::Any,
                        PathMatch::Exact(p) => PathTest::Exact(p.clone()),
                        PathMatch::Prefix(p) => PathTest::Prefix(p.clone()),
                        PathMatch::Regex(r) => PathTest::Regex(full_regex(r)),
                    }
                };
                entries.push(Entry {
                    route: RouteId::new(index),
                    key: Key {
                        priority: route.priority,
                        host_class,
                        host_len,
                        path_class,
                        path_len,
                        conditions,
                    },
                    host,
                    path,
                    methods: route.methods.clone(),
                    headers: route
                        .headers
                        .iter()
                        .map(|h| {
                            let value = match &h.value {
                                ValueMatch::Present => HeaderValue::Present,
                                ValueMatch::Exact(v) => HeaderValue::Exact(v.clone()),
                                ValueMatch::Regex(r) => HeaderValue::Regex(full_regex(r)),
                            };
                            (h.name.clone(), value)
                        })
                        .collect(),
                    queries: route
                        .queries
                        .iter()
                        .map(|q| (q.name.clone(), q.value.clone()))
                        .collect(),
                });
            }
        }
        // Greatest key first; a stable sort keeps declaration order among
        // equals, which the analysis proves never matters.
        entries.sort_by_key(|e| std::cmp::Reverse(e.key));
        ReferenceMatcher { entries }
    }

    /// The winning route and its key: the first entry that matches.
    pub fn lookup(&self, request: &Request<'_>) -> Option<(RouteId, Key)> {
        self.entries
            .iter()
            .find(|e| matches(e, request))
            .map(|e| (e.route, e.key))
    }

    /// Every route that matches with the greatest key (more than one only
    /// in a policy the analysis would reject as ambiguous).
    pub fn winners(&self, request: &Request<'_>) -> Option<(Key, Vec<RouteId>)> {
        let mut found = self.entries.iter().filter(|e| matches(e, request));
        let first = found.next()?;
        let mut routes = vec![first.route];
        for entry in found.take_while(|e| e.key == first.key) {
            if !routes.contains(&entry.route) {
                routes.push(entry.route);
            }
        }
        Some((first.key, routes))
    }

    /// Every route that matches, with its greatest matching key, greatest
    /// first.
    pub fn matching(&self, request: &Request<'_>) -> Vec<(RouteId, Key)> {
        let mut out: Vec<(RouteId, Key)> = Vec::new();
        for entry in self.entries.iter().filter(|e| matches(e, request)) {
            if !out.iter().any(|(route, _)| *route == entry.route) {
                out.push((entry.route, entry.key));
            }
        }
        out
    }
}

fn matches(entry: &Entry, request: &Request<'_>) -> bool {
    let host = request.host;
    let host_ok = match &entry.host {
        HostTest::Any => true,
        HostTest::Exact(name) => host == name,
        HostTest::Wildcard(suffix) => {
            host.len() > suffix.len() && host.ends_with(suffix.as_str()) && {
                let rest = &host[..host.len() - suffix.len()];
                rest.split('.').all(|label| !label.is_empty())
            }
        }
        HostTest::Regex(regex) => regex.is_match(host),
    };
    if !host_ok {
        return false;
    }
    let path = request.path;
    let path_ok = match &entry.path {
        PathTest::Any => true,
        PathTest::Exact(p) => path == p,
        PathTest::Prefix(p) if p.ends_with('/') => path.starts_with(p.as_str()),
        PathTest::Prefix(p) => {
            path == p || (path.starts_with(p.as_str()) && path.as_bytes().get(p.len()) == Some(&b'/'))
        }
        PathTest::Regex(regex) => regex.is_match(path),
    };
    if !path_ok {
        return false;
    }
    if !entry.methods.is_empty() && !entry.methods.iter().any(|m| m == request.method) {
        return false;
    }
    for (name, value) in &entry.headers {
        let headers: &dyn HeaderSource = request.headers;
        let ok = headers.value(name).is_some_and(|x| match value {
            HeaderValue::Present => true,
            HeaderValue::Exact(v) => *x == *v.as_bytes(),
            HeaderValue::Regex(regex) => regex.is_match(&x),
        });
        if !ok {
            return false;
        }
    }
    entry.queries.iter().all(|(name, value)| {
        request
            .query
            .and_then(|q| query_value(q, name))
            .is_some_and(|v| value.as_ref().is_none_or(|value| *value == v))
    })
}
