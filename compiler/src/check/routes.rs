//! Routes and policies: conditions, the one action, and modifiers, with
//! policies expanded where they are `use`d. A modifier is checked once
//! where it is written; whether it fits the action, and whether its
//! template variables exist, is checked for each route it lands in.

use std::collections::HashMap;

use zbin::ids::{AgentId, UpstreamId};
use zbin::model::{self, TemplatePart, TemplateVar};

use crate::ast::{
    ActionKind, ConditionKind, HeaderEditKind, HostPattern, Ident, ItemKind, LimitKind, Modifier, ModifierKind,
    PathPattern, RateKey, RateOption, Route, RouteStmt, StaticOption, Str, ValueMatch,
};
use crate::diagnostic::{did_you_mean, Code, Diagnostic};
use crate::loader::{resolve_relative, Module};
use crate::source::Span;

use super::{Checker, NameKind};

/// A template split into literal text and variables, as written.
#[derive(Debug, Clone)]
struct ParsedTemplate {
    parts: Vec<RawPart>,
}

#[derive(Debug, Clone)]
enum RawPart {
    Literal(String),
    Var(String, Span),
}

/// A modifier after its own values were checked.
#[derive(Debug, Clone)]
enum Lowered {
    RewritePrefix { from: String, to: String },
    Rewrite(ParsedTemplate),
    RequestHeaders(Vec<model::HeaderEdit>),
    ResponseHeaders(Vec<model::HeaderEdit>),
    Agents(Vec<(AgentId, Ident)>),
    RateLimit(model::RateLimit),
    Timeout(u64),
    Limits(model::Limits),
}

/// A modifier as it applies to a route: where it is written, and the
/// `use` that brought it in, if any.
#[derive(Debug, Clone)]
struct Applied {
    lowered: Lowered,
    keyword: &'static str,
    span: Span,
    via: Option<Span>,
}

/// The state of a policy's expansion, for cycle detection.
#[derive(Debug, Clone)]
enum PolicyState {
    InProgress,
    Done(Vec<Applied>),
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
            _ => Ok(()),
        }
    }
}

impl<'p> Checker<'p> {
    /// Every route in declaration order, and the span of each name.
    pub(super) fn routes(&mut self) -> (Vec<Option<model::Route>>, Vec<Span>) {
        let mut policies: HashMap<String, PolicyState> = HashMap::new();
        // Policies are checked once each, used or not.
        for (module, item) in self.items() {
            if let ItemKind::Policy(policy) = &item.kind {
                if !policies.contains_key(&policy.name.node) {
                    self.expand_policy(&policy.name.node, module, &mut policies);
                }
            }
        }
        let mut routes = Vec::new();
        let mut spans = Vec::new();
        let mut names = std::collections::HashSet::new();
        for (module, item) in self.items() {
            let ItemKind::Route(route) = &item.kind else { continue };
            let errors_before = self.error_count();
            let lowered = self.route(route, module, &mut policies);
            // A duplicate (already reported) is checked all the same, so
            // that every error shows in one run, but not kept.
            if names.insert(route.name.node.as_str()) {
                spans.push(route.name.span);
                routes.push(lowered.filter(|_| self.error_count() == errors_before));
            }
        }
        (routes, spans)
    }

    /// The modifiers of policy `name`, expanded; `None` when it is unknown
    /// or part of a cycle (both reported).
    fn expand_policy(
        &mut self,
        name: &str,
        module: &'p Module,
        policies: &mut HashMap<String, PolicyState>,
    ) -> Option<Vec<Applied>> {
        match policies.get(name) {
            Some(PolicyState::Done(applied)) => return Some(applied.clone()),
            Some(PolicyState::InProgress) => return None,
            None => {}
        }
        let (policy_module, policy) = self.items().find_map(|(m, item)| match &item.kind {
            ItemKind::Policy(p) if p.name.node == name => Some((m, p)),
            _ => None,
        })?;
        let _ = module;
        policies.insert(name.to_string(), PolicyState::InProgress);
        self.policy_stack.push(name.to_string());
        let mut applied = Vec::new();
        for modifier in &policy.modifiers {
            self.modifier(modifier, policy_module, policies, &mut applied);
        }
        self.policy_stack.pop();
        policies.insert(name.to_string(), PolicyState::Done(applied.clone()));
        Some(applied)
    }

    /// Checks one modifier where it is written and appends what it
    /// applies (a `use` appends the policy's modifiers).
    fn modifier(
        &mut self,
        modifier: &'p Modifier,
        module: &'p Module,
        policies: &mut HashMap<String, PolicyState>,
        out: &mut Vec<Applied>,
    ) {
        let keyword = modifier.kind.keyword();
        let lowered = match &modifier.kind {
            ModifierKind::Use(names) => {
                for name in names {
                    self.use_policy(name, module, policies, out);
                }
                return;
            }
            ModifierKind::RewritePrefix { from, to } => {
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
                    Some(from) if to_ok => Lowered::RewritePrefix {
                        from,
                        to: to.value.clone(),
                    },
                    _ => return,
                }
            }
            ModifierKind::Rewrite(template) => {
                let Some(parsed) = self.parse_template(template) else {
                    return;
                };
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
                        return;
                    }
                }
                Lowered::Rewrite(parsed)
            }
            ModifierKind::RequestHeaders(edits) => Lowered::RequestHeaders(self.header_edits(edits)),
            ModifierKind::ResponseHeaders(edits) => Lowered::ResponseHeaders(self.header_edits(edits)),
            ModifierKind::Agents(names) => {
                let mut agents: Vec<(AgentId, Ident)> = Vec::new();
                for name in names {
                    if let Some(index) = self.resolve(NameKind::Agent, name) {
                        agents.push((AgentId::new(index), name.clone()));
                    }
                }
                Lowered::Agents(agents)
            }
            ModifierKind::RateLimit { rate, options } => {
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
                let Some((requests, per)) = rate else { return };
                Lowered::RateLimit(model::RateLimit {
                    requests,
                    per,
                    // Without `burst`, a client may spend one period's worth at once.
                    burst: burst.map_or(requests, |(b, _)| b),
                    key: key.map_or(model::RateKey::ClientIp, |(k, _)| k),
                })
            }
            ModifierKind::Timeout(duration) => match self.duration(duration, "timeout") {
                Some(ms) => Lowered::Timeout(ms),
                None => return,
            },
            ModifierKind::Limits(stmts) => Lowered::Limits(self.limits(stmts, false)),
        };
        out.push(Applied {
            lowered,
            keyword,
            span: modifier.span,
            via: None,
        });
    }

    fn use_policy(
        &mut self,
        name: &Ident,
        module: &'p Module,
        policies: &mut HashMap<String, PolicyState>,
        out: &mut Vec<Applied>,
    ) {
        self.resolve(NameKind::Policy, name);
        if matches!(policies.get(&name.node), Some(PolicyState::InProgress)) {
            let start = self.policy_stack.iter().position(|p| *p == name.node).unwrap_or(0);
            let chain: Vec<String> = self.policy_stack[start..]
                .iter()
                .chain(std::iter::once(&name.node))
                .map(|p| format!("`{p}`"))
                .collect();
            self.report(
                Diagnostic::new(
                    Code::PolicyCycle,
                    format!("policy cycle: {}", chain.join(" uses ")),
                    name.span,
                    "this `use` closes a cycle",
                )
                .with_help("a policy cannot include itself; move the shared modifiers into a third policy"),
            );
            return;
        }
        if let Some(applied) = self.expand_policy(&name.node, module, policies) {
            out.extend(applied.into_iter().map(|a| Applied {
                via: Some(name.span),
                ..a
            }));
        }
    }

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

    // ------------------------------------------------------------- routes

    fn route(
        &mut self,
        route: &'p Route,
        module: &'p Module,
        policies: &mut HashMap<String, PolicyState>,
    ) -> Option<model::Route> {
        let mut priority: Option<(u32, Span)> = None;
        let mut host: Option<(model::HostMatch, Span)> = None;
        let mut path: Option<(model::PathMatch, Span)> = None;
        let mut captures: Vec<String> = Vec::new();
        let mut methods: Option<(Vec<String>, Span)> = None;
        let mut headers: Vec<(model::HeaderMatch, Span)> = Vec::new();
        let mut queries: Vec<(model::QueryMatch, Span)> = Vec::new();
        let mut action: Option<(&'p crate::ast::Action, Span)> = None;
        let mut applied: Vec<Applied> = Vec::new();

        for stmt in &route.stmts {
            match stmt {
                RouteStmt::Priority(n, span) => {
                    if let Some((_, first)) = priority {
                        self.duplicate_setting("priority", *span, first);
                    } else if let Some(p) = self.integer(n, "priority", 0..=1_000_000) {
                        priority = Some((p as u32, *span));
                    }
                }
                RouteStmt::Condition(condition) => {
                    let span = condition.span;
                    match &condition.kind {
                        ConditionKind::Host(pattern) => {
                            if let Some((_, first)) = &host {
                                self.duplicate_condition(
                                    &route.name.node,
                                    "host",
                                    span,
                                    *first,
                                    "list several names on one `host` line",
                                );
                                continue;
                            }
                            let lowered = match pattern {
                                HostPattern::Names(names) => {
                                    let mut out: Vec<model::HostName> = Vec::new();
                                    for name in names {
                                        if let Some(name) = self.host_name(name) {
                                            if !out.contains(&name) {
                                                out.push(name);
                                            }
                                        }
                                    }
                                    model::HostMatch::Names(out)
                                }
                                HostPattern::Regex(regex) => {
                                    self.regex(regex);
                                    model::HostMatch::Regex(regex.value.clone())
                                }
                            };
                            host = Some((lowered, span));
                        }
                        ConditionKind::Path(pattern) => {
                            if let Some((_, first)) = &path {
                                self.duplicate_condition(
                                    &route.name.node,
                                    "path",
                                    span,
                                    *first,
                                    "a `path regex` can match several shapes",
                                );
                                continue;
                            }
                            let lowered = match pattern {
                                PathPattern::Exact(p) => self.policy_path(p).map(model::PathMatch::Exact),
                                PathPattern::Prefix(p) => self.policy_path(p).map(model::PathMatch::Prefix),
                                PathPattern::Regex(r) => {
                                    if let Some(names) = self.regex(r) {
                                        captures = names;
                                    }
                                    Some(model::PathMatch::Regex(r.value.clone()))
                                }
                            };
                            path = Some((lowered.unwrap_or(model::PathMatch::Any), span));
                        }
                        ConditionKind::Method(list) => {
                            if let Some((_, first)) = &methods {
                                self.duplicate_condition(
                                    &route.name.node,
                                    "method",
                                    span,
                                    *first,
                                    "list several methods on one `method` line",
                                );
                                continue;
                            }
                            let mut out: Vec<String> = Vec::new();
                            for method in list {
                                if let Some(m) = self.method(method) {
                                    if !out.contains(&m) {
                                        out.push(m);
                                    }
                                }
                            }
                            out.sort();
                            methods = Some((out, span));
                        }
                        ConditionKind::Header { name, value } => {
                            let Some(lowered_name) = self.header_name(name) else {
                                continue;
                            };
                            if let Some((_, first)) = headers.iter().find(|(h, _)| h.name == lowered_name) {
                                let first = *first;
                                self.duplicate_condition(
                                    &route.name.node,
                                    &format!("header \"{lowered_name}\""),
                                    span,
                                    first,
                                    "a `header NAME regex` can accept several values",
                                );
                                continue;
                            }
                            let value = match value {
                                None => model::ValueMatch::Present,
                                Some(ValueMatch::Exact(v)) => model::ValueMatch::Exact(v.value.clone()),
                                Some(ValueMatch::Regex(r)) => {
                                    self.regex(r);
                                    model::ValueMatch::Regex(r.value.clone())
                                }
                            };
                            headers.push((
                                model::HeaderMatch {
                                    name: lowered_name,
                                    value,
                                },
                                span,
                            ));
                        }
                        ConditionKind::Query { name, value } => {
                            if name.value.is_empty() {
                                self.report(Diagnostic::new(
                                    Code::InvalidLiteral,
                                    "empty query parameter name",
                                    name.span,
                                    "needs a name",
                                ));
                                continue;
                            }
                            if let Some((_, first)) = queries.iter().find(|(q, _)| q.name == name.value) {
                                let first = *first;
                                self.duplicate_condition(
                                    &route.name.node,
                                    &format!("query \"{}\"", name.value),
                                    span,
                                    first,
                                    "",
                                );
                                continue;
                            }
                            queries.push((
                                model::QueryMatch {
                                    name: name.value.clone(),
                                    value: value.as_ref().map(|v| v.value.clone()),
                                },
                                span,
                            ));
                        }
                    }
                }
                RouteStmt::Action(a) => {
                    if let Some((_, first)) = action {
                        self.report(
                            Diagnostic::new(
                                Code::TwoActions,
                                format!("route `{}` has two actions", route.name.node),
                                a.span,
                                format!("second action `{}`", a.kind.keyword()),
                            )
                            .with_label(first, "first action here")
                            .with_help("a route does one thing; split it into two routes with different conditions"),
                        );
                        continue;
                    }
                    action = Some((a, a.span));
                }
                RouteStmt::Modifier(modifier) => self.modifier(modifier, module, policies, &mut applied),
            }
        }

        // A route without an action answers 404 (see `Action::NotFound`).
        let lowered_action = match action {
            Some((action, _)) => self.action(action, module, &captures),
            None => Some(model::Action::NotFound),
        };
        let modifiers = self.apply(action.map(|(a, _)| &a.kind), &route.name.node, applied, &captures);

        Some(model::Route {
            name: route.name.node.clone(),
            priority: priority.map_or(0, |(p, _)| p),
            host: host.map_or(model::HostMatch::Any, |(h, _)| h),
            path: path.map_or(model::PathMatch::Any, |(p, _)| p),
            methods: methods.map(|(m, _)| m).unwrap_or_default(),
            headers: headers.into_iter().map(|(h, _)| h).collect(),
            queries: queries.into_iter().map(|(q, _)| q).collect(),
            action: lowered_action?,
            modifiers: modifiers?,
        })
    }

    fn duplicate_condition(&mut self, route: &str, what: &str, again: Span, first: Span, hint: &str) {
        let mut diagnostic = Diagnostic::new(
            Code::DuplicateCondition,
            format!("route `{route}` has two `{what}` conditions"),
            again,
            "second condition",
        )
        .with_label(first, "first condition");
        if !hint.is_empty() {
            diagnostic = diagnostic.with_help(format!("a route has at most one; {hint}"));
        }
        self.report(diagnostic);
    }

    fn action(
        &mut self,
        action: &'p crate::ast::Action,
        module: &Module,
        captures: &[String],
    ) -> Option<model::Action> {
        match &action.kind {
            ActionKind::Proxy(name) => {
                let index = self.resolve(NameKind::Upstream, name)?;
                Some(model::Action::Proxy(vec![(UpstreamId::new(index), 100)]))
            }
            ActionKind::Split(targets) => {
                let mut out: Vec<(UpstreamId, u8)> = Vec::new();
                let mut seen: HashMap<&str, Span> = HashMap::new();
                let mut total: u64 = 0;
                let mut complete = true;
                for (name, share) in targets {
                    if let Some(first) = seen.insert(name.node.as_str(), name.span) {
                        self.report(
                            Diagnostic::new(
                                Code::DuplicateSetting,
                                format!("upstream `{}` appears twice in this split", name.node),
                                name.span,
                                "listed again here",
                            )
                            .with_label(first, "first listed here")
                            .with_help("give it one share that adds both up"),
                        );
                        complete = false;
                        continue;
                    }
                    let index = self.resolve(NameKind::Upstream, name);
                    let share = self.percent(share);
                    match (index, share) {
                        (Some(index), Some(share)) => {
                            total += u64::from(share);
                            out.push((UpstreamId::new(index), share));
                        }
                        _ => complete = false,
                    }
                }
                if complete && total != 100 {
                    let shares: Vec<String> = out.iter().map(|(_, s)| format!("{s}%")).collect();
                    self.report(
                        Diagnostic::new(
                            Code::SplitSum,
                            format!("split shares add up to {total}%, not 100%"),
                            action.span,
                            format!("{} = {total}%", shares.join(" + ")),
                        )
                        .with_help("shares are percentages of the traffic and must add up to 100%"),
                    );
                    return None;
                }
                complete.then_some(model::Action::Proxy(out))
            }
            ActionKind::Static { root, options } => {
                let mut index: Option<(String, Span)> = None;
                let mut fallback: Option<(String, Span)> = None;
                for option in options {
                    let (slot, value, at, word) = match option {
                        StaticOption::Index(v, at) => (&mut index, v, *at, "index"),
                        StaticOption::Fallback(v, at) => (&mut fallback, v, *at, "fallback"),
                    };
                    if let Some((_, first)) = slot {
                        let first = *first;
                        self.duplicate_setting(word, at, first);
                        continue;
                    }
                    if value.value.is_empty()
                        || value.value.split('/').any(|s| s == "..")
                        || value.value.starts_with('/')
                    {
                        self.report(
                            Diagnostic::new(
                                Code::InvalidPath,
                                format!("`{word}` file `{}` is not inside the root", value.value),
                                value.span,
                                "must be a relative path inside the static root",
                            )
                            .with_help("name a file relative to the root, such as `index.html`"),
                        );
                        continue;
                    }
                    *slot = Some((value.value.clone(), at));
                }
                if root.value.is_empty() {
                    self.report(Diagnostic::new(
                        Code::InvalidPath,
                        "empty static root",
                        root.span,
                        "needs a directory",
                    ));
                    return None;
                }
                Some(model::Action::Static {
                    root: resolve_relative(module.rel_dir.as_deref(), &root.value),
                    index: index.map(|(v, _)| v),
                    fallback: fallback.map(|(v, _)| v),
                })
            }
            ActionKind::Redirect { status, location } => {
                let status_value = self.integer(status, "redirect status", 0..=u64::MAX);
                let status = match status_value {
                    Some(s @ (301 | 302 | 307 | 308)) => Some(s as u16),
                    Some(_) => {
                        self.report(
                            Diagnostic::new(
                                Code::OutOfRange,
                                format!("redirect status `{}` is not a redirect", status.text),
                                status.span,
                                "expected 301, 302, 307 or 308",
                            )
                            .with_help("301 and 308 are permanent, 302 and 307 temporary; 307 and 308 keep the method and body"),
                        );
                        None
                    }
                    None => None,
                };
                let template = self.parse_template(location);
                let template = template.and_then(|t| self.resolve_template(&t, captures, "redirect"));
                Some(model::Action::Redirect {
                    status: status?,
                    location: template?,
                })
            }
            ActionKind::Respond {
                status,
                body,
                content_type,
            } => {
                // 1xx are interim answers: a client given one as the final answer
                // waits for another that never comes.
                let status = self.status(status, "respond status", 200..=599)?;
                Some(model::Action::Respond {
                    status,
                    body: body.as_ref().map(|b| b.value.clone()).unwrap_or_default(),
                    content_type: content_type.as_ref().map(|c| c.value.clone()),
                })
            }
        }
    }

    /// Applies the route's modifiers, in order, to its action.
    fn apply(
        &mut self,
        action: Option<&ActionKind>,
        route: &str,
        applied: Vec<Applied>,
        captures: &[String],
    ) -> Option<model::Modifiers> {
        let mut out = model::Modifiers::default();
        let mut single: HashMap<&'static str, Span> = HashMap::new();
        let mut limit_spans: HashMap<LimitKind, Span> = HashMap::new();
        let mut agent_calls: HashMap<AgentId, Span> = HashMap::new();
        let mut ok = true;
        for a in applied {
            if let Err(why) = a.lowered.fits(action) {
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
                ok = false;
                continue;
            }
            let once = matches!(
                a.lowered,
                Lowered::Rewrite(..) | Lowered::RewritePrefix { .. } | Lowered::RateLimit(_) | Lowered::Timeout(_)
            );
            if once {
                if let Some(first) = single.insert(a.keyword, a.span) {
                    let mut diagnostic = Diagnostic::new(
                        Code::DuplicateSetting,
                        format!("`{}` is set twice for route `{route}`", a.keyword),
                        a.span,
                        "set again here",
                    )
                    .with_label(first, "first set here");
                    if let Some(via) = a.via {
                        diagnostic = diagnostic.with_label(via, "through this `use`");
                    }
                    self.report(
                        diagnostic.with_help("keep one of them; a route's modifiers do not override each other"),
                    );
                    ok = false;
                    continue;
                }
            }
            match a.lowered {
                Lowered::RewritePrefix { from, to } => out.rewrite = Some(model::Rewrite::Prefix { from, to }),
                Lowered::Rewrite(template) => match self.resolve_template(&template, captures, "rewrite") {
                    Some(t) => out.rewrite = Some(model::Rewrite::Template(t)),
                    None => ok = false,
                },
                Lowered::RequestHeaders(edits) => out.request_headers.extend(edits),
                Lowered::ResponseHeaders(edits) => out.response_headers.extend(edits),
                Lowered::Agents(agents) => {
                    for (agent, name) in agents {
                        if let Some(first) = agent_calls.get(&agent) {
                            let mut diagnostic = Diagnostic::new(
                                Code::DuplicateSetting,
                                format!("agent `{}` is called twice by route `{route}`", name.node),
                                name.span,
                                "called again here",
                            )
                            .with_label(*first, "first called here");
                            if let Some(via) = a.via {
                                diagnostic = diagnostic.with_label(via, "through this `use`");
                            }
                            self.report(diagnostic.with_help("each agent sees a request once"));
                            ok = false;
                        } else {
                            agent_calls.insert(agent, name.span);
                            out.agents.push(agent);
                        }
                    }
                }
                Lowered::RateLimit(limit) => out.rate_limit = Some(limit),
                Lowered::Timeout(ms) => out.timeout = Some(ms),
                Lowered::Limits(limits) => {
                    for kind in LimitKind::ALL {
                        if set_in(&limits, kind) {
                            if let Some(first) = limit_spans.insert(kind, a.span) {
                                self.duplicate_setting(kind.keyword(), a.span, first);
                                ok = false;
                            }
                        }
                    }
                    out.limits = limits.or(&out.limits);
                }
            }
        }
        ok.then_some(out)
    }

    // ---------------------------------------------------------- templates

    /// Splits `{name}` variables out of a template; `{{` and `}}` are
    /// literal braces.
    fn parse_template(&mut self, template: &Str) -> Option<ParsedTemplate> {
        let text = template.value.as_str();
        // Spans point into the string only when its text is as written.
        let written = self.program.sources.snippet(template.span);
        let offset = if template.raw { 2 } else { 1 };
        let exact = written.len() == text.len() + offset + 1;
        let at = |start: usize, end: usize| {
            if exact {
                Span::new(
                    template.span.file,
                    template.span.start + offset + start,
                    template.span.start + offset + end,
                )
            } else {
                template.span
            }
        };
        let mut parts = Vec::new();
        let mut literal = String::new();
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'{' if bytes.get(i + 1) == Some(&b'{') => {
                    literal.push('{');
                    i += 2;
                }
                b'}' if bytes.get(i + 1) == Some(&b'}') => {
                    literal.push('}');
                    i += 2;
                }
                b'{' => {
                    let Some(len) = text[i + 1..].find('}') else {
                        self.report(
                            Diagnostic::new(
                                Code::InvalidTemplate,
                                format!("unclosed `{{` in template `{text}`"),
                                at(i, i + 1),
                                "opened here",
                            )
                            .with_help("close the variable with `}`, or write `{{` for a literal brace"),
                        );
                        return None;
                    };
                    let name = &text[i + 1..i + 1 + len];
                    if !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                        if !literal.is_empty() {
                            parts.push(RawPart::Literal(std::mem::take(&mut literal)));
                        }
                        parts.push(RawPart::Var(name.to_string(), at(i, i + len + 2)));
                    } else {
                        self.report(
                            Diagnostic::new(
                                Code::InvalidTemplate,
                                format!("invalid template variable `{{{name}}}`"),
                                at(i, i + len + 2),
                                "not a variable name",
                            )
                            .with_help("variables are names such as `{path}`; write `{{` and `}}` for literal braces"),
                        );
                        return None;
                    }
                    i += len + 2;
                }
                b'}' => {
                    self.report(
                        Diagnostic::new(
                            Code::InvalidTemplate,
                            format!("unmatched `}}` in template `{text}`"),
                            at(i, i + 1),
                            "no `{` opens this",
                        )
                        .with_help("write `}}` for a literal brace"),
                    );
                    return None;
                }
                _ => {
                    let len = text[i..].chars().next().map_or(1, char::len_utf8);
                    literal.push_str(&text[i..i + len]);
                    i += len;
                }
            }
        }
        if !literal.is_empty() {
            parts.push(RawPart::Literal(literal));
        }
        Some(ParsedTemplate { parts })
    }

    /// Resolves a template's variables against the builtins and the
    /// route's captures.
    fn resolve_template(
        &mut self,
        template: &ParsedTemplate,
        captures: &[String],
        used_by: &str,
    ) -> Option<model::Template> {
        let mut parts = Vec::new();
        let mut ok = true;
        for part in &template.parts {
            match part {
                RawPart::Literal(text) => parts.push(TemplatePart::Literal(text.clone())),
                RawPart::Var(name, span) => {
                    if let Some(var) = TemplateVar::builtin(name) {
                        parts.push(TemplatePart::Var(var));
                    } else if captures.iter().any(|c| c == name) {
                        parts.push(TemplatePart::Var(TemplateVar::Capture(name.clone())));
                    } else {
                        let known = TemplateVar::BUILTINS
                            .iter()
                            .copied()
                            .chain(captures.iter().map(String::as_str));
                        let help = did_you_mean(name, known).unwrap_or_else(|| {
                            if captures.is_empty() {
                                format!(
                                    "{used_by} templates know `{{host}}`, `{{path}}`, `{{query}}`, `{{scheme}}`, `{{request_id}}` and the named captures of the route's `path regex`, such as `(?P<{name}>[^/]+)`"
                                )
                            } else {
                                let names: Vec<String> = captures.iter().map(|c| format!("`{{{c}}}`")).collect();
                                format!("this route's `path regex` captures {}", names.join(", "))
                            }
                        });
                        self.report(
                            Diagnostic::new(
                                Code::InvalidTemplate,
                                format!("unknown template variable `{{{name}}}`"),
                                *span,
                                "no capture or builtin has this name",
                            )
                            .with_help(help),
                        );
                        ok = false;
                    }
                }
            }
        }
        ok.then_some(model::Template { parts })
    }
}
