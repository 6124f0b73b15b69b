//! The small items: `listen` and its `tls`, `limits`, `agent`.

use pest::iterators::Pair;

use super::{only_child, Builder, Children};
use crate::ast::*;
use crate::syntax::Rule;

impl Builder<'_> {
    pub(super) fn listen(&mut self, pair: Pair<'_, Rule>) -> Listen {
        let mut children = Children::of(pair);
        children.next(); // kw_listen
        let addr = self.str(children.next());
        let mut options = Vec::new();
        for option in children.rest() {
            let span = self.span(&option);
            match option.as_rule() {
                Rule::kw_http2 => options.push(ListenOption::Http2(span)),
                Rule::listen_tls => {
                    let stmts = Children::of(option)
                        .rest()
                        .filter(|p| p.as_rule() == Rule::tls_stmt)
                        .map(|p| self.tls_stmt(only_child(p)))
                        .collect();
                    options.push(ListenOption::Tls(stmts, span));
                }
                rule => unreachable!("listen cannot hold {rule:?}"),
            }
        }
        Listen { addr, options }
    }

    fn tls_stmt(&mut self, pair: Pair<'_, Rule>) -> TlsStmt {
        let span = self.span(&pair);
        let rule = pair.as_rule();
        let mut children = Children::of(pair);
        children.next(); // keyword
        match rule {
            Rule::tls_cert => TlsStmt::Cert(self.str(children.next()), span),
            Rule::tls_key => TlsStmt::Key(self.str(children.next()), span),
            Rule::tls_sni => {
                let host = self.str(children.next());
                let stmts = children
                    .rest()
                    .filter(|p| p.as_rule() == Rule::sni_stmt)
                    .map(|p| self.tls_stmt(only_child(p)))
                    .collect();
                TlsStmt::Sni { host, stmts, span }
            }
            rule => unreachable!("tls cannot hold {rule:?}"),
        }
    }

    pub(super) fn limits(&mut self, pair: Pair<'_, Rule>) -> Vec<LimitStmt> {
        Children::of(pair)
            .rest()
            .filter(|p| p.as_rule() == Rule::limit_stmt)
            .map(|stmt| {
                let (kind, value, span) = self.keyed_number(stmt, |rule| {
                    LimitKind::from_rule(rule).unwrap_or_else(|| unreachable!("limits cannot hold {rule:?}"))
                });
                LimitStmt { kind, value, span }
            })
            .collect()
    }

    pub(super) fn agent(&mut self, pair: Pair<'_, Rule>) -> Agent {
        let mut children = Children::of(pair);
        children.next(); // kw_agent
        let name = self.ident(children.next());
        let stmts = children
            .rest()
            .filter(|p| p.as_rule() == Rule::agent_stmt)
            .map(|stmt| {
                let span = self.span(&stmt);
                let mut parts = Children::of(stmt);
                let keyword = parts.next().as_rule();
                let value = parts.next();
                let kind = match keyword {
                    Rule::kw_socket => AgentStmtKind::Socket(self.str(value)),
                    Rule::kw_timeout => AgentStmtKind::Timeout(self.number(value)),
                    Rule::kw_body => AgentStmtKind::Body(self.number(value)),
                    Rule::kw_on_failure => AgentStmtKind::OnFailure(if value.as_rule() == Rule::kw_allow {
                        FailureMode::Allow
                    } else {
                        FailureMode::Deny
                    }),
                    rule => unreachable!("agent cannot hold {rule:?}"),
                };
                AgentStmt { kind, span }
            })
            .collect();
        Agent { name, stmts }
    }
}
