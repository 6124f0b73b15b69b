//! Modifiers (LANGUAGE.md §4.4): each is checked once where it is written,
//! in a route or a policy; whether it fits the action, and whether it is
//! set twice, is checked for each route it lands in.

use std::collections::HashMap;

use zbin::ids::AgentId;
use zbin::model;

use crate::ast::{
    ActionKind, CompressCodec, CompressOption, HeaderEditKind, Ident, LimitKind, Modifier, ModifierKind, Number,
    RateKey, RateOption, Str,
};
use crate::diagnostic::{Code, Diagnostic};
use crate::loader::Module;
use crate::source::Span;

use super::policies::Policies;
use super::templates::{ParsedTemplate, RawPart};
use super::{Checker, NameKind};

/// A modifier after its own values were checked.
#[derive(Debug, Clone)]
pub(super) enum Lowered {
    RewritePrefix { from: String, to: String },
    Rewrite(ParsedTemplate),
    RequestHeaders(Vec<model::HeaderEdit>),
    ResponseHeaders(Vec<model::HeaderEdit>),
    Agents(Vec<(AgentId, Ident)>),
    RateLimit(model::RateLimit),
    Timeout(u64),
    Limits(model::Limits),
    Compress(model::Compress),
}

/// A modifier as it applies to a route: where it is written, and the
/// `use` that brought it in, if any.
#[derive(Debug, Clone)]
pub(super) struct Applied {
    pub(super) lowered: Lowered,
    pub(super) keyword: &'static str,
    pub(super) span: Span,
    pub(super) via: Option<Span>,
}

/// Whether `limits` sets limit `kind`.
fn set_in(limits: &model::Limits, kind: LimitKind) -> bool {
    match kind {
        LimitKind::MaxHeaderCount => limits.max_header_count.is_some(),
        LimitKind::MaxHeaderSize => limits.max_header_size.is_some(),
        LimitKind::MaxBodySize => limits.max_body_size.is_some(),
        LimitKind::RequestTimeout => limits.request_timeout.is_some(),
        LimitKind::IdleTimeout => limits.idle_timeout.is_some(),
        LimitKind::HeaderTimeout => limits.header_timeout.is_some(),
        LimitKind::MaxUriSize => limits.max_uri_size.is_some(),
        LimitKind::MaxResponseHeaderSize => limits.max_response_header_size.is_some(),
    }
}

impl Lowered {
    /// Whether this modifier has an effect on a route whose action is
    /// `action` (`None` for a route without one), and if not, why.
    fn fits(&self, action: Option<&ActionKind>) -> Result<(), &'static str> {
        let proxies = matches!(action, Some(ActionKind::Proxy(_) | ActionKind::Split(_)));
        match self {
            Lowered::Rewrite(_) | Lowered::RewritePrefix { .. } if !proxies => {
                Err("`rewrite` changes the path sent upstream, and only `proxy` sends one")
            }
            Lowered::RequestHeaders(_) if !proxies => {
                Err("`request_headers` edits the request sent upstream, and only `proxy` sends one")
            }
            Lowered::Timeout(_) if !proxies => {
                Err("`timeout` bounds the wait for an upstream, and only `proxy` has one")
            }
            Lowered::Compress(_) if !proxies && !matches!(action, Some(ActionKind::Static { .. })) => {
                Err("`compress` encodes proxied answers and static files; this route's answer is neither")
            }
            _ => Ok(()),
        }
    }

    /// Whether a route takes this modifier at most once.
    fn once(&self) -> bool {
        matches!(
            self,
            Lowered::Rewrite(..)
                | Lowered::RewritePrefix { .. }
                | Lowered::RateLimit(_)
                | Lowered::Timeout(_)
                | Lowered::Compress(_)
        )
    }
}

/// One route's modifiers as they are applied, in order: the result so far,
/// and where each setting was first made, to report one made twice.
struct Applying<'r> {
    route: &'r str,
    /// The names the route's `path regex` captures, for `rewrite`.
    captures: &'r [String],
    out: model::Modifiers,
    /// The first of each modifier a route takes once, by keyword.
    single: HashMap<&'static str, Span>,
    limit_spans: HashMap<LimitKind, Span>,
    agent_calls: HashMap<AgentId, Span>,
    ok: bool,
}

impl<'p> Checker<'p> {
    /// Checks one modifier where it is written and appends what it
    /// applies (a `use` appends the policy's modifiers).
    pub(super) fn modifier(
        &mut self,
        modifier: &'p Modifier,
        module: &'p Module,
        policies: &mut Policies,
        out: &mut Vec<Applied>,
    ) {
        let lowered = match &modifier.kind {
            ModifierKind::Use(names) => {
                for name in names {
                    self.use_policy(name, module, policies, out);
                }
                return;
            }
            ModifierKind::RewritePrefix { from, to } => self.rewrite_prefix(from, to),
            ModifierKind::Rewrite(template) => self.rewrite(template),
            ModifierKind::RequestHeaders(edits) => Some(Lowered::RequestHeaders(self.header_edits(edits))),
            ModifierKind::ResponseHeaders(edits) => Some(Lowered::ResponseHeaders(self.header_edits(edits))),
            ModifierKind::Agents(names) => Some(Lowered::Agents(self.agent_calls(names))),
            ModifierKind::RateLimit { rate, options } => self.rate_limit(rate, options),
            ModifierKind::Timeout(duration) => self.duration(duration, "timeout").map(Lowered::Timeout),
            ModifierKind::Limits(stmts) => Some(Lowered::Limits(self.limits(stmts, false))),
            ModifierKind::Compress(options) => self.compress(options).map(Lowered::Compress),
        };
        if let Some(lowered) = lowered {
            out.push(Applied {
                lowered,
                keyword: modifier.kind.keyword(),
                span: modifier.span,
                via: None,
            });
        }
    }

    /// `rewrite prefix FROM TO`: two paths.
    fn rewrite_prefix(&mut self, from: &Str, to: &Str) -> Option<Lowered> {
        let from_path = self.policy_path(from);
        let to_ok = to.value.starts_with('/');
        if !to_ok {
            self.report(
                Diagnostic::new(
                    Code::InvalidPath,
                    format!("rewrite target `{}` does not start with `/`", to.value),
                    to.span,
                    "not a path",
                )
                .with_help(format!("write `/{}`", to.value)),
            );
        }
        match from_path {
            Some(from) if to_ok => Some(Lowered::RewritePrefix {
                from,
                to: to.value.clone(),
            }),
            _ => None,
        }
    }

    /// `rewrite TEMPLATE`: a template that produces a path. Its variables
    /// are resolved for each route it lands in.
    fn rewrite(&mut self, template: &Str) -> Option<Lowered> {
        let parsed = self.parse_template(template)?;
        if let Some(RawPart::Literal(first)) = parsed.parts.first() {
            if !first.starts_with('/') {
                self.report(
                    Diagnostic::new(
                        Code::InvalidPath,
                        format!("rewrite template `{}` does not start with `/`", template.value),
                        template.span,
                        "must produce a path",
                    )
                    .with_help(format!("write `/{}`", template.value)),
                );
                return None;
            }
        }
        Some(Lowered::Rewrite(parsed))
    }

    /// `request_headers` and `response_headers`: each edit's name, and a
    /// value that stays on one line.
    fn header_edits(&mut self, edits: &[crate::ast::HeaderEdit]) -> Vec<model::HeaderEdit> {
        let mut out = Vec::new();
        for edit in edits {
            let Some(name) = self.header_name(&edit.name) else {
                continue;
            };
            let value = edit.value.as_ref().map(|v| v.value.clone()).unwrap_or_default();
            if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
                self.report(
                    Diagnostic::new(
                        Code::InvalidHeaderValue,
                        format!("header value for `{name}` contains a line break"),
                        edit.value.as_ref().map_or(edit.span, |v| v.span),
                        "header values are one line",
                    )
                    .with_help("remove `\\r`, `\\n` and NUL from the value"),
                );
                continue;
            }
            out.push(model::HeaderEdit {
                op: match edit.kind {
                    HeaderEditKind::Set => model::HeaderOp::Set,
                    HeaderEditKind::Add => model::HeaderOp::Add,
                    HeaderEditKind::Remove => model::HeaderOp::Remove,
                },
                name,
                value,
            });
        }
        out
    }

    /// `agents`: the agents that exist, with how each was written, to
    /// report one called twice by a route.
    fn agent_calls(&mut self, names: &[Ident]) -> Vec<(AgentId, Ident)> {
        let mut agents: Vec<(AgentId, Ident)> = Vec::new();
        for name in names {
            if let Some(index) = self.resolve(NameKind::Agent, name) {
                agents.push((AgentId::new(index), name.clone()));
            }
        }
        agents
    }

    /// `rate_limit`: a rate, and its `burst` and `by` options at most once
    /// each.
    fn rate_limit(&mut self, rate: &Number, options: &[RateOption]) -> Option<Lowered> {
        let rate = self.rate(rate);
        let mut burst: Option<(u64, Span)> = None;
        let mut key: Option<(model::RateKey, Span)> = None;
        for option in options {
            match option {
                RateOption::Burst(n, at) => {
                    if let Some((_, first)) = burst {
                        self.duplicate_setting("burst", *at, first);
                    } else if let Some(n) = self.integer(n, "burst", 1..=1_000_000) {
                        burst = Some((n, *at));
                    }
                }
                RateOption::By(by, at) => {
                    if let Some((_, first)) = key {
                        self.duplicate_setting("by", *at, first);
                        continue;
                    }
                    let lowered = match by {
                        RateKey::ClientIp => Some(model::RateKey::ClientIp),
                        RateKey::Route => Some(model::RateKey::Route),
                        RateKey::Header(name) => self.header_name(name).map(model::RateKey::Header),
                    };
                    if let Some(lowered) = lowered {
                        key = Some((lowered, *at));
                    }
                }
            }
        }
        let (requests, per) = rate?;
        Some(Lowered::RateLimit(model::RateLimit {
            requests,
            per,
            // Without `burst`, a client may spend one period's worth at once.
            burst: burst.map_or(requests, |(b, _)| b),
            key: key.map_or(model::RateKey::ClientIp, |(k, _)| k),
        }))
    }

    // ---------------------------------------------------------- applying

    /// Applies the route's modifiers, in order, to its action.
    pub(super) fn apply(
        &mut self,
        action: Option<&ActionKind>,
        route: &str,
        applied: Vec<Applied>,
        captures: &[String],
    ) -> Option<model::Modifiers> {
        let mut applying = Applying {
            route,
            captures,
            out: model::Modifiers::default(),
            single: HashMap::new(),
            limit_spans: HashMap::new(),
            agent_calls: HashMap::new(),
            ok: true,
        };
        for a in applied {
            if !self.fits_action(&a, action, route) || self.set_twice(&a, &mut applying) {
                applying.ok = false;
                continue;
            }
            self.apply_one(a, &mut applying);
        }
        applying.ok.then_some(applying.out)
    }

    /// Whether modifier `a` has an effect on the route's action; reports
    /// it when not, with the `use` that brought it in.
    fn fits_action(&mut self, a: &Applied, action: Option<&ActionKind>, route: &str) -> bool {
        let Err(why) = a.lowered.fits(action) else {
            return true;
        };
        let on = match action {
            None => "a route without an action".to_string(),
            Some(kind) => format!("a `{}` route", kind.keyword()),
        };
        let mut diagnostic = Diagnostic::new(
            Code::ModifierMismatch,
            format!("`{}` makes no sense on {on}", a.keyword),
            a.span,
            format!("`{}` here", a.keyword),
        )
        .with_help(why);
        if let Some(via) = a.via {
            diagnostic = diagnostic.with_label(via, format!("brought into route `{route}` by this `use`"));
        }
        self.report(diagnostic);
        false
    }

    /// Whether `a` is a modifier a route takes once, already set; reports
    /// it then, since modifiers do not override each other.
    fn set_twice(&mut self, a: &Applied, applying: &mut Applying) -> bool {
        if !a.lowered.once() {
            return false;
        }
        let Some(first) = applying.single.insert(a.keyword, a.span) else {
            return false;
        };
        let mut diagnostic = Diagnostic::new(
            Code::DuplicateSetting,
            format!("`{}` is set twice for route `{}`", a.keyword, applying.route),
            a.span,
            "set again here",
        )
        .with_label(first, "first set here");
        if let Some(via) = a.via {
            diagnostic = diagnostic.with_label(via, "through this `use`");
        }
        self.report(diagnostic.with_help("keep one of them; a route's modifiers do not override each other"));
        true
    }

    /// Adds what modifier `a` sets to the route's modifiers.
    fn apply_one(&mut self, a: Applied, applying: &mut Applying) {
        let out = &mut applying.out;
        match a.lowered {
            Lowered::RewritePrefix { from, to } => out.rewrite = Some(model::Rewrite::Prefix { from, to }),
            Lowered::Rewrite(template) => match self.resolve_template(&template, applying.captures, "rewrite") {
                Some(t) => out.rewrite = Some(model::Rewrite::Template(t)),
                None => applying.ok = false,
            },
            Lowered::RequestHeaders(edits) => out.request_headers.extend(edits),
            Lowered::ResponseHeaders(edits) => out.response_headers.extend(edits),
            Lowered::Agents(agents) => self.apply_agents(agents, a.via, applying),
            Lowered::RateLimit(limit) => out.rate_limit = Some(limit),
            Lowered::Timeout(ms) => out.timeout = Some(ms),
            Lowered::Limits(limits) => self.apply_limits(limits, a.span, applying),
            Lowered::Compress(compress) => out.compress = Some(compress),
        }
    }

    /// `compress [gzip] [br] [zstd] [min_size SIZE] [types "TYPE" ...]`:
    /// without codecs, all three; each option at most once.
    fn compress(&mut self, options: &[CompressOption]) -> Option<model::Compress> {
        let mut codecs: Vec<(CompressCodec, Span)> = Vec::new();
        let mut min_size: Option<(u64, Span)> = None;
        let mut types: Option<(Vec<String>, Span)> = None;
        let mut ok = true;
        for option in options {
            match option {
                CompressOption::Codec(codec, at) => match codecs.iter().find(|(c, _)| c == codec) {
                    Some((_, first)) => self.duplicate_setting(codec.keyword(), *at, *first),
                    None => codecs.push((*codec, *at)),
                },
                CompressOption::MinSize(size, at) => match min_size {
                    Some((_, first)) => self.duplicate_setting("min_size", *at, first),
                    None => match self.size(size, "min_size") {
                        Some(bytes) => min_size = Some((bytes, *at)),
                        None => ok = false,
                    },
                },
                CompressOption::Types(list, at) => match &types {
                    Some((_, first)) => self.duplicate_setting("types", *at, *first),
                    None => match self.media_types(list) {
                        Some(list) => types = Some((list, *at)),
                        None => ok = false,
                    },
                },
            }
        }
        let codecs = if codecs.is_empty() {
            model::Codec::ALL.to_vec()
        } else {
            let written: Vec<model::Codec> = codecs
                .iter()
                .map(|(codec, _)| match codec {
                    CompressCodec::Gzip => model::Codec::Gzip,
                    CompressCodec::Br => model::Codec::Brotli,
                    CompressCodec::Zstd => model::Codec::Zstd,
                })
                .collect();
            // Kept in the order of preference, whatever order they are written in.
            model::Codec::ALL
                .into_iter()
                .filter(|codec| written.contains(codec))
                .collect()
        };
        ok.then(|| model::Compress {
            codecs,
            min_size: min_size.map_or(model::Compress::DEFAULT_MIN_SIZE, |(bytes, _)| bytes),
            types: types.map_or_else(
                || model::Compress::DEFAULT_TYPES.iter().map(|t| t.to_string()).collect(),
                |(list, _)| list,
            ),
        })
    }

    /// `types "text/*" "application/json"`: lowercase media types, a whole
    /// top level written `TYPE/*`.
    fn media_types(&mut self, list: &[Str]) -> Option<Vec<String>> {
        let mut out = Vec::new();
        for written in list {
            let value = written.value.as_str();
            let valid = value.split_once('/').is_some_and(|(top, sub)| {
                let token = |t: &str| {
                    !t.is_empty()
                        && t.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
                };
                token(top) && (sub == "*" || token(sub))
            });
            if !valid || value.bytes().any(|b| b.is_ascii_uppercase()) {
                self.report(
                    Diagnostic::new(
                        Code::InvalidLiteral,
                        format!("`{value}` is not a media type"),
                        written.span,
                        "expected `TYPE/SUBTYPE` or `TYPE/*`, in lowercase",
                    )
                    .with_help("write a media type such as `text/html`, `application/json` or `text/*`"),
                );
                return None;
            }
            out.push(value.to_string());
        }
        Some(out)
    }

    /// Adds agent calls; an agent called twice by one route is reported,
    /// as it sees each request once.
    fn apply_agents(&mut self, agents: Vec<(AgentId, Ident)>, via: Option<Span>, applying: &mut Applying) {
        for (agent, name) in agents {
            if let Some(first) = applying.agent_calls.get(&agent) {
                let mut diagnostic = Diagnostic::new(
                    Code::DuplicateSetting,
                    format!("agent `{}` is called twice by route `{}`", name.node, applying.route),
                    name.span,
                    "called again here",
                )
                .with_label(*first, "first called here");
                if let Some(via) = via {
                    diagnostic = diagnostic.with_label(via, "through this `use`");
                }
                self.report(diagnostic.with_help("each agent sees a request once"));
                applying.ok = false;
            } else {
                applying.agent_calls.insert(agent, name.span);
                applying.out.agents.push(agent);
            }
        }
    }

    /// Merges a `limits` block into the route's; each limit may be set by
    /// one block only.
    fn apply_limits(&mut self, limits: model::Limits, span: Span, applying: &mut Applying) {
        for kind in LimitKind::ALL {
            if set_in(&limits, kind) {
                if let Some(first) = applying.limit_spans.insert(kind, span) {
                    self.duplicate_setting(kind.keyword(), span, first);
                    applying.ok = false;
                }
            }
        }
        applying.out.limits = limits.or(&applying.out.limits);
    }
}
