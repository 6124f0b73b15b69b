//! Checking and lowering: one walk over the loaded program that reports
//! every problem it finds (all of them, in one run) and, when there is
//! none, produces the `zbin` model the artifact is built from.
//!
//! Names live in one namespace per kind (routes, upstreams, agents,
//! policies) across all files of the program.

mod actions;
mod agents;
mod cases;
mod globals;
mod modifiers;
mod policies;
mod regex;
mod routes;
mod templates;
mod upstreams;
mod values;

use std::collections::HashMap;

use zbin::model;

use crate::ast::{Ident, ItemKind};
use crate::diagnostic::{did_you_mean, Code, Diagnostic};
use crate::loader::{Module, Program};
use crate::source::Span;

pub use cases::{Expect, TestCase};
pub use regex::{RegexProblem, REGEX_DFA_SIZE_CAP};

/// A checked program.
#[derive(Debug, Clone)]
pub struct Checked {
    pub policy: model::Policy,
    /// The span of each route's name, by route index.
    pub route_spans: Vec<Span>,
    pub tests: Vec<TestCase>,
}

/// The kinds of named things, each its own namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum NameKind {
    Route,
    Upstream,
    Agent,
    Policy,
}

impl NameKind {
    fn noun(self) -> &'static str {
        match self {
            NameKind::Route => "route",
            NameKind::Upstream => "upstream",
            NameKind::Agent => "agent",
            NameKind::Policy => "policy",
        }
    }
}

/// A declared name.
#[derive(Debug, Clone)]
struct Declaration {
    /// Index among the declarations of its kind.
    index: usize,
    span: Span,
    stdlib: bool,
    used: bool,
}

pub(crate) struct Checker<'p> {
    program: &'p Program,
    diagnostics: Vec<Diagnostic>,
    names: HashMap<NameKind, HashMap<String, Declaration>>,
    /// Declaration order, per kind, as indices into the lowered vectors.
    order: HashMap<NameKind, Vec<String>>,
    /// Policies being expanded, outermost first, to report cycles whole.
    policy_stack: Vec<String>,
}

/// Checks a loaded program. The model is returned only when no error was
/// found; warnings come back either way.
pub fn check(program: &Program) -> (Option<Checked>, Vec<Diagnostic>) {
    let mut checker = Checker {
        program,
        diagnostics: Vec::new(),
        names: HashMap::new(),
        order: HashMap::new(),
        policy_stack: Vec::new(),
    };
    checker.declare_all();

    let mut policy = model::Policy::default();
    checker.globals(&mut policy);
    let upstreams = checker.upstreams();
    let agents = checker.agents();
    let (routes, route_spans) = checker.routes();
    let servers: Vec<String> = upstreams
        .iter()
        .flatten()
        .flat_map(|u| u.servers.iter().map(|s| s.addr.clone()))
        .collect();
    let tests = checker.tests(&servers);
    checker.unused();

    let Checker { diagnostics, .. } = checker;
    let failed = diagnostics.iter().any(Diagnostic::is_error);
    let checked = if failed {
        None
    } else {
        policy.upstreams = upstreams.into_iter().flatten().collect();
        policy.agents = agents.into_iter().flatten().collect();
        policy.routes = routes.into_iter().flatten().collect();
        Some(Checked {
            policy,
            route_spans,
            tests,
        })
    };
    (checked, diagnostics)
}

impl<'p> Checker<'p> {
    pub(crate) fn report(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }

    /// How many errors were reported so far; a part is lowered only when
    /// checking it added none.
    fn error_count(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }

    /// Every item of every module, with its module.
    fn items(&self) -> impl Iterator<Item = (&'p Module, &'p crate::ast::Item)> {
        let program: &'p Program = self.program;
        program
            .modules
            .iter()
            .flat_map(|module| module.ast.items.iter().map(move |item| (module, item)))
    }

    // -------------------------------------------------------------- names

    fn declare_all(&mut self) {
        for (module, item) in self.items() {
            let (kind, name) = match &item.kind {
                ItemKind::Route(r) => (NameKind::Route, &r.name),
                ItemKind::Upstream(u) => (NameKind::Upstream, &u.name),
                ItemKind::Agent(a) => (NameKind::Agent, &a.name),
                ItemKind::Policy(p) => (NameKind::Policy, &p.name),
                _ => continue,
            };
            self.declare(kind, name, module.is_stdlib);
        }
    }

    fn declare(&mut self, kind: NameKind, name: &Ident, stdlib: bool) {
        let table = self.names.entry(kind).or_default();
        if let Some(first) = table.get(&name.node) {
            let first = first.span;
            self.report(
                Diagnostic::new(
                    Code::DuplicateName,
                    format!("{} `{}` is defined twice", kind.noun(), name.node),
                    name.span,
                    "defined again here",
                )
                .with_label(first, "first defined here")
                .with_help(format!("give each {} its own name", kind.noun())),
            );
            return;
        }
        let order = self.order.entry(kind).or_default();
        table.insert(
            name.node.clone(),
            Declaration {
                index: order.len(),
                span: name.span,
                stdlib,
                used: false,
            },
        );
        order.push(name.node.clone());
    }

    /// Looks up a reference and marks the name used; reports it when
    /// unknown, with the closest known name.
    pub(crate) fn resolve(&mut self, kind: NameKind, name: &Ident) -> Option<usize> {
        let table = self.names.entry(kind).or_default();
        if let Some(declaration) = table.get_mut(&name.node) {
            declaration.used = true;
            return Some(declaration.index);
        }
        let help = did_you_mean(&name.node, table.keys().map(String::as_str));
        let help = help.or_else(|| match kind {
            NameKind::Policy => crate::stdlib::module_defining_policy(&name.node).map(|module| {
                format!(
                    "`{}` is in the standard library: add `import \"std/{module}\"`",
                    name.node
                )
            }),
            _ => None,
        });
        let help = help.or_else(|| {
            table.is_empty().then(|| {
                format!(
                    "no {} is defined; define one with `{} {} {{ ... }}`",
                    kind.noun(),
                    kind.noun(),
                    name.node
                )
            })
        });
        self.report(
            Diagnostic::new(
                Code::UnknownName,
                format!("unknown {} `{}`", kind.noun(), name.node),
                name.span,
                format!("no {} has this name", kind.noun()),
            )
            .with_optional_help(help),
        );
        None
    }

    fn unused(&mut self) {
        let mut found = Vec::new();
        for (kind, code) in [
            (NameKind::Upstream, Code::UnusedUpstream),
            (NameKind::Agent, Code::UnusedAgent),
            (NameKind::Policy, Code::UnusedPolicy),
        ] {
            let Some(table) = self.names.get(&kind) else { continue };
            for (name, declaration) in table {
                if !declaration.used && !declaration.stdlib {
                    let what = match kind {
                        NameKind::Upstream => "no route proxies to it",
                        NameKind::Agent => "no route or policy calls it",
                        _ => "no route or policy uses it",
                    };
                    found.push(
                        Diagnostic::new(code, format!("unused {} `{name}`", kind.noun()), declaration.span, what)
                            .with_help(match kind {
                                NameKind::Upstream => "remove it, or proxy to it from a route",
                                NameKind::Agent => "remove it, or call it with `agents` in a route",
                                _ => "remove it, or apply it with `use` in a route",
                            }),
                    );
                }
            }
        }
        found.sort_by_key(|d| (d.primary_span().file, d.primary_span().start));
        self.diagnostics.extend(found);
    }

    /// Reports a setting written twice where once is the most.
    pub(crate) fn duplicate_setting(&mut self, what: &str, again: Span, first: Span) {
        let diagnostic = Diagnostic::new(
            Code::DuplicateSetting,
            format!("`{what}` is set twice"),
            again,
            "set again here",
        );
        let diagnostic = if first != again {
            diagnostic.with_label(first, "first set here")
        } else {
            diagnostic
        };
        self.report(diagnostic.with_help("keep one of them"));
    }
}
