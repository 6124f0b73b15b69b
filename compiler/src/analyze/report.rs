//! The analysis's findings as diagnostics: the one place that words them,
//! with the routes' names and spans, the request that shows each, and what
//! to do about it.

use zbin::ids::RouteId;
use zbin::model::Policy;
use zbin::table::{Alternative, Key};

use super::{Dim, Finding, Findings, Witness};
use crate::diagnostic::{Code, Diagnostic};
use crate::source::Span;

/// Every finding as a diagnostic, in the order found; `route_spans` holds
/// each route's span, by index.
pub fn diagnostics(findings: &Findings, policy: &Policy, route_spans: &[Span]) -> Vec<Diagnostic> {
    let report = Report { policy, route_spans };
    findings
        .list
        .iter()
        .map(|finding| match finding {
            Finding::Dead { route, dim, regex } => report.dead(*route, *dim, regex),
            Finding::Ambiguous { first, second, witness } => report.ambiguous(first, second, witness),
            Finding::Shadowed { route, key, by } => report.shadowed(*route, *key, by),
        })
        .collect()
}

struct Report<'a> {
    policy: &'a Policy,
    route_spans: &'a [Span],
}

impl Report<'_> {
    fn name(&self, route: RouteId) -> &str {
        &self.policy.routes[route.index()].name
    }

    fn span(&self, route: RouteId) -> Span {
        self.route_spans[route.index()]
    }

    fn dead(&self, route: RouteId, dim: Dim, regex: &str) -> Diagnostic {
        let (what, help) = match dim {
            Dim::Host => (
                "host",
                "hosts are matched in lower case, without port or trailing dot: write the regex in lower case, or start it with `(?i)`",
            ),
            Dim::Path => (
                "path",
                "paths are matched normalized (LANGUAGE.md §4.2): they start with `/`, have no empty, `.` or `..` segments, and keep only escapes of reserved bytes, in upper case",
            ),
        };
        Diagnostic::new(
            Code::UnreachableRoute,
            format!(
                "route `{}` is unreachable: no request {what} matches `{regex}`",
                self.name(route)
            ),
            self.span(route),
            "never matches",
        )
        .with_help(help)
    }

    fn ambiguous(&self, first: &Alternative, second: &Alternative, witness: &Witness) -> Diagnostic {
        let (first_name, second_name) = (self.name(first.route), self.name(second.route));
        let message = if witness.proven {
            format!(
                "routes `{first_name}` and `{second_name}` are ambiguous: both match {}",
                witness.describe()
            )
        } else {
            format!(
                "routes `{first_name}` and `{second_name}` may be ambiguous: their regexes are too large to prove that no request matches both (such a request would start like {})",
                witness.describe()
            )
        };
        Diagnostic::new(
            Code::AmbiguousRoutes,
            message,
            self.span(second.route),
            format!("`{second_name}` matches it"),
        )
        .with_label(self.span(first.route), format!("`{first_name}` matches it too"))
        .with_help(format!(
            "both have the same precedence ({}); give the one that should win a higher `priority`, or make their conditions disjoint",
            first.key
        ))
    }

    fn shadowed(&self, route: RouteId, key: Key, by: &Alternative) -> Diagnostic {
        let (name, shadow_name) = (self.name(route), self.name(by.route));
        Diagnostic::new(
            Code::UnreachableRoute,
            format!("route `{name}` is unreachable: route `{shadow_name}` matches every request it matches"),
            self.span(route),
            "never wins",
        )
        .with_label(self.span(by.route), format!("`{shadow_name}` wins instead"))
        .with_help(format!(
            "`{shadow_name}` takes precedence ({}) over `{name}` ({key}); give `{name}` a higher `priority` or narrow `{shadow_name}`",
            by.key
        ))
    }
}
