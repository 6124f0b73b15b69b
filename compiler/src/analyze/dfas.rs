//! The automata of one policy's patterns, built as the analysis asks for
//! them: each host, path and header-value pattern as a single-pattern DFA,
//! and the languages of normalized hosts and paths that confine searches.

use std::collections::HashMap;
use std::sync::LazyLock;

use zbin::ids::PatternId;
use zbin::table::ANY;

use crate::build::layout::Layout;

use super::automata::{difference, intersection, PatternDfa, Search};
use super::{Dim, ANYTHING};

/// Single-pattern automata, built on first use, and the languages of
/// normalized hosts and paths every question is confined to.
pub(super) struct Dfas<'l> {
    layout: &'l Layout,
    hosts: HashMap<PatternId, PatternDfa>,
    paths: HashMap<PatternId, PatternDfa>,
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
    pub(super) fn new(layout: &'l Layout) -> Self {
        Dfas {
            layout,
            hosts: HashMap::new(),
            paths: HashMap::new(),
            values: HashMap::new(),
        }
    }

    /// Builds the automaton of pattern `id` if it is not built yet.
    pub(super) fn ensure(&mut self, dim: Dim, id: PatternId) {
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
                Dim::Host => layout.host_patterns[id.index()].regex(),
                Dim::Path => layout.path_patterns[id.index()].regex(),
            };
            PatternDfa::new(&regex).expect("checked pattern")
        });
    }

    /// The automaton of pattern `id`, once `ensure`d.
    pub(super) fn get(&self, dim: Dim, id: PatternId) -> &PatternDfa {
        let map = match dim {
            Dim::Host => &self.hosts,
            Dim::Path => &self.paths,
        };
        map.get(&id).unwrap_or(&ANYTHING_DFA)
    }

    pub(super) fn pattern(&mut self, dim: Dim, id: PatternId) -> &PatternDfa {
        self.ensure(dim, id);
        self.get(dim, id)
    }

    pub(super) fn domain(&self, dim: Dim) -> &'static PatternDfa {
        match dim {
            Dim::Host => &HOST_DOMAIN,
            Dim::Path => &PATH_DOMAIN,
        }
    }

    /// A shortest host or path of a request that pattern `id` matches.
    pub(super) fn witness(&mut self, dim: Dim, id: PatternId) -> Option<Vec<u8>> {
        self.ensure(dim, id);
        self.get(dim, id).witness_within(Some(self.domain(dim)))
    }

    pub(super) fn value(&mut self, id: u32) -> &PatternDfa {
        let layout = self.layout;
        self.values
            .entry(id)
            .or_insert_with(|| PatternDfa::new(&layout.value_regexes[id as usize]).expect("checked pattern"))
    }

    /// A request host or path that both patterns match (or, with
    /// `containment`, that `a` matches and `b` does not).
    pub(super) fn search2(&mut self, dim: Dim, a: PatternId, b: PatternId, containment: bool) -> Search {
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
    pub(super) fn values2(&mut self, a: u32, b: u32, containment: bool) -> Search {
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
