//! A request as the tools write it (`zenc explain`, a `test` block's
//! `request`), put to the one decision the runtime also makes
//! (`zbin::decide`), and shown: as text for people, or as the JSON object
//! of LANGUAGE.md §8 and §9.5. Nothing here decides anything itself.

use std::net::IpAddr;

use zbin::decide::{decide, Decision, Facts, HostHeader, RequestKey, Scheme, TargetForm, Version};
use zbin::model::{Action, Balance, HeaderEdit, HeaderOp, Limits, Policy, Upstream};
use zbin::table::Key;
use zbin::Program;

/// A request as written in a test or on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestSpec {
    pub method: String,
    pub scheme: String,
    /// Host and optional port, as written.
    pub authority: String,
    /// The path as sent, before normalization.
    pub path: String,
    pub query: Option<String>,
    /// Lowercase names.
    pub headers: Vec<(String, String)>,
    /// The client's address, when given (`from`, `--from`).
    pub client_ip: Option<IpAddr>,
    /// Sent as an HTTP/1 absolute-form target (`GET http://a/x HTTP/1.1`):
    /// routed on the URL's authority, which a `Host` header must agree
    /// with (`--absolute-form`); otherwise an origin-form target.
    pub absolute_form: bool,
}

impl RequestSpec {
    /// The request as a client sends it: an origin-form target, with a
    /// `Host` header naming the URL's authority unless one is given.
    fn sent_headers(&self) -> Vec<(String, String)> {
        let mut headers = self.headers.clone();
        if !headers.iter().any(|(k, _)| k == "host") {
            headers.insert(0, ("host".to_string(), self.authority.clone()));
        }
        headers
    }

    /// The origin-form target: the path and the query.
    pub fn target(&self) -> String {
        match &self.query {
            Some(query) => format!("{}?{query}", self.path),
            None => self.path.clone(),
        }
    }
}

/// Splits `http://host[:port][/path][?query][#fragment]`; the fragment
/// is dropped, as clients never send it.
pub fn parse_url(text: &str) -> Option<(String, String, String, Option<String>)> {
    let text = text.split_once('#').map_or(text, |(before, _)| before);
    let (scheme, rest) = text.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let (authority, target) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains(char::is_whitespace) {
        return None;
    }
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path, Some(query.to_string())),
        None => (target, None),
    };
    let path = if path.is_empty() { "/" } else { path };
    Some((scheme, authority.to_string(), path.to_string(), query))
}

/// One matching route, with its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub route: String,
    pub key: Key,
}

/// The decision for one request, with what the tools show beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub decision: Decision,
    /// The host matched on (normalized).
    pub host: String,
    /// The normalized path; `None` when the request was refused first.
    pub path: Option<String>,
    pub route: Option<String>,
    pub route_index: Option<usize>,
    pub action: Option<&'static str>,
    /// For a proxy: every upstream with its share.
    pub upstreams: Vec<(String, u8)>,
    /// The status answered without an upstream (LANGUAGE.md §8).
    pub status: Option<u16>,
    pub location: Option<String>,
    /// The path and query the upstream receives, for a proxy.
    pub upstream_path: Option<String>,
    pub candidates: Vec<Candidate>,
    /// For a proxy: the server the request goes to, all servers being up,
    /// when the request decides it (one server, or consistent hashing);
    /// otherwise why not.
    pub server: Result<String, String>,
    /// The limits in force for the request (the route's over the policy's).
    pub limits: Limits,
    /// The rate limit's key, when the route has one.
    pub rate_key: Option<String>,
    pub agents: Vec<String>,
    pub request_headers: Vec<HeaderEdit>,
    pub response_headers: Vec<HeaderEdit>,
}

impl Outcome {
    /// The upstream when there is exactly one.
    pub fn upstream(&self) -> Option<&str> {
        match self.upstreams.as_slice() {
            [(name, _)] => Some(name),
            _ => None,
        }
    }
}

/// Decides `request` on `program` (`zbin::decide`) and gathers what the
/// tools show of it.
pub fn evaluate(program: &Program<'_>, request: &RequestSpec) -> Outcome {
    let policy: &Policy = program.policy();
    let headers = request.sent_headers();
    let host_header = headers
        .iter()
        .find(|(k, _)| k == "host")
        .map_or(HostHeader::Absent, |(_, v)| HostHeader::Value(v));
    let facts = Facts {
        method: &request.method,
        version: Version::Http11,
        scheme: if request.scheme == "https" {
            Scheme::Https
        } else {
            Scheme::Http
        },
        target_form: if request.absolute_form {
            TargetForm::Absolute
        } else {
            TargetForm::Origin
        },
        target_authority: request.absolute_form.then_some(request.authority.as_str()),
        host_header,
        path: &request.path,
        query: request.query.as_deref(),
        headers: &headers,
        client_ip: request.client_ip,
        request_id: "{request_id}",
    };
    let decision = decide(program, &facts);
    let host = decision.host.get(facts.authority()).to_string();
    let path = decision.normalized_path(&request.path).map(str::to_string);
    let route = decision.route(policy);
    let refused = decision.refusal().is_some();
    let upstreams: Vec<(String, u8)> = match route.map(|r| &r.action) {
        Some(Action::Proxy(targets)) if !refused => targets
            .iter()
            .map(|(u, share)| (policy.upstreams[u.index()].name.clone(), *share))
            .collect(),
        _ => Vec::new(),
    };
    let server = match route.map(|r| &r.action) {
        Some(Action::Proxy(targets)) if !refused => match targets.as_slice() {
            [(upstream, _)] => server_for(&policy.upstreams[upstream.index()], decision.balance_key(*upstream)),
            _ => Err("a split picks its upstream at random".to_string()),
        },
        _ => Err("the request is not proxied".to_string()),
    };
    let modifiers = route.map(|r| &r.modifiers);
    Outcome {
        host,
        path: path.clone(),
        route: route.map(|r| r.name.clone()),
        route_index: decision.route.map(|r| r.index()),
        action: decision.action_kind(policy),
        upstreams,
        status: decision.status(policy),
        location: decision.location().map(str::to_string),
        upstream_path: decision.upstream_target(&request.path, request.query.as_deref()),
        candidates: path.map_or_else(Vec::new, |path| {
            candidates(program, request, &headers, &decision, &path)
        }),
        server,
        limits: zbin::decide::effective_limits(policy, route),
        rate_key: decision.rate_key.as_ref().map(|key| key_text(key, route)),
        agents: modifiers.map_or_else(Vec::new, |m| {
            m.agents
                .iter()
                .map(|&a| policy.agents[a.index()].name.clone())
                .collect()
        }),
        request_headers: modifiers.map_or_else(Vec::new, |m| m.request_headers.clone()),
        response_headers: modifiers.map_or_else(Vec::new, |m| m.response_headers.clone()),
        decision,
    }
}

/// Every route that matches, best key first; a route matched by two of
/// its host names is listed once, with the better key (the one that
/// competes).
fn candidates(
    program: &Program<'_>,
    request: &RequestSpec,
    headers: &Vec<(String, String)>,
    decision: &Decision,
    path: &str,
) -> Vec<Candidate> {
    let policy = program.policy();
    let host_header = headers.iter().find(|(k, _)| k == "host").map(|(_, v)| v.as_str());
    let authority = match (request.absolute_form, host_header) {
        (false, Some(host)) => host,
        _ => request.authority.as_str(),
    };
    let host = decision.host.get(authority);
    let matcher_request = zbin::Request {
        method: &request.method,
        host,
        path,
        query: request.query.as_deref(),
        headers,
    };
    let mut seen = std::collections::HashSet::new();
    program
        .candidates(&matcher_request)
        .into_iter()
        .filter(|(_, alternative)| seen.insert(alternative.route))
        .map(|(_, alternative)| Candidate {
            route: policy.routes[alternative.route.index()].name.clone(),
            key: alternative.key,
        })
        .collect()
}

/// The server of `upstream` that a request with balancing `key` goes to
/// when every server is up: its only primary, or the one consistent
/// hashing picks (the code the runtime runs, `zbin::balance`).
fn server_for(upstream: &Upstream, key: Option<&RequestKey>) -> Result<String, String> {
    let primaries = upstream.servers.iter().filter(|s| !s.backup).count();
    if primaries == 1 {
        let only = upstream.servers.iter().find(|s| !s.backup).map(|s| s.addr.clone());
        return only.ok_or_else(String::new);
    }
    let Some(key) = key else {
        let mode = match upstream.balance {
            Balance::LeastConn => "least_conn",
            Balance::Random => "random",
            Balance::PowerOfTwoChoices => "p2c",
            _ => "round_robin",
        };
        return Err(format!(
            "upstream `{}` balances {primaries} servers by `{mode}`: the request does not decide which",
            upstream.name
        ));
    };
    if matches!(key, RequestKey::ClientIp(None)) {
        return Err(format!(
            "upstream `{}` hashes the client address: say which (`from` in a test, `--from` for explain)",
            upstream.name
        ));
    }
    zbin::balance::pick(&upstream.servers, &key.bytes(), |i| !upstream.servers[i].backup)
        .map(|i| upstream.servers[i].addr.clone())
        .ok_or_else(|| format!("upstream `{}` has no primary server", upstream.name))
}

/// A rate limit's key in words, with the header's name where it is one.
fn key_text(key: &RequestKey, route: Option<&zbin::model::Route>) -> String {
    let limit = route.and_then(|r| r.modifiers.rate_limit.as_ref());
    match (key, limit.map(|l| &l.key)) {
        (RequestKey::Header(value), Some(zbin::model::RateKey::Header(name))) => match value {
            Some(v) => format!("header `{name}` = `{}`", String::from_utf8_lossy(v)),
            None => format!("header `{name}` (absent)"),
        },
        _ => key.to_string(),
    }
}

fn edit_json(edit: &HeaderEdit) -> serde_json::Value {
    let op = match edit.op {
        HeaderOp::Set => "set",
        HeaderOp::Add => "add",
        HeaderOp::Remove => "remove",
    };
    match edit.op {
        HeaderOp::Remove => serde_json::json!({"op": op, "name": edit.name}),
        _ => serde_json::json!({"op": op, "name": edit.name, "value": edit.value}),
    }
}

/// The outcome as the JSON object of LANGUAGE.md §8 and §9.5.
pub fn to_json(outcome: &Outcome) -> serde_json::Value {
    let limits = &outcome.limits;
    serde_json::json!({
        "route": outcome.route,
        "action": outcome.action,
        "upstream": outcome.upstream(),
        "upstreams": outcome.upstreams.iter().map(|(name, share)| serde_json::json!({"upstream": name, "share": share})).collect::<Vec<_>>(),
        "status": outcome.status,
        "location": outcome.location,
        "upstream_path": outcome.upstream_path,
        "server": outcome.server.as_ref().ok(),
        "host": outcome.host,
        "path": outcome.path,
        "error": outcome.decision.refusal().map(|r| r.to_string()),
        "limits": {
            "max_header_count": limits.max_header_count,
            "max_header_size": limits.max_header_size,
            "max_body_size": limits.max_body_size,
            "request_timeout_ms": limits.request_timeout,
            "idle_timeout_ms": limits.idle_timeout,
            "header_timeout_ms": limits.header_timeout,
            "max_uri_size": limits.max_uri_size,
            "max_response_header_size": limits.max_response_header_size,
        },
        "rate_limit_key": outcome.rate_key,
        "agents": outcome.agents,
        "request_headers": outcome.request_headers.iter().map(edit_json).collect::<Vec<_>>(),
        "response_headers": outcome.response_headers.iter().map(edit_json).collect::<Vec<_>>(),
        "candidates": outcome.candidates.iter().map(|c| serde_json::json!({"route": c.route, "key": c.key.as_array()})).collect::<Vec<_>>(),
    })
}

fn edits_text(edits: &[HeaderEdit]) -> String {
    let words: Vec<String> = edits
        .iter()
        .map(|e| match e.op {
            HeaderOp::Set => format!("set `{}: {}`", e.name, e.value),
            HeaderOp::Add => format!("add `{}: {}`", e.name, e.value),
            HeaderOp::Remove => format!("remove `{}`", e.name),
        })
        .collect();
    words.join(", ")
}

/// The outcome for people: the winner, then every candidate and its key.
pub fn to_text(request: &RequestSpec, outcome: &Outcome) -> String {
    let mut out = format!(
        "{} {}://{}{}\n",
        request.method,
        request.scheme,
        request.authority,
        request.target()
    );
    let Some(path) = &outcome.path else {
        let refusal = outcome.decision.refusal().expect("no path only for a refused request");
        out.push_str(&format!(
            "  refused: {refusal}: answered {} before routing\n",
            refusal.status()
        ));
        return out;
    };
    out.push_str(&format!("  matched as host `{}`, path `{path}`\n", outcome.host));
    out.push_str(&action_text(outcome));
    out.push_str(&modifiers_text(outcome));
    if !outcome.candidates.is_empty() {
        out.push_str("  candidates, best first:\n");
        for (i, candidate) in outcome.candidates.iter().enumerate() {
            let mark = if i == 0 && outcome.route.is_some() { "*" } else { " " };
            out.push_str(&format!("  {mark} {:<20} {}\n", candidate.route, candidate.key));
        }
    }
    out
}

/// What the winning route does, in words.
fn action_text(outcome: &Outcome) -> String {
    let Some(route) = &outcome.route else {
        return "  no route matches: answered 404\n".to_string();
    };
    if let Some(refusal) = outcome.decision.refusal() {
        return format!("  route `{route}`: refused: {refusal}: answered {}\n", refusal.status());
    }
    match outcome.action {
        Some("proxy") => {
            let targets: Vec<String> = outcome
                .upstreams
                .iter()
                .map(|(u, share)| match share {
                    100 => format!("`{u}`"),
                    _ => format!("`{u}` {share}%"),
                })
                .collect();
            let mut out = format!("  route `{route}`: proxy to {}\n", targets.join(", "));
            let rewritten = outcome
                .upstream_path
                .as_ref()
                .filter(|p| Some(*p) != outcome.path.as_ref());
            if let Some(upstream_path) = rewritten {
                out.push_str(&format!("  upstream receives `{upstream_path}`\n"));
            }
            match &outcome.server {
                Ok(server) => out.push_str(&format!("  server {server} (when every server is up)\n")),
                Err(why) => out.push_str(&format!("  server: {why}\n")),
            }
            out
        }
        Some("redirect") => format!(
            "  route `{route}`: redirect {} to `{}`\n",
            outcome.status.unwrap_or_default(),
            outcome.location.as_deref().unwrap_or_default()
        ),
        Some("respond") => format!("  route `{route}`: respond {}\n", outcome.status.unwrap_or_default()),
        Some(action) => format!("  route `{route}`: {action}\n"),
        None => format!("  route `{route}`: no action: answered 404\n"),
    }
}

/// The agents, rate-limit key and header edits, where there are any.
fn modifiers_text(outcome: &Outcome) -> String {
    let mut out = String::new();
    if !outcome.agents.is_empty() {
        let names: Vec<String> = outcome.agents.iter().map(|a| format!("`{a}`")).collect();
        out.push_str(&format!("  agents {}\n", names.join(", ")));
    }
    if let Some(key) = &outcome.rate_key {
        out.push_str(&format!("  rate limited by {key}\n"));
    }
    if !outcome.request_headers.is_empty() {
        out.push_str(&format!(
            "  request headers: {}\n",
            edits_text(&outcome.request_headers)
        ));
    }
    if !outcome.response_headers.is_empty() {
        out.push_str(&format!(
            "  response headers: {}\n",
            edits_text(&outcome.response_headers)
        ));
    }
    out
}
