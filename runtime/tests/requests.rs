//! What zentinel does to a request on its way, against real origins:
//! hop-by-hop headers, limits on streamed bodies and header sizes, rate
//! limits by every key, rewrites by template, header edits of every kind,
//! policies applied with `use`, routes without an action, WebSocket
//! upgrades, and the route's whole-request deadline.

mod support;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use support::*;

fn upstream(name: &str, origin: &Origin) -> String {
    format!("upstream {name} {{\n    server \"{}\"\n}}\n", origin.addr())
}

#[test]
fn hop_by_hop_headers_stop_at_zentinel() {
    let origin = Origin::start("o", Behavior::Echo);
    let policy = upstream("app", &origin) + "route a {\n    proxy app\n}\n";
    let proxy = Proxy::start(&policy);
    let r = send(
        proxy.port,
        "GET",
        "/",
        &[
            ("connection", "x-private"),
            ("x-private", "only for this hop"),
            ("keep-alive", "timeout=5"),
            ("proxy-connection", "keep-alive"),
            ("te", "trailers"),
            ("trailer", "x-sum"),
            ("proxy-authorization", "Basic eDp5"),
            ("x-kept", "end to end"),
        ],
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let headers = &r.json()["headers"];
    for gone in [
        "x-private",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "proxy-authorization",
    ] {
        assert!(headers.get(gone).is_none(), "`{gone}` reached the origin: {headers}");
    }
    assert_eq!(headers["x-kept"], "end to end");

    // The origin's answer loses its hop-by-hop headers too, those its
    // `connection` names among them; the client's connection gets
    // zentinel's own `connection`.
    let reply =
        "keep-alive: timeout=5|connection: x-origin-hop|x-origin-hop: 1|proxy-connection: keep-alive|x-kept: yes";
    let r = send(proxy.port, "GET", "/", &[("x-origin-reply", reply)], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    for gone in ["keep-alive", "x-origin-hop", "proxy-connection"] {
        assert!(r.header(gone).is_none(), "`{gone}` reached the client: {:?}", r.headers);
    }
    assert_eq!(r.header("x-kept"), Some("yes"));
    assert_eq!(r.header("connection"), Some("close"));

    // The origin's `connection` is its own: an origin that closes does
    // not close a keep-alive client, which gets one `connection` line.
    let mut client = std::net::TcpStream::connect(("127.0.0.1", proxy.port)).unwrap();
    client.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    for _ in 0..2 {
        client
            .write_all(b"GET / HTTP/1.1\r\nhost: x\r\nx-origin-reply: connection: close\r\n\r\n")
            .unwrap();
        let r = read_response(&mut client).expect("an answer on the kept connection");
        assert_eq!(r.status, 200, "{}", r.text());
        let lines: Vec<&str> = r
            .headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("connection"))
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(lines, ["keep-alive"], "{:?}", r.headers);
    }
}

#[test]
fn a_connection_line_cannot_remove_what_zentinel_forwards() {
    let origin = Origin::start("o", Behavior::Echo);
    let policy = upstream("app", &origin) + "route a {\n    proxy app\n}\n";
    let proxy = Proxy::start(&policy);
    // Nominating a header zentinel forwards, a pseudo-header, something
    // that is not a name, or ten names (`send` adds `close`): 400, and the
    // origin sees nothing.
    let ten = "a, b, c, d, e, f, g, h, i";
    for refused in [
        "x-forwarded-for",
        "Host",
        "X-Forwarded-Proto",
        ":authority",
        "\"x-private\"",
        ten,
    ] {
        let r = send(proxy.port, "GET", "/", &[("connection", refused)], b"");
        assert_eq!(r.status, 400, "connection: {refused}: {}", r.text());
    }
    assert_eq!(origin.hits.load(std::sync::atomic::Ordering::SeqCst), 0);
    // Nine pass, and go no further.
    let nine = "a, b, c, d, e, f, g, h";
    let r = send(
        proxy.port,
        "GET",
        "/",
        &[("connection", nine), ("a", "1"), ("h", "8"), ("i", "9")],
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let headers = &r.json()["headers"];
    assert!(headers.get("a").is_none() && headers.get("h").is_none(), "{headers}");
    assert_eq!(headers["i"], "9");

    // An upgrade to anything but WebSocket is dropped: the origin answers
    // plain HTTP/1.1.
    let r = send(
        proxy.port,
        "GET",
        "/",
        &[
            ("connection", "Upgrade, HTTP2-Settings"),
            ("upgrade", "h2c"),
            ("http2-settings", "AAMAAABkAAQAoAAAAAIAAAAA"),
        ],
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let headers = &r.json()["headers"];
    for gone in ["upgrade", "http2-settings", "connection"] {
        assert!(headers.get(gone).is_none(), "`{gone}` reached the origin: {headers}");
    }
}

#[test]
fn a_streamed_body_is_cut_at_the_limit_and_headers_by_size() {
    let origin = Origin::start("o", Behavior::Echo);
    let policy = upstream("app", &origin)
        + "limits {\n    max_header_size 2KiB\n}\n\nroute a {\n    proxy app\n    limits { max_body_size 1KiB }\n}\n";
    let proxy = Proxy::start(&policy);
    // Chunked, so no length announces it: counted as it streams.
    let mut request = b"POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n".to_vec();
    for _ in 0..8 {
        request.extend_from_slice(b"200\r\n");
        request.extend_from_slice(&[b'x'; 512]);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    assert_eq!(send_raw(proxy.port, &request).status, 413);
    // Under the limit, chunked bodies pass whole.
    let small =
        b"POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
    let r = send_raw(proxy.port, small);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["body_bytes"], 5);
    // Headers past 2 KiB in all: 431.
    let big = "v".repeat(3000);
    assert_eq!(send(proxy.port, "GET", "/", &[("x-big", &big)], b"").status, 431);
}

#[test]
fn rate_limits_by_header_and_by_route() {
    let policy = r#"
route keyed {
    path "/keyed"
    respond 200
    rate_limit 1/m burst 1 by header "x-api-key"
}

route whole {
    path "/whole"
    respond 200
    rate_limit 1/m burst 2 by route
}
"#;
    let proxy = Proxy::start(policy);
    let keyed = |key: &str| send(proxy.port, "GET", "/keyed", &[("x-api-key", key)], b"").status;
    assert_eq!(keyed("alpha"), 200);
    assert_eq!(keyed("alpha"), 429, "alpha spent its token");
    assert_eq!(keyed("beta"), 200, "beta has its own bucket");
    // By route: one bucket, whoever asks.
    assert_eq!(
        send(proxy.port, "GET", "/whole", &[("x-api-key", "a")], b"").status,
        200
    );
    assert_eq!(
        send(proxy.port, "GET", "/whole", &[("x-api-key", "b")], b"").status,
        200
    );
    let r = send(proxy.port, "GET", "/whole", &[("x-api-key", "c")], b"");
    assert_eq!(r.status, 429);
    assert!(r.header("retry-after").is_some());
}

#[test]
fn template_rewrites_header_edits_and_policies() {
    let origin = Origin::start("o", Behavior::Echo);
    let policy = upstream("app", &origin)
        + r#"
policy tagged {
    response_headers {
        set "x-policy" "tagged"
        remove "x-origin"
    }
}

route users {
    path regex r"/users/(?P<id>[0-9]+)/profile"
    proxy app
    rewrite "/internal/profiles/{id}?from={host}"
    request_headers {
        add "x-trace" "one"
        add "x-trace" "two"
    }
    response_headers { add "x-served" "zentinel" }
    use tagged
}
"#;
    let proxy = Proxy::start(&policy);
    let r = send(proxy.port, "GET", "/users/42/profile", &[("host", "shop.example")], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    let seen = r.json();
    assert_eq!(seen["target"], "/internal/profiles/42?from=shop.example");
    // Two `add`s: two field lines, which the echo joins.
    let traces = seen["headers"]["x-trace"].as_str().unwrap();
    assert!(traces == "two" || traces.contains("one"), "{traces}");
    assert_eq!(r.header("x-served"), Some("zentinel"));
    assert_eq!(r.header("x-policy"), Some("tagged"), "the policy applied through `use`");
    assert_eq!(r.header("x-origin"), None, "removed from the response");
    let origin_lines = origin.bodies.lock().unwrap().len();
    assert_eq!(origin_lines, 1);
}

#[test]
fn a_route_without_an_action_answers_404_with_its_headers() {
    let policy = r#"
route site {
    path prefix "/"
    respond 200 "site"
}

route hidden {
    priority 1
    path prefix "/.git"
    response_headers { set "x-hidden" "1" }
    rate_limit 1/m burst 1
}
"#;
    let proxy = Proxy::start(policy);
    assert_eq!(proxy.get("/index.html").status, 200);
    let r = proxy.get("/.git/config");
    assert_eq!(r.status, 404);
    assert_eq!(r.header("x-hidden"), Some("1"));
    assert!(r.header("x-request-id").is_some());
    assert_eq!(proxy.get("/.git/HEAD").status, 429, "its rate limit applies");
}

#[test]
fn websocket_upgrades_reach_the_origin_and_carry_bytes_both_ways() {
    let origin = Origin::start("ws", Behavior::Upgrade);
    // A body limit far below what goes through the tunnel: upgraded bytes
    // are not a request body.
    let policy = upstream("ws", &origin)
        + "route ws {\n    path \"/socket\"\n    proxy ws\n    limits { max_body_size 8B }\n}\n";
    let proxy = Proxy::start(&policy);
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", proxy.port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream
        .write_all(
            b"GET /socket HTTP/1.1\r\nhost: x\r\nconnection: Upgrade\r\nupgrade: websocket\r\n\
              sec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        )
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(stream.read(&mut byte).unwrap(), 1, "closed before the head ended");
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("upgrade: websocket"), "{head}");
    assert!(head.contains("connection: upgrade"), "{head}");
    // Now a raw byte stream, echoed by the origin through zentinel.
    stream.write_all(b"ping over the tunnel").unwrap();
    let mut echoed = [0u8; 20];
    stream.read_exact(&mut echoed).unwrap();
    assert_eq!(&echoed, b"ping over the tunnel");
}

#[test]
fn the_route_timeout_bounds_the_whole_request() {
    // Headers come quickly, then the body a byte every 100 ms: each read is
    // fast, the whole is not.
    let trickle = Origin::start("trickle", Behavior::Trickle(Duration::from_millis(100)));
    let slow = Origin::start("slow", Behavior::Slow(Duration::from_millis(900)));
    let slower = Origin::start("slower", Behavior::Slow(Duration::from_millis(900)));
    let policy = format!(
        r#"
upstream trickle {{
    server "{}"
    timeout read 1s
}}

upstream slow {{
    server "{}"
    server "{}"
    retry 3 on timeout
    timeout read 500ms
}}

route trickle {{
    path "/trickle"
    proxy trickle
    timeout 500ms
}}

route slow {{
    path "/slow"
    proxy slow
    timeout 600ms
}}
"#,
        trickle.addr(),
        slow.addr(),
        slower.addr()
    );
    let proxy = Proxy::start(&policy);
    // The answer had begun: it is cut off at the deadline, not completed.
    let started = Instant::now();
    let r = proxy.get("/trickle");
    let elapsed = started.elapsed();
    assert_eq!(r.status, 200);
    assert!(r.body.len() < 20, "the body was not cut: {} bytes", r.body.len());
    assert!(elapsed < Duration::from_millis(1500), "took {elapsed:?}");
    // Retries share the deadline: 504 once it is spent, not after four
    // read timeouts (2 s).
    let started = Instant::now();
    assert_eq!(proxy.get("/slow").status, 504);
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_millis(1500), "took {elapsed:?}");
}

#[test]
fn a_client_that_stops_sending_its_body_is_answered_408_and_ejects_nobody() {
    let origin = Origin::start("o", Behavior::Echo);
    let policy = format!(
        "upstream app {{\n    server \"{}\"\n    timeout read 300ms\n    passive failures 1 within 10s eject 30s\n}}\n\nroute a {{\n    proxy app\n}}\n",
        origin.addr()
    );
    let proxy = Proxy::start(&policy);
    assert_eq!(stalled_body(proxy.port).status, 408);
    // The server was not at fault: it is still in rotation.
    assert_eq!(proxy.get("/").status, 200);
}

#[test]
fn empty_chunked_bodies_leave_pooled_connections_clean() {
    let socket = std::env::temp_dir().join(format!("zentinel-absent-{}.sock", std::process::id()));
    let origin = Origin::start("o", Behavior::Echo);
    // An agent that wants the body (and is absent: allowed) holds bodies back.
    let policy = format!(
        "agent gate {{\n    socket \"{}\"\n    on_failure allow\n    body 1KiB\n}}\n\n{}route a {{\n    proxy app\n    agents gate\n}}\n",
        socket.display(),
        upstream("app", &origin)
    );
    let proxy = Proxy::start_with(&policy, &["--threads", "1"]);
    let empty = b"POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n0\r\n\r\n";
    for _ in 0..4 {
        let r = send_raw(proxy.port, empty);
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["body_bytes"], 0);
    }
    // One upstream connection served them all: nothing stray was left on it.
    assert_eq!(origin.connections.load(std::sync::atomic::Ordering::SeqCst), 1);
}
