//! Small facts about a request that several phases need: its authority
//! (HTTP/1 `Host` or HTTP/2 `:authority`), its id, the client's address,
//! whether its method may be retried, and which status an error becomes.

use std::net::IpAddr;

use http::{HeaderName, HeaderValue};
use pingora_error::{Error, ErrorSource, ErrorType};
use pingora_http::{RequestHeader, ResponseHeader};
use pingora_proxy::Session;

/// Headers that describe one hop and never go further (RFC 9110 §7.6.1),
/// with `proxy-connection` and `keep-alive` of older clients. `connection`
/// and `upgrade` are kept on an upgrade (WebSocket) exchange. A static, not
/// a const: a const array would be built and dropped at every use.
pub static HOP_BY_HOP: [HeaderName; 8] = [
    http::header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    http::header::PROXY_AUTHENTICATE,
    http::header::PROXY_AUTHORIZATION,
    http::header::TE,
    http::header::TRAILER,
    http::header::UPGRADE,
];

/// A header zentinel adds to every proxied request or answer: its name,
/// and how it is written on the wire (Pingora keeps the case of every
/// header it sends).
pub struct Added {
    pub name: HeaderName,
    pub wire: &'static str,
}

pub const X_FORWARDED_FOR: Added = Added::new("x-forwarded-for", "X-Forwarded-For");
pub const X_FORWARDED_PROTO: Added = Added::new("x-forwarded-proto", "X-Forwarded-Proto");
pub const X_FORWARDED_HOST: Added = Added::new("x-forwarded-host", "X-Forwarded-Host");
pub const X_REQUEST_ID: Added = Added::new("x-request-id", "X-Request-Id");

impl Added {
    const fn new(name: &'static str, wire: &'static str) -> Added {
        Added {
            name: HeaderName::from_static(name),
            wire,
        }
    }

    /// Sets the header on a request (replacing any the client sent). Its
    /// name is neither parsed nor copied, as Pingora's `insert_header`
    /// would for each request (vendored `insert_known_header`).
    pub fn set(&self, request: &mut RequestHeader, value: HeaderValue) -> pingora_error::Result<()> {
        request.insert_known_header(self.name.clone(), self.wire, value)
    }

    /// Sets the header on an answer.
    pub fn set_on_answer(&self, response: &mut ResponseHeader, value: HeaderValue) -> pingora_error::Result<()> {
        response.insert_known_header(self.name.clone(), self.wire, value)
    }
}

/// The host and port the client asked for: HTTP/2's `:authority` (in the
/// URI), HTTP/1's `Host`, or the authority of an absolute-form target.
pub fn authority(request: &RequestHeader) -> &str {
    request
        .uri
        .authority()
        .map(|a| a.as_str())
        .or_else(|| request.headers.get(http::header::HOST).and_then(|v| v.to_str().ok()))
        .unwrap_or("")
}

/// An `x-request-id` worth keeping: 1 to 128 of `[A-Za-z0-9._:-]`.
pub fn valid_request_id(id: &[u8]) -> bool {
    !id.is_empty() && id.len() <= 128 && id.iter().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(b))
}

/// 128 random bits, in hex.
pub fn new_request_id() -> HeaderValue {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bits = rand::random::<[u8; 16]>();
    let mut out = [0u8; 32];
    for (pair, byte) in out.chunks_exact_mut(2).zip(bits) {
        pair[0] = HEX[usize::from(byte >> 4)];
        pair[1] = HEX[usize::from(byte & 0xF)];
    }
    HeaderValue::from_bytes(&out).expect("hex digits are a header value")
}

/// The request's id: the client's when valid, a new one otherwise. A
/// header value, so that the upstream request and the answer share it
/// without copying it again.
pub fn request_id(request: &RequestHeader) -> HeaderValue {
    request
        .headers
        .get(X_REQUEST_ID.name)
        .filter(|v| valid_request_id(v.as_bytes()))
        .map_or_else(new_request_id, HeaderValue::clone)
}

/// A request id as text: only ever made of `valid_request_id` bytes.
pub fn request_id_str(id: &HeaderValue) -> &str {
    std::str::from_utf8(id.as_bytes()).unwrap_or_default()
}

/// Removes the headers of an upstream's answer that describe its hop:
/// those of `HOP_BY_HOP` and those its `connection` names. `upgrade` stays
/// (a 426 names what to upgrade to), as do the framing headers, which are
/// Pingora's to write. Pingora's HTTP/1 writer sets `connection` again from
/// the client connection's keep-alive; on a 101 the origin's passes on.
pub fn strip_hop_by_hop(response: &mut ResponseHeader) {
    let switching = response.status == http::StatusCode::SWITCHING_PROTOCOLS;
    // One pass over the few headers an answer has: removing is rare, a
    // lookup per name is not (this runs for every proxied answer).
    let mut found = [false; HOP_BY_HOP.len()];
    let mut named: Vec<HeaderName> = Vec::new();
    for (name, value) in &response.headers {
        if let Some(i) = HOP_BY_HOP.iter().position(|hop| hop == name) {
            found[i] = true;
        }
        if name == http::header::CONNECTION && !switching {
            for token in value.as_bytes().split(|&b| b == b',').map(<[u8]>::trim_ascii) {
                if token.is_empty() || token.eq_ignore_ascii_case(b"close") || token.eq_ignore_ascii_case(b"keep-alive")
                {
                    continue;
                }
                if let Ok(name) = HeaderName::from_bytes(token) {
                    let framing = name == http::header::CONTENT_LENGTH || name == http::header::TRANSFER_ENCODING;
                    if !framing && !HOP_BY_HOP.contains(&name) {
                        named.push(name);
                    }
                }
            }
        }
    }
    for (hop, _) in HOP_BY_HOP.iter().zip(found).filter(|(_, found)| *found) {
        if hop != http::header::UPGRADE && !(switching && hop == http::header::CONNECTION) {
            response.remove_header(hop);
        }
    }
    for name in &named {
        response.remove_header(name);
    }
}

/// `X-Forwarded-For` for the upstream: every line the client sent, as one
/// list (RFC 9110 §5.3), then the client's address.
pub fn forwarded_for(request: &RequestHeader, client: Option<IpAddr>) -> Option<HeaderValue> {
    let mut value = Vec::with_capacity(48);
    for line in request.headers.get_all(X_FORWARDED_FOR.name) {
        if !value.is_empty() {
            value.extend_from_slice(b", ");
        }
        value.extend_from_slice(line.as_bytes());
    }
    if let Some(ip) = client {
        if !value.is_empty() {
            value.extend_from_slice(b", ");
        }
        push_ip(&mut value, ip);
    }
    if value.is_empty() {
        return None;
    }
    // Lines that were header values, and an address: a header value.
    HeaderValue::from_maybe_shared(bytes::Bytes::from(value)).ok()
}

/// Writes an address as `Display` does, without its formatting machinery
/// for the common IPv4 case (this runs for every proxied request).
fn push_ip(out: &mut Vec<u8>, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                if octet >= 100 {
                    out.push(b'0' + octet / 100);
                }
                if octet >= 10 {
                    out.push(b'0' + octet / 10 % 10);
                }
                out.push(b'0' + octet % 10);
            }
        }
        IpAddr::V6(_) => out.extend_from_slice(ip.to_string().as_bytes()),
    }
}

pub fn client_ip(session: &Session) -> Option<IpAddr> {
    session.client_addr().and_then(|a| a.as_inet()).map(|a| a.ip())
}

/// `https` when the client connection is TLS, as a header value.
pub fn scheme_value(session: &Session) -> http::HeaderValue {
    http::HeaderValue::from_static(scheme(session))
}

/// `https` when the client connection is TLS.
pub fn scheme(session: &Session) -> &'static str {
    if session.digest().is_some_and(|d| d.ssl_digest.is_some()) {
        "https"
    } else {
        "http"
    }
}

/// Methods a retry may repeat (RFC 9110 §9.2.2).
pub fn is_idempotent(method: &http::Method) -> bool {
    matches!(
        *method,
        http::Method::GET
            | http::Method::HEAD
            | http::Method::OPTIONS
            | http::Method::PUT
            | http::Method::DELETE
            | http::Method::TRACE
    )
}

/// The status an error is answered with, `0` when the client is gone:
/// the one place errors become 400/408/413/502/503/504.
pub fn error_status(e: &Error) -> u16 {
    use ErrorSource::{Downstream, Upstream};
    use ErrorType::*;
    match (e.esource(), e.etype()) {
        (_, HTTPStatus(code)) => *code,
        (Downstream, ReadTimedout) => 408,
        (Downstream, ConnectionClosed | ReadError | WriteError | H2Error | WriteTimedout) => 0,
        (Downstream, _) => 400,
        (_, ConnectTimedout | ReadTimedout | WriteTimedout) => 504,
        (Upstream, _) => 502,
        (_, ConnectRefused | ConnectNoRoute | ConnectError | ConnectionClosed | TLSHandshakeFailure) => 502,
        _ => 500,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids() {
        assert!(valid_request_id(b"4bf92f3577b34da6-a3ce.929d:0e"));
        assert!(!valid_request_id(b""));
        assert!(!valid_request_id(b"has space"));
        assert!(!valid_request_id("a".repeat(129).as_bytes()));
        let id = new_request_id();
        assert_eq!(request_id_str(&id).len(), 32);
        assert!(valid_request_id(id.as_bytes()));
        assert_ne!(id, new_request_id());
    }

    #[test]
    fn addresses_are_written_as_display_writes_them() {
        for ip in [
            "0.0.0.0",
            "1.2.3.4",
            "10.0.99.100",
            "127.0.0.1",
            "255.255.255.255",
            "::1",
            "2001:db8::8:800:200c:417a",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            let mut out = Vec::new();
            push_ip(&mut out, ip);
            assert_eq!(String::from_utf8(out).unwrap(), ip.to_string());
        }
    }

    #[test]
    fn answers_lose_their_hop_by_hop_headers() {
        let answer = |status: u16, headers: &[(&'static str, &'static str)]| {
            let mut response = ResponseHeader::build(status, None).unwrap();
            for (name, value) in headers {
                response.append_header(*name, *value).unwrap();
            }
            strip_hop_by_hop(&mut response);
            let mut kept: Vec<String> = response.headers.keys().map(|k| k.to_string()).collect();
            kept.sort();
            kept
        };
        let hops = [
            ("Connection", "keep-alive, X-Origin-Hop"),
            ("Keep-Alive", "timeout=5"),
            ("X-Origin-Hop", "1"),
            ("Proxy-Connection", "keep-alive"),
            ("Trailer", "x-sum"),
            ("Content-Length", "0"),
            ("X-Kept", "yes"),
        ];
        assert_eq!(answer(200, &hops), ["content-length", "x-kept"]);
        // A 426 names what to upgrade to.
        assert_eq!(
            answer(426, &[("Upgrade", "websocket"), ("Connection", "upgrade")]),
            ["upgrade"]
        );
        // Framing is Pingora's, whatever `connection` says.
        let framing = [("Connection", "content-length"), ("Content-Length", "0")];
        assert_eq!(answer(200, &framing), ["content-length"]);
        // A 101 keeps what the upgrade needs.
        let switching = [
            ("Connection", "Upgrade, X-Tunnel"),
            ("Upgrade", "websocket"),
            ("X-Tunnel", "1"),
        ];
        assert_eq!(answer(101, &switching), ["connection", "upgrade", "x-tunnel"]);
    }

    #[test]
    fn added_headers_replace_the_clients_and_keep_their_case_on_the_wire() {
        let mut request = RequestHeader::build("GET", b"/", None).unwrap();
        request.append_header("x-request-id", "from-the-client").unwrap();
        request.append_header("Accept", "*/*").unwrap();
        X_REQUEST_ID
            .set(&mut request, HeaderValue::from_static("ours"))
            .unwrap();
        X_FORWARDED_PROTO
            .set(&mut request, HeaderValue::from_static("https"))
            .unwrap();
        let mut wire = Vec::new();
        request.header_to_h1_wire(&mut wire);
        assert_eq!(
            String::from_utf8(wire).unwrap(),
            "X-Request-Id: ours\r\nAccept: */*\r\nX-Forwarded-Proto: https\r\n"
        );
        let mut answer = ResponseHeader::build(200, None).unwrap();
        X_REQUEST_ID
            .set_on_answer(&mut answer, HeaderValue::from_static("ours"))
            .unwrap();
        assert_eq!(answer.headers["x-request-id"], "ours");
    }

    #[test]
    fn forwarded_for_joins_every_line_then_the_client() {
        let mut request = RequestHeader::build("GET", b"/", None).unwrap();
        let client = Some(IpAddr::from([192, 0, 2, 7]));
        assert_eq!(forwarded_for(&request, client).unwrap(), "192.0.2.7");
        assert_eq!(forwarded_for(&request, None), None);
        request.append_header("x-forwarded-for", "203.0.113.1").unwrap();
        request
            .append_header("X-Forwarded-For", "198.51.100.2, 10.0.0.1")
            .unwrap();
        assert_eq!(
            forwarded_for(&request, client).unwrap(),
            "203.0.113.1, 198.51.100.2, 10.0.0.1, 192.0.2.7"
        );
        assert_eq!(
            forwarded_for(&request, None).unwrap(),
            "203.0.113.1, 198.51.100.2, 10.0.0.1"
        );
    }

    #[test]
    fn errors_become_statuses() {
        let e = |kind, source: fn(Box<Error>) -> Box<Error>| source(Error::new(kind));
        assert_eq!(error_status(&e(ErrorType::ConnectRefused, Error::into_up)), 502);
        assert_eq!(error_status(&e(ErrorType::ConnectTimedout, Error::into_up)), 504);
        assert_eq!(error_status(&e(ErrorType::ReadTimedout, Error::into_up)), 504);
        assert_eq!(error_status(&e(ErrorType::ReadTimedout, Error::into_down)), 408);
        assert_eq!(error_status(&e(ErrorType::ConnectionClosed, Error::into_down)), 0);
        assert_eq!(error_status(&e(ErrorType::InvalidHTTPHeader, Error::into_down)), 400);
        assert_eq!(error_status(&e(ErrorType::InvalidHTTPHeader, Error::into_up)), 502);
        assert_eq!(error_status(&e(ErrorType::HTTPStatus(413), |e| e)), 413);
    }
}
