//! Proxying to real origin servers on loopback: headers, rewrites,
//! retries, errors, health checks, limits. How servers are chosen is in
//! `upstreams.rs`.

mod support;

use std::time::Duration;

use support::*;

fn upstream(name: &str, servers: &[&Origin], extra: &str) -> String {
    let servers: String = servers
        .iter()
        .map(|o| format!("    server \"{}\"\n", o.addr()))
        .collect();
    format!("upstream {name} {{\n{servers}{extra}}}\n")
}

#[test]
fn forwards_with_proxy_headers_rewrites_and_edits() {
    let origin = Origin::start("one", Behavior::Echo);
    let policy = upstream("app", &[&origin], "")
        + r#"
route api {
    path prefix "/api"
    proxy app
    rewrite prefix "/api" "/v2"
    request_headers {
        set "x-added" "yes"
        remove "x-secret"
    }
    response_headers { set "x-served-by" "zentinel" }
}
"#;
    let proxy = Proxy::start(&policy);
    let r = send(
        proxy.port,
        "GET",
        "/api/users/../items?q=1",
        &[
            ("host", "shop.example.com"),
            ("x-secret", "s"),
            ("x-forwarded-for", "10.1.1.1"),
            ("connection", "x-hop"),
            ("x-hop", "for this hop only"),
            ("x-request-id", "req-123"),
        ],
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-served-by"), Some("zentinel"));
    assert_eq!(r.header("x-request-id"), Some("req-123"));
    let seen = r.json();
    assert_eq!(seen["target"], "/v2/items?q=1", "rewritten, normalized, query kept");
    let headers = &seen["headers"];
    assert_eq!(headers["host"], "shop.example.com", "Host is preserved");
    assert_eq!(headers["x-added"], "yes");
    assert!(headers.get("x-secret").is_none());
    assert!(headers.get("x-hop").is_none(), "named in `connection`: one hop only");
    assert_eq!(headers["x-forwarded-for"], "10.1.1.1, 127.0.0.1");
    assert_eq!(headers["x-forwarded-proto"], "http");
    assert_eq!(headers["x-forwarded-host"], "shop.example.com");
    assert_eq!(headers["x-request-id"], "req-123");
    // An invalid request id is replaced by a generated one.
    let r = send(
        proxy.port,
        "GET",
        "/api/x",
        &[("x-request-id", "bad id with spaces")],
        b"",
    );
    let generated = r.json()["headers"]["x-request-id"].as_str().unwrap().to_string();
    assert_eq!(generated.len(), 32);
    assert_eq!(r.header("x-request-id"), Some(generated.as_str()));
    // W3C trace context passes through untouched.
    let trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let r = send(proxy.port, "GET", "/api/x", &[("traceparent", trace)], b"");
    assert_eq!(r.json()["headers"]["traceparent"], trace);
    // POST bodies are forwarded.
    let r = send(proxy.port, "POST", "/api/orders", &[], b"{\"n\":1}");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["method"], "POST");
    assert!(eventually(Duration::from_secs(5), || proxy
        .access_log()
        .iter()
        .any(|l| l["route"] == "api")));
    let log = proxy.access_log();
    let line = log.iter().find(|l| l["route"] == "api").expect("logged");
    assert_eq!(line["upstream"], "app");
    assert_eq!(line["upstream_addr"], origin.addr());
    assert_eq!(line["attempts"], 1);
}

/// The header lines an echoing origin received.
fn head_lines(seen: &serde_json::Value) -> Vec<String> {
    seen["head"]
        .as_array()
        .expect("the origin echoes its head")
        .iter()
        .map(|l| l.as_str().unwrap().to_string())
        .collect()
}

/// The lines of `head` naming `name` (any case).
fn lines_of<'a>(head: &'a [String], name: &str) -> Vec<&'a str> {
    head.iter()
        .filter(|l| l.split_once(':').is_some_and(|(n, _)| n.eq_ignore_ascii_case(name)))
        .map(String::as_str)
        .collect()
}

#[test]
fn forwarding_headers_replace_the_clients_and_edits_of_them_win() {
    let origin = Origin::start("one", Behavior::Echo);
    let policy = upstream("app", &[&origin], "")
        + r#"
route edited {
    path prefix "/edited"
    proxy app
    request_headers {
        set "x-forwarded-proto" "https"
        remove "x-forwarded-host"
        add "x-forwarded-for" "192.0.2.1"
        add "x-request-id" "second"
    }
    response_headers { set "x-request-id" "fixed" }
}

route removed {
    path prefix "/removed"
    proxy app
    request_headers { remove "x-request-id" }
    response_headers { remove "x-request-id" }
}

route plain {
    proxy app
}
"#;
    let proxy = Proxy::start(&policy);
    let client = [
        ("host", "shop.example.com"),
        ("x-forwarded-for", "10.0.0.9"),
        ("X-Forwarded-Proto", "ftp"),
        ("x-forwarded-host", "elsewhere.example"),
        ("x-request-id", "abc"),
        ("x-after", "kept"),
    ];
    // Each forwarding header is written once, in its usual case, on a
    // line of its own; the client's values are replaced, not repeated.
    let r = send(proxy.port, "GET", "/", &client, b"");
    assert_eq!(r.status, 200, "{}", r.text());
    let head = head_lines(&r.json());
    assert_eq!(
        lines_of(&head, "x-forwarded-for"),
        ["X-Forwarded-For: 10.0.0.9, 127.0.0.1"]
    );
    assert_eq!(lines_of(&head, "x-forwarded-proto"), ["X-Forwarded-Proto: http"]);
    assert_eq!(
        lines_of(&head, "x-forwarded-host"),
        ["X-Forwarded-Host: shop.example.com"]
    );
    assert_eq!(lines_of(&head, "x-request-id"), ["X-Request-Id: abc"]);
    assert_eq!(lines_of(&head, "x-after"), ["x-after: kept"]);
    assert!(head.iter().all(|l| l.contains(": ")), "{head:?}");
    assert_eq!(r.header("x-request-id"), Some("abc"));

    // The route's edits see the forwarding headers as any other header.
    let r = send(proxy.port, "GET", "/edited", &client, b"");
    assert_eq!(r.status, 200, "{}", r.text());
    let head = head_lines(&r.json());
    assert_eq!(lines_of(&head, "x-forwarded-proto"), ["x-forwarded-proto: https"]);
    assert!(lines_of(&head, "x-forwarded-host").is_empty(), "{head:?}");
    assert_eq!(
        lines_of(&head, "x-forwarded-for"),
        ["X-Forwarded-For: 10.0.0.9, 127.0.0.1", "x-forwarded-for: 192.0.2.1"]
    );
    assert_eq!(
        lines_of(&head, "x-request-id"),
        ["X-Request-Id: abc", "x-request-id: second"]
    );
    assert_eq!(r.header("x-request-id"), Some("fixed"), "the answer's edit wins");

    let r = send(proxy.port, "GET", "/removed", &client, b"");
    assert_eq!(r.status, 200, "{}", r.text());
    let head = head_lines(&r.json());
    assert!(lines_of(&head, "x-request-id").is_empty(), "{head:?}");
    assert_eq!(lines_of(&head, "x-forwarded-proto"), ["X-Forwarded-Proto: http"]);
    assert_eq!(r.header("x-request-id"), None);
}

#[test]
fn dead_upstream_is_502_slow_is_504_none_healthy_is_503() {
    let dead = free_port();
    let slow = Origin::start("slow", Behavior::Slow(Duration::from_secs(3)));
    let policy = format!(
        r#"
upstream dead {{
    server "127.0.0.1:{dead}"
}}

upstream slow {{
    server "{slow}"
    timeout read 300ms
}}

upstream deadline {{
    server "{slow}"
}}

route refused {{
    path "/refused"
    proxy dead
}}

route slow {{
    path "/slow"
    proxy slow
}}

route deadline {{
    path "/deadline"
    proxy deadline
    timeout 300ms
}}
"#,
        slow = slow.addr()
    );
    let proxy = Proxy::start(&policy);
    assert_eq!(proxy.get("/refused").status, 502);
    let started = std::time::Instant::now();
    assert_eq!(proxy.get("/slow").status, 504);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the read timeout cut the wait"
    );
    assert_eq!(proxy.get("/deadline").status, 504);
    let metrics = proxy.metrics();
    assert!(
        metrics.contains("zentinel_upstream_failures_total{upstream=\"dead\"}"),
        "{metrics}"
    );
}

#[test]
fn retries_go_to_another_server() {
    let alive = Origin::start("alive", Behavior::Echo);
    let dead = free_port();
    let policy = format!(
        r#"
upstream pool {{
    server "127.0.0.1:{dead}"
    server "{}"
    retry 1 on connect_error
}}

upstream no_retry {{
    server "127.0.0.1:{dead}"
    server "{}"
}}

route a {{
    path "/a"
    proxy pool
}}

route b {{
    path "/b"
    proxy no_retry
}}
"#,
        alive.addr(),
        alive.addr()
    );
    let proxy = Proxy::start(&policy);
    // Round robin starts on the dead server; the retry reaches the live one.
    for _ in 0..4 {
        let r = proxy.get("/a");
        assert_eq!(r.status, 200, "{}", r.text());
    }
    // Without retries, the dead server's turn is a 502.
    let statuses: Vec<u16> = (0..4).map(|_| proxy.get("/b").status).collect();
    assert!(statuses.contains(&502) && statuses.contains(&200), "{statuses:?}");
    assert!(eventually(Duration::from_secs(5), || {
        proxy
            .access_log()
            .iter()
            .any(|l| l["route"] == "a" && l["attempts"] == 2)
    }));
}

#[test]
fn health_checks_take_servers_out_and_back() {
    let mut flaky = Origin::start("flaky", Behavior::Echo);
    let steady = Origin::start("steady", Behavior::Echo);
    let port = flaky.port;
    let policy = format!(
        r#"
upstream pool {{
    server "{}"
    server "{}"
    health http GET "/healthz" expect 200 interval 100ms timeout 100ms rise 1 fall 1
}}

route a {{
    proxy pool
}}
"#,
        flaky.addr(),
        steady.addr()
    );
    let proxy = Proxy::start(&policy);
    assert!(eventually(Duration::from_secs(5), || {
        proxy.metrics().contains(&format!(
            "zentinel_upstream_server_healthy{{server=\"127.0.0.1:{port}\",upstream=\"pool\"}} 1"
        ))
    }));
    flaky.stop();
    assert!(eventually(Duration::from_secs(5), || {
        proxy.metrics().contains(&format!(
            "zentinel_upstream_server_healthy{{server=\"127.0.0.1:{port}\",upstream=\"pool\"}} 0"
        ))
    }));
    // Out of rotation: every request goes to the steady server.
    for _ in 0..6 {
        let r = proxy.get("/x");
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["origin"], "steady");
    }
    let back = Origin::start_on("flaky", port, Behavior::Echo);
    assert!(eventually(Duration::from_secs(5), || {
        proxy.metrics().contains(&format!(
            "zentinel_upstream_server_healthy{{server=\"127.0.0.1:{port}\",upstream=\"pool\"}} 1"
        ))
    }));
    let origins: Vec<String> = (0..6)
        .map(|_| proxy.get("/x").json()["origin"].as_str().unwrap().to_string())
        .collect();
    assert!(origins.iter().any(|o| o == "flaky"), "{origins:?}");
    drop(back);
}

#[test]
fn no_healthy_server_is_503() {
    let mut only = Origin::start("only", Behavior::Echo);
    let policy = format!(
        "upstream pool {{\n    server \"{}\"\n    health tcp interval 100ms timeout 100ms fall 1\n}}\n\nroute a {{\n    proxy pool\n}}\n",
        only.addr()
    );
    let proxy = Proxy::start(&policy);
    assert_eq!(proxy.get("/").status, 200);
    only.stop();
    assert!(eventually(Duration::from_secs(5), || proxy.get("/").status == 503));
}

#[test]
fn rate_limits_answer_429_with_retry_after() {
    let proxy = Proxy::start("route a {\n    respond 200\n    rate_limit 1/m burst 2\n}\n");
    assert_eq!(proxy.get("/").status, 200);
    assert_eq!(proxy.get("/").status, 200);
    let r = proxy.get("/");
    assert_eq!(r.status, 429);
    let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait));
}

#[test]
fn limits_answer_413_and_431() {
    let origin = Origin::start("o", Behavior::Echo);
    let policy = upstream("app", &[&origin], "")
        + "limits {\n    max_header_count 20\n}\n\nroute a {\n    proxy app\n    limits {\n        max_body_size 16B\n    }\n}\n";
    let proxy = Proxy::start(&policy);
    assert_eq!(send(proxy.port, "POST", "/", &[], b"small").status, 200);
    assert_eq!(send(proxy.port, "POST", "/", &[], &[b'x'; 100]).status, 413);
    let many: Vec<(String, String)> = (0..30).map(|i| (format!("x-h{i}"), "v".to_string())).collect();
    let many: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(send(proxy.port, "GET", "/", &many, b"").status, 431);
}

#[test]
fn retries_on_listed_statuses() {
    let failing = Origin::start("failing", Behavior::Status(503));
    let healthy = Origin::start("healthy", Behavior::Echo);
    let policy = format!(
        "upstream pool {{\n    server \"{}\"\n    server \"{}\"\n    retry 1 on status 503\n}}\n\nupstream plain {{\n    server \"{}\"\n    server \"{}\"\n}}\n\nroute a {{\n    path \"/a\"\n    proxy pool\n}}\n\nroute b {{\n    path \"/b\"\n    proxy plain\n}}\n",
        failing.addr(),
        healthy.addr(),
        failing.addr(),
        healthy.addr()
    );
    let proxy = Proxy::start(&policy);
    for _ in 0..4 {
        let r = proxy.get("/a");
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["origin"], "healthy");
    }
    let statuses: Vec<u16> = (0..4).map(|_| proxy.get("/b").status).collect();
    assert!(
        statuses.contains(&503),
        "without `retry on status` the 503 passes through: {statuses:?}"
    );
}

#[test]
fn max_connections_caps_each_server() {
    let slow = Origin::start("slow", Behavior::Slow(Duration::from_millis(800)));
    let policy = format!(
        "upstream pool {{\n    server \"{}\"\n    max_connections 1\n}}\n\nroute a {{\n    proxy pool\n}}\n",
        slow.addr()
    );
    let proxy = Proxy::start(&policy);
    let port = proxy.port;
    let first = std::thread::spawn(move || get(port, "/"));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(proxy.get("/").status, 503, "the only server is at its cap");
    assert_eq!(first.join().unwrap().status, 200);
    assert_eq!(proxy.get("/").status, 200, "free again");
}

#[test]
fn request_timeout_is_408_and_idle_connections_close() {
    use std::io::{Read, Write};
    let origin = Origin::start("o", Behavior::Echo);
    let policy = upstream("app", &[&origin], "")
        + "limits {\n    request_timeout 300ms\n    idle_timeout 1s\n}\n\nroute a {\n    proxy app\n}\n";
    let proxy = Proxy::start(&policy);
    // A body that never finishes arriving.
    let started = std::time::Instant::now();
    assert_eq!(stalled_body(proxy.port).status, 408);
    assert!(started.elapsed() < Duration::from_secs(5));
    // A keep-alive connection left idle is closed by zentinel.
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", proxy.port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").unwrap();
    let mut buffer = [0u8; 4096];
    let n = stream.read(&mut buffer).unwrap();
    assert!(String::from_utf8_lossy(&buffer[..n]).starts_with("HTTP/1.1 200"));
    let idle_started = std::time::Instant::now();
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    let idle = idle_started.elapsed();
    assert!(
        idle >= Duration::from_millis(700) && idle < Duration::from_secs(6),
        "closed after {idle:?}"
    );
}
