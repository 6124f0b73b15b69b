//! The one decision: from a compiled program and the facts of a request,
//! everything the policy decides for it (which route, what it answers or
//! where it goes, the limits, the rate-limit and balancing keys). The
//! runtime calls `decide` once per request and carries the result out;
//! `zenc explain` and `zenc test` call the same function, so what a test
//! proves is what the proxy does. No I/O, and no allocation but for what
//! a request makes new (a rewritten path, a redirect's location, a key).

use std::fmt;
use std::net::IpAddr;

mod framing;
mod key;
mod normal;

pub use framing::Framing;
pub use key::RequestKey;
pub use normal::Normal;

use crate::ids::{RouteId, UpstreamId};
use crate::matcher::{render, HeaderSource, TemplateContext};
use crate::model::{Action, Balance, Limits, PathMatch, Policy, Rewrite, Route};
use crate::normalize::{normalize_host, normalize_path, PathError};
use crate::program::Program;

/// The HTTP version a request came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
    Http2,
}

/// The scheme of the connection a request came on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    pub fn default_port(self) -> &'static str {
        match self {
            Scheme::Http => "80",
            Scheme::Https => "443",
        }
    }
}

/// The `Host` header of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostHeader<'r> {
    Absent,
    Value(&'r str),
    /// Sent more than once, or not text: RFC 9112 §3.2 makes it a 400.
    Invalid,
}

/// The form of a request's target (RFC 9112 §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetForm {
    /// `/path?query`.
    Origin,
    /// `http://host/path?query` (HTTP/1).
    Absolute,
    /// `*` (`OPTIONS *`).
    Asterisk,
    /// Anything else: `400`.
    Invalid,
}

/// What a request is, as the decision reads it.
pub struct Facts<'r> {
    pub method: &'r str,
    pub version: Version,
    pub scheme: Scheme,
    pub target_form: TargetForm,
    /// The authority of the target: an HTTP/1 absolute-form target's or
    /// HTTP/2's `:authority`; `None` for an origin-form target.
    pub target_authority: Option<&'r str>,
    pub host_header: HostHeader<'r>,
    /// The path of the target as sent, before normalization.
    pub path: &'r str,
    /// The query string, without `?`.
    pub query: Option<&'r str>,
    pub headers: &'r dyn HeaderSource,
    pub client_ip: Option<IpAddr>,
    /// What `{request_id}` stands for in templates.
    pub request_id: &'r str,
}

impl<'r> Facts<'r> {
    /// The authority the request is routed on: its target's, else its
    /// `Host` header's (empty without either).
    pub fn authority(&self) -> &'r str {
        match (self.target_authority, self.host_header) {
            (Some(authority), _) => authority,
            (None, HostHeader::Value(host)) => host,
            (None, _) => "",
        }
    }
}

/// Why a request is answered before any action of a route, with which
/// status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// An HTTP/1.1 request without `Host`.
    MissingHost,
    /// `Host` sent twice or not text.
    InvalidHost,
    /// The target's authority and `Host` name different hosts.
    HostMismatch,
    /// The path cannot be normalized.
    Path(PathError),
    /// More header fields, or more header bytes, than the limits allow.
    HeadersTooLarge,
    /// A declared body over `max_body_size`.
    BodyTooLarge,
    /// A request target (path and query) longer than `max_uri_size`.
    UriTooLong,
    /// A request target in no form RFC 9112 §3.2 allows.
    BadTarget,
    /// Framing two parsers could read two ways (request smuggling).
    BadFraming(&'static str),
    /// A transfer coding other than `chunked`.
    UnsupportedCoding,
}

impl Refusal {
    pub fn status(self) -> u16 {
        match self {
            Refusal::HeadersTooLarge => 431,
            Refusal::BodyTooLarge => 413,
            Refusal::UriTooLong => 414,
            Refusal::UnsupportedCoding => 501,
            _ => 400,
        }
    }
}

impl Refusal {
    /// Whether the connection closes after the answer: its framing cannot
    /// be trusted to find where the next request starts.
    pub fn closes(self) -> bool {
        matches!(
            self,
            Refusal::BadFraming(_) | Refusal::UnsupportedCoding | Refusal::BadTarget
        )
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::MissingHost => f.write_str("an HTTP/1.1 request without `Host`"),
            Refusal::InvalidHost => f.write_str("`Host` is sent twice or is not text"),
            Refusal::HostMismatch => f.write_str("`Host` names another authority than the request target"),
            Refusal::Path(error) => write!(f, "{error}"),
            Refusal::HeadersTooLarge => f.write_str("request header fields too large"),
            Refusal::BodyTooLarge => f.write_str("request body too large"),
            Refusal::UriTooLong => f.write_str("request target too long"),
            Refusal::BadTarget => f.write_str("a malformed request target"),
            Refusal::BadFraming(why) => write!(f, "ambiguous body framing: {why}"),
            Refusal::UnsupportedCoding => f.write_str("a transfer coding other than `chunked`"),
        }
    }
}

/// What is done with the request: refused, or what the route's action
/// does with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Act {
    /// Answered with the refusal's status before any action.
    Refused(Refusal),
    /// Forward it; `rewritten` is the path the upstream gets when a
    /// rewrite changed it (else it gets the normalized path). Each target
    /// of a consistent-hashing upstream has its key in `balance_keys`.
    Proxy {
        rewritten: Option<Box<str>>,
        balance_keys: Box<[(UpstreamId, RequestKey)]>,
    },
    /// Serve a file: the part of the normalized path below the route's
    /// prefix starts at `relative_from`.
    Static {
        relative_from: usize,
    },
    Redirect {
        location: Box<str>,
    },
    Respond,
    /// No route, or a route without an action: `404`.
    NotFound,
}

/// The whole decision for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The normalized host, of `Facts::authority`.
    pub host: Normal,
    /// The normalized path, of `Facts::path`; `None` when the request was
    /// refused before its path was read.
    pub path: Option<Normal>,
    /// The route that won, if any (a request refused before routing has
    /// none).
    pub route: Option<RouteId>,
    pub act: Act,
    /// The route's rate limit's key, when it has one.
    pub rate_key: Option<RequestKey>,
}

/// The limits that hold for `route`: its own, else the policy's.
pub fn effective_limits(policy: &Policy, route: Option<&Route>) -> Limits {
    let global = &policy.limits;
    let Some(route) = route else { return global.clone() };
    // `header_timeout` is global only (the compiler holds it so).
    route.modifiers.limits.or(global)
}

fn headers_over(limits: &Limits, headers: &dyn HeaderSource) -> bool {
    limits
        .max_header_count
        .is_some_and(|max| headers.field_count() > max as usize)
        || limits.max_header_size.is_some_and(|max| headers.field_bytes() > max)
}

/// Whether the request target (path, `?` and query) is longer than
/// `max_uri_size` (8 KiB when no limit says).
fn uri_over(limits: &Limits, facts: &Facts<'_>) -> bool {
    let max = limits.max_uri_size.unwrap_or(Limits::DEFAULT_MAX_URI_SIZE);
    let len = facts.path.len() + facts.query.map_or(0, |q| q.len() + 1);
    len as u64 > max
}

/// Whether two authorities name the same host and port: compared without
/// case, trailing dot or the scheme's default port.
fn same_authority(a: &str, b: &str, scheme: Scheme) -> bool {
    fn split(authority: &str) -> (&str, &str) {
        let (host, port) = match authority.rfind(':') {
            Some(i) if !authority[i..].contains(']') => (&authority[..i], &authority[i + 1..]),
            _ => (authority, ""),
        };
        (host.strip_suffix('.').unwrap_or(host), port)
    }
    let default = scheme.default_port();
    let port = |p: &'static str| move |q: &str| if q.is_empty() { p } else { q }.to_string();
    let ((host_a, port_a), (host_b, port_b)) = (split(a), split(b));
    host_a.eq_ignore_ascii_case(host_b) && port(default)(port_a) == port(default)(port_b)
}

/// Refuses a request whose target or framing is malformed.
fn check_request(facts: &Facts<'_>, framing: Framing) -> Result<(), Refusal> {
    match (facts.target_form, framing) {
        (TargetForm::Invalid, _) => Err(Refusal::BadTarget),
        (_, Framing::Invalid(why)) => Err(Refusal::BadFraming(why)),
        (_, Framing::Unsupported) => Err(Refusal::UnsupportedCoding),
        _ => Ok(()),
    }
}

/// Refuses what no route may see: a missing, doubled or contradicting
/// `Host` (RFC 9112 §3.2, RFC 9113 §8.3.1).
fn check_host(facts: &Facts<'_>) -> Result<(), Refusal> {
    match (facts.target_authority, facts.host_header) {
        (_, HostHeader::Invalid) => Err(Refusal::InvalidHost),
        (_, HostHeader::Absent) if facts.version == Version::Http11 => Err(Refusal::MissingHost),
        (Some(target), HostHeader::Value(host)) if !same_authority(target, host, facts.scheme) => {
            Err(Refusal::HostMismatch)
        }
        _ => Ok(()),
    }
}

impl Decision {
    fn refused(host: Normal, path: Option<Normal>, route: Option<RouteId>, refusal: Refusal) -> Decision {
        Decision {
            host,
            path,
            route,
            act: Act::Refused(refusal),
            rate_key: None,
        }
    }

    /// Why the request is refused, if it is.
    pub fn refusal(&self) -> Option<Refusal> {
        match self.act {
            Act::Refused(refusal) => Some(refusal),
            _ => None,
        }
    }

    /// The route that won, in `policy`.
    pub fn route<'p>(&self, policy: &'p Policy) -> Option<&'p Route> {
        policy.routes.get(self.route?.index())
    }

    /// The status answered without an upstream: a refusal's, `404` for no
    /// route or a route without action, a redirect's or direct answer's;
    /// `None` for a proxied or static request.
    pub fn status(&self, policy: &Policy) -> Option<u16> {
        if let Some(refusal) = self.refusal() {
            return Some(refusal.status());
        }
        let Some(route) = self.route(policy) else {
            return Some(404);
        };
        match &route.action {
            Action::Redirect { status, .. } | Action::Respond { status, .. } => Some(*status),
            Action::NotFound => Some(404),
            Action::Proxy(_) | Action::Static { .. } => None,
        }
    }

    /// The action's kind, as LANGUAGE.md §8 names it.
    pub fn action_kind(&self, policy: &Policy) -> Option<&'static str> {
        if self.refusal().is_some() {
            return None;
        }
        Some(match self.route(policy)?.action {
            Action::Proxy(_) => "proxy",
            Action::Static { .. } => "static",
            Action::Redirect { .. } => "redirect",
            Action::Respond { .. } => "respond",
            Action::NotFound => return None,
        })
    }

    /// The normalized path, given the raw one (`Facts::path`).
    pub fn normalized_path<'a>(&'a self, raw: &'a str) -> Option<&'a str> {
        self.path.as_ref().map(|p| p.get(raw))
    }

    /// The path the upstream receives (normalized, then rewritten), given
    /// the raw one; `None` unless the request is proxied.
    pub fn upstream_path<'a>(&'a self, raw: &'a str) -> Option<&'a str> {
        match &self.act {
            Act::Proxy {
                rewritten: Some(path), ..
            } => Some(path),
            Act::Proxy { rewritten: None, .. } => self.normalized_path(raw),
            _ => None,
        }
    }

    /// The origin-form target the upstream receives: `upstream_path`, and
    /// the request's query unless a rewrite wrote one.
    pub fn upstream_target(&self, raw: &str, query: Option<&str>) -> Option<String> {
        let path = self.upstream_path(raw)?;
        Some(match query {
            Some(q) if !path.contains('?') => format!("{path}?{q}"),
            _ => path.to_string(),
        })
    }

    /// The key consistent hashing reads for `upstream`, if it hashes.
    pub fn balance_key(&self, upstream: UpstreamId) -> Option<&RequestKey> {
        match &self.act {
            Act::Proxy { balance_keys, .. } => balance_keys.iter().find(|(u, _)| *u == upstream).map(|(_, k)| k),
            _ => None,
        }
    }

    /// The redirect's location, for a redirect.
    pub fn location(&self) -> Option<&str> {
        match &self.act {
            Act::Redirect { location } => Some(location),
            _ => None,
        }
    }
}

/// Decides `facts` on `program`: the one interpretation of a policy.
pub fn decide(program: &Program<'_>, facts: &Facts<'_>) -> Decision {
    let policy = program.policy();
    let authority = facts.authority();
    let host = Normal::new(authority, normalize_host(authority));
    // Before routing, the loosest limits any route allows; the chosen
    // route's own are checked once it is known (`route_refusal`).
    if headers_over(&program.before_routing, facts.headers) {
        return Decision::refused(host, None, None, Refusal::HeadersTooLarge);
    }
    if uri_over(&program.before_routing, facts) {
        return Decision::refused(host, None, None, Refusal::UriTooLong);
    }
    let framing = Framing::read(facts.headers, facts.version);
    if let Err(refusal) = check_request(facts, framing) {
        return Decision::refused(host, None, None, refusal);
    }
    if let Err(refusal) = check_host(facts) {
        return Decision::refused(host, None, None, refusal);
    }
    let path = match normalize_path(facts.path) {
        Ok(path) => Normal::new(facts.path, path),
        Err(error) => return Decision::refused(host, None, None, Refusal::Path(error)),
    };
    let routed = Routed {
        program,
        facts,
        host: host.get(authority),
        path: path.get(facts.path),
    };
    let found = program.lookup(&crate::Request {
        method: facts.method,
        host: routed.host,
        path: routed.path,
        query: facts.query,
        headers: facts.headers,
    });
    let Some(found) = found else {
        // No route: the policy's own limits, which only a route can loosen.
        if headers_over(&policy.limits, facts.headers) {
            return Decision::refused(host, Some(path), None, Refusal::HeadersTooLarge);
        }
        if uri_over(&policy.limits, facts) {
            return Decision::refused(host, Some(path), None, Refusal::UriTooLong);
        }
        return Decision {
            host,
            path: Some(path),
            route: None,
            act: Act::NotFound,
            rate_key: None,
        };
    };
    let route = &policy.routes[found.route.index()];
    if let Some(refusal) = route_refusal(&effective_limits(policy, Some(route)), facts, framing) {
        return Decision::refused(host, Some(path), Some(found.route), refusal);
    }
    let act = routed.act(found.route, route);
    let rate_key = route
        .modifiers
        .rate_limit
        .as_ref()
        .map(|limit| RequestKey::read(&limit.key, facts));
    Decision {
        host,
        path: Some(path),
        route: Some(found.route),
        act,
        rate_key,
    }
}

/// What a route's limits refuse before its action: too many or too large
/// headers (`431`), a declared body over `max_body_size` (`413`).
fn route_refusal(limits: &Limits, facts: &Facts<'_>, framing: Framing) -> Option<Refusal> {
    if headers_over(limits, facts.headers) {
        return Some(Refusal::HeadersTooLarge);
    }
    if uri_over(limits, facts) {
        return Some(Refusal::UriTooLong);
    }
    let declared = match framing {
        Framing::Length(length) => Some(length),
        _ => None,
    };
    let declared_over = limits
        .max_body_size
        .zip(declared)
        .is_some_and(|(max, declared)| declared > max);
    declared_over.then_some(Refusal::BodyTooLarge)
}

/// A routed request: its facts, with the host and path as matched.
struct Routed<'a, 'p, 'r> {
    program: &'a Program<'p>,
    facts: &'a Facts<'r>,
    host: &'a str,
    path: &'a str,
}

impl Routed<'_, '_, '_> {
    /// What `route` (number `index`) does with the request.
    fn act(&self, index: RouteId, route: &Route) -> Act {
        match &route.action {
            Action::Proxy(targets) => Act::Proxy {
                rewritten: self.rewritten(index, route),
                balance_keys: targets
                    .iter()
                    .filter_map(|&(upstream, _)| Some((upstream, self.balance_key(upstream)?)))
                    .collect(),
            },
            Action::Static { .. } => Act::Static {
                relative_from: match &route.path {
                    PathMatch::Prefix(prefix) => {
                        let prefix = prefix.trim_end_matches('/');
                        if self.path.starts_with(prefix) {
                            prefix.len()
                        } else {
                            0
                        }
                    }
                    _ => 0,
                },
            },
            Action::Redirect { location, .. } => Act::Redirect {
                location: self.render(index, location).into_boxed_str(),
            },
            Action::Respond { .. } => Act::Respond,
            Action::NotFound => Act::NotFound,
        }
    }

    /// The path a rewrite makes of the request's, when it changes it.
    fn rewritten(&self, index: RouteId, route: &Route) -> Option<Box<str>> {
        let rewritten = match route.modifiers.rewrite.as_ref()? {
            Rewrite::Prefix { from, to } => rewrite_prefix(self.path, from, to)?,
            Rewrite::Template(template) => self.render(index, template),
        };
        (rewritten != self.path).then(|| rewritten.into_boxed_str())
    }

    /// The key consistent hashing reads for `upstream`, if it hashes.
    fn balance_key(&self, upstream: UpstreamId) -> Option<RequestKey> {
        Some(match &self.program.policy().upstreams[upstream.index()].balance {
            Balance::KetamaClientIp => RequestKey::ClientIp(self.facts.client_ip),
            Balance::KetamaHeader(name) => RequestKey::header(name, self.facts),
            _ => return None,
        })
    }

    /// `template` for this request, with route `index`'s captures.
    fn render(&self, index: RouteId, template: &crate::model::Template) -> String {
        let captures = self.program.captures(index, self.path);
        render(
            template,
            &TemplateContext {
                host: self.host,
                path: self.path,
                query: self.facts.query,
                scheme: self.facts.scheme.as_str(),
                request_id: self.facts.request_id,
                captures: &captures,
            },
        )
    }
}

/// `rewrite prefix FROM TO` on `path`: the path with FROM replaced by TO
/// when FROM is a prefix of it (at a segment boundary); `None` when the
/// path does not change.
fn rewrite_prefix(path: &str, from: &str, to: &str) -> Option<String> {
    let rest = path.strip_prefix(from)?;
    if !(rest.is_empty() || rest.starts_with('/') || from.ends_with('/')) {
        return None;
    }
    let rewritten = if rest.is_empty() && !to.ends_with('/') && to != "/" {
        to.to_string()
    } else {
        format!("{}/{}", to.trim_end_matches('/'), rest.trim_start_matches('/'))
    };
    (rewritten != path).then_some(rewritten)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorities_compare_without_case_dot_or_default_port() {
        assert!(same_authority("a.example.com", "A.Example.COM.", Scheme::Http));
        assert!(same_authority("a.example.com:80", "a.example.com", Scheme::Http));
        assert!(!same_authority("a.example.com:80", "a.example.com", Scheme::Https));
        assert!(same_authority("a.example.com:443", "a.example.com", Scheme::Https));
        assert!(!same_authority("a.example.com:8080", "a.example.com", Scheme::Http));
        assert!(!same_authority("a.example.com", "b.example.com", Scheme::Http));
        assert!(same_authority("[::1]:80", "[::1]", Scheme::Http));
        assert!(!same_authority("[::1]", "[::2]", Scheme::Http));
    }

    #[test]
    fn prefix_rewrites_keep_segment_boundaries() {
        assert_eq!(
            rewrite_prefix("/api/x", "/api", "/_backend").as_deref(),
            Some("/_backend/x")
        );
        assert_eq!(
            rewrite_prefix("/api", "/api", "/_backend").as_deref(),
            Some("/_backend")
        );
        assert_eq!(rewrite_prefix("/api", "/api", "/").as_deref(), Some("/"));
        assert_eq!(rewrite_prefix("/apix", "/api", "/b"), None);
        assert_eq!(rewrite_prefix("/v1/a", "/v1/", "/").as_deref(), Some("/a"));
        assert_eq!(rewrite_prefix("/same", "/same", "/same"), None);
    }
}
