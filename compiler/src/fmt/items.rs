//! Items: the file as a list of items, and the statements of the small
//! ones (`listen` and its `tls`, `limits`, `agent`).

use crate::ast::*;
use crate::source::Span;
use crate::syntax::Rule;

use super::cases::test_span;
use super::Printer;

impl Printer<'_> {
    /// The items in order, with a blank line around block items.
    pub(super) fn file(&mut self, file: &File) {
        let mut previous: Option<&Item> = None;
        for item in &file.items {
            if previous.is_some_and(|prev| is_block_item(prev) || is_block_item(item)) {
                self.blank_line();
            }
            self.leading_comments(item.span.start, previous.map(|p| p.span.end), true);
            self.line_start();
            self.item(item);
            self.trailing_comment(item.span.end);
            self.newline();
            previous = Some(item);
        }
        // Comments after the last item.
        self.leading_comments(usize::MAX, previous.map(|p| p.span.end), false);
    }

    fn item(&mut self, item: &Item) {
        let end = item.span.end.saturating_sub(1);
        match &item.kind {
            ItemKind::Import(s) => {
                self.keyword(Rule::kw_import);
                self.string(s);
            }
            ItemKind::Admin(s) => {
                self.keyword(Rule::kw_admin);
                self.string(s);
            }
            ItemKind::Listen(listen) => {
                self.keyword(Rule::kw_listen);
                self.string(&listen.addr);
                for option in &listen.options {
                    match option {
                        ListenOption::Http2(_) => self.keyword(Rule::kw_http2),
                        ListenOption::Tls(stmts, span) => {
                            self.keyword(Rule::kw_tls);
                            self.block(stmts, span.end - 1, tls_span, |p, s| p.tls_stmt(s));
                        }
                    }
                }
            }
            ItemKind::Limits(stmts) => self.limits(stmts, end),
            ItemKind::Upstream(u) => {
                self.keyword(Rule::kw_upstream);
                self.ident(&u.name);
                self.block(&u.stmts, end, |s| s.span, |p, s| p.upstream_stmt(s));
            }
            ItemKind::Agent(a) => {
                self.keyword(Rule::kw_agent);
                self.ident(&a.name);
                self.block(&a.stmts, end, |s| s.span, |p, s| p.agent_stmt(s));
            }
            ItemKind::Policy(policy) => {
                self.keyword(Rule::kw_policy);
                self.ident(&policy.name);
                self.block(&policy.modifiers, end, |m| m.span, |p, m| p.modifier(m));
            }
            ItemKind::Route(route) => {
                self.keyword(Rule::kw_route);
                self.ident(&route.name);
                self.block(&route.stmts, end, RouteStmt::span, |p, s| p.route_stmt(s));
            }
            ItemKind::Test(test) => {
                self.keyword(Rule::kw_test);
                self.string(&test.title);
                self.block(&test.stmts, end, test_span, |p, s| p.test_stmt(s));
            }
        }
    }

    fn tls_stmt(&mut self, stmt: &TlsStmt) {
        match stmt {
            TlsStmt::Cert(s, _) => {
                self.keyword(Rule::kw_cert);
                self.string(s);
            }
            TlsStmt::Key(s, _) => {
                self.keyword(Rule::kw_key);
                self.string(s);
            }
            TlsStmt::Sni { host, stmts, span } => {
                self.keyword(Rule::kw_sni);
                self.string(host);
                self.block(stmts, span.end - 1, tls_span, |p, s| p.tls_stmt(s));
            }
        }
    }

    pub(super) fn limits(&mut self, stmts: &[LimitStmt], end: usize) {
        self.keyword(Rule::kw_limits);
        self.block(
            stmts,
            end,
            |s| s.span,
            |p, s| {
                p.word(s.kind.keyword());
                p.number(&s.value);
            },
        );
    }

    fn agent_stmt(&mut self, stmt: &AgentStmt) {
        match &stmt.kind {
            AgentStmtKind::Socket(s) => {
                self.keyword(Rule::kw_socket);
                self.string(s);
            }
            AgentStmtKind::Timeout(n) => {
                self.keyword(Rule::kw_timeout);
                self.number(n);
            }
            AgentStmtKind::OnFailure(mode) => {
                self.keyword(Rule::kw_on_failure);
                self.word(match mode {
                    FailureMode::Allow => "allow",
                    FailureMode::Deny => "deny",
                });
            }
            AgentStmtKind::Body(n) => {
                self.keyword(Rule::kw_body);
                self.number(n);
            }
        }
    }
}

/// Items printed as blocks get a blank line before and after them.
fn is_block_item(item: &Item) -> bool {
    match &item.kind {
        ItemKind::Upstream(_)
        | ItemKind::Agent(_)
        | ItemKind::Policy(_)
        | ItemKind::Route(_)
        | ItemKind::Test(_)
        | ItemKind::Limits(_) => true,
        ItemKind::Listen(listen) => listen.options.iter().any(|o| matches!(o, ListenOption::Tls(..))),
        ItemKind::Import(_) | ItemKind::Admin(_) => false,
    }
}

/// Where a `tls` statement is written.
fn tls_span(stmt: &TlsStmt) -> Span {
    match stmt {
        TlsStmt::Cert(_, s) | TlsStmt::Key(_, s) => *s,
        TlsStmt::Sni { span, .. } => *span,
    }
}
