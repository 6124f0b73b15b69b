//! The tests' client: one request per fresh connection, as written or by
//! hand, with the answer read whole; and one HTTP/2 exchange.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use super::raw::{fill, find, parse_response, Response};

/// Sends one request on a fresh connection (`connection: close`).
pub fn send(port: u16, method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connects");
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut request = format!("{method} {target} HTTP/1.1\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        request.push_str("host: example.com\r\n");
    }
    for (k, v) in headers {
        if k.eq_ignore_ascii_case("connection") {
            request.push_str(&format!("{k}: close, {v}\r\n"));
        } else {
            request.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    if !body.is_empty() {
        request.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    // One `connection` line: the caller's, with `close` added.
    match headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("connection")) {
        Some(_) => request.push_str("\r\n"),
        None => request.push_str("connection: close\r\n\r\n"),
    }
    stream.write_all(request.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    parse_response(&raw)
}

/// Sends `raw` bytes as they are (a request written by hand) and reads the
/// answer until the connection closes.
pub fn send_raw(port: u16, raw: &[u8]) -> Response {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connects");
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    stream.write_all(raw).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    parse_response(&answer)
}

/// A POST that announces 100 bytes of body, sends 10 and waits: the
/// answer zentinel gives it.
pub fn stalled_body(port: u16) -> Response {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connects");
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream
        .write_all(b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n0123456789")
        .unwrap();
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    parse_response(&raw)
}

/// Reads one answer with a `content-length` body from a connection that
/// stays open; `None` when the peer closes before it is all here.
pub fn read_response(stream: &mut TcpStream) -> Option<Response> {
    let mut raw = Vec::new();
    if !fill(stream, &mut raw, |r| find(r, b"\r\n\r\n").is_some()) {
        return None;
    }
    let head = find(&raw, b"\r\n\r\n")? + 4;
    let length: usize = parse_response(&raw).header("content-length")?.parse().ok()?;
    fill(stream, &mut raw, |r| r.len() >= head + length).then(|| parse_response(&raw))
}

/// A GET that may fail (refused, reset): `None` then.
pub fn try_get(port: u16, target: &str) -> Option<Response> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(20))).ok()?;
    let request = format!("GET {target} HTTP/1.1\r\nhost: example.com\r\nconnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).ok()?;
    find(&raw, b"\r\n\r\n")?;
    Some(parse_response(&raw))
}

pub fn get(port: u16, target: &str) -> Response {
    send(port, "GET", target, &[], b"")
}

/// One HTTP/2 exchange on `io` (a TCP or TLS stream): the request, then
/// the answer's head and its whole body.
pub async fn h2_exchange<T>(io: T, request: http::Request<()>) -> (http::response::Parts, Vec<u8>)
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut client, connection) = h2::client::handshake(io).await.unwrap();
    tokio::spawn(connection);
    let (response, _) = client.send_request(request, true).unwrap();
    let (parts, mut body) = response.await.unwrap().into_parts();
    let mut bytes = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.unwrap();
        body.flow_control().release_capacity(chunk.len()).unwrap();
        bytes.extend_from_slice(&chunk);
    }
    (parts, bytes)
}
