//! Checking and lowering: one walk over the loaded program that reports
//! every problem it finds (all of them, in one run) and, when there is
//! none, produces the `zbin` model the artifact is built from.
//!
//! Names live in one namespace per kind (routes, upstreams, agents,
//! policies) across all files of the program.

mod actions;
mod agents;
mod cases;
mod modifiers;
mod policies;
mod regex;
mod routes;
mod templates;
mod upstreams;
mod values;

use std::collections::HashMap;

use zbin::model;

use crate::ast::{Ident, ItemKind, ListenOption, TlsStmt};
use crate::diagnostic::{did_you_mean, Code, Diagnostic};
use crate::loader::{resolve_relative, Module, Program};
use crate::source::Span;
use values::Kind;

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

    // ------------------------------------------------------------ globals

    fn globals(&mut self, policy: &mut model::Policy) {
        let mut admin_span: Option<Span> = None;
        let mut limits_span: Option<Span> = None;
        let mut listen_spans: HashMap<String, Span> = HashMap::new();
        let mut any_listen = false;
        for (module, item) in self.items() {
            match &item.kind {
                ItemKind::Listen(listen) => {
                    any_listen = true;
                    let addr = self.listen_addr(&listen.addr, "0.0.0.0");
                    let mut tls = None;
                    let mut http2: Option<Span> = None;
                    let mut tls_span: Option<Span> = None;
                    for option in &listen.options {
                        match option {
                            ListenOption::Http2(span) => {
                                if let Some(first) = http2 {
                                    self.duplicate_setting("http2", *span, first);
                                }
                                http2 = Some(*span);
                            }
                            ListenOption::Tls(stmts, span) => {
                                if let Some(first) = tls_span {
                                    self.duplicate_setting("tls", *span, first);
                                    continue;
                                }
                                tls_span = Some(*span);
                                tls = self.tls(stmts, *span, module);
                            }
                        }
                    }
                    let http2 = http2.is_some();
                    if let Some(addr) = addr {
                        if let Some(first) = listen_spans.get(&addr) {
                            let first = *first;
                            self.report(
                                Diagnostic::new(
                                    Code::DuplicateSetting,
                                    format!("two listeners on `{addr}`"),
                                    listen.addr.span,
                                    "this address is already taken",
                                )
                                .with_label(first, "first listener here"),
                            );
                        } else {
                            listen_spans.insert(addr.clone(), listen.addr.span);
                            policy.listeners.push(model::Listener { addr, tls, http2 });
                        }
                    }
                }
                ItemKind::Admin(addr) => {
                    if let Some(first) = admin_span {
                        self.duplicate_setting("admin", item.span, first);
                    }
                    admin_span = Some(item.span);
                    policy.admin = self.listen_addr(addr, "127.0.0.1");
                }
                ItemKind::Limits(stmts) => {
                    if let Some(first) = limits_span {
                        self.duplicate_setting("limits", item.span, first);
                    }
                    limits_span = Some(item.span);
                    policy.limits = self.limits(stmts, true);
                }
                _ => {}
            }
        }
        if let Some(root) = self.program.module(self.program.root).filter(|_| !any_listen) {
            // Point at the first line of the first item: the policy starts there.
            let span = root.ast.items.first().map_or(self.program.root_span(), |item| {
                let text = &self.program.sources.get(item.span.file).text[item.span.start..item.span.end];
                let first_line = text.find('\n').unwrap_or(text.len());
                Span::new(item.span.file, item.span.start, item.span.start + first_line)
            });
            self.report(
                Diagnostic::new(
                    Code::NoListener,
                    "the policy has no `listen`",
                    span,
                    "a policy needs at least one listener",
                )
                .with_help("add a listener, such as `listen \"127.0.0.1:8080\"`"),
            );
        }
    }

    fn tls(&mut self, stmts: &[TlsStmt], span: Span, module: &Module) -> Option<model::Tls> {
        let (cert, key) = self.cert_and_key(stmts, span, module, "tls")?;
        let mut sni = Vec::new();
        for stmt in stmts {
            if let TlsStmt::Sni { host, stmts, span } = stmt {
                let name = self.host_name(host);
                if let (Some(name), Some((cert, key))) = (name, self.cert_and_key(stmts, *span, module, "sni")) {
                    let host = match name {
                        model::HostName::Exact(h) => h,
                        model::HostName::Wildcard(suffix) => format!("*{suffix}"),
                    };
                    sni.push(model::SniCert { host, cert, key });
                }
            }
        }
        Some(model::Tls { cert, key, sni })
    }

    /// The one `cert` and one `key` of a `tls` or `sni` block.
    fn cert_and_key(
        &mut self,
        stmts: &[TlsStmt],
        span: Span,
        module: &Module,
        block: &str,
    ) -> Option<(String, String)> {
        let mut cert: Option<(String, Span)> = None;
        let mut key: Option<(String, Span)> = None;
        for stmt in stmts {
            let (slot, value, at, word) = match stmt {
                TlsStmt::Cert(value, at) => (&mut cert, value, *at, "cert"),
                TlsStmt::Key(value, at) => (&mut key, value, *at, "key"),
                TlsStmt::Sni { .. } => continue,
            };
            if let Some((_, first)) = slot {
                let first = *first;
                self.duplicate_setting(word, at, first);
            } else {
                *slot = Some((resolve_relative(module.rel_dir.as_deref(), &value.value), at));
            }
        }
        for (missing, word) in [(cert.is_none(), "cert"), (key.is_none(), "key")] {
            if missing {
                self.report(
                    Diagnostic::new(
                        Code::MissingSetting,
                        format!("`{block}` block has no `{word}`"),
                        span,
                        format!("needs a `{word}`"),
                    )
                    .with_help("write both, such as `cert \"site.pem\" key \"site.key\"`"),
                );
            }
        }
        Some((cert?.0, key?.0))
    }

    /// A limits block: the top-level one when `global`, else a route's or
    /// a policy's.
    pub(crate) fn limits(&mut self, stmts: &[crate::ast::LimitStmt], global: bool) -> model::Limits {
        use crate::ast::LimitKind;
        let mut limits = model::Limits::default();
        let mut seen: HashMap<LimitKind, Span> = HashMap::new();
        for stmt in stmts {
            if let Some(first) = seen.insert(stmt.kind, stmt.span) {
                self.duplicate_setting(stmt.kind.keyword(), stmt.span, first);
                continue;
            }
            if stmt.kind.global_only() && !global {
                self.report(
                    Diagnostic::new(
                        Code::GlobalOnlyLimit,
                        format!("`{}` can only be set in the top-level `limits`", stmt.kind.keyword()),
                        stmt.span,
                        "set for a route here",
                    )
                    .with_help("the whole request head arrives before a route is chosen; move it to the top-level `limits { ... }`"),
                );
                continue;
            }
            let value = &stmt.value;
            let what = stmt.kind.keyword();
            match stmt.kind {
                LimitKind::MaxHeaderCount => {
                    limits.max_header_count = self
                        .parser_bound(value, what, model::Limits::PARSER_MAX_HEADER_COUNT, Kind::Integer)
                        .map(|v| v as u32);
                }
                LimitKind::MaxHeaderSize => {
                    limits.max_header_size =
                        self.parser_bound(value, what, model::Limits::PARSER_MAX_HEAD_SIZE, Kind::Size)
                }
                LimitKind::MaxBodySize => limits.max_body_size = self.size(value, what),
                LimitKind::RequestTimeout => limits.request_timeout = self.duration(value, what),
                LimitKind::IdleTimeout => limits.idle_timeout = self.duration(value, what),
                LimitKind::HeaderTimeout => limits.header_timeout = self.duration(value, what),
                LimitKind::MaxUriSize => {
                    limits.max_uri_size = self.parser_bound(value, what, model::Limits::PARSER_MAX_URI_SIZE, Kind::Size)
                }
                LimitKind::MaxResponseHeaderSize => {
                    limits.max_response_header_size =
                        self.parser_bound(value, what, model::Limits::PARSER_MAX_HEAD_SIZE, Kind::Size)
                }
            }
        }
        limits
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
