//! What the runtime would do with one request, decided on a compiled
//! program: the same normalization, the same matcher, the same template
//! rendering. `zenc explain` prints it and `zenc test` checks it.

use zbin::model::{Action, Policy};
use zbin::normalize::{normalize_host, normalize_path, PathError};
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
    /// The client's address, when given (`from`, `--from`): it decides
    /// the server of `ketama by client_ip`.
    pub client_ip: Option<std::net::IpAddr>,
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

/// The decision for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The host matched on (normalized; the `host` header wins over the URL).
    pub host: String,
    /// The normalized path, or why the path was refused (answered 400).
    pub path: Result<String, PathError>,
    pub route: Option<String>,
    pub route_index: Option<usize>,
    pub action: Option<&'static str>,
    /// For a proxy: every upstream with its share.
    pub upstreams: Vec<(String, u8)>,
    /// The status answered without an upstream: 400, 404, a redirect's or
    /// a direct response's.
    pub status: Option<u16>,
    pub location: Option<String>,
    pub candidates: Vec<Candidate>,
    /// For a proxy: the server the request goes to, all servers being up,
    /// when the request decides it (one server, or consistent hashing);
    /// otherwise why not.
    pub server: Result<String, String>,
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

/// Decides `request` on `program`.
pub fn evaluate(program: &Program<'_>, request: &RequestSpec) -> Outcome {
    let policy: &Policy = program.policy();
    let host_source = request
        .headers
        .iter()
        .find(|(k, _)| k == "host")
        .map_or(request.authority.as_str(), |(_, v)| v.as_str());
    let host = normalize_host(host_source).into_owned();
    let path = normalize_path(&request.path).map(|p| p.into_owned());
    let mut outcome = Outcome {
        host: host.clone(),
        path: path.clone(),
        route: None,
        route_index: None,
        action: None,
        upstreams: Vec::new(),
        status: None,
        location: None,
        candidates: Vec::new(),
        server: Err("the request is not proxied".to_string()),
    };
    let Ok(path) = path else {
        outcome.status = Some(400);
        return outcome;
    };
    let matcher_request = zbin::Request {
        method: &request.method,
        host: &host,
        path: &path,
        query: request.query.as_deref(),
        headers: &request.headers,
    };
    // Best key first; a route matched by two of its host names is listed
    // once, with the better key (the one that competes).
    let mut seen = std::collections::HashSet::new();
    outcome.candidates = program
        .candidates(&matcher_request)
        .into_iter()
        .filter(|(_, alternative)| seen.insert(alternative.route))
        .map(|(_, alternative)| Candidate {
            route: policy.routes[alternative.route as usize].name.clone(),
            key: alternative.key,
        })
        .collect();
    let Some(found) = program.lookup(&matcher_request) else {
        outcome.status = Some(404);
        return outcome;
    };
    let route = &policy.routes[found.route as usize];
    outcome.route = Some(route.name.clone());
    outcome.route_index = Some(found.route as usize);
    match &route.action {
        Action::Proxy(targets) => {
            outcome.action = Some("proxy");
            outcome.upstreams = targets
                .iter()
                .map(|(u, share)| (policy.upstreams[*u as usize].name.clone(), *share))
                .collect();
            outcome.server = match targets.as_slice() {
                [(upstream, _)] => server_for(&policy.upstreams[*upstream as usize], request),
                _ => Err("a split picks its upstream at random".to_string()),
            };
        }
        Action::Static { .. } => outcome.action = Some("static"),
        Action::Redirect { status, location } => {
            outcome.action = Some("redirect");
            outcome.status = Some(*status);
            let captures = program.captures(found.route, &path);
            outcome.location = Some(zbin::matcher::render(
                location,
                &zbin::matcher::TemplateContext {
                    host: &host,
                    path: &path,
                    query: request.query.as_deref(),
                    scheme: &request.scheme,
                    request_id: "{request_id}",
                    captures: &captures,
                },
            ));
        }
        Action::Respond { status, .. } => {
            outcome.action = Some("respond");
            outcome.status = Some(*status);
        }
        Action::NotFound => outcome.status = Some(404),
    }
    outcome
}

/// The server of `upstream` that `request` goes to when every server is
/// up: its only primary, or the one consistent hashing picks for the
/// request's key (the code the runtime runs, `zbin::balance`).
fn server_for(upstream: &zbin::model::Upstream, request: &RequestSpec) -> Result<String, String> {
    use zbin::model::Balance;
    let primaries: Vec<&zbin::model::Server> = upstream.servers.iter().filter(|s| !s.backup).collect();
    if let [only] = primaries.as_slice() {
        return Ok(only.addr.clone());
    }
    let key = match &upstream.balance {
        Balance::KetamaClientIp => match request.client_ip {
            Some(ip) => ip.to_string(),
            None => {
                return Err(format!(
                    "upstream `{}` hashes the client address: say which (`from` in a test, `--from` for explain)",
                    upstream.name
                ))
            }
        },
        Balance::KetamaHeader(name) => request
            .headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default(),
        other => {
            let mode = match other {
                Balance::LeastConn => "least_conn",
                Balance::Random => "random",
                Balance::PowerOfTwoChoices => "p2c",
                _ => "round_robin",
            };
            return Err(format!(
                "upstream `{}` balances {} servers by `{mode}`: the request does not decide which",
                upstream.name,
                primaries.len()
            ));
        }
    };
    zbin::balance::pick(&upstream.servers, key.as_bytes(), |i| !upstream.servers[i].backup)
        .map(|i| upstream.servers[i].addr.clone())
        .ok_or_else(|| format!("upstream `{}` has no primary server", upstream.name))
}

/// The outcome as the JSON object of LANGUAGE.md §8.
pub fn to_json(outcome: &Outcome) -> serde_json::Value {
    serde_json::json!({
        "route": outcome.route,
        "action": outcome.action,
        "upstream": outcome.upstream(),
        "upstreams": outcome.upstreams.iter().map(|(name, share)| serde_json::json!({"upstream": name, "share": share})).collect::<Vec<_>>(),
        "status": outcome.status,
        "location": outcome.location,
        "server": outcome.server.as_ref().ok(),
        "host": outcome.host,
        "path": outcome.path.as_ref().ok(),
        "error": outcome.path.as_ref().err().map(|e| e.to_string()),
        "candidates": outcome.candidates.iter().map(|c| serde_json::json!({"route": c.route, "key": c.key.as_array()})).collect::<Vec<_>>(),
    })
}

/// The outcome for people: the winner, then every candidate and its key.
pub fn to_text(request: &RequestSpec, outcome: &Outcome) -> String {
    let mut out = format!(
        "{} {}://{}{}{}\n",
        request.method,
        request.scheme,
        request.authority,
        request.path,
        request.query.as_ref().map(|q| format!("?{q}")).unwrap_or_default()
    );
    match &outcome.path {
        Err(error) => {
            out.push_str(&format!("  refused: {error}: answered 400 before routing\n"));
            return out;
        }
        Ok(path) => out.push_str(&format!("  matched as host `{}`, path `{path}`\n", outcome.host)),
    }
    match (&outcome.route, outcome.action) {
        (None, _) => out.push_str("  no route matches: answered 404\n"),
        (Some(route), Some("proxy")) => {
            let targets: Vec<String> = outcome
                .upstreams
                .iter()
                .map(|(u, share)| {
                    if *share == 100 {
                        format!("`{u}`")
                    } else {
                        format!("`{u}` {share}%")
                    }
                })
                .collect();
            out.push_str(&format!("  route `{route}`: proxy to {}\n", targets.join(", ")));
            match &outcome.server {
                Ok(server) => out.push_str(&format!("  server {server} (when every server is up)\n")),
                Err(why) => out.push_str(&format!("  server: {why}\n")),
            }
        }
        (Some(route), Some("redirect")) => out.push_str(&format!(
            "  route `{route}`: redirect {} to `{}`\n",
            outcome.status.unwrap_or_default(),
            outcome.location.as_deref().unwrap_or_default()
        )),
        (Some(route), Some("respond")) => out.push_str(&format!(
            "  route `{route}`: respond {}\n",
            outcome.status.unwrap_or_default()
        )),
        (Some(route), action) => out.push_str(&format!("  route `{route}`: {}\n", action.unwrap_or("?"))),
    }
    if !outcome.candidates.is_empty() {
        out.push_str("  candidates, best first:\n");
        for (i, candidate) in outcome.candidates.iter().enumerate() {
            let mark = if i == 0 && outcome.route.is_some() { "*" } else { " " };
            out.push_str(&format!("  {mark} {:<20} {}\n", candidate.route, candidate.key));
        }
    }
    out
}
