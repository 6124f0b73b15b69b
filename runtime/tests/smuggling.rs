//! Request smuggling and malformed framing, over raw sockets against a
//! running zentinel in front of a recording origin: an ambiguous request
//! is refused (`400`) and its connection closed, and whatever is hidden in
//! a body never reaches the origin as a request of its own. Where RFC 9112
//! lets a server choose, zentinel does what Envoy does: it refuses.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::time::Duration;

use support::*;

fn proxy_to(origin: &Origin) -> Proxy {
    Proxy::start(&format!(
        "upstream app {{\n    server \"{}\"\n}}\nroute a {{\n    proxy app\n}}\n",
        origin.addr()
    ))
}

/// Sends `raw` on one connection and reads every answer until the proxy
/// closes it: the statuses, in order.
fn statuses(port: u16, raw: &[u8]) -> Vec<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    stream.write_all(raw).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer);
    text.match_indices("HTTP/1.1 ")
        .filter_map(|(i, _)| text.get(i + 9..i + 12)?.parse().ok())
        .collect()
}

/// The targets the origin received, in order.
fn targets(origin: &Origin) -> Vec<String> {
    origin.requests.lock().unwrap().clone()
}

#[test]
fn ambiguous_framing_is_refused_and_closes_the_connection() {
    let origin = Origin::start("app", Behavior::Echo);
    let proxy = proxy_to(&origin);
    let follow = "GET /after HTTP/1.1\r\nhost: x\r\n\r\n";
    for (what, head, body) in [
        ("two Content-Lengths", "content-length: 4\r\ncontent-length: 5", "abcde"),
        ("a Content-Length list of two values", "content-length: 4, 5", "abcde"),
        ("a Content-Length that is not a number", "content-length: 4x", "abcd"),
        ("a negative Content-Length", "content-length: -1", ""),
        (
            "Transfer-Encoding not ending in chunked",
            "transfer-encoding: chunked, identity",
            "0\r\n\r\n",
        ),
        (
            "an unknown Transfer-Encoding",
            "transfer-encoding: xchunked",
            "0\r\n\r\n",
        ),
        (
            "two Transfer-Encoding lines",
            "transfer-encoding: chunked\r\ntransfer-encoding: chunked",
            "0\r\n\r\n",
        ),
        (
            "a bad chunk size",
            "transfer-encoding: chunked",
            "zz\r\nabc\r\n0\r\n\r\n",
        ),
        (
            "a chunk size with a sign",
            "transfer-encoding: chunked",
            "+3\r\nabc\r\n0\r\n\r\n",
        ),
    ] {
        let hits = origin.hits.load(Ordering::SeqCst);
        let raw = format!("POST /smuggle HTTP/1.1\r\nhost: x\r\n{head}\r\n\r\n{body}{follow}");
        let answers = statuses(proxy.port, raw.as_bytes());
        assert_eq!(answers.first(), Some(&400), "{what}: {answers:?}");
        assert_eq!(
            answers.len(),
            1,
            "{what}: the connection closes after the 400: {answers:?}"
        );
        assert_eq!(
            origin.hits.load(Ordering::SeqCst),
            hits,
            "{what}: nothing reached the origin"
        );
    }
    assert_eq!(proxy.get("/").status, 200);
}

#[test]
fn content_length_with_transfer_encoding_is_read_by_the_coding_then_closed() {
    // RFC 9112 §6.1: the message is read by its Transfer-Encoding alone
    // (Pingora drops the Content-Length before zentinel sees it), and the
    // connection closes after the answer, so what follows the chunked body
    // is never read as a request.
    let origin = Origin::start("app", Behavior::Echo);
    let proxy = proxy_to(&origin);
    let raw = "POST /both HTTP/1.1\r\nhost: x\r\ncontent-length: 40\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nhost: x\r\n\r\n";
    assert_eq!(statuses(proxy.port, raw.as_bytes()), [200]);
    assert_eq!(targets(&origin), ["/both"]);
    assert_eq!(origin.bodies.lock().unwrap().last().unwrap(), b"abc");
}

#[test]
fn a_request_hidden_in_a_body_is_a_body() {
    let origin = Origin::start("app", Behavior::Echo);
    let proxy = proxy_to(&origin);
    let hidden = "GET /admin HTTP/1.1\r\nhost: x\r\n\r\n";
    // Length-framed, and chunked with the hidden request in a chunk.
    let chunk = format!("{:x}\r\n{hidden}\r\n0\r\n\r\n", hidden.len());
    for (head, body) in [
        (format!("content-length: {}", hidden.len()), hidden.to_string()),
        ("transfer-encoding: chunked".to_string(), chunk),
    ] {
        let raw = format!("POST /upload HTTP/1.1\r\nhost: x\r\n{head}\r\nconnection: close\r\n\r\n{body}");
        assert_eq!(statuses(proxy.port, raw.as_bytes()), [200]);
    }
    let seen = targets(&origin);
    assert!(seen.iter().all(|t| t == "/upload"), "{seen:?}");
    assert_eq!(origin.bodies.lock().unwrap().last().unwrap(), hidden.as_bytes());
}

#[test]
fn a_content_length_list_is_refused_even_of_one_value() {
    // RFC 9110 §8.6 lets a recipient read `3, 3` as `3`; a parser behind
    // a proxy may not, so zentinel refuses it, as Envoy does.
    let origin = Origin::start("app", Behavior::Echo);
    let proxy = proxy_to(&origin);
    let raw =
        "POST /one HTTP/1.1\r\nhost: x\r\ncontent-length: 3, 3\r\n\r\nabcGET /smuggled HTTP/1.1\r\nhost: x\r\n\r\n";
    assert_eq!(statuses(proxy.port, raw.as_bytes()), [400]);
    assert!(targets(&origin).is_empty(), "{:?}", targets(&origin));
}

#[test]
fn malformed_request_lines_and_bytes_are_400() {
    let origin = Origin::start("app", Behavior::Echo);
    let proxy = proxy_to(&origin);
    for (what, raw) in [
        ("a method with a space", &b"GE T / HTTP/1.1\r\nhost: x\r\n\r\n"[..]),
        ("a method with a control byte", b"G\x01ET / HTTP/1.1\r\nhost: x\r\n\r\n"),
        ("an unknown version", b"GET / HTTP/3.7\r\nhost: x\r\n\r\n"),
        ("no version", b"GET /\r\nhost: x\r\n\r\n"),
        ("a NUL in the path", b"GET /a\x00b HTTP/1.1\r\nhost: x\r\n\r\n"),
        ("an encoded NUL in the path", b"GET /a%00b HTTP/1.1\r\nhost: x\r\n\r\n"),
        (
            "a NUL in a header value",
            b"GET / HTTP/1.1\r\nhost: x\r\nx-a: a\x00b\r\n\r\n",
        ),
        (
            "a control byte in a header name",
            b"GET / HTTP/1.1\r\nhost: x\r\nx\x01a: b\r\n\r\n",
        ),
        (
            "a space before the colon",
            b"GET / HTTP/1.1\r\nhost: x\r\nx-a : b\r\n\r\n",
        ),
        (
            "a folded header line",
            b"GET / HTTP/1.1\r\nhost: x\r\nx-a: b\r\n c\r\n\r\n",
        ),
        (
            "a bare LF in a header",
            b"GET / HTTP/1.1\r\nhost: x\r\nx-a: b\nc\r\n\r\n",
        ),
        (
            "HTTP/2's preface on an HTTP/1 port",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        ),
    ] {
        let answers = statuses(proxy.port, raw);
        assert!(
            answers.first().is_some_and(|s| (400..500).contains(s)) || answers.is_empty(),
            "{what}: {answers:?}"
        );
        assert!(answers.iter().all(|s| *s != 200), "{what}: {answers:?}");
    }
    assert_eq!(origin.hits.load(Ordering::SeqCst), 0, "{:?}", targets(&origin));
    assert_eq!(proxy.get("/").status, 200);
}
