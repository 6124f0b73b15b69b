//! Matching a request against a loaded program. The host and path
//! automata each run once over their input (cost: the input's length, not
//! the number of routes); the buckets of the pattern pairs they matched
//! hold the few alternatives left, greatest key first, and only those have
//! their method, header and query conditions checked.

use std::borrow::Cow;

use crate::ids::{PatternId, RouteId};
use crate::model::{Template, TemplatePart, TemplateVar};
use crate::program::Program;
use crate::table::{Alternative, Bucket, Conditions, Discriminator, Key, Run, ValueTest, ANY};

/// Header values of a request, however the caller stores them.
///
/// A header condition sees one value per name: its field lines joined with
/// `, ` (RFC 9110 §5.3 makes that the same header), so routing does not
/// depend on how a client split a header, and two routes that want
/// different values of one header can never both match.
pub trait HeaderSource {
    /// The value of header `name` (lowercase), or `None` when absent.
    fn value(&self, name: &str) -> Option<Cow<'_, [u8]>>;
    /// How many header fields (lines) the request has.
    fn field_count(&self) -> usize;
    /// The size of the header fields: each name and value, and 4 bytes
    /// for `: ` and the line end.
    fn field_bytes(&self) -> u64;
}

/// The one value of a header sent as `lines` (RFC 9110 §5.3): borrowed
/// when it was sent once, joined with `, ` when it was sent several times.
pub fn combined<'a>(mut lines: impl Iterator<Item = &'a [u8]>) -> Option<Cow<'a, [u8]>> {
    let first = lines.next()?;
    let Some(second) = lines.next() else {
        return Some(Cow::Borrowed(first));
    };
    let mut joined = first.to_vec();
    for line in std::iter::once(second).chain(lines) {
        joined.extend_from_slice(b", ");
        joined.extend_from_slice(line);
    }
    Some(Cow::Owned(joined))
}

impl HeaderSource for [(String, String)] {
    fn value(&self, name: &str) -> Option<Cow<'_, [u8]>> {
        combined(
            self.iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_bytes()),
        )
    }

    fn field_count(&self) -> usize {
        self.len()
    }

    fn field_bytes(&self) -> u64 {
        self.iter().map(|(k, v)| (k.len() + v.len() + 4) as u64).sum()
    }
}

impl HeaderSource for Vec<(String, String)> {
    fn value(&self, name: &str) -> Option<Cow<'_, [u8]>> {
        self.as_slice().value(name)
    }

    fn field_count(&self) -> usize {
        self.len()
    }

    fn field_bytes(&self) -> u64 {
        self.as_slice().field_bytes()
    }
}

/// What matching looks at. `host` and `path` must already be normalized
/// (`normalize::normalize_host`, `normalize::normalize_path`).
pub struct Request<'r> {
    pub method: &'r str,
    pub host: &'r str,
    pub path: &'r str,
    /// The raw query string, without `?`.
    pub query: Option<&'r str>,
    pub headers: &'r dyn HeaderSource,
}

/// What a lookup did, counted: how it stays cheap is tested, not assumed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LookupTrace {
    /// Bytes of host and path the automata stepped over.
    pub bytes: usize,
    /// Buckets (pattern pairs) visited.
    pub buckets: usize,
    /// Alternatives whose method, header and query conditions were tested.
    pub tested: usize,
}

/// Receives what a lookup does; `()` ignores it (the hot path), a
/// `LookupTrace` counts it.
trait Tracer {
    fn bytes(&mut self, _n: usize) {}
    fn bucket(&mut self) {}
    fn tested(&mut self) {}
}

impl Tracer for () {}

impl Tracer for LookupTrace {
    fn bytes(&mut self, n: usize) {
        self.bytes += n;
    }
    fn bucket(&mut self) {
        self.buckets += 1;
    }
    fn tested(&mut self) {
        self.tested += 1;
    }
}

/// The winning alternative of a lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Match {
    pub route: RouteId,
    pub alternative: u32,
    pub key: Key,
}

/// Pattern ids matched by one automaton, kept inline for the usual few.
struct IdSet {
    inline: [PatternId; 8],
    len: usize,
    spill: Vec<PatternId>,
}

impl IdSet {
    fn with_any() -> Self {
        IdSet {
            inline: [ANY; 8],
            len: 1,
            spill: Vec::new(),
        }
    }

    #[inline]
    fn push(&mut self, id: PatternId) {
        if self.len < self.inline.len() {
            self.inline[self.len] = id;
            self.len += 1;
        } else {
            self.spill.push(id);
        }
    }

    fn iter(&self) -> impl Iterator<Item = PatternId> + '_ {
        self.inline[..self.len]
            .iter()
            .copied()
            .chain(self.spill.iter().copied())
    }
}

impl Program<'_> {
    fn matched_patterns(&self, request: &Request<'_>) -> (IdSet, IdSet) {
        let mut hosts = IdSet::with_any();
        if let Some(automaton) = &self.hosts {
            automaton.full_matches_reversed(request.host.as_bytes(), |id| hosts.push(id));
        }
        let mut paths = IdSet::with_any();
        if let Some(automaton) = &self.paths {
            automaton.full_matches(request.path.as_bytes(), |id| paths.push(id));
        }
        (hosts, paths)
    }

    /// The alternatives of every bucket the automata selected, bucket by
    /// bucket (each greatest key first).
    fn selected_buckets<'p>(&'p self, hosts: &'p IdSet, paths: &'p IdSet) -> impl Iterator<Item = &'p [u32]> + 'p {
        hosts.iter().flat_map(move |host| {
            paths.iter().filter_map(move |path| {
                let bucket = self.buckets.get(host, path)?;
                Some(self.meta.buckets[bucket as usize].alternatives.as_slice())
            })
        })
    }

    /// The route that wins for `request`, if any.
    pub fn lookup(&self, request: &Request<'_>) -> Option<Match> {
        self.lookup_with(request, &mut ())
    }

    /// `lookup`, counting what it does.
    pub fn lookup_traced(&self, request: &Request<'_>) -> (Option<Match>, LookupTrace) {
        let mut trace = LookupTrace::default();
        let found = self.lookup_with(request, &mut trace);
        (found, trace)
    }

    #[inline]
    fn lookup_with(&self, request: &Request<'_>, tracer: &mut impl Tracer) -> Option<Match> {
        let host_state = self.hosts.as_ref().and_then(|a| {
            tracer.bytes(request.host.len());
            a.final_state(request.host.bytes().rev()).map(|s| (a, s))
        });
        let path_state = self.paths.as_ref().and_then(|a| {
            tracer.bytes(request.path.len());
            a.final_state(request.path.bytes()).map(|s| (a, s))
        });
        let mut best: Option<Match> = None;
        let hosts = std::iter::once(ANY).chain(host_state.into_iter().flat_map(|(a, s)| a.patterns(s)));
        for host in hosts {
            let paths = std::iter::once(ANY).chain(path_state.into_iter().flat_map(|(a, s)| a.patterns(s)));
            for path in paths {
                if let Some(bucket) = self.buckets.get(host, path) {
                    tracer.bucket();
                    self.best_in(&self.meta.buckets[bucket as usize], request, &mut best, tracer);
                }
            }
        }
        best
    }

    /// Improves `best` with the first alternative of `bucket` that ranks
    /// above it and whose conditions hold; an indexed run is searched by
    /// its discriminator rather than walked.
    #[inline]
    fn best_in(&self, bucket: &Bucket, request: &Request<'_>, best: &mut Option<Match>, tracer: &mut impl Tracer) {
        let alternatives = &bucket.alternatives;
        let mut runs = bucket.runs.iter().peekable();
        let mut i = 0;
        while let Some(&a) = alternatives.get(i) {
            let alternative = &self.meta.alternatives[a as usize];
            if best.is_some_and(|b| b.key >= alternative.key) {
                break; // the rest of this bucket ranks lower still
            }
            if let Some(run) = runs.next_if(|r| r.start as usize == i) {
                if let Some(found) = self.search_run(alternatives, run, request, tracer) {
                    *best = Some(found);
                    break;
                }
                i += run.len as usize;
                continue;
            }
            if let Some(found) = self.try_alternative(a, request, tracer) {
                *best = Some(found);
                break;
            }
            i += 1;
        }
    }

    /// The alternative at `a`, if its conditions hold for `request`.
    #[inline]
    fn try_alternative(&self, a: u32, request: &Request<'_>, tracer: &mut impl Tracer) -> Option<Match> {
        tracer.tested();
        let alternative = &self.meta.alternatives[a as usize];
        self.conditions_hold(&self.meta.conditions[alternative.route.index()], request)
            .then_some(Match {
                route: alternative.route,
                alternative: a,
                key: alternative.key,
            })
    }

    /// The alternative of an indexed run that matches, if any: those that
    /// want the request's value of the run's discriminator, then those
    /// that want none.
    fn search_run(
        &self,
        alternatives: &[u32],
        run: &Run,
        request: &Request<'_>,
        tracer: &mut impl Tracer,
    ) -> Option<Match> {
        let value: Option<Cow<'_, [u8]>> = match &run.on {
            Discriminator::Header(name) => request.headers.value(name),
            Discriminator::Query(name) => request.query.and_then(|q| query_value(q, name)).map(|v| match v {
                Cow::Borrowed(s) => Cow::Borrowed(s.as_bytes()),
                Cow::Owned(s) => Cow::Owned(s.into_bytes()),
            }),
            Discriminator::Method => Some(Cow::Borrowed(request.method.as_bytes())),
        };
        let wanting = value
            .and_then(|value| run.values.binary_search_by(|(v, _)| v.as_bytes().cmp(&value)).ok())
            .map_or(&[][..], |found| run.values[found].1.as_slice());
        wanting
            .iter()
            .chain(&run.rest)
            .find_map(|&position| self.try_alternative(alternatives[position as usize], request, tracer))
    }

    /// Every alternative that matches `request`, greatest key first: what
    /// `zenc explain` shows. Not for the hot path.
    pub fn candidates(&self, request: &Request<'_>) -> Vec<(u32, &Alternative)> {
        let (hosts, paths) = self.matched_patterns(request);
        let mut out = Vec::new();
        for bucket in self.selected_buckets(&hosts, &paths) {
            for &a in bucket {
                let alternative = &self.meta.alternatives[a as usize];
                if self.conditions_hold(&self.meta.conditions[alternative.route.index()], request) {
                    out.push((a, alternative));
                }
            }
        }
        out.sort_by(|a, b| b.1.key.cmp(&a.1.key).then(a.0.cmp(&b.0)));
        out
    }

    fn conditions_hold(&self, conditions: &Conditions, request: &Request<'_>) -> bool {
        if !conditions.methods.is_empty() && !conditions.methods.iter().any(|m| m == request.method) {
            return false;
        }
        for header in &conditions.headers {
            let Some(value) = request.headers.value(&header.name) else {
                return false;
            };
            let holds = match &header.test {
                ValueTest::Present => true,
                ValueTest::Exact(expected) => *value == *expected.as_bytes(),
                ValueTest::Regex(id) => self.values[*id as usize].is_full_match(&value),
            };
            if !holds {
                return false;
            }
        }
        for query in &conditions.queries {
            let Some(value) = request.query.and_then(|q| query_value(q, &query.name)) else {
                return false;
            };
            if query.value.as_ref().is_some_and(|expected| *expected != value) {
                return false;
            }
        }
        true
    }

    /// The named captures of `route`'s path regex in `path`, for templates.
    pub fn captures(&self, route: RouteId, path: &str) -> Vec<(String, String)> {
        let Some(regex) = self.captures.get(&route) else {
            return Vec::new();
        };
        let mut caps = regex.create_captures();
        regex.captures(path, &mut caps);
        let mut out = Vec::new();
        for (i, name) in regex
            .group_info()
            .pattern_names(regex_automata::PatternID::ZERO)
            .enumerate()
        {
            if let (Some(name), Some(span)) = (name, caps.get_group(i)) {
                // Regexes match bytes (`.` is one byte), so a capture may
                // end inside a UTF-8 sequence: slice the bytes, not the str.
                let bytes = path.as_bytes().get(span.range()).unwrap_or_default();
                out.push((name.to_string(), String::from_utf8_lossy(bytes).into_owned()));
            }
        }
        out
    }
}

/// `name=value` pairs of a query string, form-decoded (`+` is a space,
/// percent escapes decoded; invalid escapes kept as written).
pub fn query_pairs(query: &str) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> + '_ {
    query.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        (form_decode(name), form_decode(value))
    })
}

/// The value of query parameter `name`: its first occurrence, as nginx's
/// `$arg_NAME` and HAProxy's `urlp` read it, so a request has one value
/// per parameter and two routes that want different values never both
/// match. `None` when the parameter is absent.
pub fn query_value<'q>(query: &'q str, name: &str) -> Option<Cow<'q, str>> {
    query_pairs(query).find(|(n, _)| n == name).map(|(_, v)| v)
}

fn form_decode(text: &str) -> Cow<'_, str> {
    if !text.contains(['+', '%']) {
        return Cow::Borrowed(text);
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match crate::normalize::hex_byte(bytes[i + 1], bytes[i + 2]) {
                Some(v) => {
                    out.push(v);
                    i += 2;
                }
                None => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// What a template can refer to for one request.
pub struct TemplateContext<'c> {
    pub host: &'c str,
    pub path: &'c str,
    pub query: Option<&'c str>,
    pub scheme: &'c str,
    pub request_id: &'c str,
    pub captures: &'c [(String, String)],
}

/// Renders a template; a capture that did not participate is empty, and
/// `?{query}` without a query leaves no `?` behind (like nginx's
/// `$is_args$args`).
pub fn render(template: &Template, context: &TemplateContext<'_>) -> String {
    let mut out = String::new();
    for part in &template.parts {
        match part {
            TemplatePart::Literal(text) => out.push_str(text),
            TemplatePart::Var(var) => match var {
                TemplateVar::Host => out.push_str(context.host),
                TemplateVar::Path => out.push_str(context.path),
                TemplateVar::Query => match context.query.filter(|q| !q.is_empty()) {
                    Some(query) => out.push_str(query),
                    None => {
                        if out.ends_with('?') {
                            out.pop();
                        }
                    }
                },
                TemplateVar::Scheme => out.push_str(context.scheme),
                TemplateVar::RequestId => out.push_str(context.request_id),
                TemplateVar::Capture(name) => {
                    if let Some((_, value)) = context.captures.iter().find(|(n, _)| n == name) {
                        out.push_str(value);
                    }
                }
            },
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_pairs_decode() {
        let pairs: Vec<_> = query_pairs("a=1&b=x+y&c=%41%2&&d&e=%+5").collect();
        assert_eq!(
            pairs,
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "x y".into()),
                ("c".into(), "A%2".into()),
                ("d".into(), "".into()),
                // a sign is not a hex digit
                ("e".into(), "% 5".into())
            ]
        );
    }

    #[test]
    fn a_query_parameter_has_its_first_value() {
        assert_eq!(query_value("v=1&v=2", "v").as_deref(), Some("1"));
        assert_eq!(query_value("a=1&v", "v").as_deref(), Some(""));
        assert_eq!(query_value("a+b=x", "a b").as_deref(), Some("x"));
        assert_eq!(query_value("a=1", "v"), None);
    }

    #[test]
    fn a_header_sent_several_times_is_one_value() {
        let headers: Vec<(String, String)> = vec![
            ("X-V".into(), "1".into()),
            ("x-other".into(), "a".into()),
            ("x-v".into(), "2".into()),
        ];
        assert_eq!(headers.value("x-v").as_deref(), Some(&b"1, 2"[..]));
        assert_eq!(headers.value("x-other").as_deref(), Some(&b"a"[..]));
        assert!(matches!(headers.value("x-other"), Some(Cow::Borrowed(_))));
        assert_eq!(headers.value("x-none"), None);
    }

    #[test]
    fn a_query_variable_without_a_query_leaves_no_question_mark() {
        let template = Template {
            parts: vec![
                TemplatePart::Literal("/new".into()),
                TemplatePart::Var(TemplateVar::Path),
                TemplatePart::Literal("?".into()),
                TemplatePart::Var(TemplateVar::Query),
            ],
        };
        let context = |query| TemplateContext {
            host: "h",
            path: "/p",
            query,
            scheme: "http",
            request_id: "r",
            captures: &[],
        };
        assert_eq!(render(&template, &context(Some("a=1"))), "/new/p?a=1");
        assert_eq!(render(&template, &context(None)), "/new/p");
        assert_eq!(render(&template, &context(Some(""))), "/new/p");
    }
}
