//! Clients and origins that misbehave, against a running zentinel over raw
//! sockets: each test asserts the answer and that the proxy keeps serving.

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use support::*;

/// An origin that answers every request on a connection with `answer`,
/// as it is, and then closes.
fn raw_origin(answer: Vec<u8>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let answer = answer.clone();
            std::thread::spawn(move || {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = stream.write_all(&answer);
            });
        }
    });
    port
}

/// Reads from `stream` until it closes; how long that took, or `None` when
/// it was still open after `within`.
fn closed_within(stream: &mut TcpStream, within: Duration) -> Option<Duration> {
    let started = Instant::now();
    stream.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Some(started.elapsed()),
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Some(started.elapsed()),
            Err(_) => return None,
        }
    }
}

#[test]
fn pipelined_requests_are_all_answered_in_order() {
    let proxy = Proxy::start(
        "route a {\n    path \"/a\"\n    respond 200 \"first\"\n}\nroute b {\n    path \"/b\"\n    respond 200 \"second\"\n}\n",
    );
    let mut stream = TcpStream::connect(("127.0.0.1", proxy.port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream
        .write_all(
            b"GET /a HTTP/1.1\r\nhost: x\r\n\r\nGET /b HTTP/1.1\r\nhost: x\r\n\r\nGET /nothing HTTP/1.1\r\nhost: x\r\n\r\nGET /a HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
        )
        .unwrap();
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw);
    let statuses: Vec<&str> = text.matches("HTTP/1.1 ").map(|_| "").collect();
    assert_eq!(statuses.len(), 4, "four answers to four pipelined requests: {text}");
    let order: Vec<usize> = ["first", "second", "no route", "first"]
        .iter()
        .scan(0, |from, word| {
            let at = text[*from..].find(word).map(|i| i + *from)?;
            *from = at + word.len();
            Some(at)
        })
        .collect();
    assert_eq!(order.len(), 4, "answered in order: {text}");
    assert_eq!(proxy.get("/a").text(), "first");
}

#[test]
fn idle_connections_close_whatever_their_last_answer_was() {
    let proxy = Proxy::start(
        "limits {\n    idle_timeout 1s\n    max_header_count 20\n}\nroute a {\n    path \"/a\"\n    respond 200\n}\n",
    );
    let many: String = (0..30).map(|i| format!("x-h{i}: v\r\n")).collect();
    for (what, request) in [
        ("200", "GET /a HTTP/1.1\r\nhost: x\r\n\r\n".to_string()),
        ("404", "GET /none HTTP/1.1\r\nhost: x\r\n\r\n".to_string()),
        ("400", "GET /a%2Fb HTTP/1.1\r\nhost: x\r\n\r\n".to_string()),
        ("431", format!("GET /a HTTP/1.1\r\nhost: x\r\n{many}\r\n")),
    ] {
        let mut stream = TcpStream::connect(("127.0.0.1", proxy.port)).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let answer = read_response(&mut stream).unwrap_or_else(|| panic!("{what}: no answer"));
        assert_eq!(answer.status.to_string(), what);
        let closed = closed_within(&mut stream, Duration::from_secs(10));
        assert!(
            closed.is_some_and(|t| t < Duration::from_secs(5)),
            "{what}: the idle connection was closed after {closed:?}"
        );
    }
}

#[test]
fn idle_http2_connections_close_too() {
    let port = free_port();
    let proxy = Proxy::start(&format!(
        "listen \"127.0.0.1:{port}\" http2\nlimits {{\n    idle_timeout 1s\n}}\nroute a {{\n    respond 200\n}}\n"
    ));
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    // The preface and an empty SETTINGS frame, then nothing.
    stream
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .unwrap();
    let closed = closed_within(&mut stream, Duration::from_secs(10));
    assert!(
        closed.is_some_and(|t| t < Duration::from_secs(5)),
        "closed after {closed:?}"
    );
    assert_eq!(proxy.get("/").status, 200);
}

#[test]
fn an_upstream_head_over_the_limit_is_a_502_and_the_next_request_is_served() {
    let big = "b".repeat(100 * 1024);
    let huge = raw_origin(format!("HTTP/1.1 200 OK\r\nx-big: {big}\r\ncontent-length: 2\r\n\r\nok").into_bytes());
    let fine = raw_origin(b"HTTP/1.1 200 OK\r\nx-small: s\r\ncontent-length: 2\r\n\r\nok".to_vec());
    let proxy = Proxy::start(&format!(
        "upstream huge {{\n    server \"127.0.0.1:{huge}\"\n}}\nupstream fine {{\n    server \"127.0.0.1:{fine}\"\n}}\nroute huge {{\n    path \"/huge\"\n    proxy huge\n}}\nroute fine {{\n    path \"/fine\"\n    proxy fine\n}}\n"
    ));
    assert_eq!(proxy.get("/huge").status, 502);
    let fine = proxy.get("/fine");
    assert_eq!((fine.status, fine.text().as_str()), (200, "ok"));
}

#[test]
fn long_targets_are_414_and_header_floods_431() {
    let proxy = Proxy::start("route a {\n    respond 200\n}\n");
    let send = |raw: String| send_raw(proxy.port, raw.as_bytes()).status;
    // Over the default `max_uri_size` (8 KiB), and over what a URI can be.
    for len in [9 * 1024, 100 * 1024] {
        let path = format!("/{}", "a".repeat(len));
        assert_eq!(
            send(format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")),
            414,
            "{len}"
        );
    }
    let query = format!("/?q={}", "a".repeat(9 * 1024));
    assert_eq!(
        send(format!("GET {query} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")),
        414
    );
    // Just under the limit is fine.
    let path = format!("/{}", "a".repeat(8 * 1024 - 1));
    assert_eq!(
        send(format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")),
        200
    );
    // More header fields than Pingora parses (256), and a head over 1 MiB.
    let many: String = (0..300).map(|i| format!("x-h{i}: v\r\n")).collect();
    assert_eq!(
        send(format!("GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n{many}\r\n")),
        431
    );
    let huge: String = (0..20)
        .map(|i| format!("x-h{i}: {}\r\n", "v".repeat(60 * 1024)))
        .collect();
    assert_eq!(
        send(format!("GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n{huge}\r\n")),
        431
    );
    assert_eq!(proxy.get("/").status, 200);
}

#[test]
fn a_route_deadline_cuts_off_an_answer_that_trickles() {
    // The head at once, then a byte every 900ms: each read is within the
    // per-read timeout, so only the route's deadline can end it.
    let origin = Origin::start("trickle", Behavior::Trickle(Duration::from_millis(900)));
    let proxy = Proxy::start(&format!(
        "upstream trickle {{\n    server \"{}\"\n}}\nroute a {{\n    proxy trickle\n    timeout 1s\n}}\n",
        origin.addr()
    ));
    let mut stream = TcpStream::connect(("127.0.0.1", proxy.port)).unwrap();
    let started = Instant::now();
    stream
        .write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let took = started.elapsed();
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(!text.ends_with(&"x".repeat(20)), "the answer was cut short: {text}");
    // Ended at the deadline (1s), not at the next byte after it (1.8s).
    assert!(took < Duration::from_millis(1600), "ended after {took:?}");
    assert_eq!(proxy.get("/").status, 200);
}

#[test]
fn a_head_that_trickles_is_408_and_closed_within_header_timeout() {
    let proxy = Proxy::start("limits {\n    header_timeout 1s\n}\nroute a {\n    respond 200\n}\n");
    let mut stream = TcpStream::connect(("127.0.0.1", proxy.port)).unwrap();
    let started = Instant::now();
    // A byte every 200ms: each read is quick, the head never completes in
    // time. Writing stops once zentinel has closed.
    let head = b"GET / HTTP/1.1\r\nhost: x\r\nx-slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
    let writer = {
        let mut stream = stream.try_clone().unwrap();
        std::thread::spawn(move || {
            for byte in head {
                if stream.write_all(&[*byte]).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        })
    };
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let elapsed = started.elapsed();
    let answer = parse_response(&raw);
    assert_eq!(answer.status, 408, "{}", String::from_utf8_lossy(&raw));
    assert!(
        elapsed < Duration::from_secs(5),
        "closed {elapsed:?} after the first byte, header_timeout is 1s"
    );
    let _ = writer.join();
    assert_eq!(proxy.get("/").status, 200);
}

#[test]
fn half_open_connections_do_not_keep_others_out() {
    let proxy = Proxy::start("limits {\n    header_timeout 2s\n}\nroute a {\n    respond 200 \"served\"\n}\n");
    // Hundreds of clients that connect and send half a head, or nothing.
    let idle: Vec<TcpStream> = (0..300)
        .map(|i| {
            let mut stream = TcpStream::connect(("127.0.0.1", proxy.port)).unwrap();
            if i % 2 == 0 {
                let _ = stream.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n");
            }
            stream
        })
        .collect();
    for _ in 0..20 {
        let answer = proxy.get("/");
        assert_eq!((answer.status, answer.text()), (200, "served".to_string()));
    }
    // All of them are closed once the head deadline has passed.
    for (i, mut stream) in idle.into_iter().enumerate() {
        let closed = closed_within(&mut stream, Duration::from_secs(10));
        assert!(closed.is_some(), "half-open connection {i} was never closed");
    }
}

#[test]
fn the_policy_sets_max_uri_size_and_max_response_header_size_and_a_route_its_own() {
    // A 4 KiB head: under the 64 KiB default, over the policy's 2 KiB.
    let head = raw_origin(
        format!(
            "HTTP/1.1 200 OK\r\nx-big: {}\r\ncontent-length: 2\r\n\r\nok",
            "b".repeat(4096)
        )
        .into_bytes(),
    );
    let proxy = Proxy::start(&format!(
        "limits {{\n    max_uri_size 1KiB\n    max_response_header_size 2KiB\n}}\nupstream head {{\n    server \"127.0.0.1:{head}\"\n}}\nroute strict {{\n    path prefix \"/strict\"\n    proxy head\n}}\nroute roomy {{\n    path prefix \"/roomy\"\n    proxy head\n    limits {{\n        max_uri_size 4KiB\n        max_response_header_size 8KiB\n    }}\n}}\n"
    ));
    let long = "a".repeat(2048);
    assert_eq!(
        proxy.get(&format!("/strict?q={long}")).status,
        414,
        "over the policy's max_uri_size"
    );
    assert_eq!(
        proxy.get("/strict").status,
        502,
        "over the policy's max_response_header_size"
    );
    let roomy = proxy.get(&format!("/roomy?q={long}"));
    assert_eq!(
        (roomy.status, roomy.text().as_str()),
        (200, "ok"),
        "the route's own limits"
    );
    assert_eq!(
        proxy.get(&format!("/nowhere?q={long}")).status,
        414,
        "no route: the policy's"
    );
}
