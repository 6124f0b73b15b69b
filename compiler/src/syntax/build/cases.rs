//! `test` blocks: a request and its expectations.

use pest::iterators::Pair;

use super::{only_child, Builder, Children};
use crate::ast::*;
use crate::source::Span;
use crate::syntax::Rule;

impl Builder<'_> {
    pub(super) fn test(&mut self, pair: Pair<'_, Rule>) -> Test {
        let mut children = Children::of(pair);
        children.next(); // kw_test
        let title = self.str(children.next());
        let stmts = children
            .rest()
            .filter(|p| p.as_rule() == Rule::test_stmt)
            .map(|stmt| {
                let inner = only_child(stmt);
                let span = self.span(&inner);
                let rule = inner.as_rule();
                let mut parts = Children::of(inner);
                parts.next(); // keyword
                if rule == Rule::test_request {
                    TestStmt::Request(self.test_request(parts, span))
                } else {
                    TestStmt::Expect(self.expectation(parts.next()), span)
                }
            })
            .collect();
        Test { title, stmts }
    }

    /// `request METHOD "URL"` and its options, after the keyword.
    fn test_request(&mut self, mut parts: Children<'_>, span: Span) -> TestRequest {
        let method = self.ident(parts.next());
        let url = self.str(parts.next());
        let options = parts
            .rest()
            .map(|option| {
                let span = self.span(&option);
                let mut bits = Children::of(option);
                let keyword = bits.next().as_rule();
                if keyword == Rule::kw_header {
                    let name = self.str(bits.next());
                    let value = self.str(bits.next());
                    RequestOption::Header(name, value, span)
                } else {
                    RequestOption::From(self.str(bits.next()), span)
                }
            })
            .collect();
        TestRequest {
            method,
            url,
            options,
            span,
        }
    }

    /// What follows `expect`.
    fn expectation(&mut self, what: Pair<'_, Rule>) -> Expectation {
        match what.as_rule() {
            Rule::kw_no_route => Expectation::NoRoute,
            Rule::expect_route => Expectation::Route(self.ident(Children::of(what).rest().nth(1).expect("route name"))),
            Rule::expect_upstream => {
                Expectation::Upstream(self.ident(Children::of(what).rest().nth(1).expect("upstream name")))
            }
            Rule::expect_server => {
                Expectation::Server(self.str(Children::of(what).rest().nth(1).expect("server address")))
            }
            _ => {
                let mut bits = Children::of(what);
                bits.next(); // status
                let status = self.number(bits.next());
                let location = bits.rest().nth(1).map(|p| self.str(p));
                Expectation::Status { status, location }
            }
        }
    }
}
