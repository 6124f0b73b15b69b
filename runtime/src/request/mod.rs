//! Small facts about a request that several phases need: its authority
//! (HTTP/1 `Host` or HTTP/2 `:authority`), its id, the client's address,
//! whether its method may be retried, and which status an error becomes.

mod forwarding;
mod hop;

use std::net::IpAddr;

use http::HeaderValue;
use pingora_error::{Error, ErrorSource, ErrorType};
use pingora_http::{RequestHeader, ResponseHeader};
use pingora_proxy::Session;

pub use forwarding::{forwarded_for, Added, X_FORWARDED_FOR, X_FORWARDED_HOST, X_FORWARDED_PROTO, X_REQUEST_ID};
pub use hop::{is_hop_by_hop, strip_hop_by_hop, strip_request_hop_by_hop};

/// The authority of the request target: HTTP/2's `:authority` (in the
/// URI), or an HTTP/1 absolute-form target's (Pingora keeps it only in the
/// raw target, and has refused the request already when `Host` differs
/// from it byte for byte).
pub fn target_authority(request: &RequestHeader) -> Option<&str> {
    if let Some(authority) = request.uri.authority() {
        return Some(authority.as_str());
    }
    pingora_http::authority::raw_target_authority(request.raw_path())
        .authority()
        .and_then(|a| std::str::from_utf8(a).ok())
}

/// The form of the request's target as the client sent it (Pingora has
/// percent-escaped a raw space or other illegal byte in it by then, which
/// leaves no origin form: such a target is refused).
pub fn target_form(request: &RequestHeader) -> zbin::decide::TargetForm {
    use pingora_http::authority::{raw_target_authority, RawTargetAuthority};
    use zbin::decide::TargetForm;
    let raw = request.raw_path();
    if request.version == http::Version::HTTP_2 || raw.first() == Some(&b'/') {
        return TargetForm::Origin;
    }
    match raw_target_authority(raw) {
        RawTargetAuthority::Absolute { .. } => TargetForm::Absolute,
        _ if raw == b"*" => TargetForm::Asterisk,
        _ => TargetForm::Invalid,
    }
}

/// The host and port the client asked for: the target's authority
/// (`target_authority`), else HTTP/1's `Host` (`zbin::decide::Facts::authority`).
pub fn authority(request: &RequestHeader) -> &str {
    target_authority(request)
        .or_else(|| request.headers.get(http::header::HOST).and_then(|v| v.to_str().ok()))
        .unwrap_or("")
}

/// An `x-request-id` worth keeping: 1 to 128 of `[A-Za-z0-9._:-]`.
pub fn valid_request_id(id: &[u8]) -> bool {
    !id.is_empty() && id.len() <= 128 && id.iter().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(b))
}

/// A new request id: 128 random bits, in hex. Ids are made many at a
/// time, into one buffer per thread, and each is a slice of it: a request
/// costs no allocation of its own (a buffer is freed with its last id).
pub fn new_request_id() -> HeaderValue {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    const BITS: usize = 16;
    const PER_BATCH: usize = 64;
    thread_local! {
        /// The current batch, and where the next id in it starts.
        static BATCH: std::cell::RefCell<(bytes::Bytes, usize)> = Default::default();
    }
    BATCH.with_borrow_mut(|(batch, next)| {
        if *next >= batch.len() {
            let mut bits = [0u8; BITS * PER_BATCH];
            rand::fill(&mut bits[..]);
            let hex: Vec<u8> = bits
                .iter()
                .flat_map(|&byte| [HEX[usize::from(byte >> 4)], HEX[usize::from(byte & 0xF)]])
                .collect();
            *batch = bytes::Bytes::from(hex);
            *next = 0;
        }
        let id = batch.slice(*next..*next + 2 * BITS);
        *next += 2 * BITS;
        HeaderValue::from_maybe_shared(id).expect("hex digits are a header value")
    })
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

/// The size of a response head as it came on the wire: the status line and
/// every field line (`name: value` and its line end).
pub fn response_head_size(response: &ResponseHeader) -> usize {
    let fields: usize = response
        .headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    // `HTTP/1.1 200 `, the reason phrase, CRLF; and the blank line.
    let reason = response.get_reason_phrase().map_or(0, str::len);
    fields + "HTTP/1.1 200 ".len() + reason + 4
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
        // Past the end of a batch too: every id is new and well formed.
        let ids: std::collections::HashSet<HeaderValue> = (0..200).map(|_| new_request_id()).collect();
        assert_eq!(ids.len(), 200);
        for id in &ids {
            assert_eq!(request_id_str(id).len(), 32);
            assert!(id.as_bytes().iter().all(|b| b"0123456789abcdef".contains(b)), "{id:?}");
        }
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
