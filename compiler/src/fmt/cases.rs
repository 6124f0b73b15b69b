//! `test` blocks: the request and its expectations.

use crate::ast::*;
use crate::source::Span;
use crate::syntax::Rule;

use super::Printer;

impl Printer<'_> {
    pub(super) fn test_stmt(&mut self, stmt: &TestStmt) {
        match stmt {
            TestStmt::Request(r) => {
                self.keyword(Rule::kw_request);
                self.ident(&r.method);
                self.string(&r.url);
                for option in &r.options {
                    match option {
                        RequestOption::Header(k, v, _) => {
                            self.keyword(Rule::kw_header);
                            self.string(k);
                            self.string(v);
                        }
                        RequestOption::From(ip, _) => {
                            self.keyword(Rule::kw_from);
                            self.string(ip);
                        }
                    }
                }
            }
            TestStmt::Expect(expectation, _) => {
                self.keyword(Rule::kw_expect);
                match expectation {
                    Expectation::Route(n) => {
                        self.keyword(Rule::kw_route);
                        self.ident(n);
                    }
                    Expectation::Upstream(n) => {
                        self.keyword(Rule::kw_upstream);
                        self.ident(n);
                    }
                    Expectation::Server(addr) => {
                        self.keyword(Rule::kw_server);
                        self.string(addr);
                    }
                    Expectation::Status { status, location } => {
                        self.keyword(Rule::kw_status);
                        self.number(status);
                        if let Some(l) = location {
                            self.keyword(Rule::kw_location);
                            self.string(l);
                        }
                    }
                    Expectation::NoRoute => self.keyword(Rule::kw_no_route),
                }
            }
        }
    }
}

/// Where a test statement is written.
pub(super) fn test_span(stmt: &TestStmt) -> Span {
    match stmt {
        TestStmt::Request(r) => r.span,
        TestStmt::Expect(_, s) => *s,
    }
}
