//! `test` blocks: one request and at least one expectation each, with
//! names resolved, ready for `zenc test` to run against the artifact.

use std::net::IpAddr;

use crate::ast::{Expectation, ItemKind, RequestOption, Test, TestRequest, TestStmt};
use crate::diagnostic::{Code, Diagnostic};
use crate::explain::{parse_url, RequestSpec};
use crate::source::Span;

use super::{Checker, NameKind};

/// A routing test, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestCase {
    pub title: String,
    pub span: Span,
    pub request: RequestSpec,
    pub expectations: Vec<(Expect, Span)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// Route index.
    Route(usize),
    /// Upstream index.
    Upstream(usize),
    /// A server address, as the policy lists it.
    Server(String),
    Status {
        status: u16,
        location: Option<String>,
    },
    NoRoute,
}

impl Checker<'_> {
    /// The policy's tests; `servers` are the addresses its upstreams list,
    /// for `expect server`.
    pub(super) fn tests(&mut self, servers: &[String]) -> Vec<TestCase> {
        let mut cases = Vec::new();
        for (_, item) in self.items() {
            let ItemKind::Test(test) = &item.kind else { continue };
            if let Some(case) = self.test(test, servers) {
                cases.push(case);
            }
        }
        cases
    }

    /// One `test` block: its one request and its expectations, kept when
    /// the block has both and the request is valid.
    fn test(&mut self, test: &Test, servers: &[String]) -> Option<TestCase> {
        let mut request: Option<&TestRequest> = None;
        let mut expectations = Vec::new();
        for stmt in &test.stmts {
            match stmt {
                TestStmt::Request(r) => match request {
                    Some(first) => self.second_request(r.span, first.span),
                    None => request = Some(r),
                },
                TestStmt::Expect(expectation, span) => {
                    if let Some(lowered) = self.expectation(expectation, servers) {
                        expectations.push((lowered, *span));
                    }
                }
            }
        }
        let missing = match (&request, test.stmts.iter().any(|s| matches!(s, TestStmt::Expect(..)))) {
            (None, false) => Some("no `request` and no `expect`"),
            (None, true) => Some("no `request`"),
            (Some(_), false) => Some("no `expect`"),
            _ => None,
        };
        if let Some(missing) = missing {
            self.report(
                Diagnostic::new(
                    Code::EmptyTest,
                    format!("test `{}` has {missing}", test.title.value),
                    test.title.span,
                    "this test checks nothing",
                )
                .with_help("a test sends one `request METHOD \"URL\"` and checks at least one `expect`"),
            );
            return None;
        }
        Some(TestCase {
            title: test.title.value.clone(),
            span: test.title.span,
            request: self.request_spec(request?)?,
            expectations,
        })
    }

    /// Reports a test's second `request`: a test sends one.
    fn second_request(&mut self, second: Span, first: Span) {
        self.report(
            Diagnostic::new(
                Code::DuplicateSetting,
                "a test has one `request`",
                second,
                "second request",
            )
            .with_label(first, "first request")
            .with_help("write one `test` block per request"),
        );
    }

    /// An `expect`, with the names it mentions resolved.
    fn expectation(&mut self, expectation: &Expectation, servers: &[String]) -> Option<Expect> {
        match expectation {
            Expectation::Route(name) => self.resolve(NameKind::Route, name).map(Expect::Route),
            Expectation::Upstream(name) => self.resolve(NameKind::Upstream, name).map(Expect::Upstream),
            Expectation::Status { status, location } => {
                self.status(status, "expected status", 100..=599)
                    .map(|status| Expect::Status {
                        status,
                        location: location.as_ref().map(|l| l.value.clone()),
                    })
            }
            Expectation::NoRoute => Some(Expect::NoRoute),
            Expectation::Server(addr) => self.expected_server(addr, servers).map(Expect::Server),
        }
    }

    /// A test's `request METHOD "URL"` with its headers and client
    /// address, as `zenc test` sends it.
    fn request_spec(&mut self, request: &TestRequest) -> Option<RequestSpec> {
        let method = self.method(&request.method);
        let url = self.test_url(&request.url);
        let mut headers = Vec::new();
        let mut client_ip = None;
        for option in &request.options {
            match option {
                RequestOption::Header(name, value, _) => {
                    if let Some(name) = self.header_name(name) {
                        headers.push((name, value.value.clone()));
                    }
                }
                RequestOption::From(ip, _) => match ip.value.parse::<IpAddr>() {
                    Ok(ip) => client_ip = Some(ip),
                    Err(_) => self.report(
                        Diagnostic::new(
                            Code::InvalidAddress,
                            format!("invalid client address `{}`", ip.value),
                            ip.span,
                            "not an IP address",
                        )
                        .with_help("write an address such as `203.0.113.7`"),
                    ),
                },
            }
        }
        let (method, (scheme, authority, path, query)) = (method?, url?);
        Some(RequestSpec {
            method,
            scheme,
            authority,
            path,
            query,
            headers,
            client_ip,
            absolute_form: false,
        })
    }

    /// An `expect server` address: one an upstream of the policy lists.
    fn expected_server(&mut self, addr: &crate::ast::Str, servers: &[String]) -> Option<String> {
        let normalized = self.server_addr(addr)?;
        if servers.contains(&normalized) {
            return Some(normalized);
        }
        let mut diagnostic = Diagnostic::new(
            Code::UnknownName,
            format!("no upstream has server `{}`", addr.value),
            addr.span,
            "not a server of this policy",
        );
        if let Some(help) = crate::diagnostic::did_you_mean(&normalized, servers.iter().map(String::as_str)) {
            diagnostic = diagnostic.with_help(help);
        }
        self.report(diagnostic);
        None
    }

    /// `http://host[:port][/path][?query]`.
    fn test_url(&mut self, url: &crate::ast::Str) -> Option<(String, String, String, Option<String>)> {
        let text = url.value.as_str();
        let parsed = parse_url(text);
        if parsed.is_none() {
            self.report(
                Diagnostic::new(
                    Code::InvalidAddress,
                    format!("invalid URL `{text}`"),
                    url.span,
                    "not an http URL",
                )
                .with_help("write a full URL, such as `http://example.com/path?q=1`"),
            );
        }
        parsed
    }
}
