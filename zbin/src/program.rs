//! A loaded, verified artifact. `Program::from_bytes` never panics for any
//! input: the header and checksum are checked, the metadata is decoded
//! under a size limit, the automata are loaded in place with
//! regex-automata's validating `from_bytes` (no copy, no recompilation),
//! and every index the metadata holds is checked before it can be used.

use std::collections::HashMap;

use regex_automata::dfa::dense::DFA;
use regex_automata::dfa::Automaton as _;
use regex_automata::util::primitives::StateID;
use regex_automata::util::start;
use regex_automata::Anchored;

use crate::codec;
use crate::error::ArtifactError;
use crate::format::{self, Header, SectionKind};
use crate::ids::{PatternId, RouteId};
use crate::model::{self, Action, PathMatch, Rewrite, TemplatePart, TemplateVar};
use crate::table::{Meta, ValueTest, ANY};

/// A DFA loaded in place, with its anchored start state.
#[derive(Debug, Clone)]
pub struct Automaton<'a> {
    pub(crate) dfa: DFA<&'a [u32]>,
    pub(crate) start: StateID,
}

impl<'a> Automaton<'a> {
    fn load(bytes: &'a [u8], which: &'static str) -> Result<Self, ArtifactError> {
        let (dfa, _) = DFA::from_bytes(bytes).map_err(|e| ArtifactError::automaton(which, e.to_string()))?;
        let start = dfa
            .start_state(&start::Config::new().anchored(Anchored::Yes))
            .map_err(|e| ArtifactError::automaton(which, e.to_string()))?;
        Ok(Automaton { dfa, start })
    }

    /// Runs the automaton over all of `input` and calls `found` with the
    /// id of every pattern that matches the whole input.
    #[inline]
    pub fn full_matches(&self, input: &[u8], mut found: impl FnMut(PatternId)) {
        if let Some(state) = self.final_state(input.iter().copied()) {
            self.patterns(state).for_each(&mut found);
        }
    }

    /// As `full_matches`, reading `input` from its last byte to its first
    /// (the host automaton is compiled over reversed hosts).
    #[inline]
    pub fn full_matches_reversed(&self, input: &[u8], mut found: impl FnMut(PatternId)) {
        if let Some(state) = self.final_state(input.iter().rev().copied()) {
            self.patterns(state).for_each(&mut found);
        }
    }

    /// The match state after all of `input` and the end of input, if some
    /// pattern matches the whole input.
    #[inline]
    pub(crate) fn final_state(&self, input: impl Iterator<Item = u8>) -> Option<StateID> {
        let dfa = &self.dfa;
        let mut state = self.start;
        for byte in input {
            // SAFETY: `state` is valid: it is the start state `start_state`
            // returned, or a state `next_state_unchecked` returned for a
            // valid state, which regex-automata guarantees valid for every
            // input. The DFA itself was validated by `DFA::from_bytes`.
            state = unsafe { dfa.next_state_unchecked(state, byte) };
        }
        // Dead and quit states only lead to themselves, so one test after
        // the loop replaces a test per byte.
        if dfa.is_special_state(state) && (dfa.is_dead_state(state) || dfa.is_quit_state(state)) {
            return None;
        }
        let state = dfa.next_eoi_state(state);
        dfa.is_match_state(state).then_some(state)
    }

    /// The ids of the patterns a match state reports.
    #[inline]
    pub(crate) fn patterns(&self, state: StateID) -> impl Iterator<Item = PatternId> + '_ {
        (0..self.dfa.match_len(state)).map(move |i| PatternId(self.dfa.match_pattern(state, i).as_u32()))
    }

    /// Whether the (single-pattern) automaton matches all of `input`.
    pub fn is_full_match(&self, input: &[u8]) -> bool {
        let mut matched = false;
        self.full_matches(input, |_| matched = true);
        matched
    }

    /// The loaded DFA, for tools that inspect it.
    pub fn dfa(&self) -> &DFA<&'a [u32]> {
        &self.dfa
    }

    pub fn memory_usage(&self) -> usize {
        self.dfa.memory_usage()
    }
}

/// A verified artifact, borrowing the bytes it was loaded from.
#[derive(Debug)]
pub struct Program<'a> {
    pub header: Header,
    pub meta: Meta,
    pub(crate) hosts: Option<Automaton<'a>>,
    pub(crate) paths: Option<Automaton<'a>>,
    pub(crate) values: Vec<Automaton<'a>>,
    pub(crate) buckets: BucketIndex,
    /// Routes whose templates use captures: a regex that extracts them.
    pub(crate) captures: HashMap<RouteId, regex_automata::meta::Regex>,
    /// The limits a request is held to before a route is chosen: the
    /// loosest the policy or any route allows (`before_routing`).
    pub(crate) before_routing: model::Limits,
}

impl<'a> Program<'a> {
    /// Loads and verifies an artifact. `bytes` must be 8-byte aligned (a
    /// memory map is; use `AlignedBytes` otherwise).
    pub fn from_bytes(bytes: &'a [u8]) -> Result<Program<'a>, ArtifactError> {
        if !(bytes.as_ptr() as usize).is_multiple_of(8) {
            return Err(ArtifactError::misaligned());
        }
        let header = format::read_header(bytes)?;
        let section_bytes = |kind: SectionKind| -> Option<&'a [u8]> {
            header
                .section(kind)
                .map(|s| &bytes[s.offset as usize..(s.offset + s.len) as usize])
        };
        let meta_bytes =
            section_bytes(SectionKind::Meta).ok_or_else(|| ArtifactError::bad_section("no metadata section"))?;
        let meta = codec::decode_meta(meta_bytes)?;
        let hosts = section_bytes(SectionKind::HostAutomaton)
            .map(|b| Automaton::load(b, "host"))
            .transpose()?;
        let paths = section_bytes(SectionKind::PathAutomaton)
            .map(|b| Automaton::load(b, "path"))
            .transpose()?;
        let value_section = section_bytes(SectionKind::ValueAutomata).unwrap_or(&[]);
        let mut values = Vec::with_capacity(meta.value_automata.len());
        for slice in &meta.value_automata {
            let end = slice
                .offset
                .checked_add(slice.len)
                .filter(|&e| e <= value_section.len() as u64);
            let Some(end) = end else {
                return Err(ArtifactError::inconsistent(
                    "a value automaton lies outside its section",
                ));
            };
            if !slice.offset.is_multiple_of(8) {
                return Err(ArtifactError::inconsistent("a value automaton is not 8-byte aligned"));
            }
            let automaton = Automaton::load(&value_section[slice.offset as usize..end as usize], "header value")?;
            if automaton.dfa.pattern_len() != 1 {
                return Err(ArtifactError::inconsistent(
                    "a header value automaton has several patterns",
                ));
            }
            values.push(automaton);
        }
        let count = |a: &Option<Automaton<'_>>| a.as_ref().map_or(0, |a| a.dfa.pattern_len() as u32);
        if count(&hosts) != meta.host_patterns || count(&paths) != meta.path_patterns {
            return Err(ArtifactError::inconsistent(
                "the automata do not have the patterns the metadata counts",
            ));
        }
        validate(&meta, values.len())?;
        let buckets = BucketIndex::new(&meta)?;
        let captures = capture_regexes(&meta)?;
        let before_routing = before_routing(&meta.policy);
        Ok(Program {
            header,
            meta,
            hosts,
            paths,
            values,
            buckets,
            captures,
            before_routing,
        })
    }

    pub fn policy(&self) -> &model::Policy {
        &self.meta.policy
    }

    pub fn host_automaton(&self) -> Option<&Automaton<'a>> {
        self.hosts.as_ref()
    }

    pub fn path_automaton(&self) -> Option<&Automaton<'a>> {
        self.paths.as_ref()
    }
}

/// Every index in the metadata points at something that exists, and
/// every value the runtime relies on is in range.
fn validate(meta: &Meta, value_automata: usize) -> Result<(), ArtifactError> {
    let policy = &meta.policy;
    if meta.conditions.len() != policy.routes.len() {
        return Err(ArtifactError::inconsistent("conditions do not match the routes"));
    }
    validate_alternatives(meta)?;
    for bucket in &meta.buckets {
        validate_bucket(meta, bucket)?;
    }
    validate_header_tests(meta, value_automata)?;
    for route in &policy.routes {
        validate_route(policy, route)?;
    }
    for agent in &policy.agents {
        if agent.body > model::AGENT_BODY_MAX {
            return Err(ArtifactError::inconsistent(format!(
                "agent `{}` asks for {} bytes of body, over the {}-byte limit",
                agent.name,
                agent.body,
                model::AGENT_BODY_MAX
            )));
        }
    }
    for upstream in &policy.upstreams {
        if upstream.servers.is_empty() {
            return Err(ArtifactError::inconsistent(format!(
                "upstream `{}` has no server",
                upstream.name
            )));
        }
    }
    Ok(())
}

/// Each alternative names a route and patterns that exist (`ANY` aside):
/// the matcher indexes with them unchecked.
fn validate_alternatives(meta: &Meta) -> Result<(), ArtifactError> {
    let routes = meta.policy.routes.len();
    for (i, alternative) in meta.alternatives.iter().enumerate() {
        if alternative.route.index() >= routes {
            return Err(ArtifactError::inconsistent(format!(
                "alternative {i} names a missing route"
            )));
        }
        if !alternative.host.within(meta.host_patterns) {
            return Err(ArtifactError::inconsistent(format!(
                "alternative {i} names a missing host pattern"
            )));
        }
        if !alternative.path.within(meta.path_patterns) {
            return Err(ArtifactError::inconsistent(format!(
                "alternative {i} names a missing path pattern"
            )));
        }
    }
    Ok(())
}

/// A bucket names patterns that exist, holds only existing alternatives of
/// those patterns, in precedence order (the matcher stops at the first
/// that matches), and its indexed runs are sound.
fn validate_bucket(meta: &Meta, bucket: &crate::table::Bucket) -> Result<(), ArtifactError> {
    if !bucket.host.within(meta.host_patterns) || !bucket.path.within(meta.path_patterns) {
        return Err(ArtifactError::inconsistent("a bucket names a missing pattern"));
    }
    for &a in &bucket.alternatives {
        let alternative = meta
            .alternatives
            .get(a as usize)
            .ok_or_else(|| ArtifactError::inconsistent("a bucket names a missing alternative"))?;
        if (alternative.host, alternative.path) != (bucket.host, bucket.path) {
            return Err(ArtifactError::inconsistent(
                "a bucket holds an alternative of other patterns",
            ));
        }
    }
    if bucket
        .alternatives
        .windows(2)
        .any(|w| meta.alternatives[w[0] as usize].key < meta.alternatives[w[1] as usize].key)
    {
        return Err(ArtifactError::inconsistent("a bucket is not in precedence order"));
    }
    validate_runs(meta, bucket)
}

/// Each header regex test names a value automaton that was loaded.
fn validate_header_tests(meta: &Meta, value_automata: usize) -> Result<(), ArtifactError> {
    for conditions in &meta.conditions {
        for header in &conditions.headers {
            if let ValueTest::Regex(id) = header.test {
                if id as usize >= value_automata {
                    return Err(ArtifactError::inconsistent("a header test names a missing automaton"));
                }
            }
        }
    }
    Ok(())
}

/// A route's action is one the runtime can carry out (a split adding up to
/// 100% of existing upstreams, a redirect or answer status in range), and
/// the agents it calls exist.
fn validate_route(policy: &model::Policy, route: &model::Route) -> Result<(), ArtifactError> {
    match &route.action {
        Action::Proxy(targets) => {
            if targets.is_empty() || targets.iter().map(|(_, share)| u32::from(*share)).sum::<u32>() != 100 {
                return Err(ArtifactError::inconsistent(format!(
                    "route `{}` splits traffic that does not add up to 100%",
                    route.name
                )));
            }
            if targets.iter().any(|(u, _)| u.index() >= policy.upstreams.len()) {
                return Err(ArtifactError::inconsistent(format!(
                    "route `{}` proxies to a missing upstream",
                    route.name
                )));
            }
        }
        Action::Redirect { status, .. } if !matches!(status, 301 | 302 | 307 | 308) => {
            return Err(ArtifactError::inconsistent(format!(
                "route `{}` redirects with {status}",
                route.name
            )));
        }
        Action::Respond { status, .. } if !(200..=599).contains(status) => {
            return Err(ArtifactError::inconsistent(format!(
                "route `{}` responds with {status}",
                route.name
            )));
        }
        _ => {}
    }
    if route.modifiers.agents.iter().any(|a| a.index() >= policy.agents.len()) {
        return Err(ArtifactError::inconsistent(format!(
            "route `{}` calls a missing agent",
            route.name
        )));
    }
    Ok(())
}

/// A bucket's indexed runs: in order, apart, within the bucket, of equal
/// keys, and covering every position of the run exactly as the matcher
/// needs (each position once in `rest` or under each value it wants).
fn validate_runs(meta: &Meta, bucket: &crate::table::Bucket) -> Result<(), ArtifactError> {
    let bad = |what: &str| Err(ArtifactError::inconsistent(format!("an indexed run {what}")));
    let mut end = 0u64;
    for run in &bucket.runs {
        let (start, len) = (u64::from(run.start), u64::from(run.len));
        if start < end || len < 2 || start + len > bucket.alternatives.len() as u64 {
            return bad("is out of place");
        }
        end = start + len;
        let members = &bucket.alternatives[run.start as usize..end as usize];
        let key = meta.alternatives[members[0] as usize].key;
        if members.iter().any(|&a| meta.alternatives[a as usize].key != key) {
            return bad("mixes keys");
        }
        if run.values.windows(2).any(|w| w[0].0 >= w[1].0) {
            return bad("is not sorted");
        }
        let mut seen = vec![false; members.len()];
        let positions = run.rest.iter().chain(run.values.iter().flat_map(|(_, p)| p));
        for &position in positions {
            let Some(slot) = (position as u64)
                .checked_sub(start)
                .and_then(|i| seen.get_mut(i as usize))
            else {
                return bad("names a position outside it");
            };
            *slot = true;
        }
        if seen.contains(&false) {
            return bad("leaves an alternative out");
        }
    }
    Ok(())
}

/// Whether a template uses a capture of the route's path regex.
fn uses_captures(template: &model::Template) -> bool {
    template
        .parts
        .iter()
        .any(|p| matches!(p, TemplatePart::Var(TemplateVar::Capture(_))))
}

/// Capture-extracting regexes for the routes whose templates need them,
/// built once at load time (DFAs cannot report captures).
fn capture_regexes(meta: &Meta) -> Result<HashMap<RouteId, regex_automata::meta::Regex>, ArtifactError> {
    let mut out = HashMap::new();
    for (i, route) in meta.policy.routes.iter().enumerate() {
        let needs = match (&route.action, &route.modifiers.rewrite) {
            (Action::Redirect { location, .. }, _) if uses_captures(location) => true,
            (_, Some(Rewrite::Template(t))) if uses_captures(t) => true,
            _ => false,
        };
        if !needs {
            continue;
        }
        let PathMatch::Regex(pattern) = &route.path else {
            return Err(ArtifactError::inconsistent(format!(
                "route `{}` uses captures but has no path regex",
                route.name
            )));
        };
        let pattern = crate::embeddable_regex(pattern)
            .map_err(|e| ArtifactError::inconsistent(format!("route `{}`: {e}", route.name)))?;
        let regex = regex_automata::meta::Regex::builder()
            .syntax(crate::regex_syntax_config())
            .build(&format!("^(?:{pattern})$"))
            .map_err(|e| ArtifactError::inconsistent(format!("route `{}`: {e}", route.name)))?;
        out.insert(RouteId::new(i), regex);
    }
    Ok(out)
}

/// The limits a request is held to before a route is chosen (the head's
/// field count and size, the target's length): a route may allow more than
/// the policy, so each is the loosest of the policy's and every route's own.
/// The chosen route's are checked after routing (`decide`).
fn before_routing(policy: &model::Policy) -> model::Limits {
    let global = &policy.limits;
    // `None` is no limit (the parser's own), or `default` where there is one.
    let loosest = |field: fn(&model::Limits) -> Option<u64>, default: Option<u64>| {
        let base = field(global).or(default)?;
        Some(
            policy
                .routes
                .iter()
                .filter_map(|r| field(&r.modifiers.limits))
                .fold(base, u64::max),
        )
    };
    model::Limits {
        max_header_count: loosest(|l| l.max_header_count.map(u64::from), None).map(|n| n as u32),
        max_header_size: loosest(|l| l.max_header_size, None),
        max_uri_size: loosest(|l| l.max_uri_size, Some(model::Limits::DEFAULT_MAX_URI_SIZE)),
        ..model::Limits::default()
    }
}

/// Where the bucket of a (host pattern, path pattern) pair is. The pairs
/// with `ANY` on one side, the most common, are plain array lookups; only
/// pairs of two concrete patterns are hashed.
#[derive(Debug)]
pub(crate) struct BucketIndex {
    any_any: Option<u32>,
    /// By path pattern: the bucket of (ANY, path).
    any_host: Vec<u32>,
    /// By host pattern: the bucket of (host, ANY).
    any_path: Vec<u32>,
    pairs: HashMap<(PatternId, PatternId), u32, BuildPairHasher>,
}

const NO_BUCKET: u32 = u32::MAX;

impl BucketIndex {
    fn new(meta: &Meta) -> Result<Self, ArtifactError> {
        let mut index = BucketIndex {
            any_any: None,
            any_host: vec![NO_BUCKET; meta.path_patterns as usize],
            any_path: vec![NO_BUCKET; meta.host_patterns as usize],
            pairs: HashMap::with_hasher(BuildPairHasher),
        };
        for (i, bucket) in meta.buckets.iter().enumerate() {
            let i = i as u32;
            // Pattern ids were checked against the counts by `validate`.
            let slot = match (bucket.host, bucket.path) {
                (ANY, ANY) => index.any_any.replace(i),
                (ANY, path) => {
                    Some(std::mem::replace(&mut index.any_host[path.index()], i)).filter(|&b| b != NO_BUCKET)
                }
                (host, ANY) => {
                    Some(std::mem::replace(&mut index.any_path[host.index()], i)).filter(|&b| b != NO_BUCKET)
                }
                pair => index.pairs.insert(pair, i),
            };
            if slot.is_some() {
                return Err(ArtifactError::inconsistent("two buckets for the same patterns"));
            }
        }
        Ok(index)
    }

    /// The bucket of a pair, if any alternative needs it.
    #[inline]
    pub(crate) fn get(&self, host: PatternId, path: PatternId) -> Option<u32> {
        let bucket = match (host, path) {
            (ANY, ANY) => return self.any_any,
            (ANY, path) => self.any_host[path.index()],
            (host, ANY) => self.any_path[host.index()],
            pair => return self.pairs.get(&pair).copied(),
        };
        (bucket != NO_BUCKET).then_some(bucket)
    }
}

/// A hasher for pairs of small integers: one multiply, no DoS concern
/// (the keys come from the artifact, not from requests).
#[derive(Debug, Clone, Copy, Default)]
pub struct BuildPairHasher;

impl std::hash::BuildHasher for BuildPairHasher {
    type Hasher = PairHasher;

    fn build_hasher(&self) -> PairHasher {
        PairHasher(0)
    }
}

#[derive(Debug, Clone, Copy)]
pub struct PairHasher(u64);

impl std::hash::Hasher for PairHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u32(&mut self, value: u32) {
        self.0 = (self.0.rotate_left(32) ^ u64::from(value)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}
