//! Small facts about a request that several phases need: its authority
//! (HTTP/1 `Host` or HTTP/2 `:authority`), its id, the client's address,
//! whether its method may be retried, and which status an error becomes.

use std::net::IpAddr;

use http::HeaderName;
use pingora_error::{Error, ErrorSource, ErrorType};
use pingora_http::RequestHeader;
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

pub const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The same names as written on the wire. Pingora keeps the case of every
/// header it sends: given a `HeaderName` it allocates a title-cased copy
/// per insert, given a static string it borrows it.
pub mod wire {
    pub const X_FORWARDED_FOR: &str = "X-Forwarded-For";
    pub const X_FORWARDED_PROTO: &str = "X-Forwarded-Proto";
    pub const X_FORWARDED_HOST: &str = "X-Forwarded-Host";
    pub const X_REQUEST_ID: &str = "X-Request-Id";
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
pub fn valid_request_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

/// 128 random bits, in hex.
pub fn new_request_id() -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bits = rand::random::<u128>();
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = HEX[((bits >> (124 - 4 * i)) & 0xF) as usize];
    }
    // Hex digits only: valid UTF-8.
    String::from_utf8_lossy(&out).into_owned()
}

/// The request's id: the client's when valid, a new one otherwise.
pub fn request_id(request: &RequestHeader) -> String {
    request
        .headers
        .get(X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| valid_request_id(v))
        .map_or_else(new_request_id, str::to_string)
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
        assert!(valid_request_id("4bf92f3577b34da6-a3ce.929d:0e"));
        assert!(!valid_request_id(""));
        assert!(!valid_request_id("has space"));
        assert!(!valid_request_id(&"a".repeat(129)));
        assert_eq!(new_request_id().len(), 32);
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
