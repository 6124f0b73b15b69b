//! The proxy and `zenc explain` make one decision (`zbin::decide`): a
//! corpus of requests, sent as raw bytes (and over HTTP/2) through a
//! running zentinel to a recording origin, and put to `zenc explain` on
//! the same artifact, must agree field by field: the route, the status,
//! the location, and the path and query the origin received.

mod support;

use std::time::Duration;

use support::{eventually, free_port, send_raw, Behavior, Origin, Proxy, Response};

/// One request of the corpus: as sent on the wire.
struct Case {
    method: &'static str,
    /// The request target: origin form, or absolute form (`http://...`).
    target: &'static str,
    /// Header lines; the `Host` line, if any, among them.
    headers: &'static [(&'static str, &'static str)],
}

const fn case(method: &'static str, target: &'static str, headers: &'static [(&'static str, &'static str)]) -> Case {
    Case {
        method,
        target,
        headers,
    }
}

const API: &[(&str, &str)] = &[("host", "api.example.com")];

/// Hosts with ports, case and trailing dots; absolute-form targets with
/// agreeing and disagreeing `Host`; encoded, dot-segment and doubled
/// paths; queries; prefix and template rewrites; captures; header and
/// query conditions; a route without action; HEAD.
const CORPUS: &[Case] = &[
    case("GET", "/api/users?x=1", API),
    case("GET", "/api", API),
    case("GET", "/api/users", &[("host", "API.Example.COM.")]),
    case("GET", "/api/users", &[("host", "api.example.com:8080")]),
    case("GET", "/API/users", API),
    case(
        "GET",
        "http://api.example.com/api/abs?q=2",
        &[("host", "api.example.com")],
    ),
    case(
        "GET",
        "http://api.example.com:80/api/abs",
        &[("host", "api.example.com:80")],
    ),
    case(
        "GET",
        "http://api.example.com/api/abs",
        &[("host", "other.example.com")],
    ),
    case(
        "GET",
        "http://api.example.com:8080/api/abs",
        &[("host", "api.example.com")],
    ),
    case("GET", "/api/%7Euser/%41", API),
    case("GET", "/api/a/../b/./c", API),
    case("GET", "//api//x", API),
    case("GET", "/api/a%2Fb", API),
    case("GET", "/api/a%zz", API),
    case("GET", "/u/42?a=b", &[("host", "bob.users.example.com")]),
    case("GET", "/u/42", &[("host", "users.example.com")]),
    case("GET", "/blog/hello?x=1", &[("host", "example.com")]),
    case("GET", "/blog/hello", &[("host", "example.com:8080")]),
    case("GET", "/search?q=rust&page=2", &[("host", "example.com")]),
    case("GET", "/search?page=2", &[("host", "example.com")]),
    case("GET", "/app/x", &[("host", "example.com"), ("x-beta", "1")]),
    case("GET", "/app/x?y", &[("host", "example.com")]),
    case("POST", "/app/private/x", &[("host", "example.com")]),
    case("HEAD", "/probe", &[("host", "example.com")]),
    case("GET", "/probe", &[("host", "example.com")]),
    case("HEAD", "/", &[("host", "example.com")]),
    case("GET", "/nothing/here", &[("host", "example.com")]),
];

/// Requested over HTTP/2 (h2c): the authority is `:authority`.
const H2_CORPUS: &[(&str, &str)] = &[
    ("GET", "http://api.example.com/api/h2?z=9"),
    ("GET", "http://Bob.Users.Example.com/u/7"),
    ("GET", "http://example.com/blog/x-y?k=v"),
    ("GET", "http://example.com/api/a/../../app/q"),
    ("GET", "http://example.com/search?q=1"),
];

fn policy(origin: &Origin, h2_port: u16) -> String {
    format!(
        r#"listen "127.0.0.1:{h2_port}" http2

upstream origin {{
    server "{origin}"
}}

route api {{
    host "api.example.com"
    path prefix "/api"
    proxy origin
    rewrite prefix "/api" "/v2"
}}

route users {{
    host "*.users.example.com"
    path regex r"/u/(?P<id>[0-9]+)"
    proxy origin
    rewrite "/users/{{id}}?from={{host}}"
}}

route blog {{
    path regex r"/blog/(?P<slug>[a-z0-9-]+)"
    redirect 301 "https://{{host}}/posts/{{slug}}?{{query}}"
}}

route search {{
    path "/search"
    query "q"
    proxy origin
}}

route beta {{
    path prefix "/app"
    header "x-beta" "1"
    respond 200 "beta"
}}

route app {{
    path prefix "/app"
    proxy origin
}}

route hole {{
    path prefix "/app/private"
}}

route probe {{
    method HEAD
    path "/probe"
    respond 204
}}

route home {{
    path "/"
    respond 200 "home"
}}
"#,
        origin = origin.addr()
    )
}

/// The request as `zenc explain` takes it: the URL's authority is the
/// target's (absolute form) or the `Host` header's.
fn explain_spec(case: &Case, id: &str) -> zenc::explain::RequestSpec {
    let mut headers: Vec<(String, String)> = case
        .headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
        .collect();
    headers.push(("x-request-id".into(), id.into()));
    let host = headers.iter().find(|(k, _)| k == "host").map(|(_, v)| v.clone());
    let (authority, path, query, absolute_form) = match zenc::explain::parse_url(case.target) {
        Some((_, authority, path, query)) => (authority, path, query, true),
        None => {
            let (path, query) = match case.target.split_once('?') {
                Some((path, query)) => (path.to_string(), Some(query.to_string())),
                None => (case.target.to_string(), None),
            };
            (host.clone().expect("origin-form cases name a host"), path, query, false)
        }
    };
    zenc::explain::RequestSpec {
        method: case.method.into(),
        scheme: "http".into(),
        authority,
        path,
        query,
        headers,
        client_ip: Some("127.0.0.1".parse().unwrap()),
        absolute_form,
    }
}

/// What the proxy did with one request, as the client and the origin saw it.
struct Seen {
    /// Whether zentinel's own request handling saw the request (its id
    /// came back); Pingora refuses some malformed requests before that,
    /// and those reach no route and no log.
    handled: bool,
    status: u16,
    location: Option<String>,
    /// The target the origin received, when the request reached it.
    origin_target: Option<String>,
}

impl Seen {
    fn of(response: &Response, method: &str) -> Seen {
        let reached = response.header("x-origin").is_some() && method != "HEAD";
        Seen {
            handled: response.header("x-request-id").is_some(),
            status: response.status,
            location: response.header("location").map(str::to_string),
            origin_target: reached.then(|| response.json()["target"].as_str().unwrap_or_default().to_string()),
        }
    }
}

/// Asserts that the proxy's answer and route agree with the explanation.
fn agree(what: &str, seen: &Seen, route: Option<&str>, outcome: &zenc::explain::Outcome) {
    assert_eq!(route, outcome.route.as_deref(), "{what}: route");
    match outcome.status {
        Some(status) => assert_eq!(seen.status, status, "{what}: status"),
        None => assert_eq!(seen.status, 200, "{what}: proxied, the origin answers 200"),
    }
    assert_eq!(seen.location, outcome.location, "{what}: location");
    assert_eq!(
        seen.origin_target, outcome.upstream_path,
        "{what}: the path and query the origin received"
    );
}

/// The route the access log gives each request id.
fn routes_by_id(proxy: &Proxy, count: usize) -> std::collections::HashMap<String, Option<String>> {
    let mut lines = Vec::new();
    let complete = eventually(Duration::from_secs(10), || {
        lines = proxy.access_log();
        lines.len() >= count
    });
    assert!(
        complete,
        "{} of {count} access log lines: {}",
        lines.len(),
        lines
            .iter()
            .map(|l| l["request_id"].to_string())
            .collect::<Vec<_>>()
            .join(" ")
    );
    lines
        .iter()
        .map(|line| {
            let id = line["request_id"].as_str().unwrap_or_default().to_string();
            (id, line["route"].as_str().map(str::to_string))
        })
        .collect()
}

/// A GET over cleartext HTTP/2 (h2c, prior knowledge).
fn h2_send(port: u16, method: &str, url: &str, id: &str) -> Seen {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let request = http::Request::builder()
            .method(method)
            .uri(url)
            .header("x-request-id", id)
            .body(())
            .unwrap();
        let (parts, bytes) = support::h2_exchange(tcp, request).await;
        let reached = parts.headers.contains_key("x-origin");
        let echoed: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        Seen {
            handled: parts.headers.contains_key("x-request-id"),
            status: parts.status.as_u16(),
            location: parts.headers.get("location").map(|v| v.to_str().unwrap().to_string()),
            origin_target: reached.then(|| echoed["target"].as_str().unwrap_or_default().to_string()),
        }
    })
}

#[test]
fn the_proxy_does_what_explain_says_field_by_field() {
    let origin = Origin::start("origin", Behavior::Echo);
    let h2_port = free_port();
    let proxy = Proxy::start(&policy(&origin, h2_port));
    let bytes = zbin::AlignedBytes::new(&std::fs::read(proxy.dir.join("site.zbin")).unwrap());
    let program = zbin::Program::from_bytes(bytes.as_bytes()).unwrap();

    let mut checks = Vec::new();
    for (i, case) in CORPUS.iter().enumerate() {
        let id = format!("diff-{i}");
        let mut raw = format!("{} {} HTTP/1.1\r\n", case.method, case.target);
        for (name, value) in case.headers {
            raw.push_str(&format!("{name}: {value}\r\n"));
        }
        raw.push_str(&format!("x-request-id: {id}\r\nconnection: close\r\n\r\n"));
        let seen = Seen::of(&send_raw(proxy.port, raw.as_bytes()), case.method);
        let outcome = zenc::explain::evaluate(&program, &explain_spec(case, &id));
        checks.push((
            format!("{} {} {:?}", case.method, case.target, case.headers),
            id,
            seen,
            outcome,
        ));
    }
    for (i, (method, url)) in H2_CORPUS.iter().enumerate() {
        let id = format!("diff-h2-{i}");
        let seen = h2_send(h2_port, method, url, &id);
        let (scheme, authority, path, query) = zenc::explain::parse_url(url).unwrap();
        let spec = zenc::explain::RequestSpec {
            method: method.to_string(),
            scheme,
            authority,
            path,
            query,
            headers: vec![("x-request-id".into(), id.clone())],
            client_ip: Some("127.0.0.1".parse().unwrap()),
            absolute_form: false,
        };
        let outcome = zenc::explain::evaluate(&program, &spec);
        checks.push((format!("HTTP/2 {method} {url}"), id, seen, outcome));
    }

    let handled = checks.iter().filter(|(_, _, seen, _)| seen.handled).count();
    let routes = routes_by_id(&proxy, handled);
    for (what, id, seen, outcome) in &checks {
        let route = match routes.get(id) {
            Some(route) => route.as_deref(),
            None => {
                assert!(!seen.handled, "{what}: no access log line");
                None
            }
        };
        agree(what, seen, route, outcome);
    }
    // The corpus reaches every kind of answer: refusals, no route, each
    // route, rewrites that the origin saw.
    let statuses: std::collections::HashSet<u16> = checks.iter().map(|(_, _, s, _)| s.status).collect();
    for status in [200, 204, 301, 400, 404] {
        assert!(statuses.contains(&status), "no case answered {status}");
    }
    let reached: std::collections::HashSet<&str> =
        checks.iter().filter_map(|(_, _, _, o)| o.route.as_deref()).collect();
    for route in ["api", "users", "blog", "search", "beta", "app", "hole", "probe", "home"] {
        assert!(reached.contains(route), "no case reaches route `{route}`");
    }
}

#[test]
fn a_request_without_host_or_with_two_is_refused() {
    let proxy = Proxy::start("route a {\n    respond 200\n}\n");
    let missing = send_raw(proxy.port, b"GET / HTTP/1.1\r\nconnection: close\r\n\r\n");
    assert_eq!(missing.status, 400);
    let twice = send_raw(
        proxy.port,
        b"GET / HTTP/1.1\r\nhost: a.example.com\r\nhost: b.example.com\r\nconnection: close\r\n\r\n",
    );
    assert_eq!(twice.status, 400);
    // HTTP/1.0 had no Host: such a request is routed on no host.
    let old = send_raw(proxy.port, b"GET / HTTP/1.0\r\n\r\n");
    assert_eq!(old.status, 200);
}
