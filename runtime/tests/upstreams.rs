//! Upstream behaviour against real origins: the balancing modes, weights,
//! splits and passive ejection, consistent hashing that agrees with
//! `zenc`'s prediction, backups, which failures are retried and for
//! which methods, connect timeouts, connections reused (and kept across a
//! reload), health checks that read the status, servers named by DNS, and
//! client faults that must not count against a server.

mod support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use support::*;

#[test]
fn ketama_sends_a_client_where_zenc_predicts() {
    let origins: Vec<Origin> = (0..4)
        .map(|i| Origin::start(&format!("s{i}"), Behavior::Echo))
        .collect();
    let servers: String = origins
        .iter()
        .map(|o| format!("    server \"{}\"\n", o.addr()))
        .collect();
    let policy =
        format!("upstream pool {{\n{servers}    balance ketama by client_ip\n}}\n\nroute a {{\n    proxy pool\n}}\n");
    let proxy = Proxy::start(&policy);
    // What `zenc explain --from 127.0.0.1` says, from the same artifact.
    let bytes = zbin::AlignedBytes::new(&std::fs::read(proxy.dir.join("site.zbin")).unwrap());
    let program = zbin::Program::from_bytes(bytes.as_bytes()).unwrap();
    let outcome = zenc::explain::evaluate(
        &program,
        &zenc::explain::RequestSpec {
            method: "GET".into(),
            scheme: "http".into(),
            authority: "example.com".into(),
            path: "/".into(),
            query: None,
            headers: Vec::new(),
            client_ip: Some("127.0.0.1".parse().unwrap()),
            absolute_form: false,
        },
    );
    let predicted = outcome.server.expect("consistent hashing decides");
    let expected = origins.iter().find(|o| o.addr() == predicted).unwrap().name.clone();
    for _ in 0..6 {
        assert_eq!(proxy.get("/").json()["origin"], expected.as_str());
    }
}

#[test]
fn backups_serve_only_when_no_primary_can() {
    let mut primary = Origin::start("primary", Behavior::Echo);
    let backup = Origin::start("backup", Behavior::Echo);
    let policy = format!(
        "upstream pool {{\n    server \"{}\"\n    server \"{}\" backup\n    health tcp interval 100ms timeout 100ms fall 1 rise 1\n}}\n\nroute a {{\n    proxy pool\n}}\n",
        primary.addr(),
        backup.addr()
    );
    let proxy = Proxy::start(&policy);
    for _ in 0..3 {
        assert_eq!(proxy.get("/").json()["origin"], "primary");
    }
    primary.stop();
    assert!(eventually(Duration::from_secs(5), || {
        let r = proxy.get("/");
        r.status == 200 && r.json()["origin"] == "backup"
    }));
}

#[test]
fn timeouts_are_retried_for_idempotent_methods_unless_told_otherwise() {
    let slow = Origin::start("slow", Behavior::Slow(Duration::from_millis(800)));
    let fast = Origin::start("fast", Behavior::Echo);
    let pool = |extra: &str| {
        format!(
            "    server \"{}\"\n    server \"{}\"\n    timeout read 200ms\n    retry 1 on timeout\n{extra}",
            slow.addr(),
            fast.addr()
        )
    };
    let policy = format!(
        "upstream safe {{\n{}}}\n\nupstream any {{\n{}}}\n\nroute safe {{\n    path \"/safe\"\n    proxy safe\n}}\n\nroute any {{\n    path \"/any\"\n    proxy any\n}}\n",
        pool(""),
        pool("    retry_non_idempotent\n")
    );
    let proxy = Proxy::start(&policy);
    // Round robin: every other request starts on the slow server.
    for _ in 0..4 {
        let r = proxy.get("/safe");
        assert_eq!(r.status, 200, "a timed-out GET goes to the other server");
        assert_eq!(r.json()["origin"], "fast");
    }
    let posts: Vec<u16> = (0..4)
        .map(|_| send(proxy.port, "POST", "/safe", &[], b"{}").status)
        .collect();
    assert!(posts.contains(&504), "a POST is not retried: {posts:?}");
    let posts: Vec<u16> = (0..4)
        .map(|_| send(proxy.port, "POST", "/any", &[], b"{}").status)
        .collect();
    assert_eq!(posts, [200; 4], "retry_non_idempotent retries a POST");
    let metrics = proxy.metrics();
    assert!(
        metrics.contains("zentinel_upstream_attempts_total{upstream=\"safe\"}"),
        "{metrics}"
    );
}

#[test]
fn a_connect_timeout_is_504() {
    // A listener that never accepts, its backlog filled: the kernel drops
    // further SYNs, so connecting hangs until the timeout.
    let listener = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    listener.bind(&socket(0).into()).unwrap();
    listener.listen(0).unwrap();
    let port = listener.local_addr().unwrap().as_socket().unwrap().port();
    let mut fillers = Vec::new();
    for _ in 0..8 {
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        s.set_nonblocking(true).unwrap();
        let _ = s.connect(&socket(port).into());
        fillers.push(s);
    }
    let policy = format!(
        "upstream stuck {{\n    server \"127.0.0.1:{port}\"\n    timeout connect 300ms\n}}\n\nroute a {{\n    proxy stuck\n}}\n"
    );
    let proxy = Proxy::start(&policy);
    assert_eq!(proxy.get("/").status, 504);
    drop(fillers);
}

#[test]
fn connections_are_reused_and_survive_a_reload() {
    let origin = Origin::start("o", Behavior::Echo);
    let body = format!(
        "upstream app {{\n    server \"{}\"\n}}\n\nroute a {{\n    proxy app\n}}\n",
        origin.addr()
    );
    let proxy = Proxy::start_with(&body, &["--threads", "1"]);
    for _ in 0..10 {
        assert_eq!(proxy.get("/").status, 200);
    }
    let before = origin.connections.load(Ordering::SeqCst);
    assert!(before <= 2, "10 requests opened {before} upstream connections");
    // A new artifact (another route) with the same upstream: its pool stays.
    proxy.replace_policy(&(body.clone() + "\nroute b {\n    path \"/b\"\n    respond 204\n}\n"));
    proxy.signal("HUP");
    assert!(eventually(Duration::from_secs(5), || proxy.get("/b").status == 204));
    for _ in 0..10 {
        assert_eq!(proxy.get("/").status, 200);
    }
    let after = origin.connections.load(Ordering::SeqCst);
    assert_eq!(after, before, "the reload opened new upstream connections");
}

#[test]
fn http_checks_read_the_status_not_just_the_connection() {
    let sick = Origin::start("sick", Behavior::Echo);
    let well = Origin::start("well", Behavior::Echo);
    let policy = format!(
        "upstream pool {{\n    server \"{}\"\n    server \"{}\"\n    health http GET \"/healthz\" expect 200 interval 100ms timeout 200ms rise 2 fall 2\n}}\n\nroute a {{\n    proxy pool\n}}\n",
        sick.addr(),
        well.addr()
    );
    let proxy = Proxy::start(&policy);
    let gauge = |origin: &Origin, value: u8| {
        format!(
            "zentinel_upstream_server_healthy{{server=\"{}\",upstream=\"pool\"}} {value}",
            origin.addr()
        )
    };
    assert!(eventually(Duration::from_secs(5), || proxy
        .metrics()
        .contains(&gauge(&sick, 1))));
    // It still accepts connections, but its check answers 500.
    sick.health.store(500, Ordering::SeqCst);
    assert!(eventually(Duration::from_secs(5), || proxy
        .metrics()
        .contains(&gauge(&sick, 0))));
    for _ in 0..4 {
        assert_eq!(proxy.get("/").json()["origin"], "well");
    }
    sick.health.store(200, Ordering::SeqCst);
    assert!(eventually(Duration::from_secs(5), || proxy
        .metrics()
        .contains(&gauge(&sick, 1))));
}

#[test]
fn servers_named_by_dns_are_resolved_off_the_request_path() {
    let origin = Origin::start("named", Behavior::Echo);
    let policy = format!(
        "upstream named {{\n    server \"localhost:{}\"\n    health http GET \"/healthz\" interval 100ms timeout 500ms\n}}\n\nupstream nowhere {{\n    server \"no-such-host.invalid:80\"\n}}\n\nroute a {{\n    path \"/a\"\n    proxy named\n}}\n\nroute b {{\n    path \"/b\"\n    proxy nowhere\n}}\n",
        origin.port
    );
    let proxy = Proxy::start(&policy);
    let r = proxy.get("/a");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["headers"]["host"], "example.com", "Host is the client's");
    // A name that does not resolve: the server is out of rotation (503),
    // and the worker neither blocks nor panics.
    assert_eq!(proxy.get("/b").status, 503);
    assert_eq!(proxy.get("/a").status, 200);
}

#[test]
fn client_faults_do_not_eject_a_server() {
    let origin = Origin::start("o", Behavior::Echo);
    let policy = format!(
        "upstream app {{\n    server \"{}\"\n    passive failures 1 within 10s eject 30s\n}}\n\nroute a {{\n    proxy app\n    limits {{ max_body_size 1KiB }}\n}}\n",
        origin.addr()
    );
    let proxy = Proxy::start(&policy);
    // Bodies past the limit, sent without a length: cut by zentinel.
    for _ in 0..3 {
        let mut request =
            b"POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n".to_vec();
        request.extend_from_slice(b"800\r\n");
        request.extend_from_slice(&[b'x'; 2048]);
        request.extend_from_slice(b"\r\n0\r\n\r\n");
        assert_eq!(send_raw(proxy.port, &request).status, 413);
    }
    assert_eq!(
        proxy.get("/").status,
        200,
        "the server was ejected for the clients' faults"
    );
}

#[test]
fn a_retried_request_carries_its_whole_body() {
    let failing = Origin::start("failing", Behavior::Status(503));
    let healthy = Origin::start("healthy", Behavior::Echo);
    let policy = format!(
        "upstream pool {{\n    server \"{}\"\n    server \"{}\"\n    retry 1 on status 503\n    retry_non_idempotent\n}}\n\nroute a {{\n    proxy pool\n}}\n",
        failing.addr(),
        healthy.addr()
    );
    let proxy = Proxy::start(&policy);
    // 40 KB: within the 64 KiB zentinel keeps to send again.
    let body: Vec<u8> = (0..10_000u32).flat_map(|i| i.to_le_bytes()).collect();
    for _ in 0..2 {
        let r = send(proxy.port, "POST", "/", &[], &body);
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["body_bytes"], body.len());
    }
    assert!(
        healthy.bodies.lock().unwrap().iter().all(|b| *b == body),
        "a retry sent a different body"
    );
    // 80 KB cannot be sent again: no retry, the 503 stands (one attempt).
    let large: Vec<u8> = (0..20_000u32).flat_map(|i| i.to_le_bytes()).collect();
    let statuses: Vec<u16> = (0..2)
        .map(|_| send(proxy.port, "POST", "/", &[], &large).status)
        .collect();
    assert!(statuses.contains(&503), "{statuses:?}");
}

#[test]
fn weighted_round_robin_backups_and_splits() {
    let a = Origin::start("a", Behavior::Echo);
    let b = Origin::start("b", Behavior::Echo);
    let spare = Origin::start("spare", Behavior::Echo);
    let policy = format!(
        r#"
upstream weighted {{
    server "{}" weight 3
    server "{}"
    server "{}" backup
}}

upstream left {{
    server "{}"
}}

upstream right {{
    server "{}"
}}

route rr {{
    path "/rr"
    proxy weighted
}}

route split {{
    path "/split"
    proxy left 80% right 20%
}}
"#,
        a.addr(),
        b.addr(),
        spare.addr(),
        a.addr(),
        b.addr()
    );
    let proxy = Proxy::start(&policy);
    let mut counts = std::collections::HashMap::new();
    for _ in 0..8 {
        *counts
            .entry(proxy.get("/rr").json()["origin"].as_str().unwrap().to_string())
            .or_insert(0) += 1;
    }
    assert_eq!(counts.get("a"), Some(&6), "{counts:?}");
    assert_eq!(counts.get("b"), Some(&2), "{counts:?}");
    assert_eq!(counts.get("spare"), None, "a backup waits while primaries are up");
    let mut left = 0;
    for _ in 0..200 {
        if proxy.get("/split").json()["origin"] == "a" {
            left += 1;
        }
    }
    assert!((130..=190).contains(&left), "80% of 200 went left: {left}");
}

/// The policy of `balancing_modes_and_passive_ejection`: `a` and `b` under
/// each of ketama, random and p2c, `slow` and `b` under least_conn, and
/// `a` beside the `dead` port with passive ejection, each behind a route
/// of its name.
fn balancing_policy(a: &Origin, b: &Origin, slow: &Origin, dead: u16) -> String {
    let pool = |balance: &str| {
        format!(
            "    server \"{}\"\n    server \"{}\"\n    balance {balance}\n",
            a.addr(),
            b.addr()
        )
    };
    format!(
        r#"
upstream hashed {{
{hashed}}}

upstream random {{
{random}}}

upstream p2c {{
{p2c}}}

upstream least {{
    server "{slow}"
    server "{b}"
    balance least_conn
}}

upstream flaky {{
    server "127.0.0.1:{dead}"
    server "{a}"
    passive failures 2 within 10s eject 30s
}}

route hashed {{
    path "/hashed"
    proxy hashed
}}

route random {{
    path "/random"
    proxy random
}}

route p2c {{
    path "/p2c"
    proxy p2c
}}

route least {{
    path "/least"
    proxy least
}}

route flaky {{
    path "/flaky"
    proxy flaky
}}
"#,
        hashed = pool("ketama by header \"x-user\""),
        random = pool("random"),
        p2c = pool("p2c"),
        slow = slow.addr(),
        b = b.addr(),
        a = a.addr()
    )
}

/// The name of the echoing origin that answered a GET of `target`.
fn origin_of(proxy: &Proxy, target: &str, headers: &[(&str, &str)]) -> String {
    send(proxy.port, "GET", target, headers, b"").json()["origin"]
        .as_str()
        .unwrap()
        .to_string()
}

/// ketama: a key keeps its server; keys spread over both.
fn ketama_keeps_each_key_on_its_server(proxy: &Proxy) {
    let mut seen = std::collections::HashSet::new();
    for user in ["ann", "bob", "cid", "dee", "eve", "fay", "gus", "hal"] {
        let first = origin_of(proxy, "/hashed", &[("x-user", user)]);
        for _ in 0..3 {
            assert_eq!(origin_of(proxy, "/hashed", &[("x-user", user)]), first, "{user} moved");
        }
        seen.insert(first);
    }
    assert_eq!(seen.len(), 2, "eight keys all hashed to one server");
}

/// random and p2c reach both servers.
fn random_and_p2c_reach_both_servers(proxy: &Proxy) {
    for target in ["/random", "/p2c"] {
        let reached: std::collections::HashSet<String> = (0..40).map(|_| origin_of(proxy, target, &[])).collect();
        assert_eq!(reached.len(), 2, "{target}: {reached:?}");
    }
}

/// least_conn: while the slow server is busy, new requests go to b.
fn least_conn_avoids_the_busy_server(proxy: &Proxy) {
    let port = proxy.port;
    let busy = std::thread::spawn(move || get(port, "/least"));
    std::thread::sleep(Duration::from_millis(200));
    for _ in 0..3 {
        assert_eq!(origin_of(proxy, "/least", &[]), "b");
    }
    busy.join().unwrap();
}

/// Passive ejection: two failures take the dead server out; then every
/// request reaches the live one without a retry.
fn passive_ejection_takes_the_dead_server_out(proxy: &Proxy) {
    let early: Vec<u16> = (0..4).map(|_| proxy.get("/flaky").status).collect();
    assert!(early.contains(&502), "{early:?}");
    for _ in 0..6 {
        assert_eq!(proxy.get("/flaky").status, 200);
    }
}

#[test]
fn balancing_modes_and_passive_ejection() {
    let a = Origin::start("a", Behavior::Echo);
    let b = Origin::start("b", Behavior::Echo);
    let slow = Origin::start("slow", Behavior::Slow(Duration::from_millis(900)));
    let dead = free_port();
    let proxy = Proxy::start(&balancing_policy(&a, &b, &slow, dead));
    ketama_keeps_each_key_on_its_server(&proxy);
    random_and_p2c_reach_both_servers(&proxy);
    least_conn_avoids_the_busy_server(&proxy);
    passive_ejection_takes_the_dead_server_out(&proxy);
}
