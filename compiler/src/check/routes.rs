//! Routes (LANGUAGE.md §4): their conditions, the one action, and
//! modifiers, with policies expanded where they are `use`d. The action
//! lives in `actions`, modifiers in `modifiers`, policies in `policies`.

use zbin::model;

use crate::ast::{
    Action, Condition, ConditionKind, HostPattern, Ident, ItemKind, PathPattern, Route, RouteStmt, Str, ValueMatch,
};
use crate::diagnostic::{Code, Diagnostic};
use crate::loader::Module;
use crate::source::Span;

use super::modifiers::Applied;
use super::policies::Policies;
use super::Checker;

/// A route's conditions as its statements are checked, each with where it
/// was written, to report one written twice.
struct Conditions<'r> {
    /// The route's name, for the reports.
    route: &'r str,
    host: Option<(model::HostMatch, Span)>,
    path: Option<(model::PathMatch, Span)>,
    /// The names the route's `path regex` captures, for its templates.
    captures: Vec<String>,
    methods: Option<(Vec<String>, Span)>,
    headers: Vec<(model::HeaderMatch, Span)>,
    queries: Vec<(model::QueryMatch, Span)>,
}

impl<'r> Conditions<'r> {
    fn new(route: &'r str) -> Self {
        Conditions {
            route,
            host: None,
            path: None,
            captures: Vec::new(),
            methods: None,
            headers: Vec::new(),
            queries: Vec::new(),
        }
    }
}

impl<'p> Checker<'p> {
    /// Every route in declaration order, and the span of each name.
    pub(super) fn routes(&mut self) -> (Vec<Option<model::Route>>, Vec<Span>) {
        let mut policies = self.policies();
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

    /// Checks a route's statements in the order written, then lowers its
    /// action and applies its modifiers to it.
    fn route(&mut self, route: &'p Route, module: &'p Module, policies: &mut Policies) -> Option<model::Route> {
        let mut priority: Option<(u32, Span)> = None;
        let mut conditions = Conditions::new(&route.name.node);
        let mut action: Option<&'p Action> = None;
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
                RouteStmt::Condition(condition) => self.condition(condition, &mut conditions),
                RouteStmt::Action(a) => match action {
                    Some(first) => self.two_actions(&route.name, a, first.span),
                    None => action = Some(a),
                },
                RouteStmt::Modifier(modifier) => self.modifier(modifier, module, policies, &mut applied),
            }
        }

        // A route without an action answers 404 (see `Action::NotFound`).
        let lowered_action = match action {
            Some(action) => self.action(action, module, &conditions.captures),
            None => Some(model::Action::NotFound),
        };
        let modifiers = self.apply(action.map(|a| &a.kind), &route.name.node, applied, &conditions.captures);

        Some(model::Route {
            name: route.name.node.clone(),
            priority: priority.map_or(0, |(p, _)| p),
            host: conditions.host.map_or(model::HostMatch::Any, |(h, _)| h),
            path: conditions.path.map_or(model::PathMatch::Any, |(p, _)| p),
            methods: conditions.methods.map(|(m, _)| m).unwrap_or_default(),
            headers: conditions.headers.into_iter().map(|(h, _)| h).collect(),
            queries: conditions.queries.into_iter().map(|(q, _)| q).collect(),
            action: lowered_action?,
            modifiers: modifiers?,
        })
    }

    /// Reports a route's second action: a route does one thing.
    fn two_actions(&mut self, route: &Ident, second: &Action, first: Span) {
        self.report(
            Diagnostic::new(
                Code::TwoActions,
                format!("route `{}` has two actions", route.node),
                second.span,
                format!("second action `{}`", second.kind.keyword()),
            )
            .with_label(first, "first action here")
            .with_help("a route does one thing; split it into two routes with different conditions"),
        );
    }

    // --------------------------------------------------------- conditions

    /// Checks one condition and adds it to the route's.
    fn condition(&mut self, condition: &Condition, conditions: &mut Conditions) {
        let span = condition.span;
        match &condition.kind {
            ConditionKind::Host(pattern) => self.host_condition(pattern, span, conditions),
            ConditionKind::Path(pattern) => self.path_condition(pattern, span, conditions),
            ConditionKind::Method(list) => self.method_condition(list, span, conditions),
            ConditionKind::Header { name, value } => self.header_condition(name, value.as_ref(), span, conditions),
            ConditionKind::Query { name, value } => self.query_condition(name, value.as_ref(), span, conditions),
        }
    }

    /// `host`: names, each kept once, or a regex; one per route.
    fn host_condition(&mut self, pattern: &HostPattern, span: Span, conditions: &mut Conditions) {
        if let Some((_, first)) = &conditions.host {
            let hint = "list several names on one `host` line";
            self.duplicate_condition(conditions.route, "host", span, *first, hint);
            return;
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
        conditions.host = Some((lowered, span));
    }

    /// `path`: exact, prefix or regex; one per route. A regex's named
    /// captures become the route's template variables.
    fn path_condition(&mut self, pattern: &PathPattern, span: Span, conditions: &mut Conditions) {
        if let Some((_, first)) = &conditions.path {
            let hint = "a `path regex` can match several shapes";
            self.duplicate_condition(conditions.route, "path", span, *first, hint);
            return;
        }
        let lowered = match pattern {
            PathPattern::Exact(p) => self.policy_path(p).map(model::PathMatch::Exact),
            PathPattern::Prefix(p) => self.policy_path(p).map(model::PathMatch::Prefix),
            PathPattern::Regex(r) => {
                if let Some(names) = self.regex(r) {
                    conditions.captures = names;
                }
                Some(model::PathMatch::Regex(r.value.clone()))
            }
        };
        conditions.path = Some((lowered.unwrap_or(model::PathMatch::Any), span));
    }

    /// `method`: methods, each kept once, sorted; one per route.
    fn method_condition(&mut self, list: &[Ident], span: Span, conditions: &mut Conditions) {
        if let Some((_, first)) = &conditions.methods {
            let hint = "list several methods on one `method` line";
            self.duplicate_condition(conditions.route, "method", span, *first, hint);
            return;
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
        conditions.methods = Some((out, span));
    }

    /// `header NAME [VALUE]`: present, exact or regex; one per header name.
    fn header_condition(&mut self, name: &Str, value: Option<&ValueMatch>, span: Span, conditions: &mut Conditions) {
        let Some(lowered_name) = self.header_name(name) else {
            return;
        };
        if let Some((_, first)) = conditions.headers.iter().find(|(h, _)| h.name == lowered_name) {
            let first = *first;
            self.duplicate_condition(
                conditions.route,
                &format!("header \"{lowered_name}\""),
                span,
                first,
                "a `header NAME regex` can accept several values",
            );
            return;
        }
        let value = match value {
            None => model::ValueMatch::Present,
            Some(ValueMatch::Exact(v)) => model::ValueMatch::Exact(v.value.clone()),
            Some(ValueMatch::Regex(r)) => {
                self.regex(r);
                model::ValueMatch::Regex(r.value.clone())
            }
        };
        let header = model::HeaderMatch {
            name: lowered_name,
            value,
        };
        conditions.headers.push((header, span));
    }

    /// `query NAME [VALUE]`: a named parameter, present or with a value;
    /// one per parameter name.
    fn query_condition(&mut self, name: &Str, value: Option<&Str>, span: Span, conditions: &mut Conditions) {
        if name.value.is_empty() {
            self.report(Diagnostic::new(
                Code::InvalidLiteral,
                "empty query parameter name",
                name.span,
                "needs a name",
            ));
            return;
        }
        if let Some((_, first)) = conditions.queries.iter().find(|(q, _)| q.name == name.value) {
            let first = *first;
            self.duplicate_condition(conditions.route, &format!("query \"{}\"", name.value), span, first, "");
            return;
        }
        let query = model::QueryMatch {
            name: name.value.clone(),
            value: value.map(|v| v.value.clone()),
        };
        conditions.queries.push((query, span));
    }

    /// Reports a condition written twice in one route; `hint` says how
    /// one condition can say both, where there is a way.
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
}
