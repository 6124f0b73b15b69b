//! Reachability: routes that can never win. A host or path regex that no
//! normalized request matches makes its route dead; a route every
//! alternative of which a single alternative of a greater key always beats
//! is shadowed.

use std::collections::HashMap;

use regex_automata::dfa::dense::DFA;
use zbin::ids::{PatternId, RouteId};
use zbin::table::{Conditions, Key, ValueTest, ANY};

use super::automata::Search;
use super::{full_matches, Analysis, Dim, Finding};

impl Analysis<'_> {
    /// Routes whose host or path regex no normalized request matches.
    pub(super) fn dead_routes(&mut self) {
        for (route, model) in self.policy.routes.iter().enumerate() {
            let Some(alternative) = self
                .layout
                .alternatives
                .iter()
                .find(|a| a.route == RouteId::new(route))
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
            self.unreachable.push(RouteId::new(route));
            self.findings.push(Finding::Dead {
                route: RouteId::new(route),
                dim,
                regex: written,
            });
        }
    }
}

impl Analysis<'_> {
    pub(super) fn reachability(&mut self, hosts: Option<&DFA<Vec<u32>>>, paths: Option<&DFA<Vec<u32>>>) {
        // Buckets by pattern pair, for finding alternatives quickly.
        let mut by_pair: HashMap<(PatternId, PatternId), Vec<u32>> = HashMap::new();
        for bucket in &self.layout.buckets {
            by_pair.insert((bucket.host, bucket.path), bucket.alternatives.clone());
        }
        let by_route = std::mem::take(&mut self.by_route);
        for (route, alternatives) in by_route.iter().enumerate() {
            if self.unreachable.contains(&(RouteId::new(route))) {
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
                self.shadowed(RouteId::new(route), shadow);
            }
        }
        self.by_route = by_route;
    }

    /// An alternative of another route with a greater key that matches
    /// every request alternative `a` matches.
    fn shadow_of(
        &mut self,
        a: u32,
        by_pair: &HashMap<(PatternId, PatternId), Vec<u32>>,
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
        let host_containers: Vec<PatternId> = host_candidates
            .into_iter()
            .filter(|&h| self.contains(Dim::Host, h, alternative.host))
            .collect();
        let path_containers: Vec<PatternId> = path_candidates
            .into_iter()
            .filter(|&p| self.contains(Dim::Path, p, alternative.path))
            .collect();
        let inner = self.layout.conditions[alternative.route.index()].clone();
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
                    let outer = self.layout.conditions[other.route.index()].clone();
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

    fn shadowed(&mut self, route: RouteId, shadow: u32) {
        self.unreachable.push(route);
        let key = self
            .layout
            .alternatives
            .iter()
            .find(|a| a.route == route)
            .map(|a| a.key)
            .expect("a route has an alternative");
        self.findings.push(Finding::Shadowed {
            route,
            key,
            by: self.layout.alternatives[shadow as usize].clone(),
        });
    }
}
