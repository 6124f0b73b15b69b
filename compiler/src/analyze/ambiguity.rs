//! Ambiguity: alternatives of different routes with equal keys that one
//! request matches. Only equal keys can be ambiguous, and within a key only
//! alternatives with the same literal patterns, or regexes, can overlap;
//! conditions on headers, query parameters and methods split the rest.

use std::collections::HashMap;

use zbin::ids::{PatternId, RouteId};
use zbin::table::{Alternative, Conditions, Key, ValueTest, ANY};

use crate::build::layout::{self, HostPattern};

use super::{readable, Analysis, Dim, Finding, Witness};

impl Analysis<'_> {
    pub(super) fn ambiguity(&mut self) {
        // Only equal keys can be ambiguous; within a key, only alternatives
        // with the same literal patterns, or regexes, can overlap.
        let mut groups: HashMap<(Key, PatternId, PatternId), Vec<u32>> = HashMap::new();
        for (i, alternative) in self.layout.alternatives.iter().enumerate() {
            let host = if self.is_regex(Dim::Host, alternative.host) {
                PatternId(ANY.0 - 1)
            } else {
                alternative.host
            };
            let path = if self.is_regex(Dim::Path, alternative.path) {
                PatternId(ANY.0 - 1)
            } else {
                alternative.path
            };
            groups.entry((alternative.key, host, path)).or_default().push(i as u32);
        }
        let mut groups: Vec<Vec<u32>> = groups.into_values().filter(|g| g.len() > 1).collect();
        groups.sort();
        let mut reported: std::collections::HashSet<(RouteId, RouteId)> = std::collections::HashSet::new();
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
                    let (first, second) = if alt_a.route < alt_b.route {
                        (alt_a.clone(), alt_b.clone())
                    } else {
                        (alt_b.clone(), alt_a.clone())
                    };
                    self.findings.push(Finding::Ambiguous { first, second, witness });
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
        let (conditions_a, conditions_b) = (&layout.conditions[a.route.index()], &layout.conditions[b.route.index()]);
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
        let siblings = &self.by_route[alternative.route.index()];
        if siblings.len() < 2 {
            return false; // one name: nothing else of the route competes
        }
        let others: Vec<PatternId> = siblings
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
        let HostPattern::Wildcard(suffix) = self.layout.host_patterns.get(a.host.index())? else {
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
}
