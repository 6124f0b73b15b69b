//! The route table: what the compiler decided about routes, stored beside
//! the automata. Routes are expanded into alternatives (one per host name
//! of a `host` line), each with its precedence key; alternatives are
//! grouped into buckets by the (host pattern, path pattern) pair they
//! need, sorted by key, so a lookup only visits the buckets of the
//! patterns the automata matched.

use std::cmp::Ordering;

use bincode::{Decode, Encode};

use crate::ids::{PatternId, RouteId};
use crate::model;

/// A pattern id meaning "no condition": matches every host or path.
pub const ANY: PatternId = PatternId::ANY;

/// The class of a host or path condition, in precedence order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub enum Class {
    None = 0,
    Regex = 1,
    /// A `*.` wildcard (hosts) or a prefix (paths); ranked by length.
    Partial = 2,
    Exact = 3,
}

impl Class {
    pub fn host_word(self) -> &'static str {
        match self {
            Class::None => "any host",
            Class::Regex => "host regex",
            Class::Partial => "wildcard host",
            Class::Exact => "exact host",
        }
    }

    pub fn path_word(self) -> &'static str {
        match self {
            Class::None => "any path",
            Class::Regex => "path regex",
            Class::Partial => "path prefix",
            Class::Exact => "exact path",
        }
    }
}

/// The precedence key of LANGUAGE.md §4.3, compared field by field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Encode, Decode)]
pub struct Key {
    pub priority: u32,
    pub host_class: Class,
    /// Suffix length of a wildcard; 0 otherwise.
    pub host_len: u32,
    pub path_class: Class,
    /// Length of a prefix; 0 otherwise.
    pub path_len: u32,
    /// How many `method`, `header` and `query` conditions.
    pub conditions: u32,
}

impl Key {
    fn tuple(&self) -> (u32, Class, u32, Class, u32, u32) {
        (
            self.priority,
            self.host_class,
            self.host_len,
            self.path_class,
            self.path_len,
            self.conditions,
        )
    }

    /// The key as numbers, for JSON: `[priority, host class, host length,
    /// path class, path length, conditions]` with classes 3 exact, 2
    /// wildcard or prefix, 1 regex, 0 none.
    pub fn as_array(&self) -> [u32; 6] {
        [
            self.priority,
            self.host_class as u32,
            self.host_len,
            self.path_class as u32,
            self.path_len,
            self.conditions,
        ]
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Self) -> Ordering {
        self.tuple().cmp(&other.tuple())
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "priority {}, {}", self.priority, self.host_class.host_word())?;
        if self.host_class == Class::Partial {
            write!(f, " ({} chars)", self.host_len)?;
        }
        write!(f, ", {}", self.path_class.path_word())?;
        if self.path_class == Class::Partial {
            write!(f, " ({} chars)", self.path_len)?;
        }
        write!(
            f,
            ", {} condition{}",
            self.conditions,
            if self.conditions == 1 { "" } else { "s" }
        )
    }
}

/// One way a route can match: a route with `host "a" "*.b"` has two.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Alternative {
    pub route: RouteId,
    /// Host pattern id in the host automaton, or `ANY`.
    pub host: PatternId,
    /// Path pattern id in the path automaton, or `ANY`.
    pub path: PatternId,
    pub key: Key,
}

/// The alternatives that need one (host pattern, path pattern) pair,
/// greatest key first.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Bucket {
    pub host: PatternId,
    pub path: PatternId,
    pub alternatives: Vec<u32>,
    /// Indexed runs of `alternatives`, in order and apart.
    pub runs: Vec<Run>,
}

/// A run of a bucket's alternatives with equal keys, most of which want an
/// exact value of one `on`: a lookup reads that value once and tests only
/// the alternatives that want it, and those that want none (`rest`),
/// instead of the whole run. The analysis proves that no request matches
/// two routes of a run, so which of them is tested first never matters.
/// (1,000 tenants told apart by one header cost a lookup one search.)
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Run {
    /// Positions in the bucket's `alternatives`: `start..start + len`.
    pub start: u32,
    pub len: u32,
    pub on: Discriminator,
    /// Each wanted value with the positions that want it, sorted by value.
    pub values: Vec<(String, Vec<u32>)>,
    /// Positions with no exact test on `on`.
    pub rest: Vec<u32>,
}

/// What a run is indexed by.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub enum Discriminator {
    /// A header's value (lowercase name).
    Header(String),
    /// A query parameter's value.
    Query(String),
    Method,
}

/// Runs shorter than this are tested one by one: an index would not pay.
pub const RUN_INDEX_MIN: usize = 8;

/// The conditions checked after the automata: method, headers, query.
#[derive(Debug, Clone, PartialEq, Eq, Default, Encode, Decode)]
pub struct Conditions {
    /// Empty: any method.
    pub methods: Vec<String>,
    pub headers: Vec<HeaderTest>,
    pub queries: Vec<model::QueryMatch>,
}

#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct HeaderTest {
    /// Lowercase.
    pub name: String,
    pub test: ValueTest,
}

#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub enum ValueTest {
    Present,
    Exact(String),
    /// Index of an anchored DFA in the value-automata section.
    Regex(u32),
}

/// Where one automaton lies inside the value-automata section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub struct Slice {
    pub offset: u64,
    pub len: u64,
}

/// A source file that went into the artifact.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct SourceInfo {
    pub name: String,
    pub bytes: u64,
}

/// Everything in the metadata section.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Meta {
    pub policy: model::Policy,
    pub sources: Vec<SourceInfo>,
    /// By route index.
    pub conditions: Vec<Conditions>,
    pub alternatives: Vec<Alternative>,
    /// Sorted by (host, path), each pair once.
    pub buckets: Vec<Bucket>,
    pub host_patterns: u32,
    pub path_patterns: u32,
    pub value_automata: Vec<Slice>,
}
